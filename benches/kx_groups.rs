//! Cost of one TLS 1.3 PSK handshake (`psk_dhe_ke`, AES-128-GCM-SHA256, client and server in
//! one thread over memory buffers) per key-exchange group: X25519 (the default) against the
//! RFC 7919 groups ffdhe2048 and ffdhe3072 (`kx::ffdhe`, feature `ffdhe`).
//!
//! ```sh
//! cargo bench --features ffdhe --bench kx_groups                   # criterion, then the ratio table
//! cargo bench --features ffdhe --bench kx_groups -- --report-only  # only the interleaved ratio table
//! ```
//!
//! The ratio table comes from interleaved medians (the groups run round-robin), so load
//! drifting during the run hits every group alike; it is the figure to quote.

use std::hint::black_box;
use std::io::Read;
use std::ops::DerefMut;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, Criterion};
use rustls::NamedGroup;
use rustls_capif::psk::*;

const GROUPS: [(&str, NamedGroup); 3] = [
    ("x25519", NamedGroup::X25519),
    ("ffdhe2048", NamedGroup::FFDHE2048),
    ("ffdhe3072", NamedGroup::FFDHE3072),
];

fn configs(group: NamedGroup) -> (Arc<PskClientConfig>, Arc<PskServerConfig>) {
    let psk = ExternalPsk::new(b"invoker-1".to_vec(), &[0x42; 32], PskHash::Sha256).unwrap();
    let keys: StaticPskResolver = [psk.clone()].into_iter().collect();
    let client = PskClientConfig::new(psk).with_groups(&[group]).unwrap();
    let server = PskServerConfig::new(Arc::new(keys))
        .with_groups(&[group])
        .unwrap();
    (Arc::new(client), Arc::new(server))
}

fn transfer(from: &mut ConnectionCommon, to: &mut ConnectionCommon) {
    let mut buf = Vec::new();
    while from.wants_write() {
        from.write_tls(&mut buf).unwrap();
    }
    let mut rd = buf.as_slice();
    while !rd.is_empty() {
        to.read_tls(&mut rd).unwrap();
    }
}

/// One full handshake, checked to have used `group`.
fn handshake(client: &Arc<PskClientConfig>, server: &Arc<PskServerConfig>, group: NamedGroup) {
    let mut c = PskClientConnection::new(client.clone()).unwrap();
    let mut s = PskServerConnection::new(server.clone());
    while c.is_handshaking() || s.is_handshaking() {
        transfer(c.deref_mut(), s.deref_mut());
        s.process_new_packets().unwrap();
        transfer(s.deref_mut(), c.deref_mut());
        c.process_new_packets().unwrap();
    }
    assert_eq!(s.negotiated_key_exchange_group(), Some(group));
    let mut sink = [0u8; 1];
    let _ = black_box(c.reader().read(&mut sink));
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("psk_handshake_by_group");
    for (name, group) in GROUPS {
        let (client, server) = configs(group);
        g.bench_function(name, |b| b.iter(|| handshake(&client, &server, group)));
    }
    g.finish();
}

/// Interleaved medians: each round runs one handshake of every group, `rounds` times.
fn report(rounds: usize) {
    let configs: Vec<_> = GROUPS.iter().map(|(_, g)| configs(*g)).collect();
    let mut times: Vec<Vec<Duration>> = vec![Vec::with_capacity(rounds); GROUPS.len()];
    for _ in 0..rounds {
        for (i, (_, group)) in GROUPS.iter().enumerate() {
            let (client, server) = &configs[i];
            let start = Instant::now();
            handshake(client, server, *group);
            times[i].push(start.elapsed());
        }
    }
    let median = |v: &mut Vec<Duration>| {
        v.sort();
        v[v.len() / 2]
    };
    let medians: Vec<Duration> = times.iter_mut().map(median).collect();
    println!(
        "\nPSK handshake (client + server, one thread), interleaved medians of {rounds} rounds:"
    );
    println!(
        "{:<10} {:>12} {:>14} {:>10}",
        "group", "median", "handshakes/s", "vs x25519"
    );
    for (i, (name, _)) in GROUPS.iter().enumerate() {
        let m = medians[i];
        println!(
            "{:<10} {:>10.1}us {:>14.0} {:>9.1}x",
            name,
            m.as_secs_f64() * 1e6,
            1.0 / m.as_secs_f64(),
            m.as_secs_f64() / medians[0].as_secs_f64()
        );
    }
}

criterion_group!(benches, bench);

fn main() {
    let report_only = std::env::args().any(|a| a == "--report-only");
    if !report_only {
        benches();
        Criterion::default().configure_from_args().final_summary();
    }
    report(200);
}
