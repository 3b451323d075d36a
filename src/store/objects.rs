//! The originals, named by the sha256 of their content: a name a unit chose never becomes a
//! path or a key, and storing the same bytes twice writes nothing. One async interface over two
//! backends: a local directory (`objects/ab/cd/<sha256>`) and an S3-compatible bucket with the
//! same keys, so that `storage migrate` copies names as they are.
//!
//! Every `put` returns only once the object is durable (fsync of file and directory; an S3
//! PUT's 200), because a message is committed right after and its row must never name an
//! original a crash could take back.

use super::keys::{is_sha256, key_of};
use super::s3::S3Objects;
use super::settings::{Backend, S3Settings, StorageSettings};
use super::{Durable, StoreError};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

#[derive(Debug, Clone)]
pub struct ObjectStore {
    backend: Objects,
}

#[derive(Debug, Clone)]
enum Objects {
    Fs(FsObjects),
    S3(Arc<S3Objects>),
}

/// The local directory backend.
#[derive(Debug, Clone)]
pub struct FsObjects {
    pub(super) root: PathBuf,
}

impl From<&Path> for ObjectStore {
    fn from(root: &Path) -> Self {
        ObjectStore::new(root)
    }
}

impl From<&PathBuf> for ObjectStore {
    fn from(root: &PathBuf) -> Self {
        ObjectStore::new(root)
    }
}

impl From<PathBuf> for ObjectStore {
    fn from(root: PathBuf) -> Self {
        ObjectStore::new(root)
    }
}

impl ObjectStore {
    /// A local directory.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        ObjectStore {
            backend: Objects::Fs(FsObjects { root: root.into() }),
        }
    }

    /// The backend `[storage]` names. Builds the S3 client only (no request is made).
    pub fn open(settings: &StorageSettings) -> Result<Self, StoreError> {
        Ok(match &settings.backend {
            Backend::Fs { .. } => ObjectStore::new(&settings.dir),
            Backend::S3(s3) => ObjectStore::s3(s3)?,
        })
    }

    /// The bucket `s3` names.
    pub fn s3(s3: &S3Settings) -> Result<Self, StoreError> {
        Ok(ObjectStore {
            backend: Objects::S3(Arc::new(S3Objects::new(s3)?)),
        })
    }

    /// The local directory backend, whose writes block the thread: a batch hands them to a
    /// blocking thread with owned items (`pipeline::batch`). `None` for S3, whose `put_all` is
    /// async already.
    pub fn fs(&self) -> Option<&FsObjects> {
        match &self.backend {
            Objects::Fs(fs) => Some(fs),
            Objects::S3(_) => None,
        }
    }

    /// `fs` or `s3 bucket`: for logs and `check`, never with credentials.
    pub fn describe(&self) -> String {
        match &self.backend {
            Objects::Fs(fs) => format!("fs {}", fs.root.display()),
            Objects::S3(s3) => s3.describe(),
        }
    }

    /// Where the object lies on this machine, for the fs backend (export copies it from there).
    pub fn local_path(&self, sha256: &str) -> Option<PathBuf> {
        match &self.backend {
            Objects::Fs(fs) => Some(fs.path_of(sha256)),
            Objects::S3(_) => None,
        }
    }

    /// Stores `bytes` (whose sha256 is `sha256`) unless already there.
    pub async fn put(&self, sha256: &str, bytes: &[u8]) -> Result<(), StoreError> {
        self.put_all(&[(sha256, bytes)]).await.map(|_| ())
    }

    /// Stores every `(sha256, bytes)` not already stored and returns once all are durable.
    pub async fn put_all(&self, items: &[(&str, &[u8])]) -> Result<Durable, StoreError> {
        match &self.backend {
            Objects::Fs(fs) => off_reactor(|| fs.put_all(items)),
            Objects::S3(s3) => s3.put_all(items).await,
        }
    }

    /// The object's bytes; [`StoreError::NoSuchObject`] when it is not stored.
    pub async fn get(&self, sha256: &str) -> Result<Vec<u8>, StoreError> {
        match &self.backend {
            Objects::Fs(fs) => off_reactor(|| fs.get(sha256)),
            Objects::S3(s3) => s3.get(sha256).await,
        }
    }

    pub async fn exists(&self, sha256: &str) -> Result<bool, StoreError> {
        match &self.backend {
            Objects::Fs(fs) => Ok(fs.path_of(sha256).is_file()),
            Objects::S3(s3) => s3.exists(sha256).await,
        }
    }

    /// The sha256 of every stored object (for `storage migrate`), in no particular order.
    pub async fn list(&self) -> Result<Vec<String>, StoreError> {
        match &self.backend {
            Objects::Fs(fs) => off_reactor(|| fs.list()),
            Objects::S3(s3) => s3.list().await,
        }
    }

    /// Removes what a crash left mid-write (fs only: an S3 PUT is all or nothing).
    pub fn remove_stale_temp_files(&self, min_age: std::time::Duration) -> usize {
        match &self.backend {
            Objects::Fs(fs) => fs.remove_stale_temp_files(min_age),
            Objects::S3(_) => 0,
        }
    }
}

/// Runs blocking file work where it does not stall other tasks: on a multi-threaded runtime
/// the worker hands its other tasks over first (`block_in_place`; the items are borrowed, so
/// `spawn_blocking` would need a copy of every original); a single-threaded one (tests) just
/// runs it. Futures joined with the caller wait meanwhile: a batch, whose next batch is
/// fetched while it is stored, writes through [`ObjectStore::fs`] on the blocking pool instead.
fn off_reactor<T>(f: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current().map(|h| h.runtime_flavor()) {
        Ok(tokio::runtime::RuntimeFlavor::MultiThread) => tokio::task::block_in_place(f),
        _ => f(),
    }
}

impl FsObjects {
    pub fn path_of(&self, sha256: &str) -> PathBuf {
        self.root.join(key_of(sha256))
    }

    fn get(&self, sha256: &str) -> Result<Vec<u8>, StoreError> {
        let path = self.path_of(sha256);
        std::fs::read(&path).map_err(|source| {
            if source.kind() == std::io::ErrorKind::NotFound {
                StoreError::NoSuchObject(sha256.to_string())
            } else {
                StoreError::Io { path, source }
            }
        })
    }

    fn list(&self) -> Result<Vec<String>, StoreError> {
        let mut found = Vec::new();
        let mut dirs = vec![self.root.join("objects")];
        while let Some(dir) = dirs.pop() {
            let entries = match std::fs::read_dir(&dir) {
                Ok(e) => e,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(source) => return Err(StoreError::Io { path: dir, source }),
            };
            for entry in entries {
                let entry = entry.map_err(|source| StoreError::Io {
                    path: dir.clone(),
                    source,
                })?;
                let name = entry.file_name().to_string_lossy().into_owned();
                if entry.file_type().is_ok_and(|t| t.is_dir()) {
                    dirs.push(entry.path());
                } else if is_sha256(&name) {
                    found.push(name);
                }
            }
        }
        Ok(found)
    }

    /// Removes the temporary files a crash left behind mid-write (`.tmp*` beside the objects),
    /// older than `min_age` so that a write in flight in another process is never touched.
    /// Returns how many were removed; an unreadable directory is skipped.
    fn remove_stale_temp_files(&self, min_age: std::time::Duration) -> usize {
        let mut removed = 0;
        let mut dirs = vec![self.root.join("objects")];
        while let Some(dir) = dirs.pop() {
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            for entry in entries.flatten() {
                let path = entry.path();
                let Ok(meta) = entry.metadata() else {
                    continue;
                };
                if meta.is_dir() {
                    dirs.push(path);
                    continue;
                }
                let stale = meta
                    .modified()
                    .ok()
                    .and_then(|m| m.elapsed().ok())
                    .is_some_and(|age| age >= min_age);
                let temp = entry.file_name().to_string_lossy().starts_with(".tmp");
                if temp && stale && std::fs::remove_file(&path).is_ok() {
                    removed += 1;
                }
            }
        }
        removed
    }
}

/// One file written beside its place, fsynced, then renamed into it: never a short object under
/// its final name.
pub(super) fn write_synced(path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    let dir = path.parent().unwrap_or(path);
    let io = |source| StoreError::Io {
        path: dir.to_path_buf(),
        source,
    };
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(io)?;
    tmp.write_all(bytes).map_err(io)?;
    tmp.as_file().sync_all().map_err(io)?;
    tmp.persist(path).map_err(|e| io(e.error))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::sha256_hex;

    #[tokio::test]
    async fn stale_temp_files_are_removed_fresh_ones_and_objects_kept() {
        let dir = tempfile::tempdir().unwrap();
        let store = ObjectStore::new(dir.path());
        store.put(&sha256_hex(b"abc"), b"abc").await.unwrap();
        let kept = store.local_path(&sha256_hex(b"abc")).unwrap();
        let sub = kept.parent().unwrap();
        let old = sub.join(".tmpOLD123");
        let fresh = sub.join(".tmpNEW456");
        std::fs::write(&old, b"half").unwrap();
        std::fs::write(&fresh, b"half").unwrap();
        let hour_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
        std::fs::File::options()
            .write(true)
            .open(&old)
            .unwrap()
            .set_modified(hour_ago)
            .unwrap();
        let removed = store.remove_stale_temp_files(std::time::Duration::from_secs(600));
        assert_eq!(removed, 1);
        assert!(!old.exists());
        assert!(fresh.exists());
        assert_eq!(store.get(&sha256_hex(b"abc")).await.unwrap(), b"abc");
        assert_eq!(store.list().await.unwrap(), vec![sha256_hex(b"abc")]);
    }

    #[tokio::test]
    async fn a_missing_object_is_named_as_missing() {
        let dir = tempfile::tempdir().unwrap();
        let store = ObjectStore::new(dir.path());
        let sha = sha256_hex(b"never stored");
        assert!(!store.exists(&sha).await.unwrap());
        match store.get(&sha).await {
            Err(StoreError::NoSuchObject(s)) => assert_eq!(s, sha),
            other => panic!("{other:?}"),
        }
    }
}
