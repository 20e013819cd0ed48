use async_trait::async_trait;

use super::model::*;
use crate::accounts::UserId;
use crate::actor::Actor;
use crate::page::{ListError, Page};

/// Why an edit could not be stored.
#[derive(Debug, thiserror::Error)]
pub enum UpdateTicketError {
    /// The ticket's version is no longer the one the edit was based on.
    #[error("stale update")]
    Stale,
    /// There is no such ticket.
    #[error("ticket not found")]
    NotFound,
    /// Anything else.
    #[error(transparent)]
    Unknown(#[from] anyhow::Error),
}

/// Storage of tickets and their history.
///
/// Every ticket event an adapter records (here, and in the other repositories that record
/// ticket events: votes, replies, watchers, the workflow, the FAQ) MUST be written with
/// exactly the effects [`crate::notifications::effects`] returns for its change, in the same
/// transaction, and nothing else: for `Notify`, one notification per member of the audience
/// (each user once; never the actor; `StaffWatchers` only support and admin watchers; `User`
/// that user) and an email delivery for each of them whose preference for the kind has email
/// on and digest off (the default); for `Integrate`, one pending job on its channel for the
/// ticket. After the commit the adapter MUST wake the delivery worker if it wrote a delivery.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait TicketRepository: Send + Sync {
    /// Stores a new ticket with its `Created` event and queue key; one transaction.
    async fn create(&self, ticket: NewTicket) -> anyhow::Result<Ticket>;

    /// A ticket as `viewer` sees it. MUST return `Ok(None)` if there is none.
    async fn get(&self, id: TicketId, viewer: UserId) -> anyhow::Result<Option<TicketView>>;

    /// Stores a transition: writes the ticket's new state and its changes (as events by
    /// `actor` at the ticket's `updated_at`, with their notifications) if the stored version
    /// is still the ticket's version; bumps the version and recomputes the queue key from the
    /// stored vote count; one transaction. MUST return `Stale` if the version moved on and
    /// `NotFound` if the ticket is gone.
    async fn update(&self, transition: Transition, actor: Actor) -> Result<Ticket, UpdateTicketError>;

    /// A page of tickets matching the query. MUST return `InvalidCursor` for a cursor it
    /// did not make for the same sort.
    async fn list(&self, query: TicketQuery) -> Result<Page<TicketView>, ListError>;

    /// The ticket's events, oldest first.
    async fn history(&self, id: TicketId) -> anyhow::Result<Vec<TicketEvent>>;
}
