//! Settings, in two steps: a layered load (the TOML file, then `REPORTBOX_SECTION__KEY`
//! environment variables) into raw serde structs, then a conversion into typed settings that
//! reports every problem at once, each with its key, before anything starts.

mod campaigns;

use crate::secret::Secret;
pub use campaigns::{CampaignSettings, DEFAULT_CAMPAIGN_KEY};
use campaigns::{RawCampaign, RawSchedule};

use crate::campaign::Campaign;
use crate::identify::Roster;
use crate::intake::IntakeLimits;
pub use crate::net::TlsMode;
use crate::schedule::ScheduleSettings;
use crate::validate::report::ReportRules;
use crate::validate::table::{TableLimits, TableTemplate};
use crate::validate::video::VideoRules;
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
    storage: crate::store::settings::RawStorage,
    campaign: RawCampaign,
    #[serde(default)]
    limits: IntakeLimits,
    table: Option<TableTemplate>,
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
pub(super) struct RawSmtp {
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
#[serde(deny_unknown_fields)]
struct RawDatabase {
    url: Option<String>,
    #[serde(default = "default_max_connections")]
    max_connections: u32,
}

fn default_max_connections() -> u32 {
    5
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
#[derive(Debug, Clone)]
pub struct SmtpSettings {
    pub host: String,
    pub port: u16,
    pub tls: TlsMode,
    pub ca_file: Option<PathBuf>,
    pub username: Option<String>,
    pub password: Option<Secret>,
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

#[derive(Debug, Clone)]
pub struct Settings {
    pub database: DatabaseSettings,
    pub storage: crate::store::StorageSettings,
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
    /// Every configured campaign, reportbox.toml's first; the fields above are one of them
    /// (the first, or the one [`Settings::select`] chose).
    pub campaigns: std::sync::Arc<Vec<CampaignSettings>>,
}

impl Settings {
    /// What composing emails needs of the selected campaign.
    pub fn compose(&self) -> crate::notify::compose::Context<'_> {
        crate::notify::compose::Context {
            campaign: &self.campaign,
            roster: &self.roster,
            table: &self.table,
            video: &self.video,
        }
    }
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
        let mut aws = std::collections::HashMap::new();
        let env_map: ::config::Map<String, String> = env
            .into_iter()
            .inspect(|(k, v)| {
                if k == "CREDENTIALS_DIRECTORY" && !v.is_empty() {
                    credentials = Some(PathBuf::from(v));
                }
                if k == "AWS_ACCESS_KEY_ID" || k == "AWS_SECRET_ACCESS_KEY" {
                    aws.insert(k.clone(), v.clone());
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
        Self::from_raw(
            with_credentials(raw, credentials.as_deref()),
            base,
            path,
            &|k: &str| aws.get(k).cloned(),
        )
    }

    /// Loads `path` with the process environment.
    pub fn load_from_env(path: &Path) -> Result<Settings, ConfigError> {
        Self::load(path, std::env::vars())
    }

    fn from_raw(
        raw: RawSettings,
        base: &Path,
        source: &Path,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Settings, ConfigError> {
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
        if !url.is_empty() && !url.starts_with("postgres://") && !url.starts_with("postgresql://") {
            problems.push("database.url: must be a postgres:// URL".into());
        }
        if raw.database.max_connections == 0 {
            problems.push("database.max_connections: must be at least 1".into());
        }
        let limits = raw.limits;
        if limits.archive_max_ratio == 0 || limits.archive_max_entries == 0 {
            problems.push("limits: archive limits must be positive".into());
        }
        if limits.max_file_bytes == 0 {
            problems.push("limits.max_file_bytes: must be positive".into());
        }
        let smtp = convert_smtp(raw.smtp, base, &mut problems);
        let metrics = crate::metrics::convert(raw.metrics, &mut problems);
        // The deployment's mailbox is the designated mailbox of the campaign configured here.
        let address = raw.campaign.mailbox().to_lowercase();
        let mailbox = crate::mailbox::settings::convert(raw.mailbox, base, &address, &mut problems);

        let storage =
            crate::store::StorageSettings::from_raw(raw.storage, base, env, &mut problems);
        let main = campaigns::RawCampaignFile {
            campaign: raw.campaign,
            table: raw.table,
            table_limits: raw.table_limits,
            report: raw.report,
            video: raw.video,
            schedule: raw.schedule,
            mailbox: None,
            smtp: None,
        };
        let accounts = campaigns::Accounts {
            mailbox: &mailbox,
            smtp: &smtp,
        };
        let mut campaigns = Vec::new();
        campaigns.extend(campaigns::convert(
            main,
            base,
            source,
            "",
            &accounts,
            &mut problems,
        ));
        let dir = base.join(CAMPAIGNS_DIR);
        for (path, file) in campaigns::load_dir(&dir, &mut problems) {
            let at = format!("{}: ", path.display());
            campaigns.extend(campaigns::convert(
                file,
                base,
                &path,
                &at,
                &accounts,
                &mut problems,
            ));
        }
        for (i, c) in campaigns.iter().enumerate() {
            if let Some(first) = campaigns[..i]
                .iter()
                .find(|o| o.campaign.key == c.campaign.key)
            {
                problems.push(format!(
                    "{}: campaign.key {:?} is already the key of the campaign in {}",
                    c.source.display(),
                    c.campaign.key,
                    first.source.display()
                ));
            }
            // One account sends as one address: campaigns reading one mailbox answer from it.
            if let Some(other) = campaigns[..i].iter().find(|o| {
                o.mailbox.account() == c.mailbox.account()
                    && o.campaign.mailbox != c.campaign.mailbox
            }) {
                problems.push(format!(
                    "{}: campaign.mailbox {:?} differs from {:?} of the campaign in {}, which reads the same mailbox ({}); give this campaign its own [mailbox] or the same address",
                    c.source.display(),
                    c.campaign.mailbox,
                    other.campaign.mailbox,
                    other.source.display(),
                    c.mailbox.account()
                ));
            }
        }
        if !problems.is_empty() || campaigns.is_empty() {
            return Err(ConfigError::Invalid(problems));
        }
        let first = campaigns[0].clone();
        let campaigns = std::sync::Arc::new(campaigns);
        Ok(Settings {
            database: DatabaseSettings {
                url,
                max_connections: raw.database.max_connections,
            },
            storage,
            campaign: first.campaign,
            limits,
            table: first.table,
            table_limits: first.table_limits,
            report: first.report,
            video: first.video,
            smtp,
            schedule: first.schedule,
            mailbox,
            metrics,
            roster: first.roster,
            campaigns,
        })
    }

    /// The keys of the configured campaigns, the one in reportbox.toml first.
    pub fn campaign_keys(&self) -> Vec<&str> {
        self.campaigns
            .iter()
            .map(|c| c.campaign.key.as_str())
            .collect()
    }

    /// These settings for the campaign `key` (its campaign, roster, table, rules and schedule in
    /// place of the first's). Without a key, the only campaign; with several configured, a key
    /// is required and the error lists them.
    pub fn select(&self, key: Option<&str>) -> Result<Settings, SelectError> {
        let keys = self.campaign_keys().join(", ");
        let chosen = match key {
            None if self.campaigns.len() == 1 => &self.campaigns[0],
            None => return Err(SelectError::Ambiguous(keys)),
            Some(k) => self
                .campaigns
                .iter()
                .find(|c| c.campaign.key == k)
                .ok_or_else(|| SelectError::Unknown(k.to_string(), keys))?,
        };
        let c = chosen.clone();
        Ok(Settings {
            campaign: c.campaign,
            table: c.table,
            table_limits: c.table_limits,
            report: c.report,
            video: c.video,
            schedule: c.schedule,
            roster: c.roster,
            mailbox: c.mailbox,
            smtp: c.smtp,
            ..self.clone()
        })
    }

    /// The configured campaigns grouped by the mailbox they read, in configuration order; the
    /// first of each group is where that mailbox's unmatched mail goes. One mailbox loop and one
    /// sender serve each group.
    pub fn mailbox_groups(&self) -> Vec<Vec<&str>> {
        let mut groups: Vec<(String, Vec<&str>)> = Vec::new();
        for c in self.campaigns.iter() {
            let account = c.mailbox.account();
            match groups.iter_mut().find(|(a, _)| *a == account) {
                Some((_, keys)) => keys.push(c.campaign.key.as_str()),
                None => groups.push((account, vec![c.campaign.key.as_str()])),
            }
        }
        groups.into_iter().map(|(_, keys)| keys).collect()
    }

    /// These settings with the selected campaign alone: what is recorded with them stays in it,
    /// never routed to another campaign reading the same mailbox (`import`, whose command line
    /// names the campaign).
    pub fn alone(&self) -> Settings {
        let only = self
            .campaigns
            .iter()
            .filter(|c| c.campaign.key == self.campaign.key)
            .cloned()
            .collect();
        Settings {
            campaigns: std::sync::Arc::new(only),
            ..self.clone()
        }
    }

    /// The campaigns reading the selected campaign's mailbox (itself among them), in
    /// configuration order.
    pub fn mailbox_peers(&self) -> Vec<&CampaignSettings> {
        let account = self.mailbox.account();
        self.campaigns
            .iter()
            .filter(|c| c.mailbox.account() == account)
            .collect()
    }

    /// Whether the selected campaign is the one in reportbox.toml: the one that takes over what
    /// was recorded before campaigns existed (migration 0009).
    pub fn is_first_campaign(&self) -> bool {
        self.campaigns
            .first()
            .is_some_and(|c| c.campaign.key == self.campaign.key)
    }
}

/// Where campaigns besides reportbox.toml's are configured: every `*.toml` in this directory
/// beside it, one campaign each.
pub const CAMPAIGNS_DIR: &str = "campaigns";

/// Choosing a campaign for a command.
#[derive(Debug, thiserror::Error)]
pub enum SelectError {
    #[error("配置了多个活动，请用 --campaign 指定其一：{0}（several campaigns are configured; name one with --campaign）")]
    Ambiguous(String),
    #[error("没有名为 {0:?} 的活动；已配置的活动：{1}（no campaign {0:?}; configured: {1}）")]
    Unknown(String, String),
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

pub(super) fn convert_smtp(raw: RawSmtp, base: &Path, problems: &mut Vec<String>) -> SmtpSettings {
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
        (Some(p), _) => Some(Secret::new(p)),
        (None, Some(f)) if !f.is_empty() => {
            password_file = Some(base.join(&f));
            match std::fs::read_to_string(base.join(&f)) {
                Ok(p) => Some(Secret::new(p.trim())),
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

#[cfg(test)]
mod tests {
    use super::*;

    fn shipped() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("config")
    }

    /// A configuration directory: the shipped reportbox.toml, roster and template, plus `files`
    /// under campaigns/.
    fn dir_with(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for f in ["reportbox.toml", "units.csv"] {
            std::fs::copy(shipped().join(f), dir.path().join(f)).unwrap();
        }
        std::fs::create_dir_all(dir.path().join("templates")).unwrap();
        std::fs::copy(
            shipped().join("templates/statistics-table-2023.xlsx"),
            dir.path().join("templates/statistics-table-2023.xlsx"),
        )
        .unwrap();
        std::fs::create_dir_all(dir.path().join(CAMPAIGNS_DIR)).unwrap();
        for (name, text) in files {
            std::fs::write(dir.path().join(CAMPAIGNS_DIR).join(name), text).unwrap();
        }
        dir
    }

    const KEPU: &str = r#"
[campaign]
name = "2024年全国科普日"
deadline = "2024-09-30T00:00:00+08:00"
timezone = "Asia/Shanghai"
mailbox = "w251342595@163.com"
roster = "units.csv"
[[campaign.items]]
key = "summary"
label = "活动总结"
code = "report"
validator = "report"
extensions = ["docx", "pdf"]
[schedule]
reminders = ["-2 10:00"]
daily_report_at = "09:00"
report_days_after_deadline = 3
"#;

    #[test]
    fn a_second_campaign_is_a_file_in_campaigns() {
        let dir = dir_with(&[("kepu-2024.toml", KEPU)]);
        let s = Settings::load(&dir.path().join("reportbox.toml"), Vec::new()).unwrap();
        assert_eq!(s.campaign_keys(), ["taiyuan-2023", "kepu-2024"]);
        assert_eq!(s.campaign.key, "taiyuan-2023");
        assert!(s.is_first_campaign());

        let kepu = s.select(Some("kepu-2024")).unwrap();
        assert_eq!(kepu.campaign.name, "2024年全国科普日");
        assert_eq!(kepu.campaign.items.len(), 1);
        assert!(kepu.campaign.table_item().is_none());
        assert_eq!(kepu.schedule.reminders.len(), 1);
        assert_eq!(kepu.campaign.keywords, ["全国科普日", "活动总结"]);
        assert!(!kepu.is_first_campaign());
        // The deployment's own sections stay the same.
        assert_eq!(kepu.database.url, s.database.url);

        let none = s.select(None).unwrap_err().to_string();
        assert!(
            none.contains("--campaign") && none.contains("taiyuan-2023, kepu-2024"),
            "{none}"
        );
        let wrong = s.select(Some("kepu")).unwrap_err().to_string();
        assert!(wrong.contains("kepu-2024"), "{wrong}");
    }

    #[test]
    fn a_campaign_file_missing_what_only_it_can_say_is_refused_naming_file_and_key() {
        let broken = KEPU
            .replace("timezone = \"Asia/Shanghai\"\n", "")
            .replace("mailbox = \"w251342595@163.com\"\n", "")
            .replace("validator = \"report\"", "validator = \"table\"");
        let dir = dir_with(&[
            ("kepu.toml", &broken),
            ("dup.toml", "[campaign]\nkey = \"taiyuan-2023\"\n"),
        ]);
        let err = Settings::load(&dir.path().join("reportbox.toml"), Vec::new())
            .unwrap_err()
            .to_string();
        for expected in [
            "kepu.toml: campaign.timezone: required",
            "kepu.toml: campaign.mailbox: required",
            "kepu.toml: table: required",
            "dup.toml: campaign.name: required",
        ] {
            assert!(err.contains(expected), "{expected:?} not in:\n{err}");
        }
    }

    #[test]
    fn one_campaign_needs_no_key() {
        let dir = dir_with(&[]);
        let s = Settings::load(&dir.path().join("reportbox.toml"), Vec::new()).unwrap();
        assert_eq!(s.select(None).unwrap().campaign.key, "taiyuan-2023");
    }

    #[test]
    fn a_campaign_with_its_own_mailbox_reads_and_sends_as_that_account() {
        let own = KEPU.replace("w251342595@163.com", "kepu2024@163.com")
            + "[mailbox]\nusername = \"kepu2024@163.com\"\npassword_file = \"kepu.code\"\n";
        let shared = KEPU.replace("name = \"2024", "key = \"kpr\"\nname = \"2024");
        let dir = dir_with(&[("jidi.toml", &own), ("kpr.toml", &shared)]);
        std::fs::write(dir.path().join("kepu.code"), "AUTHCODE2024\n").unwrap();
        let env = vec![
            (
                "REPORTBOX_SMTP__USERNAME".to_string(),
                "w251342595@163.com".to_string(),
            ),
            (
                "REPORTBOX_SMTP__PASSWORD".to_string(),
                "deployment-code".to_string(),
            ),
        ];
        let s = Settings::load(&dir.path().join("reportbox.toml"), env).unwrap();
        assert_eq!(
            s.mailbox_groups(),
            vec![vec!["taiyuan-2023", "kpr"], vec!["jidi"]],
            "campaigns without [mailbox] share the deployment's"
        );
        let jidi = s.select(Some("jidi")).unwrap();
        assert_eq!(jidi.mailbox.username, "kepu2024@163.com");
        assert_eq!(jidi.mailbox.host, s.mailbox.host);
        assert_eq!(
            jidi.mailbox.password.as_ref().unwrap().expose(),
            "AUTHCODE2024"
        );
        // No [smtp] of its own: the deployment's server, logged into as its mailbox.
        assert_eq!(jidi.smtp.host, s.smtp.host);
        assert_eq!(jidi.smtp.username.as_deref(), Some("kepu2024@163.com"));
        assert_eq!(
            jidi.smtp.password.as_ref().unwrap().expose(),
            "AUTHCODE2024"
        );
        assert_eq!(
            jidi.mailbox_peers()
                .iter()
                .map(|c| c.campaign.key.as_str())
                .collect::<Vec<_>>(),
            ["jidi"]
        );
        let printed = format!("{jidi:?}");
        assert!(
            !printed.contains("AUTHCODE2024") && !printed.contains("deployment-code"),
            "no code in a Debug of the settings"
        );
        let kpr = s.select(Some("kpr")).unwrap();
        assert_eq!(
            kpr.smtp.password.as_ref().unwrap().expose(),
            "deployment-code"
        );
        assert_eq!(kpr.mailbox_peers().len(), 2);
    }

    #[test]
    fn campaigns_reading_one_mailbox_must_answer_from_one_address() {
        let other = KEPU.replace("w251342595@163.com", "kepu@example.cn");
        let dir = dir_with(&[("kepu-2024.toml", &other)]);
        let err = Settings::load(&dir.path().join("reportbox.toml"), Vec::new())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("kepu-2024.toml: campaign.mailbox \"kepu@example.cn\" differs"),
            "{err}"
        );
    }
}
