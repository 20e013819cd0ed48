//! The domain's error vocabulary.
//!
//! Each variant has exactly one meaning for a client (the HTTP layer maps it variant by
//! variant: invalid → 422, unauthenticated → 401, forbidden → 403, not found and unknown
//! reference → 404, conflict → 409, too large → 413, unsupported media type → 415,
//! throttled → 429, busy → 503, unknown → 500). Refusals carry a machine-readable reason.

use std::fmt;

/// What a domain service can refuse or fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A value the client gave is not acceptable.
    #[error("{message}")]
    Invalid {
        /// The field (as the client named it) that is wrong.
        field: &'static str,
        /// A machine-readable reason, e.g. `too_long`.
        code: &'static str,
        /// A sentence for people.
        message: String,
    },
    /// No valid session: the client must sign in.
    #[error("authentication required")]
    Unauthenticated,
    /// Sign-in failed. Deliberately says nothing about which part was wrong.
    #[error("invalid email or password")]
    InvalidCredentials,
    /// The principal is known but may not do this.
    #[error("{0}")]
    Forbidden(Forbidden),
    /// The thing does not exist (or the principal may not know that it does).
    #[error("{0} not found")]
    NotFound(Resource),
    /// A value of the request names something that does not exist (or that the principal
    /// may not know exists): a category, a ticket, an account.
    #[error("{resource} not found")]
    UnknownReference {
        /// What the value names.
        resource: Resource,
        /// The field (as the client named it) that holds the value.
        field: &'static str,
    },
    /// The request contradicts the current state.
    #[error("{0}")]
    Conflict(Conflict),
    /// The content is larger than allowed (code `too_large`).
    #[error("{message}")]
    TooLarge {
        /// The field (as the client named it) that is too large.
        field: &'static str,
        /// A sentence for people, naming the limit.
        message: String,
    },
    /// The content is of a type that is not accepted (code `unsupported_media_type`).
    #[error("{message}")]
    UnsupportedMediaType {
        /// The field (as the client named it) whose content is refused.
        field: &'static str,
        /// A sentence for people, listing what is accepted.
        message: String,
    },
    /// Too many attempts; try again later.
    #[error("too many attempts, retry in {retry_after_secs} s")]
    Throttled {
        /// Seconds until a new attempt may succeed.
        retry_after_secs: u64,
    },
    /// The server is at capacity for this kind of work (e.g. password hashing); try again
    /// later.
    #[error("the server is busy, retry in {retry_after_secs} s")]
    Busy {
        /// Seconds after which a new attempt is likely to find room.
        retry_after_secs: u64,
    },
    /// Something broke that the client cannot fix (a store outage, a bug).
    #[error(transparent)]
    Unknown(#[from] anyhow::Error),
}

impl Error {
    /// Shorthand for [`Error::Invalid`].
    pub fn invalid(field: &'static str, code: &'static str, message: impl Into<String>) -> Self {
        Self::Invalid { field, code, message: message.into() }
    }
}

/// Why a principal is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Forbidden {
    /// The account waits for an admin's approval.
    AccountPending,
    /// The account was rejected or deactivated.
    AccountInactive,
    /// The account's email address is not confirmed yet.
    EmailUnconfirmed,
    /// The role does not allow this action.
    RoleNotAllowed,
    /// Only the ticket's creator (or staff) may do this.
    NotOwner,
    /// Students may not vote on their own ticket.
    OwnTicket,
    /// Students may request at most `high`; `urgent` is set by staff.
    PriorityNotAllowed,
    /// The ticket can no longer be edited by its creator.
    TicketLocked,
    /// Only the creator, watchers and staff take part in a ticket's conversation.
    NotParticipant,
    /// Admins do not decide about their own account (approve, reject, deactivate,
    /// reactivate it, or change its role).
    SelfDecision,
    /// The forum account's primary email is not the user's confirmed email (or there is no
    /// such account: the answer does not tell the two apart).
    ForumAccountNotYours,
}

impl Forbidden {
    /// The machine-readable code.
    pub fn code(self) -> &'static str {
        match self {
            Self::AccountPending => "account_pending",
            Self::AccountInactive => "account_inactive",
            Self::EmailUnconfirmed => "email_unconfirmed",
            Self::RoleNotAllowed => "role_not_allowed",
            Self::NotOwner => "not_owner",
            Self::OwnTicket => "own_ticket",
            Self::PriorityNotAllowed => "priority_not_allowed",
            Self::TicketLocked => "ticket_locked",
            Self::NotParticipant => "not_participant",
            Self::SelfDecision => "self_decision",
            Self::ForumAccountNotYours => "forum_account_not_yours",
        }
    }
}

impl fmt::Display for Forbidden {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::AccountPending => "your account is waiting for an admin's approval",
            Self::AccountInactive => "your account is not active",
            Self::EmailUnconfirmed => {
                "confirm your email address first with the link we emailed you; \
                 if it expired or did not arrive, ask for a new one"
            }
            Self::RoleNotAllowed => "your role does not allow this action",
            Self::NotOwner => "only the ticket's creator or staff may do this",
            Self::OwnTicket => "you cannot vote on your own ticket",
            Self::PriorityNotAllowed => "students may request at most high priority",
            Self::TicketLocked => "the ticket can only be edited by its creator while it is open",
            Self::NotParticipant => "watch the ticket to take part in its conversation",
            Self::SelfDecision => "you cannot decide about your own account or change your own role",
            Self::ForumAccountNotYours => {
                "osts can link only a forum account whose primary email is your confirmed email address"
            }
        })
    }
}

/// The kinds of things that can be missing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resource {
    /// An account.
    Account,
    /// A ticket.
    Ticket,
    /// A category.
    Category,
    /// An attachment.
    Attachment,
    /// A notification in the caller's inbox.
    Notification,
    /// A dead-letter delivery.
    Delivery,
    /// An FAQ entry.
    FaqEntry,
    /// A chat webhook.
    ChatWebhook,
    /// A ticket's forum thread.
    Thread,
    /// A reply on the ticket at hand.
    Reply,
    /// An email confirmation link: its token is well formed but was never issued, or was
    /// replaced by a newer link.
    Confirmation,
    /// A one-click unsubscribe link: its token is well formed but not signed by this
    /// instance (forged, altered, or from before the key changed).
    UnsubscribeLink,
    /// The forum account a user linked.
    ForumAccount,
}

impl Resource {
    /// The machine-readable code.
    pub fn code(self) -> &'static str {
        match self {
            Self::Account => "account_not_found",
            Self::Ticket => "ticket_not_found",
            Self::Category => "category_not_found",
            Self::Attachment => "attachment_not_found",
            Self::Notification => "notification_not_found",
            Self::Delivery => "delivery_not_found",
            Self::FaqEntry => "faq_entry_not_found",
            Self::ChatWebhook => "chat_webhook_not_found",
            Self::Thread => "thread_not_found",
            Self::Reply => "reply_not_found",
            Self::Confirmation => "confirmation_not_found",
            Self::UnsubscribeLink => "unsubscribe_link_not_found",
            Self::ForumAccount => "forum_account_not_found",
        }
    }
}

impl fmt::Display for Resource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Account => "account",
            Self::Ticket => "ticket",
            Self::Category => "category",
            Self::Attachment => "attachment",
            Self::Notification => "notification",
            Self::Delivery => "delivery",
            Self::FaqEntry => "FAQ entry",
            Self::ChatWebhook => "chat webhook",
            Self::Thread => "forum thread",
            Self::Reply => "reply",
            Self::Confirmation => "confirmation link",
            Self::UnsubscribeLink => "unsubscribe link",
            Self::ForumAccount => "linked forum account",
        })
    }
}

/// Why a request contradicts the current state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Conflict {
    /// An account with this email exists.
    EmailTaken,
    /// A category with this name exists.
    CategoryExists,
    /// The state machine does not allow this status change.
    IllegalTransition {
        /// The current status.
        from: &'static str,
        /// The requested status.
        to: &'static str,
    },
    /// The account was already approved or rejected.
    AlreadyDecided,
    /// The ticket changed since it was read; reload and retry.
    StaleUpdate,
    /// Votes are closed on a closed ticket.
    TicketClosed,
    /// Another staff member has the ticket; an admin can reassign it.
    AlreadyAssigned,
    /// The creator's reopen window has passed; raise a follow-up ticket instead.
    ReopenWindowPassed {
        /// The window in days.
        days: u32,
    },
    /// The ticket is not merged into another.
    NotMerged,
    /// The merge is too old to undo.
    UnmergeWindowPassed,
    /// The ticket (or the reply) already has the most attachments allowed.
    TooManyAttachments,
    /// Only a resolved or closed ticket can become an FAQ entry.
    NotResolved,
    /// The email confirmation link was used already.
    ConfirmationUsed,
    /// The email confirmation link is too old.
    ConfirmationExpired,
    /// Only a ticket still waiting for support (open or in progress) can be escalated.
    NotUnresolved,
    /// The Discourse forum is not configured.
    ForumNotConfigured,
    /// The ticket has a forum thread already.
    ThreadExists,
    /// A ticket cannot be merged into itself.
    SameTicket,
    /// The account named exists but cannot take the job now (not active, or not of the
    /// role it needs); the sentence says what is needed.
    NotAssignable(&'static str),
    /// The ticket's current status needs its own action for this change (undo the merge,
    /// reopen with a reason) rather than a plain edit.
    UseAction {
        /// The machine-readable code, e.g. `use_reopen`.
        code: &'static str,
        /// A sentence for people.
        message: &'static str,
    },
    /// The forum signs its users in through osts (DiscourseConnect): there is no account of
    /// one's own to link.
    ForumAccountsFromOsts,
    /// Another user linked that forum account.
    ForumAccountTaken,
}

impl Conflict {
    /// The machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::EmailTaken => "email_taken",
            Self::CategoryExists => "category_exists",
            Self::IllegalTransition { .. } => "illegal_transition",
            Self::AlreadyDecided => "already_decided",
            Self::StaleUpdate => "stale_update",
            Self::TicketClosed => "ticket_closed",
            Self::AlreadyAssigned => "already_assigned",
            Self::ReopenWindowPassed { .. } => "reopen_window_passed",
            Self::NotMerged => "not_merged",
            Self::UnmergeWindowPassed => "unmerge_window_passed",
            Self::TooManyAttachments => "too_many_attachments",
            Self::NotResolved => "not_resolved",
            Self::ConfirmationUsed => "confirmation_used",
            Self::ConfirmationExpired => "confirmation_expired",
            Self::NotUnresolved => "ticket_not_unresolved",
            Self::ForumNotConfigured => "forum_not_configured",
            Self::ThreadExists => "thread_exists",
            Self::SameTicket => "same_ticket",
            Self::NotAssignable(_) => "not_assignable",
            Self::UseAction { code, .. } => code,
            Self::ForumAccountsFromOsts => "forum_accounts_from_osts",
            Self::ForumAccountTaken => "forum_account_taken",
        }
    }
}

impl fmt::Display for Conflict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::EmailTaken => f.write_str("an account with this email already exists"),
            Self::CategoryExists => f.write_str("a category with this name already exists"),
            Self::IllegalTransition { from, to } => {
                write!(f, "a ticket cannot go from {from} to {to}")
            }
            Self::AlreadyDecided => f.write_str("this account was already approved or rejected"),
            Self::StaleUpdate => f.write_str("the ticket changed meanwhile; reload and retry"),
            Self::TicketClosed => f.write_str("the ticket is closed"),
            Self::AlreadyAssigned => f.write_str("another staff member has this ticket; an admin can reassign it"),
            Self::ReopenWindowPassed { days } => write!(
                f,
                "tickets can be reopened within {days} days of their resolution; raise a follow-up ticket instead"
            ),
            Self::NotMerged => f.write_str("the ticket is not merged into another"),
            Self::UnmergeWindowPassed => {
                write!(f, "merges can be undone within {} days", crate::workflow::merge::UNMERGE_WINDOW_DAYS)
            }
            Self::TooManyAttachments => write!(
                f,
                "a ticket, and each reply, can have at most {} attachments",
                crate::attachments::MAX_PER_TARGET
            ),
            Self::NotResolved => f.write_str("only a resolved or closed ticket can become an FAQ entry"),
            Self::ConfirmationUsed => f.write_str("this confirmation link was used already; sign in"),
            Self::ConfirmationExpired => f.write_str("this confirmation link has expired; ask for a new one"),
            Self::NotUnresolved => f.write_str("only an open or in-progress ticket can be escalated"),
            Self::ForumNotConfigured => {
                f.write_str("the Discourse forum is not configured on this server (OSTS_DISCOURSE_URL)")
            }
            Self::ThreadExists => f.write_str("the ticket has a forum thread already"),
            Self::SameTicket => f.write_str("a ticket cannot be merged into itself"),
            Self::NotAssignable(message) | Self::UseAction { message, .. } => f.write_str(message),
            Self::ForumAccountsFromOsts => f.write_str(
                "the forum signs you in through osts (DiscourseConnect), so your forum account is already yours",
            ),
            Self::ForumAccountTaken => f.write_str("another user linked that forum account"),
        }
    }
}
