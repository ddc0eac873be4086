//! CAPIF-1e against real OpenSSL (the `openssl` 3.x command-line tool), with certificates
//! generated here: the AEFPSK each wrapper derives must equal the one recomputed from the
//! Session ID and master key that OpenSSL itself reports.
//!
//! These tests need the `openssl` binary; without it they fail (they never skip).

mod capif1e_common;

use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

use capif1e_common::{client_config, server_config, Pki, TempDir, Version, SERVER_NAME};
use rustls::pki_types::ServerName;
use rustls::{HandshakeKind, ProtocolVersion};
use rustls_capif::capif1e::{CcfConfig, InvokerConfig};
use rustls_capif::kdf::derive_aefpsk;
use rustls_capif::secret::decode_hex;
use rustls_capif::ServiceApiInterface;

const INSTALL_HINT: &str = "the CAPIF-1e interop tests need the OpenSSL command-line tool \
    (`openssl` in PATH); install it, e.g. `sudo apt-get install -y openssl` on Debian/Ubuntu, \
    or run `bash .ci/run`";

fn aef() -> ServiceApiInterface {
    ServiceApiInterface::parse("aef.example.com:8443").unwrap()
}

/// Fails the test (never skips) if `openssl` is missing.
fn require_openssl() {
    match Command::new("openssl").arg("version").output() {
        Ok(out) if out.status.success() => {}
        Ok(out) => panic!(
            "`openssl version` failed ({}): {INSTALL_HINT}",
            String::from_utf8_lossy(&out.stderr).trim()
        ),
        Err(e) => panic!("cannot run `openssl` ({e}): {INSTALL_HINT}"),
    }
}

/// A child process killed and reaped when dropped, on every path (panics included).
struct ChildGuard {
    child: Child,
    /// Kept open: `s_server` exits when its stdin closes.
    _stdin: Option<ChildStdin>,
}

impl ChildGuard {
    fn spawn(cmd: &mut Command) -> Self {
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start openssl ({e}): {INSTALL_HINT}"));
        let stdin = child.stdin.take();
        Self {
            child,
            _stdin: stdin,
        }
    }

    fn exited(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(Some(_)))
    }

    /// Waits for the process to exit by itself (at most `limit`).
    fn wait_exit(&mut self, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if self.exited() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts `openssl s_server -tls1_2 -www` with default options on a free port.
fn start_s_server(dir: &TempDir, pki: &Pki) -> (ChildGuard, u16) {
    let cert = dir.write("server-cert.pem", pki.leaf_pem.as_bytes());
    let key = dir.write("server-key.pem", pki.leaf_key_pem.as_bytes());
    for _attempt in 0..5 {
        let port = free_port();
        let log = std::fs::File::create(dir.path().join("s_server.log")).unwrap();
        let mut server = ChildGuard::spawn(
            Command::new("openssl")
                .arg("s_server")
                .args(["-accept", &format!("127.0.0.1:{port}")])
                .args(["-tls1_2", "-www"])
                .arg("-cert")
                .arg(&cert)
                .arg("-key")
                .arg(&key)
                .stdin(Stdio::piped())
                .stdout(log.try_clone().unwrap())
                .stderr(log),
        );
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline && !server.exited() {
            if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return (server, port);
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        // The port was taken in the meantime, or the server is slow: try another port.
    }
    panic!(
        "openssl s_server did not start: {}",
        std::fs::read_to_string(dir.path().join("s_server.log")).unwrap_or_default()
    );
}

/// Reads until the peer closes (with or without close_notify).
fn read_to_close(r: &mut impl Read) -> Vec<u8> {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match r.read(&mut buf) {
            Ok(0) => return out,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::UnexpectedEof | io::ErrorKind::ConnectionReset
                ) =>
            {
                return out
            }
            Err(e) => panic!("read: {e}"),
        }
    }
}

/// The hex value of the `name:` line in OpenSSL's session printout (`SSL_SESSION_print`).
fn session_field(text: &str, name: &str) -> Vec<u8> {
    let prefix = format!("{name}:");
    let line = text
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with(&prefix))
        .unwrap_or_else(|| panic!("no {name} line in:\n{text}"));
    decode_hex(line[prefix.len()..].trim()).unwrap().to_vec()
}

/// The invoker connects to s_server, sends `GET /`, and returns its session and the page.
fn get_status_page(
    invoker: &InvokerConfig,
    port: u16,
) -> (rustls_capif::capif1e::Capif1eSession, String, HandshakeKind) {
    let tcp = TcpStream::connect(("127.0.0.1", port)).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let name = ServerName::try_from(SERVER_NAME).unwrap();
    let (mut tls, session) = invoker.connect(name, tcp).unwrap();
    tls.write_all(b"GET / HTTP/1.0\r\n\r\n").unwrap();
    let page = String::from_utf8_lossy(&read_to_close(&mut tls)).into_owned();
    let kind = tls.conn.handshake_kind().unwrap();
    close(tls);
    (session, page, kind)
}

/// Sends close_notify and closes the socket (s_server serves one connection at a time and
/// waits for the client to close).
fn close<S: Read + Write>(mut tls: rustls::StreamOwned<rustls::ClientConnection, S>) {
    tls.conn.send_close_notify();
    let _ = tls.conn.complete_io(&mut tls.sock);
}

#[test]
fn invoker_to_openssl_s_server_matches_openssls_session_id_and_master_key() {
    require_openssl();
    let pki = Pki::new();
    let dir = TempDir::new("s_server");
    let (_server, port) = start_s_server(&dir, &pki);

    // The invoker offers TLS 1.2 and 1.3 with rustls defaults otherwise; s_server allows 1.2.
    let invoker = InvokerConfig::new(client_config(&pki, Version::Both));
    let (session, page, kind) = get_status_page(&invoker, port);
    assert_eq!(kind, HandshakeKind::Full);
    assert_eq!(session.protocol_version(), ProtocolVersion::TLSv1_2);
    assert!(page.contains("Protocol  : TLSv1.2"), "{page}");

    let sid = session_field(&page, "Session-ID");
    let master_key = session_field(&page, "Master-Key");
    assert_eq!(
        sid.len(),
        32,
        "OpenSSL allocates a Session ID when no ticket is offered"
    );
    assert_eq!(master_key.len(), 48);
    assert_eq!(session.session_id(), &sid[..]);
    let expected = derive_aefpsk(&master_key, &sid, &aef()).unwrap();
    assert_eq!(session.derive_aef_psk(&aef()).unwrap(), expected);

    // Session-ID resumption: OpenSSL reports the same session, the invoker the same key.
    let (resumed, page2, kind2) = get_status_page(&invoker, port);
    assert_eq!(kind2, HandshakeKind::Resumed);
    assert!(page2.contains("Reused, TLSv1.2"), "{page2}");
    assert_eq!(session_field(&page2, "Session-ID"), sid);
    assert_eq!(session_field(&page2, "Master-Key"), master_key);
    assert_eq!(resumed.derive_aef_psk(&aef()).unwrap(), expected);
}

#[test]
fn why_the_invoker_offers_no_tickets_openssl_sends_an_empty_session_id_otherwise() {
    // A stock rustls client (TLS 1.2 tickets offered) gets an empty Session ID from OpenSSL
    // 3.0; the invoker wrapper (same config, tickets off) gets 32 octets. This pins the
    // measured fact the invoker's design rests on.
    require_openssl();
    let pki = Pki::new();
    let dir = TempDir::new("s_server-tickets");
    let (_server, port) = start_s_server(&dir, &pki);

    let tcp = TcpStream::connect(("127.0.0.1", port)).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let stock = std::sync::Arc::new(client_config(&pki, Version::Tls12));
    let name = ServerName::try_from(SERVER_NAME).unwrap();
    let conn = rustls::ClientConnection::new(stock, name).unwrap();
    let mut tls = rustls::StreamOwned::new(conn, tcp);
    tls.write_all(b"GET / HTTP/1.0\r\n\r\n").unwrap();
    let page = String::from_utf8_lossy(&read_to_close(&mut tls)).into_owned();
    close(tls);
    assert!(session_field(&page, "Session-ID").is_empty(), "{page}");

    // The same server with the invoker: allow_empty_session_id is not needed.
    let invoker = InvokerConfig::new(client_config(&pki, Version::Tls12));
    let (session, page, _) = get_status_page(&invoker, port);
    assert_eq!(session_field(&page, "Session-ID").len(), 32);
    session.check_policy().unwrap();
}

/// What one `s_client` run against the CCF gave.
struct SClientRun {
    session: rustls_capif::capif1e::Capif1eSession,
    /// rustls's view of the CCF's handshake.
    kind: HandshakeKind,
    /// s_client's own output.
    log: String,
}

/// Runs `openssl s_client -tls1_2` against a CCF on loopback, saving the session to
/// `sess_out` (s_client writes it for new sessions only) or resuming `sess_in`.
fn s_client_to_ccf(
    ccf: &CcfConfig,
    pki: &Pki,
    dir: &TempDir,
    sess_in: Option<&Path>,
    sess_out: &Path,
) -> SClientRun {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let ccf = ccf.clone();
    let server = std::thread::spawn(move || {
        let (tcp, _) = listener.accept().unwrap();
        tcp.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        let (mut tls, session) = ccf.accept(tcp).unwrap();
        let received = read_to_close(&mut tls);
        let kind = tls.conn.handshake_kind().unwrap();
        (session, received, kind)
    });

    let ca = dir.write("ca.pem", pki.ca_pem.as_bytes());
    let log = std::fs::File::create(dir.path().join("s_client.log")).unwrap();
    let mut cmd = Command::new("openssl");
    cmd.arg("s_client")
        .args(["-connect", &format!("127.0.0.1:{port}")])
        .args([
            "-tls1_2",
            "-servername",
            SERVER_NAME,
            "-verify_return_error",
        ])
        .arg("-CAfile")
        .arg(&ca)
        .arg("-sess_out")
        .arg(sess_out);
    if let Some(sess_in) = sess_in {
        cmd.arg("-sess_in").arg(sess_in);
    }
    let mut client = ChildGuard::spawn(
        cmd.stdin(Stdio::piped())
            .stdout(log.try_clone().unwrap())
            .stderr(log),
    );
    // Send a line, then close stdin: s_client then closes the TLS connection and exits.
    let mut stdin = client._stdin.take().unwrap();
    stdin.write_all(b"hello from s_client\n").unwrap();
    drop(stdin);
    let exited = client.wait_exit(Duration::from_secs(20));
    let client_log = std::fs::read_to_string(dir.path().join("s_client.log")).unwrap_or_default();
    assert!(exited, "s_client did not exit:\n{client_log}");
    let (session, received, kind) = server.join().unwrap();
    assert_eq!(received, b"hello from s_client\n", "{client_log}");
    SClientRun {
        session,
        kind,
        log: client_log,
    }
}

/// `openssl sess_id -text -noout -in FILE`.
fn sess_id_text(file: &Path) -> String {
    let out = Command::new("openssl")
        .args(["sess_id", "-text", "-noout", "-in"])
        .arg(file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "sess_id failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn openssl_s_client_to_ccf_matches_the_saved_session() {
    require_openssl();
    let pki = Pki::new();
    let dir = TempDir::new("s_client");
    // The CCF allows TLS 1.2 and 1.3; s_client is limited to TLS 1.2.
    let ccf = CcfConfig::new(server_config(&pki, Version::Both)).unwrap();
    let first = dir.path().join("first.pem");
    let run = s_client_to_ccf(&ccf, &pki, &dir, None, &first);
    assert_eq!(run.kind, HandshakeKind::Full);
    assert!(run.log.contains("New, TLSv1.2"), "{}", run.log);
    let text = sess_id_text(&first);
    assert!(text.contains("Protocol  : TLSv1.2"), "{text}");
    let sid = session_field(&text, "Session-ID");
    let master_key = session_field(&text, "Master-Key");
    assert_eq!(sid.len(), 32);
    assert_eq!(master_key.len(), 48);
    assert_eq!(run.session.protocol_version(), ProtocolVersion::TLSv1_2);
    assert_eq!(run.session.session_id(), &sid[..]);
    let expected = derive_aefpsk(&master_key, &sid, &aef()).unwrap();
    assert_eq!(run.session.derive_aef_psk(&aef()).unwrap(), expected);

    // s_client resumes the saved session by Session ID: the CCF derives the original key.
    let resumed = s_client_to_ccf(&ccf, &pki, &dir, Some(&first), &dir.path().join("2.pem"));
    assert_eq!(resumed.kind, HandshakeKind::Resumed);
    assert!(resumed.log.contains("Reused, TLSv1.2"), "{}", resumed.log);
    assert_eq!(resumed.session.session_id(), &sid[..]);
    assert_eq!(resumed.session.derive_aef_psk(&aef()).unwrap(), expected);
}

/// The `capif1e_probe` example binary, built by `cargo test` next to the test binaries.
fn probe_binary() -> std::path::PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().and_then(Path::parent).unwrap();
    let probe = dir
        .join("examples")
        .join(format!("capif1e_probe{}", std::env::consts::EXE_SUFFIX));
    assert!(
        probe.exists(),
        "{} not found: run the tests with `cargo test` (which builds the examples) or \
         `cargo build --example capif1e_probe` first",
        probe.display()
    );
    probe
}

#[test]
fn probe_tool_prints_the_aefpsk_of_openssls_session() {
    require_openssl();
    let pki = Pki::new();
    let dir = TempDir::new("probe");
    let (_server, port) = start_s_server(&dir, &pki);
    let ca = dir.write("ca.pem", pki.ca_pem.as_bytes());
    let probe = probe_binary();
    let run = |extra: &[&str]| {
        Command::new(&probe)
            .args(["--connect", &format!("127.0.0.1:{port}")])
            .args([
                "--server-name",
                SERVER_NAME,
                "--interface",
                "aef.example.com:8443",
            ])
            .arg("--ca")
            .arg(&ca)
            .args(extra)
            .output()
            .unwrap()
    };

    let out = run(&["--tls12", "--show-psk", "--print-response"]);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut lines = stdout.lines();
    assert_eq!(lines.next(), Some("protocol TLSv1.2"));
    let psk_line = lines.next().unwrap();
    let hex = psk_line.strip_prefix("AEFPSK ").unwrap();
    assert_eq!(hex.len(), 64);
    assert!(hex
        .bytes()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)));
    // The response is OpenSSL's status page: recompute the key from what OpenSSL printed.
    let expected = derive_aefpsk(
        &session_field(&stdout, "Master-Key"),
        &session_field(&stdout, "Session-ID"),
        &aef(),
    )
    .unwrap();
    assert_eq!(hex, &*expected.to_authentication_info());

    // Without --show-psk: only the fingerprint (each run is a new process, so a new session;
    // recompute from that run's status page), and the key is nowhere in the output.
    let out = run(&["--print-response"]);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{stdout}");
    let expected2 = derive_aefpsk(
        &session_field(&stdout, "Master-Key"),
        &session_field(&stdout, "Session-ID"),
        &aef(),
    )
    .unwrap();
    assert_ne!(expected2, expected);
    let mut lines = stdout.lines();
    assert_eq!(lines.next(), Some("protocol TLSv1.2"), "default versions");
    assert_eq!(
        lines.next().unwrap(),
        format!("AEFPSK-fingerprint {}", expected2.fingerprint())
    );
    assert!(lines.next().unwrap().starts_with("HTTP/1.0 200"));
    assert!(!stdout.contains(&*expected2.to_authentication_info()));
    let out = run(&[]);
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 2);

    // Failures: non-zero exit and one line on stderr.
    for (extra, why) in [
        (&["--tls13"][..], "s_server only speaks TLS 1.2"),
        (&["--tls12", "--tls13"][..], "exclusive flags"),
        (&["--bogus"][..], "unknown flag"),
    ] {
        let out = run(extra);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{why}");
        assert_eq!(stderr.lines().count(), 1, "{why}: {stderr}");
        assert!(stderr.starts_with("error: "), "{why}: {stderr}");
        assert!(out.stdout.is_empty(), "{why}");
    }
    let out = Command::new(&probe)
        .args([
            "--connect",
            "127.0.0.1:1",
            "--server-name",
            "x",
            "--interface",
            "a:1",
        ])
        .args(["--ca", "/nonexistent/ca.pem"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--ca"));
}
