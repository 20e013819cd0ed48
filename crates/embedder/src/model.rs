//! all-MiniLM-L6-v2 on candle: BERT, mean pooling over real tokens, L2 normalisation (as
//! sentence-transformers does for this model).

use std::path::Path;

use anyhow::Context as _;
use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::{BertModel, Config};
use domain::similarity::Embedding;
use tokenizers::{PaddingParams, PaddingStrategy, Tokenizer, TruncationParams};

/// Word pieces read per text: the title and the first hundred or so words of a description.
const MAX_TOKENS: usize = 128;

/// A loaded sentence-embedding model.
pub struct MiniLm {
    model: BertModel,
    tokenizer: Tokenizer,
    device: Device,
}

impl MiniLm {
    /// Loads `config.json`, `tokenizer.json` and `model.safetensors` from `dir` (already
    /// verified by [`crate::fetch`]).
    pub fn load(dir: &Path) -> anyhow::Result<Self> {
        let device = Device::Cpu;
        let config: Config =
            serde_json::from_slice(&std::fs::read(dir.join("config.json")).context("reading config.json")?)
                .context("parsing config.json")?;
        let mut tokenizer =
            Tokenizer::from_file(dir.join("tokenizer.json")).map_err(|e| anyhow::anyhow!("tokenizer.json: {e}"))?;
        tokenizer
            .with_truncation(Some(TruncationParams { max_length: MAX_TOKENS, ..Default::default() }))
            .map_err(|e| anyhow::anyhow!("tokenizer truncation: {e}"))?;
        tokenizer.with_padding(Some(PaddingParams { strategy: PaddingStrategy::BatchLongest, ..Default::default() }));
        let weights = std::fs::read(dir.join("model.safetensors")).context("reading model.safetensors")?;
        let vb = VarBuilder::from_buffered_safetensors(weights, DType::F32, &device).context("loading weights")?;
        let model = BertModel::load(vb, &config).context("building the model")?;
        Ok(Self { model, tokenizer, device })
    }

    /// One unit-length embedding per text (an empty text embeds like `[CLS] [SEP]`).
    pub fn embed(&self, texts: &[String]) -> anyhow::Result<Vec<Embedding>> {
        if texts.is_empty() {
            return Ok(vec![]);
        }
        let encodings = self
            .tokenizer
            .encode_batch(texts.iter().map(String::as_str).collect::<Vec<_>>(), true)
            .map_err(|e| anyhow::anyhow!("tokenizing: {e}"))?;
        let n = encodings.len();
        let len = encodings[0].get_ids().len();
        let mut ids = Vec::with_capacity(n * len);
        let mut mask = Vec::with_capacity(n * len);
        for e in &encodings {
            ids.extend_from_slice(e.get_ids());
            mask.extend_from_slice(e.get_attention_mask());
        }
        let ids = Tensor::from_vec(ids, (n, len), &self.device)?;
        let mask = Tensor::from_vec(mask, (n, len), &self.device)?;
        let type_ids = ids.zeros_like()?;
        let hidden = self.model.forward(&ids, &type_ids, Some(&mask))?;
        // Mean over real tokens only.
        let mask = mask.to_dtype(DType::F32)?.unsqueeze(2)?;
        let summed = hidden.broadcast_mul(&mask)?.sum(1)?;
        let counts = mask.sum(1)?.clamp(1e-9, f64::MAX)?;
        let pooled = summed.broadcast_div(&counts)?;
        pooled
            .to_vec2::<f32>()?
            .into_iter()
            .map(|v| Embedding::normalised(v).context("the model produced a degenerate embedding"))
            .collect()
    }
}
