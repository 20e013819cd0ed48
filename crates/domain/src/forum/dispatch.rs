//! The forum channel's port: carries out one forum job against the [`ForumClient`], reading
//! the ticket, its thread and the event as they are when the job runs.

use std::sync::Arc;

use async_trait::async_trait;

use crate::actor::Actor;
use crate::clock::Clock;
use crate::notifications::{DeliveryError, ForumPort};
use crate::tickets::{Change, TicketId};

use super::{ForumAction, ForumClient, ForumJob, ForumJobContext, ForumRepository, NewTopic, TopicRef, Visibility};

/// Carries out forum jobs.
#[derive(Clone)]
pub struct ForumDispatcher {
    repo: Arc<dyn ForumRepository>,
    client: Arc<dyn ForumClient>,
    ticket_url: Arc<dyn Fn(i64) -> String + Send + Sync>,
    base_url: String,
    clock: Arc<dyn Clock>,
}

impl ForumDispatcher {
    /// A dispatcher for the forum at `base_url`; `ticket_url` makes the link to a ticket from
    /// its number.
    pub fn new(
        repo: Arc<dyn ForumRepository>,
        client: Arc<dyn ForumClient>,
        ticket_url: Arc<dyn Fn(i64) -> String + Send + Sync>,
        base_url: &str,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self { repo, client, ticket_url, base_url: base_url.trim_end_matches('/').to_owned(), clock }
    }

    /// The merge of a ticket whose thread is `topic` into ticket `into`: the posts move into
    /// the target's thread; a target without a thread takes this one (`ThreadLinked` on it, by
    /// whoever merged). A target whose own thread is still being opened waits for it.
    async fn merge(
        &self,
        ticket: TicketId,
        topic: i64,
        into: TicketId,
        context: &ForumJobContext,
    ) -> Result<(), DeliveryError> {
        let store = |e: anyhow::Error| DeliveryError::later(format!("cannot read the merge's target: {e}"));
        match self.repo.thread(into).await.map_err(store)? {
            Some(target) => match target.topic_id {
                Some(destination) if destination == topic => Ok(()),
                Some(destination) => self.client.merge_topics(topic, destination).await,
                None => Err(DeliveryError::later(format!(
                    "the thread of ticket {} is not opened on the forum yet",
                    into.get()
                ))),
            },
            None => {
                let actor = context
                    .actor
                    .as_ref()
                    .map_or(Actor::System, |a| Actor::User(crate::accounts::UserId::new(a.external_id)));
                let moved = self.repo.move_thread(ticket, into, actor, self.clock.now()).await.map_err(store)?;
                if moved {
                    Ok(())
                } else {
                    // The target got a thread in between: try again, to merge into it.
                    Err(DeliveryError::later(format!("ticket {} has a thread now", into.get())))
                }
            }
        }
    }

    /// The topic as stored: its path made a full address on the forum.
    fn stored(&self, topic: &TopicRef) -> TopicRef {
        let path = if topic.path.starts_with("http") {
            topic.path.clone()
        } else {
            format!("{}{}", self.base_url, topic.path)
        };
        TopicRef { topic_id: topic.topic_id, path }
    }

    /// Whether the student's forum username is theirs: one they linked (proven by its
    /// email), or the one osts provisions where the forum's accounts come from osts. Where the
    /// forum keeps its own accounts, the name osts would give them may be someone else's.
    fn proven(&self, context: &ForumJobContext) -> bool {
        context.creator.linked || self.client.provisions_users()
    }

    /// The opening post of a ticket's topic; it mentions the student only by a proven name.
    fn opening(&self, context: &ForumJobContext) -> String {
        let t = &context.ticket;
        let who =
            if self.proven(context) { format!("@{}", context.creator.username) } else { context.creator.name.clone() };
        format!(
            "{}\n\n---\nThe forum thread of ticket [#{}]({}), raised by {who}.",
            t.description().as_str(),
            t.id().get(),
            (self.ticket_url)(t.id().get()),
        )
    }
}

/// The status note posted in the thread for ticket event `event`.
///
/// It ends with the event in an HTML comment (not shown on the forum): Discourse answers an
/// identical post by the same user in the same topic within 120 s with the first one, so two
/// events with the same words (assigned to Ada, to Bo, to Ada again) would lose a note, while
/// a retried job, with the same body, is still answered from that memo instead of posting
/// twice.
pub fn status_note(context: &ForumJobContext, event: i64) -> String {
    let who = context.actor.as_ref().map_or_else(|| "osts".to_owned(), |a| a.name.clone());
    let note = match &context.change {
        Change::AssigneeChanged { to: Some(_), .. } => {
            // The event's assignee, not the ticket's now: the job may run after later events.
            let assignee = context.assigned.as_ref().map_or_else(|| "a support member".into(), |a| a.name.clone());
            format!("**Status:** the ticket is assigned to {assignee}.")
        }
        Change::Resolved { answer } => format!("**Status:** resolved by {who}.\n\n> {}", answer.replace('\n', "\n> ")),
        Change::Reopened { reason } => format!("**Status:** reopened by {who}: {reason}"),
        other => format!("**Status:** {}.", other.kind().replace('_', " ")),
    };
    format!("{note}\n\n<!-- osts event {event} -->")
}

#[async_trait]
impl ForumPort for ForumDispatcher {
    async fn deliver(&self, ticket: TicketId, job: ForumJob) -> Result<(), DeliveryError> {
        let store = |e: anyhow::Error| DeliveryError::later(format!("cannot read the forum job's ticket: {e}"));
        let context = self
            .repo
            .forum_job_context(job.event)
            .await
            .map_err(store)?
            .ok_or_else(|| DeliveryError::Never(format!("ticket event {} no longer exists", job.event)))?;
        let Some(thread) = context.thread.clone() else {
            if let ForumAction::Merge { into } = job.action {
                // A retry after the thread moved to the target: done.
                let target = self.repo.thread(TicketId::new(into)).await.map_err(store)?;
                if target.is_some() {
                    return Ok(());
                }
            }
            return Err(DeliveryError::Never(format!("ticket {} has no forum thread", ticket.get())));
        };
        if let ForumAction::Create = job.action {
            if thread.topic_id.is_some() {
                return Ok(());
            }
            // A retried job finds the topic its first attempt made before the timeout.
            let topic = match self.client.find_topic(&thread.external_id()).await? {
                Some(topic) => topic,
                None => {
                    let proven = self.proven(&context);
                    if thread.visibility == Visibility::Private && proven && !context.creator.linked {
                        // The student must exist on the forum to be a recipient.
                        self.client.sync_user(&context.creator).await?;
                    }
                    let new = NewTopic {
                        external_id: thread.external_id(),
                        title: format!("#{} {}", context.ticket.id().get(), context.ticket.title().as_str()),
                        raw: self.opening(&context),
                        visibility: thread.visibility,
                        recipients: match thread.visibility {
                            Visibility::Private if proven => vec![context.creator.username.clone()],
                            // Without a proven name the message goes to the support group
                            // alone; the student follows it in osts.
                            Visibility::Private | Visibility::Public => vec![],
                        },
                        act_as: None,
                    };
                    self.client.create_topic(&new).await?
                }
            };
            return self.repo.topic_made(ticket, &self.stored(&topic)).await.map_err(store);
        }
        let topic = thread.topic_id.ok_or_else(|| {
            DeliveryError::Never(format!("the thread of ticket {} was never opened on the forum", ticket.get()))
        })?;
        match job.action {
            ForumAction::Create => Ok(()),
            ForumAction::Note => self.client.reply(topic, &status_note(&context, job.event), None).await.map(drop),
            ForumAction::Close => self.client.set_closed(topic, true).await,
            ForumAction::Reopen => self.client.set_closed(topic, false).await,
            ForumAction::Archive => self.client.set_archived(topic, true).await,
            ForumAction::Convert { to } => {
                let converted = self.client.convert(topic, to).await?;
                self.repo.topic_made(ticket, &self.stored(&converted)).await.map_err(store)
            }
            ForumAction::Merge { into } => self.merge(ticket, topic, TicketId::new(into), &context).await,
            ForumAction::DeletePost { post_id } => self.client.delete_post(post_id).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::Utc;

    use super::*;
    use crate::forum::{ForumIdentity, ForumThread, MockForumClient, MockForumRepository, ThreadState};
    use crate::testing::TicketBuilder;

    fn identity(name: &str) -> ForumIdentity {
        ForumIdentity {
            external_id: 1,
            email: format!("{name}@uni.edu"),
            username: format!("{name}_1"),
            name: name.into(),
            support: false,
            moderator: false,
            linked: false,
        }
    }

    fn context(change: Change, topic: Option<i64>) -> ForumJobContext {
        ForumJobContext {
            ticket: TicketBuilder::new(42).title("Hall ticket missing").build(),
            thread: Some(ForumThread {
                ticket: TicketId::new(42),
                topic_id: topic,
                url: topic.map(|t| format!("https://forum/t/x/{t}")),
                visibility: Visibility::Private,
                state: if topic.is_some() { ThreadState::Open } else { ThreadState::Pending },
                created_at: Utc::now(),
            }),
            change,
            actor: Some(identity("sam")),
            creator: identity("ada"),
            assigned: None,
        }
    }

    fn dispatcher(repo: MockForumRepository, client: MockForumClient) -> ForumDispatcher {
        ForumDispatcher::new(
            Arc::new(repo),
            Arc::new(client),
            Arc::new(|n| format!("https://help/tickets/{n}")),
            "https://forum.uni.edu/",
            Arc::new(crate::clock::FixedClock(Utc::now())),
        )
    }

    fn thread_of(ticket: i64, topic: Option<i64>) -> ForumThread {
        ForumThread {
            ticket: TicketId::new(ticket),
            topic_id: topic,
            url: topic.map(|t| format!("https://forum/t/x/{t}")),
            visibility: Visibility::Public,
            state: if topic.is_some() { ThreadState::Open } else { ThreadState::Pending },
            created_at: Utc::now(),
        }
    }

    fn merge_repo(target: Option<ForumThread>) -> MockForumRepository {
        let mut repo = MockForumRepository::new();
        repo.expect_forum_job_context().returning(|_| Ok(Some(context(Change::MergedInto { target: 50 }, Some(7)))));
        repo.expect_thread().withf(|t| t.get() == 50).returning(move |_| Ok(target.clone()));
        repo
    }

    const MERGE: ForumJob = ForumJob { event: 3, action: ForumAction::Merge { into: 50 } };

    #[tokio::test]
    async fn a_merge_moves_the_posts_into_the_targets_thread() {
        let mut repo = merge_repo(Some(thread_of(50, Some(70))));
        repo.expect_move_thread().never();
        let mut client = MockForumClient::new();
        client.expect_merge_topics().withf(|from, into| (*from, *into) == (7, 70)).times(1).returning(|_, _| Ok(()));
        dispatcher(repo, client).deliver(TicketId::new(42), MERGE).await.unwrap();
    }

    #[tokio::test]
    async fn a_merge_into_a_ticket_without_a_thread_gives_it_this_thread() {
        let mut repo = merge_repo(None);
        repo.expect_move_thread()
            .withf(|from, to, actor, _| {
                // Recorded as the merge's actor (sam, external id 1).
                (from.get(), to.get()) == (42, 50) && *actor == Actor::User(crate::accounts::UserId::new(1))
            })
            .times(1)
            .returning(|_, _, _, _| Ok(true));
        let mut client = MockForumClient::new();
        client.expect_merge_topics().never();
        dispatcher(repo, client).deliver(TicketId::new(42), MERGE).await.unwrap();
    }

    #[tokio::test]
    async fn a_merge_waits_for_the_targets_thread_to_open_and_is_done_once_moved() {
        let mut client = MockForumClient::new();
        client.expect_merge_topics().never();
        let pending = dispatcher(merge_repo(Some(thread_of(50, None))), client);
        let waited = pending.deliver(TicketId::new(42), MERGE).await;
        assert!(matches!(waited, Err(DeliveryError::Later { .. })), "{waited:?}");

        // The target got a thread between the read and the move: tried again later.
        let mut repo = merge_repo(None);
        repo.expect_move_thread().times(1).returning(|_, _, _, _| Ok(false));
        let raced = dispatcher(repo, MockForumClient::new()).deliver(TicketId::new(42), MERGE).await;
        assert!(matches!(raced, Err(DeliveryError::Later { .. })), "{raced:?}");

        // A retry after the thread moved: the merged ticket has none, the target has it.
        let mut repo = MockForumRepository::new();
        repo.expect_forum_job_context().returning(|_| {
            let mut moved = context(Change::MergedInto { target: 50 }, Some(7));
            moved.thread = None;
            Ok(Some(moved))
        });
        repo.expect_thread().withf(|t| t.get() == 50).returning(|_| Ok(Some(thread_of(50, Some(7)))));
        repo.expect_move_thread().never();
        dispatcher(repo, MockForumClient::new()).deliver(TicketId::new(42), MERGE).await.unwrap();
    }

    #[tokio::test]
    async fn a_retried_creation_finds_the_topic_its_first_attempt_made() {
        let mut repo = MockForumRepository::new();
        repo.expect_forum_job_context()
            .returning(|_| Ok(Some(context(Change::ThreadRequested { visibility: Visibility::Private }, None))));
        repo.expect_topic_made()
            .withf(|t, topic| t.get() == 42 && topic.topic_id == 7 && topic.path == "https://forum.uni.edu/t/x/7")
            .times(1)
            .returning(|_, _| Ok(()));
        let mut client = MockForumClient::new();
        client
            .expect_find_topic()
            .withf(|id| id == "osts-42")
            .returning(|_| Ok(Some(TopicRef { topic_id: 7, path: "/t/x/7".into() })));
        client.expect_create_topic().never();
        let job = ForumJob { event: 1, action: ForumAction::Create };
        dispatcher(repo, client).deliver(TicketId::new(42), job).await.unwrap();
    }

    #[tokio::test]
    async fn a_first_creation_makes_the_student_known_and_opens_a_private_message() {
        let mut repo = MockForumRepository::new();
        repo.expect_forum_job_context()
            .returning(|_| Ok(Some(context(Change::ThreadRequested { visibility: Visibility::Private }, None))));
        repo.expect_topic_made().times(1).returning(|_, _| Ok(()));
        let mut client = MockForumClient::new();
        client.expect_provisions_users().return_const(true);
        client.expect_find_topic().returning(|_| Ok(None));
        client.expect_sync_user().withf(|u| u.username == "ada_1").times(1).returning(|_| Ok(()));
        client
            .expect_create_topic()
            .withf(|t| {
                t.external_id == "osts-42"
                    && t.title == "#42 Hall ticket missing"
                    && t.recipients == ["ada_1"]
                    && t.raw.contains("https://help/tickets/42")
            })
            .times(1)
            .returning(|_| Ok(TopicRef { topic_id: 9, path: "/t/x/9".into() }));
        let job = ForumJob { event: 1, action: ForumAction::Create };
        dispatcher(repo, client).deliver(TicketId::new(42), job).await.unwrap();
    }

    #[tokio::test]
    async fn where_the_forum_keeps_its_own_accounts_only_a_linked_username_is_named() {
        let create = ForumJob { event: 1, action: ForumAction::Create };
        for linked in [false, true] {
            let mut repo = MockForumRepository::new();
            repo.expect_forum_job_context().returning(move |_| {
                let mut c = context(Change::ThreadRequested { visibility: Visibility::Private }, None);
                c.creator.linked = linked;
                Ok(Some(c))
            });
            repo.expect_topic_made().times(1).returning(|_, _| Ok(()));
            let mut client = MockForumClient::new();
            client.expect_provisions_users().return_const(false);
            client.expect_find_topic().returning(|_| Ok(None));
            client.expect_sync_user().never();
            client
                .expect_create_topic()
                .withf(move |t| {
                    if linked {
                        t.recipients == ["ada_1"] && t.raw.contains("raised by @ada_1")
                    } else {
                        // Neither a recipient nor a mention: "ada_1" may be someone else there.
                        t.recipients.is_empty() && !t.raw.contains("ada_1") && t.raw.contains("raised by ada.")
                    }
                })
                .times(1)
                .returning(|_| Ok(TopicRef { topic_id: 9, path: "/t/x/9".into() }));
            dispatcher(repo, client).deliver(TicketId::new(42), create).await.unwrap();
        }
    }

    #[test]
    fn a_note_names_the_events_assignee_and_differs_from_every_other_events() {
        let mut assigned = context(Change::AssigneeChanged { from: None, to: Some(3) }, Some(7));
        assigned.assigned = Some(identity("bo"));
        let note = status_note(&assigned, 11);
        assert!(note.starts_with("**Status:** the ticket is assigned to bo."), "{note}");
        assert!(note.ends_with("<!-- osts event 11 -->"), "{note}");
        assert_ne!(note, status_note(&assigned, 12), "the same words for two events are two posts");
        assert_eq!(note, status_note(&assigned, 11), "a retry posts the same body");
    }

    #[tokio::test]
    async fn status_notes_and_closing_go_to_the_topic() {
        let mut repo = MockForumRepository::new();
        repo.expect_forum_job_context()
            .returning(|_| Ok(Some(context(Change::Resolved { answer: "Reissued.".into() }, Some(7)))));
        let mut client = MockForumClient::new();
        client
            .expect_reply()
            .withf(|topic, raw, _| {
                *topic == 7 && raw.starts_with("**Status:** resolved by sam") && raw.contains("Reissued.")
            })
            .times(1)
            .returning(|_, _, _| Ok(100));
        client.expect_set_closed().withf(|topic, closed| *topic == 7 && *closed).times(1).returning(|_, _| Ok(()));
        let d = dispatcher(repo, client);
        d.deliver(TicketId::new(42), ForumJob { event: 2, action: ForumAction::Note }).await.unwrap();
        d.deliver(TicketId::new(42), ForumJob { event: 2, action: ForumAction::Close }).await.unwrap();
    }
}
