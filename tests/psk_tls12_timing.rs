//! TLS 1.2: an unknown identity must be indistinguishable from a known identity with a wrong
//! key (issue 14 §1, RFC 4279 §2): the identity arrives in the ClientKeyExchange, and the
//! server goes on with a random key, so both fail at the client's Finished with the same
//! alert, the same bytes and the same server time.
//!
//! The time measured is the server's `process_new_packets` on the client's second flight
//! (ClientKeyExchange, ChangeCipherSpec, Finished): key lookup, ECDH, extended master secret,
//! key block and the Finished record. Medians of interleaved runs against a generous bound.

mod common;

use std::ops::DerefMut;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::transfer;
use rustls::AlertDescription;
use rustls_capif::psk::*;
use rustls_capif::Error;

const KNOWN: &[u8] = b"invoker-1";
const KEY: [u8; 32] = [0x42; 32];
const WRONG_KEY: [u8; 32] = [0x17; 32];
const BOUND: f64 = 1.25;
const ROUNDS: usize = 101;

fn server_config() -> Arc<PskServerConfig> {
    let keys: StaticPskResolver =
        [ExternalPsk::new(KNOWN.to_vec(), &KEY, PskHash::Sha256).unwrap()]
            .into_iter()
            .collect();
    Arc::new(PskServerConfig::new(Arc::new(keys)).with_tls12(true))
}

fn client_config(identity: &[u8]) -> Arc<PskClientConfig> {
    let psk = ExternalPsk::new(identity.to_vec(), &WRONG_KEY, PskHash::Sha256).unwrap();
    Arc::new(PskClientConfig::new(psk).with_tls12(true).with_tls13(false))
}

/// One handshake up to the server's rejection: its time on the client's second flight, its
/// error and its answer.
fn reject(
    server: &Arc<PskServerConfig>,
    client: &Arc<PskClientConfig>,
) -> (Duration, Error, Vec<u8>) {
    let mut c = PskClientConnection::new(client.clone()).unwrap();
    let mut s = PskServerConnection::new(server.clone());
    transfer(c.deref_mut(), s.deref_mut());
    s.process_new_packets().unwrap();
    transfer(s.deref_mut(), c.deref_mut());
    c.process_new_packets().unwrap();
    transfer(c.deref_mut(), s.deref_mut());
    let start = Instant::now();
    let result = s.process_new_packets();
    let spent = start.elapsed();
    let err = result.expect_err("the server accepted a wrong key");
    let mut out = Vec::new();
    while s.wants_write() {
        s.write_tls(&mut out).unwrap();
    }
    (spent, err, out)
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort_unstable();
    v[v.len() / 2]
}

#[test]
fn unknown_identity_costs_what_a_wrong_key_costs() {
    let server = server_config();
    let unknown = client_config(b"invoker-9");
    let known = client_config(KNOWN);

    let (_, e1, out1) = reject(&server, &unknown);
    let (_, e2, out2) = reject(&server, &known);
    assert_eq!(e1.alert(), Some(AlertDescription::DecryptError), "{e1}");
    assert_eq!(e2.alert(), Some(AlertDescription::DecryptError), "{e2}");
    assert_eq!(out1, out2, "the two rejections differ on the wire");
    assert_eq!(out1, [21, 3, 3, 0, 2, 2, 51]);

    let mut seen = Vec::new();
    for _ in 0..3 {
        for _ in 0..10 {
            reject(&server, &unknown);
            reject(&server, &known);
        }
        let (mut a, mut b) = (Vec::new(), Vec::new());
        for round in 0..ROUNDS {
            if round % 2 == 0 {
                a.push(reject(&server, &unknown).0);
                b.push(reject(&server, &known).0);
            } else {
                b.push(reject(&server, &known).0);
                a.push(reject(&server, &unknown).0);
            }
        }
        let (a, b) = (median(a), median(b));
        let ratio = a.as_secs_f64() / b.as_secs_f64();
        seen.push((a, b, ratio));
        if ratio <= BOUND && 1.0 / ratio <= BOUND {
            return;
        }
    }
    panic!("unknown identity vs wrong key (medians, ratio): {seen:?}");
}
