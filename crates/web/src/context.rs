//! The app's state and what each request knows: who is signed in and the CSRF secret.

use askama::Template;
use domain::accounts::{Account, Principal, Role};
use poem::{
    http::{header, StatusCode},
    web::Redirect,
    IntoResponse as _, Request, Response,
};

use crate::{
    assets,
    fail::Fail,
    forms::Fields,
    session::{self, PRE_COOKIE, SESSION_COOKIE},
    App, WebConfig,
};

/// The app's state: the domain services and how it is served.
pub struct Web {
    /// The domain services.
    pub(crate) app: App,
    pub(crate) config: WebConfig,
}

impl Web {
    /// The app over these services.
    pub fn new(app: App, config: WebConfig) -> Self {
        Self { app, config }
    }
}

/// The navigation of a signed-in person.
pub struct Nav {
    /// Their display name.
    pub name: String,
    /// `student`, `support` or `admin`.
    pub role: &'static str,
    /// Unread notifications.
    pub unread: u64,
    /// Whether the account may use osts (not pending).
    pub active: bool,
}

/// What every page's frame needs.
pub struct Layout {
    /// The page's title.
    pub title: String,
    /// The CSRF token for the page's forms.
    pub csrf: String,
    /// The signed-in person, if any.
    pub nav: Option<Nav>,
    /// The path of the page (to mark the current link).
    pub path: String,
    /// The stylesheet's URL.
    pub css: &'static str,
    /// The script's URL.
    pub js: &'static str,
}

impl Layout {
    /// `aria-current="page"` for the link to `path`, when this is that page.
    pub fn current(&self, path: &str) -> &'static str {
        if self.path == path {
            "page"
        } else {
            "false"
        }
    }
}

/// One request's view of the app.
pub struct Ctx<'a> {
    pub(crate) web: &'a Web,
    /// Who is signed in.
    pub principal: Option<Principal>,
    account: Option<Account>,
    unread: u64,
    secret: String,
    /// A new pre-session secret to set as a cookie with the answer.
    new_pre: bool,
    /// A session cookie that no longer works, to clear.
    stale_session: bool,
    path: String,
}

impl<'a> Ctx<'a> {
    /// Reads the cookies: a live session makes a principal; otherwise the pre-session secret
    /// (a new one if the browser has none) keys the CSRF tokens.
    pub async fn load(web: &'a Web, req: &Request) -> Result<Ctx<'a>, Fail> {
        let mut ctx = Ctx {
            web,
            principal: None,
            account: None,
            unread: 0,
            secret: String::new(),
            new_pre: false,
            stale_session: false,
            path: req.uri().path().to_owned(),
        };
        if let Some(token) = session::cookie(req, SESSION_COOKIE) {
            match web.app.accounts.authenticate(&token).await {
                Ok(principal) => {
                    let account = web.app.accounts.me(&principal).await?;
                    if principal.status() == domain::accounts::AccountStatus::Active {
                        ctx.unread = web.app.notifications.unread(&principal).await?;
                    }
                    ctx.principal = Some(principal);
                    ctx.account = Some(account);
                    ctx.secret = token;
                    return Ok(ctx);
                }
                Err(domain::Error::Unauthenticated) => ctx.stale_session = true,
                Err(e) => return Err(e.into()),
            }
        }
        match session::cookie(req, PRE_COOKIE) {
            Some(pre) => ctx.secret = pre,
            None => {
                ctx.secret = session::new_secret();
                ctx.new_pre = true;
            }
        }
        Ok(ctx)
    }

    /// The signed-in principal, or a redirect to the sign-in page.
    pub fn user(&self) -> Result<&Principal, Fail> {
        self.principal.as_ref().ok_or_else(|| Fail::SignIn(self.path.clone()))
    }

    /// The signed-in account.
    pub fn account(&self) -> Option<&Account> {
        self.account.as_ref()
    }

    /// The signed-in principal if they have this role (or are an admin, for staff pages);
    /// 403 otherwise.
    pub fn staff(&self) -> Result<&Principal, Fail> {
        let p = self.user()?;
        if p.role().is_staff() {
            Ok(p)
        } else {
            Err(Fail::Forbidden("This page is for support staff.".into()))
        }
    }

    /// Refuses a form without this page's CSRF token.
    pub fn check_csrf(&self, fields: &Fields) -> Result<(), Fail> {
        match fields.get(session::CSRF_FIELD) {
            Some(given) if !self.new_pre && session::csrf_ok(&self.secret, given) => Ok(()),
            _ => Err(Fail::Csrf),
        }
    }

    /// The frame of a page titled `title`.
    pub fn layout(&self, title: impl Into<String>) -> Layout {
        let nav = self.account.as_ref().map(|a| Nav {
            name: a.display_name.as_str().to_owned(),
            role: match a.role {
                Role::Student => "student",
                Role::Support => "support",
                Role::Admin => "admin",
            },
            unread: self.unread,
            active: a.status == domain::accounts::AccountStatus::Active,
        });
        Layout {
            title: title.into(),
            csrf: session::csrf_token(&self.secret),
            nav,
            path: self.path.clone(),
            css: assets::css_url(),
            js: assets::js_url(),
        }
    }

    /// A rendered page with status 200.
    pub fn page(&self, page: &impl Template) -> Result<Response, Fail> {
        self.page_with(StatusCode::OK, page)
    }

    /// A rendered page with a status (422 for a refused form).
    pub fn page_with(&self, status: StatusCode, page: &impl Template) -> Result<Response, Fail> {
        let html = page.render().map_err(|e| Fail::Internal(anyhow::anyhow!("template: {e}")))?;
        let resp = Response::builder()
            .status(status)
            .content_type("text/html; charset=utf-8")
            .header(header::CACHE_CONTROL, "no-store")
            .body(html);
        Ok(self.with_cookies(resp))
    }

    /// A 303 to `to` (after a form).
    pub fn redirect(&self, to: &str) -> Response {
        self.with_cookies(Redirect::see_other(to).into_response())
    }

    fn with_cookies(&self, mut resp: Response) -> Response {
        let secure = self.web.config.secure_cookies;
        if self.new_pre {
            let value = session::set_cookie(PRE_COOKIE, &self.secret, Some(60 * 60 * 24 * 30), secure);
            append_cookie(&mut resp, &value);
        }
        if self.stale_session {
            append_cookie(&mut resp, &session::set_cookie(SESSION_COOKIE, "", None, secure));
        }
        resp
    }
}

/// Adds a `Set-Cookie` header.
pub(crate) fn append_cookie(resp: &mut Response, value: &str) {
    if let Ok(value) = header::HeaderValue::from_str(value) {
        resp.headers_mut().append(header::SET_COOKIE, value);
    }
}
