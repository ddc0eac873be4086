//! CAPIF-3 key delivery (feature `capif3`): how an AEF learns the AEFPSK of an invoker.
//!
//! TS 33.122 §6.5.2.1: the AEF, which does not know the key, asks the CCF for the invoker's
//! security information. TS 29.222 `CAPIF_Security_API` carries it:
//!
//! ```text
//! GET {apiRoot}/capif-security/v1/trustedInvokers/{apiInvokerId}?authenticationInfo=true
//! 200 OK  ServiceSecurity { securityInfo: [ SecurityInformation {
//!           interfaceDetails | aefId, prefSecurityMethods, selSecurityMethod,
//!           authenticationInfo } ] }
//! ```
//!
//! 3GPP does not define what `authenticationInfo` holds for TLS-PSK; this crate puts the
//! AEFPSK there as 64 lowercase hex digits ([`AefPsk::to_authentication_info`](crate::AefPsk::to_authentication_info)).
//!
//! * AEF side: [`CcfKeyResolver`], an [`AsyncPskResolver`](crate::rt::tokio::AsyncPskResolver) for the tokio
//!   [`PskAcceptor`](crate::rt::tokio::PskAcceptor). It fetches over mutually authenticated TLS
//!   (rustls), caches keys with a TTL, fetches again when a cached key no longer matches the
//!   invoker's binder (the invoker has a newer key), shares one fetch among concurrent
//!   lookups of an invoker, bounds and queues fetches, times out, and fails closed: an
//!   unreachable CCF, an error status or malformed JSON is a typed [`KeyDeliveryError`] and a
//!   refused handshake. An invoker the CCF does not know is cached as a random decoy key, so
//!   that it costs and looks the same as a registered invoker with a wrong key (RFC 8446
//!   §4.2.11 leaves the choice of identity to the server; DESIGN §5).
//! * CCF side: [`CcfKeyStore`] keeps, per invoker, the latest CAPIF-1e session's key source
//!   and derives AEFPSKs per AEF interface on demand (a newer session replaces the old keys),
//!   bounded by [`CcfKeyStoreConfig`] (session TTL, invoker cap, per-invoker key cap), in
//!   memory by default or, with the `redis` feature, in Redis shared by CCF replicas (each
//!   entry sealed with AES-256-GCM under the operator's key-encryption key), and
//!   [`TrustedInvokersRequest`] / [`CcfKeyStore::service_security_json`] serve the resource.
//!
//! * Revocation (TS 29.222 `AEF_Security_API`, `POST .../aef-security/v1/revoke-authorization`):
//!   the CCF's [`RevocationNotifier`], set as the [`CcfKeyStore`]'s [`SessionObserver`], tells
//!   the AEFs when an invoker's session is replaced or removed; the AEF's [`RevocationHandler`]
//!   / [`RevocationService`] (callers pinned by [`AuthorizedCcf`]) drop its cached key at once.
//!
//! Error answers are TS 29.122 `ProblemDetails` ([`ProblemDetails`], `application/problem+json`).
//! Every body the crate sends, and every fixture its tests accept, is validated against the
//! official TS 29.222 V18.4.0 OpenAPI files by `tests/capif3_schema.rs`.
//!
//! The module's files: `model` (the TS 29.222 serde types and the resource's request target),
//! `resolver` (the AEF's [`CcfKeyResolver`]), `client` (its pooled HTTP client to
//! the CCF: keep-alive, TLS session resumption, HTTP/2 by ALPN), `store` (the CCF's [`CcfKeyStore`]: `store/memory`, `store/redis`) and
//! `revocation` (both ends of `revoke-authorization`).

mod client;
mod model;
mod resolver;
mod revocation;
mod store;
#[cfg(test)]
mod tests;

pub use crate::error::{KeyDeliveryError, KeyStoreError, RevocationError};
pub use model::{
    InterfaceDescriptionJson, InvalidParam, ProblemDetails, RevocationCause, SecurityInformation,
    SecurityMethod, SecurityNotification, ServiceSecurity, TrustedInvokersRequest, PROBLEM_JSON,
};
pub use resolver::{CcfKeyResolver, CcfKeyResolverConfig};
pub use revocation::{
    AuthorizedCcf, RevocationDelivery, RevocationHandler, RevocationNotifier,
    RevocationNotifierConfig, RevocationResponse, RevocationService, RevocationTarget,
    RevokeAuthorizationReq, RevokeAuthorizationRsp, SessionEnd, SessionObserver,
    MAX_REVOCATION_BODY, REVOKE_AUTHORIZATION_PATH,
};
pub use store::{AefPskSource, CcfKeyStore, CcfKeyStoreConfig, SharedInputs};
#[cfg(feature = "redis")]
pub use store::{KeyEncryptionKey, RedisStoreConfig};

/// The `SecurityMethod` value of TLS-PSK (TS 29.222).
pub const SECURITY_METHOD_PSK: &str = "PSK";

/// Largest CAPIF-3 response body read (a `ServiceSecurity` is a few hundred octets).
pub const MAX_RESPONSE_BODY: usize = 64 * 1024;

/// Longest API invoker ID accepted from a PSK identity.
pub const MAX_INVOKER_ID_LEN: usize = 256;

/// Turns a PSK identity into an API invoker ID fit for a URL path segment: UTF-8 made of URI
/// unreserved characters only (RFC 3986 §2.3), 1 to 256 of them, and not the dot segments
/// `.` or `..` (which would name another resource). Anything else is not a CAPIF invoker ID
/// and is never sent to the CCF.
pub fn invoker_id_from_identity(identity: &[u8]) -> Option<&str> {
    let id = core::str::from_utf8(identity).ok()?;
    let ok = !id.is_empty()
        && id != "."
        && id != ".."
        && id.len() <= MAX_INVOKER_ID_LEN
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'));
    ok.then_some(id)
}
