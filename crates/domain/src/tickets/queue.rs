//! Queue order: which unresolved ticket support should look at next.
//!
//! A ticket's **queue score** at time `now` is
//!
//! ```text
//! score = PRIORITY_WEIGHT[priority] + VOTE_WEIGHT · ln(1 + votes) + AGE_WEIGHT · age_in_hours
//! ```
//!
//! * Priority dominates fresh tickets: an urgent ticket starts 60 points ahead of a low one.
//! * Votes count with diminishing returns (`ln`): the first few "me too"s matter most, and a
//!   popular ticket cannot bury everything else (10 votes ≈ 19 points, 100 votes ≈ 37).
//! * Age grows linearly (6 points a day), so no ticket starves: after ten days a low ticket
//!   with no votes has caught up with a fresh urgent one.
//!
//! Because age enters linearly, the *order* of two tickets never changes with the passage of
//! time alone: `score(now) = key + AGE_WEIGHT · hours(now)` where
//! `key = PRIORITY_WEIGHT + VOTE_WEIGHT · ln(1 + votes) − AGE_WEIGHT · hours(created_at)`
//! does not depend on `now`. The store keeps `key` in an indexed column ([`queue_key`]) and
//! recomputes it when votes or priority change, so the queue is a plain index scan.

use chrono::{DateTime, Utc};

use super::Priority;

/// Points for each priority.
pub fn priority_weight(priority: Priority) -> f64 {
    match priority {
        Priority::Low => 0.0,
        Priority::Medium => 10.0,
        Priority::High => 25.0,
        Priority::Urgent => 60.0,
    }
}

/// Points per natural-log unit of `1 + votes`.
pub const VOTE_WEIGHT: f64 = 8.0;
/// Points per hour of age.
pub const AGE_WEIGHT: f64 = 0.25;

fn hours_since_epoch(t: DateTime<Utc>) -> f64 {
    t.timestamp_millis() as f64 / 3_600_000.0
}

/// The queue score of a ticket at `now` (higher = earlier in the queue).
pub fn queue_score(votes: u32, priority: Priority, created_at: DateTime<Utc>, now: DateTime<Utc>) -> f64 {
    queue_key(votes, priority, created_at) + AGE_WEIGHT * hours_since_epoch(now)
}

/// The time-independent part of [`queue_score`]; sorting by it descending is queue order.
pub fn queue_key(votes: u32, priority: Priority, created_at: DateTime<Utc>) -> f64 {
    priority_weight(priority) + VOTE_WEIGHT * f64::from(votes).ln_1p() - AGE_WEIGHT * hours_since_epoch(created_at)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Duration, TimeZone};

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 9, 1, 9, 0, 0).unwrap()
    }

    #[test]
    fn score_table() {
        let now = t0();
        // (votes, priority, age in hours, expected score)
        let table = [
            (0, Priority::Low, 0, 0.0),
            (0, Priority::Medium, 0, 10.0),
            (0, Priority::High, 0, 25.0),
            (0, Priority::Urgent, 0, 60.0),
            (0, Priority::Low, 24, 6.0),
            (1, Priority::Low, 0, 8.0 * 2f64.ln()),
            (9, Priority::Medium, 48, 10.0 + 8.0 * 10f64.ln() + 12.0),
        ];
        for (votes, priority, age, expected) in table {
            let score = queue_score(votes, priority, now - Duration::hours(age), now);
            assert!((score - expected).abs() < 1e-9, "{votes} {priority:?} {age}h: {score} != {expected}");
        }
    }

    #[test]
    fn ordering_rules() {
        let now = t0();
        let fresh = now;
        // More votes rank higher at equal priority and age.
        assert!(queue_score(5, Priority::Medium, fresh, now) > queue_score(4, Priority::Medium, fresh, now));
        // Urgent beats a fresh, heavily voted medium ticket...
        assert!(queue_score(0, Priority::Urgent, fresh, now) > queue_score(50, Priority::Medium, fresh, now));
        // ...but nothing starves: a low ticket catches up with a fresh urgent one in ten days.
        let urgent = queue_score(0, Priority::Urgent, fresh, now);
        assert!((queue_score(0, Priority::Low, now - Duration::days(10), now) - urgent).abs() < 1e-9);
        assert!(queue_score(0, Priority::Low, now - Duration::days(11), now) > urgent);
    }

    #[test]
    fn the_key_orders_like_the_score_at_any_time() {
        let a = (3, Priority::High, t0() - Duration::hours(30));
        let b = (20, Priority::Low, t0() - Duration::hours(70));
        let key_order = queue_key(a.0, a.1, a.2) > queue_key(b.0, b.1, b.2);
        for later in [0, 1, 100, 10_000] {
            let now = t0() + Duration::hours(later);
            assert_eq!(queue_score(a.0, a.1, a.2, now) > queue_score(b.0, b.1, b.2, now), key_order);
        }
    }
}
