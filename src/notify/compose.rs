//! The words of every email reportbox sends, in Chinese: acknowledgements, reminders, the daily
//! status email. Pure: status and settings in, a composed `NewOutbox` out.

use crate::campaign::{Campaign, Disposition};
use crate::identify::Roster;
use crate::identify::Unit;
use crate::problem::{ItemState, Problem};
use crate::status::{NoteView, Status, UnitStatus, UnitView};
use crate::store::{AfterSave, NewFile, NewOutbox, OutboxAttachment, OutboxRow};
use crate::validate::table::TableTemplate;
use crate::validate::video::VideoRules;
use chrono::{DateTime, TimeZone, Utc};
use std::fmt::Write;

/// What composing an email needs of its campaign: a stage takes what it needs, never the whole
/// configuration (`Settings::compose` builds one for the selected campaign).
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    pub campaign: &'a Campaign,
    pub roster: &'a Roster,
    pub table: &'a TableTemplate,
    pub video: &'a VideoRules,
}

pub const AUTO_REPLIED: &str = "auto-replied";
pub const AUTO_GENERATED: &str = "auto-generated";

/// `2023年6月2日 10:22`, in the campaign's time zone.
pub fn time_zh<T: TimeZone>(t: &DateTime<T>, settings: &Context<'_>) -> String {
    t.with_timezone(&settings.campaign.tz)
        .format("%Y年%-m月%-d日 %H:%M")
        .to_string()
}

/// The deadline as units read it: a midnight deadline is the end of the day before
/// (`2023年6月9日 24:00`), because `6月10日 00:00` is easily taken for the end of the 10th.
pub(super) fn deadline_zh(settings: &Context<'_>) -> String {
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

/// Web addresses in escaped HTML made clickable: a coordinator downloads a large attachment
/// from the daily email with one click instead of copying a 150-character URL.
fn linkify(escaped: &str) -> String {
    static URL: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    let re = URL.get_or_init(|| {
        regex::Regex::new(r#"https?://[^\s<>"，。；、）“”]+"#).expect("valid regex")
    });
    re.replace_all(escaped, "<a href=\"$0\">$0</a>")
        .into_owned()
}

/// Plain text and HTML written side by side, so both parts say the same.
#[derive(Default)]
pub(super) struct Body {
    text: String,
    html: String,
}

impl Body {
    pub(super) fn para(&mut self, s: &str) {
        let _ = writeln!(self.text, "{s}\n");
        let _ = writeln!(self.html, "<p>{}</p>", escape(s));
    }

    pub(super) fn heading(&mut self, s: &str) {
        let _ = writeln!(self.text, "{s}");
        let _ = writeln!(
            self.html,
            "<h3 style=\"font-size:15px;margin:16px 0 6px\">{}</h3>",
            escape(s)
        );
    }

    pub(super) fn list(&mut self, items: &[(String, Vec<String>)]) {
        self.html
            .push_str("<ul style=\"padding-left:20px;margin:4px 0\">");
        for (line, subs) in items {
            let _ = writeln!(self.text, "  · {line}");
            let _ = write!(self.html, "<li>{}", linkify(&escape(line)));
            if !subs.is_empty() {
                self.html.push_str("<ul>");
                for s in subs {
                    let _ = writeln!(self.text, "      - {s}");
                    let _ = write!(self.html, "<li>{}</li>", linkify(&escape(s)));
                }
                self.html.push_str("</ul>");
            }
            self.html.push_str("</li>");
        }
        self.html.push_str("</ul>\n");
        self.text.push('\n');
    }

    pub(super) fn finish(self) -> (String, String) {
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

/// An item's label for people, also for the kinds of file that are no item (photos, …).
pub(crate) fn item_label<'a>(settings: &Context<'a>, key: &'a str) -> &'a str {
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

fn file_line(settings: &Context<'_>, f: &NewFile) -> (String, Vec<String>) {
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
    settings: &Context<'_>,
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
fn outstanding(settings: &Context<'_>, unit: &UnitView) -> (Vec<String>, Vec<String>) {
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

fn outstanding_paras(body: &mut Body, settings: &Context<'_>, unit: &UnitView, verb: &str) {
    let (owed, review) = outstanding(settings, unit);
    if !owed.is_empty() {
        body.para(&format!("{verb}：{}。", owed.join("；")));
    }
    if !review.is_empty() {
        body.para(&format!(
            "待审核：{}。工作人员将尽快查看，贵单位无需再做什么；如有问题，会另行联系。",
            review.join("、")
        ));
    }
}

fn resubmit_hint(settings: &Context<'_>) -> String {
    format!(
        "如需补报或更正，请将文件重新发送至 {}（可直接回复本邮件），邮件主题请注明单位名称；系统以最后收到的文件为准，已合格的材料无需重复发送。",
        settings.campaign.mailbox
    )
}

pub(super) fn signature(body: &mut Body, settings: &Context<'_>) {
    if !settings.campaign.contact.is_empty() {
        body.para(&format!("联系人：{}", settings.campaign.contact));
    }
    body.para(&format!(
        "（本邮件由{}材料报送系统自动发送）",
        settings.campaign.name
    ));
}

/// The verdict an acknowledgement's subject carries, from the unit's state with the message
/// counted: what the unit has to do is readable in the inbox list, without opening the email.
fn ack_verdict(settings: &Context<'_>, view: &UnitView) -> String {
    let labels = |wanted: &dyn Fn(ItemState) -> bool| -> Vec<&str> {
        settings
            .campaign
            .items
            .iter()
            .filter(|i| i.required && wanted(view.items[&i.key].state))
            .map(|i| i.label.as_str())
            .collect()
    };
    match view.status {
        UnitStatus::Complete => "材料已全部合格".to_string(),
        UnitStatus::NeedsReview => "已收到，待审核".to_string(),
        UnitStatus::Exempt => "材料已收到".to_string(),
        UnitStatus::Incomplete | UnitStatus::Missing => {
            let invalid = labels(&|s| s == ItemState::Invalid);
            let missing = labels(&|s| s == ItemState::Missing);
            if invalid.is_empty() && missing.is_empty() {
                "材料已收到".to_string()
            } else if invalid.is_empty() {
                format!("已收到，尚缺{}", missing.join("、"))
            } else {
                format!("{}需更正", invalid.join("、"))
            }
        }
    }
}

/// `References` of a reply: the parent's chain, then the parent (RFC 5322 §3.6.4).
pub(super) fn thread_of(msg: &crate::store::NewMessage) -> Option<String> {
    let parent = msg.message_id.clone()?;
    let mut chain: Vec<String> = msg
        .thread
        .iter()
        .filter(|r| **r != parent)
        .cloned()
        .collect();
    chain.push(parent);
    Some(chain.join(" "))
}

/// The acknowledgement of one processed message (contract §8, issue 5), if one is owed.
pub fn ack(
    settings: &Context<'_>,
    saved: &AfterSave<'_>,
    unit: Option<&Unit>,
) -> Option<NewOutbox> {
    if saved.disposition != Disposition::Processed || saved.rate_limited {
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
            if msg.note.is_some() {
                body.para("您在邮件中的留言已转交工作人员，如需答复会另行联系。");
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
            format!("回执：{}（{}）", ack_verdict(settings, view), u.name)
        }
        _ => {
            body.para("您好！");
            body.para(&format!(
                "本邮箱于{received}收到您的邮件《{subject_line}》，但系统未能确认报送单位，材料暂未计入任何单位。"
            ));
            body.para(&format!(
                "请重新发送邮件，并在邮件主题中注明单位全称（例如“XX局报送{campaign}材料”），统计表“填报单位”一栏也请填写单位全称。工作人员也会尽快核对。"
            ));
            body.heading("本次收到的文件");
            if files.is_empty() {
                body.para("本邮件未附带任何文件。");
            } else {
                body.list(&files);
            }
            body.para(&format!("报送截止时间为{}。", deadline_zh(settings)));
            "回执：未能确认报送单位，请在主题中注明单位名称".to_string()
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
        references: thread_of(msg),
        auto_submitted: AUTO_REPLIED.into(),
        attachments: Vec::new(),
    })
}

/// A reminder to one unit for one round.
pub fn reminder(
    settings: &Context<'_>,
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

/// The colours of a state in the daily email: text and background, readable when printed in
/// grey too (the words carry the state; the colour only helps the eye).
fn state_colours(s: UnitStatus) -> (&'static str, &'static str) {
    match s {
        UnitStatus::Complete => ("#1e6b34", "#e3f4e8"),
        UnitStatus::NeedsReview => ("#8a5a00", "#fff1cc"),
        UnitStatus::Incomplete => ("#a33a00", "#ffe3d1"),
        UnitStatus::Missing => ("#b3261e", "#fde2e0"),
        UnitStatus::Exempt => ("#555555", "#eeeeee"),
    }
}

fn state_badge(s: UnitStatus) -> String {
    let (fg, bg) = state_colours(s);
    format!(
        "<span style=\"color:{fg};background:{bg};padding:1px 6px;border-radius:3px;font-weight:bold;white-space:nowrap\">{}</span>",
        s.label_zh()
    )
}

/// The order of the full table: what needs the coordinator first, done and exempt last.
fn state_rank(s: UnitStatus) -> u8 {
    match s {
        UnitStatus::NeedsReview => 0,
        UnitStatus::Missing => 1,
        UnitStatus::Incomplete => 2,
        UnitStatus::Complete => 3,
        UnitStatus::Exempt => 4,
    }
}

/// `联系人 张三，电话 0351-1234567`, or what the roster lacks.
pub(super) fn contact_of(unit: Option<&Unit>) -> String {
    let Some(u) = unit else {
        return "名单中无联系人和电话".to_string();
    };
    match (&u.contact, &u.phone) {
        (Some(c), Some(t)) => format!("联系人 {c}，电话 {t}"),
        (Some(c), None) => format!("联系人 {c}（名单中无电话）"),
        (None, Some(t)) => format!("电话 {t}（名单中无联系人）"),
        (None, None) => "名单中无联系人和电话".to_string(),
    }
}

fn short_time(t: Option<&str>, settings: &Context<'_>) -> String {
    t.and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .map(|t| time_zh(&t, settings))
        .unwrap_or_else(|| "—".into())
}

impl Body {
    /// Text for the plain part and ready-made HTML for the other, when the two differ in form.
    pub(super) fn both(&mut self, text: &str, html: &str) {
        self.text.push_str(text);
        self.html.push_str(html);
    }

    /// A small grey note, for what needs no action.
    pub(super) fn small(&mut self, s: &str) {
        let _ = writeln!(self.text, "{s}\n");
        let _ = writeln!(
            self.html,
            "<p style=\"font-size:12px;color:#666\">{}</p>",
            escape(s)
        );
    }
}

/// The progress line the daily email leads with: `已完成 21/35（60%）`. Exempt units are out
/// of the count, because nothing is expected of them.
pub fn progress_line(status: &Status) -> String {
    let exempt = status.counts[UnitStatus::Exempt.as_str()];
    let complete = status.counts[UnitStatus::Complete.as_str()];
    let expected = status.units.len() - exempt;
    let pct = (complete * 100).checked_div(expected).unwrap_or(100);
    let mut line = format!("已完成 {complete}/{expected}（{pct}%）");
    if exempt > 0 {
        let _ = write!(line, "，另有 {exempt} 个单位免报");
    }
    line
}

/// The coordinator's daily status email: progress first, then the lists a person acts on (each
/// unit with its contact and phone), then every unit sorted by state, then what needs no action.
/// Nothing in it is a command line: the next step is named in words.
pub fn daily_report(
    settings: &Context<'_>,
    date_key: &str,
    status: &Status,
    failed: &[OutboxRow],
    phone: &[PhoneCall<'_>],
    xlsx: Option<OutboxAttachment>,
) -> NewOutbox {
    let campaign = &settings.campaign.name;
    let roster = |id: &str| settings.roster.get(id);
    // Units with no address to write to: the coordinator must phone them.
    let no_email = |id: &str| phone.iter().any(|p| p.unit.id == id);
    let mut body = Body::default();
    let progress = progress_line(status);
    let generated = DateTime::parse_from_rfc3339(&status.generated_at)
        .map(|t| time_zh(&t, settings))
        .unwrap_or_default();
    let (_, bg) = state_colours(UnitStatus::Complete);
    body.both(
        &format!("{campaign}报送进度：{progress}\n\n"),
        &format!(
            "<p style=\"font-size:20px;font-weight:bold;margin:8px 0;padding:8px 12px;background:{bg}\">{}报送进度：{}</p>\n",
            escape(campaign),
            escape(&progress)
        ),
    );
    let counts: Vec<String> = [
        UnitStatus::NeedsReview,
        UnitStatus::Incomplete,
        UnitStatus::Missing,
    ]
    .iter()
    .map(|s| format!("{} {}", s.label_zh(), status.counts[s.as_str()]))
    .collect();
    body.para(&format!(
        "截至{generated}，共 {} 个单位：{}。报送截止时间为{}。",
        status.units.len(),
        counts.join("，"),
        deadline_zh(settings)
    ));

    let label = |key: &str| item_label(settings, key).to_string();
    body.heading("一、待您审核");
    let review: Vec<(String, Vec<String>)> = status
        .units
        .iter()
        .flat_map(|u| {
            settings
                .campaign
                .items
                .iter()
                .filter(|i| u.items[&i.key].state == ItemState::NeedsReview)
                .map(move |i| (u, i))
        })
        .map(|(u, i)| {
            let v = &u.items[&i.key];
            let mut subs = vec![contact_of(roster(&u.id))];
            if let Some(url) = &v.link {
                subs.push(format!("下载链接：{url}"));
                if let Some(f) = &v.file {
                    subs.push(format!("文件名：{f}"));
                }
                if let Some(size) = &v.link_size {
                    subs.push(format!("大小：{size}"));
                }
                subs.push(format!(
                    "有效期：{}",
                    v.link_expires
                        .as_deref()
                        .unwrap_or("邮件中未注明，请尽快下载")
                ));
                if let Some(w) = v.link_view.as_ref().and_then(|l| l.warning_zh()) {
                    subs.push(format!("⚠ {w}"));
                }
            }
            // A link's review note only repeats the details listed above.
            if v.link.is_none() {
                subs.extend(
                    v.problems
                        .iter()
                        .filter(|p| p.severity == crate::problem::Severity::Review)
                        .map(|p| p.message.clone()),
                );
            }
            subs.push(
                "下一步：请下载查看，记录审核结果：通过即计为合格；不通过时，系统会把您填写的理由发给单位。"
                    .to_string(),
            );
            let file = match (&v.link, &v.file) {
                (None, Some(f)) => format!("《{f}》"),
                _ => String::new(),
            };
            (
                format!(
                    "{}：{}{file}，{}收到{}",
                    u.name,
                    label(&i.key),
                    short_time(v.received_at.as_deref(), settings),
                    if v.found_in_junk {
                        format!("（{}）", crate::status::FOUND_IN_JUNK_ZH)
                    } else {
                        String::new()
                    }
                ),
                subs,
            )
        })
        .collect();
    if review.is_empty() {
        body.para("无。");
    } else {
        body.list(&review);
    }

    notes_section(&mut body, settings, "二、单位来信", &status.notes);

    body.heading("三、未报送");
    let missing: Vec<(String, Vec<String>)> = status
        .units
        .iter()
        .filter(|u| u.status == UnitStatus::Missing)
        .map(|u| {
            let mut line = format!("{}：{}", u.name, contact_of(roster(&u.id)));
            if no_email(&u.id) {
                line.push_str("（名单中无邮箱，请电话联系）");
            }
            (line, vec![])
        })
        .collect();
    if missing.is_empty() {
        body.para("无。");
    } else {
        body.para("以下单位尚未发来任何材料。有邮箱的单位会按计划收到提醒邮件；临近或超过截止时间，可电话催报：");
        body.list(&missing);
    }

    body.heading("四、需更正");
    let errors: Vec<(String, Vec<String>)> = status
        .units
        .iter()
        .filter(|u| u.status == UnitStatus::Incomplete)
        .map(|u| {
            let mut subs = Vec::new();
            for i in &settings.campaign.items {
                let v = &u.items[&i.key];
                for p in v
                    .problems
                    .iter()
                    .filter(|p| p.severity == crate::problem::Severity::Error)
                {
                    subs.push(format!("{}：{}", i.label, p.message));
                }
            }
            subs.extend(
                u.problems
                    .iter()
                    .filter(|p| p.severity == crate::problem::Severity::Error)
                    .map(|p| p.message.clone()),
            );
            let owed: Vec<&str> = settings
                .campaign
                .items
                .iter()
                .filter(|i| i.required && u.items[&i.key].state == ItemState::Missing)
                .map(|i| i.label.as_str())
                .collect();
            if !owed.is_empty() {
                subs.push(format!("尚缺：{}", owed.join("、")));
            }
            let mut line = format!("{}：{}", u.name, contact_of(roster(&u.id)));
            if no_email(&u.id) {
                line.push_str("（名单中无邮箱，请电话联系）");
            }
            (line, subs)
        })
        .collect();
    if errors.is_empty() {
        body.para("无。");
    } else {
        body.para("以下单位的材料有错误或不全（有邮箱的单位已在回执中看到下列问题），如需催办可电话联系：");
        body.list(&errors);
    }

    body.heading("五、各单位报送情况");
    let mut sorted: Vec<&UnitView> = status.units.iter().collect();
    sorted.sort_by_key(|u| state_rank(u.status));
    let mut header = vec!["单位".to_string(), "状态".to_string()];
    header.extend(settings.campaign.items.iter().map(|i| i.label.clone()));
    header.extend(["联系人".into(), "电话".into(), "最近报送".into()]);
    let mut html = String::from(
        "<table style=\"border-collapse:collapse;font-size:13px\" border=\"1\" cellpadding=\"4\">\n<tr>",
    );
    for h in &header {
        let _ = write!(
            html,
            "<th style=\"background:#eef;white-space:nowrap\">{}</th>",
            escape(h)
        );
    }
    html.push_str("</tr>\n");
    let mut text = String::new();
    for u in &sorted {
        let unit = roster(&u.id);
        let contact = unit.and_then(|x| x.contact.clone()).unwrap_or_default();
        let tel = unit.and_then(|x| x.phone.clone()).unwrap_or_default();
        let last = short_time(u.last_received_at.as_deref(), settings);
        let late = match (&u.exempt_reason, u.late) {
            (Some(r), _) => format!("（{r}）"),
            (None, true) => "（逾期）".to_string(),
            (None, false) => String::new(),
        };
        let _ = write!(
            html,
            "<tr><td>{}</td><td>{}{late}</td>",
            escape(&u.name),
            state_badge(u.status)
        );
        let mut items = Vec::new();
        for i in &settings.campaign.items {
            let v = &u.items[&i.key];
            let (fg, _) = match v.state {
                _ if u.status == UnitStatus::Exempt => state_colours(UnitStatus::Exempt),
                ItemState::Valid => state_colours(UnitStatus::Complete),
                ItemState::NeedsReview => state_colours(UnitStatus::NeedsReview),
                ItemState::Invalid => state_colours(UnitStatus::Incomplete),
                ItemState::Missing => state_colours(UnitStatus::Missing),
            };
            let _ = write!(
                html,
                "<td style=\"color:{fg}\">{}</td>",
                escape(&v.state_zh())
            );
            items.push(format!("{} {}", i.label, v.state_zh()));
        }
        let _ = writeln!(
            html,
            "<td>{}</td><td style=\"white-space:nowrap\">{}</td><td style=\"white-space:nowrap\">{}</td></tr>",
            escape(&contact),
            escape(&tel),
            escape(&last)
        );
        let _ = writeln!(
            text,
            "  · {}【{}】{late}：{}",
            u.name,
            u.status.label_zh(),
            items.join("；")
        );
        let mut who = vec![];
        if !contact.is_empty() {
            who.push(format!("联系人 {contact}"));
        }
        if !tel.is_empty() {
            who.push(format!("电话 {tel}"));
        }
        who.push(format!("最近报送 {last}"));
        let _ = writeln!(text, "      {}", who.join("，"));
    }
    html.push_str("</table>\n");
    text.push('\n');
    body.both(&text, &html);

    body.heading("六、未能确认报送单位的邮件");
    if status.unmatched.is_empty() {
        body.para("无。");
    } else {
        let lines: Vec<(String, Vec<String>)> = status
            .unmatched
            .iter()
            .map(|m| {
                (
                    format!(
                        "第 {} 号邮件：{}　{}　《{}》{}",
                        m.number,
                        short_time(Some(&m.received_at), settings),
                        m.from.as_deref().unwrap_or("（无发件人）"),
                        m.subject,
                        crate::status::junk_note(m)
                    ),
                    vec![format!(
                        "下一步：认出是哪个单位后，按邮件编号 {} 把它指定给该单位。",
                        m.number
                    )],
                )
            })
            .collect();
        body.list(&lines);
    }

    body.heading("七、未能送达的邮件");
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
        body.para("以下邮件被对方邮件服务器拒收，请核对地址或电话告知对方：");
        body.list(&lines);
    }
    set_aside_section(&mut body, status, settings);

    let hints: Vec<String> = status
        .units
        .iter()
        .flat_map(|u| {
            let items = settings.campaign.items.iter().flat_map(move |i| {
                u.items[&i.key]
                    .problems
                    .iter()
                    .filter(|p| p.severity == crate::problem::Severity::Warning)
                    .map(move |p| format!("{}·{}：{}", u.name, i.label, p.message))
            });
            let own = u
                .problems
                .iter()
                .filter(|p| p.severity == crate::problem::Severity::Warning)
                .map(move |p| format!("{}：{}", u.name, p.message));
            items.chain(own)
        })
        .collect();
    if !hints.is_empty() {
        body.heading("九、提示（供参考，一般无需处理）");
        for h in &hints {
            body.small(h);
        }
    }
    if xlsx.is_some() {
        body.para("附件《汇总表.xlsx》：第一页为各单位统计表数据及合计，第二页为各单位报送情况、联系人和问题。");
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
fn set_aside_section(body: &mut Body, status: &Status, settings: &Context<'_>) {
    body.heading("八、未计入的邮件");
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
                    "第 {} 号邮件：{}　{}　《{}》",
                    m.number,
                    DateTime::parse_from_rfc3339(&m.received_at)
                        .map(|t| time_zh(&t, settings))
                        .unwrap_or_default(),
                    m.from.as_deref().unwrap_or("（无发件人）"),
                    m.subject
                ),
                vec![format!(
                    "如确为报送材料：按邮件编号 {} 把它指定给报送单位。",
                    m.number
                )],
            )
        })
        .collect();
    if !recent.is_empty() {
        body.para("最近被判定为与本次报送无关的邮件（如为单位的报送材料，请指定单位）：");
        body.list(&recent);
    }
}

/// The daily email's 单位来信: every note not yet marked handled, with its number, the unit, its
/// contact and what it wrote.
fn notes_section(body: &mut Body, settings: &Context<'_>, heading: &str, notes: &[NoteView]) {
    body.heading(heading);
    if notes.is_empty() {
        body.para("无。");
        return;
    }
    body.para(
        "以下是单位发来的留言或问题（不含附件的邮件不计入报送材料），请答复或处理后标记为已处理：",
    );
    let lines: Vec<(String, Vec<String>)> = notes
        .iter()
        .map(|n| {
            let unit = n.unit_id.as_deref().and_then(|u| settings.roster.get(u));
            let who = unit.map_or_else(
                || n.from.clone().unwrap_or_else(|| "（无发件人）".into()),
                |u| u.name.clone(),
            );
            let with = if n.with_files {
                "（随附材料已照常计入）"
            } else {
                ""
            };
            let mut subs = vec![format!("来信：{}", n.text.replace('\n', " "))];
            if unit.is_some() {
                subs.push(contact_of(unit));
            }
            if let Some(from) = &n.from {
                subs.push(format!("发件地址：{from}"));
            }
            (
                format!(
                    "第 {} 号邮件：{who}，{}《{}》{with}",
                    n.number,
                    chrono::DateTime::parse_from_rfc3339(&n.received_at)
                        .map(|t| time_zh(&t, settings))
                        .unwrap_or_else(|_| n.received_at.clone()),
                    n.subject
                ),
                subs,
            )
        })
        .collect();
    body.list(&lines);
}
