use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::status::{Priority, Status};
use crate::accounts::UserId;
use crate::categories::CategoryId;
use crate::error::Error;
use crate::page::PageLimit;

/// A ticket's identifier, shown to people as its number (`#1042`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TicketId(i64);

impl TicketId {
    /// Wraps a stored identifier.
    pub fn new(id: i64) -> Self {
        Self(id)
    }
    /// The raw identifier.
    pub fn get(self) -> i64 {
        self.0
    }
}

impl fmt::Display for TicketId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// A ticket title: trimmed, 5–150 characters, one line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Title(String);

impl Title {
    /// Fewest characters.
    pub const MIN_CHARS: usize = 5;
    /// Most characters.
    pub const MAX_CHARS: usize = 150;

    /// Validates a title.
    pub fn parse(raw: &str) -> Result<Self, Error> {
        let title = raw.trim();
        let n = title.chars().count();
        if n < Self::MIN_CHARS {
            return Err(Error::invalid(
                "title",
                "too_short",
                format!("title must be at least {} characters", Self::MIN_CHARS),
            ));
        }
        if n > Self::MAX_CHARS {
            return Err(Error::invalid(
                "title",
                "too_long",
                format!("title must be at most {} characters", Self::MAX_CHARS),
            ));
        }
        if title.chars().any(|c| c.is_control() || crate::text::reorders_or_breaks_text(c)) {
            return Err(Error::invalid(
                "title",
                "invalid_characters",
                "title must be a single line of text, without characters that reorder it (such as U+202E)",
            ));
        }
        Ok(Self(title.to_owned()))
    }

    /// The title.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A ticket description in Markdown: at most 20,000 characters (may be empty).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Description(String);

impl Description {
    /// Most characters.
    pub const MAX_CHARS: usize = 20_000;

    /// Validates a description. Markdown is stored as written and sanitised when rendered.
    pub fn parse(raw: &str) -> Result<Self, Error> {
        let text = raw.trim();
        if text.chars().count() > Self::MAX_CHARS {
            return Err(Error::invalid(
                "description",
                "too_long",
                format!("description must be at most {} characters", Self::MAX_CHARS),
            ));
        }
        if text.chars().any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t')) {
            return Err(Error::invalid("description", "invalid_characters", "description contains control characters"));
        }
        Ok(Self(text.to_owned()))
    }

    /// The Markdown source.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A tag: lower-case letters, digits and `-`, 1–32 characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Tag(String);

impl Tag {
    /// Most characters.
    pub const MAX_CHARS: usize = 32;

    /// Validates and normalises a tag (`"Exam Results"` → `"exam-results"`).
    pub fn parse(raw: &str) -> Result<Self, Error> {
        let tag: String = raw.trim().to_lowercase().split_whitespace().collect::<Vec<_>>().join("-");
        let ok = !tag.is_empty()
            && tag.chars().count() <= Self::MAX_CHARS
            && tag.chars().all(|c| c.is_alphanumeric() || c == '-');
        if !ok {
            return Err(Error::invalid(
                "tags",
                "invalid_tag",
                format!("tags are 1 to {} letters, digits or dashes", Self::MAX_CHARS),
            ));
        }
        Ok(Self(tag))
    }

    /// The tag.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Up to five distinct tags, sorted.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Tags(Vec<Tag>);

impl Tags {
    /// Most tags on a ticket.
    pub const MAX: usize = 5;

    /// Validates a list of tags; duplicates collapse.
    pub fn parse<S: AsRef<str>>(raw: &[S]) -> Result<Self, Error> {
        let mut tags = raw.iter().map(|t| Tag::parse(t.as_ref())).collect::<Result<Vec<_>, _>>()?;
        tags.sort();
        tags.dedup();
        if tags.len() > Self::MAX {
            return Err(Error::invalid("tags", "too_many", format!("a ticket has at most {} tags", Self::MAX)));
        }
        Ok(Self(tags))
    }

    /// The tags.
    pub fn as_slice(&self) -> &[Tag] {
        &self.0
    }

    /// The tags as strings.
    pub fn to_strings(&self) -> Vec<String> {
        self.0.iter().map(|t| t.0.clone()).collect()
    }
}

/// A ticket.
#[derive(Debug, Clone, PartialEq)]
pub struct Ticket {
    /// Identifier and number.
    pub id: TicketId,
    /// One-line summary.
    pub title: Title,
    /// Markdown body.
    pub description: Description,
    /// Where it belongs.
    pub category_id: CategoryId,
    /// Free labels.
    pub tags: Tags,
    /// How urgent.
    pub priority: Priority,
    /// Where it is in its life.
    pub status: Status,
    /// Who raised it.
    pub creator_id: UserId,
    /// The creator's display name.
    pub creator_name: String,
    /// When it was raised.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
    /// How many "me too" votes it has.
    pub vote_count: u32,
    /// Optimistic-concurrency version, bumped by every edit.
    pub version: i64,
    /// The staff member working on it.
    pub assignee: Option<UserRef>,
    /// The answer staff gave when resolving, with who and when.
    pub resolution: Option<Resolution>,
    /// The ticket this one was merged into (status `merged`).
    pub merged_into: Option<TicketId>,
    /// The earlier ticket this one follows up (raised after the reopen window closed).
    pub follow_up_of: Option<TicketId>,
}

/// A user as other users see them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRef {
    /// Who.
    pub id: UserId,
    /// Their display name.
    pub display_name: String,
}

/// How a ticket was resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct Resolution {
    /// The answer (Markdown).
    pub answer: Answer,
    /// The staff member who resolved it.
    pub resolved_by: UserId,
    /// When.
    pub resolved_at: DateTime<Utc>,
}

/// A resolution's answer or a reply's body: Markdown, 1–20,000 characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer(String);

impl Answer {
    /// Validates a Markdown text that must not be empty; `field` names it for the client.
    pub fn parse(raw: &str, field: &'static str) -> Result<Self, Error> {
        let text = raw.trim();
        if text.is_empty() {
            return Err(Error::invalid(field, "required", format!("{field} must not be empty")));
        }
        if text.chars().count() > Description::MAX_CHARS {
            return Err(Error::invalid(
                field,
                "too_long",
                format!("{field} must be at most {} characters", Description::MAX_CHARS),
            ));
        }
        if text.chars().any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t')) {
            return Err(Error::invalid(field, "invalid_characters", format!("{field} contains control characters")));
        }
        Ok(Self(text.to_owned()))
    }

    /// The Markdown source.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A ticket as one viewer sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct TicketView {
    /// The ticket.
    pub ticket: Ticket,
    /// Whether the viewer has voted on it.
    pub voted: bool,
    /// Whether the viewer watches it.
    pub watching: bool,
}

/// A new ticket, validated and ready to store.
#[derive(Debug, Clone)]
pub struct NewTicket {
    /// One-line summary.
    pub title: Title,
    /// Markdown body.
    pub description: Description,
    /// Where it belongs.
    pub category_id: CategoryId,
    /// Free labels.
    pub tags: Tags,
    /// How urgent.
    pub priority: Priority,
    /// Who raises it.
    pub creator_id: UserId,
    /// When.
    pub created_at: DateTime<Utc>,
    /// The earlier ticket it follows up, if any.
    pub follow_up_of: Option<TicketId>,
}

/// One recorded change of a ticket (what); [`TicketEvent`] adds who and when.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Change {
    /// The ticket was raised.
    Created {
        /// Its title then.
        title: String,
        /// Its priority then.
        priority: String,
    },
    /// The title changed.
    TitleChanged {
        /// Before.
        from: String,
        /// After.
        to: String,
    },
    /// The description changed (the text itself is not repeated in the history).
    DescriptionChanged,
    /// The category changed.
    CategoryChanged {
        /// Before.
        from: i64,
        /// After.
        to: i64,
    },
    /// The tags changed.
    TagsChanged {
        /// Before.
        from: Vec<String>,
        /// After.
        to: Vec<String>,
    },
    /// The priority changed.
    PriorityChanged {
        /// Before.
        from: String,
        /// After.
        to: String,
    },
    /// The status changed.
    StatusChanged {
        /// Before.
        from: String,
        /// After.
        to: String,
    },
    /// Someone voted.
    VoteCast,
    /// Someone took their vote back.
    VoteRetracted,
    /// The assignee changed (`None` = unassigned).
    AssigneeChanged {
        /// Before.
        from: Option<i64>,
        /// After.
        to: Option<i64>,
    },
    /// Staff resolved the ticket with an answer.
    Resolved {
        /// The answer.
        answer: String,
    },
    /// The ticket was reopened, with the reason.
    Reopened {
        /// Why.
        reason: String,
    },
    /// Closed automatically after the reopen window of a resolved ticket.
    AutoClosed,
    /// A reply or internal note was added.
    ReplyAdded {
        /// The reply.
        reply_id: i64,
        /// Whether it is an internal note (staff only).
        internal: bool,
    },
    /// This ticket was merged into another.
    MergedInto {
        /// The target.
        target: i64,
    },
    /// Another ticket was merged into this one, bringing its people.
    MergedFrom {
        /// The merged duplicate.
        source: i64,
        /// Votes this ticket gained (people who had not voted here yet).
        votes_added: u32,
    },
    /// A merge was undone.
    Unmerged {
        /// The duplicate that was restored.
        source: i64,
        /// The ticket it had been merged into.
        target: i64,
    },
    /// Someone started watching.
    Watched,
    /// Someone stopped watching.
    Unwatched,
    /// An FAQ entry made from this ticket was published (the notifications hook: its
    /// creator and voters learn that the answer is now in the FAQ).
    FaqPublished {
        /// The entry.
        entry_id: i64,
    },
}

impl Change {
    /// Whether only staff may see this event (it concerns an internal note).
    pub fn is_internal(&self) -> bool {
        match self {
            Change::ReplyAdded { internal, .. } => *internal,
            Change::Created { .. }
            | Change::TitleChanged { .. }
            | Change::DescriptionChanged
            | Change::CategoryChanged { .. }
            | Change::TagsChanged { .. }
            | Change::PriorityChanged { .. }
            | Change::StatusChanged { .. }
            | Change::VoteCast
            | Change::VoteRetracted
            | Change::AssigneeChanged { .. }
            | Change::Resolved { .. }
            | Change::Reopened { .. }
            | Change::AutoClosed
            | Change::MergedInto { .. }
            | Change::MergedFrom { .. }
            | Change::Unmerged { .. }
            | Change::Watched
            | Change::Unwatched
            | Change::FaqPublished { .. } => false,
        }
    }

    /// Whether who made this change is private: votes and watches say what a person cares
    /// about, so other students see that they happened (and the counts) but not by whom;
    /// staff and the person themselves see the actor.
    pub fn actor_is_private(&self) -> bool {
        match self {
            Change::VoteCast | Change::VoteRetracted | Change::Watched | Change::Unwatched => true,
            Change::Created { .. }
            | Change::TitleChanged { .. }
            | Change::DescriptionChanged
            | Change::CategoryChanged { .. }
            | Change::TagsChanged { .. }
            | Change::PriorityChanged { .. }
            | Change::StatusChanged { .. }
            | Change::AssigneeChanged { .. }
            | Change::Resolved { .. }
            | Change::Reopened { .. }
            | Change::AutoClosed
            | Change::ReplyAdded { .. }
            | Change::MergedInto { .. }
            | Change::MergedFrom { .. }
            | Change::Unmerged { .. }
            | Change::FaqPublished { .. } => false,
        }
    }

    /// The stable name of the change's kind (as stored and as sent to clients).
    pub fn kind(&self) -> &'static str {
        match self {
            Change::Created { .. } => "created",
            Change::TitleChanged { .. } => "title_changed",
            Change::DescriptionChanged => "description_changed",
            Change::CategoryChanged { .. } => "category_changed",
            Change::TagsChanged { .. } => "tags_changed",
            Change::PriorityChanged { .. } => "priority_changed",
            Change::StatusChanged { .. } => "status_changed",
            Change::VoteCast => "vote_cast",
            Change::VoteRetracted => "vote_retracted",
            Change::AssigneeChanged { .. } => "assignee_changed",
            Change::Resolved { .. } => "resolved",
            Change::Reopened { .. } => "reopened",
            Change::AutoClosed => "auto_closed",
            Change::ReplyAdded { .. } => "reply_added",
            Change::MergedInto { .. } => "merged_into",
            Change::MergedFrom { .. } => "merged_from",
            Change::Unmerged { .. } => "unmerged",
            Change::Watched => "watched",
            Change::Unwatched => "unwatched",
            Change::FaqPublished { .. } => "faq_published",
        }
    }
}

/// A recorded change with its actor and time.
#[derive(Debug, Clone, PartialEq)]
pub struct TicketEvent {
    /// Order of recording.
    pub id: i64,
    /// The ticket.
    pub ticket_id: TicketId,
    /// Who; `None` when osts itself acted (e.g. closing automatically), or when the actor
    /// is private to the viewer ([`Change::actor_is_private`]).
    pub actor: Option<UserRef>,
    /// When.
    pub at: DateTime<Utc>,
    /// What.
    pub change: Change,
}

/// A ticket listing's order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TicketSort {
    /// Newest first.
    #[default]
    Newest,
    /// Most votes first (newest first among equals).
    MostVotes,
    /// Queue order (see [`crate::tickets::queue`]).
    Queue,
}

impl TicketSort {
    /// Every sort.
    pub const ALL: [TicketSort; 3] = [TicketSort::Newest, TicketSort::MostVotes, TicketSort::Queue];

    /// The stable name used in the API.
    pub fn as_str(self) -> &'static str {
        match self {
            TicketSort::Newest => "newest",
            TicketSort::MostVotes => "votes",
            TicketSort::Queue => "queue",
        }
    }

    /// Parses a stable name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|x| x.as_str() == s)
    }
}

/// Which assignee a listing wants.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AssigneeFilter {
    /// Any, including none.
    #[default]
    Anyone,
    /// Nobody yet.
    Unassigned,
    /// This staff member.
    User(UserId),
}

/// A ticket listing request, resolved against the viewer.
#[derive(Debug, Clone)]
pub struct TicketQuery {
    /// Who is looking (for `mine`, `voted` and the `voted` flag).
    pub viewer: UserId,
    /// Only this status.
    pub status: Option<Status>,
    /// Only this priority.
    pub priority: Option<Priority>,
    /// Only this category.
    pub category_id: Option<CategoryId>,
    /// Only tickets with this tag.
    pub tag: Option<Tag>,
    /// Only tickets the viewer raised.
    pub mine: bool,
    /// Only tickets the viewer voted on.
    pub voted_by_me: bool,
    /// Only tickets still waiting for support (`open`, `in_progress`).
    pub unresolved: bool,
    /// Only tickets with this assignee.
    pub assignee: AssigneeFilter,
    /// Words that must appear in the title or description.
    pub text: Option<String>,
    /// Order.
    pub sort: TicketSort,
    /// Page size.
    pub limit: PageLimit,
    /// Where the previous page ended.
    pub cursor: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn titles_are_bounded() {
        assert!(Title::parse("abcd").is_err());
        assert!(Title::parse("  abcde ").is_ok());
        assert!(Title::parse(&"é".repeat(150)).is_ok());
        assert!(Title::parse(&"é".repeat(151)).is_err());
        assert!(Title::parse("two\nlines").is_err());
        for c in crate::text::REORDERING_OR_BREAKING {
            let err = Title::parse(&format!("Exam results{c}gpj.exe")).unwrap_err();
            assert!(matches!(err, Error::Invalid { code: "invalid_characters", .. }), "{:04x}", c as u32);
        }
    }

    #[test]
    fn descriptions_are_bounded() {
        assert!(Description::parse("").is_ok());
        assert!(Description::parse(&"x".repeat(20_000)).is_ok());
        assert!(Description::parse(&"x".repeat(20_001)).is_err());
        assert!(Description::parse("a\n\tb").is_ok());
    }

    #[test]
    fn tags_normalise_dedupe_and_cap() {
        let tags = Tags::parse(&["Exam Results", "exam-results", "fees"]).unwrap();
        assert_eq!(tags.to_strings(), vec!["exam-results", "fees"]);
        assert!(Tags::parse(&["a", "b", "c", "d", "e", "f"]).is_err());
        assert!(Tags::parse(&["no/slash"]).is_err());
        assert!(Tags::parse(&[""]).is_err());
    }
}
