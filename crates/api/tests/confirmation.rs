//! Email confirmation over HTTP: no sign-in before confirming, single-use links that expire,
//! resends that are throttled and say nothing, automatic approval of students of the listed
//! domains, and the account holder's notifications of an admin's decision.

mod support;

use std::sync::Arc;

use chrono::{Duration, TimeZone, Utc};
use domain::accounts::{AutoApproval, Role};
use domain::clock::ManualClock;
use domain::notifications::NotificationKind;
use poem::http::Method;
use serde_json::{json, Value};
use support::{Options, TestApp, PASSWORD};

/// An app that approves students of `uni.edu` when they confirm.
async fn app_with(clock: Option<Arc<ManualClock>>, resends: (u32, u32)) -> TestApp {
    TestApp::spawn_with(Options {
        clock: clock.map(|c| c as _),
        resend_throttle: resends,
        settings: domain::ServiceSettings {
            auto_approval: AutoApproval::parse("uni.edu"),
            ..domain::ServiceSettings::default()
        },
        ..Options::default()
    })
    .await
}

async fn register(app: &TestApp, email: &str, role: Role) -> Value {
    let body = json!({ "email": email, "display_name": "Someone", "password": PASSWORD, "role": role.as_str() });
    app.call(Method::POST, "/api/v1/auth/register", None, Some(body)).await.expect(201).body
}

async fn login(app: &TestApp, email: &str, password: &str) -> support::Reply {
    app.call(Method::POST, "/api/v1/auth/login", None, Some(json!({ "email": email, "password": password }))).await
}

async fn confirm(app: &TestApp, token: &str) -> support::Reply {
    app.call(Method::POST, "/api/v1/auth/confirm", None, Some(json!({ "token": token }))).await
}

#[tokio::test]
async fn a_student_of_a_listed_domain_confirms_and_is_approved_at_once() {
    let app = app_with(None, (100, 100)).await;
    let account = register(&app, "ada@uni.edu", Role::Student).await;
    assert_eq!((account["status"].as_str(), account["email_confirmed"].as_bool()), (Some("pending"), Some(false)));

    let refused = login(&app, "ada@uni.edu", PASSWORD).await.expect_error(403, "email_unconfirmed");
    assert!(refused["message"].as_str().unwrap().contains("confirm"), "{refused}");
    // A wrong password says only that, confirmed or not.
    login(&app, "ada@uni.edu", "not the password").await.expect_error(401, "invalid_credentials");

    let mails = app.emails_to("ada@uni.edu", NotificationKind::EmailConfirmation).await;
    assert_eq!(mails.len(), 1, "one confirmation email, written with the registration");
    let confirmed = app.confirm("ada@uni.edu").await;
    assert_eq!(confirmed["status"], "active");
    assert_eq!(confirmed["email_confirmed"], true);

    let token = login(&app, "ada@uni.edu", PASSWORD).await.expect(200).body["token"].as_str().unwrap().to_owned();
    let inbox = app.get("/api/v1/notifications", &token).await.expect(200).body;
    let kinds: Vec<&str> = inbox["items"].as_array().unwrap().iter().map(|i| i["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["account_approved", "email_confirmation"]);
    assert_eq!(inbox["items"][0]["change"]["automatic"], true);
    assert!(inbox["items"][0]["ticket_number"].is_null());
    // Once used, the link's token is no longer kept in the inbox.
    assert!(inbox["items"][1]["change"].get("token").is_none(), "{inbox}");
    let approved = app.emails_to("ada@uni.edu", NotificationKind::AccountApproved).await;
    assert_eq!(approved.len(), 1);

    // Students may raise tickets right away.
    app.post("/api/v1/tickets", &token, json!({ "title": "Where is room 4?", "category_id": app.category_id }))
        .await
        .expect(201);
}

#[tokio::test]
async fn other_domains_and_staff_applicants_wait_for_an_admin() {
    let app = app_with(None, (100, 100)).await;
    for (email, role) in [
        ("bo@gmail.com", Role::Student),
        ("cy@cs.uni.edu", Role::Student),
        ("sam@uni.edu", Role::Support),
        ("root@uni.edu", Role::Admin),
    ] {
        register(&app, email, role).await;
        let confirmed = app.confirm(email).await;
        assert_eq!(
            (confirmed["status"].as_str(), confirmed["email_confirmed"].as_bool()),
            (Some("pending"), Some(true))
        );
        let token = login(&app, email, PASSWORD).await.expect(200).body["token"].as_str().unwrap().to_owned();
        app.get("/api/v1/tickets", &token).await.expect_error(403, "account_pending");
        assert!(app.emails_to(email, NotificationKind::AccountApproved).await.is_empty());
    }
    // The admin's list: pending and confirmed, versus pending and not confirmed.
    register(&app, "di@gmail.com", Role::Student).await;
    let list = |q: &'static str| {
        let app = &app;
        async move {
            let page = app.get(&format!("/api/v1/admin/users?status=pending{q}"), &app.admin.token).await.expect(200);
            let mut emails: Vec<String> = page.body["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| a["email"].as_str().unwrap().to_owned())
                .collect();
            emails.sort();
            emails
        }
    };
    assert_eq!(list("&email_confirmed=true").await, ["bo@gmail.com", "cy@cs.uni.edu", "root@uni.edu", "sam@uni.edu"]);
    assert_eq!(list("&email_confirmed=false").await, ["di@gmail.com"]);
}

#[tokio::test]
async fn links_are_single_use_expire_after_a_day_and_a_resend_replaces_them() {
    let clock = Arc::new(ManualClock::new(Utc.with_ymd_and_hms(2026, 10, 1, 9, 0, 0).unwrap()));
    let app = app_with(Some(clock.clone()), (100, 100)).await;
    register(&app, "ed@gmail.com", Role::Student).await;
    let first = app.confirmation_token("ed@gmail.com").await;

    clock.advance(Duration::hours(24));
    confirm(&app, &first).await.expect_error(409, "confirmation_expired");
    login(&app, "ed@gmail.com", PASSWORD).await.expect_error(403, "email_unconfirmed");

    let resent = app
        .call(Method::POST, "/api/v1/auth/confirm/resend", None, Some(json!({ "email": "ed@gmail.com" })))
        .await
        .expect(202);
    let second = app.confirmation_token("ed@gmail.com").await;
    assert_ne!(first, second);
    // The replaced link is unknown now, not merely expired.
    confirm(&app, &first).await.expect_error(404, "confirmation_not_found");

    clock.advance(Duration::hours(23));
    assert_eq!(confirm(&app, &second).await.expect(200).body["email_confirmed"], true);
    confirm(&app, &second).await.expect_error(409, "confirmation_used");
    confirm(&app, "no-such-token").await.expect_error(404, "confirmation_not_found");
    // Not shaped like a token at all.
    confirm(&app, "no such token!").await.expect_error(422, "confirmation_invalid");
    login(&app, "ed@gmail.com", PASSWORD).await.expect(200);

    // Unknown and confirmed addresses get the very same answer, and no email.
    for email in ["nobody@gmail.com", "ed@gmail.com"] {
        let again = app
            .call(Method::POST, "/api/v1/auth/confirm/resend", None, Some(json!({ "email": email })))
            .await
            .expect(202);
        assert_eq!(again.body, resent.body);
    }
    assert_eq!(app.emails_to("ed@gmail.com", NotificationKind::EmailConfirmation).await.len(), 2);
    assert!(app.emails_to("nobody@gmail.com", NotificationKind::EmailConfirmation).await.is_empty());
}

#[tokio::test]
async fn resends_are_throttled_per_email() {
    let app = app_with(None, (2, 100)).await;
    register(&app, "fi@gmail.com", Role::Student).await;
    let resend = |email: &'static str| {
        let app = &app;
        async move { app.call(Method::POST, "/api/v1/auth/confirm/resend", None, Some(json!({ "email": email }))).await }
    };
    resend("fi@gmail.com").await.expect(202);
    resend("FI@gmail.com").await.expect(202);
    let reply = resend("fi@gmail.com").await;
    assert!(reply.headers.get("retry-after").is_some());
    reply.expect_error(429, "throttled");
    // Another address still has its own allowance.
    resend("gu@gmail.com").await.expect(202);
    assert_eq!(app.emails_to("fi@gmail.com", NotificationKind::EmailConfirmation).await.len(), 3);
}

#[tokio::test]
async fn opening_the_link_changes_nothing_and_its_button_confirms() {
    let app = app_with(None, (100, 100)).await;
    register(&app, "ho@uni.edu", Role::Student).await;
    let token = app.confirmation_token("ho@uni.edu").await;

    let page = app.get_raw(&format!("/api/v1/auth/confirm?token={token}")).await;
    assert_eq!(page.status(), 200);
    assert!(page.content_type().unwrap().starts_with("text/html"));
    let html = page.into_body().into_string().await.unwrap();
    assert!(html.contains("action=\"/api/v1/auth/confirm\"") && html.contains(&token), "{html}");
    // A mail scanner fetched the link: still not confirmed.
    login(&app, "ho@uni.edu", PASSWORD).await.expect_error(403, "email_unconfirmed");

    let form = format!("token={token}").into_bytes();
    let posted = app.raw(Method::POST, "/api/v1/auth/confirm", None, "application/x-www-form-urlencoded", form).await;
    assert_eq!(posted.status, 303);
    assert_eq!(posted.headers["location"], "/api/v1/auth/confirm?result=confirmed");
    login(&app, "ho@uni.edu", PASSWORD).await.expect(200);

    // The same button again: the page explains, nothing breaks.
    let form = format!("token={token}").into_bytes();
    let again = app.raw(Method::POST, "/api/v1/auth/confirm", None, "application/x-www-form-urlencoded", form).await;
    assert_eq!(again.headers["location"], "/api/v1/auth/confirm?result=confirmation_used");
    let result = app.get_raw("/api/v1/auth/confirm?result=confirmation_used").await;
    assert!(result.into_body().into_string().await.unwrap().contains("used already"));
}

#[tokio::test]
async fn the_holder_hears_of_an_admins_decision() {
    let app = app_with(None, (100, 100)).await;
    let (yes, no) = ("ida@gmail.com", "jo@gmail.com");
    let yes_id = register(&app, yes, Role::Student).await["id"].as_i64().unwrap();
    let no_id = register(&app, no, Role::Student).await["id"].as_i64().unwrap();
    app.confirm(yes).await;
    app.confirm(no).await;

    app.post(&format!("/api/v1/admin/users/{yes_id}/approve"), &app.admin.token, json!({})).await.expect(200);
    let reason = json!({ "reason": "Not enrolled this term" });
    app.post(&format!("/api/v1/admin/users/{no_id}/reject"), &app.admin.token, reason).await.expect(200);

    let token = login(&app, yes, PASSWORD).await.expect(200).body["token"].as_str().unwrap().to_owned();
    let inbox = app.get("/api/v1/notifications", &token).await.expect(200).body;
    assert_eq!(inbox["items"][0]["kind"], "account_approved");
    assert_eq!(inbox["items"][0]["change"]["automatic"], false);
    assert_eq!(app.emails_to(yes, NotificationKind::AccountApproved).await.len(), 1);

    // The rejected holder cannot sign in, so the email is what tells them why.
    login(&app, no, PASSWORD).await.expect_error(403, "account_inactive");
    let rejected = app.emails_to(no, NotificationKind::AccountRejected).await;
    assert_eq!(rejected.len(), 1);
    assert!(rejected[0].payload.contains("Not enrolled this term"));
    assert!(app.emails_to(no, NotificationKind::AccountApproved).await.is_empty());
}
