//! When a ticket is escalated to the people above support, and which of its later events
//! follow it into the chat thread: pure rules, table-tested.

use crate::tickets::{Change, Priority};

use super::sla::SlaState;

/// Why a ticket was escalated (recorded in its history as `Change::Escalated`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "by", rename_all = "snake_case")]
pub enum EscalationReason {
    /// It was raised as, or raised to, this priority (high or urgent).
    Priority {
        /// The priority.
        priority: Priority,
    },
    /// Its votes reached the threshold.
    Votes {
        /// Votes now.
        votes: u32,
        /// The configured threshold (`OSTS_ESCALATE_VOTES`).
        threshold: u32,
    },
    /// Its service-level timer is at risk or breached.
    Sla {
        /// `at_risk` or `breached`.
        state: SlaState,
    },
    /// A support member escalated it, with a note.
    Manual {
        /// Why, in their words.
        note: String,
    },
}

impl EscalationReason {
    /// What happened, in a few words, for people ("urgent priority", "25 votes",
    /// "SLA breached", "escalated by staff").
    pub fn describe(&self) -> String {
        match self {
            EscalationReason::Priority { priority } => format!("{} priority", priority.as_str()),
            EscalationReason::Votes { votes, .. } => format!("{votes} votes"),
            EscalationReason::Sla { state } => format!("SLA {}", state.as_str().replace('_', " ")),
            EscalationReason::Manual { .. } => "escalated by staff".into(),
        }
    }
}

/// Whether a ticket created as (`from` is `None`) or changed to `to` escalates: high and
/// urgent do, and only when the priority rises (high → urgent escalates again; urgent →
/// high does not).
pub fn escalates_on_priority(from: Option<Priority>, to: Priority) -> bool {
    let pressing = match to {
        Priority::High | Priority::Urgent => true,
        Priority::Low | Priority::Medium => false,
    };
    pressing && from.is_none_or(|before| before < to)
}

/// Whether a vote count moving from `before` to `after` escalates: crossing the threshold
/// upwards, once per ticket (a ticket that drops below and crosses again does not escalate
/// twice, which is what `escalated_for_votes` remembers).
pub fn escalates_on_votes(before: u32, after: u32, threshold: u32, escalated_for_votes: bool) -> bool {
    threshold > 0 && !escalated_for_votes && before < threshold && after >= threshold
}

/// Whether an SLA state change escalates: reaching at risk or breached (each once, since a
/// state is only recorded when it gets worse).
pub fn escalates_on_sla(before: SlaState, now: SlaState) -> bool {
    before.worsened_to(now).is_some()
}

/// Whether a later event of an escalated ticket is posted as a reply in its chat thread, so
/// the thread tells the whole story: assignment, priority, resolution, reopening, closing
/// and merging; not votes, watches, edits of wording or internal notes.
pub fn follows_into_chat(change: &Change) -> bool {
    match change {
        Change::AssigneeChanged { .. }
        | Change::PriorityChanged { .. }
        | Change::StatusChanged { .. }
        | Change::Resolved { .. }
        | Change::Reopened { .. }
        | Change::AutoClosed
        | Change::MergedInto { .. }
        | Change::Unmerged { .. } => true,
        Change::Escalated { .. }
        | Change::ThreadRequested { .. }
        | Change::ThreadLinked { .. }
        | Change::ThreadVisibilityChanged { .. }
        | Change::ThreadClosed { .. }
        | Change::ThreadReopened { .. }
        | Change::ThreadReply { .. }
        | Change::ThreadLiked { .. }
        | Change::ThreadPostDeleted { .. }
        | Change::Created { .. }
        | Change::TitleChanged { .. }
        | Change::DescriptionChanged
        | Change::CategoryChanged { .. }
        | Change::TagsChanged { .. }
        | Change::VoteCast
        | Change::VoteRetracted
        | Change::ReplyAdded { .. }
        | Change::MergedFrom { .. }
        | Change::Watched
        | Change::Unwatched
        | Change::FaqPublished { .. } => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tickets::Status;
    use Priority::*;

    #[test]
    fn priority_table() {
        // (from, to, escalates)
        let table = [
            (None, Low, false),
            (None, Medium, false),
            (None, High, true),
            (None, Urgent, true),
            (Some(Medium), High, true),
            (Some(Low), Urgent, true),
            (Some(High), Urgent, true),
            (Some(Urgent), High, false),
            (Some(High), High, false),
            (Some(Urgent), Urgent, false),
            (Some(High), Medium, false),
            (Some(Low), Medium, false),
        ];
        for (from, to, expected) in table {
            assert_eq!(escalates_on_priority(from, to), expected, "{from:?} -> {to:?}");
        }
    }

    #[test]
    fn votes_escalate_once_when_crossing() {
        // (before, after, threshold, escalated already, escalates)
        let table = [
            (24, 25, 25, false, true),
            (23, 30, 25, false, true),
            (25, 26, 25, false, false),
            (24, 25, 25, true, false),
            (26, 24, 25, false, false),
            (0, 1, 0, false, false),
        ];
        for (before, after, threshold, done, expected) in table {
            assert_eq!(escalates_on_votes(before, after, threshold, done), expected, "{before}->{after}/{threshold}");
        }
    }

    #[test]
    fn sla_escalates_as_it_worsens() {
        assert!(escalates_on_sla(SlaState::Ok, SlaState::AtRisk));
        assert!(escalates_on_sla(SlaState::AtRisk, SlaState::Breached));
        assert!(!escalates_on_sla(SlaState::Breached, SlaState::Breached));
        assert!(!escalates_on_sla(SlaState::AtRisk, SlaState::Ok));
    }

    #[test]
    fn the_story_not_the_noise_follows_into_chat() {
        assert!(follows_into_chat(&Change::Resolved { answer: "Done".into() }));
        assert!(follows_into_chat(&Change::StatusChanged { from: Status::Open, to: Status::InProgress }));
        assert!(follows_into_chat(&Change::AssigneeChanged { from: None, to: Some(3) }));
        assert!(!follows_into_chat(&Change::VoteCast));
        assert!(!follows_into_chat(&Change::ReplyAdded { reply_id: 1, internal: true }));
    }
}
