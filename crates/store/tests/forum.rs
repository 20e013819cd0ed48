//! Forum threads on SQLite and PostgreSQL: one thread per ticket and per topic, the forum
//! jobs written only for tickets with a thread, replies notifying the ticket's people, and
//! forum happenings acted on once.

#[macro_use]
mod support;

use chrono::Duration;
use domain::accounts::*;
use domain::actor::{Actor, Integration};
use domain::forum::*;
use domain::notifications::{DeliveryPayload, IntegrationJob, NotificationRepository as _};
use domain::page::PageLimit;
use domain::tickets::*;
use store::Store;
use support::*;

store_tests!(
    threads_are_one_per_ticket_and_per_topic_and_tell_the_forum_and_the_tickets_people,
    the_most_active_threads_count_replies_and_likes_heard_and_page_by_them,
    a_merged_tickets_thread_moves_to_a_target_without_one,
    a_linked_forum_account_is_one_users_and_names_them_on_the_forum,
);

async fn forum_jobs(store: &Store) -> Vec<(TicketId, ForumJob)> {
    let mut out = Vec::new();
    loop {
        let claimed = store.outbox().claim(t(20), Duration::minutes(5), 100).await.unwrap();
        if claimed.is_empty() {
            return out;
        }
        for job in claimed {
            if let DeliveryPayload::Integration { ticket, job: IntegrationJob::Forum(f) } = &job.payload {
                out.push((*ticket, *f));
            }
            store.outbox().mark_sent(job.id, t(20)).await.unwrap();
        }
    }
}

async fn threads_are_one_per_ticket_and_per_topic_and_tell_the_forum_and_the_tickets_people(store: Store) {
    let forum: std::sync::Arc<dyn ForumRepository> = store.repositories().forum;
    let ada = account(&store, "ada.l@uni.edu", Role::Student, AccountStatus::Active).await;
    let sam = account(&store, "sam@uni.edu", Role::Support, AccountStatus::Active).await;
    let cat = category(&store, "Exams").await;
    let with = ticket(&store, &ada, &cat, "Hall ticket missing", Priority::Medium, 2).await;
    let without = ticket(&store, &ada, &cat, "Quiz grade missing", Priority::Medium, 2).await;
    let me = Actor::User(ada.id);

    let thread = forum.request_thread(with.id(), Visibility::Private, me, t(3)).await.unwrap();
    assert_eq!(
        (thread.state, thread.topic_id, thread.external_id()),
        (ThreadState::Pending, None, format!("osts-{}", with.id().get()))
    );
    assert!(matches!(forum.request_thread(with.id(), Visibility::Public, me, t(3)).await, Err(ThreadError::Exists)));
    assert!(matches!(
        forum.request_thread(TicketId::new(999_999), Visibility::Public, me, t(3)).await,
        Err(ThreadError::NoTicket)
    ));

    // Resolving both tickets: only the one with a thread makes forum jobs.
    for ticket in [&with, &without] {
        let resolved = ticket.resolve(sam.id, Answer::parse("Reissued.", "answer").unwrap(), t(4)).unwrap();
        store.tickets().update(resolved, Actor::User(sam.id)).await.unwrap();
    }
    let jobs = forum_jobs(&store).await;
    let actions: Vec<ForumAction> = jobs.iter().map(|(_, j)| j.action).collect();
    assert!(jobs.iter().all(|(t, _)| *t == with.id()), "{jobs:?}");
    // Opened, then resolving (which assigns the resolver): status notes, then closed.
    assert_eq!(actions.first(), Some(&ForumAction::Create));
    assert_eq!(actions[actions.len() - 2..], [ForumAction::Note, ForumAction::Close]);
    assert!(actions[1..actions.len() - 1].iter().all(|a| *a == ForumAction::Note), "{actions:?}");
    let context = forum.forum_job_context(jobs[jobs.len() - 1].1.event).await.unwrap().unwrap();
    assert!(matches!(context.change, Change::Resolved { .. }));
    assert_eq!(context.creator.username, format!("ada_l_{}", ada.id.get()));
    assert_eq!(context.actor.as_ref().map(|a| a.support), Some(true));

    let topic = TopicRef { topic_id: 7001, path: "/t/hall-ticket-missing/7001".into() };
    forum.topic_made(with.id(), &topic).await.unwrap();
    let opened = forum.thread(with.id()).await.unwrap().unwrap();
    assert_eq!((opened.state, opened.topic_id), (ThreadState::Open, Some(7001)));
    assert_eq!(forum.ticket_of_topic(7001).await.unwrap(), Some(with.id()));
    assert!(matches!(
        forum.link_thread(without.id(), &topic, Visibility::Public, me, t(5)).await,
        Err(ThreadError::TopicTaken)
    ));

    // A reply on the forum notifies the ticket's people, once per happening.
    assert!(forum.first_delivery("post_created:55", t(6)).await.unwrap());
    assert!(!forum.first_delivery("post_created:55", t(6)).await.unwrap());
    let reply = Change::ThreadReply { post_id: 55, username: "bo_9".into() };
    forum
        .change_thread(
            with.id(),
            &reply,
            Visibility::Private,
            ThreadState::Open,
            Actor::Integration(Integration::Forum),
            t(6),
        )
        .await
        .unwrap();
    let inbox = store.inbox(ada.id, PageLimit::new(Some(50)).unwrap(), None).await.unwrap().items;
    assert!(inbox.iter().any(|n| n.kind == domain::notifications::NotificationKind::ThreadReply), "{inbox:?}");
    let map = forum.threads(10).await.unwrap();
    assert_eq!(map.len(), 1);
    assert_eq!(map[0].title, "Hall ticket missing");
}

async fn the_most_active_threads_count_replies_and_likes_heard_and_page_by_them(store: Store) {
    let forum: std::sync::Arc<dyn ForumRepository> = store.repositories().forum;
    let ada = account(&store, "ada@uni.edu", Role::Student, AccountStatus::Active).await;
    let cat = category(&store, "Exams").await;
    let me = Actor::User(ada.id);
    let by_forum = Actor::Integration(Integration::Forum);
    let mut tickets = Vec::new();
    for (i, title) in ["Hall ticket missing", "Quiz grade missing", "Lab closed", "Fee receipt"].iter().enumerate() {
        let ticket = ticket(&store, &ada, &cat, title, Priority::Medium, 2).await;
        let topic = TopicRef { topic_id: 8000 + i as i64, path: format!("/t/x/{}", 8000 + i) };
        forum.link_thread(ticket.id(), &topic, Visibility::Public, me, t(3)).await.unwrap();
        tickets.push(ticket.id());
    }
    // Replies and likes (as the webhooks record them): the first ticket 1 + 1, the second
    // 3 + 0, the third 0 + 2 (a tie with the first), the fourth nothing.
    let reply = |post_id| Change::ThreadReply { post_id, username: "bo_9".into() };
    let like = |post_id| Change::ThreadLiked { post_id, username: "cy_8".into() };
    let happenings = [
        (tickets[0], reply(1), 5),
        (tickets[0], like(1), 6),
        (tickets[1], reply(2), 4),
        (tickets[1], reply(3), 5),
        (tickets[1], reply(4), 9),
        (tickets[2], like(5), 7),
        (tickets[2], like(6), 8),
    ];
    for (ticket, change, at) in happenings {
        forum.change_thread(ticket, &change, Visibility::Public, ThreadState::Open, by_forum, t(at)).await.unwrap();
    }
    // Other thread events (a visibility change) count for nothing.
    let change = Change::ThreadVisibilityChanged { to: Visibility::Private };
    forum.change_thread(tickets[3], &change, Visibility::Private, ThreadState::Open, me, t(9)).await.unwrap();

    let all = forum.active_threads(PageLimit::new(Some(10)).unwrap(), None).await.unwrap();
    let seen: Vec<(TicketId, u64, u64)> = all.items.iter().map(|a| (a.thread.ticket, a.posts, a.likes)).collect();
    assert_eq!(seen, [(tickets[1], 3, 0), (tickets[2], 0, 2), (tickets[0], 1, 1)], "most first, ties by number");
    assert_eq!(all.next_cursor, None);
    assert_eq!(all.items[0].last_activity_at, t(9));
    assert_eq!(all.items[0].title, "Quiz grade missing");
    assert_eq!(all.items[0].thread.topic_id, Some(8001));

    // Pages of one: the same order, through the cursors.
    let mut cursor = None;
    let mut paged = Vec::new();
    loop {
        let page = forum.active_threads(PageLimit::new(Some(1)).unwrap(), cursor).await.unwrap();
        paged.extend(page.items.iter().map(|a| a.thread.ticket));
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    assert_eq!(paged, [tickets[1], tickets[2], tickets[0]]);
    for bad in ["x", "a:1", "a:1:2:3", "a:one:2", "n:5"] {
        assert!(
            matches!(
                forum.active_threads(PageLimit::new(None).unwrap(), Some(bad.into())).await,
                Err(domain::page::ListError::InvalidCursor)
            ),
            "{bad}"
        );
    }
}

async fn a_merged_tickets_thread_moves_to_a_target_without_one(store: Store) {
    let forum: std::sync::Arc<dyn ForumRepository> = store.repositories().forum;
    let ada = account(&store, "ada@uni.edu", Role::Student, AccountStatus::Active).await;
    let sam = account(&store, "sam@uni.edu", Role::Support, AccountStatus::Active).await;
    let cat = category(&store, "Exams").await;
    let target = ticket(&store, &ada, &cat, "Hall ticket missing", Priority::Medium, 2).await;
    let merged = ticket(&store, &ada, &cat, "No hall ticket", Priority::Medium, 2).await;
    let other = ticket(&store, &ada, &cat, "Hall ticket gone", Priority::Medium, 2).await;
    let me = Actor::User(ada.id);
    forum.request_thread(merged.id(), Visibility::Private, me, t(3)).await.unwrap();
    let topic = TopicRef { topic_id: 9001, path: "/t/no-hall-ticket/9001".into() };
    forum.topic_made(merged.id(), &topic).await.unwrap();

    assert!(forum.move_thread(merged.id(), target.id(), Actor::User(sam.id), t(4)).await.unwrap());
    let moved = forum.thread(target.id()).await.unwrap().unwrap();
    assert_eq!((moved.topic_id, moved.visibility, moved.state), (Some(9001), Visibility::Private, ThreadState::Open));
    assert_eq!(forum.thread(merged.id()).await.unwrap(), None);
    assert_eq!(forum.ticket_of_topic(9001).await.unwrap(), Some(target.id()), "the forum's replies reach the target");
    let history = store.tickets().history(target.id()).await.unwrap();
    let linked = history.iter().find(|e| e.change == Change::ThreadLinked { topic_id: 9001 }).expect("recorded");
    assert!(matches!(&linked.actor, domain::actor::EventActor::User(u) if u.id == sam.id), "{:?}", linked.actor);

    // Once moved, or onto a ticket with a thread, nothing changes.
    assert!(!forum.move_thread(merged.id(), target.id(), Actor::User(sam.id), t(5)).await.unwrap());
    forum.request_thread(other.id(), Visibility::Public, me, t(5)).await.unwrap();
    assert!(!forum.move_thread(target.id(), other.id(), Actor::User(sam.id), t(5)).await.unwrap());
    assert_eq!(forum.thread(target.id()).await.unwrap().unwrap().topic_id, Some(9001));
    assert_eq!(forum.thread(other.id()).await.unwrap().unwrap().topic_id, None);
}

async fn a_linked_forum_account_is_one_users_and_names_them_on_the_forum(store: Store) {
    let forum: std::sync::Arc<dyn ForumRepository> = store.repositories().forum;
    let ada = account(&store, "ada@uni.edu", Role::Student, AccountStatus::Active).await;
    let bo = account(&store, "bo@uni.edu", Role::Student, AccountStatus::Active).await;
    let cat = category(&store, "Exams").await;
    assert_eq!(forum.linked_account(ada.id).await.unwrap(), None);

    let linked = forum.link_account(ada.id, &ForumUsername::parse("Ada_L").unwrap(), t(3)).await.unwrap();
    assert_eq!(forum.linked_account(ada.id).await.unwrap(), Some(linked));
    // The same forum account, in any case, is not another user's to link.
    assert!(matches!(
        forum.link_account(bo.id, &ForumUsername::parse("ada_l").unwrap(), t(3)).await,
        Err(LinkError::Taken)
    ));
    // A new link replaces the user's earlier one.
    forum.link_account(ada.id, &ForumUsername::parse("ada_lovelace").unwrap(), t(4)).await.unwrap();
    assert_eq!(forum.linked_account(ada.id).await.unwrap().unwrap().username, "ada_lovelace");
    forum.link_account(bo.id, &ForumUsername::parse("ada_l").unwrap(), t(4)).await.unwrap();

    // The forum jobs name a user by the account they linked.
    let ticket = ticket(&store, &ada, &cat, "Hall ticket missing", Priority::Medium, 2).await;
    forum.request_thread(ticket.id(), Visibility::Private, Actor::User(ada.id), t(5)).await.unwrap();
    let jobs = forum_jobs(&store).await;
    let context = forum.forum_job_context(jobs[0].1.event).await.unwrap().unwrap();
    assert_eq!((context.creator.username.as_str(), context.creator.linked), ("ada_lovelace", true));

    assert!(forum.unlink_account(ada.id).await.unwrap());
    assert!(!forum.unlink_account(ada.id).await.unwrap());
    let context = forum.forum_job_context(jobs[0].1.event).await.unwrap().unwrap();
    assert_eq!((context.creator.username, context.creator.linked), (format!("ada_{}", ada.id.get()), false));
}
