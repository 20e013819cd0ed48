//! The delivery worker: claims due jobs, hands each to the port of its channel, and records
//! the outcome; it also enqueues the daily digests (a job of its own in the server).
//!
//! Every channel is **at most once** through our own retries: a job is marked `sending` with
//! a lease before the port is called, and one whose lease runs out (the worker died mid-call,
//! outcome unknown) becomes a dead letter rather than being sent again; an admin decides. A
//! failure the port calls transient (the remote system certainly did not act) is retried by
//! the channel's [`RetryPolicy`] (or exactly when the remote system asked), then
//! dead-lettered. The in-app channel needs no worker: its rows commit with the change
//! (exactly once).
//!
//! Digests are email deliveries too (key `digest:<user>:<day>`), so they get the same leases,
//! retries and dead letters, and a unique key makes enqueuing them idempotent across servers
//! and restarts.
//!
//! On a stop, the worker finishes the calls it started and gives back the jobs it claimed but
//! did not start ([`OutboxRepository::release`]); [`DeliveryWorker::give_back`] settles
//! whatever a stop cut short, so no job stays leased.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use chrono::{DateTime, Duration, NaiveDate, NaiveTime, Utc};
use futures_util::{stream, StreamExt};

use crate::clock::Clock;
use crate::stop::Stop;
use crate::tickets::TicketId;

use super::{
    ClaimedDelivery, DeliveryError, DeliveryId, DeliveryPayload, EmailPayload, IntegrationJob, JobScope, Mailer,
    OutboxRepository, OutgoingEmail, RetryPolicy, UnsubscribeScope, UnsubscribeTokens,
};

/// The worker's knobs.
#[derive(Debug, Clone, Copy)]
pub struct WorkerSettings {
    /// Deliveries claimed per round.
    pub batch: u32,
    /// How long a claim lasts before its outcome counts as unknown.
    pub lease: Duration,
    /// Retries of per-user deliveries (email, digests).
    pub email: RetryPolicy,
    /// Retries of per-ticket integration jobs.
    pub integration: RetryPolicy,
    /// The hour (UTC, 0–23) at which the day's digests are enqueued.
    pub digest_hour: u32,
    /// Jobs delivered at once within a round (each call waits on a remote system).
    pub concurrency: usize,
}

impl Default for WorkerSettings {
    fn default() -> Self {
        Self {
            batch: 50,
            lease: Duration::minutes(5),
            email: RetryPolicy::email(),
            integration: RetryPolicy::integration(),
            digest_hour: 7,
            concurrency: 8,
        }
    }
}

impl WorkerSettings {
    /// The retry policy of a kind of job.
    pub fn policy(&self, scope: JobScope) -> RetryPolicy {
        match scope {
            JobScope::User => self.email,
            JobScope::Ticket => self.integration,
        }
    }
}

/// The port of every channel, one field per channel: adding a channel adds its port here.
#[derive(Clone)]
pub struct Channels {
    mailer: Arc<dyn Mailer>,
    chat: Option<Arc<dyn super::ChatPort>>,
    forum: Option<Arc<dyn super::ForumPort>>,
    #[cfg(any(test, feature = "mocks"))]
    probe: Option<Arc<dyn super::ProbePort>>,
}

impl Channels {
    /// The ports: email through `mailer`.
    pub fn new(mailer: Arc<dyn Mailer>) -> Self {
        Self {
            mailer,
            chat: None,
            forum: None,
            #[cfg(any(test, feature = "mocks"))]
            probe: None,
        }
    }

    /// With the forum channel's port; without it, forum jobs are dead letters.
    pub fn with_forum(self, forum: Arc<dyn super::ForumPort>) -> Self {
        Self { forum: Some(forum), ..self }
    }

    /// With the chat channel's port; without it, chat jobs are dead letters.
    pub fn with_chat(self, chat: Arc<dyn super::ChatPort>) -> Self {
        Self { chat: Some(chat), ..self }
    }

    /// With the test channel's port (feature `mocks`); without it, probe jobs are dead
    /// letters.
    #[cfg(any(test, feature = "mocks"))]
    pub fn with_probe(self, probe: Arc<dyn super::ProbePort>) -> Self {
        Self { probe: Some(probe), ..self }
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
    /// Claimed but given back unattempted because the worker is stopping.
    pub released: u32,
    /// Claimed but given back unattempted because a rate limit holds them.
    pub throttled: u32,
}

impl DeliveryReport {
    /// How many deliveries the round attempted.
    pub fn handled(&self) -> u32 {
        self.sent + self.retried + self.dead
    }
}

/// What became of one delivery.
enum Outcome {
    Sent,
    Retried,
    Dead,
    Released,
    Throttled,
}

/// Delivers the outbox on every channel.
#[derive(Clone)]
pub struct DeliveryWorker {
    outbox: Arc<dyn OutboxRepository>,
    channels: Channels,
    tokens: Arc<dyn UnsubscribeTokens>,
    clock: Arc<dyn Clock>,
    jitter: Arc<dyn Fn() -> f64 + Send + Sync>,
    settings: WorkerSettings,
    /// The last digest day this process enqueued, so the query runs once a day, not each round.
    digested: Arc<Mutex<Option<NaiveDate>>>,
    /// The deliveries this worker holds a lease on, and whether their call started.
    held: Arc<Mutex<HashMap<DeliveryId, bool>>>,
}

impl DeliveryWorker {
    /// A worker; `jitter` returns a number in `[0, 1]` (random in production, fixed in tests).
    pub fn new(
        outbox: Arc<dyn OutboxRepository>,
        channels: Channels,
        tokens: Arc<dyn UnsubscribeTokens>,
        clock: Arc<dyn Clock>,
        jitter: Arc<dyn Fn() -> f64 + Send + Sync>,
        settings: WorkerSettings,
    ) -> Self {
        Self {
            outbox,
            channels,
            tokens,
            clock,
            jitter,
            settings,
            digested: Arc::new(Mutex::new(None)),
            held: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    fn held(&self) -> std::sync::MutexGuard<'_, HashMap<DeliveryId, bool>> {
        self.held.lock().unwrap_or_else(PoisonError::into_inner)
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

    /// Claims the deliveries due now and delivers them ([`WorkerSettings::concurrency`] at a
    /// time), recording each outcome. Once `stop` is sent, jobs not yet started are given
    /// back instead, and nothing more is claimed.
    pub async fn deliver_due(&self, stop: &Stop) -> anyhow::Result<DeliveryReport> {
        if stop.is_stopping() {
            return Ok(DeliveryReport::default());
        }
        let now = self.clock.now();
        let claimed = self.outbox.claim(now, self.settings.lease, self.settings.batch).await?;
        self.held().extend(claimed.iter().map(|job| (job.id, false)));
        let outcomes: Vec<anyhow::Result<Outcome>> = stream::iter(claimed)
            .map(|job| self.settle(job, stop))
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
                Ok(Outcome::Released) => report.released += 1,
                Ok(Outcome::Throttled) => report.throttled += 1,
                // Every other job's outcome is recorded; the lease settles this one.
                Err(e) => failure = Some(e),
            }
        }
        match failure {
            Some(e) => Err(e),
            None => Ok(report),
        }
    }

    /// Delivers one claimed job, or gives it back if the worker is stopping; then forgets it.
    async fn settle(&self, job: ClaimedDelivery, stop: &Stop) -> anyhow::Result<Outcome> {
        let id = job.id;
        let outcome = if stop.is_stopping() {
            self.outbox.release(id, self.clock.now()).await.map(|()| Outcome::Released)
        } else {
            self.held().insert(id, true);
            self.deliver(job).await
        };
        // Settled, or (a failed store call) left to its lease: either way no longer ours to
        // give back.
        self.held().remove(&id);
        outcome
    }

    /// Hands one claimed job to its channel's port and records the outcome.
    async fn deliver(&self, job: ClaimedDelivery) -> anyhow::Result<Outcome> {
        let (id, attempts, policy) = (job.id, job.attempts, self.settings.policy(job.channel().scope()));
        let result = match job.payload {
            DeliveryPayload::Email(email) => self.send_email(email, job.idempotency_key).await,
            DeliveryPayload::Integration { ticket, job: work } => {
                self.integrate(ticket, work, &job.idempotency_key).await
            }
        };
        let at = self.clock.now();
        match result {
            Ok(()) => {
                self.outbox.mark_sent(id, at).await?;
                Ok(Outcome::Sent)
            }
            Err(DeliveryError::Throttled { at: until }) => {
                // Never attempted: back in the queue, uncounted, due when the limit allows.
                self.outbox.release(id, until.max(at)).await?;
                Ok(Outcome::Throttled)
            }
            Err(DeliveryError::Later { message, at: asked }) if attempts < policy.max_attempts => {
                let next = policy.next(attempts, at, asked, (self.jitter)());
                tracing::info!(delivery = id.get(), attempts, %next, error = %message, "delivery failed; will retry");
                self.outbox.retry_later(id, next, &format!("transient: {message}"), at).await?;
                Ok(Outcome::Retried)
            }
            Err(e) => {
                tracing::warn!(delivery = id.get(), attempts, error = %e, "delivery is a dead letter");
                self.outbox.mark_dead(id, &e.to_string(), at).await?;
                Ok(Outcome::Dead)
            }
        }
    }

    /// Hands a per-ticket job to the port of its channel.
    async fn integrate(&self, ticket: TicketId, job: IntegrationJob, key: &str) -> Result<(), DeliveryError> {
        match job {
            IntegrationJob::Chat(chat) => match &self.channels.chat {
                Some(port) => port.deliver(ticket, chat, key).await,
                None => Err(DeliveryError::Never("no chat webhook client is configured".into())),
            },
            IntegrationJob::Forum(forum) => match &self.channels.forum {
                Some(port) => port.deliver(ticket, forum).await,
                None => Err(DeliveryError::Never("the Discourse forum is not configured".into())),
            },
            #[cfg(any(test, feature = "mocks"))]
            IntegrationJob::Probe(step) => match &self.channels.probe {
                Some(port) => port.deliver(ticket, step).await,
                None => Err(DeliveryError::Never("no port is wired for the probe channel".into())),
            },
        }
    }

    /// Signs the unsubscribe link and sends one email.
    async fn send_email(&self, job: EmailPayload, idempotency_key: String) -> Result<(), DeliveryError> {
        let scope = if job.digest.is_some() { UnsubscribeScope::Digest } else { UnsubscribeScope::Kind(job.kind) };
        let email = OutgoingEmail {
            unsubscribe_token: self.tokens.sign(job.recipient, scope),
            idempotency_key,
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
        if email.digest.as_ref().is_some_and(Vec::is_empty) {
            return Ok(());
        }
        self.channels.mailer.send(&email).await
    }

    /// One round: deliveries until none is due or `stop` is sent (a full batch is followed
    /// at once by the next). Fails if a step failed; the next round tries again. Digests are
    /// a job of their own ([`Self::enqueue_digests`]).
    pub async fn round(&self, stop: &Stop) -> anyhow::Result<DeliveryReport> {
        let mut total = DeliveryReport::default();
        loop {
            let report = self.deliver_due(stop).await?;
            total.sent += report.sent;
            total.retried += report.retried;
            total.dead += report.dead;
            total.released += report.released;
            total.throttled += report.throttled;
            if report.handled() == 0 || stop.is_stopping() {
                break;
            }
            tracing::info!(sent = report.sent, retried = report.retried, dead = report.dead, "delivery round");
        }
        Ok(total)
    }

    /// Settles every job this worker still holds, after its round was cut short (a stop that
    /// could not wait): one never started goes back to `pending`; one whose call started has
    /// an unknown outcome and becomes a dead letter (at most once). Returns how many it
    /// settled.
    pub async fn give_back(&self) -> anyhow::Result<usize> {
        let held: Vec<(DeliveryId, bool)> = self.held().drain().collect();
        let at = self.clock.now();
        for &(id, started) in &held {
            if started {
                tracing::warn!(delivery = id.get(), "stopped while delivering; outcome unknown, now a dead letter");
                self.outbox
                    .mark_dead(id, "the server stopped while delivering it; it may or may not have gone out", at)
                    .await?;
            } else {
                self.outbox.release(id, at).await?;
            }
        }
        Ok(held.len())
    }
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};

    use super::*;
    use crate::accounts::{Email, UserId};
    use crate::clock::FixedClock;
    use crate::notifications::{
        DigestItem, MockMailer, MockOutboxRepository, MockProbePort, MockUnsubscribeTokens, NotificationKind, ProbeJob,
    };
    use crate::stop::StopSignal;

    fn start() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap()
    }

    fn email_job(id: i64, attempts: u32) -> ClaimedDelivery {
        ClaimedDelivery {
            id: DeliveryId::new(id),
            idempotency_key: format!("email:{id}"),
            attempts,
            payload: DeliveryPayload::Email(EmailPayload {
                recipient: UserId::new(2),
                to: Email::parse("a@uni.edu").unwrap(),
                to_name: "A".into(),
                kind: NotificationKind::Resolved,
                ticket_id: None,
                ticket_title: None,
                payload: "{}".into(),
                digest: None,
            }),
        }
    }

    fn job(attempts: u32) -> ClaimedDelivery {
        email_job(1, attempts)
    }

    fn probe_job(id: i64, attempts: u32) -> ClaimedDelivery {
        ClaimedDelivery {
            id: DeliveryId::new(id),
            idempotency_key: format!("probe:{id}"),
            attempts,
            payload: DeliveryPayload::Integration {
                ticket: TicketId::new(9),
                job: IntegrationJob::Probe(ProbeJob { step: 1 }),
            },
        }
    }

    fn tokens() -> Arc<MockUnsubscribeTokens> {
        let mut t = MockUnsubscribeTokens::new();
        t.expect_sign().returning(|user, scope| format!("{}:{}", user.get(), scope.as_str()));
        Arc::new(t)
    }

    fn worker_with(outbox: MockOutboxRepository, channels: Channels, settings: WorkerSettings) -> DeliveryWorker {
        DeliveryWorker::new(
            Arc::new(outbox),
            channels,
            tokens(),
            Arc::new(FixedClock(start())),
            Arc::new(|| 1.0),
            settings,
        )
    }

    fn worker(outbox: MockOutboxRepository, mailer: MockMailer) -> DeliveryWorker {
        let settings =
            WorkerSettings { email: RetryPolicy { max_attempts: 3, ..RetryPolicy::email() }, ..Default::default() };
        worker_with(outbox, Channels::new(Arc::new(mailer)), settings)
    }

    /// Name, attempts so far, what the mailer answers, the expected report.
    type Case = (&'static str, u32, fn() -> Result<(), DeliveryError>, DeliveryReport);

    #[tokio::test]
    async fn outcomes_by_error_and_attempt() {
        let report = |sent, retried, dead| DeliveryReport { sent, retried, dead, released: 0, throttled: 0 };
        let cases: &[Case] = &[
            ("sent", 1, || Ok(()), report(1, 0, 0)),
            ("transient retries", 1, || Err(DeliveryError::later("421")), report(0, 1, 0)),
            ("transient at the last attempt dies", 3, || Err(DeliveryError::later("421")), report(0, 0, 1)),
            ("permanent dies at once", 1, || Err(DeliveryError::Never("550".into())), report(0, 0, 1)),
        ];
        for &(name, attempts, outcome, expected) in cases {
            let mut outbox = MockOutboxRepository::new();
            outbox.expect_claim().times(1).returning(move |_, _, _| Ok(vec![job(attempts)]));
            outbox.expect_mark_sent().times(usize::from(expected.sent == 1)).returning(|_, _| Ok(()));
            outbox
                .expect_retry_later()
                .times(usize::from(expected.retried == 1))
                .withf(|_, next, error, _| *next == start() + Duration::seconds(30) && error == "transient: 421")
                .returning(|_, _, _, _| Ok(()));
            outbox.expect_mark_dead().times(usize::from(expected.dead == 1)).returning(|_, _, _| Ok(()));
            let mut mailer = MockMailer::new();
            mailer.expect_send().times(1).returning(move |_| outcome());
            assert_eq!(worker(outbox, mailer).deliver_due(&Stop::never()).await.unwrap(), expected, "{name}");
        }
    }

    #[tokio::test]
    async fn integration_jobs_go_to_their_port_retry_within_5_seconds_and_wait_as_the_remote_asks() {
        let asked = start() + Duration::seconds(90);
        // What the port answers, and when the job is due again.
        let cases: Vec<(Result<(), DeliveryError>, DateTime<Utc>)> = vec![
            (Err(DeliveryError::later("503")), start() + Duration::seconds(5)),
            (Err(DeliveryError::Later { message: "429".into(), at: Some(asked) }), asked),
        ];
        for (answer, due) in cases {
            let mut outbox = MockOutboxRepository::new();
            outbox.expect_claim().times(1).returning(|_, _, _| Ok(vec![probe_job(4, 1)]));
            outbox
                .expect_retry_later()
                .times(1)
                .withf(move |id, next, _, _| id.get() == 4 && *next == due)
                .returning(|_, _, _, _| Ok(()));
            let mut probe = MockProbePort::new();
            probe
                .expect_deliver()
                .times(1)
                .withf(|ticket, job| ticket.get() == 9 && job.step == 1)
                .returning(move |_, _| answer.clone());
            let channels = Channels::new(Arc::new(MockMailer::new())).with_probe(Arc::new(probe));
            let report = worker_with(outbox, channels, WorkerSettings::default()).deliver_due(&Stop::never()).await;
            assert_eq!(report.unwrap().retried, 1);
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
            Channels::new(Arc::new(MockMailer::new())),
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
            let mut job = job(1);
            if let DeliveryPayload::Email(email) = &mut job.payload {
                email.digest = Some(vec![DigestItem {
                    kind: NotificationKind::Reply,
                    ticket_id: None,
                    ticket_title: Some("T".into()),
                    created_at: start(),
                }]);
            }
            Ok(vec![job])
        });
        outbox.expect_mark_sent().times(1).returning(|_, _| Ok(()));
        let mut mailer = MockMailer::new();
        mailer
            .expect_send()
            .times(1)
            .withf(|e| e.unsubscribe_token == "2:digest" && e.digest.as_ref().is_some_and(|d| d.len() == 1))
            .returning(|_| Ok(()));
        assert_eq!(worker(outbox, mailer).deliver_due(&Stop::never()).await.unwrap().sent, 1);
    }

    #[tokio::test]
    async fn a_stop_during_a_round_finishes_the_call_in_flight_and_gives_back_the_rest() {
        let (signal, stop) = StopSignal::new();
        let signal = Arc::new(signal);
        let mut outbox = MockOutboxRepository::new();
        outbox.expect_claim().times(1).returning(|_, _, _| Ok(vec![email_job(1, 1), email_job(2, 1), email_job(3, 1)]));
        outbox.expect_mark_sent().times(1).withf(|id, _| id.get() == 1).returning(|_, _| Ok(()));
        outbox.expect_release().times(2).withf(|id, _| id.get() != 1).returning(|_, _| Ok(()));
        let mut mailer = MockMailer::new();
        let stopper = signal.clone();
        // The stop arrives while the first email is being sent.
        mailer.expect_send().times(1).returning(move |_| {
            stopper.stop();
            Ok(())
        });
        let settings = WorkerSettings { concurrency: 1, ..Default::default() };
        let w = worker_with(outbox, Channels::new(Arc::new(mailer)), settings);
        let report = w.round(&stop).await.unwrap();
        assert_eq!(report, DeliveryReport { sent: 1, retried: 0, dead: 0, released: 2, throttled: 0 });
        assert_eq!(w.give_back().await.unwrap(), 0, "nothing is left held");
    }

    #[tokio::test]
    async fn give_back_settles_what_a_cut_short_round_held() {
        let mut outbox = MockOutboxRepository::new();
        outbox.expect_claim().times(1).returning(|_, _, _| Ok(vec![email_job(1, 1), email_job(2, 1)]));
        // The call that started has an unknown outcome: a dead letter, never sent twice.
        outbox.expect_mark_dead().times(1).withf(|id, _, _| id.get() == 1).returning(|_, _, _| Ok(()));
        outbox.expect_release().times(1).withf(|id, _| id.get() == 2).returning(|_, _| Ok(()));
        let (started_tx, mut started) = tokio::sync::mpsc::unbounded_channel();
        let mut mailer = MockMailer::new();
        mailer.expect_send().times(1).returning(move |_| {
            started_tx.send(()).ok();
            Ok(())
        });
        let settings = WorkerSettings { concurrency: 1, ..Default::default() };
        let w = worker_with(outbox, Channels::new(Arc::new(Hang(mailer))), settings);
        let round = tokio::spawn({
            let w = w.clone();
            async move { w.deliver_due(&Stop::never()).await }
        });
        started.recv().await.expect("the first call started");
        round.abort();
        assert!(round.await.unwrap_err().is_cancelled());
        assert_eq!(w.give_back().await.unwrap(), 2);
    }

    /// A relay that never answers: the call is reported to the mock, then only cancelling
    /// the round ends it.
    struct Hang(MockMailer);

    #[async_trait::async_trait]
    impl Mailer for Hang {
        async fn send(&self, email: &OutgoingEmail) -> Result<(), DeliveryError> {
            let _ = self.0.send(email).await;
            std::future::pending().await
        }
    }
}
