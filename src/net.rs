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

/// Makes ring the process's rustls provider, once. The S3 client's HTTP stack (reqwest built
/// without a provider of its own, so that aws-lc-sys and its C build stay out) takes the
/// process default; the mail clients name ring themselves. Harmless when already installed.
pub fn install_tls_provider() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let _ = tokio_rustls::rustls::crypto::ring::default_provider().install_default();
    });
}
