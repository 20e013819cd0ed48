use std::sync::Arc;

use super::model::*;
use super::ports::*;
use crate::accounts::{Principal, Role};
use crate::clock::Clock;
use crate::error::{Conflict, Error, Forbidden, Resource};
use crate::tickets::{Ticket, TicketId, TicketService};

/// A file as the client sent it.
#[derive(Debug, Clone, Default)]
pub struct UploadDraft {
    /// The name the client gave, if any (cosmetic only).
    pub file_name: Option<String>,
    /// The reply the file belongs to; `None` for the ticket itself.
    pub reply_id: Option<i64>,
    /// The content.
    pub bytes: Vec<u8>,
}

/// Who may attach files: pure rules, table-tested below.
pub mod policy {
    use super::*;

    /// Whether `principal` may attach a file to `ticket` (or to a reply on it): its creator
    /// and staff.
    pub fn may_upload(principal: &Principal, ticket: &Ticket) -> Result<(), Forbidden> {
        match principal.role() {
            Role::Support | Role::Admin => Ok(()),
            Role::Student if ticket.creator_id() == principal.id() => Ok(()),
            Role::Student => Err(Forbidden::NotOwner),
        }
    }
}

/// Uploading, listing and downloading attachments.
#[derive(Clone)]
pub struct AttachmentService {
    tickets: TicketService,
    attachments: Arc<dyn AttachmentRepository>,
    blobs: Arc<dyn BlobStore>,
    replies: Arc<dyn crate::conversation::ReplyRepository>,
    clock: Arc<dyn Clock>,
}

impl AttachmentService {
    /// Wires the service to its ports; seeing a ticket is decided by `tickets`, and a
    /// `reply_id` is checked against the ticket's conversation in `replies` (the replies the
    /// caller may read).
    pub fn new(
        tickets: TicketService,
        attachments: Arc<dyn AttachmentRepository>,
        blobs: Arc<dyn BlobStore>,
        replies: Arc<dyn crate::conversation::ReplyRepository>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self { tickets, attachments, blobs, replies, clock }
    }

    /// Attaches a file to a ticket or one of its replies. The type comes from the content;
    /// nothing is stored unless every check passes.
    pub async fn upload(
        &self,
        principal: &Principal,
        ticket: TicketId,
        draft: UploadDraft,
    ) -> Result<Attachment, Error> {
        let view = self.tickets.get(principal, ticket).await?;
        policy::may_upload(principal, &view.ticket).map_err(Error::Forbidden)?;
        if draft.bytes.len() > MAX_FILE_BYTES {
            return Err(too_large());
        }
        let media_type = detect(&draft.bytes).ok_or_else(unsupported_media_type)?;
        let file_name = match draft.file_name.as_deref() {
            Some(raw) if !raw.trim().is_empty() => FileName::parse(raw)?,
            _ => FileName::fallback(media_type),
        };
        let target = match draft.reply_id {
            None => Target::Ticket(ticket),
            Some(r) => {
                let on_ticket = self
                    .replies
                    .list(ticket, principal.role().is_staff())
                    .await?
                    .iter()
                    .any(|reply| reply.id.get() == r && reply.ticket_id == ticket);
                if !on_ticket {
                    return Err(Error::UnknownReference { resource: Resource::Reply, field: "reply_id" });
                }
                Target::Reply(ticket, r)
            }
        };
        // Checked here too so that a full target costs no blob write; the store's check is
        // the one that holds under concurrency.
        let existing = self.attachments.list(ticket, true).await?;
        if existing.iter().filter(|a| a.target == target).count() >= MAX_PER_TARGET {
            return Err(Error::Conflict(Conflict::TooManyAttachments));
        }
        let size_bytes = draft.bytes.len() as u64;
        let sha256 = self.blobs.put(draft.bytes).await?;
        let new = NewAttachment {
            target,
            uploader_id: principal.id(),
            file_name,
            media_type,
            size_bytes,
            sha256,
            created_at: self.clock.now(),
        };
        // A blob whose insert is refused here stays unreferenced; it is content-addressed,
        // so a later upload of the same bytes reuses it.
        self.attachments.insert(new, MAX_PER_TARGET).await.map_err(|e| match e {
            InsertAttachmentError::LimitReached => Error::Conflict(Conflict::TooManyAttachments),
            InsertAttachmentError::TicketNotFound => Error::NotFound(Resource::Ticket),
            InsertAttachmentError::Unknown(e) => Error::Unknown(e),
        })
    }

    /// The ticket's attachments (its own, its replies' and those of the tickets merged into
    /// it), oldest first; files on internal notes for staff only, as the notes themselves.
    pub async fn list(&self, principal: &Principal, ticket: TicketId) -> Result<Vec<Attachment>, Error> {
        self.tickets.get(principal, ticket).await?;
        Ok(self.attachments.list(ticket, principal.role().is_staff()).await?)
    }

    /// One attachment with its bytes, for whoever may see its ticket (and, for a file on an
    /// internal note, only for staff: to a student it does not exist).
    pub async fn download(&self, principal: &Principal, id: AttachmentId) -> Result<(Attachment, Vec<u8>), Error> {
        principal.require_active()?;
        let attachment = self
            .attachments
            .find(id, principal.role().is_staff())
            .await?
            .ok_or(Error::NotFound(Resource::Attachment))?;
        self.tickets.get(principal, attachment.target.ticket()).await.map_err(|e| match e {
            // Hiding a ticket hides its files; say "attachment", not which ticket it is on.
            Error::NotFound(Resource::Ticket) => Error::NotFound(Resource::Attachment),
            other => other,
        })?;
        let bytes = self
            .blobs
            .get(&attachment.sha256)
            .await?
            .ok_or_else(|| anyhow::anyhow!("attachment {} has no blob {}", id.get(), attachment.sha256))?;
        Ok((attachment, bytes))
    }
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};

    use super::*;
    use crate::accounts::{AccountStatus, UserId};
    use crate::categories::MockCategoryRepository;
    use crate::clock::FixedClock;
    use crate::testing::{PrincipalBuilder, TicketBuilder};
    use crate::tickets::{MockTicketRepository, TicketView};

    const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR";

    fn principal(id: i64, role: Role) -> Principal {
        PrincipalBuilder::new(id, role).build()
    }

    fn ticket(creator: i64) -> Ticket {
        TicketBuilder::new(10).creator(creator).build()
    }

    fn attachment(id: i64, target: Target) -> Attachment {
        Attachment {
            id: AttachmentId::new(id),
            target,
            uploader_id: UserId::new(1),
            file_name: FileName::parse("a.png").unwrap(),
            media_type: MediaType::Png,
            size_bytes: 3,
            sha256: BlobKey::from_digest([1; 32]),
            created_at: Utc.with_ymd_and_hms(2026, 3, 2, 0, 0, 0).unwrap(),
        }
    }

    fn service(repo: MockAttachmentRepository, blobs: MockBlobStore) -> AttachmentService {
        let mut tickets = MockTicketRepository::new();
        tickets.expect_get().returning(|id, _| {
            Ok((id.get() == 10).then(|| TicketView { ticket: ticket(1), voted: false, watching: false }))
        });
        let clock = Arc::new(FixedClock(Utc.with_ymd_and_hms(2026, 3, 2, 0, 0, 0).unwrap()));
        // Attachments never change a ticket's text: nothing may reach the embedding queue.
        let queue = Arc::new(crate::similarity::MockEmbeddingQueue::new());
        let tickets = TicketService::new(
            Arc::new(tickets),
            Arc::new(MockCategoryRepository::new()),
            clock.clone(),
            queue,
            crate::testing::idle_workflow(),
        );
        // Ticket 10 has reply 7 (public) and reply 8 (an internal note).
        let mut replies = crate::conversation::MockReplyRepository::new();
        replies.expect_list().returning(|ticket, include_internal| {
            let reply = |id: i64, internal: bool| crate::conversation::Reply {
                id: crate::conversation::ReplyId::new(id),
                ticket_id: ticket,
                author: crate::tickets::UserRef { id: crate::accounts::UserId::new(3), display_name: "Sam".into() },
                body: crate::tickets::Answer::parse("x", "body").unwrap(),
                internal,
                created_at: Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap(),
            };
            Ok([reply(7, false), reply(8, true)].into_iter().filter(|r| include_internal || !r.internal).collect())
        });
        AttachmentService::new(tickets, Arc::new(repo), Arc::new(blobs), Arc::new(replies), clock)
    }

    fn draft(bytes: &[u8]) -> UploadDraft {
        UploadDraft { file_name: Some("x.pdf".into()), reply_id: None, bytes: bytes.to_vec() }
    }

    #[test]
    fn upload_permission_table() {
        let table = [
            (1, Role::Student, Ok(())),
            (2, Role::Student, Err(Forbidden::NotOwner)),
            (3, Role::Support, Ok(())),
            (4, Role::Admin, Ok(())),
        ];
        for (who, role, expected) in table {
            assert_eq!(policy::may_upload(&principal(who, role), &ticket(1)), expected, "{who} {role:?}");
        }
    }

    /// A refusal code, whatever the variant.
    fn code(err: Error) -> String {
        match err {
            Error::Invalid { code, .. } => code.into(),
            Error::TooLarge { .. } => "too_large".into(),
            Error::UnsupportedMediaType { .. } => "unsupported_media_type".into(),
            Error::Forbidden(f) => f.code().into(),
            Error::NotFound(r) | Error::UnknownReference { resource: r, .. } => r.code().into(),
            Error::Conflict(c) => c.code().into(),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[tokio::test]
    async fn refusals_store_nothing() {
        let big = [PNG, &vec![0; MAX_FILE_BYTES]].concat();
        let cases: Vec<(Principal, i64, UploadDraft, &str)> = vec![
            (principal(2, Role::Student), 10, draft(PNG), "not_owner"),
            (
                PrincipalBuilder::new(1, Role::Student).status(AccountStatus::Pending).build(),
                10,
                draft(PNG),
                "account_pending",
            ),
            (principal(1, Role::Student), 11, draft(PNG), "ticket_not_found"),
            (principal(1, Role::Student), 10, draft(&big), "too_large"),
            (principal(1, Role::Student), 10, draft(b"<html><script>"), "unsupported_media_type"),
            (principal(1, Role::Student), 10, draft(b""), "unsupported_media_type"),
            (principal(1, Role::Student), 10, UploadDraft { reply_id: Some(0), ..draft(PNG) }, "reply_not_found"),
            (principal(1, Role::Student), 10, UploadDraft { reply_id: Some(99), ..draft(PNG) }, "reply_not_found"),
            // A student cannot attach to an internal note they cannot see.
            (principal(1, Role::Student), 10, UploadDraft { reply_id: Some(8), ..draft(PNG) }, "reply_not_found"),
        ];
        for (who, ticket_id, d, expected) in cases {
            let mut repo = MockAttachmentRepository::new();
            repo.expect_list().returning(|_, _| Ok(vec![]));
            repo.expect_insert().never();
            let mut blobs = MockBlobStore::new();
            blobs.expect_put().never();
            let err = service(repo, blobs).upload(&who, TicketId::new(ticket_id), d).await.unwrap_err();
            assert_eq!(code(err), expected);
        }
    }

    #[tokio::test]
    async fn the_type_comes_from_the_content_and_the_name_is_cleaned() {
        let mut repo = MockAttachmentRepository::new();
        repo.expect_list().returning(|_, _| Ok(vec![]));
        repo.expect_insert()
            .withf(|new, limit| {
                new.media_type == MediaType::Png
                    && new.file_name.as_str() == "x.pdf"
                    && new.size_bytes == PNG.len() as u64
                    && new.target == Target::Reply(TicketId::new(10), 7)
                    && *limit == MAX_PER_TARGET
            })
            .times(1)
            .returning(|new, _| Ok(Attachment { id: AttachmentId::new(1), ..attachment(1, new.target) }));
        let mut blobs = MockBlobStore::new();
        blobs.expect_put().times(1).returning(|_| Ok(BlobKey::from_digest([1; 32])));
        let d = UploadDraft { file_name: Some("../../x.pdf".into()), reply_id: Some(7), bytes: PNG.to_vec() };
        let stored = service(repo, blobs).upload(&principal(3, Role::Support), TicketId::new(10), d).await.unwrap();
        assert_eq!(stored.target, Target::Reply(TicketId::new(10), 7));
    }

    #[tokio::test]
    async fn a_full_target_is_refused_before_any_blob_is_written() {
        let mut repo = MockAttachmentRepository::new();
        repo.expect_list().returning(|t, _| {
            Ok((1..=5).map(|i| attachment(i, Target::Ticket(t))).chain([attachment(6, Target::Reply(t, 3))]).collect())
        });
        repo.expect_insert().never();
        let mut blobs = MockBlobStore::new();
        blobs.expect_put().never();
        let err = service(repo, blobs).upload(&principal(1, Role::Student), TicketId::new(10), draft(PNG)).await;
        assert_eq!(code(err.unwrap_err()), "too_many_attachments");
    }

    #[tokio::test]
    async fn a_race_lost_in_the_store_is_the_same_conflict() {
        let mut repo = MockAttachmentRepository::new();
        repo.expect_list().returning(|_, _| Ok(vec![]));
        repo.expect_insert().returning(|_, _| Err(InsertAttachmentError::LimitReached));
        let mut blobs = MockBlobStore::new();
        blobs.expect_put().returning(|_| Ok(BlobKey::from_digest([1; 32])));
        let err = service(repo, blobs).upload(&principal(1, Role::Student), TicketId::new(10), draft(PNG)).await;
        assert_eq!(code(err.unwrap_err()), "too_many_attachments");
    }

    #[tokio::test]
    async fn downloads_follow_the_ticket_rule() {
        let mut repo = MockAttachmentRepository::new();
        repo.expect_find().returning(|id, include_internal| {
            Ok(match id.get() {
                1 => Some(attachment(1, Target::Ticket(TicketId::new(10)))),
                2 => Some(attachment(2, Target::Ticket(TicketId::new(11)))), // a ticket the viewer cannot see
                4 if include_internal => Some(attachment(4, Target::Reply(TicketId::new(10), 8))), // on the note
                _ => None,
            })
        });
        let mut blobs = MockBlobStore::new();
        blobs.expect_get().returning(|_| Ok(Some(PNG.to_vec())));
        let svc = service(repo, blobs);
        let other = principal(2, Role::Student);
        let (att, bytes) = svc.download(&other, AttachmentId::new(1)).await.unwrap();
        assert_eq!((att.id.get(), bytes.as_slice()), (1, PNG));
        assert_eq!(code(svc.download(&other, AttachmentId::new(2)).await.unwrap_err()), "attachment_not_found");
        assert_eq!(code(svc.download(&other, AttachmentId::new(3)).await.unwrap_err()), "attachment_not_found");
        let pending = PrincipalBuilder::student(2).status(AccountStatus::Pending).build();
        assert_eq!(code(svc.download(&pending, AttachmentId::new(1)).await.unwrap_err()), "account_pending");
        // A file on an internal note exists for staff only, even for the ticket's creator.
        let creator = principal(1, Role::Student);
        assert_eq!(code(svc.download(&creator, AttachmentId::new(4)).await.unwrap_err()), "attachment_not_found");
        assert_eq!(svc.download(&principal(3, Role::Support), AttachmentId::new(4)).await.unwrap().0.id.get(), 4);
    }

    #[tokio::test]
    async fn students_are_listed_no_file_of_an_internal_note() {
        let mut repo = MockAttachmentRepository::new();
        repo.expect_list().returning(|t, include_internal| {
            let public = attachment(1, Target::Ticket(t));
            Ok(if include_internal { vec![public, attachment(2, Target::Reply(t, 8))] } else { vec![public] })
        });
        let svc = service(repo, MockBlobStore::new());
        let ids = |items: Vec<Attachment>| items.iter().map(|a| a.id.get()).collect::<Vec<_>>();
        assert_eq!(ids(svc.list(&principal(1, Role::Student), TicketId::new(10)).await.unwrap()), [1]);
        assert_eq!(ids(svc.list(&principal(3, Role::Support), TicketId::new(10)).await.unwrap()), [1, 2]);
    }

    #[tokio::test]
    async fn a_missing_blob_is_an_internal_error() {
        let mut repo = MockAttachmentRepository::new();
        repo.expect_find().returning(|_, _| Ok(Some(attachment(1, Target::Ticket(TicketId::new(10))))));
        let mut blobs = MockBlobStore::new();
        blobs.expect_get().returning(|_| Ok(None));
        let err = service(repo, blobs).download(&principal(1, Role::Student), AttachmentId::new(1)).await;
        assert!(matches!(err, Err(Error::Unknown(_))));
    }
}
