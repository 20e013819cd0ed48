//! The filesystem adapter of [`BlobStore`]: attachment bytes as files named by their SHA-256,
//! `<root>/ab/cd/abcd…` (two levels of fan-out keep directories small).
//!
//! A blob is written to a temporary file in its final directory, flushed to disk and renamed
//! into place, so a reader never sees part of one and a crash leaves at most a stray
//! temporary file. Blobs are never modified: the same bytes always land at the same path, so
//! storing them twice is harmless. Every read is checked against the key.

use std::io::{ErrorKind, Write as _};
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use async_trait::async_trait;
use domain::attachments::{BlobKey, BlobStore};
use sha2::{Digest as _, Sha256};

/// Blobs under one directory.
#[derive(Debug, Clone)]
pub struct FsBlobStore {
    root: PathBuf,
}

impl FsBlobStore {
    /// A store under `root` (created on first write).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// Where the blob with `key` lives. Only the key, which is hex by construction, ever
    /// becomes part of a path.
    pub fn path_of(&self, key: &BlobKey) -> PathBuf {
        let hex = key.as_str();
        self.root.join(&hex[0..2]).join(&hex[2..4]).join(hex)
    }
}

fn key_of(bytes: &[u8]) -> BlobKey {
    BlobKey::from_digest(Sha256::digest(bytes).into())
}

fn write_atomically(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let dir = path.parent().context("a blob path has a parent")?;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    // Same directory as the target, so the rename stays on one filesystem and is atomic.
    let tmp = dir.join(format!(".tmp-{}", uuid::Uuid::new_v4().simple()));
    let result = (|| {
        let mut file = std::fs::File::create_new(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(e).with_context(|| format!("writing blob {}", path.display()));
    }
    Ok(())
}

#[async_trait]
impl BlobStore for FsBlobStore {
    async fn put(&self, bytes: Vec<u8>) -> anyhow::Result<BlobKey> {
        let store = self.clone();
        tokio::task::spawn_blocking(move || {
            let key = key_of(&bytes);
            let path = store.path_of(&key);
            // Content-addressed: an intact existing file already holds these bytes; a damaged
            // one is replaced, since we have the right bytes at hand.
            let intact = std::fs::read(&path).is_ok_and(|stored| key_of(&stored) == key);
            if !intact {
                write_atomically(&path, &bytes)?;
            }
            Ok(key)
        })
        .await
        .context("blob writer panicked")?
    }

    async fn get(&self, key: &BlobKey) -> anyhow::Result<Option<Vec<u8>>> {
        let path = self.path_of(key);
        let key = key.clone();
        tokio::task::spawn_blocking(move || {
            let bytes = match std::fs::read(&path) {
                Ok(bytes) => bytes,
                Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
                Err(e) => return Err(e).with_context(|| format!("reading blob {}", path.display())),
            };
            let actual = key_of(&bytes);
            anyhow::ensure!(actual == key, "blob {key} is corrupted: its content hashes to {actual}");
            Ok(Some(bytes))
        })
        .await
        .context("blob reader panicked")?
    }
}
