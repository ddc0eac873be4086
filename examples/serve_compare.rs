//! Serving benchmark (BENCHMARKS.md, "Serving"): the same axum app served three ways on
//! loopback, driven by one load generator in one run.
//!
//! - `ours`: axum over `http::server::PskListener` (CAPIF-2e, TLS 1.3 external PSK);
//! - `stunnel`: stunnel (`PSKsecrets`, TLS 1.3 PSK) in front of the app on plain TCP, what an
//!   operator without this crate would deploy;
//! - `cert`: axum over tokio-rustls with an ECDSA P-256 certificate (CA → leaf, rcgen),
//!   security method 2.
//!
//! All three: TLS 1.3, TLS_AES_128_GCM_SHA256, X25519 (`psk_dhe_ke` for the PSK cases), no
//! tickets sent by our servers, TCP_NODELAY on every socket. Two measurements per server: new
//! connections per second, each carrying one `GET` (latency = TCP connect + handshake +
//! request + response), and requests per second on kept-alive connections (latency = request
//! + response). The cases run round-robin with a rotating order, `ROUNDS` times.
//!
//! Run with `scripts/bench-serving.sh` (needs `stunnel4`); environment: `SECS` per case and
//! round (default 3), `ROUNDS` (default 4), `CONNS` concurrent connections (default 16),
//! `STUNNEL` (the binary, default `stunnel4`), `CASES` (comma-separated subset).

use std::fmt::Write as _;
use std::future::{poll_fn, Future};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::pin::Pin;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::task::Poll;
use std::time::{Duration, Instant};

use axum::routing::get;
use axum::serve::{Listener, ListenerExt};
use axum::Router;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{PrivatePkcs8KeyDer, ServerName};
use rustls::{CipherSuite, ClientConfig, NamedGroup, RootCertStore, ServerConfig};
use rustls_capif::http::server::PskListener;
use rustls_capif::psk::{
    ExternalPsk, PskClientConfig, PskHash, PskKeyExchangeModes, PskServerConfig, StaticPskResolver,
};
use rustls_capif::{PskAcceptor, PskConnector};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;

const INVOKER: &str = "INV0001";
const BODY: &[u8] = b"hello, CAPIF-2e";
const REQUEST: &[u8] = b"GET /hello HTTP/1.1\r\nHost: aef.example.com\r\n\r\n";

/// The AEFPSK: 32 bytes, given to stunnel as 64 hex digits (its `PSKsecrets` turns hex keys
/// into binary).
fn key() -> [u8; 32] {
    core::array::from_fn(|i| (i as u8).wrapping_mul(37).wrapping_add(11))
}

/// The default provider restricted to TLS_AES_128_GCM_SHA256 and X25519.
fn provider() -> Arc<CryptoProvider> {
    let mut p = (*rustls_capif::default_provider()).clone();
    p.cipher_suites
        .retain(|s| s.suite() == CipherSuite::TLS13_AES_128_GCM_SHA256);
    p.kx_groups.retain(|g| g.name() == NamedGroup::X25519);
    assert_eq!((p.cipher_suites.len(), p.kx_groups.len()), (1, 1));
    Arc::new(p)
}

fn app() -> Router {
    Router::new().route("/hello", get(|| async { BODY }))
}

// ----- servers --------------------------------------------------------------------------------

/// axum over tokio-rustls, handshakes run concurrently as in `PskListener`.
struct CertListener {
    tcp: TcpListener,
    acceptor: tokio_rustls::TlsAcceptor,
    handshakes: JoinSet<Option<(tokio_rustls::server::TlsStream<TcpStream>, SocketAddr)>>,
}

impl Listener for CertListener {
    type Io = tokio_rustls::server::TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let Self {
                tcp, handshakes, ..
            } = self;
            // axum's `Listener::accept` for `TcpListener` (retries on errors).
            let mut accept = std::pin::pin!(Listener::accept(tcp));
            let event = poll_fn(|cx| {
                if let Poll::Ready(Some(done)) = handshakes.poll_join_next(cx) {
                    return Poll::Ready(Err(done));
                }
                if handshakes.len() < 512 {
                    if let Poll::Ready(r) = accept.as_mut().poll(cx) {
                        return Poll::Ready(Ok(r));
                    }
                }
                Poll::Pending
            })
            .await;
            match event {
                Ok((io, addr)) => {
                    let _ = io.set_nodelay(true);
                    let acceptor = self.acceptor.clone();
                    self.handshakes
                        .spawn(async move { acceptor.accept(io).await.ok().map(|s| (s, addr)) });
                }
                Err(Ok(Some(accepted))) => return accepted,
                Err(_) => {}
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.tcp.local_addr()
    }
}

async fn bind() -> TcpListener {
    TcpListener::bind("127.0.0.1:0").await.unwrap()
}

async fn serve_ours(psk: ExternalPsk) -> SocketAddr {
    let keys: StaticPskResolver = [psk].into_iter().collect();
    let config = PskServerConfig::with_provider(Arc::new(keys), provider())
        .with_key_exchange_modes(PskKeyExchangeModes::DheOnly);
    let acceptor =
        PskAcceptor::new(Arc::new(config)).with_handshake_timeout(Some(Duration::from_secs(10)));
    let tcp = bind().await;
    let addr = tcp.local_addr().unwrap();
    let tcp = tcp.tap_io(|io| {
        let _ = io.set_nodelay(true);
    });
    tokio::spawn(async move { axum::serve(PskListener::new(tcp, acceptor), app()).await });
    addr
}

async fn serve_plain() -> SocketAddr {
    let tcp = bind().await;
    let addr = tcp.local_addr().unwrap();
    let tcp = tcp.tap_io(|io| {
        let _ = io.set_nodelay(true);
    });
    tokio::spawn(async move { axum::serve(tcp, app()).await });
    addr
}

async fn serve_cert(config: Arc<ServerConfig>) -> SocketAddr {
    let tcp = bind().await;
    let addr = tcp.local_addr().unwrap();
    let listener = CertListener {
        tcp,
        acceptor: tokio_rustls::TlsAcceptor::from(config),
        handshakes: JoinSet::new(),
    };
    tokio::spawn(async move { axum::serve(listener, app()).await });
    addr
}

/// rustls configurations with an ECDSA P-256 chain (CA → leaf), no resumption, no tickets.
fn cert_configs() -> (Arc<ClientConfig>, Arc<ServerConfig>) {
    let ca_key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca = rcgen::CertifiedIssuer::self_signed(ca_params, ca_key).unwrap();
    let leaf_key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let leaf = rcgen::CertificateParams::new(vec!["aef.example.com".to_string()])
        .unwrap()
        .signed_by(&leaf_key, &*ca)
        .unwrap();
    let mut roots = RootCertStore::empty();
    roots.add(ca.der().clone()).unwrap();
    let mut client = ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    client.resumption = rustls::client::Resumption::disabled();
    let mut server = ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![leaf.der().clone()],
            PrivatePkcs8KeyDer::from(leaf_key.serialize_der()).into(),
        )
        .unwrap();
    server.send_tls13_tickets = 0;
    (Arc::new(client), Arc::new(server))
}

/// stunnel in the foreground on a free loopback port, killed on drop.
struct Stunnel {
    child: Child,
    dir: PathBuf,
    addr: SocketAddr,
}

impl Stunnel {
    fn start(backend: SocketAddr, key: &[u8; 32]) -> Stunnel {
        use std::os::unix::fs::PermissionsExt;
        let bin = std::env::var("STUNNEL").unwrap_or_else(|_| "stunnel4".into());
        let dir = std::env::temp_dir().join(format!("rustls-capif-stunnel-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let secrets = dir.join("psk.txt");
        let hex: String = key.iter().fold(String::new(), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        });
        std::fs::write(&secrets, format!("{INVOKER}:{hex}\n")).unwrap();
        std::fs::set_permissions(&secrets, std::fs::Permissions::from_mode(0o600)).unwrap();
        // A free port: bound, read, released (stunnel binds it a moment later).
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let conf = dir.join("stunnel.conf");
        std::fs::write(
            &conf,
            format!(
                "foreground = yes\npid =\nsyslog = no\ndebug = 3\noutput = {log}\n\
                 [capif]\naccept = {addr}\nconnect = {backend}\nPSKsecrets = {secrets}\n\
                 sslVersionMin = TLSv1.3\nciphersuites = TLS_AES_128_GCM_SHA256\ncurves = X25519\n\
                 socket = l:TCP_NODELAY=1\nsocket = r:TCP_NODELAY=1\n",
                log = dir.join("stunnel.log").display(),
                secrets = secrets.display(),
            ),
        )
        .unwrap();
        let child = Command::new(&bin)
            .arg(&conf)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {bin} (apt-get install stunnel4): {e}"));
        let mut stunnel = Stunnel { child, dir, addr };
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(addr).is_err() {
            if let Ok(Some(status)) = stunnel.child.try_wait() {
                panic!("{bin} exited: {status}; see {}", stunnel.dir.display());
            }
            assert!(Instant::now() < deadline, "{bin} did not listen on {addr}");
            std::thread::sleep(Duration::from_millis(20));
        }
        stunnel
    }
}

impl Drop for Stunnel {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

// ----- server CPU time -----------------------------------------------------------------------

/// Clock ticks per second of `/proc` times.
fn clock_ticks() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok()?.trim().parse().ok())
        .unwrap_or(100.0)
}

/// utime + stime (ticks) from a `/proc/.../stat` line.
fn stat_ticks(stat: &str) -> u64 {
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    // Fields 14 and 15 of proc(5); `fields[0]` is field 3.
    fields
        .get(11)
        .and_then(|f| f.parse::<u64>().ok())
        .unwrap_or(0)
        + fields
            .get(12)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
}

/// CPU ticks used so far by the server side: this process's threads named `server*` (the
/// servers' runtime) and, if given, the whole stunnel process.
fn server_ticks(stunnel: Option<u32>) -> u64 {
    let mut ticks = 0;
    if let Ok(tasks) = std::fs::read_dir("/proc/self/task") {
        for task in tasks.flatten() {
            let comm = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
            if comm.starts_with("server") {
                ticks += stat_ticks(
                    &std::fs::read_to_string(task.path().join("stat")).unwrap_or_default(),
                );
            }
        }
    }
    if let Some(pid) = stunnel {
        ticks +=
            stat_ticks(&std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default());
    }
    ticks
}

// ----- load generator -------------------------------------------------------------------------

trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

#[derive(Clone)]
enum Dialer {
    Psk(PskConnector),
    Cert(tokio_rustls::TlsConnector),
}

impl Dialer {
    async fn dial(&self, addr: SocketAddr) -> std::io::Result<Pin<Box<dyn Io>>> {
        let tcp = TcpStream::connect(addr).await?;
        tcp.set_nodelay(true)?;
        Ok(match self {
            Dialer::Psk(c) => Box::pin(c.connect(tcp).await.map_err(std::io::Error::other)?),
            Dialer::Cert(c) => {
                let name = ServerName::try_from("aef.example.com").unwrap();
                Box::pin(c.connect(name, tcp).await?)
            }
        })
    }
}

/// One `GET /hello`; reads exactly one response and checks it.
async fn exchange(io: &mut Pin<Box<dyn Io>>, buf: &mut Vec<u8>) -> std::io::Result<()> {
    io.write_all(REQUEST).await?;
    io.flush().await?;
    buf.clear();
    let mut chunk = [0u8; 2048];
    loop {
        let n = io.read(&mut chunk).await?;
        if n == 0 {
            return Err(std::io::Error::other("connection closed mid-response"));
        }
        buf.extend_from_slice(&chunk[..n]);
        let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
            continue;
        };
        let head = std::str::from_utf8(&buf[..end]).map_err(std::io::Error::other)?;
        let len: usize = head
            .lines()
            .find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.eq_ignore_ascii_case("content-length")
                    .then(|| v.trim().parse().ok())?
            })
            .ok_or_else(|| std::io::Error::other("no content-length"))?;
        if buf.len() < end + 4 + len {
            continue;
        }
        if !head.starts_with("HTTP/1.1 200") || &buf[end + 4..] != BODY {
            return Err(std::io::Error::other("unexpected response"));
        }
        return Ok(());
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    NewConnection,
    KeepAlive,
}

#[derive(Default)]
struct Sample {
    ops: u64,
    /// Server-side CPU ticks (see [`server_ticks`]).
    server_ticks: u64,
    errors: u64,
    secs: f64,
    latencies_ns: Vec<u64>,
    /// The rate of each round merged in.
    round_rates: Vec<f64>,
}

impl Sample {
    fn rate(&self) -> f64 {
        self.ops as f64 / self.secs
    }
    /// The median of the rounds' rates (the load of this shared machine drifts between
    /// rounds; the rotating order spreads the drift over the servers).
    fn median_rate(&self) -> f64 {
        let mut r = self.round_rates.clone();
        r.sort_by(f64::total_cmp);
        match r.len() {
            0 => f64::NAN,
            n if n % 2 == 1 => r[n / 2],
            n => (r[n / 2 - 1] + r[n / 2]) / 2.0,
        }
    }
    fn server_cpu_us_per_op(&self, ticks_per_s: f64) -> f64 {
        self.server_ticks as f64 / ticks_per_s * 1e6 / self.ops as f64
    }
    fn percentile(&self, p: f64) -> f64 {
        let mut l = self.latencies_ns.clone();
        l.sort_unstable();
        if l.is_empty() {
            return f64::NAN;
        }
        let i = ((l.len() as f64 - 1.0) * p).round() as usize;
        l[i] as f64 / 1000.0
    }
    fn merge(&mut self, other: Sample) {
        self.ops += other.ops;
        self.server_ticks += other.server_ticks;
        self.errors += other.errors;
        self.secs += other.secs;
        self.latencies_ns.extend(other.latencies_ns);
        self.round_rates.push(other.ops as f64 / other.secs);
    }
}

async fn run(dialer: Dialer, addr: SocketAddr, mode: Mode, conns: usize, secs: f64) -> Sample {
    let start = Instant::now();
    let deadline = start + Duration::from_secs_f64(secs);
    let mut tasks = JoinSet::new();
    for _ in 0..conns {
        let dialer = dialer.clone();
        tasks.spawn(async move {
            let mut s = Sample::default();
            let mut buf = Vec::with_capacity(512);
            let mut kept: Option<Pin<Box<dyn Io>>> = None;
            while Instant::now() < deadline {
                let t0 = Instant::now();
                let result = async {
                    match mode {
                        Mode::NewConnection => {
                            let mut io = dialer.dial(addr).await?;
                            exchange(&mut io, &mut buf).await?;
                            let elapsed = t0.elapsed();
                            let _ = io.shutdown().await;
                            Ok::<_, std::io::Error>(elapsed)
                        }
                        Mode::KeepAlive => {
                            if kept.is_none() {
                                kept = Some(dialer.dial(addr).await?);
                            }
                            let t0 = Instant::now();
                            exchange(kept.as_mut().unwrap(), &mut buf).await?;
                            Ok(t0.elapsed())
                        }
                    }
                }
                .await;
                match result {
                    Ok(elapsed) => {
                        s.ops += 1;
                        s.latencies_ns.push(elapsed.as_nanos() as u64);
                    }
                    Err(e) => {
                        if s.errors == 0 {
                            eprintln!("  error: {e}");
                        }
                        s.errors += 1;
                        kept = None;
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    }
                }
            }
            s
        });
    }
    let mut total = Sample::default();
    while let Some(s) = tasks.join_next().await {
        total.merge(s.unwrap());
    }
    total.secs = start.elapsed().as_secs_f64();
    total
}

fn env<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let secs: f64 = env("SECS", 3.0);
    let rounds: usize = env("ROUNDS", 4);
    let conns: usize = env("CONNS", 16);
    let cases: String = env("CASES", "ours,stunnel,cert".to_string());
    let cases: Vec<&str> = cases.split(',').collect();
    let key = key();
    let psk = ExternalPsk::new(INVOKER.as_bytes().to_vec(), &key, PskHash::Sha256).unwrap();

    // The servers on a runtime of their own (2 workers); the load generator on another.
    let servers = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("server")
        .enable_all()
        .build()
        .unwrap();
    let (cert_client, cert_server) = cert_configs();
    let (ours, plain, cert) = servers.block_on(async {
        (
            serve_ours(psk.clone()).await,
            serve_plain().await,
            serve_cert(cert_server).await,
        )
    });
    let stunnel = cases
        .contains(&"stunnel")
        .then(|| Stunnel::start(plain, &key));

    let psk_client = PskConnector::new(Arc::new(
        PskClientConfig::with_provider(psk, provider())
            .with_key_exchange_modes(PskKeyExchangeModes::DheOnly),
    ))
    .with_handshake_timeout(Some(Duration::from_secs(10)));
    let mut targets: Vec<(&str, Dialer, SocketAddr)> = Vec::new();
    for case in &cases {
        match *case {
            "ours" => targets.push(("ours", Dialer::Psk(psk_client.clone()), ours)),
            "stunnel" => targets.push((
                "stunnel",
                Dialer::Psk(psk_client.clone()),
                stunnel.as_ref().unwrap().addr,
            )),
            "cert" => targets.push((
                "cert",
                Dialer::Cert(tokio_rustls::TlsConnector::from(cert_client.clone())),
                cert,
            )),
            other => panic!("unknown case {other}"),
        }
    }

    let ticks_per_s = clock_ticks();
    let client = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("loadgen")
        .enable_all()
        .build()
        .unwrap();
    let results = client.block_on(async {
        // Each server answers once before anything is timed.
        for (name, dialer, addr) in &targets {
            let mut io = dialer.dial(*addr).await.unwrap_or_else(|e| panic!("{name}: {e}"));
            exchange(&mut io, &mut Vec::new())
                .await
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            let _ = io.shutdown().await;
        }
        let modes = [Mode::NewConnection, Mode::KeepAlive];
        let mut results: Vec<[Sample; 2]> = targets.iter().map(|_| Default::default()).collect();
        println!("serving: {secs} s per case, {rounds} rounds, {conns} connections");
        for round in 0..rounds {
            for k in 0..targets.len() {
                let i = (k + round) % targets.len();
                let (name, dialer, addr) = &targets[i];
                let stunnel_pid = (*name == "stunnel").then(|| stunnel.as_ref().unwrap().child.id());
                for (m, mode) in modes.iter().enumerate() {
                    let before = server_ticks(stunnel_pid);
                    let mut s = run(dialer.clone(), *addr, *mode, conns, secs).await;
                    s.server_ticks = server_ticks(stunnel_pid) - before;
                    println!(
                        "round {round} {name:8} {:10} {:9.0}/s  p50 {:7.0} µs  p99 {:7.0} µs  server CPU {:5.1} µs/op  errors {}",
                        if m == 0 { "new-conn" } else { "keep-alive" },
                        s.rate(),
                        s.percentile(0.5),
                        s.percentile(0.99),
                        s.server_cpu_us_per_op(ticks_per_s),
                        s.errors
                    );
                    results[i][m].merge(s);
                }
            }
        }
        results
    });
    drop(stunnel);

    let base = |m: usize| {
        targets
            .iter()
            .zip(&results)
            .map(|((n, ..), r)| (*n, r[m].median_rate()))
            .collect::<Vec<_>>()
    };
    let ratio = |name: &str, m: usize, rate: f64| {
        base(m)
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, r)| format!("{:.2}×", rate / r))
            .unwrap_or_else(|| "-".into())
    };
    println!();
    println!("| server | mode | per s (median of rounds) | p50 µs | p99 µs | server CPU µs/op | errors | vs stunnel | vs cert |");
    println!("|---|---|---:|---:|---:|---:|---:|---:|---:|");
    for ((name, ..), r) in targets.iter().zip(&results) {
        for (m, s) in r.iter().enumerate() {
            println!(
                "| {name} | {} | {:.0} | {:.0} | {:.0} | {:.1} | {} | {} | {} |",
                if m == 0 {
                    "new connection + 1 GET"
                } else {
                    "GET, kept alive"
                },
                s.median_rate(),
                s.percentile(0.5),
                s.percentile(0.99),
                s.server_cpu_us_per_op(ticks_per_s),
                s.errors,
                ratio("stunnel", m, s.median_rate()),
                ratio("cert", m, s.median_rate()),
            );
        }
    }
    drop(servers);
}
