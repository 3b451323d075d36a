//! Where every unit stands (contract §7) and the status object of contract §9.
//!
//! Pure: `store` loads the records, this module decides. State is always derived from the stored
//! files, never kept as a counter, so messages imported out of order still give the right answer.

use crate::campaign::Disposition;
use crate::problem::{ItemState, Problem};
use chrono::{DateTime, FixedOffset, Utc};
use chrono_tz::Tz;
use serde::Serialize;
use std::collections::BTreeMap;
use unicode_width::UnicodeWidthStr;

/// A unit as the status needs it.
#[derive(Debug, Clone)]
pub struct UnitRecord {
    pub id: String,
    pub name: String,
    pub group: String,
    pub exempt_reason: Option<String>,
}

/// A stored message as the status needs it.
#[derive(Debug, Clone)]
pub struct MessageRecord {
    pub db_id: i64,
    pub message_id: String,
    pub from: Option<String>,
    pub subject: String,
    pub received_at: DateTime<Utc>,
    pub disposition: Disposition,
    pub unit_id: Option<String>,
    pub problems: Vec<Problem>,
    /// How it arrived (`imap:<folder>/<uidvalidity>/<uid>`, `import:<file>`).
    pub source: String,
}

/// A stored file (or large-attachment link) counted as an item.
#[derive(Debug, Clone)]
pub struct FileRecord {
    pub message_db_id: i64,
    pub ordinal: i32,
    pub name: String,
    pub origin: Vec<String>,
    pub item: String,
    pub state: ItemState,
    pub problems: Vec<Problem>,
    pub link_url: Option<String>,
    /// A link's size and expiry as the share page or message stated them (`data` of the file).
    pub link_size: Option<String>,
    pub link_expires: Option<String>,
}

/// The coordinator's verdict on one file (`reportbox review`): an event, never changed.
#[derive(Debug, Clone)]
pub struct ReviewRecord {
    /// The order reviews were recorded in: the newest of a file decides.
    pub id: i64,
    pub message_db_id: i64,
    pub ordinal: i32,
    pub accepted: bool,
    pub reason: String,
    pub reviewer: String,
    pub at: DateTime<Utc>,
}

/// An item the campaign asks for, as the status shows it.
#[derive(Debug, Clone)]
pub struct ItemSpec {
    pub key: String,
    pub label: String,
    pub required: bool,
}

/// What the status is computed against.
#[derive(Debug, Clone)]
pub struct CampaignView {
    pub name: String,
    pub deadline: DateTime<FixedOffset>,
    pub tz: Tz,
    pub items: Vec<ItemSpec>,
    /// Mailbox folders whose messages are marked [`FOUND_IN_JUNK_ZH`] (`mailbox.junk_folders`).
    pub junk_folders: Vec<String>,
}

mod desk;

pub use desk::{link_line, parse_expiry, LinkView, NoteView, ReviewView, EXPIRY_WARNING_DAYS};
use desk::{link_view, reviewed};

/// Shown next to a file or message that was found in the spam folder: the coordinator may want
/// to tell the unit, or mark the sender as not spam in webmail.
pub const FOUND_IN_JUNK_ZH: &str = "在垃圾邮件中发现";

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum UnitStatus {
    Complete,
    NeedsReview,
    Incomplete,
    Missing,
    Exempt,
}

impl UnitStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            UnitStatus::Complete => "complete",
            UnitStatus::NeedsReview => "needs_review",
            UnitStatus::Incomplete => "incomplete",
            UnitStatus::Missing => "missing",
            UnitStatus::Exempt => "exempt",
        }
    }

    pub fn label_zh(self) -> &'static str {
        match self {
            UnitStatus::Complete => "已完成",
            UnitStatus::NeedsReview => "待审核",
            UnitStatus::Incomplete => "未完成",
            UnitStatus::Missing => "未报送",
            UnitStatus::Exempt => "免报",
        }
    }

    pub const ALL: [UnitStatus; 5] = [
        UnitStatus::Complete,
        UnitStatus::NeedsReview,
        UnitStatus::Incomplete,
        UnitStatus::Missing,
        UnitStatus::Exempt,
    ];
}

#[derive(Debug, Clone, Serialize)]
pub struct Status {
    pub campaign: String,
    pub deadline: String,
    pub generated_at: String,
    pub counts: BTreeMap<&'static str, usize>,
    pub units: Vec<UnitView>,
    pub unmatched: Vec<MessageView>,
    pub ignored: Vec<MessageView>,
    /// Notes not yet marked handled (issue 9): filled in by the store, which keeps them.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<NoteView>,
}

#[derive(Debug, Clone, Serialize)]
pub struct UnitView {
    pub id: String,
    pub name: String,
    pub group: String,
    pub status: UnitStatus,
    pub late: bool,
    pub last_received_at: Option<String>,
    pub problems: Vec<Problem>,
    pub items: BTreeMap<String, ItemView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exempt_reason: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ItemView {
    pub state: ItemState,
    pub file: Option<String>,
    pub problems: Vec<Problem>,
    /// Where the file came from: archive names or forwarded messages, outermost first.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub origin: Vec<String>,
    /// A large-attachment link's URL; the JSON's `link` is [`LinkView`] (`link_view`).
    #[serde(skip)]
    pub link: Option<String>,
    /// What the reviewer of a link needs besides its URL (shown in the daily email).
    #[serde(skip)]
    pub link_size: Option<String>,
    #[serde(skip)]
    pub link_expires: Option<String>,
    /// Everything the reviewer of a link needs, as `items.*.link` in the JSON.
    #[serde(rename = "link", skip_serializing_if = "Option::is_none")]
    pub link_view: Option<LinkView>,
    /// The coordinator's verdict on this file, when there is one (it decides `state`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub review: Option<ReviewView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub received_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub late: Option<bool>,
    /// The file's message was found in a junk folder (`mailbox.junk_folders`).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub found_in_junk: bool,
}

impl ItemView {
    /// The state in Chinese, with 在垃圾邮件中发现 when that is where the file was.
    pub fn state_zh(&self) -> String {
        if self.found_in_junk {
            format!("{}（{FOUND_IN_JUNK_ZH}）", self.state.label_zh())
        } else {
            self.state.label_zh().to_string()
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct MessageView {
    /// The stored message's number, which `assign` also accepts: shorter to give than a
    /// Message-ID.
    #[serde(skip)]
    pub number: i64,
    pub message_id: String,
    pub from: Option<String>,
    pub subject: String,
    pub received_at: String,
    pub reason: String,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub found_in_junk: bool,
}

fn local(t: DateTime<Utc>, tz: Tz) -> String {
    t.with_timezone(&tz).to_rfc3339()
}

/// Computes the status of every unit, in roster order.
pub fn compute(
    campaign: &CampaignView,
    units: &[UnitRecord],
    messages: &[MessageRecord],
    files: &[FileRecord],
    reviews: &[ReviewRecord],
    now: DateTime<Utc>,
) -> Status {
    let tz = campaign.tz;
    let deadline = campaign.deadline.with_timezone(&Utc);
    let by_id: BTreeMap<i64, &MessageRecord> = messages.iter().map(|m| (m.db_id, m)).collect();
    let counted =
        |m: &MessageRecord| m.disposition == Disposition::Processed && m.unit_id.is_some();
    // Derived from the source, not stored: the junk folders are configuration, and a message's
    // folder is already in its source.
    let in_junk = |m: &MessageRecord| {
        crate::source::source_folder(&m.source)
            .is_some_and(|f| campaign.junk_folders.iter().any(|j| j == f))
    };

    let mut unit_views = Vec::with_capacity(units.len());
    for unit in units {
        let own: Vec<&MessageRecord> = messages
            .iter()
            .filter(|m| counted(m) && m.unit_id.as_deref() == Some(unit.id.as_str()))
            .collect();
        let newest_message = own.iter().max_by_key(|m| (m.received_at, m.db_id)).copied();
        let mut items = BTreeMap::new();
        let mut late = false;
        for spec in &campaign.items {
            // The newest file received for the item decides its state, whatever the states of
            // older ones (contract §7).
            let newest = files
                .iter()
                .filter(|f| f.item == spec.key)
                .filter_map(|f| by_id.get(&f.message_db_id).map(|m| (f, *m)))
                .filter(|(_, m)| counted(m) && m.unit_id.as_deref() == Some(unit.id.as_str()))
                .max_by_key(|(f, m)| (m.received_at, m.db_id, f.ordinal));
            let view = match newest {
                Some((f, m)) => {
                    // The deadline is the first late instant: the notice asks for the
                    // materials "before 10 June", so 00:00:00 on the 10th is already late.
                    let is_late = m.received_at >= deadline;
                    late |= is_late;
                    let review = reviews
                        .iter()
                        .filter(|r| r.message_db_id == f.message_db_id && r.ordinal == f.ordinal)
                        .max_by_key(|r| r.id);
                    let (state, problems) = reviewed(f, review);
                    ItemView {
                        state,
                        file: Some(f.name.clone()),
                        problems,
                        origin: f.origin.clone(),
                        link: f.link_url.clone(),
                        link_size: f.link_size.clone(),
                        link_expires: f.link_expires.clone(),
                        link_view: f.link_url.as_ref().map(|url| link_view(f, url, tz, now)),
                        review: review.map(|r| ReviewView {
                            verdict: if r.accepted { "accepted" } else { "rejected" },
                            reason: (!r.reason.is_empty()).then(|| r.reason.clone()),
                            by: r.reviewer.clone(),
                            at: local(r.at, tz),
                        }),
                        received_at: Some(local(m.received_at, tz)),
                        late: Some(is_late),
                        found_in_junk: in_junk(m),
                    }
                }
                None => ItemView {
                    state: ItemState::Missing,
                    file: None,
                    problems: Vec::new(),
                    origin: Vec::new(),
                    link: None,
                    link_size: None,
                    link_expires: None,
                    link_view: None,
                    review: None,
                    received_at: None,
                    late: None,
                    found_in_junk: false,
                },
            };
            items.insert(spec.key.clone(), view);
        }
        let required: Vec<ItemState> = campaign
            .items
            .iter()
            .filter(|s| s.required)
            .map(|s| items[&s.key].state)
            .collect();
        let status = if unit.exempt_reason.is_some() {
            UnitStatus::Exempt
        } else if own.is_empty() {
            UnitStatus::Missing
        } else if required.iter().all(|s| *s == ItemState::Valid) {
            UnitStatus::Complete
        } else if required
            .iter()
            .any(|s| matches!(s, ItemState::Invalid | ItemState::Missing))
        {
            UnitStatus::Incomplete
        } else {
            UnitStatus::NeedsReview
        };
        unit_views.push(UnitView {
            id: unit.id.clone(),
            name: unit.name.clone(),
            group: unit.group.clone(),
            status,
            late,
            last_received_at: newest_message.map(|m| local(m.received_at, tz)),
            problems: newest_message
                .map(|m| m.problems.clone())
                .unwrap_or_default(),
            items,
            exempt_reason: unit.exempt_reason.clone(),
        });
    }

    let view = |m: &MessageRecord, reason: String| MessageView {
        number: m.db_id,
        message_id: m.message_id.clone(),
        from: m.from.clone(),
        subject: m.subject.clone(),
        received_at: local(m.received_at, tz),
        reason,
        found_in_junk: in_junk(m),
    };
    let mut sorted: Vec<&MessageRecord> = messages.iter().collect();
    sorted.sort_by_key(|m| (m.received_at, m.db_id));
    let unmatched = sorted
        .iter()
        .filter(|m| m.disposition == Disposition::Processed && m.unit_id.is_none())
        .map(|m| {
            let reason = if m.from.is_none() {
                "message.unreadable"
            } else {
                "unit.unidentified"
            };
            view(m, reason.to_string())
        })
        .collect();
    let ignored = sorted
        .iter()
        // A note is listed under 单位来信, not as mail set aside.
        .filter_map(|m| m.disposition.reason().map(|r| view(m, r)))
        .collect();

    let mut counts = BTreeMap::new();
    for s in UnitStatus::ALL {
        counts.insert(
            s.as_str(),
            unit_views.iter().filter(|u| u.status == s).count(),
        );
    }
    Status {
        campaign: campaign.name.clone(),
        deadline: campaign.deadline.with_timezone(&tz).to_rfc3339(),
        generated_at: local(now, tz),
        counts,
        units: unit_views,
        unmatched,
        ignored,
        notes: Vec::new(),
    }
}

/// The status as a table for a terminal, in Chinese.
pub fn render_table(status: &Status, campaign: &CampaignView) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{}　截止时间：{}",
        status.campaign,
        short_time(&status.deadline)
    );
    let counts: Vec<String> = UnitStatus::ALL
        .iter()
        .map(|s| format!("{} {}", s.label_zh(), status.counts[s.as_str()]))
        .collect();
    let _ = writeln!(
        out,
        "共 {} 个单位：{}",
        status.units.len(),
        counts.join("，")
    );
    let _ = writeln!(out);
    // The id beside the name: what `assign` and `exempt` accept without ambiguity.
    let mut header = vec!["单位".to_string(), "编号".to_string(), "状态".to_string()];
    header.extend(campaign.items.iter().map(|i| i.label.clone()));
    header.push("最近报送".to_string());
    let mut rows = vec![header];
    for u in &status.units {
        let mut row = vec![
            u.name.clone(),
            u.id.clone(),
            u.status.label_zh().to_string(),
        ];
        if u.late {
            row[2].push_str("（逾期）");
        }
        for spec in &campaign.items {
            row.push(u.items[&spec.key].state_zh());
        }
        row.push(
            u.last_received_at
                .as_deref()
                .map(short_time)
                .unwrap_or_else(|| "—".to_string()),
        );
        rows.push(row);
    }
    for (i, line) in aligned(&rows).iter().enumerate() {
        let _ = writeln!(out, "{line}");
        let Some(u) = i.checked_sub(1).and_then(|i| status.units.get(i)) else {
            continue;
        };
        for spec in &campaign.items {
            let item = &u.items[&spec.key];
            for p in &item.problems {
                let _ = writeln!(
                    out,
                    "    · {}【{}】{}",
                    spec.label,
                    p.severity.label_zh(),
                    p.message
                );
            }
            if let Some(link) = &item.link_view {
                let _ = writeln!(out, "    · {}：{}", spec.label, link_line(link));
            }
            if let Some(r) = &item.review {
                let _ = writeln!(out, "    · {}：{}", spec.label, r.describe_zh());
            }
        }
        for p in &u.problems {
            let _ = writeln!(out, "    · 【{}】{}", p.severity.label_zh(), p.message);
        }
    }
    if !status.unmatched.is_empty() {
        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "无法确定报送单位的邮件（请用 assign 命令按编号指定单位）：{} 封",
            status.unmatched.len()
        );
        // The number first: the daily email names these messages by it, and `assign` takes it.
        for m in &status.unmatched {
            let _ = writeln!(
                out,
                "  编号 {}　{}　{}　《{}》{}　{}",
                m.number,
                short_time(&m.received_at),
                m.from.as_deref().unwrap_or("（无发件人）"),
                m.subject,
                junk_note(m),
                m.message_id
            );
        }
    }
    if !status.notes.is_empty() {
        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "单位来信（处理后请用 handled 命令按编号标记）：{} 封",
            status.notes.len()
        );
        for n in &status.notes {
            let who = n
                .unit_id
                .as_deref()
                .and_then(|id| status.units.iter().find(|u| u.id == id))
                .map_or_else(
                    || n.from.clone().unwrap_or_else(|| "（无发件人）".into()),
                    |u| u.name.clone(),
                );
            let text: String = n.text.replace('\n', " ").chars().take(60).collect();
            let _ = writeln!(
                out,
                "  编号 {}　{}　{who}　《{}》：{text}",
                n.number,
                short_time(&n.received_at),
                n.subject
            );
        }
    }
    if !status.ignored.is_empty() {
        let _ = writeln!(out);
        let _ = writeln!(out, "未计入的邮件：{} 封", status.ignored.len());
        for m in &status.ignored {
            let _ = writeln!(
                out,
                "  {}　{}　《{}》　{}",
                short_time(&m.received_at),
                m.from.as_deref().unwrap_or("（无发件人）"),
                m.subject,
                reason_zh(&m.reason)
            );
        }
    }
    out
}

/// The rows as lines of a plain table: each column padded to its widest cell by display
/// width (a Chinese character is two columns in a terminal), two spaces between columns.
pub fn aligned(rows: &[Vec<String>]) -> Vec<String> {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.get(c))
                .map(|cell| cell.width())
                .max()
                .unwrap_or(0)
        })
        .collect();
    rows.iter()
        .map(|row| {
            let line: Vec<String> = row
                .iter()
                .zip(&widths)
                .map(|(cell, w)| format!("{cell}{}", " ".repeat(w - cell.width())))
                .collect();
            line.join("  ").trim_end().to_string()
        })
        .collect()
}

/// `（在垃圾邮件中发现）` after a message that was, else nothing.
pub fn junk_note(m: &MessageView) -> String {
    if m.found_in_junk {
        format!("（{FOUND_IN_JUNK_ZH}）")
    } else {
        String::new()
    }
}

/// `2023-06-05T10:12:00+08:00` as `2023-06-05 10:12`.
fn short_time(t: &str) -> String {
    t.get(..16).unwrap_or(t).replace('T', " ")
}

/// What a set-aside reason means, in Chinese.
pub fn reason_zh(code: &str) -> &'static str {
    match code {
        "message.duplicate" => "重复邮件",
        "message.auto_reply" => "自动回复",
        "message.bounce" => "退信",
        "message.bulk" => "群发或邮件列表",
        "message.own_address" => "本邮箱发出的邮件",
        "message.spam" => "垃圾邮件",
        "message.unrelated" => "与本次报送无关",
        "message.unreadable" => "无法读取发件人",
        "message.rate_limited" => "发信过于频繁",
        "message.note" => "单位来信（无附件）",
        "unit.unidentified" => "无法确定报送单位",
        _ => "其他",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::problem::Problem;
    use chrono::TimeZone;

    pub(super) fn campaign() -> CampaignView {
        CampaignView {
            name: "测试活动".into(),
            deadline: DateTime::parse_from_rfc3339("2023-06-10T00:00:00+08:00").unwrap(),
            tz: chrono_tz::Asia::Shanghai,
            items: ["statistics_table", "summary_report", "video"]
                .iter()
                .map(|k| ItemSpec {
                    key: k.to_string(),
                    label: k.to_string(),
                    required: true,
                })
                .collect(),
            junk_folders: vec!["垃圾邮件".into()],
        }
    }

    pub(super) fn unit(id: &str) -> UnitRecord {
        UnitRecord {
            id: id.into(),
            name: id.into(),
            group: String::new(),
            exempt_reason: None,
        }
    }

    pub(super) fn msg(
        db_id: i64,
        unit: Option<&str>,
        day: u32,
        disposition: Disposition,
    ) -> MessageRecord {
        MessageRecord {
            db_id,
            message_id: format!("<{db_id}@x>"),
            from: Some("a@b.cn".into()),
            subject: String::new(),
            received_at: Utc.with_ymd_and_hms(2023, 6, day, 2, 0, 0).unwrap(),
            disposition,
            unit_id: unit.map(str::to_string),
            problems: vec![],
            source: format!("imap:INBOX/1/{db_id}"),
        }
    }

    pub(super) fn file(message: i64, item: &str, state: ItemState) -> FileRecord {
        FileRecord {
            message_db_id: message,
            ordinal: 0,
            name: format!("{item}-{message}"),
            origin: vec![],
            item: item.into(),
            state,
            problems: vec![],
            link_url: None,
            link_size: None,
            link_expires: None,
        }
    }

    pub(super) fn all_valid(message: i64) -> Vec<FileRecord> {
        ["statistics_table", "summary_report", "video"]
            .iter()
            .map(|i| file(message, i, ItemState::Valid))
            .collect()
    }

    #[test]
    fn a_unit_that_sent_nothing_is_missing_with_every_item_missing() {
        let s = compute(&campaign(), &[unit("a")], &[], &[], &[], Utc::now());
        assert_eq!(s.units[0].status, UnitStatus::Missing);
        assert!(!s.units[0].late);
        assert!(s.units[0]
            .items
            .values()
            .all(|i| i.state == ItemState::Missing && i.file.is_none()));
    }

    #[test]
    fn every_required_item_valid_is_complete() {
        let s = compute(
            &campaign(),
            &[unit("a")],
            &[msg(1, Some("a"), 5, Disposition::Processed)],
            &all_valid(1),
            &[],
            Utc::now(),
        );
        assert_eq!(s.units[0].status, UnitStatus::Complete);
    }

    #[test]
    fn a_newer_file_supersedes_an_older_one_whatever_their_states() {
        let messages = [
            msg(1, Some("a"), 5, Disposition::Processed),
            msg(2, Some("a"), 6, Disposition::Processed),
        ];
        let mut files = all_valid(1);
        files.push(file(2, "video", ItemState::Invalid));
        let s = compute(
            &campaign(),
            &[unit("a")],
            &messages,
            &files,
            &[],
            Utc::now(),
        );
        assert_eq!(s.units[0].items["video"].state, ItemState::Invalid);
        assert_eq!(s.units[0].status, UnitStatus::Incomplete);
        // Imported in the other order, the answer is the same: received time decides.
        let messages = [
            msg(2, Some("a"), 5, Disposition::Processed),
            msg(1, Some("a"), 6, Disposition::Processed),
        ];
        let mut files = all_valid(1);
        files.push(file(2, "video", ItemState::Invalid));
        let s = compute(
            &campaign(),
            &[unit("a")],
            &messages,
            &files,
            &[],
            Utc::now(),
        );
        assert_eq!(s.units[0].items["video"].state, ItemState::Valid);
    }

    #[test]
    fn needs_review_when_nothing_is_invalid_or_missing_but_something_needs_review() {
        let mut files = all_valid(1);
        files[2].state = ItemState::NeedsReview;
        let s = compute(
            &campaign(),
            &[unit("a")],
            &[msg(1, Some("a"), 5, Disposition::Processed)],
            &files,
            &[],
            Utc::now(),
        );
        assert_eq!(s.units[0].status, UnitStatus::NeedsReview);
    }

    #[test]
    fn a_file_after_the_deadline_makes_the_unit_late() {
        let s = compute(
            &campaign(),
            &[unit("a")],
            &[msg(1, Some("a"), 11, Disposition::Processed)],
            &all_valid(1),
            &[],
            Utc::now(),
        );
        assert!(s.units[0].late);
        assert_eq!(s.units[0].status, UnitStatus::Complete);
    }

    #[test]
    fn set_aside_messages_change_no_status_and_are_listed_as_ignored() {
        let messages = [msg(1, Some("a"), 5, Disposition::AutoReply)];
        let s = compute(&campaign(), &[unit("a")], &messages, &[], &[], Utc::now());
        assert_eq!(s.units[0].status, UnitStatus::Missing);
        assert_eq!(s.ignored[0].reason, "message.auto_reply");
        assert!(s.unmatched.is_empty());
    }

    #[test]
    fn a_processed_message_with_no_unit_is_unmatched() {
        let s = compute(
            &campaign(),
            &[unit("a")],
            &[msg(1, None, 5, Disposition::Processed)],
            &[],
            &[],
            Utc::now(),
        );
        assert_eq!(s.unmatched.len(), 1);
        assert_eq!(s.unmatched[0].reason, "unit.unidentified");
    }

    #[test]
    fn exemption_overrides_everything() {
        let mut u = unit("a");
        u.exempt_reason = Some("机构改革".into());
        let s = compute(&campaign(), &[u], &[], &[], &[], Utc::now());
        assert_eq!(s.units[0].status, UnitStatus::Exempt);
    }

    #[test]
    fn unit_problems_come_from_the_most_recent_message() {
        let mut old = msg(1, Some("a"), 5, Disposition::Processed);
        old.problems = vec![Problem::warning("unit.sender_mismatch", "旧")];
        let new = msg(2, Some("a"), 6, Disposition::Processed);
        let s = compute(&campaign(), &[unit("a")], &[old, new], &[], &[], Utc::now());
        assert!(s.units[0].problems.is_empty());
    }

    #[test]
    fn times_are_shown_in_the_campaign_time_zone() {
        let s = compute(
            &campaign(),
            &[unit("a")],
            &[msg(1, Some("a"), 5, Disposition::Processed)],
            &all_valid(1),
            &[],
            Utc::now(),
        );
        assert_eq!(
            s.units[0].last_received_at.as_deref(),
            Some("2023-06-05T10:00:00+08:00")
        );
    }

    #[test]
    fn what_was_found_in_a_junk_folder_is_marked_in_json_and_table() {
        let mut junk = msg(2, Some("a"), 6, Disposition::Processed);
        junk.source = "imap:垃圾邮件/9/1".into();
        let mut stray = msg(3, None, 6, Disposition::Processed);
        stray.source = "imap:垃圾邮件/9/2".into();
        let messages = [msg(1, Some("a"), 5, Disposition::Processed), junk, stray];
        let mut files = all_valid(1);
        files.push(file(2, "video", ItemState::Valid));
        let c = campaign();
        let s = compute(&c, &[unit("a")], &messages, &files, &[], Utc::now());
        let json = serde_json::to_value(&s).unwrap();
        let items = &json["units"][0]["items"];
        assert_eq!(items["video"]["found_in_junk"], true);
        assert!(items["statistics_table"].get("found_in_junk").is_none());
        assert_eq!(json["unmatched"][0]["found_in_junk"], true);
        let table = render_table(&s, &c);
        assert!(table.contains("合格（在垃圾邮件中发现）"), "{table}");
        assert!(table.contains("《》（在垃圾邮件中发现）"), "{table}");
        // Another folder, or an import, is not junk.
        let mut other = msg(2, Some("a"), 6, Disposition::Processed);
        other.source = "imap:Reports/9/1".into();
        let s = compute(&c, &[unit("a")], &[other], &files, &[], Utc::now());
        assert!(!s.units[0].items["video"].found_in_junk);
    }

    #[test]
    fn the_table_shows_each_unit_id_and_each_unmatched_number_without_changing_the_json() {
        let c = campaign();
        let mut named = unit("city-archives");
        named.name = "市档案馆".into();
        let messages = [
            msg(1, Some("city-archives"), 5, Disposition::Processed),
            msg(42, None, 6, Disposition::Processed),
        ];
        let s = compute(&c, &[named], &messages, &all_valid(1), &[], Utc::now());
        let table = render_table(&s, &c);
        let header = table.lines().find(|l| l.starts_with("单位")).unwrap();
        assert!(header.contains("编号"), "{table}");
        let row = table.lines().find(|l| l.starts_with("市档案馆")).unwrap();
        assert!(row.contains("city-archives"), "{table}");
        assert!(table.contains("  编号 42　"), "{table}");
        let json = serde_json::to_value(&s).unwrap();
        assert_eq!(json["units"][0]["id"], "city-archives");
        assert_eq!(json["units"][0]["name"], "市档案馆");
    }

    #[test]
    fn aligned_pads_by_display_width() {
        let rows = vec![
            vec!["单位".to_string(), "编号".to_string()],
            vec!["市档案馆".to_string(), "city-archives".to_string()],
        ];
        assert_eq!(
            aligned(&rows),
            ["单位      编号", "市档案馆  city-archives"]
        );
    }
}
