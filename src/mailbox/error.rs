//! What can stop a mailbox pass; kept apart from `mod.rs` so that the module's front door
//! re-exports only, and the one edge to `pipeline` (a pass records what it fetches) is visible here.

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
