//! The Discourse forum: each ticket's thread (`forum_threads`: the topic once the forum job
//! opened it, its visibility and state), and the forum happenings already acted on
//! (`forum_deliveries`, keyed by what identifies a happening across Discourse's retries).

use sea_orm_migration::{prelude::*, schema::*};

use crate::m20261125_000002_tickets::Tickets;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(ForumThreads::Table)
                    .col(integer(ForumThreads::TicketId).primary_key())
                    .col(big_integer_null(ForumThreads::TopicId).unique_key())
                    .col(text_null(ForumThreads::Url))
                    .col(string_len(ForumThreads::Visibility, 16))
                    .col(string_len(ForumThreads::State, 16))
                    .col(timestamp_with_time_zone(ForumThreads::CreatedAt))
                    .col(timestamp_with_time_zone(ForumThreads::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("forum_threads_ticket_fk")
                            .from(ForumThreads::Table, ForumThreads::TicketId)
                            .to(Tickets::Table, Tickets::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(ForumDeliveries::Table)
                    .col(string_len(ForumDeliveries::Key, 200).primary_key())
                    .col(timestamp_with_time_zone(ForumDeliveries::ReceivedAt))
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(ForumDeliveries::Table).to_owned()).await?;
        manager.drop_table(Table::drop().table(ForumThreads::Table).to_owned()).await?;
        Ok(())
    }
}

#[derive(DeriveIden)]
enum ForumThreads {
    Table,
    TicketId,
    TopicId,
    Url,
    Visibility,
    State,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum ForumDeliveries {
    Table,
    Key,
    ReceivedAt,
}
