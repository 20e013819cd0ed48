//! A ticket's conversation: public replies, staff-only internal notes, and watchers.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::accounts::{Principal, Role, UserId};
use crate::clock::Clock;
use crate::error::{Conflict, Error, Forbidden, Resource};
use crate::tickets::{follow_merges, Answer, Status, Ticket, TicketId, TicketRepository, TicketView, UserRef};

/// A reply's identifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ReplyId(i64);

impl ReplyId {
    /// Wraps a stored identifier.
    pub fn new(id: i64) -> Self {
        Self(id)
    }
    /// The raw identifier.
    pub fn get(self) -> i64 {
        self.0
    }
}

/// A message on a ticket.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    /// Identifier.
    pub id: ReplyId,
    /// The ticket it was written on (a ticket merged into the one being read keeps its own).
    pub ticket_id: TicketId,
    /// Who wrote it.
    pub author: UserRef,
    /// Markdown body.
    pub body: Answer,
    /// Staff only when true.
    pub internal: bool,
    /// When.
    pub created_at: DateTime<Utc>,
}

/// A reply to store.
#[derive(Debug, Clone)]
pub struct NewReply {
    /// The ticket.
    pub ticket_id: TicketId,
    /// Who writes it.
    pub author: UserId,
    /// Markdown body.
    pub body: Answer,
    /// Internal note?
    pub internal: bool,
    /// When.
    pub created_at: DateTime<Utc>,
}

/// Storage of replies.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait ReplyRepository: Send + Sync {
    /// Stores a reply, records `ReplyAdded` in the ticket's history and, for a public reply,
    /// makes the author a watcher and, if the author is staff and the ticket has no first
    /// response yet, sets its first-response time (its SLA's first timer stops); one
    /// transaction.
    async fn add(&self, reply: NewReply) -> anyhow::Result<Reply>;

    /// The replies of `ticket` and of every ticket merged into it, oldest first; internal
    /// notes only when `include_internal`. MUST NOT return internal notes otherwise.
    async fn list(&self, ticket: TicketId, include_internal: bool) -> anyhow::Result<Vec<Reply>>;
}

/// Storage of watchers.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait WatcherRepository: Send + Sync {
    /// Makes `user` watch `ticket` and records `Watched`; MUST return `false` (changing
    /// nothing) if they already watch it.
    async fn watch(&self, ticket: TicketId, user: UserId, at: DateTime<Utc>) -> anyhow::Result<bool>;
    /// Stops `user` watching and records `Unwatched`; MUST return `false` if they did not.
    async fn unwatch(&self, ticket: TicketId, user: UserId, at: DateTime<Utc>) -> anyhow::Result<bool>;
}

/// Who may write what on a ticket: pure rules.
pub mod policy {
    use super::*;

    /// Internal notes are for staff; public replies for the creator, watchers and staff.
    pub fn may_reply(principal: &Principal, view: &TicketView, internal: bool) -> Result<(), Error> {
        match (principal.role(), internal) {
            (Role::Support | Role::Admin, _) => {}
            (Role::Student, true) => return Err(Error::Forbidden(Forbidden::RoleNotAllowed)),
            (Role::Student, false) if view.ticket.creator_id() == principal.id() || view.watching => {}
            (Role::Student, false) => return Err(Error::Forbidden(Forbidden::NotParticipant)),
        }
        match view.ticket.status() {
            Status::Open | Status::InProgress | Status::Resolved | Status::Merged => Ok(()),
            Status::Closed => Err(Error::Conflict(Conflict::TicketClosed)),
        }
    }
}

/// Replies, internal notes and watching.
#[derive(Clone)]
pub struct ConversationService {
    tickets: Arc<dyn TicketRepository>,
    replies: Arc<dyn ReplyRepository>,
    watchers: Arc<dyn WatcherRepository>,
    clock: Arc<dyn Clock>,
}

impl ConversationService {
    /// Wires the service to its ports.
    pub fn new(
        tickets: Arc<dyn TicketRepository>,
        replies: Arc<dyn ReplyRepository>,
        watchers: Arc<dyn WatcherRepository>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self { tickets, replies, watchers, clock }
    }

    async fn view(&self, principal: &Principal, id: TicketId) -> Result<TicketView, Error> {
        principal.require_active()?;
        self.tickets.get(id, principal.id()).await?.ok_or(Error::NotFound(Resource::Ticket))
    }

    /// The ticket that carries the concern now: a merged ticket's target.
    async fn target(&self, principal: &Principal, id: TicketId) -> Result<TicketView, Error> {
        let view = self.view(principal, id).await?;
        follow_merges(self.tickets.as_ref(), view, principal.id()).await
    }

    /// Adds a reply or internal note. A reply aimed at a merged ticket lands on its target.
    pub async fn reply(&self, principal: &Principal, id: TicketId, body: &str, internal: bool) -> Result<Reply, Error> {
        let body = Answer::parse(body, "body")?;
        let view = self.target(principal, id).await?;
        policy::may_reply(principal, &view, internal)?;
        let reply = NewReply {
            ticket_id: view.ticket.id(),
            author: principal.id(),
            body,
            internal,
            created_at: self.clock.now(),
        };
        Ok(self.replies.add(reply).await?)
    }

    /// The conversation of a ticket, including tickets merged into it; internal notes for
    /// staff only.
    pub async fn replies(&self, principal: &Principal, id: TicketId) -> Result<Vec<Reply>, Error> {
        let view = self.view(principal, id).await?;
        Ok(self.replies.list(view.ticket.id(), principal.role().is_staff()).await?)
    }

    /// Starts watching (a merged ticket's target). Watching twice is harmless.
    pub async fn watch(&self, principal: &Principal, id: TicketId) -> Result<Ticket, Error> {
        let view = self.target(principal, id).await?;
        self.watchers.watch(view.ticket.id(), principal.id(), self.clock.now()).await?;
        Ok(view.ticket)
    }

    /// Stops watching. Unwatching twice is harmless.
    pub async fn unwatch(&self, principal: &Principal, id: TicketId) -> Result<Ticket, Error> {
        let view = self.target(principal, id).await?;
        self.watchers.unwatch(view.ticket.id(), principal.id(), self.clock.now()).await?;
        Ok(view.ticket)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::clock::FixedClock;
    use crate::testing::{PrincipalBuilder, TicketBuilder};
    use crate::tickets::MockTicketRepository;
    use chrono::TimeZone;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 10, 2, 8, 0, 0).unwrap()
    }

    fn view(id: i64, status: Status, merged_into: Option<i64>, watching: bool) -> TicketView {
        TicketView {
            ticket: match merged_into {
                Some(target) => TicketBuilder::new(id).merged_into(target),
                None => TicketBuilder::new(id),
            }
            .title("Hall ticket missing")
            .description("")
            .status(status)
            .created_at(now())
            .build(),
            voted: false,
            watching,
        }
    }

    fn p(id: i64, role: Role) -> Principal {
        PrincipalBuilder::new(id, role).build()
    }

    #[test]
    fn reply_permission_table() {
        let cases = [
            (1, Role::Student, false, Status::Open, false, "ok"),
            (1, Role::Student, true, Status::Open, false, "role_not_allowed"),
            (2, Role::Student, false, Status::Open, false, "not_participant"),
            (2, Role::Student, false, Status::Open, true, "ok"),
            (3, Role::Support, true, Status::InProgress, false, "ok"),
            (4, Role::Admin, false, Status::Resolved, false, "ok"),
            (1, Role::Student, false, Status::Closed, false, "ticket_closed"),
            (3, Role::Support, true, Status::Closed, false, "ticket_closed"),
        ];
        for (who, role, internal, status, watching, expected) in cases {
            let got = match policy::may_reply(&p(who, role), &view(10, status, None, watching), internal) {
                Ok(()) => "ok",
                Err(Error::Forbidden(f)) => f.code(),
                Err(Error::Conflict(c)) => c.code(),
                Err(e) => panic!("{e:?}"),
            };
            assert_eq!(got, expected, "{who} {role:?} internal={internal} {status:?} watching={watching}");
        }
    }

    #[tokio::test]
    async fn replies_to_a_merged_ticket_land_on_its_target() {
        let mut tickets = MockTicketRepository::new();
        tickets.expect_get().returning(|id, _| {
            Ok(Some(match id.get() {
                10 => view(10, Status::Merged, Some(20), false),
                _ => view(20, Status::Open, None, true),
            }))
        });
        let mut replies = MockReplyRepository::new();
        replies.expect_add().withf(|r| r.ticket_id.get() == 20 && !r.internal).times(1).returning(|r| {
            Ok(Reply {
                id: ReplyId::new(1),
                ticket_id: r.ticket_id,
                author: UserRef { id: r.author, display_name: "Bo".into() },
                body: r.body,
                internal: r.internal,
                created_at: r.created_at,
            })
        });
        let svc = ConversationService::new(
            Arc::new(tickets),
            Arc::new(replies),
            Arc::new(MockWatcherRepository::new()),
            Arc::new(FixedClock(now())),
        );
        let reply = svc.reply(&p(2, Role::Student), TicketId::new(10), "Same here", false).await.unwrap();
        assert_eq!(reply.ticket_id.get(), 20);
    }

    #[tokio::test]
    async fn students_never_get_internal_notes() {
        let mut tickets = MockTicketRepository::new();
        tickets.expect_get().returning(|_, _| Ok(Some(view(10, Status::Open, None, false))));
        let mut replies = MockReplyRepository::new();
        replies
            .expect_list()
            .with(mockall::predicate::always(), mockall::predicate::eq(false))
            .times(1)
            .returning(|_, _| Ok(vec![]));
        replies
            .expect_list()
            .with(mockall::predicate::always(), mockall::predicate::eq(true))
            .times(1)
            .returning(|_, _| Ok(vec![]));
        let svc = ConversationService::new(
            Arc::new(tickets),
            Arc::new(replies),
            Arc::new(MockWatcherRepository::new()),
            Arc::new(FixedClock(now())),
        );
        svc.replies(&p(1, Role::Student), TicketId::new(10)).await.unwrap();
        svc.replies(&p(3, Role::Support), TicketId::new(10)).await.unwrap();
    }
}
