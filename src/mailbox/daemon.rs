//! The loop: lead (advisory lock) → connect → a pass over every configured folder (SELECT, then
//! [`poll_once`]) → wait (IDLE or poll) → again, with reconnects paced by `login_min_interval` and
//! an exponential backoff with jitter.
//!
//! Exactly-once rests on two things: the pipeline's dedupe (same bytes or same Message-ID never
//! count twice) and the rule that a folder's mark (`last_uid`) moves only after a message is
//! committed. A crash anywhere repeats at most the message in flight, which dedupe absorbs.
//!
//! One connection follows all folders. IDLE can watch only the selected folder, so it watches the
//! first (INBOX) and, when there are others, ends after `poll_interval` for the next pass: INBOX
//! mail is seen at once, the junk folder within `poll_interval`.

use super::client::{self, Connected, Selected};
use super::progress::{self, Progress};
use super::{IdleMode, MailboxError, MailboxSettings, Shutdown};
use crate::config::Settings;
use crate::pipeline::{self, Incoming};
use crate::store::Leadership;
use crate::store::{Saved, Store};
use async_imap::extensions::idle::IdleResponse;
use async_imap::types::UnsolicitedResponse;
use chrono::{DateTime, Utc};
use futures_util::TryStreamExt;
use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::time::Duration;
use tokio::time::{sleep, Instant};
use tracing::{debug, error, info, warn};

/// How long one IMAP command may take before the connection is given up as dead.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(120);
/// RFC 2177: servers may drop an IDLE after 30 minutes; renew well before.
const IDLE_RENEW: Duration = Duration::from_secs(25 * 60);
/// How often a standby asks for the lock, and the leader checks it still holds it.
const LOCK_CHECK: Duration = Duration::from_secs(1);

/// What one [`poll_once`] did in one folder.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct PollOutcome {
    /// New UIDs found by the search.
    pub found: usize,
    /// Recorded now (including set-aside ones and duplicates of an earlier Message-ID).
    pub recorded: usize,
    /// These bytes were recorded before (a rescan after a UIDVALIDITY change, a crash).
    pub already_stored: usize,
    /// Recorded from their headers only, with `file.too_large`.
    pub oversized: usize,
    /// Failed `max_attempts` times; left in `mailbox_failures` with `gave_up`.
    pub given_up: usize,
    /// Given up on before, fetched again because `reportbox retry` asked (whatever became of
    /// them now: recorded, already stored, or given up on again).
    pub retried: usize,
    /// Expunged between the search and the fetch.
    pub vanished: usize,
    pub last_uid: u32,
    /// Shutdown was asked for before every message found was handled.
    pub interrupted: bool,
}

/// What one pass over every configured folder did: the sums, then each folder.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct PassReport {
    pub found: usize,
    pub recorded: usize,
    pub already_stored: usize,
    pub oversized: usize,
    pub given_up: usize,
    pub retried: usize,
    pub vanished: usize,
    pub interrupted: bool,
    /// The folders that were open, in the order visited.
    pub folders: Vec<(String, PollOutcome)>,
    /// Configured folders the server said NO to, with its words; skipped.
    pub missing: Vec<(String, String)>,
}

impl PassReport {
    fn add(&mut self, folder: &str, o: PollOutcome) {
        self.found += o.found;
        self.recorded += o.recorded;
        self.already_stored += o.already_stored;
        self.oversized += o.oversized;
        self.given_up += o.given_up;
        self.retried += o.retried;
        self.vanished += o.vanished;
        self.interrupted |= o.interrupted;
        self.folders.push((folder.to_string(), o));
    }
}

/// Folders the server has said NO to: each is warned about once, not on every pass.
#[derive(Default)]
struct Absent(HashSet<String>);

async fn timed<T, E: Into<MailboxError>>(
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
            0
        }
    };
    let mut out = PollOutcome {
        last_uid: last,
        ..PollOutcome::default()
    };
    // Unsolicited EXISTS/EXPUNGE are not needed: the search below is the truth.
    while conn.session.unsolicited_responses.try_recv().is_ok() {}
    let retries = progress::retries(pool, &account, folder, uv).await?;
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

    // Messages fetched ahead, several per round trip; a batch is capped by bytes so that memory
    // stays bounded whatever the message count.
    let mut ahead: HashMap<u32, Vec<u8>> = HashMap::new();
    for (at, &uid) in uids.iter().enumerate() {
        if shutdown.is_fired() {
            out.interrupted = true;
            break;
        }
        crate::service::MAILBOX.beat(Duration::ZERO);
        let Some(&(size, internal_date)) = meta.get(&uid) else {
            // Deleted by someone (the coordinator in webmail) after the search: nothing to read.
            info!(folder, uid, "message vanished before it could be fetched");
            progress::advance(pool, &account, folder, uv, uid).await?;
            out.vanished += 1;
            last = uid;
            continue;
        };
        let oversized = u64::from(size) > cfg.max_message_size;
        if !oversized && !ahead.contains_key(&uid) {
            ahead = fetch_ahead(conn, &uids[at..], &meta, cfg.max_message_size).await?;
        }
        let bytes = if oversized {
            let fetched = uid_fetch(
                conn,
                "fetching a message's header",
                uid.to_string(),
                "(UID BODY.PEEK[HEADER])",
            )
            .await?;
            fetched
                .iter()
                .find(|f| f.uid == Some(uid))
                .and_then(|f| f.header().map(<[u8]>::to_vec))
        } else {
            ahead.remove(&uid)
        };
        let Some(bytes) = bytes else {
            info!(folder, uid, "message vanished before it could be fetched");
            progress::advance(pool, &account, folder, uv, uid).await?;
            out.vanished += 1;
            last = uid;
            continue;
        };
        let message = Fetched {
            uid,
            size,
            internal_date,
            oversized,
            bytes,
        };
        record(settings, store, folder, uv, message, &mut out).await?;
        mark(cfg, conn, uid).await;
        progress::advance(pool, &account, folder, uv, uid).await?;
        last = uid;
    }
    out.last_uid = last;
    Ok(out)
}

/// One message as fetched, ready for the pipeline.
struct Fetched {
    uid: u32,
    size: u32,
    internal_date: Option<DateTime<Utc>>,
    /// Over `max_message_size`: `bytes` is its header only.
    oversized: bool,
    bytes: Vec<u8>,
}

/// Runs one fetched message through the pipeline, counting each attempt in `mailbox_failures`
/// first, until it is recorded or has failed `max_attempts` times (then it is given up on and
/// stays listed). `Err` only for what is not the message's fault; that attempt is refunded.
async fn record(
    settings: &Settings,
    store: &Store,
    folder: &str,
    uv: u32,
    message: Fetched,
    out: &mut PollOutcome,
) -> Result<Recorded, MailboxError> {
    let cfg = &settings.mailbox;
    let account = cfg.account();
    let pool = &store.pool;
    let Fetched {
        uid,
        size,
        internal_date,
        oversized,
        bytes,
    } = message;
    let source = super::source(folder, uv, uid);
    loop {
        let attempts = progress::begin_attempt(pool, &account, folder, uv, uid).await?;
        if attempts > cfg.max_attempts as i32 {
            // A message that failed (or crashed the process) this often would block every
            // message after it; it stays visible in mailbox_failures instead.
            error!(
                folder,
                uid, attempts, "giving up on a message; see mailbox_failures"
            );
            progress::record_error(pool, &account, folder, uv, uid, "", true).await?;
            crate::metrics::message_given_up();
            out.given_up += 1;
            return Ok(Recorded::GivenUp);
        }
        let result = if oversized {
            pipeline::process_oversized(
                settings,
                store,
                bytes.clone(),
                u64::from(size),
                source.clone(),
                internal_date,
            )
            .await
        } else {
            pipeline::process(
                settings,
                store,
                Incoming {
                    raw: bytes.clone(),
                    source: source.clone(),
                    internal_date,
                },
            )
            .await
        };
        match result {
            Ok(outcome) => {
                match outcome.saved {
                    Saved::AlreadyStored { .. } => {
                        crate::metrics::message_processed("already_stored");
                        out.already_stored += 1;
                    }
                    Saved::Recorded {
                        id, disposition, ..
                    } => {
                        crate::metrics::message_processed(&disposition);
                        out.recorded += 1;
                        if oversized {
                            out.oversized += 1;
                        }
                        debug!(folder, uid, id, "recorded");
                    }
                }
                return Ok(Recorded::Done);
            }
            // Not the message's fault (the database, the disk, or another instance leading
            // now): this attempt does not count against it.
            Err(e) if e.is_fenced() || e.is_transient() => {
                let _ = progress::refund_attempt(pool, &account, folder, uv, uid).await;
                return Err(e.into());
            }
            Err(e) => {
                warn!(folder, uid, attempts, error = %e, "could not record a message");
                progress::record_error(pool, &account, folder, uv, uid, &e.to_string(), false)
                    .await?;
            }
        }
    }
}

/// What [`record`] did with a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Recorded {
    Done,
    GivenUp,
}

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
        crate::service::MAILBOX.beat(Duration::ZERO);
        let Some(&(size, internal_date)) = meta.get(&uid) else {
            info!(folder, uid, "a message to retry is no longer in the folder");
            let gone = "邮件已不在邮箱文件夹中，无法重新收取";
            progress::record_error(pool, &account, folder, uv, uid, gone, true).await?;
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
            progress::record_error(pool, &account, folder, uv, uid, gone, true).await?;
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
        if record(settings, store, folder, uv, message, out).await? == Recorded::Done {
            progress::forget(pool, &account, folder, uv, uid).await?;
            mark(cfg, conn, uid).await;
        }
    }
    Ok(())
}

/// At most this many bytes (by RFC822.SIZE) of messages are fetched in one round trip.
const FETCH_AHEAD_BYTES: u64 = 16 << 20;
/// And at most this many messages.
const FETCH_AHEAD_COUNT: usize = 64;

/// Fetches the messages at the start of `uids` in one `UID FETCH`, as many as fit in
/// [`FETCH_AHEAD_BYTES`] (always at least the first). Oversized messages are left out: they are
/// fetched header only, one by one. A message missing from the answer was expunged meanwhile.
async fn fetch_ahead(
    conn: &mut Connected,
    uids: &[u32],
    meta: &HashMap<u32, (u32, Option<DateTime<Utc>>)>,
    max_message_size: u64,
) -> Result<HashMap<u32, Vec<u8>>, MailboxError> {
    let mut batch = Vec::new();
    let mut bytes = 0u64;
    for &uid in uids {
        let Some(&(size, _)) = meta.get(&uid) else {
            continue;
        };
        let size = u64::from(size);
        if size > max_message_size {
            continue;
        }
        if !batch.is_empty()
            && (bytes + size > FETCH_AHEAD_BYTES || batch.len() >= FETCH_AHEAD_COUNT)
        {
            break;
        }
        bytes += size;
        batch.push(uid);
    }
    if batch.is_empty() {
        return Ok(HashMap::new());
    }
    let fetched = uid_fetch(
        conn,
        "fetching messages",
        uid_set(&batch),
        "(UID BODY.PEEK[])",
    )
    .await?;
    Ok(fetched
        .iter()
        .filter_map(|f| Some((f.uid?, f.body()?.to_vec())))
        .collect())
}

/// After the commit: the optional keyword and copy. Failing here loses nothing (the message is
/// recorded), so it is logged and not retried.
async fn mark(cfg: &MailboxSettings, conn: &mut Connected, uid: u32) {
    if !cfg.processed_keyword.is_empty() {
        let r = timed("flagging", async {
            conn.session
                .uid_store(
                    uid.to_string(),
                    format!("+FLAGS.SILENT ({})", cfg.processed_keyword),
                )
                .await?
                .try_collect::<Vec<_>>()
                .await
        })
        .await;
        if let Err(e) = r {
            warn!(uid, error = %e, "could not set the processed keyword");
        }
    }
    if let Some(dest) = &cfg.copy_to_folder {
        let wire = super::utf7::encode(dest);
        if let Err(e) = timed("copying", conn.session.uid_copy(uid.to_string(), &wire)).await {
            warn!(uid, folder = %dest, error = %e, "could not copy the message");
        }
    }
}

async fn logout(mut conn: Connected) {
    let _ = tokio::time::timeout(Duration::from_secs(3), conn.session.logout()).await;
}

/// Every configured folder in order, each selected and drained. A folder the server says NO to
/// is skipped with a warning (once per process); only when none opens is the pass an error.
async fn pass(
    settings: &Settings,
    store: &Store,
    conn: &mut Connected,
    shutdown: &Shutdown,
    absent: &mut Absent,
) -> Result<PassReport, MailboxError> {
    let cfg = &settings.mailbox;
    let began = Instant::now();
    let mut report = PassReport::default();
    for folder in &cfg.folders {
        if shutdown.is_fired() {
            report.interrupted = true;
            break;
        }
        crate::service::MAILBOX.beat(Duration::ZERO);
        match client::select(conn, folder, COMMAND_TIMEOUT).await? {
            Selected::Missing(text) => {
                if absent.0.insert(folder.clone()) {
                    warn!(
                        %folder,
                        server = %text,
                        "a folder in mailbox.folders does not exist on the server; skipping it"
                    );
                } else {
                    debug!(%folder, "still no such folder");
                }
                report.missing.push((folder.clone(), text));
            }
            Selected::Open { uidvalidity } => {
                if absent.0.remove(folder) {
                    info!(%folder, "the folder exists now; following it");
                }
                let o = poll_once(settings, store, conn, folder, uidvalidity, shutdown).await?;
                report.add(folder, o);
                if report.interrupted {
                    break;
                }
            }
        }
    }
    if report.folders.is_empty() && !report.interrupted {
        return Err(MailboxError::Protocol(format!(
            "none of mailbox.folders could be opened: {}",
            report
                .missing
                .iter()
                .map(|(f, text)| format!("{f} ({text})"))
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    if !report.interrupted {
        crate::metrics::poll_finished(began.elapsed());
    }
    Ok(report)
}

/// A crash during a file write leaves a temporary file beside the objects; ten minutes is far
/// longer than any write, so a write in flight (an `import` running beside) is never touched.
fn remove_stale_temp_files(store: &Store) {
    let removed = store
        .objects
        .remove_stale_temp_files(std::time::Duration::from_secs(600));
    if removed > 0 {
        info!(
            removed,
            "removed temporary files left by an interrupted write"
        );
    }
}

fn warn_deprecated(cfg: &MailboxSettings) {
    if cfg.deprecated_folder {
        warn!("mailbox.folder is deprecated and follows one folder only; use mailbox.folders = [\"INBOX\", \"垃圾邮件\"]");
    }
}

/// One pass over every folder, then LOGOUT. Refuses to run while another instance leads.
pub async fn once(settings: &Settings, store: &Store) -> Result<PassReport, MailboxError> {
    let cfg = &settings.mailbox;
    warn_deprecated(cfg);
    let mut lock =
        Leadership::connect(&settings.database.url, mailbox_lock_key(&cfg.account())).await?;
    if !lock.try_lock().await? {
        return Err(MailboxError::Busy(cfg.account()));
    }
    remove_stale_temp_files(store);
    let fence = store
        .take_epoch(lock.key())
        .await
        .map_err(crate::pipeline::PipelineError::from)?;
    let store = &store.fenced(fence);
    let (_keep, shutdown) = Shutdown::new();
    let report = match client::connect(cfg).await {
        Ok(mut conn) => {
            let r = pass(
                settings,
                store,
                &mut conn,
                &shutdown,
                &mut Absent::default(),
            )
            .await;
            logout(conn).await;
            r
        }
        Err(e) => Err(e),
    };
    lock.release().await;
    report
}

enum Exit {
    Shutdown,
    LockLost,
}

enum Wake {
    Changed,
    Exit(Exit),
}

/// Completes when the lock's connection is gone.
async fn lock_lost(lock: &mut Leadership) {
    let mut tick = tokio::time::interval(LOCK_CHECK);
    tick.tick().await;
    loop {
        tick.tick().await;
        if !lock.still_held().await {
            return;
        }
    }
}

/// Exponential, capped, with jitter so that several instances do not retry in step.
struct Backoff {
    initial: Duration,
    max: Duration,
    next: Duration,
}

impl Backoff {
    fn new(cfg: &MailboxSettings) -> Self {
        Backoff {
            initial: cfg.backoff_initial,
            max: cfg.backoff_max,
            next: cfg.backoff_initial,
        }
    }
    fn reset(&mut self) {
        self.next = self.initial;
    }
    fn take(&mut self) -> Duration {
        let base = self.next;
        self.next = (self.next * 2).min(self.max);
        base.mul_f64(0.5 + fastrand::f64() * 0.5)
    }
}

/// Watches the mailbox until `shutdown` fires. Waits as a standby while another instance holds
/// the mailbox's lock. Returns `Err` only for what needs a person (configuration, credentials,
/// certificate); everything else is retried.
pub async fn run(
    settings: &Settings,
    store: &Store,
    mut shutdown: Shutdown,
) -> Result<(), MailboxError> {
    let cfg = &settings.mailbox;
    if cfg.password.is_none() {
        return Err(MailboxError::Config(
            "mailbox.password: required (REPORTBOX_MAILBOX__PASSWORD or mailbox.password_file)"
                .into(),
        ));
    }
    warn_deprecated(cfg);
    remove_stale_temp_files(store);
    let account = cfg.account();
    let folders = cfg.folders.join(", ");
    let mut said_standby = false;
    let mut absent = Absent::default();
    loop {
        let mut lock = loop {
            match Leadership::connect(&settings.database.url, mailbox_lock_key(&account)).await {
                Ok(mut l) => match l.try_lock().await {
                    Ok(true) => break l,
                    Ok(false) => {
                        if !said_standby {
                            info!(%account, %folders, "another instance is watching this mailbox; standing by");
                            said_standby = true;
                        }
                        // Standing by is this instance's job while another leads: ready and alive.
                        crate::service::login_tried();
                        // Keep this connection and ask again on it.
                        loop {
                            crate::service::MAILBOX.beat(LOCK_CHECK);
                            tokio::select! {
                                _ = sleep(LOCK_CHECK) => {}
                                _ = shutdown.fired() => return Ok(()),
                            }
                            match l.try_lock().await {
                                Ok(true) => break,
                                Ok(false) => continue,
                                Err(e) => {
                                    warn!(error = %e, "lost the database connection while standing by");
                                    break;
                                }
                            }
                        }
                        if l.still_held().await {
                            break l;
                        }
                    }
                    Err(e) => warn!(error = %e, "cannot ask for the mailbox lock"),
                },
                Err(e) => warn!(error = %e, "cannot connect to the database for the mailbox lock"),
            }
            crate::service::MAILBOX.beat(cfg.backoff_initial.max(LOCK_CHECK));
            tokio::select! {
                _ = sleep(cfg.backoff_initial.max(LOCK_CHECK)) => {}
                _ = shutdown.fired() => return Ok(()),
            }
        };
        said_standby = false;
        info!(%account, %folders, "watching the mailbox");
        let exit = match store.take_epoch(lock.key()).await {
            Ok(fence) => {
                let fenced = store.fenced(fence);
                lead(settings, &fenced, &mut lock, &mut shutdown, &mut absent).await
            }
            // The database went away right after the lock was taken: stand by and try again.
            Err(e) => {
                warn!(error = %e, "cannot take the mailbox epoch");
                Ok(Exit::LockLost)
            }
        };
        lock.release().await;
        match exit? {
            Exit::Shutdown => return Ok(()),
            Exit::LockLost => {
                warn!("lost the mailbox lock (its database connection dropped); standing by");
            }
        }
    }
}

async fn lead(
    settings: &Settings,
    store: &Store,
    lock: &mut Leadership,
    shutdown: &mut Shutdown,
    absent: &mut Absent,
) -> Result<Exit, MailboxError> {
    let cfg = &settings.mailbox;
    let mut backoff = Backoff::new(cfg);
    let mut last_login: Option<Instant> = None;
    loop {
        // 163 (and others) throttle accounts that log in often: at most one login per interval.
        if let Some(t) = last_login {
            let next = t + cfg.login_min_interval;
            crate::service::MAILBOX.beat(next.saturating_duration_since(Instant::now()));
            tokio::select! {
                _ = tokio::time::sleep_until(next) => {}
                _ = shutdown.fired() => return Ok(Exit::Shutdown),
                _ = lock_lost(lock) => return Ok(Exit::LockLost),
            }
        }
        last_login = Some(Instant::now());
        crate::service::MAILBOX.beat(Duration::ZERO);
        let attempt = tokio::select! {
            r = client::connect(cfg) => r,
            _ = shutdown.fired() => return Ok(Exit::Shutdown),
        };
        crate::service::login_tried();
        let failure = match attempt {
            Ok(conn) => {
                info!(
                    idle = conn.can_idle && cfg.idle == IdleMode::Auto,
                    "mailbox open"
                );
                match serve(settings, store, conn, lock, shutdown, &mut backoff, absent).await {
                    Ok(exit) => return Ok(exit),
                    Err(MailboxError::Pipeline(e)) if e.is_fenced() => return Ok(Exit::LockLost),
                    Err(e) => e,
                }
            }
            Err(e) => e,
        };
        // One row update per reconnect (at most one per backoff), for `status` to show.
        if let Err(e) = store.service_error("mailbox", &failure.to_string()).await {
            debug!(error = %e, "cannot record the mailbox error");
        }
        if failure.is_fatal() {
            return Err(failure);
        }
        let delay = backoff.take();
        warn!(error = %failure, retry_in = ?delay, "mailbox unavailable; reconnecting");
        crate::service::MAILBOX.beat(delay);
        tokio::select! {
            _ = sleep(delay) => {}
            _ = shutdown.fired() => return Ok(Exit::Shutdown),
            _ = lock_lost(lock) => return Ok(Exit::LockLost),
        }
    }
}

fn log_found(folder: &str, out: &PollOutcome) {
    if out.found > 0 {
        info!(
            folder,
            found = out.found,
            recorded = out.recorded,
            already = out.already_stored,
            oversized = out.oversized,
            given_up = out.given_up,
            last_uid = out.last_uid,
            "mailbox pass"
        );
    }
}

async fn serve(
    settings: &Settings,
    store: &Store,
    mut conn: Connected,
    lock: &mut Leadership,
    shutdown: &mut Shutdown,
    backoff: &mut Backoff,
    absent: &mut Absent,
) -> Result<Exit, MailboxError> {
    let cfg = &settings.mailbox;
    let use_idle = conn.can_idle && cfg.idle == IdleMode::Auto;
    // With folders besides the one IDLE watches, IDLE ends early so that they are looked at.
    let idle_for = if cfg.folders.len() > 1 {
        cfg.poll_interval.min(IDLE_RENEW)
    } else {
        IDLE_RENEW
    };
    loop {
        let report = pass(settings, store, &mut conn, shutdown, absent).await?;
        backoff.reset();
        for (folder, out) in &report.folders {
            log_found(folder, out);
        }
        if shutdown.is_fired() {
            logout(conn).await;
            return Ok(Exit::Shutdown);
        }
        let watch = report.folders.first().map(|(f, _)| f.clone());
        let (c, wake) = match watch {
            Some(watch) if use_idle => {
                if conn.selected.as_deref() != Some(watch.as_str()) {
                    // The pass ended in another folder; mail that reached this one since it
                    // was searched would not wake IDLE, so search it again first.
                    if let Selected::Open { uidvalidity } =
                        client::select(&mut conn, &watch, COMMAND_TIMEOUT).await?
                    {
                        let out =
                            poll_once(settings, store, &mut conn, &watch, uidvalidity, shutdown)
                                .await?;
                        log_found(&watch, &out);
                    }
                }
                if conn.selected.is_some() {
                    idle(conn, idle_for, shutdown, lock).await?
                } else {
                    poll_wait(conn, cfg.poll_interval, shutdown, lock).await?
                }
            }
            _ => poll_wait(conn, cfg.poll_interval, shutdown, lock).await?,
        };
        conn = c;
        if let Wake::Exit(exit) = wake {
            logout(conn).await;
            return Ok(exit);
        }
    }
}

async fn poll_wait(
    mut conn: Connected,
    interval: Duration,
    shutdown: &mut Shutdown,
    lock: &mut Leadership,
) -> Result<(Connected, Wake), MailboxError> {
    crate::service::MAILBOX.beat(interval);
    tokio::select! {
        _ = sleep(interval) => {}
        _ = shutdown.fired() => return Ok((conn, Wake::Exit(Exit::Shutdown))),
        _ = lock_lost(lock) => return Ok((conn, Wake::Exit(Exit::LockLost))),
    }
    // NOOP keeps the session alive and lets the server report changes; the search does the rest.
    timed("NOOP", conn.session.noop()).await?;
    Ok((conn, Wake::Changed))
}

async fn idle(
    conn: Connected,
    idle_for: Duration,
    shutdown: &mut Shutdown,
    lock: &mut Leadership,
) -> Result<(Connected, Wake), MailboxError> {
    let Connected {
        session,
        can_idle,
        selected,
    } = conn;
    let unsolicited = session.unsolicited_responses.clone();
    while unsolicited.try_recv().is_ok() {}
    let mut handle = session.idle();
    timed("starting IDLE", handle.init()).await?;
    // Mail that arrived between the search and IDLE is announced before the server's "+", and
    // the library files it as unsolicited: look there first, or it would wait for the next one.
    let mut arrived = false;
    while let Ok(r) = unsolicited.try_recv() {
        arrived |= matches!(
            r,
            UnsolicitedResponse::Exists(_) | UnsolicitedResponse::Recent(_)
        );
    }
    let wake = if arrived {
        Wake::Changed
    } else {
        crate::service::MAILBOX.beat(idle_for);
        let (wait, _stop) = handle.wait_with_timeout(idle_for);
        tokio::select! {
            r = wait => match r? {
                IdleResponse::NewData(_) | IdleResponse::Timeout | IdleResponse::ManualInterrupt => Wake::Changed,
            },
            _ = sleep(idle_for) => Wake::Changed,
            _ = shutdown.fired() => Wake::Exit(Exit::Shutdown),
            _ = lock_lost(lock) => Wake::Exit(Exit::LockLost),
        }
    };
    let session = timed("ending IDLE", handle.done()).await?;
    Ok((
        Connected {
            session,
            can_idle,
            selected,
        },
        wake,
    ))
}

/// Per account, not per folder: one leader follows every folder on one connection.
fn mailbox_lock_key(account: &str) -> String {
    format!("reportbox-mailbox:{account}")
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

    #[test]
    fn unsafe_login_is_a_configuration_error() {
        let e = client::classify_no(async_imap::error::Error::No(
            "SELECT Unsafe Login. Please contact kefu@188.com for help".into(),
        ));
        assert!(e.is_fatal(), "{e}");
        assert!(e.to_string().contains("Unsafe Login"));
        let other =
            client::classify_no(async_imap::error::Error::No("Mailbox doesn't exist".into()));
        assert!(!other.is_fatal());
    }
}
