//! The `osts` server as a library: the settings, the job registry, the background jobs, the
//! probes and the backup commands, so that tests (and `cargo xtask`) can use them.

pub mod backup;
pub mod check;
pub mod forum_webhook;
pub mod jobs;
pub mod probes;
pub mod settings;
pub mod telemetry;
pub mod workers;
