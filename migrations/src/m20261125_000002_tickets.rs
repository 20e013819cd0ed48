//! Categories, tickets, their tags, votes and events.

use sea_orm_migration::{prelude::*, schema::*};

use crate::m20261125_000001_accounts::Users;

#[derive(DeriveMigrationName)]
pub struct Migration;

fn index(name: &str, table: impl IntoIden + 'static, cols: &[&'static str]) -> IndexCreateStatement {
    let mut idx = Index::create();
    idx.name(name).table(table);
    for c in cols {
        idx.col(Alias::new(*c));
    }
    idx.to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Categories::Table)
                    .col(pk_auto(Categories::Id))
                    .col(string_len(Categories::Name, 60))
                    // Lower-cased name: uniqueness regardless of case on both backends.
                    .col(string_len(Categories::NameKey, 60))
                    .col(text(Categories::Description))
                    .col(integer(Categories::Position))
                    // The support member who owns the category (assignment falls back to them).
                    .col(integer_null(Categories::OwnerId))
                    .foreign_key(
                        ForeignKey::create()
                            .name("categories_owner_fk")
                            .from(Categories::Table, Categories::OwnerId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::SetNull),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index("categories_name_key", Categories::Table, &["name_key"]).unique().to_owned())
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Tickets::Table)
                    .col(pk_auto(Tickets::Id))
                    .col(string_len(Tickets::Title, 150))
                    .col(text(Tickets::Description))
                    .col(integer(Tickets::CategoryId))
                    .col(string_len(Tickets::Priority, 16))
                    .col(string_len(Tickets::Status, 16))
                    .col(integer(Tickets::CreatorId))
                    .col(timestamp_with_time_zone(Tickets::CreatedAt))
                    .col(timestamp_with_time_zone(Tickets::UpdatedAt))
                    .col(integer(Tickets::VoteCount).default(0))
                    .col(double(Tickets::QueueKey))
                    .col(big_integer(Tickets::Version).default(1))
                    .col(integer_null(Tickets::AssigneeId))
                    .col(text_null(Tickets::Resolution))
                    .col(timestamp_with_time_zone_null(Tickets::ResolvedAt))
                    .col(integer_null(Tickets::ResolvedBy))
                    .col(integer_null(Tickets::MergedInto))
                    // The status to restore when a merge is undone.
                    .col(string_len_null(Tickets::PreMergeStatus, 16))
                    .col(integer_null(Tickets::FollowUpOf))
                    .foreign_key(
                        ForeignKey::create()
                            .name("tickets_assignee_fk")
                            .from(Tickets::Table, Tickets::AssigneeId)
                            .to(Users::Table, Users::Id),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("tickets_resolved_by_fk")
                            .from(Tickets::Table, Tickets::ResolvedBy)
                            .to(Users::Table, Users::Id),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("tickets_merged_into_fk")
                            .from(Tickets::Table, Tickets::MergedInto)
                            .to(Tickets::Table, Tickets::Id),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("tickets_follow_up_of_fk")
                            .from(Tickets::Table, Tickets::FollowUpOf)
                            .to(Tickets::Table, Tickets::Id),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("tickets_category_fk")
                            .from(Tickets::Table, Tickets::CategoryId)
                            .to(Categories::Table, Categories::Id),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("tickets_creator_fk")
                            .from(Tickets::Table, Tickets::CreatorId)
                            .to(Users::Table, Users::Id),
                    )
                    .check(Expr::col(Tickets::VoteCount).gte(0))
                    .to_owned(),
            )
            .await?;
        for (name, cols) in [
            ("tickets_votes_idx", &["vote_count", "id"][..]),
            ("tickets_queue_idx", &["queue_key", "id"][..]),
            ("tickets_status_idx", &["status", "id"][..]),
            ("tickets_creator_idx", &["creator_id", "id"][..]),
            ("tickets_category_idx", &["category_id", "id"][..]),
            ("tickets_assignee_idx", &["assignee_id", "status"][..]),
            ("tickets_resolved_idx", &["status", "resolved_at"][..]),
            ("tickets_merged_into_idx", &["merged_into"][..]),
        ] {
            manager.create_index(index(name, Tickets::Table, cols)).await?;
        }

        manager
            .create_table(
                Table::create()
                    .table(TicketTags::Table)
                    .col(integer(TicketTags::TicketId))
                    .col(string_len(TicketTags::Tag, 32))
                    .primary_key(Index::create().col(TicketTags::TicketId).col(TicketTags::Tag))
                    .foreign_key(
                        ForeignKey::create()
                            .name("ticket_tags_ticket_fk")
                            .from(TicketTags::Table, TicketTags::TicketId)
                            .to(Tickets::Table, Tickets::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager.create_index(index("ticket_tags_tag_idx", TicketTags::Table, &["tag", "ticket_id"])).await?;

        manager
            .create_table(
                Table::create()
                    .table(Votes::Table)
                    .col(integer(Votes::TicketId))
                    .col(integer(Votes::UserId))
                    .col(timestamp_with_time_zone(Votes::CreatedAt))
                    // Set when the vote was carried over by a merge (see `merges`), so an
                    // unmerge can take it back.
                    .col(integer_null(Votes::MergeId))
                    // One vote per user per ticket, enforced by the store, not by the caller.
                    .primary_key(Index::create().name("votes_pkey").col(Votes::TicketId).col(Votes::UserId))
                    .foreign_key(
                        ForeignKey::create()
                            .name("votes_ticket_fk")
                            .from(Votes::Table, Votes::TicketId)
                            .to(Tickets::Table, Tickets::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("votes_user_fk")
                            .from(Votes::Table, Votes::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager.create_index(index("votes_user_idx", Votes::Table, &["user_id", "ticket_id"])).await?;

        manager
            .create_table(
                Table::create()
                    .table(TicketEvents::Table)
                    .col(pk_auto(TicketEvents::Id))
                    .col(integer(TicketEvents::TicketId))
                    // NULL when osts itself acted (closing automatically).
                    .col(integer_null(TicketEvents::ActorId))
                    .col(timestamp_with_time_zone(TicketEvents::At))
                    .col(string_len(TicketEvents::Kind, 32))
                    .col(text(TicketEvents::Change))
                    .foreign_key(
                        ForeignKey::create()
                            .name("ticket_events_ticket_fk")
                            .from(TicketEvents::Table, TicketEvents::TicketId)
                            .to(Tickets::Table, Tickets::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("ticket_events_actor_fk")
                            .from(TicketEvents::Table, TicketEvents::ActorId)
                            .to(Users::Table, Users::Id),
                    )
                    .to_owned(),
            )
            .await?;
        manager.create_index(index("ticket_events_ticket_idx", TicketEvents::Table, &["ticket_id", "id"])).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            TicketEvents::Table.into_iden(),
            Votes::Table.into_iden(),
            TicketTags::Table.into_iden(),
            Tickets::Table.into_iden(),
            Categories::Table.into_iden(),
        ] {
            manager.drop_table(Table::drop().table(table).to_owned()).await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden)]
pub(crate) enum Categories {
    Table,
    Id,
    Name,
    NameKey,
    Description,
    Position,
    OwnerId,
}

#[derive(DeriveIden)]
pub(crate) enum Tickets {
    Table,
    Id,
    Title,
    Description,
    CategoryId,
    Priority,
    Status,
    CreatorId,
    CreatedAt,
    UpdatedAt,
    VoteCount,
    QueueKey,
    Version,
    AssigneeId,
    Resolution,
    ResolvedAt,
    ResolvedBy,
    MergedInto,
    PreMergeStatus,
    FollowUpOf,
}

#[derive(DeriveIden)]
enum TicketTags {
    Table,
    TicketId,
    Tag,
}

#[derive(DeriveIden)]
enum Votes {
    Table,
    TicketId,
    UserId,
    CreatedAt,
    MergeId,
}

#[derive(DeriveIden)]
enum TicketEvents {
    Table,
    Id,
    TicketId,
    ActorId,
    At,
    Kind,
    Change,
}
