//! `GET /metrics` of the real `osts` binary after seed-like traffic (accounts registered and
//! confirmed, tickets raised, a vote, a resolution, suggestions, a 404): every family is
//! there, parses as the Prometheus text format, and holds sensible values; no user data
//! appears in it. On a public bind it is not served on the main port, only on
//! `OSTS_METRICS_BIND`.

mod support;

use std::collections::{BTreeMap, HashMap};

use reqwest::Method as M;
use serde_json::json;
use support::{call, confirmation_token, eml_files, free_port, osts, Server, TempDir};

/// One sample: its labels and value.
type Sample = (BTreeMap<String, String>, f64);

/// The text format parsed: samples by metric name, and each family's declared type.
struct Scraped {
    samples: HashMap<String, Vec<Sample>>,
    types: HashMap<String, String>,
}

impl Scraped {
    fn parse(text: &str) -> Self {
        let mut samples: HashMap<String, Vec<Sample>> = HashMap::new();
        let mut types = HashMap::new();
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            if let Some(declaration) = line.strip_prefix("# TYPE ") {
                let (name, kind) = declaration.split_once(' ').expect("# TYPE name kind");
                types.insert(name.to_owned(), kind.to_owned());
                continue;
            }
            if line.starts_with('#') {
                continue;
            }
            let (series, value) = line.rsplit_once(' ').unwrap_or_else(|| panic!("no value: {line}"));
            let value: f64 = value.parse().unwrap_or_else(|_| panic!("not a number: {line}"));
            let (name, labels) = match series.split_once('{') {
                Some((name, rest)) => {
                    let body = rest.strip_suffix('}').unwrap_or_else(|| panic!("unclosed labels: {line}"));
                    let labels = body
                        .split("\",")
                        .filter(|pair| !pair.is_empty())
                        .map(|pair| {
                            let (k, v) = pair.split_once("=\"").unwrap_or_else(|| panic!("bad label in {line}"));
                            (k.to_owned(), v.trim_end_matches('"').to_owned())
                        })
                        .collect();
                    (name, labels)
                }
                None => (series, BTreeMap::new()),
            };
            assert!(name.starts_with("osts_"), "every family has the osts_ prefix: {line}");
            samples.entry(name.to_owned()).or_default().push((labels, value));
        }
        Self { samples, types }
    }

    /// The value of `name` with exactly the labels `labels` names (others may exist).
    fn value(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        self.samples.get(name)?.iter().find_map(|(have, value)| {
            labels.iter().all(|(k, v)| have.get(*k).is_some_and(|h| h == v)).then_some(*value)
        })
    }

    /// Like [`Self::value`], failing the test when absent.
    fn get(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.value(name, labels)
            .unwrap_or_else(|| panic!("no {name}{labels:?} in the scrape, only {:?}", self.samples.get(name)))
    }

    /// The sum of `name` over every label set matching `labels`.
    fn sum(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.samples
            .get(name)
            .into_iter()
            .flatten()
            .filter(|(have, _)| labels.iter().all(|(k, v)| have.get(*k).is_some_and(|h| h == v)))
            .map(|(_, v)| v)
            .sum()
    }

    fn kind(&self, family: &str) -> &str {
        self.types.get(family).map_or("", String::as_str)
    }
}

async fn scrape(client: &reqwest::Client, base: &str) -> (u16, String, String) {
    let resp = client.get(format!("{base}/metrics")).send().await.unwrap();
    let status = resp.status().as_u16();
    let content_type = resp.headers().get("content-type").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
    (status, content_type, resp.text().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scrape_after_traffic_shows_every_family_with_sensible_values() {
    let dir = TempDir::new("osts-metrics");
    let admin_password = "admin password for metrics";
    let out = osts(
        &dir.0,
        &["admin", "create", "--email", "head@uni.edu", "--name", "Head"],
        &[("OSTS_ADMIN_PASSWORD", admin_password)],
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let server = Server::start(&dir.0, &[("OSTS_STUDENT_EMAIL_DOMAINS", "uni.edu")], None);
    let base = format!("{}/api/v1", server.base);
    let c = reqwest::Client::new();

    let login = json!({"email": "head@uni.edu", "password": admin_password});
    let (s, session) = call(&c, M::POST, format!("{base}/auth/login"), None, Some(login)).await;
    assert_eq!(s, 200, "{session}");
    let admin = session["token"].as_str().unwrap().to_owned();
    let (s, category) =
        call(&c, M::POST, format!("{base}/categories"), Some(&admin), Some(json!({"name": "Exams"}))).await;
    assert_eq!(s, 201, "{category}");

    let mut students = Vec::new();
    for email in ["ada.lovelace@uni.edu", "bo.carter@uni.edu"] {
        let body =
            json!({"email": email, "display_name": "Student", "password": "student password 1", "role": "student"});
        let (s, account) = call(&c, M::POST, format!("{base}/auth/register"), None, Some(body)).await;
        assert_eq!(s, 201, "{account}");
        let token = confirmation_token(email, || eml_files(&dir.0)).await;
        let (s, _) = call(&c, M::POST, format!("{base}/auth/confirm"), None, Some(json!({ "token": token }))).await;
        assert_eq!(s, 200);
        let login = json!({"email": email, "password": "student password 1"});
        let (s, session) = call(&c, M::POST, format!("{base}/auth/login"), None, Some(login)).await;
        assert_eq!(s, 200, "{session}");
        students.push(session["token"].as_str().unwrap().to_owned());
    }
    let (ada, bo) = (&students[0], &students[1]);

    let mut numbers = Vec::new();
    for title in ["Quiz 2 grade is missing", "Library login fails", "Exam room is unknown"] {
        let body =
            json!({"title": title, "description": "Details of a private concern.", "category_id": category["id"]});
        let (s, ticket) = call(&c, M::POST, format!("{base}/tickets"), Some(ada), Some(body)).await;
        assert_eq!(s, 201, "{ticket}");
        numbers.push(ticket["number"].as_i64().unwrap());
    }
    let (s, _) = call(&c, M::PUT, format!("{base}/tickets/{}/vote", numbers[0]), Some(bo), None).await;
    assert_eq!(s, 200);
    let (s, _) = call(&c, M::PUT, format!("{base}/tickets/{}/vote", numbers[0]), Some(bo), None).await;
    assert_eq!(s, 200, "a repeated vote changes nothing and is not counted");
    let answer = json!({"answer": "It is on the portal now."});
    let (s, _) = call(&c, M::POST, format!("{base}/tickets/{}/resolve", numbers[1]), Some(&admin), Some(answer)).await;
    assert_eq!(s, 200);
    let (s, _) = call(&c, M::GET, format!("{base}/tickets/similar?title=quiz%20grade"), Some(bo), None).await;
    assert_eq!(s, 200);
    let (s, _) = call(&c, M::GET, format!("{base}/tickets/{}", numbers[2]), Some(ada), None).await;
    assert_eq!(s, 200);
    let (s, _) = call(&c, M::GET, format!("{}/no/such/page/4242", server.base), None, None).await;
    assert_eq!(s, 404);

    let (status, content_type, text) = scrape(&c, &server.base).await;
    assert_eq!(status, 200);
    assert!(content_type.starts_with("text/plain; version=0.0.4"), "{content_type}");
    let m = Scraped::parse(&text);

    // HTTP: by route template, method and status class; raw paths never become labels.
    assert_eq!(
        m.get("osts_http_requests_total", &[("method", "POST"), ("route", "/api/v1/tickets"), ("status", "2xx")]),
        3.0
    );
    let vote = [("method", "PUT"), ("route", "/api/v1/tickets/{param0}/vote"), ("status", "2xx")];
    assert_eq!(m.get("osts_http_requests_total", &vote), 2.0);
    assert!(m.get("osts_http_requests_total", &[("route", "unmatched"), ("status", "4xx")]) >= 1.0);
    assert!(!text.contains("4242"), "a raw path leaked into the labels");
    assert_eq!(m.kind("osts_http_request_duration_seconds"), "histogram");
    let ticket_route = [("method", "POST"), ("route", "/api/v1/tickets")];
    assert_eq!(m.get("osts_http_request_duration_seconds_count", &ticket_route), 3.0);
    let sum = m.get("osts_http_request_duration_seconds_sum", &ticket_route);
    assert!(sum > 0.0 && sum < 30.0, "three requests took {sum} s");
    assert_eq!(
        m.get("osts_http_request_duration_seconds_bucket", &[("route", "/api/v1/tickets"), ("le", "+Inf")]),
        3.0
    );

    // The database: statement latency and the pool.
    assert!(m.get("osts_db_query_duration_seconds_count", &[("outcome", "ok")]) > 10.0);
    assert_eq!(m.kind("osts_db_query_duration_seconds"), "histogram");
    let max = m.get("osts_db_pool_max_connections", &[]);
    assert_eq!(max, 10.0);
    let open = m.get("osts_db_pool_connections", &[("state", "idle")])
        + m.get("osts_db_pool_connections", &[("state", "in_use")]);
    assert!((1.0..=max).contains(&open), "{open} connections open");

    // The outbox, for every channel: confirmation and notification emails were written.
    assert!(m.get("osts_outbox_depth", &[("channel", "email")]) >= 0.0);
    let age = m.get("osts_outbox_oldest_age_seconds", &[("channel", "email")]);
    assert!((0.0..3600.0).contains(&age), "oldest pending email is {age} s old");
    assert_eq!(m.get("osts_dead_letters", &[("channel", "email")]), 0.0);

    // Suggestions and the semantic stage (switched off here).
    assert!(m.get("osts_similar_duration_seconds_count", &[("stage", "total")]) >= 1.0);
    assert!(m.get("osts_similar_duration_seconds_count", &[("stage", "lexical")]) >= 1.0);
    assert_eq!(m.get("osts_semantic_ready", &[]), 0.0);
    assert_eq!(m.get("osts_semantic_state", &[("state", "disabled")]), 1.0);
    assert_eq!(m.get("osts_semantic_state", &[("state", "ready")]), 0.0);

    // Business counters.
    assert_eq!(m.get("osts_tickets_created_total", &[]), 3.0);
    assert_eq!(m.get("osts_votes_total", &[("action", "cast")]), 1.0);
    assert_eq!(m.get("osts_resolutions_total", &[]), 1.0);
    assert_eq!(m.kind("osts_tickets_created_total"), "counter");

    // Every registered job, up and running.
    for job in ["delivery", "digests", "auto_close", "embedding", "lexical", "vectors", "statistics"] {
        assert_eq!(m.get("osts_job_up", &[("job", job)]), 1.0, "{job}");
        assert!(m.get("osts_job_runs_total", &[("job", job)]) >= 1.0, "{job}");
    }
    assert_eq!(m.sum("osts_job_failing", &[]), 0.0);
    let last = m.get("osts_job_last_success_timestamp_seconds", &[("job", "delivery")]);
    let now = chrono::Utc::now().timestamp() as f64;
    assert!((now - 600.0..=now + 1.0).contains(&last), "last delivery success at {last}, now {now}");

    // No user data: no address, title, description or token.
    for private in ["ada.lovelace", "uni.edu", "Quiz 2", "private concern", admin.as_str(), ada.as_str()] {
        assert!(!text.contains(private), "{private:?} in /metrics");
    }
    assert!(server.stop());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_a_public_bind_metrics_are_served_only_on_their_own_address() {
    let dir = TempDir::new("osts-metrics-bind");
    let server = Server::start(&dir.0, &[("OSTS_BIND", "0.0.0.0:0")], None);
    let port = server.base.rsplit(':').next().unwrap().to_owned();
    let main = format!("http://127.0.0.1:{port}");
    let c = reqwest::Client::new();
    assert_eq!(scrape(&c, &main).await.0, 404, "off on a public bind without OSTS_METRICS_BIND");
    assert!(server.stop());

    let metrics_port = free_port().to_string();
    let metrics_bind = format!("127.0.0.1:{metrics_port}");
    let server = Server::start(&dir.0, &[("OSTS_BIND", "0.0.0.0:0"), ("OSTS_METRICS_BIND", &metrics_bind)], None);
    let port = server.base.rsplit(':').next().unwrap().to_owned();
    assert_eq!(scrape(&c, &format!("http://127.0.0.1:{port}")).await.0, 404, "not on the main port");
    let (status, _, text) = scrape(&c, &format!("http://{metrics_bind}")).await;
    assert_eq!(status, 200);
    assert!(Scraped::parse(&text).value("osts_job_up", &[("job", "delivery")]).is_some(), "{text}");
    let (status, _) = call(&c, M::GET, format!("http://{metrics_bind}/api/v1/me"), None, None).await;
    assert_eq!(status, 404, "the metrics address serves nothing else");
    assert!(server.stop());
}
