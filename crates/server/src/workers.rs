//! The background jobs of `osts serve`, each a [`Job`] over the domain service it drives;
//! `main` registers them in the [`crate::jobs::Registry`].

use async_trait::async_trait;
use domain::notifications::DeliveryWorker;
use domain::similarity::SimilarityService;
use domain::stop::Stop;
use domain::workflow::WorkflowService;

use crate::jobs::Job;

/// Delivers the outbox on every channel. Safe with several servers: claims are leased and
/// skip each other's rows. On a stop it finishes the calls it started and releases the rest.
pub struct Delivery(pub DeliveryWorker);

#[async_trait]
impl Job for Delivery {
    async fn run(&self, stop: &Stop) -> anyhow::Result<()> {
        let report = self.0.round(stop).await?;
        if report.released > 0 {
            tracing::info!(released = report.released, "stopping: claimed deliveries given back");
        }
        Ok(())
    }

    async fn give_back(&self) -> anyhow::Result<()> {
        let settled = self.0.give_back().await?;
        if settled > 0 {
            tracing::warn!(settled, "stopping: deliveries of a cancelled round settled");
        }
        Ok(())
    }
}

/// Enqueues the latest daily digest once it is due (once a day per process; the store makes
/// a second enqueue by another server or a restart a no-op).
pub struct Digests(pub DeliveryWorker);

#[async_trait]
impl Job for Digests {
    async fn run(&self, _: &Stop) -> anyhow::Result<()> {
        self.0.enqueue_digests().await.map(drop)
    }
}

/// Closes resolved tickets after their reopen window. Safe with several servers: the store
/// closes each ticket exactly once.
pub struct AutoClose(pub WorkflowService);

#[async_trait]
impl Job for AutoClose {
    async fn run(&self, _: &Stop) -> anyhow::Result<()> {
        let closed = self.0.auto_close().await?;
        if !closed.is_empty() {
            tracing::info!(count = closed.len(), "closed resolved tickets after their window");
        }
        Ok(())
    }
}

/// The SLA check: marks unresolved tickets at risk or breached and escalates them. Safe
/// with several servers: each state change is a conditional update, recorded once.
pub struct Sla(pub domain::escalation::EscalationService);

#[async_trait]
impl Job for Sla {
    async fn run(&self, _: &Stop) -> anyhow::Result<()> {
        let report = self.0.sweep().await?;
        crate::telemetry::record_sla(u64::from(report.at_risk), u64::from(report.breached));
        if report.escalated > 0 {
            tracing::info!(escalated = report.escalated, checked = report.checked, "SLA check escalated tickets");
        }
        Ok(())
    }
}

/// Keeps the planner's statistics current (`PRAGMA optimize` on SQLite, `ANALYZE` of the
/// tables that changed on PostgreSQL), so list queries keep using their indexes as tables grow.
pub struct Statistics(pub store::Store);

#[async_trait]
impl Job for Statistics {
    async fn run(&self, _: &Stop) -> anyhow::Result<()> {
        let tables = self.0.refresh_statistics().await?;
        if !tables.is_empty() {
            tracing::info!(tables = tables.join(","), "planner statistics refreshed");
        }
        Ok(())
    }
}

/// Tickets embedded per model call: small, so a query embedding waits little behind a batch.
const BATCH: u32 = 16;

/// Embeds tickets and published FAQ entries lacking an embedding (the backfill at start,
/// then what changed), batch by batch until none is left or the stop comes.
pub struct Embedding(pub SimilarityService);

#[async_trait]
impl Job for Embedding {
    async fn run(&self, stop: &Stop) -> anyhow::Result<()> {
        let mut done = 0usize;
        while !stop.is_stopping() {
            let n = self.0.embed_pending(BATCH).await?;
            if n == 0 {
                break;
            }
            done += n;
            if done % 1_000 < n {
                tracing::info!(embedded = done, "semantic search: embedding tickets");
            }
        }
        if done > 0 {
            tracing::info!(embedded = done, "semantic search: tickets embedded");
        }
        Ok(())
    }
}

/// Loads the in-memory lexical index (suggestions use the store's full-text query until
/// then), then catches it up with tickets and entries changed since its last read, by any
/// server.
pub struct Lexical(pub SimilarityService);

#[async_trait]
impl Job for Lexical {
    async fn run(&self, _: &Stop) -> anyhow::Result<()> {
        let started = std::time::Instant::now();
        let first = self.0.lexical_watermark().is_none();
        let n = self.0.refresh_lexical(chrono::Utc::now()).await?;
        if first {
            let ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
            tracing::info!(documents = n, ms, "lexical index: loaded, suggestions are ranked in memory");
        }
        Ok(())
    }
}

/// Loads the stored embeddings into the in-memory vector index, then catches it up with
/// those stored since its last read by any server, so a ticket embedded by another server
/// is suggested by meaning here too.
pub struct Vectors(pub SimilarityService);

#[async_trait]
impl Job for Vectors {
    async fn run(&self, _: &Stop) -> anyhow::Result<()> {
        let first = self.0.vectors_watermark().is_none();
        let n = self.0.refresh_vectors(chrono::Utc::now()).await?;
        if first {
            tracing::info!(embeddings = n, "semantic search: stored embeddings loaded");
        } else if n > 0 {
            tracing::debug!(embeddings = n, "semantic search: caught up with stored embeddings");
        }
        Ok(())
    }
}
