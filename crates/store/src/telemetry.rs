//! What the store tells the metrics: every statement's latency (recorded as it runs), the
//! pool's use, and the outbox's depth, age and dead letters per channel (read at scrape
//! time).

use chrono::{DateTime, Utc};
use domain::notifications::{Channel, DeliveryStatus};
use sea_orm::DatabaseConnection;

use crate::notifications::query;
use crate::Store;

/// Histogram, seconds: each statement the store runs (label `outcome`: `ok`, `error`).
pub const QUERY_DURATION: &str = "osts_db_query_duration_seconds";

/// Records one statement, from SeaORM's metric callback (set on every pool the store opens).
pub(crate) fn record_query(info: &sea_orm::metric::Info<'_>) {
    let outcome = if info.failed { "error" } else { "ok" };
    metrics::histogram!(QUERY_DURATION, "outcome" => outcome).record(info.elapsed.as_secs_f64());
}

/// Sets the query-latency callback on a fresh pool.
pub(crate) fn instrument(db: &mut DatabaseConnection) {
    db.set_metric_callback(record_query);
}

/// How the connection pool is used now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolUsage {
    /// Connections open (idle or in use).
    pub open: u32,
    /// Open connections not in use.
    pub idle: u32,
    /// The most the pool opens.
    pub max: u32,
}

/// One outbox channel's backlog.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelBacklog {
    /// The channel.
    pub channel: Channel,
    /// Jobs waiting or being delivered (`pending` or `sending`).
    pub depth: u64,
    /// When the oldest of those was enqueued.
    pub oldest: Option<DateTime<Utc>>,
    /// Dead letters waiting for an admin.
    pub dead: u64,
}

impl Store {
    /// How the connection pool is used now.
    pub fn pool_usage(&self) -> PoolUsage {
        let (open, idle, max) = match self.backend() {
            crate::Backend::Sqlite => {
                let pool = self.db.get_sqlite_connection_pool();
                (pool.size(), pool.num_idle(), pool.options().get_max_connections())
            }
            crate::Backend::Postgres => {
                let pool = self.db.get_postgres_connection_pool();
                (pool.size(), pool.num_idle(), pool.options().get_max_connections())
            }
        };
        PoolUsage { open, idle: u32::try_from(idle).unwrap_or(u32::MAX), max }
    }

    /// Each of `channels`' backlog, in the order given (a channel without jobs has zeros), in
    /// one grouped statement over the outbox's status index.
    pub async fn outbox_backlog(&self, channels: &[Channel]) -> anyhow::Result<Vec<ChannelBacklog>> {
        let rows = query(
            &self.db,
            "SELECT channel, status, COUNT(*) AS n, MIN(created_at) AS oldest FROM deliveries \
             WHERE status IN ($1, $2, $3) GROUP BY channel, status",
            vec![
                DeliveryStatus::Pending.as_str().into(),
                DeliveryStatus::Sending.as_str().into(),
                DeliveryStatus::Dead.as_str().into(),
            ],
        )
        .await?;
        let mut backlog: Vec<ChannelBacklog> =
            channels.iter().map(|&channel| ChannelBacklog { channel, depth: 0, oldest: None, dead: 0 }).collect();
        for row in rows {
            let channel: String = row.try_get("", "channel")?;
            let status: String = row.try_get("", "status")?;
            let n = u64::try_from(row.try_get::<i64>("", "n")?)?;
            let Some(entry) = backlog.iter_mut().find(|b| b.channel.as_str() == channel) else { continue };
            if status == DeliveryStatus::Dead.as_str() {
                entry.dead += n;
            } else {
                entry.depth += n;
                let oldest: Option<DateTime<Utc>> = row.try_get("", "oldest")?;
                entry.oldest = match (entry.oldest, oldest) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                };
            }
        }
        Ok(backlog)
    }
}
