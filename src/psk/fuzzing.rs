//! Entry points for the cargo-fuzz targets in `fuzz/`. Compiled only with `--cfg fuzzing`
//! (which `cargo fuzz` sets for every crate it builds) and in unit tests, so they are never
//! part of the public API of a normal build.
//!
//! [`codec`] feeds arbitrary bytes to the handshake decoders (which are private to the
//! engine) and checks what they accept: invariants of the decoded values, and that
//! re-encoding what was understood decodes to the same values.
//!
//! [`take_work`] reads the engine's work counter (decoded fields, list elements visited,
//! hashed blocks, records: see `codec::work`), so a target can fail an input that makes the
//! server work more than a fixed multiple of its size.

use super::codec::{self, ClientHello, EncryptedExtensions, ServerHello};
use super::tls12::codec::{self as codec12, HelloExtensions12, ServerHello12};

/// The work the engine counted on this thread since the last call (and resets the count).
pub fn take_work() -> u64 {
    codec::work::take()
}

/// The most work one input may cost: [`WORK_PER_OCTET`] units per octet of input plus
/// [`WORK_BASE`] (a handshake's fixed costs). Linear code stays far below it (about one
/// unit per octet); anything quadratic in a list of the input exceeds it.
pub fn work_budget(input_len: usize) -> u64 {
    WORK_BASE + WORK_PER_OCTET * input_len as u64
}

/// See [`work_budget`].
pub const WORK_PER_OCTET: u64 = 4;
/// See [`work_budget`].
pub const WORK_BASE: u64 = 20_000;

/// Decodes `data` as the message selected by its first octet; panics on a broken invariant.
///
/// | selector % 10 | decoder |
/// |---|---|
/// | 0 | ClientHello (shared by both versions; with the TLS 1.2 encoder's round trip too) |
/// | 1 / 2 | TLS 1.3 ServerHello or HelloRetryRequest / EncryptedExtensions |
/// | 3 / 4 / 5 | handshake framing / KeyUpdate, NewSessionTicket / an extension block |
/// | 6 | TLS 1.2 ServerHello |
/// | 7 | TLS 1.2 ServerKeyExchange, ECDHE_PSK and plain PSK |
/// | 8 | TLS 1.2 ClientKeyExchange, ECDHE_PSK and plain PSK; Finished |
/// | 9 | the TLS 1.2 hello extensions of an extension block |
pub fn codec(data: &[u8]) {
    let Some((&selector, data)) = data.split_first() else {
        return;
    };
    match selector % 10 {
        6 => server_hello_12(data),
        7 => server_key_exchange(data),
        8 => client_key_exchange(data),
        9 => hello_extensions_12(data),
        0 => client_hello(data),
        1 => server_hello(data),
        2 => encrypted_extensions(data),
        3 => {
            if let Ok((_, body)) = codec::split_handshake(data) {
                assert_eq!(body.len() + 4, data.len());
            }
        }
        4 => {
            let _ = codec::decode_key_update(data);
            let _ = codec::check_new_session_ticket(data);
        }
        _ => {
            if let Ok(exts) = codec::split_extensions(data) {
                let total: usize = exts.iter().map(|e| 4 + e.body.len()).sum();
                assert_eq!(total, data.len());
                let mut types: Vec<u16> = exts.iter().map(|e| e.typ).collect();
                types.sort_unstable();
                types.dedup();
                assert_eq!(types.len(), exts.len(), "duplicates accepted");
            }
        }
    }
}

fn client_hello(body: &[u8]) {
    let Ok(ch) = ClientHello::decode(body) else {
        return;
    };
    assert!(ch.session_id.len() <= 32);
    assert!(!ch.compression_methods.is_empty());
    assert!(ch.binders_len <= body.len());
    if let Some(psks) = &ch.psks {
        let identities: Vec<_> = psks.identities().collect();
        let binders: Vec<_> = psks.binders().collect();
        assert!(!identities.is_empty());
        assert_eq!(identities.len(), psks.len());
        assert_eq!(identities.len(), binders.len());
        assert!(binders.iter().all(|b| b.len() >= 32));
        let listed: usize = 2 + binders.iter().map(|b| 1 + b.len()).sum::<usize>();
        assert_eq!(ch.binders_len, listed);
    } else {
        assert_eq!(ch.binders_len, 0);
    }
    client_hello_tls12(body, &ch);
    if let Some(shares) = &ch.key_shares {
        let groups: Vec<u16> = shares.iter().map(|(g, _)| g).collect();
        assert_eq!(groups.len(), shares.len());
        let mut unique = groups.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(
            unique.len(),
            groups.len(),
            "two shares for one group accepted"
        );
    }

    // Re-encode what the encoder can express and decode it again.
    let (Some(psks), Some(modes)) = (&ch.psks, ch.psk_modes) else {
        return;
    };
    if ch.key_shares.is_some() != ch.supported_groups.is_some() {
        return;
    }
    let server_name = match ch.server_name {
        Some(n) => match core::str::from_utf8(n) {
            Ok(s) => Some(s),
            Err(_) => return,
        },
        None => None,
    };
    let groups = ch.supported_groups.map(|g| g.to_vec()).unwrap_or_default();
    let shares: Vec<(u16, &[u8])> = ch
        .key_shares
        .map(|k| k.iter().collect())
        .unwrap_or_default();
    let alpn: Vec<Vec<u8>> = ch
        .alpn
        .map(|a| a.iter().map(<[u8]>::to_vec).collect())
        .unwrap_or_default();
    let binders: Vec<&[u8]> = psks.binders().collect();
    let ids: Vec<(&[u8], usize)> = psks
        .identities()
        .zip(&binders)
        .map(|((id, _), b)| (id, b.len()))
        .collect();
    if ids.iter().any(|(_, len)| *len > 64) {
        return; // the encoder's placeholder binders are at most 64 octets
    }
    let suites = ch.cipher_suites.to_vec();
    let Ok((mut message, binders_len)) = codec::encode_client_hello(&codec::ClientHelloParams {
        random: &ch.random,
        session_id: ch.session_id,
        cipher_suites: &suites,
        server_name,
        supported_groups: &groups,
        key_shares: &shares,
        psk_modes: modes,
        alpn: &alpn,
        cookie: ch.cookie,
        psks: &ids,
        tls12: None,
    }) else {
        return;
    };
    codec::fill_binders(&mut message, binders_len, &binders);
    let (typ, body2) = codec::split_handshake(&message).expect("own ClientHello frames");
    assert_eq!(typ, codec::hs::CLIENT_HELLO);
    let again = ClientHello::decode(body2).expect("own ClientHello decodes");
    assert_eq!(again.random, ch.random);
    assert_eq!(again.session_id, ch.session_id);
    assert_eq!(again.cipher_suites, ch.cipher_suites);
    assert_eq!(again.server_name, ch.server_name);
    assert_eq!(again.supported_groups, ch.supported_groups);
    assert_eq!(
        again
            .key_shares
            .map(|k| k.iter().collect::<Vec<_>>())
            .unwrap_or_default(),
        shares
    );
    assert_eq!(again.psk_modes, Some(modes));
    assert_eq!(again.alpn, ch.alpn);
    assert_eq!(again.cookie, ch.cookie);
    let again_psks = again.psks.expect("PSKs survive");
    // Our encoder sends obfuscated_ticket_age 0 for every external PSK (RFC 8446 §4.2.11), so
    // a decoded hello with another age comes back with 0: compare the identities without it.
    assert!(
        again_psks
            .identities()
            .map(|(id, _)| id)
            .eq(psks.identities().map(|(id, _)| id)),
        "PSK identities survive"
    );
    assert!(again_psks.binders().eq(psks.binders()), "binders survive");
    assert_eq!(again.binders_len, binders_len);

    // The deferred server's kept form gives the same hello back.
    let view = ch.spans(body).view(body);
    assert_eq!(view.cipher_suites, ch.cipher_suites);
    assert_eq!(view.key_shares, ch.key_shares);
    assert_eq!(view.psks, ch.psks);
    assert_eq!(view.alpn, ch.alpn);
    assert_eq!(view.session_id, ch.session_id);
    assert_eq!(view.tls12, ch.tls12);
}

/// The TLS 1.2 side of a decoded ClientHello: its TLS 1.2 extensions decode as the TLS 1.2
/// server reads them, and what the TLS 1.2 client encoder can express of it round-trips.
fn client_hello_tls12(body: &[u8], ch: &ClientHello<'_>) {
    // The one-pass capture equals the TLS 1.2 extensions decoded on their own.
    let block = codec12::client_hello_extensions(body).expect("a decoded hello has a block");
    let alone = HelloExtensions12::decode(block).expect("captured extensions decode alone");
    assert_eq!(ch.tls12, alone);

    let Ok(server_name) = ch.server_name.map(core::str::from_utf8).transpose() else {
        return;
    };
    let suites = ch.cipher_suites.to_vec();
    let groups = ch.supported_groups.map(|g| g.to_vec()).unwrap_or_default();
    let alpn: Vec<Vec<u8>> = ch
        .alpn
        .map(|a| a.iter().map(<[u8]>::to_vec).collect())
        .unwrap_or_default();
    let Ok(message) = codec12::encode_client_hello(&codec12::ClientHello12 {
        random: &ch.random,
        cipher_suites: &suites,
        server_name,
        groups: &groups,
        alpn: &alpn,
    }) else {
        return;
    };
    let (typ, body2) = codec::split_handshake(&message).expect("own ClientHello frames");
    assert_eq!(typ, codec::hs::CLIENT_HELLO);
    let again = ClientHello::decode(body2).expect("own TLS 1.2 ClientHello decodes");
    assert_eq!(again.legacy_version, codec::TLS12);
    assert_eq!(again.random, ch.random);
    assert!(again.session_id.is_empty());
    assert_eq!(again.cipher_suites, ch.cipher_suites);
    assert_eq!(again.server_name, ch.server_name);
    assert_eq!(again.supported_groups.is_some(), !groups.is_empty());
    if !groups.is_empty() {
        assert_eq!(again.supported_groups, ch.supported_groups);
    }
    if !alpn.is_empty() {
        assert_eq!(again.alpn, ch.alpn);
    }
    assert!(again.supported_versions.is_none() && again.key_shares.is_none());
    assert!(again.psks.is_none());
    let exts = again.tls12;
    assert!(exts.extended_master_secret);
    assert_eq!(exts.renegotiation_info, Some(&[][..]));
    assert_eq!(exts.ec_point_formats.is_some(), !groups.is_empty());
    assert!(exts.allows_uncompressed());
}

fn server_hello_12(body: &[u8]) {
    let Ok(sh) = ServerHello12::decode(body) else {
        return;
    };
    assert!(sh.session_id.len() <= 32);
    let mut types = sh.extension_types.clone();
    types.sort_unstable();
    types.dedup();
    assert_eq!(types.len(), sh.extension_types.len(), "duplicates accepted");
    assert_eq!(
        sh.alpn.is_some(),
        types.binary_search(&codec::ext::ALPN).is_ok()
    );
    assert!(sh.alpn.is_none_or(|p| !p.is_empty()));

    // What our encoder says of it (random, suite, ALPN, point formats) round-trips.
    let message = codec12::encode_server_hello(&codec12::ServerHelloParams12 {
        random: &sh.random,
        cipher_suite: sh.cipher_suite,
        ecdhe: sh.extensions.ec_point_formats.is_some(),
        ems: sh.extensions.extended_master_secret,
        alpn: sh.alpn,
    })
    .expect("a decoded TLS 1.2 ServerHello re-encodes");
    let (typ, body2) = codec::split_handshake(&message).expect("own ServerHello frames");
    assert_eq!(typ, codec::hs::SERVER_HELLO);
    let again = ServerHello12::decode(body2).expect("own TLS 1.2 ServerHello decodes");
    assert_eq!(again.legacy_version, codec::TLS12);
    assert_eq!(again.random, sh.random);
    assert!(again.session_id.is_empty());
    assert_eq!(again.cipher_suite, sh.cipher_suite);
    assert_eq!(again.compression_method, 0);
    assert_eq!(again.alpn, sh.alpn);
    assert_eq!(
        again.extensions.extended_master_secret,
        sh.extensions.extended_master_secret
    );
    assert_eq!(again.extensions.renegotiation_info, Some(&[][..]));
    assert_eq!(
        again.extensions.ec_point_formats.is_some(),
        sh.extensions.ec_point_formats.is_some()
    );
}

fn server_key_exchange(body: &[u8]) {
    for ecdhe in [true, false] {
        let Ok(decoded) = codec12::decode_server_key_exchange(body, ecdhe) else {
            continue;
        };
        assert_eq!(decoded.is_some(), ecdhe);
        if let Some((_, point)) = decoded {
            assert!(!point.is_empty());
        }
        // Our encoder sends an empty hint: the same values come back, and with an empty
        // hint in the input the very same octets.
        let message = codec12::encode_server_key_exchange(decoded)
            .expect("a decoded ServerKeyExchange re-encodes");
        let (typ, body2) = codec::split_handshake(&message).expect("own message frames");
        assert_eq!(typ, codec12::hs12::SERVER_KEY_EXCHANGE);
        let again = codec12::decode_server_key_exchange(body2, ecdhe).expect("own decodes");
        assert_eq!(again, decoded);
        if body.starts_with(&[0, 0]) {
            assert_eq!(body2, body);
        }
    }
}

fn client_key_exchange(body: &[u8]) {
    for ecdhe in [true, false] {
        let Ok((identity, point)) = codec12::decode_client_key_exchange(body, ecdhe) else {
            continue;
        };
        assert_eq!(point.is_some(), ecdhe);
        assert!(point.is_none_or(|p| !p.is_empty()));
        // The encoder is the exact inverse.
        let message = codec12::encode_client_key_exchange(identity, point)
            .expect("a decoded ClientKeyExchange re-encodes");
        let (typ, body2) = codec::split_handshake(&message).expect("own message frames");
        assert_eq!(typ, codec12::hs12::CLIENT_KEY_EXCHANGE);
        assert_eq!(body2, body);
    }
    if let Ok(verify_data) = <&[u8; codec12::VERIFY_DATA_LEN]>::try_from(body) {
        let message = codec12::encode_finished(verify_data);
        let (typ, body2) = codec::split_handshake(&message).expect("own Finished frames");
        assert_eq!((typ, body2), (codec::hs::FINISHED, body));
    }
}

fn hello_extensions_12(block: &[u8]) {
    let Ok(exts) = HelloExtensions12::decode(block) else {
        return;
    };
    // What was captured is what the block says, extension by extension.
    let all = codec::split_extensions(block).expect("a block that decodes splits");
    let find = |typ| all.iter().find(|e| e.typ == typ).map(|e| e.body);
    assert_eq!(
        exts.extended_master_secret,
        find(codec12::ext12::EXTENDED_MASTER_SECRET) == Some(&[][..])
    );
    assert_eq!(
        exts.renegotiation_info.map(<[u8]>::len),
        find(codec12::ext12::RENEGOTIATION_INFO).map(|b| b.len() - 1)
    );
    assert_eq!(
        exts.ec_point_formats.map(<[u8]>::len),
        find(codec12::ext12::EC_POINT_FORMATS).map(|b| b.len() - 1)
    );
    assert!(exts.ec_point_formats.is_none_or(|f| !f.is_empty()));
}

fn server_hello(body: &[u8]) {
    let Ok(sh) = ServerHello::decode(body) else {
        return;
    };
    assert!(sh.session_id.len() <= 32);
    let message = if sh.is_hrr() {
        match (sh.key_share, sh.cookie, sh.selected_identity) {
            (Some((group, _)), None, None) => {
                codec::encode_hello_retry_request(sh.session_id, sh.cipher_suite, group)
            }
            _ => return,
        }
    } else {
        match (sh.supported_version, sh.selected_identity) {
            (Some(codec::TLS13), Some(selected_identity)) => {
                codec::encode_server_hello(&codec::ServerHelloParams {
                    random: &sh.random,
                    session_id: sh.session_id,
                    cipher_suite: sh.cipher_suite,
                    key_share: sh.key_share,
                    selected_identity,
                })
            }
            _ => return,
        }
    };
    let message = message.expect("a decoded ServerHello re-encodes");
    let (_, body2) = codec::split_handshake(&message).expect("own ServerHello frames");
    let again = ServerHello::decode(body2).expect("own ServerHello decodes");
    assert_eq!(again.is_hrr(), sh.is_hrr());
    assert_eq!(again.random, sh.random);
    assert_eq!(again.session_id, sh.session_id);
    assert_eq!(again.cipher_suite, sh.cipher_suite);
    assert_eq!(again.key_share, sh.key_share);
    assert_eq!(again.selected_identity, sh.selected_identity);
}

fn encrypted_extensions(body: &[u8]) {
    let Ok(ee) = EncryptedExtensions::decode(body) else {
        return;
    };
    let message = codec::encode_encrypted_extensions(ee.alpn, ee.server_name_ack)
        .expect("a decoded EncryptedExtensions re-encodes");
    let (_, body2) = codec::split_handshake(&message).expect("own message frames");
    let again = EncryptedExtensions::decode(body2).expect("own message decodes");
    assert_eq!(again.alpn, ee.alpn);
    assert_eq!(again.server_name_ack, ee.server_name_ack);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fuzz entry point runs on real messages and every truncation of them without
    /// tripping its own invariants (keeps it compiling and honest outside fuzz builds).
    #[test]
    fn codec_entry_accepts_real_messages_and_truncations() {
        let alpn = vec![b"h2".to_vec()];
        let (mut ch, binders_len) = codec::encode_client_hello(&codec::ClientHelloParams {
            random: &[7; 32],
            session_id: &[9; 32],
            cipher_suites: &[0x1301, 0x1303],
            server_name: Some("aef.example.com"),
            supported_groups: &[0x001d, 0x0017],
            key_shares: &[(0x001d, &[1; 32])],
            psk_modes: &[codec::PSK_DHE_KE],
            alpn: &alpn,
            cookie: Some(b"cookie"),
            psks: &[(b"id-1", 32), (b"id-2", 48)],
            tls12: None,
        })
        .unwrap();
        codec::fill_binders(&mut ch, binders_len, &[&[0xaa; 32], &[0xbb; 48]]);
        let sh = codec::encode_server_hello(&codec::ServerHelloParams {
            random: &[3; 32],
            session_id: &[9; 32],
            cipher_suite: 0x1301,
            key_share: Some((0x001d, &[5; 32])),
            selected_identity: 1,
        })
        .unwrap();
        let hrr = codec::encode_hello_retry_request(&[9; 32], 0x1301, 0x0017).unwrap();
        let ee = codec::encode_encrypted_extensions(Some(b"h2"), true).unwrap();
        let ch12 = codec12::encode_client_hello(&codec12::ClientHello12 {
            random: &[7; 32],
            cipher_suites: &[0xccac, 0x00ff],
            server_name: Some("aef.example.com"),
            groups: &[0x001d],
            alpn: &alpn,
        })
        .unwrap();
        let sh12 = codec12::encode_server_hello(&codec12::ServerHelloParams12 {
            random: &[3; 32],
            cipher_suite: 0xccac,
            ecdhe: true,
            ems: true,
            alpn: Some(b"h2"),
        })
        .unwrap();
        let ske = codec12::encode_server_key_exchange(Some((0x001d, &[4; 32]))).unwrap();
        let cke = codec12::encode_client_key_exchange(b"inv", Some(&[9; 32])).unwrap();
        let fin = codec12::encode_finished(&[5; 12]);
        let mut block = codec::Writer::new();
        codec12::extensions_12(&mut block, true, true);
        let mut block = block.finish().unwrap();
        block.splice(0..0, [0, 0, 0, 0]); // a header for the framing cut below
        for message in [&ch, &sh, &hrr, &ee, &ch12, &sh12, &ske, &cke, &fin, &block] {
            for selector in 0..10u8 {
                for cut in 0..=message.len() {
                    let mut input = vec![selector];
                    let from = if selector == 3 { 0 } else { 4.min(cut) };
                    input.extend_from_slice(&message[from..cut]);
                    codec(&input);
                }
            }
        }
        // The full ClientHello round-trips (the branch that re-encodes is reached).
        let (_, body) = codec::split_handshake(&ch).unwrap();
        let decoded = ClientHello::decode(body).unwrap();
        assert_eq!(decoded.psks.unwrap().binders().count(), 2);
    }
}
