//! Key types that hold secrets.
//!
//! Every type here zeroizes its bytes on drop and prints as `[redacted]` in `Debug`; none
//! implements `Display`. A short, non-secret [`KeyFingerprint`] is available for logs so two
//! parties can compare keys without revealing them.

use core::fmt;

use sha2::{Digest, Sha256};
use zeroize::{ZeroizeOnDrop, Zeroizing};

use crate::error::Error;

/// The AEFPSK of TS 33.122 Annex A.1: the 256-bit pre-shared key an API invoker and an AEF
/// share on CAPIF-2e, derived from the invoker's CAPIF-1e TLS session with the CCF.
///
/// It is zeroized on drop and redacted in `Debug`. Applications normally never see its bytes:
/// it goes from [`crate::capif1e`] (derivation) into a CAPIF-2e PSK configuration. The
/// CAPIF-3 encoding (lowercase hex in `authenticationInfo`, see [`AefPsk::to_authentication_info`])
/// is the one place a CCF has to serialise it.
///
/// ```
/// use rustls_capif::AefPsk;
/// let psk = AefPsk::from_bytes([7u8; 32]);
/// assert_eq!(format!("{psk:?}"), "AefPsk([redacted])");
/// ```
///
/// Equality is constant-time. There is no public `zeroize()`: a zeroed key would still be a
/// usable (all-zero) key; the bytes are wiped when the value is dropped.
#[derive(Clone, ZeroizeOnDrop)]
pub struct AefPsk([u8; AefPsk::LEN]);

impl PartialEq for AefPsk {
    fn eq(&self, other: &Self) -> bool {
        subtle::ConstantTimeEq::ct_eq(&self.0[..], &other.0[..]).into()
    }
}

impl Eq for AefPsk {}

impl AefPsk {
    /// Length of an AEFPSK in octets (HMAC-SHA-256 output).
    pub const LEN: usize = 32;

    /// Wraps raw key bytes (for keys delivered out of band, tests and tools).
    pub fn from_bytes(bytes: [u8; Self::LEN]) -> Self {
        Self(bytes)
    }

    /// Parses the CAPIF-3 encoding of this crate: 64 hexadecimal digits (either case accepted,
    /// lowercase is what [`to_authentication_info`](Self::to_authentication_info) produces).
    pub fn from_authentication_info(hex: &str) -> Result<Self, Error> {
        let bytes = decode_hex(hex.trim())?;
        let array: [u8; Self::LEN] = bytes
            .as_slice()
            .try_into()
            .map_err(|_| Error::InvalidHex("an AEFPSK is exactly 64 hex digits"))?;
        Ok(Self(array))
    }

    /// Parses a key given as 64 hexadecimal digits (either case; surrounding whitespace is
    /// ignored), as a static key in a configuration file would be. The same as
    /// [`from_authentication_info`](Self::from_authentication_info) and [`str::parse`]. Errors
    /// never echo the input.
    ///
    /// ```
    /// use rustls_capif::AefPsk;
    /// let hex = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
    /// let psk: AefPsk = hex.parse()?;
    /// assert_eq!(psk, AefPsk::from_hex(hex)?);
    /// assert!("00112233".parse::<AefPsk>().is_err());
    /// # Ok::<(), rustls_capif::Error>(())
    /// ```
    pub fn from_hex(hex: &str) -> Result<Self, Error> {
        Self::from_authentication_info(hex)
    }

    /// The CAPIF-3 encoding: lowercase hex of the 32 key octets, as carried in
    /// `SecurityInformation.authenticationInfo` of TS 29.222 (an encoding this crate defines;
    /// 3GPP leaves it open). The string is zeroized when dropped.
    pub fn to_authentication_info(&self) -> Zeroizing<String> {
        encode_hex(&self.0)
    }

    /// The key octets. Named so that every use is easy to find in review: only code that
    /// hands the key to a TLS stack or to the CAPIF-3 wire needs it.
    pub fn secret_bytes(&self) -> &[u8; Self::LEN] {
        &self.0
    }

    /// A short, non-secret fingerprint of the key for logs and comparisons.
    pub fn fingerprint(&self) -> KeyFingerprint {
        KeyFingerprint::of(&self.0)
    }
}

impl core::str::FromStr for AefPsk {
    type Err = Error;

    /// [`AefPsk::from_hex`].
    fn from_str(hex: &str) -> Result<Self, Error> {
        Self::from_hex(hex)
    }
}

impl fmt::Debug for AefPsk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AefPsk([redacted])")
    }
}

/// A short public fingerprint of a secret key: the first 8 octets of
/// SHA-256("rustls-capif key fingerprint" || key), shown as 16 hex digits.
///
/// It identifies a key in logs without revealing it (a 64-bit preimage of a hash of a
/// 256-bit random key gives nothing useful to an attacker).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct KeyFingerprint([u8; 8]);

impl KeyFingerprint {
    pub(crate) fn of(key: &[u8]) -> Self {
        let digest = Sha256::new()
            .chain_update(b"rustls-capif key fingerprint")
            .chain_update(key)
            .finalize();
        let mut out = [0u8; 8];
        out.copy_from_slice(&digest[..8]);
        Self(out)
    }
}

impl fmt::Display for KeyFingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for KeyFingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyFingerprint({self})")
    }
}

/// Lowercase hex of `bytes`, in a string that is zeroized on drop.
pub(crate) fn encode_hex(bytes: &[u8]) -> Zeroizing<String> {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = Zeroizing::new(String::with_capacity(bytes.len() * 2));
    for b in bytes {
        s.push(DIGITS[usize::from(b >> 4)] as char);
        s.push(DIGITS[usize::from(b & 0x0f)] as char);
    }
    s
}

/// A growable byte buffer for text that carries secrets (a CAPIF-3 body with AEFPSKs in hex).
///
/// A `Vec` that grows frees its old block as is, so a zeroizing `Vec` still leaves copies of
/// what it held before it grew. This buffer zeroizes the old block before it is freed, and
/// its final block when dropped.
#[cfg(feature = "capif3")]
pub(crate) struct ZeroizingBuf(Zeroizing<Vec<u8>>);

#[cfg(feature = "capif3")]
impl ZeroizingBuf {
    /// An empty buffer of `capacity` octets (a good estimate avoids any growth).
    pub(crate) fn with_capacity(capacity: usize) -> Self {
        Self(Zeroizing::new(Vec::with_capacity(capacity)))
    }

    /// The bytes written, zeroized on drop.
    pub(crate) fn into_inner(self) -> Zeroizing<Vec<u8>> {
        self.0
    }
}

#[cfg(feature = "capif3")]
impl std::io::Write for ZeroizingBuf {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        let needed = self
            .0
            .len()
            .checked_add(data.len())
            .ok_or(std::io::ErrorKind::OutOfMemory)?;
        if needed > self.0.capacity() {
            let mut bigger = Vec::with_capacity(needed.max(self.0.capacity().saturating_mul(2)));
            bigger.extend_from_slice(&self.0);
            // The old block is zeroized (all of its capacity) when the old value drops.
            self.0 = Zeroizing::new(bigger);
        }
        self.0.extend_from_slice(data); // within capacity: no reallocation
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Decodes hex (either case). The error never echoes the input, which may be a key.
pub fn decode_hex(hex: &str) -> Result<Zeroizing<Vec<u8>>, Error> {
    fn nibble(c: u8) -> Option<u8> {
        match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            b'A'..=b'F' => Some(c - b'A' + 10),
            _ => None,
        }
    }
    let bytes = hex.as_bytes();
    if bytes.len() % 2 != 0 {
        return Err(Error::InvalidHex("odd number of hex digits"));
    }
    let mut out = Zeroizing::new(Vec::with_capacity(bytes.len() / 2));
    for pair in bytes.chunks_exact(2) {
        match (nibble(pair[0]), nibble(pair[1])) {
            (Some(hi), Some(lo)) => out.push(hi << 4 | lo),
            _ => return Err(Error::InvalidHex("non-hexadecimal character")),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trip_and_errors() {
        let psk = AefPsk::from_bytes(core::array::from_fn(|i| i as u8 * 7));
        let hex = psk.to_authentication_info();
        assert_eq!(hex.len(), 64);
        assert!(hex
            .chars()
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
        assert_eq!(AefPsk::from_authentication_info(&hex).unwrap(), psk);
        assert_eq!(
            AefPsk::from_authentication_info(&hex.to_uppercase()).unwrap(),
            psk
        );
        assert!(AefPsk::from_authentication_info("abc").is_err());
        assert!(AefPsk::from_authentication_info(&"zz".repeat(32)).is_err());
        assert!(AefPsk::from_authentication_info(&"00".repeat(31)).is_err());
    }

    #[test]
    fn from_hex_and_from_str_parse_config_file_keys() {
        let psk = AefPsk::from_bytes(core::array::from_fn(|i| i as u8));
        let hex = psk.to_authentication_info();
        assert_eq!(AefPsk::from_hex(&hex).unwrap(), psk);
        assert_eq!(format!(" {}\n", &*hex).parse::<AefPsk>().unwrap(), psk);
        assert_eq!(hex.to_uppercase().parse::<AefPsk>().unwrap(), psk);
        for bad in [
            "",
            "0",
            &"0".repeat(63),
            &"0".repeat(66),
            &format!("{}zz", &hex[..62]),
        ] {
            let err = bad.parse::<AefPsk>().unwrap_err();
            assert!(matches!(err, Error::InvalidHex(_)), "{err:?}");
        }
        // The error names the problem, never the digits.
        let err = format!("{}g", &hex[..63]).parse::<AefPsk>().unwrap_err();
        assert!(!err.to_string().contains(&hex[..8]), "{err}");
    }

    #[test]
    fn debug_is_redacted_and_hex_errors_do_not_echo_input() {
        let psk = AefPsk::from_bytes([0xab; 32]);
        let dbg = format!("{psk:?}");
        assert!(!dbg.contains("ab"), "{dbg}");
        let err = AefPsk::from_authentication_info(&"ab".repeat(31)).unwrap_err();
        assert!(!err.to_string().contains("abab"), "{err}");
    }

    #[test]
    #[cfg(feature = "capif3")]
    fn zeroizing_buf_grows_and_keeps_every_byte() {
        use std::io::Write;
        let mut buf = ZeroizingBuf::with_capacity(3);
        for chunk in [&b"ab"[..], b"cdef", b"", b"ghijklmnopq"] {
            buf.write_all(chunk).unwrap();
        }
        let out = buf.into_inner();
        assert_eq!(&out[..], b"abcdefghijklmnopq");
        assert!(out.capacity() >= out.len());
    }

    #[test]
    fn fingerprint_distinguishes_keys_and_hides_them() {
        let a = AefPsk::from_bytes([1; 32]);
        let b = AefPsk::from_bytes([2; 32]);
        assert_ne!(a.fingerprint(), b.fingerprint());
        assert_eq!(a.fingerprint(), a.clone().fingerprint());
        assert_eq!(a.fingerprint().to_string().len(), 16);
        assert!(!a.fingerprint().to_string().contains("0101"));
    }
}
