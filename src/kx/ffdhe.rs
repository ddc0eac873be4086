//! RFC 7919 FFDHE groups `ffdhe2048` and `ffdhe3072` for TLS 1.3 `psk_dhe_ke` (RFC 8446
//! §4.2.8.1, §7.4.1), as rustls [`SupportedKxGroup`]s. Opt-in (feature `ffdhe`): OpenSSL and
//! GnuTLS peers offer them, and some clients offer nothing else.
//!
//! * Parameters: `rustls::ffdhe_groups` (RFC 7919 Appendix A; the tests check them against
//!   OpenSSL's own copy).
//! * Arithmetic: constant-time Montgomery exponentiation of `crypto-bigint`'s fixed-size
//!   `Uint` / `MontyForm` (no hand-written bignum code).
//! * Private exponent: from the rustls provider's `secure_random`, 256 bits for ffdhe2048 and
//!   320 bits for ffdhe3072 — above RFC 7919 Appendix A's short-exponent minimums (225 and
//!   275 bits) and twice the NIST SP 800-56A security strengths (112 and 128 bits).
//! * Peer values: exactly the size of p, and `1 < Y < p-1` (RFC 7919 §5.1, RFC 8446
//!   §4.2.8.1); anything else is `InvalidKeyShare`, which the engine answers with
//!   `illegal_parameter`.
//! * Shared secret: `Z = Y^x mod p` left-padded with zeros to the size of p (RFC 8446
//!   §7.4.1). The exponent and intermediate values are zeroized.
//!
//! ```
//! use rustls::NamedGroup;
//! use rustls_capif::psk::{ExternalPsk, PskClientConfig, PskHash};
//! let psk = ExternalPsk::new(b"invoker-42".to_vec(), &[0x11; 32], PskHash::Sha256)?;
//! // The FFDHE groups are found by name although the provider does not list them.
//! let config = PskClientConfig::new(psk)
//!     .with_groups(&[NamedGroup::X25519, NamedGroup::FFDHE2048])?;
//! # Ok::<(), rustls_capif::Error>(())
//! ```
//!
//! To give them to rustls itself, add them to a provider's `kx_groups`:
//! `CryptoProvider { kx_groups: vec![rustls_capif::kx::ffdhe::FFDHE2048, ...], ..provider }`.

use core::fmt;
use std::sync::OnceLock;

use crypto_bigint::modular::{MontyForm, MontyParams};
use crypto_bigint::{Odd, Uint, Word, U2048, U3072};
use rustls::crypto::{ActiveKeyExchange, SharedSecret, SupportedKxGroup};
use rustls::ffdhe_groups::FfdheGroup;
use rustls::{NamedGroup, PeerMisbehaved};
use zeroize::{Zeroize, Zeroizing};

/// The RFC 7919 `ffdhe2048` group (NamedGroup 0x0100).
pub static FFDHE2048: &dyn SupportedKxGroup = &FFDHE2048_GROUP;
/// The RFC 7919 `ffdhe3072` group (NamedGroup 0x0101).
pub static FFDHE3072: &dyn SupportedKxGroup = &FFDHE3072_GROUP;

static FFDHE2048_GROUP: Ffdhe<{ U2048::LIMBS }> = Ffdhe {
    name: NamedGroup::FFDHE2048,
    params: rustls::ffdhe_groups::FFDHE2048,
    exponent_bits: 256,
    monty: OnceLock::new(),
};
static FFDHE3072_GROUP: Ffdhe<{ U3072::LIMBS }> = Ffdhe {
    name: NamedGroup::FFDHE3072,
    params: rustls::ffdhe_groups::FFDHE3072,
    exponent_bits: 320,
    monty: OnceLock::new(),
};

/// Both groups, for looking one up by name.
pub static ALL: &[&dyn SupportedKxGroup] = &[&FFDHE2048_GROUP, &FFDHE3072_GROUP];

/// The group of `name`, if it is one of ours.
pub fn by_name(name: NamedGroup) -> Option<&'static dyn SupportedKxGroup> {
    ALL.iter().copied().find(|g| g.name() == name)
}

/// One FFDHE group: its parameters and, once computed, its Montgomery parameters.
struct Ffdhe<const LIMBS: usize> {
    name: NamedGroup,
    params: FfdheGroup<'static>,
    exponent_bits: u32,
    monty: OnceLock<Group<LIMBS>>,
}

/// The numbers of a group: p, p-1, g and the Montgomery parameters of p (all public).
#[derive(Clone, Copy)]
struct Group<const LIMBS: usize> {
    p: Uint<LIMBS>,
    p_minus_1: Uint<LIMBS>,
    g: MontyForm<LIMBS>,
    monty: MontyParams<LIMBS>,
}

impl<const LIMBS: usize> Ffdhe<LIMBS> {
    const LEN: usize = LIMBS * Word::BITS as usize / 8;

    fn group(&self) -> &Group<LIMBS> {
        self.monty.get_or_init(|| {
            let p = Uint::<LIMBS>::from_be_slice(&left_pad::<LIMBS>(self.params.p));
            // The RFC 7919 primes are odd (safe primes); the parameters are constants.
            let odd = Odd::new(p).expect("RFC 7919 primes are odd");
            let monty = MontyParams::new_vartime(odd);
            let g = Uint::<LIMBS>::from_be_slice(&left_pad::<LIMBS>(self.params.g));
            Group {
                p,
                p_minus_1: p.wrapping_sub(&Uint::ONE),
                g: MontyForm::new(&g, monty),
                monty,
            }
        })
    }
}

/// `bytes` as a big-endian integer of `LIMBS` words (the parameters are at most that long).
fn left_pad<const LIMBS: usize>(bytes: &[u8]) -> Vec<u8> {
    let len = LIMBS * Word::BITS as usize / 8;
    let mut out = vec![0u8; len];
    out[len - bytes.len()..].copy_from_slice(bytes);
    out
}

/// The big-endian encoding of `n`, as many octets as p has.
fn to_be_bytes<const LIMBS: usize>(n: &Uint<LIMBS>) -> Zeroizing<Vec<u8>> {
    let mut out = Zeroizing::new(Vec::with_capacity(LIMBS * Word::BITS as usize / 8));
    for w in n.as_words().iter().rev() {
        out.extend_from_slice(&w.to_be_bytes());
    }
    out
}

impl<const LIMBS: usize> SupportedKxGroup for Ffdhe<LIMBS> {
    fn start(&self) -> Result<Box<dyn ActiveKeyExchange>, rustls::Error> {
        let provider = rustls::crypto::CryptoProvider::get_default()
            .cloned()
            .unwrap_or_else(crate::default_provider);
        let mut x = Zeroizing::new(vec![0u8; Self::LEN]);
        let n = (self.exponent_bits / 8) as usize;
        provider.secure_random.fill(&mut x[Self::LEN - n..])?;
        let exponent = Zeroizing::new(Uint::<LIMBS>::from_be_slice(&x));
        let group = *self.group();
        let mut y = group.g.pow_bounded_exp(&*exponent, self.exponent_bits);
        let pub_key = to_be_bytes(&y.retrieve()).to_vec();
        y.zeroize();
        Ok(Box::new(ActiveFfdhe {
            name: self.name,
            params: self.params,
            exponent_bits: self.exponent_bits,
            group,
            exponent,
            pub_key,
        }))
    }

    fn ffdhe_group(&self) -> Option<FfdheGroup<'static>> {
        Some(self.params)
    }

    fn name(&self) -> NamedGroup {
        self.name
    }
}

impl<const LIMBS: usize> fmt::Debug for Ffdhe<LIMBS> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Ffdhe").field(&self.name).finish()
    }
}

/// A started exchange: our exponent (zeroized on drop) and public value.
struct ActiveFfdhe<const LIMBS: usize> {
    name: NamedGroup,
    params: FfdheGroup<'static>,
    exponent_bits: u32,
    group: Group<LIMBS>,
    exponent: Zeroizing<Uint<LIMBS>>,
    pub_key: Vec<u8>,
}

impl<const LIMBS: usize> ActiveKeyExchange for ActiveFfdhe<LIMBS> {
    fn complete(self: Box<Self>, peer_pub_key: &[u8]) -> Result<SharedSecret, rustls::Error> {
        let y = peer_value(&self.group, peer_pub_key)?;
        let mut z = MontyForm::new(&y, self.group.monty)
            .pow_bounded_exp(&*self.exponent, self.exponent_bits);
        let mut secret = z.retrieve();
        z.zeroize();
        let out = to_be_bytes(&secret);
        secret.zeroize();
        Ok(SharedSecret::from(&out[..]))
    }

    fn pub_key(&self) -> &[u8] {
        &self.pub_key
    }

    fn ffdhe_group(&self) -> Option<FfdheGroup<'static>> {
        Some(self.params)
    }

    fn group(&self) -> NamedGroup {
        self.name
    }
}

/// The peer's public value, checked: exactly the size of p and `1 < Y < p-1` (RFC 7919
/// §5.1, RFC 8446 §4.2.8.1). Y is public, so the comparisons need not be constant-time.
fn peer_value<const LIMBS: usize>(
    group: &Group<LIMBS>,
    encoded: &[u8],
) -> Result<Uint<LIMBS>, rustls::Error> {
    let invalid = || rustls::Error::PeerMisbehaved(PeerMisbehaved::InvalidKeyShare);
    if encoded.len() != LIMBS * Word::BITS as usize / 8 {
        return Err(invalid());
    }
    let y = Uint::<LIMBS>::from_be_slice(encoded);
    let above_one = y.cmp_vartime(&Uint::ONE).is_gt();
    let below_p_minus_1 = y.cmp_vartime(&group.p_minus_1).is_lt();
    debug_assert!(group.p_minus_1.cmp_vartime(&group.p).is_lt());
    if above_one && below_p_minus_1 {
        Ok(y)
    } else {
        Err(invalid())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        crate::secret::decode_hex(s).unwrap().to_vec()
    }

    /// Both sides agree, the values have the size of p, and fresh exponents are drawn.
    #[test]
    fn agreement() {
        for g in ALL {
            let a = g.start().unwrap();
            let b = g.start().unwrap();
            let len = g.ffdhe_group().unwrap().p.len();
            assert_eq!(a.pub_key().len(), len);
            assert_ne!(a.pub_key(), b.pub_key());
            let (a_pub, b_pub) = (a.pub_key().to_vec(), b.pub_key().to_vec());
            let ab = a.complete(&b_pub).unwrap();
            let ba = b.complete(&a_pub).unwrap();
            assert_eq!(ab.secret_bytes().len(), len);
            assert_eq!(ab.secret_bytes(), ba.secret_bytes());
            let done = g.start_and_complete(&b_pub).unwrap();
            assert_eq!(done.secret.secret_bytes().len(), len);
            assert_ne!(done.secret.secret_bytes(), ab.secret_bytes());
        }
    }

    /// Y = g^x for x = 2 is 4: known answer, and Z = Y^x left-padded (a small Z keeps its
    /// leading zeros, RFC 8446 §7.4.1).
    #[test]
    fn padded_shared_secret() {
        let g = &FFDHE2048_GROUP;
        let group = *g.group();
        let two = Uint::<{ U2048::LIMBS }>::from_u8(2);
        let active = ActiveFfdhe {
            name: g.name,
            params: g.params,
            exponent_bits: 2,
            group,
            exponent: Zeroizing::new(two),
            pub_key: Vec::new(),
        };
        let mut four = vec![0u8; 256];
        four[255] = 4;
        let z = Box::new(active).complete(&four).unwrap();
        let mut sixteen = vec![0u8; 256];
        sixteen[255] = 16;
        assert_eq!(z.secret_bytes(), sixteen.as_slice());
    }

    #[test]
    fn peer_values_are_checked() {
        for g in ALL {
            let p = g.ffdhe_group().unwrap().p.to_vec();
            let len = p.len();
            let num = |v: u8| {
                let mut out = vec![0u8; len];
                out[len - 1] = v;
                out
            };
            let mut p_minus_1 = p.clone();
            *p_minus_1.last_mut().unwrap() -= 1;
            let mut p_minus_2 = p.clone();
            *p_minus_2.last_mut().unwrap() -= 2;
            for (y, ok) in [
                (num(0), false),
                (num(1), false),
                (num(2), true),
                (p_minus_2, true),
                (p_minus_1.clone(), false),
                (p.clone(), false),
                (vec![0xff; len], false), // above p
                (num(2)[1..].to_vec(), false),
                ([&[0][..], &num(2)].concat(), false),
                (Vec::new(), false),
            ] {
                let r = g.start().unwrap().complete(&y);
                assert_eq!(
                    r.is_ok(),
                    ok,
                    "{} {:?}",
                    y.len(),
                    &y[y.len().saturating_sub(2)..]
                );
                if let Err(e) = r {
                    assert_eq!(
                        e,
                        rustls::Error::PeerMisbehaved(PeerMisbehaved::InvalidKeyShare)
                    );
                }
            }
        }
    }

    /// The parameters against RFC 7919 Appendix A.1's text (first and last lines of p), and
    /// the prime's shape: 2^2048 - 2^1984 + ... - 1 begins and ends with 64 one bits.
    #[test]
    fn parameters_are_rfc7919s() {
        let p = rustls::ffdhe_groups::FFDHE2048.p;
        assert_eq!(&p[..16], &hex("FFFFFFFFFFFFFFFFADF85458A2BB4A9A")[..]);
        assert_eq!(
            &p[p.len() - 16..],
            &hex("886B423861285C97FFFFFFFFFFFFFFFF")[..]
        );
        assert_eq!(rustls::ffdhe_groups::FFDHE2048.g, &[2]);
        let p = rustls::ffdhe_groups::FFDHE3072.p;
        assert_eq!(p.len(), 384);
        assert_eq!(
            &p[p.len() - 16..],
            &hex("25E41D2B66C62E37FFFFFFFFFFFFFFFF")[..]
        );
        assert!(by_name(NamedGroup::FFDHE2048).is_some());
        assert!(by_name(NamedGroup::FFDHE4096).is_none());
    }
}
