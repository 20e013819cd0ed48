use std::net::IpAddr;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::confirmation::*;
use super::model::*;
use crate::page::{ListError, Page, PageLimit};

/// Why an account could not be stored.
#[derive(Debug, thiserror::Error)]
pub enum InsertAccountError {
    /// An account with the same (normalised) email exists.
    #[error("email already registered")]
    Duplicate,
    /// Anything else.
    #[error(transparent)]
    Unknown(#[from] anyhow::Error),
}

/// Storage of accounts.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait AccountRepository: Send + Sync {
    /// Stores a new account. MUST return `Duplicate` if the email is taken.
    async fn insert(&self, account: NewAccount) -> Result<Account, InsertAccountError>;

    /// Stores a self-registered account, the digest of its confirmation token, and the
    /// confirmation email (an `email_confirmation` notification and its delivery, sent whatever
    /// the preferences), all in one transaction. MUST return `Duplicate` if the email is taken,
    /// and then store nothing.
    async fn register(&self, account: NewAccount, confirmation: NewConfirmation)
        -> Result<Account, InsertAccountError>;

    /// For the `pending` or `active` account with this email whose address is not confirmed:
    /// replaces its unused confirmation tokens by this one and queues its email, in one
    /// transaction. MUST return `Ok(false)` and change nothing if there is no such account.
    async fn reissue_confirmation(&self, email: &Email, confirmation: NewConfirmation) -> anyhow::Result<bool>;

    /// Uses the token: marks it used, sets the account's `email_confirmed_at`, and, if the
    /// account is `pending` and `auto` approves its role and address, makes it `active` and
    /// writes its `account_approved` notification and email; one transaction. Of concurrent
    /// calls with one token exactly one MUST succeed; the others get `Used`. MUST return
    /// `Invalid` for a token it does not know (or that a newer one replaced), `Used` for a
    /// used one and `Expired` once `now` is at or past its expiry.
    async fn confirm_email(
        &self,
        token: &TokenHash,
        now: DateTime<Utc>,
        auto: &AutoApproval,
    ) -> Result<Account, ConfirmError>;

    /// The account with this id. MUST return `Ok(None)` if there is none.
    async fn find(&self, id: UserId) -> anyhow::Result<Option<Account>>;

    /// The account with this email and its password hash, for sign-in. MUST return `Ok(None)`
    /// if there is none.
    async fn find_credentials(&self, email: &Email) -> anyhow::Result<Option<(Account, PasswordHash)>>;

    /// Accounts matching the filter, oldest first (the order an admin works through them).
    /// MUST return `InvalidCursor` for a cursor it did not make.
    async fn list(
        &self,
        filter: AccountFilter,
        limit: PageLimit,
        cursor: Option<String>,
    ) -> Result<Page<Account>, ListError>;

    /// Sets status and reason only if the account is still in `expected` status, revokes
    /// every session when the new status may not sign in, and writes `notice` (a notification
    /// to the account's holder and, per their preference, its email); one transaction. MUST
    /// return `Ok(None)` and change nothing if the account does not exist or its status is no
    /// longer `expected`.
    async fn set_status(
        &self,
        id: UserId,
        expected: AccountStatus,
        status: AccountStatus,
        reason: Option<String>,
        notice: Option<AccountNotice>,
    ) -> anyhow::Result<Option<Account>>;

    /// Changes the role. MUST return `Ok(None)` if the account does not exist.
    async fn set_role(&self, id: UserId, role: Role) -> anyhow::Result<Option<Account>>;
}

/// Storage of sessions: tokens are only ever seen here as their hash.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait SessionRepository: Send + Sync {
    /// Stores a session for `user` under `token_hash`.
    async fn create(
        &self,
        token_hash: &TokenHash,
        user: UserId,
        created_at: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> anyhow::Result<()>;

    /// The account of an unexpired, unrevoked session, read fresh (so role and status changes
    /// apply at once). MUST return `Ok(None)` for an unknown, expired or revoked token. Only
    /// the accounts service turns it into a [`Principal`] (refusing accounts that may not
    /// sign in).
    async fn session_account(&self, token_hash: &TokenHash, now: DateTime<Utc>) -> anyhow::Result<Option<Account>>;

    /// Revokes one session. Revoking an unknown or revoked token is not an error.
    async fn revoke(&self, token_hash: &TokenHash, now: DateTime<Utc>) -> anyhow::Result<()>;
}

/// Why a password could not be hashed or checked.
#[derive(Debug, thiserror::Error)]
pub enum HashError {
    /// Every hashing slot and the short queue in front of them are taken: the caller should
    /// come back later rather than wait without bound.
    #[error("password hashing is at capacity, retry in {retry_after_secs} s")]
    Busy {
        /// Seconds after which a new attempt is likely to find room.
        retry_after_secs: u64,
    },
    /// Something else broke.
    #[error(transparent)]
    Unknown(#[from] anyhow::Error),
}

impl From<HashError> for crate::Error {
    fn from(err: HashError) -> Self {
        match err {
            HashError::Busy { retry_after_secs } => Self::Busy { retry_after_secs },
            HashError::Unknown(e) => Self::Unknown(e),
        }
    }
}

/// Password hashing (argon2id in production; deliberately slow, so its concurrency is
/// bounded by the adapter).
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait PasswordHasher: Send + Sync {
    /// Hashes a password with a fresh salt. MUST return [`HashError::Busy`] instead of
    /// queueing when its bounded queue is full.
    async fn hash(&self, password: &Password) -> Result<PasswordHash, HashError>;
    /// Whether `password` matches `hash`. MUST return `Ok(false)` for a mismatch and for a
    /// hash it cannot parse, and [`HashError::Busy`] when its bounded queue is full.
    async fn verify(&self, password: &Password, hash: &PasswordHash) -> Result<bool, HashError>;
    /// Spends the same time as a real verification, so that an unknown email cannot be told
    /// apart from a wrong password by timing; MUST return [`HashError::Busy`] exactly when
    /// `verify` would.
    async fn waste_time(&self, password: &Password) -> Result<(), HashError>;
}

/// Makes session tokens.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
pub trait TokenIssuer: Send + Sync {
    /// A fresh random token (at least 128 bits) and its digest. Tokens MUST be 1–256
    /// characters of the URL-safe base64 alphabet (`A–Z`, `a–z`, `0–9`, `-`, `_`): email
    /// confirmation links refuse anything else unread ([`super::CONFIRMATION_TOKEN`]).
    fn issue(&self) -> (SessionToken, TokenHash);
    /// The digest of a token a client presented.
    fn digest(&self, token: &str) -> TokenHash;
}

/// Where a sign-in attempt comes from, for throttling.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ClientAddr {
    /// A network peer.
    Ip(IpAddr),
    /// Not known (e.g. in-process calls).
    Unknown,
}

/// Limits sign-in attempts (and, as a second instance, confirmation resends) per account and
/// per client address.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
pub trait LoginThrottle: Send + Sync {
    /// Counts an attempt for this email and address. MUST return `Err(seconds)` when either
    /// has used up its allowance, and then not let the attempt through.
    fn attempt(&self, email: &str, client: ClientAddr) -> Result<(), u64>;
}
