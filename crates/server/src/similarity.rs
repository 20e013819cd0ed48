//! Wiring of similar-ticket suggestions: the embedder loading in the background, the
//! in-memory vector index, and the worker that keeps ticket embeddings up to date.

use std::sync::Arc;
use std::time::Duration;

use domain::faq::FaqEntryId;
use domain::similarity::{EmbeddingQueue, SimilarityService, VectorIndex};
use domain::tickets::TicketId;
use embedder::{LazyEmbedder, ModelSpec};
use tokio::sync::Notify;

use crate::settings::{Settings, Switch};

/// How often the worker looks for tickets and published FAQ entries lacking an embedding
/// even without a signal (a
/// signal lost to a crash, tickets written by another instance or by `xtask seed`).
const SWEEP_EVERY: Duration = Duration::from_secs(60);

/// Tickets embedded per model call: small, so a query embedding waits little behind a batch.
const BATCH: u32 = 16;

/// The semantic stage's parts, shared by the service and the worker.
pub struct Semantic {
    /// The model (loading, ready, unavailable or disabled).
    pub embedder: Arc<LazyEmbedder>,
    /// Ticket embeddings in memory.
    pub vectors: Arc<VectorIndex>,
    /// Wakes the worker: a ticket changed, or the model became ready.
    pub wake: Arc<Notify>,
}

/// [`EmbeddingQueue`] over a [`Notify`]: the worker finds the changed tickets in the store.
struct WakeWorker(Arc<Notify>);

impl EmbeddingQueue for WakeWorker {
    fn content_changed(&self, _ticket: TicketId) {
        self.0.notify_one();
    }

    fn faq_changed(&self, _entry: FaqEntryId) {
        self.0.notify_one();
    }
}

impl Semantic {
    /// Starts fetching and loading the model in the background, unless switched off; the
    /// service answers lexically meanwhile.
    pub fn start(settings: &Settings) -> Self {
        let spec = ModelSpec::minilm();
        let wake = Arc::new(Notify::new());
        let embedder = match settings.semantic_search {
            Switch::Off => {
                tracing::info!("semantic search: disabled by OSTS_SEMANTIC_SEARCH=off, suggestions are lexical");
                LazyEmbedder::disabled(&spec)
            }
            Switch::On => {
                let embedder = LazyEmbedder::loading(&spec);
                let (loader, dir, wake) = (embedder.clone(), settings.model_dir(), wake.clone());
                tracing::info!("semantic search: suggestions are lexical until the model is ready");
                tokio::spawn(async move {
                    loader.load(spec, dir).await;
                    wake.notify_one();
                });
                embedder
            }
        };
        Self { embedder, vectors: Arc::new(VectorIndex::new()), wake }
    }

    /// The semantic stage off (operator commands that serve nothing).
    pub fn disabled() -> Self {
        Self {
            embedder: LazyEmbedder::disabled(&ModelSpec::minilm()),
            vectors: Arc::new(VectorIndex::new()),
            wake: Arc::new(Notify::new()),
        }
    }

    /// The signal the ticket service sends after a content change.
    pub fn queue(&self) -> Arc<dyn EmbeddingQueue> {
        Arc::new(WakeWorker(self.wake.clone()))
    }

    /// The parts the domain services need.
    pub fn ports(&self) -> domain::services::Semantic {
        domain::services::Semantic {
            embedder: self.embedder.clone(),
            vectors: self.vectors.clone(),
            queue: Some(self.queue()),
        }
    }
}

/// Loads stored embeddings into memory, then embeds tickets and published FAQ entries lacking
/// one (the backfill), and
/// again whenever woken or every [`SWEEP_EVERY`]. Runs until aborted.
pub async fn embedding_worker(similarity: SimilarityService, wake: Arc<Notify>) {
    match similarity.load_vectors().await {
        Ok(n) => tracing::info!(embeddings = n, "semantic search: stored embeddings loaded"),
        Err(e) => tracing::error!(error = format!("{e:#}"), "semantic search: cannot load stored embeddings"),
    }
    loop {
        let mut done = 0usize;
        loop {
            match similarity.embed_pending(BATCH).await {
                Ok(0) => break,
                Ok(n) => {
                    done += n;
                    if done % 1_000 < n {
                        tracing::info!(embedded = done, "semantic search: embedding tickets");
                    }
                }
                Err(e) => {
                    tracing::error!(error = format!("{e:#}"), "semantic search: embedding tickets failed");
                    break;
                }
            }
        }
        if done > 0 {
            tracing::info!(embedded = done, "semantic search: tickets embedded");
        }
        tokio::select! {
            () = wake.notified() => {}
            () = tokio::time::sleep(SWEEP_EVERY) => {}
        }
    }
}
