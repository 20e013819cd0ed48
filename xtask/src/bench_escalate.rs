//! `cargo xtask bench escalate`: delivering escalation messages against a chat space's write
//! limit (see `docs/benchmarks.md` for the method and the figures).
//!
//! Escalation events (`POST /tickets/{id}/escalate`, in process, whole middleware stack) are
//! spread over tickets, whose categories route them to several chat webhooks. Then the
//! delivery worker (the production one: outbox, chat dispatcher, Google Chat client with its
//! per-webhook rate limit) posts them to a local webhook sink that answers as Google Chat does
//! and enforces its write limit: at most 60 messages in any minute per space, a 429 with
//! `Retry-After` beyond it. Measured: the time until every message is accepted, against the
//! theoretical minimum the limit allows for the busiest space (all events waiting at the
//! start: `(ceil(n / limit) - 1)` minutes); the 429s received; messages lost, duplicated and
//! out of order within a thread.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use async_trait::async_trait;
use domain::accounts::{ClientAddr, Role};
use domain::clock::SystemClock;
use domain::notifications::{Channels, DeliveryError, DeliveryWorker, Mailer, OutgoingEmail, WorkerSettings};
use domain::tickets::{Description, NewTicket, Priority, Tags, Title};
use poem::http::StatusCode;
use poem::listener::{Acceptor as _, Listener as _, TcpListener};
use poem::web::{Data, Json, Path, Query};
use poem::{handler, post, test::TestClient, EndpointExt as _, Response, Route};
use serde_json::{json, Value};

use crate::bench_notify::Db;

const PASSWORD: &str = "bench password 1234";

/// What to run.
pub struct Options {
    /// Escalation events in all.
    pub events: usize,
    /// Tickets they are spread over.
    pub tickets: usize,
    /// Chat spaces (one webhook per category; tickets spread over the categories).
    pub spaces: usize,
    /// The sink's write limit per space per minute (Google Chat: 60).
    pub sink_per_minute: usize,
    /// osts's own limit per webhook (`OSTS_CHAT_REQUESTS_PER_MINUTE`).
    pub client_per_minute: u32,
    /// Give up after this long.
    pub timeout: Duration,
}

/// The local Google Chat: a sliding-window limit per space, and what it accepted.
#[derive(Default)]
struct Sink {
    limit: usize,
    window: Mutex<HashMap<String, VecDeque<Instant>>>,
    /// (space, requestId, threadKey, note) in the order accepted.
    accepted: Mutex<Vec<(String, String, String, String)>>,
    too_many: Mutex<u32>,
}

#[handler]
fn chat_space(
    Path(space): Path<String>,
    Query(query): Query<Vec<(String, String)>>,
    Json(body): Json<Value>,
    sink: Data<&Arc<Sink>>,
) -> Response {
    let now = Instant::now();
    {
        let mut windows = sink.window.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let times = windows.entry(space.clone()).or_default();
        while times.front().is_some_and(|t| now.duration_since(*t) >= Duration::from_secs(60)) {
            times.pop_front();
        }
        if times.len() >= sink.limit {
            *sink.too_many.lock().unwrap_or_else(std::sync::PoisonError::into_inner) += 1;
            let wait = Duration::from_secs(60).saturating_sub(now.duration_since(times[0]));
            return Response::builder()
                .status(StatusCode::TOO_MANY_REQUESTS)
                .header("Retry-After", (wait.as_secs() + 1).to_string())
                .body(
                    r#"{"error":{"code":429,"message":"Resource has been exhausted","status":"RESOURCE_EXHAUSTED"}}"#,
                );
        }
        times.push_back(now);
    }
    let request_id = query.iter().find(|(k, _)| k == "requestId").map(|(_, v)| v.clone()).unwrap_or_default();
    let thread = body["thread"]["threadKey"].as_str().unwrap_or_default().to_owned();
    let note = body["cardsV2"][0]["card"]["sections"][1]["widgets"][1]["textParagraph"]["text"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    sink.accepted.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push((space, request_id, thread, note));
    Response::builder().content_type("application/json").body(r#"{"name":"spaces/S/messages/M"}"#)
}

/// No email in this benchmark.
struct NoMail;

#[async_trait]
impl Mailer for NoMail {
    async fn send(&self, _: &OutgoingEmail) -> Result<(), DeliveryError> {
        Err(DeliveryError::Never("no email in this benchmark".into()))
    }
}

struct Up;

#[async_trait]
impl api::Health for Up {
    async fn check(&self) -> anyhow::Result<()> {
        Ok(())
    }
}

pub async fn escalate(options: Options) -> anyhow::Result<()> {
    anyhow::ensure!(options.spaces >= 1 && options.tickets >= options.spaces, "need at least one ticket per space");
    let db = Db::new("sqlite").await?;
    let store = db.store.clone();

    let sink = Arc::new(Sink { limit: options.sink_per_minute, ..Sink::default() });
    let acceptor = TcpListener::bind("127.0.0.1:0").into_acceptor().await?;
    let addr = acceptor.local_addr()[0].as_socket_addr().copied().context("sink address")?;
    let sink_app = Route::new().at("/v1/spaces/:space/messages", post(chat_space)).data(sink.clone());
    let sink_task = tokio::spawn(poem::Server::new_with_acceptor(acceptor).run(sink_app));

    let adapters = domain::services::Adapters {
        hasher: Arc::new(credentials::Argon2Hasher::fast_for_tests()),
        tokens: Arc::new(credentials::RandomTokens),
        throttle: Arc::new(credentials::GovernorThrottle::new(1000, 1000)),
        resend_throttle: Arc::new(credentials::GovernorThrottle::new(1000, 1000)),
        blobs: Arc::new(blobs::FsBlobStore::new(std::env::temp_dir().join("osts-bench-blobs"))),
        unsubscribe: Arc::new(credentials::HmacUnsubscribeTokens::new(credentials::SecretKey::new(
            "bench key, not a secret: 0123456789abcdef",
        )?)),
        clock: Arc::new(SystemClock),
    };
    let mut settings = domain::ServiceSettings::default();
    settings.escalation.webhooks =
        domain::escalation::WebhookPolicy { hosts: vec!["127.0.0.1".into()], allow_http: true };
    let ports = domain::Ports::new(store.repositories(), adapters, domain::services::Semantic::off());
    let app = api::App::new(ports, settings);
    let err = |e: domain::Error| anyhow::anyhow!("{e}");
    app.accounts.create_active("admin@bench.example", "Admin", PASSWORD, Role::Admin).await.map_err(err)?;
    let agent =
        app.accounts.create_active("agent@bench.example", "Agent", PASSWORD, Role::Support).await.map_err(err)?;
    let admin = app.accounts.login("admin@bench.example", PASSWORD, ClientAddr::Unknown).await.map_err(err)?;
    let support = app.accounts.login("agent@bench.example", PASSWORD, ClientAddr::Unknown).await.map_err(err)?;
    let (admin, support) = (admin.token.expose().to_owned(), support.token.expose().to_owned());
    let client = TestClient::new(api::build(app, Arc::new(Up)).boxed());

    // One category and one webhook per space.
    let mut categories = Vec::new();
    for s in 0..options.spaces {
        let resp = client
            .post("/api/v1/categories")
            .header("Authorization", format!("Bearer {admin}"))
            .body_json(&json!({ "name": format!("Space {s}") }))
            .send()
            .await;
        resp.assert_status(StatusCode::CREATED);
        let category = resp.json().await.value().object().get("id").i64();
        let resp = client
            .post("/api/v1/admin/chat/webhooks")
            .header("Authorization", format!("Bearer {admin}"))
            .body_json(&json!({
                "name": format!("Space {s}"),
                "url": format!("http://{addr}/v1/spaces/S{s}/messages?key=k&token=t"),
                "category_id": category,
            }))
            .send()
            .await;
        resp.assert_status(StatusCode::CREATED);
        categories.push(domain::categories::CategoryId::new(category));
    }
    let tickets = store
        .import_tickets(
            (0..options.tickets)
                .map(|i| {
                    Ok(NewTicket {
                        title: Title::parse(&format!("Escalated concern number {i}")).map_err(err)?,
                        description: Description::parse("Many students are affected.").map_err(err)?,
                        category_id: categories[i % categories.len()],
                        tags: Tags::default(),
                        priority: Priority::Medium,
                        creator_id: agent.id,
                        created_at: chrono::Utc::now(),
                        follow_up_of: None,
                        sla_due: None,
                        escalation: None,
                    })
                })
                .collect::<anyhow::Result<Vec<_>>>()?,
        )
        .await?;

    // Every event first (the worker is not running): all messages wait at the start, as the
    // theoretical minimum assumes.
    let enqueue = Instant::now();
    for e in 0..options.events {
        let ticket = tickets[e % tickets.len()].get();
        let round = e / tickets.len();
        let resp = client
            .post(format!("/api/v1/tickets/{ticket}/escalate"))
            .header("Authorization", format!("Bearer {support}"))
            .body_json(&json!({ "note": format!("event {round}") }))
            .send()
            .await;
        resp.assert_status_is_ok();
    }
    let enqueue = enqueue.elapsed();

    let chat = chat::ChatClient::new(Duration::from_secs(10), options.client_per_minute)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let links = markup::Links::new("https://help.uni.edu");
    let dispatcher = domain::escalation::ChatDispatcher::new(
        store.escalations(),
        Arc::new(chat),
        Arc::new(move |n| links.ticket(n)),
    );
    let worker = DeliveryWorker::new(
        store.outbox(),
        Channels::new(Arc::new(NoMail)).with_chat(Arc::new(dispatcher)),
        Arc::new(credentials::HmacUnsubscribeTokens::new(credentials::SecretKey::new(
            "bench key, not a secret: 0123456789abcdef",
        )?)),
        Arc::new(SystemClock),
        Arc::new(|| 0.5),
        WorkerSettings::default(),
    );
    let stop = domain::stop::Stop::never();
    let started = Instant::now();
    let accepted = || sink.accepted.lock().unwrap_or_else(std::sync::PoisonError::into_inner).len();
    while accepted() < options.events && started.elapsed() < options.timeout {
        let report = worker.deliver_due(&stop).await?;
        if report.handled() == 0 {
            // What the server's delivery job does between rounds, at a fine interval.
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    let took = started.elapsed();
    sink_task.abort();

    let accepted = sink.accepted.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone();
    let distinct: HashSet<&str> = accepted.iter().map(|(_, id, _, _)| id.as_str()).collect();
    let lost = options.events.saturating_sub(distinct.len());
    let duplicated = accepted.len() - distinct.len();
    let mut last: HashMap<&str, usize> = HashMap::new();
    let mut out_of_order = 0;
    for (_, _, thread, note) in &accepted {
        let round: usize = note.trim_start_matches("event ").parse().unwrap_or(usize::MAX);
        if last.get(thread.as_str()).is_some_and(|&before| round <= before) {
            out_of_order += 1;
        }
        last.insert(thread, round);
    }
    let mut per_space: HashMap<&str, usize> = HashMap::new();
    for (space, _, _, _) in &accepted {
        *per_space.entry(space).or_default() += 1;
    }
    let busiest = per_space.values().copied().max().unwrap_or(0);
    let minimum = Duration::from_secs(60 * (busiest.div_ceil(options.sink_per_minute.max(1)).saturating_sub(1)) as u64);
    let too_many = *sink.too_many.lock().unwrap_or_else(std::sync::PoisonError::into_inner);

    println!(
        "| events | tickets | spaces | sink limit | osts limit | enqueue | delivered in | theoretical minimum | \
         delivered / minimum | 429s | lost | duplicated | out of order |"
    );
    println!("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    println!(
        "| {} | {} | {} | {}/min | {}/min | {:.1} s | {:.1} s | {:.1} s | {} | {} | {} | {} | {} |",
        options.events,
        options.tickets,
        options.spaces,
        options.sink_per_minute,
        options.client_per_minute,
        enqueue.as_secs_f64(),
        took.as_secs_f64(),
        minimum.as_secs_f64(),
        if minimum.is_zero() { "n/a".to_owned() } else { format!("{:.3}", took.as_secs_f64() / minimum.as_secs_f64()) },
        too_many,
        lost,
        duplicated,
        out_of_order,
    );
    db.finish().await?;
    anyhow::ensure!(lost == 0 && duplicated == 0 && out_of_order == 0, "messages were lost, duplicated or reordered");
    Ok(())
}
