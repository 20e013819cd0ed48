//! The Discourse forum, as osts meets it:
//!
//! - [`ForumApi`] implements the domain's forum port ([`domain::forum::ForumClient`]) over
//!   Discourse's REST API: a ticket's thread as a private message or a public topic, found
//!   again by its external id, replies, close/archive, convert, merge, moderation, search and
//!   user sync, every call held to a client-side rate limit;
//! - osts is the forum's DiscourseConnect provider ([`connect`]: every osts user's forum
//!   identity, so nobody posts as someone else);
//! - the forum tells osts what happens in ticket threads through signed webhooks ([`webhook`]);
//! - with the `fake` feature, [`fake::FakeDiscourse`] is a stateful Discourse on a local port
//!   for tests and benchmarks.

#![warn(missing_docs)]

mod client;
pub mod connect;
mod dto;
mod errors;
#[cfg(feature = "fake")]
pub mod fake;
mod limit;
pub mod webhook;

pub use client::{
    ConfigError, ForumApi, ForumConfig, DEFAULT_API_USERNAME, DEFAULT_REQUESTS_PER_MINUTE, DEFAULT_TIMEOUT,
};

/// Lower-case hex, as Discourse writes signatures.
fn encode_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The bytes of a hex string; `None` for an odd length or a non-hex digit.
fn decode_hex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok()).collect()
}
