//! The FAQ over HTTP: the two-step publishing from a resolved ticket, the public reading
//! and search, candidates ranked by votes, and the ticket history's `faq_published`.

mod support;

use serde_json::json;
use support::TestApp;

#[tokio::test]
async fn an_admin_publishes_a_prefilled_entry_in_two_steps_and_a_student_finds_it() {
    let app = TestApp::spawn().await;
    let owner = app.student().await;
    let duplicate_owner = app.student().await;
    let admin = &app.admin.token;
    let target = app.ticket(&owner).with("title", json!("Quiz 3 grade missing from gradebook")).number().await;
    let dup = app.ticket(&duplicate_owner).with("title", json!("Where is my quiz 3 mark?")).number().await;
    app.post(&format!("/api/v1/tickets/{dup}/merge"), admin, json!({ "target": target })).await.expect(200);
    app.post(&format!("/api/v1/tickets/{target}/resolve"), admin, json!({ "answer": "Grades **sync** nightly." }))
        .await
        .expect(200);

    // Step one: a draft prefilled from the ticket, its resolution and its duplicate.
    let draft = app.post("/api/v1/faq/drafts", admin, json!({ "from_ticket": target })).await.expect(201).body;
    assert_eq!(draft["state"], "draft");
    assert_eq!(draft["question"], "Quiz 3 grade missing from gradebook");
    assert_eq!(draft["also_asked"], json!(["Where is my quiz 3 mark?"]));
    assert_eq!(draft["answer"], "Grades **sync** nightly.");
    assert_eq!(draft["source_tickets"], json!([target, dup]));
    let id = draft["id"].as_i64().unwrap();

    // Drafts are invisible to students and to anonymous readers.
    app.get(&format!("/api/v1/faq/{id}"), &owner.token).await.expect_error(404, "faq_entry_not_found");
    let public = app.call(poem::http::Method::GET, "/api/v1/faq?q=quiz", None, None).await.expect(200);
    assert_eq!(public.body, json!([]));

    // Edit, then step two: publish.
    let edited = app
        .patch(&format!("/api/v1/faq/{id}"), admin, json!({ "question": "Why is my quiz grade missing?" }))
        .await
        .expect(200)
        .body;
    assert_eq!(edited["question"], "Why is my quiz grade missing?");
    let published = app.post(&format!("/api/v1/faq/{id}/publish"), admin, json!({})).await.expect(200).body;
    assert_eq!(published["state"], "published");
    assert_eq!(published["answer_html"], "<p>Grades <strong>sync</strong> nightly.</p>\n");

    // Anyone finds it by search, without a token; the duplicate's wording matches too.
    let found = app.call(poem::http::Method::GET, "/api/v1/faq?q=quiz%20mark", None, None).await.expect(200);
    assert_eq!(found.body.as_array().unwrap().len(), 1);
    assert_eq!(found.body[0]["id"], id);

    // The ticket's history records the publication (the notifications hook).
    let history = app.get(&format!("/api/v1/tickets/{target}/history"), &owner.token).await.expect(200).body;
    let kinds: Vec<&str> = history.as_array().unwrap().iter().filter_map(|e| e["change"]["kind"].as_str()).collect();
    assert!(kinds.contains(&"faq_published"), "{kinds:?}");

    // Feedback is one per reader and shows on the entry.
    app.post(&format!("/api/v1/faq/{id}/feedback"), &owner.token, json!({ "helpful": false })).await.expect(200);
    let fb =
        app.post(&format!("/api/v1/faq/{id}/feedback"), &owner.token, json!({ "helpful": true })).await.expect(200);
    assert_eq!((fb.body["helpful"].as_u64(), fb.body["not_helpful"].as_u64()), (Some(1), Some(0)));
}

#[tokio::test]
async fn an_open_ticket_cannot_become_an_entry() {
    let app = TestApp::spawn().await;
    let owner = app.student().await;
    let n = app.ticket(&owner).number().await;
    app.post("/api/v1/faq/drafts", &app.admin.token, json!({ "from_ticket": n }))
        .await
        .expect_error(409, "not_resolved");
}

#[tokio::test]
async fn candidates_put_the_most_voted_resolved_concerns_first() {
    let app = TestApp::spawn().await;
    let owner = app.student().await;
    let admin = &app.admin.token;
    let mut numbers = Vec::new();
    for votes in [1, 3, 0] {
        let n = app.ticket(&owner).number().await;
        for _ in 0..votes {
            let voter = app.student().await;
            app.put(&format!("/api/v1/tickets/{n}/vote"), &voter.token).await.expect(200);
        }
        app.post(&format!("/api/v1/tickets/{n}/resolve"), admin, json!({ "answer": "Done." })).await.expect(200);
        numbers.push(n);
    }
    let _unresolved = app.ticket(&owner).number().await;
    let list = app.get("/api/v1/faq/candidates", admin).await.expect(200).body;
    let order: Vec<i64> = list.as_array().unwrap().iter().map(|c| c["number"].as_i64().unwrap()).collect();
    assert_eq!(order, [numbers[1], numbers[0], numbers[2]]);
    assert_eq!(list[0]["votes"], 3);

    // Once an entry is drafted from it, a ticket is no longer a candidate.
    app.post("/api/v1/faq/drafts", admin, json!({ "from_ticket": numbers[1] })).await.expect(201);
    let list = app.get("/api/v1/faq/candidates?limit=1", admin).await.expect(200).body;
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(list[0]["number"], numbers[0]);
}
