//! Similar tickets: full-text search (SQLite FTS5 `bm25()`, PostgreSQL `ts_rank` over a GIN
//! index) over tickets and published FAQ entries, and their stored embeddings.

use async_trait::async_trait;
use chrono::DateTime;
use chrono::Utc;
use domain::accounts::UserId;
use domain::categories::CategoryId;
use domain::faq::{FaqEntryId, FaqState};
use domain::similarity::*;
use domain::tickets::{Status, TicketId, TicketView};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Statement, Value,
};

use crate::entity::{faq_entries, tickets};
use crate::tickets::views;
use crate::{id32, Backend, Store};

/// Title matches count this many times a description match in SQLite's `bm25()`
/// (PostgreSQL's `ts_rank` weighs `A` (title) 1.0 against `B` (description) 0.4).
const TITLE_WEIGHT: f64 = 4.0;

/// An FAQ entry's question and other wordings weigh like a ticket's title, its answer like a
/// description, so that entry and ticket scores can be merged.
const QUESTION_WEIGHT: f64 = TITLE_WEIGHT;

impl Store {
    /// A statement with `$n` placeholders, rewritten to `?n` for SQLite.
    fn statement(&self, sql: &str, values: Vec<Value>) -> Statement {
        match self.backend() {
            Backend::Postgres => Statement::from_sql_and_values(DbBackend::Postgres, sql, values),
            Backend::Sqlite => Statement::from_sql_and_values(DbBackend::Sqlite, sql.replace('$', "?"), values),
        }
    }
}

/// The FTS5 query: each term a quoted string (so no term is ever syntax), ORed; the last
/// one a prefix while it is being typed.
fn fts5_query(query: &LexicalQuery) -> String {
    let n = query.terms().len();
    query
        .terms()
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let star = if query.last_is_prefix() && i + 1 == n { "*" } else { "" };
            format!("\"{}\"{star}", t.as_str())
        })
        .collect::<Vec<_>>()
        .join(" OR ")
}

/// The `to_tsquery` text: each term a quoted lexeme, ORed; the last one a prefix while it is
/// being typed.
fn tsquery(query: &LexicalQuery) -> String {
    let n = query.terms().len();
    query
        .terms()
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let star = if query.last_is_prefix() && i + 1 == n { ":*" } else { "" };
            format!("'{}'{star}", t.as_str())
        })
        .collect::<Vec<_>>()
        .join(" | ")
}

fn status_placeholders(first: usize, statuses: &[Status]) -> (String, Vec<Value>) {
    let marks: Vec<String> = (0..statuses.len()).map(|i| format!("${}", first + i)).collect();
    (marks.join(", "), statuses.iter().map(|s| Value::from(s.as_str())).collect())
}

fn to_bytes(e: &Embedding) -> Vec<u8> {
    e.as_slice().iter().flat_map(|v| v.to_le_bytes()).collect()
}

fn from_bytes(ticket: i32, bytes: &[u8]) -> anyhow::Result<Embedding> {
    anyhow::ensure!(bytes.len().is_multiple_of(4), "stored embedding of ticket {ticket} has {} bytes", bytes.len());
    let values = bytes.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
    Embedding::normalised(values).ok_or_else(|| anyhow::anyhow!("stored embedding of ticket {ticket} is degenerate"))
}

#[async_trait]
impl SimilarityIndex for Store {
    async fn lexical(&self, query: &LexicalQuery, statuses: &[Status], limit: u32) -> anyhow::Result<Vec<LexicalHit>> {
        if query.is_empty() || statuses.is_empty() || limit == 0 {
            return Ok(vec![]);
        }
        let (marks, mut values) = status_placeholders(3, statuses);
        let sql = match self.backend() {
            Backend::Sqlite => format!(
                "SELECT ticket_fts.rowid AS id, -bm25(ticket_fts, {TITLE_WEIGHT:.1}, 1.0) AS score \
                 FROM ticket_fts JOIN tickets ON tickets.id = ticket_fts.rowid \
                 WHERE ticket_fts MATCH $1 AND tickets.status IN ({marks}) \
                 ORDER BY score DESC, id DESC LIMIT $2"
            ),
            Backend::Postgres => format!(
                "SELECT id, ts_rank(search, q)::float8 AS score \
                 FROM tickets, to_tsquery('english', $1) AS q \
                 WHERE search @@ q AND status IN ({marks}) \
                 ORDER BY score DESC, id DESC LIMIT $2"
            ),
        };
        let text = match self.backend() {
            Backend::Sqlite => fts5_query(query),
            Backend::Postgres => tsquery(query),
        };
        let mut all = vec![Value::from(text), Value::from(i64::from(limit))];
        all.append(&mut values);
        let rows = self.db.query_all(self.statement(&sql, all)).await?;
        rows.into_iter()
            .map(|row| {
                let id: i32 = row.try_get("", "id")?;
                let score: f64 = row.try_get("", "score")?;
                Ok(LexicalHit { ticket: TicketId::new(id.into()), score })
            })
            .collect()
    }

    async fn views(&self, ids: &[TicketId], viewer: Option<UserId>) -> anyhow::Result<Vec<TicketView>> {
        let ids: Vec<i32> = ids.iter().filter_map(|id| id32(id.get())).collect();
        if ids.is_empty() {
            return Ok(vec![]);
        }
        let rows = tickets::Entity::find().filter(tickets::Column::Id.is_in(ids)).all(&self.db).await?;
        views(&self.db, rows, viewer.and_then(|v| id32(v.get()))).await
    }

    async fn lexical_faq(&self, query: &LexicalQuery, limit: u32) -> anyhow::Result<Vec<FaqLexicalHit>> {
        if query.is_empty() || limit == 0 {
            return Ok(vec![]);
        }
        let (sql, text) = match self.backend() {
            Backend::Sqlite => (
                format!(
                    "SELECT faq_fts.rowid AS id, -bm25(faq_fts, {QUESTION_WEIGHT:.1}, {QUESTION_WEIGHT:.1}, 1.0) AS score \
                     FROM faq_fts JOIN faq_entries ON faq_entries.id = faq_fts.rowid \
                     WHERE faq_fts MATCH $1 AND faq_entries.state = $3 \
                     ORDER BY score DESC, id DESC LIMIT $2"
                ),
                fts5_query(query),
            ),
            Backend::Postgres => (
                "SELECT id, ts_rank(search, q)::float8 AS score \
                 FROM faq_entries, to_tsquery('english', $1) AS q \
                 WHERE search @@ q AND state = $3 \
                 ORDER BY score DESC, id DESC LIMIT $2"
                    .to_owned(),
                tsquery(query),
            ),
        };
        let values = vec![Value::from(text), Value::from(i64::from(limit)), Value::from(FaqState::Published.as_str())];
        let rows = self.db.query_all(self.statement(&sql, values)).await?;
        rows.into_iter()
            .map(|row| {
                let id: i32 = row.try_get("", "id")?;
                let score: f64 = row.try_get("", "score")?;
                Ok(FaqLexicalHit { entry: FaqEntryId::new(id.into()), score })
            })
            .collect()
    }

    async fn faq_views(&self, ids: &[FaqEntryId]) -> anyhow::Result<Vec<FaqView>> {
        let ids: Vec<i32> = ids.iter().filter_map(|id| id32(id.get())).collect();
        if ids.is_empty() {
            return Ok(vec![]);
        }
        let rows = faq_entries::Entity::find()
            .filter(faq_entries::Column::Id.is_in(ids))
            .filter(faq_entries::Column::State.eq(FaqState::Published.as_str()))
            .all(&self.db)
            .await?;
        Ok(rows
            .into_iter()
            .map(|m| FaqView {
                id: FaqEntryId::new(m.id.into()),
                question: m.question,
                also_asked: m.also_asked,
                answer: m.answer,
                category_id: CategoryId::new(m.category_id.into()),
            })
            .collect())
    }

    async fn ticket_texts(
        &self,
        after: Option<TicketId>,
        changed_since: Option<DateTime<Utc>>,
        limit: u32,
    ) -> anyhow::Result<Vec<LexicalDoc>> {
        let after = after.map_or(0, |t| id32(t.get()).unwrap_or(i32::MAX));
        let mut q = tickets::Entity::find()
            .select_only()
            .column(tickets::Column::Id)
            .column(tickets::Column::Title)
            .column(tickets::Column::Description)
            .filter(tickets::Column::Id.gt(after));
        if let Some(since) = changed_since {
            q = q.filter(tickets::Column::UpdatedAt.gte(since));
        }
        let rows: Vec<(i32, String, String)> =
            q.order_by_asc(tickets::Column::Id).limit(u64::from(limit)).into_tuple().all(&self.db).await?;
        Ok(rows
            .into_iter()
            .map(|(id, title, body)| LexicalDoc { key: DocKey::Ticket(TicketId::new(id.into())), title, body })
            .collect())
    }

    async fn published_faq_texts(&self) -> anyhow::Result<Vec<LexicalDoc>> {
        let rows: Vec<(i32, String, String, String)> = faq_entries::Entity::find()
            .select_only()
            .column(faq_entries::Column::Id)
            .column(faq_entries::Column::Question)
            .column(faq_entries::Column::AlsoAsked)
            .column(faq_entries::Column::Answer)
            .filter(faq_entries::Column::State.eq(FaqState::Published.as_str()))
            .order_by_asc(faq_entries::Column::Id)
            .into_tuple()
            .all(&self.db)
            .await?;
        Ok(rows
            .into_iter()
            .map(|(id, question, also_asked, answer)| LexicalDoc {
                key: DocKey::Faq(FaqEntryId::new(id.into())),
                title: format!("{question}\n{also_asked}"),
                body: answer,
            })
            .collect())
    }
}

impl Store {
    /// Runs `sql` (`$1` model, `$2` vector, `$3` time, `$4` id, `$5`/`$6` the embedded text)
    /// once per row in one transaction; returns the ids it stored a vector for.
    async fn save_vectors(
        &self,
        sql: &str,
        model: &str,
        rows: impl Iterator<Item = (i32, [Value; 2], Embedding)>,
    ) -> anyhow::Result<Vec<i32>> {
        let now = Utc::now();
        let tx = self.write().await?;
        let mut saved = Vec::new();
        for (id, [a, b], embedding) in rows {
            let values = vec![model.into(), to_bytes(&embedding).into(), now.into(), id.into(), a, b];
            if tx.execute(self.statement(sql, values)).await?.rows_affected() > 0 {
                saved.push(id);
            }
        }
        tx.commit().await?;
        Ok(saved)
    }

    /// A page of the stored vectors of `model` in `table`, by `key` after `after`, only
    /// those stored at or after `since` when given.
    async fn load_vectors(
        &self,
        table: &str,
        key: &str,
        model: &str,
        after: i32,
        since: Option<DateTime<Utc>>,
        limit: u32,
    ) -> anyhow::Result<Vec<(i32, Embedding)>> {
        let sql = format!(
            "SELECT {key} AS id, vector FROM {table} WHERE model = $1 AND {key} > $2 \
             AND ($3 IS NULL OR embedded_at >= $3) ORDER BY {key} LIMIT $4"
        );
        let values = vec![model.into(), after.into(), since.into(), i64::from(limit).into()];
        let rows = self.db.query_all(self.statement(&sql, values)).await?;
        rows.into_iter()
            .map(|row| {
                let id: i32 = row.try_get("", "id")?;
                let bytes: Vec<u8> = row.try_get("", "vector")?;
                Ok((id, from_bytes(id, &bytes)?))
            })
            .collect()
    }
}

#[async_trait]
impl EmbeddingRepository for Store {
    async fn pending(&self, model: &str, limit: u32) -> anyhow::Result<Vec<EmbeddingJob>> {
        let sql = "SELECT t.id AS id, t.title AS title, t.description AS description FROM tickets t \
                   LEFT JOIN ticket_embeddings e ON e.ticket_id = t.id AND e.model = $1 \
                   WHERE e.ticket_id IS NULL ORDER BY t.id LIMIT $2";
        let rows = self.db.query_all(self.statement(sql, vec![model.into(), i64::from(limit).into()])).await?;
        rows.into_iter()
            .map(|row| {
                let id: i32 = row.try_get("", "id")?;
                Ok(EmbeddingJob {
                    ticket: TicketId::new(id.into()),
                    title: row.try_get("", "title")?,
                    description: row.try_get("", "description")?,
                })
            })
            .collect()
    }

    async fn save(&self, model: &str, items: Vec<(EmbeddingJob, Embedding)>) -> anyhow::Result<Vec<TicketId>> {
        // Inserting from the ticket row itself, and only while its text is what was
        // embedded, makes a concurrent edit win: its trigger already removed the old vector,
        // and this insert finds no matching row.
        let sql = "INSERT INTO ticket_embeddings (ticket_id, model, vector, embedded_at) \
                   SELECT id, $1, $2, $3 FROM tickets WHERE id = $4 AND title = $5 AND description = $6 \
                   ON CONFLICT (ticket_id) DO UPDATE SET model = excluded.model, vector = excluded.vector, \
                   embedded_at = excluded.embedded_at";
        let rows = items
            .into_iter()
            .filter_map(|(job, e)| Some((id32(job.ticket.get())?, [job.title.into(), job.description.into()], e)));
        Ok(self.save_vectors(sql, model, rows).await?.into_iter().map(|id| TicketId::new(id.into())).collect())
    }

    async fn load(
        &self,
        model: &str,
        after: Option<TicketId>,
        limit: u32,
    ) -> anyhow::Result<Vec<(TicketId, Embedding)>> {
        let after = after.map_or(0, |t| id32(t.get()).unwrap_or(i32::MAX));
        let rows = self.load_vectors("ticket_embeddings", "ticket_id", model, after, None, limit).await?;
        Ok(rows.into_iter().map(|(id, e)| (TicketId::new(id.into()), e)).collect())
    }

    async fn load_since(
        &self,
        model: &str,
        since: DateTime<Utc>,
        after: Option<TicketId>,
        limit: u32,
    ) -> anyhow::Result<Vec<(TicketId, Embedding)>> {
        let after = after.map_or(0, |t| id32(t.get()).unwrap_or(i32::MAX));
        let rows = self.load_vectors("ticket_embeddings", "ticket_id", model, after, Some(since), limit).await?;
        Ok(rows.into_iter().map(|(id, e)| (TicketId::new(id.into()), e)).collect())
    }

    async fn pending_faq(&self, model: &str, limit: u32) -> anyhow::Result<Vec<FaqEmbeddingJob>> {
        let sql = "SELECT f.id AS id, f.question AS question, f.also_asked AS also_asked FROM faq_entries f \
                   LEFT JOIN faq_embeddings e ON e.entry_id = f.id AND e.model = $1 \
                   WHERE e.entry_id IS NULL AND f.state = $3 ORDER BY f.id LIMIT $2";
        let values = vec![model.into(), i64::from(limit).into(), FaqState::Published.as_str().into()];
        let rows = self.db.query_all(self.statement(sql, values)).await?;
        rows.into_iter()
            .map(|row| {
                let id: i32 = row.try_get("", "id")?;
                Ok(FaqEmbeddingJob {
                    entry: FaqEntryId::new(id.into()),
                    question: row.try_get("", "question")?,
                    also_asked: row.try_get("", "also_asked")?,
                })
            })
            .collect()
    }

    async fn save_faq(&self, model: &str, items: Vec<(FaqEmbeddingJob, Embedding)>) -> anyhow::Result<Vec<FaqEntryId>> {
        // As for tickets: only while the entry's wording is what was embedded, so that a
        // concurrent edit wins.
        let sql = "INSERT INTO faq_embeddings (entry_id, model, vector, embedded_at) \
                   SELECT id, $1, $2, $3 FROM faq_entries WHERE id = $4 AND question = $5 AND also_asked = $6 \
                   ON CONFLICT (entry_id) DO UPDATE SET model = excluded.model, vector = excluded.vector, \
                   embedded_at = excluded.embedded_at";
        let rows = items
            .into_iter()
            .filter_map(|(job, e)| Some((id32(job.entry.get())?, [job.question.into(), job.also_asked.into()], e)));
        Ok(self.save_vectors(sql, model, rows).await?.into_iter().map(|id| FaqEntryId::new(id.into())).collect())
    }

    async fn load_faq(
        &self,
        model: &str,
        after: Option<FaqEntryId>,
        limit: u32,
    ) -> anyhow::Result<Vec<(FaqEntryId, Embedding)>> {
        let after = after.map_or(0, |e| id32(e.get()).unwrap_or(i32::MAX));
        let rows = self.load_vectors("faq_embeddings", "entry_id", model, after, None, limit).await?;
        Ok(rows.into_iter().map(|(id, e)| (FaqEntryId::new(id.into()), e)).collect())
    }

    async fn load_faq_since(
        &self,
        model: &str,
        since: DateTime<Utc>,
        after: Option<FaqEntryId>,
        limit: u32,
    ) -> anyhow::Result<Vec<(FaqEntryId, Embedding)>> {
        let after = after.map_or(0, |e| id32(e.get()).unwrap_or(i32::MAX));
        let rows = self.load_vectors("faq_embeddings", "entry_id", model, after, Some(since), limit).await?;
        Ok(rows.into_iter().map(|(id, e)| (FaqEntryId::new(id.into()), e)).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_quote_every_term() {
        let q = LexicalQuery::from_text("exam \"results\" NEAR(miss");
        assert_eq!(fts5_query(&q), "\"exam\" OR \"results\" OR \"near\" OR \"miss\"*");
        assert_eq!(tsquery(&q), "'exam' | 'results' | 'near' | 'miss':*");
    }

    #[test]
    fn embeddings_round_trip_through_bytes() {
        let e = Embedding::normalised(vec![0.6, 0.8]).unwrap();
        assert_eq!(from_bytes(1, &to_bytes(&e)).unwrap(), e);
        assert!(from_bytes(1, &[0, 0, 0]).is_err());
    }
}
