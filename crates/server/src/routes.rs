//! The route tree: every part of osts's HTTP surface mounted in one place, behind the
//! middleware every request goes through.
//!
//! ```text
//! /api/...     the JSON API, its OpenAPI document (/api/openapi.json) and docs (/api/docs);
//!              errors are JSON here and only here
//! /healthz     the liveness probe (part of the API's document)
//! /readyz      the readiness probe (part of the API's document)
//! /metrics     Prometheus metrics, when this listener serves them (see `metrics_tree`)
//! /webhooks/.. signed inbound calls from integrations (the Discourse forum mounts here)
//! /            the web app (the `web` crate): pages, their forms and their assets
//! ```

use poem::{get, Endpoint, EndpointExt as _, IntoResponse as _, Request, Response, Route};
use server::telemetry::MetricsEndpoint;

/// The whole tree around the API's routes and the web app's pages, wrapped in the shared
/// middleware (request ids, request spans, panic recovery, body limits); with `/metrics` when
/// `metrics` is given (only on a loopback bind: see `docs/operations.md`).
pub fn tree(
    api: impl Endpoint<Output = Response> + 'static,
    web: impl Endpoint<Output = Response> + 'static,
    metrics: Option<MetricsEndpoint>,
    forum: Option<(
        std::sync::Arc<server::forum_webhook::DiscourseWebhook>,
        std::sync::Arc<server::forum_webhook::DiscourseConnect>,
    )>,
) -> impl Endpoint<Output = Response> {
    let mut rest = Route::new();
    if let Some((webhook, connect)) = forum {
        rest = rest
            .at("/webhooks/discourse", poem::post(server::forum_webhook::receive).data(webhook))
            .at("/discourse/connect", get(server::forum_webhook::connect).data(connect));
    }
    if let Some(metrics) = metrics {
        rest = rest.at("/metrics", get(metrics));
    }
    api::shared_middleware(Tree { api, web, rest })
}

/// The tree of the separate metrics listener (`OSTS_METRICS_BIND`): `/metrics` alone.
pub fn metrics_tree(metrics: MetricsEndpoint) -> impl Endpoint<Output = Response> {
    api::shared_middleware(Route::new().at("/metrics", get(metrics)))
}

/// Sends `/api/...` and the probes to the API (whose routes carry their full paths), the
/// integrations' and the metrics' paths to the other parts, and everything else to the web
/// app. The web app is not nested in a route of its own, so a path nobody serves keeps the
/// `unmatched` route label (rather than the label of a catch-all).
struct Tree<A, W, R> {
    api: A,
    web: W,
    rest: R,
}

impl<A: Endpoint<Output = Response>, W: Endpoint<Output = Response>, R: Endpoint> Endpoint for Tree<A, W, R> {
    type Output = Response;

    async fn call(&self, req: Request) -> poem::Result<Response> {
        let path = req.uri().path();
        if path == "/healthz" || path == "/readyz" || path == "/api" || path.starts_with("/api/") {
            self.api.call(req).await
        } else if path.starts_with("/webhooks/") || path.starts_with("/discourse/") || path == "/metrics" {
            self.rest.call(req).await.map(|out| out.into_response())
        } else {
            self.web.call(req).await
        }
    }
}

#[cfg(test)]
mod tests {
    use poem::{handler, http::StatusCode, test::TestClient, EndpointExt as _, Route};

    #[handler]
    fn page() -> &'static str {
        "a page"
    }

    use super::*;

    #[handler]
    fn ok() -> &'static str {
        "ok"
    }

    fn client() -> TestClient<impl Endpoint> {
        let api = Route::new().at("/api/v1/ping", get(ok)).at("/healthz", get(ok));
        let web = Route::new().at("/", get(page)).at("/faq", get(page));
        TestClient::new(tree(api.map_to_response(), web.map_to_response(), None, None))
    }

    #[tokio::test]
    async fn the_api_keeps_its_prefix_and_the_probe_its_path() {
        let client = client();
        client.get("/api/v1/ping").send().await.assert_status_is_ok();
        let health = client.get("/healthz").send().await;
        health.assert_status_is_ok();
        health.assert_header_exist("x-request-id");
    }

    #[tokio::test]
    async fn the_web_app_has_the_root_and_other_paths_are_not_the_apis() {
        let client = client();
        let root = client.get("/").send().await;
        root.assert_status_is_ok();
        root.assert_text("a page").await;
        client.get("/faq").send().await.assert_status_is_ok();
        client.get("/v1/ping").send().await.assert_status(StatusCode::NOT_FOUND);
        client.get("/metrics").send().await.assert_status(StatusCode::NOT_FOUND);
    }
}
