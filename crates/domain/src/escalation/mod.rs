//! Escalation: bringing a ticket to the attention of the people above support (posted to a
//! chat space through a chat webhook), and the service-level targets whose risk or breach
//! escalates a ticket. This module holds the pure rules: the SLA clock ([`sla`]) and when a
//! ticket escalates ([`rules`]).

mod dispatch;
mod message;
mod ports;
pub mod rules;
mod service;
pub mod sla;

pub use dispatch::ChatDispatcher;
pub use message::ChatMessage;
pub use ports::{
    redact_url, ChatContext, ChatKind, ChatNotifier, ChatWebhook, EscalationRepository, NewChatWebhook, SlaCandidate,
    WebhookId, WebhookPatch,
};
#[cfg(any(test, feature = "mocks"))]
pub use ports::{MockChatNotifier, MockEscalationRepository};
pub use service::{EscalationService, EscalationSettings, SlaBook, SweepReport, WebhookPolicy, WebhookTest};

pub use rules::{escalates_on_priority, escalates_on_sla, escalates_on_votes, follows_into_chat, EscalationReason};
pub use sla::{
    evaluate, BusinessHours, SlaClock, SlaDue, SlaFacts, SlaSettings, SlaState, SlaStatus, SlaTarget, SlaTargets,
    TicketSla,
};
