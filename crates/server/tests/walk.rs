//! End to end: the real `osts` binary on port 0 with a fresh SQLite file, walked through the
//! foundation's story over HTTP.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use serde_json::{json, Value};

struct Server {
    child: Child,
    base: String,
}

impl Server {
    fn start(data_dir: &Path) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_osts"))
            .arg("serve")
            .env("OSTS_BIND", "127.0.0.1:0")
            .env("OSTS_DATA_DIR", data_dir)
            // No model download in this walk: suggestions are lexical.
            .env("OSTS_SEMANTIC_SEARCH", "off")
            // Confirmation emails are written as .eml files within a second.
            .env("OSTS_DELIVERY_INTERVAL_SECS", "1")
            .env_remove("OSTS_DATABASE_URL")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start osts serve");
        // The server prints its address once it accepts connections.
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let base = line.trim().strip_prefix("osts listening on ").expect("address line").to_owned();
        Self { child, base }
    }

    fn stop(mut self) -> std::process::ExitStatus {
        let status = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status().unwrap();
        assert!(status.success());
        self.child.wait().unwrap()
    }
}

fn osts(data_dir: &Path, args: &[&str], password: &str) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_osts"))
        .args(args)
        .env("OSTS_DATA_DIR", data_dir)
        .env("OSTS_ADMIN_PASSWORD", password)
        .env_remove("OSTS_DATABASE_URL")
        .output()
        .unwrap()
}

async fn call(
    client: &reqwest::Client,
    method: reqwest::Method,
    url: String,
    token: Option<&str>,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = client.request(method, url);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// The token of the confirmation link in the `.eml` file the server wrote for `email`,
/// waiting for the delivery worker to write it (the process gives no other signal).
fn confirmation_token(data_dir: &Path, email: &str) -> String {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        for entry in std::fs::read_dir(data_dir.join("outbox-mail")).into_iter().flatten() {
            let raw = std::fs::read_to_string(entry.unwrap().path()).unwrap_or_default();
            // Undo quoted-printable soft line breaks and the encoded `=`.
            let text = raw.replace("=\r\n", "").replace("=3D", "=");
            if !text.contains(&format!("<{email}>")) {
                continue;
            }
            if let Some(at) = text.find("/api/v1/auth/confirm?token=") {
                let rest = &text[at + "/api/v1/auth/confirm?token=".len()..];
                let token: String =
                    rest.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_').collect();
                return token;
            }
        }
        assert!(std::time::Instant::now() < deadline, "no confirmation email for {email}");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

#[tokio::test]
async fn the_foundation_walk() {
    let dir = std::env::temp_dir().join(format!("osts-walk-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);

    // The first admin comes from the CLI; the database is created on the way.
    let out =
        osts(&dir, &["admin", "create", "--email", "head@uni.edu", "--name", "Head of Support"], "admin password 1");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(dir.join("osts.db").exists());
    let again = osts(&dir, &["admin", "create", "--email", "head@uni.edu", "--name", "Twice"], "admin password 1");
    assert!(!again.status.success(), "a second admin with the same email is refused");

    let server = Server::start(&dir);
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
        let token = confirmation_token(&dir, email);
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
    assert!(server.stop().success());
    let _ = std::fs::remove_dir_all(&dir);
}
