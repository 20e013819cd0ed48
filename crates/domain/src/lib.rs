//! The osts domain: accounts, categories, tickets, votes, the support workflow, attachments, similar
//! tickets and the rules that govern them.
//!
//! Everything here is pure: no database, HTTP, email or forum client. The outside world is
//! reached through the port traits in each feature's `ports` module, implemented by adapter
//! crates (`store`, `credentials`) and wired together by the `server` composition root.

pub mod accounts;
pub mod actor;
pub mod attachments;
pub mod categories;
pub mod clock;
pub mod conversation;
pub mod error;
pub mod escalation;
pub mod faq;
pub mod forum;
pub mod notifications;
pub mod page;
pub mod services;
pub mod similarity;
pub mod stop;
pub mod telemetry;
#[cfg(any(test, feature = "mocks"))]
pub mod testing;
pub mod text;
pub mod tickets;
pub mod votes;
pub mod workflow;

pub use error::{Conflict, Error, Forbidden, Resource};
pub use services::{Ports, ServiceSettings, Services};
