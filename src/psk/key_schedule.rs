//! The TLS 1.3 key schedule for an external PSK (RFC 8446 §7.1), the transcript hash
//! (§4.4.1), Finished and binder values (§4.4.4, §4.2.11.2), traffic keys (§7.3), KeyUpdate
//! (§7.2) and the exporter (§7.5).
//!
//! ```text
//! early      = HKDF-Extract(0, PSK)
//! binder_key = Derive-Secret(early, "ext binder", "")
//! hs         = HKDF-Extract(Derive-Secret(early, "derived", ""), (EC)DHE | 0)
//! master     = HKDF-Extract(Derive-Secret(hs, "derived", ""), 0)
//! ```
//!
//! Every HKDF, HMAC and hash computation goes through the suite's rustls crypto provider.
//! Secrets are rustls `OkmBlock`s or `HkdfExpander`s, which zeroize themselves.

use rustls::crypto::cipher::{AeadKey, Iv, MessageDecrypter, MessageEncrypter};
use rustls::crypto::hash::{self, Hash, HashAlgorithm};
use rustls::crypto::tls13::{Hkdf, HkdfExpander, OkmBlock};
use rustls::Tls13CipherSuite;

use crate::error::Error;
use crate::tls13_hkdf::{expand_label, expand_label_block};

/// The one call into rustls's hidden `internal` API: an AEAD key of the suite's length.
/// (`AeadKey` has a public constructor only for 32-octet keys; AES-128-GCM needs 16.)
fn traffic_key(expander: &dyn HkdfExpander, suite: &Tls13CipherSuite) -> AeadKey {
    rustls::internal::derive_traffic_key(expander, suite.aead_alg)
}

/// Binder key labels: external PSKs (RFC 8446 §7.1) and RFC 9258 imported PSKs (§5.2).
pub(crate) const EXT_BINDER: &[u8] = b"ext binder";
pub(crate) const IMP_BINDER: &[u8] = b"imp binder";

/// The primitives of one cipher suite (or of a PSK's hash): HKDF and hash.
#[derive(Clone, Copy)]
pub(crate) struct Suite {
    pub(crate) hkdf: &'static dyn Hkdf,
    pub(crate) hash: &'static dyn Hash,
}

impl Suite {
    pub(crate) fn of(suite: &'static Tls13CipherSuite) -> Self {
        Self {
            hkdf: suite.hkdf_provider,
            hash: suite.common.hash_provider,
        }
    }

    /// Derive-Secret(Secret, Label, Messages) given Transcript-Hash(Messages).
    fn derive(&self, secret: &dyn HkdfExpander, label: &[u8], transcript_hash: &[u8]) -> OkmBlock {
        expand_label_block(secret, label, transcript_hash)
    }

    fn empty_hash(&self) -> hash::Output {
        self.hash.hash(&[])
    }

    /// HMAC(finished_key(secret), transcript_hash): Finished verify_data and PSK binders.
    fn finished_mac(&self, base_key: &OkmBlock, transcript_hash: &[u8]) -> Vec<u8> {
        let expander = self.hkdf.expander_for_okm(base_key);
        let finished_key = expand_label_block(expander.as_ref(), b"finished", &[]);
        self.hkdf
            .hmac_sign(&finished_key, transcript_hash)
            .as_ref()
            .to_vec()
    }
}

/// The early secret of an external PSK.
///
/// It depends only on the PSK and its hash, so one value serves both for the binder and, once
/// the PSK is accepted, as the start of the key schedule.
pub(crate) struct EarlySecret {
    suite: Suite,
    prk: Box<dyn HkdfExpander>,
    /// Transcript-Hash("") of the suite's hash, which every Derive-Secret(., ., "") of the key
    /// schedule takes: computed once per handshake.
    empty_hash: hash::Output,
    /// "ext binder", or "imp binder" for an imported PSK.
    binder_label: &'static [u8],
}

impl EarlySecret {
    /// The early secret of a plain external PSK ("ext binder").
    #[cfg(test)]
    pub(crate) fn new(suite: Suite, psk: &[u8]) -> Self {
        Self::with_binder_label(suite, psk, EXT_BINDER)
    }

    /// The early secret of `psk`, with the binder label of its kind.
    pub(crate) fn of_psk(suite: Suite, psk: &super::config::ExternalPsk) -> Self {
        Self::with_binder_label(suite, psk.secret(), psk.binder_label())
    }

    fn with_binder_label(suite: Suite, psk: &[u8], binder_label: &'static [u8]) -> Self {
        Self {
            prk: suite.hkdf.extract_from_secret(None, psk),
            empty_hash: suite.empty_hash(),
            suite,
            binder_label,
        }
    }

    /// The hash this secret was computed with (the key schedule's hash from here on).
    pub(crate) fn hash_algorithm(&self) -> HashAlgorithm {
        self.suite.hash.algorithm()
    }

    /// The PSK binder over Transcript-Hash(truncated ClientHello [with HRR prefix]).
    /// Uses the "ext binder" label (these are external PSKs, not resumption), or "imp binder"
    /// for an RFC 9258 imported PSK.
    pub(crate) fn binder(&self, transcript_hash: &[u8]) -> Vec<u8> {
        self.suite.finished_mac(&self.binder_key(), transcript_hash)
    }

    /// binder_key = Derive-Secret(early, label, "").
    pub(crate) fn binder_key(&self) -> OkmBlock {
        self.suite.derive(
            self.prk.as_ref(),
            self.binder_label,
            self.empty_hash.as_ref(),
        )
    }

    /// Mixes in the (EC)DHE shared secret (`None` for psk_ke: Hash.len zeros).
    pub(crate) fn into_handshake_secret(self, shared_secret: Option<&[u8]>) -> HandshakeSecret {
        let salt = self
            .suite
            .derive(self.prk.as_ref(), b"derived", self.empty_hash.as_ref());
        let prk = match shared_secret {
            Some(ss) => self.suite.hkdf.extract_from_secret(Some(salt.as_ref()), ss),
            None => self.suite.hkdf.extract_from_zero_ikm(Some(salt.as_ref())),
        };
        HandshakeSecret {
            suite: self.suite,
            prk,
            empty_hash: self.empty_hash,
        }
    }
}

/// The handshake secret.
pub(crate) struct HandshakeSecret {
    suite: Suite,
    prk: Box<dyn HkdfExpander>,
    empty_hash: hash::Output,
}

impl HandshakeSecret {
    /// (client, server) handshake traffic secrets over Transcript-Hash(ClientHello..ServerHello).
    pub(crate) fn traffic_secrets(&self, hello_hash: &[u8]) -> (TrafficSecret, TrafficSecret) {
        (
            TrafficSecret(
                self.suite
                    .derive(self.prk.as_ref(), b"c hs traffic", hello_hash),
            ),
            TrafficSecret(
                self.suite
                    .derive(self.prk.as_ref(), b"s hs traffic", hello_hash),
            ),
        )
    }

    pub(crate) fn into_master_secret(self) -> MasterSecret {
        let salt = self
            .suite
            .derive(self.prk.as_ref(), b"derived", self.empty_hash.as_ref());
        MasterSecret {
            prk: self.suite.hkdf.extract_from_zero_ikm(Some(salt.as_ref())),
            suite: self.suite,
        }
    }
}

/// The master secret.
pub(crate) struct MasterSecret {
    suite: Suite,
    prk: Box<dyn HkdfExpander>,
}

impl MasterSecret {
    /// (client, server) application traffic secrets and the exporter master secret over
    /// Transcript-Hash(ClientHello..server Finished).
    pub(crate) fn application_secrets(
        &self,
        handshake_hash: &[u8],
    ) -> (TrafficSecret, TrafficSecret, ExporterSecret) {
        let prk = self.prk.as_ref();
        (
            TrafficSecret(self.suite.derive(prk, b"c ap traffic", handshake_hash)),
            TrafficSecret(self.suite.derive(prk, b"s ap traffic", handshake_hash)),
            ExporterSecret {
                secret: self.suite.derive(prk, b"exp master", handshake_hash),
                suite: self.suite,
            },
        )
    }
}

/// A handshake or application traffic secret.
pub(crate) struct TrafficSecret(OkmBlock);

impl TrafficSecret {
    /// The record-protection key and IV of this secret for `suite` (RFC 8446 §7.3).
    pub(crate) fn keys(&self, suite: &'static Tls13CipherSuite) -> (AeadKey, Iv) {
        let expander = suite.hkdf_provider.expander_for_okm(&self.0);
        let key = traffic_key(expander.as_ref(), suite);
        let mut iv = [0u8; 12];
        // 12 octets: far within HKDF's bound, so this cannot fail.
        let _ = expand_label(expander.as_ref(), b"iv", &[], &mut iv);
        (key, Iv::new(iv))
    }

    pub(crate) fn encrypter(&self, suite: &'static Tls13CipherSuite) -> Box<dyn MessageEncrypter> {
        let (key, iv) = self.keys(suite);
        suite.aead_alg.encrypter(key, iv)
    }

    pub(crate) fn decrypter(&self, suite: &'static Tls13CipherSuite) -> Box<dyn MessageDecrypter> {
        let (key, iv) = self.keys(suite);
        suite.aead_alg.decrypter(key, iv)
    }

    /// Finished.verify_data = HMAC(finished_key, transcript_hash) (RFC 8446 §4.4.4).
    pub(crate) fn verify_data(&self, suite: Suite, transcript_hash: &[u8]) -> Vec<u8> {
        suite.finished_mac(&self.0, transcript_hash)
    }

    /// application_traffic_secret_N+1 (RFC 8446 §7.2).
    pub(crate) fn next(&self, suite: Suite) -> Self {
        let expander = suite.hkdf.expander_for_okm(&self.0);
        Self(expand_label_block(expander.as_ref(), b"traffic upd", &[]))
    }

    #[cfg(test)]
    pub(crate) fn bytes(&self) -> &[u8] {
        self.0.as_ref()
    }
}

/// The exporter master secret (RFC 8446 §7.5).
pub(crate) struct ExporterSecret {
    suite: Suite,
    secret: OkmBlock,
}

impl ExporterSecret {
    /// TLS-Exporter(label, context, len): the context is hashed, and an absent context is
    /// the same as an empty one in TLS 1.3.
    pub(crate) fn export(&self, label: &[u8], context: &[u8], out: &mut [u8]) -> Result<(), Error> {
        crate::tls13_hkdf::export(
            self.suite.hkdf,
            self.suite.hash,
            &self.secret,
            label,
            context,
            out,
        )
    }
}

/// The running transcript hash. Messages are buffered until the hash function is known
/// (a client offering PSKs of two hashes learns it from the ServerHello).
pub(crate) enum Transcript {
    Buffering(Vec<u8>),
    Hashing(Box<dyn hash::Context>),
}

impl Default for Transcript {
    fn default() -> Self {
        Self::Buffering(Vec::new())
    }
}

impl Transcript {
    pub(crate) fn add(&mut self, message: &[u8]) {
        match self {
            Self::Buffering(buf) => buf.extend_from_slice(message),
            Self::Hashing(ctx) => ctx.update(message),
        }
    }

    /// Switches to hashing with `hash` (no-op if already hashing).
    pub(crate) fn start_hash(&mut self, hash: &'static dyn Hash) {
        if let Self::Buffering(buf) = self {
            let mut ctx = hash.start();
            ctx.update(buf);
            *self = Self::Hashing(ctx);
        }
    }

    /// Transcript-Hash of everything added so far.
    pub(crate) fn current_hash(&self, hash: &'static dyn Hash) -> hash::Output {
        match self {
            Self::Buffering(buf) => hash.hash(buf),
            Self::Hashing(ctx) => ctx.fork_finish(),
        }
    }

    /// Transcript-Hash of what was added plus `extra`, without adding it.
    pub(crate) fn hash_with(&self, hash: &'static dyn Hash, extra: &[u8]) -> hash::Output {
        match self {
            Self::Buffering(buf) => {
                let mut ctx = hash.start();
                ctx.update(buf);
                ctx.update(extra);
                ctx.finish()
            }
            Self::Hashing(ctx) => {
                let mut ctx = ctx.fork();
                ctx.update(extra);
                ctx.finish()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    //! Known-answer tests against the values printed in RFC 8448 ("Example Handshake Traces
    //! for TLS 1.3"), §3 (simple 1-RTT handshake) and §4 (resumed handshake: PSK binder).
    use super::*;
    use crate::secret::decode_hex;

    fn aes128_sha256() -> &'static Tls13CipherSuite {
        crate::default_provider()
            .cipher_suites
            .iter()
            .find_map(|s| match s {
                rustls::SupportedCipherSuite::Tls13(s)
                    if s.common.suite == rustls::CipherSuite::TLS13_AES_128_GCM_SHA256 =>
                {
                    Some(*s)
                }
                _ => None,
            })
            .expect("provider has TLS_AES_128_GCM_SHA256")
    }

    fn hex(s: &str) -> Vec<u8> {
        decode_hex(s).unwrap().to_vec()
    }

    /// RFC 8448 §3. With no PSK the early secret is HKDF-Extract(0, 0^32), which is exactly
    /// `EarlySecret::new` with a PSK of 32 zero octets.
    #[test]
    fn rfc8448_simple_1rtt() {
        let suite = aes128_sha256();
        let s = Suite::of(suite);
        let ecdhe = hex("8bd4054fb55b9d63fdfbacf9f04b9f0d35e6d63f537563efd46272900f89492d");
        let hello_hash = hex("860c06edc07858ee8e78f0e7428c58edd6b43f2ca3e6e95f02ed063cf0e1cad8");
        let finished_hash = hex("9608102a0f1ccc6db6250b7b7e417b1a000eaada3daae4777a7686c9ff83df13");

        let hs = EarlySecret::new(s, &[0u8; 32]).into_handshake_secret(Some(&ecdhe));
        let (c_hs, s_hs) = hs.traffic_secrets(&hello_hash);
        assert_eq!(
            c_hs.bytes(),
            hex("b3eddb126e067f35a780b3abf45e2d8f3b1a950738f52e9600746a0e27a55a21")
        );
        assert_eq!(
            s_hs.bytes(),
            hex("b67b7d690cc16c4e75e54213cb2d37b4e9c912bcded9105d42befd59d391ad38")
        );
        let (key, iv) = s_hs.keys(suite);
        assert_eq!(key.as_ref(), hex("3fce516009c21727d0f2e4e86ee403bc"));
        assert_eq!(iv.as_ref(), hex("5d313eb2671276ee13000b30"));
        let (key, iv) = c_hs.keys(suite);
        assert_eq!(key.as_ref(), hex("dbfaa693d1762c5b666af5d950258d01"));
        assert_eq!(iv.as_ref(), hex("5bd3c71b836e0b76bb73265f"));

        // Client Finished is computed over the transcript through the server Finished.
        assert_eq!(
            c_hs.verify_data(s, &finished_hash),
            hex("a8ec436d677634ae525ac1fcebe11a039ec17694fac6e98527b642f2edd5ce61")
        );

        let master = hs.into_master_secret();
        let (c_ap, s_ap, exporter) = master.application_secrets(&finished_hash);
        assert_eq!(
            c_ap.bytes(),
            hex("9e40646ce79a7f9dc05af8889bce6552875afa0b06df0087f792ebb7c17504a5")
        );
        assert_eq!(
            s_ap.bytes(),
            hex("a11af9f05531f856ad47116b45a950328204b4f44bfb6b3a4b4f1f3fcb631643")
        );
        assert_eq!(
            exporter.secret.as_ref(),
            hex("fe22f881176eda18eb8f44529e6792c50c9a3f89452f68d8ae311b4309d3cf50")
        );
        let (key, iv) = s_ap.keys(suite);
        assert_eq!(key.as_ref(), hex("9f02283b6c9c07efc26bb9f2ac92e356"));
        assert_eq!(iv.as_ref(), hex("cf782b88dd83549aadf1e984"));
    }

    /// RFC 8448 §4 prints a PSK binder computed with "res binder". External PSKs use
    /// "ext binder" through the same arithmetic: check the RFC's binder through our
    /// finished-MAC path, then that the external binder differs only by the label.
    #[test]
    fn rfc8448_binder_arithmetic() {
        let s = Suite::of(aes128_sha256());
        let psk = hex("4ecd0eb6ec3b4d87f5d6028f922ca4c5851a277fd41311c9e62d2c9492e1c4f3");
        let truncated_hash =
            hex("63224b2e4573f2d3454ca84b9d009a04f6be9e05711a8396473aefa01e924a14");
        let early = EarlySecret::new(s, &psk);
        let empty = s.empty_hash();
        let res_binder_key = s.derive(early.prk.as_ref(), b"res binder", empty.as_ref());
        assert_eq!(
            res_binder_key.as_ref(),
            hex("69fe131a3bbad5d63c64eebcc30e395b9d8107726a13d074e389dbc8a4e47256")
        );
        assert_eq!(
            s.finished_mac(&res_binder_key, &truncated_hash),
            hex("3add4fb2d8fdf822a0ca3cf7678ef5e88dae990141c5924d57bb6fa31b9e5f9d")
        );
        let ext_binder_key = s.derive(early.prk.as_ref(), b"ext binder", empty.as_ref());
        assert_eq!(
            early.binder(&truncated_hash),
            s.finished_mac(&ext_binder_key, &truncated_hash)
        );
        assert_ne!(
            early.binder(&truncated_hash),
            s.finished_mac(&res_binder_key, &truncated_hash)
        );
    }

    #[test]
    fn key_update_changes_secret_and_exporter_checks_lengths() {
        let s = Suite::of(aes128_sha256());
        let master = EarlySecret::new(s, &[1u8; 32])
            .into_handshake_secret(None)
            .into_master_secret();
        let (c, _s, exp) = master.application_secrets(&[0u8; 32]);
        let c1 = c.next(s);
        assert_ne!(c.bytes(), c1.bytes());
        assert_ne!(c1.bytes(), c1.next(s).bytes());
        let mut out = [0u8; 32];
        exp.export(b"label", b"", &mut out).unwrap();
        let mut out2 = [0u8; 32];
        exp.export(b"label", b"ctx", &mut out2).unwrap();
        assert_ne!(out, out2);
        assert!(exp.export(&[b'a'; 250], b"", &mut out).is_err());
    }
}
