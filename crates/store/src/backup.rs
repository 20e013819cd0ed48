//! Online backups: a consistent copy of an SQLite database while osts keeps writing, and the
//! attachment blobs a database names.

use std::path::Path;

use anyhow::Context as _;
use sea_orm::{ConnectionTrait, DbBackend, EntityTrait, QuerySelect, Statement};

use crate::entity::attachments;
use crate::{Backend, Store};

impl Store {
    /// Writes a consistent copy of the SQLite database to `path` (which MUST NOT exist) while
    /// other connections go on writing (`VACUUM INTO`: one read transaction's snapshot, so
    /// every write committed before it is in the copy and none is half in). PostgreSQL is
    /// refused: its backups are `pg_dump`'s.
    pub async fn backup_sqlite_into(&self, path: &Path) -> anyhow::Result<()> {
        if self.backend() != Backend::Sqlite {
            anyhow::bail!("online copies are for SQLite; back PostgreSQL up with pg_dump");
        }
        if path.exists() {
            anyhow::bail!("{} exists already", path.display());
        }
        let target = path.to_str().context("the backup path is not UTF-8")?;
        self.db
            .execute(Statement::from_sql_and_values(DbBackend::Sqlite, "VACUUM INTO ?", [target.into()]))
            .await
            .with_context(|| format!("copying the database into {}", path.display()))?;
        Ok(())
    }

    /// The SHA-256 keys (hex) of every attachment's bytes, each once.
    pub async fn attachment_blob_keys(&self) -> anyhow::Result<Vec<String>> {
        let mut keys: Vec<String> = attachments::Entity::find()
            .select_only()
            .column(attachments::Column::Sha256)
            .distinct()
            .into_tuple::<String>()
            .all(&self.db)
            .await?;
        keys.sort();
        Ok(keys)
    }

    /// `PRAGMA integrity_check` on SQLite (`Ok` when it says `ok`); on PostgreSQL, a ping.
    pub async fn integrity_check(&self) -> anyhow::Result<()> {
        match self.backend() {
            Backend::Sqlite => {
                let row = self
                    .db
                    .query_one(Statement::from_string(DbBackend::Sqlite, "PRAGMA integrity_check"))
                    .await?
                    .context("integrity_check returned nothing")?;
                let verdict: String = row.try_get_by_index(0)?;
                anyhow::ensure!(verdict == "ok", "integrity check failed: {verdict}");
                Ok(())
            }
            Backend::Postgres => self.ping().await,
        }
    }
}
