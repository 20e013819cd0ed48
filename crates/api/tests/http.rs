//! What every route shares: error shape for routing and body errors, request ids, the health
//! probe and the OpenAPI document.

mod support;

use std::sync::Arc;

use api::Health;
use async_trait::async_trait;
use poem::http::Method;
use serde_json::{json, Value};
use support::{Options, TestApp};

#[tokio::test]
async fn unknown_routes_and_methods_answer_json() {
    let app = TestApp::spawn().await;
    let token = Some(app.admin.token.as_str());
    app.call(Method::GET, "/api/v1/nothing-here", token, None).await.expect_error(404, "not_found");
    app.call(Method::GET, "/", None, None).await.expect_error(404, "not_found");
    app.call(Method::DELETE, "/api/v1/tickets", token, None).await.expect_error(405, "method_not_allowed");
    app.call(Method::POST, "/api/v1/me", token, None).await.expect_error(405, "method_not_allowed");
}

#[tokio::test]
async fn method_not_allowed_says_what_is() {
    let app = TestApp::spawn().await;
    let token = Some(app.admin.token.as_str());
    let reply = app.call(Method::DELETE, "/api/v1/tickets", token, None).await;
    assert_eq!(reply.headers.get("allow").map(|v| v.to_str().unwrap()), Some("GET, POST"));
    reply.expect_error(405, "method_not_allowed");
    let reply = app.call(Method::PATCH, "/api/v1/me", token, None).await;
    assert_eq!(reply.headers.get("allow").map(|v| v.to_str().unwrap()), Some("GET"));
    let reply = app.call(Method::DELETE, "/api/v1/tickets/12", token, None).await;
    assert_eq!(reply.headers.get("allow").map(|v| v.to_str().unwrap()), Some("GET, PATCH"));
}

#[tokio::test]
async fn numbers_and_booleans_are_not_strings() {
    let app = TestApp::spawn().await;
    let admin = &app.admin.token;
    for name in [json!(12345.5), json!(7), json!(true)] {
        let err = app.post("/api/v1/categories", admin, json!({ "name": name })).await.expect_error(400, "bad_request");
        assert_eq!(err["field"], "name");
    }
    let bad_tag = json!({ "title": "Quiz 2 grade", "category_id": app.category_id, "tags": ["quiz", 2] });
    let err = app.post("/api/v1/tickets", admin, bad_tag).await.expect_error(400, "bad_request");
    assert_eq!(err["field"], "tags[1]");
    let categories = app.get("/api/v1/categories", admin).await.expect(200).body;
    assert!(categories.as_array().unwrap().iter().all(|c| c["name"] != "12345.5"), "nothing was made");
    // Numbers where numbers are declared are fine.
    app.post("/api/v1/categories", admin, json!({ "name": "12345.5", "position": 3 })).await.expect(201);
}

#[tokio::test]
async fn a_json_body_without_a_json_content_type_is_a_documented_415() {
    let app = TestApp::spawn().await;
    let user = app.student().await;
    let body = br#"[{"kind":"reply","email":false,"digest":false}]"#.to_vec();
    let reply =
        app.raw(Method::PUT, "/api/v1/me/notification-preferences", Some(&user.token), "text/plain", body).await;
    reply.expect_error(415, "unsupported_media_type");
}

#[tokio::test]
async fn oversized_bodies_are_413() {
    let app = TestApp::spawn().await;
    let big = json!({ "title": "Big one", "category_id": app.category_id, "description": "x".repeat(300 * 1024) });
    let bytes = serde_json::to_vec(&big).unwrap();
    // Streamed without a length...
    app.raw(Method::POST, "/api/v1/tickets", Some(&app.admin.token), "application/json", bytes.clone())
        .await
        .expect_error(413, "payload_too_large");
    // ...and announced with one.
    let reply = app.post_with_length("/api/v1/tickets", &app.admin.token, bytes).await;
    reply.expect_error(413, "payload_too_large");
    // Just under the limit is read (and then judged by the domain: too long a description).
    let fits = json!({ "title": "Big one", "category_id": app.category_id, "description": "x".repeat(200 * 1024) });
    let err = app.post("/api/v1/tickets", &app.admin.token, fits).await.expect_error(422, "too_long");
    assert_eq!(err["field"], "description");
}

#[tokio::test]
async fn every_response_carries_a_request_id() {
    let app = TestApp::spawn().await;
    let ok = app.get("/api/v1/me", &app.admin.token).await.expect(200);
    let err = app.call(Method::GET, "/api/v1/me", None, None).await.expect(401);
    let missing = app.call(Method::GET, "/nope", None, None).await.expect(404);
    let ids: Vec<String> =
        [ok, err, missing].iter().map(|r| r.headers["x-request-id"].to_str().unwrap().to_owned()).collect();
    assert!(ids.iter().all(|id| !id.is_empty()));
    assert_ne!(ids[0], ids[1]);
    assert_ne!(ids[1], ids[2]);
}

#[tokio::test]
async fn liveness_and_readiness_report_their_checks() {
    let app = TestApp::spawn().await;
    let reply = app.call(Method::GET, "/healthz", None, None).await.expect(200);
    assert_eq!(reply.body, json!({ "status": "ok", "checks": { "semantic": "disabled" } }));
    let reply = app.call(Method::GET, "/readyz", None, None).await.expect(200);
    assert_eq!(
        reply.body,
        json!({ "status": "ok", "checks": {
            "database": "ok", "migrations": { "status": "ok", "pending": 0 }, "jobs": [], "semantic": "disabled"
        } })
    );
}

struct DownDatabase;

#[async_trait]
impl Health for DownDatabase {
    async fn check(&self) -> anyhow::Result<()> {
        anyhow::bail!("connection refused to db.internal:5432")
    }
}

#[tokio::test]
async fn readiness_is_503_when_the_database_is_down_while_liveness_stays_200() {
    let app = TestApp::spawn_with(Options { health: Some(Arc::new(DownDatabase)), ..Options::default() }).await;
    let reply = app.call(Method::GET, "/readyz", None, None).await.expect(503);
    assert_eq!(
        reply.body,
        json!({ "status": "unavailable", "checks": {
            "database": "unavailable", "migrations": { "status": "unavailable" }, "jobs": [], "semantic": "disabled"
        } })
    );
    assert!(!reply.body.to_string().contains("db.internal"));
    app.call(Method::GET, "/healthz", None, None).await.expect(200);
}

/// A database that answers, one migration behind, and a job whose loop ended.
struct Behind;

#[async_trait]
impl Health for Behind {
    async fn check(&self) -> anyhow::Result<()> {
        Ok(())
    }
    async fn pending_migrations(&self) -> anyhow::Result<u64> {
        Ok(1)
    }
    fn jobs(&self) -> Vec<api::JobReport> {
        let job = |name: &str, status| api::JobReport {
            name: name.to_owned(),
            status,
            every_secs: 5,
            runs: 3,
            failing: false,
            running_since: None,
            last_success_at: None,
            last_error_at: None,
        };
        vec![job("delivery", api::JobStatus::Ok), job("digests", api::JobStatus::Stopped)]
    }
}

#[tokio::test]
async fn readiness_is_503_with_a_pending_migration_or_a_job_not_doing_its_work() {
    let app = TestApp::spawn_with(Options { health: Some(Arc::new(Behind)), ..Options::default() }).await;
    let body = app.call(Method::GET, "/readyz", None, None).await.expect(503).body;
    assert_eq!(body["checks"]["database"], "ok");
    assert_eq!(body["checks"]["migrations"], json!({ "status": "unavailable", "pending": 1 }));
    let jobs: Vec<(&str, &str)> = body["checks"]["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| (j["name"].as_str().unwrap(), j["status"].as_str().unwrap()))
        .collect();
    assert_eq!(jobs, [("delivery", "ok"), ("digests", "stopped")]);
}

#[tokio::test]
async fn the_openapi_document_is_served_and_deterministic() {
    let app = TestApp::spawn().await;
    let served = app.call(Method::GET, "/api/openapi.json", None, None).await.expect(200).body;
    let offline: Value = serde_json::from_str(&api::openapi_json()).unwrap();
    assert_eq!(served, offline);
    assert_eq!(api::openapi_json(), api::openapi_json());
    assert_eq!(offline["info"]["title"], "osts API");
    assert_eq!(offline["info"]["version"], env!("CARGO_PKG_VERSION"));
    assert!(offline["openapi"].as_str().unwrap().starts_with("3."));
    assert!(offline["servers"].as_array().is_none_or(|s| s.is_empty()), "no environment-specific servers");
    let tags: Vec<&str> = offline["tags"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap()).collect();
    for tag in ["Auth", "Admin", "Categories", "Tickets", "Votes", "Health"] {
        assert!(tags.contains(&tag), "{tag} missing from {tags:?}");
    }
}

#[tokio::test]
async fn every_operation_documents_its_errors_with_the_error_schema() {
    let spec: Value = serde_json::from_str(&api::openapi_json()).unwrap();
    for (path, ops) in spec["paths"].as_object().unwrap() {
        for (method, op) in ops.as_object().unwrap() {
            let responses = op["responses"].as_object().unwrap();
            // An empty requirement (`{}`) makes the session optional: such operations answer
            // anonymously instead of with 401 (e.g. reading an FAQ entry).
            let secured = op.get("security").is_some_and(|s| {
                let s = s.as_array().unwrap();
                !s.is_empty() && !s.iter().any(|r| r.as_object().is_some_and(|r| r.is_empty()))
            });
            if path != "/healthz" && path != "/readyz" {
                assert!(responses.contains_key("500"), "{method} {path} lacks 500");
            }
            if secured {
                assert!(responses.contains_key("401"), "{method} {path} needs a session but lacks 401");
            }
            for (status, response) in responses {
                let is_error = status.starts_with('4') || status.starts_with('5');
                if is_error && path != "/healthz" && path != "/readyz" {
                    let schema = &response["content"]["application/json; charset=utf-8"]["schema"]["$ref"];
                    assert_eq!(schema, "#/components/schemas/ApiError", "{method} {path} {status}");
                }
            }
            assert!(op["summary"].as_str().is_some_and(|s| !s.is_empty()), "{method} {path} has no summary");
            assert!(op["operationId"].is_string(), "{method} {path} has no operationId");
        }
    }
}

#[tokio::test]
async fn swagger_ui_is_served() {
    let app = TestApp::spawn().await;
    let resp = app.get_raw("/api/docs").await;
    assert_eq!(resp.status(), 200);
    let html = resp.into_body().into_string().await.unwrap();
    assert!(html.to_lowercase().contains("swagger"));
}

#[tokio::test]
async fn every_page_and_every_answer_carries_the_security_headers() {
    let app = TestApp::spawn().await;
    let owner = app.student().await;
    let number = app.ticket(&owner).number().await;
    let file = support::FilePart::file("scan.png", "image/png", support::PNG);
    let attachment = app.upload(number, Some(&owner.token), file).await.expect(201).body["url"].clone();
    let unsubscribe = {
        use domain::notifications::{NotificationKind, UnsubscribeScope, UnsubscribeTokens as _};
        let scope = UnsubscribeScope::Kind(NotificationKind::Reply);
        let token = app.unsubscribe.sign(domain::accounts::UserId::new(owner.id), scope);
        format!("/api/v1/unsubscribe?token={token}")
    };
    let pages = [
        "/api/v1/auth/confirm?token=abc".to_owned(),
        "/api/v1/auth/confirm".to_owned(),
        unsubscribe,
        "/api/docs/".to_owned(),
    ];
    let others = [
        ("/api/v1/me".to_owned(), Some(owner.token.clone())),
        ("/api/v1/me".to_owned(), None),
        ("/api/v1/nothing-here".to_owned(), None),
        ("/api/openapi.json".to_owned(), None),
        ("/healthz".to_owned(), None),
        ("/readyz".to_owned(), None),
        (attachment.as_str().unwrap().to_owned(), Some(owner.token.clone())),
    ];
    let requests = pages.iter().map(|p| (p.clone(), None)).chain(others);
    for (path, token) in requests {
        let (status, headers, _) = app.get_bytes(&path, token.as_deref()).await;
        assert!(status < 500, "{path}: {status}");
        for (name, value) in [("x-content-type-options", "nosniff"), ("x-frame-options", "DENY")] {
            assert_eq!(headers.get(name).map(|v| v.to_str().unwrap()), Some(value), "{name} on {path}");
        }
        assert_eq!(headers.get_all("x-content-type-options").iter().count(), 1, "set once on {path}");
        assert!(headers.contains_key("referrer-policy"), "referrer-policy on {path}");
        let csp = headers.get("content-security-policy").map(|v| v.to_str().unwrap().to_owned());
        let csp = csp.unwrap_or_else(|| panic!("no content-security-policy on {path}"));
        assert!(csp.contains("frame-ancestors 'none'"), "{path}: {csp}");
        assert!(!csp.contains("unsafe-eval"), "{path}: {csp}");
        if pages.contains(&path) {
            let ct = headers["content-type"].to_str().unwrap();
            assert!(ct.starts_with("text/html"), "{path} is a page: {ct}");
        }
    }
}

#[tokio::test]
async fn swagger_ui_runs_under_its_policy() {
    let app = TestApp::spawn().await;
    let (status, headers, body) = app.get_bytes("/api/docs/", None).await;
    assert_eq!(status, 200);
    let page = String::from_utf8(body).unwrap();
    let csp = headers["content-security-policy"].to_str().unwrap();
    let script_src = csp.split(';').map(str::trim).find_map(|d| d.strip_prefix("script-src ")).expect("script-src");
    assert!(!script_src.contains("unsafe-inline"), "{csp}");
    // Every inline script of the page is allowed by its hash, so the browser runs it.
    let scripts: Vec<&str> = api::inline_scripts(&page).collect();
    assert_eq!(scripts.len(), 2, "Swagger UI's bundle and its start-up script");
    for script in scripts {
        use base64::Engine as _;
        use sha2::Digest as _;
        let hash = base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(script.as_bytes()));
        assert!(script_src.split(' ').any(|s| s == format!("'sha256-{hash}'")), "a script is not allowed: {csp}");
    }
    assert!(!page.contains("<script src"), "no external script is expected");
}

#[test]
fn nullable_is_translated_and_enforced() {
    let schema = json!({ "type": "object", "required": ["a"], "properties": {
        "a": { "type": "integer", "nullable": true },
        "b": { "allOf": [{ "$ref": "#/definitions/X" }], "nullable": true },
        "c": { "type": "string" },
    }, "definitions": { "X": { "type": "object", "required": ["n"], "properties": { "n": { "type": "integer" } } } } });
    let v = jsonschema::draft7::new(&support::contract::translate(&schema)).unwrap();
    assert!(v.is_valid(&json!({ "a": null, "b": null })));
    assert!(v.is_valid(&json!({ "a": 1, "b": { "n": 2 }, "c": "x" })));
    assert!(!v.is_valid(&json!({ "a": 1, "c": null })), "an undocumented null fails");
    assert!(!v.is_valid(&json!({ "a": 1, "b": { "n": null } })));
    assert!(!v.is_valid(&json!({ "a": "1" })));
}

#[test]
fn the_contract_check_catches_what_the_document_does_not_say() {
    use support::contract::check;
    let json_ct = Some("application/json; charset=utf-8");
    let fails = |f: &dyn Fn()| std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).is_err();
    let error = |field: Value| json!({ "code": "unauthenticated", "message": "sign in", "field": field });
    assert!(!fails(&|| check("GET", "/api/v1/me", 401, json_ct, &error(Value::Null))), "field may be null");
    assert!(fails(&|| check("GET", "/api/v1/me", 401, json_ct, &error(json!(3)))), "field is a string");
    assert!(fails(&|| check("GET", "/api/v1/me", 418, json_ct, &error(Value::Null))), "an undocumented status");
    assert!(fails(&|| check("GET", "/api/v1/me", 401, Some("text/html"), &Value::Null)), "an undocumented type");
    // References are followed: a ticket whose assignee is not a user summary fails.
    let ticket = |assignee: Value| {
        json!({ "number": 1, "title": "Quiz grade", "description": "", "description_html": "", "category_id": 1,
            "tags": [], "priority": "low", "status": "open", "creator": { "id": 1, "display_name": "A" },
            "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:00Z", "vote_count": 0,
            "voted": false, "watching": false, "version": 1, "assignee": assignee, "resolution": null,
            "merged_into": null, "follow_up_of": null, "escalated": false, "escalated_at": null, "thread": null,
            "sla": { "state": "ok", "first_response_due": "2026-01-02T00:00:00Z", "resolution_due": null,
                "first_response_at": null } })
    };
    assert!(!fails(&|| check("GET", "/api/v1/tickets/1", 200, json_ct, &ticket(Value::Null))));
    let sam = json!({ "id": 2, "display_name": "Sam" });
    assert!(!fails(&|| check("GET", "/api/v1/tickets/1", 200, json_ct, &ticket(sam.clone()))));
    assert!(fails(&|| check("GET", "/api/v1/tickets/1", 200, json_ct, &ticket(json!("nobody")))));
    assert!(fails(&|| check("GET", "/api/v1/tickets/1", 200, json_ct, &json!({ "number": 1 }))), "missing fields");
}
