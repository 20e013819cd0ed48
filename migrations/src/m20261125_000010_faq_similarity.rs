//! Published FAQ entries among similar-ticket suggestions: a full-text index over entries'
//! questions, other wordings and answers, kept in sync by the database itself, and stored
//! entry embeddings, dropped when the question or its wordings change.
//!
//! SQLite: an FTS5 table over `faq_entries` (external content, porter stemming, diacritics
//! folded, as `ticket_fts`) maintained by triggers. PostgreSQL: a generated `tsvector` column
//! (question and wordings weighted `A`, answer `B`) with a GIN index.
//!
//! Also an index on `tickets.updated_at`: the in-memory lexical index of each server catches
//! up with "tickets changed since" every few seconds.

use sea_orm_migration::{prelude::*, schema::*, sea_orm::DbBackend};

#[derive(DeriveMigrationName)]
pub struct Migration;

const SQLITE_UP: &[&str] = &[
    "CREATE VIRTUAL TABLE faq_fts USING fts5(question, also_asked, answer, content='faq_entries', \
     content_rowid='id', tokenize='porter unicode61 remove_diacritics 2')",
    "INSERT INTO faq_fts(faq_fts) VALUES ('rebuild')",
    "CREATE TRIGGER faq_fts_insert AFTER INSERT ON faq_entries BEGIN \
       INSERT INTO faq_fts(rowid, question, also_asked, answer) VALUES (new.id, new.question, new.also_asked, new.answer); \
     END",
    "CREATE TRIGGER faq_fts_delete AFTER DELETE ON faq_entries BEGIN \
       INSERT INTO faq_fts(faq_fts, rowid, question, also_asked, answer) \
       VALUES ('delete', old.id, old.question, old.also_asked, old.answer); \
     END",
    "CREATE TRIGGER faq_fts_update AFTER UPDATE OF question, also_asked, answer ON faq_entries \
     WHEN old.question IS NOT new.question OR old.also_asked IS NOT new.also_asked OR old.answer IS NOT new.answer \
     BEGIN \
       INSERT INTO faq_fts(faq_fts, rowid, question, also_asked, answer) \
       VALUES ('delete', old.id, old.question, old.also_asked, old.answer); \
       INSERT INTO faq_fts(rowid, question, also_asked, answer) VALUES (new.id, new.question, new.also_asked, new.answer); \
     END",
    "CREATE TRIGGER faq_embedding_stale AFTER UPDATE OF question, also_asked ON faq_entries \
     WHEN old.question IS NOT new.question OR old.also_asked IS NOT new.also_asked BEGIN \
       DELETE FROM faq_embeddings WHERE entry_id = new.id; \
     END",
];

const SQLITE_DOWN: &[&str] = &[
    "DROP TRIGGER IF EXISTS faq_embedding_stale",
    "DROP TRIGGER IF EXISTS faq_fts_update",
    "DROP TRIGGER IF EXISTS faq_fts_delete",
    "DROP TRIGGER IF EXISTS faq_fts_insert",
    "DROP TABLE IF EXISTS faq_fts",
];

const POSTGRES_UP: &[&str] = &[
    "ALTER TABLE faq_entries ADD COLUMN search tsvector GENERATED ALWAYS AS \
     (setweight(to_tsvector('english', question), 'A') || setweight(to_tsvector('english', also_asked), 'A') \
      || setweight(to_tsvector('english', answer), 'B')) STORED",
    "CREATE INDEX faq_entries_search_idx ON faq_entries USING GIN (search)",
    "CREATE FUNCTION faq_embedding_stale() RETURNS trigger LANGUAGE plpgsql AS $$ \
     BEGIN DELETE FROM faq_embeddings WHERE entry_id = NEW.id; RETURN NEW; END $$",
    "CREATE TRIGGER faq_embedding_stale AFTER UPDATE OF question, also_asked ON faq_entries FOR EACH ROW \
     WHEN (OLD.question IS DISTINCT FROM NEW.question OR OLD.also_asked IS DISTINCT FROM NEW.also_asked) \
     EXECUTE FUNCTION faq_embedding_stale()",
];

const POSTGRES_DOWN: &[&str] = &[
    "DROP TRIGGER IF EXISTS faq_embedding_stale ON faq_entries",
    "DROP FUNCTION IF EXISTS faq_embedding_stale()",
    "DROP INDEX IF EXISTS faq_entries_search_idx",
    "ALTER TABLE faq_entries DROP COLUMN IF EXISTS search",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(FaqEmbeddings::Table)
                    .col(integer(FaqEmbeddings::EntryId).primary_key())
                    .col(string_len(FaqEmbeddings::Model, 64))
                    // Little-endian f32s of a unit vector.
                    .col(blob(FaqEmbeddings::Vector))
                    .col(timestamp_with_time_zone(FaqEmbeddings::EmbeddedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("faq_embeddings_entry_fk")
                            .from(FaqEmbeddings::Table, FaqEmbeddings::EntryId)
                            .to(FaqEntries::Table, FaqEntries::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create().name("tickets_updated_at_idx").table(Tickets::Table).col(Tickets::UpdatedAt).to_owned(),
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
        manager.drop_index(Index::drop().name("tickets_updated_at_idx").table(Tickets::Table).to_owned()).await?;
        manager.drop_table(Table::drop().table(FaqEmbeddings::Table).to_owned()).await
    }
}

#[derive(DeriveIden)]
enum FaqEmbeddings {
    Table,
    EntryId,
    Model,
    Vector,
    EmbeddedAt,
}

#[derive(DeriveIden)]
enum FaqEntries {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Tickets {
    Table,
    UpdatedAt,
}
