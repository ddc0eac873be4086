//! The Redis backend of [`CcfKeyStore`](super::CcfKeyStore) (feature `redis`): one sealed
//! entry per invoker in Redis 7 / Valkey, shared by every CCF replica, so that what one replica
//! registers after CAPIF-1e any replica serves on CAPIF-3 (TS 29.222 `CAPIF_Security_API`).
//!
//! An entry holds the invoker's CAPIF-1e derivation inputs (TS 33.122 Annex A.1 `Key` and
//! P1), never a derived AEFPSK, sealed with AES-256-GCM (NIST SP 800-38D) under the operator's
//! [`KeyEncryptionKey`]:
//!
//! ```text
//! key   = {key_prefix}{api_invoker_id}          SET key value PX session_ttl GET | GET | DEL
//! value = 0x01 (format) || not_after (8) || nonce (12, random)
//!         || AES-256-GCM(KEK, nonce, aad, inputs) || tag (16)
//! aad   = "rustls-capif ccf-key-store" || 0x00 || 0x01 (format)
//!         || len(key_prefix) (2) || key_prefix || not_after (8) || api_invoker_id
//! ```
//!
//! The invoker ID in the associated data binds an entry to its key: a value moved to another
//! invoker's key (or to another deployment's key prefix) does not open. `not_after` (ms since
//! the Unix epoch, big-endian; all ones: never) is the end of the session TTL, in the clear and
//! authenticated: an entry is refused after it even if someone with write access to Redis (but
//! not the KEK) puts it back, so an expired session cannot be revived from an old dump. (A
//! replaced session can still be put back before its own `not_after`: that needs a writer of
//! Redis, and is bounded by the TTL.) `not_after` is set by the replica that registers and
//! checked by the one that serves, so their clocks must agree (NTP): a skew moves the end of a
//! session by as much. The AEAD is aws-lc-rs's or ring's (the crate behind the rustls
//! provider feature); the nonce comes from the rustls provider's secure random.

use core::fmt;
use std::sync::Arc;
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use zeroize::Zeroizing;

#[cfg(feature = "aws-lc-rs")]
use aws_lc_rs::aead;
#[cfg(all(feature = "ring", not(feature = "aws-lc-rs")))]
use ring::aead;
#[cfg(not(any(feature = "aws-lc-rs", feature = "ring")))]
compile_error!(
    "the `redis` feature seals entries with AES-256-GCM from aws-lc-rs or ring: enable the \
     `aws-lc-rs` or the `ring` feature too"
);

use super::{AefPskSource, DerivedKeys, KeyStorage, SharedInputs, StorageFuture};
use crate::capif1e::SessionInputs;
use crate::capif3::SessionEnd;
use crate::error::{Error, KeyStoreError};
use crate::kdf::ServiceApiInterface;

/// Format version of a sealed entry (its first octet, and part of the associated data).
const FORMAT_V1: u8 = 1;
/// Domain-separation label of the associated data.
const AAD_LABEL: &[u8] = b"rustls-capif ccf-key-store";
const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;
/// `not_after` octets.
const NOT_AFTER_LEN: usize = 8;
/// `not_after` of an entry that never expires.
const NEVER: u64 = u64::MAX;
/// Octets before the ciphertext: format, not_after, nonce.
const HEADER_LEN: usize = 1 + NOT_AFTER_LEN + NONCE_LEN;
/// Largest value opened: the header, the longest inputs and a tag.
pub(crate) const MAX_VALUE_LEN: usize = HEADER_LEN + SessionInputs::MAX_ENCODED_LEN + TAG_LEN;

/// The operator's key-encryption key (KEK) of a Redis [`CcfKeyStore`](super::CcfKeyStore):
/// 32 octets for AES-256-GCM, zeroized on drop, `[redacted]` in `Debug`, with no accessor.
///
/// Every CCF replica sharing a Redis must have the same KEK: it is what keeps the master
/// secrets and AEFPSKs out of Redis, its dumps, its replicas and its backups. Supply it like
/// any other secret of the CCF — from a secret manager or a file readable by the CCF alone —
/// as 64 hex digits ([`from_hex`](Self::from_hex)) or raw octets
/// ([`from_bytes`](Self::from_bytes)); generate one with `openssl rand -hex 32`. Never put it
/// in Redis or in a command line. Changing it makes every stored entry unreadable (each
/// invoker is unknown until it registers again: a re-onboarding of sessions, not of invokers).
///
/// ```
/// use rustls_capif::capif3::KeyEncryptionKey;
/// let kek = KeyEncryptionKey::from_hex(&"ab".repeat(32))?;
/// assert_eq!(format!("{kek:?}"), "KeyEncryptionKey([redacted])");
/// assert!(KeyEncryptionKey::from_hex("abcd").is_err());
/// # Ok::<(), rustls_capif::Error>(())
/// ```
#[derive(Clone)]
pub struct KeyEncryptionKey(Zeroizing<[u8; 32]>);

impl KeyEncryptionKey {
    /// Length of the key in octets (AES-256).
    pub const LEN: usize = 32;

    /// Wraps 32 key octets.
    pub fn from_bytes(bytes: [u8; Self::LEN]) -> Self {
        Self(Zeroizing::new(bytes))
    }

    /// Parses 64 hexadecimal digits (either case; surrounding whitespace ignored). Errors never
    /// echo the input.
    pub fn from_hex(hex: &str) -> Result<Self, Error> {
        let bytes = crate::secret::decode_hex(hex.trim())?;
        let mut key = Zeroizing::new([0u8; Self::LEN]);
        if bytes.len() != Self::LEN {
            return Err(Error::InvalidHex(
                "a key-encryption key is exactly 64 hex digits",
            ));
        }
        key.copy_from_slice(&bytes);
        Ok(Self(key))
    }

    /// A fresh random key from the crypto provider's secure random: for tests and demos. A
    /// random KEK lives only as long as the process, and replicas that do not share it cannot
    /// read each other's entries.
    pub fn generate() -> Result<Self, Error> {
        let mut key = Zeroizing::new([0u8; Self::LEN]);
        crate::default_provider()
            .secure_random
            .fill(&mut key[..])
            .map_err(|_| Error::InvalidState("the crypto provider gave no randomness"))?;
        Ok(Self(key))
    }
}

impl fmt::Debug for KeyEncryptionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("KeyEncryptionKey([redacted])")
    }
}

/// Where and how a [`CcfKeyStore::redis`](super::CcfKeyStore::redis) keeps its entries.
///
/// Operating notes:
///
/// * One Redis key per invoker, `{key_prefix}{api_invoker_id}`, set with the store's
///   `session_ttl` (`SET ... PX`); a newer session overwrites it, removal deletes it. The value
///   is sealed (AES-256-GCM, see [`KeyEncryptionKey`]): dumps, RDB/AOF files, replicas and
///   backups hold only ciphertext, so persistence may be on or off as the operator prefers.
/// * Bounds: every command has `command_timeout`; a value larger than the largest sealed entry
///   is refused before it is opened. Size Redis with `maxmemory` (an entry is under 200
///   octets plus Redis's own overhead) and prefer `maxmemory-policy noeviction` or
///   `volatile-ttl`: an evicted entry makes its invoker unknown (CAPIF-3 404) until it
///   registers again.
/// * Outage: operations fail with [`KeyStoreError::Unavailable`] within the timeouts (CAPIF-1e
///   registration refused, CAPIF-3 answers 503, the AEF refuses the handshake); the connection
///   comes back by itself when Redis does. Entries lost with a Redis that had no persistence
///   are lost sessions: invokers run CAPIF-1e again.
/// * A single endpoint (a primary, or a proxy / Sentinel-managed address); plain TCP
///   (`redis://`) — put the link on a trusted network: the values are sealed, but the
///   invoker IDs in the key names are not.
/// * Random 96-bit nonces: rotate the KEK well before 2^32 registrations under one key
///   (NIST SP 800-38D §8.3); a rotation makes existing entries unreadable (invokers register
///   again).
///
/// ```no_run
/// # async fn demo() -> Result<(), rustls_capif::Error> {
/// use rustls_capif::capif3::{CcfKeyStore, CcfKeyStoreConfig, KeyEncryptionKey, RedisStoreConfig};
///
/// // The KEK from the CCF's secret store (here an environment variable).
/// let kek = KeyEncryptionKey::from_hex(&std::env::var("CCF_KEK_HEX").unwrap_or_default())?;
/// let redis = RedisStoreConfig::new("redis://10.0.0.5:6379", kek);
/// let store = CcfKeyStore::redis(CcfKeyStoreConfig::default(), redis)?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
#[non_exhaustive]
pub struct RedisStoreConfig {
    /// The server: `redis://[user:password@]host:port[/db]` (the `redis` crate's URL form).
    /// `Debug` hides any credentials in it.
    pub url: String,
    /// The key-encryption key (the same on every replica).
    pub kek: KeyEncryptionKey,
    /// Prefix of the store's Redis keys; the invoker ID follows it. Default
    /// `"rustls-capif:ccf:session:"`. Replicas sharing sessions must use the same prefix.
    pub key_prefix: String,
    /// Longest wait for one Redis command (including a reconnection it waits for). Past it the
    /// operation fails with [`KeyStoreError::Unavailable`]. Default 1 s.
    pub command_timeout: Duration,
    /// Longest wait for one connection attempt to Redis. Default 1 s.
    pub connect_timeout: Duration,
}

impl RedisStoreConfig {
    /// The defaults for `url`, sealed with `kek`.
    pub fn new(url: impl Into<String>, kek: KeyEncryptionKey) -> Self {
        Self {
            url: url.into(),
            kek,
            key_prefix: "rustls-capif:ccf:session:".into(),
            command_timeout: Duration::from_secs(1),
            connect_timeout: Duration::from_secs(1),
        }
    }
}

impl fmt::Debug for RedisStoreConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisStoreConfig")
            .field("url", &redact_userinfo(&self.url))
            .field("kek", &self.kek)
            .field("key_prefix", &self.key_prefix)
            .field("command_timeout", &self.command_timeout)
            .field("connect_timeout", &self.connect_timeout)
            .finish()
    }
}

/// `scheme://host...` with any `user:password@` replaced.
fn redact_userinfo(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            format!("{}://[redacted]@{}", &url[..scheme], &url[at + 1..])
        }
        _ => url.to_string(),
    }
}

/// Seals and opens entries under the KEK.
struct Sealer {
    key: aead::LessSafeKey,
    random: &'static dyn rustls::crypto::SecureRandom,
    /// The Redis key prefix, bound into the associated data.
    scope: Vec<u8>,
}

/// Milliseconds since the Unix epoch at `t` (0 before it).
fn unix_ms(t: std::time::SystemTime) -> u64 {
    t.duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

impl Sealer {
    fn new(kek: &KeyEncryptionKey, key_prefix: &str) -> Result<Self, Error> {
        if key_prefix.len() > usize::from(u16::MAX) {
            return Err(Error::InvalidConfig(
                "RedisStoreConfig::key_prefix is longer than 65535 octets".into(),
            ));
        }
        let unbound = aead::UnboundKey::new(&aead::AES_256_GCM, &kek.0[..]).map_err(|_| {
            Error::InvalidConfig("AES-256-GCM refused the key-encryption key".into())
        })?;
        Ok(Self {
            key: aead::LessSafeKey::new(unbound),
            random: crate::default_provider().secure_random,
            scope: key_prefix.as_bytes().to_vec(),
        })
    }

    fn aad(&self, not_after: [u8; NOT_AFTER_LEN], invoker_id: &str) -> Vec<u8> {
        let mut aad = Vec::with_capacity(
            AAD_LABEL.len() + 4 + self.scope.len() + NOT_AFTER_LEN + invoker_id.len(),
        );
        aad.extend_from_slice(AAD_LABEL);
        aad.push(0);
        aad.push(FORMAT_V1);
        // The length fits: checked in `new`.
        aad.extend_from_slice(&(self.scope.len() as u16).to_be_bytes());
        aad.extend_from_slice(&self.scope);
        aad.extend_from_slice(&not_after);
        aad.extend_from_slice(invoker_id.as_bytes());
        aad
    }

    /// The sealed value of `inputs` for `invoker_id` (not secret), refused by
    /// [`open`](Self::open) after `not_after` (ms since the Unix epoch; [`NEVER`]).
    fn seal(
        &self,
        invoker_id: &str,
        inputs: &SessionInputs,
        not_after: u64,
    ) -> Result<Vec<u8>, Error> {
        let not_after = not_after.to_be_bytes();
        let mut nonce = [0u8; NONCE_LEN];
        self.random
            .fill(&mut nonce)
            .map_err(|_| Error::InvalidState("the crypto provider gave no randomness"))?;
        // Room for the tag: sealing never reallocates the plaintext.
        let mut in_out = inputs.encode(TAG_LEN);
        self.key
            .seal_in_place_append_tag(
                aead::Nonce::assume_unique_for_key(nonce),
                aead::Aad::from(self.aad(not_after, invoker_id)),
                &mut *in_out,
            )
            .map_err(|_| Error::InvalidState("AES-256-GCM sealing failed"))?;
        let mut value = Vec::with_capacity(HEADER_LEN + in_out.len());
        value.push(FORMAT_V1);
        value.extend_from_slice(&not_after);
        value.extend_from_slice(&nonce);
        value.extend_from_slice(&in_out);
        Ok(value)
    }

    /// The inputs sealed in `value` for `invoker_id`, at `now` (ms since the Unix epoch); the
    /// size, format and `not_after` are checked before anything is opened.
    fn open(
        &self,
        invoker_id: &str,
        value: &[u8],
        now: u64,
    ) -> Result<SessionInputs, KeyStoreError> {
        if value.len() > MAX_VALUE_LEN {
            return Err(KeyStoreError::EntryRefused("the entry is too large"));
        }
        if value.len() < HEADER_LEN + TAG_LEN {
            return Err(KeyStoreError::EntryRefused("the entry is too short"));
        }
        if value[0] != FORMAT_V1 {
            return Err(KeyStoreError::EntryRefused(
                "the entry has an unknown format version",
            ));
        }
        let short = |_| KeyStoreError::EntryRefused("the entry is too short");
        let not_after: [u8; NOT_AFTER_LEN] =
            value[1..1 + NOT_AFTER_LEN].try_into().map_err(short)?;
        let nonce: [u8; NONCE_LEN] = value[1 + NOT_AFTER_LEN..HEADER_LEN]
            .try_into()
            .map_err(short)?;
        // Checked before opening; a forged not_after does not open below.
        if now > u64::from_be_bytes(not_after) {
            return Err(KeyStoreError::EntryRefused(
                "the entry's session TTL has ended (a stale entry put back?)",
            ));
        }
        let mut in_out = Zeroizing::new(value[HEADER_LEN..].to_vec());
        let plain = self
            .key
            .open_in_place(
                aead::Nonce::assume_unique_for_key(nonce),
                aead::Aad::from(self.aad(not_after, invoker_id)),
                &mut in_out[..],
            )
            .map_err(|_| {
                KeyStoreError::EntryRefused(
                    "the entry does not open (tampered, another invoker's, or another KEK)",
                )
            })?;
        SessionInputs::decode(plain).map_err(KeyStoreError::EntryRefused)
    }
}

/// The Redis storage: a reconnecting connection (the `redis` crate's `ConnectionManager`,
/// multiplexed: one TCP connection per store), the sealer, and the bounds.
pub(super) struct RedisKeyStorage {
    connection: ConnectionManager,
    sealer: Sealer,
    key_prefix: String,
    /// `SET ... PX` milliseconds; `None`: beyond what Redis takes (no expiry).
    ttl_ms: Option<u64>,
    command_timeout: Duration,
}

/// Longest TTL given to Redis (about 285 000 years); longer ones set no expiry.
const MAX_TTL_MS: u128 = 1 << 53;

impl RedisKeyStorage {
    pub(super) fn new(session_ttl: Duration, config: RedisStoreConfig) -> Result<Self, Error> {
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(Error::InvalidConfig(
                "CcfKeyStore::redis must be called within a tokio runtime".into(),
            ));
        }
        if config.command_timeout.is_zero() || config.connect_timeout.is_zero() {
            return Err(Error::InvalidConfig(
                "RedisStoreConfig timeouts must not be zero".into(),
            ));
        }
        // The URL may hold a password: the error does not echo it.
        let client = redis::Client::open(config.url.as_str()).map_err(|e| {
            Error::InvalidConfig(format!(
                "RedisStoreConfig::url is not a Redis URL ({:?})",
                e.kind()
            ))
        })?;
        // Few, short reconnection attempts: a command waiting for one fails at its own
        // timeout, and the next command after a failed attempt starts another, so service
        // resumes within about a second of Redis coming back.
        let manager_config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(config.connect_timeout))
            .set_response_timeout(Some(config.command_timeout))
            .set_number_of_retries(2)
            .set_min_delay(Duration::from_millis(20))
            .set_max_delay(Duration::from_millis(200));
        let connection =
            ConnectionManager::new_lazy_with_config(client, manager_config).map_err(|e| {
                Error::InvalidConfig(format!("Redis connection manager: {:?}", e.kind()))
            })?;
        let ms = session_ttl.as_millis().max(1);
        Ok(Self {
            connection,
            sealer: Sealer::new(&config.kek, &config.key_prefix)?,
            key_prefix: config.key_prefix,
            ttl_ms: (ms <= MAX_TTL_MS).then_some(ms as u64),
            command_timeout: config.command_timeout,
        })
    }

    fn key(&self, invoker_id: &str) -> String {
        format!("{}{invoker_id}", self.key_prefix)
    }

    /// Runs `cmd` within the command timeout; any failure is [`KeyStoreError::Unavailable`].
    async fn query<T: redis::FromRedisValue>(&self, cmd: &redis::Cmd) -> Result<T, Error> {
        let mut connection = self.connection.clone();
        match tokio::time::timeout(self.command_timeout, cmd.query_async(&mut connection)).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(e)) => {
                let why = format!("Redis: {e}");
                log::warn!("CCF key store: {why}");
                Err(KeyStoreError::Unavailable(why).into())
            }
            Err(_) => {
                let why = format!("Redis did not answer within {:?}", self.command_timeout);
                log::warn!("CCF key store: {why}");
                Err(KeyStoreError::Unavailable(why).into())
            }
        }
    }

    /// The invoker's opened entry; `None` if absent or refused (logged, without secrets).
    async fn inputs(&self, invoker_id: &str) -> Result<Option<SessionInputs>, Error> {
        let value: Option<Vec<u8>> = self
            .query(redis::cmd("GET").arg(self.key(invoker_id)))
            .await?;
        let Some(value) = value else {
            return Ok(None);
        };
        match self
            .sealer
            .open(invoker_id, &value, unix_ms(std::time::SystemTime::now()))
        {
            Ok(inputs) => Ok(Some(inputs)),
            Err(e) => {
                log::warn!(
                    "CCF key store: the Redis entry of invoker {invoker_id:?} ({} octets) is \
                     treated as absent: {e}",
                    value.len()
                );
                Ok(None)
            }
        }
    }
}

impl KeyStorage for RedisKeyStorage {
    fn register<'a>(
        &'a self,
        invoker_id: &'a str,
        source: Arc<dyn AefPskSource>,
    ) -> StorageFuture<'a, Option<(Arc<str>, SessionEnd)>> {
        Box::pin(async move {
            let SharedInputs(inputs) = source.shared_inputs()?;
            drop(source);
            let not_after = self.ttl_ms.map_or(NEVER, |ms| {
                unix_ms(std::time::SystemTime::now()).saturating_add(ms)
            });
            let value = self.sealer.seal(invoker_id, &inputs, not_after)?;
            drop(inputs);
            let mut cmd = redis::cmd("SET");
            cmd.arg(self.key(invoker_id)).arg(value);
            if let Some(ms) = self.ttl_ms {
                cmd.arg("PX").arg(ms);
            }
            // GET: the previous value, if any, tells this replica that it replaced a session.
            // Only its presence is used; it is not opened.
            let old: Option<Vec<u8>> = self.query(cmd.arg("GET")).await?;
            Ok(old.map(|_| (Arc::from(invoker_id), SessionEnd::Replaced)))
        })
    }

    fn remove<'a>(&'a self, invoker_id: &'a str) -> StorageFuture<'a, bool> {
        Box::pin(async move {
            let removed: u64 = self
                .query(redis::cmd("DEL").arg(self.key(invoker_id)))
                .await?;
            Ok(removed > 0)
        })
    }

    fn contains<'a>(&'a self, invoker_id: &'a str) -> StorageFuture<'a, bool> {
        Box::pin(async move { Ok(self.inputs(invoker_id).await?.is_some()) })
    }

    fn aef_psks<'a>(
        &'a self,
        invoker_id: &'a str,
        interfaces: &'a [ServiceApiInterface],
    ) -> StorageFuture<'a, Option<DerivedKeys>> {
        Box::pin(async move {
            let Some(inputs) = self.inputs(invoker_id).await? else {
                return Ok(None);
            };
            let mut keys = Vec::with_capacity(interfaces.len());
            for interface in interfaces {
                keys.push(Box::new(inputs.derive_aef_psk(interface)?));
            }
            Ok(Some(keys))
        })
    }

    fn len(&self) -> StorageFuture<'_, usize> {
        Box::pin(async move {
            let pattern = format!("{}*", glob_escape(&self.key_prefix));
            let mut cursor = 0u64;
            let mut count = 0usize;
            loop {
                let (next, keys): (u64, Vec<redis::Value>) = self
                    .query(
                        redis::cmd("SCAN")
                            .arg(cursor)
                            .arg("MATCH")
                            .arg(&pattern)
                            .arg("COUNT")
                            .arg(1000),
                    )
                    .await?;
                count += keys.len();
                if next == 0 {
                    return Ok(count);
                }
                cursor = next;
            }
        })
    }

    fn purge_expired(&self) -> usize {
        0
    }

    fn backend(&self) -> &'static str {
        "redis"
    }
}

/// `prefix` with Redis glob characters escaped.
fn glob_escape(prefix: &str) -> String {
    let mut out = String::with_capacity(prefix.len());
    for c in prefix.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inputs(seed: u8) -> SessionInputs {
        let mut bytes = vec![48u8];
        bytes.extend_from_slice(&[seed; 48]);
        bytes.push(32);
        bytes.extend_from_slice(&[seed ^ 0x55; 32]);
        SessionInputs::decode(&bytes).unwrap()
    }

    fn aef() -> ServiceApiInterface {
        ServiceApiInterface::parse("aef.example:443").unwrap()
    }

    const NOW: u64 = 1_800_000_000_000;

    #[test]
    fn sealed_entries_open_only_for_their_invoker_and_kek() {
        let sealer = Sealer::new(&KeyEncryptionKey::from_bytes([7; 32]), "p:").unwrap();
        let value = sealer.seal("inv-a", &inputs(1), NEVER).unwrap();
        assert_eq!(value.len(), MAX_VALUE_LEN);
        let opened = sealer.open("inv-a", &value, NOW).unwrap();
        assert_eq!(
            opened.derive_aef_psk(&aef()).unwrap(),
            inputs(1).derive_aef_psk(&aef()).unwrap()
        );
        // Two seals of the same inputs differ (random nonce).
        assert_ne!(value, sealer.seal("inv-a", &inputs(1), NEVER).unwrap());

        let refused = |r: Result<SessionInputs, KeyStoreError>| {
            assert!(matches!(r, Err(KeyStoreError::EntryRefused(_))));
        };
        // Another invoker's key (swapped entry).
        refused(sealer.open("inv-b", &value, NOW));
        // Another KEK.
        let other = Sealer::new(&KeyEncryptionKey::from_bytes([8; 32]), "p:").unwrap();
        refused(other.open("inv-a", &value, NOW));
        // Another deployment's key prefix, same KEK.
        let elsewhere = Sealer::new(&KeyEncryptionKey::from_bytes([7; 32]), "q:").unwrap();
        refused(elsewhere.open("inv-a", &value, NOW));
        // Every octet flipped in turn.
        for i in 0..value.len() {
            let mut bad = value.clone();
            bad[i] ^= 0x01;
            refused(sealer.open("inv-a", &bad, NOW));
        }
        // Truncated, empty, oversized.
        refused(sealer.open("inv-a", &value[..value.len() - 1], NOW));
        refused(sealer.open("inv-a", &[], NOW));
        let mut long = value.clone();
        long.push(0);
        refused(sealer.open("inv-a", &long, NOW));
    }

    /// An entry is refused after the end of its session TTL, even if it is put back in Redis,
    /// and a later `not_after` written over it does not open.
    #[test]
    fn entries_are_refused_after_their_session_ttl() {
        let sealer = Sealer::new(&KeyEncryptionKey::from_bytes([7; 32]), "p:").unwrap();
        let value = sealer.seal("inv-a", &inputs(1), NOW).unwrap();
        assert!(sealer.open("inv-a", &value, NOW - 1).is_ok());
        assert!(sealer.open("inv-a", &value, NOW).is_ok());
        assert!(matches!(
            sealer.open("inv-a", &value, NOW + 1),
            Err(KeyStoreError::EntryRefused(why)) if why.contains("TTL")
        ));
        let mut extended = value.clone();
        extended[1..1 + NOT_AFTER_LEN].copy_from_slice(&NEVER.to_be_bytes());
        assert!(matches!(
            sealer.open("inv-a", &extended, NOW + 1),
            Err(KeyStoreError::EntryRefused(why)) if why.contains("does not open")
        ));
    }

    #[test]
    fn secrets_stay_out_of_debug() {
        let kek = KeyEncryptionKey::from_bytes([0xab; 32]);
        let config = RedisStoreConfig::new("redis://user:hunter2@10.0.0.5:6379/0", kek);
        let debug = format!("{config:?}");
        assert!(
            !debug.contains("hunter2") && !debug.contains("abab"),
            "{debug}"
        );
        assert!(debug.contains("10.0.0.5:6379/0"), "{debug}");
        assert_eq!(format!("{:?}", inputs(1)), "SessionInputs([redacted])");
    }

    #[test]
    fn kek_from_hex() {
        let hex = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
        let a = KeyEncryptionKey::from_hex(hex).unwrap();
        let b = KeyEncryptionKey::from_hex(&format!(" {} \n", hex.to_uppercase())).unwrap();
        assert_eq!(*a.0, *b.0);
        for bad in [
            "",
            "00",
            &hex[..62],
            &format!("{hex}00"),
            &hex.replace('0', "g"),
        ] {
            assert!(matches!(
                KeyEncryptionKey::from_hex(bad),
                Err(Error::InvalidHex(_))
            ));
        }
    }

    #[test]
    fn constructor_needs_a_runtime_and_a_url() {
        let kek = KeyEncryptionKey::from_bytes([1; 32]);
        let r = RedisKeyStorage::new(
            Duration::from_secs(1),
            RedisStoreConfig::new("redis://127.0.0.1:1", kek.clone()),
        );
        assert!(matches!(r, Err(Error::InvalidConfig(_))));
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let _guard = rt.enter();
        let r = RedisKeyStorage::new(
            Duration::from_secs(1),
            RedisStoreConfig::new("nope://secret@x", kek),
        );
        match r {
            Err(Error::InvalidConfig(why)) => assert!(!why.contains("secret"), "{why}"),
            other => panic!("{:?}", other.map(|_| ())),
        }
    }
}
