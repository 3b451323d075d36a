//! The mailbox daemon: watches the designated mailbox over IMAP and feeds every message through
//! [`crate::pipeline`] exactly once.
//!
//! - [`client`]: connect, TLS, LOGIN, ID; SELECT of one folder.
//! - [`poll`]: [`poll_once`] (one search-fetch-process step in one folder, and the given-up
//!   messages `retry` asked for again).
//! - [`daemon`]: [`once`] and [`run`]
//!   (every folder of `mailbox.folders` in turn, leadership, IDLE or polling, reconnects with
//!   backoff, graceful shutdown).
//! - [`crate::store::progress`]: what is committed, per folder, in PostgreSQL.
//! - [`utf7`]: folder names as IMAP writes them (垃圾邮件 is `&V4NXPpCuTvY-`).

mod batch;
pub mod client;
pub mod daemon;
mod error;
pub mod poll;
mod record;
pub mod settings;
pub mod utf7;

pub use crate::source::{source, source_folder};
pub use daemon::{once, poll_once, run, PassReport, PollOutcome};
pub use error::MailboxError;
pub use settings::{IdleMode, MailboxSettings, Secret, TlsMode};

pub use crate::shutdown::{Shutdown, ShutdownTrigger};
