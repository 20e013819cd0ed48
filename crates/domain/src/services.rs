//! Every service wired to its ports in one place, so the composition root (and tests that
//! need the whole domain) build them the same way.

use std::sync::Arc;

use chrono::Duration;

use crate::accounts::{
    AccountRepository, AccountService, AutoApproval, LoginThrottle, PasswordHasher, SessionRepository, TokenIssuer,
};
use crate::attachments::{AttachmentRepository, AttachmentService, BlobStore};
use crate::categories::{CategoryRepository, CategoryService};
use crate::clock::Clock;
use crate::conversation::{ConversationService, ReplyRepository, WatcherRepository};
use crate::escalation::{EscalationRepository, EscalationService, EscalationSettings, SlaBook};
use crate::faq::{FaqRepository, FaqService, FaqSettings};
use crate::forum::{ForumRepository, ForumService, ForumSettings};
use crate::notifications::{NotificationRepository, NotificationService, OutboxRepository, UnsubscribeTokens};
use crate::similarity::{
    Draft, EmbedError, Embedder, Embedding, EmbeddingQueue, EmbeddingRepository, LexicalIndex, SemanticState,
    SimilarityConfig, SimilarityIndex, SimilarityService, VectorIndex,
};
use crate::tickets::{TicketId, TicketRepository, TicketService};
use crate::votes::{VoteRepository, VoteService};
use crate::workflow::{SimilarResolved, WorkflowRepository, WorkflowService, WorkflowSettings};

/// The adapters for every port.
#[derive(Clone)]
pub struct Ports {
    /// Forum threads and what the forum told osts.
    pub forum: Arc<dyn ForumRepository>,
    /// SLA settings and states, escalations and chat webhooks.
    pub escalations: Arc<dyn EscalationRepository>,
    /// Accounts.
    pub accounts: Arc<dyn AccountRepository>,
    /// Sessions.
    pub sessions: Arc<dyn SessionRepository>,
    /// Categories.
    pub categories: Arc<dyn CategoryRepository>,
    /// Tickets.
    pub tickets: Arc<dyn TicketRepository>,
    /// Votes.
    pub votes: Arc<dyn VoteRepository>,
    /// Replies.
    pub replies: Arc<dyn ReplyRepository>,
    /// Watchers.
    pub watchers: Arc<dyn WatcherRepository>,
    /// The workflow's set-based operations.
    pub workflow: Arc<dyn WorkflowRepository>,
    /// Attachment metadata.
    pub attachments: Arc<dyn AttachmentRepository>,
    /// Attachment bytes.
    pub blobs: Arc<dyn BlobStore>,
    /// FAQ entries.
    pub faq: Arc<dyn FaqRepository>,
    /// Password hashing.
    pub hasher: Arc<dyn PasswordHasher>,
    /// Session tokens.
    pub tokens: Arc<dyn TokenIssuer>,
    /// Sign-in throttling.
    pub throttle: Arc<dyn LoginThrottle>,
    /// Throttling of confirmation-email resends (separate allowances from sign-in).
    pub resend_throttle: Arc<dyn LoginThrottle>,
    /// Time.
    pub clock: Arc<dyn Clock>,
    /// The in-app inbox and notification preferences.
    pub notifications: Arc<dyn NotificationRepository>,
    /// The outbox of deliveries.
    pub outbox: Arc<dyn OutboxRepository>,
    /// One-click unsubscribe tokens.
    pub unsubscribe: Arc<dyn UnsubscribeTokens>,
    /// Full-text search and batched reads for similar tickets.
    pub similarity: Arc<dyn SimilarityIndex>,
    /// Stored ticket embeddings.
    pub embeddings: Arc<dyn EmbeddingRepository>,
    /// The semantic stage of similar-ticket ranking.
    pub semantic: Semantic,
}

/// The repositories a storage adapter supplies (the store: one database, one adapter).
#[derive(Clone)]
pub struct Repositories {
    /// Forum threads and what the forum told osts.
    pub forum: Arc<dyn ForumRepository>,
    /// SLA settings and states, escalations and chat webhooks.
    pub escalations: Arc<dyn EscalationRepository>,
    /// Accounts.
    pub accounts: Arc<dyn AccountRepository>,
    /// Sessions.
    pub sessions: Arc<dyn SessionRepository>,
    /// Categories.
    pub categories: Arc<dyn CategoryRepository>,
    /// Tickets.
    pub tickets: Arc<dyn TicketRepository>,
    /// Votes.
    pub votes: Arc<dyn VoteRepository>,
    /// Replies.
    pub replies: Arc<dyn ReplyRepository>,
    /// Watchers.
    pub watchers: Arc<dyn WatcherRepository>,
    /// The workflow's set-based operations.
    pub workflow: Arc<dyn WorkflowRepository>,
    /// Attachment metadata.
    pub attachments: Arc<dyn AttachmentRepository>,
    /// FAQ entries.
    pub faq: Arc<dyn FaqRepository>,
    /// The in-app inbox and notification preferences.
    pub notifications: Arc<dyn NotificationRepository>,
    /// The outbox of deliveries.
    pub outbox: Arc<dyn OutboxRepository>,
    /// Full-text search and batched reads for similar tickets.
    pub similarity: Arc<dyn SimilarityIndex>,
    /// Stored ticket embeddings.
    pub embeddings: Arc<dyn EmbeddingRepository>,
}

/// The adapters that are not storage, built by the composition root (named, since two of
/// them share a type).
#[derive(Clone)]
pub struct Adapters {
    /// Password hashing.
    pub hasher: Arc<dyn PasswordHasher>,
    /// Session and confirmation tokens.
    pub tokens: Arc<dyn TokenIssuer>,
    /// The sign-in throttle.
    pub throttle: Arc<dyn LoginThrottle>,
    /// The throttle of confirmation-email resends.
    pub resend_throttle: Arc<dyn LoginThrottle>,
    /// Attachment contents.
    pub blobs: Arc<dyn BlobStore>,
    /// Signed one-click unsubscribe tokens.
    pub unsubscribe: Arc<dyn UnsubscribeTokens>,
    /// The time.
    pub clock: Arc<dyn Clock>,
}

impl Ports {
    /// Every port, from the storage adapter's repositories, the other adapters and the
    /// semantic stage; each is given, none defaults.
    pub fn new(repositories: Repositories, adapters: Adapters, semantic: Semantic) -> Self {
        let Repositories {
            forum,
            escalations,
            accounts,
            sessions,
            categories,
            tickets,
            votes,
            replies,
            watchers,
            workflow,
            attachments,
            faq,
            notifications,
            outbox,
            similarity,
            embeddings,
        } = repositories;
        let Adapters { hasher, tokens, throttle, resend_throttle, blobs, unsubscribe, clock } = adapters;
        Self {
            forum,
            escalations,
            accounts,
            sessions,
            categories,
            tickets,
            votes,
            replies,
            watchers,
            workflow,
            attachments,
            blobs,
            faq,
            hasher,
            tokens,
            throttle,
            resend_throttle,
            clock,
            notifications,
            outbox,
            unsubscribe,
            similarity,
            embeddings,
            semantic,
        }
    }
}

/// The semantic stage's parts: the model, the in-memory indexes, and the signal that a
/// ticket's or an entry's text changed.
#[derive(Clone)]
pub struct Semantic {
    /// The sentence-embedding model (or a stand-in that is disabled).
    pub embedder: Arc<dyn Embedder>,
    /// Ticket and FAQ entry embeddings in memory.
    pub vectors: Arc<VectorIndex>,
    /// Told after a ticket is raised or its text edited, and after an FAQ entry changes, so
    /// that the embedding and lexical jobs catch up.
    pub queue: Arc<dyn EmbeddingQueue>,
    /// The in-memory lexical index; until a job loads it, the store's full-text query ranks
    /// lexically.
    pub lexical: Arc<LexicalIndex>,
}

impl Semantic {
    /// No model and no background jobs (operator commands, tests): suggestions are lexical,
    /// from the store's full-text query (nothing loads the in-memory lexical index), and
    /// content changes are signalled to nobody.
    pub fn off() -> Self {
        Self {
            embedder: Arc::new(DisabledEmbedder),
            vectors: Arc::new(VectorIndex::new()),
            queue: Arc::new(NobodyListens),
            lexical: Arc::new(LexicalIndex::new()),
        }
    }
}

/// The embedding queue where no job runs ([`Semantic::off`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct NobodyListens;

impl EmbeddingQueue for NobodyListens {
    fn content_changed(&self, _ticket: TicketId) {}
    fn faq_changed(&self, _entry: crate::faq::FaqEntryId) {}
}

/// The services' settings.
#[derive(Debug, Clone)]
pub struct ServiceSettings {
    /// How long a sign-in lasts.
    pub session_ttl: Duration,
    /// The workflow's windows and switches.
    pub workflow: WorkflowSettings,
    /// How similar tickets are ranked.
    pub similarity: SimilarityConfig,
    /// Who may curate the FAQ.
    pub faq: FaqSettings,
    /// Which confirmed addresses approve their account without an admin.
    pub auto_approval: AutoApproval,
    /// Escalation by votes and where chat webhooks may point.
    pub escalation: EscalationSettings,
    /// The Discourse forum (off without a base URL).
    pub forum: ForumSettings,
}

impl Default for ServiceSettings {
    fn default() -> Self {
        Self {
            session_ttl: Duration::days(7),
            workflow: WorkflowSettings::default(),
            similarity: SimilarityConfig::default(),
            faq: FaqSettings::default(),
            auto_approval: AutoApproval::none(),
            escalation: EscalationSettings::default(),
            forum: ForumSettings::default(),
        }
    }
}

/// Every domain service.
#[derive(Clone)]
pub struct Services {
    /// Accounts, sessions and sign-in.
    pub accounts: AccountService,
    /// Categories.
    pub categories: CategoryService,
    /// Tickets.
    pub tickets: TicketService,
    /// Votes.
    pub votes: VoteService,
    /// The support workflow.
    pub workflow: WorkflowService,
    /// Replies and watching.
    pub conversation: ConversationService,
    /// Attachments.
    pub attachments: AttachmentService,
    /// Similar tickets.
    pub similarity: SimilarityService,
    /// The inbox, preferences and dead letters.
    pub notifications: NotificationService,
    /// The FAQ.
    pub faq: FaqService,
    /// Escalations, the SLA and chat webhooks.
    pub escalation: EscalationService,
    /// Forum threads (with a client only when the forum is configured: see
    /// [`ForumService::with_client`]).
    pub forum: ForumService,
}

impl Services {
    /// Wires every service to the given ports.
    pub fn new(ports: Ports, settings: ServiceSettings) -> Self {
        let similarity = SimilarityService::new(
            ports.similarity.clone(),
            ports.embeddings.clone(),
            ports.semantic.embedder.clone(),
            ports.semantic.vectors.clone(),
            ports.semantic.lexical.clone(),
            settings.similarity,
        );
        let workflow = WorkflowService::new(
            ports.tickets.clone(),
            ports.accounts.clone(),
            ports.workflow.clone(),
            Arc::new(similarity.clone()),
            ports.clock.clone(),
            settings.workflow,
        );
        let sla = SlaBook::default();
        let escalation = EscalationService::new(
            ports.escalations.clone(),
            ports.tickets.clone(),
            ports.categories.clone(),
            ports.clock.clone(),
            sla.clone(),
            settings.escalation.clone(),
        );
        let tickets = TicketService::new(
            ports.tickets.clone(),
            ports.categories.clone(),
            ports.clock.clone(),
            ports.semantic.queue.clone(),
            workflow.clone(),
        )
        .with_sla(sla);
        let faq = FaqService::new(
            ports.faq.clone(),
            ports.tickets.clone(),
            ports.categories.clone(),
            ports.clock.clone(),
            settings.faq,
            ports.semantic.queue.clone(),
        );
        Self {
            attachments: AttachmentService::new(
                tickets.clone(),
                ports.attachments.clone(),
                ports.blobs.clone(),
                ports.replies.clone(),
                ports.clock.clone(),
            ),
            accounts: AccountService::new(
                ports.accounts.clone(),
                ports.sessions.clone(),
                ports.hasher.clone(),
                ports.tokens.clone(),
                ports.throttle.clone(),
                ports.resend_throttle.clone(),
                ports.clock.clone(),
            )
            .with_session_ttl(settings.session_ttl)
            .with_auto_approval(settings.auto_approval.clone()),
            categories: CategoryService::new(ports.categories.clone(), ports.accounts.clone()),
            tickets,
            votes: VoteService::new(ports.tickets.clone(), ports.votes.clone(), ports.clock.clone())
                .with_escalation(escalation.clone()),
            escalation,
            forum: ForumService::new(
                ports.forum.clone(),
                ports.tickets.clone(),
                ports.accounts.clone(),
                ports.clock.clone(),
                settings.forum.clone(),
            ),
            conversation: ConversationService::new(
                ports.tickets.clone(),
                ports.replies.clone(),
                ports.watchers.clone(),
                ports.clock.clone(),
            ),
            faq,
            workflow,
            similarity,
            notifications: NotificationService::new(
                ports.notifications.clone(),
                ports.outbox.clone(),
                ports.unsubscribe.clone(),
                ports.clock.clone(),
            ),
        }
    }
}

/// "The same staff for similar requests" uses the similarity ranking.
#[async_trait::async_trait]
impl SimilarResolved for SimilarityService {
    async fn similar_resolved(&self, title: &str, description: &str, limit: usize) -> anyhow::Result<Vec<TicketId>> {
        let draft = Draft::parse(title, description).map_err(|e| anyhow::anyhow!("draft for similarity: {e}"))?;
        let matches = SimilarityService::similar_resolved(self, &draft, limit)
            .await
            .map_err(|e| anyhow::anyhow!("similar resolved tickets: {e}"))?;
        Ok(matches.into_iter().map(|m| m.ticket).collect())
    }
}

/// A stand-in model that is switched off: the similarity ranking stays lexical.
#[derive(Debug, Clone, Copy, Default)]
pub struct DisabledEmbedder;

#[async_trait::async_trait]
impl Embedder for DisabledEmbedder {
    fn state(&self) -> SemanticState {
        SemanticState::Disabled
    }

    fn model_id(&self) -> String {
        "none".into()
    }

    async fn embed(&self, _texts: Vec<String>) -> Result<Vec<Embedding>, EmbedError> {
        Err(EmbedError::Unavailable)
    }
}
