//! Settings, in two steps: a layered load (the TOML file, then `REPORTBOX_SECTION__KEY`
//! environment variables) into raw serde structs, then a conversion into typed settings that
//! reports every problem at once, each with its key, before anything starts.

use crate::campaign::{Campaign, ItemDef, ReminderRound, ValidatorKind};
use crate::identify::{Roster, RosterError};
use crate::intake::{kind_from_name, IntakeLimits};
pub use crate::net::TlsMode;
use crate::schedule::ScheduleSettings;
use crate::validate::report::ReportRules;
use crate::validate::table::{TableLimits, TableTemplate};
use crate::validate::video::VideoRules;
use chrono::{DateTime, Datelike};
use chrono_tz::Tz;
use serde::Deserialize;
use std::fmt;
use std::path::{Path, PathBuf};

/// The sections a `REPORTBOX_…` variable may address; other variables with that prefix (a test
/// harness's, say) are not configuration.
const SECTIONS: &[&str] = &[
    "database",
    "storage",
    "campaign",
    "limits",
    "table",
    "table_limits",
    "report",
    "video",
    "smtp",
    "schedule",
    "mailbox",
    "metrics",
];

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot load configuration: {0}")]
    Load(#[from] ::config::ConfigError),
    #[error("invalid configuration:\n{}", .0.iter().map(|p| format!("  - {p}")).collect::<Vec<_>>().join("\n"))]
    Invalid(Vec<String>),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSettings {
    database: RawDatabase,
    storage: RawStorage,
    campaign: RawCampaign,
    #[serde(default)]
    limits: IntakeLimits,
    #[serde(default = "TableTemplate::taiyuan_2023")]
    table: TableTemplate,
    #[serde(default)]
    table_limits: TableLimits,
    #[serde(default)]
    report: ReportRules,
    #[serde(default)]
    video: VideoRules,
    #[serde(default)]
    smtp: RawSmtp,
    #[serde(default)]
    schedule: RawSchedule,
    #[serde(default)]
    mailbox: crate::mailbox::settings::RawMailbox,
    #[serde(default)]
    metrics: crate::metrics::RawMetrics,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawSmtp {
    host: String,
    port: u16,
    tls: String,
    ca_file: Option<String>,
    username: Option<String>,
    password: Option<String>,
    password_file: Option<String>,
    from_name: String,
    max_per_minute: u32,
    timeout_seconds: u64,
    /// How often an idle sender looks at the outbox anyway; a recorded message wakes it at once
    /// (PostgreSQL NOTIFY), so this only matters when that notice is lost.
    idle_poll_seconds: u64,
    /// How long sending pauses after the server refuses the authorisation code before the
    /// (re-read) code is tried again.
    auth_retry_seconds: u64,
    resend_grace_seconds: u64,
}

impl Default for RawSmtp {
    fn default() -> Self {
        RawSmtp {
            host: "smtp.163.com".into(),
            port: 465,
            tls: "implicit".into(),
            ca_file: None,
            username: None,
            password: None,
            password_file: None,
            from_name: String::new(),
            max_per_minute: 4,
            timeout_seconds: 60,
            idle_poll_seconds: 10,
            auth_retry_seconds: 300,
            resend_grace_seconds: 300,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawSchedule {
    reminders: Vec<String>,
    daily_report_at: String,
    report_days_after_deadline: i64,
}

impl Default for RawSchedule {
    fn default() -> Self {
        RawSchedule {
            reminders: ["-3 09:00", "-1 09:00", "+1 09:00", "+3 09:00"]
                .map(String::from)
                .to_vec(),
            daily_report_at: "08:30".into(),
            report_days_after_deadline: 7,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDatabase {
    url: Option<String>,
    #[serde(default = "default_max_connections")]
    max_connections: u32,
}

fn default_max_connections() -> u32 {
    5
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStorage {
    dir: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCampaign {
    /// Unset: `default` (a deployment with one campaign need not name it).
    key: Option<String>,
    name: Option<String>,
    deadline: Option<String>,
    year: Option<i32>,
    #[serde(default = "default_timezone")]
    timezone: String,
    #[serde(default = "default_mailbox")]
    mailbox: String,
    #[serde(default)]
    own_addresses: Vec<String>,
    roster: Option<String>,
    #[serde(default = "default_strip_prefixes")]
    strip_prefixes: Vec<String>,
    #[serde(default = "default_acks_per_hour")]
    acks_per_sender_per_hour: u32,
    #[serde(default)]
    items: Vec<RawItem>,
    /// Addresses that get the daily status email.
    #[serde(default)]
    coordinators: Vec<String>,
    /// When the campaign opens: daily reports start that day. Defaults to 30 days before the deadline.
    opens: Option<String>,
    /// The liaison named in the notice, quoted in every email to units.
    #[serde(default)]
    contact: String,
    /// The blank statistics table, attached to reminders when the table is missing.
    template_file: Option<String>,
    /// Words that make a message from an unknown sender worth keeping (contract §8 (d));
    /// unset: the campaign name without year and place, each item's label, and the words of
    /// [`DEFAULT_KEYWORDS`].
    keywords: Option<Vec<String>>,
}

/// Words of the notice a unit writes somewhere in a submission (contract §8 (d)).
pub const DEFAULT_KEYWORDS: [&str; 7] = [
    "科技活动周",
    "科技周",
    "活动周",
    "统计表",
    "总结",
    "影像",
    "视频",
];

/// The campaign name without its year and place (`2023年太原市科技活动周` → `科技活动周`),
/// each item's label, and [`DEFAULT_KEYWORDS`].
fn default_keywords(name: &str, items: &[ItemDef]) -> Vec<String> {
    let no_year = name
        .trim()
        .trim_start_matches(|c: char| c.is_ascii_digit())
        .trim_start_matches(['年', ' ']);
    // A place is a short name ending in 省, 市, 区 or 县 at the start.
    let place_end = no_year
        .char_indices()
        .take(8)
        .filter(|(_, c)| matches!(c, '省' | '市' | '区' | '县'))
        .map(|(i, c)| i + c.len_utf8())
        .last()
        .unwrap_or(0);
    let mut words = vec![no_year[place_end..].to_string()];
    words.extend(items.iter().map(|i| i.label.clone()));
    words.extend(DEFAULT_KEYWORDS.iter().map(|w| w.to_string()));
    words.dedup();
    words
}

/// The key of a campaign whose configuration names none.
pub const DEFAULT_CAMPAIGN_KEY: &str = "default";

fn valid_key(key: &str) -> bool {
    !key.is_empty()
        && key != crate::store::LEGACY_CAMPAIGN_KEY
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

fn default_timezone() -> String {
    "Asia/Shanghai".into()
}
fn default_mailbox() -> String {
    "w251342595@163.com".into()
}
fn default_strip_prefixes() -> Vec<String> {
    vec!["太原市".into()]
}
fn default_acks_per_hour() -> u32 {
    5
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawItem {
    key: String,
    label: String,
    /// Prefix of the item's problem codes (`video` → `video.link_only`).
    code: String,
    #[serde(default = "yes")]
    required: bool,
    validator: String,
    extensions: Vec<String>,
    #[serde(default)]
    scan_name_contains: Vec<String>,
    #[serde(default)]
    prefer_name_contains: Vec<String>,
    /// The file name `export` gives the item, without extension; the label when unset.
    #[serde(default)]
    export_name: Option<String>,
}

fn yes() -> bool {
    true
}

#[derive(Clone)]
pub struct DatabaseSettings {
    pub url: String,
    pub max_connections: u32,
}

// The URL carries the password: never print it.
impl fmt::Debug for DatabaseSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DatabaseSettings")
            .field("url", &"<redacted>")
            .field("max_connections", &self.max_connections)
            .finish()
    }
}

/// How mail is sent (issue 5): 163's submission server by default.
#[derive(Clone)]
pub struct SmtpSettings {
    pub host: String,
    pub port: u16,
    pub tls: TlsMode,
    pub ca_file: Option<PathBuf>,
    pub username: Option<String>,
    pub password: Option<String>,
    /// Where `password` came from, read again after the server refused it: fixing the file
    /// is enough for sending to resume.
    pub password_file: Option<PathBuf>,
    pub from_name: String,
    pub max_per_minute: u32,
    pub timeout: std::time::Duration,
    pub idle_poll: std::time::Duration,
    pub auth_retry: std::time::Duration,
    /// How long an email that was being transmitted when the sender died waits before it is
    /// sent again (the server may have taken it; a resend carries the same Message-ID).
    pub resend_grace: std::time::Duration,
}

// The password is an authorisation code: never print it.
impl fmt::Debug for SmtpSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpSettings")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("tls", &self.tls)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("max_per_minute", &self.max_per_minute)
            .finish()
    }
}

#[derive(Debug, Clone)]
pub struct Settings {
    pub database: DatabaseSettings,
    pub storage_dir: PathBuf,
    pub campaign: Campaign,
    pub limits: IntakeLimits,
    pub table: TableTemplate,
    pub table_limits: TableLimits,
    pub report: ReportRules,
    pub video: VideoRules,
    pub smtp: SmtpSettings,
    pub schedule: ScheduleSettings,
    pub mailbox: crate::mailbox::settings::MailboxSettings,
    pub metrics: crate::metrics::MetricsSettings,
    /// Loaded from `campaign.roster` and checked with the rest.
    pub roster: Roster,
}

impl Settings {
    /// What the validators need of the campaign.
    pub fn validate_rules(&self) -> crate::validate::Rules<'_> {
        crate::validate::Rules {
            table: &self.table,
            table_limits: &self.table_limits,
            report: &self.report,
            video: &self.video,
            year: self.campaign.year,
        }
    }

    /// Loads `path`, layered with `REPORTBOX_…` variables from `env`.
    pub fn load(
        path: &Path,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Settings, ConfigError> {
        let mut credentials = None;
        let env_map: ::config::Map<String, String> = env
            .into_iter()
            .inspect(|(k, v)| {
                if k == "CREDENTIALS_DIRECTORY" && !v.is_empty() {
                    credentials = Some(PathBuf::from(v));
                }
            })
            .filter(|(k, _)| {
                k.strip_prefix("REPORTBOX_")
                    .and_then(|rest| rest.split("__").next())
                    .is_some_and(|section| SECTIONS.contains(&section.to_lowercase().as_str()))
            })
            .collect();
        let raw: RawSettings = ::config::Config::builder()
            .add_source(::config::File::from(path).format(::config::FileFormat::Toml))
            .add_source(
                ::config::Environment::with_prefix("REPORTBOX")
                    .prefix_separator("_")
                    .separator("__")
                    .try_parsing(true)
                    .list_separator(",")
                    .with_list_parse_key("campaign.strip_prefixes")
                    .with_list_parse_key("campaign.own_addresses")
                    .with_list_parse_key("campaign.coordinators")
                    .with_list_parse_key("campaign.keywords")
                    .with_list_parse_key("schedule.reminders")
                    .with_list_parse_key("mailbox.folders")
                    .with_list_parse_key("mailbox.junk_folders")
                    .source(Some(env_map)),
            )
            .build()?
            .try_deserialize()?;
        let base = path.parent().unwrap_or(Path::new("."));
        Self::from_raw(with_credentials(raw, credentials.as_deref()), base)
    }

    /// Loads `path` with the process environment.
    pub fn load_from_env(path: &Path) -> Result<Settings, ConfigError> {
        Self::load(path, std::env::vars())
    }

    fn from_raw(raw: RawSettings, base: &Path) -> Result<Settings, ConfigError> {
        let mut problems = Vec::new();
        let mut need = |key: &str, value: Option<String>| -> String {
            match value.filter(|v| !v.trim().is_empty()) {
                Some(v) => v,
                None => {
                    problems.push(format!("{key}: required"));
                    String::new()
                }
            }
        };
        let url = need("database.url", raw.database.url);
        let storage = need("storage.dir", raw.storage.dir);
        let name = need("campaign.name", raw.campaign.name);
        let key = raw
            .campaign
            .key
            .map(|k| k.trim().to_string())
            .unwrap_or_else(|| DEFAULT_CAMPAIGN_KEY.to_string());

        let deadline_text = need("campaign.deadline", raw.campaign.deadline);
        let roster_text = need("campaign.roster", raw.campaign.roster);

        if !valid_key(&key) {
            problems.push(format!(
                "campaign.key: {key:?} must be letters, digits, '-' or '_' (it is typed after --campaign)"
            ));
        }
        if !url.is_empty() && !url.starts_with("postgres://") && !url.starts_with("postgresql://") {
            problems.push("database.url: must be a postgres:// URL".into());
        }
        if raw.database.max_connections == 0 {
            problems.push("database.max_connections: must be at least 1".into());
        }
        let deadline = if deadline_text.is_empty() {
            None
        } else {
            match DateTime::parse_from_rfc3339(&deadline_text) {
                Ok(d) => Some(d),
                Err(e) => {
                    problems.push(format!(
                        "campaign.deadline: {deadline_text:?} is not an RFC 3339 instant ({e}); e.g. 2023-06-10T00:00:00+08:00"
                    ));
                    None
                }
            }
        };
        let tz: Option<Tz> = match raw.campaign.timezone.parse() {
            Ok(tz) => Some(tz),
            Err(_) => {
                problems.push(format!(
                    "campaign.timezone: {:?} is not an IANA time zone",
                    raw.campaign.timezone
                ));
                None
            }
        };
        let mailbox = raw.campaign.mailbox.trim().to_lowercase();
        if !mailbox.contains('@') {
            problems.push(format!(
                "campaign.mailbox: {mailbox:?} is not an email address"
            ));
        }
        let mut own_addresses = vec![mailbox.clone()];
        own_addresses.extend(
            raw.campaign
                .own_addresses
                .iter()
                .map(|a| a.trim().to_lowercase())
                .filter(|a| !a.is_empty()),
        );

        let items = convert_items(raw.campaign.items, &mut problems);
        let keywords = match raw.campaign.keywords {
            Some(k) => k,
            None => default_keywords(&name, &items),
        };
        let keywords: Vec<String> = keywords
            .iter()
            .map(|k| k.trim().to_lowercase())
            .filter(|k| !k.is_empty())
            .collect();
        let limits = raw.limits;
        if limits.archive_max_ratio == 0 || limits.archive_max_entries == 0 {
            problems.push("limits: archive limits must be positive".into());
        }
        if limits.max_file_bytes == 0 {
            problems.push("limits.max_file_bytes: must be positive".into());
        }
        if raw.table.indicators.is_empty() {
            problems.push("table.indicators: the table template needs indicators".into());
        }
        if raw.video.max_seconds <= 0.0 {
            problems.push("video.max_seconds: must be positive".into());
        }

        let smtp = convert_smtp(raw.smtp, base, &mut problems);
        let schedule = convert_schedule(raw.schedule, &mut problems);
        let metrics = crate::metrics::convert(raw.metrics, &mut problems);
        let coordinators: Vec<String> = raw
            .campaign
            .coordinators
            .iter()
            .map(|a| a.trim().to_lowercase())
            .filter(|a| !a.is_empty())
            .collect();
        for a in &coordinators {
            if !a.contains('@') {
                problems.push(format!(
                    "campaign.coordinators: {a:?} is not an email address"
                ));
            }
        }
        let opens = match &raw.campaign.opens {
            None => deadline.map(|d| d - chrono::Duration::days(30)),
            Some(t) => match DateTime::parse_from_rfc3339(t) {
                Ok(d) => Some(d),
                Err(e) => {
                    problems.push(format!(
                        "campaign.opens: {t:?} is not an RFC 3339 instant ({e})"
                    ));
                    None
                }
            },
        };
        let template_file = raw.campaign.template_file.as_ref().map(|t| base.join(t));
        if let Some(t) = &template_file {
            if !t.is_file() {
                problems.push(format!(
                    "campaign.template_file: {} does not exist",
                    t.display()
                ));
            }
        }
        let mailbox_settings =
            crate::mailbox::settings::convert(raw.mailbox, base, &mailbox, &mut problems);

        let roster_path = base.join(&roster_text);
        let roster = if roster_text.is_empty() {
            None
        } else {
            match Roster::load(&roster_path) {
                Ok(r) => Some(r),
                Err(RosterError::Io { path, source }) => {
                    problems.push(format!("campaign.roster: cannot read {path}: {source}"));
                    None
                }
                Err(e) => {
                    problems.push(format!("campaign.roster ({}): {e}", roster_path.display()));
                    None
                }
            }
        };

        match (deadline, tz, roster, opens, problems.is_empty()) {
            (Some(deadline), Some(tz), Some(roster), Some(opens), true) => Ok(Settings {
                database: DatabaseSettings {
                    url,
                    max_connections: raw.database.max_connections,
                },
                storage_dir: base.join(storage),
                campaign: Campaign {
                    key,
                    name,
                    year: raw.campaign.year.unwrap_or_else(|| deadline.year()),
                    deadline,
                    tz,
                    mailbox,
                    own_addresses,
                    roster_path,
                    strip_prefixes: raw.campaign.strip_prefixes,
                    acks_per_sender_per_hour: raw.campaign.acks_per_sender_per_hour,
                    items,
                    coordinators,
                    opens,
                    contact: raw.campaign.contact,
                    template_file,
                    keywords,
                },
                limits,
                table: raw.table,
                table_limits: raw.table_limits,
                report: raw.report,
                video: raw.video,
                smtp,
                schedule,
                mailbox: mailbox_settings,
                metrics,
                roster,
            }),
            _ => Err(ConfigError::Invalid(problems)),
        }
    }
}

/// Under systemd, `LoadCredential=` puts secrets in `$CREDENTIALS_DIRECTORY`, readable by this
/// service only: `mailbox-password` (the 163 authorisation code) and `smtp-password` (when it
/// differs; 163 uses the same code for both) are read from there unless the configuration names
/// a password or a file itself.
fn with_credentials(mut raw: RawSettings, dir: Option<&Path>) -> RawSettings {
    let Some(dir) = dir else { return raw };
    let file = |name: &str| {
        let p = dir.join(name);
        p.is_file().then(|| p.display().to_string())
    };
    let unset = |p: &Option<String>, f: &Option<String>| {
        p.as_deref().is_none_or(str::is_empty) && f.as_deref().is_none_or(str::is_empty)
    };
    let mailbox = file("mailbox-password");
    if unset(&raw.mailbox.password, &raw.mailbox.password_file) {
        if let Some(m) = &mailbox {
            raw.mailbox.password_file = Some(m.clone());
        }
    }
    if unset(&raw.smtp.password, &raw.smtp.password_file) {
        raw.smtp.password_file = file("smtp-password").or(mailbox);
    }
    raw
}

fn convert_smtp(raw: RawSmtp, base: &Path, problems: &mut Vec<String>) -> SmtpSettings {
    let tls = TlsMode::parse(&raw.tls).unwrap_or_else(|| {
        problems.push(format!(
            "smtp.tls: {:?} is not one of implicit, starttls, none",
            raw.tls
        ));
        TlsMode::Implicit
    });
    if raw.host.trim().is_empty() {
        problems.push("smtp.host: required".into());
    }
    if raw.max_per_minute == 0 {
        problems.push("smtp.max_per_minute: must be at least 1".into());
    }
    let mut password_file = None;
    let password = match (raw.password.filter(|p| !p.is_empty()), raw.password_file) {
        (Some(p), _) => Some(p),
        (None, Some(f)) if !f.is_empty() => {
            password_file = Some(base.join(&f));
            match std::fs::read_to_string(base.join(&f)) {
                Ok(p) => Some(p.trim().to_string()),
                Err(e) => {
                    problems.push(format!("smtp.password_file: cannot read {f}: {e}"));
                    None
                }
            }
        }
        _ => None,
    };
    let ca_file = raw.ca_file.filter(|c| !c.is_empty()).map(|c| base.join(c));
    if let Some(c) = &ca_file {
        if !c.is_file() {
            problems.push(format!("smtp.ca_file: {} does not exist", c.display()));
        }
    }
    SmtpSettings {
        host: raw.host,
        port: raw.port,
        tls,
        ca_file,
        username: raw.username.filter(|u| !u.is_empty()),
        password,
        password_file,
        from_name: raw.from_name,
        max_per_minute: raw.max_per_minute,
        timeout: std::time::Duration::from_secs(raw.timeout_seconds.max(1)),
        idle_poll: std::time::Duration::from_secs(raw.idle_poll_seconds.max(1)),
        auth_retry: std::time::Duration::from_secs(raw.auth_retry_seconds.max(1)),
        resend_grace: std::time::Duration::from_secs(raw.resend_grace_seconds),
    }
}

fn parse_time(key: &str, text: &str, problems: &mut Vec<String>) -> chrono::NaiveTime {
    chrono::NaiveTime::parse_from_str(text.trim(), "%H:%M").unwrap_or_else(|_| {
        problems.push(format!("{key}: {text:?} is not a time of day like 09:00"));
        chrono::NaiveTime::MIN
    })
}

fn convert_schedule(raw: RawSchedule, problems: &mut Vec<String>) -> ScheduleSettings {
    let mut reminders = Vec::new();
    for (i, r) in raw.reminders.iter().enumerate() {
        let key = format!("schedule.reminders[{i}]");
        let mut parts = r.split_whitespace();
        let days = parts
            .next()
            .and_then(|d| d.trim_start_matches('+').parse::<i64>().ok());
        match (days, parts.next(), parts.next()) {
            (Some(days), Some(at), None) => reminders.push(ReminderRound {
                days,
                at: parse_time(&key, at, problems),
            }),
            _ => problems.push(format!(
                "{key}: {r:?} must be days from the deadline's date and a time, like \"-3 09:00\" or \"+1 09:00\""
            )),
        }
    }
    reminders.sort_by_key(|r| (r.days, r.at));
    ScheduleSettings {
        reminders,
        daily_report_at: parse_time("schedule.daily_report_at", &raw.daily_report_at, problems),
        report_days_after_deadline: raw.report_days_after_deadline,
    }
}

fn convert_items(raw: Vec<RawItem>, problems: &mut Vec<String>) -> Vec<ItemDef> {
    if raw.is_empty() {
        problems.push("campaign.items: at least one item is required".into());
    }
    let mut items: Vec<ItemDef> = Vec::new();
    for (i, item) in raw.into_iter().enumerate() {
        let key = format!("campaign.items[{i}]");
        if item.key.is_empty() || items.iter().any(|o| o.key == item.key) {
            problems.push(format!("{key}.key: empty or duplicate {:?}", item.key));
        }
        let validator = match item.validator.as_str() {
            "table" => ValidatorKind::Table,
            "report" => ValidatorKind::Report,
            "video" => ValidatorKind::Video,
            "none" => ValidatorKind::None,
            other => {
                problems.push(format!(
                    "{key}.validator: {other:?} is not one of table, report, video, none"
                ));
                ValidatorKind::None
            }
        };
        let mut kinds = Vec::new();
        for ext in &item.extensions {
            match kind_from_name(&format!("x.{ext}")) {
                Some(k) => {
                    if let Some(other) = items.iter().find(|o| o.kinds.contains(&k)) {
                        problems.push(format!(
                            "{key}.extensions: {ext} is already an extension of {}",
                            other.key
                        ));
                    }
                    if !kinds.contains(&k) {
                        kinds.push(k);
                    }
                }
                None => problems.push(format!("{key}.extensions: unknown file type {ext:?}")),
            }
        }
        items.push(ItemDef {
            export_name: item
                .export_name
                .filter(|n| !n.trim().is_empty())
                .unwrap_or_else(|| item.label.clone()),
            key: item.key,
            label: item.label,
            code: item.code,
            required: item.required,
            validator,
            kinds,
            extensions: item.extensions.iter().map(|e| e.to_lowercase()).collect(),
            scan_name_contains: item.scan_name_contains,
            prefer_name_contains: item.prefer_name_contains,
        });
    }
    items
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_keywords_are_the_campaign_without_year_and_place_and_the_item_labels() {
        let item = |label: &str| ItemDef {
            key: label.into(),
            label: label.into(),
            code: String::new(),
            required: true,
            validator: ValidatorKind::None,
            kinds: Vec::new(),
            extensions: Vec::new(),
            scan_name_contains: Vec::new(),
            prefer_name_contains: Vec::new(),
            export_name: label.into(),
        };
        let words = default_keywords("2023年太原市科技活动周", &[item("开展情况统计表")]);
        assert_eq!(words[..2], ["科技活动周", "开展情况统计表"]);
        assert!(words.contains(&"视频".to_string()));
        assert_eq!(
            default_keywords("2024年山西省太原市全国科普日", &[])[0],
            "全国科普日"
        );
        assert_eq!(default_keywords("科普基地年报", &[])[0], "科普基地年报");
    }
}
