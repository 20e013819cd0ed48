use std::sync::Arc;

use super::model::*;
use super::ports::*;
use super::status::{Priority, Status};
use crate::accounts::{Principal, Role};
use crate::categories::{CategoryId, CategoryRepository};
use crate::clock::Clock;
use crate::error::{Conflict, Error, Forbidden, Resource};
use crate::page::{Page, PageLimit};
use crate::similarity::EmbeddingQueue;

/// A ticket as a client drafted it.
#[derive(Debug, Clone, Default)]
pub struct TicketDraft {
    /// Title.
    pub title: String,
    /// Markdown description.
    pub description: String,
    /// Category.
    pub category_id: i64,
    /// Tags.
    pub tags: Vec<String>,
    /// Requested priority (`medium` when absent).
    pub priority: Option<Priority>,
    /// The earlier ticket this one follows up.
    pub follow_up_of: Option<i64>,
}

/// The fields a client wants to change; absent fields stay as they are.
#[derive(Debug, Clone, Default)]
pub struct TicketPatch {
    /// New title.
    pub title: Option<String>,
    /// New description.
    pub description: Option<String>,
    /// New category.
    pub category_id: Option<i64>,
    /// New tags (replacing the old ones).
    pub tags: Option<Vec<String>>,
    /// New priority.
    pub priority: Option<Priority>,
    /// New status (through the status machine).
    pub status: Option<Status>,
}

/// A listing request as the client sent it.
#[derive(Debug, Clone, Default)]
pub struct TicketFilter {
    /// Only this status.
    pub status: Option<Status>,
    /// Only this priority.
    pub priority: Option<Priority>,
    /// Only this category.
    pub category_id: Option<i64>,
    /// Only this tag.
    pub tag: Option<String>,
    /// Only mine.
    pub mine: bool,
    /// Only those I voted on.
    pub voted_by_me: bool,
    /// Only unresolved tickets (`open`, `in_progress`).
    pub unresolved: bool,
    /// Text search.
    pub q: Option<String>,
    /// Order.
    pub sort: TicketSort,
    /// Page size.
    pub limit: Option<u32>,
    /// Continuation.
    pub cursor: Option<String>,
}

/// Who may do what to a ticket: pure rules, table-tested below.
pub mod policy {
    use super::*;

    /// Whether `principal` may change title, description, category or tags.
    pub fn may_edit_content(principal: &Principal, ticket: &Ticket) -> Result<(), Forbidden> {
        match principal.role() {
            Role::Support | Role::Admin => Ok(()),
            Role::Student if ticket.creator_id() != principal.id() => Err(Forbidden::NotOwner),
            Role::Student if ticket.status() == Status::Open => Ok(()),
            Role::Student => Err(Forbidden::TicketLocked),
        }
    }

    /// Whether `principal` may set `priority` on a ticket (new when `ticket` is `None`).
    pub fn may_set_priority(
        principal: &Principal,
        ticket: Option<&Ticket>,
        priority: Priority,
    ) -> Result<(), Forbidden> {
        match principal.role() {
            Role::Support | Role::Admin => Ok(()),
            Role::Student => {
                if let Some(t) = ticket {
                    may_edit_content(principal, t)?;
                }
                if priority.student_may_request() {
                    Ok(())
                } else {
                    Err(Forbidden::PriorityNotAllowed)
                }
            }
        }
    }

    /// Whether `principal` may move a ticket from its status to `to` (the status machine
    /// decides separately whether the move itself is legal). Students may only reopen their
    /// own resolved ticket.
    pub fn may_change_status(principal: &Principal, ticket: &Ticket, to: Status) -> Result<(), Forbidden> {
        match principal.role() {
            Role::Support | Role::Admin => Ok(()),
            Role::Student if ticket.creator_id() != principal.id() => Err(Forbidden::NotOwner),
            Role::Student if ticket.status() == Status::Resolved && to == Status::Open => Ok(()),
            Role::Student => Err(Forbidden::RoleNotAllowed),
        }
    }

    /// Whether `principal` may vote on (or retract a vote from) `ticket`.
    pub fn may_vote(principal: &Principal, ticket: &Ticket) -> Result<(), Error> {
        match principal.role() {
            Role::Support | Role::Admin => return Err(Error::Forbidden(Forbidden::RoleNotAllowed)),
            Role::Student => {}
        }
        if ticket.creator_id() == principal.id() {
            return Err(Error::Forbidden(Forbidden::OwnTicket));
        }
        match ticket.status() {
            Status::Open | Status::InProgress | Status::Resolved => Ok(()),
            Status::Closed | Status::Merged => Err(Error::Conflict(Conflict::TicketClosed)),
        }
    }
}

/// How many merge hops to follow at most (merges are normally one hop; this bounds a chain).
const MAX_MERGE_HOPS: usize = 8;

/// Follows merges from a ticket to the one that carries the concern now.
pub async fn follow_merges(
    tickets: &dyn TicketRepository,
    mut view: TicketView,
    viewer: crate::accounts::UserId,
) -> Result<TicketView, Error> {
    for _ in 0..MAX_MERGE_HOPS {
        match (view.ticket.status(), view.ticket.merged_into()) {
            (Status::Merged, Some(target)) => {
                view = tickets.get(target, viewer).await?.ok_or(Error::NotFound(Resource::Ticket))?;
            }
            _ => break,
        }
    }
    Ok(view)
}

/// Raising, reading, editing and listing tickets.
#[derive(Clone)]
pub struct TicketService {
    tickets: Arc<dyn TicketRepository>,
    categories: Arc<dyn CategoryRepository>,
    clock: Arc<dyn Clock>,
    workflow: crate::workflow::WorkflowService,
    embedding_queue: Arc<dyn EmbeddingQueue>,
    sla: crate::escalation::SlaBook,
}

impl TicketService {
    /// Wires the service to its ports; `embedding_queue` is signalled after a ticket is
    /// raised or its title or description is edited, so that its embedding for
    /// similar-ticket suggestions (and the in-memory lexical index) catch up soon.
    pub fn new(
        tickets: Arc<dyn TicketRepository>,
        categories: Arc<dyn CategoryRepository>,
        clock: Arc<dyn Clock>,
        embedding_queue: Arc<dyn EmbeddingQueue>,
        workflow: crate::workflow::WorkflowService,
    ) -> Self {
        Self { tickets, categories, clock, workflow, embedding_queue, sla: crate::escalation::SlaBook::default() }
    }

    /// With the SLA settings in effect (shared with the escalation service, which keeps them
    /// fresh); without, the default targets set due times.
    pub fn with_sla(self, sla: crate::escalation::SlaBook) -> Self {
        Self { sla, ..self }
    }

    fn content_changed(&self, id: TicketId) {
        self.embedding_queue.content_changed(id);
    }

    async fn category(&self, id: i64) -> Result<CategoryId, Error> {
        let id = CategoryId::new(id);
        match self.categories.find(id).await? {
            Some(c) => Ok(c.id),
            None => Err(Error::UnknownReference { resource: Resource::Category, field: "category_id" }),
        }
    }

    /// Raises a ticket for the principal.
    pub async fn create(&self, principal: &Principal, draft: TicketDraft) -> Result<TicketView, Error> {
        principal.require_active()?;
        let title = Title::parse(&draft.title)?;
        let description = Description::parse(&draft.description)?;
        let tags = Tags::parse(&draft.tags)?;
        let priority = draft.priority.unwrap_or(Priority::Medium);
        policy::may_set_priority(principal, None, priority).map_err(Error::Forbidden)?;
        let category_id = self.category(draft.category_id).await?;
        let follow_up_of = match draft.follow_up_of {
            None => None,
            Some(raw) => match self.tickets.get(TicketId::new(raw), principal.id()).await? {
                Some(earlier) => Some(earlier.ticket.id()),
                None => return Err(Error::UnknownReference { resource: Resource::Ticket, field: "follow_up_of" }),
            },
        };
        let created_at = self.clock.now();
        let ticket = self
            .tickets
            .create(NewTicket {
                title,
                description,
                category_id,
                tags,
                priority,
                creator_id: principal.id(),
                created_at,
                follow_up_of,
                sla_due: Some(self.sla.get().due(priority, created_at)),
                escalation: crate::escalation::escalates_on_priority(None, priority)
                    .then_some(crate::escalation::EscalationReason::Priority { priority }),
            })
            .await?;
        // The ticket exists whatever happens to the assignment (made when the workflow is set
        // to): a failure there is logged, not reported as a failure to raise the ticket.
        let ticket = match self.workflow.auto_assign(ticket.clone()).await {
            Ok(assigned) => assigned,
            Err(e) => {
                tracing::warn!(error = %e, ticket = ticket.id().get(), "automatic assignment failed");
                ticket
            }
        };
        self.content_changed(ticket.id());
        metrics::counter!(crate::telemetry::TICKETS_CREATED).increment(1);
        Ok(TicketView { ticket, voted: false, watching: true })
    }

    /// One ticket as the principal sees it.
    pub async fn get(&self, principal: &Principal, id: TicketId) -> Result<TicketView, Error> {
        principal.require_active()?;
        self.tickets.get(id, principal.id()).await?.ok_or(Error::NotFound(Resource::Ticket))
    }

    /// Applies a patch: validates every field into a named [`TicketEdit`], checks each
    /// permission, and lets the ticket apply them ([`Ticket::edit`]: one change per changed
    /// field, status changes through the status machine).
    pub async fn edit(&self, principal: &Principal, id: TicketId, patch: TicketPatch) -> Result<TicketView, Error> {
        let view = self.get(principal, id).await?;
        let before = view.ticket;
        let mut edits = Vec::new();
        if let Some(raw) = &patch.title {
            edits.push(TicketEdit::Title(Title::parse(raw)?));
        }
        if let Some(raw) = &patch.description {
            edits.push(TicketEdit::Description(Description::parse(raw)?));
        }
        if let Some(raw) = &patch.tags {
            edits.push(TicketEdit::Tags(Tags::parse(raw)?));
        }
        if let Some(raw) = patch.category_id {
            edits.push(TicketEdit::Category(self.category(raw).await?));
        }
        if edits.iter().any(TicketEdit::touches_content) {
            policy::may_edit_content(principal, &before).map_err(Error::Forbidden)?;
        }
        if let Some(priority) = patch.priority.filter(|p| *p != before.priority()) {
            policy::may_set_priority(principal, Some(&before), priority).map_err(Error::Forbidden)?;
            edits.push(TicketEdit::Priority(priority));
        }
        if let Some(status) = patch.status {
            // Pointing at the right action comes before saying who may take it; `resolved`
            // and `merged` are refused even when the ticket has that status already.
            status_needs_action(before.status(), status)?;
            if status != before.status() {
                policy::may_change_status(principal, &before, status).map_err(Error::Forbidden)?;
                edits.push(TicketEdit::Status(status));
            }
        }
        let mut transition = before.edit(&edits, self.clock.now())?;
        if let Some(Change::PriorityChanged { from, to }) =
            transition.changes.iter().find(|c| matches!(c, Change::PriorityChanged { .. })).cloned()
        {
            // The new priority's targets apply from the ticket's start; raising an unresolved
            // ticket to high or urgent escalates it.
            let due = self.sla.get().due(to, transition.ticket.created_at());
            transition.ticket = transition.ticket.clone().with_sla_due(due);
            let unresolved = matches!(transition.ticket.status(), Status::Open | Status::InProgress);
            if unresolved && crate::escalation::escalates_on_priority(Some(from), to) {
                transition
                    .changes
                    .push(Change::Escalated { reason: crate::escalation::EscalationReason::Priority { priority: to } });
            }
        }
        if transition.is_noop() {
            return Ok(TicketView { ticket: before, voted: view.voted, watching: view.watching });
        }
        let content_changed =
            transition.changes.iter().any(|c| matches!(c, Change::TitleChanged { .. } | Change::DescriptionChanged));
        let ticket = self.tickets.update(transition, principal.actor()).await.map_err(update_error)?;
        if content_changed {
            self.content_changed(ticket.id());
        }
        Ok(TicketView { ticket, voted: view.voted, watching: view.watching })
    }

    /// A page of tickets.
    pub async fn list(&self, principal: &Principal, filter: TicketFilter) -> Result<Page<TicketView>, Error> {
        principal.require_active()?;
        let text = crate::text::parse_search(filter.q.as_deref())?;
        let query = TicketQuery {
            viewer: principal.id(),
            status: filter.status,
            priority: filter.priority,
            category_id: filter.category_id.map(CategoryId::new),
            tag: filter
                .tag
                .as_deref()
                .map(Tag::parse)
                .transpose()
                .map_err(|_| Error::invalid("tag", "invalid_tag", "tags are letters, digits or dashes"))?,
            mine: filter.mine,
            voted_by_me: filter.voted_by_me,
            unresolved: filter.unresolved,
            assignee: AssigneeFilter::Anyone,
            sla: None,
            text,
            sort: filter.sort,
            limit: PageLimit::new(filter.limit)?,
            cursor: filter.cursor,
        };
        Ok(self.tickets.list(query).await?)
    }

    /// The ticket's history, oldest first; events about internal notes for staff only, and
    /// the voters and watchers in it for staff and for themselves only (other students see
    /// the events without their actor).
    pub async fn history(&self, principal: &Principal, id: TicketId) -> Result<Vec<TicketEvent>, Error> {
        self.get(principal, id).await?;
        let staff = principal.role().is_staff();
        Ok(self
            .tickets
            .history(id)
            .await?
            .into_iter()
            .filter(|e| staff || !e.change.is_internal())
            .map(|mut e| {
                let own = e.actor.user().is_some_and(|a| a.id == principal.id());
                if !staff && !own && e.change.actor_is_private() {
                    e.actor = crate::actor::EventActor::Hidden;
                }
                e
            })
            .collect())
    }
}

/// The domain's reading of a failed [`TicketRepository::update`].
pub fn update_error(e: UpdateTicketError) -> Error {
    match e {
        UpdateTicketError::Stale => Error::Conflict(Conflict::StaleUpdate),
        UpdateTicketError::NotFound => Error::NotFound(Resource::Ticket),
        UpdateTicketError::Unknown(e) => Error::Unknown(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::accounts::{AccountStatus, UserId};
    use crate::actor::Actor;
    use crate::categories::{Category, CategoryName, MockCategoryRepository};
    use crate::clock::FixedClock;
    use crate::testing::{PrincipalBuilder, TicketBuilder};
    use chrono::{TimeZone, Utc};

    fn principal(id: i64, role: Role) -> Principal {
        PrincipalBuilder::new(id, role).build()
    }

    fn ticket(creator: i64, status: Status) -> Ticket {
        let t = Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap();
        TicketBuilder::new(10).status(status).creator(creator).created_at(t).build()
    }

    #[test]
    fn content_edit_table() {
        use Forbidden::*;
        let table = [
            (1, Role::Student, Status::Open, Ok(())),
            (1, Role::Student, Status::InProgress, Err(TicketLocked)),
            (1, Role::Student, Status::Resolved, Err(TicketLocked)),
            (2, Role::Student, Status::Open, Err(NotOwner)),
            (3, Role::Support, Status::Resolved, Ok(())),
            (4, Role::Admin, Status::Closed, Ok(())),
        ];
        for (who, role, status, expected) in table {
            assert_eq!(
                policy::may_edit_content(&principal(who, role), &ticket(1, status)),
                expected,
                "{role:?} {status:?}"
            );
        }
    }

    #[test]
    fn priority_table() {
        use Forbidden::*;
        let open = ticket(1, Status::Open);
        let table = [
            (1, Role::Student, None, Priority::High, Ok(())),
            (1, Role::Student, None, Priority::Urgent, Err(PriorityNotAllowed)),
            (1, Role::Student, Some(&open), Priority::Low, Ok(())),
            (2, Role::Student, Some(&open), Priority::Low, Err(NotOwner)),
            (3, Role::Support, Some(&open), Priority::Urgent, Ok(())),
            (4, Role::Admin, None, Priority::Urgent, Ok(())),
        ];
        for (who, role, t, p, expected) in table {
            assert_eq!(policy::may_set_priority(&principal(who, role), t, p), expected, "{role:?} {p:?}");
        }
    }

    #[test]
    fn status_permission_table() {
        use Forbidden::*;
        let table = [
            (1, Role::Student, Status::Resolved, Status::Open, Ok(())),
            (1, Role::Student, Status::Open, Status::Resolved, Err(RoleNotAllowed)),
            (1, Role::Student, Status::Resolved, Status::Closed, Err(RoleNotAllowed)),
            (2, Role::Student, Status::Resolved, Status::Open, Err(NotOwner)),
            (3, Role::Support, Status::Open, Status::InProgress, Ok(())),
            (4, Role::Admin, Status::Resolved, Status::Closed, Ok(())),
        ];
        for (who, role, from, to, expected) in table {
            assert_eq!(
                policy::may_change_status(&principal(who, role), &ticket(1, from), to),
                expected,
                "{role:?} {from:?}->{to:?}"
            );
        }
    }

    #[test]
    fn vote_permission_table() {
        let cases = [
            (2, Role::Student, Status::Open, "ok"),
            (2, Role::Student, Status::Resolved, "ok"),
            (1, Role::Student, Status::Open, "own_ticket"),
            (2, Role::Student, Status::Closed, "ticket_closed"),
            (2, Role::Student, Status::Merged, "ticket_closed"),
            (3, Role::Support, Status::Open, "role_not_allowed"),
            (4, Role::Admin, Status::Open, "role_not_allowed"),
        ];
        for (who, role, status, expected) in cases {
            let got = match policy::may_vote(&principal(who, role), &ticket(1, status)) {
                Ok(()) => "ok",
                Err(Error::Forbidden(f)) => f.code(),
                Err(Error::Conflict(c)) => c.code(),
                Err(e) => panic!("unexpected {e:?}"),
            };
            assert_eq!(got, expected, "{role:?} {status:?}");
        }
    }

    fn service(tickets: MockTicketRepository) -> TicketService {
        let mut queue = crate::similarity::MockEmbeddingQueue::new();
        queue.expect_content_changed().return_const(());
        service_with_queue(tickets, queue)
    }

    fn service_with_queue(
        tickets: MockTicketRepository,
        queue: crate::similarity::MockEmbeddingQueue,
    ) -> TicketService {
        let mut categories = MockCategoryRepository::new();
        categories.expect_find().returning(|id| {
            Ok((id.get() == 1).then(|| Category {
                id,
                name: CategoryName::parse("Exams").unwrap(),
                description: String::new(),
                position: 0,
                owner_id: None,
            }))
        });
        TicketService::new(
            Arc::new(tickets),
            Arc::new(categories),
            Arc::new(FixedClock(Utc.with_ymd_and_hms(2026, 3, 2, 0, 0, 0).unwrap())),
            Arc::new(queue),
            crate::testing::idle_workflow(),
        )
    }

    #[tokio::test]
    async fn create_refuses_urgent_from_students_and_unknown_categories() {
        let mut repo = MockTicketRepository::new();
        repo.expect_create().never();
        let svc = service(repo);
        let student = principal(1, Role::Student);
        let draft = TicketDraft {
            title: "Cannot see my grade".into(),
            category_id: 1,
            priority: Some(Priority::Urgent),
            ..Default::default()
        };
        let err = svc.create(&student, draft.clone()).await.unwrap_err();
        assert!(matches!(err, Error::Forbidden(Forbidden::PriorityNotAllowed)));
        let err = svc.create(&student, TicketDraft { category_id: 99, priority: None, ..draft }).await.unwrap_err();
        assert!(matches!(err, Error::UnknownReference { resource: Resource::Category, field: "category_id" }));
    }

    #[tokio::test]
    async fn edit_records_one_change_per_field_and_runs_the_status_machine() {
        let mut repo = MockTicketRepository::new();
        repo.expect_get()
            .returning(|_, _| Ok(Some(TicketView { ticket: ticket(1, Status::Open), voted: false, watching: false })));
        repo.expect_update()
            .withf(|t, actor| {
                t.ticket.priority() == Priority::Urgent
                    && t.ticket.status() == Status::InProgress
                    && *actor == Actor::User(UserId::new(3))
                    && t.changes
                        == vec![
                            Change::PriorityChanged { from: Priority::Medium, to: Priority::Urgent },
                            Change::StatusChanged { from: Status::Open, to: Status::InProgress },
                            // Raised to urgent: escalated, with the urgent targets' due times.
                            Change::Escalated {
                                reason: crate::escalation::EscalationReason::Priority { priority: Priority::Urgent },
                            },
                        ]
                    && t.ticket.sla().due
                        == Some(crate::escalation::SlaSettings::default().due(Priority::Urgent, t.ticket.created_at()))
            })
            .times(1)
            .returning(|t, _| Ok(t.ticket));
        let svc = service(repo);
        let patch =
            TicketPatch { priority: Some(Priority::Urgent), status: Some(Status::InProgress), ..Default::default() };
        let view = svc.edit(&principal(3, Role::Support), TicketId::new(10), patch).await.unwrap();
        assert_eq!(view.ticket.priority(), Priority::Urgent);
    }

    #[tokio::test]
    async fn illegal_transitions_change_nothing() {
        let mut repo = MockTicketRepository::new();
        repo.expect_get().returning(|_, _| {
            Ok(Some(TicketView { ticket: ticket(1, Status::Closed), voted: false, watching: false }))
        });
        repo.expect_update().never();
        let svc = service(repo);
        let patch = TicketPatch { status: Some(Status::InProgress), ..Default::default() };
        let err = svc.edit(&principal(3, Role::Support), TicketId::new(10), patch).await.unwrap_err();
        assert!(matches!(err, Error::Conflict(Conflict::IllegalTransition { from: "closed", to: "in_progress" })));
    }

    #[tokio::test]
    async fn stale_writes_are_conflicts() {
        let mut repo = MockTicketRepository::new();
        repo.expect_get()
            .returning(|_, _| Ok(Some(TicketView { ticket: ticket(1, Status::Open), voted: false, watching: false })));
        repo.expect_update().returning(|_, _| Err(UpdateTicketError::Stale));
        let svc = service(repo);
        let patch = TicketPatch { title: Some("A better title".into()), ..Default::default() };
        let err = svc.edit(&principal(1, Role::Student), TicketId::new(10), patch).await.unwrap_err();
        assert!(matches!(err, Error::Conflict(Conflict::StaleUpdate)));
    }

    #[tokio::test]
    async fn content_edits_signal_the_embedding_queue_and_other_edits_do_not() {
        for (patch, signals) in [
            (TicketPatch { title: Some("A better title".into()), ..Default::default() }, 1),
            (TicketPatch { description: Some("More details".into()), ..Default::default() }, 1),
            (TicketPatch { priority: Some(Priority::High), ..Default::default() }, 0),
        ] {
            let mut repo = MockTicketRepository::new();
            repo.expect_get().returning(|_, _| {
                Ok(Some(TicketView { ticket: ticket(1, Status::Open), voted: false, watching: false }))
            });
            repo.expect_update().returning(|t, _| Ok(t.ticket));
            let mut queue = crate::similarity::MockEmbeddingQueue::new();
            queue.expect_content_changed().withf(|id| id.get() == 10).times(signals).return_const(());
            let svc = service_with_queue(repo, queue);
            svc.edit(&principal(1, Role::Student), TicketId::new(10), patch).await.unwrap();
        }
    }

    #[tokio::test]
    async fn pending_accounts_see_nothing() {
        let mut repo = MockTicketRepository::new();
        repo.expect_get().never();
        let svc = service(repo);
        let pending = PrincipalBuilder::new(1, Role::Student).status(AccountStatus::Pending).build();
        let err = svc.get(&pending, TicketId::new(10)).await.unwrap_err();
        assert!(matches!(err, Error::Forbidden(Forbidden::AccountPending)));
    }
}
