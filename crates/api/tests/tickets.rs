//! Raising, reading, editing, listing tickets and their history.

mod support;

use std::collections::BTreeSet;

use serde_json::{json, Value};
use support::{TestApp, User};

#[tokio::test]
async fn a_raised_ticket_belongs_to_the_caller() {
    let app = TestApp::spawn().await;
    let student = app.student().await;
    let ticket = app
        .ticket(&student)
        .with("title", json!("  Portal login loops  "))
        .with("tags", json!(["Exam Results", "portal", "exam-results"]))
        .with("priority", json!("high"))
        .create()
        .await;
    assert!(ticket["number"].as_i64().is_some());
    assert_eq!(ticket["title"], "Portal login loops");
    assert_eq!(ticket["tags"], json!(["exam-results", "portal"]));
    assert_eq!(ticket["priority"], "high");
    assert_eq!(ticket["status"], "open");
    assert_eq!(ticket["category_id"], app.category_id);
    assert_eq!(ticket["creator"]["id"], student.id);
    assert!(ticket["creator"]["display_name"].as_str().is_some_and(|n| !n.is_empty()));
    assert_eq!(ticket["vote_count"], 0);
    assert_eq!(ticket["voted"], false);
    assert!(ticket["created_at"].is_string() && ticket["updated_at"].is_string());

    let fetched = app.get(&format!("/api/v1/tickets/{}", ticket["number"]), &student.token).await.expect(200).body;
    assert_eq!(fetched, ticket);

    let defaulted = app.ticket(&student).create().await;
    assert_eq!(defaulted["priority"], "medium");
    assert_eq!(defaulted["tags"], json!([]));
}

#[tokio::test]
async fn spoofed_identity_fields_in_the_body_are_ignored() {
    let app = TestApp::spawn().await;
    let student = app.student().await;
    let victim = app.student().await;
    let ticket = app
        .ticket(&student)
        .with("creator_id", json!(victim.id))
        .with("creator", json!({ "id": victim.id, "display_name": "Victim" }))
        .with("user_id", json!(victim.id))
        .with("number", json!(424242))
        .with("status", json!("resolved"))
        .with("vote_count", json!(99))
        .create()
        .await;
    assert_eq!(ticket["creator"]["id"], student.id);
    assert_ne!(ticket["creator"]["display_name"], "Victim");
    assert_ne!(ticket["number"], 424242);
    assert_eq!(ticket["status"], "open");
    assert_eq!(ticket["vote_count"], 0);
    // The victim does not see it as theirs.
    let mine = app.get("/api/v1/tickets?mine=true", &victim.token).await.expect(200).body;
    assert!(mine["items"].as_array().unwrap().is_empty());
}

#[tokio::test]
async fn invalid_tickets_name_the_field() {
    let app = TestApp::spawn().await;
    let student = app.student().await;
    let cases = [
        (json!({ "title": "abc", "category_id": app.category_id }), "title", "too_short"),
        (json!({ "title": "x".repeat(151), "category_id": app.category_id }), "title", "too_long"),
        (
            json!({ "title": "Valid title", "category_id": app.category_id, "tags": ["no/slash"] }),
            "tags",
            "invalid_tag",
        ),
    ];
    for (body, field, code) in cases {
        let err = app.post("/api/v1/tickets", &student.token, body).await.expect_error(422, code);
        assert_eq!(err["field"], field);
    }
    // A well-formed number that names nothing is "not found", and the field says which.
    let unknown = [
        (json!({ "title": "Valid title", "category_id": 999_999 }), "category_id", "category_not_found"),
        (
            json!({ "title": "Valid title", "category_id": app.category_id, "follow_up_of": 999_999 }),
            "follow_up_of",
            "ticket_not_found",
        ),
    ];
    for (body, field, code) in unknown {
        let err = app.post("/api/v1/tickets", &student.token, body).await.expect_error(404, code);
        assert_eq!(err["field"], field);
    }
}

#[tokio::test]
async fn malformed_bodies_are_400_in_the_error_shape() {
    let app = TestApp::spawn().await;
    let student = app.student().await;
    let token = Some(student.token.as_str());
    let bad_json =
        app.raw(poem::http::Method::POST, "/api/v1/tickets", token, "application/json", b"{\"title\": ".to_vec()).await;
    let err = bad_json.expect_error(400, "bad_request");
    assert!(err["field"].is_null());
    // (poem-openapi reads a JSON number or boolean as a string, so a wrong type has to be
    // one it cannot coerce.)
    let wrong_type =
        app.post("/api/v1/tickets", &student.token, json!({ "title": "Valid title", "category_id": "one" })).await;
    wrong_type.expect_error(400, "bad_request");
    let missing = app.post("/api/v1/tickets", &student.token, json!({ "title": "No category" })).await;
    missing.expect_error(400, "bad_request");
    let not_json = app.raw(poem::http::Method::POST, "/api/v1/tickets", token, "text/plain", b"hello".to_vec()).await;
    not_json.expect_error(415, "unsupported_media_type");
}

#[tokio::test]
async fn students_may_not_ask_for_urgent_but_staff_may() {
    let app = TestApp::spawn().await;
    let student = app.student().await;
    let support = app.support().await;
    let body = json!({ "title": "Server room on fire", "category_id": app.category_id, "priority": "urgent" });
    app.post("/api/v1/tickets", &student.token, body.clone()).await.expect_error(403, "priority_not_allowed");
    let ticket = app.post("/api/v1/tickets", &support.token, body).await.expect(201).body;
    assert_eq!(ticket["priority"], "urgent");
}

#[tokio::test]
async fn unknown_tickets_are_404_and_bad_numbers_400() {
    let app = TestApp::spawn().await;
    let student = app.student().await;
    app.get("/api/v1/tickets/999999", &student.token).await.expect_error(404, "ticket_not_found");
    app.get("/api/v1/tickets/999999/history", &student.token).await.expect_error(404, "ticket_not_found");
    app.patch("/api/v1/tickets/999999", &student.token, json!({ "title": "Nothing here" }))
        .await
        .expect_error(404, "ticket_not_found");
    let err = app.get("/api/v1/tickets/abc", &student.token).await.expect_error(400, "bad_request");
    assert!(err["message"].as_str().unwrap().contains("path"), "{err}");
    app.put("/api/v1/tickets/1.5/vote", &student.token).await.expect_error(400, "bad_request");
}

#[tokio::test]
async fn students_edit_only_their_own_open_tickets() {
    let app = TestApp::spawn().await;
    let owner = app.student().await;
    let other = app.student().await;
    let support = app.support().await;
    let number = app.ticket(&owner).number().await;
    let path = format!("/api/v1/tickets/{number}");

    app.patch(&path, &other.token, json!({ "title": "Hijacked title" })).await.expect_error(403, "not_owner");
    app.patch(&path, &other.token, json!({ "priority": "low" })).await.expect_error(403, "not_owner");
    let edited =
        app.patch(&path, &owner.token, json!({ "title": "Clearer title", "tags": ["grades"] })).await.expect(200).body;
    assert_eq!(edited["title"], "Clearer title");
    assert_eq!(edited["tags"], json!(["grades"]));

    // Once support picks it up, the creator can no longer edit its content.
    app.patch(&path, &support.token, json!({ "status": "in_progress" })).await.expect(200);
    app.patch(&path, &owner.token, json!({ "title": "Another title" })).await.expect_error(403, "ticket_locked");
    // Students do not move tickets through the workflow, and nobody resolves by a plain edit.
    app.patch(&path, &owner.token, json!({ "status": "open" })).await.expect_error(403, "role_not_allowed");
    app.patch(&path, &owner.token, json!({ "status": "resolved" })).await.expect_error(422, "use_resolve");
}

#[tokio::test]
async fn support_changes_priority_and_status_through_the_machine() {
    let app = TestApp::spawn().await;
    let owner = app.student().await;
    let support = app.support().await;
    let number = app.ticket(&owner).number().await;
    let path = format!("/api/v1/tickets/{number}");

    let t = app.patch(&path, &support.token, json!({ "priority": "urgent" })).await.expect(200).body;
    assert_eq!(t["priority"], "urgent");
    let err =
        app.patch(&path, &support.token, json!({ "status": "closed" })).await.expect_error(409, "illegal_transition");
    assert!(err["message"].as_str().unwrap().contains("open"));
    let t = app.patch(&path, &support.token, json!({ "status": "in_progress" })).await.expect(200).body;
    assert_eq!(t["status"], "in_progress");
    let t = app.post(&format!("{path}/resolve"), &support.token, json!({ "answer": "Done." })).await.expect(200).body;
    assert_eq!(t["status"], "resolved");
    // The creator may reopen a resolved ticket, with a reason (not a plain edit: where the
    // ticket is decides that, so it is a conflict).
    app.patch(&path, &owner.token, json!({ "status": "open" })).await.expect_error(409, "use_reopen");
    let t = app.post(&format!("{path}/reopen"), &owner.token, json!({ "reason": "Not yet." })).await.expect(200).body;
    assert_eq!(t["status"], "open");
    // The ticket is unchanged by refused edits.
    let t = app.get(&path, &owner.token).await.expect(200).body;
    assert_eq!((t["priority"].as_str(), t["status"].as_str()), (Some("urgent"), Some("open")));
}

#[tokio::test]
async fn history_lists_each_change_with_its_actor() {
    let app = TestApp::spawn().await;
    let owner = app.student().await;
    let support = app.support().await;
    let voter = app.student().await;
    let number = app.ticket(&owner).with("title", json!("Original title")).number().await;
    let path = format!("/api/v1/tickets/{number}");
    app.patch(&path, &owner.token, json!({ "title": "Better title", "description": "More detail" })).await.expect(200);
    app.put(&format!("{path}/vote"), &voter.token).await.expect(200);
    app.patch(&path, &support.token, json!({ "priority": "high", "status": "in_progress" })).await.expect(200);

    let history = app.get(&format!("{path}/history"), &other_viewer(&app).await.token).await.expect(200).body;
    let events = history.as_array().unwrap();
    let summary: Vec<(String, Option<i64>)> =
        events.iter().map(|e| (e["change"]["kind"].as_str().unwrap().to_owned(), e["actor"]["id"].as_i64())).collect();
    let expected = vec![
        ("created".to_owned(), Some(owner.id)),
        ("title_changed".to_owned(), Some(owner.id)),
        ("description_changed".to_owned(), Some(owner.id)),
        // Another student sees that someone voted, not who (see votes.rs).
        ("vote_cast".to_owned(), None),
        ("priority_changed".to_owned(), Some(support.id)),
        ("status_changed".to_owned(), Some(support.id)),
    ];
    assert_eq!(summary, expected);
    assert_eq!(events[0]["change"], json!({ "kind": "created", "title": "Original title", "priority": "medium" }));
    assert_eq!(events[1]["change"], json!({ "kind": "title_changed", "from": "Original title", "to": "Better title" }));
    assert_eq!(events[5]["change"], json!({ "kind": "status_changed", "from": "open", "to": "in_progress" }));
    for e in events {
        let hidden = e["change"]["kind"] == "vote_cast";
        assert!(hidden || e["actor"]["display_name"].as_str().is_some_and(|n| !n.is_empty()));
        assert!(e["at"].is_string() && e["id"].is_i64());
    }
    let ids: Vec<i64> = events.iter().map(|e| e["id"].as_i64().unwrap()).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "oldest first: {ids:?}");
}

async fn other_viewer(app: &TestApp) -> User {
    app.student().await
}

/// Lists with `query`, following `next_cursor` to the end; returns the numbers in order.
async fn all_pages(app: &TestApp, token: &str, query: &str) -> Vec<i64> {
    let mut numbers = Vec::new();
    let mut path = format!("/api/v1/tickets?{query}");
    for _ in 0..100 {
        let page = app.get(&path, token).await.expect(200).body;
        numbers.extend(page["items"].as_array().unwrap().iter().map(|t| t["number"].as_i64().unwrap()));
        match page["next_cursor"].as_str() {
            Some(cursor) => path = format!("/api/v1/tickets?{query}&cursor={}", urlencode(cursor)),
            None => return numbers,
        }
    }
    panic!("pagination does not end: {numbers:?}");
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[tokio::test]
async fn cursor_pagination_returns_every_ticket_exactly_once() {
    let app = TestApp::spawn().await;
    let owner = app.student().await;
    let voters = [app.student().await, app.student().await];
    let mut created = Vec::new();
    for i in 0..7 {
        let priority = ["low", "medium", "high"][i % 3];
        created.push(app.ticket(&owner).with("priority", json!(priority)).number().await);
    }
    // Ties in vote counts and priorities make the order's tie-breaking matter.
    for (i, number) in created.iter().enumerate().take(4) {
        for voter in voters.iter().take(i % 3) {
            app.put(&format!("/api/v1/tickets/{number}/vote"), &voter.token).await.expect(200);
        }
    }
    let expected: BTreeSet<i64> = created.iter().copied().collect();
    for sort in ["newest", "votes", "queue"] {
        let single_page = all_pages(&app, &owner.token, &format!("sort={sort}&limit=100")).await;
        for limit in [1, 3, 7] {
            let numbers = all_pages(&app, &owner.token, &format!("sort={sort}&limit={limit}")).await;
            assert_eq!(numbers.len(), expected.len(), "sort={sort} limit={limit}: {numbers:?}");
            assert_eq!(numbers.iter().copied().collect::<BTreeSet<_>>(), expected, "sort={sort} limit={limit}");
            assert_eq!(numbers, single_page, "sort={sort}: paging changes the order");
        }
    }
    let newest = all_pages(&app, &owner.token, "sort=newest&limit=2").await;
    let mut descending = created.clone();
    descending.reverse();
    assert_eq!(newest, descending);
    let by_votes = all_pages(&app, &owner.token, "sort=votes&limit=2").await;
    let counts: Vec<i64> = {
        let page = app.get("/api/v1/tickets?sort=votes&limit=100", &owner.token).await.expect(200).body;
        page["items"].as_array().unwrap().iter().map(|t| t["vote_count"].as_i64().unwrap()).collect()
    };
    assert!(counts.windows(2).all(|w| w[0] >= w[1]), "most votes first: {counts:?} {by_votes:?}");
}

#[tokio::test]
async fn a_foreign_cursor_is_422() {
    let app = TestApp::spawn().await;
    let student = app.student().await;
    let err = app
        .get("/api/v1/tickets?cursor=definitely-not-a-cursor", &student.token)
        .await
        .expect_error(422, "invalid_cursor");
    assert_eq!(err["field"], "cursor");
}

fn numbers(page: &Value) -> BTreeSet<i64> {
    page["items"].as_array().unwrap().iter().map(|t| t["number"].as_i64().unwrap()).collect()
}

#[tokio::test]
async fn filters_mine_voted_status_priority_tag_and_text() {
    let app = TestApp::spawn().await;
    let ada = app.student().await;
    let bo = app.student().await;
    let support = app.support().await;
    let a1 =
        app.ticket(&ada).with("title", json!("Wifi drops in library")).with("tags", json!(["wifi"])).number().await;
    let a2 = app.ticket(&ada).with("priority", json!("high")).number().await;
    let b1 = app.ticket(&bo).with("title", json!("Exam timetable clash")).number().await;
    app.put(&format!("/api/v1/tickets/{a1}/vote"), &bo.token).await.expect(200);
    app.post(&format!("/api/v1/tickets/{a2}/resolve"), &support.token, json!({ "answer": "Done." })).await.expect(200);

    let get = |query: &'static str, token: String| {
        let app = &app;
        async move { numbers(&app.get(&format!("/api/v1/tickets?{query}"), &token).await.expect(200).body) }
    };
    assert_eq!(get("mine=true", ada.token.clone()).await, BTreeSet::from([a1, a2]));
    assert_eq!(get("mine=true", bo.token.clone()).await, BTreeSet::from([b1]));
    assert_eq!(get("voted=true", bo.token.clone()).await, BTreeSet::from([a1]));
    assert_eq!(get("voted=true", ada.token.clone()).await, BTreeSet::new());
    assert_eq!(get("status=resolved", bo.token.clone()).await, BTreeSet::from([a2]));
    assert_eq!(get("status=open", bo.token.clone()).await, BTreeSet::from([a1, b1]));
    assert_eq!(get("mine=true&status=open", ada.token.clone()).await, BTreeSet::from([a1]));
    assert_eq!(get("priority=high", bo.token.clone()).await, BTreeSet::from([a2]));
    assert_eq!(get("tag=wifi", bo.token.clone()).await, BTreeSet::from([a1]));
    assert_eq!(get("q=timetable", ada.token.clone()).await, BTreeSet::from([b1]));
    assert_eq!(get("mine=false", ada.token.clone()).await, BTreeSet::from([a1, a2, b1]));

    // `voted` in each item is relative to the viewer.
    let page = app.get("/api/v1/tickets", &bo.token).await.expect(200).body;
    for t in page["items"].as_array().unwrap() {
        assert_eq!(t["voted"], t["number"] == a1, "{t}");
    }
    let err = app.get("/api/v1/tickets?mine=maybe", &ada.token).await.expect_error(400, "bad_request");
    assert_eq!(err["field"], "mine");
    let err = app.get("/api/v1/tickets?sort=random", &ada.token).await.expect_error(400, "bad_request");
    assert_eq!(err["field"], "sort");
}
