//! Support and admin pages: the queue, my activity and pending accounts.

use std::sync::Arc;

use askama::Template;
use domain::{
    accounts::{AccountDecision, AccountFilter, AccountStatus, Role, UserId},
    escalation::SlaState,
    page::PageLimit,
    tickets::Priority,
    workflow::{QueueAssigned, QueueFilter},
};
use poem::{
    handler,
    http::StatusCode,
    web::{Data, Form, Path, Query},
    Request, Response,
};

use crate::{
    context::{Layout, Web},
    fail::{respond, sentence, Fail},
    forms::{encode, Errors, Fields},
    views::{priority_label, when, Choice, TicketRow},
};

#[derive(Template)]
#[template(path = "queue.html")]
struct QueuePage {
    l: Layout,
    priorities: Vec<Choice>,
    assigned: Vec<Choice>,
    slas: Vec<Choice>,
    rows: Vec<TicketRow>,
    next: Option<String>,
}

/// `GET /queue`: unresolved tickets in queue order, filtered, with SLA badges.
#[handler]
pub async fn queue(req: &Request, web: Data<&Arc<Web>>, Query(q): Query<Fields>) -> Response {
    respond!(web, req, |ctx| {
        let principal = ctx.staff()?;
        let (priority, assigned, sla) = (q.text("priority"), q.text("assigned"), q.text("sla"));
        let filter = QueueFilter {
            category_id: None,
            priority: Priority::parse(&priority),
            assigned: match assigned.as_str() {
                "me" => QueueAssigned::Me,
                "unassigned" => QueueAssigned::Unassigned,
                _ => QueueAssigned::Anyone,
            },
            sla: SlaState::parse(&sla),
            limit: Some(25),
            cursor: q.get("cursor").map(Into::into),
        };
        let page = web.app.workflow.queue(principal, filter).await?;
        let mut priorities = vec![("", "Any priority")];
        priorities.extend(Priority::ALL.iter().map(|p| (p.as_str(), priority_label(*p))));
        let next = page.next_cursor.map(|c| {
            format!(
                "/queue?priority={}&assigned={}&sla={}&cursor={}",
                encode(&priority),
                encode(&assigned),
                encode(&sla),
                encode(&c)
            )
        });
        ctx.page(&QueuePage {
            l: ctx.layout("Queue"),
            priorities: Choice::list(priorities, &priority),
            assigned: Choice::list([("", "Anyone"), ("me", "Me"), ("unassigned", "Nobody")], &assigned),
            slas: Choice::list([("", "Any SLA state"), ("at_risk", "At risk"), ("breached", "Breached")], &sla),
            rows: page.items.iter().map(TicketRow::from).collect(),
            next,
        })
    })
}

#[derive(Template)]
#[template(path = "activity.html")]
struct ActivityPage {
    l: Layout,
    days: u32,
    resolved: u32,
    assigned: u32,
    open_assigned: u32,
}

/// `GET /activity`: what the signed-in staff member did over the last 30 days.
#[handler]
pub async fn activity(req: &Request, web: Data<&Arc<Web>>) -> Response {
    respond!(web, req, |ctx| {
        let principal = ctx.staff()?;
        let days = 30;
        let a = web.app.workflow.activity(principal, days).await?;
        ctx.page(&ActivityPage {
            l: ctx.layout("My activity"),
            days,
            resolved: a.resolved,
            assigned: a.assigned,
            open_assigned: a.open_assigned,
        })
    })
}

/// An account as an admin sees it in a list.
pub struct AccountRow {
    id: i64,
    name: String,
    email: String,
    role: &'static str,
    confirmed: bool,
    registered: String,
    /// Why rejecting it was refused, after a refused submit.
    error: Option<String>,
    /// The reason as typed, after a refused submit.
    kept_reason: String,
}

#[derive(Template)]
#[template(path = "accounts.html")]
struct AccountsPage {
    l: Layout,
    rows: Vec<AccountRow>,
    next: Option<String>,
}

fn role_label(role: Role) -> &'static str {
    match role {
        Role::Student => "Student",
        Role::Support => "Support staff",
        Role::Admin => "Admin",
    }
}

async fn accounts_page(
    ctx: &crate::context::Ctx<'_>,
    cursor: Option<String>,
    errors: Errors,
    kept: Fields,
) -> Result<Response, Fail> {
    let principal = ctx.user()?;
    if principal.role() != Role::Admin {
        return Err(Fail::Forbidden("This page is for admins.".into()));
    }
    let filter = AccountFilter { status: Some(AccountStatus::Pending), role: None, email_confirmed: None };
    let page = ctx.web.app.accounts.list(principal, filter, PageLimit::new(Some(25))?, cursor).await?;
    let rows = page
        .items
        .iter()
        .map(|a| AccountRow {
            id: a.id.get(),
            name: a.display_name.as_str().to_owned(),
            email: a.email.as_str().to_owned(),
            role: role_label(a.role),
            confirmed: a.email_confirmed_at.is_some(),
            registered: when(a.created_at),
            error: errors.get(&format!("reason_{}", a.id.get())).map(str::to_owned),
            kept_reason: if errors.get(&format!("reason_{}", a.id.get())).is_some() {
                kept.text("reason")
            } else {
                String::new()
            },
        })
        .collect();
    let page = AccountsPage {
        l: ctx.layout("Pending accounts"),
        rows,
        next: page.next_cursor.map(|c| format!("/admin/accounts?cursor={}", encode(&c))),
    };
    let status = if errors.any() { StatusCode::UNPROCESSABLE_ENTITY } else { StatusCode::OK };
    ctx.page_with(status, &page)
}

/// `GET /admin/accounts`: accounts waiting for approval.
#[handler]
pub async fn accounts(req: &Request, web: Data<&Arc<Web>>, Query(q): Query<Fields>) -> Response {
    respond!(web, req, |ctx| accounts_page(&ctx, q.get("cursor").map(Into::into), Errors::none(), Fields::default())
        .await)
}

/// `POST /admin/accounts/{id}/approve` or `.../reject` (with a reason).
#[handler]
pub async fn decide(
    req: &Request,
    web: Data<&Arc<Web>>,
    Path((id, decision)): Path<(i64, String)>,
    Form(f): Form<Fields>,
) -> Response {
    respond!(web, req, |ctx| {
        ctx.check_csrf(&f)?;
        let principal = ctx.user()?;
        let decision = match decision.as_str() {
            "approve" => AccountDecision::Approve,
            "reject" => AccountDecision::Reject { reason: f.text("reason") },
            _ => return Err(Fail::NotFound),
        };
        match web.app.accounts.decide(principal, UserId::new(id), decision).await {
            Ok(_) => Ok(ctx.redirect("/admin/accounts")),
            Err(domain::Error::Invalid { message, .. }) => {
                let errors = Errors::one(&format!("reason_{id}"), sentence(&message));
                accounts_page(&ctx, None, errors, f.clone()).await
            }
            Err(other) => Err(other.into()),
        }
    })
}
