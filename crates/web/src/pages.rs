//! Pages for everyone: home, profile, notifications and the FAQ.

use std::sync::Arc;

use askama::Template;
use domain::{
    accounts::{AccountStatus, Role},
    notifications::{Notification, NotificationId, NotificationKind, Preference},
    page::PageLimit,
    tickets::{TicketFilter, TicketSort},
};
use poem::{
    handler,
    web::{Data, Form, Query},
    Request, Response,
};

use crate::{
    context::{Ctx, Layout, Web},
    fail::{respond, Fail},
    forms::{encode, Fields},
    views::{change_label, when, TicketRow},
};

#[derive(Template)]
#[template(path = "welcome.html")]
struct WelcomePage {
    l: Layout,
}

#[derive(Template)]
#[template(path = "pending.html")]
struct PendingPage {
    l: Layout,
    email: String,
    confirmed: bool,
}

#[derive(Template)]
#[template(path = "student_home.html")]
struct StudentHome {
    l: Layout,
    name: String,
    open: Vec<TicketRow>,
    notifications: Vec<NotificationRow>,
    popular: Vec<TicketRow>,
}

/// One notification as listed.
pub struct NotificationRow {
    id: i64,
    what: String,
    ticket: Option<(i64, String)>,
    at: String,
    unread: bool,
}

impl From<&Notification> for NotificationRow {
    fn from(n: &Notification) -> Self {
        Self {
            id: n.id.get(),
            what: notification_label(n.kind),
            ticket: n.ticket_id.map(|id| (id.get(), n.ticket_title.clone().unwrap_or_default())),
            at: when(n.created_at),
            unread: n.read_at.is_none(),
        }
    }
}

fn notification_label(kind: NotificationKind) -> String {
    match kind {
        NotificationKind::Reply => "New reply".into(),
        NotificationKind::InternalNote => "New internal note".into(),
        NotificationKind::Assigned => "Assigned to you".into(),
        NotificationKind::FaqPublished => "FAQ entry published from your ticket".into(),
        NotificationKind::ThreadReply => "New reply in the forum thread".into(),
        NotificationKind::ThreadLike => "Like in the forum thread".into(),
        NotificationKind::AccountApproved => "Your account was approved".into(),
        NotificationKind::AccountRejected => "Your account was rejected".into(),
        other => change_label(other.as_str()),
    }
}

/// `GET /`: the person's home by role; the welcome page for visitors.
#[handler]
pub async fn home(req: &Request, web: Data<&Arc<Web>>) -> Response {
    respond!(web, req, |ctx| {
        let (Some(principal), Some(account)) = (ctx.principal.as_ref(), ctx.account()) else {
            return ctx.page(&WelcomePage { l: ctx.layout("Welcome") });
        };
        if account.status != AccountStatus::Active {
            let page = PendingPage {
                l: ctx.layout("Waiting for approval"),
                email: account.email.as_str().to_owned(),
                confirmed: account.email_confirmed_at.is_some(),
            };
            return ctx.page(&page);
        }
        if principal.role() != Role::Student {
            return Ok(ctx.redirect("/queue"));
        }
        let app = &web.app;
        let mine = TicketFilter { mine: true, unresolved: true, limit: Some(10), ..TicketFilter::default() };
        let open = app.tickets.list(principal, mine).await?;
        let popular =
            TicketFilter { unresolved: true, sort: TicketSort::MostVotes, limit: Some(5), ..TicketFilter::default() };
        let popular = app.tickets.list(principal, popular).await?;
        let limit = PageLimit::new(Some(5))?;
        let inbox = app.notifications.inbox(principal, limit, None).await?;
        ctx.page(&StudentHome {
            l: ctx.layout("Home"),
            name: account.display_name.as_str().to_owned(),
            open: open.items.iter().map(TicketRow::from).collect(),
            notifications: inbox.items.iter().map(NotificationRow::from).collect(),
            popular: popular.items.iter().filter(|v| v.ticket.vote_count() > 0).map(TicketRow::from).collect(),
        })
    })
}

#[derive(Template)]
#[template(path = "notifications.html")]
struct NotificationsPage {
    l: Layout,
    items: Vec<NotificationRow>,
    next: Option<String>,
}

/// `GET /notifications`: the inbox, newest first, a page at a time.
#[handler]
pub async fn notifications(req: &Request, web: Data<&Arc<Web>>, Query(q): Query<Fields>) -> Response {
    respond!(web, req, |ctx| {
        let principal = ctx.user()?;
        let page =
            web.app.notifications.inbox(principal, PageLimit::new(Some(20))?, q.get("cursor").map(Into::into)).await?;
        ctx.page(&NotificationsPage {
            l: ctx.layout("Notifications"),
            items: page.items.iter().map(NotificationRow::from).collect(),
            next: page.next_cursor.map(|c| format!("/notifications?cursor={}", encode(&c))),
        })
    })
}

/// `POST /notifications/read`: one (`id`) or all notifications read.
#[handler]
pub async fn mark_read(req: &Request, web: Data<&Arc<Web>>, Form(f): Form<Fields>) -> Response {
    respond!(web, req, |ctx| {
        ctx.check_csrf(&f)?;
        let principal = ctx.user()?;
        match f.get("id") {
            Some(id) => {
                let id = id.parse::<i64>().map_err(|_| Fail::NotFound)?;
                web.app.notifications.mark_read(principal, NotificationId::new(id)).await?;
            }
            None => {
                web.app.notifications.mark_all_read(principal).await?;
            }
        }
        Ok(ctx.redirect(&local(f.get("back"), "/notifications")))
    })
}

/// A local path from a form, or `fallback`.
pub(crate) fn local(path: Option<&str>, fallback: &str) -> String {
    match path {
        Some(p) if p.starts_with('/') && !p.starts_with("//") && !p.contains('\\') => p.to_owned(),
        _ => fallback.to_owned(),
    }
}

/// One preference row.
pub struct PreferenceRow {
    kind: &'static str,
    topic: &'static str,
    email: bool,
    digest: bool,
}

#[derive(Template)]
#[template(path = "profile.html")]
struct ProfilePage {
    l: Layout,
    name: String,
    email: String,
    role: &'static str,
    preferences: Vec<PreferenceRow>,
    saved: bool,
}

async fn profile_page(ctx: &Ctx<'_>, saved: bool) -> Result<Response, Fail> {
    let principal = ctx.user()?;
    let account = ctx.account().ok_or_else(|| Fail::SignIn("/profile".into()))?;
    let preferences = if principal.status() == AccountStatus::Active {
        ctx.web.app.notifications.preferences(principal).await?
    } else {
        Vec::new()
    };
    ctx.page(&ProfilePage {
        l: ctx.layout("Profile"),
        name: account.display_name.as_str().to_owned(),
        email: account.email.as_str().to_owned(),
        role: match account.role {
            Role::Student => "Student",
            Role::Support => "Support staff",
            Role::Admin => "Admin",
        },
        preferences: preferences
            .iter()
            .map(|p| PreferenceRow { kind: p.kind.as_str(), topic: p.kind.topic(), email: p.email, digest: p.digest })
            .collect(),
        saved,
    })
}

/// `GET /profile`: the account and its notification preferences.
#[handler]
pub async fn profile(req: &Request, web: Data<&Arc<Web>>, Query(q): Query<Fields>) -> Response {
    respond!(web, req, |ctx| profile_page(&ctx, q.checked("saved")).await)
}

/// `POST /profile`: saves the notification preferences of every kind the form listed.
#[handler]
pub async fn save_preferences(req: &Request, web: Data<&Arc<Web>>, Form(f): Form<Fields>) -> Response {
    respond!(web, req, |ctx| {
        ctx.check_csrf(&f)?;
        let principal = ctx.user()?;
        let changes: Vec<Preference> =
            f.0.iter()
                .filter(|(k, _)| k == "kind")
                .filter_map(|(_, kind)| NotificationKind::parse(kind))
                .map(|kind| Preference {
                    kind,
                    email: f.checked(&format!("email_{}", kind.as_str())),
                    digest: f.checked(&format!("digest_{}", kind.as_str())),
                })
                .collect();
        web.app.notifications.set_preferences(principal, changes).await?;
        Ok(ctx.redirect("/profile?saved=1"))
    })
}

/// One FAQ entry as shown.
pub struct FaqRow {
    id: i64,
    question: String,
    answer_html: String,
}

/// The entries of one category.
pub struct FaqGroup {
    name: String,
    entries: Vec<FaqRow>,
}

#[derive(Template)]
#[template(path = "faq.html")]
struct FaqPage {
    l: Layout,
    q: String,
    groups: Vec<FaqGroup>,
}

/// `GET /faq`: published entries by category, with a search.
#[handler]
pub async fn faq(req: &Request, web: Data<&Arc<Web>>, Query(f): Query<Fields>) -> Response {
    respond!(web, req, |ctx| {
        let q = f.text("q").trim().to_owned();
        let entries = web.app.faq.published(None, Some(q.as_str()).filter(|q| !q.is_empty())).await?;
        let categories = match ctx.principal.as_ref() {
            Some(p) if p.status() == AccountStatus::Active => web.app.categories.list(p).await?,
            _ => Vec::new(),
        };
        let mut groups: Vec<(i64, FaqGroup)> = Vec::new();
        for entry in &entries {
            let cid = entry.category_id.get();
            let row = FaqRow {
                id: entry.id.get(),
                question: entry.question.as_str().to_owned(),
                answer_html: markup::markdown_to_html(entry.answer.as_str()),
            };
            match groups.iter_mut().find(|(id, _)| *id == cid) {
                Some((_, group)) => group.entries.push(row),
                None => {
                    let name = categories
                        .iter()
                        .find(|c| c.id.get() == cid)
                        .map(|c| c.name.as_str().to_owned())
                        .unwrap_or_else(|| "Questions".to_owned());
                    groups.push((cid, FaqGroup { name, entries: vec![row] }));
                }
            }
        }
        ctx.page(&FaqPage { l: ctx.layout("FAQ"), q, groups: groups.into_iter().map(|(_, g)| g).collect() })
    })
}
