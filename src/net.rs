//! Network plain types shared by the mail clients (IMAP and SMTP): at the bottom of the layout,
//! so that neither `mailbox` nor `notify` reaches into `config` for them.

/// How a connection to the mail servers (IMAP and SMTP alike) is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsMode {
    Implicit,
    StartTls,
    /// Plain text: for loopback tests only.
    None,
}

impl TlsMode {
    /// `implicit` (or `ssl`, as 163's help pages call it), `starttls`, `none`; any case.
    pub(crate) fn parse(s: &str) -> Option<TlsMode> {
        match s.trim().to_lowercase().as_str() {
            "implicit" | "ssl" => Some(TlsMode::Implicit),
            "starttls" => Some(TlsMode::StartTls),
            "none" => Some(TlsMode::None),
            _ => None,
        }
    }
}
