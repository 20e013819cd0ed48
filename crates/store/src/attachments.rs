//! Attachments' metadata. The per-target limit is a count inside the inserting transaction,
//! taken while holding the ticket's row lock, so concurrent uploads queue and count exactly.

use async_trait::async_trait;
use domain::accounts::UserId;
use domain::attachments::*;
use domain::tickets::TicketId;
use sea_orm::sea_query::Query;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, Set,
};

use crate::entity::{attachments, replies, tickets};
use crate::{id32, Store};

impl TryFrom<attachments::Model> for Attachment {
    type Error = anyhow::Error;

    fn try_from(m: attachments::Model) -> anyhow::Result<Self> {
        let bad = |what: &str, v: &str| anyhow::anyhow!("stored attachment {} has invalid {what} {v:?}", m.id);
        let ticket = TicketId::new(m.ticket_id.into());
        Ok(Attachment {
            id: AttachmentId::new(m.id.into()),
            target: match m.reply_id {
                None => Target::Ticket(ticket),
                Some(r) => Target::Reply(ticket, r.into()),
            },
            uploader_id: UserId::new(m.uploader_id.into()),
            file_name: FileName::parse(&m.file_name).map_err(|_| bad("file name", &m.file_name))?,
            media_type: MediaType::parse(&m.media_type).ok_or_else(|| bad("media type", &m.media_type))?,
            size_bytes: u64::try_from(m.size_bytes).map_err(|_| bad("size", &m.size_bytes.to_string()))?,
            sha256: BlobKey::parse(&m.sha256).ok_or_else(|| bad("sha256", &m.sha256))?,
            created_at: m.created_at,
        })
    }
}

#[async_trait]
impl AttachmentRepository for Store {
    async fn insert(&self, new: NewAttachment, limit: usize) -> Result<Attachment, InsertAttachmentError> {
        let ticket = id32(new.target.ticket().get()).ok_or(InsertAttachmentError::TicketNotFound)?;
        let uploader = id32(new.uploader_id.get()).ok_or_else(|| anyhow::anyhow!("uploader id out of range"))?;
        let reply = match new.target.reply() {
            Some(r) => Some(id32(r).ok_or_else(|| anyhow::anyhow!("reply id out of range"))?),
            None => None,
        };
        let size = i64::try_from(new.size_bytes).map_err(|_| anyhow::anyhow!("size out of range"))?;
        let tx = self.write().await.map_err(anyhow::Error::from)?;
        // The row lock makes concurrent inserts on one ticket queue here on PostgreSQL; on
        // SQLite (where FOR UPDATE does not exist) the write lock already serialises them.
        let locked =
            tickets::Entity::find_by_id(ticket).lock_exclusive().one(&*tx).await.map_err(anyhow::Error::from)?;
        if locked.is_none() {
            return Err(InsertAttachmentError::TicketNotFound);
        }
        let same_target = match reply {
            None => attachments::Column::ReplyId.is_null(),
            Some(r) => attachments::Column::ReplyId.eq(r),
        };
        let count = attachments::Entity::find()
            .filter(attachments::Column::TicketId.eq(ticket))
            .filter(same_target)
            .count(&*tx)
            .await
            .map_err(anyhow::Error::from)?;
        if count >= limit as u64 {
            return Err(InsertAttachmentError::LimitReached);
        }
        let row = attachments::ActiveModel {
            ticket_id: Set(ticket),
            reply_id: Set(reply),
            uploader_id: Set(uploader),
            file_name: Set(new.file_name.as_str().to_owned()),
            media_type: Set(new.media_type.as_str().to_owned()),
            size_bytes: Set(size),
            sha256: Set(new.sha256.as_str().to_owned()),
            created_at: Set(new.created_at),
            ..Default::default()
        }
        .insert(&*tx)
        .await
        .map_err(anyhow::Error::from)?;
        tx.commit().await.map_err(anyhow::Error::from)?;
        Ok(Attachment::try_from(row)?)
    }

    async fn list(&self, ticket: TicketId, include_internal: bool) -> anyhow::Result<Vec<Attachment>> {
        let Some(ticket) = id32(ticket.get()) else { return Ok(vec![]) };
        let merged_here = Query::select()
            .column(tickets::Column::Id)
            .from(tickets::Entity)
            .and_where(tickets::Column::MergedInto.eq(ticket))
            .to_owned();
        let mut q = attachments::Entity::find().filter(
            Condition::any()
                .add(attachments::Column::TicketId.eq(ticket))
                .add(attachments::Column::TicketId.in_subquery(merged_here)),
        );
        if !include_internal {
            q = q.filter(not_on_an_internal_note());
        }
        q.order_by_asc(attachments::Column::Id).all(&self.db).await?.into_iter().map(Attachment::try_from).collect()
    }

    async fn find(&self, id: AttachmentId, include_internal: bool) -> anyhow::Result<Option<Attachment>> {
        let Some(id) = id32(id.get()) else { return Ok(None) };
        let mut q = attachments::Entity::find_by_id(id);
        if !include_internal {
            q = q.filter(not_on_an_internal_note());
        }
        q.one(&self.db).await?.map(Attachment::try_from).transpose()
    }
}

/// On the ticket itself or on a public reply. Listed as what is allowed rather than what is
/// not, so a file whose reply cannot be found is hidden too.
fn not_on_an_internal_note() -> Condition {
    let public_replies = Query::select()
        .column(replies::Column::Id)
        .from(replies::Entity)
        .and_where(replies::Column::Internal.eq(false))
        .to_owned();
    Condition::any()
        .add(attachments::Column::ReplyId.is_null())
        .add(attachments::Column::ReplyId.in_subquery(public_replies))
}
