//! The Discourse forum through the real `osts` binary against the stateful fake forum: a
//! student asks for a private thread; osts opens it (the student provisioned through
//! DiscourseConnect's `sync_sso`); a support member's reply on the forum comes back as a
//! signed webhook and notifies the student, once even when Discourse redelivers it; staff
//! make the thread public; resolving closes the topic and reopening the ticket reopens it; an
//! unsigned delivery is refused.
//!
//! And an outage: while the forum is unreachable, then answering 5xx, tickets are raised,
//! given threads and resolved as usual; once the forum answers, the thread work completes,
//! with one topic per ticket and each status note once.

mod support;

use std::time::{Duration, Instant};

use discourse::fake::{FakeConfig, FakeDiscourse, Fault, WebhookTarget};
use reqwest::Method as M;
use serde_json::{json, Value};
use support::{call, confirmation_token, create_admin, eml_files, free_port, Server, TempDir};

const ADMIN_PASSWORD: &str = "forum admin password";
const STUDENT_PASSWORD: &str = "forum student password";
const WEBHOOK_SECRET: &str = "forum webhook secret 0123";
const CONNECT_SECRET: &str = "forum connect secret 0123456789";

/// Polls `check` (up to 20 s) until it holds.
async fn eventually(what: &str, check: impl FnMut() -> bool) {
    eventually_within(Duration::from_secs(20), what, check).await;
}

/// Polls `check` (up to `limit`) until it holds.
async fn eventually_within(limit: Duration, what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ticket_thread_lives_with_its_ticket_on_the_forum_and_replies_come_back() {
    let fake =
        FakeDiscourse::start(FakeConfig { connect_secret: Some(CONNECT_SECRET.into()), ..FakeConfig::default() })
            .await
            .unwrap();
    let dir = TempDir::new("osts-forum");
    let url = fake.url();
    let key = fake.api_key();
    let env = [
        ("OSTS_DISCOURSE_URL", url.as_str()),
        ("OSTS_DISCOURSE_API_KEY", key.as_str()),
        ("OSTS_DISCOURSE_WEBHOOK_SECRET", WEBHOOK_SECRET),
        ("OSTS_DISCOURSE_CONNECT_SECRET", CONNECT_SECRET),
        ("OSTS_DISCOURSE_CATEGORY_ID", "5"),
        ("OSTS_STUDENT_EMAIL_DOMAINS", "uni.edu"),
    ];
    create_admin(&dir.0, &env, ADMIN_PASSWORD);
    let server = Server::start(&dir.0, &env, None);
    fake.set_webhook(Some(WebhookTarget {
        url: format!("{}/webhooks/discourse", server.base),
        secret: WEBHOOK_SECRET.into(),
    }));
    let base = format!("{}/api/v1", server.base);
    let c = reqwest::Client::new();
    let login = |email: &str, password: &str| json!({ "email": email, "password": password });
    let (_, session) =
        call(&c, M::POST, format!("{base}/auth/login"), None, Some(login("head@uni.edu", ADMIN_PASSWORD))).await;
    let admin = session["token"].as_str().unwrap().to_owned();

    let email = "ada.lovelace@uni.edu";
    let registration =
        json!({ "email": email, "display_name": "Ada", "password": STUDENT_PASSWORD, "role": "student" });
    assert_eq!(call(&c, M::POST, format!("{base}/auth/register"), None, Some(registration)).await.0, 201);
    let token = confirmation_token(email, || eml_files(&dir.0)).await;
    assert_eq!(call(&c, M::POST, format!("{base}/auth/confirm"), None, Some(json!({ "token": token }))).await.0, 200);
    let (_, session) =
        call(&c, M::POST, format!("{base}/auth/login"), None, Some(login(email, STUDENT_PASSWORD))).await;
    let student = session["token"].as_str().unwrap().to_owned();
    let (_, me) = call(&c, M::GET, format!("{base}/me"), Some(&student), None).await;
    let username = format!("ada_lovelace_{}", me["id"].as_i64().unwrap());

    let (s, category) =
        call(&c, M::POST, format!("{base}/categories"), Some(&admin), Some(json!({ "name": "Exams" }))).await;
    assert_eq!(s, 201, "{category}");
    let raise = json!({ "title": "Hall ticket not downloadable", "description": "The link gives an error.", "category_id": category["id"] });
    let (s, ticket) = call(&c, M::POST, format!("{base}/tickets"), Some(&student), Some(raise)).await;
    assert_eq!(s, 201, "{ticket}");
    let n = ticket["number"].as_i64().unwrap();

    // A private thread, opened by the outbox as a private message with the student in it.
    let (s, thread) = call(
        &c,
        M::POST,
        format!("{base}/tickets/{n}/thread"),
        Some(&student),
        Some(json!({ "visibility": "private" })),
    )
    .await;
    assert_eq!((s, thread["state"].as_str()), (201, Some("pending")), "{thread}");
    let (s, again) = call(&c, M::POST, format!("{base}/tickets/{n}/thread"), Some(&student), Some(json!({}))).await;
    assert_eq!((s, again["code"].as_str()), (409, Some("thread_exists")));
    eventually("the topic exists", || fake.topic_by_external_id(&format!("osts-{n}")).is_some()).await;
    let topic = fake.topic_by_external_id(&format!("osts-{n}")).unwrap();
    assert!(topic.private, "{topic:?}");
    assert!(topic.allowed_users.contains(&username), "the student reads it: {topic:?}");
    assert!(topic.allowed_groups.contains(&"support".to_owned()), "{topic:?}");
    let ticket_url = format!("{base}/tickets/{n}");
    let mut shown = Value::Null;
    let deadline = Instant::now() + Duration::from_secs(20);
    while shown["thread"]["state"] != "open" {
        assert!(Instant::now() < deadline, "the thread never showed open: {shown}");
        shown = call(&c, M::GET, ticket_url.clone(), Some(&student), None).await.1;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(shown["thread"]["topic_id"], topic.id);
    assert!(shown["thread"]["url"].as_str().unwrap().starts_with(&url), "{shown}");

    // A support member replies on the forum: the student is notified, once.
    fake.add_user("sam_support");
    assert!(fake.add_to_group("sam_support", "support"));
    fake.user_posts(topic.id, "sam_support", "We are reissuing it.").await.unwrap();
    let unread = || {
        let c = c.clone();
        let url = format!("{base}/notifications");
        let student = student.clone();
        async move {
            let (_, page) = call(&c, M::GET, url, Some(&student), None).await;
            page["items"].as_array().unwrap().iter().filter(|n| n["kind"] == "thread_reply").count()
        }
    };
    assert_eq!(unread().await, 1);
    let delivered = fake.webhooks().into_iter().find(|w| w.event == "post_created").unwrap();
    assert_eq!(delivered.status, Some(200));
    fake.retry_webhook(delivered.event_id).await;
    assert_eq!(unread().await, 1, "a redelivery changes nothing");
    let (s, detail) = call(&c, M::GET, format!("{base}/tickets/{n}/thread"), Some(&student), None).await;
    assert_eq!(s, 200, "{detail}");
    assert!(detail["posts"].as_array().unwrap().iter().any(|p| p["username"] == "sam_support"), "{detail}");

    // DiscourseConnect: the forum's signed login request, answered once with the student's
    // signed identity; a tampered signature or a replayed nonce is refused.
    let forum_side = discourse::connect::Connect::new(CONNECT_SECRET, &url);
    let request = format!("nonce=n0nce42&return_sso_url={url}/session/sso_login");
    let sso = {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode(request)
    };
    let sig = forum_side.sign(&sso);
    let no_redirect = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let login = |sig: String| {
        no_redirect
            .get(format!("{}/discourse/connect", server.base))
            .query(&[("sso", sso.as_str()), ("sig", sig.as_str())])
            .bearer_auth(&student)
            .send()
    };
    assert_eq!(login("00".repeat(32)).await.unwrap().status().as_u16(), 400, "a tampered signature");
    let signed_in = login(sig.clone()).await.unwrap();
    assert_eq!(signed_in.status().as_u16(), 302);
    let location = signed_in.headers()["location"].to_str().unwrap().to_owned();
    assert!(location.starts_with(&format!("{url}/session/sso_login?sso=")), "{location}");
    let back = reqwest::Url::parse(&location).unwrap();
    let pairs: std::collections::HashMap<String, String> = back.query_pairs().into_owned().collect();
    assert_eq!(forum_side.sign(&pairs["sso"]), pairs["sig"], "osts signs the identity");
    let identity = {
        use base64::Engine as _;
        String::from_utf8(base64::engine::general_purpose::STANDARD.decode(&pairs["sso"]).unwrap()).unwrap()
    };
    assert!(identity.contains("nonce=n0nce42") && identity.contains(&format!("username={username}")), "{identity}");
    assert!(identity.contains("email=ada.lovelace%40uni.edu"), "{identity}");
    assert_eq!(login(sig).await.unwrap().status().as_u16(), 409, "a replayed nonce");

    // An unsigned delivery is refused.
    let forged = c
        .post(format!("{}/webhooks/discourse", server.base))
        .header("X-Discourse-Event", "post_created")
        .header("X-Discourse-Event-Signature", "sha256=00")
        .body(r#"{"post":{"id":1,"topic_id":1,"post_number":2,"username":"x"}}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status().as_u16(), 401);

    // Staff make it public; resolving closes the topic; reopening the ticket reopens it.
    let (s, _) = call(
        &c,
        M::PUT,
        format!("{base}/tickets/{n}/thread/visibility"),
        Some(&admin),
        Some(json!({ "visibility": "public" })),
    )
    .await;
    assert_eq!(s, 200);
    eventually("the topic is public", || fake.topic(topic.id).is_some_and(|t| !t.private)).await;
    let (s, _) =
        call(&c, M::POST, format!("{base}/tickets/{n}/resolve"), Some(&admin), Some(json!({ "answer": "Reissued." })))
            .await;
    assert_eq!(s, 200);
    eventually("the topic is closed", || fake.topic(topic.id).is_some_and(|t| t.closed)).await;
    let (s, _) = call(
        &c,
        M::POST,
        format!("{base}/tickets/{n}/reopen"),
        Some(&student),
        Some(json!({ "reason": "Still broken" })),
    )
    .await;
    assert_eq!(s, 200);
    eventually("the topic is open again", || fake.topic(topic.id).is_some_and(|t| !t.closed)).await;
    assert_eq!(fake.stats().topics_created, 1, "one topic, however the jobs ran");
    assert!(server.stop());
}

/// Signs a student up (registered, confirmed, signed in); their token.
async fn student(c: &reqwest::Client, base: &str, dir: &std::path::Path, email: &str) -> String {
    let registration =
        json!({ "email": email, "display_name": "Ada", "password": STUDENT_PASSWORD, "role": "student" });
    assert_eq!(call(c, M::POST, format!("{base}/auth/register"), None, Some(registration)).await.0, 201);
    let token = confirmation_token(email, || eml_files(dir)).await;
    assert_eq!(call(c, M::POST, format!("{base}/auth/confirm"), None, Some(json!({ "token": token }))).await.0, 200);
    let login = json!({ "email": email, "password": STUDENT_PASSWORD });
    let (_, session) = call(c, M::POST, format!("{base}/auth/login"), None, Some(login)).await;
    session["token"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tickets_live_through_a_forum_outage_and_their_threads_follow_once_it_is_back() {
    // Nothing listens on this port until the forum "comes back".
    let port = free_port();
    let dir = TempDir::new("osts-forum-outage");
    let url = format!("http://127.0.0.1:{port}");
    let key = discourse::fake::FAKE_API_KEY;
    let env = [
        ("OSTS_DISCOURSE_URL", url.as_str()),
        ("OSTS_DISCOURSE_API_KEY", key),
        ("OSTS_DISCOURSE_CONNECT_SECRET", CONNECT_SECRET),
        ("OSTS_DISCOURSE_CATEGORY_ID", "5"),
        ("OSTS_STUDENT_EMAIL_DOMAINS", "uni.edu"),
    ];
    create_admin(&dir.0, &env, ADMIN_PASSWORD);
    let log = dir.0.join("server.log");
    let server = Server::start(&dir.0, &env, Some(&log));
    let base = format!("{}/api/v1", server.base);
    let c = reqwest::Client::new();
    let login = json!({ "email": "head@uni.edu", "password": ADMIN_PASSWORD });
    let (_, session) = call(&c, M::POST, format!("{base}/auth/login"), None, Some(login)).await;
    let admin = session["token"].as_str().unwrap().to_owned();
    let student = student(&c, &base, &dir.0, "ada@uni.edu").await;
    let (_, category) =
        call(&c, M::POST, format!("{base}/categories"), Some(&admin), Some(json!({ "name": "Exams" }))).await;

    // Raising, asking for a thread and resolving do not wait for the forum.
    let raise_and_resolve = |title: &'static str| {
        let (c, base, student, admin, category) =
            (c.clone(), base.clone(), student.clone(), admin.clone(), category["id"].clone());
        async move {
            let raise = json!({ "title": title, "description": "The link gives an error.", "category_id": category });
            let (s, ticket) = call(&c, M::POST, format!("{base}/tickets"), Some(&student), Some(raise)).await;
            assert_eq!(s, 201, "{ticket}");
            let n = ticket["number"].as_i64().unwrap();
            let thread = json!({ "visibility": "private" });
            let (s, thread) =
                call(&c, M::POST, format!("{base}/tickets/{n}/thread"), Some(&student), Some(thread)).await;
            assert_eq!((s, thread["state"].as_str()), (201, Some("pending")), "{thread}");
            let answer = json!({ "answer": "Reissued." });
            let (s, resolved) =
                call(&c, M::POST, format!("{base}/tickets/{n}/resolve"), Some(&admin), Some(answer)).await;
            assert_eq!((s, resolved["status"].as_str()), (200, Some("resolved")), "{resolved}");
            n
        }
    };
    let first = raise_and_resolve("Hall ticket not downloadable").await;
    let logged = || std::fs::read_to_string(&log).unwrap_or_default();
    eventually_within(Duration::from_secs(30), "osts tried the unreachable forum", || {
        logged().contains("delivery failed; will retry")
    })
    .await;

    // The forum comes back, first answering 503 (a proxy's page) twice.
    let fake = FakeDiscourse::start_on(
        FakeConfig { connect_secret: Some(CONNECT_SECRET.into()), ..FakeConfig::default() },
        port,
    )
    .await
    .expect("the reserved port is free again");
    for _ in 0..2 {
        fake.fail_next(Fault::Status { status: 503, body: "<html>Service Unavailable</html>".into() });
    }
    let second = raise_and_resolve("Quiz grade missing").await;

    for n in [first, second] {
        eventually_within(Duration::from_secs(60), &format!("ticket {n}'s topic is closed"), || {
            fake.topic_by_external_id(&format!("osts-{n}")).is_some_and(|t| t.closed)
        })
        .await;
        let topic = fake.topic_by_external_id(&format!("osts-{n}")).unwrap();
        let notes: Vec<String> =
            fake.posts(topic.id).into_iter().filter(|p| p.post_type == 1 && p.post_number > 1).map(|p| p.raw).collect();
        assert_eq!(notes.iter().filter(|r| r.starts_with("**Status:** resolved")).count(), 1, "{notes:?}");
        let unique: std::collections::BTreeSet<&String> = notes.iter().collect();
        assert_eq!(unique.len(), notes.len(), "no note twice: {notes:?}");
    }
    let topics = fake.topics();
    assert_eq!(topics.len(), 2, "one topic per ticket: {topics:?}");
    assert_eq!(fake.stats().topics_created, 2);
    assert!(fake.requests().iter().any(|r| r.status == 503), "the 5xx answers were met");
    let (_, shown) = call(&c, M::GET, format!("{base}/tickets/{first}"), Some(&student), None).await;
    assert_eq!(shown["thread"]["topic_id"], fake.topic_by_external_id(&format!("osts-{first}")).unwrap().id);
    assert!(server.stop());
}
