//! What `GET /readyz` asks of this server: the store (does the database answer, are the
//! migrations applied) and the job registry (is every job's loop doing its work).

use async_trait::async_trait;
use chrono::Utc;
use store::Store;

use crate::jobs::{JobState, JobsHealth};

/// The readiness checks of a running `osts serve`.
pub struct Probes {
    store: Store,
    jobs: JobsHealth,
}

impl Probes {
    /// Checks `store` and the jobs of one registry.
    pub fn new(store: Store, jobs: JobsHealth) -> Self {
        Self { store, jobs }
    }
}

#[async_trait]
impl api::Health for Probes {
    async fn check(&self) -> anyhow::Result<()> {
        self.store.ping().await
    }

    async fn pending_migrations(&self) -> anyhow::Result<u64> {
        let (_, pending) = self.store.migration_status().await?;
        Ok(pending.len() as u64)
    }

    fn jobs(&self) -> Vec<api::JobReport> {
        self.jobs
            .checks(Utc::now())
            .into_iter()
            .map(|job| api::JobReport {
                name: job.name.to_owned(),
                status: match job.state {
                    JobState::Ok => api::JobStatus::Ok,
                    JobState::Stopped => api::JobStatus::Stopped,
                    JobState::Overdue => api::JobStatus::Overdue,
                },
                every_secs: job.every.as_secs(),
                runs: job.health.runs,
                failing: job.health.failing(),
                running_since: job.health.running_since,
                last_success_at: job.health.last_success,
                last_error_at: job.health.last_error.as_ref().map(|(at, _)| *at),
            })
            .collect()
    }
}
