//! The support workflow over HTTP: the queue worked end to end, reopen windows, automatic
//! closing with a controlled clock, merging, internal notes and sanitised Markdown.

mod support;

use std::sync::Arc;

use chrono::{Duration, TimeZone, Utc};
use domain::clock::ManualClock;
use serde_json::{json, Value};
use support::{Options, TestApp, User};

async fn app_with_clock() -> (TestApp, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new(Utc.with_ymd_and_hms(2026, 10, 1, 9, 0, 0).unwrap()));
    let app = TestApp::spawn_with(Options { clock: Some(clock.clone()), ..Options::default() }).await;
    (app, clock)
}

fn kinds(history: &Value) -> Vec<String> {
    history.as_array().unwrap().iter().map(|e| e["change"]["kind"].as_str().unwrap().to_owned()).collect()
}

async fn relogin(app: &TestApp, user: &mut User) {
    user.token = app.login(&user.email).await;
}

#[tokio::test]
async fn a_ticket_worked_end_to_end_then_closed_by_the_job() {
    let (app, clock) = app_with_clock().await;
    let mut ada = app.student().await;
    let mut sam = app.support().await;
    let n = app.ticket(&ada).number().await;

    // The queue shows it, unassigned.
    let queue = app.get("/api/v1/queue?assigned=unassigned", &sam.token).await.expect(200);
    assert!(queue.body["items"].as_array().unwrap().iter().any(|t| t["number"] == n));

    let claimed = app.post(&format!("/api/v1/tickets/{n}/claim"), &sam.token, json!({})).await.expect(200);
    assert_eq!(claimed.body["status"], "in_progress");
    assert_eq!(claimed.body["assignee"]["id"], sam.id);
    let mine = app.get("/api/v1/queue?assigned=me", &sam.token).await.expect(200);
    assert_eq!(mine.body["items"][0]["number"], n);

    app.post(&format!("/api/v1/tickets/{n}/replies"), &sam.token, json!({ "body": "Looking into it." }))
        .await
        .expect(201);
    app.post(
        &format!("/api/v1/tickets/{n}/replies"),
        &sam.token,
        json!({ "body": "Exam cell says the sheet was lost.", "internal": true }),
    )
    .await
    .expect(201);
    // The student sees the reply, never the internal note, not even as a history event.
    let replies = app.get(&format!("/api/v1/tickets/{n}/replies"), &ada.token).await.expect(200);
    assert_eq!(replies.body.as_array().unwrap().len(), 1);
    assert!(!replies.body.to_string().contains("sheet was lost"));
    let staff_view = app.get(&format!("/api/v1/tickets/{n}/replies"), &sam.token).await.expect(200);
    assert_eq!(staff_view.body.as_array().unwrap().len(), 2);
    let history = app.get(&format!("/api/v1/tickets/{n}/history"), &ada.token).await.expect(200);
    assert_eq!(kinds(&history.body).iter().filter(|k| *k == "reply_added").count(), 1);
    let internal = app
        .post(&format!("/api/v1/tickets/{n}/replies"), &ada.token, json!({ "body": "psst", "internal": true }))
        .await
        .expect(403);
    assert_eq!(internal.body["code"], "role_not_allowed");

    let resolved = app
        .post(&format!("/api/v1/tickets/{n}/resolve"), &sam.token, json!({ "answer": "Your grade is **restored**." }))
        .await
        .expect(200);
    assert_eq!(resolved.body["status"], "resolved");
    assert_eq!(resolved.body["resolution"]["answer_html"], "<p>Your grade is <strong>restored</strong>.</p>\n");

    clock.advance(Duration::days(3));
    relogin(&app, &mut ada).await;
    relogin(&app, &mut sam).await;
    let reopened = app
        .post(&format!("/api/v1/tickets/{n}/reopen"), &ada.token, json!({ "reason": "Still shows absent." }))
        .await
        .expect(200);
    assert_eq!(reopened.body["status"], "open");
    assert!(reopened.body["resolution"].is_null());
    app.post(&format!("/api/v1/tickets/{n}/resolve"), &sam.token, json!({ "answer": "Fixed for good." }))
        .await
        .expect(200);

    // Six days later nothing closes; after the seventh the job closes it, once.
    clock.advance(Duration::days(6));
    assert!(app.workflow.auto_close().await.unwrap().is_empty());
    clock.advance(Duration::days(1) + Duration::minutes(1));
    let closed = app.workflow.auto_close().await.unwrap();
    assert_eq!(closed.iter().map(|t| t.get()).collect::<Vec<_>>(), vec![n]);
    assert!(app.workflow.auto_close().await.unwrap().is_empty());

    relogin(&app, &mut ada).await;
    let ticket = app.get(&format!("/api/v1/tickets/{n}"), &ada.token).await.expect(200);
    assert_eq!(ticket.body["status"], "closed");
    let history = app.get(&format!("/api/v1/tickets/{n}/history"), &ada.token).await.expect(200);
    let last = history.body.as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["change"]["kind"], "auto_closed");
    assert_eq!(last["actor_kind"], "system", "osts itself closed it: {last}");
    assert!(last["actor"].is_null());
    let first = &history.body[0];
    assert_eq!((first["actor_kind"].as_str(), first["actor"]["id"].is_i64()), (Some("user"), true));
    assert_eq!(
        kinds(&history.body),
        [
            "created",
            "assignee_changed",
            "status_changed",
            "reply_added",
            "resolved",
            "reopened",
            "resolved",
            "auto_closed"
        ]
    );

    // A closed ticket is not reopened; a follow-up links to it.
    let refused =
        app.post(&format!("/api/v1/tickets/{n}/reopen"), &ada.token, json!({ "reason": "Again." })).await.expect(409);
    assert_eq!(refused.body["code"], "illegal_transition");
    let follow_up = app.ticket(&ada).with("follow_up_of", json!(n)).create().await;
    assert_eq!(follow_up["follow_up_of"], n);
}

#[tokio::test]
async fn the_creator_reopens_only_within_the_window() {
    let (app, clock) = app_with_clock().await;
    let mut ada = app.student().await;
    let mut sam = app.support().await;
    let n = app.ticket(&ada).number().await;
    app.post(&format!("/api/v1/tickets/{n}/resolve"), &sam.token, json!({ "answer": "Done." })).await.expect(200);
    clock.advance(Duration::days(14) + Duration::seconds(1));
    relogin(&app, &mut ada).await;
    relogin(&app, &mut sam).await;
    let late =
        app.post(&format!("/api/v1/tickets/{n}/reopen"), &ada.token, json!({ "reason": "Late." })).await.expect(409);
    assert_eq!(late.body["code"], "reopen_window_passed");
    // Staff may still reopen.
    app.post(&format!("/api/v1/tickets/{n}/reopen"), &sam.token, json!({ "reason": "Student wrote in." }))
        .await
        .expect(200);
}

#[tokio::test]
async fn status_changes_that_carry_more_have_their_own_actions() {
    let app = TestApp::spawn().await;
    let ada = app.student().await;
    let sam = app.support().await;
    let n = app.ticket(&ada).number().await;
    for (status, code) in [("resolved", "use_resolve"), ("merged", "use_merge")] {
        let r = app.patch(&format!("/api/v1/tickets/{n}"), &sam.token, json!({ "status": status })).await.expect(422);
        assert_eq!((r.body["code"].as_str(), r.body["field"].as_str()), (Some(code), Some("status")));
    }
    let empty =
        app.post(&format!("/api/v1/tickets/{n}/resolve"), &sam.token, json!({ "answer": "  " })).await.expect(422);
    assert_eq!(empty.body["field"], "answer");
    // Nothing changed.
    let t = app.get(&format!("/api/v1/tickets/{n}"), &ada.token).await.expect(200);
    assert_eq!(t.body["status"], "open");
}

#[tokio::test]
async fn merging_carries_votes_replies_and_later_actions() {
    let app = TestApp::spawn().await;
    let (ada, bo, cy, di) = (app.student().await, app.student().await, app.student().await, app.student().await);
    let sam = app.support().await;
    let a = app.ticket(&ada).number().await;
    let b = app.ticket(&bo).number().await;
    app.put(&format!("/api/v1/tickets/{a}/vote"), &cy.token).await.expect(200);
    app.put(&format!("/api/v1/tickets/{b}/vote"), &cy.token).await.expect(200);
    app.post(&format!("/api/v1/tickets/{b}/replies"), &bo.token, json!({ "body": "Also on the portal." }))
        .await
        .expect(201);

    let merged = app.post(&format!("/api/v1/tickets/{b}/merge"), &sam.token, json!({ "target": a })).await.expect(200);
    // cy voted on both and counts once; bo (B's creator) joins as a voter.
    assert_eq!(merged.body["target"]["vote_count"], 2);
    assert_eq!(merged.body["votes_added"], 1);
    let b_now = app.get(&format!("/api/v1/tickets/{b}"), &bo.token).await.expect(200);
    assert_eq!((b_now.body["status"].as_str(), b_now.body["merged_into"].as_i64()), (Some("merged"), Some(a)));

    // A vote and a reply aimed at B land on A.
    let vote = app.put(&format!("/api/v1/tickets/{b}/vote"), &di.token).await.expect(200);
    assert_eq!((vote.body["number"].as_i64(), vote.body["vote_count"].as_u64()), (Some(a), Some(3)));
    let reply =
        app.post(&format!("/api/v1/tickets/{b}/replies"), &bo.token, json!({ "body": "Any news?" })).await.expect(201);
    assert_eq!(reply.body["ticket_number"], a);
    // B's replies are readable from A.
    let replies = app.get(&format!("/api/v1/tickets/{a}/replies"), &ada.token).await.expect(200);
    let bodies: Vec<_> = replies.body.as_array().unwrap().iter().map(|r| r["body"].as_str().unwrap()).collect();
    assert_eq!(bodies, ["Also on the portal.", "Any news?"]);

    let self_merge =
        app.post(&format!("/api/v1/tickets/{a}/merge"), &sam.token, json!({ "target": a })).await.expect(409);
    assert_eq!(self_merge.body["code"], "same_ticket");
    let nowhere =
        app.post(&format!("/api/v1/tickets/{a}/merge"), &sam.token, json!({ "target": 999_999 })).await.expect(404);
    assert_eq!(
        (nowhere.body["code"].as_str(), nowhere.body["field"].as_str()),
        (Some("ticket_not_found"), Some("target"))
    );

    // Unmerge: B is open again; bo acted on A (replied), so keeps the A-side vote.
    let restored = app.post(&format!("/api/v1/tickets/{b}/unmerge"), &sam.token, json!({})).await.expect(200);
    assert_eq!(restored.body["status"], "open");
    let a_now = app.get(&format!("/api/v1/tickets/{a}"), &ada.token).await.expect(200);
    assert_eq!(a_now.body["vote_count"], 3);
    let again = app.post(&format!("/api/v1/tickets/{b}/unmerge"), &sam.token, json!({})).await.expect(409);
    assert_eq!(again.body["code"], "not_merged");
}

#[tokio::test]
async fn markdown_is_sanitised_everywhere_it_is_shown() {
    let app = TestApp::spawn().await;
    let ada = app.student().await;
    let t = app
        .ticket(&ada)
        .with(
            "description",
            json!("Hi <script>alert(1)</script> [x](javascript:alert(2)) <img src=x onerror=alert(3)>"),
        )
        .create()
        .await;
    let html = t["description_html"].as_str().unwrap();
    for bad in ["<script", "javascript:", "onerror"] {
        assert!(!html.contains(bad), "{html}");
    }
    let n = t["number"].as_i64().unwrap();
    let r = app
        .post(&format!("/api/v1/tickets/{n}/replies"), &ada.token, json!({ "body": "<script>x</script>\n\n**ok**" }))
        .await
        .expect(201);
    assert_eq!(r.body["body_html"].as_str().unwrap().trim(), "<p><strong>ok</strong></p>");
}

#[tokio::test]
async fn assignment_suggestions_and_staff_reports() {
    let app = TestApp::spawn().await;
    let ada = app.student().await;
    let sam = app.support().await;
    let kim = app.support().await;
    // Kim owns the category; with no similar history the suggestion falls back to her.
    app.call(
        poem::http::Method::PUT,
        &format!("/api/v1/categories/{}/owner", app.category_id),
        Some(&app.admin.token),
        Some(json!({ "owner_id": kim.id })),
    )
    .await
    .expect(200);
    let n = app.ticket(&ada).number().await;
    let s = app.get(&format!("/api/v1/tickets/{n}/assignment-suggestion"), &sam.token).await.expect(200);
    assert_eq!(
        (s.body["suggestion"]["member_id"].as_i64(), s.body["suggestion"]["reason"].as_str()),
        (Some(kim.id), Some("category_owner"))
    );
    // A student cannot own a category.
    let bad = app
        .call(
            poem::http::Method::PUT,
            &format!("/api/v1/categories/{}/owner", app.category_id),
            Some(&app.admin.token),
            Some(json!({ "owner_id": ada.id })),
        )
        .await
        .expect(409);
    assert_eq!(bad.body["code"], "not_assignable", "a student is no owner");
    let nobody = app
        .call(
            poem::http::Method::PUT,
            &format!("/api/v1/categories/{}/owner", app.category_id),
            Some(&app.admin.token),
            Some(json!({ "owner_id": 999_999 })),
        )
        .await
        .expect(404);
    assert_eq!(
        (nobody.body["code"].as_str(), nobody.body["field"].as_str()),
        (Some("account_not_found"), Some("owner_id"))
    );

    // The admin assigns it to Sam; Sam resolves it.
    app.call(
        poem::http::Method::PUT,
        &format!("/api/v1/tickets/{n}/assignee"),
        Some(&app.admin.token),
        Some(json!({ "assignee_id": sam.id })),
    )
    .await
    .expect(200);
    let claim = app.post(&format!("/api/v1/tickets/{n}/claim"), &kim.token, json!({})).await.expect(409);
    assert_eq!(claim.body["code"], "already_assigned");
    app.post(&format!("/api/v1/tickets/{n}/resolve"), &sam.token, json!({ "answer": "Done." })).await.expect(200);
    let activity = app.get("/api/v1/me/activity?days=7", &sam.token).await.expect(200);
    assert_eq!((activity.body["resolved"].as_u64(), activity.body["assigned"].as_u64()), (Some(1), Some(1)));
    let staff = app.get("/api/v1/admin/staff", &app.admin.token).await.expect(200);
    let sam_row = staff.body.as_array().unwrap().iter().find(|r| r["member"]["id"] == sam.id).unwrap().clone();
    assert_eq!(sam_row["resolved"], 1);
    let counts = app.get("/api/v1/queue/counts", &sam.token).await.expect(200);
    assert_eq!(counts.body["resolved"], 1);
    let bad_days = app.get("/api/v1/me/activity?days=0", &sam.token).await.expect(422);
    assert_eq!(bad_days.body["field"], "days");
}
