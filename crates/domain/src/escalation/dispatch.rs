//! The chat channel's port: reads what a chat job is about, builds the provider-neutral
//! [`ChatMessage`] and hands it to the [`ChatNotifier`].

use std::sync::Arc;

use async_trait::async_trait;

use crate::notifications::{ChatJob, ChatPort, DeliveryError};
use crate::tickets::{Change, TicketId};

use super::{ChatContext, ChatMessage, ChatNotifier, EscalationReason, EscalationRepository, WebhookId};

/// Builds and posts chat messages.
#[derive(Clone)]
pub struct ChatDispatcher {
    repo: Arc<dyn EscalationRepository>,
    notifier: Arc<dyn ChatNotifier>,
    ticket_url: Arc<dyn Fn(i64) -> String + Send + Sync>,
}

impl ChatDispatcher {
    /// A dispatcher; `ticket_url` makes the link to a ticket from its number.
    pub fn new(
        repo: Arc<dyn EscalationRepository>,
        notifier: Arc<dyn ChatNotifier>,
        ticket_url: Arc<dyn Fn(i64) -> String + Send + Sync>,
    ) -> Self {
        Self { repo, notifier, ticket_url }
    }

    /// The message about `context`'s event; `url` opens the ticket.
    pub fn message(context: &ChatContext, url: String) -> ChatMessage {
        let ticket = &context.ticket;
        let actor = context.actor.clone().unwrap_or_else(|| "osts".into());
        let (headline, detail) = headline(&context.change, &actor, context);
        let (escalated_by, why) = match &context.escalation {
            Some((by, reason)) => (by.clone().unwrap_or_else(|| "osts".into()), reason_text(reason)),
            None => (actor.clone(), String::new()),
        };
        ChatMessage {
            ticket_number: ticket.id().get(),
            title: ticket.title().as_str().to_owned(),
            url,
            headline,
            priority: ticket.priority(),
            category: context.category.clone(),
            votes: ticket.vote_count(),
            status: ticket.status(),
            sla: ticket.sla().state,
            escalated_by,
            reason: detail.unwrap_or(why),
        }
    }
}

/// What an escalation says of itself: a support member's note, or the rule that fired.
fn reason_text(reason: &EscalationReason) -> String {
    match reason {
        EscalationReason::Manual { note } => note.clone(),
        EscalationReason::Votes { votes, threshold } => {
            format!("{votes} students have this concern (the threshold is {threshold})")
        }
        other => other.describe(),
    }
}

/// The headline of an event, and its own text where it has one (an answer, a reason).
fn headline(change: &Change, actor: &str, context: &ChatContext) -> (String, Option<String>) {
    let status = |s: crate::tickets::Status| s.as_str().replace('_', " ");
    match change {
        Change::Escalated { reason: reason @ EscalationReason::Manual { .. } } => {
            (format!("escalated by {actor}"), Some(reason_text(reason)))
        }
        Change::Escalated { reason } => (format!("escalated: {}", reason.describe()), Some(reason_text(reason))),
        Change::AssigneeChanged { to: Some(to), .. } => {
            let name = context
                .ticket
                .assignee()
                .filter(|a| a.id.get() == *to)
                .map_or_else(|| format!("user {to}"), |a| a.display_name.clone());
            (format!("assigned to {name}"), None)
        }
        Change::AssigneeChanged { to: None, .. } => ("unassigned".into(), None),
        Change::PriorityChanged { from, to } => (format!("priority {} → {}", from.as_str(), to.as_str()), None),
        Change::StatusChanged { from, to } => (format!("status {} → {}", status(*from), status(*to)), None),
        Change::Resolved { answer } => (format!("resolved by {actor}"), Some(answer.clone())),
        Change::Reopened { reason } => (format!("reopened by {actor}"), Some(reason.clone())),
        Change::AutoClosed => ("closed".into(), None),
        Change::MergedInto { target } => (format!("merged into #{target}"), None),
        Change::Unmerged { target, .. } => (format!("unmerged from #{target}"), None),
        other => (other.kind().replace('_', " "), None),
    }
}

#[async_trait]
impl ChatPort for ChatDispatcher {
    async fn deliver(&self, ticket: TicketId, job: ChatJob, request_id: &str) -> Result<(), DeliveryError> {
        let context = self
            .repo
            .chat_context(job.event, WebhookId::new(job.webhook))
            .await
            .map_err(|e| DeliveryError::later(format!("cannot read the chat job's ticket event: {e}")))?
            .ok_or_else(|| DeliveryError::Never(format!("ticket event {} no longer exists", job.event)))?;
        let Some(webhook) = &context.webhook else {
            // An admin deleted the webhook: its space hears no more.
            tracing::info!(ticket = ticket.get(), webhook = job.webhook, "chat webhook deleted; message dropped");
            return Ok(());
        };
        let message = Self::message(&context, (self.ticket_url)(context.ticket.id().get()));
        self.notifier.post(webhook, request_id, &message).await
    }
}

#[cfg(test)]
mod tests {
    use chrono::Utc;

    use super::*;
    use crate::escalation::{ChatKind, ChatWebhook, MockChatNotifier, MockEscalationRepository, SlaState};
    use crate::testing::TicketBuilder;
    use crate::tickets::{Priority, Status};

    fn webhook() -> ChatWebhook {
        ChatWebhook {
            id: WebhookId::new(3),
            name: "Program office".into(),
            kind: ChatKind::GoogleChat,
            url: "https://chat.googleapis.com/v1/spaces/S/messages?key=k&token=secret-wxyz".into(),
            category_id: None,
            priority: None,
            created_at: Utc::now(),
        }
    }

    fn context(change: Change) -> ChatContext {
        ChatContext {
            ticket: TicketBuilder::new(1042).title("Exam portal down").priority(Priority::Urgent).build(),
            category: "Exams".into(),
            change,
            actor: Some("Sam".into()),
            escalation: Some((None, EscalationReason::Priority { priority: Priority::Urgent })),
            webhook: Some(webhook()),
        }
    }

    #[test]
    fn messages_say_what_happened_and_keep_the_escalation() {
        let url = || "https://help.uni.edu/tickets/1042".to_owned();
        let first = ChatDispatcher::message(
            &context(Change::Escalated { reason: EscalationReason::Priority { priority: Priority::Urgent } }),
            url(),
        );
        assert_eq!(first.headline, "escalated: urgent priority");
        assert_eq!(first.escalated_by, "osts");
        assert_eq!(first.thread_key(), "ticket-1042");
        assert_eq!(first.sla, SlaState::Ok);

        let resolved = ChatDispatcher::message(&context(Change::Resolved { answer: "Fixed the portal".into() }), url());
        assert_eq!(resolved.headline, "resolved by Sam");
        assert_eq!(resolved.reason, "Fixed the portal");

        let moved = ChatDispatcher::message(
            &context(Change::StatusChanged { from: Status::Open, to: Status::InProgress }),
            url(),
        );
        assert_eq!(moved.headline, "status open → in progress");
        assert_eq!(moved.reason, "urgent priority");

        let manual = ChatDispatcher::message(
            &context(Change::Escalated {
                reason: EscalationReason::Manual { note: "needs the program office".into() },
            }),
            url(),
        );
        assert_eq!(manual.headline, "escalated by Sam");
        assert_eq!(manual.reason, "needs the program office");
    }

    #[tokio::test]
    async fn a_job_posts_its_message_with_the_request_id_and_a_deleted_webhook_posts_nothing() {
        let mut repo = MockEscalationRepository::new();
        repo.expect_chat_context().returning(|event, _| {
            let mut c = context(Change::AutoClosed);
            if event == 2 {
                c.webhook = None;
            }
            Ok(Some(c))
        });
        let mut notifier = MockChatNotifier::new();
        notifier
            .expect_post()
            .withf(|w, id, m| w.id.get() == 3 && id == "chat:1:3" && m.headline == "closed")
            .times(1)
            .returning(|_, _, _| Ok(()));
        let dispatcher =
            ChatDispatcher::new(Arc::new(repo), Arc::new(notifier), Arc::new(|n| format!("https://x/tickets/{n}")));
        let ticket = TicketId::new(1042);
        dispatcher.deliver(ticket, ChatJob { event: 1, webhook: 3 }, "chat:1:3").await.unwrap();
        dispatcher.deliver(ticket, ChatJob { event: 2, webhook: 3 }, "chat:2:3").await.unwrap();
    }

    #[tokio::test]
    async fn a_store_failure_is_retried_and_a_missing_event_is_a_dead_letter() {
        let mut repo = MockEscalationRepository::new();
        repo.expect_chat_context().returning(|event, _| match event {
            1 => Err(anyhow::anyhow!("database is down")),
            _ => Ok(None),
        });
        let dispatcher =
            ChatDispatcher::new(Arc::new(repo), Arc::new(MockChatNotifier::new()), Arc::new(|n| n.to_string()));
        let ticket = TicketId::new(1);
        assert!(matches!(
            dispatcher.deliver(ticket, ChatJob { event: 1, webhook: 1 }, "k").await,
            Err(DeliveryError::Later { .. })
        ));
        assert!(matches!(
            dispatcher.deliver(ticket, ChatJob { event: 2, webhook: 1 }, "k").await,
            Err(DeliveryError::Never(_))
        ));
    }
}
