//! The in-memory backend of [`CcfKeyStore`](super::CcfKeyStore) (the default): one bounded
//! table per process, with each invoker's CAPIF-1e session, its expiry (TTL) and a small cache
//! of the AEFPSKs derived from it (TS 33.122 Annex A.1). Nothing leaves the process, so nothing
//! is sealed; keys live in zeroizing boxes.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use super::{AefPskSource, CcfKeyStoreConfig, DerivedKeys, KeyStorage, StorageFuture};
use crate::capif3::SessionEnd;
use crate::error::Error;
use crate::kdf::ServiceApiInterface;
use crate::secret::AefPsk;

/// Where the store reads the time (a test clock in unit tests). Must be monotonic.
pub(super) type Clock = Arc<dyn Fn() -> Instant + Send + Sync>;

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

/// The bounded in-memory storage under a [`CcfKeyStore`](super::CcfKeyStore): one entry per
/// invoker with its session, its expiry and its cache of derived keys.
pub(crate) struct MemoryKeyStorage {
    config: CcfKeyStoreConfig,
    clock: Clock,
    entries: Mutex<Entries>,
}

impl MemoryKeyStorage {
    pub(super) fn new(config: CcfKeyStoreConfig, clock: Clock) -> Self {
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
    fn register_now(
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

    /// The keys of `invoker_id` for `interfaces`, in order (`None`: unknown invoker).
    fn aef_psks_now(
        &self,
        invoker_id: &str,
        interfaces: &[ServiceApiInterface],
    ) -> Result<Option<DerivedKeys>, Error> {
        let mut entries = self.live();
        let Some(entry) = entries.invokers.get_mut(invoker_id) else {
            return Ok(None);
        };
        let mut keys = Vec::with_capacity(interfaces.len());
        for interface in interfaces {
            keys.push(self.aef_psk(entry, interface)?);
        }
        Ok(Some(keys))
    }

    fn aef_psk(
        &self,
        entry: &mut InvokerEntry,
        interface: &ServiceApiInterface,
    ) -> Result<Box<AefPsk>, Error> {
        if let Some((_, psk)) = entry.derived.iter().find(|(i, _)| i == interface) {
            return Ok(psk.clone());
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
        Ok(Box::new(psk))
    }

    #[cfg(test)]
    pub(super) fn cached_keys(&self, invoker_id: &str) -> usize {
        self.live().invokers[invoker_id].derived.len()
    }
}

/// Every operation is done at once under the table's lock: the future is ready when made
/// (one small allocation, no await point).
impl KeyStorage for MemoryKeyStorage {
    fn register<'a>(
        &'a self,
        invoker_id: &'a str,
        source: Arc<dyn AefPskSource>,
    ) -> StorageFuture<'a, Option<(Arc<str>, SessionEnd)>> {
        Box::pin(core::future::ready(Ok(
            self.register_now(invoker_id, source)
        )))
    }

    fn remove<'a>(&'a self, invoker_id: &'a str) -> StorageFuture<'a, bool> {
        Box::pin(core::future::ready(Ok(self.live().remove(invoker_id))))
    }

    fn contains<'a>(&'a self, invoker_id: &'a str) -> StorageFuture<'a, bool> {
        Box::pin(core::future::ready(Ok(self
            .live()
            .invokers
            .contains_key(invoker_id))))
    }

    fn aef_psks<'a>(
        &'a self,
        invoker_id: &'a str,
        interfaces: &'a [ServiceApiInterface],
    ) -> StorageFuture<'a, Option<DerivedKeys>> {
        Box::pin(core::future::ready(
            self.aef_psks_now(invoker_id, interfaces),
        ))
    }

    fn len(&self) -> StorageFuture<'_, usize> {
        Box::pin(core::future::ready(Ok(self.live().invokers.len())))
    }

    fn purge_expired(&self) -> usize {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries.purge_expired((self.clock)())
    }

    fn backend(&self) -> &'static str {
        "memory"
    }

    #[cfg(test)]
    fn memory(&self) -> Option<&MemoryKeyStorage> {
        Some(self)
    }
}

#[cfg(test)]
mod store_tests {
    use super::super::{CcfKeyStore, CcfKeyStoreConfig};
    use super::*;
    use crate::capif3::{InterfaceDescriptionJson, SessionObserver};
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

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
        store.storage.memory().unwrap().cached_keys(invoker_id)
    }

    /// The output of a future that is ready at once (the in-memory store's always are).
    fn now<F: core::future::Future>(fut: F) -> F::Output {
        let mut fut = core::pin::pin!(fut);
        let mut cx = core::task::Context::from_waker(core::task::Waker::noop());
        match fut.as_mut().poll(&mut cx) {
            core::task::Poll::Ready(out) => out,
            core::task::Poll::Pending => panic!("the in-memory store's future was not ready"),
        }
    }

    fn body(store: &CcfKeyStore, invoker_id: &str) -> Option<zeroize::Zeroizing<Vec<u8>>> {
        let details = InterfaceDescriptionJson {
            fqdn: Some("aef.example".into()),
            port: Some(1),
            ..Default::default()
        };
        now(store.service_security_json(invoker_id, &[details], true, "https://invoker.example/n"))
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
        now(store.register_session("inv-1", source.clone())).unwrap();
        let first = now(store.aef_psk("inv-1", &aef(1))).unwrap().unwrap();
        for port in 2..=10 {
            now(store.aef_psk("inv-1", &aef(port))).unwrap().unwrap();
            assert!(cached_keys(&store, "inv-1") <= 3);
        }
        assert_eq!(cached_keys(&store, "inv-1"), 3);
        assert_eq!(source.derivations(), 10);
        // The newest three are cached: no derivation.
        for port in 8..=10 {
            now(store.aef_psk("inv-1", &aef(port))).unwrap().unwrap();
        }
        assert_eq!(source.derivations(), 10);
        // The first was evicted: derived again, the same key.
        assert_eq!(
            now(store.aef_psk("inv-1", &aef(1))).unwrap().unwrap(),
            first
        );
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
        now(none.register_session("inv-1", source.clone())).unwrap();
        assert_eq!(now(none.aef_psk("inv-1", &aef(1))).unwrap().unwrap(), first);
        assert_eq!(now(none.aef_psk("inv-1", &aef(1))).unwrap().unwrap(), first);
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
            now(store.register_session(id, Counting::new(1))).unwrap();
            clock.advance(Duration::from_secs(1));
        }
        let a = Counting::new(1);
        now(store.register_session("a", a.clone())).unwrap(); // a newer session of a: order b, c, a
        assert_eq!(now(store.len()).unwrap(), 3);
        now(store.register_session("d", Counting::new(1))).unwrap(); // full: b goes
        assert_eq!(now(store.len()).unwrap(), 3);
        assert!(!now(store.contains("b")).unwrap());
        assert_eq!(now(store.aef_psk("b", &aef(1))).unwrap(), None);
        assert!(body(&store, "b").is_none(), "CAPIF-3 answers 404");
        assert!(
            now(store.contains("a")).unwrap()
                && now(store.contains("c")).unwrap()
                && now(store.contains("d")).unwrap()
        );
        assert!(now(store.aef_psk("a", &aef(1))).unwrap().is_some());
        assert_eq!(a.derivations(), 1, "a's newer session is the one kept");
        now(store.register_session("b", Counting::new(1))).unwrap(); // b again: c goes
        assert!(!now(store.contains("c")).unwrap());
        assert!(
            now(store.contains("a")).unwrap()
                && now(store.contains("b")).unwrap()
                && now(store.contains("d")).unwrap()
        );
        // Removal is immediate and frees a place: nobody is evicted.
        assert!(now(store.remove("a")).unwrap());
        assert!(!now(store.remove("a")).unwrap());
        now(store.register_session("e", Counting::new(1))).unwrap();
        assert!(
            now(store.contains("b")).unwrap()
                && now(store.contains("d")).unwrap()
                && now(store.contains("e")).unwrap()
        );
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
        now(store.register_session("a", a.clone())).unwrap();
        clock.advance(Duration::from_secs(5));
        now(store.register_session("b", Counting::new(2))).unwrap();
        clock.advance(Duration::from_secs(5) - Duration::from_millis(1));
        assert!(now(store.aef_psk("a", &aef(1))).unwrap().is_some());
        assert!(body(&store, "a").is_some());
        clock.advance(Duration::from_millis(1)); // a's TTL is over
        assert_eq!(now(store.aef_psk("a", &aef(1))).unwrap(), None);
        assert!(body(&store, "a").is_none(), "CAPIF-3 answers 404");
        assert!(!now(store.contains("a")).unwrap() && now(store.contains("b")).unwrap());
        assert_eq!(Arc::strong_count(&a), 1, "the expired session is dropped");
        // b registers again: its TTL starts anew.
        now(store.register_session("b", Counting::new(3))).unwrap();
        clock.advance(Duration::from_secs(9));
        assert!(now(store.contains("b")).unwrap());
        now(store.register_session("c", Counting::new(4))).unwrap();
        clock.advance(Duration::from_secs(1)); // b expires, c does not
        assert!(!now(store.contains("b")).unwrap() && now(store.contains("c")).unwrap());
        // purge_expired drops what has expired without any other call.
        clock.advance(ttl);
        assert_eq!(store.purge_expired(), 1);
        assert!(now(store.is_empty()).unwrap());
        // A TTL past what an Instant can hold never expires (and does not panic).
        let forever = self::store(
            CcfKeyStoreConfig {
                session_ttl: Duration::MAX,
                ..Default::default()
            },
            &clock,
        );
        now(forever.register_session("a", Counting::new(1))).unwrap();
        clock.advance(Duration::from_secs(365 * 24 * 3600));
        assert!(now(forever.contains("a")).unwrap());
    }

    /// The observer hears of every replacement, removal and eviction, and of nothing else,
    /// after the store's lock is released (it may call the store).
    #[test]
    fn observer_hears_replacement_removal_and_eviction() {
        struct Recorder(Mutex<Vec<(String, SessionEnd)>>, Arc<CcfKeyStore>);
        impl SessionObserver for Recorder {
            fn session_ended(&self, invoker_id: &str, how: SessionEnd) {
                // Would deadlock if called under the store's lock.
                let _ = now(self.1.contains(invoker_id)).unwrap();
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
        now(store.register_session("a", Counting::new(1))).unwrap();
        now(store.register_session("b", Counting::new(2))).unwrap();
        assert!(
            recorder.0.lock().unwrap().is_empty(),
            "first sessions end nothing"
        );
        now(store.register_session("a", Counting::new(3))).unwrap();
        now(store.register_session("c", Counting::new(4))).unwrap(); // evicts b, the oldest registration
        assert!(now(store.remove("a")).unwrap());
        assert!(!now(store.remove("nobody")).unwrap());
        assert_eq!(
            *recorder.0.lock().unwrap(),
            [
                ("a".to_string(), SessionEnd::Replaced),
                ("b".to_string(), SessionEnd::Evicted),
                ("a".to_string(), SessionEnd::Removed),
            ]
        );
        store.set_observer(None);
        now(store.register_session("c", Counting::new(5))).unwrap();
        assert_eq!(recorder.0.lock().unwrap().len(), 3);
    }
}
