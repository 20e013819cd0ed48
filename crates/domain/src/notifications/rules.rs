//! The pure rules: which events notify whom, and when a failed delivery is tried again.
//!
//! The store's fan-out (`store::notifications::fan_out`) is set-based SQL that mirrors
//! [`audience`] and [`recipients`]; the store tests check the SQL against the same cases as the
//! table tests here.

use chrono::{DateTime, Duration, Utc};

use crate::accounts::{Role, UserId};
use crate::tickets::Change;

use super::NotificationKind;

/// Who may hear about an event, before the actor is taken out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audience {
    /// Everyone watching the ticket (creator, voters, repliers, people of merged duplicates).
    Watchers,
    /// Watchers who are staff (internal notes).
    StaffWatchers,
    /// One user (the new assignee).
    User(UserId),
}

/// The notification an event causes, if any, and its audience.
pub fn audience(change: &Change) -> Option<(NotificationKind, Audience)> {
    match change {
        Change::Resolved { .. } => Some((NotificationKind::Resolved, Audience::Watchers)),
        Change::Reopened { .. } => Some((NotificationKind::Reopened, Audience::Watchers)),
        Change::StatusChanged { .. } => Some((NotificationKind::StatusChanged, Audience::Watchers)),
        Change::PriorityChanged { .. } => Some((NotificationKind::PriorityChanged, Audience::Watchers)),
        Change::ReplyAdded { internal: false, .. } => Some((NotificationKind::Reply, Audience::Watchers)),
        Change::ReplyAdded { internal: true, .. } => Some((NotificationKind::InternalNote, Audience::StaffWatchers)),
        Change::AssigneeChanged { to: Some(to), .. } => {
            Some((NotificationKind::Assigned, Audience::User(UserId::new(*to))))
        }
        // Recorded on the duplicate, whose watchers are its people.
        Change::MergedInto { .. } => Some((NotificationKind::Merged, Audience::Watchers)),
        // The ticket's creator and voters watch it: the answer they waited for is in the FAQ.
        Change::FaqPublished { .. } => Some((NotificationKind::FaqPublished, Audience::Watchers)),
        Change::AssigneeChanged { to: None, .. }
        | Change::Created { .. }
        | Change::TitleChanged { .. }
        | Change::DescriptionChanged
        | Change::CategoryChanged { .. }
        | Change::TagsChanged { .. }
        | Change::VoteCast
        | Change::VoteRetracted
        | Change::AutoClosed
        | Change::MergedFrom { .. }
        | Change::Unmerged { .. }
        | Change::Watched
        | Change::Unwatched => None,
    }
}

/// A person who might be notified.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Candidate {
    /// Who.
    pub id: UserId,
    /// Their role.
    pub role: Role,
}

/// The users to notify: each once, never the actor, staff only for staff audiences.
/// `watchers` may repeat people (a creator who also voted).
pub fn recipients(audience: Audience, watchers: &[Candidate], actor: Option<UserId>) -> Vec<UserId> {
    let mut chosen: Vec<UserId> = match audience {
        Audience::Watchers => watchers.iter().map(|c| c.id).collect(),
        Audience::StaffWatchers => watchers.iter().filter(|c| c.role.is_staff()).map(|c| c.id).collect(),
        Audience::User(id) => vec![id],
    };
    chosen.retain(|id| Some(*id) != actor);
    chosen.sort();
    chosen.dedup();
    chosen
}

/// How failed deliveries are spaced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// The delay after the first failure.
    pub base: Duration,
    /// The longest delay.
    pub max: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Self { base: Duration::seconds(30), max: Duration::hours(1) }
    }
}

/// When to try again after `attempts` failed attempts: `base · 2^(attempts-1)`, capped at
/// `max`, then scaled by a jitter factor in `[0.5, 1.0]` (`jitter` in `[0, 1]`) so that many
/// jobs failing together do not retry together.
pub fn next_attempt(backoff: Backoff, attempts: u32, now: DateTime<Utc>, jitter: f64) -> DateTime<Utc> {
    let exp = attempts.saturating_sub(1).min(30);
    let ms = backoff.base.num_milliseconds().saturating_mul(1_i64 << exp).min(backoff.max.num_milliseconds());
    let factor = 0.5 + 0.5 * jitter.clamp(0.0, 1.0);
    #[allow(clippy::cast_possible_truncation, clippy::cast_precision_loss)]
    let delay = (ms as f64 * factor) as i64;
    now + Duration::milliseconds(delay)
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn c(id: i64, role: Role) -> Candidate {
        Candidate { id: UserId::new(id), role }
    }
    fn ids(v: &[i64]) -> Vec<UserId> {
        v.iter().copied().map(UserId::new).collect()
    }

    /// Name, audience, watchers, actor, expected recipients.
    type Case = (&'static str, Audience, Vec<Candidate>, Option<i64>, Vec<i64>);

    #[test]
    fn recipient_selection() {
        use Role::{Admin, Student, Support};
        let creator = c(1, Student);
        let voter = c(2, Student);
        let agent = c(3, Support);
        let admin = c(4, Admin);
        let cases: &[Case] = &[
            ("creator who also voted gets one", Audience::Watchers, vec![creator, voter, creator], None, vec![1, 2]),
            ("the actor gets none", Audience::Watchers, vec![creator, voter, agent], Some(3), vec![1, 2]),
            ("a student actor is left out too", Audience::Watchers, vec![creator, voter], Some(1), vec![2]),
            ("internal notes reach staff only", Audience::StaffWatchers, vec![creator, agent, admin], None, vec![3, 4]),
            (
                "internal note: not the staff author",
                Audience::StaffWatchers,
                vec![creator, agent, admin],
                Some(4),
                vec![3],
            ),
            ("assignee only", Audience::User(UserId::new(3)), vec![creator, voter], Some(4), vec![3]),
            ("self-assignment notifies nobody", Audience::User(UserId::new(3)), vec![agent], Some(3), vec![]),
            ("nobody watching", Audience::Watchers, vec![], None, vec![]),
        ];
        for (name, audience, watchers, actor, expected) in cases {
            let got = recipients(*audience, watchers, actor.map(UserId::new));
            assert_eq!(got, ids(expected), "{name}");
        }
    }

    #[test]
    fn events_and_their_audiences() {
        let cases: Vec<(Change, Option<(NotificationKind, Audience)>)> = vec![
            (Change::Resolved { answer: "a".into() }, Some((NotificationKind::Resolved, Audience::Watchers))),
            (Change::Reopened { reason: "r".into() }, Some((NotificationKind::Reopened, Audience::Watchers))),
            (
                Change::ReplyAdded { reply_id: 1, internal: true },
                Some((NotificationKind::InternalNote, Audience::StaffWatchers)),
            ),
            (Change::ReplyAdded { reply_id: 1, internal: false }, Some((NotificationKind::Reply, Audience::Watchers))),
            (
                Change::AssigneeChanged { from: None, to: Some(7) },
                Some((NotificationKind::Assigned, Audience::User(UserId::new(7)))),
            ),
            (Change::AssigneeChanged { from: Some(7), to: None }, None),
            (Change::MergedInto { target: 2 }, Some((NotificationKind::Merged, Audience::Watchers))),
            (Change::VoteCast, None),
            (Change::AutoClosed, None),
        ];
        for (change, expected) in cases {
            assert_eq!(audience(&change), expected, "{change:?}");
        }
    }

    #[test]
    fn backoff_doubles_caps_and_jitters() {
        let now = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        let b = Backoff { base: Duration::seconds(10), max: Duration::seconds(100) };
        let cases: &[(u32, f64, i64)] = &[
            (1, 1.0, 10_000),
            (2, 1.0, 20_000),
            (3, 1.0, 40_000),
            (4, 1.0, 80_000),
            (5, 1.0, 100_000),
            (60, 1.0, 100_000),
            (1, 0.0, 5_000),
            (3, 0.5, 30_000),
            (0, 1.0, 10_000),
            (2, 7.0, 20_000),
        ];
        for &(attempts, jitter, ms) in cases {
            assert_eq!(
                next_attempt(b, attempts, now, jitter),
                now + Duration::milliseconds(ms),
                "attempts {attempts}, jitter {jitter}"
            );
        }
    }

    #[test]
    fn kinds_round_trip() {
        for kind in NotificationKind::ALL {
            assert_eq!(NotificationKind::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(NotificationKind::parse("nope"), None);
    }
}
