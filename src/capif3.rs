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
//! AEFPSK there as 64 lowercase hex digits ([`AefPsk::to_authentication_info`]).
//!
//! * AEF side: [`CcfKeyResolver`], an [`AsyncPskResolver`] for the tokio
//!   [`PskAcceptor`](crate::tokio::PskAcceptor). It fetches over mutually authenticated TLS
//!   (rustls), caches keys with a TTL, fetches again when a cached key no longer matches the
//!   invoker's binder (the invoker has a newer key), shares one fetch among concurrent
//!   lookups of an invoker, bounds and queues fetches, times out, and fails closed: an
//!   unreachable CCF, an error status or malformed JSON is a typed [`KeyDeliveryError`] and a
//!   refused handshake. An invoker the CCF does not know is cached as a random decoy key, so
//!   that it costs and looks the same as a registered invoker with a wrong key (RFC 8446
//!   §4.2.11 leaves the choice of identity to the server; DESIGN §5).
//! * CCF side: [`CcfKeyStore`] keeps, per invoker, the latest CAPIF-1e session's key source
//!   and derives AEFPSKs per AEF interface on demand (a newer session replaces the old keys),
//!   bounded by [`CcfKeyStoreConfig`] (session TTL, invoker cap, per-invoker key cap), and
//!   [`TrustedInvokersRequest`] / [`CcfKeyStore::service_security_json`] serve the resource.

use core::fmt;
use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ::tokio::sync::{oneshot, watch};
use http_body_util::{BodyExt, Empty, Limited};
use hyper::body::Bytes;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::error::Error;
use crate::kdf::{InterfaceDescription, ServiceApiInterface};
use crate::psk::ExternalPsk;
use crate::secret::AefPsk;
use crate::tokio::{AsyncPskResolver, ResolveFuture};

/// The `SecurityMethod` value of TLS-PSK (TS 29.222).
pub const SECURITY_METHOD_PSK: &str = "PSK";

/// Largest CAPIF-3 response body read (a `ServiceSecurity` is a few hundred octets).
pub const MAX_RESPONSE_BODY: usize = 64 * 1024;

/// Longest API invoker ID accepted from a PSK identity.
pub const MAX_INVOKER_ID_LEN: usize = 256;

/// Why a key could not be fetched from the CCF. No variant carries key material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyDeliveryError {
    /// The CCF could not be reached (connect or TLS handshake failed).
    #[error("CCF unreachable: {0}")]
    Unreachable(String),
    /// The CCF did not answer within the fetch timeout.
    #[error("CCF did not answer within {0:?}")]
    Timeout(Duration),
    /// The CCF answered with an unexpected HTTP status.
    #[error("CCF answered HTTP {0}")]
    HttpStatus(u16),
    /// The response is not a valid `ServiceSecurity` (or too large).
    #[error("malformed ServiceSecurity from the CCF: {0}")]
    MalformedResponse(String),
    /// No `securityInfo` entry is for this AEF: none has `interfaceDetails` for this AEF's
    /// interface (or, without a port, its host), and none has this AEF's `aefId`. An entry
    /// that names the AEF only by `aefId` (valid per TS 29.222's `oneOf`) matches only when
    /// the AEF's own aefId is configured ([`CcfKeyResolverConfig::aef_id`]).
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
    /// [`CcfKeyResolverConfig::max_queued_fetches`]).
    #[error("too many CCF lookups waiting; this one was shed")]
    Overloaded,
    /// The resolver could not complete the lookup (its fetch task ended without an answer,
    /// or the crypto provider gave no randomness for a decoy key).
    #[error("CAPIF-3 resolver failure: {0}")]
    Internal(&'static str),
}

// ---------------------------------------------------------------------------------------------
// TS 29.222 data model (the parts used here; unknown fields are ignored).

/// TS 29.222 `InterfaceDescription`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InterfaceDescriptionJson {
    /// `ipv4Addr`
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipv4_addr: Option<String>,
    /// `ipv6Addr`
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipv6_addr: Option<String>,
    /// `fqdn`
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fqdn: Option<String>,
    /// `port`
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    /// `apiPrefix`
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_prefix: Option<String>,
    /// `securityMethods`
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub security_methods: Vec<String>,
}

impl InterfaceDescriptionJson {
    /// The canonical P0 of this interface.
    pub fn service_api_interface(&self) -> Result<ServiceApiInterface, Error> {
        ServiceApiInterface::from_interface_description(&InterfaceDescription {
            ipv4_addr: self.ipv4_addr.as_deref(),
            ipv6_addr: self.ipv6_addr.as_deref(),
            fqdn: self.fqdn.as_deref(),
            port: self.port,
        })
    }
}

/// TS 29.222 `SecurityInformation`. `authenticationInfo` is zeroized on drop and redacted
/// in `Debug`.
#[derive(Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SecurityInformation {
    /// `interfaceDetails`
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interface_details: Option<InterfaceDescriptionJson>,
    /// `aefId`
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aef_id: Option<String>,
    /// `prefSecurityMethods`
    #[serde(default)]
    pub pref_security_methods: Vec<String>,
    /// `selSecurityMethod`
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sel_security_method: Option<String>,
    /// `authenticationInfo`: the AEFPSK as lowercase hex (this crate's encoding), zeroized
    /// wherever the value goes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authentication_info: Option<Zeroizing<String>>,
}

impl fmt::Debug for SecurityInformation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecurityInformation")
            .field("interface_details", &self.interface_details)
            .field("aef_id", &self.aef_id)
            .field("pref_security_methods", &self.pref_security_methods)
            .field("sel_security_method", &self.sel_security_method)
            .field(
                "authentication_info",
                &self.authentication_info.as_ref().map(|_| "[redacted]"),
            )
            .finish()
    }
}

/// TS 29.222 `ServiceSecurity`.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceSecurity {
    /// `securityInfo`
    pub security_info: Vec<SecurityInformation>,
    /// `notificationDestination`
    #[serde(default)]
    pub notification_destination: String,
}

impl ServiceSecurity {
    /// The AEFPSK of the entry for `interface` (or `aef_id`).
    pub fn aef_psk_for(
        &self,
        interface: &ServiceApiInterface,
        aef_id: Option<&str>,
    ) -> Result<AefPsk, KeyDeliveryError> {
        let entry = self
            .entry_for(interface, aef_id)
            .ok_or(KeyDeliveryError::NoEntryForInterface)?;
        if let Some(method) = &entry.sel_security_method {
            if method != SECURITY_METHOD_PSK {
                return Err(KeyDeliveryError::NoKey("selSecurityMethod is not PSK"));
            }
        }
        entry.aef_psk()
    }

    /// The entry for this AEF, in this order:
    ///
    /// 1. `interfaceDetails` whose P0 is this exact interface (compared as P0 octets, so an
    ///    interface made with `ServiceApiInterface::from_raw` matches too);
    /// 2. `interfaceDetails` without a `port` (TS 29.222 makes it optional) for this
    ///    interface's host: it names the AEF's host on any port, and its key is derived with
    ///    the host-only P0 by both the CCF and the invoker (see [`crate::kdf`]);
    /// 3. `aefId` equal to `aef_id` (an entry may name the AEF only by its aefId).
    fn entry_for(
        &self,
        interface: &ServiceApiInterface,
        aef_id: Option<&str>,
    ) -> Option<&SecurityInformation> {
        let p0 = |e: &SecurityInformation| {
            e.interface_details
                .as_ref()
                .and_then(|d| d.service_api_interface().ok())
        };
        let by_interface =
            |e: &&SecurityInformation| p0(e).is_some_and(|i| i.as_bytes() == interface.as_bytes());
        let host_only = interface.without_port();
        let by_host = |e: &&SecurityInformation| {
            host_only.as_ref().is_some_and(|host| {
                p0(e).is_some_and(|i| i.port().is_none() && i.as_bytes() == host.as_bytes())
            })
        };
        let by_id = |e: &&SecurityInformation| aef_id.is_some() && e.aef_id.as_deref() == aef_id;
        (self.security_info.iter().find(by_interface))
            .or_else(|| self.security_info.iter().find(by_host))
            .or_else(|| self.security_info.iter().find(by_id))
    }
}

impl SecurityInformation {
    /// The AEFPSK in `authenticationInfo`.
    fn aef_psk(&self) -> Result<AefPsk, KeyDeliveryError> {
        let info = self
            .authentication_info
            .as_deref()
            .ok_or(KeyDeliveryError::NoKey("no authenticationInfo"))?;
        AefPsk::from_authentication_info(info)
            .map_err(|_| KeyDeliveryError::NoKey("authenticationInfo is not 64 hex digits"))
    }
}

// ---------------------------------------------------------------------------------------------
// AEF side: the resolver.

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

/// Settings of a [`CcfKeyResolver`].
///
/// The limits below are what an unauthenticated client can cost this AEF and its CCF: see
/// "Pre-authentication cost" on [`CcfKeyResolver`] for how they fit together.
#[derive(Clone)]
pub struct CcfKeyResolverConfig {
    /// `{apiRoot}` of the CCF, `https://host[:port][/prefix]`.
    pub api_root: String,
    /// rustls client config for CAPIF-3: trusts the CCF's CA and presents the AEF's
    /// certificate (mutual authentication). Its ALPN list is replaced by `http/1.1`, the
    /// protocol the resolver speaks. Its crypto provider's `SecureRandom` also makes the
    /// decoy keys of unknown invokers.
    pub tls: Arc<rustls::ClientConfig>,
    /// This AEF's interface: the `securityInfo` entry whose `interfaceDetails` give this P0
    /// is used; failing that, an entry whose `interfaceDetails` have no `port` and name this
    /// interface's host (TS 29.222 makes `port` optional; such an entry's key is derived with
    /// the host-only P0, see [`crate::kdf`]). An AEF whose CCF registers it without a port
    /// may equally configure `ServiceApiInterface::parse_host(..)` here.
    pub aef_interface: ServiceApiInterface,
    /// This AEF's `aefId` (the one the CCF assigned when the AEF's API was published, TS
    /// 29.222 `AefProfile.aefId`), matched when no entry matches the interface. A
    /// `securityInfo` entry may name the AEF **only** by `aefId` (the spec's `oneOf` allows
    /// `interfaceDetails` or `aefId`): such entries match only if this is set, e.g.
    /// `config.aef_id = Some("aef-7f3a".into())`. Default `None`.
    pub aef_id: Option<String>,
    /// How long a CCF answer is used without asking the CCF again: a key, and equally the
    /// answer "this invoker has no key for this AEF" (cached as a decoy key, so that
    /// registered and unknown invokers cost the same). This is also how long a key the CCF
    /// has replaced (the invoker ran a newer CAPIF-1e session) can still be accepted: choose
    /// it as the revocation latency you can live with, or call
    /// [`CcfKeyResolver::invalidate`] when you learn of a change. (A newer key, or a key of
    /// an invoker registered since its "unknown" answer was cached, is picked up sooner: a
    /// binder mismatch refetches, see `min_refresh_interval`.) Default 60 s.
    pub ttl: Duration,
    /// Time limit of one fetch (waiting for a fetch slot, connect, TLS, request, body).
    /// Default 5 s.
    pub fetch_timeout: Duration,
    /// Fetches in flight at once (each is one CAPIF-3 request to the CCF). Default 16.
    pub max_concurrent_fetches: usize,
    /// Fetches that may wait for a slot. When the queue is full, the *oldest* waiting fetch
    /// is shed (it fails with [`KeyDeliveryError::Overloaded`], the handshake is refused like
    /// a wrong key) to make room for the new one, so a burst of lookups cannot build a backlog
    /// that a later handshake must wait behind (0: none waits). Default 16.
    pub max_queued_fetches: usize,
    /// Minimum time between two fetches for the same invoker triggered by a binder
    /// mismatch (bounds the load a client with a wrong key causes). It applies to unknown
    /// invokers' decoys exactly as to real keys. Default 1 s.
    pub min_refresh_interval: Duration,
    /// Largest number of cached keys of registered invokers. When full, the one stored
    /// longest ago is dropped. Default 10 000.
    pub max_cached_keys: usize,
    /// Largest number of cached "unknown invoker" answers (decoys), counted apart from
    /// `max_cached_keys`: made-up identities can only ever evict other decoys, never a
    /// registered invoker's key. When full, the decoy stored longest ago is dropped.
    /// Default 10 000 (under 8 MB even with 256-octet invoker IDs).
    pub max_cached_unknown: usize,
}

impl CcfKeyResolverConfig {
    /// Defaults for everything but the CCF address, the TLS config and this AEF's interface.
    pub fn new(
        api_root: impl Into<String>,
        tls: Arc<rustls::ClientConfig>,
        aef_interface: ServiceApiInterface,
    ) -> Self {
        Self {
            api_root: api_root.into(),
            tls,
            aef_interface,
            aef_id: None,
            ttl: Duration::from_secs(60),
            fetch_timeout: Duration::from_secs(5),
            max_concurrent_fetches: 16,
            max_queued_fetches: 16,
            min_refresh_interval: Duration::from_secs(1),
            max_cached_keys: 10_000,
            max_cached_unknown: 10_000,
        }
    }
}

impl fmt::Debug for CcfKeyResolverConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CcfKeyResolverConfig")
            .field("api_root", &without_userinfo(&self.api_root))
            .field("aef_interface", &self.aef_interface)
            .field("aef_id", &self.aef_id)
            .field("ttl", &self.ttl)
            .field("fetch_timeout", &self.fetch_timeout)
            .field("max_concurrent_fetches", &self.max_concurrent_fetches)
            .field("max_queued_fetches", &self.max_queued_fetches)
            .field("min_refresh_interval", &self.min_refresh_interval)
            .field("max_cached_keys", &self.max_cached_keys)
            .field("max_cached_unknown", &self.max_cached_unknown)
            .finish_non_exhaustive()
    }
}

/// The parsed `{apiRoot}`.
#[derive(Debug, Clone)]
struct ApiRoot {
    host: String,
    port: u16,
    authority: String,
    prefix: String,
    server_name: rustls_pki_types::ServerName<'static>,
}

/// `api_root` for error messages and `Debug`: anything between a `scheme://` and the last
/// `@` (credentials) becomes `…`, and a string with an `@` that does not start with a scheme
/// is not shown at all. Over-redacting is fine; showing a password is not.
fn without_userinfo(api_root: &str) -> String {
    if !api_root.contains('@') {
        return api_root.to_string();
    }
    let scheme_end = api_root.find("://").filter(|&end| {
        let scheme = &api_root[..end];
        scheme.starts_with(|c: char| c.is_ascii_alphabetic())
            && scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
    });
    match (scheme_end, api_root.rfind('@')) {
        (Some(end), Some(at)) if at > end => {
            format!("{}://…@{}", &api_root[..end], &api_root[at + 1..])
        }
        _ => "…".to_string(),
    }
}

impl ApiRoot {
    fn parse(api_root: &str) -> Result<Self, Error> {
        let bad = |why: &str| {
            let shown = without_userinfo(api_root);
            Error::InvalidConfig(format!("CAPIF-3 apiRoot {shown:?}: {why}"))
        };
        let uri: hyper::Uri = api_root.parse().map_err(|_| bad("not a URI"))?;
        if uri.authority().is_some_and(|a| a.as_str().contains('@')) {
            // Credentials would end up in the Host header and in error messages.
            return Err(Error::InvalidConfig(
                "CAPIF-3 apiRoot must not carry user information".into(),
            ));
        }
        if uri.scheme_str() != Some("https") {
            return Err(bad("must be https"));
        }
        let authority = uri.authority().ok_or_else(|| bad("no host"))?;
        let host = authority
            .host()
            .trim_start_matches('[')
            .trim_end_matches(']');
        let port = authority.port_u16().unwrap_or(443);
        let server_name = match host.parse::<IpAddr>() {
            Ok(ip) => rustls_pki_types::ServerName::IpAddress(ip.into()),
            Err(_) => rustls_pki_types::ServerName::try_from(host.to_string())
                .map_err(|_| bad("host is not a DNS name"))?,
        };
        Ok(Self {
            host: host.to_string(),
            port,
            authority: authority.as_str().to_string(),
            prefix: uri.path().trim_end_matches('/').to_string(),
            server_name,
        })
    }
}

/// A key as the resolver moves it around: behind a pointer, so that moving it (into the
/// cache, whose table is reallocated as it grows, or through a channel) never copies key
/// bytes; the one allocation holding them is wiped when the last reference goes.
type SharedKey = Arc<AefPsk>;

/// What the CCF said about an invoker, as cached.
#[derive(Clone)]
enum Answer {
    /// The invoker's AEFPSK for this AEF.
    Key(SharedKey),
    /// The invoker has no key for this AEF: a random decoy key stands in for one.
    Unknown(SharedKey),
}

impl Answer {
    /// The key a handshake checks the binder with (the decoy for an unknown invoker).
    fn key(&self) -> &SharedKey {
        match self {
            Answer::Key(k) | Answer::Unknown(k) => k,
        }
    }

    /// Index of this answer's kind in [`Cache::order`] and [`Cache::counts`].
    fn kind(&self) -> usize {
        match self {
            Answer::Key(_) => 0,
            Answer::Unknown(_) => 1,
        }
    }
}

/// The CCF's answer, before a decoy stands in for "unknown".
enum Fetched {
    Key(SharedKey),
    Unknown,
}

/// The result of one fetch, shared by every lookup that waits for it.
type FlightResult = Option<Result<Answer, KeyDeliveryError>>;

struct CachedAnswer {
    answer: Answer,
    /// When it was stored: the TTL and the refresh throttle count from here.
    stored: Instant,
    /// Its item in the eviction queue of its kind.
    seq: u64,
}

/// A fetch under way for one invoker; lookups of the same invoker wait for its answer.
struct Flight {
    id: u64,
    answer: watch::Receiver<FlightResult>,
}

/// The answers cache and the fetches under way, under one lock.
#[derive(Default)]
struct Cache {
    entries: HashMap<String, CachedAnswer>,
    /// Per kind (registered, unknown), the entries in the order they were stored: the front
    /// is evicted first. Items of entries since replaced or removed are skipped, and dropped
    /// when they outnumber the live ones (amortized O(1) per insertion).
    order: [VecDeque<(u64, String)>; 2],
    counts: [usize; 2],
    flights: HashMap<String, Flight>,
    next_seq: u64,
}

impl Cache {
    fn fresh(&self, invoker_id: &str, max_age: Duration) -> Option<&CachedAnswer> {
        (self.entries.get(invoker_id)).filter(|e| e.stored.elapsed() < max_age)
    }

    fn remove(&mut self, invoker_id: &str) {
        if let Some(old) = self.entries.remove(invoker_id) {
            self.counts[old.answer.kind()] -= 1;
        }
    }

    /// Stores `answer`, evicting the oldest entry of the same kind when that kind is full.
    fn insert(&mut self, invoker_id: &str, answer: Answer, limits: [usize; 2]) {
        self.remove(invoker_id);
        let kind = answer.kind();
        while self.counts[kind] >= limits[kind].max(1) && self.evict_oldest(kind) {}
        let seq = self.next_seq;
        self.next_seq += 1;
        self.order[kind].push_back((seq, invoker_id.to_string()));
        let entry = CachedAnswer {
            answer,
            stored: Instant::now(),
            seq,
        };
        self.entries.insert(invoker_id.to_string(), entry);
        self.counts[kind] += 1;
        if self.order[kind].len() > 2 * self.counts[kind] + 64 {
            let entries = &self.entries;
            self.order[kind].retain(|(seq, id)| entries.get(id).is_some_and(|e| e.seq == *seq));
        }
    }

    fn evict_oldest(&mut self, kind: usize) -> bool {
        while let Some((seq, id)) = self.order[kind].pop_front() {
            if self.entries.get(&id).is_some_and(|e| e.seq == seq) {
                self.remove(&id);
                return true;
            }
        }
        false
    }

    fn clear(&mut self) {
        self.entries.clear();
        self.order.iter_mut().for_each(VecDeque::clear);
        self.counts = [0; 2];
        self.flights.clear();
    }
}

/// The fetch slots: `slots` fetches run at once, up to `max_waiting` wait in arrival order,
/// and when the queue is full the oldest waiter is shed to make room for the newcomer.
struct FetchQueue {
    slots: usize,
    max_waiting: usize,
    state: Mutex<FetchQueueState>,
}

#[derive(Default)]
struct FetchQueueState {
    running: usize,
    waiting: VecDeque<oneshot::Sender<()>>,
}

/// A running fetch's slot; handed to the next waiter (or freed) on drop.
struct FetchSlot<'a>(&'a FetchQueue);

impl Drop for FetchSlot<'_> {
    fn drop(&mut self) {
        self.0.release();
    }
}

/// A fetch waiting for a slot. If it is dropped after a slot was handed to it (its fetch
/// timed out at that moment), the slot goes on to the next waiter.
struct FetchWaiter<'a> {
    queue: &'a FetchQueue,
    handed: Option<oneshot::Receiver<()>>,
}

impl Drop for FetchWaiter<'_> {
    fn drop(&mut self) {
        if let Some(mut rx) = self.handed.take() {
            rx.close();
            if rx.try_recv().is_ok() {
                self.queue.release();
            }
        }
    }
}

impl FetchQueue {
    fn new(slots: usize, max_waiting: usize) -> Self {
        Self {
            slots: slots.max(1),
            max_waiting,
            state: Mutex::new(FetchQueueState::default()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, FetchQueueState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    async fn acquire(&self) -> Result<FetchSlot<'_>, KeyDeliveryError> {
        let rx = {
            let mut state = self.lock();
            if state.running < self.slots {
                state.running += 1;
                return Ok(FetchSlot(self));
            }
            if self.max_waiting == 0 {
                return Err(KeyDeliveryError::Overloaded);
            }
            if state.waiting.len() >= self.max_waiting {
                // Dropping its sender wakes the oldest waiter with an error: shed.
                state.waiting.pop_front();
            }
            let (tx, rx) = oneshot::channel();
            state.waiting.push_back(tx);
            rx
        };
        let mut waiter = FetchWaiter {
            queue: self,
            handed: Some(rx),
        };
        let handed = match waiter.handed.as_mut() {
            Some(rx) => rx.await.is_ok(),
            None => false,
        };
        waiter.handed = None;
        if handed {
            Ok(FetchSlot(self))
        } else {
            Err(KeyDeliveryError::Overloaded)
        }
    }

    /// Hands a finished fetch's slot to the oldest live waiter, or frees it.
    fn release(&self) {
        let mut state = self.lock();
        while let Some(next) = state.waiting.pop_front() {
            if next.send(()).is_ok() {
                return;
            }
        }
        state.running -= 1;
    }
}

/// An [`AsyncPskResolver`] that fetches AEFPSKs from the CCF over CAPIF-3.
///
/// # Answers
///
/// Each fetch is one `GET …/trustedInvokers/{apiInvokerId}`; the answer is one of:
///
/// * **a key**: `200 OK` with a `securityInfo` entry for this AEF (by interface, else by
///   `aefId`) whose method is PSK and whose `authenticationInfo` holds an AEFPSK;
/// * **unknown**: `404 Not Found`, or `200 OK` with no entry for this AEF, or with this
///   AEF's entry for another security method. Each is a well-formed, authenticated statement
///   from the CCF that this invoker has no PSK for this AEF: what a handshake needs to know,
///   and the same for an invoker registered elsewhere as for one registered nowhere (an AEF
///   that told them apart would tell the client);
/// * **an error** ([`KeyDeliveryError`], not cached, the handshake is refused): the CCF
///   unreachable or slow, any other status (a `403` says this AEF may not ask, not that the
///   invoker is unknown), a malformed or oversized body, this AEF's PSK entry without a
///   valid key, or the fetch shed under load ([`KeyDeliveryError::Overloaded`]). Caching
///   those would hide an outage or a misconfiguration for a TTL.
///
/// # Unknown invokers look like wrong keys
///
/// A key and an "unknown" answer are cached alike, for [`ttl`](CcfKeyResolverConfig::ttl).
/// For an unknown invoker a random decoy key (from the crypto provider of
/// [`tls`](CcfKeyResolverConfig::tls)) is cached and [`resolve`](AsyncPskResolver::resolve)
/// returns it as the invoker's [`ExternalPsk`]: the handshake checks the binder with it as
/// with any key, and fails with `decrypt_error` exactly like a wrong key. So a registered
/// and an unknown identity cost the same: one CCF round trip on the first probe, a cache hit
/// on later ones. On a binder mismatch [`refresh`](AsyncPskResolver::refresh) acts the same
/// for both: nothing if the answer was stored less than
/// [`min_refresh_interval`](CcfKeyResolverConfig::min_refresh_interval) ago, otherwise one
/// fetch (the decoy is kept if the CCF still says unknown, as a real key would be). A
/// residual signal is inherent to any cache: a first probe that is a cache hit shows that
/// someone used or probed that identity within the TTL. [`aef_psk`](Self::aef_psk) never
/// returns a decoy.
///
/// # Pre-authentication cost
///
/// The identity arrives in the clear in an unauthenticated ClientHello, and an identity
/// without a cached answer is looked up before its binder can be checked. What a client can
/// cost, and why a flood of made-up identities does not lock registered invokers out:
///
/// * **No amplification.** [`PskAcceptor`](crate::tokio::PskAcceptor) looks up one identity
///   per handshake; lookups of one invoker share one fetch (single flight); the answer,
///   known or unknown, is cached for the TTL. An identity costs the CCF at most one request
///   per TTL, plus at most one per `min_refresh_interval` while it is probed with a
///   mismatching binder (registered and unknown alike: anything less for one would tell
///   which it is).
/// * **Cached keys are out of an attacker's reach.** A registered invoker with a cached key
///   needs no fetch at all. Decoys are counted apart
///   ([`max_cached_unknown`](CcfKeyResolverConfig::max_cached_unknown)) and evict only other
///   decoys, so made-up identities neither grow memory without bound nor evict a real key.
///   (A client that makes more than `max_cached_unknown` CCF lookups within one TTL can
///   push a decoy out early and see the next probe of it take a round trip; the fetch
///   limits below cap how fast that can go.)
/// * **No backlog.** At most [`max_concurrent_fetches`](CcfKeyResolverConfig::max_concurrent_fetches)
///   fetches run and [`max_queued_fetches`](CcfKeyResolverConfig::max_queued_fetches) wait;
///   a new lookup displaces the oldest waiter. A burst of any size therefore delays a later
///   lookup (the first one of a registered invoker without a cached key) by at most about
///   `max_queued_fetches / max_concurrent_fetches` CCF round trips, instead of leaving it
///   behind the whole burst; the CCF never sees more than `max_concurrent_fetches` requests
///   at once from this AEF. Shed lookups fail like a wrong key and are not cached.
///
/// Why not more: before the CCF answers, nothing in a ClientHello tells a registered
/// invoker's first handshake from a made-up one, so no queue can favour it; what can be
/// kept apart is known keys (above). Under a *sustained* flood of new identities faster
/// than the CCF answers, such a first handshake succeeds with a probability of about the
/// CCF's capacity over the flood's rate (clients retry); telling clients apart by source
/// address (a per-peer limit before `accept`) is the listener's job, where the address is
/// known. Registration checks based on timing under such load see only the load: every
/// decision above depends on arrival order and on the identity's own cache entry, never on
/// what the CCF answered.
///
/// The keys it caches and the response body it parses are zeroized, and cached keys sit
/// behind pointers so that a growing cache leaves no copy in freed memory; copies the key
/// passes through inside rustls's and hyper's I/O buffers are freed with the connection,
/// not wiped.
///
/// ```no_run
/// use std::sync::Arc;
/// use rustls_capif::capif3::{CcfKeyResolver, CcfKeyResolverConfig};
/// use rustls_capif::psk::{NoPskResolver, PskServerConfig};
/// use rustls_capif::{PskAcceptor, ServiceApiInterface};
///
/// # fn demo(capif3_tls: Arc<rustls::ClientConfig>) -> Result<(), rustls_capif::Error> {
/// let resolver = CcfKeyResolver::new(CcfKeyResolverConfig::new(
///     "https://ccf.example.com:8443",
///     capif3_tls, // trusts the CCF CA, presents the AEF certificate
///     ServiceApiInterface::parse("aef.example.com:443")?,
/// ))?;
/// let acceptor = PskAcceptor::new(Arc::new(PskServerConfig::new(Arc::new(NoPskResolver))))
///     .with_async_resolver(Arc::new(resolver));
/// # Ok(()) }
/// ```
pub struct CcfKeyResolver {
    inner: Arc<ResolverInner>,
}

/// The resolver's state, shared with the fetch tasks (a fetch outlives the handshake that
/// started it, so that the others waiting for it get the answer).
struct ResolverInner {
    config: CcfKeyResolverConfig,
    root: ApiRoot,
    cache: Mutex<Cache>,
    fetches: FetchQueue,
}

impl CcfKeyResolver {
    /// A resolver with `config`.
    pub fn new(mut config: CcfKeyResolverConfig) -> Result<Self, Error> {
        let root = ApiRoot::parse(&config.api_root)?;
        // The client speaks HTTP/1.1: never let ALPN pick h2.
        let http11 = [b"http/1.1".to_vec()];
        if config.tls.alpn_protocols != http11 {
            let mut tls = (*config.tls).clone();
            tls.alpn_protocols = http11.to_vec();
            config.tls = Arc::new(tls);
        }
        let fetches = FetchQueue::new(config.max_concurrent_fetches, config.max_queued_fetches);
        Ok(Self {
            inner: Arc::new(ResolverInner {
                config,
                root,
                cache: Mutex::new(Cache::default()),
                fetches,
            }),
        })
    }

    /// The AEFPSK of `invoker_id`: from the cache while fresh, otherwise from the CCF.
    /// `Ok(None)` if the CCF says the invoker has no key for this AEF (an answer cached like
    /// a key), and for a string that is not an invoker ID (see [`invoker_id_from_identity`]),
    /// which is never sent to the CCF. Must be called within a tokio runtime (the fetch runs
    /// as a task of its own).
    pub async fn aef_psk(&self, invoker_id: &str) -> Result<Option<AefPsk>, Error> {
        let Some(invoker_id) = invoker_id_from_identity(invoker_id.as_bytes()) else {
            return Ok(None);
        };
        Ok(match self.inner.answer(invoker_id, false).await? {
            Answer::Key(k) => Some(AefPsk::clone(&k)),
            Answer::Unknown(_) => None,
        })
    }

    /// Drops the cached answer for `invoker_id`: its next handshake asks the CCF again. The
    /// answer of a fetch already under way is not cached (it may predate the change); it
    /// still serves the handshakes that were waiting for it.
    pub fn invalidate(&self, invoker_id: &str) {
        let mut cache = self.inner.lock();
        cache.remove(invoker_id);
        cache.flights.remove(invoker_id);
    }

    /// Drops every cached answer, and keeps fetches under way from caching theirs.
    pub fn clear_cache(&self) {
        self.inner.lock().clear();
    }
}

impl ResolverInner {
    fn lock(&self) -> std::sync::MutexGuard<'_, Cache> {
        self.cache.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The cached answer for `invoker_id` while fresh (unless `refetch`), otherwise the
    /// answer of a fetch, shared with every concurrent lookup of the same invoker.
    async fn answer(self: &Arc<Self>, invoker_id: &str, refetch: bool) -> Result<Answer, Error> {
        let mut answer = {
            let mut cache = self.lock();
            if !refetch {
                if let Some(entry) = cache.fresh(invoker_id, self.config.ttl) {
                    return Ok(entry.answer.clone());
                }
            }
            match cache.flights.get(invoker_id) {
                Some(flight) => flight.answer.clone(),
                None => {
                    let (tx, rx) = watch::channel(None);
                    let id = cache.next_seq;
                    cache.next_seq += 1;
                    let flight = Flight {
                        id,
                        answer: rx.clone(),
                    };
                    cache.flights.insert(invoker_id.to_string(), flight);
                    let guard = FlightGuard {
                        inner: Arc::clone(self),
                        invoker_id: invoker_id.to_string(),
                        id,
                    };
                    ::tokio::spawn(guard.fly(tx));
                    rx
                }
            }
        };
        let outcome = answer.wait_for(Option::is_some).await;
        match outcome.as_deref() {
            Ok(Some(result)) => result.clone().map_err(Error::KeyDelivery),
            _ => Err(Error::KeyDelivery(KeyDeliveryError::Internal(
                "the fetch ended without an answer",
            ))),
        }
    }

    /// A fresh random decoy key.
    fn decoy(&self) -> Result<SharedKey, KeyDeliveryError> {
        let mut bytes = Zeroizing::new([0u8; AefPsk::LEN]);
        (self.config.tls.crypto_provider().secure_random)
            .fill(&mut bytes[..])
            .map_err(|_| KeyDeliveryError::Internal("no randomness for a decoy key"))?;
        Ok(Arc::new(AefPsk::from_bytes(*bytes)))
    }

    /// One GET of the trustedInvokers resource, bounded in time and size.
    /// (The wait for a fetch slot counts against the timeout too.)
    async fn fetch(&self, invoker_id: &str) -> Result<Fetched, KeyDeliveryError> {
        let limit = self.config.fetch_timeout;
        let bounded = async {
            let _slot = self.fetches.acquire().await?;
            self.fetch_unbounded(invoker_id).await
        };
        ::tokio::time::timeout(limit, bounded)
            .await
            .unwrap_or(Err(KeyDeliveryError::Timeout(limit)))
    }

    async fn fetch_unbounded(&self, invoker_id: &str) -> Result<Fetched, KeyDeliveryError> {
        let root = &self.root;
        let tcp = ::tokio::net::TcpStream::connect((root.host.as_str(), root.port))
            .await
            .map_err(|e| {
                KeyDeliveryError::Unreachable(format!("connect {}: {e}", root.authority))
            })?;
        let tls = tokio_rustls::TlsConnector::from(self.config.tls.clone())
            .connect(root.server_name.clone(), tcp)
            .await
            .map_err(|e| {
                KeyDeliveryError::Unreachable(format!("TLS with {}: {e}", root.authority))
            })?;
        let (mut sender, connection) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tls))
                .await
                .map_err(|e| KeyDeliveryError::Unreachable(format!("HTTP: {e}")))?;
        let driver = ::tokio::spawn(connection);

        let uri = format!(
            "{}/capif-security/v1/trustedInvokers/{invoker_id}?authenticationInfo=true",
            root.prefix
        );
        let request = hyper::Request::get(uri)
            .header(hyper::header::HOST, root.authority.as_str())
            .header(hyper::header::ACCEPT, "application/json")
            .body(Empty::<Bytes>::new())
            .map_err(|e| KeyDeliveryError::MalformedResponse(format!("request: {e}")))?;
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| KeyDeliveryError::Unreachable(format!("HTTP: {e}")))?;
        let status = response.status().as_u16();
        let result = match status {
            200 => {
                let body = Limited::new(response.into_body(), MAX_RESPONSE_BODY)
                    .collect()
                    .await
                    .map_err(|_| {
                        KeyDeliveryError::MalformedResponse(
                            "body unreadable or larger than 64 KiB".into(),
                        )
                    })?
                    .to_bytes();
                let body = Zeroizing::new(Vec::from(body));
                let security: ServiceSecurity = serde_json::from_slice(&body).map_err(|e| {
                    // serde's message can quote values: report only where and what kind.
                    KeyDeliveryError::MalformedResponse(format!(
                        "JSON {:?} error at line {} column {}",
                        e.classify(),
                        e.line(),
                        e.column()
                    ))
                })?;
                self.classify(&security)
            }
            404 => Ok(Fetched::Unknown),
            other => Err(KeyDeliveryError::HttpStatus(other)),
        };
        drop(sender);
        driver.abort();
        result
    }

    /// What a `200 OK` says about the invoker (see "Answers" on [`CcfKeyResolver`]).
    fn classify(&self, security: &ServiceSecurity) -> Result<Fetched, KeyDeliveryError> {
        let config = &self.config;
        let Some(entry) = security.entry_for(&config.aef_interface, config.aef_id.as_deref())
        else {
            log::debug!(
                "CAPIF-3: the CCF's ServiceSecurity has no securityInfo entry for this AEF: none \
                 matches its interface {} (interfaceDetails, or a port-less entry for its host) \
                 or its aefId ({}); an entry that names the AEF only by aefId matches only if \
                 CcfKeyResolverConfig::aef_id is set to it. Answering as for an unknown invoker.",
                config.aef_interface,
                match config.aef_id.as_deref() {
                    Some(id) => format!("{id:?}"),
                    None => "not configured".to_string(),
                },
            );
            return Ok(Fetched::Unknown);
        };
        if entry
            .sel_security_method
            .as_deref()
            .is_some_and(|m| m != SECURITY_METHOD_PSK)
        {
            return Ok(Fetched::Unknown);
        }
        entry.aef_psk().map(|k| Fetched::Key(Arc::new(k)))
    }
}

/// The fetch task of one flight. However it ends (answer, error, or the runtime dropping
/// it), the flight is retired, so that a later lookup starts a new one.
struct FlightGuard {
    inner: Arc<ResolverInner>,
    invoker_id: String,
    id: u64,
}

impl FlightGuard {
    async fn fly(self, tx: watch::Sender<FlightResult>) {
        let fetched = self.inner.fetch(&self.invoker_id).await;
        let result = {
            let inner = &self.inner;
            let mut cache = inner.lock();
            let result = match fetched {
                Ok(Fetched::Key(k)) => Ok(Answer::Key(k)),
                // The decoy an invoker already has is kept (as a real key the CCF still
                // holds stays the same); a new one is drawn otherwise.
                Ok(Fetched::Unknown) => match cache.entries.get(&self.invoker_id) {
                    Some(CachedAnswer {
                        answer: Answer::Unknown(k),
                        ..
                    }) => Ok(Answer::Unknown(Arc::clone(k))),
                    _ => {
                        // The handshake will fail like one with a wrong key; say why here.
                        log::debug!(
                            "CAPIF-3: the CCF has no key for invoker {:?} at this AEF; a decoy \
                             key stands in for {:?}",
                            self.invoker_id,
                            inner.config.ttl
                        );
                        inner.decoy().map(Answer::Unknown)
                    }
                },
                Err(e) => Err(e),
            };
            // Only the invoker's current flight caches: an invalidation since detached it.
            if cache
                .flights
                .get(&self.invoker_id)
                .is_some_and(|f| f.id == self.id)
            {
                cache.flights.remove(&self.invoker_id);
                if let Ok(answer) = &result {
                    let limits = [
                        inner.config.max_cached_keys,
                        inner.config.max_cached_unknown,
                    ];
                    cache.insert(&self.invoker_id, answer.clone(), limits);
                }
            }
            result
        };
        let _ = tx.send(Some(result));
    }
}

impl Drop for FlightGuard {
    fn drop(&mut self) {
        let mut cache = self.inner.lock();
        if cache
            .flights
            .get(&self.invoker_id)
            .is_some_and(|f| f.id == self.id)
        {
            cache.flights.remove(&self.invoker_id);
        }
    }
}

impl fmt::Debug for CcfKeyResolver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let cache = self.inner.lock();
        f.debug_struct("CcfKeyResolver")
            .field("config", &self.inner.config)
            .field("cached_keys", &cache.counts[0])
            .field("cached_unknown", &cache.counts[1])
            .field("fetches_under_way", &cache.flights.len())
            .finish()
    }
}

impl CcfKeyResolver {
    /// The [`ExternalPsk`] a handshake checks the binder with: the invoker's key, or its decoy.
    async fn external_psk(&self, invoker_id: &str, refetch: bool) -> Result<ExternalPsk, Error> {
        let answer = self.inner.answer(invoker_id, refetch).await?;
        ExternalPsk::from_aef_psk(invoker_id, answer.key())
    }
}

impl AsyncPskResolver for CcfKeyResolver {
    /// The invoker's key, or for an invoker the CCF does not know a decoy (see "Unknown
    /// invokers look like wrong keys" above); `None` only for an identity that is not an
    /// invoker ID.
    fn resolve<'a>(&'a self, identity: &'a [u8]) -> ResolveFuture<'a> {
        Box::pin(async move {
            let Some(invoker_id) = invoker_id_from_identity(identity) else {
                return Ok(None);
            };
            self.external_psk(invoker_id, false).await.map(Some)
        })
    }

    fn refresh<'a>(&'a self, identity: &'a [u8]) -> Option<ResolveFuture<'a>> {
        let invoker_id = invoker_id_from_identity(identity)?;
        if (self.inner.lock())
            .fresh(invoker_id, self.inner.config.min_refresh_interval)
            .is_some()
        {
            // Answered just now: a mismatch is the client's key, not a stale cache.
            return None;
        }
        Some(Box::pin(async move {
            self.external_psk(invoker_id, true).await.map(Some)
        }))
    }
}

// ---------------------------------------------------------------------------------------------
// CCF side: the key store and the resource.

use std::collections::BTreeMap;

use crate::secret::ZeroizingBuf;

/// Something that derives AEFPSKs for AEF interfaces: a CAPIF-1e session.
pub trait AefPskSource: Send + Sync {
    /// The AEFPSK for `interface`. The same interface must always give the same key: a
    /// [`CcfKeyStore`] derives again a key it dropped from its per-invoker cache.
    fn derive_aef_psk(&self, interface: &ServiceApiInterface) -> Result<AefPsk, Error>;
}

impl AefPskSource for crate::capif1e::Capif1eSession {
    fn derive_aef_psk(&self, interface: &ServiceApiInterface) -> Result<AefPsk, Error> {
        crate::capif1e::Capif1eSession::derive_aef_psk(self, interface)
    }
}

/// The bounds of a [`CcfKeyStore`]: how long an invoker's CAPIF-1e session serves CAPIF-3,
/// how many invokers it holds, and how many derived keys it keeps per invoker.
///
/// Whatever the callers do, the store holds at most `max_invokers` invokers with at most
/// `max_keys_per_invoker` keys each. Measured (`tests/ccf_store_heap.rs`): about 210 octets
/// per invoker plus its session, 200 for its first cached key and 100 for each further one,
/// and a full store under churn may keep its table at up to twice its size: with the
/// defaults, at most about 100 000 × (1.2 KiB + a session).
///
/// ```
/// use std::time::Duration;
/// use rustls_capif::capif3::{CcfKeyStore, CcfKeyStoreConfig};
///
/// let mut config = CcfKeyStoreConfig::default();
/// config.session_ttl = Duration::from_secs(6 * 3600);
/// config.max_invokers = 1_000_000;
/// let store = CcfKeyStore::with_config(config).unwrap();
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CcfKeyStoreConfig {
    /// How long a registered CAPIF-1e session serves CAPIF-3, counted from its registration
    /// (a fixed lifetime: using the keys does not extend it; registering the invoker's session
    /// again, for example after a resumption, starts it anew).
    ///
    /// Past it the invoker is unknown: [`CcfKeyStore::aef_psk`] and
    /// [`CcfKeyStore::service_security_json`] answer `None` (CAPIF-3: 404), and an AEF
    /// refuses the invoker's CAPIF-2e handshakes once its own cached key expires, until the
    /// invoker makes a CAPIF-1e session that the CCF registers. The entry, its derived keys
    /// and its reference to the session (the master secret) are dropped at the next call on
    /// the store, or at once with [`CcfKeyStore::purge_expired`].
    ///
    /// Choose the lifetime of the CCF's CAPIF-1e TLS sessions (its session cache and ticket
    /// lifetime): an invoker cannot keep using a key longer than the CCF keeps its session.
    /// Must not be zero. Default 24 h.
    pub session_ttl: Duration,
    /// Largest number of invokers held. Must not be zero. Default 100 000.
    ///
    /// A newer session of a known invoker replaces the old one and never evicts. Registering
    /// a new invoker in a full store first drops expired entries; if the store is still full,
    /// the invoker registered longest ago (the one closest to expiry) is evicted, with a
    /// warning in the log. The evicted invoker is then unknown, as after its TTL (CAPIF-3:
    /// 404) until it registers again. Set the bound above the number of invokers you onboard
    /// and it only ever evicts what the TTL would drop anyway.
    pub max_invokers: usize,
    /// Largest number of derived AEFPSKs kept per invoker (one per AEF interface). Default 8.
    ///
    /// Derived keys are a cache: when it is full, the key derived longest ago is dropped
    /// (zeroized) and, if asked for again, derived again from the session: the same key, one
    /// KDF run more, nothing visible on CAPIF-3. Zero keeps no key (every request derives).
    /// The cache is searched in order: keep the bound in the tens.
    pub max_keys_per_invoker: usize,
}

impl Default for CcfKeyStoreConfig {
    fn default() -> Self {
        Self {
            session_ttl: Duration::from_secs(24 * 3600),
            max_invokers: 100_000,
            max_keys_per_invoker: 8,
        }
    }
}

impl CcfKeyStoreConfig {
    fn check(&self) -> Result<(), Error> {
        if self.session_ttl.is_zero() {
            return Err(Error::InvalidConfig(
                "CcfKeyStoreConfig::session_ttl must not be zero".into(),
            ));
        }
        if self.max_invokers == 0 {
            return Err(Error::InvalidConfig(
                "CcfKeyStoreConfig::max_invokers must not be zero".into(),
            ));
        }
        Ok(())
    }
}

/// Where the store reads the time (a test clock in unit tests). Must be monotonic.
type Clock = Arc<dyn Fn() -> Instant + Send + Sync>;

struct InvokerEntry {
    source: Arc<dyn AefPskSource>,
    /// This entry's key in `Entries::by_age`.
    registration: u64,
    /// `None`: the TTL reaches past what `Instant` can represent (never expires).
    expires: Option<Instant>,
    /// Derived keys, oldest first (a short list: the cap is small). Boxed: when the list grows
    /// or shifts it moves pointers, never key octets (an outgrown block is freed unwiped).
    derived: Vec<(ServiceApiInterface, Box<AefPsk>)>,
}

#[derive(Default)]
struct Entries {
    invokers: HashMap<Arc<str>, InvokerEntry>,
    /// Registration order of the entries in `invokers`, which is also their expiry order (one
    /// TTL, a monotonic clock): the first is the next to expire and the first evicted.
    by_age: BTreeMap<u64, Arc<str>>,
    next_registration: u64,
}

impl Entries {
    fn purge_expired(&mut self, now: Instant) -> usize {
        let mut purged = 0;
        while let Some(entry) = self.by_age.first_entry() {
            let expired = self
                .invokers
                .get(&**entry.get())
                .is_none_or(|e| e.expires.is_some_and(|t| now >= t));
            if !expired {
                break;
            }
            let id = entry.remove();
            self.invokers.remove(&*id);
            purged += 1;
        }
        purged
    }

    fn remove(&mut self, invoker_id: &str) -> bool {
        match self.invokers.remove(invoker_id) {
            Some(old) => {
                self.by_age.remove(&old.registration);
                true
            }
            None => false,
        }
    }
}

/// The bounded in-memory storage under a [`CcfKeyStore`]: one entry per invoker with its
/// session, its expiry and its cache of derived keys.
struct MemoryKeyStorage {
    config: CcfKeyStoreConfig,
    clock: Clock,
    entries: Mutex<Entries>,
}

impl MemoryKeyStorage {
    fn new(config: CcfKeyStoreConfig, clock: Clock) -> Self {
        Self {
            config,
            clock,
            entries: Mutex::new(Entries::default()),
        }
    }

    /// The entries with the expired ones dropped.
    fn live(&self) -> std::sync::MutexGuard<'_, Entries> {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries.purge_expired((self.clock)());
        entries
    }

    fn register(&self, invoker_id: &str, source: Arc<dyn AefPskSource>) {
        let mut entries = self.live();
        let now = (self.clock)();
        if !entries.remove(invoker_id) && entries.invokers.len() >= self.config.max_invokers {
            if let Some(oldest) = entries.by_age.first_entry().map(|e| e.get().clone()) {
                entries.remove(&oldest);
                log::warn!(
                    "CCF key store full ({} invokers): evicted {oldest:?}, the registration closest to expiry",
                    self.config.max_invokers
                );
            }
        }
        let registration = entries.next_registration;
        entries.next_registration += 1;
        let id: Arc<str> = Arc::from(invoker_id);
        entries.by_age.insert(registration, id.clone());
        entries.invokers.insert(
            id,
            InvokerEntry {
                source,
                registration,
                expires: now.checked_add(self.config.session_ttl),
                derived: Vec::new(),
            },
        );
    }

    fn aef_psk(
        &self,
        invoker_id: &str,
        interface: &ServiceApiInterface,
    ) -> Result<Option<AefPsk>, Error> {
        let mut entries = self.live();
        let Some(entry) = entries.invokers.get_mut(invoker_id) else {
            return Ok(None);
        };
        if let Some((_, psk)) = entry.derived.iter().find(|(i, _)| i == interface) {
            return Ok(Some((**psk).clone()));
        }
        let psk = entry.source.derive_aef_psk(interface)?;
        let cap = self.config.max_keys_per_invoker;
        if cap > 0 {
            if entry.derived.len() >= cap {
                entry.derived.remove(0); // the oldest; its key is zeroized as it drops
            }
            entry
                .derived
                .push((interface.clone(), Box::new(psk.clone())));
        }
        Ok(Some(psk))
    }
}

/// The CCF's store of AEFPSKs, keyed by API invoker ID and AEF interface.
///
/// Each invoker has one current CAPIF-1e session; registering a newer one replaces every key
/// derived from the older (TS 33.122: the AEFPSK follows the latest CAPIF-1e session). Keys
/// are derived on first request ("the CCF may delay this until an AEF asks").
///
/// The store is bounded ([`CcfKeyStoreConfig`]): a session serves for a TTL from its
/// registration, the number of invokers is capped (a new invoker in a full store evicts the
/// registration closest to expiry), and so is the number of keys cached per invoker (evicted
/// keys are derived again on demand). An expired, evicted or removed invoker is unknown:
/// `None` here, 404 on CAPIF-3. Keys are held in zeroizing boxes, so no copy is left in freed
/// memory when the maps grow.
///
/// "Latest" must mean the same session to the CCF and to the invoker. Each TLS 1.3
/// connection and each full TLS 1.2 handshake has its own key, so a CCF should register the
/// session on which the invoker did something that tells it which one counts (in the
/// `capif_flow` example: the service discovery the invoker makes before calling the AEF),
/// not every CAPIF-1e connection: an invoker whose HTTP client opens two connections at once
/// would otherwise derive from one while the store holds the other, and every CAPIF-2e
/// handshake would fail.
///
/// ```
/// use std::sync::Arc;
/// use rustls_capif::capif3::{AefPskSource, CcfKeyStore};
/// use rustls_capif::{AefPsk, ServiceApiInterface};
///
/// struct Fixed(u8);
/// impl AefPskSource for Fixed {
///     fn derive_aef_psk(&self, _: &ServiceApiInterface) -> Result<AefPsk, rustls_capif::Error> {
///         Ok(AefPsk::from_bytes([self.0; 32]))
///     }
/// }
/// let store = CcfKeyStore::default();
/// let aef = ServiceApiInterface::parse("aef.example.com:443").unwrap();
/// store.register_session("invoker-1", Arc::new(Fixed(1)));
/// let old = store.aef_psk("invoker-1", &aef).unwrap().unwrap();
/// store.register_session("invoker-1", Arc::new(Fixed(2))); // a newer CAPIF-1e session
/// assert_ne!(store.aef_psk("invoker-1", &aef).unwrap().unwrap(), old);
/// assert!(store.aef_psk("nobody", &aef).unwrap().is_none());
/// ```
pub struct CcfKeyStore {
    storage: MemoryKeyStorage,
}

impl Default for CcfKeyStore {
    /// A store with the default [`CcfKeyStoreConfig`].
    fn default() -> Self {
        Self::with_clock(CcfKeyStoreConfig::default(), Arc::new(Instant::now))
    }
}

impl CcfKeyStore {
    /// A store with the bounds of `config` (refused if the TTL or `max_invokers` is zero).
    pub fn with_config(config: CcfKeyStoreConfig) -> Result<Self, Error> {
        config.check()?;
        Ok(Self::with_clock(config, Arc::new(Instant::now)))
    }

    fn with_clock(config: CcfKeyStoreConfig, clock: Clock) -> Self {
        Self {
            storage: MemoryKeyStorage::new(config, clock),
        }
    }

    /// The bounds of this store.
    pub fn config(&self) -> &CcfKeyStoreConfig {
        &self.storage.config
    }

    /// Records the invoker's newest CAPIF-1e session, replacing older keys; its TTL starts
    /// now. A new invoker in a full store evicts the registration closest to expiry (see
    /// [`CcfKeyStoreConfig::max_invokers`]).
    pub fn register_session(&self, invoker_id: &str, source: Arc<dyn AefPskSource>) {
        self.storage.register(invoker_id, source);
    }

    /// Forgets an invoker at once (offboarding). `false` if it was not known (or expired).
    pub fn remove(&self, invoker_id: &str) -> bool {
        self.storage.live().remove(invoker_id)
    }

    /// Whether the invoker is known (registered, not expired, not evicted, not removed).
    pub fn contains(&self, invoker_id: &str) -> bool {
        self.storage.live().invokers.contains_key(invoker_id)
    }

    /// Number of invokers known.
    pub fn len(&self) -> usize {
        self.storage.live().invokers.len()
    }

    /// Whether no invoker is known.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Drops the entries whose TTL has passed now, with their keys and sessions, and tells
    /// how many. Every other call does this too; a CCF that may go quiet for long can call it
    /// from a timer so that no master secret outlives its TTL by much.
    pub fn purge_expired(&self) -> usize {
        let mut entries = self
            .storage
            .entries
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        entries.purge_expired((self.storage.clock)())
    }

    /// The AEFPSK of `invoker_id` for `interface` (`None`: unknown invoker).
    pub fn aef_psk(
        &self,
        invoker_id: &str,
        interface: &ServiceApiInterface,
    ) -> Result<Option<AefPsk>, Error> {
        self.storage.aef_psk(invoker_id, interface)
    }

    /// The `ServiceSecurity` body for `GET .../trustedInvokers/{invoker_id}` covering the
    /// given AEF interfaces, with `authenticationInfo` if `with_keys`. `None`: unknown invoker
    /// (answer 404). The JSON text holds keys: it is written into a buffer that wipes every
    /// block it outgrows, and is zeroized on drop (copies the HTTP stack makes to send it are
    /// not).
    pub fn service_security_json(
        &self,
        invoker_id: &str,
        interfaces: &[InterfaceDescriptionJson],
        with_keys: bool,
    ) -> Result<Option<Zeroizing<Vec<u8>>>, Error> {
        if !self.contains(invoker_id) {
            return Ok(None);
        }
        let mut security = ServiceSecurity::default();
        for details in interfaces {
            let interface = details.service_api_interface()?;
            let authentication_info = if with_keys {
                match self.aef_psk(invoker_id, &interface)? {
                    Some(psk) => Some(psk.to_authentication_info()),
                    None => return Ok(None),
                }
            } else {
                None
            };
            security.security_info.push(SecurityInformation {
                interface_details: Some(details.clone()),
                aef_id: None,
                pref_security_methods: vec![SECURITY_METHOD_PSK.to_string()],
                sel_security_method: Some(SECURITY_METHOD_PSK.to_string()),
                authentication_info,
            });
        }
        // An entry is about 250 octets: most bodies never grow the buffer.
        let mut json = ZeroizingBuf::with_capacity(64 + 320 * interfaces.len());
        serde_json::to_writer(&mut json, &security)
            .map_err(|_| Error::InvalidState("ServiceSecurity does not serialize"))?;
        Ok(Some(json.into_inner()))
    }
}

impl fmt::Debug for CcfKeyStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CcfKeyStore")
            .field("invokers", &self.len())
            .field("config", self.config())
            .finish()
    }
}

#[cfg(test)]
mod store_tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A key per (session, interface) that counts its derivations.
    struct Counting {
        seed: u8,
        derivations: AtomicUsize,
    }
    impl Counting {
        fn new(seed: u8) -> Arc<Self> {
            Arc::new(Self {
                seed,
                derivations: AtomicUsize::new(0),
            })
        }
        fn derivations(&self) -> usize {
            self.derivations.load(Ordering::SeqCst)
        }
    }
    impl AefPskSource for Counting {
        fn derive_aef_psk(&self, i: &ServiceApiInterface) -> Result<AefPsk, Error> {
            use sha2::Digest;
            self.derivations.fetch_add(1, Ordering::SeqCst);
            let digest = sha2::Sha256::new()
                .chain_update([self.seed])
                .chain_update(i.as_bytes())
                .finalize();
            Ok(AefPsk::from_bytes(digest.into()))
        }
    }

    /// A clock the test moves by hand.
    #[derive(Clone)]
    struct TestClock(Arc<Mutex<Instant>>);
    impl TestClock {
        fn new() -> Self {
            Self(Arc::new(Mutex::new(Instant::now())))
        }
        fn advance(&self, by: Duration) {
            *self.0.lock().unwrap() += by;
        }
        fn clock(&self) -> Clock {
            let now = self.0.clone();
            Arc::new(move || *now.lock().unwrap())
        }
    }

    fn store(config: CcfKeyStoreConfig, clock: &TestClock) -> CcfKeyStore {
        config.check().unwrap();
        CcfKeyStore::with_clock(config, clock.clock())
    }

    fn aef(port: u16) -> ServiceApiInterface {
        ServiceApiInterface::parse(&format!("aef.example:{port}")).unwrap()
    }

    fn cached_keys(store: &CcfKeyStore, invoker_id: &str) -> usize {
        store.storage.live().invokers[invoker_id].derived.len()
    }

    fn body(store: &CcfKeyStore, invoker_id: &str) -> Option<Zeroizing<Vec<u8>>> {
        let details = InterfaceDescriptionJson {
            fqdn: Some("aef.example".into()),
            port: Some(1),
            ..Default::default()
        };
        store
            .service_security_json(invoker_id, &[details], true)
            .unwrap()
    }

    #[test]
    fn defaults_and_invalid_configs() {
        let config = CcfKeyStoreConfig::default();
        assert_eq!(config.session_ttl, Duration::from_secs(24 * 3600));
        assert_eq!(config.max_invokers, 100_000);
        assert_eq!(config.max_keys_per_invoker, 8);
        assert_eq!(CcfKeyStore::default().config(), &config);
        for bad in [
            CcfKeyStoreConfig {
                session_ttl: Duration::ZERO,
                ..Default::default()
            },
            CcfKeyStoreConfig {
                max_invokers: 0,
                ..Default::default()
            },
        ] {
            assert!(matches!(
                CcfKeyStore::with_config(bad),
                Err(Error::InvalidConfig(_))
            ));
        }
    }

    /// The per-invoker cache holds at most `max_keys_per_invoker` keys, drops the one derived
    /// longest ago, and derives it again (the same key) when asked.
    #[test]
    fn per_invoker_key_cap_evicts_the_oldest_key_and_derives_it_again() {
        let clock = TestClock::new();
        let config = CcfKeyStoreConfig {
            max_keys_per_invoker: 3,
            ..Default::default()
        };
        let store = store(config, &clock);
        let source = Counting::new(1);
        store.register_session("inv-1", source.clone());
        let first = store.aef_psk("inv-1", &aef(1)).unwrap().unwrap();
        for port in 2..=10 {
            store.aef_psk("inv-1", &aef(port)).unwrap().unwrap();
            assert!(cached_keys(&store, "inv-1") <= 3);
        }
        assert_eq!(cached_keys(&store, "inv-1"), 3);
        assert_eq!(source.derivations(), 10);
        // The newest three are cached: no derivation.
        for port in 8..=10 {
            store.aef_psk("inv-1", &aef(port)).unwrap().unwrap();
        }
        assert_eq!(source.derivations(), 10);
        // The first was evicted: derived again, the same key.
        assert_eq!(store.aef_psk("inv-1", &aef(1)).unwrap().unwrap(), first);
        assert_eq!(source.derivations(), 11);
        assert_eq!(cached_keys(&store, "inv-1"), 3);
        assert!(body(&store, "inv-1").is_some(), "CAPIF-3 still answers");

        // Zero keeps no key: every request derives, and still answers.
        let none = self::store(
            CcfKeyStoreConfig {
                max_keys_per_invoker: 0,
                ..Default::default()
            },
            &clock,
        );
        let source = Counting::new(1);
        none.register_session("inv-1", source.clone());
        assert_eq!(none.aef_psk("inv-1", &aef(1)).unwrap().unwrap(), first);
        assert_eq!(none.aef_psk("inv-1", &aef(1)).unwrap().unwrap(), first);
        assert_eq!((source.derivations(), cached_keys(&none, "inv-1")), (2, 0));
    }

    /// A new invoker in a full store evicts the registration closest to expiry; a newer
    /// session of a known invoker evicts nobody; the evicted invoker is unknown (404).
    #[test]
    fn invoker_cap_evicts_the_oldest_registration() {
        let clock = TestClock::new();
        let config = CcfKeyStoreConfig {
            max_invokers: 3,
            ..Default::default()
        };
        let store = store(config, &clock);
        for id in ["a", "b", "c"] {
            store.register_session(id, Counting::new(1));
            clock.advance(Duration::from_secs(1));
        }
        let a = Counting::new(1);
        store.register_session("a", a.clone()); // a newer session of a: order b, c, a
        assert_eq!(store.len(), 3);
        store.register_session("d", Counting::new(1)); // full: b goes
        assert_eq!(store.len(), 3);
        assert!(!store.contains("b"));
        assert_eq!(store.aef_psk("b", &aef(1)).unwrap(), None);
        assert!(body(&store, "b").is_none(), "CAPIF-3 answers 404");
        assert!(store.contains("a") && store.contains("c") && store.contains("d"));
        assert!(store.aef_psk("a", &aef(1)).unwrap().is_some());
        assert_eq!(a.derivations(), 1, "a's newer session is the one kept");
        store.register_session("b", Counting::new(1)); // b again: c goes
        assert!(!store.contains("c"));
        assert!(store.contains("a") && store.contains("b") && store.contains("d"));
        // Removal is immediate and frees a place: nobody is evicted.
        assert!(store.remove("a"));
        assert!(!store.remove("a"));
        store.register_session("e", Counting::new(1));
        assert!(store.contains("b") && store.contains("d") && store.contains("e"));
    }

    /// A session serves for `session_ttl` from its registration; past it the invoker is
    /// unknown (404) and the session is dropped; a new registration starts the TTL anew.
    #[test]
    fn sessions_expire_after_the_ttl() {
        let clock = TestClock::new();
        let ttl = Duration::from_secs(10);
        let config = CcfKeyStoreConfig {
            session_ttl: ttl,
            max_invokers: 2,
            ..Default::default()
        };
        let store = store(config, &clock);
        let a = Counting::new(1);
        store.register_session("a", a.clone());
        clock.advance(Duration::from_secs(5));
        store.register_session("b", Counting::new(2));
        clock.advance(Duration::from_secs(5) - Duration::from_millis(1));
        assert!(store.aef_psk("a", &aef(1)).unwrap().is_some());
        assert!(body(&store, "a").is_some());
        clock.advance(Duration::from_millis(1)); // a's TTL is over
        assert_eq!(store.aef_psk("a", &aef(1)).unwrap(), None);
        assert!(body(&store, "a").is_none(), "CAPIF-3 answers 404");
        assert!(!store.contains("a") && store.contains("b"));
        assert_eq!(Arc::strong_count(&a), 1, "the expired session is dropped");
        // b registers again: its TTL starts anew.
        store.register_session("b", Counting::new(3));
        clock.advance(Duration::from_secs(9));
        assert!(store.contains("b"));
        store.register_session("c", Counting::new(4));
        clock.advance(Duration::from_secs(1)); // b expires, c does not
        assert!(!store.contains("b") && store.contains("c"));
        // purge_expired drops what has expired without any other call.
        clock.advance(ttl);
        assert_eq!(store.purge_expired(), 1);
        assert!(store.is_empty());
        // A TTL past what an Instant can hold never expires (and does not panic).
        let forever = self::store(
            CcfKeyStoreConfig {
                session_ttl: Duration::MAX,
                ..Default::default()
            },
            &clock,
        );
        forever.register_session("a", Counting::new(1));
        clock.advance(Duration::from_secs(365 * 24 * 3600));
        assert!(forever.contains("a"));
    }
}

/// A parsed `GET {prefix}/capif-security/v1/trustedInvokers/{apiInvokerId}` request target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustedInvokersRequest {
    /// `apiInvokerId` from the path.
    pub api_invoker_id: String,
    /// The `authenticationInfo` query parameter.
    pub authentication_info: bool,
}

impl TrustedInvokersRequest {
    /// Parses a request target (path and query). `None` if it is not this resource or the
    /// invoker ID is not made of URI unreserved characters.
    ///
    /// ```
    /// use rustls_capif::capif3::TrustedInvokersRequest;
    /// let r = TrustedInvokersRequest::parse(
    ///     "/capif-security/v1/trustedInvokers/inv-1?authenticationInfo=true").unwrap();
    /// assert_eq!(r.api_invoker_id, "inv-1");
    /// assert!(r.authentication_info);
    /// ```
    pub fn parse(target: &str) -> Option<Self> {
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        let (_, id) = path.rsplit_once("/capif-security/v1/trustedInvokers/")?;
        let id = invoker_id_from_identity(id.as_bytes())?;
        let authentication_info = query.split('&').any(|kv| kv == "authenticationInfo=true");
        Some(Self {
            api_invoker_id: id.to_string(),
            authentication_info,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn interface_json(port: u16) -> InterfaceDescriptionJson {
        InterfaceDescriptionJson {
            ipv4_addr: Some("127.0.0.1".into()),
            port: Some(port),
            security_methods: vec![SECURITY_METHOD_PSK.into()],
            ..Default::default()
        }
    }

    /// A key per (session, interface): SHA-256 of both.
    struct Fixed(u8);
    impl AefPskSource for Fixed {
        fn derive_aef_psk(&self, i: &ServiceApiInterface) -> Result<AefPsk, Error> {
            use sha2::Digest;
            let digest = sha2::Sha256::new()
                .chain_update([self.0])
                .chain_update(i.as_bytes())
                .finalize();
            Ok(AefPsk::from_bytes(digest.into()))
        }
    }

    #[test]
    fn store_round_trips_through_json() {
        let store = CcfKeyStore::default();
        store.register_session("inv-1", Arc::new(Fixed(9)));
        let json = store
            .service_security_json("inv-1", &[interface_json(8443), interface_json(9443)], true)
            .unwrap()
            .unwrap();
        let parsed: ServiceSecurity = serde_json::from_slice(&json).unwrap();
        let aef = ServiceApiInterface::parse("127.0.0.1:9443").unwrap();
        assert_eq!(
            parsed.aef_psk_for(&aef, None).unwrap(),
            store.aef_psk("inv-1", &aef).unwrap().unwrap()
        );
        let first = ServiceApiInterface::parse("127.0.0.1:8443").unwrap();
        assert_eq!(
            parsed.aef_psk_for(&first, None).unwrap(),
            store.aef_psk("inv-1", &first).unwrap().unwrap()
        );
        assert_ne!(
            parsed.aef_psk_for(&first, None).unwrap(),
            parsed.aef_psk_for(&aef, None).unwrap(),
            "each interface has its own key"
        );
        let other = ServiceApiInterface::parse("127.0.0.1:1").unwrap();
        assert_eq!(
            parsed.aef_psk_for(&other, None).unwrap_err(),
            KeyDeliveryError::NoEntryForInterface
        );
        assert!(store
            .service_security_json("nobody", &[interface_json(1)], true)
            .unwrap()
            .is_none());
        let no_keys = store
            .service_security_json("inv-1", &[interface_json(8443)], false)
            .unwrap()
            .unwrap();
        let parsed: ServiceSecurity = serde_json::from_slice(&no_keys).unwrap();
        assert_eq!(
            parsed.aef_psk_for(&ServiceApiInterface::parse("127.0.0.1:8443").unwrap(), None),
            Err(KeyDeliveryError::NoKey("no authenticationInfo"))
        );
    }

    #[test]
    fn malformed_entries_are_typed_errors() {
        let aef = ServiceApiInterface::parse("aef.example:443").unwrap();
        let parse = |s: &str| serde_json::from_str::<ServiceSecurity>(s).unwrap();
        let entry = |extra: &str| {
            format!(
                r#"{{"securityInfo":[{{"interfaceDetails":{{"fqdn":"AEF.example.","port":443}},"prefSecurityMethods":["PSK"]{extra}}}]}}"#
            )
        };
        assert_eq!(
            parse(&entry(r#","authenticationInfo":"zz""#)).aef_psk_for(&aef, None),
            Err(KeyDeliveryError::NoKey(
                "authenticationInfo is not 64 hex digits"
            ))
        );
        assert_eq!(
            parse(&entry(
                r#","selSecurityMethod":"PKI","authenticationInfo":"00""#
            ))
            .aef_psk_for(&aef, None),
            Err(KeyDeliveryError::NoKey("selSecurityMethod is not PSK"))
        );
        let key = "ab".repeat(32);
        let ok = parse(&entry(&format!(r#","authenticationInfo":"{key}""#)));
        assert_eq!(
            *ok.aef_psk_for(&aef, None).unwrap().to_authentication_info(),
            key
        );
        assert!(
            !format!("{ok:?}").contains(&key),
            "Debug must redact the key"
        );
    }

    #[test]
    fn identities_that_are_not_invoker_ids_are_never_fetched() {
        assert_eq!(invoker_id_from_identity(b"inv-1.A_b~"), Some("inv-1.A_b~"));
        for bad in [
            &b""[..],
            b"../x",
            b"a/b",
            b"a?b",
            b"a b",
            b"%2e",
            b".",
            b"..",
            b"\xff",
            &[b'a'; 257],
        ] {
            assert_eq!(invoker_id_from_identity(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn request_targets() {
        assert_eq!(
            TrustedInvokersRequest::parse("/api/capif-security/v1/trustedInvokers/x1"),
            Some(TrustedInvokersRequest {
                api_invoker_id: "x1".into(),
                authentication_info: false
            })
        );
        assert!(TrustedInvokersRequest::parse("/capif-security/v1/trustedInvokers/a/b").is_none());
        assert!(TrustedInvokersRequest::parse("/other").is_none());
    }

    #[test]
    fn api_root_parsing() {
        let r = ApiRoot::parse("https://ccf.example:8443/root/").unwrap();
        assert_eq!(
            (r.host.as_str(), r.port, r.prefix.as_str()),
            ("ccf.example", 8443, "/root")
        );
        let r = ApiRoot::parse("https://[::1]:9").unwrap();
        assert_eq!((r.host.as_str(), r.port), ("::1", 9));
        assert!(ApiRoot::parse("http://ccf.example").is_err());
        assert!(ApiRoot::parse("not a uri").is_err());
        // Credentials in the authority are refused, and not repeated in the error.
        let err = ApiRoot::parse("https://aef:s3cret@ccf.example").unwrap_err();
        assert!(!err.to_string().contains("s3cret"), "{err}");
        // Not even when the rest does not parse, nor in a config's Debug.
        let err = ApiRoot::parse("https://aef:s3cret@ccf example/").unwrap_err();
        assert!(!err.to_string().contains("s3cret"), "{err}");
        assert_eq!(
            without_userinfo("https://u:p@ccf.example/root"),
            "https://…@ccf.example/root"
        );
        assert_eq!(
            without_userinfo("https://ccf.example"),
            "https://ccf.example"
        );
        for leaky in [
            "aef:s3cret@ccf.example/x?r=https://y",
            "u:s3cret@x://y@host",
            "s3cret@host",
        ] {
            assert!(!without_userinfo(leaky).contains("s3cret"), "{leaky}");
        }
    }

    #[test]
    fn the_entry_for_this_interface_wins_over_an_aef_id_match() {
        let entry = |interface: &str, aef_id: &str, key: u8| {
            format!(
                r#"{{"interfaceDetails":{{"fqdn":"{interface}","port":8443}},"aefId":"{aef_id}","authenticationInfo":"{}"}}"#,
                format!("{key:02x}").repeat(32)
            )
        };
        // The aefId entry comes first in the list; the interface entry must still win.
        let json = format!(
            r#"{{"securityInfo":[{},{}]}}"#,
            entry("other.example", "aef01", 1),
            entry("aef.example", "aef02", 2)
        );
        let security: ServiceSecurity = serde_json::from_str(&json).unwrap();
        let aef = ServiceApiInterface::parse("aef.example:8443").unwrap();
        assert_eq!(
            security.aef_psk_for(&aef, Some("aef01")).unwrap(),
            AefPsk::from_bytes([2; 32])
        );
        // Without an interface match the aefId decides.
        let elsewhere = ServiceApiInterface::parse("elsewhere.example:1").unwrap();
        assert_eq!(
            security.aef_psk_for(&elsewhere, Some("aef01")).unwrap(),
            AefPsk::from_bytes([1; 32])
        );
        // An interface made from raw P0 octets matches the same octets.
        let raw = ServiceApiInterface::from_raw(b"aef.example:8443".to_vec()).unwrap();
        assert_eq!(
            security.aef_psk_for(&raw, None).unwrap(),
            AefPsk::from_bytes([2; 32])
        );
    }
}
