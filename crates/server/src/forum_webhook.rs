//! `POST /webhooks/discourse`: what the Discourse forum tells osts. The signature
//! (`X-Discourse-Event-Signature`, HMAC-SHA256 of the raw body with
//! `OSTS_DISCOURSE_WEBHOOK_SECRET`) is checked in constant time before anything is read;
//! a delivery osts has seen before (Discourse retries with a new event id) answers 200 and
//! changes nothing.

use std::sync::Arc;

use domain::forum::{ForumEvent, ForumService};
use poem::http::StatusCode;
use poem::Body;
use poem::{handler, web::Data, Request, Response};
use secrecy::{ExposeSecret as _, SecretString};

/// The endpoint's state.
pub struct DiscourseWebhook {
    /// Where forum happenings go.
    pub forum: ForumService,
    /// The shared secret; `None` refuses every delivery.
    pub secret: Option<SecretString>,
}

fn answer(status: StatusCode, code: &str, message: &str) -> Response {
    Response::builder()
        .status(status)
        .content_type("application/json")
        .body(serde_json::json!({ "code": code, "message": message, "field": null }).to_string())
}

/// Receives one delivery.
#[handler]
pub async fn receive(req: &Request, body: Body, hook: Data<&Arc<DiscourseWebhook>>) -> Response {
    // The shared middleware has already bounded the body's size and read time.
    let Ok(body) = body.into_bytes().await else {
        return answer(StatusCode::BAD_REQUEST, "bad_delivery", "the body could not be read");
    };
    let Some(secret) = &hook.secret else {
        return answer(StatusCode::UNAUTHORIZED, "webhook_not_configured", "OSTS_DISCOURSE_WEBHOOK_SECRET is not set");
    };
    let signature = req.header("X-Discourse-Event-Signature");
    if discourse::webhook::verify(secret.expose_secret(), &body, signature).is_err() {
        return answer(StatusCode::UNAUTHORIZED, "bad_signature", "the delivery's signature does not match");
    }
    let name = req.header("X-Discourse-Event").unwrap_or_default();
    let event = match discourse::webhook::Event::parse(name, &body) {
        Ok(event) => event,
        Err(e) => return answer(StatusCode::BAD_REQUEST, "bad_delivery", &e.to_string()),
    };
    let Some(key) = event.dedup_key() else { return Response::builder().status(StatusCode::OK).finish() };
    let event = match event {
        discourse::webhook::Event::PostCreated(p) => ForumEvent::Reply {
            topic_id: p.topic_id,
            post_id: p.post_id,
            post_number: p.post_number,
            username: p.username,
        },
        discourse::webhook::Event::PostLiked { post, by } => {
            ForumEvent::Like { topic_id: post.topic_id, post_id: post.post_id, username: by }
        }
        discourse::webhook::Event::TopicClosed { topic_id, closed } => ForumEvent::Closed { topic_id, closed },
        discourse::webhook::Event::Ping | discourse::webhook::Event::Other { .. } => {
            return Response::builder().status(StatusCode::OK).finish()
        }
    };
    match hook.forum.received(event, &key).await {
        Ok(()) => Response::builder().status(StatusCode::OK).finish(),
        Err(e) => {
            tracing::error!(error = %e, "a forum webhook could not be recorded; the forum may retry it");
            answer(StatusCode::INTERNAL_SERVER_ERROR, "internal", "the delivery could not be recorded")
        }
    }
}
