//! How suggestions are ranked and cut: pure functions, table-tested.

use std::collections::HashMap;

use super::model::DocKey;
#[cfg(test)]
use crate::tickets::TicketId;

/// Weighted reciprocal rank fusion: a ticket or FAQ entry at rank `r` (1-based) of a stage's list gets
/// `weight / (k + r)` from that stage; the scores add up.
///
/// RRF needs no calibration between bm25 and cosine, which live on unrelated scales. The
/// defaults were chosen by `cargo xtask bench similar` (see `docs/benchmarks.md`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Blend {
    /// Damping of rank differences; larger values flatten the curve.
    pub k: f64,
    /// Weight of the full-text ranking.
    pub lexical_weight: f64,
    /// Weight of the embedding ranking.
    pub semantic_weight: f64,
}

impl Default for Blend {
    fn default() -> Self {
        Self { k: 10.0, lexical_weight: 1.0, semantic_weight: 4.0 }
    }
}

/// One fused result.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Fused {
    /// The ticket or entry.
    pub doc: DocKey,
    /// Fused score relative to the best possible (first in every stage): 0 to 1.
    pub score: f64,
}

/// Fuses the two rankings (best first, no duplicates within a list). A stage with weight 0
/// or an empty list does not count. Ties go to the better single rank, then FAQ entries
/// before tickets, then the newer one (higher id), so the order is total and stable.
pub fn blend(lexical: &[DocKey], semantic: &[DocKey], b: &Blend) -> Vec<Fused> {
    let mut acc: HashMap<DocKey, (f64, usize)> = HashMap::new();
    let mut max = 0.0;
    for (list, weight) in [(lexical, b.lexical_weight), (semantic, b.semantic_weight)] {
        if list.is_empty() || weight <= 0.0 {
            continue;
        }
        max += weight / (b.k + 1.0);
        for (i, id) in list.iter().enumerate() {
            let entry = acc.entry(*id).or_insert((0.0, usize::MAX));
            entry.0 += weight / (b.k + (i + 1) as f64);
            entry.1 = entry.1.min(i);
        }
    }
    let mut fused: Vec<(DocKey, f64, usize)> = acc.into_iter().map(|(id, (s, best))| (id, s, best)).collect();
    fused.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.2.cmp(&b.2)).then(b.0.cmp(&a.0)));
    fused.into_iter().map(|(doc, s, _)| Fused { doc, score: if max > 0.0 { s / max } else { 0.0 } }).collect()
}

/// When a candidate is relevant enough to show: below this, "no similar ticket" is the
/// better answer than noise.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Threshold {
    /// Least cosine similarity that makes a candidate relevant by meaning.
    pub min_cosine: f32,
    /// Least share of the draft's terms a candidate must contain to be relevant by words
    /// alone.
    pub min_coverage: f64,
}

impl Default for Threshold {
    fn default() -> Self {
        Self { min_cosine: 0.45, min_coverage: 0.6 }
    }
}

impl Threshold {
    /// No cut at all (benchmarks of the ranking itself).
    pub const NONE: Threshold = Threshold { min_cosine: f32::NEG_INFINITY, min_coverage: 0.0 };
}

/// Whether a candidate is shown: relevant by meaning (`cosine`, when the semantic stage ran
/// and the ticket is embedded) or by words (`coverage` of the draft's terms).
pub fn passes_threshold(cosine: Option<f32>, coverage: f64, t: &Threshold) -> bool {
    cosine.is_some_and(|c| c >= t.min_cosine) || coverage >= t.min_coverage
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::faq::FaqEntryId;

    /// Positive numbers are tickets, negative ones FAQ entries.
    fn ids(v: &[i64]) -> Vec<DocKey> {
        v.iter()
            .map(|&n| if n > 0 { DocKey::Ticket(TicketId::new(n)) } else { DocKey::Faq(FaqEntryId::new(-n)) })
            .collect()
    }

    fn order(f: &[Fused]) -> Vec<i64> {
        f.iter()
            .map(|x| match x.doc {
                DocKey::Ticket(t) => t.get(),
                DocKey::Faq(e) => -e.get(),
            })
            .collect()
    }

    #[test]
    fn blend_table() {
        let equal = Blend { k: 60.0, lexical_weight: 1.0, semantic_weight: 1.0 };
        let semantic_heavy = Blend { k: 10.0, lexical_weight: 1.0, semantic_weight: 3.0 };
        let lexical_only = Blend { k: 10.0, lexical_weight: 1.0, semantic_weight: 0.0 };
        /// Lexical ranking, semantic ranking, blend, expected order.
        type Case = (&'static [i64], &'static [i64], Blend, &'static [i64]);
        let table: [Case; 9] = [
            (&[], &[], equal, &[]),
            (&[1, 2, 3], &[], equal, &[1, 2, 3]),
            (&[], &[3, 2, 1], equal, &[3, 2, 1]),
            // Agreement wins: 2 is second in both lists.
            (&[1, 2, 3], &[4, 2, 5], equal, &[2, 4, 1, 5, 3]),
            // Equal weights, same rank: the newer ticket first.
            (&[1], &[2], equal, &[2, 1]),
            // Semantic weighs triple: its first two beat the lexical first.
            (&[1, 2], &[3, 4], semantic_heavy, &[3, 4, 1, 2]),
            (&[1, 2], &[3, 4], lexical_only, &[1, 2]),
            // FAQ entries (negative) rank with tickets by the same rule.
            (&[1, -2], &[-2, 3], semantic_heavy, &[-2, 3, 1]),
            // Exact tie: the FAQ entry before the ticket.
            (&[3], &[-3], equal, &[-3, 3]),
        ];
        for (lex, sem, b, expected) in table {
            let fused = blend(&ids(lex), &ids(sem), &b);
            assert_eq!(order(&fused), expected, "{lex:?} + {sem:?} with {b:?}");
            for f in &fused {
                assert!((0.0..=1.0 + 1e-9).contains(&f.score), "{f:?}");
            }
            for pair in fused.windows(2) {
                assert!(pair[0].score >= pair[1].score);
            }
        }
    }

    #[test]
    fn first_everywhere_scores_one() {
        let fused = blend(&ids(&[7, 8]), &ids(&[7, 9]), &Blend::default());
        assert_eq!(fused[0].doc, DocKey::Ticket(TicketId::new(7)));
        assert!((fused[0].score - 1.0).abs() < 1e-9);
    }

    #[test]
    fn threshold_table() {
        let t = Threshold { min_cosine: 0.45, min_coverage: 0.6 };
        let table = [
            (Some(0.80), 0.0, true),
            (Some(0.45), 0.0, true),
            (Some(0.44), 0.0, false),
            (Some(0.10), 0.6, true),
            (Some(0.10), 0.5, false),
            (None, 1.0, true),
            (None, 0.59, false),
            (None, 0.0, false),
        ];
        for (cosine, coverage, shown) in table {
            assert_eq!(passes_threshold(cosine, coverage, &t), shown, "{cosine:?} {coverage}");
        }
        assert!(passes_threshold(Some(-1.0), 0.0, &Threshold::NONE));
    }
}
