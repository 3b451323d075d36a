//! Secrets as a type: what prints one (a `Debug` of settings, a log line) shows `<redacted>`.

use std::fmt;

/// A password, authorisation code or key: kept out of every `Debug` and log line.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }
    /// The secret in `path` as it is now (one line; the line end is not part of it); `None` when
    /// the file cannot be read or is empty.
    pub fn read(path: &std::path::Path) -> Option<Secret> {
        let text = std::fs::read_to_string(path).ok()?;
        let code = text.trim_end_matches(['\r', '\n']);
        (!code.trim().is_empty()).then(|| Secret(code.to_string()))
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}
