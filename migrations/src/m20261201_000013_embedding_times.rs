//! Several servers see the same suggestions: each server catches its in-memory vector index
//! up with the embeddings stored since its last read (by any server), so `embedded_at` is
//! indexed on both embedding tables.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (name, table) in
            [("ticket_embeddings_time_idx", Embeddings::Tickets), ("faq_embeddings_time_idx", Embeddings::Faq)]
        {
            manager
                .create_index(Index::create().name(name).table(table).col(Embeddings::EmbeddedAt).to_owned())
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (name, table) in
            [("ticket_embeddings_time_idx", Embeddings::Tickets), ("faq_embeddings_time_idx", Embeddings::Faq)]
        {
            manager.drop_index(Index::drop().name(name).table(table).to_owned()).await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum Embeddings {
    #[sea_orm(iden = "ticket_embeddings")]
    Tickets,
    #[sea_orm(iden = "faq_embeddings")]
    Faq,
    EmbeddedAt,
}
