//! The Discourse forum: a ticket's thread (a private message or a public topic), kept in
//! step with the ticket both ways. This module holds the port the `discourse` adapter
//! implements.

mod ports;

pub use ports::{ForumClient, ForumIdentity, ForumPost, NewTopic, TopicHit, TopicRef, Visibility};
#[cfg(any(test, feature = "mocks"))]
pub use ports::MockForumClient;
