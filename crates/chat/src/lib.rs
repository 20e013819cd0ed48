//! Escalation messages to chat spaces through incoming webhooks.
//!
//! A webhook is of a [`Kind`]: Google Chat (a `cardsV2` card with a plain `text` fallback,
//! posted in the ticket's thread: `thread.threadKey = ticket-<number>` and
//! `messageReplyOption=REPLY_MESSAGE_FALLBACK_TO_NEW_THREAD`, with the job's `requestId` so
//! that a repeated request makes no second message) or Slack (Block Kit; Slack's webhooks
//! cannot reply in a thread, so every message is posted on its own). [`WebhookClient::post`]
//! sends one message and says how a failure failed ([`PostError`]): worth retrying (a 429,
//! honouring `Retry-After`; a 5xx; a timeout or refused connection) or not (another 4xx,
//! with the provider's message). A webhook URL carries its secret, so it never appears in an
//! error or a log line: [`redact`] shows the host and the last four characters.

mod google;
mod limit;
mod slack;

use std::time::{Duration, Instant};

use async_trait::async_trait;
use domain::escalation::{ChatMessage, ChatNotifier, ChatWebhook};
use domain::notifications::DeliveryError;
pub use google::{google_body, google_url, MAX_MESSAGE_BYTES};
pub use limit::RateLimiter;
pub use slack::slack_body;

/// Which chat provider a webhook belongs to: the domain's `ChatKind`, which the store and
/// the API name too.
pub use domain::escalation::ChatKind as Kind;

/// How posting a message failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PostError {
    /// Worth trying again: the provider certainly did not post it. `after` is how long the
    /// provider asked to wait (`Retry-After`), if it did.
    #[error("try again later: {message}")]
    Later {
        /// What went wrong (never the URL).
        message: String,
        /// The wait the provider asked for.
        after: Option<Duration>,
    },
    /// Will not succeed as it is (bad payload, revoked or deleted webhook): with the
    /// provider's message.
    #[error("refused: {0}")]
    Never(String),
}

/// Shows a webhook URL without its secret: `https://chat.googleapis.com/…wxyz`.
pub use domain::escalation::redact_url as redact;

/// The chat port: posts through [`WebhookClient`], each webhook held to its rate limit
/// (Google Chat allows 60 messages a minute per space, shared by every app posting there, so
/// osts keeps below it: `OSTS_CHAT_REQUESTS_PER_MINUTE`).
#[derive(Debug)]
pub struct ChatClient {
    client: WebhookClient,
    limiter: RateLimiter,
}

impl ChatClient {
    /// A client whose calls give up after `timeout`, posting at most `per_minute` messages a
    /// minute to each webhook.
    pub fn new(timeout: Duration, per_minute: u32) -> Result<Self, PostError> {
        Ok(Self { client: WebhookClient::new(timeout)?, limiter: RateLimiter::per_minute(per_minute) })
    }
}

#[async_trait]
impl ChatNotifier for ChatClient {
    async fn post(&self, webhook: &ChatWebhook, request_id: &str, message: &ChatMessage) -> Result<(), DeliveryError> {
        if let Err(wait) = self.limiter.try_take(webhook.id.get(), Instant::now()) {
            let wait = chrono::Duration::from_std(wait).unwrap_or_else(|_| chrono::Duration::minutes(1));
            return Err(DeliveryError::Throttled { at: chrono::Utc::now() + wait });
        }
        self.client.post(webhook.kind, &webhook.url, request_id, message).await.map_err(|e| match e {
            PostError::Later { message, after } => DeliveryError::Later {
                message,
                at: after.and_then(|a| chrono::Duration::from_std(a).ok()).map(|a| chrono::Utc::now() + a),
            },
            PostError::Never(message) => DeliveryError::Never(message),
        })
    }
}

/// Posts messages to webhooks.
#[derive(Debug, Clone)]
pub struct WebhookClient {
    http: reqwest::Client,
}

impl WebhookClient {
    /// A client whose calls give up after `timeout`.
    pub fn new(timeout: Duration) -> Result<Self, PostError> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| PostError::Never(format!("cannot build the HTTP client: {}", e.without_url())))?;
        Ok(Self { http })
    }

    /// Posts `message` to the webhook at `url` of `kind`; `request_id` identifies this job,
    /// so a retried request does not make a second message where the provider honours it.
    pub async fn post(&self, kind: Kind, url: &str, request_id: &str, message: &ChatMessage) -> Result<(), PostError> {
        let (url, body) = match kind {
            Kind::GoogleChat => (google_url(url, request_id)?, google_body(message)),
            Kind::Slack => (parse_url(url)?, slack_body(message)),
        };
        let response = self.http.post(url).json(&body).send().await.map_err(|e| PostError::Later {
            message: format!("the webhook did not answer: {}", e.without_url()),
            after: None,
        })?;
        classify(kind, response).await
    }
}

pub(crate) fn parse_url(url: &str) -> Result<reqwest::Url, PostError> {
    reqwest::Url::parse(url).map_err(|_| PostError::Never("the webhook URL is not a valid URL".into()))
}

/// Reads a provider's answer: 2xx is posted, 429 and 5xx are worth retrying, other 4xx not.
async fn classify(kind: Kind, response: reqwest::Response) -> Result<(), PostError> {
    let status = response.status();
    if status.is_success() {
        return Ok(());
    }
    let after = response
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs);
    let text = response.text().await.unwrap_or_default();
    let said = provider_message(kind, &text);
    let message = format!("{} {}{}", status.as_u16(), status.canonical_reason().unwrap_or(""), said);
    if status.as_u16() == 429 || status.is_server_error() {
        Err(PostError::Later { message, after })
    } else {
        Err(PostError::Never(message))
    }
}

/// What the provider said about an error, cut short: Google's `error.message`, Slack's
/// plain-text error string.
fn provider_message(kind: Kind, body: &str) -> String {
    let said = match kind {
        Kind::GoogleChat => serde_json::from_str::<serde_json::Value>(body)
            .ok()
            .and_then(|v| v["error"]["message"].as_str().map(str::to_owned))
            .unwrap_or_default(),
        Kind::Slack => body.trim().to_owned(),
    };
    let said: String = said.chars().filter(|c| !c.is_control()).take(300).collect();
    if said.is_empty() {
        String::new()
    } else {
        format!(": {said}")
    }
}

/// Cuts `s` to at most `max` characters, ending with `…` when it was cut.
pub(crate) fn cut(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_owned();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redaction_keeps_the_host_and_the_last_four_characters() {
        let url = "https://chat.googleapis.com/v1/spaces/AAA/messages?key=SECRETKEY&token=SECRET-TOKEN-wxyz";
        let shown = redact(url);
        assert_eq!(shown, "https://chat.googleapis.com/…wxyz");
        assert!(!shown.contains("SECRET"));
    }

    #[test]
    fn kinds_round_trip_and_texts_are_cut() {
        for kind in [Kind::GoogleChat, Kind::Slack] {
            assert_eq!(Kind::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(cut("abcdef", 4), "abc…");
        assert_eq!(cut("abc", 4), "abc");
    }

    #[test]
    fn provider_messages_are_read_and_bounded() {
        let google = r#"{"error":{"code":400,"message":"Invalid JSON payload","status":"INVALID_ARGUMENT"}}"#;
        assert_eq!(provider_message(Kind::GoogleChat, google), ": Invalid JSON payload");
        assert_eq!(provider_message(Kind::Slack, "invalid_payload\n"), ": invalid_payload");
        assert_eq!(provider_message(Kind::Slack, ""), "");
        assert!(provider_message(Kind::Slack, &"x".repeat(1000)).len() <= 302);
    }
}
