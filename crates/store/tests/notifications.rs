//! Store tests of notifications and the outbox on SQLite and PostgreSQL: the fan-out's
//! recipients, atomicity with the change that causes it, and claims under concurrency.

#[macro_use]
mod support;

use std::collections::BTreeSet;
use std::sync::Arc;

use chrono::{Duration, NaiveDate, TimeZone, Utc};
use domain::accounts::*;
use domain::actor::Actor;
use domain::conversation::NewReply;
use domain::notifications::*;
use domain::page::PageLimit;
use domain::tickets::*;
use store::Store;
use support::*;

store_tests!(
    resolving_notifies_each_watcher_once_but_not_the_actor,
    internal_notes_reach_staff_watchers_only,
    the_change_and_its_outbox_rows_roll_back_together,
    two_workers_never_take_the_same_job,
    leases_retries_and_dead_letters,
    the_inbox_pages_newest_first_and_marks_read,
    a_commit_that_enqueued_deliveries_wakes_the_worker,
    digests_gather_a_days_digest_kinds_once_per_user_and_day,
    a_tickets_jobs_on_a_channel_run_in_order_and_other_tickets_never_wait,
    dead_letters_show_their_channel_and_every_channel_can_be_retried_or_released,
    concurrent_workers_keep_each_tickets_order,
);

async fn unread(store: &Store, who: &Account) -> u64 {
    NotificationRepository::unread(store, who.id).await.unwrap()
}

async fn resolve(store: &Store, t: &Ticket, staff: &Account) -> Result<Ticket, UpdateTicketError> {
    let resolved = t.resolve(staff.id, Answer::parse("Done.", "answer").unwrap(), support::t(3)).unwrap();
    store.tickets().update(resolved, Actor::User(staff.id)).await
}

/// A ticket by `creator` with `voters` voting on it.
async fn voted_ticket(store: &Store, creator: &Account, voters: &[&Account]) -> Ticket {
    let cat = category(store, "Exams").await;
    let ticket = ticket(store, creator, &cat, "Exam room is too cold", Priority::Medium, 2).await;
    for v in voters {
        store.votes().cast(ticket.id(), v.id, support::t(2)).await.unwrap();
    }
    store.tickets().get(ticket.id(), creator.id).await.unwrap().unwrap().ticket
}

/// The email of a claimed delivery on the email channel.
fn mail(job: &ClaimedDelivery) -> &EmailPayload {
    job.email().expect("an email")
}

async fn claim_all(store: &Store) -> Vec<ClaimedDelivery> {
    store.outbox().claim(support::t(4), Duration::minutes(5), 1000).await.unwrap()
}

async fn resolving_notifies_each_watcher_once_but_not_the_actor(store: Store) {
    let creator = account(&store, "creator@uni.edu", Role::Student, AccountStatus::Active).await;
    let a = account(&store, "a@uni.edu", Role::Student, AccountStatus::Active).await;
    let b = account(&store, "b@uni.edu", Role::Student, AccountStatus::Active).await;
    let quiet = account(&store, "quiet@uni.edu", Role::Student, AccountStatus::Active).await;
    let staff = account(&store, "staff@uni.edu", Role::Support, AccountStatus::Active).await;
    let t = voted_ticket(&store, &creator, &[&a, &b, &quiet]).await;
    // The creator "voting" too (as after a merge) must not make two notifications.
    store.votes().cast(t.id(), creator.id, support::t(2)).await.unwrap();
    store.watchers().watch(t.id(), staff.id, support::t(2)).await.unwrap();
    store
        .set_preference(quiet.id, Preference { kind: NotificationKind::Resolved, email: false, digest: false })
        .await
        .unwrap();

    let t = store.tickets().get(t.id(), creator.id).await.unwrap().unwrap().ticket;
    resolve(&store, &t, &staff).await.unwrap();

    for who in [&creator, &a, &b, &quiet] {
        assert_eq!(unread(&store, who).await, 1, "{}", who.email.as_str());
    }
    assert_eq!(unread(&store, &staff).await, 0, "the actor is not notified");
    let page = store.inbox(a.id, PageLimit::new(None).unwrap(), None).await.unwrap();
    assert_eq!(page.items[0].kind, NotificationKind::Resolved);
    assert_eq!(page.items[0].ticket_id, Some(t.id()));
    assert!(page.items[0].payload.contains("Done."), "the answer travels with it");

    let jobs = claim_all(&store).await;
    let to: BTreeSet<i64> = jobs.iter().map(|j| mail(j).recipient.get()).collect();
    assert_eq!(to, BTreeSet::from([creator.id.get(), a.id.get(), b.id.get()]), "email off means no delivery");
    let keys: BTreeSet<&str> = jobs.iter().map(|j| j.idempotency_key.as_str()).collect();
    assert_eq!(keys.len(), jobs.len(), "idempotency keys are unique");
    assert!(jobs.iter().all(|j| j.attempts == 1 && mail(j).ticket_title.as_deref() == Some("Exam room is too cold")));
}

async fn internal_notes_reach_staff_watchers_only(store: Store) {
    let creator = account(&store, "creator@uni.edu", Role::Student, AccountStatus::Active).await;
    let voter = account(&store, "voter@uni.edu", Role::Student, AccountStatus::Active).await;
    let agent = account(&store, "agent@uni.edu", Role::Support, AccountStatus::Active).await;
    let admin = account(&store, "admin@uni.edu", Role::Admin, AccountStatus::Active).await;
    let t = voted_ticket(&store, &creator, &[&voter]).await;
    store.watchers().watch(t.id(), agent.id, support::t(2)).await.unwrap();
    store.watchers().watch(t.id(), admin.id, support::t(2)).await.unwrap();
    let note = |internal| NewReply {
        ticket_id: t.id(),
        author: admin.id,
        body: Answer::parse("Checked with facilities.", "body").unwrap(),
        internal,
        created_at: support::t(3),
    };
    store.replies().add(note(true)).await.unwrap();
    assert_eq!(unread(&store, &agent).await, 1);
    for who in [&creator, &voter, &admin] {
        assert_eq!(unread(&store, who).await, 0, "{}", who.email.as_str());
    }
    store.replies().add(note(false)).await.unwrap();
    for who in [&creator, &voter] {
        assert_eq!(unread(&store, who).await, 1, "{}", who.email.as_str());
    }
    assert_eq!(unread(&store, &admin).await, 0, "the author is not notified of their own reply");
}

async fn the_change_and_its_outbox_rows_roll_back_together(store: Store) {
    let creator = account(&store, "creator@uni.edu", Role::Student, AccountStatus::Active).await;
    let voter = account(&store, "voter@uni.edu", Role::Student, AccountStatus::Active).await;
    let staff = account(&store, "staff@uni.edu", Role::Support, AccountStatus::Active).await;
    let t = voted_ticket(&store, &creator, &[&voter]).await;
    // Break the outbox so the fan-out's last statement fails inside the change's transaction.
    store.execute_raw("ALTER TABLE deliveries RENAME TO deliveries_gone").await.unwrap();
    assert!(resolve(&store, &t, &staff).await.is_err());
    store.execute_raw("ALTER TABLE deliveries_gone RENAME TO deliveries").await.unwrap();

    let now = store.tickets().get(t.id(), creator.id).await.unwrap().unwrap().ticket;
    assert_eq!(now.status(), Status::Open, "the change rolled back");
    assert_eq!(unread(&store, &voter).await, 0, "the notifications rolled back");
    assert!(!store
        .tickets()
        .history(t.id())
        .await
        .unwrap()
        .iter()
        .any(|e| matches!(e.change, Change::Resolved { .. })));

    resolve(&store, &now, &staff).await.unwrap();
    assert_eq!(unread(&store, &voter).await, 1);
    assert_eq!(claim_all(&store).await.len(), 2, "both commit together");
}

async fn two_workers_never_take_the_same_job(store: Store) {
    let creator = account(&store, "creator@uni.edu", Role::Student, AccountStatus::Active).await;
    let staff = account(&store, "staff@uni.edu", Role::Support, AccountStatus::Active).await;
    let mut people = Vec::new();
    for i in 0..30 {
        people.push(account(&store, &format!("v{i}@uni.edu"), Role::Student, AccountStatus::Active).await);
    }
    let t = voted_ticket(&store, &creator, &people.iter().collect::<Vec<_>>()).await;
    resolve(&store, &t, &staff).await.unwrap();

    let worker = |store: Store| {
        tokio::spawn(async move {
            let mut mine = Vec::new();
            loop {
                let got = store.outbox().claim(support::t(4), Duration::minutes(5), 3).await.unwrap();
                if got.is_empty() {
                    return mine;
                }
                mine.extend(got.into_iter().map(|j| j.id.get()));
                tokio::task::yield_now().await;
            }
        })
    };
    let (one, two) = tokio::join!(worker(store.clone()), worker(store.clone()));
    let (one, two) = (one.unwrap(), two.unwrap());
    let all: BTreeSet<i64> = one.iter().chain(&two).copied().collect();
    assert_eq!(all.len(), one.len() + two.len(), "a job was claimed twice");
    assert_eq!(all.len(), 31, "every job was claimed");
}

async fn leases_retries_and_dead_letters(store: Store) {
    let creator = account(&store, "creator@uni.edu", Role::Student, AccountStatus::Active).await;
    let a = account(&store, "a@uni.edu", Role::Student, AccountStatus::Active).await;
    let staff = account(&store, "staff@uni.edu", Role::Support, AccountStatus::Active).await;
    let t = voted_ticket(&store, &creator, &[&a]).await;
    resolve(&store, &t, &staff).await.unwrap();
    let outbox = store.outbox();
    let now = support::t(4);
    let jobs = outbox.claim(now, Duration::minutes(5), 10).await.unwrap();
    assert_eq!(jobs.len(), 2);
    assert!(outbox.claim(now, Duration::minutes(5), 10).await.unwrap().is_empty(), "leased jobs are not due");

    let (retried, abandoned) = (jobs[0].id, jobs[1].id);
    outbox.retry_later(retried, now + Duration::minutes(1), "421 try later", now).await.unwrap();
    assert!(outbox.claim(now, Duration::minutes(5), 10).await.unwrap().is_empty(), "not due before its time");
    // Past the lease of the abandoned job: its outcome is unknown, so it is dead, not resent.
    let later = now + Duration::minutes(10);
    let again = outbox.claim(later, Duration::minutes(5), 10).await.unwrap();
    assert_eq!(again.iter().map(|j| (j.id, j.attempts)).collect::<Vec<_>>(), vec![(retried, 2)]);
    let dead = outbox.dead_letters(None, 10).await.unwrap();
    assert_eq!(dead.iter().map(|d| d.id).collect::<Vec<_>>(), vec![abandoned]);
    assert!(dead[0].last_error.as_deref().unwrap().contains("lease expired"));

    outbox.mark_sent(retried, later).await.unwrap();
    assert!(!outbox.retry(retried, later).await.unwrap(), "only dead letters can be retried");
    assert!(outbox.retry(abandoned, later).await.unwrap());
    assert!(outbox.dead_letters(None, 10).await.unwrap().is_empty());
    let revived = outbox.claim(later, Duration::minutes(5), 10).await.unwrap();
    assert_eq!(revived.iter().map(|j| (j.id, j.attempts)).collect::<Vec<_>>(), vec![(abandoned, 1)]);
}

async fn the_inbox_pages_newest_first_and_marks_read(store: Store) {
    let creator = account(&store, "creator@uni.edu", Role::Student, AccountStatus::Active).await;
    let other = account(&store, "other@uni.edu", Role::Student, AccountStatus::Active).await;
    let staff = account(&store, "staff@uni.edu", Role::Support, AccountStatus::Active).await;
    let t = voted_ticket(&store, &creator, &[]).await;
    for i in 0..3 {
        let reply = NewReply {
            ticket_id: t.id(),
            author: staff.id,
            body: Answer::parse(&format!("Reply number {i}."), "body").unwrap(),
            internal: false,
            created_at: support::t(3),
        };
        store.replies().add(reply).await.unwrap();
    }
    let limit = PageLimit::new(Some(2)).unwrap();
    let first = store.inbox(creator.id, limit, None).await.unwrap();
    assert_eq!(first.items.len(), 2);
    assert!(first.items[0].id > first.items[1].id, "newest first");
    let second = store.inbox(creator.id, limit, first.next_cursor.clone()).await.unwrap();
    assert_eq!(second.items.len(), 1);
    assert!(second.next_cursor.is_none());
    assert!(store.inbox(creator.id, limit, Some("bogus".into())).await.is_err());

    let one = first.items[0].id;
    assert!(!store.mark_read(other.id, one, support::t(4)).await.unwrap(), "not someone else's");
    assert!(store.mark_read(creator.id, one, support::t(4)).await.unwrap());
    assert_eq!(unread(&store, &creator).await, 2);
    assert_eq!(store.mark_all_read(creator.id, support::t(5)).await.unwrap(), 2);
    assert_eq!(unread(&store, &creator).await, 0);
}

/// Whether the wake signal holds a permit (taking it). A stored permit makes `notified()`
/// ready at its first poll, which `timeout` does before looking at the (zero) deadline.
async fn woken(store: &Store) -> bool {
    tokio::time::timeout(std::time::Duration::ZERO, store.delivery_wake().notified()).await.is_ok()
}

async fn a_commit_that_enqueued_deliveries_wakes_the_worker(store: Store) {
    let creator = account(&store, "creator@uni.edu", Role::Student, AccountStatus::Active).await;
    let voter = account(&store, "voter@uni.edu", Role::Student, AccountStatus::Active).await;
    let staff = account(&store, "staff@uni.edu", Role::Support, AccountStatus::Active).await;
    let t = voted_ticket(&store, &creator, &[&voter]).await;
    assert!(!woken(&store).await, "raising and voting enqueue nothing");

    // Everyone who would be emailed has email off: notifications, but no delivery.
    for who in [&creator, &voter] {
        let off = Preference { kind: NotificationKind::PriorityChanged, email: false, digest: false };
        store.set_preference(who.id, off).await.unwrap();
    }
    let changed = t.set_priority(Priority::High, support::t(3)).unwrap();
    let t = store.tickets().update(changed, Actor::User(staff.id)).await.unwrap();
    assert_eq!(unread(&store, &voter).await, 1);
    assert!(!woken(&store).await, "no delivery, no wake-up");

    resolve(&store, &t, &staff).await.unwrap();
    assert!(woken(&store).await, "the resolution's emails wake the worker");
    assert!(!woken(&store).await, "one signal per commit, taken once");
}

async fn digests_gather_a_days_digest_kinds_once_per_user_and_day(store: Store) {
    let creator = account(&store, "creator@uni.edu", Role::Student, AccountStatus::Active).await;
    let both = account(&store, "both@uni.edu", Role::Student, AccountStatus::Active).await;
    let replies = account(&store, "replies@uni.edu", Role::Student, AccountStatus::Active).await;
    let muted = account(&store, "muted@uni.edu", Role::Student, AccountStatus::Active).await;
    let staff = account(&store, "staff@uni.edu", Role::Support, AccountStatus::Active).await;
    let digest = |kind| Preference { kind, email: true, digest: true };
    for kind in [NotificationKind::Resolved, NotificationKind::Reply] {
        store.set_preference(both.id, digest(kind)).await.unwrap();
    }
    store.set_preference(replies.id, digest(NotificationKind::Reply)).await.unwrap();
    // Digest chosen, then unsubscribed: email off wins, so no digest either.
    for kind in [NotificationKind::Resolved, NotificationKind::Reply] {
        store.set_preference(muted.id, Preference { kind, email: false, digest: true }).await.unwrap();
    }
    let t = voted_ticket(&store, &creator, &[&both, &replies, &muted]).await;
    let reply = NewReply {
        ticket_id: t.id(),
        author: staff.id,
        body: Answer::parse("We are on it.", "body").unwrap(),
        internal: false,
        created_at: support::t(3),
    };
    store.replies().add(reply).await.unwrap();
    resolve(&store, &t, &staff).await.unwrap();
    let _ = woken(&store).await;

    // The digest of 4 September at 07:00 covers 3 September 07:00 to 4 September 07:00.
    let until = Utc.with_ymd_and_hms(2026, 9, 4, 7, 0, 0).unwrap();
    let day = NaiveDate::from_ymd_opt(2026, 9, 4).unwrap();
    let outbox = store.outbox();
    assert_eq!(outbox.enqueue_digests(day, until - Duration::days(1), until, until).await.unwrap(), 2);
    assert!(woken(&store).await, "enqueued digests wake the worker");
    assert_eq!(
        outbox.enqueue_digests(day, until - Duration::days(1), until, until).await.unwrap(),
        0,
        "a second enqueue of the same day (another server, a restart) adds nothing"
    );
    let earlier = until - Duration::days(1);
    let yesterday = NaiveDate::from_ymd_opt(2026, 9, 3).unwrap();
    assert_eq!(
        outbox.enqueue_digests(yesterday, earlier - Duration::days(1), earlier, until).await.unwrap(),
        0,
        "nothing happened in the day before"
    );

    let jobs = claim_all(&store).await;
    let mut emails: Vec<(i64, NotificationKind)> =
        jobs.iter().map(mail).filter(|j| j.digest.is_none()).map(|j| (j.recipient.get(), j.kind)).collect();
    emails.sort();
    let mut expected = vec![
        (creator.id.get(), NotificationKind::Reply),
        (creator.id.get(), NotificationKind::Resolved),
        (replies.id.get(), NotificationKind::Resolved),
    ];
    expected.sort();
    assert_eq!(emails, expected, "digest kinds are not emailed one by one");

    let digests: Vec<&ClaimedDelivery> = jobs.iter().filter(|j| mail(j).digest.is_some()).collect();
    let of = |who: &Account| *digests.iter().find(|j| mail(j).recipient == who.id).expect("a digest");
    assert_eq!(digests.len(), 2, "one digest per user with digest items");
    let both_digest = of(&both);
    assert_eq!(both_digest.idempotency_key, format!("digest:{}:2026-09-04", both.id.get()));
    assert_eq!(both_digest.channel(), Channel::Email, "a digest is an email");
    let kinds = |j: &ClaimedDelivery| mail(j).digest.as_ref().unwrap().iter().map(|i| i.kind).collect::<Vec<_>>();
    assert_eq!(kinds(both_digest), vec![NotificationKind::Reply, NotificationKind::Resolved]);
    assert_eq!(kinds(of(&replies)), vec![NotificationKind::Reply]);
    let item = &mail(both_digest).digest.as_ref().unwrap()[0];
    assert_eq!((item.ticket_id, item.ticket_title.as_deref()), (Some(t.id()), Some("Exam room is too cold")));
}

/// The test channel's port: records each call and fails the first attempt of `fail_first`.
struct Recorder {
    calls: std::sync::Mutex<Vec<(TicketId, u32)>>,
    fail_first: TicketId,
}

#[async_trait::async_trait]
impl ProbePort for Recorder {
    async fn deliver(&self, ticket: TicketId, job: ProbeJob) -> Result<(), DeliveryError> {
        let mut calls = self.calls.lock().unwrap();
        let first = !calls.iter().any(|&(t, _)| t == ticket);
        calls.push((ticket, job.step));
        if ticket == self.fail_first && first {
            return Err(DeliveryError::later("503 Service Unavailable"));
        }
        Ok(())
    }
}

/// Unsubscribe tokens are not part of these tests.
struct NoTokens;

impl UnsubscribeTokens for NoTokens {
    fn sign(&self, _: UserId, _: UnsubscribeScope) -> String {
        String::new()
    }
    fn verify(&self, _: &str) -> Option<(UserId, UnsubscribeScope)> {
        None
    }
}

fn probe(step: u32) -> IntegrationJob {
    IntegrationJob::Probe(ProbeJob { step })
}

/// Two tickets, each with a probe job or two enqueued at `support::t(4)`.
async fn two_tickets(store: &Store) -> (Ticket, Ticket) {
    let creator = account(store, "creator@uni.edu", Role::Student, AccountStatus::Active).await;
    let cat = category(store, "Exams").await;
    let a = ticket(store, &creator, &cat, "Exam room is too cold", Priority::Medium, 2).await;
    let b = ticket(store, &creator, &cat, "Library closes too early", Priority::Medium, 2).await;
    (a, b)
}

async fn a_tickets_jobs_on_a_channel_run_in_order_and_other_tickets_never_wait(store: Store) {
    let (a, b) = two_tickets(&store).await;
    let now = support::t(4);
    let outbox = store.outbox();
    // The forum's "create the thread" then "post the reply": the second must never overtake.
    assert!(outbox.enqueue("probe:a:1", a.id(), &probe(1), now).await.unwrap().is_some());
    assert!(outbox.enqueue("probe:a:2", a.id(), &probe(2), now).await.unwrap().is_some());
    assert!(outbox.enqueue("probe:b:1", b.id(), &probe(1), now).await.unwrap().is_some());
    assert!(outbox.enqueue("probe:a:1", a.id(), &probe(1), now).await.unwrap().is_none(), "a key is enqueued once");

    let port = Arc::new(Recorder { calls: std::sync::Mutex::new(vec![]), fail_first: a.id() });
    let clock = Arc::new(domain::clock::ManualClock::new(now));
    let worker = DeliveryWorker::new(
        outbox.clone(),
        Channels::new(Arc::new(NoMail)).with_probe(port.clone()),
        Arc::new(NoTokens),
        clock.clone(),
        Arc::new(|| 1.0),
        WorkerSettings::default(),
    );
    let stop = domain::stop::Stop::never();
    let calls = || port.calls.lock().unwrap().clone();

    // Round 1: a's first job fails (a 503), b's job goes out at once; a's second job waits.
    let report = worker.deliver_due(&stop).await.unwrap();
    assert_eq!((report.sent, report.retried), (1, 1), "{report:?}");
    let mut first = calls();
    first.sort();
    let mut expected = vec![(a.id(), 1), (b.id(), 1)];
    expected.sort();
    assert_eq!(first, expected, "another ticket's job is not delayed; a's second job is not started");
    // a's first job is retrying (due in 5 s): its successor still waits.
    assert_eq!(worker.deliver_due(&stop).await.unwrap().handled(), 0);

    // Within 5 s the first job is retried, alone; then the second follows.
    clock.advance(Duration::seconds(5));
    assert_eq!(worker.deliver_due(&stop).await.unwrap().sent, 1);
    assert_eq!(worker.deliver_due(&stop).await.unwrap().sent, 1);
    assert_eq!(worker.deliver_due(&stop).await.unwrap().handled(), 0, "all delivered");
    let of_a: Vec<u32> = calls().into_iter().filter(|&(t, _)| t == a.id()).map(|(_, step)| step).collect();
    assert_eq!(of_a, vec![1, 1, 2], "a's jobs were delivered in order, the first after one retry");

    // A leased job holds its successor back too, and a claim hands out one job per ticket.
    let later = now + Duration::minutes(1);
    outbox.enqueue("probe:a:3", a.id(), &probe(3), later).await.unwrap();
    outbox.enqueue("probe:a:4", a.id(), &probe(4), later).await.unwrap();
    let claimed = outbox.claim(later, Duration::minutes(5), 10).await.unwrap();
    assert_eq!(claimed.len(), 1);
    assert_eq!(claimed[0].payload, DeliveryPayload::Integration { ticket: a.id(), job: probe(3) });
    assert!(outbox.claim(later, Duration::minutes(5), 10).await.unwrap().is_empty(), "a:4 waits for a:3's lease");
    outbox.mark_sent(claimed[0].id, later).await.unwrap();
    let next = outbox.claim(later, Duration::minutes(5), 10).await.unwrap();
    assert_eq!(
        next.iter().map(|j| j.payload.clone()).collect::<Vec<_>>(),
        vec![DeliveryPayload::Integration { ticket: a.id(), job: probe(4) }]
    );
}

async fn dead_letters_show_their_channel_and_every_channel_can_be_retried_or_released(store: Store) {
    let (a, _) = two_tickets(&store).await;
    let now = support::t(4);
    let outbox = store.outbox();
    let id = outbox.enqueue("probe:a:1", a.id(), &probe(1), now).await.unwrap().unwrap();

    // A stopping worker gives a claimed job back: pending at once, the attempt uncounted.
    let claimed = outbox.claim(now, Duration::minutes(5), 10).await.unwrap();
    assert_eq!((claimed.len(), claimed[0].attempts, claimed[0].channel()), (1, 1, Channel::Probe));
    outbox.release(id, now).await.unwrap();
    let again = outbox.claim(now, Duration::minutes(5), 10).await.unwrap();
    assert_eq!(again.iter().map(|j| (j.id, j.attempts)).collect::<Vec<_>>(), vec![(id, 1)]);

    outbox.mark_dead(id, "permanent: 422 thread is closed", now).await.unwrap();
    outbox.release(id, now).await.unwrap();
    let dead = outbox.dead_letters(None, 10).await.unwrap();
    assert_eq!(dead.len(), 1, "release leaves a dead letter alone");
    let d = &dead[0];
    assert_eq!((d.id, d.channel, d.recipient, d.kind, d.ticket_id), (id, Channel::Probe, None, None, Some(a.id())));
    assert_eq!(d.last_error.as_deref(), Some("permanent: 422 thread is closed"));
    assert_eq!(outbox.dead_letters(Some(Channel::Probe), 10).await.unwrap().len(), 1);
    assert!(outbox.dead_letters(Some(Channel::Email), 10).await.unwrap().is_empty(), "filtered by channel");

    assert!(outbox.retry(id, now).await.unwrap());
    let revived = outbox.claim(now, Duration::minutes(5), 10).await.unwrap();
    assert_eq!(revived.iter().map(|j| (j.id, j.attempts)).collect::<Vec<_>>(), vec![(id, 1)]);
}

/// Email is not part of these tests.
struct NoMail;

#[async_trait::async_trait]
impl Mailer for NoMail {
    async fn send(&self, _: &OutgoingEmail) -> Result<(), DeliveryError> {
        Err(DeliveryError::Never("no email in this test".into()))
    }
}

async fn concurrent_workers_keep_each_tickets_order(store: Store) {
    let creator = account(&store, "creator@uni.edu", Role::Student, AccountStatus::Active).await;
    let cat = category(&store, "Exams").await;
    let now = support::t(4);
    let outbox = store.outbox();
    let mut ids = std::collections::HashMap::new();
    for n in 0..6 {
        let t = ticket(&store, &creator, &cat, &format!("Concern number {n}"), Priority::Medium, 2).await;
        for step in 1..=4 {
            let id = outbox.enqueue(&format!("probe:{n}:{step}"), t.id(), &probe(step), now).await.unwrap().unwrap();
            ids.insert((t.id(), step), id);
        }
    }
    let ids = Arc::new(ids);
    // Each worker claims a few jobs at a time and marks them sent; whenever it holds step k
    // of a ticket, step k-1 must already be sent (committed), whoever sent it.
    let worker = |store: Store, ids: Arc<std::collections::HashMap<(TicketId, u32), DeliveryId>>| {
        tokio::spawn(async move {
            let mut sent = 0;
            let mut idle = 0;
            while idle < 3 {
                let got = store.outbox().claim(now, Duration::minutes(5), 3).await.unwrap();
                if got.is_empty() {
                    idle += 1;
                    tokio::task::yield_now().await;
                    continue;
                }
                idle = 0;
                for job in got {
                    let DeliveryPayload::Integration { ticket, job: IntegrationJob::Probe(ProbeJob { step }) } =
                        job.payload.clone()
                    else {
                        panic!("{job:?}")
                    };
                    if step > 1 {
                        let before = ids[&(ticket, step - 1)].get();
                        let done = store
                            .count_raw(&format!(
                                "SELECT COUNT(*) AS n FROM deliveries WHERE id = {before} AND status = 'sent'"
                            ))
                            .await
                            .unwrap();
                        assert_eq!(
                            done,
                            1,
                            "step {step} of ticket {} started before step {} was sent",
                            ticket.get(),
                            step - 1
                        );
                    }
                    store.outbox().mark_sent(job.id, now).await.unwrap();
                    sent += 1;
                }
            }
            sent
        })
    };
    let (one, two) = tokio::join!(worker(store.clone(), ids.clone()), worker(store.clone(), ids.clone()));
    let (one, two) = (one.unwrap(), two.unwrap());
    // A worker may see nothing due three times in a row while the other holds every
    // ticket's next step; whatever is left is then delivered by a last round.
    let mut rest = 0;
    loop {
        let got = outbox.claim(now, Duration::minutes(5), 100).await.unwrap();
        if got.is_empty() {
            break;
        }
        for job in got {
            outbox.mark_sent(job.id, now).await.unwrap();
            rest += 1;
        }
    }
    assert_eq!(one + two + rest, 24, "every job was delivered once");
    assert_eq!(store.count_raw("SELECT COUNT(*) AS n FROM deliveries WHERE status = 'sent'").await.unwrap(), 24);
}
