//! Ports of the notification feature.

use async_trait::async_trait;
use chrono::{DateTime, Duration, NaiveDate, Utc};

use crate::accounts::UserId;
use crate::page::{ListError, Page, PageLimit};

use crate::tickets::TicketId;

use super::{
    Channel, ClaimedDelivery, DeadLetter, DeliveryError, DeliveryId, DigestItem, IntegrationJob, Notification,
    NotificationId, NotificationKind, Preference, UnsubscribeScope,
};

/// The in-app inbox and preferences. Notifications themselves are written by the ticket
/// repositories, in the transaction of the change that causes them.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait NotificationRepository: Send + Sync {
    /// `user`'s notifications, newest first, after the opaque `cursor`; MUST return
    /// `InvalidCursor` for a cursor it did not issue.
    async fn inbox(
        &self,
        user: UserId,
        limit: PageLimit,
        cursor: Option<String>,
    ) -> Result<Page<Notification>, ListError>;
    /// How many of `user`'s notifications are unread.
    async fn unread(&self, user: UserId) -> anyhow::Result<u64>;
    /// Marks one of `user`'s notifications read; MUST return `false` if `user` has no such
    /// notification (someone else's counts as none). Marking twice keeps the first time.
    async fn mark_read(&self, user: UserId, id: NotificationId, at: DateTime<Utc>) -> anyhow::Result<bool>;
    /// Marks all of `user`'s notifications read; returns how many were unread.
    async fn mark_all_read(&self, user: UserId, at: DateTime<Utc>) -> anyhow::Result<u64>;
    /// `user`'s preferences for every kind (defaults where none is stored).
    async fn preferences(&self, user: UserId) -> anyhow::Result<Vec<Preference>>;
    /// Stores `user`'s preference for one kind.
    async fn set_preference(&self, user: UserId, preference: Preference) -> anyhow::Result<()>;
}

/// The outbox: durable jobs for the outside world, written in the transaction of the change
/// that causes them (see `TicketRepository`'s contract) and delivered by the worker.
///
/// Two kinds of job share it: per-user deliveries (email, digests) and per-ticket
/// integration jobs ([`JobScope`]). A ticket's integration jobs on one channel are delivered
/// in the order they were enqueued.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait OutboxRepository: Send + Sync {
    /// Claims up to `limit` due deliveries (`pending` with `next_attempt_at <= now`), marking
    /// them `sending` with a lease until `now + lease` and counting the attempt, in one
    /// transaction. MUST NOT hand the same delivery to two concurrent callers (PostgreSQL:
    /// `FOR UPDATE SKIP LOCKED`). MUST NOT claim a per-ticket job while an earlier job (lower
    /// id) of the same ticket and channel is `pending` (due or not: retrying) or `sending`;
    /// jobs of other tickets and per-user deliveries are never held back by it. A `sending`
    /// delivery whose lease ran out MUST NOT be claimed again: its outcome is unknown, so it
    /// becomes `dead` (at most once, on every channel).
    async fn claim(&self, now: DateTime<Utc>, lease: Duration, limit: u32) -> anyhow::Result<Vec<ClaimedDelivery>>;
    /// Marks a claimed delivery sent.
    async fn mark_sent(&self, id: DeliveryId, at: DateTime<Utc>) -> anyhow::Result<()>;
    /// Puts a claimed delivery back to `pending`, due at `next`, with the error.
    async fn retry_later(
        &self,
        id: DeliveryId,
        next: DateTime<Utc>,
        error: &str,
        at: DateTime<Utc>,
    ) -> anyhow::Result<()>;
    /// Marks a claimed delivery `dead` with the error.
    async fn mark_dead(&self, id: DeliveryId, error: &str, at: DateTime<Utc>) -> anyhow::Result<()>;
    /// Gives back a claimed delivery that was never attempted (the worker is stopping):
    /// `pending` again, due at `at`, its lease cleared and the claim's attempt uncounted.
    /// MUST leave a delivery that is not `sending` as it is.
    async fn release(&self, id: DeliveryId, at: DateTime<Utc>) -> anyhow::Result<()>;
    /// Dead deliveries, newest first, of one channel or all.
    async fn dead_letters(&self, channel: Option<Channel>, limit: u32) -> anyhow::Result<Vec<DeadLetter>>;
    /// Makes a dead delivery `pending` again with no attempts, due at `at`, whatever its
    /// channel; MUST return `false` if there is no dead delivery with that id.
    async fn retry(&self, id: DeliveryId, at: DateTime<Utc>) -> anyhow::Result<bool>;
    /// Enqueues one per-ticket integration job that no ticket event causes (a sweep's
    /// message, a manual resync), due at `at`, after the ticket's earlier jobs on its
    /// channel. `key` is its idempotency key and MUST be unique: enqueueing a key again adds
    /// nothing and returns `None`. MUST wake the worker after the commit.
    async fn enqueue(
        &self,
        key: &str,
        ticket: TicketId,
        job: &IntegrationJob,
        at: DateTime<Utc>,
    ) -> anyhow::Result<Option<DeliveryId>>;
    /// Enqueues the digest of `day`: one email delivery per user who has notifications
    /// created in `[since, until)` of kinds they get as a digest (email and digest on), due at
    /// `now`, in one set-based statement. The idempotency key is `digest:<user>:<day>` and
    /// MUST be unique, so calling again (another server, a restart) adds nothing. Returns how
    /// many deliveries were added.
    async fn enqueue_digests(
        &self,
        day: NaiveDate,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> anyhow::Result<u64>;
}

/// Signs and checks one-click unsubscribe tokens, so an email's link works without signing
/// in and cannot be forged for someone else or another kind.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
pub trait UnsubscribeTokens: Send + Sync {
    /// A token for `user` and `scope`, safe in a URL query.
    fn sign(&self, user: UserId, scope: UnsubscribeScope) -> String;
    /// The user and scope a token was signed for; MUST return `None` for a token it did not
    /// sign with its current key (forged, altered, truncated, another version).
    fn verify(&self, token: &str) -> Option<(UserId, UnsubscribeScope)>;
}

/// One email, before templates: who, and what happened.
#[derive(Debug, Clone, PartialEq)]
pub struct OutgoingEmail {
    /// The job's idempotency key (becomes the Message-ID).
    pub idempotency_key: String,
    /// The recipient.
    pub recipient: UserId,
    /// Their address.
    pub to: crate::accounts::Email,
    /// Their name.
    pub to_name: String,
    /// What happened.
    pub kind: NotificationKind,
    /// The ticket.
    pub ticket_id: Option<crate::tickets::TicketId>,
    /// Its title.
    pub ticket_title: Option<String>,
    /// The recorded change, as JSON.
    pub payload: String,
    /// For a daily digest: the notifications it lists; `None` for one email per event.
    pub digest: Option<Vec<DigestItem>>,
    /// The signed one-click unsubscribe token for this email (its kind, or the digest).
    pub unsubscribe_token: String,
}

/// Sends email.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait Mailer: Send + Sync {
    /// Sends one email. MUST return `Later` only when the message was certainly not
    /// accepted, and `Never` when retrying cannot help. Error texts MUST NOT contain the
    /// address or the body.
    async fn send(&self, email: &OutgoingEmail) -> Result<(), DeliveryError>;
}

/// The chat channel's port: posts the message of one chat job (see
/// `escalation::ChatDispatcher`). `request_id` is the job's idempotency key, sent where the
/// provider deduplicates by it.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait ChatPort: Send + Sync {
    /// Posts one chat message; `Later` only when it was certainly not posted, `Throttled`
    /// when it was not attempted.
    async fn deliver(&self, ticket: TicketId, job: super::ChatJob, request_id: &str) -> Result<(), DeliveryError>;
}

/// The forum channel's port: carries out one forum job (see `forum::ForumDispatcher`).
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait ForumPort: Send + Sync {
    /// Carries out one forum job; `Later` only when the forum certainly did not act.
    async fn deliver(&self, ticket: TicketId, job: crate::forum::ForumJob) -> Result<(), DeliveryError>;
}

/// The test channel's port (feature `mocks`): stands for the forum and chat clients in tests
/// of the outbox.
#[cfg(any(test, feature = "mocks"))]
#[mockall::automock]
#[async_trait]
pub trait ProbePort: Send + Sync {
    /// Delivers one step of `ticket`; fails as the test says.
    async fn deliver(&self, ticket: TicketId, job: super::ProbeJob) -> Result<(), DeliveryError>;
}
