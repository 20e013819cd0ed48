//! "The same staff for similar requests": whom to suggest for a new ticket.

use crate::accounts::UserId;

/// A support member who could take a ticket, with what we know about them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    /// The member.
    pub member: UserId,
    /// How many of the most similar recently resolved tickets they resolved.
    pub similar_resolved: u32,
    /// Whether they own the ticket's category.
    pub owns_category: bool,
    /// How many unresolved tickets are assigned to them now.
    pub open_load: u32,
}

/// Why a member was suggested.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// They resolved the most similar recent tickets.
    SimilarRequests,
    /// They own the ticket's category.
    CategoryOwner,
    /// They have the fewest unresolved tickets.
    LeastLoaded,
}

impl Reason {
    /// The stable name used in the API.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::SimilarRequests => "similar_requests",
            Reason::CategoryOwner => "category_owner",
            Reason::LeastLoaded => "least_loaded",
        }
    }
}

/// Chooses an assignee among active support members:
///
/// 1. the member who resolved the most of the similar recent tickets (ties: lower load, then
///    lower id), if anyone resolved any;
/// 2. otherwise the category's owner;
/// 3. otherwise the least-loaded member (ties: lower id).
///
/// `None` when there is no candidate at all.
pub fn choose(candidates: &[Candidate]) -> Option<(UserId, Reason)> {
    let by_load = |c: &&Candidate| (c.open_load, c.member);
    if let Some(best) = candidates
        .iter()
        .filter(|c| c.similar_resolved > 0)
        .min_by_key(|c| (std::cmp::Reverse(c.similar_resolved), c.open_load, c.member))
    {
        return Some((best.member, Reason::SimilarRequests));
    }
    if let Some(owner) = candidates.iter().filter(|c| c.owns_category).min_by_key(by_load) {
        return Some((owner.member, Reason::CategoryOwner));
    }
    candidates.iter().min_by_key(by_load).map(|c| (c.member, Reason::LeastLoaded))
}

#[cfg(test)]
#[allow(clippy::type_complexity)] // table rows spell out their columns
mod tests {
    use super::*;

    fn c(id: i64, similar: u32, owner: bool, load: u32) -> Candidate {
        Candidate { member: UserId::new(id), similar_resolved: similar, owns_category: owner, open_load: load }
    }

    #[test]
    fn choice_table() {
        let table: &[(&str, Vec<Candidate>, Option<(i64, Reason)>)] = &[
            ("nobody", vec![], None),
            (
                "similar wins over owner and load",
                vec![c(1, 0, true, 0), c(2, 3, false, 9)],
                Some((2, Reason::SimilarRequests)),
            ),
            ("most similar wins", vec![c(1, 2, false, 0), c(2, 3, false, 5)], Some((2, Reason::SimilarRequests))),
            ("similar tie: lower load", vec![c(1, 3, false, 4), c(2, 3, false, 1)], Some((2, Reason::SimilarRequests))),
            ("owner without similar", vec![c(1, 0, false, 0), c(2, 0, true, 7)], Some((2, Reason::CategoryOwner))),
            (
                "least loaded",
                vec![c(1, 0, false, 4), c(2, 0, false, 2), c(3, 0, false, 3)],
                Some((2, Reason::LeastLoaded)),
            ),
            ("load tie: lower id", vec![c(5, 0, false, 1), c(4, 0, false, 1)], Some((4, Reason::LeastLoaded))),
        ];
        for (name, candidates, expected) in table {
            let got = choose(candidates).map(|(id, r)| (id.get(), r));
            assert_eq!(got, *expected, "{name}");
        }
    }
}
