//! Bulk import of tickets, for seeding and benchmarks at scale.

use domain::tickets::{queue, NewTicket, Status, TicketId};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set};

use crate::entity::tickets;
use crate::{id32, Store};

impl Store {
    /// Inserts many tickets in one transaction, in order, without tags or history events
    /// (the full-text index follows through the database's own triggers). Returns their ids
    /// in the same order, and refreshes the planner's statistics. Not a port: for tools that need 100,000 tickets in seconds.
    pub async fn import_tickets(&self, batch: Vec<NewTicket>) -> anyhow::Result<Vec<TicketId>> {
        let tx = self.write().await?;
        let before: Option<i32> = tickets::Entity::find()
            .select_only()
            .column_as(tickets::Column::Id.max(), "max")
            .into_tuple()
            .one(&*tx)
            .await?
            .flatten();
        let n = batch.len();
        let mut rows = Vec::with_capacity(n);
        for t in batch {
            rows.push(tickets::ActiveModel {
                title: Set(t.title.as_str().to_owned()),
                description: Set(t.description.as_str().to_owned()),
                category_id: Set(id32(t.category_id.get()).ok_or_else(|| anyhow::anyhow!("category id out of range"))?),
                priority: Set(t.priority.as_str().to_owned()),
                status: Set(Status::Open.as_str().to_owned()),
                creator_id: Set(id32(t.creator_id.get()).ok_or_else(|| anyhow::anyhow!("creator id out of range"))?),
                created_at: Set(t.created_at),
                updated_at: Set(t.created_at),
                vote_count: Set(0),
                queue_key: Set(queue::queue_key(0, t.priority, t.created_at)),
                version: Set(1),
                ..Default::default()
            });
        }
        let mut rows = rows.into_iter().peekable();
        while rows.peek().is_some() {
            let chunk: Vec<_> = rows.by_ref().take(500).collect();
            tickets::Entity::insert_many(chunk).exec(&*tx).await?;
        }
        let ids: Vec<i32> = tickets::Entity::find()
            .select_only()
            .column(tickets::Column::Id)
            .filter(tickets::Column::Id.gt(before.unwrap_or(0)))
            .order_by_asc(tickets::Column::Id)
            .into_tuple()
            .all(&*tx)
            .await?;
        anyhow::ensure!(ids.len() == n, "imported {n} tickets but found {}", ids.len());
        tx.commit().await?;
        // A bulk change is what leaves the planner's statistics behind.
        self.analyze(&["tickets"]).await?;
        Ok(ids.into_iter().map(|id| TicketId::new(id.into())).collect())
    }
}
