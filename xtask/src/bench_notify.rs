//! `cargo xtask bench notify`: what resolving a ticket with many upvoters costs (see
//! `docs/benchmarks.md` for the method and the figures).
//!
//! For each backend and size: a ticket whose creator and N upvoters watch it is resolved
//! through the HTTP API (in process, whole middleware stack). Measured: the request's latency;
//! the time until all N+1 notification and delivery rows are visible to another connection;
//! the same number of rows written as plain single-row INSERTs in one transaction (the
//! baseline, in the same run); and the drain rate of the delivery worker to an SMTP server on
//! loopback (a minimal in-process sink, as in the mailer's tests).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use async_trait::async_trait;
use domain::accounts::{AccountService, ClientAddr, Role};
use domain::categories::NewCategory;
use domain::clock::SystemClock;
use domain::notifications::{Channels, DeliveryWorker, WorkerSettings};
use domain::tickets::{Description, NewTicket, Priority, Tags, Title};
use poem::{test::TestClient, EndpointExt};
use store::Store;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

const PASSWORD: &str = "bench password 1234";
const STAMP: &str = "2026-01-01T00:00:00+00:00";

/// What to run.
pub struct Options {
    /// Upvoter counts.
    pub sizes: Vec<usize>,
    /// `sqlite` and/or `postgres`.
    pub backends: Vec<String>,
    /// Stop draining after this many emails (the rate is measured over them); all if `None`.
    pub drain_max: Option<usize>,
}

/// One row of the result table.
struct Figures {
    backend: String,
    upvoters: usize,
    resolve: Duration,
    committed: Duration,
    baseline: Duration,
    drain: Duration,
    emails: usize,
}

pub async fn notify(options: Options) -> anyhow::Result<()> {
    println!(
        "| backend | upvoters | resolve request | all rows committed | baseline: same rows as plain INSERTs | \
         resolve / baseline | drain to SMTP |"
    );
    println!("| --- | ---: | ---: | ---: | ---: | ---: | ---: |");
    for backend in &options.backends {
        for &n in &options.sizes {
            eprintln!("{backend}: {n} upvoters...");
            let f = run(backend, n, options.drain_max.unwrap_or(usize::MAX)).await?;
            // Each row as soon as it is measured: the large runs take minutes.
            println!(
                "| {} | {} | {:.0} ms | {:.0} ms | {:.0} ms | {:.2} | {} emails in {:.1} s = {:.0}/s |",
                f.backend,
                f.upvoters,
                ms(f.resolve),
                ms(f.committed),
                ms(f.baseline),
                f.resolve.as_secs_f64() / f.baseline.as_secs_f64(),
                f.emails,
                f.drain.as_secs_f64(),
                f.emails as f64 / f.drain.as_secs_f64(),
            );
        }
    }
    Ok(())
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// A fresh database: an SQLite file, or a new PostgreSQL database (dropped afterwards).
pub(crate) struct Db {
    /// The store on it.
    pub(crate) store: Store,
    cleanup: Option<(String, String)>,
    file: Option<std::path::PathBuf>,
}

impl Db {
    pub(crate) async fn new(backend: &str) -> anyhow::Result<Self> {
        match backend {
            "sqlite" => {
                let path = std::env::temp_dir().join(format!("osts-bench-{}.db", uuid::Uuid::new_v4().simple()));
                let store = Store::connect(&format!("sqlite://{}?mode=rwc", path.display())).await?;
                Ok(Self { store, cleanup: None, file: Some(path) })
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
                Ok(Self { store: Store::connect(&url).await?, cleanup: Some((admin_url, name)), file: None })
            }
            other => anyhow::bail!("unknown backend {other}"),
        }
    }

    pub(crate) async fn finish(self) -> anyhow::Result<()> {
        self.store.close().await?;
        if let Some((admin_url, name)) = self.cleanup {
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

struct Up;

#[async_trait]
impl api::Health for Up {
    async fn check(&self) -> anyhow::Result<()> {
        Ok(())
    }
}

fn unsubscribe_tokens() -> anyhow::Result<credentials::HmacUnsubscribeTokens> {
    Ok(credentials::HmacUnsubscribeTokens::new(credentials::SecretKey::new(
        "bench key, not a secret: 0123456789abcdef",
    )?))
}

async fn count(store: &Store, sql: &str) -> anyhow::Result<i64> {
    store.count_raw(sql).await
}

async fn run(backend: &str, n: usize, drain_max: usize) -> anyhow::Result<Figures> {
    let db = Db::new(backend).await?;
    let store = db.store.clone();
    let accounts = AccountService::new(
        store.accounts(),
        store.sessions(),
        Arc::new(credentials::Argon2Hasher::fast_for_tests()),
        Arc::new(credentials::RandomTokens),
        Arc::new(credentials::GovernorThrottle::new(1000, 1000)),
        Arc::new(credentials::GovernorThrottle::new(1000, 1000)),
        Arc::new(SystemClock),
    );
    let err = |e: domain::Error| anyhow::anyhow!("{e}");
    let creator =
        accounts.create_active("creator@bench.example", "Creator", PASSWORD, Role::Student).await.map_err(err)?;
    accounts.create_active("agent@bench.example", "Agent", PASSWORD, Role::Support).await.map_err(err)?;
    let category = store
        .categories()
        .insert(NewCategory {
            name: domain::categories::CategoryName::parse("Bench").map_err(|e| anyhow::anyhow!("{e}"))?,
            description: String::new(),
            position: 0,
        })
        .await?;
    let ticket = store
        .import_tickets(vec![NewTicket {
            title: Title::parse("The exam room is too cold").map_err(|e| anyhow::anyhow!("{e}"))?,
            description: Description::parse("Everyone is freezing.").map_err(|e| anyhow::anyhow!("{e}"))?,
            category_id: category.id,
            tags: Tags::default(),
            priority: Priority::Medium,
            creator_id: creator.id,
            created_at: chrono::Utc::now(),
            follow_up_of: None,
            sla_due: None,
            escalation: None,
        }])
        .await?[0]
        .get();
    // N students who voted (and so watch), written set-based: the setup is not measured.
    store
        .execute_raw(&format!(
            "WITH RECURSIVE seq(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM seq WHERE i < {n}) \
             INSERT INTO users (email, display_name, role, status, password_hash, email_confirmed_at, created_at, \
             updated_at) SELECT 'v' || i || '@bench.example', 'Voter ' || i, 'student', 'active', 'x', '{STAMP}', \
             '{STAMP}', '{STAMP}' FROM seq"
        ))
        .await?;
    for table in ["votes", "watchers"] {
        store
            .execute_raw(&format!(
                "INSERT INTO {table} (ticket_id, user_id, created_at) SELECT {ticket}, id, '{STAMP}' FROM users \
                 WHERE email LIKE 'v%@bench.example'"
            ))
            .await?;
    }
    store
        .execute_raw(&format!(
            "INSERT INTO watchers (ticket_id, user_id, created_at) VALUES ({ticket}, {}, '{STAMP}')",
            creator.id.get()
        ))
        .await?;
    store.execute_raw(&format!("UPDATE tickets SET vote_count = {n} WHERE id = {ticket}")).await?;

    let adapters = domain::services::Adapters {
        hasher: Arc::new(credentials::Argon2Hasher::fast_for_tests()),
        tokens: Arc::new(credentials::RandomTokens),
        throttle: Arc::new(credentials::GovernorThrottle::new(1000, 1000)),
        resend_throttle: Arc::new(credentials::GovernorThrottle::new(1000, 1000)),
        blobs: Arc::new(blobs::FsBlobStore::new(std::env::temp_dir().join("osts-bench-blobs"))),
        unsubscribe: Arc::new(unsubscribe_tokens()?),
        clock: Arc::new(SystemClock),
    };
    let ports = domain::Ports::new(store.repositories(), adapters, domain::services::Semantic::off());
    let app = api::App::new(ports, domain::ServiceSettings::default());
    let session = app.accounts.login("agent@bench.example", PASSWORD, ClientAddr::Unknown).await.map_err(err)?;
    let client = TestClient::new(api::build(app, Arc::new(Up)).boxed());

    // The resolve request: the ticket, its event, N+1 notifications and N+1 deliveries in one
    // transaction.
    let started = Instant::now();
    let resp = client
        .post(format!("/api/v1/tickets/{ticket}/resolve"))
        .header("Authorization", format!("Bearer {}", session.token.expose()))
        .body_json(&serde_json::json!({ "answer": "The heating is fixed; room 4 is warm again." }))
        .send()
        .await;
    let status = resp.0.status();
    let _ = resp.0.into_body().into_bytes().await;
    let resolve = started.elapsed();
    anyhow::ensure!(status.is_success(), "resolve answered {status}");
    eprintln!("  resolved in {:.0} ms", ms(resolve));
    // Read back through the pool (another connection): everything is there already.
    let expected = i64::try_from(n + 1)?;
    loop {
        let notes = count(&store, "SELECT COUNT(*) AS n FROM notifications").await?;
        let jobs = count(&store, "SELECT COUNT(*) AS n FROM deliveries").await?;
        if notes == expected && jobs == expected {
            break;
        }
        anyhow::ensure!(started.elapsed() < Duration::from_secs(600), "rows never appeared ({notes}, {jobs})");
    }
    let committed = started.elapsed();

    // Baseline: the same number of rows (notifications + deliveries) as plain single-row
    // INSERTs of a similar shape, in one transaction, on the same database.
    store
        .execute_raw(
            "CREATE TABLE bench_plain (user_id INTEGER NOT NULL, ticket_id INTEGER NOT NULL, kind VARCHAR(32) NOT NULL, \
             payload TEXT NOT NULL, created_at VARCHAR(40) NOT NULL)",
        )
        .await?;
    let mut sql = String::with_capacity(2 * (n + 1) * 160);
    sql.push_str("BEGIN;\n");
    for i in 0..2 * (n + 1) {
        sql.push_str(&format!(
            "INSERT INTO bench_plain (user_id, ticket_id, kind, payload, created_at) VALUES ({i}, {ticket}, \
             'resolved', '{{\"kind\":\"resolved\",\"answer\":\"The heating is fixed.\"}}', '{STAMP}');\n"
        ));
    }
    sql.push_str("COMMIT;");
    let started = Instant::now();
    store.execute_raw(&sql).await?;
    let baseline = started.elapsed();
    eprintln!("  baseline in {:.0} ms; draining...", ms(baseline));
    anyhow::ensure!(count(&store, "SELECT COUNT(*) AS n FROM bench_plain").await? == 2 * expected);

    // Drain: the delivery worker against an SMTP server on loopback.
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    let received = Arc::new(AtomicUsize::new(0));
    let sink_task = tokio::spawn(sink(listener, received.clone()));
    let mailer = mailer::LettreMailer::smtp(
        &format!("smtp://127.0.0.1:{port}"),
        "osts <osts@bench.example>",
        mailer::Links::new("http://127.0.0.1:8080"),
    )?;
    let worker = DeliveryWorker::new(
        store.outbox(),
        Channels::new(Arc::new(mailer)),
        Arc::new(unsubscribe_tokens()?),
        Arc::new(SystemClock),
        Arc::new(|| 1.0),
        WorkerSettings::default(),
    );
    let started = Instant::now();
    let mut sent = 0;
    while sent < drain_max {
        let report = worker.deliver_due(&domain::stop::Stop::never()).await?;
        anyhow::ensure!(report.retried == 0 && report.dead == 0, "a delivery failed: {report:?}");
        if report.handled() == 0 {
            break;
        }
        sent += report.sent as usize;
    }
    let drain = started.elapsed();
    sink_task.abort();
    let emails = received.load(Ordering::Relaxed);
    anyhow::ensure!(emails == sent, "{emails} emails arrived, {sent} were marked sent");
    anyhow::ensure!(emails == (n + 1).min(drain_max.next_multiple_of(50)).min(n + 1), "{emails} emails arrived");
    db.finish().await?;
    Ok(Figures { backend: backend.to_owned(), upvoters: n, resolve, committed, baseline, drain, emails })
}

/// A minimal SMTP server that counts the messages it accepts.
async fn sink(listener: TcpListener, received: Arc<AtomicUsize>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else { return };
        let received = received.clone();
        // Replies are small writes: without this, delayed ACKs add ~40 ms per message.
        stream.set_nodelay(true).ok();
        tokio::spawn(async move {
            let (read, mut write) = stream.into_split();
            let mut lines = BufReader::new(read).lines();
            write.write_all(b"220 sink ESMTP\r\n").await.ok();
            while let Ok(Some(line)) = lines.next_line().await {
                let upper = line.to_ascii_uppercase();
                let reply: &[u8] = if upper.starts_with("EHLO") || upper.starts_with("HELO") {
                    b"250-sink\r\n250 8BITMIME\r\n"
                } else if upper == "DATA" {
                    write.write_all(b"354 go ahead\r\n").await.ok();
                    while let Ok(Some(l)) = lines.next_line().await {
                        if l == "." {
                            break;
                        }
                    }
                    received.fetch_add(1, Ordering::Relaxed);
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
        });
    }
}
