//! Records an on-path party inserts before the hellos (issue 16 §3): whatever rustls tolerates
//! there (warning alerts, a middlebox ChangeCipherSpec after a HelloRetryRequest, odd record
//! versions), the CAPIF-1e taps tolerate too, so a handshake rustls completes always yields its
//! key on both ends — the key rustls's own key log or exporter gives. Whatever rustls refuses
//! still fails, and no session (hence no key) comes out of it.

mod capif1e_common;

use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;

use capif1e_common::{
    client_config, random_at_fixed_offset, server_config, session_id_at_fixed_offset, Pki,
    Recording, RecordingKeyLog, Version, SERVER_NAME,
};
use rustls::pki_types::ServerName;
use rustls::{ClientConnection, HandshakeKind, PeerMisbehaved, ProtocolVersion, ServerConnection};
use rustls_capif::capif1e::{
    Capif1eProfile, CcfConfig, HelloTap, InvokerConfig, SessionCapture, TapState,
};
use rustls_capif::kdf::derive_aefpsk;
use rustls_capif::{Error, ServiceApiInterface};

const PROFILE_LABEL: &[u8] = b"EXPORTER-3GPP-CAPIF-AEFPSK";

const WARNING: u8 = 1;
const FATAL: u8 = 2;
const CLOSE_NOTIFY: u8 = 0;
const HANDSHAKE_FAILURE: u8 = 40;
const USER_CANCELED: u8 = 90;
const NO_RENEGOTIATION: u8 = 100;

fn iface() -> ServiceApiInterface {
    ServiceApiInterface::parse("aef.example.com:8443").unwrap()
}

fn name() -> ServerName<'static> {
    ServerName::try_from(SERVER_NAME).unwrap()
}

fn record(content_type: u8, version: u16, payload: &[u8]) -> Vec<u8> {
    let mut out = vec![content_type];
    out.extend_from_slice(&version.to_be_bytes());
    out.extend_from_slice(&(payload.len() as u16).to_be_bytes());
    out.extend_from_slice(payload);
    out
}

fn alert(level: u8, description: u8) -> Vec<u8> {
    record(21, 0x0303, &[level, description])
}

fn alerts(level: u8, description: u8, n: usize) -> Vec<u8> {
    (0..n).flat_map(|_| alert(level, description)).collect()
}

// ---- blocking connect()/accept() over TCP with an injecting transport ----------------------

/// A transport that hands the reader `injected` before the peer's first byte: what an on-path
/// party that inserts records in this direction does. `chunk` bytes of it per read; with
/// `coalesce`, the last injected bytes share one read with the peer's first bytes.
struct Injecting {
    inner: TcpStream,
    injected: Vec<u8>,
    at: usize,
    chunk: usize,
    coalesce: bool,
}

impl Injecting {
    fn new(inner: TcpStream, injected: Vec<u8>, chunk: usize, coalesce: bool) -> Self {
        Self {
            inner,
            injected,
            at: 0,
            chunk,
            coalesce,
        }
    }
}

impl Read for Injecting {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let rest = &self.injected[self.at..];
        if rest.is_empty() || buf.is_empty() {
            return self.inner.read(buf);
        }
        let n = rest.len().min(self.chunk).min(buf.len());
        buf[..n].copy_from_slice(&rest[..n]);
        self.at += n;
        // rustls reads only when it waits for the peer's flight, so this read returns.
        if self.coalesce && self.at == self.injected.len() && n < buf.len() {
            return Ok(n + self.inner.read(&mut buf[n..])?);
        }
        Ok(n)
    }
}

impl Write for Injecting {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.inner.write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

struct Setup {
    client: rustls::ClientConfig,
    ccf: CcfConfig,
    server_log: Arc<RecordingKeyLog>,
}

impl Setup {
    /// An invoker with an empty session cache, so that every handshake is a full one.
    fn invoker(&self) -> InvokerConfig {
        let mut client = self.client.clone();
        client.resumption = rustls::client::Resumption::default();
        // The TLS 1.3 cases derive keys: this crate's exporter profile on both ends.
        InvokerConfig::new(client).with_profile(Capif1eProfile::Tls13Exporter)
    }
}

fn setup(pki: &Pki, version: Version) -> Setup {
    let server_log = Arc::new(RecordingKeyLog::default());
    let mut sc = server_config(pki, version);
    sc.key_log = server_log.clone();
    Setup {
        client: client_config(pki, version),
        ccf: CcfConfig::new(sc)
            .unwrap()
            .with_profile(Capif1eProfile::Tls13Exporter),
        server_log,
    }
}

/// The master secret the server's own key log has for the connection whose ClientHello
/// starts `client_flight` (TLS 1.2).
fn logged_master_secret(log: &RecordingKeyLog, client_flight: &[u8]) -> Vec<u8> {
    let random = random_at_fixed_offset(client_flight);
    let lines: Vec<_> = log
        .client_random_lines()
        .into_iter()
        .filter(|(cr, _)| cr[..] == random[..])
        .collect();
    assert_eq!(lines.len(), 1);
    lines[0].1.clone()
}

/// The invoker's error and what the CCF's `accept()` gave.
type Refused = Box<(Error, Result<(), Error>)>;

struct Injection {
    to_ccf: Vec<u8>,
    to_invoker: Vec<u8>,
    chunk: usize,
    coalesce: bool,
}

/// `connect()` and `accept()` over loopback TCP with `inj` inserted in front of the first
/// flight of each direction. On success, checks that both ends derive the AEFPSK recomputed
/// from rustls's own key log (TLS 1.2) or exporter (TLS 1.3) and the Session ID on the wire.
fn connect_with_injection(s: &Setup, inj: Injection) -> Result<ProtocolVersion, Refused> {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let ccf = s.ccf.clone();
    let (to_ccf, chunk, coalesce) = (inj.to_ccf, inj.chunk, inj.coalesce);
    let server = std::thread::spawn(move || {
        let (tcp, _) = listener.accept().unwrap();
        let (rec, written) = Recording::new(Injecting::new(tcp, to_ccf, chunk, coalesce));
        let (mut tls, session) = ccf.accept(rec)?;
        let mut ping = [0u8; 4];
        tls.read_exact(&mut ping).unwrap();
        tls.write_all(b"pong").unwrap();
        let exporter = tls
            .conn
            .export_keying_material([0u8; 32], PROFILE_LABEL, Some(b""))
            .unwrap();
        let flight = written.lock().unwrap().clone();
        Ok::<_, Error>((session, flight, exporter))
    });
    let tcp = TcpStream::connect(addr).unwrap();
    let (rec, written) = Recording::new(Injecting::new(tcp, inj.to_invoker, chunk, coalesce));
    let (mut tls, invoker) = match s.invoker().connect(name(), rec) {
        Ok(ok) => ok,
        Err(e) => return Err(Box::new((e, server.join().unwrap().map(|_| ())))),
    };
    tls.write_all(b"ping").unwrap();
    let mut pong = [0u8; 4];
    let read = tls.read_exact(&mut pong);
    let (ccf, server_flight, exporter) = match server.join().unwrap() {
        Ok(ok) => ok,
        Err(e) => panic!("the invoker connected ({read:?}), the CCF did not: {e:?}"),
    };
    read.unwrap();
    let client_flight = written.lock().unwrap().clone();
    let version = tls.conn.protocol_version().unwrap();
    let key = match version {
        ProtocolVersion::TLSv1_2 => logged_master_secret(&s.server_log, &client_flight),
        _ => exporter.to_vec(),
    };
    let sid = session_id_at_fixed_offset(&server_flight);
    assert_eq!(sid.len(), 32);
    let expected = derive_aefpsk(&key, &sid, &iface()).unwrap();
    assert_eq!(invoker.derive_aef_psk(&iface()).unwrap(), expected);
    assert_eq!(ccf.derive_aef_psk(&iface()).unwrap(), expected);
    Ok(version)
}

#[test]
fn warning_alerts_before_either_hello_keep_the_key_tls12_and_tls13() {
    let pki = Pki::new();
    for (version, want) in [
        (Version::Tls12, ProtocolVersion::TLSv1_2),
        (Version::Tls13, ProtocolVersion::TLSv1_3),
    ] {
        let s = setup(&pki, version);
        for (what, to_ccf, to_invoker) in [
            (
                "no_renegotiation towards the CCF",
                alert(WARNING, NO_RENEGOTIATION),
                vec![],
            ),
            (
                "user_canceled towards the invoker",
                vec![],
                alert(WARNING, USER_CANCELED),
            ),
            (
                "both directions",
                alert(WARNING, USER_CANCELED),
                alert(WARNING, NO_RENEGOTIATION),
            ),
            (
                "four mixed warnings each way (rustls's limit)",
                [
                    alert(WARNING, CLOSE_NOTIFY),
                    alert(WARNING, 255),
                    alerts(WARNING, NO_RENEGOTIATION, 2),
                ]
                .concat(),
                [alerts(WARNING, USER_CANCELED, 3), alert(WARNING, 42)].concat(),
            ),
        ] {
            for (chunk, coalesce) in [(usize::MAX, false), (1, false), (3, true)] {
                let got = connect_with_injection(
                    &s,
                    Injection {
                        to_ccf: to_ccf.clone(),
                        to_invoker: to_invoker.clone(),
                        chunk,
                        coalesce,
                    },
                );
                match got {
                    Ok(v) => assert_eq!(v, want, "{version:?} {what}"),
                    Err(e) => panic!("{version:?} {what} chunk {chunk}: {e:?}"),
                }
            }
        }
    }
}

#[test]
fn what_rustls_refuses_before_a_hello_still_fails_with_no_session() {
    let pki = Pki::new();
    for version in [Version::Tls12, Version::Tls13] {
        let s = setup(&pki, version);
        // Five warnings towards the invoker: rustls's limit is four.
        let (client_err, server) = *connect_with_injection(
            &s,
            Injection {
                to_ccf: vec![],
                to_invoker: alerts(WARNING, USER_CANCELED, 5),
                chunk: usize::MAX,
                coalesce: false,
            },
        )
        .unwrap_err();
        assert!(
            matches!(
                client_err,
                Error::Rustls(rustls::Error::PeerMisbehaved(
                    PeerMisbehaved::TooManyWarningAlertsReceived
                ))
            ),
            "{version:?}: {client_err:?}"
        );
        assert!(server.is_err(), "{version:?}");

        // A fatal alert towards the CCF.
        let (client_err, server) = *connect_with_injection(
            &s,
            Injection {
                to_ccf: alert(FATAL, HANDSHAKE_FAILURE),
                to_invoker: vec![],
                chunk: 1,
                coalesce: false,
            },
        )
        .unwrap_err();
        let server_err = server.unwrap_err();
        assert!(
            matches!(
                server_err,
                Error::Rustls(rustls::Error::AlertReceived(
                    rustls::AlertDescription::HandshakeFailure
                ))
            ),
            "{version:?}: {server_err:?}"
        );
        // The invoker sees the CCF's alert, or the reset that follows it.
        assert!(
            matches!(client_err, Error::Rustls(_) | Error::Io(_)),
            "{client_err:?}"
        );
    }
}

// ---- sans-IO: per-flight tampering, HelloRetryRequest, differential check -----------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Dir {
    ToCcf,
    ToInvoker,
}

/// What the receiver of the `n`th flight of a direction sees instead of that flight.
type Tamper<'a> = &'a dyn Fn(Dir, usize, Vec<u8>) -> Vec<u8>;

/// Inserts `to_ccf(n)` / `to_invoker(n)` before the `n`th flight of each direction.
fn inject<'a>(
    to_ccf: &'a dyn Fn(usize) -> Vec<u8>,
    to_invoker: &'a dyn Fn(usize) -> Vec<u8>,
) -> impl Fn(Dir, usize, Vec<u8>) -> Vec<u8> + 'a {
    move |dir, n, flight| {
        let extra = match dir {
            Dir::ToCcf => to_ccf(n),
            Dir::ToInvoker => to_invoker(n),
        };
        [extra, flight].concat()
    }
}

fn none(_: usize) -> Vec<u8> {
    Vec::new()
}

fn first_flight(records: Vec<u8>) -> impl Fn(usize) -> Vec<u8> {
    move |n| if n == 0 { records.clone() } else { Vec::new() }
}

/// What an in-memory handshake with tampered flights gave.
struct Run {
    client: ClientConnection,
    server: ServerConnection,
    invoker_capture: SessionCapture,
    ccf_capture: SessionCapture,
    /// What the client and the server wrote (before tampering).
    client_wrote: Vec<u8>,
    server_wrote: Vec<u8>,
    /// The first rustls error, and which side raised it.
    error: Option<(Dir, rustls::Error)>,
}

/// Runs a handshake in memory; each flight is replaced by `tamper(dir, n, flight)` for its
/// receiver (and that receiver's capture) only. Bytes move `chunk` at a time.
fn run(s: &Setup, tamper: Tamper<'_>, chunk: usize) -> Run {
    let (client, invoker_capture) = s.invoker().connection(name()).unwrap();
    let (server, ccf_capture) = s.ccf.connection().unwrap();
    let mut r = Run {
        client,
        server,
        invoker_capture,
        ccf_capture,
        client_wrote: Vec::new(),
        server_wrote: Vec::new(),
        error: None,
    };
    for n in 0..20 {
        // client → CCF
        let mut buf = Vec::new();
        while r.client.wants_write() {
            r.client.write_tls(&mut buf).unwrap();
        }
        let _ = r.invoker_capture.client_sent(&buf);
        r.client_wrote.extend_from_slice(&buf);
        if !buf.is_empty() {
            for part in tamper(Dir::ToCcf, n, buf).chunks(chunk) {
                let _ = r.ccf_capture.client_sent(part);
                let mut rd = part;
                while !rd.is_empty() {
                    r.server.read_tls(&mut rd).unwrap();
                    if let Err(e) = r.server.process_new_packets() {
                        r.error = Some((Dir::ToCcf, e));
                        return r;
                    }
                }
            }
        }
        // CCF → invoker
        let mut buf = Vec::new();
        while r.server.wants_write() {
            r.server.write_tls(&mut buf).unwrap();
        }
        let _ = r.ccf_capture.server_sent(&buf);
        r.server_wrote.extend_from_slice(&buf);
        if !buf.is_empty() {
            for part in tamper(Dir::ToInvoker, n, buf).chunks(chunk) {
                let _ = r.invoker_capture.server_sent(part);
                let mut rd = part;
                while !rd.is_empty() {
                    r.client.read_tls(&mut rd).unwrap();
                    if let Err(e) = r.client.process_new_packets() {
                        r.error = Some((Dir::ToInvoker, e));
                        return r;
                    }
                }
            }
        }
        if !r.client.is_handshaking()
            && !r.server.is_handshaking()
            && !r.client.wants_write()
            && !r.server.wants_write()
        {
            return r;
        }
    }
    panic!("handshake does not progress");
}

impl Run {
    /// The AEFPSK recomputed from rustls's exporter (TLS 1.3) or the key log `log` (TLS 1.2)
    /// and the Session ID read off the wire.
    fn expected_key(&self, log: &RecordingKeyLog) -> rustls_capif::AefPsk {
        let key = match self.client.protocol_version().unwrap() {
            ProtocolVersion::TLSv1_2 => logged_master_secret(log, &self.client_wrote),
            _ => self
                .server
                .export_keying_material([0u8; 32], PROFILE_LABEL, Some(b""))
                .unwrap()
                .to_vec(),
        };
        let sid = server_hello_session_id(&self.server_wrote);
        assert_eq!(sid.len(), 32);
        derive_aefpsk(&key, &sid, &iface()).unwrap()
    }

    /// rustls completed: both captures give a session with the key rustls's own secrets give.
    fn assert_both_ends_have_the_key(self, log: &RecordingKeyLog, what: &str) {
        assert!(self.error.is_none(), "{what}: {:?}", self.error);
        let expected = self.expected_key(log);
        let invoker = self.invoker_capture.session(&self.client);
        let ccf = self.ccf_capture.session(&self.server);
        let (invoker, ccf) = match (invoker, ccf) {
            (Ok(i), Ok(c)) => (i, c),
            other => panic!("{what}: {other:?}"),
        };
        assert_eq!(
            invoker.derive_aef_psk(&iface()).unwrap(),
            expected,
            "{what}"
        );
        assert_eq!(ccf.derive_aef_psk(&iface()).unwrap(), expected, "{what}");
    }

    /// rustls failed: the tap of the refused direction gave up too, and neither capture
    /// gives a session.
    fn assert_refused(self, what: &str) -> rustls::Error {
        let (dir, err) = self
            .error
            .clone()
            .unwrap_or_else(|| panic!("{what}: completed"));
        let tap: &HelloTap = match dir {
            Dir::ToInvoker => self.invoker_capture.taps().server_tap(),
            Dir::ToCcf => self.ccf_capture.taps().client_tap(),
        };
        assert!(
            matches!(tap.state(), TapState::Abandoned | TapState::Failed(_)),
            "{what}: rustls refused {dir:?} ({err:?}) but the tap is {:?}",
            tap.state()
        );
        assert!(
            self.invoker_capture.session(&self.client).is_err(),
            "{what}"
        );
        assert!(self.ccf_capture.session(&self.server).is_err(), "{what}");
        err
    }
}

/// The Session ID of the first ServerHello that is not a HelloRetryRequest, at the start of
/// a handshake record in what the server wrote (rustls starts each hello in a record of its
/// own); parsed here, independently of the crate's tap.
fn server_hello_session_id(wire: &[u8]) -> Vec<u8> {
    const HRR: [u8; 8] = [0xcf, 0x21, 0xad, 0x74, 0xe5, 0x9a, 0x61, 0x11];
    let mut at = 0;
    while at + 5 <= wire.len() {
        let len = usize::from(u16::from_be_bytes([wire[at + 3], wire[at + 4]]));
        let body = &wire[at + 5..at + 5 + len];
        if wire[at] == 22 && body[0] == 2 && body[6..14] != HRR {
            return body[39..39 + usize::from(body[38])].to_vec();
        }
        at += 5 + len;
    }
    panic!("no ServerHello")
}

/// A CCF that supports only P-384, so a rustls invoker (X25519 first) gets a
/// HelloRetryRequest.
fn hrr_setup(pki: &Pki) -> Setup {
    let server_log = Arc::new(RecordingKeyLog::default());
    let mut provider = (*rustls_capif::default_provider()).clone();
    provider
        .kx_groups
        .retain(|g| g.name() == rustls::NamedGroup::secp384r1);
    let mut sc = rustls::ServerConfig::builder_with_provider(Arc::new(provider))
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![pki.leaf_der.clone()], pki.key())
        .unwrap();
    sc.key_log = server_log.clone();
    Setup {
        client: client_config(pki, Version::Both),
        ccf: CcfConfig::new(sc)
            .unwrap()
            .with_profile(Capif1eProfile::Tls13Exporter),
        server_log,
    }
}

#[test]
fn sans_io_warning_alerts_before_the_hellos_in_any_chunking() {
    let pki = Pki::new();
    for version in [Version::Tls12, Version::Tls13] {
        let s = setup(&pki, version);
        let four = first_flight(
            [
                alert(WARNING, NO_RENEGOTIATION),
                alerts(WARNING, USER_CANCELED, 3),
            ]
            .concat(),
        );
        for chunk in [1, 2, 6, 7, 8, 4096] {
            run(&s, &inject(&four, &four), chunk)
                .assert_both_ends_have_the_key(&s.server_log, &format!("{version:?} {chunk}"));
        }
        // One more warning than rustls tolerates, in either direction.
        let five = first_flight(alerts(WARNING, NO_RENEGOTIATION, 5));
        for tamper in [inject(&five, &none), inject(&none, &five)] {
            let err = run(&s, &tamper, 7).assert_refused("five warnings");
            assert_eq!(
                err,
                rustls::Error::PeerMisbehaved(PeerMisbehaved::TooManyWarningAlertsReceived)
            );
        }
    }
}

#[test]
fn hello_records_may_carry_any_record_version_rustls_accepts() {
    let pki = Pki::new();
    for version in [Version::Tls12, Version::Tls13] {
        let s = setup(&pki, version);
        for (record_version, accepted) in [
            (0x0300u16, true),
            (0x0301, true),
            (0x03ff, true),
            (0x0002, true),
            (0xfeff, true),
            (0xfefd, true),
            (0xfefc, true),
            (0x0203, false),
            (0x0403, false),
        ] {
            // The first record of the first flight each way (the hello) gets that version.
            let tamper = move |_: Dir, n: usize, mut flight: Vec<u8>| {
                if n == 0 {
                    flight[1..3].copy_from_slice(&record_version.to_be_bytes());
                }
                flight
            };
            let r = run(&s, &tamper, 5);
            let what = format!("{version:?} record version {record_version:#06x}");
            if accepted {
                r.assert_both_ends_have_the_key(&s.server_log, &what);
            } else {
                r.assert_refused(&what);
            }
        }
    }
}

#[test]
fn after_a_hello_retry_request_only_what_tls13_rustls_tolerates() {
    let pki = Pki::new();
    let s = hrr_setup(&pki);
    // Flight 1 towards the invoker carries the ServerHello (flight 0: HRR and the server's
    // compatibility CCS).
    let second = |records: Vec<u8>| move |n: usize| if n == 1 { records.clone() } else { vec![] };
    // (what, before the HRR, before the ServerHello)
    let ok: Vec<(&str, Vec<u8>, Vec<u8>)> = vec![
        (
            "four user_canceled after the HRR",
            vec![],
            alerts(WARNING, USER_CANCELED, 4),
        ),
        (
            "a second CCS (rustls allows two)",
            vec![],
            record(20, 0x0303, &[1]),
        ),
        (
            "three warnings before the HRR, one after it, and a CCS",
            alerts(WARNING, NO_RENEGOTIATION, 3),
            [alert(WARNING, USER_CANCELED), record(20, 0x0303, &[1])].concat(),
        ),
    ];
    for (what, before, after) in ok {
        let (before, after) = (first_flight(before), second(after));
        let both = |n: usize| [before(n), after(n)].concat();
        for chunk in [1, 5, 4096] {
            let r = run(&s, &inject(&none, &both), chunk);
            assert_eq!(
                r.client.handshake_kind(),
                Some(HandshakeKind::FullWithHelloRetryRequest)
            );
            r.assert_both_ends_have_the_key(&s.server_log, what);
        }
    }
    let refused: Vec<(&str, Vec<u8>)> = vec![
        (
            "no_renegotiation after the HRR (TLS 1.3)",
            alert(WARNING, NO_RENEGOTIATION),
        ),
        ("close_notify after the HRR", alert(WARNING, CLOSE_NOTIFY)),
        (
            "a third CCS",
            [record(20, 0x0303, &[1]), record(20, 0x0303, &[1])].concat(),
        ),
        ("a CCS of value 2", record(20, 0x0303, &[2])),
        ("a fatal alert", alert(FATAL, HANDSHAKE_FAILURE)),
    ];
    for (what, records) in refused {
        let after = second(records);
        for chunk in [1, 4096] {
            run(&s, &inject(&none, &after), chunk).assert_refused(what);
        }
    }
    // Five warnings in all, three before the HRR and two after it.
    let before = first_flight(alerts(WARNING, USER_CANCELED, 3));
    let after = second(alerts(WARNING, USER_CANCELED, 2));
    let both = |n: usize| [before(n), after(n)].concat();
    let err = run(&s, &inject(&none, &both), 3).assert_refused("five in all");
    assert_eq!(
        err,
        rustls::Error::PeerMisbehaved(PeerMisbehaved::TooManyWarningAlertsReceived)
    );
}

#[test]
fn records_rustls_refuses_before_the_first_hello() {
    let pki = Pki::new();
    for version in [Version::Tls12, Version::Tls13] {
        let s = setup(&pki, version);
        for (what, records) in [
            ("fatal alert", alert(FATAL, HANDSHAKE_FAILURE)),
            ("alert of unknown level", alert(3, USER_CANCELED)),
            ("alert of 1 octet", record(21, 0x0303, &[WARNING])),
            (
                "two alerts in one record",
                record(
                    21,
                    0x0303,
                    &[WARNING, USER_CANCELED, WARNING, USER_CANCELED],
                ),
            ),
            ("empty alert record", record(21, 0x0303, &[])),
            ("CCS before any hello", record(20, 0x0303, &[1])),
            ("empty application data", record(23, 0x0303, &[])),
            ("application data", record(23, 0x0303, &[0; 16])),
            ("heartbeat", record(24, 0x0303, &[1, 0, 0])),
            ("empty handshake record", record(22, 0x0303, &[])),
            ("unknown content type", record(25, 0x0303, &[0])),
            ("SSLv2 record", vec![0x80, 0x2e, 0x01, 0x03, 0x01, 0, 0]),
        ] {
            let records = first_flight(records);
            for tamper in [inject(&records, &none), inject(&none, &records)] {
                for chunk in [1, 4096] {
                    run(&s, &tamper, chunk).assert_refused(&format!("{version:?} {what}"));
                }
            }
        }
        // A warning alert between two fragments of a hello.
        let split = |_: Dir, n: usize, flight: Vec<u8>| {
            if n != 0 {
                return flight;
            }
            let len = usize::from(u16::from_be_bytes([flight[3], flight[4]]));
            let (hello, rest) = flight.split_at(5 + len);
            let body = &hello[5..];
            let v = u16::from_be_bytes([hello[1], hello[2]]);
            [
                record(22, v, &body[..10]),
                alert(WARNING, USER_CANCELED),
                record(22, v, &body[10..]),
                rest.to_vec(),
            ]
            .concat()
        };
        run(&s, &split, 4096).assert_refused("alert inside a hello");
    }
}

/// A small deterministic PRNG (xorshift64*), so failures reproduce.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Random records an on-path party could insert; if `tame`, only warning alerts in record
/// versions rustls accepts (so that many handshakes complete).
fn random_records(rng: &mut Rng, tame: bool) -> Vec<u8> {
    let versions = [0x0303u16, 0x0301, 0x0304, 0x0002, 0xfefd, 0x0203];
    let mut out = Vec::new();
    for _ in 0..rng.below(4) {
        let v = if rng.below(4) == 0 {
            versions[rng.below(versions.len() - usize::from(tame))]
        } else {
            0x0303
        };
        let r = match if tame { 0 } else { rng.below(16) } {
            0..=9 => {
                let desc = [
                    CLOSE_NOTIFY,
                    USER_CANCELED,
                    NO_RENEGOTIATION,
                    HANDSHAKE_FAILURE,
                    255,
                ][rng.below(5)];
                let level = match tame {
                    true => WARNING,
                    false => [WARNING, WARNING, WARNING, FATAL, 0, 3][rng.below(6)],
                };
                record(21, v, &[level, desc])
            }
            10 => record(21, v, &[WARNING, USER_CANCELED, 0][..rng.below(4)]),
            11 => record(20, v, &[[1, 1, 2][rng.below(3)]]),
            12 => record(23, v, &[0; 3][..rng.below(4)]),
            13 => record(24, v, &[1, 0, 0]),
            _ => alert(WARNING, USER_CANCELED),
        };
        out.extend(r);
    }
    out
}

/// Differential check against rustls itself: random records inserted before the hellos (the
/// ClientHello; the ServerHello and, with a HelloRetryRequest, the HRR). Where rustls
/// completes, both ends have the key; where it refuses, the tap has given up too.
#[test]
fn random_insertions_the_taps_agree_with_rustls() {
    let pki = Pki::new();
    let setups = [
        setup(&pki, Version::Tls12),
        setup(&pki, Version::Tls13),
        hrr_setup(&pki),
    ];
    let mut rng = Rng(0x5eed_1e55_c0ff_ee00);
    let (mut completed, mut refused) = (0, 0);
    for round in 0..600 {
        let with_hrr = round % setups.len() == 2;
        let s = &setups[round % setups.len()];
        let tame = round % 2 == 0;
        let to_ccf = random_records(&mut rng, tame);
        let to_invoker = [
            random_records(&mut rng, tame),
            random_records(&mut rng, tame),
        ];
        let tamper = |dir: Dir, n: usize, flight: Vec<u8>| {
            let extra = match (dir, n) {
                (Dir::ToCcf, 0) => &to_ccf[..],
                (Dir::ToInvoker, 0) => &to_invoker[0][..],
                (Dir::ToInvoker, 1) if with_hrr => &to_invoker[1][..],
                _ => &[],
            };
            [extra, &flight[..]].concat()
        };
        let chunk = [1, 3, 7, 64, 4096][rng.below(5)];
        let r = run(s, &tamper, chunk);
        let what = format!("round {round} chunk {chunk}");
        if r.error.is_none() {
            completed += 1;
            r.assert_both_ends_have_the_key(&s.server_log, &what);
        } else {
            refused += 1;
            r.assert_refused(&what);
        }
    }
    eprintln!("completed {completed}, refused {refused}");
    assert!(completed > 80 && refused > 80, "{completed} {refused}");
}
