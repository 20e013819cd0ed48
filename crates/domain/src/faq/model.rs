use std::fmt;

use chrono::{DateTime, Utc};

use crate::accounts::UserId;
use crate::categories::CategoryId;
use crate::error::Error;
use crate::text::{no_control, visible, ws, Pattern};
use crate::tickets::{Answer, Tags, TicketId};

/// An FAQ entry's identifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FaqEntryId(i64);

impl FaqEntryId {
    /// Wraps a stored identifier.
    pub fn new(id: i64) -> Self {
        Self(id)
    }
    /// The raw identifier.
    pub fn get(self) -> i64 {
        self.0
    }
}

impl fmt::Display for FaqEntryId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "FAQ {}", self.0)
    }
}

/// A question: trimmed, 5–300 characters, one line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Question(String);

/// [`Question`] as a pattern: whitespace around, then 5–300 characters without control
/// characters that start and end with a visible one.
pub static QUESTION: Pattern = Pattern::new(|| {
    concat!("^[", ws!(), "]*", visible!(), no_control!(), "{3,298}", visible!(), "[", ws!(), "]*$").to_owned()
});

impl Question {
    /// Fewest characters.
    pub const MIN_CHARS: usize = 5;
    /// Most characters.
    pub const MAX_CHARS: usize = 300;

    /// Validates a question.
    pub fn parse(raw: &str) -> Result<Self, Error> {
        let q = raw.trim();
        let n = q.chars().count();
        if !(Self::MIN_CHARS..=Self::MAX_CHARS).contains(&n) {
            return Err(Error::invalid(
                "question",
                "invalid_length",
                format!("a question is {} to {} characters", Self::MIN_CHARS, Self::MAX_CHARS),
            ));
        }
        if q.chars().any(char::is_control) || !QUESTION.is_match(raw) {
            return Err(Error::invalid("question", "invalid_characters", "a question is a single line of text"));
        }
        Ok(Self(q.to_owned()))
    }

    /// The question.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Whether readers can see an entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaqState {
    /// Being written; curators only.
    Draft,
    /// Public to everyone.
    Published,
}

impl FaqState {
    /// The stable name (as stored and as sent to clients).
    pub fn as_str(self) -> &'static str {
        match self {
            FaqState::Draft => "draft",
            FaqState::Published => "published",
        }
    }

    /// Parses a stable name.
    pub fn parse(s: &str) -> Option<Self> {
        [FaqState::Draft, FaqState::Published].into_iter().find(|x| x.as_str() == s)
    }
}

/// An FAQ entry.
#[derive(Debug, Clone, PartialEq)]
pub struct FaqEntry {
    /// Identifier.
    pub id: FaqEntryId,
    /// The question as readers see it.
    pub question: Question,
    /// Other ways students asked it (merged duplicates' titles); searched, not shown first.
    pub also_asked: Vec<Question>,
    /// The answer (Markdown, rendered sanitised).
    pub answer: Answer,
    /// The category (the same categories as tickets).
    pub category_id: CategoryId,
    /// Free labels.
    pub tags: Tags,
    /// Order within the category (ascending).
    pub position: i32,
    /// Draft or published.
    pub state: FaqState,
    /// The tickets it was made from.
    pub sources: Vec<TicketId>,
    /// Who wrote it.
    pub author_id: UserId,
    /// When it was written.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
    /// When it was last published.
    pub published_at: Option<DateTime<Utc>>,
    /// Readers who found it helpful.
    pub helpful: u32,
    /// Readers who did not.
    pub not_helpful: u32,
}

/// A new entry, validated and ready to store (always a draft).
#[derive(Debug, Clone, PartialEq)]
pub struct NewFaqEntry {
    /// The question.
    pub question: Question,
    /// Alternative wordings.
    pub also_asked: Vec<Question>,
    /// The answer.
    pub answer: Answer,
    /// The category.
    pub category_id: CategoryId,
    /// Free labels.
    pub tags: Tags,
    /// Order within the category.
    pub position: i32,
    /// The tickets it is made from (none when written from scratch).
    pub sources: Vec<TicketId>,
    /// Who writes it.
    pub author_id: UserId,
    /// When.
    pub at: DateTime<Utc>,
}

/// One edit of an entry.
#[derive(Debug, Clone, PartialEq)]
pub enum FaqEdit {
    /// A new question.
    Question(Question),
    /// New alternative wordings (replacing the old ones).
    AlsoAsked(Vec<Question>),
    /// A new answer.
    Answer(Answer),
    /// Another category.
    Category(CategoryId),
    /// New tags (replacing the old ones).
    Tags(Tags),
    /// Another position within the category.
    Position(i32),
}

/// Which entries a listing wants.
#[derive(Debug, Clone, PartialEq)]
pub struct FaqQuery {
    /// Only entries in this state.
    pub state: FaqState,
    /// Only this category.
    pub category_id: Option<CategoryId>,
    /// Every word must appear in the question, an alternative wording or the answer.
    pub text: Option<String>,
}

/// A published entry matching a draft's text, for the similar-ticket suggestions.
#[derive(Debug, Clone, PartialEq)]
pub struct FaqHit {
    /// The entry.
    pub id: FaqEntryId,
    /// Its question.
    pub question: String,
    /// The start of its answer (Markdown source, at most [`FaqHit::SNIPPET_CHARS`]).
    pub snippet: String,
    /// How well it matches, 0–1 (see [`crate::faq::match_score`]).
    pub score: f64,
}

impl FaqHit {
    /// Longest snippet.
    pub const SNIPPET_CHARS: usize = 200;
}

/// A resolved ticket not yet in the FAQ, with what makes it worth curating.
#[derive(Debug, Clone, PartialEq)]
pub struct CandidateStats {
    /// The ticket.
    pub ticket: TicketId,
    /// Its title.
    pub title: String,
    /// Its category.
    pub category_id: CategoryId,
    /// Its "me too" votes.
    pub votes: u32,
    /// Its watchers.
    pub watchers: u32,
    /// Tickets merged into it.
    pub merged_duplicates: u32,
}

/// An FAQ candidate, ranked.
#[derive(Debug, Clone, PartialEq)]
pub struct FaqCandidate {
    /// What was counted.
    pub stats: CandidateStats,
    /// [`crate::faq::candidate_score`] of the counts.
    pub score: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn questions_are_bounded_single_lines() {
        assert!(Question::parse("abcd").is_err());
        assert!(Question::parse(" How do I defer an exam? ").is_ok());
        assert!(Question::parse(&"q".repeat(300)).is_ok());
        assert!(Question::parse(&"q".repeat(301)).is_err());
        assert!(Question::parse("two\nlines").is_err());
    }

    #[test]
    fn states_round_trip() {
        for s in [FaqState::Draft, FaqState::Published] {
            assert_eq!(FaqState::parse(s.as_str()), Some(s));
        }
        assert_eq!(FaqState::parse("archived"), None);
    }
}
