//! Validates Istio objects in a YAML stream against Istio's real CRD `openAPIV3Schema`s, Kubernetes-style.
// Not every test crate that includes this module uses every item.
#![allow(dead_code)]

use std::collections::HashMap;
use std::path::Path;

use jsonschema::Validator;
use serde_json::{json, Map, Value};

/// Istio's CRDs, copied into the repository with their license and source (its README).
pub const CRDS: &str = "fixtures/third-party/istio/crd-all.gen.yaml";

/// Compiled schemas of every served version of every CRD in `crd-all.gen.yaml`.
pub struct IstioSchemas {
    /// Keyed by (group, version, kind).
    validators: HashMap<(String, String, String), Validator>,
}

impl IstioSchemas {
    /// Loads every CRD once; panics with a clear message if the file is missing.
    pub fn load() -> IstioSchemas {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(CRDS);
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("cannot read Istio CRDs at {}: {e}", path.display()));
        let docs: Vec<Value> = serde_saphyr::from_multiple(&text)
            .unwrap_or_else(|e| panic!("cannot parse Istio CRDs at {}: {e}", path.display()));
        let mut validators = HashMap::new();
        for crd in docs.iter().filter(|d| d["kind"] == "CustomResourceDefinition") {
            let spec = &crd["spec"];
            let (group, kind) = (str_of(&spec["group"]), str_of(&spec["names"]["kind"]));
            for version in spec["versions"].as_array().into_iter().flatten() {
                if version["served"] == false {
                    continue;
                }
                let name = str_of(&version["name"]);
                let mut schema = version["schema"]["openAPIV3Schema"].clone();
                restrict_top_level(&mut schema);
                to_k8s_semantics(&mut schema);
                let validator = jsonschema::validator_for(&schema)
                    .unwrap_or_else(|e| panic!("schema of {group}/{name} {kind} does not compile: {e}"));
                validators.insert((group.clone(), name, kind.clone()), validator);
            }
        }
        assert!(!validators.is_empty(), "no CRD versions found in {}", path.display());
        IstioSchemas { validators }
    }

    /// Validates every document in `yaml_stream` (multi-document YAML, `---` separated) whose apiVersion group ends with `istio.io`
    /// against the schema of its group/version/kind; returns how many objects were checked, or the list of errors,
    /// each error naming kind/namespace/name and the JSON pointer of the bad value and the reason.
    /// An Istio object whose group/version/kind is not served by any CRD is an error. Non-Istio objects are skipped.
    pub fn validate_stream(&self, yaml_stream: &str) -> Result<usize, Vec<String>> {
        let docs: Vec<Value> =
            serde_saphyr::from_multiple(yaml_stream).map_err(|e| vec![format!("YAML does not parse: {e}")])?;
        self.validate_objects(&docs)
    }

    /// `validate_stream` of objects already parsed.
    pub fn validate_objects(&self, docs: &[Value]) -> Result<usize, Vec<String>> {
        let (mut checked, mut errors) = (0, Vec::new());
        for doc in docs.iter().filter(|d| d.is_object()) {
            // Core-group objects have no `/` in apiVersion and are never Istio's.
            let Some((group, version)) = doc["apiVersion"].as_str().and_then(|a| a.split_once('/')) else {
                continue;
            };
            // Groups Istio's CRD file does not define at all (install.istio.io's IstioOperator is read by
            // istioctl or the operator, not served by a CRD here) cannot be checked against it.
            if !group.ends_with("istio.io") || !self.validators.keys().any(|(served, _, _)| served == group) {
                continue;
            }
            let kind = str_of(&doc["kind"]);
            let meta = &doc["metadata"];
            let id = format!(
                "{kind}/{}/{}",
                meta["namespace"].as_str().unwrap_or("<no namespace>"),
                meta["name"].as_str().unwrap_or("<no name>")
            );
            checked += 1;
            let key = (group.to_string(), version.to_string(), kind.clone());
            let Some(validator) = self.validators.get(&key) else {
                errors.push(format!("{id}: no served CRD for {group}/{version} kind {kind}"));
                continue;
            };
            for err in validator.iter_errors(doc) {
                let at = err.instance_path.to_string();
                let at = if at.is_empty() { "(root)".to_string() } else { at };
                // Messages quote the offending value; hide it when it is a whole subtree.
                let mut reason = err.to_string();
                if reason.len() > 300 {
                    reason = err.masked().to_string();
                }
                errors.push(format!("{id}: at {at}: {reason}"));
            }
        }
        if errors.is_empty() {
            Ok(checked)
        } else {
            Err(errors)
        }
    }
}

fn str_of(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_string()
}

/// Rewrites a structural OpenAPI v3 schema so plain JSON Schema enforces what the API server
/// enforces under kubectl's strict field validation. `x-kubernetes-validations` (CEL) is ignored.
fn to_k8s_semantics(schema: &mut Value) {
    let Some(obj) = schema.as_object_mut() else {
        return;
    };
    if obj.get("x-kubernetes-int-or-string") == Some(&Value::Bool(true)) {
        obj.insert("type".into(), json!(["integer", "string"]));
    }
    // Without `nullable: true` the server does not accept null, so only then widen the type.
    if obj.get("nullable") == Some(&Value::Bool(true)) {
        if let Some(t) = obj.get("type").cloned() {
            let mut types = if let Value::Array(a) = t { a } else { vec![t] };
            types.push(json!("null"));
            obj.insert("type".into(), Value::Array(types));
        }
        if let Some(Value::Array(e)) = obj.get_mut("enum") {
            e.push(Value::Null);
        }
    }
    // Strict field validation: declared properties are the only ones allowed, unless the
    // schema opts out with `x-kubernetes-preserve-unknown-fields: true`. Schemas without
    // `properties` (e.g. the `required`-only branches of oneOf/anyOf) are left open.
    let preserve = obj.get("x-kubernetes-preserve-unknown-fields") == Some(&Value::Bool(true));
    if obj.contains_key("properties") && !preserve && !obj.contains_key("additionalProperties") {
        obj.insert("additionalProperties".into(), Value::Bool(false));
    }
    for (key, child) in obj.iter_mut() {
        match key.as_str() {
            "properties" => child.as_object_mut().into_iter().flat_map(Map::values_mut).for_each(to_k8s_semantics),
            "allOf" | "anyOf" | "oneOf" => child.as_array_mut().into_iter().flatten().for_each(to_k8s_semantics),
            "items" | "additionalProperties" | "not" => to_k8s_semantics(child),
            _ => {}
        }
    }
}

/// The API server owns `apiVersion`/`kind`/`metadata` and the `status` subresource: accept them
/// loosely (metadata only needs to be an object). Runs before `to_k8s_semantics`, which then
/// rejects unknown top-level fields like any other object.
fn restrict_top_level(schema: &mut Value) {
    let props =
        schema.as_object_mut().expect("openAPIV3Schema is an object").entry("properties").or_insert_with(|| json!({}));
    let props = props.as_object_mut().expect("properties is an object");
    props.insert("apiVersion".into(), json!({"type": "string"}));
    props.insert("kind".into(), json!({"type": "string"}));
    props.insert("metadata".into(), json!({"type": "object"}));
    props.insert("status".into(), json!(true));
}
