//! CCF fetch cost for the in-memory and the Redis key store, side by side in one run
//! (issue 12 §2/§4). A "fetch" is what the CCF does for one CAPIF-3 `trustedInvokers` GET,
//! without the HTTP: `CcfKeyStore::service_security_json` for one AEF interface, with the key
//! (memory: the cached key; Redis: GET, AES-256-GCM open, Annex A.1 KDF).
//!
//! Method: 100 invokers, each with a real CAPIF-1e TLS 1.2 session (the `capif_flow` roles on
//! loopback), registered in both stores; the Redis store talks to a `redis-server` this bench
//! starts on a free loopback port (no persistence). Per store:
//!
//! * latency: `CCF_STORE_SAMPLES` fetches one after the other (default 5000), round-robin over
//!   the invokers, each timed: p50 and p99;
//! * throughput: 32 concurrent fetch loops on a 2-worker tokio runtime for 2 s: fetches/s.
//!
//! `cargo bench --bench ccf_store --features redis` (needs `redis-server`). Not criterion:
//! criterion reports means and confidence intervals, the issue asks for p99.

#[path = "../examples/capif_flow/flow.rs"]
mod flow;
#[path = "../examples/capif_flow/pki.rs"]
mod pki;

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls_capif::capif3::{
    CcfKeyStore, CcfKeyStoreConfig, InterfaceDescriptionJson, KeyEncryptionKey, RedisStoreConfig,
};

const INVOKERS: usize = 100;
const NOTIFY: &str = "https://invoker.example/n";

struct Redis(Child, u16);

impl Redis {
    fn start() -> Self {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--dir"])
            .arg(std::env::temp_dir())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server (Debian/Ubuntu: apt-get install -y redis-server)");
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "redis-server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        Self(child, port)
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

async fn fetch(store: &CcfKeyStore, i: usize, aef: &InterfaceDescriptionJson) {
    let body = store
        .service_security_json(&format!("inv-{i}"), std::slice::from_ref(aef), true, NOTIFY)
        .await
        .unwrap();
    assert!(body.is_some());
}

async fn latency(
    store: &CcfKeyStore,
    aef: &InterfaceDescriptionJson,
    samples: usize,
) -> Vec<Duration> {
    for i in 0..200 {
        fetch(store, i % INVOKERS, aef).await; // warm-up
    }
    let mut times = Vec::with_capacity(samples);
    for i in 0..samples {
        let start = Instant::now();
        fetch(store, i % INVOKERS, aef).await;
        times.push(start.elapsed());
    }
    times.sort();
    times
}

async fn throughput(store: Arc<CcfKeyStore>, aef: &InterfaceDescriptionJson) -> f64 {
    // Each loop checks the clock itself: in-memory fetches never yield to the runtime, so a
    // timer would not fire while they run.
    let done = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let end = start + Duration::from_secs(2);
    let mut tasks = Vec::new();
    for t in 0..32 {
        let (store, aef, done) = (store.clone(), aef.clone(), done.clone());
        tasks.push(tokio::spawn(async move {
            let mut i = t;
            while Instant::now() < end {
                fetch(&store, i % INVOKERS, &aef).await;
                done.fetch_add(1, Ordering::Relaxed);
                i += 7;
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    done.load(Ordering::Relaxed) as f64 / start.elapsed().as_secs_f64()
}

fn main() {
    let samples: usize = std::env::var("CCF_STORE_SAMPLES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5000);
    let redis = Redis::start();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let log: flow::Log = Arc::new(|_, _| {});
        let world = flow::World::start("INV-BENCH", false, Duration::from_secs(60), log)
            .await
            .unwrap();
        let memory = Arc::new(CcfKeyStore::default());
        let config = RedisStoreConfig::new(
            format!("redis://127.0.0.1:{}", redis.1),
            KeyEncryptionKey::generate().unwrap(),
        );
        let shared = Arc::new(CcfKeyStore::redis(CcfKeyStoreConfig::default(), config).unwrap());
        for i in 0..INVOKERS {
            let d = world
                .invoker
                .restarted()
                .discover(world.ccf.capif1e)
                .await
                .unwrap();
            let session = Arc::new(d.session);
            let id = format!("inv-{i}");
            memory.register_session(&id, session.clone()).await.unwrap();
            shared.register_session(&id, session).await.unwrap();
        }
        let aef = InterfaceDescriptionJson {
            ipv4_addr: Some("127.0.0.1".into()),
            port: Some(8443),
            ..Default::default()
        };
        println!(
            "{:<10} {:>10} {:>10} {:>14}   ({samples} sequential fetches; 32 concurrent for 2 s)",
            "store", "p50 µs", "p99 µs", "fetches/s"
        );
        for (name, store) in [("memory", memory), ("redis", shared)] {
            let times = latency(&store, &aef, samples).await;
            let rate = throughput(store.clone(), &aef).await;
            println!(
                "{name:<10} {:>10.1} {:>10.1} {:>14.0}",
                percentile(&times, 0.5).as_secs_f64() * 1e6,
                percentile(&times, 0.99).as_secs_f64() * 1e6,
                rate
            );
        }
    });
}
