//! The SeaORM adapter: the domain's repositories on SQLite (the embedded default) and
//! PostgreSQL (for scale), with the same entities and the same migrations.
//!
//! Each port method is one transaction, opened and committed here. SQLite allows one writer
//! at a time; to avoid `SQLITE_BUSY` on lock upgrades, write transactions of one process take
//! an in-process lock first (readers are never blocked thanks to WAL), and the busy timeout
//! covers other processes.

mod accounts;
mod attachments;
mod backup;
mod categories;
mod conversation;
mod entity;
mod escalation;
mod faq;
mod forum;
mod import;
mod notifications;
mod similarity;
mod telemetry;
mod tickets;
mod votes;
mod workflow;

use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use domain::accounts::{AccountRepository, SessionRepository};
use domain::attachments::AttachmentRepository;
use domain::categories::CategoryRepository;
use domain::similarity::{EmbeddingRepository, SimilarityIndex};
use domain::tickets::TicketRepository;
use domain::votes::VoteRepository;
use migrations::{Migrator, MigratorTrait};
use sea_orm::sqlx::postgres::PgPoolOptions;
use sea_orm::sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sea_orm::{
    ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, DbErr, SqlErr, SqlxPostgresConnector,
    SqlxSqliteConnector, TransactionTrait,
};
use tokio::sync::{Mutex, MutexGuard, Notify};

pub use telemetry::{ChannelBacklog, PoolUsage, QUERY_DURATION};

/// Which database a URL points at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// An SQLite file (or `sqlite::memory:`).
    Sqlite,
    /// A PostgreSQL server.
    Postgres,
}

impl Backend {
    /// Tells the backend from a database URL.
    pub fn of(url: &str) -> anyhow::Result<Self> {
        if url.starts_with("sqlite:") {
            Ok(Self::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Self::Postgres)
        } else {
            anyhow::bail!("unsupported database URL scheme (expected sqlite: or postgres://)")
        }
    }
}

/// Connection settings beyond the URL.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// Most pooled connections (PostgreSQL; SQLite files use up to this many readers).
    pub max_connections: u32,
    /// How long SQLite waits for another process's write lock.
    pub busy_timeout: Duration,
    /// Apply pending migrations on connect.
    pub migrate: bool,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self { max_connections: 10, busy_timeout: Duration::from_secs(5), migrate: true }
    }
}

/// The store: a connection pool and the repositories built on it.
#[derive(Clone)]
pub struct Store {
    db: DatabaseConnection,
    write_lock: Option<Arc<Mutex<()>>>,
    /// Signalled after a commit that enqueued deliveries (see [`Store::delivery_wake`]).
    wake: Arc<Notify>,
}

impl Store {
    /// Connects with default options and applies pending migrations.
    pub async fn connect(url: &str) -> anyhow::Result<Self> {
        Self::connect_with(url, StoreOptions::default()).await
    }

    /// Connects to `url` (SQLite files are created if missing, in WAL mode with a busy
    /// timeout and foreign keys on).
    pub async fn connect_with(url: &str, options: StoreOptions) -> anyhow::Result<Self> {
        // Whether the migrations already ran (a SQLite file migrates before its pool opens).
        let mut migrated = false;
        let store = match Backend::of(url)? {
            Backend::Sqlite => {
                let memory = url.contains(":memory:") || url.contains("mode=memory");
                let connect = SqliteConnectOptions::from_str(url)
                    .context("invalid SQLite URL")?
                    .create_if_missing(true)
                    .foreign_keys(true)
                    .busy_timeout(options.busy_timeout)
                    .journal_mode(if memory { SqliteJournalMode::Memory } else { SqliteJournalMode::Wal })
                    .synchronous(SqliteSynchronous::Normal);
                if options.migrate && !memory {
                    // Migrate through a connection of its own, closed before the pool opens.
                    // A pooled connection that had read the file before the tables existed
                    // could keep that snapshot (WAL) and fail later with "no such table".
                    let pool = SqlitePoolOptions::new()
                        .max_connections(1)
                        .connect_with(connect.clone())
                        .await
                        .context("cannot open the SQLite database")?;
                    let db = SqlxSqliteConnector::from_sqlx_sqlite_pool(pool);
                    Migrator::up(&db, None).await.context("migration failed")?;
                    db.close().await.context("closing the migration connection")?;
                    migrated = true;
                }
                // An in-memory database lives in one connection; keep exactly that one.
                let max = if memory { 1 } else { options.max_connections.max(2) };
                let pool = SqlitePoolOptions::new()
                    .max_connections(max)
                    .min_connections(if memory { 1 } else { 0 })
                    .idle_timeout(if memory { None } else { Some(Duration::from_secs(600)) })
                    .max_lifetime(if memory { None } else { Some(Duration::from_secs(3600)) })
                    .connect_with(connect)
                    .await
                    .context("cannot open the SQLite database")?;
                let mut db = SqlxSqliteConnector::from_sqlx_sqlite_pool(pool);
                telemetry::instrument(&mut db);
                Self { db, write_lock: Some(Arc::new(Mutex::new(()))), wake: Arc::new(Notify::new()) }
            }
            Backend::Postgres => {
                let pool = PgPoolOptions::new()
                    .max_connections(options.max_connections)
                    .acquire_timeout(Duration::from_secs(10))
                    .connect(url)
                    .await
                    .context("cannot connect to PostgreSQL")?;
                let mut db = SqlxPostgresConnector::from_sqlx_postgres_pool(pool);
                telemetry::instrument(&mut db);
                Self { db, write_lock: None, wake: Arc::new(Notify::new()) }
            }
        };
        if options.migrate && !migrated {
            store.migrate().await?;
        }
        Ok(store)
    }

    /// Applies pending migrations.
    pub async fn migrate(&self) -> anyhow::Result<()> {
        Migrator::up(&self.db, None).await.context("migration failed")
    }

    /// Names of applied and pending migrations.
    pub async fn migration_status(&self) -> anyhow::Result<(Vec<String>, Vec<String>)> {
        let applied = Migrator::get_applied_migrations(&self.db).await?;
        let pending = Migrator::get_pending_migrations(&self.db).await?;
        Ok((
            applied.iter().map(|m| m.name().to_owned()).collect(),
            pending.iter().map(|m| m.name().to_owned()).collect(),
        ))
    }

    /// Drops every table and applies all migrations again (development only).
    pub async fn fresh(&self) -> anyhow::Result<()> {
        Migrator::fresh(&self.db).await.context("fresh migration failed")
    }

    /// Which backend this store talks to.
    pub fn backend(&self) -> Backend {
        match self.db.get_database_backend() {
            DbBackend::Sqlite => Backend::Sqlite,
            DbBackend::Postgres | DbBackend::MySql => Backend::Postgres,
        }
    }

    /// Checks the database answers.
    pub async fn ping(&self) -> anyhow::Result<()> {
        self.db.ping().await.context("database ping failed")
    }

    /// Closes the pool.
    pub async fn close(self) -> anyhow::Result<()> {
        self.db.close().await.context("closing the pool")
    }

    /// The account repository.
    pub fn accounts(&self) -> Arc<dyn AccountRepository> {
        Arc::new(self.clone())
    }
    /// The session repository.
    pub fn sessions(&self) -> Arc<dyn SessionRepository> {
        Arc::new(self.clone())
    }
    /// The category repository.
    pub fn categories(&self) -> Arc<dyn CategoryRepository> {
        Arc::new(self.clone())
    }
    /// The ticket repository.
    pub fn tickets(&self) -> Arc<dyn TicketRepository> {
        Arc::new(self.clone())
    }
    /// The vote repository.
    pub fn votes(&self) -> Arc<dyn VoteRepository> {
        Arc::new(self.clone())
    }
    /// The reply repository.
    pub fn replies(&self) -> Arc<dyn domain::conversation::ReplyRepository> {
        Arc::new(self.clone())
    }
    /// The watcher repository.
    pub fn watchers(&self) -> Arc<dyn domain::conversation::WatcherRepository> {
        Arc::new(self.clone())
    }
    /// The support workflow's repository.
    pub fn workflow(&self) -> Arc<dyn domain::workflow::WorkflowRepository> {
        Arc::new(self.clone())
    }

    /// Escalations, SLA states and settings, and chat webhooks.
    pub fn escalations(&self) -> Arc<dyn domain::escalation::EscalationRepository> {
        Arc::new(self.clone())
    }

    /// Every repository the store implements, for the composition root to join with the
    /// other adapters ([`domain::Ports::new`]).
    pub fn repositories(&self) -> domain::services::Repositories {
        domain::services::Repositories {
            forum: Arc::new(self.clone()),
            escalations: self.escalations(),
            accounts: self.accounts(),
            sessions: self.sessions(),
            categories: self.categories(),
            tickets: self.tickets(),
            votes: self.votes(),
            replies: self.replies(),
            watchers: self.watchers(),
            workflow: self.workflow(),
            attachments: self.attachments(),
            faq: self.faq(),
            notifications: Arc::new(self.clone()),
            outbox: self.outbox(),
            similarity: self.similarity(),
            embeddings: self.embeddings(),
        }
    }

    /// Full-text search and batched reads for similar tickets.
    pub fn similarity(&self) -> Arc<dyn SimilarityIndex> {
        Arc::new(self.clone())
    }
    /// Stored ticket embeddings.
    pub fn embeddings(&self) -> Arc<dyn EmbeddingRepository> {
        Arc::new(self.clone())
    }
    /// Signalled (`notify_one`, so a signal sent while nobody waits is kept) after each commit
    /// that enqueued deliveries, so this process's delivery worker starts at once instead of
    /// at its next interval. Other servers sharing the database are not told; their interval
    /// covers them.
    pub fn delivery_wake(&self) -> Arc<Notify> {
        self.wake.clone()
    }
    /// The outbox of deliveries (for the delivery worker).
    pub fn outbox(&self) -> Arc<dyn domain::notifications::OutboxRepository> {
        Arc::new(self.clone())
    }
    /// The FAQ repository.
    pub fn faq(&self) -> Arc<dyn domain::faq::FaqRepository> {
        Arc::new(self.clone())
    }
    /// The attachment (metadata) repository.
    pub fn attachments(&self) -> Arc<dyn AttachmentRepository> {
        Arc::new(self.clone())
    }

    /// Begins a write transaction (serialised per process on SQLite).
    async fn write(&self) -> Result<WriteTx<'_>, DbErr> {
        let guard = match &self.write_lock {
            Some(lock) => Some(lock.lock().await),
            None => None,
        };
        let txn = self.db.begin().await?;
        Ok(WriteTx { txn, _guard: guard, enqueued: AtomicBool::new(false), wake: &self.wake })
    }
}

/// A transaction that holds the SQLite write lock until it ends, and wakes the delivery
/// worker after committing if it enqueued deliveries.
struct WriteTx<'a> {
    txn: DatabaseTransaction,
    _guard: Option<MutexGuard<'a, ()>>,
    enqueued: AtomicBool,
    wake: &'a Notify,
}

impl WriteTx<'_> {
    async fn commit(self) -> Result<(), DbErr> {
        self.txn.commit().await?;
        // After the commit, never before: a worker woken earlier would not see the rows.
        if self.enqueued.load(Ordering::Relaxed) {
            self.wake.notify_one();
        }
        Ok(())
    }

    /// Notes that this transaction enqueued deliveries.
    fn enqueued(&self) {
        self.enqueued.store(true, Ordering::Relaxed);
    }
}

impl std::ops::Deref for WriteTx<'_> {
    type Target = DatabaseTransaction;
    fn deref(&self) -> &DatabaseTransaction {
        &self.txn
    }
}

/// Whether a database error is a unique-key violation.
fn is_unique_violation(err: &DbErr) -> bool {
    matches!(err.sql_err(), Some(SqlErr::UniqueConstraintViolation(_)))
}

/// The stored (32-bit) form of a domain id; `None` for ids no row can have, which callers
/// treat as "not found" rather than as an error.
fn id32(id: i64) -> Option<i32> {
    i32::try_from(id).ok()
}

impl Store {
    /// Runs one raw statement outside any transaction (administrative use: creating or
    /// dropping databases in tests and tools).
    pub async fn execute_raw(&self, sql: &str) -> anyhow::Result<()> {
        self.db.execute_unprepared(sql).await.with_context(|| format!("executing {sql:?}"))?;
        Ok(())
    }

    /// Keeps the planner's statistics current, so list queries keep choosing their indexes as
    /// tables grow; cheap when nothing changed much. SQLite: `PRAGMA optimize` over every
    /// table (with `analysis_limit`, so a large table is sampled, not read whole).
    /// PostgreSQL: `ANALYZE` of each table changed by more than 50 rows + 10 % since it was
    /// last analysed (autovacuum's default rule, applied here because autovacuum may be off).
    /// Returns the tables analysed on PostgreSQL (SQLite does not say).
    pub async fn refresh_statistics(&self) -> anyhow::Result<Vec<String>> {
        match self.backend() {
            Backend::Sqlite => {
                // On one connection: the limit is a per-connection setting.
                let txn = self.db.begin().await?;
                txn.execute_unprepared("PRAGMA analysis_limit = 1000").await?;
                txn.execute_unprepared("PRAGMA optimize = 0x10002").await.context("PRAGMA optimize")?;
                txn.commit().await?;
                Ok(vec![])
            }
            Backend::Postgres => {
                let stale = sea_orm::Statement::from_string(
                    DbBackend::Postgres,
                    "SELECT relname::text AS name FROM pg_stat_user_tables \
                     WHERE schemaname = current_schema() AND n_mod_since_analyze > 50 + 0.1 * GREATEST(n_live_tup, 0) \
                     ORDER BY relname",
                );
                let mut analysed = Vec::new();
                for row in self.db.query_all(stale).await.context("reading table statistics")? {
                    let name: String = row.try_get("", "name")?;
                    let quoted = format!("\"{}\"", name.replace('"', "\"\""));
                    self.db
                        .execute_unprepared(&format!("ANALYZE {quoted}"))
                        .await
                        .with_context(|| format!("ANALYZE {name}"))?;
                    analysed.push(name);
                }
                Ok(analysed)
            }
        }
    }

    /// Refreshes the planner's statistics of `tables` after a bulk change to them, without
    /// waiting for the change counters [`Store::refresh_statistics`] reads (PostgreSQL
    /// publishes them up to a second late). SQLite: `PRAGMA optimize`, as there.
    pub(crate) async fn analyze(&self, tables: &[&str]) -> anyhow::Result<()> {
        match self.backend() {
            Backend::Sqlite => self.refresh_statistics().await.map(drop),
            Backend::Postgres => {
                for table in tables {
                    self.db
                        .execute_unprepared(&format!("ANALYZE {table}"))
                        .await
                        .with_context(|| format!("ANALYZE {table}"))?;
                }
                Ok(())
            }
        }
    }

    /// Runs one raw query whose first row has an integer column `n` and returns it (tools and
    /// benchmarks: counting rows).
    pub async fn count_raw(&self, sql: &str) -> anyhow::Result<i64> {
        let statement = sea_orm::Statement::from_string(self.db.get_database_backend(), sql);
        let row = self.db.query_one(statement).await?.with_context(|| format!("{sql:?} returned no row"))?;
        Ok(row.try_get("", "n")?)
    }
}
