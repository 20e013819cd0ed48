//! Email confirmation of self-registered accounts, and the rule that approves students of
//! the listed email domains automatically when they confirm.

use std::fmt;

use chrono::{DateTime, Duration, Utc};

use super::model::{Email, Role, SessionToken, TokenHash};
use crate::notifications::NotificationKind;

/// How long a confirmation link works.
pub fn confirmation_ttl() -> Duration {
    Duration::hours(24)
}

/// Which confirmed addresses approve their account without an admin: students whose address
/// is in one of the listed domains (`OSTS_STUDENT_EMAIL_DOMAINS`). Exact domain match, case
/// insensitive; a subdomain is another domain (`cs.uni.edu` is not `uni.edu`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AutoApproval {
    domains: Vec<String>,
}

impl AutoApproval {
    /// No domain: every account waits for an admin.
    pub fn none() -> Self {
        Self::default()
    }

    /// The domains of a comma-separated list such as `uni.edu, Student.Uni.edu`: trimmed,
    /// lower-cased, a leading `@` dropped, empty items ignored.
    pub fn parse(list: &str) -> Self {
        let mut domains: Vec<String> = list
            .split(',')
            .map(|d| d.trim().trim_start_matches('@').to_lowercase())
            .filter(|d| !d.is_empty())
            .collect();
        domains.sort();
        domains.dedup();
        Self { domains }
    }

    /// The domains, lower-cased.
    pub fn domains(&self) -> &[String] {
        &self.domains
    }

    /// Whether an account of `role` with the (confirmed) address `email` is approved at once.
    /// Staff applicants always wait for an admin, whatever their address.
    pub fn approves(&self, role: Role, email: &Email) -> bool {
        match role {
            Role::Student => self.domains.iter().any(|d| d == email.domain()),
            Role::Support | Role::Admin => false,
        }
    }
}

/// A confirmation token made for one account: the token to mail (once, through the outbox)
/// and the digest the store keeps.
#[derive(Clone)]
pub struct NewConfirmation {
    /// What the store keeps to recognise the token.
    pub token_hash: TokenHash,
    /// When it was made.
    pub created_at: DateTime<Utc>,
    /// When it stops working.
    pub expires_at: DateTime<Utc>,
    token: SessionToken,
}

impl NewConfirmation {
    /// A confirmation of `token` made `now`, valid for [`confirmation_ttl`].
    pub fn new(token: SessionToken, token_hash: TokenHash, now: DateTime<Utc>) -> Self {
        Self { token_hash, created_at: now, expires_at: now + confirmation_ttl(), token }
    }

    /// The confirmation email's notification payload: the token the link carries, and its
    /// expiry. The outbox must hold the token until the email is sent; the store empties the
    /// payload once the address is confirmed.
    pub fn email_payload(&self) -> String {
        serde_json::json!({
            "kind": NotificationKind::EmailConfirmation.as_str(),
            "token": self.token.expose(),
            "expires_at": self.expires_at,
        })
        .to_string()
    }
}

impl fmt::Debug for NewConfirmation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewConfirmation")
            .field("token_hash", &self.token_hash)
            .field("created_at", &self.created_at)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// A notification to an account's holder about the account itself, written in the
/// transaction of the change (no ticket).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountNotice {
    /// `account_approved` or `account_rejected`.
    pub kind: NotificationKind,
    /// What the notification says, as JSON.
    pub payload: String,
}

impl AccountNotice {
    /// The account was approved, by an admin or (`automatic`) by its confirmed address.
    pub fn approved(automatic: bool) -> Self {
        Self {
            kind: NotificationKind::AccountApproved,
            payload: serde_json::json!({ "kind": NotificationKind::AccountApproved.as_str(), "automatic": automatic })
                .to_string(),
        }
    }

    /// An admin rejected the account, saying why.
    pub fn rejected(reason: &str) -> Self {
        Self {
            kind: NotificationKind::AccountRejected,
            payload: serde_json::json!({ "kind": NotificationKind::AccountRejected.as_str(), "reason": reason })
                .to_string(),
        }
    }
}

/// Why a confirmation token was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum ConfirmError {
    /// No such token (never issued, or replaced by a newer one).
    #[error("unknown confirmation token")]
    Invalid,
    /// The token was used already.
    #[error("confirmation token already used")]
    Used,
    /// The token is older than its lifetime.
    #[error("confirmation token expired")]
    Expired,
    /// Anything else.
    #[error(transparent)]
    Unknown(#[from] anyhow::Error),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_approval_table() {
        let rule = AutoApproval::parse(" Uni.EDU, @students.example.org,, ");
        assert_eq!(rule.domains(), ["students.example.org", "uni.edu"]);
        let table: &[(Role, &str, bool)] = &[
            (Role::Student, "ada@uni.edu", true),
            // Addresses are lower-cased when parsed, so case never matters.
            (Role::Student, "Ada@UNI.edu", true),
            (Role::Student, "bo@students.example.org", true),
            // Exact domain: neither subdomains nor parents nor look-alikes.
            (Role::Student, "cy@cs.uni.edu", false),
            (Role::Student, "di@example.org", false),
            (Role::Student, "ed@uni.edu.evil.com", false),
            (Role::Student, "fi@notuni.edu", false),
            (Role::Student, "gu@gmail.com", false),
            // Staff applicants wait for an admin even from the listed domains.
            (Role::Support, "sam@uni.edu", false),
            (Role::Admin, "root@uni.edu", false),
        ];
        for &(role, email, expected) in table {
            let email = Email::parse(email).unwrap();
            assert_eq!(rule.approves(role, &email), expected, "{role:?} {email}");
        }
    }

    #[test]
    fn no_domains_approves_no_one() {
        let ada = Email::parse("ada@uni.edu").unwrap();
        assert!(!AutoApproval::none().approves(Role::Student, &ada));
        assert!(!AutoApproval::parse("").approves(Role::Student, &ada));
        assert!(!AutoApproval::parse(" , ").approves(Role::Student, &ada));
    }

    #[test]
    fn confirmations_last_a_day_and_never_print_their_token() {
        let now = Utc::now();
        let c = NewConfirmation::new(SessionToken::new("s3cret-token".into()), TokenHash::new("abc".into()), now);
        assert_eq!(c.expires_at - c.created_at, Duration::hours(24));
        assert!(!format!("{c:?}").contains("s3cret"));
        let payload: serde_json::Value = serde_json::from_str(&c.email_payload()).unwrap();
        assert_eq!(payload["token"], "s3cret-token");
        assert_eq!(payload["kind"], "email_confirmation");
    }
}
