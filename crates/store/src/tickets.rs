//! Tickets, their tags and their history.

use std::collections::{HashMap, HashSet};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use domain::accounts::UserId;
use domain::actor::{Actor, EventActor};
use domain::categories::CategoryId;
use domain::escalation::{SlaDue, SlaState, TicketSla};
use domain::page::{ListError, Page};
use domain::tickets::*;
use sea_orm::sea_query::{Expr, Func, LikeExpr};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    QueryTrait, Select, Set,
};

use crate::entity::{ticket_events, ticket_tags, tickets, users, votes, watchers};
use crate::{id32, Store};

fn to_ticket(m: tickets::Model, tags: Vec<String>, names: &HashMap<i32, String>) -> anyhow::Result<Ticket> {
    let bad = |what: &str, v: &str| anyhow::anyhow!("stored ticket {} has invalid {what} {v:?}", m.id);
    let user =
        |id: i32| UserRef { id: UserId::new(id.into()), display_name: names.get(&id).cloned().unwrap_or_default() };
    let resolution = match (m.resolution.as_deref(), m.resolved_by, m.resolved_at) {
        (Some(answer), Some(by), Some(at)) => Some(Resolution {
            answer: Answer::parse(answer, "answer").map_err(|_| bad("resolution", ""))?,
            resolved_by: UserId::new(by.into()),
            resolved_at: at,
        }),
        _ => None,
    };
    Ok(Ticket::restore(TicketRecord {
        id: TicketId::new(m.id.into()),
        title: Title::parse(&m.title).map_err(|_| bad("title", &m.title))?,
        description: Description::parse(&m.description).map_err(|_| bad("description", ""))?,
        category_id: CategoryId::new(m.category_id.into()),
        tags: Tags::parse(&tags).map_err(|_| bad("tags", &tags.join(",")))?,
        priority: Priority::parse(&m.priority).ok_or_else(|| bad("priority", &m.priority))?,
        status: Status::parse(&m.status).ok_or_else(|| bad("status", &m.status))?,
        creator_id: UserId::new(m.creator_id.into()),
        creator_name: names.get(&m.creator_id).cloned().unwrap_or_default(),
        created_at: m.created_at,
        updated_at: m.updated_at,
        vote_count: u32::try_from(m.vote_count).map_err(|_| bad("vote count", &m.vote_count.to_string()))?,
        version: m.version,
        assignee: m.assignee_id.map(user),
        resolution,
        merged_into: m.merged_into.map(|id| TicketId::new(id.into())),
        follow_up_of: m.follow_up_of.map(|id| TicketId::new(id.into())),
        sla: TicketSla {
            state: SlaState::parse(&m.sla_state).ok_or_else(|| bad("SLA state", &m.sla_state))?,
            due: match (m.first_response_due, m.resolution_due) {
                (Some(first_response), Some(resolution)) => Some(SlaDue { first_response, resolution }),
                _ => None,
            },
            first_response_at: m.first_response_at,
        },
        escalated_at: m.escalated_at,
        thread: None,
    }))
}

/// Turns rows into views for `viewer`, with three batched look-ups (tags, creators, votes).
pub(crate) async fn views(
    conn: &impl ConnectionTrait,
    rows: Vec<tickets::Model>,
    viewer: Option<i32>,
) -> anyhow::Result<Vec<TicketView>> {
    if rows.is_empty() {
        return Ok(vec![]);
    }
    let ids: Vec<i32> = rows.iter().map(|t| t.id).collect();
    let ids_for_threads = ids.clone();
    let mut tags: HashMap<i32, Vec<String>> = HashMap::new();
    for t in ticket_tags::Entity::find().filter(ticket_tags::Column::TicketId.is_in(ids.clone())).all(conn).await? {
        tags.entry(t.ticket_id).or_default().push(t.tag);
    }
    let people: HashSet<i32> = rows.iter().flat_map(|t| std::iter::once(t.creator_id).chain(t.assignee_id)).collect();
    let names: HashMap<i32, String> = users::Entity::find()
        .filter(users::Column::Id.is_in(people))
        .all(conn)
        .await?
        .into_iter()
        .map(|u| (u.id, u.display_name))
        .collect();
    let (voted, watching): (HashSet<i32>, HashSet<i32>) = match viewer {
        Some(v) => (
            votes::Entity::find()
                .filter(votes::Column::UserId.eq(v))
                .filter(votes::Column::TicketId.is_in(ids.clone()))
                .all(conn)
                .await?
                .into_iter()
                .map(|v| v.ticket_id)
                .collect(),
            watchers::Entity::find()
                .filter(watchers::Column::UserId.eq(v))
                .filter(watchers::Column::TicketId.is_in(ids))
                .all(conn)
                .await?
                .into_iter()
                .map(|w| w.ticket_id)
                .collect(),
        ),
        None => (HashSet::new(), HashSet::new()),
    };
    let mut threads: HashMap<i32, domain::forum::ForumThread> = HashMap::new();
    for thread in crate::forum::threads_of(conn, &ids_for_threads).await? {
        threads.insert(crate::id32(thread.ticket.get()).unwrap_or_default(), thread);
    }
    rows.into_iter()
        .map(|m| {
            let id = m.id;
            let ticket = to_ticket(m, tags.remove(&id).unwrap_or_default(), &names)?.with_thread(threads.remove(&id));
            Ok(TicketView { ticket, voted: voted.contains(&id), watching: watching.contains(&id) })
        })
        .collect()
}

/// A user as the actor of an event (`id` is a stored user id).
pub(crate) fn user_actor(id: i32) -> Actor {
    Actor::User(UserId::new(id.into()))
}

/// Records one event by `actor` and fans out its notifications; part of the caller's
/// transaction.
pub(crate) async fn record(
    tx: &crate::WriteTx<'_>,
    ticket: i32,
    actor: Actor,
    at: DateTime<Utc>,
    change: &Change,
) -> anyhow::Result<()> {
    let actor = match actor.user() {
        Some(user) => (Some(id32(user.get()).ok_or_else(|| anyhow::anyhow!("actor id out of range"))?), actor.kind()),
        None => (None, actor.kind()),
    };
    let event = ticket_events::ActiveModel {
        ticket_id: Set(ticket),
        actor_id: Set(actor.0),
        actor_kind: Set(actor.1.to_owned()),
        at: Set(at),
        kind: Set(change.kind().to_owned()),
        change: Set(serde_json::to_string(change)?),
        ..Default::default()
    }
    .insert(&**tx)
    .await?;
    // Notifications and their deliveries commit or roll back with the change itself.
    if crate::notifications::write_effects(&**tx, ticket, event.id, actor.0, at, change).await? > 0 {
        tx.enqueued();
    }
    Ok(())
}

/// Sets a ticket's escalation time unless it was escalated before; part of the caller's
/// transaction.
pub(crate) async fn mark_escalated(conn: &impl ConnectionTrait, ticket: i32, at: DateTime<Utc>) -> anyhow::Result<()> {
    tickets::Entity::update_many()
        .col_expr(tickets::Column::EscalatedAt, Expr::value(at))
        .filter(tickets::Column::Id.eq(ticket))
        .filter(tickets::Column::EscalatedAt.is_null())
        .exec(conn)
        .await?;
    Ok(())
}

/// Recomputes a ticket's queue key from its stored votes, priority and age; part of the
/// caller's transaction (which holds the row's write lock).
pub(crate) async fn requeue(conn: &impl ConnectionTrait, ticket: i32) -> anyhow::Result<tickets::Model> {
    let row = tickets::Entity::find_by_id(ticket)
        .one(conn)
        .await?
        .ok_or_else(|| anyhow::anyhow!("ticket {ticket} vanished inside its transaction"))?;
    let priority = Priority::parse(&row.priority).ok_or_else(|| anyhow::anyhow!("bad stored priority"))?;
    let key = queue::queue_key(u32::try_from(row.vote_count).unwrap_or(0), priority, row.created_at);
    tickets::Entity::update_many()
        .col_expr(tickets::Column::QueueKey, Expr::value(key))
        .filter(tickets::Column::Id.eq(ticket))
        .exec(conn)
        .await?;
    Ok(tickets::Model { queue_key: key, ..row })
}

async fn write_tags(conn: &impl ConnectionTrait, ticket: i32, tags: &Tags) -> anyhow::Result<()> {
    ticket_tags::Entity::delete_many().filter(ticket_tags::Column::TicketId.eq(ticket)).exec(conn).await?;
    insert_tags(conn, ticket, tags).await
}

/// Adds a ticket's tags (a new ticket has none to replace).
async fn insert_tags(conn: &impl ConnectionTrait, ticket: i32, tags: &Tags) -> anyhow::Result<()> {
    if !tags.as_slice().is_empty() {
        ticket_tags::Entity::insert_many(
            tags.as_slice()
                .iter()
                .map(|t| ticket_tags::ActiveModel { ticket_id: Set(ticket), tag: Set(t.as_str().to_owned()) }),
        )
        .exec(conn)
        .await?;
    }
    Ok(())
}

/// The keyset cursor after `m` ([`TicketPosition`]): works with every order.
fn cursor_of(m: &tickets::Model) -> String {
    TicketPosition { id: m.id, votes: m.vote_count, queue_key: m.queue_key }.encode()
}

pub(crate) fn like_pattern(text: &str) -> String {
    let escaped: String = text
        .to_lowercase()
        .chars()
        .flat_map(|c| match c {
            '%' | '_' | '\\' => vec!['\\', c],
            c => vec![c],
        })
        .collect();
    format!("%{escaped}%")
}

/// The statement [`TicketRepository::list`] runs: one more row than the page, so the caller
/// knows whether there is a next page. Every documented filter and sort has an index
/// (migration `000011`); `Store::explain_list` shows the plan.
fn list_select(query: &TicketQuery, viewer: i32, backend: DbBackend) -> Result<Select<tickets::Entity>, ListError> {
    let mut q = tickets::Entity::find();
    if let Some(status) = query.status {
        q = q.filter(tickets::Column::Status.eq(status.as_str()));
    }
    if let Some(priority) = query.priority {
        q = q.filter(tickets::Column::Priority.eq(priority.as_str()));
    }
    if let Some(sla) = query.sla {
        q = q.filter(tickets::Column::SlaState.eq(sla.as_str()));
    }
    if let Some(category) = query.category_id {
        // An id no row can have matches nothing.
        q = q.filter(tickets::Column::CategoryId.eq(id32(category.get()).unwrap_or(-1)));
    }
    if let Some(tag) = &query.tag {
        q = q.filter(
            tickets::Column::Id.in_subquery(
                sea_orm::sea_query::Query::select()
                    .column(ticket_tags::Column::TicketId)
                    .from(ticket_tags::Entity)
                    .and_where(ticket_tags::Column::Tag.eq(tag.as_str()))
                    .to_owned(),
            ),
        );
    }
    if query.mine {
        q = q.filter(tickets::Column::CreatorId.eq(viewer));
    }
    if query.unresolved {
        q = q.filter(unresolved(backend));
    }
    match query.assignee {
        AssigneeFilter::Anyone => {}
        AssigneeFilter::Unassigned => q = q.filter(tickets::Column::AssigneeId.is_null()),
        AssigneeFilter::User(u) => q = q.filter(tickets::Column::AssigneeId.eq(id32(u.get()).unwrap_or(-1))),
    }
    if query.voted_by_me {
        q = q.filter(
            tickets::Column::Id.in_subquery(
                sea_orm::sea_query::Query::select()
                    .column(votes::Column::TicketId)
                    .from(votes::Entity)
                    .and_where(votes::Column::UserId.eq(viewer))
                    .to_owned(),
            ),
        );
    }
    if let Some(text) = &query.text {
        let pattern = like_pattern(text);
        q = q.filter(
            Expr::expr(Func::lower(Expr::col(tickets::Column::Title)))
                .like(LikeExpr::new(pattern.clone()).escape('\\'))
                .or(Expr::expr(Func::lower(Expr::col(tickets::Column::Description)))
                    .like(LikeExpr::new(pattern).escape('\\'))),
        );
    }
    if let Some(raw) = &query.cursor {
        let at = TicketPosition::parse(raw).ok_or(ListError::InvalidCursor)?;
        let id = tickets::Column::Id;
        // Row values, `(votes, id) < (v, after)`: both databases read them as one index
        // range, where `votes < v OR (votes = v AND id < after)` would scan from the top.
        let before = |col: tickets::Column, value: sea_orm::Value, after: i32| {
            Expr::tuple([Expr::col((tickets::Entity, col)).into(), Expr::col((tickets::Entity, id)).into()])
                .lt(Expr::tuple([Expr::val(value).into(), Expr::val(after).into()]))
        };
        q = match query.sort {
            TicketSort::Newest => q.filter(id.lt(at.id)),
            TicketSort::MostVotes => q.filter(before(tickets::Column::VoteCount, at.votes.into(), at.id)),
            TicketSort::Queue => q.filter(before(tickets::Column::QueueKey, at.queue_key.into(), at.id)),
        };
    }
    q = match query.sort {
        TicketSort::Newest => q,
        TicketSort::MostVotes => q.order_by_desc(tickets::Column::VoteCount),
        TicketSort::Queue => q.order_by_desc(tickets::Column::QueueKey),
    }
    .order_by_desc(tickets::Column::Id);
    Ok(q.limit(u64::from(query.limit.get()) + 1))
}

/// Unresolved tickets (`open`, `in_progress`), written as literally as the partial indexes'
/// condition (`tickets_unresolved_*_idx`): SQLite uses a partial index only for a query
/// whose condition contains the index's own, and PostgreSQL cannot prove that a bound
/// parameter matches it in a generic plan.
fn unresolved(backend: DbBackend) -> sea_orm::sea_query::SimpleExpr {
    // SQLite: `+` as in the indexes' condition (see migration `000011`).
    let plus = if backend == DbBackend::Sqlite { "+" } else { "" };
    Expr::cust(format!("{plus}status IN ('{}', '{}')", Status::Open.as_str(), Status::InProgress.as_str()))
}

#[async_trait]
impl TicketRepository for Store {
    async fn create(&self, ticket: NewTicket) -> anyhow::Result<Ticket> {
        let creator = id32(ticket.creator_id.get()).ok_or_else(|| anyhow::anyhow!("creator id out of range"))?;
        let category = id32(ticket.category_id.get()).ok_or_else(|| anyhow::anyhow!("category id out of range"))?;
        // Read before the write transaction, so the write lock is held for writes only.
        let names: HashMap<i32, String> = users::Entity::find_by_id(creator)
            .one(&self.db)
            .await?
            .map(|u| (u.id, u.display_name))
            .into_iter()
            .collect();
        let tx = self.write().await?;
        let row = tickets::ActiveModel {
            title: Set(ticket.title.as_str().to_owned()),
            description: Set(ticket.description.as_str().to_owned()),
            category_id: Set(category),
            priority: Set(ticket.priority.as_str().to_owned()),
            status: Set(Status::Open.as_str().to_owned()),
            creator_id: Set(creator),
            created_at: Set(ticket.created_at),
            updated_at: Set(ticket.created_at),
            vote_count: Set(0),
            queue_key: Set(queue::queue_key(0, ticket.priority, ticket.created_at)),
            version: Set(1),
            follow_up_of: Set(ticket.follow_up_of.and_then(|t| id32(t.get()))),
            first_response_due: Set(ticket.sla_due.map(|d| d.first_response)),
            resolution_due: Set(ticket.sla_due.map(|d| d.resolution)),
            escalated_at: Set(ticket.escalation.as_ref().map(|_| ticket.created_at)),
            ..Default::default()
        }
        .insert(&*tx)
        .await?;
        insert_tags(&*tx, row.id, &ticket.tags).await?;
        // The creator watches their ticket from the start.
        watchers::ActiveModel {
            ticket_id: Set(row.id),
            user_id: Set(creator),
            created_at: Set(ticket.created_at),
            merge_id: Set(None),
        }
        .insert(&*tx)
        .await?;
        let created = Change::Created { title: row.title.clone(), priority: ticket.priority };
        record(&tx, row.id, Actor::User(ticket.creator_id), ticket.created_at, &created).await?;
        if let Some(reason) = ticket.escalation {
            let escalated = Change::Escalated { reason };
            record(&tx, row.id, Actor::User(ticket.creator_id), ticket.created_at, &escalated).await?;
        }
        tx.commit().await?;
        // Everything the view needs is at hand: no read after the commit either.
        to_ticket(row, ticket.tags.to_strings(), &names)
    }

    async fn get(&self, id: TicketId, viewer: UserId) -> anyhow::Result<Option<TicketView>> {
        let Some(id) = id32(id.get()) else { return Ok(None) };
        let Some(row) = tickets::Entity::find_by_id(id).one(&self.db).await? else { return Ok(None) };
        Ok(views(&self.db, vec![row], id32(viewer.get())).await?.pop())
    }

    async fn update(&self, transition: Transition, actor: Actor) -> Result<Ticket, UpdateTicketError> {
        let Transition { ticket, changes } = transition;
        let updated = ticket.record();
        let id = id32(updated.id.get()).ok_or(UpdateTicketError::NotFound)?;
        let category = id32(updated.category_id.get()).ok_or_else(|| anyhow::anyhow!("category id out of range"))?;
        let assignee = updated.assignee.as_ref().and_then(|a| id32(a.id.get()));
        let resolution = updated.resolution.as_ref();
        let resolved_by = resolution.and_then(|r| id32(r.resolved_by.get()));
        let tx = self.write().await.map_err(anyhow::Error::from)?;
        let result = tickets::Entity::update_many()
            .col_expr(tickets::Column::Title, Expr::value(updated.title.as_str()))
            .col_expr(tickets::Column::Description, Expr::value(updated.description.as_str()))
            .col_expr(tickets::Column::CategoryId, Expr::value(category))
            .col_expr(tickets::Column::Priority, Expr::value(updated.priority.as_str()))
            .col_expr(tickets::Column::Status, Expr::value(updated.status.as_str()))
            .col_expr(tickets::Column::UpdatedAt, Expr::value(updated.updated_at))
            .col_expr(tickets::Column::AssigneeId, Expr::value(assignee))
            .col_expr(tickets::Column::Resolution, Expr::value(resolution.map(|r| r.answer.as_str().to_owned())))
            .col_expr(tickets::Column::ResolvedAt, Expr::value(resolution.map(|r| r.resolved_at)))
            .col_expr(tickets::Column::ResolvedBy, Expr::value(resolved_by))
            .col_expr(tickets::Column::FirstResponseDue, Expr::value(updated.sla.due.map(|d| d.first_response)))
            .col_expr(tickets::Column::ResolutionDue, Expr::value(updated.sla.due.map(|d| d.resolution)))
            .col_expr(tickets::Column::Version, Expr::col(tickets::Column::Version).add(1))
            .filter(tickets::Column::Id.eq(id))
            .filter(tickets::Column::Version.eq(updated.version))
            .exec(&*tx)
            .await
            .map_err(anyhow::Error::from)?;
        if result.rows_affected == 0 {
            let exists = tickets::Entity::find_by_id(id).one(&*tx).await.map_err(anyhow::Error::from)?.is_some();
            return Err(if exists { UpdateTicketError::Stale } else { UpdateTicketError::NotFound });
        }
        if changes.iter().any(|c| matches!(c, Change::TagsChanged { .. })) {
            write_tags(&*tx, id, &updated.tags).await?;
        }
        for change in &changes {
            record(&tx, id, actor, updated.updated_at, change).await?;
        }
        if changes.iter().any(|c| matches!(c, Change::Escalated { .. })) {
            mark_escalated(&*tx, id, updated.updated_at).await?;
        }
        let row = requeue(&*tx, id).await?;
        let view = views(&*tx, vec![row], None).await?.pop().expect("one row in, one view out");
        tx.commit().await.map_err(anyhow::Error::from)?;
        Ok(view.ticket)
    }

    async fn list(&self, query: TicketQuery) -> Result<Page<TicketView>, ListError> {
        let viewer = id32(query.viewer.get()).ok_or_else(|| anyhow::anyhow!("viewer id out of range"))?;
        let n = query.limit.get() as usize;
        let rows = list_select(&query, viewer, self.db.get_database_backend())?
            .all(&self.db)
            .await
            .map_err(anyhow::Error::from)?;
        let mut rows = rows;
        let next_cursor = (rows.len() > n).then(|| cursor_of(&rows[n - 1]));
        rows.truncate(n);
        Ok(Page { items: views(&self.db, rows, Some(viewer)).await?, next_cursor })
    }

    async fn history(&self, id: TicketId) -> anyhow::Result<Vec<TicketEvent>> {
        let Some(id) = id32(id.get()) else { return Ok(vec![]) };
        let rows = ticket_events::Entity::find()
            .filter(ticket_events::Column::TicketId.eq(id))
            .order_by_asc(ticket_events::Column::Id)
            .all(&self.db)
            .await?;
        let actor_ids: HashSet<i32> = rows.iter().filter_map(|e| e.actor_id).collect();
        let names: HashMap<i32, String> = users::Entity::find()
            .filter(users::Column::Id.is_in(actor_ids))
            .all(&self.db)
            .await?
            .into_iter()
            .map(|u| (u.id, u.display_name))
            .collect();
        rows.into_iter()
            .map(|e| {
                let user = e.actor_id.map(|a| UserId::new(a.into()));
                let actor = match Actor::from_parts(&e.actor_kind, user) {
                    Some(Actor::User(id)) => EventActor::User(UserRef {
                        id,
                        display_name: e.actor_id.and_then(|a| names.get(&a).cloned()).unwrap_or_default(),
                    }),
                    Some(Actor::System) => EventActor::System,
                    Some(Actor::Integration(i)) => EventActor::Integration(i),
                    None => anyhow::bail!("event {} has an invalid actor {:?}", e.id, e.actor_kind),
                };
                Ok(TicketEvent {
                    id: e.id.into(),
                    ticket_id: TicketId::new(e.ticket_id.into()),
                    actor,
                    at: e.at,
                    change: serde_json::from_str(&e.change)?,
                })
            })
            .collect()
    }
}

impl Store {
    /// The query plan of the statement [`TicketRepository::list`] runs for `query`, one line
    /// per plan node, for tests and benchmarks. SQLite: `EXPLAIN QUERY PLAN`. PostgreSQL:
    /// `EXPLAIN` with sequential scans and sorts disabled for the transaction, so the plan
    /// is the one a large table would get: a `Seq Scan` or `Sort` left in it means no index
    /// serves this filter and sort.
    pub async fn explain_list(&self, query: TicketQuery) -> anyhow::Result<Vec<String>> {
        let viewer = id32(query.viewer.get()).ok_or_else(|| anyhow::anyhow!("viewer id out of range"))?;
        let backend = self.db.get_database_backend();
        let statement = list_select(&query, viewer, backend).map_err(|e| anyhow::anyhow!("{e:?}"))?.build(backend);
        let txn = sea_orm::TransactionTrait::begin(&self.db).await?;
        let (prefix, column) = match self.backend() {
            crate::Backend::Sqlite => ("EXPLAIN QUERY PLAN ", "detail"),
            crate::Backend::Postgres => {
                txn.execute_unprepared("SET LOCAL enable_seqscan = off").await?;
                txn.execute_unprepared("SET LOCAL enable_sort = off").await?;
                ("EXPLAIN ", "QUERY PLAN")
            }
        };
        let explain = sea_orm::Statement {
            sql: format!("{prefix}{}", statement.sql),
            values: statement.values,
            db_backend: backend,
        };
        let rows = txn.query_all(explain).await?;
        txn.rollback().await?;
        rows.iter().map(|row| Ok(row.try_get::<String>("", column)?)).collect()
    }
}
