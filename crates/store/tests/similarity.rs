//! Similar-ticket storage: full-text ranking, status filtering, hostile input, the index
//! following edits, and stored embeddings. Every body runs on SQLite and, when
//! `OSTS_TEST_POSTGRES_URL` is set, on PostgreSQL.

#[macro_use]
mod support;

use chrono::{TimeZone, Utc};
use domain::accounts::*;
use domain::actor::Actor;
use domain::categories::*;
use domain::faq::*;
use domain::similarity::*;
use domain::tickets::*;
use store::Store;
use support::TestDb;

store_tests!(
    lexical_ranking_prefers_title_matches_and_more_terms,
    lexical_search_returns_only_the_given_statuses,
    the_last_word_matches_as_a_prefix_while_typing,
    hostile_input_never_errors,
    the_index_follows_edits,
    views_carry_the_viewers_vote,
    embeddings_are_stored_loaded_and_dropped_by_edits,
    faq_lexical_search_sees_published_entries_only,
    faq_embeddings_follow_publication_and_wording,
    the_in_memory_index_finds_what_the_store_finds,
);

/// A small fixed corpus: (title, description).
const CORPUS: &[(&str, &str)] = &[
    ("Exam results missing from the portal", "I sat the final exam but no mark is shown."),
    ("Library card not working", "The scanner refuses my card; my exam notes are in the library."),
    ("Refund for the exam fee", "I was charged twice for the exam registration."),
    ("Timetable clash between two courses", "Statistics and algebra lectures overlap on Mondays."),
    ("Cannot submit assignment", "The upload button does nothing; the results page also fails."),
];

struct Fixture {
    store: Store,
    student: Account,
    ids: Vec<TicketId>,
}

async fn fixture(store: Store) -> Fixture {
    let at = Utc.with_ymd_and_hms(2026, 9, 1, 9, 0, 0).unwrap();
    let student = store
        .accounts()
        .insert(NewAccount {
            email: Email::parse("ada@uni.edu").unwrap(),
            display_name: DisplayName::parse("Ada").unwrap(),
            role: Role::Student,
            status: AccountStatus::Active,
            email_confirmed_at: None,
            password_hash: PasswordHash::new("$argon2id$v=19$test".into()),
            created_at: at,
        })
        .await
        .unwrap();
    let cat = store
        .categories()
        .insert(NewCategory { name: CategoryName::parse("General").unwrap(), description: String::new(), position: 0 })
        .await
        .unwrap();
    let mut ids = Vec::new();
    for (title, description) in CORPUS {
        let t = store
            .tickets()
            .create(NewTicket {
                title: Title::parse(title).unwrap(),
                description: Description::parse(description).unwrap(),
                category_id: cat.id,
                tags: Tags::default(),
                priority: Priority::Medium,
                creator_id: student.id,
                created_at: at,
                follow_up_of: None,
                sla_due: None,
                escalation: None,
            })
            .await
            .unwrap();
        ids.push(t.id());
    }
    Fixture { store, student, ids }
}

fn all_statuses() -> Vec<Status> {
    Status::ALL.to_vec()
}

async fn search(store: &Store, text: &str) -> Vec<TicketId> {
    let hits = store.similarity().lexical(&LexicalQuery::from_text(text), &all_statuses(), 10).await.unwrap();
    for pair in hits.windows(2) {
        assert!(pair[0].score >= pair[1].score, "hits must come best first: {hits:?}");
    }
    hits.into_iter().map(|h| h.ticket).collect()
}

async fn edit(store: &Store, id: TicketId, by: &Account, f: impl FnOnce(&Ticket) -> Transition) -> Ticket {
    let t = store.tickets().get(id, by.id).await.unwrap().unwrap().ticket;
    store.tickets().update(f(&t), Actor::User(by.id)).await.unwrap()
}

/// A status the edit transitions refuse (they have actions of their own), set directly: these
/// tests are about what the index does with a stored status, not about the status machine.
fn with_status(t: &Ticket, status: Status) -> Transition {
    let mut record = t.record().clone();
    let from = record.status;
    record.status = status;
    Transition { ticket: Ticket::restore(record), changes: vec![Change::StatusChanged { from, to: status }] }
}

async fn lexical_ranking_prefers_title_matches_and_more_terms(store: Store) {
    let f = fixture(store).await;
    let found = search(&f.store, "exam results").await;
    // Both terms in the title beat everything else; body-only matches still count.
    assert_eq!(found[0], f.ids[0], "{found:?}");
    assert!(found.contains(&f.ids[1]) && found.contains(&f.ids[4]), "body matches count too: {found:?}");
    assert!(!found.contains(&f.ids[3]));
    // "exam" in the title (and body) beats "exam" in the body only.
    let found = search(&f.store, "exam").await;
    assert_eq!(found.len(), 3, "{found:?}");
    assert!(found[..2].contains(&f.ids[0]) && found[..2].contains(&f.ids[2]), "{found:?}");
    assert_eq!(found[2], f.ids[1]);
    // Stemming: "refunds" finds "Refund".
    assert_eq!(search(&f.store, "refunds").await, vec![f.ids[2]]);
    assert!(search(&f.store, "the and of").await.is_empty(), "stop words alone match nothing");
}

async fn lexical_search_returns_only_the_given_statuses(store: Store) {
    let f = fixture(store).await;
    edit(&f.store, f.ids[0], &f.student, |t| with_status(t, Status::Merged)).await;
    let q = LexicalQuery::from_text("exam results");
    let open = f.store.similarity().lexical(&q, &[Status::Open], 10).await.unwrap();
    assert!(!open.is_empty());
    assert!(open.iter().all(|h| h.ticket != f.ids[0]), "a merged ticket is not open");
    let merged = f.store.similarity().lexical(&q, &[Status::Merged], 10).await.unwrap();
    assert_eq!(merged.iter().map(|h| h.ticket).collect::<Vec<_>>(), vec![f.ids[0]]);
    assert!(f.store.similarity().lexical(&q, &[], 10).await.unwrap().is_empty());
    assert_eq!(f.store.similarity().lexical(&q, &all_statuses(), 1).await.unwrap().len(), 1);
}

async fn the_last_word_matches_as_a_prefix_while_typing(store: Store) {
    let f = fixture(store).await;
    // Prefixes match stems: "statis" is a prefix of the stem of "Statistics".
    assert_eq!(search(&f.store, "statis").await, vec![f.ids[3]]);
    assert!(search(&f.store, "statis ").await.is_empty(), "a finished word is a whole word");
}

async fn hostile_input_never_errors(store: Store) {
    let f = fixture(store).await;
    let long = "exam ".repeat(2_000);
    let hostile = [
        "\"",
        "\"exam",
        "exam\"\"results",
        "*",
        "exam*",
        "**",
        "NEAR(exam results, 2)",
        "NEAR",
        "exam NEAR results",
        "-exam",
        "exam -results",
        "exam AND OR NOT",
        "title:exam",
        "{title}: exam",
        "^exam",
        "exam)",
        "(exam",
        "'; DROP TABLE tickets; --",
        "' OR 1=1 --",
        "exam & results | !fee",
        "exam <-> results",
        "exam:*",
        "\\",
        "%_%",
        "ünïcödé 考试 результаты 🎓",
        "\u{0}\u{1}exam",
        "e\u{301}xam",
        &long,
        &"x".repeat(10_000),
    ];
    for text in hostile {
        let q = LexicalQuery::from_text(text);
        let hits = f.store.similarity().lexical(&q, &all_statuses(), 10).await;
        assert!(hits.is_ok(), "{:?} failed: {:?}", text.chars().take(40).collect::<String>(), hits.err());
    }
    assert_eq!(search(&f.store, "\"exam\" -results*").await.first(), Some(&f.ids[0]));
    // The table survived.
    assert_eq!(search(&f.store, "'; DROP TABLE tickets; --").await, Vec::<TicketId>::new());
    assert!(f.store.tickets().get(f.ids[0], f.student.id).await.unwrap().is_some());
}

async fn the_index_follows_edits(store: Store) {
    let f = fixture(store).await;
    assert_eq!(search(&f.store, "timetable").await, vec![f.ids[3]]);
    edit(&f.store, f.ids[3], &f.student, |t| {
        t.edit(&[TicketEdit::Title(Title::parse("Schedule overlap between courses").unwrap())], t.updated_at()).unwrap()
    })
    .await;
    assert!(search(&f.store, "timetable").await.is_empty());
    assert_eq!(search(&f.store, "schedule").await, vec![f.ids[3]]);
    // Editing something else leaves the index alone.
    edit(&f.store, f.ids[3], &f.student, |t| t.set_priority(Priority::High, t.updated_at()).unwrap()).await;
    assert_eq!(search(&f.store, "schedule").await, vec![f.ids[3]]);
}

async fn views_carry_the_viewers_vote(store: Store) {
    let f = fixture(store).await;
    let voter = f
        .store
        .accounts()
        .insert(NewAccount {
            email: Email::parse("bo@uni.edu").unwrap(),
            display_name: DisplayName::parse("Bo").unwrap(),
            role: Role::Student,
            status: AccountStatus::Active,
            email_confirmed_at: None,
            password_hash: PasswordHash::new("$argon2id$v=19$test".into()),
            created_at: Utc::now(),
        })
        .await
        .unwrap();
    f.store.votes().cast(f.ids[1], voter.id, Utc::now()).await.unwrap();
    let ids = [f.ids[1], f.ids[2], TicketId::new(999_999), TicketId::new(i64::MAX)];
    let mut views = f.store.similarity().views(&ids, Some(voter.id)).await.unwrap();
    views.sort_by_key(|v| v.ticket.id());
    assert_eq!(views.len(), 2);
    assert!(views[0].voted && !views[1].voted);
    assert_eq!(views[0].ticket.vote_count(), 1);
    let anonymous = f.store.similarity().views(&ids, None).await.unwrap();
    assert!(anonymous.iter().all(|v| !v.voted));
    assert!(f.store.similarity().views(&[], None).await.unwrap().is_empty());
}

async fn embeddings_are_stored_loaded_and_dropped_by_edits(store: Store) {
    let f = fixture(store).await;
    let repo = f.store.embeddings();
    let model = "test-model@1";
    let vector = |i: usize| Embedding::normalised(vec![1.0, i as f32, 0.5]).unwrap();

    let pending = repo.pending(model, 100).await.unwrap();
    assert_eq!(pending.iter().map(|j| j.ticket).collect::<Vec<_>>(), f.ids);
    assert_eq!(pending[0].title, CORPUS[0].0);
    assert_eq!(repo.pending(model, 2).await.unwrap().len(), 2);

    let jobs: Vec<_> = pending.iter().cloned().enumerate().map(|(i, j)| (j, vector(i))).collect();
    assert_eq!(repo.save(model, jobs).await.unwrap(), f.ids);
    assert!(repo.pending(model, 100).await.unwrap().is_empty());
    assert_eq!(repo.pending("other-model", 100).await.unwrap().len(), CORPUS.len(), "another model starts over");

    let first = repo.load(model, None, 3).await.unwrap();
    let rest = repo.load(model, Some(first[2].0), 3).await.unwrap();
    assert_eq!(first.len() + rest.len(), CORPUS.len());
    assert_eq!(first[1], (f.ids[1], vector(1)), "vectors round-trip exactly");

    // An edit of the text drops the embedding; a stale job cannot bring it back.
    let stale = pending[0].clone();
    edit(&f.store, f.ids[0], &f.student, |t| {
        let description = Description::parse("Marks for the final are not visible.").unwrap();
        t.edit(&[TicketEdit::Description(description)], t.updated_at()).unwrap()
    })
    .await;
    let again = repo.pending(model, 100).await.unwrap();
    assert_eq!(again.iter().map(|j| j.ticket).collect::<Vec<_>>(), vec![f.ids[0]]);
    assert!(repo.save(model, vec![(stale, vector(9))]).await.unwrap().is_empty());
    assert_eq!(repo.save(model, vec![(again[0].clone(), vector(7))]).await.unwrap(), vec![f.ids[0]]);
    let reloaded = repo.load(model, None, 100).await.unwrap();
    assert_eq!(reloaded[0], (f.ids[0], vector(7)));

    // A status change keeps the embedding.
    edit(&f.store, f.ids[1], &f.student, |t| {
        t.resolve(f.student.id, Answer::parse("Done.", "answer").unwrap(), t.updated_at()).unwrap()
    })
    .await;
    assert!(repo.pending(model, 100).await.unwrap().is_empty());
}

/// An FAQ entry by the fixture's student (the store does not check roles), published or not.
async fn faq_entry(f: &Fixture, question: &str, also_asked: &[&str], answer: &str, publish: bool) -> FaqEntryId {
    let at = Utc.with_ymd_and_hms(2026, 9, 2, 9, 0, 0).unwrap();
    let category = f.store.tickets().get(f.ids[0], f.student.id).await.unwrap().unwrap().ticket.category_id();
    let entry = f
        .store
        .faq()
        .insert(NewFaqEntry {
            question: Question::parse(question).unwrap(),
            also_asked: also_asked.iter().map(|q| Question::parse(q).unwrap()).collect(),
            answer: Answer::parse(answer, "answer").unwrap(),
            category_id: category,
            tags: Tags::default(),
            position: 0,
            sources: vec![],
            author_id: f.student.id,
            at,
        })
        .await
        .unwrap();
    if publish {
        f.store.faq().publish(entry.id, f.student.id, at).await.unwrap().unwrap();
    }
    entry.id
}

async fn faq_search(store: &Store, text: &str) -> Vec<FaqEntryId> {
    let hits = store.similarity().lexical_faq(&LexicalQuery::from_text(text), 10).await.unwrap();
    for pair in hits.windows(2) {
        assert!(pair[0].score >= pair[1].score, "hits must come best first: {hits:?}");
    }
    hits.into_iter().map(|h| h.entry).collect()
}

async fn faq_lexical_search_sees_published_entries_only(store: Store) {
    let f = fixture(store).await;
    let results = faq_entry(&f, "Where are my exam results?", &[], "They appear a week after the exam.", true).await;
    let fees =
        faq_entry(&f, "How do I get a refund?", &["Charged twice for a fee"], "Use the refund form.", true).await;
    let draft = faq_entry(&f, "Exam results leak (draft)", &[], "Not ready: exam results.", false).await;

    assert_eq!(faq_search(&f.store, "exam results").await, vec![results], "the draft never comes back");
    // Other wordings and the answer are searched too, with stemming.
    assert_eq!(faq_search(&f.store, "charged").await, vec![fees]);
    assert_eq!(faq_search(&f.store, "refunds form").await, vec![fees]);
    assert!(faq_search(&f.store, "the and of").await.is_empty());
    for hostile in ["\"exam", "exam*", "NEAR(exam results)", "-exam", "'; DROP TABLE faq_entries; --", "考试 🎓"] {
        f.store.similarity().lexical_faq(&LexicalQuery::from_text(hostile), 10).await.unwrap();
    }
    // A changed answer is searched as changed.
    assert_eq!(faq_search(&f.store, "use").await, vec![fees]);
    f.store
        .faq()
        .update(fees, vec![FaqEdit::Answer(Answer::parse("Fill in form R1.", "answer").unwrap())], Utc::now())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(faq_search(&f.store, "r1").await, vec![fees]);
    assert!(faq_search(&f.store, "use").await.is_empty(), "the old answer is gone from the index");

    // Views: published entries only, with their text.
    let views = f.store.similarity().faq_views(&[results, fees, draft, FaqEntryId::new(999)]).await.unwrap();
    let mut ids: Vec<FaqEntryId> = views.iter().map(|v| v.id).collect();
    ids.sort();
    assert_eq!(ids, vec![results, fees]);
    let fee_view = views.iter().find(|v| v.id == fees).unwrap();
    assert_eq!(fee_view.also_asked, "Charged twice for a fee");
    assert_eq!(fee_view.answer, "Fill in form R1.");

    // Unpublishing takes an entry out of both at once.
    f.store.faq().unpublish(results, Utc::now()).await.unwrap().unwrap();
    assert!(faq_search(&f.store, "exam results").await.is_empty());
    assert!(f.store.similarity().faq_views(&[results]).await.unwrap().is_empty());
}

async fn faq_embeddings_follow_publication_and_wording(store: Store) {
    let f = fixture(store).await;
    let repo = f.store.embeddings();
    let model = "test-model@1";
    let vector = |i: usize| Embedding::normalised(vec![1.0, i as f32, 0.5]).unwrap();
    let published = faq_entry(&f, "Where are my exam results?", &["Results missing"], "A week after.", true).await;
    let draft = faq_entry(&f, "Draft question here", &[], "Not yet.", false).await;

    let pending = repo.pending_faq(model, 100).await.unwrap();
    assert_eq!(pending.iter().map(|j| j.entry).collect::<Vec<_>>(), vec![published], "drafts are not embedded");
    assert_eq!(pending[0].also_asked, "Results missing");
    assert_eq!(repo.save_faq(model, vec![(pending[0].clone(), vector(1))]).await.unwrap(), vec![published]);
    assert!(repo.pending_faq(model, 100).await.unwrap().is_empty());
    assert_eq!(repo.load_faq(model, None, 10).await.unwrap(), vec![(published, vector(1))]);
    assert!(repo.load_faq(model, Some(published), 10).await.unwrap().is_empty());
    assert!(repo.load_faq("other-model", None, 10).await.unwrap().is_empty());
    // Ticket embeddings are a different table: the entry is not a pending ticket's business.
    assert_eq!(repo.pending(model, 100).await.unwrap().len(), CORPUS.len());

    // A changed answer keeps the embedding; a changed question drops it, and the stale job
    // cannot bring it back.
    let edit = |e: FaqEdit| {
        let store = f.store.clone();
        async move { store.faq().update(published, vec![e], Utc::now()).await.unwrap().unwrap() }
    };
    edit(FaqEdit::Answer(Answer::parse("Two weeks after.", "answer").unwrap())).await;
    assert!(repo.pending_faq(model, 100).await.unwrap().is_empty());
    edit(FaqEdit::Question(Question::parse("When are exam results out?").unwrap())).await;
    assert!(repo.load_faq(model, None, 10).await.unwrap().is_empty());
    assert!(repo.save_faq(model, vec![(pending[0].clone(), vector(2))]).await.unwrap().is_empty());
    let again = repo.pending_faq(model, 100).await.unwrap();
    assert_eq!(again[0].question, "When are exam results out?");
    assert_eq!(repo.save_faq(model, vec![(again[0].clone(), vector(3))]).await.unwrap(), vec![published]);
    // Publishing the draft makes it pending.
    f.store.faq().publish(draft, f.student.id, Utc::now()).await.unwrap().unwrap();
    assert_eq!(repo.pending_faq(model, 100).await.unwrap().iter().map(|j| j.entry).collect::<Vec<_>>(), vec![draft]);
}

fn tickets_of(keys: impl IntoIterator<Item = DocKey>) -> Vec<TicketId> {
    keys.into_iter()
        .filter_map(|k| match k {
            DocKey::Ticket(t) => Some(t),
            DocKey::Faq(_) => None,
        })
        .collect()
}

async fn the_in_memory_index_finds_what_the_store_finds(store: Store) {
    let f = fixture(store).await;
    let entry = faq_entry(&f, "Where are my exam results?", &["Results missing"], "A week after.", true).await;
    faq_entry(&f, "Draft about exam results", &[], "Not yet.", false).await;
    let texts = f.store.similarity();

    // Texts by pages, and only those changed since a time.
    let docs = texts.ticket_texts(None, None, 100).await.unwrap();
    assert_eq!(tickets_of(docs.iter().map(|d| d.key)), f.ids);
    assert_eq!((docs[0].title.as_str(), docs[0].body.as_str()), CORPUS[0]);
    let page = texts.ticket_texts(Some(f.ids[1]), None, 2).await.unwrap();
    assert_eq!(tickets_of(page.iter().map(|d| d.key)), f.ids[2..4]);
    let created = Utc.with_ymd_and_hms(2026, 9, 1, 9, 0, 0).unwrap();
    assert_eq!(texts.ticket_texts(None, Some(created), 100).await.unwrap().len(), CORPUS.len());
    let later = created + chrono::Duration::days(1);
    assert!(texts.ticket_texts(None, Some(later), 100).await.unwrap().is_empty());
    let faq = texts.published_faq_texts().await.unwrap();
    assert_eq!(faq.len(), 1, "drafts are not read");
    assert_eq!(faq[0].key, DocKey::Faq(entry));
    assert_eq!(faq[0].title, "Where are my exam results?\nResults missing");

    // The same tokenisation and stemming: the same tickets match, the same one is best.
    let index = LexicalIndex::new();
    index.upsert(&docs);
    index.upsert(&faq);
    let best = [("exam results", Some(0)), ("library card", Some(1)), ("refunds", Some(2)), ("statis", Some(3))];
    let others = [("exam", None), ("charged twice", None), ("upload results page", None), ("courses clashing", None)];
    for (text, first) in best.into_iter().chain(others) {
        let q = LexicalQuery::from_text(text);
        let stored = tickets_of(
            texts.lexical(&q, &all_statuses(), 10).await.unwrap().into_iter().map(|h| DocKey::Ticket(h.ticket)),
        );
        let memory = tickets_of(index.search(&q, 10).into_iter().map(|(k, _)| k));
        let sorted = |mut v: Vec<TicketId>| {
            v.sort();
            v
        };
        assert_eq!(sorted(memory.clone()), sorted(stored.clone()), "{text}");
        if let Some(i) = first {
            assert_eq!((memory[0], stored[0]), (f.ids[i], f.ids[i]), "{text}");
        }
    }
    assert!(index.search(&LexicalQuery::from_text("exam results"), 10).iter().any(|(k, _)| *k == DocKey::Faq(entry)));
}
