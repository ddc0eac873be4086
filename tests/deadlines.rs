//! Whole-handshake deadlines on blocking I/O (issue 10 §4): a client that paces its bytes
//! below any per-read timeout is still cut off when the handshake's time is up, and the
//! transport's own timeouts come back afterwards.

mod capif1e_common;

use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use capif1e_common::{server_config, Pki, Version};
use rustls_capif::capif1e::CcfConfig;
use rustls_capif::psk::*;
use rustls_capif::Error;

const LIMIT: Duration = Duration::from_millis(600);
/// The trickling client sends one byte this often: far below any sane per-read timeout.
const PACE: Duration = Duration::from_millis(40);

fn key() -> ExternalPsk {
    ExternalPsk::new(b"invoker-1".to_vec(), &[3; 32], PskHash::Sha256).unwrap()
}

fn psk_server_config() -> Arc<PskServerConfig> {
    let store: StaticPskResolver = [key()].into_iter().collect();
    Arc::new(PskServerConfig::new(Arc::new(store)))
}

/// A client that sends `flight` one byte every `PACE`, until the server hangs up.
fn trickle(addr: std::net::SocketAddr, flight: Vec<u8>) -> std::thread::JoinHandle<usize> {
    std::thread::spawn(move || {
        let mut tcp = TcpStream::connect(addr).unwrap();
        tcp.set_nodelay(true).unwrap();
        let mut sent = 0;
        for byte in flight.iter().cycle() {
            if tcp.write_all(&[*byte]).is_err() {
                break;
            }
            sent += 1;
            std::thread::sleep(PACE);
            if sent > 2_000 {
                break; // 80 s: the server never hung up
            }
        }
        sent
    })
}

/// The first flight of a PSK client.
fn psk_client_hello() -> Vec<u8> {
    let mut client = PskClientConnection::new(Arc::new(PskClientConfig::new(key()))).unwrap();
    let mut flight = Vec::new();
    while client.wants_write() {
        client.write_tls(&mut flight).unwrap();
    }
    flight
}

#[test]
fn psk_stream_handshake_within_cuts_off_a_trickling_client() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let client = trickle(listener.local_addr().unwrap(), psk_client_hello());
    let (tcp, _) = listener.accept().unwrap();
    // A per-read timeout well above the pace: on its own it would never fire.
    tcp.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut tls = PskStream::new(PskServerConnection::new(psk_server_config()), tcp);

    let start = Instant::now();
    let err = tls.handshake_within(LIMIT).unwrap_err();
    let took = start.elapsed();
    assert_eq!(err.kind(), std::io::ErrorKind::TimedOut, "{err}");
    assert!(
        took >= LIMIT && took < LIMIT + Duration::from_millis(900),
        "the handshake ended after {took:?} (limit {LIMIT:?})"
    );
    // The transport's own timeouts are back.
    assert_eq!(
        tls.get_ref().read_timeout().unwrap(),
        Some(Duration::from_secs(5))
    );
    assert_eq!(tls.get_ref().write_timeout().unwrap(), None);
    drop(tls);
    let sent = client.join().unwrap();
    assert!(
        sent < 100,
        "the client could send {sent} bytes before the server hung up"
    );
}

#[test]
fn psk_stream_handshake_within_completes_a_normal_handshake() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let client = std::thread::spawn(move || {
        let conn = PskClientConnection::new(Arc::new(PskClientConfig::new(key()))).unwrap();
        let mut tls = PskStream::new(conn, TcpStream::connect(addr).unwrap());
        tls.handshake_within(Duration::from_secs(10)).unwrap();
        tls.write_all(b"ping").unwrap();
        tls.close().unwrap();
    });
    let (tcp, _) = listener.accept().unwrap();
    let mut tls = PskStream::new(PskServerConnection::new(psk_server_config()), tcp);
    tls.handshake_within(Duration::from_secs(10)).unwrap();
    assert_eq!(tls.conn.psk_identity(), Some(&b"invoker-1"[..]));
    let mut got = Vec::new();
    std::io::Read::read_to_end(&mut tls, &mut got).unwrap();
    assert_eq!(got, b"ping");
    // No timeout was left on the socket.
    assert_eq!(tls.get_ref().read_timeout().unwrap(), None);
    client.join().unwrap();
}

#[test]
fn ccf_accept_within_cuts_off_a_trickling_client() {
    let pki = Pki::new();
    let ccf = CcfConfig::new(server_config(&pki, Version::Tls12)).unwrap();
    // A rustls ClientHello to trickle.
    let client_config = capif1e_common::client_config(&pki, Version::Tls12);
    let mut client = rustls::ClientConnection::new(
        Arc::new(client_config),
        capif1e_common::SERVER_NAME.try_into().unwrap(),
    )
    .unwrap();
    let mut hello = Vec::new();
    client.write_tls(&mut hello).unwrap();

    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let trickler = trickle(listener.local_addr().unwrap(), hello);
    let (tcp, _) = listener.accept().unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(5))).unwrap();

    let start = Instant::now();
    let err = ccf.accept_within(&tcp, LIMIT).map(|_| ()).unwrap_err();
    let took = start.elapsed();
    assert!(matches!(err, Error::HandshakeTimeout), "{err:?}");
    assert!(
        took >= LIMIT && took < LIMIT + Duration::from_millis(900),
        "the handshake ended after {took:?} (limit {LIMIT:?})"
    );
    assert_eq!(tcp.read_timeout().unwrap(), Some(Duration::from_secs(5)));
    drop(tcp);
    assert!(trickler.join().unwrap() < 100);
}

/// The `psk_server` example binary, built by `cargo test` next to the test binaries.
fn example_binary(name: &str) -> std::path::PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().and_then(std::path::Path::parent).unwrap();
    let path = dir
        .join("examples")
        .join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    assert!(
        path.exists(),
        "{} not found: run the tests with `cargo test` (which builds the examples) or \
         `cargo build --example {name}` first",
        path.display()
    );
    path
}

struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn psk_server_example_cuts_off_a_trickling_client_after_its_handshake_deadline() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr: std::net::SocketAddr = ([127, 0, 0, 1], port).into();
    let _server = KillOnDrop(
        std::process::Command::new(example_binary("psk_server"))
            .args(["--listen", &addr.to_string(), "--identity", "invoker-1"])
            .args(["--psk", &"03".repeat(32)])
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    let start = Instant::now();
    while TcpStream::connect(addr).is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "psk_server did not start"
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    // One byte every 150 ms: each read of the server gets a byte long before its 10 s read
    // timeout; only a deadline for the whole handshake ends this.
    let hello = psk_client_hello();
    let mut tcp = TcpStream::connect(addr).unwrap();
    tcp.set_nodelay(true).unwrap();
    let start = Instant::now();
    let mut hung_up = None;
    for byte in hello.iter().cycle().take(200) {
        if tcp.write_all(&[*byte]).is_err() {
            hung_up = Some(start.elapsed());
            break;
        }
        std::thread::sleep(Duration::from_millis(150));
    }
    // A write may still succeed just after the server closed: the first to fail is at most
    // two steps later.
    let hung_up = hung_up.expect("the server held a trickling handshake for 30 s");
    assert!(
        hung_up >= Duration::from_secs(10) && hung_up < Duration::from_secs(13),
        "the server hung up after {hung_up:?}, expected its 10 s handshake deadline"
    );
}
