//! One unit's history for the coordinator (`reportbox history <unit>`, issue 9 item 6): every
//! message, file, verdict, review, exemption and email, in time order, in Chinese. Pure: `store`
//! loads the entries, this module words and orders them.

use crate::campaign::{Disposition, EmailState};
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use std::fmt::Write;

/// A file of a message, with the verdict it got on arrival.
#[derive(Debug, Clone)]
pub struct FileEntry {
    pub name: String,
    pub item: String,
    /// `valid` | `invalid` | `needs_review` | … as stored.
    pub state: String,
    /// Error and review problems, as the unit read them.
    pub problems: Vec<String>,
    pub link: Option<String>,
}

/// Something that happened to the unit.
#[derive(Debug, Clone)]
pub enum Event {
    Message {
        number: i64,
        from: Option<String>,
        subject: String,
        disposition: Disposition,
        /// How it was attributed: `sender`, `table`, `subject`, `file_name`, `assigned`.
        match_rule: Option<String>,
        files: Vec<FileEntry>,
        /// What the unit wrote to the staff, when the message is (or carries) a note.
        note: Option<String>,
    },
    NoteHandled {
        number: i64,
        by: Option<String>,
    },
    Review {
        item: String,
        file: String,
        accepted: bool,
        reason: String,
        by: String,
    },
    Exempted {
        reason: Option<String>,
    },
    Assigned {
        number: i64,
    },
    StatusChanged {
        from: String,
        to: String,
    },
    Email {
        kind: String,
        subject: String,
        recipients: Vec<String>,
        state: EmailState,
        error: Option<String>,
    },
}

/// An event and when it happened; `seq` keeps events of one instant in the order they were made.
#[derive(Debug, Clone)]
pub struct Entry {
    pub at: DateTime<Utc>,
    pub seq: i64,
    pub event: Event,
}

fn state_zh(state: &str) -> &str {
    crate::problem::ItemState::parse(state).map_or(state, |s| s.label_zh())
}

fn unit_status_zh(s: &str) -> &str {
    crate::status::UnitStatus::ALL
        .iter()
        .find(|u| u.as_str() == s)
        .map_or(s, |u| u.label_zh())
}

fn rule_zh(rule: &str) -> &'static str {
    match rule {
        "sender" => "按发件地址",
        "table" => "按统计表填报单位",
        "subject" => "按邮件主题",
        "file_name" => "按附件名",
        "assigned" => "由工作人员指定",
        _ => "",
    }
}

fn email_kind_zh(kind: &str) -> &'static str {
    match kind {
        "ack" => "回执",
        "reminder" => "提醒/催报",
        "review" => "审核结果",
        "note" => "来信答复",
        "report" => "日报",
        _ => "邮件",
    }
}

/// The history as lines for a terminal, oldest first. `label` names an item key in Chinese.
pub fn render(
    unit_name: &str,
    entries: &[Entry],
    tz: Tz,
    label: &dyn Fn(&str) -> String,
) -> String {
    let mut sorted: Vec<&Entry> = entries.iter().collect();
    sorted.sort_by_key(|e| (e.at, e.seq));
    let mut out = format!("“{unit_name}”的报送记录（共 {} 条）\n", sorted.len());
    if sorted.is_empty() {
        out.push_str("暂无任何记录。\n");
    }
    for e in sorted {
        let when = e.at.with_timezone(&tz).format("%Y-%m-%d %H:%M");
        let _ = write!(out, "{when}  ");
        match &e.event {
            Event::Message {
                number,
                from,
                subject,
                disposition,
                match_rule,
                files,
                note,
            } => {
                let from = from.as_deref().unwrap_or("（无发件人）");
                let how = match_rule.as_deref().map(rule_zh).unwrap_or_default();
                let what = match disposition {
                    Disposition::Processed => format!("计入本单位{}", paren(how)),
                    Disposition::Note => format!("单位来信，无附件{}", paren(how)),
                    d => format!(
                        "未计入（{}）",
                        crate::status::reason_zh(&format!("message.{d}"))
                    ),
                };
                let _ = writeln!(out, "收到邮件 编号 {number}，{from}《{subject}》：{what}");
                for f in files {
                    let link = if f.link.is_some() {
                        "超大附件链接 "
                    } else {
                        ""
                    };
                    let _ = writeln!(
                        out,
                        "                  · {link}《{}》→ {}：{}",
                        f.name,
                        label(&f.item),
                        state_zh(&f.state)
                    );
                    for p in &f.problems {
                        let _ = writeln!(out, "                      {p}");
                    }
                }
                if let Some(n) = note {
                    let _ = writeln!(out, "                  来信内容：{}", n.replace('\n', " "));
                }
            }
            Event::NoteHandled { number, by } => {
                let _ = writeln!(
                    out,
                    "编号 {number} 的来信已处理{}",
                    by.as_deref()
                        .map(|b| format!("（{b}）"))
                        .unwrap_or_default()
                );
            }
            Event::Review {
                item,
                file,
                accepted,
                reason,
                by,
            } => {
                let verdict = if *accepted {
                    "审核通过"
                } else {
                    "审核未通过"
                };
                let mut line = format!("{by} 审核{}《{file}》：{verdict}", label(item));
                if !reason.is_empty() {
                    let _ = write!(line, "，理由：{reason}");
                }
                let _ = writeln!(out, "{line}");
            }
            Event::Exempted { reason: Some(r) } => {
                let _ = writeln!(out, "设为免报：{r}");
            }
            Event::Exempted { reason: None } => {
                let _ = writeln!(out, "取消免报");
            }
            Event::Assigned { number } => {
                let _ = writeln!(out, "工作人员将编号 {number} 的邮件指定给本单位");
            }
            Event::StatusChanged { from, to } => {
                let from = if from.is_empty() {
                    "—"
                } else {
                    unit_status_zh(from)
                };
                let _ = writeln!(out, "报送状态：{from} → {}", unit_status_zh(to));
            }
            Event::Email {
                kind,
                subject,
                recipients,
                state,
                error,
            } => {
                let how = match state {
                    EmailState::Sent => "已发送".to_string(),
                    EmailState::Failed => {
                        format!("发送失败：{}", error.as_deref().unwrap_or(""))
                    }
                    // A row being transmitted is not sent until the server said so.
                    EmailState::Pending | EmailState::Sending => "待发送".to_string(),
                };
                let _ = writeln!(
                    out,
                    "发出{}《{subject}》→ {}（{how}）",
                    email_kind_zh(kind),
                    recipients.join("，")
                );
            }
        }
    }
    out
}

fn paren(s: &str) -> String {
    if s.is_empty() {
        String::new()
    } else {
        format!("（{s}）")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(h: u32, m: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2023, 6, 5, h, m, 0).unwrap()
    }

    #[test]
    fn events_are_listed_in_time_order_in_chinese() {
        let entries = vec![
            Entry {
                at: at(3, 0),
                seq: 3,
                event: Event::Review {
                    item: "video".into(),
                    file: "影像.mp4".into(),
                    accepted: false,
                    reason: "视频无法播放".into(),
                    by: "王老师".into(),
                },
            },
            Entry {
                at: at(2, 0),
                seq: 1,
                event: Event::Message {
                    number: 7,
                    from: Some("a@b.cn".into()),
                    subject: "报送".into(),
                    disposition: Disposition::Processed,
                    match_rule: Some("sender".into()),
                    files: vec![FileEntry {
                        name: "影像.mp4".into(),
                        item: "video".into(),
                        state: "needs_review".into(),
                        problems: vec![],
                        link: Some("https://x".into()),
                    }],
                    note: None,
                },
            },
        ];
        let text = render("市档案馆", &entries, chrono_tz::Asia::Shanghai, &|k| {
            if k == "video" {
                "影像资料".into()
            } else {
                k.into()
            }
        });
        let msg = text.find("收到邮件 编号 7").unwrap();
        let review = text
            .find("王老师 审核影像资料《影像.mp4》：审核未通过，理由：视频无法播放")
            .unwrap();
        assert!(msg < review, "{text}");
        assert!(
            text.contains("2023-06-05 10:00"),
            "in the campaign's zone: {text}"
        );
        assert!(
            text.contains("超大附件链接 《影像.mp4》→ 影像资料：待审核"),
            "{text}"
        );
    }
}
