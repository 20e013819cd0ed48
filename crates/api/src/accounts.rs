//! Accounts: registration, sign-in and sign-out, the caller's own account, and the admin's
//! verification of accounts.

use crate::nullable::Nullable;
use crate::nullable::PageSize;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use domain::accounts::{self as da, AccountDecision, AccountFilter, ClientAddr, UserId};
use domain::page::PageLimit;
use poem::web::{Data, RemoteAddr};
use poem_openapi::{
    param::{Path, Query},
    payload::{Form, Html, Json},
    ApiRequest, ApiResponse, Enum, Object, OpenApi,
};

use crate::{
    auth::Session,
    error::{error_set, Failure},
    text::{self, Text},
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
    /// Registered, waiting for an admin's approval (students of the listed email domains are
    /// approved when they confirm their address).
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
    pub status_reason: Nullable<String>,
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
            status_reason: Nullable(a.status_reason),
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
    pub next_cursor: Nullable<String>,
}

/// A self-registration.
#[derive(Object)]
pub struct Registration {
    /// Email address; it becomes the sign-in name (at most 254 characters, a domain with a
    /// dot).
    pub email: Text<text::Email>,
    /// Shown to others: 1–80 characters on one line.
    pub display_name: Text<text::DisplayName>,
    /// 10–128 characters.
    pub password: Text<text::Password>,
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

/// The token of an email confirmation link.
#[derive(Object)]
pub struct ConfirmationToken {
    /// The `token` parameter of the link.
    pub token: Text<text::ConfirmationToken>,
}

/// The form the page a confirmation link opens posts.
#[derive(Object, serde::Deserialize)]
pub struct ConfirmationForm {
    /// The `token` parameter of the link, whatever it is: every token is answered with the
    /// result page, which says what was wrong with it.
    pub token: String,
}

/// `POST /auth/confirm` takes the token as JSON (API clients) or as a form (the page the
/// link opens).
#[derive(ApiRequest)]
pub enum ConfirmRequest {
    /// `{"token": "..."}`; the answer is the account as JSON.
    Json(Json<ConfirmationToken>),
    /// `token=...`; the answer redirects to the result page.
    Form(Form<ConfirmationForm>),
}

/// Who wants a new confirmation link.
#[derive(Object)]
pub struct ResendRequest {
    /// The address the account was registered with.
    pub email: Text<text::Email>,
}

/// The one answer to a resend request.
#[derive(Object)]
pub struct ResendAccepted {
    /// What happens now.
    pub message: String,
}

/// An admin's reason for rejecting or deactivating an account.
#[derive(Debug, Object)]
pub struct Reason {
    /// Shown to the person: 1–500 characters.
    pub reason: Text<text::Reason>,
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

/// `POST /auth/confirm` succeeded (or, for a form, was answered).
#[derive(ApiResponse)]
pub enum ConfirmResponse {
    /// The address is confirmed; the account (now `active` if its address approved it).
    #[oai(status = 200)]
    Ok(Json<Account>),
    /// A form was posted: see the result page (`GET /api/v1/auth/confirm?result=...`), whose
    /// `result` is `confirmed` or the error code a JSON request would have got.
    #[oai(status = 303)]
    SeeOther(#[oai(header = "Location")] String),
}

/// `GET /auth/confirm` answered.
#[derive(ApiResponse)]
pub enum ConfirmPageResponse {
    /// A small page: with `token`, a button that confirms; with `result`, what happened.
    #[oai(status = 200)]
    Ok(Html<String>),
}

/// `POST /auth/confirm/resend` answered.
#[derive(ApiResponse)]
pub enum ResendResponse {
    /// Always the same, whether or not the address belongs to an unconfirmed account.
    #[oai(status = 202)]
    Accepted(Json<ResendAccepted>),
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
    RegisterErrors = [400, 409, 413, 415, 422, 500, 503]
);
error_set!(
    /// Errors of `POST /auth/login`.
    LoginErrors = [400, 401, 403, 413, 415, 429, 500, 503]
);
error_set!(
    /// Errors of `POST /auth/confirm`.
    ConfirmErrors = [400, 404, 409, 413, 415, 422, 500]
);
error_set!(
    /// Errors of `GET /auth/confirm`.
    ConfirmPageErrors = [400, 500]
);
error_set!(
    /// Errors of `POST /auth/confirm/resend`.
    ResendErrors = [400, 413, 415, 422, 429, 500]
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
    /// Creates an account in status `pending` and emails a link that confirms the address
    /// (valid 24 hours, single use). No one signs in before confirming (`403
    /// email_unconfirmed`). Students whose address is in one of the configured domains are
    /// approved when they confirm; everyone else waits for an admin, and until then can sign
    /// in and read `/me`, and nothing else. Password hashing runs on a bounded number of
    /// slots behind a short queue; when both are full the answer is 503 `busy` with
    /// `Retry-After`.
    #[oai(path = "/auth/register", method = "post", operation_id = "register")]
    async fn register(
        &self,
        app: Data<&Arc<App>>,
        body: Json<Registration>,
    ) -> Result<RegisterResponse, Failure<RegisterErrors>> {
        let Registration { email, display_name, password, role } = body.0;
        let registration = da::Registration {
            email: email.into_inner(),
            display_name: display_name.into_inner(),
            password: password.into_inner(),
            role: role.into(),
        };
        let account = app.accounts.register(registration).await?;
        Ok(RegisterResponse::Created(Json(account.into())))
    }

    /// Confirm an email address
    ///
    /// Uses the token of the link from the confirmation email, once. A token not shaped like
    /// one (see the schema) gets 422 `confirmation_invalid`; one that is, but that no link
    /// has (never issued, or replaced by a newer link), 404 `confirmation_not_found`; used
    /// ones 409 `confirmation_used`, tokens older than 24 hours 409 `confirmation_expired`.
    /// Posted as a form (the button of the page the link opens), the answer is a redirect to a
    /// page saying what happened.
    #[oai(path = "/auth/confirm", method = "post", operation_id = "confirm_email")]
    async fn confirm(
        &self,
        app: Data<&Arc<App>>,
        body: ConfirmRequest,
    ) -> Result<ConfirmResponse, Failure<ConfirmErrors>> {
        match body {
            ConfirmRequest::Json(body) => {
                let account = app.accounts.confirm_email(body.0.token.as_str()).await?;
                Ok(ConfirmResponse::Ok(Json(account.into())))
            }
            ConfirmRequest::Form(body) => {
                let result = match app.accounts.confirm_email(&body.0.token).await {
                    Ok(_) => "confirmed".to_owned(),
                    Err(domain::Error::Unknown(e)) => return Err(domain::Error::Unknown(e).into()),
                    Err(e) => crate::error::Problem::from(e).code().to_owned(),
                };
                Ok(ConfirmResponse::SeeOther(format!("/api/v1/auth/confirm?result={result}")))
            }
        }
    }

    /// The page a confirmation link opens
    ///
    /// Changes nothing by itself (mail scanners open links): with `token`, it shows a button
    /// that posts the token to `POST /api/v1/auth/confirm`; with `result`, it says what
    /// happened.
    #[oai(path = "/auth/confirm", method = "get", operation_id = "confirm_email_page")]
    async fn confirm_page(
        &self,
        /// The token of the link.
        token: Query<Option<String>>,
        /// What a posted form led to: `confirmed` or an error code.
        result: Query<Option<String>>,
    ) -> Result<ConfirmPageResponse, Failure<ConfirmPageErrors>> {
        Ok(ConfirmPageResponse::Ok(Html(crate::confirm_page::render(token.0.as_deref(), result.0.as_deref()))))
    }

    /// Send a new confirmation link
    ///
    /// If the address belongs to an account whose address is not confirmed, a new link is
    /// emailed and the older ones stop working. The answer is the same whether or not it
    /// does. Limited per email and per client address; over the limit the answer is 429 with
    /// `Retry-After`.
    #[oai(path = "/auth/confirm/resend", method = "post", operation_id = "resend_confirmation")]
    async fn resend(
        &self,
        app: Data<&Arc<App>>,
        remote: &RemoteAddr,
        body: Json<ResendRequest>,
    ) -> Result<ResendResponse, Failure<ResendErrors>> {
        let client = remote.as_socket_addr().map_or(ClientAddr::Unknown, |a| ClientAddr::Ip(a.ip()));
        app.accounts.resend_confirmation(body.email.as_str(), client).await?;
        Ok(ResendResponse::Accepted(Json(ResendAccepted {
            message: "if this address belongs to an account that is not confirmed yet, a new link is on its way; \
                      it works for 24 hours"
                .to_owned(),
        })))
    }

    /// Sign in
    ///
    /// Exchanges email and password for a bearer token. A wrong password and an unknown
    /// email get the same answer. An account whose address is not confirmed gets 403
    /// `email_unconfirmed` (only with the right password). Attempts are limited per email
    /// and per client address; over the limit the answer is 429 with `Retry-After`. Password
    /// checks run on a bounded number of slots (one per core) behind a short queue; when
    /// both are full the answer is 503 `busy` with `Retry-After`.
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
    /// Oldest first, e.g. `?status=pending&email_confirmed=true` for the accounts waiting for
    /// approval whose address is confirmed.
    #[oai(path = "/users", method = "get", operation_id = "list_accounts")]
    #[allow(clippy::too_many_arguments)] // one argument per documented query parameter
    async fn list(
        &self,
        auth: Session,
        app: Data<&Arc<App>>,
        /// Only accounts in this status.
        status: Query<Option<AccountStatus>>,
        /// Only accounts with this role.
        role: Query<Option<Role>>,
        /// Only accounts whose address is (`true`) or is not (`false`) confirmed.
        email_confirmed: Query<Option<bool>>,
        /// Page size, 1–100 (default 25).
        limit: Query<Option<PageSize>>,
        /// `next_cursor` of the previous page.
        cursor: Query<Option<Text<text::AccountCursor>>>,
    ) -> Result<AccountPageResponse, Failure<ListAccountsErrors>> {
        let filter = AccountFilter {
            status: status.0.map(Into::into),
            role: role.0.map(Into::into),
            email_confirmed: email_confirmed.0,
        };
        let page = app
            .accounts
            .list(&auth.0.principal, filter, PageLimit::new(limit.0.map(|l| l.0))?, cursor.0.map(Text::into_inner))
            .await?;
        Ok(AccountPageResponse::Ok(Json(AccountPage {
            items: page.items.into_iter().map(Into::into).collect(),
            next_cursor: Nullable(page.next_cursor),
        })))
    }

    /// Approve a pending account
    ///
    /// The holder is notified (in-app and by email). An account whose address is not
    /// confirmed yet still has to confirm it before signing in. Admins do not decide about
    /// their own account (403 `self_decision`).
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
    ///
    /// The holder is notified with the reason (in-app and by email). Admins do not decide
    /// about their own account (403 `self_decision`).
    #[oai(path = "/users/:id/reject", method = "post", operation_id = "reject_account")]
    async fn reject(
        &self,
        auth: Session,
        app: Data<&Arc<App>>,
        /// Account id.
        id: Path<i64>,
        body: Json<Reason>,
    ) -> Result<AccountResponse, Failure<DecideWithReasonErrors>> {
        let decision = AccountDecision::Reject { reason: body.0.reason.into_inner() };
        decide(&app, &auth, id.0, decision).await.map_err(Into::into)
    }

    /// Deactivate an account
    ///
    /// Its sessions end at once. Admins do not decide about their own account (403
    /// `self_decision`).
    #[oai(path = "/users/:id/deactivate", method = "post", operation_id = "deactivate_account")]
    async fn deactivate(
        &self,
        auth: Session,
        app: Data<&Arc<App>>,
        /// Account id.
        id: Path<i64>,
        body: Json<Reason>,
    ) -> Result<AccountResponse, Failure<DecideWithReasonErrors>> {
        let decision = AccountDecision::Deactivate { reason: body.0.reason.into_inner() };
        decide(&app, &auth, id.0, decision).await.map_err(Into::into)
    }

    /// Reactivate a deactivated account
    ///
    /// Admins do not decide about their own account (403 `self_decision`).
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
    /// Applies to the account's next request. Admins do not change their own role (403
    /// `self_decision`).
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
