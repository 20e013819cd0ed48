//! The `osts` server as a library: the job registry and the background jobs, so that
//! tests can run them against a real store.

pub mod jobs;
pub mod workers;
