//! The osts HTTP API: poem-openapi operations over the domain services.
//!
//! [`routes`] is the API's part of the route tree: `/api/v1/...`, the OpenAPI document at
//! `/api/openapi.json`, Swagger UI at `/api/docs` and the probes `GET /healthz` and
//! `GET /readyz`, with error
//! normalisation, so that every error an API client sees is `{"code", "message", "field"}`.
//! The server mounts it beside the other parts (`/webhooks`, `/`) and wraps the whole tree in
//! [`shared_middleware`] (request ids, request spans, panics, body limits); [`build`] is the
//! API alone with that middleware, as tests and benchmarks use it. [`openapi_json`] renders
//! the document offline.

use std::{sync::Arc, time::Duration};

use async_trait::async_trait;
use poem::{
    http::header,
    middleware::{CatchPanic, RequestId, SetHeader},
    Endpoint, EndpointExt, Response, Route,
};
use poem_openapi::{OpenApiService, Tags};

mod accounts;
mod attachments;
mod auth;
mod categories;
mod confirm_page;
mod contract;
mod conversation;
mod error;
mod escalation;
mod faq;
mod forum;
mod health;
mod middleware;
mod notifications;
mod nullable;
mod similar;
mod text;
mod tickets;
mod votes;
mod workflow;

pub use attachments::MAX_UPLOAD_BODY_BYTES;
pub use error::ApiError;
pub use middleware::{inline_scripts, HTTP_DURATION, HTTP_REQUESTS};

/// The largest request body we read (256 KiB); larger bodies get 413. Uploads have their
/// own limit, [`MAX_UPLOAD_BODY_BYTES`].
pub const MAX_BODY_BYTES: usize = 256 * 1024;

/// The longest a request body may take to arrive (408 after that): 256 KiB at 70 Kbit/s.
pub const BODY_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// The longest an upload may take to arrive (408 after that): 5 MiB at 350 Kbit/s.
pub const UPLOAD_READ_TIMEOUT: Duration = Duration::from_secs(120);

/// The domain services the API calls.
pub use domain::Services as App;

pub use health::{JobReport, JobStatus};

/// What `GET /readyz` asks the instance about its dependencies and background work. The
/// probe bounds each call with a timeout of its own.
#[async_trait]
pub trait Health: Send + Sync {
    /// `Ok` when the database answers.
    async fn check(&self) -> anyhow::Result<()>;

    /// How many migrations this build knows are not applied. An instance that migrates
    /// nothing (a test, a benchmark) keeps the default, none.
    async fn pending_migrations(&self) -> anyhow::Result<u64> {
        Ok(0)
    }

    /// Each registered background job. An instance without jobs (a test, a benchmark)
    /// keeps the default, none.
    fn jobs(&self) -> Vec<JobReport> {
        Vec::new()
    }
}

/// The groups operations are listed under in the OpenAPI document.
#[derive(Tags)]
enum ApiTags {
    /// Registration, sign-in, sign-out and the caller's own account.
    Auth,
    /// Account verification and management (admins only).
    Admin,
    /// Categories that tickets belong to.
    Categories,
    /// Raising, reading, editing and listing tickets, and their history.
    Tickets,
    /// Students' "me too" votes on tickets.
    Votes,
    /// The support queue, assignment, resolution, reopening and merging.
    Workflow,
    /// Replies, internal notes and watching.
    Conversation,
    /// Images and PDFs attached to tickets and replies.
    Attachments,
    /// The in-app inbox, notification preferences and undeliverable emails.
    Notifications,
    /// Questions and answers curated from resolved tickets; published entries are public.
    Faq,
    /// Escalation to chat spaces and service-level targets.
    Escalation,
    /// A ticket's Discourse forum thread.
    Forum,
    /// Probes for load balancers and orchestrators.
    Health,
}

/// Declares the API groups once: the type of the tuple and the tuple itself.
macro_rules! api_groups {
    ($($group:path),* $(,)?) => {
        type Apis = ($($group,)*);

        fn api_groups() -> Apis {
            ($($group,)*)
        }
    };
}

api_groups!(
    accounts::AuthApi,
    accounts::AdminApi,
    categories::CategoryApi,
    tickets::TicketApi,
    votes::VoteApi,
    workflow::WorkflowApi,
    conversation::ConversationApi,
    attachments::AttachmentApi,
    notifications::NotificationApi,
    faq::FaqApi,
    escalation::EscalationApi,
    forum::ForumApi,
    health::HealthApi,
    similar::SimilarApi,
);

const DESCRIPTION: &str = "\
The online support-ticket system's API.\n\n\
Sign in with `POST /api/v1/auth/login` and send the token as `Authorization: Bearer <token>`.\n\n\
Every error has the body `{\"code\": \"...\", \"message\": \"...\", \"field\": \"...\" | null}`: \
`code` is stable and machine-readable, `message` is for people, `field` names the request \
field at fault when there is one. 400 means the request could not be parsed, 422 that a \
value was not acceptable. Each value's limits are in its schema (`pattern`, `maxLength`, \
`enum`, ...), exactly as the server checks them; a value of the right shape that names \
nothing (an unknown `category_id`, say) is a 404 whose `field` names it.";

fn service() -> OpenApiService<Apis, ()> {
    let apis = api_groups();
    // No `servers` entry: paths are relative to wherever the API is served, and the document
    // does not depend on the environment.
    OpenApiService::new(apis, "osts API", env!("CARGO_PKG_VERSION")).description(DESCRIPTION)
}

/// The OpenAPI document as pretty JSON; the same on every call.
pub fn openapi_json() -> String {
    document(&service())
}

/// poem-openapi's document, with `additionalProperties: false` on the multipart forms,
/// which take no parts but their own (their derives deny unknown fields; poem-openapi cannot
/// say so). Inserted as text, so the rest keeps poem-openapi's order and layout.
fn document(service: &OpenApiService<Apis, ()>) -> String {
    const FORM: &str = "\"multipart/form-data\": {\n";
    let spec = service.spec();
    let mut out = String::with_capacity(spec.len() + 64);
    let mut rest = spec.as_str();
    while let Some(at) = rest.find(FORM) {
        let (head, tail) = rest.split_at(at + FORM.len());
        // The next line opens the form's schema.
        let line = &tail[..=tail.find('\n').expect("a line after the media type")];
        assert_eq!(line.trim(), "\"schema\": {", "a multipart form's schema, inline");
        let indent = line.len() - line.trim_start().len() + 2;
        out.push_str(head);
        out.push_str(line);
        out.push_str(&format!("{:indent$}\"additionalProperties\": false,\n", ""));
        rest = &tail[line.len()..];
    }
    out.push_str(rest);
    out
}

/// The API's routes (`/api/...`, `/healthz` and `/readyz`) with JSON error normalisation, to
/// be mounted without stripping the prefix (`Route::nest_no_strip("/api", ...)`) and wrapped
/// in [`shared_middleware`].
pub fn routes(app: App, health: Arc<dyn Health>) -> impl Endpoint<Output = Response> {
    let service = service();
    // Swagger UI is one page of inline scripts: its policy allows exactly those.
    let docs_policy = middleware::inline_scripts_policy(&service.swagger_ui_html());
    let docs = service.swagger_ui().with(SetHeader::new().overriding(header::CONTENT_SECURITY_POLICY, docs_policy));
    let spec = document(&service);
    let contract = Arc::new(contract::Contract::from_document(&spec));
    let spec_endpoint =
        poem::endpoint::make_sync(move |_| Response::builder().content_type("application/json").body(spec.clone()));
    Route::new()
        .at("/api/openapi.json", spec_endpoint)
        .nest("/api/docs", docs)
        .nest("/", service)
        .data(Arc::new(app))
        .data(health)
        // Inside the body limit (shared_middleware), so the body is already buffered.
        .with(contract::ContractChecks(contract))
        .with(middleware::NormaliseErrors)
}

/// The API alone with the shared middleware, as the API tests and benchmarks serve it.
pub fn build(app: App, health: Arc<dyn Health>) -> impl Endpoint<Output = Response> {
    shared_middleware(routes(app, health))
}

/// Wraps a route tree in what every request goes through, innermost first: the body limit
/// (uploads get theirs), panic recovery, the HTTP metrics (by route template), the request
/// span, the security headers (so every page and answer of any tree mounted here has them)
/// and the request id (outermost, so that even a panic's answer carries one).
pub fn shared_middleware(routes: impl Endpoint + 'static) -> impl Endpoint<Output = Response> {
    routes
        .with(middleware::BodyLimit::new(MAX_BODY_BYTES, BODY_READ_TIMEOUT).with_uploads(middleware::UploadLimit {
            matches: attachments::is_upload,
            max: MAX_UPLOAD_BODY_BYTES,
            read_timeout: UPLOAD_READ_TIMEOUT,
            too_large: || domain::attachments::too_large().into(),
        }))
        .with(CatchPanic::new().with_handler(middleware::on_panic))
        .with(middleware::HttpMetrics)
        .with(middleware::Trace)
        .with(middleware::SecurityHeaders)
        .with(RequestId::default())
}

#[cfg(test)]
mod tests {
    use poem::{get, handler, http::StatusCode, test::TestClient};

    use super::*;

    #[handler]
    fn panics() -> &'static str {
        panic!("a bug with a secret in it")
    }

    #[handler]
    fn teapot() -> (StatusCode, &'static str) {
        (StatusCode::IM_A_TEAPOT, "plain text")
    }

    #[handler]
    fn fails() -> poem::Result<&'static str> {
        Err(poem::Error::from_string("db at 10.0.0.5 refused", StatusCode::BAD_GATEWAY))
    }

    #[handler]
    async fn echo(body: Vec<u8>) -> Vec<u8> {
        body
    }

    fn client() -> TestClient<impl Endpoint> {
        let routes = Route::new()
            .at("/panic", get(panics))
            .at("/teapot", get(teapot))
            .at("/fail", get(fails))
            .at("/echo", poem::post(echo))
            .at("/api/v1/tickets/1/attachments", poem::post(echo));
        TestClient::new(shared_middleware(routes.with(middleware::NormaliseErrors)))
    }

    /// A request body that sends `prefix` and then nothing, without ever ending, as a client
    /// feeding a body a byte at a time (or not at all) looks from here.
    fn stalled_body(prefix: &'static [u8]) -> poem::Body {
        use tokio::io::AsyncReadExt as _;
        let (writer, reader) = tokio::io::duplex(64);
        // The writer stays open (leaked into a task that never ends), so the body never ends.
        tokio::spawn(async move {
            let _keep = writer;
            std::future::pending::<()>().await
        });
        poem::Body::from_async_read(prefix.chain(reader))
    }

    #[tokio::test(start_paused = true)]
    async fn a_body_that_does_not_arrive_in_time_is_408() {
        let started = tokio::time::Instant::now();
        let resp = client().post("/echo").body(stalled_body(b"{\"a\":")).send().await;
        resp.assert_status(StatusCode::REQUEST_TIMEOUT);
        assert_eq!(started.elapsed(), BODY_READ_TIMEOUT, "refused exactly at the bound (virtual time)");
        assert_eq!(body(resp).await["code"], "request_timeout");

        let started = tokio::time::Instant::now();
        let resp = client().post("/api/v1/tickets/1/attachments").body(stalled_body(b"--x\r\n")).send().await;
        resp.assert_status(StatusCode::REQUEST_TIMEOUT);
        assert_eq!(started.elapsed(), UPLOAD_READ_TIMEOUT, "uploads have a longer bound");
    }

    #[tokio::test(start_paused = true)]
    async fn a_body_that_arrives_in_time_is_read() {
        let resp = client().post("/echo").body("hello").send().await;
        resp.assert_status_is_ok();
        resp.assert_text("hello").await;
    }

    #[tokio::test]
    async fn every_answer_carries_the_security_headers_even_a_panic() {
        for path in ["/panic", "/teapot", "/fail", "/nowhere"] {
            let resp = client().get(path).send().await;
            resp.assert_header("x-content-type-options", "nosniff");
            resp.assert_header("x-frame-options", "DENY");
            resp.assert_header("referrer-policy", "no-referrer");
            resp.assert_header("content-security-policy", middleware::DEFAULT_CSP);
        }
    }

    async fn body(resp: poem::test::TestResponse) -> serde_json::Value {
        resp.0.into_body().into_json().await.unwrap()
    }

    #[tokio::test]
    async fn a_panic_is_a_generic_500_with_a_request_id() {
        let resp = client().get("/panic").send().await;
        resp.assert_status(StatusCode::INTERNAL_SERVER_ERROR);
        resp.assert_header_exist("x-request-id");
        let body = body(resp).await;
        assert_eq!(body["code"], "internal");
        assert!(!body.to_string().contains("secret"));
    }

    #[tokio::test]
    async fn server_errors_never_show_their_cause() {
        let resp = client().get("/fail").send().await;
        resp.assert_status(StatusCode::INTERNAL_SERVER_ERROR);
        let body = body(resp).await;
        assert_eq!(body["code"], "internal");
        assert!(!body.to_string().contains("10.0.0.5"));
    }

    #[test]
    fn multipart_forms_take_no_other_parts_and_the_document_stays_json() {
        let doc: serde_json::Value = serde_json::from_str(&openapi_json()).unwrap();
        let content = &doc["paths"]["/api/v1/tickets/{id}/attachments"]["post"]["requestBody"]["content"];
        let form = &content["multipart/form-data"]["schema"];
        assert_eq!(form["additionalProperties"], false);
        assert_eq!(form["properties"]["file"]["format"], "binary");
    }

    #[tokio::test]
    async fn plain_text_error_responses_become_json() {
        let resp = client().get("/teapot").send().await;
        resp.assert_status(StatusCode::IM_A_TEAPOT);
        resp.assert_content_type("application/json; charset=utf-8");
        assert_eq!(body(resp).await["code"], "i_m_a_teapot");
    }
}
