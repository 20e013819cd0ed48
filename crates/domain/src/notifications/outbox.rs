//! The outbox's vocabulary: the channels it delivers on, what a job of each channel carries,
//! how a channel's port reports a failure, and how failed jobs are retried.
//!
//! Adding a channel (the Discourse forum, Google Chat) is adding a [`Channel`] variant, its
//! payload (a variant of [`IntegrationJob`] for per-ticket work), its port (a field of
//! [`super::Channels`]) and the match arms the compiler then asks for; the store, the claim
//! query, leases, retries and dead letters need no change.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::accounts::{Email, UserId};
use crate::tickets::TicketId;

use super::{next_attempt, Backoff, DeliveryId, DigestItem, NotificationKind};

/// Where a delivery goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Channel {
    /// Email to one user (one per event, or the daily digest), through the `Mailer`.
    Email,
    /// A message about an escalated ticket to one chat webhook, in the ticket's chat thread.
    Chat,
    /// A call to the Discourse forum about a ticket's thread.
    Forum,
    /// A per-ticket channel that exists only in tests (feature `mocks`), so the outbox's
    /// ordering and retries of integration jobs are tested before the forum and chat
    /// channels exist.
    #[cfg(any(test, feature = "mocks"))]
    Probe,
}

/// Whom a channel's jobs are for, which decides whether they are ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobScope {
    /// One user each (emails, digests): independent of each other, so never ordered.
    User,
    /// One ticket each (forum posts, chat messages): a ticket's jobs on one channel run in
    /// the order they were enqueued.
    Ticket,
}

impl Channel {
    /// Every channel.
    pub fn all() -> Vec<Self> {
        #[allow(unused_mut)]
        let mut all = vec![Self::Email, Self::Chat, Self::Forum];
        #[cfg(any(test, feature = "mocks"))]
        all.push(Self::Probe);
        all
    }

    /// The stored and wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Email => "email",
            Self::Chat => "chat",
            Self::Forum => "forum",
            #[cfg(any(test, feature = "mocks"))]
            Self::Probe => "probe",
        }
    }

    /// The channel with this name.
    pub fn parse(raw: &str) -> Option<Self> {
        Self::all().into_iter().find(|c| c.as_str() == raw)
    }

    /// Whom its jobs are for.
    pub fn scope(self) -> JobScope {
        match self {
            Self::Email => JobScope::User,
            Self::Chat | Self::Forum => JobScope::Ticket,
            #[cfg(any(test, feature = "mocks"))]
            Self::Probe => JobScope::Ticket,
        }
    }
}

/// The work of a per-ticket integration job, one variant per integration channel, stored
/// with the job as JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IntegrationJob {
    /// One chat message.
    Chat(ChatJob),
    /// One forum call.
    Forum(crate::forum::ForumJob),
    /// A step of the test channel.
    #[cfg(any(test, feature = "mocks"))]
    Probe(ProbeJob),
}

impl IntegrationJob {
    /// The channel that carries it.
    pub fn channel(&self) -> Channel {
        match *self {
            Self::Chat(_) => Channel::Chat,
            Self::Forum(_) => Channel::Forum,
            #[cfg(any(test, feature = "mocks"))]
            Self::Probe(_) => Channel::Probe,
        }
    }

    /// The stored form.
    pub fn encode(&self) -> anyhow::Result<String> {
        Ok(serde_json::to_string(self)?)
    }

    /// The job stored as `raw` on `channel`; an error if it is not one of that channel's.
    pub fn decode(channel: Channel, raw: &str) -> anyhow::Result<Self> {
        let job: Self = serde_json::from_str(raw)?;
        anyhow::ensure!(
            job.channel() == channel,
            "a {} job stored on channel {}",
            job.channel().as_str(),
            channel.as_str()
        );
        Ok(job)
    }
}

/// A chat job: the message about one ticket event (an escalation, or a later event of an
/// escalated ticket) to one chat webhook. The message itself is built when it is sent, from
/// the event and the ticket as they are then.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatJob {
    /// The ticket event.
    pub event: i64,
    /// The webhook.
    pub webhook: i64,
}

/// The test channel's payload: a step number the test reads back in delivery order.
#[cfg(any(test, feature = "mocks"))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProbeJob {
    /// The step.
    pub step: u32,
}

/// One email, as the store reads it when the delivery is claimed.
#[derive(Debug, Clone, PartialEq)]
pub struct EmailPayload {
    /// Who gets it.
    pub recipient: UserId,
    /// Their address.
    pub to: Email,
    /// Their name.
    pub to_name: String,
    /// What happened.
    pub kind: NotificationKind,
    /// The ticket.
    pub ticket_id: Option<TicketId>,
    /// Its title.
    pub ticket_title: Option<String>,
    /// The recorded change, as JSON.
    pub payload: String,
    /// For a daily digest: the notifications it lists, oldest first; `None` for one email
    /// per event.
    pub digest: Option<Vec<DigestItem>>,
}

/// What a claimed delivery carries, by the kind of job.
#[derive(Debug, Clone, PartialEq)]
pub enum DeliveryPayload {
    /// A per-user delivery on the email channel.
    Email(EmailPayload),
    /// A per-ticket integration job.
    Integration {
        /// The ticket it is about (its jobs on one channel run in order).
        ticket: TicketId,
        /// The work.
        job: IntegrationJob,
    },
}

/// A job a worker claimed, with everything its channel's port needs.
#[derive(Debug, Clone, PartialEq)]
pub struct ClaimedDelivery {
    /// Identifier.
    pub id: DeliveryId,
    /// Unique per job (`email:<notification id>`, `digest:<user>:<day>`, or the integration
    /// job's key); sent along (an email's Message-ID) so a remote that deduplicates can.
    pub idempotency_key: String,
    /// Attempts so far, this one included.
    pub attempts: u32,
    /// The work.
    pub payload: DeliveryPayload,
}

impl ClaimedDelivery {
    /// The channel it goes out on.
    pub fn channel(&self) -> Channel {
        match &self.payload {
            DeliveryPayload::Email(_) => Channel::Email,
            DeliveryPayload::Integration { job, .. } => job.channel(),
        }
    }

    /// The email, for a delivery on the email channel.
    pub fn email(&self) -> Option<&EmailPayload> {
        match &self.payload {
            DeliveryPayload::Email(email) => Some(email),
            DeliveryPayload::Integration { .. } => None,
        }
    }
}

/// How a channel's port reports that a call failed. Messages MUST NOT contain addresses,
/// bodies or secrets: they are stored and shown to admins.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeliveryError {
    /// Worth trying again (connection refused, timeout, a 5xx, an SMTP 4xx, a 429): the
    /// remote system certainly did not act on it. `at` is when the remote system asked to
    /// be called again (`Retry-After`), if it did.
    #[error("transient: {message}")]
    Later {
        /// What went wrong.
        message: String,
        /// The time the remote system asked for.
        at: Option<DateTime<Utc>>,
    },
    /// Will not succeed as it is (a 4xx other than 429, a bad address): dead letter now,
    /// with the remote system's message.
    #[error("permanent: {0}")]
    Never(String),
    /// Not attempted: a rate limit of ours (a chat space's write limit) holds it until `at`.
    /// The job goes back to the queue uncounted, as if it had not been claimed.
    #[error("held by the rate limit until {at}")]
    Throttled {
        /// When the limit allows it.
        at: DateTime<Utc>,
    },
}

impl DeliveryError {
    /// A transient failure with no time asked for.
    pub fn later(message: impl Into<String>) -> Self {
        Self::Later { message: message.into(), at: None }
    }
}

/// How a kind of job is retried after a transient failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Spacing: `base · 2^(attempts-1)`, capped, with jitter ×0.5–1.
    pub backoff: Backoff,
    /// Attempts before the job becomes a dead letter.
    pub max_attempts: u32,
}

impl RetryPolicy {
    /// Email: from 30 s up to an hour, 8 attempts (about 2 hours in all); a relay that is
    /// down for longer leaves dead letters an admin can retry.
    pub fn email() -> Self {
        Self { backoff: Backoff { base: Duration::seconds(30), max: Duration::hours(1) }, max_attempts: 8 }
    }

    /// Integration jobs: the first retry within 5 s (most 5xx and timeouts are blips), then
    /// exponential up to 10 minutes; 30 attempts cover about four hours of outage before a
    /// job becomes a dead letter.
    pub fn integration() -> Self {
        Self { backoff: Backoff { base: Duration::seconds(5), max: Duration::minutes(10) }, max_attempts: 30 }
    }

    /// When to try again after the `attempts`-th attempt failed at `now`: the time the remote
    /// system asked for, exactly, if it asked (never in the past), else the backoff with
    /// `jitter` in `[0, 1]`.
    pub fn next(self, attempts: u32, now: DateTime<Utc>, asked: Option<DateTime<Utc>>, jitter: f64) -> DateTime<Utc> {
        match asked {
            Some(at) => at.max(now),
            None => next_attempt(self.backoff, attempts, now, jitter),
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn channels_round_trip_and_know_their_scope() {
        for channel in Channel::all() {
            assert_eq!(Channel::parse(channel.as_str()), Some(channel));
        }
        assert_eq!(Channel::parse("digest"), None, "a digest is an email");
        assert_eq!(Channel::Email.scope(), JobScope::User);
        assert_eq!(Channel::Probe.scope(), JobScope::Ticket);
    }

    #[test]
    fn integration_jobs_round_trip_and_are_checked_against_their_channel() {
        let job = IntegrationJob::Probe(ProbeJob { step: 3 });
        let raw = job.encode().unwrap();
        assert_eq!(IntegrationJob::decode(Channel::Probe, &raw).unwrap(), job);
        assert!(IntegrationJob::decode(Channel::Email, &raw).is_err());
        assert!(IntegrationJob::decode(Channel::Probe, "{\"nope\":1}").is_err());
    }

    #[test]
    fn integration_retries_start_within_5_seconds_back_off_to_10_minutes_and_obey_retry_after() {
        let now = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        let p = RetryPolicy::integration();
        // attempts, jitter, expected delay in ms
        let cases: &[(u32, f64, i64)] = &[
            (1, 1.0, 5_000),
            (1, 0.0, 2_500),
            (2, 1.0, 10_000),
            (3, 1.0, 20_000),
            (8, 1.0, 600_000),
            (29, 1.0, 600_000),
            (29, 0.0, 300_000),
        ];
        for &(attempts, jitter, ms) in cases {
            assert_eq!(p.next(attempts, now, None, jitter), now + Duration::milliseconds(ms), "{attempts} {jitter}");
        }
        let asked = now + Duration::seconds(37);
        assert_eq!(p.next(1, now, Some(asked), 0.3), asked, "a 429 waits exactly as asked");
        assert_eq!(p.next(1, now, Some(now - Duration::seconds(5)), 0.3), now, "never in the past");
        assert_eq!(RetryPolicy::email().next(1, now, None, 1.0), now + Duration::seconds(30));
    }
}
