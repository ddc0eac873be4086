//! Unit tests of the CAPIF-3 model, store and resolver together.

use std::sync::Arc;

use super::*;
use crate::error::Error;
use crate::kdf::ServiceApiInterface;
use crate::secret::AefPsk;

#[path = "../../tests/spec_schema/mod.rs"]
mod spec_schema;

/// The `notificationDestination` of the bodies in these tests.
const NOTIFY: &str = "https://invoker.example/capif-security-notifications";

/// Parses a `ServiceSecurity` fixture, after checking that it is a valid body per TS 29.222's
/// OpenAPI (a fixture the schema refuses would test the resolver on a body no CCF may send).
fn fixture(json: &str) -> ServiceSecurity {
    if let Some(spec) = spec_schema::Spec::load() {
        spec.assert_valid(
            spec_schema::SECURITY_API,
            "ServiceSecurity",
            json.as_bytes(),
            "fixture",
        );
    }
    serde_json::from_str(json).unwrap()
}

fn interface_json(port: u16) -> InterfaceDescriptionJson {
    InterfaceDescriptionJson {
        ipv4_addr: Some("127.0.0.1".into()),
        port: Some(port),
        security_methods: vec![SECURITY_METHOD_PSK.into()],
        ..Default::default()
    }
}

/// A key per (session, interface): SHA-256 of both.
struct Fixed(u8);
impl AefPskSource for Fixed {
    fn derive_aef_psk(&self, i: &ServiceApiInterface) -> Result<AefPsk, Error> {
        use sha2::Digest;
        let digest = sha2::Sha256::new()
            .chain_update([self.0])
            .chain_update(i.as_bytes())
            .finalize();
        Ok(AefPsk::from_bytes(digest.into()))
    }
}

#[tokio::test]
async fn store_round_trips_through_json() {
    let store = CcfKeyStore::default();
    store
        .register_session("inv-1", Arc::new(Fixed(9)))
        .await
        .unwrap();
    let json = store
        .service_security_json(
            "inv-1",
            &[interface_json(8443), interface_json(9443)],
            true,
            NOTIFY,
        )
        .await
        .unwrap()
        .unwrap();
    let parsed: ServiceSecurity = serde_json::from_slice(&json).unwrap();
    let aef = ServiceApiInterface::parse("127.0.0.1:9443").unwrap();
    assert_eq!(
        parsed.aef_psk_for(&aef, None).unwrap(),
        store.aef_psk("inv-1", &aef).await.unwrap().unwrap()
    );
    let first = ServiceApiInterface::parse("127.0.0.1:8443").unwrap();
    assert_eq!(
        parsed.aef_psk_for(&first, None).unwrap(),
        store.aef_psk("inv-1", &first).await.unwrap().unwrap()
    );
    assert_ne!(
        parsed.aef_psk_for(&first, None).unwrap(),
        parsed.aef_psk_for(&aef, None).unwrap(),
        "each interface has its own key"
    );
    let other = ServiceApiInterface::parse("127.0.0.1:1").unwrap();
    assert_eq!(
        parsed.aef_psk_for(&other, None).unwrap_err(),
        KeyDeliveryError::NoEntryForInterface
    );
    assert!(store
        .service_security_json("nobody", &[interface_json(1)], true, NOTIFY)
        .await
        .unwrap()
        .is_none());
    let no_keys = store
        .service_security_json("inv-1", &[interface_json(8443)], false, NOTIFY)
        .await
        .unwrap()
        .unwrap();
    let parsed: ServiceSecurity = serde_json::from_slice(&no_keys).unwrap();
    assert_eq!(
        parsed.aef_psk_for(&ServiceApiInterface::parse("127.0.0.1:8443").unwrap(), None),
        Err(KeyDeliveryError::NoKey("no authenticationInfo"))
    );
}

#[test]
fn malformed_entries_are_typed_errors() {
    let aef = ServiceApiInterface::parse("aef.example:443").unwrap();
    let parse = fixture;
    let entry = |extra: &str| {
        format!(
            r#"{{"securityInfo":[{{"interfaceDetails":{{"fqdn":"AEF.example.","port":443}},"prefSecurityMethods":["PSK"]{extra}}}],"notificationDestination":"{NOTIFY}"}}"#
        )
    };
    assert_eq!(
        parse(&entry(r#","authenticationInfo":"zz""#)).aef_psk_for(&aef, None),
        Err(KeyDeliveryError::NoKey(
            "authenticationInfo is not 64 hex digits"
        ))
    );
    assert_eq!(
        parse(&entry(
            r#","selSecurityMethod":"PKI","authenticationInfo":"00""#
        ))
        .aef_psk_for(&aef, None),
        Err(KeyDeliveryError::NoKey("selSecurityMethod is not PSK"))
    );
    let key = "ab".repeat(32);
    let ok = parse(&entry(&format!(r#","authenticationInfo":"{key}""#)));
    assert_eq!(
        *ok.aef_psk_for(&aef, None).unwrap().to_authentication_info(),
        key
    );
    assert!(
        !format!("{ok:?}").contains(&key),
        "Debug must redact the key"
    );
}

#[test]
fn identities_that_are_not_invoker_ids_are_never_fetched() {
    assert_eq!(invoker_id_from_identity(b"inv-1.A_b~"), Some("inv-1.A_b~"));
    for bad in [
        &b""[..],
        b"../x",
        b"a/b",
        b"a?b",
        b"a b",
        b"%2e",
        b".",
        b"..",
        b"\xff",
        &[b'a'; 257],
    ] {
        assert_eq!(invoker_id_from_identity(bad), None, "{bad:?}");
    }
}

#[test]
fn request_targets() {
    assert_eq!(
        TrustedInvokersRequest::parse("/api/capif-security/v1/trustedInvokers/x1"),
        Some(TrustedInvokersRequest {
            api_invoker_id: "x1".into(),
            authentication_info: false
        })
    );
    assert!(TrustedInvokersRequest::parse("/capif-security/v1/trustedInvokers/a/b").is_none());
    assert!(TrustedInvokersRequest::parse("/other").is_none());
}

#[test]
fn the_entry_for_this_interface_wins_over_an_aef_id_match() {
    let key = |key: u8| format!("{key:02x}").repeat(32);
    // The aefId entry comes first in the list; the interface entry must still win. (Each
    // entry names the AEF one way only: the schema's oneOf.)
    let json = format!(
        r#"{{"securityInfo":[{{"aefId":"aef01","prefSecurityMethods":["PSK"],"authenticationInfo":"{}"}},{{"interfaceDetails":{{"fqdn":"aef.example","port":8443}},"prefSecurityMethods":["PSK"],"authenticationInfo":"{}"}}],"notificationDestination":"{NOTIFY}"}}"#,
        key(1),
        key(2)
    );
    let security = fixture(&json);
    let aef = ServiceApiInterface::parse("aef.example:8443").unwrap();
    assert_eq!(
        security.aef_psk_for(&aef, Some("aef01")).unwrap(),
        AefPsk::from_bytes([2; 32])
    );
    // Without an interface match the aefId decides.
    let elsewhere = ServiceApiInterface::parse("elsewhere.example:1").unwrap();
    assert_eq!(
        security.aef_psk_for(&elsewhere, Some("aef01")).unwrap(),
        AefPsk::from_bytes([1; 32])
    );
    // An interface made from raw P0 octets matches the same octets.
    let raw = ServiceApiInterface::from_raw(b"aef.example:8443".to_vec()).unwrap();
    assert_eq!(
        security.aef_psk_for(&raw, None).unwrap(),
        AefPsk::from_bytes([2; 32])
    );
}

/// What the store emits is a valid `ServiceSecurity`: checked against the schema here too, on
/// the body of the round trip above.
#[tokio::test]
async fn store_bodies_validate() {
    let store = CcfKeyStore::default();
    store
        .register_session("inv-1", Arc::new(Fixed(9)))
        .await
        .unwrap();
    for with_keys in [true, false] {
        let json = store
            .service_security_json("inv-1", &[interface_json(8443)], with_keys, NOTIFY)
            .await
            .unwrap()
            .unwrap();
        fixture(core::str::from_utf8(&json).unwrap());
    }
}
