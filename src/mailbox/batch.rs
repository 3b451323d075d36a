//! A fetched batch recorded together (issue 12 item 1): one statement marks the messages in
//! flight, the pipeline decides them on the cores and makes their originals durable, and one
//! transaction records them all with the folder's mark, under the leader's fence. A batch with a
//! message that failed before or was in flight at a crash, or a commit refused for one message's
//! sake, goes one message at a time instead, where attempts are charged to each message, so
//! that only the faulty one is given up on.

use super::record::{record, tally, Fetched, PollOutcome};
use super::MailboxError;
use crate::config::Settings;
use crate::pipeline::batch::{self, Item, Prepared};
use crate::pipeline::{self, PipelineError};
use crate::store::progress::{self, Folder};
use crate::store::{Saved, Store};
use std::sync::Arc;
use tracing::{debug, info, warn};

/// A UID of the batch, with its message unless it vanished before it could be fetched.
pub(super) type Entry = (u32, Option<Fetched>);

/// Records `entries` (ascending UIDs) and moves the folder's mark past them; returns the UIDs
/// to flag, in order. On `Err` nothing after the last commit is recorded and the uncommitted
/// messages are released: they are fetched again on the next pass.
pub(super) async fn record_batch(
    settings: &Arc<Settings>,
    store: &Store,
    folder: &str,
    uv: u32,
    entries: &[Entry],
    out: &mut PollOutcome,
) -> Result<Vec<u32>, MailboxError> {
    let account = settings.mailbox.account();
    let at = Folder::new(&account, folder, uv);
    let pool = &store.pool;
    let uids = fetched_uids(entries);
    if !progress::claim_batch(pool, at, &uids).await? {
        // One of them failed before, or was in flight when the process died: alone, it is
        // charged and given up on by itself, never with the rest of its batch.
        return one_by_one(settings, store, folder, uv, entries, out).await;
    }
    let mut marked = Vec::with_capacity(uids.len());
    let mut rest = entries;
    while !rest.is_empty() {
        let (done, outcomes) = match commit_prefix(settings, store, folder, uv, rest).await {
            Ok(r) => r,
            Err(e) if e.is_transient() || e.is_fenced() => {
                let _ = progress::release_batch(pool, at, &fetched_uids(rest)).await;
                return Err(e.into());
            }
            Err(e) => {
                warn!(folder, error = %e, "a batch could not be recorded together; one message at a time");
                marked.extend(one_by_one(settings, store, folder, uv, rest, out).await?);
                return Ok(marked);
            }
        };
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
    Ok(marked)
}

/// Decides the messages of `entries`, then commits as many as can go together (all of them
/// unless a later message's sender is learned from an earlier one), with the mark. Returns how
/// many entries are done and what became of each message among them.
async fn commit_prefix(
    settings: &Arc<Settings>,
    store: &Store,
    folder: &str,
    uv: u32,
    entries: &[Entry],
) -> Result<(usize, Vec<Saved>), PipelineError> {
    // The fetched entries' positions, and their messages (the bytes shared, not copied).
    let (positions, items): (Vec<usize>, Vec<Item>) = entries
        .iter()
        .enumerate()
        .filter_map(|(i, (uid, f))| {
            let f = f.as_ref()?;
            Some((
                i,
                Item {
                    raw: Arc::clone(&f.bytes),
                    source: super::source(folder, uv, *uid),
                    internal_date: f.internal_date,
                },
            ))
        })
        .unzip();
    let prepared = batch::prepare(settings, store, &items).await?;
    drop(items);
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
    Ok((done, outcomes))
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
