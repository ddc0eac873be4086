//! The CAPIF-2e external-PSK engine measured side by side with rustls and OpenSSL, in one run
//! (DESIGN §7; issue 6). Everything is in memory, client and server in one thread, TLS bytes
//! shuttled through a `Vec<u8>`; every comparison uses TLS 1.3, TLS_AES_128_GCM_SHA256 (or
//! the suite named) and X25519, and the same rustls crypto provider (aws-lc-rs by default)
//! for our engine and rustls.
//!
//! * `handshake/*` — one full handshake, both ends:
//!   * `psk_dhe_ke`, `psk_ke` — our external-PSK handshake in both PSK modes;
//!   * `rustls_ecdsa_p256` — rustls's certificate handshake with an ECDSA P-256 leaf issued by
//!     an ECDSA P-256 CA (rcgen), the client verifying the chain: what security method 2 costs;
//!   * `openssl_psk_dhe_ke` — OpenSSL 3's external-PSK handshake (the `openssl` crate, PSK
//!     callbacks, no server certificate, no tickets, session cache off), in-memory streams.
//!   * `tls12_ecdhe_psk`, `rustls_tls12_ecdsa_p256`, `openssl_tls12_ecdhe_psk` — the same three
//!     on TLS 1.2: our `TLS_ECDHE_PSK_WITH_CHACHA20_POLY1305_SHA256` (RFC 7905) handshake with
//!     the extended master secret, rustls's `TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256`
//!     with the same chain, and OpenSSL's `ECDHE-PSK-CHACHA20-POLY1305` (PSK callbacks, EMS on
//!     as OpenSSL defaults), all over X25519.
//! * `bulk_aes128gcm/*`, `bulk_chacha20poly1305/*` — one 16 KiB application-data record on an
//!   established connection: written and sealed by the client, read, opened and read out by
//!   the server; ours vs rustls. `bulk_tls12_chacha20poly1305/*`: the same on the TLS 1.2
//!   connections above, ours vs rustls vs OpenSSL.
//! * After the criterion groups (only under `cargo bench`), an interleaved run of the same
//!   cases — round-robin with a rotating order, so load drifting on a shared machine hits every
//!   case alike — printing medians and the ratios the targets are stated in, then the heap
//!   bytes per established connection pair (a counting global allocator; ours vs rustls).
//!
//! ```text
//! cargo bench --bench psk
//! cargo bench --bench psk -- --measurement-time 3 --warm-up-time 1   # shorter
//! cargo bench --bench psk -- --report-only                            # only the interleaved run
//! ```
//!
//! `PSK_BULK_ONLY=1 cargo bench --bench psk -- --report-only` runs only the interleaved bulk
//! comparison.
//!
//! For instruction counts under callgrind, `PSK_BENCH_CASE=<case> PSK_BENCH_ITERS=<n>` runs
//! just `n` iterations of one case (after a warm-up) inside `psk::measured_loop` and exits;
//! see `scripts/bench-callgrind.sh` and BENCHMARKS.md.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::RefCell;
use std::collections::VecDeque;
use std::hint::black_box;
use std::io::{self, Read, Write};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicIsize, AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, Criterion, Throughput};
use openssl::ssl::{
    Ssl, SslContext, SslContextBuilder, SslMethod, SslOptions, SslSessionCacheMode, SslStream,
    SslVersion,
};
use rustls::client::Resumption;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{PrivatePkcs8KeyDer, ServerName};
use rustls::{
    CipherSuite, ClientConfig, ClientConnection, NamedGroup, RootCertStore, ServerConfig,
    ServerConnection,
};
use rustls_capif::psk::{
    ExternalPsk, KeyExchangeMode, PskClientConfig, PskClientConnection, PskHash,
    PskKeyExchangeModes, PskServerConfig, PskServerConnection, StaticPskResolver,
};

// ----- a counting allocator (active only while a heap measurement runs) ------------------------

struct Counting;

static COUNTING: AtomicBool = AtomicBool::new(false);
static CURRENT: AtomicIsize = AtomicIsize::new(0);
static PEAK: AtomicIsize = AtomicIsize::new(0);

fn count(delta: isize) {
    if COUNTING.load(Relaxed) {
        let now = CURRENT.fetch_add(delta, Relaxed) + delta;
        PEAK.fetch_max(now, Relaxed);
    }
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = System.alloc(layout);
        if !p.is_null() {
            count(layout.size() as isize);
        }
        p
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let p = System.alloc_zeroed(layout);
        if !p.is_null() {
            count(layout.size() as isize);
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout);
        count(-(layout.size() as isize));
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = System.realloc(ptr, layout, new_size);
        if !p.is_null() {
            count(new_size as isize - layout.size() as isize);
        }
        p
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Heap bytes (peak, retained) of what `f` builds and returns, counted until it is dropped.
fn heap_of<T>(f: impl FnOnce() -> T) -> (isize, isize) {
    CURRENT.store(0, Relaxed);
    PEAK.store(0, Relaxed);
    COUNTING.store(true, Relaxed);
    let value = black_box(f());
    let retained = CURRENT.load(Relaxed);
    let peak = PEAK.load(Relaxed);
    COUNTING.store(false, Relaxed);
    drop(value);
    (peak, retained)
}

// ----- configurations -------------------------------------------------------------------------

const IDENTITY: &[u8] = b"invoker-bench";
const KEY: [u8; 32] = [0x42; 32];
const RECORD: usize = 16 * 1024;

/// The default provider restricted to one suite and X25519.
fn provider(suite: CipherSuite) -> Arc<CryptoProvider> {
    let mut p = (*rustls_capif::default_provider()).clone();
    p.cipher_suites.retain(|s| s.suite() == suite);
    p.kx_groups.retain(|g| g.name() == NamedGroup::X25519);
    assert_eq!((p.cipher_suites.len(), p.kx_groups.len()), (1, 1));
    Arc::new(p)
}

struct Psk {
    client: Arc<PskClientConfig>,
    server: Arc<PskServerConfig>,
}

fn psk_configs(suite: CipherSuite, modes: PskKeyExchangeModes) -> Psk {
    let p = provider(suite);
    let psk = ExternalPsk::new(IDENTITY.to_vec(), &KEY, PskHash::Sha256).unwrap();
    let keys: StaticPskResolver = [psk.clone()].into_iter().collect();
    Psk {
        client: Arc::new(
            PskClientConfig::with_provider(psk, p.clone()).with_key_exchange_modes(modes),
        ),
        server: Arc::new(
            PskServerConfig::with_provider(Arc::new(keys), p).with_key_exchange_modes(modes),
        ),
    }
}

/// Our TLS 1.2 ECDHE_PSK configs: TLS 1.3 off on the client, TLS 1.2 on at the server, the
/// provider narrowed to the TLS 1.2 suite whose AEAD and PRF back
/// TLS_ECDHE_PSK_WITH_CHACHA20_POLY1305_SHA256, and X25519.
fn psk12_configs() -> Psk {
    let p = provider(CipherSuite::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256);
    let psk = ExternalPsk::new(IDENTITY.to_vec(), &KEY, PskHash::Sha256).unwrap();
    let keys: StaticPskResolver = [psk.clone()].into_iter().collect();
    Psk {
        client: Arc::new(
            PskClientConfig::with_provider(psk, p.clone())
                .with_tls12(true)
                .with_tls13(false),
        ),
        server: Arc::new(PskServerConfig::with_provider(Arc::new(keys), p).with_tls12(true)),
    }
}

/// TLS_ECDHE_PSK_WITH_CHACHA20_POLY1305_SHA256 (RFC 7905).
const ECDHE_PSK_CHACHA20: CipherSuite = CipherSuite::TLS_ECDHE_PSK_WITH_CHACHA20_POLY1305_SHA256;

struct Certs {
    client: Arc<ClientConfig>,
    server: Arc<ServerConfig>,
}

/// rustls with an ECDSA P-256 chain (CA → leaf), no resumption, no tickets, TLS 1.3.
fn rustls_configs(suite: CipherSuite) -> Certs {
    rustls_configs_for(suite, &rustls::version::TLS13)
}

/// [`rustls_configs`] for one protocol version (`suite` must be of that version).
fn rustls_configs_for(
    suite: CipherSuite,
    version: &'static rustls::SupportedProtocolVersion,
) -> Certs {
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
    let p = provider(suite);
    let mut client = ClientConfig::builder_with_provider(p.clone())
        .with_protocol_versions(&[version])
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    client.resumption = Resumption::disabled();
    let mut server = ServerConfig::builder_with_provider(p)
        .with_protocol_versions(&[version])
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![leaf.der().clone()],
            PrivatePkcs8KeyDer::from(leaf_key.serialize_der()).into(),
        )
        .unwrap();
    server.send_tls13_tickets = 0;
    Certs {
        client: Arc::new(client),
        server: Arc::new(server),
    }
}

/// How often the OpenSSL server's PSK callback found our identity.
static OPENSSL_PSK_FOUND: AtomicUsize = AtomicUsize::new(0);

/// OpenSSL client and server contexts for an external PSK: TLS 1.3 only, one suite, X25519,
/// no certificate, no tickets, no session cache.
fn openssl_contexts() -> (SslContext, SslContext) {
    openssl_contexts_for(SslVersion::TLS1_3)
}

/// [`openssl_contexts`] for TLS 1.3 (TLS_AES_128_GCM_SHA256) or TLS 1.2
/// (ECDHE-PSK-CHACHA20-POLY1305).
fn openssl_contexts_for(version: SslVersion) -> (SslContext, SslContext) {
    let common = |b: &mut SslContextBuilder| {
        b.set_min_proto_version(Some(version)).unwrap();
        b.set_max_proto_version(Some(version)).unwrap();
        if version == SslVersion::TLS1_3 {
            b.set_ciphersuites("TLS_AES_128_GCM_SHA256").unwrap();
        } else {
            b.set_cipher_list("ECDHE-PSK-CHACHA20-POLY1305").unwrap();
        }
        b.set_groups_list("X25519").unwrap();
        b.set_session_cache_mode(SslSessionCacheMode::OFF);
        b.set_options(SslOptions::NO_TICKET);
    };
    let mut c = SslContextBuilder::new(SslMethod::tls_client()).unwrap();
    common(&mut c);
    c.set_psk_client_callback(|_ssl, _hint, identity, key| {
        identity[..IDENTITY.len()].copy_from_slice(IDENTITY);
        identity[IDENTITY.len()] = 0;
        key[..KEY.len()].copy_from_slice(&KEY);
        Ok(KEY.len())
    });
    let mut s = SslContextBuilder::new(SslMethod::tls_server()).unwrap();
    common(&mut s);
    s.set_num_tickets(0).unwrap();
    s.set_psk_server_callback(|_ssl, identity, key| {
        if identity != Some(IDENTITY) {
            return Ok(0);
        }
        OPENSSL_PSK_FOUND.fetch_add(1, Relaxed);
        key[..KEY.len()].copy_from_slice(&KEY);
        Ok(KEY.len())
    });
    (c.build(), s.build())
}

// ----- driving sans-IO connections ---------------------------------------------------------------

/// The sans-IO surface shared by our connections and rustls's.
trait Endpoint {
    fn busy(&self) -> bool;
    fn has_output(&self) -> bool;
    fn drain_into(&mut self, out: &mut Vec<u8>);
    fn feed(&mut self, rd: &mut &[u8]);
    fn send(&mut self, data: &[u8]);
    fn read_plain(&mut self, buf: &mut [u8]) -> io::Result<usize>;
}

macro_rules! endpoint {
    ($t:ty) => {
        impl Endpoint for $t {
            fn busy(&self) -> bool {
                self.is_handshaking()
            }
            fn has_output(&self) -> bool {
                self.wants_write()
            }
            fn drain_into(&mut self, out: &mut Vec<u8>) {
                while self.wants_write() {
                    self.write_tls(out).unwrap();
                }
            }
            fn feed(&mut self, rd: &mut &[u8]) {
                while !rd.is_empty() {
                    self.read_tls(rd).unwrap();
                    self.process_new_packets().unwrap();
                }
            }
            fn send(&mut self, data: &[u8]) {
                self.writer().write_all(data).unwrap();
            }
            fn read_plain(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                self.reader().read(buf)
            }
        }
    };
}

endpoint!(PskClientConnection);
endpoint!(PskServerConnection);
endpoint!(ClientConnection);
endpoint!(ServerConnection);

/// Runs a handshake to completion, all TLS bytes delivered.
fn complete<C: Endpoint, S: Endpoint>(client: &mut C, server: &mut S, buf: &mut Vec<u8>) {
    for _ in 0..8 {
        if !client.busy() && !server.busy() && !client.has_output() && !server.has_output() {
            return;
        }
        buf.clear();
        client.drain_into(buf);
        server.feed(&mut &buf[..]);
        buf.clear();
        server.drain_into(buf);
        client.feed(&mut &buf[..]);
    }
    panic!("handshake did not complete");
}

fn psk_handshake(c: &Psk) -> (PskClientConnection, PskServerConnection) {
    let mut client = PskClientConnection::new(c.client.clone()).unwrap();
    let mut server = PskServerConnection::new(c.server.clone());
    complete(&mut client, &mut server, &mut Vec::with_capacity(4096));
    (client, server)
}

fn rustls_handshake(c: &Certs) -> (ClientConnection, ServerConnection) {
    let name = ServerName::try_from("aef.example.com").unwrap();
    let mut client = ClientConnection::new(c.client.clone(), name).unwrap();
    let mut server = ServerConnection::new(c.server.clone()).unwrap();
    complete(&mut client, &mut server, &mut Vec::with_capacity(4096));
    (client, server)
}

/// One direction of an in-memory byte pipe for OpenSSL: reads from `rx`, writes to `tx`;
/// `WouldBlock` when nothing is buffered.
struct Pipe {
    rx: Rc<RefCell<VecDeque<u8>>>,
    tx: Rc<RefCell<VecDeque<u8>>>,
}

impl Read for Pipe {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let mut rx = self.rx.borrow_mut();
        if rx.is_empty() {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        rx.read(buf)
    }
}

impl Write for Pipe {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.tx.borrow_mut().extend(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn openssl_handshake(ctx: &(SslContext, SslContext)) -> (SslStream<Pipe>, SslStream<Pipe>) {
    let c2s = Rc::new(RefCell::new(VecDeque::with_capacity(4096)));
    let s2c = Rc::new(RefCell::new(VecDeque::with_capacity(4096)));
    let mut client = SslStream::new(
        Ssl::new(&ctx.0).unwrap(),
        Pipe {
            rx: s2c.clone(),
            tx: c2s.clone(),
        },
    )
    .unwrap();
    let mut server = SslStream::new(Ssl::new(&ctx.1).unwrap(), Pipe { rx: c2s, tx: s2c }).unwrap();
    let (mut client_done, mut server_done) = (false, false);
    for _ in 0..8 {
        if !client_done {
            match client.connect() {
                Ok(()) => client_done = true,
                Err(e) if e.code() == openssl::ssl::ErrorCode::WANT_READ => {}
                Err(e) => panic!("OpenSSL client: {e}"),
            }
        }
        if !server_done {
            match server.accept() {
                Ok(()) => server_done = true,
                Err(e) if e.code() == openssl::ssl::ErrorCode::WANT_READ => {}
                Err(e) => panic!("OpenSSL server: {e}"),
            }
        }
        if client_done && server_done {
            return (client, server);
        }
    }
    panic!("OpenSSL handshake did not complete");
}

/// Checks once, outside any timing, that each handshake really completes as claimed.
fn assert_handshakes(f: &Fixtures) {
    for (c, mode) in [
        (&f.psk_dhe, KeyExchangeMode::PskDhe),
        (&f.psk_ke, KeyExchangeMode::PskOnly),
    ] {
        let (client, server) = psk_handshake(c);
        for conn in [&*client, &*server] {
            assert!(!conn.is_handshaking());
            assert_eq!(conn.key_exchange_mode(), Some(mode));
            assert_eq!(
                conn.negotiated_cipher_suite(),
                Some(CipherSuite::TLS13_AES_128_GCM_SHA256)
            );
            let group = (mode == KeyExchangeMode::PskDhe).then_some(NamedGroup::X25519);
            assert_eq!(conn.negotiated_key_exchange_group(), group);
        }
        assert_eq!(server.psk_identity(), Some(IDENTITY));
        assert_eq!(client.psk_identity(), Some(IDENTITY));
    }

    let (client, server) = rustls_handshake(&f.certs);
    for (hs, suite, kx, version) in [
        (
            client.is_handshaking(),
            client.negotiated_cipher_suite(),
            client.negotiated_key_exchange_group(),
            client.protocol_version(),
        ),
        (
            server.is_handshaking(),
            server.negotiated_cipher_suite(),
            server.negotiated_key_exchange_group(),
            server.protocol_version(),
        ),
    ] {
        assert!(!hs);
        assert_eq!(
            suite.map(|s| s.suite()),
            Some(CipherSuite::TLS13_AES_128_GCM_SHA256)
        );
        assert_eq!(kx.map(|g| g.name()), Some(NamedGroup::X25519));
        assert_eq!(version, Some(rustls::ProtocolVersion::TLSv1_3));
    }
    let certs = client.peer_certificates().expect("server sent its chain");
    assert_eq!(certs.len(), 1);

    let found = OPENSSL_PSK_FOUND.load(Relaxed);
    let (client, server) = openssl_handshake(&f.openssl);
    assert_eq!(OPENSSL_PSK_FOUND.load(Relaxed), found + 1);
    for ssl in [client.ssl(), server.ssl()] {
        assert_eq!(ssl.version_str(), "TLSv1.3");
        assert_eq!(
            ssl.current_cipher().map(|c| c.standard_name()),
            Some(Some("TLS_AES_128_GCM_SHA256"))
        );
        // An external PSK accepted shows as a "reused" session in OpenSSL; the server has no
        // certificate, so nothing else could have authenticated the handshake.
        assert!(ssl.session_reused(), "OpenSSL did not use the PSK");
    }
    assert!(server.ssl().peer_certificate().is_none());
    assert!(client.ssl().peer_certificate().is_none());

    // TLS 1.2.
    let (client, server) = psk_handshake(&f.psk12);
    for conn in [&*client, &*server] {
        assert!(!conn.is_handshaking());
        assert_eq!(
            conn.protocol_version(),
            Some(rustls::ProtocolVersion::TLSv1_2)
        );
        assert_eq!(conn.negotiated_cipher_suite(), Some(ECDHE_PSK_CHACHA20));
        assert_eq!(
            conn.negotiated_key_exchange_group(),
            Some(NamedGroup::X25519)
        );
    }
    assert_eq!(server.psk_identity(), Some(IDENTITY));

    let (client, server) = rustls_handshake(&f.certs12);
    for (suite, kx, version) in [
        (
            client.negotiated_cipher_suite(),
            client.negotiated_key_exchange_group(),
            client.protocol_version(),
        ),
        (
            server.negotiated_cipher_suite(),
            server.negotiated_key_exchange_group(),
            server.protocol_version(),
        ),
    ] {
        assert_eq!(
            suite.map(|s| s.suite()),
            Some(CipherSuite::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256)
        );
        assert_eq!(kx.map(|g| g.name()), Some(NamedGroup::X25519));
        assert_eq!(version, Some(rustls::ProtocolVersion::TLSv1_2));
    }
    assert!(!client.is_handshaking() && !server.is_handshaking());
    assert_eq!(client.peer_certificates().map(|c| c.len()), Some(1));

    let found = OPENSSL_PSK_FOUND.load(Relaxed);
    let (client, server) = openssl_handshake(&f.openssl12);
    assert_eq!(OPENSSL_PSK_FOUND.load(Relaxed), found + 1, "PSK not used");
    for ssl in [client.ssl(), server.ssl()] {
        assert_eq!(ssl.version_str(), "TLSv1.2");
        assert_eq!(
            ssl.current_cipher().map(|c| c.standard_name()),
            Some(Some("TLS_ECDHE_PSK_WITH_CHACHA20_POLY1305_SHA256"))
        );
        assert!(ssl.peer_certificate().is_none());
    }
}

// ----- the cases --------------------------------------------------------------------------------

struct Fixtures {
    psk_dhe: Psk,
    psk_ke: Psk,
    certs: Certs,
    openssl: (SslContext, SslContext),
    psk12: Psk,
    certs12: Certs,
    openssl12: (SslContext, SslContext),
}

impl Fixtures {
    fn new() -> Self {
        let aes = CipherSuite::TLS13_AES_128_GCM_SHA256;
        Self {
            psk_dhe: psk_configs(aes, PskKeyExchangeModes::DheOnly),
            psk_ke: psk_configs(aes, PskKeyExchangeModes::PskOnly),
            certs: rustls_configs(aes),
            openssl: openssl_contexts(),
            psk12: psk12_configs(),
            certs12: rustls_configs_for(
                CipherSuite::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
                &rustls::version::TLS12,
            ),
            openssl12: openssl_contexts_for(SslVersion::TLS1_2),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Hs {
    PskDheKe,
    PskKe,
    RustlsEcdsa,
    OpensslPsk,
    Tls12Psk,
    Tls12RustlsEcdsa,
    Tls12OpensslPsk,
}

impl Hs {
    const ALL: [Hs; 7] = [
        Hs::PskDheKe,
        Hs::PskKe,
        Hs::RustlsEcdsa,
        Hs::OpensslPsk,
        Hs::Tls12Psk,
        Hs::Tls12RustlsEcdsa,
        Hs::Tls12OpensslPsk,
    ];

    fn name(self) -> &'static str {
        match self {
            Hs::PskDheKe => "psk_dhe_ke",
            Hs::PskKe => "psk_ke",
            Hs::RustlsEcdsa => "rustls_ecdsa_p256",
            Hs::OpensslPsk => "openssl_psk_dhe_ke",
            Hs::Tls12Psk => "tls12_ecdhe_psk",
            Hs::Tls12RustlsEcdsa => "rustls_tls12_ecdsa_p256",
            Hs::Tls12OpensslPsk => "openssl_tls12_ecdhe_psk",
        }
    }

    fn run(self, f: &Fixtures) {
        match self {
            Hs::PskDheKe => drop(black_box(psk_handshake(&f.psk_dhe))),
            Hs::PskKe => drop(black_box(psk_handshake(&f.psk_ke))),
            Hs::RustlsEcdsa => drop(black_box(rustls_handshake(&f.certs))),
            Hs::OpensslPsk => drop(black_box(openssl_handshake(&f.openssl))),
            Hs::Tls12Psk => drop(black_box(psk_handshake(&f.psk12))),
            Hs::Tls12RustlsEcdsa => drop(black_box(rustls_handshake(&f.certs12))),
            Hs::Tls12OpensslPsk => drop(black_box(openssl_handshake(&f.openssl12))),
        }
    }

    /// The rustls and OpenSSL cases of the same protocol version (the ratio columns).
    fn baselines(self) -> (usize, usize) {
        match self {
            Hs::Tls12Psk | Hs::Tls12RustlsEcdsa | Hs::Tls12OpensslPsk => (5, 6),
            _ => (2, 3),
        }
    }
}

/// An established pair of either implementation, ready to move records client → server.
enum Bulk {
    Ours(Box<(PskClientConnection, PskServerConnection)>),
    Rustls(Box<(ClientConnection, ServerConnection)>),
    Openssl(Box<(SslStream<Pipe>, SslStream<Pipe>)>),
}

struct BulkBuffers {
    data: Vec<u8>,
    wire: Vec<u8>,
    sink: Vec<u8>,
}

impl BulkBuffers {
    fn new() -> Self {
        Self {
            data: (0..RECORD).map(|i| i as u8).collect(),
            wire: Vec::with_capacity(RECORD + 64),
            sink: vec![0; RECORD],
        }
    }
}

fn one_record<C: Endpoint, S: Endpoint>(client: &mut C, server: &mut S, b: &mut BulkBuffers) {
    client.send(&b.data);
    b.wire.clear();
    client.drain_into(&mut b.wire);
    server.feed(&mut &b.wire[..]);
    let mut got = 0;
    loop {
        match server.read_plain(&mut b.sink) {
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(got, RECORD);
}

/// [`one_record`] for OpenSSL streams.
fn one_openssl_record(
    client: &mut SslStream<Pipe>,
    server: &mut SslStream<Pipe>,
    b: &mut BulkBuffers,
) {
    client.write_all(&b.data).unwrap();
    let mut got = 0;
    while got < RECORD {
        match server.ssl_read(&mut b.sink) {
            Ok(n) => got += n,
            Err(e) => panic!("OpenSSL read: {e}"),
        }
    }
    assert_eq!(got, RECORD);
}

/// Which TLS 1.2 implementation a bulk case runs.
#[derive(Clone, Copy)]
enum Impl12 {
    Ours,
    Rustls,
    Openssl,
}

impl Bulk {
    /// An established TLS 1.2 ChaCha20-Poly1305 pair of `which`.
    fn new12(which: Impl12) -> Self {
        match which {
            Impl12::Ours => Bulk::Ours(Box::new(psk_handshake(&psk12_configs()))),
            Impl12::Rustls => Bulk::Rustls(Box::new(rustls_handshake(&rustls_configs_for(
                CipherSuite::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
                &rustls::version::TLS12,
            )))),
            Impl12::Openssl => Bulk::Openssl(Box::new(openssl_handshake(&openssl_contexts_for(
                SslVersion::TLS1_2,
            )))),
        }
    }

    fn new(ours: bool, suite: CipherSuite) -> Self {
        if ours {
            let pair = psk_handshake(&psk_configs(suite, PskKeyExchangeModes::DheOnly));
            assert_eq!(pair.0.negotiated_cipher_suite(), Some(suite));
            Bulk::Ours(Box::new(pair))
        } else {
            let pair = rustls_handshake(&rustls_configs(suite));
            assert_eq!(
                pair.0.negotiated_cipher_suite().map(|s| s.suite()),
                Some(suite)
            );
            Bulk::Rustls(Box::new(pair))
        }
    }

    fn record(&mut self, b: &mut BulkBuffers) {
        match self {
            Bulk::Ours(p) => one_record(&mut p.0, &mut p.1, b),
            Bulk::Rustls(p) => one_record(&mut p.0, &mut p.1, b),
            Bulk::Openssl(p) => one_openssl_record(&mut p.0, &mut p.1, b),
        }
    }
}

const BULK_SUITES: [(&str, CipherSuite); 2] = [
    ("aes128gcm", CipherSuite::TLS13_AES_128_GCM_SHA256),
    (
        "chacha20poly1305",
        CipherSuite::TLS13_CHACHA20_POLY1305_SHA256,
    ),
];

// ----- criterion --------------------------------------------------------------------------------

fn bench_handshakes(cr: &mut Criterion) {
    let f = Fixtures::new();
    assert_handshakes(&f);
    let mut g = cr.benchmark_group("handshake");
    for hs in Hs::ALL {
        g.bench_function(hs.name(), |b| b.iter(|| hs.run(&f)));
    }
    g.finish();
}

fn bench_bulk(cr: &mut Criterion) {
    for (name, suite) in BULK_SUITES {
        let mut g = cr.benchmark_group(format!("bulk_{name}"));
        g.throughput(Throughput::Bytes(RECORD as u64));
        for (label, ours) in [("ours", true), ("rustls", false)] {
            let mut conn = Bulk::new(ours, suite);
            let mut bufs = BulkBuffers::new();
            g.bench_function(label, |b| b.iter(|| conn.record(&mut bufs)));
        }
        g.finish();
    }
    let mut g = cr.benchmark_group("bulk_tls12_chacha20poly1305");
    g.throughput(Throughput::Bytes(RECORD as u64));
    for (label, which) in BULK12 {
        let mut conn = Bulk::new12(which);
        let mut bufs = BulkBuffers::new();
        g.bench_function(label, |b| b.iter(|| conn.record(&mut bufs)));
    }
    g.finish();
}

const BULK12: [(&str, Impl12); 3] = [
    ("ours", Impl12::Ours),
    ("rustls", Impl12::Rustls),
    ("openssl", Impl12::Openssl),
];

// ----- the interleaved run ----------------------------------------------------------------------

/// Runs `cases` round-robin (rotating the order every round), `rounds` times after `warm`
/// warm-up rounds, and returns the median seconds per call of each.
fn interleave(cases: &mut [&mut dyn FnMut()], warm: usize, rounds: usize) -> Vec<f64> {
    for _ in 0..warm {
        for case in cases.iter_mut() {
            case();
        }
    }
    let n = cases.len();
    let mut times: Vec<Vec<Duration>> = (0..n).map(|_| Vec::with_capacity(rounds)).collect();
    for round in 0..rounds {
        for k in 0..n {
            let i = (round + k) % n;
            let t = Instant::now();
            cases[i]();
            times[i].push(t.elapsed());
        }
    }
    times
        .into_iter()
        .map(|mut v| {
            v.sort();
            v[v.len() / 2].as_secs_f64()
        })
        .collect()
}

fn heap_report() {
    let aes = CipherSuite::TLS13_AES_128_GCM_SHA256;
    let dhe = psk_configs(aes, PskKeyExchangeModes::DheOnly);
    let ke = psk_configs(aes, PskKeyExchangeModes::PskOnly);
    let certs = rustls_configs(aes);
    // Warm up lazily initialised state (provider statics, thread-locals) outside the counts.
    drop(psk_handshake(&dhe));
    drop(rustls_handshake(&certs));
    let mut bufs = BulkBuffers::new();

    // A connection pair boxed, as a server holds it: its inline size counts as heap too.
    let ours_dhe = heap_of(|| Box::new(psk_handshake(&dhe)));
    let ours_ke = heap_of(|| Box::new(psk_handshake(&ke)));
    let rustls = heap_of(|| Box::new(rustls_handshake(&certs)));
    // Also after one 16 KiB record each way has been received and read out: the buffers
    // an established connection keeps between bursts.
    fn after_data<C: Endpoint, S: Endpoint>(
        mut p: Box<(C, S)>,
        b: &mut BulkBuffers,
    ) -> Box<(C, S)> {
        let (c, s) = &mut *p;
        one_record(c, s, b);
        one_record(s, c, b);
        p
    }
    let ours_used = heap_of(|| after_data(Box::new(psk_handshake(&dhe)), &mut bufs));
    let rustls_used = heap_of(|| after_data(Box::new(rustls_handshake(&certs)), &mut bufs));

    println!("\nheap per established connection pair (client + server, boxed), bytes:");
    println!(
        "  {:<28} {:>9} {:>9}  {:>9}",
        "", "peak", "retained", "retained/rustls"
    );
    for (label, (peak, retained), base) in [
        ("ours psk_dhe_ke", ours_dhe, rustls.1),
        ("ours psk_ke", ours_ke, rustls.1),
        ("rustls ecdsa_p256", rustls, rustls.1),
        ("ours psk_dhe_ke, after data", ours_used, rustls_used.1),
        ("rustls ecdsa_p256, after data", rustls_used, rustls_used.1),
    ] {
        println!(
            "  {label:<28} {peak:>9} {retained:>9}  {:>9.3}",
            retained as f64 / base as f64
        );
    }
    println!(
        "  (inline sizes: ours {} + {} B, rustls {} + {} B)",
        std::mem::size_of::<PskClientConnection>(),
        std::mem::size_of::<PskServerConnection>(),
        std::mem::size_of::<ClientConnection>(),
        std::mem::size_of::<ServerConnection>()
    );
}

fn interleaved_report() {
    if std::env::var("PSK_BULK_ONLY").is_ok() {
        return bulk_report();
    }
    const ROUNDS: usize = 400;
    let f = Fixtures::new();
    assert_handshakes(&f);
    let mut cases: Vec<Box<dyn FnMut()>> = Hs::ALL
        .iter()
        .map(|&hs| {
            let f = &f;
            Box::new(move || hs.run(f)) as Box<dyn FnMut()>
        })
        .collect();
    let mut refs: Vec<&mut dyn FnMut()> = cases.iter_mut().map(|c| &mut **c as _).collect();
    let m = interleave(&mut refs, 30, ROUNDS);
    println!("\ninterleaved run, {ROUNDS} rounds, medians:");
    println!("  handshakes (client + server, one thread; ratios against the same version):");
    for (hs, t) in Hs::ALL.iter().zip(&m) {
        let (rustls, openssl) = hs.baselines();
        println!(
            "    {:<24} {:8.1} µs {:8.0} /s   vs rustls_ecdsa {:5.2}x   vs openssl_psk {:5.2}x",
            hs.name(),
            t * 1e6,
            1.0 / t,
            m[rustls] / t,
            m[openssl] / t
        );
    }

    bulk_report();
}

fn bulk_report() {
    const BULK_ROUNDS: usize = 2000;
    println!("  bulk, one 16 KiB record client → server (seal + open + read out):");
    for (name, suite) in BULK_SUITES {
        let mut ours = Bulk::new(true, suite);
        let mut theirs = Bulk::new(false, suite);
        let (mut b1, mut b2) = (BulkBuffers::new(), BulkBuffers::new());
        let m = interleave(
            &mut [&mut || ours.record(&mut b1), &mut || theirs.record(&mut b2)],
            200,
            BULK_ROUNDS,
        );
        let mbps = |t: f64| RECORD as f64 / t / 1e6;
        println!(
            "    {name:<17} ours {:7.0} MB/s   rustls {:7.0} MB/s   ours/rustls {:5.3}",
            mbps(m[0]),
            mbps(m[1]),
            m[1] / m[0]
        );
    }
    let mut conns = BULK12.map(|(_, which)| (Bulk::new12(which), BulkBuffers::new()));
    let [(c0, b0), (c1, b1), (c2, b2)] = &mut conns;
    let m = interleave(
        &mut [&mut || c0.record(b0), &mut || c1.record(b1), &mut || {
            c2.record(b2)
        }],
        200,
        BULK_ROUNDS,
    );
    let mbps = |t: f64| RECORD as f64 / t / 1e6;
    println!(
        "    {:<17} ours {:7.0} MB/s   rustls {:7.0} MB/s   openssl {:7.0} MB/s   ours/rustls {:5.3}   ours/openssl {:5.3}",
        "tls12_chacha20",
        mbps(m[0]),
        mbps(m[1]),
        mbps(m[2]),
        m[1] / m[0],
        m[2] / m[0]
    );
    if std::env::var("PSK_BULK_ONLY").is_err() {
        heap_report();
    }
}

// ----- single-case runs for callgrind -----------------------------------------------------------

/// The loop callgrind counts (`--toggle-collect=*measured_loop*`).
#[inline(never)]
fn measured_loop(iters: usize, case: &mut dyn FnMut()) {
    for _ in 0..iters {
        case();
    }
}

fn single_case(name: &str, iters: usize) {
    let f = Fixtures::new();
    assert_handshakes(&f);
    let mut case: Box<dyn FnMut()> =
        if let Some(hs) = Hs::ALL.into_iter().find(|h| h.name() == name) {
            Box::new(move || hs.run(&f))
        } else {
            let (suite, ours) = match name {
                "bulk_aes128gcm_ours" => (BULK_SUITES[0].1, true),
                "bulk_aes128gcm_rustls" => (BULK_SUITES[0].1, false),
                "bulk_chacha20poly1305_ours" => (BULK_SUITES[1].1, true),
                "bulk_chacha20poly1305_rustls" => (BULK_SUITES[1].1, false),
                _ => (CipherSuite::Unknown(0), false),
            };
            let mut conn = match (name, u16::from(suite)) {
                (_, 0) => {
                    let which = BULK12
                        .iter()
                        .find(|(label, _)| {
                            name.strip_prefix("bulk_tls12_chacha20poly1305_") == Some(*label)
                        })
                        .unwrap_or_else(|| panic!("unknown PSK_BENCH_CASE {name:?}"))
                        .1;
                    Bulk::new12(which)
                }
                _ => Bulk::new(ours, suite),
            };
            let mut bufs = BulkBuffers::new();
            Box::new(move || conn.record(&mut bufs))
        };
    for _ in 0..10 {
        case();
    }
    measured_loop(iters, &mut *case);
    println!("{name}: {iters} iterations");
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_secs(2))
        .measurement_time(Duration::from_secs(5))
        .sample_size(50)
}

criterion_group! {
    name = benches;
    config = config();
    targets = bench_handshakes, bench_bulk
}

fn main() {
    if let Ok(name) = std::env::var("PSK_BENCH_CASE") {
        let iters = std::env::var("PSK_BENCH_ITERS")
            .ok()
            .and_then(|n| n.parse().ok())
            .unwrap_or(100);
        single_case(&name, iters);
        return;
    }
    let report_only = std::env::args().any(|a| a == "--report-only");
    if !report_only {
        benches();
        Criterion::default().configure_from_args().final_summary();
    }
    // `cargo bench` passes --bench; `cargo test --benches` does not: keep that run short.
    if std::env::args().any(|a| a == "--bench") {
        interleaved_report();
    } else {
        heap_report();
    }
}
