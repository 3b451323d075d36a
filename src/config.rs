//! Settings, in two steps: a layered load (the TOML file, then `REPORTBOX_SECTION__KEY`
//! environment variables) into raw serde structs, then a conversion into typed settings that
//! reports every problem at once, each with its key, before anything starts.

use crate::identify::{Roster, RosterError};
use crate::intake::{kind_from_name, FileKind, IntakeLimits};
use crate::validate::report::ReportRules;
use crate::validate::table::{TableLimits, TableTemplate};
use crate::validate::video::VideoRules;
use chrono::{DateTime, Datelike, FixedOffset};
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
    "mailbox",
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
    mailbox: crate::mailbox::settings::RawMailbox,
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
}

fn yes() -> bool {
    true
}

/// Which content check an item gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValidatorKind {
    Table,
    Report,
    Video,
    None,
}

/// One item the campaign asks for (contract §3 as data).
#[derive(Debug, Clone)]
pub struct ItemDef {
    pub key: String,
    pub label: String,
    pub code: String,
    pub required: bool,
    pub validator: ValidatorKind,
    /// The file kinds (by content) this item accepts, from its extensions.
    pub kinds: Vec<FileKind>,
    pub extensions: Vec<String>,
    /// A document whose name contains one of these is a scan of this item (`table_scan`).
    pub scan_name_contains: Vec<String>,
    /// Among several candidates, prefer a name containing one of these.
    pub prefer_name_contains: Vec<String>,
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

#[derive(Debug, Clone)]
pub struct Campaign {
    pub name: String,
    pub deadline: DateTime<FixedOffset>,
    pub year: i32,
    pub tz: Tz,
    pub mailbox: String,
    /// The campaign's own addresses (its mailbox first), lowercased: mail from them is set aside.
    pub own_addresses: Vec<String>,
    pub roster_path: PathBuf,
    pub strip_prefixes: Vec<String>,
    pub acks_per_sender_per_hour: u32,
    pub items: Vec<ItemDef>,
}

impl Campaign {
    pub fn item(&self, key: &str) -> Option<&ItemDef> {
        self.items.iter().find(|i| i.key == key)
    }

    /// The item a file of this content kind counts as, if any.
    pub fn item_for_kind(&self, kind: FileKind) -> Option<&ItemDef> {
        self.items.iter().find(|i| i.kinds.contains(&kind))
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
    pub mailbox: crate::mailbox::MailboxSettings,
    /// Loaded from `campaign.roster` and checked with the rest.
    pub roster: Roster,
}

impl Settings {
    /// Loads `path`, layered with `REPORTBOX_…` variables from `env`.
    pub fn load(
        path: &Path,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Settings, ConfigError> {
        let env_map: ::config::Map<String, String> = env
            .into_iter()
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
                    .source(Some(env_map)),
            )
            .build()?
            .try_deserialize()?;
        let base = path.parent().unwrap_or(Path::new("."));
        Self::from_raw(raw, base)
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
        let deadline_text = need("campaign.deadline", raw.campaign.deadline);
        let roster_text = need("campaign.roster", raw.campaign.roster);

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

        match (deadline, tz, roster, problems.is_empty()) {
            (Some(deadline), Some(tz), Some(roster), true) => Ok(Settings {
                database: DatabaseSettings {
                    url,
                    max_connections: raw.database.max_connections,
                },
                storage_dir: base.join(storage),
                campaign: Campaign {
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
                },
                limits,
                table: raw.table,
                table_limits: raw.table_limits,
                report: raw.report,
                video: raw.video,
                mailbox: mailbox_settings,
                roster,
            }),
            _ => Err(ConfigError::Invalid(problems)),
        }
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
