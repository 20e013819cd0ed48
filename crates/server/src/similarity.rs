//! Wiring of similar-ticket suggestions: the embedder loading in the background, the
//! in-memory vector and lexical indexes, and how often the jobs that keep them up to date
//! (`server::workers`) run.

use std::sync::Arc;
use std::time::Duration;

use domain::faq::FaqEntryId;
use domain::similarity::{EmbeddingQueue, LexicalIndex, VectorIndex};
use domain::tickets::TicketId;
use embedder::{LazyEmbedder, ModelSpec};
use tokio::sync::Notify;

use crate::settings::{Settings, Switch};

/// How often the embedding job looks for tickets and published FAQ entries lacking an
/// embedding even without a signal (a signal lost to a crash, tickets written by another
/// instance or by `xtask seed`).
pub const SWEEP_EVERY: Duration = Duration::from_secs(60);

/// How often the in-memory lexical index catches up with the store even without a signal
/// (changes made through another server over the same database, or by `xtask seed`).
pub const CATCH_UP_EVERY: Duration = Duration::from_secs(10);

/// How often the in-memory vector index catches up with the embeddings other servers
/// stored (this server's own are added as it makes them): a ticket embedded through
/// another server is suggested by meaning here within this much (plus a catch-up's time).
pub const VECTORS_EVERY: Duration = Duration::from_secs(5);

/// The semantic stage's parts, shared by the service and the worker.
pub struct Semantic {
    /// The model (loading, ready, unavailable or disabled).
    pub embedder: Arc<LazyEmbedder>,
    /// Ticket embeddings in memory.
    pub vectors: Arc<VectorIndex>,
    /// Wakes the worker: a ticket changed, or the model became ready.
    pub wake: Arc<Notify>,
    /// Tickets' and published FAQ entries' words in memory.
    pub lexical: Arc<LexicalIndex>,
    /// Wakes the lexical catch-up: a ticket or entry changed.
    pub lexical_wake: Arc<Notify>,
}

/// [`EmbeddingQueue`] over two [`Notify`]s (the embedding worker's and the lexical
/// catch-up's): the workers find the changed tickets and entries in the store.
struct WakeWorker(Arc<Notify>, Arc<Notify>);

impl EmbeddingQueue for WakeWorker {
    fn content_changed(&self, _ticket: TicketId) {
        self.0.notify_one();
        self.1.notify_one();
    }

    fn faq_changed(&self, _entry: FaqEntryId) {
        self.0.notify_one();
        self.1.notify_one();
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
        Self {
            embedder,
            vectors: Arc::new(VectorIndex::new()),
            wake,
            lexical: Arc::new(LexicalIndex::new()),
            lexical_wake: Arc::new(Notify::new()),
        }
    }

    /// The semantic stage off (operator commands that serve nothing).
    pub fn disabled() -> Self {
        Self {
            embedder: LazyEmbedder::disabled(&ModelSpec::minilm()),
            vectors: Arc::new(VectorIndex::new()),
            wake: Arc::new(Notify::new()),
            lexical: Arc::new(LexicalIndex::new()),
            lexical_wake: Arc::new(Notify::new()),
        }
    }

    /// The signal the ticket service sends after a content change.
    pub fn queue(&self) -> Arc<dyn EmbeddingQueue> {
        Arc::new(WakeWorker(self.wake.clone(), self.lexical_wake.clone()))
    }

    /// The parts the domain services need.
    pub fn ports(&self) -> domain::services::Semantic {
        domain::services::Semantic {
            embedder: self.embedder.clone(),
            vectors: self.vectors.clone(),
            queue: self.queue(),
            lexical: self.lexical.clone(),
        }
    }
}
