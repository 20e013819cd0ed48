//! Tickets: raising, reading, editing, listing, and their history.

use crate::nullable::Nullable;
use crate::nullable::PageSize;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use domain::tickets::{self as dt, TicketDraft, TicketFilter, TicketId};
use poem::web::Data;
use poem_openapi::{
    param::{Path, Query},
    payload::Json,
    ApiResponse, Enum, Object, OpenApi, Union,
};

use crate::{
    accounts::UserSummary,
    auth::Session,
    error::{error_set, Failure},
    text::{self, Text},
    ApiTags, App,
};

/// How urgent a ticket is. Students may ask for up to `high`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case", remote = "domain::tickets::Priority")]
pub enum Priority {
    /// Whenever support gets to it.
    Low,
    /// The default.
    Medium,
    /// Soon.
    High,
    /// Now; set by staff only.
    Urgent,
}

/// Where a ticket is in its life: `open` → `in_progress` → `resolved` → `closed`; `merged`
/// for a ticket folded into another.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case", remote = "domain::tickets::Status")]
pub enum TicketStatus {
    /// Waiting for support.
    Open,
    /// A support member works on it.
    InProgress,
    /// Answered; the creator may reopen it.
    Resolved,
    /// Done for good.
    Closed,
    /// Folded into another ticket.
    Merged,
}

/// A status a plain edit can ask for: `open`, `in_progress` or `closed` (the document's
/// `enum`). Every status name parses, so that the domain can point at the operation that
/// takes `resolved` or `merged` (422 `use_resolve`, `use_merge`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EditableStatus(pub TicketStatus);

impl poem_openapi::types::Type for EditableStatus {
    const IS_REQUIRED: bool = true;

    type RawValueType = Self;

    type RawElementValueType = Self;

    fn name() -> std::borrow::Cow<'static, str> {
        "EditableStatus".into()
    }

    fn schema_ref() -> poem_openapi::registry::MetaSchemaRef {
        let editable = [TicketStatus::Open, TicketStatus::InProgress, TicketStatus::Closed];
        poem_openapi::registry::MetaSchemaRef::Inline(Box::new(poem_openapi::registry::MetaSchema {
            enum_items: editable.iter().filter_map(poem_openapi::types::ToJSON::to_json).collect(),
            ..poem_openapi::registry::MetaSchema::new("string")
        }))
    }

    fn as_raw_value(&self) -> Option<&Self> {
        Some(self)
    }

    fn raw_element_iter<'a>(&'a self) -> Box<dyn Iterator<Item = &'a Self> + 'a> {
        Box::new(std::iter::once(self))
    }
}

impl poem_openapi::types::ParseFromJSON for EditableStatus {
    fn parse_from_json(value: Option<serde_json::Value>) -> poem_openapi::types::ParseResult<Self> {
        <TicketStatus as poem_openapi::types::ParseFromJSON>::parse_from_json(value)
            .map(Self)
            .map_err(poem_openapi::types::ParseError::propagate)
    }
}

impl poem_openapi::types::ToJSON for EditableStatus {
    fn to_json(&self) -> Option<serde_json::Value> {
        poem_openapi::types::ToJSON::to_json(&self.0)
    }
}

/// A ticket listing's order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case", remote = "domain::tickets::TicketSort")]
pub enum TicketSort {
    /// Newest first.
    Newest,
    /// Most votes first (newest first among equals).
    #[oai(rename = "votes")]
    MostVotes,
    /// Queue order: a score from votes, priority and age.
    Queue,
}

/// A ticket as the caller sees it.
#[derive(Debug, Clone, Object)]
pub struct Ticket {
    /// The ticket's number, shown to people as `#1042`.
    pub number: i64,
    /// One-line summary.
    pub title: String,
    /// Markdown body.
    pub description: String,
    /// The description rendered to sanitised HTML.
    pub description_html: String,
    /// The category it belongs to.
    pub category_id: i64,
    /// Free labels, sorted.
    pub tags: Vec<String>,
    /// How urgent.
    pub priority: Priority,
    /// Where it is in its life.
    pub status: TicketStatus,
    /// Who raised it.
    pub creator: UserSummary,
    /// The staff member working on it.
    pub assignee: Nullable<UserSummary>,
    /// The answer staff gave, while the ticket is resolved or closed.
    pub resolution: Nullable<ResolutionView>,
    /// The ticket this one was merged into (status `merged`).
    pub merged_into: Nullable<i64>,
    /// The earlier ticket this one follows up.
    pub follow_up_of: Nullable<i64>,
    /// When it was raised.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
    /// How many "me too" votes it has.
    pub vote_count: u32,
    /// Whether the caller has voted on it.
    pub voted: bool,
    /// Whether the caller watches it (is notified of it).
    pub watching: bool,
    /// Whether it has been escalated to the people above support (posted to chat).
    pub escalated: bool,
    /// When it was first escalated.
    pub escalated_at: Nullable<DateTime<Utc>>,
    /// Where it stands against its service-level targets.
    pub sla: SlaView,
    /// Its forum thread, if it has one (a private thread shows to its creator and staff).
    pub thread: Nullable<crate::forum::ThreadSummary>,
}

/// A ticket's service-level state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case", remote = "domain::escalation::SlaState")]
pub enum SlaState {
    /// Within 80 % of every running target.
    Ok,
    /// 80 % or more of a target used.
    AtRisk,
    /// A target passed.
    Breached,
}

/// Where a ticket stands against its service-level targets (see `GET /admin/sla`).
#[derive(Debug, Clone, Object)]
pub struct SlaView {
    /// The state found by the last SLA check (every `OSTS_SLA_INTERVAL_SECS`).
    pub state: SlaState,
    /// When the first staff response is due (`null` until the first check of a ticket raised
    /// before SLAs existed).
    pub first_response_due: Nullable<DateTime<Utc>>,
    /// When the resolution is due.
    pub resolution_due: Nullable<DateTime<Utc>>,
    /// When staff first replied in public.
    pub first_response_at: Nullable<DateTime<Utc>>,
}

impl From<domain::escalation::TicketSla> for SlaView {
    fn from(s: domain::escalation::TicketSla) -> Self {
        Self {
            state: s.state.into(),
            first_response_due: Nullable(s.due.map(|d| d.first_response)),
            resolution_due: Nullable(s.due.map(|d| d.resolution)),
            first_response_at: Nullable(s.first_response_at),
        }
    }
}

/// How a ticket was resolved.
#[derive(Debug, Clone, Object)]
pub struct ResolutionView {
    /// The answer (Markdown).
    pub answer: String,
    /// The answer rendered to sanitised HTML.
    pub answer_html: String,
    /// The staff member who resolved it.
    pub resolved_by: i64,
    /// When.
    pub resolved_at: DateTime<Utc>,
}

impl From<dt::Ticket> for Ticket {
    fn from(t: dt::Ticket) -> Self {
        dt::TicketView { ticket: t, voted: false, watching: false }.into()
    }
}

impl From<dt::TicketView> for Ticket {
    fn from(view: dt::TicketView) -> Self {
        let t = view.ticket;
        Self {
            number: t.id().get(),
            title: t.title().as_str().to_owned(),
            description_html: markup::markdown_to_html(t.description().as_str()),
            description: t.description().as_str().to_owned(),
            category_id: t.category_id().get(),
            tags: t.tags().to_strings(),
            priority: t.priority().into(),
            status: t.status().into(),
            creator: UserSummary { id: t.creator_id().get(), display_name: t.creator_name().to_owned() },
            assignee: Nullable(t.assignee().cloned().map(Into::into)),
            resolution: Nullable(t.resolution().map(|r| ResolutionView {
                answer_html: markup::markdown_to_html(r.answer.as_str()),
                answer: r.answer.as_str().to_owned(),
                resolved_by: r.resolved_by.get(),
                resolved_at: r.resolved_at,
            })),
            merged_into: Nullable(t.merged_into().map(TicketId::get)),
            follow_up_of: Nullable(t.follow_up_of().map(TicketId::get)),
            created_at: t.created_at(),
            updated_at: t.updated_at(),
            vote_count: t.vote_count(),
            voted: view.voted,
            watching: view.watching,
            thread: Nullable(t.thread().cloned().map(Into::into)),
            escalated: t.escalated_at().is_some(),
            escalated_at: Nullable(t.escalated_at()),
            sla: t.sla().into(),
        }
    }
}

/// One page of tickets.
#[derive(Debug, Clone, Object)]
pub struct TicketPage {
    /// The tickets, in the requested order.
    pub items: Vec<Ticket>,
    /// Pass as `cursor` (with the same filters and sort) to get the next page; `null` on the
    /// last page.
    pub next_cursor: Nullable<String>,
}

/// A ticket to raise. The creator is always the caller.
#[derive(Debug, Object)]
pub struct NewTicket {
    /// One-line summary: 5–150 characters after trimming.
    pub title: Text<text::Title>,
    /// Markdown body: at most 20,000 characters.
    pub description: Option<Text<text::Description>>,
    /// The category it belongs to.
    pub category_id: i64,
    /// Up to five tags of letters, digits and dashes (spaces become dashes, capitals small
    /// letters; duplicates collapse).
    pub tags: Option<text::Tags>,
    /// How urgent (default `medium`); students may ask for up to `high`.
    pub priority: Option<Priority>,
    /// The number of an earlier ticket this one follows up (e.g. after its reopen window
    /// passed).
    pub follow_up_of: Option<i64>,
}

/// The fields to change; absent fields stay as they are.
#[derive(Debug, Object)]
pub struct TicketPatch {
    /// New title (creator while open, or staff).
    pub title: Option<Text<text::Title>>,
    /// New description (creator while open, or staff).
    pub description: Option<Text<text::Description>>,
    /// New category (creator while open, or staff).
    pub category_id: Option<i64>,
    /// New tags, replacing the old ones (creator while open, or staff).
    pub tags: Option<text::Tags>,
    /// New priority (staff; the creator while open, up to `high`).
    pub priority: Option<Priority>,
    /// New status (staff): `open` ↔ `in_progress`, and `resolved` → `closed`. Resolving,
    /// reopening and merging have their own operations, as they carry an answer, a reason or
    /// a target: `resolved` and `merged` are not a status to edit to (422 `use_resolve`,
    /// `use_merge`), and a resolved ticket goes back to `open`, or a merged one anywhere,
    /// through its own operation (409 `use_reopen`, `use_unmerge`).
    pub status: Option<EditableStatus>,
}

/// One recorded change of a ticket, with its actor and time.
#[derive(Debug, Clone, Object)]
pub struct TicketEvent {
    /// Order of recording.
    pub id: i64,
    /// When.
    pub at: DateTime<Utc>,
    /// What kind of actor: a `user`, osts itself (`system`: closing automatically and other
    /// scheduled jobs), or an integration (`forum`, `chat`).
    pub actor_kind: ActorKind,
    /// The user who acted; `null` unless `actor_kind` is `user`, and, for a student, on other
    /// people's votes and watches (`vote_cast`, `vote_retracted`, `watched`, `unwatched`):
    /// who votes for or follows a ticket is for staff and the person themselves.
    pub actor: Nullable<UserSummary>,
    /// What changed.
    pub change: Change,
}

/// Who acted on a ticket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum ActorKind {
    /// A signed-in user.
    User,
    /// osts itself.
    System,
    /// The Discourse forum integration.
    Forum,
    /// The chat escalation integration.
    Chat,
}

impl From<domain::actor::Actor> for ActorKind {
    fn from(actor: domain::actor::Actor) -> Self {
        use domain::actor::{Actor, Integration};
        match actor {
            Actor::User(_) => ActorKind::User,
            Actor::System => ActorKind::System,
            Actor::Integration(Integration::Forum) => ActorKind::Forum,
            Actor::Integration(Integration::Chat) => ActorKind::Chat,
        }
    }
}

/// What changed; `kind` tells which.
#[derive(Debug, Clone, Union)]
#[oai(discriminator_name = "kind", one_of)]
pub enum Change {
    /// The ticket was raised.
    #[oai(mapping = "created")]
    Created(TicketCreated),
    /// The title changed.
    #[oai(mapping = "title_changed")]
    TitleChanged(TitleChanged),
    /// The description changed (the text is not repeated in the history).
    #[oai(mapping = "description_changed")]
    DescriptionChanged(DescriptionChanged),
    /// The category changed.
    #[oai(mapping = "category_changed")]
    CategoryChanged(CategoryChanged),
    /// The tags changed.
    #[oai(mapping = "tags_changed")]
    TagsChanged(TagsChanged),
    /// The priority changed.
    #[oai(mapping = "priority_changed")]
    PriorityChanged(PriorityChanged),
    /// The status changed.
    #[oai(mapping = "status_changed")]
    StatusChanged(StatusChanged),
    /// Someone voted.
    #[oai(mapping = "vote_cast")]
    VoteCast(VoteCast),
    /// Someone took their vote back.
    #[oai(mapping = "vote_retracted")]
    VoteRetracted(VoteRetracted),
    /// The assignee changed.
    #[oai(mapping = "assignee_changed")]
    AssigneeChanged(AssigneeChanged),
    /// Staff resolved the ticket.
    #[oai(mapping = "resolved")]
    Resolved(Resolved),
    /// The ticket was reopened.
    #[oai(mapping = "reopened")]
    Reopened(Reopened),
    /// osts closed the ticket after its reopen window.
    #[oai(mapping = "auto_closed")]
    AutoClosed(AutoClosed),
    /// A reply or internal note was added.
    #[oai(mapping = "reply_added")]
    ReplyAdded(ReplyAdded),
    /// This ticket was merged into another.
    #[oai(mapping = "merged_into")]
    MergedInto(MergedInto),
    /// Another ticket was merged into this one.
    #[oai(mapping = "merged_from")]
    MergedFrom(MergedFrom),
    /// A merge was undone.
    #[oai(mapping = "unmerged")]
    Unmerged(Unmerged),
    /// Someone started watching.
    #[oai(mapping = "watched")]
    Watched(Watched),
    /// Someone stopped watching.
    #[oai(mapping = "unwatched")]
    Unwatched(Unwatched),
    /// An FAQ entry made from this ticket was published.
    #[oai(mapping = "faq_published")]
    FaqPublished(FaqPublished),
    /// The ticket was escalated to chat (staff only).
    #[oai(mapping = "escalated")]
    Escalated(Escalated),
    /// A forum thread was asked for.
    #[oai(mapping = "thread_requested")]
    ThreadRequested(ThreadRequested),
    /// An existing forum topic became the ticket's thread.
    #[oai(mapping = "thread_linked")]
    ThreadLinked(ThreadLinked),
    /// The thread was made public or private.
    #[oai(mapping = "thread_visibility_changed")]
    ThreadVisibilityChanged(ThreadVisibilityChanged),
    /// The thread was closed.
    #[oai(mapping = "thread_closed")]
    ThreadClosed(ThreadOpenClosed),
    /// The thread was reopened.
    #[oai(mapping = "thread_reopened")]
    ThreadReopened(ThreadOpenClosed),
    /// Someone replied in the thread on the forum.
    #[oai(mapping = "thread_reply")]
    ThreadReply(ThreadPostBy),
    /// Someone liked a post of the thread on the forum.
    #[oai(mapping = "thread_liked")]
    ThreadLiked(ThreadPostBy),
    /// An admin deleted a post of the thread.
    #[oai(mapping = "thread_post_deleted")]
    ThreadPostDeleted(ThreadPost),
}

/// `kind: thread_requested`.
#[derive(Debug, Clone, Object)]
pub struct ThreadRequested {
    /// Private message or public topic.
    pub visibility: crate::forum::ThreadVisibility,
}

/// `kind: thread_linked`.
#[derive(Debug, Clone, Object)]
pub struct ThreadLinked {
    /// The forum topic.
    pub topic_id: i64,
}

/// `kind: thread_visibility_changed`.
#[derive(Debug, Clone, Object)]
pub struct ThreadVisibilityChanged {
    /// The new visibility.
    pub to: crate::forum::ThreadVisibility,
}

/// `kind: thread_closed` or `thread_reopened`.
#[derive(Debug, Clone, Object)]
pub struct ThreadOpenClosed {
    /// Whether it happened on the forum itself.
    pub on_forum: bool,
}

/// `kind: thread_reply` or `thread_liked`.
#[derive(Debug, Clone, Object)]
pub struct ThreadPostBy {
    /// The forum post.
    pub post_id: i64,
    /// Who wrote or liked it (forum username).
    pub username: String,
}

/// `kind: thread_post_deleted`.
#[derive(Debug, Clone, Object)]
pub struct ThreadPost {
    /// The forum post.
    pub post_id: i64,
}

/// Why a ticket was escalated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum EscalatedBy {
    /// It was raised as, or raised to, high or urgent priority.
    Priority,
    /// Its votes reached the threshold (`OSTS_ESCALATE_VOTES`).
    Votes,
    /// Its SLA is at risk or breached.
    Sla,
    /// A staff member escalated it with a note.
    Manual,
}

/// `kind: escalated`.
#[derive(Debug, Clone, Object)]
pub struct Escalated {
    /// What escalated it.
    pub by: EscalatedBy,
    /// Why, in words ("urgent priority", "25 votes", "SLA breached", or the staff member's
    /// note).
    pub reason: String,
    /// For `priority`: the priority.
    pub priority: Nullable<Priority>,
    /// For `votes`: the votes then.
    pub votes: Nullable<u32>,
    /// For `sla`: `at_risk` or `breached`.
    pub sla: Nullable<SlaState>,
}

impl From<domain::escalation::EscalationReason> for Escalated {
    fn from(reason: domain::escalation::EscalationReason) -> Self {
        use domain::escalation::EscalationReason as R;
        let mut view = Self {
            by: EscalatedBy::Manual,
            reason: reason.describe(),
            priority: Nullable(None),
            votes: Nullable(None),
            sla: Nullable(None),
        };
        match reason {
            R::Priority { priority } => {
                view.by = EscalatedBy::Priority;
                view.priority = Nullable(Some(priority.into()));
            }
            R::Votes { votes, .. } => {
                view.by = EscalatedBy::Votes;
                view.votes = Nullable(Some(votes));
            }
            R::Sla { state } => {
                view.by = EscalatedBy::Sla;
                view.sla = Nullable(Some(state.into()));
            }
            R::Manual { note } => view.reason = note,
        }
        view
    }
}

/// `kind: faq_published`.
#[derive(Debug, Clone, Object)]
pub struct FaqPublished {
    /// The FAQ entry.
    pub entry_id: i64,
}

/// `kind: assignee_changed` (`null` = unassigned).
#[derive(Debug, Clone, Object)]
pub struct AssigneeChanged {
    /// Account id before.
    pub from: Nullable<i64>,
    /// Account id after.
    pub to: Nullable<i64>,
}

/// `kind: resolved`.
#[derive(Debug, Clone, Object)]
pub struct Resolved {
    /// The answer (Markdown).
    pub answer: String,
}

/// `kind: reopened`.
#[derive(Debug, Clone, Object)]
pub struct Reopened {
    /// Why.
    pub reason: String,
}

/// `kind: auto_closed`.
#[derive(Debug, Clone, Object)]
pub struct AutoClosed {}

/// `kind: reply_added`.
#[derive(Debug, Clone, Object)]
pub struct ReplyAdded {
    /// The reply.
    pub reply_id: i64,
    /// Whether it is an internal note (only staff see these events).
    pub internal: bool,
}

/// `kind: merged_into`.
#[derive(Debug, Clone, Object)]
pub struct MergedInto {
    /// The target ticket's number.
    pub target: i64,
}

/// `kind: merged_from`.
#[derive(Debug, Clone, Object)]
pub struct MergedFrom {
    /// The merged ticket's number.
    pub source: i64,
    /// Votes this ticket gained.
    pub votes_added: u32,
}

/// `kind: unmerged`.
#[derive(Debug, Clone, Object)]
pub struct Unmerged {
    /// The restored duplicate's number.
    pub source: i64,
    /// The number of the ticket it had been merged into.
    pub target: i64,
}

/// `kind: watched`.
#[derive(Debug, Clone, Object)]
pub struct Watched {}

/// `kind: unwatched`.
#[derive(Debug, Clone, Object)]
pub struct Unwatched {}

/// `kind: created` — the ticket was raised.
#[derive(Debug, Clone, Object)]
pub struct TicketCreated {
    /// Its title then.
    pub title: String,
    /// Its priority then (a priority name).
    pub priority: String,
}

/// `kind: title_changed`.
#[derive(Debug, Clone, Object)]
pub struct TitleChanged {
    /// Before.
    pub from: String,
    /// After.
    pub to: String,
}

/// `kind: description_changed`.
#[derive(Debug, Clone, Object)]
pub struct DescriptionChanged {}

/// `kind: category_changed`.
#[derive(Debug, Clone, Object)]
pub struct CategoryChanged {
    /// Category id before.
    pub from: i64,
    /// Category id after.
    pub to: i64,
}

/// `kind: tags_changed`.
#[derive(Debug, Clone, Object)]
pub struct TagsChanged {
    /// Before.
    pub from: Vec<String>,
    /// After.
    pub to: Vec<String>,
}

/// `kind: priority_changed`.
#[derive(Debug, Clone, Object)]
pub struct PriorityChanged {
    /// Before (a priority name).
    pub from: String,
    /// After (a priority name).
    pub to: String,
}

/// `kind: status_changed`.
#[derive(Debug, Clone, Object)]
pub struct StatusChanged {
    /// Before (a status name).
    pub from: String,
    /// After (a status name).
    pub to: String,
}

/// `kind: vote_cast`.
#[derive(Debug, Clone, Object)]
pub struct VoteCast {}

/// `kind: vote_retracted`.
#[derive(Debug, Clone, Object)]
pub struct VoteRetracted {}

impl From<dt::Change> for Change {
    fn from(change: dt::Change) -> Self {
        use dt::Change as C;
        match change {
            C::Created { title, priority } => {
                Change::Created(TicketCreated { title, priority: priority.as_str().to_owned() })
            }
            C::TitleChanged { from, to } => Change::TitleChanged(TitleChanged { from, to }),
            C::DescriptionChanged => Change::DescriptionChanged(DescriptionChanged {}),
            C::CategoryChanged { from, to } => Change::CategoryChanged(CategoryChanged { from, to }),
            C::TagsChanged { from, to } => Change::TagsChanged(TagsChanged { from, to }),
            C::PriorityChanged { from, to } => {
                Change::PriorityChanged(PriorityChanged { from: from.as_str().to_owned(), to: to.as_str().to_owned() })
            }
            C::StatusChanged { from, to } => {
                Change::StatusChanged(StatusChanged { from: from.as_str().to_owned(), to: to.as_str().to_owned() })
            }
            C::VoteCast => Change::VoteCast(VoteCast {}),
            C::VoteRetracted => Change::VoteRetracted(VoteRetracted {}),
            C::AssigneeChanged { from, to } => {
                Change::AssigneeChanged(AssigneeChanged { from: Nullable(from), to: Nullable(to) })
            }
            C::Resolved { answer } => Change::Resolved(Resolved { answer }),
            C::Reopened { reason } => Change::Reopened(Reopened { reason }),
            C::AutoClosed => Change::AutoClosed(AutoClosed {}),
            C::ReplyAdded { reply_id, internal } => Change::ReplyAdded(ReplyAdded { reply_id, internal }),
            C::MergedInto { target } => Change::MergedInto(MergedInto { target }),
            C::MergedFrom { source, votes_added } => Change::MergedFrom(MergedFrom { source, votes_added }),
            C::Unmerged { source, target } => Change::Unmerged(Unmerged { source, target }),
            C::Watched => Change::Watched(Watched {}),
            C::Unwatched => Change::Unwatched(Unwatched {}),
            C::FaqPublished { entry_id } => Change::FaqPublished(FaqPublished { entry_id }),
            C::Escalated { reason } => Change::Escalated(reason.into()),
            C::ThreadRequested { visibility } => {
                Change::ThreadRequested(ThreadRequested { visibility: visibility.into() })
            }
            C::ThreadLinked { topic_id } => Change::ThreadLinked(ThreadLinked { topic_id }),
            C::ThreadVisibilityChanged { to } => {
                Change::ThreadVisibilityChanged(ThreadVisibilityChanged { to: to.into() })
            }
            C::ThreadClosed { on_forum } => Change::ThreadClosed(ThreadOpenClosed { on_forum }),
            C::ThreadReopened { on_forum } => Change::ThreadReopened(ThreadOpenClosed { on_forum }),
            C::ThreadReply { post_id, username } => Change::ThreadReply(ThreadPostBy { post_id, username }),
            C::ThreadLiked { post_id, username } => Change::ThreadLiked(ThreadPostBy { post_id, username }),
            C::ThreadPostDeleted { post_id } => Change::ThreadPostDeleted(ThreadPost { post_id }),
        }
    }
}

impl From<dt::TicketEvent> for TicketEvent {
    fn from(e: dt::TicketEvent) -> Self {
        Self {
            id: e.id,
            at: e.at,
            actor_kind: e.actor.actor().map_or(ActorKind::User, Into::into),
            actor: Nullable(e.actor.user().cloned().map(Into::into)),
            change: e.change.into(),
        }
    }
}

/// `POST /tickets` succeeded.
#[derive(ApiResponse)]
pub enum CreateTicketResponse {
    /// The ticket was raised.
    #[oai(status = 201)]
    Created(Json<Ticket>),
}

/// An operation that answers with one ticket.
#[derive(ApiResponse)]
pub enum TicketResponse {
    /// The ticket.
    #[oai(status = 200)]
    Ok(Json<Ticket>),
}

/// `GET /tickets` succeeded.
#[derive(ApiResponse)]
pub enum TicketPageResponse {
    /// A page of tickets.
    #[oai(status = 200)]
    Ok(Json<TicketPage>),
}

/// `GET /tickets/{id}/history` succeeded.
#[derive(ApiResponse)]
pub enum HistoryResponse {
    /// The ticket's changes, oldest first.
    #[oai(status = 200)]
    Ok(Json<Vec<TicketEvent>>),
}

error_set!(
    /// Errors of `POST /tickets`.
    CreateTicketErrors = [400, 401, 403, 404, 413, 415, 422, 500]
);
error_set!(
    /// Errors of `GET /tickets`.
    ListErrors = [400, 401, 403, 422, 500]
);
error_set!(
    /// Errors of reading one ticket or its history.
    ReadTicketErrors = [400, 401, 403, 404, 500]
);
error_set!(
    /// Errors of `PATCH /tickets/{id}`.
    EditTicketErrors = [400, 401, 403, 404, 409, 413, 415, 422, 500]
);

/// Tickets.
pub struct TicketApi;

#[OpenApi(prefix_path = "/api/v1", tag = "ApiTags::Tickets")]
impl TicketApi {
    /// Raise a ticket
    ///
    /// The caller becomes its creator, whatever the body says. A `category_id` or
    /// `follow_up_of` that names nothing the caller can see is 404 (`category_not_found`,
    /// `ticket_not_found`, with `field`).
    #[oai(path = "/tickets", method = "post", operation_id = "create_ticket")]
    async fn create(
        &self,
        auth: Session,
        app: Data<&Arc<App>>,
        body: Json<NewTicket>,
    ) -> Result<CreateTicketResponse, Failure<CreateTicketErrors>> {
        let NewTicket { title, description, category_id, tags, priority, follow_up_of } = body.0;
        let draft = TicketDraft {
            title: title.into_inner(),
            description: description.map(Text::into_inner).unwrap_or_default(),
            category_id,
            tags: tags.map(text::Items::into_strings).unwrap_or_default(),
            priority: priority.map(Into::into),
            follow_up_of,
        };
        let view = app.tickets.create(&auth.0.principal, draft).await?;
        Ok(CreateTicketResponse::Created(Json(view.into())))
    }

    /// List tickets
    ///
    /// Filters combine; `mine` and `voted` are relative to the caller.
    #[oai(path = "/tickets", method = "get", operation_id = "list_tickets")]
    #[allow(clippy::too_many_arguments)] // one argument per documented query parameter
    async fn list(
        &self,
        auth: Session,
        app: Data<&Arc<App>>,
        /// Only tickets in this status.
        status: Query<Option<TicketStatus>>,
        /// Only tickets with this priority.
        priority: Query<Option<Priority>>,
        /// Only tickets in this category.
        category_id: Query<Option<i64>>,
        /// Only tickets with this tag.
        tag: Query<Option<Text<text::Tag>>>,
        /// Only tickets the caller raised.
        mine: Query<Option<bool>>,
        /// Only tickets the caller voted on.
        voted: Query<Option<bool>>,
        /// Words that must appear in the title or description (at most 200 characters).
        q: Query<Option<Text<text::Search>>>,
        /// Order (default `newest`).
        sort: Query<Option<TicketSort>>,
        /// Page size, 1–100 (default 25).
        limit: Query<Option<PageSize>>,
        /// `next_cursor` of a previous page: the next page starts after its last ticket, in
        /// the order asked for.
        cursor: Query<Option<Text<text::TicketCursor>>>,
    ) -> Result<TicketPageResponse, Failure<ListErrors>> {
        let filter = TicketFilter {
            status: status.0.map(Into::into),
            priority: priority.0.map(Into::into),
            category_id: category_id.0,
            tag: tag.0.map(Text::into_inner),
            mine: mine.0.unwrap_or(false),
            voted_by_me: voted.0.unwrap_or(false),
            unresolved: false,
            q: q.0.map(Text::into_inner),
            sort: sort.0.map(Into::into).unwrap_or_default(),
            limit: limit.0.map(|l| l.0),
            cursor: cursor.0.map(Text::into_inner),
        };
        let page = app.tickets.list(&auth.0.principal, filter).await?;
        Ok(TicketPageResponse::Ok(Json(TicketPage {
            items: page.items.into_iter().map(Into::into).collect(),
            next_cursor: Nullable(page.next_cursor),
        })))
    }

    /// Get a ticket
    #[oai(path = "/tickets/:id", method = "get", operation_id = "get_ticket")]
    async fn get(
        &self,
        auth: Session,
        app: Data<&Arc<App>>,
        /// The ticket's number.
        id: Path<i64>,
    ) -> Result<TicketResponse, Failure<ReadTicketErrors>> {
        let view = app.tickets.get(&auth.0.principal, TicketId::new(id.0)).await?;
        Ok(TicketResponse::Ok(Json(view.into())))
    }

    /// Edit a ticket
    ///
    /// Changes only the fields present. Students may edit their own open ticket (priority up
    /// to `high`) and reopen it once resolved; staff may change anything, status through the
    /// status machine. Each changed field is recorded in the history.
    #[oai(path = "/tickets/:id", method = "patch", operation_id = "edit_ticket")]
    async fn edit(
        &self,
        auth: Session,
        app: Data<&Arc<App>>,
        /// The ticket's number.
        id: Path<i64>,
        body: Json<TicketPatch>,
    ) -> Result<TicketResponse, Failure<EditTicketErrors>> {
        let TicketPatch { title, description, category_id, tags, priority, status } = body.0;
        let patch = dt::TicketPatch {
            title: title.map(Text::into_inner),
            description: description.map(Text::into_inner),
            category_id,
            tags: tags.map(text::Items::into_strings),
            priority: priority.map(Into::into),
            status: status.map(|s| s.0.into()),
        };
        let view = app.tickets.edit(&auth.0.principal, TicketId::new(id.0), patch).await?;
        Ok(TicketResponse::Ok(Json(view.into())))
    }

    /// A ticket's history
    ///
    /// Every recorded change with its actor and time, oldest first.
    #[oai(path = "/tickets/:id/history", method = "get", operation_id = "ticket_history")]
    async fn history(
        &self,
        auth: Session,
        app: Data<&Arc<App>>,
        /// The ticket's number.
        id: Path<i64>,
    ) -> Result<HistoryResponse, Failure<ReadTicketErrors>> {
        let events = app.tickets.history(&auth.0.principal, TicketId::new(id.0)).await?;
        Ok(HistoryResponse::Ok(Json(events.into_iter().map(Into::into).collect())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use poem_openapi::types::ToJSON;

    #[test]
    fn enum_names_match_the_domain() {
        for p in dt::Priority::ALL {
            assert_eq!(Priority::from(p).to_json(), Some(p.as_str().into()));
        }
        for s in dt::Status::ALL {
            assert_eq!(TicketStatus::from(s).to_json(), Some(s.as_str().into()));
        }
        for s in dt::TicketSort::ALL {
            assert_eq!(TicketSort::from(s).to_json(), Some(s.as_str().into()));
        }
    }

    #[test]
    fn changes_serialise_like_the_domain_with_kind() {
        let changes = vec![
            dt::Change::Created { title: "Portal down".into(), priority: dt::Priority::High },
            dt::Change::TitleChanged { from: "a".into(), to: "b".into() },
            dt::Change::DescriptionChanged,
            dt::Change::CategoryChanged { from: 1, to: 2 },
            dt::Change::TagsChanged { from: vec!["x".into()], to: vec![] },
            dt::Change::PriorityChanged { from: dt::Priority::Low, to: dt::Priority::High },
            dt::Change::StatusChanged { from: dt::Status::Open, to: dt::Status::Resolved },
            dt::Change::VoteCast,
            dt::Change::VoteRetracted,
            dt::Change::FaqPublished { entry_id: 4 },
        ];
        for change in changes {
            // The domain's serde form uses the same `kind` tag: the API must agree with it.
            let expected = serde_json::to_value(&change).unwrap();
            assert_eq!(Change::from(change).to_json(), Some(expected));
        }
    }
}
