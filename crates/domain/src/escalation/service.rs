//! Escalation as a service: SLA settings, the SLA job, explicit escalations, escalation by
//! votes, and the chat webhooks admins manage.

use std::sync::{Arc, PoisonError, RwLock};

use chrono::{DateTime, Utc};

use crate::accounts::Principal;
use crate::categories::{CategoryId, CategoryRepository};
use crate::clock::Clock;
use crate::error::{Conflict, Error, Resource};
use crate::notifications::DeliveryError;
use crate::tickets::{Priority, Status, Ticket, TicketId, TicketRepository};

use super::rules::{escalates_on_sla, escalates_on_votes};
use super::{
    ChatMessage, ChatNotifier, ChatWebhook, EscalationReason, EscalationRepository, NewChatWebhook, SlaFacts,
    SlaSettings, SlaState, WebhookId, WebhookPatch,
};

/// The SLA settings in effect, shared by the services that set due times (raising a ticket,
/// changing its priority) and refreshed from the store by every SLA check, so that a change
/// made on another server applies here within one interval.
#[derive(Debug, Clone, Default)]
pub struct SlaBook(Arc<RwLock<SlaSettings>>);

impl SlaBook {
    /// A book holding `settings`.
    pub fn new(settings: SlaSettings) -> Self {
        Self(Arc::new(RwLock::new(settings)))
    }

    /// The settings now.
    pub fn get(&self) -> SlaSettings {
        self.0.read().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// Replaces the settings.
    pub fn set(&self, settings: SlaSettings) {
        *self.0.write().unwrap_or_else(PoisonError::into_inner) = settings;
    }
}

/// Where chat webhooks may point: `https` to one of `hosts` (exact, case-insensitive host
/// names; no DNS lookup, so never an address the name was not given for), or `http` too
/// when `allow_http` (local tests only).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookPolicy {
    /// The allowed host names (`OSTS_CHAT_WEBHOOK_HOSTS`).
    pub hosts: Vec<String>,
    /// Whether plain `http` is allowed (`OSTS_CHAT_ALLOW_HTTP`).
    pub allow_http: bool,
}

impl Default for WebhookPolicy {
    fn default() -> Self {
        Self { hosts: vec!["chat.googleapis.com".into()], allow_http: false }
    }
}

impl WebhookPolicy {
    /// Refuses a URL the policy does not allow, saying why.
    pub fn check(&self, url: &str) -> Result<(), Error> {
        let refuse = |code, message: String| Err(Error::invalid("url", code, message));
        if url.len() > 2048 || url.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return refuse("invalid_url", "a webhook URL is one line of at most 2048 characters".into());
        }
        let Some((scheme, rest)) = url.split_once("://") else {
            return refuse("invalid_url", "a webhook URL starts with https://".into());
        };
        match scheme {
            "https" => {}
            "http" if self.allow_http => {}
            _ => return refuse("scheme_not_allowed", "a webhook URL must use https".into()),
        }
        let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
        if authority.contains('@') {
            return refuse("invalid_url", "a webhook URL cannot carry a user name or password".into());
        }
        let host = match authority.rsplit_once(':') {
            Some((host, port)) if !port.is_empty() && port.chars().all(|c| c.is_ascii_digit()) => host,
            _ => authority,
        };
        if host.is_empty() || !rest[authority.len()..].starts_with('/') {
            return refuse("invalid_url", "a webhook URL needs a host and a path".into());
        }
        if !self.hosts.iter().any(|allowed| allowed.eq_ignore_ascii_case(host)) {
            return refuse(
                "host_not_allowed",
                format!("webhooks may only point at {} (OSTS_CHAT_WEBHOOK_HOSTS)", self.hosts.join(", ")),
            );
        }
        Ok(())
    }
}

/// Escalation's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EscalationSettings {
    /// Votes that escalate a ticket (`OSTS_ESCALATE_VOTES`); 0 turns escalation by votes off.
    pub vote_threshold: u32,
    /// Where webhooks may point.
    pub webhooks: WebhookPolicy,
}

impl Default for EscalationSettings {
    fn default() -> Self {
        Self { vote_threshold: 25, webhooks: WebhookPolicy::default() }
    }
}

/// What one SLA check found and did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SweepReport {
    /// Unresolved tickets checked.
    pub checked: u32,
    /// Of them, on time.
    pub ok: u32,
    /// At risk.
    pub at_risk: u32,
    /// Breached.
    pub breached: u32,
    /// Escalations this check recorded (SLA, and votes the vote path missed).
    pub escalated: u32,
}

/// The result of a webhook's test message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookTest {
    /// Whether the provider accepted it.
    pub delivered: bool,
    /// What went wrong, if it was not (never the URL).
    pub error: Option<String>,
}

/// Candidates read per page by the SLA check.
const SWEEP_PAGE: u32 = 500;

/// The longest name and note.
const MAX_NAME_CHARS: usize = 100;
const MAX_NOTE_CHARS: usize = 2000;

/// Escalations and the SLA.
#[derive(Clone)]
pub struct EscalationService {
    repo: Arc<dyn EscalationRepository>,
    tickets: Arc<dyn TicketRepository>,
    categories: Arc<dyn CategoryRepository>,
    notifier: Option<Arc<dyn ChatNotifier>>,
    clock: Arc<dyn Clock>,
    book: SlaBook,
    settings: EscalationSettings,
}

impl EscalationService {
    /// Wires the service to its ports; `book` is shared with the ticket service.
    pub fn new(
        repo: Arc<dyn EscalationRepository>,
        tickets: Arc<dyn TicketRepository>,
        categories: Arc<dyn CategoryRepository>,
        clock: Arc<dyn Clock>,
        book: SlaBook,
        settings: EscalationSettings,
    ) -> Self {
        Self { repo, tickets, categories, notifier: None, clock, book, settings }
    }

    /// With the notifier that sends webhooks' test messages.
    pub fn with_notifier(self, notifier: Arc<dyn ChatNotifier>) -> Self {
        Self { notifier: Some(notifier), ..self }
    }

    /// The settings in effect.
    pub fn settings(&self) -> &EscalationSettings {
        &self.settings
    }

    /// Reloads the SLA settings from the store into the shared book.
    pub async fn refresh(&self) -> anyhow::Result<SlaSettings> {
        let settings = self.repo.sla_settings().await?.unwrap_or_default();
        self.book.set(settings.clone());
        Ok(settings)
    }

    /// The SLA settings (admins).
    pub async fn sla_settings(&self, principal: &Principal) -> Result<SlaSettings, Error> {
        principal.require_admin()?;
        Ok(self.refresh().await?)
    }

    /// Replaces the SLA settings (admins) and moves the due times of every unresolved
    /// ticket to the new targets; the next check re-evaluates their states.
    pub async fn set_sla_settings(&self, principal: &Principal, settings: SlaSettings) -> Result<SlaSettings, Error> {
        principal.require_admin()?;
        self.repo.set_sla_settings(&settings, self.clock.now()).await?;
        self.book.set(settings.clone());
        let mut after = None;
        loop {
            let page = self.repo.sla_candidates(after, SWEEP_PAGE).await?;
            for c in &page {
                self.repo.set_sla_due(c.ticket, settings.due(c.priority, c.created_at)).await?;
            }
            match page.last() {
                Some(last) if page.len() == SWEEP_PAGE as usize => after = Some(last.ticket),
                _ => break,
            }
        }
        Ok(settings)
    }

    /// Escalates a ticket explicitly (staff), with a note saying why.
    pub async fn escalate(&self, principal: &Principal, id: TicketId, note: &str) -> Result<Ticket, Error> {
        principal.require_staff()?;
        let note = note.trim();
        if note.is_empty() {
            return Err(Error::invalid("note", "required", "say why the ticket needs escalating"));
        }
        if note.chars().count() > MAX_NOTE_CHARS {
            return Err(Error::invalid("note", "too_long", format!("a note has at most {MAX_NOTE_CHARS} characters")));
        }
        let view = self.tickets.get(id, principal.id()).await?.ok_or(Error::NotFound(Resource::Ticket))?;
        if !matches!(view.ticket.status(), Status::Open | Status::InProgress) {
            return Err(Error::Conflict(Conflict::NotUnresolved));
        }
        let reason = EscalationReason::Manual { note: note.to_owned() };
        if !self.repo.escalate(id, &reason, principal.actor(), self.clock.now()).await? {
            return Err(Error::NotFound(Resource::Ticket));
        }
        let view = self.tickets.get(id, principal.id()).await?.ok_or(Error::NotFound(Resource::Ticket))?;
        Ok(view.ticket)
    }

    /// Escalates a ticket whose votes went from `before` to `after` across the threshold
    /// (once per ticket: the store remembers). Returns whether it escalated now.
    pub async fn votes_changed(&self, ticket: TicketId, before: u32, after: u32) -> anyhow::Result<bool> {
        let threshold = self.settings.vote_threshold;
        if !escalates_on_votes(before, after, threshold, false) {
            return Ok(false);
        }
        let reason = EscalationReason::Votes { votes: after, threshold };
        self.repo.escalate(ticket, &reason, crate::actor::Actor::System, self.clock.now()).await
    }

    /// The SLA check (a scheduled job; safe on several servers, since each state change is
    /// a conditional update): reloads the settings, sets missing due times, evaluates every
    /// unresolved ticket, stores each state that changed and escalates each that got worse;
    /// also escalates tickets at or above the vote threshold that the vote path missed.
    pub async fn sweep(&self) -> anyhow::Result<SweepReport> {
        let settings = self.refresh().await?;
        let now = self.clock.now();
        let mut report = SweepReport::default();
        let mut after = None;
        loop {
            let page = self.repo.sla_candidates(after, SWEEP_PAGE).await?;
            for c in &page {
                report.checked += 1;
                let due = settings.due(c.priority, c.created_at);
                if c.due != Some(due) {
                    self.repo.set_sla_due(c.ticket, due).await?;
                }
                let facts = SlaFacts {
                    priority: c.priority,
                    created_at: c.created_at,
                    first_response_at: c.first_response_at,
                    resolved_at: None,
                };
                let state = settings.evaluate(facts, now).state;
                match state {
                    SlaState::Ok => report.ok += 1,
                    SlaState::AtRisk => report.at_risk += 1,
                    SlaState::Breached => report.breached += 1,
                }
                if state != c.state {
                    let escalation = escalates_on_sla(c.state, state).then_some(EscalationReason::Sla { state });
                    let escalates = escalation.is_some();
                    if self.repo.set_sla_state(c.ticket, c.state, state, escalation, now).await? && escalates {
                        report.escalated += 1;
                        tracing::info!(ticket = c.ticket.get(), sla = state.as_str(), "ticket escalated by its SLA");
                    }
                }
                let threshold = self.settings.vote_threshold;
                if threshold > 0 && c.vote_count >= threshold && !c.escalated_for_votes {
                    let reason = EscalationReason::Votes { votes: c.vote_count, threshold };
                    if self.repo.escalate(c.ticket, &reason, crate::actor::Actor::System, now).await? {
                        report.escalated += 1;
                    }
                }
            }
            match page.last() {
                Some(last) if page.len() == SWEEP_PAGE as usize => after = Some(last.ticket),
                _ => break,
            }
        }
        Ok(report)
    }

    /// Every webhook (admins).
    pub async fn webhooks(&self, principal: &Principal) -> Result<Vec<ChatWebhook>, Error> {
        principal.require_admin()?;
        Ok(self.repo.webhooks().await?)
    }

    /// Adds a webhook (admins).
    pub async fn add_webhook(&self, principal: &Principal, webhook: NewChatWebhook) -> Result<ChatWebhook, Error> {
        principal.require_admin()?;
        let name = check_name(&webhook.name)?;
        self.settings.webhooks.check(&webhook.url)?;
        self.check_category(webhook.category_id).await?;
        let webhook = NewChatWebhook { name, ..webhook };
        let added = self.repo.create_webhook(webhook, self.clock.now()).await?;
        tracing::info!(webhook = added.id.get(), url = %added.shown_url(), kind = added.kind.as_str(), "chat webhook added");
        Ok(added)
    }

    /// Changes a webhook (admins).
    pub async fn update_webhook(
        &self,
        principal: &Principal,
        id: WebhookId,
        patch: WebhookPatch,
    ) -> Result<ChatWebhook, Error> {
        principal.require_admin()?;
        let name = patch.name.as_deref().map(check_name).transpose()?;
        if let Some(url) = &patch.url {
            self.settings.webhooks.check(url)?;
        }
        if let Some(category) = patch.category_id {
            self.check_category(category).await?;
        }
        self.repo
            .update_webhook(id, WebhookPatch { name, ..patch })
            .await?
            .ok_or(Error::NotFound(Resource::ChatWebhook))
    }

    async fn check_category(&self, category: Option<CategoryId>) -> Result<(), Error> {
        match category {
            Some(id) if self.categories.find(id).await?.is_none() => {
                Err(Error::invalid("category_id", "unknown_category", "there is no such category"))
            }
            _ => Ok(()),
        }
    }

    /// Deletes a webhook (admins): its space hears no more, pending messages included.
    pub async fn delete_webhook(&self, principal: &Principal, id: WebhookId) -> Result<(), Error> {
        principal.require_admin()?;
        if self.repo.delete_webhook(id).await? {
            Ok(())
        } else {
            Err(Error::NotFound(Resource::ChatWebhook))
        }
    }

    /// Sends a test message to a webhook now (admins) and says how it went.
    pub async fn test_webhook(&self, principal: &Principal, id: WebhookId) -> Result<WebhookTest, Error> {
        principal.require_admin()?;
        let webhook = self.repo.webhook(id).await?.ok_or(Error::NotFound(Resource::ChatWebhook))?;
        let Some(notifier) = &self.notifier else {
            return Ok(WebhookTest { delivered: false, error: Some("no chat client is configured".into()) });
        };
        let now = self.clock.now();
        let message = ChatMessage {
            ticket_number: 0,
            title: format!("Test message for \"{}\"", webhook.name),
            url: String::new(),
            headline: "test: escalations will be posted here".into(),
            priority: Priority::Medium,
            category: "—".into(),
            votes: 0,
            status: Status::Open,
            sla: SlaState::Ok,
            escalated_by: "osts".into(),
            reason: format!("Sent at {} by an admin from osts.", now.format("%Y-%m-%d %H:%M UTC")),
        };
        let request_id = format!("test:{}:{}", id.get(), now.timestamp_millis());
        Ok(match notifier.post(&webhook, &request_id, &message).await {
            Ok(()) => WebhookTest { delivered: true, error: None },
            Err(DeliveryError::Throttled { at }) => WebhookTest {
                delivered: false,
                error: Some(format!("held by the rate limit until {}", at.format("%H:%M:%S UTC"))),
            },
            Err(e) => WebhookTest { delivered: false, error: Some(e.to_string()) },
        })
    }

    /// The SLA due times of a ticket of `priority` raised at `at`, under the settings now.
    pub fn due(&self, priority: Priority, at: DateTime<Utc>) -> super::SlaDue {
        self.book.get().due(priority, at)
    }
}

/// A webhook's name: trimmed, 1–100 characters, one line.
fn check_name(raw: &str) -> Result<String, Error> {
    let name = raw.trim();
    if name.is_empty() {
        return Err(Error::invalid("name", "required", "a webhook needs a name"));
    }
    if name.chars().count() > MAX_NAME_CHARS {
        return Err(Error::invalid("name", "too_long", format!("a name has at most {MAX_NAME_CHARS} characters")));
    }
    if name.chars().any(|c| c.is_control() || crate::text::reorders_or_breaks_text(c)) {
        return Err(Error::invalid("name", "invalid_characters", "a name is one line of plain text"));
    }
    Ok(name.to_owned())
}

#[cfg(test)]
mod tests {
    use chrono::Duration;
    use mockall::predicate::eq;

    use super::*;
    use crate::clock::FixedClock;
    use crate::escalation::{MockEscalationRepository, SlaCandidate, SlaTarget, SlaTargets};
    use crate::testing::{epoch, PrincipalBuilder};
    use crate::tickets::MockTicketRepository;

    fn service(repo: MockEscalationRepository, now: DateTime<Utc>) -> EscalationService {
        EscalationService::new(
            Arc::new(repo),
            Arc::new(MockTicketRepository::new()),
            Arc::new(crate::categories::MockCategoryRepository::new()),
            Arc::new(FixedClock(now)),
            SlaBook::default(),
            EscalationSettings { vote_threshold: 3, webhooks: WebhookPolicy::default() },
        )
    }

    fn candidate(id: i64, priority: Priority, state: SlaState) -> SlaCandidate {
        SlaCandidate {
            ticket: TicketId::new(id),
            priority,
            created_at: epoch(),
            first_response_at: None,
            state,
            due: None,
            vote_count: 0,
            escalated_for_votes: false,
        }
    }

    #[test]
    fn webhook_urls_must_be_https_to_an_allowed_host() {
        let policy = WebhookPolicy::default();
        assert!(policy.check("https://chat.googleapis.com/v1/spaces/S/messages?key=k&token=t").is_ok());
        assert!(policy.check("https://CHAT.googleapis.com:443/v1/spaces/S/messages").is_ok());
        let code = |url: &str| match policy.check(url) {
            Err(Error::Invalid { code, field: "url", .. }) => code,
            other => panic!("{url}: {other:?}"),
        };
        assert_eq!(code("http://chat.googleapis.com/v1/spaces/S/messages"), "scheme_not_allowed");
        assert_eq!(code("https://chat.googleapis.com.evil.example/v1/x"), "host_not_allowed");
        assert_eq!(code("https://169.254.169.254/latest/meta-data"), "host_not_allowed");
        assert_eq!(code("https://localhost/v1"), "host_not_allowed");
        assert_eq!(code("https://chat.googleapis.com@evil.example/v1"), "invalid_url");
        assert_eq!(code("ftp://chat.googleapis.com/v1"), "scheme_not_allowed");
        assert_eq!(code("chat.googleapis.com/v1"), "invalid_url");
        assert_eq!(code("https://chat.googleapis.com"), "invalid_url");
        let local = WebhookPolicy { hosts: vec!["127.0.0.1".into()], allow_http: true };
        assert!(local.check("http://127.0.0.1:8080/v1/spaces/S/messages").is_ok());
    }

    #[tokio::test]
    async fn the_sla_check_records_each_worsening_once_and_escalates_it() {
        let targets = SlaTargets { urgent: SlaTarget::new(60, 480).unwrap(), ..SlaTargets::default() };
        // 50 minutes in: the urgent ticket's first response (60 min) is at risk.
        let now = epoch() + Duration::minutes(50);
        let mut repo = MockEscalationRepository::new();
        repo.expect_sla_settings().returning(move || Ok(Some(SlaSettings { targets, business_hours: None })));
        repo.expect_sla_candidates().times(1).returning(|_, _| {
            Ok(vec![
                candidate(1, Priority::Urgent, SlaState::Ok),
                candidate(2, Priority::Urgent, SlaState::AtRisk),
                candidate(3, Priority::Low, SlaState::Ok),
            ])
        });
        repo.expect_set_sla_due().times(3).returning(|_, _| Ok(()));
        repo.expect_set_sla_state()
            .with(
                eq(TicketId::new(1)),
                eq(SlaState::Ok),
                eq(SlaState::AtRisk),
                eq(Some(EscalationReason::Sla { state: SlaState::AtRisk })),
                eq(now),
            )
            .times(1)
            .returning(|_, _, _, _, _| Ok(true));
        let report = service(repo, now).sweep().await.unwrap();
        assert_eq!(report, SweepReport { checked: 3, ok: 1, at_risk: 2, breached: 0, escalated: 1 });
    }

    #[tokio::test]
    async fn a_state_that_improves_is_stored_without_escalating_and_another_server_may_win() {
        let now = epoch() + Duration::minutes(5);
        let mut repo = MockEscalationRepository::new();
        repo.expect_sla_settings().returning(|| Ok(None));
        repo.expect_sla_candidates().returning(|_, _| {
            let mut lowered = candidate(1, Priority::Low, SlaState::Breached);
            lowered.due = Some(SlaSettings::default().due(Priority::Low, epoch()));
            let mut raced = candidate(2, Priority::Urgent, SlaState::Ok);
            raced.created_at = epoch() - Duration::hours(2);
            raced.due = Some(SlaSettings::default().due(Priority::Urgent, raced.created_at));
            Ok(vec![lowered, raced])
        });
        repo.expect_set_sla_state()
            .with(eq(TicketId::new(1)), eq(SlaState::Breached), eq(SlaState::Ok), eq(None), eq(now))
            .times(1)
            .returning(|_, _, _, _, _| Ok(true));
        repo.expect_set_sla_state()
            .withf(|t, _, to, e, _| t.get() == 2 && *to == SlaState::Breached && e.is_some())
            .times(1)
            .returning(|_, _, _, _, _| Ok(false));
        let report = service(repo, now).sweep().await.unwrap();
        assert_eq!(report.escalated, 0, "{report:?}");
        assert_eq!((report.ok, report.breached), (1, 1));
    }

    #[tokio::test]
    async fn votes_escalate_when_crossing_and_the_check_catches_a_missed_crossing() {
        let now = epoch();
        let mut repo = MockEscalationRepository::new();
        repo.expect_escalate()
            .withf(|t, r, a, _| {
                t.get() == 7
                    && *r == EscalationReason::Votes { votes: 3, threshold: 3 }
                    && *a == crate::actor::Actor::System
            })
            .times(2)
            .returning(|_, _, _, _| Ok(true));
        repo.expect_sla_settings().returning(|| Ok(None));
        repo.expect_sla_candidates().returning(|_, _| {
            let mut c = candidate(7, Priority::Low, SlaState::Ok);
            c.vote_count = 3;
            c.due = Some(SlaSettings::default().due(Priority::Low, epoch()));
            Ok(vec![c])
        });
        let s = service(repo, now);
        assert!(!s.votes_changed(TicketId::new(7), 1, 2).await.unwrap());
        assert!(!s.votes_changed(TicketId::new(7), 3, 4).await.unwrap());
        assert!(s.votes_changed(TicketId::new(7), 2, 3).await.unwrap());
        assert_eq!(s.sweep().await.unwrap().escalated, 1);
    }

    #[tokio::test]
    async fn students_and_support_cannot_manage_webhooks_or_sla_and_students_cannot_escalate() {
        let s = service(MockEscalationRepository::new(), epoch());
        let student = PrincipalBuilder::student(1).build();
        let support = PrincipalBuilder::support(2).build();
        for who in [&student, &support] {
            assert!(matches!(s.webhooks(who).await, Err(Error::Forbidden(_))));
            assert!(matches!(s.sla_settings(who).await, Err(Error::Forbidden(_))));
            assert!(matches!(s.delete_webhook(who, WebhookId::new(1)).await, Err(Error::Forbidden(_))));
        }
        assert!(matches!(s.escalate(&student, TicketId::new(1), "please").await, Err(Error::Forbidden(_))));
        assert!(matches!(
            s.escalate(&support, TicketId::new(1), "   ").await,
            Err(Error::Invalid { field: "note", code: "required", .. })
        ));
    }
}
