//! Test-data builders (behind the `mocks` feature): tickets, accounts and principals with
//! sensible defaults, so tests say only what matters to them.
//!
//! ```ignore
//! let ticket = TicketBuilder::new(10).creator(1).status(Status::Resolved).build();
//! let admin = PrincipalBuilder::admin(9).build();
//! ```

use chrono::{DateTime, TimeZone, Utc};

use crate::accounts::{Account, AccountStatus, DisplayName, Email, Principal, Role, UserId};
use crate::categories::CategoryId;
use crate::tickets::{
    Answer, Description, Priority, Resolution, Status, Tags, Ticket, TicketId, TicketRecord, TicketView, Title, UserRef,
};

/// The time test data is made at unless a test says otherwise: 1 March 2026, midnight UTC.
pub fn epoch() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).single().expect("a valid date")
}

/// Builds a [`Ticket`]: open, medium, in category 1, raised by user 1 ("Ada") at [`epoch`].
#[derive(Debug, Clone)]
pub struct TicketBuilder(TicketRecord);

impl TicketBuilder {
    /// A ticket with this id and the defaults.
    pub fn new(id: i64) -> Self {
        Self(TicketRecord {
            id: TicketId::new(id),
            title: Title::parse("Exam results missing").expect("a valid title"),
            description: Description::parse("My quiz 2 grade is not shown").expect("a valid description"),
            category_id: CategoryId::new(1),
            tags: Tags::default(),
            priority: Priority::Medium,
            status: Status::Open,
            creator_id: UserId::new(1),
            creator_name: "Ada".into(),
            created_at: epoch(),
            updated_at: epoch(),
            vote_count: 0,
            version: 1,
            assignee: None,
            resolution: None,
            merged_into: None,
            follow_up_of: None,
            sla: crate::escalation::TicketSla::default(),
            escalated_at: None,
            thread: None,
        })
    }

    /// The title (panics on an invalid one: test data is meant to be valid).
    pub fn title(mut self, title: &str) -> Self {
        self.0.title = Title::parse(title).expect("a valid title");
        self
    }

    /// The description.
    pub fn description(mut self, description: &str) -> Self {
        self.0.description = Description::parse(description).expect("a valid description");
        self
    }

    /// The category.
    pub fn category(mut self, id: i64) -> Self {
        self.0.category_id = CategoryId::new(id);
        self
    }

    /// The tags.
    pub fn tags(mut self, tags: &[&str]) -> Self {
        self.0.tags = Tags::parse(tags).expect("valid tags");
        self
    }

    /// The priority.
    pub fn priority(mut self, priority: Priority) -> Self {
        self.0.priority = priority;
        self
    }

    /// The status.
    pub fn status(mut self, status: Status) -> Self {
        self.0.status = status;
        self
    }

    /// The creator.
    pub fn creator(mut self, id: i64) -> Self {
        self.0.creator_id = UserId::new(id);
        self
    }

    /// The creator's display name.
    pub fn creator_name(mut self, name: &str) -> Self {
        self.0.creator_name = name.into();
        self
    }

    /// Raised (and last changed) at this time.
    pub fn created_at(mut self, at: DateTime<Utc>) -> Self {
        self.0.created_at = at;
        self.0.updated_at = at;
        self
    }

    /// Votes.
    pub fn votes(mut self, n: u32) -> Self {
        self.0.vote_count = n;
        self
    }

    /// The version.
    pub fn version(mut self, version: i64) -> Self {
        self.0.version = version;
        self
    }

    /// Assigned to this staff member.
    pub fn assignee(mut self, id: i64) -> Self {
        self.0.assignee = Some(UserRef { id: UserId::new(id), display_name: format!("Staff {id}") });
        self
    }

    /// Resolved by `by` at `at` with `answer` (and status `resolved`).
    pub fn resolved(mut self, by: i64, answer: &str, at: DateTime<Utc>) -> Self {
        self.0.status = Status::Resolved;
        self.0.resolution = Some(Resolution {
            answer: Answer::parse(answer, "answer").expect("a valid answer"),
            resolved_by: UserId::new(by),
            resolved_at: at,
        });
        self
    }

    /// Merged into `target` (and status `merged`).
    pub fn merged_into(mut self, target: i64) -> Self {
        self.0.status = Status::Merged;
        self.0.merged_into = Some(TicketId::new(target));
        self
    }

    /// A follow-up of `earlier`.
    pub fn follow_up_of(mut self, earlier: i64) -> Self {
        self.0.follow_up_of = Some(TicketId::new(earlier));
        self
    }

    /// The ticket.
    pub fn build(self) -> Ticket {
        Ticket::restore(self.0)
    }

    /// The ticket as a viewer who neither voted nor watches sees it.
    pub fn view(self) -> TicketView {
        TicketView { ticket: self.build(), voted: false, watching: false }
    }
}

/// Builds a [`Principal`]: an active account.
#[derive(Debug, Clone)]
pub struct PrincipalBuilder {
    id: UserId,
    role: Role,
    status: AccountStatus,
}

impl PrincipalBuilder {
    /// A principal with this id and role.
    pub fn new(id: i64, role: Role) -> Self {
        Self { id: UserId::new(id), role, status: AccountStatus::Active }
    }

    /// The principal of an account as it is (e.g. one the seed just made).
    pub fn of(account: &Account) -> Self {
        Self { id: account.id, role: account.role, status: account.status }
    }

    /// A student.
    pub fn student(id: i64) -> Self {
        Self::new(id, Role::Student)
    }

    /// A support member.
    pub fn support(id: i64) -> Self {
        Self::new(id, Role::Support)
    }

    /// An admin.
    pub fn admin(id: i64) -> Self {
        Self::new(id, Role::Admin)
    }

    /// The account's status.
    pub fn status(mut self, status: AccountStatus) -> Self {
        self.status = status;
        self
    }

    /// The principal.
    pub fn build(self) -> Principal {
        Principal::from_parts(self.id, self.role, self.status)
    }
}

/// Builds an [`Account`]: an active student with a confirmed address at [`epoch`].
#[derive(Debug, Clone)]
pub struct AccountBuilder(Account);

impl AccountBuilder {
    /// An account with this id, its email `user<id>@uni.edu` and display name `User <id>`.
    pub fn new(id: i64) -> Self {
        Self(Account {
            id: UserId::new(id),
            email: Email::parse(&format!("user{id}@uni.edu")).expect("a valid email"),
            display_name: DisplayName::parse(&format!("User {id}")).expect("a valid name"),
            role: Role::Student,
            status: AccountStatus::Active,
            email_confirmed_at: Some(epoch()),
            status_reason: None,
            created_at: epoch(),
        })
    }

    /// The role.
    pub fn role(mut self, role: Role) -> Self {
        self.0.role = role;
        self
    }

    /// The status.
    pub fn status(mut self, status: AccountStatus) -> Self {
        self.0.status = status;
        self
    }

    /// The email.
    pub fn email(mut self, email: &str) -> Self {
        self.0.email = Email::parse(email).expect("a valid email");
        self
    }

    /// Not confirmed yet.
    pub fn unconfirmed(mut self) -> Self {
        self.0.email_confirmed_at = None;
        self
    }

    /// The account.
    pub fn build(self) -> Account {
        self.0
    }

    /// The account's principal.
    pub fn principal(&self) -> Principal {
        Principal::of(&self.0)
    }
}

/// A workflow service for tests of other services: its ports expect no call, so it fails a
/// test that reaches them; with the default settings (automatic assignment off) raising a
/// ticket never does.
pub fn idle_workflow() -> crate::workflow::WorkflowService {
    use std::sync::Arc;
    crate::workflow::WorkflowService::new(
        Arc::new(crate::tickets::MockTicketRepository::new()),
        Arc::new(crate::accounts::MockAccountRepository::new()),
        Arc::new(crate::workflow::MockWorkflowRepository::new()),
        Arc::new(crate::workflow::MockSimilarResolved::new()),
        Arc::new(crate::clock::FixedClock(epoch())),
        crate::workflow::WorkflowSettings::default(),
    )
}
