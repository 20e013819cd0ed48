//! The forum's two ways into osts. `GET /discourse/connect`: osts as the forum's
//! DiscourseConnect provider (see [`connect`]). `POST /webhooks/discourse`: what the Discourse
//! forum tells osts. The signature
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

/// The DiscourseConnect provider's state.
pub struct DiscourseConnect {
    /// Nonces seen.
    pub forum: ForumService,
    /// Who is signed in.
    pub accounts: domain::accounts::AccountService,
    /// The payload signer; `None` when `OSTS_DISCOURSE_CONNECT_SECRET` is unset.
    pub connect: Option<discourse::connect::Connect>,
    /// The forum group staff belong to.
    pub support_group: String,
}

/// The forum's login request.
#[derive(Debug, serde::Deserialize)]
pub struct ConnectQuery {
    sso: Option<String>,
    sig: Option<String>,
}

/// `GET /discourse/connect?sso=&sig=`: the forum sends a browser here to sign in; osts checks
/// the request's signature and nonce (once only), and sends the browser back to the forum with
/// the signed identity of the signed-in user: osts account id, confirmed email, forum
/// username, name, and the support group and moderation for staff and admins. The user is the
/// one of the API's bearer token (the web app's session once it exists).
#[handler]
pub async fn connect(
    req: &Request,
    poem::web::Query(query): poem::web::Query<ConnectQuery>,
    state: Data<&Arc<DiscourseConnect>>,
) -> Response {
    let Some(connect) = &state.connect else {
        return answer(StatusCode::NOT_FOUND, "connect_not_configured", "OSTS_DISCOURSE_CONNECT_SECRET is not set");
    };
    let (Some(sso), Some(sig)) = (query.sso, query.sig) else {
        return answer(StatusCode::BAD_REQUEST, "bad_connect_request", "sso and sig are required");
    };
    let login = match connect.verify(&sso, &sig) {
        Ok(login) => login,
        Err(e) => return answer(StatusCode::BAD_REQUEST, "bad_connect_request", &e.to_string()),
    };
    let token = req.header("Authorization").and_then(|h| h.strip_prefix("Bearer ")).unwrap_or_default();
    let Ok(principal) = state.accounts.authenticate(token.trim()).await else {
        return answer(StatusCode::UNAUTHORIZED, "unauthenticated", "sign in to osts first");
    };
    let account = match state.accounts.me(&principal).await {
        Ok(account) if account.email_confirmed_at.is_some() && principal.require_active().is_ok() => account,
        _ => {
            return answer(
                StatusCode::FORBIDDEN,
                "account_not_ready",
                "only an active, confirmed account signs in to the forum",
            )
        }
    };
    match state.forum.fresh_nonce(&login.nonce).await {
        Ok(true) => {}
        Ok(false) => return answer(StatusCode::CONFLICT, "nonce_used", "this login request was used already"),
        Err(e) => {
            tracing::error!(error = %e, "a DiscourseConnect nonce could not be recorded");
            return answer(StatusCode::INTERNAL_SERVER_ERROR, "internal", "the login could not be recorded");
        }
    }
    let staff = account.role.is_staff();
    let group = vec![state.support_group.clone()];
    let identity = discourse::connect::Identity {
        external_id: account.id.get(),
        email: account.email.as_str().to_owned(),
        username: domain::forum::forum_username(account.email.as_str(), account.id.get()),
        name: account.display_name.as_str().to_owned(),
        add_groups: if staff { group.clone() } else { vec![] },
        remove_groups: if staff { vec![] } else { group },
        moderator: account.role == domain::accounts::Role::Admin,
    };
    Response::builder().status(StatusCode::FOUND).header("Location", connect.return_url(&login, &identity)).finish()
}
