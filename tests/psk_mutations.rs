//! Bounded in-CI fuzzing: random mutations of real handshake flights fed to both state
//! machines. Whatever the mutation, nothing panics, a rejection queues its alert, and no
//! handshake ever completes on tampered bytes.

mod common;

use std::ops::DerefMut;
use std::sync::Arc;

use proptest::prelude::*;
use rustls_capif::psk::*;

fn configs() -> (Arc<PskClientConfig>, Arc<PskServerConfig>) {
    let psk = ExternalPsk::new(b"invoker-1".to_vec(), &[0x42; 32], PskHash::Sha256).unwrap();
    let store: StaticPskResolver = [psk.clone()].into_iter().collect();
    (
        Arc::new(PskClientConfig::new(psk)),
        Arc::new(PskServerConfig::new(Arc::new(store))),
    )
}

fn drain(conn: &mut ConnectionCommon) -> Vec<u8> {
    let mut out = Vec::new();
    while conn.wants_write() {
        conn.write_tls(&mut out).unwrap();
    }
    out
}

#[derive(Debug, Clone)]
enum Mutation {
    /// XOR a byte with a non-zero mask.
    Flip { at: usize, mask: u8 },
    /// Cut the flight short.
    Truncate { at: usize },
    /// Insert bytes.
    Insert { at: usize, bytes: Vec<u8> },
    /// Remove a range.
    Delete { at: usize, len: usize },
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), 1u8..=255).prop_map(|(at, mask)| Mutation::Flip { at, mask }),
        any::<usize>().prop_map(|at| Mutation::Truncate { at }),
        (any::<usize>(), proptest::collection::vec(any::<u8>(), 1..8))
            .prop_map(|(at, bytes)| Mutation::Insert { at, bytes }),
        (any::<usize>(), 1usize..16).prop_map(|(at, len)| Mutation::Delete { at, len }),
    ]
}

fn apply(data: &[u8], mutations: &[Mutation]) -> Vec<u8> {
    let mut d = data.to_vec();
    for m in mutations {
        if d.is_empty() {
            break;
        }
        match m {
            Mutation::Flip { at, mask } => {
                let i = at % d.len();
                d[i] ^= mask;
            }
            Mutation::Truncate { at } => d.truncate(at % d.len()),
            Mutation::Insert { at, bytes } => {
                let i = at % (d.len() + 1);
                d.splice(i..i, bytes.iter().copied());
            }
            Mutation::Delete { at, len } => {
                let i = at % d.len();
                let end = (i + len).min(d.len());
                d.drain(i..end);
            }
        }
    }
    d
}

/// Whether `mutated` carries the same authenticated content as `original`: equal once both
/// drop their dummy ChangeCipherSpec records (optional, RFC 8446 Appendix D.4) and ignore the
/// legacy_record_version of plaintext records (RFC 8446 §5.1). In protected records that
/// field is part of the AEAD's additional data, so changing it there must fail.
fn only_ignored_bytes_changed(original: &[u8], mutated: &[u8]) -> bool {
    normalized(original) == normalized(mutated)
}

fn normalized(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut at = 0;
    while at + 5 <= data.len() {
        let len = usize::from(u16::from_be_bytes([data[at + 3], data[at + 4]]));
        let Some(body) = data.get(at + 5..at + 5 + len) else {
            break;
        };
        match data[at] {
            20 if body == [1] => {}
            23 => out.extend_from_slice(&data[at..at + 5 + len]),
            typ => {
                out.extend_from_slice(&[typ, 3, 3, data[at + 3], data[at + 4]]);
                out.extend_from_slice(body);
            }
        }
        at += 5 + len;
    }
    out.extend_from_slice(&data[at..]);
    out
}

/// Feeds `data` (in `chunk`-sized reads, then end of stream) and checks the invariants.
fn feed(conn: &mut dyn PskConnection, data: &[u8], chunk: usize) {
    let mut failed = false;
    for piece in data.chunks(chunk.max(1)) {
        let mut rd = piece;
        while !rd.is_empty() && !failed {
            if conn.read_tls(&mut rd).is_err() {
                break;
            }
            if let Err(e) = conn.process_new_packets() {
                if e.alert().is_some() {
                    assert!(conn.wants_write(), "error {e} queued no alert");
                }
                failed = true;
            }
        }
    }
    if !failed {
        let _ = conn.read_tls(&mut &b""[..]);
        failed = conn.process_new_packets().is_err();
    }
    assert!(
        failed || conn.is_handshaking(),
        "a handshake completed on tampered bytes"
    );
}

/// The first handshake message carried by the plaintext handshake records of `data`, if it
/// is complete.
fn first_handshake_message(data: &[u8]) -> Option<Vec<u8>> {
    let mut messages = Vec::new();
    let mut at = 0;
    while let Some(header) = data.get(at..at + 5) {
        let len = usize::from(u16::from_be_bytes([header[3], header[4]]));
        // A record still incomplete (bytes appended after the hello) is not part of it.
        let Some(body) = data.get(at + 5..at + 5 + len) else {
            break;
        };
        if header[0] == 22 {
            messages.extend_from_slice(body);
        }
        at += 5 + len;
    }
    let len = usize::from(*messages.get(1)?) << 16
        | usize::from(*messages.get(2)?) << 8
        | usize::from(*messages.get(3)?);
    messages.get(..4 + len).map(<[u8]>::to_vec)
}

/// A protected record whose legacy_record_version was changed fails authentication.
#[test]
fn protected_record_version_is_authenticated() {
    use std::io::Write;
    let (client_config, server_config) = configs();
    let mut client = PskClientConnection::new(client_config).unwrap();
    let mut server = PskServerConnection::new(server_config);
    common::handshake(&mut client, &mut server).unwrap();
    client.writer().write_all(b"data").unwrap();
    let mut record = drain(client.deref_mut());
    assert_eq!(&record[..3], &[23, 3, 3]);
    record[2] = 0x01;
    server.read_tls(&mut record.as_slice()).unwrap();
    let err = server.process_new_packets().unwrap_err();
    assert!(matches!(err, rustls_capif::Error::DecryptError), "{err:?}");
    assert_eq!(err.alert(), Some(rustls::AlertDescription::BadRecordMac));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn mutated_client_hello(mutations in proptest::collection::vec(mutation(), 1..4), chunk in 1usize..600) {
        let (client_config, server_config) = configs();
        let mut client = PskClientConnection::new(client_config).unwrap();
        let hello = drain(client.deref_mut());
        let mutated = apply(&hello, &mutations);
        prop_assume!(!only_ignored_bytes_changed(&hello, &mutated));
        let mut server = PskServerConnection::new(server_config);
        feed(&mut server, &mutated, chunk);
        // The binder covers the whole ClientHello: a changed one is never answered with a
        // ServerHello or HelloRetryRequest (only, at most, with an alert record).
        if first_handshake_message(&mutated) != first_handshake_message(&hello) {
            let answer = drain(server.deref_mut());
            prop_assert!(
                answer.first() != Some(&22),
                "a tampered ClientHello was answered: {answer:02x?}"
            );
        }
    }

    #[test]
    fn mutated_server_flight(mutations in proptest::collection::vec(mutation(), 1..4), chunk in 1usize..600) {
        let (client_config, server_config) = configs();
        let mut client = PskClientConnection::new(client_config).unwrap();
        let mut server = PskServerConnection::new(server_config);
        common::transfer(client.deref_mut(), server.deref_mut());
        server.process_new_packets().unwrap();
        let flight = drain(server.deref_mut());
        let mutated = apply(&flight, &mutations);
        prop_assume!(!only_ignored_bytes_changed(&flight, &mutated));
        feed(&mut client, &mutated, chunk);
    }

    #[test]
    fn mutated_client_finished(mutations in proptest::collection::vec(mutation(), 1..4), chunk in 1usize..100) {
        let (client_config, server_config) = configs();
        let mut client = PskClientConnection::new(client_config).unwrap();
        let mut server = PskServerConnection::new(server_config);
        common::transfer(client.deref_mut(), server.deref_mut());
        server.process_new_packets().unwrap();
        common::transfer(server.deref_mut(), client.deref_mut());
        client.process_new_packets().unwrap();
        let finished = drain(client.deref_mut());
        let mutated = apply(&finished, &mutations);
        prop_assume!(!only_ignored_bytes_changed(&finished, &mutated));
        feed(&mut server, &mutated, chunk);
    }
}
