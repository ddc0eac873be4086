//! The AEF side of CAPIF-3: [`CcfKeyResolver`] fetches an invoker's AEFPSK from the CCF
//! (`GET {apiRoot}/capif-security/v1/trustedInvokers/{apiInvokerId}`, TS 29.222) and caches
//! the answers, unknown invokers included (as decoy keys).

use core::fmt;
use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ::tokio::sync::{oneshot, watch};
use http_body_util::{BodyExt, Empty, Limited};
use hyper::body::Bytes;
use zeroize::Zeroizing;

use super::client::{alpn_protocols, error_chain, CcfClient};
use super::*;
use crate::error::Error;
use crate::kdf::ServiceApiInterface;
use crate::psk::ExternalPsk;
use crate::rt::tokio::{AsyncPskResolver, ResolveFuture};
use crate::secret::AefPsk;

/// Settings of a [`CcfKeyResolver`].
///
/// The limits below are what an unauthenticated client can cost this AEF and its CCF: see
/// "Pre-authentication cost" on [`CcfKeyResolver`] for how they fit together.
#[derive(Clone)]
pub struct CcfKeyResolverConfig {
    /// `{apiRoot}` of the CCF, `https://host[:port][/prefix]`.
    pub api_root: String,
    /// rustls client config for CAPIF-3: trusts the CCF's CA and presents the AEF's
    /// certificate (mutual authentication). Its ALPN list is replaced by `h2`, `http/1.1`
    /// (or `http/1.1` alone, see [`http2`](Self::http2)). Every connection to the CCF is
    /// made with this one config, so its session cache (`resumption`: rustls's in-memory
    /// cache by default) resumes earlier TLS sessions with the CCF instead of running a full
    /// handshake. Its crypto provider's `SecureRandom` also makes the decoy keys of unknown
    /// invokers.
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
    /// [`CcfKeyResolver::invalidate`] when you learn of a change (a [`RevocationHandler`]
    /// does so when the CCF sends TS 29.222 `revoke-authorization`). (A newer key, or a key of
    /// an invoker registered since its "unknown" answer was cached, is picked up sooner: a
    /// binder mismatch refetches, see `min_refresh_interval`.) Default 60 s.
    pub ttl: Duration,
    /// Time limit of one fetch (waiting for a fetch slot, connect and TLS when no pooled
    /// connection is free, request, body).
    /// Default 5 s.
    pub fetch_timeout: Duration,
    /// Fetches in flight at once (each is one CAPIF-3 request to the CCF). This is also the
    /// most connections to the CCF open at once (the pool size): with HTTP/1.1 each fetch in
    /// flight holds one, with HTTP/2 one carries them all. Default 16.
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
    /// Idle keep-alive connections to the CCF kept for later fetches (hyper-util's
    /// `pool_max_idle_per_host`). Fewer than `max_concurrent_fetches` means HTTP/1.1 bursts
    /// close and reopen connections (an HTTP/2 CCF needs one). 0 turns pooling off: one new
    /// connection (TCP and a TLS handshake, resumed when the session cache allows) per
    /// fetch. Default 16.
    pub pool_max_idle: usize,
    /// How long an idle connection to the CCF is kept before it is closed. Default 30 s.
    pub pool_idle_timeout: Duration,
    /// Offer HTTP/2 to the CCF by ALPN (`h2`, then `http/1.1`); HTTP/1.1 is spoken when the
    /// CCF does not select `h2`. `false`: offer `http/1.1` only. Default `true`.
    pub http2: bool,
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
            pool_max_idle: 16,
            pool_idle_timeout: Duration::from_secs(30),
            http2: true,
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
            .field("pool_max_idle", &self.pool_max_idle)
            .field("pool_idle_timeout", &self.pool_idle_timeout)
            .field("http2", &self.http2)
            .finish_non_exhaustive()
    }
}

/// The parsed `{apiRoot}`.
#[derive(Debug, Clone)]
pub(super) struct ApiRoot {
    pub(super) host: String,
    pub(super) port: u16,
    pub(super) authority: String,
    pub(super) prefix: String,
    pub(super) server_name: rustls_pki_types::ServerName<'static>,
}

/// `api_root` for error messages and `Debug`: anything between a `scheme://` and the last
/// `@` (credentials) becomes `…`, and a string with an `@` that does not start with a scheme
/// is not shown at all. Over-redacting is fine; showing a password is not.
pub(super) fn without_userinfo(api_root: &str) -> String {
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
    pub(super) fn parse(api_root: &str) -> Result<Self, Error> {
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
/// Each fetch is one `GET …/trustedInvokers/{apiInvokerId}` with `Accept: application/json,
/// application/problem+json` (TS 29.222 answers errors with a TS 29.122 `ProblemDetails`); the
/// answer is one of:
///
/// * **a key**: `200 OK` with a `securityInfo` entry for this AEF (by interface, else by
///   `aefId`) whose method is PSK and whose `authenticationInfo` holds an AEFPSK;
/// * **unknown**: `404 Not Found` (whatever its body, a `ProblemDetails` or none), or `200 OK`
///   with no entry for this AEF, or with this AEF's entry for another security method. Each
///   is a well-formed, authenticated statement from the CCF that this invoker has no PSK for
///   this AEF: what a handshake needs to know, and the same for an invoker registered
///   elsewhere as for one registered nowhere (an AEF that told them apart would tell the
///   client);
/// * **an error** ([`KeyDeliveryError`], not cached, the handshake is refused): the CCF
///   unreachable or slow, any other status, with or without a `ProblemDetails` body (whose
///   title and cause are logged at debug level; a `403` says this AEF may not ask, not that the
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
/// * **No amplification.** [`PskAcceptor`](crate::rt::tokio::PskAcceptor) looks up one identity
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
/// # Connections to the CCF
///
/// Fetches go through one pooled HTTP client (hyper-util's) per resolver: idle keep-alive
/// connections are reused (at most [`pool_max_idle`](CcfKeyResolverConfig::pool_max_idle),
/// closed after [`pool_idle_timeout`](CcfKeyResolverConfig::pool_idle_timeout)), HTTP/2 is
/// spoken when the CCF selects `h2` by ALPN ([`http2`](CcfKeyResolverConfig::http2)), and a
/// new connection resumes the TLS session of an earlier one (the one
/// [`tls`](CcfKeyResolverConfig::tls) config, and so its session cache, serves them all). So
/// a cold invoker's fetch is one HTTP round trip on an open connection, not a TCP and
/// mutual-TLS handshake. Each fetch in flight holds at most one connection: with the
/// defaults, at most `max_concurrent_fetches` connections are open, and with HTTP/2 one
/// carries every fetch, from a cold start too (while no connection has answered, fetches go
/// one at a time, so that a burst does not open a connection per fetch before ALPN says
/// `h2`).
///
/// The keys it caches and the response body it parses are zeroized, and cached keys sit
/// behind pointers so that a growing cache leaves no copy in freed memory; copies the key
/// passes through inside rustls's and hyper's I/O buffers are freed with the connection,
/// not wiped (a pooled connection lives until
/// [`pool_idle_timeout`](CcfKeyResolverConfig::pool_idle_timeout) after its last fetch, its
/// buffers overwritten by later fetches).
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
    /// The pooled HTTP client to the CCF (see [`super::client`]).
    client: CcfClient,
}

impl CcfKeyResolver {
    /// A resolver with `config`.
    pub fn new(mut config: CcfKeyResolverConfig) -> Result<Self, Error> {
        let root = ApiRoot::parse(&config.api_root)?;
        // Offer what the client speaks. The config is copied (once) only if its ALPN list
        // differs; either way every connection then shares this one Arc, and so its session
        // cache.
        let alpn = alpn_protocols(config.http2);
        if config.tls.alpn_protocols != alpn {
            let mut tls = (*config.tls).clone();
            tls.alpn_protocols = alpn;
            config.tls = Arc::new(tls);
        }
        let fetches = FetchQueue::new(config.max_concurrent_fetches, config.max_queued_fetches);
        let client = CcfClient::new(&config, &root);
        Ok(Self {
            inner: Arc::new(ResolverInner {
                config,
                root,
                cache: Mutex::new(Cache::default()),
                fetches,
                client,
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
        // hyper-util's client sets `Host` (HTTP/1.1) or `:authority` (HTTP/2) from the URI.
        let uri = format!(
            "https://{}{}/capif-security/v1/trustedInvokers/{invoker_id}?authenticationInfo=true",
            root.authority, root.prefix
        );
        let request = hyper::Request::get(uri)
            // A ServiceSecurity, or a ProblemDetails with an error status (TS 29.122).
            .header(hyper::header::ACCEPT, ACCEPT)
            .body(Empty::<Bytes>::new())
            .map_err(|e| KeyDeliveryError::MalformedResponse(format!("request: {e}")))?;
        let response = self.client.request(request).await.map_err(|e| {
            KeyDeliveryError::Unreachable(format!("CCF {}: {}", root.authority, error_chain(&e)))
        })?;
        let status = response.status().as_u16();
        match status {
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
            // "No such invoker" (a ProblemDetails body or any other: the status decides).
            // The body is read (bounded) so that the connection goes back to the pool.
            404 => {
                let _ = Limited::new(response.into_body(), MAX_RESPONSE_BODY)
                    .collect()
                    .await;
                Ok(Fetched::Unknown)
            }
            other => {
                log_problem(other, response.into_body()).await;
                Err(KeyDeliveryError::HttpStatus(other))
            }
        }
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
            .as_ref()
            .is_some_and(|m| *m != SecurityMethod::Psk)
        {
            return Ok(Fetched::Unknown);
        }
        entry.aef_psk().map(|k| Fetched::Key(Arc::new(k)))
    }
}

/// The `Accept` header of a CAPIF-3 request: the `ServiceSecurity` of a `200 OK`, and the
/// TS 29.122 `ProblemDetails` of an error answer.
pub(super) const ACCEPT: &str = "application/json, application/problem+json";

/// Logs (debug) what a CCF's error answer says, if its body is a `ProblemDetails`: the status
/// alone decides the outcome, the body only helps an operator. Read within the fetch's
/// deadline and size bound; quoted with `{:?}`, so nothing the CCF sends reaches the log
/// unescaped.
async fn log_problem(status: u16, body: hyper::body::Incoming) {
    let Ok(body) = Limited::new(body, MAX_RESPONSE_BODY).collect().await else {
        return;
    };
    if let Ok(problem) = serde_json::from_slice::<ProblemDetails>(&body.to_bytes()) {
        log::debug!(
            "CAPIF-3: the CCF answered HTTP {status}: ProblemDetails title {:?}, cause {:?}, \
             detail {:?}",
            problem.title,
            problem.cause,
            problem.detail
        );
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
