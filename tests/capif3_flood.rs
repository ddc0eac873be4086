//! Issue 10 §2 acceptance: a flood of handshakes naming made-up invoker IDs neither
//! amplifies into CCF requests nor starves a registered invoker whose key is not cached.
//!
//! A CCF stand-in answers every request in 500 ms. 500 concurrent attacker connections each
//! offer 8 made-up identities through the tokio `PskAcceptor` with the `CcfKeyResolver`
//! (default settings); while they are pending, a registered invoker without a cached key
//! connects. Its handshake must succeed within 2 s, and the CCF must see at most one request
//! per attacker connection (for its first identity: one lookup per handshake) and at most
//! one per distinct identity.
#![cfg(feature = "capif3")]

mod capif3_common;
#[path = "../examples/capif_flow/pki.rs"]
mod pki;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use capif3_common::*;
use pki::TestPki;
use rustls_capif::psk::{ExternalPsk, NoPskResolver, PskClientConfig, PskHash, PskServerConfig};
use rustls_capif::{AefPsk, PskAcceptor, PskConnector};

const ATTACKERS: usize = 500;
const IDENTITIES_PER_ATTACKER: usize = 8;

fn attacker_config(i: usize) -> Arc<PskClientConfig> {
    let psk = |j: usize| {
        let id = format!("atk-{i}-{j}").into_bytes();
        ExternalPsk::new(id, &[(i * 8 + j) as u8 | 1; 32], PskHash::Sha256).unwrap()
    };
    let mut config = PskClientConfig::new(psk(0));
    for j in 1..IDENTITIES_PER_ATTACKER {
        config = config.with_additional_psk(psk(j)).unwrap();
    }
    Arc::new(config)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_unknown_identities_neither_amplifies_nor_starves() {
    let pki = TestPki::new();
    let s = setup(&pki, |_| {}).await;
    *s.ccf.delay.lock().unwrap() = Duration::from_millis(500);
    let key = AefPsk::from_bytes([0x42; 32]);
    s.ccf
        .store
        .register_session("legit-1", Arc::new(Fixed(key.clone())))
        .await
        .unwrap();
    let acceptor = PskAcceptor::new(Arc::new(PskServerConfig::new(Arc::new(NoPskResolver))))
        .with_async_resolver(s.resolver.clone());
    let connect = |config: Arc<PskClientConfig>| {
        let acceptor = acceptor.clone();
        async move {
            let (a, b) = tokio::io::duplex(16 * 1024);
            let server = tokio::spawn(async move { acceptor.accept(a).await.map(|_| ()) });
            let client = PskConnector::new(config).connect(b).await.map(|_| ());
            let _ = server.await;
            client
        }
    };

    let flood_start = Instant::now();
    let attackers: Vec<_> = (0..ATTACKERS)
        .map(|i| tokio::spawn(connect(attacker_config(i))))
        .collect();
    // Let every attacker's ClientHello reach the resolver.
    tokio::time::sleep(Duration::from_millis(300)).await;

    let started = Instant::now();
    let legit = connect(Arc::new(PskClientConfig::for_aef("legit-1", &key).unwrap())).await;
    let legit_latency = started.elapsed();

    let mut refused = 0;
    for attacker in attackers {
        refused += usize::from(attacker.await.unwrap().is_err());
    }
    let flood_time = flood_start.elapsed();
    let asked = s.ccf.asked.lock().unwrap().clone();
    let mut per_identity: HashMap<&str, usize> = HashMap::new();
    for id in &asked {
        *per_identity.entry(id.as_str()).or_default() += 1;
    }
    let not_first = asked
        .iter()
        .filter(|id| id.starts_with("atk-") && !id.ends_with("-0"))
        .count();
    eprintln!(
        "flood: {ATTACKERS} attackers x {IDENTITIES_PER_ATTACKER} identities, CCF 500 ms: \
         CCF requests {} ({} distinct, max {} per identity, {} for a non-first identity); \
         registered invoker: {:?} in {:?}; attackers refused {refused}, all done in {:?}",
        asked.len(),
        per_identity.len(),
        per_identity.values().max().unwrap_or(&0),
        not_first,
        legit.as_ref().map(|_| "ok"),
        legit_latency,
        flood_time,
    );

    legit.expect("the registered invoker's handshake failed under the flood");
    assert!(
        legit_latency < Duration::from_secs(2),
        "registered invoker took {legit_latency:?}"
    );
    assert_eq!(refused, ATTACKERS, "an attacker got in");
    assert_eq!(not_first, 0, "a non-first identity was looked up");
    assert!(
        per_identity.values().all(|&n| n == 1),
        "an identity was fetched twice"
    );
    assert!(asked.len() <= ATTACKERS + 1, "{} CCF requests", asked.len());
}
