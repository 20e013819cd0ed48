use std::fmt;

use chrono::{DateTime, Utc};

use crate::error::{Error, Forbidden};
use crate::text::{not_ws, one_line, one_line_edge, ws, Pattern};

/// An account's identifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UserId(i64);

impl UserId {
    /// Wraps a stored identifier.
    pub fn new(id: i64) -> Self {
        Self(id)
    }
    /// The raw identifier.
    pub fn get(self) -> i64 {
        self.0
    }
}

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A syntactically valid email address, trimmed and lower-cased.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Email(String);

/// [`Email`] as a pattern (the length is the document's `maxLength`): whitespace around, a
/// local part of 1–64 characters without whitespace, control characters or `@`, then `@`
/// and a domain of two or more dot-separated labels of letters, digits and dashes.
pub static EMAIL: Pattern = Pattern::new(|| {
    concat!(
        "^[",
        ws!(),
        r"]*[^\u0000-\u0020\u007F-\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000@]{1,64}",
        r"@[-\p{L}\p{N}]+(?:\.[-\p{L}\p{N}]+)+[",
        ws!(),
        "]*$"
    )
    .to_owned()
});

impl Email {
    /// The longest address we accept (RFC 5321's path limit), in characters as sent.
    pub const MAX_LEN: usize = 254;
    /// The longest local part (before `@`), in characters.
    pub const MAX_LOCAL_LEN: usize = 64;

    /// Parses an address: one `@`, a local part of 1–64 characters without whitespace or
    /// control characters, a dotted domain of letters, digits and dashes ([`EMAIL`]); at most
    /// 254 characters as sent.
    pub fn parse(raw: &str) -> Result<Self, Error> {
        let trimmed = raw.trim();
        let invalid = || Error::invalid("email", "invalid_email", "this is not a valid email address");
        if trimmed.is_empty() || raw.chars().count() > Self::MAX_LEN || trimmed.chars().any(char::is_whitespace) {
            return Err(invalid());
        }
        let (local, domain) = trimmed.split_once('@').ok_or_else(invalid)?;
        let domain_ok = !domain.contains('@')
            && domain.contains('.')
            && domain
                .split('.')
                .all(|label| !label.is_empty() && label.chars().all(|c| c.is_alphanumeric() || c == '-'));
        if local.is_empty() || local.chars().count() > Self::MAX_LOCAL_LEN || !domain_ok || !EMAIL.is_match(raw) {
            return Err(invalid());
        }
        // `İ` (U+0130) is the one character whose lower case is two; as `i`, the address keeps
        // its length.
        Ok(Self(trimmed.replace('\u{130}', "I").to_lowercase()))
    }

    /// The address.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The part after `@`: safe to log, unlike the address.
    pub fn domain(&self) -> &str {
        self.0.split_once('@').map_or("", |(_, d)| d)
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The token of an email confirmation link as a pattern: whitespace around, then 1–256
/// characters of the URL-safe base64 alphabet, which [`super::TokenIssuer`] tokens are made of.
pub static CONFIRMATION_TOKEN: Pattern =
    Pattern::new(|| concat!("^[", ws!(), "]*[-_A-Za-z0-9]{1,256}[", ws!(), "]*$").to_owned());

/// A person's display name: trimmed, 1–80 characters, no control characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DisplayName(String);

/// [`DisplayName`] as a pattern: whitespace around, then 1–80 characters of one line that
/// start and end with a visible one.
pub static DISPLAY_NAME: Pattern = Pattern::new(|| {
    concat!("^[", ws!(), "]*", one_line_edge!(), "(?:", one_line!(), "{0,78}", one_line_edge!(), ")?[", ws!(), "]*$")
        .to_owned()
});

impl DisplayName {
    /// The longest name we accept, in characters.
    pub const MAX_CHARS: usize = 80;

    /// Validates a display name.
    pub fn parse(raw: &str) -> Result<Self, Error> {
        let name = raw.trim();
        if name.is_empty() {
            return Err(Error::invalid("display_name", "required", "display name is required"));
        }
        if name.chars().count() > Self::MAX_CHARS {
            return Err(Error::invalid(
                "display_name",
                "too_long",
                format!("display name must be at most {} characters", Self::MAX_CHARS),
            ));
        }
        if name.chars().any(|c| c.is_control() || crate::text::reorders_or_breaks_text(c))
            || !DISPLAY_NAME.is_match(raw)
        {
            return Err(Error::invalid(
                "display_name",
                "invalid_characters",
                "display name must not contain control characters, line separators or characters that reorder \
                 text (such as U+202E)",
            ));
        }
        Ok(Self(name.to_owned()))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A password as typed, checked for length. Never stored, never printed.
#[derive(Clone)]
pub struct Password(String);

impl Password {
    /// The shortest password we accept.
    pub const MIN_CHARS: usize = 10;
    /// The longest password we accept (bounds the hashing work an attacker can ask for).
    pub const MAX_CHARS: usize = 128;

    /// Validates a new password.
    pub fn new(raw: &str) -> Result<Self, Error> {
        let n = raw.chars().count();
        if n < Self::MIN_CHARS {
            return Err(Error::invalid(
                "password",
                "too_short",
                format!("password must be at least {} characters", Self::MIN_CHARS),
            ));
        }
        if n > Self::MAX_CHARS {
            return Err(Error::invalid(
                "password",
                "too_long",
                format!("password must be at most {} characters", Self::MAX_CHARS),
            ));
        }
        Ok(Self(raw.to_owned()))
    }

    /// A password offered at sign-in: any length up to the maximum, so that a short guess is
    /// answered exactly like a wrong one.
    pub fn attempt(raw: &str) -> Option<Self> {
        (raw.chars().count() <= Self::MAX_CHARS).then(|| Self(raw.to_owned()))
    }

    /// The secret itself, for the hasher only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(***)")
    }
}

/// A PHC-format password hash (argon2id in production).
#[derive(Clone, PartialEq, Eq)]
pub struct PasswordHash(String);

impl PasswordHash {
    /// Wraps a stored hash.
    pub fn new(phc: String) -> Self {
        Self(phc)
    }
    /// The PHC string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PasswordHash(***)")
    }
}

/// What an account may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// Raises tickets and votes.
    Student,
    /// Works the queue.
    Support,
    /// Verifies accounts and curates.
    Admin,
}

impl Role {
    /// Every role.
    pub const ALL: [Role; 3] = [Role::Student, Role::Support, Role::Admin];

    /// Support and admin together.
    pub fn is_staff(self) -> bool {
        match self {
            Role::Student => false,
            Role::Support | Role::Admin => true,
        }
    }

    /// The stable name used in the API and the store.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Student => "student",
            Role::Support => "support",
            Role::Admin => "admin",
        }
    }

    /// Parses a stable name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

/// Where an account is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AccountStatus {
    /// Registered, waiting for an admin's approval (or for the email confirmation that
    /// approves students of the listed domains).
    Pending,
    /// May use osts.
    Active,
    /// Refused by an admin.
    Rejected,
    /// Switched off by an admin.
    Deactivated,
}

impl AccountStatus {
    /// Every status.
    pub const ALL: [AccountStatus; 4] =
        [AccountStatus::Pending, AccountStatus::Active, AccountStatus::Rejected, AccountStatus::Deactivated];

    /// The stable name used in the API and the store.
    pub fn as_str(self) -> &'static str {
        match self {
            AccountStatus::Pending => "pending",
            AccountStatus::Active => "active",
            AccountStatus::Rejected => "rejected",
            AccountStatus::Deactivated => "deactivated",
        }
    }

    /// Parses a stable name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == s)
    }

    /// Whether an account in this status may sign in at all (pending accounts may, to see
    /// their status; every other action needs an active account).
    pub fn may_sign_in(self) -> bool {
        match self {
            AccountStatus::Pending | AccountStatus::Active => true,
            AccountStatus::Rejected | AccountStatus::Deactivated => false,
        }
    }
}

/// An account as osts knows it.
#[derive(Debug, Clone, PartialEq)]
pub struct Account {
    /// Identifier.
    pub id: UserId,
    /// Sign-in address.
    pub email: Email,
    /// Shown to others.
    pub display_name: DisplayName,
    /// What the account may do.
    pub role: Role,
    /// Where the account is in its life.
    pub status: AccountStatus,
    /// When the address was confirmed, if it was.
    pub email_confirmed_at: Option<DateTime<Utc>>,
    /// The admin's reason when rejected or deactivated.
    pub status_reason: Option<String>,
    /// When the account was registered.
    pub created_at: DateTime<Utc>,
}

/// A new account, ready to be stored.
#[derive(Debug, Clone)]
pub struct NewAccount {
    /// Sign-in address.
    pub email: Email,
    /// Shown to others.
    pub display_name: DisplayName,
    /// Requested role.
    pub role: Role,
    /// Initial status (`pending` for self-registration, `active` for the CLI and seed).
    pub status: AccountStatus,
    /// Set when the address is known to be real (CLI, seed).
    pub email_confirmed_at: Option<DateTime<Utc>>,
    /// The argon2id hash.
    pub password_hash: PasswordHash,
    /// Registration time.
    pub created_at: DateTime<Utc>,
}

/// The authenticated caller, resolved from a session token by the accounts service; never
/// from anything else the client sent. Only [`crate::accounts::AccountService`] (and, in
/// tests, [`crate::testing::PrincipalBuilder`]) can make one.
#[derive(Debug, Clone, PartialEq)]
pub struct Principal {
    id: UserId,
    role: Role,
    status: AccountStatus,
}

impl Principal {
    /// The principal of an account as it is now.
    pub(crate) fn of(account: &Account) -> Self {
        Self { id: account.id, role: account.role, status: account.status }
    }

    #[cfg(any(test, feature = "mocks"))]
    pub(crate) fn from_parts(id: UserId, role: Role, status: AccountStatus) -> Self {
        Self { id, role, status }
    }

    /// Who.
    pub fn id(&self) -> UserId {
        self.id
    }

    /// Their role now (read on every request, so a role change applies at once).
    pub fn role(&self) -> Role {
        self.role
    }

    /// Their account status now.
    pub fn status(&self) -> AccountStatus {
        self.status
    }

    /// The principal as the actor of what they do.
    pub fn actor(&self) -> crate::actor::Actor {
        crate::actor::Actor::User(self.id)
    }

    /// Refuses anything but an active account.
    pub fn require_active(&self) -> Result<&Self, Error> {
        match self.status {
            AccountStatus::Active => Ok(self),
            AccountStatus::Pending => Err(Error::Forbidden(Forbidden::AccountPending)),
            AccountStatus::Rejected | AccountStatus::Deactivated => Err(Error::Forbidden(Forbidden::AccountInactive)),
        }
    }

    /// Refuses anything but an active admin.
    pub fn require_admin(&self) -> Result<&Self, Error> {
        self.require_active()?;
        match self.role {
            Role::Admin => Ok(self),
            Role::Student | Role::Support => Err(Error::Forbidden(Forbidden::RoleNotAllowed)),
        }
    }

    /// Refuses anything but active staff.
    pub fn require_staff(&self) -> Result<&Self, Error> {
        self.require_active()?;
        if self.role.is_staff() {
            Ok(self)
        } else {
            Err(Error::Forbidden(Forbidden::RoleNotAllowed))
        }
    }
}

/// A session token as handed to the client once. Never stored; never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct SessionToken(String);

impl SessionToken {
    /// Wraps a token string.
    pub fn new(token: String) -> Self {
        Self(token)
    }
    /// The token, to send to the client.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SessionToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SessionToken(***)")
    }
}

/// The digest under which a session token is stored.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TokenHash(String);

impl TokenHash {
    /// Wraps a digest (lower-case hex).
    pub fn new(hex: String) -> Self {
        Self(hex)
    }
    /// The digest.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A successful sign-in.
#[derive(Debug, Clone)]
pub struct Session {
    /// The bearer token for the client.
    pub token: SessionToken,
    /// When it stops working.
    pub expires_at: DateTime<Utc>,
    /// Who signed in.
    pub account: Account,
}

/// Which accounts an admin wants to see.
#[derive(Debug, Clone, Default)]
pub struct AccountFilter {
    /// Only accounts in this status.
    pub status: Option<AccountStatus>,
    /// Only accounts with this role.
    pub role: Option<Role>,
    /// Only accounts whose address is (`true`) or is not (`false`) confirmed.
    pub email_confirmed: Option<bool>,
}

/// An admin's decision about an account.
#[derive(Debug, Clone, PartialEq)]
pub enum AccountDecision {
    /// Let a pending account in.
    Approve,
    /// Refuse a pending account, saying why.
    Reject {
        /// Shown to the person.
        reason: String,
    },
    /// Switch an account off, saying why.
    Deactivate {
        /// Shown to the person.
        reason: String,
    },
    /// Switch a deactivated account back on.
    Reactivate,
}

impl AccountDecision {
    /// The status an account reaches from `current`, or why it cannot.
    pub fn apply(&self, current: AccountStatus) -> Result<AccountStatus, Error> {
        use AccountStatus::*;
        let next = match (self, current) {
            (AccountDecision::Approve, Pending) => Active,
            (AccountDecision::Reject { .. }, Pending) => Rejected,
            (AccountDecision::Deactivate { .. }, Pending | Active) => Deactivated,
            (AccountDecision::Reactivate, Deactivated) => Active,
            (AccountDecision::Approve | AccountDecision::Reject { .. }, Active | Rejected | Deactivated)
            | (AccountDecision::Deactivate { .. }, Rejected | Deactivated)
            | (AccountDecision::Reactivate, Pending | Active | Rejected) => {
                return Err(Error::Conflict(crate::Conflict::AlreadyDecided))
            }
        };
        Ok(next)
    }

    /// The reason to record, if any.
    pub fn reason(&self) -> Option<&str> {
        match self {
            AccountDecision::Reject { reason } | AccountDecision::Deactivate { reason } => Some(reason),
            AccountDecision::Approve | AccountDecision::Reactivate => None,
        }
    }
}

/// [`parse_reason`] as a pattern: whitespace around, then 1–500 characters that start and
/// end with a non-whitespace one.
pub static REASON: Pattern = Pattern::new(|| {
    concat!("^[", ws!(), "]*", not_ws!(), r"(?:[\s\S]{0,498}", not_ws!(), ")?[", ws!(), "]*$").to_owned()
});

/// Validates a reason (an admin's for rejecting or deactivating, anyone's for reopening):
/// trimmed, 1–500 characters.
pub fn parse_reason(raw: &str) -> Result<String, Error> {
    let r = raw.trim();
    if r.is_empty() {
        return Err(Error::invalid("reason", "required", "a reason is required"));
    }
    if r.chars().count() > 500 || !REASON.is_match(raw) {
        return Err(Error::invalid("reason", "too_long", "reason must be at most 500 characters"));
    }
    Ok(r.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::PrincipalBuilder;

    #[test]
    fn emails_are_normalised_and_checked() {
        assert_eq!(Email::parse("  Ada@Uni.EDU ").unwrap().as_str(), "ada@uni.edu");
        assert_eq!(Email::parse("ada@uni.edu").unwrap().domain(), "uni.edu");
        for bad in ["", "ada", "ada@", "@uni.edu", "ada@uni", "a da@uni.edu", "a@b@c.de", "ada@uni..edu"] {
            assert!(Email::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn passwords_have_bounds_and_never_print() {
        assert!(Password::new("short").is_err());
        assert!(Password::new(&"x".repeat(129)).is_err());
        let p = Password::new("correct horse battery").unwrap();
        assert_eq!(format!("{p:?}"), "Password(***)");
        assert!(Password::attempt("short").is_some());
        assert!(Password::attempt(&"x".repeat(200)).is_none());
    }

    #[test]
    fn display_names_are_trimmed_and_bounded() {
        assert_eq!(DisplayName::parse("  Ada  ").unwrap().as_str(), "Ada");
        assert!(DisplayName::parse("   ").is_err());
        for c in crate::text::REORDERING_OR_BREAKING {
            let err = DisplayName::parse(&format!("Ada{c}Admin")).unwrap_err();
            assert!(matches!(err, Error::Invalid { code: "invalid_characters", .. }), "{:04x}", c as u32);
        }
        assert!(DisplayName::parse(&"a".repeat(81)).is_err());
        assert!(DisplayName::parse("a\u{0}b").is_err());
    }

    #[test]
    fn account_decisions_table() {
        use AccountStatus::*;
        let reject = AccountDecision::Reject { reason: "no".into() };
        let deactivate = AccountDecision::Deactivate { reason: "left".into() };
        let table: &[(&AccountDecision, AccountStatus, Option<AccountStatus>)] = &[
            (&AccountDecision::Approve, Pending, Some(Active)),
            (&AccountDecision::Approve, Active, None),
            (&AccountDecision::Approve, Rejected, None),
            (&AccountDecision::Approve, Deactivated, None),
            (&reject, Pending, Some(Rejected)),
            (&reject, Active, None),
            (&reject, Rejected, None),
            (&deactivate, Active, Some(Deactivated)),
            (&deactivate, Pending, Some(Deactivated)),
            (&deactivate, Deactivated, None),
            (&deactivate, Rejected, None),
            (&AccountDecision::Reactivate, Deactivated, Some(Active)),
            (&AccountDecision::Reactivate, Active, None),
            (&AccountDecision::Reactivate, Pending, None),
        ];
        for (decision, from, expected) in table {
            assert_eq!(decision.apply(*from).ok(), *expected, "{decision:?} from {from:?}");
        }
    }

    #[test]
    fn principal_gates() {
        let p = |role, status| PrincipalBuilder::new(1, role).status(status).build();
        assert!(p(Role::Student, AccountStatus::Active).require_active().is_ok());
        assert!(matches!(
            p(Role::Admin, AccountStatus::Pending).require_admin(),
            Err(Error::Forbidden(Forbidden::AccountPending))
        ));
        assert!(matches!(
            p(Role::Support, AccountStatus::Active).require_admin(),
            Err(Error::Forbidden(Forbidden::RoleNotAllowed))
        ));
        assert!(p(Role::Support, AccountStatus::Active).require_staff().is_ok());
        assert!(p(Role::Student, AccountStatus::Active).require_staff().is_err());
        assert!(matches!(
            p(Role::Student, AccountStatus::Deactivated).require_active(),
            Err(Error::Forbidden(Forbidden::AccountInactive))
        ));
    }
}
