use std::sync::Arc;

use chrono::Duration;

use super::confirmation::*;
use super::model::*;
use super::ports::*;
use crate::clock::Clock;
use crate::error::{Conflict, Error, Forbidden, Resource};
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
    resend_throttle: Arc<dyn LoginThrottle>,
    clock: Arc<dyn Clock>,
    session_ttl: Duration,
    auto_approval: AutoApproval,
}

impl AccountService {
    /// Wires the service to its ports. Resends of the confirmation email are limited by
    /// `resend_throttle`, with allowances of their own.
    pub fn new(
        accounts: Arc<dyn AccountRepository>,
        sessions: Arc<dyn SessionRepository>,
        hasher: Arc<dyn PasswordHasher>,
        tokens: Arc<dyn TokenIssuer>,
        throttle: Arc<dyn LoginThrottle>,
        resend_throttle: Arc<dyn LoginThrottle>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            accounts,
            sessions,
            hasher,
            tokens,
            throttle,
            resend_throttle,
            clock,
            session_ttl: Duration::days(7),
            auto_approval: AutoApproval::none(),
        }
    }

    /// How long a sign-in lasts.
    pub fn with_session_ttl(mut self, session_ttl: Duration) -> Self {
        self.session_ttl = session_ttl;
        self
    }

    /// Which confirmed addresses approve their account at once.
    pub fn with_auto_approval(mut self, auto_approval: AutoApproval) -> Self {
        self.auto_approval = auto_approval;
        self
    }

    /// Self-registration: every new account starts `pending` and unconfirmed; the link that
    /// confirms its address is emailed through the outbox, committed with the account.
    pub async fn register(&self, registration: Registration) -> Result<Account, Error> {
        let email = Email::parse(&registration.email)?;
        let display_name = DisplayName::parse(&registration.display_name)?;
        let password = Password::new(&registration.password)?;
        let now = self.clock.now();
        let password_hash = self.hasher.hash(&password).await?;
        let new = NewAccount {
            email,
            display_name,
            role: registration.role,
            status: AccountStatus::Pending,
            email_confirmed_at: None,
            password_hash,
            created_at: now,
        };
        self.accounts.register(new, self.new_confirmation()).await.map_err(|e| match e {
            InsertAccountError::Duplicate => Error::Conflict(Conflict::EmailTaken),
            InsertAccountError::Unknown(e) => Error::Unknown(e),
        })
    }

    fn new_confirmation(&self) -> NewConfirmation {
        let (token, hash) = self.tokens.issue();
        NewConfirmation::new(token, hash, self.clock.now())
    }

    /// Confirms an address with the token of its link. Students of the listed domains are
    /// approved at the same time. A token that is not shaped like one ([`CONFIRMATION_TOKEN`])
    /// is invalid; one that is, but that no link has (never issued, or replaced by a newer
    /// link), is not found.
    pub async fn confirm_email(&self, token: &str) -> Result<Account, Error> {
        if !CONFIRMATION_TOKEN.is_match(token) {
            return Err(invalid_confirmation());
        }
        let hash = self.tokens.digest(token.trim());
        self.accounts.confirm_email(&hash, self.clock.now(), &self.auto_approval).await.map_err(|e| match e {
            ConfirmError::Invalid => Error::NotFound(Resource::Confirmation),
            ConfirmError::Used => Error::Conflict(Conflict::ConfirmationUsed),
            ConfirmError::Expired => Error::Conflict(Conflict::ConfirmationExpired),
            ConfirmError::Unknown(e) => Error::Unknown(e),
        })
    }

    /// Sends a new confirmation link to `email` if it belongs to an unconfirmed account,
    /// replacing the older links. Says nothing about whether it does: the answer is the same
    /// either way. Limited per email and per client address.
    pub async fn resend_confirmation(&self, email: &str, client: ClientAddr) -> Result<(), Error> {
        let key = email.trim().to_lowercase();
        self.resend_throttle.attempt(&key, client).map_err(|retry_after_secs| Error::Throttled { retry_after_secs })?;
        // The address as sent: lower-casing first would turn a valid `İ` into two characters.
        let email = Email::parse(email)?;
        self.accounts.reissue_confirmation(&email, self.new_confirmation()).await?;
        Ok(())
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
        let found = match Email::parse(email) {
            Ok(email) => self.accounts.find_credentials(&email).await?,
            Err(_) => None,
        };
        let Some((account, hash)) = found else {
            self.hasher.waste_time(&password).await?;
            return Err(Error::InvalidCredentials);
        };
        if !self.hasher.verify(&password, &hash).await? {
            return Err(Error::InvalidCredentials);
        }
        if !account.status.may_sign_in() {
            return Err(Error::Forbidden(crate::Forbidden::AccountInactive));
        }
        if account.email_confirmed_at.is_none() {
            return Err(Error::Forbidden(crate::Forbidden::EmailUnconfirmed));
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
        match self.sessions.session_account(&hash, self.clock.now()).await? {
            Some(account) if account.status.may_sign_in() => Ok(Principal::of(&account)),
            Some(_) | None => Err(Error::Unauthenticated),
        }
    }

    /// The caller's own account (also for pending accounts, so they can see their status).
    pub async fn me(&self, principal: &Principal) -> Result<Account, Error> {
        self.accounts.find(principal.id()).await?.ok_or(Error::Unauthenticated)
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
        if id == principal.id() {
            // An admin locking themselves out is never what they meant.
            return Err(Error::Forbidden(Forbidden::SelfDecision));
        }
        let reason = decision.reason().map(parse_reason).transpose()?;
        let account = self.accounts.find(id).await?.ok_or(Error::NotFound(Resource::Account))?;
        let next = decision.apply(account.status)?;
        // The holder hears of approval and rejection; deactivation is an admin's own business.
        let notice = match &decision {
            AccountDecision::Approve => Some(AccountNotice::approved(false)),
            AccountDecision::Reject { .. } => reason.as_deref().map(AccountNotice::rejected),
            AccountDecision::Deactivate { .. } | AccountDecision::Reactivate => None,
        };
        self.accounts
            .set_status(id, account.status, next, reason, notice)
            .await?
            .ok_or(Error::Conflict(Conflict::AlreadyDecided))
    }

    /// An admin changes an account's role.
    pub async fn change_role(&self, principal: &Principal, id: UserId, role: Role) -> Result<Account, Error> {
        principal.require_admin()?;
        if id == principal.id() {
            return Err(Error::Forbidden(Forbidden::SelfDecision));
        }
        self.accounts.set_role(id, role).await?.ok_or(Error::NotFound(Resource::Account))
    }
}

fn invalid_confirmation() -> Error {
    Error::invalid("token", "confirmation_invalid", "this confirmation link is not valid; ask for a new one")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::FixedClock;
    use crate::testing::PrincipalBuilder;
    use chrono::{TimeZone, Utc};
    use mockall::predicate::*;

    fn account(status: AccountStatus) -> Account {
        Account {
            id: UserId::new(7),
            email: Email::parse("ada@uni.edu").unwrap(),
            display_name: DisplayName::parse("Ada").unwrap(),
            role: Role::Student,
            status,
            email_confirmed_at: Some(Utc.with_ymd_and_hms(2026, 1, 1, 0, 5, 0).unwrap()),
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
        resend_throttle: MockLoginThrottle,
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
                resend_throttle: MockLoginThrottle::new(),
            }
        }
        fn service(self) -> AccountService {
            AccountService::new(
                Arc::new(self.accounts),
                Arc::new(self.sessions),
                Arc::new(self.hasher),
                Arc::new(self.tokens),
                Arc::new(self.throttle),
                Arc::new(self.resend_throttle),
                Arc::new(FixedClock(Utc.with_ymd_and_hms(2026, 2, 1, 0, 0, 0).unwrap())),
            )
            .with_session_ttl(Duration::hours(12))
            .with_auto_approval(AutoApproval::parse("uni.edu"))
        }
    }

    #[tokio::test]
    async fn registration_is_pending_and_hashed() {
        let mut m = Mocks::new();
        m.hasher.expect_hash().returning(|_| Ok(PasswordHash::new("$argon2id$fake".into())));
        m.tokens.expect_issue().returning(|| (SessionToken::new("tok".into()), TokenHash::new("digest".into())));
        m.accounts
            .expect_register()
            .withf(|a, c| {
                a.status == AccountStatus::Pending
                    && a.email_confirmed_at.is_none()
                    && a.password_hash.as_str() == "$argon2id$fake"
                    && c.token_hash.as_str() == "digest"
                    && c.expires_at - c.created_at == Duration::hours(24)
                    && c.email_payload().contains("\"tok\"")
            })
            .returning(|a, _| {
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
        m.tokens.expect_issue().returning(|| (SessionToken::new("tok".into()), TokenHash::new("digest".into())));
        m.accounts.expect_register().returning(|_, _| Err(InsertAccountError::Duplicate));
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
        m.hasher.expect_waste_time().times(1).returning(|_| Ok(()));
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
    async fn a_busy_hasher_answers_busy_whether_or_not_the_email_is_known() {
        let mut m = Mocks::new();
        m.accounts.expect_find_credentials().returning(|email| {
            Ok((email.as_str() == "ada@uni.edu")
                .then(|| (account(AccountStatus::Active), PasswordHash::new("h".into()))))
        });
        m.hasher.expect_verify().returning(|_, _| Err(HashError::Busy { retry_after_secs: 1 }));
        m.hasher.expect_waste_time().returning(|_| Err(HashError::Busy { retry_after_secs: 1 }));
        m.sessions.expect_create().never();
        let service = m.service();
        for email in ["ada@uni.edu", "nobody@uni.edu"] {
            let err = service.login(email, "correct horse battery", ClientAddr::Unknown).await.unwrap_err();
            assert!(matches!(err, Error::Busy { retry_after_secs: 1 }), "{email}: {err:?}");
        }
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
        let admin = PrincipalBuilder::new(1, Role::Admin).build();
        let support = PrincipalBuilder::new(1, Role::Support).build();

        let m = Mocks::new();
        let err = m.service().decide(&support, UserId::new(7), AccountDecision::Approve).await.unwrap_err();
        assert!(matches!(err, Error::Forbidden(crate::Forbidden::RoleNotAllowed)));

        // Someone else decided between our read and our write: the store says so.
        let mut m = Mocks::new();
        m.accounts.expect_find().returning(|_| Ok(Some(account(AccountStatus::Pending))));
        m.accounts
            .expect_set_status()
            .with(
                eq(UserId::new(7)),
                eq(AccountStatus::Pending),
                eq(AccountStatus::Active),
                eq(None),
                eq(Some(AccountNotice::approved(false))),
            )
            .returning(|_, _, _, _, _| Ok(None));
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

    #[tokio::test]
    async fn unconfirmed_addresses_cannot_sign_in() {
        let mut m = Mocks::new();
        let unconfirmed = Account { email_confirmed_at: None, ..account(AccountStatus::Pending) };
        m.accounts
            .expect_find_credentials()
            .returning(move |_| Ok(Some((unconfirmed.clone(), PasswordHash::new("h".into())))));
        m.hasher.expect_verify().returning(|_, _| Ok(true));
        m.sessions.expect_create().never();
        let err = m.service().login("ada@uni.edu", "right password", ClientAddr::Unknown).await.unwrap_err();
        assert!(matches!(err, Error::Forbidden(crate::Forbidden::EmailUnconfirmed)), "{err:?}");

        // A wrong password still says only that.
        let mut m = Mocks::new();
        let unconfirmed = Account { email_confirmed_at: None, ..account(AccountStatus::Pending) };
        m.accounts
            .expect_find_credentials()
            .returning(move |_| Ok(Some((unconfirmed.clone(), PasswordHash::new("h".into())))));
        m.hasher.expect_verify().returning(|_, _| Ok(false));
        let err = m.service().login("ada@uni.edu", "wrong password", ClientAddr::Unknown).await.unwrap_err();
        assert!(matches!(err, Error::InvalidCredentials), "{err:?}");
    }

    #[tokio::test]
    async fn confirmation_passes_the_digest_and_the_rule_and_names_each_failure() {
        type MakeError = fn() -> ConfirmError;
        let cases: Vec<(MakeError, &str)> = vec![
            (|| ConfirmError::Invalid, "confirmation_not_found"),
            (|| ConfirmError::Used, "confirmation_used"),
            (|| ConfirmError::Expired, "confirmation_expired"),
        ];
        for (failure, code) in cases {
            let mut m = Mocks::new();
            m.tokens.expect_digest().with(eq("tok")).returning(|_| TokenHash::new("digest".into()));
            m.accounts
                .expect_confirm_email()
                .withf(|hash, _, auto| hash.as_str() == "digest" && auto.domains() == ["uni.edu"])
                .returning(move |_, _, _| Err(failure()));
            let err = m.service().confirm_email(" tok ").await.unwrap_err();
            let got = match &err {
                Error::NotFound(r) => r.code(),
                Error::Conflict(c) => c.code(),
                other => panic!("unexpected {other:?}"),
            };
            assert_eq!(got, code);
        }
        // A token not shaped like one (empty, too long, outside the URL-safe base64 alphabet)
        // never reaches the store.
        for bad in ["  ".to_owned(), "no such token".to_owned(), "a".repeat(257), "tok=".to_owned()] {
            let mut m = Mocks::new();
            m.accounts.expect_confirm_email().never();
            assert!(
                matches!(m.service().confirm_email(&bad).await, Err(Error::Invalid { field: "token", .. })),
                "{bad}"
            );
        }
    }

    #[tokio::test]
    async fn resends_are_throttled_before_anything_else_and_answer_alike() {
        let mut m = Mocks::new();
        m.resend_throttle.expect_attempt().returning(|_, _| Err(40));
        m.accounts.expect_reissue_confirmation().never();
        let err = m.service().resend_confirmation("ada@uni.edu", ClientAddr::Unknown).await.unwrap_err();
        assert!(matches!(err, Error::Throttled { retry_after_secs: 40 }));

        for known in [true, false] {
            let mut m = Mocks::new();
            m.resend_throttle.expect_attempt().with(eq("ada@uni.edu"), always()).returning(|_, _| Ok(()));
            m.tokens.expect_issue().returning(|| (SessionToken::new("tok".into()), TokenHash::new("digest".into())));
            m.accounts
                .expect_reissue_confirmation()
                .withf(|email, c| email.as_str() == "ada@uni.edu" && c.token_hash.as_str() == "digest")
                .times(1)
                .returning(move |_, _| Ok(known));
            assert!(m.service().resend_confirmation(" Ada@Uni.edu ", ClientAddr::Unknown).await.is_ok());
        }
    }

    #[tokio::test]
    async fn rejection_notifies_with_the_reason_and_deactivation_does_not_notify() {
        let admin = PrincipalBuilder::new(1, Role::Admin).build();
        let mut m = Mocks::new();
        m.accounts.expect_find().returning(|_| Ok(Some(account(AccountStatus::Pending))));
        m.accounts
            .expect_set_status()
            .with(
                eq(UserId::new(7)),
                eq(AccountStatus::Pending),
                eq(AccountStatus::Rejected),
                eq(Some("not a student".to_owned())),
                eq(Some(AccountNotice::rejected("not a student"))),
            )
            .times(1)
            .returning(|_, _, _, _, _| Ok(Some(account(AccountStatus::Rejected))));
        let decision = AccountDecision::Reject { reason: " not a student ".into() };
        m.service().decide(&admin, UserId::new(7), decision).await.unwrap();

        let mut m = Mocks::new();
        m.accounts.expect_find().returning(|_| Ok(Some(account(AccountStatus::Active))));
        m.accounts
            .expect_set_status()
            .with(always(), always(), eq(AccountStatus::Deactivated), always(), eq(None))
            .times(1)
            .returning(|_, _, _, _, _| Ok(Some(account(AccountStatus::Deactivated))));
        let decision = AccountDecision::Deactivate { reason: "left".into() };
        m.service().decide(&admin, UserId::new(7), decision).await.unwrap();
    }
}
