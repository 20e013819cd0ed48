//! The support workflow: replies and internal notes, watchers, and the record of merges.

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
                    .table(Replies::Table)
                    .col(pk_auto(Replies::Id))
                    .col(integer(Replies::TicketId))
                    .col(integer(Replies::AuthorId))
                    .col(text(Replies::Body))
                    .col(boolean(Replies::Internal))
                    .col(timestamp_with_time_zone(Replies::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("replies_ticket_fk")
                            .from(Replies::Table, Replies::TicketId)
                            .to(Tickets::Table, Tickets::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("replies_author_fk")
                            .from(Replies::Table, Replies::AuthorId)
                            .to(Users::Table, Users::Id),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("replies_ticket_idx")
                    .table(Replies::Table)
                    .col(Replies::TicketId)
                    .col(Replies::Id)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Merges::Table)
                    .col(pk_auto(Merges::Id))
                    .col(integer(Merges::SourceId))
                    .col(integer(Merges::TargetId))
                    .col(integer(Merges::ActorId))
                    .col(timestamp_with_time_zone(Merges::MergedAt))
                    .col(timestamp_with_time_zone_null(Merges::UnmergedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("merges_source_fk")
                            .from(Merges::Table, Merges::SourceId)
                            .to(Tickets::Table, Tickets::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("merges_target_fk")
                            .from(Merges::Table, Merges::TargetId)
                            .to(Tickets::Table, Tickets::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("merges_actor_fk")
                            .from(Merges::Table, Merges::ActorId)
                            .to(Users::Table, Users::Id),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("merges_source_idx")
                    .table(Merges::Table)
                    .col(Merges::SourceId)
                    .col(Merges::Id)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Watchers::Table)
                    .col(integer(Watchers::TicketId))
                    .col(integer(Watchers::UserId))
                    .col(timestamp_with_time_zone(Watchers::CreatedAt))
                    // Set when the watch was carried over by a merge, so an unmerge can undo it.
                    .col(integer_null(Watchers::MergeId))
                    .primary_key(Index::create().name("watchers_pkey").col(Watchers::TicketId).col(Watchers::UserId))
                    .foreign_key(
                        ForeignKey::create()
                            .name("watchers_ticket_fk")
                            .from(Watchers::Table, Watchers::TicketId)
                            .to(Tickets::Table, Tickets::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("watchers_user_fk")
                            .from(Watchers::Table, Watchers::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("watchers_user_idx")
                    .table(Watchers::Table)
                    .col(Watchers::UserId)
                    .col(Watchers::TicketId)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(Watchers::Table).to_owned()).await?;
        manager.drop_table(Table::drop().table(Merges::Table).to_owned()).await?;
        manager.drop_table(Table::drop().table(Replies::Table).to_owned()).await
    }
}

#[derive(DeriveIden)]
enum Replies {
    Table,
    Id,
    TicketId,
    AuthorId,
    Body,
    Internal,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Merges {
    Table,
    Id,
    SourceId,
    TargetId,
    ActorId,
    MergedAt,
    UnmergedAt,
}

#[derive(DeriveIden)]
enum Watchers {
    Table,
    TicketId,
    UserId,
    CreatedAt,
    MergeId,
}
