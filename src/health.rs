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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{Backlog, FailedEmail, FolderPoll, GivenUp, LastError};

    fn at(s: &str) -> DateTime<FixedOffset> {
        DateTime::parse_from_rfc3339(s).unwrap()
    }

    fn health() -> ServiceHealth {
        ServiceHealth {
            daemon: None,
            folders: vec![FolderPoll {
                account: "a@163.com@imap.163.com".into(),
                folder: "垃圾邮件".into(),
                last_uid: 17,
                last_poll_at: Some(at("2023-06-07T09:30:00+08:00")),
            }],
            last_error: Some(LastError {
                source: "sender".into(),
                error: "connection refused".into(),
                at: at("2023-06-07T09:29:00+08:00"),
            }),
            outbox: Backlog {
                pending: 3,
                due: 2,
                oldest_due_at: Some(at("2023-06-07T09:00:00+08:00")),
                failed: 1,
                paused_until: None,
                pause_reason: None,
            },
            given_up_messages: 1,
            retry_requested_messages: 0,
        }
    }

    #[test]
    fn the_service_block_says_what_the_coordinator_acts_on() {
        let text = render_service(&health());
        for words in [
            "服务进程：尚未运行过",
            "收信：垃圾邮件 最近一次成功收取 2023年6月7日 09:30（已处理到 UID 17）",
            "最近错误：2023年6月7日 09:29 发信：connection refused",
            "待发邮件 3 封（已到期 2 封，最早一封排队于 2023年6月7日 09:00）；发送失败 1 封",
            "放弃处理的邮件 1 封",
            "reportbox failures 查看详情",
        ] {
            assert!(text.contains(words), "{words}:\n{text}");
        }
        let mut quiet = health();
        quiet.outbox.failed = 0;
        quiet.given_up_messages = 0;
        quiet.last_error = None;
        let text = render_service(&quiet);
        assert!(text.contains("最近错误：无"), "{text}");
        assert!(!text.contains("reportbox failures"), "{text}");
    }

    #[test]
    fn failures_name_each_message_the_way_retry_takes_it() {
        let f = Failures {
            messages: vec![GivenUp {
                account: "x".into(),
                folder: "INBOX".into(),
                uidvalidity: 9,
                uid: 17,
                attempts: 4,
                error: Some("数据库拒绝".into()),
                first_at: at("2023-06-07T09:00:00+08:00"),
                last_at: at("2023-06-07T09:05:00+08:00"),
                retry_requested: false,
            }],
            emails: vec![FailedEmail {
                id: 12,
                kind: "report".into(),
                recipients: vec!["a@example.test".into(), "b@example.test".into()],
                subject: "日报".into(),
                attempts: 1,
                error: Some("554 Relay access denied".into()),
                created_at: at("2023-06-07T08:30:00+08:00"),
            }],
        };
        let text = render_failures(&f);
        for words in [
            "INBOX:17（UIDVALIDITY 9）：已放弃，尝试 4 次",
            "原因：数据库拒绝",
            "#12 日报 → a@example.test，b@example.test：「日报」",
            "原因：554 Relay access denied",
        ] {
            assert!(text.contains(words), "{words}:\n{text}");
        }
        let empty = Failures {
            messages: vec![],
            emails: vec![],
        };
        assert_eq!(
            render_failures(&empty),
            "没有放弃处理的邮件，也没有发送失败的邮件\n"
        );
        assert_eq!(render_retried(&Retried::default()), "没有需要重试的邮件\n");
    }
}
