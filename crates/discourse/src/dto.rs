//! The bodies osts sends to Discourse and the parts of its answers osts reads, one type per
//! endpoint, private to the crate. Field names are Discourse's (see
//! `shared/contracts/discourse-and-chat-notes.md`, section 1.5); the contract test checks
//! every request against the published spec or, where the spec has a gap, the notes.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// `POST /posts.json`: a new topic, private message or reply.
#[derive(Debug, Serialize)]
pub(crate) struct CreatePost<'a> {
    /// The topic's title (a new topic or private message).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<&'a str>,
    /// The post's Markdown.
    pub raw: &'a str,
    /// The topic replied to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub topic_id: Option<i64>,
    /// The category of a public topic.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub category: Option<i64>,
    /// `private_message` for a private message.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub archetype: Option<&'static str>,
    /// A private message's readers: usernames and group names, comma-separated
    /// (`target_usernames` is deprecated and dropped by current Discourse).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_recipients: Option<String>,
    /// `osts-<ticket number>`, to find the topic again (`GET /t/external_id/{id}.json`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub external_id: Option<&'a str>,
}

/// The answer to `POST /posts.json`: the created post, or (`action: "enqueued"`) a post
/// waiting for a moderator's approval.
#[derive(Debug, Deserialize)]
pub(crate) struct PostCreated {
    pub id: Option<i64>,
    pub topic_id: Option<i64>,
    pub topic_slug: Option<String>,
    pub action: Option<String>,
}

/// `PUT /t/{id}/status.json`. `enabled` is the string `"true"` or `"false"`: Discourse
/// compares it with `"true"`, so a JSON boolean `true` would reopen a topic.
#[derive(Debug, Serialize)]
pub(crate) struct Status {
    pub status: &'static str,
    pub enabled: &'static str,
}

/// `PUT /t/{id}/convert-topic/public.json` (not in the published spec).
#[derive(Debug, Serialize)]
pub(crate) struct ConvertToPublic {
    pub category_id: i64,
}

/// `POST /t/{id}/invite-group.json`: lets the support group read a private message again
/// after a conversion (which admits only the posters and the acting user).
#[derive(Debug, Serialize)]
pub(crate) struct InviteGroup<'a> {
    pub group: &'a str,
    pub should_notify: bool,
}

/// `POST /t/{id}/merge-topic.json` (not in the published spec): every post of the topic
/// moves into the destination.
#[derive(Debug, Serialize)]
pub(crate) struct MergeTopic {
    pub destination_topic_id: i64,
}

/// The answer to convert, merge and move: `{"success": true, "url": "/t/<slug>/<id>"}`.
#[derive(Debug, Deserialize)]
pub(crate) struct Moved {
    #[serde(default)]
    pub success: bool,
    pub url: Option<String>,
}

/// `POST /admin/users/sync_sso` (not in the published spec): a signed DiscourseConnect
/// payload, as a login would carry.
#[derive(Debug, Serialize)]
pub(crate) struct SyncSso {
    pub sso: String,
    pub sig: String,
}

/// The parts of `GET /t/{id}.json` osts reads.
#[derive(Debug, Deserialize)]
pub(crate) struct TopicView {
    pub id: i64,
    pub slug: String,
    #[serde(default)]
    pub post_stream: PostStream,
}

/// A topic's posts: the first chunk, and the ids of all (`stream`).
#[derive(Debug, Default, Deserialize)]
pub(crate) struct PostStream {
    #[serde(default)]
    pub posts: Vec<Post>,
    #[serde(default)]
    pub stream: Vec<i64>,
}

/// The answer to `GET /t/{id}/posts.json?post_ids[]=...`.
#[derive(Debug, Deserialize)]
pub(crate) struct SomePosts {
    #[serde(default)]
    pub post_stream: PostStream,
}

/// A post as a topic view shows it.
#[derive(Debug, Deserialize)]
pub(crate) struct Post {
    pub id: i64,
    pub post_number: i64,
    #[serde(default)]
    pub username: String,
    #[serde(default)]
    pub cooked: String,
    pub created_at: DateTime<Utc>,
    /// 1 regular, 2 moderator action, 3 small action ("closed this topic"), 4 whisper.
    #[serde(default = "regular")]
    pub post_type: i64,
    pub deleted_at: Option<String>,
}

fn regular() -> i64 {
    1
}

/// The parts of `GET /search.json` osts reads: posts with blurbs, and their topics
/// side-loaded at the top level (a key the published spec leaves out).
#[derive(Debug, Deserialize)]
pub(crate) struct SearchResult {
    #[serde(default)]
    pub posts: Vec<SearchPost>,
    #[serde(default)]
    pub topics: Vec<SearchTopic>,
}

/// A post search found.
#[derive(Debug, Deserialize)]
pub(crate) struct SearchPost {
    pub topic_id: i64,
    #[serde(default)]
    pub blurb: String,
}

/// A topic of a search's posts.
#[derive(Debug, Deserialize)]
pub(crate) struct SearchTopic {
    pub id: i64,
    #[serde(default)]
    pub title: String,
    #[serde(default)]
    pub slug: String,
    pub archetype: Option<String>,
}

/// An account of `GET /admin/users/list/{flag}.json?email=..&show_emails=true` (admins only),
/// the parts osts reads: `email` is the account's primary email (its other addresses are in
/// `secondary_emails`, which osts does not count).
#[derive(Debug, Deserialize)]
pub(crate) struct AdminUser {
    pub username: String,
    pub email: Option<String>,
    #[serde(default)]
    pub staged: bool,
}
