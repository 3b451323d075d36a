//! The words of every email reportbox sends, in Chinese: acknowledgements, reminders, the daily
//! status email. Pure: status and settings in, a composed `NewOutbox` out.

use crate::config::Settings;
use crate::identify::Unit;
use crate::problem::{ItemState, Problem};
use crate::status::{Status, UnitStatus, UnitView};
use crate::store::{AfterSave, NewFile, NewOutbox, OutboxAttachment, OutboxRow};
use chrono::{DateTime, TimeZone, Utc};
use std::fmt::Write;

pub const AUTO_REPLIED: &str = "auto-replied";
pub const AUTO_GENERATED: &str = "auto-generated";

/// `2023年6月2日 10:22`, in the campaign's time zone.
pub fn time_zh<T: TimeZone>(t: &DateTime<T>, settings: &Settings) -> String {
    t.with_timezone(&settings.campaign.tz)
        .format("%Y年%-m月%-d日 %H:%M")
        .to_string()
}

/// The deadline as units read it: a midnight deadline is the end of the day before
/// (`2023年6月9日 24:00`), because `6月10日 00:00` is easily taken for the end of the 10th.
fn deadline_zh(settings: &Settings) -> String {
    let local = settings
        .campaign
        .deadline
        .with_timezone(&settings.campaign.tz);
    if local.time() == chrono::NaiveTime::MIN {
        let day = local.date_naive() - chrono::Days::new(1);
        format!("{} 24:00", day.format("%Y年%-m月%-d日"))
    } else {
        time_zh(&local, settings)
    }
}

pub fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Plain text and HTML written side by side, so both parts say the same.
#[derive(Default)]
struct Body {
    text: String,
    html: String,
}

impl Body {
    fn para(&mut self, s: &str) {
        let _ = writeln!(self.text, "{s}\n");
        let _ = writeln!(self.html, "<p>{}</p>", escape(s));
    }

    fn heading(&mut self, s: &str) {
        let _ = writeln!(self.text, "{s}");
        let _ = writeln!(
            self.html,
            "<h3 style=\"font-size:15px;margin:16px 0 6px\">{}</h3>",
            escape(s)
        );
    }

    fn list(&mut self, items: &[(String, Vec<String>)]) {
        self.html
            .push_str("<ul style=\"padding-left:20px;margin:4px 0\">");
        for (line, subs) in items {
            let _ = writeln!(self.text, "  · {line}");
            let _ = write!(self.html, "<li>{}", escape(line));
            if !subs.is_empty() {
                self.html.push_str("<ul>");
                for s in subs {
                    let _ = writeln!(self.text, "      - {s}");
                    let _ = write!(self.html, "<li>{}</li>", escape(s));
                }
                self.html.push_str("</ul>");
            }
            self.html.push_str("</li>");
        }
        self.html.push_str("</ul>\n");
        self.text.push('\n');
    }

    fn table(&mut self, header: &[String], rows: &[Vec<String>]) {
        self.html.push_str(
            "<table style=\"border-collapse:collapse;font-size:13px\" border=\"1\" cellpadding=\"4\">\n<tr>",
        );
        for h in header {
            let _ = write!(
                self.html,
                "<th style=\"background:#eef\">{}</th>",
                escape(h)
            );
        }
        self.html.push_str("</tr>\n");
        let _ = writeln!(self.text, "  {}", header.join(" | "));
        for r in rows {
            self.html.push_str("<tr>");
            for c in r {
                let _ = write!(self.html, "<td>{}</td>", escape(c));
            }
            self.html.push_str("</tr>\n");
            let _ = writeln!(self.text, "  {}", r.join(" | "));
        }
        self.html.push_str("</table>\n");
        self.text.push('\n');
    }

    fn finish(self) -> (String, String) {
        let html = format!(
            "<!DOCTYPE html><html><head><meta charset=\"utf-8\"></head>\
             <body style=\"font-family:'Microsoft YaHei',SimSun,sans-serif;font-size:14px;line-height:1.6\">\n{}</body></html>",
            self.html
        );
        (self.text, html)
    }
}

fn problem_lines(problems: &[Problem]) -> Vec<String> {
    problems
        .iter()
        .map(|p| format!("{}：{}", p.severity.label_zh(), p.message))
        .collect()
}

fn item_label<'a>(settings: &'a Settings, key: &'a str) -> &'a str {
    match settings.campaign.item(key) {
        Some(i) => &i.label,
        None => match key {
            "photos" => "活动照片",
            "archive" => "压缩包",
            crate::classify::SYSTEM => "系统临时文件",
            k if k.ends_with("_scan") => "统计表扫描件",
            _ => "其他文件",
        },
    }
}

fn file_line(settings: &Settings, f: &NewFile) -> (String, Vec<String>) {
    let from = if f.origin.is_empty() {
        String::new()
    } else {
        format!("（来自“{}”）", f.origin.join("”中的“"))
    };
    let link = if f.role == "link" {
        "超大附件链接 "
    } else {
        ""
    };
    let what = match settings.campaign.item(&f.item) {
        Some(item) => format!("计为“{}”，{}", item.label, f.state.label_zh()),
        None if f.item == crate::classify::SYSTEM => {
            "是办公软件或操作系统自动生成的临时文件（如Excel、WPS打开文档时产生的“~$”文件），不是材料本身，不计入报送材料；如本想发送此文件，请发送原文件".to_string()
        }
        None if f.item.ends_with("_scan") => {
            "作为统计表扫描件留存（统计表须另附Excel文件）".to_string()
        }
        None => format!("作为{}留存，不计入报送材料", item_label(settings, &f.item)),
    };
    (
        format!("{link}《{}》{from}：{what}", f.name),
        problem_lines(&f.problems),
    )
}

/// One line per required item: its state, when it came, what is wrong. Problems of files in
/// `shown` (those the email already listed) are not repeated.
fn state_lines(
    settings: &Settings,
    unit: &UnitView,
    shown: &[(String, String)],
) -> Vec<(String, Vec<String>)> {
    settings
        .campaign
        .items
        .iter()
        .map(|item| {
            let v = &unit.items[&item.key];
            let mut line = format!("{}：{}", item.label, v.state.label_zh());
            let mut repeated = false;
            if let (Some(f), Some(at)) = (&v.file, &v.received_at) {
                repeated = shown.iter().any(|(n, t)| n == f && t == at);
                let at = DateTime::parse_from_rfc3339(at)
                    .map(|t| time_zh(&t, settings))
                    .unwrap_or_else(|_| at.clone());
                let _ = write!(line, "（《{f}》，{at}收到）");
            }
            let problems = if repeated {
                Vec::new()
            } else {
                problem_lines(&v.problems)
            };
            (line, problems)
        })
        .collect()
}

/// What a unit still owes (required items missing or invalid), and what awaits review.
fn outstanding(settings: &Settings, unit: &UnitView) -> (Vec<String>, Vec<String>) {
    let mut owed = Vec::new();
    let mut review = Vec::new();
    for i in settings.campaign.items.iter().filter(|i| i.required) {
        match unit.items[&i.key].state {
            ItemState::Valid => {}
            ItemState::NeedsReview => review.push(i.label.clone()),
            s => owed.push(format!("{}（{}）", i.label, s.label_zh())),
        }
    }
    (owed, review)
}

fn outstanding_paras(body: &mut Body, settings: &Settings, unit: &UnitView, verb: &str) {
    let (owed, review) = outstanding(settings, unit);
    if !owed.is_empty() {
        body.para(&format!("{verb}：{}。", owed.join("；")));
    }
    if !review.is_empty() {
        body.para(&format!(
            "待工作人员人工审核：{}（如审核发现问题，将另行联系）。",
            review.join("、")
        ));
    }
}

fn resubmit_hint(settings: &Settings) -> String {
    format!(
        "如需补报或更正，请将文件重新发送至 {}（可直接回复本邮件），邮件主题请注明单位名称；系统以最后收到的文件为准，已合格的材料无需重复发送。",
        settings.campaign.mailbox
    )
}

fn signature(body: &mut Body, settings: &Settings) {
    if !settings.campaign.contact.is_empty() {
        body.para(&format!("联系人：{}", settings.campaign.contact));
    }
    body.para(&format!(
        "（本邮件由{}材料报送系统自动发送）",
        settings.campaign.name
    ));
}

/// The acknowledgement of one processed message (contract §8, issue 5), if one is owed.
pub fn ack(settings: &Settings, saved: &AfterSave<'_>, unit: Option<&Unit>) -> Option<NewOutbox> {
    if saved.disposition != "processed" || saved.rate_limited {
        return None;
    }
    let msg = saved.message;
    let to = msg.reply_to.clone().or_else(|| msg.from_addr.clone())?;
    if to.is_empty() || settings.campaign.own_addresses.contains(&to) {
        return None;
    }
    let campaign = &settings.campaign.name;
    let received = time_zh(&msg.received_at, settings);
    let subject_line = if msg.subject.is_empty() {
        "（无主题）".to_string()
    } else {
        msg.subject.clone()
    };
    let files: Vec<(String, Vec<String>)> = msg
        .files
        .iter()
        .filter(|f| f.role != "archive" || settings.campaign.item(&f.item).is_some())
        // `._总结.docx`, `.DS_Store` inside a zip from a Mac: the unit never saw them.
        .filter(|f| !(f.role == "member" && f.item == crate::classify::SYSTEM))
        .map(|f| file_line(settings, f))
        .collect();
    let mut body = Body::default();
    let subject = match (unit, saved.unit) {
        (Some(u), Some(view)) => {
            body.para(&format!("{}：", u.name));
            body.para(&format!(
                "您好！本邮箱于{received}收到贵单位的邮件《{subject_line}》，已计入“{}”的{campaign}材料。系统核验结果如下：",
                u.name
            ));
            body.heading("一、本次收到的文件");
            if files.is_empty() {
                body.para("本邮件未附带任何文件。");
            } else {
                body.list(&files);
            }
            let unit_problems = problem_lines(&msg.problems);
            if !unit_problems.is_empty() {
                body.para("另请注意：");
                body.list(
                    &unit_problems
                        .into_iter()
                        .map(|p| (p, vec![]))
                        .collect::<Vec<_>>(),
                );
            }
            body.heading("二、贵单位目前的报送情况");
            let received_at = msg
                .received_at
                .with_timezone(&settings.campaign.tz)
                .to_rfc3339();
            let shown: Vec<(String, String)> = msg
                .files
                .iter()
                .map(|f| (f.name.clone(), received_at.clone()))
                .collect();
            body.list(&state_lines(settings, view, &shown));
            if view.status == UnitStatus::Complete {
                body.para("所需材料已全部收到且核验合格，报送完成，感谢配合！");
            } else {
                outstanding_paras(&mut body, settings, view, "尚需补报或更正");
            }
            body.heading("三、截止时间");
            let mut line = format!("报送截止时间为{}。", deadline_zh(settings));
            if msg.received_at > settings.campaign.deadline.with_timezone(&Utc) {
                line.push_str("本次报送已超过截止时间，已标注为逾期。");
            }
            body.para(&line);
            body.heading("四、补报与更正");
            body.para(&resubmit_hint(settings));
            format!("回执：{campaign}材料已收到（{}）", u.name)
        }
        _ => {
            body.para("您好！");
            body.para(&format!(
                "本邮箱于{received}收到您的邮件《{subject_line}》，但系统未能确认报送单位，材料暂未计入任何单位。"
            ));
            body.para(&format!(
                "请重新发送邮件，并在邮件主题中注明单位全称（例如“XX局报送{campaign}材料”），统计表“填报单位”一栏也请填写单位全称。工作人员也会尽快人工核对。"
            ));
            body.heading("本次收到的文件");
            if files.is_empty() {
                body.para("本邮件未附带任何文件。");
            } else {
                body.list(&files);
            }
            body.para(&format!("报送截止时间为{}。", deadline_zh(settings)));
            format!("回执：{campaign}材料已收到（未能确认报送单位）")
        }
    };
    signature(&mut body, settings);
    let (body_text, body_html) = body.finish();
    Some(NewOutbox {
        dedupe_key: format!("ack:{}", saved.id),
        kind: "ack".into(),
        unit_id: unit.map(|u| u.id.clone()),
        message_id: Some(saved.id),
        recipients: vec![to],
        subject,
        body_text,
        body_html,
        in_reply_to: msg.message_id.clone(),
        references: msg.message_id.clone(),
        auto_submitted: AUTO_REPLIED.into(),
        attachments: Vec::new(),
    })
}

/// A reminder to one unit for one round.
pub fn reminder(
    settings: &Settings,
    round_key: &str,
    now: DateTime<Utc>,
    unit: &Unit,
    view: &UnitView,
    recipients: Vec<String>,
    template: Option<OutboxAttachment>,
) -> NewOutbox {
    let campaign = &settings.campaign.name;
    let late = now > settings.campaign.deadline.with_timezone(&Utc);
    let mut body = Body::default();
    body.para(&format!("{}：", unit.name));
    let intro = if late {
        format!(
            "您好！{campaign}材料的报送截止时间（{}）已过，截至{}，贵单位尚未完成报送，请尽快补报。",
            deadline_zh(settings),
            time_zh(&now, settings)
        )
    } else {
        format!(
            "您好！{campaign}材料须于{}前发送至 {}。截至{}，贵单位的报送情况如下：",
            deadline_zh(settings),
            settings.campaign.mailbox,
            time_zh(&now, settings)
        )
    };
    body.para(&intro);
    body.list(&state_lines(settings, view, &[]));
    outstanding_paras(&mut body, settings, view, "请补报或更正");
    let attach = template.is_some();
    if attach {
        body.para("空白统计表见本邮件附件，请按表填写后发送Excel文件。");
    }
    body.para(&format!(
        "报送方式：将统计表（Excel）、活动周总结报告和影像资料（视频时长不超过{}）发送至 {}，邮件主题请注明单位名称。",
        duration_zh(settings.video.max_seconds),
        settings.campaign.mailbox
    ));
    body.para(&resubmit_hint(settings));
    signature(&mut body, settings);
    let (body_text, body_html) = body.finish();
    let subject = if late {
        format!("催报：{campaign}材料已逾期，请尽快报送（{}）", unit.name)
    } else {
        format!(
            "提醒：请于{}前报送{campaign}材料（{}）",
            deadline_zh(settings),
            unit.name
        )
    };
    NewOutbox {
        dedupe_key: format!("reminder:{round_key}:{}", unit.id),
        kind: "reminder".into(),
        unit_id: Some(unit.id.clone()),
        message_id: None,
        recipients,
        subject,
        body_text,
        body_html,
        in_reply_to: None,
        references: None,
        auto_submitted: AUTO_GENERATED.into(),
        attachments: template.into_iter().collect(),
    }
}

fn duration_zh(seconds: f64) -> String {
    let s = seconds.round() as i64;
    match (s / 60, s % 60) {
        (m, 0) => format!("{m}分钟"),
        (0, s) => format!("{s}秒"),
        (m, s) => format!("{m}分{s}秒"),
    }
}

/// A unit that needs a phone call: it owes something and has no address to write to.
pub struct PhoneCall<'a> {
    pub unit: &'a Unit,
    pub status: UnitStatus,
}

/// The coordinator's daily status email.
pub fn daily_report(
    settings: &Settings,
    date_key: &str,
    status: &Status,
    failed: &[OutboxRow],
    phone: &[PhoneCall<'_>],
    xlsx: Option<OutboxAttachment>,
) -> NewOutbox {
    let campaign = &settings.campaign.name;
    let mut body = Body::default();
    body.para("您好！");
    let counts: Vec<String> = UnitStatus::ALL
        .iter()
        .map(|s| format!("{} {}", s.label_zh(), status.counts[s.as_str()]))
        .collect();
    body.para(&format!(
        "{campaign}报送情况（截至{}，截止时间{}）：共 {} 个单位，{}。",
        DateTime::parse_from_rfc3339(&status.generated_at)
            .map(|t| time_zh(&t, settings))
            .unwrap_or_default(),
        deadline_zh(settings),
        status.units.len(),
        counts.join("，")
    ));
    body.heading("一、各单位报送情况");
    let mut header = vec!["单位".to_string(), "状态".to_string()];
    header.extend(settings.campaign.items.iter().map(|i| i.label.clone()));
    header.push("最近报送".to_string());
    header.push("逾期".to_string());
    let rows: Vec<Vec<String>> = status
        .units
        .iter()
        .map(|u| {
            let mut r = vec![u.name.clone(), u.status.label_zh().to_string()];
            for i in &settings.campaign.items {
                r.push(u.items[&i.key].state_zh());
            }
            r.push(
                u.last_received_at
                    .as_deref()
                    .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
                    .map(|t| time_zh(&t, settings))
                    .unwrap_or_else(|| "—".into()),
            );
            r.push(if u.late { "是" } else { "" }.to_string());
            r
        })
        .collect();
    body.table(&header, &rows);
    let problems: Vec<(String, Vec<String>)> = status
        .units
        .iter()
        .filter_map(|u| {
            let mut lines = Vec::new();
            for i in &settings.campaign.items {
                for p in &u.items[&i.key].problems {
                    lines.push(format!(
                        "{}：{}：{}",
                        i.label,
                        p.severity.label_zh(),
                        p.message
                    ));
                }
            }
            lines.extend(problem_lines(&u.problems));
            (!lines.is_empty()).then(|| (u.name.clone(), lines))
        })
        .collect();
    if !problems.is_empty() {
        body.heading("二、需要处理的问题");
        body.list(&problems);
    }
    body.heading("三、未能确认报送单位的邮件");
    if status.unmatched.is_empty() {
        body.para("无。");
    } else {
        let lines: Vec<(String, Vec<String>)> = status
            .unmatched
            .iter()
            .map(|m| {
                (
                    format!(
                        "{}　{}　《{}》{}",
                        DateTime::parse_from_rfc3339(&m.received_at)
                            .map(|t| time_zh(&t, settings))
                            .unwrap_or_default(),
                        m.from.as_deref().unwrap_or("（无发件人）"),
                        m.subject,
                        crate::status::junk_note(m)
                    ),
                    vec![format!(
                        "指定单位：reportbox assign '{}' <单位编号>",
                        m.message_id
                    )],
                )
            })
            .collect();
        body.list(&lines);
    }
    body.heading("四、需要电话联系的单位（无可用邮箱）");
    if phone.is_empty() {
        body.para("无。");
    } else {
        let lines: Vec<(String, Vec<String>)> = phone
            .iter()
            .map(|p| {
                let who = match (&p.unit.contact, &p.unit.phone) {
                    (Some(c), Some(t)) => format!("联系人 {c}，电话 {t}"),
                    (Some(c), None) => format!("联系人 {c}"),
                    (None, Some(t)) => format!("电话 {t}"),
                    (None, None) => "名单中无联系人和电话".to_string(),
                };
                (
                    format!("{}（{}）：{who}", p.unit.name, p.status.label_zh()),
                    vec![],
                )
            })
            .collect();
        body.list(&lines);
    }
    body.heading("五、未能送达的邮件");
    if failed.is_empty() {
        body.para("无。");
    } else {
        let lines: Vec<(String, Vec<String>)> = failed
            .iter()
            .map(|f| {
                (
                    format!("《{}》→ {}", f.email.subject, f.email.recipients.join("，")),
                    f.last_error.iter().cloned().collect(),
                )
            })
            .collect();
        body.list(&lines);
    }
    set_aside_section(&mut body, status, settings);
    if xlsx.is_some() {
        body.para("附件《汇总表.xlsx》：第一页为各单位统计表数据及合计，第二页为各单位报送情况。");
    }
    signature(&mut body, settings);
    let (body_text, body_html) = body.finish();
    NewOutbox {
        dedupe_key: format!("report:{date_key}"),
        kind: "report".into(),
        unit_id: None,
        message_id: None,
        recipients: settings.campaign.coordinators.clone(),
        subject: format!("{campaign}报送情况日报（{date_key}）"),
        body_text,
        body_html,
        in_reply_to: None,
        references: None,
        auto_submitted: AUTO_GENERATED.into(),
        attachments: xlsx.into_iter().collect(),
    }
}

/// Contract §8: set-aside mail counted by reason, and the five most recent unrelated messages,
/// so that a submission written in an unexpected way is still found and assigned.
fn set_aside_section(body: &mut Body, status: &Status, settings: &Settings) {
    body.heading("六、未计入的邮件");
    if status.ignored.is_empty() {
        body.para("无。");
        return;
    }
    let mut counts: Vec<(&str, usize)> = Vec::new();
    for m in &status.ignored {
        match counts.iter_mut().find(|(r, _)| *r == m.reason) {
            Some((_, n)) => *n += 1,
            None => counts.push((&m.reason, 1)),
        }
    }
    let counts: Vec<String> = counts
        .iter()
        .map(|(r, n)| format!("{} {n} 封", crate::status::reason_zh(r)))
        .collect();
    body.para(&format!(
        "共 {} 封：{}。这些邮件已保存，但不计入任何单位，也不回复。",
        status.ignored.len(),
        counts.join("，")
    ));
    let recent: Vec<(String, Vec<String>)> = status
        .ignored
        .iter()
        .rev()
        .filter(|m| m.reason == "message.unrelated")
        .take(5)
        .map(|m| {
            (
                format!(
                    "{}　{}　《{}》",
                    DateTime::parse_from_rfc3339(&m.received_at)
                        .map(|t| time_zh(&t, settings))
                        .unwrap_or_default(),
                    m.from.as_deref().unwrap_or("（无发件人）"),
                    m.subject
                ),
                vec![format!(
                    "如确为报送材料：reportbox assign '{}' <单位编号>",
                    m.message_id
                )],
            )
        })
        .collect();
    if !recent.is_empty() {
        body.para("最近被判定为与本次报送无关的邮件（如为单位的报送材料，请指定单位）：");
        body.list(&recent);
    }
}
