//! Indexes for every documented ticket list filter with every sort, so that a page is an
//! index range read in order (no sort of all matching rows) at a million tickets.
//!
//! - `GET /tickets`: `status`, `priority` and `category_id` each with `newest`, `votes` and
//!   `queue` (`(filter, id)`, `(filter, vote_count, id)`, `(filter, queue_key, id)`; some
//!   existed). `mine` and `voted` read the caller's own rows through `tickets_creator_idx`
//!   and `votes_user_idx`, and `tag` through `ticket_tags_tag_idx`.
//! - The staff queue (unresolved tickets in queue order, optionally by priority, category or
//!   assignee): partial indexes over unresolved tickets only, which stay small however many
//!   resolved tickets pile up. The store writes the queue's status condition exactly as
//!   these indexes do, so both databases can match them. On SQLite the condition is
//!   `+status IN (…)`: the unary `+` keeps SQLite from answering the queue through the
//!   `(status, …)` indexes (two lookups and a sort of every unresolved ticket), which it
//!   prefers when it has no statistics yet.

use sea_orm_migration::{prelude::*, sea_orm::DbBackend};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// `(name, definition)`; the same SQL on SQLite and PostgreSQL, except that `{unresolved}`
/// is the condition of [`unresolved`].
const INDEXES: &[(&str, &str)] = &[
    ("tickets_status_votes_idx", "tickets (status, vote_count, id)"),
    ("tickets_status_queue_idx", "tickets (status, queue_key, id)"),
    ("tickets_priority_idx", "tickets (priority, id)"),
    ("tickets_priority_votes_idx", "tickets (priority, vote_count, id)"),
    ("tickets_priority_queue_idx", "tickets (priority, queue_key, id)"),
    ("tickets_category_votes_idx", "tickets (category_id, vote_count, id)"),
    ("tickets_category_queue_idx", "tickets (category_id, queue_key, id)"),
    ("tickets_unresolved_queue_idx", "tickets (queue_key, id) WHERE {unresolved}"),
    ("tickets_unresolved_assignee_idx", "tickets (assignee_id, queue_key, id) WHERE {unresolved}"),
    ("tickets_unresolved_priority_idx", "tickets (priority, queue_key, id) WHERE {unresolved}"),
    ("tickets_unresolved_category_idx", "tickets (category_id, queue_key, id) WHERE {unresolved}"),
];

/// The partial indexes' condition, as the store writes it for each database.
fn unresolved(backend: DbBackend) -> &'static str {
    match backend {
        DbBackend::Sqlite => "+status IN ('open', 'in_progress')",
        DbBackend::Postgres | DbBackend::MySql => "status IN ('open', 'in_progress')",
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        let unresolved = unresolved(manager.get_database_backend());
        for (name, definition) in INDEXES {
            let definition = definition.replace("{unresolved}", unresolved);
            db.execute_unprepared(&format!("CREATE INDEX {name} ON {definition}")).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        for (name, _) in INDEXES.iter().rev() {
            db.execute_unprepared(&format!("DROP INDEX {name}")).await?;
        }
        Ok(())
    }
}
