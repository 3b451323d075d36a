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
use super::poll::{timed, COMMAND_TIMEOUT};
use super::{IdleMode, MailboxError, MailboxSettings, Shutdown};
use crate::config::Settings;
use crate::store::Leadership;
use crate::store::Store;
use async_imap::extensions::idle::IdleResponse;
use async_imap::types::UnsolicitedResponse;
use std::collections::HashSet;
use std::time::Duration;
use tokio::time::{sleep, Instant};
use tracing::{debug, info, warn};

pub use super::poll::{poll_once, uid_set, PollOutcome};

/// RFC 2177: servers may drop an IDLE after 30 minutes; renew well before.
const IDLE_RENEW: Duration = Duration::from_secs(25 * 60);
/// How often a standby asks for the lock, and the leader checks it still holds it.
const LOCK_CHECK: Duration = Duration::from_secs(1);

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
        crate::liveness::MAILBOX.beat(Duration::ZERO);
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
                        crate::liveness::login_tried();
                        // Keep this connection and ask again on it.
                        loop {
                            crate::liveness::MAILBOX.beat(LOCK_CHECK);
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
            crate::liveness::MAILBOX.beat(cfg.backoff_initial.max(LOCK_CHECK));
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
            crate::liveness::MAILBOX.beat(next.saturating_duration_since(Instant::now()));
            tokio::select! {
                _ = tokio::time::sleep_until(next) => {}
                _ = shutdown.fired() => return Ok(Exit::Shutdown),
                _ = lock_lost(lock) => return Ok(Exit::LockLost),
            }
        }
        last_login = Some(Instant::now());
        crate::liveness::MAILBOX.beat(Duration::ZERO);
        let attempt = tokio::select! {
            r = client::connect(cfg) => r,
            _ = shutdown.fired() => return Ok(Exit::Shutdown),
        };
        crate::liveness::login_tried();
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
        crate::liveness::MAILBOX.beat(delay);
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
        let report = match pass(settings, store, &mut conn, shutdown, absent).await {
            Ok(report) => report,
            // The bucket (or disk) failed, not the mailbox: the batch was not committed and will
            // be fetched again, on this same session, once the backoff has passed.
            Err(MailboxError::Pipeline(e)) if e.is_storage() => {
                let delay = backoff.take();
                warn!(error = %e, retry_in = ?delay, "object store unavailable; keeping the mailbox session");
                if let Err(e) = store.service_error("mailbox", &e.to_string()).await {
                    debug!(error = %e, "cannot record the storage error");
                }
                let (c, wake) = poll_wait(conn, delay, shutdown, lock).await?;
                conn = c;
                if let Wake::Exit(exit) = wake {
                    logout(conn).await;
                    return Ok(exit);
                }
                continue;
            }
            Err(e) => return Err(e),
        };
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
    crate::liveness::MAILBOX.beat(interval);
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
        crate::liveness::MAILBOX.beat(idle_for);
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
