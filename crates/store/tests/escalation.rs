//! Escalations, SLA states and chat webhooks on SQLite and PostgreSQL: each state change and
//! each escalation by votes recorded once, chat jobs routed to the matching webhooks and
//! kept in the ticket's threads, and what a chat job reads when it is sent.

#[macro_use]
mod support;

use chrono::Duration;
use domain::accounts::*;
use domain::actor::Actor;
use domain::escalation::*;
use domain::notifications::{ChatJob, ClaimedDelivery, DeliveryPayload, IntegrationJob};
use domain::tickets::*;
use store::Store;
use support::*;

store_tests!(sla_states_and_escalations_are_recorded_once_and_routed_to_chat_threads, sla_settings_round_trip);

/// Claims every due job, marks each sent, until none is left; returns (ticket, job) in order.
async fn drain(store: &Store) -> Vec<(TicketId, ChatJob)> {
    let mut out = Vec::new();
    loop {
        let claimed: Vec<ClaimedDelivery> = store.outbox().claim(t(20), Duration::minutes(5), 100).await.unwrap();
        if claimed.is_empty() {
            return out;
        }
        for job in claimed {
            if let DeliveryPayload::Integration { ticket, job: IntegrationJob::Chat(chat) } = &job.payload {
                out.push((*ticket, *chat));
            }
            store.outbox().mark_sent(job.id, t(20)).await.unwrap();
        }
    }
}

fn hook(name: &str, category: Option<domain::categories::CategoryId>) -> NewChatWebhook {
    NewChatWebhook {
        name: name.into(),
        kind: ChatKind::GoogleChat,
        url: format!("https://chat.googleapis.com/v1/spaces/{name}/messages?key=k&token=secret-{name}"),
        category_id: category,
        priority: None,
    }
}

async fn sla_states_and_escalations_are_recorded_once_and_routed_to_chat_threads(store: Store) {
    let repo = store.escalations();
    let ada = account(&store, "ada@uni.edu", Role::Student, AccountStatus::Active).await;
    let sam = account(&store, "sam@uni.edu", Role::Support, AccountStatus::Active).await;
    let general = category(&store, "General").await;
    let exams = category(&store, "Exams").await;
    let ops = repo.create_webhook(hook("ops", None), t(1)).await.unwrap();
    let exam_hook = repo.create_webhook(hook("exams", Some(exams.id)), t(1)).await.unwrap();
    assert_eq!(repo.webhooks().await.unwrap().len(), 2);

    let quiz = ticket(&store, &ada, &general, "Quiz grade missing", Priority::Medium, 2).await;
    let hall = ticket(&store, &ada, &exams, "Hall ticket missing", Priority::Medium, 2).await;
    assert!(quiz.escalated_at().is_none());

    // The SLA job's view: unresolved tickets by id, without due times until it sets them.
    let candidates = repo.sla_candidates(None, 10).await.unwrap();
    assert_eq!(candidates.iter().map(|c| c.ticket).collect::<Vec<_>>(), [quiz.id(), hall.id()]);
    assert!(candidates.iter().all(|c| c.state == SlaState::Ok && c.due.is_none()));
    assert_eq!(repo.sla_candidates(Some(quiz.id()), 10).await.unwrap().len(), 1, "paged by id");
    let due = SlaSettings::default().due(Priority::Medium, t(2));
    repo.set_sla_due(quiz.id(), due).await.unwrap();

    // Two servers find the same change: one records it.
    let at_risk = Some(EscalationReason::Sla { state: SlaState::AtRisk });
    assert!(repo.set_sla_state(quiz.id(), SlaState::Ok, SlaState::AtRisk, at_risk.clone(), t(3)).await.unwrap());
    assert!(!repo.set_sla_state(quiz.id(), SlaState::Ok, SlaState::AtRisk, at_risk, t(3)).await.unwrap());
    let viewed = store.tickets().get(quiz.id(), sam.id).await.unwrap().unwrap().ticket;
    assert_eq!(viewed.sla().state, SlaState::AtRisk);
    assert_eq!(viewed.sla().due, Some(due));
    assert_eq!(viewed.escalated_at(), Some(t(3)));
    let mut q = query(&sam);
    q.sla = Some(SlaState::AtRisk);
    let listed = store.tickets().list(q).await.unwrap().items;
    assert_eq!(listed.iter().map(|v| v.ticket.id()).collect::<Vec<_>>(), [quiz.id()]);

    // Votes escalate a ticket once, however often they cross.
    let votes = EscalationReason::Votes { votes: 25, threshold: 25 };
    assert!(repo.escalate(quiz.id(), &votes, Actor::System, t(4)).await.unwrap());
    assert!(!repo.escalate(quiz.id(), &votes, Actor::System, t(4)).await.unwrap());
    let note = EscalationReason::Manual { note: "needs the program office".into() };
    assert!(repo.escalate(hall.id(), &note, Actor::User(sam.id), t(4)).await.unwrap());
    assert!(!repo.escalate(TicketId::new(999_999), &note, Actor::User(sam.id), t(4)).await.unwrap());

    // A ticket no filtered webhook takes goes to the default space; the Exams ticket only to
    // its category's webhook; later escalations stay in the same threads.
    let jobs = drain(&store).await;
    let to =
        |ticket: &Ticket| jobs.iter().filter(|(t, _)| *t == ticket.id()).map(|(_, j)| j.webhook).collect::<Vec<_>>();
    assert_eq!(to(&quiz), [ops.id.get(), ops.id.get()]);
    assert_eq!(to(&hall), [exam_hook.id.get()]);

    // Later events of an escalated ticket follow it into its thread; a ticket never
    // escalated has none.
    let events = store.tickets().history(quiz.id()).await.unwrap();
    let escalation = events.iter().rev().find(|e| matches!(e.change, Change::Escalated { .. })).unwrap();
    let context = repo.chat_context(escalation.id, ops.id).await.unwrap().unwrap();
    assert_eq!(context.ticket.id(), quiz.id());
    assert_eq!(context.category, "General");
    assert_eq!(context.actor, None, "osts escalated it");
    assert_eq!(context.escalation.as_ref().map(|(_, r)| r.clone()), Some(votes));
    assert_eq!(context.webhook.as_ref().map(|w| w.id), Some(ops.id));

    // Deleting a webhook ends its threads; its jobs then find no webhook.
    assert!(repo.delete_webhook(ops.id).await.unwrap());
    assert!(!repo.delete_webhook(ops.id).await.unwrap());
    assert_eq!(repo.chat_context(escalation.id, ops.id).await.unwrap().unwrap().webhook, None);
    let patched = repo
        .update_webhook(exam_hook.id, WebhookPatch { category_id: Some(None), ..WebhookPatch::default() })
        .await
        .unwrap()
        .unwrap();
    assert!(patched.is_default());
    assert_eq!(repo.webhook(exam_hook.id).await.unwrap(), Some(patched));
}

async fn sla_settings_round_trip(store: Store) {
    let repo = store.escalations();
    assert_eq!(repo.sla_settings().await.unwrap(), None, "the defaults apply until admins change them");
    let settings = SlaSettings {
        targets: SlaTargets { urgent: SlaTarget::new(30, 240).unwrap(), ..SlaTargets::default() },
        business_hours: Some(BusinessHours::weekdays_nine_to_five(60)),
    };
    repo.set_sla_settings(&settings, t(1)).await.unwrap();
    repo.set_sla_settings(&settings, t(2)).await.unwrap();
    assert_eq!(repo.sla_settings().await.unwrap(), Some(settings));
    let wall = SlaSettings::default();
    repo.set_sla_settings(&wall, t(3)).await.unwrap();
    assert_eq!(repo.sla_settings().await.unwrap(), Some(wall));
}
