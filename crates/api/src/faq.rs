//! The FAQ: public reading and search of published entries; drafts, FAQ candidates and
//! editing for curators (admins, and support members when `OSTS_SUPPORT_CAN_PUBLISH_FAQ`).

use crate::nullable::Nullable;
use crate::nullable::PageSize;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use domain::faq::{self as df, FaqEntryId};
use domain::tickets::TicketId;
use poem::web::Data;
use poem_openapi::{
    param::{Path, Query},
    payload::Json,
    ApiResponse, Object, OpenApi, SecurityScheme,
};

use crate::{
    auth::Session,
    error::{error_set, Failure},
    text::{self, Text},
    ApiTags, App,
};

/// A session when the client sends a valid one; anonymous otherwise (public routes).
#[derive(SecurityScheme)]
pub enum MaybeSession {
    /// Signed in.
    Signed(Session),
    /// No (valid) token.
    #[oai(fallback)]
    Anonymous,
}

impl MaybeSession {
    fn principal(&self) -> Option<&domain::accounts::Principal> {
        match self {
            MaybeSession::Signed(s) => Some(&s.0.principal),
            MaybeSession::Anonymous => None,
        }
    }
}

/// An FAQ entry.
#[derive(Debug, Clone, Object)]
pub struct FaqEntry {
    /// Identifier.
    pub id: i64,
    /// The question.
    pub question: String,
    /// Other ways students asked it.
    pub also_asked: Vec<String>,
    /// The answer's Markdown source.
    pub answer: String,
    /// The answer rendered as sanitised HTML.
    pub answer_html: String,
    /// The category.
    pub category_id: i64,
    /// Tags.
    pub tags: Vec<String>,
    /// Order within the category.
    pub position: i32,
    /// `draft` or `published`.
    pub state: String,
    /// Numbers of the tickets it was made from.
    pub source_tickets: Vec<i64>,
    /// Who wrote it (account id).
    pub author_id: i64,
    /// When it was written.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
    /// When it was last published.
    pub published_at: Nullable<DateTime<Utc>>,
    /// Readers who found it helpful.
    pub helpful: u32,
    /// Readers who did not.
    pub not_helpful: u32,
}

impl From<df::FaqEntry> for FaqEntry {
    fn from(e: df::FaqEntry) -> Self {
        Self {
            id: e.id.get(),
            question: e.question.as_str().to_owned(),
            also_asked: e.also_asked.iter().map(|q| q.as_str().to_owned()).collect(),
            answer_html: markup::markdown_to_html(e.answer.as_str()),
            answer: e.answer.as_str().to_owned(),
            category_id: e.category_id.get(),
            tags: e.tags.to_strings(),
            position: e.position,
            state: e.state.as_str().to_owned(),
            source_tickets: e.sources.iter().map(|t| t.get()).collect(),
            author_id: e.author_id.get(),
            created_at: e.created_at,
            updated_at: e.updated_at,
            published_at: Nullable(e.published_at),
            helpful: e.helpful,
            not_helpful: e.not_helpful,
        }
    }
}

/// An FAQ candidate: a resolved ticket not yet in the FAQ.
#[derive(Debug, Clone, Object)]
pub struct FaqCandidate {
    /// The ticket's number.
    pub number: i64,
    /// Its title.
    pub title: String,
    /// Its category.
    pub category_id: i64,
    /// Its votes.
    pub votes: u32,
    /// Its watchers.
    pub watchers: u32,
    /// Tickets merged into it.
    pub merged_duplicates: u32,
    /// `10·votes + 4·merged_duplicates + watchers`.
    pub score: u64,
}

/// A draft from a ticket.
#[derive(Debug, Object)]
pub struct FromTicketBody {
    /// The number of a resolved or closed ticket (a merged ticket's target is used).
    pub from_ticket: i64,
}

/// Alternative wordings of a question: at most ten.
pub type AlsoAsked = text::Items<Text<text::Question>, { df::MAX_ALSO_ASKED }>;

/// A new entry written from scratch (a draft).
#[derive(Debug, Object)]
pub struct NewFaqBody {
    /// The question (5–300 characters, one line).
    pub question: Text<text::Question>,
    /// Other wordings (at most 10).
    #[oai(default)]
    pub also_asked: AlsoAsked,
    /// The answer (Markdown, 1–20,000 characters).
    pub answer: Text<text::Markdown>,
    /// The category.
    pub category_id: i64,
    /// Tags (at most 5).
    #[oai(default)]
    pub tags: text::Tags,
    /// Order within the category (default 0).
    pub position: Option<i32>,
}

/// Fields to change; absent fields stay as they are.
#[derive(Debug, Object)]
pub struct FaqPatchBody {
    /// New question.
    pub question: Option<Text<text::Question>>,
    /// New alternative wordings (replacing the old ones).
    pub also_asked: Option<AlsoAsked>,
    /// New answer.
    pub answer: Option<Text<text::Markdown>>,
    /// New category.
    pub category_id: Option<i64>,
    /// New tags.
    pub tags: Option<text::Tags>,
    /// New position within the category.
    pub position: Option<i32>,
}

/// A reader's verdict.
#[derive(Debug, Object)]
pub struct FeedbackBody {
    /// Whether the entry helped.
    pub helpful: bool,
}

/// An operation answering with one entry.
#[derive(ApiResponse)]
pub enum EntryResponse {
    /// The entry as it is now.
    #[oai(status = 200)]
    Ok(Json<FaqEntry>),
}

/// A new draft.
#[derive(ApiResponse)]
pub enum CreatedResponse {
    /// The draft.
    #[oai(status = 201)]
    Created(Json<FaqEntry>),
}

/// A listing of entries.
#[derive(ApiResponse)]
pub enum EntriesResponse {
    /// Entries by category position, then entry position.
    #[oai(status = 200)]
    Ok(Json<Vec<FaqEntry>>),
}

/// The FAQ candidates.
#[derive(ApiResponse)]
pub enum CandidatesResponse {
    /// Most worth curating first.
    #[oai(status = 200)]
    Ok(Json<Vec<FaqCandidate>>),
}

error_set!(
    /// Errors of public reading.
    PublicErrors = [400, 422, 500]
);
error_set!(
    /// Errors of reading one entry.
    ReadErrors = [400, 404, 500]
);
error_set!(
    /// Errors of curators' listings.
    CuratorListErrors = [400, 401, 403, 422, 500]
);
error_set!(
    /// Errors of curators' actions without a body.
    ActionErrors = [400, 401, 403, 404, 500]
);
error_set!(
    /// Errors of curators' actions with a body.
    BodyErrors = [400, 401, 403, 404, 409, 413, 415, 422, 500]
);

fn list(entries: Vec<df::FaqEntry>) -> EntriesResponse {
    EntriesResponse::Ok(Json(entries.into_iter().map(Into::into).collect()))
}

/// The FAQ.
pub struct FaqApi;

#[OpenApi(prefix_path = "/api/v1", tag = "ApiTags::Faq")]
impl FaqApi {
    /// Published FAQ entries
    ///
    /// Public: no token needed. Optionally one category and a search (`q`: every word,
    /// case-insensitively, in the question, an alternative wording or the answer).
    #[oai(path = "/faq", method = "get", operation_id = "list_faq")]
    async fn list(
        &self,
        app: Data<&Arc<App>>,
        /// Only this category.
        category_id: Query<Option<i64>>,
        /// Words to search for (at most 200 characters).
        q: Query<Option<Text<text::Search>>>,
    ) -> Result<EntriesResponse, Failure<PublicErrors>> {
        Ok(list(app.faq.published(category_id.0, q.0.as_ref().map(Text::as_str)).await?))
    }

    /// One FAQ entry
    ///
    /// Public for published entries; a draft is `faq_entry_not_found` except to curators.
    #[oai(path = "/faq/:id", method = "get", operation_id = "get_faq_entry")]
    async fn get(
        &self,
        auth: MaybeSession,
        app: Data<&Arc<App>>,
        /// The entry.
        id: Path<i64>,
    ) -> Result<EntryResponse, Failure<ReadErrors>> {
        Ok(EntryResponse::Ok(Json(app.faq.get(auth.principal(), FaqEntryId::new(id.0)).await?.into())))
    }

    /// FAQ drafts
    ///
    /// Curators only.
    #[oai(path = "/faq/drafts", method = "get", operation_id = "list_faq_drafts")]
    async fn drafts(&self, auth: Session, app: Data<&Arc<App>>) -> Result<EntriesResponse, Failure<CuratorListErrors>> {
        Ok(list(app.faq.drafts(&auth.0.principal).await?))
    }

    /// FAQ candidates
    ///
    /// Curators only. Resolved or closed tickets that no entry was made from, ranked by
    /// `10·votes + 4·merged_duplicates + watchers`.
    #[oai(path = "/faq/candidates", method = "get", operation_id = "list_faq_candidates")]
    async fn candidates(
        &self,
        auth: Session,
        app: Data<&Arc<App>>,
        /// How many, 1–100 (default 25).
        limit: Query<Option<PageSize>>,
    ) -> Result<CandidatesResponse, Failure<CuratorListErrors>> {
        let ranked = app.faq.candidates(&auth.0.principal, limit.0.map(|l| l.0)).await?;
        Ok(CandidatesResponse::Ok(Json(
            ranked
                .into_iter()
                .map(|c| FaqCandidate {
                    number: c.stats.ticket.get(),
                    title: c.stats.title,
                    category_id: c.stats.category_id.get(),
                    votes: c.stats.votes,
                    watchers: c.stats.watchers,
                    merged_duplicates: c.stats.merged_duplicates,
                    score: c.score,
                })
                .collect(),
        )))
    }

    /// Draft an entry from a ticket
    ///
    /// Curators only. Step one of publishing: the question is the ticket's title (merged
    /// duplicates' titles become alternative wordings), the answer its resolution, the
    /// category and tags its own. Edit it, then publish it.
    #[oai(path = "/faq/drafts", method = "post", operation_id = "draft_faq_from_ticket")]
    async fn draft_from_ticket(
        &self,
        auth: Session,
        app: Data<&Arc<App>>,
        body: Json<FromTicketBody>,
    ) -> Result<CreatedResponse, Failure<BodyErrors>> {
        let entry = app.faq.draft_from_ticket(&auth.0.principal, TicketId::new(body.0.from_ticket)).await?;
        Ok(CreatedResponse::Created(Json(entry.into())))
    }

    /// Write an entry from scratch
    ///
    /// Curators only; the entry starts as a draft. A `category_id` that names no category is
    /// 404 `category_not_found` (with `field`).
    #[oai(path = "/faq", method = "post", operation_id = "create_faq_entry")]
    async fn create(
        &self,
        auth: Session,
        app: Data<&Arc<App>>,
        body: Json<NewFaqBody>,
    ) -> Result<CreatedResponse, Failure<BodyErrors>> {
        let b = body.0;
        let draft = df::FaqDraft {
            question: b.question.into_inner(),
            also_asked: b.also_asked.into_strings(),
            answer: b.answer.into_inner(),
            category_id: b.category_id,
            tags: b.tags.into_strings(),
            position: b.position,
        };
        Ok(CreatedResponse::Created(Json(app.faq.create(&auth.0.principal, draft).await?.into())))
    }

    /// Edit an entry
    ///
    /// Curators only; drafts and published entries alike.
    #[oai(path = "/faq/:id", method = "patch", operation_id = "edit_faq_entry")]
    async fn edit(
        &self,
        auth: Session,
        app: Data<&Arc<App>>,
        /// The entry.
        id: Path<i64>,
        body: Json<FaqPatchBody>,
    ) -> Result<EntryResponse, Failure<BodyErrors>> {
        let b = body.0;
        let patch = df::FaqPatch {
            question: b.question.map(Text::into_inner),
            also_asked: b.also_asked.map(text::Items::into_strings),
            answer: b.answer.map(Text::into_inner),
            category_id: b.category_id,
            tags: b.tags.map(text::Items::into_strings),
            position: b.position,
        };
        Ok(EntryResponse::Ok(Json(app.faq.edit(&auth.0.principal, FaqEntryId::new(id.0), patch).await?.into())))
    }

    /// Publish an entry
    ///
    /// Curators only. Step two: students see it, in the FAQ and among suggestions; its
    /// source tickets record `faq_published` in their history.
    #[oai(path = "/faq/:id/publish", method = "post", operation_id = "publish_faq_entry")]
    async fn publish(
        &self,
        auth: Session,
        app: Data<&Arc<App>>,
        /// The entry.
        id: Path<i64>,
    ) -> Result<EntryResponse, Failure<ActionErrors>> {
        Ok(EntryResponse::Ok(Json(app.faq.publish(&auth.0.principal, FaqEntryId::new(id.0)).await?.into())))
    }

    /// Unpublish an entry
    ///
    /// Curators only; it becomes a draft again.
    #[oai(path = "/faq/:id/unpublish", method = "post", operation_id = "unpublish_faq_entry")]
    async fn unpublish(
        &self,
        auth: Session,
        app: Data<&Arc<App>>,
        /// The entry.
        id: Path<i64>,
    ) -> Result<EntryResponse, Failure<ActionErrors>> {
        Ok(EntryResponse::Ok(Json(app.faq.unpublish(&auth.0.principal, FaqEntryId::new(id.0)).await?.into())))
    }

    /// Say whether an entry helped
    ///
    /// Signed-in, active accounts; one verdict per reader per entry, which they may change.
    #[oai(path = "/faq/:id/feedback", method = "post", operation_id = "faq_feedback")]
    async fn feedback(
        &self,
        auth: Session,
        app: Data<&Arc<App>>,
        /// The entry.
        id: Path<i64>,
        body: Json<FeedbackBody>,
    ) -> Result<EntryResponse, Failure<BodyErrors>> {
        let entry = app.faq.feedback(&auth.0.principal, FaqEntryId::new(id.0), body.0.helpful).await?;
        Ok(EntryResponse::Ok(Json(entry.into())))
    }
}
