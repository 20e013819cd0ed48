//! Escalation to chat spaces and service-level targets:
//!
//! - on `tickets`: the SLA state as of the last check (`sla_state`, indexed with the queue's
//!   order over unresolved tickets for `GET /queue?sla=`), the due times, the first public
//!   staff reply (`first_response_at`, filled from the replies already there), when it was
//!   first escalated and whether its votes escalated it (once per ticket);
//! - `sla_settings`: one row, the targets and business hours admins set (JSON);
//! - `chat_webhooks`: where escalations are posted, with the secret URL and the filters;
//! - `chat_threads`: the webhooks a ticket's escalation went to, so that its later events
//!   reply in the same threads.

use sea_orm_migration::{prelude::*, schema::*, sea_orm::DbBackend};

use crate::m20261125_000002_tickets::{Categories, Tickets};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // SQLite takes one column per ALTER TABLE.
        let columns = [
            string_len(Columns::SlaState, 16).default("ok").to_owned(),
            timestamp_with_time_zone_null(Columns::FirstResponseDue).to_owned(),
            timestamp_with_time_zone_null(Columns::ResolutionDue).to_owned(),
            timestamp_with_time_zone_null(Columns::FirstResponseAt).to_owned(),
            timestamp_with_time_zone_null(Columns::EscalatedAt).to_owned(),
            boolean(Columns::EscalatedForVotes).default(false).to_owned(),
        ];
        for mut column in columns {
            manager.alter_table(Table::alter().table(Tickets::Table).add_column(&mut column).to_owned()).await?;
        }
        // The first public reply by staff, for tickets raised before this migration.
        manager
            .get_connection()
            .execute_unprepared(
                "UPDATE tickets SET first_response_at = (\
                   SELECT MIN(r.created_at) FROM replies r JOIN users u ON u.id = r.author_id \
                   WHERE r.ticket_id = tickets.id AND NOT r.internal AND u.role IN ('support', 'admin'))",
            )
            .await?;
        let unresolved = match manager.get_database_backend() {
            DbBackend::Sqlite => "+status IN ('open', 'in_progress')",
            DbBackend::Postgres | DbBackend::MySql => "status IN ('open', 'in_progress')",
        };
        manager
            .get_connection()
            .execute_unprepared(&format!(
                "CREATE INDEX tickets_unresolved_sla_idx ON tickets (sla_state, queue_key, id) WHERE {unresolved}"
            ))
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(SlaSettings::Table)
                    .col(integer(SlaSettings::Id).primary_key())
                    .col(text(SlaSettings::Targets))
                    .col(text_null(SlaSettings::BusinessHours))
                    .col(timestamp_with_time_zone(SlaSettings::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(ChatWebhooks::Table)
                    .col(pk_auto(ChatWebhooks::Id))
                    .col(string_len(ChatWebhooks::Name, 100))
                    .col(string_len(ChatWebhooks::Kind, 16))
                    .col(text(ChatWebhooks::Url))
                    .col(integer_null(ChatWebhooks::CategoryId))
                    .col(string_len_null(ChatWebhooks::Priority, 16))
                    .col(timestamp_with_time_zone(ChatWebhooks::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("chat_webhooks_category_fk")
                            .from(ChatWebhooks::Table, ChatWebhooks::CategoryId)
                            .to(Categories::Table, Categories::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(ChatThreads::Table)
                    .col(integer(ChatThreads::TicketId))
                    .col(integer(ChatThreads::WebhookId))
                    .col(timestamp_with_time_zone(ChatThreads::CreatedAt))
                    .primary_key(Index::create().col(ChatThreads::TicketId).col(ChatThreads::WebhookId))
                    .foreign_key(
                        ForeignKey::create()
                            .name("chat_threads_ticket_fk")
                            .from(ChatThreads::Table, ChatThreads::TicketId)
                            .to(Tickets::Table, Tickets::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("chat_threads_webhook_fk")
                            .from(ChatThreads::Table, ChatThreads::WebhookId)
                            .to(ChatWebhooks::Table, ChatWebhooks::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(ChatThreads::Table).to_owned()).await?;
        manager.drop_table(Table::drop().table(ChatWebhooks::Table).to_owned()).await?;
        manager.drop_table(Table::drop().table(SlaSettings::Table).to_owned()).await?;
        manager.get_connection().execute_unprepared("DROP INDEX tickets_unresolved_sla_idx").await?;
        for column in [
            Columns::EscalatedForVotes,
            Columns::EscalatedAt,
            Columns::FirstResponseAt,
            Columns::ResolutionDue,
            Columns::FirstResponseDue,
            Columns::SlaState,
        ] {
            manager.alter_table(Table::alter().table(Tickets::Table).drop_column(column).to_owned()).await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum Columns {
    SlaState,
    FirstResponseDue,
    ResolutionDue,
    FirstResponseAt,
    EscalatedAt,
    EscalatedForVotes,
}

#[derive(DeriveIden)]
enum SlaSettings {
    Table,
    Id,
    Targets,
    BusinessHours,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum ChatWebhooks {
    Table,
    Id,
    Name,
    Kind,
    Url,
    CategoryId,
    Priority,
    CreatedAt,
}

#[derive(DeriveIden)]
enum ChatThreads {
    Table,
    TicketId,
    WebhookId,
    CreatedAt,
}
