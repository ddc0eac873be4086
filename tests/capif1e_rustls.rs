//! CAPIF-1e between a rustls invoker and a rustls CCF: both ends derive the same AEFPSK, and
//! that AEFPSK is the one recomputed from inputs taken independently of the crate (rustls's own
//! key log, the exporter of rustls's own connection, the Session ID read off the wire).

mod capif1e_common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;

use capif1e_common::{
    client_config, random_at_fixed_offset, server_config, session_id_at_fixed_offset, Pki,
    Recording, RecordingKeyLog, Version, SERVER_NAME,
};
use rustls::pki_types::ServerName;
use rustls::{HandshakeKind, ProtocolVersion};
use rustls_capif::capif1e::{
    Capif1eProfile, Capif1eSession, CcfConfig, InvokerConfig, KeySource, SessionCapture,
};
use rustls_capif::kdf::derive_aefpsk;
use rustls_capif::{Error, ServiceApiInterface};

/// The TLS 1.3 exporter label of the crate's profile, as written in DESIGN.md §2.
const PROFILE_LABEL: &[u8] = b"EXPORTER-3GPP-CAPIF-AEFPSK";

fn aef(s: &str) -> ServiceApiInterface {
    ServiceApiInterface::parse(s).unwrap()
}

fn name() -> ServerName<'static> {
    ServerName::try_from(SERVER_NAME).unwrap()
}

/// One CAPIF-1e connection and what each side saw, taken from rustls directly.
struct Outcome {
    invoker: Capif1eSession,
    ccf: Capif1eSession,
    client_kind: HandshakeKind,
    server_kind: HandshakeKind,
    version: ProtocolVersion,
    client_flight: Vec<u8>,
    server_flight: Vec<u8>,
    /// The server connection's exporter for the profile label (rustls, not the crate).
    server_exporter: [u8; 32],
}

/// Connects `invoker` to `ccf` over loopback TCP with the blocking API and exchanges a little
/// application data.
fn connect_blocking(invoker: &InvokerConfig, ccf: &CcfConfig) -> Outcome {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let ccf = ccf.clone();
    let server = std::thread::spawn(move || {
        let (tcp, _) = listener.accept().unwrap();
        let (rec, written) = Recording::new(tcp);
        let (mut tls, session) = ccf.accept(rec).unwrap();
        let mut ping = [0u8; 4];
        tls.read_exact(&mut ping).unwrap();
        assert_eq!(&ping, b"ping");
        tls.write_all(b"pong").unwrap();
        let exporter = tls
            .conn
            .export_keying_material([0u8; 32], PROFILE_LABEL, Some(b""))
            .unwrap();
        let kind = tls.conn.handshake_kind().unwrap();
        let flight = written.lock().unwrap().clone();
        (session, kind, flight, exporter)
    });
    let (rec, written) = Recording::new(TcpStream::connect(addr).unwrap());
    let (mut tls, invoker) = invoker.connect(name(), rec).unwrap();
    tls.write_all(b"ping").unwrap();
    let mut pong = [0u8; 4];
    tls.read_exact(&mut pong).unwrap();
    assert_eq!(&pong, b"pong");
    let (ccf, server_kind, server_flight, server_exporter) = server.join().unwrap();
    let client_flight = written.lock().unwrap().clone();
    Outcome {
        invoker,
        ccf,
        client_kind: tls.conn.handshake_kind().unwrap(),
        server_kind,
        version: tls.conn.protocol_version().unwrap(),
        client_flight,
        server_flight,
        server_exporter,
    }
}

struct Setup {
    invoker: InvokerConfig,
    ccf: CcfConfig,
    server_log: Arc<RecordingKeyLog>,
    client_log: Arc<RecordingKeyLog>,
}

/// Wrappers with this crate's TLS 1.3 exporter profile opted into on **both** ends, so that
/// the TLS 1.3 tests below can derive (the default, Annex A.1 only, is tested by
/// `default_profile_*` and `setup_default`).
fn setup(pki: &Pki, client: Version, server: Version) -> Setup {
    let s = setup_default(pki, client, server);
    Setup {
        invoker: s.invoker.with_profile(Capif1eProfile::Tls13Exporter),
        ccf: s.ccf.with_profile(Capif1eProfile::Tls13Exporter),
        ..s
    }
}

/// Wrappers as `InvokerConfig::new` / `CcfConfig::new` make them (profile: Annex A.1).
fn setup_default(pki: &Pki, client: Version, server: Version) -> Setup {
    let server_log = Arc::new(RecordingKeyLog::default());
    let client_log = Arc::new(RecordingKeyLog::default());
    let mut sc = server_config(pki, server);
    sc.key_log = server_log.clone();
    let mut cc = client_config(pki, client);
    cc.key_log = client_log.clone();
    Setup {
        invoker: InvokerConfig::new(cc),
        ccf: CcfConfig::new(sc).unwrap(),
        server_log,
        client_log,
    }
}

/// The master secret the server's own key log got for the connection whose ClientHello
/// random is at the start of `client_flight`.
fn logged_master_secret(log: &RecordingKeyLog, client_flight: &[u8]) -> Vec<u8> {
    let random = random_at_fixed_offset(client_flight);
    let lines: Vec<_> = log
        .client_random_lines()
        .into_iter()
        .filter(|(cr, _)| cr[..] == random[..])
        .collect();
    assert_eq!(lines.len(), 1, "one CLIENT_RANDOM line per connection");
    assert_eq!(lines[0].1.len(), 48);
    lines[0].1.clone()
}

#[test]
fn tls12_both_ends_derive_the_annex_a1_key_of_the_session() {
    let pki = Pki::new();
    let s = setup(&pki, Version::Tls12, Version::Both);
    let o = connect_blocking(&s.invoker, &s.ccf);
    assert_eq!(o.version, ProtocolVersion::TLSv1_2);
    assert_eq!(o.client_kind, HandshakeKind::Full);
    for session in [&o.invoker, &o.ccf] {
        assert_eq!(session.protocol_version(), ProtocolVersion::TLSv1_2);
        assert_eq!(session.key_source(), KeySource::Tls12MasterSecret);
        assert!(!session.is_resumed());
    }

    // Independent inputs: the Session ID on the wire, the master secret from rustls's key log.
    let sid = session_id_at_fixed_offset(&o.server_flight);
    assert_eq!(
        sid.len(),
        32,
        "a rustls server with a session cache sends 32 octets"
    );
    assert_eq!(o.invoker.session_id(), &sid[..]);
    assert_eq!(o.ccf.session_id(), &sid[..]);
    let ms = logged_master_secret(&s.server_log, &o.client_flight);
    assert_eq!(
        ms,
        logged_master_secret(&s.client_log, &o.client_flight),
        "the user's key logs still get every line, on both ends"
    );

    for iface in [
        "aef.example.com:8443",
        "192.0.2.10:443",
        "[2001:db8::1]:8443",
    ] {
        let iface = aef(iface);
        let expected = derive_aefpsk(&ms, &sid, &iface).unwrap();
        assert_eq!(o.invoker.derive_aef_psk(&iface).unwrap(), expected);
        assert_eq!(o.ccf.derive_aef_psk(&iface).unwrap(), expected);
    }
}

#[test]
fn tls13_both_ends_derive_the_exporter_profile_key() {
    let pki = Pki::new();
    let s = setup(&pki, Version::Both, Version::Both);
    let o = connect_blocking(&s.invoker, &s.ccf);
    assert_eq!(o.version, ProtocolVersion::TLSv1_3);
    for session in [&o.invoker, &o.ccf] {
        assert_eq!(session.protocol_version(), ProtocolVersion::TLSv1_3);
        assert_eq!(session.key_source(), KeySource::Tls13Exporter);
    }
    // P1 is the legacy_session_id echoed by the server: equal to what the client offered.
    let offered = session_id_at_fixed_offset(&o.client_flight);
    let echoed = session_id_at_fixed_offset(&o.server_flight);
    assert_eq!(offered, echoed);
    assert_eq!(echoed.len(), 32);
    assert_eq!(o.invoker.session_id(), &echoed[..]);
    assert_eq!(o.ccf.session_id(), &echoed[..]);

    let iface = aef("aef.example.com:8443");
    let expected = derive_aefpsk(&o.server_exporter, &echoed, &iface).unwrap();
    assert_eq!(o.invoker.derive_aef_psk(&iface).unwrap(), expected);
    assert_eq!(o.ccf.derive_aef_psk(&iface).unwrap(), expected);
    // TLS 1.3 secrets reached the user's key log (forwarding), no CLIENT_RANDOM line.
    assert!(s
        .client_log
        .labels()
        .contains(&"CLIENT_TRAFFIC_SECRET_0".to_string()));
    assert!(s.client_log.client_random_lines().is_empty());
}

#[test]
fn different_interfaces_and_different_sessions_give_different_keys() {
    let pki = Pki::new();
    for version in [Version::Tls12, Version::Tls13] {
        let s = setup(&pki, version, version);
        // Two connections with resumption impossible: fresh invoker configs.
        let first = connect_blocking(&s.invoker, &s.ccf);
        let second = connect_blocking(&setup(&pki, version, version).invoker, &s.ccf);
        assert_eq!(second.client_kind, HandshakeKind::Full);
        let a = aef("aef.example.com:8443");
        let b = aef("aef.example.com:8444");
        let c = aef("aef2.example.com:8443");
        let ka = first.invoker.derive_aef_psk(&a).unwrap();
        assert_ne!(ka, first.invoker.derive_aef_psk(&b).unwrap(), "{version:?}");
        assert_ne!(ka, first.invoker.derive_aef_psk(&c).unwrap(), "{version:?}");
        assert_ne!(
            ka,
            second.invoker.derive_aef_psk(&a).unwrap(),
            "{version:?}"
        );
        assert_eq!(
            second.invoker.derive_aef_psk(&a).unwrap(),
            second.ccf.derive_aef_psk(&a).unwrap()
        );
        assert_ne!(first.invoker.session_id(), second.invoker.session_id());
    }
}

#[test]
fn tls12_session_id_resumption_gives_the_original_key() {
    let pki = Pki::new();
    let s = setup(&pki, Version::Tls12, Version::Both);
    let iface = aef("aef.example.com:8443");
    let full = connect_blocking(&s.invoker, &s.ccf);
    assert_eq!(full.client_kind, HandshakeKind::Full);
    let resumed = connect_blocking(&s.invoker, &s.ccf);
    // rustls itself says the second handshake was abbreviated, on both ends.
    assert_eq!(resumed.client_kind, HandshakeKind::Resumed);
    assert_eq!(resumed.server_kind, HandshakeKind::Resumed);
    assert!(resumed.invoker.is_resumed() && resumed.ccf.is_resumed());
    // The wire shows the same Session ID, and a new client random.
    assert_eq!(
        session_id_at_fixed_offset(&resumed.server_flight),
        session_id_at_fixed_offset(&full.server_flight)
    );
    assert_ne!(
        random_at_fixed_offset(&resumed.client_flight),
        random_at_fixed_offset(&full.client_flight)
    );
    let original = full.invoker.derive_aef_psk(&iface).unwrap();
    // Independently: the master secret rustls logged and the Session ID on the wire.
    let expected = derive_aefpsk(
        &logged_master_secret(&s.server_log, &full.client_flight),
        &session_id_at_fixed_offset(&full.server_flight),
        &iface,
    )
    .unwrap();
    assert_eq!(original, expected);
    assert_eq!(original, full.ccf.derive_aef_psk(&iface).unwrap());
    assert_eq!(resumed.invoker.derive_aef_psk(&iface).unwrap(), original);
    assert_eq!(resumed.ccf.derive_aef_psk(&iface).unwrap(), original);
}

#[test]
fn tls13_resumption_is_a_new_key_that_both_ends_share() {
    let pki = Pki::new();
    let s = setup(&pki, Version::Tls13, Version::Tls13);
    let iface = aef("aef.example.com:8443");
    let full = connect_blocking(&s.invoker, &s.ccf);
    let resumed = connect_blocking(&s.invoker, &s.ccf);
    assert_eq!(resumed.client_kind, HandshakeKind::Resumed);
    assert!(resumed.invoker.is_resumed());
    let k = resumed.invoker.derive_aef_psk(&iface).unwrap();
    assert_eq!(k, resumed.ccf.derive_aef_psk(&iface).unwrap());
    assert_ne!(k, full.invoker.derive_aef_psk(&iface).unwrap());
}

#[test]
fn default_profile_refuses_tls13_on_both_ends_with_a_typed_error_naming_the_ways_out() {
    let pki = Pki::new();
    let iface = aef("aef.example.com:8443");
    let s = setup_default(&pki, Version::Both, Version::Both);
    assert_eq!(s.invoker.profile(), Capif1eProfile::AnnexA1);
    assert_eq!(s.ccf.profile(), Capif1eProfile::AnnexA1);
    let o = connect_blocking(&s.invoker, &s.ccf);
    assert_eq!(o.version, ProtocolVersion::TLSv1_3);
    for session in [&o.invoker, &o.ccf] {
        assert_eq!(session.profile(), Capif1eProfile::AnnexA1);
        let err = session.derive_aef_psk(&iface).unwrap_err();
        assert!(matches!(err, Error::Tls13NotAllowed), "{err:?}");
        // Why, and both ways out.
        let msg = err.to_string();
        for needle in [
            "TLS 1.3",
            "Annex A.1",
            "negotiate TLS 1.2",
            "tls12_builder",
            "Capif1eProfile::Tls13Exporter",
            "both the invoker and the CCF",
        ] {
            assert!(msg.contains(needle), "{needle:?} missing from: {msg}");
        }
        assert!(matches!(
            session.check_policy(),
            Err(Error::Tls13NotAllowed)
        ));
    }
}

#[test]
fn opting_in_on_one_end_only_still_refuses_on_the_other() {
    let pki = Pki::new();
    let iface = aef("aef.example.com:8443");
    let s = setup_default(&pki, Version::Both, Version::Both);
    let o = connect_blocking(
        &s.invoker
            .clone()
            .with_profile(Capif1eProfile::Tls13Exporter),
        &s.ccf,
    );
    assert!(o.invoker.derive_aef_psk(&iface).is_ok());
    assert!(matches!(
        o.ccf.derive_aef_psk(&iface),
        Err(Error::Tls13NotAllowed)
    ));
    let o = connect_blocking(
        &s.invoker,
        &s.ccf.clone().with_profile(Capif1eProfile::Tls13Exporter),
    );
    assert!(matches!(
        o.invoker.derive_aef_psk(&iface),
        Err(Error::Tls13NotAllowed)
    ));
    assert!(o.ccf.derive_aef_psk(&iface).is_ok());
}

#[test]
fn exporter_profile_opted_in_on_both_ends_derives_equal_keys() {
    let pki = Pki::new();
    let iface = aef("aef.example.com:8443");
    let s = setup_default(&pki, Version::Both, Version::Both);
    let o = connect_blocking(
        &s.invoker
            .clone()
            .with_profile(Capif1eProfile::Tls13Exporter),
        &s.ccf.clone().with_profile(Capif1eProfile::Tls13Exporter),
    );
    assert_eq!(o.version, ProtocolVersion::TLSv1_3);
    let echoed = session_id_at_fixed_offset(&o.server_flight);
    let expected = derive_aefpsk(&o.server_exporter, &echoed, &iface).unwrap();
    assert_eq!(o.invoker.derive_aef_psk(&iface).unwrap(), expected);
    assert_eq!(o.ccf.derive_aef_psk(&iface).unwrap(), expected);
}

#[test]
fn tls12_derivation_is_the_same_under_both_profiles() {
    let pki = Pki::new();
    let iface = aef("aef.example.com:8443");
    for profile in [Capif1eProfile::AnnexA1, Capif1eProfile::Tls13Exporter] {
        let s = setup_default(&pki, Version::Tls12, Version::Both);
        let o = connect_blocking(
            &s.invoker.clone().with_profile(profile),
            &s.ccf.clone().with_profile(profile),
        );
        assert_eq!(o.version, ProtocolVersion::TLSv1_2);
        o.invoker.check_policy().unwrap();
        let sid = session_id_at_fixed_offset(&o.server_flight);
        let ms = logged_master_secret(&s.server_log, &o.client_flight);
        let expected = derive_aefpsk(&ms, &sid, &iface).unwrap();
        assert_eq!(o.invoker.derive_aef_psk(&iface).unwrap(), expected);
        assert_eq!(o.ccf.derive_aef_psk(&iface).unwrap(), expected);
    }
}

#[test]
fn tls12_builder_negotiates_tls12_with_a_server_that_supports_both() {
    let pki = Pki::new();
    let iface = aef("aef.example.com:8443");
    let s = setup_default(&pki, Version::Both, Version::Both);
    let client_log = Arc::new(RecordingKeyLog::default());
    let mut client = InvokerConfig::tls12_builder(rustls_capif::default_provider())
        .unwrap()
        .with_root_certificates(pki.roots())
        .with_no_client_auth();
    client.key_log = client_log.clone();
    let invoker = InvokerConfig::new(client);
    assert_eq!(invoker.profile(), Capif1eProfile::AnnexA1);
    let o = connect_blocking(&invoker, &s.ccf);
    assert_eq!(o.version, ProtocolVersion::TLSv1_2);
    // It cannot connect to a TLS 1.3-only server at all: TLS 1.2 is all it offers.
    let tls13_only = CcfConfig::new(server_config(&pki, Version::Tls13)).unwrap();
    let (mut client, _) = invoker.connection(name()).unwrap();
    let (mut server, _) = tls13_only.connection().unwrap();
    let refused = (0..10).find_map(|_| {
        let mut buf = Vec::new();
        client.write_tls(&mut buf).unwrap();
        server.read_tls(&mut &buf[..]).unwrap();
        if let Err(e) = server.process_new_packets() {
            return Some(e);
        }
        buf.clear();
        server.write_tls(&mut buf).unwrap();
        client.read_tls(&mut &buf[..]).unwrap();
        client.process_new_packets().err()
    });
    assert!(
        matches!(refused, Some(rustls::Error::PeerIncompatible(_))),
        "{refused:?}"
    );
    // And the default profiles on both ends derive the Annex A.1 key.
    let sid = session_id_at_fixed_offset(&o.server_flight);
    let ms = logged_master_secret(&client_log, &o.client_flight);
    let expected = derive_aefpsk(&ms, &sid, &iface).unwrap();
    assert_eq!(o.invoker.derive_aef_psk(&iface).unwrap(), expected);
    assert_eq!(o.ccf.derive_aef_psk(&iface).unwrap(), expected);
}

#[test]
fn empty_session_id_is_an_error_unless_allowed() {
    // A plain rustls TLS 1.2 server without a session cache sends an empty Session ID.
    let pki = Pki::new();
    let log = Arc::new(RecordingKeyLog::default());
    let mut sc = server_config(&pki, Version::Tls12);
    sc.session_storage = Arc::new(rustls::server::NoServerSessionStorage {});
    sc.key_log = log.clone();
    let sc = Arc::new(sc);
    let iface = aef("aef.example.com:8443");

    for allow in [false, true] {
        let invoker =
            InvokerConfig::new(client_config(&pki, Version::Tls12)).allow_empty_session_id(allow);
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let sc = sc.clone();
        let server = std::thread::spawn(move || {
            let (mut tcp, _) = listener.accept().unwrap();
            let mut conn = rustls::ServerConnection::new(sc).unwrap();
            while conn.is_handshaking() {
                conn.complete_io(&mut tcp).unwrap();
            }
            let mut b = [0u8; 1];
            rustls::Stream::new(&mut conn, &mut tcp)
                .read_exact(&mut b)
                .unwrap();
        });
        let (rec, written) = Recording::new(TcpStream::connect(addr).unwrap());
        let (mut tls, session) = invoker.connect(name(), rec).unwrap();
        tls.write_all(b"x").unwrap();
        server.join().unwrap();
        assert!(session.session_id().is_empty());
        if allow {
            let ms = logged_master_secret(&log, &written.lock().unwrap());
            assert_eq!(
                session.derive_aef_psk(&iface).unwrap(),
                derive_aefpsk(&ms, b"", &iface).unwrap()
            );
        } else {
            let err = session.derive_aef_psk(&iface).unwrap_err();
            assert!(matches!(err, Error::EmptySessionId), "{err:?}");
            assert!(err.to_string().contains("empty TLS Session ID"), "{err}");
        }
    }
}

#[test]
fn ccf_refuses_a_server_config_that_cannot_cache_sessions() {
    let pki = Pki::new();
    let mut sc = server_config(&pki, Version::Both);
    sc.session_storage = Arc::new(rustls::server::NoServerSessionStorage {});
    let err = CcfConfig::new(sc).unwrap_err();
    assert!(matches!(err, Error::InvalidConfig(_)), "{err:?}");
    assert!(err.to_string().contains("Session ID"), "{err}");
}

/// A ticketer that counts its use: enabled, but it must never be asked for a ticket.
#[derive(Debug, Default)]
struct CountingTicketer(std::sync::atomic::AtomicUsize);

impl rustls::server::ProducesTickets for CountingTicketer {
    fn enabled(&self) -> bool {
        true
    }
    fn lifetime(&self) -> u32 {
        3600
    }
    fn encrypt(&self, plain: &[u8]) -> Option<Vec<u8>> {
        self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Some(plain.to_vec())
    }
    fn decrypt(&self, cipher: &[u8]) -> Option<Vec<u8>> {
        self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Some(cipher.to_vec())
    }
}

#[test]
fn ccf_with_a_ticket_offering_plain_rustls_client_sends_a_session_id_and_resumes_by_it() {
    let pki = Pki::new();
    let ticketer = Arc::new(CountingTicketer::default());
    let mut sc = server_config(&pki, Version::Tls12);
    sc.ticketer = ticketer.clone();
    let ccf = CcfConfig::new(sc).unwrap();
    assert!(!ccf.connection_config().0.ticketer.enabled());
    // A stock rustls client (TLS 1.2 tickets offered) — not the invoker wrapper.
    let client = Arc::new(client_config(&pki, Version::Tls12));
    let iface = aef("aef.example.com:8443");

    let mut keys = Vec::new();
    for round in 0..2 {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let ccf = ccf.clone();
        let server = std::thread::spawn(move || {
            let (tcp, _) = listener.accept().unwrap();
            let (mut tls, session) = ccf.accept(tcp).unwrap();
            let mut b = [0u8; 1];
            tls.read_exact(&mut b).unwrap();
            session
        });
        let mut tcp = TcpStream::connect(addr).unwrap();
        let mut conn = rustls::ClientConnection::new(client.clone(), name()).unwrap();
        while conn.is_handshaking() {
            conn.complete_io(&mut tcp).unwrap();
        }
        let expected_kind = if round == 0 {
            HandshakeKind::Full
        } else {
            HandshakeKind::Resumed
        };
        assert_eq!(conn.handshake_kind(), Some(expected_kind));
        rustls::Stream::new(&mut conn, &mut tcp)
            .write_all(b"x")
            .unwrap();
        let session = server.join().unwrap();
        assert_eq!(session.session_id().len(), 32);
        keys.push(session.derive_aef_psk(&iface).unwrap());
    }
    assert_eq!(keys[0], keys[1]);
    assert_eq!(ticketer.0.load(std::sync::atomic::Ordering::Relaxed), 0);
}

#[test]
fn tls13_hello_retry_request_is_skipped() {
    let pki = Pki::new();
    // The server supports only P-384; rustls clients send a key share for another group
    // first, so the server must answer with a HelloRetryRequest.
    let mut provider = (*rustls_capif::default_provider()).clone();
    provider
        .kx_groups
        .retain(|g| g.name() == rustls::NamedGroup::secp384r1);
    let sc = rustls::ServerConfig::builder_with_provider(Arc::new(provider))
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![pki.leaf_der.clone()], pki.key())
        .unwrap();
    let ccf = CcfConfig::new(sc)
        .unwrap()
        .with_profile(Capif1eProfile::Tls13Exporter);
    let invoker = InvokerConfig::new(client_config(&pki, Version::Both))
        .with_profile(Capif1eProfile::Tls13Exporter);
    let o = connect_blocking(&invoker, &ccf);
    assert_eq!(o.client_kind, HandshakeKind::FullWithHelloRetryRequest);
    assert_eq!(
        o.invoker.handshake_kind(),
        HandshakeKind::FullWithHelloRetryRequest
    );
    let iface = aef("aef.example.com:8443");
    let echoed = session_id_at_fixed_offset(&o.client_flight);
    let expected = derive_aefpsk(&o.server_exporter, &echoed, &iface).unwrap();
    assert_eq!(o.invoker.derive_aef_psk(&iface).unwrap(), expected);
    assert_eq!(o.ccf.derive_aef_psk(&iface).unwrap(), expected);
}

/// Feeds both directions of `wire` to `capture`, interleaved byte by byte.
fn feed_byte_by_byte(capture: &mut SessionCapture, wire: &capif1e_common::Wire) {
    let (c2s, s2c) = (&wire.client_to_server, &wire.server_to_client);
    for i in 0..c2s.len().max(s2c.len()) {
        if let Some(b) = c2s.get(i) {
            capture.client_sent(std::slice::from_ref(b)).unwrap();
        }
        if let Some(b) = s2c.get(i) {
            capture.server_sent(std::slice::from_ref(b)).unwrap();
        }
    }
}

fn feed(capture: &mut SessionCapture, wire: &capif1e_common::Wire) {
    capture.client_sent(&wire.client_to_server).unwrap();
    capture.server_sent(&wire.server_to_client).unwrap();
}

#[test]
fn sans_io_with_byte_at_a_time_transport() {
    let pki = Pki::new();
    for version in [Version::Tls12, Version::Tls13] {
        let s = setup(&pki, version, version);
        let (mut client, mut client_capture) = s.invoker.connection(name()).unwrap();
        let (mut server, mut server_capture) = s.ccf.connection().unwrap();
        let wire = capif1e_common::handshake_in_memory(&mut client, &mut server, 1);
        feed_byte_by_byte(&mut client_capture, &wire);
        feed_byte_by_byte(&mut server_capture, &wire);
        assert!(client_capture.taps().is_passthrough());
        let invoker = client_capture.session(&client).unwrap();
        let ccf = server_capture.session(&server).unwrap();
        let iface = aef("aef.example.com:8443");
        // Independently: rustls's own key log (TLS 1.2) or exporter (TLS 1.3), and the
        // Session ID at its fixed offset on the wire.
        let key = match version {
            Version::Tls12 => logged_master_secret(&s.server_log, &wire.client_to_server),
            _ => server
                .export_keying_material([0u8; 32], PROFILE_LABEL, Some(b""))
                .unwrap()
                .to_vec(),
        };
        let expected = derive_aefpsk(
            &key,
            &session_id_at_fixed_offset(&wire.server_to_client),
            &iface,
        )
        .unwrap();
        assert_eq!(
            invoker.derive_aef_psk(&iface).unwrap(),
            expected,
            "{version:?}"
        );
        assert_eq!(ccf.derive_aef_psk(&iface).unwrap(), expected, "{version:?}");
        // A capture that did not see the connection's bytes has no session to give.
        let (_, unfed) = s.invoker.connection(name()).unwrap();
        let err = unfed.session(&client).unwrap_err();
        assert!(matches!(err, Error::SecretsUnavailable(_)), "{err:?}");
    }
}

#[test]
fn tls13_exporter_value_equals_rustls_export_keying_material_for_every_suite() {
    // The session computes TLS-Exporter("EXPORTER-3GPP-CAPIF-AEFPSK", "", 32) itself from the
    // exporter master secret; rustls's own export_keying_material is the reference.
    let pki = Pki::new();
    let provider = rustls_capif::default_provider();
    let tls13_suites: Vec<_> = provider
        .cipher_suites
        .iter()
        .filter(|s| s.version() == &rustls::version::TLS13)
        .copied()
        .collect();
    assert!(tls13_suites.len() >= 3, "{tls13_suites:?}");
    for suite in tls13_suites {
        let mut p = (*provider).clone();
        p.cipher_suites = vec![suite];
        let cc = rustls::ClientConfig::builder_with_provider(Arc::new(p))
            .with_protocol_versions(&[&rustls::version::TLS13])
            .unwrap()
            .with_root_certificates(pki.roots())
            .with_no_client_auth();
        let ccf = CcfConfig::new(server_config(&pki, Version::Tls13))
            .unwrap()
            .with_profile(Capif1eProfile::Tls13Exporter);
        let invoker = InvokerConfig::new(cc).with_profile(Capif1eProfile::Tls13Exporter);
        let (mut client, mut client_capture) = invoker.connection(name()).unwrap();
        let (mut server, mut server_capture) = ccf.connection().unwrap();
        let wire = capif1e_common::handshake_in_memory(&mut client, &mut server, 4096);
        feed(&mut client_capture, &wire);
        feed(&mut server_capture, &wire);
        assert_eq!(client.negotiated_cipher_suite(), Some(suite));
        let reference = server
            .export_keying_material([0u8; 32], PROFILE_LABEL, Some(b""))
            .unwrap();
        let sid = session_id_at_fixed_offset(&wire.server_to_client);
        let iface = aef("aef.example.com:8443");
        let expected = derive_aefpsk(&reference, &sid, &iface).unwrap();
        let invoker_session = client_capture.session(&client).unwrap();
        assert_eq!(
            invoker_session.derive_aef_psk(&iface).unwrap(),
            expected,
            "{suite:?}"
        );
        assert_eq!(
            server_capture
                .session(&server)
                .unwrap()
                .derive_aef_psk(&iface)
                .unwrap(),
            expected,
            "{suite:?}"
        );
    }
}

#[test]
fn session_before_the_handshake_finishes_is_an_invalid_state() {
    let pki = Pki::new();
    let s = setup(&pki, Version::Both, Version::Both);
    let (client, capture) = s.invoker.connection(name()).unwrap();
    let err = capture.session(&client).unwrap_err();
    assert!(matches!(err, Error::InvalidState(_)), "{err:?}");
}

#[test]
fn secrets_are_never_attributed_to_another_connection() {
    let pki = Pki::new();
    for version in [Version::Tls12, Version::Tls13] {
        let s = setup(&pki, version, version);
        // Another connection's bytes fed to a capture: refused, in both versions (the client
        // random does not match the one rustls logged the secret for).
        let (mut c1, mut cap1) = s.invoker.connection(name()).unwrap();
        let (mut s1, _) = s.ccf.connection().unwrap();
        let _w1 = capif1e_common::handshake_in_memory(&mut c1, &mut s1, 4096);
        let (mut c2, _) = s.invoker.connection(name()).unwrap();
        let (mut s2, _) = s.ccf.connection().unwrap();
        let w2 = capif1e_common::handshake_in_memory(&mut c2, &mut s2, 4096);
        feed(&mut cap1, &w2);
        let err = cap1.session(&c1).unwrap_err();
        assert!(
            matches!(err, Error::SecretsUnavailable(m) if m.contains("another connection")),
            "{version:?}: {err:?}"
        );

        // One per-connection config used for two connections: both sessions refused.
        let (config, mut capture) = s.invoker.connection_config();
        let mut a = rustls::ClientConnection::new(config.clone(), name()).unwrap();
        let mut b = rustls::ClientConnection::new(config, name()).unwrap();
        let (mut sa, _) = s.ccf.connection().unwrap();
        let (mut sb, _) = s.ccf.connection().unwrap();
        let wa = capif1e_common::handshake_in_memory(&mut a, &mut sa, 4096);
        let _wb = capif1e_common::handshake_in_memory(&mut b, &mut sb, 4096);
        feed(&mut capture, &wa);
        let err = capture.session(&a).unwrap_err();
        assert!(
            matches!(err, Error::SecretsUnavailable(m) if m.contains("more than one connection")),
            "{version:?}: {err:?}"
        );
    }
}

#[test]
fn session_debug_output_is_redacted() {
    let pki = Pki::new();
    let s = setup(&pki, Version::Tls12, Version::Tls12);
    let o = connect_blocking(&s.invoker, &s.ccf);
    let ms = logged_master_secret(&s.server_log, &o.client_flight);
    let dbg = format!("{:?} {:?} {:?}", o.invoker, s.invoker, s.ccf);
    assert!(dbg.contains("[redacted]"), "{dbg}");
    assert!(!dbg.contains(&capif1e_common::hex(&ms)), "{dbg}");
    assert!(!dbg.contains(&capif1e_common::hex(&ms[..8])), "{dbg}");
}

#[test]
fn handshake_failure_is_the_rustls_error() {
    let pki = Pki::new();
    let other = Pki::new(); // the invoker trusts another CA
    let invoker = InvokerConfig::new(client_config(&other, Version::Both));
    let ccf = CcfConfig::new(server_config(&pki, Version::Both)).unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = std::thread::spawn(move || {
        let (tcp, _) = listener.accept().unwrap();
        ccf.accept(tcp).map(|_| ())
    });
    let err = invoker
        .connect(name(), TcpStream::connect(addr).unwrap())
        .unwrap_err();
    assert!(
        matches!(err, Error::Rustls(rustls::Error::InvalidCertificate(_))),
        "{err:?}"
    );
    let server_err = server.join().unwrap().unwrap_err();
    assert!(
        matches!(server_err, Error::Rustls(rustls::Error::AlertReceived(_))),
        "{server_err:?}"
    );
}

#[test]
fn custom_blocking_loop_with_tap_stream_and_session_with_taps() {
    let pki = Pki::new();
    for version in [Version::Tls12, Version::Tls13] {
        let s = setup(&pki, version, version);
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let ccf = s.ccf.clone();
        let server = std::thread::spawn(move || {
            let (tcp, _) = listener.accept().unwrap();
            let (mut tls, session) = ccf.accept(tcp).unwrap();
            let mut b = [0u8; 1];
            tls.read_exact(&mut b).unwrap();
            session
        });
        // The invoker drives rustls itself over a TapStream.
        let (mut conn, capture) = s.invoker.connection(name()).unwrap();
        let mut io = rustls_capif::capif1e::TapStream::client(TcpStream::connect(addr).unwrap());
        while conn.is_handshaking() {
            conn.complete_io(&mut io).unwrap();
        }
        let session = capture.session_with_taps(&conn, io.taps()).unwrap();
        rustls::Stream::new(&mut conn, &mut io)
            .write_all(b"x")
            .unwrap();
        let iface = aef("aef.example.com:8443");
        assert_eq!(
            session.derive_aef_psk(&iface).unwrap(),
            server.join().unwrap().derive_aef_psk(&iface).unwrap(),
            "{version:?}"
        );
    }
}
