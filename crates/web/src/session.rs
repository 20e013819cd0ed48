//! Cookie sessions and CSRF tokens.
//!
//! The session cookie holds the same opaque token the API hands out (the store keeps only
//! its hash); it is `HttpOnly`, `SameSite=Lax` and, behind TLS, `Secure`. Every form carries a
//! CSRF token derived from a secret the browser holds in an `HttpOnly` cookie: the session
//! token once signed in, before that a random pre-session value. A cross-site page can make
//! the browser send the cookie but cannot read it, so it cannot compute the token.

use poem::{http::header, Request};
use sha2::{Digest as _, Sha256};

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "osts_session";
/// The pre-session cookie's name (CSRF for the sign-in and register forms).
pub const PRE_COOKIE: &str = "osts_pre";
/// The form field that carries the CSRF token.
pub const CSRF_FIELD: &str = "csrf";

/// One cookie's value from the request's `Cookie` headers.
pub fn cookie(req: &Request, name: &str) -> Option<String> {
    req.headers()
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.trim().to_owned())
        .filter(|value| !value.is_empty() && value.len() <= 256)
}

/// A `Set-Cookie` value: `HttpOnly`, `SameSite=Lax`, `Path=/`, `Secure` when asked; a
/// `max_age` of `None` deletes the cookie.
pub fn set_cookie(name: &str, value: &str, max_age: Option<i64>, secure: bool) -> String {
    let age = max_age.unwrap_or(0).max(0);
    let secure = if secure { "; Secure" } else { "" };
    format!("{name}={value}; Path=/; Max-Age={age}; HttpOnly; SameSite=Lax{secure}")
}

/// The CSRF token for a cookie secret.
pub fn csrf_token(secret: &str) -> String {
    let digest = Sha256::digest(format!("osts csrf v1:{secret}").as_bytes());
    hex(&digest[..20])
}

/// Whether `given` is the CSRF token of `secret` (compared in constant time).
pub fn csrf_ok(secret: &str, given: &str) -> bool {
    let want = csrf_token(secret);
    want.len() == given.len() && want.bytes().zip(given.bytes()).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
}

/// A new random pre-session secret.
pub fn new_secret() -> String {
    use rand::RngCore as _;
    let mut bytes = [0u8; 24];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    hex(&bytes)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_are_found_among_others() {
        let req = Request::builder().header("cookie", "a=1; osts_session=tok; b=2").finish();
        assert_eq!(cookie(&req, SESSION_COOKIE).as_deref(), Some("tok"));
        assert_eq!(cookie(&req, PRE_COOKIE), None);
    }

    #[test]
    fn tokens_check_against_their_secret_only() {
        let token = csrf_token("s1");
        assert!(csrf_ok("s1", &token));
        assert!(!csrf_ok("s2", &token));
        assert!(!csrf_ok("s1", ""));
        assert_ne!(new_secret(), new_secret());
    }

    #[test]
    fn cookies_are_http_only_and_lax_and_secure_on_request() {
        let c = set_cookie(SESSION_COOKIE, "t", Some(60), true);
        assert!(c.contains("HttpOnly") && c.contains("SameSite=Lax") && c.ends_with("Secure"));
        assert!(!set_cookie(SESSION_COOKIE, "t", Some(60), false).contains("Secure"));
        assert!(set_cookie(SESSION_COOKIE, "", None, false).contains("Max-Age=0"));
    }
}
