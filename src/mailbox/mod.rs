//! The mailbox daemon: watches the designated mailbox over IMAP and feeds every message through
//! [`crate::pipeline`] exactly once.
//!
//! - [`client`]: connect, TLS, LOGIN, ID, SELECT.
//! - [`daemon`]: [`poll_once`] (one search-fetch-process step), [`once`] and [`run`] (leadership,
//!   IDLE or polling, reconnects with backoff, graceful shutdown).
//! - [`progress`]: what is committed, per folder, in PostgreSQL; the leadership lock.

pub mod client;
pub mod daemon;
pub mod progress;
pub mod settings;
pub mod utf7;

pub use daemon::{once, poll_once, run, PassReport, PollOutcome};
pub use settings::{IdleMode, MailboxSettings, Secret, TlsMode};

pub use crate::shutdown::{Shutdown, ShutdownTrigger};

#[derive(Debug, thiserror::Error)]
pub enum MailboxError {
    /// Retrying will not help until someone changes the configuration or the account.
    #[error("configuration: {0}")]
    Config(String),
    #[error("login refused: {0}")]
    Login(String),
    #[error("untrusted certificate: {0}")]
    Certificate(String),
    #[error("cannot connect: {0}")]
    Connect(String),
    #[error("imap: {0}")]
    Imap(#[from] async_imap::error::Error),
    #[error("imap protocol: {0}")]
    Protocol(String),
    #[error("timed out {0}")]
    Timeout(&'static str),
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    #[error("pipeline: {0}")]
    Pipeline(#[from] crate::pipeline::PipelineError),
    #[error("another reportbox instance is already watching {0}")]
    Busy(String),
}

impl MailboxError {
    /// An error that needs a person: the daemon stops instead of retrying.
    pub fn is_fatal(&self) -> bool {
        matches!(
            self,
            MailboxError::Config(_) | MailboxError::Login(_) | MailboxError::Certificate(_)
        )
    }
}
