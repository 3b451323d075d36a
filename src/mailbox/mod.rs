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
pub mod settings;
pub mod utf7;

pub use daemon::{once, poll_once, run, PassReport, PollOutcome};
pub use error::MailboxError;
pub use settings::{IdleMode, MailboxSettings, Secret, TlsMode};

pub use crate::shutdown::{Shutdown, ShutdownTrigger};

/// How a message found in the mailbox is recorded in `messages.source`: the folder as a person
/// sees its name, then UIDVALIDITY and UID.
pub fn source(folder: &str, uidvalidity: u32, uid: u32) -> String {
    format!("imap:{folder}/{uidvalidity}/{uid}")
}

/// The folder of a `source` written by [`source`]; `None` for mail that was imported.
pub fn source_folder(source: &str) -> Option<&str> {
    let rest = source.strip_prefix("imap:")?;
    // Folder names may hold the hierarchy separator; the two numbers never do.
    let mut parts = rest.rsplitn(3, '/');
    let (_uid, _uidvalidity) = (parts.next()?, parts.next()?);
    parts.next()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_folder_is_read_back_from_the_source() {
        assert_eq!(source("垃圾邮件", 7, 12), "imap:垃圾邮件/7/12");
        assert_eq!(source_folder("imap:垃圾邮件/7/12"), Some("垃圾邮件"));
        assert_eq!(source_folder("imap:归档/2023/5/9"), Some("归档/2023"));
        assert_eq!(source_folder("imap:INBOX/1/2"), Some("INBOX"));
        assert_eq!(source_folder("import:a.eml"), None);
        assert_eq!(source_folder("imap:broken"), None);
    }
}
