//! Similar tickets ("suggestions"): what a student sees while drafting a ticket, so that they
//! can vote on an existing ticket instead of filing a duplicate.
//!
//! Two stages rank candidates: a **lexical** one in the store (full-text search over a
//! sanitised OR query, see [`LexicalQuery`]) and a **semantic** one (sentence embeddings and
//! cosine similarity over an in-memory [`VectorIndex`]). [`rank::blend`] fuses both rankings
//! with weighted reciprocal rank fusion and [`rank::passes_threshold`] drops noise. When the
//! embedder is not ready, suggestions are lexical only.
//!
//! Ticket embeddings are computed off the request path by a worker calling
//! [`SimilarityService::embed_pending`]; only the query is embedded per request.

mod index;
mod lexical;
mod model;
mod ports;
pub mod rank;
mod service;

pub use index::*;
pub use lexical::*;
pub use model::*;
pub use ports::*;
pub use service::*;
