//! CAPIF-1e costs, measured side by side in one run:
//!
//! * `aefpsk/*` — AEFPSK derivation: the TS 33.220 KDF alone, and through TLS 1.2 / TLS 1.3
//!   session objects (TLS 1.3 includes computing the exporter value from the captured
//!   exporter master secret);
//! * `taps/*` — one end's hello taps fed both directions of a whole real handshake;
//! * `handshake_tls12/*`, `handshake_tls13/*` — a full certificate handshake (ECDSA P-256,
//!   client and server in one thread over memory buffers) with stock rustls (`plain`) and with
//!   the CAPIF-1e hook (`hook`: the same rustls configs wrapped by `InvokerConfig` /
//!   `CcfConfig`, a per-connection config for each end, both ends' hello taps fed with both
//!   directions, and both `Capif1eSession`s built);
//! * after the criterion groups (only under `cargo bench`), an interleaved run of the same
//!   handshakes that prints medians and ratios to plain rustls — robust against a machine whose
//!   load drifts between criterion groups — and splits the hook into its parts (per-connection
//!   configs with key log capture, + hello taps, + building both sessions).
//!
//! ```text
//! cargo bench --bench capif1e
//! cargo bench --bench capif1e -- --measurement-time 3 --warm-up-time 1   # shorter
//! ```

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, Criterion};
use rustls::client::Resumption;
use rustls::pki_types::{PrivatePkcs8KeyDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, ServerConfig, ServerConnection};
use rustls_capif::capif1e::{
    Capif1eProfile, Capif1eSession, CcfConfig, InvokerConfig, SessionCapture,
};
use rustls_capif::kdf::derive_aefpsk;
use rustls_capif::ServiceApiInterface;

struct Configs {
    client: Arc<ClientConfig>,
    server: Arc<ServerConfig>,
    invoker: InvokerConfig,
    ccf: CcfConfig,
}

fn configs(version: &'static rustls::SupportedProtocolVersion) -> Configs {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca = rcgen::CertifiedIssuer::self_signed(ca_params, ca_key).unwrap();
    let leaf_key = rcgen::KeyPair::generate().unwrap();
    let leaf = rcgen::CertificateParams::new(vec!["ccf.example.com".to_string()])
        .unwrap()
        .signed_by(&leaf_key, &*ca)
        .unwrap();
    let mut roots = RootCertStore::empty();
    roots.add(ca.der().clone()).unwrap();
    let provider = rustls_capif::default_provider();

    let mut client = ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[version])
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    // Every iteration is a full handshake, for plain rustls and the hook alike.
    client.resumption = Resumption::disabled();
    let server = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[version])
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![leaf.der().clone()],
            PrivatePkcs8KeyDer::from(leaf_key.serialize_der()).into(),
        )
        .unwrap();
    // The TLS 1.3 cases derive with this crate's exporter profile, opted into on both ends
    // (the default, TS 33.122 Annex A.1, derives nothing from TLS 1.3).
    Configs {
        invoker: InvokerConfig::new(client.clone()).with_profile(Capif1eProfile::Tls13Exporter),
        ccf: CcfConfig::new(server.clone())
            .unwrap()
            .with_profile(Capif1eProfile::Tls13Exporter),
        client: Arc::new(client),
        server: Arc::new(server),
    }
}

/// One full handshake in memory. `captures`, if given, are the invoker's and the CCF's: each
/// sees both directions of the connection, as its `TapStream` would.
fn run_handshake(
    client_config: Arc<ClientConfig>,
    server_config: Arc<ServerConfig>,
    mut captures: Option<(&mut SessionCapture, &mut SessionCapture)>,
) -> (ClientConnection, ServerConnection) {
    let name = ServerName::try_from("ccf.example.com").unwrap();
    let mut client = ClientConnection::new(client_config, name).unwrap();
    let mut server = ServerConnection::new(server_config).unwrap();
    let mut buf = Vec::with_capacity(8192);
    while client.is_handshaking() || server.is_handshaking() {
        buf.clear();
        while client.wants_write() {
            client.write_tls(&mut buf).unwrap();
        }
        if let Some((invoker, ccf)) = captures.as_mut() {
            let _ = invoker.client_sent(&buf);
            let _ = ccf.client_sent(&buf);
        }
        let mut rd = &buf[..];
        while !rd.is_empty() {
            server.read_tls(&mut rd).unwrap();
            server.process_new_packets().unwrap();
        }
        buf.clear();
        while server.wants_write() {
            server.write_tls(&mut buf).unwrap();
        }
        if let Some((invoker, ccf)) = captures.as_mut() {
            let _ = invoker.server_sent(&buf);
            let _ = ccf.server_sent(&buf);
        }
        let mut rd = &buf[..];
        while !rd.is_empty() {
            client.read_tls(&mut rd).unwrap();
            client.process_new_packets().unwrap();
        }
    }
    (client, server)
}

/// How much of the hook a handshake runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    /// Stock rustls with the user's configs.
    Plain,
    /// Per-connection wrapped configs (key log capture), nothing else.
    WrappedConfigs,
    /// Wrapped configs and both ends' hello taps fed.
    WrappedAndTaps,
    /// The whole hook: wrapped configs, taps, and both `Capif1eSession`s built.
    Hook,
}

/// One full handshake; with the whole hook, returns both sessions.
fn handshake(c: &Configs, mode: Mode) -> Option<(Capif1eSession, Capif1eSession)> {
    if mode == Mode::Plain {
        black_box(run_handshake(c.client.clone(), c.server.clone(), None));
        return None;
    }
    let (client_config, mut invoker) = c.invoker.connection_config();
    let (server_config, mut ccf) = c.ccf.connection_config();
    if mode == Mode::WrappedConfigs {
        black_box(run_handshake(client_config, server_config, None));
        return None;
    }
    let (client, server) =
        run_handshake(client_config, server_config, Some((&mut invoker, &mut ccf)));
    if mode == Mode::WrappedAndTaps {
        black_box((client, server, invoker, ccf));
        return None;
    }
    Some((
        invoker.session(&client).unwrap(),
        ccf.session(&server).unwrap(),
    ))
}

fn bench_aefpsk(cr: &mut Criterion) {
    let mut g = cr.benchmark_group("aefpsk");
    let aef = ServiceApiInterface::parse("aef.example.com:8443").unwrap();
    let (ms, sid) = ([0x5au8; 48], [0xa5u8; 32]);
    g.bench_function("derive_aefpsk", |b| {
        b.iter(|| derive_aefpsk(black_box(&ms), black_box(&sid), black_box(&aef)).unwrap())
    });
    for (name, version) in [
        ("session_tls12", &rustls::version::TLS12),
        ("session_tls13", &rustls::version::TLS13),
    ] {
        let (session, _) = handshake(&configs(version), Mode::Hook).unwrap();
        g.bench_function(name, |b| {
            b.iter(|| session.derive_aef_psk(black_box(&aef)).unwrap())
        });
    }
    g.finish();
}

/// Both directions of one real handshake, as bytes.
fn record_wire(c: &Configs) -> (Vec<u8>, Vec<u8>) {
    let name = ServerName::try_from("ccf.example.com").unwrap();
    let mut client = ClientConnection::new(c.client.clone(), name).unwrap();
    let mut server = ServerConnection::new(c.server.clone()).unwrap();
    let (mut c2s, mut s2c) = (Vec::new(), Vec::new());
    while client.is_handshaking() || server.is_handshaking() {
        let start = c2s.len();
        while client.wants_write() {
            client.write_tls(&mut c2s).unwrap();
        }
        let mut rd = &c2s[start..];
        while !rd.is_empty() {
            server.read_tls(&mut rd).unwrap();
            server.process_new_packets().unwrap();
        }
        let start = s2c.len();
        while server.wants_write() {
            server.write_tls(&mut s2c).unwrap();
        }
        let mut rd = &s2c[start..];
        while !rd.is_empty() {
            client.read_tls(&mut rd).unwrap();
            client.process_new_packets().unwrap();
        }
    }
    (c2s, s2c)
}

/// The hello taps of one end fed a whole real handshake (both directions).
fn bench_taps(cr: &mut Criterion) {
    let mut g = cr.benchmark_group("taps");
    for (name, version) in [
        ("tls12_handshake", &rustls::version::TLS12),
        ("tls13_handshake", &rustls::version::TLS13),
    ] {
        let c = configs(version);
        let (c2s, s2c) = record_wire(&c);
        g.bench_function(name, |b| {
            b.iter(|| {
                let mut taps = rustls_capif::capif1e::HelloTaps::new();
                taps.client_sent(black_box(&c2s)).unwrap();
                taps.server_sent(black_box(&s2c)).unwrap();
                taps
            })
        });
    }
    g.finish();
}

fn bench_handshakes(cr: &mut Criterion) {
    for (group, version) in [
        ("handshake_tls12", &rustls::version::TLS12),
        ("handshake_tls13", &rustls::version::TLS13),
    ] {
        let c = configs(version);
        let mut g = cr.benchmark_group(group);
        g.bench_function("plain", |b| b.iter(|| handshake(&c, Mode::Plain)));
        g.bench_function("hook", |b| b.iter(|| handshake(&c, Mode::Hook)));
        g.finish();
    }
}

/// Runs the modes round-robin (rotating the order every round) and prints the median of each
/// and its ratio to plain rustls.
fn interleaved_report() {
    const ROUNDS: usize = 600;
    const MODES: [Mode; 4] = [
        Mode::Plain,
        Mode::WrappedConfigs,
        Mode::WrappedAndTaps,
        Mode::Hook,
    ];
    println!("\ninterleaved run, {ROUNDS} rounds per version, medians (ratio to plain):");
    for (label, version) in [
        ("TLS 1.2", &rustls::version::TLS12),
        ("TLS 1.3", &rustls::version::TLS13),
    ] {
        let c = configs(version);
        for _ in 0..50 {
            for mode in MODES {
                black_box(handshake(&c, mode));
            }
        }
        let mut times = [(); MODES.len()].map(|_| Vec::with_capacity(ROUNDS));
        for round in 0..ROUNDS {
            for k in 0..MODES.len() {
                let i = (round + k) % MODES.len();
                let t = Instant::now();
                black_box(handshake(&c, MODES[i]));
                times[i].push(t.elapsed());
            }
        }
        let medians = times.map(|mut v| {
            v.sort();
            v[v.len() / 2].as_secs_f64()
        });
        println!("  {label}:");
        for (mode, m) in MODES.iter().zip(medians) {
            println!(
                "    {:<15} {:8.1} µs  {:.4} ({:+.2}%)",
                format!("{mode:?}"),
                m * 1e6,
                m / medians[0],
                (m / medians[0] - 1.0) * 100.0
            );
        }
    }
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_secs(2))
        .measurement_time(Duration::from_secs(6))
        .sample_size(60)
}

criterion_group! {
    name = benches;
    config = config();
    targets = bench_aefpsk, bench_taps, bench_handshakes
}

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
    // `cargo bench` passes --bench; `cargo test --benches` does not: keep that run short.
    if std::env::args().any(|a| a == "--bench") {
        interleaved_report();
    }
}
