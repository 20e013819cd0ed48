//! Middleware around the whole route tree: request spans, HTTP metrics, error
//! normalisation, panics, the request body limit and the security headers.

use std::{
    any::Any,
    io,
    pin::Pin,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    task::{ready, Context, Poll},
    time::{Duration, Instant},
};

use poem::{
    error::ReadBodyError,
    http::{header, HeaderValue, Method, StatusCode},
    web::headers::{ContentLength, HeaderMapExt},
    Body, Endpoint, IntoResponse, Middleware, PathPattern, Request, Response,
};
use std::future::Future as _;
use tokio::io::{AsyncRead, ReadBuf};
use tracing::Instrument;

use crate::error::Problem;

/// Opens a span per request with method, path, request id and, once known, status; logs one
/// line when the request finishes. Never records query strings, headers or bodies, which may
/// hold tokens, passwords or search text.
pub struct Trace;

impl<E: Endpoint> Middleware<E> for Trace {
    type Output = TraceEndpoint<E>;

    fn transform(&self, inner: E) -> Self::Output {
        TraceEndpoint { inner }
    }
}

/// See [`Trace`].
pub struct TraceEndpoint<E> {
    inner: E,
}

impl<E: Endpoint> Endpoint for TraceEndpoint<E> {
    type Output = Response;

    async fn call(&self, req: Request) -> poem::Result<Response> {
        let request_id = req.extensions().get::<poem::middleware::ReqId>().map(ToString::to_string);
        let span = tracing::info_span!(
            "request",
            method = %req.method(),
            path = %req.uri().path(),
            request_id = %request_id.as_deref().unwrap_or("-"),
            status = tracing::field::Empty,
        );
        async move {
            let started = Instant::now();
            let result = self.inner.call(req).await.map(IntoResponse::into_response);
            let status = match &result {
                Ok(resp) => resp.status(),
                Err(err) => err.status(),
            };
            tracing::Span::current().record("status", status.as_u16());
            let latency_ms = started.elapsed().as_millis() as u64;
            tracing::info!(status = status.as_u16(), latency_ms, "request finished");
            result
        }
        .instrument(span)
        .await
    }
}

/// Counter: HTTP requests answered, by `method`, `route` (the matched route's template, such
/// as `/api/v1/tickets/{param0}` (poem's names for the parameters), or `unmatched`) and `status` class (`2xx` ... `5xx`).
pub const HTTP_REQUESTS: &str = "osts_http_requests_total";
/// Histogram, seconds: time to answer an HTTP request, by `method` and `route`.
pub const HTTP_DURATION: &str = "osts_http_request_duration_seconds";

/// Counts every request and times it, labelled by route template (never the raw path, which
/// holds ids and would make a series per ticket), method and status class.
pub struct HttpMetrics;

impl<E: Endpoint> Middleware<E> for HttpMetrics {
    type Output = HttpMetricsEndpoint<E>;

    fn transform(&self, inner: E) -> Self::Output {
        HttpMetricsEndpoint { inner }
    }
}

/// See [`HttpMetrics`].
pub struct HttpMetricsEndpoint<E> {
    inner: E,
}

impl<E: Endpoint> Endpoint for HttpMetricsEndpoint<E> {
    type Output = Response;

    async fn call(&self, req: Request) -> poem::Result<Response> {
        let method = method_label(req.method());
        let started = Instant::now();
        let result = self.inner.call(req).await.map(IntoResponse::into_response);
        let (status, pattern) = match &result {
            Ok(resp) => (resp.status(), resp.data::<PathPattern>()),
            Err(err) => (err.status(), err.data::<PathPattern>()),
        };
        let route = route_label(pattern);
        let elapsed = started.elapsed().as_secs_f64();
        metrics::counter!(HTTP_REQUESTS, "method" => method, "route" => route.clone(), "status" => status_class(status))
            .increment(1);
        metrics::histogram!(HTTP_DURATION, "method" => method, "route" => route).record(elapsed);
        result
    }
}

/// The method as a label; anything unusual is `other`, so clients cannot make new series.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// The matched route's template in the OpenAPI document's style (`{id}` for poem's `:id`),
/// or `unmatched` for a path no route took (404s, scans).
fn route_label(pattern: Option<&PathPattern>) -> String {
    let Some(PathPattern(pattern)) = pattern else { return "unmatched".to_owned() };
    let segments: Vec<String> = pattern
        .split('/')
        .map(|segment| match segment.strip_prefix(':').or_else(|| segment.strip_prefix('*')) {
            Some(name) => format!("{{{name}}}"),
            None => segment.to_owned(),
        })
        .collect();
    let route = segments.join("/");
    if route.is_empty() {
        "/".to_owned()
    } else {
        route
    }
}

/// `2xx`, `4xx` and so on.
fn status_class(status: StatusCode) -> &'static str {
    match status.as_u16() {
        100..=199 => "1xx",
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        _ => "5xx",
    }
}

/// Turns every error, and every error response that is not JSON, into the one error shape.
pub struct NormaliseErrors;

impl<E: Endpoint> Middleware<E> for NormaliseErrors {
    type Output = NormaliseErrorsEndpoint<E>;

    fn transform(&self, inner: E) -> Self::Output {
        NormaliseErrorsEndpoint { inner }
    }
}

/// See [`NormaliseErrors`].
pub struct NormaliseErrorsEndpoint<E> {
    inner: E,
}

impl<E: Endpoint> Endpoint for NormaliseErrorsEndpoint<E> {
    type Output = Response;

    async fn call(&self, req: Request) -> poem::Result<Response> {
        // The matched route's template goes along with a replaced answer (for the metrics).
        let with_pattern = |mut replaced: Response, pattern: Option<PathPattern>| {
            if let Some(pattern) = pattern {
                replaced.set_data(pattern);
            }
            replaced
        };
        let resp = match self.inner.call(req).await {
            Ok(out) => out.into_response(),
            Err(err) => {
                let pattern = err.data::<PathPattern>().cloned();
                return Ok(with_pattern(Problem::from_poem(&err).into_response(), pattern));
            }
        };
        let is_error = resp.status().is_client_error() || resp.status().is_server_error();
        let is_json = resp
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|ct| ct.starts_with("application/json"));
        if is_error && !is_json {
            let pattern = resp.data::<PathPattern>().cloned();
            return Ok(with_pattern(Problem::from_status(resp.status(), "").into_response(), pattern));
        }
        Ok(resp)
    }
}

/// Refuses request bodies over `max` bytes with 413, whether announced by `Content-Length`
/// or streamed; poem's `SizeLimit` would also refuse every request without `Content-Length`.
/// A body that has not fully arrived within `read_timeout` is refused with 408, so a client
/// feeding it a byte at a time cannot hold a request open. Upload requests (see
/// [`UploadLimit`]) get their own, larger limits and are streamed rather than buffered.
pub struct BodyLimit {
    max: usize,
    read_timeout: Duration,
    uploads: Option<UploadLimit>,
}

/// The limit of file uploads, which are larger than anything else the API takes.
#[derive(Clone, Copy)]
pub struct UploadLimit {
    /// Whether a request (method, path) is an upload.
    pub matches: fn(&Method, &str) -> bool,
    /// The most bytes an upload body may have.
    pub max: usize,
    /// The longest an upload body may take to arrive.
    pub read_timeout: Duration,
    /// The answer to an upload over `max`.
    pub too_large: fn() -> Problem,
}

impl BodyLimit {
    /// A limit of `max` bytes arriving within `read_timeout`.
    pub fn new(max: usize, read_timeout: Duration) -> Self {
        Self { max, read_timeout, uploads: None }
    }

    /// Gives upload requests their own limit.
    pub fn with_uploads(self, uploads: UploadLimit) -> Self {
        Self { uploads: Some(uploads), ..self }
    }
}

impl<E: Endpoint> Middleware<E> for BodyLimit {
    type Output = BodyLimitEndpoint<E>;

    fn transform(&self, inner: E) -> Self::Output {
        BodyLimitEndpoint { inner, max: self.max, read_timeout: self.read_timeout, uploads: self.uploads }
    }
}

/// See [`BodyLimit`].
pub struct BodyLimitEndpoint<E> {
    inner: E,
    max: usize,
    read_timeout: Duration,
    uploads: Option<UploadLimit>,
}

impl<E: Endpoint> BodyLimitEndpoint<E> {
    /// Streams an upload through a counter instead of buffering it: the handler's multipart
    /// parser spills the file to a temporary file as it arrives, and a body that goes over
    /// the limit fails the parse, which this turns into the upload's 413. The handler never
    /// runs in that case, so nothing is stored.
    async fn call_upload(&self, mut req: Request, limit: UploadLimit) -> poem::Result<E::Output> {
        if let Some(ContentLength(len)) = req.headers().typed_get::<ContentLength>() {
            if len > limit.max as u64 {
                return Err((limit.too_large)().into());
            }
        }
        let over = Arc::new(AtomicBool::new(false));
        let late = Arc::new(AtomicBool::new(false));
        let capped = Capped {
            inner: req.take_body().into_async_read(),
            left: limit.max,
            over: over.clone(),
            deadline: Box::pin(tokio::time::sleep(limit.read_timeout)),
            late: late.clone(),
        };
        req.set_body(Body::from_async_read(capped));
        let result = self.inner.call(req).await;
        if over.load(Ordering::SeqCst) {
            return Err((limit.too_large)().into());
        }
        if late.load(Ordering::SeqCst) {
            return Err(Problem::request_timeout(limit.read_timeout).into());
        }
        result
    }
}

/// A reader that fails once more than `left` bytes came through, and says so in `over`, or
/// once `deadline` passed before the end, and says so in `late`.
struct Capped<R> {
    inner: R,
    left: usize,
    over: Arc<AtomicBool>,
    deadline: Pin<Box<tokio::time::Sleep>>,
    late: Arc<AtomicBool>,
}

impl<R: AsyncRead + Unpin> AsyncRead for Capped<R> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        if self.deadline.as_mut().poll(cx).is_ready() {
            self.late.store(true, Ordering::SeqCst);
            return Poll::Ready(Err(io::Error::new(io::ErrorKind::TimedOut, "the upload did not arrive in time")));
        }
        let before = buf.filled().len();
        ready!(Pin::new(&mut self.inner).poll_read(cx, buf))?;
        let n = buf.filled().len() - before;
        if n > self.left {
            self.over.store(true, Ordering::SeqCst);
            return Poll::Ready(Err(io::Error::other("the request body is over the upload limit")));
        }
        self.left -= n;
        Poll::Ready(Ok(()))
    }
}

impl<E: Endpoint> Endpoint for BodyLimitEndpoint<E> {
    type Output = E::Output;

    async fn call(&self, mut req: Request) -> poem::Result<E::Output> {
        if let Some(limit) = self.uploads.filter(|u| (u.matches)(req.method(), req.uri().path())) {
            return self.call_upload(req, limit).await;
        }
        if let Some(ContentLength(len)) = req.headers().typed_get::<ContentLength>() {
            if len > self.max as u64 {
                return Err(Problem::payload_too_large().into());
            }
        }
        // The shared middleware sits outside the API's error normaliser, so the answer is
        // made JSON here.
        let read = tokio::time::timeout(self.read_timeout, req.take_body().into_bytes_limit(self.max))
            .await
            .map_err(|_| poem::Error::from(Problem::request_timeout(self.read_timeout)))?;
        let body = read.map_err(|e| match e {
            ReadBodyError::PayloadTooLarge => poem::Error::from(Problem::payload_too_large()),
            other => poem::Error::from(Problem::from_poem(&poem::Error::from(other))),
        })?;
        req.set_body(body);
        self.inner.call(req).await
    }
}

/// The answer to a panicking handler: our generic 500 (the panic itself is logged).
pub fn on_panic(panic: Box<dyn Any + Send + 'static>) -> Response {
    let message = panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_default();
    tracing::error!(panic = message, "a handler panicked");
    Problem::internal().into_response()
}

/// The `Content-Security-Policy` of every response that does not bring its own: nothing may
/// load or run, forms post only to osts, no page may be framed (clickjacking an unsubscribe
/// or confirmation button), and `<base>` cannot redirect relative links.
pub const DEFAULT_CSP: &str = "default-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// Sets the security headers every response gets, pages and JSON alike, once for the whole
/// route tree (a web app mounted beside the API inherits them): `X-Content-Type-Options:
/// nosniff`, `X-Frame-Options: DENY`, `Referrer-Policy: no-referrer` (links in emails carry
/// tokens in their query) and, unless the route set its own, [`DEFAULT_CSP`].
pub struct SecurityHeaders;

impl<E: Endpoint> Middleware<E> for SecurityHeaders {
    type Output = SecurityHeadersEndpoint<E>;

    fn transform(&self, inner: E) -> Self::Output {
        SecurityHeadersEndpoint { inner }
    }
}

/// See [`SecurityHeaders`].
pub struct SecurityHeadersEndpoint<E> {
    inner: E,
}

impl<E: Endpoint> Endpoint for SecurityHeadersEndpoint<E> {
    type Output = Response;

    async fn call(&self, req: Request) -> poem::Result<Response> {
        let mut resp = match self.inner.call(req).await {
            Ok(out) => out.into_response(),
            Err(err) => err.into_response(),
        };
        let headers = resp.headers_mut();
        headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
        headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
        headers.entry(header::REFERRER_POLICY).or_insert(HeaderValue::from_static("no-referrer"));
        headers.entry(header::CONTENT_SECURITY_POLICY).or_insert(HeaderValue::from_static(DEFAULT_CSP));
        Ok(resp)
    }
}

/// The `Content-Security-Policy` of a page whose only scripts are inline ones (Swagger UI at
/// `/api/docs`): those scripts by their SHA-256 and nothing else (no `unsafe-inline`, no
/// `eval`), its inline styles, images from osts and `data:` URLs, requests ("Try it out") to
/// osts only, and no framing.
pub fn inline_scripts_policy(page: &str) -> String {
    use base64::Engine as _;
    use sha2::Digest as _;
    let hashes: Vec<String> = inline_scripts(page)
        .map(|script| {
            let digest = sha2::Sha256::digest(script.as_bytes());
            format!("'sha256-{}'", base64::engine::general_purpose::STANDARD.encode(digest))
        })
        .collect();
    format!(
        "default-src 'none'; script-src {}; style-src 'unsafe-inline'; img-src 'self' data:; font-src 'self' data:; \
         connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
        hashes.join(" ")
    )
}

/// The contents of the page's `<script>` elements that have no `src`, as a browser hashes
/// them for `script-src`.
pub fn inline_scripts(page: &str) -> impl Iterator<Item = &str> {
    page.split("<script").skip(1).filter_map(|rest| {
        let (attributes, rest) = rest.split_once('>')?;
        let (content, _) = rest.split_once("</script>")?;
        (!attributes.contains("src=")).then_some(content)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_templates_and_classes_never_raw_paths() {
        let pattern = |p: &str| PathPattern(p.into());
        assert_eq!(route_label(Some(&pattern("/api/v1/tickets/:id/vote"))), "/api/v1/tickets/{id}/vote");
        assert_eq!(route_label(Some(&pattern("/api/docs/*path"))), "/api/docs/{path}");
        assert_eq!(route_label(Some(&pattern(""))), "/");
        assert_eq!(route_label(None), "unmatched");
        assert_eq!(status_class(StatusCode::NO_CONTENT), "2xx");
        assert_eq!(status_class(StatusCode::SERVICE_UNAVAILABLE), "5xx");
        assert_eq!(method_label(&Method::from_bytes(b"BREW").unwrap()), "other");
    }
}
