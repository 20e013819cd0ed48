//! A stop during a delivery round leaves no delivery leased: the job registry's shutdown
//! with the real delivery worker over a real store, on SQLite and (when
//! `OSTS_TEST_POSTGRES_URL` is set) PostgreSQL.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{TimeZone, Utc};
use domain::accounts::*;
use domain::clock::SystemClock;
use domain::notifications::*;
use domain::stop::Stop;
use server::jobs::{Registry, Schedule, Shutdown};
use server::workers::Delivery;
use store::Store;

/// A fresh database, removed by [`Db::finish`].
struct Db {
    store: Store,
    drop: Option<(String, String)>,
    file: Option<std::path::PathBuf>,
}

impl Db {
    async fn sqlite() -> Self {
        let path = std::env::temp_dir().join(format!("osts-shutdown-{}.db", uuid()));
        let store = Store::connect(&format!("sqlite://{}?mode=rwc", path.display())).await.unwrap();
        Self { store, drop: None, file: Some(path) }
    }

    async fn postgres() -> Option<Self> {
        let Ok(admin_url) = std::env::var("OSTS_TEST_POSTGRES_URL") else {
            eprintln!("OSTS_TEST_POSTGRES_URL not set: PostgreSQL variant not run");
            return None;
        };
        let name = format!("osts_shutdown_{}", uuid());
        let admin = admin(&admin_url).await;
        admin.execute_raw(&format!("CREATE DATABASE {name}")).await.unwrap();
        admin.close().await.unwrap();
        let store = Store::connect(&with_database(&admin_url, &name)).await.unwrap();
        Some(Self { store, drop: Some((admin_url, name)), file: None })
    }

    async fn finish(self) {
        self.store.close().await.unwrap();
        if let Some((admin_url, name)) = self.drop {
            let admin = admin(&admin_url).await;
            admin.execute_raw(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).await.unwrap();
            admin.close().await.unwrap();
        }
        if let Some(path) = self.file {
            for suffix in ["", "-wal", "-shm"] {
                let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
            }
        }
    }
}

async fn admin(url: &str) -> Store {
    let options = store::StoreOptions { migrate: false, max_connections: 1, ..Default::default() };
    Store::connect_with(url, options).await.unwrap()
}

fn with_database(admin_url: &str, name: &str) -> String {
    let (base, query) = admin_url.split_once('?').map_or((admin_url, None), |(b, q)| (b, Some(q)));
    let host = base.rfind('/').filter(|&i| i > base.find("://").map_or(0, |j| j + 2)).map_or(base, |i| &base[..i]);
    match query {
        Some(q) => format!("{host}/{name}?{q}"),
        None => format!("{host}/{name}"),
    }
}

fn uuid() -> String {
    format!("{:x}{:x}", std::process::id(), Utc::now().timestamp_nanos_opt().unwrap_or_default())
}

/// Registers `n` accounts: each registration enqueues its confirmation email.
async fn five_emails(store: &Store) {
    for i in 0..5 {
        let raw = format!("token{i}");
        let account = NewAccount {
            email: Email::parse(&format!("s{i}@uni.edu")).unwrap(),
            display_name: DisplayName::parse("Someone").unwrap(),
            role: Role::Student,
            status: AccountStatus::Pending,
            email_confirmed_at: None,
            password_hash: PasswordHash::new("$argon2id$v=19$test".into()),
            created_at: Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap(),
        };
        let at = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        let confirmation =
            NewConfirmation::new(SessionToken::new(raw.clone()), TokenHash::new(format!("{raw:0>64}")), at);
        store.accounts().register(account, confirmation).await.unwrap();
    }
}

async fn count(store: &Store, status: &str) -> i64 {
    store.count_raw(&format!("SELECT COUNT(*) AS n FROM deliveries WHERE status = '{status}'")).await.unwrap()
}

/// A relay that tells the test a send started, then answers only when `release` says so
/// (never, if it never does).
struct Relay {
    started: tokio::sync::mpsc::UnboundedSender<()>,
    release: Option<Stop>,
}

#[async_trait]
impl Mailer for Relay {
    async fn send(&self, _: &OutgoingEmail) -> Result<(), DeliveryError> {
        self.started.send(()).ok();
        match &self.release {
            Some(stop) => stop.clone().stopped().await,
            None => std::future::pending().await,
        }
        Ok(())
    }
}

struct Tokens;

impl UnsubscribeTokens for Tokens {
    fn sign(&self, _: UserId, _: UnsubscribeScope) -> String {
        "token".into()
    }
    fn verify(&self, _: &str) -> Option<(UserId, UnsubscribeScope)> {
        None
    }
}

/// Runs the delivery job over `store` with a relay that answers once the registry's stop is
/// sent (`answers`) or never; stops the registry while the first email is being sent.
async fn stop_during_a_round(store: &Store, answers: bool, grace: Duration) -> Shutdown {
    five_emails(store).await;
    let mut jobs = Registry::new();
    let (started_tx, mut started) = tokio::sync::mpsc::unbounded_channel();
    let relay = Relay { started: started_tx, release: answers.then(|| jobs.stopping()) };
    let worker = DeliveryWorker::new(
        store.outbox(),
        Channels::new(Arc::new(relay)),
        Arc::new(Tokens),
        Arc::new(SystemClock),
        Arc::new(|| 0.5),
        // One send at a time: the other four claimed emails wait their turn in the round.
        WorkerSettings { concurrency: 1, ..Default::default() },
    );
    jobs.spawn("delivery", Arc::new(Delivery(worker)), Schedule::every(Duration::from_secs(3600)));
    started.recv().await.expect("the first email is being sent");
    assert_eq!(count(store, "sending").await, 5, "the round claimed all five");
    jobs.shutdown(grace).await
}

async fn a_stop_finishes_the_send_in_flight_and_releases_the_rest(store: &Store) {
    let report = stop_during_a_round(store, true, Duration::from_secs(60)).await;
    assert_eq!(report, Shutdown { stopped: vec!["delivery"], cancelled: vec![] });
    assert_eq!(count(store, "sending").await, 0, "no delivery is left leased");
    assert_eq!(count(store, "sent").await, 1, "the email in flight was finished");
    assert_eq!(count(store, "pending").await, 4, "the others were given back");
    let attempts = store.count_raw("SELECT COALESCE(SUM(attempts), 0) AS n FROM deliveries WHERE status = 'pending'");
    assert_eq!(attempts.await.unwrap(), 0, "an email given back has no attempt counted");
    let claimed = store.outbox().claim(Utc::now(), chrono::Duration::minutes(5), 10).await.unwrap();
    assert_eq!(claimed.len(), 4, "and is due again at once (for the next server or start)");
}

async fn a_send_cut_short_by_the_deadline_becomes_a_dead_letter_and_the_rest_are_released(store: &Store) {
    let report = stop_during_a_round(store, false, Duration::ZERO).await;
    assert_eq!(report, Shutdown { stopped: vec![], cancelled: vec!["delivery"] });
    assert_eq!(count(store, "sending").await, 0, "no delivery is left leased");
    // Its outcome is unknown: at most once, so an admin decides, as for an expired lease.
    assert_eq!(count(store, "dead").await, 1);
    assert_eq!(count(store, "pending").await, 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_a_stop_finishes_the_send_in_flight_and_releases_the_rest() {
    let db = Db::sqlite().await;
    a_stop_finishes_the_send_in_flight_and_releases_the_rest(&db.store).await;
    db.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_a_send_cut_short_by_the_deadline_becomes_a_dead_letter() {
    let db = Db::sqlite().await;
    a_send_cut_short_by_the_deadline_becomes_a_dead_letter_and_the_rest_are_released(&db.store).await;
    db.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_a_stop_finishes_the_send_in_flight_and_releases_the_rest() {
    let Some(db) = Db::postgres().await else { return };
    a_stop_finishes_the_send_in_flight_and_releases_the_rest(&db.store).await;
    db.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_a_send_cut_short_by_the_deadline_becomes_a_dead_letter() {
    let Some(db) = Db::postgres().await else { return };
    a_send_cut_short_by_the_deadline_becomes_a_dead_letter_and_the_rest_are_released(&db.store).await;
    db.finish().await;
}
