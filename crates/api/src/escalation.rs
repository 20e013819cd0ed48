//! Escalation: explicit escalation by staff, the SLA targets admins set, and the chat
//! webhooks escalations are posted to.

use std::sync::Arc;

use chrono::{DateTime, NaiveTime, Utc};
use domain::categories::CategoryId;
use domain::escalation::{self as de, BusinessHours, SlaSettings, SlaTarget, SlaTargets, WebhookId};
use domain::tickets::TicketId;
use poem::web::Data;
use poem_openapi::{param::Path, payload::Json, ApiResponse, Enum, Object, OpenApi};

use crate::nullable::{Clearable, Nullable};
use crate::{
    auth::Session,
    error::{error_set, Failure},
    text::{self, Text},
    tickets::{Priority, Ticket},
    ApiTags, App,
};

/// Why a staff member escalates a ticket.
#[derive(Debug, Object)]
pub struct EscalationNote {
    /// What the people above support should know or decide: 1–2000 characters.
    #[oai(validator(min_length = 1, max_length = 2000, pattern = r"\S"))]
    pub note: String,
}

/// The time allowed at one priority, in minutes (counted in business hours when they are
/// set).
#[derive(Debug, Clone, Object)]
pub struct SlaTargetView {
    /// Minutes until the first public staff reply is due: 1–527040 (366 days).
    #[oai(validator(minimum(value = "1"), maximum(value = "527040")))]
    pub first_response_minutes: u32,
    /// Minutes until the resolution is due: 1–527040, and no less than the first response.
    #[oai(validator(minimum(value = "1"), maximum(value = "527040")))]
    pub resolution_minutes: u32,
}

/// One target per priority.
#[derive(Debug, Clone, Object)]
pub struct SlaTargetsView {
    /// `low`.
    pub low: SlaTargetView,
    /// `medium`.
    pub medium: SlaTargetView,
    /// `high`.
    pub high: SlaTargetView,
    /// `urgent`.
    pub urgent: SlaTargetView,
}

/// A day of the week.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "lowercase")]
pub enum Weekday {
    /// Monday.
    Mon,
    /// Tuesday.
    Tue,
    /// Wednesday.
    Wed,
    /// Thursday.
    Thu,
    /// Friday.
    Fri,
    /// Saturday.
    Sat,
    /// Sunday.
    Sun,
}

impl From<Weekday> for chrono::Weekday {
    fn from(d: Weekday) -> Self {
        match d {
            Weekday::Mon => chrono::Weekday::Mon,
            Weekday::Tue => chrono::Weekday::Tue,
            Weekday::Wed => chrono::Weekday::Wed,
            Weekday::Thu => chrono::Weekday::Thu,
            Weekday::Fri => chrono::Weekday::Fri,
            Weekday::Sat => chrono::Weekday::Sat,
            Weekday::Sun => chrono::Weekday::Sun,
        }
    }
}

impl From<chrono::Weekday> for Weekday {
    fn from(d: chrono::Weekday) -> Self {
        match d {
            chrono::Weekday::Mon => Weekday::Mon,
            chrono::Weekday::Tue => Weekday::Tue,
            chrono::Weekday::Wed => Weekday::Wed,
            chrono::Weekday::Thu => Weekday::Thu,
            chrono::Weekday::Fri => Weekday::Fri,
            chrono::Weekday::Sat => Weekday::Sat,
            chrono::Weekday::Sun => Weekday::Sun,
        }
    }
}

/// When support works: SLA time counts only then.
#[derive(Debug, Clone, Object)]
pub struct BusinessHoursView {
    /// The working days (at least one).
    #[oai(validator(min_items = 1, max_items = 7))]
    pub days: Vec<Weekday>,
    /// When the working day starts, local time, `HH:MM`.
    #[oai(validator(pattern = r"^([01][0-9]|2[0-3]):[0-5][0-9]$"))]
    pub start: String,
    /// When it ends, local time, `HH:MM` (after `start`).
    #[oai(validator(pattern = r"^([01][0-9]|2[0-3]):[0-5][0-9]$"))]
    pub end: String,
    /// The local time's offset from UTC in minutes (e.g. 330 for UTC+5:30), −840 to 840.
    #[oai(validator(minimum(value = "-840"), maximum(value = "840")))]
    pub utc_offset_minutes: i32,
}

/// The service-level targets and business hours.
#[derive(Debug, Clone, Object)]
pub struct SlaSettingsView {
    /// A target per priority.
    pub targets: SlaTargetsView,
    /// When support works; `null` counts every minute (wall-clock time).
    pub business_hours: Nullable<BusinessHoursView>,
}

impl From<SlaSettings> for SlaSettingsView {
    fn from(s: SlaSettings) -> Self {
        let one = |t: SlaTarget| SlaTargetView {
            first_response_minutes: t.first_response_minutes(),
            resolution_minutes: t.resolution_minutes(),
        };
        Self {
            targets: SlaTargetsView {
                low: one(s.targets.low),
                medium: one(s.targets.medium),
                high: one(s.targets.high),
                urgent: one(s.targets.urgent),
            },
            business_hours: Nullable(s.business_hours.map(|h| BusinessHoursView {
                days: h.days().iter().map(|d| (*d).into()).collect(),
                start: h.start().format("%H:%M").to_string(),
                end: h.end().format("%H:%M").to_string(),
                utc_offset_minutes: h.utc_offset_minutes(),
            })),
        }
    }
}

impl TryFrom<SlaSettingsView> for SlaSettings {
    type Error = domain::Error;

    fn try_from(v: SlaSettingsView) -> Result<Self, Self::Error> {
        let one = |t: SlaTargetView| SlaTarget::new(t.first_response_minutes, t.resolution_minutes);
        let t = v.targets;
        let targets =
            SlaTargets { low: one(t.low)?, medium: one(t.medium)?, high: one(t.high)?, urgent: one(t.urgent)? };
        let business_hours = match v.business_hours.0 {
            None => None,
            Some(h) => {
                let time = |field: &'static str, raw: &str| {
                    NaiveTime::parse_from_str(raw, "%H:%M")
                        .map_err(|_| domain::Error::invalid(field, "invalid_time", "a time is HH:MM"))
                };
                Some(BusinessHours::new(
                    h.days.into_iter().map(Into::into).collect(),
                    time("start", &h.start)?,
                    time("end", &h.end)?,
                    h.utc_offset_minutes,
                )?)
            }
        };
        Ok(SlaSettings { targets, business_hours })
    }
}

/// Which chat provider a webhook posts to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case", remote = "domain::escalation::ChatKind")]
pub enum ChatKind {
    /// Google Chat: a card in the ticket's thread.
    GoogleChat,
    /// Slack: a Block Kit message (Slack's incoming webhooks cannot reply in threads).
    Slack,
}

/// A chat webhook. Its URL is a secret: it is shown as its host and last four characters.
#[derive(Debug, Clone, Object)]
pub struct ChatWebhook {
    /// Identifier.
    pub id: i64,
    /// What admins call it.
    pub name: String,
    /// The provider.
    pub kind: ChatKind,
    /// The URL without its secret (`https://chat.googleapis.com/…wxyz`).
    pub url: String,
    /// Only tickets of this category; `null`: any.
    pub category_id: Nullable<i64>,
    /// Only tickets of this priority; `null`: any.
    pub priority: Nullable<Priority>,
    /// Whether it has no filter: a default space, for tickets no filtered webhook takes.
    pub default: bool,
    /// When it was added.
    pub created_at: DateTime<Utc>,
}

impl From<de::ChatWebhook> for ChatWebhook {
    fn from(w: de::ChatWebhook) -> Self {
        Self {
            id: w.id.get(),
            url: w.shown_url(),
            default: w.is_default(),
            name: w.name,
            kind: w.kind.into(),
            category_id: Nullable(w.category_id.map(CategoryId::get)),
            priority: Nullable(w.priority.map(Into::into)),
            created_at: w.created_at,
        }
    }
}

/// A webhook to add.
#[derive(Debug, Object)]
pub struct NewChatWebhook {
    /// What admins call it: 1–100 characters.
    #[oai(validator(min_length = 1, max_length = 100, pattern = r"\S"))]
    pub name: String,
    /// The provider (default `google_chat`).
    pub kind: Option<ChatKind>,
    /// The incoming-webhook URL: `https` to a host in `OSTS_CHAT_WEBHOOK_HOSTS`.
    pub url: Text<text::WebhookUrl>,
    /// Only tickets of this category.
    pub category_id: Option<i64>,
    /// Only tickets of this priority.
    pub priority: Option<Priority>,
}

/// Changes to a webhook; absent fields stay, `null` removes a filter.
#[derive(Debug, Object)]
pub struct ChatWebhookPatch {
    /// A new name: 1–100 characters.
    #[oai(validator(min_length = 1, max_length = 100, pattern = r"\S"))]
    pub name: Option<String>,
    /// A new URL: `https` to a host in `OSTS_CHAT_WEBHOOK_HOSTS`.
    pub url: Option<Text<text::WebhookUrl>>,
    /// A new category filter, or `null` for any category.
    pub category_id: Clearable<i64>,
    /// A new priority filter, or `null` for any priority.
    pub priority: Clearable<Priority>,
}

/// How a test message went.
#[derive(Debug, Clone, Object)]
pub struct WebhookTestResult {
    /// Whether the provider accepted it.
    pub delivered: bool,
    /// What went wrong, if it did not (the provider's status and message; never the URL).
    pub error: Nullable<String>,
}

/// `POST /tickets/{id}/escalate` succeeded.
#[derive(ApiResponse)]
pub enum EscalateResponse {
    /// The ticket, escalated; its chat message is on its way.
    #[oai(status = 200)]
    Ok(Json<Ticket>),
}

/// `GET`/`PUT /admin/sla` succeeded.
#[derive(ApiResponse)]
pub enum SlaResponse {
    /// The SLA settings in effect.
    #[oai(status = 200)]
    Ok(Json<SlaSettingsView>),
}

/// `GET /admin/chat/webhooks` succeeded.
#[derive(ApiResponse)]
pub enum WebhooksResponse {
    /// Every webhook, by id.
    #[oai(status = 200)]
    Ok(Json<Vec<ChatWebhook>>),
}

/// A webhook was added.
#[derive(ApiResponse)]
pub enum WebhookCreatedResponse {
    /// The webhook.
    #[oai(status = 201)]
    Created(Json<ChatWebhook>),
}

/// A webhook was changed.
#[derive(ApiResponse)]
pub enum WebhookResponse {
    /// The webhook as it is now.
    #[oai(status = 200)]
    Ok(Json<ChatWebhook>),
}

/// A webhook was deleted.
#[derive(ApiResponse)]
pub enum WebhookDeletedResponse {
    /// Deleted; its space hears no more.
    #[oai(status = 204)]
    Deleted,
}

/// A test message was sent.
#[derive(ApiResponse)]
pub enum WebhookTestResponse {
    /// How it went (a refusal by the provider is reported here, not as an error).
    #[oai(status = 200)]
    Ok(Json<WebhookTestResult>),
}

error_set!(
    /// Errors of `POST /tickets/{id}/escalate`.
    EscalateErrors = [400, 401, 403, 404, 409, 413, 415, 422, 500]
);
error_set!(
    /// Errors of reads by admins.
    AdminReadErrors = [401, 403, 500]
);
error_set!(
    /// Errors of writes by admins with a body.
    AdminWriteErrors = [400, 401, 403, 413, 415, 422, 500]
);
error_set!(
    /// Errors of writes by admins to one webhook with a body.
    WebhookWriteErrors = [400, 401, 403, 404, 413, 415, 422, 500]
);
error_set!(
    /// Errors of actions by admins on one webhook.
    WebhookActionErrors = [400, 401, 403, 404, 500]
);

/// Escalation to chat and service-level targets.
pub struct EscalationApi;

#[OpenApi(prefix_path = "/api/v1", tag = "ApiTags::Escalation")]
impl EscalationApi {
    /// Escalate a ticket
    ///
    /// Staff only. Brings an open or in-progress ticket to the attention of the people above
    /// support: a message with the note goes to its chat thread (opened on the webhooks that
    /// match the ticket if it has none). Tickets also escalate by themselves: raised as or
    /// raised to `high` or `urgent`, at `OSTS_ESCALATE_VOTES` votes, and when their SLA is at
    /// risk or breached.
    #[oai(path = "/tickets/:id/escalate", method = "post", operation_id = "escalate_ticket")]
    async fn escalate(
        &self,
        auth: Session,
        app: Data<&Arc<App>>,
        /// The ticket's number.
        id: Path<i64>,
        body: Json<EscalationNote>,
    ) -> Result<EscalateResponse, Failure<EscalateErrors>> {
        let ticket = app.escalation.escalate(&auth.0.principal, TicketId::new(id.0), &body.0.note).await?;
        Ok(EscalateResponse::Ok(Json(ticket.into())))
    }

    /// SLA settings
    ///
    /// Admins only. The targets per priority (time to first staff response and to
    /// resolution, in minutes) and the business hours they count in (`null`: wall-clock).
    #[oai(path = "/admin/sla", method = "get", operation_id = "sla_settings")]
    async fn sla(&self, auth: Session, app: Data<&Arc<App>>) -> Result<SlaResponse, Failure<AdminReadErrors>> {
        let settings = app.escalation.sla_settings(&auth.0.principal).await?;
        Ok(SlaResponse::Ok(Json(settings.into())))
    }

    /// Set the SLA settings
    ///
    /// Admins only. The due times of every unresolved ticket move to the new targets; the
    /// next SLA check (within `OSTS_SLA_INTERVAL_SECS`) re-evaluates their states.
    #[oai(path = "/admin/sla", method = "put", operation_id = "set_sla_settings")]
    async fn set_sla(
        &self,
        auth: Session,
        app: Data<&Arc<App>>,
        body: Json<SlaSettingsView>,
    ) -> Result<SlaResponse, Failure<AdminWriteErrors>> {
        let settings = SlaSettings::try_from(body.0)?;
        let settings = app.escalation.set_sla_settings(&auth.0.principal, settings).await?;
        Ok(SlaResponse::Ok(Json(settings.into())))
    }

    /// Chat webhooks
    ///
    /// Admins only. Where escalations are posted: each webhook takes the tickets its filters
    /// match (category, priority); webhooks without filters are the default spaces, for
    /// tickets no filtered webhook takes. URLs are shown without their secret.
    #[oai(path = "/admin/chat/webhooks", method = "get", operation_id = "list_chat_webhooks")]
    async fn webhooks(
        &self,
        auth: Session,
        app: Data<&Arc<App>>,
    ) -> Result<WebhooksResponse, Failure<AdminReadErrors>> {
        let hooks = app.escalation.webhooks(&auth.0.principal).await?;
        Ok(WebhooksResponse::Ok(Json(hooks.into_iter().map(Into::into).collect())))
    }

    /// Add a chat webhook
    ///
    /// Admins only. The URL must be `https` to a host in `OSTS_CHAT_WEBHOOK_HOSTS` (exact
    /// host names; default `chat.googleapis.com`); it is stored and never shown again in full.
    #[oai(path = "/admin/chat/webhooks", method = "post", operation_id = "add_chat_webhook")]
    async fn add_webhook(
        &self,
        auth: Session,
        app: Data<&Arc<App>>,
        body: Json<NewChatWebhook>,
    ) -> Result<WebhookCreatedResponse, Failure<AdminWriteErrors>> {
        let b = body.0;
        let webhook = de::NewChatWebhook {
            name: b.name,
            kind: b.kind.map_or(de::ChatKind::GoogleChat, Into::into),
            url: b.url.into_inner(),
            category_id: b.category_id.map(CategoryId::new),
            priority: b.priority.map(Into::into),
        };
        let added = app.escalation.add_webhook(&auth.0.principal, webhook).await?;
        Ok(WebhookCreatedResponse::Created(Json(added.into())))
    }

    /// Change a chat webhook
    ///
    /// Admins only.
    #[oai(path = "/admin/chat/webhooks/:id", method = "patch", operation_id = "update_chat_webhook")]
    async fn update_webhook(
        &self,
        auth: Session,
        app: Data<&Arc<App>>,
        /// The webhook's id.
        id: Path<i64>,
        body: Json<ChatWebhookPatch>,
    ) -> Result<WebhookResponse, Failure<WebhookWriteErrors>> {
        let b = body.0;
        let patch = de::WebhookPatch {
            name: b.name,
            url: b.url.map(Text::into_inner),
            category_id: b.category_id.0.map(|c| c.map(CategoryId::new)),
            priority: b.priority.0.map(|p| p.map(Into::into)),
        };
        let updated = app.escalation.update_webhook(&auth.0.principal, WebhookId::new(id.0), patch).await?;
        Ok(WebhookResponse::Ok(Json(updated.into())))
    }

    /// Delete a chat webhook
    ///
    /// Admins only. Its space hears no more, messages not yet sent included.
    #[oai(path = "/admin/chat/webhooks/:id", method = "delete", operation_id = "delete_chat_webhook")]
    async fn delete_webhook(
        &self,
        auth: Session,
        app: Data<&Arc<App>>,
        /// The webhook's id.
        id: Path<i64>,
    ) -> Result<WebhookDeletedResponse, Failure<WebhookActionErrors>> {
        app.escalation.delete_webhook(&auth.0.principal, WebhookId::new(id.0)).await?;
        Ok(WebhookDeletedResponse::Deleted)
    }

    /// Send a test message
    ///
    /// Admins only. Posts a test card to the webhook now and reports what the provider said.
    #[oai(path = "/admin/chat/webhooks/:id/test", method = "post", operation_id = "test_chat_webhook")]
    async fn test_webhook(
        &self,
        auth: Session,
        app: Data<&Arc<App>>,
        /// The webhook's id.
        id: Path<i64>,
    ) -> Result<WebhookTestResponse, Failure<WebhookActionErrors>> {
        let result = app.escalation.test_webhook(&auth.0.principal, WebhookId::new(id.0)).await?;
        Ok(WebhookTestResponse::Ok(Json(WebhookTestResult {
            delivered: result.delivered,
            error: Nullable(result.error),
        })))
    }
}
