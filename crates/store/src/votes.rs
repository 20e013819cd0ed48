//! Votes: the unique key on (ticket, user) makes casting idempotent and counts exact.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use domain::accounts::UserId;
use domain::tickets::{Change, TicketId};
use domain::votes::{VoteOutcome, VoteRepository};
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, Set};

use crate::entity::{tickets, votes};
use crate::tickets::{record, requeue};
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

#[async_trait]
impl VoteRepository for Store {
    async fn cast(&self, ticket: TicketId, user: UserId, at: DateTime<Utc>) -> anyhow::Result<VoteOutcome> {
        let (ticket, user) = ids(ticket, user)?;
        let tx = self.write().await?;
        let inserted = votes::Entity::insert(votes::ActiveModel {
            ticket_id: Set(ticket),
            user_id: Set(user),
            created_at: Set(at),
        })
        .on_conflict(OnConflict::columns([votes::Column::TicketId, votes::Column::UserId]).do_nothing().to_owned())
        .exec_without_returning(&*tx)
        .await?;
        if inserted == 0 {
            let row = tickets::Entity::find_by_id(ticket).one(&*tx).await?;
            return Ok(VoteOutcome::Unchanged { vote_count: row.as_ref().map_or(0, count) });
        }
        // An increment in SQL, never a read-modify-write in memory: concurrent voters queue
        // on the row lock and each adds exactly one.
        tickets::Entity::update_many()
            .col_expr(tickets::Column::VoteCount, Expr::col(tickets::Column::VoteCount).add(1))
            .filter(tickets::Column::Id.eq(ticket))
            .exec(&*tx)
            .await?;
        let row = requeue(&*tx, ticket).await?;
        record(&*tx, ticket, user, at, &Change::VoteCast).await?;
        tx.commit().await?;
        Ok(VoteOutcome::Changed { vote_count: count(&row) })
    }

    async fn retract(&self, ticket: TicketId, user: UserId, at: DateTime<Utc>) -> anyhow::Result<VoteOutcome> {
        let (ticket, user) = ids(ticket, user)?;
        let tx = self.write().await?;
        let deleted = votes::Entity::delete_many()
            .filter(votes::Column::TicketId.eq(ticket))
            .filter(votes::Column::UserId.eq(user))
            .exec(&*tx)
            .await?;
        if deleted.rows_affected == 0 {
            let row = tickets::Entity::find_by_id(ticket).one(&*tx).await?;
            return Ok(VoteOutcome::Unchanged { vote_count: row.as_ref().map_or(0, count) });
        }
        tickets::Entity::update_many()
            .col_expr(tickets::Column::VoteCount, Expr::col(tickets::Column::VoteCount).sub(1))
            .filter(tickets::Column::Id.eq(ticket))
            .exec(&*tx)
            .await?;
        let row = requeue(&*tx, ticket).await?;
        record(&*tx, ticket, user, at, &Change::VoteRetracted).await?;
        tx.commit().await?;
        Ok(VoteOutcome::Changed { vote_count: count(&row) })
    }
}
