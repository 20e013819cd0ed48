use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::model::*;
use crate::accounts::UserId;
use crate::tickets::{Ticket, TicketId};

/// Storage of FAQ entries, their sources and readers' feedback.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait FaqRepository: Send + Sync {
    /// Stores a new draft with its sources; one transaction.
    async fn insert(&self, entry: NewFaqEntry) -> anyhow::Result<FaqEntry>;

    /// An entry in any state. MUST return `Ok(None)` if there is none.
    async fn get(&self, id: FaqEntryId) -> anyhow::Result<Option<FaqEntry>>;

    /// Applies the edits and sets `updated_at`; one transaction. MUST return `Ok(None)` if
    /// there is no such entry.
    async fn update(&self, id: FaqEntryId, edits: Vec<FaqEdit>, at: DateTime<Utc>) -> anyhow::Result<Option<FaqEntry>>;

    /// Publishes a draft in one transaction: sets the state and `published_at`, and records a
    /// `FaqPublished` event (by `actor`) on every source ticket, so the tickets' histories
    /// show it and the notifications hook sees it. MUST return `Ok(None)` if there is no such
    /// entry, and change nothing (returning the entry) if it is already published.
    async fn publish(&self, id: FaqEntryId, actor: UserId, at: DateTime<Utc>) -> anyhow::Result<Option<FaqEntry>>;

    /// Makes an entry a draft again. MUST return `Ok(None)` if there is no such entry.
    async fn unpublish(&self, id: FaqEntryId, at: DateTime<Utc>) -> anyhow::Result<Option<FaqEntry>>;

    /// Entries in the query's state, category and text (every word, case-insensitively, in
    /// the question, an alternative wording or the answer; `%` and `_` are literal), ordered
    /// by their category's position, then their own position, then id. MUST NOT return an
    /// entry in another state.
    async fn list(&self, query: FaqQuery) -> anyhow::Result<Vec<FaqEntry>>;

    /// Up to `limit` published entries matching any word of `text` (see
    /// [`crate::faq::search_words`]), best [`crate::faq::match_score`] first. MUST NOT return
    /// drafts.
    async fn search_published(&self, text: &str, limit: usize) -> anyhow::Result<Vec<FaqHit>>;

    /// Resolved or closed tickets that are not a source of any entry, with their votes,
    /// watchers and merged duplicates (unranked).
    async fn candidates(&self) -> anyhow::Result<Vec<CandidateStats>>;

    /// Tickets currently merged into `ticket`.
    async fn merged_duplicates(&self, ticket: TicketId) -> anyhow::Result<Vec<Ticket>>;

    /// Records (or changes) `user`'s verdict on an entry; one per user per entry. MUST
    /// return `Ok(None)` if there is no such entry.
    async fn feedback(&self, id: FaqEntryId, user: UserId, helpful: bool) -> anyhow::Result<Option<FaqEntry>>;
}
