//! The fake forum's state and its rules: users and groups, categories, topics (regular and
//! private messages), posts, and what each operation does and refuses, with Discourse's
//! answer shapes (`discourse-and-chat-notes.md` sections 1.3 and 1.5). Pure and synchronous:
//! the HTTP layer ([`super::http`]) parses, authenticates and limits; this decides.
//!
//! Where the notes could not verify Discourse's exact English wording, the fake's messages
//! are its own; their shapes (`errors` array, `error_type`, `{action, errors}`,
//! `{"failed": "FAILED"}`) are Discourse's.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::{Duration, Instant};

use base64::Engine as _;
use chrono::{DateTime, Utc};
use serde_json::{json, Map, Value};

use super::{FakePost, FakeTopic, FakeUser};

/// Regular post.
pub(crate) const REGULAR: i64 = 1;
/// "Closed this topic" and the like.
pub(crate) const SMALL_ACTION: i64 = 3;

/// An answer of the fake: status, body and extra headers.
#[derive(Debug, Clone)]
pub(crate) struct Reply {
    pub status: u16,
    pub body: Body,
    pub headers: Vec<(&'static str, String)>,
}

/// An answer's body.
#[derive(Debug, Clone)]
pub(crate) enum Body {
    Json(Value),
    Text(String),
    Empty,
}

impl Reply {
    pub(crate) fn json(status: u16, body: Value) -> Self {
        Self { status, body: Body::Json(body), headers: Vec::new() }
    }

    pub(crate) fn ok(body: Value) -> Self {
        Self::json(200, body)
    }

    /// 200 with an empty body (`render body: nil`).
    pub(crate) fn empty() -> Self {
        Self { status: 200, body: Body::Empty, headers: Vec::new() }
    }

    /// 404 `not_found`.
    pub(crate) fn not_found() -> Self {
        Self::json(
            404,
            json!({"errors": ["The requested URL or resource could not be found."], "error_type": "not_found"}),
        )
    }

    /// 403 `invalid_access`.
    pub(crate) fn invalid_access() -> Self {
        Self::json(
            403,
            json!({"errors": ["You are not permitted to view the requested resource."], "error_type": "invalid_access"}),
        )
    }

    /// 403 for a key or username that does not resolve.
    pub(crate) fn bad_credentials() -> Self {
        Self::json(
            403,
            json!({"errors": ["You are not permitted to view the requested resource. The API username or key is invalid."],
                   "error_type": "invalid_access"}),
        )
    }

    /// 422 of `POST /posts.json`: `{action, errors}`, no `error_type`.
    pub(crate) fn create_failed(errors: &[&str]) -> Self {
        Self::json(422, json!({"action": "create_post", "errors": errors}))
    }

    /// 400 `invalid_parameters`.
    pub(crate) fn invalid_parameters(name: &str) -> Self {
        Self::json(
            400,
            json!({"errors": [format!("You supplied invalid parameters to the request: {name}")], "error_type": "invalid_parameters"}),
        )
    }

    /// 400 of a required parameter left out (`ActionController::ParameterMissing`).
    pub(crate) fn param_missing(name: &str) -> Self {
        Self::json(400, json!({"errors": [format!("param is missing or the value is empty: {name}")]}))
    }

    /// 422 `{"errors": [..]}` (`render_json_error`).
    pub(crate) fn unprocessable(message: &str) -> Self {
        Self::json(422, json!({"errors": [message]}))
    }

    /// 422 `{"failed": "FAILED"}` (`failed_json`), with a message where Discourse adds one.
    pub(crate) fn failed(message: Option<&str>) -> Self {
        let mut body = json!({"failed": "FAILED"});
        if let Some(message) = message {
            body["message"] = json!(message);
        }
        Self::json(422, body)
    }
}

/// A webhook the forum emits after an operation: event name, event type, payload.
#[derive(Debug, Clone)]
pub(crate) struct Emit {
    pub event: &'static str,
    pub event_type: &'static str,
    pub payload: Value,
}

#[derive(Debug, Clone)]
pub(crate) struct User {
    pub id: i64,
    pub username: String,
    pub email: String,
    pub name: String,
    pub external_id: Option<String>,
    pub admin: bool,
    pub moderator: bool,
    /// Lower-case group names.
    pub groups: BTreeSet<String>,
}

impl User {
    fn staff(&self) -> bool {
        self.admin || self.moderator
    }
}

#[derive(Debug, Clone)]
struct Topic {
    id: i64,
    title: String,
    slug: String,
    private: bool,
    category_id: Option<i64>,
    external_id: Option<String>,
    closed: bool,
    archived: bool,
    deleted: bool,
    user_id: i64,
    created_at: DateTime<Utc>,
    allowed_users: BTreeSet<i64>,
    /// Lower-case group names.
    allowed_groups: BTreeSet<String>,
    highest_post_number: i64,
}

#[derive(Debug, Clone)]
struct Post {
    id: i64,
    topic_id: i64,
    post_number: i64,
    user_id: i64,
    raw: String,
    cooked: String,
    created_at: DateTime<Utc>,
    post_type: i64,
    action_code: Option<String>,
    deleted_at: Option<DateTime<Utc>>,
    likers: BTreeSet<i64>,
}

/// Counters the tests and the benchmark read.
#[derive(Debug, Clone, Default)]
pub(crate) struct Counters {
    pub topics_created: u64,
    pub posts_created: u64,
    pub memo_hits: u64,
}

/// The whole forum.
#[derive(Debug)]
pub(crate) struct Forum {
    users: Vec<User>,
    /// Group id and name.
    groups: Vec<(i64, String)>,
    /// Category id and name, lowest id first.
    categories: Vec<(i64, String)>,
    topics: BTreeMap<i64, Topic>,
    posts: BTreeMap<i64, Post>,
    next_topic: i64,
    next_post: i64,
    next_user: i64,
    /// Identical creates within the memo window: key → (when, answer).
    memo: HashMap<String, (Instant, Value)>,
    memo_window: Duration,
    chunk_size: usize,
    pub counters: Counters,
}

/// An integer parameter: a JSON number or a numeric string (form bodies and queries).
pub(crate) fn int(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// A string parameter, trimmed; `None` when absent or blank.
fn text<'a>(params: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    params.get(key).and_then(Value::as_str).map(str::trim).filter(|s| !s.is_empty())
}

fn slugify(title: &str) -> String {
    let mut slug = String::new();
    for c in title.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_alphanumeric() {
            slug.push(c);
        } else if !slug.ends_with('-') && !slug.is_empty() {
            slug.push('-');
        }
    }
    let slug = slug.trim_end_matches('-').to_owned();
    if slug.is_empty() {
        "topic".to_owned()
    } else {
        slug
    }
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

fn cook(raw: &str) -> String {
    raw.split("\n\n").filter(|p| !p.trim().is_empty()).map(|p| format!("<p>{}</p>", escape(p.trim()))).collect()
}

fn stamp(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

/// Canonical JSON (keys sorted), for the memo key.
fn canonical(v: &Value) -> String {
    match v {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            let inner: Vec<String> = keys.iter().map(|k| format!("{}:{}", json!(k), canonical(&map[*k]))).collect();
            format!("{{{}}}", inner.join(","))
        }
        Value::Array(items) => format!("[{}]", items.iter().map(canonical).collect::<Vec<_>>().join(",")),
        other => other.to_string(),
    }
}

impl Forum {
    /// A forum with the system user, `groups` and `categories`.
    pub(crate) fn new(
        groups: &[String],
        categories: &[(i64, String)],
        memo_window: Duration,
        chunk_size: usize,
    ) -> Self {
        let system = User {
            id: -1,
            username: "system".into(),
            email: "no_email".into(),
            name: "system".into(),
            external_id: None,
            admin: true,
            moderator: true,
            groups: BTreeSet::new(),
        };
        let mut categories = categories.to_vec();
        categories.sort();
        Self {
            users: vec![system],
            groups: groups.iter().enumerate().map(|(i, g)| (41 + i as i64, g.clone())).collect(),
            categories,
            topics: BTreeMap::new(),
            posts: BTreeMap::new(),
            next_topic: 1,
            next_post: 1,
            next_user: 1,
            memo: HashMap::new(),
            memo_window,
            chunk_size: chunk_size.max(1),
            counters: Counters::default(),
        }
    }

    // ---- users and groups --------------------------------------------------------------

    /// The user called `username` (case-insensitive).
    pub(crate) fn user(&self, username: &str) -> Option<&User> {
        self.users.iter().find(|u| u.username.eq_ignore_ascii_case(username.trim()))
    }

    fn user_by_id(&self, id: i64) -> Option<&User> {
        self.users.iter().find(|u| u.id == id)
    }

    fn group(&self, name: &str) -> Option<&(i64, String)> {
        self.groups.iter().find(|(_, g)| g.eq_ignore_ascii_case(name.trim()))
    }

    /// Adds (or returns) a user.
    pub(crate) fn add_user(&mut self, username: &str, email: &str) -> User {
        if let Some(u) = self.user(username) {
            return u.clone();
        }
        let user = User {
            id: self.next_user,
            username: username.trim().to_owned(),
            email: email.to_owned(),
            name: username.trim().to_owned(),
            external_id: None,
            admin: false,
            moderator: false,
            groups: BTreeSet::new(),
        };
        self.next_user += 1;
        self.users.push(user.clone());
        user
    }

    /// Puts a user in a group (made if unknown).
    pub(crate) fn add_to_group(&mut self, username: &str, group: &str) -> bool {
        if self.group(group).is_none() {
            let id = 41 + self.groups.len() as i64;
            self.groups.push((id, group.trim().to_owned()));
        }
        let group = group.trim().to_lowercase();
        match self.users.iter_mut().find(|u| u.username.eq_ignore_ascii_case(username.trim())) {
            Some(user) => {
                user.groups.insert(group);
                true
            }
            None => false,
        }
    }

    // ---- permissions -------------------------------------------------------------------

    fn can_see(&self, user: &User, topic: &Topic) -> bool {
        !topic.deleted
            && (!topic.private
                || user.staff()
                || topic.allowed_users.contains(&user.id)
                || user.groups.iter().any(|g| topic.allowed_groups.contains(g)))
    }

    fn can_post(&self, user: &User, topic: &Topic) -> bool {
        self.can_see(user, topic) && !topic.archived && (!topic.closed || user.staff())
    }

    // ---- snapshots for tests -------------------------------------------------------------

    pub(crate) fn snapshot_topic(&self, id: i64) -> Option<FakeTopic> {
        let t = self.topics.get(&id)?;
        let name = |id: &i64| self.user_by_id(*id).map(|u| u.username.clone()).unwrap_or_default();
        Some(FakeTopic {
            id: t.id,
            title: t.title.clone(),
            slug: t.slug.clone(),
            private: t.private,
            category_id: t.category_id,
            external_id: t.external_id.clone(),
            closed: t.closed,
            archived: t.archived,
            deleted: t.deleted,
            allowed_users: t.allowed_users.iter().map(name).collect(),
            allowed_groups: t.allowed_groups.iter().cloned().collect(),
            posts_count: self.visible_posts(t.id).filter(|p| p.post_type == REGULAR).count(),
        })
    }

    pub(crate) fn topic_ids(&self) -> Vec<i64> {
        self.topics.keys().copied().collect()
    }

    pub(crate) fn topic_by_external_id(&self, external_id: &str) -> Option<i64> {
        self.topics.values().find(|t| !t.deleted && t.external_id.as_deref() == Some(external_id)).map(|t| t.id)
    }

    pub(crate) fn snapshot_posts(&self, topic_id: i64) -> Vec<FakePost> {
        let mut posts: Vec<&Post> = self.posts.values().filter(|p| p.topic_id == topic_id).collect();
        posts.sort_by_key(|p| p.post_number);
        posts.into_iter().map(|p| self.snapshot_post(p)).collect()
    }

    fn snapshot_post(&self, p: &Post) -> FakePost {
        FakePost {
            id: p.id,
            topic_id: p.topic_id,
            post_number: p.post_number,
            username: self.user_by_id(p.user_id).map(|u| u.username.clone()).unwrap_or_default(),
            raw: p.raw.clone(),
            post_type: p.post_type,
            deleted: p.deleted_at.is_some(),
            like_count: p.likers.len(),
        }
    }

    pub(crate) fn snapshot_user(&self, username: &str) -> Option<FakeUser> {
        let u = self.user(username)?;
        Some(FakeUser {
            id: u.id,
            username: u.username.clone(),
            email: u.email.clone(),
            name: u.name.clone(),
            external_id: u.external_id.clone(),
            admin: u.admin,
            moderator: u.moderator,
            groups: u.groups.iter().cloned().collect(),
        })
    }

    fn visible_posts(&self, topic_id: i64) -> impl Iterator<Item = &Post> {
        self.posts.values().filter(move |p| p.topic_id == topic_id && p.deleted_at.is_none())
    }

    // ---- serializers -------------------------------------------------------------------

    fn basic_user(&self, id: i64) -> Value {
        let u = self.user_by_id(id);
        json!({
            "id": id,
            "username": u.map(|u| u.username.as_str()).unwrap_or(""),
            "name": u.map(|u| u.name.as_str()).unwrap_or(""),
            "avatar_template": "/letter_avatar_proxy/v4/letter/a/8e7dd6/{size}.png",
        })
    }

    /// A post as `PostSerializer` shows it (the keys the spec's create answer requires).
    fn post_json(&self, p: &Post) -> Value {
        let topic = &self.topics[&p.topic_id];
        let u = self.user_by_id(p.user_id);
        let username = u.map(|u| u.username.clone()).unwrap_or_default();
        let staff = u.is_some_and(User::staff);
        let mut post = json!({
            "id": p.id,
            "name": u.map(|u| u.name.clone()),
            "username": username,
            "avatar_template": "/letter_avatar_proxy/v4/letter/a/8e7dd6/{size}.png",
            "created_at": stamp(p.created_at),
            "cooked": p.cooked,
            "post_number": p.post_number,
            "post_type": p.post_type,
            "posts_count": self.visible_posts(p.topic_id).count(),
            "updated_at": stamp(p.created_at),
            "reply_count": 0,
            "reply_to_post_number": null,
            "quote_count": 0,
            "incoming_link_count": 0,
            "reads": 1,
            "readers_count": 0,
            "score": 0,
            "yours": false,
            "topic_id": p.topic_id,
            "topic_slug": topic.slug,
            "display_username": u.map(|u| u.name.clone()),
            "primary_group_name": null,
            "flair_name": null,
            "flair_url": null,
            "flair_bg_color": null,
            "flair_color": null,
            "version": 1,
        });
        let more = json!({
            "can_edit": true,
            "can_delete": true,
            "can_recover": false,
            "can_wiki": true,
            "user_title": null,
            "bookmarked": false,
            "actions_summary": [],
            "moderator": u.is_some_and(|u| u.moderator),
            "admin": u.is_some_and(|u| u.admin),
            "staff": staff,
            "user_id": p.user_id,
            "draft_sequence": 0,
            "hidden": false,
            "trust_level": if staff { 4 } else { 1 },
            "deleted_at": p.deleted_at.map(stamp),
            "user_deleted": false,
            "edit_reason": null,
            "can_view_edit_history": true,
            "wiki": false,
            "reviewable_id": 0,
            "reviewable_score_count": 0,
            "reviewable_score_pending_count": 0,
            "post_url": format!("/t/{}/{}/{}", topic.slug, topic.id, p.post_number),
            "action_code": p.action_code,
            "like_count": p.likers.len(),
            "raw": p.raw,
        });
        if let (Some(post), Value::Object(more)) = (post.as_object_mut(), more) {
            post.extend(more);
        }
        post
    }

    /// A post as a webhook carries it (`WebHookPostSerializer`).
    fn post_hook_json(&self, p: &Post) -> Value {
        let topic = &self.topics[&p.topic_id];
        let mut post = self.post_json(p);
        let map = post.as_object_mut().unwrap_or_else(|| unreachable!("a post is an object"));
        for key in
            ["can_edit", "can_delete", "can_recover", "can_wiki", "can_view_edit_history", "actions_summary", "yours"]
        {
            map.remove(key);
        }
        map.insert("topic_posts_count".into(), json!(self.visible_posts(topic.id).count()));
        map.insert("topic_filtered_posts_count".into(), json!(self.visible_posts(topic.id).count()));
        map.insert("topic_archetype".into(), json!(if topic.private { "private_message" } else { "regular" }));
        map.insert("topic_title".into(), json!(topic.title));
        map.insert("category_id".into(), json!(topic.category_id));
        let slug =
            topic.category_id.and_then(|c| self.categories.iter().find(|(id, _)| *id == c)).map(|(_, n)| slugify(n));
        map.insert("category_slug".into(), json!(slug));
        post
    }

    /// A topic as a webhook carries it (`WebHookTopicViewSerializer`).
    fn topic_hook_json(&self, t: &Topic) -> Value {
        let mut topic = self.topic_head(t);
        topic["created_by"] = self.basic_user(t.user_id);
        let last = self.visible_posts(t.id).filter(|p| p.post_type == REGULAR).map(|p| p.user_id).last();
        topic["last_poster"] = self.basic_user(last.unwrap_or(t.user_id));
        topic
    }

    /// The keys a topic has in every serializer.
    fn topic_head(&self, t: &Topic) -> Value {
        let regular = self.visible_posts(t.id).filter(|p| p.post_type == REGULAR).count();
        json!({
            "id": t.id,
            "title": t.title,
            "fancy_title": escape(&t.title),
            "slug": t.slug,
            "posts_count": regular,
            "reply_count": regular.saturating_sub(1),
            "highest_post_number": t.highest_post_number,
            "created_at": stamp(t.created_at),
            "last_posted_at": stamp(t.created_at),
            "archetype": if t.private { "private_message" } else { "regular" },
            "category_id": t.category_id,
            "closed": t.closed,
            "archived": t.archived,
            "visible": true,
            "pinned": false,
            "pinned_globally": false,
            "tags": [],
            "user_id": t.user_id,
            "deleted_at": if t.deleted { Some(stamp(t.created_at)) } else { None },
            "external_id": t.external_id,
            "views": 1,
            "like_count": self.visible_posts(t.id).map(|p| p.likers.len()).sum::<usize>(),
        })
    }

    /// `GET /t/{id}.json` for `viewer`: staff also see deleted posts (with `deleted_at`).
    fn topic_view(&self, viewer: &User, t: &Topic) -> Value {
        let mut posts: Vec<&Post> =
            self.posts.values().filter(|p| p.topic_id == t.id && (p.deleted_at.is_none() || viewer.staff())).collect();
        posts.sort_by_key(|p| p.post_number);
        let stream: Vec<i64> = posts.iter().map(|p| p.id).collect();
        let chunk: Vec<Value> = posts.iter().take(self.chunk_size).map(|p| self.post_json(p)).collect();
        let mut view = self.topic_head(t);
        view["post_stream"] = json!({"posts": chunk, "stream": stream});
        let mut details = json!({
            "created_by": self.basic_user(t.user_id),
            "can_convert_topic": viewer.staff(),
            "can_move_posts": viewer.staff(),
            "can_close_topic": viewer.staff(),
            "can_archive_topic": viewer.staff(),
            "notification_level": 1,
        });
        if t.private {
            details["allowed_users"] = t.allowed_users.iter().map(|id| self.basic_user(*id)).collect();
            details["allowed_groups"] = t
                .allowed_groups
                .iter()
                .filter_map(|g| self.group(g))
                .map(|(id, name)| json!({"id": id, "name": name}))
                .collect();
        }
        view["details"] = details;
        view["participant_count"] = json!(posts.iter().map(|p| p.user_id).collect::<BTreeSet<_>>().len());
        view
    }

    // ---- operations --------------------------------------------------------------------

    fn add_post(&mut self, topic_id: i64, user_id: i64, raw: &str, post_type: i64, action_code: Option<&str>) -> i64 {
        let id = self.next_post;
        self.next_post += 1;
        let topic = self.topics.get_mut(&topic_id).unwrap_or_else(|| unreachable!("posts go into known topics"));
        topic.highest_post_number += 1;
        let post = Post {
            id,
            topic_id,
            post_number: topic.highest_post_number,
            user_id,
            raw: raw.to_owned(),
            cooked: cook(raw),
            created_at: Utc::now(),
            post_type,
            action_code: action_code.map(str::to_owned),
            deleted_at: None,
            likers: BTreeSet::new(),
        };
        self.posts.insert(id, post);
        if post_type == REGULAR {
            self.counters.posts_created += 1;
        }
        id
    }

    /// `POST /posts.json` as `user`, with Discourse's memo of identical creates.
    pub(crate) fn create_post(&mut self, user: &User, params: &Map<String, Value>) -> (Reply, Vec<Emit>) {
        let key = format!("{}|{}", user.id, canonical(&Value::Object(params.clone())));
        let now = Instant::now();
        let window = self.memo_window;
        self.memo.retain(|_, (at, _)| now.saturating_duration_since(*at) < window);
        if let Some((_, answer)) = self.memo.get(&key) {
            self.counters.memo_hits += 1;
            return (Reply::ok(answer.clone()), Vec::new());
        }
        let (reply, emits) = self.create_post_now(user, params);
        if let (200, Body::Json(answer)) = (reply.status, &reply.body) {
            self.memo.insert(key, (now, answer.clone()));
        }
        (reply, emits)
    }

    fn create_post_now(&mut self, user: &User, params: &Map<String, Value>) -> (Reply, Vec<Emit>) {
        let Some(raw) = text(params, "raw") else { return (Reply::param_missing("raw"), Vec::new()) };
        let raw = raw.to_owned();
        if let Some(topic_id) = params.get("topic_id").and_then(int) {
            let Some(topic) = self.topics.get(&topic_id).filter(|t| !t.deleted) else {
                return (Reply::not_found(), Vec::new());
            };
            if !self.can_post(user, topic) {
                return (Reply::invalid_access(), Vec::new());
            }
            let min = if topic.private { 10 } else { 20 };
            if raw.chars().count() < min {
                return (
                    Reply::create_failed(&[&format!("Body is too short (minimum is {min} characters)")]),
                    Vec::new(),
                );
            }
            let id = self.add_post(topic_id, user.id, &raw, REGULAR, None);
            let post = &self.posts[&id];
            let emit =
                Emit { event: "post_created", event_type: "post", payload: json!({"post": self.post_hook_json(post)}) };
            return (Reply::ok(self.post_json(post)), vec![emit]);
        }
        let private = params.get("archetype").and_then(Value::as_str) == Some("private_message");
        let mut errors: Vec<String> = Vec::new();
        let title = text(params, "title").unwrap_or_default().to_owned();
        let min_title = if private { 2 } else { 15 };
        if title.is_empty() {
            errors.push("Title can't be blank".into());
        } else if title.chars().count() < min_title {
            errors.push(format!("Title is too short (minimum is {min_title} characters)"));
        }
        let min_body = if private { 10 } else { 20 };
        if raw.chars().count() < min_body {
            errors.push(format!("Body is too short (minimum is {min_body} characters)"));
        }
        let external_id = text(params, "external_id").map(str::to_owned);
        if let Some(ext) = &external_id {
            let valid = ext.len() <= 50 && ext.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
            if !valid {
                errors.push("External ID is invalid".into());
            } else if self.topic_by_external_id(ext).is_some() {
                errors.push("External ID has already been taken".into());
            }
        }
        let mut allowed_users = BTreeSet::from([user.id]);
        let mut allowed_groups = BTreeSet::new();
        let mut category_id = None;
        if private {
            // `target_usernames` is deprecated and no longer permitted: only this counts.
            let names: Vec<&str> = text(params, "target_recipients")
                .unwrap_or_default()
                .split(',')
                .map(str::trim)
                .filter(|n| !n.is_empty())
                .collect();
            if names.is_empty() {
                errors.push("You must choose a valid user.".into());
            }
            for name in names {
                if let Some(u) = self.user(name) {
                    allowed_users.insert(u.id);
                } else if let Some((_, g)) = self.group(name) {
                    allowed_groups.insert(g.to_lowercase());
                } else {
                    errors.push(format!("Sorry, '{name}' is not a user or a group that can be messaged."));
                }
            }
        } else {
            match params.get("category") {
                None | Some(Value::Null) => category_id = self.categories.first().map(|(id, _)| *id),
                Some(v) => match int(v).filter(|id| self.categories.iter().any(|(c, _)| c == id)) {
                    Some(id) => category_id = Some(id),
                    None => errors.push("Category can't be blank".into()),
                },
            }
        }
        if !errors.is_empty() {
            let errors: Vec<&str> = errors.iter().map(String::as_str).collect();
            return (Reply::create_failed(&errors), Vec::new());
        }
        let id = self.next_topic;
        self.next_topic += 1;
        self.topics.insert(
            id,
            Topic {
                id,
                slug: slugify(&title),
                title,
                private,
                category_id,
                external_id,
                closed: false,
                archived: false,
                deleted: false,
                user_id: user.id,
                created_at: Utc::now(),
                allowed_users: if private { allowed_users } else { BTreeSet::new() },
                allowed_groups,
                highest_post_number: 0,
            },
        );
        self.counters.topics_created += 1;
        let post_id = self.add_post(id, user.id, &raw, REGULAR, None);
        let post = &self.posts[&post_id];
        let emits = vec![
            Emit {
                event: "topic_created",
                event_type: "topic",
                payload: json!({"topic": self.topic_hook_json(&self.topics[&id])}),
            },
            Emit { event: "post_created", event_type: "post", payload: json!({"post": self.post_hook_json(post)}) },
        ];
        (Reply::ok(self.post_json(post)), emits)
    }

    /// `GET /t/external_id/{id}.json`: a redirect to the topic's URL under `base`.
    pub(crate) fn find_external(&self, user: &User, external_id: &str, base: &str) -> Reply {
        match self.topic_by_external_id(external_id).map(|id| &self.topics[&id]) {
            Some(t) if self.can_see(user, t) => Reply {
                status: 301,
                body: Body::Empty,
                headers: vec![("Location", format!("{base}/t/{}/{}.json", t.slug, t.id))],
            },
            _ => Reply::not_found(),
        }
    }

    /// `GET /t/{id}.json` (also `/t/{slug}/{id}.json`).
    pub(crate) fn show_topic(&self, user: &User, id: i64) -> Reply {
        match self.topics.get(&id) {
            Some(t) if self.can_see(user, t) => Reply::ok(self.topic_view(user, t)),
            _ => Reply::not_found(),
        }
    }

    /// `GET /t/{id}/posts.json?post_ids[]=...`.
    pub(crate) fn some_posts(&self, user: &User, id: i64, params: &Map<String, Value>) -> Reply {
        let Some(t) = self.topics.get(&id).filter(|t| self.can_see(user, t)) else { return Reply::not_found() };
        let ids: Vec<i64> = match params.get("post_ids") {
            Some(Value::Array(items)) => items.iter().filter_map(int).collect(),
            Some(v) => int(v).into_iter().collect(),
            None => return Reply::param_missing("post_ids"),
        };
        let posts: Vec<Value> = ids
            .iter()
            .filter_map(|pid| self.posts.get(pid))
            .filter(|p| p.topic_id == t.id && (p.deleted_at.is_none() || user.staff()))
            .map(|p| self.post_json(p))
            .collect();
        Reply::ok(json!({"post_stream": {"posts": posts}, "id": t.id}))
    }

    /// `PUT /t/{id}/status.json`.
    pub(crate) fn set_status(&mut self, user: &User, id: i64, params: &Map<String, Value>) -> (Reply, Vec<Emit>) {
        let Some(status) = text(params, "status").map(str::to_owned) else {
            return (Reply::param_missing("status"), Vec::new());
        };
        // `params.require(:enabled)` then `params[:enabled] == "true"`: only the string
        // "true" enables; a JSON `true` disables, a JSON `false` is "missing".
        let enabled = match params.get("enabled") {
            None | Some(Value::Null) | Some(Value::Bool(false)) => {
                return (Reply::param_missing("enabled"), Vec::new())
            }
            Some(Value::String(s)) if s.trim().is_empty() => return (Reply::param_missing("enabled"), Vec::new()),
            Some(v) => v.as_str() == Some("true"),
        };
        if !["closed", "archived", "visible", "pinned", "pinned_globally"].contains(&status.as_str()) {
            return (Reply::invalid_parameters("status"), Vec::new());
        }
        let Some(topic) = self.topics.get(&id).filter(|t| self.can_see(user, t)) else {
            return (Reply::not_found(), Vec::new());
        };
        if !user.staff() {
            return (Reply::invalid_access(), Vec::new());
        }
        let changed = match status.as_str() {
            "closed" => topic.closed != enabled,
            "archived" => topic.archived != enabled,
            _ => false,
        };
        let topic = self.topics.get_mut(&id).unwrap_or_else(|| unreachable!("checked above"));
        match status.as_str() {
            "closed" => topic.closed = enabled,
            "archived" => topic.archived = enabled,
            _ => {}
        }
        let mut emits = Vec::new();
        if changed {
            let code = format!("{status}.{}", if enabled { "enabled" } else { "disabled" });
            self.add_post(id, user.id, "", SMALL_ACTION, Some(&code));
            let event =
                if status == "closed" { "topic_closed_status_updated" } else { "topic_archived_status_updated" };
            emits.push(Emit {
                event,
                event_type: "topic",
                payload: json!({"topic": self.topic_hook_json(&self.topics[&id])}),
            });
        }
        (Reply::ok(json!({"success": "OK", "topic_status_update": null})), emits)
    }

    /// `PUT /t/{id}/convert-topic/{public|private}.json`.
    pub(crate) fn convert(&mut self, user: &User, id: i64, to: &str, params: &Map<String, Value>) -> Reply {
        let Some(topic) = self.topics.get(&id).filter(|t| self.can_see(user, t)) else { return Reply::not_found() };
        if !user.staff() {
            return Reply::invalid_access();
        }
        let slug = topic.slug.clone();
        if to == "public" {
            let category = match params.get("category_id").filter(|v| !v.is_null()) {
                None => self.categories.first().map(|(c, _)| *c),
                Some(v) => match int(v).filter(|c| self.categories.iter().any(|(id, _)| id == c)) {
                    Some(c) => Some(c),
                    None => return Reply::unprocessable("Category can't be blank"),
                },
            };
            let topic = self.topics.get_mut(&id).unwrap_or_else(|| unreachable!("checked above"));
            topic.private = false;
            topic.category_id = category;
            topic.allowed_users.clear();
            topic.allowed_groups.clear();
            self.add_post(id, user.id, "", SMALL_ACTION, Some("public_topic"));
        } else {
            let posters: BTreeSet<i64> =
                self.visible_posts(id).filter(|p| p.post_type == REGULAR).map(|p| p.user_id).collect();
            let topic = self.topics.get_mut(&id).unwrap_or_else(|| unreachable!("checked above"));
            topic.private = true;
            topic.category_id = None;
            topic.allowed_users = posters;
            topic.allowed_users.insert(user.id);
            topic.allowed_groups.clear();
            self.add_post(id, user.id, "", SMALL_ACTION, Some("private_topic"));
        }
        Reply::ok(json!({"success": true, "url": format!("/t/{slug}/{id}")}))
    }

    /// `POST /t/{id}/merge-topic.json`: every post moves to the destination, which closes the
    /// source (kept, as with `delete_merged_stub_topics_after_days` > 0).
    pub(crate) fn merge(&mut self, user: &User, id: i64, params: &Map<String, Value>) -> Reply {
        let Some(into) = params.get("destination_topic_id").and_then(int) else {
            return Reply::param_missing("destination_topic_id");
        };
        let source = self.topics.get(&id).filter(|t| self.can_see(user, t));
        let destination = self.topics.get(&into).filter(|t| self.can_see(user, t));
        let (Some(_), Some(destination)) = (source, destination) else { return Reply::not_found() };
        if !user.staff() {
            return Reply::invalid_access();
        }
        if id == into {
            return Reply::unprocessable("A topic cannot be merged into itself.");
        }
        let url = format!("/t/{}/{}", destination.slug, destination.id);
        let mut moving: Vec<i64> =
            self.visible_posts(id).filter(|p| p.post_type != SMALL_ACTION).map(|p| p.id).collect();
        moving.sort_by_key(|pid| self.posts[pid].post_number);
        if moving.is_empty() {
            return Reply::ok(json!({"success": false}));
        }
        for pid in &moving {
            let dest = self.topics.get_mut(&into).unwrap_or_else(|| unreachable!("checked above"));
            dest.highest_post_number += 1;
            let number = dest.highest_post_number;
            let post = self.posts.get_mut(pid).unwrap_or_else(|| unreachable!("listed above"));
            post.topic_id = into;
            post.post_number = number;
        }
        if let Some(source) = self.topics.get_mut(&id) {
            source.closed = true;
        }
        self.add_post(id, user.id, "", SMALL_ACTION, Some("split_topic"));
        Reply::ok(json!({"success": true, "url": url}))
    }

    /// `POST /t/{id}/invite-group.json`.
    pub(crate) fn invite_group(&mut self, user: &User, id: i64, params: &Map<String, Value>) -> Reply {
        let Some(name) = text(params, "group") else { return Reply::param_missing("group") };
        let Some(topic) = self.topics.get(&id).filter(|t| self.can_see(user, t)) else { return Reply::not_found() };
        if !user.staff() {
            return Reply::invalid_access();
        }
        if !topic.private {
            return Reply::failed(None);
        }
        let Some((gid, gname)) = self.group(name).cloned() else { return Reply::not_found() };
        if let Some(topic) = self.topics.get_mut(&id) {
            topic.allowed_groups.insert(gname.to_lowercase());
        }
        Reply::ok(json!({"group": {"id": gid, "name": gname}}))
    }

    /// `DELETE /posts/{id}.json`: deleting the first post deletes the topic.
    pub(crate) fn delete_post(&mut self, user: &User, id: i64) -> Reply {
        let Some(post) = self.posts.get(&id) else { return Reply::not_found() };
        let Some(topic) = self.topics.get(&post.topic_id).filter(|t| self.can_see(user, t)) else {
            return Reply::not_found();
        };
        if !user.staff() && post.user_id != user.id {
            return Reply::invalid_access();
        }
        let (topic_id, first) = (topic.id, post.post_number == 1);
        if let Some(post) = self.posts.get_mut(&id) {
            post.deleted_at.get_or_insert_with(Utc::now);
        }
        if first {
            if let Some(topic) = self.topics.get_mut(&topic_id) {
                topic.deleted = true;
            }
        }
        Reply::empty()
    }

    /// `GET /search.json?q=`: every word in the title or a post; one post per topic. Private
    /// messages only with `in:personal`/`in:messages`; `status:public|open|closed` filter.
    pub(crate) fn search(&self, user: &User, params: &Map<String, Value>) -> Reply {
        let q = text(params, "q").unwrap_or_default().to_lowercase();
        if params.get("page").and_then(int).is_some_and(|p| p > 10) {
            return Reply::invalid_parameters("page");
        }
        let (mut personal, mut public, mut open, mut closed) = (false, false, false, false);
        let mut terms = Vec::new();
        for word in q.split_whitespace() {
            match word {
                "in:personal" | "in:messages" => personal = true,
                "status:public" => public = true,
                "status:open" => open = true,
                "status:closed" => closed = true,
                w if w.contains(':') => {}
                w => terms.push(w.to_owned()),
            }
        }
        if terms.join(" ").chars().count() < 3 {
            return Reply::invalid_parameters("q");
        }
        let mut posts = Vec::new();
        let mut topics = Vec::new();
        for t in self.topics.values().filter(|t| self.can_see(user, t)) {
            if (t.private != personal) || (public && t.private) || (open && t.closed) || (closed && !t.closed) {
                continue;
            }
            let title = t.title.to_lowercase();
            let mut candidates: Vec<&Post> = self.visible_posts(t.id).filter(|p| p.post_type == REGULAR).collect();
            candidates.sort_by_key(|p| p.post_number);
            let hit = candidates.into_iter().find(|p| {
                let raw = p.raw.to_lowercase();
                terms.iter().all(|term| title.contains(term.as_str()) || raw.contains(term.as_str()))
            });
            let Some(p) = hit else { continue };
            posts.push(json!({
                "id": p.id,
                "name": self.user_by_id(p.user_id).map(|u| u.name.clone()),
                "username": self.user_by_id(p.user_id).map(|u| u.username.clone()),
                "avatar_template": "/letter_avatar_proxy/v4/letter/a/8e7dd6/{size}.png",
                "created_at": stamp(p.created_at),
                "like_count": p.likers.len(),
                "blurb": blurb(&p.raw, &terms[0]),
                "post_number": p.post_number,
                "topic_title_headline": escape(&t.title),
                "topic_id": t.id,
            }));
            let mut head = self.topic_head(t);
            head["bumped"] = json!(true);
            head["bumped_at"] = head["last_posted_at"].clone();
            topics.push(head);
            if posts.len() == 50 {
                break;
            }
        }
        let post_ids: Vec<Value> = posts.iter().map(|p| p["id"].clone()).collect();
        Reply::ok(json!({
            "posts": posts,
            "topics": topics,
            "users": [],
            "categories": [],
            "tags": [],
            "groups": [],
            "grouped_search_result": {
                "more_posts": null, "more_users": null, "more_categories": null,
                "term": q, "search_log_id": 1, "more_full_page_results": null,
                "can_create_topic": true, "error": null, "extra": {},
                "post_ids": post_ids, "user_ids": [], "category_ids": [], "tag_ids": [], "group_ids": [],
            },
        }))
    }

    /// `GET /admin/users/list/{flag}.json`: accounts by flag (`active`: every real account;
    /// `staff`: admins and moderators; the other flags: none here), filtered by `email` (the
    /// primary email, case-insensitive), with emails only when `show_emails=true`.
    pub(crate) fn list_users(&self, flag: &str, params: &Map<String, Value>) -> Reply {
        if !["active", "new", "staff", "suspended", "blocked", "suspect"].contains(&flag) {
            return Reply::not_found();
        }
        let email = text(params, "email").map(str::to_lowercase);
        let show = params.get("show_emails").and_then(Value::as_str) == Some("true");
        let users: Vec<Value> = self
            .users
            .iter()
            .filter(|u| u.id > 0)
            .filter(|u| match flag {
                "active" => true,
                "staff" => u.staff(),
                _ => false,
            })
            .filter(|u| email.as_deref().is_none_or(|e| u.email.eq_ignore_ascii_case(e)))
            .map(|u| {
                let mut user = json!({
                    "id": u.id, "username": u.username, "name": u.name,
                    "avatar_template": "/letter_avatar_proxy/v4/letter/a/8e7dd6/{size}.png",
                    "active": true, "admin": u.admin, "moderator": u.moderator,
                    "last_seen_at": null, "last_emailed_at": null, "created_at": "2026-01-01T00:00:00.000Z",
                    "last_seen_age": null, "last_emailed_age": null, "created_at_age": 1.0,
                    "trust_level": if u.staff() { 4 } else { 1 }, "manual_locked_trust_level": null,
                    "title": null, "time_read": 0, "staged": false, "days_visited": 0,
                    "posts_read_count": 0, "topics_entered": 0, "post_count": 0,
                });
                if show {
                    user["email"] = json!(u.email);
                    user["secondary_emails"] = json!([]);
                }
                user
            })
            .collect();
        Reply::ok(Value::Array(users))
    }

    /// `POST /admin/users/sync_sso`: creates or updates the user a signed DiscourseConnect
    /// payload names, with its groups.
    pub(crate) fn sync_sso(&mut self, connect: &crate::connect::Connect, params: &Map<String, Value>) -> Reply {
        let (Some(sso), Some(sig)) = (text(params, "sso"), text(params, "sig")) else {
            return Reply::failed(Some("The DiscourseConnect payload is missing."));
        };
        // Discourse re-parses `"sso=#{params[:sso]}&sig=..."` as a query string, where a `+`
        // reads as a space.
        let sso = sso.replace('+', " ");
        if connect.sign(&sso) != sig {
            return Reply::failed(Some("DiscourseConnect signature mismatch."));
        }
        let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(sso.trim()) else {
            return Reply::failed(Some("The DiscourseConnect payload is not Base64."));
        };
        let fields: HashMap<String, String> = form_urlencoded::parse(&decoded).into_owned().collect();
        let field = |k: &str| fields.get(k).map(|v| v.trim()).filter(|v| !v.is_empty());
        let Some(external_id) = field("external_id") else {
            return Reply::failed(Some("The DiscourseConnect payload has no external_id."));
        };
        let existing =
            self.users.iter().position(|u| u.external_id.as_deref() == Some(external_id)).or_else(|| {
                field("email").and_then(|e| self.users.iter().position(|u| u.email.eq_ignore_ascii_case(e)))
            });
        let index = match existing {
            Some(i) => i,
            None => {
                let (Some(username), Some(email)) = (field("username"), field("email")) else {
                    return Reply::failed(Some("A new user needs a username and an email."));
                };
                if self.user(username).is_some() {
                    return Reply::failed(Some("Username has already been taken."));
                }
                self.add_user(username, email);
                self.users.len() - 1
            }
        };
        let known_groups: Vec<String> = self.groups.iter().map(|(_, g)| g.to_lowercase()).collect();
        let user = &mut self.users[index];
        user.external_id = Some(external_id.to_owned());
        if let Some(email) = field("email") {
            user.email = email.to_owned();
        }
        if let Some(name) = field("name") {
            user.name = name.to_owned();
        }
        for (key, flag) in [("moderator", &mut user.moderator), ("admin", &mut user.admin)] {
            if let Some(v) = fields.get(key) {
                *flag = v == "true";
            }
        }
        let list = |k: &str| -> Vec<String> {
            fields
                .get(k)
                .map(|v| v.split(',').map(|g| g.trim().to_lowercase()).filter(|g| !g.is_empty()).collect())
                .unwrap_or_default()
        };
        for group in list("add_groups").into_iter().filter(|g| known_groups.contains(g)) {
            user.groups.insert(group);
        }
        for group in list("remove_groups") {
            user.groups.remove(&group);
        }
        let user = user.clone();
        Reply::ok(json!({
            "id": user.id,
            "username": user.username,
            "name": user.name,
            "avatar_template": "/letter_avatar_proxy/v4/letter/a/8e7dd6/{size}.png",
            "active": true,
            "admin": user.admin,
            "moderator": user.moderator,
            "trust_level": 1,
            "external_id": user.external_id,
            "groups": user.groups.iter().collect::<Vec<_>>(),
        }))
    }

    /// A user posts on the forum (the fake's test API): as `POST /posts.json` would.
    pub(crate) fn user_posts(
        &mut self,
        username: &str,
        topic_id: i64,
        raw: &str,
    ) -> Result<(FakePost, Vec<Emit>), String> {
        let user = self.user(username).cloned().ok_or_else(|| format!("no user {username}"))?;
        let mut params = Map::new();
        params.insert("topic_id".into(), json!(topic_id));
        params.insert("raw".into(), json!(raw));
        let (reply, emits) = self.create_post_now(&user, &params);
        match reply.body {
            Body::Json(v) if reply.status == 200 => {
                let id = v["id"].as_i64().unwrap_or_default();
                Ok((self.snapshot_post(&self.posts[&id]), emits))
            }
            Body::Json(v) => Err(format!("{}: {v}", reply.status)),
            _ => Err(reply.status.to_string()),
        }
    }

    /// A user likes a post (the fake's test API).
    pub(crate) fn user_likes(&mut self, username: &str, post_id: i64) -> Result<Vec<Emit>, String> {
        let user = self.user(username).cloned().ok_or_else(|| format!("no user {username}"))?;
        let post = self.posts.get(&post_id).filter(|p| p.deleted_at.is_none()).ok_or("no such post")?;
        let topic = &self.topics[&post.topic_id];
        if !self.can_see(&user, topic) {
            return Err("403: the user cannot see the post".into());
        }
        if let Some(post) = self.posts.get_mut(&post_id) {
            post.likers.insert(user.id);
        }
        let post = &self.posts[&post_id];
        let payload = json!({"like": {"post": self.post_hook_json(post), "user": self.basic_user(user.id)}});
        Ok(vec![Emit { event: "post_liked", event_type: "like", payload }])
    }

    /// A staff user closes or reopens a topic on the forum (the fake's test API).
    pub(crate) fn user_sets_closed(
        &mut self,
        username: &str,
        topic_id: i64,
        closed: bool,
    ) -> Result<Vec<Emit>, String> {
        let user = self.user(username).cloned().ok_or_else(|| format!("no user {username}"))?;
        let mut params = Map::new();
        params.insert("status".into(), json!("closed"));
        params.insert("enabled".into(), json!(if closed { "true" } else { "false" }));
        let (reply, emits) = self.set_status(&user, topic_id, &params);
        if reply.status == 200 {
            Ok(emits)
        } else {
            Err(format!("{}", reply.status))
        }
    }
}

/// Up to 200 characters of `raw` around `term`, escaped, the term highlighted.
fn blurb(raw: &str, term: &str) -> String {
    let lower = raw.to_lowercase();
    let start = lower.find(term).map(|i| i.saturating_sub(60)).unwrap_or(0);
    let start = (0..=start).rev().find(|i| raw.is_char_boundary(*i)).unwrap_or(0);
    let piece: String = raw[start..].chars().take(200).collect();
    let escaped = escape(&piece.replace('\n', " "));
    match escaped.to_lowercase().find(term) {
        Some(i) if escaped.is_char_boundary(i) && escaped.is_char_boundary(i + term.len()) => format!(
            "{}<span class=\"search-highlight\">{}</span>{}",
            &escaped[..i],
            &escaped[i..i + term.len()],
            &escaped[i + term.len()..]
        ),
        _ => escaped,
    }
}
