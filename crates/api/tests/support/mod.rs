//! Test support: the osts API in process, on a fresh in-memory SQLite store, with builders
//! for the accounts, categories and tickets a test needs.

// Each test binary uses a different part of this module.
#![allow(dead_code)]

pub mod contract;

use std::path::{Path, PathBuf};
use std::sync::{
    atomic::{AtomicUsize, Ordering},
    Arc,
};

use api::{App, Health};
use async_trait::async_trait;
use domain::{
    accounts::{AccountService, Role},
    clock::{Clock, FixedClock, SystemClock},
    notifications::{Channels, DeliveryError, DeliveryWorker, Mailer, NotificationKind, OutgoingEmail, WorkerSettings},
    similarity::{EmbedError, Embedder, Embedding, SemanticState, SimilarityService},
    workflow::WorkflowService,
};
use poem::{
    endpoint::BoxEndpoint,
    http::{HeaderMap, Method},
    test::TestClient,
    EndpointExt, Response,
};
use serde_json::{json, Value};

/// The password every test account gets.
pub const PASSWORD: &str = "correct horse battery";

/// The database probe, over the store.
struct StoreHealth(store::Store);

#[async_trait]
impl Health for StoreHealth {
    async fn check(&self) -> anyhow::Result<()> {
        self.0.ping().await
    }
}

/// The semantic stage switched off: suggestions are lexical.
pub struct NoModel;

#[async_trait]
impl Embedder for NoModel {
    fn state(&self) -> SemanticState {
        SemanticState::Disabled
    }
    fn model_id(&self) -> String {
        "none".into()
    }
    async fn embed(&self, _: Vec<String>) -> Result<Vec<Embedding>, EmbedError> {
        Err(EmbedError::Unavailable)
    }
}

/// A mailer that keeps what it is given, or refuses everything permanently with the reply
/// set in its second field.
#[derive(Default)]
pub struct MailBag(std::sync::Mutex<Vec<OutgoingEmail>>, pub std::sync::Mutex<Option<String>>);

#[async_trait]
impl Mailer for MailBag {
    async fn send(&self, email: &OutgoingEmail) -> Result<(), DeliveryError> {
        if let Some(reply) = self.1.lock().unwrap().clone() {
            return Err(DeliveryError::Never(reply));
        }
        self.0.lock().unwrap().push(email.clone());
        Ok(())
    }
}

/// How to set up a [`TestApp`].
pub struct Options {
    /// Sign-in attempts allowed per email and per address a minute.
    pub throttle: (u32, u32),
    /// Confirmation resends allowed per email and per address a minute.
    pub resend_throttle: (u32, u32),
    /// The health check; the store's ping when `None`.
    pub health: Option<Arc<dyn Health>>,
    /// The clock; the system clock when `None`.
    pub clock: Option<Arc<dyn Clock>>,
    /// The services' settings (the session lifetime is always 12 hours).
    pub settings: domain::ServiceSettings,
    /// The sentence embedder; [`NoModel`] when `None`.
    pub embedder: Option<Arc<dyn Embedder>>,
    /// The chat notifier the delivery worker posts through; none (chat jobs are dead
    /// letters) when `None`.
    pub chat: Option<Arc<dyn domain::escalation::ChatNotifier>>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            throttle: (10_000, 10_000),
            resend_throttle: (10_000, 10_000),
            health: None,
            clock: None,
            settings: domain::ServiceSettings::default(),
            embedder: None,
            chat: None,
        }
    }
}

/// A signed-in (or at least registered) account.
#[derive(Debug, Clone)]
pub struct User {
    /// Account id.
    pub id: i64,
    /// Sign-in address.
    pub email: String,
    /// A bearer token of a live session.
    pub token: String,
}

/// An answer of the API.
#[derive(Debug)]
pub struct Reply {
    /// HTTP status.
    pub status: u16,
    /// Response headers.
    pub headers: HeaderMap,
    /// The body parsed as JSON (`Null` when empty).
    pub body: Value,
}

impl Reply {
    /// Asserts the status, showing the body when it differs.
    #[track_caller]
    pub fn expect(self, status: u16) -> Self {
        assert_eq!(self.status, status, "unexpected status; body: {}", self.body);
        self
    }

    /// Asserts an error in the one error shape with this status and code; returns the body.
    #[track_caller]
    pub fn expect_error(self, status: u16, code: &str) -> Value {
        let body = self.expect(status).body;
        assert_error_shape(&body);
        assert_eq!(body["code"], code, "unexpected code; body: {body}");
        body
    }
}

/// Asserts `{"code": string, "message": string, "field": string | null}` and nothing else.
#[track_caller]
pub fn assert_error_shape(body: &Value) {
    let obj = body.as_object().unwrap_or_else(|| panic!("error body is not an object: {body}"));
    assert!(obj["code"].is_string(), "code: {body}");
    assert!(obj["message"].as_str().is_some_and(|m| !m.is_empty()), "message: {body}");
    assert!(obj["field"].is_string() || obj["field"].is_null(), "field: {body}");
    assert_eq!(obj.len(), 3, "unexpected keys: {body}");
}

/// The osts API on a fresh in-memory store, with an active admin and one category.
pub struct TestApp {
    /// The in-process client (for requests `call` cannot express, such as form bodies).
    pub client: TestClient<BoxEndpoint<'static, Response>>,
    accounts: AccountService,
    /// The workflow service, for jobs a test runs itself (auto-close).
    pub workflow: WorkflowService,
    /// An active admin, signed in.
    pub admin: User,
    /// A category tickets can go in.
    pub category_id: i64,
    /// Where the blob store keeps attachments' bytes (a temporary directory).
    pub blob_dir: PathBuf,
    _blob_root: tempfile::TempDir,
    /// The similar-tickets service behind the API (to run the embedding worker's step).
    pub similarity: SimilarityService,
    /// The escalation service behind the API (to run the SLA check).
    pub escalation: domain::escalation::EscalationService,
    /// Every email the outbox delivered so far (see [`TestApp::deliver`]).
    pub mail: Arc<MailBag>,
    worker: DeliveryWorker,
    /// The same worker a day later, when every backoff has passed.
    retry_worker: DeliveryWorker,
    /// Signs unsubscribe tokens with the app's key, as the delivery worker does.
    pub unsubscribe: credentials::HmacUnsubscribeTokens,
    seq: AtomicUsize,
}

impl TestApp {
    /// A fresh app whose sign-in throttle will not get in the way.
    pub async fn spawn() -> Self {
        Self::spawn_with(Options::default()).await
    }

    /// A fresh app allowing this many sign-in attempts per email and per address a minute.
    pub async fn spawn_with_throttle(per_account: u32, per_addr: u32) -> Self {
        Self::spawn_with(Options { throttle: (per_account, per_addr), ..Options::default() }).await
    }

    /// A fresh app with these options.
    pub async fn spawn_with(options: Options) -> Self {
        let (per_account, per_addr) = options.throttle;
        let (resends_per_email, resends_per_addr) = options.resend_throttle;
        let store = store::Store::connect("sqlite::memory:").await.expect("in-memory store");
        let blob_root = tempfile::tempdir().expect("blob directory");
        let blob_dir = blob_root.path().join("blobs");
        let unsubscribe = credentials::HmacUnsubscribeTokens::new(
            credentials::SecretKey::new("test key, not a secret: 0123456789abcdef").expect("a long enough key"),
        );
        let adapters = domain::services::Adapters {
            hasher: Arc::new(credentials::Argon2Hasher::fast_for_tests()),
            tokens: Arc::new(credentials::RandomTokens),
            throttle: Arc::new(credentials::GovernorThrottle::new(per_account, per_addr)),
            resend_throttle: Arc::new(credentials::GovernorThrottle::new(resends_per_email, resends_per_addr)),
            blobs: Arc::new(blobs::FsBlobStore::new(&blob_dir)),
            unsubscribe: Arc::new(unsubscribe.clone()),
            clock: options.clock.clone().unwrap_or_else(|| Arc::new(SystemClock)),
        };
        let settings = domain::ServiceSettings { session_ttl: chrono::Duration::hours(12), ..options.settings };
        let semantic = domain::services::Semantic {
            embedder: options.embedder.clone().unwrap_or_else(|| Arc::new(NoModel)),
            ..domain::services::Semantic::off()
        };
        let ports = domain::Ports::new(store.repositories(), adapters, semantic);
        let mut app = App::new(ports, settings);
        let mail = Arc::new(MailBag::default());
        let mut channels = Channels::new(mail.clone());
        if let Some(chat) = &options.chat {
            app.escalation = app.escalation.clone().with_notifier(chat.clone());
            let links = markup::Links::new("https://help.uni.edu");
            channels = channels.with_chat(Arc::new(domain::escalation::ChatDispatcher::new(
                store.escalations(),
                chat.clone(),
                Arc::new(move |n| links.ticket(n)),
            )));
        }
        let escalation = app.escalation.clone();
        let similarity = app.similarity.clone();
        let accounts = app.accounts.clone();
        let workflow = app.workflow.clone();
        // Far in the future, so every queued delivery is due whatever clock the app runs on.
        let worker_at = |day| {
            DeliveryWorker::new(
                store.outbox(),
                channels.clone(),
                Arc::new(unsubscribe.clone()),
                Arc::new(FixedClock(chrono::TimeZone::with_ymd_and_hms(&chrono::Utc, 2100, 1, day, 0, 0, 0).unwrap())),
                Arc::new(|| 0.5),
                WorkerSettings::default(),
            )
        };
        let (worker, retry_worker) = (worker_at(1), worker_at(2));
        let health = options.health.unwrap_or_else(|| Arc::new(StoreHealth(store)));
        let endpoint = api::build(app, health).boxed();
        let mut this = Self {
            client: TestClient::new(endpoint),
            accounts,
            workflow,
            admin: User { id: 0, email: String::new(), token: String::new() },
            category_id: 0,
            blob_dir,
            _blob_root: blob_root,
            similarity,
            escalation,
            mail,
            worker,
            retry_worker,
            unsubscribe,
            seq: AtomicUsize::new(0),
        };
        this.admin = this.active(Role::Admin).await;
        this.category_id = this.category("General").await;
        this
    }

    /// A unique number for names and emails.
    pub fn next(&self) -> usize {
        self.seq.fetch_add(1, Ordering::Relaxed)
    }

    /// A fresh email address.
    pub fn email(&self) -> String {
        format!("user{}@uni.edu", self.next())
    }

    /// Sends a request; `token` goes in `Authorization: Bearer`, `body` as JSON.
    pub async fn call(&self, method: Method, path: &str, token: Option<&str>, body: Option<Value>) -> Reply {
        let mut req = self.client.request(method.clone(), path);
        if let Some(token) = token {
            req = req.header("Authorization", format!("Bearer {token}"));
        }
        if let Some(body) = body {
            req = req.body_json(&body);
        }
        read(method.as_str(), path, req.send().await.0).await
    }

    /// `GET`.
    pub async fn get(&self, path: &str, token: &str) -> Reply {
        self.call(Method::GET, path, Some(token), None).await
    }

    /// `POST` with a JSON body.
    pub async fn post(&self, path: &str, token: &str, body: Value) -> Reply {
        self.call(Method::POST, path, Some(token), Some(body)).await
    }

    /// `PATCH` with a JSON body.
    pub async fn patch(&self, path: &str, token: &str, body: Value) -> Reply {
        self.call(Method::PATCH, path, Some(token), Some(body)).await
    }

    /// `PUT` without a body.
    pub async fn put(&self, path: &str, token: &str) -> Reply {
        self.call(Method::PUT, path, Some(token), None).await
    }

    /// `DELETE`.
    pub async fn delete(&self, path: &str, token: &str) -> Reply {
        self.call(Method::DELETE, path, Some(token), None).await
    }

    /// Sends raw bytes with a content type.
    pub async fn raw(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        content_type: &str,
        body: Vec<u8>,
    ) -> Reply {
        let mut req = self.client.request(method.clone(), path).content_type(content_type).body(body);
        if let Some(token) = token {
            req = req.header("Authorization", format!("Bearer {token}"));
        }
        read(method.as_str(), path, req.send().await.0).await
    }

    /// `POST` with a JSON body and an explicit `Content-Length`.
    pub async fn post_with_length(&self, path: &str, token: &str, body: Vec<u8>) -> Reply {
        let req = self
            .client
            .post(path)
            .header("Authorization", format!("Bearer {token}"))
            .header("Content-Length", body.len().to_string())
            .content_type("application/json")
            .body(body);
        read("POST", path, req.send().await.0).await
    }

    /// `GET` with one extra header and no token.
    pub async fn get_with_header(&self, path: &str, name: &str, value: &str) -> Reply {
        read("GET", path, self.client.get(path).header(name, value).send().await.0).await
    }

    /// Sends a `GET` and returns the raw response (for endpoints that do not answer JSON).
    pub async fn get_raw(&self, path: &str) -> Response {
        let resp = self.client.get(path).send().await.0;
        let content_type = resp.headers().get("content-type").and_then(|v| v.to_str().ok());
        let is_json = content_type.is_some_and(|ct| ct.starts_with("application/json"));
        if !is_json {
            contract::check("GET", path, resp.status().as_u16(), content_type, &Value::Null);
        }
        resp
    }

    /// Uploads one part (usually a file) to a ticket's attachments, streamed without
    /// `Content-Length`.
    pub async fn upload(&self, ticket: i64, token: Option<&str>, file: FilePart<'_>) -> Reply {
        let body = multipart_body(&[file]);
        self.upload_body(ticket, token, body, false).await
    }

    /// Sends a prepared multipart body (see [`multipart_body`]) to a ticket's upload route.
    pub async fn upload_body(&self, ticket: i64, token: Option<&str>, body: Vec<u8>, content_length: bool) -> Reply {
        let path = format!("/api/v1/tickets/{ticket}/attachments");
        let mut req = self.client.post(&path).content_type(format!("multipart/form-data; boundary={BOUNDARY}"));
        if content_length {
            req = req.header("Content-Length", body.len().to_string());
        }
        if let Some(token) = token {
            req = req.header("Authorization", format!("Bearer {token}"));
        }
        read("POST", &path, req.body(body).send().await.0).await
    }

    /// An internal note by `staff` on ticket `number`, with a PNG attached to it; returns the
    /// attachment's id.
    pub async fn note_attachment(&self, number: i64, staff: &User) -> i64 {
        let body = json!({ "body": "Staff only: the scan shows a grading error.", "internal": true });
        let note = self.post(&format!("/api/v1/tickets/{number}/replies"), &staff.token, body).await.expect(201);
        let note_id = note.body["id"].as_i64().expect("the note's id").to_string();
        let parts = [
            FilePart::file("grading.png", "image/png", PNG),
            FilePart { name: "reply_id", file_name: None, content_type: None, bytes: note_id.as_bytes() },
        ];
        let uploaded = self.upload_body(number, Some(&staff.token), multipart_body(&parts), false).await.expect(201);
        uploaded.body["id"].as_i64().expect("the attachment's id")
    }

    /// `GET` returning status, headers and the raw body (for downloads).
    pub async fn get_bytes(&self, path: &str, token: Option<&str>) -> (u16, HeaderMap, Vec<u8>) {
        let mut req = self.client.get(path);
        if let Some(token) = token {
            req = req.header("Authorization", format!("Bearer {token}"));
        }
        let resp = req.send().await.0;
        let (status, headers) = (resp.status().as_u16(), resp.headers().clone());
        let bytes = resp.into_body().into_vec().await.expect("response body");
        let content_type = headers.get("content-type").and_then(|v| v.to_str().ok());
        let body = match content_type {
            Some(ct) if ct.starts_with("application/json") => serde_json::from_slice(&bytes).expect("a JSON body"),
            _ => Value::Null,
        };
        contract::check("GET", path, status, content_type, &body);
        (status, headers, bytes)
    }

    /// Every file in the blob directory (temporary files included).
    pub fn blob_files(&self) -> Vec<PathBuf> {
        fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
            for entry in std::fs::read_dir(dir).into_iter().flatten() {
                let path = entry.expect("directory entry").path();
                if path.is_dir() {
                    walk(&path, out);
                } else {
                    out.push(path);
                }
            }
        }
        let mut out = Vec::new();
        walk(&self.blob_dir, &mut out);
        out
    }

    /// Registers a pending account with `role` through the API; returns its id and email.
    pub async fn register(&self, role: Role) -> (i64, String) {
        let email = self.email();
        let body = json!({
            "email": email,
            "display_name": format!("User {}", self.next()),
            "password": PASSWORD,
            "role": role.as_str(),
        });
        let reply = self.call(Method::POST, "/api/v1/auth/register", None, Some(body)).await.expect(201);
        (reply.body["id"].as_i64().unwrap(), email)
    }

    /// Runs the delivery worker until the outbox has nothing due; the emails land in
    /// [`TestApp::mail`].
    pub async fn deliver(&self) {
        while self.worker.deliver_due(&domain::stop::Stop::never()).await.expect("delivery round").handled() > 0 {}
    }

    /// Delivers what is due a day later: retries after their backoff.
    pub async fn deliver_retries(&self) {
        let stop = domain::stop::Stop::never();
        while self.retry_worker.deliver_due(&stop).await.expect("delivery round").handled() > 0 {}
    }

    /// The emails of `kind` delivered to `email` so far, oldest first (delivers first).
    pub async fn emails_to(&self, email: &str, kind: NotificationKind) -> Vec<OutgoingEmail> {
        self.deliver().await;
        let all = self.mail.0.lock().unwrap();
        all.iter().filter(|m| m.to.as_str() == email && m.kind == kind).cloned().collect()
    }

    /// The token of the newest confirmation link emailed to `email`.
    pub async fn confirmation_token(&self, email: &str) -> String {
        let mails = self.emails_to(email, NotificationKind::EmailConfirmation).await;
        let last = mails.last().unwrap_or_else(|| panic!("no confirmation email to {email}"));
        let payload: Value = serde_json::from_str(&last.payload).expect("payload is JSON");
        payload["token"].as_str().expect("token in the payload").to_owned()
    }

    /// Confirms `email` with the link it was sent, through the API; returns the account.
    pub async fn confirm(&self, email: &str) -> Value {
        let token = self.confirmation_token(email).await;
        self.call(Method::POST, "/api/v1/auth/confirm", None, Some(json!({ "token": token }))).await.expect(200).body
    }

    /// Signs in through the API; returns the token.
    pub async fn login(&self, email: &str) -> String {
        let body = json!({ "email": email, "password": PASSWORD });
        let reply = self.call(Method::POST, "/api/v1/auth/login", None, Some(body)).await.expect(200);
        reply.body["token"].as_str().unwrap().to_owned()
    }

    /// A registered, confirmed, not yet approved account, signed in.
    pub async fn pending(&self, role: Role) -> User {
        let (id, email) = self.register(role).await;
        self.confirm(&email).await;
        let token = self.login(&email).await;
        User { id, email, token }
    }

    /// A registered, confirmed account approved by the admin, signed in, with nothing unread
    /// (its confirmation and approval notifications are read), so that a test's unread counts
    /// start at zero.
    pub async fn approved(&self, role: Role) -> User {
        let (id, email) = self.register(role).await;
        self.confirm(&email).await;
        self.call(Method::POST, &format!("/api/v1/admin/users/{id}/approve"), Some(&self.admin.token), None)
            .await
            .expect(200);
        let token = self.login(&email).await;
        self.post("/api/v1/notifications/read-all", &token, json!({})).await.expect(200);
        User { id, email, token }
    }

    /// An active account made by an operator (as the CLI would), signed in.
    pub async fn active(&self, role: Role) -> User {
        let email = self.email();
        let account = self
            .accounts
            .create_active(&email, &format!("{} {}", role.as_str(), self.next()), PASSWORD, role)
            .await
            .expect("create_active");
        let token = self.login(&email).await;
        User { id: account.id.get(), email, token }
    }

    /// An approved, signed-in student.
    pub async fn student(&self) -> User {
        self.approved(Role::Student).await
    }

    /// An approved, signed-in support member.
    pub async fn support(&self) -> User {
        self.approved(Role::Support).await
    }

    /// A category made by the admin; returns its id.
    pub async fn category(&self, name: &str) -> i64 {
        let reply = self.post("/api/v1/categories", &self.admin.token, json!({ "name": name })).await.expect(201);
        reply.body["id"].as_i64().unwrap()
    }

    /// Starts a ticket raised by `creator`.
    pub fn ticket<'a>(&'a self, creator: &'a User) -> TicketBuilder<'a> {
        TicketBuilder {
            app: self,
            creator,
            body: json!({
                "title": format!("Exam results missing {}", self.next()),
                "description": "My quiz grade is not shown.",
                "category_id": self.category_id,
            }),
        }
    }
}

/// Builds a ticket through the API.
pub struct TicketBuilder<'a> {
    app: &'a TestApp,
    creator: &'a User,
    body: Value,
}

impl TicketBuilder<'_> {
    /// Sets a body field.
    pub fn with(mut self, field: &str, value: Value) -> Self {
        self.body[field] = value;
        self
    }

    /// Raises the ticket; returns its JSON.
    pub async fn create(self) -> Value {
        self.app.post("/api/v1/tickets", &self.creator.token, self.body).await.expect(201).body
    }

    /// Raises the ticket; returns its number.
    pub async fn number(self) -> i64 {
        self.create().await["number"].as_i64().unwrap()
    }
}

/// The multipart boundary [`TestApp::upload_body`] announces.
pub const BOUNDARY: &str = "osts-test-boundary-7MA4YWxkTrZu0gW";

/// A part of a multipart body.
#[derive(Debug, Clone, Copy)]
pub struct FilePart<'a> {
    /// The part's name (`file`, `reply_id`).
    pub name: &'a str,
    /// The file name the client claims, if any.
    pub file_name: Option<&'a str>,
    /// The part's `Content-Type` as the client claims it, if any.
    pub content_type: Option<&'a str>,
    /// The content.
    pub bytes: &'a [u8],
}

impl<'a> FilePart<'a> {
    /// A `file` part with a name and a claimed type.
    pub fn file(file_name: &'a str, content_type: &'a str, bytes: &'a [u8]) -> Self {
        Self { name: "file", file_name: Some(file_name), content_type: Some(content_type), bytes }
    }
}

/// A `multipart/form-data` body with [`BOUNDARY`].
pub fn multipart_body(parts: &[FilePart<'_>]) -> Vec<u8> {
    let mut body = Vec::new();
    for part in parts {
        body.extend_from_slice(format!("--{BOUNDARY}\r\n").as_bytes());
        let mut disposition = format!("Content-Disposition: form-data; name=\"{}\"", part.name);
        if let Some(name) = part.file_name {
            disposition.push_str(&format!("; filename=\"{name}\""));
        }
        body.extend_from_slice(disposition.as_bytes());
        body.extend_from_slice(b"\r\n");
        if let Some(ct) = part.content_type {
            body.extend_from_slice(format!("Content-Type: {ct}\r\n").as_bytes());
        }
        body.extend_from_slice(b"\r\n");
        body.extend_from_slice(part.bytes);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
    body
}

/// The first bytes of a PNG: enough for the type to be detected.
pub const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0";

/// Reads an answer to `method path`, checking it against the OpenAPI document.
async fn read(method: &str, path: &str, resp: Response) -> Reply {
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let bytes = resp.into_body().into_bytes().await.expect("response body");
    let is_json =
        headers.get("content-type").and_then(|v| v.to_str().ok()).is_some_and(|ct| ct.starts_with("application/json"));
    let body = if bytes.is_empty() {
        Value::Null
    } else if !is_json && status < 400 {
        // A download: described, not parsed (errors must always be JSON, so they still are).
        Value::String(format!("{} bytes of {:?}", bytes.len(), headers.get("content-type")))
    } else {
        serde_json::from_slice(&bytes)
            .unwrap_or_else(|e| panic!("{status} body is not JSON ({e}): {}", String::from_utf8_lossy(&bytes)))
    };
    let content_type = headers.get("content-type").and_then(|v| v.to_str().ok());
    let parsed = if is_json { &body } else { &Value::Null };
    contract::check(method, path, status, content_type, parsed);
    Reply { status, headers, body }
}
