//! Escalation through the real `osts` binary: an admin adds a chat webhook pointing at a local
//! Google Chat sink; an urgent ticket posts one card there by the delivery job; claiming and
//! resolving it reply in the same thread; the webhook's secret never appears in the log.

mod support;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use poem::listener::{Acceptor as _, Listener as _, TcpListener};
use poem::web::{Data, Json, Query};
use poem::{handler, post, EndpointExt as _, Route};
use reqwest::Method as M;
use serde_json::{json, Value};
use support::{call, create_admin, Server, TempDir};

const ADMIN_PASSWORD: &str = "escalation admin password";
const WEBHOOK_SECRET: &str = "SECRET-webhook-token-7f3a9c";

type Received = Arc<Mutex<Vec<(Vec<(String, String)>, Value)>>>;

#[handler]
fn google_chat(Query(query): Query<Vec<(String, String)>>, Json(body): Json<Value>, got: Data<&Received>) -> String {
    got.lock().unwrap().push((query, body));
    r#"{"name":"spaces/S/messages/M"}"#.into()
}

/// Waits (polling, up to 20 s) until the sink has `n` messages; returns them.
async fn wait_for(got: &Received, n: usize) -> Vec<(Vec<(String, String)>, Value)> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let now = got.lock().unwrap().clone();
        if now.len() >= n || Instant::now() > deadline {
            return now;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_urgent_ticket_posts_one_card_and_its_assignment_and_resolution_reply_in_its_thread() {
    let got: Received = Arc::default();
    let acceptor = TcpListener::bind("127.0.0.1:0").into_acceptor().await.unwrap();
    let sink = acceptor.local_addr()[0].as_socket_addr().copied().unwrap();
    let app = Route::new().at("/v1/spaces/:space/messages", post(google_chat)).data(got.clone());
    tokio::spawn(poem::Server::new_with_acceptor(acceptor).run(app));

    let dir = TempDir::new("osts-escalation");
    let env = [
        ("OSTS_CHAT_WEBHOOK_HOSTS", "127.0.0.1"),
        ("OSTS_CHAT_ALLOW_HTTP", "true"),
        ("OSTS_LOG", "debug"),
        ("OSTS_PUBLIC_URL", "https://help.uni.edu"),
    ];
    create_admin(&dir.0, &env, ADMIN_PASSWORD);
    let log_path = dir.0.join("serve.log");
    let server = Server::start(&dir.0, &env, Some(&log_path));
    let base = format!("{}/api/v1", server.base);
    let c = reqwest::Client::new();
    let login = json!({ "email": "head@uni.edu", "password": ADMIN_PASSWORD });
    let (s, session) = call(&c, M::POST, format!("{base}/auth/login"), None, Some(login)).await;
    assert_eq!(s, 200, "{session}");
    let admin = session["token"].as_str().unwrap().to_owned();
    let token = Some(admin.as_str());

    let (s, category) = call(&c, M::POST, format!("{base}/categories"), token, Some(json!({ "name": "Exams" }))).await;
    assert_eq!(s, 201, "{category}");
    let url = format!("http://{sink}/v1/spaces/PROGRAM/messages?key=KEY&token={WEBHOOK_SECRET}");
    let (s, hook) = call(
        &c,
        M::POST,
        format!("{base}/admin/chat/webhooks"),
        token,
        Some(json!({ "name": "Program office", "url": url })),
    )
    .await;
    assert_eq!(s, 201, "{hook}");
    assert_eq!(hook["url"], format!("http://{sink}/…{}", &WEBHOOK_SECRET[WEBHOOK_SECRET.len() - 4..]));

    let raise =
        json!({ "title": "Exam portal down for everyone", "category_id": category["id"], "priority": "urgent" });
    let (s, ticket) = call(&c, M::POST, format!("{base}/tickets"), token, Some(raise)).await;
    assert_eq!(s, 201, "{ticket}");
    let n = ticket["number"].as_i64().unwrap();
    let first = wait_for(&got, 1).await;
    assert_eq!(first.len(), 1, "one card for the escalation");
    let (query, body) = &first[0];
    assert!(query.iter().any(|(k, v)| k == "messageReplyOption" && v == "REPLY_MESSAGE_FALLBACK_TO_NEW_THREAD"));
    assert!(query.iter().any(|(k, v)| k == "token" && v == WEBHOOK_SECRET), "posted to the webhook as given");
    assert_eq!(body["thread"]["threadKey"], format!("ticket-{n}"));
    assert_eq!(body["cardsV2"][0]["card"]["header"]["subtitle"], "escalated: urgent priority");
    let text = body["text"].as_str().unwrap();
    assert!(text.contains(&format!("<https://help.uni.edu/tickets/{n}|")), "{text}");

    let (s, _) = call(&c, M::POST, format!("{base}/tickets/{n}/claim"), token, Some(json!({}))).await;
    assert_eq!(s, 200);
    let (s, _) =
        call(&c, M::POST, format!("{base}/tickets/{n}/resolve"), token, Some(json!({ "answer": "Back up." }))).await;
    assert_eq!(s, 200);
    // Claiming assigns and starts work; resolving resolves: each event one reply.
    let all = wait_for(&got, 4).await;
    let subtitles: Vec<String> =
        all.iter().map(|(_, b)| b["cardsV2"][0]["card"]["header"]["subtitle"].as_str().unwrap().to_owned()).collect();
    assert!(subtitles.iter().any(|s| s.starts_with("assigned to Head")), "{subtitles:?}");
    assert!(subtitles.iter().any(|s| s == "resolved by Head"), "{subtitles:?}");
    assert!(all.iter().all(|(_, b)| b["thread"]["threadKey"] == format!("ticket-{n}")), "{subtitles:?}");
    let ids: std::collections::HashSet<String> =
        all.iter().map(|(q, _)| q.iter().find(|(k, _)| k == "requestId").map(|(_, v)| v.clone()).unwrap()).collect();
    assert_eq!(ids.len(), all.len(), "one message per event: {subtitles:?}");

    assert!(server.stop(), "a clean stop");
    let log = std::fs::read_to_string(&log_path).unwrap();
    assert!(log.contains("OSTS_CHAT_ALLOW_HTTP is on"), "plain http is announced");
    assert!(!log.contains(WEBHOOK_SECRET), "the webhook's secret is never logged");
}
