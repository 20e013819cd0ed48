//! The forum port: what osts asks of a Discourse forum. Implemented by the `discourse`
//! adapter crate (and its stateful fake in tests).
//!
//! Errors are the outbox's [`DeliveryError`]: `Later` when the forum certainly did not act
//! (a 429, a 5xx, a timeout; with the time it asked to wait, if it did), `Never` when
//! retrying cannot help (another 4xx, with Discourse's message), `Throttled` when the
//! adapter's own rate limit kept the call from being made. Messages never contain the API key.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::notifications::DeliveryError;

/// Who can read a ticket's thread.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Visibility {
    /// A Discourse private message between the student and the support group.
    Private,
    /// A topic in the configured public category.
    Public,
}

impl Visibility {
    /// The stable name used in the API and the store.
    pub fn as_str(self) -> &'static str {
        match self {
            Visibility::Private => "private",
            Visibility::Public => "public",
        }
    }

    /// Parses a stable name.
    pub fn parse(s: &str) -> Option<Self> {
        [Visibility::Private, Visibility::Public].into_iter().find(|v| v.as_str() == s)
    }
}

/// A topic on the forum.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicRef {
    /// Its id.
    pub topic_id: i64,
    /// Its path on the forum (`/t/<slug>/<id>`), to join to the forum's base URL.
    pub path: String,
}

/// A topic to open for a ticket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewTopic {
    /// `osts-<ticket number>`: how a retried creation finds the topic it made.
    pub external_id: String,
    /// Its title (the ticket's, with its number).
    pub title: String,
    /// Its opening post, Markdown.
    pub raw: String,
    /// Private message or public topic.
    pub visibility: Visibility,
    /// For a private message: the forum usernames besides the support group who may read it.
    pub recipients: Vec<String>,
    /// The forum username the topic is created as (`None`: the API user).
    pub act_as: Option<String>,
}

/// A post of a thread.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForumPost {
    /// The post's id (what moderation deletes).
    pub id: i64,
    /// Its number in the topic (1 is the opening post).
    pub post_number: i64,
    /// Who wrote it (forum username).
    pub username: String,
    /// Its HTML as the forum rendered it (sanitised again before osts shows it).
    pub cooked: String,
    /// When.
    pub created_at: DateTime<Utc>,
}

/// A topic the forum's search found for a draft.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicHit {
    /// The topic.
    pub topic: TopicRef,
    /// Its title.
    pub title: String,
    /// A short excerpt of the matching post.
    pub blurb: String,
}

/// A user as the forum should know them (DiscourseConnect's fields).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForumIdentity {
    /// The osts account id (DiscourseConnect's `external_id`).
    pub external_id: i64,
    /// Their confirmed email.
    pub email: String,
    /// Their forum username.
    pub username: String,
    /// Their display name.
    pub name: String,
    /// Whether they belong in the support group (staff).
    pub support: bool,
    /// Whether they are a forum moderator (admins).
    pub moderator: bool,
    /// Whether `username` is an existing forum account they linked (proven theirs by its
    /// primary email) rather than the name osts gives them.
    pub linked: bool,
}

/// The forum, as osts uses it.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait ForumClient: Send + Sync {
    /// The topic made for `external_id`, if there is one.
    async fn find_topic(&self, external_id: &str) -> Result<Option<TopicRef>, DeliveryError>;
    /// Opens a topic or private message.
    async fn create_topic(&self, topic: &NewTopic) -> Result<TopicRef, DeliveryError>;
    /// Posts a reply in a topic as `act_as` (`None`: the API user); returns the post's id.
    async fn reply(&self, topic_id: i64, raw: &str, act_as: Option<String>) -> Result<i64, DeliveryError>;
    /// Closes (`true`) or reopens a topic.
    async fn set_closed(&self, topic_id: i64, closed: bool) -> Result<(), DeliveryError>;
    /// Archives (`true`) or unarchives a topic.
    async fn set_archived(&self, topic_id: i64, archived: bool) -> Result<(), DeliveryError>;
    /// Converts a topic to a public topic (in the configured category) or a private message.
    async fn convert(&self, topic_id: i64, to: Visibility) -> Result<TopicRef, DeliveryError>;
    /// Moves every post of `from` into `into` (the ticket merge).
    async fn merge_topics(&self, from: i64, into: i64) -> Result<(), DeliveryError>;
    /// Deletes one post (moderation).
    async fn delete_post(&self, post_id: i64) -> Result<(), DeliveryError>;
    /// The posts of a topic, oldest first.
    async fn posts(&self, topic_id: i64) -> Result<Vec<ForumPost>, DeliveryError>;
    /// Topics matching a draft's words.
    async fn search(&self, query: &str) -> Result<Vec<TopicHit>, DeliveryError>;
    /// Creates or updates a user ahead of their first post (DiscourseConnect's `sync_sso`),
    /// with their groups.
    async fn sync_user(&self, identity: &ForumIdentity) -> Result<(), DeliveryError>;
    /// Whether the forum's accounts come from osts (DiscourseConnect is configured): a user's
    /// forum username is then the one osts provisions with [`ForumClient::sync_user`].
    /// `false`: the forum keeps its own accounts, and a name osts would give a user may be
    /// someone else's there; only a username the user linked is theirs.
    fn provisions_users(&self) -> bool;
    /// The username of the active forum account whose **primary** email is `email`
    /// (case-insensitive), read with the admin API. MUST return `None` when no account has it
    /// as its primary email (a secondary or unconfirmed address does not count) and for a
    /// staged account.
    async fn username_with_email(&self, email: &str) -> Result<Option<String>, DeliveryError>;
}

/// Why a forum account could not be linked.
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    /// Another user linked that forum account.
    #[error("another user linked that forum account")]
    Taken,
    /// Anything else.
    #[error(transparent)]
    Unknown(#[from] anyhow::Error),
}

/// Why a thread could not be asked for or linked.
#[derive(Debug, thiserror::Error)]
pub enum ThreadError {
    /// The ticket has a thread already.
    #[error("the ticket has a forum thread already")]
    Exists,
    /// The topic is another ticket's thread.
    #[error("the topic is another ticket's thread")]
    TopicTaken,
    /// There is no such ticket.
    #[error("ticket not found")]
    NoTicket,
    /// Anything else.
    #[error(transparent)]
    Unknown(#[from] anyhow::Error),
}

/// Storage of threads and of what the forum told osts.
///
/// Thread changes are ticket events, recorded with their effects (forum jobs, notifications)
/// as `TicketRepository`'s contract says.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait ForumRepository: Send + Sync {
    /// The ticket's thread.
    async fn thread(&self, ticket: crate::tickets::TicketId) -> anyhow::Result<Option<super::ForumThread>>;
    /// The ticket whose thread is `topic_id`.
    async fn ticket_of_topic(&self, topic_id: i64) -> anyhow::Result<Option<crate::tickets::TicketId>>;
    /// Asks for a new thread (`pending`) and records `ThreadRequested` by `actor`, whose effect
    /// is the job that opens it; one transaction. MUST refuse a second thread (`Exists`).
    async fn request_thread(
        &self,
        ticket: crate::tickets::TicketId,
        visibility: Visibility,
        actor: crate::actor::Actor,
        at: DateTime<Utc>,
    ) -> Result<super::ForumThread, ThreadError>;
    /// Links an existing topic as the ticket's thread and records `ThreadLinked`; one
    /// transaction. MUST refuse a second thread and a topic that is another ticket's.
    async fn link_thread(
        &self,
        ticket: crate::tickets::TicketId,
        topic: &TopicRef,
        visibility: Visibility,
        actor: crate::actor::Actor,
        at: DateTime<Utc>,
    ) -> Result<super::ForumThread, ThreadError>;
    /// Stores the topic the forum made (or converted) for the ticket's thread (`topic.path`
    /// is then its full address on the forum), `open` if it was `pending`.
    async fn topic_made(&self, ticket: crate::tickets::TicketId, topic: &TopicRef) -> anyhow::Result<()>;
    /// Records a change of the thread (visibility, closed, reopened...) by `actor` with its
    /// effects and stores the thread's new visibility and state; one transaction.
    async fn change_thread(
        &self,
        ticket: crate::tickets::TicketId,
        change: &crate::tickets::Change,
        visibility: Visibility,
        state: super::ThreadState,
        actor: crate::actor::Actor,
        at: DateTime<Utc>,
    ) -> anyhow::Result<()>;
    /// Gives the thread of `from` (a ticket merged into `to`) to `to`, which has none, and
    /// records `ThreadLinked` on `to` by `actor`; one transaction. MUST change nothing and
    /// return `false` when `to` has a thread or `from` has none (so that a retried job is
    /// harmless); `true` when the thread moved.
    async fn move_thread(
        &self,
        from: crate::tickets::TicketId,
        to: crate::tickets::TicketId,
        actor: crate::actor::Actor,
        at: DateTime<Utc>,
    ) -> anyhow::Result<bool>;
    /// The forum account `user` linked, if any.
    async fn linked_account(&self, user: crate::accounts::UserId) -> anyhow::Result<Option<super::LinkedAccount>>;
    /// Links the forum account `username` (proven theirs) to `user`, in place of any earlier
    /// link of theirs; one transaction. MUST return `Taken` when another user linked the same
    /// username (in any case).
    async fn link_account(
        &self,
        user: crate::accounts::UserId,
        username: &super::ForumUsername,
        at: DateTime<Utc>,
    ) -> Result<super::LinkedAccount, LinkError>;
    /// Forgets `user`'s linked account; `false` if there was none.
    async fn unlink_account(&self, user: crate::accounts::UserId) -> anyhow::Result<bool>;
    /// Records a forum happening once: `false` if `key` was recorded before (a redelivery).
    async fn first_delivery(&self, key: &str, at: DateTime<Utc>) -> anyhow::Result<bool>;
    /// What the forum job of `event` needs.
    async fn forum_job_context(&self, event: i64) -> anyhow::Result<Option<super::ForumJobContext>>;
    /// The ticket ↔ thread map, newest threads first.
    async fn threads(&self, limit: u32) -> anyhow::Result<Vec<super::ThreadMapEntry>>;
    /// The threads with at least one `ThreadReply` or `ThreadLiked` event, most replies and
    /// likes together first (the higher ticket number first among equals), cursor-paginated.
    /// MUST return `InvalidCursor` for a cursor it did not make.
    async fn active_threads(
        &self,
        limit: crate::page::PageLimit,
        cursor: Option<String>,
    ) -> Result<crate::page::Page<super::ThreadActivity>, crate::page::ListError>;
}
