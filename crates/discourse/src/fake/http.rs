//! The fake forum's HTTP side: every request is recorded, then (in this order) a queued
//! fault may answer it, the `Api-Key`/`Api-Username` pair must resolve to a user (403
//! `invalid_access`; 404 under `/admin`), the admin API limit may refuse it (429 with
//! `extras.wait_seconds`, `Retry-After` and `Discourse-Rate-Limit-Error-Code`), and then the
//! route runs against [`Forum`]. Parameters are read as Rails reads them: the query string
//! and a JSON or form body together, `name[]` as an array. Paths take the `.json` suffix or
//! not. Answers carry `X-Discourse-Route` and `X-Discourse-Username` like Discourse's.

use std::sync::{Arc, PoisonError};
use std::time::{Duration, Instant};

use poem::http::StatusCode;
use poem::{Request, Response};
use serde_json::{json, Map, Value};

use super::forum::{Body, Emit, Reply, User};
use super::{Fault, Recorded, Shared};

/// The fake as a poem endpoint.
pub(crate) struct FakeEndpoint(pub Arc<Shared>);

impl poem::Endpoint for FakeEndpoint {
    type Output = Response;

    async fn call(&self, mut req: Request) -> poem::Result<Response> {
        let shared = &self.0;
        let method = req.method().as_str().to_owned();
        let path = req.uri().path().to_owned();
        let query: Vec<(String, String)> =
            form_urlencoded::parse(req.uri().query().unwrap_or_default().as_bytes()).into_owned().collect();
        let header = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
        let (api_key, api_username, content_type) = (header("Api-Key"), header("Api-Username"), header("Content-Type"));
        let raw = req.take_body().into_vec().await.unwrap_or_default();
        let body: Value = if raw.is_empty() {
            Value::Null
        } else if content_type.as_deref().is_some_and(|c| c.starts_with("application/x-www-form-urlencoded")) {
            Value::Object(params_of(form_urlencoded::parse(&raw).into_owned()))
        } else {
            serde_json::from_slice(&raw).unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&raw).into_owned()))
        };
        let mut params = params_of(query.iter().cloned());
        if let Value::Object(fields) = &body {
            params.extend(fields.clone());
        }
        let key_ok = api_key.as_deref() == Some(shared.api_key.as_str());
        let mut record = Recorded {
            method: method.clone(),
            path: path.clone(),
            query,
            api_username: api_username.clone(),
            api_key_ok: key_ok,
            content_type,
            body,
            status: 0,
        };

        let fault = shared.faults.lock().unwrap_or_else(PoisonError::into_inner).pop_front();
        let mut slow = None;
        let (reply, emits, user) = match fault {
            Some(Fault::SlowAnswer(delay)) => {
                slow = Some(delay);
                self.serve(&method, &path, &params, key_ok, api_username.as_deref())
            }
            Some(fault) => (fault_reply(fault), Vec::new(), None),
            None => self.serve(&method, &path, &params, key_ok, api_username.as_deref()),
        };
        {
            let mut stats = shared.stats.lock().unwrap_or_else(PoisonError::into_inner);
            stats.requests += 1;
            if reply.status == 429 {
                stats.rate_limited += 1;
            }
        }
        record.status = reply.status;
        shared.journal.lock().unwrap_or_else(PoisonError::into_inner).push(record);
        for emit in emits {
            // Deliveries of the API's own changes are not awaited (Discourse sends them
            // from a background job).
            drop(shared.hooks.emit(emit.event, emit.event_type, &emit.payload));
        }
        if let Some(delay) = slow {
            tokio::time::sleep(delay).await;
        }
        Ok(respond(reply, &route(&method, &path), user.as_ref().map(|u| u.username.as_str())))
    }
}

impl FakeEndpoint {
    /// Authenticates, limits and routes one request.
    fn serve(
        &self,
        method: &str,
        path: &str,
        params: &Map<String, Value>,
        key_ok: bool,
        username: Option<&str>,
    ) -> (Reply, Vec<Emit>, Option<User>) {
        let shared = &self.0;
        let admin_route = path.starts_with("/admin/");
        let user = if key_ok { username.and_then(|n| shared.forum().user(n).cloned()) } else { None };
        let Some(user) = user else {
            // Admin routes sit behind a routing constraint: a bad key is a missing page.
            return (if admin_route { Reply::not_found() } else { Reply::bad_credentials() }, Vec::new(), None);
        };
        if let Some(wait) = shared.take_rate_slot() {
            return (rate_limited(wait), Vec::new(), Some(user));
        }
        let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
        let last = segments.len() - 1;
        let segments: Vec<&str> =
            segments.iter().enumerate().map(|(i, s)| if i == last { s.trim_end_matches(".json") } else { s }).collect();
        let id = |i: usize| segments.get(i).and_then(|s| s.parse::<i64>().ok());
        let mut forum = shared.forum();
        let (reply, emits) = match (method, segments.as_slice()) {
            ("POST", ["posts"]) => forum.create_post(&user, params),
            ("DELETE", ["posts", _]) => match id(1) {
                Some(pid) => (forum.delete_post(&user, pid), Vec::new()),
                None => (Reply::not_found(), Vec::new()),
            },
            ("GET", ["t", "external_id", external_id]) => {
                (forum.find_external(&user, external_id, &shared.base_url()), Vec::new())
            }
            ("GET", ["t", _]) | ("GET", ["t", _, _]) if id(segments.len() - 1).is_some() => {
                (forum.show_topic(&user, id(segments.len() - 1).unwrap_or_default()), Vec::new())
            }
            ("GET", ["t", _, "posts"]) => match id(1) {
                Some(tid) => (forum.some_posts(&user, tid, params), Vec::new()),
                None => (Reply::not_found(), Vec::new()),
            },
            ("PUT", ["t", _, "status"]) => match id(1) {
                Some(tid) => forum.set_status(&user, tid, params),
                None => (Reply::not_found(), Vec::new()),
            },
            ("PUT", ["t", _, "convert-topic", to]) => match id(1) {
                Some(tid) => (forum.convert(&user, tid, to, params), Vec::new()),
                None => (Reply::not_found(), Vec::new()),
            },
            ("POST", ["t", _, "merge-topic"]) => match id(1) {
                Some(tid) => (forum.merge(&user, tid, params), Vec::new()),
                None => (Reply::not_found(), Vec::new()),
            },
            ("POST", ["t", _, "invite-group"]) => match id(1) {
                Some(tid) => (forum.invite_group(&user, tid, params), Vec::new()),
                None => (Reply::not_found(), Vec::new()),
            },
            ("GET", ["search"]) => (forum.search(&user, params), Vec::new()),
            // Admin routes answer a non-admin as a missing page.
            ("GET", ["admin", "users", "list", flag]) if user.admin => (forum.list_users(flag, params), Vec::new()),
            ("POST", ["admin", "users", "sync_sso"]) => match (&shared.connect, user.admin) {
                (Some(connect), true) => (forum.sync_sso(connect, params), Vec::new()),
                // DiscourseConnect off (or not an admin): `render body: nil, status: 404`.
                _ => (Reply { status: 404, body: Body::Empty, headers: Vec::new() }, Vec::new()),
            },
            _ => (Reply::not_found(), Vec::new()),
        };
        (reply, emits, Some(user))
    }
}

/// Query pairs or form fields as Rails params: `name[]` collects into an array `name`.
fn params_of(pairs: impl Iterator<Item = (String, String)>) -> Map<String, Value> {
    let mut params = Map::new();
    for (key, value) in pairs {
        if let Some(name) = key.strip_suffix("[]") {
            let entry = params.entry(name.to_owned()).or_insert_with(|| json!([]));
            if let Value::Array(items) = entry {
                items.push(Value::String(value));
            }
        } else {
            params.insert(key, Value::String(value));
        }
    }
    params
}

/// The answer a queued fault gives in place of the forum's.
fn fault_reply(fault: Fault) -> Reply {
    match fault {
        Fault::RateLimited { wait_seconds } => rate_limited(Duration::from_secs(wait_seconds)),
        Fault::RateLimitedPlain { wait_seconds } => Reply {
            status: 429,
            body: Body::Text(format!(
                "Slow down, too many requests from this IP address.\nPlease retry again in {wait_seconds} seconds.\nError code: ip_10_secs_limit.\n"
            )),
            headers: vec![
                ("Retry-After", wait_seconds.to_string()),
                ("Discourse-Rate-Limit-Error-Code", "ip_10_secs_limit".into()),
            ],
        },
        Fault::Status { status, body } => {
            let body = match serde_json::from_str::<Value>(&body) {
                Ok(json @ (Value::Object(_) | Value::Array(_))) => Body::Json(json),
                _ => Body::Text(body),
            };
            Reply { status, body, headers: Vec::new() }
        }
        Fault::SlowAnswer(_) => unreachable!("a slow answer is the forum's own"),
    }
}

/// 429 of the admin API limiter.
fn rate_limited(wait: Duration) -> Reply {
    let seconds = wait.as_secs_f64().ceil().max(1.0) as u64;
    let mut reply = Reply::json(
        429,
        json!({
            "errors": [format!("You’ve performed this action too many times. Please wait {seconds} seconds before trying again.")],
            "error_type": "rate_limit",
            "extras": {"wait_seconds": seconds, "time_left": format!("{seconds} seconds")},
        }),
    );
    reply.headers.push(("Retry-After", seconds.to_string()));
    reply.headers.push(("Discourse-Rate-Limit-Error-Code", "admin_api_key_rate_limit".into()));
    reply
}

/// `controller/action`, as `X-Discourse-Route` names it.
fn route(method: &str, path: &str) -> String {
    let p = path.trim_end_matches(".json");
    let route = match method {
        "POST" if p == "/posts" => "posts/create",
        "DELETE" if p.starts_with("/posts/") => "posts/destroy",
        "GET" if p.starts_with("/t/external_id/") => "topics/show_by_external_id",
        "GET" if p.ends_with("/posts") => "topics/posts",
        "GET" if p.starts_with("/t/") => "topics/show",
        "PUT" if p.ends_with("/status") => "topics/status",
        "PUT" if p.contains("/convert-topic/") => "topics/convert_topic",
        "POST" if p.ends_with("/merge-topic") => "topics/merge_topic",
        "POST" if p.ends_with("/invite-group") => "topics/invite_group",
        "GET" if p == "/search" => "search/show",
        "POST" if p == "/admin/users/sync_sso" => "admin/users/sync_sso",
        "GET" if p.starts_with("/admin/users/list/") => "admin/users/index",
        _ => "exceptions/not_found",
    };
    route.to_owned()
}

fn respond(reply: Reply, route: &str, username: Option<&str>) -> Response {
    let mut builder = Response::builder()
        .status(StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR))
        .header("X-Discourse-Route", route);
    if let Some(username) = username {
        builder = builder.header("X-Discourse-Username", username);
    }
    for (name, value) in reply.headers {
        builder = builder.header(name, value);
    }
    match reply.body {
        Body::Json(v) => builder.content_type("application/json; charset=utf-8").body(v.to_string()),
        Body::Text(t) if t.is_empty() => builder.body(""),
        Body::Text(t) => builder.content_type("text/plain; charset=utf-8").body(t),
        Body::Empty => builder.body(""),
    }
}

impl Shared {
    /// A slot of the admin API limit, or how long until one frees.
    pub(crate) fn take_rate_slot(&self) -> Option<Duration> {
        let mut limit = self.limit.lock().unwrap_or_else(PoisonError::into_inner);
        let (config, times) = &mut *limit;
        let config = (*config)?;
        let now = Instant::now();
        while times.front().is_some_and(|t| now.saturating_duration_since(*t) >= config.window) {
            times.pop_front();
        }
        if times.len() < config.requests.max(1) as usize {
            times.push_back(now);
            return None;
        }
        let oldest = *times.front().unwrap_or(&now);
        Some(config.window.saturating_sub(now.saturating_duration_since(oldest)))
    }
}
