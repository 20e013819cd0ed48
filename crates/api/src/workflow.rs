//! The support workflow: the queue, assignment, resolution, reopening and merging.

use crate::nullable::Nullable;
use crate::nullable::{Days, PageSize};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use domain::accounts::UserId;
use domain::tickets::TicketId;
use domain::workflow::{self as dw, QueueAssigned, QueueFilter};
use poem::web::Data;
use poem_openapi::{
    param::{Path, Query},
    payload::Json,
    ApiResponse, Enum, Object, OpenApi,
};

use crate::{
    accounts::UserSummary,
    auth::Session,
    error::{error_set, Failure},
    text::{self, Text},
    tickets::{Priority, Ticket, TicketPage},
    ApiTags, App,
};

/// Whose tickets the queue shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum Assigned {
    /// Every unresolved ticket.
    Anyone,
    /// Tickets assigned to the caller.
    Me,
    /// Tickets nobody has taken.
    Unassigned,
}

/// Tickets per status.
#[derive(Debug, Clone, Object)]
pub struct StatusCounts {
    /// Waiting for support.
    pub open: u32,
    /// Being worked on.
    pub in_progress: u32,
    /// Answered.
    pub resolved: u32,
    /// Done.
    pub closed: u32,
    /// Folded into others.
    pub merged: u32,
}

/// What a staff member did over a period.
#[derive(Debug, Clone, Object)]
pub struct Activity {
    /// The period's start.
    pub since: DateTime<Utc>,
    /// Tickets resolved in the period.
    pub resolved: u32,
    /// Tickets assigned in the period (claimed or assigned by an admin).
    pub assigned: u32,
    /// Unresolved tickets assigned now.
    pub open_assigned: u32,
}

/// One staff member's load.
#[derive(Debug, Clone, Object)]
pub struct StaffLoad {
    /// Who.
    pub member: UserSummary,
    /// `support` or `admin`.
    pub role: String,
    /// Unresolved tickets assigned now.
    pub open_assigned: u32,
    /// Tickets resolved in the period.
    pub resolved: u32,
    /// Tickets assigned in the period.
    pub assigned: u32,
}

/// A suggested assignee.
#[derive(Debug, Clone, Object)]
pub struct Suggestion {
    /// The member's account id.
    pub member_id: i64,
    /// Why: `similar_requests` (they resolved the most similar recent tickets),
    /// `category_owner` or `least_loaded`.
    pub reason: String,
}

/// The suggestion for a ticket, if there is anyone to suggest.
#[derive(Debug, Clone, Object)]
pub struct SuggestionView {
    /// `null` when no support member is active.
    pub suggestion: Nullable<Suggestion>,
}

/// Whom to assign (`null` unassigns).
#[derive(Debug, Object)]
pub struct AssigneeBody {
    /// An active staff member's account id, or `null`.
    pub assignee_id: Nullable<i64>,
}

/// A resolution.
#[derive(Debug, Object)]
pub struct ResolveBody {
    /// The answer (Markdown, 1–20,000 characters); the people of the ticket see it.
    pub answer: Text<text::Markdown>,
}

/// Why a ticket is reopened.
#[derive(Debug, Object)]
pub struct ReopenBody {
    /// The reason (1–500 characters).
    pub reason: Text<text::Reason>,
}

/// Where to merge a duplicate.
#[derive(Debug, Object)]
pub struct MergeBody {
    /// The number of the ticket that carries the concern on.
    pub target: i64,
}

/// What a merge did.
#[derive(Debug, Clone, Object)]
pub struct MergeResult {
    /// The target ticket after the merge.
    pub target: Ticket,
    /// Votes the target gained (people who had not voted there yet).
    pub votes_added: u32,
    /// Watchers the target gained.
    pub watchers_added: u32,
}

/// An operation that answers with one ticket.
#[derive(ApiResponse)]
pub enum TicketResponse {
    /// The ticket as it is now.
    #[oai(status = 200)]
    Ok(Json<Ticket>),
}

/// `GET /queue` succeeded.
#[derive(ApiResponse)]
pub enum QueueResponse {
    /// A page of unresolved tickets in queue order.
    #[oai(status = 200)]
    Ok(Json<TicketPage>),
}

/// `GET /queue/counts` succeeded.
#[derive(ApiResponse)]
pub enum CountsResponse {
    /// Tickets per status.
    #[oai(status = 200)]
    Ok(Json<StatusCounts>),
}

/// `GET /me/activity` succeeded.
#[derive(ApiResponse)]
pub enum ActivityResponse {
    /// The caller's activity.
    #[oai(status = 200)]
    Ok(Json<Activity>),
}

/// `GET /admin/staff` succeeded.
#[derive(ApiResponse)]
pub enum StaffResponse {
    /// Every active staff member's load, by account id.
    #[oai(status = 200)]
    Ok(Json<Vec<StaffLoad>>),
}

/// `GET /tickets/{id}/assignment-suggestion` succeeded.
#[derive(ApiResponse)]
pub enum SuggestionResponse {
    /// The suggestion.
    #[oai(status = 200)]
    Ok(Json<SuggestionView>),
}

/// `POST /tickets/{id}/merge` succeeded.
#[derive(ApiResponse)]
pub enum MergeResponse {
    /// The merge is done.
    #[oai(status = 200)]
    Ok(Json<MergeResult>),
}

error_set!(
    /// Errors of staff reports.
    ReportErrors = [400, 401, 403, 422, 500]
);
error_set!(
    /// Errors of reading about one ticket.
    ReadErrors = [400, 401, 403, 404, 500]
);
error_set!(
    /// Errors of workflow actions without a body.
    ActionErrors = [400, 401, 403, 404, 409, 500]
);
error_set!(
    /// Errors of workflow actions with a body.
    ActionBodyErrors = [400, 401, 403, 404, 409, 413, 415, 422, 500]
);

fn counts(c: dw::StatusCounts) -> StatusCounts {
    StatusCounts { open: c.open, in_progress: c.in_progress, resolved: c.resolved, closed: c.closed, merged: c.merged }
}

/// The support workflow.
pub struct WorkflowApi;

#[OpenApi(prefix_path = "/api/v1", tag = "ApiTags::Workflow")]
impl WorkflowApi {
    /// The support queue
    ///
    /// Staff only. Unresolved tickets (`open`, `in_progress`) in queue order: a score from
    /// votes, priority and age.
    #[oai(path = "/queue", method = "get", operation_id = "queue")]
    #[allow(clippy::too_many_arguments)] // one argument per documented query parameter
    async fn queue(
        &self,
        auth: Session,
        app: Data<&Arc<App>>,
        /// Only this category.
        category_id: Query<Option<i64>>,
        /// Only this priority.
        priority: Query<Option<Priority>>,
        /// `me`, `unassigned` or `anyone` (default).
        assigned: Query<Option<Assigned>>,
        /// Only tickets in this SLA state (as of the last SLA check).
        sla: Query<Option<crate::tickets::SlaState>>,
        /// Page size, 1–100 (default 25).
        limit: Query<Option<PageSize>>,
        /// `next_cursor` of the previous page.
        cursor: Query<Option<Text<text::TicketCursor>>>,
    ) -> Result<QueueResponse, Failure<ReportErrors>> {
        let filter = QueueFilter {
            category_id: category_id.0,
            priority: priority.0.map(Into::into),
            assigned: match assigned.0 {
                None | Some(Assigned::Anyone) => QueueAssigned::Anyone,
                Some(Assigned::Me) => QueueAssigned::Me,
                Some(Assigned::Unassigned) => QueueAssigned::Unassigned,
            },
            sla: sla.0.map(Into::into),
            limit: limit.0.map(|l| l.0),
            cursor: cursor.0.map(Text::into_inner),
        };
        let page = app.workflow.queue(&auth.0.principal, filter).await?;
        Ok(QueueResponse::Ok(Json(TicketPage {
            items: page.items.into_iter().map(Into::into).collect(),
            next_cursor: Nullable(page.next_cursor),
        })))
    }

    /// Tickets per status
    ///
    /// Staff only.
    #[oai(path = "/queue/counts", method = "get", operation_id = "queue_counts")]
    async fn counts(
        &self,
        auth: Session,
        app: Data<&Arc<App>>,
        /// Only this category.
        category_id: Query<Option<i64>>,
    ) -> Result<CountsResponse, Failure<ReportErrors>> {
        let c = app.workflow.counts(&auth.0.principal, category_id.0).await?;
        Ok(CountsResponse::Ok(Json(counts(c))))
    }

    /// My activity
    ///
    /// Staff only: tickets the caller resolved and was assigned over the last `days` days,
    /// and their unresolved tickets now.
    #[oai(path = "/me/activity", method = "get", operation_id = "my_activity")]
    async fn activity(
        &self,
        auth: Session,
        app: Data<&Arc<App>>,
        /// The period in days, 1–366 (default 30).
        days: Query<Option<Days>>,
    ) -> Result<ActivityResponse, Failure<ReportErrors>> {
        let days = days.0.map_or(30, |d| d.0);
        let a = app.workflow.activity(&auth.0.principal, days).await?;
        let since = Utc::now() - chrono::Duration::days(i64::from(days));
        Ok(ActivityResponse::Ok(Json(Activity {
            since,
            resolved: a.resolved,
            assigned: a.assigned,
            open_assigned: a.open_assigned,
        })))
    }

    /// Who handles what
    ///
    /// Admins only: every active staff member's unresolved tickets and their activity over
    /// the last `days` days. The tickets themselves: `GET /queue` and each ticket's `assignee`.
    #[oai(path = "/admin/staff", method = "get", operation_id = "staff_load")]
    async fn staff(
        &self,
        auth: Session,
        app: Data<&Arc<App>>,
        /// The period in days, 1–366 (default 30).
        days: Query<Option<Days>>,
    ) -> Result<StaffResponse, Failure<ReportErrors>> {
        let rows = app.workflow.staff_load(&auth.0.principal, days.0.map_or(30, |d| d.0)).await?;
        Ok(StaffResponse::Ok(Json(
            rows.into_iter()
                .map(|r| StaffLoad {
                    member: r.member.into(),
                    role: r.role.as_str().to_owned(),
                    open_assigned: r.open_assigned,
                    resolved: r.activity.resolved,
                    assigned: r.activity.assigned,
                })
                .collect(),
        )))
    }

    /// Claim a ticket
    ///
    /// Staff only. The ticket is assigned to the caller and, if open, moves to `in_progress`.
    /// A ticket someone else has is a 409; an admin can reassign it.
    #[oai(path = "/tickets/:id/claim", method = "post", operation_id = "claim_ticket")]
    async fn claim(
        &self,
        auth: Session,
        app: Data<&Arc<App>>,
        /// The ticket's number.
        id: Path<i64>,
    ) -> Result<TicketResponse, Failure<ActionErrors>> {
        let t = app.workflow.claim(&auth.0.principal, TicketId::new(id.0)).await?;
        Ok(TicketResponse::Ok(Json(t.into())))
    }

    /// Assign a ticket
    ///
    /// Admins only. Assigns an unresolved ticket to an active staff member, or unassigns it.
    /// An `assignee_id` no account has is 404 `account_not_found`; an account that is not
    /// active staff, 409 `not_assignable`.
    #[oai(path = "/tickets/:id/assignee", method = "put", operation_id = "assign_ticket")]
    async fn assign(
        &self,
        auth: Session,
        app: Data<&Arc<App>>,
        /// The ticket's number.
        id: Path<i64>,
        body: Json<AssigneeBody>,
    ) -> Result<TicketResponse, Failure<ActionBodyErrors>> {
        let assignee = body.0.assignee_id.0.map(UserId::new);
        let t = app.workflow.assign(&auth.0.principal, TicketId::new(id.0), assignee).await?;
        Ok(TicketResponse::Ok(Json(t.into())))
    }

    /// Suggest an assignee
    ///
    /// Staff only: the support member who resolved the most similar recent tickets, else the
    /// category's owner, else the least-loaded member.
    #[oai(path = "/tickets/:id/assignment-suggestion", method = "get", operation_id = "suggest_assignee")]
    async fn suggest(
        &self,
        auth: Session,
        app: Data<&Arc<App>>,
        /// The ticket's number.
        id: Path<i64>,
    ) -> Result<SuggestionResponse, Failure<ReadErrors>> {
        let s = app.workflow.suggest(&auth.0.principal, TicketId::new(id.0)).await?;
        Ok(SuggestionResponse::Ok(Json(SuggestionView {
            suggestion: Nullable(
                s.map(|s| Suggestion { member_id: s.member.get(), reason: s.reason.as_str().to_owned() }),
            ),
        })))
    }

    /// Resolve a ticket
    ///
    /// Staff only, with an answer the ticket's people see. An unassigned ticket is assigned
    /// to the resolver.
    #[oai(path = "/tickets/:id/resolve", method = "post", operation_id = "resolve_ticket")]
    async fn resolve(
        &self,
        auth: Session,
        app: Data<&Arc<App>>,
        /// The ticket's number.
        id: Path<i64>,
        body: Json<ResolveBody>,
    ) -> Result<TicketResponse, Failure<ActionBodyErrors>> {
        let t = app.workflow.resolve(&auth.0.principal, TicketId::new(id.0), body.0.answer.as_str()).await?;
        Ok(TicketResponse::Ok(Json(t.into())))
    }

    /// Reopen a ticket
    ///
    /// The creator within `OSTS_REOPEN_DAYS` of the resolution (later: raise a follow-up
    /// ticket with `follow_up_of`), or staff at any time, with a reason.
    #[oai(path = "/tickets/:id/reopen", method = "post", operation_id = "reopen_ticket")]
    async fn reopen(
        &self,
        auth: Session,
        app: Data<&Arc<App>>,
        /// The ticket's number.
        id: Path<i64>,
        body: Json<ReopenBody>,
    ) -> Result<TicketResponse, Failure<ActionBodyErrors>> {
        let t = app.workflow.reopen(&auth.0.principal, TicketId::new(id.0), body.0.reason.as_str()).await?;
        Ok(TicketResponse::Ok(Json(t.into())))
    }

    /// Merge a duplicate
    ///
    /// Staff only. The ticket in the path becomes `merged` and points to `target`; its
    /// creator, voters and watchers join the target without double counting; its replies stay
    /// readable from the target; later replies and votes aimed at it land on the target. A
    /// `target` that names no ticket is 404 `ticket_not_found` (with `field`); the ticket
    /// itself, 409 `same_ticket`.
    #[oai(path = "/tickets/:id/merge", method = "post", operation_id = "merge_ticket")]
    async fn merge(
        &self,
        auth: Session,
        app: Data<&Arc<App>>,
        /// The duplicate's number.
        id: Path<i64>,
        body: Json<MergeBody>,
    ) -> Result<MergeResponse, Failure<ActionBodyErrors>> {
        let report = app.workflow.merge(&auth.0.principal, TicketId::new(id.0), TicketId::new(body.0.target)).await?;
        Ok(MergeResponse::Ok(Json(MergeResult {
            target: report.target.into(),
            votes_added: report.votes_added,
            watchers_added: report.watchers_added,
        })))
    }

    /// Undo a merge
    ///
    /// Staff only, within 7 days of the merge. The duplicate gets its status back; votes and
    /// watches the target gained from it are removed, except for people who have acted on
    /// the target since (they keep what they have there).
    #[oai(path = "/tickets/:id/unmerge", method = "post", operation_id = "unmerge_ticket")]
    async fn unmerge(
        &self,
        auth: Session,
        app: Data<&Arc<App>>,
        /// The merged duplicate's number.
        id: Path<i64>,
    ) -> Result<TicketResponse, Failure<ActionErrors>> {
        let t = app.workflow.unmerge(&auth.0.principal, TicketId::new(id.0)).await?;
        Ok(TicketResponse::Ok(Json(t.into())))
    }
}
