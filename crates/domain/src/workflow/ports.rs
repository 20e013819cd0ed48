use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::assignment::Candidate;
use crate::accounts::{Role, UserId};
use crate::actor::Actor;
use crate::categories::CategoryId;
use crate::tickets::{Ticket, TicketId, UserRef};

/// Tickets per status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StatusCounts {
    /// Waiting for support.
    pub open: u32,
    /// Being worked on.
    pub in_progress: u32,
    /// Answered.
    pub resolved: u32,
    /// Done.
    pub closed: u32,
    /// Folded into others.
    pub merged: u32,
}

/// What one staff member did over a period.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Activity {
    /// Tickets they resolved in the period.
    pub resolved: u32,
    /// Tickets assigned to them in the period (claimed or assigned by an admin).
    pub assigned: u32,
    /// Unresolved tickets assigned to them now.
    pub open_assigned: u32,
}

/// One staff member's load, for admins.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaffLoad {
    /// Who.
    pub member: UserRef,
    /// Support or admin.
    pub role: Role,
    /// Unresolved tickets assigned to them now.
    pub open_assigned: u32,
    /// What they did over the period.
    pub activity: Activity,
}

/// A merge that has not been undone.
#[derive(Debug, Clone, PartialEq)]
pub struct MergeRecord {
    /// The merge's identifier.
    pub id: i64,
    /// The duplicate.
    pub source: TicketId,
    /// Where it was merged.
    pub target: TicketId,
    /// When.
    pub merged_at: DateTime<Utc>,
}

/// What a merge did.
#[derive(Debug, Clone, PartialEq)]
pub struct MergeReport {
    /// The target after the merge.
    pub target: Ticket,
    /// Votes the target gained.
    pub votes_added: u32,
    /// Watchers the target gained.
    pub watchers_added: u32,
}

/// Why a merge or unmerge could not be stored.
#[derive(Debug, thiserror::Error)]
pub enum MergeError {
    /// One of the tickets changed status meanwhile (merged, closed) or the merge was undone.
    #[error("the tickets changed meanwhile")]
    Changed,
    /// Anything else.
    #[error(transparent)]
    Unknown(#[from] anyhow::Error),
}

/// Storage for the support workflow's set-based operations and reports.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait WorkflowRepository: Send + Sync {
    /// Every active support member with their unresolved load, whether they own `category`,
    /// and how many of the `similar` tickets they resolved.
    async fn candidates(&self, category: CategoryId, similar: Vec<TicketId>) -> anyhow::Result<Vec<Candidate>>;

    /// Merges `source` into `target` in one transaction, following the rules of
    /// [`crate::workflow::merge`]: source becomes `merged`, votes and watchers are carried
    /// without double counting, the target's count and queue key are recomputed, both
    /// histories record it. MUST return `Changed` (changing nothing) if either ticket is no
    /// longer open, in progress or resolved.
    async fn merge(
        &self,
        source: TicketId,
        target: TicketId,
        actor: Actor,
        at: DateTime<Utc>,
    ) -> Result<MergeReport, MergeError>;

    /// The merge of `source` that has not been undone, if any.
    async fn active_merge(&self, source: TicketId) -> anyhow::Result<Option<MergeRecord>>;

    /// Undoes a merge in one transaction (see [`crate::workflow::merge`]): restores the
    /// source's status and removes carried votes and watches of people who have not acted on
    /// the target since. MUST return `Changed` if the merge was already undone.
    async fn unmerge(&self, merge: &MergeRecord, actor: Actor, at: DateTime<Utc>) -> Result<Ticket, MergeError>;

    /// Closes every ticket resolved before `cutoff`, recording `AutoClosed` with
    /// [`Actor::System`] as the actor; each ticket is
    /// closed exactly once even when several workers run this at the same time. Returns the
    /// tickets this call closed.
    async fn close_resolved_before(&self, cutoff: DateTime<Utc>, at: DateTime<Utc>) -> anyhow::Result<Vec<TicketId>>;

    /// Tickets per status, optionally in one category.
    async fn status_counts(&self, category: Option<CategoryId>) -> anyhow::Result<StatusCounts>;

    /// What `member` did since `since`.
    async fn activity(&self, member: UserId, since: DateTime<Utc>) -> anyhow::Result<Activity>;

    /// Every active staff member's load and activity since `since`.
    async fn staff_load(&self, since: DateTime<Utc>) -> anyhow::Result<Vec<StaffLoad>>;
}

/// Finds recently resolved tickets similar to a draft (implemented by the similarity
/// feature when it is present).
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait SimilarResolved: Send + Sync {
    /// Up to `limit` resolved or closed tickets most similar to the text, best first.
    async fn similar_resolved(&self, title: &str, description: &str, limit: usize) -> anyhow::Result<Vec<TicketId>>;
}
