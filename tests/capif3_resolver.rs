//! The AEF's CAPIF-3 resolver against a CCF test server speaking TS 29.222 over mutually
//! authenticated TLS: caching, refresh on a newer key, and failing closed on every CCF fault.
#![cfg(feature = "capif3")]

#[path = "../examples/capif_flow/pki.rs"]
mod pki;

use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http_body_util::Full;
use hyper::body::Bytes;
use hyper::{Request, Response};
use pki::TestPki;
use rustls::AlertDescription;
use rustls_capif::capif3::*;
use rustls_capif::psk::{NoPskResolver, PskClientConfig, PskServerConfig};
use rustls_capif::tokio::AsyncPskResolver;
use rustls_capif::{AefPsk, Error, PskAcceptor, PskConnector, ServiceApiInterface};
use tokio::net::TcpListener;

#[derive(Clone, Copy, Debug, PartialEq)]
enum Behaviour {
    Normal,
    ServerError,
    MalformedJson,
    NoEntry,
    Slow,
    HugeBody,
}

struct Ccf {
    store: CcfKeyStore,
    aef: InterfaceDescriptionJson,
    behaviour: Mutex<Behaviour>,
    requests: AtomicUsize,
}

async fn handle(
    ccf: Arc<Ccf>,
    req: Request<hyper::body::Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    ccf.requests.fetch_add(1, Ordering::SeqCst);
    let behaviour = *ccf.behaviour.lock().unwrap();
    let reply = |status: u16, body: Vec<u8>| {
        Ok(Response::builder()
            .status(status)
            .body(Full::new(Bytes::from(body)))
            .unwrap())
    };
    let target = req.uri().path_and_query().map(|p| p.as_str()).unwrap_or("");
    let Some(parsed) = TrustedInvokersRequest::parse(target) else {
        return reply(404, b"{}".to_vec());
    };
    match behaviour {
        Behaviour::ServerError => return reply(500, b"oops".to_vec()),
        Behaviour::MalformedJson => return reply(200, b"{\"securityInfo\": [".to_vec()),
        Behaviour::HugeBody => return reply(200, vec![b' '; 200 * 1024]),
        Behaviour::Slow => tokio::time::sleep(Duration::from_secs(3)).await,
        _ => {}
    }
    let interfaces = if behaviour == Behaviour::NoEntry {
        vec![InterfaceDescriptionJson {
            fqdn: Some("elsewhere.example".into()),
            port: Some(1),
            ..Default::default()
        }]
    } else {
        vec![ccf.aef.clone()]
    };
    match ccf
        .store
        .service_security_json(
            &parsed.api_invoker_id,
            &interfaces,
            parsed.authentication_info,
        )
        .unwrap()
    {
        Some(json) => reply(200, json.to_vec()),
        None => reply(404, b"{}".to_vec()),
    }
}

/// Starts a CCF serving CAPIF-3 on loopback; returns its apiRoot.
async fn start_ccf(pki: &TestPki, ccf: Arc<Ccf>) -> String {
    let config = Arc::new(pki.server_config(&["127.0.0.1"], true));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let (tcp, _) = listener.accept().await.unwrap();
            let acceptor = tokio_rustls::TlsAcceptor::from(config.clone());
            let ccf = ccf.clone();
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let service = hyper::service::service_fn(move |req| handle(ccf.clone(), req));
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(tls), service)
                    .await;
            });
        }
    });
    format!("https://{addr}")
}

struct Fixed(AefPsk);
impl AefPskSource for Fixed {
    fn derive_aef_psk(&self, _: &ServiceApiInterface) -> Result<AefPsk, Error> {
        Ok(self.0.clone())
    }
}

struct Setup {
    ccf: Arc<Ccf>,
    resolver: Arc<CcfKeyResolver>,
}

async fn setup(pki: &TestPki, configure: impl FnOnce(&mut CcfKeyResolverConfig)) -> Setup {
    let aef = InterfaceDescriptionJson {
        ipv4_addr: Some("127.0.0.1".into()),
        port: Some(8443),
        ..Default::default()
    };
    let ccf = Arc::new(Ccf {
        store: CcfKeyStore::default(),
        aef: aef.clone(),
        behaviour: Mutex::new(Behaviour::Normal),
        requests: AtomicUsize::new(0),
    });
    let api_root = start_ccf(pki, ccf.clone()).await;
    let tls = Arc::new(pki.client_config(Some(&["aef.example"])));
    let mut config = CcfKeyResolverConfig::new(api_root, tls, aef.service_api_interface().unwrap());
    configure(&mut config);
    Setup {
        ccf,
        resolver: Arc::new(CcfKeyResolver::new(config).unwrap()),
    }
}

#[tokio::test]
async fn fetches_caches_and_refreshes() {
    let pki = TestPki::new();
    let s = setup(&pki, |c| c.min_refresh_interval = Duration::ZERO).await;
    let k1 = AefPsk::from_bytes([1; 32]);
    s.ccf
        .store
        .register_session("inv-1", Arc::new(Fixed(k1.clone())));

    assert_eq!(s.resolver.aef_psk("inv-1").await.unwrap(), Some(k1.clone()));
    assert_eq!(s.resolver.aef_psk("inv-1").await.unwrap(), Some(k1.clone()));
    assert_eq!(
        s.ccf.requests.load(Ordering::SeqCst),
        1,
        "second lookup must hit the cache"
    );

    assert_eq!(s.resolver.aef_psk("unknown-inv").await.unwrap(), None);
    let psk = s.resolver.resolve(b"inv-1").await.unwrap().unwrap();
    assert_eq!(psk.identity(), b"inv-1");

    // A newer CAPIF-1e session: refresh fetches the new key.
    let k2 = AefPsk::from_bytes([2; 32]);
    s.ccf
        .store
        .register_session("inv-1", Arc::new(Fixed(k2.clone())));
    assert_eq!(
        s.resolver.aef_psk("inv-1").await.unwrap(),
        Some(k1),
        "still cached"
    );
    let fresh = s
        .resolver
        .refresh(b"inv-1")
        .expect("refresh allowed")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        fresh.fingerprint(),
        rustls_capif::psk::ExternalPsk::from_aef_psk("inv-1", &k2)
            .unwrap()
            .fingerprint()
    );

    // Identities that are not invoker IDs never reach the CCF.
    let before = s.ccf.requests.load(Ordering::SeqCst);
    assert!(s.resolver.resolve(b"../admin").await.unwrap().is_none());
    assert_eq!(s.ccf.requests.load(Ordering::SeqCst), before);
}

#[tokio::test]
async fn every_ccf_fault_is_a_typed_error() {
    let pki = TestPki::new();
    let s = setup(&pki, |c| c.fetch_timeout = Duration::from_millis(500)).await;
    s.ccf
        .store
        .register_session("inv-1", Arc::new(Fixed(AefPsk::from_bytes([1; 32]))));
    for (behaviour, check) in [
        (
            Behaviour::ServerError,
            (|e: &KeyDeliveryError| matches!(e, KeyDeliveryError::HttpStatus(500)))
                as fn(&KeyDeliveryError) -> bool,
        ),
        (Behaviour::MalformedJson, |e| {
            matches!(e, KeyDeliveryError::MalformedResponse(_))
        }),
        (Behaviour::HugeBody, |e| {
            matches!(e, KeyDeliveryError::MalformedResponse(_))
        }),
        (Behaviour::NoEntry, |e| {
            matches!(e, KeyDeliveryError::NoEntryForInterface)
        }),
        (Behaviour::Slow, |e| {
            matches!(e, KeyDeliveryError::Timeout(_))
        }),
    ] {
        *s.ccf.behaviour.lock().unwrap() = behaviour;
        s.resolver.clear_cache();
        let err = s.resolver.aef_psk("inv-1").await.unwrap_err();
        match &err {
            Error::KeyDelivery(e) => assert!(check(e), "{behaviour:?}: {e:?}"),
            other => panic!("{behaviour:?}: {other:?}"),
        }
    }
}

#[tokio::test]
async fn ccf_down_or_untrusted_fails_closed() {
    let pki = TestPki::new();
    // Nothing listens on this port.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let tls = Arc::new(pki.client_config(Some(&["aef.example"])));
    let aef = ServiceApiInterface::parse("127.0.0.1:8443").unwrap();
    let down = CcfKeyResolver::new(CcfKeyResolverConfig::new(
        format!("https://127.0.0.1:{port}"),
        tls,
        aef,
    ))
    .unwrap();
    assert!(matches!(
        down.aef_psk("inv-1").await.unwrap_err(),
        Error::KeyDelivery(KeyDeliveryError::Unreachable(_))
    ));

    // A CCF whose certificate is from another CA is not trusted.
    let s = setup(&pki, |c| {
        c.tls = Arc::new(TestPki::new().client_config(Some(&["aef.example"])))
    })
    .await;
    assert!(matches!(
        s.resolver.aef_psk("inv-1").await.unwrap_err(),
        Error::KeyDelivery(KeyDeliveryError::Unreachable(_))
    ));
}

/// The whole AEF path: acceptor + CCF resolver. A newer key is picked up, the old refused,
/// and with the CCF failing the handshake is refused with the same alert as a wrong key.
#[tokio::test]
async fn acceptor_with_ccf_resolver() {
    let pki = TestPki::new();
    let s = setup(&pki, |c| c.min_refresh_interval = Duration::ZERO).await;
    let acceptor = PskAcceptor::new(Arc::new(PskServerConfig::new(Arc::new(NoPskResolver))))
        .with_async_resolver(s.resolver.clone());
    let connect = |key: &AefPsk| {
        let connector =
            PskConnector::new(Arc::new(PskClientConfig::for_aef("inv-1", key).unwrap()));
        let acceptor = acceptor.clone();
        async move {
            let (a, b) = tokio::io::duplex(16 * 1024);
            let server = tokio::spawn(async move { acceptor.accept(a).await.map(|_| ()) });
            let client = connector.connect(b).await.map(|_| ());
            (client, server.await.unwrap())
        }
    };
    let k1 = AefPsk::from_bytes([1; 32]);
    s.ccf
        .store
        .register_session("inv-1", Arc::new(Fixed(k1.clone())));
    let (c, srv) = connect(&k1).await;
    c.unwrap();
    srv.unwrap();

    let k2 = AefPsk::from_bytes([2; 32]);
    s.ccf
        .store
        .register_session("inv-1", Arc::new(Fixed(k2.clone())));
    let (c, srv) = connect(&k2).await;
    c.expect("new key accepted although the AEF had the old one cached");
    srv.unwrap();
    let (c, srv) = connect(&k1).await;
    assert!(matches!(
        c.unwrap_err(),
        Error::AlertReceived(AlertDescription::DecryptError)
    ));
    assert!(matches!(srv.unwrap_err(), Error::PskRejected(_)));

    *s.ccf.behaviour.lock().unwrap() = Behaviour::ServerError;
    s.resolver.clear_cache();
    let (c, srv) = connect(&k2).await;
    assert!(matches!(
        c.unwrap_err(),
        Error::AlertReceived(AlertDescription::DecryptError)
    ));
    assert!(matches!(
        srv.unwrap_err(),
        Error::KeyDelivery(KeyDeliveryError::HttpStatus(500))
    ));
}

#[tokio::test]
async fn an_invalidation_during_a_fetch_keeps_its_answer_out_of_the_cache() {
    // The AEF learns that a key changed while a fetch is under way: that fetch may carry the
    // old key, so it serves its own handshake but is not cached for the next ones.
    let pki = TestPki::new();
    let s = setup(&pki, |_| {}).await;
    s.ccf
        .store
        .register_session("inv-1", Arc::new(Fixed(AefPsk::from_bytes([1; 32]))));
    *s.ccf.behaviour.lock().unwrap() = Behaviour::Slow;
    let resolver = s.resolver.clone();
    let in_flight = tokio::spawn(async move { resolver.aef_psk("inv-1").await });
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(s.ccf.requests.load(Ordering::SeqCst), 1, "fetch under way");
    s.resolver.invalidate("inv-1");
    assert_eq!(
        in_flight.await.unwrap().unwrap(),
        Some(AefPsk::from_bytes([1; 32]))
    );

    *s.ccf.behaviour.lock().unwrap() = Behaviour::Normal;
    s.resolver.aef_psk("inv-1").await.unwrap();
    assert_eq!(
        s.ccf.requests.load(Ordering::SeqCst),
        2,
        "the answer of the invalidated fetch was cached"
    );
    s.resolver.aef_psk("inv-1").await.unwrap();
    assert_eq!(s.ccf.requests.load(Ordering::SeqCst), 2, "cached now");

    // Strings that are not invoker IDs never reach the CCF.
    for bad in ["..", ".", "../capif-security/v1/other", "a/b"] {
        assert_eq!(s.resolver.aef_psk(bad).await.unwrap(), None, "{bad}");
    }
    assert_eq!(s.ccf.requests.load(Ordering::SeqCst), 2);
}
