use std::sync::Arc;

use super::model::*;
use super::ports::FaqRepository;
use super::{policy, rules};
use crate::accounts::Principal;
use crate::categories::{CategoryId, CategoryRepository};
use crate::clock::Clock;
use crate::error::{Error, Resource};
use crate::similarity::EmbeddingQueue;
use crate::tickets::{Answer, Tags, TicketId, TicketRepository};

/// The FAQ's settings.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FaqSettings {
    /// Whether support members may curate the FAQ as admins do (`OSTS_SUPPORT_CAN_PUBLISH_FAQ`).
    pub support_can_publish: bool,
}

/// An entry as a client wrote it from scratch.
#[derive(Debug, Clone, Default)]
pub struct FaqDraft {
    /// The question.
    pub question: String,
    /// Alternative wordings.
    pub also_asked: Vec<String>,
    /// The answer (Markdown).
    pub answer: String,
    /// The category.
    pub category_id: i64,
    /// Tags.
    pub tags: Vec<String>,
    /// Position within the category (0 when absent).
    pub position: Option<i32>,
}

/// The fields a client wants to change; absent fields stay as they are.
#[derive(Debug, Clone, Default)]
pub struct FaqPatch {
    /// New question.
    pub question: Option<String>,
    /// New alternative wordings.
    pub also_asked: Option<Vec<String>>,
    /// New answer.
    pub answer: Option<String>,
    /// New category.
    pub category_id: Option<i64>,
    /// New tags.
    pub tags: Option<Vec<String>>,
    /// New position.
    pub position: Option<i32>,
}

/// Most candidates a client may ask for.
pub const MAX_CANDIDATES: usize = 100;

/// Curating, reading and searching the FAQ.
#[derive(Clone)]
pub struct FaqService {
    faq: Arc<dyn FaqRepository>,
    tickets: Arc<dyn TicketRepository>,
    categories: Arc<dyn CategoryRepository>,
    clock: Arc<dyn Clock>,
    settings: FaqSettings,
    embedding_queue: Arc<dyn EmbeddingQueue>,
}

fn not_found() -> Error {
    Error::NotFound(Resource::FaqEntry)
}

fn also_asked(raw: &[String]) -> Result<Vec<Question>, Error> {
    if raw.len() > rules::MAX_ALSO_ASKED {
        return Err(Error::invalid(
            "also_asked",
            "too_many",
            format!("an entry keeps at most {} alternative wordings", rules::MAX_ALSO_ASKED),
        ));
    }
    raw.iter()
        .map(|q| {
            Question::parse(q).map_err(|_| {
                Error::invalid(
                    "also_asked",
                    "invalid_question",
                    "each alternative wording is a question of 5 to 300 characters on one line",
                )
            })
        })
        .collect()
}

impl FaqService {
    /// Wires the service to its ports; `embedding_queue` is told after an entry is edited,
    /// published or unpublished, so that the similarity ranking catches up soon (suggestions
    /// include published entries).
    pub fn new(
        faq: Arc<dyn FaqRepository>,
        tickets: Arc<dyn TicketRepository>,
        categories: Arc<dyn CategoryRepository>,
        clock: Arc<dyn Clock>,
        settings: FaqSettings,
        embedding_queue: Arc<dyn EmbeddingQueue>,
    ) -> Self {
        Self { faq, tickets, categories, clock, settings, embedding_queue }
    }

    fn changed(&self, entry: &FaqEntry) {
        self.embedding_queue.faq_changed(entry.id);
    }

    fn curate(&self, principal: &Principal) -> Result<(), Error> {
        policy::may_curate(principal, self.settings.support_can_publish)
    }

    /// Whether `principal` may curate (for clients deciding what to show).
    pub fn may_curate(&self, principal: &Principal) -> bool {
        self.curate(principal).is_ok()
    }

    async fn category(&self, id: i64) -> Result<CategoryId, Error> {
        let id = CategoryId::new(id);
        match self.categories.find(id).await? {
            Some(_) => Ok(id),
            None => Err(Error::UnknownReference { resource: Resource::Category, field: "category_id" }),
        }
    }

    /// Published entries, optionally in one category and matching every word of `q`;
    /// anyone may read them, signed in or not.
    pub async fn published(&self, category_id: Option<i64>, q: Option<&str>) -> Result<Vec<FaqEntry>, Error> {
        let text = crate::text::parse_search(q)?;
        Ok(self
            .faq
            .list(FaqQuery { state: FaqState::Published, category_id: category_id.map(CategoryId::new), text })
            .await?)
    }

    /// Drafts, for curators.
    pub async fn drafts(&self, principal: &Principal) -> Result<Vec<FaqEntry>, Error> {
        self.curate(principal)?;
        Ok(self.faq.list(FaqQuery { state: FaqState::Draft, category_id: None, text: None }).await?)
    }

    /// One entry: published entries for anyone, drafts for curators only (a draft is "not
    /// found" to everyone else, so its existence does not leak).
    pub async fn get(&self, principal: Option<&Principal>, id: FaqEntryId) -> Result<FaqEntry, Error> {
        let entry = self.faq.get(id).await?.ok_or_else(not_found)?;
        match entry.state {
            FaqState::Published => Ok(entry),
            FaqState::Draft if principal.is_some_and(|p| self.may_curate(p)) => Ok(entry),
            FaqState::Draft => Err(not_found()),
        }
    }

    /// FAQ candidates, most worth curating first (see [`rules::candidate_score`]).
    pub async fn candidates(&self, principal: &Principal, limit: Option<u32>) -> Result<Vec<FaqCandidate>, Error> {
        self.curate(principal)?;
        let limit = match limit {
            None => 25,
            Some(n) if (1..=MAX_CANDIDATES as u32).contains(&n) => n as usize,
            Some(_) => {
                return Err(Error::invalid(
                    "limit",
                    "out_of_range",
                    format!("limit must be between 1 and {MAX_CANDIDATES}"),
                ))
            }
        };
        Ok(rules::rank_candidates(self.faq.candidates().await?, limit))
    }

    /// Step one of publishing from a ticket: a draft prefilled from a resolved or closed
    /// ticket (following a merge to its target) and the tickets merged into it.
    pub async fn draft_from_ticket(&self, principal: &Principal, ticket: TicketId) -> Result<FaqEntry, Error> {
        self.curate(principal)?;
        let view = self.tickets.get(ticket, principal.id()).await?.ok_or(Error::NotFound(Resource::Ticket))?;
        let view = crate::tickets::follow_merges(self.tickets.as_ref(), view, principal.id()).await?;
        let duplicates = self.faq.merged_duplicates(view.ticket.id()).await?;
        let prefill = rules::prefill(&view.ticket, &duplicates)?;
        let entry = NewFaqEntry {
            question: prefill.question,
            also_asked: prefill.also_asked,
            answer: prefill.answer,
            category_id: view.ticket.category_id(),
            tags: view.ticket.tags().clone(),
            position: 0,
            sources: prefill.sources,
            author_id: principal.id(),
            at: self.clock.now(),
        };
        Ok(self.faq.insert(entry).await?)
    }

    /// Writes a draft from scratch.
    pub async fn create(&self, principal: &Principal, draft: FaqDraft) -> Result<FaqEntry, Error> {
        self.curate(principal)?;
        let entry = NewFaqEntry {
            question: Question::parse(&draft.question)?,
            also_asked: also_asked(&draft.also_asked)?,
            answer: Answer::parse(&draft.answer, "answer")?,
            category_id: self.category(draft.category_id).await?,
            tags: Tags::parse(&draft.tags)?,
            position: draft.position.unwrap_or(0),
            sources: vec![],
            author_id: principal.id(),
            at: self.clock.now(),
        };
        Ok(self.faq.insert(entry).await?)
    }

    /// Edits an entry (draft or published).
    pub async fn edit(&self, principal: &Principal, id: FaqEntryId, patch: FaqPatch) -> Result<FaqEntry, Error> {
        self.curate(principal)?;
        let mut edits = Vec::new();
        if let Some(q) = &patch.question {
            edits.push(FaqEdit::Question(Question::parse(q)?));
        }
        if let Some(a) = &patch.also_asked {
            edits.push(FaqEdit::AlsoAsked(also_asked(a)?));
        }
        if let Some(a) = &patch.answer {
            edits.push(FaqEdit::Answer(Answer::parse(a, "answer")?));
        }
        if let Some(c) = patch.category_id {
            edits.push(FaqEdit::Category(self.category(c).await?));
        }
        if let Some(t) = &patch.tags {
            edits.push(FaqEdit::Tags(Tags::parse(t)?));
        }
        if let Some(p) = patch.position {
            edits.push(FaqEdit::Position(p));
        }
        let entry = self.faq.update(id, edits, self.clock.now()).await?.ok_or_else(not_found)?;
        self.changed(&entry);
        Ok(entry)
    }

    /// Step two: publishes an entry; its source tickets record `faq_published`.
    pub async fn publish(&self, principal: &Principal, id: FaqEntryId) -> Result<FaqEntry, Error> {
        self.curate(principal)?;
        let entry = self.faq.publish(id, principal.id(), self.clock.now()).await?.ok_or_else(not_found)?;
        self.changed(&entry);
        Ok(entry)
    }

    /// Takes an entry back to draft.
    pub async fn unpublish(&self, principal: &Principal, id: FaqEntryId) -> Result<FaqEntry, Error> {
        self.curate(principal)?;
        let entry = self.faq.unpublish(id, self.clock.now()).await?.ok_or_else(not_found)?;
        self.changed(&entry);
        Ok(entry)
    }

    /// A signed-in reader says whether a published entry helped; saying it again changes it.
    pub async fn feedback(&self, principal: &Principal, id: FaqEntryId, helpful: bool) -> Result<FaqEntry, Error> {
        principal.require_active()?;
        self.get(Some(principal), id).await?;
        self.faq.feedback(id, principal.id(), helpful).await?.ok_or_else(not_found)
    }

    /// Published entries matching a student's draft, best first, for the similar-ticket
    /// suggestions (each hit carries a 0–1 score to rank with tickets).
    pub async fn search_published(&self, text: &str, limit: usize) -> Result<Vec<FaqHit>, Error> {
        if rules::search_words(text).is_empty() || limit == 0 {
            return Ok(vec![]);
        }
        Ok(self.faq.search_published(text, limit.min(MAX_CANDIDATES)).await?)
    }
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};

    use super::*;
    use crate::accounts::{Role, UserId};
    use crate::categories::MockCategoryRepository;
    use crate::clock::FixedClock;
    use crate::error::Forbidden;
    use crate::faq::MockFaqRepository;
    use crate::testing::PrincipalBuilder;
    use crate::tickets::MockTicketRepository;

    fn principal(role: Role) -> Principal {
        PrincipalBuilder::new(7, role).build()
    }

    fn entry(state: FaqState) -> FaqEntry {
        let at = Utc.with_ymd_and_hms(2026, 9, 1, 0, 0, 0).unwrap();
        FaqEntry {
            id: FaqEntryId::new(3),
            question: Question::parse("How do I defer an exam?").unwrap(),
            also_asked: vec![],
            answer: Answer::parse("Use the deferral form.", "answer").unwrap(),
            category_id: CategoryId::new(1),
            tags: Tags::default(),
            position: 0,
            state,
            sources: vec![],
            author_id: UserId::new(1),
            created_at: at,
            updated_at: at,
            published_at: None,
            helpful: 0,
            not_helpful: 0,
        }
    }

    fn service(faq: MockFaqRepository, support_can_publish: bool) -> FaqService {
        let mut queue = crate::similarity::MockEmbeddingQueue::new();
        queue.expect_faq_changed().return_const(());
        service_with_queue(faq, support_can_publish, queue)
    }

    fn service_with_queue(
        faq: MockFaqRepository,
        support_can_publish: bool,
        queue: crate::similarity::MockEmbeddingQueue,
    ) -> FaqService {
        FaqService::new(
            Arc::new(faq),
            Arc::new(MockTicketRepository::new()),
            Arc::new(MockCategoryRepository::new()),
            Arc::new(FixedClock(Utc.with_ymd_and_hms(2026, 9, 2, 0, 0, 0).unwrap())),
            FaqSettings { support_can_publish },
            Arc::new(queue),
        )
    }

    #[tokio::test]
    async fn drafts_are_not_found_for_non_curators() {
        let table = [
            (None, false, false),
            (Some(Role::Student), true, false),
            (Some(Role::Support), false, false),
            (Some(Role::Support), true, true),
            (Some(Role::Admin), false, true),
        ];
        for (role, flag, sees) in table {
            let mut faq = MockFaqRepository::new();
            faq.expect_get().returning(|_| Ok(Some(entry(FaqState::Draft))));
            let p = role.map(principal);
            let got = service(faq, flag).get(p.as_ref(), FaqEntryId::new(3)).await;
            match got {
                Ok(_) => assert!(sees, "{role:?} {flag}"),
                Err(e) => assert!(!sees && matches!(e, Error::NotFound(Resource::FaqEntry)), "{role:?} {flag}: {e:?}"),
            }
        }
    }

    #[tokio::test]
    async fn publishing_is_refused_before_the_store_for_non_curators() {
        let mut faq = MockFaqRepository::new();
        faq.expect_publish().never();
        let err = service(faq, false).publish(&principal(Role::Support), FaqEntryId::new(3)).await.unwrap_err();
        assert!(matches!(err, Error::Forbidden(Forbidden::RoleNotAllowed)));
    }

    #[tokio::test]
    async fn publishing_names_the_curator_as_actor() {
        let mut faq = MockFaqRepository::new();
        faq.expect_publish()
            .withf(|id, actor, _| id.get() == 3 && actor.get() == 7)
            .times(1)
            .returning(|_, _, _| Ok(Some(entry(FaqState::Published))));
        let e = service(faq, true).publish(&principal(Role::Support), FaqEntryId::new(3)).await.unwrap();
        assert_eq!(e.state, FaqState::Published);
    }

    #[tokio::test]
    async fn feedback_on_a_draft_is_not_found() {
        let mut faq = MockFaqRepository::new();
        faq.expect_get().returning(|_| Ok(Some(entry(FaqState::Draft))));
        faq.expect_feedback().never();
        let err = service(faq, false).feedback(&principal(Role::Student), FaqEntryId::new(3), true).await.unwrap_err();
        assert!(matches!(err, Error::NotFound(Resource::FaqEntry)));
    }

    #[tokio::test]
    async fn searching_without_words_asks_nothing() {
        let mut faq = MockFaqRepository::new();
        faq.expect_search_published().never();
        assert!(service(faq, false).search_published("a ? !", 5).await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn publication_and_edits_signal_the_similarity_ranking_and_refusals_do_not() {
        let mut faq = MockFaqRepository::new();
        faq.expect_publish().returning(|_, _, _| Ok(Some(entry(FaqState::Published))));
        faq.expect_unpublish().returning(|_, _| Ok(Some(entry(FaqState::Draft))));
        let mut queue = crate::similarity::MockEmbeddingQueue::new();
        queue.expect_faq_changed().withf(|id| id.get() == 3).times(2).return_const(());
        let svc = service_with_queue(faq, false, queue);
        svc.publish(&principal(Role::Admin), FaqEntryId::new(3)).await.unwrap();
        svc.unpublish(&principal(Role::Admin), FaqEntryId::new(3)).await.unwrap();
        assert!(svc.publish(&principal(Role::Student), FaqEntryId::new(3)).await.is_err());
    }
}
