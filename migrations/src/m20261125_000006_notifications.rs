//! Notifications: the in-app inbox, each user's preferences per event kind, and the outbox of
//! deliveries (emails) a worker sends after the change that caused them has committed.

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
                    .table(Notifications::Table)
                    .col(pk_auto(Notifications::Id))
                    .col(integer(Notifications::UserId))
                    .col(integer_null(Notifications::TicketId))
                    // The ticket event that caused it, so the outbox insert that follows in the
                    // same transaction can select exactly the rows the fan-out just wrote.
                    .col(integer_null(Notifications::EventId))
                    .col(string_len(Notifications::Kind, 32))
                    .col(text(Notifications::Payload))
                    .col(timestamp_with_time_zone(Notifications::CreatedAt))
                    .col(timestamp_with_time_zone_null(Notifications::ReadAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("notifications_user_fk")
                            .from(Notifications::Table, Notifications::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("notifications_ticket_fk")
                            .from(Notifications::Table, Notifications::TicketId)
                            .to(Tickets::Table, Tickets::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        // The inbox: a user's notifications newest first, and the unread count.
        manager
            .create_index(
                Index::create()
                    .name("notifications_inbox_idx")
                    .table(Notifications::Table)
                    .col(Notifications::UserId)
                    .col(Notifications::Id)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("notifications_event_idx")
                    .table(Notifications::Table)
                    .col(Notifications::EventId)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(NotificationPreferences::Table)
                    .col(integer(NotificationPreferences::UserId))
                    .col(string_len(NotificationPreferences::Kind, 32))
                    .col(boolean(NotificationPreferences::Email))
                    .col(boolean(NotificationPreferences::Digest))
                    .primary_key(
                        Index::create().col(NotificationPreferences::UserId).col(NotificationPreferences::Kind),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("notification_preferences_user_fk")
                            .from(NotificationPreferences::Table, NotificationPreferences::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Deliveries::Table)
                    .col(pk_auto(Deliveries::Id))
                    .col(string_len_uniq(Deliveries::IdempotencyKey, 128))
                    .col(string_len(Deliveries::Channel, 16))
                    .col(integer(Deliveries::NotificationId))
                    .col(integer(Deliveries::UserId))
                    .col(string_len(Deliveries::Status, 16))
                    .col(integer(Deliveries::Attempts))
                    .col(timestamp_with_time_zone(Deliveries::NextAttemptAt))
                    .col(timestamp_with_time_zone_null(Deliveries::LeaseUntil))
                    .col(text_null(Deliveries::LastError))
                    .col(timestamp_with_time_zone(Deliveries::CreatedAt))
                    .col(timestamp_with_time_zone(Deliveries::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("deliveries_notification_fk")
                            .from(Deliveries::Table, Deliveries::NotificationId)
                            .to(Notifications::Table, Notifications::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("deliveries_user_fk")
                            .from(Deliveries::Table, Deliveries::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        // The worker's scan: due jobs of one status, oldest due first.
        manager
            .create_index(
                Index::create()
                    .name("deliveries_due_idx")
                    .table(Deliveries::Table)
                    .col(Deliveries::Status)
                    .col(Deliveries::NextAttemptAt)
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(Deliveries::Table).to_owned()).await?;
        manager.drop_table(Table::drop().table(NotificationPreferences::Table).to_owned()).await?;
        manager.drop_table(Table::drop().table(Notifications::Table).to_owned()).await
    }
}

#[derive(DeriveIden)]
enum Notifications {
    Table,
    Id,
    UserId,
    TicketId,
    EventId,
    Kind,
    Payload,
    CreatedAt,
    ReadAt,
}

#[derive(DeriveIden)]
enum NotificationPreferences {
    Table,
    UserId,
    Kind,
    Email,
    Digest,
}

#[derive(DeriveIden)]
enum Deliveries {
    Table,
    Id,
    IdempotencyKey,
    Channel,
    NotificationId,
    UserId,
    Status,
    Attempts,
    NextAttemptAt,
    LeaseUntil,
    LastError,
    CreatedAt,
    UpdatedAt,
}
