//! The `osts` server as a library: the job registry, the background jobs and the backup
//! commands, so that tests can run them against a real store.

pub mod backup;
pub mod jobs;
pub mod workers;
