//! The FAQ: entries, their source tickets and readers' feedback.

use std::collections::{HashMap, HashSet};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use domain::accounts::UserId;
use domain::categories::CategoryId;
use domain::faq::*;
use domain::tickets::{Answer, Change, Status, Tags, Ticket, TicketId};
use sea_orm::sea_query::{Expr, Func, LikeExpr, OnConflict, Query};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set,
};

use crate::entity::{categories, faq_entries, faq_feedback, faq_sources, tickets, watchers};
use crate::tickets::{like_pattern, record, user_actor, views};
use crate::{id32, Store};

const RESOLVED: [&str; 2] = ["resolved", "closed"];

fn eid(id: FaqEntryId) -> Option<i32> {
    id32(id.get())
}

fn tags_column(tags: &Tags) -> String {
    tags.to_strings().join(",")
}

fn also_asked_column(also: &[Question]) -> String {
    also.iter().map(Question::as_str).collect::<Vec<_>>().join("\n")
}

/// Turns rows into entries with two batched look-ups (sources, feedback counts).
async fn entries(conn: &impl ConnectionTrait, rows: Vec<faq_entries::Model>) -> anyhow::Result<Vec<FaqEntry>> {
    if rows.is_empty() {
        return Ok(vec![]);
    }
    let ids: Vec<i32> = rows.iter().map(|r| r.id).collect();
    let mut sources: HashMap<i32, Vec<TicketId>> = HashMap::new();
    for s in faq_sources::Entity::find()
        .filter(faq_sources::Column::EntryId.is_in(ids.clone()))
        .order_by_asc(faq_sources::Column::TicketId)
        .all(conn)
        .await?
    {
        sources.entry(s.entry_id).or_default().push(TicketId::new(s.ticket_id.into()));
    }
    let counts: Vec<(i32, bool, i64)> = faq_feedback::Entity::find()
        .select_only()
        .column(faq_feedback::Column::EntryId)
        .column(faq_feedback::Column::Helpful)
        .column_as(faq_feedback::Column::UserId.count(), "n")
        .filter(faq_feedback::Column::EntryId.is_in(ids))
        .group_by(faq_feedback::Column::EntryId)
        .group_by(faq_feedback::Column::Helpful)
        .into_tuple()
        .all(conn)
        .await?;
    let mut feedback: HashMap<(i32, bool), u32> = HashMap::new();
    for (entry, helpful, n) in counts {
        feedback.insert((entry, helpful), u32::try_from(n)?);
    }
    rows.into_iter()
        .map(|m| {
            let bad = |what: &str| anyhow::anyhow!("stored FAQ entry {} has an invalid {what}", m.id);
            let tags: Vec<&str> = m.tags.split(',').filter(|t| !t.is_empty()).collect();
            Ok(FaqEntry {
                id: FaqEntryId::new(m.id.into()),
                question: Question::parse(&m.question).map_err(|_| bad("question"))?,
                also_asked: m
                    .also_asked
                    .lines()
                    .filter(|l| !l.is_empty())
                    .map(|l| Question::parse(l).map_err(|_| bad("alternative wording")))
                    .collect::<anyhow::Result<_>>()?,
                answer: Answer::parse(&m.answer, "answer").map_err(|_| bad("answer"))?,
                category_id: CategoryId::new(m.category_id.into()),
                tags: Tags::parse(&tags).map_err(|_| bad("tags"))?,
                position: m.position,
                state: FaqState::parse(&m.state).ok_or_else(|| bad("state"))?,
                sources: sources.remove(&m.id).unwrap_or_default(),
                author_id: UserId::new(m.author_id.into()),
                created_at: m.created_at,
                updated_at: m.updated_at,
                published_at: m.published_at,
                helpful: feedback.get(&(m.id, true)).copied().unwrap_or(0),
                not_helpful: feedback.get(&(m.id, false)).copied().unwrap_or(0),
            })
        })
        .collect()
}

async fn one(conn: &impl ConnectionTrait, id: i32) -> anyhow::Result<Option<FaqEntry>> {
    let Some(row) = faq_entries::Entity::find_by_id(id).one(conn).await? else { return Ok(None) };
    Ok(entries(conn, vec![row]).await?.pop())
}

/// Rows whose question, alternative wordings or answer contain `word` (lower-cased).
fn contains(word: &str) -> Condition {
    let pattern = like_pattern(word);
    let like = |col: faq_entries::Column| {
        Expr::expr(Func::lower(Expr::col(col))).like(LikeExpr::new(pattern.clone()).escape('\\'))
    };
    Condition::any()
        .add(like(faq_entries::Column::Question))
        .add(like(faq_entries::Column::AlsoAsked))
        .add(like(faq_entries::Column::Answer))
}

#[async_trait]
impl FaqRepository for Store {
    async fn insert(&self, entry: NewFaqEntry) -> anyhow::Result<FaqEntry> {
        let category = id32(entry.category_id.get()).ok_or_else(|| anyhow::anyhow!("category id out of range"))?;
        let author = id32(entry.author_id.get()).ok_or_else(|| anyhow::anyhow!("author id out of range"))?;
        let tx = self.write().await?;
        let row = faq_entries::ActiveModel {
            question: Set(entry.question.as_str().to_owned()),
            also_asked: Set(also_asked_column(&entry.also_asked)),
            answer: Set(entry.answer.as_str().to_owned()),
            category_id: Set(category),
            tags: Set(tags_column(&entry.tags)),
            position: Set(entry.position),
            state: Set(FaqState::Draft.as_str().to_owned()),
            author_id: Set(author),
            created_at: Set(entry.at),
            updated_at: Set(entry.at),
            published_at: Set(None),
            ..Default::default()
        }
        .insert(&*tx)
        .await?;
        let sources: HashSet<i32> = entry.sources.iter().filter_map(|t| id32(t.get())).collect();
        if !sources.is_empty() {
            faq_sources::Entity::insert_many(
                sources.into_iter().map(|t| faq_sources::ActiveModel { entry_id: Set(row.id), ticket_id: Set(t) }),
            )
            .exec(&*tx)
            .await?;
        }
        let out = entries(&*tx, vec![row]).await?.pop().expect("one row in, one entry out");
        tx.commit().await?;
        Ok(out)
    }

    async fn get(&self, id: FaqEntryId) -> anyhow::Result<Option<FaqEntry>> {
        let Some(id) = eid(id) else { return Ok(None) };
        one(&self.db, id).await
    }

    async fn update(&self, id: FaqEntryId, edits: Vec<FaqEdit>, at: DateTime<Utc>) -> anyhow::Result<Option<FaqEntry>> {
        let Some(id) = eid(id) else { return Ok(None) };
        let tx = self.write().await?;
        let mut q = faq_entries::Entity::update_many().col_expr(faq_entries::Column::UpdatedAt, Expr::value(at));
        for edit in &edits {
            q = match edit {
                FaqEdit::Question(v) => q.col_expr(faq_entries::Column::Question, Expr::value(v.as_str())),
                FaqEdit::AlsoAsked(v) => q.col_expr(faq_entries::Column::AlsoAsked, Expr::value(also_asked_column(v))),
                FaqEdit::Answer(v) => q.col_expr(faq_entries::Column::Answer, Expr::value(v.as_str())),
                FaqEdit::Category(c) => q.col_expr(
                    faq_entries::Column::CategoryId,
                    Expr::value(id32(c.get()).ok_or_else(|| anyhow::anyhow!("category id out of range"))?),
                ),
                FaqEdit::Tags(t) => q.col_expr(faq_entries::Column::Tags, Expr::value(tags_column(t))),
                FaqEdit::Position(p) => q.col_expr(faq_entries::Column::Position, Expr::value(*p)),
            };
        }
        let result = q.filter(faq_entries::Column::Id.eq(id)).exec(&*tx).await?;
        if result.rows_affected == 0 {
            return Ok(None);
        }
        let out = one(&*tx, id).await?;
        tx.commit().await?;
        Ok(out)
    }

    async fn publish(&self, id: FaqEntryId, actor: UserId, at: DateTime<Utc>) -> anyhow::Result<Option<FaqEntry>> {
        let Some(id) = eid(id) else { return Ok(None) };
        let actor = id32(actor.get()).ok_or_else(|| anyhow::anyhow!("actor id out of range"))?;
        let tx = self.write().await?;
        // Conditional on the state, so that two curators publishing at once record the
        // ticket events once.
        let result = faq_entries::Entity::update_many()
            .col_expr(faq_entries::Column::State, Expr::value(FaqState::Published.as_str()))
            .col_expr(faq_entries::Column::PublishedAt, Expr::value(at))
            .col_expr(faq_entries::Column::UpdatedAt, Expr::value(at))
            .filter(faq_entries::Column::Id.eq(id))
            .filter(faq_entries::Column::State.eq(FaqState::Draft.as_str()))
            .exec(&*tx)
            .await?;
        if result.rows_affected == 1 {
            let sources = faq_sources::Entity::find().filter(faq_sources::Column::EntryId.eq(id)).all(&*tx).await?;
            let change = Change::FaqPublished { entry_id: id.into() };
            for s in sources {
                record(&tx, s.ticket_id, user_actor(actor), at, &change).await?;
            }
        }
        let out = one(&*tx, id).await?;
        tx.commit().await?;
        Ok(out)
    }

    async fn unpublish(&self, id: FaqEntryId, at: DateTime<Utc>) -> anyhow::Result<Option<FaqEntry>> {
        let Some(id) = eid(id) else { return Ok(None) };
        let tx = self.write().await?;
        faq_entries::Entity::update_many()
            .col_expr(faq_entries::Column::State, Expr::value(FaqState::Draft.as_str()))
            .col_expr(faq_entries::Column::UpdatedAt, Expr::value(at))
            .filter(faq_entries::Column::Id.eq(id))
            .exec(&*tx)
            .await?;
        let out = one(&*tx, id).await?;
        tx.commit().await?;
        Ok(out)
    }

    async fn list(&self, query: FaqQuery) -> anyhow::Result<Vec<FaqEntry>> {
        let mut q = faq_entries::Entity::find().filter(faq_entries::Column::State.eq(query.state.as_str()));
        if let Some(c) = query.category_id {
            q = q.filter(faq_entries::Column::CategoryId.eq(id32(c.get()).unwrap_or(-1)));
        }
        if let Some(text) = &query.text {
            // Every whitespace-separated word must appear somewhere in the entry.
            for word in text.split_whitespace() {
                q = q.filter(contains(word));
            }
        }
        let rows =
            q.order_by_asc(faq_entries::Column::Position).order_by_asc(faq_entries::Column::Id).all(&self.db).await?;
        let positions: HashMap<i32, i32> =
            categories::Entity::find().all(&self.db).await?.into_iter().map(|c| (c.id, c.position)).collect();
        let mut out = entries(&self.db, rows).await?;
        // Stable: within a category the SQL order (position, id) is kept.
        out.sort_by_key(|e| {
            let c = i32::try_from(e.category_id.get()).unwrap_or(i32::MAX);
            (positions.get(&c).copied().unwrap_or(i32::MAX), c)
        });
        Ok(out)
    }

    async fn search_published(&self, text: &str, limit: usize) -> anyhow::Result<Vec<FaqHit>> {
        let words = search_words(text);
        if words.is_empty() {
            return Ok(vec![]);
        }
        let any = words.iter().fold(Condition::any(), |c, w| c.add(contains(w)));
        let rows = faq_entries::Entity::find()
            .filter(faq_entries::Column::State.eq(FaqState::Published.as_str()))
            .filter(any)
            .all(&self.db)
            .await?;
        let mut hits: Vec<FaqHit> = rows
            .into_iter()
            .map(|m| FaqHit {
                id: FaqEntryId::new(m.id.into()),
                score: match_score(&words, &format!("{}\n{}", m.question, m.also_asked), &m.answer),
                snippet: snippet(&m.answer),
                question: m.question,
            })
            .collect();
        hits.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.id.cmp(&b.id)));
        hits.truncate(limit);
        Ok(hits)
    }

    async fn candidates(&self) -> anyhow::Result<Vec<CandidateStats>> {
        let rows = tickets::Entity::find()
            .filter(tickets::Column::Status.is_in(RESOLVED))
            .filter(tickets::Column::Id.not_in_subquery(
                Query::select().column(faq_sources::Column::TicketId).from(faq_sources::Entity).to_owned(),
            ))
            .all(&self.db)
            .await?;
        if rows.is_empty() {
            return Ok(vec![]);
        }
        let ids: Vec<i32> = rows.iter().map(|t| t.id).collect();
        let count = |pairs: Vec<(Option<i32>, i64)>| -> HashMap<i32, u32> {
            pairs.into_iter().filter_map(|(k, n)| Some((k?, u32::try_from(n).ok()?))).collect()
        };
        let watcher_counts = count(
            watchers::Entity::find()
                .select_only()
                .column(watchers::Column::TicketId)
                .column_as(watchers::Column::UserId.count(), "n")
                .filter(watchers::Column::TicketId.is_in(ids.clone()))
                .group_by(watchers::Column::TicketId)
                .into_tuple()
                .all(&self.db)
                .await?,
        );
        let duplicate_counts = count(
            tickets::Entity::find()
                .select_only()
                .column(tickets::Column::MergedInto)
                .column_as(tickets::Column::Id.count(), "n")
                .filter(tickets::Column::MergedInto.is_in(ids))
                .filter(tickets::Column::Status.eq(Status::Merged.as_str()))
                .group_by(tickets::Column::MergedInto)
                .into_tuple()
                .all(&self.db)
                .await?,
        );
        Ok(rows
            .into_iter()
            .map(|t| CandidateStats {
                ticket: TicketId::new(t.id.into()),
                category_id: CategoryId::new(t.category_id.into()),
                votes: u32::try_from(t.vote_count).unwrap_or(0),
                watchers: watcher_counts.get(&t.id).copied().unwrap_or(0),
                merged_duplicates: duplicate_counts.get(&t.id).copied().unwrap_or(0),
                title: t.title,
            })
            .collect())
    }

    async fn merged_duplicates(&self, ticket: TicketId) -> anyhow::Result<Vec<Ticket>> {
        let Some(id) = id32(ticket.get()) else { return Ok(vec![]) };
        let rows = tickets::Entity::find()
            .filter(tickets::Column::MergedInto.eq(id))
            .filter(tickets::Column::Status.eq(Status::Merged.as_str()))
            .order_by_asc(tickets::Column::Id)
            .all(&self.db)
            .await?;
        Ok(views(&self.db, rows, None).await?.into_iter().map(|v| v.ticket).collect())
    }

    async fn feedback(&self, id: FaqEntryId, user: UserId, helpful: bool) -> anyhow::Result<Option<FaqEntry>> {
        let Some(id) = eid(id) else { return Ok(None) };
        let user = id32(user.get()).ok_or_else(|| anyhow::anyhow!("user id out of range"))?;
        let tx = self.write().await?;
        if faq_entries::Entity::find_by_id(id).one(&*tx).await?.is_none() {
            return Ok(None);
        }
        faq_feedback::Entity::insert(faq_feedback::ActiveModel {
            entry_id: Set(id),
            user_id: Set(user),
            helpful: Set(helpful),
        })
        .on_conflict(
            OnConflict::columns([faq_feedback::Column::EntryId, faq_feedback::Column::UserId])
                .update_column(faq_feedback::Column::Helpful)
                .to_owned(),
        )
        .exec_without_returning(&*tx)
        .await?;
        let out = one(&*tx, id).await?;
        tx.commit().await?;
        Ok(out)
    }
}
