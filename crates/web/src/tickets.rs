//! Tickets: raising one (with suggestions), my tickets, the ticket page and its actions.

use std::sync::Arc;

use askama::Template;
use domain::{
    accounts::{Principal, Role},
    attachments::{AttachmentId, UploadDraft},
    similarity::{Draft, Suggested, SuggestionLimit},
    tickets::{policy, Priority, Status, TicketDraft, TicketFilter, TicketId, TicketPatch},
};
use poem::{
    handler,
    http::{header, StatusCode},
    web::{Data, Form, Multipart, Path, Query},
    Request, Response,
};

use crate::{
    context::{Ctx, Layout, Web},
    fail::{respond, sentence, Fail},
    forms::{encode, Errors, Fields},
    pages::local,
    views::{change_label, priority_label, status_label, when, Choice, TicketRow},
};

/// A suggestion in the similar-tickets panel.
pub struct SuggestionRow {
    /// A ticket's number, or `None` for an FAQ entry.
    number: Option<i64>,
    title: String,
    snippet: String,
    status: &'static str,
    votes: u32,
    voted: bool,
    may_vote: bool,
}

/// What the similar-tickets panel shows.
pub struct Panel {
    /// Whether a search ran (to say "nothing found" rather than nothing).
    searched: bool,
    items: Vec<SuggestionRow>,
}

#[derive(Template)]
#[template(path = "similar.html")]
struct SimilarFragment {
    l: Layout,
    panel: Panel,
}

async fn suggestions(web: &Web, principal: &Principal, title: &str, description: &str) -> Result<Panel, Fail> {
    if title.trim().is_empty() && description.trim().is_empty() {
        return Ok(Panel { searched: false, items: Vec::new() });
    }
    let Ok(draft) = Draft::parse(title, description) else {
        return Ok(Panel { searched: false, items: Vec::new() });
    };
    let found = web.app.similarity.suggest(principal, &draft, SuggestionLimit::new(Some(5))?).await?;
    let items = found
        .items
        .into_iter()
        .map(|s| match s.item {
            Suggested::Ticket { view, may_vote } => SuggestionRow {
                number: Some(view.ticket.id().get()),
                title: view.ticket.title().as_str().to_owned(),
                snippet: s.snippet,
                status: status_label(view.ticket.status()),
                votes: view.ticket.vote_count(),
                voted: view.voted,
                may_vote,
            },
            Suggested::Faq(entry) => SuggestionRow {
                number: None,
                title: entry.question.clone(),
                snippet: s.snippet,
                status: "FAQ",
                votes: 0,
                voted: false,
                may_vote: false,
            },
        })
        .collect();
    Ok(Panel { searched: true, items })
}

/// `GET /tickets/similar?title=..&description=..`: the panel alone, for the script that
/// refreshes it while the student types.
#[handler]
pub async fn similar_panel(req: &Request, web: Data<&Arc<Web>>, Query(q): Query<Fields>) -> Response {
    respond!(web, req, |ctx| {
        let principal = ctx.user()?;
        let panel = suggestions(&web, principal, &q.text("title"), &q.text("description")).await?;
        ctx.page(&SimilarFragment { l: ctx.layout("Similar tickets"), panel })
    })
}

#[derive(Template)]
#[template(path = "new_ticket.html")]
struct NewTicketPage {
    l: Layout,
    title: String,
    description: String,
    tags: String,
    categories: Vec<Choice>,
    priorities: Vec<Choice>,
    errors: Errors,
    panel: Panel,
    /// Whether the forum is on (the thread choice is hidden otherwise).
    forum_on: bool,
    /// The thread asked for: `none`, `private` or `public`.
    thread: String,
}

/// The forum thread a new-ticket form asks for, if any (`private` or `public`).
fn thread_choice(f: &Fields) -> Option<domain::forum::Visibility> {
    match f.get("thread") {
        Some("private") => Some(domain::forum::Visibility::Private),
        Some("public") => Some(domain::forum::Visibility::Public),
        _ => None,
    }
}

async fn new_ticket_page(
    ctx: &Ctx<'_>,
    principal: &Principal,
    f: &Fields,
    errors: Errors,
    panel: Panel,
) -> Result<Response, Fail> {
    let categories = ctx.web.app.categories.list(principal).await?;
    let current = f.text("category_id");
    let categories = categories
        .iter()
        .map(|c| Choice {
            value: c.id.get().to_string(),
            label: c.name.as_str().to_owned(),
            selected: c.id.get().to_string() == current,
        })
        .collect();
    let priority = f.get("priority").unwrap_or("medium");
    let page = NewTicketPage {
        l: ctx.layout("New ticket"),
        title: f.text("title"),
        description: f.text("description"),
        tags: f.text("tags"),
        categories,
        priorities: Choice::list([("low", "Low"), ("medium", "Medium"), ("high", "High")], priority),
        panel,
        errors,
        forum_on: ctx.web.config.forum && ctx.web.app.forum.enabled(),
        thread: f.get("thread").unwrap_or("none").to_owned(),
    };
    let status = if page.errors.any() { StatusCode::UNPROCESSABLE_ENTITY } else { StatusCode::OK };
    ctx.page_with(status, &page)
}

fn student(ctx: &Ctx<'_>) -> Result<Principal, Fail> {
    let principal = ctx.user()?.clone();
    if principal.role() != Role::Student {
        return Err(Fail::Forbidden("Only students raise tickets.".into()));
    }
    Ok(principal)
}

/// `GET /tickets/new`.
#[handler]
pub async fn new_page(req: &Request, web: Data<&Arc<Web>>) -> Response {
    respond!(web, req, |ctx| {
        let principal = student(&ctx)?;
        new_ticket_page(&ctx, &principal, &Fields::default(), Errors::none(), Panel { searched: false, items: vec![] })
            .await
    })
}

/// A file part of a form.
struct Upload {
    name: Option<String>,
    bytes: Vec<u8>,
}

/// Reads a multipart form: its text fields and its one file (if one was chosen).
async fn read_multipart(mut multipart: Multipart) -> Result<(Fields, Option<Upload>), Fail> {
    let unreadable = || Fail::Status(StatusCode::BAD_REQUEST, "The form could not be read. Try again.".into());
    let mut fields = Fields::default();
    let mut upload = None;
    while let Some(field) = multipart.next_field().await.map_err(|_| unreadable())? {
        let name = field.name().unwrap_or_default().to_owned();
        if name == "attachment" {
            let file_name = field.file_name().map(str::to_owned);
            let bytes = field.bytes().await.map_err(|e| match e.to_string().contains("too large") {
                true => Fail::Status(StatusCode::PAYLOAD_TOO_LARGE, "The file is too large.".into()),
                false => unreadable(),
            })?;
            if !bytes.is_empty() {
                upload = Some(Upload { name: file_name, bytes });
            }
        } else {
            let text = field.text().await.map_err(|_| unreadable())?;
            fields.0.push((name, text));
        }
    }
    Ok((fields, upload))
}

/// `POST /tickets/new`: "Check for similar" shows the panel; "Submit ticket" raises it (and
/// attaches the file, if one was chosen).
#[handler]
pub async fn create(req: &Request, web: Data<&Arc<Web>>, multipart: Multipart) -> Response {
    respond!(web, req, |ctx| {
        let (f, upload) = read_multipart(multipart).await?;
        ctx.check_csrf(&f)?;
        let principal = student(&ctx)?;
        let (title, description) = (f.text("title"), f.text("description"));
        if f.get("action") == Some("check") {
            let panel = suggestions(&web, &principal, &title, &description).await?;
            return new_ticket_page(&ctx, &principal, &f, Errors::none(), panel).await;
        }
        let mut errors = Errors::none();
        let category_id = match f.text("category_id").parse::<i64>() {
            Ok(id) => id,
            Err(_) => {
                errors.add("category_id", "Choose a category.");
                0
            }
        };
        let priority = Priority::parse(&f.text("priority"));
        if priority.is_none() {
            errors.add("priority", "Choose a priority.");
        }
        let tags: Vec<String> =
            f.text("tags").split(',').map(|t| t.trim().to_owned()).filter(|t| !t.is_empty()).collect();
        if !errors.any() {
            let draft = TicketDraft { title, description, category_id, tags, priority, follow_up_of: None };
            match web.app.tickets.create(&principal, draft).await {
                Ok(view) => {
                    let number = view.ticket.id().get();
                    let mut problems: Vec<String> = Vec::new();
                    if let Some(upload) = upload {
                        let draft = UploadDraft { file_name: upload.name, reply_id: None, bytes: upload.bytes };
                        if let Err(e) = web.app.attachments.upload(&principal, view.ticket.id(), draft).await {
                            problems.push(format!("upload={}", upload_problem(e)?));
                        }
                    }
                    // The ticket is raised whatever happens to its thread: a refusal becomes a
                    // notice on the ticket page, whose "Create forum thread" can try again.
                    if let Some(visibility) = thread_choice(&f).filter(|_| web.config.forum && web.app.forum.enabled())
                    {
                        if let Err(e) = web.app.forum.create(&principal, view.ticket.id(), visibility).await {
                            tracing::warn!(ticket = number, error = %e, "the forum thread asked for with a new ticket was refused");
                            problems.push("thread=refused".to_owned());
                        }
                    }
                    let to = match problems.is_empty() {
                        true => format!("/tickets/{number}"),
                        false => format!("/tickets/{number}?{}", problems.join("&")),
                    };
                    return Ok(ctx.redirect(&to));
                }
                Err(domain::Error::Invalid { field, message, .. }) => errors.add(field, sentence(&message)),
                Err(domain::Error::UnknownReference { field, resource }) => {
                    errors.add(field, sentence(&format!("{resource} not found")))
                }
                Err(domain::Error::Forbidden(domain::Forbidden::PriorityNotAllowed)) => {
                    errors.add("priority", "Students may ask for at most high priority.")
                }
                Err(other) => return Err(other.into()),
            }
        }
        new_ticket_page(&ctx, &principal, &f, errors, Panel { searched: false, items: vec![] }).await
    })
}

/// A refused upload's code for the ticket page's notice; other failures stay failures.
fn upload_problem(e: domain::Error) -> Result<&'static str, Fail> {
    match e {
        domain::Error::TooLarge { .. } => Ok("too_large"),
        domain::Error::UnsupportedMediaType { .. } => Ok("unsupported"),
        domain::Error::Conflict(_) | domain::Error::Invalid { .. } | domain::Error::Forbidden(_) => Ok("refused"),
        other => Err(other.into()),
    }
}

#[derive(Template)]
#[template(path = "my_tickets.html")]
struct MyTicketsPage {
    l: Layout,
    statuses: Vec<Choice>,
    priorities: Vec<Choice>,
    upvoted: bool,
    rows: Vec<TicketRow>,
    next: Option<String>,
}

/// `GET /tickets`: the student's tickets (or those they upvoted), filtered, a page at a time.
#[handler]
pub async fn my_tickets(req: &Request, web: Data<&Arc<Web>>, Query(q): Query<Fields>) -> Response {
    respond!(web, req, |ctx| {
        let principal = ctx.user()?;
        let (status, priority) = (q.text("status"), q.text("priority"));
        let upvoted = q.get("upvoted") == Some("1");
        let filter = TicketFilter {
            status: Status::parse(&status),
            priority: Priority::parse(&priority),
            mine: !upvoted,
            voted_by_me: upvoted,
            limit: Some(20),
            cursor: q.get("cursor").map(Into::into),
            ..TicketFilter::default()
        };
        let page = web.app.tickets.list(principal, filter).await?;
        let mut statuses = vec![("", "Any status")];
        statuses.extend(Status::ALL.iter().map(|s| (s.as_str(), status_label(*s))));
        let mut priorities = vec![("", "Any priority")];
        priorities.extend(Priority::ALL.iter().map(|p| (p.as_str(), priority_label(*p))));
        let next = page.next_cursor.map(|c| {
            format!(
                "/tickets?status={}&priority={}{}&cursor={}",
                encode(&status),
                encode(&priority),
                if upvoted { "&upvoted=1" } else { "" },
                encode(&c)
            )
        });
        ctx.page(&MyTicketsPage {
            l: ctx.layout("My tickets"),
            statuses: Choice::list(statuses, &status),
            priorities: Choice::list(priorities, &priority),
            upvoted,
            rows: page.items.iter().map(TicketRow::from).collect(),
            next,
        })
    })
}

/// A reply or note as shown.
pub struct ReplyRow {
    author: String,
    body_html: String,
    internal: bool,
    at: String,
}

/// A history entry as shown.
pub struct EventRow {
    what: String,
    who: String,
    at: String,
}

/// A forum post as shown (Discourse's HTML, sanitised again here).
pub struct PostRow {
    username: String,
    html: String,
    at: String,
}

/// The ticket's forum thread as shown.
pub struct ThreadRow {
    url: Option<String>,
    state: &'static str,
    public: bool,
    closed: bool,
    posts: Vec<PostRow>,
}

/// An attachment as listed.
pub struct AttachmentRow {
    id: i64,
    name: String,
    size: String,
}

/// What the ticket page shows and offers.
#[derive(Template)]
#[template(path = "ticket.html")]
struct TicketPage {
    l: Layout,
    t: TicketRow,
    description_html: String,
    category: String,
    tags: Vec<String>,
    resolution_html: Option<String>,
    merged_into: Option<i64>,
    watching: bool,
    replies: Vec<ReplyRow>,
    history: Vec<EventRow>,
    attachments: Vec<AttachmentRow>,
    is_staff: bool,
    may_vote: bool,
    may_reply: bool,
    may_reopen: bool,
    may_watch: bool,
    is_open: bool,
    priorities: Vec<Choice>,
    errors: Errors,
    kept: Fields,
    notice: Option<&'static str>,
    /// Whether the forum is on (its section is hidden otherwise).
    forum_on: bool,
    thread: Option<ThreadRow>,
    may_start_thread: bool,
}

async fn ticket_page_for(
    ctx: &Ctx<'_>,
    number: i64,
    errors: Errors,
    kept: Fields,
    notice: Option<&'static str>,
) -> Result<Response, Fail> {
    let principal = ctx.user()?;
    let app = &ctx.web.app;
    let id = TicketId::new(number);
    let view = app.tickets.get(principal, id).await?;
    let replies = app.conversation.replies(principal, id).await?;
    let history = app.tickets.history(principal, id).await?;
    let attachments = app.attachments.list(principal, id).await?;
    let categories = app.categories.list(principal).await?;
    let t = &view.ticket;
    let is_staff = principal.role().is_staff();
    let is_creator = t.creator_id() == principal.id();
    let status = t.status();
    let is_open = matches!(status, Status::Open | Status::InProgress);
    let forum_on = ctx.web.config.forum && app.forum.enabled();
    let thread = if forum_on { app.forum.thread(principal, id).await? } else { None };
    let may_start_thread =
        forum_on && thread.is_none() && (is_staff || is_creator) && !matches!(status, Status::Closed | Status::Merged);
    let thread = thread.map(|v| ThreadRow {
        url: v.thread.url.clone(),
        state: match v.thread.state {
            domain::forum::ThreadState::Pending => "Being opened",
            domain::forum::ThreadState::Open => "Open",
            domain::forum::ThreadState::Closed => "Closed",
            domain::forum::ThreadState::Archived => "Archived",
        },
        public: v.thread.visibility == domain::forum::Visibility::Public,
        closed: matches!(v.thread.state, domain::forum::ThreadState::Closed | domain::forum::ThreadState::Archived),
        posts: v
            .posts
            .unwrap_or_default()
            .iter()
            .map(|p| PostRow {
                username: p.username.clone(),
                html: markup::sanitize_html(&p.cooked),
                at: when(p.created_at),
            })
            .collect(),
    });
    let page = TicketPage {
        l: ctx.layout(format!("#{number} {}", t.title().as_str())),
        t: TicketRow::from(&view),
        description_html: markup::markdown_to_html(t.description().as_str()),
        category: categories
            .iter()
            .find(|c| c.id == t.category_id())
            .map(|c| c.name.as_str().to_owned())
            .unwrap_or_default(),
        tags: t.tags().to_strings(),
        resolution_html: t.resolution().map(|r| markup::markdown_to_html(r.answer.as_str())),
        merged_into: t.merged_into().map(TicketId::get),
        watching: view.watching,
        replies: replies
            .iter()
            .map(|r| ReplyRow {
                author: r.author.display_name.clone(),
                body_html: markup::markdown_to_html(r.body.as_str()),
                internal: r.internal,
                at: when(r.created_at),
            })
            .collect(),
        history: history
            .iter()
            .map(|e| EventRow {
                what: change_label(e.change.kind()),
                who: match &e.actor {
                    domain::actor::EventActor::User(u) => u.display_name.clone(),
                    domain::actor::EventActor::System => "osts".into(),
                    domain::actor::EventActor::Integration(domain::actor::Integration::Forum) => "Forum".into(),
                    domain::actor::EventActor::Integration(domain::actor::Integration::Chat) => "Chat".into(),
                    domain::actor::EventActor::Hidden => "A student".into(),
                },
                at: when(e.at),
            })
            .collect(),
        attachments: attachments
            .iter()
            .map(|a| AttachmentRow {
                id: a.id.get(),
                name: a.file_name.as_str().to_owned(),
                size: format!("{} KB", a.size_bytes.div_ceil(1024)),
            })
            .collect(),
        is_staff,
        may_vote: policy::may_vote(principal, t).is_ok(),
        may_reply: is_open && (is_staff || is_creator || view.watching),
        may_reopen: status == Status::Resolved && (is_staff || is_creator),
        may_watch: !is_creator && status != Status::Merged,
        is_open,
        priorities: Choice::list(Priority::ALL.iter().map(|p| (p.as_str(), priority_label(*p))), t.priority().as_str()),
        errors,
        kept,
        notice,
        forum_on,
        thread,
        may_start_thread,
    };
    let status = if page.errors.any() { StatusCode::UNPROCESSABLE_ENTITY } else { StatusCode::OK };
    ctx.page_with(status, &page)
}

/// `GET /tickets/{number}`.
#[handler]
pub async fn ticket_page(
    req: &Request,
    web: Data<&Arc<Web>>,
    Path(number): Path<i64>,
    Query(q): Query<Fields>,
) -> Response {
    respond!(web, req, |ctx| {
        let notice = match q.get("upload") {
            Some("too_large") => Some("The ticket was raised, but the file was too large to attach (5 MiB at most)."),
            Some("unsupported") => {
                Some("The ticket was raised, but the file was not attached: only images and PDF files are accepted.")
            }
            Some(_) => Some("The ticket was raised, but the file could not be attached."),
            None if q.get("thread").is_some() => {
                Some("The ticket was raised, but its forum thread could not be opened. Ask for one again below.")
            }
            None => None,
        };
        ticket_page_for(&ctx, number, Errors::none(), Fields::default(), notice).await
    })
}

/// `POST /tickets/{number}/{action}`: one action on a ticket; a refused action shows the page
/// again with the message beside its form and the text kept.
#[handler]
pub async fn act(
    req: &Request,
    web: Data<&Arc<Web>>,
    Path((number, action)): Path<(i64, String)>,
    Form(f): Form<Fields>,
) -> Response {
    respond!(web, req, |ctx| {
        ctx.check_csrf(&f)?;
        let principal = ctx.user()?;
        let app = &web.app;
        let id = TicketId::new(number);
        let done: Result<(), domain::Error> = match action.as_str() {
            "vote" | "unvote" => {
                let result = if action == "vote" {
                    app.votes.cast(principal, id).await
                } else {
                    app.votes.retract(principal, id).await
                };
                match result {
                    Ok((_, outcome)) if wants_json(req) => {
                        let body = serde_json::json!({ "votes": outcome.vote_count(), "voted": action == "vote" });
                        return Ok(Response::builder().content_type("application/json").body(body.to_string()));
                    }
                    other => other.map(|_| ()),
                }
            }
            "watch" => app.conversation.watch(principal, id).await.map(|_| ()),
            "unwatch" => app.conversation.unwatch(principal, id).await.map(|_| ()),
            "reply" => app.conversation.reply(principal, id, &f.text("body"), false).await.map(|_| ()),
            "note" => app.conversation.reply(principal, id, &f.text("note"), true).await.map(|_| ()),
            "reopen" => app.workflow.reopen(principal, id, &f.text("reason")).await.map(|_| ()),
            "claim" => app.workflow.claim(principal, id).await.map(|_| ()),
            "resolve" => app.workflow.resolve(principal, id, &f.text("answer")).await.map(|_| ()),
            "escalate" => app.escalation.escalate(principal, id, &f.text("escalation_note")).await.map(|_| ()),
            "priority" => match Priority::parse(&f.text("priority")) {
                Some(priority) => {
                    let patch = TicketPatch { priority: Some(priority), ..TicketPatch::default() };
                    app.tickets.edit(principal, id, patch).await.map(|_| ())
                }
                None => Err(domain::Error::invalid("priority", "invalid", "choose a priority")),
            },
            "merge" => match f.text("target").trim().trim_start_matches('#').parse::<i64>() {
                Ok(target) => app.workflow.merge(principal, id, TicketId::new(target)).await.map(|_| ()),
                Err(_) => {
                    Err(domain::Error::invalid("target", "invalid", "give the number of the ticket to merge into"))
                }
            },
            "thread" => {
                let visibility = match f.get("visibility") {
                    Some("public") => domain::forum::Visibility::Public,
                    _ => domain::forum::Visibility::Private,
                };
                app.forum.create(principal, id, visibility).await.map(|_| ())
            }
            "thread-close" => app.forum.set_closed(principal, id, true).await.map(|_| ()),
            "thread-reopen" => app.forum.set_closed(principal, id, false).await.map(|_| ()),
            "thread-public" => {
                app.forum.set_visibility(principal, id, domain::forum::Visibility::Public).await.map(|_| ())
            }
            "thread-private" => {
                app.forum.set_visibility(principal, id, domain::forum::Visibility::Private).await.map(|_| ())
            }
            _ => return Err(Fail::NotFound),
        };
        match done {
            Ok(()) => Ok(ctx.redirect(&local(f.get("back"), &format!("/tickets/{number}")))),
            Err(
                e @ (domain::Error::Invalid { .. }
                | domain::Error::UnknownReference { .. }
                | domain::Error::Conflict(_)
                | domain::Error::Forbidden(_)),
            ) => {
                if wants_json(req) {
                    return Err(e.into());
                }
                let message = match &e {
                    domain::Error::Invalid { message, .. } => sentence(message),
                    other => sentence(&other.to_string()),
                };
                let form = match action.as_str() {
                    "vote" | "unvote" | "watch" | "unwatch" => "votes",
                    a if a.starts_with("thread") => "thread",
                    other => other,
                };
                ticket_page_for(&ctx, number, Errors::one(form, message), f.clone(), None).await
            }
            Err(other) => Err(other.into()),
        }
    })
}

/// Whether the script sent the form and wants JSON back rather than a redirect.
fn wants_json(req: &Request) -> bool {
    req.headers().get("x-requested-with").and_then(|v| v.to_str().ok()) == Some("fetch")
}

/// `GET /attachments/{id}`: the file, for those who may see its ticket.
#[handler]
pub async fn download(req: &Request, web: Data<&Arc<Web>>, Path(id): Path<i64>) -> Response {
    respond!(web, req, |ctx| {
        let principal = ctx.user()?;
        let (attachment, bytes) = web.app.attachments.download(principal, AttachmentId::new(id)).await?;
        let name: String = attachment
            .file_name
            .as_str()
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() || ".-_ ".contains(c) { c } else { '_' })
            .collect();
        Ok(Response::builder()
            .content_type(attachment.media_type.as_str())
            .header(header::CONTENT_DISPOSITION, format!("attachment; filename=\"{name}\""))
            .header(header::CACHE_CONTROL, "private, no-store")
            .body(bytes))
    })
}
