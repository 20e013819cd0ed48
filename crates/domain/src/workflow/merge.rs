//! Merging a duplicate B into its target A, and undoing it.
//!
//! **Merge.** B becomes `merged` and points to A. Everyone concerned with B joins A without
//! double counting: B's creator and B's voters become voters of A (except A's creator, who
//! cannot vote on their own ticket, and anyone who already voted on A), and B's watchers
//! watch A. B's own votes and replies stay where they are (B is read-only), so A shows B's
//! replies and B's history keeps its votes.
//!
//! **Unmerge** (staff, within [`UNMERGE_WINDOW_DAYS`] days). B gets back the status it had.
//! The votes and watches A gained from the merge are removed again, **except** for people who
//! have acted on A since the merge (voted, retracted, replied, watched or unwatched): their
//! A-side state is theirs now and stays. B's votes were never touched, so B is as it was.
//!
//! The store applies these rules set-based in one transaction; the pure functions below state
//! them on plain sets so they can be table-tested.

use std::collections::BTreeSet;

use chrono::{DateTime, Duration, Utc};

use crate::accounts::UserId;

/// How long a merge can be undone.
pub const UNMERGE_WINDOW_DAYS: i64 = 7;

/// Whether a merge made at `merged_at` may still be undone at `now`.
pub fn may_unmerge(merged_at: DateTime<Utc>, now: DateTime<Utc>) -> bool {
    now - merged_at <= Duration::days(UNMERGE_WINDOW_DAYS)
}

/// The users whose votes A gains from merging B into it.
pub fn carried_votes(
    a_creator: UserId,
    a_voters: &BTreeSet<UserId>,
    b_creator: UserId,
    b_voters: &BTreeSet<UserId>,
) -> BTreeSet<UserId> {
    b_voters
        .iter()
        .copied()
        .chain(std::iter::once(b_creator))
        .filter(|u| *u != a_creator && !a_voters.contains(u))
        .collect()
}

/// A's voters after undoing a merge that carried `carried`, given A's voters now and the
/// users who acted on A since the merge.
pub fn voters_after_unmerge(
    a_voters_now: &BTreeSet<UserId>,
    carried: &BTreeSet<UserId>,
    acted_since: &BTreeSet<UserId>,
) -> BTreeSet<UserId> {
    a_voters_now.iter().copied().filter(|u| !carried.contains(u) || acted_since.contains(u)).collect()
}

#[cfg(test)]
#[allow(clippy::type_complexity)] // table rows spell out their columns
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn set(ids: &[i64]) -> BTreeSet<UserId> {
        ids.iter().map(|i| UserId::new(*i)).collect()
    }

    #[test]
    fn carried_votes_table() {
        // (A creator, A voters, B creator, B voters, carried)
        let table: &[(i64, &[i64], i64, &[i64], &[i64])] = &[
            (1, &[], 2, &[], &[2]),         // B's creator joins A as a voter
            (1, &[3], 2, &[3, 4], &[2, 4]), // 3 voted on both: counted once
            (1, &[], 1, &[5], &[5]),        // same creator: no vote on own ticket
            (1, &[], 2, &[1], &[2]),        // A's creator voted on B: not carried
            (1, &[2], 2, &[], &[]),         // B's creator already voted on A
        ];
        for (a_creator, a_voters, b_creator, b_voters, expected) in table {
            let got = carried_votes(UserId::new(*a_creator), &set(a_voters), UserId::new(*b_creator), &set(b_voters));
            assert_eq!(got, set(expected), "A by {a_creator} {a_voters:?}, B by {b_creator} {b_voters:?}");
            let total = set(a_voters).union(&got).count();
            let distinct: BTreeSet<_> = set(a_voters).into_iter().chain(got).collect();
            assert_eq!(total, distinct.len(), "no double counting");
        }
    }

    #[test]
    fn unmerge_table() {
        // (A voters now, carried, acted since, A voters after)
        let table: &[(&[i64], &[i64], &[i64], &[i64])] = &[
            (&[3, 2, 4], &[2, 4], &[], &[3]),       // carried votes go, own votes stay
            (&[3, 2, 4], &[2, 4], &[4], &[3, 4]),   // 4 acted on A since: keeps it
            (&[3, 2], &[2, 4], &[4], &[3, 2][..1]), // 4 retracted since: stays retracted
            (&[3, 7], &[2], &[7], &[3, 7]),         // a new voter is untouched
        ];
        for (now, carried, acted, expected) in table {
            assert_eq!(
                voters_after_unmerge(&set(now), &set(carried), &set(acted)),
                set(expected),
                "{now:?} {carried:?} {acted:?}"
            );
        }
    }

    #[test]
    fn unmerge_window() {
        let t = Utc.with_ymd_and_hms(2026, 9, 1, 12, 0, 0).unwrap();
        assert!(may_unmerge(t, t));
        assert!(may_unmerge(t, t + Duration::days(7)));
        assert!(!may_unmerge(t, t + Duration::days(7) + Duration::seconds(1)));
    }
}
