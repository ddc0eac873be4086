//! The tokio adapters: connector and acceptor over real loopback TCP and in-memory pipes,
//! the async key resolver (including fail-closed behaviour), timeouts and bulk data.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rustls::{AlertDescription, ProtocolVersion};
use rustls_capif::error::PskRejection;
use rustls_capif::psk::*;
use rustls_capif::rt::tokio::{AsyncPskResolver, PskAcceptor, PskConnector, ResolveFuture};
use rustls_capif::Error;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

fn key(id: &str, byte: u8) -> ExternalPsk {
    ExternalPsk::new(id.as_bytes().to_vec(), &[byte; 32], PskHash::Sha256).unwrap()
}

fn acceptor_for(k: &ExternalPsk) -> PskAcceptor {
    let store: StaticPskResolver = [k.clone()].into_iter().collect();
    PskAcceptor::new(Arc::new(PskServerConfig::new(Arc::new(store))))
}

#[tokio::test]
async fn echo_over_tcp() {
    let k = key("invoker-1", 1);
    let acceptor = acceptor_for(&k);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let mut tls = acceptor.accept(tcp).await.unwrap();
        assert_eq!(tls.psk_identity(), Some(&b"invoker-1"[..]));
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = tls.read(&mut buf).await.unwrap();
            if n == 0 {
                break;
            }
            tls.write_all(&buf[..n]).await.unwrap();
        }
        tls.shutdown().await.unwrap();
    });

    let connector = PskConnector::new(Arc::new(PskClientConfig::new(k)));
    let tcp = TcpStream::connect(addr).await.unwrap();
    let tls = connector.connect(tcp).await.unwrap();
    assert_eq!(tls.psk_identity(), Some(&b"invoker-1"[..]));
    let (mut rd, mut wr) = tokio::io::split(tls);
    let data: Vec<u8> = (0..4 * 1024 * 1024 + 3).map(|i| (i % 251) as u8).collect();
    let sent = data.clone();
    let writer = tokio::spawn(async move {
        wr.write_all(&sent).await.unwrap();
        wr.shutdown().await.unwrap();
    });
    let mut echoed = Vec::new();
    rd.read_to_end(&mut echoed).await.unwrap();
    writer.await.unwrap();
    server.await.unwrap();
    assert!(echoed == data, "echo differs");
}

#[tokio::test]
async fn wrong_key_is_refused_on_both_sides() {
    let (a, b) = tokio::io::duplex(64 * 1024);
    let acceptor = acceptor_for(&key("id", 1));
    let server = tokio::spawn(async move { acceptor.accept(a).await.map(|_| ()) });
    let connector = PskConnector::new(Arc::new(PskClientConfig::new(key("id", 2))));
    let client = connector.connect(b).await.map(|_| ()).unwrap_err();
    assert!(
        matches!(client, Error::AlertReceived(AlertDescription::DecryptError)),
        "{client:?}"
    );
    let server = server.await.unwrap().unwrap_err();
    assert!(
        matches!(server, Error::PskRejected(PskRejection::BadBinder)),
        "{server:?}"
    );
}

/// A resolver that takes its time, counts calls, and can be told to fail.
#[derive(Debug)]
struct SlowStore {
    key: ExternalPsk,
    calls: AtomicUsize,
    fail: bool,
}

impl AsyncPskResolver for SlowStore {
    fn resolve<'a>(&'a self, identity: &'a [u8]) -> ResolveFuture<'a> {
        Box::pin(async move {
            self.calls.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(50)).await;
            if self.fail {
                return Err(Error::InvalidState("key store unreachable"));
            }
            Ok((identity == self.key.identity()).then(|| self.key.clone()))
        })
    }
}

#[tokio::test]
async fn async_resolver_paths() {
    let k = key("invoker-7", 7);
    for (client_key, fail, expect_ok) in [
        (k.clone(), false, true),
        (key("someone-else", 7), false, false),
        (k.clone(), true, false),
    ] {
        let store = Arc::new(SlowStore {
            key: k.clone(),
            calls: AtomicUsize::new(0),
            fail,
        });
        let acceptor = PskAcceptor::new(Arc::new(PskServerConfig::new(Arc::new(NoPskResolver))))
            .with_async_resolver(store.clone());
        let (a, b) = tokio::io::duplex(64 * 1024);
        let server = tokio::spawn(async move {
            let mut tls = acceptor.accept(a).await?;
            tls.write_all(b"welcome").await.map_err(Error::Io)?;
            tls.shutdown().await.map_err(Error::Io)?;
            Ok::<_, Error>(tls.psk_identity().map(<[u8]>::to_vec))
        });
        let connector = PskConnector::new(Arc::new(PskClientConfig::new(client_key)));
        let client = connector.connect(b).await;
        let server = server.await.unwrap();
        assert_eq!(store.calls.load(Ordering::SeqCst), 1);
        if expect_ok {
            let mut tls = client.unwrap();
            let mut got = Vec::new();
            tls.read_to_end(&mut got).await.unwrap();
            assert_eq!(got, b"welcome");
            assert_eq!(server.unwrap(), Some(b"invoker-7".to_vec()));
        } else {
            let err = client.unwrap_err();
            assert!(
                matches!(err, Error::AlertReceived(AlertDescription::DecryptError)),
                "client: {err:?}"
            );
            let err = server.unwrap_err();
            if fail {
                assert!(
                    matches!(err, Error::InvalidState("key store unreachable")),
                    "{err:?}"
                );
            } else {
                assert!(
                    matches!(err, Error::PskRejected(PskRejection::UnknownIdentity)),
                    "{err:?}"
                );
            }
        }
    }
}

/// Issue 10 §2: a ClientHello with eight identities costs one lookup, not eight, whether the
/// known identity comes first (accepted) or later (refused: only the first is looked up).
#[tokio::test]
async fn async_resolver_looks_up_one_identity_per_handshake() {
    let k = key("invoker-7", 7);
    for known_first in [true, false] {
        let store = Arc::new(SlowStore {
            key: k.clone(),
            calls: AtomicUsize::new(0),
            fail: false,
        });
        let acceptor = PskAcceptor::new(Arc::new(PskServerConfig::new(Arc::new(NoPskResolver))))
            .with_async_resolver(store.clone());
        let others = if known_first { 7 } else { 6 };
        let made_up = (0..others).map(|i| key(&format!("made-up-{i}"), 9));
        let mut config = if known_first {
            PskClientConfig::new(k.clone())
        } else {
            PskClientConfig::new(key("made-up-first", 9))
        };
        for psk in made_up {
            config = config.with_additional_psk(psk).unwrap();
        }
        if !known_first {
            config = config.with_additional_psk(k.clone()).unwrap();
        }
        assert_eq!(config.psks().len(), 8);
        let (a, b) = tokio::io::duplex(64 * 1024);
        let server = tokio::spawn(async move { acceptor.accept(a).await.map(|_| ()) });
        let client = PskConnector::new(Arc::new(config)).connect(b).await;
        let server = server.await.unwrap();
        assert_eq!(store.calls.load(Ordering::SeqCst), 1, "lookups");
        assert_eq!(client.is_ok(), known_first, "{client:?}");
        assert_eq!(server.is_ok(), known_first, "{server:?}");
    }
}

#[tokio::test]
async fn a_silent_peer_times_out() {
    let (a, _silent) = tokio::io::duplex(1024);
    let acceptor =
        acceptor_for(&key("id", 1)).with_handshake_timeout(Some(Duration::from_millis(200)));
    let started = std::time::Instant::now();
    let err = acceptor.accept(a).await.unwrap_err();
    assert!(matches!(err, Error::HandshakeTimeout), "{err:?}");
    assert!(started.elapsed() < Duration::from_secs(5));

    let (b, _silent) = tokio::io::duplex(1024);
    let connector = PskConnector::new(Arc::new(PskClientConfig::new(key("id", 1))))
        .with_handshake_timeout(Some(Duration::from_millis(200)));
    assert!(matches!(
        connector.connect(b).await.unwrap_err(),
        Error::HandshakeTimeout
    ));
}

#[tokio::test]
async fn peer_hanging_up_mid_handshake_is_an_error() {
    let (a, b) = tokio::io::duplex(1024);
    drop(b);
    let err = acceptor_for(&key("id", 1)).accept(a).await.unwrap_err();
    assert!(
        matches!(err, Error::Io(ref e) if e.kind() == std::io::ErrorKind::UnexpectedEof),
        "{err:?}"
    );
}

#[tokio::test]
async fn truncation_is_reported_to_the_reader() {
    let k = key("id", 1);
    let (a, b) = tokio::io::duplex(64 * 1024);
    let acceptor = acceptor_for(&k);
    let server = tokio::spawn(async move {
        let tls = acceptor.accept(a).await.unwrap();
        let (mut io, mut conn) = tls.into_inner();
        // Send data, then drop the transport without close_notify.
        use std::io::Write;
        conn.writer().write_all(b"cut").unwrap();
        let mut wire = Vec::new();
        while conn.wants_write() {
            conn.write_tls(&mut wire).unwrap();
        }
        io.write_all(&wire).await.unwrap();
        io.shutdown().await.unwrap();
    });
    let mut tls = PskConnector::new(Arc::new(PskClientConfig::new(k)))
        .connect(b)
        .await
        .unwrap();
    server.await.unwrap();
    let mut got = Vec::new();
    let err = tls.read_to_end(&mut got).await.unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::UnexpectedEof);
    assert_eq!(got, b"cut");
}

#[tokio::test]
async fn handshake_over_buffered_transports() {
    // A buffered transport keeps written bytes until it is flushed: each flight of the
    // handshake (and the failure alerts) must be flushed, as tokio-rustls does.
    let (a, b) = tokio::io::duplex(64 * 1024);
    let (a, b) = (tokio::io::BufStream::new(a), tokio::io::BufStream::new(b));
    let k = key("invoker-1", 1);
    let acceptor = acceptor_for(&k).with_handshake_timeout(Some(Duration::from_secs(5)));
    let server = tokio::spawn(async move {
        let mut tls = acceptor.accept(a).await.unwrap();
        let mut buf = [0u8; 5];
        tls.read_exact(&mut buf).await.unwrap();
        tls.write_all(&buf).await.unwrap();
        tls.shutdown().await.unwrap();
    });
    let connector = PskConnector::new(Arc::new(PskClientConfig::new(k)))
        .with_handshake_timeout(Some(Duration::from_secs(5)));
    let mut tls = connector.connect(b).await.unwrap();
    tls.write_all(b"hello").await.unwrap();
    tls.flush().await.unwrap();
    let mut echoed = Vec::new();
    tls.read_to_end(&mut echoed).await.unwrap();
    assert_eq!(echoed, b"hello");
    server.await.unwrap();

    // A failing handshake: the server's alert must reach the client through the buffer.
    let (a, b) = tokio::io::duplex(64 * 1024);
    let (a, b) = (tokio::io::BufStream::new(a), tokio::io::BufStream::new(b));
    let acceptor = acceptor_for(&key("invoker-1", 1));
    let server = tokio::spawn(async move { acceptor.accept(a).await.map(|_| ()) });
    let connector = PskConnector::new(Arc::new(PskClientConfig::new(key("invoker-1", 2))))
        .with_handshake_timeout(Some(Duration::from_secs(5)));
    let err = connector.connect(b).await.map(|_| ()).unwrap_err();
    assert!(
        matches!(err, Error::AlertReceived(AlertDescription::DecryptError)),
        "{err:?}"
    );
    assert!(server.await.unwrap().is_err());
}

#[test]
fn write_with_a_zero_buffer_limit_returns_zero_instead_of_spinning() {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let written = rt.block_on(async {
            let (a, b) = tokio::io::duplex(64 * 1024);
            let k = key("invoker-1", 1);
            let acceptor = acceptor_for(&k);
            let server = tokio::spawn(async move { acceptor.accept(a).await.map(|_| ()) });
            let connector = PskConnector::new(Arc::new(PskClientConfig::new(k)));
            let mut tls = connector.connect(b).await.unwrap();
            server.await.unwrap().unwrap();
            tls.get_mut().1.set_buffer_limit(Some(0));
            tls.write(b"x").await.map_err(|e| e.kind())
        });
        let _ = tx.send(written);
    });
    let written = rx
        .recv_timeout(Duration::from_secs(20))
        .expect("poll_write returned");
    assert_eq!(written, Ok(0));
}

/// `poll_read` initializes only as much of an uninitialized caller buffer as there is
/// plaintext to copy (hyper hands over 8 KiB or more of uninitialized capacity per read; zeroing
/// all of it on every poll cost more than a small request's decryption), and still delivers
/// everything.
#[tokio::test]
async fn poll_read_initializes_only_what_it_fills() {
    use std::mem::MaybeUninit;
    use tokio::io::{AsyncRead, ReadBuf};

    let k = key("invoker-1", 1);
    let acceptor = acceptor_for(&k);
    let (client_io, server_io) = tokio::io::duplex(64 * 1024);
    let server = tokio::spawn(async move {
        let mut tls = acceptor.accept(server_io).await.unwrap();
        tls.write_all(b"0123456789").await.unwrap();
        tls.flush().await.unwrap();
        tls
    });
    let connector = PskConnector::new(Arc::new(PskClientConfig::new(k)));
    let mut tls = connector.connect(client_io).await.unwrap();
    let _server = server.await.unwrap();

    let mut storage = [MaybeUninit::<u8>::uninit(); 8192];
    let mut got = Vec::new();
    while got.len() < 10 {
        let mut buf = ReadBuf::uninit(&mut storage);
        std::future::poll_fn(|cx| std::pin::Pin::new(&mut tls).poll_read(cx, &mut buf))
            .await
            .unwrap();
        assert!(!buf.filled().is_empty());
        assert_eq!(
            buf.initialized().len(),
            buf.filled().len(),
            "initialized beyond the plaintext copied"
        );
        got.extend_from_slice(buf.filled());
    }
    assert_eq!(got, b"0123456789");
}

// ----- TLS 1.2 PSK over the same adapters ---------------------------------------------------
// `PskConnector`/`PskAcceptor` unchanged, the async resolver asked once per handshake — at the
// ClientKeyExchange, where TLS 1.2 carries the identity — and unknown identities, wrong keys and
// an unreachable key store refused with `decrypt_error` as on TLS 1.3.

fn client12(psk: ExternalPsk) -> Arc<PskClientConfig> {
    Arc::new(PskClientConfig::new(psk).with_tls12(true).with_tls13(false))
}

#[tokio::test]
async fn async_resolver_paths_on_tls12() {
    let k = key("invoker-7", 7);
    for (client_key, fail, expect) in [
        (k.clone(), false, None),
        (
            key("someone-else", 7),
            false,
            Some(PskRejection::UnknownIdentity),
        ),
        (key("invoker-7", 8), false, Some(PskRejection::WrongKey)),
        (k.clone(), true, Some(PskRejection::UnknownIdentity)),
    ] {
        let store = Arc::new(SlowStore {
            key: k.clone(),
            calls: AtomicUsize::new(0),
            fail,
        });
        let config = PskServerConfig::new(Arc::new(NoPskResolver)).with_tls12(true);
        let acceptor = PskAcceptor::new(Arc::new(config)).with_async_resolver(store.clone());
        let (a, b) = tokio::io::duplex(64 * 1024);
        let server = tokio::spawn(async move {
            let mut tls = acceptor.accept(a).await?;
            tls.write_all(b"welcome").await.map_err(Error::Io)?;
            tls.shutdown().await.map_err(Error::Io)?;
            Ok::<_, Error>(tls.psk_identity().map(<[u8]>::to_vec))
        });
        let connector = PskConnector::new(client12(client_key));
        let client = connector.connect(b).await;
        let server = server.await.unwrap();
        assert_eq!(store.calls.load(Ordering::SeqCst), 1);
        match expect {
            None => {
                let mut tls = client.unwrap();
                assert_eq!(
                    tls.get_ref().1.protocol_version(),
                    Some(ProtocolVersion::TLSv1_2)
                );
                let mut got = Vec::new();
                tls.read_to_end(&mut got).await.unwrap();
                assert_eq!(got, b"welcome");
                assert_eq!(server.unwrap(), Some(b"invoker-7".to_vec()));
            }
            Some(reason) => {
                let err = client.unwrap_err();
                assert!(
                    matches!(err, Error::AlertReceived(AlertDescription::DecryptError)),
                    "client: {err:?}"
                );
                let err = server.unwrap_err();
                if fail {
                    assert!(
                        matches!(err, Error::InvalidState("key store unreachable")),
                        "{err:?}"
                    );
                } else {
                    assert!(
                        matches!(err, Error::PskRejected(r) if r == reason),
                        "{err:?}"
                    );
                }
            }
        }
    }
}

#[tokio::test]
async fn sync_resolver_and_mixed_versions_over_tokio() {
    let k = key("invoker-1", 1);
    let keys: StaticPskResolver = [k.clone()].into_iter().collect();
    let config = Arc::new(PskServerConfig::new(Arc::new(keys)).with_tls12(true));
    for (client, version) in [
        (client12(k.clone()), ProtocolVersion::TLSv1_2),
        (
            Arc::new(PskClientConfig::new(k.clone()).with_tls12(true)),
            ProtocolVersion::TLSv1_3,
        ),
    ] {
        let acceptor = PskAcceptor::new(config.clone());
        let (a, b) = tokio::io::duplex(64 * 1024);
        let server = tokio::spawn(async move {
            let mut tls = acceptor.accept(a).await?;
            let mut buf = [0u8; 5];
            tls.read_exact(&mut buf).await.map_err(Error::Io)?;
            tls.write_all(&buf).await.map_err(Error::Io)?;
            tls.shutdown().await.map_err(Error::Io)?;
            Ok::<_, Error>(())
        });
        let mut tls = PskConnector::new(client).connect(b).await.unwrap();
        assert_eq!(tls.get_ref().1.protocol_version(), Some(version));
        tls.write_all(b"hello").await.unwrap();
        let mut got = Vec::new();
        tls.read_to_end(&mut got).await.unwrap();
        assert_eq!(got, b"hello");
        server.await.unwrap().unwrap();
    }
}
