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

/// How many attempts a [`GovernorThrottle`] allows a minute, each a burst replenished over
/// the minute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThrottleLimits {
    /// Per email from one client address: the limit someone guessing one account meets.
    pub per_account_and_address: u32,
    /// Per client address, across emails: the limit someone trying many accounts meets.
    pub per_address: u32,
    /// Per email across every address: only against guessing spread over many addresses,
    /// so set much higher than `per_account_and_address`; reaching it refuses the owner too.
    pub per_account: u32,
}

/// Attempts limited with GCRA (governor), in memory: each server keeps its own counts, which
/// bounds guessing to N × the quota. An email is limited per address first, so that someone
/// else's attempts from elsewhere do not lock its owner out; only many addresses together
/// reach the (much higher) limit of the email alone.
pub struct GovernorThrottle {
    per_pair: DefaultKeyedRateLimiter<(String, ClientAddr)>,
    per_addr: DefaultKeyedRateLimiter<IpAddr>,
    per_account: DefaultKeyedRateLimiter<String>,
}

impl GovernorThrottle {
    /// Allows a burst of `per_account` attempts per email and `per_addr` per address,
    /// replenished over a minute, whatever the addresses: one email's allowance is shared by
    /// every address (for confirmation resends, where each attempt sends an email).
    pub fn new(per_account: u32, per_addr: u32) -> Self {
        Self::with_limits(ThrottleLimits { per_account_and_address: per_account, per_address: per_addr, per_account })
    }

    /// Allows these bursts, replenished over a minute.
    pub fn with_limits(limits: ThrottleLimits) -> Self {
        let quota = |n: u32| Quota::per_minute(NonZeroU32::new(n.max(1)).expect("at least one"));
        Self {
            per_pair: RateLimiter::keyed(quota(limits.per_account_and_address)),
            per_addr: RateLimiter::keyed(quota(limits.per_address)),
            per_account: RateLimiter::keyed(quota(limits.per_account)),
        }
    }
}

impl LoginThrottle for GovernorThrottle {
    fn attempt(&self, email: &str, client: ClientAddr) -> Result<(), u64> {
        let now = DefaultClock::default().now();
        let wait = |not_until: governor::NotUntil<_>| not_until.wait_time_from(now).as_secs().max(1);
        // The narrowest key first: an attempt refused there spends nothing of the wider ones,
        // so a guesser at one address cannot drain the email's allowance for everyone.
        self.per_pair.check_key(&(email.to_owned(), client)).map_err(wait)?;
        if let ClientAddr::Ip(ip) = client {
            self.per_addr.check_key(&ip).map_err(wait)?;
        }
        self.per_account.check_key(&email.to_owned()).map_err(wait)?;
        if self.per_pair.len() > 100_000 {
            self.per_pair.retain_recent();
            self.per_addr.retain_recent();
            self.per_account.retain_recent();
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
        assert!(domain::accounts::CONFIRMATION_TOKEN.is_match(a.expose()), "the shape confirmation links take");
        assert_eq!(RandomTokens.digest(a.expose()), ha);
        assert_ne!(ha.as_str(), a.expose());
        assert_eq!(ha.as_str().len(), 64);
    }

    #[test]
    fn someone_elses_attempts_do_not_lock_the_owner_out() {
        let t = GovernorThrottle::with_limits(ThrottleLimits {
            per_account_and_address: 3,
            per_address: 100,
            per_account: 10,
        });
        let ip = |n| ClientAddr::Ip(IpAddr::from([10, 0, 0, n]));
        let attacker = ip(66);
        for _ in 0..3 {
            assert!(t.attempt("ada@uni.edu", attacker).is_ok());
        }
        // The attacker's address is spent for this email, many times over...
        for _ in 0..50 {
            assert!(t.attempt("ada@uni.edu", attacker).is_err());
        }
        // ...and the owner, from their own address, still signs in.
        assert!(t.attempt("ada@uni.edu", ip(1)).is_ok());
        // Only many addresses together reach the email's own, higher limit.
        for n in 2..8 {
            assert!(t.attempt("ada@uni.edu", ip(n)).is_ok(), "address {n}");
        }
        assert!(t.attempt("ada@uni.edu", ip(9)).is_err(), "10 attempts from everywhere spend the email");
        assert!(t.attempt("bo@uni.edu", attacker).is_ok(), "other emails are not affected");
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
