//! Cold-invoker CAPIF-2e handshake latency at the AEF when the key comes from the CCF, and the
//! CCF's CPU time per fetch, for four ways of reaching the CCF (issue 12 §1):
//!
//! * `new conn, full TLS`: a new TCP connection and a full mutual-TLS handshake per fetch
//!   (`pool_max_idle = 0`, client session cache off);
//! * `new conn, resumed TLS`: a new connection per fetch, TLS resumed from the shared session
//!   cache (`pool_max_idle = 0`): what the resolver did before pooling (main at 71b2a46);
//! * `pooled HTTP/1.1` and `pooled HTTP/2`: the default settings, the CCF selecting
//!   `http/1.1` or `h2` by ALPN.
//!
//! Method: the CCF stand-in of `tests/capif3_common` runs on a thread of its own (a
//! current-thread tokio runtime: its TLS, HTTP, JSON and key-store work all run there) and is
//! reached over loopback TCP. The AEF (resolver and `PskAcceptor`) and the invokers run on
//! the main thread's current-thread runtime and talk over in-memory pipes. Each sample is one
//! handshake of an invoker the AEF has never seen (so its key is fetched), one at a time;
//! latency is measured from the invoker's connect to both ends done. The CCF's CPU time is its
//! thread's `sum_exec_runtime` (`/proc/self/task/TID/schedstat`, Linux) across the samples,
//! divided by their number. Before the samples, 50 warm-up fetches (not counted) fill the pool
//! and the session cache as in steady state.
//!
//! `cargo bench --bench ccf_pool` (`CCF_POOL_SAMPLES=N`, default 2000 per mode).

#[path = "../tests/capif3_common/mod.rs"]
mod capif3_common;
#[path = "../examples/capif_flow/pki.rs"]
mod pki;
mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use capif3_common::Fixed;
use pki::TestPki;
use rustls_capif::capif3::CcfKeyResolverConfig;
use rustls_capif::psk::{NoPskResolver, PskClientConfig, PskServerConfig};
use rustls_capif::{PskAcceptor, PskConnector};
use support::{ccf_thread, key, percentile, thread_cpu_ns};

struct Mode {
    name: &'static str,
    ccf_alpn: &'static [&'static [u8]],
    pooled: bool,
    resumption: bool,
}

const MODES: [Mode; 4] = [
    Mode {
        name: "new conn, full TLS",
        ccf_alpn: &[b"http/1.1"],
        pooled: false,
        resumption: false,
    },
    Mode {
        name: "new conn, resumed TLS (before)",
        ccf_alpn: &[b"http/1.1"],
        pooled: false,
        resumption: true,
    },
    Mode {
        name: "pooled HTTP/1.1",
        ccf_alpn: &[b"http/1.1"],
        pooled: true,
        resumption: true,
    },
    Mode {
        name: "pooled HTTP/2",
        ccf_alpn: &[b"h2", b"http/1.1"],
        pooled: true,
        resumption: true,
    },
];

const WARM_UP: usize = 50;

async fn run(pki: &Arc<TestPki>, mode: &Mode, samples: usize) -> (Duration, Duration, f64, usize) {
    let (ccf, root, task) = ccf_thread(pki, mode.ccf_alpn);
    for i in 0..WARM_UP + samples {
        ccf.store
            .register_session(&format!("inv-{i}"), Arc::new(Fixed(key(i))))
            .await
            .unwrap();
    }
    let mut tls = pki.client_config(Some(&["aef.example"]));
    if !mode.resumption {
        tls.resumption = rustls::client::Resumption::disabled();
    }
    let mut config = CcfKeyResolverConfig::new(
        root,
        Arc::new(tls),
        ccf.aef.service_api_interface().unwrap(),
    );
    if !mode.pooled {
        config.pool_max_idle = 0;
    }
    let resolver = Arc::new(rustls_capif::capif3::CcfKeyResolver::new(config).unwrap());
    let acceptor = PskAcceptor::new(Arc::new(PskServerConfig::new(Arc::new(NoPskResolver))))
        .with_async_resolver(resolver.clone());
    let handshake = |i: usize| {
        let acceptor = acceptor.clone();
        let config = Arc::new(PskClientConfig::for_aef(&format!("inv-{i}"), &key(i)).unwrap());
        async move {
            let (a, b) = tokio::io::duplex(16 * 1024);
            let connector = PskConnector::new(config);
            let started = Instant::now();
            let (server, client) = tokio::join!(acceptor.accept(a), connector.connect(b));
            let elapsed = started.elapsed();
            assert!(server.is_ok() && client.is_ok(), "handshake {i}");
            elapsed
        }
    };
    for i in 0..WARM_UP {
        handshake(i).await;
    }
    let cpu_before = thread_cpu_ns(&task);
    let requests_before = ccf.requests();
    let mut latencies = Vec::with_capacity(samples);
    for i in WARM_UP..WARM_UP + samples {
        latencies.push(handshake(i).await);
    }
    let cpu = thread_cpu_ns(&task) - cpu_before;
    assert_eq!(
        ccf.requests() - requests_before,
        samples,
        "one fetch per cold invoker"
    );
    latencies.sort();
    (
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.99),
        cpu as f64 / samples as f64,
        ccf.connections(),
    )
}

fn main() {
    // `cargo test --benches` runs this once, briefly, as a smoke test.
    let smoke = std::env::args().any(|a| a == "--test") || cfg!(debug_assertions);
    let samples = std::env::var("CCF_POOL_SAMPLES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(if smoke { 20 } else { 2000 });
    let pki = Arc::new(TestPki::new());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    println!("cold-invoker CAPIF-2e handshake at the AEF, key fetched from a loopback CCF ({samples} samples per mode)");
    println!(
        "{:<32} {:>10} {:>10} {:>16} {:>12}",
        "CCF connection", "p50 µs", "p99 µs", "CCF CPU µs/fetch", "TCP conns"
    );
    let mut rows = Vec::new();
    for mode in &MODES {
        let (p50, p99, cpu_ns, conns) = rt.block_on(run(&pki, mode, samples));
        println!(
            "{:<32} {:>10.0} {:>10.0} {:>16.1} {:>12}",
            mode.name,
            p50.as_secs_f64() * 1e6,
            p99.as_secs_f64() * 1e6,
            cpu_ns / 1e3,
            conns
        );
        rows.push((p50, p99, cpu_ns));
    }
    let before = rows[1];
    for (mode, row) in MODES.iter().zip(&rows).skip(2) {
        println!(
            "{}: p50 {:.2}x, p99 {:.2}x, CCF CPU {:.2}x lower than {}",
            mode.name,
            before.0.as_secs_f64() / row.0.as_secs_f64(),
            before.1.as_secs_f64() / row.1.as_secs_f64(),
            before.2 / row.2,
            MODES[1].name
        );
    }
}
