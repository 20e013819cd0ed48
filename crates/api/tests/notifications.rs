//! The in-app inbox over HTTP: a resolution reaches the creator and a voter, not the actor,
//! and reading it works; preferences round-trip; one-click unsubscribe links work without
//! signing in and refuse forged tokens.

mod support;

use domain::accounts::UserId;
use domain::notifications::{NotificationKind, UnsubscribeScope, UnsubscribeTokens as _};
use serde_json::json;
use support::TestApp;

#[tokio::test]
async fn a_resolution_reaches_the_inbox_of_creator_and_voters() {
    let app = TestApp::spawn().await;
    let owner = app.student().await;
    let voter = app.student().await;
    let agent = app.support().await;
    let n = app.ticket(&owner).number().await;
    app.call(poem::http::Method::PUT, &format!("/api/v1/tickets/{n}/vote"), Some(&voter.token), None).await.expect(200);
    app.post(&format!("/api/v1/tickets/{n}/resolve"), &agent.token, json!({ "answer": "Room 4 is heated now." }))
        .await
        .expect(200);

    for user in [&owner, &voter] {
        let count = app.get("/api/v1/notifications/unread-count", &user.token).await.expect(200);
        assert_eq!(count.body["unread"], 1);
        let inbox = app.get("/api/v1/notifications", &user.token).await.expect(200);
        let item = &inbox.body["items"][0];
        assert_eq!(item["kind"], "resolved");
        assert_eq!(item["ticket_number"], n);
        assert_eq!(item["change"]["answer"], "Room 4 is heated now.");
        assert!(item["read_at"].is_null());
    }
    let agent_count = app.get("/api/v1/notifications/unread-count", &agent.token).await.expect(200);
    assert_eq!(agent_count.body["unread"], 0, "the actor is not notified");

    let marked = app.post("/api/v1/notifications/read-all", &owner.token, json!({})).await.expect(200);
    assert_eq!(marked.body["marked"], 1);
    let count = app.get("/api/v1/notifications/unread-count", &owner.token).await.expect(200);
    assert_eq!(count.body["unread"], 0);
}

#[tokio::test]
async fn preferences_default_to_email_and_can_be_changed() {
    let app = TestApp::spawn().await;
    let student = app.student().await;
    let before = app.get("/api/v1/me/notification-preferences", &student.token).await.expect(200);
    let all = before.body.as_array().unwrap();
    assert_eq!(all.len(), 13, "one preference per notification kind but the confirmation link");
    assert!(all.iter().all(|p| p["kind"] != "email_confirmation"));
    assert!(all.iter().all(|p| p["email"] == true && p["digest"] == false));
    let after = app
        .call(
            poem::http::Method::PUT,
            "/api/v1/me/notification-preferences",
            Some(&student.token),
            Some(json!([{ "kind": "resolved", "email": false, "digest": false }])),
        )
        .await
        .expect(200);
    let resolved = after.body.as_array().unwrap().iter().find(|p| p["kind"] == "resolved").unwrap().clone();
    assert_eq!(resolved["email"], false);
}

/// The unsubscribe link of `user` for `scope`, as an email carries it (path and query).
fn unsubscribe_path(app: &TestApp, user: i64, scope: UnsubscribeScope) -> String {
    format!("/api/v1/unsubscribe?token={}", app.unsubscribe.sign(UserId::new(user), scope))
}

async fn email_flags(app: &TestApp, token: &str) -> Vec<(String, bool, bool)> {
    let all = app.get("/api/v1/me/notification-preferences", token).await.expect(200);
    all.body
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["kind"].as_str().unwrap().to_owned(), p["email"] == true, p["digest"] == true))
        .collect()
}

/// Reads a page answered to `method path`, checked against the OpenAPI document.
async fn html(method: &str, path: &str, resp: poem::test::TestResponse) -> (u16, String, poem::http::HeaderMap) {
    let status = resp.0.status().as_u16();
    let headers = resp.0.headers().clone();
    let content_type = headers.get("content-type").and_then(|v| v.to_str().ok());
    support::contract::check(method, path, status, content_type, &serde_json::Value::Null);
    (status, resp.0.into_body().into_string().await.unwrap(), headers)
}

#[tokio::test]
async fn opening_the_link_only_asks_and_posting_it_unsubscribes_without_signing_in() {
    let app = TestApp::spawn().await;
    let student = app.student().await;
    let before = email_flags(&app, &student.token).await;
    let path = unsubscribe_path(&app, student.id, UnsubscribeScope::Kind(NotificationKind::Reply));

    // A mail scanner (or the person) opens the link: a page, and nothing changes.
    let (status, page, headers) = html("GET", &path, app.client.get(&path).send().await).await;
    assert_eq!(status, 200, "{page}");
    assert!(headers["content-type"].to_str().unwrap().starts_with("text/html"));
    assert_eq!(headers["cache-control"], "no-store");
    assert!(page.contains("Stop emails about new replies?") && page.contains("<form method=\"post\">"), "{page}");
    assert_eq!(email_flags(&app, &student.token).await, before, "GET changes nothing");

    // The mail client's RFC 8058 one-click POST, with no session.
    let post = || {
        app.client
            .post(&path)
            .content_type("application/x-www-form-urlencoded")
            .body("List-Unsubscribe=One-Click")
            .send()
    };
    let (status, page, _) = html("POST", &path, post().await).await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("emails about new replies turned off"), "{page}");
    let after = email_flags(&app, &student.token).await;
    for ((kind, email, digest), (_, email_before, digest_before)) in after.iter().zip(&before) {
        if kind == "reply" {
            assert!(!email, "reply emails are off");
        } else {
            assert_eq!(email, email_before, "{kind} unchanged");
        }
        assert_eq!(digest, digest_before, "{kind}: the digest flag is kept");
    }
    let (status, _, _) = html("POST", &path, post().await).await;
    assert_eq!(status, 200, "unsubscribing twice is fine");
    assert_eq!(email_flags(&app, &student.token).await, after);
}

#[tokio::test]
async fn the_digest_link_turns_off_every_digest_kind_and_nothing_else() {
    let app = TestApp::spawn().await;
    let student = app.student().await;
    app.call(
        poem::http::Method::PUT,
        "/api/v1/me/notification-preferences",
        Some(&student.token),
        Some(json!([
            { "kind": "reply", "email": true, "digest": true },
            { "kind": "status_changed", "email": true, "digest": true },
        ])),
    )
    .await
    .expect(200);
    let path = unsubscribe_path(&app, student.id, UnsubscribeScope::Digest);
    let (status, page, _) = html("POST", &path, app.client.post(&path).send().await).await;
    assert_eq!(status, 200, "a POST without a body works too: {page}");
    let off: Vec<String> =
        email_flags(&app, &student.token).await.into_iter().filter(|(_, email, _)| !email).map(|(k, ..)| k).collect();
    assert_eq!(off, vec!["status_changed".to_owned(), "reply".to_owned()]);
}

#[tokio::test]
async fn forged_altered_and_missing_tokens_are_refused_with_a_code_and_change_nothing() {
    let app = TestApp::spawn().await;
    let victim = app.student().await;
    let attacker = app.student().await;
    let before = email_flags(&app, &victim.token).await;
    let own = app.unsubscribe.sign(UserId::new(attacker.id), UnsubscribeScope::Kind(NotificationKind::Reply));
    let mac = own.rsplit('.').next().unwrap();
    let forged = credentials::HmacUnsubscribeTokens::new(
        credentials::SecretKey::new("somebody else's key, long enough to use").unwrap(),
    )
    .sign(UserId::new(victim.id), UnsubscribeScope::Kind(NotificationKind::Reply));
    // Shaped like a token but not signed by this instance: no such link (404). Not shaped
    // like one: invalid (422).
    let cases: Vec<(&str, String, u16, &str)> = vec![
        (
            "another user's id with my MAC",
            format!("?token=v1.{}.reply.{mac}", victim.id),
            404,
            "unsubscribe_link_not_found",
        ),
        (
            "another kind with my MAC",
            format!("?token=v1.{}.resolved.{mac}", attacker.id),
            404,
            "unsubscribe_link_not_found",
        ),
        ("signed with another key", format!("?token={forged}"), 404, "unsubscribe_link_not_found"),
        ("cut short", format!("?token={}", &own[..own.len() - 3]), 422, "invalid_unsubscribe_token"),
        ("garbage", "?token=hello".into(), 422, "invalid_unsubscribe_token"),
        ("no token", String::new(), 400, "bad_request"),
    ];
    for (name, query, status, code) in cases {
        for method in [poem::http::Method::GET, poem::http::Method::POST] {
            let reply = app.call(method.clone(), &format!("/api/v1/unsubscribe{query}"), None, None).await;
            assert_eq!(reply.status, status, "{method} {name}: {}", reply.body);
            assert_eq!(reply.body["code"], code, "{method} {name}");
        }
    }
    assert_eq!(email_flags(&app, &victim.token).await, before, "nothing changed");
}

#[tokio::test]
async fn dead_letters_show_their_channel_filter_by_it_and_can_be_retried() {
    let app = TestApp::spawn().await;
    let owner = app.student().await;
    let voter = app.student().await;
    let agent = app.support().await;
    let n = app.ticket(&owner).number().await;
    app.call(poem::http::Method::PUT, &format!("/api/v1/tickets/{n}/vote"), Some(&voter.token), None).await.expect(200);
    app.deliver().await;
    // The relay refuses everything from now on.
    *app.mail.1.lock().unwrap() = Some("550 mailbox unavailable".into());
    app.post(&format!("/api/v1/tickets/{n}/resolve"), &agent.token, json!({ "answer": "Room 4 is heated now." }))
        .await
        .expect(200);
    app.deliver().await;

    let admin = app.admin.token.clone();
    let all = app.get("/api/v1/admin/deliveries/dead", &admin).await.expect(200);
    let dead = all.body.as_array().unwrap();
    assert_eq!(dead.len(), 2, "the creator's and the voter's emails: {dead:?}");
    for d in dead {
        assert_eq!((d["channel"].as_str(), d["kind"].as_str()), (Some("email"), Some("resolved")), "{d}");
        assert_eq!(d["ticket_number"], n);
        assert!(d["recipient_id"].is_i64());
        assert_eq!(d["last_error"], "permanent: 550 mailbox unavailable");
    }
    let email = app.get("/api/v1/admin/deliveries/dead?channel=email", &admin).await.expect(200);
    assert_eq!(email.body, all.body, "every dead letter here is an email");
    let unknown = app.get("/api/v1/admin/deliveries/dead?channel=fax", &admin).await;
    let body = unknown.expect_error(422, "unknown_channel");
    assert_eq!(body["field"], "channel");

    *app.mail.1.lock().unwrap() = None;
    let id = dead[0]["id"].as_i64().unwrap();
    app.post(&format!("/api/v1/admin/deliveries/{id}/retry"), &admin, json!({})).await.expect(204);
    app.deliver().await;
    let left = app.get("/api/v1/admin/deliveries/dead", &admin).await.expect(200);
    assert_eq!(left.body.as_array().unwrap().len(), 1, "the retried email went out");
    app.post(&format!("/api/v1/admin/deliveries/{id}/retry"), &admin, json!({})).await.expect(404);
}
