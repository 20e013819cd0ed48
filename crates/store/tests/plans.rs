//! Query plans of the ticket lists on SQLite and PostgreSQL: every documented filter with
//! every sort (first page and a later page) reads the tickets through an index, and where
//! one filter meets one sort the index also gives the order, so no page sorts all matching
//! tickets. PostgreSQL plans with sequential scans and sorts disabled (see
//! `Store::explain_list`), which is how a large table would be planned.

#[macro_use]
mod support;

use domain::accounts::*;
use domain::tickets::*;
use store::{Backend, Store};
use support::*;

store_tests!(every_list_filter_and_sort_uses_an_index, statistics_are_refreshed_by_osts);

/// A filter as the API or the staff queue sets it.
#[derive(Debug, Clone, Copy)]
enum Filter {
    None,
    Status,
    Priority,
    Category,
    Tag,
    Mine,
    Voted,
    Queue,
    QueueMine,
    QueueUnassigned,
    QueuePriority,
    QueueCategory,
}

impl Filter {
    /// Whether one index serves both the filter and the order. `mine`, `voted` and `tag`
    /// read the caller's (or the tag's) rows through an index and sort those few.
    fn ordered_by_index(self) -> bool {
        !matches!(self, Self::Tag | Self::Mine | Self::Voted)
    }

    fn sorts(self) -> &'static [TicketSort] {
        match self {
            Self::Queue | Self::QueueMine | Self::QueueUnassigned | Self::QueuePriority | Self::QueueCategory => {
                &[TicketSort::Queue]
            }
            _ => &[TicketSort::Newest, TicketSort::MostVotes, TicketSort::Queue],
        }
    }

    fn apply(self, mut q: TicketQuery, staff: &Account, category: domain::categories::CategoryId) -> TicketQuery {
        let queue = |mut q: TicketQuery| {
            q.unresolved = true;
            q
        };
        match self {
            Self::None => {}
            Self::Status => q.status = Some(Status::Open),
            Self::Priority => q.priority = Some(Priority::High),
            Self::Category => q.category_id = Some(category),
            Self::Tag => q.tag = Some(Tag::parse("exam").unwrap()),
            Self::Mine => q.mine = true,
            Self::Voted => q.voted_by_me = true,
            Self::Queue => q = queue(q),
            Self::QueueMine => {
                q = queue(q);
                q.assignee = AssigneeFilter::User(staff.id);
            }
            Self::QueueUnassigned => {
                q = queue(q);
                q.assignee = AssigneeFilter::Unassigned;
            }
            Self::QueuePriority => {
                q = queue(q);
                q.priority = Some(Priority::High);
            }
            Self::QueueCategory => {
                q = queue(q);
                q.category_id = Some(category);
            }
        }
        q
    }
}

const FILTERS: [Filter; 12] = [
    Filter::None,
    Filter::Status,
    Filter::Priority,
    Filter::Category,
    Filter::Tag,
    Filter::Mine,
    Filter::Voted,
    Filter::Queue,
    Filter::QueueMine,
    Filter::QueueUnassigned,
    Filter::QueuePriority,
    Filter::QueueCategory,
];

/// A cursor as a first page would return it (the same for every order).
fn later_page(_sort: TicketSort) -> String {
    TicketPosition { id: 1000, votes: 3, queue_key: 12.5 }.encode()
}

/// What is wrong with a plan, if anything.
fn problems(backend: Backend, plan: &[String], filter: Filter, sort: TicketSort, page: bool) -> Vec<String> {
    let mut found = Vec::new();
    match backend {
        Backend::Sqlite => {
            // `SCAN tickets` alone reads the whole table; the newest tickets without a filter
            // are that table read backwards by its primary key, which is the index.
            let whole_table_ok = matches!(filter, Filter::None) && sort == TicketSort::Newest && !page;
            if plan.iter().any(|l| l.trim() == "SCAN tickets") && !whole_table_ok {
                found.push("reads the whole tickets table".to_owned());
            }
            if filter.ordered_by_index() && plan.iter().any(|l| l.contains("TEMP B-TREE FOR ORDER BY")) {
                found.push("sorts the matching tickets instead of reading them in index order".to_owned());
            }
        }
        Backend::Postgres => {
            if plan.iter().any(|l| l.contains("Seq Scan on tickets")) {
                found.push("reads the whole tickets table".to_owned());
            }
            if filter.ordered_by_index() && plan.iter().any(|l| l.contains("Sort")) {
                found.push("sorts the matching tickets instead of reading them in index order".to_owned());
            }
        }
    }
    found
}

async fn every_list_filter_and_sort_uses_an_index(store: Store) {
    let student = account(&store, "ada@uni.edu", Role::Student, AccountStatus::Active).await;
    let staff = account(&store, "sam@uni.edu", Role::Support, AccountStatus::Active).await;
    let category = category(&store, "Exams").await;
    for day in 1..4 {
        ticket(&store, &student, &category, "Exam results missing", Priority::High, day).await;
    }
    let mut failures = Vec::new();
    let mut checked = 0;
    for filter in FILTERS {
        for &sort in filter.sorts() {
            for page in [false, true] {
                let mut q = filter.apply(query(&student), &staff, category.id);
                q.sort = sort;
                q.limit = domain::page::PageLimit::new(Some(25)).unwrap();
                q.cursor = page.then(|| later_page(sort));
                let plan = store.explain_list(q).await.unwrap();
                assert!(!plan.is_empty(), "{filter:?} {sort:?}: an empty plan");
                let wrong = problems(store.backend(), &plan, filter, sort, page);
                if !wrong.is_empty() {
                    failures
                        .push(format!("{filter:?}, {sort:?}, later page {page}: {wrong:?}\n  {}", plan.join("\n  ")));
                }
                checked += 1;
            }
        }
    }
    assert_eq!(checked, 2 * (7 * 3 + 5));
    assert!(failures.is_empty(), "{} plans without an index:\n{}", failures.len(), failures.join("\n"));
}

async fn statistics_are_refreshed_by_osts(store: Store) {
    let student = account(&store, "ada@uni.edu", Role::Student, AccountStatus::Active).await;
    let category = category(&store, "Exams").await;
    let batch: Vec<NewTicket> = (0..200)
        .map(|i| NewTicket {
            title: Title::parse(&format!("Imported ticket {i}")).unwrap(),
            description: Description::parse("Imported in bulk.").unwrap(),
            category_id: category.id,
            tags: Tags::default(),
            priority: Priority::Medium,
            creator_id: student.id,
            created_at: t(1),
            follow_up_of: None,
            sla_due: None,
            escalation: None,
        })
        .collect();
    // The import refreshes the statistics itself.
    store.import_tickets(batch).await.unwrap();
    match store.backend() {
        Backend::Sqlite => {
            let rows = store
                .count_raw(
                    "SELECT COUNT(*) AS n FROM sqlite_stat1 WHERE tbl = 'tickets' AND idx = 'tickets_status_votes_idx'",
                )
                .await
                .unwrap();
            assert_eq!(rows, 1, "PRAGMA optimize analysed the tickets table");
        }
        Backend::Postgres => {
            let analysed = store
                .count_raw(
                    "SELECT COUNT(*) AS n FROM pg_stat_user_tables \
                     WHERE relname = 'tickets' AND n_mod_since_analyze < 200 \
                     AND (last_analyze IS NOT NULL OR last_autoanalyze IS NOT NULL)",
                )
                .await
                .unwrap();
            assert_eq!(analysed, 1, "the tickets table was analysed after the import");
        }
    }
}
