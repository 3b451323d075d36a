//! Where a recorded message came from (`messages.source`): plain data at the bottom of the
//! layout, written by the mailbox and read by `status`, which must not reach into `mailbox`.

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
