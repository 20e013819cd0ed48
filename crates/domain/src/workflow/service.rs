use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};

use super::assignment::{self, Reason};
use super::merge;
use super::ports::*;
use crate::accounts::{AccountRepository, AccountStatus, Principal, Role, UserId};
use crate::actor::Actor;
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
    /// Only tickets in this SLA state.
    pub sla: Option<crate::escalation::SlaState>,
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
    similar: Arc<dyn SimilarResolved>,
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
        similar: Arc<dyn SimilarResolved>,
        clock: Arc<dyn Clock>,
        settings: WorkflowSettings,
    ) -> Self {
        Self { tickets, accounts, workflow, similar, clock, settings }
    }

    /// The configured windows and switches.
    pub fn settings(&self) -> WorkflowSettings {
        self.settings
    }

    async fn load(&self, principal: &Principal, id: TicketId) -> Result<TicketView, Error> {
        principal.require_active()?;
        self.tickets.get(id, principal.id()).await?.ok_or(Error::NotFound(Resource::Ticket))
    }

    async fn store(&self, transition: Transition, actor: Actor) -> Result<Ticket, Error> {
        if transition.is_noop() {
            return Ok(transition.ticket);
        }
        self.tickets.update(transition, actor).await.map_err(update_error)
    }

    /// Unresolved tickets in queue order, for staff.
    pub async fn queue(&self, principal: &Principal, filter: QueueFilter) -> Result<Page<TicketView>, Error> {
        principal.require_staff()?;
        let assignee = match filter.assigned {
            QueueAssigned::Anyone => AssigneeFilter::Anyone,
            QueueAssigned::Me => AssigneeFilter::User(principal.id()),
            QueueAssigned::Unassigned => AssigneeFilter::Unassigned,
        };
        let query = TicketQuery {
            viewer: principal.id(),
            status: None,
            priority: filter.priority,
            category_id: filter.category_id.map(CategoryId::new),
            tag: None,
            mine: false,
            voted_by_me: false,
            unresolved: true,
            assignee,
            sla: filter.sla,
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
        Ok(self.workflow.activity(principal.id(), since).await?)
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
    /// A support member takes a ticket: it is assigned to them and, if open, moves to
    /// `in_progress`.
    pub async fn claim(&self, principal: &Principal, id: TicketId) -> Result<Ticket, Error> {
        principal.require_staff()?;
        let before = self.load(principal, id).await?.ticket;
        let transition = before.claim(principal.id(), self.clock.now())?;
        self.store(transition, principal.actor()).await
    }

    /// An admin assigns a ticket to a staff member, or unassigns it (`None`).
    pub async fn assign(&self, principal: &Principal, id: TicketId, assignee: Option<UserId>) -> Result<Ticket, Error> {
        principal.require_admin()?;
        let before = self.load(principal, id).await?.ticket;
        let transition = before.assign(assignee, self.clock.now())?;
        if let (Some(member), false) = (assignee, transition.is_noop()) {
            self.require_assignable(member).await?;
        }
        self.store(transition, principal.actor()).await
    }

    async fn require_assignable(&self, member: UserId) -> Result<(), Error> {
        match self.accounts.find(member).await? {
            Some(a) if a.status == AccountStatus::Active && a.role.is_staff() => Ok(()),
            Some(_) => Err(Error::Conflict(Conflict::NotAssignable("tickets can be assigned to active staff only"))),
            None => Err(Error::UnknownReference { resource: Resource::Account, field: "assignee_id" }),
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
        let similar = match self
            .similar
            .similar_resolved(ticket.title().as_str(), ticket.description().as_str(), SIMILAR_FOR_ASSIGNMENT)
            .await
        {
            Ok(ids) => ids.into_iter().filter(|t| *t != ticket.id()).collect(),
            Err(e) => {
                // Suggestions degrade to ownership and load; the ticket is not at stake.
                tracing::warn!(error = format!("{e:#}"), "similarity unavailable for assignment");
                vec![]
            }
        };
        let candidates = self.workflow.candidates(ticket.category_id(), similar).await?;
        Ok(assignment::choose(&candidates).map(|(member, reason)| Suggestion { member, reason }))
    }

    /// Assigns a new ticket to the suggested member when `OSTS_AUTO_ASSIGN=similar`.
    /// Returns the ticket as it is afterwards.
    pub async fn auto_assign(&self, ticket: Ticket) -> Result<Ticket, Error> {
        if self.settings.auto_assign == AutoAssign::Off || ticket.assignee().is_some() {
            return Ok(ticket);
        }
        let Some(suggestion) = self.suggestion_for(&ticket).await? else { return Ok(ticket) };
        let transition = ticket.assign(Some(suggestion.member), self.clock.now())?;
        // Recorded as the creator's action: it happened because they raised the ticket.
        self.store(transition, Actor::User(ticket.creator_id())).await
    }

    /// Staff resolve a ticket with an answer.
    pub async fn resolve(&self, principal: &Principal, id: TicketId, answer: &str) -> Result<Ticket, Error> {
        principal.require_staff()?;
        let answer = Answer::parse(answer, "answer")?;
        let before = self.load(principal, id).await?.ticket;
        let transition = before.resolve(principal.id(), answer, self.clock.now())?;
        let resolved = self.store(transition, principal.actor()).await?;
        metrics::counter!(crate::telemetry::RESOLUTIONS).increment(1);
        Ok(resolved)
    }

    /// Reopens a resolved ticket with a reason: its creator within the reopen window, staff
    /// at any time. After the window the creator raises a follow-up ticket instead.
    pub async fn reopen(&self, principal: &Principal, id: TicketId, reason: &str) -> Result<Ticket, Error> {
        principal.require_active()?;
        let reason = crate::accounts::parse_reason(reason)?;
        let before = self.load(principal, id).await?.ticket;
        let now = self.clock.now();
        match principal.role() {
            Role::Support | Role::Admin => {}
            Role::Student if before.creator_id() != principal.id() => {
                return Err(Error::Forbidden(Forbidden::NotOwner));
            }
            Role::Student => {
                if let (Status::Resolved, Some(resolution)) = (before.status(), before.resolution()) {
                    if !within_reopen_window(resolution.resolved_at, now, self.settings.reopen_days) {
                        return Err(Error::Conflict(Conflict::ReopenWindowPassed { days: self.settings.reopen_days }));
                    }
                }
            }
        }
        let transition = before.reopen(reason, now)?;
        self.store(transition, principal.actor()).await
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
        let s = self.load(principal, source).await?.ticket;
        if source == target {
            return Err(Error::Conflict(Conflict::SameTicket));
        }
        let t = self.load(principal, target).await.map_err(|e| match e {
            Error::NotFound(resource) => Error::UnknownReference { resource, field: "target" },
            other => other,
        })?;
        s.merge_into(&t.ticket)?;
        self.workflow.merge(source, target, principal.actor(), self.clock.now()).await.map_err(|e| match e {
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
        self.workflow.unmerge(&record, principal.actor(), now).await.map_err(|e| match e {
            MergeError::Changed => Error::Conflict(Conflict::NotMerged),
            MergeError::Unknown(e) => Error::Unknown(e),
        })
    }
}

#[cfg(test)]
mod tests;
