//! Accounts: registration, sign-in and sign-out, the caller's own account, and the admin's
//! verification of accounts.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use domain::accounts::{self as da, AccountDecision, AccountFilter, ClientAddr, UserId};
use domain::page::PageLimit;
use poem::web::{Data, RemoteAddr};
use poem_openapi::{
    param::{Path, Query},
    payload::Json,
    ApiResponse, Enum, Object, OpenApi,
};

use crate::{
    auth::Session,
    error::{error_set, Failure},
    ApiTags, App,
};

/// What an account may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case", remote = "domain::accounts::Role")]
pub enum Role {
    /// Raises tickets and votes.
    Student,
    /// Works the queue.
    Support,
    /// Verifies accounts and curates.
    Admin,
}

/// Where an account is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case", remote = "domain::accounts::AccountStatus")]
pub enum AccountStatus {
    /// Registered, waiting for an admin's approval.
    Pending,
    /// May use osts.
    Active,
    /// Refused by an admin.
    Rejected,
    /// Switched off by an admin.
    Deactivated,
}

/// An account.
#[derive(Debug, Clone, Object)]
pub struct Account {
    /// Identifier.
    pub id: i64,
    /// Sign-in address (lower-cased).
    pub email: String,
    /// Shown to others.
    pub display_name: String,
    /// What the account may do.
    pub role: Role,
    /// Where the account is in its life.
    pub status: AccountStatus,
    /// Whether the email address has been confirmed.
    pub email_confirmed: bool,
    /// The admin's reason when the account was rejected or deactivated.
    pub status_reason: Option<String>,
    /// When the account was registered.
    pub created_at: DateTime<Utc>,
}

impl From<da::Account> for Account {
    fn from(a: da::Account) -> Self {
        Self {
            id: a.id.get(),
            email: a.email.as_str().to_owned(),
            display_name: a.display_name.as_str().to_owned(),
            role: a.role.into(),
            status: a.status.into(),
            email_confirmed: a.email_confirmed_at.is_some(),
            status_reason: a.status_reason,
            created_at: a.created_at,
        }
    }
}

/// Who did something: an account's id and display name.
#[derive(Debug, Clone, Object)]
pub struct UserSummary {
    /// Account id.
    pub id: i64,
    /// Display name.
    pub display_name: String,
}

impl From<domain::tickets::UserRef> for UserSummary {
    fn from(u: domain::tickets::UserRef) -> Self {
        Self { id: u.id.get(), display_name: u.display_name }
    }
}

/// One page of accounts.
#[derive(Debug, Clone, Object)]
pub struct AccountPage {
    /// The accounts, oldest first.
    pub items: Vec<Account>,
    /// Pass as `cursor` to get the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

/// A self-registration.
#[derive(Object)]
pub struct Registration {
    /// Email address; it becomes the sign-in name.
    pub email: String,
    /// Shown to others: 1–80 characters.
    pub display_name: String,
    /// 10–128 characters.
    pub password: String,
    /// The role asked for; an admin approves it.
    pub role: Role,
}

/// Sign-in credentials.
#[derive(Object)]
pub struct Credentials {
    /// Email address.
    pub email: String,
    /// Password.
    pub password: String,
}

/// A successful sign-in.
#[derive(Object)]
pub struct SessionInfo {
    /// The bearer token: send it as `Authorization: Bearer <token>`. Shown only once.
    pub token: String,
    /// When the token stops working.
    pub expires_at: DateTime<Utc>,
    /// Who signed in.
    pub account: Account,
}

/// An admin's reason for rejecting or deactivating an account.
#[derive(Debug, Object)]
pub struct Reason {
    /// Shown to the person: 1–500 characters.
    pub reason: String,
}

/// A new role for an account.
#[derive(Debug, Object)]
pub struct RoleChange {
    /// The role.
    pub role: Role,
}

/// `POST /auth/register` succeeded.
#[derive(ApiResponse)]
pub enum RegisterResponse {
    /// The account was created in status `pending`.
    #[oai(status = 201)]
    Created(Json<Account>),
}

/// `POST /auth/login` succeeded.
#[derive(ApiResponse)]
pub enum LoginResponse {
    /// Signed in.
    #[oai(status = 200)]
    Ok(Json<SessionInfo>),
}

/// `POST /auth/logout` succeeded.
#[derive(ApiResponse)]
pub enum LogoutResponse {
    /// The token no longer works.
    #[oai(status = 204)]
    NoContent,
}

/// An operation that answers with one account.
#[derive(ApiResponse)]
pub enum AccountResponse {
    /// The account.
    #[oai(status = 200)]
    Ok(Json<Account>),
}

/// `GET /admin/users` succeeded.
#[derive(ApiResponse)]
pub enum AccountPageResponse {
    /// A page of accounts.
    #[oai(status = 200)]
    Ok(Json<AccountPage>),
}

error_set!(
    /// Errors of `POST /auth/register`.
    RegisterErrors = [400, 409, 413, 415, 422, 500]
);
error_set!(
    /// Errors of `POST /auth/login`.
    LoginErrors = [400, 401, 403, 413, 415, 429, 500]
);
error_set!(
    /// Errors of operations that only need a session.
    SessionErrors = [401, 500]
);
error_set!(
    /// Errors of `GET /admin/users`.
    ListAccountsErrors = [400, 401, 403, 422, 500]
);
error_set!(
    /// Errors of approving or reactivating an account.
    DecideErrors = [400, 401, 403, 404, 409, 422, 500]
);
error_set!(
    /// Errors of rejecting or deactivating an account (which carry a reason).
    DecideWithReasonErrors = [400, 401, 403, 404, 409, 413, 415, 422, 500]
);
error_set!(
    /// Errors of `PUT /admin/users/{id}/role`.
    ChangeRoleErrors = [400, 401, 403, 404, 413, 415, 422, 500]
);

/// Registration, sign-in and the caller's own account.
pub struct AuthApi;

#[OpenApi(prefix_path = "/api/v1", tag = "ApiTags::Auth")]
impl AuthApi {
    /// Register an account
    ///
    /// Creates an account in status `pending`. Until an admin approves it, the account can
    /// sign in and read `/me`, and nothing else.
    #[oai(path = "/auth/register", method = "post", operation_id = "register")]
    async fn register(
        &self,
        app: Data<&Arc<App>>,
        body: Json<Registration>,
    ) -> Result<RegisterResponse, Failure<RegisterErrors>> {
        let Registration { email, display_name, password, role } = body.0;
        let account =
            app.accounts.register(da::Registration { email, display_name, password, role: role.into() }).await?;
        Ok(RegisterResponse::Created(Json(account.into())))
    }

    /// Sign in
    ///
    /// Exchanges email and password for a bearer token. A wrong password and an unknown
    /// email get the same answer. Attempts are limited per email and per client address;
    /// over the limit the answer is 429 with `Retry-After`.
    #[oai(path = "/auth/login", method = "post", operation_id = "login")]
    async fn login(
        &self,
        app: Data<&Arc<App>>,
        remote: &RemoteAddr,
        body: Json<Credentials>,
    ) -> Result<LoginResponse, Failure<LoginErrors>> {
        let client = remote.as_socket_addr().map_or(ClientAddr::Unknown, |a| ClientAddr::Ip(a.ip()));
        let session = app.accounts.login(&body.email, &body.password, client).await?;
        Ok(LoginResponse::Ok(Json(SessionInfo {
            token: session.token.expose().to_owned(),
            expires_at: session.expires_at,
            account: session.account.into(),
        })))
    }

    /// Sign out
    ///
    /// Revokes the token this request was made with.
    #[oai(path = "/auth/logout", method = "post", operation_id = "logout")]
    async fn logout(&self, auth: Session, app: Data<&Arc<App>>) -> Result<LogoutResponse, Failure<SessionErrors>> {
        app.accounts.logout(auth.0.token.expose()).await?;
        Ok(LogoutResponse::NoContent)
    }

    /// The caller's own account
    ///
    /// Works for pending accounts too, so they can see where their registration stands.
    #[oai(path = "/me", method = "get", operation_id = "me")]
    async fn me(&self, auth: Session, app: Data<&Arc<App>>) -> Result<AccountResponse, Failure<SessionErrors>> {
        let account = app.accounts.me(&auth.0.principal).await?;
        Ok(AccountResponse::Ok(Json(account.into())))
    }
}

/// Account verification and management (admins only).
pub struct AdminApi;

#[OpenApi(prefix_path = "/api/v1/admin", tag = "ApiTags::Admin")]
impl AdminApi {
    /// List accounts
    ///
    /// Oldest first, e.g. `?status=pending` for the accounts waiting for approval.
    #[oai(path = "/users", method = "get", operation_id = "list_accounts")]
    async fn list(
        &self,
        auth: Session,
        app: Data<&Arc<App>>,
        /// Only accounts in this status.
        status: Query<Option<AccountStatus>>,
        /// Only accounts with this role.
        role: Query<Option<Role>>,
        /// Page size, 1–100 (default 25).
        limit: Query<Option<u32>>,
        /// `next_cursor` of the previous page.
        cursor: Query<Option<String>>,
    ) -> Result<AccountPageResponse, Failure<ListAccountsErrors>> {
        let filter = AccountFilter { status: status.0.map(Into::into), role: role.0.map(Into::into) };
        let page = app.accounts.list(&auth.0.principal, filter, PageLimit::new(limit.0)?, cursor.0).await?;
        Ok(AccountPageResponse::Ok(Json(AccountPage {
            items: page.items.into_iter().map(Into::into).collect(),
            next_cursor: page.next_cursor,
        })))
    }

    /// Approve a pending account
    #[oai(path = "/users/:id/approve", method = "post", operation_id = "approve_account")]
    async fn approve(
        &self,
        auth: Session,
        app: Data<&Arc<App>>,
        /// Account id.
        id: Path<i64>,
    ) -> Result<AccountResponse, Failure<DecideErrors>> {
        decide(&app, &auth, id.0, AccountDecision::Approve).await.map_err(Into::into)
    }

    /// Reject a pending account
    #[oai(path = "/users/:id/reject", method = "post", operation_id = "reject_account")]
    async fn reject(
        &self,
        auth: Session,
        app: Data<&Arc<App>>,
        /// Account id.
        id: Path<i64>,
        body: Json<Reason>,
    ) -> Result<AccountResponse, Failure<DecideWithReasonErrors>> {
        let decision = AccountDecision::Reject { reason: body.0.reason };
        decide(&app, &auth, id.0, decision).await.map_err(Into::into)
    }

    /// Deactivate an account
    ///
    /// Its sessions end at once.
    #[oai(path = "/users/:id/deactivate", method = "post", operation_id = "deactivate_account")]
    async fn deactivate(
        &self,
        auth: Session,
        app: Data<&Arc<App>>,
        /// Account id.
        id: Path<i64>,
        body: Json<Reason>,
    ) -> Result<AccountResponse, Failure<DecideWithReasonErrors>> {
        let decision = AccountDecision::Deactivate { reason: body.0.reason };
        decide(&app, &auth, id.0, decision).await.map_err(Into::into)
    }

    /// Reactivate a deactivated account
    #[oai(path = "/users/:id/reactivate", method = "post", operation_id = "reactivate_account")]
    async fn reactivate(
        &self,
        auth: Session,
        app: Data<&Arc<App>>,
        /// Account id.
        id: Path<i64>,
    ) -> Result<AccountResponse, Failure<DecideErrors>> {
        decide(&app, &auth, id.0, AccountDecision::Reactivate).await.map_err(Into::into)
    }

    /// Change an account's role
    ///
    /// Applies to the account's next request.
    #[oai(path = "/users/:id/role", method = "put", operation_id = "change_account_role")]
    async fn change_role(
        &self,
        auth: Session,
        app: Data<&Arc<App>>,
        /// Account id.
        id: Path<i64>,
        body: Json<RoleChange>,
    ) -> Result<AccountResponse, Failure<ChangeRoleErrors>> {
        let account = app.accounts.change_role(&auth.0.principal, UserId::new(id.0), body.0.role.into()).await?;
        Ok(AccountResponse::Ok(Json(account.into())))
    }
}

async fn decide(
    app: &App,
    auth: &Session,
    id: i64,
    decision: AccountDecision,
) -> Result<AccountResponse, domain::Error> {
    let account = app.accounts.decide(&auth.0.principal, UserId::new(id), decision).await?;
    Ok(AccountResponse::Ok(Json(account.into())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use poem_openapi::types::ToJSON;

    #[test]
    fn enum_names_match_the_domain() {
        for role in da::Role::ALL {
            assert_eq!(Role::from(role).to_json(), Some(role.as_str().into()));
        }
        for status in da::AccountStatus::ALL {
            assert_eq!(AccountStatus::from(status).to_json(), Some(status.as_str().into()));
        }
    }
}
