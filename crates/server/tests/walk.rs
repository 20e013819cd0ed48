//! End to end: the real `osts` binary on port 0 with a fresh SQLite file, walked through the
//! foundation's story over HTTP.

use serde_json::json;
use support::{call, confirmation_token, eml_files, osts, Server};

mod support;

/// The first admin's password, given to `osts admin create` through its environment.
const ADMIN_PASSWORD: &[(&str, &str)] = &[("OSTS_ADMIN_PASSWORD", "admin password 1")];

#[tokio::test]
async fn the_foundation_walk() {
    let dir = std::env::temp_dir().join(format!("osts-walk-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);

    // The first admin comes from the CLI; the database is created on the way.
    let out = osts(&dir, &["admin", "create", "--email", "head@uni.edu", "--name", "Head of Support"], ADMIN_PASSWORD);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(dir.join("osts.db").exists());
    let again = osts(&dir, &["admin", "create", "--email", "head@uni.edu", "--name", "Twice"], ADMIN_PASSWORD);
    assert!(!again.status.success(), "a second admin with the same email is refused");

    let server = Server::start(&dir, &[], None);
    let base = format!("{}/api/v1", server.base);
    let c = reqwest::Client::new();
    use reqwest::Method as M;

    let (s, health) = call(&c, M::GET, format!("{}/healthz", server.base), None, None).await;
    assert_eq!((s, health["status"].as_str()), (200, Some("ok")));
    assert_eq!(health["checks"]["semantic"], "disabled");

    let (s, login) = call(
        &c,
        M::POST,
        format!("{base}/auth/login"),
        None,
        Some(json!({"email": "head@uni.edu", "password": "admin password 1"})),
    )
    .await;
    assert_eq!(s, 200, "{login}");
    let admin = login["token"].as_str().unwrap().to_owned();

    let mut tokens = Vec::new();
    for (email, role) in [("ada@uni.edu", "student"), ("bo@uni.edu", "student"), ("sam@uni.edu", "support")] {
        let (s, acc) = call(
            &c,
            M::POST,
            format!("{base}/auth/register"),
            None,
            Some(json!({"email": email, "display_name": email, "password": "long enough pw", "role": role})),
        )
        .await;
        assert_eq!(s, 201, "{acc}");
        assert_eq!(acc["status"], "pending");
        let id = acc["id"].as_i64().unwrap();
        let (s, refused) = call(
            &c,
            M::POST,
            format!("{base}/auth/login"),
            None,
            Some(json!({"email": email, "password": "long enough pw"})),
        )
        .await;
        assert_eq!((s, refused["code"].as_str()), (403, Some("email_unconfirmed")));
        let token = confirmation_token(email, || eml_files(&dir)).await;
        let (s, confirmed) =
            call(&c, M::POST, format!("{base}/auth/confirm"), None, Some(json!({ "token": token }))).await;
        assert_eq!((s, confirmed["email_confirmed"].as_bool()), (200, Some(true)), "{confirmed}");
        let (s, _) = call(&c, M::POST, format!("{base}/admin/users/{id}/approve"), Some(&admin), None).await;
        assert_eq!(s, 200);
        let (s, login) = call(
            &c,
            M::POST,
            format!("{base}/auth/login"),
            None,
            Some(json!({"email": email, "password": "long enough pw"})),
        )
        .await;
        assert_eq!(s, 200);
        tokens.push(login["token"].as_str().unwrap().to_owned());
    }
    let (ada, bo, sam) = (&tokens[0], &tokens[1], &tokens[2]);

    let (s, cat) = call(&c, M::POST, format!("{base}/categories"), Some(&admin), Some(json!({"name": "Exams"}))).await;
    assert_eq!(s, 201, "{cat}");
    let (s, ticket) = call(
        &c,
        M::POST,
        format!("{base}/tickets"),
        Some(ada),
        Some(json!({"title": "Quiz 2 grade is missing", "description": "My **quiz 2** grade is not on the portal.", "category_id": cat["id"], "priority": "medium"})),
    )
    .await;
    assert_eq!(s, 201, "{ticket}");
    let n = ticket["number"].as_i64().unwrap();

    // Bo drafts the same concern and is shown Ada's ticket to vote on instead. The in-memory
    // lexical index catches up after the ticket's commit (the lexical job is woken then), so
    // the ticket appears within moments, not necessarily on the very next request.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let similar = loop {
        let (s, similar) =
            call(&c, M::GET, format!("{base}/tickets/similar?title=quiz%20grade%20missing"), Some(bo), None).await;
        assert_eq!(s, 200, "{similar}");
        if similar["items"][0]["number"] == n || std::time::Instant::now() > deadline {
            break similar;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    assert_eq!(similar["items"][0]["number"], n, "{similar}");
    assert_eq!(similar["ranking"], "lexical");

    for _ in 0..2 {
        let (s, vote) = call(&c, M::PUT, format!("{base}/tickets/{n}/vote"), Some(bo), None).await;
        assert_eq!(s, 200, "{vote}");
        assert_eq!(vote["vote_count"], 1, "voting twice still counts once");
    }
    let (s, _) = call(&c, M::PATCH, format!("{base}/tickets/{n}"), Some(sam), Some(json!({"priority": "high"}))).await;
    assert_eq!(s, 200);

    let (s, history) = call(&c, M::GET, format!("{base}/tickets/{n}/history"), Some(ada), None).await;
    assert_eq!(s, 200);
    let kinds: Vec<_> =
        history.as_array().unwrap().iter().map(|e| e["change"]["kind"].as_str().unwrap().to_owned()).collect();
    assert_eq!(kinds, ["created", "vote_cast", "priority_changed"]);

    // Graceful shutdown on SIGTERM exits cleanly.
    assert!(server.stop(), "a clean stop");
    let _ = std::fs::remove_dir_all(&dir);
}
