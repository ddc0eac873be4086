//! Keys and configuration of the external-PSK engine: [`ExternalPsk`], [`PskClientConfig`],
//! [`PskServerConfig`] and the [`PskResolver`] through which a server finds the key for an
//! offered identity (RFC 8446 §4.2.11, RFC 9257 guidance on external PSKs).

use core::fmt;
use std::collections::HashMap;
use std::sync::Arc;

use rustls::crypto::{CryptoProvider, SupportedKxGroup};
use rustls::{NamedGroup, SupportedCipherSuite, Tls13CipherSuite};
use zeroize::Zeroizing;

use super::importer::{ImportedFrom, PskImporter};
use crate::error::Error;
use crate::secret::{AefPsk, KeyFingerprint};

/// The hash function a PSK is bound to (RFC 8446 §4.2.11): only cipher suites with this hash
/// can use it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PskHash {
    /// SHA-256: TLS_AES_128_GCM_SHA256, TLS_CHACHA20_POLY1305_SHA256. AEFPSKs use this.
    Sha256,
    /// SHA-384: TLS_AES_256_GCM_SHA384.
    Sha384,
}

impl PskHash {
    /// Output length of the hash in octets (also the binder length).
    pub fn output_len(self) -> usize {
        match self {
            Self::Sha256 => 32,
            Self::Sha384 => 48,
        }
    }

    pub(crate) fn matches(self, suite: &Tls13CipherSuite) -> bool {
        use rustls::crypto::hash::HashAlgorithm;
        let algorithm = match self {
            Self::Sha256 => HashAlgorithm::SHA256,
            Self::Sha384 => HashAlgorithm::SHA384,
        };
        // The algorithm, not just the length: a provider may offer another 32-octet hash.
        suite.common.hash_provider.algorithm() == algorithm
    }
}

/// An external pre-shared key: an identity, a secret and the hash it is bound to.
///
/// The secret is zeroized on drop and never printed.
///
/// ```
/// use rustls_capif::psk::{ExternalPsk, PskHash};
/// let psk = ExternalPsk::new(b"invoker-42".to_vec(), &[0x11; 32], PskHash::Sha256).unwrap();
/// assert_eq!(psk.identity(), b"invoker-42");
/// assert!(!format!("{psk:?}").contains("11"));
/// ```
#[derive(Clone)]
pub struct ExternalPsk {
    identity: Vec<u8>,
    secret: Zeroizing<Vec<u8>>,
    hash: PskHash,
    /// Set for an RFC 9258 imported PSK (see [`import_psk`](super::import_psk)).
    pub(crate) imported: Option<Arc<ImportedFrom>>,
}

impl ExternalPsk {
    /// Longest identity accepted (the PskIdentity length field is two octets).
    pub const MAX_IDENTITY_LEN: usize = 0xffff;

    /// Creates a PSK. The identity must be 1..=65535 octets; the secret at least 16 octets
    /// (RFC 9257 §6 asks for at least 128 bits of entropy) and at most 255.
    pub fn new(identity: Vec<u8>, secret: &[u8], hash: PskHash) -> Result<Self, Error> {
        if identity.is_empty() || identity.len() > Self::MAX_IDENTITY_LEN {
            return Err(Error::InvalidConfig(
                "a PSK identity must be 1 to 65535 octets".into(),
            ));
        }
        if secret.len() < 16 || secret.len() > 255 {
            return Err(Error::InvalidConfig(
                "a PSK secret must be 16 to 255 octets".into(),
            ));
        }
        Ok(Self {
            identity,
            secret: Zeroizing::new(secret.to_vec()),
            hash,
            imported: None,
        })
    }

    /// The CAPIF-2e PSK of an API invoker: identity = API invoker ID (UTF-8), key = AEFPSK,
    /// hash = SHA-256 (DESIGN decision: TS 23.222 §8.14.3 has the invoker present its ID).
    pub fn from_aef_psk(api_invoker_id: &str, aef_psk: &AefPsk) -> Result<Self, Error> {
        Self::new(
            api_invoker_id.as_bytes().to_vec(),
            aef_psk.secret_bytes(),
            PskHash::Sha256,
        )
    }

    /// A PSK whose secret is given in hex (either case; surrounding whitespace ignored), as in
    /// a configuration file: `identity` is sent in the clear, the secret must decode to 16 to
    /// 255 octets. Errors never echo the hex digits.
    ///
    /// ```
    /// use rustls_capif::psk::{ExternalPsk, PskHash};
    /// let psk = ExternalPsk::from_hex("INV0001", "00112233445566778899aabbccddeeff", PskHash::Sha256)?;
    /// assert_eq!(psk.identity(), b"INV0001");
    /// assert!(ExternalPsk::from_hex("INV0001", "0011zz", PskHash::Sha256).is_err());
    /// # Ok::<(), rustls_capif::Error>(())
    /// ```
    pub fn from_hex(identity: impl Into<Vec<u8>>, hex: &str, hash: PskHash) -> Result<Self, Error> {
        let secret = crate::secret::decode_hex(hex.trim())?;
        Self::new(identity.into(), &secret, hash)
    }

    /// The identity sent in the clear in the ClientHello.
    pub fn identity(&self) -> &[u8] {
        &self.identity
    }

    /// The hash this PSK is bound to.
    pub fn hash(&self) -> PskHash {
        self.hash
    }

    /// Whether this is an RFC 9258 imported PSK (its binder uses "imp binder").
    pub fn is_imported(&self) -> bool {
        self.imported.is_some()
    }

    /// The external identity: of the EPSK an imported PSK was derived from, else
    /// [`identity`](Self::identity). This is the identity the connections report.
    pub fn external_identity(&self) -> &[u8] {
        self.imported
            .as_ref()
            .map_or(&self.identity, |i| &i.external_identity)
    }

    /// The binder key label (RFC 8446 §7.1, RFC 9258 §5.2).
    pub(crate) fn binder_label(&self) -> &'static [u8] {
        if self.is_imported() {
            super::key_schedule::IMP_BINDER
        } else {
            super::key_schedule::EXT_BINDER
        }
    }

    /// A short non-secret fingerprint of the key, for logs.
    pub fn fingerprint(&self) -> KeyFingerprint {
        KeyFingerprint::of(&self.secret)
    }

    pub(crate) fn secret(&self) -> &[u8] {
        &self.secret
    }
}

impl fmt::Debug for ExternalPsk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ExternalPsk")
            .field("identity", &String::from_utf8_lossy(&self.identity))
            .field("hash", &self.hash)
            .field("imported", &self.imported.as_ref().map(|i| i.target_kdf))
            .field("secret", &"[redacted]")
            .finish()
    }
}

/// Which PSK key-exchange modes (RFC 8446 §4.2.9) a side accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum PskKeyExchangeModes {
    /// `psk_dhe_ke` only: the PSK authenticates, an (EC)DHE exchange gives forward secrecy.
    #[default]
    DheOnly,
    /// `psk_dhe_ke` preferred, `psk_ke` allowed (no forward secrecy when chosen).
    DheOrPskOnly,
    /// `psk_ke` only: no (EC)DHE, no forward secrecy. For constrained peers only.
    PskOnly,
}

impl PskKeyExchangeModes {
    pub(crate) fn allows_dhe(self) -> bool {
        !matches!(self, Self::PskOnly)
    }

    pub(crate) fn allows_psk_only(self) -> bool {
        !matches!(self, Self::DheOnly)
    }

    /// Wire values in preference order.
    pub(crate) fn wire(self) -> &'static [u8] {
        use super::codec::{PSK_DHE_KE, PSK_KE};
        match self {
            Self::DheOnly => &[PSK_DHE_KE],
            Self::DheOrPskOnly => &[PSK_DHE_KE, PSK_KE],
            Self::PskOnly => &[PSK_KE],
        }
    }
}

/// Finds the PSK for an identity a client offers. Implement it for your key store.
///
/// Resolvers are called during the handshake, so they must not block for long; for keys
/// that need I/O (an AEF asking its CCF over CAPIF-3), use [`PskServerConnection::new_deferred`](crate::psk::PskServerConnection::new_deferred)
/// (sans-IO) or the tokio `PskAcceptor` with an async resolver.
pub trait PskResolver: Send + Sync + fmt::Debug {
    /// The PSK for `identity`, or `None` if it is unknown.
    fn resolve(&self, identity: &[u8]) -> Option<ExternalPsk>;
}

/// An in-memory PSK store keyed by identity.
///
/// ```
/// use rustls_capif::psk::{ExternalPsk, PskHash, PskResolver, StaticPskResolver};
/// let mut store = StaticPskResolver::default();
/// store.insert(ExternalPsk::new(b"id1".to_vec(), &[7; 32], PskHash::Sha256).unwrap());
/// assert!(store.resolve(b"id1").is_some());
/// assert!(store.resolve(b"id2").is_none());
/// ```
#[derive(Clone, Default)]
pub struct StaticPskResolver {
    keys: HashMap<Vec<u8>, ExternalPsk>,
}

impl StaticPskResolver {
    /// Adds or replaces the key of `psk.identity()`.
    pub fn insert(&mut self, psk: ExternalPsk) {
        self.keys.insert(psk.identity.clone(), psk);
    }

    /// Removes the key of `identity`.
    pub fn remove(&mut self, identity: &[u8]) -> Option<ExternalPsk> {
        self.keys.remove(identity)
    }

    /// Number of keys held.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether no key is held.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

impl FromIterator<ExternalPsk> for StaticPskResolver {
    fn from_iter<I: IntoIterator<Item = ExternalPsk>>(iter: I) -> Self {
        let mut s = Self::default();
        for psk in iter {
            s.insert(psk);
        }
        s
    }
}

impl PskResolver for StaticPskResolver {
    fn resolve(&self, identity: &[u8]) -> Option<ExternalPsk> {
        self.keys.get(identity).cloned()
    }
}

impl fmt::Debug for StaticPskResolver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StaticPskResolver")
            .field("keys", &self.keys.len())
            .finish()
    }
}

/// A resolver that knows no key (for servers that only resolve keys asynchronously, see [`PskServerConnection::new_deferred`](crate::psk::PskServerConnection::new_deferred)).
#[derive(Debug, Default, Clone, Copy)]
pub struct NoPskResolver;

impl PskResolver for NoPskResolver {
    fn resolve(&self, _identity: &[u8]) -> Option<ExternalPsk> {
        None
    }
}

/// Settings shared by client and server.
#[derive(Clone)]
pub(crate) struct Common {
    pub(crate) provider: Arc<CryptoProvider>,
    pub(crate) suites: Vec<&'static Tls13CipherSuite>,
    pub(crate) groups: Vec<&'static dyn SupportedKxGroup>,
    pub(crate) modes: PskKeyExchangeModes,
    pub(crate) alpn_protocols: Vec<Vec<u8>>,
    pub(crate) max_records_per_key: Option<u64>,
    /// Protocol versions and TLS 1.2 suites (TLS 1.3 only by default).
    pub(crate) versions: super::tls12::Versions,
}

impl Common {
    fn new(provider: Arc<CryptoProvider>) -> Self {
        let suites = provider
            .cipher_suites
            .iter()
            .filter_map(|s| match s {
                SupportedCipherSuite::Tls13(s) => Some(*s),
                _ => None,
            })
            .collect();
        let groups = provider
            .kx_groups
            .iter()
            .copied()
            .filter(|g| g.usable_for_version(rustls::ProtocolVersion::TLSv1_3))
            .collect();
        Self {
            provider,
            suites,
            groups,
            modes: PskKeyExchangeModes::default(),
            alpn_protocols: Vec::new(),
            max_records_per_key: None,
            versions: Default::default(),
        }
    }

    fn set_groups(&mut self, names: &[NamedGroup]) -> Result<(), Error> {
        let mut groups = Vec::new();
        for name in names {
            let g = self
                .provider
                .kx_groups
                .iter()
                .copied()
                .find(|g| g.name() == *name);
            // The crate's own groups (RFC 7919 FFDHE) are found by name as well.
            #[cfg(feature = "ffdhe")]
            let g = g.or_else(|| crate::kx::ffdhe::by_name(*name));
            let g = g.ok_or_else(|| {
                Error::InvalidConfig(format!("the crypto provider has no group {name:?}"))
            })?;
            groups.push(g);
        }
        if groups.is_empty() {
            return Err(Error::InvalidConfig("no key-exchange group given".into()));
        }
        self.groups = groups;
        Ok(())
    }

    fn set_suites(&mut self, names: &[rustls::CipherSuite]) -> Result<(), Error> {
        let mut suites = Vec::new();
        for name in names {
            let s = self
                .provider
                .cipher_suites
                .iter()
                .find_map(|s| match s {
                    SupportedCipherSuite::Tls13(s) if s.common.suite == *name => Some(*s),
                    _ => None,
                })
                .ok_or_else(|| {
                    Error::InvalidConfig(format!(
                        "the crypto provider has no TLS 1.3 suite {name:?}"
                    ))
                })?;
            suites.push(s);
        }
        if suites.is_empty() {
            return Err(Error::InvalidConfig("no cipher suite given".into()));
        }
        self.suites = suites;
        Ok(())
    }

    fn set_alpn(&mut self, protocols: Vec<Vec<u8>>) -> Result<(), Error> {
        if protocols.iter().any(|p| p.is_empty() || p.len() > 255) {
            return Err(Error::InvalidConfig(
                "ALPN protocol names must be 1 to 255 octets".into(),
            ));
        }
        self.alpn_protocols = protocols;
        Ok(())
    }

    pub(crate) fn suites_for(
        &self,
        hash: PskHash,
    ) -> impl Iterator<Item = &'static Tls13CipherSuite> + '_ {
        self.suites.iter().copied().filter(move |s| hash.matches(s))
    }

    /// Records sent under one key before a KeyUpdate: the suite's confidentiality limit
    /// (2^24 for AES-GCM in rustls) less a margin, unless configured lower.
    pub(crate) fn rekey_after(&self, suite: &Tls13CipherSuite) -> u64 {
        let limit = suite.common.confidentiality_limit;
        let default = limit.saturating_sub(limit / 16).max(1);
        self.max_records_per_key
            .map_or(default, |m| m.clamp(1, default))
    }
}

impl fmt::Debug for Common {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Common")
            .field(
                "suites",
                &self
                    .suites
                    .iter()
                    .map(|s| s.common.suite)
                    .collect::<Vec<_>>(),
            )
            .field(
                "groups",
                &self.groups.iter().map(|g| g.name()).collect::<Vec<_>>(),
            )
            .field("modes", &self.modes)
            .field("versions", &self.versions)
            .field("alpn_protocols", &self.alpn_protocols.len())
            .finish()
    }
}

/// Whether a TLS 1.2 peer must use the extended master secret (RFC 7627); see
/// `with_extended_master_secret` on [`PskClientConfig`] and [`PskServerConfig`]. TLS 1.3
/// binds its keys to the handshake always: this concerns TLS 1.2 only.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum ExtendedMasterSecret {
    /// A peer without it is refused with `handshake_failure` (RFC 7627 §5.2, §5.3). The
    /// default.
    #[default]
    Required,
    /// Used when the peer offers it; a peer without it gets the RFC 5246 master secret.
    ///
    /// **Risk.** The legacy master secret depends only on the premaster secret and the two
    /// randoms, not on the handshake: an attacker who gets a victim to connect to it can
    /// bring two connections to the same master secret and keys (the "triple handshake",
    /// RFC 7627 §1), and channel bindings and RFC 5705 exporters of such a connection do
    /// not identify it. With an external PSK only holders of the key can run that attack,
    /// but a key shared by several parties (or leaked to one) suffices. Allow legacy peers
    /// only for peers that cannot be upgraded, and do not rely on exporters with them.
    Preferred,
}

macro_rules! common_setters {
    () => {
        /// Restricts and orders the key-exchange groups (default: every group of the provider
        /// usable with TLS 1.3, in the provider's order). With the `ffdhe` feature,
        /// `FFDHE2048` and `FFDHE3072` are found too (`kx::ffdhe`), though no provider lists
        /// them. A client sends a key share for the first group only.
        pub fn with_groups(mut self, groups: &[NamedGroup]) -> Result<Self, Error> {
            self.common.set_groups(groups)?;
            Ok(self)
        }

        /// Restricts and orders the TLS 1.3 cipher suites (default: the provider's).
        /// Only suites whose hash matches a PSK's hash are used with it.
        pub fn with_cipher_suites(mut self, suites: &[rustls::CipherSuite]) -> Result<Self, Error> {
            self.common.set_suites(suites)?;
            Ok(self)
        }

        /// Sets the PSK key-exchange modes (default: `psk_dhe_ke` only).
        pub fn with_key_exchange_modes(mut self, modes: PskKeyExchangeModes) -> Self {
            self.common.modes = modes;
            self
        }

        /// Sets the ALPN protocols, most preferred first.
        pub fn with_alpn_protocols(mut self, protocols: Vec<Vec<u8>>) -> Result<Self, Error> {
            self.common.set_alpn(protocols)?;
            Ok(self)
        }

        /// Sends a KeyUpdate after this many records under one key. The default is the
        /// suite's confidentiality limit less 1/16; lower values are for tests and
        /// cautious deployments.
        pub fn with_max_records_per_key(mut self, records: u64) -> Self {
            self.common.max_records_per_key = Some(records);
            self
        }

        /// Turns TLS 1.2 PSK on or off (default off): the ECDHE_PSK AEAD suites (RFC 5489,
        /// 7905, 8442) with the extended master secret (RFC 7627) required. A server with
        /// both versions prefers TLS 1.3 and sets the RFC 8446 §4.1.3 downgrade sentinel
        /// when it answers with TLS 1.2; a client with both checks it. The PSK's hash does
        /// not restrict the TLS 1.2 suites.
        pub fn with_tls12(mut self, on: bool) -> Self {
            self.common.versions.tls12 = on;
            self
        }

        /// Whether a TLS 1.2 peer must use the extended master secret (RFC 7627): required
        /// by default; [`ExtendedMasterSecret::Preferred`] also admits legacy peers, with the
        /// RFC 5246 master secret and the risk described there. A client always offers it.
        pub fn with_extended_master_secret(mut self, policy: ExtendedMasterSecret) -> Self {
            self.common.versions.ems = policy;
            self
        }

        /// Turns TLS 1.3 on or off (default on). With it off and TLS 1.2 on, a client sends
        /// a TLS 1.2 ClientHello (no supported_versions, key_share or pre_shared_key) and a
        /// server refuses TLS 1.3 clients with `protocol_version`.
        pub fn with_tls13(mut self, on: bool) -> Self {
            self.common.versions.tls13 = on;
            self
        }

        /// Allows the TLS 1.2 plain-PSK suites `TLS_PSK_WITH_AES_128_GCM_SHA256` and
        /// `TLS_PSK_WITH_AES_256_GCM_SHA384` (RFC 5487; default off). They have no forward
        /// secrecy: use only with peers that cannot do ECDHE_PSK.
        pub fn with_plain_psk(mut self, on: bool) -> Self {
            self.common.versions.plain_psk = on;
            self
        }

        /// Restricts and orders the TLS 1.2 suites (default: the ECDHE_PSK ones with
        /// ChaCha20-Poly1305 first, then AES-128-GCM and AES-256-GCM; then the plain PSK ones
        /// if [`with_plain_psk`](Self::with_plain_psk) allows them). Codes without a name in
        /// rustls (0xD001, 0xD002) are given as `CipherSuite::Unknown`.
        pub fn with_tls12_cipher_suites(
            mut self,
            suites: &[rustls::CipherSuite],
        ) -> Result<Self, Error> {
            let provider = self.common.provider.clone();
            self.common.versions.set_suites(suites, &provider)?;
            Ok(self)
        }

        /// The protocol versions enabled, TLS 1.3 first.
        pub fn protocol_versions(&self) -> Vec<rustls::ProtocolVersion> {
            let v = &self.common.versions;
            [
                (v.tls13, rustls::ProtocolVersion::TLSv1_3),
                (v.tls12, rustls::ProtocolVersion::TLSv1_2),
            ]
            .into_iter()
            .filter_map(|(on, version)| on.then_some(version))
            .collect()
        }

        /// The crypto provider in use.
        pub fn crypto_provider(&self) -> &Arc<CryptoProvider> {
            &self.common.provider
        }
    };
}

/// Configuration of an external-PSK client (the API invoker on CAPIF-2e).
///
/// ```
/// use rustls_capif::psk::{ExternalPsk, PskClientConfig, PskHash};
/// let psk = ExternalPsk::new(b"invoker-42".to_vec(), &[0x11; 32], PskHash::Sha256).unwrap();
/// let config = PskClientConfig::new(psk)
///     .with_alpn_protocols(vec![b"http/1.1".to_vec()]).unwrap()
///     .with_server_name("aef.example.com").unwrap();
/// ```
#[derive(Clone, Debug)]
pub struct PskClientConfig {
    pub(crate) common: Common,
    pub(crate) psks: Vec<ExternalPsk>,
    pub(crate) server_name: Option<String>,
    pub(crate) middlebox_compat: bool,
    pub(crate) importer: Option<PskImporter>,
}

impl PskClientConfig {
    /// A client offering `psk`, with the default crypto provider ([`crate::default_provider`]).
    pub fn new(psk: ExternalPsk) -> Self {
        Self::with_provider(psk, crate::default_provider())
    }

    /// A client offering `psk` using `provider` for all cryptography.
    pub fn with_provider(psk: ExternalPsk, provider: Arc<CryptoProvider>) -> Self {
        Self {
            common: Common::new(provider),
            psks: vec![psk],
            server_name: None,
            middlebox_compat: true,
            importer: None,
        }
    }

    /// The CAPIF-2e configuration of an API invoker: identity = API invoker ID, key = AEFPSK.
    pub fn for_aef(api_invoker_id: &str, aef_psk: &AefPsk) -> Result<Self, Error> {
        Ok(Self::new(ExternalPsk::from_aef_psk(
            api_invoker_id,
            aef_psk,
        )?))
    }

    /// Offers one more PSK (after the ones already configured; at most 16 in all).
    pub fn with_additional_psk(mut self, psk: ExternalPsk) -> Result<Self, Error> {
        if self.psks.len() >= 16 {
            return Err(Error::InvalidConfig("at most 16 PSKs per client".into()));
        }
        self.psks.push(psk);
        Ok(self)
    }

    /// Sends this DNS name in the server_name extension (SNI). IP addresses are not sent
    /// (RFC 6066 §3).
    pub fn with_server_name(mut self, name: &str) -> Result<Self, Error> {
        let name = name.strip_suffix('.').unwrap_or(name);
        if name.ends_with('.') {
            return Err(Error::InvalidConfig(format!("{name:?} is not a DNS name")));
        }
        if name.parse::<std::net::IpAddr>().is_ok() {
            self.server_name = None;
            return Ok(self);
        }
        rustls_pki_types::DnsName::try_from(name)
            .map_err(|_| Error::InvalidConfig(format!("{name:?} is not a DNS name")))?;
        self.server_name = Some(name.to_ascii_lowercase());
        Ok(self)
    }

    /// Middlebox compatibility mode (RFC 8446 Appendix D.4): a 32-octet legacy_session_id and a
    /// dummy ChangeCipherSpec. On by default.
    pub fn with_middlebox_compat(mut self, on: bool) -> Self {
        self.middlebox_compat = on;
        self
    }

    /// The PSKs offered, in order.
    pub fn psks(&self) -> &[ExternalPsk] {
        &self.psks
    }

    /// Imports every configured PSK (RFC 9258) and offers the imported identities instead of
    /// the plain ones: one per PSK and target KDF, in that order. Off by default. A server
    /// without an importer does not know these identities (the handshake fails with
    /// `decrypt_error`, as for a wrong key).
    pub fn with_psk_importer(mut self, importer: PskImporter) -> Self {
        self.importer = Some(importer);
        self
    }

    common_setters!();
}

/// Configuration of an external-PSK server (the AEF on CAPIF-2e).
///
/// ```
/// use std::sync::Arc;
/// use rustls_capif::psk::{ExternalPsk, PskHash, PskServerConfig, StaticPskResolver};
/// let keys: StaticPskResolver =
///     [ExternalPsk::new(b"invoker-42".to_vec(), &[0x11; 32], PskHash::Sha256).unwrap()]
///         .into_iter()
///         .collect();
/// let config = PskServerConfig::new(Arc::new(keys));
/// ```
#[derive(Clone, Debug)]
pub struct PskServerConfig {
    pub(crate) common: Common,
    pub(crate) resolver: Arc<dyn PskResolver>,
    pub(crate) max_identities_tried: usize,
    pub(crate) importer: Option<PskImporter>,
}

impl PskServerConfig {
    /// A server that finds keys through `resolver`, with the default crypto provider.
    pub fn new(resolver: Arc<dyn PskResolver>) -> Self {
        Self::with_provider(resolver, crate::default_provider())
    }

    /// A server using `provider` for all cryptography.
    pub fn with_provider(resolver: Arc<dyn PskResolver>, provider: Arc<CryptoProvider>) -> Self {
        Self {
            common: Common::new(provider),
            resolver,
            max_identities_tried: 8,
            importer: None,
        }
    }

    /// How many of the offered identities are looked up (default 8): the first `n` in offer
    /// order, every one of them whichever is known, so that where a known identity sits in
    /// the list does not change the server's work. Identities beyond `n` are ignored (checked
    /// for form only).
    pub fn with_max_identities_tried(mut self, n: usize) -> Self {
        self.max_identities_tried = n.max(1);
        self
    }

    /// The resolver in use.
    pub fn resolver(&self) -> &Arc<dyn PskResolver> {
        &self.resolver
    }

    /// Accepts RFC 9258 imported identities: the resolver (or a deferred connection's
    /// application) is asked about the external identity inside, and the imported PSK is
    /// derived from the key it returns. Off by default. Plain identities are then accepted
    /// only with [`PskImporter::accepting_non_imported`].
    pub fn with_psk_importer(mut self, importer: PskImporter) -> Self {
        self.importer = Some(importer);
        self
    }

    common_setters!();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn external_psk_from_hex() {
        let hex = "00112233445566778899AABBCCDDEEFF0011223344556677";
        let psk = ExternalPsk::from_hex("INV0001", hex, PskHash::Sha256).unwrap();
        let want = [
            0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd,
            0xee, 0xff, 0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77,
        ];
        assert_eq!(psk.secret(), &want[..]);
        assert_eq!(psk.identity(), b"INV0001");
        assert_eq!(psk.hash(), PskHash::Sha256);
        // Too short for RFC 9257 (15 octets), odd, not hex: typed errors without the digits.
        for bad in [
            "00112233445566778899aabbccddee",
            "001",
            "0011223344556677889x",
        ] {
            let err = ExternalPsk::from_hex("INV0001", bad, PskHash::Sha256).unwrap_err();
            assert!(!err.to_string().contains("0011"), "{err}");
        }
        assert!(ExternalPsk::from_hex("", hex, PskHash::Sha256).is_err());
    }

    #[test]
    fn psk_validation() {
        assert!(ExternalPsk::new(vec![], &[0; 32], PskHash::Sha256).is_err());
        assert!(ExternalPsk::new(vec![1; 65536], &[0; 32], PskHash::Sha256).is_err());
        assert!(ExternalPsk::new(vec![1; 65535], &[0; 32], PskHash::Sha256).is_ok());
        assert!(ExternalPsk::new(vec![1], &[0; 15], PskHash::Sha256).is_err());
        assert!(ExternalPsk::new(vec![1], &[0; 256], PskHash::Sha256).is_err());
    }

    #[test]
    fn debug_never_shows_secret() {
        let psk = ExternalPsk::new(b"id".to_vec(), &[0x5a; 32], PskHash::Sha384).unwrap();
        let s = format!("{psk:?}");
        assert!(
            s.contains("[redacted]") && !s.contains("5a") && !s.contains("90"),
            "{s}"
        );
        let cfg = PskClientConfig::new(psk);
        let s = format!("{cfg:?}");
        assert!(!s.contains("5a") && !s.contains("90,"), "{s}");
    }

    #[test]
    fn setters_validate() {
        let psk = ExternalPsk::new(b"id".to_vec(), &[1; 32], PskHash::Sha256).unwrap();
        let cfg = PskClientConfig::new(psk);
        assert!(cfg
            .clone()
            .with_groups(&[NamedGroup::Unknown(0x1234)])
            .is_err());
        assert!(cfg.clone().with_groups(&[]).is_err());
        assert!(cfg
            .clone()
            .with_cipher_suites(&[rustls::CipherSuite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256])
            .is_err());
        assert!(cfg.clone().with_alpn_protocols(vec![vec![]]).is_err());
        assert!(cfg.clone().with_server_name("not a name").is_err());
        assert_eq!(
            cfg.clone()
                .with_server_name("192.0.2.1")
                .unwrap()
                .server_name,
            None
        );
        assert_eq!(
            cfg.with_server_name("AEF.example.")
                .unwrap()
                .server_name
                .as_deref(),
            Some("aef.example")
        );
    }
}
