//! TLS 1.2 PSK between our own client and server (in memory): every suite, version
//! negotiation with TLS 1.3 and the downgrade sentinel, the deferred key path, and refusals
//! (wrong key, unknown identity, missing extended master secret, renegotiation_info,
//! renegotiation after the handshake, wrong Finished, malformed messages).

mod common;

use std::io::{Read, Write};
use std::ops::DerefMut;
use std::sync::Arc;

use common::{handshake, read_all, transfer, Side};
use rustls::{AlertDescription, CipherSuite, NamedGroup, ProtocolVersion};
use rustls_capif::error::PskRejection;
use rustls_capif::psk::{
    ExternalPsk, KeyExchangeMode, NoPskResolver, PskClientConfig, PskClientConnection, PskHash,
    PskServerConfig, PskServerConnection, StaticPskResolver,
};
use rustls_capif::Error;

const ID: &[u8] = b"invoker-tls12";
const KEY: [u8; 32] = [0x42; 32];
const OTHER_KEY: [u8; 32] = [0x24; 32];

const ECDHE_CHACHA: CipherSuite = CipherSuite::TLS_ECDHE_PSK_WITH_CHACHA20_POLY1305_SHA256;
const ECDHE_AES128: CipherSuite = CipherSuite::Unknown(0xd001);
const ECDHE_AES256: CipherSuite = CipherSuite::Unknown(0xd002);
const PSK_AES128: CipherSuite = CipherSuite::TLS_PSK_WITH_AES_128_GCM_SHA256;
const PSK_AES256: CipherSuite = CipherSuite::TLS_PSK_WITH_AES_256_GCM_SHA384;

fn psk(key: &[u8]) -> ExternalPsk {
    ExternalPsk::new(ID.to_vec(), key, PskHash::Sha256).unwrap()
}

/// A client offering TLS 1.2 only.
fn client12(key: &[u8]) -> PskClientConfig {
    PskClientConfig::new(psk(key))
        .with_tls12(true)
        .with_tls13(false)
}

/// A server accepting TLS 1.3 and TLS 1.2.
fn server_both(key: &[u8]) -> PskServerConfig {
    let keys: StaticPskResolver = [psk(key)].into_iter().collect();
    PskServerConfig::new(Arc::new(keys)).with_tls12(true)
}

fn connect(
    client: PskClientConfig,
    server: PskServerConfig,
) -> (
    PskClientConnection,
    PskServerConnection,
    Result<(), (Side, Error)>,
) {
    let mut c = PskClientConnection::new(Arc::new(client)).unwrap();
    let mut s = PskServerConnection::new(Arc::new(server));
    let r = handshake(&mut c, &mut s);
    (c, s, r)
}

fn exchange_data(c: &mut PskClientConnection, s: &mut PskServerConnection) {
    c.writer().write_all(b"ping over TLS 1.2").unwrap();
    transfer(c.deref_mut(), s.deref_mut());
    s.process_new_packets().unwrap();
    assert_eq!(read_all(s.deref_mut()), b"ping over TLS 1.2");
    let big = vec![0x5a; 12_000];
    s.writer().write_all(&big).unwrap();
    transfer(s.deref_mut(), c.deref_mut());
    c.process_new_packets().unwrap();
    assert_eq!(read_all(c.deref_mut()), big);
    // close_notify both ways.
    c.send_close_notify();
    transfer(c.deref_mut(), s.deref_mut());
    let st = s.process_new_packets().unwrap();
    assert!(st.peer_has_closed());
    let mut buf = [0u8; 8];
    assert_eq!(s.reader().read(&mut buf).unwrap(), 0);
}

#[test]
fn every_suite_between_our_client_and_server() {
    for (suite, plain, mode) in [
        (ECDHE_CHACHA, false, KeyExchangeMode::PskDhe),
        (ECDHE_AES128, false, KeyExchangeMode::PskDhe),
        (ECDHE_AES256, false, KeyExchangeMode::PskDhe),
        (PSK_AES128, true, KeyExchangeMode::PskOnly),
        (PSK_AES256, true, KeyExchangeMode::PskOnly),
    ] {
        let client = client12(&KEY)
            .with_plain_psk(plain)
            .with_tls12_cipher_suites(&[suite])
            .unwrap();
        let server = server_both(&KEY).with_plain_psk(plain);
        let (mut c, mut s, r) = connect(client, server);
        r.unwrap_or_else(|e| panic!("{suite:?}: {e:?}"));
        for conn in [&*c, &*s] {
            assert_eq!(conn.protocol_version(), Some(ProtocolVersion::TLSv1_2));
            assert_eq!(conn.negotiated_cipher_suite(), Some(suite), "{suite:?}");
            assert_eq!(conn.key_exchange_mode(), Some(mode));
        }
        assert_eq!(s.psk_identity(), Some(ID));
        assert_eq!(c.psk_identity(), Some(ID));
        if plain {
            assert_eq!(s.negotiated_key_exchange_group(), None);
        } else {
            assert_eq!(s.negotiated_key_exchange_group(), Some(NamedGroup::X25519));
            assert_eq!(c.negotiated_key_exchange_group(), Some(NamedGroup::X25519));
        }
        // Both sides derive the same RFC 5705 exporter values; context None differs from
        // an empty one in TLS 1.2.
        let a = c
            .export_keying_material([0u8; 32], b"EXPERIMENTAL x", None)
            .unwrap();
        let b = s
            .export_keying_material([0u8; 32], b"EXPERIMENTAL x", None)
            .unwrap();
        let e = s
            .export_keying_material([0u8; 32], b"EXPERIMENTAL x", Some(b""))
            .unwrap();
        assert_eq!(a, b);
        assert_ne!(a, e);
        exchange_data(&mut c, &mut s);
    }
}

#[test]
fn default_suite_is_ecdhe_chacha_and_plain_psk_is_opt_in() {
    let (c, s, r) = connect(client12(&KEY), server_both(&KEY));
    r.unwrap();
    assert_eq!(c.negotiated_cipher_suite(), Some(ECDHE_CHACHA));
    assert_eq!(s.negotiated_cipher_suite(), Some(ECDHE_CHACHA));
    // A client offering only plain PSK meets a server without the opt-in.
    let client = client12(&KEY)
        .with_plain_psk(true)
        .with_tls12_cipher_suites(&[PSK_AES128])
        .unwrap();
    let (_, _, r) = connect(client, server_both(&KEY));
    let (side, e) = r.unwrap_err();
    assert_eq!(side, Side::Server);
    assert_eq!(e.alert(), Some(AlertDescription::HandshakeFailure), "{e}");
}

#[test]
fn tls12_is_off_by_default() {
    let keys: StaticPskResolver = [psk(&KEY)].into_iter().collect();
    let server = PskServerConfig::new(Arc::new(keys));
    let (_, _, r) = connect(client12(&KEY), server);
    let (side, e) = r.unwrap_err();
    assert_eq!(side, Side::Server);
    assert_eq!(e.alert(), Some(AlertDescription::ProtocolVersion), "{e}");
}

#[test]
fn version_negotiation_prefers_tls13_and_falls_back_to_tls12() {
    // Both sides with both versions: TLS 1.3.
    let client = PskClientConfig::new(psk(&KEY)).with_tls12(true);
    let (c, s, r) = connect(client, server_both(&KEY));
    r.unwrap();
    assert_eq!(c.protocol_version(), Some(ProtocolVersion::TLSv1_3));
    assert_eq!(s.protocol_version(), Some(ProtocolVersion::TLSv1_3));

    // A 1.3+1.2 client against a 1.2-only server: TLS 1.2 (no sentinel: the server has no
    // TLS 1.3).
    let client = PskClientConfig::new(psk(&KEY)).with_tls12(true);
    let server = server_both(&KEY).with_tls13(false);
    let (mut c, mut s, r) = connect(client, server);
    r.unwrap();
    assert_eq!(c.protocol_version(), Some(ProtocolVersion::TLSv1_2));
    assert_eq!(c.psk_identity(), Some(ID));
    exchange_data(&mut c, &mut s);

    // A 1.2-only client against the 1.3+1.2 server: TLS 1.2.
    let (c, _, r) = connect(client12(&KEY), server_both(&KEY));
    r.unwrap();
    assert_eq!(c.protocol_version(), Some(ProtocolVersion::TLSv1_2));
}

/// Runs `client`'s ClientHello through `server` and returns the server's first flight.
fn first_flight(client: &mut PskClientConnection, server: &mut PskServerConnection) -> Vec<u8> {
    transfer(client.deref_mut(), server.deref_mut());
    server.process_new_packets().unwrap();
    let mut out = Vec::new();
    while server.wants_write() {
        server.write_tls(&mut out).unwrap();
    }
    out
}

/// The ServerHello.random in a server flight that starts with a plaintext ServerHello.
fn server_random(flight: &[u8]) -> [u8; 32] {
    assert_eq!((flight[0], flight[5]), (22, 2));
    flight[11..43].try_into().unwrap()
}

#[test]
fn downgrade_sentinel_is_set_and_checked() {
    // The 1.3+1.2 server answering a 1.2-only client sets it...
    let mut c = PskClientConnection::new(Arc::new(client12(&KEY))).unwrap();
    let mut s = PskServerConnection::new(Arc::new(server_both(&KEY)));
    let flight = first_flight(&mut c, &mut s);
    assert_eq!(&server_random(&flight)[24..], b"DOWNGRD\x01");
    // ...which a 1.2-only client accepts,
    c.read_tls(&mut flight.as_slice()).unwrap();
    c.process_new_packets().unwrap();

    // but a 1.3+1.2 client refuses (illegal_parameter): a TLS 1.3 server answered with 1.2.
    let mut c =
        PskClientConnection::new(Arc::new(PskClientConfig::new(psk(&KEY)).with_tls12(true)))
            .unwrap();
    // The server sees a 1.2-only ClientHello (an attacker removed TLS 1.3 from it).
    let mut s = PskServerConnection::new(Arc::new(server_both(&KEY)));
    let mut probe = PskClientConnection::new(Arc::new(client12(&KEY))).unwrap();
    let flight = first_flight(&mut probe, &mut s);
    let mut ours = Vec::new();
    c.write_tls(&mut ours).unwrap();
    c.read_tls(&mut flight.as_slice()).unwrap();
    let e = c.process_new_packets().unwrap_err();
    assert_eq!(e.alert(), Some(AlertDescription::IllegalParameter), "{e}");
    assert!(e.to_string().contains("downgrade"), "{e}");

    // A 1.2-only server sets no sentinel, so the 1.3+1.2 client goes on.
    let mut s = PskServerConnection::new(Arc::new(server_both(&KEY).with_tls13(false)));
    let mut probe = PskClientConnection::new(Arc::new(client12(&KEY))).unwrap();
    let flight = first_flight(&mut probe, &mut s);
    assert_ne!(&server_random(&flight)[24..], b"DOWNGRD\x01");
}

/// RFC 8446 §4.1.3: a TLS 1.3 client receiving a TLS 1.2 (or lower) ServerHello refuses
/// either sentinel, "DOWNGRD\x01" and "DOWNGRD\x00", with illegal_parameter; a TLS 1.2-only
/// client checks neither on a TLS 1.2 ServerHello.
#[test]
fn a_tls13_client_refuses_both_downgrade_sentinels() {
    for (sentinel, mixed, refused) in [
        (b"DOWNGRD\x00", true, true),
        (b"DOWNGRD\x01", true, true),
        (b"DOWNGRD\x00", false, false),
    ] {
        let client = if mixed {
            PskClientConfig::new(psk(&KEY)).with_tls12(true)
        } else {
            client12(&KEY)
        };
        let mut c = PskClientConnection::new(Arc::new(client)).unwrap();
        // A 1.2-only server (it sets no sentinel of its own): the edited random is the only one.
        let mut s = PskServerConnection::new(Arc::new(server_both(&KEY).with_tls13(false)));
        let flight = first_flight(&mut c, &mut s);
        let mut records = common::raw::parse_records(&flight);
        let data: Vec<u8> = records.drain(..).flat_map(|r| r.body).collect();
        let mut messages = common::raw::split_handshakes(&data);
        let mut sh = common::raw::ServerHello::parse(&messages[0]);
        sh.random[24..].copy_from_slice(sentinel);
        messages[0] = sh.encode();
        let wire = common::raw::records(common::raw::HANDSHAKE, &messages.concat());
        c.read_tls(&mut wire.as_slice()).unwrap();
        let r = c.process_new_packets();
        if refused {
            let e = r.unwrap_err();
            assert_eq!(e.alert(), Some(AlertDescription::IllegalParameter), "{e}");
            assert!(e.to_string().contains("downgrade"), "{e}");
        } else {
            r.unwrap();
        }
    }
}

#[test]
fn wrong_key_and_unknown_identity_fail_alike_with_decrypt_error() {
    // Wrong key.
    let (_, s, r) = connect(client12(&OTHER_KEY), server_both(&KEY));
    let (side, e) = r.unwrap_err();
    assert_eq!(side, Side::Server);
    assert!(
        matches!(e, Error::PskRejected(PskRejection::WrongKey)),
        "{e:?}"
    );
    assert_eq!(e.alert(), Some(AlertDescription::DecryptError));
    drop(s);

    // Unknown identity.
    let client =
        PskClientConfig::new(ExternalPsk::new(b"nobody".to_vec(), &KEY, PskHash::Sha256).unwrap())
            .with_tls12(true)
            .with_tls13(false);
    let (_, _, r) = connect(client, server_both(&KEY));
    let (side, e) = r.unwrap_err();
    assert_eq!(side, Side::Server);
    assert!(
        matches!(e, Error::PskRejected(PskRejection::UnknownIdentity)),
        "{e:?}"
    );
    assert_eq!(e.alert(), Some(AlertDescription::DecryptError));
}

/// The alert bytes a failed server sends for `client`: the same for a wrong key and an
/// unknown identity.
#[test]
fn wrong_key_and_unknown_identity_send_the_same_bytes() {
    let alert_for = |client: PskClientConfig| {
        let mut c = PskClientConnection::new(Arc::new(client)).unwrap();
        let mut s = PskServerConnection::new(Arc::new(server_both(&KEY)));
        transfer(c.deref_mut(), s.deref_mut());
        s.process_new_packets().unwrap();
        transfer(s.deref_mut(), c.deref_mut());
        c.process_new_packets().unwrap();
        transfer(c.deref_mut(), s.deref_mut());
        assert!(s.process_new_packets().is_err());
        let mut out = Vec::new();
        s.write_tls(&mut out).unwrap();
        out
    };
    let wrong = alert_for(client12(&OTHER_KEY));
    let unknown = alert_for(
        PskClientConfig::new(ExternalPsk::new(b"nobody".to_vec(), &KEY, PskHash::Sha256).unwrap())
            .with_tls12(true)
            .with_tls13(false),
    );
    // A plaintext fatal decrypt_error alert (the server never sent its CCS).
    assert_eq!(wrong, [21, 3, 3, 0, 2, 2, 51]);
    assert_eq!(unknown, wrong);
}

#[test]
fn deferred_server_resolves_the_identity_at_the_client_key_exchange() {
    let keys: StaticPskResolver = StaticPskResolver::default();
    let config = Arc::new(PskServerConfig::new(Arc::new(keys)).with_tls12(true));
    for (key, ok) in [(KEY, true), (OTHER_KEY, false)] {
        let mut c = PskClientConnection::new(Arc::new(client12(&key))).unwrap();
        let mut s = PskServerConnection::new_deferred(config.clone());
        transfer(c.deref_mut(), s.deref_mut());
        s.process_new_packets().unwrap();
        // No identity in a TLS 1.2 ClientHello: the server answers before any lookup.
        assert!(!s.is_awaiting_psk());
        transfer(s.deref_mut(), c.deref_mut());
        c.process_new_packets().unwrap();
        transfer(c.deref_mut(), s.deref_mut());
        s.process_new_packets().unwrap();
        assert!(s.is_awaiting_psk());
        assert_eq!(s.offered_psk_identities(), Some(&[ID.to_vec()][..]));
        assert!(s.offered_psk_matches(&psk(&KEY)));
        let r = s.provide_psk(Some(psk(&KEY)));
        if ok {
            r.unwrap();
            transfer(s.deref_mut(), c.deref_mut());
            c.process_new_packets().unwrap();
            assert!(!c.is_handshaking() && !s.is_handshaking());
            assert_eq!(s.psk_identity(), Some(ID));
        } else {
            let e = r.unwrap_err();
            assert_eq!(e.alert(), Some(AlertDescription::DecryptError), "{e}");
        }
    }
}

/// A deferred server whose key store cannot answer refuses at once, in TLS 1.2 as in TLS 1.3,
/// with the fatal decrypt_error an unknown identity gets (TLS 1.2 does not wait for the
/// client's Finished); `refuse_psk` outside a lookup is an `InvalidState`.
#[test]
fn refuse_psk_fails_a_deferred_lookup_at_once_in_both_versions() {
    let config = Arc::new(PskServerConfig::new(Arc::new(NoPskResolver)).with_tls12(true));
    for client in [
        client12(&KEY),
        PskClientConfig::new(psk(&KEY)).with_tls12(true),
    ] {
        let mut c = PskClientConnection::new(Arc::new(client)).unwrap();
        let mut s = PskServerConnection::new_deferred(config.clone());
        assert!(matches!(s.refuse_psk(), Error::InvalidState(_)));
        while !s.is_awaiting_psk() {
            transfer(c.deref_mut(), s.deref_mut());
            s.process_new_packets().unwrap();
            transfer(s.deref_mut(), c.deref_mut());
            c.process_new_packets().unwrap();
        }
        let e = s.refuse_psk();
        assert!(
            matches!(e, Error::PskRejected(PskRejection::UnknownIdentity)),
            "{e:?}"
        );
        // The alert is queued now (before any Finished from us); the client sees it.
        assert!(s.wants_write());
        transfer(s.deref_mut(), c.deref_mut());
        assert!(matches!(
            c.process_new_packets().unwrap_err(),
            Error::AlertReceived(AlertDescription::DecryptError)
        ));
        assert!(s.process_new_packets().is_err(), "the server stays failed");
    }
}

/// Only a TLS 1.2 wrong key (a client Finished that does not verify under a known identity's
/// key) marks the server's key as possibly stale; an unknown identity and a TLS 1.3 binder
/// mismatch do not.
#[test]
fn only_a_tls12_wrong_key_marks_the_key_as_possibly_stale() {
    let nobody = ExternalPsk::new(b"nobody".to_vec(), &KEY, PskHash::Sha256).unwrap();
    for (client, stale) in [
        (client12(&OTHER_KEY), true),
        (
            PskClientConfig::new(nobody)
                .with_tls12(true)
                .with_tls13(false),
            false,
        ),
        (
            PskClientConfig::new(psk(&OTHER_KEY)).with_tls12(true),
            false,
        ),
    ] {
        let (_, s, r) = connect(client, server_both(&KEY));
        let (side, e) = r.unwrap_err();
        assert_eq!(side, Side::Server, "{e:?}");
        assert_eq!(s.provided_key_may_be_stale(&e), stale, "{e:?}");
    }
}

#[test]
fn refresh_traffic_keys_is_refused_in_tls12() {
    let (mut c, _, r) = connect(client12(&KEY), server_both(&KEY));
    r.unwrap();
    assert!(c.refresh_traffic_keys().is_err());
}

#[test]
fn the_connection_closes_at_the_record_limit() {
    let client = client12(&KEY).with_max_records_per_key(5);
    let (mut c, mut s, r) = connect(client, server_both(&KEY));
    r.unwrap();
    // The handshake used one record (the Finished); four more fit.
    for _ in 0..4 {
        c.writer().write_all(b"x").unwrap();
    }
    assert!(c.writer().write_all(b"x").is_err());
    transfer(c.deref_mut(), s.deref_mut());
    let st = s.process_new_packets().unwrap();
    assert!(st.peer_has_closed());
    assert_eq!(read_all(s.deref_mut()), b"xxxx");
}

// ----- negative tests -------------------------------------------------------------------------

mod negative {
    use super::*;
    use common::raw::{self, ClientHello, Extensions, ServerHello, HANDSHAKE};

    const EMS: u16 = 23;
    const RENEGOTIATION_INFO: u16 = 0xff01;

    /// Our TLS 1.2 client's ClientHello message.
    fn client_hello12() -> (PskClientConnection, ClientHello) {
        let mut c = PskClientConnection::new(Arc::new(client12(&KEY))).unwrap();
        let mut wire = Vec::new();
        c.write_tls(&mut wire).unwrap();
        let records = raw::parse_records(&wire);
        (c, ClientHello::parse(&records[0].body))
    }

    /// The server's error for `ch`.
    fn server_error(ch: &ClientHello) -> Error {
        let mut s = PskServerConnection::new(Arc::new(server_both(&KEY)));
        s.read_tls(&mut raw::records(HANDSHAKE, &ch.encode()).as_slice())
            .unwrap();
        s.process_new_packets().unwrap_err()
    }

    #[test]
    fn the_unmodified_client_hello_is_accepted() {
        let (_, ch) = client_hello12();
        let mut s = PskServerConnection::new(Arc::new(server_both(&KEY)));
        s.read_tls(&mut raw::records(HANDSHAKE, &ch.encode()).as_slice())
            .unwrap();
        s.process_new_packets().unwrap();
        // A TLS 1.2-only ClientHello: none of the TLS 1.3 extensions.
        for typ in [43, 51, 41, 45] {
            assert!(ch.ext(typ).is_none(), "extension {typ}");
        }
        assert!(ch.ext(EMS).is_some() && ch.ext(RENEGOTIATION_INFO).is_some());
    }

    #[test]
    fn client_without_extended_master_secret_is_refused() {
        let (_, mut ch) = client_hello12();
        ch.remove_ext(EMS);
        let e = server_error(&ch);
        assert_eq!(e.alert(), Some(AlertDescription::HandshakeFailure), "{e}");
    }

    #[test]
    fn bad_or_missing_renegotiation_info_is_refused() {
        let (_, mut ch) = client_hello12();
        // A renegotiation's verify_data on an initial handshake (RFC 5746 §3.6).
        ch.set_ext(
            RENEGOTIATION_INFO,
            vec![12, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12],
        );
        let e = server_error(&ch);
        assert_eq!(e.alert(), Some(AlertDescription::HandshakeFailure), "{e}");
        // Neither the extension nor the SCSV.
        ch.remove_ext(RENEGOTIATION_INFO);
        let e = server_error(&ch);
        assert_eq!(e.alert(), Some(AlertDescription::HandshakeFailure), "{e}");
        // The SCSV instead of the extension is fine.
        ch.cipher_suites.push(0x00ff);
        let mut s = PskServerConnection::new(Arc::new(server_both(&KEY)));
        s.read_tls(&mut raw::records(HANDSHAKE, &ch.encode()).as_slice())
            .unwrap();
        s.process_new_packets().unwrap();
        // Malformed renegotiation_info: decode_error.
        ch.set_ext(RENEGOTIATION_INFO, vec![5, 0]);
        let e = server_error(&ch);
        assert_eq!(e.alert(), Some(AlertDescription::DecodeError), "{e}");
    }

    /// The server's first flight for our client's ClientHello, as handshake messages.
    fn server_flight(c: &mut PskClientConnection) -> Vec<Vec<u8>> {
        let mut s = PskServerConnection::new(Arc::new(server_both(&KEY)));
        transfer(c.deref_mut(), s.deref_mut());
        s.process_new_packets().unwrap();
        let mut wire = Vec::new();
        s.write_tls(&mut wire).unwrap();
        let data: Vec<u8> = raw::parse_records(&wire)
            .into_iter()
            .flat_map(|r| r.body)
            .collect();
        raw::split_handshakes(&data)
    }

    fn client_error(c: &mut PskClientConnection, messages: &[Vec<u8>]) -> Error {
        let data: Vec<u8> = messages.concat();
        c.read_tls(&mut raw::records(HANDSHAKE, &data).as_slice())
            .unwrap();
        c.process_new_packets().unwrap_err()
    }

    #[test]
    fn server_hello_without_ems_or_renegotiation_info_is_refused() {
        for (typ, alert) in [
            (EMS, AlertDescription::HandshakeFailure),
            (RENEGOTIATION_INFO, AlertDescription::HandshakeFailure),
        ] {
            let mut c = PskClientConnection::new(Arc::new(client12(&KEY))).unwrap();
            let mut flight = server_flight(&mut c);
            let mut sh = ServerHello::parse(&flight[0]);
            sh.remove_ext(typ);
            flight[0] = sh.encode();
            let e = client_error(&mut c, &flight);
            assert_eq!(e.alert(), Some(alert), "{typ}: {e}");
        }
        // A non-empty renegotiation_info, and an extension we never sent.
        for (typ, body, alert) in [
            (
                RENEGOTIATION_INFO,
                vec![1, 9],
                AlertDescription::HandshakeFailure,
            ),
            (35, vec![], AlertDescription::UnsupportedExtension),
        ] {
            let mut c = PskClientConnection::new(Arc::new(client12(&KEY))).unwrap();
            let mut flight = server_flight(&mut c);
            let mut sh = ServerHello::parse(&flight[0]);
            sh.set_ext(typ, body);
            flight[0] = sh.encode();
            let e = client_error(&mut c, &flight);
            assert_eq!(e.alert(), Some(alert), "{typ}: {e}");
        }
    }

    /// A client offering only plain PSK suites sends no ec_point_formats, so a ServerHello
    /// with one is refused (RFC 5246 §7.4.1.4: an extension the client did not send,
    /// unsupported_extension; RFC 8422 §5.2) — by a TLS 1.2-only and a mixed client alike.
    #[test]
    fn unsolicited_ec_point_formats_is_refused() {
        for mixed in [false, true] {
            let client = PskClientConfig::new(psk(&KEY))
                .with_tls12(true)
                .with_tls13(mixed)
                .with_plain_psk(true)
                .with_tls12_cipher_suites(&[PSK_AES128])
                .unwrap();
            let mut c = PskClientConnection::new(Arc::new(client)).unwrap();
            let mut s = PskServerConnection::new(Arc::new(
                server_both(&KEY).with_tls13(false).with_plain_psk(true),
            ));
            transfer(c.deref_mut(), s.deref_mut());
            s.process_new_packets().unwrap();
            let mut wire = Vec::new();
            s.write_tls(&mut wire).unwrap();
            let data: Vec<u8> = raw::parse_records(&wire)
                .into_iter()
                .flat_map(|r| r.body)
                .collect();
            let mut flight = raw::split_handshakes(&data);
            let mut sh = ServerHello::parse(&flight[0]);
            assert_eq!(sh.cipher_suite, 0x00a8);
            assert!(sh.ext(11).is_none(), "our server answers none");
            // ec_point_formats: [uncompressed].
            sh.set_ext(11, vec![1, 0]);
            flight[0] = sh.encode();
            let e = client_error(&mut c, &flight);
            assert_eq!(
                e.alert(),
                Some(AlertDescription::UnsupportedExtension),
                "mixed {mixed}: {e}"
            );
        }
    }

    #[test]
    fn server_hello_with_an_unoffered_suite_or_version_is_refused() {
        for (edit, alert) in [
            (
                (|sh: &mut ServerHello| sh.cipher_suite = 0xc02b) as fn(&mut ServerHello),
                AlertDescription::IllegalParameter,
            ),
            (
                |sh| sh.legacy_version = 0x0302,
                AlertDescription::ProtocolVersion,
            ),
            (
                |sh| sh.compression_method = 1,
                AlertDescription::IllegalParameter,
            ),
        ] {
            let mut c = PskClientConnection::new(Arc::new(client12(&KEY))).unwrap();
            let mut flight = server_flight(&mut c);
            let mut sh = ServerHello::parse(&flight[0]);
            edit(&mut sh);
            flight[0] = sh.encode();
            let e = client_error(&mut c, &flight);
            assert_eq!(e.alert(), Some(alert), "{e}");
        }
    }

    #[test]
    fn certificate_and_out_of_order_messages_are_unexpected() {
        // A Certificate where the ServerKeyExchange belongs.
        let mut c = PskClientConnection::new(Arc::new(client12(&KEY))).unwrap();
        let mut flight = server_flight(&mut c);
        flight[1] = raw::handshake(raw::hs::CERTIFICATE, &[0, 0, 0]);
        let e = client_error(&mut c, &flight);
        assert_eq!(e.alert(), Some(AlertDescription::UnexpectedMessage), "{e}");
        // ServerHelloDone without the ServerKeyExchange of an ECDHE_PSK suite.
        let mut c = PskClientConnection::new(Arc::new(client12(&KEY))).unwrap();
        let flight = server_flight(&mut c);
        let e = client_error(&mut c, &[flight[0].clone(), flight[2].clone()]);
        assert_eq!(e.alert(), Some(AlertDescription::UnexpectedMessage), "{e}");
    }

    #[test]
    fn truncated_and_malformed_messages_are_decode_errors() {
        // Every proper prefix of the ServerKeyExchange body and of the ServerHello body, and
        // a ServerHelloDone with a body: decode_error, never a panic.
        let mut c = PskClientConnection::new(Arc::new(client12(&KEY))).unwrap();
        let flight = server_flight(&mut c);
        for (i, cut_from) in [(0usize, 4usize), (1, 4)] {
            let m = &flight[i];
            for len in cut_from..m.len() {
                let mut c = PskClientConnection::new(Arc::new(client12(&KEY))).unwrap();
                let _ = server_flight(&mut c);
                let mut cut = flight.clone();
                cut[i] = raw::handshake(m[0], &m[4..len]);
                let e = client_error(&mut c, &cut[..=i]);
                assert!(
                    matches!(
                        e.alert(),
                        Some(
                            AlertDescription::DecodeError
                                | AlertDescription::IllegalParameter
                                // A ServerHello cut right before its extensions lacks
                                // renegotiation_info and EMS.
                                | AlertDescription::HandshakeFailure
                        )
                    ),
                    "message {i} cut to {len}: {e}"
                );
            }
        }
        let mut c = PskClientConnection::new(Arc::new(client12(&KEY))).unwrap();
        let mut flight = server_flight(&mut c);
        flight[2] = raw::handshake(14, &[0]);
        let e = client_error(&mut c, &flight);
        assert_eq!(e.alert(), Some(AlertDescription::DecodeError), "{e}");

        // A ClientKeyExchange with trailing bytes, or cut short, to the server.
        for edit in [(|m: &mut Vec<u8>| m.push(0)) as fn(&mut Vec<u8>), |m| {
            m.pop();
        }] {
            let mut c = PskClientConnection::new(Arc::new(client12(&KEY))).unwrap();
            let mut s = PskServerConnection::new(Arc::new(server_both(&KEY)));
            transfer(c.deref_mut(), s.deref_mut());
            s.process_new_packets().unwrap();
            transfer(s.deref_mut(), c.deref_mut());
            c.process_new_packets().unwrap();
            let mut wire = Vec::new();
            c.write_tls(&mut wire).unwrap();
            let records = raw::parse_records(&wire);
            let mut cke = records[0].body.clone();
            edit(&mut cke);
            let body = cke[4..].to_vec();
            let cke = raw::handshake(16, &body);
            s.read_tls(&mut raw::records(HANDSHAKE, &cke).as_slice())
                .unwrap();
            let e = s.process_new_packets().unwrap_err();
            assert_eq!(e.alert(), Some(AlertDescription::DecodeError), "{e}");
        }
    }

    #[test]
    fn wrong_or_missing_finished_is_refused() {
        // The client's flight with one bit of the Finished record flipped: decrypt_error
        // (the record does not open, as under a wrong key).
        let mut c = PskClientConnection::new(Arc::new(client12(&KEY))).unwrap();
        let mut s = PskServerConnection::new(Arc::new(server_both(&KEY)));
        transfer(c.deref_mut(), s.deref_mut());
        s.process_new_packets().unwrap();
        transfer(s.deref_mut(), c.deref_mut());
        c.process_new_packets().unwrap();
        let mut wire = Vec::new();
        c.write_tls(&mut wire).unwrap();
        let mut records = raw::parse_records(&wire);
        assert_eq!(
            records.iter().map(|r| r.typ).collect::<Vec<_>>(),
            [22, 20, 22],
            "ClientKeyExchange, ChangeCipherSpec, Finished"
        );
        let mut tampered = records.clone();
        let last = tampered[2].body.len() - 1;
        tampered[2].body[last] ^= 1;
        let bytes: Vec<u8> = tampered
            .iter()
            .flat_map(|r| raw::record(r.typ, &r.body))
            .collect();
        s.read_tls(&mut bytes.as_slice()).unwrap();
        let e = s.process_new_packets().unwrap_err();
        assert_eq!(e.alert(), Some(AlertDescription::DecryptError), "{e}");

        // The Finished without the ChangeCipherSpec before it: unexpected_message.
        let mut c = PskClientConnection::new(Arc::new(client12(&KEY))).unwrap();
        let mut s = PskServerConnection::new(Arc::new(server_both(&KEY)));
        transfer(c.deref_mut(), s.deref_mut());
        s.process_new_packets().unwrap();
        transfer(s.deref_mut(), c.deref_mut());
        c.process_new_packets().unwrap();
        let mut wire = Vec::new();
        c.write_tls(&mut wire).unwrap();
        records = raw::parse_records(&wire);
        // (A plaintext Finished: the server has no read key before the CCS.)
        let mut bytes = raw::record(records[0].typ, &records[0].body);
        bytes.extend(raw::record(HANDSHAKE, &raw::handshake(20, &[0; 12])));
        s.read_tls(&mut bytes.as_slice()).unwrap();
        let e = s.process_new_packets().unwrap_err();
        assert_eq!(e.alert(), Some(AlertDescription::UnexpectedMessage), "{e}");

        // Two ChangeCipherSpecs: unexpected_message.
        let mut c = PskClientConnection::new(Arc::new(client12(&KEY))).unwrap();
        let mut s = PskServerConnection::new(Arc::new(server_both(&KEY)));
        transfer(c.deref_mut(), s.deref_mut());
        s.process_new_packets().unwrap();
        transfer(s.deref_mut(), c.deref_mut());
        c.process_new_packets().unwrap();
        let mut wire = Vec::new();
        c.write_tls(&mut wire).unwrap();
        records = raw::parse_records(&wire);
        let bytes: Vec<u8> = [&records[0], &records[1], &records[1]]
            .iter()
            .flat_map(|r| raw::record(r.typ, &r.body))
            .collect();
        s.read_tls(&mut bytes.as_slice()).unwrap();
        let e = s.process_new_packets().unwrap_err();
        assert_eq!(e.alert(), Some(AlertDescription::UnexpectedMessage), "{e}");
    }
}
