//! osts database migrations, shared by SQLite and PostgreSQL.
//!
//! Every migration is one file `mYYYYMMDD_NNNNNN_name.rs`; never edit one that has shipped,
//! add a new one instead.

pub use sea_orm_migration::prelude::*;

mod m20261125_000001_accounts;
mod m20261125_000002_tickets;
mod m20261125_000003_support_workflow;
mod m20261125_000004_attachments;
mod m20261125_000005_similarity;
mod m20261125_000006_notifications;
mod m20261125_000007_faq;
mod m20261125_000008_email_confirmation;
mod m20261125_000009_digests;
mod m20261125_000010_faq_similarity;
mod m20261201_000011_event_actors;
mod m20261201_000012_outbox_channels;
mod m20261201_000013_embedding_times;
mod m20261201_000014_one_line_texts;
mod m20261201_000015_list_indexes;
mod m20261201_000016_escalation;
mod m20261201_000017_forum;
mod m20261202_000018_forum_accounts;

/// The ordered list of migrations.
#[derive(Debug)]
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261125_000001_accounts::Migration),
            Box::new(m20261125_000002_tickets::Migration),
            Box::new(m20261125_000003_support_workflow::Migration),
            Box::new(m20261125_000004_attachments::Migration),
            Box::new(m20261125_000005_similarity::Migration),
            Box::new(m20261125_000006_notifications::Migration),
            Box::new(m20261125_000007_faq::Migration),
            Box::new(m20261125_000008_email_confirmation::Migration),
            Box::new(m20261125_000009_digests::Migration),
            Box::new(m20261125_000010_faq_similarity::Migration),
            Box::new(m20261201_000011_event_actors::Migration),
            Box::new(m20261201_000012_outbox_channels::Migration),
            Box::new(m20261201_000013_embedding_times::Migration),
            Box::new(m20261201_000014_one_line_texts::Migration),
            Box::new(m20261201_000015_list_indexes::Migration),
            Box::new(m20261201_000016_escalation::Migration),
            Box::new(m20261201_000017_forum::Migration),
            Box::new(m20261202_000018_forum_accounts::Migration),
        ]
    }
}
