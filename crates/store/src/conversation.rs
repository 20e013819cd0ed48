//! Replies, internal notes and watchers.

use std::collections::{HashMap, HashSet};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use domain::accounts::UserId;
use domain::conversation::*;
use domain::tickets::{Answer, Change, TicketId, UserRef};
use sea_orm::sea_query::{OnConflict, Query};
use sea_orm::{ActiveModelTrait, ColumnTrait, Condition, EntityTrait, QueryFilter, QueryOrder, Set};

use crate::entity::{replies, tickets, users, watchers};
use crate::tickets::{record, user_actor};
use crate::{id32, Store};

fn to_reply(m: replies::Model, names: &HashMap<i32, String>) -> anyhow::Result<Reply> {
    Ok(Reply {
        id: ReplyId::new(m.id.into()),
        ticket_id: TicketId::new(m.ticket_id.into()),
        author: UserRef {
            id: UserId::new(m.author_id.into()),
            display_name: names.get(&m.author_id).cloned().unwrap_or_default(),
        },
        body: Answer::parse(&m.body, "body").map_err(|e| anyhow::anyhow!("stored reply {} invalid: {e}", m.id))?,
        internal: m.internal,
        created_at: m.created_at,
    })
}

fn pair(ticket: TicketId, user: UserId) -> anyhow::Result<(i32, i32)> {
    Ok((
        id32(ticket.get()).ok_or_else(|| anyhow::anyhow!("ticket id out of range"))?,
        id32(user.get()).ok_or_else(|| anyhow::anyhow!("user id out of range"))?,
    ))
}

/// Makes `user` watch `ticket` unless they already do; part of the caller's transaction.
pub(crate) async fn add_watcher(
    conn: &impl sea_orm::ConnectionTrait,
    ticket: i32,
    user: i32,
    at: DateTime<Utc>,
) -> anyhow::Result<bool> {
    let inserted = watchers::Entity::insert(watchers::ActiveModel {
        ticket_id: Set(ticket),
        user_id: Set(user),
        created_at: Set(at),
        merge_id: Set(None),
    })
    .on_conflict(OnConflict::columns([watchers::Column::TicketId, watchers::Column::UserId]).do_nothing().to_owned())
    .exec_without_returning(conn)
    .await?;
    Ok(inserted > 0)
}

#[async_trait]
impl ReplyRepository for Store {
    async fn add(&self, reply: NewReply) -> anyhow::Result<Reply> {
        let (ticket, author) = pair(reply.ticket_id, reply.author)?;
        let tx = self.write().await?;
        let row = replies::ActiveModel {
            ticket_id: Set(ticket),
            author_id: Set(author),
            body: Set(reply.body.as_str().to_owned()),
            internal: Set(reply.internal),
            created_at: Set(reply.created_at),
            ..Default::default()
        }
        .insert(&*tx)
        .await?;
        if !reply.internal {
            add_watcher(&*tx, ticket, author, reply.created_at).await?;
            // The first public reply by staff stops the ticket's first-response timer.
            crate::notifications::exec(
                &*tx,
                "UPDATE tickets SET first_response_at = $2 WHERE id = $1 AND first_response_at IS NULL \
                 AND EXISTS (SELECT 1 FROM users WHERE id = $3 AND role IN ('support', 'admin'))",
                vec![ticket.into(), reply.created_at.into(), author.into()],
            )
            .await?;
        }
        let change = Change::ReplyAdded { reply_id: row.id.into(), internal: reply.internal };
        record(&tx, ticket, user_actor(author), reply.created_at, &change).await?;
        let name = users::Entity::find_by_id(author).one(&*tx).await?.map(|u| u.display_name).unwrap_or_default();
        tx.commit().await?;
        to_reply(row, &HashMap::from([(author, name)]))
    }

    async fn list(&self, ticket: TicketId, include_internal: bool) -> anyhow::Result<Vec<Reply>> {
        let Some(ticket) = id32(ticket.get()) else { return Ok(vec![]) };
        let merged_here = Query::select()
            .column(tickets::Column::Id)
            .from(tickets::Entity)
            .and_where(tickets::Column::MergedInto.eq(ticket))
            .to_owned();
        let mut q = replies::Entity::find().filter(
            Condition::any()
                .add(replies::Column::TicketId.eq(ticket))
                .add(replies::Column::TicketId.in_subquery(merged_here)),
        );
        if !include_internal {
            q = q.filter(replies::Column::Internal.eq(false));
        }
        let rows = q.order_by_asc(replies::Column::CreatedAt).order_by_asc(replies::Column::Id).all(&self.db).await?;
        let authors: HashSet<i32> = rows.iter().map(|r| r.author_id).collect();
        let names: HashMap<i32, String> = users::Entity::find()
            .filter(users::Column::Id.is_in(authors))
            .all(&self.db)
            .await?
            .into_iter()
            .map(|u| (u.id, u.display_name))
            .collect();
        rows.into_iter().map(|r| to_reply(r, &names)).collect()
    }
}

#[async_trait]
impl WatcherRepository for Store {
    async fn watch(&self, ticket: TicketId, user: UserId, at: DateTime<Utc>) -> anyhow::Result<bool> {
        let (ticket, user) = pair(ticket, user)?;
        let tx = self.write().await?;
        let added = add_watcher(&*tx, ticket, user, at).await?;
        if added {
            record(&tx, ticket, user_actor(user), at, &Change::Watched).await?;
        }
        tx.commit().await?;
        Ok(added)
    }

    async fn unwatch(&self, ticket: TicketId, user: UserId, at: DateTime<Utc>) -> anyhow::Result<bool> {
        let (ticket, user) = pair(ticket, user)?;
        let tx = self.write().await?;
        let deleted = watchers::Entity::delete_many()
            .filter(watchers::Column::TicketId.eq(ticket))
            .filter(watchers::Column::UserId.eq(user))
            .exec(&*tx)
            .await?;
        let removed = deleted.rows_affected > 0;
        if removed {
            record(&tx, ticket, user_actor(user), at, &Change::Unwatched).await?;
        }
        tx.commit().await?;
        Ok(removed)
    }
}
