//! What the end-to-end tests of the `osts` binary share: starting it, calling it, reading
//! the emails it sends, and a small SMTP relay.
#![allow(dead_code)]

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _};

/// A running `osts serve`.
pub struct Server {
    child: Child,
    /// `http://127.0.0.1:port`.
    pub base: String,
    /// The start-up line it printed on stdout.
    pub banner: String,
}

impl Server {
    /// Starts `osts serve` on loopback port 0 (unless `env` sets `OSTS_BIND`) with `data_dir`,
    /// SQLite, no model download, and `env`; its stderr goes to `stderr` (a file) if given.
    pub fn start(data_dir: &Path, env: &[(&str, &str)], stderr: Option<&Path>) -> Self {
        let mut command = Command::new(env!("CARGO_BIN_EXE_osts"));
        command
            .arg("serve")
            .env("OSTS_BIND", "127.0.0.1:0")
            .env("OSTS_DATA_DIR", data_dir)
            .env("OSTS_SEMANTIC_SEARCH", "off")
            .env("OSTS_DELIVERY_INTERVAL_SECS", "1")
            .env_remove("OSTS_DATABASE_URL")
            .env_remove("OSTS_LOG")
            .env_remove("OSTS_LOG_FORMAT")
            .env_remove("OSTS_METRICS_BIND");
        for (name, value) in env {
            command.env(name, value);
        }
        command.stdout(Stdio::piped()).stderr(match stderr {
            Some(path) => Stdio::from(std::fs::File::create(path).unwrap()),
            None => Stdio::null(),
        });
        let mut child = command.spawn().expect("start osts serve");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        Self { child, base: address(&line), banner: line }
    }

    /// Stops the server with SIGTERM and waits for it; whether it exited cleanly.
    pub fn stop(mut self) -> bool {
        let status = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status().unwrap();
        assert!(status.success());
        self.child.wait().unwrap().success()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The base URL in the start-up line, plain (`osts listening on http://…`) or JSON.
pub fn address(line: &str) -> String {
    if let Ok(json) = serde_json::from_str::<Value>(line) {
        return json["address"].as_str().expect("an address in the JSON banner").to_owned();
    }
    line.trim().strip_prefix("osts listening on ").unwrap_or_else(|| panic!("no address line: {line:?}")).to_owned()
}

/// Runs an `osts` command with `data_dir`, SQLite and `env`.
pub fn osts(data_dir: &Path, args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_osts"));
    command.args(args).env("OSTS_DATA_DIR", data_dir).env_remove("OSTS_DATABASE_URL");
    for (name, value) in env {
        command.env(name, value);
    }
    command.output().unwrap()
}

/// One JSON call; the status and the body (`null` when not JSON).
pub async fn call(
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

/// The token of the confirmation link in a message for `email` among `messages`.
pub fn token_in(messages: &[String], email: &str) -> Option<String> {
    messages.iter().find_map(|raw| {
        // Undo quoted-printable soft line breaks and the encoded `=`.
        let text = raw.replace("=\r\n", "").replace("=\n", "").replace("=3D", "=");
        if !text.contains(&format!("<{email}>")) {
            return None;
        }
        let at = text.find("/api/v1/auth/confirm?token=")?;
        let rest = &text[at + "/api/v1/auth/confirm?token=".len()..];
        Some(rest.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_').collect())
    })
}

/// Waits (30 s at most) for `messages` to hold a confirmation link for `email`.
pub async fn confirmation_token(email: &str, messages: impl Fn() -> Vec<String>) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(token) = token_in(&messages(), email) {
            return token;
        }
        assert!(Instant::now() < deadline, "no confirmation email for {email}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The `.eml` files the file mailer wrote under `data_dir`.
pub fn eml_files(data_dir: &Path) -> Vec<String> {
    std::fs::read_dir(data_dir.join("outbox-mail"))
        .into_iter()
        .flatten()
        .filter_map(|e| std::fs::read_to_string(e.ok()?.path()).ok())
        .collect()
}

/// Creates the admin `head@uni.edu` ("Head") with `password` through `osts admin create`,
/// under the server's `env`; fails the test unless it succeeds. Its output (the log lines).
pub fn create_admin(data_dir: &Path, env: &[(&str, &str)], password: &str) -> std::process::Output {
    let mut admin_env = env.to_vec();
    admin_env.push(("OSTS_ADMIN_PASSWORD", password));
    let created = osts(data_dir, &["admin", "create", "--email", "head@uni.edu", "--name", "Head"], &admin_env);
    assert!(created.status.success(), "{}", String::from_utf8_lossy(&created.stderr));
    created
}

/// A free loopback port (bound and released: another process could take it meanwhile, which
/// only makes a test fail loudly).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A fresh temporary directory under the system's, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(prefix: &str) -> Self {
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
        let dir = std::env::temp_dir().join(format!("{prefix}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// An SMTP relay on loopback that accepts any `AUTH` and keeps every message (headers and
/// body, as sent).
#[derive(Clone, Default)]
pub struct Relay {
    /// The messages received, in order.
    pub messages: Arc<Mutex<Vec<String>>>,
    /// The `AUTH` lines received (what a relay sees of the credentials).
    pub auth: Arc<Mutex<Vec<String>>>,
}

impl Relay {
    /// Starts the relay; its port.
    pub async fn start(&self) -> u16 {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let relay = self.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else { return };
                let relay = relay.clone();
                tokio::spawn(async move { relay.session(stream).await });
            }
        });
        port
    }

    async fn session(&self, stream: tokio::net::TcpStream) {
        let (read, mut write) = stream.into_split();
        let mut lines = tokio::io::BufReader::new(read).lines();
        write.write_all(b"220 relay ESMTP\r\n").await.ok();
        while let Ok(Some(line)) = lines.next_line().await {
            let upper = line.to_ascii_uppercase();
            let reply: &[u8] = if upper.starts_with("EHLO") || upper.starts_with("HELO") {
                b"250-relay\r\n250-AUTH PLAIN LOGIN\r\n250 8BITMIME\r\n"
            } else if upper.starts_with("AUTH") {
                self.auth.lock().unwrap().push(line.clone());
                b"235 ok\r\n"
            } else if upper.starts_with("MAIL FROM") || upper.starts_with("RCPT TO") {
                b"250 ok\r\n"
            } else if upper == "DATA" {
                write.write_all(b"354 go ahead\r\n").await.ok();
                let mut data = String::new();
                while let Ok(Some(l)) = lines.next_line().await {
                    if l == "." {
                        break;
                    }
                    data.push_str(l.strip_prefix('.').unwrap_or(&l));
                    data.push('\n');
                }
                self.messages.lock().unwrap().push(data);
                b"250 queued\r\n"
            } else if upper == "QUIT" {
                write.write_all(b"221 bye\r\n").await.ok();
                return;
            } else {
                b"250 ok\r\n"
            };
            if write.write_all(reply).await.is_err() {
                return;
            }
        }
    }

    /// The messages received so far.
    pub fn messages(&self) -> Vec<String> {
        self.messages.lock().unwrap().clone()
    }
}
