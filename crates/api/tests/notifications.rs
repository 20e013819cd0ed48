//! The in-app inbox over HTTP: a resolution reaches the creator and a voter, not the actor,
//! and reading it works; preferences round-trip.

mod support;

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
    assert_eq!(all.len(), 11, "one preference per notification kind but the confirmation link");
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
