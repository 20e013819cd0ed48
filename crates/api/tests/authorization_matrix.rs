//! Who may call what: every operation × every kind of caller, against the expected status,
//! with a check that the table covers every operation of the OpenAPI document and that every
//! status observed is one the document lists for that operation.

mod support;

use std::collections::BTreeSet;

use domain::accounts::Role;
use poem::http::Method;
use serde_json::{json, Value};
use support::{assert_error_shape, FilePart, TestApp, User, PASSWORD, PNG};

/// The kinds of caller, in the column order of [`TABLE`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Actor {
    /// No token.
    Anonymous,
    /// A registered student an admin has not approved yet.
    Pending,
    /// The student who raised the ticket in the path.
    Owner,
    /// Another student.
    Other,
    /// A support member.
    Support,
    /// An admin.
    Admin,
}

const ACTORS: [Actor; 6] = [Actor::Anonymous, Actor::Pending, Actor::Owner, Actor::Other, Actor::Support, Actor::Admin];

/// What each cell gets fresh, so that no cell depends on another.
#[derive(Debug, Clone, Copy)]
enum Setup {
    /// Nothing: the path has no id.
    Nothing,
    /// `{id}` is a new open ticket raised by the owner.
    Ticket,
    /// `{id}` is a new pending account.
    PendingAccount,
    /// `{id}` is a new active account.
    ActiveAccount,
    /// `{id}` is a new deactivated account.
    DeactivatedAccount,
    /// The caller uses a new session of their own (it gets revoked).
    OwnSession,
    /// `{id}` is a new ticket raised by the owner and resolved by an admin.
    ResolvedTicket,
    /// `{id}` is a new ticket of the owner's, merged by an admin into another.
    MergedTicket,
    /// `{id}` is the test category.
    Category,
    /// `{id}` is a new attachment the owner uploaded to a new ticket of theirs.
    Attachment,
    /// `{id}` is a new attachment a support member put on an internal note on a new ticket of
    /// the owner's: hidden like the note, even from the ticket's creator.
    NoteAttachment,
    /// `{id}` is a new attachment a support member put on an internal note on a ticket of the
    /// owner's that was then merged into another one.
    MergedNoteAttachment,
    /// `{id}` is a notification of the owner's (an admin replied on their new ticket).
    OwnersNotification,
    /// `{id}` is a delivery id that does not exist (no dead letters in this test).
    NoSuchDelivery,
    /// `{id}` is a new FAQ draft the admin wrote.
    FaqDraft,
    /// `{id}` is a new published FAQ entry.
    FaqPublished,
    /// `{id}` is a new chat webhook the admin added.
    Webhook,
    /// The query carries a valid unsubscribe token of the owner's (the link needs no session,
    /// so every caller gets the same answer).
    UnsubscribeLink,
}

/// The request body a cell sends.
#[derive(Debug, Clone, Copy)]
enum Body {
    None,
    Registration,
    Credentials,
    /// The token of a fresh registration's confirmation link.
    Confirmation,
    /// An address to send a new confirmation link to.
    Resend,
    Reason,
    Role,
    Category,
    Ticket,
    TicketPatch,
    Assignee,
    Answer,
    MergeTarget,
    Reply,
    Owner,
    /// A PNG as `multipart/form-data`.
    Upload,
    Draft,
    /// Notification preferences.
    Preferences,
    FaqEntry,
    FaqFromTicket,
    FaqPatch,
    Feedback,
    /// A staff member's escalation note.
    Note,
    /// A new private forum thread.
    Thread,
    /// A thread's new visibility.
    Visibility,
    /// A forum account to link.
    ForumAccount,
    /// SLA targets and business hours.
    Sla,
    /// A chat webhook to add.
    Webhook,
    /// Changes to a chat webhook.
    WebhookPatch,
}

/// Method, path as in the OpenAPI document, setup, body, and the expected status for
/// anonymous, pending, owner, other student, support, admin.
const TABLE: &[(&str, &str, Setup, Body, [u16; 6])] = &[
    ("post", "/api/v1/auth/register", Setup::Nothing, Body::Registration, [201, 201, 201, 201, 201, 201]),
    ("post", "/api/v1/auth/login", Setup::Nothing, Body::Credentials, [200, 200, 200, 200, 200, 200]),
    ("post", "/api/v1/auth/confirm", Setup::Nothing, Body::Confirmation, [200, 200, 200, 200, 200, 200]),
    ("get", "/api/v1/auth/confirm", Setup::Nothing, Body::None, [200, 200, 200, 200, 200, 200]),
    ("post", "/api/v1/auth/confirm/resend", Setup::Nothing, Body::Resend, [202, 202, 202, 202, 202, 202]),
    ("post", "/api/v1/auth/logout", Setup::OwnSession, Body::None, [401, 204, 204, 204, 204, 204]),
    ("get", "/api/v1/me", Setup::Nothing, Body::None, [401, 200, 200, 200, 200, 200]),
    ("get", "/api/v1/admin/users", Setup::Nothing, Body::None, [401, 403, 403, 403, 403, 200]),
    ("post", "/api/v1/admin/users/{id}/approve", Setup::PendingAccount, Body::None, [401, 403, 403, 403, 403, 200]),
    ("post", "/api/v1/admin/users/{id}/reject", Setup::PendingAccount, Body::Reason, [401, 403, 403, 403, 403, 200]),
    ("post", "/api/v1/admin/users/{id}/deactivate", Setup::ActiveAccount, Body::Reason, [401, 403, 403, 403, 403, 200]),
    (
        "post",
        "/api/v1/admin/users/{id}/reactivate",
        Setup::DeactivatedAccount,
        Body::None,
        [401, 403, 403, 403, 403, 200],
    ),
    ("put", "/api/v1/admin/users/{id}/role", Setup::ActiveAccount, Body::Role, [401, 403, 403, 403, 403, 200]),
    ("get", "/api/v1/categories", Setup::Nothing, Body::None, [401, 403, 200, 200, 200, 200]),
    ("post", "/api/v1/categories", Setup::Nothing, Body::Category, [401, 403, 403, 403, 403, 201]),
    ("post", "/api/v1/tickets", Setup::Nothing, Body::Ticket, [401, 403, 201, 201, 201, 201]),
    ("get", "/api/v1/tickets", Setup::Nothing, Body::None, [401, 403, 200, 200, 200, 200]),
    ("get", "/api/v1/tickets/{id}", Setup::Ticket, Body::None, [401, 403, 200, 200, 200, 200]),
    ("patch", "/api/v1/tickets/{id}", Setup::Ticket, Body::TicketPatch, [401, 403, 200, 403, 200, 200]),
    ("get", "/api/v1/tickets/{id}/history", Setup::Ticket, Body::None, [401, 403, 200, 200, 200, 200]),
    ("put", "/api/v1/tickets/{id}/vote", Setup::Ticket, Body::None, [401, 403, 403, 200, 403, 403]),
    ("delete", "/api/v1/tickets/{id}/vote", Setup::Ticket, Body::None, [401, 403, 403, 200, 403, 403]),
    ("post", "/api/v1/tickets/{id}/attachments", Setup::Ticket, Body::Upload, [401, 403, 201, 403, 201, 201]),
    ("get", "/api/v1/tickets/{id}/attachments", Setup::Ticket, Body::None, [401, 403, 200, 200, 200, 200]),
    ("get", "/api/v1/attachments/{id}", Setup::Attachment, Body::None, [401, 403, 200, 200, 200, 200]),
    ("get", "/api/v1/attachments/{id}", Setup::NoteAttachment, Body::None, [401, 403, 404, 404, 200, 200]),
    ("get", "/api/v1/attachments/{id}", Setup::MergedNoteAttachment, Body::None, [401, 403, 404, 404, 200, 200]),
    ("get", "/api/v1/tickets/similar", Setup::Nothing, Body::None, [401, 403, 200, 200, 200, 200]),
    ("post", "/api/v1/tickets/similar", Setup::Nothing, Body::Draft, [401, 403, 200, 200, 200, 200]),
    ("get", "/healthz", Setup::Nothing, Body::None, [200, 200, 200, 200, 200, 200]),
    ("get", "/readyz", Setup::Nothing, Body::None, [200, 200, 200, 200, 200, 200]),
    ("put", "/api/v1/categories/{id}/owner", Setup::Category, Body::Owner, [401, 403, 403, 403, 403, 200]),
    ("get", "/api/v1/queue", Setup::Nothing, Body::None, [401, 403, 403, 403, 200, 200]),
    ("get", "/api/v1/queue/counts", Setup::Nothing, Body::None, [401, 403, 403, 403, 200, 200]),
    ("get", "/api/v1/me/activity", Setup::Nothing, Body::None, [401, 403, 403, 403, 200, 200]),
    ("get", "/api/v1/admin/staff", Setup::Nothing, Body::None, [401, 403, 403, 403, 403, 200]),
    ("post", "/api/v1/tickets/{id}/claim", Setup::Ticket, Body::None, [401, 403, 403, 403, 200, 200]),
    ("put", "/api/v1/tickets/{id}/assignee", Setup::Ticket, Body::Assignee, [401, 403, 403, 403, 403, 200]),
    ("get", "/api/v1/tickets/{id}/assignment-suggestion", Setup::Ticket, Body::None, [401, 403, 403, 403, 200, 200]),
    ("post", "/api/v1/tickets/{id}/resolve", Setup::Ticket, Body::Answer, [401, 403, 403, 403, 200, 200]),
    ("post", "/api/v1/tickets/{id}/reopen", Setup::ResolvedTicket, Body::Reason, [401, 403, 200, 403, 200, 200]),
    ("post", "/api/v1/tickets/{id}/merge", Setup::Ticket, Body::MergeTarget, [401, 403, 403, 403, 200, 200]),
    ("post", "/api/v1/tickets/{id}/unmerge", Setup::MergedTicket, Body::None, [401, 403, 403, 403, 200, 200]),
    ("get", "/api/v1/tickets/{id}/replies", Setup::Ticket, Body::None, [401, 403, 200, 200, 200, 200]),
    ("post", "/api/v1/tickets/{id}/replies", Setup::Ticket, Body::Reply, [401, 403, 201, 403, 201, 201]),
    ("put", "/api/v1/tickets/{id}/watch", Setup::Ticket, Body::None, [401, 403, 200, 200, 200, 200]),
    ("delete", "/api/v1/tickets/{id}/watch", Setup::Ticket, Body::None, [401, 403, 200, 200, 200, 200]),
    ("get", "/api/v1/notifications", Setup::Nothing, Body::None, [401, 403, 200, 200, 200, 200]),
    ("get", "/api/v1/notifications/unread-count", Setup::Nothing, Body::None, [401, 403, 200, 200, 200, 200]),
    ("post", "/api/v1/notifications/read-all", Setup::Nothing, Body::None, [401, 403, 200, 200, 200, 200]),
    ("post", "/api/v1/notifications/{id}/read", Setup::OwnersNotification, Body::None, [401, 403, 204, 404, 404, 404]),
    ("get", "/api/v1/me/notification-preferences", Setup::Nothing, Body::None, [401, 403, 200, 200, 200, 200]),
    ("put", "/api/v1/me/notification-preferences", Setup::Nothing, Body::Preferences, [401, 403, 200, 200, 200, 200]),
    ("get", "/api/v1/admin/deliveries/dead", Setup::Nothing, Body::None, [401, 403, 403, 403, 403, 200]),
    ("post", "/api/v1/tickets/{id}/thread", Setup::Ticket, Body::Thread, [401, 403, 409, 403, 409, 409]),
    ("get", "/api/v1/tickets/{id}/thread", Setup::Ticket, Body::None, [401, 403, 404, 404, 404, 404]),
    ("put", "/api/v1/tickets/{id}/thread/visibility", Setup::Ticket, Body::Visibility, [401, 403, 403, 403, 409, 409]),
    ("post", "/api/v1/tickets/{id}/thread/close", Setup::Ticket, Body::None, [401, 403, 403, 403, 409, 409]),
    ("post", "/api/v1/tickets/{id}/thread/reopen", Setup::Ticket, Body::None, [401, 403, 409, 403, 409, 409]),
    (
        "delete",
        "/api/v1/tickets/{id}/thread/posts/{post_id}",
        Setup::Ticket,
        Body::None,
        [401, 403, 403, 403, 403, 409],
    ),
    ("get", "/api/v1/forum/similar", Setup::Nothing, Body::None, [401, 403, 200, 200, 200, 200]),
    ("get", "/api/v1/admin/threads", Setup::Nothing, Body::None, [401, 403, 403, 403, 403, 200]),
    ("get", "/api/v1/admin/threads/active", Setup::Nothing, Body::None, [401, 403, 403, 403, 403, 200]),
    ("get", "/api/v1/me/forum-account", Setup::Nothing, Body::None, [401, 403, 404, 404, 404, 404]),
    ("put", "/api/v1/me/forum-account", Setup::Nothing, Body::ForumAccount, [401, 403, 409, 409, 409, 409]),
    ("delete", "/api/v1/me/forum-account", Setup::Nothing, Body::None, [401, 403, 204, 204, 204, 204]),
    ("post", "/api/v1/tickets/{id}/escalate", Setup::Ticket, Body::Note, [401, 403, 403, 403, 200, 200]),
    ("get", "/api/v1/admin/sla", Setup::Nothing, Body::None, [401, 403, 403, 403, 403, 200]),
    ("put", "/api/v1/admin/sla", Setup::Nothing, Body::Sla, [401, 403, 403, 403, 403, 200]),
    ("get", "/api/v1/admin/chat/webhooks", Setup::Nothing, Body::None, [401, 403, 403, 403, 403, 200]),
    ("post", "/api/v1/admin/chat/webhooks", Setup::Nothing, Body::Webhook, [401, 403, 403, 403, 403, 201]),
    ("patch", "/api/v1/admin/chat/webhooks/{id}", Setup::Webhook, Body::WebhookPatch, [401, 403, 403, 403, 403, 200]),
    ("delete", "/api/v1/admin/chat/webhooks/{id}", Setup::Webhook, Body::None, [401, 403, 403, 403, 403, 204]),
    ("post", "/api/v1/admin/chat/webhooks/{id}/test", Setup::Webhook, Body::None, [401, 403, 403, 403, 403, 200]),
    ("post", "/api/v1/admin/deliveries/{id}/retry", Setup::NoSuchDelivery, Body::None, [401, 403, 403, 403, 403, 404]),
    ("get", "/api/v1/faq", Setup::Nothing, Body::None, [200, 200, 200, 200, 200, 200]),
    ("post", "/api/v1/faq", Setup::Nothing, Body::FaqEntry, [401, 403, 403, 403, 403, 201]),
    ("get", "/api/v1/faq/{id}", Setup::FaqDraft, Body::None, [404, 404, 404, 404, 404, 200]),
    ("patch", "/api/v1/faq/{id}", Setup::FaqDraft, Body::FaqPatch, [401, 403, 403, 403, 403, 200]),
    ("get", "/api/v1/faq/drafts", Setup::Nothing, Body::None, [401, 403, 403, 403, 403, 200]),
    ("post", "/api/v1/faq/drafts", Setup::Nothing, Body::FaqFromTicket, [401, 403, 403, 403, 403, 201]),
    ("get", "/api/v1/faq/candidates", Setup::Nothing, Body::None, [401, 403, 403, 403, 403, 200]),
    ("post", "/api/v1/faq/{id}/publish", Setup::FaqDraft, Body::None, [401, 403, 403, 403, 403, 200]),
    ("post", "/api/v1/faq/{id}/unpublish", Setup::FaqPublished, Body::None, [401, 403, 403, 403, 403, 200]),
    ("post", "/api/v1/faq/{id}/feedback", Setup::FaqPublished, Body::Feedback, [401, 403, 200, 200, 200, 200]),
    ("get", "/api/v1/unsubscribe", Setup::UnsubscribeLink, Body::None, [200, 200, 200, 200, 200, 200]),
    ("post", "/api/v1/unsubscribe", Setup::UnsubscribeLink, Body::None, [200, 200, 200, 200, 200, 200]),
];

struct Cast {
    pending: User,
    owner: User,
    other: User,
    support: User,
}

impl Cast {
    fn user<'a>(&'a self, app: &'a TestApp, actor: Actor) -> Option<&'a User> {
        match actor {
            Actor::Anonymous => None,
            Actor::Pending => Some(&self.pending),
            Actor::Owner => Some(&self.owner),
            Actor::Other => Some(&self.other),
            Actor::Support => Some(&self.support),
            Actor::Admin => Some(&app.admin),
        }
    }
}

/// Prepares a cell: the concrete path and the token to send.
async fn prepare(app: &TestApp, cast: &Cast, actor: Actor, template: &str, setup: Setup) -> (String, Option<String>) {
    let user = cast.user(app, actor);
    let mut token = user.map(|u| u.token.clone());
    let id = match setup {
        Setup::Nothing | Setup::UnsubscribeLink => None,
        Setup::Ticket => Some(app.ticket(&cast.owner).number().await),
        Setup::PendingAccount => Some(app.register(Role::Student).await.0),
        Setup::ActiveAccount => Some(app.student().await.id),
        Setup::DeactivatedAccount => {
            let target = app.student().await;
            app.post(
                &format!("/api/v1/admin/users/{}/deactivate", target.id),
                &app.admin.token,
                json!({ "reason": "matrix setup" }),
            )
            .await
            .expect(200);
            Some(target.id)
        }
        Setup::OwnSession => {
            if let Some(user) = user {
                token = Some(app.login(&user.email).await);
            }
            None
        }
        Setup::ResolvedTicket => {
            let n = app.ticket(&cast.owner).number().await;
            app.post(&format!("/api/v1/tickets/{n}/resolve"), &app.admin.token, json!({ "answer": "Done." }))
                .await
                .expect(200);
            Some(n)
        }
        Setup::MergedTicket => {
            let source = app.ticket(&cast.owner).number().await;
            let target = app.ticket(&cast.other).number().await;
            app.post(&format!("/api/v1/tickets/{source}/merge"), &app.admin.token, json!({ "target": target }))
                .await
                .expect(200);
            Some(source)
        }
        Setup::Category => Some(app.category_id),
        Setup::OwnersNotification => {
            let n = app.ticket(&cast.owner).number().await;
            app.post(&format!("/api/v1/tickets/{n}/replies"), &app.admin.token, json!({ "body": "Noted." }))
                .await
                .expect(201);
            let inbox = app.get("/api/v1/notifications?limit=1", &cast.owner.token).await.expect(200);
            Some(inbox.body["items"][0]["id"].as_i64().expect("the owner was notified"))
        }
        Setup::NoSuchDelivery => Some(999_999),
        Setup::Webhook => {
            let body = json!({
                "name": format!("Matrix space {}", app.next()),
                "url": "https://chat.googleapis.com/v1/spaces/MATRIX/messages?key=k&token=t",
            });
            Some(
                app.post("/api/v1/admin/chat/webhooks", &app.admin.token, body).await.expect(201).body["id"]
                    .as_i64()
                    .unwrap(),
            )
        }
        Setup::FaqDraft | Setup::FaqPublished => {
            let body = json!({ "question": format!("Matrix question {}", app.next()), "answer": "An answer.", "category_id": app.category_id });
            let id = app.post("/api/v1/faq", &app.admin.token, body).await.expect(201).body["id"].as_i64().unwrap();
            if matches!(setup, Setup::FaqPublished) {
                app.post(&format!("/api/v1/faq/{id}/publish"), &app.admin.token, json!({})).await.expect(200);
            }
            Some(id)
        }
        Setup::Attachment => {
            let number = app.ticket(&cast.owner).number().await;
            let file = FilePart::file("matrix.png", "image/png", PNG);
            let reply = app.upload(number, Some(&cast.owner.token), file).await.expect(201);
            Some(reply.body["id"].as_i64().unwrap())
        }
        Setup::NoteAttachment | Setup::MergedNoteAttachment => {
            let number = app.ticket(&cast.owner).number().await;
            let id = app.note_attachment(number, &cast.support).await;
            if matches!(setup, Setup::MergedNoteAttachment) {
                let target = app.ticket(&cast.other).number().await;
                app.post(&format!("/api/v1/tickets/{number}/merge"), &app.admin.token, json!({ "target": target }))
                    .await
                    .expect(200);
            }
            Some(id)
        }
    };
    let path = match id {
        // A second parameter (a forum post) names nothing that exists.
        Some(id) => template.replace("{id}", &id.to_string()).replace("{post_id}", "987654"),
        None => {
            assert!(!template.contains('{'), "{template} needs a setup that provides its id");
            template.to_owned()
        }
    };
    let path = match setup {
        Setup::UnsubscribeLink => {
            use domain::notifications::{NotificationKind, UnsubscribeScope, UnsubscribeTokens as _};
            let scope = UnsubscribeScope::Kind(NotificationKind::Reply);
            let link = app.unsubscribe.sign(domain::accounts::UserId::new(cast.owner.id), scope);
            format!("{path}?token={link}")
        }
        _ => path,
    };
    (path, token)
}

async fn body(app: &TestApp, cast: &Cast, body: Body) -> Option<Value> {
    let n = app.next();
    match body {
        Body::None => None,
        Body::Registration => Some(json!({
            "email": format!("matrix{n}@uni.edu"),
            "display_name": format!("Matrix {n}"),
            "password": PASSWORD,
            "role": "student",
        })),
        Body::Credentials => Some(json!({ "email": cast.owner.email, "password": PASSWORD })),
        Body::Confirmation => {
            let (_, email) = app.register(Role::Student).await;
            Some(json!({ "token": app.confirmation_token(&email).await }))
        }
        Body::Resend => Some(json!({ "email": app.register(Role::Student).await.1 })),
        Body::Reason => Some(json!({ "reason": "matrix" })),
        Body::Role => Some(json!({ "role": "support" })),
        Body::Category => Some(json!({ "name": format!("Category {n}") })),
        Body::Ticket => Some(json!({ "title": format!("Matrix ticket {n}"), "category_id": app.category_id })),
        Body::TicketPatch => Some(json!({ "title": format!("Edited in the matrix {n}") })),
        Body::Assignee => Some(json!({ "assignee_id": null })),
        Body::Answer => Some(json!({ "answer": "Here is what to do." })),
        Body::MergeTarget => Some(json!({ "target": app.ticket(&cast.other).number().await })),
        Body::Reply => Some(json!({ "body": "A reply from the matrix." })),
        Body::Owner => Some(json!({ "owner_id": null })),
        Body::Preferences => Some(json!([{ "kind": "reply", "email": false, "digest": false }])),
        Body::FaqEntry => Some(
            json!({ "question": format!("Matrix question {n}"), "answer": "An answer.", "category_id": app.category_id }),
        ),
        Body::FaqFromTicket => {
            let t = app.ticket(&cast.owner).number().await;
            app.post(&format!("/api/v1/tickets/{t}/resolve"), &app.admin.token, json!({ "answer": "Done." }))
                .await
                .expect(200);
            Some(json!({ "from_ticket": t }))
        }
        Body::FaqPatch => Some(json!({ "position": 3 })),
        Body::Feedback => Some(json!({ "helpful": true })),
        Body::Note => Some(json!({ "note": "Needs a decision from the program office" })),
        Body::Thread => Some(json!({ "visibility": "private" })),
        Body::Visibility => Some(json!({ "visibility": "public" })),
        Body::ForumAccount => Some(json!({ "username": "ada_forum" })),
        Body::Sla => {
            let t = json!({ "first_response_minutes": 60, "resolution_minutes": 480 });
            Some(json!({ "targets": { "low": t, "medium": t, "high": t, "urgent": t }, "business_hours": null }))
        }
        Body::Webhook => Some(json!({
            "name": format!("Space {n}"),
            "url": format!("https://chat.googleapis.com/v1/spaces/S{n}/messages?key=k&token=t"),
            "priority": "urgent",
        })),
        Body::WebhookPatch => Some(json!({ "name": format!("Renamed {n}"), "priority": null })),
        Body::Upload => unreachable!("uploads are multipart, sent by `TestApp::upload`"),
        Body::Draft => Some(json!({ "title": "Matrix ticket", "description": "a draft" })),
    }
}

fn method(name: &str) -> Method {
    name.to_uppercase().parse().expect("an HTTP method")
}

#[tokio::test]
async fn the_table_covers_every_operation_in_the_openapi_document() {
    let spec: Value = serde_json::from_str(&api::openapi_json()).unwrap();
    let documented: BTreeSet<(String, String)> = spec["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, ops)| ops.as_object().unwrap().keys().map(move |m| (m.clone(), path.clone())))
        .collect();
    let tabled: BTreeSet<(String, String)> =
        TABLE.iter().map(|(m, p, ..)| ((*m).to_owned(), (*p).to_owned())).collect();
    // An operation may have several rows, one per kind of resource it is tried on.
    let rows: BTreeSet<(String, String, String)> =
        TABLE.iter().map(|(m, p, setup, ..)| ((*m).to_owned(), (*p).to_owned(), format!("{setup:?}"))).collect();
    assert_eq!(rows.len(), TABLE.len(), "a row appears twice in the table");
    assert_eq!(tabled, documented, "table and OpenAPI document differ");
}

#[tokio::test]
async fn every_caller_gets_the_expected_status_on_every_operation() {
    let app = TestApp::spawn().await;
    let cast = Cast {
        pending: app.pending(Role::Student).await,
        owner: app.student().await,
        other: app.student().await,
        support: app.support().await,
    };
    let spec: Value = serde_json::from_str(&api::openapi_json()).unwrap();

    let mut failures = Vec::new();
    for &(verb, template, setup, body_kind, expected) in TABLE {
        for (actor, expected) in ACTORS.into_iter().zip(expected) {
            let (path, token) = prepare(&app, &cast, actor, template, setup).await;
            let reply = match body_kind {
                Body::Upload => {
                    let number: i64 = path.split('/').nth(4).and_then(|n| n.parse().ok()).expect("a ticket number");
                    app.upload(number, token.as_deref(), FilePart::file("matrix.png", "image/png", PNG)).await
                }
                _ => app.call(method(verb), &path, token.as_deref(), body(&app, &cast, body_kind).await).await,
            };
            if reply.status != expected {
                failures.push(format!(
                    "{verb} {path} as {actor:?}: expected {expected}, got {} {}",
                    reply.status, reply.body
                ));
                continue;
            }
            if reply.status >= 400 {
                assert_error_shape(&reply.body);
            }
            let documented = &spec["paths"][template][verb]["responses"];
            if documented.get(reply.status.to_string()).is_none() {
                failures
                    .push(format!("{verb} {template} answered {} as {actor:?}, which is not documented", reply.status));
            }
        }
    }
    assert!(failures.is_empty(), "{} cells failed:\n{}", failures.len(), failures.join("\n"));
}
