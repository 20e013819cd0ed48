//! Prometheus metrics of `osts serve`: the recorder every crate records into through the
//! `metrics` facade, and `GET /metrics`, which reads the state of the store, the job
//! registry and the semantic stage at scrape time and renders everything in the text
//! exposition format.
//!
//! | family | type | labels | from |
//! | --- | --- | --- | --- |
//! | `osts_http_requests_total` | counter | `method`, `route`, `status` | `api` middleware |
//! | `osts_http_request_duration_seconds` | histogram | `method`, `route` | `api` middleware |
//! | `osts_db_query_duration_seconds` | histogram | `outcome` | the store, per statement |
//! | `osts_db_pool_connections` | gauge | `state` (`idle`, `in_use`) | scrape |
//! | `osts_db_pool_max_connections` | gauge | – | scrape |
//! | `osts_outbox_depth` | gauge | `channel` | scrape |
//! | `osts_outbox_oldest_age_seconds` | gauge | `channel` | scrape |
//! | `osts_dead_letters` | gauge | `channel` | scrape |
//! | `osts_similar_duration_seconds` | histogram | `stage` | the similarity service |
//! | `osts_semantic_ready`, `osts_semantic_state` | gauge | `state` | scrape |
//! | `osts_tickets_created_total`, `osts_votes_total`, `osts_resolutions_total` | counter | `action` (votes) | the services |
//! | `osts_job_up`, `osts_job_failing`, `osts_job_last_success_timestamp_seconds`, `osts_job_runs_total` | gauge, counter | `job` | scrape |
//! | `osts_sla_tickets` | gauge | `state` (`at_risk`, `breached`) | [`record_sla`], fed by the SLA sweep |
//! | `osts_scrape_errors_total` | counter | `source` | scrape |

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use domain::notifications::Channel;
use domain::similarity::{SemanticState, SimilarityService};
use metrics::{describe_counter, describe_gauge, describe_histogram, Unit};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use poem::{Endpoint, IntoResponse, Request, Response};
use store::Store;

use crate::jobs::{JobState, JobsHealth};

/// Gauge: outbox jobs waiting or being delivered, per channel.
pub const OUTBOX_DEPTH: &str = "osts_outbox_depth";
/// Gauge, seconds: age of the oldest job waiting or being delivered, per channel (0 when none).
pub const OUTBOX_OLDEST_AGE: &str = "osts_outbox_oldest_age_seconds";
/// Gauge: dead letters waiting for an admin, per channel.
pub const DEAD_LETTERS: &str = "osts_dead_letters";
/// Gauge: pooled database connections by `state` (`idle`, `in_use`).
pub const POOL_CONNECTIONS: &str = "osts_db_pool_connections";
/// Gauge: the most connections the pool opens (`OSTS_DB_MAX_CONNECTIONS`).
pub const POOL_MAX: &str = "osts_db_pool_max_connections";
/// Gauge: 1 when suggestions are ranked by meaning as well as words.
pub const SEMANTIC_READY: &str = "osts_semantic_ready";
/// Gauge: 1 for the semantic stage's current `state` (`ready`, `loading`, `unavailable`,
/// `disabled`), 0 for the others.
pub const SEMANTIC_STATE: &str = "osts_semantic_state";
/// Gauge: 1 while a job's loop does its work (as `/readyz` judges it), per `job`.
pub const JOB_UP: &str = "osts_job_up";
/// Gauge: 1 while a job's latest run failed, per `job`.
pub const JOB_FAILING: &str = "osts_job_failing";
/// Gauge, Unix seconds: when a job's last successful run ended, per `job`.
pub const JOB_LAST_SUCCESS: &str = "osts_job_last_success_timestamp_seconds";
/// Counter: a job's runs, successful or not, per `job`.
pub const JOB_RUNS: &str = "osts_job_runs_total";
/// Gauge: open tickets whose SLA target is at risk or breached, by `state` (`at_risk`,
/// `breached`). Set by [`record_sla`]; absent until the SLA sweep (which comes with the
/// Google Chat integration) feeds it.
pub const SLA_TICKETS: &str = "osts_sla_tickets";
/// Counter: scrapes that could not read a source (`outbox`), whose gauges then keep their
/// previous values.
pub const SCRAPE_ERRORS: &str = "osts_scrape_errors_total";

/// Latency buckets (seconds) for requests, statements and suggestion stages: 1 ms to 10 s.
const BUCKETS: &[f64] = &[0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

/// How long a scrape waits for the store's outbox figures.
const SCRAPE_TIMEOUT: Duration = Duration::from_secs(2);

/// How often the recorder's histograms are compacted between scrapes.
const UPKEEP_EVERY: Duration = Duration::from_secs(5);

/// Installs the process-wide Prometheus recorder (once, at start of `osts serve`), with
/// histograms rendered as Prometheus histograms and every family described.
pub fn install() -> anyhow::Result<PrometheusHandle> {
    let handle = PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), BUCKETS)?
        .install_recorder()?;
    describe();
    let upkeep = handle.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(UPKEEP_EVERY);
        loop {
            tick.tick().await;
            upkeep.run_upkeep();
        }
    });
    Ok(handle)
}

fn describe() {
    describe_counter!(api::HTTP_REQUESTS, "HTTP requests answered, by method, route template and status class");
    describe_histogram!(api::HTTP_DURATION, Unit::Seconds, "Time to answer an HTTP request");
    describe_histogram!(store::QUERY_DURATION, Unit::Seconds, "Time of each database statement");
    describe_gauge!(POOL_CONNECTIONS, "Pooled database connections, idle or in use");
    describe_gauge!(POOL_MAX, "The most database connections the pool opens");
    describe_gauge!(OUTBOX_DEPTH, "Outbox jobs waiting or being delivered, per channel");
    describe_gauge!(OUTBOX_OLDEST_AGE, Unit::Seconds, "Age of the oldest outbox job not yet delivered");
    describe_gauge!(DEAD_LETTERS, "Dead letters waiting for an admin, per channel");
    describe_histogram!(domain::telemetry::SIMILAR_DURATION, Unit::Seconds, "Similar-ticket suggestions by stage");
    describe_gauge!(SEMANTIC_READY, "1 when suggestions are ranked by meaning as well as words");
    describe_gauge!(SEMANTIC_STATE, "The semantic stage's state (1 for the current one)");
    describe_counter!(domain::telemetry::TICKETS_CREATED, "Tickets raised");
    describe_counter!(domain::telemetry::VOTES, "Votes cast or retracted");
    describe_counter!(domain::telemetry::RESOLUTIONS, "Tickets resolved");
    describe_gauge!(JOB_UP, "1 while a background job's loop does its work");
    describe_gauge!(JOB_FAILING, "1 while a background job's latest run failed");
    describe_gauge!(JOB_LAST_SUCCESS, Unit::Seconds, "When a background job's last successful run ended");
    describe_counter!(JOB_RUNS, "Background job runs, successful or not");
    describe_gauge!(SLA_TICKETS, "Open tickets whose SLA target is at risk or breached");
    describe_counter!(SCRAPE_ERRORS, "Scrapes that could not read a source");
}

/// Sets the SLA gauges: the place the SLA sweep reports what it found after each pass.
pub fn record_sla(at_risk: u64, breached: u64) {
    metrics::gauge!(SLA_TICKETS, "state" => "at_risk").set(at_risk as f64);
    metrics::gauge!(SLA_TICKETS, "state" => "breached").set(breached as f64);
}

/// What a scrape reads besides the recorded metrics.
pub struct Scrape {
    handle: PrometheusHandle,
    store: Store,
    jobs: JobsHealth,
    similarity: SimilarityService,
}

impl Scrape {
    /// A scrape of `handle`'s recorder and of the running server's parts.
    pub fn new(handle: PrometheusHandle, store: Store, jobs: JobsHealth, similarity: SimilarityService) -> Self {
        Self { handle, store, jobs, similarity }
    }

    /// Updates the gauges read at scrape time and renders every family.
    pub async fn render(&self) -> String {
        let pool = self.store.pool_usage();
        metrics::gauge!(POOL_CONNECTIONS, "state" => "idle").set(f64::from(pool.idle));
        metrics::gauge!(POOL_CONNECTIONS, "state" => "in_use").set(f64::from(pool.open.saturating_sub(pool.idle)));
        metrics::gauge!(POOL_MAX).set(f64::from(pool.max));

        let now = Utc::now();
        match tokio::time::timeout(SCRAPE_TIMEOUT, self.store.outbox_backlog(&Channel::all())).await {
            Ok(Ok(backlog)) => {
                for channel in backlog {
                    let name = channel.channel.as_str();
                    let age = channel.oldest.map_or(0.0, |at| (now - at).num_milliseconds().max(0) as f64 / 1000.0);
                    metrics::gauge!(OUTBOX_DEPTH, "channel" => name).set(channel.depth as f64);
                    metrics::gauge!(OUTBOX_OLDEST_AGE, "channel" => name).set(age);
                    metrics::gauge!(DEAD_LETTERS, "channel" => name).set(channel.dead as f64);
                }
            }
            Ok(Err(e)) => {
                tracing::warn!(error = format!("{e:#}"), "metrics: cannot read the outbox");
                metrics::counter!(SCRAPE_ERRORS, "source" => "outbox").increment(1);
            }
            Err(_) => {
                tracing::warn!("metrics: reading the outbox timed out");
                metrics::counter!(SCRAPE_ERRORS, "source" => "outbox").increment(1);
            }
        }

        let state = self.similarity.semantic_state();
        metrics::gauge!(SEMANTIC_READY).set(if state == SemanticState::Ready { 1.0 } else { 0.0 });
        for (each, name) in [
            (SemanticState::Ready, "ready"),
            (SemanticState::Loading, "loading"),
            (SemanticState::Unavailable, "unavailable"),
            (SemanticState::Disabled, "disabled"),
        ] {
            metrics::gauge!(SEMANTIC_STATE, "state" => name).set(if each == state { 1.0 } else { 0.0 });
        }

        for job in self.jobs.checks(now) {
            let name = job.name;
            metrics::gauge!(JOB_UP, "job" => name).set(if job.state == JobState::Ok { 1.0 } else { 0.0 });
            metrics::gauge!(JOB_FAILING, "job" => name).set(if job.health.failing() { 1.0 } else { 0.0 });
            metrics::counter!(JOB_RUNS, "job" => name).absolute(job.health.runs);
            if let Some(at) = job.health.last_success {
                metrics::gauge!(JOB_LAST_SUCCESS, "job" => name).set(at.timestamp_millis() as f64 / 1000.0);
            }
        }
        self.handle.render()
    }
}

/// `GET /metrics`: the text exposition format. Nothing in it names a user, a ticket or an
/// address: labels are route templates, channels, job names and states.
#[derive(Clone)]
pub struct MetricsEndpoint(pub Arc<Scrape>);

impl Endpoint for MetricsEndpoint {
    type Output = Response;

    async fn call(&self, _: Request) -> poem::Result<Response> {
        let text = self.0.render().await;
        Ok(text.with_content_type("text/plain; version=0.0.4; charset=utf-8").into_response())
    }
}
