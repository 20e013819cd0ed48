//! The Discourse forum: a ticket's thread (a private message or a public topic), kept in
//! step with the ticket both ways. The forum jobs of the outbox open, annotate, close,
//! convert and merge threads ([`ForumDispatcher`]); the forum's webhooks bring replies, likes
//! and closings back ([`ForumService::received`]).

mod dispatch;
mod model;
mod ports;
mod service;

pub use dispatch::ForumDispatcher;
pub use model::{
    forum_username, ForumAction, ForumJob, ForumJobContext, ForumThread, ForumUsername, LinkedAccount, ThreadActivity,
    ThreadMapEntry, ThreadState, ACTIVITY_CURSOR, FORUM_USERNAME,
};
pub use ports::{
    ForumClient, ForumIdentity, ForumPost, ForumRepository, LinkError, NewTopic, ThreadError, TopicHit, TopicRef,
    Visibility,
};
#[cfg(any(test, feature = "mocks"))]
pub use ports::{MockForumClient, MockForumRepository};
pub use service::{ForumEvent, ForumService, ForumSettings, ThreadView};
