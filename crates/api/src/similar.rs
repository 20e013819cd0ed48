//! Similar tickets: suggestions while a student drafts a ticket (tickets and published FAQ
//! entries), so that they can vote on an existing ticket or read an answer instead of filing
//! a duplicate.

use crate::nullable::SuggestionCount;
use std::sync::Arc;

use domain::similarity::{Draft, RankingMode, Suggested, Suggestion, SuggestionLimit};
use poem::web::Data;
use poem_openapi::{param::Query, payload::Json, ApiResponse, Enum, Object, OpenApi};

use crate::{
    auth::Session,
    error::{error_set, Failure},
    text::{self, Text},
    tickets::TicketStatus,
    ApiTags, App,
};

/// How suggestions were ranked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case", remote = "domain::similarity::RankingMode")]
pub enum Ranking {
    /// By words only (the semantic stage is off, loading or unavailable).
    Lexical,
    /// By meaning only.
    Semantic,
    /// By words and meaning, fused.
    Blended,
}

/// What a suggestion is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum SuggestionKind {
    /// A ticket: vote on it or watch it.
    Ticket,
    /// A published FAQ entry: its answer may be what the student needs
    /// (`GET /api/v1/faq/{id}`).
    Faq,
}

/// A ticket or a published FAQ entry that may already cover the draft's concern.
///
/// Ticket fields are present for tickets (as before FAQ entries were suggested); FAQ fields
/// for FAQ entries. A client that predates `kind` should skip items without a `number`.
#[derive(Debug, Clone, Object)]
pub struct SimilarTicket {
    /// `ticket` or `faq`.
    pub kind: SuggestionKind,
    /// The ticket's number (tickets only); vote with `PUT /api/v1/tickets/{number}/vote`.
    #[oai(skip_serializing_if_is_none)]
    pub number: Option<i64>,
    /// The FAQ entry's id (FAQ entries only).
    #[oai(skip_serializing_if_is_none)]
    pub faq_entry_id: Option<i64>,
    /// The FAQ entry's question (FAQ entries only).
    #[oai(skip_serializing_if_is_none)]
    pub question: Option<String>,
    /// One-line summary: a ticket's title, or an FAQ entry's question.
    pub title: String,
    /// Where the ticket is in its life (tickets only); a resolved ticket's answer may be what
    /// the student needs.
    #[oai(skip_serializing_if_is_none)]
    pub status: Option<TicketStatus>,
    /// The category it belongs to.
    pub category_id: i64,
    /// How many "me too" votes it has (0 for an FAQ entry).
    pub vote_count: u32,
    /// Whether the caller has voted on it (false for an FAQ entry).
    pub voted: bool,
    /// Whether the caller may vote on it (a student, not its creator, not closed; false for
    /// an FAQ entry).
    pub may_vote: bool,
    /// Relevance from 0 to 1, relative to the best possible match; higher is more similar.
    pub score: f64,
    /// The start of a ticket's description, or of an FAQ entry's answer, on one line.
    pub snippet: String,
}

impl From<Suggestion> for SimilarTicket {
    fn from(s: Suggestion) -> Self {
        match s.item {
            Suggested::Ticket { view, may_vote } => {
                let t = view.ticket;
                Self {
                    kind: SuggestionKind::Ticket,
                    number: Some(t.id().get()),
                    faq_entry_id: None,
                    question: None,
                    title: t.title().as_str().to_owned(),
                    status: Some(t.status().into()),
                    category_id: t.category_id().get(),
                    vote_count: t.vote_count(),
                    voted: view.voted,
                    may_vote,
                    score: s.score,
                    snippet: s.snippet,
                }
            }
            Suggested::Faq(entry) => Self {
                kind: SuggestionKind::Faq,
                number: None,
                faq_entry_id: Some(entry.id.get()),
                title: entry.question.clone(),
                question: Some(entry.question),
                status: None,
                category_id: entry.category_id.get(),
                vote_count: 0,
                voted: false,
                may_vote: false,
                score: s.score,
                snippet: s.snippet,
            },
        }
    }
}

/// Suggestions for a draft.
#[derive(Debug, Clone, Object)]
pub struct SimilarTickets {
    /// Best first, tickets and FAQ entries ranked together; empty when nothing is similar
    /// enough.
    pub items: Vec<SimilarTicket>,
    /// How they were ranked.
    pub ranking: Ranking,
}

/// A ticket being drafted.
#[derive(Debug, Object)]
pub struct DraftBody {
    /// The title so far (a few words are enough; at most 1,000 characters).
    #[oai(default)]
    pub title: Text<text::DraftTitle>,
    /// The description so far (at most 20,000 characters).
    #[oai(default)]
    pub description: Text<text::DraftDescription>,
    /// How many suggestions, 1–20 (default 5).
    pub limit: Option<SuggestionCount>,
}

/// Suggestions found.
#[derive(ApiResponse)]
pub enum SimilarResponse {
    /// The suggestions, possibly none.
    #[oai(status = 200)]
    Ok(Json<SimilarTickets>),
}

error_set!(
    /// Errors of looking for similar tickets.
    SimilarErrors = [400, 401, 403, 413, 415, 422, 500]
);

/// Similar tickets.
pub struct SimilarApi;

impl SimilarApi {
    async fn suggest(
        app: &App,
        auth: &Session,
        title: &str,
        description: &str,
        limit: Option<u32>,
    ) -> Result<SimilarResponse, Failure<SimilarErrors>> {
        let draft = Draft::parse(title, description)?;
        let limit = SuggestionLimit::new(limit)?;
        let found = app.similarity.suggest(&auth.0.principal, &draft, limit).await?;
        let ranking: RankingMode = found.ranking;
        Ok(SimilarResponse::Ok(Json(SimilarTickets {
            items: found.items.into_iter().map(Into::into).collect(),
            ranking: ranking.into(),
        })))
    }
}

#[OpenApi(prefix_path = "/api/v1", tag = "ApiTags::Tickets")]
impl SimilarApi {
    /// Find similar tickets
    ///
    /// While a student drafts a ticket: the tickets and published FAQ entries that may
    /// already cover the same concern, ranked together, best first, so they can vote on a
    /// ticket or read an answer instead of filing a duplicate (`kind` says which). Resolved
    /// and closed tickets are included; merged tickets and unpublished entries are not. Ranked by words and meaning when the
    /// semantic stage is ready, by words alone otherwise (`ranking` says which). Empty when
    /// nothing is similar enough. Cheap enough to call on every (debounced) keystroke.
    #[oai(path = "/tickets/similar", method = "get", operation_id = "similar_tickets")]
    async fn similar(
        &self,
        auth: Session,
        app: Data<&Arc<App>>,
        /// The title so far (at most 1,000 characters).
        title: Query<Option<Text<text::DraftTitle>>>,
        /// The description so far (at most 4,000 characters here; the POST form takes up
        /// to 20,000).
        description: Query<Option<Text<text::QueryDescription>>>,
        /// How many suggestions, 1–20 (default 5).
        limit: Query<Option<SuggestionCount>>,
    ) -> Result<SimilarResponse, Failure<SimilarErrors>> {
        let title = title.0.map(Text::into_inner).unwrap_or_default();
        let description = description.0.map(Text::into_inner).unwrap_or_default();
        if description.chars().count() > text::QUERY_DESCRIPTION_MAX_CHARS {
            let message = format!(
                "description must be at most {} characters here; POST longer drafts",
                text::QUERY_DESCRIPTION_MAX_CHARS
            );
            return Err(domain::Error::invalid("description", "too_long", message).into());
        }
        Self::suggest(&app, &auth, &title, &description, limit.0.map(|l| l.0)).await
    }

    /// Find similar tickets for a long draft
    ///
    /// The same as `GET /tickets/similar`, with the draft in the body.
    #[oai(path = "/tickets/similar", method = "post", operation_id = "similar_tickets_for_draft")]
    async fn similar_for_draft(
        &self,
        auth: Session,
        app: Data<&Arc<App>>,
        body: Json<DraftBody>,
    ) -> Result<SimilarResponse, Failure<SimilarErrors>> {
        let DraftBody { title, description, limit } = body.0;
        Self::suggest(&app, &auth, title.as_str(), description.as_str(), limit.map(|l| l.0)).await
    }
}
