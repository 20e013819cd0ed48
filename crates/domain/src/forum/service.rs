//! Threads as people use them: asking for one, linking one, reading it, moderating it, and
//! what the forum's webhooks bring back.

use std::sync::Arc;
use std::time::Duration;

use crate::accounts::{AccountRepository, Principal};
use crate::actor::{Actor, Integration};
use crate::clock::Clock;
use crate::error::{Conflict, Error, Forbidden, Resource};
use crate::tickets::{Change, Status, TicketId, TicketRepository};

use super::{
    ForumClient, ForumPost, ForumRepository, ForumThread, ForumUsername, LinkError, LinkedAccount, ThreadError,
    ThreadState, TopicHit, Visibility,
};

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

/// How long the proof of a forum account (one read of the forum) may take.
const PROOF_TIMEOUT: Duration = Duration::from_secs(5);

/// When to try linking again after the forum could not be asked.
const PROOF_RETRY_SECS: u64 = 30;

/// Threads.
#[derive(Clone)]
pub struct ForumService {
    repo: Arc<dyn ForumRepository>,
    tickets: Arc<dyn TicketRepository>,
    accounts: Arc<dyn AccountRepository>,
    client: Option<Arc<dyn ForumClient>>,
    clock: Arc<dyn Clock>,
    settings: ForumSettings,
}

impl ForumService {
    /// The service; without a client (and a base URL) the forum is off.
    pub fn new(
        repo: Arc<dyn ForumRepository>,
        tickets: Arc<dyn TicketRepository>,
        accounts: Arc<dyn AccountRepository>,
        clock: Arc<dyn Clock>,
        settings: ForumSettings,
    ) -> Self {
        Self { repo, tickets, accounts, client: None, clock, settings }
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

    /// The forum account the principal linked, if any.
    pub async fn linked_account(&self, principal: &Principal) -> Result<Option<LinkedAccount>, Error> {
        principal.require_active()?;
        Ok(self.repo.linked_account(principal.id()).await?)
    }

    /// Links the principal's existing forum account `username`, where the forum keeps its own
    /// accounts, once osts has proven it is theirs: the account's primary email, read from the
    /// forum with the admin API, is the principal's confirmed email. Anything else is refused
    /// and nothing is stored, so an unproven username is never used. The proof is one read of
    /// the forum with a short timeout; nothing is written there.
    pub async fn link_account(&self, principal: &Principal, username: ForumUsername) -> Result<LinkedAccount, Error> {
        principal.require_active()?;
        let client = self.client()?;
        if client.provisions_users() {
            return Err(Error::Conflict(Conflict::ForumAccountsFromOsts));
        }
        let account = self.accounts.find(principal.id()).await?.ok_or(Error::Unauthenticated)?;
        if account.email_confirmed_at.is_none() {
            return Err(Error::Forbidden(Forbidden::EmailUnconfirmed));
        }
        let busy = Error::Busy { retry_after_secs: PROOF_RETRY_SECS };
        let found = match tokio::time::timeout(PROOF_TIMEOUT, client.username_with_email(account.email.as_str())).await
        {
            Ok(Ok(found)) => found,
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "the forum could not be asked whose account an email is");
                return Err(busy);
            }
            Err(_) => return Err(busy),
        };
        match found {
            // Stored as the forum spells it.
            Some(name) if username.same_as(&name) => {
                let proven = ForumUsername::parse(&name)?;
                self.repo.link_account(principal.id(), &proven, self.clock.now()).await.map_err(|e| match e {
                    LinkError::Taken => Error::Conflict(Conflict::ForumAccountTaken),
                    LinkError::Unknown(e) => Error::Unknown(e),
                })
            }
            Some(_) | None => Err(Error::Forbidden(Forbidden::ForumAccountNotYours)),
        }
    }

    /// Forgets the principal's linked forum account (nothing if there was none).
    pub async fn unlink_account(&self, principal: &Principal) -> Result<(), Error> {
        principal.require_active()?;
        self.repo.unlink_account(principal.id()).await?;
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

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};

    use super::*;
    use crate::accounts::{Account, AccountStatus, DisplayName, Email, MockAccountRepository, Role, UserId};
    use crate::clock::FixedClock;
    use crate::forum::{MockForumClient, MockForumRepository};
    use crate::tickets::MockTicketRepository;

    fn now() -> chrono::DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 1, 9, 0, 0).unwrap()
    }

    fn ada(confirmed: bool) -> Account {
        Account {
            id: UserId::new(7),
            email: Email::parse("ada@uni.edu").unwrap(),
            display_name: DisplayName::parse("Ada").unwrap(),
            role: Role::Student,
            status: AccountStatus::Active,
            email_confirmed_at: confirmed.then(now),
            status_reason: None,
            created_at: now(),
        }
    }

    fn service(repo: MockForumRepository, client: MockForumClient, confirmed: bool) -> ForumService {
        let mut accounts = MockAccountRepository::new();
        accounts.expect_find().returning(move |_| Ok(Some(ada(confirmed))));
        ForumService::new(
            Arc::new(repo),
            Arc::new(MockTicketRepository::new()),
            Arc::new(accounts),
            Arc::new(FixedClock(now())),
            ForumSettings { base_url: Some("https://forum.uni.edu".into()), api_username: "system".into() },
        )
        .with_client(Arc::new(client))
    }

    fn forum_with(owner_of_adas_email: Option<&'static str>) -> MockForumClient {
        let mut client = MockForumClient::new();
        client.expect_provisions_users().return_const(false);
        client
            .expect_username_with_email()
            .withf(|email| email == "ada@uni.edu")
            .returning(move |_| Ok(owner_of_adas_email.map(str::to_owned)));
        client
    }

    fn principal() -> Principal {
        Principal::from_parts(UserId::new(7), Role::Student, AccountStatus::Active)
    }

    fn name(raw: &str) -> ForumUsername {
        ForumUsername::parse(raw).unwrap()
    }

    #[tokio::test]
    async fn a_forum_account_whose_primary_email_is_the_users_is_linked_as_the_forum_spells_it() {
        let mut repo = MockForumRepository::new();
        repo.expect_link_account()
            .withf(|user, username, at| user.get() == 7 && username.as_str() == "Ada_L" && *at == now())
            .times(1)
            .returning(|_, u, at| Ok(LinkedAccount { username: u.as_str().to_owned(), linked_at: at }));
        let linked = service(repo, forum_with(Some("Ada_L")), true).link_account(&principal(), name("ada_l")).await;
        assert_eq!(linked.unwrap().username, "Ada_L");
    }

    #[tokio::test]
    async fn someone_elses_or_an_unknown_username_is_refused_and_nothing_is_stored() {
        // Ada asks for bo_smith: the account whose primary email is hers is another one, or
        // there is none. bo_smith's email is not hers either way.
        for owner_of_adas_email in [Some("ada_l"), None] {
            let mut repo = MockForumRepository::new();
            repo.expect_link_account().never();
            let refused =
                service(repo, forum_with(owner_of_adas_email), true).link_account(&principal(), name("bo_smith")).await;
            assert!(
                matches!(refused, Err(Error::Forbidden(Forbidden::ForumAccountNotYours))),
                "{owner_of_adas_email:?}: {refused:?}"
            );
        }
    }

    #[tokio::test]
    async fn no_proof_without_a_confirmed_email_a_reachable_forum_or_where_osts_makes_the_accounts() {
        let mut client = MockForumClient::new();
        client.expect_provisions_users().return_const(false);
        client.expect_username_with_email().never();
        let unconfirmed =
            service(MockForumRepository::new(), client, false).link_account(&principal(), name("ada")).await;
        assert!(matches!(unconfirmed, Err(Error::Forbidden(Forbidden::EmailUnconfirmed))), "{unconfirmed:?}");

        let mut client = MockForumClient::new();
        client.expect_provisions_users().return_const(false);
        client.expect_username_with_email().returning(|_| Err(crate::notifications::DeliveryError::later("503")));
        let down = service(MockForumRepository::new(), client, true).link_account(&principal(), name("ada")).await;
        assert!(matches!(down, Err(Error::Busy { .. })), "{down:?}");

        let mut client = MockForumClient::new();
        client.expect_provisions_users().return_const(true);
        client.expect_username_with_email().never();
        let connect = service(MockForumRepository::new(), client, true).link_account(&principal(), name("ada")).await;
        assert!(matches!(connect, Err(Error::Conflict(Conflict::ForumAccountsFromOsts))), "{connect:?}");

        let mut repo = MockForumRepository::new();
        repo.expect_link_account().returning(|_, _, _| Err(LinkError::Taken));
        let taken = service(repo, forum_with(Some("ada")), true).link_account(&principal(), name("ada")).await;
        assert!(matches!(taken, Err(Error::Conflict(Conflict::ForumAccountTaken))), "{taken:?}");
    }
}
