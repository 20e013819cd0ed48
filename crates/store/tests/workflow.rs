//! Store tests of the support workflow (replies, watchers, merge, unmerge, auto-close,
//! reports) on SQLite and PostgreSQL.

#[macro_use]
mod support;

use std::collections::BTreeSet;
use std::sync::Arc;

use chrono::Duration;
use domain::accounts::*;
use domain::actor::{Actor, EventActor};
use domain::conversation::*;
use domain::tickets::*;
use domain::votes::*;
use domain::workflow::*;
use store::Store;
use support::*;

store_tests!(
    replies_include_merged_tickets_and_hide_internal_notes,
    watching_is_idempotent_and_automatic,
    merge_carries_people_once,
    a_failed_merge_changes_nothing,
    concurrent_votes_during_a_merge_count_exactly,
    unmerge_restores_except_for_people_who_acted,
    auto_close_closes_each_ticket_once,
    assignment_candidates_and_reports,
);

async fn students(store: &Store, prefix: &str, n: usize) -> Vec<Account> {
    let mut out = Vec::new();
    for i in 0..n {
        out.push(account(store, &format!("{prefix}{i}@uni.edu"), Role::Student, AccountStatus::Active).await);
    }
    out
}

async fn voters(store: &Store, ticket: TicketId) -> BTreeSet<i64> {
    // Every account a test can have made is asked through the ticket's `voted` flag.
    let mut out = BTreeSet::new();
    for id in 1..=60 {
        if let Some(v) = store.tickets().get(ticket, UserId::new(id)).await.unwrap() {
            if v.voted {
                out.insert(id);
            }
        }
    }
    out
}

async fn resolve(store: &Store, t: &Ticket, staff: &Account, days_ago: i64) -> Ticket {
    let at = support::t(20) - Duration::days(days_ago);
    let resolved = t.resolve(staff.id, Answer::parse("Done.", "answer").unwrap(), at).unwrap();
    store.tickets().update(resolved, Actor::User(staff.id)).await.unwrap()
}

async fn replies_include_merged_tickets_and_hide_internal_notes(store: Store) {
    let ada = account(&store, "ada@uni.edu", Role::Student, AccountStatus::Active).await;
    let bo = account(&store, "bo@uni.edu", Role::Student, AccountStatus::Active).await;
    let sam = account(&store, "sam@uni.edu", Role::Support, AccountStatus::Active).await;
    let cat = category(&store, "Exams").await;
    let a = ticket(&store, &ada, &cat, "Quiz grade missing", Priority::Low, 3).await;
    let b = ticket(&store, &bo, &cat, "My quiz grade is missing", Priority::Low, 4).await;
    let reply = |t: &Ticket, author: &Account, body: &str, internal: bool, day| NewReply {
        ticket_id: t.id(),
        author: author.id,
        body: Answer::parse(body, "body").unwrap(),
        internal,
        created_at: support::t(day),
    };
    store.replies().add(reply(&b, &bo, "Same for me", false, 5)).await.unwrap();
    store.replies().add(reply(&a, &sam, "Checking with the exam cell", true, 6)).await.unwrap();
    store.replies().add(reply(&a, &sam, "We are on it", false, 7)).await.unwrap();
    store.workflow().merge(b.id(), a.id(), Actor::User(sam.id), support::t(8)).await.unwrap();

    let public: Vec<_> =
        store.replies().list(a.id(), false).await.unwrap().into_iter().map(|r| r.body.as_str().to_owned()).collect();
    assert_eq!(public, ["Same for me", "We are on it"]);
    let all = store.replies().list(a.id(), true).await.unwrap();
    assert_eq!(all.len(), 3);
    assert_eq!(all[0].ticket_id, b.id(), "the merged ticket's reply keeps its origin");
    assert_eq!(all[1].author.display_name, "sam");
    // The public reply made its author a watcher; the internal note did not change watching.
    assert!(store.tickets().get(a.id(), sam.id).await.unwrap().unwrap().watching);
}

async fn watching_is_idempotent_and_automatic(store: Store) {
    let ada = account(&store, "ada@uni.edu", Role::Student, AccountStatus::Active).await;
    let bo = account(&store, "bo@uni.edu", Role::Student, AccountStatus::Active).await;
    let cy = account(&store, "cy@uni.edu", Role::Student, AccountStatus::Active).await;
    let cat = category(&store, "Exams").await;
    let a = ticket(&store, &ada, &cat, "Quiz grade missing", Priority::Low, 3).await;
    assert!(store.tickets().get(a.id(), ada.id).await.unwrap().unwrap().watching, "creators watch");
    store.votes().cast(a.id(), bo.id, support::t(4)).await.unwrap();
    assert!(store.tickets().get(a.id(), bo.id).await.unwrap().unwrap().watching, "voters watch");
    assert!(store.watchers().watch(a.id(), cy.id, support::t(4)).await.unwrap());
    assert!(!store.watchers().watch(a.id(), cy.id, support::t(4)).await.unwrap());
    assert!(store.watchers().unwatch(a.id(), cy.id, support::t(5)).await.unwrap());
    assert!(!store.watchers().unwatch(a.id(), cy.id, support::t(5)).await.unwrap());
    assert!(!store.tickets().get(a.id(), cy.id).await.unwrap().unwrap().watching);
    let kinds: Vec<_> = store.tickets().history(a.id()).await.unwrap().into_iter().map(|e| e.change.kind()).collect();
    assert_eq!(kinds, ["created", "vote_cast", "watched", "unwatched"]);
}

async fn merge_carries_people_once(store: Store) {
    let people = students(&store, "s", 6).await;
    let sam = account(&store, "sam@uni.edu", Role::Support, AccountStatus::Active).await;
    let cat = category(&store, "Exams").await;
    let (a_creator, b_creator) = (&people[0], &people[1]);
    let a = ticket(&store, a_creator, &cat, "Portal login loop", Priority::Low, 3).await;
    let b = ticket(&store, b_creator, &cat, "Cannot sign in to portal", Priority::Low, 4).await;
    // s2 votes on both; s3 only on B; A's creator votes on B; s4 only on A.
    for (t, who) in [(&a, 2), (&b, 2), (&b, 3), (&b, 0), (&a, 4)] {
        store.votes().cast(t.id(), people[who].id, support::t(5)).await.unwrap();
    }
    let report = store.workflow().merge(b.id(), a.id(), Actor::User(sam.id), support::t(6)).await.unwrap();
    // A had {s2, s4}; gains B's creator s1 and s3; s2 counts once; A's creator is not carried.
    assert_eq!(report.votes_added, 2);
    assert_eq!(report.target.vote_count(), 4);
    let expected: BTreeSet<i64> =
        [people[1].id, people[2].id, people[3].id, people[4].id].iter().map(|u| u.get()).collect();
    assert_eq!(voters(&store, a.id()).await, expected);
    let b_after = store.tickets().get(b.id(), sam.id).await.unwrap().unwrap().ticket;
    assert_eq!((b_after.status(), b_after.merged_into()), (Status::Merged, Some(a.id())));
    assert_eq!(b_after.vote_count(), 3, "B keeps its own votes");
    // B's watchers (creator, voters) now watch A.
    assert!(store.tickets().get(a.id(), people[3].id).await.unwrap().unwrap().watching);
    let a_kinds: Vec<_> = store.tickets().history(a.id()).await.unwrap().into_iter().map(|e| e.change).collect();
    assert!(a_kinds.contains(&Change::MergedFrom { source: b.id().get(), votes_added: 2 }));
    assert!(store
        .tickets()
        .history(b.id())
        .await
        .unwrap()
        .iter()
        .any(|e| e.change == Change::MergedInto { target: a.id().get() }));
    // Merging again is refused without touching anything.
    assert!(matches!(
        store.workflow().merge(b.id(), a.id(), Actor::User(sam.id), support::t(7)).await,
        Err(MergeError::Changed)
    ));
}

async fn a_failed_merge_changes_nothing(store: Store) {
    let people = students(&store, "s", 3).await;
    let cat = category(&store, "Exams").await;
    let a = ticket(&store, &people[0], &cat, "Portal login loop", Priority::Low, 3).await;
    let b = ticket(&store, &people[1], &cat, "Cannot sign in to portal", Priority::Low, 4).await;
    store.votes().cast(b.id(), people[2].id, support::t(5)).await.unwrap();
    // The merging actor does not exist: the merge record's foreign key fails after B was
    // already marked merged, and the whole transaction must roll back.
    let result = store.workflow().merge(b.id(), a.id(), Actor::User(UserId::new(9_999)), support::t(6)).await;
    assert!(result.is_err());
    let a_now = store.tickets().get(a.id(), people[0].id).await.unwrap().unwrap().ticket;
    let b_now = store.tickets().get(b.id(), people[0].id).await.unwrap().unwrap().ticket;
    assert_eq!(a_now, a);
    assert_eq!((b_now.status(), b_now.merged_into(), b_now.vote_count()), (Status::Open, None, 1));
    assert!(store.workflow().active_merge(b.id()).await.unwrap().is_none());
}

async fn concurrent_votes_during_a_merge_count_exactly(store: Store) {
    let people = students(&store, "s", 22).await;
    let sam = account(&store, "sam@uni.edu", Role::Support, AccountStatus::Active).await;
    let cat = category(&store, "Exams").await;
    let a = ticket(&store, &people[0], &cat, "Portal login loop", Priority::Low, 3).await;
    let b = ticket(&store, &people[1], &cat, "Cannot sign in to portal", Priority::Low, 4).await;
    for p in &people[2..8] {
        store.votes().cast(b.id(), p.id, support::t(5)).await.unwrap();
    }
    let votes: Arc<dyn VoteRepository> = store.votes();
    let mut tasks = Vec::new();
    // 14 students vote on A (some of them also voted on B) while B is merged into A.
    for p in &people[4..18] {
        let (votes, user, target) = (votes.clone(), p.id, a.id());
        tasks.push(tokio::spawn(async move { votes.cast(target, user, support::t(6)).await.unwrap() }));
    }
    let workflow = store.workflow();
    let (source, target, by) = (b.id(), a.id(), Actor::User(sam.id));
    let merge = tokio::spawn(async move { workflow.merge(source, target, by, support::t(6)).await.unwrap() });
    for t in tasks {
        t.await.unwrap();
    }
    merge.await.unwrap();
    // Distinct people: A's voters 4..18 plus B's creator (1) and B's voters 2..8 → {1..18}.
    let a_now = store.tickets().get(a.id(), people[0].id).await.unwrap().unwrap().ticket;
    assert_eq!(a_now.vote_count(), 17);
    assert_eq!(voters(&store, a.id()).await.len(), 17);
}

async fn unmerge_restores_except_for_people_who_acted(store: Store) {
    let people = students(&store, "s", 6).await;
    let sam = account(&store, "sam@uni.edu", Role::Support, AccountStatus::Active).await;
    let cat = category(&store, "Exams").await;
    let a = ticket(&store, &people[0], &cat, "Portal login loop", Priority::Low, 3).await;
    let b = ticket(&store, &people[1], &cat, "Cannot sign in to portal", Priority::Low, 4).await;
    store.votes().cast(a.id(), people[5].id, support::t(5)).await.unwrap();
    for p in &people[2..5] {
        store.votes().cast(b.id(), p.id, support::t(5)).await.unwrap();
    }
    let b_in_progress = b.edit(&[TicketEdit::Status(Status::InProgress)], support::t(5)).unwrap();
    store.tickets().update(b_in_progress, Actor::User(sam.id)).await.unwrap();
    store.workflow().merge(b.id(), a.id(), Actor::User(sam.id), support::t(6)).await.unwrap();
    assert_eq!(voters(&store, a.id()).await.len(), 5);
    // After the merge, s3 replies on A (acting there) and s4 retracts the carried vote.
    store
        .replies()
        .add(NewReply {
            ticket_id: a.id(),
            author: people[3].id,
            body: Answer::parse("+1", "body").unwrap(),
            internal: false,
            created_at: support::t(7),
        })
        .await
        .unwrap();
    store.votes().retract(a.id(), people[4].id, support::t(7)).await.unwrap();

    let record = store.workflow().active_merge(b.id()).await.unwrap().unwrap();
    let restored = store.workflow().unmerge(&record, Actor::User(sam.id), support::t(8)).await.unwrap();
    assert_eq!((restored.status(), restored.merged_into()), (Status::InProgress, None), "B gets its status back");
    // A keeps its own voter s5 and s3 (who acted); loses s1 and s2; s4 stays retracted.
    let expected: BTreeSet<i64> = [people[3].id, people[5].id].iter().map(|u| u.get()).collect();
    assert_eq!(voters(&store, a.id()).await, expected);
    assert_eq!(store.tickets().get(a.id(), sam.id).await.unwrap().unwrap().ticket.vote_count(), 2);
    let b_now = store.tickets().get(b.id(), sam.id).await.unwrap().unwrap().ticket;
    assert_eq!(b_now.vote_count(), 3, "B's votes are as they were");
    assert!(!store.tickets().get(a.id(), people[2].id).await.unwrap().unwrap().watching, "carried watch removed");
    assert!(store.tickets().get(a.id(), people[3].id).await.unwrap().unwrap().watching, "acted: keeps watching");
    assert!(matches!(
        store.workflow().unmerge(&record, Actor::User(sam.id), support::t(9)).await,
        Err(MergeError::Changed)
    ));
}

async fn auto_close_closes_each_ticket_once(store: Store) {
    let ada = account(&store, "ada@uni.edu", Role::Student, AccountStatus::Active).await;
    let sam = account(&store, "sam@uni.edu", Role::Support, AccountStatus::Active).await;
    let cat = category(&store, "Exams").await;
    let mut old = Vec::new();
    for i in 0..12 {
        let t = ticket(&store, &ada, &cat, &format!("Resolved concern {i}"), Priority::Low, 1).await;
        old.push(resolve(&store, &t, &sam, 10).await.id());
    }
    let fresh = ticket(&store, &ada, &cat, "Recently resolved", Priority::Low, 1).await;
    resolve(&store, &fresh, &sam, 1).await;
    let cutoff = support::t(20) - Duration::days(7);
    let (w1, w2) = (store.workflow(), store.workflow());
    let (r1, r2) = tokio::join!(
        tokio::spawn(async move { w1.close_resolved_before(cutoff, support::t(20)).await.unwrap() }),
        tokio::spawn(async move { w2.close_resolved_before(cutoff, support::t(20)).await.unwrap() }),
    );
    let (r1, r2) = (r1.unwrap(), r2.unwrap());
    let mut all: Vec<_> = r1.iter().chain(&r2).copied().collect();
    all.sort();
    let mut expected = old.clone();
    expected.sort();
    assert_eq!(all, expected, "every old ticket closed exactly once across both workers");
    for id in &old {
        let events = store.tickets().history(*id).await.unwrap();
        assert_eq!(events.iter().filter(|e| e.change == Change::AutoClosed).count(), 1);
        assert_eq!(events.last().unwrap().actor, EventActor::System, "osts closed it");
    }
    assert_eq!(store.tickets().get(fresh.id(), ada.id).await.unwrap().unwrap().ticket.status(), Status::Resolved);
}

async fn assignment_candidates_and_reports(store: Store) {
    let ada = account(&store, "ada@uni.edu", Role::Student, AccountStatus::Active).await;
    let sam = account(&store, "sam@uni.edu", Role::Support, AccountStatus::Active).await;
    let kim = account(&store, "kim@uni.edu", Role::Support, AccountStatus::Active).await;
    account(&store, "off@uni.edu", Role::Support, AccountStatus::Deactivated).await;
    let cat = category(&store, "Exams").await;
    let t1 = ticket(&store, &ada, &cat, "First concern here", Priority::Low, 1).await;
    let t2 = ticket(&store, &ada, &cat, "Second concern here", Priority::Low, 2).await;
    let t3 = ticket(&store, &ada, &cat, "Third concern here", Priority::Low, 3).await;
    let solved = resolve(&store, &t1, &sam, 1).await;
    let assigned = t2.claim(kim.id, support::t(3)).unwrap();
    store.tickets().update(assigned, Actor::User(kim.id)).await.unwrap();

    let mut candidates = store.workflow().candidates(cat.id, vec![solved.id(), t3.id()]).await.unwrap();
    candidates.sort_by_key(|c| c.member);
    let got: Vec<_> = candidates.iter().map(|c| (c.member, c.similar_resolved, c.open_load)).collect();
    assert_eq!(got, vec![(sam.id, 1, 0), (kim.id, 0, 1)], "only active support members");

    let counts = store.workflow().status_counts(None).await.unwrap();
    assert_eq!((counts.open, counts.in_progress, counts.resolved), (1, 1, 1));
    let since = support::t(1) - Duration::days(30);
    let kim_activity = store.workflow().activity(kim.id, since).await.unwrap();
    assert_eq!((kim_activity.assigned, kim_activity.open_assigned, kim_activity.resolved), (1, 1, 0));
    let sam_activity = store.workflow().activity(sam.id, since).await.unwrap();
    assert_eq!(sam_activity.resolved, 1);
    let load = store.workflow().staff_load(since).await.unwrap();
    let rows: Vec<_> =
        load.iter().map(|l| (l.member.display_name.as_str(), l.open_assigned, l.activity.resolved)).collect();
    assert_eq!(rows, [("sam", 0, 1), ("kim", 1, 0)]);
}
