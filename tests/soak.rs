//! Soak test (ignored by default; run with
//! `cargo test --release --test soak -- --ignored --nocapture`): 10,000 sequential and 256
//! concurrent PSK connections through the tokio acceptor over loopback TCP, plus silent peers
//! that must be cut off by the handshake timeout. Afterwards resident memory must be back within
//! 10% of its baseline and no file descriptor may be left open.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls_capif::psk::*;
use rustls_capif::{Error, PskAcceptor, PskConnector};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("Linux /proc");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS")
}

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .expect("Linux /proc")
        .count()
}

async fn one_connection(connector: &PskConnector, addr: std::net::SocketAddr) {
    let tcp = TcpStream::connect(addr).await.unwrap();
    // Small writes after the handshake would otherwise wait for delayed ACKs (Nagle).
    tcp.set_nodelay(true).unwrap();
    let mut tls = connector.connect(tcp).await.unwrap();
    tls.write_all(b"ping").await.unwrap();
    let mut buf = [0u8; 4];
    tls.read_exact(&mut buf).await.unwrap();
    assert_eq!(&buf, b"pong");
    tls.shutdown().await.unwrap();
}

async fn concurrent_round(connector: &PskConnector, addr: std::net::SocketAddr) {
    let mut tasks = Vec::new();
    for _ in 0..256 {
        let connector = connector.clone();
        tasks.push(tokio::spawn(async move {
            one_connection(&connector, addr).await
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
}

#[tokio::test(flavor = "current_thread")]
#[ignore = "soak: run explicitly (see the file's doc)"]
async fn soak() {
    let psk = ExternalPsk::new(b"invoker-soak".to_vec(), &[9; 32], PskHash::Sha256).unwrap();
    let store: StaticPskResolver = [psk.clone()].into_iter().collect();
    let acceptor = PskAcceptor::new(Arc::new(PskServerConfig::new(Arc::new(store))))
        .with_handshake_timeout(Some(Duration::from_millis(500)));
    let connector = PskConnector::new(Arc::new(PskClientConfig::new(psk)));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();

    // Server outcomes: handshake timeouts are counted; any other server error is a failure
    // (a panic in a spawned task would not fail the test).
    let timeouts = Arc::new(AtomicUsize::new(0));
    let (errors_tx, mut errors) = tokio::sync::mpsc::unbounded_channel::<String>();
    let server_timeouts = timeouts.clone();
    let server = tokio::spawn(async move {
        loop {
            let (tcp, _) = match listener.accept().await {
                Ok(x) => x,
                Err(_) => continue,
            };
            let _ = tcp.set_nodelay(true);
            let acceptor = acceptor.clone();
            let (timeouts, errors) = (server_timeouts.clone(), errors_tx.clone());
            tokio::spawn(async move {
                match acceptor.accept(tcp).await {
                    Ok(mut tls) => {
                        let mut buf = [0u8; 4];
                        if tls.read_exact(&mut buf).await.is_ok() {
                            let _ = tls.write_all(b"pong").await;
                            let _ = tls.shutdown().await;
                        }
                    }
                    Err(Error::HandshakeTimeout) => {
                        timeouts.fetch_add(1, Ordering::SeqCst);
                    }
                    Err(e) => {
                        let _ = errors.send(e.to_string());
                    }
                }
            });
        }
    });

    // Warm up at the same concurrency (the allocator keeps its high-water mark), then take
    // the baseline: what must not grow is memory per connection served.
    for _ in 0..200 {
        one_connection(&connector, addr).await;
    }
    concurrent_round(&connector, addr).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (rss0, fds0) = (rss_kib(), open_fds());

    let started = Instant::now();
    for _ in 0..10_000 {
        one_connection(&connector, addr).await;
    }
    let sequential = started.elapsed();

    let rss_after_sequential = rss_kib();

    let started = Instant::now();
    concurrent_round(&connector, addr).await;
    let concurrent = started.elapsed();

    // Silent peers: connect and never speak; the acceptor's timeout must close them.
    let mut silent = Vec::new();
    for _ in 0..32 {
        silent.push(TcpStream::connect(addr).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(900)).await;
    for mut s in silent {
        let mut buf = [0u8; 1];
        let n = tokio::time::timeout(Duration::from_secs(2), s.read(&mut buf))
            .await
            .expect("a silent peer was not cut off by the handshake timeout")
            .unwrap_or(0);
        assert_eq!(n, 0, "server sent data to a silent peer");
    }

    tokio::time::sleep(Duration::from_millis(300)).await;
    let (rss1, fds1) = (rss_kib(), open_fds());
    server.abort();
    assert_eq!(
        timeouts.load(Ordering::SeqCst),
        32,
        "each silent peer is cut off by the handshake timeout, and nothing else times out"
    );
    if let Ok(e) = errors.try_recv() {
        panic!("server error: {e}");
    }
    println!(
        "soak: 10000 sequential in {sequential:?} ({:.0}/s), 256 concurrent in {concurrent:?}; \
         RSS {rss0} KiB -> {rss_after_sequential} KiB after sequential -> {rss1} KiB at the end \
         ({:+.1}%), fds {fds0} -> {fds1}",
        10_000.0 / sequential.as_secs_f64(),
        (rss1 as f64 - rss0 as f64) * 100.0 / rss0 as f64
    );
    assert!(
        rss1 as f64 <= rss0 as f64 * 1.10,
        "RSS grew from {rss0} to {rss1} KiB"
    );
    assert!(fds1 <= fds0, "file descriptors leaked: {fds0} -> {fds1}");
}
