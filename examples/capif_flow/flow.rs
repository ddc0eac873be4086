//! The three CAPIF roles of security method 1 (TS 33.122 §6.5.2.1), each on loopback with real
//! TLS: a CCF (CAPIF-1e TLS server with the AEFPSK hook, plus the CAPIF-3 `trustedInvokers`
//! resource over mutually authenticated HTTPS), an AEF (an HTTP API over CAPIF-2e TLS-PSK that
//! fetches keys from the CCF, and serves TS 29.222 `AEF_Security_API` `revoke-authorization` to
//! the CCF alone), and an API invoker. The CCF tells the AEF when a newer CAPIF-1e session of an
//! invoker replaces the old one, so the old key is refused at once, not after the AEF's cache TTL.
//!
//! Used by `examples/capif_flow/main.rs` and, through `#[path]`, by `tests/capif_flow.rs`.
#![allow(dead_code)]

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::{BodyExt, Empty, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::pki_types::{CertificateDer, ServerName};
use rustls_capif::capif1e::{
    Capif1eProfile, Capif1eSession, CcfAcceptor, CcfConfig, InvokerConfig, InvokerConnector,
};
use rustls_capif::capif3::{
    AuthorizedCcf, CcfKeyResolver, CcfKeyResolverConfig, CcfKeyStore, InterfaceDescriptionJson,
    KeyStoreError, ProblemDetails, RevocationCause, RevocationHandler, RevocationNotifier,
    RevocationNotifierConfig, RevocationService, RevocationTarget, SessionEnd, SessionObserver,
    TrustedInvokersRequest, PROBLEM_JSON,
};
use rustls_capif::http::client::{PskConnectionInfo, PskHttpsConnectorBuilder};
use rustls_capif::http::ApiInvokerId;
use rustls_capif::psk::{NoPskResolver, PskClientConfig, PskServerConfig};
use rustls_capif::{AefPsk, Error, PskAcceptor, ServiceApiInterface};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use super::pki::{Leaf, TestPki};

/// Where a role writes what it does: (role, line). Keys appear only as fingerprints.
pub type Log = Arc<dyn Fn(&str, &str) + Send + Sync>;

/// Largest HTTP body any role reads.
const MAX_BODY: usize = 64 * 1024;

/// The AEF's one API: `GET {API_PATH}` answers with a greeting naming the invoker.
pub const API_PATH: &str = "/hello-api/v1/greeting";

// ---------------------------------------------------------------------------------------------
// CCF

/// A running CCF.
pub struct Ccf {
    /// CAPIF-1e endpoint (TLS with certificates, AEFPSK hook).
    pub capif1e: SocketAddr,
    /// CAPIF-3 `{apiRoot}` (mutually authenticated HTTPS).
    pub capif3_api_root: String,
    /// The CCF's AEFPSK store.
    pub store: Arc<CcfKeyStore>,
    tasks: Vec<JoinHandle<()>>,
    capif3_task: JoinHandle<()>,
}

impl Ccf {
    /// Starts both CCF endpoints with an in-memory key store. `onboarded` maps API invoker IDs
    /// to the certificate each invoker got at onboarding; `aef` is the interface of the one
    /// AEF the CCF knows; `profile` is the CAPIF-1e profile (the invokers must use the same one).
    pub async fn start(
        pki: &TestPki,
        onboarded: HashMap<String, CertificateDer<'static>>,
        aef: InterfaceDescriptionJson,
        profile: Capif1eProfile,
        log: Log,
    ) -> std::io::Result<Self> {
        let store = Arc::new(CcfKeyStore::default());
        Self::start_with_store(pki, onboarded, aef, profile, store, log).await
    }

    /// Like [`Ccf::start`], on `store` (for example a Redis store shared with other replicas).
    pub async fn start_with_store(
        pki: &TestPki,
        onboarded: HashMap<String, CertificateDer<'static>>,
        aef: InterfaceDescriptionJson,
        profile: Capif1eProfile,
        store: Arc<CcfKeyStore>,
        log: Log,
    ) -> std::io::Result<Self> {
        let onboarded = Arc::new(onboarded);

        // CAPIF-1e: certificate TLS with client authentication, wrapped by the hook.
        let capif1e_config = CcfConfig::new(pki.server_config(&["127.0.0.1"], true))
            .map_err(std::io::Error::other)?
            .with_profile(profile);
        let acceptor = CcfAcceptor::from(capif1e_config);
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let capif1e = listener.local_addr()?;
        let capif1e_task = {
            let (store, aef, log) = (store.clone(), aef.clone(), log.clone());
            tokio::spawn(async move {
                loop {
                    let Ok((tcp, _)) = listener.accept().await else {
                        return;
                    };
                    let (acceptor, store, onboarded, aef, log) = (
                        acceptor.clone(),
                        store.clone(),
                        onboarded.clone(),
                        aef.clone(),
                        log.clone(),
                    );
                    tokio::spawn(async move {
                        let accepted =
                            tokio::time::timeout(Duration::from_secs(10), acceptor.accept(tcp))
                                .await;
                        let (tls, session) = match accepted {
                            Ok(Ok(x)) => x,
                            Ok(Err(e)) => {
                                return log("ccf", &format!("CAPIF-1e handshake failed: {e}"))
                            }
                            Err(_) => return log("ccf", "CAPIF-1e handshake timed out"),
                        };
                        let peer_cert = tls
                            .get_ref()
                            .1
                            .peer_certificates()
                            .and_then(|c| c.first())
                            .cloned();
                        let session = Arc::new(session);
                        let service = hyper::service::service_fn(move |req| {
                            let ctx = (store.clone(), onboarded.clone(), aef.clone(), log.clone());
                            let (session, peer_cert) = (session.clone(), peer_cert.clone());
                            async move {
                                Ok::<_, Infallible>(discovery(ctx, session, peer_cert, req).await)
                            }
                        });
                        let _ = hyper::server::conn::http1::Builder::new()
                            .serve_connection(TokioIo::new(tls), service)
                            .await;
                    });
                }
            })
        };

        // CAPIF-3: the trustedInvokers resource, only for clients with a certificate of our CA.
        let capif3_config = Arc::new(pki.server_config(&["127.0.0.1"], true));
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let capif3_api_root = format!("https://{}", listener.local_addr()?);
        let capif3_task = {
            let (store, log) = (store.clone(), log.clone());
            tokio::spawn(async move {
                loop {
                    let Ok((tcp, _)) = listener.accept().await else {
                        return;
                    };
                    let acceptor = tokio_rustls::TlsAcceptor::from(capif3_config.clone());
                    let (store, aef, log) = (store.clone(), aef.clone(), log.clone());
                    tokio::spawn(async move {
                        // tokio-rustls has no handshake deadline of its own.
                        let handshake =
                            tokio::time::timeout(Duration::from_secs(10), acceptor.accept(tcp));
                        let Ok(Ok(tls)) = handshake.await else {
                            return log("ccf", "CAPIF-3 TLS handshake failed or timed out");
                        };
                        let service = hyper::service::service_fn(move |req| {
                            let (store, aef, log) = (store.clone(), aef.clone(), log.clone());
                            async move {
                                Ok::<_, Infallible>(trusted_invokers(&store, &aef, &log, req).await)
                            }
                        });
                        let _ = hyper::server::conn::http1::Builder::new()
                            .serve_connection(TokioIo::new(tls), service)
                            .await;
                    });
                }
            })
        };

        Ok(Self {
            capif1e,
            capif3_api_root,
            store,
            tasks: vec![capif1e_task],
            capif3_task,
        })
    }

    /// Takes the CAPIF-3 endpoint down (the AEF must then fail closed).
    pub fn stop_capif3(&self) {
        self.capif3_task.abort();
    }

    /// From now on, tells the AEF at `aef_api_root` (its `AEF_Security_API`) whenever an
    /// invoker's session is replaced by a newer one or removed, over mutual TLS with
    /// `client_tls` (the certificate the AEF pins as the CCF's). Call within the runtime.
    pub fn notify_aef(
        &self,
        client_tls: Arc<rustls::ClientConfig>,
        aef_api_root: &str,
        log: Log,
    ) -> Result<(), Error> {
        let target = RevocationTarget {
            api_root: aef_api_root.to_string(),
            aef_id: Some("AEF01".into()),
            api_ids: vec!["hello-api-1".into()],
        };
        let notifier =
            RevocationNotifier::new(RevocationNotifierConfig::new(vec![target], client_tls))?;
        self.store
            .set_observer(Some(Arc::new(LoggedNotifier { notifier, log })));
        Ok(())
    }
}

/// The CCF's session observer: sends the revocation from a task and logs each AEF's answer
/// (`RevocationNotifier` is itself an observer; this one also writes to the example's log).
struct LoggedNotifier {
    notifier: RevocationNotifier,
    log: Log,
}

impl SessionObserver for LoggedNotifier {
    fn session_ended(&self, invoker_id: &str, how: SessionEnd) {
        let (notifier, log, invoker_id) = (
            self.notifier.clone(),
            self.log.clone(),
            invoker_id.to_string(),
        );
        tokio::spawn(async move {
            for delivery in notifier
                .notify(&invoker_id, RevocationCause::UnexpectedReason)
                .await
            {
                match delivery.result {
                    Ok(()) => log(
                        "ccf",
                        &format!(
                            "CAPIF-3: told the AEF that {invoker_id}'s authorization is revoked \
                             (session {how:?}; POST revoke-authorization -> 200)"
                        ),
                    ),
                    Err(e) => log(
                        "ccf",
                        &format!("CAPIF-3: could not tell the AEF {}: {e}", delivery.api_root),
                    ),
                }
            }
        });
    }
}

impl Drop for Ccf {
    fn drop(&mut self) {
        self.capif3_task.abort();
        for t in &self.tasks {
            t.abort();
        }
    }
}

fn json_response(status: StatusCode, body: Vec<u8>) -> Response<Full<Bytes>> {
    body_response(status, "application/json", body)
}

fn body_response(
    status: StatusCode,
    content_type: &'static str,
    body: Vec<u8>,
) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .header(hyper::header::CONTENT_TYPE, content_type)
        .body(Full::new(Bytes::from(body)))
        .unwrap_or_default()
}

/// The `ProblemDetails` of an error answer (TS 29.122), as every role of this example sends
/// it: `application/problem+json`, with the status, its reason phrase as the title, a detail
/// and a machine-readable cause (this example's own cause strings).
pub fn problem(status: StatusCode, cause: &str, detail: &str) -> ProblemDetails {
    ProblemDetails::new(
        status.as_u16(),
        status.canonical_reason().unwrap_or("Error"),
        detail,
    )
    .with_cause(cause)
}

/// An error answer with the [`problem`] body.
pub fn problem_response(status: StatusCode, cause: &str, detail: &str) -> Response<Full<Bytes>> {
    body_response(
        status,
        PROBLEM_JSON,
        problem(status, cause, detail).to_json(),
    )
}

/// The invoker's `notificationDestination` (TS 29.222): the URI an invoker gives when it
/// creates its `trustedInvokers` resource, where the CCF sends its security notifications.
/// This example's invokers do not make that request, so the CCF stands in a fixed URI.
pub fn notification_destination(invoker_id: &str) -> String {
    format!("https://invokers.example/{invoker_id}/capif-security-notifications")
}

/// CAPIF-1e `GET /service-apis/v1/allServiceAPIs?api-invoker-id=ID` (TS 29.222 discovery):
/// binds this TLS session to the invoker (its certificate must be the one onboarded for the
/// ID), records the session for CAPIF-3, and answers with the AEF's interface.
async fn discovery(
    (store, onboarded, aef, log): (
        Arc<CcfKeyStore>,
        Arc<HashMap<String, CertificateDer<'static>>>,
        InterfaceDescriptionJson,
        Log,
    ),
    session: Arc<Capif1eSession>,
    peer_cert: Option<CertificateDer<'static>>,
    req: Request<Incoming>,
) -> Response<Full<Bytes>> {
    let query = req.uri().query().unwrap_or("");
    let path = req.uri().path();
    let invoker_id = query
        .split('&')
        .find_map(|kv| kv.strip_prefix("api-invoker-id="))
        .unwrap_or("");
    if path != "/service-apis/v1/allServiceAPIs" {
        return problem_response(
            StatusCode::NOT_FOUND,
            "RESOURCE_NOT_FOUND",
            "no such resource",
        );
    }
    match (onboarded.get(invoker_id), peer_cert) {
        (Some(expected), Some(cert)) if *expected == cert => {}
        _ => {
            log("ccf", &format!("discovery refused: {invoker_id:?} is not the onboarded owner of this certificate"));
            return problem_response(
                StatusCode::FORBIDDEN,
                "API_INVOKER_NOT_ALLOWED",
                "the client certificate is not the one onboarded for this API invoker",
            );
        }
    }
    if let Err(e) = session.check_policy() {
        log(
            "ccf",
            &format!("CAPIF-1e session of {invoker_id} cannot yield an AEFPSK: {e}"),
        );
        return problem_response(
            StatusCode::FORBIDDEN,
            "SECURITY_METHOD_NOT_AVAILABLE",
            "this CAPIF-1e session cannot yield an AEFPSK",
        );
    }
    if let Err(e) = store.register_session(invoker_id, session.clone()).await {
        // Fail closed: an invoker told it may go ahead would derive a key no replica can serve.
        log(
            "ccf",
            &format!("CAPIF-1e session of {invoker_id} not recorded: {e}"),
        );
        return store_error_response(&e);
    }
    log(
        "ccf",
        &format!(
            "CAPIF-1e session of {invoker_id} recorded ({:?}, Session ID {} octets); AEFPSK derived when an AEF asks",
            session.protocol_version(),
            session.session_id().len()
        ),
    );
    // Serialized first: an InterfaceDescription that TS 29.222 would refuse is an error here,
    // not a panic inside json!.
    let aef = match serde_json::to_value(&aef) {
        Ok(aef) => aef,
        Err(e) => {
            log("ccf", &format!("discovery: cannot describe the AEF: {e}"));
            return problem_response(
                StatusCode::INTERNAL_SERVER_ERROR,
                "SYSTEM_FAILURE",
                "the AEF's interface cannot be described",
            );
        }
    };
    let body = serde_json::json!({
        "serviceAPIDescriptions": [{
            "apiName": "hello-api",
            "apiId": "hello-api-1",
            "aefProfiles": [{ "aefId": "AEF01", "versions": [{"apiVersion": "v1"}], "interfaceDescriptions": [aef] }]
        }]
    });
    json_response(StatusCode::OK, body.to_string().into_bytes())
}

/// The answer for a key store error: 503 (with `Retry-After`) when the store is unavailable —
/// the caller may retry, and an AEF refuses the handshake meanwhile — 500 otherwise.
fn store_error_response(e: &Error) -> Response<Full<Bytes>> {
    if let Error::KeyStore(KeyStoreError::Unavailable(_)) = e {
        let mut response = problem_response(
            StatusCode::SERVICE_UNAVAILABLE,
            "KEY_STORE_UNAVAILABLE",
            "the CCF's key store is unavailable; retry later",
        );
        response.headers_mut().insert(
            hyper::header::RETRY_AFTER,
            hyper::header::HeaderValue::from_static("1"),
        );
        return response;
    }
    problem_response(
        StatusCode::INTERNAL_SERVER_ERROR,
        "SYSTEM_FAILURE",
        "the security information cannot be given",
    )
}

/// CAPIF-3 `GET /capif-security/v1/trustedInvokers/{apiInvokerId}?authenticationInfo=true`.
async fn trusted_invokers(
    store: &CcfKeyStore,
    aef: &InterfaceDescriptionJson,
    log: &Log,
    req: Request<Incoming>,
) -> Response<Full<Bytes>> {
    let target = req.uri().path_and_query().map(|p| p.as_str()).unwrap_or("");
    if req.method() != hyper::Method::GET {
        return problem_response(
            StatusCode::METHOD_NOT_ALLOWED,
            "METHOD_NOT_ALLOWED",
            "this CCF serves only GET on trustedInvokers",
        );
    }
    let Some(request) = TrustedInvokersRequest::parse(target) else {
        return problem_response(
            StatusCode::NOT_FOUND,
            "RESOURCE_NOT_FOUND",
            "no such resource",
        );
    };
    match store
        .service_security_json(
            &request.api_invoker_id,
            std::slice::from_ref(aef),
            request.authentication_info,
            &notification_destination(&request.api_invoker_id),
        )
        .await
    {
        Ok(Some(json)) => {
            log(
                "ccf",
                &format!(
                    "CAPIF-3: gave the AEF the security information of {}",
                    request.api_invoker_id
                ),
            );
            json_response(StatusCode::OK, json.to_vec())
        }
        Ok(None) => {
            log(
                "ccf",
                &format!("CAPIF-3: unknown invoker {:?}", request.api_invoker_id),
            );
            problem_response(
                StatusCode::NOT_FOUND,
                "RESOURCE_NOT_FOUND",
                "no security information for this API invoker",
            )
        }
        Err(e) => {
            log("ccf", &format!("CAPIF-3: cannot answer: {e}"));
            store_error_response(&e)
        }
    }
}

// ---------------------------------------------------------------------------------------------
// AEF

/// A running AEF.
pub struct Aef {
    /// The CAPIF-2e endpoint (TLS-PSK).
    pub addr: SocketAddr,
    /// The AEF's key cache (CAPIF-3 resolver).
    pub resolver: Arc<CcfKeyResolver>,
    task: JoinHandle<()>,
}

impl Aef {
    /// Binds the AEF's listener first (its interface must be known to the CCF).
    pub async fn bind() -> std::io::Result<TcpListener> {
        TcpListener::bind("127.0.0.1:0").await
    }

    /// The TS 29.222 `InterfaceDescription` of a listener.
    pub fn interface(listener: &TcpListener) -> std::io::Result<InterfaceDescriptionJson> {
        let addr = listener.local_addr()?;
        Ok(InterfaceDescriptionJson {
            ipv4_addr: Some(addr.ip().to_string()),
            port: Some(addr.port()),
            security_methods: vec!["PSK".into()],
            ..Default::default()
        })
    }

    /// Serves the API over CAPIF-2e on `listener`, resolving keys from the CCF over CAPIF-3.
    pub fn start(
        pki: &TestPki,
        listener: TcpListener,
        ccf_api_root: &str,
        key_ttl: Duration,
        log: Log,
    ) -> Result<Self, Error> {
        let addr = listener.local_addr()?;
        let interface = ServiceApiInterface::from_ip(addr.ip(), addr.port());
        let capif3_tls = Arc::new(pki.client_config(Some(&["aef01.example"])));
        let mut resolver_config = CcfKeyResolverConfig::new(ccf_api_root, capif3_tls, interface);
        resolver_config.fetch_timeout = Duration::from_secs(3);
        resolver_config.min_refresh_interval = Duration::ZERO;
        resolver_config.ttl = key_ttl;
        let resolver = Arc::new(CcfKeyResolver::new(resolver_config)?);
        let config = PskServerConfig::new(Arc::new(NoPskResolver))
            .with_alpn_protocols(vec![b"h2".to_vec(), b"http/1.1".to_vec()])?;
        let acceptor = PskAcceptor::new(Arc::new(config)).with_async_resolver(resolver.clone());
        let task = tokio::spawn(async move {
            loop {
                let Ok((tcp, peer)) = listener.accept().await else {
                    return;
                };
                let (acceptor, log) = (acceptor.clone(), log.clone());
                tokio::spawn(async move {
                    let tls = match acceptor.accept_invoker(tcp).await {
                        Ok(tls) => tls,
                        Err(e) => {
                            return log(
                                "aef",
                                &format!("CAPIF-2e handshake from {peer} refused: {e}"),
                            )
                        }
                    };
                    let invoker = tls.api_invoker_id().clone();
                    let (_, conn) = tls.get_ref().get_ref();
                    log(
                        "aef",
                        &format!(
                            "CAPIF-2e TLS-PSK handshake with {invoker} done ({:?}, {:?}); key fetched from the CCF",
                            conn.negotiated_cipher_suite().unwrap_or(rustls::CipherSuite::Unknown(0)),
                            conn.negotiated_key_exchange_group()
                        ),
                    );
                    // The authenticated invoker goes with every request, for the handlers.
                    let service = hyper::service::service_fn(move |mut req: Request<Incoming>| {
                        req.extensions_mut().insert(invoker.clone());
                        async move { Ok::<_, Infallible>(aef_api(&req)) }
                    });
                    let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(tls), service)
                        .await;
                });
            }
        });
        Ok(Self {
            addr,
            resolver,
            task,
        })
    }
}

/// The AEF's API: a greeting for the invoker the TLS-PSK handshake authenticated.
fn aef_api(req: &Request<Incoming>) -> Response<Full<Bytes>> {
    match req.extensions().get::<ApiInvokerId>() {
        Some(invoker) if req.uri().path() == API_PATH => {
            let body = serde_json::json!({ "greeting": format!("hello, {invoker}") });
            json_response(StatusCode::OK, body.to_string().into_bytes())
        }
        Some(_) => problem_response(
            StatusCode::NOT_FOUND,
            "RESOURCE_NOT_FOUND",
            "no such resource",
        ),
        None => problem_response(
            StatusCode::UNAUTHORIZED,
            "UNAUTHORIZED",
            "no authenticated API invoker on this connection",
        ),
    }
}

impl Drop for Aef {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The AEF's CAPIF-3-facing HTTPS endpoint (TS 29.222 `AEF_Security_API`).
pub struct RevocationEndpoint {
    /// Its `{apiRoot}`.
    pub api_root: String,
    task: JoinHandle<()>,
}

impl Drop for RevocationEndpoint {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Aef {
    /// Serves `POST /aef-security/v1/revoke-authorization` over TLS that requires a client
    /// certificate of the CA, and accepts revocations only from the peer presenting
    /// `ccf_certificate` (any other gets 403; no certificate fails the TLS handshake).
    pub async fn serve_revocation(
        &self,
        pki: &TestPki,
        ccf_certificate: CertificateDer<'static>,
        log: Log,
    ) -> std::io::Result<RevocationEndpoint> {
        let tls = Arc::new(pki.server_config(&["127.0.0.1"], true));
        let handler = Arc::new(RevocationHandler::new(self.resolver.clone()));
        let authorized = AuthorizedCcf::new([ccf_certificate]);
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let api_root = format!("https://{}", listener.local_addr()?);
        let task = tokio::spawn(async move {
            loop {
                let Ok((tcp, peer)) = listener.accept().await else {
                    return;
                };
                let acceptor = tokio_rustls::TlsAcceptor::from(tls.clone());
                let (handler, authorized, log) = (handler.clone(), authorized.clone(), log.clone());
                tokio::spawn(async move {
                    let handshake =
                        tokio::time::timeout(Duration::from_secs(10), acceptor.accept(tcp));
                    let Ok(Ok(tls)) = handshake.await else {
                        return log(
                            "aef",
                            &format!("AEF_Security_API: TLS with {peer} failed or timed out"),
                        );
                    };
                    let peer_certs = tls.get_ref().1.peer_certificates();
                    if authorized.check(peer_certs).is_err() {
                        log(
                            "aef",
                            &format!(
                                "AEF_Security_API: {peer} is not the CCF; its requests get 403"
                            ),
                        );
                    }
                    let service = RevocationService::new(handler, &authorized, peer_certs);
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(tls), service)
                        .await;
                });
            }
        });
        Ok(RevocationEndpoint { api_root, task })
    }
}

// ---------------------------------------------------------------------------------------------
// API invoker

/// An onboarded API invoker: its ID and certificate.
pub struct Invoker {
    /// The API invoker ID the CCF assigned at onboarding.
    pub id: String,
    leaf: Leaf,
    roots: rustls::RootCertStore,
    tls13: bool,
    connector: InvokerConnector,
}

/// What the invoker learns on CAPIF-1e.
pub struct Discovery {
    /// The CAPIF-1e session (derives AEFPSKs).
    pub session: Capif1eSession,
    /// The AEF interface from the discovery answer.
    pub aef: ServiceApiInterface,
    /// Its socket address.
    pub aef_addr: SocketAddr,
}

impl Invoker {
    /// An invoker with a fresh certificate from `pki`; `tls13` selects the TLS version used on
    /// CAPIF-1e (TLS 1.2 is TS 33.122 Annex A.1; TLS 1.3 is this crate's exporter profile).
    pub fn new(pki: &TestPki, id: &str, tls13: bool) -> Self {
        let leaf = pki.leaf(&[&format!("{}.invokers.example", id.to_ascii_lowercase())]);
        let roots = pki.roots();
        let connector = Self::connector(&leaf, &roots, tls13, true, None);
        Self {
            id: id.to_string(),
            leaf,
            roots,
            tls13,
            connector,
        }
    }

    /// The same invoker with no TLS session to resume: its next CAPIF-1e connection is a full
    /// handshake, i.e. a new CAPIF-1e session with a new AEFPSK. (A resumed TLS 1.2 session is
    /// the same session and yields the same key.)
    pub fn restarted(&self) -> Self {
        self.restarted_with(None)
    }

    /// Like [`Invoker::restarted`], and its CAPIF-1e TLS also hands its secrets to `key_log`
    /// (tests: to look for them where they must not be).
    pub fn with_key_log(&self, key_log: Arc<dyn rustls::KeyLog>) -> Self {
        self.restarted_with(Some(key_log))
    }

    fn restarted_with(&self, key_log: Option<Arc<dyn rustls::KeyLog>>) -> Self {
        Self {
            id: self.id.clone(),
            leaf: Leaf {
                chain: self.leaf.chain.clone(),
                key: self.leaf.key.clone_key(),
                cert_pem: self.leaf.cert_pem.clone(),
                key_pem: self.leaf.key_pem.clone(),
            },
            roots: self.roots.clone(),
            tls13: self.tls13,
            connector: Self::connector(&self.leaf, &self.roots, self.tls13, false, key_log),
        }
    }

    fn connector(
        leaf: &Leaf,
        roots: &rustls::RootCertStore,
        tls13: bool,
        resume: bool,
        key_log: Option<Arc<dyn rustls::KeyLog>>,
    ) -> InvokerConnector {
        let provider = rustls_capif::default_provider();
        // TLS 1.2: TS 33.122 Annex A.1 as written, what works against any CCF. TLS 1.3: this
        // crate's exporter profile, which the CCF of this example opts into as well.
        let builder = if tls13 {
            rustls::ClientConfig::builder_with_provider(provider)
                .with_protocol_versions(&[&rustls::version::TLS13])
                .expect("provider supports TLS 1.3")
        } else {
            InvokerConfig::tls12_builder(provider).expect("provider supports TLS 1.2")
        };
        let mut config = builder
            .with_root_certificates(roots.clone())
            .with_client_auth_cert(leaf.chain.clone(), leaf.key.clone_key())
            .expect("valid client certificate");
        if !resume {
            config.resumption = rustls::client::Resumption::disabled();
        }
        if let Some(key_log) = key_log {
            config.key_log = key_log;
        }
        let profile = if tls13 {
            Capif1eProfile::Tls13Exporter
        } else {
            Capif1eProfile::AnnexA1
        };
        InvokerConnector::from(InvokerConfig::new(config).with_profile(profile))
    }

    /// The certificate the CCF onboarded.
    pub fn certificate(&self) -> CertificateDer<'static> {
        self.leaf.chain[0].clone()
    }

    /// CAPIF-1e: TLS to the CCF, then service discovery. Returns the session and the AEF.
    pub async fn discover(&self, ccf: SocketAddr) -> Result<Discovery, String> {
        let tcp = tokio::net::TcpStream::connect(ccf)
            .await
            .map_err(|e| format!("connect to CCF: {e}"))?;
        let name = ServerName::IpAddress(ccf.ip().into());
        let (tls, session) = self
            .connector
            .connect(name, tcp)
            .await
            .map_err(|e| format!("CAPIF-1e TLS: {e}"))?;
        let body = http_get(
            tls,
            &format!("/service-apis/v1/allServiceAPIs?api-invoker-id={}", self.id),
        )
        .await
        .map_err(|e| format!("discovery: {e}"))?;
        let doc: serde_json::Value =
            serde_json::from_slice(&body).map_err(|e| format!("discovery JSON: {e}"))?;
        let desc = &doc["serviceAPIDescriptions"][0]["aefProfiles"][0]["interfaceDescriptions"][0];
        let desc: InterfaceDescriptionJson =
            serde_json::from_value(desc.clone()).map_err(|e| format!("discovery JSON: {e}"))?;
        let aef = desc.service_api_interface().map_err(|e| e.to_string())?;
        let aef_addr = aef
            .to_string()
            .parse()
            .map_err(|e| format!("AEF address: {e}"))?;
        Ok(Discovery {
            session,
            aef,
            aef_addr,
        })
    }

    /// CAPIF-2e: TLS-PSK to the AEF with `psk` (identity = API invoker ID), then one API call
    /// through hyper-util's pooled client, which offers this key to `aef` only.
    pub async fn call_aef(
        &self,
        aef: SocketAddr,
        psk: &AefPsk,
    ) -> Result<(String, String), String> {
        let interface = ServiceApiInterface::from_ip(aef.ip(), aef.port());
        let connector = PskClientConfig::for_aef(&self.id, psk)
            .and_then(|config| PskHttpsConnectorBuilder::new().with_aef(&interface, config))
            .and_then(|builder| builder.enable_all_versions().build())
            .map_err(|e| e.to_string())?;
        let client = Client::builder(TokioExecutor::new()).build::<_, Empty<Bytes>>(connector);
        let uri = format!("https://{interface}{API_PATH}")
            .parse::<hyper::Uri>()
            .map_err(|e| e.to_string())?;
        let response = client.get(uri).await.map_err(|e| {
            let cause = std::error::Error::source(&e).map(ToString::to_string);
            format!("CAPIF-2e: {e}: {}", cause.unwrap_or_default())
        })?;
        let params = match response.extensions().get::<PskConnectionInfo>() {
            Some(info) => format!(
                "{:?}, {:?}, ALPN {:?}",
                info.cipher_suite.unwrap_or(rustls::CipherSuite::Unknown(0)),
                info.key_exchange_group,
                info.alpn_protocol.as_deref().map(String::from_utf8_lossy)
            ),
            None => String::new(),
        };
        let status = response.status();
        let body = Limited::new(response.into_body(), MAX_BODY)
            .collect()
            .await
            .map_err(|e| format!("API call: {e}"))?
            .to_bytes();
        if status != StatusCode::OK {
            return Err(format!("API call: HTTP {status}"));
        }
        Ok((params, String::from_utf8_lossy(&body).into_owned()))
    }
}

/// One HTTP/1.1 GET over an established stream; the body (bounded) of a 200 answer.
async fn http_get<S>(stream: S, target: &str) -> Result<Vec<u8>, String>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| e.to_string())?;
    let driver = tokio::spawn(connection);
    let request = Request::get(target)
        .header(hyper::header::HOST, "capif")
        .body(Empty::<Bytes>::new())
        .map_err(|e| e.to_string())?;
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| e.to_string())?;
    let status = response.status();
    let body = Limited::new(response.into_body(), MAX_BODY)
        .collect()
        .await
        .map_err(|e| e.to_string())?
        .to_bytes();
    drop(sender);
    let _ = driver.await;
    if status != StatusCode::OK {
        return Err(format!("HTTP {status}"));
    }
    Ok(body.to_vec())
}

// ---------------------------------------------------------------------------------------------

/// Everything started for one run.
pub struct World {
    pub pki: TestPki,
    /// The CCF where invokers run CAPIF-1e (replica A when there are two).
    pub ccf: Ccf,
    /// With a shared store: replica B, whose CAPIF-3 endpoint the AEF asks (it never saw the
    /// invoker's CAPIF-1e session). `None`: one CCF, which the AEF asks.
    pub replica: Option<Ccf>,
    pub aef: Aef,
    pub invoker: Invoker,
    /// The AEF's revocation endpoint, which the CCF notifies.
    pub revocation: RevocationEndpoint,
}

impl World {
    /// Starts a CCF with an in-memory store and an AEF (caching keys for `key_ttl`), and
    /// onboards one invoker.
    pub async fn start(
        invoker_id: &str,
        tls13: bool,
        key_ttl: Duration,
        log: Log,
    ) -> Result<Self, String> {
        Self::start_with(invoker_id, tls13, key_ttl, log, None).await
    }

    /// Like [`World::start`]; with `replicas`, two CCF replicas on these two stores (which
    /// share one Redis): invokers run CAPIF-1e with replica A, the AEF asks replica B.
    pub async fn start_with(
        invoker_id: &str,
        tls13: bool,
        key_ttl: Duration,
        log: Log,
        replicas: Option<(Arc<CcfKeyStore>, Arc<CcfKeyStore>)>,
    ) -> Result<Self, String> {
        let pki = TestPki::new();
        let invoker = Invoker::new(&pki, invoker_id, tls13);
        let aef_listener = Aef::bind().await.map_err(|e| format!("AEF bind: {e}"))?;
        let aef_interface = Aef::interface(&aef_listener).map_err(|e| e.to_string())?;
        let onboarded = HashMap::from([(invoker.id.clone(), invoker.certificate())]);
        let profile = if tls13 {
            Capif1eProfile::Tls13Exporter
        } else {
            Capif1eProfile::AnnexA1
        };
        let (store_a, store_b) = match replicas {
            Some((a, b)) => (a, Some(b)),
            None => (Arc::new(CcfKeyStore::default()), None),
        };
        let ccf = Ccf::start_with_store(
            &pki,
            onboarded.clone(),
            aef_interface.clone(),
            profile,
            store_a,
            log.clone(),
        )
        .await
        .map_err(|e| format!("CCF start: {e}"))?;
        let replica = match store_b {
            Some(store) => Some(
                Ccf::start_with_store(&pki, onboarded, aef_interface, profile, store, log.clone())
                    .await
                    .map_err(|e| format!("CCF replica start: {e}"))?,
            ),
            None => None,
        };
        let capif3_api_root = &replica.as_ref().unwrap_or(&ccf).capif3_api_root;
        let aef = Aef::start(&pki, aef_listener, capif3_api_root, key_ttl, log.clone())
            .map_err(|e| format!("AEF start: {e}"))?;
        // The CCF's client certificate on CAPIF-3, which the AEF pins for revocations.
        let ccf_client = pki.leaf(&["ccf.example"]);
        let revocation = aef
            .serve_revocation(&pki, ccf_client.chain[0].clone(), log.clone())
            .await
            .map_err(|e| format!("AEF revocation endpoint: {e}"))?;
        let ccf_tls = Arc::new(pki.client_config_with(&ccf_client));
        // Every replica tells the AEF about the sessions it replaces or removes.
        for c in std::iter::once(&ccf).chain(replica.as_ref()) {
            c.notify_aef(ccf_tls.clone(), &revocation.api_root, log.clone())
                .map_err(|e| format!("CCF revocation notifier: {e}"))?;
        }
        Ok(Self {
            pki,
            ccf,
            replica,
            aef,
            invoker,
            revocation,
        })
    }

    /// The CCF whose CAPIF-3 endpoint the AEF asks (replica B, or the one CCF).
    pub fn capif3_ccf(&self) -> &Ccf {
        self.replica.as_ref().unwrap_or(&self.ccf)
    }
}
