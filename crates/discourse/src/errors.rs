//! How a Discourse answer that is not a success becomes a [`DeliveryError`].
//!
//! - **429** (Discourse's limiters): `Later`, at the time it asked for: `Retry-After` (seconds
//!   or an HTTP date), else the JSON `extras.wait_seconds`, else the "retry again in N seconds"
//!   of the per-IP limiter's plain-text body. A 429 body is not assumed to be JSON.
//! - **5xx** (including 503 `read_only`) and 408: `Later`, honouring `Retry-After` if given.
//! - **Any other 4xx** (422 `{action, errors}` of post creation, 403 `invalid_access`, 404
//!   `not_found`, 400 `invalid_parameters`...): `Never`, with what Discourse said.
//!
//! Messages hold the status, Discourse's own words (its `errors`, or `message`/`error`/
//! `failed` for the endpoints that answer otherwise, or a plain-text body) and its
//! `error_type`; they are cut short and free of control characters, and never contain the
//! API key or the forum's URL, which Discourse does not echo.

use chrono::{DateTime, Utc};
use domain::notifications::DeliveryError;
use reqwest::StatusCode;
use serde_json::Value;

/// The longest piece of Discourse's words kept in a message.
const MAX_SAID: usize = 300;

/// The error for a non-success answer with `status`, its `Retry-After` header and its body.
pub(crate) fn refusal(status: StatusCode, retry_after: Option<&str>, body: &[u8], now: DateTime<Utc>) -> DeliveryError {
    let json: Option<Value> = serde_json::from_slice(body).ok();
    let message =
        format!("{} {}{}", status.as_u16(), status.canonical_reason().unwrap_or(""), said(json.as_ref(), body));
    let code = status.as_u16();
    if code == 429 || code == 408 || status.is_server_error() {
        let wait = retry_after
            .and_then(|v| retry_after_seconds(v, now))
            .or_else(|| {
                json.as_ref().and_then(|j| j["extras"]["wait_seconds"].as_f64()).map(|s| s.max(0.0).ceil() as i64)
            })
            .or_else(|| if code == 429 { plain_text_wait(body) } else { None });
        return DeliveryError::Later { message, at: wait.map(|s| now + chrono::Duration::seconds(s)) };
    }
    DeliveryError::Never(message)
}

/// `Retry-After` as seconds from `now`: a number of seconds or an HTTP date.
fn retry_after_seconds(value: &str, now: DateTime<Utc>) -> Option<i64> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<i64>() {
        return Some(seconds.max(0));
    }
    DateTime::parse_from_rfc2822(value).ok().map(|at| (at.with_timezone(&Utc) - now).num_seconds().max(0))
}

/// The wait in the per-IP limiter's text: "Please retry again in N seconds."
fn plain_text_wait(body: &[u8]) -> Option<i64> {
    let text = String::from_utf8_lossy(body);
    let rest = &text[text.find("again in ")? + "again in ".len()..];
    rest.split_whitespace().next()?.parse().ok()
}

/// What Discourse said, as `": <words> (<error_type>)"`, or nothing.
fn said(json: Option<&Value>, body: &[u8]) -> String {
    let (words, kind) = match json {
        Some(j) => {
            let words = match &j["errors"] {
                Value::Array(items) => items.iter().filter_map(Value::as_str).collect::<Vec<_>>().join("; "),
                Value::String(s) => s.clone(),
                // `POST /users.json` style: `{"errors": {"field": ["..."]}}`.
                Value::Object(fields) => fields
                    .iter()
                    .flat_map(|(field, v)| {
                        v.as_array()
                            .into_iter()
                            .flatten()
                            .filter_map(Value::as_str)
                            .map(move |m| format!("{field} {m}"))
                    })
                    .collect::<Vec<_>>()
                    .join("; "),
                _ => String::new(),
            };
            let words = if words.is_empty() {
                ["message", "error", "failed"].iter().find_map(|k| j[*k].as_str()).unwrap_or_default().to_owned()
            } else {
                words
            };
            (words, j["error_type"].as_str().map(str::to_owned))
        }
        None => {
            let text = String::from_utf8_lossy(body);
            // An HTML error page (a proxy's, or Rails') says nothing worth keeping.
            let text = if text.trim_start().starts_with('<') { String::new() } else { text.into_owned() };
            (text, None)
        }
    };
    let mut words = clean(&words);
    if let Some(kind) = kind.map(|k| clean(&k)).filter(|k| !k.is_empty()) {
        words = if words.is_empty() { kind } else { format!("{words} ({kind})") };
    }
    if words.is_empty() {
        String::new()
    } else {
        format!(": {words}")
    }
}

/// `s` on one line, without control characters, at most [`MAX_SAID`] characters.
pub(crate) fn clean(s: &str) -> String {
    let one_line: String = s.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    let squeezed = one_line.split_whitespace().collect::<Vec<_>>().join(" ");
    if squeezed.chars().count() <= MAX_SAID {
        return squeezed;
    }
    let mut out: String = squeezed.chars().take(MAX_SAID - 1).collect();
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: i64) -> Option<DateTime<Utc>> {
        Some(now() + chrono::Duration::seconds(s))
    }

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-03-02T10:00:00Z").unwrap().with_timezone(&Utc)
    }

    fn refuse(status: u16, retry_after: Option<&str>, body: &str) -> DeliveryError {
        refusal(StatusCode::from_u16(status).unwrap(), retry_after, body.as_bytes(), now())
    }

    #[test]
    fn rate_limits_wait_as_long_as_the_forum_asks() {
        let json = r#"{"errors":["You’ve performed this action too many times. Please wait 37 seconds before trying again."],"error_type":"rate_limit","extras":{"wait_seconds":37,"time_left":"37 seconds"}}"#;
        match refuse(429, None, json) {
            DeliveryError::Later { message, at: when } => {
                assert_eq!(when, at(37));
                assert!(
                    message.starts_with("429 Too Many Requests: You’ve performed") && message.ends_with("(rate_limit)")
                );
            }
            other => panic!("{other:?}"),
        }
        assert!(
            matches!(refuse(429, Some("12"), json), DeliveryError::Later { at: a, .. } if a == at(12)),
            "Retry-After wins"
        );
        let plain = "Slow down, too many requests from this IP address.\nPlease retry again in 9 seconds.\nError code: ip_10_secs_limit.";
        match refuse(429, None, plain) {
            DeliveryError::Later { message, at: when } => {
                assert_eq!(when, at(9));
                assert!(!message.contains('\n') && message.contains("ip_10_secs_limit"), "{message}");
            }
            other => panic!("{other:?}"),
        }
        let date = "Mon, 02 Mar 2026 10:01:00 GMT";
        assert!(matches!(refuse(429, Some(date), "{}"), DeliveryError::Later { at: a, .. } if a == at(60)));
        let search = r#"{"failed":"FAILED","message":"You are searching too fast."}"#;
        assert!(
            matches!(refuse(429, None, search), DeliveryError::Later { at: None, message } if message.ends_with("searching too fast."))
        );
    }

    #[test]
    fn server_errors_are_worth_retrying_other_refusals_are_not() {
        assert_eq!(
            refuse(500, None, "<html><body>We're sorry</body></html>"),
            DeliveryError::Later { message: "500 Internal Server Error".into(), at: None }
        );
        let read_only = r#"{"errors":["The site is in read only mode."],"error_type":"read_only"}"#;
        assert!(matches!(refuse(503, Some("30"), read_only), DeliveryError::Later { at: a, .. } if a == at(30)));
        assert_eq!(
            refuse(
                422,
                None,
                r#"{"action":"create_post","errors":["Title is too short (minimum is 15 characters)","Body is too short"]}"#
            ),
            DeliveryError::Never(
                "422 Unprocessable Entity: Title is too short (minimum is 15 characters); Body is too short".into()
            )
        );
        assert_eq!(
            refuse(
                403,
                None,
                r#"{"errors":["You are not permitted to view the requested resource."],"error_type":"invalid_access"}"#
            ),
            DeliveryError::Never(
                "403 Forbidden: You are not permitted to view the requested resource. (invalid_access)".into()
            )
        );
        assert_eq!(refuse(404, None, ""), DeliveryError::Never("404 Not Found".into()));
        assert_eq!(
            refuse(422, None, r#"{"failed":"FAILED"}"#),
            DeliveryError::Never("422 Unprocessable Entity: FAILED".into())
        );
    }

    #[test]
    fn words_are_bounded_and_on_one_line() {
        let long = format!(r#"{{"errors":["{}\u0007\n{}"]}}"#, "a".repeat(400), "b");
        let DeliveryError::Never(message) = refuse(422, None, &long) else { panic!() };
        assert!(message.chars().count() <= 330 && message.ends_with('…'), "{message}");
        assert!(!message.chars().any(char::is_control));
        assert_eq!(clean(" one\r\ntwo\tthree "), "one two three");
    }
}
