//! Escalation end to end: the API, the store, the outbox and the Google Chat client against a
//! local webhook server that answers as Google Chat does.

mod support;

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use domain::clock::ManualClock;
use poem::http::StatusCode;
use poem::listener::{Acceptor as _, Listener as _, TcpListener};
use poem::web::{Data, Json, Path, Query};
use poem::{handler, post, EndpointExt as _, Response, Route};
use serde_json::{json, Value};
use support::{Options, TestApp};

/// One message the sink accepted: (space, query, body).
type Accepted = Vec<(String, Vec<(String, String)>, Value)>;

/// A local Google Chat: each space answers from its script of statuses (then 200), counts
/// every request, and keeps the messages it accepted.
#[derive(Default)]
struct Sink {
    accepted: Mutex<Accepted>,
    requests: Mutex<u32>,
    script: Mutex<std::collections::HashMap<String, VecDeque<u16>>>,
}

#[handler]
fn chat_space(
    Path(space): Path<String>,
    Query(query): Query<Vec<(String, String)>>,
    Json(body): Json<Value>,
    sink: Data<&Arc<Sink>>,
) -> Response {
    *sink.requests.lock().unwrap() += 1;
    let status = sink.script.lock().unwrap().get_mut(&space).and_then(VecDeque::pop_front).unwrap_or(200);
    match status {
        200 => {
            sink.accepted.lock().unwrap().push((space, query, body));
            Response::builder()
                .content_type("application/json")
                .body(r#"{"name":"spaces/S/messages/M","thread":{"name":"spaces/S/threads/T"}}"#)
        }
        429 => Response::builder()
            .status(StatusCode::TOO_MANY_REQUESTS)
            .header("Retry-After", "1")
            .body(r#"{"error":{"code":429,"message":"Resource has been exhausted","status":"RESOURCE_EXHAUSTED"}}"#),
        404 => Response::builder()
            .status(StatusCode::NOT_FOUND)
            .body(r#"{"error":{"code":404,"message":"Requested entity was not found.","status":"NOT_FOUND"}}"#),
        other => Response::builder().status(StatusCode::from_u16(other).unwrap()).body(""),
    }
}

async fn sink() -> (String, Arc<Sink>) {
    let sink = Arc::new(Sink::default());
    let acceptor = TcpListener::bind("127.0.0.1:0").into_acceptor().await.unwrap();
    let addr = acceptor.local_addr()[0].as_socket_addr().copied().unwrap();
    let app = Route::new().at("/v1/spaces/:space/messages", post(chat_space)).data(sink.clone());
    tokio::spawn(poem::Server::new_with_acceptor(acceptor).run(app));
    (format!("http://{addr}"), sink)
}

fn options(clock: Option<Arc<ManualClock>>, votes: u32) -> Options {
    let chat = chat::ChatClient::new(Duration::from_secs(5), 600).unwrap();
    let settings = domain::ServiceSettings {
        escalation: domain::escalation::EscalationSettings {
            vote_threshold: votes,
            webhooks: domain::escalation::WebhookPolicy { hosts: vec!["127.0.0.1".into()], allow_http: true },
        },
        ..domain::ServiceSettings::default()
    };
    Options {
        chat: Some(Arc::new(chat)),
        settings,
        clock: clock.map(|c| c as Arc<dyn domain::clock::Clock>),
        ..Options::default()
    }
}

/// Adds a webhook for `space` of the sink; returns its id.
async fn webhook(app: &TestApp, base: &str, space: &str, extra: Value) -> i64 {
    let mut body = json!({
        "name": format!("Space {space}"),
        "url": format!("{base}/v1/spaces/{space}/messages?key=KEY&token=SECRET-TOKEN-{space}-wxyz"),
    });
    body.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
    let reply = app.post("/api/v1/admin/chat/webhooks", &app.admin.token, body).await.expect(201);
    let shown = reply.body["url"].as_str().unwrap();
    assert!(!shown.contains("SECRET") && !shown.contains("KEY"), "the secret is never shown again: {shown}");
    assert!(shown.ends_with("…wxyz"), "{shown}");
    reply.body["id"].as_i64().unwrap()
}

fn query_value<'a>(query: &'a [(String, String)], key: &str) -> Option<&'a str> {
    query.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

#[tokio::test]
async fn an_urgent_ticket_posts_one_card_and_its_later_events_reply_in_its_thread() {
    let app = TestApp::spawn_with(options(None, 25)).await;
    let (base, sink) = sink().await;
    let hook = webhook(&app, &base, "ops", json!({})).await;
    let support = app.support().await;
    let ticket = app
        .post(
            "/api/v1/tickets",
            &support.token,
            json!({ "title": "Exam portal down for everyone", "category_id": app.category_id, "priority": "urgent" }),
        )
        .await
        .expect(201)
        .body;
    let n = ticket["number"].as_i64().unwrap();
    assert_eq!(ticket["escalated"], true, "{ticket}");
    assert_eq!(ticket["sla"]["state"], "ok");
    assert!(ticket["sla"]["first_response_due"].is_string(), "{ticket}");
    app.deliver().await;
    {
        let accepted = sink.accepted.lock().unwrap();
        assert_eq!(accepted.len(), 1, "one card: {accepted:?}");
        let (_, query, body) = &accepted[0];
        assert_eq!(query_value(query, "messageReplyOption"), Some("REPLY_MESSAGE_FALLBACK_TO_NEW_THREAD"));
        let request_id = query_value(query, "requestId").unwrap();
        assert!(request_id.starts_with("chat:") && request_id.ends_with(&format!(":{hook}")), "{request_id}");
        assert_eq!(body["thread"]["threadKey"], format!("ticket-{n}"));
        let card = &body["cardsV2"][0]["card"];
        assert_eq!(card["header"]["title"], format!("#{n} Exam portal down for everyone"));
        assert_eq!(card["header"]["subtitle"], "escalated: urgent priority");
        let button = &card["sections"][1]["widgets"][2]["buttonList"]["buttons"][0];
        assert_eq!(button["onClick"]["openLink"]["url"], format!("https://help.uni.edu/tickets/{n}"));
    }

    app.post(&format!("/api/v1/tickets/{n}/claim"), &support.token, json!({})).await.expect(200);
    app.post(&format!("/api/v1/tickets/{n}/resolve"), &support.token, json!({ "answer": "The portal is back." }))
        .await
        .expect(200);
    app.deliver().await;
    app.deliver().await;
    let accepted = sink.accepted.lock().unwrap().clone();
    let headlines: Vec<&str> =
        accepted.iter().map(|(_, _, b)| b["cardsV2"][0]["card"]["header"]["subtitle"].as_str().unwrap()).collect();
    assert_eq!(headlines[0], "escalated: urgent priority");
    assert!(headlines.iter().any(|h| h.starts_with("assigned to ")), "{headlines:?}");
    assert!(headlines.iter().any(|h| h.starts_with("resolved by ")), "{headlines:?}");
    assert!(
        accepted.iter().all(|(_, _, b)| b["thread"]["threadKey"] == format!("ticket-{n}")),
        "every message replies in the ticket's thread"
    );
    let ids: std::collections::HashSet<&str> =
        accepted.iter().map(|(_, q, _)| query_value(q, "requestId").unwrap()).collect();
    assert_eq!(ids.len(), accepted.len(), "one message per event");
    assert_eq!(*sink.requests.lock().unwrap() as usize, accepted.len(), "nothing sent twice");

    // Students see neither the escalation event nor the note; staff do.
    let student = app.student().await;
    let high = app
        .post(
            "/api/v1/tickets",
            &student.token,
            json!({ "title": "Hall ticket missing for Quiz 1", "category_id": app.category_id, "priority": "high" }),
        )
        .await
        .expect(201)
        .body;
    let m = high["number"].as_i64().unwrap();
    assert_eq!(high["escalated"], true, "students may ask for high, which escalates");
    let kinds = |body: &Value| -> Vec<String> {
        body.as_array().unwrap().iter().map(|e| e["change"]["kind"].as_str().unwrap().to_owned()).collect()
    };
    let seen_by_student = app.get(&format!("/api/v1/tickets/{m}/history"), &student.token).await.expect(200).body;
    assert!(!kinds(&seen_by_student).contains(&"escalated".to_owned()), "{seen_by_student}");
    let seen_by_staff = app.get(&format!("/api/v1/tickets/{m}/history"), &support.token).await.expect(200).body;
    let escalated = seen_by_staff.as_array().unwrap().iter().find(|e| e["change"]["kind"] == "escalated").unwrap();
    assert_eq!(escalated["change"]["by"], "priority");
    assert_eq!(escalated["change"]["priority"], "high");
}

#[tokio::test]
async fn an_sla_breach_found_by_the_check_escalates_once_and_shows_in_the_queue() {
    let start = chrono::Utc::now();
    let clock = Arc::new(ManualClock::new(start));
    let app = TestApp::spawn_with(options(Some(clock.clone()), 25)).await;
    let (base, sink) = sink().await;
    webhook(&app, &base, "sla", json!({})).await;
    let targets =
        |first: u32, resolution: u32| json!({ "first_response_minutes": first, "resolution_minutes": resolution });
    let settings = json!({
        "targets": { "low": targets(1, 10), "medium": targets(1, 10), "high": targets(60, 480), "urgent": targets(60, 480) },
        "business_hours": null,
    });
    let reply = app.call(poem::http::Method::PUT, "/api/v1/admin/sla", Some(&app.admin.token), Some(settings)).await;
    assert_eq!(reply.expect(200).body["targets"]["medium"]["first_response_minutes"], 1);
    let student = app.student().await;
    let n = app
        .post(
            "/api/v1/tickets",
            &student.token,
            json!({ "title": "Quiz 2 grade not shown", "category_id": app.category_id }),
        )
        .await
        .expect(201)
        .body["number"]
        .as_i64()
        .unwrap();
    let support = app.support().await;
    let queue = |sla: &'static str| {
        let app = &app;
        let token = support.token.clone();
        async move {
            let body = app.get(&format!("/api/v1/queue?sla={sla}"), &token).await.expect(200).body;
            body["items"].as_array().unwrap().iter().map(|t| t["number"].as_i64().unwrap()).collect::<Vec<_>>()
        }
    };

    assert_eq!(app.escalation.sweep().await.unwrap().escalated, 0, "on time");
    assert_eq!(queue("ok").await, [n]);

    clock.advance(chrono::Duration::seconds(50));
    let report = app.escalation.sweep().await.unwrap();
    assert_eq!((report.at_risk, report.escalated), (1, 1), "{report:?}");
    assert_eq!(queue("at_risk").await, [n]);

    clock.advance(chrono::Duration::seconds(20));
    let report = app.escalation.sweep().await.unwrap();
    assert_eq!((report.breached, report.escalated), (1, 1), "{report:?}");
    assert_eq!(app.escalation.sweep().await.unwrap().escalated, 0, "a breach escalates once");
    assert_eq!(queue("breached").await, [n]);
    assert!(queue("ok").await.is_empty());

    let ticket = app.get(&format!("/api/v1/tickets/{n}"), &support.token).await.expect(200).body;
    assert_eq!(ticket["sla"]["state"], "breached");
    assert_eq!(ticket["escalated"], true);

    app.deliver().await;
    let accepted = sink.accepted.lock().unwrap().clone();
    let headlines: Vec<&str> =
        accepted.iter().map(|(_, _, b)| b["cardsV2"][0]["card"]["header"]["subtitle"].as_str().unwrap()).collect();
    assert_eq!(headlines, ["escalated: SLA at risk", "escalated: SLA breached"]);
    assert!(accepted.iter().all(|(_, _, b)| b["thread"]["threadKey"] == format!("ticket-{n}")));
}

#[tokio::test]
async fn retries_keep_one_message_per_event_in_order_and_a_revoked_webhook_is_a_dead_letter() {
    let app = TestApp::spawn_with(options(None, 25)).await;
    let (base, sink) = sink().await;
    // The "flaky" space is limited, then down, then fine; "gone" was deleted in Google Chat.
    sink.script.lock().unwrap().insert("flaky".into(), VecDeque::from([429, 500]));
    sink.script.lock().unwrap().insert("gone".into(), VecDeque::from([404]));
    let exams = app.category("Exams").await;
    webhook(&app, &base, "flaky", json!({ "category_id": app.category_id })).await;
    webhook(&app, &base, "gone", json!({ "category_id": exams })).await;
    let support = app.support().await;
    let raise = |title: &'static str, category: i64| {
        let app = &app;
        let token = support.token.clone();
        async move {
            app.post(
                "/api/v1/tickets",
                &token,
                json!({ "title": title, "category_id": category, "priority": "urgent" }),
            )
            .await
            .expect(201)
            .body["number"]
                .as_i64()
                .unwrap()
        }
    };
    let n = raise("Fee portal rejects payments", app.category_id).await;
    // A second event before any delivery: it must not overtake the first.
    app.post(&format!("/api/v1/tickets/{n}/claim"), &support.token, json!({})).await.expect(200);
    let gone = raise("Exam hall ticket missing", exams).await;
    app.deliver().await;
    // The 500 is retried after a backoff: deliver again once it has passed.
    app.deliver_retries().await;

    let accepted = sink.accepted.lock().unwrap().clone();
    assert!(accepted.len() >= 2, "{accepted:?}");
    assert!(accepted.iter().all(|(space, _, _)| space == "flaky"));
    let subtitles: Vec<&str> =
        accepted.iter().map(|(_, _, b)| b["cardsV2"][0]["card"]["header"]["subtitle"].as_str().unwrap()).collect();
    assert_eq!(subtitles[0], "escalated: urgent priority", "in order: {subtitles:?}");
    assert!(subtitles[1..].iter().all(|s| s.starts_with("assigned to ") || s.starts_with("status ")), "{subtitles:?}");
    let accepted_count = u32::try_from(accepted.len()).unwrap();
    assert_eq!(
        *sink.requests.lock().unwrap(),
        accepted_count + 3,
        "a 429 and a 500, then one accepted message per event, and the 404"
    );

    let dead = app.get("/api/v1/admin/deliveries/dead", &app.admin.token).await.expect(200).body;
    let dead = dead.as_array().unwrap();
    assert_eq!(dead.len(), 1, "{dead:?}");
    assert_eq!(dead[0]["channel"], "chat");
    assert_eq!(dead[0]["ticket_number"], gone);
    let error = dead[0]["last_error"].as_str().unwrap();
    assert!(error.contains("404") && !error.contains("SECRET"), "{error}");
}

#[tokio::test]
async fn votes_escalate_once_and_staff_escalate_with_a_note() {
    let app = TestApp::spawn_with(options(None, 2)).await;
    let (base, sink) = sink().await;
    webhook(&app, &base, "votes", json!({})).await;
    let owner = app.student().await;
    let n = app
        .post(
            "/api/v1/tickets",
            &owner.token,
            json!({ "title": "Library login fails", "category_id": app.category_id }),
        )
        .await
        .expect(201)
        .body["number"]
        .as_i64()
        .unwrap();
    let (a, b) = (app.student().await, app.student().await);
    let vote = format!("/api/v1/tickets/{n}/vote");
    app.put(&vote, &a.token).await.expect(200);
    app.put(&vote, &b.token).await.expect(200);
    app.delete(&vote, &b.token).await.expect(200);
    app.put(&vote, &b.token).await.expect(200);
    app.deliver().await;
    assert_eq!(sink.accepted.lock().unwrap().len(), 1, "crossing the threshold again does not escalate again");

    let support = app.support().await;
    let note = "Needs a decision from the program office";
    let ticket =
        app.post(&format!("/api/v1/tickets/{n}/escalate"), &support.token, json!({ "note": note })).await.expect(200);
    assert_eq!(ticket.body["escalated"], true);
    app.deliver().await;
    let accepted = sink.accepted.lock().unwrap().clone();
    assert_eq!(accepted.len(), 2);
    let card = &accepted[1].2["cardsV2"][0]["card"];
    assert!(card["header"]["subtitle"].as_str().unwrap().starts_with("escalated by "), "{card}");
    assert_eq!(card["sections"][1]["widgets"][1]["textParagraph"]["text"], note);

    // Only staff escalate; only an unresolved ticket escalates; a note is required.
    app.post(&format!("/api/v1/tickets/{n}/escalate"), &owner.token, json!({ "note": note }))
        .await
        .expect_error(403, "role_not_allowed");
    // A note of blanks is outside the document (`pattern: \S`): refused as unparsable.
    app.post(&format!("/api/v1/tickets/{n}/escalate"), &support.token, json!({ "note": " " }))
        .await
        .expect_error(400, "bad_request");
    app.post("/api/v1/tickets/999999/escalate", &support.token, json!({ "note": note }))
        .await
        .expect_error(404, "ticket_not_found");
    app.post(&format!("/api/v1/tickets/{n}/resolve"), &support.token, json!({ "answer": "Fixed." })).await.expect(200);
    app.post(&format!("/api/v1/tickets/{n}/escalate"), &support.token, json!({ "note": note }))
        .await
        .expect_error(409, "ticket_not_unresolved");
}

#[tokio::test]
async fn only_admins_manage_webhooks_and_sla_and_webhooks_only_point_where_allowed() {
    let app = TestApp::spawn_with(options(None, 25)).await;
    let (base, sink) = sink().await;
    let student = app.student().await;
    let support = app.support().await;
    for who in [&student, &support] {
        app.get("/api/v1/admin/chat/webhooks", &who.token).await.expect_error(403, "role_not_allowed");
        app.get("/api/v1/admin/sla", &who.token).await.expect_error(403, "role_not_allowed");
        app.post(
            "/api/v1/admin/chat/webhooks",
            &who.token,
            json!({ "name": "x", "url": format!("{base}/v1/spaces/x/messages") }),
        )
        .await
        .expect_error(403, "role_not_allowed");
    }
    app.post(
        "/api/v1/tickets",
        &student.token,
        json!({ "title": "Need this now please", "category_id": app.category_id, "priority": "urgent" }),
    )
    .await
    .expect_error(403, "priority_not_allowed");

    let admin = &app.admin.token;
    for (url, code) in [
        ("https://evil.example/v1/spaces/x/messages", "host_not_allowed"),
        ("http://169.254.169.254/latest/meta-data/", "host_not_allowed"),
        ("ftp://127.0.0.1/v1/spaces/x/messages", "scheme_not_allowed"),
        ("not a url", "invalid_url"),
    ] {
        let body = app.post("/api/v1/admin/chat/webhooks", admin, json!({ "name": "x", "url": url })).await;
        assert_eq!(body.expect_error(422, code)["field"], "url", "{url}");
    }
    app.post(
        "/api/v1/admin/chat/webhooks",
        admin,
        json!({ "name": "x", "url": format!("{base}/v1/spaces/x/messages"), "category_id": 424242 }),
    )
    .await
    .expect_error(422, "unknown_category");

    let id = webhook(&app, &base, "test", json!({ "priority": "urgent" })).await;
    let listed = app.get("/api/v1/admin/chat/webhooks", admin).await.expect(200).body;
    assert_eq!(listed[0]["priority"], "urgent");
    assert_eq!(listed[0]["default"], false);
    let patched = app
        .patch(&format!("/api/v1/admin/chat/webhooks/{id}"), admin, json!({ "priority": null, "name": "Ops" }))
        .await
        .expect(200)
        .body;
    assert_eq!(
        (patched["priority"].clone(), patched["name"].clone(), patched["default"].clone()),
        (Value::Null, json!("Ops"), json!(true))
    );
    let tested = app.post(&format!("/api/v1/admin/chat/webhooks/{id}/test"), admin, json!({})).await.expect(200).body;
    assert_eq!(tested["delivered"], true, "{tested}");
    assert_eq!(sink.accepted.lock().unwrap().len(), 1);
    app.delete(&format!("/api/v1/admin/chat/webhooks/{id}"), admin).await.expect(204);
    app.delete(&format!("/api/v1/admin/chat/webhooks/{id}"), admin).await.expect_error(404, "chat_webhook_not_found");

    let bad = json!({
        "targets": {
            "low": { "first_response_minutes": 60, "resolution_minutes": 30 },
            "medium": { "first_response_minutes": 60, "resolution_minutes": 600 },
            "high": { "first_response_minutes": 60, "resolution_minutes": 600 },
            "urgent": { "first_response_minutes": 60, "resolution_minutes": 600 },
        },
        "business_hours": { "days": ["mon"], "start": "09:00", "end": "17:00", "utc_offset_minutes": 0 },
    });
    let reply = app.call(poem::http::Method::PUT, "/api/v1/admin/sla", Some(admin), Some(bad)).await;
    reply.expect_error(422, "before_first_response");
}
