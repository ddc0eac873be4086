//! The CCF side of CAPIF-3: [`CcfKeyStore`] keeps each invoker's latest CAPIF-1e session and
//! serves the AEFPSKs derived from it (TS 33.122 Annex A.1) as `ServiceSecurity` bodies
//! (TS 29.222 `CAPIF_Security_API`), bounded by [`CcfKeyStoreConfig`].
//!
//! The store is a front over a storage backend (the crate-internal `KeyStorage` trait):
//!
//! * `memory` (the default, [`CcfKeyStore::default`] / [`CcfKeyStore::with_config`]): a bounded
//!   table in this process — one CCF instance.
//! * `redis` (feature `redis`, `CcfKeyStore::redis`): one sealed entry per invoker in Redis 7
//!   or Valkey, shared by every CCF replica — what one replica registers after CAPIF-1e, any
//!   replica serves on CAPIF-3. See `RedisStoreConfig` for the sealing and the operator's
//!   key-encryption key.

use core::fmt;
use core::future::Future;
use core::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use zeroize::Zeroizing;

use super::model;
use super::*;
use crate::capif1e::SessionInputs;
use crate::error::{Error, KeyStoreError};
use crate::kdf::ServiceApiInterface;
use crate::secret::{AefPsk, ZeroizingBuf};

mod memory;
#[cfg(feature = "redis")]
mod redis;

use memory::{Clock, MemoryKeyStorage};
#[cfg(feature = "redis")]
pub use redis::{KeyEncryptionKey, RedisStoreConfig};

/// Something that derives AEFPSKs for AEF interfaces: a CAPIF-1e session.
pub trait AefPskSource: Send + Sync {
    /// The AEFPSK for `interface`. The same interface must always give the same key: a
    /// [`CcfKeyStore`] derives again a key it dropped from its per-invoker cache.
    fn derive_aef_psk(&self, interface: &ServiceApiInterface) -> Result<AefPsk, Error>;

    /// The derivation inputs a store shared by CCF replicas (Redis) seals and keeps, so that
    /// any replica derives the same keys. The default refuses with
    /// [`KeyStoreError::NotShareable`]: only a [`Capif1eSession`](crate::capif1e::Capif1eSession)
    /// can be shared. The in-memory store never asks.
    fn shared_inputs(&self) -> Result<SharedInputs, Error> {
        Err(KeyStoreError::NotShareable.into())
    }
}

impl AefPskSource for crate::capif1e::Capif1eSession {
    fn derive_aef_psk(&self, interface: &ServiceApiInterface) -> Result<AefPsk, Error> {
        crate::capif1e::Capif1eSession::derive_aef_psk(self, interface)
    }

    /// The session's Annex A.1 `Key` (TLS 1.2 master secret, or the TLS 1.3 profile's exporter
    /// value) and Session ID; fails like `derive_aef_psk` if the policy forbids deriving.
    fn shared_inputs(&self) -> Result<SharedInputs, Error> {
        self.export_inputs().map(SharedInputs)
    }
}

/// The derivation inputs of a CAPIF-1e session as a shared store keeps them (sealed): opaque,
/// zeroized on drop, redacted in `Debug`, with no accessor — applications never touch key
/// material. Made only by [`AefPskSource::shared_inputs`] of a
/// [`Capif1eSession`](crate::capif1e::Capif1eSession).
pub struct SharedInputs(#[cfg_attr(not(feature = "redis"), allow(dead_code))] SessionInputs);

impl fmt::Debug for SharedInputs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SharedInputs([redacted])")
    }
}

/// Derived keys, each in its own box: moving or dropping the list moves pointers, never key
/// octets, so no copy is left in a freed block (each box zeroizes its key when dropped).
#[allow(clippy::vec_box)] // boxed on purpose, see above
pub(crate) type DerivedKeys = Vec<Box<AefPsk>>;

/// What a storage operation gives back, later: a boxed future (no `async-trait` crate). The
/// in-memory backend returns ready futures; the Redis backend awaits the server.
pub(crate) type StorageFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, Error>> + Send + 'a>>;

/// Where a [`CcfKeyStore`] keeps its sessions: one entry per invoker, the newest replacing the
/// older, gone after the TTL or at removal. Crate-internal: `memory` and `redis`.
pub(crate) trait KeyStorage: Send + Sync {
    /// Records `source` as the invoker's session (TTL from now); tells which earlier session
    /// ended by it, if any (the invoker's own, replaced, or one evicted to make room).
    fn register<'a>(
        &'a self,
        invoker_id: &'a str,
        source: Arc<dyn AefPskSource>,
    ) -> StorageFuture<'a, Option<(Arc<str>, SessionEnd)>>;

    /// Forgets the invoker; `false` if it was not known.
    fn remove<'a>(&'a self, invoker_id: &'a str) -> StorageFuture<'a, bool>;

    /// Whether the invoker has a live, usable entry.
    fn contains<'a>(&'a self, invoker_id: &'a str) -> StorageFuture<'a, bool>;

    /// The invoker's AEFPSKs for `interfaces`, in order; `None`: unknown invoker. Each key is
    /// boxed: moving the list moves pointers, never key octets, so no copy is left in a freed
    /// block (the box zeroizes its key when dropped).
    fn aef_psks<'a>(
        &'a self,
        invoker_id: &'a str,
        interfaces: &'a [ServiceApiInterface],
    ) -> StorageFuture<'a, Option<DerivedKeys>>;

    /// Number of invokers held.
    fn len(&self) -> StorageFuture<'_, usize>;

    /// Drops what has expired now; how many (a backend that expires by itself: 0).
    fn purge_expired(&self) -> usize;

    /// The backend's name, for `Debug`.
    fn backend(&self) -> &'static str;

    /// The in-memory backend, for unit tests that look inside.
    #[cfg(test)]
    fn memory(&self) -> Option<&MemoryKeyStorage> {
        None
    }
}

/// The bounds of a [`CcfKeyStore`]: how long an invoker's CAPIF-1e session serves CAPIF-3,
/// how many invokers it holds, and how many derived keys it keeps per invoker.
///
/// `session_ttl` applies to every backend; `max_invokers` and `max_keys_per_invoker` bound the
/// in-memory backend (the default). A Redis store (`CcfKeyStore::redis`) keeps no key and
/// no session in the CCF's memory: Redis holds one sealed entry per invoker, which expires
/// with the TTL (Redis's own `maxmemory` bounds the server).
///
/// Whatever the callers do, the in-memory store holds at most `max_invokers` invokers with at most
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
    /// the store, or at once with [`CcfKeyStore::purge_expired`]. In Redis, the entry is set
    /// with this TTL (`SET ... PX`) and Redis expires it.
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
    pub(crate) fn check(&self) -> Result<(), Error> {
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

/// The CCF's store of AEFPSKs, keyed by API invoker ID and AEF interface.
///
/// Each invoker has one current CAPIF-1e session; registering a newer one replaces every key
/// derived from the older (TS 33.122: the AEFPSK follows the latest CAPIF-1e session). Keys
/// are derived on first request ("the CCF may delay this until an AEF asks").
///
/// Two backends, one API (the methods that touch storage are `async`):
///
/// * in memory (the default): bounded by [`CcfKeyStoreConfig`] — a session serves for a TTL
///   from its registration, the number of invokers is capped (a new invoker in a full store
///   evicts the registration closest to expiry), and so is the number of keys cached per
///   invoker (evicted keys are derived again on demand). Keys are held in zeroizing boxes, so
///   no copy is left in freed memory when the maps grow. Its futures are ready at once.
/// * Redis (feature `redis`, `CcfKeyStore::redis`): shared by CCF replicas; each invoker's
///   session inputs are sealed (AES-256-GCM under the operator's key-encryption key) in one
///   Redis key with the TTL; every fetch reads and opens it, so a newer session registered at
///   any replica, or a removal, holds everywhere at once. When Redis cannot be reached the
///   methods fail with [`KeyStoreError::Unavailable`] (a CCF answers CAPIF-3 with 503).
///
/// An expired, evicted or removed invoker is unknown: `None` here, 404 on CAPIF-3.
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
/// # async fn demo() -> Result<(), rustls_capif::Error> {
/// let store = CcfKeyStore::default();
/// let aef = ServiceApiInterface::parse("aef.example.com:443")?;
/// store.register_session("invoker-1", Arc::new(Fixed(1))).await?;
/// let old = store.aef_psk("invoker-1", &aef).await?.unwrap();
/// store.register_session("invoker-1", Arc::new(Fixed(2))).await?; // a newer CAPIF-1e session
/// assert_ne!(store.aef_psk("invoker-1", &aef).await?.unwrap(), old);
/// assert!(store.aef_psk("nobody", &aef).await?.is_none());
/// # Ok(()) }
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(demo()).unwrap();
/// ```
pub struct CcfKeyStore {
    storage: Box<dyn KeyStorage>,
    config: CcfKeyStoreConfig,
    /// Told when a session ends by replacement, removal or eviction (see [`Self::set_observer`]).
    observer: Mutex<Option<Arc<dyn SessionObserver>>>,
}

impl Default for CcfKeyStore {
    /// An in-memory store with the default [`CcfKeyStoreConfig`].
    fn default() -> Self {
        Self::with_clock(CcfKeyStoreConfig::default(), Arc::new(Instant::now))
    }
}

impl CcfKeyStore {
    /// An in-memory store with the bounds of `config` (refused if the TTL or `max_invokers` is
    /// zero).
    pub fn with_config(config: CcfKeyStoreConfig) -> Result<Self, Error> {
        config.check()?;
        Ok(Self::with_clock(config, Arc::new(Instant::now)))
    }

    fn with_clock(config: CcfKeyStoreConfig, clock: Clock) -> Self {
        Self::with_storage(
            Box::new(MemoryKeyStorage::new(config.clone(), clock)),
            config,
        )
    }

    fn with_storage(storage: Box<dyn KeyStorage>, config: CcfKeyStoreConfig) -> Self {
        Self {
            storage,
            config,
            observer: Mutex::new(None),
        }
    }

    /// A store shared by CCF replicas on Redis 7 / Valkey (feature `redis`): sessions expire
    /// with `config.session_ttl` (Redis TTL); see [`RedisStoreConfig`] for the server, the
    /// timeouts and the key-encryption key. Call it within a tokio runtime. It connects on
    /// first use and reconnects by itself, so it can be made while Redis is down; a bad URL or
    /// configuration is [`Error::InvalidConfig`].
    #[cfg(feature = "redis")]
    pub fn redis(config: CcfKeyStoreConfig, redis: RedisStoreConfig) -> Result<Self, Error> {
        config.check()?;
        let storage = redis::RedisKeyStorage::new(config.session_ttl, redis)?;
        Ok(Self::with_storage(Box::new(storage), config))
    }

    /// Sets (or with `None` clears) the observer told when an invoker's session ends by
    /// replacement ([`Self::register_session`]), removal ([`Self::remove`]) or eviction from a
    /// full store, e.g. a [`RevocationNotifier`] that tells the AEFs at once (TS 29.222
    /// `revoke-authorization`). It is called after the store's lock is released; expiry by
    /// TTL is not reported. With Redis, the replica that registered the newer session (or
    /// removed the invoker) is the one that tells.
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
        &self.config
    }

    /// Records the invoker's newest CAPIF-1e session, replacing older keys; its TTL starts
    /// now. A new invoker in a full in-memory store evicts the registration closest to expiry
    /// (see [`CcfKeyStoreConfig::max_invokers`]).
    ///
    /// The in-memory store never fails. A Redis store fails with
    /// [`KeyStoreError::Unavailable`] (nothing recorded: the invoker should not be told it
    /// can use CAPIF-2e), [`KeyStoreError::NotShareable`] for a source that is not a
    /// `Capif1eSession`, and with the session's own error if its policy forbids deriving.
    pub async fn register_session(
        &self,
        invoker_id: &str,
        source: Arc<dyn AefPskSource>,
    ) -> Result<(), Error> {
        if let Some((ended, how)) = self.storage.register(invoker_id, source).await? {
            self.session_ended(&ended, how);
        }
        Ok(())
    }

    /// Forgets an invoker at once (offboarding). `false` if it was not known (or expired).
    pub async fn remove(&self, invoker_id: &str) -> Result<bool, Error> {
        let removed = self.storage.remove(invoker_id).await?;
        if removed {
            self.session_ended(invoker_id, SessionEnd::Removed);
        }
        Ok(removed)
    }

    /// Whether the invoker is known (registered, not expired, not evicted, not removed; with
    /// Redis, its entry also opens).
    pub async fn contains(&self, invoker_id: &str) -> Result<bool, Error> {
        self.storage.contains(invoker_id).await
    }

    /// Number of invokers known. With Redis this walks the store's keys (`SCAN`): an
    /// operator's figure, not for a request path.
    pub async fn len(&self) -> Result<usize, Error> {
        self.storage.len().await
    }

    /// Whether no invoker is known.
    pub async fn is_empty(&self) -> Result<bool, Error> {
        Ok(self.len().await? == 0)
    }

    /// Drops the in-memory entries whose TTL has passed now, with their keys and sessions,
    /// and tells how many. Every other call does this too; a CCF that may go quiet for long
    /// can call it from a timer so that no master secret outlives its TTL by much. Redis
    /// expires its entries itself: 0.
    pub fn purge_expired(&self) -> usize {
        self.storage.purge_expired()
    }

    /// The AEFPSK of `invoker_id` for `interface` (`None`: unknown invoker).
    pub async fn aef_psk(
        &self,
        invoker_id: &str,
        interface: &ServiceApiInterface,
    ) -> Result<Option<AefPsk>, Error> {
        let keys = self
            .storage
            .aef_psks(invoker_id, core::slice::from_ref(interface))
            .await?;
        // Cloned out of its box, which is then dropped (zeroized): not moved out of the heap.
        Ok(keys.and_then(|keys| keys.first().map(|psk| AefPsk::clone(psk))))
    }

    /// The `ServiceSecurity` body for `GET .../trustedInvokers/{invoker_id}` covering the
    /// given AEF interfaces, with `authenticationInfo` if `with_keys`. `None`: unknown invoker
    /// (answer 404). The JSON text holds keys: it is written into a buffer that wipes every
    /// block it outgrows, and is zeroized on drop (copies the HTTP stack makes to send it are
    /// not). One storage read per call (one Redis round trip).
    ///
    /// The body is valid against TS 29.222's schema: `notification_destination` is the
    /// invoker's notification URI (the one it gave when it created its `trustedInvokers`
    /// resource; TS 29.222 requires it), and must be an absolute URI; each interface is sent
    /// as [`InterfaceDescriptionJson::to_wire`] gives it (IPv6 in RFC 5952 hex form). An
    /// interface that P0 accepts but a body cannot name (an `fqdn` such as `localhost` or one
    /// with `_`, which TS 29.571's `Fqdn` refuses) is [`Error::InvalidInterface`], as is any
    /// interface without a P0; a bad URI is [`Error::InvalidConfig`]. Both are checked before
    /// the invoker is looked up. A store that cannot be read is [`Error::KeyStore`] (answer
    /// 503 for [`KeyStoreError::Unavailable`]).
    pub async fn service_security_json(
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
        let (p0s, wire): (Vec<_>, Vec<_>) = interfaces
            .iter()
            .map(|details| Ok((details.service_api_interface()?, details.to_wire()?)))
            .collect::<Result<Vec<_>, Error>>()?
            .into_iter()
            .unzip();
        let keys: Vec<Option<Box<AefPsk>>> = if with_keys {
            match self.storage.aef_psks(invoker_id, &p0s).await? {
                Some(keys) => keys.into_iter().map(Some).collect(),
                None => return Ok(None),
            }
        } else if self.storage.contains(invoker_id).await? {
            wire.iter().map(|_| None).collect()
        } else {
            return Ok(None);
        };
        let mut security = ServiceSecurity {
            security_info: Vec::with_capacity(wire.len()),
            notification_destination: notification_destination.to_string(),
        };
        for (details, key) in wire.into_iter().zip(keys) {
            security.security_info.push(SecurityInformation {
                interface_details: Some(details),
                aef_id: None,
                pref_security_methods: vec![SecurityMethod::Psk],
                sel_security_method: Some(SecurityMethod::Psk),
                authentication_info: key.map(|psk| psk.to_authentication_info()),
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
            .field("backend", &self.storage.backend())
            .field("config", self.config())
            .finish()
    }
}
