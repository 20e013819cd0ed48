//! Cursor pagination shared by listings.

use crate::error::Error;

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
    fn limits_are_bounded() {
        assert_eq!(PageLimit::new(None).unwrap().get(), PageLimit::DEFAULT);
        assert_eq!(PageLimit::new(Some(1)).unwrap().get(), 1);
        assert_eq!(PageLimit::new(Some(100)).unwrap().get(), 100);
        assert!(PageLimit::new(Some(0)).is_err());
        assert!(PageLimit::new(Some(101)).is_err());
    }
}
