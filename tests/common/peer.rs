//! Real TLS peers (the `openssl` and GnuTLS command-line tools) as child processes, and our
//! own client and server over TCP, for the interop tests.
//!
//! Every wait has a deadline, every child process is killed when its [`Peer`] guard drops
//! (also when a test panics), and a missing tool fails the test with the command that
//! installs it: interop tests never skip silently.

use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use rustls::{CipherSuite, NamedGroup};
use rustls_capif::psk::{
    ConnectionCommon, ExternalPsk, KeyExchangeMode, PskClientConfig, PskClientConnection,
    PskServerConfig, PskServerConnection, PskStream,
};
use rustls_capif::Error;

/// Upper bound for any single wait (a server starting, a peer finishing, a handshake).
pub const STEP_TIMEOUT: Duration = Duration::from_secs(10);
/// Socket read/write timeout for our side of a connection.
pub const IO_TIMEOUT: Duration = Duration::from_secs(5);

// ----- locating the tools ----------------------------------------------------------------------

/// The path of `tool` on `PATH`. Panics (fails the test) with an install hint if it is missing.
pub fn require_tool(tool: &str, package: &str) -> PathBuf {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(tool))
            .find(|p| is_executable(p))
    });
    match found {
        Some(path) => path,
        None => panic!(
            "interop test needs `{tool}`, which is not on PATH. Install it with \
             `apt-get install -y {package}` (Debian/Ubuntu; `.ci/run` does this). \
             Interop tests fail rather than skip when a peer is missing."
        ),
    }
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// `openssl`, or a failing test telling how to install it.
pub fn openssl() -> PathBuf {
    require_tool("openssl", "openssl")
}

/// `gnutls-serv`, or a failing test telling how to install it.
pub fn gnutls_serv() -> PathBuf {
    require_tool("gnutls-serv", "gnutls-bin")
}

/// `gnutls-cli`, or a failing test telling how to install it.
pub fn gnutls_cli() -> PathBuf {
    require_tool("gnutls-cli", "gnutls-bin")
}

// ----- ports -------------------------------------------------------------------------------------

/// A port that was free a moment ago on 127.0.0.1 (bind to port 0, read it, release it).
/// Another process may take it before the peer binds it: see [`spawn_server`].
pub fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .expect("bind 127.0.0.1:0")
        .port()
}

/// Connects to `127.0.0.1:port`, retrying until `timeout` while the server comes up.
pub fn connect_with_retry(port: u16, timeout: Duration) -> TcpStream {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let deadline = Instant::now() + timeout;
    loop {
        match TcpStream::connect_timeout(&addr, Duration::from_secs(1)) {
            Ok(tcp) => {
                tcp.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
                tcp.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
                return tcp;
            }
            Err(e) if Instant::now() >= deadline => panic!("connect to {addr}: {e}"),
            Err(_) => thread::sleep(Duration::from_millis(20)),
        }
    }
}

// ----- child processes ---------------------------------------------------------------------------

/// A running peer process. Its stdout and stderr are collected separately in the background
/// (so that their lines cannot interleave mid-line); dropping the guard kills the process.
pub struct Peer {
    name: String,
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: Arc<Mutex<Vec<u8>>>,
    stderr: Arc<Mutex<Vec<u8>>>,
    readers: Vec<JoinHandle<()>>,
}

impl Peer {
    /// Starts `cmd` with piped stdin, stdout and stderr.
    pub fn spawn(mut cmd: Command) -> Peer {
        let name = format!("{cmd:?}");
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        let stdout = Arc::new(Mutex::new(Vec::new()));
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let readers = vec![
            collect(child.stdout.take().expect("piped stdout"), stdout.clone()),
            collect(child.stderr.take().expect("piped stderr"), stderr.clone()),
        ];
        Peer {
            name,
            stdin: child.stdin.take(),
            child,
            stdout,
            stderr,
            readers,
        }
    }

    /// Everything the peer printed so far: its stdout, then its stderr.
    pub fn output(&self) -> String {
        let mut all = String::from_utf8_lossy(&self.stdout.lock().unwrap()).into_owned();
        all.push_str("\n--- stderr ---\n");
        all.push_str(&String::from_utf8_lossy(&self.stderr.lock().unwrap()));
        all
    }

    /// Waits until the output contains `needle`. Fails early if the process exits first.
    pub fn wait_for(&mut self, needle: &str, timeout: Duration) -> Result<(), String> {
        self.wait_for_any(&[needle], timeout).map(|_| ())
    }

    /// Waits until the output contains one of `needles`; returns the index of the first one
    /// found. Fails early if the process exits first.
    pub fn wait_for_any(&mut self, needles: &[&str], timeout: Duration) -> Result<usize, String> {
        let deadline = Instant::now() + timeout;
        let found = |output: String| needles.iter().position(|n| output.contains(n));
        loop {
            if let Some(i) = found(self.output()) {
                return Ok(i);
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                // Give the reader threads a moment to drain the pipes.
                thread::sleep(Duration::from_millis(50));
                if let Some(i) = found(self.output()) {
                    return Ok(i);
                }
                return Err(format!(
                    "{} exited ({status}) before printing any of {needles:?}:\n{}",
                    self.name,
                    self.output()
                ));
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "{} did not print any of {needles:?} within {timeout:?}:\n{}",
                    self.name,
                    self.output()
                ));
            }
            thread::sleep(Duration::from_millis(10));
        }
    }

    /// Writes to the peer's stdin (which stays open until [`close_stdin`](Self::close_stdin)).
    pub fn write_stdin(&mut self, data: &[u8]) {
        let stdin = self.stdin.as_mut().expect("stdin already closed");
        stdin.write_all(data).expect("write to peer stdin");
        stdin.flush().expect("flush peer stdin");
    }

    /// Closes the peer's stdin (end of input).
    pub fn close_stdin(&mut self) {
        self.stdin = None;
    }

    /// Waits up to `timeout` for the process to exit on its own, then kills it. Returns its
    /// exit status (`None` if it had to be killed) and its complete output.
    pub fn finish(mut self, timeout: Duration) -> (Option<ExitStatus>, String) {
        let deadline = Instant::now() + timeout;
        let status = loop {
            match self.child.try_wait() {
                Ok(Some(status)) => break Some(status),
                Ok(None) if Instant::now() < deadline => thread::sleep(Duration::from_millis(10)),
                _ => break None,
            }
        };
        self.stop();
        (status, self.output())
    }

    /// Kills the process (if still running) and collects the rest of its output.
    fn stop(&mut self) {
        self.stdin = None;
        let _ = self.child.kill();
        let _ = self.child.wait();
        for reader in self.readers.drain(..) {
            let _ = reader.join();
        }
    }

    /// Kills the process and returns its complete output.
    pub fn kill(mut self) -> String {
        self.stop();
        self.output()
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        self.stop();
    }
}

fn collect(mut pipe: impl Read + Send + 'static, sink: Arc<Mutex<Vec<u8>>>) -> JoinHandle<()> {
    thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = pipe.read(&mut buf) {
            if n == 0 {
                break;
            }
            sink.lock().unwrap().extend_from_slice(&buf[..n]);
        }
    })
}

/// Starts a server peer on a free port: `command(port)` builds the command line and
/// `ready(port)` is the line the tool prints once it listens. If the port was taken in the
/// meantime (the tool reports "Address already in use": `s_server` then exits, `gnutls-serv`
/// carries on with IPv6 only), retries on another port.
pub fn spawn_server(
    command: impl Fn(u16) -> Command,
    ready: impl Fn(u16) -> String,
) -> (Peer, u16) {
    const BIND_FAILURE: &str = "Address already in use";
    let mut last_failure = String::new();
    for _ in 0..5 {
        let port = free_port();
        let mut peer = Peer::spawn(command(port));
        match peer.wait_for_any(&[BIND_FAILURE, &ready(port)], STEP_TIMEOUT) {
            Ok(1) if !peer.output().contains(BIND_FAILURE) => return (peer, port),
            Ok(_) => last_failure = peer.kill(),
            Err(e) if peer.output().contains(BIND_FAILURE) => last_failure = e,
            Err(e) => panic!("{e}"),
        }
    }
    panic!("no usable port after 5 attempts; last failure:\n{last_failure}");
}

// ----- our side ----------------------------------------------------------------------------------

/// What our side of a connection negotiated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Negotiated {
    /// The cipher suite.
    pub suite: Option<CipherSuite>,
    /// The (EC)DHE group (`None` with psk_ke).
    pub group: Option<NamedGroup>,
    /// psk_dhe_ke or psk_ke.
    pub mode: Option<KeyExchangeMode>,
    /// Whether a HelloRetryRequest happened.
    pub hello_retry: bool,
    /// The authenticated PSK identity.
    pub identity: Option<Vec<u8>>,
    /// The ALPN protocol.
    pub alpn: Option<Vec<u8>>,
    /// KeyUpdates (sent, received).
    pub key_updates: (u64, u64),
    /// RFC 9266 `tls-exporter` channel binding (32 octets, label "EXPORTER-Channel-Binding").
    pub tls_exporter: Option<String>,
    /// The same with an empty (rather than no) context: equal in TLS 1.3, different in TLS
    /// 1.2 (RFC 5705), where GnuTLS prints this one as `tls-exporter`.
    pub tls_exporter_empty_context: Option<String>,
}

impl Negotiated {
    fn of(conn: &ConnectionCommon, identity: Option<&[u8]>) -> Self {
        let tls_exporter = conn
            .export_keying_material([0u8; 32], b"EXPORTER-Channel-Binding", None)
            .ok()
            .map(|exporter| hex(&exporter));
        let tls_exporter_empty_context = conn
            .export_keying_material([0u8; 32], b"EXPORTER-Channel-Binding", Some(&[]))
            .ok()
            .map(|exporter| hex(&exporter));
        Self {
            suite: conn.negotiated_cipher_suite(),
            group: conn.negotiated_key_exchange_group(),
            mode: conn.key_exchange_mode(),
            hello_retry: conn.had_hello_retry_request(),
            identity: identity.map(<[u8]>::to_vec),
            alpn: conn.alpn_protocol().map(<[u8]>::to_vec),
            key_updates: conn.key_update_counts(),
            tls_exporter,
            tls_exporter_empty_context,
        }
    }
}

/// The typed engine error inside an `io::Error` from [`PskStream`] (or the I/O error itself).
pub fn engine_error(e: io::Error) -> Error {
    if e.get_ref().is_some_and(|inner| inner.is::<Error>()) {
        match e.into_inner().map(|inner| inner.downcast::<Error>()) {
            Some(Ok(err)) => *err,
            _ => unreachable!("checked above"),
        }
    } else {
        Error::Io(e)
    }
}

/// How our client reads the server's answer.
#[derive(Clone, Copy, Debug)]
pub enum ReadUntil {
    /// Until the server closes (an HTTP/1.0 server such as `s_server -www`).
    Close,
    /// Until this many bytes arrived (an echo server), then we close.
    Bytes(usize),
}

/// What happened on our client's side.
#[derive(Debug)]
pub struct ClientOutcome {
    /// The negotiated parameters (also after a failure, as far as the handshake got).
    pub negotiated: Negotiated,
    /// The handshake's or the exchange's error, if any.
    pub error: Option<Error>,
    /// The plaintext received.
    pub response: Vec<u8>,
    /// Whether the server ended with close_notify (only meaningful with [`ReadUntil::Close`]).
    pub clean_close: bool,
}

/// Runs our client against `127.0.0.1:port`: handshake, send `request`, read the answer.
pub fn run_client(
    config: PskClientConfig,
    port: u16,
    request: &[u8],
    until: ReadUntil,
) -> ClientOutcome {
    let tcp = connect_with_retry(port, STEP_TIMEOUT);
    let conn = PskClientConnection::new(Arc::new(config)).expect("client connection");
    let mut tls = PskStream::new(conn, tcp);
    let mut response = Vec::new();
    let mut clean_close = false;
    let result = client_exchange(&mut tls, request, until, &mut response, &mut clean_close);
    let negotiated = Negotiated::of(&tls.conn, tls.conn.psk_identity());
    ClientOutcome {
        negotiated,
        error: result.err().map(engine_error),
        response,
        clean_close,
    }
}

fn client_exchange(
    tls: &mut PskStream<PskClientConnection, TcpStream>,
    request: &[u8],
    until: ReadUntil,
    response: &mut Vec<u8>,
    clean_close: &mut bool,
) -> io::Result<()> {
    tls.handshake()?;
    tls.write_all(request)?;
    tls.flush()?;
    let mut buf = [0u8; 4096];
    loop {
        if let ReadUntil::Bytes(n) = until {
            if response.len() >= n {
                return tls.close();
            }
        }
        match tls.read(&mut buf)? {
            0 => {
                *clean_close = true;
                return Ok(());
            }
            n => response.extend_from_slice(&buf[..n]),
        }
    }
}

/// What happened on our server's side of one connection.
#[derive(Debug)]
pub struct ServerOutcome {
    /// The negotiated parameters (as far as the handshake got).
    pub negotiated: Negotiated,
    /// The handshake's or the exchange's error, if any.
    pub error: Option<Error>,
    /// The request head the client sent.
    pub request: Vec<u8>,
    /// The server name (SNI) the client sent.
    pub server_name: Option<String>,
}

/// A key lookup for a deferred server connection: offered identities in, key out.
pub type Lookup = Box<dyn FnOnce(&[Vec<u8>]) -> Option<ExternalPsk> + Send>;

/// Our server, listening on 127.0.0.1 (port chosen by the OS) for one connection in a thread.
pub struct OneShotServer {
    /// The port it listens on.
    pub port: u16,
    outcome: mpsc::Receiver<ServerOutcome>,
    _thread: JoinHandle<()>,
}

impl OneShotServer {
    /// Binds and starts serving: one connection gets the handshake, a request head is read and
    /// answered with a small HTTP/1.0 page naming the identity, then close_notify.
    pub fn start(config: PskServerConfig) -> Self {
        Self::with_keys(config, None)
    }

    /// Like [`start`](Self::start), but the connection is created with
    /// `PskServerConnection::new_deferred`: it pauses after the ClientHello, `lookup` gets the
    /// offered identities (as an AEF asking its CCF would) and its answer goes to
    /// `provide_psk`.
    pub fn start_deferred(config: PskServerConfig, lookup: Lookup) -> Self {
        Self::with_keys(config, Some(lookup))
    }

    fn with_keys(config: PskServerConfig, lookup: Option<Lookup>) -> Self {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind 127.0.0.1:0");
        let port = listener.local_addr().unwrap().port();
        let (tx, outcome) = mpsc::channel();
        let config = Arc::new(config);
        let thread = thread::spawn(move || {
            if let Some(tcp) = accept_with_deadline(&listener, STEP_TIMEOUT) {
                let _ = tx.send(serve(config, lookup, tcp));
            }
        });
        Self {
            port,
            outcome,
            _thread: thread,
        }
    }

    /// Waits (bounded) for the connection's outcome.
    pub fn outcome(&self) -> ServerOutcome {
        self.outcome
            .recv_timeout(STEP_TIMEOUT + IO_TIMEOUT)
            .expect("our server saw no connection (or did not finish) in time")
    }
}

fn accept_with_deadline(listener: &TcpListener, timeout: Duration) -> Option<TcpStream> {
    listener.set_nonblocking(true).ok()?;
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        match listener.accept() {
            Ok((tcp, _)) => {
                tcp.set_nonblocking(false).ok()?;
                tcp.set_read_timeout(Some(IO_TIMEOUT)).ok()?;
                tcp.set_write_timeout(Some(IO_TIMEOUT)).ok()?;
                return Some(tcp);
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                thread::sleep(Duration::from_millis(5))
            }
            Err(_) => return None,
        }
    }
    None
}

fn serve(config: Arc<PskServerConfig>, lookup: Option<Lookup>, tcp: TcpStream) -> ServerOutcome {
    let conn = match lookup {
        None => PskServerConnection::new(config),
        Some(_) => PskServerConnection::new_deferred(config),
    };
    let mut tls = PskStream::new(conn, tcp);
    let mut request = Vec::new();
    let result = match lookup {
        Some(lookup) => deferred_key(&mut tls, lookup),
        None => Ok(()),
    }
    .and_then(|()| server_exchange(&mut tls, &mut request));
    ServerOutcome {
        negotiated: Negotiated::of(&tls.conn, tls.conn.psk_identity()),
        error: result.err().map(engine_error),
        request,
        server_name: tls.conn.server_name().map(str::to_string),
    }
}

/// Reads until a deferred connection waits for its key, then supplies it.
fn deferred_key(
    tls: &mut PskStream<PskServerConnection, TcpStream>,
    lookup: Lookup,
) -> io::Result<()> {
    while !tls.conn.is_awaiting_psk() {
        if tls.conn.read_tls(&mut tls.sock)? == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        tls.conn.process_new_packets()?;
    }
    let offered = tls
        .conn
        .offered_psk_identities()
        .unwrap_or_default()
        .to_vec();
    let result = tls.conn.provide_psk(lookup(&offered));
    // Send what provide_psk queued: the server's flight, or the alert of a failure.
    while tls.conn.wants_write() {
        tls.conn.write_tls(&mut tls.sock)?;
    }
    result.map(|_| ()).map_err(io::Error::from)
}

fn server_exchange(
    tls: &mut PskStream<PskServerConnection, TcpStream>,
    request: &mut Vec<u8>,
) -> io::Result<()> {
    tls.handshake()?;
    let mut buf = [0u8; 1024];
    while !head_complete(request) && request.len() < 8192 {
        match tls.read(&mut buf)? {
            0 => break,
            n => request.extend_from_slice(&buf[..n]),
        }
    }
    let identity = String::from_utf8_lossy(tls.conn.psk_identity().unwrap_or_default());
    let body = format!("authenticated PSK identity: {identity}\n");
    let response = format!(
        "HTTP/1.0 200 OK\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    tls.write_all(response.as_bytes())?;
    tls.close()
}

/// A request head ends with an empty line (CRLF, or bare LF from line-based tools).
fn head_complete(request: &[u8]) -> bool {
    request.windows(4).any(|w| w == b"\r\n\r\n") || request.windows(2).any(|w| w == b"\n\n")
}

// ----- files and encodings -----------------------------------------------------------------------

/// A private scratch directory, removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    /// Creates a fresh directory under the system temp dir.
    pub fn new(tag: &str) -> Self {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let dir =
            std::env::temp_dir().join(format!("rustls-capif-{tag}-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("create temp dir");
        Self(dir)
    }

    /// Writes `contents` to `name` inside the directory and returns its path.
    pub fn write(&self, name: &str, contents: &[u8]) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, contents).expect("write temp file");
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Lowercase hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A PEM `SSL SESSION PARAMETERS` file that OpenSSL's `-psk_session` accepts as an external
/// TLS 1.3 PSK: the session's master key is the PSK, its cipher fixes the PSK's hash, and a
/// non-zero `max_early_data` lets `s_client -early_data` send 0-RTT data with it.
///
/// Encodes the fields of OpenSSL's `SSL_SESSION_ASN1` (`ssl/ssl_asn1.c`) that matter:
/// `SEQUENCE { version INTEGER (1), ssl_version INTEGER (0x0304), cipher OCTET STRING (2),
/// session_id OCTET STRING, master_key OCTET STRING, [2] EXPLICIT timeout INTEGER,
/// [15] EXPLICIT max_early_data INTEGER OPTIONAL }`. The timeout must be set: with OpenSSL's
/// default of 3 s a server ignores the PSK once it has run that long (and falls back to a
/// certificate handshake).
pub fn openssl_psk_session_pem(
    cipher_suite: CipherSuite,
    key: &[u8],
    max_early_data: u32,
) -> String {
    let mut body = Vec::new();
    body.extend(der(0x02, &der_uint(1)));
    body.extend(der(0x02, &der_uint(0x0304)));
    body.extend(der(0x04, &u16::from(cipher_suite).to_be_bytes()));
    body.extend(der(0x04, &[]));
    body.extend(der(0x04, key));
    body.extend(der(0xa2, &der(0x02, &der_uint(86400))));
    if max_early_data > 0 {
        body.extend(der(0xaf, &der(0x02, &der_uint(max_early_data))));
    }
    let session = der(0x30, &body);
    let mut pem = String::from("-----BEGIN SSL SESSION PARAMETERS-----\n");
    for line in base64(&session).as_bytes().chunks(64) {
        pem.push_str(std::str::from_utf8(line).unwrap());
        pem.push('\n');
    }
    pem.push_str("-----END SSL SESSION PARAMETERS-----\n");
    pem
}

/// The minimal two's-complement big-endian content octets of a non-negative INTEGER.
fn der_uint(n: u32) -> Vec<u8> {
    let bytes = n.to_be_bytes();
    let skip = bytes.iter().take_while(|b| **b == 0).count().min(3);
    let mut out = bytes[skip..].to_vec();
    if out[0] & 0x80 != 0 {
        out.insert(0, 0);
    }
    out
}

/// One DER TLV (definite length, up to 65535 octets of content).
fn der(tag: u8, content: &[u8]) -> Vec<u8> {
    let len = content.len();
    let mut out = vec![tag];
    match len {
        0..=0x7f => out.push(len as u8),
        0x80..=0xff => out.extend([0x81, len as u8]),
        _ => out.extend([0x82, (len >> 8) as u8, len as u8]),
    }
    out.extend_from_slice(content);
    out
}

/// Standard base64 with padding (RFC 4648 §4).
fn base64(data: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = u32::from(b[0]) << 16 | u32::from(b[1]) << 8 | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 0x3f) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Fails with the peer's whole output unless it contains `needle`.
#[track_caller]
pub fn assert_output_contains(output: &str, needle: &str) {
    assert!(
        output.contains(needle),
        "peer output lacks {needle:?}; full output:\n{output}"
    );
}

/// Fails with the peer's whole output if it contains `needle`.
#[track_caller]
pub fn assert_output_lacks(output: &str, needle: &str) {
    assert!(
        !output.contains(needle),
        "peer output unexpectedly contains {needle:?}; full output:\n{output}"
    );
}
