//! The bearer-token security scheme: a session token in, the authenticated principal out.

use std::sync::Arc;

use domain::accounts::{Principal, SessionToken};
use poem::Request;
use poem_openapi::{auth::Bearer, SecurityScheme};

use crate::{error::Problem, App};

/// The authenticated caller of an operation.
#[derive(Debug, Clone)]
pub struct Caller {
    /// Who is calling, resolved from the session; never from anything else the client sent.
    pub principal: Principal,
    /// The token they presented (needed to sign out).
    pub token: SessionToken,
}

/// A session token from `POST /api/v1/auth/login`, sent as `Authorization: Bearer <token>`.
#[derive(SecurityScheme)]
#[oai(rename = "session", ty = "bearer", checker = "authenticate")]
pub struct Session(pub Caller);

/// Resolves a bearer token to its principal; a missing, expired or revoked token is a 401.
async fn authenticate(req: &Request, bearer: Bearer) -> poem::Result<Caller> {
    let Some(app) = req.data::<Arc<App>>() else {
        tracing::error!("the App is not attached to the request");
        return Err(Problem::internal().into());
    };
    let principal = app.accounts.authenticate(&bearer.token).await.map_err(Problem::from)?;
    Ok(Caller { principal, token: SessionToken::new(bearer.token) })
}
