//! The end-to-end CAPIF method-1 flow of `examples/capif_flow` (same code, via `#[path]`), plus
//! its negative paths: a stale key after a newer CAPIF-1e session (refused at once: the CCF
//! notifies the AEF), an unknown invoker, and a CCF that is down (the AEF must fail closed and
//! say why).
#![cfg(feature = "capif3")]

#[path = "../examples/capif_flow/flow.rs"]
mod flow;
#[path = "../examples/capif_flow/pki.rs"]
mod pki;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use flow::{Log, World};
use rustls_capif::AefPsk;

/// The AEF's key cache lifetime in these tests.
const TTL: Duration = Duration::from_secs(60);

/// A log sink the test can read.
fn recorder() -> (Log, Arc<Mutex<Vec<String>>>) {
    let lines = Arc::new(Mutex::new(Vec::new()));
    let sink = lines.clone();
    let log: Log =
        Arc::new(move |role, line| sink.lock().unwrap().push(format!("[{role}] {line}")));
    (log, lines)
}

/// Waits until a log line containing `needle` appears (the AEF logs from its own task).
async fn wait_for(lines: &Arc<Mutex<Vec<String>>>, needle: &str) -> String {
    for _ in 0..100 {
        if let Some(l) = lines.lock().unwrap().iter().find(|l| l.contains(needle)) {
            return l.clone();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "no log line contains {needle:?}; log: {:#?}",
        lines.lock().unwrap()
    );
}

async fn happy_path(tls13: bool) {
    let (log, lines) = recorder();
    let world = World::start("INV0001", tls13, TTL, log).await.unwrap();
    let d = world.invoker.discover(world.ccf.capif1e).await.unwrap();
    assert_eq!(
        d.session.protocol_version(),
        if tls13 {
            rustls::ProtocolVersion::TLSv1_3
        } else {
            rustls::ProtocolVersion::TLSv1_2
        }
    );
    let psk = d.session.derive_aef_psk(&d.aef).unwrap();
    let (_, body) = world.invoker.call_aef(d.aef_addr, &psk).await.unwrap();
    assert_eq!(body, r#"{"greeting":"hello, INV0001"}"#);
    // The CCF's key is the invoker's key, and it reached the AEF over CAPIF-3.
    assert_eq!(
        world
            .ccf
            .store
            .aef_psk("INV0001", &d.aef)
            .await
            .unwrap()
            .unwrap(),
        psk
    );
    wait_for(
        &lines,
        "CAPIF-3: gave the AEF the security information of INV0001",
    )
    .await;
    wait_for(&lines, "handshake with INV0001 done").await;
}

#[tokio::test]
async fn flow_over_tls12() {
    happy_path(false).await;
}

#[tokio::test]
async fn flow_over_tls13_profile() {
    happy_path(true).await;
}

/// Retries CAPIF-2e with `key` until the AEF refuses it; how long that took, or `None` if it
/// was still accepted after `bound`.
async fn refused_within(
    world: &World,
    addr: std::net::SocketAddr,
    key: &AefPsk,
    bound: Duration,
) -> Option<(Duration, String)> {
    let start = std::time::Instant::now();
    while start.elapsed() < bound {
        if let Err(e) = world.invoker.call_aef(addr, key).await {
            return Some((start.elapsed(), e));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    None
}

/// A newer CAPIF-1e session replaces the key at the CCF, which tells the AEF at once (TS 29.222
/// `revoke-authorization`): the old key is refused within seconds although the AEF caches keys
/// for an hour (before issue 11 §4 it stayed usable until the TTL ran out).
#[tokio::test]
async fn key_of_an_older_capif1e_session_is_refused() {
    let (log, lines) = recorder();
    let ttl = Duration::from_secs(3600);
    let bound = Duration::from_secs(5);
    let world = World::start("INV0002", false, ttl, log).await.unwrap();
    let first = world.invoker.discover(world.ccf.capif1e).await.unwrap();
    let old_key = first.session.derive_aef_psk(&first.aef).unwrap();
    world
        .invoker
        .call_aef(first.aef_addr, &old_key)
        .await
        .unwrap();

    // A resumed TLS 1.2 session is the same CAPIF-1e session: same key, still accepted.
    let resumed = world.invoker.discover(world.ccf.capif1e).await.unwrap();
    assert!(resumed.session.is_resumed());
    assert_eq!(
        resumed.session.derive_aef_psk(&resumed.aef).unwrap(),
        old_key
    );
    world
        .invoker
        .call_aef(first.aef_addr, &old_key)
        .await
        .unwrap();

    // A newer CAPIF-1e session (full handshake) replaces the key at the CCF, which notifies
    // the AEF: the old key is refused at once, without the new key having been used.
    let second = world
        .invoker
        .restarted()
        .discover(world.ccf.capif1e)
        .await
        .unwrap();
    assert!(!second.session.is_resumed());
    let new_key = second.session.derive_aef_psk(&second.aef).unwrap();
    assert_ne!(old_key, new_key);
    let (took, err) = refused_within(&world, first.aef_addr, &old_key, bound)
        .await
        .expect("the replaced key must be refused long before the AEF's one-hour cache TTL");
    assert!(err.contains("DecryptError"), "{err}");
    assert!(took < bound, "{took:?}");
    wait_for(
        &lines,
        "CAPIF-3: told the AEF that INV0002's authorization is revoked (session Replaced",
    )
    .await;
    wait_for(&lines, "PSK binder does not verify").await;
    // The new key works (the AEF asked the CCF again).
    world
        .invoker
        .call_aef(second.aef_addr, &new_key)
        .await
        .unwrap();

    // Once more, with the new key cached at the AEF.
    let third = world
        .invoker
        .restarted()
        .discover(world.ccf.capif1e)
        .await
        .unwrap();
    let third_key = third.session.derive_aef_psk(&third.aef).unwrap();
    let (_, err) = refused_within(&world, second.aef_addr, &new_key, bound)
        .await
        .expect("the replaced key must be refused at once");
    assert!(err.contains("DecryptError"), "{err}");
    world
        .invoker
        .call_aef(third.aef_addr, &third_key)
        .await
        .unwrap();

    // An explicit invalidation on the AEF takes effect at once too.
    world.aef.resolver.invalidate("INV0002");
    world
        .invoker
        .call_aef(third.aef_addr, &third_key)
        .await
        .unwrap();
}

#[tokio::test]
async fn unknown_invoker_is_refused() {
    let (log, lines) = recorder();
    let world = World::start("INV0003", false, TTL, log).await.unwrap();
    let d = world.invoker.discover(world.ccf.capif1e).await.unwrap();
    let psk = d.session.derive_aef_psk(&d.aef).unwrap();

    let stranger = flow::Invoker::new(&world.pki, "INV9999", false);
    let err = stranger.call_aef(d.aef_addr, &psk).await.unwrap_err();
    assert!(err.contains("DecryptError"), "{err}");
    wait_for(&lines, "CAPIF-3: unknown invoker \"INV9999\"").await;
    // Refused exactly like a wrong key: the CCF's "unknown" answer is a decoy key to the
    // handshake (issue 10 §3), so the AEF's own error says so too.
    wait_for(&lines, "refused: PSK rejected: PSK binder does not verify").await;

    // Nor can a stranger discover as INV0003 with its own certificate.
    let impostor = flow::Invoker::new(&world.pki, "INV0003", false);
    let err = impostor
        .discover(world.ccf.capif1e)
        .await
        .map(|_| ())
        .unwrap_err();
    assert!(err.contains("403"), "{err}");
}

#[tokio::test]
async fn ccf_down_fails_closed() {
    let (log, lines) = recorder();
    let world = World::start("INV0004", false, TTL, log).await.unwrap();
    let d = world.invoker.discover(world.ccf.capif1e).await.unwrap();
    let psk = d.session.derive_aef_psk(&d.aef).unwrap();
    world.ccf.stop_capif3();
    tokio::time::sleep(Duration::from_millis(100)).await;

    let err = world.invoker.call_aef(d.aef_addr, &psk).await.unwrap_err();
    assert!(err.contains("DecryptError"), "{err}");
    let line = wait_for(&lines, "CAPIF-2e handshake from").await;
    assert!(line.contains("CCF unreachable"), "{line}");

    // A made-up key never works either.
    let err = world
        .invoker
        .call_aef(d.aef_addr, &AefPsk::from_bytes([7; 32]))
        .await
        .unwrap_err();
    assert!(err.contains("DecryptError"), "{err}");
}
