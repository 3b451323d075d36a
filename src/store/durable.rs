//! Originals of a whole batch made durable together (issue 12): the files are written and
//! fsynced by several threads at once, then each directory that gained an entry is fsynced once,
//! so that a committed row never names an original a power loss could take back.

use super::objects::{write_synced, FsObjects};
use super::StoreError;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

/// fsync waits on the disk, not the CPU: more writers than cores keep the device's queue full.
const IO_THREADS: usize = 16;

/// What [`super::ObjectStore::put_all`] did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Durable {
    /// Objects written now (fsynced, or PUT); objects already there are not written again.
    pub files: usize,
    /// Directories fsynced once each after the renames (none for S3).
    pub dirs: usize,
}

impl FsObjects {
    /// Writes every `(sha256, bytes)` not already stored and makes them durable before
    /// returning: each file is fsynced before its rename (a crash never leaves a short object
    /// under its final name), then every directory that gained an entry (a file, or a directory
    /// created now) is fsynced once.
    pub fn put_all(&self, items: &[(&str, &[u8])]) -> Result<Durable, StoreError> {
        let mut seen = BTreeSet::new();
        let mut todo: Vec<(PathBuf, &[u8])> = Vec::new();
        let mut dirs = BTreeSet::new();
        for (sha, bytes) in items {
            if !seen.insert(*sha) {
                continue;
            }
            let path = self.path_of(sha);
            if path.exists() {
                continue;
            }
            let dir = path.parent().unwrap_or(&self.root).to_path_buf();
            // A directory created now is an entry in its parent, durable only once the parent is.
            let mut d = dir.as_path();
            while !d.exists() && d != self.root {
                if let Some(parent) = d.parent() {
                    dirs.insert(parent.to_path_buf());
                    d = parent;
                } else {
                    break;
                }
            }
            std::fs::create_dir_all(&dir).map_err(|source| StoreError::Io {
                path: dir.clone(),
                source,
            })?;
            dirs.insert(dir);
            todo.push((path, bytes));
        }
        let files = todo.len();
        each_at_once(&todo, |(path, bytes)| write_synced(path, bytes))?;
        let dirs: Vec<PathBuf> = dirs.into_iter().collect();
        each_at_once(&dirs, |dir| sync_dir(dir))?;
        Ok(Durable {
            files,
            dirs: dirs.len(),
        })
    }
}

fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    let io = |source| StoreError::Io {
        path: dir.to_path_buf(),
        source,
    };
    std::fs::File::open(dir).map_err(io)?.sync_all().map_err(io)
}

/// Runs `f` on every item from up to [`IO_THREADS`] threads; the first error wins.
fn each_at_once<T: Sync>(
    items: &[T],
    f: impl Fn(&T) -> Result<(), StoreError> + Sync,
) -> Result<(), StoreError> {
    let next = AtomicUsize::new(0);
    let failed: Mutex<Option<StoreError>> = Mutex::new(None);
    let work = || loop {
        let i = next.fetch_add(1, Ordering::Relaxed);
        let Some(item) = items.get(i) else { break };
        if let Err(e) = f(item) {
            failed
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .get_or_insert(e);
            break;
        }
    };
    match items.len().min(IO_THREADS) {
        0 => {}
        1 => work(),
        n => std::thread::scope(|s| {
            for _ in 0..n {
                s.spawn(work);
            }
        }),
    }
    match failed.into_inner().unwrap_or_else(|p| p.into_inner()) {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::store::ObjectStore;

    #[tokio::test]
    async fn a_batch_is_stored_once_each_and_readable() {
        let dir = tempfile::tempdir().unwrap();
        let store = ObjectStore::new(dir.path());
        let a = b"first original".as_slice();
        let b = b"second original".as_slice();
        let (sa, sb) = (super::super::sha256_hex(a), super::super::sha256_hex(b));
        let done = store
            .put_all(&[(sa.as_str(), a), (sb.as_str(), b), (sa.as_str(), a)])
            .await
            .unwrap();
        assert_eq!(done.files, 2, "the repeated object is written once");
        assert!(done.dirs >= 2, "each new directory is made durable");
        assert_eq!(store.get(&sa).await.unwrap(), a);
        assert_eq!(store.get(&sb).await.unwrap(), b);
        let again = store.put_all(&[(sa.as_str(), a)]).await.unwrap();
        assert_eq!(
            again,
            Durable::default(),
            "what is stored is not written again"
        );
        let leftovers = walk(dir.path())
            .into_iter()
            .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with(".tmp"))
            .count();
        assert_eq!(leftovers, 0);
    }

    fn walk(dir: &Path) -> Vec<PathBuf> {
        let mut out = Vec::new();
        for e in std::fs::read_dir(dir).unwrap().flatten() {
            if e.path().is_dir() {
                out.extend(walk(&e.path()));
            } else {
                out.push(e.path());
            }
        }
        out
    }
}
