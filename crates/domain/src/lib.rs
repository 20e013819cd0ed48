//! The osts domain: accounts, categories, tickets, votes, similar tickets and the rules that govern them.
//!
//! Everything here is pure: no database, HTTP, email or forum client. The outside world is
//! reached through the port traits in each feature's `ports` module, implemented by adapter
//! crates (`store`, `credentials`) and wired together by the `server` composition root.

pub mod accounts;
pub mod categories;
pub mod clock;
pub mod error;
pub mod page;
pub mod similarity;
pub mod tickets;
pub mod votes;

pub use error::{Conflict, Error, Forbidden, Resource};
