//! The emails of the coordinator's desk (issue 9): the short reply to a unit's note, the email a
//! rejected review sends the unit (the daily email's 单位来信 is `compose`'s). Pure, like `compose`.

use super::compose::Context;
use super::compose::{
    deadline_zh, item_label, signature, thread_of, time_zh, Body, AUTO_GENERATED, AUTO_REPLIED,
};
use crate::campaign::Disposition;
use crate::identify::Unit;
use crate::store::{AfterSave, NewOutbox, Reviewed};

/// The reply to a note: that it reached the staff, nothing about files or lateness, since a note
/// counts for nothing. One per unit (or, unattributed, per address) per day: its key says so.
pub fn note_reply(
    settings: &Context<'_>,
    saved: &AfterSave<'_>,
    unit: Option<&Unit>,
) -> Option<NewOutbox> {
    if saved.disposition != Disposition::Note {
        return None;
    }
    let msg = saved.message;
    let to = msg.reply_to.clone().or_else(|| msg.from_addr.clone())?;
    if to.is_empty() || settings.campaign.own_addresses.contains(&to) {
        return None;
    }
    let day = msg
        .received_at
        .with_timezone(&settings.campaign.tz)
        .date_naive();
    let who = unit.map_or(to.as_str(), |u| u.id.as_str());
    let mut body = Body::default();
    body.para(&format!("{}：", unit.map_or("您好", |u| u.name.as_str())));
    body.para(&format!(
        "您于{}发来的邮件已收到，已转交工作人员，如需答复会另行联系。",
        time_zh(&msg.received_at, settings)
    ));
    body.para(&format!(
        "如需报送{}材料，请将文件作为附件发送至 {}，邮件主题请注明单位名称。",
        settings.campaign.name, settings.campaign.mailbox
    ));
    signature(&mut body, settings);
    let (body_text, body_html) = body.finish();
    Some(NewOutbox {
        dedupe_key: format!("note:{who}:{day}"),
        kind: "ack".into(),
        unit_id: unit.map(|u| u.id.clone()),
        message_id: Some(saved.id),
        recipients: vec![to],
        subject: "已转交工作人员".to_string(),
        body_text,
        body_html,
        in_reply_to: msg.message_id.clone(),
        references: thread_of(msg),
        auto_submitted: AUTO_REPLIED.into(),
        attachments: Vec::new(),
    })
}

/// The email a rejected review sends the unit: which file, why, and how to send it again. One
/// per review (its key is the review's id), so repeating the command sends nothing more.
pub fn rejection(settings: &Context<'_>, r: &Reviewed, unit: &Unit) -> Option<NewOutbox> {
    if r.recipients.is_empty() {
        return None;
    }
    let label = item_label(settings, &r.item).to_string();
    let mut body = Body::default();
    body.para(&format!("{}：", unit.name));
    body.para(&format!(
        "您好！贵单位于{}报送的{}《{}》经工作人员审核，未能通过。",
        time_zh(&r.received_at, settings),
        label,
        r.file
    ));
    if !r.reason.is_empty() {
        body.para(&format!("原因：{}", r.reason));
    }
    body.para(&format!(
        "请按上述意见更正后，将{label}重新发送至 {}（可直接回复本邮件），邮件主题请注明单位名称。报送截止时间为{}。",
        settings.campaign.mailbox,
        deadline_zh(settings)
    ));
    signature(&mut body, settings);
    let (body_text, body_html) = body.finish();
    Some(NewOutbox {
        dedupe_key: format!("review:{}", r.review_id),
        kind: "review".into(),
        unit_id: Some(unit.id.clone()),
        message_id: None,
        recipients: r.recipients.clone(),
        subject: format!("审核未通过：{label}需更正（{}）", unit.name),
        body_text,
        body_html,
        in_reply_to: r.in_reply_to.clone(),
        references: r.in_reply_to.clone(),
        auto_submitted: AUTO_GENERATED.into(),
        attachments: Vec::new(),
    })
}
