//! The notification vocabulary: event kinds, inbox items, preferences, deliveries.

use chrono::{DateTime, Utc};

use crate::accounts::UserId;
use crate::text::Pattern;

use super::Channel;
use crate::tickets::TicketId;

/// The kinds of event a user can be notified of; preferences are per kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum NotificationKind {
    /// A ticket was resolved (the notification carries the answer).
    Resolved,
    /// A resolved ticket was reopened.
    Reopened,
    /// A ticket's status changed otherwise.
    StatusChanged,
    /// A ticket's priority changed.
    PriorityChanged,
    /// A public reply was added.
    Reply,
    /// An internal note was added (staff only).
    InternalNote,
    /// The ticket was assigned to the recipient.
    Assigned,
    /// The ticket was merged into another.
    Merged,
    /// An FAQ entry was published from the ticket.
    FaqPublished,
    /// Someone replied in the ticket's forum thread.
    ThreadReply,
    /// Someone liked a post of the ticket's forum thread.
    ThreadLike,
    /// The link that confirms a newly registered account's email address (no ticket; email
    /// only matters, and it is always sent: there is no preference for it).
    EmailConfirmation,
    /// An admin approved the account, or it was approved automatically at confirmation.
    AccountApproved,
    /// An admin rejected the account (the notification carries the reason).
    AccountRejected,
}

impl NotificationKind {
    /// Every kind, in a stable order.
    pub const ALL: [Self; 14] = [
        Self::Resolved,
        Self::Reopened,
        Self::StatusChanged,
        Self::PriorityChanged,
        Self::Reply,
        Self::InternalNote,
        Self::Assigned,
        Self::Merged,
        Self::FaqPublished,
        Self::ThreadReply,
        Self::ThreadLike,
        Self::EmailConfirmation,
        Self::AccountApproved,
        Self::AccountRejected,
    ];

    /// What emails of this kind are about, for people ("new replies"): unsubscribe links and
    /// pages name it.
    pub fn topic(self) -> &'static str {
        match self {
            Self::Resolved => "resolved tickets",
            Self::Reopened => "reopened tickets",
            Self::StatusChanged => "status changes",
            Self::PriorityChanged => "priority changes",
            Self::Reply => "new replies",
            Self::InternalNote => "internal notes",
            Self::Assigned => "tickets assigned to you",
            Self::Merged => "merged tickets",
            Self::FaqPublished => "FAQ entries made from your tickets",
            Self::ThreadReply => "replies in forum threads",
            Self::ThreadLike => "likes in forum threads",
            Self::EmailConfirmation => "email address confirmations",
            Self::AccountApproved | Self::AccountRejected => "decisions on your account",
        }
    }

    /// The stored and wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Resolved => "resolved",
            Self::Reopened => "reopened",
            Self::StatusChanged => "status_changed",
            Self::PriorityChanged => "priority_changed",
            Self::Reply => "reply",
            Self::InternalNote => "internal_note",
            Self::Assigned => "assigned",
            Self::Merged => "merged",
            Self::FaqPublished => "faq_published",
            Self::ThreadReply => "thread_reply",
            Self::ThreadLike => "thread_like",
            Self::EmailConfirmation => "email_confirmation",
            Self::AccountApproved => "account_approved",
            Self::AccountRejected => "account_rejected",
        }
    }

    /// The kind with this name.
    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == raw)
    }

    /// Whether a user chooses how they hear of this kind. The confirmation link is not a
    /// matter of taste: without it the account cannot sign in.
    pub fn has_preference(self) -> bool {
        match self {
            Self::EmailConfirmation => false,
            Self::Resolved
            | Self::Reopened
            | Self::StatusChanged
            | Self::PriorityChanged
            | Self::Reply
            | Self::InternalNote
            | Self::Assigned
            | Self::Merged
            | Self::FaqPublished
            | Self::ThreadReply
            | Self::ThreadLike
            | Self::AccountApproved
            | Self::AccountRejected => true,
        }
    }
}

/// An inbox notification's identifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NotificationId(i64);

impl NotificationId {
    /// Wraps a stored identifier.
    pub fn new(id: i64) -> Self {
        Self(id)
    }
    /// The raw identifier.
    pub fn get(self) -> i64 {
        self.0
    }
}

/// One in-app message to one user about one event.
#[derive(Debug, Clone, PartialEq)]
pub struct Notification {
    /// Identifier.
    pub id: NotificationId,
    /// What happened.
    pub kind: NotificationKind,
    /// The ticket it is about.
    pub ticket_id: Option<TicketId>,
    /// The ticket's title now.
    pub ticket_title: Option<String>,
    /// The recorded change, as JSON (the ticket history's `change`).
    pub payload: String,
    /// When.
    pub created_at: DateTime<Utc>,
    /// When the user read it.
    pub read_at: Option<DateTime<Utc>>,
}

/// A user's wishes for one kind; in-app notifications are always on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Preference {
    /// The kind.
    pub kind: NotificationKind,
    /// One email per event.
    pub email: bool,
    /// A daily digest instead of one email per event (only while `email` is on).
    pub digest: bool,
}

impl Preference {
    /// The default for a kind: email on, no digest.
    pub fn default_for(kind: NotificationKind) -> Self {
        Self { kind, email: true, digest: false }
    }
}

/// A delivery's identifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DeliveryId(i64);

impl DeliveryId {
    /// Wraps a stored identifier.
    pub fn new(id: i64) -> Self {
        Self(id)
    }
    /// The raw identifier.
    pub fn get(self) -> i64 {
        self.0
    }
}

/// A delivery's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryStatus {
    /// Waiting for its next attempt.
    Pending,
    /// Claimed by a worker whose lease has not run out.
    Sending,
    /// Delivered.
    Sent,
    /// Gave up; an admin may retry it.
    Dead,
}

impl DeliveryStatus {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Sending => "sending",
            Self::Sent => "sent",
            Self::Dead => "dead",
        }
    }
    /// The status with this name.
    pub fn parse(raw: &str) -> Option<Self> {
        [Self::Pending, Self::Sending, Self::Sent, Self::Dead].into_iter().find(|s| s.as_str() == raw)
    }
}

/// One line of a daily digest.
#[derive(Debug, Clone, PartialEq)]
pub struct DigestItem {
    /// What happened.
    pub kind: NotificationKind,
    /// The ticket.
    pub ticket_id: Option<TicketId>,
    /// Its title.
    pub ticket_title: Option<String>,
    /// When.
    pub created_at: DateTime<Utc>,
}

/// The shape of a one-click unsubscribe token, `v1.<user id>.<scope>.<MAC>` (the MAC is
/// HMAC-SHA256 in unpadded URL-safe base64), as a pattern. A token of another shape is
/// refused as invalid before any signature is checked.
pub static UNSUBSCRIBE_TOKEN: Pattern = Pattern::new(|| {
    let scopes: Vec<&str> = NotificationKind::ALL
        .into_iter()
        .map(UnsubscribeScope::Kind)
        .chain([UnsubscribeScope::Digest])
        .map(UnsubscribeScope::as_str)
        .collect();
    format!(r"^v1\.[1-9][0-9]{{0,18}}\.(?:{})\.[-_A-Za-z0-9]{{43}}$", scopes.join("|"))
});

/// What a one-click unsubscribe link turns off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnsubscribeScope {
    /// Email (one by one and in the digest) for one kind.
    Kind(NotificationKind),
    /// The daily digest: email for every kind the user gets as a digest.
    Digest,
}

impl UnsubscribeScope {
    /// The name signed into a token: the kind's name, or `digest`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Kind(kind) => kind.as_str(),
            Self::Digest => "digest",
        }
    }
    /// The scope with this name.
    pub fn parse(raw: &str) -> Option<Self> {
        if raw == "digest" {
            Some(Self::Digest)
        } else {
            NotificationKind::parse(raw).map(Self::Kind)
        }
    }
}

/// A delivery as admins see it in the dead-letter list.
#[derive(Debug, Clone, PartialEq)]
pub struct DeadLetter {
    /// Identifier.
    pub id: DeliveryId,
    /// The channel.
    pub channel: Channel,
    /// Who it was for (per-user deliveries).
    pub recipient: Option<UserId>,
    /// What happened (per-user deliveries).
    pub kind: Option<NotificationKind>,
    /// The ticket.
    pub ticket_id: Option<TicketId>,
    /// Attempts made.
    pub attempts: u32,
    /// The last error (no addresses or bodies).
    pub last_error: Option<String>,
    /// When it was last touched.
    pub updated_at: DateTime<Utc>,
}
