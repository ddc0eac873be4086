//! HTTP on CAPIF-2e end to end: hyper-util's pooled client through `PskHttpsConnector` to an
//! axum app served over `PskListener`, HTTP/1.1 and HTTP/2 by ALPN; the invoker identity in
//! handlers; refusals before any connection; a listener that silent clients cannot block.
#![cfg(all(feature = "hyper", feature = "axum"))]

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::extract::ConnectInfo;
use axum::routing::get;
use axum::Router;
use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper::{Uri, Version};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use rustls::AlertDescription;
use rustls_capif::http::client::{PskConnectionInfo, PskHttpsConnector, PskHttpsConnectorBuilder};
use rustls_capif::http::server::{PskAddr, PskListener};
use rustls_capif::http::ApiInvokerId;
use rustls_capif::psk::*;
use rustls_capif::{Error, PskAcceptor, PskConnector, ServiceApiInterface};
use tokio::net::{TcpListener, TcpStream};

const INVOKER: &str = "INV0001";

fn key(id: &[u8], byte: u8) -> ExternalPsk {
    ExternalPsk::new(id.to_vec(), &[byte; 32], PskHash::Sha256).unwrap()
}

fn acceptor(keys: &[ExternalPsk], timeout: Duration) -> PskAcceptor {
    let store: StaticPskResolver = keys.iter().cloned().collect();
    let config = PskServerConfig::new(Arc::new(store))
        .with_alpn_protocols(vec![b"h2".to_vec(), b"http/1.1".to_vec()])
        .unwrap();
    PskAcceptor::new(Arc::new(config)).with_handshake_timeout(Some(timeout))
}

async fn hello(ConnectInfo(invoker): ConnectInfo<ApiInvokerId>, version: Version) -> String {
    format!("hello {invoker} over {version:?}")
}

async fn whoami(ConnectInfo(peer): ConnectInfo<PskAddr>) -> String {
    format!(
        "{} from {}",
        peer.api_invoker_id()
            .map(ApiInvokerId::as_str)
            .unwrap_or("?"),
        peer.addr().ip()
    )
}

/// Serves the app on a fresh loopback port; `ConnectInfo<ApiInvokerId>` at `/hello`.
async fn serve(listener: PskListener) -> SocketAddr {
    let addr = listener.get_ref().local_addr().unwrap();
    let app = Router::new().route("/hello", get(hello));
    tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<ApiInvokerId>(),
        )
        .await
        .unwrap()
    });
    addr
}

async fn bind(acceptor: PskAcceptor, max: usize) -> PskListener {
    let tcp = TcpListener::bind("127.0.0.1:0").await.unwrap();
    PskListener::new(tcp, acceptor).with_max_handshakes(max)
}

fn builder(aef: SocketAddr, psk: ExternalPsk) -> PskHttpsConnectorBuilder {
    PskHttpsConnectorBuilder::new()
        .with_aef(
            &ServiceApiInterface::from_ip(aef.ip(), aef.port()),
            PskClientConfig::new(psk),
        )
        .unwrap()
}

fn client<C>(connector: C) -> Client<C, Empty<Bytes>>
where
    C: hyper_util::client::legacy::connect::Connect + Clone + Send + Sync + 'static,
{
    Client::builder(TokioExecutor::new()).build(connector)
}

async fn get_text<C>(
    client: &Client<C, Empty<Bytes>>,
    uri: String,
) -> Result<(Version, String, Option<PskConnectionInfo>), hyper_util::client::legacy::Error>
where
    C: hyper_util::client::legacy::connect::Connect + Clone + Send + Sync + 'static,
{
    let response = client.get(uri.parse::<Uri>().unwrap()).await?;
    let version = response.version();
    let info = response.extensions().get::<PskConnectionInfo>().cloned();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    Ok((version, String::from_utf8(body.to_vec()).unwrap(), info))
}

/// Our error inside hyper-util's client error.
fn capif_error<'a>(e: &'a (dyn std::error::Error + 'static)) -> Option<&'a Error> {
    let mut cur = Some(e);
    while let Some(err) = cur {
        if let Some(ours) = err.downcast_ref::<Error>() {
            return Some(ours);
        }
        cur = err.source();
    }
    None
}

#[tokio::test]
async fn http1_and_http2_by_alpn_handler_sees_the_invoker() {
    let k = key(INVOKER.as_bytes(), 1);
    let aef = serve(
        bind(
            acceptor(std::slice::from_ref(&k), Duration::from_secs(10)),
            16,
        )
        .await,
    )
    .await;
    let uri = format!("https://{aef}/hello");

    let h1 = client(builder(aef, k.clone()).enable_http1().build().unwrap());
    let (version, body, info) = get_text(&h1, uri.clone()).await.unwrap();
    assert_eq!(version, Version::HTTP_11);
    assert_eq!(body, "hello INV0001 over HTTP/1.1");
    let info = info.expect("connection info in the response extensions");
    assert_eq!(info.alpn_protocol.as_deref(), Some(&b"http/1.1"[..]));
    assert_eq!(info.psk_identity.as_deref(), Some(INVOKER.as_bytes()));
    // The pooled connection is reused.
    assert_eq!(get_text(&h1, uri.clone()).await.unwrap().1, body);

    let h2 = client(
        builder(aef, k.clone())
            .enable_all_versions()
            .build()
            .unwrap(),
    );
    let (version, body, info) = get_text(&h2, uri.clone()).await.unwrap();
    assert_eq!(version, Version::HTTP_2);
    assert_eq!(body, "hello INV0001 over HTTP/2.0");
    assert_eq!(info.unwrap().alpn_protocol.as_deref(), Some(&b"h2"[..]));

    // The default is HTTP/1.1 only.
    let default = client(builder(aef, k).build().unwrap());
    assert_eq!(get_text(&default, uri).await.unwrap().0, Version::HTTP_11);
}

/// The HTTP integration works unchanged on TLS 1.2 PSK (issue 14 §1): an AEF accepting TLS 1.2
/// and 1.3, an invoker offering TLS 1.2 only, HTTP/1.1 and HTTP/2 by ALPN; and a TLS 1.3 invoker
/// on the same AEF still gets TLS 1.3.
#[tokio::test]
async fn http_over_tls12_psk_both_http_versions() {
    let k = key(INVOKER.as_bytes(), 1);
    let store: StaticPskResolver = [k.clone()].into_iter().collect();
    let config = PskServerConfig::new(Arc::new(store))
        .with_alpn_protocols(vec![b"h2".to_vec(), b"http/1.1".to_vec()])
        .unwrap()
        .with_tls12(true);
    let acceptor =
        PskAcceptor::new(Arc::new(config)).with_handshake_timeout(Some(Duration::from_secs(10)));
    let aef = serve(bind(acceptor, 16).await).await;
    let uri = format!("https://{aef}/hello");
    let interface = ServiceApiInterface::from_ip(aef.ip(), aef.port());
    let tls12_only = || {
        PskHttpsConnectorBuilder::new()
            .with_aef(
                &interface,
                PskClientConfig::new(k.clone())
                    .with_tls12(true)
                    .with_tls13(false),
            )
            .unwrap()
    };

    for (connector, want) in [
        (
            tls12_only().enable_http1().build().unwrap(),
            Version::HTTP_11,
        ),
        (
            tls12_only().enable_all_versions().build().unwrap(),
            Version::HTTP_2,
        ),
    ] {
        let (version, body, info) = get_text(&client(connector), uri.clone()).await.unwrap();
        assert_eq!(version, want);
        assert_eq!(body, format!("hello INV0001 over {want:?}"));
        let info = info.expect("connection info");
        assert_eq!(
            info.protocol_version,
            Some(rustls::ProtocolVersion::TLSv1_2)
        );
        assert_eq!(
            info.cipher_suite,
            Some(rustls::CipherSuite::TLS_ECDHE_PSK_WITH_CHACHA20_POLY1305_SHA256)
        );
        assert_eq!(info.psk_identity.as_deref(), Some(INVOKER.as_bytes()));
    }

    let tls13 = client(builder(aef, k).build().unwrap());
    let (_, body, info) = get_text(&tls13, uri).await.unwrap();
    assert_eq!(body, "hello INV0001 over HTTP/1.1");
    assert_eq!(
        info.unwrap().protocol_version,
        Some(rustls::ProtocolVersion::TLSv1_3)
    );
}

#[tokio::test]
async fn connect_info_psk_addr_gives_peer_and_invoker() {
    let k = key(INVOKER.as_bytes(), 1);
    let listener = bind(
        acceptor(std::slice::from_ref(&k), Duration::from_secs(10)),
        16,
    )
    .await;
    let aef = listener.get_ref().local_addr().unwrap();
    let app = Router::new().route("/whoami", get(whoami));
    tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<PskAddr>(),
        )
        .await
    });
    let c = client(builder(aef, k).build().unwrap());
    let (_, body, _) = get_text(&c, format!("https://{aef}/whoami")).await.unwrap();
    assert_eq!(body, "INV0001 from 127.0.0.1");
}

/// `HttpConnector` that counts the connections it is asked for.
#[derive(Clone)]
struct Counting {
    inner: HttpConnector,
    calls: Arc<AtomicUsize>,
}

impl tower_service::Service<Uri> for Counting {
    type Response = <HttpConnector as tower_service::Service<Uri>>::Response;
    type Error = <HttpConnector as tower_service::Service<Uri>>::Error;
    type Future = <HttpConnector as tower_service::Service<Uri>>::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.inner.call(uri)
    }
}

fn counting(aef: SocketAddr, psk: ExternalPsk) -> (PskHttpsConnector<Counting>, Arc<AtomicUsize>) {
    let calls = Arc::new(AtomicUsize::new(0));
    let mut inner = HttpConnector::new();
    inner.enforce_http(false);
    let connector = builder(aef, psk)
        .wrap_connector(Counting {
            inner,
            calls: calls.clone(),
        })
        .unwrap();
    (connector, calls)
}

#[tokio::test]
async fn a_host_not_in_the_map_is_refused_before_any_connection() {
    // A listener the URI points at: it must see no TCP connection, let alone a ClientHello.
    let other = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let other_addr = other.local_addr().unwrap();
    let configured: SocketAddr = "127.0.0.1:9".parse().unwrap();
    let (connector, calls) = counting(configured, key(INVOKER.as_bytes(), 1));
    let c = client(connector);

    for uri in [
        format!("https://{other_addr}/hello"),
        format!("https://localhost:{}/hello", other_addr.port()),
    ] {
        let err = get_text(&c, uri.clone()).await.unwrap_err();
        match capif_error(&err) {
            Some(Error::UnknownAef(authority)) => assert!(uri.contains(authority.as_str())),
            other => panic!("{uri}: {other:?} ({err:?})"),
        }
        let message = capif_error(&err).unwrap().to_string();
        assert!(
            message.contains("only to the AEF interface it was derived for"),
            "{message}"
        );
    }
    assert_eq!(
        calls.load(Ordering::SeqCst),
        0,
        "the inner connector was called"
    );
    let accepted = tokio::time::timeout(Duration::from_millis(300), other.accept()).await;
    assert!(accepted.is_err(), "a TCP connection reached the other host");
}

#[tokio::test]
async fn http_uris_are_refused() {
    let k = key(INVOKER.as_bytes(), 1);
    let plain = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let aef = plain.local_addr().unwrap();
    let (connector, calls) = counting(aef, k);
    let err = get_text(&client(connector), format!("http://{aef}/hello"))
        .await
        .unwrap_err();
    assert!(
        matches!(capif_error(&err), Some(Error::NotHttps(s)) if s == "http"),
        "{err:?}"
    );
    assert_eq!(calls.load(Ordering::SeqCst), 0);
    assert!(
        tokio::time::timeout(Duration::from_millis(300), plain.accept())
            .await
            .is_err()
    );
}

#[tokio::test]
async fn a_silent_client_does_not_block_accept() {
    let k = key(INVOKER.as_bytes(), 1);
    // The handshake timeout is far longer than the test's bound.
    let aef = serve(
        bind(
            acceptor(std::slice::from_ref(&k), Duration::from_secs(30)),
            16,
        )
        .await,
    )
    .await;
    let mut silent = Vec::new();
    for _ in 0..3 {
        silent.push(TcpStream::connect(aef).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(100)).await; // the listener has taken them
    let c = client(builder(aef, k).build().unwrap());
    let served = tokio::time::timeout(
        Duration::from_secs(5),
        get_text(&c, format!("https://{aef}/hello")),
    )
    .await
    .expect("a silent client blocked the listener")
    .unwrap();
    assert_eq!(served.1, "hello INV0001 over HTTP/1.1");
    drop(silent);
}

/// Time for one request after `silent` silent connections, with `max` handshakes in flight.
async fn request_after_silent_clients(max: usize, silent: usize, timeout: Duration) -> Duration {
    let k = key(INVOKER.as_bytes(), 1);
    let aef = serve(bind(acceptor(std::slice::from_ref(&k), timeout), max).await).await;
    let mut held = Vec::new();
    for _ in 0..silent {
        held.push(TcpStream::connect(aef).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let c = client(builder(aef, k).build().unwrap());
    let start = Instant::now();
    let (_, body, _) = get_text(&c, format!("https://{aef}/hello")).await.unwrap();
    assert_eq!(body, "hello INV0001 over HTTP/1.1");
    drop(held);
    start.elapsed()
}

#[tokio::test]
async fn handshakes_in_flight_are_bounded() {
    let timeout = Duration::from_millis(1500);
    // Two silent clients fill a bound of two: the third client waits in the backlog until
    // their handshakes time out.
    let bounded = request_after_silent_clients(2, 2, timeout).await;
    assert!(bounded >= Duration::from_millis(1200), "{bounded:?}");
    // With room for a third handshake it is served at once.
    let roomy = request_after_silent_clients(3, 2, timeout).await;
    assert!(roomy < Duration::from_millis(1000), "{roomy:?}");
}

#[tokio::test]
async fn failed_handshakes_are_not_fatal_to_the_listener() {
    let good = key(INVOKER.as_bytes(), 1);
    let not_utf8 = key(b"\xff\xfeINV", 3);
    let aef = serve(
        bind(
            acceptor(&[good.clone(), not_utf8.clone()], Duration::from_secs(10)),
            16,
        )
        .await,
    )
    .await;

    // Garbage, a wrong key, an identity that is no API invoker ID: each one fails alone.
    let mut garbage = TcpStream::connect(aef).await.unwrap();
    tokio::io::AsyncWriteExt::write_all(&mut garbage, b"GET / HTTP/1.1\r\n\r\n")
        .await
        .unwrap();
    let wrong = client(builder(aef, key(INVOKER.as_bytes(), 2)).build().unwrap());
    assert!(get_text(&wrong, format!("https://{aef}/hello"))
        .await
        .is_err());
    let tcp = TcpStream::connect(aef).await.unwrap();
    let tls = PskConnector::new(Arc::new(PskClientConfig::new(not_utf8)))
        .connect(tcp)
        .await
        .unwrap(); // the handshake completes; the listener drops the connection after it
    let mut tls = tls;
    let mut buf = [0u8; 1];
    let n = tokio::io::AsyncReadExt::read(&mut tls, &mut buf)
        .await
        .unwrap_or(0);
    assert_eq!(n, 0);

    let c = client(builder(aef, good).build().unwrap());
    let (_, body, _) = get_text(&c, format!("https://{aef}/hello")).await.unwrap();
    assert_eq!(body, "hello INV0001 over HTTP/1.1");
}

#[tokio::test]
async fn a_wrong_key_explains_decrypt_error() {
    let aef = serve(
        bind(
            acceptor(&[key(INVOKER.as_bytes(), 1)], Duration::from_secs(10)),
            16,
        )
        .await,
    )
    .await;
    let c = client(builder(aef, key(INVOKER.as_bytes(), 2)).build().unwrap());
    let err = get_text(&c, format!("https://{aef}/hello"))
        .await
        .unwrap_err();
    let ours = capif_error(&err).unwrap_or_else(|| panic!("{err:?}"));
    assert!(
        matches!(ours, Error::AlertReceived(AlertDescription::DecryptError)),
        "{ours:?}"
    );
    let message = ours.to_string();
    for part in [
        "DecryptError",
        "wrong key",
        "does not know",
        "could not get the key from its CCF",
        "look the same on the wire, by design",
    ] {
        assert!(message.contains(part), "{part:?} missing in {message}");
    }
}
