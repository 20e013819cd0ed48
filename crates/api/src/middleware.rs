//! Middleware around the whole route tree: request spans, error normalisation, panics and
//! the request body limit.

use std::{
    any::Any,
    io,
    pin::Pin,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    task::{ready, Context, Poll},
    time::Instant,
};

use poem::{
    error::ReadBodyError,
    http::{header, Method},
    web::headers::{ContentLength, HeaderMapExt},
    Body, Endpoint, IntoResponse, Middleware, Request, Response,
};
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
        let resp = match self.inner.call(req).await {
            Ok(out) => out.into_response(),
            Err(err) => return Ok(Problem::from_poem(&err).into_response()),
        };
        let is_error = resp.status().is_client_error() || resp.status().is_server_error();
        let is_json = resp
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|ct| ct.starts_with("application/json"));
        if is_error && !is_json {
            return Ok(Problem::from_status(resp.status(), "").into_response());
        }
        Ok(resp)
    }
}

/// Refuses request bodies over `max` bytes with 413, whether announced by `Content-Length`
/// or streamed; poem's `SizeLimit` would also refuse every request without `Content-Length`.
/// Upload requests (see [`UploadLimit`]) get their own, larger limit and are streamed
/// rather than buffered.
pub struct BodyLimit {
    max: usize,
    uploads: Option<UploadLimit>,
}

/// The limit of file uploads, which are larger than anything else the API takes.
#[derive(Clone, Copy)]
pub struct UploadLimit {
    /// Whether a request (method, path) is an upload.
    pub matches: fn(&Method, &str) -> bool,
    /// The most bytes an upload body may have.
    pub max: usize,
    /// The answer to an upload over `max`.
    pub too_large: fn() -> Problem,
}

impl BodyLimit {
    /// A limit of `max` bytes.
    pub fn new(max: usize) -> Self {
        Self { max, uploads: None }
    }

    /// Gives upload requests their own limit.
    pub fn with_uploads(self, uploads: UploadLimit) -> Self {
        Self { uploads: Some(uploads), ..self }
    }
}

impl<E: Endpoint> Middleware<E> for BodyLimit {
    type Output = BodyLimitEndpoint<E>;

    fn transform(&self, inner: E) -> Self::Output {
        BodyLimitEndpoint { inner, max: self.max, uploads: self.uploads }
    }
}

/// See [`BodyLimit`].
pub struct BodyLimitEndpoint<E> {
    inner: E,
    max: usize,
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
        let capped = Capped { inner: req.take_body().into_async_read(), left: limit.max, over: over.clone() };
        req.set_body(Body::from_async_read(capped));
        let result = self.inner.call(req).await;
        if over.load(Ordering::SeqCst) {
            return Err((limit.too_large)().into());
        }
        result
    }
}

/// A reader that fails once more than `left` bytes came through, and says so in `over`.
struct Capped<R> {
    inner: R,
    left: usize,
    over: Arc<AtomicBool>,
}

impl<R: AsyncRead + Unpin> AsyncRead for Capped<R> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
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
        let body = req.take_body().into_bytes_limit(self.max).await.map_err(|e| match e {
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
