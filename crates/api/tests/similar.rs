//! `GET|POST /api/v1/tickets/similar`: suggestions while drafting.

mod support;

use std::sync::Arc;

use async_trait::async_trait;
use domain::similarity::{EmbedError, Embedder, Embedding, SemanticState};
use poem::http::Method;
use serde_json::{json, Value};
use support::{Options, TestApp};

/// Percent-encodes a query value.
fn enc(s: &str) -> String {
    s.bytes().map(|b| if b.is_ascii_alphanumeric() { (b as char).to_string() } else { format!("%{b:02X}") }).collect()
}

fn numbers(body: &Value) -> Vec<i64> {
    body["items"].as_array().unwrap().iter().map(|i| i["number"].as_i64().unwrap()).collect()
}

#[tokio::test]
async fn suggestions_cover_the_concern_with_votes_and_resolved_tickets() {
    let app = TestApp::spawn().await;
    let ada = app.student().await;
    let bo = app.student().await;
    let support = app.support().await;
    let results = app
        .ticket(&ada)
        .with("title", json!("Exam results missing from the portal"))
        .with("description", json!("I sat the final exam in May\nbut no mark is shown."))
        .number()
        .await;
    let library = app.ticket(&ada).with("title", json!("Library card broken")).number().await;
    app.post(&format!("/api/v1/tickets/{results}/resolve"), &support.token, json!({ "answer": "Marks are back." }))
        .await
        .expect(200);
    app.put(&format!("/api/v1/tickets/{results}/vote"), &bo.token).await.expect(200);

    let body = app.get("/api/v1/tickets/similar?title=exam%20results", &bo.token).await.expect(200).body;
    assert_eq!(body["ranking"], "lexical");
    assert_eq!(numbers(&body), vec![results]);
    let item = &body["items"][0];
    assert_eq!(item["status"], "resolved");
    assert_eq!(item["voted"], true);
    assert_eq!(item["vote_count"], 1);
    assert_eq!(item["may_vote"], true);
    assert_eq!(item["category_id"], app.category_id);
    assert_eq!(item["snippet"], "I sat the final exam in May but no mark is shown.");
    let score = item["score"].as_f64().unwrap();
    assert!(score > 0.0 && score <= 1.0, "{score}");
    assert!(!numbers(&body).contains(&library));

    // The creator sees it too, but may not vote on their own ticket.
    let body = app.get("/api/v1/tickets/similar?title=exam%20results", &ada.token).await.expect(200).body;
    assert_eq!(body["items"][0]["may_vote"], false);

    // The POST form answers the same.
    let posted = app.post("/api/v1/tickets/similar", &bo.token, json!({ "title": "exam results" })).await.expect(200);
    assert_eq!(numbers(&posted.body), vec![results]);
}

#[tokio::test]
async fn nothing_similar_is_an_empty_list() {
    let app = TestApp::spawn().await;
    let ada = app.student().await;
    app.ticket(&ada).with("title", json!("Library card broken")).create().await;
    for query in ["title=parking%20permit", "title=", "", "title=the%20and%20of"] {
        let body = app.get(&format!("/api/v1/tickets/similar?{query}"), &ada.token).await.expect(200).body;
        assert_eq!(body["items"], json!([]), "{query}");
    }
}

#[tokio::test]
async fn hostile_drafts_are_answered_not_failed() {
    let app = TestApp::spawn().await;
    let ada = app.student().await;
    let number = app.ticket(&ada).with("title", json!("Exam results missing")).number().await;
    let long = "exam ".repeat(2_000);
    for text in ["\"exam", "exam*", "NEAR(exam results)", "-exam", "'; DROP TABLE tickets; --", "考试 🎓 ünï", &long]
    {
        // A query takes the first 4,000 characters (see below), the body all of them.
        let query: String = text.chars().take(4_000).collect();
        let body = app
            .get(&format!("/api/v1/tickets/similar?title=x&description={}", enc(&query)), &ada.token)
            .await
            .expect(200)
            .body;
        assert!(body["items"].is_array(), "{body}");
        let body = app.post("/api/v1/tickets/similar", &ada.token, json!({ "description": text })).await.expect(200);
        assert!(body.body["items"].is_array());
    }
    let body = app.get("/api/v1/tickets/similar?title=%22exam%22%20-results*", &ada.token).await.expect(200).body;
    assert_eq!(numbers(&body), vec![number]);
}

#[tokio::test]
async fn limits_and_oversized_drafts_are_refused() {
    let app = TestApp::spawn().await;
    let ada = app.student().await;
    for limit in [0, 21] {
        let body = app
            .get(&format!("/api/v1/tickets/similar?title=exam&limit={limit}"), &ada.token)
            .await
            .expect_error(422, "out_of_range");
        assert_eq!(body["field"], "limit");
    }
    app.get("/api/v1/tickets/similar?title=exam&limit=20", &ada.token).await.expect(200);
    let body = app
        .post("/api/v1/tickets/similar", &ada.token, json!({ "title": "exam", "description": "x".repeat(20_001) }))
        .await
        .expect_error(422, "too_long");
    assert_eq!(body["field"], "description");
    // A URL holds less: the query form takes 4,000 characters of description.
    let body = app
        .get(&format!("/api/v1/tickets/similar?title=exam&description={}", "x".repeat(4_001)), &ada.token)
        .await
        .expect_error(422, "too_long");
    assert_eq!(body["field"], "description");
    app.get(&format!("/api/v1/tickets/similar?title=exam&description={}", "x".repeat(4_000)), &ada.token)
        .await
        .expect(200);
}

#[tokio::test]
async fn limit_caps_the_answer() {
    let app = TestApp::spawn().await;
    let ada = app.student().await;
    for i in 0..4 {
        app.ticket(&ada).with("title", json!(format!("Exam results missing {i}"))).create().await;
    }
    let body = app.get("/api/v1/tickets/similar?title=exam%20results&limit=2", &ada.token).await.expect(200).body;
    assert_eq!(numbers(&body).len(), 2);
    let body = app.get("/api/v1/tickets/similar?title=exam%20results", &ada.token).await.expect(200).body;
    assert_eq!(numbers(&body).len(), 4);
}

/// A stand-in for a sentence model: words of one concept share a dimension, so
/// paraphrases without a common word are near.
struct ConceptEmbedder;

const CONCEPTS: &[&[&str]] = &[
    &["exam", "results", "grades", "marks", "published", "midterm"],
    &["library", "card", "book", "loan"],
    &["fee", "refund", "charged", "payment"],
];

#[async_trait]
impl Embedder for ConceptEmbedder {
    fn state(&self) -> SemanticState {
        SemanticState::Ready
    }
    fn model_id(&self) -> String {
        "concepts@1".into()
    }
    async fn embed(&self, texts: Vec<String>) -> Result<Vec<Embedding>, EmbedError> {
        Ok(texts
            .iter()
            .map(|t| {
                let mut v = vec![0.0f32; CONCEPTS.len() + 1];
                v[CONCEPTS.len()] = 0.1;
                for w in t.to_lowercase().split(|c: char| !c.is_alphanumeric()) {
                    if let Some(i) = CONCEPTS.iter().position(|c| c.contains(&w)) {
                        v[i] += 1.0;
                    }
                }
                Embedding::normalised(v).unwrap()
            })
            .collect())
    }
}

#[tokio::test]
async fn with_a_ready_model_paraphrases_are_found_and_ranking_is_blended() {
    let app = TestApp::spawn_with(Options { embedder: Some(Arc::new(ConceptEmbedder)), ..Options::default() }).await;
    let ada = app.student().await;
    let grades = app
        .ticket(&ada)
        .with("title", json!("Grades not published yet"))
        .with("description", json!("Marks for the midterm never appeared."))
        .number()
        .await;
    let library = app.ticket(&ada).with("title", json!("Library card broken")).number().await;

    // Before the worker embedded them, no word in common means no suggestion.
    let before = app.get("/api/v1/tickets/similar?title=exam%20results", &ada.token).await.expect(200).body;
    assert_eq!(before["ranking"], "blended");
    assert!(numbers(&before).is_empty());

    assert_eq!(app.similarity.embed_pending(100).await.unwrap(), 2);
    let after = app.get("/api/v1/tickets/similar?title=exam%20results", &ada.token).await.expect(200).body;
    assert_eq!(numbers(&after), vec![grades]);
    assert!(!numbers(&after).contains(&library));

    let health = app.call(Method::GET, "/healthz", None, None).await.expect(200).body;
    assert_eq!(health["checks"]["semantic"], "ready");
}

/// Ids of the FAQ entries among suggestions, in order.
fn entries(body: &Value) -> Vec<i64> {
    body["items"].as_array().unwrap().iter().filter_map(|i| i["faq_entry_id"].as_i64()).collect()
}

#[tokio::test]
async fn a_published_faq_entry_is_suggested_with_tickets_and_an_unpublished_one_is_not() {
    let app = TestApp::spawn_with(Options { embedder: Some(Arc::new(ConceptEmbedder)), ..Options::default() }).await;
    let ada = app.student().await;
    let bo = app.student().await;
    let admin = &app.admin.token;
    let ticket = app.ticket(&ada).with("title", json!("Exam results missing for algebra")).number().await;
    let new_entry = |question: &str, answer: &str| json!({ "question": question, "answer": answer, "category_id": app.category_id });
    let body = new_entry("Where are my exam results?", "Results are **published** a week after the exam.");
    let entry = app.post("/api/v1/faq", admin, body).await.expect(201).body["id"].as_i64().unwrap();
    let hidden = app
        .post("/api/v1/faq", admin, new_entry("Exam results for the secret draft", "Not for students."))
        .await
        .expect(201)
        .body["id"]
        .as_i64()
        .unwrap();
    app.post(&format!("/api/v1/faq/{entry}/publish"), admin, json!({})).await.expect(200);

    // Lexical at first (nothing embedded yet): the entry is among the first suggestions,
    // marked as FAQ, with its question, category and the start of its answer.
    let body = app.get("/api/v1/tickets/similar?title=my%20exam%20results", &bo.token).await.expect(200).body;
    assert_eq!(entries(&body), vec![entry], "{body}");
    assert_eq!(numbers_of_tickets(&body), vec![ticket]);
    let item = body["items"].as_array().unwrap().iter().find(|i| i["kind"] == "faq").unwrap();
    assert_eq!(item["question"], "Where are my exam results?");
    assert_eq!(item["title"], "Where are my exam results?");
    assert_eq!(item["category_id"], app.category_id);
    assert_eq!(item["snippet"], "Results are **published** a week after the exam.");
    assert_eq!((item["may_vote"].as_bool(), item["vote_count"].as_u64()), (Some(false), Some(0)));
    assert!(item.get("number").is_none() && item.get("status").is_none(), "{item}");
    let ticket_item = body["items"].as_array().unwrap().iter().find(|i| i["kind"] == "ticket").unwrap();
    assert_eq!(ticket_item["number"], ticket);
    assert!(ticket_item.get("faq_entry_id").is_none());

    // Once embedded, a paraphrase with no word in common finds it by meaning.
    app.similarity.embed_pending(100).await.unwrap();
    app.similarity.embed_pending(100).await.unwrap();
    let body = app.get("/api/v1/tickets/similar?title=midterm%20grades", &bo.token).await.expect(200).body;
    assert_eq!(body["ranking"], "blended");
    assert!(entries(&body).contains(&entry), "{body}");

    // Unpublished entries are never suggested, whatever their words.
    app.post(&format!("/api/v1/faq/{entry}/unpublish"), admin, json!({})).await.expect(200);
    for q in ["my%20exam%20results", "midterm%20grades", "secret%20draft"] {
        let body = app.get(&format!("/api/v1/tickets/similar?title={q}"), &bo.token).await.expect(200).body;
        assert!(!entries(&body).contains(&entry) && !entries(&body).contains(&hidden), "{q}: {body}");
    }
}

/// Numbers of the tickets among suggestions, in order.
fn numbers_of_tickets(body: &Value) -> Vec<i64> {
    body["items"].as_array().unwrap().iter().filter_map(|i| i["number"].as_i64()).collect()
}
