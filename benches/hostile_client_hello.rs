//! Server work per hostile ClientHello (issue 10 §1): maximal-size ClientHellos of several
//! shapes, each measured from bytes-in to the server's first answer (here: its alert, since
//! the attacker knows no key), as a ratio to a baseline ClientHello of the same size padded
//! with one unknown extension.
//!
//! ```sh
//! cargo bench --bench hostile_client_hello                    # criterion, then the ratio table
//! cargo bench --bench hostile_client_hello -- --report-only   # only the interleaved ratio table
//! ```
//!
//! Every ClientHello is our own client's, offering an identity the server does not know,
//! reshaped with the independent toolkit of `tests/common/raw.rs` and padded (extension type
//! 21, `padding`, which the server does not interpret) to a handshake body of exactly
//! [`BODY_LEN`] octets. The ratio table is built from interleaved medians (the shapes run
//! round-robin), so load drifting during the run hits every shape alike.

#[allow(dead_code)]
#[path = "../tests/common/raw.rs"]
mod raw;

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, Criterion};
use raw::{ext, vec16, vec8, ClientHello, Extensions, HANDSHAKE};
use rustls_capif::psk::*;

/// Handshake body length of every ClientHello (the largest a handshake message may have).
const BODY_LEN: usize = 0xffff;
const PADDING: u16 = 21;
const X25519: u16 = 0x001d;

fn server_config() -> Arc<PskServerConfig> {
    let known = ExternalPsk::new(b"invoker-1".to_vec(), &[0x42; 32], PskHash::Sha256).unwrap();
    let keys: StaticPskResolver = [known].into_iter().collect();
    Arc::new(PskServerConfig::new(Arc::new(keys)))
}

/// Our client's ClientHello for an identity the server does not know.
fn client_hello() -> ClientHello {
    let psk = ExternalPsk::new(b"invoker-unknown".to_vec(), &[7; 32], PskHash::Sha256).unwrap();
    let mut client = PskClientConnection::new(Arc::new(PskClientConfig::new(psk))).unwrap();
    let mut wire = Vec::new();
    while client.wants_write() {
        client.write_tls(&mut wire).unwrap();
    }
    let records = raw::parse_records(&wire);
    assert_eq!(records[0].typ, HANDSHAKE);
    ClientHello::parse(&records[0].body)
}

/// Pads `ch` with one `padding` extension (before pre_shared_key) to [`BODY_LEN`].
fn pad(mut ch: ClientHello) -> Vec<u8> {
    ch.remove_ext(PADDING);
    let len = ch.encode().len() - 4;
    let room = BODY_LEN
        .checked_sub(len + 4)
        .expect("shape leaves room for the padding extension");
    ch.set_ext(PADDING, vec![0; room]);
    let message = ch.encode();
    assert_eq!(message.len(), 4 + BODY_LEN);
    message
}

/// Room left in `ch` for a shape's payload, keeping 8 octets for the padding extension.
fn room(ch: &ClientHello) -> usize {
    BODY_LEN - (ch.encode().len() - 4) - 8
}

/// Distinct code points that are not extensions/groups/suites the engine knows.
fn distinct(n: usize) -> impl Iterator<Item = u16> {
    (0..n).map(|i| 0x2000 + i as u16)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Shape {
    Baseline,
    KeyShares,
    Groups,
    IdentitiesLongBinders,
    IdentitiesShort,
    Extensions,
    Suites,
    Alpn,
    Fragmented,
}

const SHAPES: [Shape; 9] = [
    Shape::Baseline,
    Shape::KeyShares,
    Shape::Groups,
    Shape::IdentitiesLongBinders,
    Shape::IdentitiesShort,
    Shape::Extensions,
    Shape::Suites,
    Shape::Alpn,
    Shape::Fragmented,
];

impl Shape {
    fn name(self) -> &'static str {
        match self {
            Shape::Baseline => "baseline_padding",
            Shape::KeyShares => "key_shares",
            Shape::Groups => "supported_groups",
            Shape::IdentitiesLongBinders => "identities_long_binders",
            Shape::IdentitiesShort => "identities_short",
            Shape::Extensions => "extensions",
            Shape::Suites => "cipher_suites",
            Shape::Alpn => "alpn_protocols",
            Shape::Fragmented => "fragmented_1_octet_records",
        }
    }

    fn what(self) -> &'static str {
        match self {
            Shape::Baseline => "one unknown extension (padding) fills the message",
            Shape::KeyShares => {
                "supported_groups and key_share list the same ~9 300 distinct groups (1-octet keys)"
            }
            Shape::Groups => "supported_groups lists ~32 700 distinct groups, one X25519 share",
            Shape::IdentitiesLongBinders => "~240 identities, each with a 255-octet binder",
            Shape::IdentitiesShort => "~1 600 identities of 2 octets with 32-octet binders",
            Shape::Extensions => "~16 300 distinct empty unknown extensions",
            Shape::Suites => "~32 600 distinct cipher suites, the real ones last",
            Shape::Alpn => "~32 600 one-octet ALPN protocols",
            Shape::Fragmented => "the baseline message in records of one octet each",
        }
    }

    /// The bytes the client sends.
    fn wire(self) -> Vec<u8> {
        let mut ch = client_hello();
        match self {
            Shape::Baseline | Shape::Fragmented => {}
            Shape::KeyShares => {
                ch.set_ext(ext::SUPPORTED_GROUPS, vec![]);
                ch.set_ext(ext::KEY_SHARE, vec![]);
                // Per extra group: 2 octets in supported_groups, 5 in key_share.
                let n = (room(&ch) - 42) / 7;
                let groups: Vec<u16> = distinct(n).chain([X25519]).collect();
                let key = [9u8; 32];
                let shares: Vec<(u16, &[u8])> = distinct(n)
                    .map(|g| (g, &[1u8][..]))
                    .chain([(X25519, &key[..])])
                    .collect();
                ch.set_ext(ext::SUPPORTED_GROUPS, vec16(&raw::u16s(&groups)));
                ch.set_key_shares(&shares);
            }
            Shape::Groups => {
                ch.set_ext(ext::SUPPORTED_GROUPS, vec![]);
                let n = (room(&ch) - 4) / 2;
                let groups: Vec<u16> = distinct(n).chain([X25519]).collect();
                ch.set_ext(ext::SUPPORTED_GROUPS, vec16(&raw::u16s(&groups)));
            }
            Shape::IdentitiesLongBinders | Shape::IdentitiesShort => {
                let (id_len, binder_len) = match self {
                    Shape::IdentitiesLongBinders => (4, 255),
                    _ => (2, 32),
                };
                let mut offer = ch.psk_offer();
                let per = 2 + id_len + 4 + 1 + binder_len;
                let n = room(&ch) / per;
                for i in 0..n {
                    let id = (i as u32).to_be_bytes()[4 - id_len..].to_vec();
                    offer.identities.push((id, 0));
                    offer.binders.push(vec![0xab; binder_len]);
                }
                ch.set_psk_offer(&offer);
            }
            Shape::Extensions => {
                let n = room(&ch) / 4;
                let at = ch.extensions.len() - 1; // before pre_shared_key
                ch.extensions
                    .splice(at..at, distinct(n).map(|t| (t, vec![])));
            }
            Shape::Suites => {
                let n = room(&ch) / 2;
                let mut suites: Vec<u16> = distinct(n).collect();
                suites.extend_from_slice(&ch.cipher_suites);
                ch.cipher_suites = suites;
            }
            Shape::Alpn => {
                let n = (room(&ch) - 6) / 2;
                let list: Vec<u8> = (0..n).flat_map(|i| vec8(&[(i % 251) as u8 + 1])).collect();
                ch.set_ext(ext::ALPN, vec16(&list));
            }
        }
        let message = pad(ch);
        match self {
            Shape::Fragmented => message
                .iter()
                .flat_map(|b| raw::record(HANDSHAKE, &[*b]))
                .collect(),
            _ => raw::records(HANDSHAKE, &message),
        }
    }
}

/// Feeds `wire` to a new server until it answers; returns what it queued (its answer).
fn serve(config: &Arc<PskServerConfig>, mut wire: &[u8], out: &mut Vec<u8>) {
    let mut server = PskServerConnection::new(config.clone());
    out.clear();
    loop {
        if !wire.is_empty() {
            server.read_tls(&mut wire).unwrap();
        }
        let done = server.process_new_packets().is_err() || server.wants_write();
        if done || wire.is_empty() {
            break;
        }
    }
    while server.wants_write() {
        server.write_tls(out).unwrap();
    }
}

struct Fixtures {
    config: Arc<PskServerConfig>,
    wires: Vec<(Shape, Vec<u8>)>,
}

impl Fixtures {
    fn new() -> Self {
        let config = server_config();
        let wires = SHAPES.iter().map(|s| (*s, s.wire())).collect();
        let f = Self { config, wires };
        // Every shape is answered (an alert: nobody knows a key).
        let mut out = Vec::new();
        for (shape, wire) in &f.wires {
            serve(&f.config, wire, &mut out);
            let records = raw::parse_records(&out);
            assert!(
                records.len() == 1 && records[0].typ == raw::ALERT,
                "{shape:?} answered {records:02x?}"
            );
        }
        f
    }
}

fn bench(c: &mut Criterion) {
    let f = Fixtures::new();
    let mut g = c.benchmark_group("hostile_client_hello");
    g.measurement_time(Duration::from_secs(3));
    g.warm_up_time(Duration::from_millis(500));
    g.sample_size(20);
    let mut out = Vec::new();
    for (shape, wire) in &f.wires {
        g.bench_function(shape.name(), |b| {
            b.iter(|| serve(&f.config, black_box(wire), &mut out))
        });
    }
    g.finish();
}

/// Interleaved medians: each round runs every shape once, in a rotating order.
fn report() {
    let f = Fixtures::new();
    let rounds: usize = std::env::var("HOSTILE_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(60);
    let mut times: Vec<Vec<Duration>> = vec![Vec::new(); f.wires.len()];
    let mut out = Vec::new();
    for round in 0..rounds {
        for k in 0..f.wires.len() {
            let i = (k + round) % f.wires.len();
            let (_, wire) = &f.wires[i];
            let start = Instant::now();
            serve(&f.config, black_box(wire), &mut out);
            times[i].push(start.elapsed());
        }
    }
    let medians: Vec<Duration> = times
        .iter_mut()
        .map(|t| {
            t.sort_unstable();
            t[t.len() / 2]
        })
        .collect();
    let base = medians[0].as_secs_f64();
    println!(
        "\nhostile_client_hello: interleaved medians of {rounds} rounds, handshake body {BODY_LEN} octets"
    );
    println!("| shape | what | wire octets | server µs | vs baseline |");
    println!("|---|---|---:|---:|---:|");
    for ((shape, wire), m) in f.wires.iter().zip(&medians) {
        println!(
            "| `{}` | {} | {} | {:.1} | **{:.2}×** |",
            shape.name(),
            shape.what(),
            wire.len(),
            m.as_secs_f64() * 1e6,
            m.as_secs_f64() / base
        );
    }
}

criterion_group!(benches, bench);

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let report_only = args.iter().any(|a| a == "--report-only");
    let bench_mode = args.iter().any(|a| a == "--bench");
    if !report_only {
        benches();
        Criterion::default().configure_from_args().final_summary();
    }
    if report_only || bench_mode {
        report();
    } else {
        // `cargo test --benches`: one pass over every shape as a smoke test.
        let _ = Fixtures::new();
    }
}
