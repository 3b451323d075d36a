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

pub use daemon::{once, poll_once, run, PassReport, PollOutcome};
pub use settings::{IdleMode, MailboxSettings, Secret, TlsMode};

use tokio::sync::watch;

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

/// The sending half of a shutdown signal (kept by whoever handles SIGTERM/SIGINT).
#[derive(Debug)]
pub struct ShutdownTrigger(watch::Sender<bool>);

impl ShutdownTrigger {
    pub fn fire(&self) {
        let _ = self.0.send(true);
    }
}

/// The receiving half, passed into every long-running task; cheap to clone.
#[derive(Debug, Clone)]
pub struct Shutdown(watch::Receiver<bool>);

impl Shutdown {
    pub fn new() -> (ShutdownTrigger, Shutdown) {
        let (tx, rx) = watch::channel(false);
        (ShutdownTrigger(tx), Shutdown(rx))
    }

    pub fn is_fired(&self) -> bool {
        *self.0.borrow()
    }

    /// Completes when the trigger fires. A trigger dropped without firing means nobody can ask
    /// for shutdown any more, so this then never completes.
    pub async fn fired(&mut self) {
        if self.0.wait_for(|v| *v).await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}
