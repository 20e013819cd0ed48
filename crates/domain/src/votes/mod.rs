//! Votes: a student's "me too" on someone else's ticket, one per student per ticket.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::accounts::{Principal, UserId};
use crate::clock::Clock;
use crate::error::{Error, Resource};
use crate::tickets::{follow_merges, policy, TicketId, TicketRepository};

/// What casting or retracting did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VoteOutcome {
    /// The vote was recorded (or removed) now.
    Changed {
        /// The ticket's vote count afterwards.
        vote_count: u32,
    },
    /// Nothing to do: the vote was already there (or already gone).
    Unchanged {
        /// The ticket's vote count.
        vote_count: u32,
    },
}

impl VoteOutcome {
    /// The ticket's vote count after the call.
    pub fn vote_count(self) -> u32 {
        match self {
            VoteOutcome::Changed { vote_count } | VoteOutcome::Unchanged { vote_count } => vote_count,
        }
    }
}

/// Storage of votes.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait VoteRepository: Send + Sync {
    /// Records `user`'s vote on `ticket`, increments the ticket's count, recomputes its queue
    /// key, makes `user` a watcher and records a `VoteCast` event; one transaction. The store's unique key on
    /// (ticket, user) decides: MUST return `Unchanged` (changing nothing) if the vote exists,
    /// so concurrent casts by one user count once.
    async fn cast(&self, ticket: TicketId, user: UserId, at: DateTime<Utc>) -> anyhow::Result<VoteOutcome>;

    /// Removes `user`'s vote, decrements the count, recomputes the queue key and records a
    /// `VoteRetracted` event; one transaction. MUST return `Unchanged` if there was no vote.
    async fn retract(&self, ticket: TicketId, user: UserId, at: DateTime<Utc>) -> anyhow::Result<VoteOutcome>;
}

/// Casting and retracting votes.
#[derive(Clone)]
pub struct VoteService {
    tickets: Arc<dyn TicketRepository>,
    votes: Arc<dyn VoteRepository>,
    clock: Arc<dyn Clock>,
    escalation: Option<crate::escalation::EscalationService>,
}

impl VoteService {
    /// Wires the service to its ports.
    pub fn new(tickets: Arc<dyn TicketRepository>, votes: Arc<dyn VoteRepository>, clock: Arc<dyn Clock>) -> Self {
        Self { tickets, votes, clock, escalation: None }
    }

    /// With escalation: a cast that brings a ticket's votes to the threshold escalates it.
    pub fn with_escalation(self, escalation: crate::escalation::EscalationService) -> Self {
        Self { escalation: Some(escalation), ..self }
    }

    /// The ticket a vote aimed at `id` counts on (a merged ticket's target), once the
    /// principal may vote there.
    async fn check(&self, principal: &Principal, id: TicketId) -> Result<TicketId, Error> {
        principal.require_active()?;
        let view = self.tickets.get(id, principal.id()).await?.ok_or(Error::NotFound(Resource::Ticket))?;
        let view = follow_merges(self.tickets.as_ref(), view, principal.id()).await?;
        policy::may_vote(principal, &view.ticket)?;
        Ok(view.ticket.id())
    }

    /// Votes for a ticket (a vote for a merged ticket lands on its target); voting twice is
    /// harmless. The voter watches the ticket from then on.
    pub async fn cast(&self, principal: &Principal, id: TicketId) -> Result<(TicketId, VoteOutcome), Error> {
        let target = self.check(principal, id).await?;
        let outcome = self.votes.cast(target, principal.id(), self.clock.now()).await?;
        count_vote("cast", outcome);
        if let (VoteOutcome::Changed { vote_count }, Some(escalation)) = (outcome, &self.escalation) {
            // The vote stands whatever happens here; a crossing missed now is caught by the
            // next SLA check, which escalates every ticket at the threshold not yet escalated.
            if let Err(e) = escalation.votes_changed(target, vote_count.saturating_sub(1), vote_count).await {
                tracing::warn!(error = %e, ticket = target.get(), "escalation by votes failed; the SLA check will retry");
            }
        }
        Ok((target, outcome))
    }

    /// Takes a vote back; retracting twice is harmless.
    pub async fn retract(&self, principal: &Principal, id: TicketId) -> Result<(TicketId, VoteOutcome), Error> {
        let target = self.check(principal, id).await?;
        let outcome = self.votes.retract(target, principal.id(), self.clock.now()).await?;
        count_vote("retract", outcome);
        Ok((target, outcome))
    }
}

/// Counts a vote that changed something.
fn count_vote(action: &'static str, outcome: VoteOutcome) {
    if let VoteOutcome::Changed { .. } = outcome {
        metrics::counter!(crate::telemetry::VOTES, "action" => action).increment(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::accounts::Role;

    use crate::clock::FixedClock;
    use crate::error::Forbidden;
    use crate::testing::{PrincipalBuilder, TicketBuilder};
    use crate::tickets::*;
    use chrono::TimeZone;

    fn view(creator: i64, status: Status) -> TicketView {
        let t = Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap();
        TicketView {
            ticket: TicketBuilder::new(5)
                .title("Portal login loop")
                .description("")
                .priority(Priority::Low)
                .status(status)
                .creator(creator)
                .creator_name("Bo")
                .created_at(t)
                .votes(3)
                .build(),
            voted: false,
            watching: false,
        }
    }

    fn service(tickets: MockTicketRepository, votes: MockVoteRepository) -> VoteService {
        VoteService::new(
            Arc::new(tickets),
            Arc::new(votes),
            Arc::new(FixedClock(Utc.with_ymd_and_hms(2026, 3, 2, 0, 0, 0).unwrap())),
        )
    }

    fn student(id: i64) -> Principal {
        PrincipalBuilder::new(id, Role::Student).build()
    }

    #[tokio::test]
    async fn a_vote_goes_to_the_store_with_the_principal_as_voter() {
        let mut tickets = MockTicketRepository::new();
        tickets.expect_get().returning(|_, _| Ok(Some(view(1, Status::Open))));
        let mut votes = MockVoteRepository::new();
        votes
            .expect_cast()
            .withf(|t, u, _| t.get() == 5 && u.get() == 2)
            .times(1)
            .returning(|_, _, _| Ok(VoteOutcome::Changed { vote_count: 4 }));
        let (_, outcome) = service(tickets, votes).cast(&student(2), TicketId::new(5)).await.unwrap();
        assert_eq!(outcome.vote_count(), 4);
    }

    #[tokio::test]
    async fn refusals_never_reach_the_store() {
        type Expect = fn(&Error) -> bool;
        let cases: [(i64, Status, Expect); 3] = [
            (1, Status::Open, |e| matches!(e, Error::Forbidden(Forbidden::OwnTicket))),
            (2, Status::Closed, |e| matches!(e, Error::Conflict(crate::Conflict::TicketClosed))),
            (2, Status::Merged, |e| matches!(e, Error::Conflict(crate::Conflict::TicketClosed))),
        ];
        for (voter, status, expected) in cases {
            let mut tickets = MockTicketRepository::new();
            tickets.expect_get().returning(move |_, _| Ok(Some(view(1, status))));
            let mut votes = MockVoteRepository::new();
            votes.expect_cast().never();
            votes.expect_retract().never();
            let svc = service(tickets, votes);
            let err = svc.cast(&student(voter), TicketId::new(5)).await.unwrap_err();
            assert!(expected(&err), "cast {voter} {status:?}: {err:?}");
            let err = svc.retract(&student(voter), TicketId::new(5)).await.unwrap_err();
            assert!(expected(&err), "retract {voter} {status:?}: {err:?}");
        }
    }

    #[tokio::test]
    async fn unknown_tickets_are_not_found() {
        let mut tickets = MockTicketRepository::new();
        tickets.expect_get().returning(|_, _| Ok(None));
        let svc = service(tickets, MockVoteRepository::new());
        let err = svc.cast(&student(2), TicketId::new(404)).await.unwrap_err();
        assert!(matches!(err, Error::NotFound(Resource::Ticket)));
    }
}
