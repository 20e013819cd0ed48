use serde::{Deserialize, Serialize};

use crate::error::{Conflict, Error};

/// Where a ticket is in its life.
///
/// ```text
/// open ──> in_progress ──> resolved ──> closed
///   │                        │  ▲
///   └────────────────────────┘  │ (resolve straight from open)
///   open <─────────── resolved    (reopen)
/// ```
/// `merged` is reached only by merging a duplicate into its target, and left only by
/// unmerging, which restores the status the ticket had before.
/// Stored in history events by its stable name (`in_progress`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Waiting for support.
    Open,
    /// A support member works on it.
    InProgress,
    /// Answered; the creator may reopen it.
    Resolved,
    /// Done for good.
    Closed,
    /// Folded into another ticket.
    Merged,
}

impl Status {
    /// Every status.
    pub const ALL: [Status; 5] = [Status::Open, Status::InProgress, Status::Resolved, Status::Closed, Status::Merged];

    /// The stable name used in the API and the store.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Open => "open",
            Status::InProgress => "in_progress",
            Status::Resolved => "resolved",
            Status::Closed => "closed",
            Status::Merged => "merged",
        }
    }

    /// Parses a stable name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|x| x.as_str() == s)
    }

    /// Whether the ticket still waits for support (it is in the queue).
    pub fn is_unresolved(self) -> bool {
        match self {
            Status::Open | Status::InProgress => true,
            Status::Resolved | Status::Closed | Status::Merged => false,
        }
    }

    /// The status machine: `Ok(to)` when `self → to` is allowed, else a 409-style conflict.
    pub fn transition(self, to: Status) -> Result<Status, Error> {
        use Status::*;
        let allowed = match (self, to) {
            (Open, InProgress) | (Open, Resolved) => true,
            (InProgress, Resolved) | (InProgress, Open) => true,
            (Resolved, Closed) | (Resolved, Open) => true,
            (Open | InProgress | Resolved, Merged) => true,
            (Merged, Open | InProgress | Resolved) => true,
            (Open, Open | Closed)
            | (InProgress, InProgress | Closed)
            | (Resolved, InProgress | Resolved)
            | (Closed, Open | InProgress | Resolved | Closed | Merged)
            | (Merged, Closed | Merged) => false,
        };
        if allowed {
            Ok(to)
        } else {
            Err(Error::Conflict(Conflict::IllegalTransition { from: self.as_str(), to: to.as_str() }))
        }
    }
}

/// How urgent a ticket is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Priority {
    /// Whenever support gets to it.
    Low,
    /// The default.
    Medium,
    /// Soon; escalated to chat.
    High,
    /// Now; set by staff only.
    Urgent,
}

impl Priority {
    /// Every priority, lowest first.
    pub const ALL: [Priority; 4] = [Priority::Low, Priority::Medium, Priority::High, Priority::Urgent];

    /// The stable name used in the API and the store.
    pub fn as_str(self) -> &'static str {
        match self {
            Priority::Low => "low",
            Priority::Medium => "medium",
            Priority::High => "high",
            Priority::Urgent => "urgent",
        }
    }

    /// Parses a stable name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|x| x.as_str() == s)
    }

    /// Whether a student may ask for this priority (staff may set any).
    pub fn student_may_request(self) -> bool {
        match self {
            Priority::Low | Priority::Medium | Priority::High => true,
            Priority::Urgent => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Status::*;

    #[test]
    fn transition_table() {
        // Every pair, so that a new status forces this table to be revisited.
        let allowed = [
            (Open, InProgress),
            (Open, Resolved),
            (InProgress, Resolved),
            (InProgress, Open),
            (Resolved, Closed),
            (Resolved, Open),
            (Open, Merged),
            (InProgress, Merged),
            (Resolved, Merged),
            (Merged, Open),
            (Merged, InProgress),
            (Merged, Resolved),
        ];
        for from in Status::ALL {
            for to in Status::ALL {
                let result = from.transition(to);
                if allowed.contains(&(from, to)) {
                    assert_eq!(result.unwrap(), to, "{from:?} -> {to:?} should be allowed");
                } else {
                    match result {
                        Err(Error::Conflict(Conflict::IllegalTransition { from: f, to: t })) => {
                            assert_eq!((f, t), (from.as_str(), to.as_str()));
                        }
                        other => panic!("{from:?} -> {to:?} should be refused, got {other:?}"),
                    }
                }
            }
        }
    }

    #[test]
    fn names_round_trip() {
        for s in Status::ALL {
            assert_eq!(Status::parse(s.as_str()), Some(s));
        }
        for p in Priority::ALL {
            assert_eq!(Priority::parse(p.as_str()), Some(p));
        }
        assert_eq!(Status::parse("done"), None);
    }

    #[test]
    fn students_request_up_to_high() {
        let table =
            [(Priority::Low, true), (Priority::Medium, true), (Priority::High, true), (Priority::Urgent, false)];
        for (p, ok) in table {
            assert_eq!(p.student_may_request(), ok, "{p:?}");
        }
    }
}
