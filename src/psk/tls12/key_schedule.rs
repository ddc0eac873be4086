//! The TLS 1.2 key schedule of the PSK suites, all through the suite's rustls provider:
//!
//! ```text
//! premaster  = uint16 len(other) || other || uint16 len(psk) || psk        RFC 4279 §2
//!              other = N zero octets (PSK) | the ECDH shared secret (ECDHE_PSK, RFC 5489 §2)
//! master     = PRF(premaster, "extended master secret", session_hash)[0..48]   RFC 7627 §4
//!              session_hash = Hash(ClientHello .. ClientKeyExchange)
//! key_block  = PRF(master, "key expansion", server_random || client_random)   RFC 5246 §6.3
//! verify_data = PRF(master, "client finished" | "server finished", Hash(handshake))[0..12]
//! exporter   = PRF(master, label, client_random || server_random [|| u16 len || context])
//!                                                                             RFC 5705 §4
//! ```
//!
//! The PRF is the provider's `Prf` of a TLS 1.2 suite with the same hash, the AEAD its
//! `Tls12AeadAlgorithm` (RFC 5288 explicit nonces for AES-GCM, RFC 7905 nonces for
//! ChaCha20-Poly1305), so no cipher, PRF or hash is written here.

use rustls::crypto::cipher::{AeadKey, MessageDecrypter, MessageEncrypter};
use rustls::crypto::tls13::{HkdfExpander, OkmBlock, OutputLengthError};
use rustls::crypto::CryptoProvider;
use rustls::{SupportedCipherSuite, Tls12CipherSuite};
use zeroize::Zeroizing;

use super::codec::VERIFY_DATA_LEN;
use crate::error::Error;
use crate::psk::Side;

/// The RFC 4279 §2 premaster secret for `psk` and `other_secret` (`None`: plain PSK, whose
/// other_secret is as many zero octets as the PSK has).
pub(crate) fn premaster_secret(other_secret: Option<&[u8]>, psk: &[u8]) -> Zeroizing<Vec<u8>> {
    let zeros = Zeroizing::new(vec![0u8; psk.len()]);
    let other = other_secret.unwrap_or(&zeros);
    let mut out = Zeroizing::new(Vec::with_capacity(4 + other.len() + psk.len()));
    out.extend_from_slice(&(other.len() as u16).to_be_bytes());
    out.extend_from_slice(other);
    out.extend_from_slice(&(psk.len() as u16).to_be_bytes());
    out.extend_from_slice(psk);
    out
}

/// One side's record protection from the key block: its own write key and the peer's.
pub(crate) struct RecordKeys {
    pub(crate) encrypter: Box<dyn MessageEncrypter>,
    pub(crate) decrypter: Box<dyn MessageDecrypter>,
}

/// The master secret of one connection (extended, unless a peer without it was allowed),
/// zeroized on drop.
pub(crate) struct MasterSecret {
    secret: Zeroizing<[u8; 48]>,
    suite: &'static Tls12CipherSuite,
}

impl MasterSecret {
    /// RFC 7627 §4: PRF(premaster, "extended master secret", session_hash).
    pub(crate) fn extended(
        suite: &'static Tls12CipherSuite,
        premaster: &[u8],
        session_hash: &[u8],
    ) -> Self {
        let mut secret = Zeroizing::new([0u8; 48]);
        suite.prf_provider.for_secret(
            &mut secret[..],
            premaster,
            b"extended master secret",
            session_hash,
        );
        Self { secret, suite }
    }

    /// RFC 5246 §8.1: PRF(premaster, "master secret", client_random + server_random), the
    /// master secret of a peer without the extended master secret (only with
    /// [`ExtendedMasterSecret::Preferred`](crate::psk::ExtendedMasterSecret::Preferred)). It
    /// does not bind the handshake: see RFC 7627 §1 for the triple handshake it allows.
    pub(crate) fn legacy(
        suite: &'static Tls12CipherSuite,
        premaster: &[u8],
        client_random: &[u8; 32],
        server_random: &[u8; 32],
    ) -> Self {
        let mut seed = [0u8; 64];
        seed[..32].copy_from_slice(client_random);
        seed[32..].copy_from_slice(server_random);
        let mut secret = Zeroizing::new([0u8; 48]);
        suite
            .prf_provider
            .for_secret(&mut secret[..], premaster, b"master secret", &seed);
        Self { secret, suite }
    }

    /// The extended master secret if `extended`, else the legacy one.
    pub(crate) fn derive(
        extended: bool,
        suite: &'static Tls12CipherSuite,
        premaster: &[u8],
        session_hash: &[u8],
        randoms: (&[u8; 32], &[u8; 32]),
    ) -> Self {
        if extended {
            Self::extended(suite, premaster, session_hash)
        } else {
            Self::legacy(suite, premaster, randoms.0, randoms.1)
        }
    }

    /// Finished.verify_data (RFC 5246 §7.4.9) of `side` over `handshake_hash`.
    pub(crate) fn verify_data(&self, side: Side, handshake_hash: &[u8]) -> [u8; VERIFY_DATA_LEN] {
        let label: &[u8] = match side {
            Side::Client => b"client finished",
            Side::Server => b"server finished",
        };
        let mut out = [0u8; VERIFY_DATA_LEN];
        self.suite
            .prf_provider
            .for_secret(&mut out, &self.secret[..], label, handshake_hash);
        out
    }

    /// The key block (RFC 5246 §6.3) cut into `side`'s encrypter and the peer's decrypter.
    pub(crate) fn record_keys(
        &self,
        side: Side,
        client_random: &[u8; 32],
        server_random: &[u8; 32],
        provider: &CryptoProvider,
    ) -> Result<RecordKeys, Error> {
        let aead = self.suite.aead_alg;
        let shape = aead.key_block_shape();
        let block = self.key_block(client_random, server_random);
        let (client_key, rest) = block.split_at(shape.enc_key_len);
        let (server_key, rest) = rest.split_at(shape.enc_key_len);
        let (client_iv, rest) = rest.split_at(shape.fixed_iv_len);
        let (server_iv, extra) = rest.split_at(shape.fixed_iv_len);
        let (write_key, write_iv, read_key, read_iv) = match side {
            Side::Client => (client_key, client_iv, server_key, server_iv),
            Side::Server => (server_key, server_iv, client_key, client_iv),
        };
        Ok(RecordKeys {
            encrypter: aead.encrypter(aead_key(write_key, provider)?, write_iv, extra),
            decrypter: aead.decrypter(aead_key(read_key, provider)?, read_iv),
        })
    }

    /// key_block = PRF(master, "key expansion", server_random || client_random), as long as
    /// the AEAD's shape asks (RFC 5246 §6.3; the explicit-nonce part is rustls's GCM nonce
    /// offset, RFC 5288 §3).
    fn key_block(&self, client_random: &[u8; 32], server_random: &[u8; 32]) -> Zeroizing<Vec<u8>> {
        let shape = self.suite.aead_alg.key_block_shape();
        let len = 2 * shape.enc_key_len + 2 * shape.fixed_iv_len + shape.explicit_nonce_len;
        let mut block = Zeroizing::new(vec![0u8; len]);
        let mut seed = [0u8; 64];
        seed[..32].copy_from_slice(server_random);
        seed[32..].copy_from_slice(client_random);
        self.suite
            .prf_provider
            .for_secret(&mut block, &self.secret[..], b"key expansion", &seed);
        block
    }

    /// The RFC 5705 exporter of this connection.
    pub(crate) fn into_exporter(
        self,
        client_random: [u8; 32],
        server_random: [u8; 32],
    ) -> Exporter {
        Exporter {
            master: self,
            client_random,
            server_random,
        }
    }
}

/// RFC 5705 keying-material exporter of a TLS 1.2 connection (with the extended master
/// secret, as RFC 7627 §5.4 asks).
pub(crate) struct Exporter {
    master: MasterSecret,
    client_random: [u8; 32],
    server_random: [u8; 32],
}

impl Exporter {
    /// PRF(master, label, client_random || server_random [|| u16 len(context) || context]).
    pub(crate) fn export(
        &self,
        label: &[u8],
        context: Option<&[u8]>,
        out: &mut [u8],
    ) -> Result<(), Error> {
        let mut seed = Vec::with_capacity(64 + 2 + context.map_or(0, <[u8]>::len));
        seed.extend_from_slice(&self.client_random);
        seed.extend_from_slice(&self.server_random);
        if let Some(context) = context {
            let len = u16::try_from(context.len()).map_err(|_| {
                Error::InvalidConfig("an exporter context is at most 65535 octets".into())
            })?;
            seed.extend_from_slice(&len.to_be_bytes());
            seed.extend_from_slice(context);
        }
        self.master
            .suite
            .prf_provider
            .for_secret(out, &self.master.secret[..], label, &seed);
        Ok(())
    }
}

/// An `AeadKey` holding `key`. rustls has a public constructor only for 32-octet keys; for
/// other lengths (AES-128-GCM's 16) the key goes through rustls's hidden
/// `derive_traffic_key` — the same one call the TLS 1.3 key schedule makes — with an
/// "expander" that outputs `key` itself, and a TLS 1.3 AEAD of the provider with that key
/// length (only its length is used).
fn aead_key(key: &[u8], provider: &CryptoProvider) -> Result<AeadKey, Error> {
    if let Ok(key) = <[u8; 32]>::try_from(key) {
        return Ok(AeadKey::from(key));
    }
    let alg = provider
        .cipher_suites
        .iter()
        .find_map(|s| match s {
            SupportedCipherSuite::Tls13(s) if s.aead_alg.key_len() == key.len() => Some(s.aead_alg),
            _ => None,
        })
        .ok_or(Error::InvalidState(
            "the crypto provider has no AEAD of this key length",
        ))?;
    Ok(rustls::internal::derive_traffic_key(&RawKey(key), alg))
}

/// An `HkdfExpander` whose every output is the given key (zero-padded): see [`aead_key`].
struct RawKey<'a>(&'a [u8]);

impl HkdfExpander for RawKey<'_> {
    fn expand_slice(&self, _info: &[&[u8]], output: &mut [u8]) -> Result<(), OutputLengthError> {
        output.fill(0);
        let n = output.len().min(self.0.len());
        output[..n].copy_from_slice(&self.0[..n]);
        Ok(())
    }

    fn expand_block(&self, _info: &[&[u8]]) -> OkmBlock {
        OkmBlock::new(self.0)
    }

    fn hash_len(&self) -> usize {
        self.0.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn premaster_secret_layout() {
        // RFC 4279 §2: plain PSK of N octets -> N zeros.
        assert_eq!(
            &premaster_secret(None, &[7; 3])[..],
            &[0, 3, 0, 0, 0, 0, 3, 7, 7, 7]
        );
        assert_eq!(
            &premaster_secret(Some(&[1, 2]), &[7; 3])[..],
            &[0, 2, 1, 2, 0, 3, 7, 7, 7]
        );
    }

    /// Known answers computed independently with Python's stdlib (hmac, hashlib), the RFC
    /// 5246 §5 P_hash written out:
    ///
    /// ```text
    /// python3 - <<'PY'
    /// import hmac, hashlib
    /// def prf(h, secret, label, seed, n):
    ///     seed = label + seed; out = b''; a = seed
    ///     while len(out) < n:
    ///         a = hmac.new(secret, a, h).digest(); out += hmac.new(secret, a + seed, h).digest()
    ///     return out[:n]
    /// psk = bytes([0x42]) * 32
    /// for name, h, kb_len, other in [("0xCCAC", hashlib.sha256, 2*32+2*12, bytes(range(32))),
    ///         ("0xD001", hashlib.sha256, 2*16+2*4+8, bytes(range(32))),
    ///         ("0xD002", hashlib.sha384, 2*32+2*4+8, bytes(range(32))),
    ///         ("0x00A8", hashlib.sha256, 2*16+2*4+8, bytes(32))]:
    ///     pms = len(other).to_bytes(2, 'big') + other + len(psk).to_bytes(2, 'big') + psk
    ///     ms = prf(h, pms, b"extended master secret", h(b"ClientHello..ClientKeyExchange").digest(), 48)
    ///     th = h(b"ClientHello..Finished").digest()
    ///     print(name, ms.hex(), prf(h, ms, b"key expansion", bytes([2]) * 32 + bytes([1]) * 32, kb_len).hex(),
    ///           prf(h, ms, b"client finished", th, 12).hex(), prf(h, ms, b"server finished", th, 12).hex(),
    ///           prf(h, ms, b"EXPORTER-test", bytes([1]) * 32 + bytes([2]) * 32 + b"\x00\x03ctx", 20).hex())
    /// PY
    /// ```
    #[test]
    fn known_answers_from_an_independent_prf() {
        use crate::psk::tls12::{Suite12, SUITES};
        use crate::secret::decode_hex;
        let provider = crate::default_provider();
        let cases = [
            (
                0xccac,
                true,
                "ce7f42506423a23a6f3f8db75b814965c09972e76efacf43381064f0675ed1e796dd83bfb1496d214c19d9cb61b3e59b",
                "85b7566d152dd3be1ff31b7ab829dad40d5b6fd8ead0d4fe62b5ba008124f9d0e5b250b2b7d94bcf906c1f61071072ff022b2505bb0e1256943418f499f0dec01c59b0d6772906ab9849f1cfed237496741bbe33b07fc640",
                "e0734a3d42ef1ff95e00ba1d",
                "c8afa342979d65d996b2eee2",
                "4aee556a226b74a71497d172006ee4ab204f92e3",
            ),
            (
                0xd001,
                true,
                "ce7f42506423a23a6f3f8db75b814965c09972e76efacf43381064f0675ed1e796dd83bfb1496d214c19d9cb61b3e59b",
                "85b7566d152dd3be1ff31b7ab829dad40d5b6fd8ead0d4fe62b5ba008124f9d0e5b250b2b7d94bcf906c1f61071072ff",
                "e0734a3d42ef1ff95e00ba1d",
                "c8afa342979d65d996b2eee2",
                "4aee556a226b74a71497d172006ee4ab204f92e3",
            ),
            (
                0xd002,
                true,
                "9e289d5ac02506c73140944435f68cf4c114f16425c046f984bf7cba4d377520704d18d7c223e00df2d4194c71918bd8",
                "d3ac0d0fd5187b878255f2d94452b4e27a1cb5e905e34c3f0bff98a4da9ef53db86df92230b2943a8c7953184ff4422a73566e8ff49f85a21ffd3c257cdc8a37c749db12ca40fd34ddf4a6798c83b535",
                "b6b4997823ea2feafd2cae5f",
                "02a34c8e7e4cb55d86fa492c",
                "a0014a4076c25ea1775241709137e88a106af8b7",
            ),
            (
                0x00a8,
                false,
                "a93fa2697879fec5fd5919bcf929df3e8eeac5afdda0411db224c463f1b2da1325bf809fdbf112d86f4d95fd54f8a0d0",
                "348d6750c8852db42544de7a71fc0293c3433137c4ce5cb764ea1a4f9865dafb3eeb6ad2456aef7091c9bbd74c7a39f6",
                "b93849f70cf219c28821dec0",
                "857ef3588c17632b0c5ca038",
                "f7bf1689228475f7ad5a9e78942603a922619a7e",
            ),
        ];
        assert_eq!(SUITES.len(), 5);
        let other: Vec<u8> = (0..32).collect();
        for (code, ecdhe, ms, kb, cf, sf, exp) in cases {
            let suite = Suite12::lookup(code, &provider).unwrap();
            let h = suite.hash();
            let premaster = premaster_secret(ecdhe.then_some(&other[..]), &[0x42; 32]);
            let session_hash = h.hash(b"ClientHello..ClientKeyExchange");
            let master = MasterSecret::extended(suite.base, &premaster, session_hash.as_ref());
            assert_eq!(
                &master.secret[..],
                &decode_hex(ms).unwrap()[..],
                "{code:#x}"
            );
            let block = master.key_block(&[1; 32], &[2; 32]);
            assert_eq!(&block[..], &decode_hex(kb).unwrap()[..], "{code:#x}");
            let th = h.hash(b"ClientHello..Finished");
            assert_eq!(
                master.verify_data(Side::Client, th.as_ref())[..],
                decode_hex(cf).unwrap()[..]
            );
            assert_eq!(
                master.verify_data(Side::Server, th.as_ref())[..],
                decode_hex(sf).unwrap()[..]
            );
            let exporter = master.into_exporter([1; 32], [2; 32]);
            let mut out = [0u8; 20];
            exporter
                .export(b"EXPORTER-test", Some(b"ctx"), &mut out)
                .unwrap();
            assert_eq!(out[..], decode_hex(exp).unwrap()[..], "{code:#x}");
        }
    }

    #[test]
    fn sixteen_octet_keys_keep_their_bytes() {
        let provider = crate::default_provider();
        let key: Vec<u8> = (1..=16).collect();
        assert_eq!(aead_key(&key, &provider).unwrap().as_ref(), &key[..]);
        let key: Vec<u8> = (1..=32).collect();
        assert_eq!(aead_key(&key, &provider).unwrap().as_ref(), &key[..]);
    }
}
