//! The client-side rate limit: at most `n` requests in any window (a minute, plus a second's
//! margin so that a request's travel time cannot put `n + 1` arrivals in one of the forum's
//! minutes). Discourse counts admin API requests per site, shared by every admin key
//! (`max_admin_api_reqs_per_minute`, 60 by default), so the limit is global, not per user.
//! Benchmarks scale the window down together with the fake forum's.

use std::collections::VecDeque;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Counts the requests sent over the last window.
#[derive(Debug)]
pub(crate) struct RateLimiter {
    per_window: usize,
    window: Duration,
    sent: Mutex<VecDeque<Instant>>,
}

impl RateLimiter {
    /// At most `n` requests (at least one) in any `window`, plus a sixtieth of it as margin.
    pub(crate) fn new(n: u32, window: Duration) -> Self {
        Self { per_window: n.max(1) as usize, window: window + window / 60, sent: Mutex::new(VecDeque::new()) }
    }

    /// Takes a slot at `now`, or says how long until one frees.
    #[cfg(test)]
    pub(crate) fn try_take(&self, now: Instant) -> Result<(), Duration> {
        self.try_take_n(1, now)
    }

    /// Takes `n` slots at `now`, all or none (a call of several requests is not cut short
    /// by the limit halfway), or says how long until enough free.
    pub(crate) fn try_take_n(&self, n: usize, now: Instant) -> Result<(), Duration> {
        let n = n.clamp(1, self.per_window);
        let mut sent = self.sent.lock().unwrap_or_else(PoisonError::into_inner);
        while sent.front().is_some_and(|t| now.saturating_duration_since(*t) >= self.window) {
            sent.pop_front();
        }
        if sent.len() + n <= self.per_window {
            sent.extend(std::iter::repeat_n(now, n));
            return Ok(());
        }
        // Enough slots free when the `len + n - per_window`-th oldest leaves the window.
        let freeing = *sent.get(sent.len() + n - self.per_window - 1).unwrap_or(&now);
        Err(self.window.saturating_sub(now.saturating_duration_since(freeing)).max(Duration::from_millis(1)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn n_a_window_then_a_wait_until_the_oldest_leaves_it() {
        let limiter = RateLimiter::new(3, Duration::from_secs(60));
        let t0 = Instant::now();
        for i in 0..3 {
            assert!(limiter.try_take(t0 + Duration::from_secs(i)).is_ok());
        }
        assert_eq!(limiter.try_take(t0 + Duration::from_secs(10)), Err(Duration::from_secs(51)));
        assert!(limiter.try_take(t0 + Duration::from_secs(61)).is_ok(), "the first slot freed");
        assert!(limiter.try_take(t0 + Duration::from_secs(61)).is_err(), "the second has not");
    }

    #[test]
    fn a_scaled_down_window_keeps_its_proportional_margin() {
        let limiter = RateLimiter::new(2, Duration::from_millis(600));
        let t0 = Instant::now();
        assert!(limiter.try_take(t0).is_ok() && limiter.try_take(t0).is_ok());
        assert_eq!(limiter.try_take(t0 + Duration::from_millis(600)), Err(Duration::from_millis(10)));
        assert!(limiter.try_take(t0 + Duration::from_millis(610)).is_ok());
    }

    #[test]
    fn several_slots_are_taken_all_or_none() {
        let limiter = RateLimiter::new(3, Duration::from_secs(60));
        let t0 = Instant::now();
        assert!(limiter.try_take(t0).is_ok());
        assert!(limiter.try_take_n(2, t0 + Duration::from_secs(5)).is_ok());
        assert_eq!(limiter.try_take_n(2, t0 + Duration::from_secs(10)), Err(Duration::from_secs(56)));
        assert!(limiter.try_take(t0 + Duration::from_secs(61)).is_ok(), "the failed call took nothing");
    }

    #[test]
    fn a_zero_limit_still_allows_one() {
        let limiter = RateLimiter::new(0, Duration::from_secs(60));
        let t0 = Instant::now();
        assert!(limiter.try_take(t0).is_ok());
        assert!(limiter.try_take(t0).is_err());
    }
}
