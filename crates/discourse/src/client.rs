//! [`ForumApi`]: the forum port over Discourse's REST API.
//!
//! Every request carries the admin key (`Api-Key`) and the user it acts as (`Api-Username`:
//! the acting user's forum username where the port names one, else the configured system
//! user); osts never holds a user's own key. Every request first takes a slot of the
//! client-side limit ([`ForumConfig::requests_per_minute`] in a sliding window, under the
//! site's admin budget of 60 a minute shared by all admin keys); without one the call is
//! `Throttled` and nothing is sent.
//!
//! Idempotency of thread creation: topics carry `external_id = osts-<ticket number>`. A
//! retried creation job calls [`ForumClient::find_topic`] first, so a creation that timed out
//! after the forum made the topic is not repeated. Discourse also memoizes an identical
//! `POST /posts.json` from the same user for 120 seconds and answers it with the first
//! result, so a quick retry of the same body makes no second topic or reply; and when a
//! creation is refused (422) the topic is looked up by its external id before the refusal is
//! reported, in case it was made by an earlier attempt. Replies have no such key: a reply
//! retried after the memo window has passed can appear twice.
//!
//! Where the forum keeps its own accounts (no DiscourseConnect), a user's existing account is
//! proven theirs by its primary email: `GET /admin/users/list/active.json?email=&show_emails=true`
//! (notes 1.5, Users), which the admin key may read.

use std::time::{Duration, Instant};

use async_trait::async_trait;
use chrono::Utc;
use domain::forum::{ForumClient, ForumIdentity, ForumPost, NewTopic, TopicHit, TopicRef, Visibility};
use domain::notifications::DeliveryError;
use reqwest::header::{HeaderValue, ACCEPT, LOCATION, RETRY_AFTER};
use reqwest::{Method, StatusCode};
use secrecy::{ExposeSecret as _, SecretString};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::connect::{Connect, Identity};
use crate::dto;
use crate::errors::{clean, refusal};
use crate::limit::RateLimiter;

/// The client-side limit when none is configured (`OSTS_DISCOURSE_REQUESTS_PER_MINUTE`).
pub const DEFAULT_REQUESTS_PER_MINUTE: u32 = 50;
/// The user osts acts as when no user is named (`OSTS_DISCOURSE_API_USERNAME`).
pub const DEFAULT_API_USERNAME: &str = "system";
/// How long one request may take before it counts as failed (and is retried later).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// How many posts `GET /t/{id}/posts.json` is asked for at once (a topic view's chunk).
const POSTS_PER_REQUEST: usize = 20;
/// Discourse's limit on an external id (`Topic::EXTERNAL_ID_MAX_LENGTH`).
const MAX_EXTERNAL_ID: usize = 50;
/// Discourse's `min_search_term_length` default: shorter searches are refused (400).
const MIN_SEARCH_TERM: usize = 3;

/// Where the forum is and how osts acts on it.
#[derive(Debug, Clone)]
pub struct ForumConfig {
    /// The forum's base URL (`OSTS_DISCOURSE_URL`), e.g. `https://forum.uni.edu`; a subfolder
    /// install keeps its path (`https://uni.edu/forum`).
    pub base_url: String,
    /// An all-users admin API key (`OSTS_DISCOURSE_API_KEY`), sent as `Api-Key`.
    pub api_key: SecretString,
    /// The user osts acts as when no user is named (`OSTS_DISCOURSE_API_USERNAME`).
    pub api_username: String,
    /// The group that receives private threads and that staff are synced into
    /// (`OSTS_DISCOURSE_SUPPORT_GROUP`).
    pub support_group: String,
    /// The category of public threads (`OSTS_DISCOURSE_CATEGORY_ID`).
    pub category_id: i64,
    /// The DiscourseConnect secret (`OSTS_DISCOURSE_CONNECT_SECRET`), to sign the payloads
    /// of [`ForumClient::sync_user`]; `None`: users cannot be synced.
    pub connect_secret: Option<SecretString>,
    /// At most this many requests in any window (`OSTS_DISCOURSE_REQUESTS_PER_MINUTE`).
    pub requests_per_minute: u32,
    /// The limit's window: a minute, scaled down only by benchmarks against the fake.
    pub rate_window: Duration,
    /// How long one request may take.
    pub timeout: Duration,
}

impl ForumConfig {
    /// The forum at `base_url` with `api_key`, the support group and the public category;
    /// the system user, 50 requests a minute and a 10-second timeout; no DiscourseConnect.
    pub fn new(
        base_url: impl Into<String>,
        api_key: SecretString,
        support_group: impl Into<String>,
        category_id: i64,
    ) -> Self {
        Self {
            base_url: base_url.into(),
            api_key,
            api_username: DEFAULT_API_USERNAME.to_owned(),
            support_group: support_group.into(),
            category_id,
            connect_secret: None,
            requests_per_minute: DEFAULT_REQUESTS_PER_MINUTE,
            rate_window: Duration::from_secs(60),
            timeout: DEFAULT_TIMEOUT,
        }
    }
}

/// Why a [`ForumConfig`] cannot make a client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// The base URL is not an `http`/`https` URL without credentials, query or fragment.
    #[error("the forum URL must be an http or https URL without credentials, query or fragment")]
    BadUrl,
    /// The API key or username has characters an HTTP header cannot carry, or is empty.
    #[error("the forum's API key and username must be non-empty visible ASCII")]
    BadHeader,
    /// The HTTP client could not be built (TLS roots).
    #[error("cannot build the HTTP client: {0}")]
    Client(String),
}

/// The forum port over Discourse's REST API.
pub struct ForumApi {
    http: reqwest::Client,
    /// The base URL without a trailing slash.
    base: String,
    api_key: HeaderValue,
    api_username: String,
    support_group: String,
    category_id: i64,
    connect: Option<Connect>,
    limiter: RateLimiter,
}

impl std::fmt::Debug for ForumApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ForumApi")
            .field("base", &self.base)
            .field("api_username", &self.api_username)
            .field("support_group", &self.support_group)
            .field("category_id", &self.category_id)
            .finish_non_exhaustive()
    }
}

/// An answer of the forum, read whole.
struct Answer {
    status: StatusCode,
    location: Option<String>,
    retry_after: Option<String>,
    body: Vec<u8>,
}

impl Answer {
    /// The answer if it is a success, else the error it means.
    fn ok(self) -> Result<Self, DeliveryError> {
        if self.status.is_success() {
            Ok(self)
        } else {
            Err(refusal(self.status, self.retry_after.as_deref(), &self.body, Utc::now()))
        }
    }

    /// The body as `T`. A success the adapter cannot read means the forum acted but answered
    /// unlike Discourse (a wrong base URL, a proxy's page): retrying cannot help.
    fn json<T: DeserializeOwned>(&self, what: &str) -> Result<T, DeliveryError> {
        serde_json::from_slice(&self.body)
            .map_err(|_| DeliveryError::Never(format!("the forum's answer to {what} is not Discourse's")))
    }
}

impl ForumApi {
    /// A client for the forum `config` names.
    pub fn new(config: ForumConfig) -> Result<Self, ConfigError> {
        let url = reqwest::Url::parse(config.base_url.trim()).map_err(|_| ConfigError::BadUrl)?;
        let plain = matches!(url.scheme(), "http" | "https")
            && url.username().is_empty()
            && url.password().is_none()
            && url.query().is_none()
            && url.fragment().is_none()
            && url.host_str().is_some();
        if !plain {
            return Err(ConfigError::BadUrl);
        }
        let key = config.api_key.expose_secret().trim();
        let mut api_key = HeaderValue::from_str(key).map_err(|_| ConfigError::BadHeader)?;
        api_key.set_sensitive(true);
        if key.is_empty()
            || config.api_username.trim().is_empty()
            || HeaderValue::from_str(&config.api_username).is_err()
        {
            return Err(ConfigError::BadHeader);
        }
        let http = reqwest::Client::builder()
            .timeout(config.timeout)
            // Redirects are read, not followed: the external-id lookup takes the topic from
            // the `Location`, and the key is never sent where the forum points.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| ConfigError::Client(e.without_url().to_string()))?;
        let base = url.as_str().trim_end_matches('/').to_owned();
        Ok(Self {
            connect: config.connect_secret.as_ref().map(|s| Connect::new(s.expose_secret(), &base)),
            http,
            base,
            api_key,
            api_username: config.api_username.trim().to_owned(),
            support_group: config.support_group.trim().to_owned(),
            category_id: config.category_id,
            limiter: RateLimiter::new(config.requests_per_minute, config.rate_window),
        })
    }

    /// The address of a topic on the forum, for people to follow.
    pub fn topic_url(&self, topic: &TopicRef) -> String {
        format!("{}{}", self.base, topic.path)
    }

    /// Takes `n` slots of the limit at once, or says until when the limit holds the call.
    fn take(&self, n: usize) -> Result<(), DeliveryError> {
        self.limiter.try_take_n(n, Instant::now()).map_err(|wait| {
            let wait = chrono::Duration::from_std(wait).unwrap_or_else(|_| chrono::Duration::minutes(1));
            DeliveryError::Throttled { at: Utc::now() + wait }
        })
    }

    /// One metered request to `path` (under the base URL).
    async fn request<B: Serialize>(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&B>,
        act_as: Option<&str>,
    ) -> Result<Answer, DeliveryError> {
        let username = self.username(act_as)?;
        self.take(1)?;
        self.send(method, &format!("{}{path}", self.base), query, body, username).await
    }

    /// The `Api-Username` header for `act_as` (`None`: the configured user).
    fn username(&self, act_as: Option<&str>) -> Result<HeaderValue, DeliveryError> {
        let name = act_as.map(str::trim).filter(|n| !n.is_empty()).unwrap_or(&self.api_username);
        HeaderValue::from_str(name)
            .map_err(|_| DeliveryError::Never("the forum username has characters an HTTP header cannot carry".into()))
    }

    /// Sends one request (its slot already taken) and reads the answer whole.
    async fn send<B: Serialize>(
        &self,
        method: Method,
        url: &str,
        query: &[(&str, String)],
        body: Option<&B>,
        username: HeaderValue,
    ) -> Result<Answer, DeliveryError> {
        let mut request = self
            .http
            .request(method.clone(), url)
            .header("Api-Key", self.api_key.clone())
            .header("Api-Username", username)
            .header(ACCEPT, "application/json");
        if !query.is_empty() {
            request = request.query(query);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await.map_err(transport)?;
        let status = response.status();
        let header = |name| response.headers().get(name).and_then(|v: &HeaderValue| v.to_str().ok()).map(str::to_owned);
        let (location, retry_after) = (header(LOCATION), header(RETRY_AFTER));
        let body = response.bytes().await.map_err(transport)?.to_vec();
        if status.as_u16() == 429 {
            tracing::warn!(%method, status = status.as_u16(), "the forum asked osts to slow down");
        } else {
            tracing::debug!(%method, status = status.as_u16(), "forum request");
        }
        Ok(Answer { status, location, retry_after, body })
    }

    /// Whether `url` (absolute or rooted) is on this forum; the absolute URL if so.
    fn on_forum(&self, url: &str) -> Option<String> {
        if url.starts_with('/') && !url.starts_with("//") {
            let origin = reqwest::Url::parse(&self.base).ok()?;
            return Some(origin.join(url).ok()?.to_string());
        }
        let target = reqwest::Url::parse(url).ok()?;
        let base = reqwest::Url::parse(&self.base).ok()?;
        (target.origin() == base.origin()).then(|| target.to_string())
    }

    /// A private message's `target_recipients`: the recipients (without the acting user, whom
    /// Discourse admits anyway) and the support group, once each.
    fn recipients(&self, topic: &NewTopic) -> String {
        let mut names: Vec<&str> = Vec::new();
        let acting = topic.act_as.as_deref().map(str::trim);
        for name in topic.recipients.iter().map(|n| n.trim()).chain([self.support_group.as_str()]) {
            let is_acting = acting.is_some_and(|a| a.eq_ignore_ascii_case(name));
            if !name.is_empty() && !is_acting && !names.iter().any(|n| n.eq_ignore_ascii_case(name)) {
                names.push(name);
            }
        }
        names.join(",")
    }

    async fn set_status(&self, topic_id: i64, status: &'static str, enabled: bool) -> Result<(), DeliveryError> {
        let body = dto::Status { status, enabled: if enabled { "true" } else { "false" } };
        self.request(Method::PUT, &format!("/t/{topic_id}/status.json"), &[], Some(&body), None).await?.ok()?;
        Ok(())
    }
}

/// A failed exchange: the forum certainly did not answer, so the call is retried later. The
/// message never carries the URL.
fn transport(e: reqwest::Error) -> DeliveryError {
    let message = if e.is_timeout() {
        "the forum did not answer in time"
    } else if e.is_connect() {
        "cannot connect to the forum"
    } else if e.is_body() || e.is_decode() {
        "the forum's answer broke off"
    } else {
        "the request to the forum failed"
    };
    DeliveryError::Later { message: message.to_owned(), at: None }
}

/// Discourse's external ids: letters, digits, `_` and `-` (the route's `[\w-]+`), at most 50.
fn valid_external_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_EXTERNAL_ID
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

fn check_external_id(id: &str) -> Result<(), DeliveryError> {
    if valid_external_id(id) {
        Ok(())
    } else {
        Err(DeliveryError::Never(format!("`{}` is not an external id Discourse accepts", clean(id))))
    }
}

/// The topic a forum URL names: `…/t/<slug>/<id>[.json][?…]`.
fn topic_ref_from_url(url: &str) -> Option<TopicRef> {
    let url = url.split(['?', '#']).next()?;
    let rest = &url[url.rfind("/t/")? + 3..];
    let (slug, id) = rest.split_once('/')?;
    let id = id.trim_end_matches('/').trim_end_matches(".json");
    let topic_id = id.parse::<i64>().ok().filter(|id| *id > 0)?;
    if slug.is_empty() || slug.contains('/') {
        return None;
    }
    Some(TopicRef { topic_id, path: format!("/t/{slug}/{topic_id}") })
}

/// A draft's words as a search: Discourse's search operators (`in:`, `status:`, `@user`,
/// `#category`, quotes) are dropped so that a draft cannot widen the search to the system
/// user's private messages, and `status:public` keeps it to topics everyone can read.
fn search_terms(query: &str) -> String {
    let words: Vec<String> = query
        .split_whitespace()
        .filter(|w| !w.contains(':') && !w.starts_with('@') && !w.starts_with('#'))
        .map(|w| w.replace('"', ""))
        .filter(|w| !w.is_empty())
        .take(16)
        .collect();
    words.join(" ").chars().take(200).collect()
}

/// Text of a bit of HTML (a search blurb with its highlight spans).
fn plain_text(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => in_tag = false,
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    let out = out.replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", "\"").replace("&#39;", "'");
    clean(&out.replace("&amp;", "&"))
}

#[async_trait]
impl ForumClient for ForumApi {
    async fn find_topic(&self, external_id: &str) -> Result<Option<TopicRef>, DeliveryError> {
        check_external_id(external_id)?;
        let path = format!("/t/external_id/{external_id}.json");
        let answer = self.request::<()>(Method::GET, &path, &[], None, None).await?;
        match answer.status.as_u16() {
            // Gone (410) is a deleted topic under `detailed_404`.
            404 | 410 => Ok(None),
            301 | 302 | 303 | 307 | 308 => {
                let location = answer.location.unwrap_or_default();
                if let Some(topic) = topic_ref_from_url(&location) {
                    return Ok(Some(topic));
                }
                // A location not of the usual shape: ask it, on this forum only.
                let url = self
                    .on_forum(&location)
                    .ok_or_else(|| DeliveryError::Never("the forum redirected the lookup elsewhere".into()))?;
                self.take(1)?;
                let username = self.username(None)?;
                let view: dto::TopicView =
                    self.send::<()>(Method::GET, &url, &[], None, username).await?.ok()?.json("a topic lookup")?;
                Ok(Some(TopicRef { topic_id: view.id, path: format!("/t/{}/{}", view.slug, view.id) }))
            }
            _ => {
                let view: dto::TopicView = answer.ok()?.json("a topic lookup")?;
                Ok(Some(TopicRef { topic_id: view.id, path: format!("/t/{}/{}", view.slug, view.id) }))
            }
        }
    }

    async fn create_topic(&self, topic: &NewTopic) -> Result<TopicRef, DeliveryError> {
        check_external_id(&topic.external_id)?;
        let mut body = dto::CreatePost {
            title: Some(&topic.title),
            raw: &topic.raw,
            topic_id: None,
            category: None,
            archetype: None,
            target_recipients: None,
            external_id: Some(&topic.external_id),
        };
        match topic.visibility {
            Visibility::Private => {
                body.archetype = Some("private_message");
                body.target_recipients = Some(self.recipients(topic));
            }
            Visibility::Public => body.category = Some(self.category_id),
        }
        let answer = self.request(Method::POST, "/posts.json", &[], Some(&body), topic.act_as.as_deref()).await?;
        if answer.status == StatusCode::UNPROCESSABLE_ENTITY {
            let refused = answer.ok().err().unwrap_or_else(|| DeliveryError::Never("422".into()));
            // An earlier attempt may have made it (the external id is then taken).
            return match self.find_topic(&topic.external_id).await? {
                Some(made) => Ok(made),
                None => Err(refused),
            };
        }
        let created: dto::PostCreated = answer.ok()?.json("a topic creation")?;
        match (created.topic_id, created.topic_slug, created.action.as_deref()) {
            (_, _, Some("enqueued")) => {
                Err(DeliveryError::Never("the forum queued the topic for its moderators' approval".into()))
            }
            (Some(id), Some(slug), _) => Ok(TopicRef { topic_id: id, path: format!("/t/{slug}/{id}") }),
            _ => Err(DeliveryError::Never("the forum's answer to a topic creation names no topic".into())),
        }
    }

    async fn reply(&self, topic_id: i64, raw: &str, act_as: Option<String>) -> Result<i64, DeliveryError> {
        let body = dto::CreatePost {
            title: None,
            raw,
            topic_id: Some(topic_id),
            category: None,
            archetype: None,
            target_recipients: None,
            external_id: None,
        };
        let created: dto::PostCreated = self
            .request(Method::POST, "/posts.json", &[], Some(&body), act_as.as_deref())
            .await?
            .ok()?
            .json("a reply")?;
        match (created.id, created.action.as_deref()) {
            (_, Some("enqueued")) => {
                Err(DeliveryError::Never("the forum queued the reply for its moderators' approval".into()))
            }
            (Some(id), _) => Ok(id),
            _ => Err(DeliveryError::Never("the forum's answer to a reply names no post".into())),
        }
    }

    async fn set_closed(&self, topic_id: i64, closed: bool) -> Result<(), DeliveryError> {
        self.set_status(topic_id, "closed", closed).await
    }

    async fn set_archived(&self, topic_id: i64, archived: bool) -> Result<(), DeliveryError> {
        self.set_status(topic_id, "archived", archived).await
    }

    async fn convert(&self, topic_id: i64, to: Visibility) -> Result<TopicRef, DeliveryError> {
        let moved: dto::Moved = match to {
            Visibility::Public => {
                let body = dto::ConvertToPublic { category_id: self.category_id };
                let path = format!("/t/{topic_id}/convert-topic/public.json");
                self.request(Method::PUT, &path, &[], Some(&body), None).await?.ok()?.json("a conversion")?
            }
            Visibility::Private => {
                // Converting admits only the posters and the acting user: the support group
                // is invited back in the same call, so both requests are metered together.
                let username = self.username(None)?;
                self.take(2)?;
                let url = format!("{}/t/{topic_id}/convert-topic/private.json", self.base);
                let moved: dto::Moved = self
                    .send::<()>(Method::PUT, &url, &[], None, username.clone())
                    .await?
                    .ok()?
                    .json("a conversion")?;
                if moved.success {
                    let invite = dto::InviteGroup { group: &self.support_group, should_notify: false };
                    let url = format!("{}/t/{topic_id}/invite-group.json", self.base);
                    self.send(Method::POST, &url, &[], Some(&invite), username).await?.ok()?;
                }
                moved
            }
        };
        if !moved.success {
            return Err(DeliveryError::Never("the forum did not convert the topic".into()));
        }
        Ok(moved
            .url
            .as_deref()
            .and_then(topic_ref_from_url)
            .filter(|t| t.topic_id == topic_id)
            .unwrap_or_else(|| TopicRef { topic_id, path: format!("/t/{topic_id}") }))
    }

    async fn merge_topics(&self, from: i64, into: i64) -> Result<(), DeliveryError> {
        let body = dto::MergeTopic { destination_topic_id: into };
        let path = format!("/t/{from}/merge-topic.json");
        // `{"success": false}` means nothing was left to move: an earlier attempt merged it.
        let _: dto::Moved = self.request(Method::POST, &path, &[], Some(&body), None).await?.ok()?.json("a merge")?;
        Ok(())
    }

    async fn delete_post(&self, post_id: i64) -> Result<(), DeliveryError> {
        let answer = self.request::<()>(Method::DELETE, &format!("/posts/{post_id}.json"), &[], None, None).await?;
        // Not there is what was asked for (an earlier attempt deleted it).
        if answer.status == StatusCode::NOT_FOUND {
            return Ok(());
        }
        answer.ok()?;
        Ok(())
    }

    async fn posts(&self, topic_id: i64) -> Result<Vec<ForumPost>, DeliveryError> {
        let path = format!("/t/{topic_id}.json");
        let view: dto::TopicView =
            self.request::<()>(Method::GET, &path, &[], None, None).await?.ok()?.json("a topic")?;
        let mut posts = view.post_stream.posts;
        let missing: Vec<i64> =
            view.post_stream.stream.iter().copied().filter(|id| !posts.iter().any(|p| p.id == *id)).collect();
        let path = format!("/t/{topic_id}/posts.json");
        for chunk in missing.chunks(POSTS_PER_REQUEST) {
            let query: Vec<(&str, String)> = chunk.iter().map(|id| ("post_ids[]", id.to_string())).collect();
            let more: dto::SomePosts =
                self.request::<()>(Method::GET, &path, &query, None, None).await?.ok()?.json("a topic's posts")?;
            posts.extend(more.post_stream.posts);
        }
        // Regular posts and moderator notices; not small actions ("closed this topic"),
        // whispers (staff only) or deleted posts.
        posts.retain(|p| matches!(p.post_type, 1 | 2) && p.deleted_at.is_none());
        posts.sort_by_key(|p| p.post_number);
        posts.dedup_by_key(|p| p.id);
        Ok(posts
            .into_iter()
            .map(|p| ForumPost {
                id: p.id,
                post_number: p.post_number,
                username: p.username,
                cooked: p.cooked,
                created_at: p.created_at,
            })
            .collect())
    }

    async fn search(&self, query: &str) -> Result<Vec<TopicHit>, DeliveryError> {
        let terms = search_terms(query);
        if terms.chars().count() < MIN_SEARCH_TERM {
            return Ok(Vec::new());
        }
        let query = [("q", format!("{terms} status:public"))];
        let found: dto::SearchResult =
            self.request::<()>(Method::GET, "/search.json", &query, None, None).await?.ok()?.json("a search")?;
        let mut hits: Vec<TopicHit> = Vec::new();
        for post in found.posts {
            if hits.iter().any(|h| h.topic.topic_id == post.topic_id) {
                continue;
            }
            let Some(topic) = found.topics.iter().find(|t| t.id == post.topic_id) else { continue };
            if topic.archetype.as_deref() == Some("private_message") || topic.slug.is_empty() {
                continue;
            }
            hits.push(TopicHit {
                topic: TopicRef { topic_id: topic.id, path: format!("/t/{}/{}", topic.slug, topic.id) },
                title: clean(&topic.title),
                blurb: plain_text(&post.blurb),
            });
        }
        Ok(hits)
    }

    async fn sync_user(&self, identity: &ForumIdentity) -> Result<(), DeliveryError> {
        let connect = self.connect.as_ref().ok_or_else(|| {
            DeliveryError::Never("DiscourseConnect is not configured (OSTS_DISCOURSE_CONNECT_SECRET)".into())
        })?;
        let group = vec![self.support_group.clone()];
        let who = Identity {
            external_id: identity.external_id,
            email: identity.email.clone(),
            username: identity.username.clone(),
            name: identity.name.clone(),
            add_groups: if identity.support { group.clone() } else { Vec::new() },
            remove_groups: if identity.support { Vec::new() } else { group },
            moderator: identity.moderator,
        };
        let (sso, sig) = connect.payload(None, &who);
        let body = dto::SyncSso { sso, sig };
        self.request(Method::POST, "/admin/users/sync_sso", &[], Some(&body), None).await?.ok()?;
        Ok(())
    }

    fn provisions_users(&self) -> bool {
        self.connect.is_some()
    }

    async fn username_with_email(&self, email: &str) -> Result<Option<String>, DeliveryError> {
        let email = email.trim();
        if email.is_empty() {
            return Ok(None);
        }
        // Active accounts only (an account never activated has an unconfirmed email), with
        // their emails shown; the filter's own matching is not relied on: the answer's
        // primary `email` must be the address asked about.
        let query = [("email", email.to_owned()), ("show_emails", "true".to_owned())];
        let users: Vec<dto::AdminUser> = self
            .request::<()>(Method::GET, "/admin/users/list/active.json", &query, None, None)
            .await?
            .ok()?
            .json("a user lookup")?;
        Ok(users
            .into_iter()
            .find(|u| !u.staged && u.email.as_deref().is_some_and(|e| e.trim().eq_ignore_ascii_case(email)))
            .map(|u| u.username))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_urls_are_read_under_a_subfolder_and_with_suffixes() {
        let expect = |id, slug: &str| Some(TopicRef { topic_id: id, path: format!("/t/{slug}/{id}") });
        assert_eq!(
            topic_ref_from_url("https://forum.uni.edu/t/printer-on-fire/12.json"),
            expect(12, "printer-on-fire")
        );
        assert_eq!(topic_ref_from_url("/t/printer-on-fire/12"), expect(12, "printer-on-fire"));
        assert_eq!(topic_ref_from_url("https://uni.edu/forum/t/topic/7.json?u=x"), expect(7, "topic"));
        assert_eq!(topic_ref_from_url("/t/12.json"), None);
        assert_eq!(topic_ref_from_url("/t/x/0"), None);
        assert_eq!(topic_ref_from_url("/latest"), None);
    }

    #[test]
    fn external_ids_follow_the_route_constraint() {
        assert!(valid_external_id("osts-1042"));
        assert!(valid_external_id("a_b-C9"));
        for bad in ["", "osts 1", "osts/1", "../x", "osts-é", &"x".repeat(51)] {
            assert!(!valid_external_id(bad), "{bad}");
        }
    }

    #[test]
    fn search_operators_in_a_draft_are_dropped() {
        assert_eq!(
            search_terms("Printer   on fire in:personal @system #staff status:closed \"x\""),
            "Printer on fire x"
        );
        assert_eq!(search_terms("in:messages"), "");
        assert!(search_terms(&"word ".repeat(100)).chars().count() <= 200);
    }

    #[test]
    fn blurbs_lose_their_markup() {
        assert_eq!(
            plain_text("The <span class=\"search-highlight\">printer</span> is &lt;on&gt; fire &amp; smoking"),
            "The printer is <on> fire & smoking"
        );
    }

    fn api(support_group: &str) -> ForumApi {
        let mut config =
            ForumConfig::new("https://forum.uni.edu/", SecretString::from("k".repeat(64)), support_group, 5);
        config.connect_secret = Some(SecretString::from("connect secret of length"));
        ForumApi::new(config).unwrap()
    }

    #[test]
    fn recipients_add_the_support_group_once_and_leave_out_the_author() {
        let api = api("support");
        let topic = NewTopic {
            external_id: "osts-1".into(),
            title: "t".into(),
            raw: "r".into(),
            visibility: Visibility::Private,
            recipients: vec!["Ada".into(), "bo".into(), "ada".into(), " ".into(), "Support".into()],
            act_as: Some("bo".into()),
        };
        assert_eq!(api.recipients(&topic), "Ada,Support");
        let topic = NewTopic { act_as: None, recipients: vec!["ada".into()], ..topic };
        assert_eq!(api.recipients(&topic), "ada,support");
    }

    #[test]
    fn configurations_that_cannot_work_are_refused_and_secrets_are_not_printed() {
        let ok = api("support");
        let shown = format!("{ok:?}");
        assert!(
            shown.contains("forum.uni.edu") && !shown.contains("kkkk") && !shown.contains("connect secret"),
            "{shown}"
        );
        assert_eq!(ok.base, "https://forum.uni.edu");
        assert_eq!(ok.topic_url(&TopicRef { topic_id: 3, path: "/t/x/3".into() }), "https://forum.uni.edu/t/x/3");
        let with = |url: &str, key: &str| {
            ForumApi::new(ForumConfig::new(url, SecretString::from(key.to_owned()), "s", 1)).err()
        };
        assert_eq!(with("ftp://forum.uni.edu", "k"), Some(ConfigError::BadUrl));
        assert_eq!(with("https://user:pw@forum.uni.edu", "k"), Some(ConfigError::BadUrl));
        assert_eq!(with("https://forum.uni.edu?x=1", "k"), Some(ConfigError::BadUrl));
        assert_eq!(with("not a url", "k"), Some(ConfigError::BadUrl));
        assert_eq!(with("https://forum.uni.edu", ""), Some(ConfigError::BadHeader));
        assert_eq!(with("https://forum.uni.edu", "bad\nkey"), Some(ConfigError::BadHeader));
        assert!(format!("{:?}", ForumConfig::new("https://f", SecretString::from("topsecret"), "s", 1))
            .contains("REDACTED"));
    }

    #[test]
    fn only_the_forums_own_urls_are_followed() {
        let api = api("support");
        assert_eq!(api.on_forum("/t/x/1.json").as_deref(), Some("https://forum.uni.edu/t/x/1.json"));
        assert_eq!(
            api.on_forum("https://forum.uni.edu/t/x/1.json").as_deref(),
            Some("https://forum.uni.edu/t/x/1.json")
        );
        assert_eq!(api.on_forum("https://evil.example/t/x/1.json"), None);
        assert_eq!(api.on_forum("//evil.example/t/x/1.json"), None);
        assert_eq!(api.on_forum("http://forum.uni.edu/t/x/1.json"), None, "another scheme is another origin");
    }
}
