//! One step in one folder ([`poll_once`]): find the messages after the folder's mark, fetch
//! them several per round trip, record each through the pipeline (attempts counted in
//! `mailbox_failures`, given up on after `max_attempts`), flag or copy it, move the mark; and
//! fetch again the given-up messages `reportbox retry` asked for.

use super::batch;
use super::client::Connected;
pub use super::record::PollOutcome;
use super::record::{record, Fetched, Recorded};
use super::{MailboxError, MailboxSettings, Shutdown};
use crate::config::Settings;
use crate::store::progress::{self, Folder, Progress};
use crate::store::Store;
use chrono::{DateTime, Utc};
use futures_util::TryStreamExt;
use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tracing::{debug, info, warn};

/// How long one IMAP command may take before the connection is given up as dead.
pub(super) const COMMAND_TIMEOUT: Duration = Duration::from_secs(120);

pub(super) async fn timed<T, E: Into<MailboxError>>(
    what: &'static str,
    f: impl Future<Output = Result<T, E>>,
) -> Result<T, MailboxError> {
    match tokio::time::timeout(COMMAND_TIMEOUT, f).await {
        Ok(r) => r.map_err(Into::into),
        Err(_) => Err(MailboxError::Timeout(what)),
    }
}

/// One `UID FETCH`, its whole answer collected, within the command time limit.
async fn uid_fetch(
    conn: &mut Connected,
    what: &'static str,
    set: String,
    query: &str,
) -> Result<Vec<async_imap::types::Fetch>, MailboxError> {
    timed(what, async {
        conn.session
            .uid_fetch(set, query)
            .await?
            .try_collect::<Vec<_>>()
            .await
    })
    .await
}

/// `1:3,7,9:10` for the sorted UIDs given.
pub fn uid_set(uids: &[u32]) -> String {
    let mut out = String::new();
    let mut i = 0;
    while i < uids.len() {
        let start = uids[i];
        let mut end = start;
        while i + 1 < uids.len() && uids[i + 1] == end + 1 {
            i += 1;
            end = uids[i];
        }
        if !out.is_empty() {
            out.push(',');
        }
        if start == end {
            out.push_str(&start.to_string());
        } else {
            out.push_str(&format!("{start}:{end}"));
        }
        i += 1;
    }
    out
}

/// One step in `folder`, which `conn` has selected with `uidvalidity`: find the messages after
/// the folder's mark, fetch each (`BODY.PEEK[]`, so nothing is marked read), run it through the
/// pipeline, then flag/copy it and move the mark. Flags are never consulted: a message the
/// coordinator already read is processed like any other.
pub async fn poll_once(
    settings: &Settings,
    store: &Store,
    conn: &mut Connected,
    folder: &str,
    uidvalidity: u32,
    shutdown: &Shutdown,
) -> Result<PollOutcome, MailboxError> {
    let out = poll_folder(settings, store, conn, folder, uidvalidity, shutdown).await?;
    if !out.interrupted {
        let account = settings.mailbox.account();
        progress::polled(&store.pool, &account, folder).await?;
    }
    Ok(out)
}

/// The pass over one folder: the given-up messages asked for again, then the new ones.
async fn poll_folder(
    settings: &Settings,
    store: &Store,
    conn: &mut Connected,
    folder: &str,
    uidvalidity: u32,
    shutdown: &Shutdown,
) -> Result<PollOutcome, MailboxError> {
    let account = settings.mailbox.account();
    let pass = Pass {
        settings,
        store,
        folder,
        uv: uidvalidity,
        at: Folder::new(&account, folder, uidvalidity),
        shutdown,
        shared: OnceLock::new(),
    };
    let last = pass.folder_mark().await?;
    let mut out = PollOutcome {
        last_uid: last,
        ..PollOutcome::default()
    };
    // Unsolicited EXISTS/EXPUNGE are not needed: the search below is the truth.
    while conn.session.unsolicited_responses.try_recv().is_ok() {}
    let retries = progress::retries(&store.pool, pass.at).await?;
    if !retries.is_empty() {
        pass.retry_given_up(conn, &retries, &mut out).await?;
    }
    let uids = new_uids(conn, last).await?;
    out.found = uids.len();
    if uids.is_empty() {
        return Ok(out);
    }
    debug!(folder, count = uids.len(), "new messages");
    let meta = sizes_and_dates(conn, &uids).await?;
    out.last_uid = pass.record_new(conn, &uids, &meta, last, &mut out).await?;
    Ok(out)
}

/// Messages' bytes by UID, as one `UID FETCH` returned them.
type Bodies = HashMap<u32, Vec<u8>>;

/// Each message's RFC822.SIZE and INTERNALDATE by UID; a UID missing was expunged.
type Sizes = HashMap<u32, (u32, Option<DateTime<Utc>>)>;

/// UIDs after `last`, in order.
async fn new_uids(conn: &mut Connected, last: u32) -> Result<Vec<u32>, MailboxError> {
    // `n:*` always matches the highest UID even when it is below n.
    let mut uids: Vec<u32> = timed(
        "searching",
        conn.session.uid_search(format!("UID {}:*", last + 1)),
    )
    .await?
    .into_iter()
    .filter(|u| *u > last)
    .collect();
    uids.sort_unstable();
    Ok(uids)
}

/// The sizes and dates of `uids` in one `UID FETCH`, to plan batches and spot oversized mail.
async fn sizes_and_dates(conn: &mut Connected, uids: &[u32]) -> Result<Sizes, MailboxError> {
    let fetched = uid_fetch(
        conn,
        "fetching sizes",
        uid_set(uids),
        "(UID RFC822.SIZE INTERNALDATE)",
    )
    .await?;
    Ok(fetched
        .iter()
        .filter_map(|f| {
            Some((
                f.uid?,
                (
                    f.size.unwrap_or(0),
                    f.internal_date().map(|d| d.with_timezone(&Utc)),
                ),
            ))
        })
        .collect())
}

/// One folder under one UIDVALIDITY, as one pass reads it.
struct Pass<'a> {
    settings: &'a Settings,
    store: &'a Store,
    folder: &'a str,
    uv: u32,
    at: Folder<'a>,
    shutdown: &'a Shutdown,
    /// `settings` for the batches' jobs on the blocking pool, which need them owned: cloned
    /// once, when the pass has a batch to record.
    shared: OnceLock<Arc<Settings>>,
}

impl Pass<'_> {
    fn shared(&self) -> &Arc<Settings> {
        self.shared.get_or_init(|| Arc::new(self.settings.clone()))
    }

    /// The last UID done under this UIDVALIDITY. A new folder, or one whose UIDVALIDITY
    /// changed, starts again from 0.
    async fn folder_mark(&self) -> Result<u32, MailboxError> {
        let (pool, account, folder, uv) = (&self.store.pool, self.at.account, self.folder, self.uv);
        match progress::load(pool, account, folder).await? {
            Some(p) if p.uidvalidity == uv => Ok(p.last_uid),
            other => {
                if let Some(p) = other {
                    warn!(
                        folder,
                        old = p.uidvalidity,
                        new = uv,
                        "UIDVALIDITY changed: scanning the folder again; messages already recorded are recognised and not counted twice"
                    );
                }
                let fresh = Progress {
                    uidvalidity: uv,
                    last_uid: 0,
                };
                progress::save(pool, account, folder, fresh).await?;
                // The rescan tries every message again, a given-up one too (under its new UID):
                // rows of the old UIDVALIDITY could never be fetched, and would stay listed.
                progress::forget_uidvalidity_other_than(pool, self.at).await?;
                Ok(0)
            }
        }
    }

    /// The new messages in UID order, each handled once and the mark moved past it: a vanished
    /// one, an oversized one by itself, the rest in batches. Returns the last UID done.
    ///
    /// Messages are fetched in batches, several per round trip, each batch capped by bytes so
    /// that memory stays bounded whatever the message count, and each is recorded in one commit
    /// (mailbox/batch.rs). Three batches move at once: while one is committed (the database's
    /// work), the next is decided and its originals stored (the cores' and the disk's), and the
    /// one after is fetched (the IMAP server's).
    async fn record_new(
        &self,
        conn: &mut Connected,
        uids: &[u32],
        meta: &Sizes,
        mut last: u32,
        out: &mut PollOutcome,
    ) -> Result<u32, MailboxError> {
        let mut pending = None;
        let result = self
            .record_in_batches(conn, uids, meta, &mut last, &mut pending, out)
            .await;
        if let Some(p) = pending {
            // Staged, never committed: fetched and decided again on the next pass, uncharged.
            batch::release(
                self.settings,
                self.store,
                self.folder,
                self.uv,
                &p.entries,
                &p.staged,
            )
            .await;
        }
        result.map(|()| last)
    }

    async fn record_in_batches(
        &self,
        conn: &mut Connected,
        uids: &[u32],
        meta: &Sizes,
        last: &mut u32,
        pending: &mut Option<Pending>,
        out: &mut PollOutcome,
    ) -> Result<(), MailboxError> {
        let max_size = self.settings.mailbox.max_message_size;
        let mut ahead: Option<(Vec<u32>, Bodies)> = None;
        let mut pos = 0;
        while pos < uids.len() {
            if self.shutdown.is_fired() {
                out.interrupted = true;
                break;
            }
            crate::liveness::MAILBOX.beat(Duration::ZERO);
            let uid = uids[pos];
            let Some(&(size, internal_date)) = meta.get(&uid) else {
                // The mark moves past it: the batch before it is committed first.
                self.flush(conn, pending, last, out).await?;
                self.vanished(uid, out).await?;
                *last = uid;
                pos += 1;
                continue;
            };
            if u64::from(size) > max_size {
                self.flush(conn, pending, last, out).await?;
                self.record_oversized(conn, uid, size, internal_date, out)
                    .await?;
                *last = uid;
                pos += 1;
                continue;
            }
            let planned = plan(&uids[pos..], meta, max_size);
            pos += planned.len();
            let mut next = plan(&uids[pos..], meta, max_size);
            if bytes_of(&planned, meta) + bytes_of(&next, meta) > 2 * FETCH_AHEAD_BYTES {
                // One of them is a message larger than a batch: fetched ahead, it would be in
                // memory beside this one's bytes and decoded files (three 70.8 MB messages in a
                // row peaked at 234 MiB, over issue 12's 64 MiB + 2x one of them; 157 MiB when
                // fetched in turn). It is fetched when its turn comes.
                next.clear();
            }
            if bytes_of(&planned, meta) > FETCH_AHEAD_BYTES {
                // One message larger than a batch: with the batch before it and the one after
                // also in memory, memory would grow by a third such message. It waits.
                self.flush(conn, pending, last, out).await?;
            }
            let mut bodies = match ahead.take() {
                Some((p, bodies)) if p == planned => bodies,
                _ => fetch_bodies(conn, &planned, meta).await?,
            };
            let entries = entries(&planned, meta, &mut bodies);
            drop(bodies);
            ahead = self
                .step(conn, planned, entries, next, meta, pending, last, out)
                .await?;
        }
        self.flush(conn, pending, last, out).await
    }

    /// Commits the `pending` batch while `entries` (`planned`) is staged and the `next` batch
    /// fetched; `entries` becomes the pending batch. Returns the next batch with its bodies,
    /// when they were fetched.
    #[allow(clippy::too_many_arguments)]
    async fn step(
        &self,
        conn: &mut Connected,
        planned: Vec<u32>,
        entries: Vec<batch::Entry>,
        next: Vec<u32>,
        meta: &Sizes,
        pending: &mut Option<Pending>,
        last: &mut u32,
        out: &mut PollOutcome,
    ) -> Result<Option<(Vec<u32>, Bodies)>, MailboxError> {
        let (settings, store, folder, uv) = (self.shared(), self.store, self.folder, self.uv);
        let before = pending.take();
        let (committed, staged, fetched_next) = tokio::join!(
            async {
                let Some(p) = before else {
                    return Ok(None);
                };
                let taught = p.taught_before.as_ref();
                let c = batch::commit(
                    settings, store, folder, uv, &p.entries, p.staged, taught, out,
                )
                .await?;
                // Its bytes go now, not with the next batch's.
                drop(p.entries);
                Ok::<_, MailboxError>(Some((c, p.planned.last().copied())))
            },
            batch::stage(settings, store, folder, uv, &entries),
            async {
                if next.is_empty() || self.shutdown.is_fired() {
                    return Ok(None);
                }
                fetch_bodies(conn, &next, meta).await.map(Some)
            }
        );
        let taught_before = match committed {
            Ok(Some((c, done))) => {
                mark(&settings.mailbox, conn, &c.marked).await;
                *last = done.unwrap_or(*last);
                c.taught
            }
            Ok(None) => Some(HashSet::new()),
            Err(e) => {
                if let Ok(s) = &staged {
                    batch::release(settings, store, folder, uv, &entries, s).await;
                }
                return Err(e);
            }
        };
        *pending = Some(Pending {
            planned,
            entries,
            staged: staged?,
            taught_before,
        });
        match fetched_next {
            Ok(bodies) => Ok(bodies.map(|b| (next, b))),
            Err(e) => {
                // The IMAP session failed; what is staged is recorded before the error goes up.
                self.flush(conn, pending, last, out).await?;
                Err(e)
            }
        }
    }

    /// Commits the pending batch, if any, and flags its messages.
    async fn flush(
        &self,
        conn: &mut Connected,
        pending: &mut Option<Pending>,
        last: &mut u32,
        out: &mut PollOutcome,
    ) -> Result<(), MailboxError> {
        let Some(p) = pending.take() else {
            return Ok(());
        };
        let c = batch::commit(
            self.shared(),
            self.store,
            self.folder,
            self.uv,
            &p.entries,
            p.staged,
            p.taught_before.as_ref(),
            out,
        )
        .await?;
        mark(&self.settings.mailbox, conn, &c.marked).await;
        *last = p.planned.last().copied().unwrap_or(*last);
        Ok(())
    }

    /// Deleted by someone (the coordinator in webmail) after the search: nothing to read.
    async fn vanished(&self, uid: u32, out: &mut PollOutcome) -> Result<(), MailboxError> {
        info!(
            folder = self.folder,
            uid, "message vanished before it could be fetched"
        );
        progress::advance(&self.store.pool, self.at, uid).await?;
        out.vanished += 1;
        Ok(())
    }

    /// A message over `max_message_size`, by itself: its header block alone is fetched and
    /// recorded (with `file.too_large`), then marked. The mark moves past it either way.
    async fn record_oversized(
        &self,
        conn: &mut Connected,
        uid: u32,
        size: u32,
        internal_date: Option<DateTime<Utc>>,
        out: &mut PollOutcome,
    ) -> Result<(), MailboxError> {
        let fetched = uid_fetch(
            conn,
            "fetching a message's header",
            uid.to_string(),
            "(UID BODY.PEEK[HEADER])",
        )
        .await?;
        let header = fetched
            .iter()
            .find(|f| f.uid == Some(uid))
            .and_then(|f| f.header().map(<[u8]>::to_vec));
        if let Some(bytes) = header {
            let message = Fetched {
                uid,
                size,
                internal_date,
                oversized: true,
                bytes: Arc::new(bytes),
            };
            record(
                self.settings,
                self.store,
                self.folder,
                self.uv,
                &message,
                out,
            )
            .await?;
            mark(&self.settings.mailbox, conn, &[uid]).await;
        } else {
            info!(
                folder = self.folder,
                uid, "message vanished before it could be fetched"
            );
            out.vanished += 1;
        }
        progress::advance(&self.store.pool, self.at, uid).await?;
        Ok(())
    }

    /// The given-up messages `reportbox retry` asked for, fetched one by one (they are few) and
    /// recorded like new ones. The folder's mark is not moved back: only these are read again.
    async fn retry_given_up(
        &self,
        conn: &mut Connected,
        uids: &[u32],
        out: &mut PollOutcome,
    ) -> Result<(), MailboxError> {
        let (settings, store, folder, uv) = (self.settings, self.store, self.folder, self.uv);
        let cfg = &settings.mailbox;
        let pool = &store.pool;
        let meta = sizes_and_dates(conn, uids).await?;
        for &uid in uids {
            if self.shutdown.is_fired() {
                out.interrupted = true;
                return Ok(());
            }
            crate::liveness::MAILBOX.beat(Duration::ZERO);
            let gone = "邮件已不在邮箱文件夹中，无法重新收取";
            let Some(&(size, internal_date)) = meta.get(&uid) else {
                info!(folder, uid, "a message to retry is no longer in the folder");
                progress::record_error(pool, self.at, uid, gone, true).await?;
                continue;
            };
            let oversized = u64::from(size) > cfg.max_message_size;
            let Some(bytes) = fetch_one(conn, uid, oversized).await? else {
                progress::record_error(pool, self.at, uid, gone, true).await?;
                continue;
            };
            info!(folder, uid, "fetching a given-up message again, as asked");
            out.retried += 1;
            let message = Fetched {
                uid,
                size,
                internal_date,
                oversized,
                bytes: Arc::new(bytes),
            };
            if record(settings, store, folder, uv, &message, out).await? == Recorded::Done {
                progress::forget(pool, self.at, uid).await?;
                mark(cfg, conn, &[uid]).await;
            }
        }
        Ok(())
    }
}

/// One message's bytes (its header block alone when `oversized`); `None` when it was expunged.
async fn fetch_one(
    conn: &mut Connected,
    uid: u32,
    oversized: bool,
) -> Result<Option<Vec<u8>>, MailboxError> {
    let query = if oversized {
        "(UID BODY.PEEK[HEADER])"
    } else {
        "(UID BODY.PEEK[])"
    };
    let fetched = uid_fetch(conn, "fetching a message", uid.to_string(), query).await?;
    Ok(fetched.iter().find(|f| f.uid == Some(uid)).and_then(|f| {
        if oversized {
            f.header().map(<[u8]>::to_vec)
        } else {
            f.body().map(<[u8]>::to_vec)
        }
    }))
}

/// The batch's messages paired with their bodies, taken out of `bodies`; `None` for one that
/// vanished after the search (the batch counts it as vanished).
/// A batch staged while the one before it was committed, waiting for its own commit.
struct Pending {
    planned: Vec<u32>,
    entries: Vec<batch::Entry>,
    staged: batch::Staged,
    /// What the commit that ran beside its staging taught (see [`batch::commit`]).
    taught_before: Option<HashSet<String>>,
}

/// The bytes of `uids` by RFC822.SIZE.
fn bytes_of(uids: &[u32], meta: &Sizes) -> u64 {
    uids.iter()
        .map(|u| meta.get(u).map_or(0, |&(size, _)| u64::from(size)))
        .sum()
}

fn entries(planned: &[u32], meta: &Sizes, bodies: &mut Bodies) -> Vec<batch::Entry> {
    planned
        .iter()
        .map(|&u| {
            let fetched = match (meta.get(&u), bodies.remove(&u)) {
                (Some(&(size, internal_date)), Some(bytes)) => Some(Fetched {
                    uid: u,
                    size,
                    internal_date,
                    oversized: false,
                    bytes: Arc::new(bytes),
                }),
                _ => None,
            };
            (u, fetched)
        })
        .collect()
}

/// At most this many bytes (by RFC822.SIZE) of messages are fetched in one round trip. Three
/// batches are in memory at once (one committed, one processed with its decoded files, the
/// next fetched). Measured on the drain benchmark with two at once, 64 messages a batch peaked
/// at 66 MiB RSS, 32 at 47-52 MiB for about the same time; with three, 32 peaked at 52-53 MiB
/// (2,000 messages), within issue 12's 64 MiB + 2x the largest message.
const FETCH_AHEAD_BYTES: u64 = 8 << 20;
/// And at most this many messages.
const FETCH_AHEAD_COUNT: usize = 32;

/// The next batch: the UIDs at the start of `uids`, up to the first oversized message (fetched
/// header only, by itself), as many as fit in [`FETCH_AHEAD_BYTES`] and [`FETCH_AHEAD_COUNT`]
/// (always at least one). A UID without a size vanished after the search; it rides along.
fn plan(uids: &[u32], meta: &Sizes, max_message_size: u64) -> Vec<u32> {
    let mut batch = Vec::new();
    let mut bytes = 0u64;
    for &uid in uids {
        let size = meta.get(&uid).map_or(0, |&(size, _)| u64::from(size));
        if size > max_message_size {
            break;
        }
        if !batch.is_empty()
            && (bytes + size > FETCH_AHEAD_BYTES || batch.len() >= FETCH_AHEAD_COUNT)
        {
            break;
        }
        bytes += size;
        batch.push(uid);
    }
    batch
}

/// The bodies of `uids` in one `UID FETCH`; a message missing from the answer was expunged.
async fn fetch_bodies(
    conn: &mut Connected,
    uids: &[u32],
    meta: &Sizes,
) -> Result<Bodies, MailboxError> {
    let present: Vec<u32> = uids
        .iter()
        .copied()
        .filter(|u| meta.contains_key(u))
        .collect();
    if present.is_empty() {
        return Ok(HashMap::new());
    }
    let fetched = uid_fetch(
        conn,
        "fetching messages",
        uid_set(&present),
        "(UID BODY.PEEK[])",
    )
    .await?;
    Ok(fetched
        .iter()
        .filter_map(|f| Some((f.uid?, f.body()?.to_vec())))
        .collect())
}

/// After the commit: the optional keyword and copy, for all of `uids` in one command each.
/// Failing here loses nothing (the messages are recorded), so it is logged and not retried.
async fn mark(cfg: &MailboxSettings, conn: &mut Connected, uids: &[u32]) {
    if uids.is_empty() {
        return;
    }
    let set = uid_set(uids);
    if !cfg.processed_keyword.is_empty() {
        let r = timed("flagging", async {
            conn.session
                .uid_store(
                    set.clone(),
                    format!("+FLAGS.SILENT ({})", cfg.processed_keyword),
                )
                .await?
                .try_collect::<Vec<_>>()
                .await
        })
        .await;
        if let Err(e) = r {
            warn!(uids = %set, error = %e, "could not set the processed keyword");
        }
    }
    if let Some(dest) = &cfg.copy_to_folder {
        let wire = super::utf7::encode(dest);
        if let Err(e) = timed("copying", conn.session.uid_copy(set.clone(), &wire)).await {
            warn!(uids = %set, folder = %dest, error = %e, "could not copy the message");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uid_sets_collapse_runs() {
        assert_eq!(uid_set(&[1, 2, 3, 7, 9, 10]), "1:3,7,9:10");
        assert_eq!(uid_set(&[5]), "5");
        assert_eq!(uid_set(&[]), "");
    }
}
