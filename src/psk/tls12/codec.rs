//! The TLS 1.2 PSK handshake messages: ServerHello (RFC 5246 §7.4.1.3), ServerKeyExchange
//! and ClientKeyExchange of the PSK (RFC 4279 §2) and ECDHE_PSK (RFC 5489 §2) key exchanges,
//! ServerHelloDone and Finished (RFC 5246 §7.4.5, §7.4.9), the TLS 1.2-only ClientHello, and
//! the extensions TLS 1.2 adds: extended_master_secret (RFC 7627 §5.1), renegotiation_info
//! (RFC 5746 §3.2) and ec_point_formats (RFC 8422 §5.1.2).
//!
//! Every decoder checks every length and refuses trailing bytes (`decode_error`).

use crate::error::Error;
use crate::psk::codec::{
    decode_error, ext, for_each_extension, hs, illegal, Reader, Writer, TLS12,
};

/// Handshake types that exist only in TLS 1.2 (RFC 5246 §7.4).
pub(crate) mod hs12 {
    pub const HELLO_REQUEST: u8 = 0;
    pub const SERVER_KEY_EXCHANGE: u8 = 12;
    pub const SERVER_HELLO_DONE: u8 = 14;
    pub const CLIENT_KEY_EXCHANGE: u8 = 16;
}

/// TLS 1.2 extension types.
pub(crate) mod ext12 {
    /// RFC 8422 §5.1.2.
    pub const EC_POINT_FORMATS: u16 = 11;
    /// RFC 7627 §5.1.
    pub const EXTENDED_MASTER_SECRET: u16 = 23;
    /// RFC 5746 §3.2.
    pub const RENEGOTIATION_INFO: u16 = 0xff01;
}

/// TLS_EMPTY_RENEGOTIATION_INFO_SCSV (RFC 5746 §3.3).
pub(crate) const RENEGOTIATION_SCSV: u16 = 0x00ff;
/// ECPointFormat uncompressed (RFC 8422 §5.1.2).
const UNCOMPRESSED: u8 = 0;
/// ECCurveType named_curve (RFC 8422 §5.4).
const NAMED_CURVE: u8 = 3;
/// Finished.verify_data length of every TLS 1.2 suite here (RFC 5246 §7.4.9).
pub(crate) const VERIFY_DATA_LEN: usize = 12;

/// What a TLS 1.2 ClientHello carries.
pub(crate) struct ClientHello12<'a> {
    pub(crate) random: &'a [u8; 32],
    pub(crate) cipher_suites: &'a [u16],
    pub(crate) server_name: Option<&'a str>,
    pub(crate) groups: &'a [u16],
    pub(crate) alpn: &'a [Vec<u8>],
}

/// A TLS 1.2-only ClientHello: no supported_versions, key_share or pre_shared_key; an empty
/// session ID (no resumption); renegotiation_info, extended_master_secret and, with ECDHE
/// suites, supported_groups and ec_point_formats.
pub(crate) fn encode_client_hello(p: &ClientHello12<'_>) -> Result<Vec<u8>, Error> {
    let mut w = Writer::new();
    w.handshake(hs::CLIENT_HELLO, |w| {
        w.u16(TLS12).bytes(p.random);
        w.vec8(|_| {});
        w.vec16(|w| {
            for s in p.cipher_suites {
                w.u16(*s);
            }
        });
        w.vec8(|w| {
            w.u8(0);
        });
        w.vec16(|w| {
            if let Some(name) = p.server_name {
                w.extension(ext::SERVER_NAME, |w| {
                    w.vec16(|w| {
                        w.u8(0).vec16(|w| {
                            w.bytes(name.as_bytes());
                        });
                    });
                });
            }
            if !p.groups.is_empty() {
                w.extension(ext::SUPPORTED_GROUPS, |w| {
                    w.vec16(|w| {
                        for g in p.groups {
                            w.u16(*g);
                        }
                    });
                });
            }
            extensions_12(w, !p.groups.is_empty(), true);
            if !p.alpn.is_empty() {
                w.extension(ext::ALPN, |w| {
                    w.vec16(|w| {
                        for proto in p.alpn {
                            w.vec8(|w| {
                                w.bytes(proto);
                            });
                        }
                    });
                });
            }
        });
    });
    w.finish()
}

/// ec_point_formats (uncompressed only), extended_master_secret and an empty
/// renegotiation_info: what a TLS 1.2-capable ClientHello adds, and what our ServerHello
/// answers with.
pub(crate) fn extensions_12(w: &mut Writer, ecdhe: bool, ems: bool) {
    if ecdhe {
        w.extension(ext12::EC_POINT_FORMATS, |w| {
            w.vec8(|w| {
                w.u8(UNCOMPRESSED);
            });
        });
    }
    if ems {
        w.extension(ext12::EXTENDED_MASTER_SECRET, |_| {});
    }
    w.extension(ext12::RENEGOTIATION_INFO, |w| {
        // renegotiated_connection<0..255>, empty on an initial handshake (RFC 5746 §3.4).
        w.vec8(|_| {});
    });
}

/// The TLS 1.2 extensions of a hello: the shared ClientHello decoder
/// ([`crate::psk::codec::ClientHello`]) and [`ServerHello12`] fill one in as they walk their
/// extension block, through [`HelloExtensions12::extension`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct HelloExtensions12<'a> {
    pub(crate) extended_master_secret: bool,
    pub(crate) renegotiation_info: Option<&'a [u8]>,
    pub(crate) ec_point_formats: Option<&'a [u8]>,
}

impl<'a> HelloExtensions12<'a> {
    /// Decodes the TLS 1.2 extensions of an extension block on its own (duplicates are
    /// refused by the shared walker; other extensions are ignored): the reference the
    /// one-pass capture is checked against.
    #[cfg(any(test, fuzzing))]
    pub(crate) fn decode(block: &'a [u8]) -> Result<Self, Error> {
        let mut out = Self::default();
        for_each_extension(block, |e, _| {
            out.extension(e.typ, e.body)?;
            Ok(())
        })?;
        Ok(out)
    }

    /// Takes one extension of the block (others are ignored).
    pub(crate) fn extension(&mut self, typ: u16, body: &'a [u8]) -> Result<(), Error> {
        let mut b = Reader::new(body);
        match typ {
            ext12::EXTENDED_MASTER_SECRET => {
                b.finish("extended_master_secret must be empty")?;
                self.extended_master_secret = true;
            }
            ext12::RENEGOTIATION_INFO => {
                let info = b.vec8("renegotiation_info")?;
                b.finish("renegotiation_info")?;
                self.renegotiation_info = Some(info);
            }
            ext12::EC_POINT_FORMATS => {
                let formats = b.vec8("ec_point_formats")?;
                b.finish("ec_point_formats")?;
                if formats.is_empty() {
                    return Err(decode_error("empty ec_point_formats"));
                }
                self.ec_point_formats = Some(formats);
            }
            _ => {}
        }
        Ok(())
    }

    /// RFC 8422 §5.1.2: ECDHE may be used unless the list omits uncompressed.
    pub(crate) fn allows_uncompressed(&self) -> bool {
        self.ec_point_formats
            .is_none_or(|f| f.contains(&UNCOMPRESSED))
    }
}

/// The extensions block of a ClientHello body (after the compression methods), found without
/// decoding anything else again (a reference for tests and fuzzing: the server uses what
/// the shared decoder captured).
#[cfg(any(test, fuzzing))]
pub(crate) fn client_hello_extensions(body: &[u8]) -> Result<&[u8], Error> {
    let mut r = Reader::new(body);
    r.u16("ClientHello.legacy_version")?;
    r.bytes(32, "ClientHello.random")?;
    r.vec8("ClientHello.legacy_session_id")?;
    r.vec16("cipher_suites")?;
    r.vec8("legacy_compression_methods")?;
    if r.is_empty() {
        return Ok(&[]);
    }
    let block = r.vec16("ClientHello.extensions")?;
    r.finish("data after ClientHello.extensions")?;
    Ok(block)
}

/// A decoded TLS 1.2 ServerHello.
pub(crate) struct ServerHello12<'a> {
    pub(crate) legacy_version: u16,
    pub(crate) random: [u8; 32],
    pub(crate) session_id: &'a [u8],
    pub(crate) cipher_suite: u16,
    pub(crate) compression_method: u8,
    pub(crate) extensions: HelloExtensions12<'a>,
    pub(crate) alpn: Option<&'a [u8]>,
    /// Types of every extension present, to refuse ones we did not offer.
    pub(crate) extension_types: Vec<u16>,
}

impl<'a> ServerHello12<'a> {
    pub(crate) fn decode(body: &'a [u8]) -> Result<Self, Error> {
        let mut r = Reader::new(body);
        let legacy_version = r.u16("ServerHello.server_version")?;
        let random = *r.array::<32>("ServerHello.random")?;
        let session_id = r.vec8("ServerHello.session_id")?;
        if session_id.len() > 32 {
            return Err(decode_error("ServerHello.session_id longer than 32"));
        }
        let cipher_suite = r.u16("ServerHello.cipher_suite")?;
        let compression_method = r.u8("ServerHello.compression_method")?;
        let block = if r.is_empty() {
            &[][..]
        } else {
            let block = r.vec16("ServerHello.extensions")?;
            r.finish("data after ServerHello.extensions")?;
            block
        };
        let mut sh = ServerHello12 {
            legacy_version,
            random,
            session_id,
            cipher_suite,
            compression_method,
            extensions: HelloExtensions12::default(),
            alpn: None,
            extension_types: Vec::new(),
        };
        for_each_extension(block, |e, _| {
            sh.extension_types.push(e.typ);
            if e.typ == ext::ALPN {
                let mut b = Reader::new(e.body);
                let list = b.vec16("ALPN protocol list")?;
                b.finish("ALPN")?;
                let mut l = Reader::new(list);
                let proto = l.vec8("ALPN protocol")?;
                if !l.is_empty() {
                    return Err(illegal("server selected more than one ALPN protocol"));
                }
                if proto.is_empty() {
                    return Err(decode_error("empty ALPN protocol"));
                }
                sh.alpn = Some(proto);
                return Ok(());
            }
            sh.extensions.extension(e.typ, e.body)
        })?;
        Ok(sh)
    }
}

/// What our TLS 1.2 ServerHello carries.
pub(crate) struct ServerHelloParams12<'a> {
    pub(crate) random: &'a [u8; 32],
    pub(crate) cipher_suite: u16,
    pub(crate) ecdhe: bool,
    /// Answer extended_master_secret (only to a client that sent it, RFC 7627 §5.2).
    pub(crate) ems: bool,
    pub(crate) alpn: Option<&'a [u8]>,
}

/// A TLS 1.2 ServerHello with an empty session ID (no session will be resumed, RFC 5246
/// §7.4.1.3), renegotiation_info, extended_master_secret, ec_point_formats for ECDHE and the
/// selected ALPN protocol.
pub(crate) fn encode_server_hello(p: &ServerHelloParams12<'_>) -> Result<Vec<u8>, Error> {
    let mut w = Writer::new();
    w.handshake(hs::SERVER_HELLO, |w| {
        w.u16(TLS12).bytes(p.random);
        w.vec8(|_| {});
        w.u16(p.cipher_suite).u8(0);
        w.vec16(|w| {
            extensions_12(w, p.ecdhe, p.ems);
            if let Some(proto) = p.alpn {
                w.extension(ext::ALPN, |w| {
                    w.vec16(|w| {
                        w.vec8(|w| {
                            w.bytes(proto);
                        });
                    });
                });
            }
        });
    });
    w.finish()
}

/// ServerKeyExchange of ECDHE_PSK (RFC 5489 §2: psk_identity_hint, then ServerECDHParams
/// with a named curve) or, with `ecdhe: None`, of plain PSK (RFC 4279 §2: the hint only).
/// We send an empty hint.
pub(crate) fn encode_server_key_exchange(ecdhe: Option<(u16, &[u8])>) -> Result<Vec<u8>, Error> {
    let mut w = Writer::new();
    w.handshake(hs12::SERVER_KEY_EXCHANGE, |w| {
        w.vec16(|_| {});
        if let Some((group, point)) = ecdhe {
            w.u8(NAMED_CURVE).u16(group).vec8(|w| {
                w.bytes(point);
            });
        }
    });
    w.finish()
}

/// A decoded ServerKeyExchange: the ECDHE group and point (`None` for plain PSK).
pub(crate) fn decode_server_key_exchange(
    body: &[u8],
    ecdhe: bool,
) -> Result<Option<(u16, &[u8])>, Error> {
    let mut r = Reader::new(body);
    // The hint is for the client to choose a key; a CAPIF invoker has one.
    r.vec16("psk_identity_hint")?;
    if !ecdhe {
        r.finish("data after psk_identity_hint")?;
        return Ok(None);
    }
    if r.u8("ECParameters.curve_type")? != NAMED_CURVE {
        return Err(illegal("ServerKeyExchange curve type is not named_curve"));
    }
    let group = r.u16("ECParameters.namedcurve")?;
    let point = r.vec8("ServerECDHParams.public")?;
    r.finish("data after ServerECDHParams")?;
    if point.is_empty() {
        return Err(decode_error("empty ECDH public value"));
    }
    Ok(Some((group, point)))
}

/// ServerHelloDone.
pub(crate) fn encode_server_hello_done() -> Vec<u8> {
    vec![hs12::SERVER_HELLO_DONE, 0, 0, 0]
}

/// ClientKeyExchange: psk_identity<0..2^16-1>, then for ECDHE_PSK the client's ECPoint
/// (RFC 4279 §2, RFC 5489 §2).
pub(crate) fn encode_client_key_exchange(
    identity: &[u8],
    point: Option<&[u8]>,
) -> Result<Vec<u8>, Error> {
    let mut w = Writer::new();
    w.handshake(hs12::CLIENT_KEY_EXCHANGE, |w| {
        w.vec16(|w| {
            w.bytes(identity);
        });
        if let Some(point) = point {
            w.vec8(|w| {
                w.bytes(point);
            });
        }
    });
    w.finish()
}

/// A decoded ClientKeyExchange: the identity and, for ECDHE_PSK, the client's point.
pub(crate) fn decode_client_key_exchange(
    body: &[u8],
    ecdhe: bool,
) -> Result<(&[u8], Option<&[u8]>), Error> {
    let mut r = Reader::new(body);
    let identity = r.vec16("psk_identity")?;
    let point = if ecdhe {
        let point = r.vec8("ClientECDiffieHellmanPublic")?;
        if point.is_empty() {
            return Err(decode_error("empty ECDH public value"));
        }
        Some(point)
    } else {
        None
    };
    r.finish("data after ClientKeyExchange")?;
    Ok((identity, point))
}

/// A TLS 1.2 Finished message.
pub(crate) fn encode_finished(verify_data: &[u8; VERIFY_DATA_LEN]) -> Vec<u8> {
    let mut m = vec![hs::FINISHED, 0, 0, VERIFY_DATA_LEN as u8];
    m.extend_from_slice(verify_data);
    m
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::psk::codec::split_handshake;

    #[test]
    fn key_exchange_messages_round_trip_and_refuse_trailing_bytes() {
        let ske = encode_server_key_exchange(Some((29, &[4; 32]))).unwrap();
        let (typ, body) = split_handshake(&ske).unwrap();
        assert_eq!(typ, hs12::SERVER_KEY_EXCHANGE);
        // RFC 5489 §2: empty hint, named_curve (3), x25519 (0x001d), 32-octet point.
        assert_eq!(&body[..6], &[0, 0, 3, 0, 29, 32]);
        assert_eq!(
            decode_server_key_exchange(body, true).unwrap(),
            Some((29, &[4u8; 32][..]))
        );
        let mut long = body.to_vec();
        long.push(0);
        assert!(decode_server_key_exchange(&long, true).is_err());
        assert!(decode_server_key_exchange(&body[..body.len() - 1], true).is_err());

        let cke = encode_client_key_exchange(b"inv", Some(&[9; 65])).unwrap();
        let (typ, body) = split_handshake(&cke).unwrap();
        assert_eq!(typ, hs12::CLIENT_KEY_EXCHANGE);
        assert_eq!(&body[..6], &[0, 3, b'i', b'n', b'v', 65]);
        let (id, point) = decode_client_key_exchange(body, true).unwrap();
        assert_eq!((id, point.map(<[u8]>::len)), (&b"inv"[..], Some(65)));
        // Plain PSK: the identity only.
        assert!(decode_client_key_exchange(body, false).is_err());
        let plain = encode_client_key_exchange(b"inv", None).unwrap();
        let (_, body) = split_handshake(&plain).unwrap();
        assert_eq!(decode_client_key_exchange(body, false).unwrap().1, None);
    }

    #[test]
    fn hello_extensions_are_checked() {
        let mut w = Writer::new();
        extensions_12(&mut w, true, true);
        let block = w.finish().unwrap();
        let e = HelloExtensions12::decode(&block).unwrap();
        assert!(e.extended_master_secret && e.allows_uncompressed());
        assert_eq!(e.renegotiation_info, Some(&[][..]));
        // A non-empty extended_master_secret and an empty point format list are decode errors.
        assert!(HelloExtensions12::decode(&[0, 23, 0, 1, 0]).is_err());
        assert!(HelloExtensions12::decode(&[0, 11, 0, 1, 0]).is_err());
        // Only compressed points: no ECDHE.
        let e = HelloExtensions12::decode(&[0, 11, 0, 2, 1, 1]).unwrap();
        assert!(!e.allows_uncompressed());
    }
}
