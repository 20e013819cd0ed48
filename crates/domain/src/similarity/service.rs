use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};

use super::index::VectorIndex;
use super::lexical::LexicalIndex;
use super::model::*;
use super::ports::*;
use super::rank::{self, Blend, Threshold};
use crate::accounts::{Principal, UserId};
use crate::error::Error;
use crate::faq::FaqEntryId;
use crate::tickets::{policy, Status, TicketId, TicketView};

/// Who may be shown which ticket as a suggestion: pure rules, kept here so they can tighten
/// (private tickets, course-scoped visibility) without touching the ranking.
pub mod visibility {
    use super::*;

    /// Whether tickets in this status are suggested at all. Resolved and closed tickets are
    /// (their answer is what the student needs); merged ones are not (they point elsewhere).
    pub fn suggestable(status: Status) -> bool {
        match status {
            Status::Open | Status::InProgress | Status::Resolved | Status::Closed => true,
            Status::Merged => false,
        }
    }

    /// The statuses the store may return as suggestions.
    pub fn suggestable_statuses() -> Vec<Status> {
        Status::ALL.into_iter().filter(|s| suggestable(*s)).collect()
    }

    /// Whether `principal` may see `ticket` among suggestions. Today every active account may
    /// see every ticket (as `TicketService::get` allows).
    pub fn may_see(principal: &Principal, ticket: &TicketView) -> bool {
        principal.require_active().is_ok() && suggestable(ticket.ticket.status())
    }
}

/// How many suggestions a client may ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SuggestionLimit(u32);

impl SuggestionLimit {
    /// The most suggestions in one answer.
    pub const MAX: u32 = 20;
    /// When the client does not say.
    pub const DEFAULT: u32 = 5;

    /// A limit between 1 and [`Self::MAX`]; `None` means the default.
    pub fn new(limit: Option<u32>) -> Result<Self, Error> {
        match limit {
            None => Ok(Self(Self::DEFAULT)),
            Some(n) if (1..=Self::MAX).contains(&n) => Ok(Self(n)),
            Some(_) => {
                Err(Error::invalid("limit", "out_of_range", format!("limit must be between 1 and {}", Self::MAX)))
            }
        }
    }

    /// The limit as a number.
    pub fn get(self) -> u32 {
        self.0
    }
}

/// How the service ranks; the defaults are what `osts serve` uses.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SimilarityConfig {
    /// Which stages rank.
    pub mode: RankingMode,
    /// How the stages are fused.
    pub blend: Blend,
    /// What is too weak to show.
    pub threshold: Threshold,
    /// How many candidates each stage contributes before fusion.
    pub candidates: u32,
}

impl Default for SimilarityConfig {
    fn default() -> Self {
        Self { mode: RankingMode::Blended, blend: Blend::default(), threshold: Threshold::default(), candidates: 50 }
    }
}

/// Suggestions and how they were ranked.
#[derive(Debug, Clone, PartialEq)]
pub struct Suggestions {
    /// Best first; empty when nothing is similar enough.
    pub items: Vec<Suggestion>,
    /// The ranking actually used: `Lexical` when the semantic stage was not available.
    pub ranking: RankingMode,
}

/// A resolved ticket similar to a draft (see [`SimilarityService::similar_resolved`]).
#[derive(Debug, Clone, PartialEq)]
pub struct ResolvedMatch {
    /// The ticket.
    pub ticket: TicketId,
    /// Relevance between 0 and 1.
    pub score: f64,
}

/// A ranked candidate before it becomes a [`Suggestion`].
// Most candidates are tickets: boxing them would allocate per candidate to save nothing.
#[allow(clippy::large_enum_variant)]
enum Candidate {
    Ticket(TicketView),
    Faq(FaqView),
}

impl Candidate {
    fn is_faq(&self) -> bool {
        matches!(self, Candidate::Faq(_))
    }
}

struct Ranked {
    candidate: Candidate,
    score: f64,
}

/// Similar tickets for drafts, and the upkeep of ticket embeddings.
#[derive(Clone)]
pub struct SimilarityService {
    index: Arc<dyn SimilarityIndex>,
    embeddings: Arc<dyn EmbeddingRepository>,
    embedder: Arc<dyn Embedder>,
    vectors: Arc<VectorIndex>,
    config: SimilarityConfig,
    lexical_index: Arc<LexicalIndex>,
    drafts: Arc<Mutex<DraftCache>>,
}

/// The embeddings of the latest drafts: a browser sends the same title again and again while
/// the student types the description (debounced calls), and embedding is the costliest step.
#[derive(Default)]
struct DraftCache {
    vectors: HashMap<String, Embedding>,
    order: VecDeque<String>,
}

impl DraftCache {
    /// Drafts remembered (a few hundred kilobytes).
    const CAPACITY: usize = 256;

    fn get(&self, text: &str) -> Option<Embedding> {
        self.vectors.get(text).cloned()
    }

    fn put(&mut self, text: String, vector: Embedding) {
        if self.vectors.insert(text.clone(), vector).is_none() {
            self.order.push_back(text);
            while self.order.len() > Self::CAPACITY {
                if let Some(old) = self.order.pop_front() {
                    self.vectors.remove(&old);
                }
            }
        }
    }
}

/// How far before the last catch-up a catch-up looks again, so that a ticket committed late
/// (its `updated_at` set before a slow commit, or by a server whose clock is behind) is not
/// missed. Re-reading an unchanged ticket costs a hash comparison.
pub const CATCH_UP_MARGIN: chrono::Duration = chrono::Duration::minutes(2);

impl SimilarityService {
    /// Most characters of a snippet.
    pub const SNIPPET_CHARS: usize = 160;

    /// Wires the service to its ports. Suggestions are ranked lexically with `lexical` once
    /// it is loaded (see [`Self::load_lexical`]); the store's full-text query is the fallback
    /// until then (and for good where no job loads it), and serves
    /// [`Self::similar_resolved`].
    pub fn new(
        index: Arc<dyn SimilarityIndex>,
        embeddings: Arc<dyn EmbeddingRepository>,
        embedder: Arc<dyn Embedder>,
        vectors: Arc<VectorIndex>,
        lexical: Arc<LexicalIndex>,
        config: SimilarityConfig,
    ) -> Self {
        Self { index, embeddings, embedder, vectors, config, lexical_index: lexical, drafts: Arc::default() }
    }

    /// What the semantic stage can do now (for health probes and logs).
    pub fn semantic_state(&self) -> SemanticState {
        self.embedder.state()
    }

    /// Embeds one draft, timed as the `embed` stage.
    async fn embed_draft(&self, text: String) -> Result<Vec<Embedding>, EmbedError> {
        let started = std::time::Instant::now();
        let embedded = self.embedder.embed(vec![text]).await;
        crate::telemetry::similar_stage("embed", started);
        embedded
    }

    /// Up to `limit` tickets the principal may see that already cover the draft's concern,
    /// best first, each with the viewer's vote and whether they may vote. Empty when nothing
    /// passes the relevance threshold. Semantic ranking is used when the embedder is ready,
    /// else (or if embedding the draft fails) the answer is lexical and says so.
    pub async fn suggest(
        &self,
        principal: &Principal,
        draft: &Draft,
        limit: SuggestionLimit,
    ) -> Result<Suggestions, Error> {
        principal.require_active()?;
        let started = std::time::Instant::now();
        let statuses = visibility::suggestable_statuses();
        let (ranked, ranking) = self
            .rank(draft, &statuses, true, Some(principal.id()), limit.get() as usize, |view| {
                visibility::may_see(principal, view)
            })
            .await?;
        let items = ranked
            .into_iter()
            .map(|r| match r.candidate {
                Candidate::Ticket(view) => {
                    let text = if view.ticket.description().as_str().is_empty() {
                        view.ticket.title().as_str()
                    } else {
                        view.ticket.description().as_str()
                    };
                    Suggestion {
                        snippet: snippet(text, Self::SNIPPET_CHARS),
                        score: r.score,
                        item: Suggested::Ticket { may_vote: policy::may_vote(principal, &view.ticket).is_ok(), view },
                    }
                }
                Candidate::Faq(faq) => Suggestion {
                    snippet: snippet(&faq.answer, Self::SNIPPET_CHARS),
                    score: r.score,
                    item: Suggested::Faq(faq),
                },
            })
            .collect();
        crate::telemetry::similar_stage("total", started);
        Ok(Suggestions { items, ranking })
    }

    /// The resolved or closed tickets most similar to a title and description, best first,
    /// with the same ranking and threshold as suggestions. For internal decisions such as
    /// "assign a new ticket to the staff member who resolved the most similar recent
    /// tickets": it takes no principal, so never hand its result to a client as is.
    pub async fn similar_resolved(&self, draft: &Draft, limit: usize) -> Result<Vec<ResolvedMatch>, Error> {
        let statuses = [Status::Resolved, Status::Closed];
        let (ranked, _) =
            self.rank(draft, &statuses, false, None, limit, |view| statuses.contains(&view.ticket.status())).await?;
        Ok(ranked
            .into_iter()
            .filter_map(|r| match r.candidate {
                Candidate::Ticket(view) => Some(ResolvedMatch { ticket: view.ticket.id(), score: r.score }),
                Candidate::Faq(_) => None,
            })
            .collect())
    }

    /// Ranks tickets in `statuses` (and published FAQ entries when `faq`) against a draft.
    #[allow(clippy::too_many_arguments)]
    async fn rank(
        &self,
        draft: &Draft,
        statuses: &[Status],
        faq: bool,
        viewer: Option<UserId>,
        limit: usize,
        visible: impl Fn(&TicketView) -> bool,
    ) -> Result<(Vec<Ranked>, RankingMode), Error> {
        let query = LexicalQuery::from_text(&format!("{} {}", draft.title(), draft.description()));
        let text = draft.embedding_text();
        let candidates = self.config.candidates;

        let (use_lexical, want_semantic) = match self.config.mode {
            RankingMode::Lexical => (true, false),
            RankingMode::Semantic => (false, true),
            RankingMode::Blended => (true, true),
        };
        let query_vector = if want_semantic && !text.is_empty() && self.embedder.state() == SemanticState::Ready {
            // A failure degrades to lexical ranking: suggestions are a help, not a gate.
            // The adapter logs its own failures.
            let cached = self.drafts.lock().unwrap_or_else(|e| e.into_inner()).get(&text);
            match cached {
                Some(v) => Some(v),
                None => match self.embed_draft(text.clone()).await {
                    Ok(mut v) if v.len() == 1 => {
                        let v = v.pop();
                        if let Some(v) = &v {
                            self.drafts.lock().unwrap_or_else(|e| e.into_inner()).put(text, v.clone());
                        }
                        v
                    }
                    Ok(_) | Err(EmbedError::Unavailable) | Err(EmbedError::Unknown(_)) => None,
                },
            }
        } else {
            None
        };
        let ranking = match (&query_vector, self.config.mode) {
            (None, _) => RankingMode::Lexical,
            (Some(_), mode) => mode,
        };
        let mut lexical: Vec<(DocKey, f64)> = Vec::new();
        // The in-memory index holds every ticket (whatever its status) and the published
        // entries: good for suggestions, whose views are filtered below.
        let in_memory = Some(&self.lexical_index).filter(|i| faq && i.is_loaded());
        if (use_lexical || query_vector.is_none()) && !query.is_empty() {
            let started = std::time::Instant::now();
            if let Some(index) = in_memory {
                lexical = index.search(&query, candidates as usize);
            } else {
                lexical = self.store_lexical(&query, statuses, faq, candidates).await?;
            }
            crate::telemetry::similar_stage("lexical", started);
        }
        let semantic: Vec<(DocKey, f32)> = match &query_vector {
            Some(q) => {
                let started = std::time::Instant::now();
                let mut found = self.vectors.search(q, candidates as usize);
                crate::telemetry::similar_stage("semantic", started);
                if !faq {
                    found.retain(|(key, _)| matches!(key, DocKey::Ticket(_)));
                }
                found
            }
            None => vec![],
        };
        let blend = match ranking {
            RankingMode::Lexical => Blend { semantic_weight: 0.0, ..self.config.blend },
            RankingMode::Semantic => Blend { lexical_weight: 0.0, ..self.config.blend },
            RankingMode::Blended => self.config.blend,
        };
        let lexical_ids: Vec<DocKey> = lexical.iter().map(|h| h.0).collect();
        let semantic_ids: Vec<DocKey> = semantic.iter().map(|h| h.0).collect();
        let fused = rank::blend(&lexical_ids, &semantic_ids, &blend);
        if fused.is_empty() {
            return Ok((vec![], ranking));
        }

        // Read a few more than asked for: some may be invisible, unpublished or too weak.
        let window: Vec<DocKey> = fused.iter().take(limit * 3 + 10).map(|f| f.doc).collect();
        let ticket_ids: Vec<TicketId> =
            window.iter().filter_map(|k| if let DocKey::Ticket(t) = k { Some(*t) } else { None }).collect();
        let entry_ids: Vec<FaqEntryId> =
            window.iter().filter_map(|k| if let DocKey::Faq(e) = k { Some(*e) } else { None }).collect();
        let mut views: HashMap<TicketId, TicketView> = if ticket_ids.is_empty() {
            HashMap::new()
        } else {
            self.index.views(&ticket_ids, viewer).await?.into_iter().map(|v| (v.ticket.id(), v)).collect()
        };
        let mut entries: HashMap<FaqEntryId, FaqView> = if entry_ids.is_empty() {
            HashMap::new()
        } else {
            self.index.faq_views(&entry_ids).await?.into_iter().map(|v| (v.id, v)).collect()
        };
        let cosines: HashMap<DocKey, f32> = semantic.into_iter().collect();
        let mut ranked: Vec<Ranked> = Vec::with_capacity(limit);
        // The best published entry past the cut, if none made it: see `lift_faq`.
        let mut best_faq: Option<Ranked> = None;
        for f in fused.iter().take(window.len()) {
            if ranked.len() == limit && (best_faq.is_some() || ranked.iter().any(|r| r.candidate.is_faq())) {
                break;
            }
            let (candidate, text) = match f.doc {
                DocKey::Ticket(id) => {
                    let Some(view) = views.remove(&id) else { continue };
                    if !visible(&view) {
                        continue;
                    }
                    let text = format!("{} {}", view.ticket.title().as_str(), view.ticket.description().as_str());
                    (Candidate::Ticket(view), text)
                }
                DocKey::Faq(id) => {
                    // Only published entries come back from the store.
                    let Some(entry) = entries.remove(&id) else { continue };
                    let text = entry.searchable_text();
                    (Candidate::Faq(entry), text)
                }
            };
            let cosine = query_vector
                .as_ref()
                .and_then(|q| cosines.get(&f.doc).copied().or_else(|| self.vectors.cosine(f.doc, q)));
            if rank::passes_threshold(cosine, query.coverage(&text), &self.config.threshold) {
                if ranked.len() < limit {
                    ranked.push(Ranked { candidate, score: f.score });
                } else if candidate.is_faq() {
                    best_faq = Some(Ranked { candidate, score: f.score });
                }
            }
        }
        Ok((lift_faq(ranked, best_faq, limit), ranking))
    }

    /// The store's full-text ranking: tickets in `statuses`, and published entries when
    /// `faq`, merged by score.
    async fn store_lexical(
        &self,
        query: &LexicalQuery,
        statuses: &[Status],
        faq: bool,
        candidates: u32,
    ) -> Result<Vec<(DocKey, f64)>, Error> {
        let tickets = self.index.lexical(query, statuses, candidates).await?;
        let mut lexical: Vec<(DocKey, f64)> =
            tickets.into_iter().map(|h| (DocKey::Ticket(h.ticket), h.score)).collect();
        if faq {
            let entries = self.index.lexical_faq(query, candidates).await?;
            lexical.extend(entries.into_iter().map(|h| (DocKey::Faq(h.entry), h.score)));
            // One list, by the stores' comparable scores (stable: tickets first on ties).
            lexical.sort_by(|a, b| b.1.total_cmp(&a.1));
            lexical.truncate(candidates as usize);
        }
        Ok(lexical)
    }

    /// Fills the in-memory lexical index from the store (at start): every ticket, then the
    /// published FAQ entries; from then on suggestions are ranked lexically in memory.
    /// `now` is when the reading starts (the next catch-up looks from there). Returns how
    /// many documents were indexed.
    pub async fn load_lexical(&self, now: DateTime<Utc>) -> Result<usize, Error> {
        let index = &self.lexical_index;
        let n = self.read_tickets(index, None).await? + self.read_faq(index).await?;
        index.mark_loaded(now);
        Ok(n)
    }

    /// Catches the in-memory lexical index up with the store: tickets raised or edited since
    /// the last read (minus [`CATCH_UP_MARGIN`]), and the published FAQ entries (an
    /// unpublished one leaves the index). Run after a change commits and periodically, so
    /// that several servers over one database stay consistent. Loads fully if the index was
    /// never loaded. Returns how many documents changed.
    pub async fn refresh_lexical(&self, now: DateTime<Utc>) -> Result<usize, Error> {
        let index = &self.lexical_index;
        let Some(since) = index.watermark().filter(|_| index.is_loaded()) else { return self.load_lexical(now).await };
        let n = self.read_tickets(index, Some(since - CATCH_UP_MARGIN)).await? + self.read_faq(index).await?;
        index.set_watermark(now);
        Ok(n)
    }

    async fn read_tickets(&self, index: &LexicalIndex, since: Option<DateTime<Utc>>) -> Result<usize, Error> {
        const PAGE: u32 = 5_000;
        let (mut after, mut n) = (None, 0);
        loop {
            let page = self.index.ticket_texts(after, since, PAGE).await?;
            let Some(last) = page.last() else { break };
            after = match last.key {
                DocKey::Ticket(t) => Some(t),
                DocKey::Faq(_) => return Err(Error::Unknown(anyhow::anyhow!("ticket_texts returned an FAQ entry"))),
            };
            n += index.upsert(&page);
            if page.len() < PAGE as usize {
                break;
            }
        }
        Ok(n)
    }

    async fn read_faq(&self, index: &LexicalIndex) -> Result<usize, Error> {
        let published = self.index.published_faq_texts().await?;
        let keep: HashSet<DocKey> = published.iter().map(|d| d.key).collect();
        let gone: Vec<DocKey> = index.faq_entries().into_iter().filter(|k| !keep.contains(k)).collect();
        for key in &gone {
            index.remove(*key);
        }
        Ok(gone.len() + index.upsert(&published))
    }

    /// Embeds up to `batch` tickets whose embedding is missing or stale (or, when no ticket
    /// is pending, up to `batch` published FAQ entries), stores the vectors and adds them to
    /// the in-memory index. Returns how many were embedded: 0 when nothing is pending or the
    /// embedder is not ready (the worker tries again later).
    pub async fn embed_pending(&self, batch: u32) -> Result<usize, Error> {
        if self.embedder.state() != SemanticState::Ready {
            return Ok(0);
        }
        let model = self.embedder.model_id();
        let jobs = self.embeddings.pending(&model, batch).await?;
        if !jobs.is_empty() {
            let texts = jobs.iter().map(EmbeddingJob::text).collect();
            let Some(vectors) = self.embed_texts(texts).await? else { return Ok(0) };
            let by_id: HashMap<TicketId, Embedding> =
                jobs.iter().map(|j| j.ticket).zip(vectors.iter().cloned()).collect();
            let saved = self.embeddings.save(&model, jobs.into_iter().zip(vectors).collect()).await?;
            return Ok(self.index_saved(saved, &by_id));
        }
        let jobs = self.embeddings.pending_faq(&model, batch).await?;
        if jobs.is_empty() {
            return Ok(0);
        }
        let texts = jobs.iter().map(FaqEmbeddingJob::text).collect();
        let Some(vectors) = self.embed_texts(texts).await? else { return Ok(0) };
        let by_id: HashMap<FaqEntryId, Embedding> = jobs.iter().map(|j| j.entry).zip(vectors.iter().cloned()).collect();
        let saved = self.embeddings.save_faq(&model, jobs.into_iter().zip(vectors).collect()).await?;
        Ok(self.index_saved(saved, &by_id))
    }

    /// One vector per text; `None` when the model went away meanwhile.
    async fn embed_texts(&self, texts: Vec<String>) -> Result<Option<Vec<Embedding>>, Error> {
        let n = texts.len();
        let vectors = match self.embedder.embed(texts).await {
            Ok(v) => v,
            Err(EmbedError::Unavailable) => return Ok(None),
            Err(EmbedError::Unknown(e)) => return Err(Error::Unknown(e)),
        };
        if vectors.len() != n {
            return Err(Error::Unknown(anyhow::anyhow!("embedder returned {} vectors for {n} texts", vectors.len())));
        }
        Ok(Some(vectors))
    }

    /// Adds the stored vectors to the in-memory index; returns how many were stored.
    fn index_saved<K: Copy + Into<DocKey> + Eq + std::hash::Hash>(
        &self,
        saved: Vec<K>,
        by_id: &HashMap<K, Embedding>,
    ) -> usize {
        for id in &saved {
            if let Some(v) = by_id.get(id) {
                self.vectors.upsert(*id, v);
            }
        }
        saved.len()
    }

    /// When the in-memory lexical index last read the store; `None` before its load.
    pub fn lexical_watermark(&self) -> Option<DateTime<Utc>> {
        self.lexical_index.watermark().filter(|_| self.lexical_index.is_loaded())
    }

    /// When the in-memory vector index last read the store; `None` before its load.
    pub fn vectors_watermark(&self) -> Option<DateTime<Utc>> {
        self.vectors.watermark()
    }

    /// Catches the in-memory vector index up with the embeddings stored since its last read
    /// (minus [`CATCH_UP_MARGIN`]) by any server, tickets and FAQ entries, so that a ticket
    /// embedded by another server over the same database is suggested by meaning here too;
    /// loads every stored embedding the first time. `now` is when the reading starts (the
    /// next catch-up looks from there). Returns how many vectors were added or changed.
    pub async fn refresh_vectors(&self, now: DateTime<Utc>) -> Result<usize, Error> {
        let Some(since) = self.vectors.watermark() else {
            let n = self.load_vectors().await?;
            self.vectors.set_watermark(now);
            return Ok(n);
        };
        const PAGE: u32 = 2_000;
        let (model, since) = (self.embedder.model_id(), since - CATCH_UP_MARGIN);
        let mut changed = 0;
        let mut after = None;
        loop {
            let page = self.embeddings.load_since(&model, since, after, PAGE).await?;
            let Some(last) = page.last() else { break };
            after = Some(last.0);
            changed += page.iter().filter(|(id, v)| self.vectors.upsert(*id, v)).count();
            if page.len() < PAGE as usize {
                break;
            }
        }
        let mut after = None;
        loop {
            let page = self.embeddings.load_faq_since(&model, since, after, PAGE).await?;
            let Some(last) = page.last() else { break };
            after = Some(last.0);
            changed += page.iter().filter(|(id, v)| self.vectors.upsert(*id, v)).count();
            if page.len() < PAGE as usize {
                break;
            }
        }
        self.vectors.set_watermark(now);
        Ok(changed)
    }

    /// Fills the in-memory index from the stored embeddings of the current model, tickets
    /// and FAQ entries (at start). Returns how many were loaded.
    pub async fn load_vectors(&self) -> Result<usize, Error> {
        const PAGE: u32 = 2_000;
        let model = self.embedder.model_id();
        let mut loaded = 0;
        let mut after = None;
        loop {
            let page = self.embeddings.load(&model, after, PAGE).await?;
            let Some(last) = page.last() else { break };
            after = Some(last.0);
            loaded += page.iter().filter(|(id, v)| self.vectors.upsert(*id, v)).count();
            if page.len() < PAGE as usize {
                break;
            }
        }
        let mut after = None;
        loop {
            let page = self.embeddings.load_faq(&model, after, PAGE).await?;
            let Some(last) = page.last() else { break };
            after = Some(last.0);
            loaded += page.iter().filter(|(id, v)| self.vectors.upsert(*id, v)).count();
            if page.len() < PAGE as usize {
                break;
            }
        }
        Ok(loaded)
    }
}

/// Where the best published FAQ entry that passes the threshold may stand at worst: second,
/// behind the best ticket. An entry is the curated answer to a concern that is often asked,
/// so many near-identical tickets of that concern must not push it out of the list.
pub const FAQ_WORST_PLACE: usize = 2;

/// Puts `faq` (the best entry that fell past the cut) at [`FAQ_WORST_PLACE`] when no entry is
/// in `ranked`; the last ticket makes room. Otherwise (or when fewer than
/// [`FAQ_WORST_PLACE`] suggestions were asked for) `ranked` is returned as it is.
fn lift_faq(mut ranked: Vec<Ranked>, faq: Option<Ranked>, limit: usize) -> Vec<Ranked> {
    let Some(faq) = faq else { return ranked };
    if ranked.iter().any(|r| r.candidate.is_faq()) || limit < FAQ_WORST_PLACE {
        return ranked;
    }
    ranked.truncate(limit - 1);
    ranked.insert((FAQ_WORST_PLACE - 1).min(ranked.len()), faq);
    ranked
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::accounts::{AccountStatus, Role};
    use crate::categories::CategoryId;

    use crate::testing::{PrincipalBuilder, TicketBuilder};
    use chrono::{TimeZone, Utc};

    fn student(id: i64) -> Principal {
        PrincipalBuilder::new(id, Role::Student).build()
    }

    fn view(id: i64, status: Status, title: &str, description: &str) -> TicketView {
        let t = Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap();
        TicketView {
            ticket: TicketBuilder::new(id)
                .title(title)
                .description(description)
                .status(status)
                .created_at(t)
                .votes(2)
                .build(),
            voted: false,
            watching: false,
        }
    }

    fn e(v: &[f32]) -> Embedding {
        Embedding::normalised(v.to_vec()).unwrap()
    }

    fn hits(ids: &[i64]) -> Vec<LexicalHit> {
        ids.iter()
            .enumerate()
            .map(|(i, id)| LexicalHit { ticket: TicketId::new(*id), score: 10.0 - i as f64 })
            .collect()
    }

    /// A store holding `tickets` and no FAQ entry, answering lexical queries with `lexical`
    /// (in that order).
    fn index(tickets: Vec<TicketView>, lexical: &[i64]) -> MockSimilarityIndex {
        with_faq(tickets, lexical, vec![], &[])
    }

    /// A store holding `tickets` and the published FAQ `entries`, answering lexical queries
    /// with `lexical` tickets and `faq_lexical` entries (id, score).
    fn with_faq(
        tickets: Vec<TicketView>,
        lexical: &[i64],
        entries: Vec<FaqView>,
        faq_lexical: &[(i64, f64)],
    ) -> MockSimilarityIndex {
        let mut index = MockSimilarityIndex::new();
        let lexical = hits(lexical);
        index.expect_lexical().returning(move |_, _, _| Ok(lexical.clone()));
        index
            .expect_views()
            .returning(move |ids, _| Ok(tickets.iter().filter(|v| ids.contains(&v.ticket.id())).cloned().collect()));
        let faq_hits: Vec<FaqLexicalHit> =
            faq_lexical.iter().map(|&(id, score)| FaqLexicalHit { entry: FaqEntryId::new(id), score }).collect();
        index.expect_lexical_faq().returning(move |_, _| Ok(faq_hits.clone()));
        index
            .expect_faq_views()
            .returning(move |ids| Ok(entries.iter().filter(|e| ids.contains(&e.id)).cloned().collect()));
        index
    }

    fn entry(id: i64, question: &str, answer: &str) -> FaqView {
        FaqView {
            id: FaqEntryId::new(id),
            question: question.into(),
            also_asked: String::new(),
            answer: answer.into(),
            category_id: CategoryId::new(1),
        }
    }

    fn embedder(state: SemanticState, answer: Option<Embedding>) -> MockEmbedder {
        let mut embedder = MockEmbedder::new();
        embedder.expect_state().return_const(state);
        embedder.expect_model_id().return_const("test-model".to_owned());
        match answer {
            Some(v) => {
                embedder.expect_embed().returning(move |texts| Ok(texts.iter().map(|_| v.clone()).collect()));
            }
            None if state == SemanticState::Ready => {
                embedder.expect_embed().returning(|_| Err(EmbedError::Unknown(anyhow::anyhow!("model crashed"))));
            }
            None => {
                embedder.expect_embed().never();
            }
        }
        embedder
    }

    fn service(index: MockSimilarityIndex, embedder: MockEmbedder, vectors: Arc<VectorIndex>) -> SimilarityService {
        with_lexical(index, embedder, vectors, Arc::new(LexicalIndex::new()))
    }

    fn with_lexical(
        index: MockSimilarityIndex,
        embedder: MockEmbedder,
        vectors: Arc<VectorIndex>,
        lexical: Arc<LexicalIndex>,
    ) -> SimilarityService {
        SimilarityService::new(
            Arc::new(index),
            Arc::new(MockEmbeddingRepository::new()),
            Arc::new(embedder),
            vectors,
            lexical,
            SimilarityConfig::default(),
        )
    }

    fn corpus() -> Vec<TicketView> {
        vec![
            view(1, Status::Open, "Exam results missing", "My exam results are not shown"),
            view(2, Status::Resolved, "Exam room booking", "Where do I book an exam room"),
            view(3, Status::Open, "Grades not published", "Marks for the midterm never appeared"),
            view(4, Status::Merged, "Exam results missing too", "Same as the other one"),
        ]
    }

    /// Ticket numbers, and FAQ entry ids negated.
    fn numbers(s: &Suggestions) -> Vec<i64> {
        s.items
            .iter()
            .map(|i| match i.key() {
                DocKey::Ticket(t) => t.get(),
                DocKey::Faq(e) => -e.get(),
            })
            .collect()
    }

    fn draft(title: &str) -> Draft {
        Draft::parse(title, "").unwrap()
    }

    #[tokio::test]
    async fn degrades_to_lexical_while_the_model_is_loading() {
        let svc = service(index(corpus(), &[1, 2]), embedder(SemanticState::Loading, None), Arc::default());
        let s = svc.suggest(&student(9), &draft("exam results"), SuggestionLimit::new(None).unwrap()).await.unwrap();
        assert_eq!(s.ranking, RankingMode::Lexical);
        // Ticket 2 covers only "exam" of "exam results": below the threshold.
        assert_eq!(numbers(&s), vec![1]);
        assert_eq!(svc.semantic_state(), SemanticState::Loading);
    }

    #[tokio::test]
    async fn degrades_to_lexical_when_embedding_fails() {
        let svc = service(index(corpus(), &[1]), embedder(SemanticState::Ready, None), Arc::default());
        let s = svc.suggest(&student(9), &draft("exam results"), SuggestionLimit::new(None).unwrap()).await.unwrap();
        assert_eq!(s.ranking, RankingMode::Lexical);
        assert_eq!(numbers(&s), vec![1]);
    }

    #[tokio::test]
    async fn blends_meaning_with_words_when_ready() {
        let vectors = Arc::new(VectorIndex::new());
        vectors.upsert(TicketId::new(3), &e(&[1.0, 0.0, 0.0]));
        vectors.upsert(TicketId::new(1), &e(&[0.8, 0.6, 0.0]));
        vectors.upsert(TicketId::new(2), &e(&[0.0, 0.0, 1.0]));
        let svc = service(index(corpus(), &[1, 2]), embedder(SemanticState::Ready, Some(e(&[1.0, 0.1, 0.0]))), vectors);
        let s = svc.suggest(&student(9), &draft("exam results"), SuggestionLimit::new(None).unwrap()).await.unwrap();
        assert_eq!(s.ranking, RankingMode::Blended);
        // 3 shares no word but is nearest in meaning; 2 is neither close nor covering.
        assert_eq!(numbers(&s), vec![1, 3]);
        assert!(s.items[0].score >= s.items[1].score);
        assert!(
            s.items.iter().all(|i| matches!(i.item, Suggested::Ticket { may_vote: true, .. })),
            "student 9 raised none of them"
        );
    }

    #[tokio::test]
    async fn merged_tickets_are_never_suggested_and_limit_holds() {
        let svc = service(index(corpus(), &[4, 1]), embedder(SemanticState::Disabled, None), Arc::default());
        let (who, what) = (student(9), draft("exam results missing"));
        let s = svc.suggest(&who, &what, SuggestionLimit::new(Some(1)).unwrap()).await.unwrap();
        assert_eq!(numbers(&s), vec![1]);
    }

    #[tokio::test]
    async fn nothing_similar_means_no_suggestions() {
        let svc = service(index(corpus(), &[]), embedder(SemanticState::Disabled, None), Arc::default());
        let s = svc.suggest(&student(9), &draft("library card"), SuggestionLimit::new(None).unwrap()).await.unwrap();
        assert!(s.items.is_empty());
    }

    #[tokio::test]
    async fn pending_accounts_get_nothing() {
        let mut idx = MockSimilarityIndex::new();
        idx.expect_lexical().never();
        let svc = service(idx, embedder(SemanticState::Disabled, None), Arc::default());
        let pending = PrincipalBuilder::student(9).status(AccountStatus::Pending).build();
        assert!(svc.suggest(&pending, &draft("exam"), SuggestionLimit::new(None).unwrap()).await.is_err());
    }

    #[test]
    fn limits_are_bounded() {
        assert_eq!(SuggestionLimit::new(None).unwrap().get(), 5);
        assert_eq!(SuggestionLimit::new(Some(20)).unwrap().get(), 20);
        assert!(SuggestionLimit::new(Some(0)).is_err());
        assert!(SuggestionLimit::new(Some(21)).is_err());
    }

    #[test]
    fn visibility_table() {
        for status in Status::ALL {
            assert_eq!(visibility::suggestable(status), status != Status::Merged, "{status:?}");
        }
        let pending = PrincipalBuilder::student(9).status(AccountStatus::Pending).build();
        assert!(!visibility::may_see(&pending, &corpus()[0]));
        assert!(visibility::may_see(&student(9), &corpus()[0]));
    }

    #[tokio::test]
    async fn similar_resolved_asks_only_for_resolved_and_closed() {
        let mut idx = MockSimilarityIndex::new();
        idx.expect_lexical()
            .withf(|_, statuses, _| statuses == [Status::Resolved, Status::Closed])
            .times(1)
            .returning(|_, _, _| Ok(hits(&[2])));
        idx.expect_views()
            .withf(|_, viewer| viewer.is_none())
            .returning(|_, _| Ok(vec![view(2, Status::Resolved, "Exam room booking", "Where do I book an exam room")]));
        idx.expect_lexical_faq().never();
        idx.expect_faq_views().never();
        let svc = service(idx, embedder(SemanticState::Disabled, None), Arc::default());
        let found = svc.similar_resolved(&draft("book exam room"), 3).await.unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].ticket.get(), 2);
    }

    #[tokio::test]
    async fn embed_pending_stores_and_indexes_only_what_was_saved() {
        let mut repo = MockEmbeddingRepository::new();
        let job = |id: i64| EmbeddingJob {
            ticket: TicketId::new(id),
            title: format!("Ticket {id}"),
            description: String::new(),
        };
        repo.expect_pending()
            .withf(|model, n| model == "test-model" && *n == 8)
            .returning(move |_, _| Ok(vec![job(1), job(2)]));
        // Ticket 2 was edited meanwhile: the store refuses its stale embedding.
        repo.expect_save().withf(|_, items| items.len() == 2).returning(|_, _| Ok(vec![TicketId::new(1)]));
        let vectors = Arc::new(VectorIndex::new());
        let svc = SimilarityService::new(
            Arc::new(MockSimilarityIndex::new()),
            Arc::new(repo),
            Arc::new(embedder(SemanticState::Ready, Some(e(&[1.0, 0.0])))),
            vectors.clone(),
            Arc::new(LexicalIndex::new()),
            SimilarityConfig::default(),
        );
        assert_eq!(svc.embed_pending(8).await.unwrap(), 1);
        assert_eq!(vectors.len(), 1);
        assert!(vectors.cosine(TicketId::new(1), &e(&[1.0, 0.0])).is_some());
    }

    #[tokio::test]
    async fn embed_pending_waits_for_the_model() {
        let mut repo = MockEmbeddingRepository::new();
        repo.expect_pending().never();
        let svc = SimilarityService::new(
            Arc::new(MockSimilarityIndex::new()),
            Arc::new(repo),
            Arc::new(embedder(SemanticState::Loading, None)),
            Arc::default(),
            Arc::new(LexicalIndex::new()),
            SimilarityConfig::default(),
        );
        assert_eq!(svc.embed_pending(8).await.unwrap(), 0);
    }

    #[tokio::test]
    async fn load_vectors_pages_through_the_store() {
        let mut repo = MockEmbeddingRepository::new();
        repo.expect_load()
            .withf(|_, after, _| after.is_none())
            .returning(|_, _, _| Ok(vec![(TicketId::new(1), e(&[1.0, 0.0])), (TicketId::new(2), e(&[0.0, 1.0]))]));
        repo.expect_load_faq()
            .withf(|_, after, _| after.is_none())
            .returning(|_, _, _| Ok(vec![(FaqEntryId::new(1), e(&[0.6, 0.8]))]));
        let vectors = Arc::new(VectorIndex::new());
        let svc = SimilarityService::new(
            Arc::new(MockSimilarityIndex::new()),
            Arc::new(repo),
            Arc::new(embedder(SemanticState::Loading, None)),
            vectors.clone(),
            Arc::new(LexicalIndex::new()),
            SimilarityConfig::default(),
        );
        assert_eq!(svc.load_vectors().await.unwrap(), 3);
        assert_eq!(vectors.len(), 3, "ticket 1 and entry 1 are different documents");
        assert!(vectors.cosine(FaqEntryId::new(1), &e(&[0.6, 0.8])).is_some());
    }

    #[tokio::test]
    async fn refresh_vectors_loads_once_then_reads_what_any_server_stored_since_the_last_read() {
        let t0 = chrono::TimeZone::with_ymd_and_hms(&Utc, 2026, 5, 1, 9, 0, 0).unwrap();
        let t1 = t0 + chrono::Duration::seconds(5);
        let mut repo = MockEmbeddingRepository::new();
        repo.expect_load().times(1).returning(|_, _, _| Ok(vec![(TicketId::new(1), e(&[1.0, 0.0]))]));
        repo.expect_load_faq().times(1).returning(|_, _, _| Ok(vec![]));
        // Another server embedded ticket 2 after this one's load.
        repo.expect_load_since()
            .times(1)
            .withf(move |_, since, after, _| *since == t0 - CATCH_UP_MARGIN && after.is_none())
            .returning(|_, _, _, _| Ok(vec![(TicketId::new(2), e(&[0.0, 1.0]))]));
        repo.expect_load_faq_since()
            .times(1)
            .withf(move |_, since, _, _| *since == t0 - CATCH_UP_MARGIN)
            .returning(|_, _, _, _| Ok(vec![]));
        let vectors = Arc::new(VectorIndex::new());
        let svc = SimilarityService::new(
            Arc::new(MockSimilarityIndex::new()),
            Arc::new(repo),
            Arc::new(embedder(SemanticState::Ready, None)),
            vectors.clone(),
            Arc::new(LexicalIndex::new()),
            SimilarityConfig::default(),
        );
        assert_eq!(svc.refresh_vectors(t0).await.unwrap(), 1, "the first call loads everything");
        assert_eq!(vectors.watermark(), Some(t0));
        assert!(vectors.cosine(TicketId::new(2), &e(&[0.0, 1.0])).is_none());
        assert_eq!(svc.refresh_vectors(t1).await.unwrap(), 1);
        assert_eq!(vectors.watermark(), Some(t1));
        assert!(vectors.cosine(TicketId::new(2), &e(&[0.0, 1.0])).is_some(), "ticket 2 is searchable here now");
    }

    #[tokio::test]
    async fn published_faq_entries_rank_with_tickets() {
        let faq = vec![entry(7, "How do I get missing exam results?", "They are published a week after the exam.")];
        // Lexically the entry scores between ticket 1 and ticket 2.
        let idx = with_faq(corpus(), &[1, 2], faq, &[(7, 9.5)]);
        let svc = service(idx, embedder(SemanticState::Disabled, None), Arc::default());
        let s = svc.suggest(&student(9), &draft("exam results"), SuggestionLimit::new(None).unwrap()).await.unwrap();
        assert_eq!(numbers(&s), vec![1, -7]);
        let Suggested::Faq(found) = &s.items[1].item else { panic!("{:?}", s.items[1]) };
        assert_eq!(found.question, "How do I get missing exam results?");
        assert_eq!(s.items[1].snippet, "They are published a week after the exam.");
    }

    #[tokio::test]
    async fn many_similar_tickets_never_push_the_best_faq_entry_below_second_place() {
        let tickets = vec![
            view(1, Status::Open, "Exam results missing", "My exam results are not shown"),
            view(5, Status::Open, "Exam results late", "Exam results are not out yet"),
            view(6, Status::Resolved, "Exam results wrong", "My exam results show the wrong course"),
        ];
        let faq = || vec![entry(7, "Where are my exam results?", "They are published a week after the exam.")];
        // (limit, expected): the entry scores last, far behind every ticket.
        for (limit, expected) in [(1, vec![1]), (2, vec![1, -7]), (3, vec![1, -7, 5]), (5, vec![1, 5, 6, -7])] {
            let idx = with_faq(tickets.clone(), &[1, 5, 6], faq(), &[(7, 0.01)]);
            let svc = service(idx, embedder(SemanticState::Disabled, None), Arc::default());
            let limit_of = SuggestionLimit::new(Some(limit)).unwrap();
            let s = svc.suggest(&student(9), &draft("exam results"), limit_of).await.unwrap();
            assert_eq!(numbers(&s), expected, "limit {limit}");
        }
    }

    #[tokio::test]
    async fn faq_entries_blend_by_meaning_too() {
        let vectors = Arc::new(VectorIndex::new());
        vectors.upsert(FaqEntryId::new(7), &e(&[1.0, 0.0, 0.0]));
        vectors.upsert(TicketId::new(1), &e(&[0.6, 0.8, 0.0]));
        let faq = vec![entry(7, "Marks for the midterm never appeared", "Ask your tutor.")];
        let idx = with_faq(corpus(), &[1], faq, &[]);
        let svc = service(idx, embedder(SemanticState::Ready, Some(e(&[1.0, 0.1, 0.0]))), vectors);
        let s = svc.suggest(&student(9), &draft("exam results"), SuggestionLimit::new(None).unwrap()).await.unwrap();
        assert_eq!(s.ranking, RankingMode::Blended);
        // Ticket 1 is in both lists; the entry shares no word with the draft but is the
        // nearest in meaning, so it passes the threshold and follows, as a ticket would.
        assert_eq!(numbers(&s), vec![1, -7]);
    }

    #[tokio::test]
    async fn unpublished_entries_are_never_suggested() {
        // Entry 8 is still found lexically and by its vector (both may lag), but the store
        // no longer returns it as published.
        let vectors = Arc::new(VectorIndex::new());
        vectors.upsert(FaqEntryId::new(8), &e(&[1.0, 0.0, 0.0]));
        let idx = with_faq(corpus(), &[1], vec![], &[(8, 20.0)]);
        let svc = service(idx, embedder(SemanticState::Ready, Some(e(&[1.0, 0.0, 0.0]))), vectors);
        let s = svc.suggest(&student(9), &draft("exam results"), SuggestionLimit::new(None).unwrap()).await.unwrap();
        assert_eq!(numbers(&s), vec![1]);
    }

    #[tokio::test]
    async fn embed_pending_embeds_faq_entries_once_tickets_are_done() {
        let mut repo = MockEmbeddingRepository::new();
        repo.expect_pending().returning(|_, _| Ok(vec![]));
        let job = FaqEmbeddingJob {
            entry: FaqEntryId::new(3),
            question: "Can I defer an exam?".into(),
            also_asked: "Exam deferral\nMissed my exam".into(),
        };
        assert_eq!(job.text(), "Can I defer an exam?. Exam deferral. Missed my exam");
        repo.expect_pending_faq().returning(move |_, _| Ok(vec![job.clone()]));
        repo.expect_save_faq().withf(|_, items| items.len() == 1).returning(|_, _| Ok(vec![FaqEntryId::new(3)]));
        let vectors = Arc::new(VectorIndex::new());
        let svc = SimilarityService::new(
            Arc::new(MockSimilarityIndex::new()),
            Arc::new(repo),
            Arc::new(embedder(SemanticState::Ready, Some(e(&[1.0, 0.0])))),
            vectors.clone(),
            Arc::new(LexicalIndex::new()),
            SimilarityConfig::default(),
        );
        assert_eq!(svc.embed_pending(8).await.unwrap(), 1);
        assert!(vectors.cosine(FaqEntryId::new(3), &e(&[1.0, 0.0])).is_some());
        assert!(vectors.cosine(TicketId::new(3), &e(&[1.0, 0.0])).is_none());
    }

    use crate::similarity::LexicalDoc;

    fn ticket_doc(id: i64, title: &str, body: &str) -> LexicalDoc {
        LexicalDoc { key: DocKey::Ticket(TicketId::new(id)), title: title.into(), body: body.into() }
    }

    fn faq_doc(id: i64, question: &str, answer: &str) -> LexicalDoc {
        LexicalDoc { key: DocKey::Faq(FaqEntryId::new(id)), title: question.into(), body: answer.into() }
    }

    /// A store whose full-text query may be asked `store_queries` times, and whose texts are
    /// the corpus's tickets plus the published `faq` entries (changing with each call).
    fn texts_index(store_queries: usize, faq: Vec<Vec<LexicalDoc>>, entries: Vec<FaqView>) -> MockSimilarityIndex {
        let mut idx = MockSimilarityIndex::new();
        idx.expect_lexical().times(store_queries).returning(|_, _, _| Ok(hits(&[1])));
        idx.expect_lexical_faq().times(store_queries).returning(|_, _| Ok(vec![]));
        // The store's tickets as they are after ticket 3 was edited.
        let mut tickets = corpus();
        tickets[2] = view(3, Status::Open, "Exam results not published", "Marks for the midterm never appeared");
        idx.expect_views()
            .returning(move |ids, _| Ok(tickets.iter().filter(|v| ids.contains(&v.ticket.id())).cloned().collect()));
        idx.expect_faq_views()
            .returning(move |ids| Ok(entries.iter().filter(|e| ids.contains(&e.id)).cloned().collect()));
        idx.expect_ticket_texts().returning(|after, since, _| {
            if after.is_some() {
                return Ok(vec![]);
            }
            Ok(match since {
                None => corpus()
                    .into_iter()
                    .map(|v| {
                        ticket_doc(v.ticket.id().get(), v.ticket.title().as_str(), v.ticket.description().as_str())
                    })
                    .collect(),
                // Ticket 3 was edited since.
                Some(_) => vec![ticket_doc(3, "Exam results not published", "Marks for the midterm never appeared")],
            })
        });
        let mut faq = faq.into_iter();
        idx.expect_published_faq_texts().returning(move || Ok(faq.next().unwrap_or_default()));
        idx
    }

    #[tokio::test]
    async fn the_in_memory_lexical_index_ranks_once_loaded_and_catches_up() {
        let entries = vec![entry(7, "Where are my exam results?", "A week after the exam.")];
        let faq = vec![vec![faq_doc(7, "Where are my exam results?", "A week after the exam.")], vec![]];
        let lexical = Arc::new(LexicalIndex::new());
        let svc = with_lexical(
            texts_index(1, faq, entries),
            embedder(SemanticState::Disabled, None),
            Arc::default(),
            lexical.clone(),
        );
        let (who, limit) = (student(9), SuggestionLimit::new(None).unwrap());
        // Not loaded yet: the store answers (its one allowed query).
        assert_eq!(numbers(&svc.suggest(&who, &draft("exam results"), limit).await.unwrap()), vec![1]);

        let t0 = Utc.with_ymd_and_hms(2026, 3, 2, 0, 0, 0).unwrap();
        assert_eq!(svc.load_lexical(t0).await.unwrap(), 5);
        assert_eq!(lexical.watermark(), Some(t0));
        // From now on the store's full-text query is never asked again.
        let s = svc.suggest(&who, &draft("exam results"), limit).await.unwrap();
        assert_eq!(numbers(&s), vec![1, -7], "the entry ranks with the tickets");

        // The catch-up reads the edited ticket and drops the unpublished entry.
        let t1 = t0 + chrono::Duration::seconds(10);
        assert_eq!(svc.refresh_lexical(t1).await.unwrap(), 2);
        assert_eq!(lexical.watermark(), Some(t1));
        let s = svc.suggest(&who, &draft("exam results"), limit).await.unwrap();
        assert_eq!(numbers(&s), vec![1, 3]);
        // similar_resolved keeps the store's status filter (it may ask the store).
    }

    #[tokio::test]
    async fn refresh_looks_back_from_the_last_read_by_the_margin() {
        let mut idx = MockSimilarityIndex::new();
        let t0 = Utc.with_ymd_and_hms(2026, 3, 2, 0, 0, 0).unwrap();
        idx.expect_ticket_texts().withf(|_, since, _| since.is_none()).times(1).returning(|_, _, _| Ok(vec![]));
        idx.expect_ticket_texts()
            .withf(move |_, since, _| *since == Some(t0 - CATCH_UP_MARGIN))
            .times(1)
            .returning(|_, _, _| Ok(vec![]));
        idx.expect_published_faq_texts().times(2).returning(|| Ok(vec![]));
        let lexical = Arc::new(LexicalIndex::new());
        let svc = with_lexical(idx, embedder(SemanticState::Disabled, None), Arc::default(), lexical.clone());
        // Never loaded: a refresh loads fully.
        svc.refresh_lexical(t0).await.unwrap();
        assert!(lexical.is_loaded());
        svc.refresh_lexical(t0 + chrono::Duration::seconds(5)).await.unwrap();
    }

    #[tokio::test]
    async fn a_repeated_draft_is_embedded_once() {
        let mut model = MockEmbedder::new();
        model.expect_state().return_const(SemanticState::Ready);
        model.expect_model_id().return_const("test-model".to_owned());
        model.expect_embed().times(2).returning(|texts| Ok(texts.iter().map(|_| e(&[1.0, 0.0])).collect()));
        let svc = service(index(corpus(), &[1]), model, Arc::default());
        let limit = SuggestionLimit::new(None).unwrap();
        for title in ["exam results", "exam results", "exam results missing", "exam results"] {
            svc.suggest(&student(9), &draft(title), limit).await.unwrap();
        }
    }
}
