//! The Discourse forum, as osts meets it: osts is the forum's DiscourseConnect provider
//! ([`connect`]: every osts user's forum identity, so nobody posts as someone else), and the
//! forum tells osts what happens in ticket threads through signed webhooks ([`webhook`]).

pub mod connect;
pub mod webhook;
