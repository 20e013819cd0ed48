//! Credential adapters: argon2id password hashing, opaque session tokens and sign-in
//! throttling, implementing the ports of `domain::accounts`; and the signed one-click
//! unsubscribe tokens of `domain::notifications` with their secret key.

use std::net::IpAddr;
use std::num::NonZeroU32;

use argon2::password_hash::{PasswordHash as PhcHash, PasswordHasher as _, PasswordVerifier as _, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use async_trait::async_trait;
use base64::Engine as _;
use domain::accounts::{
    ClientAddr, LoginThrottle, Password, PasswordHash, PasswordHasher, SessionToken, TokenHash, TokenIssuer,
};
use governor::clock::{Clock as _, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use rand::rngs::OsRng;
use rand::RngCore;
use sha2::{Digest, Sha256};

mod unsubscribe;

pub use unsubscribe::{load_or_create_key, HmacUnsubscribeTokens, SecretKey, MIN_SECRET_KEY_LEN};

/// argon2id with OWASP's recommended parameters (19 MiB, 2 passes, 1 lane), run on the
/// blocking pool so that hashing never stalls the async workers.
#[derive(Clone)]
pub struct Argon2Hasher {
    params: Params,
    /// A hash of a random password, verified against when the email is unknown.
    decoy: String,
}

impl Argon2Hasher {
    /// Production parameters.
    pub fn new() -> Self {
        Self::with_params(Params::new(19 * 1024, 2, 1, None).expect("valid argon2 parameters"))
    }

    /// Minimal parameters for tests: still argon2id, just cheap.
    pub fn fast_for_tests() -> Self {
        Self::with_params(Params::new(Params::MIN_M_COST.max(64), 1, 1, None).expect("valid argon2 parameters"))
    }

    fn with_params(params: Params) -> Self {
        let mut random = [0u8; 16];
        OsRng.fill_bytes(&mut random);
        let decoy = hash_with(&params, &hex(&random)).expect("hashing a decoy cannot fail");
        Self { params, decoy }
    }
}

impl Default for Argon2Hasher {
    fn default() -> Self {
        Self::new()
    }
}

fn argon2(params: &Params) -> Argon2<'static> {
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone())
}

fn hash_with(params: &Params, password: &str) -> anyhow::Result<String> {
    let salt = SaltString::generate(&mut OsRng);
    argon2(params)
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| anyhow::anyhow!("argon2 hashing failed: {e}"))
}

fn verify_with(params: &Params, password: &str, phc: &str) -> bool {
    // The parameters stored in the PHC string win, so old hashes keep verifying after a
    // parameter change.
    PhcHash::new(phc).is_ok_and(|parsed| argon2(params).verify_password(password.as_bytes(), &parsed).is_ok())
}

#[async_trait]
impl PasswordHasher for Argon2Hasher {
    async fn hash(&self, password: &Password) -> anyhow::Result<PasswordHash> {
        let params = self.params.clone();
        let password = password.clone();
        let phc = tokio::task::spawn_blocking(move || hash_with(&params, password.expose())).await??;
        Ok(PasswordHash::new(phc))
    }

    async fn verify(&self, password: &Password, hash: &PasswordHash) -> anyhow::Result<bool> {
        let params = self.params.clone();
        let password = password.clone();
        let phc = hash.as_str().to_owned();
        Ok(tokio::task::spawn_blocking(move || verify_with(&params, password.expose(), &phc)).await?)
    }

    async fn waste_time(&self, password: &Password) {
        let decoy = PasswordHash::new(self.decoy.clone());
        let _ = self.verify(password, &decoy).await;
    }
}

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

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
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

    #[tokio::test]
    async fn hashes_are_argon2id_and_verify() {
        let hasher = Argon2Hasher::fast_for_tests();
        let pw = Password::new("correct horse battery").unwrap();
        let hash = hasher.hash(&pw).await.unwrap();
        assert!(hash.as_str().starts_with("$argon2id$"), "{}", hash.as_str());
        assert!(hasher.verify(&pw, &hash).await.unwrap());
        let wrong = Password::new("incorrect horse battery").unwrap();
        assert!(!hasher.verify(&wrong, &hash).await.unwrap());
        assert!(!hasher.verify(&pw, &PasswordHash::new("garbage".into())).await.unwrap());
        // Two hashes of one password differ (fresh salt).
        assert_ne!(hasher.hash(&pw).await.unwrap().as_str(), hash.as_str());
    }

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
