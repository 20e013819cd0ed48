//! `cargo xtask bench api`: the HTTP API under load, beside a bare baseline in the same run.
//!
//! For each backend: a fresh database with 34 accounts and 40,000 tickets, the real `osts`
//! binary (release) serving it, and in this process a bare poem server over the same
//! database whose handlers do only the same inserts (or the same `SELECT`, or the same
//! argon2id check and session insert) in one transaction, without authentication,
//! validation or history. The load comes from `rlt` (closed loop: each of N workers sends
//! its next request when the previous answer arrived; latencies are the generator's own,
//! with no coordinated-omission correction). Then: resident memory of a burst of 64
//! concurrent sign-ins, and list latency at `--list-size` tickets for every documented
//! filter and sort. See `docs/benchmarks.md` for the method and the figures.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use async_trait::async_trait;
use chrono::{TimeZone, Utc};
use domain::accounts::{AccountService, Role};
use domain::categories::{CategoryName, NewCategory};
use domain::clock::SystemClock;
use domain::tickets::{Description, NewTicket, Priority, Tags, Title};
use poem::{handler, web, EndpointExt, IntoResponse};
use rlt::{BenchSuite, IterInfo, IterReport, Status};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement, TransactionTrait};
use store::Store;
use tokio::sync::Mutex;

/// What to run.
pub struct Options {
    /// `sqlite` and/or `postgres`.
    pub backends: Vec<String>,
    /// Seconds per load cell.
    pub secs: u64,
    /// Concurrency levels.
    pub concurrency: Vec<u32>,
    /// Tickets for the list latency runs (0: skip them).
    pub list_size: usize,
    /// Requests per list latency cell.
    pub list_requests: u64,
    /// Where to write the results (a Markdown file; the section between the markers).
    pub doc: PathBuf,
}

const PASSWORD: &str = "bench password, not a secret";
const VOTE_TICKETS: usize = 40_000;
const STUDENTS: usize = 64;

/// An operation under load.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Create,
    Upvote,
    SignIn,
    List,
    Filter,
}

impl Op {
    const ALL: [Op; 5] = [Op::Create, Op::Upvote, Op::SignIn, Op::List, Op::Filter];

    fn name(self) -> &'static str {
        match self {
            Op::Create => "raise a ticket",
            Op::Upvote => "upvote",
            Op::SignIn => "sign in",
            Op::List => "list (newest)",
            Op::Filter => "filter (status=open&sort=votes)",
        }
    }
}

/// The people and tickets a run uses.
#[derive(Clone)]
struct Fixture {
    category: i64,
    /// Students' emails and session tokens (osts).
    students: Arc<Vec<(String, String, i64)>>,
    /// Tickets raised by someone else, to vote on.
    vote_tickets: Arc<Vec<i64>>,
    /// Per student, the next vote ticket (so every vote is a new one, across cells).
    next_vote: Arc<Vec<AtomicU64>>,
}

/// One load cell's figures.
#[derive(Debug, Clone, Default)]
struct Cell {
    throughput: f64,
    p50_ms: f64,
    p99_ms: f64,
    requests: u64,
    non_2xx: u64,
    statuses: String,
    rss_before_mb: Option<f64>,
    rss_after_mb: Option<f64>,
}

/// The load generator's suite: one request of `op` to `base` per iteration.
#[derive(Clone)]
struct Load {
    op: Op,
    base: String,
    bare: bool,
    fixture: Fixture,
    /// For list cells at scale: the path and query under `/api/v1`.
    path: Option<String>,
    /// For list cells: whose session (index into students), or staff.
    token: Option<String>,
}

#[async_trait]
impl BenchSuite for Load {
    type WorkerState = reqwest::Client;

    async fn state(&self, _worker_id: u32) -> anyhow::Result<reqwest::Client> {
        Ok(reqwest::Client::builder().pool_max_idle_per_host(4).build()?)
    }

    async fn bench(&mut self, client: &mut reqwest::Client, info: &IterInfo) -> anyhow::Result<IterReport> {
        let student = info.worker_id as usize % STUDENTS;
        let (email, token, user) = &self.fixture.students[student];
        let prefix = if self.bare { "/bare" } else { "/api/v1" };
        let request = match self.op {
            Op::Create => client
                .post(format!("{}{prefix}/tickets", self.base))
                .bearer_auth(token)
                .header("x-bench-user", user.to_string())
                .json(&serde_json::json!({
                    "title": format!("Exam result missing for module {} ({})", info.runner_seq % 97, info.runner_seq),
                    "description": "My exam result for the module is not shown on the results page, \
                                    although the exam was taken on time. Could you check?",
                    "category_id": self.fixture.category,
                    "tags": ["exam-results"],
                    "priority": "medium",
                })),
            Op::Upvote => {
                let n = self.fixture.next_vote[student].fetch_add(1, Ordering::Relaxed) as usize;
                let ticket = self.fixture.vote_tickets[n % self.fixture.vote_tickets.len()];
                client
                    .put(format!("{}{prefix}/tickets/{ticket}/vote", self.base))
                    .bearer_auth(token)
                    .header("x-bench-user", user.to_string())
            }
            Op::SignIn => client
                .post(format!("{}{prefix}/auth/login", self.base))
                .json(&serde_json::json!({ "email": email, "password": PASSWORD })),
            Op::List | Op::Filter => {
                let path = self.path.clone().unwrap_or_else(|| match self.op {
                    Op::List => "/tickets?sort=newest&limit=25".to_owned(),
                    _ => "/tickets?status=open&sort=votes&limit=25".to_owned(),
                });
                client
                    .get(format!("{}{prefix}{path}", self.base))
                    .bearer_auth(self.token.as_deref().unwrap_or(token))
                    .header("x-bench-user", user.to_string())
            }
        };
        let started = Instant::now();
        let resp = request.send().await?;
        let code = resp.status().as_u16();
        let bytes = resp.bytes().await?.len() as u64;
        let duration = started.elapsed();
        let status = match code {
            200..=299 => Status::success(code.into()),
            400..=499 => Status::client_error(code.into()),
            _ => Status::server_error(code.into()),
        };
        Ok(IterReport { duration, status, bytes, items: 1 })
    }
}

/// Runs `suite` with `rlt` (quiet, JSON report) and reads its report.
async fn run_load(suite: Load, concurrency: u32, limit: Limit) -> anyhow::Result<Cell> {
    let out = std::env::temp_dir().join(format!("osts-bench-{}.json", uuid::Uuid::new_v4().simple()));
    let c = concurrency.to_string();
    let mut args = vec!["bench", "-c", &c, "-q", "-o", "json", "-O"];
    let out_str = out.display().to_string();
    args.push(&out_str);
    let (flag, value) = match limit {
        Limit::Secs(s) => ("-d", format!("{s}s")),
        Limit::Requests(n) => ("-n", n.to_string()),
    };
    args.push(flag);
    args.push(&value);
    let warmup = match limit {
        Limit::Requests(_) => Some("10".to_owned()),
        Limit::Secs(_) => None,
    };
    if let Some(w) = &warmup {
        args.push("-w");
        args.push(w);
    }
    let cli = <rlt::cli::BenchCli as clap::Parser>::try_parse_from(args)?;
    rlt::cli::run(cli, suite).await?;
    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(&out)?)?;
    let _ = std::fs::remove_file(&out);
    let pct = |key: &str| report["latency"]["percentiles"][key].as_f64().unwrap_or(f64::NAN) * 1000.0;
    let mut statuses = BTreeMap::new();
    let mut non_2xx = 0;
    if let Some(map) = report["status"].as_object() {
        for (k, v) in map {
            let n = v.as_u64().unwrap_or(0);
            if !k.starts_with("Success") {
                non_2xx += n;
            }
            statuses.insert(k.clone(), n);
        }
    }
    if let Some(map) = report["errors"].as_object() {
        for (k, v) in map {
            non_2xx += v.as_u64().unwrap_or(0);
            statuses.insert(format!("error: {k}"), v.as_u64().unwrap_or(0));
        }
    }
    Ok(Cell {
        throughput: report["summary"]["iters"]["rate"].as_f64().unwrap_or(0.0),
        p50_ms: pct("p50"),
        p99_ms: pct("p99"),
        requests: report["summary"]["iters"]["total"].as_u64().unwrap_or(0),
        non_2xx,
        statuses: statuses
            .iter()
            .filter(|(k, _)| !k.starts_with("Success"))
            .map(|(k, v)| format!("{k}: {v}"))
            .collect::<Vec<_>>()
            .join(", "),
        ..Cell::default()
    })
}

#[derive(Clone, Copy)]
enum Limit {
    Secs(u64),
    Requests(u64),
}

/// Resident memory of a process, in MB.
fn rss_mb(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kib: f64 = status.lines().find(|l| l.starts_with("VmRSS:"))?.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

/// A fresh database: its URL and how to remove it.
struct Db {
    url: String,
    admin: Option<(String, String)>,
    file: Option<PathBuf>,
}

impl Db {
    async fn new(backend: &str) -> anyhow::Result<Self> {
        match backend {
            "sqlite" => {
                let path = std::env::temp_dir().join(format!("osts-bench-{}.db", uuid::Uuid::new_v4().simple()));
                Ok(Self { url: format!("sqlite://{}?mode=rwc", path.display()), admin: None, file: Some(path) })
            }
            "postgres" => {
                let admin_url = std::env::var("OSTS_BENCH_POSTGRES_URL")
                    .or_else(|_| std::env::var("OSTS_TEST_POSTGRES_URL"))
                    .context("set OSTS_BENCH_POSTGRES_URL (or OSTS_TEST_POSTGRES_URL) for the PostgreSQL runs")?;
                let name = format!("osts_bench_{}", uuid::Uuid::new_v4().simple());
                let admin = Store::connect_with(
                    &admin_url,
                    store::StoreOptions { migrate: false, max_connections: 1, ..Default::default() },
                )
                .await?;
                admin.execute_raw(&format!("CREATE DATABASE {name}")).await?;
                admin.close().await?;
                let base = admin_url.split('?').next().unwrap_or(&admin_url);
                let url = format!("{}/{name}", &base[..base.rfind('/').context("database URL without a path")?]);
                Ok(Self { url, admin: Some((admin_url, name)), file: None })
            }
            other => anyhow::bail!("unknown backend {other}"),
        }
    }

    async fn finish(self) -> anyhow::Result<()> {
        if let Some((admin_url, name)) = self.admin {
            let admin = Store::connect_with(
                &admin_url,
                store::StoreOptions { migrate: false, max_connections: 1, ..Default::default() },
            )
            .await?;
            admin.execute_raw(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).await?;
            admin.close().await?;
        }
        if let Some(path) = self.file {
            for suffix in ["", "-wal", "-shm"] {
                let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
            }
        }
        Ok(())
    }
}

/// The `osts` binary serving a database.
struct Server {
    child: Child,
    base: String,
    _data: tempfile::TempDir,
}

impl Server {
    fn start(binary: &Path, url: &str) -> anyhow::Result<Self> {
        let data = tempfile::tempdir()?;
        let errors = std::fs::File::create(
            std::env::temp_dir().join(format!("osts-bench-{}.stderr", uuid::Uuid::new_v4().simple())),
        )?;
        let mut child = Command::new(binary)
            .arg("serve")
            .env("OSTS_BIND", "127.0.0.1:0")
            .env("OSTS_DATA_DIR", data.path())
            .env("OSTS_DATABASE_URL", url)
            .env("OSTS_SEMANTIC_SEARCH", "off")
            .env("OSTS_LOG", "warn")
            // The benchmark signs the same accounts in thousands of times from one address.
            .env("OSTS_LOGIN_ATTEMPTS_PER_ACCOUNT", "100000000")
            .env("OSTS_LOGIN_ATTEMPTS_PER_ADDRESS", "100000000")
            .stdout(Stdio::piped())
            .stderr(errors)
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        let mut line = String::new();
        let mut stdout = BufReader::new(child.stdout.take().context("no stdout")?);
        stdout.read_line(&mut line)?;
        let base = line.trim().strip_prefix("osts listening on ").context("no address line from osts")?.to_owned();
        // Keep reading: osts logs to standard output, and a closed pipe would fail its writes.
        let log = std::fs::File::create(std::env::temp_dir().join(format!("osts-bench-{}.log", child.id())))?;
        std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::BufWriter::new(log)));
        Ok(Self { child, base, _data: data })
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Fails if the server is gone (its standard error is in the temp directory).
    fn check(&mut self) -> anyhow::Result<()> {
        if let Some(status) = self.child.try_wait()? {
            anyhow::bail!("osts exited ({status}); see osts-bench-*.stderr in the temp directory");
        }
        Ok(())
    }

    fn stop(mut self) -> anyhow::Result<()> {
        Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status()?;
        self.child.wait()?;
        Ok(())
    }
}

/// The bare baseline: the same statements as osts, in one transaction, and nothing else.
#[derive(Clone)]
struct Bare {
    db: DatabaseConnection,
    /// SQLite has one writer: queue writers here, as the store does.
    write: Option<Arc<Mutex<()>>>,
}

impl Bare {
    fn backend(&self) -> DbBackend {
        self.db.get_database_backend()
    }

    /// `$1`-style parameters, as `?1` on SQLite.
    fn stmt(&self, sql: &str, values: Vec<sea_orm::Value>) -> Statement {
        let sql = match self.backend() {
            DbBackend::Sqlite => sql.replace('$', "?"),
            DbBackend::Postgres | DbBackend::MySql => sql.to_owned(),
        };
        Statement::from_sql_and_values(self.backend(), sql, values)
    }
}

fn user_of(req: &poem::Request) -> i64 {
    req.header("x-bench-user").and_then(|v| v.parse().ok()).unwrap_or(0)
}

fn failed(e: impl std::fmt::Display) -> poem::Error {
    poem::Error::from_string(e.to_string(), poem::http::StatusCode::INTERNAL_SERVER_ERROR)
}

#[handler]
async fn bare_create(
    req: &poem::Request,
    bare: web::Data<&Bare>,
    body: web::Json<serde_json::Value>,
) -> poem::Result<poem::Response> {
    let user = user_of(req);
    let now = Utc::now();
    let _guard = match &bare.write {
        Some(lock) => Some(lock.lock().await),
        None => None,
    };
    let tx = bare.db.begin().await.map_err(failed)?;
    let row = tx
        .query_one(bare.stmt(
            "INSERT INTO tickets (title, description, category_id, priority, status, creator_id, created_at, \
             updated_at, vote_count, queue_key, version) VALUES ($1, $2, $3, $4, 'open', $5, $6, $6, 0, 0, 1) \
             RETURNING id",
            vec![
                body["title"].as_str().unwrap_or_default().into(),
                body["description"].as_str().unwrap_or_default().into(),
                body["category_id"].as_i64().unwrap_or(0).into(),
                body["priority"].as_str().unwrap_or("medium").into(),
                user.into(),
                now.into(),
            ],
        ))
        .await
        .map_err(failed)?
        .ok_or_else(|| failed("no id"))?;
    let id: i32 = row.try_get("", "id").map_err(failed)?;
    for tag in body["tags"].as_array().into_iter().flatten() {
        tx.execute(bare.stmt(
            "INSERT INTO ticket_tags (ticket_id, tag) VALUES ($1, $2)",
            vec![id.into(), tag.as_str().unwrap_or_default().into()],
        ))
        .await
        .map_err(failed)?;
    }
    tx.execute(bare.stmt(
        "INSERT INTO watchers (ticket_id, user_id, created_at) VALUES ($1, $2, $3)",
        vec![id.into(), user.into(), now.into()],
    ))
    .await
    .map_err(failed)?;
    tx.execute(bare.stmt(
        "INSERT INTO ticket_events (ticket_id, actor_id, at, kind, change) VALUES ($1, $2, $3, 'created', '{}')",
        vec![id.into(), user.into(), now.into()],
    ))
    .await
    .map_err(failed)?;
    tx.commit().await.map_err(failed)?;
    Ok((poem::http::StatusCode::CREATED, web::Json(serde_json::json!({ "id": id }))).into_response())
}

#[handler]
async fn bare_vote(
    req: &poem::Request,
    bare: web::Data<&Bare>,
    web::Path(ticket): web::Path<i64>,
) -> poem::Result<poem::Response> {
    let user = user_of(req);
    let now = Utc::now();
    let _guard = match &bare.write {
        Some(lock) => Some(lock.lock().await),
        None => None,
    };
    let tx = bare.db.begin().await.map_err(failed)?;
    let inserted = tx
        .execute(bare.stmt(
            "INSERT INTO votes (ticket_id, user_id, created_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
            vec![ticket.into(), user.into(), now.into()],
        ))
        .await
        .map_err(failed)?
        .rows_affected();
    if inserted == 1 {
        tx.execute(bare.stmt("UPDATE tickets SET vote_count = vote_count + 1 WHERE id = $1", vec![ticket.into()]))
            .await
            .map_err(failed)?;
        tx.execute(bare.stmt(
            "INSERT INTO watchers (ticket_id, user_id, created_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
            vec![ticket.into(), user.into(), now.into()],
        ))
        .await
        .map_err(failed)?;
        tx.execute(bare.stmt(
            "INSERT INTO ticket_events (ticket_id, actor_id, at, kind, change) VALUES ($1, $2, $3, 'vote_cast', '{}')",
            vec![ticket.into(), user.into(), now.into()],
        ))
        .await
        .map_err(failed)?;
    }
    tx.commit().await.map_err(failed)?;
    Ok(web::Json(serde_json::json!({ "voted": true })).into_response())
}

#[handler]
async fn bare_login(bare: web::Data<&Bare>, body: web::Json<serde_json::Value>) -> poem::Result<poem::Response> {
    use argon2::password_hash::{PasswordHash, PasswordVerifier as _};
    let email = body["email"].as_str().unwrap_or_default().to_owned();
    let row = bare
        .db
        .query_one(bare.stmt("SELECT id, password_hash FROM users WHERE email = $1", vec![email.into()]))
        .await
        .map_err(failed)?
        .ok_or_else(|| poem::Error::from_status(poem::http::StatusCode::UNAUTHORIZED))?;
    let id: i32 = row.try_get("", "id").map_err(failed)?;
    let phc: String = row.try_get("", "password_hash").map_err(failed)?;
    let password = body["password"].as_str().unwrap_or_default().to_owned();
    let ok = tokio::task::spawn_blocking(move || {
        PasswordHash::new(&phc)
            .is_ok_and(|h| argon2::Argon2::default().verify_password(password.as_bytes(), &h).is_ok())
    })
    .await
    .map_err(failed)?;
    if !ok {
        return Err(poem::Error::from_status(poem::http::StatusCode::UNAUTHORIZED));
    }
    let token = uuid::Uuid::new_v4().simple().to_string();
    let now = Utc::now();
    let _guard = match &bare.write {
        Some(lock) => Some(lock.lock().await),
        None => None,
    };
    bare.db
        .execute(bare.stmt(
            "INSERT INTO sessions (token_hash, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4)",
            vec![token.clone().into(), id.into(), now.into(), (now + chrono::Duration::hours(12)).into()],
        ))
        .await
        .map_err(failed)?;
    Ok(web::Json(serde_json::json!({ "token": token })).into_response())
}

#[handler]
async fn bare_list(
    bare: web::Data<&Bare>,
    web::Query(q): web::Query<BTreeMap<String, String>>,
) -> poem::Result<poem::Response> {
    let (filter, order) = match (q.get("status").map(String::as_str), q.get("sort").map(String::as_str)) {
        (Some(_), Some("votes")) => ("WHERE status = $1", "vote_count DESC, id DESC"),
        (Some(_), _) => ("WHERE status = $1", "id DESC"),
        (None, Some("votes")) => ("", "vote_count DESC, id DESC"),
        (None, _) => ("", "id DESC"),
    };
    let values: Vec<sea_orm::Value> = q.get("status").map(|s| s.clone().into()).into_iter().collect();
    let rows = bare
        .db
        .query_all(bare.stmt(
            &format!(
                "SELECT id, title, status, priority, vote_count, created_at FROM tickets {filter} ORDER BY {order} LIMIT 26"
            ),
            values,
        ))
        .await
        .map_err(failed)?;
    let items: Vec<serde_json::Value> = rows
        .iter()
        .map(|r| {
            serde_json::json!({
                "id": r.try_get::<i32>("", "id").unwrap_or_default(),
                "title": r.try_get::<String>("", "title").unwrap_or_default(),
                "status": r.try_get::<String>("", "status").unwrap_or_default(),
                "vote_count": r.try_get::<i32>("", "vote_count").unwrap_or_default(),
            })
        })
        .collect();
    Ok(web::Json(serde_json::json!({ "items": items })).into_response())
}

/// Starts the bare server on a free port; returns its base URL.
async fn start_bare(url: &str) -> anyhow::Result<(String, tokio::task::JoinHandle<()>)> {
    let db = sea_orm::Database::connect(url).await?;
    let write = (db.get_database_backend() == DbBackend::Sqlite).then(|| Arc::new(Mutex::new(())));
    if write.is_some() {
        db.execute_unprepared("PRAGMA journal_mode = WAL").await?;
    }
    let bare = Bare { db, write };
    let app = poem::Route::new()
        .at("/bare/tickets", poem::post(bare_create).get(bare_list))
        .at("/bare/tickets/:id/vote", poem::put(bare_vote))
        .at("/bare/auth/login", poem::post(bare_login))
        .data(bare);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    drop(listener);
    let server = poem::Server::new(poem::listener::TcpListener::bind(addr.to_string()));
    let handle = tokio::spawn(async move {
        let _ = server.run(app).await;
    });
    // Wait until it accepts connections.
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(addr).await.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok((format!("http://{addr}"), handle))
}

/// Accounts, a category and tickets to vote on; then the students' osts sessions.
async fn seed(url: &str) -> anyhow::Result<(Store, i64, Vec<(String, i64)>, Vec<i64>)> {
    let store = Store::connect(url).await?;
    let accounts = AccountService::new(
        store.accounts(),
        store.sessions(),
        Arc::new(credentials::Argon2Hasher::new()),
        Arc::new(credentials::RandomTokens),
        Arc::new(credentials::GovernorThrottle::new(1000, 1000)),
        Arc::new(credentials::GovernorThrottle::new(1000, 1000)),
        Arc::new(SystemClock),
    );
    let err = |e: domain::Error| anyhow::anyhow!("{e}");
    let owner = accounts.create_active("owner@bench.example", "Owner", PASSWORD, Role::Student).await.map_err(err)?;
    accounts.create_active("staff@bench.example", "Staff", PASSWORD, Role::Support).await.map_err(err)?;
    let mut students = Vec::new();
    for i in 0..STUDENTS {
        let email = format!("s{i}@bench.example");
        let a = accounts.create_active(&email, &format!("Student {i}"), PASSWORD, Role::Student).await.map_err(err)?;
        students.push((email, a.id.get()));
    }
    let category = store
        .categories()
        .insert(NewCategory { name: CategoryName::parse("Exams")?, description: String::new(), position: 0 })
        .await?;
    let tickets = import(&store, owner.id, category.id, VOTE_TICKETS, 0).await?;
    Ok((store, category.id.get(), students, tickets))
}

/// `n` tickets by `creator`, raised in 2025 (before any catch-up window), in batches.
async fn import(
    store: &Store,
    creator: domain::accounts::UserId,
    category: domain::categories::CategoryId,
    n: usize,
    offset: usize,
) -> anyhow::Result<Vec<i64>> {
    let start = Utc.with_ymd_and_hms(2025, 1, 1, 0, 0, 0).unwrap();
    let priorities = [Priority::Low, Priority::Medium, Priority::Medium, Priority::High, Priority::Urgent];
    let mut ids = Vec::with_capacity(n);
    let mut i = 0;
    while i < n {
        let batch: Vec<NewTicket> = (i..n.min(i + 20_000))
            .map(|k| -> Result<NewTicket, domain::Error> {
                let k = k + offset;
                Ok(NewTicket {
                    title: Title::parse(&format!("Question {k} about module {} and its exam", k % 211))?,
                    description: Description::parse(&format!(
                        "Details of question {k}: the module page, the exam date and the result are unclear."
                    ))?,
                    category_id: category,
                    tags: Tags::default(),
                    priority: priorities[k % priorities.len()],
                    creator_id: creator,
                    created_at: start + chrono::Duration::seconds(k as i64 * 20),
                    follow_up_of: None,
                    sla_due: None,
                    escalation: None,
                })
            })
            .collect::<Result<Vec<_>, domain::Error>>()
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        i += batch.len();
        ids.extend(store.import_tickets(batch).await?.into_iter().map(|t| t.get()));
    }
    Ok(ids)
}

async fn sign_in(base: &str, email: &str) -> anyhow::Result<String> {
    let resp: serde_json::Value = reqwest::Client::new()
        .post(format!("{base}/api/v1/auth/login"))
        .json(&serde_json::json!({ "email": email, "password": PASSWORD }))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    Ok(resp["token"].as_str().context("no token")?.to_owned())
}

/// Everything measured on one backend.
struct Figures {
    backend: String,
    cells: Vec<(Op, u32, Cell, Cell)>,
    burst: (f64, f64, f64, Cell),
    lists: Vec<(String, Cell)>,
    list_size: usize,
    bytes_per_ticket: Option<f64>,
}

async fn run_backend(backend: &str, options: &Options, binary: &Path) -> anyhow::Result<Figures> {
    let db = Db::new(backend).await?;
    eprintln!("[{backend}] seeding");
    let (store, category, students, vote_tickets) = seed(&db.url).await?;
    let mut server = Server::start(binary, &db.url)?;
    let (bare_base, bare_task) = start_bare(&db.url).await?;
    let mut sessions = Vec::new();
    for (email, id) in &students {
        sessions.push((email.clone(), sign_in(&server.base, email).await?, *id));
    }
    let staff_token = sign_in(&server.base, "staff@bench.example").await?;
    let fixture = Fixture {
        category,
        students: Arc::new(sessions),
        vote_tickets: Arc::new(vote_tickets),
        next_vote: Arc::new((0..STUDENTS).map(|_| AtomicU64::new(0)).collect()),
    };
    let osts_base = server.base.clone();
    let load = |op, bare: bool| Load {
        op,
        base: if bare { bare_base.clone() } else { osts_base.clone() },
        bare,
        fixture: fixture.clone(),
        path: None,
        token: None,
    };
    let mut cells = Vec::new();
    for op in Op::ALL {
        for &c in &options.concurrency {
            server.check()?;
            let before = rss_mb(server.pid());
            let mut ours = run_load(load(op, false), c, Limit::Secs(options.secs)).await?;
            ours.rss_before_mb = before;
            ours.rss_after_mb = rss_mb(server.pid());
            let bare = run_load(load(op, true), c, Limit::Secs(options.secs)).await?;
            eprintln!(
                "[{backend}] {} c={c}: osts {:.0}/s p50 {:.1} ms p99 {:.1} ms (non-2xx {}), bare {:.0}/s p50 {:.1} ms p99 {:.1} ms",
                op.name(),
                ours.throughput,
                ours.p50_ms,
                ours.p99_ms,
                ours.non_2xx,
                bare.throughput,
                bare.p50_ms,
                bare.p99_ms
            );
            cells.push((op, c, ours, bare));
        }
    }

    // A burst of 64 concurrent sign-ins, then 30 s of quiet.
    let idle = rss_mb(server.pid()).unwrap_or(f64::NAN);
    let burst = run_load(load(Op::SignIn, false), 64, Limit::Requests(64)).await?;
    let after = rss_mb(server.pid()).unwrap_or(f64::NAN);
    tokio::time::sleep(Duration::from_secs(30)).await;
    let later = rss_mb(server.pid()).unwrap_or(f64::NAN);
    eprintln!(
        "[{backend}] 64 concurrent sign-ins: RSS {idle:.0} → {after:.0} → {later:.0} MB 30 s later ({})",
        burst.statuses
    );

    // Lists at scale.
    let mut lists = Vec::new();
    let mut bytes_per_ticket = None;
    if options.list_size > 0 {
        let have = store.count_raw("SELECT COUNT(*) AS n FROM tickets").await? as usize;
        if options.list_size > have {
            eprintln!("[{backend}] importing {} tickets", options.list_size - have);
            let owner = domain::accounts::UserId::new(1);
            import(&store, owner, domain::categories::CategoryId::new(category), options.list_size - have, have)
                .await?;
        }
        // A mix of statuses, votes and assignees, as after a term of use.
        store
            .execute_raw(
                "UPDATE tickets SET \
                   status = CASE WHEN id % 10 < 5 THEN 'closed' WHEN id % 10 < 7 THEN 'resolved' \
                                 WHEN id % 10 < 9 THEN 'open' ELSE 'in_progress' END, \
                   vote_count = ((id % 1000) * 7919) % 60, \
                   assignee_id = CASE WHEN id % 10 = 9 THEN 2 ELSE NULL END",
            )
            .await?;
        store
            .execute_raw("INSERT INTO ticket_tags (ticket_id, tag) SELECT id, 'exam' FROM tickets WHERE id % 50 = 0")
            .await?;
        let student = fixture.students[0].2;
        store
            .execute_raw(&format!(
                "INSERT INTO votes (ticket_id, user_id, created_at) SELECT id, {student}, created_at FROM tickets \
                 WHERE id % 997 = 0 ON CONFLICT DO NOTHING"
            ))
            .await?;
        store.refresh_statistics().await?;
        bytes_per_ticket = database_bytes(&store, &db).await.ok().map(|b| b as f64 / options.list_size as f64);
        let cases = [
            "sort=newest",
            "sort=votes",
            "sort=queue",
            "status=open&sort=newest",
            "status=open&sort=votes",
            "status=open&sort=queue",
            "priority=high&sort=newest",
            "priority=high&sort=votes",
            "priority=high&sort=queue",
            "category_id=1&sort=newest",
            "category_id=1&sort=votes",
            "category_id=1&sort=queue",
            "tag=exam&sort=newest",
            "tag=exam&sort=votes",
            "tag=exam&sort=queue",
            "mine=true&sort=newest",
            "voted=true&sort=newest",
            "voted=true&sort=votes",
        ];
        for case in cases {
            let mut suite = load(Op::List, false);
            suite.path = Some(format!("/tickets?{case}&limit=25"));
            let cell = run_load(suite, 1, Limit::Requests(options.list_requests)).await?;
            eprintln!("[{backend}] GET /tickets?{case}: p50 {:.1} ms p99 {:.1} ms", cell.p50_ms, cell.p99_ms);
            lists.push((format!("`/tickets?{case}`"), cell));
        }
        for case in ["", "&assigned=me", "&assigned=unassigned", "&priority=high", "&category_id=1"] {
            let mut suite = load(Op::List, false);
            suite.token = Some(staff_token.clone());
            suite.path = Some(format!("/queue?limit=25{case}"));
            let cell = run_load(suite, 1, Limit::Requests(options.list_requests)).await?;
            eprintln!("[{backend}] GET /queue?limit=25{case}: p50 {:.1} ms p99 {:.1} ms", cell.p50_ms, cell.p99_ms);
            lists.push((format!("`/queue?limit=25{case}`"), cell));
        }
    }

    server.stop()?;
    bare_task.abort();
    store.close().await?;
    db.finish().await?;
    Ok(Figures {
        backend: backend.to_owned(),
        cells,
        burst: (idle, after, later, burst),
        lists,
        list_size: options.list_size,
        bytes_per_ticket,
    })
}

/// The database's size on disk (SQLite: the file and its WAL; PostgreSQL: the database).
async fn database_bytes(store: &Store, db: &Db) -> anyhow::Result<u64> {
    match &db.file {
        Some(path) => {
            store.execute_raw("PRAGMA wal_checkpoint(TRUNCATE)").await?;
            Ok(std::fs::metadata(path)?.len())
        }
        None => Ok(store.count_raw("SELECT pg_database_size(current_database()) AS n").await? as u64),
    }
}

fn table(figures: &[Figures], options: &Options) -> String {
    let mut md = String::new();
    for f in figures {
        md.push_str(&format!("\n### {}\n\n", f.backend));
        md.push_str(
            "| operation | c | osts req/s | bare req/s | osts ÷ bare | osts p50 / p99 ms | bare p50 / p99 ms | osts non-2xx | osts RSS before → after MB |\n\
             | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n",
        );
        for (op, c, ours, bare) in &f.cells {
            md.push_str(&format!(
                "| {} | {c} | {:.0} | {:.0} | {:.2} | {:.1} / {:.1} | {:.1} / {:.1} | {}{} | {:.0} → {:.0} |\n",
                op.name(),
                ours.throughput,
                bare.throughput,
                ours.throughput / bare.throughput,
                ours.p50_ms,
                ours.p99_ms,
                bare.p50_ms,
                bare.p99_ms,
                ours.non_2xx,
                if ours.statuses.is_empty() { String::new() } else { format!(" ({})", ours.statuses) },
                ours.rss_before_mb.unwrap_or(f64::NAN),
                ours.rss_after_mb.unwrap_or(f64::NAN),
            ));
        }
        let (idle, after, later, burst) = &f.burst;
        md.push_str(&format!(
            "\n64 concurrent sign-ins: resident memory {idle:.0} MB before, {after:.0} MB right after, {later:.0} MB 30 s \
             later; {} answered 2xx, {} not ({}).\n",
            burst.requests - burst.non_2xx,
            burst.non_2xx,
            if burst.statuses.is_empty() { "none".to_owned() } else { burst.statuses.clone() }
        ));
        if !f.lists.is_empty() {
            md.push_str(&format!(
                "\nLists at {} tickets ({} sequential requests each after 10 warm-up requests; disk: {}):\n\n\
                 | request | p50 ms | p99 ms | non-2xx |\n| --- | ---: | ---: | ---: |\n",
                f.list_size,
                options.list_requests,
                f.bytes_per_ticket
                    .map_or("n/a".to_owned(), |b| format!("{b:.0} bytes per ticket, every index included"))
            ));
            for (name, cell) in &f.lists {
                md.push_str(&format!("| {name} | {:.1} | {:.1} | {} |\n", cell.p50_ms, cell.p99_ms, cell.non_2xx));
            }
        }
    }
    md
}

/// Runs the benchmark and writes its section of `options.doc`.
pub async fn api(options: Options) -> anyhow::Result<()> {
    let binary = crate::target_dir().join("release").join("osts");
    anyhow::ensure!(binary.exists(), "{} is missing: build it with cargo build --release -p server", binary.display());
    let mut figures = Vec::new();
    for backend in &options.backends {
        figures.push(run_backend(backend, &options, &binary).await?);
    }
    let results = table(&figures, &options);
    println!("{results}");
    let stamp = Utc::now().format("%Y-%m-%d %H:%M UTC");
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let section = format!(
        "{BEGIN}\n## Results ({cores}-core machine shared with other engineers' builds, {stamp}, release build, {} s per cell)\n{results}{END}",
        options.secs
    );
    let doc = std::fs::read_to_string(&options.doc).unwrap_or_default();
    let updated = match (doc.find(BEGIN), doc.find(END)) {
        (Some(b), Some(e)) if b < e => format!("{}{section}{}", &doc[..b], &doc[e + END.len()..]),
        _ => format!("{doc}\n{section}\n"),
    };
    std::fs::write(&options.doc, updated)?;
    eprintln!("results written to {}", options.doc.display());
    Ok(())
}

const BEGIN: &str = "<!-- bench api: results (cargo xtask bench api writes between these markers) -->";
const END: &str = "<!-- /bench api -->";
