//! Accounts and sessions.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use domain::accounts::*;
use domain::page::{ListError, Page, PageLimit};
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set};

use crate::entity::{sessions, users};
use crate::notifications::{exec, forget_confirmation_links, notify_account, query};
use crate::{id32, is_unique_violation, Store};

/// Stores a confirmation token's digest for `user` and queues its email, in the caller's
/// transaction.
async fn queue_confirmation(
    conn: &impl sea_orm::ConnectionTrait,
    user: i32,
    confirmation: &NewConfirmation,
) -> anyhow::Result<()> {
    exec(
        conn,
        "INSERT INTO email_confirmations (token_hash, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4)",
        vec![
            confirmation.token_hash.as_str().to_owned().into(),
            user.into(),
            confirmation.created_at.into(),
            confirmation.expires_at.into(),
        ],
    )
    .await?;
    notify_account(
        conn,
        user,
        domain::notifications::NotificationKind::EmailConfirmation,
        &confirmation.email_payload(),
        confirmation.created_at,
        true,
    )
    .await
}

impl TryFrom<users::Model> for Account {
    type Error = anyhow::Error;

    fn try_from(m: users::Model) -> anyhow::Result<Self> {
        Ok(Account {
            id: UserId::new(m.id.into()),
            email: Email::parse(&m.email).map_err(|e| anyhow::anyhow!("stored email invalid: {e}"))?,
            display_name: DisplayName::parse(&m.display_name)
                .map_err(|e| anyhow::anyhow!("stored display name invalid: {e}"))?,
            role: Role::parse(&m.role).ok_or_else(|| anyhow::anyhow!("unknown stored role {:?}", m.role))?,
            status: AccountStatus::parse(&m.status)
                .ok_or_else(|| anyhow::anyhow!("unknown stored account status {:?}", m.status))?,
            email_confirmed_at: m.email_confirmed_at,
            status_reason: m.status_reason,
            created_at: m.created_at,
        })
    }
}

/// Inserts a new account's row; a taken email is `Duplicate`.
async fn insert_user(conn: &impl ConnectionTrait, account: &NewAccount) -> Result<users::Model, InsertAccountError> {
    let model = users::ActiveModel {
        email: Set(account.email.as_str().to_owned()),
        display_name: Set(account.display_name.as_str().to_owned()),
        role: Set(account.role.as_str().to_owned()),
        status: Set(account.status.as_str().to_owned()),
        password_hash: Set(account.password_hash.as_str().to_owned()),
        email_confirmed_at: Set(account.email_confirmed_at),
        status_reason: Set(None),
        created_at: Set(account.created_at),
        updated_at: Set(account.created_at),
        ..Default::default()
    };
    match model.insert(conn).await {
        Ok(m) => Ok(m),
        Err(e) if is_unique_violation(&e) => Err(InsertAccountError::Duplicate),
        Err(e) => Err(InsertAccountError::Unknown(e.into())),
    }
}

#[async_trait]
impl AccountRepository for Store {
    async fn insert(&self, account: NewAccount) -> Result<Account, InsertAccountError> {
        let tx = self.write().await.map_err(|e| InsertAccountError::Unknown(e.into()))?;
        let inserted = insert_user(&*tx, &account).await?;
        tx.commit().await.map_err(|e| InsertAccountError::Unknown(e.into()))?;
        Ok(Account::try_from(inserted)?)
    }

    async fn register(
        &self,
        account: NewAccount,
        confirmation: NewConfirmation,
    ) -> Result<Account, InsertAccountError> {
        let tx = self.write().await.map_err(|e| InsertAccountError::Unknown(e.into()))?;
        let inserted = insert_user(&*tx, &account).await?;
        queue_confirmation(&*tx, inserted.id, &confirmation).await?;
        tx.commit().await.map_err(|e| InsertAccountError::Unknown(e.into()))?;
        Ok(Account::try_from(inserted)?)
    }

    async fn reissue_confirmation(&self, email: &Email, confirmation: NewConfirmation) -> anyhow::Result<bool> {
        let tx = self.write().await?;
        let found = users::Entity::find()
            .filter(users::Column::Email.eq(email.as_str()))
            .filter(users::Column::EmailConfirmedAt.is_null())
            .filter(users::Column::Status.is_in([AccountStatus::Pending.as_str(), AccountStatus::Active.as_str()]))
            .one(&*tx)
            .await?;
        let Some(user) = found else { return Ok(false) };
        // Only the newest link works: the older ones, maybe still in a mailbox, stop working.
        exec(&*tx, "DELETE FROM email_confirmations WHERE user_id = $1 AND used_at IS NULL", vec![user.id.into()])
            .await?;
        queue_confirmation(&*tx, user.id, &confirmation).await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn confirm_email(
        &self,
        token: &TokenHash,
        now: DateTime<Utc>,
        auto: &AutoApproval,
    ) -> Result<Account, ConfirmError> {
        let tx = self.write().await.map_err(anyhow::Error::from)?;
        let rows = query(
            &*tx,
            "SELECT user_id, expires_at, used_at FROM email_confirmations WHERE token_hash = $1",
            vec![token.as_str().to_owned().into()],
        )
        .await?;
        let Some(row) = rows.first() else { return Err(ConfirmError::Invalid) };
        let user: i32 = row.try_get("", "user_id").map_err(anyhow::Error::from)?;
        let expires_at: DateTime<Utc> = row.try_get("", "expires_at").map_err(anyhow::Error::from)?;
        let used_at: Option<DateTime<Utc>> = row.try_get("", "used_at").map_err(anyhow::Error::from)?;
        if used_at.is_some() {
            return Err(ConfirmError::Used);
        }
        if now >= expires_at {
            return Err(ConfirmError::Expired);
        }
        // The single use: of concurrent confirmations only one finds the token unused (on
        // PostgreSQL the others wait for its row lock, then see it used).
        let won = exec(
            &*tx,
            "UPDATE email_confirmations SET used_at = $2 WHERE token_hash = $1 AND used_at IS NULL",
            vec![token.as_str().to_owned().into(), now.into()],
        )
        .await?;
        if won != 1 {
            return Err(ConfirmError::Used);
        }
        users::Entity::update_many()
            .col_expr(users::Column::EmailConfirmedAt, Expr::value(Some(now)))
            .col_expr(users::Column::UpdatedAt, Expr::value(now))
            .filter(users::Column::Id.eq(user))
            .filter(users::Column::EmailConfirmedAt.is_null())
            .exec(&*tx)
            .await
            .map_err(anyhow::Error::from)?;
        let model = users::Entity::find_by_id(user)
            .one(&*tx)
            .await
            .map_err(anyhow::Error::from)?
            .ok_or_else(|| anyhow::anyhow!("confirmation of a missing account"))?;
        let mut account = Account::try_from(model)?;
        if account.status == AccountStatus::Pending && auto.approves(account.role, &account.email) {
            users::Entity::update_many()
                .col_expr(users::Column::Status, Expr::value(AccountStatus::Active.as_str()))
                .filter(users::Column::Id.eq(user))
                .filter(users::Column::Status.eq(AccountStatus::Pending.as_str()))
                .exec(&*tx)
                .await
                .map_err(anyhow::Error::from)?;
            let notice = AccountNotice::approved(true);
            notify_account(&*tx, user, notice.kind, &notice.payload, now, false).await?;
            account.status = AccountStatus::Active;
        }
        // The other links of this account have nothing left to do.
        exec(&*tx, "DELETE FROM email_confirmations WHERE user_id = $1 AND used_at IS NULL", vec![user.into()]).await?;
        forget_confirmation_links(&*tx, user, now).await?;
        tx.commit().await.map_err(anyhow::Error::from)?;
        Ok(account)
    }

    async fn find(&self, id: UserId) -> anyhow::Result<Option<Account>> {
        let Some(id) = id32(id.get()) else { return Ok(None) };
        users::Entity::find_by_id(id).one(&self.db).await?.map(Account::try_from).transpose()
    }

    async fn find_credentials(&self, email: &Email) -> anyhow::Result<Option<(Account, PasswordHash)>> {
        let found = users::Entity::find().filter(users::Column::Email.eq(email.as_str())).one(&self.db).await?;
        found
            .map(|m| {
                let hash = PasswordHash::new(m.password_hash.clone());
                Ok((Account::try_from(m)?, hash))
            })
            .transpose()
    }

    async fn list(
        &self,
        filter: AccountFilter,
        limit: PageLimit,
        cursor: Option<String>,
    ) -> Result<Page<Account>, ListError> {
        let after: i32 = match cursor.as_deref().map(|c| domain::page::ACCOUNTS.parse(c)) {
            None => 0,
            Some(Some(n)) => n,
            Some(None) => return Err(ListError::InvalidCursor),
        };
        let mut q = users::Entity::find().filter(users::Column::Id.gt(after));
        if let Some(status) = filter.status {
            q = q.filter(users::Column::Status.eq(status.as_str()));
        }
        if let Some(role) = filter.role {
            q = q.filter(users::Column::Role.eq(role.as_str()));
        }
        match filter.email_confirmed {
            Some(true) => q = q.filter(users::Column::EmailConfirmedAt.is_not_null()),
            Some(false) => q = q.filter(users::Column::EmailConfirmedAt.is_null()),
            None => {}
        }
        let n = limit.get() as usize;
        let rows =
            q.order_by_asc(users::Column::Id).limit(n as u64 + 1).all(&self.db).await.map_err(anyhow::Error::from)?;
        let next_cursor = (rows.len() > n).then(|| domain::page::ACCOUNTS.encode(rows[n - 1].id));
        let items = rows.into_iter().take(n).map(Account::try_from).collect::<anyhow::Result<_>>()?;
        Ok(Page { items, next_cursor })
    }

    async fn set_status(
        &self,
        id: UserId,
        expected: AccountStatus,
        status: AccountStatus,
        reason: Option<String>,
        notice: Option<AccountNotice>,
    ) -> anyhow::Result<Option<Account>> {
        let Some(id) = id32(id.get()) else { return Ok(None) };
        let now = Utc::now();
        let tx = self.write().await?;
        let updated = users::Entity::update_many()
            .col_expr(users::Column::Status, Expr::value(status.as_str()))
            .col_expr(users::Column::StatusReason, Expr::value(reason))
            .col_expr(users::Column::UpdatedAt, Expr::value(now))
            .filter(users::Column::Id.eq(id))
            .filter(users::Column::Status.eq(expected.as_str()))
            .exec(&*tx)
            .await?;
        if updated.rows_affected == 0 {
            return Ok(None);
        }
        if !status.may_sign_in() {
            sessions::Entity::update_many()
                .col_expr(sessions::Column::RevokedAt, Expr::value(Some(now)))
                .filter(sessions::Column::UserId.eq(id))
                .filter(sessions::Column::RevokedAt.is_null())
                .exec(&*tx)
                .await?;
        }
        if let Some(notice) = notice {
            notify_account(&*tx, id, notice.kind, &notice.payload, now, false).await?;
        }
        let account = users::Entity::find_by_id(id).one(&*tx).await?;
        tx.commit().await?;
        account.map(Account::try_from).transpose()
    }

    async fn set_role(&self, id: UserId, role: Role) -> anyhow::Result<Option<Account>> {
        let Some(id) = id32(id.get()) else { return Ok(None) };
        let tx = self.write().await?;
        users::Entity::update_many()
            .col_expr(users::Column::Role, Expr::value(role.as_str()))
            .col_expr(users::Column::UpdatedAt, Expr::value(Utc::now()))
            .filter(users::Column::Id.eq(id))
            .exec(&*tx)
            .await?;
        let account = users::Entity::find_by_id(id).one(&*tx).await?;
        tx.commit().await?;
        account.map(Account::try_from).transpose()
    }
}

#[async_trait]
impl SessionRepository for Store {
    async fn create(
        &self,
        token_hash: &TokenHash,
        user: UserId,
        created_at: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> anyhow::Result<()> {
        let user = id32(user.get()).ok_or_else(|| anyhow::anyhow!("user id out of range"))?;
        let tx = self.write().await?;
        sessions::ActiveModel {
            token_hash: Set(token_hash.as_str().to_owned()),
            user_id: Set(user),
            created_at: Set(created_at),
            expires_at: Set(expires_at),
            revoked_at: Set(None),
        }
        .insert(&*tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn session_account(&self, token_hash: &TokenHash, now: DateTime<Utc>) -> anyhow::Result<Option<Account>> {
        let found = sessions::Entity::find_by_id(token_hash.as_str().to_owned())
            .filter(sessions::Column::RevokedAt.is_null())
            .filter(sessions::Column::ExpiresAt.gt(now))
            .find_also_related(users::Entity)
            .one(&self.db)
            .await?;
        let Some((_, Some(user))) = found else { return Ok(None) };
        Ok(Some(Account::try_from(user)?))
    }

    async fn revoke(&self, token_hash: &TokenHash, now: DateTime<Utc>) -> anyhow::Result<()> {
        let tx = self.write().await?;
        sessions::Entity::update_many()
            .col_expr(sessions::Column::RevokedAt, Expr::value(Some(now)))
            .filter(sessions::Column::TokenHash.eq(token_hash.as_str()))
            .filter(sessions::Column::RevokedAt.is_null())
            .exec(&*tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }
}
