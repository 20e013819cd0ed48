//! The FAQ: entries, the tickets they were made from, and readers' feedback.

use sea_orm_migration::{prelude::*, schema::*};

use crate::m20261125_000001_accounts::Users;
use crate::m20261125_000002_tickets::Tickets;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(FaqEntries::Table)
                    .col(pk_auto(FaqEntries::Id))
                    .col(string_len(FaqEntries::Question, 300))
                    // Alternative wordings, one per line (questions are single lines).
                    .col(text(FaqEntries::AlsoAsked))
                    .col(text(FaqEntries::Answer))
                    .col(integer(FaqEntries::CategoryId))
                    // Validated tags joined by commas (tags never contain one).
                    .col(string_len(FaqEntries::Tags, 200))
                    .col(integer(FaqEntries::Position))
                    .col(string_len(FaqEntries::State, 16))
                    .col(integer(FaqEntries::AuthorId))
                    .col(timestamp_with_time_zone(FaqEntries::CreatedAt))
                    .col(timestamp_with_time_zone(FaqEntries::UpdatedAt))
                    .col(timestamp_with_time_zone_null(FaqEntries::PublishedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("faq_entries_category_fk")
                            .from(FaqEntries::Table, FaqEntries::CategoryId)
                            .to(Categories::Table, Categories::Id),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("faq_entries_author_fk")
                            .from(FaqEntries::Table, FaqEntries::AuthorId)
                            .to(Users::Table, Users::Id),
                    )
                    .check(Expr::col(FaqEntries::State).is_in(["draft", "published"]))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("faq_entries_listing_idx")
                    .table(FaqEntries::Table)
                    .col(FaqEntries::State)
                    .col(FaqEntries::CategoryId)
                    .col(FaqEntries::Position)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(FaqSources::Table)
                    .col(integer(FaqSources::EntryId))
                    .col(integer(FaqSources::TicketId))
                    .primary_key(
                        Index::create().name("faq_sources_pkey").col(FaqSources::EntryId).col(FaqSources::TicketId),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("faq_sources_entry_fk")
                            .from(FaqSources::Table, FaqSources::EntryId)
                            .to(FaqEntries::Table, FaqEntries::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("faq_sources_ticket_fk")
                            .from(FaqSources::Table, FaqSources::TicketId)
                            .to(Tickets::Table, Tickets::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("faq_sources_ticket_idx")
                    .table(FaqSources::Table)
                    .col(FaqSources::TicketId)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(FaqFeedback::Table)
                    .col(integer(FaqFeedback::EntryId))
                    .col(integer(FaqFeedback::UserId))
                    .col(boolean(FaqFeedback::Helpful))
                    .primary_key(
                        Index::create().name("faq_feedback_pkey").col(FaqFeedback::EntryId).col(FaqFeedback::UserId),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("faq_feedback_entry_fk")
                            .from(FaqFeedback::Table, FaqFeedback::EntryId)
                            .to(FaqEntries::Table, FaqEntries::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("faq_feedback_user_fk")
                            .from(FaqFeedback::Table, FaqFeedback::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(FaqFeedback::Table).to_owned()).await?;
        manager.drop_table(Table::drop().table(FaqSources::Table).to_owned()).await?;
        manager.drop_table(Table::drop().table(FaqEntries::Table).to_owned()).await
    }
}

#[derive(DeriveIden)]
enum FaqEntries {
    Table,
    Id,
    Question,
    AlsoAsked,
    Answer,
    CategoryId,
    Tags,
    Position,
    State,
    AuthorId,
    CreatedAt,
    UpdatedAt,
    PublishedAt,
}

#[derive(DeriveIden)]
enum FaqSources {
    Table,
    EntryId,
    TicketId,
}

#[derive(DeriveIden)]
enum FaqFeedback {
    Table,
    EntryId,
    UserId,
    Helpful,
}

/// The categories table, as far as this migration refers to it.
#[derive(DeriveIden)]
enum Categories {
    Table,
    Id,
}
