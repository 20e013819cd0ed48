//! The probes: `GET /healthz` (liveness: the process serves HTTP) and `GET /readyz`
//! (readiness: this instance should get traffic).

use std::{sync::Arc, time::Duration};

use chrono::{DateTime, Utc};
use poem::web::Data;
use poem_openapi::{payload::Json, ApiResponse, Enum, Object, OpenApi};

use crate::{ApiTags, App, Health};

/// How long each readiness check may take before it counts as failed, so that a hung
/// database makes the probe fail instead of hang (load balancers time probes out too).
pub const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// The state of the instance or of one dependency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum CheckStatus {
    /// Working.
    Ok,
    /// Not working.
    Unavailable,
}

/// What the semantic stage of similar-ticket suggestions can do. Informational: the
/// instance serves (lexical) suggestions whatever this says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case", remote = "domain::similarity::SemanticState")]
pub enum SemanticStatus {
    /// The model is loaded: suggestions are blended.
    Ready,
    /// The model is being fetched or loaded.
    Loading,
    /// The model could not be fetched or loaded (see the log).
    Unavailable,
    /// Switched off by `OSTS_SEMANTIC_SEARCH=off`.
    Disabled,
}

/// What liveness reports besides its status.
#[derive(Debug, Clone, Object)]
pub struct LivenessChecks {
    /// The sentence-embedding model (informational).
    pub semantic: SemanticStatus,
}

/// The process serves HTTP.
#[derive(Debug, Clone, Object)]
pub struct Liveness {
    /// Always `ok`: an answer at all is the signal.
    pub status: CheckStatus,
    /// Informational details.
    pub checks: LivenessChecks,
}

/// Whether a background job is doing its work.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum JobStatus {
    /// Its loop runs and its last run ended (or the current one started) recently enough
    /// for its schedule.
    Ok,
    /// Its loop ended: it will not run again until a restart.
    Stopped,
    /// No run ended for much longer than its schedule allows, or a run is stuck.
    Overdue,
}

/// One background job, as the instance reports it to readiness.
#[derive(Debug, Clone, Object)]
pub struct JobReport {
    /// The job's name (`delivery`, `digests`, `auto_close`, ...).
    pub name: String,
    /// Whether it is doing its work; anything but `ok` fails readiness.
    pub status: JobStatus,
    /// Seconds between its scheduled runs.
    pub every_secs: u64,
    /// Runs so far, successful or not.
    pub runs: u64,
    /// Whether its latest run failed (informational: failures usually mean a dependency,
    /// such as the SMTP relay, is away; see the log).
    pub failing: bool,
    /// When the run in progress started.
    #[oai(skip_serializing_if_is_none)]
    pub running_since: Option<DateTime<Utc>>,
    /// When its last successful run ended.
    #[oai(skip_serializing_if_is_none)]
    pub last_success_at: Option<DateTime<Utc>>,
    /// When its last failed run ended.
    #[oai(skip_serializing_if_is_none)]
    pub last_error_at: Option<DateTime<Utc>>,
}

/// The schema's state.
#[derive(Debug, Clone, Object)]
pub struct MigrationsCheck {
    /// `ok` when every migration this build knows is applied.
    pub status: CheckStatus,
    /// Migrations not applied yet (absent when the database could not be asked).
    #[oai(skip_serializing_if_is_none)]
    pub pending: Option<u64>,
}

/// Each readiness check.
#[derive(Debug, Clone, Object)]
pub struct ReadinessChecks {
    /// The database answers within the check's timeout.
    pub database: CheckStatus,
    /// Every migration is applied.
    pub migrations: MigrationsCheck,
    /// Every registered background job (none where no job runs).
    pub jobs: Vec<JobReport>,
    /// The sentence-embedding model (reported, never required).
    pub semantic: SemanticStatus,
}

/// Whether this instance should get traffic, and why.
#[derive(Debug, Clone, Object)]
pub struct Readiness {
    /// `ok` when every required check is.
    pub status: CheckStatus,
    /// Each check.
    pub checks: ReadinessChecks,
}

/// `GET /healthz` answered.
#[derive(ApiResponse)]
pub enum LivenessResponse {
    /// The process serves HTTP.
    #[oai(status = 200)]
    Ok(Json<Liveness>),
}

/// `GET /readyz` answered.
#[derive(ApiResponse)]
pub enum ReadinessResponse {
    /// Every required check passed: send traffic.
    #[oai(status = 200)]
    Ready(Json<Readiness>),
    /// A required check failed: send no traffic until it passes again.
    #[oai(status = 503)]
    NotReady(Json<Readiness>),
}

/// The probes.
pub struct HealthApi;

#[OpenApi(tag = "ApiTags::Health")]
impl HealthApi {
    /// Liveness probe
    ///
    /// 200 whenever the process serves HTTP, even while the database is away: restarting
    /// the process would not bring the database back. Needs no session. `checks.semantic`
    /// tells whether similar-ticket suggestions are ranked by meaning yet (informational).
    #[oai(path = "/healthz", method = "get", operation_id = "health")]
    async fn health(&self, app: Data<&Arc<App>>) -> LivenessResponse {
        let semantic = app.similarity.semantic_state().into();
        LivenessResponse::Ok(Json(Liveness { status: CheckStatus::Ok, checks: LivenessChecks { semantic } }))
    }

    /// Readiness probe
    ///
    /// For load balancers and orchestrators: 200 when this instance should get traffic, 503
    /// otherwise, with each check. Required: the database answers (within 2 s), every
    /// migration is applied, and every background job's loop is alive with a run ended
    /// recently enough for its schedule. `checks.semantic` is reported but never required.
    /// Needs no session; shows no error messages (they are logged).
    #[oai(path = "/readyz", method = "get", operation_id = "readiness")]
    async fn readiness(&self, health: Data<&Arc<dyn Health>>, app: Data<&Arc<App>>) -> ReadinessResponse {
        let database = match tokio::time::timeout(CHECK_TIMEOUT, health.check()).await {
            Ok(Ok(())) => CheckStatus::Ok,
            Ok(Err(e)) => {
                tracing::warn!(error = format!("{e:#}"), "readiness: database unavailable");
                CheckStatus::Unavailable
            }
            Err(_) => {
                tracing::warn!(timeout_ms = CHECK_TIMEOUT.as_millis() as u64, "readiness: database timed out");
                CheckStatus::Unavailable
            }
        };
        // Asking for migrations needs the database: skip it (and its timeout) when it is away.
        let migrations = match database {
            CheckStatus::Unavailable => MigrationsCheck { status: CheckStatus::Unavailable, pending: None },
            CheckStatus::Ok => match tokio::time::timeout(CHECK_TIMEOUT, health.pending_migrations()).await {
                Ok(Ok(0)) => MigrationsCheck { status: CheckStatus::Ok, pending: Some(0) },
                Ok(Ok(n)) => {
                    tracing::warn!(pending = n, "readiness: migrations pending");
                    MigrationsCheck { status: CheckStatus::Unavailable, pending: Some(n) }
                }
                Ok(Err(e)) => {
                    tracing::warn!(error = format!("{e:#}"), "readiness: cannot read the migrations");
                    MigrationsCheck { status: CheckStatus::Unavailable, pending: None }
                }
                Err(_) => MigrationsCheck { status: CheckStatus::Unavailable, pending: None },
            },
        };
        let jobs = health.jobs();
        let ready = database == CheckStatus::Ok
            && migrations.status == CheckStatus::Ok
            && jobs.iter().all(|j| j.status == JobStatus::Ok);
        let semantic = app.similarity.semantic_state().into();
        let status = if ready { CheckStatus::Ok } else { CheckStatus::Unavailable };
        let report = Readiness { status, checks: ReadinessChecks { database, migrations, jobs, semantic } };
        if ready {
            ReadinessResponse::Ready(Json(report))
        } else {
            ReadinessResponse::NotReady(Json(report))
        }
    }
}
