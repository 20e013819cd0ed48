//! Every response the API tests receive is checked against the OpenAPI document: the status
//! must be one the operation lists, and a JSON body must match the schema documented for it,
//! so that a field which can be `null` without being documented so fails a test.
//!
//! The document is OpenAPI 3.0, whose schemas are not quite JSON Schema: `nullable: true`
//! means "or `null`", and `exclusiveMinimum`/`exclusiveMaximum` are booleans. [`translate`]
//! turns each schema into JSON Schema (draft 7) before the `jsonschema` crate validates.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use serde_json::{json, Map, Value};

/// The OpenAPI document, once per test binary.
fn document() -> &'static Value {
    static DOC: OnceLock<Value> = OnceLock::new();
    DOC.get_or_init(|| serde_json::from_str(&api::openapi_json()).expect("the OpenAPI document is JSON"))
}

/// OpenAPI 3.0 schema → JSON Schema, recursively.
pub fn translate(schema: &Value) -> Value {
    match schema {
        Value::Object(map) => {
            let mut out = Map::new();
            for (key, value) in map {
                match key.as_str() {
                    // Annotations of OpenAPI only; the branches carry the rules.
                    "nullable" | "discriminator" | "example" | "xml" | "externalDocs" => {}
                    "exclusiveMinimum" | "exclusiveMaximum" if value.is_boolean() => {}
                    "properties" => {
                        let props = value.as_object().expect("properties is an object");
                        let props = props.iter().map(|(k, v)| (k.clone(), translate(v))).collect::<Map<_, _>>();
                        out.insert(key.clone(), Value::Object(props));
                    }
                    _ => {
                        out.insert(key.clone(), translate(value));
                    }
                }
            }
            // 3.0's boolean exclusive bounds become 2019's numeric ones.
            for (flag, bound) in [("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")] {
                if map.get(flag) == Some(&Value::Bool(true)) {
                    if let Some(n) = out.remove(bound) {
                        out.insert(flag.to_owned(), n);
                    }
                }
            }
            if map.get("nullable") == Some(&Value::Bool(true)) {
                json!({ "anyOf": [{ "type": "null" }, Value::Object(out)] })
            } else {
                Value::Object(out)
            }
        }
        Value::Array(items) => Value::Array(items.iter().map(translate).collect()),
        other => other.clone(),
    }
}

/// The document's operation for `path` (query ignored) and `method`: its path template and
/// its object. A literal segment wins over a template one (`/tickets/similar` over
/// `/tickets/{id}`). `None` when no documented path matches (the answer is then the router's
/// 404 or 405, which no operation documents).
fn operation(method: &str, path: &str) -> Option<(&'static str, &'static Value)> {
    let path = path.split('?').next().unwrap_or_default();
    let segments: Vec<&str> = path.trim_end_matches('/').split('/').collect();
    let paths = document()["paths"].as_object()?;
    paths
        .iter()
        .filter_map(|(template, ops)| {
            let parts: Vec<&str> = template.split('/').collect();
            if parts.len() != segments.len() {
                return None;
            }
            let mut literal = 0;
            for (part, segment) in parts.iter().zip(&segments) {
                if part.starts_with('{') {
                    if segment.is_empty() {
                        return None;
                    }
                } else if part == segment {
                    literal += 1;
                } else {
                    return None;
                }
            }
            Some((literal, template.as_str(), ops.get(method.to_lowercase())?))
        })
        .max_by_key(|(literal, ..)| *literal)
        .map(|(_, template, op)| (template, op))
}

type Validators = Mutex<HashMap<(String, String, u16), Arc<jsonschema::Validator>>>;

/// The compiled validator of one documented response body.
fn validator(template: &str, method: &str, status: u16, schema: &Value) -> Arc<jsonschema::Validator> {
    static CACHE: OnceLock<Validators> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    let key = (template.to_owned(), method.to_owned(), status);
    if let Some(v) = cache.lock().unwrap().get(&key) {
        return v.clone();
    }
    // The response's schema at the root, the document's components beside it, so that
    // `#/components/schemas/...` references resolve as they do in the document.
    let mut root = translate(schema);
    if let Value::Object(map) = &mut root {
        map.insert("components".into(), json!({ "schemas": translate(&document()["components"]["schemas"]) }));
    } else {
        panic!("{method} {template} {status}: the schema is not an object");
    }
    let compiled = jsonschema::draft7::new(&root).unwrap_or_else(|e| panic!("{method} {template} {status}: {e}"));
    let compiled = Arc::new(compiled);
    cache.lock().unwrap().insert(key, compiled.clone());
    compiled
}

/// Panics unless the answer (`status`, `content_type`, parsed `body`) to `method path` is one
/// the document describes.
#[track_caller]
pub fn check(method: &str, path: &str, status: u16, content_type: Option<&str>, body: &Value) {
    let Some((template, op)) = operation(method, path) else { return };
    let method = method.to_lowercase();
    let responses = &op["responses"];
    let Some(response) = responses.get(status.to_string()) else {
        let documented: Vec<&String> = responses.as_object().map(|r| r.keys().collect()).unwrap_or_default();
        panic!("{method} {template} answered {status}, which it does not document ({documented:?}); body: {body}");
    };
    let Some(content) = response.get("content").and_then(Value::as_object) else {
        assert!(body.is_null(), "{method} {template} {status} documents no body but sent {body}");
        return;
    };
    let Some(ct) = content_type else {
        assert!(body.is_null(), "{method} {template} {status}: a body without a content type");
        return;
    };
    let essence = |t: &str| t.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    let Some((_, media)) = content.iter().find(|(t, _)| essence(t) == essence(ct)) else {
        let documented: Vec<&String> = content.keys().collect();
        panic!("{method} {template} {status} sent {ct}, which it does not document ({documented:?})");
    };
    if essence(ct) != "application/json" {
        return;
    }
    let schema = &media["schema"];
    let validator = validator(template, &method, status, schema);
    let errors: Vec<String> = validator.iter_errors(body).map(|e| format!("{} at {}", e, e.instance_path())).collect();
    assert!(
        errors.is_empty(),
        "{method} {template} {status}: the body does not match the document:\n  {}\nbody: {body}",
        errors.join("\n  ")
    );
}
