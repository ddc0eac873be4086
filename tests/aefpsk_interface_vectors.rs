//! AEFPSK vectors for every `InterfaceDescription` TS 29.222 allows — without a `port`, and
//! IPv4-mapped IPv6 addresses in either notation — checked on all three roles: the invoker
//! (P0 from the discovered `InterfaceDescription`), the CCF (`CcfKeyStore`'s JSON) and the AEF
//! (which `securityInfo` entry it picks).
//!
//! The expected `S` and AEFPSK values were computed without the crate, with this Python 3
//! script (standard library only; S as in TS 33.220 Annex B.2 / TS 33.122 Annex A.1):
//!
//! ```text
//! import hmac, hashlib
//! def aefpsk(ms_hex, sid_hex, p0):
//!     ms, sid, p0 = bytes.fromhex(ms_hex), bytes.fromhex(sid_hex), p0.encode()
//!     s = b"\x7a" + p0 + len(p0).to_bytes(2, "big") + sid + len(sid).to_bytes(2, "big")
//!     return s.hex(), hmac.new(ms, s, hashlib.sha256).hexdigest()
//! MS = bytes(range(48)).hex()              # 000102...2f
//! SID = bytes(range(0xa0, 0xc0)).hex()     # a0a1...bf
//! for p0 in ["aef.example.com", "192.0.2.10", "2001:db8::1", "::ffff:c000:201",
//!            "[::ffff:c000:201]:443"]:
//!     print(p0, *aefpsk(MS, SID, p0))
//! ```
//!
//! and the first one cross-checked with OpenSSL:
//!
//! ```text
//! printf '7a6165662e6578616d706c652e636f6d000f%s0020' a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebf \
//!   | xxd -r -p | openssl dgst -sha256 -mac HMAC \
//!     -macopt hexkey:000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f
//! SHA2-256(stdin)= 92811897b608feed2a16ff73a8aa538208d06524d9526c8097e0e70de0bf2af7
//! ```
#![cfg(feature = "capif3")]

mod now;
use now::Now;
use std::sync::Arc;

use rustls_capif::capif3::{
    AefPskSource, CcfKeyStore, InterfaceDescriptionJson, KeyDeliveryError, ServiceSecurity,
};
use rustls_capif::kdf::{derive_aefpsk, InterfaceDescription, FC_AEFPSK};
use rustls_capif::secret::{decode_hex, AefPsk};
use rustls_capif::{Error, ServiceApiInterface};

const MS: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\
                  202122232425262728292a2b2c2d2e2f";
const SID: &str = "a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebf";

struct Vector {
    name: &'static str,
    /// `InterfaceDescription` JSON as a CCF of any vendor may send it.
    json: &'static str,
    p0: &'static str,
    s: &'static str,
    aefpsk: &'static str,
}

const VECTORS: &[Vector] = &[
    Vector {
        name: "fqdn without port",
        json: r#"{"fqdn":"AEF.Example.com."}"#,
        p0: "aef.example.com",
        s: "7a6165662e6578616d706c652e636f6d000f\
            a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebf0020",
        aefpsk: "92811897b608feed2a16ff73a8aa538208d06524d9526c8097e0e70de0bf2af7",
    },
    Vector {
        name: "ipv4Addr without port",
        json: r#"{"ipv4Addr":"192.0.2.10"}"#,
        p0: "192.0.2.10",
        s: "7a3139322e302e322e3130000a\
            a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebf0020",
        aefpsk: "63fc6d9022ce98f08851a93e3314e5ac45786ebcbacd435ab328c4baa403e971",
    },
    Vector {
        name: "ipv6Addr without port (no brackets)",
        json: r#"{"ipv6Addr":"2001:DB8:0:0:0:0:0:1"}"#,
        p0: "2001:db8::1",
        s: "7a323030313a6462383a3a31000b\
            a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebf0020",
        aefpsk: "ab5d53cd27741d1564ff590686b405c1e9534ffcee9596dc3420cf8caaf14640",
    },
    Vector {
        name: "IPv4-mapped ipv6Addr without port, TS 29.571 hex notation",
        json: r#"{"ipv6Addr":"::ffff:c000:201"}"#,
        p0: "::ffff:c000:201",
        s: "7a3a3a666666663a633030303a323031000f\
            a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebf0020",
        aefpsk: "9a8349292f1d481cbf4e09d8db7616fbbdbbcc953880b908ade81b051ed03758",
    },
    Vector {
        name: "IPv4-mapped ipv6Addr without port, RFC 5952 section 5 mixed notation",
        json: r#"{"ipv6Addr":"::ffff:192.0.2.1"}"#,
        p0: "::ffff:c000:201",
        s: "7a3a3a666666663a633030303a323031000f\
            a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebf0020",
        aefpsk: "9a8349292f1d481cbf4e09d8db7616fbbdbbcc953880b908ade81b051ed03758",
    },
    Vector {
        name: "IPv4-mapped ipv6Addr with port, mixed notation",
        json: r#"{"ipv6Addr":"::FFFF:192.0.2.1","port":443}"#,
        p0: "[::ffff:c000:201]:443",
        s: "7a5b3a3a666666663a633030303a3230315d3a3434330015\
            a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebf0020",
        aefpsk: "583df042329fa19e831389b8f2a9be7ad8d30f913a6e2d3b9eb278954ed91de3",
    },
];

fn details(v: &Vector) -> InterfaceDescriptionJson {
    serde_json::from_str(v.json).unwrap()
}

/// A CAPIF-1e session stand-in with the vectors' master secret and Session ID.
struct FixedSession;

impl AefPskSource for FixedSession {
    fn derive_aef_psk(&self, interface: &ServiceApiInterface) -> Result<AefPsk, Error> {
        derive_aefpsk(&decode_hex(MS)?, &decode_hex(SID)?, interface)
    }
}

#[test]
fn invoker_derives_the_vector_from_the_interface_description() {
    let (ms, sid) = (decode_hex(MS).unwrap(), decode_hex(SID).unwrap());
    for v in VECTORS {
        let d = details(v);
        let fields = InterfaceDescription {
            ipv4_addr: d.ipv4_addr.as_deref(),
            ipv6_addr: d.ipv6_addr.as_deref(),
            fqdn: d.fqdn.as_deref(),
            port: d.port,
        };
        let interface = ServiceApiInterface::from_interface_description(&fields)
            .unwrap_or_else(|e| panic!("{}: {e}", v.name));
        assert_eq!(interface, d.service_api_interface().unwrap(), "{}", v.name);
        assert_eq!(interface.as_bytes(), v.p0.as_bytes(), "{}: P0", v.name);

        // S laid out by hand from the expected P0, against the vector's S.
        let mut s = vec![FC_AEFPSK];
        s.extend_from_slice(v.p0.as_bytes());
        s.extend_from_slice(&(v.p0.len() as u16).to_be_bytes());
        s.extend_from_slice(&sid);
        s.extend_from_slice(&(sid.len() as u16).to_be_bytes());
        assert_eq!(*decode_hex(v.s).unwrap(), s, "{}: S", v.name);

        let psk = derive_aefpsk(&ms, &sid, &interface).unwrap();
        assert_eq!(*psk.to_authentication_info(), v.aefpsk, "{}", v.name);
    }
}

#[test]
fn host_only_constructors_give_the_vector_p0() {
    for (host, p0) in [
        ("aef.example.com.", "aef.example.com"),
        ("192.0.2.10", "192.0.2.10"),
        ("[2001:db8::1]", "2001:db8::1"),
        ("::ffff:192.0.2.1", "::ffff:c000:201"),
        ("::ffff:c000:201", "::ffff:c000:201"),
    ] {
        let i = ServiceApiInterface::parse_host(host).unwrap();
        assert_eq!(i.as_bytes(), p0.as_bytes(), "{host}");
        assert_eq!(i.port(), None);
    }
    // Both notations of an IPv4-mapped address with a port give one P0 too.
    assert_eq!(
        ServiceApiInterface::parse("[::ffff:192.0.2.1]:443")
            .unwrap()
            .as_bytes(),
        b"[::ffff:c000:201]:443"
    );
}

#[test]
fn ccf_store_serves_the_vector_key_for_port_less_interfaces() {
    let store = CcfKeyStore::default();
    store
        .register_session("inv-1", Arc::new(FixedSession))
        .now()
        .unwrap();
    let interfaces: Vec<_> = VECTORS.iter().map(details).collect();
    let body = store
        .service_security_json("inv-1", &interfaces, true, "https://invoker.example/n")
        .now()
        .unwrap()
        .expect("known invoker");
    let security: ServiceSecurity = serde_json::from_slice(&body).unwrap();
    assert_eq!(security.security_info.len(), VECTORS.len());
    for (entry, v) in security.security_info.iter().zip(VECTORS) {
        // The entry echoes the description it was asked for (no invented port; IPv6 in the
        // RFC 5952 hex form TS 29.571 requires) ...
        let echoed = entry.interface_details.as_ref().unwrap();
        assert_eq!(Some(echoed), details(v).to_wire().ok().as_ref());
        assert_eq!(echoed.port, details(v).port);
        assert_eq!(
            echoed.service_api_interface().unwrap(),
            details(v).service_api_interface().unwrap()
        );
        // ... and carries the key of the vector's P0.
        assert_eq!(
            entry.authentication_info.as_deref().map(String::as_str),
            Some(v.aefpsk),
            "{}",
            v.name
        );
    }
}

/// A `ServiceSecurity` as another vendor's CCF could send it: one entry per vector.
fn foreign_body(entries: &[(&str, &str)]) -> ServiceSecurity {
    let entries: Vec<String> = entries
        .iter()
        .map(|(what, key)| {
            format!(r#"{{{what},"prefSecurityMethods":["PSK"],"authenticationInfo":"{key}"}}"#)
        })
        .collect();
    serde_json::from_str(&format!(
        r#"{{"securityInfo":[{}],"notificationDestination":"https://aef.example.com/n"}}"#,
        entries.join(",")
    ))
    .unwrap()
}

#[test]
fn aef_finds_its_port_less_entry() {
    let k = |n: u8| format!("{n:02x}").repeat(32);
    let (k1, k2, k3) = (k(1), k(2), k(3));
    let security = foreign_body(&[
        (r#""interfaceDetails":{"fqdn":"other.example.com"}"#, &k1),
        (r#""interfaceDetails":{"fqdn":"AEF.example.com."}"#, &k2),
        (r#""interfaceDetails":{"ipv6Addr":"::ffff:192.0.2.1"}"#, &k3),
    ]);
    let psk = |i: ServiceApiInterface| {
        security
            .aef_psk_for(&i, None)
            .map(|p| p.to_authentication_info().to_string())
    };
    // An AEF configured with its host alone, or with host:port, finds the port-less entry.
    let host = ServiceApiInterface::parse_host("aef.example.com").unwrap();
    assert_eq!(psk(host).unwrap(), k2);
    let with_port = ServiceApiInterface::parse("aef.example.com:8443").unwrap();
    assert_eq!(psk(with_port).unwrap(), k2);
    // The IPv4-mapped entry in mixed notation matches an AEF configured in hex, with a port.
    let mapped = ServiceApiInterface::parse("[::ffff:c000:201]:443").unwrap();
    assert_eq!(psk(mapped).unwrap(), k3);
    // Another host matches nothing.
    let nobody = ServiceApiInterface::parse("aef2.example.com:8443").unwrap();
    assert_eq!(psk(nobody), Err(KeyDeliveryError::NoEntryForInterface));
}

#[test]
fn an_exact_entry_wins_over_a_port_less_one() {
    let (k1, k2) = ("11".repeat(32), "22".repeat(32));
    let security = foreign_body(&[
        (r#""interfaceDetails":{"fqdn":"aef.example.com"}"#, &k1),
        (
            r#""interfaceDetails":{"fqdn":"aef.example.com","port":8443}"#,
            &k2,
        ),
    ]);
    let i = ServiceApiInterface::parse("aef.example.com:8443").unwrap();
    let got = security.aef_psk_for(&i, None).unwrap();
    assert_eq!(*got.to_authentication_info(), k2);
}

#[test]
fn an_aef_id_only_entry_matches_once_the_aef_id_is_configured() {
    let k = "33".repeat(32);
    let security = foreign_body(&[(r#""aefId":"aef-7f3a""#, &k)]);
    let i = ServiceApiInterface::parse("aef.example.com:8443").unwrap();
    let err = security.aef_psk_for(&i, None).unwrap_err();
    assert_eq!(err, KeyDeliveryError::NoEntryForInterface);
    // The error says how to make such an entry match.
    let msg = err.to_string();
    assert!(
        msg.contains("aefId") && msg.contains("CcfKeyResolverConfig::aef_id"),
        "{msg}"
    );
    let got = security.aef_psk_for(&i, Some("aef-7f3a")).unwrap();
    assert_eq!(*got.to_authentication_info(), k);
}
