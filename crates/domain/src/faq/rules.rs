//! The FAQ's pure rules: prefilling a draft from a ticket, ranking FAQ candidates, and
//! scoring a published entry against a student's text.

use super::model::*;
use crate::error::{Conflict, Error};
use crate::tickets::{Answer, Status, Ticket, TicketId};

/// Most alternative wordings an entry keeps.
pub const MAX_ALSO_ASKED: usize = 10;

/// What a draft made from a ticket starts with, before a curator edits it.
#[derive(Debug, Clone, PartialEq)]
pub struct Prefill {
    /// The ticket's title.
    pub question: Question,
    /// The distinct titles of tickets merged into it (case-insensitively different from the
    /// question), oldest first, at most [`MAX_ALSO_ASKED`].
    pub also_asked: Vec<Question>,
    /// The ticket's resolution.
    pub answer: Answer,
    /// The ticket and its merged duplicates.
    pub sources: Vec<TicketId>,
}

/// Prefills a draft from a resolved or closed ticket and the tickets merged into it.
/// Refuses (`not_resolved`) a ticket without a resolution.
pub fn prefill(ticket: &Ticket, merged_duplicates: &[Ticket]) -> Result<Prefill, Error> {
    let answer = match (ticket.status(), &ticket.resolution()) {
        (Status::Resolved | Status::Closed, Some(r)) => r.answer.clone(),
        (Status::Open | Status::InProgress | Status::Merged | Status::Resolved | Status::Closed, _) => {
            return Err(Error::Conflict(Conflict::NotResolved))
        }
    };
    let question = Question::parse(ticket.title().as_str())?;
    let mut seen = vec![question.as_str().to_lowercase()];
    let mut duplicates: Vec<&Ticket> = merged_duplicates.iter().collect();
    duplicates.sort_by_key(|t| (t.created_at(), t.id()));
    let mut also_asked = Vec::new();
    for d in &duplicates {
        let key = d.title().as_str().to_lowercase();
        if also_asked.len() < MAX_ALSO_ASKED && !seen.contains(&key) {
            seen.push(key);
            also_asked.push(Question::parse(d.title().as_str())?);
        }
    }
    let sources = std::iter::once(ticket.id()).chain(duplicates.iter().map(|t| t.id())).collect();
    Ok(Prefill { question, also_asked, answer, sources })
}

/// Weight of a vote in [`candidate_score`].
pub const VOTE_WEIGHT: u64 = 10;
/// Weight of a merged duplicate in [`candidate_score`].
pub const DUPLICATE_WEIGHT: u64 = 4;
/// Weight of a watcher in [`candidate_score`].
pub const WATCHER_WEIGHT: u64 = 1;

/// How much an FAQ candidate is worth curating:
/// `10·votes + 4·merged_duplicates + 1·watchers`. Votes dominate because each is a student
/// saying "me too"; a duplicate is a student who asked again without finding the first
/// ticket; watchers follow along (and include the voters, so they only break near-ties).
pub fn candidate_score(votes: u32, watchers: u32, merged_duplicates: u32) -> u64 {
    VOTE_WEIGHT * u64::from(votes)
        + DUPLICATE_WEIGHT * u64::from(merged_duplicates)
        + WATCHER_WEIGHT * u64::from(watchers)
}

/// Ranks candidates best first (score, then more votes, then the newer ticket) and keeps
/// `limit`.
pub fn rank_candidates(stats: Vec<CandidateStats>, limit: usize) -> Vec<FaqCandidate> {
    let mut ranked: Vec<FaqCandidate> = stats
        .into_iter()
        .map(|s| FaqCandidate { score: candidate_score(s.votes, s.watchers, s.merged_duplicates), stats: s })
        .collect();
    ranked.sort_by(|a, b| {
        b.score.cmp(&a.score).then(b.stats.votes.cmp(&a.stats.votes)).then(b.stats.ticket.cmp(&a.stats.ticket))
    });
    ranked.truncate(limit);
    ranked
}

/// The words of a search text that take part in matching: lower-cased, at least three
/// characters, at most eight distinct words.
pub fn search_words(text: &str) -> Vec<String> {
    let mut words: Vec<String> = Vec::new();
    for w in text.split(|c: char| !c.is_alphanumeric()).map(str::to_lowercase) {
        if w.chars().count() >= 3 && !words.contains(&w) && words.len() < 8 {
            words.push(w);
        }
    }
    words
}

/// How well an entry matches search words, 0–1: each word scores 2 when it is in the
/// question or an alternative wording and 1 more when it is in the answer, over 3 per word.
pub fn match_score(words: &[String], question_text: &str, answer: &str) -> f64 {
    if words.is_empty() {
        return 0.0;
    }
    let (q, a) = (question_text.to_lowercase(), answer.to_lowercase());
    let points: u32 =
        words.iter().map(|w| 2 * u32::from(q.contains(w.as_str())) + u32::from(a.contains(w.as_str()))).sum();
    f64::from(points) / (3.0 * words.len() as f64)
}

/// The start of an answer, cut at a character boundary.
pub fn snippet(answer: &str) -> String {
    let mut s: String = answer.chars().take(FaqHit::SNIPPET_CHARS).collect();
    if answer.chars().count() > FaqHit::SNIPPET_CHARS {
        s.push('…');
    }
    s
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};

    use super::*;

    use crate::categories::CategoryId;

    use crate::testing::TicketBuilder;

    fn ticket(id: i64, title: &str, status: Status, answer: Option<&str>, day: u32) -> Ticket {
        let at = Utc.with_ymd_and_hms(2026, 9, day, 9, 0, 0).unwrap();
        let builder = TicketBuilder::new(id).title(title).description("").creator_name("Ann").created_at(at);
        match answer {
            Some(answer) => builder.resolved(2, answer, at).status(status).build(),
            None => builder.status(status).build(),
        }
    }

    #[test]
    fn prefill_takes_title_resolution_and_duplicates_wording() {
        let target = ticket(10, "Quiz 3 grade missing", Status::Resolved, Some("Grades sync nightly."), 5);
        let dups = [
            ticket(14, "Where is my quiz 3 mark?", Status::Merged, None, 7),
            ticket(12, "quiz 3 GRADE missing", Status::Merged, None, 6),
            ticket(13, "Quiz three score not shown", Status::Merged, None, 6),
        ];
        let p = prefill(&target, &dups).unwrap();
        assert_eq!(p.question.as_str(), "Quiz 3 grade missing");
        assert_eq!(p.answer.as_str(), "Grades sync nightly.");
        // Same wording as the title (ignoring case) is not repeated; oldest first.
        let also: Vec<&str> = p.also_asked.iter().map(Question::as_str).collect();
        assert_eq!(also, ["Quiz three score not shown", "Where is my quiz 3 mark?"]);
        let sources: Vec<i64> = p.sources.iter().map(|t| t.get()).collect();
        assert_eq!(sources, [10, 12, 13, 14]);
    }

    #[test]
    fn prefill_caps_alternative_wordings() {
        let target = ticket(1, "Exam clash help", Status::Closed, Some("Ask for a deferral."), 1);
        let dups: Vec<Ticket> =
            (0..15).map(|i| ticket(100 + i, &format!("Exam clash number {i}"), Status::Merged, None, 2)).collect();
        let p = prefill(&target, &dups).unwrap();
        assert_eq!(p.also_asked.len(), MAX_ALSO_ASKED);
        assert_eq!(p.sources.len(), 16);
    }

    #[test]
    fn prefill_refuses_unresolved_tickets() {
        for status in [Status::Open, Status::InProgress, Status::Merged] {
            let t = ticket(1, "Portal login loop", status, None, 1);
            let err = prefill(&t, &[]).unwrap_err();
            assert!(matches!(err, Error::Conflict(Conflict::NotResolved)), "{status:?}: {err:?}");
        }
    }

    #[test]
    fn candidate_scores() {
        let table = [
            // votes, watchers, duplicates, score
            (0, 0, 0, 0),
            (1, 0, 0, 10),
            (0, 1, 0, 1),
            (0, 0, 1, 4),
            (3, 5, 2, 43),
            (u32::MAX, u32::MAX, u32::MAX, 15 * u64::from(u32::MAX)),
        ];
        for (votes, watchers, dups, expected) in table {
            assert_eq!(candidate_score(votes, watchers, dups), expected, "{votes} {watchers} {dups}");
        }
    }

    #[test]
    fn votes_dominate_the_candidate_ranking() {
        let s = |id: i64, votes, watchers, merged_duplicates| CandidateStats {
            ticket: TicketId::new(id),
            title: format!("t{id}"),
            category_id: CategoryId::new(1),
            votes,
            watchers,
            merged_duplicates,
        };
        let table: [(Vec<CandidateStats>, Vec<i64>); 4] = [
            // One vote more beats a watcher and a duplicate more.
            (vec![s(1, 2, 3, 0), s(2, 3, 1, 0), s(3, 2, 4, 1)], vec![2, 3, 1]),
            // Equal scores: more votes first, then the newer ticket.
            (vec![s(1, 1, 0, 0), s(2, 0, 2, 2), s(3, 1, 0, 0)], vec![3, 1, 2]),
            (vec![], vec![]),
            (vec![s(5, 0, 0, 0)], vec![5]),
        ];
        for (stats, expected) in table {
            let got: Vec<i64> = rank_candidates(stats, 10).iter().map(|c| c.stats.ticket.get()).collect();
            assert_eq!(got, expected);
        }
        let many: Vec<CandidateStats> = (1..=5).map(|i| s(i, i as u32, 0, 0)).collect();
        let top: Vec<i64> = rank_candidates(many, 2).iter().map(|c| c.stats.ticket.get()).collect();
        assert_eq!(top, [5, 4]);
    }

    #[test]
    fn matching_words_and_scores() {
        assert_eq!(search_words("Where's my QUIZ 3 grade? quiz"), ["where", "quiz", "grade"]);
        let words = search_words("quiz grade deferral");
        let table = [
            ("Quiz grade missing", "Quiz grades sync nightly; ask for a deferral.", 7.0 / 9.0),
            ("Quiz grade missing", "Wait a day.", 4.0 / 9.0),
            ("Library hours", "Open 9 to 5.", 0.0),
        ];
        for (q, a, expected) in table {
            assert!((match_score(&words, q, a) - expected).abs() < 1e-9, "{q}: {}", match_score(&words, q, a));
        }
        assert_eq!(match_score(&[], "q", "a"), 0.0);
    }

    #[test]
    fn snippets_are_cut_at_characters() {
        assert_eq!(snippet("short"), "short");
        let long = "é".repeat(300);
        assert_eq!(snippet(&long).chars().count(), FaqHit::SNIPPET_CHARS + 1);
    }
}
