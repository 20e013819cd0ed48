//! Why a page could not be shown, and the page that says so. Internal errors are logged with
//! their chain and shown as a generic message, never their text.

use askama::Template;
use poem::{
    http::{header, StatusCode},
    web::Redirect,
    IntoResponse as _, Response,
};

use crate::context::{Ctx, Layout};

/// A page's failure.
#[derive(Debug)]
pub enum Fail {
    /// Not signed in: to the sign-in page, then back to this path.
    SignIn(String),
    /// Signed in but not allowed (403).
    Forbidden(String),
    /// No such page or thing (404).
    NotFound,
    /// A form without its CSRF token, or with another page's (403).
    Csrf,
    /// Any other refusal with its status and a sentence for people.
    Status(StatusCode, String),
    /// A bug or an outage (500); logged, not shown.
    Internal(anyhow::Error),
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage {
    l: Layout,
    heading: &'static str,
    message: String,
}

impl Fail {
    /// The answer, in the frame of the request's page.
    pub fn render_in(self, ctx: &Ctx<'_>) -> Response {
        let title = self.heading();
        self.answer(ctx.layout(title))
    }

    /// The answer, in a bare frame (when the request could not even be read).
    pub fn render(self) -> Response {
        let layout = Layout {
            title: self.heading().into(),
            csrf: String::new(),
            nav: None,
            path: String::new(),
            css: crate::assets::css_url(),
            js: crate::assets::js_url(),
        };
        self.answer(layout)
    }

    fn heading(&self) -> &'static str {
        match self {
            Fail::SignIn(_) => "Sign in",
            Fail::Forbidden(_) | Fail::Csrf => "Not allowed",
            Fail::NotFound => "Page not found",
            Fail::Status(status, _) if *status == StatusCode::TOO_MANY_REQUESTS => "Too many attempts",
            Fail::Status(..) => "This could not be done",
            Fail::Internal(_) => "Something went wrong",
        }
    }

    fn answer(self, l: Layout) -> Response {
        let heading = self.heading();
        let (status, message) = match self {
            Fail::SignIn(next) => {
                let to = format!("/signin?next={}", crate::forms::encode(&next));
                return Redirect::see_other(to).into_response();
            }
            Fail::Forbidden(message) => (StatusCode::FORBIDDEN, message),
            Fail::NotFound => (StatusCode::NOT_FOUND, "There is nothing here, or you may not see it.".into()),
            Fail::Csrf => (
                StatusCode::FORBIDDEN,
                "This form has expired or did not come from this site. Go back, reload the page and try again.".into(),
            ),
            Fail::Status(status, message) => (status, message),
            Fail::Internal(e) => {
                tracing::error!(error = ?e, "a page failed");
                (StatusCode::INTERNAL_SERVER_ERROR, "Please try again in a moment.".into())
            }
        };
        let page = ErrorPage { l, heading, message };
        let body = page.render().unwrap_or_else(|_| "Something went wrong.".into());
        Response::builder()
            .status(status)
            .content_type("text/html; charset=utf-8")
            .header(header::CACHE_CONTROL, "no-store")
            .body(body)
    }
}

/// A sentence for people from a domain message (which starts in lower case).
pub fn sentence(message: &str) -> String {
    let mut chars = message.chars();
    let first: String = chars.next().map(|c| c.to_uppercase().collect()).unwrap_or_default();
    let rest: String = chars.collect();
    let mut s = first + &rest;
    if !s.ends_with('.') {
        s.push('.');
    }
    s
}

impl From<domain::Error> for Fail {
    fn from(e: domain::Error) -> Self {
        use domain::Error as E;
        match e {
            E::Invalid { message, .. } => Fail::Status(StatusCode::UNPROCESSABLE_ENTITY, sentence(&message)),
            E::Unauthenticated => Fail::SignIn("/".into()),
            E::InvalidCredentials => Fail::Status(StatusCode::UNAUTHORIZED, "Invalid email or password.".into()),
            E::Forbidden(f) => Fail::Forbidden(sentence(&f.to_string())),
            E::NotFound(_) => Fail::NotFound,
            e @ E::UnknownReference { .. } => Fail::Status(StatusCode::UNPROCESSABLE_ENTITY, sentence(&e.to_string())),
            E::Conflict(c) => Fail::Status(StatusCode::CONFLICT, sentence(&c.to_string())),
            E::TooLarge { message, .. } => Fail::Status(StatusCode::PAYLOAD_TOO_LARGE, sentence(&message)),
            E::UnsupportedMediaType { message, .. } => {
                Fail::Status(StatusCode::UNSUPPORTED_MEDIA_TYPE, sentence(&message))
            }
            E::Throttled { retry_after_secs } => Fail::Status(
                StatusCode::TOO_MANY_REQUESTS,
                format!("Too many attempts. Try again in {retry_after_secs} seconds."),
            ),
            E::Busy { retry_after_secs } => Fail::Status(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("osts is busy. Try again in {retry_after_secs} seconds."),
            ),
            E::Unknown(e) => Fail::Internal(e),
        }
    }
}

/// Answers a request: loads its context, runs the body (an async block that may use `?`
/// with [`Fail`]s and domain errors), and turns a failure into its page.
macro_rules! respond {
    ($web:expr, $req:expr, |$ctx:ident| $body:expr) => {{
        match $crate::context::Ctx::load(&$web, $req).await {
            Err(fail) => fail.render(),
            Ok($ctx) => {
                let result: Result<poem::Response, $crate::fail::Fail> = async { $body }.await;
                match result {
                    Ok(resp) => resp,
                    Err(fail) => fail.render_in(&$ctx),
                }
            }
        }
    }};
}
pub(crate) use respond;
