//! `cargo xtask bench forum`: a ticket's thread work against the Discourse admin API's rate
//! limit (see `docs/benchmarks.md` for the method and the figures).
//!
//! Tickets are given public threads (`POST /tickets/{id}/thread`, in process, whole middleware
//! stack), then assigned to one support member after another (`PUT /tickets/{id}/assignee`):
//! each assignment is a thread event whose forum job posts a status note. Then the delivery
//! worker (the production one: outbox, `ForumDispatcher`, `ForumApi` with its client-side
//! limit) carries the jobs out against the stateful fake Discourse, which holds every request
//! to the admin API limit (N requests in any window, a 429 with `Retry-After` and
//! `extras.wait_seconds` beyond it). Discourse's window is a minute; here it is scaled down
//! (1 s by default) together with osts's own limiter, so that the run takes about a minute
//! instead of an hour. Measured: the time until every topic and note is on the forum, against
//! the minimum the limit allows for the requests the work needs (a lookup by external id and a
//! creation per thread, a reply per note; all waiting at the start:
//! `(ceil(requests / limit) - 1)` windows); the 429s received; topics and notes lost or
//! duplicated.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use domain::accounts::{ClientAddr, Role};
use domain::clock::SystemClock;
use domain::notifications::{Channels, DeliveryError, DeliveryWorker, Mailer, OutgoingEmail, WorkerSettings};
use domain::tickets::{Description, NewTicket, Priority, Tags, Title};
use poem::http::StatusCode;
use poem::{test::TestClient, EndpointExt as _};
use secrecy::SecretString;
use serde_json::json;

use crate::bench_notify::Db;

const PASSWORD: &str = "bench password 1234";

/// What to run.
pub struct Options {
    /// Tickets, each with a public thread.
    pub tickets: usize,
    /// Thread events (assignments, each posting a status note), spread over the tickets.
    pub events: usize,
    /// The forum's admin API limit per window (Discourse: 60 a minute).
    pub forum_limit: u32,
    /// osts's own limit per window (`OSTS_DISCOURSE_REQUESTS_PER_MINUTE`).
    pub client_limit: u32,
    /// The window, scaled down from Discourse's minute.
    pub window: Duration,
    /// Give up after this long.
    pub timeout: Duration,
}

/// No email in this benchmark.
struct NoMail;

#[async_trait::async_trait]
impl Mailer for NoMail {
    async fn send(&self, _: &OutgoingEmail) -> Result<(), DeliveryError> {
        Err(DeliveryError::Never("no email in this benchmark".into()))
    }
}

struct Up;

#[async_trait::async_trait]
impl api::Health for Up {
    async fn check(&self) -> anyhow::Result<()> {
        Ok(())
    }
}

pub async fn forum(options: Options) -> anyhow::Result<()> {
    anyhow::ensure!(options.tickets >= 1, "need at least one ticket");
    let per_ticket = options.events.div_ceil(options.tickets);
    let db = Db::new("sqlite").await?;
    let store = db.store.clone();

    let fake = discourse::fake::FakeDiscourse::start(discourse::fake::FakeConfig {
        rate_limit: Some(discourse::fake::RateLimit { requests: options.forum_limit, window: options.window }),
        ..discourse::fake::FakeConfig::default()
    })
    .await?;
    let mut config = discourse::ForumConfig::new(fake.url(), SecretString::from(fake.api_key()), "support", 5);
    config.requests_per_minute = options.client_limit;
    config.rate_window = options.window;
    let client = Arc::new(discourse::ForumApi::new(config).map_err(|e| anyhow::anyhow!("{e}"))?);

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
    let settings = domain::ServiceSettings {
        forum: domain::forum::ForumSettings { base_url: Some(fake.url()), api_username: "system".into() },
        ..Default::default()
    };
    let ports = domain::Ports::new(store.repositories(), adapters, domain::services::Semantic::off());
    let mut app = api::App::new(ports, settings);
    app.forum = app.forum.clone().with_client(client.clone());
    let err = |e: domain::Error| anyhow::anyhow!("{e}");
    app.accounts.create_active("admin@bench.example", "Admin", PASSWORD, Role::Admin).await.map_err(err)?;
    let mut agents = Vec::new();
    for a in 0..per_ticket.max(1) {
        let agent = app
            .accounts
            .create_active(&format!("agent{a}@bench.example"), &format!("Agent {a}"), PASSWORD, Role::Support)
            .await
            .map_err(err)?;
        agents.push(agent);
    }
    let admin = app.accounts.login("admin@bench.example", PASSWORD, ClientAddr::Unknown).await.map_err(err)?;
    let admin = admin.token.expose().to_owned();
    let http = TestClient::new(api::build(app, Arc::new(Up)).boxed());
    let resp = http
        .post("/api/v1/categories")
        .header("Authorization", format!("Bearer {admin}"))
        .body_json(&json!({ "name": "Bench" }))
        .send()
        .await;
    resp.assert_status(StatusCode::CREATED);
    let category = domain::categories::CategoryId::new(resp.json().await.value().object().get("id").i64());
    let tickets = store
        .import_tickets(
            (0..options.tickets)
                .map(|i| {
                    Ok(NewTicket {
                        title: Title::parse(&format!("Forum thread concern number {i}")).map_err(err)?,
                        description: Description::parse("Many students are affected by this.").map_err(err)?,
                        category_id: category,
                        tags: Tags::default(),
                        priority: Priority::Medium,
                        creator_id: agents[0].id,
                        created_at: chrono::Utc::now(),
                        follow_up_of: None,
                        sla_due: None,
                        escalation: None,
                    })
                })
                .collect::<anyhow::Result<Vec<_>>>()?,
        )
        .await?;

    // Every thread and event first (the worker is not running): all the work waits at the
    // start, as the minimum assumes.
    let enqueue = Instant::now();
    for ticket in &tickets {
        let resp = http
            .post(format!("/api/v1/tickets/{}/thread", ticket.get()))
            .header("Authorization", format!("Bearer {admin}"))
            .body_json(&json!({ "visibility": "public" }))
            .send()
            .await;
        resp.assert_status(StatusCode::CREATED);
    }
    let mut expected: BTreeMap<i64, Vec<String>> = BTreeMap::new();
    for e in 0..options.events {
        let ticket = tickets[e % tickets.len()].get();
        let agent = &agents[(e / tickets.len()) % agents.len()];
        let resp = http
            .put(format!("/api/v1/tickets/{ticket}/assignee"))
            .header("Authorization", format!("Bearer {admin}"))
            .body_json(&json!({ "assignee_id": agent.id.get() }))
            .send()
            .await;
        resp.assert_status_is_ok();
        expected
            .entry(ticket)
            .or_default()
            .push(format!("**Status:** the ticket is assigned to {}.", agent.display_name.as_str()));
    }
    let enqueue = enqueue.elapsed();

    let links = markup::Links::new("https://help.uni.edu");
    let dispatcher = domain::forum::ForumDispatcher::new(
        store.repositories().forum,
        client,
        Arc::new(move |n| links.ticket(n)),
        &fake.url(),
        Arc::new(SystemClock),
    );
    let worker = DeliveryWorker::new(
        store.outbox(),
        Channels::new(Arc::new(NoMail)).with_forum(Arc::new(dispatcher)),
        Arc::new(credentials::HmacUnsubscribeTokens::new(credentials::SecretKey::new(
            "bench key, not a secret: 0123456789abcdef",
        )?)),
        Arc::new(SystemClock),
        Arc::new(|| 0.5),
        WorkerSettings::default(),
    );
    let stop = domain::stop::Stop::never();
    let notes = || fake.stats().posts_created.saturating_sub(fake.stats().topics_created);
    let done = || fake.stats().topics_created as usize >= options.tickets && notes() as usize >= options.events;
    let started = Instant::now();
    while !done() && started.elapsed() < options.timeout {
        let report = worker.deliver_due(&stop).await?;
        if report.handled() == report.throttled {
            // What the server's delivery job does between rounds, at a fine interval.
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    let took = started.elapsed();
    // Anything still due (a duplicate would come from a retry) has its chance.
    for _ in 0..3 {
        worker.deliver_due(&stop).await?;
    }

    let (mut lost_topics, mut duplicated_topics, mut lost_notes, mut duplicated_notes) = (0, 0, 0, 0);
    let topics = fake.topics();
    for (ticket, wanted) in &expected {
        let external = format!("osts-{ticket}");
        let made: Vec<_> = topics.iter().filter(|t| t.external_id.as_deref() == Some(external.as_str())).collect();
        match made.len() {
            0 => {
                lost_topics += 1;
                lost_notes += wanted.len();
                continue;
            }
            n => duplicated_topics += n - 1,
        }
        let posted: Vec<String> = fake
            .posts(made[0].id)
            .into_iter()
            .filter(|p| p.post_type == 1 && p.post_number > 1 && !p.deleted)
            .map(|p| p.raw)
            .collect();
        let distinct: HashSet<&String> = posted.iter().collect();
        duplicated_notes += posted.len() - distinct.len();
        // A note ends with its event in an HTML comment.
        lost_notes += wanted.iter().filter(|w| !posted.iter().any(|p| p.starts_with(w.as_str()))).count();
    }
    lost_topics += options.tickets.saturating_sub(expected.len());
    let stats = fake.stats();
    // The requests the work needs: a lookup by external id and a creation per thread, a
    // reply per note.
    let needed = 2 * options.tickets + options.events;
    let windows = needed.div_ceil(options.forum_limit.max(1) as usize).saturating_sub(1);
    let minimum = options.window * u32::try_from(windows).unwrap_or(u32::MAX);
    let window_ms = options.window.as_millis();

    println!(
        "| tickets | thread events | forum limit | osts limit | enqueue | done in | minimum | done / minimum | \
         requests (needed) | 429s | answered from memo | topics lost | topics duplicated | notes lost | notes duplicated |"
    );
    println!(
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
    );
    println!(
        "| {} | {} | {}/{window_ms} ms | {}/{window_ms} ms | {:.1} s | {:.1} s | {:.1} s | {:.3} | {} ({needed}) | {} | {} | {} | {} | {} | {} |",
        options.tickets,
        options.events,
        options.forum_limit,
        options.client_limit,
        enqueue.as_secs_f64(),
        took.as_secs_f64(),
        minimum.as_secs_f64(),
        took.as_secs_f64() / minimum.as_secs_f64().max(f64::EPSILON),
        stats.requests,
        stats.rate_limited,
        stats.memo_hits,
        lost_topics,
        duplicated_topics,
        lost_notes,
        duplicated_notes,
    );
    db.finish().await?;
    anyhow::ensure!(
        lost_topics + duplicated_topics + lost_notes + duplicated_notes == 0,
        "topics or notes were lost or duplicated"
    );
    Ok(())
}
