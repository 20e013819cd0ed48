//! Email confirmation: single-use tokens (stored as their SHA-256 only) that confirm a
//! self-registered account's address. Accounts that exist already and are past `pending`
//! count as confirmed, so that nobody active is locked out by the upgrade.

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
                    .table(EmailConfirmations::Table)
                    .col(string_len(EmailConfirmations::TokenHash, 64).primary_key())
                    .col(integer(EmailConfirmations::UserId))
                    .col(timestamp_with_time_zone(EmailConfirmations::CreatedAt))
                    .col(timestamp_with_time_zone(EmailConfirmations::ExpiresAt))
                    .col(timestamp_with_time_zone_null(EmailConfirmations::UsedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("email_confirmations_user_fk")
                            .from(EmailConfirmations::Table, EmailConfirmations::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        // A resend replaces a user's unused tokens.
        manager
            .create_index(
                Index::create()
                    .name("email_confirmations_user_idx")
                    .table(EmailConfirmations::Table)
                    .col(EmailConfirmations::UserId)
                    .to_owned(),
            )
            .await?;
        manager
            .exec_stmt(
                Query::update()
                    .table(Users::Table)
                    .value(Users::EmailConfirmedAt, Expr::col(Users::CreatedAt))
                    .and_where(Expr::col(Users::EmailConfirmedAt).is_null())
                    .and_where(Expr::col(Users::Status).ne("pending"))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(EmailConfirmations::Table).to_owned()).await
    }
}

#[derive(DeriveIden)]
enum EmailConfirmations {
    Table,
    TokenHash,
    UserId,
    CreatedAt,
    ExpiresAt,
    UsedAt,
}
