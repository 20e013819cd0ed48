use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, RwLock};

use chrono::{DateTime, Utc};
use rust_stemmers::{Algorithm, Stemmer};

use super::model::{DocKey, LexicalQuery};

/// The text of one ticket or published FAQ entry, as the in-memory lexical index reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LexicalDoc {
    /// The ticket or entry.
    pub key: DocKey,
    /// A ticket's title, or an entry's question and other wordings (weighs more).
    pub title: String,
    /// A ticket's description, or an entry's answer.
    pub body: String,
}

/// How the in-memory index weighs and saturates term frequencies (BM25F).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bm25 {
    /// Weight of a title word against a body word (as the store's `bm25()` weights).
    pub title_weight: f32,
    /// Term-frequency saturation.
    pub k1: f32,
    /// Length normalisation, 0 (none) to 1 (full).
    pub b: f32,
}

impl Default for Bm25 {
    fn default() -> Self {
        Self { title_weight: 4.0, k1: 1.2, b: 0.75 }
    }
}

/// Most vocabulary terms a word still being typed expands to (the most frequent are kept).
const MAX_PREFIX_EXPANSIONS: usize = 16;

/// Lower-cased runs of letters and digits, stemmed with the Snowball English stemmer (the
/// stemmer of PostgreSQL's `english` configuration; SQLite's FTS5 `porter` differs on rare
/// words only). Stop words are kept in documents, as both stores keep them for length.
pub fn index_terms(text: &str) -> Vec<String> {
    let stemmer = Stemmer::create(Algorithm::English);
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(|w| stemmer.stem(&w.to_lowercase()).into_owned())
        .collect()
}

/// Tickets' and published FAQ entries' words in memory, ranked by BM25F (title weighted
/// above body) with the same terms as the store's full-text query ([`LexicalQuery`]).
///
/// The store's OR query scores every matching row before its `LIMIT`; at 100,000 tickets a
/// few common words match tens of thousands of rows and the query takes tens of ms. Here a
/// query adds up precomputed term frequencies over posting lists into a dense accumulator:
/// well under a millisecond for the same work. Filled from the store at start, then kept
/// fresh by [`super::SimilarityService::refresh_lexical`]; until loaded, the service asks
/// the store.
#[derive(Debug, Default)]
pub struct LexicalIndex {
    inner: RwLock<Inner>,
    /// When the last load or refresh read the store (tickets changed since are re-read).
    watermark: Mutex<Option<DateTime<Utc>>>,
}

#[derive(Debug, Default)]
struct Inner {
    params: Bm25,
    loaded: bool,
    vocabulary: BTreeMap<String, u32>,
    postings: Vec<Vec<Posting>>,
    docs: Vec<Doc>,
    slots: HashMap<DocKey, u32>,
    /// Sum of live documents' weighted lengths.
    total_len: f64,
    live: u32,
}

#[derive(Debug, Clone, Copy)]
struct Posting {
    slot: u32,
    /// Weighted term frequency: title occurrences × title weight + body occurrences.
    tf: f32,
}

#[derive(Debug)]
struct Doc {
    key: DocKey,
    len: f32,
    live: bool,
    terms: Vec<u32>,
    /// A hash of the text indexed, so that re-reading an unchanged document costs nothing.
    text_hash: u64,
}

fn text_hash(d: &LexicalDoc) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    (&d.title, &d.body).hash(&mut h);
    h.finish()
}

impl LexicalIndex {
    /// An empty index with the default weights.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty index with other weights.
    pub fn with_weights(weights: Bm25) -> Self {
        let index = Self::default();
        index.write().params = weights;
        index
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Inner> {
        self.inner.write().unwrap_or_else(|e| e.into_inner())
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Inner> {
        self.inner.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether a full load finished (before that, the store answers lexical queries).
    pub fn is_loaded(&self) -> bool {
        self.read().loaded
    }

    /// Marks the index loaded as of `at` (the time the load started reading).
    pub fn mark_loaded(&self, at: DateTime<Utc>) {
        self.write().loaded = true;
        self.set_watermark(at);
    }

    /// The time of the last read of the store.
    pub fn watermark(&self) -> Option<DateTime<Utc>> {
        *self.watermark.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records the time of a read of the store.
    pub fn set_watermark(&self, at: DateTime<Utc>) {
        *self.watermark.lock().unwrap_or_else(|e| e.into_inner()) = Some(at);
    }

    /// How many documents are indexed.
    pub fn len(&self) -> usize {
        self.read().live as usize
    }

    /// Whether nothing is indexed.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Adds or replaces documents; documents whose text is unchanged are skipped. Returns
    /// how many were (re)indexed.
    pub fn upsert(&self, docs: &[LexicalDoc]) -> usize {
        let weight = self.read().params.title_weight;
        let changed: Vec<&LexicalDoc> = {
            let inner = self.read();
            docs.iter()
                .filter(|d| {
                    let same = inner.slots.get(&d.key).map(|&slot| &inner.docs[slot as usize]);
                    !same.is_some_and(|doc| doc.live && doc.text_hash == text_hash(d))
                })
                .collect()
        };
        // Analysed outside the write lock: searches go on meanwhile.
        let analysed: Vec<(DocKey, HashMap<String, f32>, f32, u64)> = changed
            .iter()
            .map(|d| {
                let mut tf: HashMap<String, f32> = HashMap::new();
                let (title, body) = (index_terms(&d.title), index_terms(&d.body));
                let len = weight * title.len() as f32 + body.len() as f32;
                for t in title {
                    *tf.entry(t).or_default() += weight;
                }
                for t in body {
                    *tf.entry(t).or_default() += 1.0;
                }
                (d.key, tf, len, text_hash(d))
            })
            .collect();
        let count = analysed.len();
        let mut inner = self.write();
        for (key, tf, len, hash) in analysed {
            inner.remove(key);
            let slot = match inner.slots.get(&key) {
                Some(&slot) => slot,
                None => {
                    let slot = inner.docs.len() as u32;
                    inner.docs.push(Doc { key, len: 0.0, live: false, terms: vec![], text_hash: 0 });
                    inner.slots.insert(key, slot);
                    slot
                }
            };
            let mut terms = Vec::with_capacity(tf.len());
            for (term, f) in tf {
                let next = inner.postings.len() as u32;
                let id = *inner.vocabulary.entry(term).or_insert(next);
                if id == next {
                    inner.postings.push(Vec::new());
                }
                inner.postings[id as usize].push(Posting { slot, tf: f });
                terms.push(id);
            }
            let doc = &mut inner.docs[slot as usize];
            doc.len = len;
            doc.live = true;
            doc.terms = terms;
            doc.text_hash = hash;
            inner.total_len += f64::from(len);
            inner.live += 1;
        }
        count
    }

    /// Removes a document (an FAQ entry unpublished); nothing if it is not indexed.
    pub fn remove(&self, key: DocKey) {
        self.write().remove(key);
    }

    /// The FAQ entries indexed.
    pub fn faq_entries(&self) -> Vec<DocKey> {
        let inner = self.read();
        inner.docs.iter().filter(|d| d.live && matches!(d.key, DocKey::Faq(_))).map(|d| d.key).collect()
    }

    /// Up to `limit` documents matching any term of `query`, best first, with their BM25F
    /// score (higher is better; ties go to the document indexed later). The last term, while typed,
    /// also matches the most frequent words that start with it.
    pub fn search(&self, query: &LexicalQuery, limit: usize) -> Vec<(DocKey, f64)> {
        let inner = self.read();
        if query.is_empty() || limit == 0 || inner.live == 0 {
            return vec![];
        }
        let stemmer = Stemmer::create(Algorithm::English);
        let n = query.terms().len();
        let mut term_ids: Vec<u32> = Vec::new();
        for (i, term) in query.terms().iter().enumerate() {
            let stemmed = stemmer.stem(term.as_str()).into_owned();
            if let Some(&id) = inner.vocabulary.get(&stemmed) {
                term_ids.push(id);
            }
            if query.last_is_prefix() && i + 1 == n {
                let mut expansions: Vec<u32> = inner
                    .vocabulary
                    .range(stemmed.clone()..)
                    .take_while(|(w, _)| w.starts_with(&stemmed))
                    .map(|(_, &id)| id)
                    .filter(|id| !term_ids.contains(id))
                    .collect();
                expansions.sort_by_key(|id| std::cmp::Reverse(inner.postings[*id as usize].len()));
                expansions.truncate(MAX_PREFIX_EXPANSIONS);
                term_ids.extend(expansions);
            }
        }
        inner.top(&term_ids, limit)
    }
}

impl Inner {
    fn remove(&mut self, key: DocKey) {
        let Some(&slot) = self.slots.get(&key) else { return };
        let doc = &mut self.docs[slot as usize];
        if !doc.live {
            return;
        }
        doc.live = false;
        let terms = std::mem::take(&mut doc.terms);
        self.total_len -= f64::from(doc.len);
        self.live -= 1;
        for id in terms {
            self.postings[id as usize].retain(|p| p.slot != slot);
        }
    }

    fn top(&self, term_ids: &[u32], limit: usize) -> Vec<(DocKey, f64)> {
        let Bm25 { k1, b, .. } = self.params;
        let n = f64::from(self.live);
        let avg = (self.total_len / n).max(1e-9) as f32;
        // A dense accumulator: one add per posting, no hashing.
        let mut scores = vec![0.0f32; self.docs.len()];
        let mut touched: Vec<u32> = Vec::new();
        for &id in term_ids {
            let list = &self.postings[id as usize];
            if list.is_empty() {
                continue;
            }
            let df = list.len() as f64;
            let idf = ((n - df + 0.5) / (df + 0.5)).ln_1p() as f32;
            for p in list {
                let len = self.docs[p.slot as usize].len;
                let s = idf * p.tf * (k1 + 1.0) / (p.tf + k1 * (1.0 - b + b * len / avg));
                let acc = &mut scores[p.slot as usize];
                if *acc == 0.0 {
                    touched.push(p.slot);
                }
                *acc += s;
            }
        }
        let mut ranked: Vec<(u32, f32)> = touched.into_iter().map(|slot| (slot, scores[slot as usize])).collect();
        let cmp = |a: &(u32, f32), b: &(u32, f32)| b.1.total_cmp(&a.1).then(b.0.cmp(&a.0));
        if ranked.len() > limit {
            ranked.select_nth_unstable_by(limit - 1, cmp);
            ranked.truncate(limit);
        }
        ranked.sort_by(cmp);
        ranked.into_iter().map(|(slot, s)| (self.docs[slot as usize].key, f64::from(s))).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::faq::FaqEntryId;
    use crate::tickets::TicketId;

    fn t(id: i64) -> DocKey {
        DocKey::Ticket(TicketId::new(id))
    }

    fn doc(key: DocKey, title: &str, body: &str) -> LexicalDoc {
        LexicalDoc { key, title: title.into(), body: body.into() }
    }

    fn corpus() -> LexicalIndex {
        let index = LexicalIndex::new();
        index.upsert(&[
            doc(t(1), "Exam results missing from the portal", "I sat the final exam but no mark is shown."),
            doc(t(2), "Library card not working", "The scanner refuses my card; my exam notes are in the library."),
            doc(t(3), "Refund for the exam fee", "I was charged twice for the exam registration."),
            doc(t(4), "Timetable clash between two courses", "Statistics and algebra lectures overlap on Mondays."),
            doc(t(5), "Cannot submit assignment", "The upload button does nothing; the results page also fails."),
        ]);
        index
    }

    fn search(index: &LexicalIndex, text: &str) -> Vec<DocKey> {
        let found = index.search(&LexicalQuery::from_text(text), 10);
        for pair in found.windows(2) {
            assert!(pair[0].1 >= pair[1].1, "{found:?}");
        }
        found.into_iter().map(|(k, _)| k).collect()
    }

    #[test]
    fn ranking_table() {
        let index = corpus();
        // Query, expected order (a prefix of the answer when `exact` is false), exact.
        let table: [(&str, &[DocKey], bool); 8] = [
            // Both terms in the title first; body-only matches count too.
            ("exam results", &[t(1)], false),
            // "exam" in the title beats "exam" in the body only.
            ("library exam", &[t(2)], false),
            // Stemming, as the stores do.
            ("refunds", &[t(3)], true),
            ("charging", &[t(3)], true),
            ("the and of", &[], true),
            // The last word while typed is a prefix of stems, as in the stores: "statis" of
            // "statist" (Statistics).
            ("statis", &[t(4)], true),
            ("statis ", &[], true),
            ("zzz", &[], true),
        ];
        for (text, expected, exact) in table {
            let found = search(&index, text);
            if exact {
                assert_eq!(found, expected, "{text:?}");
            } else {
                assert_eq!(&found[..expected.len()], expected, "{text:?}: {found:?}");
            }
        }
        assert!(search(&index, "exam results").contains(&t(5)), "body matches count");
        let exam = search(&index, "exam");
        assert_eq!(exam.len(), 3);
        assert!(exam[..2].contains(&t(1)) && exam[..2].contains(&t(3)) && exam[2] == t(2), "{exam:?}");
    }

    #[test]
    fn documents_are_replaced_and_removed() {
        let index = corpus();
        let entry = DocKey::Faq(FaqEntryId::new(1));
        index.upsert(&[doc(entry, "How do I defer an exam?", "Use the deferral form.")]);
        assert_eq!(index.len(), 6);
        assert_eq!(search(&index, "deferral"), vec![entry]);
        assert_eq!(index.upsert(&[doc(entry, "How do I defer an exam?", "Use the deferral form.")]), 0, "unchanged");
        assert_eq!(index.upsert(&[doc(entry, "How do I defer an exam?", "Write to the registry.")]), 1);
        assert!(search(&index, "deferral").is_empty(), "the old answer is gone");
        assert_eq!(search(&index, "registry"), vec![entry]);
        assert_eq!(index.faq_entries(), vec![entry]);
        index.remove(entry);
        index.remove(entry);
        assert!(search(&index, "registry").is_empty());
        assert_eq!(index.len(), 5);
        assert!(index.faq_entries().is_empty());
    }

    #[test]
    fn limit_and_loading_state() {
        let index = corpus();
        assert_eq!(index.search(&LexicalQuery::from_text("exam"), 2).len(), 2);
        assert!(!index.is_loaded());
        let at = chrono::Utc::now();
        index.mark_loaded(at);
        assert!(index.is_loaded());
        assert_eq!(index.watermark(), Some(at));
    }

    #[test]
    fn terms_are_stemmed_lower_case_words() {
        assert_eq!(index_terms("Refunds, CHARGED twice!"), vec!["refund", "charg", "twice"]);
        assert!(index_terms("  --- ").is_empty());
    }
}
