//! TLS 1.2 PSK on the same engine: the cipher suites of RFC 4279/5487 (plain PSK, opt-in),
//! RFC 5489/7905/8442 (ECDHE_PSK), version selection against TLS 1.3 with the RFC 8446
//! §4.1.3 downgrade sentinel, and the two handshake state machines.
//!
//! | file | owns |
//! |---|---|
//! | `codec.rs` | the TLS 1.2 messages and extensions (RFC 5246 §7.4, RFC 4279 §2, RFC 5489 §2) |
//! | `key_schedule.rs` | premaster (RFC 4279 §2), extended master secret (RFC 7627 §4), key block and Finished (RFC 5246 §6.3, §7.4.9), exporter (RFC 5705) |
//! | `client.rs` / `server.rs` | the state machines (RFC 5246 §7.3 full handshake, no resumption) |
//!
//! The record layer, alerts, application data, closure and the resolver interface are the
//! TLS 1.3 engine's ([`super::conn`]); only the handshake differs. What it does:
//!
//! * Suites, each backed by the rustls provider's TLS 1.2 suite with the same AEAD and hash
//!   (its PRF and `Tls12AeadAlgorithm`): `TLS_ECDHE_PSK_WITH_CHACHA20_POLY1305_SHA256` (0xCCAC,
//!   RFC 7905), `TLS_ECDHE_PSK_WITH_AES_128_GCM_SHA256` / `_AES_256_GCM_SHA384` (0xD001/0xD002,
//!   RFC 8442: RFC 5288 GCM nonces, the PRF of the suite's hash), and, only with
//!   `with_plain_psk(true)`, `TLS_PSK_WITH_AES_128_GCM_SHA256` / `_AES_256_GCM_SHA384`
//!   (0x00A8/0x00A9, RFC 5487; no forward secrecy). No CBC suite, no compression.
//! * The extended master secret (RFC 7627) is required by default: a peer without it gets
//!   `handshake_failure`. `with_extended_master_secret(Preferred)` lets a legacy peer in
//!   with the RFC 5246 master secret (and the triple-handshake exposure RFC 7627 fixes). renegotiation_info (RFC 5746) is sent and checked on the initial
//!   handshake, and renegotiation is refused with a `no_renegotiation` warning.
//! * No session IDs to resume, no tickets: every connection is a full PSK handshake.
//! * The PSK identity travels in the ClientKeyExchange, so a server resolves it there (a
//!   deferred server pauses there); an unknown identity continues with a random key and fails
//!   at the client's Finished with `decrypt_error`, exactly like a wrong key (RFC 4279 §2).
//! * No KeyUpdate exists in TLS 1.2: a connection closes (close_notify) before its write
//!   key reaches the AEAD's confidentiality limit.

pub(crate) mod client;
pub(crate) mod codec;
pub(crate) mod key_schedule;
pub(crate) mod server;

use rustls::crypto::{CryptoProvider, SupportedKxGroup};
use rustls::{CipherSuite, ProtocolVersion, SupportedCipherSuite, Tls12CipherSuite};

use super::codec::{ClientHello, TLS12, TLS13};
use crate::error::Error;

/// The last 8 octets of ServerHello.random of a TLS 1.3-capable server that negotiates TLS 1.2
/// (RFC 8446 §4.1.3).
pub(crate) const DOWNGRADE_TLS12: [u8; 8] = *b"DOWNGRD\x01";
/// The last 8 octets of ServerHello.random of a TLS 1.2-capable server that negotiates TLS 1.1
/// or below (RFC 8446 §4.1.3): a TLS 1.3 client refuses it in any pre-1.3 ServerHello too.
pub(crate) const DOWNGRADE_TLS11: [u8; 8] = *b"DOWNGRD\x00";

/// TLS_ECDHE_PSK_WITH_CHACHA20_POLY1305_SHA256 (RFC 7905).
pub(crate) const TLS_ECDHE_PSK_WITH_CHACHA20_POLY1305_SHA256: u16 = 0xccac;
/// TLS_ECDHE_PSK_WITH_AES_128_GCM_SHA256 (RFC 8442).
pub(crate) const TLS_ECDHE_PSK_WITH_AES_128_GCM_SHA256: u16 = 0xd001;
/// TLS_ECDHE_PSK_WITH_AES_256_GCM_SHA384 (RFC 8442).
pub(crate) const TLS_ECDHE_PSK_WITH_AES_256_GCM_SHA384: u16 = 0xd002;
/// TLS_PSK_WITH_AES_128_GCM_SHA256 (RFC 5487; plain PSK, opt-in only).
pub(crate) const TLS_PSK_WITH_AES_128_GCM_SHA256: u16 = 0x00a8;
/// TLS_PSK_WITH_AES_256_GCM_SHA384 (RFC 5487; plain PSK, opt-in only).
pub(crate) const TLS_PSK_WITH_AES_256_GCM_SHA384: u16 = 0x00a9;

/// Every PSK suite: code, ECDHE or plain, and the provider suites (ECDSA or RSA flavour:
/// only their AEAD, PRF and hash are used) with the same AEAD and hash.
pub(crate) const SUITES: [(u16, bool, [CipherSuite; 2]); 5] = [
    (
        TLS_ECDHE_PSK_WITH_CHACHA20_POLY1305_SHA256,
        true,
        [
            CipherSuite::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
            CipherSuite::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
        ],
    ),
    (
        TLS_ECDHE_PSK_WITH_AES_128_GCM_SHA256,
        true,
        AES_128_GCM_SHA256,
    ),
    (
        TLS_ECDHE_PSK_WITH_AES_256_GCM_SHA384,
        true,
        AES_256_GCM_SHA384,
    ),
    (TLS_PSK_WITH_AES_128_GCM_SHA256, false, AES_128_GCM_SHA256),
    (TLS_PSK_WITH_AES_256_GCM_SHA384, false, AES_256_GCM_SHA384),
];

const AES_128_GCM_SHA256: [CipherSuite; 2] = [
    CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
    CipherSuite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
];
const AES_256_GCM_SHA384: [CipherSuite; 2] = [
    CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
    CipherSuite::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
];

/// Which protocol versions a config speaks, and its TLS 1.2 suites.
#[derive(Clone, Debug)]
pub(crate) struct Versions {
    pub(crate) tls13: bool,
    pub(crate) tls12: bool,
    pub(crate) plain_psk: bool,
    /// Configured TLS 1.2 suites in preference order (`None`: every ECDHE_PSK suite, then
    /// the plain PSK ones if allowed).
    pub(crate) tls12_suites: Option<Vec<u16>>,
    /// Whether a TLS 1.2 peer must use the extended master secret (RFC 7627).
    pub(crate) ems: crate::psk::ExtendedMasterSecret,
}

impl Default for Versions {
    fn default() -> Self {
        Self {
            tls13: true,
            tls12: false,
            plain_psk: false,
            tls12_suites: None,
            ems: crate::psk::ExtendedMasterSecret::Required,
        }
    }
}

impl Versions {
    /// The usable TLS 1.2 suites in preference order: configured (or all), plain PSK only if
    /// allowed, and only those the provider has an AEAD and PRF for.
    pub(crate) fn suites(&self, provider: &CryptoProvider) -> Vec<Suite12> {
        let codes: Vec<u16> = match &self.tls12_suites {
            Some(list) => list.clone(),
            None => SUITES.iter().map(|(code, ..)| *code).collect(),
        };
        codes
            .into_iter()
            .filter_map(|code| Suite12::lookup(code, provider))
            .filter(|s| s.ecdhe || self.plain_psk)
            .collect()
    }

    /// Validates a list of TLS 1.2 suites for `with_tls12_cipher_suites`.
    pub(crate) fn set_suites(
        &mut self,
        suites: &[CipherSuite],
        provider: &CryptoProvider,
    ) -> Result<(), Error> {
        let mut codes = Vec::new();
        for s in suites {
            let code = u16::from(*s);
            if Suite12::lookup(code, provider).is_none() {
                return Err(Error::InvalidConfig(format!(
                    "{s:?} is not a TLS 1.2 PSK AEAD suite the crypto provider can run"
                )));
            }
            codes.push(code);
        }
        if codes.is_empty() {
            return Err(Error::InvalidConfig("no TLS 1.2 cipher suite given".into()));
        }
        self.tls12_suites = Some(codes);
        Ok(())
    }
}

/// One TLS 1.2 PSK suite and the provider's primitives for it.
#[derive(Clone, Copy)]
pub(crate) struct Suite12 {
    pub(crate) code: u16,
    /// ECDHE_PSK (RFC 5489) rather than plain PSK (RFC 4279).
    pub(crate) ecdhe: bool,
    /// The provider's suite with the same AEAD and PRF hash.
    pub(crate) base: &'static Tls12CipherSuite,
}

impl Suite12 {
    pub(crate) fn lookup(code: u16, provider: &CryptoProvider) -> Option<Self> {
        let (_, ecdhe, bases) = SUITES.iter().find(|(c, ..)| *c == code)?;
        let base = provider.cipher_suites.iter().find_map(|s| match s {
            SupportedCipherSuite::Tls12(s) if bases.contains(&s.common.suite) => Some(*s),
            _ => None,
        })?;
        Some(Self {
            code,
            ecdhe: *ecdhe,
            base,
        })
    }

    pub(crate) fn hash(&self) -> &'static dyn rustls::crypto::hash::Hash {
        self.base.common.hash_provider
    }

    /// Records sent under the one key of a TLS 1.2 connection before it closes: the AEAD's
    /// confidentiality limit less 1/16 (no KeyUpdate in TLS 1.2), or lower if configured.
    pub(crate) fn record_limit(&self, configured: Option<u64>) -> u64 {
        let limit = self.base.common.confidentiality_limit;
        let default = limit.saturating_sub(limit / 16).max(1);
        configured.map_or(default, |m| m.clamp(1, default))
    }
}

/// The key-exchange groups usable with TLS 1.2 ECDHE_PSK, in preference order.
pub(crate) fn groups(all: &[&'static dyn SupportedKxGroup]) -> Vec<&'static dyn SupportedKxGroup> {
    all.iter()
        .copied()
        // ECDHE_PSK needs an elliptic-curve group: not a post-quantum hybrid (rustls marks
        // those unusable for TLS 1.2) and not an RFC 7919 FFDHE group (DHE_PSK is not offered).
        .filter(|g| g.usable_for_version(ProtocolVersion::TLSv1_2) && g.ffdhe_group().is_none())
        .collect()
}

/// Whether a server speaking `versions` answers this ClientHello with TLS 1.2: TLS 1.2 is
/// enabled, and the client offers it (in supported_versions if present, else by
/// legacy_version, RFC 8446 §4.2.1) but not TLS 1.3 or we have TLS 1.3 off.
pub(crate) fn server_picks_tls12(ch: &ClientHello<'_>, versions: &Versions) -> bool {
    if !versions.tls12 {
        return false;
    }
    match &ch.supported_versions {
        Some(list) => list.contains(TLS12) && !(versions.tls13 && list.contains(TLS13)),
        None => ch.legacy_version >= TLS12,
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use std::io::Write;

    use rustls::AlertDescription;

    use crate::psk::*;
    use crate::Error;

    fn pair() -> (PskClientConnection, PskServerConnection) {
        let psk = ExternalPsk::new(b"inv".to_vec(), &[7; 32], PskHash::Sha256).unwrap();
        let client = PskClientConfig::new(psk.clone())
            .with_tls12(true)
            .with_tls13(false);
        let keys: StaticPskResolver = [psk].into_iter().collect();
        let server = PskServerConfig::new(Arc::new(keys)).with_tls12(true);
        pair_with(client, server)
    }

    /// Completes a handshake between `client` and `server` in memory.
    fn pair_with(
        client: PskClientConfig,
        server: PskServerConfig,
    ) -> (PskClientConnection, PskServerConnection) {
        let mut c = PskClientConnection::new(Arc::new(client)).unwrap();
        let mut s = PskServerConnection::new(Arc::new(server));
        while c.is_handshaking() || s.is_handshaking() {
            move_bytes(&mut c, &mut s);
            s.process_new_packets().unwrap();
            move_bytes(&mut s, &mut c);
            c.process_new_packets().unwrap();
        }
        (c, s)
    }

    /// ECDHE_PSK offers and picks only elliptic-curve groups, even when FFDHE groups (for
    /// TLS 1.3) are configured, and a TLS 1.2 handshake with them configured still works.
    #[cfg(feature = "ffdhe")]
    #[test]
    fn ffdhe_groups_are_left_out_of_tls12() {
        use rustls::NamedGroup;
        let all = [
            crate::kx::ffdhe::FFDHE2048,
            crate::default_provider().kx_groups[0],
            crate::kx::ffdhe::FFDHE3072,
        ];
        let names: Vec<NamedGroup> = super::groups(&all).iter().map(|g| g.name()).collect();
        assert_eq!(names, vec![all[1].name()]);

        let psk = ExternalPsk::new(b"inv".to_vec(), &[7; 32], PskHash::Sha256).unwrap();
        let groups = [NamedGroup::FFDHE2048, NamedGroup::X25519];
        let client = PskClientConfig::new(psk.clone())
            .with_tls12(true)
            .with_tls13(false)
            .with_groups(&groups)
            .unwrap();
        let keys: StaticPskResolver = [psk].into_iter().collect();
        let server = PskServerConfig::new(Arc::new(keys))
            .with_tls12(true)
            .with_groups(&groups)
            .unwrap();
        let (_, s) = pair_with(client, server);
        assert_eq!(s.negotiated_key_exchange_group(), Some(NamedGroup::X25519));
    }

    fn move_bytes(from: &mut ConnectionCommon, to: &mut ConnectionCommon) {
        let mut buf = Vec::new();
        while from.wants_write() {
            from.write_tls(&mut buf).unwrap();
        }
        to.read_tls(&mut buf.as_slice()).unwrap();
    }

    /// `from` sends `message` after the handshake; what `to` answers and then `from` sees.
    fn after_handshake(
        from: &mut ConnectionCommon,
        to: &mut ConnectionCommon,
        message: &[u8],
    ) -> (Result<IoState, Error>, Vec<u8>, Option<Error>) {
        from.send_handshake(message).unwrap();
        move_bytes(from, to);
        let answer = to.process(&mut NoHandshake);
        let mut out = Vec::new();
        while to.wants_write() {
            to.write_tls(&mut out).unwrap();
        }
        from.read_tls(&mut out.as_slice()).unwrap();
        let seen = from.process(&mut NoHandshake).err();
        (answer, out, seen)
    }

    /// Post-handshake processing never reaches the handshake state machine.
    struct NoHandshake;
    impl crate::psk::conn::Handshake for NoHandshake {
        fn handle(&mut self, _: &mut ConnectionCommon, _: &[u8]) -> Result<(), Error> {
            unreachable!("post-handshake messages are handled by the connection")
        }
    }

    #[test]
    fn renegotiation_is_refused_with_a_no_renegotiation_warning() {
        // The client answers a HelloRequest, the server a new ClientHello, with one
        // protected warning alert; each stays usable, and the peer (which never
        // renegotiates, so never expects that alert) fails on it.
        for (server_asks, message) in [(true, &[0u8, 0, 0, 0][..]), (false, &[1, 0, 0, 1, 0][..])] {
            let (mut c, mut s) = pair();
            let (from, to): (&mut ConnectionCommon, &mut ConnectionCommon) = if server_asks {
                (&mut s, &mut c)
            } else {
                (&mut c, &mut s)
            };
            let (answer, wire, seen) = after_handshake(from, to, message);
            answer.unwrap();
            assert_eq!(
                (wire[0], wire.len()),
                (21, 5 + 2 + 16),
                "one AEAD-protected alert"
            );
            assert!(
                matches!(
                    seen,
                    Some(Error::AlertReceived(AlertDescription::NoRenegotiation))
                ),
                "{seen:?}"
            );
            to.writer().write_all(b"still open").unwrap();
            assert!(to.wants_write());
        }
    }

    #[test]
    fn other_post_handshake_messages_are_refused() {
        for (server_sends, message, alert) in [
            // A HelloRequest with a body.
            (true, &[0u8, 0, 0, 1, 0][..], AlertDescription::DecodeError),
            // A HelloRequest to the server, a ClientHello to the client, a KeyUpdate and a
            // NewSessionTicket (TLS 1.3 messages) to either.
            (
                false,
                &[0, 0, 0, 0][..],
                AlertDescription::UnexpectedMessage,
            ),
            (true, &[1, 0, 0, 0][..], AlertDescription::UnexpectedMessage),
            (
                true,
                &[24, 0, 0, 1, 0][..],
                AlertDescription::UnexpectedMessage,
            ),
            (
                false,
                &[24, 0, 0, 1, 0][..],
                AlertDescription::UnexpectedMessage,
            ),
            (true, &[4, 0, 0, 0][..], AlertDescription::UnexpectedMessage),
        ] {
            let (mut c, mut s) = pair();
            let (from, to): (&mut ConnectionCommon, &mut ConnectionCommon) = if server_sends {
                (&mut s, &mut c)
            } else {
                (&mut c, &mut s)
            };
            let (answer, _, _) = after_handshake(from, to, message);
            assert_eq!(answer.unwrap_err().alert(), Some(alert), "{message:?}");
        }
    }
}
