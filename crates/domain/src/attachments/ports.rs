use async_trait::async_trait;

use super::model::*;
use crate::tickets::TicketId;

/// Content-addressed storage of attachment bytes.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait BlobStore: Send + Sync {
    /// Stores `bytes` and returns their key, the SHA-256 of the bytes. MUST be idempotent:
    /// storing the same bytes again returns the same key and leaves the stored blob as it
    /// was. MUST be atomic: once it returns, `get` finds the whole blob, and no reader ever
    /// sees part of one (even if the process dies mid-write). MUST NOT derive any storage
    /// location from anything but the key.
    async fn put(&self, bytes: Vec<u8>) -> anyhow::Result<BlobKey>;

    /// The bytes stored under `key`. MUST return `Ok(None)` if there is no such blob, and
    /// MUST return an error (never the bytes) if the stored bytes no longer hash to `key`.
    async fn get(&self, key: &BlobKey) -> anyhow::Result<Option<Vec<u8>>>;
}

/// Why an attachment's metadata could not be stored.
#[derive(Debug, thiserror::Error)]
pub enum InsertAttachmentError {
    /// The target already has `limit` attachments.
    #[error("attachment limit reached")]
    LimitReached,
    /// There is no such ticket.
    #[error("ticket not found")]
    TicketNotFound,
    /// Anything else.
    #[error(transparent)]
    Unknown(#[from] anyhow::Error),
}

/// Storage of attachments' metadata.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait AttachmentRepository: Send + Sync {
    /// Stores `new` if its target (the ticket itself, or one reply on it) has fewer than
    /// `limit` attachments; the count and the insert are one transaction that excludes
    /// concurrent inserts on the same ticket, so the limit holds however many uploads race.
    /// MUST return `LimitReached` (storing nothing) when the target is full and
    /// `TicketNotFound` when the ticket does not exist.
    async fn insert(&self, new: NewAttachment, limit: usize) -> Result<Attachment, InsertAttachmentError>;

    /// The attachments of the ticket and of the tickets merged into it, including those on
    /// their replies, oldest first (a merged ticket's replies are listed with its target's,
    /// and so are their files). Unless `include_internal`, MUST leave out every attachment on
    /// an internal note: whatever hides a note hides its files. MUST return an empty list
    /// for a ticket that has none or does not exist.
    async fn list(&self, ticket: TicketId, include_internal: bool) -> anyhow::Result<Vec<Attachment>>;

    /// One attachment. MUST return `Ok(None)` if there is none, and, unless
    /// `include_internal`, if it is on an internal note.
    async fn find(&self, id: AttachmentId, include_internal: bool) -> anyhow::Result<Option<Attachment>>;
}
