//! Store tests of email confirmation on SQLite and PostgreSQL: the registration and its
//! confirmation email commit together, a token is used once even under concurrent
//! confirmations, expiry and replacement, automatic approval, and the notices of decisions.

#[macro_use]
mod support;

use chrono::Duration;
use domain::accounts::*;
use domain::notifications::*;
use domain::page::PageLimit;
use store::Store;
use support::*;

store_tests!(
    registration_and_its_confirmation_email_commit_together,
    a_token_is_used_once_under_concurrent_confirmations,
    tokens_expire_and_a_reissue_replaces_them,
    confirmation_approves_listed_students_only,
    decisions_notify_the_holder_per_their_preference,
);

fn new_account(email: &str, role: Role) -> NewAccount {
    NewAccount {
        email: Email::parse(email).unwrap(),
        display_name: DisplayName::parse("Someone").unwrap(),
        role,
        status: AccountStatus::Pending,
        email_confirmed_at: None,
        password_hash: PasswordHash::new("$argon2id$v=19$test".into()),
        created_at: t(1),
    }
}

fn confirmation(raw: &str, at: chrono::DateTime<chrono::Utc>) -> NewConfirmation {
    NewConfirmation::new(SessionToken::new(raw.into()), hash(raw), at)
}

fn hash(raw: &str) -> TokenHash {
    TokenHash::new(format!("{raw:0>64}"))
}

/// Every delivery due by `at`, claimed and marked sent (so each is seen once).
async fn claim_all(store: &Store, at: chrono::DateTime<chrono::Utc>) -> Vec<EmailPayload> {
    let jobs = store.outbox().claim(at, Duration::minutes(5), 1000).await.unwrap();
    for job in &jobs {
        store.outbox().mark_sent(job.id, at).await.unwrap();
    }
    jobs.into_iter().map(|job| job.email().expect("an email").clone()).collect()
}

async fn register(store: &Store, email: &str, role: Role, raw: &str) -> Account {
    store.accounts().register(new_account(email, role), confirmation(raw, t(1))).await.unwrap()
}

async fn registration_and_its_confirmation_email_commit_together(store: Store) {
    let ada = register(&store, "ada@uni.edu", Role::Student, "tok1").await;
    assert_eq!((ada.status, ada.email_confirmed_at), (AccountStatus::Pending, None));
    let jobs = claim_all(&store, t(2)).await;
    assert_eq!(jobs.len(), 1);
    let job = &jobs[0];
    assert_eq!((job.kind, job.recipient, job.ticket_id), (NotificationKind::EmailConfirmation, ada.id, None));
    assert_eq!(job.to.as_str(), "ada@uni.edu");
    let payload: serde_json::Value = serde_json::from_str(&job.payload).unwrap();
    assert_eq!(payload["token"], "tok1");

    // A duplicate registration stores neither its token nor its email.
    let dup = store.accounts().register(new_account("ada@uni.edu", Role::Student), confirmation("tok2", t(1))).await;
    assert!(matches!(dup, Err(InsertAccountError::Duplicate)), "{dup:?}");
    assert!(claim_all(&store, t(2)).await.is_empty());
    let unknown = store.accounts().confirm_email(&hash("tok2"), t(1), &AutoApproval::none()).await;
    assert!(matches!(unknown, Err(ConfirmError::Invalid)), "{unknown:?}");
}

async fn a_token_is_used_once_under_concurrent_confirmations(store: Store) {
    for round in 0..5 {
        let email = format!("user{round}@uni.edu");
        let raw = format!("race{round}");
        register(&store, &email, Role::Student, &raw).await;
        let attempts: Vec<_> = (0..2)
            .map(|_| {
                let store = store.clone();
                let token = hash(&raw);
                tokio::spawn(async move { store.accounts().confirm_email(&token, t(1), &AutoApproval::none()).await })
            })
            .collect();
        let mut won = 0;
        let mut used = 0;
        for attempt in attempts {
            match attempt.await.unwrap() {
                Ok(account) => {
                    assert!(account.email_confirmed_at.is_some());
                    won += 1;
                }
                Err(ConfirmError::Used) => used += 1,
                Err(other) => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!((won, used), (1, 1), "round {round}");
    }
}

async fn tokens_expire_and_a_reissue_replaces_them(store: Store) {
    let bo = register(&store, "bo@gmail.com", Role::Student, "old").await;
    let expires = t(1) + Duration::hours(24);
    let late = store.accounts().confirm_email(&hash("old"), expires, &AutoApproval::none()).await;
    assert!(matches!(late, Err(ConfirmError::Expired)), "{late:?}");

    let bo_email = Email::parse("bo@gmail.com").unwrap();
    assert!(store.accounts().reissue_confirmation(&bo_email, confirmation("new", t(2))).await.unwrap());
    let replaced = store.accounts().confirm_email(&hash("old"), t(2), &AutoApproval::none()).await;
    assert!(matches!(replaced, Err(ConfirmError::Invalid)), "{replaced:?}");
    let jobs = claim_all(&store, t(3)).await;
    assert_eq!(jobs.iter().filter(|j| j.kind == NotificationKind::EmailConfirmation).count(), 2);

    let confirmed = store.accounts().confirm_email(&hash("new"), t(2), &AutoApproval::none()).await.unwrap();
    assert_eq!((confirmed.id, confirmed.email_confirmed_at), (bo.id, Some(t(2))));
    let again = store.accounts().confirm_email(&hash("new"), t(2), &AutoApproval::none()).await;
    assert!(matches!(again, Err(ConfirmError::Used)), "{again:?}");

    // Confirmed, unknown and rejected addresses get no new link.
    assert!(!store.accounts().reissue_confirmation(&bo_email, confirmation("more", t(3))).await.unwrap());
    let nobody = Email::parse("nobody@gmail.com").unwrap();
    assert!(!store.accounts().reissue_confirmation(&nobody, confirmation("none", t(3))).await.unwrap());
    assert!(claim_all(&store, t(4)).await.is_empty());

    // The sent links' tokens are not kept once the address is confirmed.
    let inbox = NotificationRepository::inbox(&store, bo.id, PageLimit::new(None).unwrap(), None).await.unwrap();
    assert_eq!(inbox.items.len(), 2);
    for item in &inbox.items {
        assert_eq!(item.kind, NotificationKind::EmailConfirmation);
        assert!(!item.payload.contains("new") && !item.payload.contains("old"), "{}", item.payload);
        assert!(item.read_at.is_some());
    }
}

async fn confirmation_approves_listed_students_only(store: Store) {
    let rule = AutoApproval::parse("uni.edu");
    let cases = [
        ("cy@uni.edu", Role::Student, AccountStatus::Active),
        ("di@cs.uni.edu", Role::Student, AccountStatus::Pending),
        ("ed@gmail.com", Role::Student, AccountStatus::Pending),
        ("sam@uni.edu", Role::Support, AccountStatus::Pending),
    ];
    for (i, (email, role, expected)) in cases.into_iter().enumerate() {
        let raw = format!("auto{i}");
        let account = register(&store, email, role, &raw).await;
        claim_all(&store, t(2)).await;
        let confirmed = store.accounts().confirm_email(&hash(&raw), t(1) + Duration::hours(1), &rule).await.unwrap();
        assert_eq!(confirmed.status, expected, "{email}");
        assert_eq!(store.accounts().find(account.id).await.unwrap().unwrap().status, expected, "{email}");
        let jobs = claim_all(&store, t(3)).await;
        let approvals: Vec<_> = jobs.iter().filter(|j| j.kind == NotificationKind::AccountApproved).collect();
        assert_eq!(approvals.len(), usize::from(expected == AccountStatus::Active), "{email}");
        if let Some(job) = approvals.first() {
            assert_eq!(job.recipient, account.id);
            assert!(job.payload.contains("\"automatic\":true"), "{}", job.payload);
        }
    }
}

async fn decisions_notify_the_holder_per_their_preference(store: Store) {
    let fi = account(&store, "fi@gmail.com", Role::Student, AccountStatus::Pending).await;
    let gu = account(&store, "gu@gmail.com", Role::Student, AccountStatus::Pending).await;
    NotificationRepository::set_preference(
        &store,
        gu.id,
        Preference { kind: NotificationKind::AccountRejected, email: false, digest: false },
    )
    .await
    .unwrap();
    let accounts = store.accounts();
    accounts
        .set_status(fi.id, AccountStatus::Pending, AccountStatus::Active, None, Some(AccountNotice::approved(false)))
        .await
        .unwrap()
        .unwrap();
    let notice = Some(AccountNotice::rejected("not enrolled"));
    accounts
        .set_status(gu.id, AccountStatus::Pending, AccountStatus::Rejected, Some("not enrolled".into()), notice.clone())
        .await
        .unwrap()
        .unwrap();
    // A decision that does not happen (the status moved on) writes no notice.
    let stale =
        accounts.set_status(gu.id, AccountStatus::Pending, AccountStatus::Rejected, None, notice).await.unwrap();
    assert!(stale.is_none());

    let page = || PageLimit::new(None).unwrap();
    let fi_inbox = NotificationRepository::inbox(&store, fi.id, page(), None).await.unwrap();
    assert_eq!(fi_inbox.items.iter().map(|n| n.kind).collect::<Vec<_>>(), [NotificationKind::AccountApproved]);
    let gu_inbox = NotificationRepository::inbox(&store, gu.id, page(), None).await.unwrap();
    assert_eq!(gu_inbox.items.len(), 1, "in-app always, once");
    assert!(gu_inbox.items[0].payload.contains("not enrolled"));
    assert_eq!(gu_inbox.items[0].ticket_id, None);

    let jobs = claim_all(&store, chrono::Utc::now() + Duration::minutes(1)).await;
    let recipients: Vec<_> = jobs.iter().map(|j| (j.recipient, j.kind)).collect();
    assert_eq!(recipients, [(fi.id, NotificationKind::AccountApproved)], "gu turned rejection emails off");
}
