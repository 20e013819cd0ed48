//! Several servers see the same suggestions: two real `osts` binaries on one PostgreSQL
//! database; a ticket raised (and so embedded) through server A is suggested **by meaning**,
//! for a draft that shares no word with it, through server B within 15 seconds, without a
//! restart.
//!
//! Needs `OSTS_TEST_POSTGRES_URL` and the real model (cached in `OSTS_MODEL_CACHE` or
//! `<temp dir>/osts-model-cache`, or fetched as the embedder does). Skipped, and says so,
//! only when one of them is missing.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

struct Server {
    child: Child,
    base: String,
}

impl Server {
    fn start(data_dir: &Path, database_url: &str, model_dir: &Path) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_osts"))
            .arg("serve")
            .env("OSTS_BIND", "127.0.0.1:0")
            .env("OSTS_DATA_DIR", data_dir)
            .env("OSTS_DATABASE_URL", database_url)
            .env("OSTS_MODEL_DIR", model_dir)
            .env("OSTS_SEMANTIC_SEARCH", "on")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start osts serve");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let base = line.trim().strip_prefix("osts listening on ").expect("address line").to_owned();
        Self { child, base }
    }

    fn stop(mut self) {
        let status = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status().unwrap();
        assert!(status.success());
        assert!(self.child.wait().unwrap().success(), "a clean stop");
    }
}

async fn call(
    c: &reqwest::Client,
    method: reqwest::Method,
    url: String,
    token: Option<&str>,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = c.request(method, url);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    (status, serde_json::from_str(&resp.text().await.unwrap()).unwrap_or(Value::Null))
}

/// The ticket numbers `server` suggests for the draft, and how it ranked them.
async fn suggested(c: &reqwest::Client, server: &Server, token: &str, title: &str) -> (Vec<i64>, String) {
    let url = format!("{}/api/v1/tickets/similar?title={}", server.base, title.replace(' ', "%20"));
    let (s, body) = call(c, reqwest::Method::GET, url, Some(token), None).await;
    assert_eq!(s, 200, "{body}");
    let numbers = body["items"].as_array().unwrap().iter().filter_map(|i| i["number"].as_i64()).collect();
    (numbers, body["ranking"].as_str().unwrap_or_default().to_owned())
}

/// Polls `check` every 200 ms until it holds or `within` has passed; returns how long it took.
async fn eventually<F, Fut>(within: Duration, what: &str, mut check: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    loop {
        if check().await {
            return start.elapsed();
        }
        assert!(start.elapsed() < within, "{what}: not within {within:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// What the ticket says, and a draft of the same concern that shares no word with it.
const TITLE: &str = "Exam results missing from the student portal";
const DESCRIPTION: &str = "The results page stays empty since Monday.";
const PARAPHRASE: &str = "Grades of my tests are not visible online";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ticket_embedded_through_one_server_is_suggested_by_meaning_through_another() {
    let words =
        |s: &str| s.to_lowercase().split_whitespace().map(|w| w.trim_matches('.').to_owned()).collect::<Vec<_>>();
    let ticket_words = [words(TITLE), words(DESCRIPTION)].concat();
    assert!(words(PARAPHRASE).iter().all(|w| !ticket_words.contains(w)), "the draft shares no word with the ticket");

    let Ok(admin_url) = std::env::var("OSTS_TEST_POSTGRES_URL") else {
        eprintln!("SKIPPED: OSTS_TEST_POSTGRES_URL is not set");
        return;
    };
    let model_dir = std::env::var_os("OSTS_MODEL_CACHE")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join("osts-model-cache"));
    if let Err(e) = embedder::fetch(&embedder::ModelSpec::minilm(), &model_dir).await {
        eprintln!("SKIPPED: the model is not in {} and cannot be fetched: {e:#}", model_dir.display());
        return;
    }

    let name = format!("osts_two_{}", std::process::id());
    let admin = store::Store::connect_with(
        &admin_url,
        store::StoreOptions { migrate: false, max_connections: 1, ..Default::default() },
    )
    .await
    .unwrap();
    admin.execute_raw(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).await.unwrap();
    admin.execute_raw(&format!("CREATE DATABASE {name}")).await.unwrap();
    let (base, query) = admin_url.split_once('?').map_or((admin_url.as_str(), None), |(b, q)| (b, Some(q)));
    let host = &base[..base.rfind('/').filter(|&i| i > base.find("://").unwrap() + 2).unwrap_or(base.len())];
    let url = match query {
        Some(q) => format!("{host}/{name}?{q}"),
        None => format!("{host}/{name}"),
    };

    let dir = std::env::temp_dir().join(format!("osts-two-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let out = Command::new(env!("CARGO_BIN_EXE_osts"))
        .args(["admin", "create", "--email", "head@uni.edu", "--name", "Head of Support"])
        .env("OSTS_DATA_DIR", dir.join("a"))
        .env("OSTS_DATABASE_URL", &url)
        .env("OSTS_ADMIN_PASSWORD", "admin password 1")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    let a = Server::start(&dir.join("a"), &url, &model_dir);
    let b = Server::start(&dir.join("b"), &url, &model_dir);
    let c = reqwest::Client::new();
    use reqwest::Method as M;
    for server in [&a, &b] {
        let health = format!("{}/healthz", server.base);
        eventually(Duration::from_secs(120), "the model is ready", || async {
            call(&c, M::GET, health.clone(), None, None).await.1["checks"]["semantic"] == "ready"
        })
        .await;
    }

    let login = json!({"email": "head@uni.edu", "password": "admin password 1"});
    let (s, session) = call(&c, M::POST, format!("{}/api/v1/auth/login", a.base), None, Some(login)).await;
    assert_eq!(s, 200, "{session}");
    let token = session["token"].as_str().unwrap().to_owned();
    let (s, cat) =
        call(&c, M::POST, format!("{}/api/v1/categories", a.base), Some(&token), Some(json!({"name": "Exams"}))).await;
    assert_eq!(s, 201, "{cat}");
    // Both servers have loaded their (empty) indexes: nothing is suggested yet.
    assert!(suggested(&c, &b, &token, PARAPHRASE).await.0.is_empty());

    let ticket = json!({"title": TITLE, "description": DESCRIPTION, "category_id": cat["id"], "priority": "medium"});
    let (s, raised) = call(&c, M::POST, format!("{}/api/v1/tickets", a.base), Some(&token), Some(ticket)).await;
    assert_eq!(s, 201, "{raised}");
    let number = raised["number"].as_i64().unwrap();

    // Server A embeds the ticket it raised (after the commit, off the request path).
    eventually(Duration::from_secs(30), "server A suggests its ticket by meaning", || async {
        suggested(&c, &a, &token, PARAPHRASE).await.0.contains(&number)
    })
    .await;
    // Server B never embeds it (it is stored already): only the catch-up brings it.
    let took = eventually(Duration::from_secs(15), "server B suggests it by meaning", || async {
        let (numbers, ranking) = suggested(&c, &b, &token, PARAPHRASE).await;
        assert_ne!(ranking, "lexical", "B ranks by meaning");
        numbers.contains(&number)
    })
    .await;
    eprintln!("server B suggested the ticket embedded by server A after {took:?}");

    a.stop();
    b.stop();
    admin.execute_raw(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).await.unwrap();
    admin.close().await.unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}
