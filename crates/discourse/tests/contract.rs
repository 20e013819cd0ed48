//! Contract test: every request `ForumApi` can send is checked against Discourse's published
//! contract, `shared/contracts/discourse-openapi.json`: the method and path template, the
//! declared path, query and header parameters (required ones present, no undeclared ones),
//! and the JSON body against the operation's schema. Endpoints the spec leaves out are
//! checked against a small table derived from `discourse-and-chat-notes.md` instead.
//!
//! On `additionalProperties` (notes, section 1.6): the spec sets it to `false` on some
//! request bodies and leaves it out on others, while Discourse itself accepts more fields.
//! This test makes every request body schema strict (an object's properties are all it may
//! have), so a field the contract does not know fails the test; a field Discourse accepts
//! beyond the spec would have to be added to the notes table, with its source, on purpose.
//!
//! The requests come from running every operation against the stateful fake (which records
//! them) plus wiremock for the one path the fake never takes (a redirect of an unusual shape).

use std::collections::BTreeSet;
use std::sync::OnceLock;
use std::time::Duration;

use discourse::fake::{FakeConfig, FakeDiscourse, Recorded};
use discourse::{ForumApi, ForumConfig};
use domain::forum::{ForumClient, ForumIdentity, NewTopic, Visibility};
use secrecy::SecretString;
use serde_json::{json, Value};

const SPEC: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/contracts/discourse-openapi.json");
const CONNECT: &str = "a connect secret of length";

fn spec() -> &'static Value {
    static DOC: OnceLock<Value> = OnceLock::new();
    DOC.get_or_init(|| {
        let text = std::fs::read_to_string(SPEC).unwrap_or_else(|e| panic!("the spec at {SPEC}: {e}"));
        serde_json::from_str(&text).expect("the spec is JSON")
    })
}

/// One operation of the contract.
#[derive(Debug, Clone)]
struct Operation {
    method: String,
    template: String,
    /// Query parameters: name, required.
    query: Vec<(String, bool)>,
    /// Required header parameters.
    headers: Vec<String>,
    /// Path parameters: name, JSON type.
    path_types: Vec<(String, String)>,
    /// The JSON body's schema; `None`: no body.
    body: Option<Value>,
    /// `spec` or the section of the notes.
    source: &'static str,
}

/// Every operation of the spec, with the notes' corrections (section 1.6, item 4).
fn spec_operations() -> Vec<Operation> {
    let mut ops = Vec::new();
    for (template, methods) in spec()["paths"].as_object().unwrap() {
        for (method, op) in methods.as_object().unwrap() {
            let params = op["parameters"].as_array().cloned().unwrap_or_default();
            let of = |place: &str| params.iter().filter(move |p| p["in"] == place).cloned().collect::<Vec<_>>();
            let mut operation = Operation {
                method: method.to_uppercase(),
                template: template.clone(),
                query: of("query")
                    .iter()
                    .map(|p| (p["name"].as_str().unwrap().to_owned(), p["required"] == true))
                    .collect(),
                headers: of("header")
                    .iter()
                    .filter(|p| p["required"] == true)
                    .map(|p| p["name"].as_str().unwrap().to_owned())
                    .collect(),
                path_types: of("path")
                    .iter()
                    .map(|p| {
                        (
                            p["name"].as_str().unwrap().to_owned(),
                            p["schema"]["type"].as_str().unwrap_or("string").to_owned(),
                        )
                    })
                    .collect(),
                body: op["requestBody"]["content"]["application/json"].get("schema").cloned(),
                source: "spec",
            };
            // "GET /t/{id}/posts.json models post_ids[] as a body — send it in the query."
            if operation.method == "GET" && template == "/t/{id}/posts.json" {
                let body = operation.body.take().unwrap_or_default();
                let required: Vec<&Value> = body["required"].as_array().map(|r| r.iter().collect()).unwrap_or_default();
                for name in body["properties"].as_object().unwrap().keys() {
                    operation.query.push((name.clone(), required.contains(&&json!(name))));
                }
                operation.source = "spec, with post_ids[] in the query (notes 1.5, 1.6)";
            }
            ops.push(operation);
        }
    }
    ops
}

/// The endpoints the spec leaves out, from the notes (section 1.5 and the appendix).
fn notes_operations() -> Vec<Operation> {
    let auth = vec!["Api-Key".to_owned(), "Api-Username".to_owned()];
    let op = |method: &str, template: &str, body: Option<Value>, source: &'static str| Operation {
        method: method.into(),
        template: template.into(),
        query: Vec::new(),
        headers: auth.clone(),
        path_types: vec![("id".into(), "integer".into())],
        body,
        source,
    };
    vec![
        op(
            "PUT",
            "/t/{id}/convert-topic/public.json",
            Some(json!({"type": "object", "properties": {"category_id": {"type": "integer"}}})),
            "notes 1.5 Convert (optional category_id)",
        ),
        op("PUT", "/t/{id}/convert-topic/private.json", None, "notes 1.5 Convert"),
        op(
            "POST",
            "/t/{id}/merge-topic.json",
            Some(json!({
                "type": "object",
                "properties": {
                    "destination_topic_id": {"type": "integer"},
                    "participants": {}, "chronological_order": {}, "archetype": {"type": "string"}, "freeze_original": {},
                },
                "required": ["destination_topic_id"],
            })),
            "notes 1.5 Move posts / merge topics",
        ),
        Operation {
            path_types: Vec::new(),
            ..op(
                "POST",
                "/admin/users/sync_sso",
                Some(json!({
                    "type": "object",
                    "properties": {"sso": {"type": "string", "pattern": "^[A-Za-z0-9=]+$"}, "sig": {"type": "string", "pattern": "^[0-9a-f]{64}$"}},
                    "required": ["sso", "sig"],
                })),
                "notes, appendix DiscourseConnect (sync_sso)",
            )
        },
    ]
}

/// Every object schema with properties admits only those (see the module's docs).
fn strict(schema: &Value) -> Value {
    match schema {
        Value::Object(map) => {
            let mut out: serde_json::Map<String, Value> = map.iter().map(|(k, v)| (k.clone(), strict(v))).collect();
            if map.contains_key("properties") && !map.contains_key("additionalProperties") {
                out.insert("additionalProperties".into(), json!(false));
            }
            Value::Object(out)
        }
        Value::Array(items) => Value::Array(items.iter().map(strict).collect()),
        other => other.clone(),
    }
}

/// Whether the path segment `actual` fits the template's (`{id}.json`, `posts`...), and how
/// (`Some(Some((name, value)))` for a parameter).
fn segment(template: &str, actual: &str) -> Option<Option<(String, String)>> {
    match (template.find('{'), template.find('}')) {
        (Some(open), Some(close)) => {
            let (prefix, name, suffix) = (&template[..open], &template[open + 1..close], &template[close + 1..]);
            let value = actual.strip_prefix(prefix)?.strip_suffix(suffix)?;
            (!value.is_empty()).then(|| Some((name.to_owned(), value.to_owned())))
        }
        _ => (template == actual).then_some(None),
    }
}

/// The operation a request is for (the most literal match), with its path parameters.
fn operation_for<'a>(ops: &'a [Operation], method: &str, path: &str) -> Option<(&'a Operation, Vec<(String, String)>)> {
    let actual: Vec<&str> = path.split('/').collect();
    ops.iter()
        .filter(|op| op.method == method)
        .filter_map(|op| {
            let parts: Vec<&str> = op.template.split('/').collect();
            if parts.len() != actual.len() {
                return None;
            }
            let mut params = Vec::new();
            for (t, a) in parts.iter().zip(&actual) {
                if let Some(param) = segment(t, a)? {
                    params.push(param);
                }
            }
            Some((op, params))
        })
        .min_by_key(|(_, params)| params.len())
}

/// What is wrong with `request` under the contract (empty: nothing), and which operation it is.
fn check(request: &Recorded) -> (Vec<String>, Option<(String, String)>) {
    let ops: Vec<Operation> = spec_operations().into_iter().chain(notes_operations()).collect();
    let mut wrong = Vec::new();
    let Some((op, params)) = operation_for(&ops, &request.method, &request.path) else {
        return (vec![format!("{} {} is in neither the spec nor the notes", request.method, request.path)], None);
    };
    let name = format!("{} {} ({})", op.method, op.template, op.source);
    for (param, value) in &params {
        let kind = op.path_types.iter().find(|(n, _)| n == param).map(|(_, t)| t.as_str()).unwrap_or("string");
        if kind == "integer" && value.parse::<i64>().is_err() {
            wrong.push(format!("{name}: path parameter {param} = {value} is not an integer"));
        }
    }
    // Every request authenticates with headers, never the query (notes 1.2).
    if !request.api_key_ok || request.api_username.as_deref().is_none_or(str::is_empty) {
        wrong.push(format!("{name}: without Api-Key and Api-Username"));
    }
    for header in &op.headers {
        let present = match header.as_str() {
            "Api-Key" => request.api_key_ok,
            "Api-Username" => request.api_username.is_some(),
            _ => false,
        };
        if !present {
            wrong.push(format!("{name}: required header {header} missing"));
        }
    }
    let sent: BTreeSet<&str> = request.query.iter().map(|(k, _)| k.as_str()).collect();
    for key in &sent {
        if !op.query.iter().any(|(n, _)| n == key) {
            wrong.push(format!("{name}: query parameter {key} is not in the contract"));
        }
    }
    for (param, required) in &op.query {
        if *required && !sent.contains(param.as_str()) {
            wrong.push(format!("{name}: required query parameter {param} missing"));
        }
    }
    match (&op.body, &request.body) {
        (None, Value::Null) => {}
        (None, body) => wrong.push(format!("{name}: a body the contract has none for: {body}")),
        (Some(schema), body) => {
            let body = if body.is_null() { json!({}) } else { body.clone() };
            if !body.is_null() && !request.body.is_null() && request.content_type.as_deref() != Some("application/json")
            {
                wrong.push(format!("{name}: body sent as {:?}", request.content_type));
            }
            let validator = jsonschema::draft202012::new(&strict(schema)).expect("the schema compiles");
            for error in validator.iter_errors(&body) {
                wrong.push(format!("{name}: body {body}: {error} at {}", error.instance_path()));
            }
        }
    }
    (wrong, Some((op.method.clone(), op.template.clone())))
}

fn ada() -> ForumIdentity {
    ForumIdentity {
        external_id: 1,
        email: "ada@uni.edu".into(),
        username: "ada".into(),
        name: "Ada".into(),
        support: false,
        moderator: false,
        linked: false,
    }
}

/// Runs every operation of the adapter against the fake and returns what it sent.
async fn everything_the_adapter_sends() -> Vec<Recorded> {
    let fake = FakeDiscourse::start(FakeConfig {
        connect_secret: Some(CONNECT.into()),
        chunk_size: 2,
        ..FakeConfig::default()
    })
    .await
    .unwrap();
    let mut config = ForumConfig::new(fake.url(), SecretString::from(fake.api_key()), "support", 5);
    config.connect_secret = Some(SecretString::from(CONNECT));
    let api = ForumApi::new(config).unwrap();
    api.sync_user(&ada()).await.unwrap();
    api.sync_user(&ForumIdentity {
        external_id: 2,
        username: "bo".into(),
        email: "bo@uni.edu".into(),
        support: true,
        ..ada()
    })
    .await
    .unwrap();
    let private = api
        .create_topic(&NewTopic {
            external_id: "osts-1".into(),
            title: "#1 Printer on fire in lab 3".into(),
            raw: "The printer in lab 3 is on fire, please help.".into(),
            visibility: Visibility::Private,
            recipients: vec![],
            act_as: Some("ada".into()),
        })
        .await
        .unwrap();
    let public = api
        .create_topic(&NewTopic {
            external_id: "osts-2".into(),
            title: "#2 Projector flickers in hall B".into(),
            raw: "The projector in hall B flickers every few minutes.".into(),
            visibility: Visibility::Public,
            recipients: vec![],
            act_as: None,
        })
        .await
        .unwrap();
    assert_eq!(api.find_topic("osts-1").await.unwrap(), Some(private.clone()));
    assert_eq!(api.find_topic("osts-404").await.unwrap(), None);
    let mut last = 0;
    for i in 0..3 {
        last = api
            .reply(private.topic_id, &format!("Status note number {i} for the ticket."), Some("bo".into()))
            .await
            .unwrap();
    }
    assert_eq!(api.posts(private.topic_id).await.unwrap().len(), 4);
    api.set_closed(private.topic_id, true).await.unwrap();
    api.set_closed(private.topic_id, false).await.unwrap();
    api.set_archived(public.topic_id, true).await.unwrap();
    api.set_archived(public.topic_id, false).await.unwrap();
    api.convert(private.topic_id, Visibility::Public).await.unwrap();
    api.convert(private.topic_id, Visibility::Private).await.unwrap();
    api.delete_post(last).await.unwrap();
    api.merge_topics(public.topic_id, private.topic_id).await.unwrap();
    api.search("printer fire").await.unwrap();
    fake.add_user_with_email("ada_own", "ada.own@uni.edu");
    assert_eq!(api.username_with_email("Ada.Own@uni.edu").await.unwrap().as_deref(), Some("ada_own"));
    fake.requests()
}

/// The adapter's request after a redirect it cannot read: it asks the location.
async fn the_followed_redirect() -> Vec<Recorded> {
    use wiremock::matchers::{method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/t/external_id/osts-1.json"))
        .respond_with(ResponseTemplate::new(301).insert_header("Location", "/t/7.json"))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/t/7.json"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": 7, "slug": "seven"})))
        .mount(&server)
        .await;
    let mut config = ForumConfig::new(server.uri(), SecretString::from("k3y"), "support", 5);
    config.timeout = Duration::from_secs(5);
    ForumApi::new(config).unwrap().find_topic("osts-1").await.unwrap().unwrap();
    server
        .received_requests()
        .await
        .unwrap()
        .into_iter()
        .map(|r| Recorded {
            method: r.method.to_string(),
            path: r.url.path().to_owned(),
            query: r.url.query_pairs().into_owned().collect(),
            api_username: r.headers.get("Api-Username").and_then(|v| v.to_str().ok()).map(str::to_owned),
            api_key_ok: r.headers.get("Api-Key").is_some_and(|v| v == "k3y"),
            content_type: r.headers.get("Content-Type").and_then(|v| v.to_str().ok()).map(str::to_owned),
            body: if r.body.is_empty() { Value::Null } else { serde_json::from_slice(&r.body).unwrap() },
            status: 200,
        })
        .collect()
}

#[tokio::test]
async fn every_request_the_adapter_sends_is_in_the_contract() {
    let mut requests = everything_the_adapter_sends().await;
    requests.extend(the_followed_redirect().await);
    let mut wrong = Vec::new();
    let mut covered = BTreeSet::new();
    for request in &requests {
        let (problems, op) = check(request);
        wrong.extend(problems);
        covered.extend(op);
    }
    assert!(wrong.is_empty(), "requests outside the contract:\n{}", wrong.join("\n"));
    let expected: BTreeSet<(String, String)> = [
        ("POST", "/posts.json"),
        ("GET", "/t/external_id/{external_id}.json"),
        ("GET", "/t/{id}.json"),
        ("GET", "/t/{id}/posts.json"),
        ("PUT", "/t/{id}/status.json"),
        ("PUT", "/t/{id}/convert-topic/public.json"),
        ("PUT", "/t/{id}/convert-topic/private.json"),
        ("POST", "/t/{id}/invite-group.json"),
        ("POST", "/t/{id}/merge-topic.json"),
        ("DELETE", "/posts/{id}.json"),
        ("GET", "/search.json"),
        ("POST", "/admin/users/sync_sso"),
        ("GET", "/admin/users/list/{flag}.json"),
    ]
    .iter()
    .map(|(m, t)| (m.to_string(), t.to_string()))
    .collect();
    assert_eq!(covered, expected, "every endpoint the adapter uses was exercised");
    let refused: Vec<_> =
        requests.iter().filter(|r| r.status >= 400 && r.path != "/t/external_id/osts-404.json").collect();
    assert!(refused.is_empty(), "and the fake accepted them all (but the lookup of a missing topic): {refused:?}");
}

fn recorded(method: &str, path: &str, query: &[(&str, &str)], body: Value) -> Recorded {
    Recorded {
        method: method.into(),
        path: path.into(),
        query: query.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        api_username: Some("system".into()),
        api_key_ok: true,
        content_type: Some("application/json".into()),
        body,
        status: 200,
    }
}

#[test]
fn the_check_fails_what_the_contract_does_not_know() {
    let ok = recorded("POST", "/posts.json", &[], json!({"raw": "x", "topic_id": 3}));
    assert_eq!(check(&ok).0, Vec::<String>::new());
    let cases = [
        (recorded("POST", "/posts.json", &[], json!({"raw": "x", "tags": ["a"]})), "tags"),
        (recorded("POST", "/posts.json", &[], json!({"title": "t"})), "raw"),
        (recorded("POST", "/posts.json", &[], json!({"raw": "x", "category": "5"})), "integer"),
        (recorded("PUT", "/t/3/status.json", &[], json!({"status": "closed", "enabled": true})), "enabled"),
        (recorded("PUT", "/t/3/status.json", &[], json!({"status": "closed", "enabled": "true", "why": 1})), "why"),
        (recorded("PUT", "/t/3/convert-topic/public.json", &[], json!({"category": 5})), "category"),
        (recorded("POST", "/t/3/merge-topic.json", &[], json!({})), "destination_topic_id"),
        (recorded("GET", "/search.json", &[("q", "x"), ("order", "latest")], Value::Null), "order"),
        (recorded("GET", "/t/3/posts.json", &[], Value::Null), "post_ids[]"),
        (recorded("GET", "/t/3.json", &[], json!({"x": 1})), "a body"),
        (recorded("DELETE", "/posts/abc.json", &[], Value::Null), "integer"),
        (recorded("POST", "/t/3/move-posts.json", &[], json!({})), "neither"),
        (recorded("POST", "/admin/users/sync_sso", &[], json!({"sso": "a+b", "sig": "00"})), "sso"),
    ];
    for (request, needle) in cases {
        let (problems, _) = check(&request);
        assert!(
            problems.iter().any(|p| p.contains(needle)),
            "{} {} {}: {problems:?}",
            request.method,
            request.path,
            request.body
        );
    }
    let mut anonymous = ok.clone();
    anonymous.api_username = None;
    assert!(!check(&anonymous).0.is_empty());
}

/// The spec's answer schema with its `required` lists and `additionalProperties` dropped:
/// what remains are the types of the keys it documents.
fn relaxed(schema: &Value) -> Value {
    match schema {
        Value::Object(map) => Value::Object(
            map.iter()
                .filter(|(k, _)| k.as_str() != "required" && k.as_str() != "additionalProperties")
                .map(|(k, v)| (k.clone(), relaxed(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(relaxed).collect()),
        other => other.clone(),
    }
}

#[tokio::test]
async fn the_fakes_answers_have_the_types_the_spec_documents() {
    let fake = FakeDiscourse::start(FakeConfig::default()).await.unwrap();
    let http = reqwest::Client::new();
    let call = |method: reqwest::Method, path: &str, body: Option<Value>| {
        let mut request = http
            .request(method, format!("{}{path}", fake.url()))
            .header("Api-Key", fake.api_key())
            .header("Api-Username", "system");
        if let Some(body) = body {
            request = request.json(&body);
        }
        async move {
            let response = request.send().await.unwrap();
            assert!(response.status().is_success(), "{}", response.status());
            response.json::<Value>().await.unwrap()
        }
    };
    let created = call(
        reqwest::Method::POST,
        "/posts.json",
        Some(json!({"title": "Printer on fire in lab 3", "raw": "The printer in lab 3 is on fire.", "category": 5})),
    )
    .await;
    let topic = created["topic_id"].as_i64().unwrap();
    fake.add_user("ada");
    let reply = call(
        reqwest::Method::POST,
        "/posts.json",
        Some(json!({"topic_id": topic, "raw": "Status: assigned to the support team."})),
    )
    .await;
    let answers = [
        ("post", "/posts.json", created),
        ("post", "/posts.json", reply.clone()),
        ("get", "/t/{id}.json", call(reqwest::Method::GET, &format!("/t/{topic}.json"), None).await),
        (
            "get",
            "/t/{id}/posts.json",
            call(reqwest::Method::GET, &format!("/t/{topic}/posts.json?post_ids[]={}", reply["id"]), None).await,
        ),
        (
            "put",
            "/t/{id}/status.json",
            call(
                reqwest::Method::PUT,
                &format!("/t/{topic}/status.json"),
                Some(json!({"status": "closed", "enabled": "true"})),
            )
            .await,
        ),
        ("get", "/search.json", call(reqwest::Method::GET, "/search.json?q=printer", None).await),
        (
            "get",
            "/admin/users/list/{flag}.json",
            call(reqwest::Method::GET, "/admin/users/list/active.json?email=ada@example.com&show_emails=true", None)
                .await,
        ),
    ];
    for (method, template, answer) in answers {
        let schema = &spec()["paths"][template][method]["responses"]["200"]["content"]["application/json"]["schema"];
        let validator = jsonschema::draft202012::new(&relaxed(schema)).expect("the schema compiles");
        let errors: Vec<String> =
            validator.iter_errors(&answer).map(|e| format!("{e} at {}", e.instance_path())).collect();
        assert!(errors.is_empty(), "{method} {template}: {errors:?}");
    }
    // The keys the adapter reads are documented, but for search's side-loaded `topics`
    // (notes 1.5: in Discourse's own sample answer, missing from the spec).
    let documented = |method: &str, template: &str, pointer: &str| {
        let schema = &spec()["paths"][template][method]["responses"]["200"]["content"]["application/json"]["schema"];
        !schema.pointer(pointer).unwrap_or(&Value::Null).is_null()
    };
    for (method, template, pointer) in [
        ("post", "/posts.json", "/properties/id"),
        ("post", "/posts.json", "/properties/topic_id"),
        ("post", "/posts.json", "/properties/topic_slug"),
        ("get", "/t/{id}.json", "/properties/slug"),
        ("get", "/t/{id}.json", "/properties/post_stream/properties/stream"),
        ("get", "/t/{id}.json", "/properties/post_stream/properties/posts/items/properties/post_type"),
        ("get", "/t/{id}.json", "/properties/post_stream/properties/posts/items/properties/deleted_at"),
        ("get", "/t/{id}/posts.json", "/properties/post_stream/properties/posts/items/properties/cooked"),
        ("get", "/search.json", "/properties/posts"),
        ("get", "/admin/users/list/{flag}.json", "/items/properties/username"),
        ("get", "/admin/users/list/{flag}.json", "/items/properties/email"),
    ] {
        assert!(documented(method, template, pointer), "{method} {template} {pointer}");
    }
    assert!(!documented("get", "/search.json", "/properties/topics"), "the gap the notes describe");
}
