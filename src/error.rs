//! The crate's one error type.
//!
//! Variants are grouped by what a caller does about them: fix an input or configuration,
//! react to a CAPIF-1e session that cannot yield an AEFPSK, or handle a failed CAPIF-2e
//! handshake (each engine error names the TLS alert this side sent, see [`Error::alert`]).
//! No variant carries key material; messages never echo secret input.

use std::io;

pub use rustls::AlertDescription;

/// Errors from every part of rustls-capif.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    // ----- inputs and configuration -------------------------------------------------------
    /// A service API interface (P0) could not be parsed or is not canonicalisable.
    #[error("invalid service API interface {0}")]
    InvalidInterface(String),

    /// A TS 33.220 KDF parameter does not fit the two-octet length field.
    #[error("KDF parameter P{index} is {len} octets; TS 33.220 allows at most 65535")]
    KdfParameterTooLong {
        /// Index of the parameter (0 for P0).
        index: usize,
        /// Its length in octets.
        len: usize,
    },

    /// Hexadecimal input (a key or secret) is malformed. The input itself is never echoed.
    #[error("invalid hex: {0}")]
    InvalidHex(&'static str),

    /// A configuration cannot work (for example a PSK whose hash no configured suite uses).
    #[error("invalid configuration: {0}")]
    InvalidConfig(String),

    // ----- CAPIF-1e --------------------------------------------------------------------------
    /// The CAPIF-1e server sent an empty Session ID, so Annex A.1 has no P1.
    #[error(
        "the CAPIF-1e server sent an empty TLS Session ID, so TS 33.122 Annex A.1 has no P1 \
         (servers that issue session tickets often do this, and a rustls server does it to a \
         client that offers a session ticket; the invoker wrapper offers none, so a server \
         that still sends none does not allocate session IDs); allow_empty_session_id(true) \
         accepts it with L1 = 0"
    )]
    EmptySessionId,

    /// TLS 1.3 was negotiated on CAPIF-1e under the (default) TS 33.122 Annex A.1 profile,
    /// which defines no AEFPSK for TLS 1.3 (see `capif1e::Capif1eProfile`).
    #[error(
        "TLS 1.3 was negotiated on CAPIF-1e, but TS 33.122 Annex A.1 derives AEFPSK only from \
         a TLS 1.2 master secret and Session ID, and no 3GPP text defines it for TLS 1.3, so \
         no key that a CCF or invoker of another vendor would share exists; either negotiate \
         TLS 1.2 on CAPIF-1e for security method 1 (e.g. an invoker config from \
         InvokerConfig::tls12_builder), or select this crate's TLS 1.3 exporter profile, \
         Capif1eProfile::Tls13Exporter, on both the invoker and the CCF"
    )]
    Tls13NotAllowed,

    /// The inputs for AEFPSK could not be captured from the CAPIF-1e handshake.
    #[error("CAPIF-1e key inputs unavailable: {0}")]
    SecretsUnavailable(&'static str),

    /// A TLS hello record seen by the CAPIF-1e tap is malformed, truncated or oversized.
    #[error("malformed TLS hello on CAPIF-1e: {0}")]
    MalformedHello(&'static str),

    // ----- CAPIF-2e (TLS 1.3 external PSK engine) -----------------------------------------------
    /// The peer sent bytes that do not decode; we sent `decode_error` (or the alert named).
    #[error("invalid message from peer ({alert:?}): {what}")]
    InvalidMessage {
        /// The alert sent to the peer.
        alert: AlertDescription,
        /// What was wrong.
        what: &'static str,
    },

    /// The peer broke a protocol rule; the alert we sent is part of the error.
    #[error("peer misbehaved ({alert:?}): {what}")]
    PeerMisbehaved {
        /// The alert sent to the peer.
        alert: AlertDescription,
        /// Which rule.
        what: &'static str,
    },

    /// The peer has no parameters in common with us (version, suite, group or PSK mode).
    #[error("peer is incompatible ({alert:?}): {what}")]
    PeerIncompatible {
        /// The alert sent to the peer.
        alert: AlertDescription,
        /// What was missing.
        what: &'static str,
    },

    /// The server could not authenticate the client's PSK: no offered identity is known, or the
    /// binder is wrong. Both look the same on the wire (`decrypt_error`).
    #[error("PSK rejected: {0}")]
    PskRejected(PskRejection),

    /// A record failed AEAD authentication; we sent `bad_record_mac`.
    #[error("a record failed authentication (bad_record_mac)")]
    DecryptError,

    /// The peer sent a fatal alert, a warning alert other than close_notify/user_canceled, or
    /// close_notify before the handshake completed.
    ///
    /// On the invoker side, `decrypt_error` is the AEF refusing the PSK; the message says that
    /// a wrong key, an identity the AEF does not know and an AEF that could not get the key
    /// from its CCF look the same on the wire, by design.
    #[error("peer sent alert {0:?}{hint}", hint = alert_hint(*.0))]
    AlertReceived(AlertDescription),

    /// The connection was used in a way its state does not allow (a programming error of the
    /// caller, e.g. exporting keying material before the handshake finished).
    #[error("operation not possible in this state: {0}")]
    InvalidState(&'static str),

    /// The peer did not complete the handshake in time.
    #[error("handshake timed out")]
    HandshakeTimeout,

    /// CAPIF-3: the AEFPSK could not be fetched from the CCF (the handshake is refused).
    #[cfg(feature = "capif3")]
    #[error("CAPIF-3 key delivery failed: {0}")]
    KeyDelivery(#[from] KeyDeliveryError),

    // ----- HTTP integration (features `hyper`, `axum`) --------------------------------------
    /// The invoker's HTTPS connector was given a URI that is not `https` (CAPIF-2e is TLS
    /// only); no connection was made.
    #[error("refusing a URI with scheme {0:?}: CAPIF-2e connections are https only")]
    NotHttps(String),

    /// The invoker's HTTPS connector has no PSK for this AEF authority (`host:port`); no
    /// connection was made. An AEFPSK is bound to the AEF interface it was derived for and is
    /// never offered to another host.
    #[error(
        "no CAPIF-2e PSK is configured for AEF {0}: refusing to connect (an invoker's AEFPSK \
         is offered only to the AEF interface it was derived for)"
    )]
    UnknownAef(String),

    /// A PSK identity that is not a CAPIF API invoker ID (UTF-8, 1 to 65535 octets).
    #[error("the PSK identity is not a CAPIF API invoker ID: {0}")]
    InvalidInvokerId(&'static str),

    /// CAPIF-3 on the CCF: its key store could not do what was asked (the shared store is
    /// unreachable, or an entry was refused). A CCF answers CAPIF-3 with 503 for
    /// [`KeyStoreError::Unavailable`], and the AEF then refuses the handshake (fail closed).
    #[cfg(feature = "capif3")]
    #[error("CCF key store: {0}")]
    KeyStore(#[from] KeyStoreError),

    /// CAPIF-3 revocation (TS 29.222 `AEF_Security_API` `revoke-authorization`): a request
    /// the AEF refused, or a notification the CCF could not deliver.
    #[cfg(feature = "capif3")]
    #[error("CAPIF-3 revocation: {0}")]
    Revocation(#[from] RevocationError),

    /// An error reported by the rustls crypto provider or by rustls itself.
    #[error("rustls: {0}")]
    Rustls(#[from] rustls::Error),

    /// An I/O error of the underlying transport.
    #[error("I/O: {0}")]
    Io(#[from] io::Error),
}

/// CAPIF-3: why a key could not be fetched from the CCF. No variant carries key material.
#[cfg(feature = "capif3")]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyDeliveryError {
    /// The CCF could not be reached (connect or TLS handshake failed).
    #[error("CCF unreachable: {0}")]
    Unreachable(String),
    /// The CCF did not answer within the fetch timeout.
    #[error("CCF did not answer within {0:?}")]
    Timeout(std::time::Duration),
    /// The CCF answered with an unexpected HTTP status.
    #[error("CCF answered HTTP {0}")]
    HttpStatus(u16),
    /// The response is not a valid `ServiceSecurity` (or too large).
    #[error("malformed ServiceSecurity from the CCF: {0}")]
    MalformedResponse(String),
    /// No `securityInfo` entry is for this AEF: none has `interfaceDetails` for this AEF's
    /// interface (or, without a port, its host), and none has this AEF's `aefId`. An entry
    /// that names the AEF only by `aefId` (valid per TS 29.222's `oneOf`) matches only when
    /// the AEF's own aefId is configured ([`CcfKeyResolverConfig::aef_id`](crate::capif3::CcfKeyResolverConfig::aef_id)).
    #[error(
        "the CCF's ServiceSecurity has no securityInfo entry for this AEF: none matches its \
         interface (interfaceDetails) or its aefId; an entry that names the AEF only by aefId \
         matches only if that aefId is configured (CcfKeyResolverConfig::aef_id)"
    )]
    NoEntryForInterface,
    /// The entry for this AEF has no usable `authenticationInfo` (or is not for PSK).
    #[error("the CCF's entry for this AEF carries no AEFPSK ({0})")]
    NoKey(&'static str),
    /// Too many lookups were waiting for the CCF: this one was shed (see
    /// [`CcfKeyResolverConfig::max_queued_fetches`](crate::capif3::CcfKeyResolverConfig::max_queued_fetches)).
    #[error("too many CCF lookups waiting; this one was shed")]
    Overloaded,
    /// The resolver could not complete the lookup (its fetch task ended without an answer,
    /// or the crypto provider gave no randomness for a decoy key).
    #[error("CAPIF-3 resolver failure: {0}")]
    Internal(&'static str),
}

/// CAPIF-3 on the CCF: why its key store ([`CcfKeyStore`](crate::capif3::CcfKeyStore)) could
/// not register, remove or serve a session. No variant carries key material, and messages never
/// name the key-encryption key or a stored value.
#[cfg(feature = "capif3")]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyStoreError {
    /// The shared store (Redis) could not be reached or did not answer within its timeout.
    /// Nothing was changed or read: retry later. A CCF answers CAPIF-3 with `503 Service
    /// Unavailable` (and the AEF refuses the invoker's handshake); the store reconnects by
    /// itself, so service resumes when the server is back.
    #[error("the shared key store is unavailable: {0}")]
    Unavailable(String),
    /// A stored entry did not open: tampered with, moved to another invoker's key, sealed
    /// under another key-encryption key, of an unknown format version, or too large. The
    /// store treats it as absent (the invoker is unknown until it registers again) and logs it.
    #[error("a stored entry was refused: {0}")]
    EntryRefused(&'static str),
    /// The session cannot be put in a shared store: only a CAPIF-1e session of this crate
    /// ([`Capif1eSession`](crate::capif1e::Capif1eSession)) can hand its derivation inputs
    /// to another replica.
    #[error(
        "this AEFPSK source cannot be shared between CCF replicas (only a Capif1eSession can)"
    )]
    NotShareable,
}

/// CAPIF-3 revocation (TS 29.222 `AEF_Security_API`, `POST .../revoke-authorization`): why
/// the AEF refused a request (each variant maps to an HTTP status and a `ProblemDetails`
/// body, see `capif3::RevocationResponse::refusal`), or why the CCF could not deliver a
/// notification to an AEF. No variant carries key material.
#[cfg(feature = "capif3")]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RevocationError {
    // ----- refused by the AEF ------------------------------------------------------------------
    /// The peer is not the CCF: it presented no certificate, or not the one configured as the
    /// CCF's (HTTP 403).
    #[error("the peer is not the CCF (no client certificate, or not the CCF's)")]
    NotTheCcf,
    /// The request target is not the `revoke-authorization` resource (HTTP 404).
    #[error("no such resource")]
    NotFound,
    /// The resource only accepts `POST` (HTTP 405).
    #[error("method not allowed (POST only)")]
    MethodNotAllowed,
    /// The body is not `application/json` (HTTP 415).
    #[error("the body must be application/json")]
    UnsupportedMediaType,
    /// The body is larger than the limit, in octets (HTTP 413).
    #[error("the body is larger than {0} octets")]
    BodyTooLarge(usize),
    /// The body is not JSON, or not a JSON object of the expected shape (HTTP 400). Says where
    /// and what kind of error, never the input.
    #[error("malformed RevokeAuthorizationReq: {0}")]
    MalformedJson(String),
    /// A field is missing or invalid (HTTP 400 with `invalidParams`).
    #[error("invalid RevokeAuthorizationReq: {param}: {reason}")]
    InvalidParam {
        /// The field, as a JSON pointer (`/revokeInfo/apiInvokerId`).
        param: &'static str,
        /// Why.
        reason: &'static str,
    },
    /// The body could not be read from the connection (HTTP 400).
    #[error("the request body could not be read")]
    BodyUnreadable,

    // ----- not delivered by the CCF ------------------------------------------------------------
    /// The AEF could not be reached (connect, TLS handshake or HTTP failed).
    #[error("AEF unreachable: {0}")]
    AefUnreachable(String),
    /// The AEF did not answer within the notifier's timeout.
    #[error("AEF did not answer within {0:?}")]
    Timeout(std::time::Duration),
    /// The AEF answered with a status other than 200 or 204.
    #[error("AEF answered HTTP {0}")]
    HttpStatus(u16),
}

/// Why a server rejected a client's PSK. Both reasons produce the same alert on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum PskRejection {
    /// None of the offered identities is known to the resolver.
    UnknownIdentity,
    /// The identity is known but the binder does not verify (the client has another key).
    BadBinder,
    /// TLS 1.2: the identity is known but the client's Finished does not decrypt or verify
    /// under its key (the client has another key).
    WrongKey,
}

impl core::fmt::Display for PskRejection {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Self::UnknownIdentity => "no offered PSK identity is known",
            Self::BadBinder => "PSK binder does not verify (wrong key)",
            Self::WrongKey => "client Finished does not verify under the PSK (wrong key)",
        })
    }
}

/// What a received alert means for the user, where that is not obvious from its name.
fn alert_hint(alert: AlertDescription) -> &'static str {
    match alert {
        AlertDescription::DecryptError => {
            ": the server did not accept our PSK. A wrong key, a PSK identity the server does \
             not know and an AEF that could not get the key from its CCF (CAPIF-3) look the same \
             on the wire, by design; the AEF's log tells which"
        }
        _ => "",
    }
}

impl Error {
    /// The TLS alert this side sends (or sent) because of this error, if any.
    pub fn alert(&self) -> Option<AlertDescription> {
        match self {
            Self::InvalidMessage { alert, .. }
            | Self::PeerMisbehaved { alert, .. }
            | Self::PeerIncompatible { alert, .. } => Some(*alert),
            Self::PskRejected(_) => Some(AlertDescription::DecryptError),
            Self::DecryptError => Some(AlertDescription::BadRecordMac),
            _ => None,
        }
    }
}

impl From<Error> for io::Error {
    fn from(e: Error) -> Self {
        match e {
            Error::Io(io) => io,
            Error::HandshakeTimeout => io::Error::new(io::ErrorKind::TimedOut, e),
            other => io::Error::new(io::ErrorKind::InvalidData, other),
        }
    }
}
