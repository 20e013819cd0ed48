//! Attachments' metadata; their bytes live in the blob store.

use sea_orm_migration::{prelude::*, schema::*};

use crate::m20261125_000001_accounts::Users;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Attachments::Table)
                    .col(pk_auto(Attachments::Id))
                    .col(integer(Attachments::TicketId))
                    // No foreign key yet: the replies table arrives separately and links it.
                    .col(integer_null(Attachments::ReplyId))
                    .col(integer(Attachments::UploaderId))
                    .col(string_len(Attachments::FileName, 255))
                    .col(string_len(Attachments::MediaType, 32))
                    .col(big_integer(Attachments::SizeBytes))
                    .col(string_len(Attachments::Sha256, 64))
                    .col(timestamp_with_time_zone(Attachments::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("attachments_ticket_fk")
                            .from(Attachments::Table, Attachments::TicketId)
                            .to(Tickets::Table, Tickets::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("attachments_uploader_fk")
                            .from(Attachments::Table, Attachments::UploaderId)
                            .to(Users::Table, Users::Id),
                    )
                    .check(Expr::col(Attachments::SizeBytes).gte(0))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("attachments_ticket_idx")
                    .table(Attachments::Table)
                    .col(Attachments::TicketId)
                    .col(Attachments::Id)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(Attachments::Table).to_owned()).await
    }
}

#[derive(DeriveIden)]
enum Attachments {
    Table,
    Id,
    TicketId,
    ReplyId,
    UploaderId,
    FileName,
    MediaType,
    SizeBytes,
    Sha256,
    CreatedAt,
}

/// The tickets table, as far as this migration refers to it.
#[derive(DeriveIden)]
enum Tickets {
    Table,
    Id,
}
