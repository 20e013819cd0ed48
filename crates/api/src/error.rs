//! One error shape for every failure a client sees, and the mapping from domain errors.
//!
//! Every error response is `{"code", "message", "field"}` ([`ApiError`]). Domain errors map
//! variant by variant in [`Problem::from`]; errors poem and poem-openapi raise while routing
//! or parsing a request map in [`Problem::from_poem`]. Each operation documents the statuses
//! it can answer with through an [`ErrorSet`] marker on its [`Failure`] type.

use crate::nullable::Nullable;
use std::{fmt, marker::PhantomData};

use poem::{
    error::{ReadBodyError, ResponseError},
    http::{header, HeaderValue, StatusCode},
    IntoResponse, Response,
};
use poem_openapi::{
    error::{
        AuthorizationError, ContentTypeError, ParseMultipartError, ParseParamError, ParsePathError,
        ParseRequestPayloadError,
    },
    payload::Json,
    registry::{MetaHeader, MetaResponse, MetaResponses, Registry},
    types::Type,
    ApiResponse, Object, ResponseContent,
};

/// The body of every error response.
#[derive(Debug, Clone, PartialEq, Eq, Object)]
pub struct ApiError {
    /// A machine-readable reason, e.g. `too_short`, `account_pending`, `ticket_not_found`.
    pub code: String,
    /// A sentence for people.
    pub message: String,
    /// The request field (as the client named it) the error is about, if there is one.
    pub field: Nullable<String>,
}

/// An error on its way to a client: status, body and, when throttled or busy, the retry delay.
#[derive(Debug, Clone)]
pub struct Problem {
    status: StatusCode,
    body: ApiError,
    retry_after_secs: Option<u64>,
}

impl Problem {
    /// A problem without a field.
    pub fn new(status: StatusCode, code: &str, message: impl Into<String>) -> Self {
        Self {
            status,
            body: ApiError { code: code.to_owned(), message: message.into(), field: Nullable(None) },
            retry_after_secs: None,
        }
    }

    /// Names the field the problem is about.
    pub fn with_field(mut self, field: &str) -> Self {
        self.body.field = Nullable(Some(field.to_owned()));
        self
    }

    /// The machine-readable code.
    pub fn code(&self) -> &str {
        &self.body.code
    }

    /// A request poem could not parse.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    /// The generic answer to anything that broke on our side.
    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "something went wrong on our side; please try again later",
        )
    }

    /// Maps an error raised by poem or poem-openapi (routing, parsing, the security scheme)
    /// or by our own middleware onto the one error shape.
    pub fn from_poem(err: &poem::Error) -> Self {
        if let Some(problem) = err.downcast_ref::<Problem>() {
            return problem.clone();
        }
        if let Some(e) = err.downcast_ref::<ParseParamError>() {
            return Self::bad_request(format!("parameter `{}` is invalid: {}", e.name, e.reason)).with_field(e.name);
        }
        if let Some(e) = err.downcast_ref::<ParsePathError>() {
            // poem-openapi names path parameters `param0`, `param1`... internally; such a name
            // means nothing to a client, so it is left out.
            let internal = e.name.strip_prefix("param").is_some_and(|n| n.chars().all(|c| c.is_ascii_digit()));
            let problem = Self::bad_request(format!("the path contains an invalid value: {}", e.reason));
            return if internal { problem } else { problem.with_field(e.name) };
        }
        if let Some(e) = err.downcast_ref::<ParseRequestPayloadError>() {
            return Self::bad_request(format!("the request body is not valid: {}", e.reason));
        }
        if let Some(e) = err.downcast_ref::<ParseMultipartError>() {
            return Self::bad_request(format!("the request body is not valid: {}", e.reason));
        }
        if let Some(e) = err.downcast_ref::<ContentTypeError>() {
            return Self::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type", e.to_string());
        }
        if err.is::<AuthorizationError>() {
            return Self::from(domain::Error::Unauthenticated);
        }
        if let Some(e) = err.downcast_ref::<ReadBodyError>() {
            return match e {
                ReadBodyError::PayloadTooLarge => Self::payload_too_large(),
                ReadBodyError::Utf8(_) | ReadBodyError::Io(_) => {
                    Self::bad_request("the request body could not be read")
                }
                ReadBodyError::BodyHasBeenTaken => {
                    tracing::error!(error = %e, "request body read twice");
                    Self::internal()
                }
            };
        }
        Self::from_status(err.status(), &err.to_string())
    }

    /// The answer to a status poem produced without a typed error we know (unknown route,
    /// wrong method, and whatever poem adds in the future).
    pub fn from_status(status: StatusCode, detail: &str) -> Self {
        match status {
            StatusCode::NOT_FOUND => Self::new(status, "not_found", "there is nothing at this address"),
            StatusCode::METHOD_NOT_ALLOWED => {
                Self::new(status, "method_not_allowed", "this address does not accept this method")
            }
            StatusCode::PAYLOAD_TOO_LARGE => Self::payload_too_large(),
            StatusCode::UNAUTHORIZED => Self::from(domain::Error::Unauthenticated),
            s if s.is_server_error() => {
                tracing::error!(status = s.as_u16(), error = detail, "unexpected error");
                Self::internal()
            }
            s => {
                let reason = s.canonical_reason().unwrap_or("Error");
                let code = reason.to_lowercase().replace([' ', '-', '\''], "_");
                Self::new(s, &code, if detail.is_empty() { reason } else { detail })
            }
        }
    }

    /// The request body did not fully arrive within `limit`.
    pub fn request_timeout(limit: std::time::Duration) -> Self {
        Self::new(
            StatusCode::REQUEST_TIMEOUT,
            "request_timeout",
            format!("the request body must arrive within {} seconds", limit.as_secs()),
        )
    }

    /// The request body is over the limit.
    pub fn payload_too_large() -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("the request body must be at most {} KiB", crate::MAX_BODY_BYTES / 1024),
        )
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.body.message)
    }
}

impl std::error::Error for Problem {}

impl ResponseError for Problem {
    fn status(&self) -> StatusCode {
        self.status
    }

    fn as_response(&self) -> Response {
        let mut resp = Json(self.body.clone()).into_response();
        resp.set_status(self.status);
        if let Some(secs) = self.retry_after_secs {
            resp.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if self.status == StatusCode::UNAUTHORIZED {
            resp.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        resp
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        self.as_response()
    }
}

impl From<domain::Error> for Problem {
    fn from(err: domain::Error) -> Self {
        use domain::Error as E;
        let message = err.to_string();
        match err {
            E::Invalid { field, code, message } => {
                Self::new(StatusCode::UNPROCESSABLE_ENTITY, code, message).with_field(field)
            }
            E::Unauthenticated => Self::new(StatusCode::UNAUTHORIZED, "unauthenticated", message),
            E::InvalidCredentials => Self::new(StatusCode::UNAUTHORIZED, "invalid_credentials", message),
            E::Forbidden(f) => Self::new(StatusCode::FORBIDDEN, f.code(), message),
            E::NotFound(r) => Self::new(StatusCode::NOT_FOUND, r.code(), message),
            E::UnknownReference { resource, field } => {
                Self::new(StatusCode::NOT_FOUND, resource.code(), message).with_field(field)
            }
            E::Conflict(c) => Self::new(StatusCode::CONFLICT, c.code(), message),
            E::TooLarge { field, message } => {
                Self::new(StatusCode::PAYLOAD_TOO_LARGE, "too_large", message).with_field(field)
            }
            E::UnsupportedMediaType { field, message } => {
                Self::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type", message).with_field(field)
            }
            E::Throttled { retry_after_secs } => Self {
                retry_after_secs: Some(retry_after_secs),
                ..Self::new(StatusCode::TOO_MANY_REQUESTS, "throttled", message)
            },
            E::Busy { retry_after_secs } => Self {
                retry_after_secs: Some(retry_after_secs),
                ..Self::new(StatusCode::SERVICE_UNAVAILABLE, "busy", message)
            },
            E::Unknown(e) => {
                // The chain may name tables, hosts or values: it goes to the log only.
                tracing::error!(error = format!("{e:#}"), "unexpected error in a domain service");
                Self::internal()
            }
        }
    }
}

/// The statuses an operation can fail with, for its OpenAPI description.
pub trait ErrorSet: Send + Sync + 'static {
    /// The statuses, ascending.
    const STATUSES: &'static [u16];
}

/// Declares an [`ErrorSet`] marker type.
macro_rules! error_set {
    ($(#[$meta:meta])* $name:ident = [$($status:literal),+ $(,)?]) => {
        $(#[$meta])*
        pub struct $name;
        impl $crate::error::ErrorSet for $name {
            const STATUSES: &'static [u16] = &[$($status),+];
        }
    };
}
pub(crate) use error_set;

/// An operation's error response; `S` lists the statuses the operation documents.
pub struct Failure<S>(Problem, PhantomData<fn() -> S>);

impl<S> fmt::Debug for Failure<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl<S> From<Problem> for Failure<S> {
    fn from(problem: Problem) -> Self {
        Self(problem, PhantomData)
    }
}

impl<S> From<domain::Error> for Failure<S> {
    fn from(err: domain::Error) -> Self {
        Self(Problem::from(err), PhantomData)
    }
}

impl<S> From<Failure<S>> for poem::Error {
    fn from(failure: Failure<S>) -> Self {
        poem::Error::from(failure.0)
    }
}

impl<S: ErrorSet> ApiResponse for Failure<S> {
    fn meta() -> MetaResponses {
        let responses = S::STATUSES
            .iter()
            .map(|&status| MetaResponse {
                description: describe(status),
                status: Some(status),
                status_range: None,
                content: <Json<ApiError> as ResponseContent>::media_types(),
                headers: if status == 429 || status == 503 {
                    vec![MetaHeader {
                        name: "Retry-After".to_owned(),
                        description: Some("Seconds until a new attempt is likely to succeed.".to_owned()),
                        required: true,
                        deprecated: false,
                        schema: u64::schema_ref(),
                    }]
                } else {
                    Vec::new()
                },
            })
            .collect();
        MetaResponses { responses }
    }

    fn register(registry: &mut Registry) {
        <Json<ApiError> as ResponseContent>::register(registry);
    }
}

/// What an error status means, for the OpenAPI document.
fn describe(status: u16) -> &'static str {
    match status {
        400 => "The request could not be read: malformed JSON, a value of the wrong type, or a bad path or query parameter (`field` names it when known).",
        401 => "Not signed in (`unauthenticated`), or the email and password do not match (`invalid_credentials`).",
        403 => "The caller may not do this; `code` says why (e.g. `account_pending`, `role_not_allowed`, `not_owner`).",
        404 => "It does not exist; `code` says what (e.g. `ticket_not_found`). When a value of the request names it rather than the address, `field` names that value (e.g. `category_id`).",
        409 => "The request contradicts the current state; `code` says how (e.g. `illegal_transition`, `email_taken`).",
        413 => "The request body, or an uploaded file, is too large (`payload_too_large`, `too_large`).",
        415 => "The request body's `Content-Type` is not the one the operation takes, or an uploaded file's content is not an accepted type (`unsupported_media_type`; `message` lists the accepted types).",
        422 => "A value is not acceptable; `field` names it and `code` says why.",
        429 => "Too many attempts; retry after `Retry-After` seconds.",
        503 => "The server is at capacity for this work (`busy`: every password-hashing slot and its short queue are taken); retry after `Retry-After` seconds.",
        500 => "Something broke on our side; quote the `X-Request-Id` response header when reporting it.",
        _ => "An error.",
    }
}

#[cfg(test)]
mod tests {
    use domain::{Conflict, Forbidden, Resource};

    use super::*;

    #[test]
    fn domain_errors_map_to_statuses_and_codes() {
        let table: Vec<(domain::Error, u16, &str, Option<&str>)> = vec![
            (domain::Error::invalid("title", "too_short", "short"), 422, "too_short", Some("title")),
            (domain::Error::Unauthenticated, 401, "unauthenticated", None),
            (domain::Error::InvalidCredentials, 401, "invalid_credentials", None),
            (domain::Error::Forbidden(Forbidden::AccountPending), 403, "account_pending", None),
            (domain::Error::NotFound(Resource::Ticket), 404, "ticket_not_found", None),
            (
                domain::Error::UnknownReference { resource: Resource::Category, field: "category_id" },
                404,
                "category_not_found",
                Some("category_id"),
            ),
            (domain::Error::Conflict(Conflict::EmailTaken), 409, "email_taken", None),
            (domain::Error::Throttled { retry_after_secs: 7 }, 429, "throttled", None),
            (domain::Error::TooLarge { field: "file", message: "big".into() }, 413, "too_large", Some("file")),
            (
                domain::Error::UnsupportedMediaType { field: "file", message: "html".into() },
                415,
                "unsupported_media_type",
                Some("file"),
            ),
            (domain::Error::Busy { retry_after_secs: 1 }, 503, "busy", None),
            (domain::Error::Unknown(anyhow::anyhow!("db password is hunter2")), 500, "internal", None),
        ];
        for (err, status, code, field) in table {
            let p = Problem::from(err);
            assert_eq!(p.status.as_u16(), status, "{code}");
            assert_eq!(p.body.code, code);
            assert_eq!(p.body.field.0.as_deref(), field);
            assert!(!p.body.message.contains("hunter2"));
        }
    }

    #[test]
    fn throttling_says_when_to_retry() {
        let resp = Problem::from(domain::Error::Throttled { retry_after_secs: 7 }).as_response();
        assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(resp.headers().get(header::RETRY_AFTER).unwrap(), "7");
    }

    #[test]
    fn busy_says_when_to_retry() {
        let resp = Problem::from(domain::Error::Busy { retry_after_secs: 2 }).as_response();
        assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(resp.headers().get(header::RETRY_AFTER).unwrap(), "2");
    }

    #[test]
    fn unknown_statuses_get_a_code_and_message_from_their_reason() {
        let p = Problem::from_status(StatusCode::NOT_ACCEPTABLE, "");
        assert_eq!((p.body.code.as_str(), p.body.message.as_str()), ("not_acceptable", "Not Acceptable"));
        let p = Problem::from_status(StatusCode::IM_A_TEAPOT, "short and stout");
        assert_eq!((p.body.code.as_str(), p.body.message.as_str()), ("i_m_a_teapot", "short and stout"));
    }
}
