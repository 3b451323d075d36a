//! `reportbox storage migrate --to s3`: every original of the local directory copied into the
//! bucket, each read back and its sha256 checked before it counts. An object the bucket holds
//! already is skipped (its name is its hash), and a PUT is all or nothing, so the copy may be
//! interrupted and run again at any point.

use super::{sha256_hex, ObjectStore, StoreError};

/// What a migration did, for the summary line and the exit status.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Migrated {
    /// Originals in the local directory.
    pub found: usize,
    /// Uploaded now, read back and found identical.
    pub copied: usize,
    /// Already in the bucket: not sent again.
    pub present: usize,
    /// Objects whose local bytes no longer match their name: left out, named for a person.
    pub damaged: Vec<String>,
    /// Uploaded, but what the bucket gave back differs: named for a person (run again).
    pub mismatched: Vec<String>,
}

impl Migrated {
    pub fn ok(&self) -> bool {
        self.damaged.is_empty() && self.mismatched.is_empty()
    }
}

/// Copies every object of `from` missing in `to`; `progress` is told after each object (done,
/// of how many) so that a long copy shows it is moving. A storage error stops the copy: what is
/// done stays done, and the next run goes on from there.
pub async fn copy_objects(
    from: &ObjectStore,
    to: &ObjectStore,
    mut progress: impl FnMut(usize, usize),
) -> Result<Migrated, StoreError> {
    let names = from.list().await?;
    let mut out = Migrated {
        found: names.len(),
        ..Migrated::default()
    };
    for (i, sha) in names.iter().enumerate() {
        if to.exists(sha).await? {
            out.present += 1;
        } else {
            let bytes = from.get(sha).await?;
            if sha256_hex(&bytes) != *sha {
                out.damaged.push(sha.clone());
            } else {
                to.put(sha, &bytes).await?;
                drop(bytes);
                // Read back rather than trust the PUT's answer: what counts is what a failover
                // machine will get.
                if sha256_hex(&to.get(sha).await?) == *sha {
                    out.copied += 1;
                } else {
                    out.mismatched.push(sha.clone());
                }
            }
        }
        progress(i + 1, names.len());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_damaged_local_original_is_named_and_not_copied() {
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let (from, to) = (ObjectStore::new(a.path()), ObjectStore::new(b.path()));
        let good = sha256_hex(b"good");
        from.put(&good, b"good").await.unwrap();
        let bad = sha256_hex(b"was this");
        from.put(&bad, b"was this").await.unwrap();
        std::fs::write(from.local_path(&bad).unwrap(), b"now that").unwrap();

        let done = copy_objects(&from, &to, |_, _| {}).await.unwrap();
        assert_eq!((done.found, done.copied, done.present), (2, 1, 0));
        assert_eq!(done.damaged, vec![bad.clone()]);
        assert!(!to.exists(&bad).await.unwrap());
        let again = copy_objects(&from, &to, |_, _| {}).await.unwrap();
        assert_eq!(
            (again.copied, again.present),
            (0, 1),
            "a re-run sends nothing twice"
        );
    }
}
