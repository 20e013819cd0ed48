use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::lexical::LexicalDoc;
use super::model::*;
use crate::accounts::UserId;
use crate::faq::FaqEntryId;
use crate::tickets::{Status, TicketId, TicketView};

/// The store's side of similar tickets: full-text search and batched reads.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait SimilarityIndex: Send + Sync {
    /// Up to `limit` tickets whose title or description match any term of `query` (title
    /// matches weigh more), best first, with a score where higher is better. MUST return
    /// only tickets whose status is in `statuses`, MUST return `Ok(vec![])` for an empty
    /// query, and MUST NOT fail because of the terms (they are letters and digits only).
    async fn lexical(&self, query: &LexicalQuery, statuses: &[Status], limit: u32) -> anyhow::Result<Vec<LexicalHit>>;

    /// The tickets with these ids as `viewer` sees them (`voted` is false without a viewer),
    /// in any order; ids without a ticket are skipped.
    async fn views(&self, ids: &[TicketId], viewer: Option<UserId>) -> anyhow::Result<Vec<TicketView>>;

    /// Up to `limit` **published** FAQ entries whose question, other wordings or answer
    /// match any term of `query` (question and wordings weigh more), best first, scored like
    /// [`SimilarityIndex::lexical`] so that both lists can be merged by score. MUST NOT
    /// return a draft, MUST return `Ok(vec![])` for an empty query.
    async fn lexical_faq(&self, query: &LexicalQuery, limit: u32) -> anyhow::Result<Vec<FaqLexicalHit>>;

    /// The **published** entries among `ids`, in any order; drafts and unknown ids are
    /// skipped (an entry unpublished since it was ranked MUST NOT come back).
    async fn faq_views(&self, ids: &[FaqEntryId]) -> anyhow::Result<Vec<FaqView>>;

    /// A page of tickets' texts for the in-memory [`super::LexicalIndex`], in id order after
    /// `after`, every status; with `changed_since`, only tickets raised or updated at or
    /// after it. Each document's key MUST be a [`DocKey::Ticket`].
    async fn ticket_texts(
        &self,
        after: Option<TicketId>,
        changed_since: Option<DateTime<Utc>>,
        limit: u32,
    ) -> anyhow::Result<Vec<LexicalDoc>>;

    /// Every **published** FAQ entry's text (question and other wordings as the title, the
    /// answer as the body), keyed [`DocKey::Faq`]. MUST NOT return drafts.
    async fn published_faq_texts(&self) -> anyhow::Result<Vec<LexicalDoc>>;
}

/// Stored ticket and FAQ entry embeddings, so that a restart does not recompute them.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait EmbeddingRepository: Send + Sync {
    /// Up to `limit` tickets that have no embedding by `model` (new tickets, tickets whose
    /// title or description changed since, tickets embedded by another model), oldest first.
    async fn pending(&self, model: &str, limit: u32) -> anyhow::Result<Vec<EmbeddingJob>>;

    /// Stores each job's embedding by `model`, replacing any older one, but only where the
    /// ticket's title and description are still those of the job (an edit meanwhile makes
    /// the ticket pending again instead); one transaction. MUST return the tickets stored.
    async fn save(&self, model: &str, items: Vec<(EmbeddingJob, Embedding)>) -> anyhow::Result<Vec<TicketId>>;

    /// A page of stored embeddings by `model`, in ticket order, after `after`.
    async fn load(
        &self,
        model: &str,
        after: Option<TicketId>,
        limit: u32,
    ) -> anyhow::Result<Vec<(TicketId, Embedding)>>;

    /// Like [`Self::load`], only embeddings stored at or after `since` (by any server: other
    /// servers catch their in-memory index up with it).
    async fn load_since(
        &self,
        model: &str,
        since: DateTime<Utc>,
        after: Option<TicketId>,
        limit: u32,
    ) -> anyhow::Result<Vec<(TicketId, Embedding)>>;

    /// Up to `limit` **published** FAQ entries that have no embedding by `model` (new, newly
    /// published, question or wordings changed since, or another model), oldest first.
    async fn pending_faq(&self, model: &str, limit: u32) -> anyhow::Result<Vec<FaqEmbeddingJob>>;

    /// Stores each job's embedding by `model`, replacing any older one, but only where the
    /// entry's question and wordings are still those of the job; one transaction. MUST
    /// return the entries stored.
    async fn save_faq(&self, model: &str, items: Vec<(FaqEmbeddingJob, Embedding)>) -> anyhow::Result<Vec<FaqEntryId>>;

    /// A page of stored FAQ entry embeddings by `model` (published or not: the ranking reads
    /// entries through [`SimilarityIndex::faq_views`], which skips drafts), in entry order,
    /// after `after`.
    async fn load_faq(
        &self,
        model: &str,
        after: Option<FaqEntryId>,
        limit: u32,
    ) -> anyhow::Result<Vec<(FaqEntryId, Embedding)>>;

    /// Like [`Self::load_faq`], only embeddings stored at or after `since`.
    async fn load_faq_since(
        &self,
        model: &str,
        since: DateTime<Utc>,
        after: Option<FaqEntryId>,
        limit: u32,
    ) -> anyhow::Result<Vec<(FaqEntryId, Embedding)>>;
}

/// Why texts could not be embedded.
#[derive(Debug, thiserror::Error)]
pub enum EmbedError {
    /// The model is not loaded (still loading, missing, or switched off).
    #[error("the embedding model is not available")]
    Unavailable,
    /// Anything else.
    #[error(transparent)]
    Unknown(#[from] anyhow::Error),
}

/// A sentence-embedding model.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait Embedder: Send + Sync {
    /// Whether [`Embedder::embed`] can work now.
    fn state(&self) -> SemanticState;

    /// A stable name of the model and its version; stored with each embedding so that a new
    /// model re-embeds everything.
    fn model_id(&self) -> String;

    /// One unit-length embedding per text, in order. MUST return `Unavailable` unless the
    /// state is `Ready`. CPU-heavy: adapters run it off the async executor.
    async fn embed(&self, texts: Vec<String>) -> Result<Vec<Embedding>, EmbedError>;
}

/// A signal that a ticket's title or description changed (or a ticket was raised), or that
/// an FAQ entry was edited, published or unpublished, sent after the change is committed so
/// that its embedding gets recomputed soon. Losing a signal is harmless: the embedding
/// worker also sweeps for pending tickets and entries periodically.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
pub trait EmbeddingQueue: Send + Sync {
    /// The content of `ticket` changed.
    fn content_changed(&self, ticket: TicketId);

    /// The FAQ entry `entry` changed (text or publication).
    fn faq_changed(&self, entry: FaqEntryId);
}
