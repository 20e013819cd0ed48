//! Similar tickets: a full-text index over ticket titles and descriptions, kept in sync by
//! the database itself, and stored ticket embeddings, dropped when the text they were
//! computed from changes.
//!
//! SQLite: an FTS5 table over `tickets` (external content, porter stemming, diacritics
//! folded) maintained by triggers. PostgreSQL: a generated `tsvector` column (title weighted
//! `A`, description `B`) with a GIN index; being generated, it cannot fall out of sync.

use sea_orm_migration::{prelude::*, schema::*, sea_orm::DbBackend};

#[derive(DeriveMigrationName)]
pub struct Migration;

const SQLITE_UP: &[&str] = &[
    "CREATE VIRTUAL TABLE ticket_fts USING fts5(title, description, content='tickets', content_rowid='id', \
     tokenize='porter unicode61 remove_diacritics 2')",
    "INSERT INTO ticket_fts(ticket_fts) VALUES ('rebuild')",
    "CREATE TRIGGER tickets_fts_insert AFTER INSERT ON tickets BEGIN \
       INSERT INTO ticket_fts(rowid, title, description) VALUES (new.id, new.title, new.description); \
     END",
    "CREATE TRIGGER tickets_fts_delete AFTER DELETE ON tickets BEGIN \
       INSERT INTO ticket_fts(ticket_fts, rowid, title, description) VALUES ('delete', old.id, old.title, old.description); \
     END",
    "CREATE TRIGGER tickets_fts_update AFTER UPDATE OF title, description ON tickets \
     WHEN old.title IS NOT new.title OR old.description IS NOT new.description BEGIN \
       INSERT INTO ticket_fts(ticket_fts, rowid, title, description) VALUES ('delete', old.id, old.title, old.description); \
       INSERT INTO ticket_fts(rowid, title, description) VALUES (new.id, new.title, new.description); \
     END",
    "CREATE TRIGGER tickets_embedding_stale AFTER UPDATE OF title, description ON tickets \
     WHEN old.title IS NOT new.title OR old.description IS NOT new.description BEGIN \
       DELETE FROM ticket_embeddings WHERE ticket_id = new.id; \
     END",
];

const SQLITE_DOWN: &[&str] = &[
    "DROP TRIGGER IF EXISTS tickets_embedding_stale",
    "DROP TRIGGER IF EXISTS tickets_fts_update",
    "DROP TRIGGER IF EXISTS tickets_fts_delete",
    "DROP TRIGGER IF EXISTS tickets_fts_insert",
    "DROP TABLE IF EXISTS ticket_fts",
];

const POSTGRES_UP: &[&str] = &[
    "ALTER TABLE tickets ADD COLUMN search tsvector GENERATED ALWAYS AS \
     (setweight(to_tsvector('english', title), 'A') || setweight(to_tsvector('english', description), 'B')) STORED",
    "CREATE INDEX tickets_search_idx ON tickets USING GIN (search)",
    "CREATE FUNCTION ticket_embedding_stale() RETURNS trigger LANGUAGE plpgsql AS $$ \
     BEGIN DELETE FROM ticket_embeddings WHERE ticket_id = NEW.id; RETURN NEW; END $$",
    "CREATE TRIGGER tickets_embedding_stale AFTER UPDATE OF title, description ON tickets FOR EACH ROW \
     WHEN (OLD.title IS DISTINCT FROM NEW.title OR OLD.description IS DISTINCT FROM NEW.description) \
     EXECUTE FUNCTION ticket_embedding_stale()",
];

const POSTGRES_DOWN: &[&str] = &[
    "DROP TRIGGER IF EXISTS tickets_embedding_stale ON tickets",
    "DROP FUNCTION IF EXISTS ticket_embedding_stale()",
    "DROP INDEX IF EXISTS tickets_search_idx",
    "ALTER TABLE tickets DROP COLUMN IF EXISTS search",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(TicketEmbeddings::Table)
                    .col(integer(TicketEmbeddings::TicketId).primary_key())
                    .col(string_len(TicketEmbeddings::Model, 64))
                    // Little-endian f32s of a unit vector.
                    .col(blob(TicketEmbeddings::Vector))
                    .col(timestamp_with_time_zone(TicketEmbeddings::EmbeddedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("ticket_embeddings_ticket_fk")
                            .from(TicketEmbeddings::Table, TicketEmbeddings::TicketId)
                            .to(Tickets::Table, Tickets::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        let statements = match manager.get_database_backend() {
            DbBackend::Sqlite => SQLITE_UP,
            DbBackend::Postgres | DbBackend::MySql => POSTGRES_UP,
        };
        for sql in statements {
            manager.get_connection().execute_unprepared(sql).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let statements = match manager.get_database_backend() {
            DbBackend::Sqlite => SQLITE_DOWN,
            DbBackend::Postgres | DbBackend::MySql => POSTGRES_DOWN,
        };
        for sql in statements {
            manager.get_connection().execute_unprepared(sql).await?;
        }
        manager.drop_table(Table::drop().table(TicketEmbeddings::Table).to_owned()).await
    }
}

#[derive(DeriveIden)]
enum TicketEmbeddings {
    Table,
    TicketId,
    Model,
    Vector,
    EmbeddedAt,
}

#[derive(DeriveIden)]
enum Tickets {
    Table,
    Id,
}
