use std::sync::Arc;

use chrono::Duration;

use super::model::*;
use super::ports::*;
use crate::clock::Clock;
use crate::error::{Conflict, Error, Resource};
use crate::page::{Page, PageLimit};

/// A registration request, as the client sent it.
#[derive(Debug, Clone)]
pub struct Registration {
    /// Email address.
    pub email: String,
    /// Display name.
    pub display_name: String,
    /// Password.
    pub password: String,
    /// The role the person asks for; an admin approves it.
    pub role: Role,
}

/// Accounts and sessions.
#[derive(Clone)]
pub struct AccountService {
    accounts: Arc<dyn AccountRepository>,
    sessions: Arc<dyn SessionRepository>,
    hasher: Arc<dyn PasswordHasher>,
    tokens: Arc<dyn TokenIssuer>,
    throttle: Arc<dyn LoginThrottle>,
    clock: Arc<dyn Clock>,
    session_ttl: Duration,
}

impl AccountService {
    /// Wires the service to its ports.
    pub fn new(
        accounts: Arc<dyn AccountRepository>,
        sessions: Arc<dyn SessionRepository>,
        hasher: Arc<dyn PasswordHasher>,
        tokens: Arc<dyn TokenIssuer>,
        throttle: Arc<dyn LoginThrottle>,
        clock: Arc<dyn Clock>,
        session_ttl: Duration,
    ) -> Self {
        Self { accounts, sessions, hasher, tokens, throttle, clock, session_ttl }
    }

    /// Self-registration: every new account starts `pending`.
    pub async fn register(&self, registration: Registration) -> Result<Account, Error> {
        let email = Email::parse(&registration.email)?;
        let display_name = DisplayName::parse(&registration.display_name)?;
        let password = Password::new(&registration.password)?;
        self.create(email, display_name, &password, registration.role, AccountStatus::Pending, false).await
    }

    /// An account made by an operator (CLI, seed): active and confirmed at once.
    pub async fn create_active(
        &self,
        email: &str,
        display_name: &str,
        password: &str,
        role: Role,
    ) -> Result<Account, Error> {
        let email = Email::parse(email)?;
        let display_name = DisplayName::parse(display_name)?;
        let password = Password::new(password)?;
        self.create(email, display_name, &password, role, AccountStatus::Active, true).await
    }

    async fn create(
        &self,
        email: Email,
        display_name: DisplayName,
        password: &Password,
        role: Role,
        status: AccountStatus,
        confirmed: bool,
    ) -> Result<Account, Error> {
        let now = self.clock.now();
        let password_hash = self.hasher.hash(password).await?;
        let new = NewAccount {
            email,
            display_name,
            role,
            status,
            email_confirmed_at: confirmed.then_some(now),
            password_hash,
            created_at: now,
        };
        self.accounts.insert(new).await.map_err(|e| match e {
            InsertAccountError::Duplicate => Error::Conflict(Conflict::EmailTaken),
            InsertAccountError::Unknown(e) => Error::Unknown(e),
        })
    }

    /// Signs in. Every failure that depends on the credentials is the same
    /// [`Error::InvalidCredentials`]; attempts are throttled per email and per address.
    pub async fn login(&self, email: &str, password: &str, client: ClientAddr) -> Result<Session, Error> {
        let key = email.trim().to_lowercase();
        self.throttle.attempt(&key, client).map_err(|retry_after_secs| Error::Throttled { retry_after_secs })?;
        let Some(password) = Password::attempt(password) else {
            return Err(Error::InvalidCredentials);
        };
        let found = match Email::parse(&key) {
            Ok(email) => self.accounts.find_credentials(&email).await?,
            Err(_) => None,
        };
        let Some((account, hash)) = found else {
            self.hasher.waste_time(&password).await;
            return Err(Error::InvalidCredentials);
        };
        if !self.hasher.verify(&password, &hash).await? {
            return Err(Error::InvalidCredentials);
        }
        if !account.status.may_sign_in() {
            return Err(Error::Forbidden(crate::Forbidden::AccountInactive));
        }
        let now = self.clock.now();
        let expires_at = now + self.session_ttl;
        let (token, token_hash) = self.tokens.issue();
        self.sessions.create(&token_hash, account.id, now, expires_at).await?;
        Ok(Session { token, expires_at, account })
    }

    /// Ends the session of this token.
    pub async fn logout(&self, token: &str) -> Result<(), Error> {
        let hash = self.tokens.digest(token);
        self.sessions.revoke(&hash, self.clock.now()).await?;
        Ok(())
    }

    /// The principal behind a bearer token, or [`Error::Unauthenticated`].
    pub async fn authenticate(&self, token: &str) -> Result<Principal, Error> {
        let hash = self.tokens.digest(token);
        self.sessions.principal(&hash, self.clock.now()).await?.ok_or(Error::Unauthenticated)
    }

    /// The caller's own account (also for pending accounts, so they can see their status).
    pub async fn me(&self, principal: &Principal) -> Result<Account, Error> {
        self.accounts.find(principal.id).await?.ok_or(Error::Unauthenticated)
    }

    /// Accounts for an admin, e.g. the pending ones to verify.
    pub async fn list(
        &self,
        principal: &Principal,
        filter: AccountFilter,
        limit: PageLimit,
        cursor: Option<String>,
    ) -> Result<Page<Account>, Error> {
        principal.require_admin()?;
        Ok(self.accounts.list(filter, limit, cursor).await?)
    }

    /// An admin approves, rejects, deactivates or reactivates an account.
    pub async fn decide(&self, principal: &Principal, id: UserId, decision: AccountDecision) -> Result<Account, Error> {
        principal.require_admin()?;
        if id == principal.id {
            // An admin locking themselves out is never what they meant.
            return Err(Error::invalid("id", "self_decision", "you cannot decide about your own account"));
        }
        let reason = decision.reason().map(parse_reason).transpose()?;
        let account = self.accounts.find(id).await?.ok_or(Error::NotFound(Resource::Account))?;
        let next = decision.apply(account.status)?;
        self.accounts
            .set_status(id, account.status, next, reason)
            .await?
            .ok_or(Error::Conflict(Conflict::AlreadyDecided))
    }

    /// An admin changes an account's role.
    pub async fn change_role(&self, principal: &Principal, id: UserId, role: Role) -> Result<Account, Error> {
        principal.require_admin()?;
        if id == principal.id {
            return Err(Error::invalid("id", "self_decision", "you cannot change your own role"));
        }
        self.accounts.set_role(id, role).await?.ok_or(Error::NotFound(Resource::Account))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::FixedClock;
    use chrono::{TimeZone, Utc};
    use mockall::predicate::*;

    fn account(status: AccountStatus) -> Account {
        Account {
            id: UserId::new(7),
            email: Email::parse("ada@uni.edu").unwrap(),
            display_name: DisplayName::parse("Ada").unwrap(),
            role: Role::Student,
            status,
            email_confirmed_at: None,
            status_reason: None,
            created_at: Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap(),
        }
    }

    struct Mocks {
        accounts: MockAccountRepository,
        sessions: MockSessionRepository,
        hasher: MockPasswordHasher,
        tokens: MockTokenIssuer,
        throttle: MockLoginThrottle,
    }

    impl Mocks {
        fn new() -> Self {
            let mut throttle = MockLoginThrottle::new();
            throttle.expect_attempt().returning(|_, _| Ok(()));
            Self {
                accounts: MockAccountRepository::new(),
                sessions: MockSessionRepository::new(),
                hasher: MockPasswordHasher::new(),
                tokens: MockTokenIssuer::new(),
                throttle,
            }
        }
        fn service(self) -> AccountService {
            AccountService::new(
                Arc::new(self.accounts),
                Arc::new(self.sessions),
                Arc::new(self.hasher),
                Arc::new(self.tokens),
                Arc::new(self.throttle),
                Arc::new(FixedClock(Utc.with_ymd_and_hms(2026, 2, 1, 0, 0, 0).unwrap())),
                Duration::hours(12),
            )
        }
    }

    #[tokio::test]
    async fn registration_is_pending_and_hashed() {
        let mut m = Mocks::new();
        m.hasher.expect_hash().returning(|_| Ok(PasswordHash::new("$argon2id$fake".into())));
        m.accounts
            .expect_insert()
            .withf(|a| a.status == AccountStatus::Pending && a.password_hash.as_str() == "$argon2id$fake")
            .returning(|a| {
                Ok(Account {
                    id: UserId::new(1),
                    email: a.email,
                    display_name: a.display_name,
                    role: a.role,
                    status: a.status,
                    email_confirmed_at: a.email_confirmed_at,
                    status_reason: None,
                    created_at: a.created_at,
                })
            });
        let account = m
            .service()
            .register(Registration {
                email: "Ada@Uni.edu".into(),
                display_name: "Ada".into(),
                password: "a long enough secret".into(),
                role: Role::Student,
            })
            .await
            .unwrap();
        assert_eq!(account.status, AccountStatus::Pending);
        assert_eq!(account.email.as_str(), "ada@uni.edu");
        assert!(account.email_confirmed_at.is_none());
    }

    #[tokio::test]
    async fn duplicate_email_is_a_conflict() {
        let mut m = Mocks::new();
        m.hasher.expect_hash().returning(|_| Ok(PasswordHash::new("h".into())));
        m.accounts.expect_insert().returning(|_| Err(InsertAccountError::Duplicate));
        let err = m
            .service()
            .register(Registration {
                email: "ada@uni.edu".into(),
                display_name: "Ada".into(),
                password: "a long enough secret".into(),
                role: Role::Student,
            })
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Conflict(Conflict::EmailTaken)));
    }

    #[tokio::test]
    async fn login_failures_look_the_same() {
        // Unknown email: the hasher still spends its time, and the answer is the same.
        let mut m = Mocks::new();
        m.accounts.expect_find_credentials().returning(|_| Ok(None));
        m.hasher.expect_waste_time().times(1).returning(|_| ());
        let unknown = m.service().login("nobody@uni.edu", "whatever123", ClientAddr::Unknown).await;
        assert!(matches!(unknown, Err(Error::InvalidCredentials)));

        let mut m = Mocks::new();
        m.accounts
            .expect_find_credentials()
            .returning(|_| Ok(Some((account(AccountStatus::Active), PasswordHash::new("h".into())))));
        m.hasher.expect_verify().returning(|_, _| Ok(false));
        let wrong = m.service().login("ada@uni.edu", "wrong password", ClientAddr::Unknown).await;
        assert!(matches!(wrong, Err(Error::InvalidCredentials)));
    }

    #[tokio::test]
    async fn login_is_throttled_before_any_check() {
        let mut m = Mocks::new();
        m.throttle = MockLoginThrottle::new();
        m.throttle.expect_attempt().returning(|_, _| Err(30));
        m.accounts.expect_find_credentials().never();
        let err = m.service().login("ada@uni.edu", "x", ClientAddr::Unknown).await.unwrap_err();
        assert!(matches!(err, Error::Throttled { retry_after_secs: 30 }));
    }

    #[tokio::test]
    async fn login_issues_a_hashed_session_with_expiry() {
        let mut m = Mocks::new();
        m.accounts
            .expect_find_credentials()
            .returning(|_| Ok(Some((account(AccountStatus::Pending), PasswordHash::new("h".into())))));
        m.hasher.expect_verify().returning(|_, _| Ok(true));
        m.tokens.expect_issue().returning(|| (SessionToken::new("tok".into()), TokenHash::new("digest".into())));
        let expected_expiry = Utc.with_ymd_and_hms(2026, 2, 1, 12, 0, 0).unwrap();
        m.sessions
            .expect_create()
            .with(eq(TokenHash::new("digest".into())), eq(UserId::new(7)), always(), eq(expected_expiry))
            .times(1)
            .returning(|_, _, _, _| Ok(()));
        let session = m.service().login("ada@uni.edu", "right password", ClientAddr::Unknown).await.unwrap();
        assert_eq!(session.token.expose(), "tok");
        assert_eq!(session.expires_at, expected_expiry);
    }

    #[tokio::test]
    async fn deactivated_accounts_cannot_sign_in() {
        let mut m = Mocks::new();
        m.accounts
            .expect_find_credentials()
            .returning(|_| Ok(Some((account(AccountStatus::Deactivated), PasswordHash::new("h".into())))));
        m.hasher.expect_verify().returning(|_, _| Ok(true));
        m.sessions.expect_create().never();
        let err = m.service().login("ada@uni.edu", "right password", ClientAddr::Unknown).await.unwrap_err();
        assert!(matches!(err, Error::Forbidden(crate::Forbidden::AccountInactive)));
    }

    #[tokio::test]
    async fn only_admins_decide_and_the_store_guards_the_race() {
        let admin = Principal { id: UserId::new(1), role: Role::Admin, status: AccountStatus::Active };
        let support = Principal { role: Role::Support, ..admin.clone() };

        let m = Mocks::new();
        let err = m.service().decide(&support, UserId::new(7), AccountDecision::Approve).await.unwrap_err();
        assert!(matches!(err, Error::Forbidden(crate::Forbidden::RoleNotAllowed)));

        // Someone else decided between our read and our write: the store says so.
        let mut m = Mocks::new();
        m.accounts.expect_find().returning(|_| Ok(Some(account(AccountStatus::Pending))));
        m.accounts
            .expect_set_status()
            .with(eq(UserId::new(7)), eq(AccountStatus::Pending), eq(AccountStatus::Active), eq(None))
            .returning(|_, _, _, _| Ok(None));
        let err = m.service().decide(&admin, UserId::new(7), AccountDecision::Approve).await.unwrap_err();
        assert!(matches!(err, Error::Conflict(Conflict::AlreadyDecided)));

        let mut m = Mocks::new();
        m.accounts.expect_find().returning(|_| Ok(Some(account(AccountStatus::Pending))));
        let err = m
            .service()
            .decide(&admin, UserId::new(7), AccountDecision::Reject { reason: "  ".into() })
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Invalid { field: "reason", .. }));
    }
}
