//! One outbox for every channel: a delivery is either per user (email, digests: a
//! notification and a user) or per ticket (an integration job: a ticket and a JSON payload),
//! so `notification_id` and `user_id` become optional and `ticket_id` and `payload` are
//! added. A digest is an email: its channel becomes `email` (its window tells it apart).
//! An index serves the claim's ordering rule (no job of a ticket starts while an earlier one
//! of the same ticket and channel is pending or sending).
//!
//! SQLite cannot drop `NOT NULL`, so the table is rebuilt there with the same columns.

use sea_orm_migration::{prelude::*, schema::*, sea_orm::DbBackend};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// The columns kept as they are, in the SQLite rebuild.
const COLUMNS: &str = "id, idempotency_key, channel, notification_id, user_id, status, attempts, next_attempt_at, \
                       lease_until, last_error, created_at, updated_at, window_start, window_end";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        match manager.get_database_backend() {
            DbBackend::Sqlite => {
                manager.create_table(deliveries(Deliveries::Next)).await?;
                db.execute_unprepared(&format!(
                    "INSERT INTO deliveries_next ({COLUMNS}) SELECT {COLUMNS} FROM deliveries"
                ))
                .await?;
                db.execute_unprepared("DROP TABLE deliveries").await?;
                db.execute_unprepared("ALTER TABLE deliveries_next RENAME TO deliveries").await?;
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
            }
            DbBackend::Postgres | DbBackend::MySql => {
                db.execute_unprepared(
                    "ALTER TABLE deliveries ALTER COLUMN notification_id DROP NOT NULL, \
                     ALTER COLUMN user_id DROP NOT NULL, \
                     ADD COLUMN ticket_id integer NULL, ADD COLUMN payload text NULL, \
                     ADD CONSTRAINT deliveries_ticket_fk FOREIGN KEY (ticket_id) REFERENCES tickets (id) \
                     ON DELETE CASCADE",
                )
                .await?;
            }
        }
        db.execute_unprepared("UPDATE deliveries SET channel = 'email' WHERE channel = 'digest'").await?;
        db.execute_unprepared(
            "CREATE INDEX deliveries_ticket_order_idx ON deliveries (ticket_id, channel, id) WHERE ticket_id IS NOT NULL",
        )
        .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        db.execute_unprepared("DROP INDEX IF EXISTS deliveries_ticket_order_idx").await?;
        // Per-ticket jobs have no place in the older table.
        db.execute_unprepared("DELETE FROM deliveries WHERE notification_id IS NULL OR user_id IS NULL").await?;
        db.execute_unprepared("UPDATE deliveries SET channel = 'digest' WHERE window_start IS NOT NULL").await?;
        match manager.get_database_backend() {
            DbBackend::Sqlite => {
                db.execute_unprepared("ALTER TABLE deliveries DROP COLUMN ticket_id").await?;
                db.execute_unprepared("ALTER TABLE deliveries DROP COLUMN payload").await?;
            }
            DbBackend::Postgres | DbBackend::MySql => {
                db.execute_unprepared(
                    "ALTER TABLE deliveries DROP COLUMN ticket_id, DROP COLUMN payload, \
                     ALTER COLUMN notification_id SET NOT NULL, ALTER COLUMN user_id SET NOT NULL",
                )
                .await?;
            }
        }
        Ok(())
    }
}

/// The deliveries table as it is after this migration, named `table`.
fn deliveries(table: Deliveries) -> TableCreateStatement {
    Table::create()
        .table(table)
        .col(pk_auto(Deliveries::Id))
        .col(string_len_uniq(Deliveries::IdempotencyKey, 128))
        .col(string_len(Deliveries::Channel, 16))
        .col(integer_null(Deliveries::NotificationId))
        .col(integer_null(Deliveries::UserId))
        .col(integer_null(Deliveries::TicketId))
        .col(text_null(Deliveries::Payload))
        .col(string_len(Deliveries::Status, 16))
        .col(integer(Deliveries::Attempts))
        .col(timestamp_with_time_zone(Deliveries::NextAttemptAt))
        .col(timestamp_with_time_zone_null(Deliveries::LeaseUntil))
        .col(text_null(Deliveries::LastError))
        .col(timestamp_with_time_zone(Deliveries::CreatedAt))
        .col(timestamp_with_time_zone(Deliveries::UpdatedAt))
        .col(timestamp_with_time_zone_null(Deliveries::WindowStart))
        .col(timestamp_with_time_zone_null(Deliveries::WindowEnd))
        .foreign_key(
            ForeignKey::create()
                .name("deliveries_notification_fk")
                .from(table, Deliveries::NotificationId)
                .to(Notifications::Table, Notifications::Id)
                .on_delete(ForeignKeyAction::Cascade),
        )
        .foreign_key(
            ForeignKey::create()
                .name("deliveries_user_fk")
                .from(table, Deliveries::UserId)
                .to(Users::Table, Users::Id)
                .on_delete(ForeignKeyAction::Cascade),
        )
        .foreign_key(
            ForeignKey::create()
                .name("deliveries_ticket_fk")
                .from(table, Deliveries::TicketId)
                .to(Tickets::Table, Tickets::Id)
                .on_delete(ForeignKeyAction::Cascade),
        )
        .to_owned()
}

#[derive(DeriveIden, Clone, Copy)]
enum Deliveries {
    Table,
    #[sea_orm(iden = "deliveries_next")]
    Next,
    Id,
    IdempotencyKey,
    Channel,
    NotificationId,
    UserId,
    TicketId,
    Payload,
    Status,
    Attempts,
    NextAttemptAt,
    LeaseUntil,
    LastError,
    CreatedAt,
    UpdatedAt,
    WindowStart,
    WindowEnd,
}

#[derive(DeriveIden)]
enum Notifications {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Tickets {
    Table,
    Id,
}
