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
use std::collections::HashMap;
use std::future::Future;
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

async fn poll_folder(
    settings: &Settings,
    store: &Store,
    conn: &mut Connected,
    folder: &str,
    uidvalidity: u32,
    shutdown: &Shutdown,
) -> Result<PollOutcome, MailboxError> {
    let cfg = &settings.mailbox;
    let account = cfg.account();
    let pool = &store.pool;
    let uv = uidvalidity;
    let at = Folder::new(&account, folder, uv);
    let mut last = match progress::load(pool, &account, folder).await? {
        Some(p) if p.uidvalidity == uv => p.last_uid,
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
            progress::save(pool, &account, folder, fresh).await?;
            // The rescan tries every message again, a given-up one too (under its new UID):
            // rows of the old UIDVALIDITY could never be fetched, and would stay listed.
            progress::forget_uidvalidity_other_than(pool, at).await?;
            0
        }
    };
    let mut out = PollOutcome {
        last_uid: last,
        ..PollOutcome::default()
    };
    // Unsolicited EXISTS/EXPUNGE are not needed: the search below is the truth.
    while conn.session.unsolicited_responses.try_recv().is_ok() {}
    let retries = progress::retries(pool, at).await?;
    if !retries.is_empty() {
        retry_given_up(
            settings, store, conn, folder, uv, &retries, shutdown, &mut out,
        )
        .await?;
    }
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
    out.found = uids.len();
    if uids.is_empty() {
        return Ok(out);
    }
    debug!(folder, count = uids.len(), "new messages");
    let meta: HashMap<u32, (u32, Option<DateTime<Utc>>)> = {
        let fetched = uid_fetch(
            conn,
            "fetching sizes",
            uid_set(&uids),
            "(UID RFC822.SIZE INTERNALDATE)",
        )
        .await?;
        fetched
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
            .collect()
    };

    // Messages fetched in batches, several per round trip, each batch capped by bytes so that
    // memory stays bounded whatever the message count; the next batch is fetched while this one
    // is processed, and each is recorded in one commit (mailbox/batch.rs).
    let mut ahead: Option<(Vec<u32>, Bodies)> = None;
    let mut pos = 0;
    while pos < uids.len() {
        if shutdown.is_fired() {
            out.interrupted = true;
            break;
        }
        crate::liveness::MAILBOX.beat(Duration::ZERO);
        let uid = uids[pos];
        let Some(&(size, internal_date)) = meta.get(&uid) else {
            // Deleted by someone (the coordinator in webmail) after the search: nothing to read.
            info!(folder, uid, "message vanished before it could be fetched");
            progress::advance(pool, at, uid).await?;
            out.vanished += 1;
            last = uid;
            pos += 1;
            continue;
        };
        if u64::from(size) > cfg.max_message_size {
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
                    bytes,
                };
                record(settings, store, folder, uv, &message, &mut out).await?;
                mark(cfg, conn, &[uid]).await;
            } else {
                info!(folder, uid, "message vanished before it could be fetched");
                out.vanished += 1;
            }
            progress::advance(pool, at, uid).await?;
            last = uid;
            pos += 1;
            continue;
        }
        let planned = plan(&uids[pos..], &meta, cfg.max_message_size);
        let mut bodies = match ahead.take() {
            Some((p, bodies)) if p == planned => bodies,
            _ => fetch_bodies(conn, &planned, &meta).await?,
        };
        let entries: Vec<batch::Entry> = planned
            .iter()
            .map(|&u| {
                let fetched = match (meta.get(&u), bodies.remove(&u)) {
                    (Some(&(size, internal_date)), Some(bytes)) => Some(Fetched {
                        uid: u,
                        size,
                        internal_date,
                        oversized: false,
                        bytes,
                    }),
                    _ => None,
                };
                (u, fetched)
            })
            .collect();
        drop(bodies);
        pos += planned.len();
        let next = plan(&uids[pos..], &meta, cfg.max_message_size);
        let (recorded, fetched_next) = tokio::join!(
            batch::record_batch(settings, store, folder, uv, &entries, &mut out),
            async {
                if next.is_empty() || shutdown.is_fired() {
                    return Ok(None);
                }
                fetch_bodies(conn, &next, &meta).await.map(Some)
            }
        );
        drop(entries);
        let marked = recorded?;
        mark(cfg, conn, &marked).await;
        ahead = fetched_next?.map(|b| (next, b));
        last = planned.last().copied().unwrap_or(last);
    }
    out.last_uid = last;
    Ok(out)
}

/// Messages' bytes by UID, as one `UID FETCH` returned them.
type Bodies = HashMap<u32, Vec<u8>>;

/// The given-up messages `reportbox retry` asked for, fetched one by one (they are few) and
/// recorded like new ones. The folder's mark is not moved back: only these are read again.
#[allow(clippy::too_many_arguments)]
async fn retry_given_up(
    settings: &Settings,
    store: &Store,
    conn: &mut Connected,
    folder: &str,
    uv: u32,
    uids: &[u32],
    shutdown: &Shutdown,
    out: &mut PollOutcome,
) -> Result<(), MailboxError> {
    let cfg = &settings.mailbox;
    let account = cfg.account();
    let at = Folder::new(&account, folder, uv);
    let pool = &store.pool;
    let meta: HashMap<u32, (u32, Option<DateTime<Utc>>)> = uid_fetch(
        conn,
        "fetching sizes",
        uid_set(uids),
        "(UID RFC822.SIZE INTERNALDATE)",
    )
    .await?
    .iter()
    .filter_map(|f| {
        let date = f.internal_date().map(|d| d.with_timezone(&Utc));
        Some((f.uid?, (f.size.unwrap_or(0), date)))
    })
    .collect();
    for &uid in uids {
        if shutdown.is_fired() {
            out.interrupted = true;
            return Ok(());
        }
        crate::liveness::MAILBOX.beat(Duration::ZERO);
        let Some(&(size, internal_date)) = meta.get(&uid) else {
            info!(folder, uid, "a message to retry is no longer in the folder");
            let gone = "邮件已不在邮箱文件夹中，无法重新收取";
            progress::record_error(pool, at, uid, gone, true).await?;
            continue;
        };
        let oversized = u64::from(size) > cfg.max_message_size;
        let query = if oversized {
            "(UID BODY.PEEK[HEADER])"
        } else {
            "(UID BODY.PEEK[])"
        };
        let fetched = uid_fetch(conn, "fetching a message", uid.to_string(), query).await?;
        let bytes = fetched.iter().find(|f| f.uid == Some(uid)).and_then(|f| {
            if oversized {
                f.header().map(<[u8]>::to_vec)
            } else {
                f.body().map(<[u8]>::to_vec)
            }
        });
        let Some(bytes) = bytes else {
            let gone = "邮件已不在邮箱文件夹中，无法重新收取";
            progress::record_error(pool, at, uid, gone, true).await?;
            continue;
        };
        info!(folder, uid, "fetching a given-up message again, as asked");
        out.retried += 1;
        let message = Fetched {
            uid,
            size,
            internal_date,
            oversized,
            bytes,
        };
        if record(settings, store, folder, uv, &message, out).await? == Recorded::Done {
            progress::forget(pool, at, uid).await?;
            mark(cfg, conn, &[uid]).await;
        }
    }
    Ok(())
}

/// At most this many bytes (by RFC822.SIZE) of messages are fetched in one round trip. Two
/// batches are in memory at once (one processed with its decoded files, the next fetched):
/// measured on the drain benchmark, 64 messages a batch peaked at 66 MiB RSS, 32 at 47-52 MiB
/// for about the same time, within issue 12's 64 MiB + 2x the largest message.
const FETCH_AHEAD_BYTES: u64 = 8 << 20;
/// And at most this many messages.
const FETCH_AHEAD_COUNT: usize = 32;

/// The next batch: the UIDs at the start of `uids`, up to the first oversized message (fetched
/// header only, by itself), as many as fit in [`FETCH_AHEAD_BYTES`] and [`FETCH_AHEAD_COUNT`]
/// (always at least one). A UID without a size vanished after the search; it rides along.
fn plan(
    uids: &[u32],
    meta: &HashMap<u32, (u32, Option<DateTime<Utc>>)>,
    max_message_size: u64,
) -> Vec<u32> {
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
    meta: &HashMap<u32, (u32, Option<DateTime<Utc>>)>,
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
