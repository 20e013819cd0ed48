//! Rules shared by every short, one-line text people see next to others' (titles, display
//! names, file names).

/// Whether `c` reorders text on screen or breaks a line where none is expected: the bidi
/// embeddings, overrides and isolates (U+202A–U+202E, U+2066–U+2069) and marks
/// (U+200E, U+200F), used to disguise what text says (`gpj.exe`, a name that reads as
/// someone else's), and the line and paragraph separators (U+2028, U+2029), which break a
/// one-line text in two. `char::is_control` covers none of them.
pub fn reorders_or_breaks_text(c: char) -> bool {
    matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{2028}' | '\u{2029}')
}

/// Every character [`reorders_or_breaks_text`] is true of, for migrations and tests.
pub const REORDERING_OR_BREAKING: [char; 13] = [
    '\u{200e}', '\u{200f}', '\u{202a}', '\u{202b}', '\u{202c}', '\u{202d}', '\u{202e}', '\u{2066}', '\u{2067}',
    '\u{2068}', '\u{2069}', '\u{2028}', '\u{2029}',
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_list_and_the_rule_agree() {
        for c in REORDERING_OR_BREAKING {
            assert!(reorders_or_breaks_text(c), "{:04x}", c as u32);
        }
        let others = (0..=0x10ffff).filter_map(char::from_u32).filter(|c| reorders_or_breaks_text(*c)).count();
        assert_eq!(others, REORDERING_OR_BREAKING.len());
        for ordinary in ['a', 'é', '中', 'ش', ' ', '\u{00a0}', '\u{200d}'] {
            assert!(!reorders_or_breaks_text(ordinary), "{ordinary:?}");
        }
    }
}
