//! `cargo xtask`: the project's automation, in Rust.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context as _};
use clap::{Parser, Subcommand};

mod bench;
mod bench_api;
mod bench_escalate;
mod bench_forum;
mod bench_notify;
mod contract;
mod seed;

#[derive(Parser)]
#[command(name = "cargo xtask", about = "osts automation")]
struct Cli {
    #[command(subcommand)]
    command: Task,
}

#[derive(Subcommand)]
enum Task {
    /// Database maintenance.
    Db {
        #[command(subcommand)]
        command: DbCommand,
        /// Database URL (default: `OSTS_DATABASE_URL`, else `data/osts.db`).
        #[arg(long, global = true)]
        database_url: Option<String>,
    },
    /// Fill the database with realistic demo data: accounts, categories, tickets, votes.
    Seed {
        /// Database URL (default: `OSTS_DATABASE_URL`, else `data/osts.db`).
        #[arg(long)]
        database_url: Option<String>,
        /// How many tickets to raise.
        #[arg(long, default_value_t = 300)]
        tickets: u32,
        /// Random seed, so that two runs make the same data.
        #[arg(long, default_value_t = 42)]
        seed: u64,
    },
    /// Write `docs/openapi.json` from the code, or check it is fresh.
    Openapi {
        /// Fail instead of writing when the committed file differs.
        #[arg(long)]
        check: bool,
    },
    /// Write the settings tables of `README.md` and `docs/operations.md` from the
    /// `Settings` documentation, or check they are fresh.
    ConfigDocs {
        /// Fail instead of writing when a committed table differs.
        #[arg(long)]
        check: bool,
    },
    /// What CI runs: formatting, lints, the OpenAPI and settings-table freshness checks and
    /// every test.
    Ci,
    /// schemathesis against `osts serve` on loopback, as a student and as an admin: fails on
    /// any 5xx, any answer the OpenAPI document does not describe, bad input accepted or
    /// good input refused.
    Contract {
        /// The schemathesis executable (`.ci/run` installs a pinned version).
        #[arg(long, env = "OSTS_SCHEMATHESIS", default_value = "schemathesis")]
        schemathesis: PathBuf,
        /// Test cases per operation and phase (50: about 80 s per caller here).
        #[arg(long, default_value_t = 50)]
        max_examples: u32,
        /// Tickets the seed raises for the run.
        #[arg(long, default_value_t = 60)]
        tickets: u32,
    },
    /// Benchmarks (built and run in release mode).
    Bench {
        #[command(subcommand)]
        what: Bench,
    },
}

#[derive(Subcommand)]
enum Bench {
    /// Similar-ticket quality (hit@5, MRR@10) and endpoint latency on public data.
    Similar {
        /// The bench-data folder (see its README), relative to the workspace root.
        #[arg(long, default_value = "../shared/bench-data")]
        data: PathBuf,
        /// Where the model files are kept (fetched there if missing).
        #[arg(long, env = "OSTS_MODEL_DIR", default_value = "data/models/all-MiniLM-L6-v2")]
        model_dir: PathBuf,
        /// Ticket counts for the latency runs.
        #[arg(long, value_delimiter = ',', default_value = "10000,100000")]
        sizes: Vec<usize>,
        /// Backends for the latency runs (`postgres` needs OSTS_BENCH_POSTGRES_URL or OSTS_TEST_POSTGRES_URL).
        #[arg(long, value_delimiter = ',', default_value = "sqlite,postgres")]
        backends: Vec<String>,
        /// Queries per banking77 set.
        #[arg(long, default_value_t = 1000)]
        queries: usize,
        /// Timed requests per latency cell.
        #[arg(long, default_value_t = 300)]
        latency_queries: usize,
        /// Skip the quality tables (a latency run alone, e.g. when the machine is quiet).
        #[arg(long)]
        latency_only: bool,
    },
    /// The HTTP API under load (create, upvote, sign in, list, filter) beside a bare baseline,
    /// sign-in memory, and list latency at scale; writes `docs/benchmarks.md`.
    Api {
        /// Backends (`postgres` needs OSTS_BENCH_POSTGRES_URL or OSTS_TEST_POSTGRES_URL).
        #[arg(long, value_delimiter = ',', default_value = "sqlite,postgres")]
        backends: Vec<String>,
        /// Seconds per load cell.
        #[arg(long, default_value_t = 5)]
        secs: u64,
        /// Concurrency levels.
        #[arg(long, value_delimiter = ',', default_value = "1,8,32")]
        concurrency: Vec<u32>,
        /// Tickets for the list latency runs (0 skips them).
        #[arg(long, default_value_t = 1_000_000)]
        list_size: usize,
        /// Requests per list latency cell.
        #[arg(long, default_value_t = 200)]
        list_requests: u64,
    },
    /// Escalation messages against a chat space's write limit: delivery time against the
    /// theoretical minimum, 429s, lost, duplicated and reordered messages.
    Escalate {
        /// Escalation events in all.
        #[arg(long, default_value_t = 1000)]
        events: usize,
        /// Tickets they are spread over.
        #[arg(long, default_value_t = 50)]
        tickets: usize,
        /// Chat spaces (a webhook per category).
        #[arg(long, default_value_t = 10)]
        spaces: usize,
        /// The sink's write limit per space and minute (Google Chat's).
        #[arg(long, default_value_t = 60)]
        sink_per_minute: usize,
        /// osts's limit per webhook (`OSTS_CHAT_REQUESTS_PER_MINUTE`).
        #[arg(long, default_value_t = 60)]
        client_per_minute: u32,
        /// Run in the dev profile instead of rebuilding in release.
        #[arg(long)]
        dev: bool,
    },
    /// Forum threads against the Discourse admin API limit, in a scaled-down window:
    /// completion time against the minimum, 429s, lost and duplicated topics and notes.
    Forum {
        /// Tickets, each with a public thread.
        #[arg(long, default_value_t = 500)]
        tickets: usize,
        /// Thread events (assignments, each a status note), spread over the tickets.
        #[arg(long, default_value_t = 2000)]
        events: usize,
        /// The forum's admin API limit per window (Discourse's default: 60).
        #[arg(long, default_value_t = 60)]
        forum_limit: u32,
        /// osts's own limit per window (`OSTS_DISCOURSE_REQUESTS_PER_MINUTE`).
        #[arg(long, default_value_t = 60)]
        client_limit: u32,
        /// The window in milliseconds: Discourse's minute, scaled down.
        #[arg(long, default_value_t = 1000)]
        window_ms: u64,
        /// Run in the dev profile instead of rebuilding in release.
        #[arg(long)]
        dev: bool,
    },
    /// Resolving a ticket with many upvoters: request latency, rows committed, SMTP drain rate.
    Notify {
        /// Upvoter counts.
        #[arg(long, value_delimiter = ',', default_value = "1000,10000")]
        sizes: Vec<usize>,
        /// Backends (`postgres` needs OSTS_BENCH_POSTGRES_URL or OSTS_TEST_POSTGRES_URL; by
        /// default it runs when one of them is set).
        #[arg(long, value_delimiter = ',')]
        backends: Vec<String>,
        /// Run in the dev profile instead of rebuilding in release.
        #[arg(long)]
        dev: bool,
        /// Measure the drain rate over the first this many emails only (default: all).
        #[arg(long)]
        drain_max: Option<usize>,
    },
}

#[derive(Subcommand)]
enum DbCommand {
    /// Apply pending migrations.
    Migrate,
    /// Drop everything and migrate from scratch (development only).
    Fresh,
    /// List applied and pending migrations.
    Status,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Task::Db { command, database_url } => runtime()?.block_on(db(command, database_url)),
        Task::Seed { database_url, tickets, seed } => {
            runtime()?.block_on(seed::run(&resolve_url(database_url)?, tickets, seed))
        }
        Task::Openapi { check } => openapi(check),
        Task::ConfigDocs { check } => config_docs(check),
        Task::Ci => ci(),
        Task::Bench { what: Bench::Api { backends, secs, concurrency, list_size, list_requests } } => {
            if cfg!(debug_assertions) {
                // The server under test is the release binary, built first.
                cargo(&["build", "--release", "--quiet", "-p", "server", "--bin", "osts"])?;
                return rerun_in_release();
            }
            let options = bench_api::Options {
                backends,
                secs,
                concurrency,
                list_size,
                list_requests,
                doc: root().join("docs").join("benchmarks.md"),
            };
            runtime()?.block_on(bench_api::api(options))
        }
        Task::Contract { schemathesis, max_examples, tickets } => {
            contract::run(contract::Options { schemathesis, max_examples, tickets })
        }
        Task::Bench { what: Bench::Escalate { events, tickets, spaces, sink_per_minute, client_per_minute, dev } } => {
            if cfg!(debug_assertions) && !dev {
                return rerun_in_release();
            }
            runtime()?.block_on(bench_escalate::escalate(bench_escalate::Options {
                events,
                tickets,
                spaces,
                sink_per_minute,
                client_per_minute,
                timeout: std::time::Duration::from_secs(30 * 60),
            }))
        }
        Task::Bench { what: Bench::Forum { tickets, events, forum_limit, client_limit, window_ms, dev } } => {
            if cfg!(debug_assertions) && !dev {
                return rerun_in_release();
            }
            runtime()?.block_on(bench_forum::forum(bench_forum::Options {
                tickets,
                events,
                forum_limit,
                client_limit,
                window: std::time::Duration::from_millis(window_ms),
                timeout: std::time::Duration::from_secs(
                    std::env::var("OSTS_BENCH_TIMEOUT_SECS").ok().and_then(|s| s.parse().ok()).unwrap_or(600),
                ),
            }))
        }
        Task::Bench { what: Bench::Notify { sizes, backends, dev, drain_max } } => {
            if cfg!(debug_assertions) && !dev {
                return rerun_in_release();
            }
            let backends = if backends.is_empty() {
                let pg =
                    std::env::var_os("OSTS_BENCH_POSTGRES_URL").or_else(|| std::env::var_os("OSTS_TEST_POSTGRES_URL"));
                if pg.is_some() {
                    vec!["sqlite".to_owned(), "postgres".to_owned()]
                } else {
                    vec!["sqlite".to_owned()]
                }
            } else {
                backends
            };
            runtime()?.block_on(bench_notify::notify(bench_notify::Options { sizes, backends, drain_max }))
        }
        Task::Bench {
            what: Bench::Similar { data, model_dir, sizes, backends, queries, latency_queries, latency_only },
        } => {
            if cfg!(debug_assertions) {
                // Timings of an unoptimised build mean nothing: rebuild and rerun in release.
                let mut args = vec![
                    "run".to_owned(),
                    "--release".into(),
                    "--quiet".into(),
                    "-p".into(),
                    "xtask".into(),
                    "--".into(),
                ];
                args.extend(std::env::args().skip(1));
                let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
                let status = Command::new(cargo).args(&args).current_dir(root()).status()?;
                if !status.success() {
                    bail!("the release benchmark failed");
                }
                return Ok(());
            }
            let options = bench::Options {
                data: root().join(data),
                model_dir: root().join(model_dir),
                sizes,
                backends,
                queries,
                latency_queries,
                quality: !latency_only,
            };
            runtime()?.block_on(bench::similar(options))
        }
    }
}

/// Timings of an unoptimised build mean little: rebuild and rerun the same command in release.
fn rerun_in_release() -> anyhow::Result<()> {
    let mut args =
        vec!["run".to_owned(), "--release".into(), "--quiet".into(), "-p".into(), "xtask".into(), "--".into()];
    args.extend(std::env::args().skip(1));
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo).args(&args).current_dir(root()).status()?;
    if !status.success() {
        bail!("the release benchmark failed");
    }
    Ok(())
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread().enable_all().build()?)
}

/// Where cargo puts build output (`CARGO_TARGET_DIR`, else `target/` at the root).
fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root().join("target"), PathBuf::from)
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("xtask lives in the workspace").to_path_buf()
}

/// The same default as the server: an SQLite file under `data/` at the workspace root.
fn resolve_url(explicit: Option<String>) -> anyhow::Result<String> {
    if let Some(url) = explicit.or_else(|| std::env::var("OSTS_DATABASE_URL").ok()) {
        return Ok(url);
    }
    let dir = root().join("data");
    std::fs::create_dir_all(&dir)?;
    Ok(format!("sqlite://{}?mode=rwc", dir.join("osts.db").display()))
}

async fn db(command: DbCommand, url: Option<String>) -> anyhow::Result<()> {
    let url = resolve_url(url)?;
    let store = store::Store::connect_with(&url, store::StoreOptions { migrate: false, ..Default::default() }).await?;
    match command {
        DbCommand::Migrate => store.migrate().await?,
        DbCommand::Fresh => store.fresh().await?,
        DbCommand::Status => {}
    }
    let (applied, pending) = store.migration_status().await?;
    for name in &applied {
        println!("applied  {name}");
    }
    for name in &pending {
        println!("pending  {name}");
    }
    store.close().await
}

fn openapi(check: bool) -> anyhow::Result<()> {
    let path = root().join("docs/openapi.json");
    let fresh = api::openapi_json();
    if check {
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        if committed != fresh {
            bail!("docs/openapi.json is stale: run `cargo xtask openapi` and commit the result");
        }
        println!("docs/openapi.json is fresh");
    } else {
        std::fs::write(&path, fresh).with_context(|| format!("writing {}", path.display()))?;
        println!("wrote {}", path.display());
    }
    Ok(())
}

/// The documents holding the generated settings table.
const CONFIG_DOCS: &[&str] = &["README.md", "docs/operations.md"];

fn config_docs(check: bool) -> anyhow::Result<()> {
    for name in CONFIG_DOCS {
        let path = root().join(name);
        let committed = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
        let fresh = server::settings::docs::with_table(&committed).with_context(|| format!("in {name}"))?;
        if check {
            if committed != fresh {
                bail!("the settings table in {name} is stale: run `cargo xtask config-docs` and commit the result");
            }
            println!("the settings table in {name} is fresh");
        } else {
            std::fs::write(&path, fresh).with_context(|| format!("writing {}", path.display()))?;
            println!("wrote the settings table in {name}");
        }
    }
    Ok(())
}

fn cargo(args: &[&str]) -> anyhow::Result<()> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    println!("$ cargo {}", args.join(" "));
    let status = Command::new(cargo).args(args).current_dir(root()).status()?;
    if !status.success() {
        bail!("`cargo {}` failed", args.join(" "));
    }
    Ok(())
}

fn ci() -> anyhow::Result<()> {
    cargo(&["fmt", "--all", "--", "--check"])?;
    cargo(&["clippy", "--workspace", "--all-targets", "--locked", "--", "-D", "warnings"])?;
    openapi(true)?;
    config_docs(true)?;
    if std::env::var_os("OSTS_TEST_POSTGRES_URL").is_none() {
        println!("note: OSTS_TEST_POSTGRES_URL is not set, so store tests run on SQLite only");
    }
    cargo(&["test", "--workspace", "--locked"])
}
