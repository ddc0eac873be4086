//! The TS 33.220 Annex B.2 generic key derivation function, AEFPSK derivation per
//! TS 33.122 Annex A.1, and the byte encoding of the *Service API interface information*
//! parameter (P0).
//!
//! ```text
//! AEFPSK = HMAC-SHA-256(Key, S)
//! S      = FC || P0 || L0 || P1 || L1        FC = 0x7A, Li = 2-octet big-endian length of Pi
//! P0     = Service API interface information (this crate: canonical "host:port" or "host")
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
//!
//! ## Interfaces without a port
//!
//! TS 29.222 makes `port` of an `InterfaceDescription` optional (exactly one of `ipv4Addr`,
//! `ipv6Addr`, `fqdn` is required). For such an interface P0 is the canonical **host alone**;
//! no default port is invented (443 would be a guess the CCF of another vendor need not make):
//!
//! * `aef.example.com`, `192.0.2.10`;
//! * an IPv6 address **without brackets**: `2001:db8::1`. Brackets exist only to set an IPv6
//!   address apart from a following `:port` (RFC 3986 §3.2.2); with no port there is nothing
//!   to set apart, and the bare form is exactly the `ipv6Addr` value of the
//!   `InterfaceDescription` (TS 29.571 `Ipv6Addr`), which is what another implementation
//!   building P0 from that field holds. Every P0 stays unambiguous: a `host:port` P0 ends in
//!   `:digits` after a host without `:` or after `]`, which no bare IPv6 address does in a
//!   way that parses as one.
//!
//! The invoker (from the `InterfaceDescription` it discovered), the CCF (`capif3`'s
//! `CcfKeyStore`) and the AEF (`CcfKeyResolver`'s entry matching) all use this form.
//!
//! ## IPv4-mapped IPv6 addresses
//!
//! RFC 5952 §5 recommends the mixed notation `::ffff:192.0.2.1` for IPv4-mapped addresses,
//! but TS 29.571's `Ipv6Addr` pattern (the type of `ipv6Addr` in an `InterfaceDescription`)
//! only allows hexadecimal groups, so on the CAPIF wire the same address is
//! `::ffff:c000:201`. **P0 follows the 3GPP text**: IPv4-mapped (and any other) IPv6
//! addresses are written in RFC 5952 form with hexadecimal groups only
//! (`[::ffff:c000:201]:443`, or `::ffff:c000:201` without a port). That is the form another
//! vendor's CCF finds in the `InterfaceDescription`, so it is the one P0 must agree with;
//! both notations are accepted as input and give the same P0.

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
/// // An interface without a port (TS 29.222 makes `port` optional): the host alone.
/// let c = ServiceApiInterface::parse_host("[2001:DB8::1]")?;
/// assert_eq!(c.to_string(), "2001:db8::1");
/// # Ok(()) }
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct ServiceApiInterface {
    encoded: Vec<u8>,
    kind: InterfaceKind,
    /// The port of a canonical `host:port` value (`None`: host only, or raw).
    port: Option<u16>,
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
            let (host, port) = s.rsplit_once(':').ok_or_else(|| {
                invalid(
                    s,
                    "expected host:port (for an interface without a port use \
                         ServiceApiInterface::parse_host)",
                )
            })?;
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
        let host = canonical_fqdn(fqdn)?;
        Ok(Self::canonical(format!("{host}:{port}"), Some(port)))
    }

    /// An interface given by an IP address and a port.
    pub fn from_ip(addr: IpAddr, port: u16) -> Self {
        let encoded = match addr {
            IpAddr::V4(v4) => format!("{v4}:{port}"),
            IpAddr::V6(v6) => format!("[{}]:{port}", rfc5952_hex(&v6)),
        };
        Self::canonical(encoded, Some(port))
    }

    /// An interface without a port (TS 29.222 makes `port` optional): P0 is the canonical
    /// host alone — an FQDN (lowercased, no trailing dot), an IPv4 dotted quad, or an IPv6
    /// address in RFC 5952 form **without** brackets (see the [module docs](self)). `host` is
    /// an FQDN, a dotted quad, or an IPv6 address with or without brackets.
    ///
    /// ```
    /// use rustls_capif::kdf::ServiceApiInterface;
    /// # fn main() -> Result<(), rustls_capif::Error> {
    /// assert_eq!(ServiceApiInterface::parse_host("AEF.example.com.")?.to_string(), "aef.example.com");
    /// assert_eq!(ServiceApiInterface::parse_host("::ffff:192.0.2.1")?.to_string(), "::ffff:c000:201");
    /// assert!(ServiceApiInterface::parse_host("aef.example.com:8443").is_err());
    /// # Ok(()) }
    /// ```
    pub fn parse_host(host: &str) -> Result<Self, Error> {
        if let Some(rest) = host.strip_prefix('[') {
            let v6 = rest
                .strip_suffix(']')
                .ok_or_else(|| invalid(host, "missing ']' after an IPv6 address"))?;
            let addr: Ipv6Addr = v6
                .parse()
                .map_err(|_| invalid(host, "not a valid IPv6 address"))?;
            return Ok(Self::from_ip_host(IpAddr::V6(addr)));
        }
        if host.contains(':') {
            let addr: Ipv6Addr = host.parse().map_err(|_| {
                invalid(
                    host,
                    "not a valid IPv6 address (a host with a port goes to ServiceApiInterface::parse)",
                )
            })?;
            return Ok(Self::from_ip_host(IpAddr::V6(addr)));
        }
        if looks_like_ipv4(host) {
            let addr: Ipv4Addr = host
                .parse()
                .map_err(|_| invalid(host, "not a valid IPv4 dotted quad"))?;
            return Ok(Self::from_ip_host(IpAddr::V4(addr)));
        }
        Ok(Self::canonical(canonical_fqdn(host)?, None))
    }

    /// An interface given by an IP address without a port: P0 is the address alone (IPv6 in
    /// RFC 5952 form without brackets, see the [module docs](self)).
    pub fn from_ip_host(addr: IpAddr) -> Self {
        let encoded = match addr {
            IpAddr::V4(v4) => v4.to_string(),
            IpAddr::V6(v6) => rfc5952_hex(&v6),
        };
        Self::canonical(encoded, None)
    }

    fn canonical(encoded: String, port: Option<u16>) -> Self {
        Self {
            encoded: encoded.into_bytes(),
            kind: InterfaceKind::Canonical,
            port,
        }
    }

    /// Builds the interface from the fields of a TS 29.222 `InterfaceDescription`. Without a
    /// `port` (TS 29.222 makes it optional) P0 is the host alone, as
    /// [`parse_host`](Self::parse_host) gives it.
    ///
    /// ```
    /// use rustls_capif::kdf::{InterfaceDescription, ServiceApiInterface};
    /// # fn main() -> Result<(), rustls_capif::Error> {
    /// let d = InterfaceDescription { ipv4_addr: Some("192.0.2.10"), port: Some(443), ..Default::default() };
    /// assert_eq!(ServiceApiInterface::from_interface_description(&d)?.to_string(), "192.0.2.10:443");
    /// let d = InterfaceDescription { fqdn: Some("AEF.example.com"), ..Default::default() };
    /// assert_eq!(ServiceApiInterface::from_interface_description(&d)?.to_string(), "aef.example.com");
    /// # Ok(()) }
    /// ```
    pub fn from_interface_description(d: &InterfaceDescription<'_>) -> Result<Self, Error> {
        if d.port == Some(0) {
            return Err(Error::InvalidInterface(
                "InterfaceDescription port 0 is not a service port".to_string(),
            ));
        }
        let ip = |addr: IpAddr| match d.port {
            Some(port) => Self::from_ip(addr, port),
            None => Self::from_ip_host(addr),
        };
        match (d.ipv4_addr, d.ipv6_addr, d.fqdn) {
            (Some(v4), None, None) => {
                let addr: Ipv4Addr = v4.parse().map_err(|_| {
                    Error::InvalidInterface(format!("ipv4Addr {v4:?} is not a dotted quad"))
                })?;
                Ok(ip(IpAddr::V4(addr)))
            }
            (None, Some(v6), None) => {
                let addr: Ipv6Addr = v6.parse().map_err(|_| {
                    Error::InvalidInterface(format!("ipv6Addr {v6:?} is not an IPv6 address"))
                })?;
                Ok(ip(IpAddr::V6(addr)))
            }
            (None, None, Some(fqdn)) => match d.port {
                Some(port) => Self::from_fqdn(fqdn, port),
                None => Ok(Self::canonical(canonical_fqdn(fqdn)?, None)),
            },
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
            port: None,
        })
    }

    /// The P0 octets fed to the KDF.
    pub fn as_bytes(&self) -> &[u8] {
        &self.encoded
    }

    /// The port of a canonical `host:port` interface; `None` for a host-only or raw one.
    pub fn port(&self) -> Option<u16> {
        self.port
    }

    /// The canonical host of this interface (IPv6 without brackets); `None` for a raw one.
    pub fn host(&self) -> Option<&str> {
        if self.is_raw() {
            return None;
        }
        let s = core::str::from_utf8(&self.encoded).ok()?;
        let Some(port) = self.port else {
            return Some(s);
        };
        let host = s
            .strip_suffix(port.to_string().as_str())?
            .strip_suffix(':')?;
        Some(
            host.strip_prefix('[')
                .and_then(|h| h.strip_suffix(']'))
                .unwrap_or(host),
        )
    }

    /// The same interface without its port (the host alone), as a port-less
    /// `InterfaceDescription` for this host gives it; `None` for a raw one.
    pub fn without_port(&self) -> Option<Self> {
        if self.port.is_none() {
            return (!self.is_raw()).then(|| self.clone());
        }
        Some(Self::canonical(self.host()?.to_string(), None))
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

/// Validates an FQDN and returns it lowercased without a trailing dot.
fn canonical_fqdn(fqdn: &str) -> Result<String, Error> {
    let name = fqdn.strip_suffix('.').unwrap_or(fqdn);
    if name.is_empty() {
        return Err(invalid(fqdn, "empty host name"));
    }
    if name.len() > ServiceApiInterface::MAX_FQDN_LEN {
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
    Ok(name.to_ascii_lowercase())
}

/// RFC 5952 §4 text form with hexadecimal groups only — never the §5 mixed notation, which
/// TS 29.571 `Ipv6Addr` does not allow (so `::ffff:192.0.2.1` is `::ffff:c000:201`):
/// lowercase, no leading zeros, the longest run of two or more zero groups (the first of
/// equal runs) as `::`.
fn rfc5952_hex(addr: &Ipv6Addr) -> String {
    let groups = addr.segments();
    // Longest run of zero groups: (start, len).
    let (mut best, mut run) = ((0usize, 0usize), (0usize, 0usize));
    for (i, g) in groups.iter().enumerate() {
        if *g == 0 {
            if run.1 == 0 {
                run.0 = i;
            }
            run.1 += 1;
            if run.1 > best.1 {
                best = run;
            }
        } else {
            run.1 = 0;
        }
    }
    let hex = |gs: &[u16]| {
        gs.iter()
            .map(|g| format!("{g:x}"))
            .collect::<Vec<_>>()
            .join(":")
    };
    if best.1 < 2 {
        return hex(&groups);
    }
    let (start, end) = (best.0, best.0 + best.1);
    format!("{}::{}", hex(&groups[..start]), hex(&groups[end..]))
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
            // TS 29.571 Ipv6Addr (hex groups only), not RFC 5952 §5 mixed notation.
            ("[::ffff:192.0.2.1]:443", "[::ffff:c000:201]:443"),
            ("[::FFFF:C000:0201]:443", "[::ffff:c000:201]:443"),
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
        // No port (TS 29.222 makes it optional): the host alone.
        assert_eq!(
            ok(d(None, None, Some("AEF.example.com."), None)),
            "aef.example.com"
        );
        assert_eq!(ok(d(Some("192.0.2.10"), None, None, None)), "192.0.2.10");
        assert_eq!(
            ok(d(None, Some("2001:db8::0:1"), None, None)),
            "2001:db8::1"
        );
        assert_eq!(
            ok(d(None, Some("::ffff:192.0.2.1"), None, None)),
            ok(d(None, Some("::ffff:c000:201"), None, None))
        );
        for bad in [
            d(None, None, None, Some(443)),
            d(None, None, None, None),
            d(Some("192.0.2.1"), None, Some("a.example"), Some(443)),
            d(Some("192.0.2.1"), None, Some("a.example"), None),
            d(Some("192.0.2.1"), None, None, Some(0)),
            d(Some("192.0.2"), None, None, Some(1)),
            d(None, Some("[::1]"), None, Some(1)),
        ] {
            assert!(ServiceApiInterface::from_interface_description(&bad).is_err());
        }
    }

    #[test]
    fn host_only_canonical_forms() {
        let cases = [
            ("aef.example.com", "aef.example.com"),
            ("AEF.Example.COM.", "aef.example.com"),
            ("192.0.2.10", "192.0.2.10"),
            ("2001:DB8:0:0:0:0:0:1", "2001:db8::1"),
            ("[2001:db8::1]", "2001:db8::1"),
            ("::ffff:192.0.2.1", "::ffff:c000:201"),
            ("[::ffff:c000:201]", "::ffff:c000:201"),
            ("::", "::"),
        ];
        for (input, want) in cases {
            let got = ServiceApiInterface::parse_host(input).unwrap();
            assert_eq!(got.as_bytes(), want.as_bytes(), "{input}");
            assert_eq!(got.port(), None);
            assert_eq!(got.host(), Some(want));
        }
        for bad in [
            "",
            "aef.example.com:8443",
            "[2001:db8::1]:8443",
            "[2001:db8::1",
            "1.2.3",
            "a..b",
            "[fe80::1%eth0]",
        ] {
            assert!(
                ServiceApiInterface::parse_host(bad).is_err(),
                "{bad:?} accepted"
            );
        }
        // host() and without_port() of a host:port interface.
        let v6 = ServiceApiInterface::parse("[2001:db8::1]:8443").unwrap();
        assert_eq!((v6.host(), v6.port()), (Some("2001:db8::1"), Some(8443)));
        assert_eq!(
            v6.without_port().unwrap(),
            ServiceApiInterface::parse_host("2001:db8::1").unwrap()
        );
        let name = ServiceApiInterface::parse("aef.example.com:443").unwrap();
        assert_eq!(name.without_port().unwrap().to_string(), "aef.example.com");
        assert!(ServiceApiInterface::from_raw(b"x".to_vec())
            .unwrap()
            .without_port()
            .is_none());
    }

    #[test]
    fn rfc5952_hex_matches_std_where_std_uses_no_mixed_notation() {
        let addrs = [
            "::",
            "::1",
            "1::",
            "2001:db8::1",
            "2001:db8:0:0:1:0:0:1",
            "2001:0:0:1:0:0:0:1",
            "1:0:1:0:1:0:1:0",
            "2001:db8:1:2:3:4:5:6",
            "0:0:1:0:0:1:0:0",
            "fe80::1:2",
            "::2:3:4:5:6:7:8",
            "1:2:3:4:5:6:7::",
            "::1.2.3.4",
        ];
        for a in addrs {
            let addr: Ipv6Addr = a.parse().unwrap();
            let std_form = addr.to_string();
            if !std_form.contains('.') {
                assert_eq!(rfc5952_hex(&addr), std_form, "{a}");
            }
            assert!(!rfc5952_hex(&addr).contains('.'));
        }
        let mapped: Ipv6Addr = "::ffff:0.0.0.0".parse().unwrap();
        assert_eq!(rfc5952_hex(&mapped), "::ffff:0:0");
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
