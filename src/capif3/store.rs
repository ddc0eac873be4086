//! The CCF side of CAPIF-3: [`CcfKeyStore`] keeps each invoker's latest CAPIF-1e session and
//! serves the AEFPSKs derived from it (TS 33.122 Annex A.1) as `ServiceSecurity` bodies,
//! bounded by [`CcfKeyStoreConfig`].

use core::fmt;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use zeroize::Zeroizing;

use super::model;
use super::*;
use crate::error::Error;
use crate::kdf::ServiceApiInterface;
use crate::secret::{AefPsk, ZeroizingBuf};

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

    /// Registers `source`; tells which earlier session ended by it, if any (the invoker's own,
    /// replaced, or the one evicted to make room).
    fn register(
        &self,
        invoker_id: &str,
        source: Arc<dyn AefPskSource>,
    ) -> Option<(Arc<str>, SessionEnd)> {
        let mut entries = self.live();
        let now = (self.clock)();
        let mut ended = None;
        if entries.remove(invoker_id) {
            ended = Some((Arc::from(invoker_id), SessionEnd::Replaced));
        } else if entries.invokers.len() >= self.config.max_invokers {
            if let Some(oldest) = entries.by_age.first_entry().map(|e| e.get().clone()) {
                entries.remove(&oldest);
                log::warn!(
                    "CCF key store full ({} invokers): evicted {oldest:?}, the registration closest to expiry",
                    self.config.max_invokers
                );
                ended = Some((oldest, SessionEnd::Evicted));
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
        ended
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
    /// Told when a session ends by replacement, removal or eviction (see [`Self::set_observer`]).
    observer: Mutex<Option<Arc<dyn SessionObserver>>>,
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
            observer: Mutex::new(None),
        }
    }

    /// Sets (or with `None` clears) the observer told when an invoker's session ends by
    /// replacement ([`Self::register_session`]), removal ([`Self::remove`]) or eviction from a
    /// full store, e.g. a [`RevocationNotifier`] that tells the AEFs at once (TS 29.222
    /// `revoke-authorization`). It is called after the store's lock is released; expiry by
    /// TTL is not reported.
    pub fn set_observer(&self, observer: Option<Arc<dyn SessionObserver>>) {
        *self.observer.lock().unwrap_or_else(|p| p.into_inner()) = observer;
    }

    fn session_ended(&self, invoker_id: &str, how: SessionEnd) {
        let observer = self
            .observer
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        if let Some(observer) = observer {
            observer.session_ended(invoker_id, how);
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
        if let Some((ended, how)) = self.storage.register(invoker_id, source) {
            self.session_ended(&ended, how);
        }
    }

    /// Forgets an invoker at once (offboarding). `false` if it was not known (or expired).
    pub fn remove(&self, invoker_id: &str) -> bool {
        let removed = self.storage.live().remove(invoker_id);
        if removed {
            self.session_ended(invoker_id, SessionEnd::Removed);
        }
        removed
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
    ///
    /// The body is valid against TS 29.222's schema: `notification_destination` is the
    /// invoker's notification URI (the one it gave when it created its `trustedInvokers`
    /// resource; TS 29.222 requires it), and must be an absolute URI; each interface is sent
    /// as [`InterfaceDescriptionJson::to_wire`] gives it (IPv6 in RFC 5952 hex form). An
    /// interface that P0 accepts but a body cannot name (an `fqdn` such as `localhost` or one
    /// with `_`, which TS 29.571's `Fqdn` refuses) is [`Error::InvalidInterface`], as is any
    /// interface without a P0; a bad URI is [`Error::InvalidConfig`]. Both are checked before
    /// the invoker is looked up.
    pub fn service_security_json(
        &self,
        invoker_id: &str,
        interfaces: &[InterfaceDescriptionJson],
        with_keys: bool,
        notification_destination: &str,
    ) -> Result<Option<Zeroizing<Vec<u8>>>, Error> {
        if !model::is_absolute_uri(notification_destination) {
            return Err(Error::InvalidConfig(
                "ServiceSecurity notificationDestination must be an absolute URI".into(),
            ));
        }
        let wire = interfaces
            .iter()
            .map(|details| Ok((details.service_api_interface()?, details.to_wire()?)))
            .collect::<Result<Vec<_>, Error>>()?;
        if !self.contains(invoker_id) {
            return Ok(None);
        }
        let mut security = ServiceSecurity {
            security_info: Vec::with_capacity(wire.len()),
            notification_destination: notification_destination.to_string(),
        };
        for (interface, details) in wire {
            let authentication_info = if with_keys {
                match self.aef_psk(invoker_id, &interface)? {
                    Some(psk) => Some(psk.to_authentication_info()),
                    None => return Ok(None),
                }
            } else {
                None
            };
            security.security_info.push(SecurityInformation {
                interface_details: Some(details),
                aef_id: None,
                pref_security_methods: vec![SecurityMethod::Psk],
                sel_security_method: Some(SecurityMethod::Psk),
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
            .service_security_json(invoker_id, &[details], true, "https://invoker.example/n")
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

    /// The observer hears of every replacement, removal and eviction, and of nothing else,
    /// after the store's lock is released (it may call the store).
    #[test]
    fn observer_hears_replacement_removal_and_eviction() {
        struct Recorder(Mutex<Vec<(String, SessionEnd)>>, Arc<CcfKeyStore>);
        impl SessionObserver for Recorder {
            fn session_ended(&self, invoker_id: &str, how: SessionEnd) {
                // Would deadlock if called under the store's lock.
                let _ = self.1.contains(invoker_id);
                self.0.lock().unwrap().push((invoker_id.to_string(), how));
            }
        }
        let clock = TestClock::new();
        let config = CcfKeyStoreConfig {
            max_invokers: 2,
            ..Default::default()
        };
        let store = Arc::new(store(config, &clock));
        let recorder = Arc::new(Recorder(Mutex::new(Vec::new()), store.clone()));
        store.set_observer(Some(recorder.clone()));
        store.register_session("a", Counting::new(1));
        store.register_session("b", Counting::new(2));
        assert!(
            recorder.0.lock().unwrap().is_empty(),
            "first sessions end nothing"
        );
        store.register_session("a", Counting::new(3));
        store.register_session("c", Counting::new(4)); // evicts b, the oldest registration
        assert!(store.remove("a"));
        assert!(!store.remove("nobody"));
        assert_eq!(
            *recorder.0.lock().unwrap(),
            [
                ("a".to_string(), SessionEnd::Replaced),
                ("b".to_string(), SessionEnd::Evicted),
                ("a".to_string(), SessionEnd::Removed),
            ]
        );
        store.set_observer(None);
        store.register_session("c", Counting::new(5));
        assert_eq!(recorder.0.lock().unwrap().len(), 3);
    }
}
