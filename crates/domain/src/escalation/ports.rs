//! Ports of escalation: the store of SLA settings, SLA states, escalations and chat webhooks,
//! and the chat notifier that posts a message to one webhook.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::actor::Actor;
use crate::categories::CategoryId;
use crate::notifications::DeliveryError;
use crate::tickets::{Change, Priority, Ticket, TicketId};

use super::{ChatMessage, EscalationReason, SlaDue, SlaSettings, SlaState};

/// A chat webhook's identifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct WebhookId(i64);

impl WebhookId {
    /// Wraps a raw id.
    pub fn new(id: i64) -> Self {
        Self(id)
    }

    /// The raw id.
    pub fn get(self) -> i64 {
        self.0
    }
}

/// Which chat provider a webhook posts to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChatKind {
    /// Google Chat: a `cardsV2` card in the ticket's thread.
    GoogleChat,
    /// Slack: Block Kit (an incoming webhook cannot reply in a thread).
    Slack,
}

impl ChatKind {
    /// Every kind.
    pub const ALL: [ChatKind; 2] = [ChatKind::GoogleChat, ChatKind::Slack];

    /// The stable name used in the API and the store.
    pub fn as_str(self) -> &'static str {
        match self {
            ChatKind::GoogleChat => "google_chat",
            ChatKind::Slack => "slack",
        }
    }

    /// Parses a stable name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// A chat webhook: where escalations of the tickets it matches are posted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatWebhook {
    /// Identifier.
    pub id: WebhookId,
    /// What admins call it ("Program office", "Exams escalations").
    pub name: String,
    /// The provider.
    pub kind: ChatKind,
    /// The incoming-webhook URL. It carries the secret: never logged, never shown in full
    /// (see [`ChatWebhook::shown_url`]).
    pub url: String,
    /// Only tickets of this category (`None`: any).
    pub category_id: Option<CategoryId>,
    /// Only tickets of this priority (`None`: any).
    pub priority: Option<Priority>,
    /// When it was added.
    pub created_at: DateTime<Utc>,
}

impl ChatWebhook {
    /// The URL as people may see it: the host and the last four characters.
    pub fn shown_url(&self) -> String {
        redact_url(&self.url)
    }

    /// Whether it has no filter: a default space, for tickets no filtered webhook takes.
    pub fn is_default(&self) -> bool {
        self.category_id.is_none() && self.priority.is_none()
    }
}

/// Shows a webhook URL without its secret: `https://chat.googleapis.com/…wxyz`.
pub fn redact_url(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("https", url));
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = authority.rsplit('@').next().unwrap_or("");
    let chars: Vec<char> = url.chars().collect();
    let tail: String = chars[chars.len().saturating_sub(4)..].iter().collect();
    format!("{scheme}://{host}/…{tail}")
}

/// A webhook to add.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewChatWebhook {
    /// Its name.
    pub name: String,
    /// The provider.
    pub kind: ChatKind,
    /// The incoming-webhook URL (checked against the allowed hosts).
    pub url: String,
    /// Only tickets of this category.
    pub category_id: Option<CategoryId>,
    /// Only tickets of this priority.
    pub priority: Option<Priority>,
}

/// Changes to a webhook; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WebhookPatch {
    /// A new name.
    pub name: Option<String>,
    /// A new URL (checked against the allowed hosts).
    pub url: Option<String>,
    /// A new category filter (`Some(None)` removes it).
    pub category_id: Option<Option<CategoryId>>,
    /// A new priority filter (`Some(None)` removes it).
    pub priority: Option<Option<Priority>>,
}

/// An unresolved ticket as the SLA job sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlaCandidate {
    /// The ticket.
    pub ticket: TicketId,
    /// Its priority now.
    pub priority: Priority,
    /// When it was raised.
    pub created_at: DateTime<Utc>,
    /// When staff first replied in public.
    pub first_response_at: Option<DateTime<Utc>>,
    /// The state stored by the last check.
    pub state: SlaState,
    /// The due times stored (`None` before the first check of an older ticket).
    pub due: Option<SlaDue>,
    /// Its votes.
    pub vote_count: u32,
    /// Whether its votes have escalated it already.
    pub escalated_for_votes: bool,
}

/// What a chat job needs to build its message, read when it is sent.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatContext {
    /// The ticket as it is now.
    pub ticket: Ticket,
    /// Its category's name.
    pub category: String,
    /// The event the message is about.
    pub change: Change,
    /// Who made the change: a user's display name, or `None` for osts itself.
    pub actor: Option<String>,
    /// The ticket's latest escalation (who, or `None` for osts; and why), which every
    /// message of the thread repeats.
    pub escalation: Option<(Option<String>, EscalationReason)>,
    /// The webhook (`None` once deleted).
    pub webhook: Option<ChatWebhook>,
}

/// Storage of SLA settings and states, escalations and chat webhooks.
///
/// Escalations are ticket events (`Change::Escalated`), recorded with their effects in the
/// transaction that decides them, as `TicketRepository`'s contract says.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait EscalationRepository: Send + Sync {
    /// The SLA settings admins stored; `None` before the first change (the defaults apply).
    async fn sla_settings(&self) -> anyhow::Result<Option<SlaSettings>>;

    /// Stores the SLA settings.
    async fn set_sla_settings(&self, settings: &SlaSettings, at: DateTime<Utc>) -> anyhow::Result<()>;

    /// Up to `limit` unresolved tickets (`open`, `in_progress`) with ids above `after`, by id.
    async fn sla_candidates(&self, after: Option<TicketId>, limit: u32) -> anyhow::Result<Vec<SlaCandidate>>;

    /// Stores a ticket's due times.
    async fn set_sla_due(&self, ticket: TicketId, due: SlaDue) -> anyhow::Result<()>;

    /// Moves a ticket's stored SLA state from `from` to `to` and, when `escalation` is given,
    /// records `Change::Escalated` by the system with its effects; one transaction. MUST
    /// change nothing and return `false` if the stored state is no longer `from` (another
    /// server's check got there first), so each change is recorded once.
    async fn set_sla_state(
        &self,
        ticket: TicketId,
        from: SlaState,
        to: SlaState,
        escalation: Option<EscalationReason>,
        at: DateTime<Utc>,
    ) -> anyhow::Result<bool>;

    /// Records `Change::Escalated` by `actor` with its effects and sets the ticket's
    /// escalation time if unset; one transaction. For a `Votes` reason it MUST record
    /// nothing and return `false` if the ticket's votes escalated it before (a ticket
    /// escalates for its votes once). MUST return `false` if there is no such ticket.
    async fn escalate(
        &self,
        ticket: TicketId,
        reason: &EscalationReason,
        actor: Actor,
        at: DateTime<Utc>,
    ) -> anyhow::Result<bool>;

    /// Every webhook, by id.
    async fn webhooks(&self) -> anyhow::Result<Vec<ChatWebhook>>;

    /// One webhook.
    async fn webhook(&self, id: WebhookId) -> anyhow::Result<Option<ChatWebhook>>;

    /// Adds a webhook.
    async fn create_webhook(&self, webhook: NewChatWebhook, at: DateTime<Utc>) -> anyhow::Result<ChatWebhook>;

    /// Changes a webhook; `None` if there is none.
    async fn update_webhook(&self, id: WebhookId, patch: WebhookPatch) -> anyhow::Result<Option<ChatWebhook>>;

    /// Deletes a webhook (its pending jobs then post nothing); `false` if there was none.
    async fn delete_webhook(&self, id: WebhookId) -> anyhow::Result<bool>;

    /// What the chat job for `event` and `webhook` needs; `None` if the event is gone.
    async fn chat_context(&self, event: i64, webhook: WebhookId) -> anyhow::Result<Option<ChatContext>>;
}

/// Posts a message to one chat webhook (the Google Chat and Slack adapters).
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait ChatNotifier: Send + Sync {
    /// Posts `message` in the ticket's thread. `request_id` identifies the job, so that the
    /// provider makes one message of repeated requests where it honours it. MUST return
    /// `Later` only when the message was certainly not posted, and `Throttled` when a rate
    /// limit kept it from being attempted. Errors MUST NOT contain the URL.
    async fn post(&self, webhook: &ChatWebhook, request_id: &str, message: &ChatMessage) -> Result<(), DeliveryError>;
}
