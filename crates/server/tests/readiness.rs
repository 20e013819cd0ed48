//! `GET /readyz` follows PostgreSQL without a restart: a real `osts serve` reaches its
//! database through a TCP proxy inside this test; cutting the proxy (closing every
//! connection and refusing new ones, as a stopped server does) makes readiness 503 within
//! 15 s while liveness stays 200, and restoring it makes readiness 200 again within 30 s.
//! The shared PostgreSQL server is never stopped.
//!
//! Needs `OSTS_TEST_POSTGRES_URL` (as CI sets it); without it the test says so and passes.

use std::io::{BufRead as _, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// A TCP proxy that can be cut and restored.
struct Proxy {
    addr: std::net::SocketAddr,
    cut: watch::Sender<bool>,
}

impl Proxy {
    async fn start(upstream: String) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (cut, state) = watch::channel(false);
        tokio::spawn(async move {
            loop {
                let Ok((mut client, _)) = listener.accept().await else { continue };
                if *state.borrow() {
                    // The database is "away": the connection closes at once.
                    drop(client);
                    continue;
                }
                let upstream = upstream.clone();
                let mut state = state.clone();
                tokio::spawn(async move {
                    let Ok(mut server) = TcpStream::connect(&upstream).await else { return };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                        // Dropping both ends closes them: the pool's connections die.
                        _ = state.wait_for(|cut| *cut) => {}
                    }
                });
            }
        });
        Self { addr, cut }
    }

    fn cut(&self) {
        self.cut.send_replace(true);
    }

    fn restore(&self) {
        self.cut.send_replace(false);
    }
}

/// `host:port` of a `postgres://` URL, and the URL with another `host:port` and database.
fn split_url(url: &str) -> (String, impl Fn(&str, &str) -> String + '_) {
    let (scheme, rest) = url.split_once("://").expect("a URL");
    let (user, rest) = rest.rsplit_once('@').map_or(("", rest), |(u, r)| (u, r));
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let host = &rest[..end];
    let host = if host.contains(':') { host.to_owned() } else { format!("{host}:5432") };
    let query = url.split_once('?').map(|(_, q)| q);
    let rebuild = move |host: &str, db: &str| {
        let user = if user.is_empty() { String::new() } else { format!("{user}@") };
        match query {
            Some(q) => format!("{scheme}://{user}{host}/{db}?{q}"),
            None => format!("{scheme}://{user}{host}/{db}"),
        }
    };
    (host, rebuild)
}

async fn admin(url: &str) -> store::Store {
    let options = store::StoreOptions { migrate: false, max_connections: 1, ..Default::default() };
    store::Store::connect_with(url, options).await.unwrap()
}

/// The status `/readyz` answers, or 0 when it does not answer in time.
async fn readiness(client: &reqwest::Client, base: &str) -> u16 {
    match client.get(format!("{base}/readyz")).send().await {
        Ok(resp) => resp.status().as_u16(),
        Err(_) => 0,
    }
}

/// Polls `/readyz` until it answers `status` or `within` has passed; how long it took.
async fn until_readiness(client: &reqwest::Client, base: &str, status: u16, within: Duration) -> Duration {
    let started = Instant::now();
    loop {
        let got = readiness(client, base).await;
        if got == status {
            return started.elapsed();
        }
        assert!(started.elapsed() < within, "/readyz still {got}, not {status}, after {within:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_follows_postgres_going_away_and_coming_back_without_a_restart() {
    let Ok(admin_url) = std::env::var("OSTS_TEST_POSTGRES_URL") else {
        eprintln!("OSTS_TEST_POSTGRES_URL not set: the readiness test against PostgreSQL is not run");
        return;
    };
    let (upstream, url_with) = split_url(&admin_url);
    let name = format!("osts_readiness_{}_{}", std::process::id(), chrono::Utc::now().timestamp_micros());
    let db = admin(&admin_url).await;
    db.execute_raw(&format!("CREATE DATABASE {name}")).await.unwrap();
    db.close().await.unwrap();

    let proxy = Proxy::start(upstream).await;
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_osts"))
        .arg("serve")
        .env("OSTS_BIND", "127.0.0.1:0")
        .env("OSTS_DATA_DIR", dir.path())
        .env("OSTS_DATABASE_URL", url_with(&proxy.addr.to_string(), &name))
        .env("OSTS_SEMANTIC_SEARCH", "off")
        .env("OSTS_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start osts serve");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let server = Server(child);
    let base = line.trim().strip_prefix("osts listening on ").expect("address line").to_owned();
    let client = reqwest::Client::builder().timeout(Duration::from_secs(5)).build().unwrap();

    until_readiness(&client, &base, 200, Duration::from_secs(60)).await;
    let ready: serde_json::Value = client.get(format!("{base}/readyz")).send().await.unwrap().json().await.unwrap();
    let jobs = ready["checks"]["jobs"].as_array().unwrap();
    assert!(jobs.iter().any(|j| j["name"] == "delivery" && j["status"] == "ok"), "{ready}");

    proxy.cut();
    let away = until_readiness(&client, &base, 503, Duration::from_secs(15)).await;
    let health = client.get(format!("{base}/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200, "liveness stays 200 while the database is away");
    let report: serde_json::Value = client.get(format!("{base}/readyz")).send().await.unwrap().json().await.unwrap();
    assert_eq!(report["checks"]["database"], "unavailable", "{report}");

    proxy.restore();
    let back = until_readiness(&client, &base, 200, Duration::from_secs(30)).await;
    eprintln!("readiness: 503 {away:?} after the cut, 200 {back:?} after the return");

    drop(server);
    let db = admin(&admin_url).await;
    db.execute_raw(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).await.unwrap();
    db.close().await.unwrap();
}
