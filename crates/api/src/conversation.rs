//! A ticket's conversation: replies, internal notes and watching.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use domain::{conversation as dc, tickets::TicketId};
use poem::web::Data;
use poem_openapi::{param::Path, payload::Json, ApiResponse, Object, OpenApi};

use crate::{
    accounts::UserSummary,
    auth::Session,
    error::{error_set, Failure},
    text::{self, Text},
    ApiTags, App,
};

/// A message on a ticket.
#[derive(Debug, Clone, Object)]
pub struct Reply {
    /// Identifier.
    pub id: i64,
    /// The ticket it was written on (differs from the one read for replies of a merged
    /// duplicate).
    pub ticket_number: i64,
    /// Who wrote it.
    pub author: UserSummary,
    /// Markdown body.
    pub body: String,
    /// The body rendered to sanitised HTML.
    pub body_html: String,
    /// An internal note, visible to staff only.
    pub internal: bool,
    /// When.
    pub created_at: DateTime<Utc>,
}

impl From<dc::Reply> for Reply {
    fn from(r: dc::Reply) -> Self {
        Self {
            id: r.id.get(),
            ticket_number: r.ticket_id.get(),
            author: r.author.into(),
            body_html: markup::markdown_to_html(r.body.as_str()),
            body: r.body.as_str().to_owned(),
            internal: r.internal,
            created_at: r.created_at,
        }
    }
}

/// A reply to write.
#[derive(Debug, Object)]
pub struct NewReply {
    /// Markdown, 1–20,000 characters.
    pub body: Text<text::Markdown>,
    /// `true` for an internal note (staff only); default `false`.
    pub internal: Option<bool>,
}

/// Whether the caller watches a ticket.
#[derive(Debug, Clone, Object)]
pub struct WatchState {
    /// The ticket watched (a merged ticket's target).
    pub number: i64,
    /// Whether the caller watches it now.
    pub watching: bool,
}

/// `GET /tickets/{id}/replies` succeeded.
#[derive(ApiResponse)]
pub enum RepliesResponse {
    /// The conversation, oldest first, including replies of tickets merged into this one.
    #[oai(status = 200)]
    Ok(Json<Vec<Reply>>),
}

/// `POST /tickets/{id}/replies` succeeded.
#[derive(ApiResponse)]
pub enum CreateReplyResponse {
    /// The reply was added.
    #[oai(status = 201)]
    Created(Json<Reply>),
}

/// A watch operation succeeded.
#[derive(ApiResponse)]
pub enum WatchResponse {
    /// The caller's watching as it now stands.
    #[oai(status = 200)]
    Ok(Json<WatchState>),
}

error_set!(
    /// Errors of reading a conversation or watching.
    ReadErrors = [400, 401, 403, 404, 500]
);
error_set!(
    /// Errors of `POST /tickets/{id}/replies`.
    ReplyErrors = [400, 401, 403, 404, 409, 413, 415, 422, 500]
);

/// Replies and watching.
pub struct ConversationApi;

#[OpenApi(prefix_path = "/api/v1", tag = "ApiTags::Conversation")]
impl ConversationApi {
    /// A ticket's conversation
    ///
    /// Replies oldest first, including those of tickets merged into this one. Internal notes
    /// only for staff.
    #[oai(path = "/tickets/:id/replies", method = "get", operation_id = "list_replies")]
    async fn list(
        &self,
        auth: Session,
        app: Data<&Arc<App>>,
        /// The ticket's number.
        id: Path<i64>,
    ) -> Result<RepliesResponse, Failure<ReadErrors>> {
        let replies = app.conversation.replies(&auth.0.principal, TicketId::new(id.0)).await?;
        Ok(RepliesResponse::Ok(Json(replies.into_iter().map(Into::into).collect())))
    }

    /// Reply to a ticket
    ///
    /// Public replies by the creator, watchers and staff; internal notes by staff only. A
    /// reply to a merged ticket lands on the ticket it was merged into. The author of a
    /// public reply watches the ticket from then on.
    #[oai(path = "/tickets/:id/replies", method = "post", operation_id = "add_reply")]
    async fn add(
        &self,
        auth: Session,
        app: Data<&Arc<App>>,
        /// The ticket's number.
        id: Path<i64>,
        body: Json<NewReply>,
    ) -> Result<CreateReplyResponse, Failure<ReplyErrors>> {
        let NewReply { body, internal } = body.0;
        let reply = app
            .conversation
            .reply(&auth.0.principal, TicketId::new(id.0), body.as_str(), internal.unwrap_or(false))
            .await?;
        Ok(CreateReplyResponse::Created(Json(reply.into())))
    }

    /// Watch a ticket
    ///
    /// Anyone who can see a ticket may watch it, to be notified of it.
    #[oai(path = "/tickets/:id/watch", method = "put", operation_id = "watch_ticket")]
    async fn watch(
        &self,
        auth: Session,
        app: Data<&Arc<App>>,
        /// The ticket's number.
        id: Path<i64>,
    ) -> Result<WatchResponse, Failure<ReadErrors>> {
        let t = app.conversation.watch(&auth.0.principal, TicketId::new(id.0)).await?;
        Ok(WatchResponse::Ok(Json(WatchState { number: t.id().get(), watching: true })))
    }

    /// Stop watching a ticket
    #[oai(path = "/tickets/:id/watch", method = "delete", operation_id = "unwatch_ticket")]
    async fn unwatch(
        &self,
        auth: Session,
        app: Data<&Arc<App>>,
        /// The ticket's number.
        id: Path<i64>,
    ) -> Result<WatchResponse, Failure<ReadErrors>> {
        let t = app.conversation.unwatch(&auth.0.principal, TicketId::new(id.0)).await?;
        Ok(WatchResponse::Ok(Json(WatchState { number: t.id().get(), watching: false })))
    }
}
