//! A ticket's forum thread as osts keeps it, and the forum jobs of the outbox.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::text::Pattern;
use crate::tickets::TicketId;

use super::Visibility;

/// Where a thread is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ThreadState {
    /// Asked for; the forum job that opens it has not run yet.
    Pending,
    /// Open for replies.
    Open,
    /// Closed (the ticket was resolved, or someone closed it).
    Closed,
    /// Archived (the ticket closed for good).
    Archived,
}

impl ThreadState {
    /// The stable name used in the API and the store.
    pub fn as_str(self) -> &'static str {
        match self {
            ThreadState::Pending => "pending",
            ThreadState::Open => "open",
            ThreadState::Closed => "closed",
            ThreadState::Archived => "archived",
        }
    }

    /// Parses a stable name.
    pub fn parse(s: &str) -> Option<Self> {
        [ThreadState::Pending, ThreadState::Open, ThreadState::Closed, ThreadState::Archived]
            .into_iter()
            .find(|v| v.as_str() == s)
    }
}

/// A ticket's thread.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForumThread {
    /// The ticket.
    pub ticket: TicketId,
    /// The forum topic (`None` while pending).
    pub topic_id: Option<i64>,
    /// Its address on the forum (`<forum>/t/<slug>/<id>`).
    pub url: Option<String>,
    /// Private message or public topic.
    pub visibility: Visibility,
    /// Where it is in its life.
    pub state: ThreadState,
    /// When it was asked for or linked.
    pub created_at: DateTime<Utc>,
}

impl ForumThread {
    /// The external id its topic carries: `osts-<ticket number>`.
    pub fn external_id(&self) -> String {
        format!("osts-{}", self.ticket.get())
    }
}

/// What a forum job does, decided when the event is recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "do", rename_all = "snake_case")]
pub enum ForumAction {
    /// Open the ticket's topic (or find the one a retried job made).
    Create,
    /// Post a short status note about the event (assigned, resolved, reopened).
    Note,
    /// Close the topic.
    Close,
    /// Reopen the topic.
    Reopen,
    /// Archive the topic (the ticket closed for good).
    Archive,
    /// Make the topic public or private.
    Convert {
        /// The new visibility.
        to: Visibility,
    },
    /// Move the topic's posts into the thread of the ticket this one was merged into.
    Merge {
        /// The target ticket's number.
        into: i64,
    },
    /// Delete one post (moderation).
    DeletePost {
        /// The forum post.
        post_id: i64,
    },
}

/// A forum job of the outbox: one action about one ticket event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ForumJob {
    /// The ticket event.
    pub event: i64,
    /// What to do.
    pub action: ForumAction,
}

/// What a forum job reads when it runs.
#[derive(Debug, Clone, PartialEq)]
pub struct ForumJobContext {
    /// The ticket now.
    pub ticket: crate::tickets::Ticket,
    /// Its thread.
    pub thread: Option<ForumThread>,
    /// The event.
    pub change: crate::tickets::Change,
    /// Who made it: their forum identity, if a user.
    pub actor: Option<super::ForumIdentity>,
    /// The ticket's creator, as the forum should know them.
    pub creator: super::ForumIdentity,
    /// The user the event assigned the ticket to, if it assigned it (the ticket's assignee
    /// may have changed again since).
    pub assigned: Option<super::ForumIdentity>,
}

/// One entry of the admins' ticket ↔ thread map.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThreadMapEntry {
    /// The thread.
    pub thread: ForumThread,
    /// The ticket's title.
    pub title: String,
    /// The staff member assigned to the ticket (the thread's staff).
    pub assignee: Option<crate::tickets::UserRef>,
}

/// One line of the admins' most active threads: how much happened in a thread, as osts heard
/// it from the forum's webhooks (the FAQ material).
///
/// The counts are of the `post_created` and `post_liked` deliveries osts recorded as the
/// ticket's `thread_reply` and `thread_liked` events (each happening once, however often
/// Discourse redelivered it): replies by people (not the opening post, not osts's own status
/// notes) and likes. Views are not counted: Discourse sends no webhook for a view, and reading
/// every topic's stats would spend the admin API budget the thread work needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThreadActivity {
    /// The thread.
    pub thread: ForumThread,
    /// The ticket's title.
    pub title: String,
    /// Replies in the thread osts heard of.
    pub posts: u64,
    /// Likes of the thread's posts osts heard of.
    pub likes: u64,
    /// When the latest of them was recorded.
    pub last_activity_at: DateTime<Utc>,
}

impl ThreadActivity {
    /// What the list is ordered by: replies and likes together.
    pub fn score(&self) -> u64 {
        self.posts + self.likes
    }
}

/// A Discourse username as a user types it: 1 to 60 of `[A-Za-z0-9_.-]` (Discourse's
/// characters without unicode usernames; its `max_username_length` is at most 60), a leading
/// `@` dropped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForumUsername(String);

/// A forum username as sent: an optional `@`, then 1–60 of Discourse's username characters.
pub static FORUM_USERNAME: Pattern = Pattern::new(|| r"^@?[A-Za-z0-9_.-]{1,60}$".to_owned());

/// The cursor of the most active threads: `a:<replies and likes>:<ticket number>`.
pub static ACTIVITY_CURSOR: Pattern = Pattern::new(|| r"^a:[0-9]{1,18}:[0-9]{1,9}$".to_owned());

impl ForumUsername {
    /// The longest username Discourse allows.
    pub const MAX: usize = 60;

    /// Parses a username (`field` names it in the error).
    pub fn parse(raw: &str) -> Result<Self, crate::Error> {
        let name = raw.strip_prefix('@').unwrap_or(raw);
        if FORUM_USERNAME.is_match(raw) {
            Ok(Self(name.to_owned()))
        } else {
            Err(crate::Error::invalid(
                "username",
                "invalid_username",
                format!("a forum username is 1 to {} letters, digits, '_', '.' or '-'", Self::MAX),
            ))
        }
    }

    /// The username.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether this is the same forum account as `other` (Discourse ignores case).
    pub fn same_as(&self, other: &str) -> bool {
        self.0.eq_ignore_ascii_case(other.trim())
    }
}

/// A forum account a user linked, once osts proved it is theirs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkedAccount {
    /// The forum username, as the forum spells it.
    pub username: String,
    /// When it was linked.
    pub linked_at: DateTime<Utc>,
}

/// How osts names its users on the forum: the email's local part reduced to `[a-z0-9_]`
/// (at most 15 characters) and the account id, unique and stable.
pub fn forum_username(email: &str, id: i64) -> String {
    let local = email.split('@').next().unwrap_or("");
    let mut base: String =
        local.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '_' }).take(15).collect();
    let trimmed = base.trim_matches('_').to_owned();
    base = if trimmed.is_empty() { "user".to_owned() } else { trimmed };
    format!("{base}_{id}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_are_stable_unique_and_plain() {
        assert_eq!(forum_username("Ada.Lovelace@uni.edu", 17), "ada_lovelace_17");
        assert_eq!(forum_username("###@uni.edu", 3), "user_3");
        assert_eq!(forum_username("averyveryverylongname@uni.edu", 9), "averyveryverylo_9");
        for state in [ThreadState::Pending, ThreadState::Open, ThreadState::Closed, ThreadState::Archived] {
            assert_eq!(ThreadState::parse(state.as_str()), Some(state));
        }
        assert_eq!(ForumUsername::parse("@Ada.L-9_").unwrap().as_str(), "Ada.L-9_");
        for bad in ["", "@", " ada", "ada ", "a b", "@@ada", "ädä", &"a".repeat(61)] {
            assert!(ForumUsername::parse(bad).is_err(), "{bad:?}");
        }
        assert!(ForumUsername::parse(&"a".repeat(60)).is_ok());
        assert!(ForumUsername::parse("ada").unwrap().same_as("ADA"));
        for bad in ["", "@", "ada lovelace", "ada,bo", "é", &"a".repeat(61)] {
            assert!(ForumUsername::parse(bad).is_err(), "{bad}");
        }
        let job = ForumJob { event: 4, action: ForumAction::Convert { to: Visibility::Public } };
        let raw = serde_json::to_string(&job).unwrap();
        assert_eq!(raw, r#"{"event":4,"action":{"do":"convert","to":"public"}}"#);
        assert_eq!(serde_json::from_str::<ForumJob>(&raw).unwrap(), job);
    }
}
