//! One fetched message recorded through the pipeline, each attempt counted first in
//! `mailbox_failures` so that a message that keeps failing (or crashing the process) is given up
//! on instead of blocking the folder; shared by the one-by-one path ([`super::poll`]) and the
//! batch path ([`super::batch`]).

use super::MailboxError;
use crate::config::Settings;
use crate::pipeline::{self, Incoming};
use crate::store::progress::{self, Folder};
use crate::store::{Saved, Store};
use chrono::{DateTime, Utc};
use std::sync::Arc;
use tracing::{debug, error, warn};

/// What one [`super::poll_once`] did in one folder.
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

/// One message as fetched, ready for the pipeline.
pub(super) struct Fetched {
    pub(super) uid: u32,
    pub(super) size: u32,
    pub(super) internal_date: Option<DateTime<Utc>>,
    /// Over `max_message_size`: `bytes` is its header only.
    pub(super) oversized: bool,
    /// Shared with the batch's jobs on the blocking pool without a copy.
    pub(super) bytes: Arc<Vec<u8>>,
}

/// Runs one fetched message through the pipeline, counting each attempt in `mailbox_failures`
/// first, until it is recorded or has failed `max_attempts` times (then it is given up on and
/// stays listed). `Err` only for what is not the message's fault; that attempt is refunded.
pub(super) async fn record(
    settings: &Settings,
    store: &Store,
    folder: &str,
    uv: u32,
    message: &Fetched,
    out: &mut PollOutcome,
) -> Result<Recorded, MailboxError> {
    let cfg = &settings.mailbox;
    let account = cfg.account();
    let at = Folder::new(&account, folder, uv);
    let pool = &store.pool;
    let &Fetched {
        uid,
        size,
        internal_date,
        oversized,
        ref bytes,
    } = message;
    let source = super::source(folder, uv, uid);
    loop {
        let attempts = progress::begin_attempt(pool, at, uid).await?;
        if attempts > cfg.max_attempts as i32 {
            // A message that failed (or crashed the process) this often would block every
            // message after it; it stays visible in mailbox_failures instead.
            error!(
                folder,
                uid, attempts, "giving up on a message; see mailbox_failures"
            );
            progress::record_error(pool, at, uid, "", true).await?;
            let said = format!("放弃处理邮件 {folder}:{uid}（已尝试 {} 次）", attempts - 1);
            if let Err(e) = store.service_error("mailbox", &said).await {
                debug!(error = %e, "cannot record the given-up message as the last error");
            }
            crate::metrics::message_given_up();
            out.given_up += 1;
            return Ok(Recorded::GivenUp);
        }
        let result = if oversized {
            pipeline::process_oversized(
                settings,
                store,
                bytes.to_vec(),
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
                    raw: bytes.to_vec(),
                    source: source.clone(),
                    internal_date,
                },
            )
            .await
        };
        match result {
            Ok(outcome) => {
                tally(out, &outcome.saved, oversized);
                if let Saved::Recorded { id, .. } = outcome.saved {
                    debug!(folder, uid, id, "recorded");
                }
                return Ok(Recorded::Done);
            }
            // Not the message's fault (the database, the disk, or another instance leading
            // now): this attempt does not count against it.
            Err(e) if e.is_fenced() || e.is_transient() => {
                let _ = progress::refund_attempt(pool, at, uid).await;
                return Err(e.into());
            }
            Err(e) => {
                warn!(folder, uid, attempts, error = %e, "could not record a message");
                progress::record_error(pool, at, uid, &e.to_string(), false).await?;
            }
        }
    }
}

/// Counts what became of a recorded message, in the pass's outcome and the metrics.
pub(super) fn tally(out: &mut PollOutcome, saved: &Saved, oversized: bool) {
    match saved {
        Saved::AlreadyStored { .. } => {
            crate::metrics::message_processed("already_stored");
            out.already_stored += 1;
        }
        Saved::Recorded { disposition, .. } => {
            crate::metrics::message_processed(disposition.as_str());
            out.recorded += 1;
            if oversized {
                out.oversized += 1;
            }
        }
    }
}

/// What [`record`] did with a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Recorded {
    Done,
    GivenUp,
}
