//! Casting and retracting votes.

mod support;

use serde_json::json;
use support::TestApp;

#[tokio::test]
async fn a_vote_counts_once_and_can_be_taken_back() {
    let app = TestApp::spawn().await;
    let owner = app.student().await;
    let voter = app.student().await;
    let number = app.ticket(&owner).number().await;
    let vote = format!("/api/v1/tickets/{number}/vote");

    let state = app.put(&vote, &voter.token).await.expect(200).body;
    assert_eq!(state, json!({ "number": number, "vote_count": 1, "voted": true }));
    let state = app.put(&vote, &voter.token).await.expect(200).body;
    assert_eq!(state, json!({ "number": number, "vote_count": 1, "voted": true }), "voting twice counts once");

    let seen_by_voter = app.get(&format!("/api/v1/tickets/{number}"), &voter.token).await.expect(200).body;
    assert_eq!((seen_by_voter["vote_count"].as_i64(), seen_by_voter["voted"].as_bool()), (Some(1), Some(true)));
    let seen_by_owner = app.get(&format!("/api/v1/tickets/{number}"), &owner.token).await.expect(200).body;
    assert_eq!((seen_by_owner["vote_count"].as_i64(), seen_by_owner["voted"].as_bool()), (Some(1), Some(false)));

    let state = app.delete(&vote, &voter.token).await.expect(200).body;
    assert_eq!(state, json!({ "number": number, "vote_count": 0, "voted": false }));
    let state = app.delete(&vote, &voter.token).await.expect(200).body;
    assert_eq!(state, json!({ "number": number, "vote_count": 0, "voted": false }), "retracting twice changes nothing");

    let history = app.get(&format!("/api/v1/tickets/{number}/history"), &owner.token).await.expect(200).body;
    let kinds: Vec<&str> = history.as_array().unwrap().iter().map(|e| e["change"]["kind"].as_str().unwrap()).collect();
    // The voter started watching with their vote; retracting does not stop it.
    assert_eq!(kinds, vec!["created", "vote_cast", "vote_retracted"]);
    assert_eq!(seen_by_voter["watching"], true);
}

#[tokio::test]
async fn votes_from_several_students_add_up() {
    let app = TestApp::spawn().await;
    let owner = app.student().await;
    let number = app.ticket(&owner).number().await;
    for expected in 1..=3 {
        let voter = app.student().await;
        let state = app.put(&format!("/api/v1/tickets/{number}/vote"), &voter.token).await.expect(200).body;
        assert_eq!(state["vote_count"], expected);
    }
}

#[tokio::test]
async fn refused_votes() {
    let app = TestApp::spawn().await;
    let owner = app.student().await;
    let voter = app.student().await;
    let support = app.support().await;
    let number = app.ticket(&owner).number().await;
    let vote = format!("/api/v1/tickets/{number}/vote");

    app.put(&vote, &owner.token).await.expect_error(403, "own_ticket");
    app.delete(&vote, &owner.token).await.expect_error(403, "own_ticket");
    app.put(&vote, &support.token).await.expect_error(403, "role_not_allowed");
    app.put(&vote, &app.admin.token).await.expect_error(403, "role_not_allowed");
    app.put("/api/v1/tickets/999999/vote", &voter.token).await.expect_error(404, "ticket_not_found");

    let path = format!("/api/v1/tickets/{number}");
    app.post(&format!("{path}/resolve"), &support.token, json!({ "answer": "Done." })).await.expect(200);
    app.patch(&path, &support.token, json!({ "status": "closed" })).await.expect(200);
    app.put(&vote, &voter.token).await.expect_error(409, "ticket_closed");

    let ticket = app.get(&path, &owner.token).await.expect(200).body;
    assert_eq!(ticket["vote_count"], 0, "no refused vote was counted");
}

#[tokio::test]
async fn voters_are_hidden_from_other_students_but_not_from_staff_or_themselves() {
    let app = TestApp::spawn().await;
    let owner = app.student().await;
    let voter = app.student().await;
    let bystander = app.student().await;
    let support = app.support().await;
    let number = app.ticket(&owner).number().await;
    app.put(&format!("/api/v1/tickets/{number}/vote"), &voter.token).await.expect(200);
    app.put(&format!("/api/v1/tickets/{number}/watch"), &bystander.token).await.expect(200);
    let history = format!("/api/v1/tickets/{number}/history");

    // (kind, actor id) of every vote and watch event as `viewer` sees them.
    let seen = |body: serde_json::Value| -> Vec<(String, Option<i64>)> {
        body.as_array()
            .unwrap()
            .iter()
            .filter(|e| e["change"]["kind"] != "created")
            .map(|e| (e["change"]["kind"].as_str().unwrap().to_owned(), e["actor"]["id"].as_i64()))
            .collect()
    };
    let all = vec![("vote_cast".to_owned(), Some(voter.id)), ("watched".to_owned(), Some(bystander.id))];
    assert_eq!(seen(app.get(&history, &support.token).await.expect(200).body), all);
    assert_eq!(seen(app.get(&history, &app.admin.token).await.expect(200).body), all);
    assert_eq!(
        seen(app.get(&history, &owner.token).await.expect(200).body),
        vec![("vote_cast".to_owned(), None), ("watched".to_owned(), None)],
        "the creator sees that someone voted and watched, not who"
    );
    assert_eq!(
        seen(app.get(&history, &voter.token).await.expect(200).body),
        vec![("vote_cast".to_owned(), Some(voter.id)), ("watched".to_owned(), None)],
        "the voter sees their own vote"
    );
    assert_eq!(
        seen(app.get(&history, &bystander.token).await.expect(200).body),
        vec![("vote_cast".to_owned(), None), ("watched".to_owned(), Some(bystander.id))]
    );
    let ticket = app.get(&format!("/api/v1/tickets/{number}"), &owner.token).await.expect(200).body;
    assert_eq!(ticket["vote_count"], 1, "counts stay");
    let created = app.get(&history, &bystander.token).await.expect(200).body[0].clone();
    assert_eq!(created["actor"]["id"], owner.id, "other events keep their actor");
}
