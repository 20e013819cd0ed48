//! Registration, sign-in, sign-out and `/me`.

mod support;

use domain::accounts::Role;
use poem::http::Method;
use serde_json::json;
use support::{assert_error_shape, TestApp, PASSWORD};

#[tokio::test]
async fn registration_creates_a_pending_account() {
    let app = TestApp::spawn().await;
    let body = json!({
        "email": "  Ada.Lovelace@Uni.EDU ",
        "display_name": "Ada",
        "password": PASSWORD,
        "role": "student",
    });
    let account = app.call(Method::POST, "/api/v1/auth/register", None, Some(body)).await.expect(201).body;
    assert_eq!(account["email"], "ada.lovelace@uni.edu");
    assert_eq!(account["display_name"], "Ada");
    assert_eq!(account["role"], "student");
    assert_eq!(account["status"], "pending");
    assert_eq!(account["email_confirmed"], false);
    assert!(account["status_reason"].is_null());
    assert!(account["id"].as_i64().is_some());
    assert!(account.get("password").is_none() && account.get("password_hash").is_none());
}

#[tokio::test]
async fn duplicate_email_is_a_conflict() {
    let app = TestApp::spawn().await;
    let (_, email) = app.register(Role::Student).await;
    let body =
        json!({ "email": email.to_uppercase(), "display_name": "Twin", "password": PASSWORD, "role": "student" });
    app.call(Method::POST, "/api/v1/auth/register", None, Some(body)).await.expect_error(409, "email_taken");
}

#[tokio::test]
async fn invalid_registration_names_the_field() {
    let app = TestApp::spawn().await;
    let cases = [
        (
            json!({ "email": "not-an-email", "display_name": "Ada", "password": PASSWORD, "role": "student" }),
            "email",
            "invalid_email",
        ),
        (
            json!({ "email": "ada@uni.edu", "display_name": "  ", "password": PASSWORD, "role": "student" }),
            "display_name",
            "required",
        ),
        (
            json!({ "email": "ada@uni.edu", "display_name": "Ada", "password": "short", "role": "student" }),
            "password",
            "too_short",
        ),
    ];
    for (body, field, code) in cases {
        let err = app.call(Method::POST, "/api/v1/auth/register", None, Some(body)).await.expect_error(422, code);
        assert_eq!(err["field"], field);
    }
    // An unknown role is not a domain value at all: poem-openapi refuses it while parsing.
    let body = json!({ "email": "ada@uni.edu", "display_name": "Ada", "password": PASSWORD, "role": "wizard" });
    app.call(Method::POST, "/api/v1/auth/register", None, Some(body)).await.expect_error(400, "bad_request");
}

#[tokio::test]
async fn login_returns_a_token_its_expiry_and_the_account() {
    let app = TestApp::spawn().await;
    let (id, email) = app.register(Role::Student).await;
    let body = json!({ "email": email, "password": PASSWORD });
    app.call(Method::POST, "/api/v1/auth/login", None, Some(body.clone())).await.expect_error(403, "email_unconfirmed");
    app.confirm(&email).await;
    let session = app.call(Method::POST, "/api/v1/auth/login", None, Some(body)).await.expect(200).body;
    assert!(session["token"].as_str().is_some_and(|t| t.len() >= 32));
    assert!(session["expires_at"].as_str().is_some());
    assert_eq!(session["account"]["id"], id);
    assert_eq!(session["account"]["status"], "pending");
}

#[tokio::test]
async fn wrong_password_and_unknown_email_look_the_same() {
    let app = TestApp::spawn().await;
    let (_, email) = app.register(Role::Student).await;
    let wrong = app
        .call(Method::POST, "/api/v1/auth/login", None, Some(json!({ "email": email, "password": "not the password" })))
        .await;
    let unknown = app
        .call(
            Method::POST,
            "/api/v1/auth/login",
            None,
            Some(json!({ "email": "nobody@uni.edu", "password": "not the password" })),
        )
        .await;
    let malformed =
        app.call(Method::POST, "/api/v1/auth/login", None, Some(json!({ "email": "nobody", "password": "x" }))).await;
    let wrong = wrong.expect_error(401, "invalid_credentials");
    assert_eq!(unknown.expect(401).body, wrong);
    assert_eq!(malformed.expect(401).body, wrong);
}

#[tokio::test]
async fn login_is_throttled_with_retry_after() {
    let app = TestApp::spawn_with_throttle(2, 100).await;
    let (_, email) = app.register(Role::Student).await;
    let attempt = || {
        app.call(
            Method::POST,
            "/api/v1/auth/login",
            None,
            Some(json!({ "email": email, "password": "wrong password" })),
        )
    };
    attempt().await.expect(401);
    attempt().await.expect(401);
    let reply = attempt().await;
    let retry_after: u64 = reply.headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!(retry_after >= 1);
    reply.expect_error(429, "throttled");
    // Even the right password waits.
    app.call(Method::POST, "/api/v1/auth/login", None, Some(json!({ "email": email, "password": PASSWORD })))
        .await
        .expect_error(429, "throttled");
}

#[tokio::test]
async fn logout_revokes_the_token() {
    let app = TestApp::spawn().await;
    let user = app.student().await;
    let other_session = app.login(&user.email).await;
    app.get("/api/v1/me", &user.token).await.expect(200);
    let reply = app.call(Method::POST, "/api/v1/auth/logout", Some(&user.token), None).await.expect(204);
    assert!(reply.body.is_null());
    app.get("/api/v1/me", &user.token).await.expect_error(401, "unauthenticated");
    app.call(Method::POST, "/api/v1/auth/logout", Some(&user.token), None).await.expect_error(401, "unauthenticated");
    // Only that session ends.
    app.get("/api/v1/me", &other_session).await.expect(200);
}

#[tokio::test]
async fn me_is_the_principal_even_when_pending() {
    let app = TestApp::spawn().await;
    let pending = app.pending(Role::Student).await;
    let me = app.get("/api/v1/me", &pending.token).await.expect(200).body;
    assert_eq!(me["id"], pending.id);
    assert_eq!(me["email"], pending.email);
    assert_eq!(me["status"], "pending");
    // ...but nothing else works until an admin approves the account.
    app.get("/api/v1/tickets", &pending.token).await.expect_error(403, "account_pending");
    app.get("/api/v1/categories", &pending.token).await.expect_error(403, "account_pending");
}

#[tokio::test]
async fn missing_or_bad_tokens_get_a_json_401() {
    let app = TestApp::spawn().await;
    let missing = app.call(Method::GET, "/api/v1/me", None, None).await;
    assert_eq!(missing.headers["www-authenticate"], "Bearer");
    let missing = missing.expect_error(401, "unauthenticated");
    let bad = app.get("/api/v1/me", "not-a-token").await.expect_error(401, "unauthenticated");
    assert_eq!(missing, bad);
    // A token in the wrong scheme is no token.
    let reply = app.get_with_header("/api/v1/me", "Authorization", &format!("Basic {}", app.admin.token)).await;
    assert_error_shape(&reply.expect(401).body);
}
