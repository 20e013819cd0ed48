//! The delivery worker: claims due deliveries, sends them, and records the outcome.
//!
//! Email is **at most once** through our own retries: a delivery is marked `sending` with a
//! lease before the SMTP conversation starts, and one whose lease runs out (the worker died
//! mid-send, outcome unknown) becomes a dead letter rather than being sent again; an admin
//! decides. A failure the mailer calls transient (the message was certainly not accepted) is
//! retried with exponential backoff and jitter up to `max_attempts`, then dead-lettered.
//! The in-app channel needs no worker: its rows commit with the change (exactly once).

use std::sync::Arc;

use chrono::Duration;

use crate::clock::Clock;

use super::{next_attempt, Backoff, MailError, Mailer, OutboxRepository, OutgoingEmail};

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
}

impl Default for WorkerSettings {
    fn default() -> Self {
        Self { batch: 50, lease: Duration::minutes(5), max_attempts: 8, backoff: Backoff::default() }
    }
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

/// Delivers the outbox's email.
#[derive(Clone)]
pub struct DeliveryWorker {
    outbox: Arc<dyn OutboxRepository>,
    mailer: Arc<dyn Mailer>,
    clock: Arc<dyn Clock>,
    jitter: Arc<dyn Fn() -> f64 + Send + Sync>,
    settings: WorkerSettings,
}

impl DeliveryWorker {
    /// A worker; `jitter` returns a number in `[0, 1]` (random in production, fixed in tests).
    pub fn new(
        outbox: Arc<dyn OutboxRepository>,
        mailer: Arc<dyn Mailer>,
        clock: Arc<dyn Clock>,
        jitter: Arc<dyn Fn() -> f64 + Send + Sync>,
        settings: WorkerSettings,
    ) -> Self {
        Self { outbox, mailer, clock, jitter, settings }
    }

    /// Claims the deliveries due now, sends each, and records each outcome.
    pub async fn deliver_due(&self) -> anyhow::Result<DeliveryReport> {
        let now = self.clock.now();
        let claimed = self.outbox.claim(now, self.settings.lease, self.settings.batch).await?;
        let mut report = DeliveryReport::default();
        for job in claimed {
            let email = OutgoingEmail {
                idempotency_key: job.idempotency_key,
                recipient: job.recipient,
                to: job.to,
                to_name: job.to_name,
                kind: job.kind,
                ticket_id: job.ticket_id,
                ticket_title: job.ticket_title,
                payload: job.payload,
            };
            let result = self.mailer.send(&email).await;
            let at = self.clock.now();
            match result {
                Ok(()) => {
                    self.outbox.mark_sent(job.id, at).await?;
                    report.sent += 1;
                }
                Err(MailError::Transient(e)) if job.attempts < self.settings.max_attempts => {
                    let next = next_attempt(self.settings.backoff, job.attempts, at, (self.jitter)());
                    tracing::info!(delivery = job.id.get(), attempts = job.attempts, %next, error = %e, "delivery failed; will retry");
                    self.outbox.retry_later(job.id, next, &e, at).await?;
                    report.retried += 1;
                }
                Err(e) => {
                    tracing::warn!(delivery = job.id.get(), attempts = job.attempts, error = %e, "delivery is a dead letter");
                    self.outbox.mark_dead(job.id, &e.to_string(), at).await?;
                    report.dead += 1;
                }
            }
        }
        Ok(report)
    }
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};

    use super::*;
    use crate::accounts::{Email, UserId};
    use crate::clock::FixedClock;
    use crate::notifications::{ClaimedDelivery, DeliveryId, MockMailer, MockOutboxRepository, NotificationKind};

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
        }
    }

    fn worker(outbox: MockOutboxRepository, mailer: MockMailer) -> DeliveryWorker {
        let clock = FixedClock(Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap());
        DeliveryWorker::new(
            Arc::new(outbox),
            Arc::new(mailer),
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
}
