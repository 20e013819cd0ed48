//! Discourse's outgoing webhooks: checking a delivery's signature and reading the events osts
//! acts on.
//!
//! Discourse signs each delivery with `X-Discourse-Event-Signature: sha256=<hex>`, the
//! HMAC-SHA256 of the raw body keyed with the webhook's secret; the check is constant-time
//! and happens before the body is parsed. A retried delivery carries a new
//! `X-Discourse-Event-Id`, so deliveries are deduplicated by [`Event::dedup_key`] (what
//! happened to which post or topic), not by that id.

use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;

/// Why a delivery was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebhookError {
    /// No signature, or not the body's under the shared secret.
    #[error("the webhook signature is missing or does not match")]
    BadSignature,
    /// The body is not the JSON Discourse sends for the event.
    #[error("the webhook body is malformed: {0}")]
    Malformed(&'static str),
}

/// Checks `signature` (the `X-Discourse-Event-Signature` header) against the raw `body`.
pub fn verify(secret: &str, body: &[u8], signature: Option<&str>) -> Result<(), WebhookError> {
    let hex = signature.and_then(|s| s.trim().strip_prefix("sha256=")).ok_or(WebhookError::BadSignature)?;
    // A SHA-256 is 32 bytes: anything else cannot match.
    let expected = crate::decode_hex(hex).filter(|b| b.len() == 32).ok_or(WebhookError::BadSignature)?;
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any size"));
    mac.update(body);
    mac.verify_slice(&expected).map_err(|_| WebhookError::BadSignature)
}

/// The header value Discourse would send for `body` (for fakes and tests).
pub fn signature(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any size"));
    mac.update(body);
    format!("sha256={}", crate::encode_hex(&mac.finalize().into_bytes()))
}

/// A post in a thread, as a webhook describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostEvent {
    /// The post's id.
    pub post_id: i64,
    /// Its topic (the ticket's thread).
    pub topic_id: i64,
    /// Its number in the topic (1 is the opening post).
    pub post_number: i64,
    /// Who wrote it (forum username).
    pub username: String,
    /// Its Markdown.
    pub raw: String,
}

/// What a delivery says happened, of what osts acts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// Discourse's test delivery.
    Ping,
    /// A reply was posted in a topic.
    PostCreated(PostEvent),
    /// Someone liked a post.
    PostLiked {
        /// The post.
        post: PostEvent,
        /// Who liked it.
        by: String,
    },
    /// A topic was closed or reopened on the forum.
    TopicClosed {
        /// The topic.
        topic_id: i64,
        /// Closed now (`false`: reopened).
        closed: bool,
    },
    /// Anything else (edits, users, categories...): acknowledged and ignored.
    Other {
        /// The event's name.
        name: String,
    },
}

impl Event {
    /// Reads a delivery: the `X-Discourse-Event` header and the JSON body.
    pub fn parse(event: &str, body: &[u8]) -> Result<Self, WebhookError> {
        let json: Value = serde_json::from_slice(body).map_err(|_| WebhookError::Malformed("not JSON"))?;
        Ok(match event {
            "ping" => Event::Ping,
            "post_created" => Event::PostCreated(post(&json["post"])?),
            "post_liked" => {
                let like = &json["like"];
                let by = like["user"]["username"].as_str().unwrap_or_default().to_owned();
                Event::PostLiked { post: post(&like["post"])?, by }
            }
            "topic_closed_status_updated" => Event::TopicClosed {
                topic_id: json["topic"]["id"].as_i64().ok_or(WebhookError::Malformed("topic without id"))?,
                closed: json["topic"]["closed"].as_bool().ok_or(WebhookError::Malformed("topic without closed"))?,
            },
            other => Event::Other { name: other.to_owned() },
        })
    }

    /// What identifies the happening across Discourse's retries (each retry has a new event
    /// id): the event and the post or topic it concerns, with the liker or the new state.
    pub fn dedup_key(&self) -> Option<String> {
        match self {
            Event::Ping | Event::Other { .. } => None,
            Event::PostCreated(p) => Some(format!("post_created:{}", p.post_id)),
            Event::PostLiked { post, by } => Some(format!("post_liked:{}:{by}", post.post_id)),
            Event::TopicClosed { topic_id, closed } => Some(format!("topic_closed:{topic_id}:{closed}")),
        }
    }
}

fn post(json: &Value) -> Result<PostEvent, WebhookError> {
    Ok(PostEvent {
        post_id: json["id"].as_i64().ok_or(WebhookError::Malformed("post without id"))?,
        topic_id: json["topic_id"].as_i64().ok_or(WebhookError::Malformed("post without topic_id"))?,
        post_number: json["post_number"].as_i64().unwrap_or(0),
        username: json["username"].as_str().unwrap_or_default().to_owned(),
        raw: json["raw"].as_str().unwrap_or_default().to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "webhook secret 123";

    #[test]
    fn signatures_are_checked_over_the_raw_body() {
        let body = br#"{"ping":"OK"}"#;
        let sig = signature(SECRET, body);
        assert!(sig.starts_with("sha256=") && sig.len() == 71);
        assert_eq!(verify(SECRET, body, Some(&sig)), Ok(()));
        assert_eq!(verify(SECRET, br#"{"ping":"OK" }"#, Some(&sig)), Err(WebhookError::BadSignature));
        assert_eq!(verify("another secret", body, Some(&sig)), Err(WebhookError::BadSignature));
        assert_eq!(verify(SECRET, body, None), Err(WebhookError::BadSignature));
        assert_eq!(verify(SECRET, body, Some(sig.trim_start_matches("sha256="))), Err(WebhookError::BadSignature));
        assert_eq!(verify(SECRET, body, Some("sha256=zz")), Err(WebhookError::BadSignature));
    }

    #[test]
    fn events_osts_acts_on_are_read_and_keyed_across_retries() {
        let created = br#"{"post":{"id":88,"topic_id":7,"post_number":3,"username":"ada","raw":"Still broken","topic_archetype":"private_message"}}"#;
        let event = Event::parse("post_created", created).unwrap();
        assert_eq!(
            event,
            Event::PostCreated(PostEvent {
                post_id: 88,
                topic_id: 7,
                post_number: 3,
                username: "ada".into(),
                raw: "Still broken".into()
            })
        );
        assert_eq!(event.dedup_key().as_deref(), Some("post_created:88"));
        let liked = br#"{"like":{"post":{"id":88,"topic_id":7,"post_number":3,"username":"ada"},"user":{"id":5,"username":"bo"}}}"#;
        assert_eq!(Event::parse("post_liked", liked).unwrap().dedup_key().as_deref(), Some("post_liked:88:bo"));
        let closed = br#"{"topic":{"id":7,"closed":true,"archived":false}}"#;
        assert_eq!(
            Event::parse("topic_closed_status_updated", closed).unwrap(),
            Event::TopicClosed { topic_id: 7, closed: true }
        );
        assert_eq!(Event::parse("ping", br#"{"ping":"OK"}"#).unwrap(), Event::Ping);
        assert_eq!(Event::parse("user_created", br#"{"user":{}}"#).unwrap().dedup_key(), None);
        assert_eq!(Event::parse("post_created", b"{}"), Err(WebhookError::Malformed("post without id")));
        assert_eq!(Event::parse("post_created", b"not json"), Err(WebhookError::Malformed("not JSON")));
    }
}
