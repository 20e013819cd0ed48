//! The metrics the domain records, through the `metrics` facade: a no-op until `osts serve`
//! installs its Prometheus recorder (tests and operator commands record nothing). Names
//! follow Prometheus conventions; the server describes them and documents what to alert on.

/// Counter: tickets raised.
pub const TICKETS_CREATED: &str = "osts_tickets_created_total";
/// Counter: votes cast and retracted (label `action`: `cast`, `retract`); a repeated vote
/// that changed nothing is not counted.
pub const VOTES: &str = "osts_votes_total";
/// Counter: tickets resolved by staff.
pub const RESOLUTIONS: &str = "osts_resolutions_total";
/// Histogram, seconds: similar-ticket suggestions by stage (label `stage`: `embed` the
/// draft, `lexical` ranking, `semantic` vector scan, `total` the whole suggestion).
pub const SIMILAR_DURATION: &str = "osts_similar_duration_seconds";

/// Records how long a stage of similar-ticket suggestions took.
pub(crate) fn similar_stage(stage: &'static str, started: std::time::Instant) {
    metrics::histogram!(SIMILAR_DURATION, "stage" => stage).record(started.elapsed().as_secs_f64());
}
