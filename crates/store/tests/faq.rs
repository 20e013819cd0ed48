//! Store tests of the FAQ on SQLite and PostgreSQL: listing by category and search, drafts
//! never reaching the public listing or search, publishing recording on source tickets,
//! candidates and feedback.

#[macro_use]
mod support;

use domain::accounts::*;
use domain::actor::Actor;
use domain::categories::*;
use domain::faq::*;
use domain::tickets::*;
use store::Store;
use support::*;

store_tests!(
    listing_by_category_and_search_sees_published_entries_only,
    publishing_records_on_source_tickets_once,
    candidates_exclude_sourced_and_unresolved_tickets,
    feedback_is_one_per_reader_and_changeable,
);

async fn entry(store: &Store, author: &Account, cat: &Category, q: &str, a: &str, position: i32) -> FaqEntry {
    store
        .faq()
        .insert(NewFaqEntry {
            question: Question::parse(q).unwrap(),
            also_asked: vec![],
            answer: Answer::parse(a, "answer").unwrap(),
            category_id: cat.id,
            tags: Tags::parse(&["exams"]).unwrap(),
            position,
            sources: vec![],
            author_id: author.id,
            at: t(2),
        })
        .await
        .unwrap()
}

fn published(category_id: Option<CategoryId>, text: Option<&str>) -> FaqQuery {
    FaqQuery { state: FaqState::Published, category_id, text: text.map(str::to_owned) }
}

fn questions(entries: &[FaqEntry]) -> Vec<&str> {
    entries.iter().map(|e| e.question.as_str()).collect()
}

async fn listing_by_category_and_search_sees_published_entries_only(store: Store) {
    let admin = account(&store, "admin@uni.edu", Role::Admin, AccountStatus::Active).await;
    // Inserted out of order: the listing follows category positions, not insertion.
    let later = store
        .categories()
        .insert(NewCategory { name: CategoryName::parse("Fees").unwrap(), description: String::new(), position: 5 })
        .await
        .unwrap();
    let first = category(&store, "Exams").await;
    let fees = entry(&store, &admin, &later, "When are fees due?", "Fees are due in week 2.", 0).await;
    let b = entry(&store, &admin, &first, "Can I defer an exam?", "Use the deferral form; 100% online.", 2).await;
    let a = entry(&store, &admin, &first, "Where is my quiz grade?", "Grades sync nightly.", 1).await;
    let draft = entry(&store, &admin, &first, "Secret draft about exams", "Not ready: quiz grade leak.", 0).await;
    for e in [&fees, &b, &a] {
        store.faq().publish(e.id, admin.id, t(3)).await.unwrap().unwrap();
    }
    let faq = store.faq();
    assert_eq!(
        questions(&faq.list(published(None, None)).await.unwrap()),
        ["Where is my quiz grade?", "Can I defer an exam?", "When are fees due?"]
    );
    assert_eq!(questions(&faq.list(published(Some(later.id), None)).await.unwrap()), ["When are fees due?"]);
    // Case-insensitive, every word, over question and answer; `%` is literal.
    assert_eq!(questions(&faq.list(published(None, Some("QUIZ grade"))).await.unwrap()), ["Where is my quiz grade?"]);
    assert_eq!(questions(&faq.list(published(None, Some("100%"))).await.unwrap()), ["Can I defer an exam?"]);
    assert!(faq.list(published(None, Some("1%0"))).await.unwrap().is_empty());
    // The draft is in neither the public listing nor the search, but is among drafts.
    let drafts = faq.list(FaqQuery { state: FaqState::Draft, category_id: None, text: None }).await.unwrap();
    assert_eq!(questions(&drafts), ["Secret draft about exams"]);
    assert!(faq.list(published(None, Some("secret"))).await.unwrap().is_empty());
    let hits = faq.search_published("quiz grade missing", 10).await.unwrap();
    assert_eq!(hits.iter().map(|h| h.id).collect::<Vec<_>>(), [a.id], "drafts never reach a student");
    assert!(hits[0].score > 0.0 && hits[0].score <= 1.0);
    // Unpublishing takes an entry out at once.
    faq.unpublish(a.id, t(4)).await.unwrap().unwrap();
    assert!(faq.search_published("quiz grade", 10).await.unwrap().is_empty());
    assert!(faq.list(published(None, Some("quiz"))).await.unwrap().is_empty());
    let _ = draft;
}

async fn publishing_records_on_source_tickets_once(store: Store) {
    let student = account(&store, "s@uni.edu", Role::Student, AccountStatus::Active).await;
    let admin = account(&store, "admin@uni.edu", Role::Admin, AccountStatus::Active).await;
    let cat = category(&store, "Exams").await;
    let t1 = ticket(&store, &student, &cat, "Quiz grade missing", Priority::Low, 1).await;
    let e = store
        .faq()
        .insert(NewFaqEntry {
            question: Question::parse("Quiz grade missing").unwrap(),
            also_asked: vec![Question::parse("Where is my quiz mark?").unwrap()],
            answer: Answer::parse("Grades sync nightly.", "answer").unwrap(),
            category_id: cat.id,
            tags: Tags::default(),
            position: 0,
            sources: vec![t1.id()],
            author_id: admin.id,
            at: t(2),
        })
        .await
        .unwrap();
    assert_eq!(e.sources, [t1.id()]);
    assert_eq!(e.state, FaqState::Draft);
    let published = store.faq().publish(e.id, admin.id, t(3)).await.unwrap().unwrap();
    assert_eq!((published.state, published.published_at), (FaqState::Published, Some(t(3))));
    // Publishing again changes nothing and records nothing.
    store.faq().publish(e.id, admin.id, t(4)).await.unwrap().unwrap();
    let events: Vec<TicketEvent> = store
        .tickets()
        .history(t1.id())
        .await
        .unwrap()
        .into_iter()
        .filter(|ev| matches!(ev.change, Change::FaqPublished { .. }))
        .collect();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].change, Change::FaqPublished { entry_id: e.id.get() });
    assert_eq!(events[0].actor.user().map(|a| a.id), Some(admin.id));
    // The alternative wording is searchable.
    assert_eq!(store.faq().search_published("mark", 5).await.unwrap().len(), 1);
    assert!(store.faq().publish(FaqEntryId::new(9999), admin.id, t(3)).await.unwrap().is_none());
}

async fn resolve(store: &Store, t: &Ticket, staff: &Account) -> Ticket {
    let resolved = t.resolve(staff.id, Answer::parse("Done.", "answer").unwrap(), t.created_at()).unwrap();
    store.tickets().update(resolved, Actor::User(staff.id)).await.unwrap()
}

async fn candidates_exclude_sourced_and_unresolved_tickets(store: Store) {
    let owner = account(&store, "owner@uni.edu", Role::Student, AccountStatus::Active).await;
    let staff = account(&store, "staff@uni.edu", Role::Support, AccountStatus::Active).await;
    let cat = category(&store, "Exams").await;
    let popular =
        resolve(&store, &ticket(&store, &owner, &cat, "Popular resolved", Priority::Low, 1).await, &staff).await;
    let quiet = resolve(&store, &ticket(&store, &owner, &cat, "Quiet resolved", Priority::Low, 2).await, &staff).await;
    let sourced =
        resolve(&store, &ticket(&store, &owner, &cat, "Already in FAQ", Priority::Low, 3).await, &staff).await;
    let _open = ticket(&store, &owner, &cat, "Still open one", Priority::Low, 4).await;
    for i in 0..3 {
        let voter = account(&store, &format!("v{i}@uni.edu"), Role::Student, AccountStatus::Active).await;
        store.votes().cast(popular.id(), voter.id, t(5)).await.unwrap();
    }
    store
        .faq()
        .insert(NewFaqEntry {
            question: Question::parse("Already in FAQ").unwrap(),
            also_asked: vec![],
            answer: Answer::parse("Yes.", "answer").unwrap(),
            category_id: cat.id,
            tags: Tags::default(),
            position: 0,
            sources: vec![sourced.id()],
            author_id: staff.id,
            at: t(6),
        })
        .await
        .unwrap();
    let mut stats = store.faq().candidates().await.unwrap();
    stats.sort_by_key(|s| s.ticket);
    let got: Vec<(TicketId, u32, u32)> = stats.iter().map(|s| (s.ticket, s.votes, s.watchers)).collect();
    // Voters watch automatically, as does the creator.
    assert_eq!(got, [(popular.id(), 3, 4), (quiet.id(), 0, 1)]);
}

async fn feedback_is_one_per_reader_and_changeable(store: Store) {
    let admin = account(&store, "admin@uni.edu", Role::Admin, AccountStatus::Active).await;
    let a = account(&store, "a@uni.edu", Role::Student, AccountStatus::Active).await;
    let b = account(&store, "b@uni.edu", Role::Student, AccountStatus::Active).await;
    let cat = category(&store, "Exams").await;
    let e = entry(&store, &admin, &cat, "Can I defer an exam?", "Use the form.", 0).await;
    let faq = store.faq();
    faq.feedback(e.id, a.id, true).await.unwrap().unwrap();
    faq.feedback(e.id, a.id, true).await.unwrap().unwrap();
    let after = faq.feedback(e.id, b.id, false).await.unwrap().unwrap();
    assert_eq!((after.helpful, after.not_helpful), (1, 1));
    let changed = faq.feedback(e.id, b.id, true).await.unwrap().unwrap();
    assert_eq!((changed.helpful, changed.not_helpful), (2, 0));
    assert!(faq.feedback(FaqEntryId::new(9999), a.id, true).await.unwrap().is_none());
}
