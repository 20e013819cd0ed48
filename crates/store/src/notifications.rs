//! Notifications: the set-based fan-out inside a ticket change's transaction, the inbox and
//! preferences, and the outbox of deliveries with its leases.
//!
//! These statements are plain SQL (the same text on both databases, `$n` placeholders turned
//! into `?n` for SQLite): `INSERT … SELECT` and `UPDATE … WHERE id IN (SELECT …)` say what
//! they do more clearly than the query builder would.

use async_trait::async_trait;
use chrono::{DateTime, Duration, NaiveDate, Utc};
use domain::accounts::{Email, Role, UserId};
use domain::notifications::*;
use domain::page::{ListError, Page, PageLimit};
use domain::tickets::{Change, TicketId};
use sea_orm::{ConnectionTrait, DbBackend, QueryResult, Statement, Value};

use crate::{id32, Store};

/// The stored name of the email channel (one email per event, and the daily digests).
fn email() -> &'static str {
    Channel::Email.as_str()
}

fn statement(backend: DbBackend, sql: &str, values: Vec<Value>) -> Statement {
    let sql = match backend {
        DbBackend::Sqlite => sql.replace('$', "?"),
        DbBackend::Postgres | DbBackend::MySql => sql.to_owned(),
    };
    Statement::from_sql_and_values(backend, sql, values)
}

pub(crate) async fn exec(conn: &impl ConnectionTrait, sql: &str, values: Vec<Value>) -> anyhow::Result<u64> {
    Ok(conn.execute(statement(conn.get_database_backend(), sql, values)).await?.rows_affected())
}

pub(crate) async fn query(
    conn: &impl ConnectionTrait,
    sql: &str,
    values: Vec<Value>,
) -> anyhow::Result<Vec<QueryResult>> {
    Ok(conn.query_all(statement(conn.get_database_backend(), sql, values)).await?)
}

/// Writes exactly the effects [`effects`] returns for `change` (the one source of truth for
/// who is told what), in the caller's transaction: for each `Notify`, two set-based
/// statements (the audience's notifications, then the email deliveries of those whose
/// preference asks for one); for each `Integrate`, one per-ticket job. See
/// `TicketRepository`'s contract. Returns how many deliveries it wrote.
pub(crate) async fn write_effects(
    conn: &impl ConnectionTrait,
    ticket: i32,
    event: i32,
    actor: Option<i32>,
    at: DateTime<Utc>,
    change: &Change,
) -> anyhow::Result<u64> {
    let mut deliveries = 0;
    for (n, effect) in effects(change).into_iter().enumerate() {
        deliveries += match effect {
            Effect::Notify { kind, audience } => notify(conn, ticket, event, actor, at, change, kind, audience).await?,
            Effect::Integrate(job) => {
                let key = format!("{}:{event}:{n}", job.channel().as_str());
                u64::from(enqueue_job(conn, &key, ticket, &job, at).await?.is_some())
            }
            Effect::Chat(route) => chat_jobs(conn, ticket, event, route, at).await?,
            Effect::Forum(action) => {
                // Only a ticket with a thread has anything to tell the forum.
                let has_thread =
                    !query(conn, "SELECT 1 AS one FROM forum_threads WHERE ticket_id = $1", vec![ticket.into()])
                        .await?
                        .is_empty();
                if has_thread {
                    let job = IntegrationJob::Forum(domain::forum::ForumJob { event: event.into(), action });
                    let key = format!("{}:{event}:{n}", Channel::Forum.as_str());
                    u64::from(enqueue_job(conn, &key, ticket, &job, at).await?.is_some())
                } else {
                    0
                }
            }
        };
    }
    Ok(deliveries)
}

/// Writes the chat jobs of one event: one per webhook of the ticket's chat threads; an
/// escalation of a ticket without threads first opens them on the webhooks whose filters
/// (category, priority) match the ticket, or else on the webhooks without filters. The job's
/// key, `chat:<event>:<webhook>`, is also the request id Google Chat deduplicates by.
/// Returns how many jobs it wrote.
async fn chat_jobs(
    conn: &impl ConnectionTrait,
    ticket: i32,
    event: i32,
    route: ChatRoute,
    at: DateTime<Utc>,
) -> anyhow::Result<u64> {
    let ids = |rows: Vec<QueryResult>| -> anyhow::Result<Vec<i32>> {
        rows.iter().map(|r| Ok(r.try_get::<i32>("", "id")?)).collect()
    };
    let mut webhooks = ids(query(
        conn,
        "SELECT webhook_id AS id FROM chat_threads WHERE ticket_id = $1 ORDER BY webhook_id",
        vec![ticket.into()],
    )
    .await?)?;
    if webhooks.is_empty() && route == ChatRoute::Escalation {
        webhooks = ids(query(
            conn,
            "SELECT w.id FROM chat_webhooks w JOIN tickets t ON t.id = $1 \
             WHERE (w.category_id IS NOT NULL OR w.priority IS NOT NULL) \
             AND (w.category_id IS NULL OR w.category_id = t.category_id) \
             AND (w.priority IS NULL OR w.priority = t.priority) ORDER BY w.id",
            vec![ticket.into()],
        )
        .await?)?;
        if webhooks.is_empty() {
            webhooks = ids(query(
                conn,
                "SELECT id FROM chat_webhooks WHERE category_id IS NULL AND priority IS NULL ORDER BY id",
                vec![],
            )
            .await?)?;
        }
        for webhook in &webhooks {
            exec(
                conn,
                "INSERT INTO chat_threads (ticket_id, webhook_id, created_at) VALUES ($1, $2, $3)",
                vec![ticket.into(), (*webhook).into(), at.into()],
            )
            .await?;
        }
    }
    let mut written = 0;
    for webhook in webhooks {
        let job = IntegrationJob::Chat(ChatJob { event: event.into(), webhook: webhook.into() });
        let key = format!("{}:{event}:{webhook}", Channel::Chat.as_str());
        written += u64::from(enqueue_job(conn, &key, ticket, &job, at).await?.is_some());
    }
    Ok(written)
}

/// Writes the notifications of one `Notify` effect and their email deliveries: watchers (a
/// primary key per user, so each user once), staff watchers, or one user; never the actor.
/// Deliveries go to those whose email preference for the kind is on (the default) and who
/// did not ask for a digest. Returns how many deliveries it wrote.
#[allow(clippy::too_many_arguments)]
async fn notify(
    conn: &impl ConnectionTrait,
    ticket: i32,
    event: i32,
    actor: Option<i32>,
    at: DateTime<Utc>,
    change: &Change,
    kind: NotificationKind,
    audience: Audience,
) -> anyhow::Result<u64> {
    let payload = serde_json::to_string(change)?;
    // No user has id -1, so "not the actor" holds for everyone when osts itself acted.
    let actor = actor.unwrap_or(-1);
    let mut values: Vec<Value> =
        vec![ticket.into(), event.into(), kind.as_str().into(), payload.into(), at.into(), actor.into()];
    let from = match audience {
        Audience::Watchers => "FROM watchers w WHERE w.ticket_id = $1 AND w.user_id <> $6",
        Audience::StaffWatchers => {
            values.push(Role::Support.as_str().into());
            values.push(Role::Admin.as_str().into());
            "FROM watchers w JOIN users u ON u.id = w.user_id \
             WHERE w.ticket_id = $1 AND w.user_id <> $6 AND u.role IN ($7, $8)"
        }
        Audience::User(user) => {
            let Some(user) = id32(user.get()) else { return Ok(0) };
            values.push(user.into());
            "FROM users w WHERE w.id = $7 AND w.id <> $6"
        }
    };
    let user_col = if matches!(audience, Audience::User(_)) { "w.id" } else { "w.user_id" };
    let inserted = exec(
        conn,
        &format!(
            "INSERT INTO notifications (user_id, ticket_id, event_id, kind, payload, created_at) \
             SELECT {user_col}, $1, $2, $3, $4, $5 {from}"
        ),
        values,
    )
    .await?;
    if inserted == 0 {
        return Ok(0);
    }
    exec(
        conn,
        "INSERT INTO deliveries (idempotency_key, channel, notification_id, user_id, status, attempts, \
         next_attempt_at, created_at, updated_at) \
         SELECT $2 || ':' || CAST(n.id AS TEXT), $2, n.id, n.user_id, $3, 0, $4, $4, $4 \
         FROM notifications n LEFT JOIN notification_preferences p ON p.user_id = n.user_id AND p.kind = n.kind \
         WHERE n.event_id = $1 AND n.kind = $5 AND (p.user_id IS NULL OR (p.email AND NOT p.digest)) \
         ON CONFLICT (idempotency_key) DO NOTHING",
        vec![event.into(), email().into(), DeliveryStatus::Pending.as_str().into(), at.into(), kind.as_str().into()],
    )
    .await
}

/// Writes one pending per-ticket job, due at `at`, unless its key exists; part of the
/// caller's transaction. Returns its id, or `None` if the key was taken.
async fn enqueue_job(
    conn: &impl ConnectionTrait,
    key: &str,
    ticket: i32,
    job: &IntegrationJob,
    at: DateTime<Utc>,
) -> anyhow::Result<Option<DeliveryId>> {
    let rows = query(
        conn,
        "INSERT INTO deliveries (idempotency_key, channel, ticket_id, payload, status, attempts, next_attempt_at, \
         created_at, updated_at) VALUES ($1, $2, $3, $4, $5, 0, $6, $6, $6) \
         ON CONFLICT (idempotency_key) DO NOTHING RETURNING id",
        vec![
            key.to_owned().into(),
            job.channel().as_str().into(),
            ticket.into(),
            job.encode()?.into(),
            DeliveryStatus::Pending.as_str().into(),
            at.into(),
        ],
    )
    .await?;
    rows.first().map(|r| Ok(DeliveryId::new(r.try_get::<i32>("", "id")?.into()))).transpose()
}

/// Writes one notification about an account to its holder (no ticket), and its email
/// delivery in the caller's transaction: always when `always_email` (the confirmation link),
/// otherwise as the holder's preference for the kind says (on by default, off for digests).
pub(crate) async fn notify_account(
    conn: &impl ConnectionTrait,
    user: i32,
    kind: NotificationKind,
    payload: &str,
    at: DateTime<Utc>,
    always_email: bool,
) -> anyhow::Result<()> {
    let rows = query(
        conn,
        "INSERT INTO notifications (user_id, kind, payload, created_at) VALUES ($1, $2, $3, $4) RETURNING id",
        vec![user.into(), kind.as_str().into(), payload.to_owned().into(), at.into()],
    )
    .await?;
    let id: i32 = rows.first().ok_or_else(|| anyhow::anyhow!("insert returned no id"))?.try_get("", "id")?;
    exec(
        conn,
        "INSERT INTO deliveries (idempotency_key, channel, notification_id, user_id, status, attempts, \
         next_attempt_at, created_at, updated_at) \
         SELECT $2 || ':' || CAST(n.id AS TEXT), $2, n.id, n.user_id, $3, 0, $4, $4, $4 \
         FROM notifications n LEFT JOIN notification_preferences p ON p.user_id = n.user_id AND p.kind = n.kind \
         WHERE n.id = $1 AND ($5 OR p.user_id IS NULL OR (p.email AND NOT p.digest))",
        vec![id.into(), email().into(), DeliveryStatus::Pending.as_str().into(), at.into(), always_email.into()],
    )
    .await?;
    Ok(())
}

/// Empties the payload (which carries the link's token) of `user`'s confirmation emails that
/// are no longer waiting to be sent, and marks them read: once the address is confirmed,
/// the inbox keeps only that a link was sent.
pub(crate) async fn forget_confirmation_links(
    conn: &impl ConnectionTrait,
    user: i32,
    at: DateTime<Utc>,
) -> anyhow::Result<()> {
    let kind = NotificationKind::EmailConfirmation.as_str();
    exec(
        conn,
        "UPDATE notifications SET payload = $3, read_at = COALESCE(read_at, $4) \
         WHERE user_id = $1 AND kind = $2 AND NOT EXISTS (SELECT 1 FROM deliveries d \
         WHERE d.notification_id = notifications.id AND d.status IN ($5, $6))",
        vec![
            user.into(),
            kind.into(),
            serde_json::json!({ "kind": kind }).to_string().into(),
            at.into(),
            DeliveryStatus::Pending.as_str().into(),
            DeliveryStatus::Sending.as_str().into(),
        ],
    )
    .await?;
    Ok(())
}

fn user32(user: UserId) -> anyhow::Result<i32> {
    id32(user.get()).ok_or_else(|| anyhow::anyhow!("user id out of range"))
}

fn kind_of(raw: &str) -> anyhow::Result<NotificationKind> {
    NotificationKind::parse(raw).ok_or_else(|| anyhow::anyhow!("stored notification has unknown kind {raw:?}"))
}

fn to_notification(row: &QueryResult) -> anyhow::Result<Notification> {
    Ok(Notification {
        id: NotificationId::new(row.try_get::<i32>("", "id")?.into()),
        kind: kind_of(&row.try_get::<String>("", "kind")?)?,
        ticket_id: row.try_get::<Option<i32>>("", "ticket_id")?.map(|t| TicketId::new(t.into())),
        ticket_title: row.try_get::<Option<String>>("", "title")?,
        payload: row.try_get("", "payload")?,
        created_at: row.try_get("", "created_at")?,
        read_at: row.try_get("", "read_at")?,
    })
}

#[async_trait]
impl NotificationRepository for Store {
    async fn inbox(
        &self,
        user: UserId,
        limit: PageLimit,
        cursor: Option<String>,
    ) -> Result<Page<Notification>, ListError> {
        let user = user32(user)?;
        let before = match cursor {
            None => i32::MAX,
            Some(raw) => domain::page::NOTIFICATIONS.parse(&raw).ok_or(ListError::InvalidCursor)?,
        };
        let n = limit.get() as usize;
        let rows = query(
            &self.db,
            "SELECT n.id, n.kind, n.ticket_id, t.title, n.payload, n.created_at, n.read_at \
             FROM notifications n LEFT JOIN tickets t ON t.id = n.ticket_id \
             WHERE n.user_id = $1 AND n.id < $2 ORDER BY n.id DESC LIMIT $3",
            vec![user.into(), before.into(), i64::try_from(n + 1).unwrap_or(i64::MAX).into()],
        )
        .await?;
        let mut items = rows.iter().map(to_notification).collect::<anyhow::Result<Vec<_>>>()?;
        let next_cursor = (items.len() > n)
            .then(|| domain::page::NOTIFICATIONS.encode(id32(items[n - 1].id.get()).unwrap_or(i32::MAX)));
        items.truncate(n);
        Ok(Page { items, next_cursor })
    }

    async fn unread(&self, user: UserId) -> anyhow::Result<u64> {
        let rows = query(
            &self.db,
            "SELECT COUNT(*) AS unread FROM notifications WHERE user_id = $1 AND read_at IS NULL",
            vec![user32(user)?.into()],
        )
        .await?;
        let count: i64 = rows.first().map(|r| r.try_get("", "unread")).transpose()?.unwrap_or(0);
        Ok(u64::try_from(count).unwrap_or(0))
    }

    async fn mark_read(&self, user: UserId, id: NotificationId, at: DateTime<Utc>) -> anyhow::Result<bool> {
        let Some(id) = id32(id.get()) else { return Ok(false) };
        let tx = self.write().await?;
        let found = exec(
            &*tx,
            "UPDATE notifications SET read_at = COALESCE(read_at, $3) WHERE id = $1 AND user_id = $2",
            vec![id.into(), user32(user)?.into(), at.into()],
        )
        .await?;
        tx.commit().await?;
        Ok(found == 1)
    }

    async fn mark_all_read(&self, user: UserId, at: DateTime<Utc>) -> anyhow::Result<u64> {
        let tx = self.write().await?;
        let n = exec(
            &*tx,
            "UPDATE notifications SET read_at = $2 WHERE user_id = $1 AND read_at IS NULL",
            vec![user32(user)?.into(), at.into()],
        )
        .await?;
        tx.commit().await?;
        Ok(n)
    }

    async fn preferences(&self, user: UserId) -> anyhow::Result<Vec<Preference>> {
        let rows = query(
            &self.db,
            "SELECT kind, email, digest FROM notification_preferences WHERE user_id = $1",
            vec![user32(user)?.into()],
        )
        .await?;
        let mut all: Vec<Preference> = NotificationKind::ALL.into_iter().map(Preference::default_for).collect();
        for row in rows {
            let kind = kind_of(&row.try_get::<String>("", "kind")?)?;
            if let Some(p) = all.iter_mut().find(|p| p.kind == kind) {
                *p = Preference { kind, email: row.try_get("", "email")?, digest: row.try_get("", "digest")? };
            }
        }
        Ok(all)
    }

    async fn set_preference(&self, user: UserId, preference: Preference) -> anyhow::Result<()> {
        let tx = self.write().await?;
        exec(
            &*tx,
            "INSERT INTO notification_preferences (user_id, kind, email, digest) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (user_id, kind) DO UPDATE SET email = excluded.email, digest = excluded.digest",
            vec![
                user32(user)?.into(),
                preference.kind.as_str().into(),
                preference.email.into(),
                preference.digest.into(),
            ],
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }
}

/// A claimed per-user delivery's email (the digest's items are added by the caller).
fn to_email(row: &QueryResult) -> anyhow::Result<EmailPayload> {
    let email: Option<String> = row.try_get("", "email")?;
    let (Some(email), Some(user)) = (email, row.try_get::<Option<i32>>("", "user_id")?) else {
        anyhow::bail!("a per-user delivery without its user")
    };
    Ok(EmailPayload {
        recipient: UserId::new(user.into()),
        to: Email::parse(&email).map_err(|_| anyhow::anyhow!("stored account has an invalid email"))?,
        to_name: row.try_get::<Option<String>>("", "display_name")?.unwrap_or_default(),
        kind: kind_of(&row.try_get::<Option<String>>("", "kind")?.unwrap_or_default())?,
        ticket_id: row.try_get::<Option<i32>>("", "ticket_id")?.map(|t| TicketId::new(t.into())),
        ticket_title: row.try_get("", "title")?,
        payload: row.try_get::<Option<String>>("", "payload")?.unwrap_or_default(),
        digest: None,
    })
}

/// A claimed per-user delivery: its email, with the digest's items read from its window
/// when it is a digest.
async fn claimed_email(conn: &impl ConnectionTrait, row: &QueryResult) -> anyhow::Result<DeliveryPayload> {
    let mut email = to_email(row)?;
    let since: Option<DateTime<Utc>> = row.try_get("", "window_start")?;
    let until: Option<DateTime<Utc>> = row.try_get("", "window_end")?;
    if let (Some(since), Some(until)) = (since, until) {
        email.digest = Some(digest_items(conn, user32(email.recipient)?, since, until).await?);
    }
    Ok(DeliveryPayload::Email(email))
}

/// A claimed per-ticket job.
fn to_integration(row: &QueryResult, channel: Channel) -> anyhow::Result<DeliveryPayload> {
    let ticket: Option<i32> = row.try_get("", "job_ticket_id")?;
    let raw: Option<String> = row.try_get("", "job_payload")?;
    let (Some(ticket), Some(raw)) = (ticket, raw) else {
        anyhow::bail!("a per-ticket job without its ticket or payload")
    };
    Ok(DeliveryPayload::Integration {
        ticket: TicketId::new(ticket.into()),
        job: IntegrationJob::decode(channel, &raw)?,
    })
}

/// The items of a digest: `user`'s notifications created in `[since, until)` of kinds they
/// get as a digest now (email and digest on), oldest first.
async fn digest_items(
    conn: &impl ConnectionTrait,
    user: i32,
    since: DateTime<Utc>,
    until: DateTime<Utc>,
) -> anyhow::Result<Vec<DigestItem>> {
    let rows = query(
        conn,
        "SELECT n.kind, n.ticket_id, t.title, n.created_at FROM notifications n          JOIN notification_preferences p ON p.user_id = n.user_id AND p.kind = n.kind AND p.email AND p.digest          LEFT JOIN tickets t ON t.id = n.ticket_id          WHERE n.user_id = $1 AND n.created_at >= $2 AND n.created_at < $3 ORDER BY n.id",
        vec![user.into(), since.into(), until.into()],
    )
    .await?;
    rows.iter()
        .map(|row| {
            Ok(DigestItem {
                kind: kind_of(&row.try_get::<String>("", "kind")?)?,
                ticket_id: row.try_get::<Option<i32>>("", "ticket_id")?.map(|t| TicketId::new(t.into())),
                ticket_title: row.try_get("", "title")?,
                created_at: row.try_get("", "created_at")?,
            })
        })
        .collect()
}

impl Store {
    async fn set_outcome(
        &self,
        id: DeliveryId,
        status: DeliveryStatus,
        next: Option<DateTime<Utc>>,
        error: Option<&str>,
        at: DateTime<Utc>,
    ) -> anyhow::Result<()> {
        let id = id32(id.get()).ok_or_else(|| anyhow::anyhow!("delivery id out of range"))?;
        let tx = self.write().await?;
        exec(
            &*tx,
            "UPDATE deliveries SET status = $2, next_attempt_at = COALESCE($3, next_attempt_at), \
             last_error = COALESCE($4, last_error), lease_until = NULL, updated_at = $5 WHERE id = $1",
            vec![id.into(), status.as_str().into(), next.into(), error.map(str::to_owned).into(), at.into()],
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }
}

#[async_trait]
impl OutboxRepository for Store {
    async fn claim(&self, now: DateTime<Utc>, lease: Duration, limit: u32) -> anyhow::Result<Vec<ClaimedDelivery>> {
        let tx = self.write().await?;
        // A claim whose lease ran out may have reached the remote system before the worker
        // died: the outcome is unknown, so it is not sent again (at most once) but left to
        // an admin.
        exec(
            &*tx,
            "UPDATE deliveries SET status = $1, lease_until = NULL, updated_at = $3, \
             last_error = 'lease expired while sending; it may or may not have gone out' \
             WHERE status = $2 AND lease_until < $3",
            vec![DeliveryStatus::Dead.as_str().into(), DeliveryStatus::Sending.as_str().into(), now.into()],
        )
        .await?;
        let lock = match tx.get_database_backend() {
            // SQLite has no row locks; the process write lock (and SQLite's own) serialise.
            DbBackend::Sqlite => "",
            DbBackend::Postgres | DbBackend::MySql => "FOR UPDATE SKIP LOCKED",
        };
        // Per-ticket jobs run in order: none starts while an earlier job (lower id) of its
        // ticket and channel is pending (due or retrying later) or sending. On PostgreSQL a
        // job another worker is claiming right now is still `pending` to this snapshot, so
        // its successors wait as well. Per-user deliveries (no ticket) are never held back.
        let claimed = query(
            &*tx,
            &format!(
                "UPDATE deliveries SET status = $1, lease_until = $2, attempts = attempts + 1, updated_at = $3 \
                 WHERE id IN (SELECT d.id FROM deliveries d WHERE d.status = $4 AND d.next_attempt_at <= $3 \
                 AND (d.ticket_id IS NULL OR NOT EXISTS (SELECT 1 FROM deliveries e \
                 WHERE e.ticket_id = d.ticket_id AND e.channel = d.channel AND e.id < d.id \
                 AND e.status IN ($4, $1))) \
                 ORDER BY d.next_attempt_at, d.id LIMIT $5 {lock}) RETURNING id"
            ),
            vec![
                DeliveryStatus::Sending.as_str().into(),
                (now + lease).into(),
                now.into(),
                DeliveryStatus::Pending.as_str().into(),
                i64::from(limit).into(),
            ],
        )
        .await?;
        let ids: Vec<i32> = claimed.iter().map(|r| r.try_get("", "id")).collect::<Result<_, _>>()?;
        if ids.is_empty() {
            tx.commit().await?;
            return Ok(vec![]);
        }
        let placeholders: Vec<String> = (1..=ids.len()).map(|i| format!("${i}")).collect();
        let rows = query(
            &*tx,
            &format!(
                "SELECT d.id, d.idempotency_key, d.attempts, d.channel, d.user_id, d.ticket_id AS job_ticket_id, \
                 d.payload AS job_payload, d.window_start, d.window_end, u.email, u.display_name, n.kind, \
                 n.ticket_id, t.title, n.payload \
                 FROM deliveries d LEFT JOIN notifications n ON n.id = d.notification_id \
                 LEFT JOIN users u ON u.id = d.user_id LEFT JOIN tickets t ON t.id = n.ticket_id \
                 WHERE d.id IN ({}) ORDER BY d.id",
                placeholders.join(", ")
            ),
            ids.into_iter().map(Value::from).collect(),
        )
        .await?;
        let mut claimed = Vec::with_capacity(rows.len());
        for row in &rows {
            let id: i32 = row.try_get("", "id")?;
            let channel = row.try_get::<String>("", "channel")?;
            let payload = match Channel::parse(&channel) {
                Some(channel) => match channel.scope() {
                    JobScope::User => claimed_email(&*tx, row).await,
                    JobScope::Ticket => to_integration(row, channel),
                },
                None => Err(anyhow::anyhow!("unknown channel {channel:?}")),
            };
            match payload {
                Ok(payload) => claimed.push(ClaimedDelivery {
                    id: DeliveryId::new(id.into()),
                    idempotency_key: row.try_get("", "idempotency_key")?,
                    attempts: u32::try_from(row.try_get::<i32>("", "attempts")?)?,
                    payload,
                }),
                // A row no port can take (written by a newer version, damaged) would fail
                // every claim: it becomes a dead letter with the reason instead.
                Err(e) => {
                    tracing::error!(delivery = id, error = format!("{e:#}"), "undeliverable outbox row");
                    exec(
                        &*tx,
                        "UPDATE deliveries SET status = $2, lease_until = NULL, last_error = $3 WHERE id = $1",
                        vec![id.into(), DeliveryStatus::Dead.as_str().into(), format!("undeliverable: {e:#}").into()],
                    )
                    .await?;
                }
            }
        }
        tx.commit().await?;
        Ok(claimed)
    }

    async fn mark_sent(&self, id: DeliveryId, at: DateTime<Utc>) -> anyhow::Result<()> {
        self.set_outcome(id, DeliveryStatus::Sent, None, None, at).await
    }

    async fn retry_later(
        &self,
        id: DeliveryId,
        next: DateTime<Utc>,
        error: &str,
        at: DateTime<Utc>,
    ) -> anyhow::Result<()> {
        self.set_outcome(id, DeliveryStatus::Pending, Some(next), Some(error), at).await
    }

    async fn mark_dead(&self, id: DeliveryId, error: &str, at: DateTime<Utc>) -> anyhow::Result<()> {
        self.set_outcome(id, DeliveryStatus::Dead, None, Some(error), at).await
    }

    async fn release(&self, id: DeliveryId, at: DateTime<Utc>) -> anyhow::Result<()> {
        let id = id32(id.get()).ok_or_else(|| anyhow::anyhow!("delivery id out of range"))?;
        let tx = self.write().await?;
        let n = exec(
            &*tx,
            "UPDATE deliveries SET status = $2, attempts = CASE WHEN attempts > 0 THEN attempts - 1 ELSE 0 END, \
             next_attempt_at = $3, lease_until = NULL, updated_at = $3 WHERE id = $1 AND status = $4",
            vec![
                id.into(),
                DeliveryStatus::Pending.as_str().into(),
                at.into(),
                DeliveryStatus::Sending.as_str().into(),
            ],
        )
        .await?;
        if n == 1 {
            tx.enqueued();
        }
        tx.commit().await?;
        Ok(())
    }

    async fn dead_letters(&self, channel: Option<Channel>, limit: u32) -> anyhow::Result<Vec<DeadLetter>> {
        let rows = query(
            &self.db,
            "SELECT d.id, d.channel, d.user_id, n.kind, COALESCE(d.ticket_id, n.ticket_id) AS ticket_id, d.attempts, \
             d.last_error, d.updated_at \
             FROM deliveries d LEFT JOIN notifications n ON n.id = d.notification_id \
             WHERE d.status = $1 AND ($2 IS NULL OR d.channel = $2) \
             ORDER BY d.updated_at DESC, d.id DESC LIMIT $3",
            vec![
                DeliveryStatus::Dead.as_str().into(),
                channel.map(|c| c.as_str().to_owned()).into(),
                i64::from(limit).into(),
            ],
        )
        .await?;
        rows.iter()
            .map(|row| {
                let channel: String = row.try_get("", "channel")?;
                Ok(DeadLetter {
                    id: DeliveryId::new(row.try_get::<i32>("", "id")?.into()),
                    channel: Channel::parse(&channel)
                        .ok_or_else(|| anyhow::anyhow!("dead letter on unknown channel {channel:?}"))?,
                    recipient: row.try_get::<Option<i32>>("", "user_id")?.map(|u| UserId::new(u.into())),
                    kind: row.try_get::<Option<String>>("", "kind")?.as_deref().map(kind_of).transpose()?,
                    ticket_id: row.try_get::<Option<i32>>("", "ticket_id")?.map(|t| TicketId::new(t.into())),
                    attempts: u32::try_from(row.try_get::<i32>("", "attempts")?)?,
                    last_error: row.try_get("", "last_error")?,
                    updated_at: row.try_get("", "updated_at")?,
                })
            })
            .collect()
    }

    async fn retry(&self, id: DeliveryId, at: DateTime<Utc>) -> anyhow::Result<bool> {
        let Some(id) = id32(id.get()) else { return Ok(false) };
        let tx = self.write().await?;
        let n = exec(
            &*tx,
            "UPDATE deliveries SET status = $2, attempts = 0, next_attempt_at = $3, lease_until = NULL, \
             updated_at = $3 WHERE id = $1 AND status = $4",
            vec![id.into(), DeliveryStatus::Pending.as_str().into(), at.into(), DeliveryStatus::Dead.as_str().into()],
        )
        .await?;
        if n == 1 {
            tx.enqueued();
        }
        tx.commit().await?;
        Ok(n == 1)
    }

    async fn enqueue(
        &self,
        key: &str,
        ticket: TicketId,
        job: &IntegrationJob,
        at: DateTime<Utc>,
    ) -> anyhow::Result<Option<DeliveryId>> {
        let ticket = id32(ticket.get()).ok_or_else(|| anyhow::anyhow!("ticket id out of range"))?;
        let tx = self.write().await?;
        let id = enqueue_job(&*tx, key, ticket, job, at).await?;
        if id.is_some() {
            tx.enqueued();
        }
        tx.commit().await?;
        Ok(id)
    }

    async fn enqueue_digests(
        &self,
        day: NaiveDate,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> anyhow::Result<u64> {
        let tx = self.write().await?;
        // The newest notification of the window anchors the delivery (the column is required
        // and cascades); the items are read from the window when the digest is sent. The
        // unique idempotency key makes a second enqueue of the day a no-op on any server.
        let added = exec(
            &*tx,
            "INSERT INTO deliveries (idempotency_key, channel, notification_id, user_id, status, attempts, \
             next_attempt_at, created_at, updated_at, window_start, window_end) \
             SELECT 'digest:' || CAST(n.user_id AS TEXT) || ':' || $2, $1, MAX(n.id), n.user_id, $3, 0, $4, $4, $4, \
             $5, $6 \
             FROM notifications n JOIN notification_preferences p \
             ON p.user_id = n.user_id AND p.kind = n.kind AND p.email AND p.digest \
             WHERE n.created_at >= $5 AND n.created_at < $6 \
             GROUP BY n.user_id \
             ON CONFLICT (idempotency_key) DO NOTHING",
            vec![
                email().into(),
                day.format("%Y-%m-%d").to_string().into(),
                DeliveryStatus::Pending.as_str().into(),
                now.into(),
                since.into(),
                until.into(),
            ],
        )
        .await?;
        if added > 0 {
            tx.enqueued();
        }
        tx.commit().await?;
        Ok(added)
    }
}
