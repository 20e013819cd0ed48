use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};

use super::assignment::{self, Reason};
use super::merge;
use super::ports::*;
use crate::accounts::{AccountRepository, AccountStatus, Principal, Role, UserId};
use crate::categories::CategoryId;
use crate::clock::Clock;
use crate::error::{Conflict, Error, Forbidden, Resource};
use crate::page::{Page, PageLimit};
use crate::tickets::*;

/// Whether new tickets are assigned automatically.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AutoAssign {
    /// Suggest only.
    #[default]
    Off,
    /// Assign to the suggested member when a ticket is created.
    Similar,
}

/// The workflow's time windows and switches.
#[derive(Debug, Clone, Copy)]
pub struct WorkflowSettings {
    /// Days after resolution in which the creator may reopen (`OSTS_REOPEN_DAYS`).
    pub reopen_days: u32,
    /// Days after resolution after which a ticket closes by itself (`OSTS_AUTO_CLOSE_DAYS`).
    pub auto_close_days: u32,
    /// `OSTS_AUTO_ASSIGN`.
    pub auto_assign: AutoAssign,
}

impl Default for WorkflowSettings {
    fn default() -> Self {
        Self { reopen_days: 14, auto_close_days: 7, auto_assign: AutoAssign::Off }
    }
}

/// Which tickets the queue shows.
#[derive(Debug, Clone, Default)]
pub struct QueueFilter {
    /// Only this category.
    pub category_id: Option<i64>,
    /// Only this priority.
    pub priority: Option<Priority>,
    /// Assigned to the caller, to nobody, or anyone.
    pub assigned: QueueAssigned,
    /// Page size.
    pub limit: Option<u32>,
    /// Continuation.
    pub cursor: Option<String>,
}

/// The queue's assignee filter, relative to the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum QueueAssigned {
    /// Any ticket.
    #[default]
    Anyone,
    /// Tickets assigned to the caller.
    Me,
    /// Tickets nobody has.
    Unassigned,
}

/// A suggested assignee.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Suggestion {
    /// The member.
    pub member: UserId,
    /// Why.
    pub reason: Reason,
}

/// The support workflow: queue, assignment, resolution, reopening, closing, merging.
#[derive(Clone)]
pub struct WorkflowService {
    tickets: Arc<dyn TicketRepository>,
    accounts: Arc<dyn AccountRepository>,
    workflow: Arc<dyn WorkflowRepository>,
    similar: Option<Arc<dyn SimilarResolved>>,
    clock: Arc<dyn Clock>,
    settings: WorkflowSettings,
}

/// How many similar resolved tickets to weigh when suggesting an assignee.
const SIMILAR_FOR_ASSIGNMENT: usize = 10;

impl WorkflowService {
    /// Wires the service to its ports.
    pub fn new(
        tickets: Arc<dyn TicketRepository>,
        accounts: Arc<dyn AccountRepository>,
        workflow: Arc<dyn WorkflowRepository>,
        clock: Arc<dyn Clock>,
        settings: WorkflowSettings,
    ) -> Self {
        Self { tickets, accounts, workflow, similar: None, clock, settings }
    }

    /// Uses a similarity index to suggest "the same staff for similar requests".
    pub fn with_similarity(mut self, similar: Arc<dyn SimilarResolved>) -> Self {
        self.similar = Some(similar);
        self
    }

    /// The configured windows and switches.
    pub fn settings(&self) -> WorkflowSettings {
        self.settings
    }

    async fn load(&self, principal: &Principal, id: TicketId) -> Result<TicketView, Error> {
        principal.require_active()?;
        self.tickets.get(id, principal.id).await?.ok_or(Error::NotFound(Resource::Ticket))
    }

    async fn store(&self, after: Ticket, changes: Vec<Change>, actor: UserId) -> Result<Ticket, Error> {
        self.tickets.update(after, changes, actor).await.map_err(|e| match e {
            UpdateTicketError::Stale => Error::Conflict(Conflict::StaleUpdate),
            UpdateTicketError::NotFound => Error::NotFound(Resource::Ticket),
            UpdateTicketError::Unknown(e) => Error::Unknown(e),
        })
    }

    /// Unresolved tickets in queue order, for staff.
    pub async fn queue(&self, principal: &Principal, filter: QueueFilter) -> Result<Page<TicketView>, Error> {
        principal.require_staff()?;
        let assignee = match filter.assigned {
            QueueAssigned::Anyone => AssigneeFilter::Anyone,
            QueueAssigned::Me => AssigneeFilter::User(principal.id),
            QueueAssigned::Unassigned => AssigneeFilter::Unassigned,
        };
        let query = TicketQuery {
            viewer: principal.id,
            status: None,
            priority: filter.priority,
            category_id: filter.category_id.map(CategoryId::new),
            tag: None,
            mine: false,
            voted_by_me: false,
            unresolved: true,
            assignee,
            text: None,
            sort: TicketSort::Queue,
            limit: PageLimit::new(filter.limit)?,
            cursor: filter.cursor,
        };
        Ok(self.tickets.list(query).await?)
    }

    /// Tickets per status, for staff.
    pub async fn counts(&self, principal: &Principal, category_id: Option<i64>) -> Result<StatusCounts, Error> {
        principal.require_staff()?;
        Ok(self.workflow.status_counts(category_id.map(CategoryId::new)).await?)
    }

    /// The caller's own activity over the last `days` days (staff).
    pub async fn activity(&self, principal: &Principal, days: u32) -> Result<Activity, Error> {
        principal.require_staff()?;
        let since = self.since(days)?;
        Ok(self.workflow.activity(principal.id, since).await?)
    }

    /// Every staff member's load and activity over the last `days` days (admins).
    pub async fn staff_load(&self, principal: &Principal, days: u32) -> Result<Vec<StaffLoad>, Error> {
        principal.require_admin()?;
        let since = self.since(days)?;
        Ok(self.workflow.staff_load(since).await?)
    }

    fn since(&self, days: u32) -> Result<DateTime<Utc>, Error> {
        if !(1..=366).contains(&days) {
            return Err(Error::invalid("days", "out_of_range", "days must be between 1 and 366"));
        }
        Ok(self.clock.now() - Duration::days(i64::from(days)))
    }

    /// A support member takes a ticket: it is assigned to them and, if open, moves to
    /// `in_progress`.
    pub async fn claim(&self, principal: &Principal, id: TicketId) -> Result<Ticket, Error> {
        principal.require_staff()?;
        let before = self.load(principal, id).await?.ticket;
        require_unresolved(&before)?;
        match &before.assignee {
            Some(a) if a.id == principal.id => return Ok(before),
            Some(_) => return Err(Error::Conflict(Conflict::AlreadyAssigned)),
            None => {}
        }
        let mut after = before.clone();
        let mut changes = vec![Change::AssigneeChanged { from: None, to: Some(principal.id.get()) }];
        after.assignee = Some(UserRef { id: principal.id, display_name: String::new() });
        if before.status == Status::Open {
            after.status = before.status.transition(Status::InProgress)?;
            changes.push(Change::StatusChanged { from: "open".into(), to: "in_progress".into() });
        }
        after.updated_at = self.clock.now();
        self.store(after, changes, principal.id).await
    }

    /// An admin assigns a ticket to a staff member, or unassigns it (`None`).
    pub async fn assign(&self, principal: &Principal, id: TicketId, assignee: Option<UserId>) -> Result<Ticket, Error> {
        principal.require_admin()?;
        let before = self.load(principal, id).await?.ticket;
        require_unresolved(&before)?;
        if let Some(member) = assignee {
            self.require_assignable(member).await?;
        }
        if before.assignee.as_ref().map(|a| a.id) == assignee {
            return Ok(before);
        }
        let mut after = before.clone();
        after.assignee = assignee.map(|id| UserRef { id, display_name: String::new() });
        after.updated_at = self.clock.now();
        let change = Change::AssigneeChanged {
            from: before.assignee.as_ref().map(|a| a.id.get()),
            to: assignee.map(UserId::get),
        };
        self.store(after, vec![change], principal.id).await
    }

    async fn require_assignable(&self, member: UserId) -> Result<(), Error> {
        let account = self.accounts.find(member).await?;
        match account {
            Some(a) if a.status == AccountStatus::Active && a.role.is_staff() => Ok(()),
            _ => Err(Error::invalid("assignee_id", "not_assignable", "tickets can be assigned to active staff only")),
        }
    }

    /// Whom to give the ticket: the support member who resolved the most similar recent
    /// tickets, else the category's owner, else the least-loaded member (staff).
    pub async fn suggest(&self, principal: &Principal, id: TicketId) -> Result<Option<Suggestion>, Error> {
        principal.require_staff()?;
        let ticket = self.load(principal, id).await?.ticket;
        self.suggestion_for(&ticket).await
    }

    async fn suggestion_for(&self, ticket: &Ticket) -> Result<Option<Suggestion>, Error> {
        let similar = match &self.similar {
            Some(index) => {
                match index
                    .similar_resolved(ticket.title.as_str(), ticket.description.as_str(), SIMILAR_FOR_ASSIGNMENT)
                    .await
                {
                    Ok(ids) => ids.into_iter().filter(|t| *t != ticket.id).collect(),
                    Err(e) => {
                        // Suggestions degrade to ownership and load; the ticket is not at stake.
                        tracing::warn!(error = format!("{e:#}"), "similarity unavailable for assignment");
                        vec![]
                    }
                }
            }
            None => vec![],
        };
        let candidates = self.workflow.candidates(ticket.category_id, similar).await?;
        Ok(assignment::choose(&candidates).map(|(member, reason)| Suggestion { member, reason }))
    }

    /// Assigns a new ticket to the suggested member when `OSTS_AUTO_ASSIGN=similar`.
    /// Returns the ticket as it is afterwards.
    pub async fn auto_assign(&self, ticket: Ticket) -> Result<Ticket, Error> {
        if self.settings.auto_assign == AutoAssign::Off || ticket.assignee.is_some() {
            return Ok(ticket);
        }
        let Some(suggestion) = self.suggestion_for(&ticket).await? else { return Ok(ticket) };
        let mut after = ticket.clone();
        after.assignee = Some(UserRef { id: suggestion.member, display_name: String::new() });
        after.updated_at = self.clock.now();
        let change = Change::AssigneeChanged { from: None, to: Some(suggestion.member.get()) };
        // Recorded as the creator's action: it happened because they raised the ticket.
        self.store(after, vec![change], ticket.creator_id).await
    }

    /// Staff resolve a ticket with an answer.
    pub async fn resolve(&self, principal: &Principal, id: TicketId, answer: &str) -> Result<Ticket, Error> {
        principal.require_staff()?;
        let answer = Answer::parse(answer, "answer")?;
        let before = self.load(principal, id).await?.ticket;
        let mut after = before.clone();
        after.status = before.status.transition(Status::Resolved)?;
        let now = self.clock.now();
        let mut changes = Vec::new();
        if before.assignee.is_none() {
            after.assignee = Some(UserRef { id: principal.id, display_name: String::new() });
            changes.push(Change::AssigneeChanged { from: None, to: Some(principal.id.get()) });
        }
        changes.push(Change::Resolved { answer: answer.as_str().to_owned() });
        after.resolution = Some(Resolution { answer, resolved_by: principal.id, resolved_at: now });
        after.updated_at = now;
        self.store(after, changes, principal.id).await
    }

    /// Reopens a resolved ticket with a reason: its creator within the reopen window, staff
    /// at any time. After the window the creator raises a follow-up ticket instead.
    pub async fn reopen(&self, principal: &Principal, id: TicketId, reason: &str) -> Result<Ticket, Error> {
        principal.require_active()?;
        let reason = crate::accounts::parse_reason(reason)?;
        let before = self.load(principal, id).await?.ticket;
        let now = self.clock.now();
        match principal.role {
            Role::Support | Role::Admin => {}
            Role::Student if before.creator_id != principal.id => return Err(Error::Forbidden(Forbidden::NotOwner)),
            Role::Student => {
                if let (Status::Resolved, Some(resolution)) = (before.status, &before.resolution) {
                    if !within_reopen_window(resolution.resolved_at, now, self.settings.reopen_days) {
                        return Err(Error::Conflict(Conflict::ReopenWindowPassed { days: self.settings.reopen_days }));
                    }
                }
            }
        }
        let mut after = before.clone();
        after.status = match before.status {
            Status::Resolved => before.status.transition(Status::Open)?,
            other => {
                return Err(Error::Conflict(Conflict::IllegalTransition { from: other.as_str(), to: "open" }));
            }
        };
        after.resolution = None;
        after.updated_at = now;
        self.store(after, vec![Change::Reopened { reason }], principal.id).await
    }

    /// Closes tickets resolved more than `OSTS_AUTO_CLOSE_DAYS` ago. Safe to run on several
    /// servers at once: the store closes each ticket exactly once.
    pub async fn auto_close(&self) -> Result<Vec<TicketId>, Error> {
        let now = self.clock.now();
        let cutoff = now - Duration::days(i64::from(self.settings.auto_close_days));
        Ok(self.workflow.close_resolved_before(cutoff, now).await?)
    }

    /// Staff merge the duplicate `source` into `target`.
    pub async fn merge(&self, principal: &Principal, source: TicketId, target: TicketId) -> Result<MergeReport, Error> {
        principal.require_staff()?;
        if source == target {
            return Err(Error::invalid("target", "same_ticket", "a ticket cannot be merged into itself"));
        }
        let s = self.load(principal, source).await?.ticket;
        let t = self.load(principal, target).await.map_err(|e| match e {
            Error::NotFound(_) => Error::invalid("target", "unknown_ticket", "there is no such target ticket"),
            other => other,
        })?;
        s.status.transition(Status::Merged)?;
        if !matches!(t.ticket.status, Status::Open | Status::InProgress | Status::Resolved) {
            return Err(Error::Conflict(Conflict::IllegalTransition { from: t.ticket.status.as_str(), to: "merged" }));
        }
        self.workflow.merge(source, target, principal.id, self.clock.now()).await.map_err(|e| match e {
            MergeError::Changed => Error::Conflict(Conflict::StaleUpdate),
            MergeError::Unknown(e) => Error::Unknown(e),
        })
    }

    /// Staff undo a merge within [`merge::UNMERGE_WINDOW_DAYS`] days.
    pub async fn unmerge(&self, principal: &Principal, source: TicketId) -> Result<Ticket, Error> {
        principal.require_staff()?;
        self.load(principal, source).await?;
        let record = self.workflow.active_merge(source).await?.ok_or(Error::Conflict(Conflict::NotMerged))?;
        let now = self.clock.now();
        if !merge::may_unmerge(record.merged_at, now) {
            return Err(Error::Conflict(Conflict::UnmergeWindowPassed));
        }
        self.workflow.unmerge(&record, principal.id, now).await.map_err(|e| match e {
            MergeError::Changed => Error::Conflict(Conflict::NotMerged),
            MergeError::Unknown(e) => Error::Unknown(e),
        })
    }
}

fn require_unresolved(ticket: &Ticket) -> Result<(), Error> {
    if ticket.status.is_unresolved() {
        Ok(())
    } else {
        Err(Error::Conflict(Conflict::IllegalTransition { from: ticket.status.as_str(), to: "in_progress" }))
    }
}

/// Whether a ticket resolved at `resolved_at` may still be reopened by its creator at `now`.
pub fn within_reopen_window(resolved_at: DateTime<Utc>, now: DateTime<Utc>, days: u32) -> bool {
    now - resolved_at <= Duration::days(i64::from(days))
}

#[cfg(test)]
mod tests;
