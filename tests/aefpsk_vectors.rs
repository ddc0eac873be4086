//! Every vector of `tests/data/aefpsk.json` (computed by an independent implementation) must
//! reproduce both the KDF input `S` and the AEFPSK.

use rustls_capif::kdf::{derive_aefpsk, FC_AEFPSK};
use rustls_capif::secret::decode_hex;
use rustls_capif::ServiceApiInterface;

fn vectors() -> Vec<serde_json::Value> {
    let text = include_str!("data/aefpsk.json");
    let doc: serde_json::Value = serde_json::from_str(text).expect("vector file is JSON");
    doc["vectors"].as_array().expect("vectors array").clone()
}

fn field<'a>(v: &'a serde_json::Value, name: &str) -> &'a str {
    v[name]
        .as_str()
        .unwrap_or_else(|| panic!("vector lacks {name}"))
}

#[test]
fn all_vectors_reproduce_s_and_aefpsk() {
    let vectors = vectors();
    assert!(vectors.len() >= 5, "vector file unexpectedly short");
    for v in &vectors {
        let name = field(v, "name");
        let ms = decode_hex(field(v, "master_secret")).unwrap();
        let sid = decode_hex(field(v, "session_id")).unwrap();
        let interface = ServiceApiInterface::parse(field(v, "interface")).unwrap();
        assert_eq!(
            interface.to_string(),
            field(v, "interface"),
            "{name}: vector interface is not canonical"
        );

        // S as the spec lays it out, built independently of the KDF code.
        let p0 = interface.as_bytes();
        let mut s = vec![FC_AEFPSK];
        s.extend_from_slice(p0);
        s.extend_from_slice(&(p0.len() as u16).to_be_bytes());
        s.extend_from_slice(&sid);
        s.extend_from_slice(&(sid.len() as u16).to_be_bytes());
        assert_eq!(*decode_hex(field(v, "s")).unwrap(), s, "{name}: S differs");

        let psk = derive_aefpsk(&ms, &sid, &interface).unwrap();
        assert_eq!(
            *psk.to_authentication_info(),
            field(v, "aefpsk"),
            "{name}: AEFPSK differs"
        );
    }
}

#[test]
fn changing_any_input_changes_the_key() {
    let v = &vectors()[0];
    let ms = decode_hex(field(v, "master_secret")).unwrap();
    let sid = decode_hex(field(v, "session_id")).unwrap();
    let aef = ServiceApiInterface::parse(field(v, "interface")).unwrap();
    let base = derive_aefpsk(&ms, &sid, &aef).unwrap();

    let mut ms2 = ms.to_vec();
    ms2[0] ^= 1;
    let mut sid2 = sid.to_vec();
    sid2[31] ^= 0x80;
    let other_aef = ServiceApiInterface::parse("aef.example.com:8444").unwrap();
    assert_ne!(derive_aefpsk(&ms2, &sid, &aef).unwrap(), base);
    assert_ne!(derive_aefpsk(&ms, &sid2, &aef).unwrap(), base);
    assert_ne!(derive_aefpsk(&ms, &sid, &other_aef).unwrap(), base);
}
