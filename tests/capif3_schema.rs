//! Every CAPIF body the crate sends or accepts validates against the official OpenAPI files
//! (TS 29.222 V18.4.0 with TS 29.122 / TS 29.571 common data, in `../shared/spec/3gpp-rel18/`;
//! see `tests/spec_schema` for how the files' `$ref`s are resolved and when the checks are
//! skipped). Issue 11 §3.
//!
//! Sent: the CCF's `ServiceSecurity` from `CcfKeyStore::service_security_json` for every kind
//! of interface, the model's own serializations (an `aefId`-only entry, `ProblemDetails`,
//! `SecurityNotification`), and every answer of the example CCF (`examples/capif_flow`) and of
//! the test CCF (`tests/capif3_common`), fetched over HTTPS. Accepted: the fixtures of the
//! tests (`src/capif3/tests.rs` checks its own, the others are here). Negative controls show
//! that the validator refuses what the schemas refuse, across files.
#![cfg(feature = "capif3")]

#[path = "ccf_request/mod.rs"]
mod ccf_request;
#[path = "capif3_common/mod.rs"]
mod common;
#[path = "../examples/capif_flow/flow.rs"]
mod flow;
#[path = "../examples/capif_flow/pki.rs"]
mod pki;
mod spec_schema;

mod now;
use now::Now;
use std::collections::HashMap;
use std::sync::Arc;

use rustls_capif::capif3::*;
use rustls_capif::{AefPsk, Error, ServiceApiInterface};
use serde_json::{json, Value};
use spec_schema::{Spec, AEF_SECURITY_API, COMMON_29122, COMMON_29571, PUBLISH_API, SECURITY_API};

const NOTIFY: &str = "https://invoker.example/capif-security-notifications";

fn spec() -> Option<Spec> {
    Spec::load()
}

struct Fixed;
impl AefPskSource for Fixed {
    fn derive_aef_psk(&self, i: &ServiceApiInterface) -> Result<AefPsk, Error> {
        let mut key = [0u8; 32];
        for (k, b) in key.iter_mut().zip(i.as_bytes().iter().cycle()) {
            *k = *b;
        }
        Ok(AefPsk::from_bytes(key))
    }
}

fn interface(json: Value) -> InterfaceDescriptionJson {
    serde_json::from_value(json).unwrap()
}

/// The validator refuses what the schemas refuse: a required field missing, the `oneOf` of
/// `SecurityInformation` broken, and a value against a pattern defined in another file
/// (TS 29.571's `Fqdn`, reached through TS 29.222 Publish's `InterfaceDescription`).
#[test]
fn negative_controls_are_refused() {
    let Some(spec) = spec() else { return };
    let entry = json!({
        "interfaceDetails": {"fqdn": "aef.example.com", "port": 443},
        "prefSecurityMethods": ["PSK"]
    });
    let valid = json!({"securityInfo": [entry], "notificationDestination": NOTIFY});
    assert_eq!(
        spec.errors(SECURITY_API, "ServiceSecurity", &valid),
        Vec::<String>::new()
    );
    // The two fixtures src/capif3/tests.rs had, as they were.
    spec.assert_invalid(
        SECURITY_API,
        "ServiceSecurity",
        &json!({"securityInfo": [{"interfaceDetails": {"fqdn": "AEF.example.", "port": 443},
            "prefSecurityMethods": ["PSK"], "authenticationInfo": "zz"}]}),
        "notificationDestination",
    );
    spec.assert_invalid(
        SECURITY_API,
        "ServiceSecurity",
        &json!({"securityInfo": [{"interfaceDetails": {"fqdn": "other.example", "port": 8443},
            "aefId": "aef01", "authenticationInfo": "01"}], "notificationDestination": NOTIFY}),
        "prefSecurityMethods",
    );
    // Both interfaceDetails and aefId (oneOf), and neither.
    for broken in [
        json!({"interfaceDetails": {"fqdn": "aef.example.com"}, "aefId": "a", "prefSecurityMethods": ["PSK"]}),
        json!({"prefSecurityMethods": ["PSK"]}),
    ] {
        assert!(
            !spec
                .errors(SECURITY_API, "SecurityInformation", &broken)
                .is_empty(),
            "{broken} must break the oneOf"
        );
    }
    // A pattern of TS 29.571 (another file): Fqdn. (InterfaceDescription's ipv4Addr and
    // ipv6Addr are TS 29.122's, plain strings whose descriptions only ask for RFC 1166 / RFC
    // 5952 §4 text; the crate sends the form TS 29.571's patterns check, see below.)
    for bad in [
        json!({"fqdn": "localhost"}),
        json!({"fqdn": "aef_1.example.com"}),
        json!({"ipv4Addr": "192.0.2.1", "fqdn": "aef.example.com"}),
        json!({"port": 443}),
        json!({"fqdn": "aef.example.com", "port": 65536}),
    ] {
        assert!(
            !spec
                .errors(PUBLISH_API, "InterfaceDescription", &bad)
                .is_empty(),
            "{bad} must be an invalid InterfaceDescription"
        );
    }
    for bad in ["2001:DB8::1", "::ffff:192.0.2.1"] {
        assert!(
            !spec
                .errors(COMMON_29571, "Ipv6Addr", &json!(bad))
                .is_empty(),
            "{bad} must be an invalid TS 29.571 Ipv6Addr"
        );
    }
    spec.assert_invalid(
        COMMON_29122,
        "ProblemDetails",
        &json!({"status": "404"}),
        "integer",
    );
}

/// The CCF's `ServiceSecurity` for every kind of interface it can be given, with and without
/// keys, is valid; IPv6 is sent in TS 29.571's hex form whatever the input notation.
#[test]
fn store_bodies_are_valid_for_every_interface_kind() {
    let Some(spec) = spec() else { return };
    let store = CcfKeyStore::default();
    store
        .register_session("inv-1", Arc::new(Fixed))
        .now()
        .unwrap();
    let kinds = [
        json!({"ipv4Addr": "192.0.2.10", "port": 8443}),
        json!({"ipv4Addr": "192.0.2.10"}),
        json!({"ipv6Addr": "2001:DB8:0:0:0:0:0:1", "port": 443}),
        json!({"ipv6Addr": "::ffff:192.0.2.1"}),
        json!({"fqdn": "AEF.Example.com.", "port": 443, "apiPrefix": "/root", "securityMethods": ["PSK", "PKI"]}),
        json!({"fqdn": "aef.example.com"}),
    ];
    for kind in &kinds {
        for with_keys in [true, false] {
            let body = store
                .service_security_json("inv-1", &[interface(kind.clone())], with_keys, NOTIFY)
                .now()
                .unwrap()
                .unwrap();
            spec.assert_valid(SECURITY_API, "ServiceSecurity", &body, &kind.to_string());
        }
    }
    let all: Vec<_> = kinds.iter().cloned().map(interface).collect();
    let body = store
        .service_security_json("inv-1", &all, true, NOTIFY)
        .now()
        .unwrap()
        .unwrap();
    spec.assert_valid(SECURITY_API, "ServiceSecurity", &body, "all kinds");
    let parsed: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        parsed["securityInfo"][3]["interfaceDetails"]["ipv6Addr"],
        "::ffff:c000:201"
    );
    // The addresses sent also match TS 29.571's stricter patterns.
    for entry in parsed["securityInfo"].as_array().unwrap() {
        let details = &entry["interfaceDetails"];
        for (field, schema) in [("ipv6Addr", "Ipv6Addr"), ("ipv4Addr", "Ipv4Addr")] {
            if let Some(addr) = details.get(field) {
                assert_eq!(
                    spec.errors(COMMON_29571, schema, addr),
                    Vec::<String>::new(),
                    "{addr}"
                );
            }
        }
    }
    assert_eq!(parsed["notificationDestination"], NOTIFY);
}

/// An FQDN that P0 accepts but TS 29.571's `Fqdn` refuses (one label, or a `_`) is still
/// accepted as input (P0 is computed from it, a CCF's body naming it is parsed), but the
/// store never puts it in a body: a typed error instead. Likewise a missing or relative
/// `notificationDestination`.
#[test]
fn the_store_never_emits_an_invalid_body() {
    let store = CcfKeyStore::default();
    store
        .register_session("inv-1", Arc::new(Fixed))
        .now()
        .unwrap();
    for fqdn in ["localhost", "aef_1.example.com", "aef.example.123"] {
        let details = interface(json!({"fqdn": fqdn, "port": 8443}));
        if fqdn != "aef.example.123" {
            details.service_api_interface().expect("accepted for P0");
        }
        assert!(
            matches!(
                store
                    .service_security_json("inv-1", std::slice::from_ref(&details), true, NOTIFY)
                    .now(),
                Err(Error::InvalidInterface(_))
            ),
            "{fqdn}"
        );
        assert!(serde_json::to_vec(&details).is_err(), "{fqdn}");
    }
    // As input, a CCF's body naming such an interface still works.
    let key = "ab".repeat(32);
    let foreign: ServiceSecurity = serde_json::from_str(&format!(
        r#"{{"securityInfo":[{{"interfaceDetails":{{"fqdn":"localhost","port":8443}},"prefSecurityMethods":["PSK"],"authenticationInfo":"{key}"}}]}}"#
    ))
    .unwrap();
    let aef = ServiceApiInterface::parse("localhost:8443").unwrap();
    assert_eq!(
        *foreign
            .aef_psk_for(&aef, None)
            .unwrap()
            .to_authentication_info(),
        key
    );
    for bad in ["", "invokers/n", "https://a b", "://x"] {
        let details = interface(json!({"fqdn": "aef.example.com"}));
        assert!(
            matches!(
                store
                    .service_security_json("inv-1", &[details], true, bad)
                    .now(),
                Err(Error::InvalidConfig(_))
            ),
            "{bad:?}"
        );
    }
}

/// The model's own output: an entry that names the AEF by `aefId` only (the store does not
/// emit one, another CCF built on this crate may), unknown security methods sent back as they
/// came, `ProblemDetails`, `SecurityNotification`; and what the schema refuses does not
/// serialize.
#[test]
fn model_output_is_valid_and_exact() {
    let spec = spec();
    let entry = |interface_details, aef_id: Option<&str>, methods: Vec<SecurityMethod>| {
        SecurityInformation {
            interface_details,
            aef_id: aef_id.map(String::from),
            pref_security_methods: methods,
            sel_security_method: Some(SecurityMethod::Psk),
            authentication_info: None,
        }
    };
    let by_id = ServiceSecurity {
        security_info: vec![entry(
            None,
            Some("aef-7f3a"),
            vec![SecurityMethod::Psk, "QUANTUM".into()],
        )],
        notification_destination: NOTIFY.into(),
    };
    let body = serde_json::to_vec(&by_id).unwrap();
    assert_eq!(
        String::from_utf8_lossy(&body),
        format!(
            r#"{{"securityInfo":[{{"aefId":"aef-7f3a","prefSecurityMethods":["PSK","QUANTUM"],"selSecurityMethod":"PSK"}}],"notificationDestination":"{NOTIFY}"}}"#
        )
    );
    if let Some(spec) = &spec {
        spec.assert_valid(SECURITY_API, "ServiceSecurity", &body, "aefId entry");
    }
    let details = || Some(interface(json!({"fqdn": "aef.example.com"})));
    for (broken, why) in [
        (
            entry(details(), Some("a"), vec![SecurityMethod::Psk]),
            "both",
        ),
        (entry(None, None, vec![SecurityMethod::Psk]), "neither"),
        (entry(details(), None, vec![]), "no prefSecurityMethods"),
    ] {
        assert!(serde_json::to_vec(&broken).is_err(), "{why}");
    }
    let no_destination = ServiceSecurity {
        notification_destination: String::new(),
        ..by_id.clone()
    };
    assert!(serde_json::to_vec(&no_destination).is_err());

    let problems = [
        ProblemDetails::new(404, "Not Found", "no such API invoker"),
        ProblemDetails {
            problem_type: Some("https://ccf.example/problems/bad-query".into()),
            instance: Some("https://ccf.example/capif-security/v1/trustedInvokers/x".into()),
            invalid_params: vec![InvalidParam {
                param: "query authenticationInfo".into(),
                reason: Some("must be true or false".into()),
            }],
            ..ProblemDetails::new(400, "Bad Request", "bad query").with_cause("INVALID_QUERY")
        },
        flow::problem(
            hyper::StatusCode::FORBIDDEN,
            "API_INVOKER_NOT_ALLOWED",
            "not the onboarded certificate",
        ),
        flow::problem(
            hyper::StatusCode::INTERNAL_SERVER_ERROR,
            "SYSTEM_FAILURE",
            "cannot answer",
        ),
    ];
    let notification = SecurityNotification {
        api_invoker_id: "inv-1".into(),
        aef_id: Some("aef-7f3a".into()),
        api_ids: vec!["hello-api-1".into()],
        cause: RevocationCause::OverlimitUsage,
    };
    if let Some(spec) = &spec {
        for problem in &problems {
            spec.assert_valid(
                COMMON_29122,
                "ProblemDetails",
                &problem.to_json(),
                "problem",
            );
        }
        let body = serde_json::to_vec(&notification).unwrap();
        spec.assert_valid(SECURITY_API, "SecurityNotification", &body, "notification");
    }
    let empty = SecurityNotification {
        api_ids: vec![],
        ..notification
    };
    assert!(serde_json::to_vec(&empty).is_err(), "apiIds: minItems 1");
}

/// Lenient on input: unknown fields and unknown enumeration values do not stop a body.
#[test]
fn input_tolerates_unknown_fields_and_values() {
    let key = "cd".repeat(32);
    let body = format!(
        r#"{{"securityInfo":[{{"interfaceDetails":{{"fqdn":"aef.example.com","port":443,"securityMethods":["PSK","FUTURE"],"x":1}},"apiId":"api-1","prefSecurityMethods":["FUTURE","PSK"],"selSecurityMethod":"PSK","authorizationFlow":["CLIENT_CREDENTIALS_FLOW"],"authenticationInfo":"{key}"}}],"notificationDestination":"{NOTIFY}","supportedFeatures":"0","websockNotifConfig":{{"requestWebsocketUri":true}}}}"#
    );
    if let Some(spec) = spec() {
        spec.assert_valid(SECURITY_API, "ServiceSecurity", body.as_bytes(), "lenient");
    }
    let parsed: ServiceSecurity = serde_json::from_str(&body).unwrap();
    let entry = &parsed.security_info[0];
    assert_eq!(
        entry.pref_security_methods,
        vec![SecurityMethod::Other("FUTURE".into()), SecurityMethod::Psk]
    );
    let aef = ServiceApiInterface::parse("aef.example.com:443").unwrap();
    assert_eq!(
        *parsed
            .aef_psk_for(&aef, None)
            .unwrap()
            .to_authentication_info(),
        key
    );
    let problem: ProblemDetails =
        serde_json::from_str(r#"{"status":404,"cause":"X","unknown":[1],"supportedFeatures":"1"}"#)
            .unwrap();
    assert_eq!(problem.status, Some(404));
}

/// Fixtures the other tests feed the resolver and the AEF: valid bodies.
#[test]
fn fixtures_of_the_other_tests_are_valid() {
    let Some(spec) = spec() else { return };
    // tests/capif3_hygiene.rs `answer`, tests/aefpsk_interface_vectors.rs `foreign_body`
    // (their texts, with a key in place of the placeholders).
    let key = "ab".repeat(32);
    let hygiene = format!(
        r#"{{"securityInfo":[{{"interfaceDetails":{{"ipv4Addr":"127.0.0.1","port":8443}},"prefSecurityMethods":["PSK"],"selSecurityMethod":"PSK","authenticationInfo":"{key}"}}],"notificationDestination":"{NOTIFY}"}}"#
    );
    spec.assert_valid(
        SECURITY_API,
        "ServiceSecurity",
        hygiene.as_bytes(),
        "hygiene",
    );
    assert!(
        include_str!("capif3_hygiene.rs").contains(
            r#"{{"securityInfo":[{{"interfaceDetails":{{"ipv4Addr":"127.0.0.1","port":8443}},"prefSecurityMethods":["PSK"],"selSecurityMethod":"PSK","authenticationInfo":"{key}"}}],"notificationDestination":"https://invoker.example/capif-security-notifications"}}"#
        ),
        "tests/capif3_hygiene.rs's fixture changed: update it here"
    );
    for what in [
        r#""interfaceDetails":{"fqdn":"other.example.com"}"#,
        r#""interfaceDetails":{"fqdn":"AEF.example.com."}"#,
        r#""interfaceDetails":{"ipv4Addr":"192.0.2.10"}"#,
    ] {
        let body = format!(
            r#"{{"securityInfo":[{{{what},"prefSecurityMethods":["PSK"],"authenticationInfo":"{key}"}}],"notificationDestination":"https://aef.example.com/n"}}"#
        );
        spec.assert_valid(SECURITY_API, "ServiceSecurity", body.as_bytes(), what);
    }
    // The example's AEF interface (sent in its discovery answer).
    let aef = interface(json!({"ipv4Addr": "127.0.0.1", "port": 8443, "securityMethods": ["PSK"]}));
    spec.assert_valid(
        PUBLISH_API,
        "InterfaceDescription",
        &serde_json::to_vec(&aef).unwrap(),
        "example AEF",
    );
}

/// One GET over mutually authenticated HTTPS: status, content type, body.
async fn get(pki: &pki::TestPki, api_root: &str, target: &str) -> (u16, String, Vec<u8>) {
    ccf_request::request(pki, api_root, hyper::Method::GET, target).await
}

/// Every answer of the example CCF's `trustedInvokers` resource, over the wire: a
/// `ServiceSecurity` for a known invoker (with a real `notificationDestination`), and a
/// `ProblemDetails` as `application/problem+json` for an unknown invoker, an unknown resource
/// and a method it does not serve.
#[tokio::test]
async fn example_ccf_answers_are_valid() {
    let spec = spec();
    let pki = pki::TestPki::new();
    let log: flow::Log = Arc::new(|_, _| {});
    let aef = interface(json!({"ipv4Addr": "127.0.0.1", "port": 8443, "securityMethods": ["PSK"]}));
    let ccf = flow::Ccf::start(
        &pki,
        HashMap::new(),
        aef,
        rustls_capif::capif1e::Capif1eProfile::AnnexA1,
        log,
    )
    .await
    .unwrap();
    ccf.store
        .register_session("inv-1", Arc::new(Fixed))
        .await
        .unwrap();
    let root = &ccf.capif3_api_root;

    let (status, content_type, body) = get(
        &pki,
        root,
        "/capif-security/v1/trustedInvokers/inv-1?authenticationInfo=true",
    )
    .await;
    assert_eq!((status, content_type.as_str()), (200, "application/json"));
    let parsed: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        parsed["notificationDestination"],
        flow::notification_destination("inv-1")
    );
    if let Some(spec) = &spec {
        spec.assert_valid(SECURITY_API, "ServiceSecurity", &body, "example 200");
    }
    for (target, expected) in [
        (
            "/capif-security/v1/trustedInvokers/nobody?authenticationInfo=true",
            404,
        ),
        ("/capif-security/v1/other", 404),
    ] {
        let (status, content_type, body) = get(&pki, root, target).await;
        assert_eq!(
            (status, content_type.as_str()),
            (expected, PROBLEM_JSON),
            "{target}"
        );
        let problem: ProblemDetails = serde_json::from_slice(&body).unwrap();
        assert_eq!(problem.status, Some(expected));
        if let Some(spec) = &spec {
            spec.assert_valid(COMMON_29122, "ProblemDetails", &body, target);
        }
    }
}

/// The test CCF of the resolver tests answers with valid bodies too (its 200s come from the
/// store, its errors are `ProblemDetails`).
#[tokio::test]
async fn test_ccf_answers_are_valid() {
    let Some(spec) = spec() else { return };
    let pki = pki::TestPki::new();
    let s = common::setup(&pki, |_| {}).await;
    s.ccf
        .store
        .register_session(
            "inv-1",
            Arc::new(common::Fixed(AefPsk::from_bytes([1; 32]))),
        )
        .await
        .unwrap();
    // A second listener of the same stand-in, whose apiRoot this test knows.
    let root = common::start_ccf(&pki, s.ccf.clone()).await;
    let (status, _, body) = get(
        &pki,
        &root,
        "/capif-security/v1/trustedInvokers/inv-1?authenticationInfo=true",
    )
    .await;
    assert_eq!(status, 200);
    spec.assert_valid(SECURITY_API, "ServiceSecurity", &body, "test CCF 200");
    for behaviour in [
        common::Behaviour::Normal,
        common::Behaviour::Forbidden,
        common::Behaviour::ServerError,
    ] {
        *s.ccf.behaviour.lock().unwrap() = behaviour;
        let (status, content_type, body) = get(
            &pki,
            &root,
            "/capif-security/v1/trustedInvokers/nobody?authenticationInfo=true",
        )
        .await;
        assert_ne!(status, 200, "{behaviour:?}");
        assert_eq!(content_type, PROBLEM_JSON, "{behaviour:?}");
        spec.assert_valid(
            COMMON_29122,
            "ProblemDetails",
            &body,
            &format!("{behaviour:?}"),
        );
    }
}

/// Revocation (issue 11 §4) through the AEF_Security_API schemas: the CCF's
/// `RevokeAuthorizationReq`, the AEF's `RevokeAuthorizationRsp`, and the ProblemDetails of
/// every refusal the AEF answers with; a request the handler accepts leniently is still
/// valid once re-serialized.
#[test]
fn revocation_bodies_are_valid() {
    let spec = spec();
    let req = RevokeAuthorizationReq {
        revoke_info: SecurityNotification {
            api_invoker_id: "inv-1".into(),
            aef_id: Some("aef-7f3a".into()),
            api_ids: vec!["hello-api-1".into()],
            cause: RevocationCause::UnexpectedReason,
        },
        supported_features: "0".into(),
    };
    let rsp = RevokeAuthorizationRsp {
        supported_features: "0".into(),
    };
    let lenient = RevocationHandler::parse(
        br#"{"revokeInfo":{"apiInvokerId":"inv-2","apiIds":["a"],"cause":"SOMETHING_NEW","x":1},"supportedFeatures":"0"}"#,
    )
    .expect("lenient input");
    let refusals = [
        rustls_capif::error::RevocationError::NotTheCcf,
        rustls_capif::error::RevocationError::NotFound,
        rustls_capif::error::RevocationError::MethodNotAllowed,
        rustls_capif::error::RevocationError::UnsupportedMediaType,
        rustls_capif::error::RevocationError::BodyTooLarge(MAX_REVOCATION_BODY + 1),
        rustls_capif::error::RevocationError::MalformedJson("expected value".into()),
        rustls_capif::error::RevocationError::InvalidParam {
            param: "/revokeInfo/apiIds",
            reason: "at least one is required",
        },
    ];
    let Some(spec) = &spec else { return };
    for (schema, body) in [
        ("RevokeAuthorizationReq", serde_json::to_vec(&req).unwrap()),
        ("RevokeAuthorizationRsp", serde_json::to_vec(&rsp).unwrap()),
        (
            "RevokeAuthorizationReq",
            serde_json::to_vec(&lenient).unwrap(),
        ),
    ] {
        spec.assert_valid(AEF_SECURITY_API, schema, &body, schema);
    }
    for refusal in &refusals {
        let answer = RevocationResponse::refusal(refusal);
        assert_eq!(answer.content_type, PROBLEM_JSON, "{refusal:?}");
        spec.assert_valid(COMMON_29122, "ProblemDetails", &answer.body, "refusal");
    }
}
