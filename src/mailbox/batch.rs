//! A fetched batch recorded together (issue 12 item 1), in two steps the mailbox loop runs
//! beside other batches' (mailbox/poll.rs): [`stage`] marks the messages in flight in one
//! statement and has the pipeline decide them on the cores and make their originals durable;
//! [`commit`] records them all with the folder's mark in one transaction, under the leader's
//! fence. A batch with a message that failed before or was in flight at a crash, or a commit
//! refused for one message's sake, goes one message at a time instead, where attempts are
//! charged to each message, so that only the faulty one is given up on.

use super::record::{record, tally, Fetched, PollOutcome};
use super::MailboxError;
use crate::config::Settings;
use crate::pipeline::batch::{self, Item, Prepared};
use crate::pipeline::{self, PipelineError};
use crate::store::progress::{self, Folder};
use crate::store::{Saved, Store};
use std::collections::HashSet;
use std::sync::Arc;
use tracing::{debug, info, warn};

/// A UID of the batch, with its message unless it vanished before it could be fetched.
pub(super) type Entry = (u32, Option<Fetched>);

/// A batch claimed and decided, its originals durable, waiting for its commit: the mailbox
/// loop stages a batch while the one before it is committed (mailbox/poll.rs).
pub(super) enum Staged {
    /// A message of it failed before, or was in flight when the process died: alone, it is
    /// charged and given up on by itself, never with the rest of its batch.
    Alone,
    Ready(Vec<Prepared>),
    /// Deciding it or storing its originals failed: its commit fails as the batch would have.
    Failed(PipelineError),
}

/// What committing a batch did.
pub(super) struct Committed {
    /// The UIDs to flag, in order.
    pub marked: Vec<u32>,
    /// The addresses its messages taught; `None` when some went one at a time and nobody
    /// counted (the next batch is then decided again).
    pub taught: Option<HashSet<String>>,
}

/// Marks the messages of `entries` in flight and decides them; nothing is recorded. On `Err`
/// nothing was claimed.
pub(super) async fn stage(
    settings: &Arc<Settings>,
    store: &Store,
    folder: &str,
    uv: u32,
    entries: &[Entry],
) -> Result<Staged, MailboxError> {
    let account = settings.mailbox.account();
    let at = Folder::new(&account, folder, uv);
    if !progress::claim_batch(&store.pool, at, &fetched_uids(entries)).await? {
        return Ok(Staged::Alone);
    }
    Ok(
        match batch::prepare(settings, store, &items(folder, uv, entries)).await {
            Ok(p) => Staged::Ready(p),
            Err(e) => Staged::Failed(e),
        },
    )
}

/// Takes back a staged batch that will not be committed now (the batch before it failed):
/// its messages are fetched again on the next pass, not charged.
pub(super) async fn release(
    settings: &Settings,
    store: &Store,
    folder: &str,
    uv: u32,
    entries: &[Entry],
    staged: &Staged,
) {
    if !matches!(staged, Staged::Alone) {
        let account = settings.mailbox.account();
        let at = Folder::new(&account, folder, uv);
        let _ = progress::release_batch(&store.pool, at, &fetched_uids(entries)).await;
    }
}

/// Records the `staged` batch `entries` (ascending UIDs) and moves the folder's mark past
/// them. `taught_before` is what the batch committed while this one was decided taught:
/// decisions that missed it are made again. On `Err` nothing after the last commit is
/// recorded and the uncommitted messages are released: they are fetched again on the next
/// pass.
#[allow(clippy::too_many_arguments)]
pub(super) async fn commit(
    settings: &Arc<Settings>,
    store: &Store,
    folder: &str,
    uv: u32,
    entries: &[Entry],
    staged: Staged,
    taught_before: Option<&HashSet<String>>,
    out: &mut PollOutcome,
) -> Result<Committed, MailboxError> {
    let account = settings.mailbox.account();
    let at = Folder::new(&account, folder, uv);
    let mut ready = match staged {
        Staged::Alone => {
            let marked = one_by_one(settings, store, folder, uv, entries, out).await?;
            return Ok(Committed {
                marked,
                taught: None,
            });
        }
        Staged::Ready(p) => match taught_before {
            Some(t) if !batch::decided_too_early(&p, t) => Some(Ok(p)),
            _ => {
                info!(
                    folder,
                    "a sender is learned from the batch before: this one is decided again"
                );
                None
            }
        },
        Staged::Failed(e) => Some(Err(e)),
    };
    let mut marked = Vec::with_capacity(entries.len());
    let mut taught = HashSet::new();
    let mut rest = entries;
    while !rest.is_empty() {
        let result = match ready.take() {
            Some(Ok(prepared)) => {
                commit_prepared(settings, store, folder, uv, rest, prepared).await
            }
            Some(Err(e)) => Err(e),
            None => commit_prefix(settings, store, folder, uv, rest).await,
        };
        let (done, outcomes, learned) = match result {
            Ok(r) => r,
            Err(e) if e.is_transient() || e.is_fenced() => {
                let _ = progress::release_batch(&store.pool, at, &fetched_uids(rest)).await;
                return Err(e.into());
            }
            Err(e) => {
                warn!(folder, error = %e, "a batch could not be recorded together; one message at a time");
                marked.extend(one_by_one(settings, store, folder, uv, rest, out).await?);
                return Ok(Committed {
                    marked,
                    taught: None,
                });
            }
        };
        taught.extend(learned);
        for ((uid, f), saved) in rest[..done]
            .iter()
            .filter_map(|(u, f)| Some((u, f.as_ref()?)))
            .zip(&outcomes)
        {
            tally(out, saved, f.oversized);
            if let Saved::Recorded { id, .. } = saved {
                debug!(folder, uid, id, "recorded");
            }
            marked.push(*uid);
        }
        out.vanished += rest[..done].iter().filter(|(_, f)| f.is_none()).count();
        rest = &rest[done..];
    }
    Ok(Committed {
        marked,
        taught: Some(taught),
    })
}

/// The fetched messages of `entries`, their bytes shared, not copied.
fn items(folder: &str, uv: u32, entries: &[Entry]) -> Vec<Item> {
    entries
        .iter()
        .filter_map(|(uid, f)| {
            let f = f.as_ref()?;
            Some(Item {
                raw: Arc::clone(&f.bytes),
                source: super::source(folder, uv, *uid),
                internal_date: f.internal_date,
            })
        })
        .collect()
}

/// Decides the messages of `entries`, then commits as many as can go together.
async fn commit_prefix(
    settings: &Arc<Settings>,
    store: &Store,
    folder: &str,
    uv: u32,
    entries: &[Entry],
) -> Result<(usize, Vec<Saved>, HashSet<String>), PipelineError> {
    let prepared = batch::prepare(settings, store, &items(folder, uv, entries)).await?;
    commit_prepared(settings, store, folder, uv, entries, prepared).await
}

/// Commits as many of the decided `prepared` (one per fetched entry) as can go together (all
/// of them unless a later message's sender is learned from an earlier one), with the mark.
/// Returns how many entries are done, what became of each message among them and the
/// addresses they taught.
async fn commit_prepared(
    settings: &Arc<Settings>,
    store: &Store,
    folder: &str,
    uv: u32,
    entries: &[Entry],
    prepared: Vec<Prepared>,
) -> Result<(usize, Vec<Saved>, HashSet<String>), PipelineError> {
    let positions: Vec<usize> = entries
        .iter()
        .enumerate()
        .filter(|(_, (_, f))| f.is_some())
        .map(|(i, _)| i)
        .collect();
    let take = batch::independent_prefix(&prepared);
    // Entries up to the first message left for the next round (vanished UIDs before it go now).
    let done = positions.get(take).copied().unwrap_or(entries.len());
    if take < prepared.len() {
        info!(
            folder,
            committed = take,
            "a sender is learned within the batch: the rest is decided again after this commit"
        );
    }
    let mut tx = store.begin_recording().await?;
    let mut outcomes = Vec::with_capacity(take);
    for p in &prepared[..take] {
        outcomes.push(match p {
            Prepared::AlreadyStored { id } => Saved::AlreadyStored { id: *id },
            Prepared::New(m, None) => {
                pipeline::save_in(settings, store.campaign(), &mut tx, m)
                    .await?
                    .saved
            }
            Prepared::New(m, Some(r)) => {
                pipeline::save_in(&r.settings, r.campaign, &mut tx, m)
                    .await?
                    .saved
            }
        });
    }
    let chunk = &entries[..done];
    let last = chunk.iter().map(|(u, _)| *u).max().unwrap_or(0);
    let account = settings.mailbox.account();
    let at = Folder::new(&account, folder, uv);
    progress::advance_in(&mut tx, at, last, &fetched_uids(chunk))
        .await
        .map_err(crate::store::StoreError::from)?;
    tx.commit().await.map_err(crate::store::StoreError::from)?;
    Ok((done, outcomes, batch::taught(&prepared[..take])))
}

/// The same entries one message per transaction, as before batching: each charged, recorded,
/// given up on by itself.
async fn one_by_one(
    settings: &Settings,
    store: &Store,
    folder: &str,
    uv: u32,
    entries: &[Entry],
    out: &mut PollOutcome,
) -> Result<Vec<u32>, MailboxError> {
    let account = settings.mailbox.account();
    let at = Folder::new(&account, folder, uv);
    let mut marked = Vec::new();
    for (uid, fetched) in entries {
        match fetched {
            None => {
                info!(folder, uid, "message vanished before it could be fetched");
                out.vanished += 1;
            }
            Some(f) => {
                record(settings, store, folder, uv, f, out).await?;
                marked.push(*uid);
            }
        }
        progress::advance(&store.pool, at, *uid).await?;
    }
    Ok(marked)
}

fn fetched_uids(entries: &[Entry]) -> Vec<u32> {
    entries
        .iter()
        .filter(|(_, f)| f.is_some())
        .map(|(u, _)| *u)
        .collect()
}
