//! The service's health and failures as the coordinator reads them, in Chinese: the part of
//! `status` below the units, `reportbox failures` and `reportbox retry`.

use crate::store::{Failures, Retried, ServiceHealth};
use chrono::{DateTime, FixedOffset};
use std::fmt::Write;

fn time_zh(t: &DateTime<FixedOffset>) -> String {
    t.format("%Y年%-m月%-d日 %H:%M").to_string()
}

fn kind_zh(kind: &str) -> &str {
    match kind {
        "ack" => "回执",
        "reminder" => "提醒",
        "report" => "日报",
        other => other,
    }
}

fn source_zh(source: &str) -> &str {
    match source {
        "mailbox" => "收信",
        "sender" => "发信",
        other => other,
    }
}

/// The service block of the status table.
pub fn render_service(h: &ServiceHealth) -> String {
    let mut out = String::from("服务状态\n");
    match &h.daemon {
        Some(d) => {
            let _ = writeln!(
                out,
                "  服务进程：{} 启动（进程号 {}，版本 {}，主机 {}）",
                time_zh(&d.started_at),
                d.pid,
                d.version,
                d.host
            );
        }
        None => out.push_str("  服务进程：尚未运行过（reportbox run）\n"),
    }
    if h.folders.is_empty() {
        out.push_str("  收信：尚未收取过邮箱\n");
    }
    for f in &h.folders {
        let when = f
            .last_poll_at
            .as_ref()
            .map_or("尚无记录".to_string(), time_zh);
        let _ = writeln!(
            out,
            "  收信：{} 最近一次成功收取 {when}（已处理到 UID {}）",
            f.folder, f.last_uid
        );
    }
    match &h.last_error {
        Some(e) => {
            let _ = writeln!(
                out,
                "  最近错误：{} {}：{}",
                time_zh(&e.at),
                source_zh(&e.source),
                e.error
            );
        }
        None => out.push_str("  最近错误：无\n"),
    }
    let o = &h.outbox;
    let mut line = format!("  待发邮件 {} 封（已到期 {} 封", o.pending, o.due);
    if let Some(t) = &o.oldest_due_at {
        let _ = write!(line, "，最早一封排队于 {}", time_zh(t));
    }
    line.push('）');
    if let Some(t) = &o.paused_until {
        let why = o.pause_reason.as_deref().unwrap_or("邮件服务器限制");
        let _ = write!(line, "；发信暂停至 {}（{why}）", time_zh(t));
    }
    let _ = writeln!(out, "{line}；发送失败 {} 封", o.failed);
    let _ = write!(out, "  放弃处理的邮件 {} 封", h.given_up_messages);
    if h.retry_requested_messages > 0 {
        let _ = write!(out, "，等待重新收取 {} 封", h.retry_requested_messages);
    }
    out.push('\n');
    if h.given_up_messages > 0 || o.failed > 0 {
        out.push_str("  （reportbox failures 查看详情，reportbox retry 重试）\n");
    }
    out
}

/// `reportbox failures`.
pub fn render_failures(f: &Failures) -> String {
    if f.messages.is_empty() && f.emails.is_empty() {
        return "没有放弃处理的邮件，也没有发送失败的邮件\n".to_string();
    }
    let mut out = String::new();
    let _ = writeln!(out, "放弃处理的邮件（{} 封）：", f.messages.len());
    for m in &f.messages {
        let state = if m.retry_requested {
            "等待下一次收取时重新处理"
        } else {
            "已放弃"
        };
        let _ = writeln!(
            out,
            "  {}:{}（UIDVALIDITY {}）：{state}，尝试 {} 次，首次 {}，最近 {}",
            m.folder,
            m.uid,
            m.uidvalidity,
            m.attempts,
            time_zh(&m.first_at),
            time_zh(&m.last_at)
        );
        if let Some(e) = m.error.as_deref().filter(|e| !e.is_empty()) {
            let _ = writeln!(out, "      原因：{e}");
        }
    }
    let _ = writeln!(out, "发送失败的邮件（{} 封）：", f.emails.len());
    for e in &f.emails {
        let _ = writeln!(
            out,
            "  #{} {} → {}：「{}」，尝试 {} 次，排队于 {}",
            e.id,
            kind_zh(&e.kind),
            e.recipients.join("，"),
            e.subject,
            e.attempts,
            time_zh(&e.created_at)
        );
        if let Some(err) = e.error.as_deref().filter(|e| !e.is_empty()) {
            let _ = writeln!(out, "      原因：{err}");
        }
    }
    out.push_str(
        "reportbox retry 将发送失败的邮件重新排队发送，并在下一次收取时重新处理放弃的邮件；\
         只重试其中几封：--email 编号（# 后的数字）、--message 文件夹:UID\n",
    );
    out
}

/// What `retry` did, before the re-queued emails are sent.
pub fn render_retried(r: &Retried) -> String {
    if r.emails.is_empty() && r.messages == 0 {
        return "没有需要重试的邮件\n".to_string();
    }
    let mut out = String::new();
    if !r.emails.is_empty() {
        let ids: Vec<String> = r.emails.iter().map(|id| format!("#{id}")).collect();
        let _ = writeln!(
            out,
            "已将 {} 封发送失败的邮件重新排入发送队列（{}）",
            r.emails.len(),
            ids.join("，")
        );
    }
    if r.messages > 0 {
        let _ = writeln!(
            out,
            "已请求重新处理 {} 封放弃处理的邮件：运行中的服务在下一次收取时处理（或执行 reportbox once）；已确认过的邮件不会重复发送回执",
            r.messages
        );
    }
    out
}
