//! Notifications: who hears about which ticket event, the in-app inbox, preferences per
//! event kind, and the outbox of emails a worker delivers after the change has committed.

mod model;
mod outbox;
mod ports;
mod rules;
mod service;
mod worker;

pub use model::*;
pub use outbox::*;
pub use ports::*;
pub use rules::*;
pub use service::NotificationService;
pub use worker::{digest_window, Channels, DeliveryReport, DeliveryWorker, WorkerSettings};
