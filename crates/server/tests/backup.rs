//! `osts backup` under write load and `osts restore`: the restored database passes its
//! integrity check, holds every write acknowledged before the backup began, and every
//! attachment row has its blob.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use chrono::Utc;
use domain::accounts::{AccountStatus, DisplayName, Email, NewAccount, PasswordHash, Role};
use domain::attachments::{BlobKey, BlobStore, FileName, MediaType, NewAttachment, Target};
use domain::categories::{CategoryName, NewCategory};
use domain::tickets::{Description, NewTicket, Priority, Tags, TicketId, Title};
use store::{Store, StoreOptions};

async fn open(path: &std::path::Path) -> Store {
    let url = format!("sqlite://{}?mode=rwc", path.display());
    Store::connect_with(&url, StoreOptions::default()).await.unwrap()
}

#[tokio::test]
async fn a_backup_under_load_restores_consistently() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let store = open(&data.join("osts.db")).await;
    let now = Utc::now();
    let ada = store
        .accounts()
        .insert(NewAccount {
            email: Email::parse("ada@uni.edu").unwrap(),
            display_name: DisplayName::parse("Ada").unwrap(),
            role: Role::Student,
            status: AccountStatus::Active,
            email_confirmed_at: Some(now),
            password_hash: PasswordHash::new("$argon2id$v=19$test".into()),
            created_at: now,
        })
        .await
        .unwrap();
    let category = store
        .categories()
        .insert(NewCategory { name: CategoryName::parse("Exams").unwrap(), description: String::new(), position: 0 })
        .await
        .unwrap();

    // Writers raise tickets with an attachment each, as fast as they can, until told to stop.
    let acknowledged = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(tokio::sync::Notify::new());
    let mut writers = Vec::new();
    for w in 0..3 {
        let (store, acknowledged, stop) = (store.clone(), acknowledged.clone(), stop.clone());
        let blobs = blobs::FsBlobStore::new(data.join("blobs"));
        let (creator, category) = (ada.id, category.id);
        writers.push(tokio::spawn(async move {
            for i in 0.. {
                let raise = async {
                    let ticket = store
                        .tickets()
                        .create(NewTicket {
                            title: Title::parse(&format!("Concern {w}-{i} about exams")).unwrap(),
                            description: Description::parse("details").unwrap(),
                            category_id: category,
                            tags: Tags::default(),
                            priority: Priority::Medium,
                            creator_id: creator,
                            created_at: Utc::now(),
                            follow_up_of: None,
                            sla_due: None,
                            escalation: None,
                        })
                        .await
                        .unwrap();
                    let bytes = format!("%PDF-1.4 attachment {w}-{i}").into_bytes();
                    let size_bytes = bytes.len() as u64;
                    let sha256 = blobs.put(bytes).await.unwrap();
                    let attachment = NewAttachment {
                        target: Target::Ticket(ticket.id()),
                        uploader_id: creator,
                        file_name: FileName::parse("scan.pdf").unwrap(),
                        media_type: MediaType::Pdf,
                        size_bytes,
                        sha256,
                        created_at: Utc::now(),
                    };
                    store.attachments().insert(attachment, 5).await.unwrap();
                    ticket.id()
                };
                tokio::select! {
                    _ = raise => { acknowledged.fetch_add(1, Ordering::SeqCst); }
                    () = stop.notified() => break,
                }
            }
        }));
    }
    // Let some writes land, then back up while they go on.
    while acknowledged.load(Ordering::SeqCst) < 30 {
        tokio::task::yield_now().await;
    }
    let before = acknowledged.load(Ordering::SeqCst);
    let backup_dir = dir.path().join("backup");
    let report = server::backup::backup(&store, &data.join("blobs"), &backup_dir).await.unwrap();
    stop.notify_waiters();
    for w in writers {
        w.await.unwrap();
    }
    assert!(report.database_copied);
    assert!(report.blobs >= before, "{} blobs for {before} acknowledged attachments", report.blobs);
    // A second backup into the same folder is refused.
    assert!(server::backup::backup(&store, &data.join("blobs"), &backup_dir).await.is_err());

    // Restore into a fresh data dir; an occupied one is refused.
    assert!(server::backup::restore(&backup_dir, &data).await.is_err(), "the live data dir holds a database");
    let restored_dir = dir.path().join("restored");
    let restored = server::backup::restore(&backup_dir, &restored_dir).await.unwrap();
    assert_eq!(restored.blobs, report.blobs);
    let copy = open(&restored_dir.join("osts.db")).await;
    copy.integrity_check().await.unwrap();
    let restored_blobs = blobs::FsBlobStore::new(restored_dir.join("blobs"));
    for key in copy.attachment_blob_keys().await.unwrap() {
        assert!(restored_blobs.path_of(&BlobKey::parse(&key).unwrap()).is_file(), "blob {key}");
    }
    // Every ticket acknowledged before the backup began is in the copy (ids are dense).
    for id in 1..=before as i64 {
        assert!(copy.tickets().get(TicketId::new(id), ada.id).await.unwrap().is_some(), "ticket {id} is missing");
    }
}
