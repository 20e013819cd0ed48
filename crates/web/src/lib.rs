//! The osts web app: server-rendered pages for students, support staff and admins.
//!
//! [`routes`] is the app's part of the route tree, mounted by the server at `/` beside the
//! API. Pages call the same domain services as the API (never the API over HTTP); templates
//! are compiled and checked with askama; the one stylesheet and the one script are embedded
//! in the binary ([`assets`]). Every action works without JavaScript: the script only
//! enhances (suggestions while typing, +1 without a reload).
//!
//! ```text
//! /                      home (by role), or the welcome page
//! /signin /signout /register /profile /notifications /faq
//! /tickets/new /tickets /tickets/{number} (+ its actions) /attachments/{id}
//! /queue /activity       support and admins
//! /admin /admin/accounts /admin/users /admin/categories /admin/faq /admin/webhooks
//! /admin/sla /admin/dead-letters    admins
//! /static/app.css /static/app.js
//! ```

use std::sync::Arc;

use poem::{
    get,
    http::{header, HeaderValue, StatusCode},
    post, Endpoint, EndpointExt as _, Response, Route,
};

mod admin;
mod assets;
mod auth;
mod context;
mod fail;
mod forms;
mod pages;
mod session;
mod staff;
mod tickets;
mod views;

pub use context::Web;

/// The domain services the pages call.
pub use domain::Services as App;

/// How the app is served.
#[derive(Debug, Clone, Default)]
pub struct WebConfig {
    /// Whether cookies get `Secure` (the public URL is `https`).
    pub secure_cookies: bool,
    /// Whether the Discourse forum is on (its options are hidden otherwise).
    pub forum: bool,
}

/// The `Content-Security-Policy` of every page: scripts, styles and requests from osts only,
/// no inline script, no framing, forms posting to osts only.
pub const PAGE_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
     connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

/// The web app's routes, to be mounted at `/` (inside the shared middleware, which adds the
/// other security headers).
pub fn routes(app: App, config: WebConfig) -> impl Endpoint<Output = Response> {
    let web = Arc::new(Web::new(app, config));
    Route::new()
        .at("/", get(pages::home))
        .at("/signin", get(auth::signin_page).post(auth::signin))
        .at("/signout", post(auth::signout))
        .at("/register", get(auth::register_page).post(auth::register))
        .at("/profile", get(pages::profile).post(pages::save_preferences))
        .at("/notifications", get(pages::notifications))
        .at("/notifications/read", post(pages::mark_read))
        .at("/faq", get(pages::faq))
        .at("/tickets", get(tickets::my_tickets))
        .at("/tickets/new", get(tickets::new_page).post(tickets::create))
        .at("/tickets/similar", get(tickets::similar_panel))
        .at("/tickets/:number", get(tickets::ticket_page))
        .at("/tickets/:number/:action", post(tickets::act))
        .at("/attachments/:id", get(tickets::download))
        .at("/queue", get(staff::queue))
        .at("/activity", get(staff::activity))
        .at("/admin/accounts", get(staff::accounts))
        .at("/admin/accounts/:id/:decision", post(staff::decide))
        .at("/admin", get(admin::hub))
        .at("/admin/users", get(admin::users))
        .at("/admin/users/:id/role", post(admin::change_role))
        .at("/admin/categories", get(admin::category_list).post(admin::add_category))
        .at("/admin/faq", get(admin::curation))
        .at("/admin/faq/:action", post(admin::curate))
        .at("/admin/webhooks", get(admin::webhooks).post(admin::add_webhook))
        .at("/admin/webhooks/:id/test", post(admin::test_webhook))
        .at("/admin/sla", get(admin::sla).post(admin::set_sla))
        .at("/admin/dead-letters", get(admin::dead_letters))
        .at("/admin/dead-letters/:id/retry", post(admin::retry))
        .at("/static/:file", get(assets::serve))
        .data(web)
        .catch_all_error(|err: poem::Error| async move {
            if err.is::<poem::error::NotFoundError>() || err.status() == StatusCode::NOT_FOUND {
                fail::Fail::NotFound.render()
            } else if err.status() == StatusCode::METHOD_NOT_ALLOWED {
                fail::Fail::Status(StatusCode::METHOD_NOT_ALLOWED, "This page cannot be used that way.".into()).render()
            } else if err.status().is_client_error() {
                // Unparsable forms and queries: a plain explanation, never a 500.
                fail::Fail::Status(err.status(), "The request could not be read. Go back and try again.".into())
                    .render()
            } else {
                err.into_response()
            }
        })
        .after(|result: poem::Result<Response>| async move {
            let mut resp = result.unwrap_or_else(|err| err.into_response());
            resp.headers_mut().insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(PAGE_CSP));
            Ok(resp)
        })
}
