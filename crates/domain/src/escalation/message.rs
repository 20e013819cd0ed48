//! What an escalation posts to a chat space, independent of any chat provider: the chat
//! adapters render it (Google Chat `cardsV2`, Slack Block Kit) and escape it for their syntax.

use crate::tickets::{Priority, Status};

use super::sla::SlaState;

/// One message about one escalated ticket: the first of its chat thread (the escalation) or
/// a later event posted as a reply (assigned, priority changed, resolved, reopened).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatMessage {
    /// The ticket's number (`#1042`).
    pub ticket_number: i64,
    /// Its title.
    pub title: String,
    /// Where people open it (from `Links`).
    pub url: String,
    /// What happened, in a few words ("escalated: urgent priority", "resolved by Sam").
    pub headline: String,
    /// Its priority now.
    pub priority: Priority,
    /// Its category's name.
    pub category: String,
    /// Its votes now.
    pub votes: u32,
    /// Its status now.
    pub status: Status,
    /// Its SLA state now.
    pub sla: SlaState,
    /// Who escalated it (a person's display name, or "osts" for automatic escalations).
    pub escalated_by: String,
    /// Why (the reason, or the support member's note).
    pub reason: String,
}

impl ChatMessage {
    /// The key of the ticket's chat thread: every message of one ticket goes to one thread.
    pub fn thread_key(&self) -> String {
        format!("ticket-{}", self.ticket_number)
    }
}
