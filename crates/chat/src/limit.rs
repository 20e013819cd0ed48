//! A per-webhook sliding-window rate limit: at most `n` messages in any window of a minute
//! (plus a second's margin, so that a message's travel time cannot put `n + 1` arrivals in one
//! minute at the provider).

use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// The window of a chat space's write limit, with the margin.
const WINDOW: Duration = Duration::from_secs(61);

/// Counts the messages sent to each webhook over the last window.
#[derive(Debug)]
pub struct RateLimiter {
    per_window: usize,
    sent: Mutex<HashMap<i64, VecDeque<Instant>>>,
}

impl RateLimiter {
    /// At most `n` messages a minute to each key (at least one).
    pub fn per_minute(n: u32) -> Self {
        Self { per_window: n.max(1) as usize, sent: Mutex::new(HashMap::new()) }
    }

    /// Takes a slot for `key` at `now`, or says how long until one frees.
    pub fn try_take(&self, key: i64, now: Instant) -> Result<(), Duration> {
        let mut sent = self.sent.lock().unwrap_or_else(PoisonError::into_inner);
        let times = sent.entry(key).or_default();
        while times.front().is_some_and(|t| now.saturating_duration_since(*t) >= WINDOW) {
            times.pop_front();
        }
        if times.len() < self.per_window {
            times.push_back(now);
            return Ok(());
        }
        let oldest = *times.front().unwrap_or(&now);
        Err(WINDOW.saturating_sub(now.saturating_duration_since(oldest)).max(Duration::from_millis(10)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn n_a_minute_per_key_then_a_wait_until_the_oldest_leaves_the_window() {
        let limiter = RateLimiter::per_minute(3);
        let t0 = Instant::now();
        for i in 0..3 {
            assert!(limiter.try_take(1, t0 + Duration::from_secs(i)).is_ok());
        }
        assert_eq!(limiter.try_take(1, t0 + Duration::from_secs(10)), Err(Duration::from_secs(51)));
        assert!(limiter.try_take(2, t0 + Duration::from_secs(10)).is_ok(), "another webhook has its own limit");
        assert!(limiter.try_take(1, t0 + WINDOW).is_ok(), "the first slot freed");
        assert!(limiter.try_take(1, t0 + WINDOW).is_err(), "the second has not");
    }
}
