//! The real `osts` binary against clients that misbehave or are slow: bounded time to send a
//! request head (so also to sit idle between requests), a stop that does not wait for idle
//! keep-alive clients, and sign-in throttling seen from several client addresses.

use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{IpAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

/// The header-read bound the servers of these tests run with.
const BOUND: Duration = Duration::from_secs(2);
/// Slack for a loaded machine: closing takes at most `BOUND + SLACK`.
const SLACK: Duration = Duration::from_secs(3);

struct Server {
    child: Child,
    addr: String,
    dir: PathBuf,
}

impl Server {
    fn start(name: &str, env: &[(&str, &str)]) -> Self {
        let dir = std::env::temp_dir().join(format!("osts-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_osts"));
        cmd.arg("serve")
            .env("OSTS_BIND", "127.0.0.1:0")
            .env("OSTS_DATA_DIR", &dir)
            .env("OSTS_SEMANTIC_SEARCH", "off")
            .env("OSTS_HEADER_READ_TIMEOUT_SECS", BOUND.as_secs().to_string())
            .env_remove("OSTS_DATABASE_URL")
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("start osts serve");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let addr = line.trim().strip_prefix("osts listening on http://").expect("address line").to_owned();
        Self { child, addr, dir }
    }

    fn connect(&self) -> TcpStream {
        let stream = TcpStream::connect(&self.addr).unwrap();
        stream.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
        stream
    }

    /// Asks the server to stop (SIGTERM) and waits for it; returns how long that took.
    fn stop(mut self) -> Duration {
        let started = Instant::now();
        let status = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status().unwrap();
        assert!(status.success());
        let exit = self.child.wait().unwrap();
        assert!(exit.success(), "{exit:?}");
        started.elapsed()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Whether the server closed the connection: a read that ends (0 bytes) or fails with a
/// reset; `false` if nothing arrived within the socket's read timeout.
fn closed(stream: &mut TcpStream) -> bool {
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return true,
            // Whatever the server says before closing (hyper may answer 408) is read past.
            Ok(_) => continue,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => return false,
            Err(_) => return true,
        }
    }
}

/// Feeds `stream` one byte of a request head per second (as a slow-loris client does) until
/// the server closes it; returns how long that took, or panics after `limit`.
fn drip_until_closed(stream: &mut TcpStream, limit: Duration) -> Duration {
    let head = b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nUser-Agent: one-byte-a-second\r\nAccept: */*\r\n\r\n";
    let started = Instant::now();
    let mut next = 0;
    loop {
        if started.elapsed() >= Duration::from_secs(next as u64) && next < head.len() {
            if stream.write_all(&head[next..=next]).is_err() {
                return started.elapsed();
            }
            next += 1;
        }
        if closed(stream) {
            return started.elapsed();
        }
        assert!(started.elapsed() < limit, "still open after {:?} ({next} bytes sent)", started.elapsed());
    }
}

#[test]
fn a_client_sending_one_header_byte_a_second_is_closed_within_the_bound() {
    let server = Server::start("slow-head", &[]);
    let mut stream = server.connect();
    let took = drip_until_closed(&mut stream, Duration::from_secs(30));
    // The head is 85 bytes: at a byte a second the client would need 85 s.
    assert!(took >= BOUND - Duration::from_millis(100), "closed early, after {took:?}");
    assert!(took <= BOUND + SLACK, "closed after {took:?}");
}

#[test]
fn a_silent_or_idle_connection_is_closed_within_the_bound() {
    let server = Server::start("idle", &[]);
    // Sends nothing at all.
    let mut silent = server.connect();
    let started = Instant::now();
    while !closed(&mut silent) {
        assert!(started.elapsed() < Duration::from_secs(30), "a silent connection stays open");
    }
    assert!(started.elapsed() <= BOUND + SLACK, "closed after {:?}", started.elapsed());

    // Asks once, keeps the connection alive, then idles.
    let mut idle = server.connect();
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n").unwrap();
    let mut response = Vec::new();
    let mut buf = [0u8; 4096];
    while !response.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = idle.read(&mut buf).expect("the response");
        assert!(n > 0, "closed before answering");
        response.extend_from_slice(&buf[..n]);
    }
    assert!(response.starts_with(b"HTTP/1.1 200"), "{}", String::from_utf8_lossy(&response));
    let started = Instant::now();
    while !closed(&mut idle) {
        assert!(started.elapsed() < Duration::from_secs(30), "an idle keep-alive connection stays open");
    }
    assert!(started.elapsed() <= BOUND + SLACK, "closed after {:?}", started.elapsed());
}

#[test]
fn a_stop_does_not_wait_for_idle_keep_alive_clients() {
    // A long header bound, so that only the stop can close the idle connection quickly.
    let server = Server::start("stop", &[("OSTS_HEADER_READ_TIMEOUT_SECS", "120")]);
    let mut idle = server.connect();
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n").unwrap();
    let mut buf = [0u8; 4096];
    assert!(idle.read(&mut buf).unwrap() > 0, "answered");
    let took = server.stop();
    // Requests in flight get 10 s to finish; an idle connection is none of them.
    assert!(took < Duration::from_secs(5), "the stop took {took:?}");
    assert!(closed(&mut idle));
}

fn osts(dir: &Path, args: &[&str], password: &str) {
    let out = Command::new(env!("CARGO_BIN_EXE_osts"))
        .args(args)
        .env("OSTS_DATA_DIR", dir)
        .env("OSTS_ADMIN_PASSWORD", password)
        .env_remove("OSTS_DATABASE_URL")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

/// Signs in from `from` (a loopback address of its own); returns the status and body.
async fn sign_in(server: &Server, from: [u8; 4], email: &str, password: &str) -> (u16, Value) {
    let client = reqwest::Client::builder().local_address(IpAddr::from(from)).build().unwrap();
    let resp = client
        .post(format!("http://{}/api/v1/auth/login", server.addr))
        .json(&json!({ "email": email, "password": password }))
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn someone_elses_failed_sign_ins_do_not_lock_the_owner_out() {
    let server = Server::start("lockout", &[("OSTS_LOGIN_ATTEMPTS_PER_ACCOUNT", "3")]);
    osts(&server.dir, &["admin", "create", "--email", "owner@uni.edu", "--name", "Owner"], "the owner's password");

    let attacker = [127, 0, 0, 2];
    for _ in 0..3 {
        assert_eq!(sign_in(&server, attacker, "owner@uni.edu", "a guess").await.0, 401);
    }
    let (status, body) = sign_in(&server, attacker, "owner@uni.edu", "the owner's password").await;
    assert_eq!((status, body["code"].as_str()), (429, Some("throttled")), "the guesser is throttled");

    // The owner, from their own address, signs in at once.
    let (status, body) = sign_in(&server, [127, 0, 0, 3], "owner@uni.edu", "the owner's password").await;
    assert_eq!(status, 200, "{body}");
    assert!(body["token"].is_string());
}
