//! Every service wired to its ports in one place, so the composition root (and tests that
//! need the whole domain) build them the same way.

use std::sync::Arc;

use chrono::Duration;

use crate::accounts::{
    AccountRepository, AccountService, LoginThrottle, PasswordHasher, SessionRepository, TokenIssuer,
};
use crate::attachments::{AttachmentRepository, AttachmentService, BlobStore};
use crate::categories::{CategoryRepository, CategoryService};
use crate::clock::Clock;
use crate::conversation::{ConversationService, ReplyRepository, WatcherRepository};
use crate::faq::{FaqRepository, FaqService, FaqSettings};
use crate::tickets::{TicketRepository, TicketService};
use crate::votes::{VoteRepository, VoteService};
use crate::workflow::{SimilarResolved, WorkflowRepository, WorkflowService, WorkflowSettings};

/// The adapters for every port.
#[derive(Clone)]
pub struct Ports {
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
    /// Time.
    pub clock: Arc<dyn Clock>,
    /// Similar resolved tickets, when a similarity index exists.
    pub similar: Option<Arc<dyn SimilarResolved>>,
}

/// The services' settings.
#[derive(Debug, Clone, Copy)]
pub struct ServiceSettings {
    /// How long a sign-in lasts.
    pub session_ttl: Duration,
    /// The workflow's windows and switches.
    pub workflow: WorkflowSettings,
    /// Who may curate the FAQ.
    pub faq: FaqSettings,
}

impl Default for ServiceSettings {
    fn default() -> Self {
        Self { session_ttl: Duration::days(7), workflow: WorkflowSettings::default(), faq: FaqSettings::default() }
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
    /// The FAQ.
    pub faq: FaqService,
}

impl Services {
    /// Wires every service to the given ports.
    pub fn new(ports: Ports, settings: ServiceSettings) -> Self {
        let mut workflow = WorkflowService::new(
            ports.tickets.clone(),
            ports.accounts.clone(),
            ports.workflow.clone(),
            ports.clock.clone(),
            settings.workflow,
        );
        if let Some(similar) = ports.similar.clone() {
            workflow = workflow.with_similarity(similar);
        }
        let tickets = TicketService::new(ports.tickets.clone(), ports.categories.clone(), ports.clock.clone())
            .with_workflow(workflow.clone());
        Self {
            attachments: AttachmentService::new(
                tickets.clone(),
                ports.attachments.clone(),
                ports.blobs.clone(),
                ports.clock.clone(),
            )
            .with_replies(ports.replies.clone()),
            accounts: AccountService::new(
                ports.accounts.clone(),
                ports.sessions.clone(),
                ports.hasher.clone(),
                ports.tokens.clone(),
                ports.throttle.clone(),
                ports.clock.clone(),
                settings.session_ttl,
            ),
            categories: CategoryService::new(ports.categories.clone(), ports.accounts.clone()),
            tickets,
            votes: VoteService::new(ports.tickets.clone(), ports.votes.clone(), ports.clock.clone()),
            conversation: ConversationService::new(
                ports.tickets.clone(),
                ports.replies.clone(),
                ports.watchers.clone(),
                ports.clock.clone(),
            ),
            faq: FaqService::new(
                ports.faq.clone(),
                ports.tickets.clone(),
                ports.categories.clone(),
                ports.clock.clone(),
                settings.faq,
            ),
            workflow,
        }
    }
}
