//! The cursor of ticket listings: the position after the last ticket of a page.

use crate::text::Pattern;

/// [`TicketPosition`] as a cursor: `t:<number>:<votes>:<queue key>`, the queue key as the
/// bits of a finite `f64` in lower-case hexadecimal.
pub static TICKET_CURSOR: Pattern = Pattern::new(|| {
    concat!(
        r"^t:[0-9]{1,10}:[0-9]{1,10}:",
        // Up to 15 digits is always finite; with 16, the sign and exponent (the first three
        // digits) must not be all ones (`7ff`, `fff`: infinities and NaNs).
        r"(?:[0-9a-f]{1,15}|(?:[0-6][0-9a-f]{2}|7[0-9a-e][0-9a-f]|7f[0-9a-e]|[89a-e][0-9a-f]{2}|f[0-9a-e][0-9a-f]|ff[0-9a-e])[0-9a-f]{13})$"
    )
    .to_owned()
});

/// Where a page of tickets ended: the last ticket's number, votes and queue key. The next
/// page starts after it in whichever order is asked for (newest: by number; most votes: by
/// votes, then number; queue: by key, then number), so any cursor works with any order.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TicketPosition {
    /// The ticket's number.
    pub id: i32,
    /// Its votes.
    pub votes: i32,
    /// Its queue key (see [`super::queue::queue_key`]); finite.
    pub queue_key: f64,
}

impl TicketPosition {
    /// The cursor for this position.
    pub fn encode(self) -> String {
        let key = if self.queue_key.is_finite() { self.queue_key } else { 0.0 };
        format!("t:{}:{}:{:x}", self.id.max(0), self.votes.max(0), key.to_bits())
    }

    /// The position a cursor names, if it is one ([`TICKET_CURSOR`]). Numbers and votes past
    /// the largest a row can have stand for it: the page after them is the same.
    pub fn parse(raw: &str) -> Option<Self> {
        if !TICKET_CURSOR.is_match(raw) {
            return None;
        }
        let mut parts = raw[2..].split(':');
        let mut int =
            || parts.next().map(|p| p.parse::<u64>().map_or(i32::MAX, |n| i32::try_from(n).unwrap_or(i32::MAX)));
        let (id, votes) = (int()?, int()?);
        let queue_key = f64::from_bits(u64::from_str_radix(parts.next()?, 16).ok()?);
        queue_key.is_finite().then_some(Self { id, votes, queue_key })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_read_back_what_they_write() {
        for key in [0.0, -0.0, -482_139.333, 25.5, f64::MAX, f64::MIN, f64::MIN_POSITIVE] {
            let at = TicketPosition { id: 42, votes: 3, queue_key: key };
            let cursor = at.encode();
            assert!(TICKET_CURSOR.is_match(&cursor), "{cursor}");
            assert_eq!(TicketPosition::parse(&cursor), Some(at), "{cursor}");
        }
        let big = TicketPosition::parse("t:99999999999:1:0");
        assert_eq!(big, None, "eleven digits are not a cursor");
        let past = TicketPosition::parse("t:9999999999:9999999999:0").unwrap();
        assert_eq!((past.id, past.votes), (i32::MAX, i32::MAX));
    }

    #[test]
    fn exactly_the_cursors_the_pattern_matches_are_read() {
        let cases = [
            "t:1:0:0",
            "t:1:0:7fefffffffffffff",
            "t:1:0:7ff0000000000000",
            "t:1:0:fff8000000000000",
            "t:1:0:ffefffffffffffff",
            "t:1:0:8000000000000000",
            "t:1:0:c11d6e6d55555555",
            "t:1:0:0000000000000000",
            "t:1:0:00000000000000000",
            "t:1:0:7FF0",
            "t:1:0:",
            "t:1::0",
            "t:-1:0:0",
            "t:+1:0:0",
            "n:1",
            "v:1:2",
            "q:1:2",
            "t:1:0:0:0",
            " t:1:0:0",
            "",
        ];
        for raw in cases {
            assert_eq!(TicketPosition::parse(raw).is_some(), TICKET_CURSOR.is_match(raw), "{raw:?}");
        }
        // Every three-digit start of a 16-digit key.
        for start in 0..0x1000u32 {
            let raw = format!("t:1:0:{start:03x}0000000000000");
            let finite = !matches!(start, 0x7ff | 0xfff);
            assert_eq!(TicketPosition::parse(&raw).is_some(), finite, "{raw}");
            assert_eq!(TICKET_CURSOR.is_match(&raw), finite, "{raw}");
        }
    }
}
