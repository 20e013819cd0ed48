//! `cargo xtask bench similar`: quality and latency of similar-ticket suggestions on public
//! data (see `docs/benchmarks.md` for the method and the figures).
//!
//! Quality: hit@5 and MRR@10 of lexical-only, semantic-only and blended ranking on
//! banking77-k1/k3 and gitbugs-hadoop, through `SimilarityService` over a real store.
//! Latency: p50/p99 of `GET /api/v1/tickets/similar` (in process, through the whole
//! middleware stack) at 10k and 100k tickets on SQLite and PostgreSQL, against the store's
//! lexical query called directly in the same run.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use async_trait::async_trait;
use chrono::Utc;
use domain::accounts::{AccountService, Principal, Role};
use domain::categories::{CategoryId, NewCategory};
use domain::clock::SystemClock;
use domain::faq::{NewFaqEntry, Question};
use domain::similarity::rank::Blend;
use domain::similarity::*;
use domain::tickets::{Answer, Description, NewTicket, Priority, Tags, Title};
use embedder::{LazyEmbedder, MiniLm, ModelSpec};
use poem::{endpoint::BoxEndpoint, test::TestClient, EndpointExt, Response};
use rand::{seq::SliceRandom, SeedableRng};
use store::Store;

/// What to run.
pub struct Options {
    /// The bench-data folder.
    pub data: PathBuf,
    /// Where the model files are (fetched if missing).
    pub model_dir: PathBuf,
    /// Ticket counts for latency.
    pub sizes: Vec<usize>,
    /// `sqlite` and/or `postgres`.
    pub backends: Vec<String>,
    /// Queries per banking77 set (a fixed-seed sample of the held-out texts).
    pub queries: usize,
    /// Timed requests per latency cell.
    pub latency_queries: usize,
    /// Whether to print the quality tables too.
    pub quality: bool,
}

/// Caches embeddings by text, so distractors that reuse a text cost nothing.
struct CachedEmbedder {
    inner: Arc<LazyEmbedder>,
    cache: Mutex<HashMap<String, Embedding>>,
    bypass: bool,
}

#[async_trait]
impl Embedder for CachedEmbedder {
    fn state(&self) -> SemanticState {
        self.inner.state()
    }
    fn model_id(&self) -> String {
        self.inner.model_id()
    }
    async fn embed(&self, texts: Vec<String>) -> Result<Vec<Embedding>, EmbedError> {
        if self.bypass {
            return self.inner.embed(texts).await;
        }
        let missing: Vec<String> = {
            let cache = self.cache.lock().unwrap();
            let mut seen = HashSet::new();
            texts.iter().filter(|t| !cache.contains_key(*t) && seen.insert((*t).clone())).cloned().collect()
        };
        for chunk in missing.chunks(32) {
            let vectors = self.inner.embed(chunk.to_vec()).await?;
            let mut cache = self.cache.lock().unwrap();
            for (t, v) in chunk.iter().zip(vectors) {
                cache.insert(t.clone(), v);
            }
        }
        let cache = self.cache.lock().unwrap();
        Ok(texts.iter().map(|t| cache[t].clone()).collect())
    }
}

/// One indexed text: a ticket, or (when `faq`) a published FAQ entry whose question is the
/// title.
#[derive(Clone)]
struct Doc {
    title: String,
    description: String,
    label: String,
    faq: bool,
}

/// The answer of every FAQ entry in the benchmark: neutral words, so that only the question
/// (as for a ticket, its title) decides the match.
const FAQ_ANSWER: &str = "The support team answered this question.";

/// One query and what counts as relevant.
struct Query {
    title: String,
    description: String,
    relevant: HashSet<String>,
    /// A label to drop from the results (the query's own ticket).
    own: Option<String>,
}

fn clean(text: &str) -> String {
    text.chars().map(|c| if c.is_control() && c != '\n' { ' ' } else { c }).collect::<String>().trim().to_owned()
}

/// A ticket title from any text: one line, 5–150 characters, cut at a word.
fn title_of(text: &str) -> String {
    let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut t: String = flat.chars().take(Title::MAX_CHARS).collect();
    if flat.chars().count() > Title::MAX_CHARS {
        if let Some(i) = t.rfind(' ') {
            t.truncate(i);
        }
    }
    while t.chars().count() < Title::MIN_CHARS {
        t.push('.');
    }
    t
}

fn banking(data: &Path) -> anyhow::Result<Vec<(String, String)>> {
    let mut rows = Vec::new();
    let mut reader = csv::Reader::from_path(data.join("banking77/train.csv")).context("banking77/train.csv")?;
    for r in reader.records() {
        let r = r?;
        rows.push((clean(&r[0]), r[1].to_owned()));
    }
    Ok(rows)
}

/// banking77-kN: N texts per intent indexed, a fixed-seed sample of the others as queries.
fn banking_set(rows: &[(String, String)], n: usize, queries: usize) -> (Vec<Doc>, Vec<Query>) {
    let mut rng = rand::rngs::StdRng::seed_from_u64(77);
    let mut by_intent: HashMap<&str, Vec<&String>> = HashMap::new();
    for (text, intent) in rows {
        by_intent.entry(intent.as_str()).or_default().push(text);
    }
    let mut intents: Vec<&str> = by_intent.keys().copied().collect();
    intents.sort_unstable();
    let (mut docs, mut held_out) = (Vec::new(), Vec::new());
    for intent in intents {
        let mut texts = by_intent[intent].clone();
        texts.shuffle(&mut rng);
        for (i, t) in texts.into_iter().enumerate() {
            if i < n {
                docs.push(Doc { title: title_of(t), description: String::new(), label: intent.to_owned(), faq: false });
            } else {
                held_out.push((t.clone(), intent.to_owned()));
            }
        }
    }
    held_out.shuffle(&mut rng);
    held_out.truncate(queries);
    let queries = held_out
        .into_iter()
        .map(|(t, intent)| Query { title: t, description: String::new(), relevant: HashSet::from([intent]), own: None })
        .collect();
    (docs, queries)
}

/// banking77-faq: banking77-k1, except that every other intent (in name order) is indexed
/// as a published FAQ entry instead of a ticket; the queries are those of banking77-k1 whose
/// intent is an FAQ entry's, so the right answer is always that entry.
fn banking_faq_set(rows: &[(String, String)], queries: usize) -> (Vec<Doc>, Vec<Query>) {
    let (mut docs, all) = banking_set(rows, 1, queries);
    let mut faq_intents = HashSet::new();
    for (i, d) in docs.iter_mut().enumerate() {
        if i % 2 == 0 {
            d.faq = true;
            faq_intents.insert(d.label.clone());
        }
    }
    let queries = all.into_iter().filter(|q| q.relevant.iter().any(|l| faq_intents.contains(l))).collect();
    (docs, queries)
}

/// gitbugs-hadoop: every issue indexed as summary + the first 100 words of its description;
/// each issue with a duplicate in the file queries (title only, or title + description).
fn hadoop(data: &Path) -> anyhow::Result<(Vec<Doc>, Vec<Query>, Vec<Query>)> {
    let mut docs = Vec::new();
    let mut full = HashMap::new();
    let mut reader = csv::Reader::from_path(data.join("gitbugs/hadoop_bugs.csv")).context("hadoop_bugs.csv")?;
    let headers = reader.headers()?.clone();
    let col = |name: &str| headers.iter().position(|h| h == name).with_context(|| format!("no column {name}"));
    let (summary, id, description) = (col("Summary")?, col("Issue id")?, col("Description")?);
    for r in reader.records() {
        let r = r?;
        let words: Vec<&str> = r[description].split_whitespace().take(100).collect();
        let issue = r[id].trim().to_owned();
        full.insert(issue.clone(), (clean(&r[summary]), clean(&r[description])));
        docs.push(Doc {
            title: title_of(&clean(&r[summary])),
            description: clean(&words.join(" ")),
            label: issue,
            faq: false,
        });
    }
    let known: HashSet<String> = docs.iter().map(|d| d.label.clone()).collect();
    let mut dups: HashMap<String, HashSet<String>> = HashMap::new();
    let mut reader = csv::Reader::from_path(data.join("gitbugs/hadoop_dups.csv")).context("hadoop_dups.csv")?;
    for r in reader.records() {
        let r = r?;
        let a = r[0].trim().to_owned();
        for b in r[1].split(',').map(str::trim).filter(|b| !b.is_empty()) {
            dups.entry(a.clone()).or_default().insert(b.to_owned());
            dups.entry(b.to_owned()).or_default().insert(a.clone());
        }
    }
    let mut issues: Vec<&String> = dups.keys().filter(|k| known.contains(*k)).collect();
    issues.sort();
    let (mut title_q, mut full_q) = (Vec::new(), Vec::new());
    for issue in issues {
        let relevant: HashSet<String> =
            dups[issue].iter().filter(|d| known.contains(*d) && *d != issue).cloned().collect();
        if relevant.is_empty() {
            continue;
        }
        let (s, d) = &full[issue];
        let desc: String = d.chars().take(Description::MAX_CHARS).collect();
        title_q.push(Query {
            title: s.clone(),
            description: String::new(),
            relevant: relevant.clone(),
            own: Some(issue.clone()),
        });
        full_q.push(Query { title: s.clone(), description: desc, relevant, own: Some(issue.clone()) });
    }
    Ok((docs, title_q, full_q))
}

/// A store with one student and one category.
struct Bed {
    store: Store,
    student: Principal,
    category: CategoryId,
    cleanup: Option<(String, String)>,
    file: Option<PathBuf>,
}

impl Bed {
    async fn new(backend: &str) -> anyhow::Result<Self> {
        let (store, cleanup, file) = match backend {
            "sqlite" => {
                let path = std::env::temp_dir().join(format!("osts-bench-{}.db", uuid::Uuid::new_v4().simple()));
                (Store::connect(&format!("sqlite://{}?mode=rwc", path.display())).await?, None, Some(path))
            }
            "postgres" => {
                let admin_url = std::env::var("OSTS_BENCH_POSTGRES_URL")
                    .or_else(|_| std::env::var("OSTS_TEST_POSTGRES_URL"))
                    .context("set OSTS_BENCH_POSTGRES_URL (or OSTS_TEST_POSTGRES_URL) for the PostgreSQL runs")?;
                let name = format!("osts_bench_{}", uuid::Uuid::new_v4().simple());
                let admin = Store::connect_with(
                    &admin_url,
                    store::StoreOptions { migrate: false, max_connections: 1, ..Default::default() },
                )
                .await?;
                admin.execute_raw(&format!("CREATE DATABASE {name}")).await?;
                admin.close().await?;
                let base = admin_url.split('?').next().unwrap_or(&admin_url);
                let url = format!("{}/{name}", &base[..base.rfind('/').context("database URL without a path")?]);
                (Store::connect(&url).await?, Some((admin_url, name)), None)
            }
            other => anyhow::bail!("unknown backend {other}"),
        };
        let accounts = AccountService::new(
            store.accounts(),
            store.sessions(),
            Arc::new(credentials::Argon2Hasher::fast_for_tests()),
            Arc::new(credentials::RandomTokens),
            Arc::new(credentials::GovernorThrottle::new(1000, 1000)),
            Arc::new(credentials::GovernorThrottle::new(1000, 1000)),
            Arc::new(SystemClock),
        )
        .with_session_ttl(chrono::Duration::hours(1));
        let account = accounts
            .create_active("bench@uni.edu", "Bench Student", "bench password 1234", Role::Student)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let category = store
            .categories()
            .insert(NewCategory {
                name: domain::categories::CategoryName::parse("Bench").map_err(|e| anyhow::anyhow!("{e}"))?,
                description: String::new(),
                position: 0,
            })
            .await?;
        let student = domain::testing::PrincipalBuilder::of(&account).build();
        Ok(Self { store, student, category: category.id, cleanup, file })
    }

    /// Stores the documents (tickets in batches, FAQ entries one by one, published); their
    /// keys in the same order.
    async fn import(&self, docs: &[Doc]) -> anyhow::Result<Vec<DocKey>> {
        let now = Utc::now();
        let tickets: Vec<&Doc> = docs.iter().filter(|d| !d.faq).collect();
        let mut ticket_ids = Vec::with_capacity(tickets.len());
        for chunk in tickets.chunks(20_000) {
            let batch = chunk
                .iter()
                .map(|d| {
                    Ok(NewTicket {
                        title: Title::parse(&d.title).map_err(|e| anyhow::anyhow!("{e}: {:?}", d.title))?,
                        description: Description::parse(&d.description).map_err(|e| anyhow::anyhow!("{e}"))?,
                        category_id: self.category,
                        tags: Tags::default(),
                        priority: Priority::Medium,
                        creator_id: self.student.id(),
                        created_at: now,
                        follow_up_of: None,
                        sla_due: None,
                        escalation: None,
                    })
                })
                .collect::<anyhow::Result<Vec<_>>>()?;
            ticket_ids.extend(self.store.import_tickets(batch).await?);
        }
        let mut ticket_ids = ticket_ids.into_iter();
        let mut keys = Vec::with_capacity(docs.len());
        for d in docs {
            if !d.faq {
                keys.push(DocKey::Ticket(ticket_ids.next().context("a ticket was not imported")?));
                continue;
            }
            let faq = self.store.faq();
            let entry = faq
                .insert(NewFaqEntry {
                    question: Question::parse(&d.title).map_err(|e| anyhow::anyhow!("{e}: {:?}", d.title))?,
                    also_asked: vec![],
                    answer: Answer::parse(FAQ_ANSWER, "answer").map_err(|e| anyhow::anyhow!("{e}"))?,
                    category_id: self.category,
                    tags: Tags::default(),
                    position: 0,
                    sources: vec![],
                    author_id: self.student.id(),
                    at: now,
                })
                .await?;
            faq.publish(entry.id, self.student.id(), now).await?.context("entry vanished")?;
            keys.push(DocKey::Faq(entry.id));
        }
        Ok(keys)
    }

    async fn finish(self) -> anyhow::Result<()> {
        self.store.close().await?;
        if let Some((admin_url, name)) = self.cleanup {
            let admin = Store::connect_with(
                &admin_url,
                store::StoreOptions { migrate: false, max_connections: 1, ..Default::default() },
            )
            .await?;
            admin.execute_raw(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).await?;
            admin.close().await?;
        }
        if let Some(path) = self.file {
            for suffix in ["", "-wal", "-shm"] {
                let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
            }
        }
        Ok(())
    }

    /// The service as `osts serve` wires it: with the in-memory lexical index when given
    /// (else the store's full-text query ranks lexically).
    fn service(
        &self,
        embedder: Arc<dyn Embedder>,
        vectors: Arc<VectorIndex>,
        lexical: Option<Arc<LexicalIndex>>,
        config: SimilarityConfig,
    ) -> SimilarityService {
        // Without a loaded in-memory index, the store's full-text query ranks lexically.
        let lexical = lexical.unwrap_or_else(|| Arc::new(domain::similarity::LexicalIndex::new()));
        SimilarityService::new(self.store.similarity(), self.store.embeddings(), embedder, vectors, lexical, config)
    }

    /// A loaded in-memory lexical index of everything stored.
    async fn lexical_index(&self) -> anyhow::Result<Arc<LexicalIndex>> {
        let index = Arc::new(LexicalIndex::new());
        let svc = self.service(
            Arc::new(domain::services::DisabledEmbedder),
            Arc::default(),
            Some(index.clone()),
            Default::default(),
        );
        svc.load_lexical(Utc::now()).await.map_err(|e| anyhow::anyhow!("{e}"))?;
        Ok(index)
    }
}

async fn embed_all(svc: &SimilarityService) -> anyhow::Result<usize> {
    let mut total = 0;
    loop {
        let n = svc.embed_pending(5_000).await.map_err(|e| anyhow::anyhow!("{e}"))?;
        if n == 0 {
            return Ok(total);
        }
        total += n;
    }
}

#[derive(Default, Clone, Copy)]
struct Quality {
    hit5: f64,
    mrr10: f64,
    empty: f64,
}

async fn evaluate(
    svc: &SimilarityService,
    who: &Principal,
    labels: &HashMap<DocKey, String>,
    queries: &[Query],
) -> anyhow::Result<Quality> {
    let mut q = Quality::default();
    for query in queries {
        let draft = Draft::parse(&query.title, &query.description).map_err(|e| anyhow::anyhow!("{e}"))?;
        let found = svc
            .suggest(who, &draft, SuggestionLimit::new(Some(11)).unwrap())
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let ranked: Vec<&String> = found
            .items
            .iter()
            .filter_map(|s| labels.get(&s.key()))
            .filter(|l| query.own.as_ref() != Some(*l))
            .take(10)
            .collect();
        if ranked.is_empty() {
            q.empty += 1.0;
        }
        if let Some(rank) = ranked.iter().position(|l| query.relevant.contains(*l)) {
            q.mrr10 += 1.0 / (rank + 1) as f64;
            if rank < 5 {
                q.hit5 += 1.0;
            }
        }
    }
    let n = queries.len().max(1) as f64;
    Ok(Quality { hit5: q.hit5 / n, mrr10: q.mrr10 / n, empty: q.empty / n })
}

const MODES: [(&str, RankingMode); 3] =
    [("lexical", RankingMode::Lexical), ("semantic", RankingMode::Semantic), ("blended", RankingMode::Blended)];

async fn quality_set(
    name: &str,
    docs: &[Doc],
    sets: &[(&str, &[Query])],
    embedder: &Arc<CachedEmbedder>,
    blends: &[Blend],
    off_topic: Option<&[Query]>,
) -> anyhow::Result<()> {
    let bed = Bed::new("sqlite").await?;
    let ids = bed.import(docs).await?;
    let labels: HashMap<DocKey, String> = ids.iter().copied().zip(docs.iter().map(|d| d.label.clone())).collect();
    let vectors = Arc::new(VectorIndex::new());
    let config = SimilarityConfig { threshold: rank::Threshold::NONE, ..SimilarityConfig::default() };
    embed_all(&bed.service(embedder.clone(), vectors.clone(), None, config)).await?;
    let lexical = Some(bed.lexical_index().await?);
    for (set, queries) in sets {
        for (mode_name, mode) in MODES {
            let variants: Vec<Blend> =
                if mode == RankingMode::Blended { blends.to_vec() } else { vec![Blend::default()] };
            for blend in variants {
                let svc = bed.service(
                    embedder.clone(),
                    vectors.clone(),
                    lexical.clone(),
                    SimilarityConfig { mode, blend, ..config },
                );
                let q = evaluate(&svc, &bed.student, &labels, queries).await?;
                let label = if mode == RankingMode::Blended {
                    format!("{mode_name} k={} w_lex={} w_sem={}", blend.k, blend.lexical_weight, blend.semantic_weight)
                } else {
                    mode_name.to_owned()
                };
                println!("| {name}{set} | {label} | {:.3} | {:.3} | {} |", q.hit5, q.mrr10, queries.len());
            }
            if mode == RankingMode::Lexical {
                // The store's full-text query, the fallback until the in-memory index is loaded.
                let svc = bed.service(embedder.clone(), vectors.clone(), None, SimilarityConfig { mode, ..config });
                let q = evaluate(&svc, &bed.student, &labels, queries).await?;
                println!("| {name}{set} | lexical, store | {:.3} | {:.3} | {} |", q.hit5, q.mrr10, queries.len());
            }
        }
    }
    // The threshold: how often an on-topic draft still gets an answer, and how often an
    // off-topic draft (a Hadoop bug against banking tickets) correctly gets none.
    if let Some(off_topic) = off_topic {
        let svc = bed.service(embedder.clone(), vectors.clone(), lexical.clone(), SimilarityConfig::default());
        let on = evaluate(&svc, &bed.student, &labels, sets[0].1).await?;
        let off = evaluate(&svc, &bed.student, &labels, off_topic).await?;
        println!(
            "\nthreshold (default, blended): on-topic hit@5 {:.3}, on-topic answered {:.3}; off-topic answered {:.3} (no-suggestion rate {:.3})\n",
            on.hit5,
            1.0 - on.empty,
            1.0 - off.empty,
            off.empty
        );
    }
    bed.finish().await
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// The API over a service, with one signed-in student.
async fn endpoint(
    bed: &Bed,
    similarity: SimilarityService,
) -> anyhow::Result<(TestClient<BoxEndpoint<'static, Response>>, String)> {
    let blob_dir = std::env::temp_dir().join("osts-bench-blobs");
    let adapters = domain::services::Adapters {
        hasher: Arc::new(credentials::Argon2Hasher::fast_for_tests()),
        tokens: Arc::new(credentials::RandomTokens),
        throttle: Arc::new(credentials::GovernorThrottle::new(1000, 1000)),
        resend_throttle: Arc::new(credentials::GovernorThrottle::new(1000, 1000)),
        blobs: Arc::new(blobs::FsBlobStore::new(blob_dir)),
        unsubscribe: Arc::new(credentials::HmacUnsubscribeTokens::new(credentials::SecretKey::new(
            "bench key, not a secret: 0123456789abcdef",
        )?)),
        clock: Arc::new(SystemClock),
    };
    let ports = domain::Ports::new(bed.store.repositories(), adapters, domain::services::Semantic::off());
    let mut app = api::App::new(ports, domain::ServiceSettings::default());
    // The service under measurement, with its own model, vectors and ranking settings.
    app.similarity = similarity;
    let session = app
        .accounts
        .login("bench@uni.edu", "bench password 1234", domain::accounts::ClientAddr::Unknown)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    struct Up;
    #[async_trait]
    impl api::Health for Up {
        async fn check(&self) -> anyhow::Result<()> {
            Ok(())
        }
    }
    Ok((TestClient::new(api::build(app, Arc::new(Up)).boxed()), session.token.expose().to_owned()))
}

fn enc(s: &str) -> String {
    s.bytes().map(|b| if b.is_ascii_alphanumeric() { (b as char).to_string() } else { format!("%{b:02X}") }).collect()
}

async fn time_endpoint(
    client: &TestClient<BoxEndpoint<'static, Response>>,
    token: &str,
    queries: &[String],
) -> anyhow::Result<Vec<Duration>> {
    let mut times = Vec::with_capacity(queries.len());
    for (i, q) in queries.iter().enumerate() {
        let url = format!("/api/v1/tickets/similar?title={}", enc(q));
        let started = Instant::now();
        let resp = client.get(&url).header("Authorization", format!("Bearer {token}")).send().await;
        let status = resp.0.status();
        let _ = resp.0.into_body().into_bytes().await;
        let took = started.elapsed();
        anyhow::ensure!(status.is_success(), "query {i} answered {status}");
        times.push(took);
    }
    times.sort();
    Ok(times)
}

async fn latency(
    backend: &str,
    size: usize,
    pool: &[Doc],
    queries: &[String],
    embedder: &Arc<CachedEmbedder>,
) -> anyhow::Result<()> {
    let bed = Bed::new(backend).await?;
    // Distractors: the pool's texts over and over, so each reuses a computed embedding.
    let docs: Vec<Doc> = pool.iter().cycle().take(size).cloned().collect();
    let started = Instant::now();
    bed.import(&docs).await?;
    let imported = started.elapsed();
    let vectors = Arc::new(VectorIndex::new());
    let started = Instant::now();
    embed_all(&bed.service(embedder.clone(), vectors.clone(), None, SimilarityConfig::default())).await?;
    let embedded = started.elapsed();
    let started = Instant::now();
    let lexical = bed.lexical_index().await?;
    eprintln!(
        "  {backend} {size}: imported in {:.1}s, embeddings stored in {:.1}s, lexical index loaded in {:.1}s",
        imported.as_secs_f64(),
        embedded.as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
    // Query embeddings are computed on the request path, as in production: no bench cache
    // (the service's own cache of recent drafts is part of what is measured).
    let live: Arc<CachedEmbedder> =
        Arc::new(CachedEmbedder { inner: embedder.inner.clone(), cache: Mutex::default(), bypass: true });
    // Warm-up drafts are not among the timed ones, so no timed draft is a cache hit.
    let (warm_up, timed) = queries.split_at(queries.len().min(30));

    let statuses = visibility::suggestable_statuses();
    let direct = |store: Store| {
        let statuses = statuses.clone();
        async move {
            let mut times = Vec::new();
            for q in timed {
                let lq = LexicalQuery::from_text(q);
                let started = Instant::now();
                store.similarity().lexical(&lq, &statuses, 50).await?;
                times.push(started.elapsed());
            }
            times.sort();
            anyhow::Ok(times)
        }
    };
    // Warm caches (pages, statements) before timing.
    direct(bed.store.clone()).await?;
    let base = direct(bed.store.clone()).await?;
    let (b50, b99) = (percentile(&base, 0.5), percentile(&base, 0.99));
    let rankings = [
        ("lexical, store", RankingMode::Lexical, None),
        ("lexical", RankingMode::Lexical, Some(lexical.clone())),
        ("blended", RankingMode::Blended, Some(lexical.clone())),
    ];
    for (name, mode, index) in rankings {
        let config = SimilarityConfig { mode, ..SimilarityConfig::default() };
        let svc = bed.service(live.clone(), vectors.clone(), index, config);
        let (client, token) = endpoint(&bed, svc).await?;
        time_endpoint(&client, &token, warm_up).await?;
        let t = time_endpoint(&client, &token, timed).await?;
        let (p50, p99) = (percentile(&t, 0.5), percentile(&t, 0.99));
        println!(
            "| {backend} | {size} | {name} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2}× | {:.2}× |",
            ms(p50),
            ms(p99),
            ms(b50),
            ms(b99),
            ms(p50) / ms(b50),
            ms(p99) / ms(b99)
        );
    }
    // Where the time of a blended request goes: each stage alone, on the same drafts.
    let mut stages: Vec<(&str, Vec<Duration>)> =
        vec![("draft embedding", vec![]), ("vector scan", vec![]), ("in-memory lexical", vec![])];
    for q in timed {
        let started = Instant::now();
        let v = live.embed(vec![q.clone()]).await.map_err(|e| anyhow::anyhow!("{e}"))?.remove(0);
        stages[0].1.push(started.elapsed());
        let started = Instant::now();
        vectors.search(&v, 50);
        stages[1].1.push(started.elapsed());
        let started = Instant::now();
        lexical.search(&LexicalQuery::from_text(q), 50);
        stages[2].1.push(started.elapsed());
    }
    for (name, mut t) in stages {
        t.sort();
        eprintln!(
            "  {backend} {size}: {name} p50 {:.2} ms, p99 {:.2} ms",
            ms(percentile(&t, 0.5)),
            ms(percentile(&t, 0.99))
        );
    }
    bed.finish().await
}

/// Runs the whole benchmark and prints Markdown tables.
pub async fn similar(options: Options) -> anyhow::Result<()> {
    let data =
        options.data.canonicalize().with_context(|| format!("bench data not found at {}", options.data.display()))?;
    let spec = ModelSpec::minilm();
    embedder::fetch(&spec, &options.model_dir).await?;
    let dir = options.model_dir.clone();
    let model = tokio::task::spawn_blocking(move || MiniLm::load(&dir)).await??;
    let embedder =
        Arc::new(CachedEmbedder { inner: LazyEmbedder::ready(&spec, model), cache: Mutex::default(), bypass: false });
    println!("model {} from {}; data {}\n", spec.model_id(), options.model_dir.display(), data.display());

    let rows = banking(&data)?;
    let (hadoop_docs, title_q, full_q) = hadoop(&data)?;
    let blends = [
        Blend { k: 60.0, lexical_weight: 1.0, semantic_weight: 1.0 },
        Blend { k: 10.0, lexical_weight: 1.0, semantic_weight: 1.0 },
        Blend { k: 10.0, lexical_weight: 1.0, semantic_weight: 2.0 },
        Blend { k: 10.0, lexical_weight: 1.0, semantic_weight: 3.0 },
        Blend { k: 10.0, lexical_weight: 1.0, semantic_weight: 4.0 },
    ];
    if options.quality {
        println!("| set | ranking | hit@5 | MRR@10 | queries |\n| --- | --- | --- | --- | --- |");
        for n in [1, 3] {
            let (docs, queries) = banking_set(&rows, n, options.queries);
            let off_topic = (n == 1).then_some(&title_q[..]);
            quality_set(&format!("banking77-k{n}"), &docs, &[("", &queries)], &embedder, &blends, off_topic).await?;
        }
        // The right answer is a published FAQ entry, ranked among tickets.
        let (docs, queries) = banking_faq_set(&rows, options.queries);
        quality_set("banking77-faq", &docs, &[("", &queries)], &embedder, &[Blend::default()], None).await?;
        let sets: [(&str, &[Query]); 2] = [(", title query", &title_q), (", full query", &full_q)];
        quality_set("gitbugs-hadoop", &hadoop_docs, &sets, &embedder, &blends, None).await?;
    }

    // Latency: the banking77 queries against banking77-k1 tickets padded with distractors.
    // 30 more drafts than timed: they warm up and are not timed.
    let (k1_docs, k1_queries) = banking_set(&rows, 1, options.latency_queries + 30);
    let mut pool = k1_docs;
    pool.extend(rows.iter().map(|(t, l)| Doc {
        title: title_of(t),
        description: String::new(),
        label: l.clone(),
        faq: false,
    }));
    pool.extend(hadoop_docs);
    let queries: Vec<String> = k1_queries.into_iter().map(|q| q.title).collect();
    println!(
        "\n| backend | tickets | ranking | endpoint p50 ms | endpoint p99 ms | store lexical p50 ms | store lexical p99 ms | p50 ratio | p99 ratio |\n| --- | --- | --- | --- | --- | --- | --- | --- | --- |"
    );
    for backend in &options.backends {
        for &size in &options.sizes {
            latency(backend, size, &pool, &queries, &embedder).await?;
        }
    }
    Ok(())
}
