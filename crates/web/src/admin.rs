//! Admin pages: users and roles, categories, FAQ curation, chat webhooks and dead letters.
//! The domain services decide who may do what; these pages only hide links from others.

use std::sync::Arc;

use askama::Template;
use domain::{
    accounts::{AccountFilter, Role, UserId},
    categories::CategoryId,
    escalation::{ChatKind, NewChatWebhook, WebhookId},
    faq::FaqEntryId,
    notifications::DeliveryId,
    page::PageLimit,
    tickets::{Priority, TicketId},
};
use poem::{
    handler,
    http::StatusCode,
    web::{Data, Form, Path, Query},
    Request, Response,
};

use crate::{
    context::{Ctx, Layout, Web},
    fail::{respond, sentence, Fail},
    forms::{encode, Errors, Fields},
    views::{priority_label, when, Choice},
};

fn admin<'c>(ctx: &'c Ctx<'_>) -> Result<&'c domain::accounts::Principal, Fail> {
    let p = ctx.user()?;
    if p.role() == Role::Admin {
        Ok(p)
    } else {
        Err(Fail::Forbidden("This page is for admins.".into()))
    }
}

/// The message of a refusal a form shows beside its fields; other errors stay failures.
fn refusal(e: domain::Error) -> Result<(&'static str, String), Fail> {
    match e {
        domain::Error::Invalid { field, message, .. } => Ok((field, sentence(&message))),
        domain::Error::Conflict(c) => Ok(("form", sentence(&c.to_string()))),
        domain::Error::UnknownReference { field, resource } => Ok((field, sentence(&format!("{resource} not found")))),
        other => Err(other.into()),
    }
}

#[derive(Template)]
#[template(path = "admin.html")]
struct AdminPage {
    l: Layout,
}

/// `GET /admin`: the admin pages.
#[handler]
pub async fn hub(req: &Request, web: Data<&Arc<Web>>) -> Response {
    respond!(web, req, |ctx| {
        admin(&ctx)?;
        ctx.page(&AdminPage { l: ctx.layout("Admin") })
    })
}

/// An account in the users list.
pub struct UserRow {
    id: i64,
    name: String,
    email: String,
    status: &'static str,
    roles: Vec<Choice>,
    error: Option<String>,
}

#[derive(Template)]
#[template(path = "users.html")]
struct UsersPage {
    l: Layout,
    rows: Vec<UserRow>,
    next: Option<String>,
}

async fn users_page(ctx: &Ctx<'_>, cursor: Option<String>, error: Option<(i64, String)>) -> Result<Response, Fail> {
    let principal = admin(ctx)?;
    let page =
        ctx.web.app.accounts.list(principal, AccountFilter::default(), PageLimit::new(Some(50))?, cursor).await?;
    let rows = page
        .items
        .iter()
        .map(|a| UserRow {
            id: a.id.get(),
            name: a.display_name.as_str().to_owned(),
            email: a.email.as_str().to_owned(),
            status: match a.status {
                domain::accounts::AccountStatus::Pending => "Pending",
                domain::accounts::AccountStatus::Active => "Active",
                domain::accounts::AccountStatus::Rejected => "Rejected",
                domain::accounts::AccountStatus::Deactivated => "Deactivated",
            },
            roles: Choice::list(
                [("student", "Student"), ("support", "Support staff"), ("admin", "Admin")],
                match a.role {
                    Role::Student => "student",
                    Role::Support => "support",
                    Role::Admin => "admin",
                },
            ),
            error: error.as_ref().filter(|(id, _)| *id == a.id.get()).map(|(_, m)| m.clone()),
        })
        .collect();
    let page = UsersPage {
        l: ctx.layout("Users and roles"),
        rows,
        next: page.next_cursor.map(|c| format!("/admin/users?cursor={}", encode(&c))),
    };
    let status = if error.is_some() { StatusCode::UNPROCESSABLE_ENTITY } else { StatusCode::OK };
    ctx.page_with(status, &page)
}

/// `GET /admin/users`: every account, oldest first, with its role.
#[handler]
pub async fn users(req: &Request, web: Data<&Arc<Web>>, Query(q): Query<Fields>) -> Response {
    respond!(web, req, |ctx| users_page(&ctx, q.get("cursor").map(Into::into), None).await)
}

/// `POST /admin/users/{id}/role`.
#[handler]
pub async fn change_role(req: &Request, web: Data<&Arc<Web>>, Path(id): Path<i64>, Form(f): Form<Fields>) -> Response {
    respond!(web, req, |ctx| {
        ctx.check_csrf(&f)?;
        let principal = ctx.user()?;
        let role = match f.get("role") {
            Some("student") => Role::Student,
            Some("support") => Role::Support,
            Some("admin") => Role::Admin,
            _ => return users_page(&ctx, None, Some((id, "Choose a role.".into()))).await,
        };
        match web.app.accounts.change_role(principal, UserId::new(id), role).await {
            Ok(_) => Ok(ctx.redirect("/admin/users")),
            Err(e) => {
                let (_, message) = refusal(e)?;
                users_page(&ctx, None, Some((id, message))).await
            }
        }
    })
}

/// A category as listed.
pub struct CategoryRow {
    name: String,
    description: String,
}

#[derive(Template)]
#[template(path = "categories.html")]
struct CategoriesPage {
    l: Layout,
    rows: Vec<CategoryRow>,
    name: String,
    description: String,
    errors: Errors,
}

async fn categories_page(ctx: &Ctx<'_>, f: &Fields, errors: Errors) -> Result<Response, Fail> {
    let principal = admin(ctx)?;
    let categories = ctx.web.app.categories.list(principal).await?;
    let page = CategoriesPage {
        l: ctx.layout("Categories"),
        rows: categories
            .iter()
            .map(|c| CategoryRow { name: c.name.as_str().to_owned(), description: c.description.clone() })
            .collect(),
        name: f.text("name"),
        description: f.text("description"),
        errors,
    };
    let status = if page.errors.any() { StatusCode::UNPROCESSABLE_ENTITY } else { StatusCode::OK };
    ctx.page_with(status, &page)
}

/// `GET /admin/categories`.
#[handler]
pub async fn category_list(req: &Request, web: Data<&Arc<Web>>) -> Response {
    respond!(web, req, |ctx| categories_page(&ctx, &Fields::default(), Errors::none()).await)
}

/// `POST /admin/categories`: a new category.
#[handler]
pub async fn add_category(req: &Request, web: Data<&Arc<Web>>, Form(f): Form<Fields>) -> Response {
    respond!(web, req, |ctx| {
        ctx.check_csrf(&f)?;
        let principal = ctx.user()?;
        match web.app.categories.create(principal, &f.text("name"), &f.text("description"), None).await {
            Ok(_) => Ok(ctx.redirect("/admin/categories")),
            Err(e) => {
                let (field, message) = refusal(e)?;
                let field = if field == "form" { "name" } else { field };
                categories_page(&ctx, &f, Errors::one(field, message)).await
            }
        }
    })
}

/// An FAQ candidate as listed.
pub struct CandidateRow {
    ticket: i64,
    title: String,
    votes: u32,
    watchers: u32,
    merged: u32,
}

/// An FAQ draft as listed.
pub struct DraftRow {
    id: i64,
    question: String,
    answer_html: String,
}

#[derive(Template)]
#[template(path = "curation.html")]
struct CurationPage {
    l: Layout,
    candidates: Vec<CandidateRow>,
    drafts: Vec<DraftRow>,
    error: Option<String>,
}

async fn curation_page(ctx: &Ctx<'_>, error: Option<String>) -> Result<Response, Fail> {
    let principal = ctx.user()?;
    let app = &ctx.web.app;
    let candidates = app.faq.candidates(principal, Some(20)).await?;
    let drafts = app.faq.drafts(principal).await?;
    let page = CurationPage {
        l: ctx.layout("FAQ curation"),
        candidates: candidates
            .iter()
            .map(|c| CandidateRow {
                ticket: c.stats.ticket.get(),
                title: c.stats.title.clone(),
                votes: c.stats.votes,
                watchers: c.stats.watchers,
                merged: c.stats.merged_duplicates,
            })
            .collect(),
        drafts: drafts
            .iter()
            .map(|d| DraftRow {
                id: d.id.get(),
                question: d.question.as_str().to_owned(),
                answer_html: markup::markdown_to_html(d.answer.as_str()),
            })
            .collect(),
        error,
    };
    let status = if page.error.is_some() { StatusCode::UNPROCESSABLE_ENTITY } else { StatusCode::OK };
    ctx.page_with(status, &page)
}

/// `GET /admin/faq`: candidates to draft entries from, and drafts to publish.
#[handler]
pub async fn curation(req: &Request, web: Data<&Arc<Web>>) -> Response {
    respond!(web, req, |ctx| curation_page(&ctx, None).await)
}

/// `POST /admin/faq/draft` (`ticket`) or `POST /admin/faq/{id}/publish`.
#[handler]
pub async fn curate(
    req: &Request,
    web: Data<&Arc<Web>>,
    Path(action): Path<String>,
    Form(f): Form<Fields>,
) -> Response {
    respond!(web, req, |ctx| {
        ctx.check_csrf(&f)?;
        let principal = ctx.user()?;
        let faq = &web.app.faq;
        let id = f.text("id").parse::<i64>().map_err(|_| Fail::NotFound)?;
        let done = match action.as_str() {
            "draft" => faq.draft_from_ticket(principal, TicketId::new(id)).await.map(|_| ()),
            "publish" => faq.publish(principal, FaqEntryId::new(id)).await.map(|_| ()),
            _ => return Err(Fail::NotFound),
        };
        match done {
            Ok(()) => Ok(ctx.redirect("/admin/faq")),
            Err(e) => curation_page(&ctx, Some(refusal(e)?.1)).await,
        }
    })
}

/// A webhook as listed (its URL without the secret).
pub struct WebhookRow {
    id: i64,
    name: String,
    kind: &'static str,
    url: String,
    routes: String,
}

#[derive(Template)]
#[template(path = "webhooks.html")]
struct WebhooksPage {
    l: Layout,
    rows: Vec<WebhookRow>,
    kinds: Vec<Choice>,
    categories: Vec<Choice>,
    priorities: Vec<Choice>,
    name: String,
    errors: Errors,
    tested: Option<String>,
}

async fn webhooks_page(ctx: &Ctx<'_>, f: &Fields, errors: Errors, tested: Option<String>) -> Result<Response, Fail> {
    let principal = admin(ctx)?;
    let app = &ctx.web.app;
    let hooks = app.escalation.webhooks(principal).await?;
    let categories = app.categories.list(principal).await?;
    let name_of =
        |id: CategoryId| categories.iter().find(|c| c.id == id).map(|c| c.name.as_str().to_owned()).unwrap_or_default();
    let rows = hooks
        .iter()
        .map(|w| WebhookRow {
            id: w.id.get(),
            name: w.name.clone(),
            kind: match w.kind {
                ChatKind::GoogleChat => "Google Chat",
                ChatKind::Slack => "Slack",
            },
            url: w.shown_url(),
            routes: match (w.category_id, w.priority) {
                (None, None) => "Every escalation".into(),
                (Some(c), None) => format!("Category {}", name_of(c)),
                (None, Some(p)) => format!("{} priority", priority_label(p)),
                (Some(c), Some(p)) => format!("Category {}, {} priority", name_of(c), priority_label(p)),
            },
        })
        .collect();
    let mut category_choices = vec![Choice { value: String::new(), label: "Any category".into(), selected: true }];
    let current = f.text("category_id");
    category_choices.extend(categories.iter().map(|c| Choice {
        value: c.id.get().to_string(),
        label: c.name.as_str().to_owned(),
        selected: c.id.get().to_string() == current,
    }));
    let mut priorities = vec![("", "Any priority")];
    priorities.extend(Priority::ALL.iter().map(|p| (p.as_str(), priority_label(*p))));
    let page = WebhooksPage {
        l: ctx.layout("Chat webhooks"),
        rows,
        kinds: Choice::list(
            [("google_chat", "Google Chat"), ("slack", "Slack")],
            f.get("kind").unwrap_or("google_chat"),
        ),
        categories: category_choices,
        priorities: Choice::list(priorities, &f.text("priority")),
        name: f.text("name"),
        errors,
        tested,
    };
    let status = if page.errors.any() { StatusCode::UNPROCESSABLE_ENTITY } else { StatusCode::OK };
    ctx.page_with(status, &page)
}

/// `GET /admin/webhooks`.
#[handler]
pub async fn webhooks(req: &Request, web: Data<&Arc<Web>>) -> Response {
    respond!(web, req, |ctx| webhooks_page(&ctx, &Fields::default(), Errors::none(), None).await)
}

/// `POST /admin/webhooks`: adds one. The URL is a secret: it is never shown back.
#[handler]
pub async fn add_webhook(req: &Request, web: Data<&Arc<Web>>, Form(f): Form<Fields>) -> Response {
    respond!(web, req, |ctx| {
        ctx.check_csrf(&f)?;
        let principal = ctx.user()?;
        let category_id = f.get("category_id").filter(|v| !v.is_empty()).map(|v| v.parse::<i64>().map(CategoryId::new));
        let (Some(kind), Ok(category_id)) = (ChatKind::parse(&f.text("kind")), category_id.transpose()) else {
            return webhooks_page(&ctx, &f, Errors::one("form", "Choose a kind and a category from the lists."), None)
                .await;
        };
        let webhook = NewChatWebhook {
            name: f.text("name"),
            kind,
            url: f.text("url"),
            category_id,
            priority: Priority::parse(&f.text("priority")),
        };
        match web.app.escalation.add_webhook(principal, webhook).await {
            Ok(_) => Ok(ctx.redirect("/admin/webhooks")),
            Err(e) => {
                let (field, message) = refusal(e)?;
                webhooks_page(&ctx, &f, Errors::one(field, message), None).await
            }
        }
    })
}

/// `POST /admin/webhooks/{id}/test`: posts a test message and says how it went.
#[handler]
pub async fn test_webhook(req: &Request, web: Data<&Arc<Web>>, Path(id): Path<i64>, Form(f): Form<Fields>) -> Response {
    respond!(web, req, |ctx| {
        ctx.check_csrf(&f)?;
        let principal = ctx.user()?;
        let test = web.app.escalation.test_webhook(principal, WebhookId::new(id)).await?;
        let said = match (test.delivered, test.error) {
            (true, _) => "The test message was delivered.".to_owned(),
            (false, Some(error)) => format!("The test message was not delivered: {error}"),
            (false, None) => "The test message was not delivered.".to_owned(),
        };
        webhooks_page(&ctx, &Fields::default(), Errors::none(), Some(said)).await
    })
}

/// A dead letter as listed.
pub struct DeadRow {
    id: i64,
    channel: &'static str,
    what: String,
    ticket: Option<i64>,
    attempts: u32,
    error: String,
    at: String,
}

#[derive(Template)]
#[template(path = "dead_letters.html")]
struct DeadLettersPage {
    l: Layout,
    rows: Vec<DeadRow>,
}

/// `GET /admin/dead-letters`: deliveries that kept failing.
#[handler]
pub async fn dead_letters(req: &Request, web: Data<&Arc<Web>>) -> Response {
    respond!(web, req, |ctx| {
        let principal = admin(&ctx)?;
        let dead = web.app.notifications.dead_letters(principal, None).await?;
        let rows = dead
            .iter()
            .map(|d| DeadRow {
                id: d.id.get(),
                channel: d.channel.as_str(),
                what: d.kind.map(|k| crate::views::change_label(k.as_str())).unwrap_or_else(|| "Delivery".into()),
                ticket: d.ticket_id.map(TicketId::get),
                attempts: d.attempts,
                error: d.last_error.clone().unwrap_or_default(),
                at: when(d.updated_at),
            })
            .collect();
        ctx.page(&DeadLettersPage { l: ctx.layout("Dead letters"), rows })
    })
}

/// `POST /admin/dead-letters/{id}/retry`: queues the delivery again.
#[handler]
pub async fn retry(req: &Request, web: Data<&Arc<Web>>, Path(id): Path<i64>, Form(f): Form<Fields>) -> Response {
    respond!(web, req, |ctx| {
        ctx.check_csrf(&f)?;
        let principal = ctx.user()?;
        web.app.notifications.retry(principal, DeliveryId::new(id)).await?;
        Ok(ctx.redirect("/admin/dead-letters"))
    })
}

/// One priority's SLA target as edited.
pub struct TargetRow {
    key: &'static str,
    label: &'static str,
    first: String,
    resolution: String,
    error: Option<String>,
}

#[derive(Template)]
#[template(path = "sla.html")]
struct SlaPage {
    l: Layout,
    rows: Vec<TargetRow>,
    business_hours: bool,
    saved: bool,
}

/// `GET /admin/sla`: the targets per priority.
#[handler]
pub async fn sla(req: &Request, web: Data<&Arc<Web>>, Query(q): Query<Fields>) -> Response {
    respond!(web, req, |ctx| {
        let principal = admin(&ctx)?;
        let settings = web.app.escalation.sla_settings(principal).await?;
        let rows = Priority::ALL
            .iter()
            .map(|p| {
                let target = settings.targets.for_priority(*p);
                TargetRow {
                    key: p.as_str(),
                    label: priority_label(*p),
                    first: target.first_response_minutes().to_string(),
                    resolution: target.resolution_minutes().to_string(),
                    error: None,
                }
            })
            .collect();
        let page = SlaPage {
            l: ctx.layout("SLA targets"),
            rows,
            business_hours: settings.business_hours.is_some(),
            saved: q.checked("saved"),
        };
        ctx.page(&page)
    })
}

/// `POST /admin/sla`: new targets (business hours stay as they are).
#[handler]
pub async fn set_sla(req: &Request, web: Data<&Arc<Web>>, Form(f): Form<Fields>) -> Response {
    respond!(web, req, |ctx| {
        ctx.check_csrf(&f)?;
        let principal = admin(&ctx)?;
        let current = web.app.escalation.sla_settings(principal).await?;
        let mut rows = Vec::new();
        let mut targets = Vec::new();
        for p in Priority::ALL {
            let (first, resolution) =
                (f.text(&format!("{}_first", p.as_str())), f.text(&format!("{}_resolution", p.as_str())));
            let parsed = match (first.trim().parse::<u32>(), resolution.trim().parse::<u32>()) {
                (Ok(a), Ok(b)) => domain::escalation::SlaTarget::new(a, b).map_err(|e| match e {
                    domain::Error::Invalid { message, .. } => sentence(&message),
                    other => sentence(&other.to_string()),
                }),
                _ => Err("Give whole numbers of minutes.".to_owned()),
            };
            let error = parsed.as_ref().err().cloned();
            targets.push(parsed);
            rows.push(TargetRow { key: p.as_str(), label: priority_label(p), first, resolution, error });
        }
        if let [Ok(low), Ok(medium), Ok(high), Ok(urgent)] = targets.as_slice() {
            let settings = domain::escalation::SlaSettings {
                targets: domain::escalation::SlaTargets { low: *low, medium: *medium, high: *high, urgent: *urgent },
                business_hours: current.business_hours,
            };
            web.app.escalation.set_sla_settings(principal, settings).await?;
            return Ok(ctx.redirect("/admin/sla?saved=1"));
        }
        let page = SlaPage {
            l: ctx.layout("SLA targets"),
            rows,
            business_hours: current.business_hours.is_some(),
            saved: false,
        };
        ctx.page_with(StatusCode::UNPROCESSABLE_ENTITY, &page)
    })
}
