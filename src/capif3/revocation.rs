//! Revocation on CAPIF-3: TS 29.222 `AEF_Security_API` (§5.x "AEF_Security_API", §8.x its
//! resources), `POST {apiRoot}/aef-security/v1/revoke-authorization`, which the AEF serves and
//! the CCF calls to revoke an invoker's authorization at once:
//!
//! ```text
//! POST {apiRoot}/aef-security/v1/revoke-authorization        (CCF -> AEF, mutual TLS)
//!      RevokeAuthorizationReq { revokeInfo: SecurityNotification {
//!          apiInvokerId, aefId?, apiIds[1..], cause }, supportedFeatures }
//! 200  RevokeAuthorizationRsp { supportedFeatures }
//! 4xx  application/problem+json ProblemDetails (TS 29.122)
//! ```
//!
//! This module owns both ends and the serde types of these bodies:
//!
//! * AEF side: [`RevocationHandler`] turns a request body into [`CcfKeyResolver::invalidate`]
//!   and a [`RevocationResponse`] (framework-agnostic); [`AuthorizedCcf`] decides whether a TLS
//!   peer is the CCF (only the CCF may revoke); [`RevocationService`] puts both behind a hyper
//!   service for one connection.
//! * CCF side: [`RevocationNotifier`] sends the request to the configured AEFs over mutual TLS,
//!   and as a [`SessionObserver`] on a [`CcfKeyStore`] it does so whenever an invoker's
//!   CAPIF-1e session is replaced, removed or evicted.
//!
//! The AEF caches keys per invoker, not per API: a revocation drops the invoker's cached answer
//! whatever `apiIds` and `aefId` say. Dropping a cache entry never grants anything (the next
//! handshake asks the CCF again), so the handler does not refuse a notification for an `aefId`
//! or APIs it does not know.

use core::fmt;
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};
use rustls_pki_types::CertificateDer;
use serde::{Deserialize, Serialize};

use super::resolver::{without_userinfo, ApiRoot};
use super::*;
use crate::error::{Error, RevocationError};

/// The resource path under `{apiRoot}`.
pub const REVOKE_AUTHORIZATION_PATH: &str = "/aef-security/v1/revoke-authorization";

/// Largest `RevokeAuthorizationReq` body the AEF reads (one is a few hundred octets).
pub const MAX_REVOCATION_BODY: usize = 16 * 1024;

/// Largest answer body the CCF reads from an AEF.
const MAX_ANSWER_BODY: usize = 16 * 1024;

/// `supportedFeatures` this crate sends: no optional feature of the API (TS 29.500 §6.6).
const NO_FEATURES: &str = "0";

// ---------------------------------------------------------------------------------------------
// The TS 29.222 bodies

// `SecurityNotification` and its cause (`RevocationCause`) are in `model`, with the other
// TS 29.222 types.

/// TS 29.222 `RevokeAuthorizationReq`, the body of `POST .../revoke-authorization`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RevokeAuthorizationReq {
    /// `revokeInfo`
    pub revoke_info: SecurityNotification,
    /// `supportedFeatures` (hex bitmask, TS 29.571).
    pub supported_features: String,
}

/// TS 29.222 `RevokeAuthorizationRsp`, the body of the `200` answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RevokeAuthorizationRsp {
    /// `supportedFeatures` (hex bitmask, TS 29.571).
    pub supported_features: String,
}

/// What the handler reads: every field optional, unknown fields ignored, so that a missing
/// field is an [`RevocationError::InvalidParam`] naming it rather than a serde message.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ReqIn {
    revoke_info: Option<NotificationIn>,
    supported_features: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct NotificationIn {
    api_invoker_id: Option<String>,
    aef_id: Option<String>,
    api_ids: Option<Vec<String>>,
    cause: Option<RevocationCause>,
}

/// TS 29.122 `ProblemDetails`, as this module writes it.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Problem<'a> {
    title: &'a str,
    status: u16,
    detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    invalid_params: Option<[InvalidParam<'a>; 1]>,
}

#[derive(Serialize)]
struct InvalidParam<'a> {
    param: &'a str,
    reason: &'a str,
}

// ---------------------------------------------------------------------------------------------
// AEF side

/// An answer of the AEF's `revoke-authorization` resource: status, media type and body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RevocationResponse {
    /// HTTP status.
    pub status: u16,
    /// `Content-Type`: `application/json` (200) or `application/problem+json` (refusals).
    pub content_type: &'static str,
    /// The `RevokeAuthorizationRsp` or `ProblemDetails` JSON.
    pub body: Vec<u8>,
}

impl RevocationResponse {
    /// The `200 OK` answer: a `RevokeAuthorizationRsp`.
    fn ok() -> Self {
        let rsp = RevokeAuthorizationRsp {
            supported_features: NO_FEATURES.into(),
        };
        Self {
            status: 200,
            content_type: "application/json",
            body: serde_json::to_vec(&rsp).unwrap_or_default(),
        }
    }

    /// The `ProblemDetails` answer for a refusal (for frameworks that run the checks of
    /// [`AuthorizedCcf`] or their own routing and need the body).
    pub fn refusal(error: &RevocationError) -> Self {
        let (status, title) = match error {
            RevocationError::NotTheCcf => (403, "Forbidden"),
            RevocationError::NotFound => (404, "Not Found"),
            RevocationError::MethodNotAllowed => (405, "Method Not Allowed"),
            RevocationError::UnsupportedMediaType => (415, "Unsupported Media Type"),
            RevocationError::BodyTooLarge(_) => (413, "Payload Too Large"),
            RevocationError::MalformedJson(_)
            | RevocationError::InvalidParam { .. }
            | RevocationError::BodyUnreadable => (400, "Bad Request"),
            // CCF-side errors never answer a request; 500 if one is passed anyway.
            _ => (500, "Internal Server Error"),
        };
        let invalid_params = match error {
            RevocationError::InvalidParam { param, reason } => {
                Some([InvalidParam { param, reason }])
            }
            _ => None,
        };
        let problem = Problem {
            title,
            status,
            detail: error.to_string(),
            invalid_params,
        };
        Self {
            status,
            content_type: "application/problem+json",
            body: serde_json::to_vec(&problem).unwrap_or_default(),
        }
    }

    /// As a hyper response.
    pub fn into_hyper(self) -> Response<Full<Bytes>> {
        let mut builder = Response::builder()
            .status(self.status)
            .header(hyper::header::CONTENT_TYPE, self.content_type);
        if self.status == 405 {
            builder = builder.header(hyper::header::ALLOW, "POST");
        }
        builder
            .body(Full::new(Bytes::from(self.body)))
            .unwrap_or_default()
    }
}

/// Who may revoke: the CCF, recognised by the end-entity certificate it presents as a TLS
/// client. The AEF serves `AEF_Security_API` over mutual TLS whose client verifier trusts the
/// CAPIF CA; a certificate from that CA proves only that the peer is *some* CAPIF entity (an
/// AEF or an invoker has one too), so this pins the CCF's own certificate(s) on top.
///
/// Reusable with any server framework: call [`AuthorizedCcf::check`] with the connection's
/// peer certificates (`rustls::ServerConnection::peer_certificates`) before
/// [`RevocationHandler::handle`], and answer [`RevocationResponse::refusal`] on error.
/// List the CCF's next certificate here before it rotates.
#[derive(Clone)]
pub struct AuthorizedCcf {
    certificates: Vec<CertificateDer<'static>>,
}

impl AuthorizedCcf {
    /// The CCF's client certificates (end-entity, DER), compared octet for octet.
    pub fn new(ccf_certificates: impl IntoIterator<Item = CertificateDer<'static>>) -> Self {
        Self {
            certificates: ccf_certificates.into_iter().collect(),
        }
    }

    /// `Ok` if the peer's end-entity certificate (the first of the chain) is the CCF's;
    /// [`RevocationError::NotTheCcf`] without a certificate or with another one.
    pub fn check(
        &self,
        peer_certificates: Option<&[CertificateDer<'_>]>,
    ) -> Result<(), RevocationError> {
        let end_entity = peer_certificates.and_then(|c| c.first());
        match end_entity {
            Some(cert)
                if self
                    .certificates
                    .iter()
                    .any(|c| c.as_ref() == cert.as_ref()) =>
            {
                Ok(())
            }
            _ => Err(RevocationError::NotTheCcf),
        }
    }
}

impl fmt::Debug for AuthorizedCcf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthorizedCcf")
            .field("certificates", &self.certificates.len())
            .finish()
    }
}

/// The AEF's `revoke-authorization` resource, independent of any HTTP framework: a request
/// body in, invalidations of the [`CcfKeyResolver`] and a [`RevocationResponse`] out.
///
/// It does not authenticate the caller: run [`AuthorizedCcf::check`] first (as
/// [`RevocationService`] does).
///
/// Input is read leniently (unknown fields and unknown `cause` values are accepted, and so is
/// a missing `supportedFeatures`); what it needs is checked: `revokeInfo.apiInvokerId` must be
/// an API invoker ID (see [`invoker_id_from_identity`]), `apiIds` must hold at least one ID
/// and `cause` must be present. Output is exact: a `RevokeAuthorizationRsp`, or a TS 29.122
/// `ProblemDetails` with the HTTP status of the refusal.
#[derive(Debug, Clone)]
pub struct RevocationHandler {
    resolver: Arc<CcfKeyResolver>,
    path: String,
}

impl RevocationHandler {
    /// A handler invalidating `resolver`'s cache, at `{prefix}/aef-security/v1/revoke-authorization`
    /// with an empty prefix (see [`Self::with_api_prefix`]).
    pub fn new(resolver: Arc<CcfKeyResolver>) -> Self {
        Self {
            resolver,
            path: REVOKE_AUTHORIZATION_PATH.to_string(),
        }
    }

    /// Serves the resource under the path part of the AEF's `{apiRoot}` (e.g. `/capif`).
    pub fn with_api_prefix(mut self, prefix: &str) -> Self {
        self.path = format!(
            "{}{REVOKE_AUTHORIZATION_PATH}",
            prefix.trim_end_matches('/')
        );
        self
    }

    /// The request path the resource answers at.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// Parses and checks a `RevokeAuthorizationReq` body (at most [`MAX_REVOCATION_BODY`]
    /// octets). Errors never quote the input.
    pub fn parse(body: &[u8]) -> Result<RevokeAuthorizationReq, RevocationError> {
        if body.len() > MAX_REVOCATION_BODY {
            return Err(RevocationError::BodyTooLarge(MAX_REVOCATION_BODY));
        }
        let req: ReqIn = serde_json::from_slice(body).map_err(|e| {
            RevocationError::MalformedJson(format!(
                "JSON {:?} error at line {} column {}",
                e.classify(),
                e.line(),
                e.column()
            ))
        })?;
        let invalid = |param, reason| RevocationError::InvalidParam { param, reason };
        let info = req.revoke_info.ok_or(invalid("/revokeInfo", "required"))?;
        let id = info
            .api_invoker_id
            .ok_or(invalid("/revokeInfo/apiInvokerId", "required"))?;
        if invoker_id_from_identity(id.as_bytes()).is_none() {
            return Err(invalid(
                "/revokeInfo/apiInvokerId",
                "not an API invoker ID (1 to 256 URI unreserved characters)",
            ));
        }
        let api_ids = info
            .api_ids
            .ok_or(invalid("/revokeInfo/apiIds", "required"))?;
        if api_ids.is_empty() {
            return Err(invalid(
                "/revokeInfo/apiIds",
                "must hold at least one apiId",
            ));
        }
        let cause = info.cause.ok_or(invalid("/revokeInfo/cause", "required"))?;
        let supported_features = req.supported_features.unwrap_or_default();
        if !supported_features.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(invalid("/supportedFeatures", "must be hexadecimal digits"));
        }
        Ok(RevokeAuthorizationReq {
            revoke_info: SecurityNotification {
                api_invoker_id: id,
                aef_id: info.aef_id,
                api_ids,
                cause,
            },
            supported_features,
        })
    }

    /// Handles one request body from the (already authorized) CCF: on success the invoker's
    /// cached key is dropped at once (its next CAPIF-2e handshake makes the AEF ask the CCF
    /// again) and the answer is `200` with a `RevokeAuthorizationRsp`; otherwise nothing is
    /// invalidated and the answer is a `ProblemDetails` (400 or 413).
    pub fn handle(&self, body: &[u8]) -> RevocationResponse {
        match Self::parse(body) {
            Ok(req) => {
                let info = &req.revoke_info;
                self.resolver.invalidate(&info.api_invoker_id);
                log::info!(
                    "CAPIF-3: the CCF revoked invoker {:?} (cause {}, {} API(s)); its cached key is dropped",
                    info.api_invoker_id,
                    info.cause.as_str(),
                    info.api_ids.len()
                );
                RevocationResponse::ok()
            }
            Err(e) => {
                log::debug!("CAPIF-3: revoke-authorization refused: {e}");
                RevocationResponse::refusal(&e)
            }
        }
    }
}

/// The `revoke-authorization` resource as a hyper service for one TLS connection (make one
/// per accepted connection, with that connection's peer certificates).
///
/// Every request from a peer that is not the [`AuthorizedCcf`] gets `403`; then the path must
/// be the handler's ([`RevocationHandler::path`], else `404`), the method `POST` (else `405`),
/// the body `application/json` (else `415`) of at most [`MAX_REVOCATION_BODY`] octets (else
/// `413`), and [`RevocationHandler::handle`] answers.
#[derive(Debug, Clone)]
pub struct RevocationService {
    handler: Arc<RevocationHandler>,
    peer: Result<(), RevocationError>,
}

impl RevocationService {
    /// The service for a connection whose client presented `peer_certificates`.
    pub fn new(
        handler: Arc<RevocationHandler>,
        authorized: &AuthorizedCcf,
        peer_certificates: Option<&[CertificateDer<'_>]>,
    ) -> Self {
        let peer = authorized.check(peer_certificates);
        if peer.is_err() {
            log::warn!("CAPIF-3: a client that is not the CCF connected to revoke-authorization");
        }
        Self { handler, peer }
    }

    async fn respond(
        handler: Arc<RevocationHandler>,
        peer: Result<(), RevocationError>,
        req: Request<Incoming>,
    ) -> RevocationResponse {
        let check = || -> Result<(), RevocationError> {
            peer.clone()?;
            if req.uri().path() != handler.path() {
                return Err(RevocationError::NotFound);
            }
            if req.method() != hyper::Method::POST {
                return Err(RevocationError::MethodNotAllowed);
            }
            let json = req
                .headers()
                .get(hyper::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.split(';').next())
                .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"));
            if !json {
                return Err(RevocationError::UnsupportedMediaType);
            }
            let declared = req
                .headers()
                .get(hyper::header::CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<u64>().ok());
            if declared.is_some_and(|n| n > MAX_REVOCATION_BODY as u64) {
                return Err(RevocationError::BodyTooLarge(MAX_REVOCATION_BODY));
            }
            Ok(())
        };
        if let Err(e) = check() {
            return RevocationResponse::refusal(&e);
        }
        let body = match Limited::new(req.into_body(), MAX_REVOCATION_BODY)
            .collect()
            .await
        {
            Ok(collected) => collected.to_bytes(),
            Err(e) if e.is::<http_body_util::LengthLimitError>() => {
                return RevocationResponse::refusal(&RevocationError::BodyTooLarge(
                    MAX_REVOCATION_BODY,
                ))
            }
            Err(_) => return RevocationResponse::refusal(&RevocationError::BodyUnreadable),
        };
        handler.handle(&body)
    }
}

impl hyper::service::Service<Request<Incoming>> for RevocationService {
    type Response = Response<Full<Bytes>>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn call(&self, req: Request<Incoming>) -> Self::Future {
        let (handler, peer) = (self.handler.clone(), self.peer.clone());
        Box::pin(async move { Ok(Self::respond(handler, peer, req).await.into_hyper()) })
    }
}

// ---------------------------------------------------------------------------------------------
// CCF side

/// How an invoker's CAPIF-1e session ended at the CCF (see [`SessionObserver`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SessionEnd {
    /// A newer CAPIF-1e session of the invoker replaced it (its AEFPSKs changed).
    Replaced,
    /// [`CcfKeyStore::remove`] forgot the invoker (offboarding).
    Removed,
    /// A full store evicted it to make room for another invoker.
    Evicted,
}

/// Told by a [`CcfKeyStore`] when an invoker's session ends other than by its TTL (see
/// [`CcfKeyStore::set_observer`]). Called on the thread that changed the store, after the
/// store's lock is released: it must return quickly (hand slow work to a task).
pub trait SessionObserver: Send + Sync {
    /// `invoker_id`'s session ended in the way `how` says.
    fn session_ended(&self, invoker_id: &str, how: SessionEnd);
}

/// One AEF a [`RevocationNotifier`] tells. Its `Debug` never shows credentials in `api_root`.
#[derive(Clone, PartialEq, Eq)]
pub struct RevocationTarget {
    /// The AEF's `{apiRoot}`, `https://host[:port][/prefix]`.
    pub api_root: String,
    /// The AEF's `aefId`, sent as `revokeInfo.aefId` if set.
    pub aef_id: Option<String>,
    /// The service APIs of this AEF the invoker is revoked from (`revokeInfo.apiIds`, at least
    /// one: TS 29.222 requires it). A CAPIF-1e session's AEFPSK covers every API of the AEF,
    /// so list them all.
    pub api_ids: Vec<String>,
}

impl fmt::Debug for RevocationTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RevocationTarget")
            .field("api_root", &without_userinfo(&self.api_root))
            .field("aef_id", &self.aef_id)
            .field("api_ids", &self.api_ids)
            .finish()
    }
}

/// Settings of a [`RevocationNotifier`].
#[derive(Clone)]
pub struct RevocationNotifierConfig {
    /// The AEFs to tell.
    pub targets: Vec<RevocationTarget>,
    /// rustls client config: trusts the AEFs' CA and presents the CCF's certificate (the one
    /// the AEFs' [`AuthorizedCcf`] pins). Its ALPN list is replaced by `http/1.1`.
    pub tls: Arc<rustls::ClientConfig>,
    /// Time limit of one delivery (connect, TLS, request, answer). Default 5 s.
    pub timeout: Duration,
}

impl RevocationNotifierConfig {
    /// Settings for `targets` with the default timeout.
    pub fn new(targets: Vec<RevocationTarget>, tls: Arc<rustls::ClientConfig>) -> Self {
        Self {
            targets,
            tls,
            timeout: Duration::from_secs(5),
        }
    }
}

impl fmt::Debug for RevocationNotifierConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let roots: Vec<String> = (self.targets.iter())
            .map(|t| without_userinfo(&t.api_root))
            .collect();
        f.debug_struct("RevocationNotifierConfig")
            .field("targets", &roots)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// The outcome of telling one AEF.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RevocationDelivery {
    /// The AEF's `{apiRoot}` (credentials, if any, redacted).
    pub api_root: String,
    /// `Ok` if the AEF answered `200`/`204`.
    pub result: Result<(), RevocationError>,
}

/// The CCF's client of `AEF_Security_API`: sends `RevokeAuthorizationReq` to every configured
/// AEF over mutual TLS, concurrently, each bounded by the timeout.
///
/// Set it on the store with `store.set_observer(Some(Arc::new(notifier)))`: each session
/// replaced, removed or evicted is then sent as a revocation (cause `UNEXPECTED_REASON`) from
/// a task of the tokio runtime the notifier was made in, without holding the store's lock.
/// Failures are logged (warning) there; [`RevocationNotifier::notify`] returns them to a
/// caller that sends by hand. A replaced session is reported even when the newer one is a
/// resumption of it (same key): that costs the AEF one more CAPIF-3 fetch, nothing else.
#[derive(Clone)]
pub struct RevocationNotifier {
    inner: Arc<NotifierInner>,
}

struct NotifierInner {
    targets: Vec<(ApiRoot, RevocationTarget)>,
    tls: Arc<rustls::ClientConfig>,
    timeout: Duration,
    runtime: Option<::tokio::runtime::Handle>,
}

impl RevocationNotifier {
    /// A notifier with `config`: refused if an apiRoot is not `https` or a target has no
    /// apiId. Make it within a tokio runtime if it is to be a [`SessionObserver`] (the
    /// observer sends from that runtime).
    pub fn new(config: RevocationNotifierConfig) -> Result<Self, Error> {
        let mut targets = Vec::with_capacity(config.targets.len());
        for target in config.targets {
            if target.api_ids.is_empty() {
                return Err(Error::InvalidConfig(format!(
                    "revocation target {}: apiIds must name at least one API (TS 29.222)",
                    without_userinfo(&target.api_root)
                )));
            }
            targets.push((ApiRoot::parse(&target.api_root)?, target));
        }
        let http11 = [b"http/1.1".to_vec()];
        let tls = if config.tls.alpn_protocols == http11 {
            config.tls
        } else {
            let mut tls = (*config.tls).clone();
            tls.alpn_protocols = http11.to_vec();
            Arc::new(tls)
        };
        Ok(Self {
            inner: Arc::new(NotifierInner {
                targets,
                tls,
                timeout: config.timeout,
                runtime: ::tokio::runtime::Handle::try_current().ok(),
            }),
        })
    }

    /// Tells every AEF that `invoker_id`'s authorization is revoked for `cause`; one
    /// [`RevocationDelivery`] per AEF, in the configured order.
    pub async fn notify(
        &self,
        invoker_id: &str,
        cause: RevocationCause,
    ) -> Vec<RevocationDelivery> {
        let mut tasks = Vec::with_capacity(self.inner.targets.len());
        for index in 0..self.inner.targets.len() {
            let inner = self.inner.clone();
            let (invoker_id, cause) = (invoker_id.to_string(), cause.clone());
            tasks.push(::tokio::spawn(async move {
                inner.deliver(index, invoker_id, cause).await
            }));
        }
        let mut deliveries = Vec::with_capacity(tasks.len());
        for (task, (_, target)) in tasks.into_iter().zip(&self.inner.targets) {
            let result = task.await.unwrap_or(Err(RevocationError::AefUnreachable(
                "the delivery task ended early".into(),
            )));
            deliveries.push(RevocationDelivery {
                api_root: without_userinfo(&target.api_root),
                result,
            });
        }
        deliveries
    }
}

impl fmt::Debug for RevocationNotifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let roots: Vec<String> = (self.inner.targets.iter())
            .map(|(_, t)| without_userinfo(&t.api_root))
            .collect();
        f.debug_struct("RevocationNotifier")
            .field("targets", &roots)
            .field("timeout", &self.inner.timeout)
            .finish_non_exhaustive()
    }
}

impl SessionObserver for RevocationNotifier {
    fn session_ended(&self, invoker_id: &str, how: SessionEnd) {
        let Some(runtime) = &self.inner.runtime else {
            log::error!(
                "CAPIF-3: cannot notify the AEFs that {invoker_id:?}'s session ended ({how:?}): \
                 the RevocationNotifier was not made within a tokio runtime"
            );
            return;
        };
        let (notifier, invoker_id) = (self.clone(), invoker_id.to_string());
        runtime.spawn(async move {
            for delivery in notifier.notify(&invoker_id, RevocationCause::UnexpectedReason).await {
                match delivery.result {
                    Ok(()) => log::debug!(
                        "CAPIF-3: told AEF {} that {invoker_id:?}'s authorization is revoked ({how:?})",
                        delivery.api_root
                    ),
                    Err(e) => log::warn!(
                        "CAPIF-3: could not tell AEF {} that {invoker_id:?}'s authorization is \
                         revoked ({how:?}): {e}; it accepts the old key until its cache TTL",
                        delivery.api_root
                    ),
                }
            }
        });
    }
}

impl NotifierInner {
    async fn deliver(
        &self,
        index: usize,
        invoker_id: String,
        cause: RevocationCause,
    ) -> Result<(), RevocationError> {
        let (root, target) = &self.targets[index];
        let body = RevokeAuthorizationReq {
            revoke_info: SecurityNotification {
                api_invoker_id: invoker_id,
                aef_id: target.aef_id.clone(),
                api_ids: target.api_ids.clone(),
                cause,
            },
            supported_features: NO_FEATURES.into(),
        };
        let body = serde_json::to_vec(&body)
            .map_err(|_| RevocationError::AefUnreachable("request does not serialize".into()))?;
        ::tokio::time::timeout(self.timeout, self.post(root, body))
            .await
            .unwrap_or(Err(RevocationError::Timeout(self.timeout)))
    }

    async fn post(&self, root: &ApiRoot, body: Vec<u8>) -> Result<(), RevocationError> {
        let unreachable = |what: &str, e: &dyn fmt::Display| {
            RevocationError::AefUnreachable(format!("{what} {}: {e}", root.authority))
        };
        let tcp = ::tokio::net::TcpStream::connect((root.host.as_str(), root.port))
            .await
            .map_err(|e| unreachable("connect", &e))?;
        let tls = tokio_rustls::TlsConnector::from(self.tls.clone())
            .connect(root.server_name.clone(), tcp)
            .await
            .map_err(|e| unreachable("TLS with", &e))?;
        let (mut sender, connection) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tls))
                .await
                .map_err(|e| unreachable("HTTP with", &e))?;
        let driver = ::tokio::spawn(connection);
        let request = Request::post(format!("{}{REVOKE_AUTHORIZATION_PATH}", root.prefix))
            .header(hyper::header::HOST, root.authority.as_str())
            .header(hyper::header::CONTENT_TYPE, "application/json")
            .header(
                hyper::header::ACCEPT,
                "application/json, application/problem+json",
            )
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| unreachable("request to", &e))?;
        let result = async {
            let response = sender
                .send_request(request)
                .await
                .map_err(|e| unreachable("HTTP with", &e))?;
            let status = response.status().as_u16();
            // The answer's body (a RevokeAuthorizationRsp or ProblemDetails) is read, bounded,
            // only so that the connection ends cleanly; the status is the outcome.
            let _ = Limited::new(response.into_body(), MAX_ANSWER_BODY)
                .collect()
                .await;
            match status {
                200 | 204 => Ok(()),
                other => Err(RevocationError::HttpStatus(other)),
            }
        }
        .await;
        drop(sender);
        driver.abort();
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kdf::ServiceApiInterface;

    fn handler() -> (RevocationHandler, Arc<CcfKeyResolver>) {
        let provider = crate::default_provider();
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(rustls::RootCertStore::empty())
            .with_no_client_auth();
        let config = CcfKeyResolverConfig::new(
            "https://127.0.0.1:1",
            Arc::new(tls),
            ServiceApiInterface::parse("127.0.0.1:8443").unwrap(),
        );
        let resolver = Arc::new(CcfKeyResolver::new(config).unwrap());
        (RevocationHandler::new(resolver.clone()), resolver)
    }

    fn problem(response: &RevocationResponse) -> serde_json::Value {
        assert_eq!(response.content_type, "application/problem+json");
        let v: serde_json::Value = serde_json::from_slice(&response.body).unwrap();
        assert_eq!(v["status"], response.status);
        v
    }

    #[test]
    fn malformed_bodies_are_400_problem_details() {
        let (h, _) = handler();
        for (body, param) in [
            (&b"not json"[..], None),
            (b"[1,2]", None),
            (b"{\"revokeInfo\": {\"apiInvokerId\": 7}}", None),
            (b"{}", Some("/revokeInfo")),
            (
                b"{\"revokeInfo\": {\"apiIds\": [\"a\"], \"cause\": \"UNEXPECTED_REASON\"}, \"supportedFeatures\": \"0\"}",
                Some("/revokeInfo/apiInvokerId"),
            ),
            (
                b"{\"revokeInfo\": {\"apiInvokerId\": \"../x\", \"apiIds\": [\"a\"], \"cause\": \"UNEXPECTED_REASON\"}}",
                Some("/revokeInfo/apiInvokerId"),
            ),
            (
                b"{\"revokeInfo\": {\"apiInvokerId\": \"inv-1\", \"apiIds\": [], \"cause\": \"UNEXPECTED_REASON\"}}",
                Some("/revokeInfo/apiIds"),
            ),
            (
                b"{\"revokeInfo\": {\"apiInvokerId\": \"inv-1\", \"apiIds\": [\"a\"]}}",
                Some("/revokeInfo/cause"),
            ),
            (
                b"{\"revokeInfo\": {\"apiInvokerId\": \"inv-1\", \"apiIds\": [\"a\"], \"cause\": \"UNEXPECTED_REASON\"}, \"supportedFeatures\": \"xyz\"}",
                Some("/supportedFeatures"),
            ),
        ] {
            let r = h.handle(body);
            assert_eq!(r.status, 400, "{}", String::from_utf8_lossy(body));
            let v = problem(&r);
            match param {
                Some(p) => assert_eq!(v["invalidParams"][0]["param"], p),
                None => assert!(v.get("invalidParams").is_none()),
            }
            // The input is never quoted back.
            assert!(!String::from_utf8_lossy(&r.body).contains("../x"));
        }
        let huge = vec![b' '; MAX_REVOCATION_BODY + 1];
        assert_eq!(h.handle(&huge).status, 413);
    }

    #[test]
    fn valid_body_is_200_and_lenient() {
        let (h, _) = handler();
        let body = br#"{"revokeInfo": {"apiInvokerId": "inv-1", "aefId": "AEF01",
            "apiIds": ["api-1"], "cause": "SOMETHING_NEW", "extension": {"x": 1}},
            "supportedFeatures": "0", "vendorField": true}"#;
        let parsed = RevocationHandler::parse(body).unwrap();
        assert_eq!(
            parsed.revoke_info.cause,
            RevocationCause::Other("SOMETHING_NEW".into())
        );
        let r = h.handle(body);
        assert_eq!((r.status, r.content_type), (200, "application/json"));
        let rsp: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(rsp, serde_json::json!({"supportedFeatures": "0"}));
        // supportedFeatures may be missing on input.
        let body = br#"{"revokeInfo": {"apiInvokerId": "inv-1", "apiIds": ["a"], "cause": "OVERLIMIT_USAGE"}}"#;
        assert_eq!(h.handle(body).status, 200);
    }

    #[test]
    fn request_serializes_exactly() {
        let req = RevokeAuthorizationReq {
            revoke_info: SecurityNotification {
                api_invoker_id: "inv-1".into(),
                aef_id: None,
                api_ids: vec!["api-1".into()],
                cause: RevocationCause::UnexpectedReason,
            },
            supported_features: "0".into(),
        };
        assert_eq!(
            serde_json::to_value(&req).unwrap(),
            serde_json::json!({"revokeInfo": {"apiInvokerId": "inv-1", "apiIds": ["api-1"],
                "cause": "UNEXPECTED_REASON"}, "supportedFeatures": "0"})
        );
        let round: RevokeAuthorizationReq =
            serde_json::from_slice(&serde_json::to_vec(&req).unwrap()).unwrap();
        assert_eq!(round, req);
    }

    #[test]
    fn authorized_ccf_pins_the_certificate() {
        let ccf = CertificateDer::from(vec![1u8, 2, 3]);
        let other = CertificateDer::from(vec![1u8, 2, 4]);
        let auth = AuthorizedCcf::new([ccf.clone()]);
        assert!(auth.check(Some(&[ccf.clone(), other.clone()])).is_ok());
        assert_eq!(
            auth.check(Some(&[other.clone(), ccf])),
            Err(RevocationError::NotTheCcf)
        );
        assert_eq!(auth.check(Some(&[])), Err(RevocationError::NotTheCcf));
        assert_eq!(auth.check(None), Err(RevocationError::NotTheCcf));
        assert_eq!(
            RevocationResponse::refusal(&RevocationError::NotTheCcf).status,
            403
        );
    }

    #[test]
    fn notifier_config_is_checked() {
        let provider = crate::default_provider();
        let tls = Arc::new(
            rustls::ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_root_certificates(rustls::RootCertStore::empty())
                .with_no_client_auth(),
        );
        let target = |root: &str, ids: &[&str]| RevocationTarget {
            api_root: root.into(),
            aef_id: None,
            api_ids: ids.iter().map(|s| s.to_string()).collect(),
        };
        let new = |t| RevocationNotifier::new(RevocationNotifierConfig::new(vec![t], tls.clone()));
        assert!(new(target("https://aef.example", &["a"])).is_ok());
        assert!(new(target("http://aef.example", &["a"])).is_err());
        assert!(new(target("https://aef.example", &[])).is_err());
    }

    #[test]
    fn a_target_never_shows_api_root_credentials() {
        let target = RevocationTarget {
            api_root: "https://ccf:s3cret@aef.example:8443/root".into(),
            aef_id: None,
            api_ids: vec!["api-1".into()],
        };
        let shown = format!("{target:?}");
        assert!(!shown.contains("s3cret"), "{shown}");
        assert!(shown.contains("aef.example:8443"), "{shown}");
    }
}
