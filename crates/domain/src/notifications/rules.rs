//! The pure rules: what a ticket event causes (its [`Effect`]s), and when a failed delivery
//! is tried again.
//!
//! [`effects`] is the one source of truth for who is told what: the ticket repositories write
//! exactly the effects it returns, in the transaction of the change, with set-based SQL that
//! resolves each [`Audience`] as its documentation states (see
//! `TicketRepository`'s contract); the store tests check that resolution on both databases.

use chrono::{DateTime, Duration, Utc};

use crate::accounts::UserId;
use crate::tickets::Change;

use super::{IntegrationJob, NotificationKind};

/// Who hears about an event. The store resolves it to users in the change's transaction:
/// each user at most once, never the user who acted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audience {
    /// Everyone watching the ticket (creator, voters, repliers, people of merged duplicates,
    /// people who chose to watch).
    Watchers,
    /// Watchers who are staff (support or admin) now: internal notes.
    StaffWatchers,
    /// One user (the new assignee).
    User(UserId),
}

/// Something a ticket event causes outside the ticket itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// An in-app notification of `kind` to each member of `audience` and, for those whose
    /// preference for `kind` has email on and digest off (email on is the default), a
    /// delivery on the email channel. The notification's payload is the recorded change.
    Notify {
        /// What happened.
        kind: NotificationKind,
        /// Who is told.
        audience: Audience,
    },
    /// A per-ticket job on an integration channel, ordered after the ticket's earlier jobs
    /// on that channel.
    Integrate(IntegrationJob),
    /// Chat jobs ([`IntegrationJob::Chat`]) about this event, one per chat webhook of
    /// `route`, on the chat channel.
    Chat(ChatRoute),
    /// A forum job ([`IntegrationJob::Forum`]) about this event, written only when the ticket
    /// has a forum thread.
    Forum(crate::forum::ForumAction),
}

/// Which chat webhooks hear of an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChatRoute {
    /// An escalation: the webhooks of the ticket's chat threads; a ticket with none yet gets
    /// them now, from the webhooks whose filters (category, priority) match it, or else from
    /// the webhooks without filters (the default spaces).
    Escalation,
    /// A later event: the webhooks of the ticket's chat threads, if it has any (none for a
    /// ticket that was never escalated).
    Thread,
}

/// What `change` causes, in the order the effects are to be written.
pub fn effects(change: &Change) -> Vec<Effect> {
    let mut effects = notifications(change);
    if matches!(change, Change::Escalated { .. }) {
        effects.push(Effect::Chat(ChatRoute::Escalation));
    } else if crate::escalation::follows_into_chat(change) {
        effects.push(Effect::Chat(ChatRoute::Thread));
    }
    effects.extend(forum_actions(change).into_iter().map(Effect::Forum));
    effects
}

/// What the ticket's forum thread is told of `change` (when it has one).
fn forum_actions(change: &Change) -> Vec<crate::forum::ForumAction> {
    use crate::forum::ForumAction as A;
    use crate::tickets::Status;
    match change {
        Change::ThreadRequested { .. } => vec![A::Create],
        Change::ThreadVisibilityChanged { to } => vec![A::Convert { to: *to }],
        Change::ThreadClosed { on_forum: false } => vec![A::Close],
        Change::ThreadReopened { on_forum: false } => vec![A::Reopen],
        Change::ThreadPostDeleted { post_id } => vec![A::DeletePost { post_id: *post_id }],
        Change::AssigneeChanged { to: Some(_), .. } => vec![A::Note],
        Change::Resolved { .. } => vec![A::Note, A::Close],
        Change::Reopened { .. } => vec![A::Note, A::Reopen],
        Change::StatusChanged { to: Status::Closed, .. } | Change::AutoClosed => vec![A::Archive],
        Change::MergedInto { target } => vec![A::Merge { into: *target }],
        _ => vec![],
    }
}

/// The notifications `change` causes.
fn notifications(change: &Change) -> Vec<Effect> {
    let notify = |kind, audience| vec![Effect::Notify { kind, audience }];
    match change {
        Change::Resolved { .. } => notify(NotificationKind::Resolved, Audience::Watchers),
        Change::Reopened { .. } => notify(NotificationKind::Reopened, Audience::Watchers),
        Change::StatusChanged { .. } => notify(NotificationKind::StatusChanged, Audience::Watchers),
        Change::PriorityChanged { .. } => notify(NotificationKind::PriorityChanged, Audience::Watchers),
        Change::ReplyAdded { internal: false, .. } => notify(NotificationKind::Reply, Audience::Watchers),
        Change::ReplyAdded { internal: true, .. } => notify(NotificationKind::InternalNote, Audience::StaffWatchers),
        Change::AssigneeChanged { to: Some(to), .. } => {
            notify(NotificationKind::Assigned, Audience::User(UserId::new(*to)))
        }
        // Recorded on the duplicate, whose watchers are its people.
        Change::MergedInto { .. } => notify(NotificationKind::Merged, Audience::Watchers),
        // The ticket's creator and voters watch it: the answer they waited for is in the FAQ.
        Change::FaqPublished { .. } => notify(NotificationKind::FaqPublished, Audience::Watchers),
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
        | Change::Unwatched
        | Change::Escalated { .. }
        | Change::ThreadRequested { .. }
        | Change::ThreadLinked { .. }
        | Change::ThreadVisibilityChanged { .. }
        | Change::ThreadClosed { .. }
        | Change::ThreadReopened { .. }
        | Change::ThreadPostDeleted { .. } => vec![],
        Change::ThreadReply { .. } => notify(NotificationKind::ThreadReply, Audience::Watchers),
        Change::ThreadLiked { .. } => notify(NotificationKind::ThreadLike, Audience::Watchers),
    }
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

    #[test]
    fn events_and_their_effects() {
        let notify = |kind, audience| vec![Effect::Notify { kind, audience }];
        // Events that follow an escalated ticket into its chat thread.
        let and_chat = |kind, audience| vec![Effect::Notify { kind, audience }, Effect::Chat(ChatRoute::Thread)];
        let cases: Vec<(Change, Vec<Effect>)> = vec![
            (Change::Resolved { answer: "a".into() }, and_chat(NotificationKind::Resolved, Audience::Watchers)),
            (Change::Reopened { reason: "r".into() }, and_chat(NotificationKind::Reopened, Audience::Watchers)),
            (
                Change::ReplyAdded { reply_id: 1, internal: true },
                notify(NotificationKind::InternalNote, Audience::StaffWatchers),
            ),
            (Change::ReplyAdded { reply_id: 1, internal: false }, notify(NotificationKind::Reply, Audience::Watchers)),
            (
                Change::AssigneeChanged { from: None, to: Some(7) },
                and_chat(NotificationKind::Assigned, Audience::User(UserId::new(7))),
            ),
            (Change::AssigneeChanged { from: Some(7), to: None }, vec![Effect::Chat(ChatRoute::Thread)]),
            (Change::MergedInto { target: 2 }, and_chat(NotificationKind::Merged, Audience::Watchers)),
            (Change::FaqPublished { entry_id: 3 }, notify(NotificationKind::FaqPublished, Audience::Watchers)),
            (Change::VoteCast, vec![]),
            (Change::AutoClosed, vec![Effect::Chat(ChatRoute::Thread)]),
            (Change::TitleChanged { from: "a".into(), to: "b".into() }, vec![]),
            (
                Change::Escalated { reason: crate::escalation::EscalationReason::Manual { note: "n".into() } },
                vec![Effect::Chat(ChatRoute::Escalation)],
            ),
        ];
        for (change, expected) in cases {
            let without_forum: Vec<Effect> =
                effects(&change).into_iter().filter(|e| !matches!(e, Effect::Forum(_))).collect();
            assert_eq!(without_forum, expected, "{change:?}");
        }
    }

    #[test]
    fn the_forum_thread_hears_of_the_tickets_life_and_replies_notify_its_people() {
        use crate::forum::{ForumAction as A, Visibility};
        use crate::tickets::Status;
        let forum = |change: Change| -> Vec<A> {
            effects(&change)
                .into_iter()
                .filter_map(|e| match e {
                    Effect::Forum(a) => Some(a),
                    _ => None,
                })
                .collect()
        };
        assert_eq!(forum(Change::ThreadRequested { visibility: Visibility::Private }), [A::Create]);
        assert_eq!(forum(Change::AssigneeChanged { from: None, to: Some(3) }), [A::Note]);
        assert_eq!(forum(Change::Resolved { answer: "a".into() }), [A::Note, A::Close]);
        assert_eq!(forum(Change::Reopened { reason: "r".into() }), [A::Note, A::Reopen]);
        assert_eq!(forum(Change::StatusChanged { from: Status::Resolved, to: Status::Closed }), [A::Archive]);
        assert_eq!(forum(Change::AutoClosed), [A::Archive]);
        assert_eq!(forum(Change::MergedInto { target: 8 }), [A::Merge { into: 8 }]);
        assert_eq!(
            forum(Change::ThreadVisibilityChanged { to: Visibility::Public }),
            [A::Convert { to: Visibility::Public }]
        );
        assert_eq!(forum(Change::ThreadClosed { on_forum: false }), [A::Close]);
        assert!(forum(Change::ThreadClosed { on_forum: true }).is_empty(), "no echo back to the forum");
        assert!(forum(Change::VoteCast).is_empty());
        assert_eq!(
            effects(&Change::ThreadReply { post_id: 5, username: "ada_1".into() }),
            [Effect::Notify { kind: NotificationKind::ThreadReply, audience: Audience::Watchers }]
        );
        assert_eq!(
            effects(&Change::ThreadLiked { post_id: 5, username: "bo_2".into() }),
            [Effect::Notify { kind: NotificationKind::ThreadLike, audience: Audience::Watchers }]
        );
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
