//! The delivery worker: claims due deliveries, sends them, and records the outcome; once a
//! day it also enqueues the digests.
//!
//! Email is **at most once** through our own retries: a delivery is marked `sending` with a
//! lease before the SMTP conversation starts, and one whose lease runs out (the worker died
//! mid-send, outcome unknown) becomes a dead letter rather than being sent again; an admin
//! decides. A failure the mailer calls transient (the message was certainly not accepted) is
//! retried with exponential backoff and jitter up to `max_attempts`, then dead-lettered.
//! The in-app channel needs no worker: its rows commit with the change (exactly once).
//!
//! Digests are deliveries too (channel `digest`, key `digest:<user>:<day>`), so they get the
//! same leases, retries and dead letters, and a unique key makes enqueuing them idempotent
//! across servers and restarts.

use std::sync::{Arc, Mutex, PoisonError};

use chrono::{DateTime, Duration, NaiveDate, NaiveTime, Utc};
use futures_util::{stream, StreamExt};
use tokio::sync::Notify;

use crate::clock::Clock;

use super::{
    next_attempt, Backoff, ClaimedDelivery, MailError, Mailer, OutboxRepository, OutgoingEmail, UnsubscribeScope,
    UnsubscribeTokens,
};

/// The worker's knobs.
#[derive(Debug, Clone, Copy)]
pub struct WorkerSettings {
    /// Deliveries claimed per round.
    pub batch: u32,
    /// How long a claim lasts before its outcome counts as unknown.
    pub lease: Duration,
    /// Attempts before a delivery becomes a dead letter.
    pub max_attempts: u32,
    /// Spacing of retries.
    pub backoff: Backoff,
    /// The hour (UTC, 0–23) at which the day's digests are enqueued.
    pub digest_hour: u32,
    /// Emails sent at once within a round (each send waits on the relay's answers).
    pub concurrency: usize,
}

impl Default for WorkerSettings {
    fn default() -> Self {
        Self {
            batch: 50,
            lease: Duration::minutes(5),
            max_attempts: 8,
            backoff: Backoff::default(),
            digest_hour: 7,
            concurrency: 8,
        }
    }
}

/// The latest digest due at `now`: its day and the window `[since, until)` it covers, the 24
/// hours before `day` at `hour`:00 UTC. An hour past 23 counts as 23.
pub fn digest_window(now: DateTime<Utc>, hour: u32) -> (NaiveDate, DateTime<Utc>, DateTime<Utc>) {
    let at = NaiveTime::from_hms_opt(hour.min(23), 0, 0).unwrap_or(NaiveTime::MIN);
    let today = now.date_naive().and_time(at).and_utc();
    let until = if now >= today { today } else { today - Duration::days(1) };
    (until.date_naive(), until - Duration::days(1), until)
}

/// What one round did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeliveryReport {
    /// Delivered.
    pub sent: u32,
    /// Failed and scheduled again.
    pub retried: u32,
    /// Gave up.
    pub dead: u32,
}

impl DeliveryReport {
    /// How many deliveries the round handled.
    pub fn handled(&self) -> u32 {
        self.sent + self.retried + self.dead
    }
}

/// What became of one delivery.
enum Outcome {
    Sent,
    Retried,
    Dead,
}

/// Delivers the outbox's email.
#[derive(Clone)]
pub struct DeliveryWorker {
    outbox: Arc<dyn OutboxRepository>,
    mailer: Arc<dyn Mailer>,
    tokens: Arc<dyn UnsubscribeTokens>,
    clock: Arc<dyn Clock>,
    jitter: Arc<dyn Fn() -> f64 + Send + Sync>,
    settings: WorkerSettings,
    /// The last digest day this process enqueued, so the query runs once a day, not each round.
    digested: Arc<Mutex<Option<NaiveDate>>>,
}

impl DeliveryWorker {
    /// A worker; `jitter` returns a number in `[0, 1]` (random in production, fixed in tests).
    pub fn new(
        outbox: Arc<dyn OutboxRepository>,
        mailer: Arc<dyn Mailer>,
        tokens: Arc<dyn UnsubscribeTokens>,
        clock: Arc<dyn Clock>,
        jitter: Arc<dyn Fn() -> f64 + Send + Sync>,
        settings: WorkerSettings,
    ) -> Self {
        Self { outbox, mailer, tokens, clock, jitter, settings, digested: Arc::new(Mutex::new(None)) }
    }

    /// Enqueues the latest due digest unless this process already did (the store ignores a
    /// second enqueue of the same day, so other servers and restarts are harmless). Returns
    /// how many digest deliveries were added.
    pub async fn enqueue_digests(&self) -> anyhow::Result<u64> {
        let now = self.clock.now();
        let (day, since, until) = digest_window(now, self.settings.digest_hour);
        if *self.digested.lock().unwrap_or_else(PoisonError::into_inner) == Some(day) {
            return Ok(0);
        }
        let added = self.outbox.enqueue_digests(day, since, until, now).await?;
        *self.digested.lock().unwrap_or_else(PoisonError::into_inner) = Some(day);
        if added > 0 {
            tracing::info!(%day, digests = added, "daily digests enqueued");
        }
        Ok(added)
    }

    /// Claims the deliveries due now, sends them ([`WorkerSettings::concurrency`] at a time),
    /// and records each outcome.
    pub async fn deliver_due(&self) -> anyhow::Result<DeliveryReport> {
        let now = self.clock.now();
        let claimed = self.outbox.claim(now, self.settings.lease, self.settings.batch).await?;
        let outcomes: Vec<anyhow::Result<Outcome>> = stream::iter(claimed)
            .map(|job| self.deliver(job))
            .buffer_unordered(self.settings.concurrency.max(1))
            .collect()
            .await;
        let mut report = DeliveryReport::default();
        let mut failure = None;
        for outcome in outcomes {
            match outcome {
                Ok(Outcome::Sent) => report.sent += 1,
                Ok(Outcome::Retried) => report.retried += 1,
                Ok(Outcome::Dead) => report.dead += 1,
                // Every other job's outcome is recorded; the lease brings this one back.
                Err(e) => failure = Some(e),
            }
        }
        match failure {
            Some(e) => Err(e),
            None => Ok(report),
        }
    }

    /// Sends one claimed delivery and records its outcome.
    async fn deliver(&self, job: ClaimedDelivery) -> anyhow::Result<Outcome> {
        let scope = if job.digest.is_some() { UnsubscribeScope::Digest } else { UnsubscribeScope::Kind(job.kind) };
        let (id, attempts) = (job.id, job.attempts);
        let email = OutgoingEmail {
            unsubscribe_token: self.tokens.sign(job.recipient, scope),
            idempotency_key: job.idempotency_key,
            recipient: job.recipient,
            to: job.to,
            to_name: job.to_name,
            kind: job.kind,
            ticket_id: job.ticket_id,
            ticket_title: job.ticket_title,
            payload: job.payload,
            digest: job.digest,
        };
        // The user switched every digest kind off after it was enqueued: nothing to say.
        let result =
            if email.digest.as_ref().is_some_and(Vec::is_empty) { Ok(()) } else { self.mailer.send(&email).await };
        let at = self.clock.now();
        match result {
            Ok(()) => {
                self.outbox.mark_sent(id, at).await?;
                Ok(Outcome::Sent)
            }
            Err(MailError::Transient(e)) if attempts < self.settings.max_attempts => {
                let next = next_attempt(self.settings.backoff, attempts, at, (self.jitter)());
                tracing::info!(delivery = id.get(), attempts, %next, error = %e, "delivery failed; will retry");
                self.outbox.retry_later(id, next, &e, at).await?;
                Ok(Outcome::Retried)
            }
            Err(e) => {
                tracing::warn!(delivery = id.get(), attempts, error = %e, "delivery is a dead letter");
                self.outbox.mark_dead(id, &e.to_string(), at).await?;
                Ok(Outcome::Dead)
            }
        }
    }

    /// One round: the digests if one is due, then deliveries until none is due (a full batch
    /// is followed at once by the next).
    pub async fn round(&self) {
        if let Err(e) = self.enqueue_digests().await {
            tracing::warn!(error = %e, "enqueuing digests failed; retrying at the next round");
        }
        loop {
            match self.deliver_due().await {
                Ok(report) if report.handled() == 0 => break,
                Ok(report) => {
                    tracing::info!(sent = report.sent, retried = report.retried, dead = report.dead, "delivery round")
                }
                Err(e) => {
                    tracing::warn!(error = %e, "delivery round failed; retrying at the next round");
                    break;
                }
            }
        }
    }

    /// Runs rounds forever: when `wake` is signalled (the store does so after committing a
    /// change that enqueued deliveries), and every `interval` as a fallback (retries coming
    /// due, deliveries enqueued by another server, the digest hour). A signal that arrives
    /// during a round is kept and starts the next round at once, so none is lost.
    pub async fn run(self, wake: Arc<Notify>, interval: std::time::Duration) {
        let mut tick = tokio::time::interval(interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                () = wake.notified() => {}
            }
            self.round().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};

    use super::*;
    use crate::accounts::{Email, UserId};
    use crate::clock::FixedClock;
    use crate::notifications::{
        ClaimedDelivery, DeadLetter, DeliveryId, MockMailer, MockOutboxRepository, MockUnsubscribeTokens,
        NotificationKind,
    };

    fn job(attempts: u32) -> ClaimedDelivery {
        ClaimedDelivery {
            id: DeliveryId::new(1),
            idempotency_key: "email:1".into(),
            attempts,
            recipient: UserId::new(2),
            to: Email::parse("a@uni.edu").unwrap(),
            to_name: "A".into(),
            kind: NotificationKind::Resolved,
            ticket_id: None,
            ticket_title: None,
            payload: "{}".into(),
            digest: None,
        }
    }

    fn tokens() -> Arc<MockUnsubscribeTokens> {
        let mut t = MockUnsubscribeTokens::new();
        t.expect_sign().returning(|user, scope| format!("{}:{}", user.get(), scope.as_str()));
        Arc::new(t)
    }

    fn worker(outbox: MockOutboxRepository, mailer: MockMailer) -> DeliveryWorker {
        let clock = FixedClock(Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap());
        DeliveryWorker::new(
            Arc::new(outbox),
            Arc::new(mailer),
            tokens(),
            Arc::new(clock),
            Arc::new(|| 1.0),
            WorkerSettings { max_attempts: 3, ..WorkerSettings::default() },
        )
    }

    /// Name, attempts so far, what the mailer answers, the expected report.
    type Case = (&'static str, u32, fn() -> Result<(), MailError>, DeliveryReport);

    #[tokio::test]
    async fn outcomes_by_error_and_attempt() {
        let cases: &[Case] = &[
            ("sent", 1, || Ok(()), DeliveryReport { sent: 1, retried: 0, dead: 0 }),
            (
                "transient retries",
                1,
                || Err(MailError::Transient("421".into())),
                DeliveryReport { sent: 0, retried: 1, dead: 0 },
            ),
            (
                "transient at the last attempt dies",
                3,
                || Err(MailError::Transient("421".into())),
                DeliveryReport { sent: 0, retried: 0, dead: 1 },
            ),
            (
                "permanent dies at once",
                1,
                || Err(MailError::Permanent("550".into())),
                DeliveryReport { sent: 0, retried: 0, dead: 1 },
            ),
        ];
        for &(name, attempts, outcome, expected) in cases {
            let mut outbox = MockOutboxRepository::new();
            outbox.expect_claim().times(1).returning(move |_, _, _| Ok(vec![job(attempts)]));
            outbox.expect_mark_sent().times(usize::from(expected.sent == 1)).returning(|_, _| Ok(()));
            let start = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
            outbox
                .expect_retry_later()
                .times(usize::from(expected.retried == 1))
                .withf(move |_, next, _, _| *next == start + Duration::seconds(30))
                .returning(|_, _, _, _| Ok(()));
            outbox.expect_mark_dead().times(usize::from(expected.dead == 1)).returning(|_, _, _| Ok(()));
            let mut mailer = MockMailer::new();
            mailer.expect_send().times(1).returning(move |_| outcome());
            assert_eq!(worker(outbox, mailer).deliver_due().await.unwrap(), expected, "{name}");
        }
    }

    #[test]
    fn the_digest_window_is_the_day_before_the_latest_digest_hour() {
        let at = |d: u32, h: u32, m: u32| Utc.with_ymd_and_hms(2026, 3, d, h, m, 0).unwrap();
        let day = |d: u32| NaiveDate::from_ymd_opt(2026, 3, d).unwrap();
        let cases = [
            // now, hour, expected day, since, until
            (at(10, 7, 0), 7, day(10), at(9, 7, 0), at(10, 7, 0)),
            (at(10, 6, 59), 7, day(9), at(8, 7, 0), at(9, 7, 0)),
            (at(10, 23, 0), 7, day(10), at(9, 7, 0), at(10, 7, 0)),
            (at(10, 0, 0), 0, day(10), at(9, 0, 0), at(10, 0, 0)),
            (at(10, 22, 0), 99, day(9), at(8, 23, 0), at(9, 23, 0)),
        ];
        for (now, hour, d, since, until) in cases {
            assert_eq!(digest_window(now, hour), (d, since, until), "{now} at hour {hour}");
        }
    }

    #[tokio::test]
    async fn digests_are_enqueued_once_a_day_and_signed_for_the_digest_scope() {
        let start = Utc.with_ymd_and_hms(2026, 3, 10, 6, 0, 0).unwrap();
        let clock = Arc::new(crate::clock::ManualClock::new(start));
        let days = Arc::new(Mutex::new(Vec::new()));
        let mut outbox = MockOutboxRepository::new();
        let seen = days.clone();
        outbox.expect_enqueue_digests().returning(move |day, since, until, _| {
            assert_eq!(until - since, Duration::days(1));
            seen.lock().unwrap().push(day);
            Ok(1)
        });
        let w = DeliveryWorker::new(
            Arc::new(outbox),
            Arc::new(MockMailer::new()),
            tokens(),
            clock.clone(),
            Arc::new(|| 1.0),
            WorkerSettings::default(),
        );
        assert_eq!(w.enqueue_digests().await.unwrap(), 1, "at start, yesterday's digest (idempotent in the store)");
        assert_eq!(w.enqueue_digests().await.unwrap(), 0, "once per day per process");
        clock.advance(Duration::minutes(59));
        assert_eq!(w.enqueue_digests().await.unwrap(), 0, "06:59: still the same day");
        clock.advance(Duration::minutes(1));
        assert_eq!(w.enqueue_digests().await.unwrap(), 1, "07:00: today's");
        let day = |d: u32| NaiveDate::from_ymd_opt(2026, 3, d).unwrap();
        assert_eq!(*days.lock().unwrap(), vec![day(9), day(10)]);
    }

    #[tokio::test]
    async fn a_digest_email_carries_its_items_and_a_digest_unsubscribe_token() {
        let mut outbox = MockOutboxRepository::new();
        outbox.expect_claim().times(1).returning(|_, _, _| {
            Ok(vec![ClaimedDelivery {
                digest: Some(vec![crate::notifications::DigestItem {
                    kind: NotificationKind::Reply,
                    ticket_id: None,
                    ticket_title: Some("T".into()),
                    created_at: Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap(),
                }]),
                ..job(1)
            }])
        });
        outbox.expect_mark_sent().times(1).returning(|_, _| Ok(()));
        let mut mailer = MockMailer::new();
        mailer
            .expect_send()
            .times(1)
            .withf(|e| e.unsubscribe_token == "2:digest" && e.digest.as_ref().is_some_and(|d| d.len() == 1))
            .returning(|_| Ok(()));
        assert_eq!(worker(outbox, mailer).deliver_due().await.unwrap().sent, 1);
    }

    /// An outbox that hands out the jobs pushed into it and reports each claim.
    struct Pushed {
        jobs: Mutex<Vec<ClaimedDelivery>>,
        claims: tokio::sync::mpsc::UnboundedSender<usize>,
    }

    #[async_trait::async_trait]
    impl OutboxRepository for Pushed {
        async fn claim(&self, _: DateTime<Utc>, _: Duration, _: u32) -> anyhow::Result<Vec<ClaimedDelivery>> {
            let jobs = std::mem::take(&mut *self.jobs.lock().unwrap());
            self.claims.send(jobs.len()).ok();
            Ok(jobs)
        }
        async fn mark_sent(&self, _: DeliveryId, _: DateTime<Utc>) -> anyhow::Result<()> {
            Ok(())
        }
        async fn retry_later(&self, _: DeliveryId, _: DateTime<Utc>, _: &str, _: DateTime<Utc>) -> anyhow::Result<()> {
            Ok(())
        }
        async fn mark_dead(&self, _: DeliveryId, _: &str, _: DateTime<Utc>) -> anyhow::Result<()> {
            Ok(())
        }
        async fn dead_letters(&self, _: u32) -> anyhow::Result<Vec<DeadLetter>> {
            Ok(vec![])
        }
        async fn retry(&self, _: DeliveryId, _: DateTime<Utc>) -> anyhow::Result<bool> {
            Ok(false)
        }
        async fn enqueue_digests(
            &self,
            _: NaiveDate,
            _: DateTime<Utc>,
            _: DateTime<Utc>,
            _: DateTime<Utc>,
        ) -> anyhow::Result<u64> {
            Ok(0)
        }
    }

    #[tokio::test]
    async fn a_wake_signal_starts_a_round_without_waiting_for_the_interval() {
        let (claims_tx, mut claims) = tokio::sync::mpsc::unbounded_channel();
        let outbox = Arc::new(Pushed { jobs: Mutex::new(vec![]), claims: claims_tx });
        let (sent_tx, mut sent) = tokio::sync::mpsc::unbounded_channel();
        let mut mailer = MockMailer::new();
        mailer.expect_send().returning(move |e| {
            sent_tx.send(e.idempotency_key.clone()).ok();
            Ok(())
        });
        let clock = FixedClock(Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap());
        let w = DeliveryWorker::new(
            outbox.clone(),
            Arc::new(mailer),
            tokens(),
            Arc::new(clock),
            Arc::new(|| 1.0),
            WorkerSettings::default(),
        );
        let wake = Arc::new(Notify::new());
        // The fallback interval is an hour: only the signal can explain a prompt second round.
        let task = tokio::spawn(w.run(wake.clone(), std::time::Duration::from_secs(3600)));
        assert_eq!(claims.recv().await, Some(0), "the first tick's round found nothing");
        outbox.jobs.lock().unwrap().push(job(1));
        wake.notify_one();
        // The guard only turns a hang into a failure; it never decides a pass.
        let got = tokio::time::timeout(std::time::Duration::from_secs(30), sent.recv()).await;
        task.abort();
        assert_eq!(got.expect("the wake signal started a round").as_deref(), Some("email:1"));
    }
}
