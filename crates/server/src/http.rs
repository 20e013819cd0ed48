//! Serving the API over HTTP/1.1 with bounds on slow and idle clients.
//!
//! poem's own server has no bound on the time to send a request head, and its idle timeout
//! is reset by every byte, so a client sending one header byte a second (or nothing) held a
//! connection forever. Here each connection is served by hyper with its header-read timer:
//! a connection must deliver a complete request head within [`Limits::header_read`] of
//! being opened or of its previous response, which also bounds how long an idle keep-alive
//! connection stays open. The time to read a body is bounded by the API's body-limit
//! middleware. On stop, the listener closes, idle connections are closed at once, and
//! requests in flight get [`Limits::drain`] to finish.

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use poem::web::{LocalAddr, RemoteAddr};
use poem::{Addr, Endpoint, IntoResponse};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;

/// How long clients may take.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// To send a complete request head, counted from the connection's opening or from the end
    /// of its previous response (so also the longest a keep-alive connection stays idle).
    pub header_read: Duration,
    /// For requests in flight to finish once a stop was asked for.
    pub drain: Duration,
}

/// Serves `endpoint` on `listener` until `stop` completes, then stops accepting, closes idle
/// connections and lets requests in flight finish for at most `limits.drain`.
pub async fn serve<E>(
    listener: TcpListener,
    endpoint: E,
    limits: Limits,
    stop: impl Future<Output = ()>,
) -> std::io::Result<()>
where
    E: Endpoint + 'static,
{
    let endpoint = Arc::new(endpoint);
    let local = LocalAddr(Addr::SocketAddr(listener.local_addr()?));
    let (stopping_tx, stopping) = watch::channel(false);
    let mut connections = JoinSet::new();
    tokio::pin!(stop);
    loop {
        tokio::select! {
            () = &mut stop => break,
            // Reap finished connections as we go, so the set holds only live ones.
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(pair) => pair,
                    Err(e) => {
                        // Out of file descriptors and the like: wait a little instead of spinning.
                        tracing::warn!(error = %e, "accepting a connection failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let endpoint = endpoint.clone();
                let remote = RemoteAddr(Addr::SocketAddr(peer));
                let conn = connection(stream, endpoint, local.clone(), remote, limits.header_read, stopping.clone());
                connections.spawn(conn);
            }
        }
    }
    drop(listener);
    let _ = stopping_tx.send(true);
    let drained = tokio::time::timeout(limits.drain, async { while connections.join_next().await.is_some() {} }).await;
    if drained.is_err() {
        tracing::warn!(left = connections.len(), "requests still in flight after the drain time; closing them");
        connections.shutdown().await;
    }
    Ok(())
}

/// Serves one connection until the client closes it, a bound is reached, or a stop is asked
/// for (then the connection closes as soon as it is idle).
async fn connection<E: Endpoint + 'static>(
    stream: tokio::net::TcpStream,
    endpoint: Arc<E>,
    local: LocalAddr,
    remote: RemoteAddr,
    header_read: Duration,
    mut stopping: watch::Receiver<bool>,
) {
    let service = hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
        let endpoint = endpoint.clone();
        let request = poem::Request::from((req, local.clone(), remote.clone(), poem::http::uri::Scheme::HTTP));
        async move {
            let response = match endpoint.call(request).await {
                Ok(out) => out.into_response(),
                Err(err) => err.into_response(),
            };
            Ok::<_, Infallible>(hyper::Response::from(response))
        }
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder.timer(TokioTimer::new()).header_read_timeout(header_read).keep_alive(true);
    let conn = builder.serve_connection(TokioIo::new(stream), service);
    tokio::pin!(conn);
    tokio::select! {
        result = conn.as_mut() => log_end(result),
        () = async { drop(stopping.wait_for(|stop| *stop).await) } => {
            // Closes an idle connection at once; one with a request in flight after its response.
            conn.as_mut().graceful_shutdown();
            log_end(conn.await);
        }
    }
}

fn log_end(result: Result<(), hyper::Error>) {
    if let Err(e) = result {
        // Timeouts, resets and malformed requests are the client's business; note them only.
        tracing::debug!(error = %e, "connection ended");
    }
}
