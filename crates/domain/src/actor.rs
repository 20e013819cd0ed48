//! Who acted: recorded with every history event, so automatic and integration changes are
//! attributed truthfully instead of borrowing a user.

use crate::accounts::UserId;
use crate::tickets::UserRef;

/// An outside system that changes tickets on events of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Integration {
    /// The Discourse forum (its webhooks).
    Forum,
    /// The chat escalation (Google Chat).
    Chat,
}

/// Who did something.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Actor {
    /// A signed-in user (see [`crate::accounts::Principal::actor`]).
    User(UserId),
    /// osts itself: scheduled jobs such as closing resolved tickets.
    System,
    /// An integration, acting on what an outside system told osts.
    Integration(Integration),
}

impl Actor {
    /// Every kind's stable name, as stored and as sent to clients.
    pub const KINDS: [&'static str; 4] = ["user", "system", "forum", "chat"];

    /// The stable name of the actor's kind.
    pub fn kind(self) -> &'static str {
        match self {
            Actor::User(_) => "user",
            Actor::System => "system",
            Actor::Integration(Integration::Forum) => "forum",
            Actor::Integration(Integration::Chat) => "chat",
        }
    }

    /// The user, when a user acted.
    pub fn user(self) -> Option<UserId> {
        match self {
            Actor::User(id) => Some(id),
            Actor::System | Actor::Integration(_) => None,
        }
    }

    /// Reads a stored kind and user back; `None` when they do not fit together.
    pub fn from_parts(kind: &str, user: Option<UserId>) -> Option<Self> {
        match (kind, user) {
            ("user", Some(id)) => Some(Actor::User(id)),
            ("system", None) => Some(Actor::System),
            ("forum", None) => Some(Actor::Integration(Integration::Forum)),
            ("chat", None) => Some(Actor::Integration(Integration::Chat)),
            _ => None,
        }
    }
}

/// An actor as people see it in a history: users with their name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventActor {
    /// A user.
    User(UserRef),
    /// osts itself.
    System,
    /// An integration.
    Integration(Integration),
    /// A user whom the viewer may not know (another student's vote or watch; see
    /// `tickets::Change::actor_is_private`).
    Hidden,
}

impl EventActor {
    /// The actor without the name; `None` when hidden from the viewer.
    pub fn actor(&self) -> Option<Actor> {
        match self {
            EventActor::User(u) => Some(Actor::User(u.id)),
            EventActor::System => Some(Actor::System),
            EventActor::Integration(i) => Some(Actor::Integration(*i)),
            EventActor::Hidden => None,
        }
    }

    /// The user, when a user acted and the viewer may know who.
    pub fn user(&self) -> Option<&UserRef> {
        match self {
            EventActor::User(u) => Some(u),
            EventActor::System | EventActor::Integration(_) | EventActor::Hidden => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_round_trip_and_mismatches_are_refused() {
        let all = [
            Actor::User(UserId::new(7)),
            Actor::System,
            Actor::Integration(Integration::Forum),
            Actor::Integration(Integration::Chat),
        ];
        for actor in all {
            assert!(Actor::KINDS.contains(&actor.kind()));
            assert_eq!(Actor::from_parts(actor.kind(), actor.user()), Some(actor));
        }
        assert_eq!(Actor::from_parts("user", None), None);
        assert_eq!(Actor::from_parts("system", Some(UserId::new(1))), None);
        assert_eq!(Actor::from_parts("robot", None), None);
    }
}
