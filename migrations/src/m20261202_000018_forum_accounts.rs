//! Forum accounts users linked to osts (where the forum keeps its own accounts instead of
//! signing users in through osts): one per user, and one user per forum username, kept only
//! once osts has proven the account is theirs (its primary email is the user's confirmed one).

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
                    .table(ForumAccounts::Table)
                    .col(integer(ForumAccounts::UserId).primary_key())
                    .col(string_len(ForumAccounts::Username, 60))
                    // Discourse usernames are unique regardless of case.
                    .col(string_len(ForumAccounts::UsernameKey, 60).unique_key())
                    .col(timestamp_with_time_zone(ForumAccounts::LinkedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("forum_accounts_user_fk")
                            .from(ForumAccounts::Table, ForumAccounts::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(ForumAccounts::Table).to_owned()).await
    }
}

#[derive(DeriveIden)]
enum ForumAccounts {
    Table,
    UserId,
    Username,
    UsernameKey,
    LinkedAt,
}
