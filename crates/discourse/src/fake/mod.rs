//! A stateful fake Discourse on `127.0.0.1:0`, for tests and benchmarks (feature `fake`).
//!
//! It keeps users and groups, categories, topics (regular and private messages, with their
//! external ids, closed/archived state and category), posts with ids and numbers, and
//! implements the endpoints [`crate::ForumApi`] calls with Discourse's answers and error
//! shapes (`shared/contracts/discourse-and-chat-notes.md`): create topic/private
//! message/reply (memoizing identical creates for 120 s as Discourse does), lookup by
//! external id (301), topic and posts views, status, convert, merge, invite-group, delete
//! post, search, `sync_sso` and the admins' user list by email. It checks `Api-Key` and `Api-Username`, can hold requests to
//! an admin API limit (N requests per window, scaled down for benchmarks), answers queued
//! [`Fault`]s in place of the forum, records every request ([`FakeDiscourse::requests`]),
//! and sends signed webhooks to a configured URL when something happens, including when a
//! user acts on the forum ([`FakeDiscourse::user_posts`], [`FakeDiscourse::user_likes`],
//! [`FakeDiscourse::user_sets_closed`]).
//!
//! ```no_run
//! # async fn demo() {
//! use discourse::fake::{FakeConfig, FakeDiscourse};
//! let fake = FakeDiscourse::start(FakeConfig::default()).await.unwrap();
//! fake.add_user("ada");
//! // ... point a ForumApi at fake.url() with fake.api_key() ...
//! # }
//! ```

mod forum;
mod hooks;
mod http;

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use poem::listener::{Acceptor as _, Listener as _, TcpListener};
use tokio::task::JoinHandle;

use crate::connect::Connect;
use forum::Forum;
use hooks::Hooks;

/// The admin API key the fake accepts unless configured otherwise.
pub const FAKE_API_KEY: &str = "fake0admin0api0key0000000000000000000000000000000000000000000000";

/// How the fake forum is set up.
#[derive(Debug, Clone)]
pub struct FakeConfig {
    /// The admin API key it accepts (`Api-Key`).
    pub api_key: String,
    /// Groups that exist (the support group among them).
    pub groups: Vec<String>,
    /// Categories that exist: id and name. Public topics without a category go to the
    /// lowest id.
    pub categories: Vec<(i64, String)>,
    /// The DiscourseConnect secret; `None`: DiscourseConnect is off (`sync_sso` answers 404).
    pub connect_secret: Option<String>,
    /// Where webhooks go, if anywhere.
    pub webhook: Option<WebhookTarget>,
    /// The admin API limit, if any (Discourse's default is 60 a minute).
    pub rate_limit: Option<RateLimit>,
    /// How long identical creates are answered from memory (Discourse: 120 s).
    pub memo_window: Duration,
    /// How many posts a topic view carries (Discourse: 20); the rest only by id.
    pub chunk_size: usize,
}

impl Default for FakeConfig {
    /// Key [`FAKE_API_KEY`], group `support`, categories 1 (Uncategorized) and 5 (Support),
    /// no DiscourseConnect, no webhook, no rate limit, a 120 s memo and 20-post chunks.
    fn default() -> Self {
        Self {
            api_key: FAKE_API_KEY.to_owned(),
            groups: vec!["support".to_owned()],
            categories: vec![(1, "Uncategorized".to_owned()), (5, "Support".to_owned())],
            connect_secret: None,
            webhook: None,
            rate_limit: None,
            memo_window: Duration::from_secs(120),
            chunk_size: 20,
        }
    }
}

/// Where the fake sends webhooks, and the secret it signs them with (empty: unsigned).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookTarget {
    /// The receiver's URL (osts's `POST /webhooks/discourse`).
    pub url: String,
    /// The webhook's secret.
    pub secret: String,
}

/// An admin API limit: at most `requests` in any `window`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    /// Requests allowed per window.
    pub requests: u32,
    /// The window (a minute on a real forum; scaled down for benchmarks).
    pub window: Duration,
}

/// An answer the fake gives to the next request in place of the forum's (queued with
/// [`FakeDiscourse::fail_next`], one request each, in order).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// 429 as Discourse's limiters answer: JSON with `extras.wait_seconds`, `Retry-After`.
    RateLimited {
        /// The wait asked for.
        wait_seconds: u64,
    },
    /// 429 as the per-IP middleware answers: a plain-text body, `Retry-After`.
    RateLimitedPlain {
        /// The wait asked for.
        wait_seconds: u64,
    },
    /// This status with this body, as-is (e.g. 500 with an HTML page, 502 from a proxy, or
    /// one of Discourse's JSON error bodies).
    Status {
        /// The HTTP status.
        status: u16,
        /// The body: sent as JSON when it is a JSON object or array, else as plain text (or
        /// nothing when empty).
        body: String,
    },
    /// The forum does the work, then holds the answer this long: a client with a shorter
    /// timeout gives up although the forum acted.
    SlowAnswer(Duration),
}

/// A request the fake received.
#[derive(Debug, Clone, PartialEq)]
pub struct Recorded {
    /// `GET`, `POST`, ...
    pub method: String,
    /// The path, without the query.
    pub path: String,
    /// The query's pairs, decoded, in order.
    pub query: Vec<(String, String)>,
    /// The `Api-Username` header.
    pub api_username: Option<String>,
    /// Whether `Api-Key` was the configured key.
    pub api_key_ok: bool,
    /// The `Content-Type` header.
    pub content_type: Option<String>,
    /// The body: JSON as sent, a form as an object of strings, `Null` when empty.
    pub body: serde_json::Value,
    /// The status the fake answered.
    pub status: u16,
}

/// A topic, as the fake holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeTopic {
    /// Its id.
    pub id: i64,
    /// Its title.
    pub title: String,
    /// Its slug.
    pub slug: String,
    /// A private message (`archetype: private_message`).
    pub private: bool,
    /// Its category (public topics).
    pub category_id: Option<i64>,
    /// Its external id.
    pub external_id: Option<String>,
    /// Closed.
    pub closed: bool,
    /// Archived.
    pub archived: bool,
    /// Deleted (its first post was deleted).
    pub deleted: bool,
    /// Who may read the private message, by username.
    pub allowed_users: Vec<String>,
    /// Groups that may read the private message (lower-case).
    pub allowed_groups: Vec<String>,
    /// Its regular posts that are not deleted.
    pub posts_count: usize,
}

/// A post, as the fake holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakePost {
    /// Its id.
    pub id: i64,
    /// Its topic.
    pub topic_id: i64,
    /// Its number in the topic.
    pub post_number: i64,
    /// Its author.
    pub username: String,
    /// Its Markdown.
    pub raw: String,
    /// 1 regular, 3 small action ("closed this topic", "moved posts").
    pub post_type: i64,
    /// Deleted.
    pub deleted: bool,
    /// How many users like it.
    pub like_count: usize,
}

/// A user, as the fake holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeUser {
    /// Its id (`system` is -1).
    pub id: i64,
    /// Its username.
    pub username: String,
    /// Its email.
    pub email: String,
    /// Its display name.
    pub name: String,
    /// Its DiscourseConnect external id, once synced.
    pub external_id: Option<String>,
    /// Admin.
    pub admin: bool,
    /// Moderator.
    pub moderator: bool,
    /// Its groups (lower-case).
    pub groups: Vec<String>,
}

/// Counts of what the fake saw and did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FakeStats {
    /// Requests received.
    pub requests: u64,
    /// 429s answered (the limit's and queued faults').
    pub rate_limited: u64,
    /// Topics created.
    pub topics_created: u64,
    /// Regular posts created (opening posts included).
    pub posts_created: u64,
    /// Creates answered from the memo (identical retries).
    pub memo_hits: u64,
}

/// A webhook delivery the fake made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentWebhook {
    /// `X-Discourse-Event-Id`.
    pub event_id: i64,
    /// `X-Discourse-Event` (`post_created`, `post_liked`, `topic_closed_status_updated`...).
    pub event: String,
    /// `X-Discourse-Event-Type` (`post`, `like`, `topic`).
    pub event_type: String,
    /// The raw JSON body (what the signature covers).
    pub body: String,
    /// The receiver's status; `None` when nothing answered.
    pub status: Option<u16>,
}

/// Why a user's action on the fake forum was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the fake forum refused: {0}")]
pub struct FakeError(pub String);

/// State shared by the handle, the server and the webhook sender.
pub(crate) struct Shared {
    api_key: String,
    connect: Option<Connect>,
    base_url: String,
    forum: Mutex<Forum>,
    faults: Mutex<VecDeque<Fault>>,
    limit: Mutex<(Option<RateLimit>, VecDeque<Instant>)>,
    journal: Mutex<Vec<Recorded>>,
    stats: Mutex<FakeStats>,
    hooks: Arc<Hooks>,
}

impl Shared {
    fn forum(&self) -> MutexGuard<'_, Forum> {
        self.forum.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn base_url(&self) -> String {
        self.base_url.clone()
    }
}

/// Stops the server and the webhook sender when the last handle goes.
struct Tasks(Vec<JoinHandle<()>>);

impl Drop for Tasks {
    fn drop(&mut self) {
        for task in &self.0 {
            task.abort();
        }
    }
}

/// A running fake Discourse. Clones share the forum; the server stops when the last goes.
#[derive(Clone)]
pub struct FakeDiscourse {
    shared: Arc<Shared>,
    url: String,
    _tasks: Arc<Tasks>,
}

impl std::fmt::Debug for FakeDiscourse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeDiscourse").field("url", &self.url).finish_non_exhaustive()
    }
}

impl FakeDiscourse {
    /// Starts a fake forum on `127.0.0.1` on a free port.
    pub async fn start(config: FakeConfig) -> std::io::Result<Self> {
        Self::start_on(config, 0).await
    }

    /// Starts a fake forum on `127.0.0.1:<port>`: a forum that comes up where a client was
    /// already pointed while nothing listened there (an outage).
    pub async fn start_on(config: FakeConfig, port: u16) -> std::io::Result<Self> {
        let acceptor = TcpListener::bind(format!("127.0.0.1:{port}")).into_acceptor().await?;
        let addr = acceptor
            .local_addr()
            .first()
            .and_then(|a| a.as_socket_addr().copied())
            .ok_or_else(|| std::io::Error::other("the listener has no address"))?;
        let url = format!("http://{addr}");
        let (hooks, jobs) = Hooks::new(config.webhook.clone());
        *hooks.instance.lock().unwrap_or_else(PoisonError::into_inner) = url.clone();
        let shared = Arc::new(Shared {
            api_key: config.api_key.clone(),
            connect: config.connect_secret.as_deref().map(|s| Connect::new(s, &url)),
            base_url: url.clone(),
            forum: Mutex::new(Forum::new(&config.groups, &config.categories, config.memo_window, config.chunk_size)),
            faults: Mutex::new(VecDeque::new()),
            limit: Mutex::new((config.rate_limit, VecDeque::new())),
            journal: Mutex::new(Vec::new()),
            stats: Mutex::new(FakeStats::default()),
            hooks: hooks.clone(),
        });
        let server = poem::Server::new_with_acceptor(acceptor).run(http::FakeEndpoint(shared.clone()));
        let server = tokio::spawn(async move {
            let _ = server.await;
        });
        let sender = tokio::spawn(hooks::run(hooks, jobs));
        Ok(Self { shared, url, _tasks: Arc::new(Tasks(vec![server, sender])) })
    }

    /// The forum's base URL (`http://127.0.0.1:<port>`).
    pub fn url(&self) -> String {
        self.url.clone()
    }

    /// The admin API key it accepts.
    pub fn api_key(&self) -> String {
        self.shared.api_key.clone()
    }

    /// Adds a user (trust level 1, not staff) with `<username>@example.com`; an existing one
    /// is returned as it is.
    pub fn add_user(&self, username: &str) -> FakeUser {
        let mut forum = self.shared.forum();
        let user = forum.add_user(username, &format!("{}@example.com", username.trim().to_lowercase()));
        forum.snapshot_user(&user.username).unwrap_or_else(|| unreachable!("just added"))
    }

    /// Adds a user (trust level 1, not staff) whose primary email is `email`; an existing one
    /// is returned as it is.
    pub fn add_user_with_email(&self, username: &str, email: &str) -> FakeUser {
        let mut forum = self.shared.forum();
        let user = forum.add_user(username, email);
        forum.snapshot_user(&user.username).unwrap_or_else(|| unreachable!("just added"))
    }

    /// Puts a user in a group (the group is made if unknown); `false` if no such user.
    pub fn add_to_group(&self, username: &str, group: &str) -> bool {
        self.shared.forum().add_to_group(username, group)
    }

    /// Sends webhooks to `target` from now on (`None`: none).
    pub fn set_webhook(&self, target: Option<WebhookTarget>) {
        *self.shared.hooks.target.lock().unwrap_or_else(PoisonError::into_inner) = target;
    }

    /// Sets the admin API limit (`None`: unlimited), forgetting what was counted.
    pub fn set_rate_limit(&self, limit: Option<RateLimit>) {
        *self.shared.limit.lock().unwrap_or_else(PoisonError::into_inner) = (limit, VecDeque::new());
    }

    /// Queues `fault` as the answer to the next request not already given one.
    pub fn fail_next(&self, fault: Fault) {
        self.shared.faults.lock().unwrap_or_else(PoisonError::into_inner).push_back(fault);
    }

    /// Every topic, by id.
    pub fn topics(&self) -> Vec<FakeTopic> {
        let forum = self.shared.forum();
        forum.topic_ids().into_iter().filter_map(|id| forum.snapshot_topic(id)).collect()
    }

    /// One topic.
    pub fn topic(&self, id: i64) -> Option<FakeTopic> {
        self.shared.forum().snapshot_topic(id)
    }

    /// The (not deleted) topic with `external_id`.
    pub fn topic_by_external_id(&self, external_id: &str) -> Option<FakeTopic> {
        let forum = self.shared.forum();
        forum.topic_by_external_id(external_id).and_then(|id| forum.snapshot_topic(id))
    }

    /// Every post of a topic by number, small actions and deleted posts included.
    pub fn posts(&self, topic_id: i64) -> Vec<FakePost> {
        self.shared.forum().snapshot_posts(topic_id)
    }

    /// A user by username (case-insensitive).
    pub fn user(&self, username: &str) -> Option<FakeUser> {
        self.shared.forum().snapshot_user(username)
    }

    /// Every request received, in order.
    pub fn requests(&self) -> Vec<Recorded> {
        self.shared.journal.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// What the fake saw and did.
    pub fn stats(&self) -> FakeStats {
        let mut stats = *self.shared.stats.lock().unwrap_or_else(PoisonError::into_inner);
        let counters = self.shared.forum().counters.clone();
        stats.topics_created = counters.topics_created;
        stats.posts_created = counters.posts_created;
        stats.memo_hits = counters.memo_hits;
        stats
    }

    /// `username` replies in a topic on the forum; the `post_created` webhook has been
    /// delivered (or failed) when this returns. Refused as the API would refuse it.
    pub async fn user_posts(&self, topic_id: i64, username: &str, raw: &str) -> Result<FakePost, FakeError> {
        let (post, emits) = self.shared.forum().user_posts(username, topic_id, raw).map_err(FakeError)?;
        self.deliver(emits).await;
        Ok(post)
    }

    /// `username` likes a post; the `post_liked` webhook has been delivered when this returns.
    pub async fn user_likes(&self, post_id: i64, username: &str) -> Result<(), FakeError> {
        let emits = self.shared.forum().user_likes(username, post_id).map_err(FakeError)?;
        self.deliver(emits).await;
        Ok(())
    }

    /// Staff member `username` closes (`true`) or reopens a topic on the forum; the
    /// `topic_closed_status_updated` webhook has been delivered when this returns.
    pub async fn user_sets_closed(&self, topic_id: i64, username: &str, closed: bool) -> Result<(), FakeError> {
        let emits = self.shared.forum().user_sets_closed(username, topic_id, closed).map_err(FakeError)?;
        self.deliver(emits).await;
        Ok(())
    }

    async fn deliver(&self, emits: Vec<forum::Emit>) {
        let receivers: Vec<_> =
            emits.iter().map(|e| self.shared.hooks.emit(e.event, e.event_type, &e.payload)).collect();
        for rx in receivers {
            let _ = rx.await;
        }
    }

    /// Every webhook delivery made, in order.
    pub fn webhooks(&self) -> Vec<SentWebhook> {
        self.shared.hooks.sent.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// Waits until every queued webhook delivery (the API's own changes are sent in the
    /// background) has been made.
    pub async fn webhooks_idle(&self) {
        self.shared.hooks.idle().await;
    }

    /// Sends a past delivery again with the same event id and body, as an admin's
    /// "redeliver" does; the receiver's status, or `None`.
    pub async fn redeliver(&self, event_id: i64) -> Option<u16> {
        self.shared.hooks.again(event_id, false)?.await.ok().flatten()
    }

    /// Sends a past delivery again with a new event id, as Discourse's automatic retry does.
    pub async fn retry_webhook(&self, event_id: i64) -> Option<u16> {
        self.shared.hooks.again(event_id, true)?.await.ok().flatten()
    }
}
