//! Fresh databases for store tests, the macro that runs a test body on both backends, and
//! builders for test data.

#![allow(dead_code)]

use chrono::{TimeZone, Utc};
use domain::accounts::*;
use domain::categories::*;
use domain::page::PageLimit;
use domain::tickets::*;
use store::Store;

/// Runs each named `async fn(Store)` on a fresh SQLite file and on a fresh PostgreSQL database.
macro_rules! store_tests {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let db = super::TestDb::sqlite().await;
                    super::$name(db.store.clone()).await;
                    db.finish().await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let Some(db) = super::TestDb::postgres().await else { return };
                    super::$name(db.store.clone()).await;
                    db.finish().await;
                }
            )*
        }
    };
}

/// A store on a database made for one test.
pub struct TestDb {
    pub store: Store,
    cleanup: Cleanup,
}

enum Cleanup {
    File(std::path::PathBuf),
    Postgres { admin_url: String, name: String },
}

impl TestDb {
    /// A fresh SQLite file (WAL, a real pool) in the temp directory.
    pub async fn sqlite() -> Self {
        let path = std::env::temp_dir().join(format!("osts-test-{}.db", uuid::Uuid::new_v4().simple()));
        let store = Store::connect(&format!("sqlite://{}?mode=rwc", path.display())).await.expect("sqlite store");
        Self { store, cleanup: Cleanup::File(path) }
    }

    /// A fresh PostgreSQL database, when `OSTS_TEST_POSTGRES_URL` names a server (CI always
    /// sets it; a set URL that cannot be reached fails the test).
    pub async fn postgres() -> Option<Self> {
        let Ok(admin_url) = std::env::var("OSTS_TEST_POSTGRES_URL") else {
            eprintln!("OSTS_TEST_POSTGRES_URL not set: PostgreSQL variant not run");
            return None;
        };
        let name = format!("osts_test_{}", uuid::Uuid::new_v4().simple());
        let admin = Store::connect_with(
            &admin_url,
            store::StoreOptions { migrate: false, max_connections: 1, ..Default::default() },
        )
        .await
        .expect("PostgreSQL from OSTS_TEST_POSTGRES_URL must be reachable");
        admin.execute_raw(&format!("CREATE DATABASE {name}")).await.expect("create test database");
        admin.close().await.expect("close admin connection");
        let url = database_url(&admin_url, &name);
        let store = Store::connect_with(&url, store::StoreOptions { max_connections: 8, ..Default::default() })
            .await
            .expect("connect to the test database");
        Some(Self { store, cleanup: Cleanup::Postgres { admin_url, name } })
    }

    /// Closes the store and removes its database.
    pub async fn finish(self) {
        self.store.close().await.expect("close store");
        match self.cleanup {
            Cleanup::File(path) => {
                for suffix in ["", "-wal", "-shm"] {
                    let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
                }
            }
            Cleanup::Postgres { admin_url, name } => {
                let admin = Store::connect_with(
                    &admin_url,
                    store::StoreOptions { migrate: false, max_connections: 1, ..Default::default() },
                )
                .await
                .expect("reconnect for cleanup");
                admin
                    .execute_raw(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .await
                    .expect("drop test database");
                admin.close().await.expect("close admin connection");
            }
        }
    }
}

/// `postgres://u@h:p/db?x` with the database swapped for `name`.
fn database_url(admin_url: &str, name: &str) -> String {
    let (base, query) = admin_url.split_once('?').map_or((admin_url, None), |(b, q)| (b, Some(q)));
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let host_part = match base[scheme_end..].find('/') {
        Some(i) => &base[..scheme_end + i],
        None => base,
    };
    match query {
        Some(q) => format!("{host_part}/{name}?{q}"),
        None => format!("{host_part}/{name}"),
    }
}

pub fn t(day: u32) -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 9, day, 9, 0, 0).unwrap()
}

pub async fn account(store: &Store, email: &str, role: Role, status: AccountStatus) -> Account {
    store
        .accounts()
        .insert(NewAccount {
            email: Email::parse(email).unwrap(),
            display_name: DisplayName::parse(email.split('@').next().unwrap()).unwrap(),
            role,
            status,
            email_confirmed_at: None,
            password_hash: PasswordHash::new("$argon2id$v=19$test".into()),
            created_at: t(1),
        })
        .await
        .unwrap()
}

pub async fn category(store: &Store, name: &str) -> Category {
    store
        .categories()
        .insert(NewCategory { name: CategoryName::parse(name).unwrap(), description: String::new(), position: 0 })
        .await
        .unwrap()
}

pub async fn ticket(
    store: &Store,
    creator: &Account,
    cat: &Category,
    title: &str,
    priority: Priority,
    day: u32,
) -> Ticket {
    store
        .tickets()
        .create(NewTicket {
            title: Title::parse(title).unwrap(),
            description: Description::parse("Some details about the concern.").unwrap(),
            category_id: cat.id,
            tags: Tags::parse(&["exams"]).unwrap(),
            priority,
            creator_id: creator.id,
            created_at: t(day),
            follow_up_of: None,
            sla_due: None,
            escalation: None,
        })
        .await
        .unwrap()
}

pub fn query(viewer: &Account) -> TicketQuery {
    TicketQuery {
        viewer: viewer.id,
        status: None,
        priority: None,
        category_id: None,
        tag: None,
        mine: false,
        voted_by_me: false,
        unresolved: false,
        assignee: AssigneeFilter::Anyone,
        sla: None,
        text: None,
        sort: TicketSort::Newest,
        limit: PageLimit::new(Some(100)).unwrap(),
        cursor: None,
    }
}
