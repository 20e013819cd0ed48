//! What templates show: domain values turned into plain text for people.

use chrono::{DateTime, Utc};
use domain::escalation::SlaState;
use domain::tickets::{Priority, Status, TicketView};

/// A time as people read it.
pub fn when(at: DateTime<Utc>) -> String {
    at.format("%-d %b %Y, %H:%M UTC").to_string()
}

/// A status as people read it.
pub fn status_label(status: Status) -> &'static str {
    match status {
        Status::Open => "Open",
        Status::InProgress => "In progress",
        Status::Resolved => "Resolved",
        Status::Closed => "Closed",
        Status::Merged => "Merged",
    }
}

/// A priority as people read it.
pub fn priority_label(priority: Priority) -> &'static str {
    match priority {
        Priority::Low => "Low",
        Priority::Medium => "Medium",
        Priority::High => "High",
        Priority::Urgent => "Urgent",
    }
}

/// An SLA badge's text, when there is something to say.
pub fn sla_label(state: SlaState) -> Option<&'static str> {
    match state {
        SlaState::Ok => None,
        SlaState::AtRisk => Some("At risk"),
        SlaState::Breached => Some("Breached"),
    }
}

/// One line of a ticket list.
pub struct TicketRow {
    /// The number people see.
    pub number: i64,
    /// Title.
    pub title: String,
    /// Status label.
    pub status: &'static str,
    /// Status's stable name (for the badge's style).
    pub status_key: &'static str,
    /// Priority label.
    pub priority: &'static str,
    /// Priority's stable name.
    pub priority_key: &'static str,
    /// Votes.
    pub votes: u32,
    /// Whether the viewer voted.
    pub voted: bool,
    /// When it was raised.
    pub created: String,
    /// Who raised it.
    pub creator: String,
    /// Who works on it.
    pub assignee: Option<String>,
    /// The SLA badge.
    pub sla: Option<&'static str>,
    /// The SLA state's stable name.
    pub sla_key: &'static str,
}

impl From<&TicketView> for TicketRow {
    fn from(view: &TicketView) -> Self {
        let t = &view.ticket;
        Self {
            number: t.id().get(),
            title: t.title().as_str().to_owned(),
            status: status_label(t.status()),
            status_key: t.status().as_str(),
            priority: priority_label(t.priority()),
            priority_key: t.priority().as_str(),
            votes: t.vote_count(),
            voted: view.voted,
            created: when(t.created_at()),
            creator: t.creator_name().to_owned(),
            assignee: t.assignee().map(|a| a.display_name.clone()),
            sla: sla_label(t.sla().state),
            sla_key: t.sla().state.as_str(),
        }
    }
}

/// An option of a `<select>`.
pub struct Choice {
    /// The submitted value.
    pub value: String,
    /// The label.
    pub label: String,
    /// Whether it is selected.
    pub selected: bool,
}

impl Choice {
    /// Options from `(value, label)` pairs with `current` selected.
    pub fn list<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>, current: &str) -> Vec<Choice> {
        pairs
            .into_iter()
            .map(|(value, label)| Choice { value: value.into(), label: label.into(), selected: value == current })
            .collect()
    }
}

/// A history entry's kind as people read it (`title_changed` → "Title changed").
pub fn change_label(kind: &str) -> String {
    crate::fail::sentence(&kind.replace('_', " ")).trim_end_matches('.').to_owned()
}
