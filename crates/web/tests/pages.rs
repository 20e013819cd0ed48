//! The web app in process, on a fresh in-memory store, behind the same shared middleware as
//! in the server: each page for the roles that may see it, redirects and 403s for the others,
//! forms refused without their CSRF token, and refused forms that keep what was typed.

use std::sync::Arc;

use domain::accounts::{Registration, Role};
use poem::{
    endpoint::BoxEndpoint,
    http::{header, StatusCode},
    test::{TestClient, TestForm},
    EndpointExt as _, Response,
};

const PASSWORD: &str = "correct horse battery";

/// The app and its services (to make test data without pages).
struct App {
    client: TestClient<BoxEndpoint<'static, Response>>,
    services: domain::Services,
    category: i64,
    _blobs: tempfile::TempDir,
}

/// A browser: its cookies and the CSRF token of the last page it read.
struct Browser<'a> {
    app: &'a App,
    cookies: Vec<(String, String)>,
    csrf: String,
}

/// An answer as a test reads it.
struct Page {
    status: StatusCode,
    headers: poem::http::HeaderMap,
    body: String,
}

impl Page {
    #[track_caller]
    fn expect(self, status: StatusCode) -> Self {
        assert_eq!(self.status, status, "body: {}", self.body);
        self
    }

    fn location(&self) -> &str {
        self.headers.get(header::LOCATION).and_then(|v| v.to_str().ok()).unwrap_or("")
    }

    #[track_caller]
    fn has(self, text: &str) -> Self {
        assert!(self.body.contains(text), "missing {text:?} in:\n{}", self.body);
        self
    }

    #[track_caller]
    fn lacks(self, text: &str) -> Self {
        assert!(!self.body.contains(text), "unexpected {text:?} in:\n{}", self.body);
        self
    }
}

impl App {
    async fn spawn() -> Self {
        Self::spawn_with(false).await
    }

    /// With the forum on (a forum client that must not be called: threads stay pending).
    async fn spawn_with(forum: bool) -> Self {
        let store = store::Store::connect("sqlite::memory:").await.expect("in-memory store");
        let blobs = tempfile::tempdir().expect("blob directory");
        let unsubscribe = credentials::HmacUnsubscribeTokens::new(
            credentials::SecretKey::new("test key, not a secret: 0123456789abcdef").expect("a long enough key"),
        );
        let adapters = domain::services::Adapters {
            hasher: Arc::new(credentials::Argon2Hasher::fast_for_tests()),
            tokens: Arc::new(credentials::RandomTokens),
            throttle: Arc::new(credentials::GovernorThrottle::new(10_000, 10_000)),
            resend_throttle: Arc::new(credentials::GovernorThrottle::new(10_000, 10_000)),
            blobs: Arc::new(blobs::FsBlobStore::new(blobs.path())),
            unsubscribe: Arc::new(unsubscribe),
            clock: Arc::new(domain::clock::SystemClock),
        };
        let ports = domain::Ports::new(store.repositories(), adapters, domain::services::Semantic::off());
        let mut settings = domain::ServiceSettings::default();
        if forum {
            settings.forum.base_url = Some("https://forum.example".into());
        }
        let mut services = domain::Services::new(ports, settings);
        if forum {
            services.forum = services.forum.clone().with_client(Arc::new(domain::forum::MockForumClient::new()));
        }
        let category = services.categories.create_unchecked("Exams", "", None).await.expect("category").id.get();
        let web = web::routes(services.clone(), web::WebConfig { secure_cookies: true, forum });
        let client = TestClient::new(api::shared_middleware(web).boxed());
        Self { client, services, category, _blobs: blobs }
    }

    /// An active account with this role; its email.
    async fn account(&self, role: Role, name: &str) -> String {
        let email = format!("{}@study.uni.edu", name.to_lowercase().replace(' ', "."));
        self.services.accounts.create_active(&email, name, PASSWORD, role).await.expect("account");
        email
    }

    fn browser(&self) -> Browser<'_> {
        Browser { app: self, cookies: Vec::new(), csrf: String::new() }
    }

    /// A browser signed in as a new account with this role.
    async fn signed_in(&self, role: Role, name: &str) -> Browser<'_> {
        let email = self.account(role, name).await;
        let mut b = self.browser();
        b.get("/signin").await.expect(StatusCode::OK);
        let page = b.post("/signin", &[("email", &email), ("password", PASSWORD)]).await;
        assert_eq!(page.expect(StatusCode::SEE_OTHER).location(), "/");
        b
    }
}

impl Browser<'_> {
    fn cookie_header(&self) -> String {
        self.cookies.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("; ")
    }

    async fn read(&mut self, resp: poem::test::TestResponse) -> Page {
        let resp = resp.0;
        let status = resp.status();
        let headers = resp.headers().clone();
        for value in headers.get_all(header::SET_COOKIE) {
            let value = value.to_str().unwrap();
            let (pair, _) = value.split_once(';').unwrap_or((value, ""));
            let (name, v) = pair.split_once('=').unwrap();
            self.cookies.retain(|(k, _)| k != name);
            if !value.contains("Max-Age=0") {
                self.cookies.push((name.to_owned(), v.to_owned()));
            }
        }
        let body = resp.into_body().into_string().await.unwrap();
        if let Some(at) = body.find("name=\"csrf\" value=\"") {
            let rest = &body[at + 19..];
            self.csrf = rest[..rest.find('"').unwrap()].to_owned();
        }
        Page { status, headers, body }
    }

    async fn get(&mut self, path: &str) -> Page {
        let resp = self.app.client.get(path).header(header::COOKIE, self.cookie_header()).send().await;
        self.read(resp).await
    }

    /// Posts a form with the last page's CSRF token.
    async fn post(&mut self, path: &str, fields: &[(&str, &str)]) -> Page {
        let mut all: Vec<(&str, &str)> = vec![("csrf", &self.csrf)];
        all.extend_from_slice(fields);
        let csrf = self.csrf.clone();
        let all: Vec<(String, String)> = all
            .into_iter()
            .map(|(k, v)| (k.to_owned(), if k == "csrf" { csrf.clone() } else { v.to_owned() }))
            .collect();
        self.post_raw(path, &all).await
    }

    async fn post_raw(&mut self, path: &str, fields: &[(String, String)]) -> Page {
        let resp =
            self.app.client.post(path).header(header::COOKIE, self.cookie_header()).form(&fields.to_vec()).send().await;
        self.read(resp).await
    }

    /// Posts the new-ticket form (multipart) with the last page's CSRF token.
    async fn post_ticket(&mut self, fields: &[(&str, &str)], with_csrf: bool) -> Page {
        let mut form = TestForm::new();
        if with_csrf {
            form = form.text("csrf", self.csrf.clone());
        }
        for (k, v) in fields {
            form = form.text(k.to_string(), v.to_string());
        }
        let resp = self
            .app
            .client
            .post("/tickets/new")
            .header(header::COOKIE, self.cookie_header())
            .multipart(form)
            .send()
            .await;
        self.read(resp).await
    }

    /// Raises a ticket through the form; its number.
    async fn raise(&mut self, title: &str, description: &str) -> i64 {
        self.get("/tickets/new").await.expect(StatusCode::OK);
        let category = self.app.category.to_string();
        let page = self
            .post_ticket(
                &[
                    ("title", title),
                    ("description", description),
                    ("category_id", &category),
                    ("priority", "medium"),
                    ("tags", "exams, grades"),
                    ("action", "submit"),
                ],
                true,
            )
            .await
            .expect(StatusCode::SEE_OTHER);
        page.location().trim_start_matches("/tickets/").parse().expect("a ticket number")
    }
}

#[tokio::test]
async fn visitors_see_the_welcome_page_with_the_page_policy_and_are_sent_to_sign_in() {
    let app = App::spawn().await;
    let mut b = app.browser();
    let home = b.get("/").await.expect(StatusCode::OK).has("Sign in").has("Register");
    let csp = home.headers.get(header::CONTENT_SECURITY_POLICY).unwrap().to_str().unwrap();
    assert!(csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"), "{csp}");
    assert!(!home.body.contains("<script>"), "no inline script");
    assert_eq!(home.headers.get(header::X_FRAME_OPTIONS).unwrap(), "DENY");
    for path in ["/tickets", "/tickets/new", "/queue", "/notifications", "/profile", "/admin/accounts"] {
        let page = b.get(path).await.expect(StatusCode::SEE_OTHER);
        assert!(page.location().starts_with("/signin?next=%2F"), "{path}: {}", page.location());
    }
    b.get("/faq").await.expect(StatusCode::OK).has("No FAQ entries yet");
    b.get("/no-such-page").await.expect(StatusCode::NOT_FOUND).has("Page not found");
}

#[tokio::test]
async fn signing_in_sets_a_protected_session_cookie_and_signing_out_ends_it() {
    let app = App::spawn().await;
    let email = app.account(Role::Student, "Ada Student").await;
    let mut b = app.browser();
    b.get("/signin?next=/tickets").await.expect(StatusCode::OK);
    let wrong = b.post("/signin", &[("email", &email), ("password", "not the password"), ("next", "/tickets")]).await;
    wrong.expect(StatusCode::UNPROCESSABLE_ENTITY).has("Invalid email or password").has(&format!("value=\"{email}\""));
    let resp = app
        .client
        .post("/signin")
        .header(header::COOKIE, b.cookie_header())
        .form(&[("csrf", b.csrf.as_str()), ("email", &email), ("password", PASSWORD), ("next", "/tickets")])
        .send()
        .await;
    resp.assert_status(StatusCode::SEE_OTHER);
    resp.assert_header(header::LOCATION, "/tickets");
    let cookie = resp.0.headers().get(header::SET_COOKIE).unwrap().to_str().unwrap().to_owned();
    assert!(cookie.starts_with("osts_session="), "{cookie}");
    for part in ["HttpOnly", "SameSite=Lax", "Secure", "Path=/"] {
        assert!(cookie.contains(part), "{part} in {cookie}");
    }
    b.read(resp).await;
    b.get("/").await.expect(StatusCode::OK).has("Hello, Ada Student").has("My open tickets");
    b.post("/signout", &[]).await.expect(StatusCode::SEE_OTHER);
    assert!(!b.cookies.iter().any(|(k, _)| k == "osts_session"));
    b.get("/tickets").await.expect(StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn forms_without_their_csrf_token_are_refused() {
    let app = App::spawn().await;
    let email = app.account(Role::Student, "Bea Student").await;
    let mut b = app.browser();
    b.get("/signin").await;
    let no_token = [("email".to_owned(), email.clone()), ("password".to_owned(), PASSWORD.to_owned())];
    b.post_raw("/signin", &no_token).await.expect(StatusCode::FORBIDDEN).has("This form has expired");
    let forged = [("csrf".to_owned(), "0".repeat(40)), no_token[0].clone(), no_token[1].clone()];
    b.post_raw("/signin", &forged).await.expect(StatusCode::FORBIDDEN);

    let mut student = app.signed_in(Role::Student, "Cy Student").await;
    student.get("/tickets/new").await;
    let category = app.category.to_string();
    let fields =
        [("title", "Exam room"), ("category_id", category.as_str()), ("priority", "low"), ("action", "submit")];
    student.post_ticket(&fields, false).await.expect(StatusCode::FORBIDDEN);
    // The pre-session token does not work once signed in (the key is the session now).
    let mut other = app.browser();
    other.get("/signin").await;
    student.csrf = other.csrf.clone();
    student.post("/signout", &[]).await.expect(StatusCode::FORBIDDEN);
    let (page, _) = (student.get("/tickets").await.expect(StatusCode::OK), ());
    page.has("My tickets");
}

#[tokio::test]
async fn registering_keeps_the_input_and_shows_field_errors() {
    let app = App::spawn().await;
    let mut b = app.browser();
    b.get("/register").await.expect(StatusCode::OK).has("I am");
    let refused = b
        .post(
            "/register",
            &[("email", "dee@study.uni.edu"), ("display_name", "Dee"), ("password", "short"), ("role", "support")],
        )
        .await
        .expect(StatusCode::UNPROCESSABLE_ENTITY);
    refused
        .has("value=\"dee@study.uni.edu\"")
        .has("value=\"Dee\"")
        .has("id=\"password-error\"")
        .has("<option value=\"support\" selected>");
    b.post(
        "/register",
        &[("email", "dee@study.uni.edu"), ("display_name", "Dee"), ("password", PASSWORD), ("role", "student")],
    )
    .await
    .expect(StatusCode::OK)
    .has("Check your email");
    let again = b
        .post(
            "/register",
            &[("email", "dee@study.uni.edu"), ("display_name", "Dee"), ("password", PASSWORD), ("role", "student")],
        )
        .await;
    again.expect(StatusCode::UNPROCESSABLE_ENTITY).has("exists already");
}

#[tokio::test]
async fn a_student_raises_a_ticket_and_a_refused_form_keeps_its_input() {
    let app = App::spawn().await;
    let mut s = app.signed_in(Role::Student, "Eve Student").await;
    s.get("/tickets/new").await.expect(StatusCode::OK).has("Similar tickets and FAQ").has("Check for similar");
    let category = app.category.to_string();
    let refused = s
        .post_ticket(
            &[
                ("title", "  "),
                ("description", "My grade is missing"),
                ("category_id", &category),
                ("priority", "high"),
            ],
            true,
        )
        .await;
    refused
        .expect(StatusCode::UNPROCESSABLE_ENTITY)
        .has("id=\"title-error\"")
        .has("My grade is missing")
        .has("value=\"high\" checked");
    let urgent = s
        .post_ticket(&[("title", "Exam room booking"), ("category_id", &category), ("priority", "urgent")], true)
        .await;
    urgent.expect(StatusCode::UNPROCESSABLE_ENTITY).has("at most high priority");
    let number = s.raise("Quiz 2 grade missing", "My **quiz 2** grade is not shown").await;
    s.get(&format!("/tickets/{number}"))
        .await
        .expect(StatusCode::OK)
        .has("Quiz 2 grade missing")
        .has("<strong>quiz 2</strong>")
        .has("exams")
        .lacks("+1 me too")
        .lacks("Forum thread");
    s.get("/tickets").await.expect(StatusCode::OK).has("Quiz 2 grade missing");
    s.get("/tickets?status=resolved").await.expect(StatusCode::OK).lacks("Quiz 2 grade missing");
    s.get("/").await.has("Quiz 2 grade missing");
}

#[tokio::test]
async fn similar_tickets_show_while_drafting_and_take_a_vote_without_a_reload() {
    let app = App::spawn().await;
    let mut first = app.signed_in(Role::Student, "Fay Student").await;
    let number = first.raise("Wifi in the library keeps dropping", "The library wifi drops every few minutes").await;
    let mut s = app.signed_in(Role::Student, "Gus Student").await;
    s.get("/tickets/new").await;
    let panel = s.get("/tickets/similar?title=library%20wifi%20dropping&description=").await.expect(StatusCode::OK);
    panel.has("Wifi in the library keeps dropping").has(&format!("/tickets/{number}/vote"));
    // Without the script: "Check for similar" shows the same panel and keeps the draft.
    let checked = s
        .post_ticket(&[("title", "library wifi dropping"), ("description", "since Monday"), ("action", "check")], true)
        .await;
    checked.expect(StatusCode::OK).has("Wifi in the library keeps dropping").has("since Monday");
    // The script's vote: JSON instead of a redirect.
    let resp = app
        .client
        .post(format!("/tickets/{number}/vote"))
        .header(header::COOKIE, s.cookie_header())
        .header("x-requested-with", "fetch")
        .form(&[("csrf", s.csrf.as_str())])
        .send()
        .await;
    resp.assert_status_is_ok();
    resp.assert_json(serde_json::json!({"votes": 1, "voted": true})).await;
    s.get(&format!("/tickets/{number}")).await.has("1 vote").has("Remove my +1");
    s.get("/tickets?upvoted=1").await.has("Wifi in the library keeps dropping");
    // Voting on one's own ticket is refused on the page, not with a 500.
    first.get(&format!("/tickets/{number}")).await;
    first
        .post(&format!("/tickets/{number}/vote"), &[])
        .await
        .expect(StatusCode::UNPROCESSABLE_ENTITY)
        .has("own ticket");
}

#[tokio::test]
async fn support_works_the_queue_and_the_student_sees_the_answer_and_may_reopen() {
    let app = App::spawn().await;
    let mut s = app.signed_in(Role::Student, "Hal Student").await;
    let number = s.raise("Transcript request stuck", "Requested two weeks ago").await;
    let mut staff = app.signed_in(Role::Support, "Ivy Support").await;
    assert_eq!(staff.get("/").await.expect(StatusCode::SEE_OTHER).location(), "/queue");
    staff.get("/queue").await.expect(StatusCode::OK).has("Transcript request stuck");
    staff.get("/activity").await.expect(StatusCode::OK).has("Tickets resolved");
    staff.get("/tickets/new").await.expect(StatusCode::FORBIDDEN);
    staff.get("/admin/accounts").await.expect(StatusCode::FORBIDDEN);
    let path = format!("/tickets/{number}");
    staff.get(&path).await.expect(StatusCode::OK).has("Support actions");
    staff.post(&format!("{path}/claim"), &[]).await.expect(StatusCode::SEE_OTHER);
    staff.get(&path).await;
    staff.post(&format!("{path}/note"), &[("note", "Registry is slow this week")]).await.expect(StatusCode::SEE_OTHER);
    staff.get(&path).await;
    let refused = staff.post(&format!("{path}/resolve"), &[("answer", "  ")]).await;
    refused.expect(StatusCode::UNPROCESSABLE_ENTITY).has("id=\"resolve-error\"");
    staff.post(&format!("{path}/reply"), &[("body", "We are on it")]).await.expect(StatusCode::SEE_OTHER);
    staff.get(&path).await;
    staff
        .post(&format!("{path}/resolve"), &[("answer", "Sent by the registry today.")])
        .await
        .expect(StatusCode::SEE_OTHER);

    let page = s.get(&path).await.expect(StatusCode::OK);
    page.has("Sent by the registry today.")
        .has("We are on it")
        .has("Reopen ticket")
        .lacks("Registry is slow this week");
    s.get("/notifications").await.expect(StatusCode::OK).has(&format!("#{number}"));
    s.get(&path).await;
    s.post(&format!("{path}/reopen"), &[("reason", "Not received yet")]).await.expect(StatusCode::SEE_OTHER);
    s.get(&path).await.has("Open").lacks("Reopen ticket");
    s.get("/queue").await.expect(StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn admins_approve_and_reject_pending_accounts_with_a_reason() {
    let app = App::spawn().await;
    let register = |email: &str| Registration {
        email: email.into(),
        display_name: "Applicant".into(),
        password: PASSWORD.into(),
        role: Role::Support,
    };
    let one = app.services.accounts.register(register("one@osts.local")).await.unwrap();
    let two = app.services.accounts.register(register("two@osts.local")).await.unwrap();
    let mut admin = app.signed_in(Role::Admin, "Jo Admin").await;
    admin.get("/admin/accounts").await.expect(StatusCode::OK).has("one@osts.local").has("two@osts.local");
    admin.post(&format!("/admin/accounts/{}/approve", one.id.get()), &[]).await.expect(StatusCode::SEE_OTHER);
    admin.get("/admin/accounts").await;
    let path = format!("/admin/accounts/{}/reject", two.id.get());
    let refused = admin.post(&path, &[("reason", "")]).await.expect(StatusCode::UNPROCESSABLE_ENTITY);
    refused.has(&format!("id=\"reason-{}-error\"", two.id.get()));
    admin.post(&path, &[("reason", "Not a staff address")]).await.expect(StatusCode::SEE_OTHER);
    admin.get("/admin/accounts").await.lacks("one@osts.local").lacks("two@osts.local");
    admin.get("/queue").await.expect(StatusCode::OK);
}

#[tokio::test]
async fn profile_saves_notification_preferences() {
    let app = App::spawn().await;
    let mut s = app.signed_in(Role::Student, "Kim Student").await;
    let page = s.get("/profile").await.expect(StatusCode::OK).has("Kim Student").has("Email notifications");
    assert!(page.body.contains("name=\"email_reply\" value=\"1\" checked"), "email on by default");
    let fields: Vec<(&str, &str)> = vec![("kind", "reply"), ("digest_reply", "1")];
    s.post("/profile", &fields).await.expect(StatusCode::SEE_OTHER);
    let page = s.get("/profile?saved=1").await.has("preferences are saved");
    assert!(page.body.contains("name=\"email_reply\" value=\"1\">"), "email off now");
    assert!(page.body.contains("name=\"digest_reply\" value=\"1\" checked"));
}

#[tokio::test]
async fn assets_are_cached_under_their_version_and_revalidated_otherwise() {
    let app = App::spawn().await;
    let mut b = app.browser();
    let home = b.get("/").await;
    let at = home.body.find("/static/app.css?v=").unwrap();
    let url = &home.body[at..at + home.body[at..].find('"').unwrap()];
    let css = app.client.get(url).send().await;
    css.assert_status_is_ok();
    css.assert_header(header::CACHE_CONTROL, "public, max-age=31536000, immutable");
    css.assert_content_type("text/css; charset=utf-8");
    let etag = css.0.headers().get(header::ETAG).unwrap().clone();
    let plain = app.client.get("/static/app.js").send().await;
    plain.assert_header(header::CACHE_CONTROL, "no-cache");
    let again = app.client.get("/static/app.css").header(header::IF_NONE_MATCH, etag).send().await;
    again.assert_status(StatusCode::NOT_MODIFIED);
    app.client.get("/static/other.css").send().await.assert_status(StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn admin_pages_are_for_admins_only() {
    let app = App::spawn().await;
    let pages = ["/admin", "/admin/users", "/admin/categories", "/admin/webhooks", "/admin/sla", "/admin/dead-letters"];
    let mut admin = app.signed_in(Role::Admin, "Lou Admin").await;
    for path in pages {
        admin.get(path).await.expect(StatusCode::OK);
    }
    admin.get("/").await.expect(StatusCode::SEE_OTHER);
    admin.get("/queue").await.has("href=\"/admin\"").has("Pending accounts");
    admin.get("/admin/dead-letters").await.has("No dead letters");
    for role in [Role::Support, Role::Student] {
        let mut other = app.signed_in(role, &format!("Max {role:?}")).await;
        other.get("/").await.lacks("href=\"/admin\"");
        for path in pages {
            other.get(path).await.expect(StatusCode::FORBIDDEN);
        }
    }
}

#[tokio::test]
async fn admins_manage_categories_roles_and_webhooks_and_refusals_keep_the_input() {
    let app = App::spawn().await;
    let mut admin = app.signed_in(Role::Admin, "Nia Admin").await;
    admin.get("/admin/categories").await.has("Exams");
    let refused = admin.post("/admin/categories", &[("name", " "), ("description", "Fees and refunds")]).await;
    refused.expect(StatusCode::UNPROCESSABLE_ENTITY).has("id=\"name-error\"").has("value=\"Fees and refunds\"");
    admin.post("/admin/categories", &[("name", "Payments"), ("description", "Fees and refunds")]).await;
    admin.get("/admin/categories").await.has("Payments");

    let student = "oli@study.uni.edu";
    let account = app.services.accounts.create_active(student, "Oli Student", PASSWORD, Role::Student).await.unwrap();
    let id = account.id.get();
    admin.get("/admin/users").await.expect(StatusCode::OK).has(student);
    admin.post(&format!("/admin/users/{id}/role"), &[("role", "support")]).await.expect(StatusCode::SEE_OTHER);
    let page = admin.get("/admin/users").await;
    assert!(page.body.contains(&format!("id=\"role-{id}\" name=\"role\"><option value=\"student\">Student</option><option value=\"support\" selected>")), "role changed");
    admin
        .post(&format!("/admin/users/{id}/role"), &[("role", "pilot")])
        .await
        .expect(StatusCode::UNPROCESSABLE_ENTITY)
        .has("Choose a role");

    admin.get("/admin/webhooks").await.has("No webhooks yet");
    let refused =
        admin.post("/admin/webhooks", &[("name", "Office"), ("kind", "google_chat"), ("url", "ftp://nowhere")]).await;
    refused.expect(StatusCode::UNPROCESSABLE_ENTITY).has("value=\"Office\"").lacks("ftp://nowhere");
}

#[tokio::test]
async fn an_faq_entry_is_drafted_from_a_resolved_ticket_published_and_shown_on_the_faq_page() {
    let app = App::spawn().await;
    let mut s = app.signed_in(Role::Student, "Pia Student").await;
    let number = s.raise("Where do I find my exam timetable", "The portal shows no timetable").await;
    let mut admin = app.signed_in(Role::Admin, "Quinn Admin").await;
    let path = format!("/tickets/{number}");
    admin.get(&path).await;
    admin
        .post(&format!("{path}/resolve"), &[("answer", "Under **My studies → Timetable**.")])
        .await
        .expect(StatusCode::SEE_OTHER);
    admin.get("/admin/faq").await.expect(StatusCode::OK).has("Where do I find my exam timetable").has("Draft an entry");
    admin.post("/admin/faq/draft", &[("id", &number.to_string())]).await.expect(StatusCode::SEE_OTHER);
    let page = admin.get("/admin/faq").await.has("Publish");
    let at = page.body.find("action=\"/admin/faq/publish\"").unwrap();
    let rest = &page.body[at..];
    let id_at = rest.find("name=\"id\" value=\"").unwrap() + 17;
    let entry = rest[id_at..id_at + rest[id_at..].find('"').unwrap()].to_owned();
    s.get("/faq").await.lacks("Where do I find my exam timetable");
    admin.post("/admin/faq/publish", &[("id", &entry)]).await.expect(StatusCode::SEE_OTHER);
    s.get("/faq")
        .await
        .has("Where do I find my exam timetable")
        .has("<strong>My studies → Timetable</strong>")
        .has("Exams");
    s.get("/faq?q=timetable").await.has("Where do I find my exam timetable");
    s.get("/admin/faq").await.expect(StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn admins_set_sla_targets_and_a_refused_target_keeps_what_was_typed() {
    let app = App::spawn().await;
    let mut admin = app.signed_in(Role::Admin, "Ray Admin").await;
    let page = admin.get("/admin/sla").await.expect(StatusCode::OK);
    page.has("name=\"urgent_first\" inputmode=\"numeric\" value=\"60\"");
    let mut fields: Vec<(&str, &str)> = vec![
        ("low_first", "4320"),
        ("low_resolution", "14400"),
        ("medium_first", "1440"),
        ("medium_resolution", "7200"),
        ("high_first", "240"),
        ("high_resolution", "2880"),
        ("urgent_first", "30"),
        ("urgent_resolution", "20"),
    ];
    let refused = admin.post("/admin/sla", &fields).await.expect(StatusCode::UNPROCESSABLE_ENTITY);
    refused.has("id=\"urgent-error\"").has("value=\"20\"").has("value=\"30\"");
    fields[7] = ("urgent_resolution", "480");
    admin.post("/admin/sla", &fields).await.expect(StatusCode::SEE_OTHER);
    admin
        .get("/admin/sla?saved=1")
        .await
        .has("The targets are saved")
        .has("name=\"urgent_first\" inputmode=\"numeric\" value=\"30\"");
    let mut support = app.signed_in(Role::Support, "Sam Support").await;
    support.get("/admin/sla").await.expect(StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn with_the_forum_on_the_creator_asks_for_a_private_thread_from_the_ticket_page() {
    let app = App::spawn_with(true).await;
    let mut s = app.signed_in(Role::Student, "Tia Student").await;
    let number = s.raise("Group project partner missing", "My partner never answers").await;
    let path = format!("/tickets/{number}");
    s.get(&path).await.expect(StatusCode::OK).has("Forum thread").has("Create forum thread");
    s.post(&format!("{path}/thread"), &[("visibility", "private")]).await.expect(StatusCode::SEE_OTHER);
    s.get(&path).await.has("The thread is being opened on the forum").has("Private").lacks("Create forum thread");
    let mut other = app.signed_in(Role::Student, "Uma Student").await;
    other.get(&path).await.expect(StatusCode::OK).has("No forum thread").lacks("Create forum thread");
    other.post(&format!("{path}/thread"), &[("visibility", "public")]).await.expect(StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn with_the_forum_on_a_student_asks_for_a_private_thread_while_raising_the_ticket() {
    let app = App::spawn_with(true).await;
    let mut s = app.signed_in(Role::Student, "Vic Student").await;
    s.get("/tickets/new").await.expect(StatusCode::OK).has("Forum thread").has("Private thread with support");
    let category = app.category.to_string();
    let page = s
        .post_ticket(
            &[
                ("title", "Lab report portal rejects PDF"),
                ("description", "Every upload fails"),
                ("category_id", &category),
                ("priority", "medium"),
                ("thread", "private"),
                ("action", "submit"),
            ],
            true,
        )
        .await
        .expect(StatusCode::SEE_OTHER);
    let path = page.location().to_owned();
    assert!(!path.contains('?'), "no notice: {path}");
    s.get(&path)
        .await
        .expect(StatusCode::OK)
        .has("The thread is being opened on the forum")
        .has("Private")
        .lacks("Create forum thread");
    // A ticket raised without asking for one has none.
    let number = s.raise("Timetable clash in week 5", "Two exams at once").await;
    s.get(&format!("/tickets/{number}")).await.has("Create forum thread");
}

#[tokio::test]
async fn with_the_forum_off_the_new_ticket_form_offers_no_thread() {
    let app = App::spawn().await;
    let mut s = app.signed_in(Role::Student, "Wes Student").await;
    s.get("/tickets/new").await.expect(StatusCode::OK).lacks("Forum thread").lacks("Private thread with support");
}
