//! What the log of a real `osts serve` holds after a realistic sequence (an admin made on
//! the command line, sign-in, a failed sign-in, registration with a confirmation email over
//! an SMTP relay that needs a password, confirmation, tickets, a reply that emails the
//! creator, the email's unsubscribe link, sign-out), logged as JSON at `debug`:
//!
//! - every line is one JSON object, the start-up line on stdout included;
//! - every line written while serving a request carries that request's id;
//! - none of the secrets the sequence used appears: passwords, sign-in tokens, the
//!   confirmation and unsubscribe tokens, a cookie, the secret key, the SMTP password (also as
//!   the relay saw it, base64), or what the emails said.

mod support;

use std::collections::HashSet;

use reqwest::Method as M;
use serde_json::{json, Value};
use support::{call, confirmation_token, create_admin, Relay, Server, TempDir};

const ADMIN_PASSWORD: &str = "admin-pw-Zq81vX";
const STUDENT_PASSWORD: &str = "student-pw-Kd72pL";
const WRONG_PASSWORD: &str = "wrong-pw-Hy65tR";
const SECRET_KEY: &str = "secret-key-Wm39nB-0123456789abcdefghijkl";
const SMTP_PASSWORD: &str = "smtp-pw-Jf24sQ";
const COOKIE: &str = "cookie-value-Pe53cA";
const DESCRIPTION: &str = "description-body-Ux17gE about my exam";
const REPLY: &str = "reply-body-Tc48mN with the answer";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_log_is_json_carries_request_ids_and_holds_no_secret() {
    let dir = TempDir::new("osts-logs");
    let relay = Relay::default();
    let smtp_port = relay.start().await;
    let smtp_url = format!("smtp://osts-relay:{SMTP_PASSWORD}@127.0.0.1:{smtp_port}");
    let env = [
        ("OSTS_LOG_FORMAT", "json"),
        ("OSTS_LOG", "debug"),
        ("OSTS_SECRET_KEY", SECRET_KEY),
        ("OSTS_SMTP_URL", smtp_url.as_str()),
        ("OSTS_STUDENT_EMAIL_DOMAINS", "uni.edu"),
    ];
    let created = create_admin(&dir.0, &env, ADMIN_PASSWORD);
    let mut log = String::from_utf8(created.stderr).unwrap();

    let stderr = dir.0.join("serve.log");
    let server = Server::start(&dir.0, &env, Some(&stderr));
    let banner: Value = serde_json::from_str(&server.banner).expect("the start-up line is JSON");
    assert!(banner["message"].as_str().unwrap().starts_with("osts listening on http://"), "{banner}");
    let base = format!("{}/api/v1", server.base);
    let c = reqwest::Client::new();
    let mut request_ids = HashSet::new();
    let mut secrets: Vec<String> =
        [ADMIN_PASSWORD, STUDENT_PASSWORD, WRONG_PASSWORD, SECRET_KEY, SMTP_PASSWORD, COOKIE]
            .map(str::to_owned)
            .to_vec();

    let login = json!({"email": "head@uni.edu", "password": ADMIN_PASSWORD});
    let (s, session) = call(&c, M::POST, format!("{base}/auth/login"), None, Some(login)).await;
    assert_eq!(s, 200, "{session}");
    let admin = session["token"].as_str().unwrap().to_owned();
    secrets.push(admin.clone());
    let wrong = json!({"email": "head@uni.edu", "password": WRONG_PASSWORD});
    assert_eq!(call(&c, M::POST, format!("{base}/auth/login"), None, Some(wrong)).await.0, 401);

    let email = "ada@uni.edu";
    let registration = json!({"email": email, "display_name": "Ada", "password": STUDENT_PASSWORD, "role": "student"});
    assert_eq!(call(&c, M::POST, format!("{base}/auth/register"), None, Some(registration)).await.0, 201);
    let token = confirmation_token(email, || relay.messages()).await;
    secrets.push(token.clone());
    assert_eq!(call(&c, M::POST, format!("{base}/auth/confirm"), None, Some(json!({ "token": token }))).await.0, 200);
    let login = json!({"email": email, "password": STUDENT_PASSWORD});
    let (s, session) = call(&c, M::POST, format!("{base}/auth/login"), None, Some(login)).await;
    assert_eq!(s, 200, "{session}");
    let ada = session["token"].as_str().unwrap().to_owned();
    secrets.push(ada.clone());

    let (s, category) =
        call(&c, M::POST, format!("{base}/categories"), Some(&admin), Some(json!({"name": "Exams"}))).await;
    assert_eq!(s, 201);
    let ticket =
        json!({"title": "My exam grade is missing", "description": DESCRIPTION, "category_id": category["id"]});
    let (s, ticket) = call(&c, M::POST, format!("{base}/tickets"), Some(&ada), Some(ticket)).await;
    assert_eq!(s, 201, "{ticket}");
    let n = ticket["number"].as_i64().unwrap();
    // A request with a cookie, its id kept to find its lines.
    let resp = c
        .get(format!("{base}/tickets/{n}"))
        .bearer_auth(&ada)
        .header("cookie", format!("session={COOKIE}"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    request_ids.insert(resp.headers()["x-request-id"].to_str().unwrap().to_owned());
    let reply = json!({"body": REPLY, "internal": false});
    assert_eq!(call(&c, M::POST, format!("{base}/tickets/{n}/replies"), Some(&admin), Some(reply)).await.0, 201);

    // The reply is emailed to Ada; the email's unsubscribe link carries a token in its query.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let unsubscribe = loop {
        let found = relay.messages().iter().find_map(|m| {
            let text = m.replace("=\n", "").replace("=3D", "=");
            let at = text.find("/api/v1/unsubscribe?token=")?;
            let rest = &text[at + "/api/v1/unsubscribe?token=".len()..];
            Some(rest.chars().take_while(|c| c.is_ascii_alphanumeric() || ".-_".contains(*c)).collect::<String>())
        });
        if let Some(token) = found {
            break token;
        }
        assert!(std::time::Instant::now() < deadline, "no reply email");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    secrets.push(unsubscribe.clone());
    let page = c.get(format!("{base}/unsubscribe?token={unsubscribe}")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    request_ids.insert(page.headers()["x-request-id"].to_str().unwrap().to_owned());
    assert_eq!(call(&c, M::POST, format!("{base}/auth/logout"), Some(&ada), None).await.0, 204);
    // What the relay saw of the SMTP credentials (`AUTH PLAIN <base64>`), in case it is logged encoded.
    let auth = relay.auth.lock().unwrap().clone();
    assert!(!auth.is_empty(), "the relay was asked to authenticate");
    for line in &auth {
        secrets.extend(line.split_whitespace().skip(2).map(str::to_owned));
    }
    assert!(server.stop());
    log.push_str(&std::fs::read_to_string(&stderr).unwrap());

    let mut in_requests = 0;
    for line in log.lines() {
        let event: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("not one JSON object ({e}): {line}"));
        assert!(event["level"].is_string() && event["target"].is_string(), "{line}");
        let spans = event["spans"].as_array().cloned().unwrap_or_default();
        if let Some(request) = spans.iter().find(|s| s["name"] == "request") {
            in_requests += 1;
            let id = request["request_id"].as_str().unwrap_or_default();
            assert!(!id.is_empty() && id != "-", "a line of a request without its id: {line}");
        }
    }
    let finished: Vec<Value> = log
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|e| e["message"] == "request finished")
        .collect();
    assert!(finished.len() >= 11, "{} request lines for the 11 requests", finished.len());
    assert!(in_requests >= finished.len(), "{in_requests} lines in requests");
    for id in &request_ids {
        assert!(finished.iter().any(|e| e["span"]["request_id"] == id.as_str()), "no line for request {id}");
    }

    secrets.extend([DESCRIPTION, REPLY].map(str::to_owned));
    for secret in &secrets {
        assert!(!secret.is_empty());
        let leak = log.lines().find(|l| l.contains(secret.as_str()));
        assert!(leak.is_none(), "the log holds a secret ({secret}): {}", leak.unwrap_or_default());
    }
    // The distinctive parts of what the emails said, in case a body is logged reformatted.
    for fragment in ["Ux17gE", "Tc48mN"] {
        assert!(!log.contains(fragment), "an email body is in the log ({fragment})");
    }
}
