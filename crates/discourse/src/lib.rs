//! The Discourse forum, as osts meets it: osts is the forum's DiscourseConnect provider
//! ([`connect`]: every osts user's forum identity, so nobody posts as someone else), and the
//! forum tells osts what happens in ticket threads through signed webhooks ([`webhook`]).

pub mod connect;
pub mod webhook;

/// Lower-case hex, as Discourse writes signatures.
fn encode_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The bytes of a hex string; `None` for an odd length or a non-hex digit.
fn decode_hex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok()).collect()
}
