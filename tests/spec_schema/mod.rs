//! Validation of CAPIF JSON bodies against the official 3GPP OpenAPI files: TS 29.222 V18.4.0
//! (`TS29222_*.yaml`) and the common data they reference (`TS29122_CommonData.yaml`,
//! `TS29571_CommonData.yaml`), read from `../shared/spec/3gpp-rel18/` beside the repository.
//!
//! How: each YAML file is read with `serde_norway` and turned into JSON (OpenAPI 3.0's
//! `nullable: true` becomes a JSON Schema `null` alternative; nothing else needs adapting for
//! validation: OpenAPI-only keywords such as `example` are annotations), then registered under
//! `https://3gpp.invalid/rel18/<file>` for the `jsonschema` crate, whose validator resolves
//! every `$ref`, the cross-file ones (`TS29571_CommonData.yaml#/components/schemas/Fqdn`)
//! included, through the retriever below; a reference to a file that is not there is an error,
//! never an empty schema. Validation follows JSON Schema draft 4, the dialect OpenAPI 3.0's
//! schema objects are built on.
//!
//! If the directory is missing, the tests FAIL when run from the repository (a `.git` beside
//! `Cargo.toml`), and are skipped with a note outside it (the published crate does not ship
//! the 3GPP files) or when `RUSTLS_CAPIF_SKIP_SPEC=1` is set.
//!
//! Used by `tests/capif3_schema.rs` and by the unit tests in `src/capif3/tests.rs` (via
//! `#[path]`).
#![allow(dead_code)]

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use serde_json::Value;

/// Where the OpenAPI files are, relative to the crate root.
pub const SPEC_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/spec/3gpp-rel18");

/// The base URI the files are registered under (`.invalid`: nothing is ever fetched).
const BASE: &str = "https://3gpp.invalid/rel18/";

/// The files read.
const FILES: &[&str] = &[
    "TS29222_CAPIF_Security_API.yaml",
    "TS29222_AEF_Security_API.yaml",
    "TS29222_CAPIF_Publish_Service_API.yaml",
    "TS29222_CAPIF_Discover_Service_API.yaml",
    "TS29222_CAPIF_API_Invoker_Management_API.yaml",
    "TS29122_CommonData.yaml",
    "TS29571_CommonData.yaml",
];

/// `TS29222_CAPIF_Security_API.yaml`
pub const SECURITY_API: &str = "TS29222_CAPIF_Security_API.yaml";
/// `TS29222_AEF_Security_API.yaml`
pub const AEF_SECURITY_API: &str = "TS29222_AEF_Security_API.yaml";
/// `TS29122_CommonData.yaml`
pub const COMMON_29122: &str = "TS29122_CommonData.yaml";
/// `TS29571_CommonData.yaml`
pub const COMMON_29571: &str = "TS29571_CommonData.yaml";
/// `TS29222_CAPIF_Publish_Service_API.yaml`
pub const PUBLISH_API: &str = "TS29222_CAPIF_Publish_Service_API.yaml";

/// The loaded OpenAPI files.
#[derive(Clone)]
pub struct Spec {
    /// Every file, registered under its URI.
    registry: Arc<jsonschema::Registry<'static>>,
}

/// Serves the registered files to the validator; anything else is an error.
struct Retriever(Arc<HashMap<String, Value>>);

impl jsonschema::Retrieve for Retriever {
    fn retrieve(
        &self,
        uri: &jsonschema::Uri<String>,
    ) -> Result<Value, Box<dyn std::error::Error + Send + Sync>> {
        let uri = uri.as_str();
        let uri = uri.split_once('#').map_or(uri, |(doc, _)| doc);
        self.0.get(uri).cloned().ok_or_else(|| {
            format!("{uri} is not one of the OpenAPI files in {SPEC_DIR}: refusing to guess").into()
        })
    }
}

impl Spec {
    /// The OpenAPI files, or `None` when the checks are skipped (see the module doc). Panics
    /// with a clear message if they are missing in the repository, or do not parse.
    pub fn load() -> Option<Self> {
        let dir = Path::new(SPEC_DIR);
        if !dir.is_dir() {
            let skip = std::env::var("RUSTLS_CAPIF_SKIP_SPEC").is_ok_and(|v| v == "1");
            let in_repository = Path::new(env!("CARGO_MANIFEST_DIR")).join(".git").exists();
            if skip || !in_repository {
                eprintln!(
                    "SKIPPED: the 3GPP OpenAPI files are not in {SPEC_DIR} ({}): CAPIF bodies \
                     not validated",
                    if skip {
                        "RUSTLS_CAPIF_SKIP_SPEC=1"
                    } else {
                        "not run from the repository"
                    }
                );
                return None;
            }
            panic!(
                "the 3GPP OpenAPI files (TS 29.222 V18.4.0, TS29122_CommonData.yaml, \
                 TS29571_CommonData.yaml) must be in {SPEC_DIR}, beside the repository, for the \
                 schema checks of CAPIF bodies; set RUSTLS_CAPIF_SKIP_SPEC=1 to skip them"
            );
        }
        let mut files = HashMap::new();
        for file in FILES {
            let path = dir.join(file);
            let text = std::fs::read_to_string(&path)
                .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
            let yaml: serde_norway::Value = serde_norway::from_str(&text)
                .unwrap_or_else(|e| panic!("{} is not YAML: {e}", path.display()));
            files.insert(
                format!("{BASE}{file}"),
                openapi_to_json_schema(yaml_to_json(yaml)),
            );
        }
        let files = Arc::new(files);
        let registry = jsonschema::Registry::new()
            .draft(jsonschema::Draft::Draft4)
            .retriever(Retriever(files.clone()))
            .extend(files.iter().map(|(uri, doc)| (uri.clone(), doc.clone())))
            .and_then(|builder| builder.prepare())
            .unwrap_or_else(|e| panic!("cannot register the OpenAPI files: {e}"));
        Some(Self {
            registry: Arc::new(registry),
        })
    }

    /// A validator for `#/components/schemas/{schema}` of `file`.
    pub fn validator(&self, file: &str, schema: &str) -> jsonschema::Validator {
        let root =
            serde_json::json!({ "$ref": format!("{BASE}{file}#/components/schemas/{schema}") });
        jsonschema::options()
            .with_draft(jsonschema::Draft::Draft4)
            .with_registry(&self.registry)
            .build(&root)
            .unwrap_or_else(|e| panic!("cannot build the validator of {file} {schema}: {e}"))
    }

    /// Why `body` is not a valid `schema` of `file` (empty: valid).
    pub fn errors(&self, file: &str, schema: &str, body: &Value) -> Vec<String> {
        self.validator(file, schema)
            .iter_errors(body)
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect()
    }

    /// Panics unless `body` (JSON text) is a valid `schema` of `file`.
    pub fn assert_valid(&self, file: &str, schema: &str, body: &[u8], what: &str) {
        let value: Value = serde_json::from_slice(body).unwrap_or_else(|e| {
            panic!("{what}: not JSON ({e}): {}", String::from_utf8_lossy(body))
        });
        let errors = self.errors(file, schema, &value);
        assert!(
            errors.is_empty(),
            "{what}: not a valid {schema} ({file}): {errors:#?}\n{value}"
        );
    }

    /// Panics unless `body` is refused, with an error that mentions `needle`.
    pub fn assert_invalid(&self, file: &str, schema: &str, body: &Value, needle: &str) {
        let errors = self.errors(file, schema, body);
        assert!(
            errors.iter().any(|e| e.contains(needle)),
            "{body} should be an invalid {schema} because of {needle:?}; errors: {errors:#?}"
        );
    }
}

/// YAML to JSON, with non-string mapping keys (e.g. `200:`) as strings.
fn yaml_to_json(yaml: serde_norway::Value) -> Value {
    use serde_norway::Value as Y;
    match yaml {
        Y::Null => Value::Null,
        Y::Bool(b) => Value::Bool(b),
        Y::Number(n) => serde_json::to_value(&n).unwrap_or(Value::Null),
        Y::String(s) => Value::String(s),
        Y::Sequence(items) => Value::Array(items.into_iter().map(yaml_to_json).collect()),
        Y::Mapping(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| {
                    let key = match k {
                        Y::String(s) => s,
                        other => serde_norway::to_string(&other)
                            .unwrap_or_default()
                            .trim()
                            .to_string(),
                    };
                    (key, yaml_to_json(v))
                })
                .collect(),
        ),
        Y::Tagged(tagged) => yaml_to_json(tagged.value),
    }
}

/// OpenAPI 3.0 schema objects to JSON Schema: `nullable: true` admits `null`.
fn openapi_to_json_schema(value: Value) -> Value {
    match value {
        Value::Array(items) => {
            Value::Array(items.into_iter().map(openapi_to_json_schema).collect())
        }
        Value::Object(map) => {
            let mut map: serde_json::Map<String, Value> = map
                .into_iter()
                .map(|(k, v)| (k, openapi_to_json_schema(v)))
                .collect();
            if map.get("nullable") == Some(&Value::Bool(true)) {
                map.remove("nullable");
                match map.get("type").cloned() {
                    Some(Value::String(t)) => {
                        map.insert("type".into(), serde_json::json!([t, "null"]));
                        // An `enum` must list null too, or it still refuses it.
                        if let Some(Value::Array(values)) = map.get_mut("enum") {
                            values.push(Value::Null);
                        }
                    }
                    _ => {
                        let rest = Value::Object(std::mem::take(&mut map));
                        map.insert(
                            "anyOf".into(),
                            serde_json::json!([{ "type": "null" }, rest]),
                        );
                    }
                }
            }
            Value::Object(map)
        }
        other => other,
    }
}
