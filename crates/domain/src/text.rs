//! Rules shared by the texts people send: the characters that reorder or break a line
//! (titles, display names, file names), and [`Pattern`], the regular expression each text rule
//! also is.
//!
//! Each rule of a text field (a title, an email address, a tag...) is written twice: as code
//! with a precise error per failure (`too_short`, `invalid_characters`...), and as a
//! [`Pattern`], which the OpenAPI document publishes (`pattern`) so that clients and generated
//! tests know exactly what is accepted. The value types check the code first and the pattern
//! last, so a value the pattern does not match is refused even where the code alone would
//! let it through; their tests hold the two to the same language.
//!
//! The patterns are portable between ECMA-262 (OpenAPI), Python and Rust: anchored with `^`
//! and `$`, characters as `\uXXXX` escapes in explicit classes (no `\s`, `\w` or `.`,
//! which mean different things in each), and `\p{L}` / `\p{N}` only where a rule is about
//! letters and digits of any script.

use std::sync::OnceLock;

use regex::Regex;

/// The characters [`str::trim`] removes (Unicode `White_Space`), as the inside of a
/// character class.
macro_rules! ws {
    () => {
        r"\t-\r \u0085\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000"
    };
}
pub(crate) use ws;

/// A character that is neither a control character nor whitespace (the first and last
/// character of a trimmed text without control characters).
macro_rules! visible {
    () => {
        r"[^\u0000-\u0020\u007F-\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]"
    };
}
pub(crate) use visible;

/// A character of one line of text: no control characters, nothing that reorders or breaks
/// the line ([`reorders_or_breaks_text`]).
macro_rules! one_line {
    () => {
        r"[^\u0000-\u001F\u007F-\u009F\u200E\u200F\u2028-\u202E\u2066-\u2069]"
    };
}
pub(crate) use one_line;

/// A character of one line of text that is not whitespace (its first and last character).
macro_rules! one_line_edge {
    () => {
        r"[^\u0000-\u0020\u007F-\u00A0\u1680\u2000-\u200A\u200E\u200F\u2028-\u202F\u205F\u2066-\u2069\u3000]"
    };
}
pub(crate) use one_line_edge;

/// A character that is not a control character.
macro_rules! no_control {
    () => {
        r"[^\u0000-\u001F\u007F-\u009F]"
    };
}
pub(crate) use no_control;

/// A character of Markdown text: no control characters but tab, line feed and carriage
/// return.
macro_rules! multi_line {
    () => {
        r"[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]"
    };
}
pub(crate) use multi_line;

/// Any character that is not whitespace.
macro_rules! not_ws {
    () => {
        concat!("[^", $crate::text::ws!(), "]")
    };
}
pub(crate) use not_ws;

/// A regular expression that a text rule also is (see the module documentation), compiled
/// the first time it is used.
pub struct Pattern {
    build: fn() -> String,
    compiled: OnceLock<(String, Regex)>,
}

impl std::fmt::Debug for Pattern {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Pattern").field(&self.source()).finish()
    }
}

impl Pattern {
    /// A pattern whose source `build` makes (once); `build` must return an anchored
    /// expression the `regex` crate compiles.
    pub const fn new(build: fn() -> String) -> Self {
        Self { build, compiled: OnceLock::new() }
    }

    fn get(&self) -> &(String, Regex) {
        self.compiled.get_or_init(|| {
            let source = (self.build)();
            let regex = regex::RegexBuilder::new(&source)
                .size_limit(64 << 20)
                .build()
                .unwrap_or_else(|e| panic!("the pattern {source:?} does not compile: {e}"));
            (source, regex)
        })
    }

    /// The expression, as the OpenAPI document publishes it.
    pub fn source(&self) -> &str {
        &self.get().0
    }

    /// Whether `text` is in the language of the pattern.
    pub fn is_match(&self, text: &str) -> bool {
        self.get().1.is_match(text)
    }
}

/// Text of at most `max` characters (any characters) that is empty or blank after trimming:
/// searches, descriptions of a category.
macro_rules! optional_text_pattern {
    ($max_minus_two:literal) => {
        concat!(
            "^[",
            $crate::text::ws!(),
            "]*(?:",
            $crate::text::not_ws!(),
            r"(?:[\s\S]{0,",
            stringify!($max_minus_two),
            "}",
            $crate::text::not_ws!(),
            ")?)?[",
            $crate::text::ws!(),
            "]*$"
        )
    };
}
pub(crate) use optional_text_pattern;

/// A search (`q`): at most 200 characters after trimming, anything else goes; blank means
/// no search.
pub static SEARCH: Pattern = Pattern::new(|| optional_text_pattern!(198).to_owned());

/// The most characters of a search, after trimming.
pub const SEARCH_MAX_CHARS: usize = 200;

/// Validates a search text: `None` when blank, the trimmed text otherwise.
pub fn parse_search(raw: Option<&str>) -> Result<Option<String>, crate::Error> {
    let Some(raw) = raw else { return Ok(None) };
    let text = raw.trim();
    if text.chars().count() > SEARCH_MAX_CHARS || !SEARCH.is_match(raw) {
        return Err(crate::Error::invalid(
            "q",
            "too_long",
            format!("a search is at most {SEARCH_MAX_CHARS} characters"),
        ));
    }
    Ok((!text.is_empty()).then(|| text.to_owned()))
}

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

/// Holding a text rule's code and its [`Pattern`] to the same language, in tests.
#[cfg(test)]
pub(crate) mod agreement {
    use super::Pattern;

    /// Characters where rules and patterns tend to part: every control, whitespace,
    /// reordering and line-breaking character, the edges of the classes, letters, digits and
    /// marks of several scripts (and the one letter whose lower case is two characters,
    /// U+0130), symbols, and characters outside the Basic Multilingual Plane.
    pub fn interesting_chars() -> Vec<char> {
        let mut chars: Vec<char> = (0u32..0x0250).filter_map(char::from_u32).collect();
        chars.extend(super::REORDERING_OR_BREAKING);
        chars.extend([
            '\u{0300}',
            '\u{0345}',
            '\u{0370}',
            'Σ',
            'ς',
            'Ж',
            'ش',
            '٣',
            'अ',
            '\u{093F}',
            '१',
            '\u{1680}',
            '\u{2000}',
            '\u{200A}',
            '\u{200B}',
            '\u{200C}',
            '\u{200D}',
            '\u{2060}',
            '\u{202F}',
            '\u{205F}',
            '\u{2160}',
            '\u{2170}',
            '\u{24B6}',
            '\u{24D0}',
            '\u{2460}',
            '\u{3000}',
            '中',
            '考',
            'ア',
            '한',
            '\u{FEFF}',
            '\u{FFFD}',
            '\u{1D400}',
            '\u{1F600}',
            '\u{10FFFF}',
            '-',
            '.',
            '@',
            '_',
            ':',
        ]);
        chars.sort_unstable();
        chars.dedup();
        chars
    }

    /// Asserts that `accepts` and `pattern` agree on every sample.
    pub fn assert_agree<S: AsRef<str>>(
        pattern: &Pattern,
        samples: impl IntoIterator<Item = S>,
        accepts: impl Fn(&str) -> bool,
    ) {
        for sample in samples {
            let sample = sample.as_ref();
            assert_eq!(
                accepts(sample),
                pattern.is_match(sample),
                "the rule and its pattern disagree about {sample:?} (pattern {})",
                pattern.source()
            );
        }
    }

    /// Each interesting character in each of `templates`, where `{}` stands for it.
    pub fn with_each_char(templates: &[&str]) -> Vec<String> {
        let chars = interesting_chars();
        templates.iter().flat_map(|t| chars.iter().map(move |c| t.replace("{}", &c.to_string()))).collect()
    }
}

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

/// Every text rule against its pattern: the value types accept exactly what the published
/// patterns match (with the document's `maxLength` where a rule counts characters as sent).
#[cfg(test)]
mod rules_and_patterns {
    use super::agreement::{assert_agree, with_each_char};
    use super::*;

    /// Templates that put a character at each place a rule treats differently: alone, at
    /// either end, inside, around a value, and repeated.
    const PLACES: &[&str] = &["{}", "{}abcde", "abcde{}", "ab{}de", "{}ab", " {} ", "{}{}{}{}{}", "{} abcde {}"];

    fn lengths(unit: &str, around: &[usize]) -> Vec<String> {
        around.iter().flat_map(|&n| [unit.repeat(n), format!("  {}\t", unit.repeat(n))]).collect()
    }

    #[test]
    fn titles() {
        use crate::tickets::{Title, TITLE};
        let mut samples = with_each_char(PLACES);
        samples.extend(lengths("a", &[0, 4, 5, 150, 151]));
        samples.extend(lengths("中", &[4, 5, 150, 151]));
        samples.extend(lengths("\u{1F600}", &[4, 5, 150, 151]));
        assert_agree(&TITLE, samples, |s| Title::parse(s).is_ok());
    }

    #[test]
    fn descriptions_and_answers() {
        use crate::tickets::{Answer, Description, ANSWER, DESCRIPTION};
        let mut samples = with_each_char(PLACES);
        samples.extend(["", " ", "line one\nline two\r\n\ttabbed", "\n\nx\n\n"].map(String::from));
        // The length is the document's `maxLength`, counted as sent.
        let within = |s: &str| s.chars().count() <= Description::MAX_CHARS;
        assert_agree(&DESCRIPTION, &samples, |s| !within(s) || Description::parse(s).is_ok());
        assert_agree(&ANSWER, &samples, |s| !within(s) || Answer::parse(s, "answer").is_ok());
        for n in [19_999, 20_000, 20_001] {
            let text = format!(" {}", "x".repeat(n - 1));
            assert_eq!(Description::parse(&text).is_ok(), n <= 20_000, "{n}");
            assert_eq!(Answer::parse(&text, "answer").is_ok(), n <= 20_000, "{n}");
        }
    }

    #[test]
    fn tags() {
        use crate::tickets::{Tag, TAG};
        let mut samples = with_each_char(&["{}", "a{}", "{}a", "a{}b", " {} ", "{}{}", "{}\u{0301}"]);
        samples.extend(lengths("a", &[0, 1, 32, 33]));
        samples.extend(["Exam Results", "exam-results", "a  b", "İstanbul", "ΣΟΦΙΑ", "Ⅻ", "Ⓐ", "ǅ"].map(String::from));
        samples.push(format!("{} {}", "a".repeat(15), "b".repeat(16)));
        samples.push(format!("{}  {}", "a".repeat(15), "b".repeat(16)));
        assert_agree(&TAG, samples, |s| Tag::parse(s).is_ok());
        assert_eq!(Tag::parse(" İstanbul ").unwrap().as_str(), "istanbul");
        assert_eq!(Tag::parse("Exam  Results").unwrap().as_str(), "exam-results");
    }

    #[test]
    fn every_letter_and_digit_lower_cases_to_letters_and_digits() {
        // What makes the tag pattern's `\p{L}\p{N}` safe to lower-case.
        use crate::tickets::Tag;
        let letters = regex::Regex::new(r"^[\p{L}\p{N}]$").unwrap();
        for c in (0..=0x10ffff).filter_map(char::from_u32) {
            let s = c.to_string();
            if letters.is_match(&s) {
                assert!(Tag::parse(&s).is_ok(), "U+{:04X}", c as u32);
            }
        }
    }

    #[test]
    fn display_names() {
        use crate::accounts::{DisplayName, DISPLAY_NAME};
        let mut samples = with_each_char(PLACES);
        samples.extend(lengths("a", &[0, 1, 80, 81]));
        samples.extend(lengths("é", &[80, 81]));
        assert_agree(&DISPLAY_NAME, samples, |s| DisplayName::parse(s).is_ok());
    }

    #[test]
    fn emails() {
        use crate::accounts::{Email, EMAIL};
        let mut samples = with_each_char(&[
            "{}@uni.edu",
            "a{}b@uni.edu",
            "ab@u{}i.edu",
            "ab@uni.e{}u",
            "ab@{}.edu",
            "ab@uni.{}",
            "{}ab@uni.edu{}",
            "ab{}@uni.edu",
            "ab@uni{}.edu",
        ]);
        samples.extend(
            [
                "a@b",
                "a@b.c",
                "@b.c",
                "a@b..c",
                "a@.b",
                "a@b.",
                "a@@b.c",
                "a@b@c.d",
                "A.B+c@Uni-X.Edu",
                " a@b.c ",
                "İ@b.c",
                "a@İ.de",
                "jürgen@universität.de",
                "a b@c.d",
            ]
            .map(String::from),
        );
        for local in [63, 64, 65] {
            samples.push(format!("{}@b.cd", "a".repeat(local)));
            samples.push(format!("{}@b.cd", "é".repeat(local)));
        }
        // The length is the document's `maxLength` (254), counted as sent.
        let within = |s: &str| s.chars().count() <= Email::MAX_LEN;
        for total in [253, 254, 255] {
            samples.push(format!("a@{}.de", "b".repeat(total - 5)));
            samples.push(format!(" a@{}.de", "b".repeat(total - 6)));
        }
        assert_agree(&EMAIL, samples, |s| !within(s) || Email::parse(s).is_ok());
        assert!(Email::parse(&format!("a@{}.de", "b".repeat(250))).is_err(), "255 characters");
        assert_eq!(Email::parse(" Ada@Uni.EDU ").unwrap().as_str(), "ada@uni.edu");
    }

    #[test]
    fn reasons() {
        use crate::accounts::{parse_reason, REASON};
        let mut samples = with_each_char(PLACES);
        samples.extend(lengths("a", &[0, 1, 500, 501]));
        samples.extend(lengths("\n", &[1, 3]));
        assert_agree(&REASON, samples, |s| parse_reason(s).is_ok());
    }

    #[test]
    fn categories() {
        use crate::categories::{CategoryName, DESCRIPTION, DESCRIPTION_MAX_CHARS, NAME};
        let mut samples = with_each_char(PLACES);
        samples.extend(lengths("a", &[0, 1, 2, 60, 61]));
        assert_agree(&NAME, &samples, |s| CategoryName::parse(s).is_ok());
        samples.extend(lengths("a", &[500, 501]));
        assert_agree(&DESCRIPTION, &samples, |s| s.trim().chars().count() <= DESCRIPTION_MAX_CHARS);
    }

    #[test]
    fn questions() {
        use crate::faq::{Question, QUESTION};
        let mut samples = with_each_char(PLACES);
        samples.extend(lengths("a", &[0, 4, 5, 300, 301]));
        assert_agree(&QUESTION, samples, |s| Question::parse(s).is_ok());
    }

    #[test]
    fn searches() {
        let mut samples = with_each_char(PLACES);
        samples.extend(lengths("a", &[0, 1, 200, 201]));
        samples.extend(lengths("\n", &[1, 300]));
        assert_agree(&SEARCH, samples, |s| parse_search(Some(s)).is_ok());
        assert_eq!(parse_search(Some("  ")).unwrap(), None);
        assert_eq!(parse_search(Some(" exam ")).unwrap().as_deref(), Some("exam"));
    }

    #[test]
    fn confirmation_tokens() {
        use crate::accounts::CONFIRMATION_TOKEN;
        let mut samples = with_each_char(PLACES);
        samples.extend(lengths("a", &[0, 1, 43, 256, 257]));
        let alphabet = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
        assert_agree(&CONFIRMATION_TOKEN, samples, |s| {
            let t = s.trim();
            (1..=256).contains(&t.chars().count()) && t.chars().all(alphabet)
        });
    }
}
