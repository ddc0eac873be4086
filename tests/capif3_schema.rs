#[test]
fn placeholder() { let _ = jsonschema::options(); let _: serde_norway::Value = serde_norway::from_str("a: 1").unwrap(); }
