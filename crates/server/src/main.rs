//! `osts`: the online support-ticket system's server and operator commands.

use std::io::{BufRead as _, IsTerminal as _};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use domain::accounts::Role;
use domain::clock::{Clock, SystemClock};
use domain::notifications::UnsubscribeTokens;
use domain::Services;
use secrecy::ExposeSecret as _;
use server::jobs::{Registry, Schedule};
use server::settings::{self, LogFormat, Settings};
use server::workers;
use store::{Store, StoreOptions};

mod http;
mod routes;
mod similarity;

#[derive(Parser)]
#[command(name = "osts", version, about = "The online support-ticket system")]
struct Cli {
    /// A TOML configuration file (environment variables `OSTS_*` override it).
    #[arg(long, global = true, env = "OSTS_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Apply pending migrations and serve the API.
    Serve,
    /// Apply pending migrations and exit.
    Migrate,
    /// Account administration.
    Admin {
        #[command(subcommand)]
        command: AdminCommand,
    },
    /// Copy the database (SQLite: online, consistent; PostgreSQL: use pg_dump, as printed)
    /// and the attachment blobs it names into a new folder.
    Backup {
        /// The folder to create (missing or empty).
        #[arg(long)]
        to: PathBuf,
    },
    /// Restore an SQLite backup into the configured data dir, which must hold no database.
    Restore {
        /// The backup folder.
        #[arg(long)]
        from: PathBuf,
    },
    /// Check the settings without starting the server: print what is on, off or broken;
    /// exit 1 if anything is broken.
    CheckConfig,
}

#[derive(Subcommand)]
enum AdminCommand {
    /// Create an active admin account. The password comes from `OSTS_ADMIN_PASSWORD` or,
    /// if that is unset, from the first line of standard input.
    Create {
        /// Sign-in address.
        #[arg(long)]
        email: String,
        /// Display name.
        #[arg(long)]
        name: String,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    if let Command::CheckConfig = cli.command {
        return check_config(cli.config.as_deref()).await;
    }
    let settings = Settings::load(cli.config.as_deref())?;
    init_tracing(&settings);
    let result = match cli.command {
        Command::Serve => serve(settings).await,
        Command::Migrate => migrate(settings).await,
        Command::Admin { command: AdminCommand::Create { email, name } } => create_admin(settings, &email, &name).await,
        Command::Backup { to } => backup(settings, &to).await,
        Command::Restore { from } => restore(settings, &from).await,
        Command::CheckConfig => unreachable!("handled before the settings are loaded"),
    };
    if let Err(e) = &result {
        tracing::error!(error = format!("{e:#}"), "osts failed");
    }
    result
}

/// Log targets held at `warn` whatever `OSTS_LOG` says, because their detail carries
/// secrets: SeaORM's statements with their values inlined (token hashes, outbox payloads with
/// confirmation links, addresses), lettre's SMTP conversation (`AUTH` credentials, email
/// bodies) and html5ever's parse steps (the text of every description and reply sanitised).
const NEVER_VERBOSE: &str = "sea_orm=warn,lettre=warn,html5ever=warn,markup5ever=warn";

/// Logs to stderr, human-readable or one JSON object per line. Every event inside a request
/// carries the request's span (method, path, request id): in the pretty format as its prefix,
/// in JSON as `span` and `spans`.
fn init_tracing(settings: &Settings) {
    use tracing_subscriber::EnvFilter;
    // The caps come last: for the same target, the later directive wins.
    let filter = EnvFilter::try_new(format!("{},{NEVER_VERBOSE}", settings.log))
        .unwrap_or_else(|_| EnvFilter::new(format!("info,{NEVER_VERBOSE}")));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    match settings.log_format {
        LogFormat::Pretty => builder.init(),
        LogFormat::Json => builder.json().flatten_event(true).with_current_span(true).with_span_list(true).init(),
    }
}

async fn open_store(settings: &Settings, migrate: bool) -> anyhow::Result<Store> {
    let url = settings.database_url()?;
    let backend = store::Backend::of(url.expose_secret())?;
    let options = StoreOptions { max_connections: settings.db_max_connections, migrate, ..Default::default() };
    let store = Store::connect_with(url.expose_secret(), options).await?;
    tracing::info!(?backend, "database ready");
    Ok(store)
}

/// Confirmation-email resends allowed per email a minute.
const RESENDS_PER_EMAIL: u32 = 3;
/// Confirmation-email resends allowed per client address a minute.
const RESENDS_PER_ADDRESS: u32 = 20;

/// The composition root: every port gets its adapter here, and only here.
fn services(
    settings: &Settings,
    store: &Store,
    semantic: &similarity::Semantic,
    unsubscribe: Arc<dyn UnsubscribeTokens>,
) -> Services {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let adapters = domain::services::Adapters {
        hasher: Arc::new(credentials::Argon2Hasher::new()),
        tokens: Arc::new(credentials::RandomTokens),
        throttle: Arc::new(credentials::GovernorThrottle::with_limits(credentials::ThrottleLimits {
            per_account_and_address: settings.login_attempts_per_account,
            per_address: settings.login_attempts_per_address,
            per_account: settings.login_attempts_per_account_all_addresses,
        })),
        // Confirmation resends: a few per email (each replaces the last link), more per address.
        resend_throttle: Arc::new(credentials::GovernorThrottle::new(RESENDS_PER_EMAIL, RESENDS_PER_ADDRESS)),
        blobs: Arc::new(blobs::FsBlobStore::new(settings.data_dir.join("blobs"))),
        unsubscribe,
        clock,
    };
    Services::new(domain::Ports::new(store.repositories(), adapters, semantic.ports()), settings.services())
}

/// How often the planner's statistics are refreshed (cheap when little changed).
const STATISTICS_EVERY: Duration = Duration::from_secs(10 * 60);

/// The `Mailer`: SMTP when `OSTS_SMTP_URL` is set, otherwise `.eml` files under
/// `<data dir>/outbox-mail/`.
fn mailer(settings: &Settings) -> anyhow::Result<mailer::LettreMailer> {
    match &settings.smtp_url {
        Some(url) => mailer::LettreMailer::smtp(url.expose_secret(), &settings.mail_from, settings.links()),
        None => {
            let dir = settings.data_dir.join("outbox-mail");
            tracing::info!(dir = %dir.display(), "no SMTP relay configured; emails are written as .eml files");
            mailer::LettreMailer::files(dir, &settings.mail_from, settings.links())
        }
    }
}

/// How long a chat webhook call may take.
const CHAT_TIMEOUT: Duration = Duration::from_secs(10);

/// The chat webhook client, shared by the delivery worker and the webhooks' test action so
/// that both count against one rate limit per webhook.
fn chat_client(settings: &Settings) -> anyhow::Result<Arc<chat::ChatClient>> {
    if settings.chat_allow_http {
        tracing::warn!("OSTS_CHAT_ALLOW_HTTP is on: chat webhooks may use plain http (for local tests only)");
    }
    Ok(Arc::new(
        chat::ChatClient::new(CHAT_TIMEOUT, settings.chat_requests_per_minute)
            .map_err(|e| anyhow::anyhow!("chat client: {e}"))?,
    ))
}

/// The outbox's worker: every channel's port (email through the `Mailer`, chat messages
/// through the chat client, forum jobs through the Discourse client when it is configured).
fn delivery_worker(
    settings: &Settings,
    store: &Store,
    unsubscribe: Arc<dyn UnsubscribeTokens>,
    chat: Arc<chat::ChatClient>,
    forum: Option<Arc<discourse::ForumApi>>,
) -> anyhow::Result<domain::notifications::DeliveryWorker> {
    let links = settings.links();
    let dispatcher = domain::escalation::ChatDispatcher::new(
        store.escalations(),
        chat,
        Arc::new(move |number| links.ticket(number)),
    );
    let mut channels =
        domain::notifications::Channels::new(Arc::new(mailer(settings)?)).with_chat(Arc::new(dispatcher));
    if let (Some(forum), Some(base)) = (forum, &settings.discourse_url) {
        let links = settings.links();
        channels = channels.with_forum(Arc::new(domain::forum::ForumDispatcher::new(
            store.repositories().forum,
            forum,
            Arc::new(move |number| links.ticket(number)),
            base,
            Arc::new(SystemClock),
        )));
    }
    Ok(domain::notifications::DeliveryWorker::new(
        store.outbox(),
        channels,
        unsubscribe,
        Arc::new(SystemClock),
        // Jitter only has to differ between jobs and servers, not be unpredictable.
        Arc::new(|| {
            f64::from(
                std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos())
                    % 1000,
            ) / 1000.0
        }),
        domain::notifications::WorkerSettings {
            email: domain::notifications::RetryPolicy {
                max_attempts: settings.delivery_max_attempts,
                ..domain::notifications::RetryPolicy::email()
            },
            digest_hour: settings.digest_hour,
            ..Default::default()
        },
    ))
}

/// How often the digest job looks whether the day's digest is due.
const DIGESTS_EVERY: Duration = Duration::from_secs(60);

/// How long a stop waits for the jobs to finish their runs before cancelling them.
const JOBS_GRACE: Duration = Duration::from_secs(15);

/// Every background job, registered in one place.
fn start_jobs(
    settings: &Settings,
    store: &Store,
    services: &Services,
    semantic: &similarity::Semantic,
    unsubscribe: Arc<dyn UnsubscribeTokens>,
    chat: Arc<chat::ChatClient>,
    forum: Option<Arc<discourse::ForumApi>>,
) -> anyhow::Result<Registry> {
    let worker = delivery_worker(settings, store, unsubscribe, chat, forum)?;
    let mut jobs = Registry::new();
    // As soon as a commit enqueues deliveries, and every interval for retries coming due and
    // deliveries enqueued by other servers.
    let every = Duration::from_secs(settings.delivery_interval_secs);
    jobs.spawn("delivery", Arc::new(workers::Delivery(worker.clone())), Schedule::woken(every, store.delivery_wake()));
    jobs.spawn("digests", Arc::new(workers::Digests(worker)), Schedule::every(DIGESTS_EVERY));
    let every = Duration::from_secs(settings.auto_close_interval_secs);
    jobs.spawn("auto_close", Arc::new(workers::AutoClose(services.workflow.clone())), Schedule::every(every));
    let similarity = &services.similarity;
    jobs.spawn(
        "embedding",
        Arc::new(workers::Embedding(similarity.clone())),
        Schedule::woken(similarity::SWEEP_EVERY, semantic.wake.clone()),
    );
    jobs.spawn(
        "lexical",
        Arc::new(workers::Lexical(similarity.clone())),
        Schedule::woken(similarity::CATCH_UP_EVERY, semantic.lexical_wake.clone()),
    );
    jobs.spawn("vectors", Arc::new(workers::Vectors(similarity.clone())), Schedule::every(similarity::VECTORS_EVERY));
    jobs.spawn("statistics", Arc::new(workers::Statistics(store.clone())), Schedule::every(STATISTICS_EVERY));
    let every = Duration::from_secs(settings.sla_interval_secs);
    jobs.spawn("sla", Arc::new(workers::Sla(services.escalation.clone())), Schedule::every(every));
    Ok(jobs)
}

async fn serve(settings: Settings) -> anyhow::Result<()> {
    tracing::info!(version = env!("CARGO_PKG_VERSION"), "osts starting");
    let recorder = server::telemetry::install()?;
    let store = open_store(&settings, true).await?;
    let semantic = similarity::Semantic::start(&settings);
    let unsubscribe: Arc<dyn UnsubscribeTokens> =
        Arc::new(credentials::HmacUnsubscribeTokens::new(settings.secret_key()?));
    let mut services = services(&settings, &store, &semantic, unsubscribe.clone());
    let chat = chat_client(&settings)?;
    services.escalation = services.escalation.clone().with_notifier(chat.clone());
    let forum = settings.forum_client()?.map(Arc::new);
    if let Some(forum) = &forum {
        services.forum = services.forum.clone().with_client(forum.clone());
        tracing::info!("the Discourse forum is on");
    }
    let jobs = start_jobs(&settings, &store, &services, &semantic, unsubscribe, chat, forum)?;
    let probes = Arc::new(server::probes::Probes::new(store.clone(), jobs.health()));
    let scrape = server::telemetry::Scrape::new(recorder, store.clone(), jobs.health(), services.similarity.clone());
    let metrics = server::telemetry::MetricsEndpoint(Arc::new(scrape));
    let metrics_on = settings.metrics_on();
    let on_main_port = (metrics_on == settings::MetricsOn::MainPort).then(|| metrics.clone());
    let forum_webhook = Arc::new(server::forum_webhook::DiscourseWebhook {
        forum: services.forum.clone(),
        secret: settings.discourse_webhook_secret.clone(),
    });
    let forum_connect = Arc::new(server::forum_webhook::DiscourseConnect {
        forum: services.forum.clone(),
        accounts: services.accounts.clone(),
        connect: match (&settings.discourse_connect_secret, &settings.discourse_url) {
            (Some(secret), Some(url)) => Some(discourse::connect::Connect::new(secret.expose_secret(), url)),
            _ => None,
        },
        support_group: settings.discourse_support_group.clone(),
    });
    let web = web::routes(
        services.clone(),
        web::WebConfig {
            secure_cookies: settings.public_url.starts_with("https://"),
            forum: settings.discourse_url.is_some(),
        },
    );
    let app = routes::tree(api::routes(services, probes), web, on_main_port, Some((forum_webhook, forum_connect)));
    let listener = tokio::net::TcpListener::bind(settings.bind)
        .await
        .with_context(|| format!("cannot listen on {}", settings.bind))?;
    let addr = listener.local_addr().context("listener has no socket address")?;
    let limits = http::Limits {
        header_read: Duration::from_secs(settings.header_read_timeout_secs),
        drain: Duration::from_secs(10),
    };
    // One stop for every listener.
    let (stop, stopping) = tokio::sync::watch::channel(false);
    let stopped = move || {
        let mut stopping = stopping.clone();
        async move { drop(stopping.wait_for(|stop| *stop).await) }
    };
    let metrics_server = match metrics_on {
        settings::MetricsOn::Separate(bind) => {
            let listener = tokio::net::TcpListener::bind(bind)
                .await
                .with_context(|| format!("cannot listen for metrics on {bind}"))?;
            let addr = listener.local_addr().context("listener has no socket address")?;
            tracing::info!(%addr, "metrics on http://{addr}/metrics");
            Some(tokio::spawn(http::serve(listener, routes::metrics_tree(metrics), limits, stopped())))
        }
        settings::MetricsOn::MainPort => {
            tracing::info!(%addr, "metrics on http://{addr}/metrics (loopback)");
            None
        }
        settings::MetricsOn::Off => {
            tracing::info!("metrics off: the main port is not loopback and OSTS_METRICS_BIND is unset");
            None
        }
    };
    // Printed on stdout as well, so scripts and tests binding port 0 learn the real port.
    banner(&settings, addr);
    tracing::info!(%addr, docs = %format!("http://{addr}/api/docs"), "listening");
    tokio::spawn(async move {
        shutdown_signal().await;
        stop.send_replace(true);
    });
    http::serve(listener, app, limits, stopped()).await.context("server failed")?;
    if let Some(metrics_server) = metrics_server {
        metrics_server.await.context("the metrics listener panicked")?.context("the metrics listener failed")?;
    }
    // Each job finishes what it started and gives back what it had not (no delivery stays
    // leased), before the pool closes.
    let report = jobs.shutdown(JOBS_GRACE).await;
    tracing::info!(stopped = ?report.stopped, cancelled = ?report.cancelled, "background jobs stopped");
    store.close().await?;
    tracing::info!("stopped");
    Ok(())
}

/// The line on stdout that tells scripts (and tests binding port 0) where osts listens: plain
/// text, or one JSON object with `OSTS_LOG_FORMAT=json` so that every line osts writes is one.
fn banner(settings: &Settings, addr: std::net::SocketAddr) {
    let text = format!("osts listening on http://{addr}");
    match settings.log_format {
        LogFormat::Pretty => println!("{text}"),
        LogFormat::Json => println!(
            "{}",
            serde_json::json!({
                "timestamp": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
                "level": "INFO",
                "message": text,
                "address": format!("http://{addr}"),
            })
        ),
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down: finishing requests in flight");
}

async fn backup(settings: Settings, to: &std::path::Path) -> anyhow::Result<()> {
    let store = open_store(&settings, false).await?;
    let report = server::backup::backup(&store, &settings.data_dir.join("blobs"), to).await?;
    if !report.database_copied {
        println!(
            "PostgreSQL is backed up with pg_dump, e.g.: pg_dump --format=custom --file {}/osts.dump \"$DATABASE_URL\"",
            to.display()
        );
    }
    println!(
        "backed up into {}: database {}, {} blobs",
        to.display(),
        if report.database_copied { "copied" } else { "left to pg_dump" },
        report.blobs
    );
    store.close().await
}

async fn restore(settings: Settings, from: &std::path::Path) -> anyhow::Result<()> {
    if settings.database_url.is_some() {
        anyhow::bail!("restore writes the default SQLite file of the data dir; unset OSTS_DATABASE_URL (PostgreSQL: use pg_restore)");
    }
    let report = server::backup::restore(from, &settings.data_dir).await?;
    println!(
        "restored into {}: {} blobs; the database passed its integrity check",
        settings.data_dir.display(),
        report.blobs
    );
    Ok(())
}

/// `osts check-config`: the report on stdout; exit 1 when a setting is broken (a file or
/// variable that does not even parse is one, named in the message).
async fn check_config(file: Option<&std::path::Path>) -> anyhow::Result<()> {
    let settings = match Settings::load(file) {
        Ok(settings) => settings,
        Err(e) => {
            println!("broken  {e:#}");
            std::process::exit(1);
        }
    };
    let findings = server::check::run(&settings).await;
    print!("{}", server::check::report(&findings));
    if findings.iter().any(|f| matches!(f.verdict, server::check::Verdict::Broken(_))) {
        std::process::exit(1);
    }
    Ok(())
}

async fn migrate(settings: Settings) -> anyhow::Result<()> {
    let store = open_store(&settings, false).await?;
    store.migrate().await?;
    let (applied, pending) = store.migration_status().await?;
    println!("{} migrations applied, {} pending", applied.len(), pending.len());
    store.close().await
}

async fn create_admin(settings: Settings, email: &str, name: &str) -> anyhow::Result<()> {
    let password = match std::env::var("OSTS_ADMIN_PASSWORD") {
        Ok(p) => p,
        Err(_) => {
            if std::io::stdin().is_terminal() {
                eprint!("Password for {email}: ");
            }
            let mut line = String::new();
            std::io::stdin().lock().read_line(&mut line).context("cannot read the password from stdin")?;
            line.trim_end_matches(['\r', '\n']).to_owned()
        }
    };
    let store = open_store(&settings, true).await?;
    let unsubscribe = Arc::new(credentials::HmacUnsubscribeTokens::new(settings.secret_key()?));
    let app = services(&settings, &store, &similarity::Semantic::disabled(), unsubscribe);
    let account =
        app.accounts.create_active(email, name, &password, Role::Admin).await.map_err(|e| anyhow::anyhow!("{e}"))?;
    println!("admin account {} created for {}", account.id, account.email);
    store.close().await
}
