//! Holding requests and answers to the OpenAPI document where poem-openapi is lenient.
//!
//! - poem-openapi reads a JSON number or boolean where a string is declared (`{"name": 12345.5}`
//!   made a category named "12345.5"), and `null` for any optional field; [`ContractChecks`]
//!   refuses such a body with 400, naming the field, before the operation parses it. (An
//!   optional field is left out, not sent as `null`, unless the document says `nullable`.)
//! - poem answers a method a path does not take with 405 but no `Allow` header; this adds the
//!   methods the document lists for the path.

use std::sync::Arc;

use poem::{
    http::{header, HeaderValue, Method, StatusCode},
    Endpoint, IntoResponse, Middleware, Request, Response,
};
use serde_json::Value;

use crate::error::Problem;

/// One documented path: its segments (`None` for a `{parameter}`) and its operations.
struct PathItem {
    segments: Vec<Option<String>>,
    /// Method, and the JSON schema of its request body if it takes one.
    operations: Vec<(Method, Option<Value>)>,
}

/// What the document says about each path, read once from the document itself.
pub struct Contract {
    paths: Vec<PathItem>,
    schemas: serde_json::Map<String, Value>,
}

impl Contract {
    /// Reads the OpenAPI document (JSON).
    pub fn from_document(document: &str) -> Self {
        let doc: Value = serde_json::from_str(document).expect("the OpenAPI document is JSON");
        let schemas = doc["components"]["schemas"].as_object().cloned().unwrap_or_default();
        let paths = doc["paths"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(template, ops)| PathItem {
                segments: template.split('/').map(|s| (!s.starts_with('{')).then(|| s.to_owned())).collect(),
                operations: ops
                    .as_object()
                    .into_iter()
                    .flatten()
                    .filter_map(|(method, op)| {
                        let method = Method::from_bytes(method.to_uppercase().as_bytes()).ok()?;
                        let content = op["requestBody"]["content"].as_object();
                        let json = content.and_then(|c| {
                            c.iter().find(|(t, _)| t.starts_with("application/json")).map(|(_, m)| m["schema"].clone())
                        });
                        Some((method, json))
                    })
                    .collect(),
            })
            .collect();
        Self { paths, schemas }
    }

    /// The documented path `path` falls under; a literal segment wins over a parameter.
    fn find(&self, path: &str) -> Option<&PathItem> {
        let segments: Vec<&str> = path.split('/').collect();
        self.paths
            .iter()
            .filter(|item| {
                item.segments.len() == segments.len()
                    && item.segments.iter().zip(&segments).all(|(part, seg)| match part {
                        Some(literal) => literal == seg,
                        None => !seg.is_empty(),
                    })
            })
            .max_by_key(|item| item.segments.iter().filter(|s| s.is_some()).count())
    }

    /// The `Allow` header for `path`: the methods the document lists for it.
    fn allow(&self, path: &str) -> Option<String> {
        let item = self.find(path)?;
        let methods: Vec<&str> = item.operations.iter().map(|(m, _)| m.as_str()).collect();
        (!methods.is_empty()).then(|| methods.join(", "))
    }

    /// The schema of the JSON body `method path` takes, if any.
    fn request_schema(&self, method: &Method, path: &str) -> Option<&Value> {
        self.find(path)?.operations.iter().find(|(m, _)| m == method)?.1.as_ref()
    }

    /// The schema `schema` stands for, following a `$ref` into the components.
    fn resolve<'a>(&'a self, schema: &'a Value) -> &'a Value {
        match schema["$ref"].as_str().and_then(|r| r.strip_prefix("#/components/schemas/")) {
            Some(name) => self.schemas.get(name).map_or(schema, |s| self.resolve(s)),
            None => schema,
        }
    }

    /// The first place in `value` where the schema declares a string and the JSON has a
    /// number or a boolean, or where the JSON has `null` and the schema does not say
    /// `nullable`: its field path (`name`, `tags[2]`, `[0].kind`).
    fn string_mismatch(&self, schema: &Value, value: &Value, at: &str) -> Option<String> {
        if value.is_null() {
            // A documented `nullable` (also `allOf: [$ref]` with `nullable`) takes `null`.
            return (schema["nullable"] != Value::Bool(true) && !at.is_empty()).then(|| at.to_owned());
        }
        let schema = self.resolve(schema);
        for part in schema["allOf"].as_array().into_iter().flatten() {
            if let Some(found) = self.string_mismatch(part, value, at) {
                return Some(found);
            }
        }
        match (schema["type"].as_str(), value) {
            (Some("string"), Value::Number(_) | Value::Bool(_)) => Some(at.to_owned()),
            (Some("array"), Value::Array(items)) => items
                .iter()
                .enumerate()
                .find_map(|(i, item)| self.string_mismatch(&schema["items"], item, &format!("{at}[{i}]"))),
            (_, Value::Object(fields)) => schema["properties"].as_object().and_then(|props| {
                fields.iter().find_map(|(name, field)| {
                    let path = if at.is_empty() { name.clone() } else { format!("{at}.{name}") };
                    props.get(name).and_then(|s| self.string_mismatch(s, field, &path))
                })
            }),
            _ => None,
        }
    }
}

/// See the module documentation.
pub struct ContractChecks(pub Arc<Contract>);

impl<E: Endpoint> Middleware<E> for ContractChecks {
    type Output = ContractChecksEndpoint<E>;

    fn transform(&self, inner: E) -> Self::Output {
        ContractChecksEndpoint { inner, contract: self.0.clone() }
    }
}

/// See [`ContractChecks`].
pub struct ContractChecksEndpoint<E> {
    inner: E,
    contract: Arc<Contract>,
}

impl<E: Endpoint> Endpoint for ContractChecksEndpoint<E> {
    type Output = Response;

    async fn call(&self, mut req: Request) -> poem::Result<Response> {
        let path = req.uri().path().to_owned();
        let is_json = req.content_type().is_some_and(|ct| ct.starts_with("application/json"));
        if let Some(schema) = self.contract.request_schema(req.method(), &path).filter(|_| is_json) {
            // Buffered already by the body limit, so this costs no extra read.
            let bytes = req.take_body().into_bytes().await?;
            if let Ok(value) = serde_json::from_slice::<Value>(&bytes) {
                if let Some(field) = self.contract.string_mismatch(schema, &value, "") {
                    let problem = Problem::new(
                        StatusCode::BAD_REQUEST,
                        "bad_request",
                        format!("`{field}` must be a JSON string, or is null where the document does not allow it"),
                    );
                    return Err(if field.is_empty() { problem } else { problem.with_field(&field) }.into());
                }
            }
            req.set_body(bytes);
        }
        let resp = match self.inner.call(req).await {
            Ok(out) => out.into_response(),
            Err(err) if err.status() == StatusCode::METHOD_NOT_ALLOWED => Problem::from_poem(&err).into_response(),
            Err(err) => return Err(err),
        };
        if resp.status() != StatusCode::METHOD_NOT_ALLOWED {
            return Ok(resp);
        }
        let mut resp = resp;
        if let Some(allow) = self.contract.allow(&path).and_then(|a| HeaderValue::from_str(&a).ok()) {
            resp.headers_mut().insert(header::ALLOW, allow);
        }
        Ok(resp)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn contract() -> Contract {
        Contract::from_document(&crate::openapi_json())
    }

    #[test]
    fn allow_lists_the_documented_methods() {
        let c = contract();
        assert_eq!(c.allow("/api/v1/tickets").as_deref(), Some("GET, POST"));
        assert_eq!(c.allow("/api/v1/me").as_deref(), Some("GET"));
        assert!(c.allow("/api/v1/tickets/similar").is_some_and(|a| a.contains("POST")));
        assert_eq!(c.allow("/nowhere"), None);
    }

    #[test]
    fn numbers_and_booleans_where_strings_are_declared_are_found() {
        let c = contract();
        let schema = c.request_schema(&Method::POST, "/api/v1/categories").unwrap();
        assert_eq!(c.string_mismatch(schema, &json!({ "name": 12345.5 }), ""), Some("name".into()));
        assert_eq!(c.string_mismatch(schema, &json!({ "name": true }), ""), Some("name".into()));
        assert_eq!(c.string_mismatch(schema, &json!({ "name": "Exams" }), ""), None);
        let schema = c.request_schema(&Method::POST, "/api/v1/tickets").unwrap();
        let draft = json!({ "title": "Quiz", "category_id": 1, "tags": ["a", 2] });
        assert_eq!(c.string_mismatch(schema, &draft, ""), Some("tags[1]".into()));
        assert_eq!(c.string_mismatch(schema, &json!({ "title": "Quiz", "category_id": 1 }), ""), None);
        let schema = c.request_schema(&Method::POST, "/api/v1/tickets/similar").unwrap();
        assert_eq!(c.string_mismatch(schema, &json!({ "title": "Quiz", "limit": null }), ""), Some("limit".into()));
        let schema = c.request_schema(&Method::PUT, "/api/v1/tickets/{id}/assignee").unwrap();
        assert_eq!(c.string_mismatch(schema, &json!({ "assignee_id": null }), ""), None, "nullable");
        let reference = json!({ "allOf": [{ "$ref": "#/components/schemas/Nope" }], "nullable": true });
        assert_eq!(c.string_mismatch(&reference, &Value::Null, "priority"), None, "a nullable reference");
    }
}
