//! Forum threads and the forum happenings already acted on.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use domain::actor::Actor;
use domain::forum::*;
use domain::page::{ListError, Page, PageLimit};
use domain::tickets::{Change, TicketId, UserRef};
use sea_orm::{ConnectionTrait, EntityTrait, QueryResult};

use crate::entity::{ticket_events, tickets, users};
use crate::notifications::{exec, query};
use crate::tickets::{record, views};
use crate::{id32, is_unique_violation, Store};

const COLUMNS: &str = "ticket_id, topic_id, url, visibility, state, created_at";

fn thread_of(r: &QueryResult) -> anyhow::Result<ForumThread> {
    let visibility: String = r.try_get("", "visibility")?;
    let state: String = r.try_get("", "state")?;
    Ok(ForumThread {
        ticket: TicketId::new(r.try_get::<i32>("", "ticket_id")?.into()),
        topic_id: r.try_get("", "topic_id")?,
        url: r.try_get("", "url")?,
        visibility: Visibility::parse(&visibility)
            .ok_or_else(|| anyhow::anyhow!("stored visibility {visibility:?}"))?,
        state: ThreadState::parse(&state).ok_or_else(|| anyhow::anyhow!("stored thread state {state:?}"))?,
        created_at: r.try_get("", "created_at")?,
    })
}

/// The threads of these tickets, in one query.
pub(crate) async fn threads_of(conn: &impl ConnectionTrait, tickets: &[i32]) -> anyhow::Result<Vec<ForumThread>> {
    if tickets.is_empty() {
        return Ok(vec![]);
    }
    let list: Vec<String> = tickets.iter().map(i32::to_string).collect();
    let rows =
        query(conn, &format!("SELECT {COLUMNS} FROM forum_threads WHERE ticket_id IN ({})", list.join(",")), vec![])
            .await?;
    rows.iter().map(thread_of).collect()
}

fn ticket32(id: TicketId) -> anyhow::Result<i32> {
    id32(id.get()).ok_or_else(|| anyhow::anyhow!("ticket id out of range"))
}

async fn thread_in(conn: &impl ConnectionTrait, ticket: i32) -> anyhow::Result<Option<ForumThread>> {
    let rows =
        query(conn, &format!("SELECT {COLUMNS} FROM forum_threads WHERE ticket_id = $1"), vec![ticket.into()]).await?;
    rows.first().map(thread_of).transpose()
}

/// A user as the forum should know them: by the forum account they linked, if they did, else
/// by the name osts gives them.
async fn identity(conn: &impl ConnectionTrait, u: &users::Model) -> anyhow::Result<ForumIdentity> {
    let linked = query(conn, "SELECT username FROM forum_accounts WHERE user_id = $1", vec![u.id.into()]).await?;
    let linked: Option<String> = linked.first().map(|r| r.try_get("", "username")).transpose()?;
    Ok(ForumIdentity {
        external_id: u.id.into(),
        email: u.email.clone(),
        username: linked.clone().unwrap_or_else(|| forum_username(&u.email, u.id.into())),
        name: u.display_name.clone(),
        support: u.role == "support" || u.role == "admin",
        moderator: u.role == "admin",
        linked: linked.is_some(),
    })
}

fn user32(user: domain::accounts::UserId) -> anyhow::Result<i32> {
    id32(user.get()).ok_or_else(|| anyhow::anyhow!("user id out of range"))
}

/// Where a page of the most active threads starts: after the thread of `ticket` with `score`.
fn activity_cursor(raw: &str) -> Option<(i64, i32)> {
    if !domain::forum::ACTIVITY_CURSOR.is_match(raw) {
        return None;
    }
    let mut parts = raw.strip_prefix("a:")?.split(':');
    let (score, ticket) = (parts.next()?.parse().ok()?, parts.next()?.parse().ok()?);
    parts.next().is_none().then_some((score, ticket))
}

fn activity_of(r: &QueryResult) -> anyhow::Result<ThreadActivity> {
    let count = |name: &str| -> anyhow::Result<u64> { Ok(u64::try_from(r.try_get::<i64>("", name)?)?) };
    Ok(ThreadActivity {
        thread: thread_of(r)?,
        title: r.try_get("", "title")?,
        posts: count("posts")?,
        likes: count("likes")?,
        last_activity_at: r.try_get("", "last_activity_at")?,
    })
}

impl Store {
    /// Inserts a thread row and records its event, in one transaction.
    async fn insert_thread(
        &self,
        ticket: TicketId,
        topic: Option<&TopicRef>,
        visibility: Visibility,
        change: Change,
        actor: Actor,
        at: DateTime<Utc>,
    ) -> Result<ForumThread, ThreadError> {
        let id = ticket32(ticket)?;
        let tx = self.write().await.map_err(anyhow::Error::from)?;
        if tickets::Entity::find_by_id(id).one(&*tx).await.map_err(anyhow::Error::from)?.is_none() {
            return Err(ThreadError::NoTicket);
        }
        if thread_in(&*tx, id).await?.is_some() {
            return Err(ThreadError::Exists);
        }
        let state = if topic.is_some() { ThreadState::Open } else { ThreadState::Pending };
        let inserted = exec(
            &*tx,
            "INSERT INTO forum_threads (ticket_id, topic_id, url, visibility, state, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $6)",
            vec![
                id.into(),
                topic.map(|t| t.topic_id).into(),
                topic.map(|t| t.path.clone()).into(),
                visibility.as_str().into(),
                state.as_str().into(),
                at.into(),
            ],
        )
        .await;
        if let Err(e) = inserted {
            let unique = e.downcast_ref::<sea_orm::DbErr>().is_some_and(is_unique_violation);
            return Err(if unique { ThreadError::TopicTaken } else { ThreadError::Unknown(e) });
        }
        record(&tx, id, actor, at, &change).await?;
        let thread = thread_in(&*tx, id).await?.ok_or_else(|| anyhow::anyhow!("the thread vanished"))?;
        tx.commit().await.map_err(anyhow::Error::from)?;
        Ok(thread)
    }
}

#[async_trait]
impl ForumRepository for Store {
    async fn thread(&self, ticket: TicketId) -> anyhow::Result<Option<ForumThread>> {
        let Some(id) = id32(ticket.get()) else { return Ok(None) };
        thread_in(&self.db, id).await
    }

    async fn ticket_of_topic(&self, topic_id: i64) -> anyhow::Result<Option<TicketId>> {
        let rows =
            query(&self.db, "SELECT ticket_id FROM forum_threads WHERE topic_id = $1", vec![topic_id.into()]).await?;
        rows.first().map(|r| Ok(TicketId::new(r.try_get::<i32>("", "ticket_id")?.into()))).transpose()
    }

    async fn request_thread(
        &self,
        ticket: TicketId,
        visibility: Visibility,
        actor: Actor,
        at: DateTime<Utc>,
    ) -> Result<ForumThread, ThreadError> {
        self.insert_thread(ticket, None, visibility, Change::ThreadRequested { visibility }, actor, at).await
    }

    async fn link_thread(
        &self,
        ticket: TicketId,
        topic: &TopicRef,
        visibility: Visibility,
        actor: Actor,
        at: DateTime<Utc>,
    ) -> Result<ForumThread, ThreadError> {
        let change = Change::ThreadLinked { topic_id: topic.topic_id };
        self.insert_thread(ticket, Some(topic), visibility, change, actor, at).await
    }

    async fn topic_made(&self, ticket: TicketId, topic: &TopicRef) -> anyhow::Result<()> {
        let id = ticket32(ticket)?;
        let tx = self.write().await?;
        exec(
            &*tx,
            "UPDATE forum_threads SET topic_id = $2, url = $3, \
             state = CASE WHEN state = 'pending' THEN 'open' ELSE state END WHERE ticket_id = $1",
            vec![id.into(), topic.topic_id.into(), topic.path.clone().into()],
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn change_thread(
        &self,
        ticket: TicketId,
        change: &Change,
        visibility: Visibility,
        state: ThreadState,
        actor: Actor,
        at: DateTime<Utc>,
    ) -> anyhow::Result<()> {
        let id = ticket32(ticket)?;
        let tx = self.write().await?;
        exec(
            &*tx,
            "UPDATE forum_threads SET visibility = $2, state = $3, updated_at = $4 WHERE ticket_id = $1",
            vec![id.into(), visibility.as_str().into(), state.as_str().into(), at.into()],
        )
        .await?;
        record(&tx, id, actor, at, change).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn move_thread(&self, from: TicketId, to: TicketId, actor: Actor, at: DateTime<Utc>) -> anyhow::Result<bool> {
        let (from, to) = (ticket32(from)?, ticket32(to)?);
        let tx = self.write().await?;
        // Dropping the transaction without a commit changes nothing.
        if thread_in(&*tx, to).await?.is_some() {
            return Ok(false);
        }
        let Some(thread) = thread_in(&*tx, from).await? else { return Ok(false) };
        exec(
            &*tx,
            "UPDATE forum_threads SET ticket_id = $2, updated_at = $3 WHERE ticket_id = $1",
            vec![from.into(), to.into(), at.into()],
        )
        .await?;
        // A thread still pending has no topic to name; its creation job finds it by the
        // merged ticket's external id.
        let change = Change::ThreadLinked { topic_id: thread.topic_id.unwrap_or_default() };
        record(&tx, to, actor, at, &change).await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn linked_account(&self, user: domain::accounts::UserId) -> anyhow::Result<Option<LinkedAccount>> {
        let rows = query(
            &self.db,
            "SELECT username, linked_at FROM forum_accounts WHERE user_id = $1",
            vec![user32(user)?.into()],
        )
        .await?;
        rows.first()
            .map(|r| Ok(LinkedAccount { username: r.try_get("", "username")?, linked_at: r.try_get("", "linked_at")? }))
            .transpose()
    }

    async fn link_account(
        &self,
        user: domain::accounts::UserId,
        username: &ForumUsername,
        at: DateTime<Utc>,
    ) -> Result<LinkedAccount, LinkError> {
        let id = user32(user)?;
        let tx = self.write().await.map_err(anyhow::Error::from)?;
        exec(&*tx, "DELETE FROM forum_accounts WHERE user_id = $1", vec![id.into()]).await?;
        let inserted = exec(
            &*tx,
            "INSERT INTO forum_accounts (user_id, username, username_key, linked_at) VALUES ($1, $2, $3, $4)",
            vec![
                id.into(),
                username.as_str().to_owned().into(),
                username.as_str().to_ascii_lowercase().into(),
                at.into(),
            ],
        )
        .await;
        if let Err(e) = inserted {
            let unique = e.downcast_ref::<sea_orm::DbErr>().is_some_and(is_unique_violation);
            return Err(if unique { LinkError::Taken } else { LinkError::Unknown(e) });
        }
        tx.commit().await.map_err(anyhow::Error::from)?;
        Ok(LinkedAccount { username: username.as_str().to_owned(), linked_at: at })
    }

    async fn unlink_account(&self, user: domain::accounts::UserId) -> anyhow::Result<bool> {
        let tx = self.write().await?;
        let n = exec(&*tx, "DELETE FROM forum_accounts WHERE user_id = $1", vec![user32(user)?.into()]).await?;
        tx.commit().await?;
        Ok(n == 1)
    }

    async fn first_delivery(&self, key: &str, at: DateTime<Utc>) -> anyhow::Result<bool> {
        let tx = self.write().await?;
        let n = exec(
            &*tx,
            "INSERT INTO forum_deliveries (key, received_at) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING",
            vec![key.to_owned().into(), at.into()],
        )
        .await?;
        tx.commit().await?;
        Ok(n == 1)
    }

    async fn forum_job_context(&self, event: i64) -> anyhow::Result<Option<ForumJobContext>> {
        let Some(event) = id32(event) else { return Ok(None) };
        let Some(row) = ticket_events::Entity::find_by_id(event).one(&self.db).await? else { return Ok(None) };
        let change: Change = serde_json::from_str(&row.change)?;
        let Some(ticket) = tickets::Entity::find_by_id(row.ticket_id).one(&self.db).await? else { return Ok(None) };
        let creator_id = ticket.creator_id;
        let Some(ticket) = views(&self.db, vec![ticket], None).await?.pop().map(|v| v.ticket) else { return Ok(None) };
        let creator = users::Entity::find_by_id(creator_id)
            .one(&self.db)
            .await?
            .ok_or_else(|| anyhow::anyhow!("the ticket's creator vanished"))?;
        let actor = match row.actor_id {
            Some(id) => match users::Entity::find_by_id(id).one(&self.db).await? {
                Some(u) => Some(identity(&self.db, &u).await?),
                None => None,
            },
            None => None,
        };
        let assigned = match &change {
            Change::AssigneeChanged { to: Some(to), .. } => match id32(*to) {
                Some(to) => match users::Entity::find_by_id(to).one(&self.db).await? {
                    Some(u) => Some(identity(&self.db, &u).await?),
                    None => None,
                },
                None => None,
            },
            _ => None,
        };
        Ok(Some(ForumJobContext {
            assigned,
            thread: thread_in(&self.db, row.ticket_id).await?,
            ticket,
            change,
            actor,
            creator: identity(&self.db, &creator).await?,
        }))
    }

    async fn threads(&self, limit: u32) -> anyhow::Result<Vec<ThreadMapEntry>> {
        let rows = query(
            &self.db,
            &format!(
                "SELECT f.ticket_id, f.topic_id, f.url, f.visibility, f.state, f.created_at, t.title, \
                 t.assignee_id, u.display_name AS assignee_name FROM forum_threads f \
                 JOIN tickets t ON t.id = f.ticket_id LEFT JOIN users u ON u.id = t.assignee_id \
                 ORDER BY f.created_at DESC, f.ticket_id DESC LIMIT {limit}"
            ),
            vec![],
        )
        .await?;
        rows.iter()
            .map(|r| {
                let assignee: Option<i32> = r.try_get("", "assignee_id")?;
                let name: Option<String> = r.try_get("", "assignee_name")?;
                Ok(ThreadMapEntry {
                    thread: thread_of(r)?,
                    title: r.try_get("", "title")?,
                    assignee: assignee.map(|id| UserRef {
                        id: domain::accounts::UserId::new(id.into()),
                        display_name: name.unwrap_or_default(),
                    }),
                })
            })
            .collect()
    }

    async fn active_threads(
        &self,
        limit: PageLimit,
        cursor: Option<String>,
    ) -> Result<Page<ThreadActivity>, ListError> {
        let (score, ticket) = match cursor.as_deref() {
            None => (i64::MAX, i32::MAX),
            Some(raw) => activity_cursor(raw).ok_or(ListError::InvalidCursor)?,
        };
        let n = limit.get() as usize;
        // Counted from the thread's recorded forum events; the aggregate sits in a subquery so
        // that the page can start after the cursor's (score, ticket).
        let rows = query(
            &self.db,
            "SELECT * FROM (\
               SELECT f.ticket_id, f.topic_id, f.url, f.visibility, f.state, f.created_at, t.title, \
                 CAST(SUM(CASE WHEN e.kind = 'thread_reply' THEN 1 ELSE 0 END) AS BIGINT) AS posts, \
                 CAST(SUM(CASE WHEN e.kind = 'thread_liked' THEN 1 ELSE 0 END) AS BIGINT) AS likes, \
                 CAST(COUNT(*) AS BIGINT) AS score, MAX(e.at) AS last_activity_at \
               FROM forum_threads f JOIN tickets t ON t.id = f.ticket_id \
               JOIN ticket_events e ON e.ticket_id = f.ticket_id AND e.kind IN ('thread_reply', 'thread_liked') \
               GROUP BY f.ticket_id, f.topic_id, f.url, f.visibility, f.state, f.created_at, t.title\
             ) a WHERE a.score < $1 OR (a.score = $1 AND a.ticket_id < $2) \
             ORDER BY a.score DESC, a.ticket_id DESC LIMIT $3",
            vec![score.into(), ticket.into(), i64::try_from(n + 1).unwrap_or(i64::MAX).into()],
        )
        .await?;
        let mut items = rows.iter().map(activity_of).collect::<anyhow::Result<Vec<_>>>()?;
        let next_cursor = (items.len() > n).then(|| {
            let last = &items[n - 1];
            format!("a:{}:{}", last.score(), last.thread.ticket.get())
        });
        items.truncate(n);
        Ok(Page { items, next_cursor })
    }
}
