//! `cargo xtask contract`: schemathesis against a real `osts serve` on loopback, as a student
//! and as an admin, with every check: no 5xx, no response outside the OpenAPI document (status,
//! headers, content type, schema), bad input refused, good input accepted. The document
//! states each value's limits as the server enforces them; `xtask/schemathesis.toml` narrows
//! a check on an operation only where no document can (each entry says why).
//!
//! The server runs the debug build on a fresh SQLite data directory filled by the seed (known
//! password), with sign-in throttling raised so that the generated sign-ins do not starve the
//! rest. Schemathesis itself is a Python program: `.ci/run` installs a pinned version and
//! passes its path with `--schemathesis`.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};

/// How to run the contract check.
pub struct Options {
    /// The schemathesis executable.
    pub schemathesis: PathBuf,
    /// Test cases per operation and phase.
    pub max_examples: u32,
    /// Tickets the seed raises.
    pub tickets: u32,
}

/// The password every seeded account gets in this run (a throwaway database on loopback).
const PASSWORD: &str = "contract-check-password";
const ADMIN: &str = "admin@osts.local";
const STUDENT: &str = "student01@study.uni.edu";

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        // SIGTERM first, so the server stops as it would in production.
        let _ = Command::new("kill").args(["-TERM", &self.0.id().to_string()]).status();
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Builds and starts the server, runs schemathesis as each caller, and fails if it found
/// anything.
pub fn run(options: Options) -> anyhow::Result<()> {
    crate::cargo(&["build", "--locked", "-p", "server", "--bin", "osts"])?;
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| crate::root().join("target"), PathBuf::from);
    let osts = target.join("debug").join("osts");

    let dir = std::env::temp_dir().join(format!("osts-contract-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    let url = format!("sqlite://{}?mode=rwc", dir.join("osts.db").display());
    // The seed reads its password from the environment; nothing else runs yet.
    std::env::set_var("OSTS_SEED_PASSWORD", PASSWORD);
    crate::runtime()?.block_on(crate::seed::run(&url, options.tickets, 42))?;

    let (server, base) = start(&osts, &dir)?;
    let admin = sign_in(&base, ADMIN)?;
    let student = sign_in(&base, STUDENT)?;
    let mut failed = Vec::new();
    // The student first: the admin's run decides about accounts (the student's too, so a
    // session of theirs may end), and a student's run cannot touch the admin's.
    for (who, token) in [("student", &student), ("admin", &admin)] {
        println!("\n== schemathesis as the {who} ==");
        let started = Instant::now();
        let status = Command::new(&options.schemathesis)
            // Narrowing a check for an operation, each with its reason (see the file).
            .args(["--config-file", &crate::root().join("xtask").join("schemathesis.toml").display().to_string()])
            .args(["run", &format!("{base}/api/openapi.json"), "--url", &base])
            .args(["--header", &format!("Authorization: Bearer {token}")])
            .args(["--checks", "all", "--max-examples", &options.max_examples.to_string()])
            // One worker: with several threads, CPython 3.11 sometimes fails inside schemathesis
            // ("AST constructor recursion depth mismatch"), an error of the tool, not a finding.
            .args(["--seed", "11", "--workers", "1", "--request-timeout", "30"])
            // Signing out would end the session the rest of the run uses; the API tests
            // cover it.
            .args(["--exclude-operation-id", "logout"])
            .args(["--report", "junit", "--report-dir", &dir.join(format!("report-{who}")).display().to_string()])
            .env("NO_COLOR", "1")
            .status()
            .with_context(|| format!("running {}", options.schemathesis.display()))?;
        println!("schemathesis as the {who} took {:.0} s", started.elapsed().as_secs_f64());
        if !status.success() {
            failed.push(who);
        }
    }
    drop(server);
    if !failed.is_empty() {
        bail!("schemathesis found problems as the {} (reports in {})", failed.join(" and the "), dir.display());
    }
    let _ = std::fs::remove_dir_all(&dir);
    println!("schemathesis found nothing");
    Ok(())
}

/// Starts `osts serve` on a free loopback port; returns it and its base URL.
fn start(osts: &Path, dir: &Path) -> anyhow::Result<(Server, String)> {
    let mut child = Command::new(osts)
        .arg("serve")
        .env("OSTS_BIND", "127.0.0.1:0")
        .env("OSTS_DATA_DIR", dir)
        .env("OSTS_SEMANTIC_SEARCH", "off")
        .env("OSTS_LOGIN_ATTEMPTS_PER_ACCOUNT", "100000")
        .env("OSTS_LOGIN_ATTEMPTS_PER_ADDRESS", "100000")
        .env("OSTS_LOGIN_ATTEMPTS_PER_ACCOUNT_ALL_ADDRESSES", "100000")
        .env("OSTS_LOG", "warn")
        .env_remove("OSTS_DATABASE_URL")
        .env_remove("OSTS_SMTP_URL")
        .stdout(Stdio::piped())
        .spawn()
        .with_context(|| format!("starting {}", osts.display()))?;
    let mut line = String::new();
    BufReader::new(child.stdout.take().context("server stdout")?).read_line(&mut line)?;
    let server = Server(child);
    let base = line.trim().strip_prefix("osts listening on ").context("the server did not start")?.to_owned();
    Ok((server, base))
}

/// Signs in over HTTP/1.1 (one request, so a hand-written client does); returns the token.
fn sign_in(base: &str, email: &str) -> anyhow::Result<String> {
    let addr = base.strip_prefix("http://").context("an http:// base")?;
    let body = serde_json::json!({ "email": email, "password": PASSWORD }).to_string();
    let mut stream = TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    write!(
        stream,
        "POST /api/v1/auth/login HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let (head, body) = response.split_once("\r\n\r\n").context("an HTTP response")?;
    if !head.starts_with("HTTP/1.1 200") {
        bail!("signing in as {email} failed: {head}\n{body}");
    }
    let json: serde_json::Value = serde_json::from_str(body).context("a JSON body")?;
    json["token"].as_str().map(str::to_owned).context("a token in the sign-in answer")
}
