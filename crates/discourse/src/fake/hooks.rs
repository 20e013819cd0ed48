//! The fake forum's outgoing webhooks: one POST per event to the configured URL, with
//! Discourse's headers (`X-Discourse-Event`, `-Event-Type`, `-Event-Id`, `-Instance`) and
//! `X-Discourse-Event-Signature: sha256=<hex HMAC of the raw body>` when a secret is set.
//! Deliveries go out one at a time, in the order the events happened, from a background
//! task; like Discourse with `retry_web_hook_events` off, a failed delivery is not retried
//! unless a test asks ([`super::FakeDiscourse::retry_webhook`]).

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use serde_json::Value;
use tokio::sync::{mpsc, oneshot, watch};

use super::{SentWebhook, WebhookTarget};
use crate::webhook::signature;

/// Discourse's delivery timeout.
const TIMEOUT: Duration = Duration::from_secs(20);

/// A delivery to make.
pub(crate) struct Job {
    event_id: i64,
    event: String,
    event_type: String,
    body: String,
    target: WebhookTarget,
    done: Option<oneshot::Sender<Option<u16>>>,
}

/// The webhook side of the fake.
pub(crate) struct Hooks {
    pub target: Mutex<Option<WebhookTarget>>,
    pub sent: Mutex<Vec<SentWebhook>>,
    pub instance: Mutex<String>,
    next_id: AtomicI64,
    pending: watch::Sender<usize>,
    queue: mpsc::UnboundedSender<Job>,
}

impl Hooks {
    /// The hooks, and the queue their sender task reads.
    pub(crate) fn new(target: Option<WebhookTarget>) -> (Arc<Self>, mpsc::UnboundedReceiver<Job>) {
        let (queue, rx) = mpsc::unbounded_channel();
        let hooks = Self {
            target: Mutex::new(target),
            sent: Mutex::new(Vec::new()),
            instance: Mutex::new(String::new()),
            next_id: AtomicI64::new(1),
            pending: watch::channel(0).0,
            queue,
        };
        (Arc::new(hooks), rx)
    }

    /// Queues an event; the receiver says how the delivery went (`None`: nothing listened, or
    /// no webhook is configured).
    pub(crate) fn emit(&self, event: &str, event_type: &str, payload: &Value) -> oneshot::Receiver<Option<u16>> {
        let body = serde_json::to_string(payload).unwrap_or_default();
        let id = self.next_id.fetch_add(1, Ordering::SeqCst);
        self.queue_job(id, event, event_type, body)
    }

    fn queue_job(&self, event_id: i64, event: &str, event_type: &str, body: String) -> oneshot::Receiver<Option<u16>> {
        let (done, rx) = oneshot::channel();
        let target = self.target.lock().unwrap_or_else(PoisonError::into_inner).clone();
        let Some(target) = target else {
            let _ = done.send(None);
            return rx;
        };
        self.pending.send_modify(|n| *n += 1);
        let job = Job { event_id, event: event.into(), event_type: event_type.into(), body, target, done: Some(done) };
        if let Err(mpsc::error::SendError(job)) = self.queue.send(job) {
            self.pending.send_modify(|n| *n -= 1);
            if let Some(done) = job.done {
                let _ = done.send(None);
            }
        }
        rx
    }

    /// Sends a past delivery again: with its id (`new_id` false, as an admin's redelivery) or
    /// with a new one (as Discourse's automatic retry).
    pub(crate) fn again(&self, event_id: i64, new_id: bool) -> Option<oneshot::Receiver<Option<u16>>> {
        let past = self
            .sent
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .find(|s| s.event_id == event_id)
            .cloned()?;
        let id = if new_id { self.next_id.fetch_add(1, Ordering::SeqCst) } else { event_id };
        Some(self.queue_job(id, &past.event, &past.event_type, past.body))
    }

    /// Waits until every queued delivery has been made.
    pub(crate) async fn idle(&self) {
        let mut rx = self.pending.subscribe();
        let _ = rx.wait_for(|n| *n == 0).await;
    }
}

/// Delivers queued events one by one until the fake stops.
pub(crate) async fn run(hooks: Arc<Hooks>, mut jobs: mpsc::UnboundedReceiver<Job>) {
    let http = reqwest::Client::builder().timeout(TIMEOUT).build().unwrap_or_default();
    while let Some(mut job) = jobs.recv().await {
        let instance = hooks.instance.lock().unwrap_or_else(PoisonError::into_inner).clone();
        let mut request = http
            .post(&job.target.url)
            .header("Accept", "*/*")
            .header("Content-Type", "application/json")
            .header("User-Agent", "Discourse/fake")
            .header("X-Discourse-Instance", instance)
            .header("X-Discourse-Event-Id", job.event_id.to_string())
            .header("X-Discourse-Event-Type", &job.event_type)
            .header("X-Discourse-Event", &job.event);
        if !job.target.secret.is_empty() {
            request = request.header("X-Discourse-Event-Signature", signature(&job.target.secret, job.body.as_bytes()));
        }
        let status = request.body(job.body.clone()).send().await.ok().map(|r| r.status().as_u16());
        hooks.sent.lock().unwrap_or_else(PoisonError::into_inner).push(SentWebhook {
            event_id: job.event_id,
            event: job.event.clone(),
            event_type: job.event_type.clone(),
            body: job.body.clone(),
            status,
        });
        if let Some(done) = job.done.take() {
            let _ = done.send(status);
        }
        hooks.pending.send_modify(|n| *n = n.saturating_sub(1));
    }
}
