//! Attachment metadata on SQLite and PostgreSQL (when `OSTS_TEST_POSTGRES_URL` is set), a
//! fresh database per test, as in `store.rs`.

#[macro_use]
mod support;

use std::sync::Arc;

use chrono::{TimeZone, Utc};
use domain::accounts::*;
use domain::attachments::*;
use domain::categories::*;
use domain::tickets::*;
use store::Store;
use support::TestDb;

store_tests!(
    attachments_round_trip,
    the_limit_holds_per_target,
    concurrent_inserts_respect_the_limit,
    attachments_need_an_existing_ticket,
    files_on_internal_notes_are_left_out_unless_asked_for,
    merged_tickets_files_are_listed_with_their_target,
);

fn at(minute: u32) -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 25, 9, minute, 0).unwrap()
}

/// An account and a ticket it raised.
async fn ticket(store: &Store) -> (Account, Ticket) {
    let account = store
        .accounts()
        .insert(NewAccount {
            email: Email::parse("ada@uni.edu").unwrap(),
            display_name: DisplayName::parse("Ada").unwrap(),
            role: Role::Student,
            status: AccountStatus::Active,
            email_confirmed_at: None,
            password_hash: PasswordHash::new("$argon2id$v=19$test".into()),
            created_at: at(0),
        })
        .await
        .unwrap();
    let category = store
        .categories()
        .insert(NewCategory { name: CategoryName::parse("Exams").unwrap(), description: String::new(), position: 0 })
        .await
        .unwrap();
    let ticket = store
        .tickets()
        .create(NewTicket {
            title: Title::parse("Scan of my exam sheet").unwrap(),
            description: Description::parse("Attached below.").unwrap(),
            category_id: category.id,
            tags: Tags::default(),
            priority: Priority::Medium,
            creator_id: account.id,
            created_at: at(0),
            follow_up_of: None,
            sla_due: None,
            escalation: None,
        })
        .await
        .unwrap();
    (account, ticket)
}

fn new(uploader: &Account, target: Target, name: &str, minute: u32) -> NewAttachment {
    NewAttachment {
        target,
        uploader_id: uploader.id,
        file_name: FileName::parse(name).unwrap(),
        media_type: MediaType::Png,
        size_bytes: 1234,
        sha256: BlobKey::from_digest([minute as u8; 32]),
        created_at: at(minute),
    }
}

async fn attachments_round_trip(store: Store) {
    let (ada, tk) = ticket(&store).await;
    let repo = store.attachments();
    let first = repo.insert(new(&ada, Target::Ticket(tk.id()), "scan.png", 1), 5).await.unwrap();
    let on_reply = repo.insert(new(&ada, Target::Reply(tk.id(), 42), "résumé.png", 2), 5).await.unwrap();
    assert_eq!(first.file_name.as_str(), "scan.png");
    assert_eq!(first.size_bytes, 1234);
    assert_eq!(first.created_at, at(1));
    assert_eq!(first.sha256, BlobKey::from_digest([1; 32]));
    assert_eq!(on_reply.target, Target::Reply(tk.id(), 42));

    let listed = repo.list(tk.id(), true).await.unwrap();
    assert_eq!(listed, vec![first.clone(), on_reply.clone()], "oldest first, replies' files included");
    assert_eq!(repo.find(first.id, true).await.unwrap(), Some(first));
    assert_eq!(repo.find(AttachmentId::new(on_reply.id.get() + 100), true).await.unwrap(), None);
    assert_eq!(repo.find(AttachmentId::new(i64::MAX), true).await.unwrap(), None);
    assert!(repo.list(TicketId::new(tk.id().get() + 1), true).await.unwrap().is_empty());
}

async fn the_limit_holds_per_target(store: Store) {
    let (ada, tk) = ticket(&store).await;
    let repo = store.attachments();
    for i in 0..5 {
        repo.insert(new(&ada, Target::Ticket(tk.id()), "a.png", i), 5).await.unwrap();
    }
    let sixth = repo.insert(new(&ada, Target::Ticket(tk.id()), "a.png", 6), 5).await;
    assert!(matches!(sixth, Err(InsertAttachmentError::LimitReached)), "{sixth:?}");
    // A reply has a limit of its own.
    for i in 0..5 {
        repo.insert(new(&ada, Target::Reply(tk.id(), 1), "r.png", 10 + i), 5).await.unwrap();
    }
    let full_reply = repo.insert(new(&ada, Target::Reply(tk.id(), 1), "r.png", 20), 5).await;
    assert!(matches!(full_reply, Err(InsertAttachmentError::LimitReached)), "{full_reply:?}");
    repo.insert(new(&ada, Target::Reply(tk.id(), 2), "r.png", 21), 5).await.unwrap();
    assert_eq!(repo.list(tk.id(), true).await.unwrap().len(), 11);
}

async fn concurrent_inserts_respect_the_limit(store: Store) {
    let (ada, tk) = ticket(&store).await;
    let repo: Arc<dyn AttachmentRepository> = store.attachments();
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            let repo = repo.clone();
            let new = new(&ada, Target::Ticket(tk.id()), "race.png", i);
            tokio::spawn(async move { repo.insert(new, 5).await })
        })
        .collect();
    let (mut stored, mut refused) = (0, 0);
    for task in tasks {
        match task.await.unwrap() {
            Ok(_) => stored += 1,
            Err(InsertAttachmentError::LimitReached) => refused += 1,
            Err(e) => panic!("unexpected {e:?}"),
        }
    }
    assert_eq!((stored, refused), (5, 3));
    assert_eq!(repo.list(tk.id(), true).await.unwrap().len(), 5);
}

async fn attachments_need_an_existing_ticket(store: Store) {
    let (ada, tk) = ticket(&store).await;
    let missing = TicketId::new(tk.id().get() + 1);
    let err = store.attachments().insert(new(&ada, Target::Ticket(missing), "a.png", 1), 5).await;
    assert!(matches!(err, Err(InsertAttachmentError::TicketNotFound)), "{err:?}");
    assert!(store.attachments().list(missing, true).await.unwrap().is_empty());
}

async fn reply(store: &Store, ticket: TicketId, author: &Account, internal: bool) -> i64 {
    use domain::conversation::NewReply;
    let body = Answer::parse("See the attached scan.", "body").unwrap();
    let new = NewReply { ticket_id: ticket, author: author.id, body, internal, created_at: at(3) };
    store.replies().add(new).await.unwrap().id.get()
}

async fn files_on_internal_notes_are_left_out_unless_asked_for(store: Store) {
    let (ada, tk) = ticket(&store).await;
    let repo = store.attachments();
    let public = reply(&store, tk.id(), &ada, false).await;
    let note = reply(&store, tk.id(), &ada, true).await;
    let on_ticket = repo.insert(new(&ada, Target::Ticket(tk.id()), "a.png", 4), 5).await.unwrap();
    let on_public = repo.insert(new(&ada, Target::Reply(tk.id(), public), "b.png", 5), 5).await.unwrap();
    let on_note = repo.insert(new(&ada, Target::Reply(tk.id(), note), "c.png", 6), 5).await.unwrap();
    // A reply id that names no reply is hidden too: only what is known to be public shows.
    let dangling = repo.insert(new(&ada, Target::Reply(tk.id(), note + 100), "d.png", 7), 5).await.unwrap();

    let everything = vec![on_ticket.clone(), on_public.clone(), on_note.clone(), dangling.clone()];
    assert_eq!(repo.list(tk.id(), true).await.unwrap(), everything);
    assert_eq!(repo.list(tk.id(), false).await.unwrap(), vec![on_ticket.clone(), on_public.clone()]);
    assert_eq!(repo.find(on_note.id, true).await.unwrap(), Some(on_note.clone()));
    assert_eq!(repo.find(on_note.id, false).await.unwrap(), None);
    assert_eq!(repo.find(dangling.id, false).await.unwrap(), None);
    assert_eq!(repo.find(on_public.id, false).await.unwrap(), Some(on_public));
    assert_eq!(repo.find(on_ticket.id, false).await.unwrap(), Some(on_ticket));
}

async fn merged_tickets_files_are_listed_with_their_target(store: Store) {
    let (ada, target) = ticket(&store).await;
    let duplicate = store
        .tickets()
        .create(NewTicket {
            title: Title::parse("Exam sheet scan missing").unwrap(),
            description: Description::parse("Same as the other one.").unwrap(),
            category_id: target.category_id(),
            tags: Tags::default(),
            priority: Priority::Medium,
            creator_id: ada.id,
            created_at: at(1),
            follow_up_of: None,
            sla_due: None,
            escalation: None,
        })
        .await
        .unwrap();
    let repo = store.attachments();
    let public = reply(&store, duplicate.id(), &ada, false).await;
    let note = reply(&store, duplicate.id(), &ada, true).await;
    let own = repo.insert(new(&ada, Target::Ticket(duplicate.id()), "a.png", 4), 5).await.unwrap();
    let on_public = repo.insert(new(&ada, Target::Reply(duplicate.id(), public), "b.png", 5), 5).await.unwrap();
    let on_note = repo.insert(new(&ada, Target::Reply(duplicate.id(), note), "c.png", 6), 5).await.unwrap();
    store.workflow().merge(duplicate.id(), target.id(), domain::actor::Actor::User(ada.id), at(8)).await.unwrap();
    assert_eq!(repo.list(target.id(), false).await.unwrap(), vec![own.clone(), on_public.clone()]);
    assert_eq!(repo.list(target.id(), true).await.unwrap(), vec![own, on_public, on_note]);
}
