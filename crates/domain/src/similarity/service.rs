use std::collections::HashMap;
use std::sync::Arc;

use super::index::VectorIndex;
use super::model::*;
use super::ports::*;
use super::rank::{self, Blend, Threshold};
use crate::accounts::{Principal, UserId};
use crate::error::Error;
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
        principal.require_active().is_ok() && suggestable(ticket.ticket.status)
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
struct Ranked {
    view: TicketView,
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
}

impl SimilarityService {
    /// Most characters of a snippet.
    pub const SNIPPET_CHARS: usize = 160;

    /// Wires the service to its ports.
    pub fn new(
        index: Arc<dyn SimilarityIndex>,
        embeddings: Arc<dyn EmbeddingRepository>,
        embedder: Arc<dyn Embedder>,
        vectors: Arc<VectorIndex>,
        config: SimilarityConfig,
    ) -> Self {
        Self { index, embeddings, embedder, vectors, config }
    }

    /// What the semantic stage can do now (for health probes and logs).
    pub fn semantic_state(&self) -> SemanticState {
        self.embedder.state()
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
        let statuses = visibility::suggestable_statuses();
        let (ranked, ranking) = self
            .rank(draft, &statuses, Some(principal.id), limit.get() as usize, |view| {
                visibility::may_see(principal, view)
            })
            .await?;
        let items = ranked
            .into_iter()
            .map(|r| {
                let text = if r.view.ticket.description.as_str().is_empty() {
                    r.view.ticket.title.as_str()
                } else {
                    r.view.ticket.description.as_str()
                };
                Suggestion {
                    snippet: snippet(text, Self::SNIPPET_CHARS),
                    may_vote: policy::may_vote(principal, &r.view.ticket).is_ok(),
                    score: r.score,
                    view: r.view,
                }
            })
            .collect();
        Ok(Suggestions { items, ranking })
    }

    /// The resolved or closed tickets most similar to a title and description, best first,
    /// with the same ranking and threshold as suggestions. For internal decisions such as
    /// "assign a new ticket to the staff member who resolved the most similar recent
    /// tickets": it takes no principal, so never hand its result to a client as is.
    pub async fn similar_resolved(&self, draft: &Draft, limit: usize) -> Result<Vec<ResolvedMatch>, Error> {
        let statuses = [Status::Resolved, Status::Closed];
        let (ranked, _) =
            self.rank(draft, &statuses, None, limit, |view| statuses.contains(&view.ticket.status)).await?;
        Ok(ranked.into_iter().map(|r| ResolvedMatch { ticket: r.view.ticket.id, score: r.score }).collect())
    }

    async fn rank(
        &self,
        draft: &Draft,
        statuses: &[Status],
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
            match self.embedder.embed(vec![text]).await {
                Ok(mut v) if v.len() == 1 => v.pop(),
                Ok(_) | Err(EmbedError::Unavailable) | Err(EmbedError::Unknown(_)) => None,
            }
        } else {
            None
        };
        let ranking = match (&query_vector, self.config.mode) {
            (None, _) => RankingMode::Lexical,
            (Some(_), mode) => mode,
        };
        let lexical = if (use_lexical || query_vector.is_none()) && !query.is_empty() {
            self.index.lexical(&query, statuses, candidates).await?
        } else {
            vec![]
        };
        let semantic: Vec<(TicketId, f32)> = match &query_vector {
            Some(q) => self.vectors.search(q, candidates as usize),
            None => vec![],
        };
        let blend = match ranking {
            RankingMode::Lexical => Blend { semantic_weight: 0.0, ..self.config.blend },
            RankingMode::Semantic => Blend { lexical_weight: 0.0, ..self.config.blend },
            RankingMode::Blended => self.config.blend,
        };
        let lexical_ids: Vec<TicketId> = lexical.iter().map(|h| h.ticket).collect();
        let semantic_ids: Vec<TicketId> = semantic.iter().map(|h| h.0).collect();
        let fused = rank::blend(&lexical_ids, &semantic_ids, &blend);
        if fused.is_empty() {
            return Ok((vec![], ranking));
        }

        // Read a few more than asked for: some may be invisible or too weak.
        let window: Vec<TicketId> = fused.iter().take(limit * 3 + 10).map(|f| f.ticket).collect();
        let mut views: HashMap<TicketId, TicketView> =
            self.index.views(&window, viewer).await?.into_iter().map(|v| (v.ticket.id, v)).collect();
        let cosines: HashMap<TicketId, f32> = semantic.into_iter().collect();
        let mut ranked = Vec::with_capacity(limit);
        for f in fused.iter().take(window.len()) {
            if ranked.len() == limit {
                break;
            }
            let Some(view) = views.remove(&f.ticket) else { continue };
            if !visible(&view) {
                continue;
            }
            let cosine = query_vector
                .as_ref()
                .and_then(|q| cosines.get(&f.ticket).copied().or_else(|| self.vectors.cosine(f.ticket, q)));
            let coverage =
                query.coverage(&format!("{} {}", view.ticket.title.as_str(), view.ticket.description.as_str()));
            if rank::passes_threshold(cosine, coverage, &self.config.threshold) {
                ranked.push(Ranked { view, score: f.score });
            }
        }
        Ok((ranked, ranking))
    }

    /// Embeds up to `batch` tickets whose embedding is missing or stale, stores the vectors
    /// and adds them to the in-memory index. Returns how many were embedded: 0 when nothing
    /// is pending or the embedder is not ready (the worker tries again later).
    pub async fn embed_pending(&self, batch: u32) -> Result<usize, Error> {
        if self.embedder.state() != SemanticState::Ready {
            return Ok(0);
        }
        let model = self.embedder.model_id();
        let jobs = self.embeddings.pending(&model, batch).await?;
        if jobs.is_empty() {
            return Ok(0);
        }
        let vectors = match self.embedder.embed(jobs.iter().map(EmbeddingJob::text).collect()).await {
            Ok(v) => v,
            Err(EmbedError::Unavailable) => return Ok(0),
            Err(EmbedError::Unknown(e)) => return Err(Error::Unknown(e)),
        };
        if vectors.len() != jobs.len() {
            return Err(Error::Unknown(anyhow::anyhow!(
                "embedder returned {} vectors for {} texts",
                vectors.len(),
                jobs.len()
            )));
        }
        let by_id: HashMap<TicketId, Embedding> = jobs.iter().map(|j| j.ticket).zip(vectors.iter().cloned()).collect();
        let saved = self.embeddings.save(&model, jobs.into_iter().zip(vectors).collect()).await?;
        for id in &saved {
            if let Some(v) = by_id.get(id) {
                self.vectors.upsert(*id, v);
            }
        }
        Ok(saved.len())
    }

    /// Fills the in-memory index from the stored embeddings of the current model (at start).
    /// Returns how many were loaded.
    pub async fn load_vectors(&self) -> Result<usize, Error> {
        const PAGE: u32 = 2_000;
        let model = self.embedder.model_id();
        let mut after = None;
        let mut loaded = 0;
        loop {
            let page = self.embeddings.load(&model, after, PAGE).await?;
            let Some(last) = page.last() else { break };
            after = Some(last.0);
            for (id, v) in &page {
                if self.vectors.upsert(*id, v) {
                    loaded += 1;
                }
            }
            if page.len() < PAGE as usize {
                break;
            }
        }
        Ok(loaded)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::accounts::{AccountStatus, Role};
    use crate::categories::CategoryId;
    use crate::tickets::{Description, Priority, Tags, Ticket, Title};
    use chrono::{TimeZone, Utc};

    fn student(id: i64) -> Principal {
        Principal { id: UserId::new(id), role: Role::Student, status: AccountStatus::Active }
    }

    fn view(id: i64, status: Status, title: &str, description: &str) -> TicketView {
        let t = Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap();
        TicketView {
            ticket: Ticket {
                id: TicketId::new(id),
                title: Title::parse(title).unwrap(),
                description: Description::parse(description).unwrap(),
                category_id: CategoryId::new(1),
                tags: Tags::default(),
                priority: Priority::Medium,
                status,
                creator_id: UserId::new(1),
                creator_name: "Ada".into(),
                created_at: t,
                updated_at: t,
                vote_count: 2,
                version: 1,
                assignee: None,
                resolution: None,
                merged_into: None,
                follow_up_of: None,
            },
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

    /// A store holding `tickets`, answering lexical queries with `lexical` (in that order).
    fn index(tickets: Vec<TicketView>, lexical: &[i64]) -> MockSimilarityIndex {
        let mut index = MockSimilarityIndex::new();
        let lexical = hits(lexical);
        index.expect_lexical().returning(move |_, _, _| Ok(lexical.clone()));
        index
            .expect_views()
            .returning(move |ids, _| Ok(tickets.iter().filter(|v| ids.contains(&v.ticket.id)).cloned().collect()));
        index
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
        SimilarityService::new(
            Arc::new(index),
            Arc::new(MockEmbeddingRepository::new()),
            Arc::new(embedder),
            vectors,
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

    fn numbers(s: &Suggestions) -> Vec<i64> {
        s.items.iter().map(|i| i.view.ticket.id.get()).collect()
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
        assert!(s.items.iter().all(|i| i.may_vote), "student 9 raised none of them");
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
        let pending = Principal { status: AccountStatus::Pending, ..student(9) };
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
        let pending = Principal { status: AccountStatus::Pending, ..student(9) };
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
        let vectors = Arc::new(VectorIndex::new());
        let svc = SimilarityService::new(
            Arc::new(MockSimilarityIndex::new()),
            Arc::new(repo),
            Arc::new(embedder(SemanticState::Loading, None)),
            vectors.clone(),
            SimilarityConfig::default(),
        );
        assert_eq!(svc.load_vectors().await.unwrap(), 2);
        assert_eq!(vectors.len(), 2);
    }
}
