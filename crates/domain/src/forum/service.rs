//! Threads as people use them: asking for one, linking one, reading it, moderating it, and
//! what the forum's webhooks bring back.

use std::sync::Arc;
use std::time::Duration;

use crate::accounts::Principal;
use crate::actor::{Actor, Integration};
use crate::clock::Clock;
use crate::error::{Conflict, Error, Forbidden, Resource};
use crate::tickets::{Change, Status, TicketId, TicketRepository};

use super::{ForumClient, ForumPost, ForumRepository, ForumThread, ThreadError, ThreadState, TopicHit, Visibility};

/// The forum's settings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ForumSettings {
    /// The forum's base URL (`OSTS_DISCOURSE_URL`); `None`: the forum is off.
    pub base_url: Option<String>,
    /// The forum username osts posts as (`OSTS_DISCOURSE_API_USERNAME`): its own posts coming
    /// back through webhooks are not replies.
    pub api_username: String,
}

/// A thread as a reader sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThreadView {
    /// The thread.
    pub thread: ForumThread,
    /// Its posts, oldest first (`None` if the forum could not be reached).
    pub posts: Option<Vec<ForumPost>>,
}

/// What a forum webhook told osts (already verified and parsed by the adapter).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ForumEvent {
    /// A post in a topic.
    Reply {
        /// The topic.
        topic_id: i64,
        /// The post.
        post_id: i64,
        /// Its number (1 opens the topic).
        post_number: i64,
        /// Its author.
        username: String,
    },
    /// A like of a post.
    Like {
        /// The topic.
        topic_id: i64,
        /// The post.
        post_id: i64,
        /// Who liked it.
        username: String,
    },
    /// A topic closed or reopened on the forum.
    Closed {
        /// The topic.
        topic_id: i64,
        /// Closed now (`false`: reopened).
        closed: bool,
    },
}

/// How long a draft's forum search may take before the student gets no forum suggestions.
const SEARCH_TIMEOUT: Duration = Duration::from_secs(2);

/// Threads.
#[derive(Clone)]
pub struct ForumService {
    repo: Arc<dyn ForumRepository>,
    tickets: Arc<dyn TicketRepository>,
    client: Option<Arc<dyn ForumClient>>,
    clock: Arc<dyn Clock>,
    settings: ForumSettings,
}

impl ForumService {
    /// The service; without a client (and a base URL) the forum is off.
    pub fn new(
        repo: Arc<dyn ForumRepository>,
        tickets: Arc<dyn TicketRepository>,
        clock: Arc<dyn Clock>,
        settings: ForumSettings,
    ) -> Self {
        Self { repo, tickets, client: None, clock, settings }
    }

    /// With the forum client (the forum is on).
    pub fn with_client(self, client: Arc<dyn ForumClient>) -> Self {
        Self { client: Some(client), ..self }
    }

    /// Whether the forum is configured.
    pub fn enabled(&self) -> bool {
        self.client.is_some() && self.settings.base_url.is_some()
    }

    fn client(&self) -> Result<&Arc<dyn ForumClient>, Error> {
        match (&self.client, &self.settings.base_url) {
            (Some(client), Some(_)) => Ok(client),
            _ => Err(Error::Conflict(Conflict::ForumNotConfigured)),
        }
    }

    /// A topic's address on the forum, from the path the forum gave.
    pub fn url(&self, path: &str) -> Option<String> {
        let base = self.settings.base_url.as_deref()?.trim_end_matches('/');
        Some(format!("{base}{path}"))
    }

    /// The ticket (as the principal may see it) and whether they are its creator.
    async fn ticket(&self, principal: &Principal, id: TicketId) -> Result<crate::tickets::Ticket, Error> {
        principal.require_active()?;
        Ok(self.tickets.get(id, principal.id()).await?.ok_or(Error::NotFound(Resource::Ticket))?.ticket)
    }

    /// The ticket's thread, if the principal may read it: public threads with the ticket,
    /// private ones for the ticket's creator and staff. Posts are read from the forum.
    pub async fn thread(&self, principal: &Principal, id: TicketId) -> Result<Option<ThreadView>, Error> {
        let ticket = self.ticket(principal, id).await?;
        let Some(thread) = self.repo.thread(id).await? else { return Ok(None) };
        let staff = principal.role().is_staff();
        if thread.visibility == Visibility::Private && !staff && ticket.creator_id() != principal.id() {
            return Ok(None);
        }
        let posts = match (thread.topic_id, &self.client) {
            (Some(topic), Some(client)) => match client.posts(topic).await {
                Ok(posts) => Some(posts),
                Err(e) => {
                    tracing::warn!(ticket = id.get(), error = %e, "the forum did not give the thread's posts");
                    None
                }
            },
            _ => None,
        };
        Ok(Some(ThreadView { thread, posts }))
    }

    /// Asks for a thread for the ticket (its creator or staff): private by default; the forum
    /// job opens it.
    pub async fn create(
        &self,
        principal: &Principal,
        id: TicketId,
        visibility: Visibility,
    ) -> Result<ForumThread, Error> {
        let ticket = self.ticket(principal, id).await?;
        if !principal.role().is_staff() && ticket.creator_id() != principal.id() {
            return Err(Error::Forbidden(Forbidden::NotOwner));
        }
        self.client()?;
        if matches!(ticket.status(), Status::Closed | Status::Merged) {
            return Err(Error::Conflict(Conflict::TicketClosed));
        }
        self.repo.request_thread(id, visibility, principal.actor(), self.clock.now()).await.map_err(thread_error)
    }

    /// Links an existing public forum topic as the ticket's thread (its creator or staff).
    pub async fn link(&self, principal: &Principal, id: TicketId, topic_id: i64) -> Result<ForumThread, Error> {
        let ticket = self.ticket(principal, id).await?;
        if !principal.role().is_staff() && ticket.creator_id() != principal.id() {
            return Err(Error::Forbidden(Forbidden::NotOwner));
        }
        let client = self.client()?;
        // Only a topic the forum shows publicly can be joined.
        let found = client
            .posts(topic_id)
            .await
            .map_err(|e| Error::Unknown(anyhow::anyhow!("the forum did not answer: {e}")))?;
        if found.is_empty() {
            return Err(Error::invalid("topic_id", "unknown_topic", "there is no such forum topic"));
        }
        let url = self.url(&format!("/t/{topic_id}")).unwrap_or_default();
        let topic = super::TopicRef { topic_id, path: url };
        self.repo
            .link_thread(id, &topic, Visibility::Public, principal.actor(), self.clock.now())
            .await
            .map_err(thread_error)
    }

    /// The thread of a ticket, required.
    async fn existing(&self, id: TicketId) -> Result<ForumThread, Error> {
        self.repo.thread(id).await?.ok_or(Error::NotFound(Resource::Thread))
    }

    /// Makes a thread public or private (staff).
    pub async fn set_visibility(
        &self,
        principal: &Principal,
        id: TicketId,
        to: Visibility,
    ) -> Result<ForumThread, Error> {
        principal.require_staff()?;
        self.ticket(principal, id).await?;
        self.client()?;
        let thread = self.existing(id).await?;
        if thread.visibility != to {
            let change = Change::ThreadVisibilityChanged { to };
            self.repo.change_thread(id, &change, to, thread.state, principal.actor(), self.clock.now()).await?;
        }
        self.existing(id).await
    }

    /// Closes (staff) or reopens (staff, or the ticket's creator) a thread by hand.
    pub async fn set_closed(&self, principal: &Principal, id: TicketId, closed: bool) -> Result<ForumThread, Error> {
        let ticket = self.ticket(principal, id).await?;
        let staff = principal.role().is_staff();
        if !staff && (closed || ticket.creator_id() != principal.id()) {
            return Err(Error::Forbidden(if closed { Forbidden::RoleNotAllowed } else { Forbidden::NotOwner }));
        }
        self.client()?;
        let thread = self.existing(id).await?;
        let state = if closed { ThreadState::Closed } else { ThreadState::Open };
        if thread.state != state && thread.state != ThreadState::Pending {
            let change = if closed {
                Change::ThreadClosed { on_forum: false }
            } else {
                Change::ThreadReopened { on_forum: false }
            };
            self.repo.change_thread(id, &change, thread.visibility, state, principal.actor(), self.clock.now()).await?;
        }
        self.existing(id).await
    }

    /// Deletes a post of the thread on the forum (admins).
    pub async fn delete_post(&self, principal: &Principal, id: TicketId, post_id: i64) -> Result<(), Error> {
        principal.require_admin()?;
        self.ticket(principal, id).await?;
        self.client()?;
        let thread = self.existing(id).await?;
        let change = Change::ThreadPostDeleted { post_id };
        self.repo
            .change_thread(id, &change, thread.visibility, thread.state, principal.actor(), self.clock.now())
            .await?;
        Ok(())
    }

    /// Public forum topics like a draft (an empty list when the forum is off or slow).
    pub async fn similar(&self, principal: &Principal, title: &str) -> Result<Vec<TopicHit>, Error> {
        principal.require_active()?;
        let Ok(client) = self.client() else { return Ok(vec![]) };
        let words: String = title.split_whitespace().take(12).collect::<Vec<_>>().join(" ");
        if words.chars().count() < 3 {
            return Ok(vec![]);
        }
        match tokio::time::timeout(SEARCH_TIMEOUT, client.search(&words)).await {
            Ok(Ok(hits)) => Ok(hits.into_iter().take(5).collect()),
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "forum search failed");
                Ok(vec![])
            }
            Err(_) => Ok(vec![]),
        }
    }

    /// The ticket ↔ thread map (admins).
    pub async fn threads(&self, principal: &Principal, limit: u32) -> Result<Vec<super::ThreadMapEntry>, Error> {
        principal.require_admin()?;
        Ok(self.repo.threads(limit.clamp(1, 500)).await?)
    }

    /// The most active threads (admins): replies and likes osts heard of through the forum's
    /// webhooks, most first; see [`super::ThreadActivity`] for what is counted.
    pub async fn active_threads(
        &self,
        principal: &Principal,
        limit: crate::page::PageLimit,
        cursor: Option<String>,
    ) -> Result<crate::page::Page<super::ThreadActivity>, Error> {
        principal.require_admin()?;
        Ok(self.repo.active_threads(limit, cursor).await?)
    }

    /// Acts on a verified forum webhook, once per happening (`key`: the adapter's
    /// deduplication key, stable across Discourse's retries): a reply or a like in a ticket's
    /// thread notifies the ticket's people; a topic closed or reopened on the forum updates
    /// the thread. Events about topics that are no ticket's thread, and osts's own posts,
    /// change nothing.
    pub async fn received(&self, event: ForumEvent, key: &str) -> Result<(), Error> {
        let topic = match &event {
            ForumEvent::Reply { topic_id, .. }
            | ForumEvent::Like { topic_id, .. }
            | ForumEvent::Closed { topic_id, .. } => *topic_id,
        };
        let Some(ticket) = self.repo.ticket_of_topic(topic).await? else { return Ok(()) };
        let Some(thread) = self.repo.thread(ticket).await? else { return Ok(()) };
        if !self.repo.first_delivery(key, self.clock.now()).await? {
            return Ok(());
        }
        let forum = Actor::Integration(Integration::Forum);
        let now = self.clock.now();
        let (change, state) = match event {
            // The opening post and osts's own status notes are not replies.
            ForumEvent::Reply { post_number, ref username, .. }
                if post_number <= 1 || username.eq_ignore_ascii_case(&self.settings.api_username) =>
            {
                return Ok(());
            }
            ForumEvent::Reply { post_id, username, .. } => (Change::ThreadReply { post_id, username }, thread.state),
            ForumEvent::Like { post_id, username, .. } => (Change::ThreadLiked { post_id, username }, thread.state),
            ForumEvent::Closed { closed: true, .. } => (Change::ThreadClosed { on_forum: true }, ThreadState::Closed),
            ForumEvent::Closed { closed: false, .. } => (Change::ThreadReopened { on_forum: true }, ThreadState::Open),
        };
        self.repo.change_thread(ticket, &change, thread.visibility, state, forum, now).await?;
        Ok(())
    }

    /// Records a DiscourseConnect login's nonce: `false` if it was used before (a replay).
    pub async fn fresh_nonce(&self, nonce: &str) -> Result<bool, Error> {
        Ok(self.repo.first_delivery(&format!("connect-nonce:{nonce}"), self.clock.now()).await?)
    }
}

fn thread_error(e: ThreadError) -> Error {
    match e {
        ThreadError::Exists => Error::Conflict(Conflict::ThreadExists),
        ThreadError::TopicTaken => Error::invalid("topic_id", "topic_taken", "that topic is another ticket's thread"),
        ThreadError::NoTicket => Error::NotFound(Resource::Ticket),
        ThreadError::Unknown(e) => Error::Unknown(e),
    }
}
