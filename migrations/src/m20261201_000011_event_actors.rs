//! Who acted, recorded with every history event: `actor_kind` is `user` (with `actor_id`),
//! `system` (osts itself, e.g. closing resolved tickets) or an integration (`forum`, `chat`).
//! Events recorded before had no user only when osts itself acted, so those become `system`.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum TicketEvents {
    Table,
    ActorKind,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(TicketEvents::Table)
                    .add_column(ColumnDef::new(TicketEvents::ActorKind).string_len(16).not_null().default("user"))
                    .to_owned(),
            )
            .await?;
        manager
            .get_connection()
            .execute_unprepared("UPDATE ticket_events SET actor_kind = 'system' WHERE actor_id IS NULL")
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(Table::alter().table(TicketEvents::Table).drop_column(TicketEvents::ActorKind).to_owned())
            .await
    }
}
