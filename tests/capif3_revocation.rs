//! Revocation reaches the AEF at once (issue 11 §4): TS 29.222 `AEF_Security_API`
//! `POST {apiRoot}/aef-security/v1/revoke-authorization`, sent by the CCF when its key store
//! replaces or removes an invoker's session, served by the AEF over mutual TLS to the CCF only.
//!
//! CCF stand-in: `tests/capif3_common` (counts CAPIF-3 requests). AEF: the crate's
//! `CcfKeyResolver` behind a `PskAcceptor`, with a key cache TTL of one hour, so that only the
//! notification can explain an old key being refused within seconds.
#![cfg(feature = "capif3")]

mod capif3_common;
#[path = "../examples/capif_flow/pki.rs"]
mod pki;

use std::sync::Arc;
use std::time::{Duration, Instant};

use capif3_common::*;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use pki::TestPki;
use rustls_capif::capif3::*;
use rustls_capif::psk::{NoPskResolver, PskClientConfig, PskServerConfig};
use rustls_capif::{AefPsk, PskAcceptor, PskConnector};
use tokio::net::TcpListener;

/// The AEF's key cache lifetime: far above any bound below.
const TTL: Duration = Duration::from_secs(3600);
/// How long a notification may take to reach the AEF and take effect.
const BOUND: Duration = Duration::from_secs(5);

struct World {
    pki: TestPki,
    setup: Setup,
    /// The AEF's CAPIF-3-facing `{apiRoot}` serving `revoke-authorization`.
    aef_api_root: String,
    /// The CCF's client config (its pinned certificate).
    ccf_tls: Arc<rustls::ClientConfig>,
    acceptor: PskAcceptor,
}

impl World {
    async fn start() -> Self {
        let pki = TestPki::new();
        let setup = setup(&pki, |c| c.ttl = TTL).await;
        let ccf_leaf = pki.leaf(&["ccf.example"]);
        let authorized = AuthorizedCcf::new([ccf_leaf.chain[0].clone()]);
        let ccf_tls = Arc::new(pki.client_config_with(&ccf_leaf));
        let aef_api_root = serve_revocation(&pki, setup.resolver.clone(), authorized).await;
        let notifier = RevocationNotifier::new(RevocationNotifierConfig::new(
            vec![target(&aef_api_root)],
            ccf_tls.clone(),
        ))
        .unwrap();
        setup.ccf.store.set_observer(Some(Arc::new(notifier)));
        let acceptor = PskAcceptor::new(Arc::new(PskServerConfig::new(Arc::new(NoPskResolver))))
            .with_async_resolver(setup.resolver.clone());
        Self {
            pki,
            setup,
            aef_api_root,
            ccf_tls,
            acceptor,
        }
    }

    /// One CAPIF-2e handshake of `invoker` with `key` against the AEF.
    async fn handshake(&self, invoker: &str, key: &AefPsk) -> bool {
        let connector =
            PskConnector::new(Arc::new(PskClientConfig::for_aef(invoker, key).unwrap()));
        let acceptor = self.acceptor.clone();
        let (a, b) = tokio::io::duplex(16 * 1024);
        let server = tokio::spawn(async move { acceptor.accept(a).await.map(|_| ()) });
        let client = connector.connect(b).await.map(|_| ());
        let server = server.await.unwrap();
        assert_eq!(client.is_ok(), server.is_ok());
        client.is_ok()
    }

    /// Retries the handshake until it fails; how long that took, or `None` within [`BOUND`].
    async fn refused_within_bound(&self, invoker: &str, key: &AefPsk) -> Option<Duration> {
        let start = Instant::now();
        while start.elapsed() < BOUND {
            if !self.handshake(invoker, key).await {
                return Some(start.elapsed());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        None
    }

    fn ccf_requests(&self) -> usize {
        self.setup.ccf.requests()
    }
}

fn target(api_root: &str) -> RevocationTarget {
    RevocationTarget {
        api_root: api_root.to_string(),
        aef_id: Some("AEF01".into()),
        api_ids: vec!["hello-api-1".into()],
    }
}

/// The AEF's AEF_Security_API endpoint: TLS requiring a client certificate of the CA, then the
/// crate's `RevocationService` (which pins the CCF's certificate).
async fn serve_revocation(
    pki: &TestPki,
    resolver: Arc<CcfKeyResolver>,
    authorized: AuthorizedCcf,
) -> String {
    let tls = Arc::new(pki.server_config(&["127.0.0.1"], true));
    let handler = Arc::new(RevocationHandler::new(resolver));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let acceptor = tokio_rustls::TlsAcceptor::from(tls.clone());
            let (handler, authorized) = (handler.clone(), authorized.clone());
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let service = RevocationService::new(
                    handler,
                    &authorized,
                    tls.get_ref().1.peer_certificates(),
                );
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tls), service)
                    .await;
            });
        }
    });
    format!("https://{addr}")
}

/// One raw HTTPS request: (status, content type, body), or the transport error.
async fn send(
    tls: Arc<rustls::ClientConfig>,
    api_root: &str,
    method: &str,
    path: &str,
    content_type: &str,
    body: &str,
) -> Result<(u16, String, serde_json::Value), String> {
    let addr = api_root.trim_start_matches("https://");
    let tcp = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(|e| e.to_string())?;
    let name = rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap();
    let tls = tokio_rustls::TlsConnector::from(tls)
        .connect(name, tcp)
        .await
        .map_err(|e| e.to_string())?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
        .await
        .map_err(|e| e.to_string())?;
    tokio::spawn(conn);
    let request = hyper::Request::builder()
        .method(method)
        .uri(path)
        .header("host", addr)
        .header("content-type", content_type)
        .body(Full::new(Bytes::from(body.to_string())))
        .unwrap();
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| e.to_string())?;
    let status = response.status().as_u16();
    let ct = (response.headers().get("content-type"))
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    Ok((
        status,
        ct,
        serde_json::from_slice(&body).map_err(|e| e.to_string())?,
    ))
}

const VALID: &str = r#"{"revokeInfo": {"apiInvokerId": "inv-1", "apiIds": ["hello-api-1"],
    "cause": "UNEXPECTED_REASON"}, "supportedFeatures": "0"}"#;

#[tokio::test]
async fn replaced_session_is_refused_at_once_and_the_aef_asks_again() {
    let w = World::start().await;
    let k1 = AefPsk::from_bytes([1; 32]);
    w.setup
        .ccf
        .store
        .register_session("inv-1", Arc::new(Fixed(k1.clone())))
        .await
        .unwrap();
    assert!(w.handshake("inv-1", &k1).await);
    assert!(w.handshake("inv-1", &k1).await);
    assert_eq!(
        w.ccf_requests(),
        1,
        "the second handshake is served from the cache"
    );

    // A newer CAPIF-1e session replaces the key: the CCF tells the AEF.
    let k2 = AefPsk::from_bytes([2; 32]);
    w.setup
        .ccf
        .store
        .register_session("inv-1", Arc::new(Fixed(k2.clone())))
        .await
        .unwrap();
    let took = w
        .refused_within_bound("inv-1", &k1)
        .await
        .expect("the replaced key must be refused long before the one-hour cache TTL");
    assert!(took < BOUND, "{took:?}");
    assert!(w.ccf_requests() >= 2, "the AEF must ask the CCF again");
    assert_eq!(
        w.setup
            .ccf
            .asked
            .lock()
            .unwrap()
            .iter()
            .filter(|i| *i == "inv-1")
            .count(),
        w.ccf_requests()
    );
    assert!(w.handshake("inv-1", &k2).await, "the new key works");
}

#[tokio::test]
async fn removed_invoker_is_refused_at_once() {
    let w = World::start().await;
    let k1 = AefPsk::from_bytes([1; 32]);
    w.setup
        .ccf
        .store
        .register_session("inv-1", Arc::new(Fixed(k1.clone())))
        .await
        .unwrap();
    let k9 = AefPsk::from_bytes([9; 32]);
    w.setup
        .ccf
        .store
        .register_session("inv-9", Arc::new(Fixed(k9.clone())))
        .await
        .unwrap();
    assert!(w.handshake("inv-1", &k1).await);
    assert!(w.handshake("inv-9", &k9).await);
    assert_eq!(w.ccf_requests(), 2);

    assert!(w.setup.ccf.store.remove("inv-1").await.unwrap());
    w.refused_within_bound("inv-1", &k1)
        .await
        .expect("a removed invoker must be refused long before the one-hour cache TTL");
    let after = w.ccf_requests();
    assert!(after >= 3, "the AEF must ask the CCF again");
    // The other invoker's key is untouched: still served from the cache.
    assert!(w.handshake("inv-9", &k9).await);
    assert_eq!(w.ccf_requests(), after);
}

#[tokio::test]
async fn only_the_ccf_may_revoke() {
    let w = World::start().await;
    let k1 = AefPsk::from_bytes([1; 32]);
    w.setup
        .ccf
        .store
        .register_session("inv-1", Arc::new(Fixed(k1.clone())))
        .await
        .unwrap();
    assert!(w.handshake("inv-1", &k1).await);
    assert_eq!(w.ccf_requests(), 1);

    // Another certificate of the same CA (an AEF or invoker could hold one): 403, by the
    // notifier as by hand, with a ProblemDetails body.
    let other = Arc::new(w.pki.client_config(Some(&["ccf.example"])));
    let notifier = RevocationNotifier::new(RevocationNotifierConfig::new(
        vec![target(&w.aef_api_root)],
        other.clone(),
    ))
    .unwrap();
    let deliveries = notifier
        .notify("inv-1", RevocationCause::UnexpectedReason)
        .await;
    assert_eq!(deliveries.len(), 1);
    assert_eq!(deliveries[0].result, Err(RevocationError::HttpStatus(403)));
    let path = "/aef-security/v1/revoke-authorization";
    let (status, ct, body) = send(
        other,
        &w.aef_api_root,
        "POST",
        path,
        "application/json",
        VALID,
    )
    .await
    .unwrap();
    assert_eq!((status, ct.as_str()), (403, "application/problem+json"));
    assert_eq!(body["status"], 403);

    // No certificate at all: refused by TLS.
    let anonymous = Arc::new(w.pki.client_config(None));
    let notifier = RevocationNotifier::new(RevocationNotifierConfig::new(
        vec![target(&w.aef_api_root)],
        anonymous.clone(),
    ))
    .unwrap();
    let deliveries = notifier
        .notify("inv-1", RevocationCause::UnexpectedReason)
        .await;
    assert!(
        matches!(
            deliveries[0].result,
            Err(RevocationError::AefUnreachable(_))
        ),
        "{:?}",
        deliveries[0]
    );
    assert!(send(
        anonymous,
        &w.aef_api_root,
        "POST",
        path,
        "application/json",
        VALID
    )
    .await
    .is_err());

    // Nothing was invalidated: the cached key still serves without asking the CCF.
    assert!(w.handshake("inv-1", &k1).await);
    assert_eq!(w.ccf_requests(), 1);

    // The CCF's own certificate is accepted (and invalidates: the AEF asks again).
    let (status, ct, body) = send(
        w.ccf_tls.clone(),
        &w.aef_api_root,
        "POST",
        path,
        "application/json",
        VALID,
    )
    .await
    .unwrap();
    assert_eq!((status, ct.as_str()), (200, "application/json"));
    assert_eq!(body, serde_json::json!({"supportedFeatures": "0"}));
    assert!(w.handshake("inv-1", &k1).await);
    assert_eq!(w.ccf_requests(), 2);
}

#[tokio::test]
async fn service_routes_and_refuses_with_problem_details() {
    let w = World::start().await;
    let tls = w.ccf_tls.clone();
    let root = w.aef_api_root.as_str();
    let path = "/aef-security/v1/revoke-authorization";
    for (method, target, ct, body, want) in [
        (
            "POST",
            "/aef-security/v1/other",
            "application/json",
            VALID,
            404,
        ),
        ("GET", path, "application/json", "", 405),
        ("POST", path, "text/plain", VALID, 415),
        ("POST", path, "application/json", "{\"revokeInfo\": 1}", 400),
        ("POST", path, "application/json", "{}", 400),
        ("POST", path, "application/json; charset=utf-8", VALID, 200),
    ] {
        let (status, content_type, body) = send(tls.clone(), root, method, target, ct, body)
            .await
            .unwrap();
        assert_eq!(status, want, "{method} {target} {ct}: {body}");
        if want != 200 {
            assert_eq!(content_type, "application/problem+json");
            assert_eq!(body["status"], want);
        }
    }
    let huge = format!("{{\"pad\": \"{}\"}}", "x".repeat(MAX_BODY_PROBE));
    let (status, _, body) = send(tls, root, "POST", path, "application/json", &huge)
        .await
        .unwrap();
    assert_eq!(status, 413, "{body}");
}

/// Larger than the handler's body limit (16 KiB).
const MAX_BODY_PROBE: usize = 20 * 1024;

/// The handler alone: a valid body invalidates exactly the named invoker, a malformed one
/// nothing.
#[tokio::test]
async fn handler_invalidates_exactly_the_named_invoker() {
    let pki = TestPki::new();
    let s = setup(&pki, |c| c.ttl = TTL).await;
    for (id, byte) in [("inv-1", 1), ("inv-2", 2)] {
        s.ccf
            .store
            .register_session(id, Arc::new(Fixed(AefPsk::from_bytes([byte; 32]))))
            .await
            .unwrap();
        s.resolver.aef_psk(id).await.unwrap().unwrap();
    }
    assert_eq!(s.ccf.requests(), 2);
    let handler = RevocationHandler::new(s.resolver.clone());

    let refused = handler.handle(br#"{"revokeInfo": {"apiInvokerId": "inv-1"}}"#);
    assert_eq!(refused.status, 400);
    s.resolver.aef_psk("inv-1").await.unwrap();
    assert_eq!(s.ccf.requests(), 2, "a refused request invalidates nothing");

    let ok = handler.handle(VALID.as_bytes());
    assert_eq!(ok.status, 200);
    s.resolver.aef_psk("inv-2").await.unwrap();
    assert_eq!(s.ccf.requests(), 2, "inv-2 is still cached");
    s.resolver.aef_psk("inv-1").await.unwrap();
    assert_eq!(
        s.ccf.requests(),
        3,
        "inv-1 was dropped: the AEF asks the CCF again"
    );
    assert_eq!(s.ccf.asked.lock().unwrap().last().unwrap(), "inv-1");
}
