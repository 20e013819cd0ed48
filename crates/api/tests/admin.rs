//! Account verification and management by admins.

mod support;

use domain::accounts::Role;
use poem::http::Method;
use serde_json::json;
use support::{TestApp, PASSWORD};

#[tokio::test]
async fn admins_list_accounts_by_status_and_role() {
    let app = TestApp::spawn().await;
    let (student_id, _) = app.register(Role::Student).await;
    let (support_id, _) = app.register(Role::Support).await;
    let approved = app.student().await;

    let page = app.get("/api/v1/admin/users?status=pending", &app.admin.token).await.expect(200).body;
    let ids: Vec<i64> = page["items"].as_array().unwrap().iter().map(|a| a["id"].as_i64().unwrap()).collect();
    assert_eq!(ids, vec![student_id, support_id], "pending accounts, oldest first");
    assert!(page["next_cursor"].is_null());

    let page = app.get("/api/v1/admin/users?status=pending&role=support", &app.admin.token).await.expect(200).body;
    let ids: Vec<i64> = page["items"].as_array().unwrap().iter().map(|a| a["id"].as_i64().unwrap()).collect();
    assert_eq!(ids, vec![support_id]);

    let page = app.get("/api/v1/admin/users?status=active&role=student", &app.admin.token).await.expect(200).body;
    assert!(page["items"].as_array().unwrap().iter().any(|a| a["id"] == approved.id));
}

#[tokio::test]
async fn account_listing_pages_with_a_cursor() {
    let app = TestApp::spawn().await;
    let mut expected = Vec::new();
    for _ in 0..5 {
        expected.push(app.register(Role::Student).await.0);
    }
    let mut seen = Vec::new();
    let mut path = "/api/v1/admin/users?status=pending&limit=2".to_owned();
    loop {
        let page = app.get(&path, &app.admin.token).await.expect(200).body;
        let items = page["items"].as_array().unwrap();
        assert!(items.len() <= 2);
        seen.extend(items.iter().map(|a| a["id"].as_i64().unwrap()));
        match page["next_cursor"].as_str() {
            Some(cursor) => path = format!("/api/v1/admin/users?status=pending&limit=2&cursor={cursor}"),
            None => break,
        }
        assert!(seen.len() <= expected.len(), "pagination does not end");
    }
    assert_eq!(seen, expected);
}

#[tokio::test]
async fn bad_listing_parameters_name_the_parameter() {
    let app = TestApp::spawn().await;
    let err = app.get("/api/v1/admin/users?limit=0", &app.admin.token).await.expect_error(422, "out_of_range");
    assert_eq!(err["field"], "limit");
    let err = app.get("/api/v1/admin/users?limit=lots", &app.admin.token).await.expect_error(400, "bad_request");
    assert_eq!(err["field"], "limit");
    let err = app.get("/api/v1/admin/users?status=sleeping", &app.admin.token).await.expect_error(400, "bad_request");
    assert_eq!(err["field"], "status");
}

#[tokio::test]
async fn approval_activates_once() {
    let app = TestApp::spawn().await;
    let pending = app.pending(Role::Student).await;
    let path = format!("/api/v1/admin/users/{}/approve", pending.id);
    let account = app.call(Method::POST, &path, Some(&app.admin.token), None).await.expect(200).body;
    assert_eq!(account["status"], "active");
    // The pending user's existing session now works for everything.
    app.get("/api/v1/tickets", &pending.token).await.expect(200);
    app.call(Method::POST, &path, Some(&app.admin.token), None).await.expect_error(409, "already_decided");
}

#[tokio::test]
async fn rejection_needs_a_reason_and_locks_the_account_out() {
    let app = TestApp::spawn().await;
    let pending = app.pending(Role::Student).await;
    let path = format!("/api/v1/admin/users/{}/reject", pending.id);
    let err = app.post(&path, &app.admin.token, json!({ "reason": "   " })).await.expect_error(422, "required");
    assert_eq!(err["field"], "reason");
    let account = app.post(&path, &app.admin.token, json!({ "reason": "Not enrolled" })).await.expect(200).body;
    assert_eq!(account["status"], "rejected");
    assert_eq!(account["status_reason"], "Not enrolled");
    app.get("/api/v1/me", &pending.token).await.expect_error(401, "unauthenticated");
    app.call(Method::POST, "/api/v1/auth/login", None, Some(json!({ "email": pending.email, "password": PASSWORD })))
        .await
        .expect_error(403, "account_inactive");
}

#[tokio::test]
async fn deactivation_ends_sessions_and_reactivation_restores_access() {
    let app = TestApp::spawn().await;
    let user = app.student().await;
    let deactivate = format!("/api/v1/admin/users/{}/deactivate", user.id);
    let account =
        app.post(&deactivate, &app.admin.token, json!({ "reason": "Left the program" })).await.expect(200).body;
    assert_eq!(account["status"], "deactivated");
    app.get("/api/v1/me", &user.token).await.expect_error(401, "unauthenticated");

    let reactivate = format!("/api/v1/admin/users/{}/reactivate", user.id);
    let account = app.call(Method::POST, &reactivate, Some(&app.admin.token), None).await.expect(200).body;
    assert_eq!(account["status"], "active");
    let token = app.login(&user.email).await;
    app.get("/api/v1/tickets", &token).await.expect(200);
    app.call(Method::POST, &reactivate, Some(&app.admin.token), None).await.expect_error(409, "already_decided");
}

#[tokio::test]
async fn role_changes_apply_to_the_next_request() {
    let app = TestApp::spawn().await;
    let user = app.student().await;
    let ticket = app.ticket(&user).number().await;
    // A student may not set urgent...
    app.patch(&format!("/api/v1/tickets/{ticket}"), &user.token, json!({ "priority": "urgent" }))
        .await
        .expect_error(403, "priority_not_allowed");
    let path = format!("/api/v1/admin/users/{}/role", user.id);
    let account =
        app.call(Method::PUT, &path, Some(&app.admin.token), Some(json!({ "role": "support" }))).await.expect(200).body;
    assert_eq!(account["role"], "support");
    // ...support may, with the same session.
    app.patch(&format!("/api/v1/tickets/{ticket}"), &user.token, json!({ "priority": "urgent" })).await.expect(200);
}

#[tokio::test]
async fn unknown_accounts_and_self_decisions_are_refused() {
    let app = TestApp::spawn().await;
    app.call(Method::POST, "/api/v1/admin/users/999999/approve", Some(&app.admin.token), None)
        .await
        .expect_error(404, "account_not_found");
    let path = format!("/api/v1/admin/users/{}/deactivate", app.admin.id);
    // Deciding about oneself is a rule about who may, not a bad value: 403.
    app.post(&path, &app.admin.token, json!({ "reason": "oops" })).await.expect_error(403, "self_decision");
    let path = format!("/api/v1/admin/users/{}/role", app.admin.id);
    app.call(Method::PUT, &path, Some(&app.admin.token), Some(json!({ "role": "student" })))
        .await
        .expect_error(403, "self_decision");
}

#[tokio::test]
async fn only_admins_manage_accounts() {
    let app = TestApp::spawn().await;
    let support = app.support().await;
    let pending = app.pending(Role::Student).await;
    app.get("/api/v1/admin/users", &support.token).await.expect_error(403, "role_not_allowed");
    app.call(Method::POST, &format!("/api/v1/admin/users/{}/approve", pending.id), Some(&support.token), None)
        .await
        .expect_error(403, "role_not_allowed");
    // The pending account is untouched.
    let me = app.get("/api/v1/me", &pending.token).await.expect(200).body;
    assert_eq!(me["status"], "pending");
}

#[tokio::test]
async fn categories_are_created_by_admins_and_read_by_everyone_active() {
    let app = TestApp::spawn().await;
    let student = app.student().await;
    let created = app
        .post("/api/v1/categories", &app.admin.token, json!({ "name": "Exams", "description": "Grades and exams" }))
        .await
        .expect(201)
        .body;
    assert_eq!(created["name"], "Exams");
    assert_eq!(created["description"], "Grades and exams");
    let listed = app.get("/api/v1/categories", &student.token).await.expect(200).body;
    let names: Vec<&str> = listed.as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap()).collect();
    assert_eq!(names, vec!["General", "Exams"], "by position: a new category goes last");

    app.post("/api/v1/categories", &app.admin.token, json!({ "name": "exams" }))
        .await
        .expect_error(409, "category_exists");
    let err = app
        .post("/api/v1/categories", &app.admin.token, json!({ "name": "x" }))
        .await
        .expect_error(422, "invalid_length");
    assert_eq!(err["field"], "name");
    app.post("/api/v1/categories", &student.token, json!({ "name": "Fees" }))
        .await
        .expect_error(403, "role_not_allowed");
}
