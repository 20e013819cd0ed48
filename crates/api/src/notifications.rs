//! Notifications: the caller's in-app inbox and preferences, one-click unsubscribe links
//! (no sign-in), and the admins' dead letters.

use crate::nullable::Nullable;
use crate::nullable::PageSize;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use domain::notifications::{self as dn, DeliveryId, NotificationId, UnsubscribeScope};
use domain::page::PageLimit;
use poem::web::Data;
use poem_openapi::{
    param::{Path, Query},
    payload::{Html, Json},
    ApiResponse, Enum, Object, OpenApi,
};

use crate::{
    auth::Session,
    error::{error_set, Failure},
    text::{self, Text},
    ApiTags, App,
};

/// What a notification is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case", remote = "domain::notifications::NotificationKind")]
pub enum NotificationKind {
    /// A ticket was resolved; the answer is in `change`.
    Resolved,
    /// A resolved ticket was reopened.
    Reopened,
    /// A ticket's status changed.
    StatusChanged,
    /// A ticket's priority changed.
    PriorityChanged,
    /// A public reply was added.
    Reply,
    /// An internal note was added (staff only).
    InternalNote,
    /// A ticket was assigned to you.
    Assigned,
    /// A ticket was merged into another.
    Merged,
    /// An FAQ entry was published from a ticket.
    FaqPublished,
    /// Someone replied in a ticket's forum thread (`change.username` on the forum).
    ThreadReply,
    /// Someone liked a post of a ticket's forum thread (`change.username` on the forum).
    ThreadLike,
    /// The link confirming your email address was sent (no ticket; `change` is emptied once
    /// the address is confirmed). Has no preference: it is always emailed.
    EmailConfirmation,
    /// Your account was approved (`change.automatic` is true when your confirmed address
    /// approved it); no ticket.
    AccountApproved,
    /// Your account was rejected; `change.reason` says why; no ticket.
    AccountRejected,
}

/// One in-app notification.
#[derive(Debug, Clone, Object)]
pub struct Notification {
    /// Identifier.
    pub id: i64,
    /// What happened.
    pub kind: NotificationKind,
    /// The ticket's number (link: `/api/v1/tickets/{ticket_number}`).
    pub ticket_number: Nullable<i64>,
    /// The ticket's title.
    pub ticket_title: Nullable<String>,
    /// The recorded change, as in the ticket's history.
    pub change: serde_json::Value,
    /// When.
    pub created_at: DateTime<Utc>,
    /// When you read it; `null` while unread.
    pub read_at: Nullable<DateTime<Utc>>,
}

impl From<dn::Notification> for Notification {
    fn from(n: dn::Notification) -> Self {
        Self {
            id: n.id.get(),
            kind: n.kind.into(),
            ticket_number: Nullable(n.ticket_id.map(|t| t.get())),
            ticket_title: Nullable(n.ticket_title),
            change: serde_json::from_str(&n.payload).unwrap_or(serde_json::Value::Null),
            created_at: n.created_at,
            read_at: Nullable(n.read_at),
        }
    }
}

/// A page of notifications.
#[derive(Debug, Clone, Object)]
pub struct NotificationPage {
    /// Newest first.
    pub items: Vec<Notification>,
    /// Pass as `cursor` for the next page; `null` on the last.
    pub next_cursor: Nullable<String>,
}

/// How many notifications are unread.
#[derive(Debug, Clone, Object)]
pub struct UnreadCount {
    /// Unread notifications.
    pub unread: u64,
}

/// How many notifications a call marked read.
#[derive(Debug, Clone, Object)]
pub struct MarkedRead {
    /// Notifications that were unread.
    pub marked: u64,
}

/// Your wishes for one kind of notification; in-app notifications are always on.
#[derive(Debug, Clone, Object)]
pub struct Preference {
    /// The kind.
    pub kind: NotificationKind,
    /// An email per event.
    pub email: bool,
    /// One daily digest email instead of one email per event (only while `email` is on).
    pub digest: bool,
}

impl From<dn::Preference> for Preference {
    fn from(p: dn::Preference) -> Self {
        Self { kind: p.kind.into(), email: p.email, digest: p.digest }
    }
}

/// A delivery that gave up.
#[derive(Debug, Clone, Object)]
pub struct DeadLetter {
    /// Identifier (for retrying).
    pub id: i64,
    /// The channel it was for: `email` (one email per event, or a daily digest) or `chat`
    /// (a message about an escalated ticket to one chat webhook).
    pub channel: String,
    /// The recipient's account id (deliveries to one user, such as emails; none for a
    /// ticket's integration job).
    pub recipient_id: Nullable<i64>,
    /// What it was about (deliveries to one user).
    pub kind: Nullable<NotificationKind>,
    /// The ticket.
    pub ticket_number: Nullable<i64>,
    /// Attempts made.
    pub attempts: u32,
    /// The last error.
    pub last_error: Nullable<String>,
    /// When it gave up.
    pub updated_at: DateTime<Utc>,
}

/// `GET /notifications` succeeded.
#[derive(ApiResponse)]
pub enum InboxResponse {
    /// A page of your notifications.
    #[oai(status = 200)]
    Ok(Json<NotificationPage>),
}

/// `GET /notifications/unread-count` succeeded.
#[derive(ApiResponse)]
pub enum UnreadResponse {
    /// The count.
    #[oai(status = 200)]
    Ok(Json<UnreadCount>),
}

/// A notification was marked read.
#[derive(ApiResponse)]
pub enum MarkReadResponse {
    /// Done (marking twice is fine).
    #[oai(status = 204)]
    NoContent,
}

/// All notifications were marked read.
#[derive(ApiResponse)]
pub enum MarkAllResponse {
    /// How many were unread.
    #[oai(status = 200)]
    Ok(Json<MarkedRead>),
}

/// Preferences read or changed.
#[derive(ApiResponse)]
pub enum PreferencesResponse {
    /// Your preferences for every kind.
    #[oai(status = 200)]
    Ok(Json<Vec<Preference>>),
}

/// Dead letters listed.
#[derive(ApiResponse)]
pub enum DeadLettersResponse {
    /// Newest first, at most 100.
    #[oai(status = 200)]
    Ok(Json<Vec<DeadLetter>>),
}

/// A dead letter was queued again.
#[derive(ApiResponse)]
pub enum RetryResponse {
    /// It will be delivered by the next worker round.
    #[oai(status = 204)]
    NoContent,
}

/// An unsubscribe page.
#[derive(ApiResponse)]
pub enum UnsubscribeResponse {
    /// A small HTML page for people.
    #[oai(status = 200)]
    Ok(
        Html<String>,
        /// `no-store`: the page names what the link turns off.
        #[oai(header = "Cache-Control")]
        String,
        /// `no-referrer`: the link's token stays out of other sites' logs.
        #[oai(header = "Referrer-Policy")]
        String,
    ),
}

impl UnsubscribeResponse {
    fn page(title: &str, body: &str) -> Self {
        let html = format!(
            "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
             <title>{title} · osts</title></head><body><main><h1>{title}</h1>{body}</main></body></html>"
        );
        Self::Ok(Html(html), "no-store".into(), "no-referrer".into())
    }
}

/// What a scope stops, for people.
fn scope_phrase(scope: UnsubscribeScope) -> String {
    match scope {
        UnsubscribeScope::Digest => "the daily digest".to_owned(),
        UnsubscribeScope::Kind(kind) => format!("emails about {}", kind.topic()),
    }
}

error_set!(
    /// Errors of the one-click unsubscribe link.
    UnsubscribeErrors = [400, 404, 422, 500]
);
error_set!(
    /// Errors of reading the inbox.
    InboxErrors = [400, 401, 403, 422, 500]
);
error_set!(
    /// Errors of calls on the caller's own notifications.
    OwnErrors = [400, 401, 403, 500]
);
error_set!(
    /// Errors of changing one's own preferences (a JSON body).
    PreferenceErrors = [400, 401, 403, 413, 415, 422, 500]
);
error_set!(
    /// Errors of marking one notification read.
    MarkErrors = [400, 401, 403, 404, 500]
);
error_set!(
    /// Errors of the dead-letter calls.
    AdminErrors = [400, 401, 403, 404, 422, 500]
);

/// Notifications.
pub struct NotificationApi;

#[OpenApi(prefix_path = "/api/v1", tag = "ApiTags::Notifications")]
impl NotificationApi {
    /// Your notifications
    ///
    /// Newest first, cursor-paginated. Each item links to its ticket by number.
    #[oai(path = "/notifications", method = "get", operation_id = "list_notifications")]
    async fn inbox(
        &self,
        auth: Session,
        app: Data<&Arc<App>>,
        /// Page size, 1–100 (default 25).
        limit: Query<Option<PageSize>>,
        /// `next_cursor` of the previous page.
        cursor: Query<Option<Text<text::NotificationCursor>>>,
    ) -> Result<InboxResponse, Failure<InboxErrors>> {
        let limit = PageLimit::new(limit.0.map(|l| l.0))?;
        let page = app.notifications.inbox(&auth.0.principal, limit, cursor.0.map(Text::into_inner)).await?;
        Ok(InboxResponse::Ok(Json(NotificationPage {
            items: page.items.into_iter().map(Into::into).collect(),
            next_cursor: Nullable(page.next_cursor),
        })))
    }

    /// How many notifications are unread
    #[oai(path = "/notifications/unread-count", method = "get", operation_id = "count_unread_notifications")]
    async fn unread(&self, auth: Session, app: Data<&Arc<App>>) -> Result<UnreadResponse, Failure<OwnErrors>> {
        let unread = app.notifications.unread(&auth.0.principal).await?;
        Ok(UnreadResponse::Ok(Json(UnreadCount { unread })))
    }

    /// Mark a notification read
    ///
    /// Someone else's notification is "not found".
    #[oai(path = "/notifications/:id/read", method = "post", operation_id = "mark_notification_read")]
    async fn mark_read(
        &self,
        auth: Session,
        app: Data<&Arc<App>>,
        /// The notification's id.
        id: Path<i64>,
    ) -> Result<MarkReadResponse, Failure<MarkErrors>> {
        app.notifications.mark_read(&auth.0.principal, NotificationId::new(id.0)).await?;
        Ok(MarkReadResponse::NoContent)
    }

    /// Mark all your notifications read
    #[oai(path = "/notifications/read-all", method = "post", operation_id = "mark_all_notifications_read")]
    async fn mark_all(&self, auth: Session, app: Data<&Arc<App>>) -> Result<MarkAllResponse, Failure<OwnErrors>> {
        let marked = app.notifications.mark_all_read(&auth.0.principal).await?;
        Ok(MarkAllResponse::Ok(Json(MarkedRead { marked })))
    }

    /// Your notification preferences
    ///
    /// One entry per kind. In-app notifications are always on; `email` is on by default.
    #[oai(path = "/me/notification-preferences", method = "get", operation_id = "get_notification_preferences")]
    async fn preferences(
        &self,
        auth: Session,
        app: Data<&Arc<App>>,
    ) -> Result<PreferencesResponse, Failure<OwnErrors>> {
        let all = app.notifications.preferences(&auth.0.principal).await?;
        Ok(PreferencesResponse::Ok(Json(all.into_iter().map(Into::into).collect())))
    }

    /// Change your notification preferences
    ///
    /// Send the kinds to change; the others stay as they are. Answers with all of them.
    #[oai(path = "/me/notification-preferences", method = "put", operation_id = "set_notification_preferences")]
    async fn set_preferences(
        &self,
        auth: Session,
        app: Data<&Arc<App>>,
        body: Json<Vec<Preference>>,
    ) -> Result<PreferencesResponse, Failure<PreferenceErrors>> {
        let changes = body
            .0
            .into_iter()
            .map(|p| dn::Preference { kind: p.kind.into(), email: p.email, digest: p.digest })
            .collect();
        let all = app.notifications.set_preferences(&auth.0.principal, changes).await?;
        Ok(PreferencesResponse::Ok(Json(all.into_iter().map(Into::into).collect())))
    }

    /// Confirm unsubscribing (no sign-in)
    ///
    /// The page an email's unsubscribe link opens: it names what the signed `token` turns off
    /// and asks for a click. Opening it changes nothing, because mail scanners fetch links.
    /// A token not shaped like one (see the schema; e.g. cut short) is 422
    /// `invalid_unsubscribe_token`; one that is, but that this instance did not sign (forged,
    /// altered, or from before its key changed), 404 `unsubscribe_link_not_found`.
    #[oai(path = "/unsubscribe", method = "get", operation_id = "confirm_unsubscribe")]
    async fn confirm_unsubscribe(
        &self,
        app: Data<&Arc<App>>,
        /// The signed token from the email's link.
        token: Query<Text<text::UnsubscribeToken>>,
    ) -> Result<UnsubscribeResponse, Failure<UnsubscribeErrors>> {
        let scope = app.notifications.check_unsubscribe(token.0.as_str())?;
        // No `action`: the form posts back to this very address, token included.
        Ok(UnsubscribeResponse::page(
            "Unsubscribe",
            &format!(
                "<p>Stop {what}? You will still see these notifications in osts, and you can turn emails \
                 back on in your notification preferences.</p><form method=\"post\">\
                 <input type=\"hidden\" name=\"List-Unsubscribe\" value=\"One-Click\">\
                 <button type=\"submit\">Unsubscribe</button></form>",
                what = scope_phrase(scope)
            ),
        ))
    }

    /// Unsubscribe (one click, no sign-in)
    ///
    /// Turns off what the signed `token` names: email for one notification kind, or the daily
    /// digest. This is the RFC 8058 one-click endpoint that mail clients POST to (body
    /// `List-Unsubscribe=One-Click`, which is accepted and not required). Unsubscribing twice
    /// is fine. A token not shaped like one is 422 `invalid_unsubscribe_token`; one that is,
    /// but that this instance did not sign, 404 `unsubscribe_link_not_found`.
    #[oai(path = "/unsubscribe", method = "post", operation_id = "unsubscribe")]
    async fn unsubscribe(
        &self,
        app: Data<&Arc<App>>,
        /// The signed token from the email's link.
        token: Query<Text<text::UnsubscribeToken>>,
    ) -> Result<UnsubscribeResponse, Failure<UnsubscribeErrors>> {
        let scope = app.notifications.unsubscribe_with_token(token.0.as_str()).await?;
        Ok(UnsubscribeResponse::page(
            "Unsubscribed",
            &format!(
                "<p>Done: {what} turned off. You will still see these notifications in osts, and you can turn \
                 emails back on in your notification preferences.</p>",
                what = scope_phrase(scope)
            ),
        ))
    }

    /// Deliveries that gave up
    ///
    /// Admins only. Deliveries on any channel that failed their channel's maximum number of
    /// attempts, were refused permanently by the remote system, or whose worker stopped
    /// mid-call (outcome unknown, so not resent automatically). A `channel` the document does
    /// not list is a 422 `unknown_channel`.
    #[oai(path = "/admin/deliveries/dead", method = "get", operation_id = "list_dead_letters")]
    async fn dead_letters(
        &self,
        auth: Session,
        app: Data<&Arc<App>>,
        /// Only this channel's dead letters.
        channel: Query<Option<Text<text::Channel>>>,
    ) -> Result<DeadLettersResponse, Failure<AdminErrors>> {
        let dead = app.notifications.dead_letters(&auth.0.principal, channel.0.as_ref().map(Text::as_str)).await?;
        Ok(DeadLettersResponse::Ok(Json(
            dead.into_iter()
                .map(|d| DeadLetter {
                    id: d.id.get(),
                    channel: d.channel.as_str().to_owned(),
                    recipient_id: Nullable(d.recipient.map(|r| r.get())),
                    kind: Nullable(d.kind.map(Into::into)),
                    ticket_number: Nullable(d.ticket_id.map(|t| t.get())),
                    attempts: d.attempts,
                    last_error: Nullable(d.last_error),
                    updated_at: d.updated_at,
                })
                .collect(),
        )))
    }

    /// Retry a dead letter
    ///
    /// Admins only, on every channel. The delivery starts again with no attempts counted
    /// (a ticket's later jobs on its channel that were delivered meanwhile are not undone).
    #[oai(path = "/admin/deliveries/:id/retry", method = "post", operation_id = "retry_dead_letter")]
    async fn retry(
        &self,
        auth: Session,
        app: Data<&Arc<App>>,
        /// The delivery's id.
        id: Path<i64>,
    ) -> Result<RetryResponse, Failure<AdminErrors>> {
        app.notifications.retry(&auth.0.principal, DeliveryId::new(id.0)).await?;
        Ok(RetryResponse::NoContent)
    }
}
