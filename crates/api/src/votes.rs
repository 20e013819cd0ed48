//! Votes: a student's "me too" on someone else's ticket.

use std::sync::Arc;

use domain::tickets::TicketId;
use poem::web::Data;
use poem_openapi::{param::Path, payload::Json, ApiResponse, Object, OpenApi};

use crate::{
    auth::Session,
    error::{error_set, Failure},
    ApiTags, App,
};

/// The caller's vote on a ticket after the call.
#[derive(Debug, Clone, Object)]
pub struct VoteState {
    /// The ticket the vote counts on: the one in the path, or the ticket it was merged into.
    pub number: i64,
    /// The ticket's vote count.
    pub vote_count: u32,
    /// Whether the caller's vote is on the ticket.
    pub voted: bool,
}

/// A vote operation succeeded.
#[derive(ApiResponse)]
pub enum VoteResponse {
    /// The vote as it now stands.
    #[oai(status = 200)]
    Ok(Json<VoteState>),
}

error_set!(
    /// Errors of casting or retracting a vote.
    VoteErrors = [400, 401, 403, 404, 409, 500]
);

/// Votes.
pub struct VoteApi;

#[OpenApi(prefix_path = "/api/v1", tag = "ApiTags::Votes")]
impl VoteApi {
    /// Vote for a ticket
    ///
    /// Students only, not on their own ticket, not on a closed one. Voting twice counts once.
    /// A vote for a merged ticket counts on the ticket it was merged into. Voters watch the
    /// ticket from then on.
    #[oai(path = "/tickets/:id/vote", method = "put", operation_id = "cast_vote")]
    async fn cast(
        &self,
        auth: Session,
        app: Data<&Arc<App>>,
        /// The ticket's number.
        id: Path<i64>,
    ) -> Result<VoteResponse, Failure<VoteErrors>> {
        let (target, outcome) = app.votes.cast(&auth.0.principal, TicketId::new(id.0)).await?;
        Ok(VoteResponse::Ok(Json(VoteState { number: target.get(), vote_count: outcome.vote_count(), voted: true })))
    }

    /// Take a vote back
    ///
    /// Retracting a vote that is not there changes nothing.
    #[oai(path = "/tickets/:id/vote", method = "delete", operation_id = "retract_vote")]
    async fn retract(
        &self,
        auth: Session,
        app: Data<&Arc<App>>,
        /// The ticket's number.
        id: Path<i64>,
    ) -> Result<VoteResponse, Failure<VoteErrors>> {
        let (target, outcome) = app.votes.retract(&auth.0.principal, TicketId::new(id.0)).await?;
        Ok(VoteResponse::Ok(Json(VoteState { number: target.get(), vote_count: outcome.vote_count(), voted: false })))
    }
}
