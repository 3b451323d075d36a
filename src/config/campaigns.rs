//! One campaign's sections of the configuration — `[campaign]` (with its items), `[table]`,
//! `[table_limits]`, `[report]`, `[video]`, `[schedule]` — as they appear in reportbox.toml or in
//! `campaigns/<key>.toml` beside it, and their conversion into a [`CampaignSettings`]. Nothing
//! here has a default that belongs to one campaign: a campaign's name, deadline, time zone,
//! mailbox, roster, items and (when it asks for a table) table template are required.

use super::{convert_smtp, RawSmtp, SmtpSettings};
use crate::campaign::{Campaign, ItemDef, ReminderRound, ValidatorKind};
use crate::identify::{Roster, RosterError};
use crate::intake::kind_from_name;
use crate::mailbox::settings::{MailboxSettings, RawMailbox};
use crate::schedule::ScheduleSettings;
use crate::validate::report::ReportRules;
use crate::validate::table::{TableLimits, TableTemplate};
use crate::validate::video::VideoRules;
use chrono::{DateTime, Datelike};
use chrono_tz::Tz;
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// Everything one campaign runs on besides the deployment's database, storage, SMTP and mailbox.
#[derive(Debug, Clone)]
pub struct CampaignSettings {
    pub campaign: Campaign,
    /// Loaded from `campaign.roster` and checked with the rest.
    pub roster: Roster,
    pub table: TableTemplate,
    pub table_limits: TableLimits,
    pub report: ReportRules,
    pub video: VideoRules,
    pub schedule: ScheduleSettings,
    /// The mailbox it reads: its own `[mailbox]`, or the deployment's (shared with the other
    /// campaigns that have none).
    pub mailbox: MailboxSettings,
    /// How its emails leave: its own `[smtp]`; with its own mailbox and no `[smtp]`, the
    /// deployment's server logged into as that mailbox (163 sends only as the account that logs
    /// in); else the deployment's.
    pub smtp: SmtpSettings,
    /// The file it was configured in.
    pub source: PathBuf,
}

/// What a campaign without its own `[mailbox]` or `[smtp]` uses: the deployment's.
pub(super) struct Accounts<'a> {
    pub mailbox: &'a MailboxSettings,
    pub smtp: &'a SmtpSettings,
}

/// One campaign's sections: a `campaigns/<key>.toml` file, or those of reportbox.toml.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawCampaignFile {
    pub campaign: RawCampaign,
    pub table: Option<TableTemplate>,
    #[serde(default)]
    pub table_limits: TableLimits,
    #[serde(default)]
    pub report: ReportRules,
    #[serde(default)]
    pub video: VideoRules,
    #[serde(default)]
    pub schedule: RawSchedule,
    /// Its own mailbox (an account of its own); unset: the deployment's.
    pub mailbox: Option<RawMailbox>,
    /// Its own SMTP settings; see [`CampaignSettings::smtp`].
    pub smtp: Option<RawSmtp>,
}

/// The campaign files of the directory `dir` (`campaigns/` beside reportbox.toml), in name
/// order; none when it does not exist. A file's key defaults to its name without `.toml`.
pub(super) fn load_dir(dir: &Path, problems: &mut Vec<String>) -> Vec<(PathBuf, RawCampaignFile)> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    paths.sort();
    let mut out = Vec::new();
    for path in paths {
        let loaded = ::config::Config::builder()
            .add_source(::config::File::from(path.as_path()).format(::config::FileFormat::Toml))
            .build()
            .and_then(|c| c.try_deserialize::<RawCampaignFile>());
        match loaded {
            Ok(mut raw) => {
                if raw.campaign.key.is_none() {
                    raw.campaign.key = path.file_stem().map(|s| s.to_string_lossy().into_owned());
                }
                out.push((path, raw));
            }
            Err(e) => problems.push(format!("{}: {e}", path.display())),
        }
    }
    out
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawCampaign {
    /// Unset: `default` (a deployment with one campaign need not name it).
    key: Option<String>,
    name: Option<String>,
    deadline: Option<String>,
    year: Option<i32>,
    /// IANA name, e.g. Asia/Shanghai: deadlines, schedules and dates in emails are local to it.
    timezone: Option<String>,
    /// The designated mailbox: the address units write to; mail from it is set aside.
    mailbox: Option<String>,
    #[serde(default)]
    own_addresses: Vec<String>,
    roster: Option<String>,
    /// Prefixes a unit's name may carry in mail and tables (a city's name): stripped before
    /// names are compared.
    #[serde(default)]
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
    /// unset: the campaign name without year and place, and each item's label.
    keywords: Option<Vec<String>>,
}

impl RawCampaign {
    /// The designated mailbox as written (empty when unset).
    pub(super) fn mailbox(&self) -> &str {
        self.mailbox.as_deref().unwrap_or("").trim()
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawSchedule {
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

/// The campaign name without its year and place (`2023年某市科技活动周` → `科技活动周`)
/// and each item's label.
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

/// Converts one campaign's sections; every problem goes to `problems`, prefixed with `at` (the
/// file, for a campaign of `campaigns/`), and `None` comes back when there was one.
pub(super) fn convert(
    raw: RawCampaignFile,
    base: &Path,
    source: &Path,
    at: &str,
    accounts: &Accounts<'_>,
    problems: &mut Vec<String>,
) -> Option<CampaignSettings> {
    let before = problems.len();
    let mut p = Vec::new();
    let c = raw.campaign;
    let address = c.mailbox().trim().to_lowercase();
    let (mailbox_settings, smtp) =
        own_accounts(raw.mailbox, raw.smtp, base, &address, accounts, &mut p);
    let mut need = |key: &str, value: Option<String>| -> String {
        match value.filter(|v| !v.trim().is_empty()) {
            Some(v) => v,
            None => {
                p.push(format!("{key}: required"));
                String::new()
            }
        }
    };
    let name = need("campaign.name", c.name);
    let deadline_text = need("campaign.deadline", c.deadline);
    let roster_text = need("campaign.roster", c.roster);
    let tz_text = need("campaign.timezone", c.timezone);
    let mailbox = need("campaign.mailbox", c.mailbox).trim().to_lowercase();
    let key = c
        .key
        .map(|k| k.trim().to_string())
        .unwrap_or_else(|| DEFAULT_CAMPAIGN_KEY.to_string());
    if !valid_key(&key) {
        p.push(format!(
            "campaign.key: {key:?} must be letters, digits, '-' or '_' (it is typed after --campaign)"
        ));
    }
    let deadline = if deadline_text.is_empty() {
        None
    } else {
        match DateTime::parse_from_rfc3339(&deadline_text) {
            Ok(d) => Some(d),
            Err(e) => {
                p.push(format!(
                    "campaign.deadline: {deadline_text:?} is not an RFC 3339 instant ({e}); e.g. 2023-06-10T00:00:00+08:00"
                ));
                None
            }
        }
    };
    let tz: Option<Tz> = match tz_text.parse() {
        Ok(tz) => Some(tz),
        Err(_) if tz_text.is_empty() => None,
        Err(_) => {
            p.push(format!(
                "campaign.timezone: {tz_text:?} is not an IANA time zone, e.g. Asia/Shanghai"
            ));
            None
        }
    };
    if !mailbox.is_empty() && !mailbox.contains('@') {
        p.push(format!(
            "campaign.mailbox: {mailbox:?} is not an email address"
        ));
    }
    let mut own_addresses = vec![mailbox.clone()];
    own_addresses.extend(
        c.own_addresses
            .iter()
            .map(|a| a.trim().to_lowercase())
            .filter(|a| !a.is_empty()),
    );
    let items = convert_items(c.items, &mut p);
    let keywords: Vec<String> = c
        .keywords
        .unwrap_or_else(|| default_keywords(&name, &items))
        .iter()
        .map(|k| k.trim().to_lowercase())
        .filter(|k| !k.is_empty())
        .collect();
    let table = match raw.table {
        Some(t) => {
            if t.indicators.is_empty() {
                p.push("table.indicators: the table template needs indicators".into());
            }
            Some(t)
        }
        None if items.iter().any(|i| i.validator == ValidatorKind::Table) => {
            p.push("table: required (the statistics table template) when an item has validator = \"table\"".into());
            None
        }
        None => Some(TableTemplate::empty()),
    };
    if raw.video.max_seconds <= 0.0 {
        p.push("video.max_seconds: must be positive".into());
    }
    let schedule = convert_schedule(raw.schedule, &mut p);
    let coordinators: Vec<String> = c
        .coordinators
        .iter()
        .map(|a| a.trim().to_lowercase())
        .filter(|a| !a.is_empty())
        .collect();
    for a in &coordinators {
        if !a.contains('@') {
            p.push(format!(
                "campaign.coordinators: {a:?} is not an email address"
            ));
        }
    }
    let opens = match &c.opens {
        None => deadline.map(|d| d - chrono::Duration::days(30)),
        Some(t) => match DateTime::parse_from_rfc3339(t) {
            Ok(d) => Some(d),
            Err(e) => {
                p.push(format!(
                    "campaign.opens: {t:?} is not an RFC 3339 instant ({e})"
                ));
                None
            }
        },
    };
    let template_file = c.template_file.as_ref().map(|t| base.join(t));
    if let Some(t) = &template_file {
        if !t.is_file() {
            p.push(format!(
                "campaign.template_file: {} does not exist",
                t.display()
            ));
        }
    }
    let roster_path = base.join(&roster_text);
    let roster = if roster_text.is_empty() {
        None
    } else {
        match Roster::load(&roster_path) {
            Ok(r) => Some(r),
            Err(RosterError::Io { path, source }) => {
                p.push(format!("campaign.roster: cannot read {path}: {source}"));
                None
            }
            Err(e) => {
                p.push(format!("campaign.roster ({}): {e}", roster_path.display()));
                None
            }
        }
    };
    problems.extend(p.into_iter().map(|m| format!("{at}{m}")));
    let (deadline, tz, roster, opens, table) = (deadline?, tz?, roster?, opens?, table?);
    if problems.len() > before {
        return None;
    }
    Some(CampaignSettings {
        campaign: Campaign {
            key,
            name,
            year: c.year.unwrap_or_else(|| deadline.year()),
            deadline,
            tz,
            mailbox,
            own_addresses,
            roster_path,
            strip_prefixes: c.strip_prefixes,
            acks_per_sender_per_hour: c.acks_per_sender_per_hour,
            items,
            coordinators,
            opens,
            contact: c.contact,
            template_file,
            keywords,
        },
        roster,
        table,
        table_limits: raw.table_limits,
        report: raw.report,
        video: raw.video,
        schedule,
        mailbox: mailbox_settings,
        smtp,
        source: source.to_path_buf(),
    })
}

/// The campaign's mailbox and SMTP settings: its own where its file has them.
fn own_accounts(
    mailbox: Option<RawMailbox>,
    smtp: Option<RawSmtp>,
    base: &Path,
    address: &str,
    deployment: &Accounts<'_>,
    problems: &mut Vec<String>,
) -> (MailboxSettings, SmtpSettings) {
    let own = mailbox.map(|m| crate::mailbox::settings::convert(m, base, address, problems));
    let smtp = match (smtp, &own) {
        (Some(s), _) => convert_smtp(s, base, problems),
        (None, Some(m)) => SmtpSettings {
            username: Some(m.username.clone()),
            password: m.password.clone(),
            password_file: m.password_file.clone(),
            ..deployment.smtp.clone()
        },
        (None, None) => deployment.smtp.clone(),
    };
    (own.unwrap_or_else(|| deployment.mailbox.clone()), smtp)
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
        assert_eq!(words, ["科技活动周", "开展情况统计表"]);
        assert_eq!(
            default_keywords("2024年山西省太原市全国科普日", &[])[0],
            "全国科普日"
        );
        assert_eq!(default_keywords("科普基地年报", &[])[0], "科普基地年报");
    }
}
