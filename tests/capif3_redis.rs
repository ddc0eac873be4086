//! The CCF key store shared by replicas on Redis (feature `redis`), against a real
//! `redis-server` started here on a free loopback port, without persistence:
//!
//! * two CCF replicas (two `CcfKeyStore`s on one Redis, each with its own CAPIF-1e and CAPIF-3
//!   HTTPS endpoints, as in `examples/capif_flow`) and one AEF that asks replica B: a session
//!   registered at replica A gives the AEF the invoker's AEFPSK and the CAPIF-2e handshake
//!   succeeds; a newer session at B wins at A; a removal at A holds at B; (TLS 1.2 Annex A.1
//!   and the TLS 1.3 exporter profile);
//! * entries expire with the TTL (Redis's own);
//! * a tampered entry, an entry moved to another invoker's key, a foreign or oversized value
//!   are refused (treated as absent);
//! * a raw dump of Redis holds neither the master secret nor an AEFPSK (with a positive control
//!   proving that the scan finds them when stored in clear);
//! * a Redis outage: registration and fetches fail with `KeyStoreError::Unavailable`, CAPIF-3
//!   answers 503 with a valid `ProblemDetails`, the AEF refuses the handshake; after a restart
//!   on the same port service resumes without restarting anything.
//!
//! Needs `redis-server` (Debian: `apt-get install -y redis-server`; `scripts/test.sh` installs
//! it): without it these tests fail with that hint, they never pass silently.
#![cfg(feature = "redis")]

#[path = "ccf_request/mod.rs"]
mod ccf_request;
#[path = "../examples/capif_flow/flow.rs"]
mod flow;
#[path = "../examples/capif_flow/pki.rs"]
mod pki;
#[path = "spec_schema/mod.rs"]
mod spec_schema;

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use flow::{Log, World};
use rustls_capif::capif3::{
    CcfKeyStore, CcfKeyStoreConfig, KeyEncryptionKey, KeyStoreError, ProblemDetails,
    RedisStoreConfig, PROBLEM_JSON,
};
use rustls_capif::{AefPsk, Error};

// ---------------------------------------------------------------------------------------------
// A real redis-server

/// A `redis-server` on a loopback port, no persistence, in its own temporary directory;
/// killed on drop.
struct RedisServer {
    port: u16,
    dir: PathBuf,
    child: Option<Child>,
}

impl RedisServer {
    /// Starts a server on a free port.
    fn start() -> Self {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free loopback port")
            .port();
        let dir =
            std::env::temp_dir().join(format!("rustls-capif-redis-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut server = Self {
            port,
            dir,
            child: None,
        };
        server.restart();
        server
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// (Re)starts the server on its port and waits until it answers PING.
    fn restart(&mut self) {
        assert!(self.child.is_none(), "already running");
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(&self.dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        let child = match child {
            Ok(child) => child,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => panic!(
                "redis-server is not installed: these tests need a real Redis. Install it \
                 (Debian/Ubuntu: `apt-get install -y redis-server`) or run scripts/test.sh, \
                 which installs it"
            ),
            Err(e) => panic!("cannot start redis-server: {e}"),
        };
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if ping(self.port) {
                return;
            }
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                panic!(
                    "redis-server exited at start ({status}); is port {} taken?",
                    self.port
                );
            }
            assert!(
                Instant::now() < deadline,
                "redis-server did not answer PING in 10 s"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Kills the server (an outage); its data is gone (no persistence).
    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Whether a Redis answers PING on `port`.
fn ping(port: u16) -> bool {
    use std::io::{Read, Write};
    let Ok(mut tcp) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = tcp.set_read_timeout(Some(Duration::from_millis(500)));
    let mut buf = [0u8; 7];
    tcp.write_all(b"PING\r\n").is_ok() && tcp.read_exact(&mut buf).is_ok() && &buf == b"+PONG\r\n"
}

/// A raw connection to the server (what an operator, or an attacker with a dump, sees).
async fn raw(server: &RedisServer) -> redis::aio::MultiplexedConnection {
    redis::Client::open(server.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap()
}

// ---------------------------------------------------------------------------------------------
// Replicas

const KEK: [u8; 32] = [0x5a; 32];

fn redis_config(server: &RedisServer) -> RedisStoreConfig {
    let mut config = RedisStoreConfig::new(server.url(), KeyEncryptionKey::from_bytes(KEK));
    config.command_timeout = Duration::from_millis(500);
    config.connect_timeout = Duration::from_millis(300);
    config
}

/// Two CCF replicas' stores on one Redis (same KEK, same prefix).
fn replicas(server: &RedisServer, ttl: Duration) -> (Arc<CcfKeyStore>, Arc<CcfKeyStore>) {
    let mut config = CcfKeyStoreConfig::default();
    config.session_ttl = ttl;
    let store = || Arc::new(CcfKeyStore::redis(config.clone(), redis_config(server)).unwrap());
    (store(), store())
}

/// A log sink the test can read.
fn recorder() -> (Log, Arc<Mutex<Vec<String>>>) {
    let lines = Arc::new(Mutex::new(Vec::new()));
    let sink = lines.clone();
    let log: Log =
        Arc::new(move |role, line| sink.lock().unwrap().push(format!("[{role}] {line}")));
    (log, lines)
}

async fn two_replicas(server: &RedisServer, tls13: bool, invoker_id: &str) -> World {
    let (log, _) = recorder();
    World::start_with(
        invoker_id,
        tls13,
        Duration::from_secs(60),
        log,
        Some(replicas(server, Duration::from_secs(60))),
    )
    .await
    .unwrap()
}

/// Retries `call_aef` until it fails (the AEF's cache learns of a revocation asynchronously).
async fn refused_within(
    world: &World,
    addr: std::net::SocketAddr,
    psk: &AefPsk,
    within: Duration,
) -> bool {
    let start = Instant::now();
    while start.elapsed() < within {
        if world.invoker.call_aef(addr, psk).await.is_err() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    false
}

// ---------------------------------------------------------------------------------------------

async fn replicas_share_sessions(tls13: bool) {
    let server = RedisServer::start();
    let world = two_replicas(&server, tls13, "INV-R1").await;
    let (a, b) = (&world.ccf, world.replica.as_ref().unwrap());
    // CAPIF-1e with replica A: A registers the session.
    let d = world.invoker.discover(a.capif1e).await.unwrap();
    let psk = d.session.derive_aef_psk(&d.aef).unwrap();
    // Replica B, which never saw the session, derives the same key...
    assert_eq!(
        b.store.aef_psk("INV-R1", &d.aef).await.unwrap(),
        Some(psk.clone())
    );
    // ...and the AEF, which asks B over CAPIF-3, accepts the invoker's CAPIF-2e handshake.
    let (_, body) = world.invoker.call_aef(d.aef_addr, &psk).await.unwrap();
    assert_eq!(body, r#"{"greeting":"hello, INV-R1"}"#);

    // A newer session at replica B wins at A, and B tells the AEF (the old key is refused).
    let newer = world.invoker.restarted().discover(b.capif1e).await.unwrap();
    let new_psk = newer.session.derive_aef_psk(&newer.aef).unwrap();
    assert_ne!(new_psk, psk);
    assert_eq!(
        a.store.aef_psk("INV-R1", &d.aef).await.unwrap(),
        Some(new_psk.clone())
    );
    assert!(refused_within(&world, d.aef_addr, &psk, Duration::from_secs(5)).await);
    world.invoker.call_aef(d.aef_addr, &new_psk).await.unwrap();

    // Removal at A holds at B at once (one Redis key per invoker).
    assert!(a.store.remove("INV-R1").await.unwrap());
    assert!(!b.store.contains("INV-R1").await.unwrap());
    assert_eq!(b.store.aef_psk("INV-R1", &d.aef).await.unwrap(), None);
    assert!(!a.store.remove("INV-R1").await.unwrap());
    assert!(refused_within(&world, d.aef_addr, &new_psk, Duration::from_secs(5)).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_share_sessions_tls12() {
    replicas_share_sessions(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_share_sessions_tls13_exporter_profile() {
    replicas_share_sessions(true).await;
}

/// Entries expire with the store's TTL (Redis's PX): past it the invoker is unknown at every
/// replica.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entries_expire_with_the_ttl() {
    let server = RedisServer::start();
    let ttl = Duration::from_millis(400);
    let (a, b) = replicas(&server, ttl);
    let world = two_replicas(&server, false, "INV-T1").await;
    let d = world.invoker.discover(world.ccf.capif1e).await.unwrap();
    a.register_session("inv-ttl", Arc::new(d.session))
        .await
        .unwrap();
    let mut conn = raw(&server).await;
    let pttl: i64 = redis::cmd("PTTL")
        .arg("rustls-capif:ccf:session:inv-ttl")
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(0 < pttl && pttl <= 400, "PTTL {pttl}");
    assert!(b.store_contains("inv-ttl").await);
    // A copy of the raw entry, as an old dump or backup would hold it.
    let saved: Vec<u8> = redis::cmd("GET")
        .arg("rustls-capif:ccf:session:inv-ttl")
        .query_async(&mut conn)
        .await
        .unwrap();
    tokio::time::sleep(ttl + Duration::from_millis(100)).await;
    assert!(!b.store_contains("inv-ttl").await);
    assert!(!a.store_contains("inv-ttl").await);
    // Only the world's own invoker (registered with a 60 s TTL) is left.
    assert_eq!(b.len().await.unwrap(), 1);
    // Put back without an expiry by someone who can write to Redis (but has no KEK), the
    // expired session stays dead: its sealed not_after has passed.
    let () = redis::cmd("SET")
        .arg("rustls-capif:ccf:session:inv-ttl")
        .arg(saved)
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(!b.store_contains("inv-ttl").await);
    assert!(!a.store_contains("inv-ttl").await);
}

/// Small helper: `contains` that must not fail.
trait StoreContains {
    async fn store_contains(&self, id: &str) -> bool;
}
impl StoreContains for CcfKeyStore {
    async fn store_contains(&self, id: &str) -> bool {
        self.contains(id).await.unwrap()
    }
}

/// An entry that does not open is refused and treated as absent: tampered with, moved to
/// another invoker's key, sealed under another KEK, not ours at all, or oversized.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tampered_swapped_and_foreign_entries_are_refused() {
    let server = RedisServer::start();
    let (store, _) = replicas(&server, Duration::from_secs(60));
    let world = two_replicas(&server, false, "INV-S1").await;
    let aef = rustls_capif::ServiceApiInterface::parse("aef.example:443").unwrap();
    let s1 = world.invoker.discover(world.ccf.capif1e).await.unwrap();
    let s2 = world
        .invoker
        .restarted()
        .discover(world.ccf.capif1e)
        .await
        .unwrap();
    let (k1, k2) = (
        s1.session.derive_aef_psk(&aef).unwrap(),
        s2.session.derive_aef_psk(&aef).unwrap(),
    );
    store
        .register_session("inv-a", Arc::new(s1.session))
        .await
        .unwrap();
    store
        .register_session("inv-b", Arc::new(s2.session))
        .await
        .unwrap();
    assert_eq!(
        store.aef_psk("inv-a", &aef).await.unwrap(),
        Some(k1.clone())
    );
    assert_eq!(
        store.aef_psk("inv-b", &aef).await.unwrap(),
        Some(k2.clone())
    );

    let mut conn = raw(&server).await;
    let key = |id: &str| format!("rustls-capif:ccf:session:{id}");
    let get = |conn: &mut redis::aio::MultiplexedConnection, id: &str| {
        let mut conn = conn.clone();
        let k = key(id);
        async move {
            redis::cmd("GET")
                .arg(k)
                .query_async::<Vec<u8>>(&mut conn)
                .await
                .unwrap()
        }
    };
    let set = |conn: &mut redis::aio::MultiplexedConnection, id: &str, v: Vec<u8>| {
        let mut conn = conn.clone();
        let k = key(id);
        async move {
            redis::cmd("SET")
                .arg(k)
                .arg(v)
                .arg("KEEPTTL")
                .query_async::<()>(&mut conn)
                .await
                .unwrap()
        }
    };
    let original_a = get(&mut conn, "inv-a").await;
    let original_b = get(&mut conn, "inv-b").await;

    // Tampered: one bit of the ciphertext.
    let mut tampered = original_a.clone();
    tampered[20] ^= 0x01;
    set(&mut conn, "inv-a", tampered).await;
    assert_eq!(store.aef_psk("inv-a", &aef).await.unwrap(), None);
    assert!(!store.store_contains("inv-a").await);

    // Swapped: b's (valid) entry under a's key does not open as a's, nor a's as b's.
    set(&mut conn, "inv-a", original_b.clone()).await;
    set(&mut conn, "inv-b", original_a.clone()).await;
    assert_eq!(store.aef_psk("inv-a", &aef).await.unwrap(), None);
    assert_eq!(store.aef_psk("inv-b", &aef).await.unwrap(), None);
    // Put back where they belong, they open again (the refusal was the swap, nothing else).
    set(&mut conn, "inv-a", original_a.clone()).await;
    set(&mut conn, "inv-b", original_b.clone()).await;
    assert_eq!(store.aef_psk("inv-a", &aef).await.unwrap(), Some(k1));
    assert_eq!(store.aef_psk("inv-b", &aef).await.unwrap(), Some(k2));

    // Another KEK (a replica configured with the wrong key): refused.
    let mut other = redis_config(&server);
    other.kek = KeyEncryptionKey::from_bytes([0x33; 32]);
    let stranger = CcfKeyStore::redis(CcfKeyStoreConfig::default(), other).unwrap();
    assert_eq!(stranger.aef_psk("inv-a", &aef).await.unwrap(), None);

    // Not a sealed entry, and an oversized one (refused before anything is opened).
    set(&mut conn, "inv-a", b"hello".to_vec()).await;
    assert_eq!(store.aef_psk("inv-a", &aef).await.unwrap(), None);
    let mut long = original_a.clone();
    long.extend_from_slice(&[0; 4096]);
    set(&mut conn, "inv-a", long).await;
    assert_eq!(store.aef_psk("inv-a", &aef).await.unwrap(), None);
    // The CAPIF-3 body answers 404 (None) for a refused entry.
    let details = rustls_capif::capif3::InterfaceDescriptionJson {
        fqdn: Some("aef.example".into()),
        port: Some(443),
        ..Default::default()
    };
    assert!(store
        .service_security_json("inv-a", &[details], true, "https://invoker.example/n")
        .await
        .unwrap()
        .is_none());
}

/// A raw dump of Redis (every key's value and its DUMP serialization) holds neither the
/// CAPIF-1e master secret nor an AEFPSK, raw or in hex. Positive control: the same scan finds
/// them when they are stored in clear.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_dump_reveals_no_master_secret_and_no_aefpsk() {
    #[derive(Debug, Default)]
    struct Capture(Mutex<Vec<Vec<u8>>>);
    impl rustls::KeyLog for Capture {
        fn log(&self, label: &str, _: &[u8], secret: &[u8]) {
            if label == "CLIENT_RANDOM" {
                self.0.lock().unwrap().push(secret.to_vec());
            }
        }
        fn will_log(&self, _: &str) -> bool {
            true
        }
    }

    let server = RedisServer::start();
    let world = two_replicas(&server, false, "INV-D1").await;
    let capture = Arc::new(Capture::default());
    let invoker = world.invoker.with_key_log(capture.clone());
    let d = invoker.discover(world.ccf.capif1e).await.unwrap();
    let psk = d.session.derive_aef_psk(&d.aef).unwrap();
    world.invoker.call_aef(d.aef_addr, &psk).await.unwrap(); // the AEF fetched it from B
    let master_secret = capture.0.lock().unwrap().first().cloned().unwrap();
    assert_eq!(master_secret.len(), 48);

    let mut secrets: Vec<Vec<u8>> = Vec::new();
    for s in [&master_secret[..], &psk.secret_bytes()[..]] {
        secrets.push(s.to_vec());
        let hex: String = s.iter().map(|b| format!("{b:02x}")).collect();
        secrets.push(hex.clone().into_bytes());
        secrets.push(hex.to_uppercase().into_bytes());
    }

    let mut conn = raw(&server).await;
    let dump = |mut conn: redis::aio::MultiplexedConnection| async move {
        let keys: Vec<Vec<u8>> = redis::cmd("KEYS")
            .arg("*")
            .query_async(&mut conn)
            .await
            .unwrap();
        let mut bytes = Vec::new();
        for key in &keys {
            bytes.extend_from_slice(key);
            let value: Vec<u8> = redis::cmd("GET")
                .arg(key)
                .query_async(&mut conn)
                .await
                .unwrap();
            let dumped: Vec<u8> = redis::cmd("DUMP")
                .arg(key)
                .query_async(&mut conn)
                .await
                .unwrap();
            bytes.extend_from_slice(&value);
            bytes.extend_from_slice(&dumped);
        }
        (keys.len(), bytes)
    };
    let found = |bytes: &[u8]| -> Vec<usize> {
        (0..secrets.len())
            .filter(|&i| {
                bytes
                    .windows(secrets[i].len())
                    .any(|w| w == &secrets[i][..])
            })
            .collect()
    };

    let (keys, bytes) = dump(conn.clone()).await;
    assert_eq!(keys, 1, "one entry per invoker");
    assert!(bytes.len() > 100);
    assert_eq!(
        found(&bytes),
        Vec::<usize>::new(),
        "a secret is readable in Redis"
    );

    // Positive control: stored in clear, every one of them is found by the same scan.
    for (i, s) in secrets.iter().enumerate() {
        redis::cmd("SET")
            .arg(format!("control-{i}"))
            .arg(s)
            .query_async::<()>(&mut conn)
            .await
            .unwrap();
    }
    let (_, bytes) = dump(conn.clone()).await;
    assert_eq!(found(&bytes), (0..secrets.len()).collect::<Vec<_>>());
}

/// Redis goes down mid-run: registration and fetches fail with the typed error, CAPIF-3 answers
/// 503 with a valid `ProblemDetails`, discovery is refused, the AEF refuses the handshake;
/// Redis comes back on the same port (empty: no persistence) and service resumes by itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_fails_closed_and_service_resumes() {
    let mut server = RedisServer::start();
    let (log, _) = recorder();
    // The AEF caches keys for 300 ms only, so that it asks the CCF during the outage.
    let world = World::start_with(
        "INV-O1",
        false,
        Duration::from_millis(300),
        log,
        Some(replicas(&server, Duration::from_secs(60))),
    )
    .await
    .unwrap();
    let (a, b) = (&world.ccf, world.replica.as_ref().unwrap());
    let d = world.invoker.discover(a.capif1e).await.unwrap();
    let psk = d.session.derive_aef_psk(&d.aef).unwrap();
    world.invoker.call_aef(d.aef_addr, &psk).await.unwrap();

    server.stop();
    tokio::time::sleep(Duration::from_millis(400)).await; // the AEF's cached key expires
    let unavailable = |r: Result<_, Error>| {
        assert!(
            matches!(r, Err(Error::KeyStore(KeyStoreError::Unavailable(_)))),
            "{:?}",
            r.map(|_: ()| ())
        )
    };
    let started = Instant::now();
    unavailable(b.store.aef_psk("INV-O1", &d.aef).await.map(|_| ()));
    unavailable(b.store.contains("INV-O1").await.map(|_| ()));
    unavailable(a.store.remove("INV-O1").await.map(|_| ()));
    let again = world.invoker.restarted().discover(a.capif1e).await;
    assert!(
        again.is_err(),
        "discovery must fail while the store is down"
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "bounded by the timeouts"
    );
    // CAPIF-3 answers 503 with a ProblemDetails.
    let (status, content_type, body) = capif3_get(&world, &b.capif3_api_root, "INV-O1").await;
    assert_eq!((status, content_type.as_str()), (503, PROBLEM_JSON));
    let problem: ProblemDetails = serde_json::from_slice(&body).unwrap();
    assert_eq!(problem.status, Some(503));
    if let Some(spec) = spec_schema::Spec::load() {
        spec.assert_valid(spec_schema::COMMON_29122, "ProblemDetails", &body, "503");
    }
    // The AEF, which cannot get the key, refuses the invoker (fail closed).
    assert!(world.invoker.call_aef(d.aef_addr, &psk).await.is_err());

    // Redis is back (empty): the invoker's next CAPIF-1e session registers, and the AEF gets
    // its key from B again, with the same store instances.
    server.restart();
    let restarted = Instant::now();
    let deadline = restarted + Duration::from_secs(10);
    let newer = loop {
        match world.invoker.restarted().discover(a.capif1e).await {
            Ok(d) => break d,
            Err(e) => {
                assert!(Instant::now() < deadline, "service did not resume: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    };
    println!(
        "service resumed {:?} after the restart",
        restarted.elapsed()
    );
    let new_psk = newer.session.derive_aef_psk(&newer.aef).unwrap();
    assert_eq!(
        b.store.aef_psk("INV-O1", &newer.aef).await.unwrap(),
        Some(new_psk.clone())
    );
    world
        .invoker
        .call_aef(newer.aef_addr, &new_psk)
        .await
        .unwrap();
}

/// `GET trustedInvokers/{id}?authenticationInfo=true` at a CCF, as an AEF would (mutual TLS).
async fn capif3_get(world: &World, api_root: &str, id: &str) -> (u16, String, Vec<u8>) {
    let target = format!("/capif-security/v1/trustedInvokers/{id}?authenticationInfo=true");
    ccf_request::request(&world.pki, api_root, hyper::Method::GET, &target).await
}
