//! A CCF stand-in serving TS 29.222 `trustedInvokers` over mutually authenticated TLS, for
//! the tests of the AEF's CAPIF-3 resolver. (Each test binary declares `mod pki`.)
#![allow(dead_code)]

use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http_body_util::Full;
use hyper::body::Bytes;
use hyper::{Request, Response};
use rustls_capif::capif3::*;
use rustls_capif::{AefPsk, Error, ServiceApiInterface};
use tokio::net::TcpListener;

use crate::pki::TestPki;

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Behaviour {
    Normal,
    /// 500 with a ProblemDetails body.
    ServerError,
    /// 403 with a ProblemDetails body (this AEF may not ask).
    Forbidden,
    MalformedJson,
    NoEntry,
    Slow,
    HugeBody,
}

/// Answers a request for an invoker ID: `Some(ServiceSecurity JSON)` or `None` (404).
pub type CustomAnswer = fn(&str) -> Option<String>;

pub struct Ccf {
    pub store: CcfKeyStore,
    pub aef: InterfaceDescriptionJson,
    pub behaviour: Mutex<Behaviour>,
    /// Requests received.
    pub requests: AtomicUsize,
    /// How long every answer takes.
    pub delay: Mutex<Duration>,
    /// The invoker IDs asked for, in order.
    pub asked: Mutex<Vec<String>>,
    /// The `Accept` header of each request, in order.
    pub accept: Mutex<Vec<String>>,
    /// If set, answers instead of the store: `Some(body)` is a 200 with that
    /// `ServiceSecurity`, `None` a 404.
    pub custom: Mutex<Option<CustomAnswer>>,
    /// The ALPN protocols the CCF selects from (empty: none, HTTP/1.1 is spoken).
    pub alpn: Vec<Vec<u8>>,
    /// TCP connections accepted.
    pub connections: AtomicUsize,
    /// TLS handshakes completed in full (new sessions) and resumed (RFC 8446 §2.2).
    pub full_handshakes: AtomicUsize,
    pub resumed_handshakes: AtomicUsize,
    /// Connections on which the CCF spoke HTTP/2.
    pub h2_connections: AtomicUsize,
}

impl Ccf {
    /// A CCF answering for the AEF `aef` from an empty store, selecting a protocol from
    /// `alpn` (empty: no ALPN, HTTP/1.1).
    pub fn new(aef: InterfaceDescriptionJson, alpn: &[&[u8]]) -> Self {
        Self {
            store: CcfKeyStore::default(),
            aef,
            behaviour: Mutex::new(Behaviour::Normal),
            requests: AtomicUsize::new(0),
            delay: Mutex::new(Duration::ZERO),
            asked: Mutex::new(Vec::new()),
            accept: Mutex::new(Vec::new()),
            custom: Mutex::new(None),
            alpn: alpn.iter().map(|p| p.to_vec()).collect(),
            connections: AtomicUsize::new(0),
            full_handshakes: AtomicUsize::new(0),
            resumed_handshakes: AtomicUsize::new(0),
            h2_connections: AtomicUsize::new(0),
        }
    }

    pub fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }

    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }

    /// (full, resumed) TLS handshakes.
    pub fn handshakes(&self) -> (usize, usize) {
        (
            self.full_handshakes.load(Ordering::SeqCst),
            self.resumed_handshakes.load(Ordering::SeqCst),
        )
    }
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
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(body)))
            .unwrap())
    };
    let problem = |status: u16, detail: &str| {
        Ok(Response::builder()
            .status(status)
            .header("content-type", PROBLEM_JSON)
            .body(Full::new(Bytes::from(problem_body(status, detail))))
            .unwrap())
    };
    ccf.accept.lock().unwrap().push(
        req.headers()
            .get("accept")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string(),
    );
    let target = req.uri().path_and_query().map(|p| p.as_str()).unwrap_or("");
    let Some(parsed) = TrustedInvokersRequest::parse(target) else {
        return problem(404, "no such resource");
    };
    ccf.asked
        .lock()
        .unwrap()
        .push(parsed.api_invoker_id.clone());
    let delay = *ccf.delay.lock().unwrap();
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    if let Some(custom) = *ccf.custom.lock().unwrap() {
        return match custom(&parsed.api_invoker_id) {
            Some(json) => reply(200, json.into_bytes()),
            None => problem(404, "unknown API invoker"),
        };
    }
    match behaviour {
        Behaviour::ServerError => return problem(500, "oops"),
        Behaviour::Forbidden => return problem(403, "this AEF may not ask"),
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
            NOTIFICATION_DESTINATION,
        )
        .await
        .unwrap()
    {
        Some(json) => reply(200, json.to_vec()),
        None => problem(404, "unknown API invoker"),
    }
}

/// The `notificationDestination` of this CCF's bodies.
pub const NOTIFICATION_DESTINATION: &str = "https://invoker.example/capif-security-notifications";

/// The TS 29.122 `ProblemDetails` body of this CCF's error answers.
pub fn problem_body(status: u16, detail: &str) -> Vec<u8> {
    ProblemDetails::new(status, "CCF error", detail).to_json()
}

/// Starts a CCF serving CAPIF-3 on loopback; returns its apiRoot.
pub async fn start_ccf(pki: &TestPki, ccf: Arc<Ccf>) -> String {
    let mut config = pki.server_config(&["127.0.0.1"], true);
    config.alpn_protocols = ccf.alpn.clone();
    let config = Arc::new(config);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let (tcp, _) = listener.accept().await.unwrap();
            ccf.connections.fetch_add(1, Ordering::SeqCst);
            // As a production HTTPS server does: no Nagle delay on small answers.
            let _ = tcp.set_nodelay(true);
            let acceptor = tokio_rustls::TlsAcceptor::from(config.clone());
            let ccf = ccf.clone();
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let conn = tls.get_ref().1;
                match conn.handshake_kind() {
                    Some(rustls::HandshakeKind::Resumed) => &ccf.resumed_handshakes,
                    _ => &ccf.full_handshakes,
                }
                .fetch_add(1, Ordering::SeqCst);
                let h2 = conn.alpn_protocol() == Some(b"h2");
                let io = hyper_util::rt::TokioIo::new(tls);
                let service = {
                    let ccf = ccf.clone();
                    hyper::service::service_fn(move |req| handle(ccf.clone(), req))
                };
                if h2 {
                    ccf.h2_connections.fetch_add(1, Ordering::SeqCst);
                    let executor = hyper_util::rt::TokioExecutor::new();
                    let _ = hyper::server::conn::http2::Builder::new(executor)
                        .serve_connection(io, service)
                        .await;
                } else {
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(io, service)
                        .await;
                }
            });
        }
    });
    format!("https://{addr}")
}

pub struct Fixed(pub AefPsk);
impl AefPskSource for Fixed {
    fn derive_aef_psk(&self, _: &ServiceApiInterface) -> Result<AefPsk, Error> {
        Ok(self.0.clone())
    }
}

pub struct Setup {
    pub ccf: Arc<Ccf>,
    pub resolver: Arc<CcfKeyResolver>,
}

pub async fn setup(pki: &TestPki, configure: impl FnOnce(&mut CcfKeyResolverConfig)) -> Setup {
    setup_with_alpn(pki, &[], configure).await
}

/// [`setup`] with a CCF that selects a protocol from `alpn` (e.g. `h2`, `http/1.1`).
pub async fn setup_with_alpn(
    pki: &TestPki,
    alpn: &[&[u8]],
    configure: impl FnOnce(&mut CcfKeyResolverConfig),
) -> Setup {
    let aef = InterfaceDescriptionJson {
        ipv4_addr: Some("127.0.0.1".into()),
        port: Some(8443),
        ..Default::default()
    };
    let ccf = Arc::new(Ccf::new(aef.clone(), alpn));
    let api_root = start_ccf(pki, ccf.clone()).await;
    let tls = Arc::new(pki.client_config(Some(&["aef.example"])));
    let mut config = CcfKeyResolverConfig::new(api_root, tls, aef.service_api_interface().unwrap());
    configure(&mut config);
    Setup {
        ccf,
        resolver: Arc::new(CcfKeyResolver::new(config).unwrap()),
    }
}
