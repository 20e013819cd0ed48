use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashMap};
use std::sync::{Mutex, RwLock};

use chrono::{DateTime, Utc};

use super::model::{dot, DocKey, Embedding};
#[cfg(test)]
use crate::tickets::TicketId;

/// Ticket and FAQ entry embeddings in memory, searched exhaustively by cosine similarity.
///
/// A flat scan with no index to tune, in two steps: every vector is also kept as 8-bit codes
/// (one scale per vector), which the scan reads (100,000 × 384 dimensions is 38 MB instead
/// of 154 MB of `f32`: the scan is bound by memory, not arithmetic); the best
/// [`VectorIndex::OVERFETCH`]× candidates are then rescored exactly from the `f32` copy, so
/// the scores returned are exact and the order is the exact order but for near-ties at the
/// edge of the candidates. Filled from the store at start, by this server's embedding
/// worker, and by the catch-up with what other servers stored
/// (`SimilarityService::refresh_vectors`).
#[derive(Debug, Default)]
pub struct VectorIndex {
    inner: RwLock<Inner>,
    /// When the last load or catch-up read the store.
    watermark: Mutex<Option<DateTime<Utc>>>,
}

#[derive(Debug, Default)]
struct Inner {
    dims: usize,
    ids: Vec<DocKey>,
    data: Vec<f32>,
    /// `data` as 8-bit codes: component ≈ code × the slot's scale.
    codes: Vec<i8>,
    scales: Vec<f32>,
    slots: HashMap<DocKey, usize>,
}

/// 8-bit codes of a vector and the scale that maps them back (largest magnitude ↦ 127).
fn quantise(v: &[f32]) -> (Vec<i8>, f32) {
    let max = v.iter().fold(0.0f32, |m, x| m.max(x.abs()));
    if max == 0.0 {
        return (vec![0; v.len()], 0.0);
    }
    let scale = max / 127.0;
    (v.iter().map(|x| (x / scale).round().clamp(-127.0, 127.0) as i8).collect(), scale)
}

/// Integer dot product of two code vectors, written with independent sums so the compiler
/// vectorises it (multiply-add of 16-bit pairs).
fn dot_i8(a: &[i8], b: &[i8]) -> i32 {
    let mut acc = [0i32; 16];
    let (ca, cb) = (a.chunks_exact(16), b.chunks_exact(16));
    let tail: i32 = ca.remainder().iter().zip(cb.remainder()).map(|(x, y)| i32::from(*x) * i32::from(*y)).sum();
    for (x, y) in ca.zip(cb) {
        for ((s, xi), yi) in acc.iter_mut().zip(x).zip(y) {
            *s += i32::from(*xi) * i32::from(*yi);
        }
    }
    acc.iter().sum::<i32>() + tail
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

    /// The time of the last read of the store; `None` until the first load.
    pub fn watermark(&self) -> Option<DateTime<Utc>> {
        *self.watermark.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Records the time of a read of the store.
    pub fn set_watermark(&self, at: DateTime<Utc>) {
        *self.watermark.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(at);
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
        let (codes, scale) = quantise(embedding.as_slice());
        match inner.slots.get(&ticket).copied() {
            Some(slot) => {
                inner.data[slot * dims..(slot + 1) * dims].copy_from_slice(embedding.as_slice());
                inner.codes[slot * dims..(slot + 1) * dims].copy_from_slice(&codes);
                inner.scales[slot] = scale;
            }
            None => {
                let slot = inner.ids.len();
                inner.ids.push(ticket);
                inner.data.extend_from_slice(embedding.as_slice());
                inner.codes.extend_from_slice(&codes);
                inner.scales.push(scale);
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

    /// How many candidates per result the 8-bit scan hands to the exact rescoring.
    pub const OVERFETCH: usize = 4;
    /// From this many vectors on, the scan is split across the machine's cores.
    pub const PARALLEL_FROM: usize = 20_000;
    /// The most threads one scan uses.
    pub const MAX_THREADS: usize = 4;

    /// The `k` tickets or entries most similar to `query`, most similar first, with exact
    /// cosines.
    pub fn search(&self, query: &Embedding, k: usize) -> Vec<(DocKey, f32)> {
        let inner = self.inner.read().unwrap_or_else(|e| e.into_inner());
        if k == 0 || inner.ids.is_empty() || query.dims() != inner.dims {
            return vec![];
        }
        let (dims, q) = (inner.dims, query.as_slice());
        // Step 1: the best candidates by the 8-bit codes (the query's own scale is the same
        // for every vector, so it does not change the order).
        let (q_codes, _) = quantise(q);
        let candidates = k.saturating_mul(Self::OVERFETCH).max(k + 16);
        let scan = |first: usize, slots: usize| -> Vec<Scored> {
            let codes = &inner.codes[first * dims..(first + slots) * dims];
            let scales = &inner.scales[first..first + slots];
            let scores = codes.chunks_exact(dims).zip(scales).map(|(v, scale)| dot_i8(v, &q_codes) as f32 * scale);
            top(scores, candidates).into_iter().map(|Scored(s, slot)| Scored(s, first + slot)).collect()
        };
        let n = inner.ids.len();
        let parts = if n >= Self::PARALLEL_FROM {
            std::thread::available_parallelism().map_or(1, |p| p.get()).min(Self::MAX_THREADS)
        } else {
            1
        };
        let approx = if parts == 1 {
            scan(0, n)
        } else {
            // Large indexes are scanned by several threads, each over its own range.
            let per = n.div_ceil(parts);
            let found: Vec<Scored> = std::thread::scope(|scope| {
                let handles: Vec<_> = (0..parts)
                    .map(|p| (p * per, per.min(n.saturating_sub(p * per))))
                    .filter(|(_, slots)| *slots > 0)
                    .map(|(first, slots)| scope.spawn(move || scan(first, slots)))
                    .collect();
                handles.into_iter().flat_map(|h| h.join().unwrap_or_default()).collect()
            });
            top(found.into_iter().map(|Scored(s, slot)| (slot, s)), candidates)
        };
        // Step 2: their exact cosines.
        let exact = top(
            approx.into_iter().map(|Scored(_, slot)| (slot, dot(&inner.data[slot * dims..(slot + 1) * dims], q))),
            k,
        );
        exact.into_iter().map(|Scored(s, slot)| (inner.ids[slot], s)).collect()
    }
}

/// The `k` best of `scores` (by slot, or as `(slot, score)` pairs), best first.
fn top<S: IntoScored>(scores: impl Iterator<Item = S>, k: usize) -> Vec<Scored> {
    let mut heap: BinaryHeap<Scored> = BinaryHeap::with_capacity(k + 1);
    for (i, item) in scores.enumerate() {
        let Scored(s, slot) = item.scored(i);
        if heap.len() < k {
            heap.push(Scored(s, slot));
        } else if heap.peek().is_some_and(|worst| s > worst.0) {
            heap.pop();
            heap.push(Scored(s, slot));
        }
    }
    let mut best = heap.into_vec();
    best.sort();
    best
}

/// A score with its slot: a bare score's slot is its position in the scan.
trait IntoScored {
    fn scored(self, position: usize) -> Scored;
}

impl IntoScored for f32 {
    fn scored(self, position: usize) -> Scored {
        Scored(self, position)
    }
}

impl IntoScored for (usize, f32) {
    fn scored(self, _: usize) -> Scored {
        Scored(self.1, self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(v: &[f32]) -> Embedding {
        Embedding::normalised(v.to_vec()).unwrap()
    }

    /// Deterministic pseudo-random unit vectors.
    fn random(n: usize, dims: usize, seed: u64) -> Vec<Embedding> {
        let mut state = seed;
        let mut next = move || {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((state >> 33) as f32 / (1u64 << 31) as f32) - 0.5
        };
        (0..n).map(|_| e(&(0..dims).map(|_| next()).collect::<Vec<_>>())).collect()
    }

    #[test]
    fn the_two_step_search_finds_what_an_exact_scan_finds() {
        let index = VectorIndex::new();
        // Large enough to be scanned in parallel.
        let corpus = random(VectorIndex::PARALLEL_FROM + 1_000, 48, 7);
        for (i, v) in corpus.iter().enumerate() {
            index.upsert(TicketId::new(i as i64 + 1), v);
        }
        for query in random(25, 48, 99) {
            let mut exact: Vec<(DocKey, f32)> = corpus
                .iter()
                .enumerate()
                .map(|(i, v)| (TicketId::new(i as i64 + 1).into(), v.cosine(&query)))
                .collect();
            exact.sort_by(|a, b| b.1.total_cmp(&a.1));
            exact.truncate(10);
            let found = index.search(&query, 10);
            assert_eq!(found, exact, "same documents, same exact cosines, same order");
        }
    }

    #[test]
    fn codes_approximate_the_vector() {
        let v = e(&[0.3, -0.9, 0.1, 0.0]);
        let (codes, scale) = quantise(v.as_slice());
        assert_eq!(codes.iter().map(|c| c.unsigned_abs()).max(), Some(127));
        for (c, x) in codes.iter().zip(v.as_slice()) {
            assert!((f32::from(*c) * scale - x).abs() <= scale / 2.0 + f32::EPSILON);
        }
        assert_eq!(quantise(&[0.0, 0.0]), (vec![0, 0], 0.0));
        assert_eq!(dot_i8(&[1; 35], &[-2; 35]), -70);
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
