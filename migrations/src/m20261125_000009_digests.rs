//! Daily digests: a digest is a delivery on channel `digest` (key `digest:<user>:<day>`) that
//! covers a window of notifications, so it shares the outbox's leases, retries and dead
//! letters. Its `notification_id` points at the newest notification of the window.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // SQLite adds one column per ALTER TABLE.
        manager
            .alter_table(
                Table::alter()
                    .table(Deliveries::Table)
                    .add_column(timestamp_with_time_zone_null(Deliveries::WindowStart))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Deliveries::Table)
                    .add_column(timestamp_with_time_zone_null(Deliveries::WindowEnd))
                    .to_owned(),
            )
            .await?;
        // The daily enqueue reads one day of notifications.
        manager
            .create_index(
                Index::create()
                    .name("notifications_created_idx")
                    .table(Notifications::Table)
                    .col(Notifications::CreatedAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(Index::drop().name("notifications_created_idx").table(Notifications::Table).to_owned())
            .await?;
        manager
            .alter_table(Table::alter().table(Deliveries::Table).drop_column(Deliveries::WindowEnd).to_owned())
            .await?;
        manager
            .alter_table(Table::alter().table(Deliveries::Table).drop_column(Deliveries::WindowStart).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum Deliveries {
    Table,
    WindowStart,
    WindowEnd,
}

#[derive(DeriveIden)]
enum Notifications {
    Table,
    CreatedAt,
}
