use std::fmt;

use crate::categories::CategoryId;
use crate::error::Error;
use crate::faq::FaqEntryId;
use crate::tickets::{Description, TicketId, TicketView};

/// What the similarity ranking ranks: a ticket or an FAQ entry. Both go through the same
/// lexical and semantic stages, blend and threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DocKey {
    /// A ticket.
    Ticket(TicketId),
    /// An FAQ entry (suggested only while published).
    Faq(FaqEntryId),
}

impl From<TicketId> for DocKey {
    fn from(id: TicketId) -> Self {
        DocKey::Ticket(id)
    }
}

impl From<FaqEntryId> for DocKey {
    fn from(id: FaqEntryId) -> Self {
        DocKey::Faq(id)
    }
}

/// An L2-normalised sentence embedding.
#[derive(Clone, PartialEq)]
pub struct Embedding(Vec<f32>);

impl fmt::Debug for Embedding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Embedding({} dims)", self.0.len())
    }
}

impl Embedding {
    /// Normalises `values` to unit length; `None` when empty, not finite or all zero.
    pub fn normalised(values: Vec<f32>) -> Option<Self> {
        if values.is_empty() || values.iter().any(|v| !v.is_finite()) {
            return None;
        }
        let norm = values.iter().map(|v| v * v).sum::<f32>().sqrt();
        if norm == 0.0 {
            return None;
        }
        Some(Self(values.into_iter().map(|v| v / norm).collect()))
    }

    /// The components.
    pub fn as_slice(&self) -> &[f32] {
        &self.0
    }

    /// Number of dimensions.
    pub fn dims(&self) -> usize {
        self.0.len()
    }

    /// Cosine similarity with another unit vector (their dot product); 0 when the
    /// dimensions differ.
    pub fn cosine(&self, other: &Embedding) -> f32 {
        if self.0.len() != other.0.len() {
            return 0.0;
        }
        dot(&self.0, &other.0)
    }
}

/// Dot product, written with eight independent sums so the compiler vectorises it.
pub(crate) fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0.0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = ca.remainder().iter().zip(cb.remainder()).map(|(x, y)| x * y).sum();
    for (x, y) in ca.zip(cb) {
        for ((s, xi), yi) in acc.iter_mut().zip(x).zip(y) {
            *s += xi * yi;
        }
    }
    acc.iter().sum::<f32>() + tail
}

/// What the semantic stage can do right now (shown in `/healthz`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SemanticState {
    /// The model is loaded: suggestions are blended.
    Ready,
    /// The model is being fetched or loaded: suggestions are lexical meanwhile.
    Loading,
    /// The model could not be fetched or loaded: suggestions are lexical.
    Unavailable,
    /// Switched off by a setting: suggestions are lexical.
    Disabled,
}

impl SemanticState {
    /// The stable name used in the API and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            SemanticState::Ready => "ready",
            SemanticState::Loading => "loading",
            SemanticState::Unavailable => "unavailable",
            SemanticState::Disabled => "disabled",
        }
    }
}

/// Which stages rank suggestions (a setting; benchmarks compare all three).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RankingMode {
    /// Full-text search only.
    Lexical,
    /// Embeddings only (falls back to lexical when the embedder is not ready).
    Semantic,
    /// Both, fused (falls back to lexical when the embedder is not ready).
    Blended,
}

/// A student's draft as typed so far, bounded so that any input is cheap to handle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Draft {
    title: String,
    description: String,
}

impl Draft {
    /// Most characters of the title of a draft (longer drafts are refused, not truncated).
    pub const MAX_TITLE_CHARS: usize = 1_000;

    /// Validates a draft: the title may be a few words or empty (then the description
    /// counts), and the description is bounded like a ticket's.
    pub fn parse(title: &str, description: &str) -> Result<Self, Error> {
        if title.chars().count() > Self::MAX_TITLE_CHARS {
            return Err(Error::invalid(
                "title",
                "too_long",
                format!("title must be at most {} characters", Self::MAX_TITLE_CHARS),
            ));
        }
        if description.chars().count() > Description::MAX_CHARS {
            return Err(Error::invalid(
                "description",
                "too_long",
                format!("description must be at most {} characters", Description::MAX_CHARS),
            ));
        }
        Ok(Self { title: title.trim().to_owned(), description: description.trim().to_owned() })
    }

    /// The title as typed.
    pub fn title(&self) -> &str {
        &self.title
    }

    /// The description as typed.
    pub fn description(&self) -> &str {
        &self.description
    }

    /// The text embedded for this draft: the same shape as a ticket's [`embedding_text`].
    pub fn embedding_text(&self) -> String {
        embedding_text(&self.title, &self.description)
    }
}

/// The text whose embedding stands for a ticket: title, then the start of the description
/// (the model reads at most 256 word pieces anyway).
pub fn embedding_text(title: &str, description: &str) -> String {
    const MAX_DESCRIPTION_CHARS: usize = 1_000;
    let description: String = description.chars().take(MAX_DESCRIPTION_CHARS).collect();
    if description.is_empty() {
        title.to_owned()
    } else {
        format!("{title}. {description}")
    }
}

/// One search term: lower-case letters and digits only, so it can never carry query syntax.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Term(String);

impl Term {
    /// The term.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A full-text query: an OR of at most [`LexicalQuery::MAX_TERMS`] terms, made only by
/// [`LexicalQuery::from_text`], so that adapters may splice terms into their query syntax.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LexicalQuery {
    terms: Vec<Term>,
    last_is_prefix: bool,
}

/// Words too common to tell concerns apart.
const STOP_WORDS: &[&str] = &[
    "a", "about", "after", "again", "all", "also", "am", "an", "and", "any", "are", "as", "at", "be", "been", "before",
    "being", "but", "by", "can", "could", "did", "do", "does", "doing", "for", "from", "had", "has", "have", "having",
    "he", "her", "here", "hi", "him", "his", "how", "i", "if", "in", "into", "is", "it", "its", "just", "me", "my",
    "no", "not", "of", "on", "or", "our", "please", "she", "should", "so", "some", "than", "thank", "thanks", "that",
    "the", "their", "them", "then", "there", "these", "they", "this", "those", "to", "too", "up", "us", "was", "we",
    "were", "what", "when", "where", "which", "while", "who", "why", "will", "with", "would", "you", "your",
];

impl LexicalQuery {
    /// Most terms in a query: enough for a title and the gist of a description, few enough
    /// to keep the query cheap.
    pub const MAX_TERMS: usize = 12;
    /// Longest term kept (longer words are cut).
    pub const MAX_TERM_CHARS: usize = 32;
    /// Shortest last word treated as a prefix while the student is still typing it.
    pub const MIN_PREFIX_CHARS: usize = 3;

    /// Sanitises free text into terms: lower-cased runs of letters and digits, stop words and
    /// one-character words dropped, duplicates removed, the first [`Self::MAX_TERMS`] kept.
    /// When the text ends inside a word (still being typed), that last word is a prefix.
    pub fn from_text(text: &str) -> Self {
        let mut terms: Vec<Term> = Vec::new();
        let mut last_is_prefix = false;
        for word in words(text) {
            if terms.len() == Self::MAX_TERMS {
                break;
            }
            if word.chars().count() < 2 || STOP_WORDS.contains(&word.as_str()) {
                continue;
            }
            let term = Term(word.chars().take(Self::MAX_TERM_CHARS).collect());
            if !terms.contains(&term) {
                terms.push(term);
            }
        }
        if let (Some(last_word), Some(last_term)) = (words(text).last(), terms.last()) {
            let typing = text.chars().last().is_some_and(char::is_alphanumeric);
            last_is_prefix = typing
                && last_word == last_term.0
                && last_word.chars().count() >= Self::MIN_PREFIX_CHARS
                && terms.len() < Self::MAX_TERMS;
        }
        Self { terms, last_is_prefix }
    }

    /// The terms, in the order they were typed.
    pub fn terms(&self) -> &[Term] {
        &self.terms
    }

    /// Whether the last term should also match words that start with it.
    pub fn last_is_prefix(&self) -> bool {
        self.last_is_prefix
    }

    /// Whether there is nothing to search for.
    pub fn is_empty(&self) -> bool {
        self.terms.is_empty()
    }

    /// The share of this query's terms found among `text`'s words (prefix rules apply).
    pub fn coverage(&self, text: &str) -> f64 {
        if self.terms.is_empty() {
            return 0.0;
        }
        let doc: std::collections::HashSet<String> = words(text).map(|w| stem(&w).to_owned()).collect();
        let found = self
            .terms
            .iter()
            .enumerate()
            .filter(|(i, t)| {
                let prefix = self.last_is_prefix && *i + 1 == self.terms.len();
                let stemmed = stem(&t.0);
                if prefix {
                    doc.iter().any(|w| w.starts_with(stemmed))
                } else {
                    doc.contains(stemmed)
                }
            })
            .count();
        found as f64 / self.terms.len() as f64
    }
}

/// Lower-cased runs of letters and digits.
fn words(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).map(str::to_lowercase)
}

/// A crude plural/verb-ending strip, so that "refunds" covers "refund" when measuring
/// coverage (the stores stem with their own, better, stemmers).
fn stem(word: &str) -> &str {
    for suffix in ["ing", "ed", "es", "s"] {
        if let Some(stripped) = word.strip_suffix(suffix) {
            if stripped.chars().count() >= 3 {
                return stripped;
            }
        }
    }
    word
}

/// A lexical match found by the store: higher `score` is better (only the order counts).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LexicalHit {
    /// The ticket.
    pub ticket: TicketId,
    /// The store's relevance (bm25 or `ts_rank`, sign-adjusted so that higher is better).
    pub score: f64,
}

/// A lexical match among published FAQ entries: higher `score` is better, on the same scale
/// as [`LexicalHit::score`] as far as the store can make it (both are bm25-like).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FaqLexicalHit {
    /// The entry.
    pub entry: FaqEntryId,
    /// The store's relevance, higher is better.
    pub score: f64,
}

/// A published FAQ entry as the similarity ranking needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FaqView {
    /// The entry.
    pub id: FaqEntryId,
    /// Its question.
    pub question: String,
    /// Other wordings of the question, one per line (may be empty).
    pub also_asked: String,
    /// Its answer (Markdown source).
    pub answer: String,
    /// Its category.
    pub category_id: CategoryId,
}

impl FaqView {
    /// The text whose words the relevance threshold checks: every wording and the answer.
    pub fn searchable_text(&self) -> String {
        format!("{} {} {}", self.question, self.also_asked, self.answer)
    }
}

/// What a suggestion points at.
#[derive(Debug, Clone, PartialEq)]
// Most suggestions are tickets: boxing them would allocate per suggestion to save nothing.
#[allow(clippy::large_enum_variant)]
pub enum Suggested {
    /// A ticket, as the viewer sees it (with their vote).
    Ticket {
        /// The ticket and whether the viewer voted on it.
        view: TicketView,
        /// Whether the viewer may vote on it (one click "me too").
        may_vote: bool,
    },
    /// A published FAQ entry: the answer may already be there.
    Faq(FaqView),
}

/// A ticket or FAQ entry found similar to a draft, as the viewer sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Suggestion {
    /// The ticket or entry.
    pub item: Suggested,
    /// Relevance between 0 and 1 (higher is more similar).
    pub score: f64,
    /// The start of a ticket's description (or its title), or of an entry's answer, on one
    /// line.
    pub snippet: String,
}

impl Suggestion {
    /// What it points at, as a ranking key.
    pub fn key(&self) -> DocKey {
        match &self.item {
            Suggested::Ticket { view, .. } => DocKey::Ticket(view.ticket.id()),
            Suggested::Faq(faq) => DocKey::Faq(faq.id),
        }
    }
}

/// A short one-line excerpt: whitespace collapsed, cut at a word boundary.
pub fn snippet(text: &str, max_chars: usize) -> String {
    let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() <= max_chars {
        return flat;
    }
    let cut: String = flat.chars().take(max_chars).collect();
    let cut = match cut.rfind(' ') {
        Some(i) if i > max_chars / 2 => &cut[..i],
        _ => cut.as_str(),
    };
    format!("{}…", cut.trim_end_matches([',', '.', ';', ':']))
}

/// A ticket whose embedding is missing or stale, with the text to embed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmbeddingJob {
    /// The ticket.
    pub ticket: TicketId,
    /// Its title when read.
    pub title: String,
    /// Its description when read.
    pub description: String,
}

impl EmbeddingJob {
    /// The text to embed.
    pub fn text(&self) -> String {
        embedding_text(&self.title, &self.description)
    }
}

/// A published FAQ entry whose embedding is missing or stale, with the text to embed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FaqEmbeddingJob {
    /// The entry.
    pub entry: FaqEntryId,
    /// Its question when read.
    pub question: String,
    /// Its other wordings when read, one per line.
    pub also_asked: String,
}

impl FaqEmbeddingJob {
    /// The text to embed: the question and its other wordings. The answer is left out: a
    /// draft states a concern, as the question does, while the answer states its fix.
    pub fn text(&self) -> String {
        faq_embedding_text(&self.question, &self.also_asked)
    }
}

/// The text whose embedding stands for an FAQ entry (see [`FaqEmbeddingJob::text`]).
pub fn faq_embedding_text(question: &str, also_asked: &str) -> String {
    let others: Vec<&str> = also_asked.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
    embedding_text(question, &others.join(". "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn terms(q: &LexicalQuery) -> Vec<&str> {
        q.terms().iter().map(Term::as_str).collect()
    }

    #[test]
    fn sanitising_table() {
        let table: [(&str, &[&str], bool); 10] = [
            ("", &[], false),
            ("the and of", &[], false),
            ("Exam results missing", &["exam", "results", "missing"], true),
            ("Exam results missing ", &["exam", "results", "missing"], false),
            ("\"quoted\" NEAR(a b) -minus *star", &["quoted", "near", "minus", "star"], true),
            ("title:foo OR bar AND baz", &["title", "foo", "bar", "baz"], true),
            ("Ünïcode café — naïve", &["ünïcode", "café", "naïve"], true),
            ("'); DROP TABLE tickets; --", &["drop", "table", "tickets"], false),
            ("refund refund REFUND", &["refund"], true),
            ("ex", &["ex"], false),
        ];
        for (text, expected, prefix) in table {
            let q = LexicalQuery::from_text(text);
            assert_eq!(terms(&q), expected, "{text:?}");
            assert_eq!(q.last_is_prefix(), prefix, "prefix of {text:?}");
            for t in q.terms() {
                assert!(t.as_str().chars().all(char::is_alphanumeric), "{t:?}");
            }
        }
    }

    #[test]
    fn terms_and_their_length_are_capped() {
        let long = "word ".repeat(2).to_owned() + &"x".repeat(10_000);
        let q = LexicalQuery::from_text(&long);
        assert_eq!(terms(&q), vec!["word", &"x".repeat(LexicalQuery::MAX_TERM_CHARS)]);
        let many: String = (0..100).map(|i| format!("term{i} ")).collect();
        let q = LexicalQuery::from_text(&many);
        assert_eq!(q.terms().len(), LexicalQuery::MAX_TERMS);
        assert_eq!(q.terms()[0].as_str(), "term0");
    }

    #[test]
    fn coverage_counts_terms_found() {
        let q = LexicalQuery::from_text("refund for exam fees");
        assert_eq!(q.coverage("How do I get my exam fee refunded?"), 1.0);
        assert_eq!(q.coverage("Exam timetable"), 1.0 / 3.0);
        assert_eq!(q.coverage(""), 0.0);
        let typing = LexicalQuery::from_text("transcript requ");
        assert_eq!(typing.coverage("Requesting an official transcript"), 1.0);
    }

    #[test]
    fn drafts_are_bounded() {
        assert!(Draft::parse("", "").is_ok());
        assert!(Draft::parse(&"x".repeat(Draft::MAX_TITLE_CHARS + 1), "").is_err());
        assert!(Draft::parse("ok", &"x".repeat(Description::MAX_CHARS + 1)).is_err());
        assert_eq!(Draft::parse("  a  ", " b ").unwrap().embedding_text(), "a. b");
    }

    #[test]
    fn snippets_are_short_single_lines() {
        assert_eq!(snippet("one\n two\tthree", 100), "one two three");
        let s = snippet(&"word ".repeat(100), 30);
        assert!(s.chars().count() <= 31 && s.ends_with('…'), "{s}");
    }

    #[test]
    fn embeddings_are_unit_vectors() {
        let e = Embedding::normalised(vec![3.0, 4.0]).unwrap();
        assert_eq!(e.as_slice(), &[0.6, 0.8]);
        assert!((e.cosine(&e) - 1.0).abs() < 1e-6);
        assert!(Embedding::normalised(vec![0.0, 0.0]).is_none());
        assert!(Embedding::normalised(vec![f32::NAN]).is_none());
        assert!(Embedding::normalised(vec![]).is_none());
        let long: Vec<f32> = (0..19).map(|i| i as f32).collect();
        let naive: f32 = long.iter().map(|v| v * v).sum();
        assert!((dot(&long, &long) - naive).abs() < 1e-3);
    }
}
