//! The real all-MiniLM-L6-v2: fetched (or found in the cache directory), verified, loaded and
//! asked to embed. Uses `OSTS_MODEL_CACHE` or `<temp dir>/osts-model-cache`; the network is
//! needed only when the files are not there yet. Skipped, and says so, only when the files
//! are neither cached nor fetchable.

use std::sync::Arc;

use domain::similarity::{Embedder, SemanticState};
use embedder::{LazyEmbedder, ModelSpec};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_real_model_loads_and_ranks_paraphrases_above_unrelated_text() {
    let dir = std::env::var_os("OSTS_MODEL_CACHE")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join("osts-model-cache"));
    let spec = ModelSpec::minilm();
    if let Err(e) = embedder::fetch(&spec, &dir).await {
        eprintln!("SKIPPED: the model is not in {} and cannot be fetched: {e:#}", dir.display());
        return;
    }
    let embedder = LazyEmbedder::loading(&spec);
    assert_eq!(embedder.state(), SemanticState::Loading);
    assert!(embedder.embed(vec!["x".into()]).await.is_err(), "no embeddings before the model is ready");
    Arc::clone(&embedder).load(spec, dir).await;
    assert_eq!(embedder.state(), SemanticState::Ready);

    let texts = [
        "I cannot see my exam results in the portal",
        "My grades for the final exam are not showing up",
        "How do I change the delivery address for my library books?",
        "",
    ];
    let v = embedder.embed(texts.iter().map(|t| t.to_string()).collect()).await.unwrap();
    assert_eq!(v.len(), 4);
    assert!(v.iter().all(|e| e.dims() == 384));
    let norm: f32 = v[0].as_slice().iter().map(|x| x * x).sum();
    assert!((norm - 1.0).abs() < 1e-4);
    let paraphrase = v[0].cosine(&v[1]);
    let unrelated = v[0].cosine(&v[2]);
    assert!(paraphrase > 0.5 && paraphrase > unrelated + 0.2, "paraphrase {paraphrase}, unrelated {unrelated}");
    // Batching must not change a text's embedding (padding is masked out of the mean).
    let alone = embedder.embed(vec![texts[0].to_string()]).await.unwrap();
    assert!(alone[0].cosine(&v[0]) > 0.9999);
}
