//! The filesystem blob store against a temporary directory.

use blobs::FsBlobStore;
use domain::attachments::{BlobKey, BlobStore};

/// Every file under `dir`, recursively.
fn files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(files(&path));
        } else {
            out.push(path);
        }
    }
    out
}

#[tokio::test]
async fn a_blob_round_trips_under_its_sha256() {
    let dir = tempfile::tempdir().unwrap();
    let store = FsBlobStore::new(dir.path().join("blobs"));
    let key = store.put(b"hello".to_vec()).await.unwrap();
    // sha256("hello")
    let hex = "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824";
    assert_eq!(key.as_str(), hex);
    assert_eq!(files(dir.path()), vec![dir.path().join("blobs/2c/f2").join(hex)]);
    assert_eq!(store.get(&key).await.unwrap().as_deref(), Some(&b"hello"[..]));
}

#[tokio::test]
async fn storing_the_same_bytes_twice_keeps_one_file() {
    let dir = tempfile::tempdir().unwrap();
    let store = FsBlobStore::new(dir.path());
    let first = store.put(vec![7; 1000]).await.unwrap();
    let second = store.put(vec![7; 1000]).await.unwrap();
    let other = store.put(vec![8; 1000]).await.unwrap();
    assert_eq!(first, second);
    assert_ne!(first, other);
    assert_eq!(files(dir.path()).len(), 2, "no temporary files left behind: {:?}", files(dir.path()));
}

#[tokio::test]
async fn concurrent_puts_of_the_same_bytes_agree() {
    let dir = tempfile::tempdir().unwrap();
    let store = FsBlobStore::new(dir.path());
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move { store.put(vec![42; 64 * 1024]).await.unwrap() })
        })
        .collect();
    let mut keys = Vec::new();
    for t in tasks {
        keys.push(t.await.unwrap());
    }
    keys.dedup();
    assert_eq!(keys.len(), 1);
    assert_eq!(files(dir.path()).len(), 1);
    assert_eq!(store.get(&keys[0]).await.unwrap().unwrap(), vec![42; 64 * 1024]);
}

#[tokio::test]
async fn a_missing_blob_is_none() {
    let dir = tempfile::tempdir().unwrap();
    let store = FsBlobStore::new(dir.path());
    assert_eq!(store.get(&BlobKey::from_digest([0; 32])).await.unwrap(), None);
}

#[tokio::test]
async fn a_corrupted_blob_is_an_error_not_content() {
    let dir = tempfile::tempdir().unwrap();
    let store = FsBlobStore::new(dir.path());
    let key = store.put(b"original".to_vec()).await.unwrap();
    std::fs::write(store.path_of(&key), b"tampered").unwrap();
    let err = store.get(&key).await.unwrap_err();
    assert!(err.to_string().contains("corrupted"), "{err:#}");
    // Uploading the same bytes again repairs it.
    assert_eq!(store.put(b"original".to_vec()).await.unwrap(), key);
    assert_eq!(store.get(&key).await.unwrap().as_deref(), Some(&b"original"[..]));
}
