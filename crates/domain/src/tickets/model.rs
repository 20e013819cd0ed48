use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::status::{Priority, Status};
use crate::accounts::UserId;
use crate::actor::EventActor;
use crate::categories::CategoryId;
use crate::error::{Conflict, Error};
use crate::page::PageLimit;
use crate::text::{multi_line, one_line, one_line_edge, visible, ws, Pattern};

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

/// [`Title`] as a pattern: whitespace around, then 5–150 characters of one line that start
/// and end with a visible one.
pub static TITLE: Pattern = Pattern::new(|| {
    concat!("^[", ws!(), "]*", one_line_edge!(), one_line!(), "{3,148}", one_line_edge!(), "[", ws!(), "]*$").to_owned()
});

/// [`Description`] as a pattern (the length is the document's `maxLength`).
pub static DESCRIPTION: Pattern = Pattern::new(|| {
    concat!("^[", ws!(), "]*(?:", visible!(), "(?:", multi_line!(), "*", visible!(), ")?)?[", ws!(), "]*$").to_owned()
});

/// [`Answer`] as a pattern: like [`DESCRIPTION`], but not blank.
pub static ANSWER: Pattern = Pattern::new(|| {
    concat!("^[", ws!(), "]*", visible!(), "(?:", multi_line!(), "*", visible!(), ")?[", ws!(), "]*$").to_owned()
});

/// [`Tag`] as a pattern: whitespace around, then 1–32 letters, digits, dashes and spaces
/// that start and end with a letter, digit or dash.
pub static TAG: Pattern = Pattern::new(|| {
    concat!(r"^[", ws!(), r"]*[-\p{L}\p{N}](?:[-\p{L}\p{N}", ws!(), r"]{0,30}[-\p{L}\p{N}])?[", ws!(), "]*$").to_owned()
});

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
        if title.chars().any(|c| c.is_control() || crate::text::reorders_or_breaks_text(c)) || !TITLE.is_match(raw) {
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

/// A ticket description in Markdown: at most 20,000 characters as sent (may be empty), kept
/// trimmed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Description(String);

impl Description {
    /// Most characters, counted as sent (before trimming).
    pub const MAX_CHARS: usize = 20_000;

    /// Validates a description. Markdown is stored as written and sanitised when rendered.
    pub fn parse(raw: &str) -> Result<Self, Error> {
        let text = raw.trim();
        if raw.chars().count() > Self::MAX_CHARS {
            return Err(Error::invalid(
                "description",
                "too_long",
                format!("description must be at most {} characters", Self::MAX_CHARS),
            ));
        }
        if text.chars().any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t')) || !DESCRIPTION.is_match(raw) {
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
    /// Most characters, counted after trimming and before runs of spaces become one `-`.
    pub const MAX_CHARS: usize = 32;

    /// Validates and normalises a tag (`"Exam Results"` → `"exam-results"`). Letters are
    /// those of any script (`\p{L}`, see [`TAG`]); `İ` (U+0130), whose lower case is two
    /// characters, becomes `i`.
    pub fn parse(raw: &str) -> Result<Self, Error> {
        let trimmed = raw.trim();
        let tag: String =
            trimmed.replace('\u{130}', "I").to_lowercase().split_whitespace().collect::<Vec<_>>().join("-");
        let ok = !tag.is_empty()
            && trimmed.chars().count() <= Self::MAX_CHARS
            && tag.chars().all(|c| c.is_alphanumeric() || c == '-')
            && TAG.is_match(raw);
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

    /// Validates a list of at most [`Tags::MAX`] tags; duplicates collapse.
    pub fn parse<S: AsRef<str>>(raw: &[S]) -> Result<Self, Error> {
        if raw.len() > Self::MAX {
            return Err(Error::invalid("tags", "too_many", format!("a ticket has at most {} tags", Self::MAX)));
        }
        let mut tags = raw.iter().map(|t| Tag::parse(t.as_ref())).collect::<Result<Vec<_>, _>>()?;
        tags.sort();
        tags.dedup();
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

/// A ticket. Its fields are private: a ticket changes only through the transition methods
/// ([`Ticket::edit`], [`Ticket::claim`], [`Ticket::assign`], [`Ticket::resolve`],
/// [`Ticket::reopen`], [`Ticket::set_priority`], ...), each of which returns the new state
/// together with the history it records ([`Transition`]), so no caller can change a status and
/// forget its event.
#[derive(Debug, Clone, PartialEq)]
pub struct Ticket(TicketRecord);

/// A ticket's state as an adapter stores and reads it back (or a test builder makes it);
/// [`Ticket::restore`] turns it into a [`Ticket`]. It is not a way to change a ticket: that is
/// what the transitions are for.
#[derive(Debug, Clone, PartialEq)]
pub struct TicketRecord {
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
    /// Its service-level state, due times and first staff response.
    pub sla: crate::escalation::TicketSla,
    /// When it was first escalated, if it was.
    pub escalated_at: Option<DateTime<Utc>>,
    /// Its forum thread, if it has one.
    pub thread: Option<crate::forum::ForumThread>,
}

/// A ticket after a transition, with the changes to record in its history (in order).
#[derive(Debug, Clone, PartialEq)]
pub struct Transition {
    /// The new state.
    pub ticket: Ticket,
    /// What changed; empty when the transition changed nothing.
    pub changes: Vec<Change>,
}

impl Transition {
    fn unchanged(ticket: &Ticket) -> Self {
        Self { ticket: ticket.clone(), changes: vec![] }
    }

    /// Whether nothing changed.
    pub fn is_noop(&self) -> bool {
        self.changes.is_empty()
    }
}

/// One named edit of a ticket (`PATCH`): a client's patch is a list of these.
#[derive(Debug, Clone, PartialEq)]
pub enum TicketEdit {
    /// A new title.
    Title(Title),
    /// A new description.
    Description(Description),
    /// A new category (already checked to exist).
    Category(CategoryId),
    /// New tags, replacing the old ones.
    Tags(Tags),
    /// A new priority.
    Priority(Priority),
    /// A plain status change: start or stop work, or close a resolved ticket. Statuses that
    /// carry more (an answer, a reason, a target) have transitions of their own.
    Status(Status),
}

impl TicketEdit {
    /// Whether the edit changes the ticket's content (title, description, category, tags),
    /// which only its creator (while open) and staff may change.
    pub fn touches_content(&self) -> bool {
        match self {
            TicketEdit::Title(_) | TicketEdit::Description(_) | TicketEdit::Category(_) | TicketEdit::Tags(_) => true,
            TicketEdit::Priority(_) | TicketEdit::Status(_) => false,
        }
    }
}

impl Ticket {
    /// A ticket from its stored state.
    pub fn restore(record: TicketRecord) -> Self {
        Self(record)
    }

    /// The state to store.
    pub fn record(&self) -> &TicketRecord {
        &self.0
    }

    /// Its service-level state, due times and first staff response.
    pub fn sla(&self) -> crate::escalation::TicketSla {
        self.0.sla
    }

    /// When it was first escalated, if it was.
    pub fn escalated_at(&self) -> Option<DateTime<Utc>> {
        self.0.escalated_at
    }

    /// Its forum thread, if it has one.
    pub fn thread(&self) -> Option<&crate::forum::ForumThread> {
        self.0.thread.as_ref()
    }

    /// The ticket with its forum thread, as the store read it.
    pub fn with_thread(mut self, thread: Option<crate::forum::ForumThread>) -> Self {
        self.0.thread = thread;
        self
    }

    /// The ticket with new SLA due times (its priority changed, or the targets did).
    pub fn with_sla_due(mut self, due: crate::escalation::SlaDue) -> Self {
        self.0.sla.due = Some(due);
        self
    }

    /// Identifier and number.
    pub fn id(&self) -> TicketId {
        self.0.id
    }
    /// One-line summary.
    pub fn title(&self) -> &Title {
        &self.0.title
    }
    /// Markdown body.
    pub fn description(&self) -> &Description {
        &self.0.description
    }
    /// Where it belongs.
    pub fn category_id(&self) -> CategoryId {
        self.0.category_id
    }
    /// Free labels.
    pub fn tags(&self) -> &Tags {
        &self.0.tags
    }
    /// How urgent.
    pub fn priority(&self) -> Priority {
        self.0.priority
    }
    /// Where it is in its life.
    pub fn status(&self) -> Status {
        self.0.status
    }
    /// Who raised it.
    pub fn creator_id(&self) -> UserId {
        self.0.creator_id
    }
    /// The creator's display name.
    pub fn creator_name(&self) -> &str {
        &self.0.creator_name
    }
    /// When it was raised.
    pub fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    /// When it last changed.
    pub fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }
    /// How many "me too" votes it has.
    pub fn vote_count(&self) -> u32 {
        self.0.vote_count
    }
    /// Optimistic-concurrency version.
    pub fn version(&self) -> i64 {
        self.0.version
    }
    /// The staff member working on it.
    pub fn assignee(&self) -> Option<&UserRef> {
        self.0.assignee.as_ref()
    }
    /// The answer staff gave, with who and when.
    pub fn resolution(&self) -> Option<&Resolution> {
        self.0.resolution.as_ref()
    }
    /// The ticket this one was merged into.
    pub fn merged_into(&self) -> Option<TicketId> {
        self.0.merged_into
    }
    /// The earlier ticket this one follows up.
    pub fn follow_up_of(&self) -> Option<TicketId> {
        self.0.follow_up_of
    }

    fn changed(&self, at: DateTime<Utc>, change: impl FnOnce(&mut TicketRecord)) -> Ticket {
        let mut record = self.0.clone();
        change(&mut record);
        record.updated_at = at;
        Ticket(record)
    }

    /// Applies named edits in order, each recorded as one change (edits that change nothing
    /// record nothing). A status edit runs through the status machine and may only start or
    /// stop work or close a resolved ticket; resolving, reopening, merging and unmerging
    /// carry more than a status and are refused here with the code of their own action.
    /// Authorization is the caller's ([`crate::tickets::policy`]).
    pub fn edit(&self, edits: &[TicketEdit], at: DateTime<Utc>) -> Result<Transition, Error> {
        let mut record = self.0.clone();
        let mut changes = Vec::new();
        for edit in edits {
            match edit {
                TicketEdit::Title(title) if *title != record.title => {
                    changes
                        .push(Change::TitleChanged { from: record.title.as_str().into(), to: title.as_str().into() });
                    record.title = title.clone();
                }
                TicketEdit::Description(description) if *description != record.description => {
                    changes.push(Change::DescriptionChanged);
                    record.description = description.clone();
                }
                TicketEdit::Category(category) if *category != record.category_id => {
                    changes.push(Change::CategoryChanged { from: record.category_id.get(), to: category.get() });
                    record.category_id = *category;
                }
                TicketEdit::Tags(tags) if *tags != record.tags => {
                    changes.push(Change::TagsChanged { from: record.tags.to_strings(), to: tags.to_strings() });
                    record.tags = tags.clone();
                }
                TicketEdit::Priority(priority) if *priority != record.priority => {
                    changes.push(Change::PriorityChanged { from: record.priority, to: *priority });
                    record.priority = *priority;
                }
                TicketEdit::Status(status) if *status != record.status => {
                    status_needs_action(record.status, *status)?;
                    let to = record.status.transition(*status)?;
                    changes.push(Change::StatusChanged { from: record.status, to });
                    record.status = to;
                }
                TicketEdit::Title(_)
                | TicketEdit::Description(_)
                | TicketEdit::Category(_)
                | TicketEdit::Tags(_)
                | TicketEdit::Priority(_)
                | TicketEdit::Status(_) => {}
            }
        }
        if changes.is_empty() {
            return Ok(Transition::unchanged(self));
        }
        record.updated_at = at;
        Ok(Transition { ticket: Ticket(record), changes })
    }

    /// A new priority (see [`Ticket::edit`] for the rules; this is its one-edit form).
    pub fn set_priority(&self, priority: Priority, at: DateTime<Utc>) -> Result<Transition, Error> {
        self.edit(&[TicketEdit::Priority(priority)], at)
    }

    /// `member` takes the ticket: assigned to them and, if it was open, in progress. Claiming
    /// a ticket one already holds changes nothing; someone else's is a conflict.
    pub fn claim(&self, member: UserId, at: DateTime<Utc>) -> Result<Transition, Error> {
        self.require_unresolved()?;
        match &self.0.assignee {
            Some(a) if a.id == member => return Ok(Transition::unchanged(self)),
            Some(_) => return Err(Error::Conflict(Conflict::AlreadyAssigned)),
            None => {}
        }
        let mut changes = vec![Change::AssigneeChanged { from: None, to: Some(member.get()) }];
        let status = match self.0.status {
            Status::Open => {
                let to = Status::Open.transition(Status::InProgress)?;
                changes.push(Change::StatusChanged { from: Status::Open, to });
                to
            }
            other => other,
        };
        let ticket = self.changed(at, |r| {
            r.assignee = Some(UserRef { id: member, display_name: String::new() });
            r.status = status;
        });
        Ok(Transition { ticket, changes })
    }

    /// Assigns the ticket to `assignee` (or nobody). Checking that the assignee may hold
    /// tickets is the caller's.
    pub fn assign(&self, assignee: Option<UserId>, at: DateTime<Utc>) -> Result<Transition, Error> {
        self.require_unresolved()?;
        let before = self.0.assignee.as_ref().map(|a| a.id);
        if before == assignee {
            return Ok(Transition::unchanged(self));
        }
        let change = Change::AssigneeChanged { from: before.map(UserId::get), to: assignee.map(UserId::get) };
        let ticket = self.changed(at, |r| r.assignee = assignee.map(|id| UserRef { id, display_name: String::new() }));
        Ok(Transition { ticket, changes: vec![change] })
    }

    /// `by` resolves the ticket with `answer`; an unassigned ticket becomes theirs.
    pub fn resolve(&self, by: UserId, answer: Answer, at: DateTime<Utc>) -> Result<Transition, Error> {
        // `merged → resolved` is in the status machine for undoing a merge, not for resolving.
        let status = match self.0.status {
            Status::Open | Status::InProgress => self.0.status.transition(Status::Resolved)?,
            other @ (Status::Resolved | Status::Closed | Status::Merged) => {
                return Err(Error::Conflict(Conflict::IllegalTransition { from: other.as_str(), to: "resolved" }));
            }
        };
        let mut changes = Vec::new();
        let assign = self.0.assignee.is_none();
        if assign {
            changes.push(Change::AssigneeChanged { from: None, to: Some(by.get()) });
        }
        changes.push(Change::Resolved { answer: answer.as_str().to_owned() });
        let ticket = self.changed(at, |r| {
            r.status = status;
            if assign {
                r.assignee = Some(UserRef { id: by, display_name: String::new() });
            }
            r.resolution = Some(Resolution { answer, resolved_by: by, resolved_at: at });
        });
        Ok(Transition { ticket, changes })
    }

    /// Reopens a resolved ticket with the reason; its resolution is cleared. Who may reopen,
    /// and until when, is the caller's ([`within_reopen_window`]).
    pub fn reopen(&self, reason: String, at: DateTime<Utc>) -> Result<Transition, Error> {
        let status = match self.0.status {
            Status::Resolved => Status::Resolved.transition(Status::Open)?,
            other @ (Status::Open | Status::InProgress | Status::Closed | Status::Merged) => {
                return Err(Error::Conflict(Conflict::IllegalTransition { from: other.as_str(), to: "open" }));
            }
        };
        let ticket = self.changed(at, |r| {
            r.status = status;
            r.resolution = None;
        });
        Ok(Transition { ticket, changes: vec![Change::Reopened { reason }] })
    }

    /// Checks that the ticket may be folded into `target` (another ticket that is open, in
    /// progress or resolved) and returns the change to record on this ticket. The merge
    /// itself (carrying people and votes) is set-based and happens in the store, in the
    /// transaction that records this change.
    pub fn merge_into(&self, target: &Ticket) -> Result<Change, Error> {
        self.0.status.transition(Status::Merged)?;
        if target.id() == self.id() {
            return Err(Error::Conflict(Conflict::SameTicket));
        }
        match target.status() {
            Status::Open | Status::InProgress | Status::Resolved => {
                Ok(Change::MergedInto { target: target.id().get() })
            }
            other @ (Status::Closed | Status::Merged) => {
                Err(Error::Conflict(Conflict::IllegalTransition { from: other.as_str(), to: "merged" }))
            }
        }
    }

    fn require_unresolved(&self) -> Result<(), Error> {
        if self.0.status.is_unresolved() {
            Ok(())
        } else {
            Err(Error::Conflict(Conflict::IllegalTransition { from: self.0.status.as_str(), to: "in_progress" }))
        }
    }
}

/// Whether a resolution at `resolved_at` may still be reopened by its creator at `now`.
pub fn within_reopen_window(resolved_at: DateTime<Utc>, now: DateTime<Utc>, days: u32) -> bool {
    now - resolved_at <= chrono::Duration::days(i64::from(days))
}

/// Status changes that carry more than a status (an answer, a reason, a target) have their
/// own actions; a plain edit may only start or stop work and close a resolved ticket.
///
/// `resolved` and `merged` are never a plain edit's status, whatever the ticket's status
/// (invalid: `use_resolve`, `use_merge`, also when the ticket has that status already); a
/// merged ticket, and a resolved one going back to `open`, need their own action because of
/// where they are (a conflict: `use_unmerge`, `use_reopen`).
pub fn status_needs_action(from: Status, to: Status) -> Result<(), Error> {
    match (from, to) {
        (_, Status::Resolved) => {
            Err(Error::invalid("status", "use_resolve", "resolve the ticket with an answer instead"))
        }
        (_, Status::Merged) => Err(Error::invalid("status", "use_merge", "merge the ticket into its target instead")),
        (Status::Merged, _) => {
            Err(Error::Conflict(Conflict::UseAction { code: "use_unmerge", message: "undo the merge instead" }))
        }
        (Status::Resolved, Status::Open) => Err(Error::Conflict(Conflict::UseAction {
            code: "use_reopen",
            message: "reopen the ticket with a reason instead",
        })),
        _ => Ok(()),
    }
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

/// A resolution's answer or a reply's body: Markdown, not blank, at most 20,000 characters
/// as sent, kept trimmed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer(String);

impl Answer {
    /// Validates a Markdown text that must not be empty; `field` names it for the client.
    pub fn parse(raw: &str, field: &'static str) -> Result<Self, Error> {
        let text = raw.trim();
        if text.is_empty() {
            return Err(Error::invalid(field, "required", format!("{field} must not be empty")));
        }
        if raw.chars().count() > Description::MAX_CHARS {
            return Err(Error::invalid(
                field,
                "too_long",
                format!("{field} must be at most {} characters", Description::MAX_CHARS),
            ));
        }
        if text.chars().any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t')) || !ANSWER.is_match(raw) {
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
    /// When its SLA targets fall due (`None`: the SLA job sets them; imports and test data).
    pub sla_due: Option<crate::escalation::SlaDue>,
    /// Why it is escalated as it is raised (a high or urgent priority), recorded after
    /// `Created` in the same transaction.
    pub escalation: Option<crate::escalation::EscalationReason>,
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
        priority: Priority,
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
        from: Priority,
        /// After.
        to: Priority,
    },
    /// The status changed.
    StatusChanged {
        /// Before.
        from: Status,
        /// After.
        to: Status,
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
    /// The ticket was escalated to the people above support (posted to the chat spaces its
    /// webhooks route it to); staff only, since a note may say more than students should read.
    Escalated {
        /// Why.
        reason: crate::escalation::EscalationReason,
    },
    /// A forum thread was asked for (the forum job opens it).
    ThreadRequested {
        /// Private message or public topic.
        visibility: crate::forum::Visibility,
    },
    /// An existing forum topic became the ticket's thread.
    ThreadLinked {
        /// The topic.
        topic_id: i64,
    },
    /// The thread was made public or private.
    ThreadVisibilityChanged {
        /// The new visibility.
        to: crate::forum::Visibility,
    },
    /// The thread was closed by hand (`on_forum`: on the forum itself).
    ThreadClosed {
        /// Whether it happened on the forum (osts then has nothing to tell it).
        on_forum: bool,
    },
    /// The thread was reopened by hand (`on_forum`: on the forum itself).
    ThreadReopened {
        /// Whether it happened on the forum.
        on_forum: bool,
    },
    /// Someone replied in the thread on the forum.
    ThreadReply {
        /// The forum post.
        post_id: i64,
        /// Its author's forum username.
        username: String,
    },
    /// Someone liked a post of the thread on the forum.
    ThreadLiked {
        /// The forum post.
        post_id: i64,
        /// Who liked it (forum username).
        username: String,
    },
    /// An admin deleted a post of the thread.
    ThreadPostDeleted {
        /// The forum post.
        post_id: i64,
    },
}

impl Change {
    /// Whether only staff may see this event (it concerns an internal note).
    pub fn is_internal(&self) -> bool {
        match self {
            Change::ReplyAdded { internal, .. } => *internal,
            Change::Escalated { .. } => true,
            Change::Created { .. }
            | Change::ThreadRequested { .. }
            | Change::ThreadLinked { .. }
            | Change::ThreadVisibilityChanged { .. }
            | Change::ThreadClosed { .. }
            | Change::ThreadReopened { .. }
            | Change::ThreadReply { .. }
            | Change::ThreadLiked { .. }
            | Change::ThreadPostDeleted { .. }
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
            Change::Escalated { .. }
            | Change::ThreadRequested { .. }
            | Change::ThreadLinked { .. }
            | Change::ThreadVisibilityChanged { .. }
            | Change::ThreadClosed { .. }
            | Change::ThreadReopened { .. }
            | Change::ThreadReply { .. }
            | Change::ThreadLiked { .. }
            | Change::ThreadPostDeleted { .. }
            | Change::Created { .. }
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
            Change::Escalated { .. } => "escalated",
            Change::ThreadRequested { .. } => "thread_requested",
            Change::ThreadLinked { .. } => "thread_linked",
            Change::ThreadVisibilityChanged { .. } => "thread_visibility_changed",
            Change::ThreadClosed { .. } => "thread_closed",
            Change::ThreadReopened { .. } => "thread_reopened",
            Change::ThreadReply { .. } => "thread_reply",
            Change::ThreadLiked { .. } => "thread_liked",
            Change::ThreadPostDeleted { .. } => "thread_post_deleted",
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
    /// Who: a user, osts itself (e.g. closing automatically) or an integration; `Hidden`
    /// when the actor is private to the viewer ([`Change::actor_is_private`]).
    pub actor: EventActor,
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
    /// Only tickets in this SLA state (as of the last SLA check).
    pub sla: Option<crate::escalation::SlaState>,
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
    use crate::testing::{epoch, TicketBuilder};

    fn at() -> DateTime<Utc> {
        epoch() + chrono::Duration::hours(5)
    }

    fn code(e: Error) -> &'static str {
        match e {
            Error::Invalid { code, .. } => code,
            Error::Conflict(c) => c.code(),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn claiming_assigns_and_starts_work_from_each_status() {
        let me = UserId::new(3);
        // (status, assignee, expected: Ok(changes) or the error code)
        let table: [(Status, Option<i64>, Result<usize, &str>); 7] = [
            (Status::Open, None, Ok(2)),
            (Status::InProgress, None, Ok(1)),
            (Status::InProgress, Some(3), Ok(0)),
            (Status::InProgress, Some(4), Err("already_assigned")),
            (Status::Resolved, None, Err("illegal_transition")),
            (Status::Closed, None, Err("illegal_transition")),
            (Status::Merged, None, Err("illegal_transition")),
        ];
        for (status, assignee, expected) in table {
            let builder = TicketBuilder::new(1).status(status);
            let ticket = match assignee {
                Some(a) => builder.assignee(a).build(),
                None => builder.build(),
            };
            match (ticket.claim(me, at()), expected) {
                (Ok(t), Ok(n)) => {
                    assert_eq!(t.changes.len(), n, "{status:?}");
                    assert_eq!(
                        t.ticket.assignee().map(|a| a.id),
                        Some(me).filter(|_| n > 0).or(ticket.assignee().map(|a| a.id))
                    );
                    if n > 0 {
                        assert_eq!(t.ticket.status(), Status::InProgress);
                        assert_eq!(t.ticket.updated_at(), at());
                    }
                }
                (Err(e), Err(c)) => assert_eq!(code(e), c, "{status:?}"),
                (got, want) => panic!("{status:?} {assignee:?}: got {got:?}, want {want:?}"),
            }
        }
    }

    #[test]
    fn resolving_records_the_answer_and_assigns_the_unassigned() {
        let answer = || Answer::parse("Regraded.", "answer").unwrap();
        for status in Status::ALL {
            let ticket = TicketBuilder::new(1).status(status).build();
            let result = ticket.resolve(UserId::new(3), answer(), at());
            match status {
                Status::Open | Status::InProgress => {
                    let t = result.unwrap();
                    assert_eq!(t.ticket.status(), Status::Resolved);
                    assert_eq!(
                        t.ticket.resolution().map(|r| (r.resolved_by, r.resolved_at)),
                        Some((UserId::new(3), at()))
                    );
                    assert_eq!(
                        t.changes,
                        vec![
                            Change::AssigneeChanged { from: None, to: Some(3) },
                            Change::Resolved { answer: "Regraded.".into() }
                        ]
                    );
                }
                Status::Resolved | Status::Closed | Status::Merged => {
                    assert_eq!(code(result.unwrap_err()), "illegal_transition", "{status:?}");
                }
            }
        }
        let assigned = TicketBuilder::new(1).assignee(4).build().resolve(UserId::new(3), answer(), at()).unwrap();
        assert_eq!(assigned.changes, vec![Change::Resolved { answer: "Regraded.".into() }]);
        assert_eq!(assigned.ticket.assignee().map(|a| a.id), Some(UserId::new(4)));
    }

    #[test]
    fn only_resolved_tickets_reopen_and_lose_their_resolution() {
        for status in Status::ALL {
            let ticket = match status {
                Status::Resolved => TicketBuilder::new(1).resolved(3, "Done.", epoch()).build(),
                other => TicketBuilder::new(1).status(other).build(),
            };
            let result = ticket.reopen("still broken".into(), at());
            match status {
                Status::Resolved => {
                    let t = result.unwrap();
                    assert_eq!(t.ticket.status(), Status::Open);
                    assert!(t.ticket.resolution().is_none());
                    assert_eq!(t.changes, vec![Change::Reopened { reason: "still broken".into() }]);
                }
                Status::Open | Status::InProgress | Status::Closed | Status::Merged => {
                    assert_eq!(code(result.unwrap_err()), "illegal_transition", "{status:?}");
                }
            }
        }
    }

    #[test]
    fn plain_edits_record_one_change_each_and_refuse_statuses_with_actions() {
        let ticket = TicketBuilder::new(1).build();
        let same =
            ticket.edit(&[TicketEdit::Priority(Priority::Medium), TicketEdit::Status(Status::Open)], at()).unwrap();
        assert!(same.is_noop());
        assert_eq!(same.ticket, ticket, "a no-op keeps the time too");
        let t = ticket
            .edit(
                &[
                    TicketEdit::Title(Title::parse("Quiz 3 grade missing").unwrap()),
                    TicketEdit::Priority(Priority::High),
                    TicketEdit::Status(Status::InProgress),
                ],
                at(),
            )
            .unwrap();
        assert_eq!(
            t.changes,
            vec![
                Change::TitleChanged { from: "Exam results missing".into(), to: "Quiz 3 grade missing".into() },
                Change::PriorityChanged { from: Priority::Medium, to: Priority::High },
                Change::StatusChanged { from: Status::Open, to: Status::InProgress },
            ]
        );
        assert_eq!(
            (t.ticket.priority(), t.ticket.status(), t.ticket.updated_at()),
            (Priority::High, Status::InProgress, at())
        );
        // (from, to, code) for statuses that carry more than a status.
        let refused = [
            (Status::Open, Status::Resolved, "use_resolve"),
            (Status::Open, Status::Merged, "use_merge"),
            (Status::Merged, Status::Open, "use_unmerge"),
            (Status::Resolved, Status::Open, "use_reopen"),
            (Status::Closed, Status::Open, "illegal_transition"),
        ];
        for (from, to, expected) in refused {
            let err = TicketBuilder::new(1).status(from).build().edit(&[TicketEdit::Status(to)], at()).unwrap_err();
            assert_eq!(code(err), expected, "{from:?} -> {to:?}");
        }
        let closed =
            TicketBuilder::new(1).status(Status::Resolved).build().edit(&[TicketEdit::Status(Status::Closed)], at());
        assert_eq!(closed.unwrap().ticket.status(), Status::Closed);
    }

    #[test]
    fn assigning_and_merging_check_their_states() {
        let t = TicketBuilder::new(1).build().assign(Some(UserId::new(5)), at()).unwrap();
        assert_eq!(t.changes, vec![Change::AssigneeChanged { from: None, to: Some(5) }]);
        assert!(t.ticket.assign(Some(UserId::new(5)), at()).unwrap().is_noop());
        let unassigned = t.ticket.assign(None, at()).unwrap();
        assert_eq!(unassigned.changes, vec![Change::AssigneeChanged { from: Some(5), to: None }]);
        let resolved = TicketBuilder::new(1).status(Status::Resolved).build();
        assert_eq!(code(resolved.assign(Some(UserId::new(5)), at()).unwrap_err()), "illegal_transition");

        let source = TicketBuilder::new(1).build();
        let target = TicketBuilder::new(2).build();
        assert_eq!(source.merge_into(&target).unwrap(), Change::MergedInto { target: 2 });
        assert_eq!(code(source.merge_into(&source).unwrap_err()), "same_ticket");
        let closed = TicketBuilder::new(2).status(Status::Closed).build();
        assert_eq!(code(source.merge_into(&closed).unwrap_err()), "illegal_transition");
        let merged = TicketBuilder::new(1).merged_into(9).build();
        assert_eq!(code(merged.merge_into(&target).unwrap_err()), "illegal_transition");
    }

    #[test]
    fn history_changes_keep_their_stored_form() {
        // Typed statuses and priorities serialise to the names stored before they were typed.
        let change = Change::StatusChanged { from: Status::InProgress, to: Status::Resolved };
        let json = serde_json::to_value(&change).unwrap();
        assert_eq!(json, serde_json::json!({"kind": "status_changed", "from": "in_progress", "to": "resolved"}));
        let stored = r#"{"kind":"created","title":"Portal down","priority":"urgent"}"#;
        assert_eq!(
            serde_json::from_str::<Change>(stored).unwrap(),
            Change::Created { title: "Portal down".into(), priority: Priority::Urgent }
        );
    }

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
