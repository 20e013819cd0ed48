//! `GET /healthz`: whether this instance can serve requests.

use std::{sync::Arc, time::Duration};

use poem::web::Data;
use poem_openapi::{payload::Json, ApiResponse, Enum, Object, OpenApi};

use crate::{ApiTags, Health};

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

/// The state of each dependency.
#[derive(Debug, Clone, Object)]
pub struct Checks {
    /// The database.
    pub database: CheckStatus,
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
    /// Needs no session.
    #[oai(path = "/healthz", method = "get", operation_id = "health")]
    async fn health(&self, health: Data<&Arc<dyn Health>>) -> HealthResponse {
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
        let report = HealthReport { status: database, checks: Checks { database } };
        match database {
            CheckStatus::Ok => HealthResponse::Ok(Json(report)),
            CheckStatus::Unavailable => HealthResponse::Unavailable(Json(report)),
        }
    }
}
