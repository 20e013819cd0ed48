//! What the request log holds. Alone in its binary: tracing caches per call site whether
//! anyone listens, and a test running without a subscriber on another thread could make this
//! test's thread-local subscriber miss events.

mod support;

use std::sync::Arc;

use api::Health;
use async_trait::async_trait;
use poem::http::Method;
use support::{Options, TestApp};

struct DownDatabase;

#[async_trait]
impl Health for DownDatabase {
    async fn check(&self) -> anyhow::Result<()> {
        anyhow::bail!("connection refused to db.internal:5432")
    }
}

/// A log sink for one test.
#[derive(Clone, Default)]
struct Captured(Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }
}

#[tokio::test]
async fn requests_are_logged_with_their_id_and_status_but_no_secrets() {
    let logs = Captured::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .with_max_level(tracing::Level::INFO)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let app = TestApp::spawn_with(Options { health: Some(Arc::new(DownDatabase)), ..Options::default() }).await;
    let reply = app.get("/api/v1/me?q=private+words", &app.admin.token).await.expect(200);
    let request_id = reply.headers["x-request-id"].to_str().unwrap().to_owned();
    app.call(Method::GET, "/readyz", None, None).await.expect(503);

    let text = logs.text();
    let line = text
        .lines()
        .find(|l| l.contains("request finished") && l.contains(&request_id))
        .unwrap_or_else(|| panic!("no request line for {request_id} in:\n{text}"));
    assert!(line.contains("method=GET"), "{line}");
    assert!(line.contains("path=/api/v1/me"), "{line}");
    assert!(line.contains("status=200"), "{line}");
    assert!(text.contains("status=503"), "{text}");
    // The readiness check's cause is logged for operators...
    assert!(text.contains("db.internal"), "{text}");
    // ...while tokens, passwords and query strings are not.
    assert!(!text.contains(&app.admin.token), "a token was logged:\n{text}");
    assert!(!text.contains(support::PASSWORD), "a password was logged:\n{text}");
    assert!(!text.contains("private"), "a query string was logged:\n{text}");
}
