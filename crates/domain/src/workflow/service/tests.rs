use crate::testing::{PrincipalBuilder, TicketBuilder};
use chrono::TimeZone;
use mockall::predicate::*;

use super::*;
use crate::accounts::{Account, DisplayName, Email, MockAccountRepository};
use crate::clock::FixedClock;
use crate::tickets::MockTicketRepository;
use crate::workflow::assignment::Candidate;

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 10, 15, 12, 0, 0).unwrap()
}

fn principal(id: i64, role: Role) -> Principal {
    PrincipalBuilder::new(id, role).build()
}

fn builder(status: Status) -> TicketBuilder {
    let t = Utc.with_ymd_and_hms(2026, 10, 1, 9, 0, 0).unwrap();
    TicketBuilder::new(10)
        .title("Quiz grade missing")
        .description("Quiz 3 of Statistics")
        .status(status)
        .created_at(t)
        .version(3)
}

fn ticket(status: Status) -> Ticket {
    builder(status).build()
}

fn resolved(days_ago: i64) -> Ticket {
    builder(Status::Resolved).resolved(3, "Regraded.", now() - Duration::days(days_ago)).build()
}

struct Mocks {
    tickets: MockTicketRepository,
    accounts: MockAccountRepository,
    workflow: MockWorkflowRepository,
    similar: MockSimilarResolved,
    settings: WorkflowSettings,
}

impl Mocks {
    fn with(ticket: Ticket) -> Self {
        let mut tickets = MockTicketRepository::new();
        tickets
            .expect_get()
            .returning(move |_, _| Ok(Some(TicketView { ticket: ticket.clone(), voted: false, watching: false })));
        Self {
            tickets,
            accounts: MockAccountRepository::new(),
            workflow: MockWorkflowRepository::new(),
            similar: {
                // No similar resolved tickets unless a test says otherwise.
                let mut similar = MockSimilarResolved::new();
                similar.expect_similar_resolved().returning(|_, _, _| Ok(vec![]));
                similar
            },
            settings: WorkflowSettings::default(),
        }
    }
    fn service(self) -> WorkflowService {
        WorkflowService::new(
            Arc::new(self.tickets),
            Arc::new(self.accounts),
            Arc::new(self.workflow),
            Arc::new(self.similar),
            Arc::new(FixedClock(now())),
            self.settings,
        )
    }
}

#[tokio::test]
async fn reopen_window_table() {
    // (who, role, days since resolution, expected code or "ok")
    let table = [
        (1, Role::Student, 3, "ok"),
        (1, Role::Student, 14, "ok"),
        (1, Role::Student, 15, "reopen_window_passed"),
        (2, Role::Student, 3, "not_owner"),
        (3, Role::Support, 40, "ok"),
        (4, Role::Admin, 400, "ok"),
    ];
    for (who, role, days, expected) in table {
        let mut m = Mocks::with(resolved(days));
        m.tickets.expect_update().returning(|tr, _| {
            let (t, changes) = (tr.ticket.clone(), tr.changes.clone());
            assert_eq!(t.status(), Status::Open);
            assert!(t.resolution().is_none());
            assert!(matches!(changes.as_slice(), [Change::Reopened { reason }] if reason == "still missing"));
            Ok(t)
        });
        let got = match m.service().reopen(&principal(who, role), TicketId::new(10), "still missing").await {
            Ok(_) => "ok",
            Err(Error::Conflict(c)) => c.code(),
            Err(Error::Forbidden(f)) => f.code(),
            Err(e) => panic!("{e:?}"),
        };
        assert_eq!(got, expected, "{role:?} {who} after {days} days");
    }
}

#[tokio::test]
async fn reopen_needs_a_reason_and_a_resolved_ticket() {
    let m = Mocks::with(resolved(1));
    let err = m.service().reopen(&principal(1, Role::Student), TicketId::new(10), "  ").await.unwrap_err();
    assert!(matches!(err, Error::Invalid { field: "reason", .. }));
    let m = Mocks::with(ticket(Status::Closed));
    let err = m.service().reopen(&principal(1, Role::Student), TicketId::new(10), "again").await.unwrap_err();
    assert!(matches!(err, Error::Conflict(Conflict::IllegalTransition { from: "closed", to: "open" })));
}

#[tokio::test]
async fn resolving_requires_an_answer_and_records_it() {
    let m = Mocks::with(ticket(Status::InProgress));
    let err = m.service().resolve(&principal(3, Role::Support), TicketId::new(10), "").await.unwrap_err();
    assert!(matches!(err, Error::Invalid { field: "answer", code: "required", .. }));

    let mut m = Mocks::with(ticket(Status::InProgress));
    m.tickets
        .expect_update()
        .withf(|tr, actor| {
            let (t, changes) = (&tr.ticket, &tr.changes);
            t.status() == Status::Resolved
                && t.resolution().is_some_and(|r| r.answer.as_str() == "Fixed." && r.resolved_at == now())
                && actor.user() == Some(UserId::new(3))
                && *changes
                    == vec![
                        Change::AssigneeChanged { from: None, to: Some(3) },
                        Change::Resolved { answer: "Fixed.".into() },
                    ]
        })
        .times(1)
        .returning(|tr, _| Ok(tr.ticket));
    m.service().resolve(&principal(3, Role::Support), TicketId::new(10), "Fixed.").await.unwrap();

    let m = Mocks::with(ticket(Status::Open));
    let err = m.service().resolve(&principal(1, Role::Student), TicketId::new(10), "self-help").await.unwrap_err();
    assert!(matches!(err, Error::Forbidden(Forbidden::RoleNotAllowed)));
}

#[tokio::test]
async fn claiming_assigns_and_starts_work_once() {
    let mut m = Mocks::with(ticket(Status::Open));
    m.tickets
        .expect_update()
        .withf(|tr, _| {
            let (t, changes) = (&tr.ticket, &tr.changes);
            t.status() == Status::InProgress && t.assignee().map(|a| a.id.get()) == Some(3) && changes.len() == 2
        })
        .times(1)
        .returning(|tr, _| Ok(tr.ticket));
    m.service().claim(&principal(3, Role::Support), TicketId::new(10)).await.unwrap();

    let m = Mocks::with(builder(Status::InProgress).assignee(4).build());
    let err = m.service().claim(&principal(3, Role::Support), TicketId::new(10)).await.unwrap_err();
    assert!(matches!(err, Error::Conflict(Conflict::AlreadyAssigned)));

    let m = Mocks::with(ticket(Status::Open));
    let err = m.service().claim(&principal(1, Role::Student), TicketId::new(10)).await.unwrap_err();
    assert!(matches!(err, Error::Forbidden(Forbidden::RoleNotAllowed)));
}

#[tokio::test]
async fn admins_assign_only_to_active_staff() {
    let account = |role, status| Account {
        id: UserId::new(5),
        email: Email::parse("x@uni.edu").unwrap(),
        display_name: DisplayName::parse("X").unwrap(),
        role,
        status,
        email_confirmed_at: None,
        status_reason: None,
        created_at: now(),
    };
    for (role, status, ok) in [
        (Role::Support, AccountStatus::Active, true),
        (Role::Admin, AccountStatus::Active, true),
        (Role::Student, AccountStatus::Active, false),
        (Role::Support, AccountStatus::Deactivated, false),
    ] {
        let mut m = Mocks::with(ticket(Status::Open));
        let a = account(role, status);
        m.accounts.expect_find().returning(move |_| Ok(Some(a.clone())));
        m.tickets.expect_update().returning(|tr, _| Ok(tr.ticket));
        let result = m.service().assign(&principal(9, Role::Admin), TicketId::new(10), Some(UserId::new(5))).await;
        assert_eq!(result.is_ok(), ok, "{role:?} {status:?}");
    }
    let m = Mocks::with(ticket(Status::Open));
    let err = m.service().assign(&principal(3, Role::Support), TicketId::new(10), None).await.unwrap_err();
    assert!(matches!(err, Error::Forbidden(Forbidden::RoleNotAllowed)));
}

#[tokio::test]
async fn suggestions_use_similar_resolvers_then_fall_back() {
    // With a similarity index: the store is asked about the similar tickets it found.
    let mut m = Mocks::with(ticket(Status::Open));
    m.workflow
        .expect_candidates()
        .with(eq(CategoryId::new(1)), eq(vec![TicketId::new(7), TicketId::new(8)]))
        .returning(|_, _| {
            Ok(vec![
                Candidate { member: UserId::new(3), similar_resolved: 0, owns_category: true, open_load: 0 },
                Candidate { member: UserId::new(4), similar_resolved: 2, owns_category: false, open_load: 6 },
            ])
        });
    let mut similar = MockSimilarResolved::new();
    similar
        .expect_similar_resolved()
        .returning(|_, _, _| Ok(vec![TicketId::new(7), TicketId::new(10), TicketId::new(8)]));
    m.similar = similar;
    let svc = m.service();
    let s = svc.suggest(&principal(3, Role::Support), TicketId::new(10)).await.unwrap().unwrap();
    assert_eq!((s.member.get(), s.reason), (4, Reason::SimilarRequests));

    // The index failing degrades to ownership, not to an error.
    let mut m = Mocks::with(ticket(Status::Open));
    m.workflow.expect_candidates().with(always(), eq(vec![])).returning(|_, _| {
        Ok(vec![Candidate { member: UserId::new(3), similar_resolved: 0, owns_category: true, open_load: 9 }])
    });
    let mut similar = MockSimilarResolved::new();
    similar.expect_similar_resolved().returning(|_, _, _| Err(anyhow::anyhow!("index down")));
    m.similar = similar;
    let svc = m.service();
    let s = svc.suggest(&principal(3, Role::Support), TicketId::new(10)).await.unwrap().unwrap();
    assert_eq!((s.member.get(), s.reason), (3, Reason::CategoryOwner));
}

#[tokio::test]
async fn auto_assign_only_when_switched_on() {
    let mut m = Mocks::with(ticket(Status::Open));
    m.workflow.expect_candidates().never();
    m.tickets.expect_update().never();
    let t = m.service().auto_assign(ticket(Status::Open)).await.unwrap();
    assert!(t.assignee().is_none());

    let mut m = Mocks::with(ticket(Status::Open));
    m.settings.auto_assign = AutoAssign::Similar;
    m.workflow.expect_candidates().returning(|_, _| {
        Ok(vec![Candidate { member: UserId::new(6), similar_resolved: 0, owns_category: false, open_load: 0 }])
    });
    m.tickets
        .expect_update()
        .withf(|tr, actor| {
            tr.ticket.assignee().map(|a| a.id.get()) == Some(6)
                && tr.changes == vec![Change::AssigneeChanged { from: None, to: Some(6) }]
                && actor.user() == Some(UserId::new(1))
        })
        .times(1)
        .returning(|tr, _| Ok(tr.ticket));
    let t = m.service().auto_assign(ticket(Status::Open)).await.unwrap();
    assert_eq!(t.assignee().map(|a| a.id.get()), Some(6));
}

#[tokio::test]
async fn merge_rules() {
    let m = Mocks::with(ticket(Status::Open));
    let err = m.service().merge(&principal(3, Role::Support), TicketId::new(10), TicketId::new(10)).await.unwrap_err();
    assert!(matches!(err, Error::Conflict(Conflict::SameTicket)));

    let m = Mocks::with(ticket(Status::Closed));
    let err = m.service().merge(&principal(3, Role::Support), TicketId::new(10), TicketId::new(11)).await.unwrap_err();
    assert!(matches!(err, Error::Conflict(Conflict::IllegalTransition { from: "closed", to: "merged" })));

    let m = Mocks::with(ticket(Status::Open));
    let err = m.service().merge(&principal(1, Role::Student), TicketId::new(10), TicketId::new(11)).await.unwrap_err();
    assert!(matches!(err, Error::Forbidden(Forbidden::RoleNotAllowed)));
}

#[tokio::test]
async fn unmerge_window_is_enforced() {
    for (days, ok) in [(1, true), (7, true), (8, false)] {
        let mut m = Mocks::with(ticket(Status::Merged));
        let merged_at = now() - Duration::days(days);
        m.workflow.expect_active_merge().returning(move |_| {
            Ok(Some(MergeRecord { id: 1, source: TicketId::new(10), target: TicketId::new(11), merged_at }))
        });
        m.workflow.expect_unmerge().returning(|_, _, _| Ok(ticket(Status::Open)));
        let result = m.service().unmerge(&principal(3, Role::Support), TicketId::new(10)).await;
        match (result, ok) {
            (Ok(_), true) => {}
            (Err(Error::Conflict(Conflict::UnmergeWindowPassed)), false) => {}
            (other, _) => panic!("{days} days: {other:?}"),
        }
    }
    let mut m = Mocks::with(ticket(Status::Open));
    m.workflow.expect_active_merge().returning(|_| Ok(None));
    let err = m.service().unmerge(&principal(3, Role::Support), TicketId::new(10)).await.unwrap_err();
    assert!(matches!(err, Error::Conflict(Conflict::NotMerged)));
}

#[test]
fn reopen_window_boundaries() {
    let resolved_at = now();
    assert!(within_reopen_window(resolved_at, resolved_at + Duration::days(14), 14));
    assert!(!within_reopen_window(resolved_at, resolved_at + Duration::days(14) + Duration::seconds(1), 14));
}
