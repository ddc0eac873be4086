//! The AEF's CAPIF-2e handshake rate, starting cold, when its clients are 1, 100 or 10,000
//! distinct API invokers whose AEFPSKs all come from the CCF over CAPIF-3 (issue 12 §4).
//!
//! Each run starts a fresh AEF (a `PskAcceptor` with a `CcfKeyResolver`, nothing cached) and
//! a fresh CCF (the stand-in of `tests/capif3_common`, on a thread of its own), registers `N`
//! invokers at the CCF, and then completes `HANDSHAKES` CAPIF-2e handshakes, `CONCURRENCY` at
//! a time, invoker `k mod N` for handshake `k`. So with `N` = 10,000 every handshake is an
//! invoker's first (its key is fetched), with `N` = 1 only the first is; the CCF must see
//! exactly `N` requests. Reported: handshakes per second over the whole run, the latency
//! quantiles of one handshake (connect to both ends done), the CCF requests and TCP
//! connections, and the CCF's CPU time per fetch (its first TLS handshake included, which
//! weighs on the 1-invoker row only). A discarded run warms the process up first.
//!
//! The AEF and its invokers share the main thread (a current-thread tokio runtime, in-memory
//! pipes), so the rate is that of one core doing both ends of every handshake.
//!
//! `cargo bench --bench aef_invokers` (`AEF_HANDSHAKES=N`, default 10,000;
//! `AEF_CONCURRENCY=C`, default 32).

#[path = "../tests/capif3_common/mod.rs"]
mod capif3_common;
#[path = "../examples/capif_flow/pki.rs"]
mod pki;
mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use capif3_common::Fixed;
use pki::TestPki;
use rustls_capif::capif3::{CcfKeyResolver, CcfKeyResolverConfig};
use rustls_capif::psk::{NoPskResolver, PskClientConfig, PskServerConfig};
use rustls_capif::{PskAcceptor, PskConnector};
use support::{ccf_thread, invoker, key, percentile, thread_cpu_ns};

struct Row {
    invokers: usize,
    rate: f64,
    p50: Duration,
    p99: Duration,
    requests: usize,
    connections: usize,
    cpu_per_fetch_us: f64,
}

async fn run(pki: &Arc<TestPki>, invokers: usize, handshakes: usize, concurrency: usize) -> Row {
    let (ccf, root, task) = ccf_thread(pki, &[b"h2", b"http/1.1"]);
    for i in 0..invokers {
        ccf.store
            .register_session(&invoker(i), Arc::new(Fixed(key(i))))
            .await
            .unwrap();
    }
    let config = CcfKeyResolverConfig::new(
        root,
        Arc::new(pki.client_config(Some(&["aef.example"]))),
        ccf.aef.service_api_interface().unwrap(),
    );
    let resolver = Arc::new(CcfKeyResolver::new(config).unwrap());
    let acceptor = PskAcceptor::new(Arc::new(PskServerConfig::new(Arc::new(NoPskResolver))))
        .with_async_resolver(resolver);
    // The invokers' client configs are built before the clock starts.
    let clients: Arc<Vec<Arc<PskClientConfig>>> = Arc::new(
        (0..invokers)
            .map(|i| Arc::new(PskClientConfig::for_aef(&invoker(i), &key(i)).unwrap()))
            .collect(),
    );
    let next = Arc::new(AtomicUsize::new(0));
    let latencies = Arc::new(Mutex::new(Vec::with_capacity(handshakes)));
    let cpu_before = thread_cpu_ns(&task);
    let started = Instant::now();
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..concurrency {
        let (acceptor, clients, next, latencies) = (
            acceptor.clone(),
            clients.clone(),
            next.clone(),
            latencies.clone(),
        );
        workers.spawn(async move {
            loop {
                let k = next.fetch_add(1, Ordering::Relaxed);
                if k >= handshakes {
                    return;
                }
                let (a, b) = tokio::io::duplex(16 * 1024);
                let connector = PskConnector::new(clients[k % clients.len()].clone());
                let t0 = Instant::now();
                let (server, client) = tokio::join!(acceptor.accept(a), connector.connect(b));
                let elapsed = t0.elapsed();
                assert!(server.is_ok() && client.is_ok(), "handshake {k}");
                latencies.lock().unwrap().push(elapsed);
            }
        });
    }
    while let Some(done) = workers.join_next().await {
        done.expect("worker");
    }
    let wall = started.elapsed();
    let cpu = thread_cpu_ns(&task) - cpu_before;
    let requests = ccf.requests();
    assert_eq!(requests, invokers, "one CCF fetch per distinct invoker");
    let mut latencies = std::mem::take(&mut *latencies.lock().unwrap());
    latencies.sort();
    Row {
        invokers,
        rate: handshakes as f64 / wall.as_secs_f64(),
        p50: percentile(&latencies, 0.5),
        p99: percentile(&latencies, 0.99),
        requests,
        connections: ccf.connections(),
        cpu_per_fetch_us: cpu as f64 / 1e3 / requests as f64,
    }
}

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

fn main() {
    // `cargo test --benches` runs this once, briefly, as a smoke test.
    let smoke = std::env::args().any(|a| a == "--test") || cfg!(debug_assertions);
    let handshakes = env_or("AEF_HANDSHAKES", if smoke { 200 } else { 10_000 });
    let concurrency = env_or("AEF_CONCURRENCY", 32);
    let counts = if smoke {
        vec![1, 10, 200]
    } else {
        vec![1, 100, 10_000]
    };
    let pki = Arc::new(TestPki::new());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    println!(
        "AEF CAPIF-2e handshakes from a cold start, keys from a loopback CCF over CAPIF-3 \
         ({handshakes} handshakes, {concurrency} at a time)"
    );
    println!(
        "{:>9} {:>12} {:>9} {:>9} {:>13} {:>10} {:>17}",
        "invokers",
        "handshakes/s",
        "p50 µs",
        "p99 µs",
        "CCF requests",
        "TCP conns",
        "CCF CPU µs/fetch"
    );
    // A discarded run first, so that the first row does not pay the process's warm-up (page
    // faults, allocator growth, the first CCF connection of the program).
    rt.block_on(run(&pki, 1, handshakes.min(500), concurrency));
    let mut rows = Vec::new();
    for &n in &counts {
        let row = rt.block_on(run(&pki, n.min(handshakes), handshakes, concurrency));
        println!(
            "{:>9} {:>12.0} {:>9.0} {:>9.0} {:>13} {:>10} {:>17.1}",
            row.invokers,
            row.rate,
            row.p50.as_secs_f64() * 1e6,
            row.p99.as_secs_f64() * 1e6,
            row.requests,
            row.connections,
            row.cpu_per_fetch_us
        );
        rows.push(row);
    }
    let warm = rows[0].rate;
    for row in &rows[1..] {
        println!(
            "{} invokers: {:.2}x the rate with 1 invoker",
            row.invokers,
            row.rate / warm
        );
    }
}
