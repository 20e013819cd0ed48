//! Sign in, sign out and register.

use std::sync::Arc;

use askama::Template;
use domain::accounts::{ClientAddr, Registration, Role};
use poem::{
    handler,
    http::StatusCode,
    web::{Data, Form, Query},
    Request, Response,
};

use crate::{
    context::{append_cookie, Ctx, Layout, Web},
    fail::{respond, sentence, Fail},
    forms::{Errors, Fields},
    session::{set_cookie, SESSION_COOKIE},
    views::Choice,
};

#[derive(Template)]
#[template(path = "signin.html")]
struct SignInPage {
    l: Layout,
    email: String,
    next: String,
    errors: Errors,
}

#[derive(Template)]
#[template(path = "register.html")]
struct RegisterPage {
    l: Layout,
    email: String,
    display_name: String,
    roles: Vec<Choice>,
    errors: Errors,
}

#[derive(Template)]
#[template(path = "registered.html")]
struct RegisteredPage {
    l: Layout,
    email: String,
}

/// Only a path on this site (never `//host` or a scheme): where to go after signing in.
fn local_path(next: Option<&str>) -> String {
    match next {
        Some(p) if p.starts_with('/') && !p.starts_with("//") && !p.contains('\\') => p.to_owned(),
        _ => "/".to_owned(),
    }
}

fn client(req: &Request) -> ClientAddr {
    req.remote_addr().as_socket_addr().map(|a| ClientAddr::Ip(a.ip())).unwrap_or(ClientAddr::Unknown)
}

/// `GET /signin`.
#[handler]
pub async fn signin_page(req: &Request, web: Data<&Arc<Web>>, Query(q): Query<Fields>) -> Response {
    respond!(web, req, |ctx| {
        if ctx.principal.is_some() {
            return Ok(ctx.redirect("/"));
        }
        let next = local_path(q.get("next"));
        ctx.page(&SignInPage { l: ctx.layout("Sign in"), email: String::new(), next, errors: Errors::none() })
    })
}

/// `POST /signin`: a session cookie and back to where the person was going.
#[handler]
pub async fn signin(req: &Request, web: Data<&Arc<Web>>, Form(f): Form<Fields>) -> Response {
    respond!(web, req, |ctx| {
        ctx.check_csrf(&f)?;
        let email = f.text("email");
        let next = local_path(f.get("next"));
        let refused = |ctx: &Ctx<'_>, message: String| {
            let page = SignInPage {
                l: ctx.layout("Sign in"),
                email: email.clone(),
                next: next.clone(),
                errors: Errors::one("form", message),
            };
            ctx.page_with(StatusCode::UNPROCESSABLE_ENTITY, &page)
        };
        match web.app.accounts.login(&email, &f.text("password"), client(req)).await {
            Ok(session) => {
                let mut resp = ctx.redirect(&next);
                let max_age = (session.expires_at - chrono::Utc::now()).num_seconds();
                let cookie =
                    set_cookie(SESSION_COOKIE, session.token.expose(), Some(max_age), web.config.secure_cookies);
                append_cookie(&mut resp, &cookie);
                Ok(resp)
            }
            Err(domain::Error::InvalidCredentials) => refused(&ctx, "Invalid email or password.".into()),
            Err(domain::Error::Forbidden(why)) => refused(&ctx, sentence(&why.to_string())),
            Err(domain::Error::Throttled { retry_after_secs }) => {
                refused(&ctx, format!("Too many attempts. Try again in {retry_after_secs} seconds."))
            }
            Err(other) => Err(other.into()),
        }
    })
}

/// `POST /signout`: ends the session and clears the cookie.
#[handler]
pub async fn signout(req: &Request, web: Data<&Arc<Web>>, Form(f): Form<Fields>) -> Response {
    respond!(web, req, |ctx| {
        ctx.check_csrf(&f)?;
        if let Some(token) = crate::session::cookie(req, SESSION_COOKIE) {
            web.app.accounts.logout(&token).await?;
        }
        let mut resp = ctx.redirect("/");
        append_cookie(&mut resp, &set_cookie(SESSION_COOKIE, "", None, web.config.secure_cookies));
        Ok(resp)
    })
}

fn roles(current: &str) -> Vec<Choice> {
    Choice::list([("student", "Student"), ("support", "Support staff"), ("admin", "Admin")], current)
}

/// `GET /register`.
#[handler]
pub async fn register_page(req: &Request, web: Data<&Arc<Web>>) -> Response {
    respond!(web, req, |ctx| {
        if ctx.principal.is_some() {
            return Ok(ctx.redirect("/"));
        }
        ctx.page(&RegisterPage {
            l: ctx.layout("Register"),
            email: String::new(),
            display_name: String::new(),
            roles: roles("student"),
            errors: Errors::none(),
        })
    })
}

/// `POST /register`: a pending account and its confirmation email.
#[handler]
pub async fn register(req: &Request, web: Data<&Arc<Web>>, Form(f): Form<Fields>) -> Response {
    respond!(web, req, |ctx| {
        ctx.check_csrf(&f)?;
        let role_name = f.text("role");
        let role = match role_name.as_str() {
            "student" => Some(Role::Student),
            "support" => Some(Role::Support),
            "admin" => Some(Role::Admin),
            _ => None,
        };
        let (email, display_name) = (f.text("email").trim().to_owned(), f.text("display_name"));
        let mut errors = Errors::none();
        if let Some(role) = role {
            let registration = Registration {
                email: email.clone(),
                display_name: display_name.clone(),
                password: f.text("password"),
                role,
            };
            match web.app.accounts.register(registration).await {
                Ok(account) => {
                    let email = account.email.as_str().to_owned();
                    return ctx.page(&RegisteredPage { l: ctx.layout("Check your email"), email });
                }
                Err(domain::Error::Invalid { field, message, .. }) => errors.add(field, sentence(&message)),
                Err(domain::Error::Conflict(domain::Conflict::EmailTaken)) => {
                    errors.add("email", "An account with this email address exists already. Sign in instead.")
                }
                Err(domain::Error::Busy { retry_after_secs }) => {
                    errors.add("form", format!("osts is busy. Try again in {retry_after_secs} seconds."))
                }
                Err(other) => return Err(Fail::from(other)),
            }
        } else {
            errors.add("role", "Choose a role.");
        }
        let page = RegisterPage { l: ctx.layout("Register"), email, display_name, roles: roles(&role_name), errors };
        ctx.page_with(StatusCode::UNPROCESSABLE_ENTITY, &page)
    })
}

#[cfg(test)]
mod tests {
    use super::local_path;

    #[test]
    fn only_local_paths_are_followed() {
        assert_eq!(local_path(Some("/tickets/3")), "/tickets/3");
        assert_eq!(local_path(Some("//evil.example")), "/");
        assert_eq!(local_path(Some("https://evil.example")), "/");
        assert_eq!(local_path(Some("/\\evil.example")), "/");
        assert_eq!(local_path(None), "/");
    }
}
