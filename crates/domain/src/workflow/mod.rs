//! The support workflow: the queue, assignment, resolution and reopening, automatic closing,
//! and merging duplicates.

pub mod assignment;
pub mod merge;
mod ports;
mod service;

pub use ports::*;
pub use service::*;
