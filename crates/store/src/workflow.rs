//! The support workflow's set-based operations: merge and unmerge, automatic closing,
//! assignment candidates and reports.

use std::collections::HashMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use domain::accounts::{AccountStatus, Role, UserId};
use domain::actor::Actor;
use domain::categories::CategoryId;
use domain::tickets::{Change, Status, Ticket, TicketId, UserRef};
use domain::workflow::assignment::Candidate;
use domain::workflow::*;
use sea_orm::sea_query::{Expr, OnConflict, Query};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect,
    Set,
};

use crate::entity::{categories, merges, ticket_events, tickets, users, votes, watchers};
use crate::tickets::{record, requeue, views};
use crate::votes::bump;
use crate::{id32, Store};

const ACTIVE: [&str; 3] = ["open", "in_progress", "resolved"];
const UNRESOLVED: [&str; 2] = ["open", "in_progress"];

fn id(t: TicketId) -> anyhow::Result<i32> {
    id32(t.get()).ok_or_else(|| anyhow::anyhow!("ticket id out of range"))
}

fn uid(u: UserId) -> anyhow::Result<i32> {
    id32(u.get()).ok_or_else(|| anyhow::anyhow!("user id out of range"))
}

/// The user a merge is recorded against (`merges.actor_id`): merges are staff actions.
fn merged_by(by: Actor) -> anyhow::Result<i32> {
    uid(by.user().ok_or_else(|| anyhow::anyhow!("a merge is made by a staff member, not by {}", by.kind()))?)
}

/// Locks two tickets' rows in id order, so that concurrent merges cannot deadlock.
async fn lock_pair(conn: &impl ConnectionTrait, a: i32, b: i32) -> anyhow::Result<()> {
    let (first, second) = if a < b { (a, b) } else { (b, a) };
    bump(conn, first, 0).await?;
    bump(conn, second, 0).await
}

async fn recount(conn: &impl ConnectionTrait, ticket: i32) -> anyhow::Result<()> {
    // Exact under concurrency: the caller holds the ticket's row lock, and every vote
    // transaction takes that lock before touching the votes table.
    let n = votes::Entity::find().filter(votes::Column::TicketId.eq(ticket)).count(conn).await?;
    tickets::Entity::update_many()
        .col_expr(tickets::Column::VoteCount, Expr::value(i32::try_from(n)?))
        .filter(tickets::Column::Id.eq(ticket))
        .exec(conn)
        .await?;
    Ok(())
}

/// Copies the people of a per-person table (`votes`, `watchers`) from the merged ticket to the
/// target in one `INSERT … SELECT`, each row tagged with the merge (so an unmerge can take back
/// exactly these), skipping `except` and anyone already on the target. Returns the rows added.
async fn carry_over<E: EntityTrait>(
    conn: &impl ConnectionTrait,
    entity: E,
    [ticket_id, user_id, created_at, merge_id]: [E::Column; 4],
    (source, target, at, merge): (i32, i32, DateTime<Utc>, i32),
    except: Option<i32>,
) -> anyhow::Result<u64> {
    let mut people = Query::select();
    people
        .expr(Expr::val(target))
        .column(user_id)
        .expr(Expr::val(at))
        .expr(Expr::val(merge))
        .from(entity)
        .and_where(ticket_id.eq(source));
    if let Some(user) = except {
        people.and_where(user_id.ne(user));
    }
    let insert = Query::insert()
        .into_table(entity)
        .columns([ticket_id, user_id, created_at, merge_id])
        .select_from(people)
        .map_err(|e| anyhow::anyhow!("building the carry-over into {}: {e}", entity.table_name()))?
        .on_conflict(OnConflict::columns([ticket_id, user_id]).do_nothing().to_owned())
        .to_owned();
    Ok(conn.execute(conn.get_database_backend().build(&insert)).await?.rows_affected())
}

async fn ticket_of(conn: &impl ConnectionTrait, row: tickets::Model) -> anyhow::Result<Ticket> {
    Ok(views(conn, vec![row], None).await?.pop().expect("one row in, one view out").ticket)
}

async fn count_by(
    conn: &impl ConnectionTrait,
    column: tickets::Column,
    filter: sea_orm::Condition,
) -> anyhow::Result<HashMap<i32, u32>> {
    let rows: Vec<(Option<i32>, i64)> = tickets::Entity::find()
        .select_only()
        .column(column)
        .column_as(tickets::Column::Id.count(), "n")
        .filter(filter)
        .group_by(column)
        .into_tuple()
        .all(conn)
        .await?;
    Ok(rows.into_iter().filter_map(|(k, n)| k.map(|k| (k, u32::try_from(n).unwrap_or(u32::MAX)))).collect())
}

fn unresolved() -> sea_orm::Condition {
    sea_orm::Condition::all()
        .add(tickets::Column::Status.is_in(UNRESOLVED))
        .add(tickets::Column::AssigneeId.is_not_null())
}

/// Per member: tickets resolved (events) and assigned (events) since `since`.
async fn activity_since(conn: &impl ConnectionTrait, since: DateTime<Utc>) -> anyhow::Result<HashMap<i32, Activity>> {
    let events = ticket_events::Entity::find()
        .filter(ticket_events::Column::At.gte(since))
        .filter(ticket_events::Column::Kind.is_in(["resolved", "assignee_changed"]))
        .all(conn)
        .await?;
    let mut out: HashMap<i32, Activity> = HashMap::new();
    for e in events {
        match serde_json::from_str::<Change>(&e.change)? {
            Change::Resolved { .. } => {
                if let Some(actor) = e.actor_id {
                    out.entry(actor).or_default().resolved += 1;
                }
            }
            Change::AssigneeChanged { to: Some(to), .. } => {
                if let Ok(to) = i32::try_from(to) {
                    out.entry(to).or_default().assigned += 1;
                }
            }
            _ => {}
        }
    }
    Ok(out)
}

#[async_trait]
impl WorkflowRepository for Store {
    async fn candidates(&self, category: CategoryId, similar: Vec<TicketId>) -> anyhow::Result<Vec<Candidate>> {
        let members = users::Entity::find()
            .filter(users::Column::Role.eq(Role::Support.as_str()))
            .filter(users::Column::Status.eq(AccountStatus::Active.as_str()))
            .all(&self.db)
            .await?;
        let owner = match id32(category.get()) {
            Some(c) => categories::Entity::find_by_id(c).one(&self.db).await?.and_then(|c| c.owner_id),
            None => None,
        };
        let load = count_by(&self.db, tickets::Column::AssigneeId, unresolved()).await?;
        let similar: Vec<i32> = similar.into_iter().filter_map(|t| id32(t.get())).collect();
        let resolved = if similar.is_empty() {
            HashMap::new()
        } else {
            count_by(
                &self.db,
                tickets::Column::ResolvedBy,
                sea_orm::Condition::all().add(tickets::Column::Id.is_in(similar)),
            )
            .await?
        };
        Ok(members
            .into_iter()
            .map(|m| Candidate {
                member: UserId::new(m.id.into()),
                similar_resolved: resolved.get(&m.id).copied().unwrap_or(0),
                owns_category: owner == Some(m.id),
                open_load: load.get(&m.id).copied().unwrap_or(0),
            })
            .collect())
    }

    async fn merge(
        &self,
        source: TicketId,
        target: TicketId,
        by: Actor,
        at: DateTime<Utc>,
    ) -> Result<MergeReport, MergeError> {
        let (source, target, actor) = (id(source)?, id(target)?, merged_by(by)?);
        let tx = self.write().await.map_err(anyhow::Error::from)?;
        lock_pair(&*tx, source, target).await?;
        let s = tickets::Entity::find_by_id(source).one(&*tx).await.map_err(anyhow::Error::from)?;
        let t = tickets::Entity::find_by_id(target).one(&*tx).await.map_err(anyhow::Error::from)?;
        let (Some(s), Some(t)) = (s, t) else { return Err(MergeError::Changed) };
        if !ACTIVE.contains(&s.status.as_str()) || !ACTIVE.contains(&t.status.as_str()) {
            return Err(MergeError::Changed);
        }
        tickets::Entity::update_many()
            .col_expr(tickets::Column::Status, Expr::value(Status::Merged.as_str()))
            .col_expr(tickets::Column::MergedInto, Expr::value(Some(target)))
            .col_expr(tickets::Column::PreMergeStatus, Expr::value(Some(s.status.clone())))
            .col_expr(tickets::Column::Version, Expr::col(tickets::Column::Version).add(1))
            .col_expr(tickets::Column::UpdatedAt, Expr::value(at))
            .filter(tickets::Column::Id.eq(source))
            .exec(&*tx)
            .await
            .map_err(anyhow::Error::from)?;
        let merge = merges::ActiveModel {
            source_id: Set(source),
            target_id: Set(target),
            actor_id: Set(actor),
            merged_at: Set(at),
            unmerged_at: Set(None),
            ..Default::default()
        }
        .insert(&*tx)
        .await
        .map_err(anyhow::Error::from)?;

        // B's voters join A, except A's creator; people who voted on both count once.
        let mut votes_added = carry_over(
            &*tx,
            votes::Entity,
            [votes::Column::TicketId, votes::Column::UserId, votes::Column::CreatedAt, votes::Column::MergeId],
            (source, target, at, merge.id),
            Some(t.creator_id),
        )
        .await?;
        // B's creator raised the same concern: a "me too" on A.
        if s.creator_id != t.creator_id {
            votes_added += votes::Entity::insert(votes::ActiveModel {
                ticket_id: Set(target),
                user_id: Set(s.creator_id),
                created_at: Set(at),
                merge_id: Set(Some(merge.id)),
            })
            .on_conflict(OnConflict::columns([votes::Column::TicketId, votes::Column::UserId]).do_nothing().to_owned())
            .exec_without_returning(&*tx)
            .await
            .map_err(anyhow::Error::from)?;
        }
        // B's watchers watch A; people who watched both are listed once.
        let watchers_added = carry_over(
            &*tx,
            watchers::Entity,
            [
                watchers::Column::TicketId,
                watchers::Column::UserId,
                watchers::Column::CreatedAt,
                watchers::Column::MergeId,
            ],
            (source, target, at, merge.id),
            None,
        )
        .await?;

        recount(&*tx, target).await?;
        let row = requeue(&*tx, target).await?;
        record(&tx, source, by, at, &Change::MergedInto { target: target.into() }).await?;
        let votes_added = u32::try_from(votes_added).unwrap_or(u32::MAX);
        record(&tx, target, by, at, &Change::MergedFrom { source: source.into(), votes_added }).await?;
        let target = ticket_of(&*tx, row).await?;
        tx.commit().await.map_err(anyhow::Error::from)?;
        Ok(MergeReport { target, votes_added, watchers_added: u32::try_from(watchers_added).unwrap_or(u32::MAX) })
    }

    async fn active_merge(&self, source: TicketId) -> anyhow::Result<Option<MergeRecord>> {
        let Some(source) = id32(source.get()) else { return Ok(None) };
        let found = merges::Entity::find()
            .filter(merges::Column::SourceId.eq(source))
            .filter(merges::Column::UnmergedAt.is_null())
            .order_by_desc(merges::Column::Id)
            .one(&self.db)
            .await?;
        Ok(found.map(|m| MergeRecord {
            id: m.id.into(),
            source: TicketId::new(m.source_id.into()),
            target: TicketId::new(m.target_id.into()),
            merged_at: m.merged_at,
        }))
    }

    async fn unmerge(&self, merge: &MergeRecord, by: Actor, at: DateTime<Utc>) -> Result<Ticket, MergeError> {
        let (source, target) = (id(merge.source)?, id(merge.target)?);
        let merge_id = i32::try_from(merge.id).map_err(anyhow::Error::from)?;
        let tx = self.write().await.map_err(anyhow::Error::from)?;
        lock_pair(&*tx, source, target).await?;
        let closed = merges::Entity::update_many()
            .col_expr(merges::Column::UnmergedAt, Expr::value(Some(at)))
            .filter(merges::Column::Id.eq(merge_id))
            .filter(merges::Column::UnmergedAt.is_null())
            .exec(&*tx)
            .await
            .map_err(anyhow::Error::from)?;
        let s = tickets::Entity::find_by_id(source).one(&*tx).await.map_err(anyhow::Error::from)?;
        let Some(s) = s.filter(|s| closed.rows_affected == 1 && s.merged_into == Some(target)) else {
            return Err(MergeError::Changed);
        };
        // People who acted on A since the merge keep their A-side state.
        let acted = Query::select()
            .column(ticket_events::Column::ActorId)
            .from(ticket_events::Entity)
            .and_where(ticket_events::Column::TicketId.eq(target))
            .and_where(ticket_events::Column::At.gt(merge.merged_at))
            .and_where(ticket_events::Column::ActorId.is_not_null())
            .to_owned();
        votes::Entity::delete_many()
            .filter(votes::Column::TicketId.eq(target))
            .filter(votes::Column::MergeId.eq(merge_id))
            .filter(votes::Column::UserId.not_in_subquery(acted.clone()))
            .exec(&*tx)
            .await
            .map_err(anyhow::Error::from)?;
        watchers::Entity::delete_many()
            .filter(watchers::Column::TicketId.eq(target))
            .filter(watchers::Column::MergeId.eq(merge_id))
            .filter(watchers::Column::UserId.not_in_subquery(acted))
            .exec(&*tx)
            .await
            .map_err(anyhow::Error::from)?;
        recount(&*tx, target).await?;
        requeue(&*tx, target).await?;
        let restored = s.pre_merge_status.clone().unwrap_or_else(|| Status::Open.as_str().to_owned());
        tickets::Entity::update_many()
            .col_expr(tickets::Column::Status, Expr::value(restored))
            .col_expr(tickets::Column::MergedInto, Expr::value(Option::<i32>::None))
            .col_expr(tickets::Column::PreMergeStatus, Expr::value(Option::<String>::None))
            .col_expr(tickets::Column::Version, Expr::col(tickets::Column::Version).add(1))
            .col_expr(tickets::Column::UpdatedAt, Expr::value(at))
            .filter(tickets::Column::Id.eq(source))
            .exec(&*tx)
            .await
            .map_err(anyhow::Error::from)?;
        let change = Change::Unmerged { source: source.into(), target: target.into() };
        record(&tx, source, by, at, &change).await?;
        record(&tx, target, by, at, &change).await?;
        let row = tickets::Entity::find_by_id(source)
            .one(&*tx)
            .await
            .map_err(anyhow::Error::from)?
            .ok_or_else(|| anyhow::anyhow!("ticket vanished inside its transaction"))?;
        let ticket = ticket_of(&*tx, row).await?;
        tx.commit().await.map_err(anyhow::Error::from)?;
        Ok(ticket)
    }

    async fn close_resolved_before(&self, cutoff: DateTime<Utc>, at: DateTime<Utc>) -> anyhow::Result<Vec<TicketId>> {
        let tx = self.write().await?;
        // One conditional UPDATE: a ticket another worker closed first no longer matches.
        let closed = tickets::Entity::update_many()
            .col_expr(tickets::Column::Status, Expr::value(Status::Closed.as_str()))
            .col_expr(tickets::Column::Version, Expr::col(tickets::Column::Version).add(1))
            .col_expr(tickets::Column::UpdatedAt, Expr::value(at))
            .filter(tickets::Column::Status.eq(Status::Resolved.as_str()))
            .filter(tickets::Column::ResolvedAt.lt(cutoff))
            .exec_with_returning(&*tx)
            .await?;
        for row in &closed {
            record(&tx, row.id, Actor::System, at, &Change::AutoClosed).await?;
        }
        tx.commit().await?;
        Ok(closed.into_iter().map(|r| TicketId::new(r.id.into())).collect())
    }

    async fn status_counts(&self, category: Option<CategoryId>) -> anyhow::Result<StatusCounts> {
        let mut filter = sea_orm::Condition::all();
        if let Some(c) = category {
            filter = filter.add(tickets::Column::CategoryId.eq(id32(c.get()).unwrap_or(-1)));
        }
        let rows: Vec<(String, i64)> = tickets::Entity::find()
            .select_only()
            .column(tickets::Column::Status)
            .column_as(tickets::Column::Id.count(), "n")
            .filter(filter)
            .group_by(tickets::Column::Status)
            .into_tuple()
            .all(&self.db)
            .await?;
        let mut counts = StatusCounts::default();
        for (status, n) in rows {
            let n = u32::try_from(n).unwrap_or(u32::MAX);
            match Status::parse(&status) {
                Some(Status::Open) => counts.open = n,
                Some(Status::InProgress) => counts.in_progress = n,
                Some(Status::Resolved) => counts.resolved = n,
                Some(Status::Closed) => counts.closed = n,
                Some(Status::Merged) => counts.merged = n,
                None => anyhow::bail!("unknown stored status {status:?}"),
            }
        }
        Ok(counts)
    }

    async fn activity(&self, member: UserId, since: DateTime<Utc>) -> anyhow::Result<Activity> {
        let m = uid(member)?;
        let mut activity = activity_since(&self.db, since).await?.remove(&m).unwrap_or_default();
        activity.open_assigned =
            count_by(&self.db, tickets::Column::AssigneeId, unresolved().add(tickets::Column::AssigneeId.eq(m)))
                .await?
                .get(&m)
                .copied()
                .unwrap_or(0);
        Ok(activity)
    }

    async fn staff_load(&self, since: DateTime<Utc>) -> anyhow::Result<Vec<StaffLoad>> {
        let staff = users::Entity::find()
            .filter(users::Column::Role.is_in([Role::Support.as_str(), Role::Admin.as_str()]))
            .filter(users::Column::Status.eq(AccountStatus::Active.as_str()))
            .order_by_asc(users::Column::Id)
            .all(&self.db)
            .await?;
        let load = count_by(&self.db, tickets::Column::AssigneeId, unresolved()).await?;
        let mut activity = activity_since(&self.db, since).await?;
        staff
            .into_iter()
            .map(|u| {
                let open_assigned = load.get(&u.id).copied().unwrap_or(0);
                let mut a = activity.remove(&u.id).unwrap_or_default();
                a.open_assigned = open_assigned;
                Ok(StaffLoad {
                    member: UserRef { id: UserId::new(u.id.into()), display_name: u.display_name },
                    role: Role::parse(&u.role).ok_or_else(|| anyhow::anyhow!("unknown stored role"))?,
                    open_assigned,
                    activity: a,
                })
            })
            .collect()
    }
}
