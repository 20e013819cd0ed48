//! A ticket's Discourse forum thread: asking for one or linking one, reading it, moderating
//! it; similar forum topics for a draft; the admins' ticket ↔ thread map and most active
//! threads.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use domain::forum as df;
use domain::page::PageLimit;
use domain::tickets::TicketId;
use poem::web::Data;
use poem_openapi::{
    param::{Path, Query},
    payload::Json,
    ApiResponse, Enum, Object, OpenApi, Union,
};

use crate::nullable::{Nullable, PageSize};
use crate::{
    accounts::UserSummary,
    auth::Session,
    error::{error_set, Failure},
    text::{self, Text},
    ApiTags, App,
};

/// Who can read a thread.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case", remote = "domain::forum::Visibility")]
pub enum ThreadVisibility {
    /// A Discourse private message between the student and the support group.
    Private,
    /// A topic in the forum's public category.
    Public,
}

/// Where a thread is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case", remote = "domain::forum::ThreadState")]
pub enum ThreadState {
    /// Asked for; osts is opening it on the forum.
    Pending,
    /// Open for replies.
    Open,
    /// Closed (the ticket was resolved, or someone closed it).
    Closed,
    /// Archived (the ticket closed for good).
    Archived,
}

/// A ticket's thread, in brief.
#[derive(Debug, Clone, Object)]
pub struct ThreadSummary {
    /// The forum topic (`null` while pending).
    pub topic_id: Nullable<i64>,
    /// Private message or public topic.
    pub visibility: ThreadVisibility,
    /// Where it is in its life.
    pub state: ThreadState,
    /// Its address on the forum (`null` while pending; a private thread opens only for its
    /// participants there).
    pub url: Nullable<String>,
}

impl From<df::ForumThread> for ThreadSummary {
    fn from(t: df::ForumThread) -> Self {
        Self {
            topic_id: Nullable(t.topic_id),
            visibility: t.visibility.into(),
            state: t.state.into(),
            url: Nullable(t.url),
        }
    }
}

/// A post of a thread.
#[derive(Debug, Clone, Object)]
pub struct ForumPost {
    /// The forum post's id (what moderation deletes).
    pub id: i64,
    /// Its number in the topic (1 opens it).
    pub post_number: i64,
    /// Its author's forum username.
    pub username: String,
    /// The post as the forum rendered it, sanitised again.
    pub html: String,
    /// When it was posted.
    pub created_at: DateTime<Utc>,
}

/// A thread with its posts.
#[derive(Debug, Clone, Object)]
pub struct ThreadDetail {
    /// The thread.
    pub thread: ThreadSummary,
    /// Its posts, oldest first (`null` when the forum could not be reached).
    pub posts: Nullable<Vec<ForumPost>>,
}

/// A new thread for a ticket.
#[derive(Debug, Object)]
pub struct NewThread {
    /// `private` (the default) or `public`.
    pub visibility: Option<ThreadVisibility>,
}

/// An existing forum topic to join.
#[derive(Debug, Object)]
pub struct LinkedThread {
    /// The topic's id.
    #[oai(validator(minimum(value = "1")))]
    pub topic_id: i64,
}

/// Ask for a new thread, or join an existing topic.
#[derive(Debug, Union)]
#[oai(one_of)]
pub enum ThreadRequest {
    /// Join an existing public topic.
    Link(LinkedThread),
    /// A new thread.
    New(NewThread),
}

/// A thread's new visibility.
#[derive(Debug, Object)]
pub struct VisibilityChange {
    /// `private` or `public`.
    pub visibility: ThreadVisibility,
}

/// A forum topic like a draft.
#[derive(Debug, Clone, Object)]
pub struct ForumTopic {
    /// The topic.
    pub topic_id: i64,
    /// Its title.
    pub title: String,
    /// A short excerpt of the matching post.
    pub blurb: String,
}

/// One line of the ticket ↔ thread map.
#[derive(Debug, Clone, Object)]
pub struct ThreadMapEntry {
    /// The ticket's number.
    pub ticket_number: i64,
    /// The ticket's title.
    pub title: String,
    /// The thread.
    pub thread: ThreadSummary,
    /// The staff member assigned to the ticket (the thread's staff).
    pub assignee: Nullable<UserSummary>,
}

/// One of the most active threads.
#[derive(Debug, Clone, Object)]
pub struct ThreadActivity {
    /// The ticket's number.
    pub ticket_number: i64,
    /// The ticket's title.
    pub title: String,
    /// The thread.
    pub thread: ThreadSummary,
    /// Replies in the thread that osts heard of through the forum's `post_created` webhooks
    /// (people's replies: not the opening post, not osts's own status notes).
    pub posts: u64,
    /// Likes of the thread's posts that osts heard of through `post_liked` webhooks.
    pub likes: u64,
    /// When the latest of them arrived.
    pub last_activity_at: DateTime<Utc>,
}

/// A page of the most active threads.
#[derive(Debug, Clone, Object)]
pub struct ThreadActivityPage {
    /// Most replies and likes together first.
    pub items: Vec<ThreadActivity>,
    /// Pass as `cursor` for the next page; `null` on the last.
    pub next_cursor: Nullable<String>,
}

/// A forum account to link.
#[derive(Debug, Object)]
pub struct ForumAccountLink {
    /// The forum username (a leading `@` is fine).
    pub username: Text<text::ForumUsername>,
}

/// The forum account a user linked.
#[derive(Debug, Clone, Object)]
pub struct LinkedForumAccount {
    /// The forum username, as the forum spells it.
    pub username: String,
    /// When osts proved it yours and linked it.
    pub linked_at: DateTime<Utc>,
}

impl From<df::LinkedAccount> for LinkedForumAccount {
    fn from(a: df::LinkedAccount) -> Self {
        Self { username: a.username, linked_at: a.linked_at }
    }
}

/// `GET` or `PUT /me/forum-account` succeeded.
#[derive(ApiResponse)]
pub enum ForumAccountResponse {
    /// The linked forum account.
    #[oai(status = 200)]
    Ok(Json<LinkedForumAccount>),
}

/// `DELETE /me/forum-account` succeeded.
#[derive(ApiResponse)]
pub enum ForumAccountUnlinkedResponse {
    /// No forum account is linked now.
    #[oai(status = 204)]
    Unlinked,
}

/// A thread was asked for or linked.
#[derive(ApiResponse)]
pub enum ThreadCreatedResponse {
    /// The thread (`pending` until osts has opened it on the forum).
    #[oai(status = 201)]
    Created(Json<ThreadSummary>),
}

/// `GET /tickets/{id}/thread` succeeded.
#[derive(ApiResponse)]
pub enum ThreadResponse {
    /// The ticket's thread with its posts.
    #[oai(status = 200)]
    Ok(Json<ThreadDetail>),
}

/// A thread changed.
#[derive(ApiResponse)]
pub enum ThreadChangedResponse {
    /// The thread as it is now (the forum follows through the outbox).
    #[oai(status = 200)]
    Ok(Json<ThreadSummary>),
}

/// A post deletion was accepted.
#[derive(ApiResponse)]
pub enum PostDeletedResponse {
    /// The post is being deleted on the forum.
    #[oai(status = 202)]
    Accepted,
}

/// `GET /forum/similar` succeeded.
#[derive(ApiResponse)]
pub enum SimilarTopicsResponse {
    /// Up to five public topics (none when the forum is off or slow).
    #[oai(status = 200)]
    Ok(Json<Vec<ForumTopic>>),
}

/// `GET /admin/threads` succeeded.
#[derive(ApiResponse)]
pub enum ThreadMapResponse {
    /// Threads, newest first.
    #[oai(status = 200)]
    Ok(Json<Vec<ThreadMapEntry>>),
}

/// `GET /admin/threads/active` succeeded.
#[derive(ApiResponse)]
pub enum ActiveThreadsResponse {
    /// A page of threads, most active first.
    #[oai(status = 200)]
    Ok(Json<ThreadActivityPage>),
}

error_set!(
    /// Errors of thread actions with a body.
    ThreadBodyErrors = [400, 401, 403, 404, 409, 413, 415, 422, 500]
);
error_set!(
    /// Errors of thread actions without a body.
    ThreadErrors = [400, 401, 403, 404, 409, 500]
);
error_set!(
    /// Errors of reads.
    ReadErrors = [400, 401, 403, 500]
);

error_set!(
    /// Errors of a listing that takes a page size and a cursor.
    ActiveErrors = [400, 401, 403, 422, 500]
);
error_set!(
    /// Errors of reading one's linked forum account.
    AccountReadErrors = [401, 403, 404, 500]
);
error_set!(
    /// Errors of linking a forum account (503: the forum could not be asked).
    LinkErrors = [400, 401, 403, 409, 413, 415, 422, 500, 503]
);
error_set!(
    /// Errors of unlinking a forum account.
    UnlinkErrors = [401, 403, 500]
);

/// The Discourse forum.
pub struct ForumApi;

#[OpenApi(prefix_path = "/api/v1", tag = "ApiTags::Forum")]
impl ForumApi {
    /// Ask for a ticket's forum thread, or join a topic
    ///
    /// The ticket's creator or staff. `{"visibility": "private"}` (the default) opens a
    /// Discourse private message between the student and the support group;
    /// `{"visibility": "public"}` a topic in the forum's category; `{"topic_id": N}` links an
    /// existing public topic. A ticket has at most one thread (409 `thread_exists`). Without
    /// a configured forum: 409 `forum_not_configured`.
    #[oai(path = "/tickets/:id/thread", method = "post", operation_id = "create_thread")]
    async fn create(
        &self,
        auth: Session,
        app: Data<&Arc<App>>,
        /// The ticket's number.
        id: Path<i64>,
        body: Json<ThreadRequest>,
    ) -> Result<ThreadCreatedResponse, Failure<ThreadBodyErrors>> {
        let ticket = TicketId::new(id.0);
        let thread = match body.0 {
            ThreadRequest::Link(l) => app.forum.link(&auth.0.principal, ticket, l.topic_id).await?,
            ThreadRequest::New(n) => {
                let visibility = n.visibility.map_or(df::Visibility::Private, Into::into);
                app.forum.create(&auth.0.principal, ticket, visibility).await?
            }
        };
        Ok(ThreadCreatedResponse::Created(Json(thread.into())))
    }

    /// A ticket's forum thread
    ///
    /// With its posts, read from the forum. A public thread shows to whoever sees the
    /// ticket; a private one to its creator and staff. 404 `thread_not_found` if the ticket
    /// has none (or the caller may not read it).
    #[oai(path = "/tickets/:id/thread", method = "get", operation_id = "get_thread")]
    async fn get(
        &self,
        auth: Session,
        app: Data<&Arc<App>>,
        /// The ticket's number.
        id: Path<i64>,
    ) -> Result<ThreadResponse, Failure<ThreadErrors>> {
        let view = app
            .forum
            .thread(&auth.0.principal, TicketId::new(id.0))
            .await?
            .ok_or(domain::Error::NotFound(domain::Resource::Thread))?;
        let posts = view.posts.map(|posts| {
            posts
                .into_iter()
                .map(|p| ForumPost {
                    id: p.id,
                    post_number: p.post_number,
                    username: p.username,
                    html: markup::sanitize_html(&p.cooked),
                    created_at: p.created_at,
                })
                .collect()
        });
        Ok(ThreadResponse::Ok(Json(ThreadDetail { thread: view.thread.into(), posts: Nullable(posts) })))
    }

    /// Make a thread public or private
    ///
    /// Staff only (forum moderators).
    #[oai(path = "/tickets/:id/thread/visibility", method = "put", operation_id = "set_thread_visibility")]
    async fn visibility(
        &self,
        auth: Session,
        app: Data<&Arc<App>>,
        /// The ticket's number.
        id: Path<i64>,
        body: Json<VisibilityChange>,
    ) -> Result<ThreadChangedResponse, Failure<ThreadBodyErrors>> {
        let thread = app.forum.set_visibility(&auth.0.principal, TicketId::new(id.0), body.0.visibility.into()).await?;
        Ok(ThreadChangedResponse::Ok(Json(thread.into())))
    }

    /// Close a thread
    ///
    /// Staff only. (Resolving a ticket closes its thread by itself.)
    #[oai(path = "/tickets/:id/thread/close", method = "post", operation_id = "close_thread")]
    async fn close(
        &self,
        auth: Session,
        app: Data<&Arc<App>>,
        /// The ticket's number.
        id: Path<i64>,
    ) -> Result<ThreadChangedResponse, Failure<ThreadErrors>> {
        let thread = app.forum.set_closed(&auth.0.principal, TicketId::new(id.0), true).await?;
        Ok(ThreadChangedResponse::Ok(Json(thread.into())))
    }

    /// Reopen a thread
    ///
    /// Staff, or the ticket's creator (which reopens the discussion, not the ticket).
    #[oai(path = "/tickets/:id/thread/reopen", method = "post", operation_id = "reopen_thread")]
    async fn reopen(
        &self,
        auth: Session,
        app: Data<&Arc<App>>,
        /// The ticket's number.
        id: Path<i64>,
    ) -> Result<ThreadChangedResponse, Failure<ThreadErrors>> {
        let thread = app.forum.set_closed(&auth.0.principal, TicketId::new(id.0), false).await?;
        Ok(ThreadChangedResponse::Ok(Json(thread.into())))
    }

    /// Delete a post of a thread
    ///
    /// Admins only: an offensive or irrelevant post, by its forum post id (see
    /// `GET /tickets/{id}/thread`).
    #[oai(path = "/tickets/:id/thread/posts/:post_id", method = "delete", operation_id = "delete_thread_post")]
    async fn delete_post(
        &self,
        auth: Session,
        app: Data<&Arc<App>>,
        /// The ticket's number.
        id: Path<i64>,
        /// The forum post's id.
        post_id: Path<i64>,
    ) -> Result<PostDeletedResponse, Failure<ThreadErrors>> {
        app.forum.delete_post(&auth.0.principal, TicketId::new(id.0), post_id.0).await?;
        Ok(PostDeletedResponse::Accepted)
    }

    /// Forum topics like a draft
    ///
    /// Public forum topics whose words match the draft's title (Discourse search with a short
    /// timeout), separate from the similar tickets so that those stay fast.
    #[oai(path = "/forum/similar", method = "get", operation_id = "similar_forum_topics")]
    async fn similar(
        &self,
        auth: Session,
        app: Data<&Arc<App>>,
        /// The draft's title (fewer than three letters: no topics).
        #[oai(validator(max_length = 300))]
        title: Query<Option<String>>,
    ) -> Result<SimilarTopicsResponse, Failure<ReadErrors>> {
        let hits = app.forum.similar(&auth.0.principal, title.0.as_deref().unwrap_or_default()).await?;
        Ok(SimilarTopicsResponse::Ok(Json(
            hits.into_iter()
                .map(|h| ForumTopic { topic_id: h.topic.topic_id, title: h.title, blurb: h.blurb })
                .collect(),
        )))
    }

    /// The ticket ↔ thread map
    ///
    /// Admins only: every ticket's thread, newest first, with the ticket's assignee.
    #[oai(path = "/admin/threads", method = "get", operation_id = "list_threads")]
    async fn threads(&self, auth: Session, app: Data<&Arc<App>>) -> Result<ThreadMapResponse, Failure<ReadErrors>> {
        let entries = app.forum.threads(&auth.0.principal, 200).await?;
        Ok(ThreadMapResponse::Ok(Json(
            entries
                .into_iter()
                .map(|e| ThreadMapEntry {
                    ticket_number: e.thread.ticket.get(),
                    title: e.title,
                    thread: e.thread.into(),
                    assignee: Nullable(e.assignee.map(Into::into)),
                })
                .collect(),
        )))
    }

    /// Your linked forum account
    ///
    /// The existing forum account you linked (where the forum keeps its own accounts). 404
    /// `forum_account_not_found` if none.
    #[oai(path = "/me/forum-account", method = "get", operation_id = "get_forum_account")]
    async fn forum_account(
        &self,
        auth: Session,
        app: Data<&Arc<App>>,
    ) -> Result<ForumAccountResponse, Failure<AccountReadErrors>> {
        let linked = app
            .forum
            .linked_account(&auth.0.principal)
            .await?
            .ok_or(domain::Error::NotFound(domain::Resource::ForumAccount))?;
        Ok(ForumAccountResponse::Ok(Json(linked.into())))
    }

    /// Link your existing forum account
    ///
    /// Where the forum keeps its own accounts, osts names you there (in your private threads)
    /// only by an account it can prove is yours: the forum account's primary email, which osts
    /// reads with the forum's admin API, must be your confirmed email address. Otherwise 403
    /// `forum_account_not_yours` (also for a username that does not exist) and nothing is
    /// linked; 403 `email_unconfirmed` until you confirm your address; 409
    /// `forum_accounts_from_osts` where the forum signs you in through osts (DiscourseConnect);
    /// 409 `forum_account_taken` if another user linked it; 503 `busy` if the forum could not
    /// be asked. A new link replaces your earlier one.
    #[oai(path = "/me/forum-account", method = "put", operation_id = "link_forum_account")]
    async fn link_forum_account(
        &self,
        auth: Session,
        app: Data<&Arc<App>>,
        body: Json<ForumAccountLink>,
    ) -> Result<ForumAccountResponse, Failure<LinkErrors>> {
        let username = df::ForumUsername::parse(body.0.username.as_str())?;
        let linked = app.forum.link_account(&auth.0.principal, username).await?;
        Ok(ForumAccountResponse::Ok(Json(linked.into())))
    }

    /// Unlink your forum account
    ///
    /// osts stops naming you by it; nothing changes on the forum.
    #[oai(path = "/me/forum-account", method = "delete", operation_id = "unlink_forum_account")]
    async fn unlink_forum_account(
        &self,
        auth: Session,
        app: Data<&Arc<App>>,
    ) -> Result<ForumAccountUnlinkedResponse, Failure<UnlinkErrors>> {
        app.forum.unlink_account(&auth.0.principal).await?;
        Ok(ForumAccountUnlinkedResponse::Unlinked)
    }

    /// The most active threads
    ///
    /// Admins only: FAQ material. Threads with replies or likes, most of both together first
    /// (the higher ticket number first among equals), cursor-paginated. The counts are what
    /// the forum's webhooks told osts (`post_created`, `post_liked`), each happening once;
    /// views are not counted, since Discourse sends no webhook for a view.
    #[oai(path = "/admin/threads/active", method = "get", operation_id = "list_active_threads")]
    async fn active(
        &self,
        auth: Session,
        app: Data<&Arc<App>>,
        /// Page size, 1–100 (default 25).
        limit: Query<Option<PageSize>>,
        /// `next_cursor` of the previous page.
        cursor: Query<Option<Text<text::ActivityCursor>>>,
    ) -> Result<ActiveThreadsResponse, Failure<ActiveErrors>> {
        let limit = PageLimit::new(limit.0.map(|l| l.0))?;
        let cursor = Query(cursor.0.map(Text::into_inner));
        let page = app.forum.active_threads(&auth.0.principal, limit, cursor.0).await?;
        Ok(ActiveThreadsResponse::Ok(Json(ThreadActivityPage {
            items: page
                .items
                .into_iter()
                .map(|a| ThreadActivity {
                    ticket_number: a.thread.ticket.get(),
                    title: a.title,
                    thread: a.thread.into(),
                    posts: a.posts,
                    likes: a.likes,
                    last_activity_at: a.last_activity_at,
                })
                .collect(),
            next_cursor: Nullable(page.next_cursor),
        })))
    }
}
