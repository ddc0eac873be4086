//! RFC 9258 PSK importers: one external PSK (EPSK) becomes a set of imported PSKs (IPSKs),
//! each bound to a target protocol (TLS 1.3) and a target KDF, so that one AEFPSK can be
//! used with SHA-256 and SHA-384 suites without ever being IKM of two KDFs.
//!
//! ```text
//! struct {
//!    opaque external_identity<1...2^16-1>;
//!    opaque context<0..2^16-1>;
//!    uint16 target_protocol;          // 0x0304: TLS 1.3
//!    uint16 target_kdf;               // 0x0001 HKDF_SHA256, 0x0002 HKDF_SHA384
//! } ImportedIdentity;                 // RFC 9258 §5.1, sent as PskIdentity.identity
//!
//! epskx = HKDF-Extract(0, epsk)
//! ipskx = HKDF-Expand-Label(epskx, "derived psk", Hash(ImportedIdentity), L)
//! binder_key = Derive-Secret(HKDF-Extract(0, ipskx), "imp binder", "")   // RFC 9258 §5.2
//! ```
//!
//! HKDF and `Hash` are those of the EPSK's hash (SHA-256 for an AEFPSK), not of the target
//! KDF; `L` is the target KDF's output length (32 or 48). Every computation goes through the
//! configured rustls provider. The "imp binder" label makes a client and a server agree on a
//! PSK only if both import it or neither does (RFC 9258 §5.2).
//!
//! **Context.** `ImportedIdentity.context` travels in the clear. RFC 9258 §5.1 says it MUST
//! hold the context the EPSK was determined in, if any (for example a channel binding of the
//! provisioning protocol), and may name the peers' roles to stop Selfie-style reflection
//! (Appendix B); §9: nothing secret in it. A server accepts only imported identities whose
//! context equals its own configured one. CAPIF defines no context for AEFPSK, so the default
//! is empty on both sides.
//!
//! **Plain and imported on one server.** With [`PskImporter::accepting_non_imported`] a
//! server also accepts plain (non-imported) identities: an offered identity that decodes as
//! an `ImportedIdentity` for TLS 1.3 with an accepted target KDF and our context is treated
//! as imported (its external identity is what the resolver is asked about); any other
//! identity is looked up as it is. RFC 9258 §8 notes that nothing stops a plain identity
//! from having the form of an imported one; such an identity is read as imported here.
//! Without that option, identities that are not acceptable imported identities are unknown
//! (they fail exactly like a wrong key, `decrypt_error`).
//!
//! **TLS 1.2.** RFC 9258 defines imported PSKs for TLS 1.3 (and DTLS 1.3) only. On a
//! connection that negotiates TLS 1.2 (only if [`with_tls12`](super::PskServerConfig::with_tls12)
//! is on) the external PSK is used as it is, under its plain identity, whatever the importer
//! says: a deployment that wants every use of an AEFPSK bound by the importer leaves TLS 1.2 off.
//!
//! **Peers.** Neither OpenSSL 3.0 nor GnuTLS 3.7 (the versions checked here) implement
//! RFC 9258; GnuTLS has it from 3.8.1 (`gnutls_psk_format_imported_identity`). The importer
//! is therefore proven against an independent computation (`tests/data/rfc9258_vectors.py`)
//! and our own peer.

use core::fmt;

use rustls::crypto::CryptoProvider;
use rustls::SupportedCipherSuite;
use zeroize::Zeroizing;

use super::codec::Reader;
use super::config::{ExternalPsk, PskHash};
use super::key_schedule::Suite;
use crate::error::Error;
use crate::tls13_hkdf::expand_label;

/// `ImportedIdentity.target_protocol` for TLS 1.3 (RFC 9258 §5.1).
pub const TARGET_PROTOCOL_TLS13: u16 = 0x0304;

/// The KDF an imported PSK is bound to (RFC 9258 §10, "TLS KDF Identifiers").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TargetKdf {
    /// HKDF_SHA256 (0x0001): suites with SHA-256.
    HkdfSha256,
    /// HKDF_SHA384 (0x0002): suites with SHA-384.
    HkdfSha384,
}

impl TargetKdf {
    /// The registry code point.
    pub fn code(self) -> u16 {
        match self {
            Self::HkdfSha256 => 0x0001,
            Self::HkdfSha384 => 0x0002,
        }
    }

    /// The KDF of a code point (`None` for reserved, private-use and unknown values).
    pub fn from_code(code: u16) -> Option<Self> {
        match code {
            0x0001 => Some(Self::HkdfSha256),
            0x0002 => Some(Self::HkdfSha384),
            _ => None,
        }
    }

    /// The hash the imported PSK is bound to in TLS 1.3.
    pub fn psk_hash(self) -> PskHash {
        match self {
            Self::HkdfSha256 => PskHash::Sha256,
            Self::HkdfSha384 => PskHash::Sha384,
        }
    }

    /// `L`: the length of the imported key (the hash output length).
    pub fn output_len(self) -> usize {
        self.psk_hash().output_len()
    }
}

/// An `ImportedIdentity` (RFC 9258 §5.1), borrowed from its encoding or from its parts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ImportedIdentity<'a> {
    /// The EPSK's identity (1 to 65535 octets).
    pub external_identity: &'a [u8],
    /// The context (0 to 65535 octets), in the clear on the wire.
    pub context: &'a [u8],
    /// The protocol version the PSK is imported for (0x0304 for TLS 1.3).
    pub target_protocol: u16,
    /// The target KDF's code point.
    pub target_kdf: u16,
}

impl<'a> ImportedIdentity<'a> {
    /// The encoding, which is sent as the PSK identity. The whole must fit a PSK identity
    /// (at most 65535 octets, RFC 9258 §5.1 asks importers to reject larger ones).
    pub fn encode(&self) -> Result<Vec<u8>, Error> {
        let too_long = || {
            Error::InvalidConfig(
                "an ImportedIdentity must be at most 65535 octets (RFC 9258 §5.1)".into(),
            )
        };
        if self.external_identity.is_empty() {
            return Err(Error::InvalidConfig(
                "an imported PSK needs a non-empty external identity".into(),
            ));
        }
        let len = 2 + self.external_identity.len() + 2 + self.context.len() + 4;
        if len > ExternalPsk::MAX_IDENTITY_LEN {
            return Err(too_long());
        }
        let mut out = Vec::with_capacity(len);
        for field in [self.external_identity, self.context] {
            let n = u16::try_from(field.len()).map_err(|_| too_long())?;
            out.extend_from_slice(&n.to_be_bytes());
            out.extend_from_slice(field);
        }
        out.extend_from_slice(&self.target_protocol.to_be_bytes());
        out.extend_from_slice(&self.target_kdf.to_be_bytes());
        Ok(out)
    }

    /// Decodes an identity as an `ImportedIdentity`: `None` unless it is exactly one well-formed
    /// structure (non-empty external identity, no trailing octets).
    pub fn decode(identity: &'a [u8]) -> Option<Self> {
        let mut r = Reader::new(identity);
        let external_identity = r.vec16("ImportedIdentity.external_identity").ok()?;
        let context = r.vec16("ImportedIdentity.context").ok()?;
        let target_protocol = r.u16("ImportedIdentity.target_protocol").ok()?;
        let target_kdf = r.u16("ImportedIdentity.target_kdf").ok()?;
        r.finish("ImportedIdentity").ok()?;
        if external_identity.is_empty() {
            return None;
        }
        Some(Self {
            external_identity,
            context,
            target_protocol,
            target_kdf,
        })
    }
}

/// Turns RFC 9258 importing on for a client or a server (off by default).
///
/// ```
/// use rustls_capif::psk::{ExternalPsk, PskClientConfig, PskHash, PskImporter, TargetKdf};
/// let psk = ExternalPsk::new(b"invoker-42".to_vec(), &[0x11; 32], PskHash::Sha256)?;
/// // Offer one imported identity, for SHA-256 suites.
/// let client = PskClientConfig::new(psk)
///     .with_psk_importer(PskImporter::new().with_target_kdfs(&[TargetKdf::HkdfSha256])?);
/// # Ok::<(), rustls_capif::Error>(())
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct PskImporter {
    context: Vec<u8>,
    target_kdfs: Option<Vec<TargetKdf>>,
    accept_non_imported: bool,
}

impl Default for PskImporter {
    fn default() -> Self {
        Self::new()
    }
}

impl PskImporter {
    /// An importer with an empty context and the target KDFs of the configured TLS 1.3 suites
    /// (HKDF_SHA256 first, then HKDF_SHA384, each only if a suite of its hash is configured).
    pub fn new() -> Self {
        Self {
            context: Vec::new(),
            target_kdfs: None,
            accept_non_imported: false,
        }
    }

    /// Sets `ImportedIdentity.context` (sent in the clear; see the module docs). A server
    /// accepts only imported identities with exactly this context.
    pub fn with_context(mut self, context: Vec<u8>) -> Result<Self, Error> {
        if context.len() > ExternalPsk::MAX_IDENTITY_LEN - 9 {
            return Err(Error::InvalidConfig(
                "an importer context must leave room for the identity in 65535 octets".into(),
            ));
        }
        self.context = context;
        Ok(self)
    }

    /// Restricts and orders the target KDFs: a client offers one imported identity per EPSK
    /// and KDF, in this order; a server accepts only these.
    pub fn with_target_kdfs(mut self, kdfs: &[TargetKdf]) -> Result<Self, Error> {
        let mut list: Vec<TargetKdf> = Vec::new();
        for k in kdfs {
            if !list.contains(k) {
                list.push(*k);
            }
        }
        if list.is_empty() {
            return Err(Error::InvalidConfig("no target KDF given".into()));
        }
        self.target_kdfs = Some(list);
        Ok(self)
    }

    /// Server only: also accept non-imported (plain) identities, for incremental deployment
    /// (RFC 9258 §7). Off by default: an importing server knows imported identities only.
    pub fn accepting_non_imported(mut self, on: bool) -> Self {
        self.accept_non_imported = on;
        self
    }

    /// The context.
    pub fn context(&self) -> &[u8] {
        &self.context
    }

    /// Whether a server also accepts plain identities.
    pub fn accepts_non_imported(&self) -> bool {
        self.accept_non_imported
    }

    /// The target KDFs in use with `suites` (the configured TLS 1.3 suites).
    pub(crate) fn target_kdfs(
        &self,
        suites: &[&'static rustls::Tls13CipherSuite],
    ) -> Vec<TargetKdf> {
        match &self.target_kdfs {
            Some(list) => list.clone(),
            None => [TargetKdf::HkdfSha256, TargetKdf::HkdfSha384]
                .into_iter()
                .filter(|k| suites.iter().any(|s| k.psk_hash().matches(s)))
                .collect(),
        }
    }

    /// How a server reads an offered identity: the external identity and KDF of an
    /// acceptable imported identity, `Plain` if plain identities are accepted, else `None`.
    pub(crate) fn interpret<'a>(
        &self,
        identity: &'a [u8],
        kdfs: &[TargetKdf],
    ) -> Option<Interpretation<'a>> {
        let imported = ImportedIdentity::decode(identity).and_then(|ii| {
            let kdf = TargetKdf::from_code(ii.target_kdf)?;
            (ii.target_protocol == TARGET_PROTOCOL_TLS13
                && kdfs.contains(&kdf)
                && ii.context == self.context.as_slice())
            .then_some(Interpretation::Imported {
                external_identity: ii.external_identity,
                kdf,
            })
        });
        match imported {
            Some(i) => Some(i),
            None if self.accept_non_imported => Some(Interpretation::Plain(identity)),
            None => None,
        }
    }
}

impl fmt::Debug for PskImporter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PskImporter")
            .field("context_len", &self.context.len())
            .field("target_kdfs", &self.target_kdfs)
            .field("accept_non_imported", &self.accept_non_imported)
            .finish()
    }
}

/// How a server reads one offered identity.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Interpretation<'a> {
    /// A plain external PSK identity, looked up as it is.
    Plain(&'a [u8]),
    /// An imported identity: look up `external_identity`, then import for `kdf`.
    Imported {
        external_identity: &'a [u8],
        kdf: TargetKdf,
    },
}

impl<'a> Interpretation<'a> {
    /// The identity the resolver is asked about.
    pub(crate) fn lookup_name(&self) -> &'a [u8] {
        match *self {
            Self::Plain(id) => id,
            Self::Imported {
                external_identity, ..
            } => external_identity,
        }
    }
}

/// Where an imported PSK came from (kept in the [`ExternalPsk`] it yields).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ImportedFrom {
    pub(crate) external_identity: Vec<u8>,
    pub(crate) target_kdf: TargetKdf,
}

/// The HKDF and hash of `hash` in `provider` (from one of its TLS 1.3 suites).
fn suite_of(provider: &CryptoProvider, hash: PskHash) -> Result<Suite, Error> {
    provider
        .cipher_suites
        .iter()
        .find_map(|s| match s {
            SupportedCipherSuite::Tls13(s) if hash.matches(s) => Some(Suite::of(s)),
            _ => None,
        })
        .ok_or_else(|| {
            Error::InvalidConfig(format!(
                "the crypto provider has no TLS 1.3 suite with the EPSK's hash ({hash:?})"
            ))
        })
}

/// Imports `epsk` for TLS 1.3 and `kdf` with `context` (RFC 9258 §5.1): an [`ExternalPsk`]
/// whose identity is the `ImportedIdentity` encoding, whose secret is `ipskx`, whose hash is
/// the target KDF's and whose binder uses "imp binder".
///
/// ```
/// use rustls_capif::psk::{import_psk, ExternalPsk, PskHash, TargetKdf};
/// let epsk = ExternalPsk::new(b"invoker-42".to_vec(), &[0x11; 32], PskHash::Sha256)?;
/// let provider = rustls_capif::default_provider();
/// let ipsk = import_psk(&epsk, b"", TargetKdf::HkdfSha384, &provider)?;
/// assert!(ipsk.is_imported());
/// assert_eq!(ipsk.hash(), PskHash::Sha384);
/// assert_eq!(ipsk.external_identity(), b"invoker-42");
/// # Ok::<(), rustls_capif::Error>(())
/// ```
pub fn import_psk(
    epsk: &ExternalPsk,
    context: &[u8],
    kdf: TargetKdf,
    provider: &CryptoProvider,
) -> Result<ExternalPsk, Error> {
    if epsk.is_imported() {
        return Err(Error::InvalidConfig(
            "an imported PSK cannot be imported again".into(),
        ));
    }
    let identity = ImportedIdentity {
        external_identity: epsk.identity(),
        context,
        target_protocol: TARGET_PROTOCOL_TLS13,
        target_kdf: kdf.code(),
    }
    .encode()?;
    import_with_identity(epsk, identity, kdf, provider)
}

/// The IPSK of `epsk` for an `ImportedIdentity` already encoded (as a server receives it).
pub(crate) fn import_with_identity(
    epsk: &ExternalPsk,
    imported_identity: Vec<u8>,
    kdf: TargetKdf,
    provider: &CryptoProvider,
) -> Result<ExternalPsk, Error> {
    let s = suite_of(provider, epsk.hash())?;
    let epskx = s.hkdf.extract_from_secret(None, epsk.secret());
    let identity_hash = s.hash.hash(&imported_identity);
    let mut ipskx = Zeroizing::new([0u8; 48]);
    let ipskx = &mut ipskx[..kdf.output_len()];
    expand_label(
        epskx.as_ref(),
        b"derived psk",
        identity_hash.as_ref(),
        ipskx,
    )?;
    let mut ipsk = ExternalPsk::new(imported_identity, ipskx, kdf.psk_hash())?;
    ipsk.imported = Some(std::sync::Arc::new(ImportedFrom {
        external_identity: epsk.identity().to_vec(),
        target_kdf: kdf,
    }));
    Ok(ipsk)
}

/// The imported PSKs a client offers for `psks`: for each EPSK, one per target KDF.
pub(crate) fn import_all(
    importer: &PskImporter,
    psks: &[ExternalPsk],
    suites: &[&'static rustls::Tls13CipherSuite],
    provider: &CryptoProvider,
) -> Result<Vec<ExternalPsk>, Error> {
    let kdfs = importer.target_kdfs(suites);
    let mut out = Vec::with_capacity(psks.len() * kdfs.len());
    for epsk in psks {
        for kdf in &kdfs {
            out.push(import_psk(epsk, &importer.context, *kdf, provider)?);
        }
    }
    if out.is_empty() {
        return Err(Error::InvalidConfig(
            "the PSK importer has no target KDF for the configured suites".into(),
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    //! Known answers from an independent implementation (`tests/data/rfc9258_vectors.py`,
    //! Python stdlib only; regenerate with
    //! `python3 tests/data/rfc9258_vectors.py > tests/data/rfc9258_vectors.json`), and the
    //! decoder's handling of malformed identities.
    use super::*;
    use crate::psk::key_schedule::EarlySecret;
    use crate::secret::decode_hex;

    fn hex(v: &serde_json::Value) -> Vec<u8> {
        decode_hex(v.as_str().unwrap()).unwrap().to_vec()
    }

    fn suite(provider: &CryptoProvider, hash: PskHash) -> &'static rustls::Tls13CipherSuite {
        provider
            .cipher_suites
            .iter()
            .find_map(|s| match s {
                SupportedCipherSuite::Tls13(s) if hash.matches(s) => Some(*s),
                _ => None,
            })
            .unwrap()
    }

    #[test]
    fn independent_vectors() {
        let vectors: serde_json::Value =
            serde_json::from_str(include_str!("../../tests/data/rfc9258_vectors.json")).unwrap();
        let provider = crate::default_provider();
        let vectors = vectors.as_array().unwrap();
        assert_eq!(vectors.len(), 3);
        for v in vectors {
            let name = v["name"].as_str().unwrap();
            let hash = match v["epsk_hash"].as_str().unwrap() {
                "sha256" => PskHash::Sha256,
                _ => PskHash::Sha384,
            };
            let epsk =
                ExternalPsk::new(hex(&v["external_identity"]), &hex(&v["epsk"]), hash).unwrap();
            let kdf = TargetKdf::from_code(v["target_kdf"].as_u64().unwrap() as u16).unwrap();
            let context = hex(&v["context"]);
            let ipsk = import_psk(&epsk, &context, kdf, &provider).unwrap();
            // The encoding, byte by byte, and its decoding.
            let want_identity = hex(&v["imported_identity"]);
            assert_eq!(ipsk.identity(), want_identity.as_slice(), "{name}");
            let ii = ImportedIdentity::decode(ipsk.identity()).unwrap();
            assert_eq!(ii.external_identity, epsk.identity(), "{name}");
            assert_eq!(ii.context, context.as_slice(), "{name}");
            assert_eq!(ii.target_protocol, 0x0304, "{name}");
            assert_eq!(ii.target_kdf, kdf.code(), "{name}");
            // ipskx, binder key ("imp binder") and a binder.
            assert_eq!(ipsk.secret(), hex(&v["ipskx"]).as_slice(), "{name}");
            assert_eq!(ipsk.hash(), kdf.psk_hash(), "{name}");
            assert_eq!(ipsk.external_identity(), epsk.identity(), "{name}");
            let s = Suite::of(suite(&provider, kdf.psk_hash()));
            let early = EarlySecret::of_psk(s, &ipsk);
            assert_eq!(early.binder_key().as_ref(), hex(&v["binder_key"]), "{name}");
            let th = s.hash.hash(&hex(&v["transcript"]));
            assert_eq!(early.binder(th.as_ref()), hex(&v["binder"]), "{name}");
            // The same key without importing has the "ext binder" label: another binder.
            let plain = ExternalPsk::new(b"x".to_vec(), ipsk.secret(), ipsk.hash()).unwrap();
            assert_ne!(
                EarlySecret::of_psk(s, &plain).binder(th.as_ref()),
                hex(&v["binder"])
            );
        }
    }

    #[test]
    fn decode_refuses_malformed_identities() {
        let good = ImportedIdentity {
            external_identity: b"INV0001",
            context: b"ctx",
            target_protocol: TARGET_PROTOCOL_TLS13,
            target_kdf: 1,
        };
        let enc = good.encode().unwrap();
        assert_eq!(ImportedIdentity::decode(&enc), Some(good));
        // Every truncation, and every extension by trailing octets, is refused.
        for n in 0..enc.len() {
            assert_eq!(
                ImportedIdentity::decode(&enc[..n]),
                None,
                "truncated to {n}"
            );
        }
        for extra in [&[0u8][..], &[0, 0], &[1, 2, 3, 4]] {
            let mut long = enc.clone();
            long.extend_from_slice(extra);
            assert_eq!(ImportedIdentity::decode(&long), None, "{extra:?} appended");
        }
        // A zero-length external identity (the RFC's lower bound is 1).
        assert_eq!(ImportedIdentity::decode(&[0, 0, 0, 0, 3, 4, 0, 1]), None);
        assert!(ImportedIdentity {
            external_identity: b"",
            ..good
        }
        .encode()
        .is_err());
        // Length fields larger than the rest.
        assert_eq!(
            ImportedIdentity::decode(&[0xff, 0xff, 1, 0, 0, 3, 4, 0, 1]),
            None
        );
        assert_eq!(
            ImportedIdentity::decode(&[0, 1, b'a', 0xff, 0xff, 3, 4, 0, 1]),
            None
        );
        // Too long to be an identity at all.
        let big = vec![1u8; 65535 - 8 + 1];
        assert!(ImportedIdentity {
            external_identity: &big,
            context: b"",
            ..good
        }
        .encode()
        .is_err());
        let fits = vec![1u8; 65535 - 8];
        assert_eq!(
            ImportedIdentity {
                external_identity: &fits,
                context: b"",
                ..good
            }
            .encode()
            .unwrap()
            .len(),
            65535
        );
    }

    #[test]
    fn server_interpretation() {
        let kdfs = [TargetKdf::HkdfSha256];
        let encode = |ctx: &[u8], protocol: u16, kdf: u16| {
            ImportedIdentity {
                external_identity: b"INV0001",
                context: ctx,
                target_protocol: protocol,
                target_kdf: kdf,
            }
            .encode()
            .unwrap()
        };
        let only = PskImporter::new().with_context(b"ctx".to_vec()).unwrap();
        let both = only.clone().accepting_non_imported(true);
        let ok = encode(b"ctx", 0x0304, 1);
        let want = Some(Interpretation::Imported {
            external_identity: &b"INV0001"[..],
            kdf: TargetKdf::HkdfSha256,
        });
        assert_eq!(only.interpret(&ok, &kdfs), want);
        assert_eq!(both.interpret(&ok, &kdfs), want);
        // Wrong context, DTLS 1.3 target, a KDF not accepted, an unknown KDF, a plain
        // identity: unknown to an importer-only server, plain to one accepting both.
        for id in [
            encode(b"other", 0x0304, 1),
            encode(b"ctx", 0xfefc, 1),
            encode(b"ctx", 0x0304, 2),
            encode(b"ctx", 0x0304, 0xff00),
            b"INV0001".to_vec(),
        ] {
            assert_eq!(only.interpret(&id, &kdfs), None, "{id:?}");
            assert_eq!(
                both.interpret(&id, &kdfs),
                Some(Interpretation::Plain(&id[..])),
                "{id:?}"
            );
        }
        assert!(PskImporter::new().with_target_kdfs(&[]).is_err());
        assert!(PskImporter::new()
            .with_context(vec![0; 65535 - 9 + 1])
            .is_err());
    }

    #[test]
    fn debug_shows_no_secret_and_import_is_not_repeated() {
        let provider = crate::default_provider();
        let epsk = ExternalPsk::new(b"id".to_vec(), &[0x5a; 32], PskHash::Sha256).unwrap();
        let ipsk = import_psk(&epsk, b"", TargetKdf::HkdfSha256, &provider).unwrap();
        let s = format!("{ipsk:?}");
        assert!(s.contains("[redacted]") && s.contains("HkdfSha256"), "{s}");
        // The same text for another key: nothing of the secret is printed.
        let other = ExternalPsk::new(b"id".to_vec(), &[0xa5; 32], PskHash::Sha256).unwrap();
        let other = import_psk(&other, b"", TargetKdf::HkdfSha256, &provider).unwrap();
        assert_ne!(other.secret(), ipsk.secret());
        assert_eq!(format!("{other:?}"), s);
        assert!(import_psk(&ipsk, b"", TargetKdf::HkdfSha256, &provider).is_err());
    }
}
