//! `GET /healthz`: whether this instance can serve requests.

use std::{sync::Arc, time::Duration};

use poem::web::Data;
use poem_openapi::{payload::Json, ApiResponse, Enum, Object, OpenApi};

use crate::{ApiTags, App, Health};

/// How long the database may take to answer before it counts as unavailable, so that a
/// hung database makes the probe fail instead of hang.
const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

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

/// The state of each dependency.
#[derive(Debug, Clone, Object)]
pub struct Checks {
    /// The database.
    pub database: CheckStatus,
    /// The sentence-embedding model (never fails the probe).
    pub semantic: SemanticStatus,
}

/// The instance's health.
#[derive(Debug, Clone, Object)]
pub struct HealthReport {
    /// `ok` when every check is.
    pub status: CheckStatus,
    /// Each dependency.
    pub checks: Checks,
}

/// `GET /healthz` answered.
#[derive(ApiResponse)]
pub enum HealthResponse {
    /// Every check passed.
    #[oai(status = 200)]
    Ok(Json<HealthReport>),
    /// A check failed; the instance should not get traffic.
    #[oai(status = 503)]
    Unavailable(Json<HealthReport>),
}

/// The health probe.
pub struct HealthApi;

#[OpenApi(tag = "ApiTags::Health")]
impl HealthApi {
    /// Health probe
    ///
    /// For load balancers and orchestrators: 200 when the database answers, 503 otherwise.
    /// Needs no session. `checks.semantic` tells whether similar-ticket suggestions are
    /// ranked by meaning yet; it is informational and never fails the probe.
    #[oai(path = "/healthz", method = "get", operation_id = "health")]
    async fn health(&self, health: Data<&Arc<dyn Health>>, app: Data<&Arc<App>>) -> HealthResponse {
        let database = match tokio::time::timeout(CHECK_TIMEOUT, health.check()).await {
            Ok(Ok(())) => CheckStatus::Ok,
            Ok(Err(e)) => {
                tracing::error!(error = format!("{e:#}"), "health check: database unavailable");
                CheckStatus::Unavailable
            }
            Err(_) => {
                tracing::error!(timeout_ms = CHECK_TIMEOUT.as_millis() as u64, "health check: database timed out");
                CheckStatus::Unavailable
            }
        };
        let semantic = app.similarity.semantic_state().into();
        let report = HealthReport { status: database, checks: Checks { database, semantic } };
        match database {
            CheckStatus::Ok => HealthResponse::Ok(Json(report)),
            CheckStatus::Unavailable => HealthResponse::Unavailable(Json(report)),
        }
    }
}
