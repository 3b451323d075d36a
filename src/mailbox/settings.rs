//! `[mailbox]`: where the designated mailbox is and how to watch it. Defaults are NetEase 163's
//! (imap.163.com, 993, implicit TLS); every problem is reported with its key, like the rest of
//! the configuration.

pub use crate::net::TlsMode;
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A duration in config: whole seconds (`60`) or a number with a unit (`500ms`, `30s`, `5m`, `1h`).
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub(crate) enum RawDuration {
    Seconds(u64),
    Text(String),
}

impl RawDuration {
    fn parse(&self) -> Result<Duration, String> {
        match self {
            RawDuration::Seconds(s) => Ok(Duration::from_secs(*s)),
            RawDuration::Text(t) => {
                let t = t.trim();
                let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
                let (n, unit) = t.split_at(split);
                let n: u64 = n
                    .parse()
                    .map_err(|_| format!("{t:?} is not a duration (e.g. 60, 30s, 5m)"))?;
                match unit.trim() {
                    "" | "s" => Ok(Duration::from_secs(n)),
                    "ms" => Ok(Duration::from_millis(n)),
                    "m" | "min" => Ok(Duration::from_secs(n * 60)),
                    "h" => Ok(Duration::from_secs(n * 3600)),
                    _ => Err(format!("{t:?} is not a duration (e.g. 60, 30s, 5m)")),
                }
            }
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawMailbox {
    #[serde(default = "d_host")]
    host: String,
    #[serde(default = "d_port")]
    port: u16,
    #[serde(default = "d_tls")]
    tls: String,
    ca_file: Option<String>,
    username: Option<String>,
    pub(crate) password: Option<String>,
    pub(crate) password_file: Option<String>,
    /// Deprecated: one folder, from before `folders`.
    folder: Option<String>,
    folders: Option<Vec<String>>,
    #[serde(default = "d_junk_folders")]
    junk_folders: Vec<String>,
    #[serde(default = "d_idle")]
    idle: String,
    #[serde(default = "d_poll")]
    poll_interval: RawDuration,
    #[serde(default = "d_max_size")]
    max_message_size: u64,
    #[serde(default = "d_id_name")]
    id_name: String,
    #[serde(default = "d_id_version")]
    id_version: String,
    #[serde(default = "d_id_vendor")]
    id_vendor: String,
    #[serde(default = "d_keyword")]
    processed_keyword: String,
    copy_to_folder: Option<String>,
    #[serde(default = "d_backoff_initial")]
    backoff_initial: RawDuration,
    #[serde(default = "d_backoff_max")]
    backoff_max: RawDuration,
    #[serde(default = "d_login_min")]
    login_min_interval: RawDuration,
    #[serde(default = "d_max_attempts")]
    max_attempts: u32,
}

impl Default for RawMailbox {
    fn default() -> Self {
        RawMailbox {
            host: d_host(),
            port: d_port(),
            tls: d_tls(),
            ca_file: None,
            username: None,
            password: None,
            password_file: None,
            folder: None,
            folders: None,
            junk_folders: d_junk_folders(),
            idle: d_idle(),
            poll_interval: d_poll(),
            max_message_size: d_max_size(),
            id_name: d_id_name(),
            id_version: d_id_version(),
            id_vendor: d_id_vendor(),
            processed_keyword: d_keyword(),
            copy_to_folder: None,
            backoff_initial: d_backoff_initial(),
            backoff_max: d_backoff_max(),
            login_min_interval: d_login_min(),
            max_attempts: d_max_attempts(),
        }
    }
}

fn d_host() -> String {
    "imap.163.com".into()
}
fn d_port() -> u16 {
    993
}
fn d_tls() -> String {
    "implicit".into()
}
fn d_folders() -> Vec<String> {
    // 163 files some real submissions (large attachments from QQ addresses above all) as spam.
    vec!["INBOX".into(), "垃圾邮件".into()]
}
fn d_junk_folders() -> Vec<String> {
    vec!["垃圾邮件".into()]
}
fn d_idle() -> String {
    "auto".into()
}
fn d_poll() -> RawDuration {
    RawDuration::Seconds(60)
}
fn d_max_size() -> u64 {
    // 163 caps ordinary attachments at about 50 MB; base64 makes the message a third larger.
    80 * 1024 * 1024
}
fn d_id_name() -> String {
    "reportbox".into()
}
fn d_id_version() -> String {
    env!("CARGO_PKG_VERSION").into()
}
fn d_id_vendor() -> String {
    "reportbox".into()
}
fn d_keyword() -> String {
    "$Reportbox-Processed".into()
}
fn d_backoff_initial() -> RawDuration {
    RawDuration::Seconds(5)
}
fn d_backoff_max() -> RawDuration {
    RawDuration::Seconds(600)
}
fn d_login_min() -> RawDuration {
    RawDuration::Seconds(60)
}
fn d_max_attempts() -> u32 {
    3
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdleMode {
    /// IDLE when the server's CAPABILITY lists it, otherwise poll.
    Auto,
    /// Always poll (as on 163, which has no IDLE).
    Off,
}

pub use crate::secret::Secret;

#[derive(Debug, Clone)]
pub struct MailboxSettings {
    pub host: String,
    pub port: u16,
    pub tls: TlsMode,
    pub ca_file: Option<PathBuf>,
    pub username: String,
    /// `None` until given: only `run` and `once` need it, so other commands work without it.
    pub password: Option<Secret>,
    /// Where `password` came from: read again at every login, so a corrected file (or a
    /// SIGHUP after correcting it) needs no restart.
    pub password_file: Option<PathBuf>,
    /// Followed in this order, each with its own UIDVALIDITY and mark; names as a person sees
    /// them ([`super::utf7`] makes the wire form).
    pub folders: Vec<String>,
    /// Which folders are the spam folder: what is found there is marked 在垃圾邮件中发现.
    pub junk_folders: Vec<String>,
    /// The configuration still names the deprecated `mailbox.folder`.
    pub deprecated_folder: bool,
    pub idle: IdleMode,
    pub poll_interval: Duration,
    pub max_message_size: u64,
    pub id_name: String,
    pub id_version: String,
    pub id_vendor: String,
    /// Empty: set no keyword.
    pub processed_keyword: String,
    pub copy_to_folder: Option<String>,
    pub backoff_initial: Duration,
    pub backoff_max: Duration,
    pub login_min_interval: Duration,
    /// Attempts at one message that fails for a non-transient reason before it is given up on
    /// (recorded in `mailbox_failures`) so the messages after it are not blocked.
    pub max_attempts: u32,
}

impl MailboxSettings {
    /// Leadership is per account, progress per account and folder.
    pub fn account(&self) -> String {
        format!("{}@{}", self.username, self.host)
    }

    pub fn is_junk(&self, folder: &str) -> bool {
        self.junk_folders.iter().any(|j| j == folder)
    }
}

/// A configured folder name as it is kept: the form a person sees, `INBOX` in capitals (its name
/// is case-insensitive, RFC 3501 §5.1), or why it cannot be a folder.
fn folder_name(raw: &str) -> Result<String, String> {
    let name = raw.trim();
    if name.is_empty() {
        return Err("an empty folder name".into());
    }
    if name.chars().any(char::is_control) {
        return Err(format!("{name:?} contains a control character"));
    }
    if name.eq_ignore_ascii_case("INBOX") {
        return Ok("INBOX".into());
    }
    Ok(super::utf7::from_config(name))
}

/// `key`'s names, checked and normalised; every problem is pushed with the key.
fn folder_list(key: &str, raw: &[String], problems: &mut Vec<String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for r in raw {
        match folder_name(r) {
            Ok(n) if out.contains(&n) => {
                problems.push(format!("mailbox.{key}: {n:?} is listed twice"))
            }
            Ok(n) => out.push(n),
            Err(e) => problems.push(format!("mailbox.{key}: {e}")),
        }
    }
    out
}

pub(crate) fn convert(
    raw: RawMailbox,
    base: &Path,
    default_username: &str,
    problems: &mut Vec<String>,
) -> MailboxSettings {
    let mut duration = |key: &str, d: &RawDuration| -> Duration {
        d.parse().unwrap_or_else(|e| {
            problems.push(format!("mailbox.{key}: {e}"));
            Duration::ZERO
        })
    };
    let poll_interval = duration("poll_interval", &raw.poll_interval);
    let backoff_initial = duration("backoff_initial", &raw.backoff_initial);
    let backoff_max = duration("backoff_max", &raw.backoff_max);
    let login_min_interval = duration("login_min_interval", &raw.login_min_interval);
    if poll_interval.is_zero() {
        problems.push("mailbox.poll_interval: must be positive".into());
    }
    if backoff_max < backoff_initial {
        problems.push("mailbox.backoff_max: must not be less than mailbox.backoff_initial".into());
    }
    let tls = TlsMode::parse(&raw.tls).unwrap_or_else(|| {
        problems.push(format!(
            "mailbox.tls: {:?} is not one of implicit, starttls, none",
            raw.tls
        ));
        TlsMode::Implicit
    });
    let idle = match raw.idle.trim().to_lowercase().as_str() {
        "auto" | "on" => IdleMode::Auto,
        "off" => IdleMode::Off,
        other => {
            problems.push(format!("mailbox.idle: {other:?} is not one of auto, off"));
            IdleMode::Auto
        }
    };
    if raw.host.trim().is_empty() {
        problems.push("mailbox.host: required".into());
    }
    if raw.port == 0 {
        problems.push("mailbox.port: must be positive".into());
    }
    let deprecated_folder = raw.folder.is_some();
    let folders = match (&raw.folder, &raw.folders) {
        (Some(_), Some(_)) => {
            problems.push("mailbox.folder: deprecated; give mailbox.folders only, not both".into());
            Vec::new()
        }
        (Some(one), None) => folder_list("folder", std::slice::from_ref(one), problems),
        (None, Some(list)) => {
            // An empty variable (REPORTBOX_MAILBOX__FOLDERS=) reads as one empty name.
            let list: Vec<String> = list
                .iter()
                .filter(|f| !f.trim().is_empty())
                .cloned()
                .collect();
            let folders = folder_list("folders", &list, problems);
            if list.is_empty() {
                problems.push("mailbox.folders: name at least one folder (INBOX)".into());
            }
            folders
        }
        (None, None) => d_folders(),
    };
    let junk: Vec<String> = raw
        .junk_folders
        .iter()
        .filter(|f| !f.trim().is_empty())
        .cloned()
        .collect();
    let junk_folders = folder_list("junk_folders", &junk, problems);
    if junk_folders.iter().any(|j| j == "INBOX") {
        problems.push("mailbox.junk_folders: INBOX is not the spam folder".into());
    }
    if raw.max_message_size == 0 {
        problems.push("mailbox.max_message_size: must be positive".into());
    }
    if raw.max_attempts == 0 {
        problems.push("mailbox.max_attempts: must be at least 1".into());
    }
    let atom_ok = |s: &str| {
        s.chars()
            .all(|c| c.is_ascii_graphic() && !"(){%*\"\\]".contains(c))
    };
    if !atom_ok(&raw.processed_keyword) || raw.processed_keyword.starts_with('\\') {
        problems.push(format!(
            "mailbox.processed_keyword: {:?} is not an IMAP keyword (letters, digits, $ - _ .)",
            raw.processed_keyword
        ));
    }
    for (key, v) in [
        ("id_name", &raw.id_name),
        ("id_version", &raw.id_version),
        ("id_vendor", &raw.id_vendor),
    ] {
        if v.contains(['"', '\\', '\r', '\n']) {
            problems.push(format!(
                "mailbox.{key}: must not contain quotes, backslashes or line breaks"
            ));
        }
    }
    let ca_file = raw
        .ca_file
        .filter(|s| !s.trim().is_empty())
        .map(|p| base.join(p));
    if let Some(p) = &ca_file {
        if !p.is_file() {
            problems.push(format!("mailbox.ca_file: {} does not exist", p.display()));
        }
    }
    let mut password_file = None;
    let password = match (
        raw.password.filter(|p| !p.is_empty()),
        raw.password_file.filter(|p| !p.trim().is_empty()),
    ) {
        (Some(_), Some(_)) => {
            problems
                .push("mailbox.password: give either password or password_file, not both".into());
            None
        }
        (Some(p), None) => Some(Secret::new(p)),
        (None, Some(f)) => {
            let path = base.join(f);
            password_file = Some(path.clone());
            match std::fs::read_to_string(&path) {
                Ok(s) if !s.trim().is_empty() => {
                    Some(Secret::new(s.trim_end_matches(['\r', '\n']).to_string()))
                }
                Ok(_) => {
                    problems.push(format!(
                        "mailbox.password_file: {} is empty",
                        path.display()
                    ));
                    None
                }
                Err(e) => {
                    problems.push(format!(
                        "mailbox.password_file: cannot read {}: {e}",
                        path.display()
                    ));
                    None
                }
            }
        }
        (None, None) => None,
    };
    let username = raw
        .username
        .filter(|u| !u.trim().is_empty())
        .unwrap_or_else(|| default_username.to_string());
    MailboxSettings {
        host: raw.host.trim().to_string(),
        port: raw.port,
        tls,
        ca_file,
        username,
        password,
        password_file,
        folders,
        junk_folders,
        deprecated_folder,
        idle,
        poll_interval,
        max_message_size: raw.max_message_size,
        id_name: raw.id_name,
        id_version: raw.id_version,
        id_vendor: raw.id_vendor,
        processed_keyword: raw.processed_keyword.trim().to_string(),
        copy_to_folder: raw
            .copy_to_folder
            .filter(|f| !f.trim().is_empty())
            .and_then(|f| {
                folder_name(&f)
                    .map_err(|e| problems.push(format!("mailbox.copy_to_folder: {e}")))
                    .ok()
            }),
        backoff_initial,
        backoff_max,
        login_min_interval,
        max_attempts: raw.max_attempts,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_accept_seconds_and_units() {
        assert_eq!(RawDuration::Seconds(7).parse(), Ok(Duration::from_secs(7)));
        let t = |s: &str| RawDuration::Text(s.into()).parse();
        assert_eq!(t("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(t("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(t("30"), Ok(Duration::from_secs(30)));
        assert!(t("soon").is_err());
        assert!(t("5 fortnights").is_err());
    }

    #[test]
    fn defaults_are_163s_and_bad_values_name_their_keys() {
        let mut problems = Vec::new();
        let m = convert(
            RawMailbox::default(),
            Path::new("."),
            "a@163.com",
            &mut problems,
        );
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(
            (m.host.as_str(), m.port, m.tls),
            ("imap.163.com", 993, TlsMode::Implicit)
        );
        assert_eq!(m.username, "a@163.com");
        assert_eq!(m.login_min_interval, Duration::from_secs(60));
        let raw = RawMailbox {
            tls: "maybe".into(),
            idle: "sometimes".into(),
            poll_interval: RawDuration::Text("x".into()),
            processed_keyword: "bad keyword".into(),
            ..RawMailbox::default()
        };
        let mut problems = Vec::new();
        convert(raw, Path::new("."), "a@163.com", &mut problems);
        for key in [
            "mailbox.tls",
            "mailbox.idle",
            "mailbox.poll_interval",
            "mailbox.processed_keyword",
        ] {
            assert!(
                problems.iter().any(|p| p.starts_with(key)),
                "{key}: {problems:?}"
            );
        }
    }

    #[test]
    fn folders_default_to_inbox_and_163s_junk_folder() {
        let mut problems = Vec::new();
        let m = convert(
            RawMailbox::default(),
            Path::new("."),
            "a@163.com",
            &mut problems,
        );
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(m.folders, ["INBOX", "垃圾邮件"]);
        assert!(m.is_junk("垃圾邮件") && !m.is_junk("INBOX"));
        assert!(!m.deprecated_folder);
    }

    #[test]
    fn the_deprecated_folder_is_a_list_of_one() {
        let mut problems = Vec::new();
        let raw = RawMailbox {
            folder: Some("Reports".into()),
            ..RawMailbox::default()
        };
        let m = convert(raw, Path::new("."), "a@163.com", &mut problems);
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(m.folders, ["Reports"]);
        assert!(m.deprecated_folder);
        let raw = RawMailbox {
            folder: Some("INBOX".into()),
            folders: Some(vec!["INBOX".into()]),
            ..RawMailbox::default()
        };
        convert(raw, Path::new("."), "a@163.com", &mut problems);
        assert!(
            problems.iter().any(|p| p.starts_with("mailbox.folder:")),
            "{problems:?}"
        );
    }

    #[test]
    fn folder_names_are_kept_as_a_person_sees_them_and_checked() {
        let mut problems = Vec::new();
        let raw = RawMailbox {
            folders: Some(vec!["inbox".into(), "&V4NXPpCuTvY-".into(), "R&D".into()]),
            copy_to_folder: Some("已处理".into()),
            ..RawMailbox::default()
        };
        let m = convert(raw, Path::new("."), "a@163.com", &mut problems);
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(m.folders, ["INBOX", "垃圾邮件", "R&D"]);
        assert_eq!(m.copy_to_folder.as_deref(), Some("已处理"));
        for (folders, junk, key) in [
            (vec![], vec![], "mailbox.folders"),
            (vec![" ".to_string()], vec![], "mailbox.folders"),
            (
                vec!["INBOX".into(), "Inbox".into()],
                vec![],
                "mailbox.folders",
            ),
            (vec!["a\nb".to_string()], vec![], "mailbox.folders"),
            (
                vec!["INBOX".into()],
                vec!["INBOX".into()],
                "mailbox.junk_folders",
            ),
        ] {
            let mut problems = Vec::new();
            let raw = RawMailbox {
                folders: Some(folders.clone()),
                junk_folders: junk,
                ..RawMailbox::default()
            };
            convert(raw, Path::new("."), "a@163.com", &mut problems);
            assert!(
                problems.iter().any(|p| p.starts_with(key)),
                "{folders:?}: {problems:?}"
            );
        }
    }

    #[test]
    fn the_password_never_shows_in_debug() {
        let mut problems = Vec::new();
        let raw = RawMailbox {
            password: Some("hunter2-authcode".into()),
            ..RawMailbox::default()
        };
        let m = convert(raw, Path::new("."), "a@163.com", &mut problems);
        assert!(!format!("{m:?}").contains("hunter2"));
        assert_eq!(m.password.unwrap().expose(), "hunter2-authcode");
    }
}
