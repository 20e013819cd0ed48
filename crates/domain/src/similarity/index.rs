use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashMap};
use std::sync::RwLock;

use super::model::{dot, DocKey, Embedding};
#[cfg(test)]
use crate::tickets::TicketId;

/// Ticket and FAQ entry embeddings in memory, searched exhaustively by cosine similarity.
///
/// A flat scan of unit vectors: 100,000 tickets × 384 dimensions is a few milliseconds and
/// exact, with no index to tune. Filled from the store at start and by the embedding worker.
#[derive(Debug, Default)]
pub struct VectorIndex {
    inner: RwLock<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    dims: usize,
    ids: Vec<DocKey>,
    data: Vec<f32>,
    slots: HashMap<DocKey, usize>,
}

/// A scored slot, ordered so that a `BinaryHeap` keeps the worst on top.
struct Scored(f32, usize);

impl PartialEq for Scored {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Scored {}
impl PartialOrd for Scored {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Scored {
    fn cmp(&self, other: &Self) -> Ordering {
        // Reversed: the lowest score is the "greatest", so it is popped first.
        other.0.total_cmp(&self.0).then(self.1.cmp(&other.1))
    }
}

impl VectorIndex {
    /// An empty index.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds or replaces a ticket's or entry's embedding. Returns `false` (and stores nothing)
    /// when its dimensions differ from those already stored.
    pub fn upsert(&self, key: impl Into<DocKey>, embedding: &Embedding) -> bool {
        let ticket = key.into();
        let mut inner = self.inner.write().unwrap_or_else(|e| e.into_inner());
        if inner.ids.is_empty() {
            inner.dims = embedding.dims();
        }
        if embedding.dims() != inner.dims {
            return false;
        }
        let dims = inner.dims;
        match inner.slots.get(&ticket).copied() {
            Some(slot) => inner.data[slot * dims..(slot + 1) * dims].copy_from_slice(embedding.as_slice()),
            None => {
                let slot = inner.ids.len();
                inner.ids.push(ticket);
                inner.data.extend_from_slice(embedding.as_slice());
                inner.slots.insert(ticket, slot);
            }
        }
        true
    }

    /// How many tickets and entries are indexed.
    pub fn len(&self) -> usize {
        self.inner.read().unwrap_or_else(|e| e.into_inner()).ids.len()
    }

    /// Whether nothing is indexed.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The cosine similarity of `query` with one ticket or entry, if it is indexed.
    pub fn cosine(&self, key: impl Into<DocKey>, query: &Embedding) -> Option<f32> {
        let ticket = key.into();
        let inner = self.inner.read().unwrap_or_else(|e| e.into_inner());
        let slot = *inner.slots.get(&ticket)?;
        (query.dims() == inner.dims)
            .then(|| dot(&inner.data[slot * inner.dims..(slot + 1) * inner.dims], query.as_slice()))
    }

    /// The `k` tickets or entries most similar to `query`, most similar first.
    pub fn search(&self, query: &Embedding, k: usize) -> Vec<(DocKey, f32)> {
        let inner = self.inner.read().unwrap_or_else(|e| e.into_inner());
        if k == 0 || inner.ids.is_empty() || query.dims() != inner.dims {
            return vec![];
        }
        let q = query.as_slice();
        let mut heap: BinaryHeap<Scored> = BinaryHeap::with_capacity(k + 1);
        for (slot, v) in inner.data.chunks_exact(inner.dims).enumerate() {
            let s = dot(v, q);
            if heap.len() < k {
                heap.push(Scored(s, slot));
            } else if heap.peek().is_some_and(|worst| s > worst.0) {
                heap.pop();
                heap.push(Scored(s, slot));
            }
        }
        let mut best: Vec<Scored> = heap.into_vec();
        best.sort();
        best.into_iter().map(|Scored(s, slot)| (inner.ids[slot], s)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(v: &[f32]) -> Embedding {
        Embedding::normalised(v.to_vec()).unwrap()
    }

    #[test]
    fn search_returns_the_nearest_first() {
        let index = VectorIndex::new();
        index.upsert(TicketId::new(1), &e(&[1.0, 0.0, 0.0]));
        index.upsert(TicketId::new(2), &e(&[0.7, 0.7, 0.0]));
        index.upsert(TicketId::new(3), &e(&[0.0, 0.0, 1.0]));
        let hits = index.search(&e(&[1.0, 0.1, 0.0]), 2);
        assert_eq!(
            hits.iter().map(|h| h.0).collect::<Vec<_>>(),
            vec![TicketId::new(1).into(), TicketId::new(2).into()]
        );
        assert!(hits[0].1 > hits[1].1);
        assert_eq!(index.search(&e(&[1.0, 0.0, 0.0]), 10).len(), 3);
        assert!(index.search(&e(&[1.0, 0.0]), 10).is_empty(), "other dimensions match nothing");
    }

    #[test]
    fn upsert_replaces_and_refuses_other_dimensions() {
        let index = VectorIndex::new();
        assert!(index.upsert(TicketId::new(1), &e(&[1.0, 0.0])));
        assert!(index.upsert(TicketId::new(1), &e(&[0.0, 1.0])));
        assert!(!index.upsert(TicketId::new(2), &e(&[1.0, 0.0, 0.0])));
        assert_eq!(index.len(), 1);
        let c = index.cosine(TicketId::new(1), &e(&[0.0, 1.0])).unwrap();
        assert!((c - 1.0).abs() < 1e-6);
        assert_eq!(index.cosine(TicketId::new(9), &e(&[0.0, 1.0])), None);
    }
}
