//! Cursor pagination shared by listings.

use crate::error::Error;
use crate::text::Pattern;

/// How many items a page may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageLimit(u32);

impl PageLimit {
    /// The largest page a client may ask for.
    pub const MAX: u32 = 100;
    /// The page size when the client does not say.
    pub const DEFAULT: u32 = 25;

    /// A limit between 1 and [`PageLimit::MAX`]; `None` means the default.
    pub fn new(limit: Option<u32>) -> Result<Self, Error> {
        match limit {
            None => Ok(Self(Self::DEFAULT)),
            Some(n) if (1..=Self::MAX).contains(&n) => Ok(Self(n)),
            Some(_) => {
                Err(Error::invalid("limit", "out_of_range", format!("limit must be between 1 and {}", Self::MAX)))
            }
        }
    }

    /// The limit as a number.
    pub fn get(self) -> u32 {
        self.0
    }
}

/// Why a listing failed.
#[derive(Debug, thiserror::Error)]
pub enum ListError {
    /// The cursor was not made by this listing.
    #[error("invalid cursor")]
    InvalidCursor,
    /// Anything else.
    #[error(transparent)]
    Unknown(#[from] anyhow::Error),
}

impl From<ListError> for Error {
    fn from(e: ListError) -> Self {
        match e {
            ListError::InvalidCursor => {
                Error::invalid("cursor", "invalid_cursor", "the cursor is not valid for this listing")
            }
            ListError::Unknown(e) => Error::Unknown(e),
        }
    }
}

/// The cursor of a listing ordered by id, `<prefix>:<id>`: the accounts' (`a:`) as a
/// pattern.
pub static ACCOUNT_CURSOR: Pattern = Pattern::new(|| r"^a:[0-9]{1,10}$".to_owned());

/// The cursor of the inbox, `n:<id>`, as a pattern.
pub static NOTIFICATION_CURSOR: Pattern = Pattern::new(|| r"^n:[0-9]{1,10}$".to_owned());

/// A cursor of a listing ordered by id ([`ACCOUNT_CURSOR`], [`NOTIFICATION_CURSOR`]).
#[derive(Debug, Clone, Copy)]
pub struct IdCursor {
    prefix: char,
    pattern: &'static Pattern,
}

/// The accounts' cursor.
pub const ACCOUNTS: IdCursor = IdCursor { prefix: 'a', pattern: &ACCOUNT_CURSOR };
/// The inbox's cursor.
pub const NOTIFICATIONS: IdCursor = IdCursor { prefix: 'n', pattern: &NOTIFICATION_CURSOR };

impl IdCursor {
    /// The cursor after the row `id`.
    pub fn encode(self, id: i32) -> String {
        format!("{}:{}", self.prefix, id.max(0))
    }

    /// The id a cursor names, if it is one of this listing's; ids past the largest row id
    /// there can be stand for it (the page after them is the same).
    pub fn parse(self, raw: &str) -> Option<i32> {
        if !self.pattern.is_match(raw) {
            return None;
        }
        let digits = &raw[2..];
        Some(digits.parse::<u64>().map_or(i32::MAX, |n| i32::try_from(n).unwrap_or(i32::MAX)))
    }
}

/// One page of a listing and the opaque cursor of the next page, if there is one.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    /// The items of this page, in listing order.
    pub items: Vec<T>,
    /// Pass this back to get the next page; `None` on the last page.
    pub next_cursor: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_cursors_read_back_what_they_write_and_nothing_the_pattern_refuses() {
        for id in [0, 1, 42, i32::MAX] {
            assert_eq!(ACCOUNTS.parse(&ACCOUNTS.encode(id)), Some(id));
            assert!(ACCOUNT_CURSOR.is_match(&ACCOUNTS.encode(id)));
            assert_eq!(NOTIFICATIONS.parse(&NOTIFICATIONS.encode(id)), Some(id));
        }
        assert_eq!(ACCOUNTS.parse("a:9999999999"), Some(i32::MAX), "past every id");
        assert_eq!(ACCOUNTS.parse("a:007"), Some(7));
        for bad in ["", "a:", "a:-1", "a:+1", "a:1 ", " a:1", "a:12345678901", "n:1", "a:1:2", "a:\u{0661}"] {
            assert_eq!(ACCOUNTS.parse(bad), None, "{bad:?}");
            assert!(!ACCOUNT_CURSOR.is_match(bad), "{bad:?}");
        }
        assert_eq!(NOTIFICATIONS.parse("a:1"), None);
    }

    #[test]
    fn limits_are_bounded() {
        assert_eq!(PageLimit::new(None).unwrap().get(), PageLimit::DEFAULT);
        assert_eq!(PageLimit::new(Some(1)).unwrap().get(), 1);
        assert_eq!(PageLimit::new(Some(100)).unwrap().get(), 100);
        assert!(PageLimit::new(Some(0)).is_err());
        assert!(PageLimit::new(Some(101)).is_err());
    }
}
