//! `osts backup --to DIR` and `osts restore --from DIR`.
//!
//! A backup folder holds `osts.db` (SQLite: a consistent copy made while osts runs),
//! `blobs/` (the attachment bytes the copy names, in the data dir's layout) and
//! `manifest.json`. PostgreSQL databases are left to `pg_dump` (the command prints how);
//! their blobs are copied all the same. The database is copied first and the blobs it names
//! after: osts writes an attachment's bytes before its row, and never deletes bytes, so every
//! row in the copy has its blob.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use blobs::FsBlobStore;
use domain::attachments::BlobKey;
use store::{Backend, Store, StoreOptions};

/// The database file's name in a backup folder (and in the data dir).
const DB_FILE: &str = "osts.db";

/// Where a blob lives under a `blobs/` root, in `blobs::FsBlobStore`'s layout; the key must
/// be a stored SHA-256 (hex), so nothing else becomes part of a path.
fn blob_path(root: &Path, key: &str) -> anyhow::Result<PathBuf> {
    let key = BlobKey::parse(key).with_context(|| format!("not a blob key: {key:?}"))?;
    Ok(FsBlobStore::new(root).path_of(&key))
}

/// What a backup copied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// Whether the database itself is in the folder (SQLite) or left to `pg_dump`.
    pub database_copied: bool,
    /// Blobs copied.
    pub blobs: usize,
}

/// Backs `store` (whose blobs are under `blobs_root`) up into `to`, which must be missing or
/// empty.
pub async fn backup(store: &Store, blobs_root: &Path, to: &Path) -> anyhow::Result<Report> {
    if to.exists() && std::fs::read_dir(to)?.next().is_some() {
        anyhow::bail!("{} is not empty: back up into a new folder", to.display());
    }
    std::fs::create_dir_all(to).with_context(|| format!("creating {}", to.display()))?;
    let (database_copied, keys) = match store.backend() {
        Backend::Sqlite => {
            let copy = to.join(DB_FILE);
            store.backup_sqlite_into(&copy).await?;
            // The blobs the copy names, read from the copy itself.
            let url = format!("sqlite://{}?mode=rw", copy.display());
            let snapshot = Store::connect_with(&url, StoreOptions { migrate: false, ..Default::default() }).await?;
            snapshot.integrity_check().await?;
            let keys = snapshot.attachment_blob_keys().await?;
            snapshot.close().await?;
            (true, keys)
        }
        Backend::Postgres => (false, store.attachment_blob_keys().await?),
    };
    let target = to.join("blobs");
    for key in &keys {
        let from = blob_path(blobs_root, key)?;
        let dest = blob_path(&target, key)?;
        std::fs::create_dir_all(dest.parent().context("a blob path has a parent")?)?;
        std::fs::copy(&from, &dest).with_context(|| format!("copying blob {key}"))?;
    }
    let manifest = serde_json::json!({
        "osts_version": env!("CARGO_PKG_VERSION"),
        "created_at": chrono::Utc::now().to_rfc3339(),
        "backend": if database_copied { "sqlite" } else { "postgres" },
        "database": if database_copied { Some(DB_FILE) } else { None },
        "blobs": keys.len(),
    });
    std::fs::write(to.join("manifest.json"), serde_json::to_vec_pretty(&manifest)?)?;
    Ok(Report { database_copied, blobs: keys.len() })
}

/// Restores an SQLite backup from `from` into `data_dir` (its `osts.db` and `blobs/`),
/// refusing a data dir that already holds a database; checks the restored database.
pub async fn restore(from: &Path, data_dir: &Path) -> anyhow::Result<Report> {
    let source = from.join(DB_FILE);
    anyhow::ensure!(
        source.is_file(),
        "{} holds no {DB_FILE} (PostgreSQL backups are restored with pg_restore)",
        from.display()
    );
    let target = data_dir.join(DB_FILE);
    for existing in [target.clone(), data_dir.join(format!("{DB_FILE}-wal"))] {
        anyhow::ensure!(!existing.exists(), "{} exists: restore into an empty data dir", existing.display());
    }
    std::fs::create_dir_all(data_dir)?;
    std::fs::copy(&source, &target).with_context(|| format!("copying {}", source.display()))?;
    let mut blobs = 0;
    let blob_source = from.join("blobs");
    if blob_source.is_dir() {
        blobs = copy_tree(&blob_source, &data_dir.join("blobs"))?;
    }
    let url = format!("sqlite://{}?mode=rw", target.display());
    let store = Store::connect_with(&url, StoreOptions { migrate: false, ..Default::default() }).await?;
    store.integrity_check().await?;
    let missing: Vec<String> = store
        .attachment_blob_keys()
        .await?
        .into_iter()
        .filter(|key| blob_path(&data_dir.join("blobs"), key).map(|p| !p.is_file()).unwrap_or(true))
        .collect();
    store.close().await?;
    anyhow::ensure!(missing.is_empty(), "{} attachment blobs are missing from the backup", missing.len());
    Ok(Report { database_copied: true, blobs })
}

/// Copies files under `from` into `to` (same relative paths); returns how many.
fn copy_tree(from: &Path, to: &Path) -> anyhow::Result<usize> {
    let mut copied = 0;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let dest = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copied += copy_tree(&entry.path(), &dest)?;
        } else {
            std::fs::create_dir_all(to)?;
            std::fs::copy(entry.path(), &dest)?;
            copied += 1;
        }
    }
    Ok(copied)
}
