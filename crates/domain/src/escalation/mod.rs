//! Escalation: bringing a ticket to the attention of the people above support (posted to a
//! chat space through a chat webhook), and the service-level targets whose risk or breach
//! escalates a ticket. This module holds the pure rules: the SLA clock ([`sla`]) and when a
//! ticket escalates ([`rules`]).

mod message;
pub mod rules;
pub mod sla;

pub use message::ChatMessage;

pub use rules::{escalates_on_priority, escalates_on_sla, escalates_on_votes, follows_into_chat, EscalationReason};
pub use sla::{evaluate, BusinessHours, SlaClock, SlaFacts, SlaState, SlaStatus, SlaTarget, SlaTargets};
