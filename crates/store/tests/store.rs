//! Store tests: every body runs on SQLite (a fresh file per test) and on PostgreSQL (a fresh
//! database per test) when `OSTS_TEST_POSTGRES_URL` is set, as it always is in CI.

#[macro_use]
mod support;

use std::collections::HashSet;
use std::sync::Arc;

use chrono::Duration;
use domain::accounts::*;
use domain::actor::Actor;
use domain::categories::*;
use domain::page::{ListError, PageLimit};
use domain::tickets::*;
use domain::votes::*;
use store::Store;
use support::*;

store_tests!(
    accounts_are_unique_by_email,
    account_status_changes_are_conditional_and_revoke_sessions,
    sessions_expire_and_revoke,
    account_listing_pages_in_order,
    categories_are_unique_case_insensitively,
    tickets_round_trip_with_tags_and_history,
    stale_updates_are_refused,
    a_failed_update_changes_nothing,
    listing_filters,
    listing_pages_cover_every_ticket_once,
    hostile_search_text_is_literal,
    votes_are_idempotent_and_retractable,
    concurrent_votes_count_exactly,
    queue_order_follows_votes_and_priority,
);

async fn titles(store: &Store, q: TicketQuery) -> Vec<String> {
    store.tickets().list(q).await.unwrap().items.into_iter().map(|v| v.ticket.title().as_str().to_owned()).collect()
}

async fn accounts_are_unique_by_email(store: Store) {
    let ada = account(&store, "ada@uni.edu", Role::Student, AccountStatus::Pending).await;
    let again = store
        .accounts()
        .insert(NewAccount {
            email: Email::parse("ADA@uni.edu").unwrap(),
            display_name: DisplayName::parse("Other").unwrap(),
            role: Role::Admin,
            status: AccountStatus::Active,
            email_confirmed_at: None,
            password_hash: PasswordHash::new("x".into()),
            created_at: t(2),
        })
        .await;
    assert!(matches!(again, Err(InsertAccountError::Duplicate)));
    let (found, hash) =
        store.accounts().find_credentials(&Email::parse("ada@uni.edu").unwrap()).await.unwrap().unwrap();
    assert_eq!(found, ada);
    assert_eq!(hash.as_str(), "$argon2id$v=19$test");
    assert!(store.accounts().find(UserId::new(9_999_999_999)).await.unwrap().is_none());
}

async fn account_status_changes_are_conditional_and_revoke_sessions(store: Store) {
    let bo = account(&store, "bo@uni.edu", Role::Student, AccountStatus::Active).await;
    let hash = TokenHash::new("a".repeat(64));
    store.sessions().create(&hash, bo.id, t(1), t(1) + Duration::days(365)).await.unwrap();
    assert!(store.sessions().session_account(&hash, t(2)).await.unwrap().is_some());
    // Expected status no longer matches: nothing changes.
    let none = store
        .accounts()
        .set_status(bo.id, AccountStatus::Pending, AccountStatus::Rejected, Some("x".into()), None)
        .await
        .unwrap();
    assert!(none.is_none());
    assert_eq!(store.accounts().find(bo.id).await.unwrap().unwrap().status, AccountStatus::Active);
    let off = store
        .accounts()
        .set_status(bo.id, AccountStatus::Active, AccountStatus::Deactivated, Some("left the program".into()), None)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(off.status, AccountStatus::Deactivated);
    assert_eq!(off.status_reason.as_deref(), Some("left the program"));
    assert!(store.sessions().session_account(&hash, t(2)).await.unwrap().is_none(), "sessions revoked");
}

async fn sessions_expire_and_revoke(store: Store) {
    let cy = account(&store, "cy@uni.edu", Role::Support, AccountStatus::Active).await;
    let hash = TokenHash::new("b".repeat(64));
    store.sessions().create(&hash, cy.id, t(1), t(2)).await.unwrap();
    let p = store.sessions().session_account(&hash, t(1)).await.unwrap().unwrap();
    assert_eq!((p.id, p.role, p.status), (cy.id, Role::Support, AccountStatus::Active));
    assert!(store.sessions().session_account(&hash, t(2)).await.unwrap().is_none(), "expired at expires_at");
    assert!(store.sessions().session_account(&TokenHash::new("c".repeat(64)), t(1)).await.unwrap().is_none());
    // A role change applies to existing sessions at once.
    store.accounts().set_role(cy.id, Role::Admin).await.unwrap();
    assert_eq!(store.sessions().session_account(&hash, t(1)).await.unwrap().unwrap().role, Role::Admin);
    store.sessions().revoke(&hash, t(1)).await.unwrap();
    assert!(store.sessions().session_account(&hash, t(1)).await.unwrap().is_none());
    store.sessions().revoke(&hash, t(1)).await.unwrap();
}

async fn account_listing_pages_in_order(store: Store) {
    for i in 0..5 {
        account(&store, &format!("p{i}@uni.edu"), Role::Student, AccountStatus::Pending).await;
    }
    account(&store, "active@uni.edu", Role::Student, AccountStatus::Active).await;
    let filter = AccountFilter { status: Some(AccountStatus::Pending), ..Default::default() };
    let first = store.accounts().list(filter.clone(), PageLimit::new(Some(3)).unwrap(), None).await.unwrap();
    assert_eq!(first.items.len(), 3);
    let second = store.accounts().list(filter, PageLimit::new(Some(3)).unwrap(), first.next_cursor).await.unwrap();
    assert_eq!(second.items.len(), 2);
    assert!(second.next_cursor.is_none());
    let emails: Vec<_> = first.items.iter().chain(&second.items).map(|a| a.email.as_str().to_owned()).collect();
    assert_eq!(emails, ["p0@uni.edu", "p1@uni.edu", "p2@uni.edu", "p3@uni.edu", "p4@uni.edu"]);
}

async fn categories_are_unique_case_insensitively(store: Store) {
    let exams = category(&store, "Exams").await;
    let dup = store
        .categories()
        .insert(NewCategory { name: CategoryName::parse("EXAMS").unwrap(), description: String::new(), position: 1 })
        .await;
    assert!(matches!(dup, Err(InsertCategoryError::Duplicate)));
    assert_eq!(store.categories().find(exams.id).await.unwrap().unwrap(), exams);
    assert_eq!(store.categories().list().await.unwrap(), vec![exams]);
}

async fn tickets_round_trip_with_tags_and_history(store: Store) {
    let ada = account(&store, "ada@uni.edu", Role::Student, AccountStatus::Active).await;
    let staff = account(&store, "staff@uni.edu", Role::Support, AccountStatus::Active).await;
    let cat = category(&store, "Exams").await;
    let created = ticket(&store, &ada, &cat, "Quiz 2 grade missing", Priority::Medium, 3).await;
    assert_eq!(created.status(), Status::Open);
    assert_eq!(created.creator_name(), "ada");
    assert_eq!(created.tags().to_strings(), ["exams"]);
    let view = store.tickets().get(created.id(), staff.id).await.unwrap().unwrap();
    assert_eq!(view.ticket, created);
    assert!(!view.voted);

    let edit = created
        .edit(
            &[TicketEdit::Priority(Priority::Urgent), TicketEdit::Tags(Tags::parse(&["grades", "quiz"]).unwrap())],
            t(4),
        )
        .unwrap();
    let changes = edit.changes.clone();
    assert_eq!(
        changes,
        vec![
            Change::PriorityChanged { from: Priority::Medium, to: Priority::Urgent },
            Change::TagsChanged { from: vec!["exams".into()], to: vec!["grades".into(), "quiz".into()] },
        ]
    );
    let after = store.tickets().update(edit, Actor::User(staff.id)).await.unwrap();
    assert_eq!(after.priority(), Priority::Urgent);
    assert_eq!(after.version(), created.version() + 1);
    assert_eq!(after.tags().to_strings(), ["grades", "quiz"]);

    let history = store.tickets().history(created.id()).await.unwrap();
    let kinds: Vec<_> =
        history.iter().map(|e| (e.actor.user().unwrap().display_name.as_str(), e.change.clone())).collect();
    assert_eq!(
        kinds,
        vec![
            ("ada", Change::Created { title: "Quiz 2 grade missing".into(), priority: Priority::Medium }),
            ("staff", changes[0].clone()),
            ("staff", changes[1].clone()),
        ]
    );
    assert!(store.tickets().get(TicketId::new(424_242), ada.id).await.unwrap().is_none());
}

async fn stale_updates_are_refused(store: Store) {
    let ada = account(&store, "ada@uni.edu", Role::Student, AccountStatus::Active).await;
    let cat = category(&store, "Exams").await;
    let created = ticket(&store, &ada, &cat, "Quiz 2 grade missing", Priority::Medium, 3).await;
    let retitle = |title: &str| created.edit(&[TicketEdit::Title(Title::parse(title).unwrap())], t(4)).unwrap();
    store.tickets().update(retitle("First edit wins"), Actor::User(ada.id)).await.unwrap();
    let err = store.tickets().update(retitle("Second edit loses"), Actor::User(ada.id)).await.unwrap_err();
    assert!(matches!(err, UpdateTicketError::Stale));
    let mut ghost = created.record().clone();
    ghost.id = TicketId::new(999);
    let ghost = Transition { ticket: Ticket::restore(ghost), changes: vec![] };
    assert!(matches!(store.tickets().update(ghost, Actor::User(ada.id)).await, Err(UpdateTicketError::NotFound)));
    let now = store.tickets().get(TicketId::new(1), ada.id).await.unwrap().unwrap().ticket;
    assert_eq!(now.title().as_str(), "First edit wins");
}

async fn a_failed_update_changes_nothing(store: Store) {
    let ada = account(&store, "ada@uni.edu", Role::Student, AccountStatus::Active).await;
    let cat = category(&store, "Exams").await;
    let created = ticket(&store, &ada, &cat, "Quiz 2 grade missing", Priority::Medium, 3).await;
    let edit = created.resolve(UserId::new(777), Answer::parse("Done.", "answer").unwrap(), t(4)).unwrap();
    // The event's actor does not exist: the foreign key fails after the row was updated,
    // and the whole transaction must roll back.
    let result = store.tickets().update(edit, Actor::User(UserId::new(777))).await;
    assert!(result.is_err());
    let now = store.tickets().get(created.id(), ada.id).await.unwrap().unwrap().ticket;
    assert_eq!(now, created);
    assert_eq!(store.tickets().history(created.id()).await.unwrap().len(), 1);
}

async fn listing_filters(store: Store) {
    let ada = account(&store, "ada@uni.edu", Role::Student, AccountStatus::Active).await;
    let bo = account(&store, "bo@uni.edu", Role::Student, AccountStatus::Active).await;
    let exams = category(&store, "Exams").await;
    let fees = category(&store, "Fees").await;
    let a = ticket(&store, &ada, &exams, "Quiz grade missing", Priority::High, 3).await;
    let b = ticket(&store, &bo, &fees, "Fee receipt not issued", Priority::Low, 4).await;
    let c = ticket(&store, &bo, &exams, "Exam hall change request", Priority::Medium, 5).await;
    let edit = c
        .edit(&[TicketEdit::Tags(Tags::parse(&["hall"]).unwrap()), TicketEdit::Status(Status::InProgress)], t(5))
        .unwrap();
    let c = store.tickets().update(edit, Actor::User(bo.id)).await.unwrap();
    store.votes().cast(b.id(), ada.id, t(6)).await.unwrap();

    assert_eq!(
        titles(&store, query(&ada)).await,
        ["Exam hall change request", "Fee receipt not issued", "Quiz grade missing"]
    );
    assert_eq!(titles(&store, TicketQuery { mine: true, ..query(&ada) }).await, ["Quiz grade missing"]);
    assert_eq!(titles(&store, TicketQuery { voted_by_me: true, ..query(&ada) }).await, ["Fee receipt not issued"]);
    assert_eq!(
        titles(&store, TicketQuery { category_id: Some(fees.id), ..query(&ada) }).await,
        ["Fee receipt not issued"]
    );
    assert_eq!(
        titles(&store, TicketQuery { priority: Some(Priority::High), ..query(&ada) }).await,
        ["Quiz grade missing"]
    );
    assert_eq!(
        titles(&store, TicketQuery { status: Some(Status::InProgress), ..query(&ada) }).await,
        ["Exam hall change request"]
    );
    assert_eq!(
        titles(&store, TicketQuery { tag: Some(Tag::parse("hall").unwrap()), ..query(&ada) }).await,
        ["Exam hall change request"]
    );
    assert_eq!(
        titles(&store, TicketQuery { text: Some("RECEIPT".into()), ..query(&ada) }).await,
        ["Fee receipt not issued"]
    );
    let listed = store.tickets().list(query(&ada)).await.unwrap();
    let voted: Vec<_> = listed.items.iter().map(|v| (v.ticket.id(), v.voted)).collect();
    assert_eq!(voted, vec![(c.id(), false), (b.id(), true), (a.id(), false)]);
}

async fn listing_pages_cover_every_ticket_once(store: Store) {
    let ada = account(&store, "ada@uni.edu", Role::Student, AccountStatus::Active).await;
    let voters: Vec<Account> = {
        let mut v = vec![];
        for i in 0..4 {
            v.push(account(&store, &format!("v{i}@uni.edu"), Role::Student, AccountStatus::Active).await);
        }
        v
    };
    let cat = category(&store, "Exams").await;
    let mut ids = HashSet::new();
    for i in 0..23u32 {
        let tk =
            ticket(&store, &ada, &cat, &format!("Concern number {i}"), Priority::ALL[(i % 4) as usize], 1 + i % 20)
                .await;
        for voter in voters.iter().take((i % 5) as usize) {
            store.votes().cast(tk.id(), voter.id, t(25)).await.unwrap();
        }
        ids.insert(tk.id());
    }
    for sort in TicketSort::ALL {
        let mut seen = Vec::new();
        let mut cursor = None;
        loop {
            let page = store
                .tickets()
                .list(TicketQuery { sort, limit: PageLimit::new(Some(5)).unwrap(), cursor, ..query(&ada) })
                .await
                .unwrap();
            seen.extend(page.items.iter().map(|v| v.ticket.clone()));
            match page.next_cursor {
                Some(c) => cursor = Some(c),
                None => break,
            }
        }
        let seen_ids: HashSet<_> = seen.iter().map(|t| t.id()).collect();
        assert_eq!(seen.len(), 23, "{sort:?}: every ticket exactly once");
        assert_eq!(seen_ids, ids, "{sort:?}");
        let in_order = seen.windows(2).all(|w| match sort {
            TicketSort::Newest => w[0].id() > w[1].id(),
            TicketSort::MostVotes => (w[0].vote_count(), w[0].id()) > (w[1].vote_count(), w[1].id()),
            TicketSort::Queue => {
                let now = t(28);
                queue::queue_score(w[0].vote_count(), w[0].priority(), w[0].created_at(), now)
                    >= queue::queue_score(w[1].vote_count(), w[1].priority(), w[1].created_at(), now)
            }
        });
        assert!(in_order, "{sort:?} order");
    }
    let bad = store.tickets().list(TicketQuery { cursor: Some("v:1:2".into()), ..query(&ada) }).await;
    assert!(matches!(bad, Err(ListError::InvalidCursor)), "a cursor of another shape");
    // A cursor is a position: one from another order continues after that ticket.
    let first =
        store.tickets().list(TicketQuery { limit: PageLimit::new(Some(2)).unwrap(), ..query(&ada) }).await.unwrap();
    let cursor = first.next_cursor.expect("more than two tickets");
    store
        .tickets()
        .list(TicketQuery { sort: TicketSort::MostVotes, cursor: Some(cursor), ..query(&ada) })
        .await
        .expect("any cursor works with any order");
    let bad = store.tickets().list(TicketQuery { cursor: Some("garbage".into()), ..query(&ada) }).await;
    assert!(matches!(bad, Err(ListError::InvalidCursor)));
}

async fn hostile_search_text_is_literal(store: Store) {
    let ada = account(&store, "ada@uni.edu", Role::Student, AccountStatus::Active).await;
    let cat = category(&store, "Exams").await;
    ticket(&store, &ada, &cat, "100% refund for course_fee", Priority::Low, 3).await;
    ticket(&store, &ada, &cat, "Refund for course fee", Priority::Low, 4).await;
    assert_eq!(titles(&store, TicketQuery { text: Some("100%".into()), ..query(&ada) }).await.len(), 1);
    assert_eq!(titles(&store, TicketQuery { text: Some("course_fee".into()), ..query(&ada) }).await.len(), 1);
    for hostile in ["'; DROP TABLE tickets; --", "\"", "\\", "*", "NEAR(", "-", "ü€😀", &"x".repeat(10_000)] {
        let found = store.tickets().list(TicketQuery { text: Some(hostile.into()), ..query(&ada) }).await.unwrap();
        assert!(found.items.is_empty(), "{hostile:?}");
    }
    assert_eq!(titles(&store, query(&ada)).await.len(), 2);
}

async fn votes_are_idempotent_and_retractable(store: Store) {
    let ada = account(&store, "ada@uni.edu", Role::Student, AccountStatus::Active).await;
    let bo = account(&store, "bo@uni.edu", Role::Student, AccountStatus::Active).await;
    let cat = category(&store, "Exams").await;
    let tk = ticket(&store, &ada, &cat, "Quiz grade missing", Priority::Low, 3).await;
    let votes = store.votes();
    assert_eq!(votes.cast(tk.id(), bo.id, t(4)).await.unwrap(), VoteOutcome::Changed { vote_count: 1 });
    assert_eq!(votes.cast(tk.id(), bo.id, t(4)).await.unwrap(), VoteOutcome::Unchanged { vote_count: 1 });
    assert!(store.tickets().get(tk.id(), bo.id).await.unwrap().unwrap().voted);
    assert_eq!(votes.retract(tk.id(), bo.id, t(5)).await.unwrap(), VoteOutcome::Changed { vote_count: 0 });
    assert_eq!(votes.retract(tk.id(), bo.id, t(5)).await.unwrap(), VoteOutcome::Unchanged { vote_count: 0 });
    let kinds: Vec<_> = store.tickets().history(tk.id()).await.unwrap().into_iter().map(|e| e.change).collect();
    assert_eq!(kinds[1..], [Change::VoteCast, Change::VoteRetracted]);
}

async fn concurrent_votes_count_exactly(store: Store) {
    let ada = account(&store, "ada@uni.edu", Role::Student, AccountStatus::Active).await;
    let cat = category(&store, "Exams").await;
    let tk = ticket(&store, &ada, &cat, "Portal down before deadline", Priority::High, 3).await;
    let mut voters = Vec::new();
    for i in 0..16 {
        voters.push(account(&store, &format!("v{i}@uni.edu"), Role::Student, AccountStatus::Active).await);
    }
    let votes: Arc<dyn VoteRepository> = store.votes();
    let mut tasks = Vec::new();
    // Every voter votes three times at once: 16 distinct votes, 48 attempts.
    for voter in &voters {
        for _ in 0..3 {
            let votes = votes.clone();
            let (ticket, user) = (tk.id(), voter.id);
            tasks.push(tokio::spawn(async move { votes.cast(ticket, user, t(4)).await.unwrap() }));
        }
    }
    let mut changed = 0;
    for task in tasks {
        if matches!(task.await.unwrap(), VoteOutcome::Changed { .. }) {
            changed += 1;
        }
    }
    assert_eq!(changed, 16);
    let stored = store.tickets().get(tk.id(), ada.id).await.unwrap().unwrap().ticket;
    assert_eq!(stored.vote_count(), 16);
    let cast_events =
        store.tickets().history(tk.id()).await.unwrap().iter().filter(|e| e.change == Change::VoteCast).count();
    assert_eq!(cast_events, 16);
}

async fn queue_order_follows_votes_and_priority(store: Store) {
    let ada = account(&store, "ada@uni.edu", Role::Student, AccountStatus::Active).await;
    let cat = category(&store, "Exams").await;
    ticket(&store, &ada, &cat, "Low and unloved", Priority::Low, 10).await;
    ticket(&store, &ada, &cat, "Urgent outage", Priority::Urgent, 10).await;
    let popular = ticket(&store, &ada, &cat, "Popular concern", Priority::Low, 10).await;
    let q = TicketQuery { sort: TicketSort::Queue, ..query(&ada) };
    let before = titles(&store, q.clone()).await;
    assert_eq!(before[0], "Urgent outage");
    for i in 0..12 {
        let v = account(&store, &format!("q{i}@uni.edu"), Role::Student, AccountStatus::Active).await;
        store.votes().cast(popular.id(), v.id, t(11)).await.unwrap();
    }
    let after = titles(&store, q).await;
    assert_eq!(after[1], "Popular concern", "votes lift a ticket above an equal one");
    assert_eq!(after[2], "Low and unloved");
}
