//! SeaORM entities. They never leave this crate: adapters convert them into domain types
//! with `TryFrom`, so a bad row is an error rather than a panic.

pub mod attachments;
pub mod categories;
pub mod faq_entries;
pub mod faq_feedback;
pub mod faq_sources;
pub mod merges;
pub mod replies;
pub mod sessions;
pub mod ticket_events;
pub mod ticket_tags;
pub mod tickets;
pub mod users;
pub mod votes;
pub mod watchers;
