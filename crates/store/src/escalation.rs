//! Escalations, SLA states and settings, and chat webhooks.
//!
//! An escalation is a ticket event (`Change::Escalated`), recorded with its effects (the chat
//! jobs, see `notifications::chat_jobs`) in the transaction that decides it. The SLA state of
//! a ticket moves by a conditional update (`WHERE sla_state = <the state read>`), so that of
//! several servers checking at once exactly one records each change.

use async_trait::async_trait;
use chrono::{DateTime, NaiveTime, Utc, Weekday};
use domain::actor::Actor;
use domain::categories::CategoryId;
use domain::escalation::*;
use domain::tickets::{Change, Priority, TicketId};
use sea_orm::{EntityTrait, QueryResult};
use serde_json::{json, Value};

use crate::entity::{ticket_events, tickets, users};
use crate::notifications::{exec, query};
use crate::tickets::{mark_escalated, record, views};
use crate::{id32, Store};

fn ticket32(id: TicketId) -> anyhow::Result<i32> {
    id32(id.get()).ok_or_else(|| anyhow::anyhow!("ticket id out of range"))
}

fn webhook32(id: WebhookId) -> Option<i32> {
    id32(id.get())
}

/// The stored form of the targets: `{"urgent": {"first_response_minutes": 60, ...}, ...}`.
fn targets_json(t: &SlaTargets) -> Value {
    let one = |t: SlaTarget| json!({ "first_response_minutes": t.first_response_minutes(), "resolution_minutes": t.resolution_minutes() });
    json!({ "low": one(t.low), "medium": one(t.medium), "high": one(t.high), "urgent": one(t.urgent) })
}

/// The stored form of business hours.
fn hours_json(h: &BusinessHours) -> Value {
    json!({
        "days": h.days().iter().map(|d| d.to_string().to_lowercase()).collect::<Vec<_>>(),
        "start": h.start().format("%H:%M").to_string(),
        "end": h.end().format("%H:%M").to_string(),
        "utc_offset_minutes": h.utc_offset_minutes(),
    })
}

fn parse_settings(targets: &str, hours: Option<&str>) -> anyhow::Result<SlaSettings> {
    let t: Value = serde_json::from_str(targets)?;
    let one = |p: &str| -> anyhow::Result<SlaTarget> {
        let minutes = |f: &str| {
            t[p][f]
                .as_u64()
                .and_then(|m| u32::try_from(m).ok())
                .ok_or_else(|| anyhow::anyhow!("stored SLA target {p}.{f} is missing"))
        };
        SlaTarget::new(minutes("first_response_minutes")?, minutes("resolution_minutes")?)
            .map_err(|e| anyhow::anyhow!("stored SLA target {p}: {e}"))
    };
    let targets = SlaTargets { low: one("low")?, medium: one("medium")?, high: one("high")?, urgent: one("urgent")? };
    let business_hours = match hours {
        None => None,
        Some(raw) => {
            let h: Value = serde_json::from_str(raw)?;
            let days = h["days"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|d| d.as_str().unwrap_or("").parse::<Weekday>().map_err(|_| anyhow::anyhow!("stored weekday {d}")))
                .collect::<anyhow::Result<Vec<_>>>()?;
            let time = |f: &str| {
                NaiveTime::parse_from_str(h[f].as_str().unwrap_or(""), "%H:%M")
                    .map_err(|_| anyhow::anyhow!("stored business hours {f}"))
            };
            let offset = h["utc_offset_minutes"].as_i64().and_then(|o| i32::try_from(o).ok()).unwrap_or(0);
            Some(
                BusinessHours::new(days, time("start")?, time("end")?, offset)
                    .map_err(|e| anyhow::anyhow!("stored business hours: {e}"))?,
            )
        }
    };
    Ok(SlaSettings { targets, business_hours })
}

const WEBHOOK_COLUMNS: &str = "id, name, kind, url, category_id, priority, created_at";

fn webhook_of(r: &QueryResult) -> anyhow::Result<ChatWebhook> {
    let kind: String = r.try_get("", "kind")?;
    let priority: Option<String> = r.try_get("", "priority")?;
    Ok(ChatWebhook {
        id: WebhookId::new(r.try_get::<i32>("", "id")?.into()),
        name: r.try_get("", "name")?,
        kind: ChatKind::parse(&kind).ok_or_else(|| anyhow::anyhow!("stored webhook kind {kind:?}"))?,
        url: r.try_get("", "url")?,
        category_id: r.try_get::<Option<i32>>("", "category_id")?.map(|c| CategoryId::new(c.into())),
        priority: priority
            .map(|p| Priority::parse(&p).ok_or_else(|| anyhow::anyhow!("stored webhook priority {p:?}")))
            .transpose()?,
        created_at: r.try_get("", "created_at")?,
    })
}

fn category32(c: Option<CategoryId>) -> anyhow::Result<Option<i32>> {
    c.map(|c| id32(c.get()).ok_or_else(|| anyhow::anyhow!("category id out of range"))).transpose()
}

/// A user's display name.
async fn name_of(conn: &impl sea_orm::ConnectionTrait, user: Option<i32>) -> anyhow::Result<Option<String>> {
    Ok(match user {
        Some(id) => users::Entity::find_by_id(id).one(conn).await?.map(|u| u.display_name),
        None => None,
    })
}

#[async_trait]
impl EscalationRepository for Store {
    async fn sla_settings(&self) -> anyhow::Result<Option<SlaSettings>> {
        let rows = query(&self.db, "SELECT targets, business_hours FROM sla_settings WHERE id = 1", vec![]).await?;
        rows.first()
            .map(|r| {
                let targets: String = r.try_get("", "targets")?;
                let hours: Option<String> = r.try_get("", "business_hours")?;
                parse_settings(&targets, hours.as_deref())
            })
            .transpose()
    }

    async fn set_sla_settings(&self, settings: &SlaSettings, at: DateTime<Utc>) -> anyhow::Result<()> {
        let tx = self.write().await?;
        exec(
            &*tx,
            "INSERT INTO sla_settings (id, targets, business_hours, updated_at) VALUES (1, $1, $2, $3) \
             ON CONFLICT (id) DO UPDATE SET targets = excluded.targets, business_hours = excluded.business_hours, \
             updated_at = excluded.updated_at",
            vec![
                targets_json(&settings.targets).to_string().into(),
                settings.business_hours.as_ref().map(|h| hours_json(h).to_string()).into(),
                at.into(),
            ],
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn sla_candidates(&self, after: Option<TicketId>, limit: u32) -> anyhow::Result<Vec<SlaCandidate>> {
        let after = after.map(ticket32).transpose()?.unwrap_or(0);
        let rows = query(
            &self.db,
            "SELECT id, priority, created_at, first_response_at, sla_state, first_response_due, resolution_due, \
             vote_count, escalated_for_votes FROM tickets \
             WHERE status IN ('open', 'in_progress') AND id > $1 ORDER BY id LIMIT $2",
            vec![after.into(), i64::from(limit).into()],
        )
        .await?;
        rows.iter()
            .map(|r| {
                let priority: String = r.try_get("", "priority")?;
                let state: String = r.try_get("", "sla_state")?;
                let first: Option<DateTime<Utc>> = r.try_get("", "first_response_due")?;
                let resolution: Option<DateTime<Utc>> = r.try_get("", "resolution_due")?;
                Ok(SlaCandidate {
                    ticket: TicketId::new(r.try_get::<i32>("", "id")?.into()),
                    priority: Priority::parse(&priority)
                        .ok_or_else(|| anyhow::anyhow!("stored priority {priority:?}"))?,
                    created_at: r.try_get("", "created_at")?,
                    first_response_at: r.try_get("", "first_response_at")?,
                    state: SlaState::parse(&state).ok_or_else(|| anyhow::anyhow!("stored SLA state {state:?}"))?,
                    due: first
                        .zip(resolution)
                        .map(|(first_response, resolution)| SlaDue { first_response, resolution }),
                    vote_count: u32::try_from(r.try_get::<i32>("", "vote_count")?).unwrap_or(0),
                    escalated_for_votes: r.try_get("", "escalated_for_votes")?,
                })
            })
            .collect()
    }

    async fn set_sla_due(&self, ticket: TicketId, due: SlaDue) -> anyhow::Result<()> {
        let id = ticket32(ticket)?;
        let tx = self.write().await?;
        exec(
            &*tx,
            "UPDATE tickets SET first_response_due = $2, resolution_due = $3 WHERE id = $1",
            vec![id.into(), due.first_response.into(), due.resolution.into()],
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn set_sla_state(
        &self,
        ticket: TicketId,
        from: SlaState,
        to: SlaState,
        escalation: Option<EscalationReason>,
        at: DateTime<Utc>,
    ) -> anyhow::Result<bool> {
        let id = ticket32(ticket)?;
        let tx = self.write().await?;
        let moved = exec(
            &*tx,
            "UPDATE tickets SET sla_state = $2 WHERE id = $1 AND sla_state = $3",
            vec![id.into(), to.as_str().into(), from.as_str().into()],
        )
        .await?;
        if moved == 0 {
            return Ok(false);
        }
        if let Some(reason) = escalation {
            record(&tx, id, Actor::System, at, &Change::Escalated { reason }).await?;
            mark_escalated(&*tx, id, at).await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    async fn escalate(
        &self,
        ticket: TicketId,
        reason: &EscalationReason,
        actor: Actor,
        at: DateTime<Utc>,
    ) -> anyhow::Result<bool> {
        let Some(id) = id32(ticket.get()) else { return Ok(false) };
        let tx = self.write().await?;
        if tickets::Entity::find_by_id(id).one(&*tx).await?.is_none() {
            return Ok(false);
        }
        if let EscalationReason::Votes { .. } = reason {
            let first = exec(
                &*tx,
                "UPDATE tickets SET escalated_for_votes = $2 WHERE id = $1 AND escalated_for_votes = $3",
                vec![id.into(), true.into(), false.into()],
            )
            .await?;
            if first == 0 {
                return Ok(false);
            }
        }
        record(&tx, id, actor, at, &Change::Escalated { reason: reason.clone() }).await?;
        mark_escalated(&*tx, id, at).await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn webhooks(&self) -> anyhow::Result<Vec<ChatWebhook>> {
        let rows = query(&self.db, &format!("SELECT {WEBHOOK_COLUMNS} FROM chat_webhooks ORDER BY id"), vec![]).await?;
        rows.iter().map(webhook_of).collect()
    }

    async fn webhook(&self, id: WebhookId) -> anyhow::Result<Option<ChatWebhook>> {
        let Some(id) = webhook32(id) else { return Ok(None) };
        let rows =
            query(&self.db, &format!("SELECT {WEBHOOK_COLUMNS} FROM chat_webhooks WHERE id = $1"), vec![id.into()])
                .await?;
        rows.first().map(webhook_of).transpose()
    }

    async fn create_webhook(&self, webhook: NewChatWebhook, at: DateTime<Utc>) -> anyhow::Result<ChatWebhook> {
        let tx = self.write().await?;
        let rows = query(
            &*tx,
            &format!(
                "INSERT INTO chat_webhooks (name, kind, url, category_id, priority, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6) RETURNING {WEBHOOK_COLUMNS}"
            ),
            vec![
                webhook.name.into(),
                webhook.kind.as_str().into(),
                webhook.url.into(),
                category32(webhook.category_id)?.into(),
                webhook.priority.map(|p| p.as_str().to_owned()).into(),
                at.into(),
            ],
        )
        .await?;
        let created = webhook_of(rows.first().ok_or_else(|| anyhow::anyhow!("insert returned no row"))?)?;
        tx.commit().await?;
        Ok(created)
    }

    async fn update_webhook(&self, id: WebhookId, patch: WebhookPatch) -> anyhow::Result<Option<ChatWebhook>> {
        let Some(raw) = webhook32(id) else { return Ok(None) };
        let tx = self.write().await?;
        let rows = query(&*tx, &format!("SELECT {WEBHOOK_COLUMNS} FROM chat_webhooks WHERE id = $1"), vec![raw.into()])
            .await?;
        let Some(current) = rows.first().map(webhook_of).transpose()? else { return Ok(None) };
        let updated = ChatWebhook {
            name: patch.name.unwrap_or(current.name),
            url: patch.url.unwrap_or(current.url),
            category_id: patch.category_id.unwrap_or(current.category_id),
            priority: patch.priority.unwrap_or(current.priority),
            ..current
        };
        exec(
            &*tx,
            "UPDATE chat_webhooks SET name = $2, url = $3, category_id = $4, priority = $5 WHERE id = $1",
            vec![
                raw.into(),
                updated.name.clone().into(),
                updated.url.clone().into(),
                category32(updated.category_id)?.into(),
                updated.priority.map(|p| p.as_str().to_owned()).into(),
            ],
        )
        .await?;
        tx.commit().await?;
        Ok(Some(updated))
    }

    async fn delete_webhook(&self, id: WebhookId) -> anyhow::Result<bool> {
        let Some(id) = webhook32(id) else { return Ok(false) };
        let tx = self.write().await?;
        exec(&*tx, "DELETE FROM chat_threads WHERE webhook_id = $1", vec![id.into()]).await?;
        let n = exec(&*tx, "DELETE FROM chat_webhooks WHERE id = $1", vec![id.into()]).await?;
        tx.commit().await?;
        Ok(n == 1)
    }

    async fn chat_context(&self, event: i64, webhook: WebhookId) -> anyhow::Result<Option<ChatContext>> {
        let Some(event) = id32(event) else { return Ok(None) };
        let Some(row) = ticket_events::Entity::find_by_id(event).one(&self.db).await? else { return Ok(None) };
        let change: Change = serde_json::from_str(&row.change)?;
        let Some(ticket) = tickets::Entity::find_by_id(row.ticket_id).one(&self.db).await? else { return Ok(None) };
        let category_id = ticket.category_id;
        let ticket = views(&self.db, vec![ticket], None).await?.pop().map(|v| v.ticket);
        let Some(ticket) = ticket else { return Ok(None) };
        let category = query(&self.db, "SELECT name FROM categories WHERE id = $1", vec![category_id.into()])
            .await?
            .first()
            .map(|r| r.try_get::<String>("", "name"))
            .transpose()?
            .unwrap_or_default();
        let escalation = query(
            &self.db,
            "SELECT actor_id, change FROM ticket_events WHERE ticket_id = $1 AND kind = 'escalated' AND id <= $2 \
             ORDER BY id DESC LIMIT 1",
            vec![row.ticket_id.into(), event.into()],
        )
        .await?;
        let escalation = match escalation.first() {
            Some(r) => {
                let raw: String = r.try_get("", "change")?;
                match serde_json::from_str::<Change>(&raw)? {
                    Change::Escalated { reason } => {
                        Some((name_of(&self.db, r.try_get("", "actor_id")?).await?, reason))
                    }
                    _ => None,
                }
            }
            None => None,
        };
        Ok(Some(ChatContext {
            ticket,
            category,
            change,
            actor: name_of(&self.db, row.actor_id).await?,
            escalation,
            webhook: self.webhook(webhook).await?,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_round_trip_through_their_stored_form() {
        let hours = BusinessHours::weekdays_nine_to_five(330);
        let settings = SlaSettings {
            targets: SlaTargets { urgent: SlaTarget::new(1, 2).unwrap(), ..SlaTargets::default() },
            business_hours: Some(hours.clone()),
        };
        let back = parse_settings(&targets_json(&settings.targets).to_string(), Some(&hours_json(&hours).to_string()))
            .unwrap();
        assert_eq!(back, settings);
        assert_eq!(
            parse_settings(&targets_json(&SlaTargets::default()).to_string(), None).unwrap(),
            SlaSettings::default()
        );
    }
}
