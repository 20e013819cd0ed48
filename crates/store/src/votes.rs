//! Votes: the unique key on (ticket, user) makes casting idempotent and counts exact.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use domain::accounts::UserId;
use domain::tickets::{Change, TicketId};
use domain::votes::{VoteOutcome, VoteRepository};
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set};

use crate::entity::{tickets, votes, watchers};
use crate::tickets::{record, requeue, user_actor};
use crate::{id32, Store};

fn ids(ticket: TicketId, user: UserId) -> anyhow::Result<(i32, i32)> {
    Ok((
        id32(ticket.get()).ok_or_else(|| anyhow::anyhow!("ticket id out of range"))?,
        id32(user.get()).ok_or_else(|| anyhow::anyhow!("user id out of range"))?,
    ))
}

fn count(row: &tickets::Model) -> u32 {
    u32::try_from(row.vote_count).unwrap_or(0)
}

async fn stored_count(conn: &impl ConnectionTrait, ticket: i32) -> anyhow::Result<u32> {
    Ok(tickets::Entity::find_by_id(ticket).one(conn).await?.as_ref().map_or(0, count))
}

/// Adds `delta` to the ticket's vote count: an SQL increment, never a read-modify-write in
/// memory. Every vote transaction first calls it with 0, which takes the ticket's row lock, so
/// votes and merges on one ticket queue up instead of deadlocking on each other's rows.
pub(crate) async fn bump(conn: &impl ConnectionTrait, ticket: i32, delta: i32) -> anyhow::Result<()> {
    tickets::Entity::update_many()
        .col_expr(tickets::Column::VoteCount, Expr::col(tickets::Column::VoteCount).add(delta))
        .filter(tickets::Column::Id.eq(ticket))
        .exec(conn)
        .await?;
    Ok(())
}

#[async_trait]
impl VoteRepository for Store {
    async fn cast(&self, ticket: TicketId, user: UserId, at: DateTime<Utc>) -> anyhow::Result<VoteOutcome> {
        let (ticket, user) = ids(ticket, user)?;
        let tx = self.write().await?;
        bump(&*tx, ticket, 0).await?;
        let inserted = votes::Entity::insert(votes::ActiveModel {
            ticket_id: Set(ticket),
            user_id: Set(user),
            created_at: Set(at),
            merge_id: Set(None),
        })
        .on_conflict(OnConflict::columns([votes::Column::TicketId, votes::Column::UserId]).do_nothing().to_owned())
        .exec_without_returning(&*tx)
        .await?;
        if inserted == 0 {
            let vote_count = stored_count(&*tx, ticket).await?;
            tx.commit().await?;
            return Ok(VoteOutcome::Unchanged { vote_count });
        }
        bump(&*tx, ticket, 1).await?;
        // Voters watch what they voted for.
        watchers::Entity::insert(watchers::ActiveModel {
            ticket_id: Set(ticket),
            user_id: Set(user),
            created_at: Set(at),
            merge_id: Set(None),
        })
        .on_conflict(
            OnConflict::columns([watchers::Column::TicketId, watchers::Column::UserId]).do_nothing().to_owned(),
        )
        .exec_without_returning(&*tx)
        .await?;
        let row = requeue(&*tx, ticket).await?;
        record(&tx, ticket, user_actor(user), at, &Change::VoteCast).await?;
        tx.commit().await?;
        Ok(VoteOutcome::Changed { vote_count: count(&row) })
    }

    async fn retract(&self, ticket: TicketId, user: UserId, at: DateTime<Utc>) -> anyhow::Result<VoteOutcome> {
        let (ticket, user) = ids(ticket, user)?;
        let tx = self.write().await?;
        bump(&*tx, ticket, 0).await?;
        let deleted = votes::Entity::delete_many()
            .filter(votes::Column::TicketId.eq(ticket))
            .filter(votes::Column::UserId.eq(user))
            .exec(&*tx)
            .await?;
        if deleted.rows_affected == 0 {
            let vote_count = stored_count(&*tx, ticket).await?;
            tx.commit().await?;
            return Ok(VoteOutcome::Unchanged { vote_count });
        }
        bump(&*tx, ticket, -1).await?;
        let row = requeue(&*tx, ticket).await?;
        record(&tx, ticket, user_actor(user), at, &Change::VoteRetracted).await?;
        tx.commit().await?;
        Ok(VoteOutcome::Changed { vote_count: count(&row) })
    }
}
