//! Credential adapters: argon2id password hashing with bounded concurrency, opaque session tokens and sign-in
//! throttling, implementing the ports of `domain::accounts`; and the signed one-click
//! unsubscribe tokens of `domain::notifications` with their secret key.

use std::net::IpAddr;
use std::num::NonZeroU32;

use base64::Engine as _;
use domain::accounts::{ClientAddr, LoginThrottle, SessionToken, TokenHash, TokenIssuer};
use governor::clock::{Clock as _, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use rand::rngs::OsRng;
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::password::hex;

mod password;
mod unsubscribe;

pub use password::{Argon2Hasher, HashingLimits};
pub use unsubscribe::{load_or_create_key, HmacUnsubscribeTokens, SecretKey, MIN_SECRET_KEY_LEN};

/// 256-bit random session tokens (URL-safe base64), stored as their SHA-256.
#[derive(Debug, Clone, Copy, Default)]
pub struct RandomTokens;

impl TokenIssuer for RandomTokens {
    fn issue(&self) -> (SessionToken, TokenHash) {
        let mut bytes = [0u8; 32];
        OsRng.fill_bytes(&mut bytes);
        let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
        let hash = self.digest(&token);
        (SessionToken::new(token), hash)
    }

    fn digest(&self, token: &str) -> TokenHash {
        // A fast hash is right here: the token has 256 bits of entropy, unlike a password.
        TokenHash::new(hex(&Sha256::digest(token.as_bytes())))
    }
}

/// Sign-in attempts limited per account and per client address with GCRA (governor), in
/// memory: each server keeps its own counts, which bounds guessing to N × the quota.
pub struct GovernorThrottle {
    per_account: DefaultKeyedRateLimiter<String>,
    per_addr: DefaultKeyedRateLimiter<IpAddr>,
}

impl GovernorThrottle {
    /// Allows a burst of `per_account` attempts per email and `per_addr` per address,
    /// replenished over a minute.
    pub fn new(per_account: u32, per_addr: u32) -> Self {
        let quota = |n: u32| Quota::per_minute(NonZeroU32::new(n.max(1)).expect("at least one"));
        Self { per_account: RateLimiter::keyed(quota(per_account)), per_addr: RateLimiter::keyed(quota(per_addr)) }
    }
}

impl LoginThrottle for GovernorThrottle {
    fn attempt(&self, email: &str, client: ClientAddr) -> Result<(), u64> {
        let now = DefaultClock::default().now();
        let wait = |not_until: governor::NotUntil<_>| not_until.wait_time_from(now).as_secs().max(1);
        if let ClientAddr::Ip(ip) = client {
            self.per_addr.check_key(&ip).map_err(wait)?;
        }
        self.per_account.check_key(&email.to_owned()).map_err(wait)?;
        if self.per_account.len() > 100_000 {
            self.per_account.retain_recent();
            self.per_addr.retain_recent();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_long_random_and_stored_hashed() {
        let (a, ha) = RandomTokens.issue();
        let (b, _) = RandomTokens.issue();
        assert_ne!(a.expose(), b.expose());
        assert!(a.expose().len() >= 43, "256 bits in base64");
        assert_eq!(RandomTokens.digest(a.expose()), ha);
        assert_ne!(ha.as_str(), a.expose());
        assert_eq!(ha.as_str().len(), 64);
    }

    #[test]
    fn throttle_limits_per_account_and_per_address() {
        let t = GovernorThrottle::new(3, 5);
        let ip = |n| ClientAddr::Ip(IpAddr::from([10, 0, 0, n]));
        for _ in 0..3 {
            assert!(t.attempt("ada@uni.edu", ip(1)).is_ok());
        }
        // The account is spent, whatever the address.
        assert!(t.attempt("ada@uni.edu", ip(2)).is_err());
        // Another account from the first address still has room (5 per address).
        assert!(t.attempt("bo@uni.edu", ip(1)).is_ok());
        // The address spends its allowance across accounts.
        assert!(t.attempt("cy@uni.edu", ip(1)).is_ok());
        let err = t.attempt("di@uni.edu", ip(1)).unwrap_err();
        assert!(err >= 1);
    }
}
