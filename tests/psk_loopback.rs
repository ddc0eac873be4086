//! Our external-PSK client against our server, in memory: every suite and group, both PSK
//! modes, HelloRetryRequest, ALPN, SNI, bulk data, KeyUpdate, closure and the deferred
//! (async-style) key path.

mod common;

use std::io::{Read, Write};
use std::ops::DerefMut;
use std::sync::Arc;

use common::{handshake, read_all, transfer, Side};
use rustls::{AlertDescription, CipherSuite, NamedGroup};
use rustls_capif::error::PskRejection;
use rustls_capif::psk::*;
use rustls_capif::Error;

fn psk(id: &str, byte: u8, hash: PskHash) -> ExternalPsk {
    ExternalPsk::new(id.as_bytes().to_vec(), &[byte; 32], hash).unwrap()
}

fn server_for<const N: usize>(keys: [ExternalPsk; N]) -> PskServerConfig {
    let store: StaticPskResolver = keys.into_iter().collect();
    PskServerConfig::new(Arc::new(store))
}

fn pair(
    client: PskClientConfig,
    server: PskServerConfig,
) -> (PskClientConnection, PskServerConnection) {
    (
        PskClientConnection::new(Arc::new(client)).unwrap(),
        PskServerConnection::new(Arc::new(server)),
    )
}

fn connected(
    client: PskClientConfig,
    server: PskServerConfig,
) -> (PskClientConnection, PskServerConnection) {
    let (mut c, mut s) = pair(client, server);
    handshake(&mut c, &mut s).unwrap();
    (c, s)
}

/// Sends `n` bytes each way and checks they arrive intact.
fn exchange(client: &mut PskClientConnection, server: &mut PskServerConnection, n: usize) {
    let data: Vec<u8> = (0..n).map(|i| (i * 7 + i / 251) as u8).collect();
    one_way(
        client.deref_mut(),
        &mut |buf| {
            let mut rd = buf;
            let mut got = Vec::new();
            while !rd.is_empty() {
                server.read_tls(&mut rd).unwrap();
                server.process_new_packets().unwrap();
                got.extend(read_all(server.deref_mut()));
            }
            got
        },
        &data,
    );
    one_way(
        server.deref_mut(),
        &mut |buf| {
            let mut rd = buf;
            let mut got = Vec::new();
            while !rd.is_empty() {
                client.read_tls(&mut rd).unwrap();
                client.process_new_packets().unwrap();
                got.extend(read_all(client.deref_mut()));
            }
            got
        },
        &data,
    );
}

fn one_way(from: &mut ConnectionCommon, deliver: &mut dyn FnMut(&[u8]) -> Vec<u8>, data: &[u8]) {
    let mut sent = 0;
    let mut got = Vec::new();
    while got.len() < data.len() {
        if sent < data.len() {
            sent += from.writer().write(&data[sent..]).unwrap();
        }
        let mut wire = Vec::new();
        while from.wants_write() {
            from.write_tls(&mut wire).unwrap();
        }
        // Deliver in chunks no larger than what one read_tls accepts.
        for chunk in wire.chunks(16 * 1024) {
            got.extend(deliver(chunk));
        }
        assert!(sent > 0);
    }
    assert!(got == data, "data corrupted in transit");
}

fn tls13_suites(hash: PskHash) -> Vec<CipherSuite> {
    let provider = rustls_capif::default_provider();
    provider
        .cipher_suites
        .iter()
        .filter_map(|s| match s {
            rustls::SupportedCipherSuite::Tls13(s)
                if s.common.hash_provider.output_len() == hash.output_len() =>
            {
                Some(s.common.suite)
            }
            _ => None,
        })
        .collect()
}

#[test]
fn basic_handshake_and_data() {
    let key = psk("invoker-1", 0x42, PskHash::Sha256);
    let (mut c, mut s) = connected(PskClientConfig::new(key.clone()), server_for([key]));
    assert_eq!(s.psk_identity(), Some(&b"invoker-1"[..]));
    assert_eq!(c.psk_identity(), Some(&b"invoker-1"[..]));
    assert_eq!(c.key_exchange_mode(), Some(KeyExchangeMode::PskDhe));
    assert_eq!(s.key_exchange_mode(), Some(KeyExchangeMode::PskDhe));
    assert_eq!(c.negotiated_cipher_suite(), s.negotiated_cipher_suite());
    assert_eq!(
        c.negotiated_key_exchange_group(),
        s.negotiated_key_exchange_group()
    );
    assert!(c.negotiated_key_exchange_group().is_some());
    assert!(!c.had_hello_retry_request());
    exchange(&mut c, &mut s, 1000);

    let mut a = [0u8; 32];
    let mut b = [0u8; 32];
    c.export_keying_material(&mut a, b"label", None).unwrap();
    s.export_keying_material(&mut b, b"label", Some(b""))
        .unwrap();
    assert_eq!(a, b);
    s.export_keying_material(&mut b, b"other label", None)
        .unwrap();
    assert_ne!(a, b);
}

#[test]
fn every_suite_for_each_psk_hash() {
    for hash in [PskHash::Sha256, PskHash::Sha384] {
        let suites = tls13_suites(hash);
        assert!(!suites.is_empty());
        for suite in suites {
            let key = psk("id", 9, hash);
            let client = PskClientConfig::new(key.clone())
                .with_cipher_suites(&[suite])
                .unwrap();
            let (mut c, mut s) = connected(client, server_for([key]));
            assert_eq!(c.negotiated_cipher_suite(), Some(suite));
            assert_eq!(s.negotiated_cipher_suite(), Some(suite));
            exchange(&mut c, &mut s, 40_000);
        }
    }
}

#[test]
fn every_provider_group() {
    let provider = rustls_capif::default_provider();
    let groups: Vec<NamedGroup> = provider.kx_groups.iter().map(|g| g.name()).collect();
    assert!(groups.contains(&NamedGroup::X25519));
    assert!(groups.contains(&NamedGroup::secp256r1));
    assert!(groups.contains(&NamedGroup::secp384r1));
    #[cfg(feature = "aws-lc-rs")]
    assert!(groups.contains(&NamedGroup::X25519MLKEM768));
    for group in groups {
        let key = psk("id", 1, PskHash::Sha256);
        let client = PskClientConfig::new(key.clone())
            .with_groups(&[group])
            .unwrap();
        let server = server_for([key]).with_groups(&[group]).unwrap();
        let (mut c, mut s) = connected(client, server);
        assert_eq!(c.negotiated_key_exchange_group(), Some(group));
        assert_eq!(s.negotiated_key_exchange_group(), Some(group));
        assert!(!c.had_hello_retry_request());
        exchange(&mut c, &mut s, 100);
    }
}

#[cfg(feature = "aws-lc-rs")]
#[test]
fn hybrid_share_carries_classical_share_too() {
    // Client offers X25519MLKEM768 first (with its X25519 part as a second share); a server
    // that only has X25519 takes that share without a HelloRetryRequest.
    let key = psk("id", 1, PskHash::Sha256);
    let client = PskClientConfig::new(key.clone())
        .with_groups(&[NamedGroup::X25519MLKEM768, NamedGroup::X25519])
        .unwrap();
    let server = server_for([key])
        .with_groups(&[NamedGroup::X25519])
        .unwrap();
    let (c, _s) = connected(client, server);
    assert_eq!(c.negotiated_key_exchange_group(), Some(NamedGroup::X25519));
    assert!(!c.had_hello_retry_request());
}

#[test]
fn hello_retry_request_to_the_servers_group() {
    let key = psk("id", 1, PskHash::Sha256);
    let client = PskClientConfig::new(key.clone())
        .with_groups(&[NamedGroup::X25519, NamedGroup::secp384r1])
        .unwrap();
    let server = server_for([key])
        .with_groups(&[NamedGroup::secp384r1])
        .unwrap();
    let (mut c, mut s) = connected(client, server);
    assert!(c.had_hello_retry_request());
    assert!(s.had_hello_retry_request());
    assert_eq!(
        c.negotiated_key_exchange_group(),
        Some(NamedGroup::secp384r1)
    );
    exchange(&mut c, &mut s, 5000);
}

#[test]
fn hello_retry_request_with_sha384_and_no_middlebox_compat() {
    let key = psk("id", 1, PskHash::Sha384);
    let client = PskClientConfig::new(key.clone())
        .with_groups(&[NamedGroup::secp256r1, NamedGroup::X25519])
        .unwrap()
        .with_middlebox_compat(false);
    let server = server_for([key])
        .with_groups(&[NamedGroup::X25519])
        .unwrap();
    let (mut c, mut s) = connected(client, server);
    assert!(c.had_hello_retry_request());
    assert_eq!(
        c.negotiated_cipher_suite(),
        Some(CipherSuite::TLS13_AES_256_GCM_SHA384)
    );
    exchange(&mut c, &mut s, 100);
}

#[test]
fn psk_ke_only_when_both_opt_in() {
    let key = psk("id", 1, PskHash::Sha256);
    // Both allow psk_ke; the server only does psk_ke.
    let client = PskClientConfig::new(key.clone())
        .with_key_exchange_modes(PskKeyExchangeModes::DheOrPskOnly);
    let server = server_for([key.clone()]).with_key_exchange_modes(PskKeyExchangeModes::PskOnly);
    let (mut c, mut s) = connected(client, server);
    assert_eq!(c.key_exchange_mode(), Some(KeyExchangeMode::PskOnly));
    assert_eq!(s.key_exchange_mode(), Some(KeyExchangeMode::PskOnly));
    assert_eq!(c.negotiated_key_exchange_group(), None);
    exchange(&mut c, &mut s, 100);

    // Both allow both: DHE is preferred.
    let client = PskClientConfig::new(key.clone())
        .with_key_exchange_modes(PskKeyExchangeModes::DheOrPskOnly);
    let server =
        server_for([key.clone()]).with_key_exchange_modes(PskKeyExchangeModes::DheOrPskOnly);
    let (c, _) = connected(client, server);
    assert_eq!(c.key_exchange_mode(), Some(KeyExchangeMode::PskDhe));

    // A client that only offers psk_ke against a default (DHE-only) server fails.
    let client =
        PskClientConfig::new(key.clone()).with_key_exchange_modes(PskKeyExchangeModes::PskOnly);
    let (mut c, mut s) = pair(client, server_for([key.clone()]));
    let (side, err) = handshake(&mut c, &mut s).unwrap_err();
    assert_eq!(side, Side::Server);
    assert_eq!(
        err.alert(),
        Some(AlertDescription::HandshakeFailure),
        "{err}"
    );

    // A default client against a psk_ke-only server fails.
    let server = server_for([key.clone()]).with_key_exchange_modes(PskKeyExchangeModes::PskOnly);
    let (mut c, mut s) = pair(PskClientConfig::new(key), server);
    let (_, err) = handshake(&mut c, &mut s).unwrap_err();
    assert_eq!(
        err.alert(),
        Some(AlertDescription::HandshakeFailure),
        "{err}"
    );
}

#[test]
fn alpn_and_sni() {
    let key = psk("id", 1, PskHash::Sha256);
    let client = PskClientConfig::new(key.clone())
        .with_alpn_protocols(vec![b"h2".to_vec(), b"http/1.1".to_vec()])
        .unwrap()
        .with_server_name("AEF.example.com")
        .unwrap();
    let server = server_for([key.clone()])
        .with_alpn_protocols(vec![b"http/1.1".to_vec()])
        .unwrap();
    let (c, s) = connected(client.clone(), server);
    assert_eq!(c.alpn_protocol(), Some(&b"http/1.1"[..]));
    assert_eq!(s.alpn_protocol(), Some(&b"http/1.1"[..]));
    assert_eq!(s.server_name(), Some("aef.example.com"));

    // Server without ALPN: none negotiated.
    let (c, _) = connected(client.clone(), server_for([key.clone()]));
    assert_eq!(c.alpn_protocol(), None);

    // No overlap: no_application_protocol.
    let server = server_for([key])
        .with_alpn_protocols(vec![b"smtp".to_vec()])
        .unwrap();
    let (mut c, mut s) = pair(client, server);
    let (side, err) = handshake(&mut c, &mut s).unwrap_err();
    assert_eq!(side, Side::Server);
    assert_eq!(err.alert(), Some(AlertDescription::NoApplicationProtocol));
}

#[test]
fn several_identities_pick_the_first_known() {
    let known = psk("known", 5, PskHash::Sha256);
    let client = PskClientConfig::new(psk("unknown", 6, PskHash::Sha256))
        .with_additional_psk(psk("other-hash", 7, PskHash::Sha384))
        .unwrap()
        .with_additional_psk(known.clone())
        .unwrap();
    let (c, s) = connected(client, server_for([known]));
    assert_eq!(s.psk_identity(), Some(&b"known"[..]));
    assert_eq!(c.psk_identity(), Some(&b"known"[..]));
}

#[test]
fn bulk_transfer_of_several_mib() {
    let key = psk("id", 1, PskHash::Sha256);
    let (mut c, mut s) = connected(PskClientConfig::new(key.clone()), server_for([key]));
    exchange(&mut c, &mut s, 3 * 1024 * 1024 + 17);
}

#[test]
fn key_update_initiated_by_each_side() {
    let key = psk("id", 1, PskHash::Sha256);
    let (mut c, mut s) = connected(PskClientConfig::new(key.clone()), server_for([key]));
    c.refresh_traffic_keys().unwrap();
    exchange(&mut c, &mut s, 100);
    assert_eq!(
        c.key_update_counts(),
        (1, 1),
        "client sent one, and got the requested answer"
    );
    assert_eq!(s.key_update_counts(), (1, 1));
    s.refresh_traffic_keys().unwrap();
    exchange(&mut c, &mut s, 100);
    assert_eq!(c.key_update_counts(), (2, 2));
    // The client's answer reaches the server with the next flight.
    exchange(&mut c, &mut s, 100);
    assert_eq!(s.key_update_counts(), (2, 2));
}

#[test]
fn automatic_key_update_before_the_record_limit() {
    let key = psk("id", 1, PskHash::Sha256);
    let client = PskClientConfig::new(key.clone()).with_max_records_per_key(10);
    let (mut c, mut s) = connected(client, server_for([key]));
    exchange(&mut c, &mut s, 50 * 16384);
    let (sent, _) = c.key_update_counts();
    assert!(
        sent >= 4,
        "client rekeyed only {sent} times over 50 records"
    );
    assert_eq!(s.key_update_counts().1, sent);
}

#[test]
fn close_notify_and_truncation() {
    let key = psk("id", 1, PskHash::Sha256);
    let (mut c, mut s) = connected(PskClientConfig::new(key.clone()), server_for([key.clone()]));
    c.writer().write_all(b"bye").unwrap();
    c.send_close_notify();
    assert!(
        c.writer().write(b"more").is_err(),
        "writing after close_notify must fail"
    );
    transfer(c.deref_mut(), s.deref_mut());
    let st = s.process_new_packets().unwrap();
    assert!(st.peer_has_closed());
    let mut buf = [0u8; 16];
    assert_eq!(s.reader().read(&mut buf).unwrap(), 3);
    assert_eq!(
        s.reader().read(&mut buf).unwrap(),
        0,
        "clean EOF after close_notify"
    );

    // Transport EOF without close_notify: the reader reports truncation.
    let (mut c, mut s) = connected(PskClientConfig::new(key.clone()), server_for([key]));
    c.writer().write_all(b"partial").unwrap();
    transfer(c.deref_mut(), s.deref_mut());
    assert_eq!(s.read_tls(&mut &b""[..]).unwrap(), 0);
    s.process_new_packets().unwrap();
    assert_eq!(s.reader().read(&mut buf).unwrap(), 7);
    let err = s.reader().read(&mut buf).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::UnexpectedEof);
}

#[test]
fn data_written_before_the_handshake_is_delivered_after_it() {
    let key = psk("id", 1, PskHash::Sha256);
    let (mut c, mut s) = pair(PskClientConfig::new(key.clone()), server_for([key]));
    c.writer().write_all(b"early bird").unwrap();
    handshake(&mut c, &mut s).unwrap();
    transfer(c.deref_mut(), s.deref_mut());
    s.process_new_packets().unwrap();
    assert_eq!(read_all(s.deref_mut()), b"early bird");
}

#[test]
fn close_notify_during_the_handshake_follows_the_handshake_and_the_data() {
    // Closing before the handshake completes loses nothing: the alert is queued after the
    // handshake flight and the data written before it, and no handshake message follows it.
    let key = psk("id", 1, PskHash::Sha256);
    let (mut c, mut s) = pair(PskClientConfig::new(key.clone()), server_for([key]));
    c.writer().write_all(b"request").unwrap();
    c.send_close_notify();
    assert!(c.writer().write(b"more").is_err());

    transfer(c.deref_mut(), s.deref_mut());
    s.process_new_packets().unwrap();
    // The server has sent its Finished but the client is not authenticated yet: no
    // exporter (RFC 8446 §7.5; it would be usable by a replayed ClientHello).
    let mut out = [0u8; 32];
    assert!(matches!(
        s.export_keying_material(&mut out, b"label", None),
        Err(Error::InvalidState(_))
    ));
    s.writer().write_all(b"response").unwrap();
    s.send_close_notify();

    handshake(&mut c, &mut s).unwrap();
    transfer(s.deref_mut(), c.deref_mut());
    assert!(c.process_new_packets().unwrap().peer_has_closed());
    assert!(s.process_new_packets().unwrap().peer_has_closed());
    assert_eq!(read_all(s.deref_mut()), b"request");
    assert_eq!(read_all(c.deref_mut()), b"response");
    let mut buf = [0u8; 8];
    assert_eq!(s.reader().read(&mut buf).unwrap(), 0, "clean EOF");
    assert_eq!(c.reader().read(&mut buf).unwrap(), 0, "clean EOF");

    let (mut client_out, mut server_out) = ([0u8; 32], [0u8; 32]);
    c.export_keying_material(&mut client_out, b"label", None)
        .unwrap();
    s.export_keying_material(&mut server_out, b"label", None)
        .unwrap();
    assert_eq!(client_out, server_out);
}

#[test]
fn unread_plaintext_is_bounded() {
    // A driver that keeps calling read_tls without reading is refused once about one record
    // of plaintext is waiting, so a connection never holds more than a few records.
    let key = psk("id", 1, PskHash::Sha256);
    let (mut c, mut s) = connected(PskClientConfig::new(key.clone()), server_for([key]));
    c.set_buffer_limit(None);
    let data: Vec<u8> = (0..200 * 1024).map(|i| (i % 251) as u8).collect();
    c.writer().write_all(&data).unwrap();
    let mut wire = Vec::new();
    while c.wants_write() {
        c.write_tls(&mut wire).unwrap();
    }
    let mut rd = wire.as_slice();
    let mut received = Vec::new();
    let mut refusals = 0;
    while !rd.is_empty() {
        match s.read_tls(&mut rd) {
            Ok(_) => {
                let st = s.process_new_packets().unwrap();
                assert!(st.plaintext_bytes_to_read() <= 3 * 16384, "{st:?}");
            }
            Err(e) => {
                assert!(e.to_string().contains("read application data first"), "{e}");
                refusals += 1;
                received.extend(read_all(s.deref_mut()));
            }
        }
    }
    received.extend(read_all(s.deref_mut()));
    assert!(refusals > 0, "read_tls never pushed back");
    assert_eq!(received, data);
}

/// The deferred server names one identity to resolve, the first offered, whatever the client
/// offers; before the ClientHello and after the key is given, none.
#[test]
fn deferred_server_resolves_the_first_offered_identity_only() {
    let first = psk("invoker-1", 1, PskHash::Sha256);
    let second = psk("invoker-2", 2, PskHash::Sha256);
    let config = PskClientConfig::new(first.clone())
        .with_additional_psk(second)
        .unwrap();
    let mut c = PskClientConnection::new(Arc::new(config)).unwrap();
    let mut s =
        PskServerConnection::new_deferred(Arc::new(PskServerConfig::new(Arc::new(NoPskResolver))));
    assert_eq!(s.psk_identity_to_resolve(), None);
    transfer(c.deref_mut(), s.deref_mut());
    s.process_new_packets().unwrap();
    assert_eq!(s.offered_psk_identities().unwrap().len(), 2);
    assert_eq!(s.psk_identity_to_resolve(), Some(&b"invoker-1"[..]));
    s.provide_psk(Some(first)).unwrap();
    assert_eq!(s.psk_identity_to_resolve(), None);
    handshake(&mut c, &mut s).unwrap();
    assert_eq!(s.psk_identity(), Some(&b"invoker-1"[..]));
}

#[test]
fn deferred_key_lookup() {
    let key = psk("invoker-9", 3, PskHash::Sha256);
    for provide_right_key in [true, false] {
        let mut c = PskClientConnection::new(Arc::new(PskClientConfig::new(key.clone()))).unwrap();
        let mut s = PskServerConnection::new_deferred(Arc::new(PskServerConfig::new(Arc::new(
            NoPskResolver,
        ))));
        transfer(c.deref_mut(), s.deref_mut());
        s.process_new_packets().unwrap();
        assert!(s.is_awaiting_psk());
        assert_eq!(
            s.offered_psk_identities().unwrap(),
            &[b"invoker-9".to_vec()]
        );
        assert!(!s.wants_write(), "nothing is sent before the key is known");
        let result = s.provide_psk(provide_right_key.then(|| key.clone()));
        if provide_right_key {
            result.unwrap();
            handshake(&mut c, &mut s).unwrap();
            assert_eq!(s.psk_identity(), Some(&b"invoker-9"[..]));
            exchange(&mut c, &mut s, 10);
        } else {
            let err = result.unwrap_err();
            assert!(
                matches!(err, Error::PskRejected(PskRejection::UnknownIdentity)),
                "{err:?}"
            );
            transfer(s.deref_mut(), c.deref_mut());
            assert!(matches!(
                c.process_new_packets().unwrap_err(),
                Error::AlertReceived(AlertDescription::DecryptError)
            ));
        }
    }
}

#[test]
fn deferred_key_lookup_with_hello_retry_request() {
    let key = psk("invoker-9", 3, PskHash::Sha256);
    let client = PskClientConfig::new(key.clone())
        .with_groups(&[NamedGroup::X25519, NamedGroup::secp256r1])
        .unwrap();
    let server = PskServerConfig::new(Arc::new(NoPskResolver))
        .with_groups(&[NamedGroup::secp256r1])
        .unwrap();
    let mut c = PskClientConnection::new(Arc::new(client)).unwrap();
    let mut s = PskServerConnection::new_deferred(Arc::new(server));
    transfer(c.deref_mut(), s.deref_mut());
    s.process_new_packets().unwrap();
    s.provide_psk(Some(key.clone())).unwrap();
    handshake(&mut c, &mut s).unwrap();
    assert!(s.had_hello_retry_request());
    assert!(!s.is_awaiting_psk(), "the key is asked for once");
    exchange(&mut c, &mut s, 10);
}

#[test]
fn wrong_key_and_unknown_identity_fail_alike() {
    let mut alerts = Vec::new();
    for (client_key, reason) in [
        (
            psk("invoker-1", 0x43, PskHash::Sha256),
            PskRejection::BadBinder,
        ),
        (
            psk("stranger", 0x42, PskHash::Sha256),
            PskRejection::UnknownIdentity,
        ),
    ] {
        let (mut c, mut s) = pair(
            PskClientConfig::new(client_key),
            server_for([psk("invoker-1", 0x42, PskHash::Sha256)]),
        );
        let (side, err) = handshake(&mut c, &mut s).unwrap_err();
        assert_eq!(side, Side::Server);
        assert!(
            matches!(err, Error::PskRejected(r) if r == reason),
            "{err:?}"
        );
        let mut wire = Vec::new();
        s.write_tls(&mut wire).unwrap();
        alerts.push(wire.clone());
        c.read_tls(&mut wire.as_slice()).unwrap();
        let err = c.process_new_packets().unwrap_err();
        assert!(
            matches!(err, Error::AlertReceived(AlertDescription::DecryptError)),
            "{err:?}"
        );
    }
    assert_eq!(
        alerts[0], alerts[1],
        "both failures must be identical on the wire"
    );
}

#[test]
fn a_failed_connection_stays_failed() {
    let (mut c, mut s) = pair(
        PskClientConfig::new(psk("a", 1, PskHash::Sha256)),
        server_for([psk("a", 2, PskHash::Sha256)]),
    );
    assert!(handshake(&mut c, &mut s).is_err());
    assert!(s.process_new_packets().is_err());
    assert!(s.writer().write(b"x").is_err());
    // Reading reports the failure instead of "would block" (which would spin a blocking loop).
    let err = s.reader().read(&mut [0u8; 8]).unwrap_err();
    assert_ne!(err.kind(), std::io::ErrorKind::WouldBlock);
    assert!(!s.wants_read());
}

#[test]
fn blocking_write_with_a_zero_buffer_limit_returns_zero_instead_of_spinning() {
    let key = psk("id", 1, PskHash::Sha256);
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server_key = key.clone();
    std::thread::spawn(move || {
        let (tcp, _) = listener.accept().unwrap();
        let conn = PskServerConnection::new(Arc::new(server_for([server_key])));
        let mut tls = PskStream::new(conn, tcp);
        let _ = tls.read_to_end(&mut Vec::new());
    });
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let conn = PskClientConnection::new(Arc::new(PskClientConfig::new(key))).unwrap();
        let mut tls = PskStream::new(conn, std::net::TcpStream::connect(addr).unwrap());
        tls.handshake().unwrap();
        tls.conn.set_buffer_limit(Some(0));
        let _ = tx.send((
            tls.write(b"x").map_err(|e| e.kind()),
            tls.write_all(b"x").map_err(|e| e.kind()),
        ));
    });
    let (write, write_all) = rx
        .recv_timeout(std::time::Duration::from_secs(20))
        .expect("PskStream::write returned");
    assert_eq!(write, Ok(0));
    assert_eq!(write_all, Err(std::io::ErrorKind::WriteZero));
}

#[test]
fn blocking_close_before_the_handshake_completes_it_then_closes_cleanly() {
    let key = psk("id", 1, PskHash::Sha256);
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server_key = key.clone();
    let server = std::thread::spawn(move || {
        let (tcp, _) = listener.accept().unwrap();
        let conn = PskServerConnection::new(Arc::new(server_for([server_key])));
        let mut tls = PskStream::new(conn, tcp);
        let mut got = Vec::new();
        tls.read_to_end(&mut got).map(|_| got)
    });
    let conn = PskClientConnection::new(Arc::new(PskClientConfig::new(key))).unwrap();
    let mut tls = PskStream::new(conn, std::net::TcpStream::connect(addr).unwrap());
    tls.close().unwrap();
    assert!(!tls.conn.is_handshaking());
    // The server saw a complete handshake, then close_notify: a clean, empty stream.
    assert_eq!(server.join().unwrap().unwrap(), b"");
}

#[test]
fn client_reports_the_identity_only_once_the_server_proved_it() {
    let key = psk("id", 1, PskHash::Sha256);
    // Mid-handshake (ServerHello seen, Finished not yet checked): nothing to report.
    let (mut c, mut s) = pair(PskClientConfig::new(key.clone()), server_for([key.clone()]));
    transfer(c.deref_mut(), s.deref_mut());
    s.process_new_packets().unwrap();
    let mut flight = Vec::new();
    while s.wants_write() {
        s.write_tls(&mut flight).unwrap();
    }
    // Only the ServerHello record (and the CCS), not the encrypted flight.
    let hello_len = 5 + usize::from(u16::from_be_bytes([flight[3], flight[4]]));
    c.read_tls(&mut &flight[..hello_len]).unwrap();
    c.process_new_packets().unwrap();
    assert!(c.is_handshaking());
    assert_eq!(c.psk_identity(), None);
    c.read_tls(&mut &flight[hello_len..]).unwrap();
    c.process_new_packets().unwrap();
    assert_eq!(c.psk_identity(), Some(&b"id"[..]));

    // A handshake that fails (wrong key) reports none either.
    let (mut c, mut s) = pair(
        PskClientConfig::new(psk("id", 2, PskHash::Sha256)),
        server_for([key]),
    );
    assert!(handshake(&mut c, &mut s).is_err());
    assert_eq!(c.psk_identity(), None);

    // SNI: one trailing dot is the root and dropped; more is not a DNS name.
    let any = psk("id", 1, PskHash::Sha256);
    assert!(PskClientConfig::new(any.clone())
        .with_server_name("aef.example.")
        .is_ok());
    assert!(PskClientConfig::new(any)
        .with_server_name("aef.example..")
        .is_err());
}
