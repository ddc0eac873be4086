//! The TS 33.220 Annex B.2 generic key derivation function, AEFPSK derivation per
//! TS 33.122 Annex A.1, and the byte encoding of the *Service API interface information*
//! parameter (P0).
//!
//! ```text
//! AEFPSK = HMAC-SHA-256(Key, S)
//! S      = FC || P0 || L0 || P1 || L1        FC = 0x7A, Li = 2-octet big-endian length of Pi
//! P0     = Service API interface information (this crate: canonical "host:port", see below)
//! P1     = CAPIF-1e TLS Session ID
//! Key    = CAPIF-1e TLS master secret
//! ```
//!
//! # P0 encoding (a decision of this crate)
//!
//! 3GPP names P0 "Service API interface information" without a byte encoding. This crate uses
//! the UTF-8 string `host:port` of the AEF interface the CAPIF-2e connection goes to:
//!
//! * an FQDN in lowercase, without a trailing dot (`aef.example.com:8443`);
//! * an IPv4 address as a dotted quad (`192.0.2.10:443`);
//! * an IPv6 address in RFC 5952 form inside brackets (`[2001:db8::1]:8443`).
//!
//! The API prefix is not part of it: one TLS endpoint, one key. Deployments with another
//! convention use [`ServiceApiInterface::from_raw`].

use core::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use hmac::{Hmac, Mac};
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::error::Error;
use crate::secret::AefPsk;

/// FC value assigned to AEFPSK derivation (TS 33.122 Annex A.1).
pub const FC_AEFPSK: u8 = 0x7A;

/// The TS 33.220 Annex B.2 generic KDF: `HMAC-SHA-256(key, FC || P0 || L0 || ... || Pn || Ln)`.
///
/// Each parameter must fit a two-octet length (at most 65535 octets); an empty parameter is
/// allowed and encodes as `L = 0x0000`.
///
/// ```
/// # fn main() -> Result<(), rustls_capif::Error> {
/// let out = rustls_capif::kdf::kdf(b"key", 0x7A, &[b"aef.example.com:443", b""])?;
/// assert_eq!(out.len(), 32);
/// # Ok(()) }
/// ```
pub fn kdf(key: &[u8], fc: u8, params: &[&[u8]]) -> Result<Zeroizing<[u8; 32]>, Error> {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC accepts any key length");
    mac.update(&[fc]);
    for (index, p) in params.iter().enumerate() {
        let len = u16::try_from(p.len()).map_err(|_| Error::KdfParameterTooLong {
            index,
            len: p.len(),
        })?;
        mac.update(p);
        mac.update(&len.to_be_bytes());
    }
    Ok(Zeroizing::new(mac.finalize().into_bytes().into()))
}

/// AEFPSK per TS 33.122 Annex A.1 from the CAPIF-1e key and Session ID.
///
/// `key` is the TLS 1.2 master secret (48 octets) — or, for the TLS 1.3 profile of this crate,
/// the 32-octet exporter value (see [`crate::capif1e`]). Most applications do not call this
/// directly: [`crate::capif1e`] sessions call it without exposing the key.
///
/// ```
/// use rustls_capif::kdf::{derive_aefpsk, ServiceApiInterface};
/// # fn main() -> Result<(), rustls_capif::Error> {
/// let aef = ServiceApiInterface::parse("aef.example.com:8443")?;
/// let psk = derive_aefpsk(&[0u8; 48], &[1u8; 32], &aef)?;
/// assert_eq!(psk.fingerprint().to_string().len(), 16);
/// # Ok(()) }
/// ```
pub fn derive_aefpsk(
    key: &[u8],
    session_id: &[u8],
    interface: &ServiceApiInterface,
) -> Result<AefPsk, Error> {
    let out = kdf(key, FC_AEFPSK, &[interface.as_bytes(), session_id])?;
    Ok(AefPsk::from_bytes(*out))
}

/// The *Service API interface information* (P0 of Annex A.1): which AEF interface a key is for.
///
/// Build it from a `host:port` string ([`parse`](Self::parse)), from the fields of a TS 29.222
/// `InterfaceDescription` ([`from_interface_description`](Self::from_interface_description)),
/// or from raw bytes for another convention ([`from_raw`](Self::from_raw)). The parsed forms
/// are normalised, so `AEF.Example.COM.:8443` and `aef.example.com:8443` give the same key.
///
/// ```
/// use rustls_capif::kdf::ServiceApiInterface;
/// # fn main() -> Result<(), rustls_capif::Error> {
/// let a = ServiceApiInterface::parse("AEF.Example.com.:8443")?;
/// assert_eq!(a.to_string(), "aef.example.com:8443");
/// let b = ServiceApiInterface::parse("[2001:0db8:0:0::1]:443")?;
/// assert_eq!(b.to_string(), "[2001:db8::1]:443");
/// assert!(ServiceApiInterface::parse("no-port.example").is_err());
/// # Ok(()) }
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct ServiceApiInterface {
    encoded: Vec<u8>,
    kind: InterfaceKind,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum InterfaceKind {
    Canonical,
    Raw,
}

/// The address fields of a TS 29.222 `InterfaceDescription` (`ipv4Addr`, `ipv6Addr`, `fqdn`,
/// `port`). Exactly one address field must be present.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct InterfaceDescription<'a> {
    /// `ipv4Addr`
    pub ipv4_addr: Option<&'a str>,
    /// `ipv6Addr`
    pub ipv6_addr: Option<&'a str>,
    /// `fqdn`
    pub fqdn: Option<&'a str>,
    /// `port`
    pub port: Option<u16>,
}

impl ServiceApiInterface {
    /// Longest FQDN accepted (RFC 1035 presentation form without the trailing dot).
    pub const MAX_FQDN_LEN: usize = 253;

    /// Parses `host:port` where host is an FQDN, an IPv4 dotted quad or a bracketed IPv6
    /// address, and normalises it to the canonical form.
    pub fn parse(s: &str) -> Result<Self, Error> {
        let (host, port) = if let Some(rest) = s.strip_prefix('[') {
            let (v6, after) = rest
                .split_once(']')
                .ok_or_else(|| invalid(s, "missing ']' after an IPv6 address"))?;
            let port = after
                .strip_prefix(':')
                .ok_or_else(|| invalid(s, "expected ':port' after ']'"))?;
            (Host::V6(v6), port)
        } else {
            let (host, port) = s
                .rsplit_once(':')
                .ok_or_else(|| invalid(s, "expected host:port"))?;
            if host.contains(':') {
                return Err(invalid(
                    s,
                    "an IPv6 address must be in brackets: [addr]:port",
                ));
            }
            (Host::Name(host), port)
        };
        let port = parse_port(port).map_err(|why| invalid(s, why))?;
        match host {
            Host::V6(v6) => {
                let addr: Ipv6Addr = v6
                    .parse()
                    .map_err(|_| invalid(s, "not a valid IPv6 address"))?;
                Ok(Self::from_ip(IpAddr::V6(addr), port))
            }
            Host::Name(name) => {
                if looks_like_ipv4(name) {
                    let addr: Ipv4Addr = name
                        .parse()
                        .map_err(|_| invalid(s, "not a valid IPv4 dotted quad"))?;
                    Ok(Self::from_ip(IpAddr::V4(addr), port))
                } else {
                    Self::from_fqdn(name, port)
                }
            }
        }
    }

    /// An interface given by an FQDN and a port. The name is lowercased and a trailing dot
    /// removed; labels must be 1–63 letters, digits or hyphens (underscores are tolerated for
    /// service names), not starting or ending with a hyphen, and the top label not all digits.
    pub fn from_fqdn(fqdn: &str, port: u16) -> Result<Self, Error> {
        if port == 0 {
            return Err(invalid(fqdn, "port 0 is not a service port"));
        }
        let name = fqdn.strip_suffix('.').unwrap_or(fqdn);
        if name.is_empty() {
            return Err(invalid(fqdn, "empty host name"));
        }
        if name.len() > Self::MAX_FQDN_LEN {
            return Err(invalid(fqdn, "host name longer than 253 octets"));
        }
        let mut labels = name.split('.').peekable();
        while let Some(label) = labels.next() {
            if label.is_empty() || label.len() > 63 {
                return Err(invalid(fqdn, "each DNS label must be 1 to 63 octets"));
            }
            if !label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            {
                return Err(invalid(
                    fqdn,
                    "a DNS label may only hold letters, digits, '-' and '_'",
                ));
            }
            if label.starts_with('-') || label.ends_with('-') {
                return Err(invalid(fqdn, "a DNS label may not start or end with '-'"));
            }
            if labels.peek().is_none() && label.bytes().all(|b| b.is_ascii_digit()) {
                return Err(invalid(fqdn, "the top-level label may not be all digits"));
            }
        }
        let encoded = format!("{}:{port}", name.to_ascii_lowercase()).into_bytes();
        Ok(Self {
            encoded,
            kind: InterfaceKind::Canonical,
        })
    }

    /// An interface given by an IP address and a port.
    pub fn from_ip(addr: IpAddr, port: u16) -> Self {
        // std's Ipv6Addr Display is RFC 5952 (lowercase, longest zero run compressed,
        // IPv4-mapped addresses in mixed notation as §5 recommends).
        let encoded = match addr {
            IpAddr::V4(v4) => format!("{v4}:{port}"),
            IpAddr::V6(v6) => format!("[{v6}]:{port}"),
        }
        .into_bytes();
        Self {
            encoded,
            kind: InterfaceKind::Canonical,
        }
    }

    /// Builds the interface from the fields of a TS 29.222 `InterfaceDescription`.
    ///
    /// ```
    /// use rustls_capif::kdf::{InterfaceDescription, ServiceApiInterface};
    /// # fn main() -> Result<(), rustls_capif::Error> {
    /// let d = InterfaceDescription { ipv4_addr: Some("192.0.2.10"), port: Some(443), ..Default::default() };
    /// assert_eq!(ServiceApiInterface::from_interface_description(&d)?.to_string(), "192.0.2.10:443");
    /// # Ok(()) }
    /// ```
    pub fn from_interface_description(d: &InterfaceDescription<'_>) -> Result<Self, Error> {
        let port = d.port.ok_or_else(|| {
            Error::InvalidInterface("InterfaceDescription has no port".to_string())
        })?;
        if port == 0 {
            return Err(Error::InvalidInterface(
                "InterfaceDescription port 0 is not a service port".to_string(),
            ));
        }
        match (d.ipv4_addr, d.ipv6_addr, d.fqdn) {
            (Some(v4), None, None) => {
                let addr: Ipv4Addr = v4.parse().map_err(|_| {
                    Error::InvalidInterface(format!("ipv4Addr {v4:?} is not a dotted quad"))
                })?;
                Ok(Self::from_ip(IpAddr::V4(addr), port))
            }
            (None, Some(v6), None) => {
                let addr: Ipv6Addr = v6.parse().map_err(|_| {
                    Error::InvalidInterface(format!("ipv6Addr {v6:?} is not an IPv6 address"))
                })?;
                Ok(Self::from_ip(IpAddr::V6(addr), port))
            }
            (None, None, Some(fqdn)) => Self::from_fqdn(fqdn, port),
            (None, None, None) => Err(Error::InvalidInterface(
                "InterfaceDescription has none of ipv4Addr, ipv6Addr, fqdn".to_string(),
            )),
            _ => Err(Error::InvalidInterface(
                "InterfaceDescription must carry exactly one of ipv4Addr, ipv6Addr, fqdn"
                    .to_string(),
            )),
        }
    }

    /// Uses `bytes` as P0 unchanged: the escape hatch for deployments that agreed on another
    /// encoding. At most 65535 octets (the KDF's two-octet length).
    pub fn from_raw(bytes: impl Into<Vec<u8>>) -> Result<Self, Error> {
        let encoded = bytes.into();
        if encoded.len() > usize::from(u16::MAX) {
            return Err(Error::KdfParameterTooLong {
                index: 0,
                len: encoded.len(),
            });
        }
        Ok(Self {
            encoded,
            kind: InterfaceKind::Raw,
        })
    }

    /// The P0 octets fed to the KDF.
    pub fn as_bytes(&self) -> &[u8] {
        &self.encoded
    }

    /// Whether this value came from [`from_raw`](Self::from_raw) rather than a canonical form.
    pub fn is_raw(&self) -> bool {
        self.kind == InterfaceKind::Raw
    }
}

impl fmt::Display for ServiceApiInterface {
    /// The canonical `host:port`; raw values print as UTF-8 if they are, hex otherwise.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match core::str::from_utf8(&self.encoded) {
            Ok(s) => f.write_str(s),
            Err(_) => {
                f.write_str("0x")?;
                for b in &self.encoded {
                    write!(f, "{b:02x}")?;
                }
                Ok(())
            }
        }
    }
}

impl fmt::Debug for ServiceApiInterface {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ServiceApiInterface({self})")
    }
}

impl core::str::FromStr for ServiceApiInterface {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        Self::parse(s)
    }
}

enum Host<'a> {
    V6(&'a str),
    Name(&'a str),
}

fn invalid(input: &str, why: &str) -> Error {
    // Interfaces are public configuration, so echoing them helps; cap the echo length.
    let shown: String = input.chars().take(80).collect();
    Error::InvalidInterface(format!("{shown:?}: {why}"))
}

fn parse_port(port: &str) -> Result<u16, &'static str> {
    if port.is_empty() || port.len() > 5 || !port.bytes().all(|b| b.is_ascii_digit()) {
        return Err("port must be a decimal number 1-65535");
    }
    match port.parse::<u16>() {
        Ok(0) | Err(_) => Err("port must be a decimal number 1-65535"),
        Ok(p) => Ok(p),
    }
}

/// Names made only of digits and dots are meant as IPv4 addresses (and must be valid ones).
fn looks_like_ipv4(host: &str) -> bool {
    !host.is_empty() && host.bytes().all(|b| b.is_ascii_digit() || b == b'.')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_forms() {
        let cases = [
            ("aef.example.com:8443", "aef.example.com:8443"),
            ("AEF.Example.COM.:8443", "aef.example.com:8443"),
            ("192.0.2.10:443", "192.0.2.10:443"),
            ("[2001:DB8:0:0:0:0:0:1]:8443", "[2001:db8::1]:8443"),
            ("[2001:db8:0:0:1:0:0:1]:1", "[2001:db8::1:0:0:1]:1"),
            ("[::ffff:192.0.2.1]:443", "[::ffff:192.0.2.1]:443"),
            ("localhost:65535", "localhost:65535"),
            ("_svc.aef-1.example:80", "_svc.aef-1.example:80"),
        ];
        for (input, want) in cases {
            let got = ServiceApiInterface::parse(input).unwrap();
            assert_eq!(got.to_string(), want, "{input}");
            assert_eq!(got.as_bytes(), want.as_bytes());
            assert!(!got.is_raw());
        }
    }

    #[test]
    fn rejects_garbage() {
        for bad in [
            "",
            ":443",
            "aef.example.com",
            "aef.example.com:",
            "aef.example.com:0",
            "aef.example.com:65536",
            "aef.example.com:+443",
            "aef.example.com:44a",
            "2001:db8::1:443",
            "[2001:db8::1]",
            "[2001:db8::1]443",
            "[2001:db8::zz]:443",
            "[fe80::1%eth0]:443",
            "1.2.3:443",
            "256.1.1.1:443",
            "a..b:443",
            "-a.example:443",
            "a-.example:443",
            "a b.example:443",
            "aef.example.123:443",
            "é.example:443",
        ] {
            assert!(
                matches!(
                    ServiceApiInterface::parse(bad),
                    Err(Error::InvalidInterface(_))
                ),
                "{bad:?} accepted"
            );
        }
        let long_label = format!("{}.example:443", "a".repeat(64));
        assert!(ServiceApiInterface::parse(&long_label).is_err());
        let long_name = format!("{}example:443", "abcdefghi.".repeat(26));
        assert!(ServiceApiInterface::parse(&long_name).is_err());
    }

    #[test]
    fn interface_description_fields() {
        let d = |v4, v6, fqdn, port| InterfaceDescription {
            ipv4_addr: v4,
            ipv6_addr: v6,
            fqdn,
            port,
        };
        let ok = |d: InterfaceDescription<'_>| {
            ServiceApiInterface::from_interface_description(&d)
                .unwrap()
                .to_string()
        };
        assert_eq!(
            ok(d(None, Some("2001:db8::0:1"), None, Some(8443))),
            "[2001:db8::1]:8443"
        );
        assert_eq!(
            ok(d(None, None, Some("AEF.example.com."), Some(443))),
            "aef.example.com:443"
        );
        for bad in [
            d(None, None, None, Some(443)),
            d(Some("192.0.2.1"), None, Some("a.example"), Some(443)),
            d(Some("192.0.2.1"), None, None, None),
            d(Some("192.0.2.1"), None, None, Some(0)),
            d(Some("192.0.2"), None, None, Some(1)),
            d(None, Some("[::1]"), None, Some(1)),
        ] {
            assert!(ServiceApiInterface::from_interface_description(&bad).is_err());
        }
    }

    #[test]
    fn raw_escape_hatch() {
        let raw = ServiceApiInterface::from_raw(vec![0xff, 0x00]).unwrap();
        assert!(raw.is_raw());
        assert_eq!(raw.as_bytes(), &[0xff, 0x00]);
        assert_eq!(raw.to_string(), "0xff00");
        assert!(ServiceApiInterface::from_raw(vec![0; 65536]).is_err());
        assert!(ServiceApiInterface::from_raw(vec![0; 65535]).is_ok());
    }

    #[test]
    fn kdf_layout_matches_spec() {
        // S = FC || P0 || L0 || P1 || L1, checked against an HMAC over a hand-built S.
        let key = [9u8; 48];
        let mut s = vec![0x7a];
        s.extend_from_slice(b"ab");
        s.extend_from_slice(&[0, 2]);
        s.extend_from_slice(&[]);
        s.extend_from_slice(&[0, 0]);
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&key).unwrap();
        mac.update(&s);
        let want: [u8; 32] = mac.finalize().into_bytes().into();
        assert_eq!(*kdf(&key, 0x7a, &[b"ab", b""]).unwrap(), want);
        let long = vec![0u8; 65536];
        assert!(matches!(
            kdf(&key, 0x7a, &[b"", &long]),
            Err(Error::KdfParameterTooLong {
                index: 1,
                len: 65536
            })
        ));
    }
}
