//! `reportbox check`: the ops preflight, like `nginx -t`. Every check is tried (one failing does
//! not hide the next) and yields one line in Chinese; the command fails if any line is a
//! failure. Warnings are things that work but are probably not what the campaign wants.
//!
//! Nothing here changes what the service relies on: the database is only read (schema version),
//! the folders are SELECTed as the daemon does (which may clear `\Recent`, a flag reportbox never
//! consults), SMTP is authenticated without a message, and the storage probe file is removed.

use crate::config::Settings;
use crate::identify::{self, CsvEncoding};
use crate::mailbox::client::{self, Selected};
use crate::mailbox::MailboxError;
use crate::store::{Schema, Store};
use std::fmt;
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Pass,
    Warn,
    Fail,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    pub level: Level,
    pub text: String,
}

impl fmt::Display for Line {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let tag = match self.level {
            Level::Pass => "[通过]",
            Level::Warn => "[警告]",
            Level::Fail => "[失败]",
        };
        write!(f, "{tag} {}", self.text)
    }
}

fn pass(text: impl Into<String>) -> Line {
    Line {
        level: Level::Pass,
        text: text.into(),
    }
}
fn warn(text: impl Into<String>) -> Line {
    Line {
        level: Level::Warn,
        text: text.into(),
    }
}
fn fail(text: impl Into<String>) -> Line {
    Line {
        level: Level::Fail,
        text: text.into(),
    }
}

/// How long SELECT of one folder may take during the check.
const SELECT_TIMEOUT: Duration = Duration::from_secs(30);

/// What can be said from the configuration alone (what `check-config` prints, and the part of
/// `check` that `ExecStartPre=` may run with `--offline`).
pub fn offline(settings: &Settings) -> Vec<Line> {
    let c = &settings.campaign;
    let mut lines = vec![pass(format!(
        "配置有效：{}，截止 {}，{} 个单位，{} 项材料",
        c.name,
        c.deadline.to_rfc3339(),
        settings.roster.units.len(),
        c.items.len()
    ))];
    let encoding = std::fs::read(&c.roster_path)
        .ok()
        .filter(|_| {
            !c.roster_path
                .extension()
                .is_some_and(|e| e.eq_ignore_ascii_case("xlsx"))
        })
        .and_then(|b| identify::decode_csv(&b).ok())
        .map(|(_, e)| e);
    let how = match encoding {
        Some(CsvEncoding::Utf8) => "，UTF-8 编码",
        Some(CsvEncoding::Gb18030) => "，GBK/GB18030 编码（Excel 的普通 CSV），已正确读取",
        None => "",
    };
    lines.push(pass(format!("单位名单：{}{how}", c.roster_path.display())));
    lines.push(pass(format!(
        "收取的文件夹：{}",
        settings.mailbox.folders.join("、")
    )));
    if settings.mailbox.deprecated_folder {
        lines.push(warn(
            "mailbox.folder 已弃用，只收取一个文件夹；请改用 mailbox.folders",
        ));
    }
    let unreachable: Vec<&str> = settings
        .roster
        .units
        .iter()
        .filter(|u| u.emails.is_empty() && u.phone.as_deref().is_none_or(str::is_empty))
        .map(|u| u.name.as_str())
        .collect();
    if !unreachable.is_empty() {
        let shown: Vec<&str> = unreachable.iter().copied().take(5).collect();
        lines.push(warn(format!(
            "单位名单中有 {} 个单位既没有邮箱也没有电话（{}{}）：无法按地址识别，也无法提醒或联系",
            unreachable.len(),
            shown.join("、"),
            if unreachable.len() > shown.len() {
                "等"
            } else {
                ""
            }
        )));
    }
    if c.deadline <= c.opens {
        lines.push(warn(format!(
            "截止时间 {} 不晚于开始时间 campaign.opens {}：请检查两者",
            c.deadline.to_rfc3339(),
            c.opens.to_rfc3339()
        )));
    }
    if c.coordinators.is_empty() {
        lines.push(warn("campaign.coordinators 为空：每日汇总邮件没有收件人"));
    }
    lines
}

/// Every check, offline and online, in the order a person fixes things.
pub async fn all(settings: &Settings) -> Vec<Line> {
    let mut lines = offline(settings);
    lines.push(storage(settings));
    if let Some(line) = bucket(settings).await {
        lines.push(line);
    }
    lines.push(database(settings).await);
    // Every mailbox the campaigns read, each with the account that answers from it.
    for key in settings.mailbox_groups().iter().filter_map(|g| g.first()) {
        let Ok(s) = settings.select(Some(key)) else {
            continue;
        };
        lines.extend(imap(&s).await);
        lines.push(smtp(&s).await);
    }
    lines
}

/// Writes and removes a file where originals are kept: the service needs both.
pub fn storage(settings: &Settings) -> Line {
    let dir = &settings.storage.dir;
    if let Err(e) = std::fs::create_dir_all(dir) {
        return fail(format!("存储目录 {}：无法创建：{e}", dir.display()));
    }
    let probe = dir.join(format!(".reportbox-check-{}", std::process::id()));
    if let Err(e) = std::fs::write(&probe, b"reportbox check\n") {
        return fail(format!("存储目录 {}：无法写入：{e}", dir.display()));
    }
    if let Err(e) = std::fs::remove_file(&probe) {
        return fail(format!(
            "存储目录 {}：写入的测试文件无法删除：{e}",
            dir.display()
        ));
    }
    pass(format!("存储目录 {}：可写", dir.display()))
}

/// With `storage.backend = "s3"`: stores a small probe object and reads it back. Being named by
/// its hash it is written once and harmless to keep, so nothing is deleted (the service's key
/// may rightly lack that right).
pub async fn bucket(settings: &Settings) -> Option<Line> {
    use crate::store::settings::Backend;
    let Backend::S3(_) = &settings.storage.backend else {
        return None;
    };
    let objects = match crate::store::ObjectStore::open(&settings.storage) {
        Ok(o) => o,
        Err(e) => return Some(fail(format!("存储桶（storage.s3）：配置无效：{e}"))),
    };
    let probe = b"reportbox check: this object may stay\n";
    let sha = crate::store::sha256_hex(probe);
    let result = match objects.put(&sha, probe).await {
        Ok(()) => objects.get(&sha).await,
        Err(e) => Err(e),
    };
    Some(match result {
        Ok(bytes) if bytes == probe => pass(format!("存储桶 {}：可写可读", objects.describe())),
        Ok(_) => fail(format!(
            "存储桶 {}：读回的内容与写入的不同",
            objects.describe()
        )),
        Err(e) => fail(format!("存储桶 {}：{e}", objects.describe())),
    })
}

pub async fn database(settings: &Settings) -> Line {
    let store = match Store::connect(&settings.database.url, 1, &settings.storage.dir).await {
        Ok(s) => s,
        Err(e) => return fail(format!("数据库（database.url）：无法连接：{e}")),
    };
    match store.schema().await {
        Ok(Schema::Current(v)) => pass(format!("数据库：已连接，结构版本 {v}（最新）")),
        Ok(Schema::Missing { want }) => warn(format!(
            "数据库：已连接，但还没有 reportbox 的表（本程序需要结构版本 {want}）；\
             确认是正确的数据库后运行 reportbox migrate（启动服务时也会自动建立）"
        )),
        Ok(Schema::Old { have, want }) => warn(format!(
            "数据库：已连接，结构版本 {have}，本程序需要 {want}；请运行 reportbox migrate\
             （启动服务时也会自动迁移）"
        )),
        Ok(Schema::Newer { have, want }) => fail(format!(
            "数据库：结构版本 {have} 比本程序（{want}）新：这台机器上的 reportbox 比迁移数据库的那个旧，请升级"
        )),
        Err(e) => fail(format!("数据库：无法读取结构版本：{e}")),
    }
}

/// Logs in exactly as the daemon does (TLS, LOGIN, ID), then SELECTs every configured folder.
pub async fn imap(settings: &Settings) -> Vec<Line> {
    let cfg = &settings.mailbox;
    let server = format!("{}:{}", cfg.host, cfg.port);
    let mut conn = match client::connect(cfg).await {
        Ok(c) => c,
        Err(e) => return vec![fail(format!("IMAP {server}：{}", imap_problem(&e)))],
    };
    let mut lines = Vec::new();
    let caps: Vec<String> = match conn.session.capabilities().await {
        Ok(c) => {
            let mut v: Vec<String> = c
                .iter()
                .map(|c| match c {
                    async_imap::types::Capability::Imap4rev1 => "IMAP4rev1".to_string(),
                    async_imap::types::Capability::Auth(a) => format!("AUTH={a}"),
                    async_imap::types::Capability::Atom(a) => a.to_string(),
                })
                .collect();
            v.sort();
            v
        }
        Err(_) => Vec::new(),
    };
    let idle = if conn.can_idle {
        if cfg.idle == crate::mailbox::IdleMode::Auto {
            "支持 IDLE，新邮件即时收取".to_string()
        } else {
            "支持 IDLE，但 mailbox.idle = off".to_string()
        }
    } else {
        format!("不支持 IDLE，每 {} 秒查看一次", cfg.poll_interval.as_secs())
    };
    lines.push(pass(format!(
        "IMAP {server}：已登录 {}，已发送 ID；{idle}；服务器能力：{}",
        cfg.username,
        caps.join(" ")
    )));
    for folder in &cfg.folders {
        match client::select(&mut conn, folder, SELECT_TIMEOUT).await {
            Ok(Selected::Open { .. }) => {
                let n = conn
                    .session
                    .search("ALL")
                    .await
                    .map(|s| format!("，{} 封邮件", s.len()))
                    .unwrap_or_default();
                lines.push(pass(format!("IMAP 文件夹“{folder}”：可以打开{n}")));
            }
            Ok(Selected::Missing(why)) => lines.push(warn(format!(
                "IMAP 文件夹“{folder}”：服务器拒绝打开（{why}）；服务会跳过它，请检查 mailbox.folders"
            ))),
            Err(e) => lines.push(fail(format!(
                "IMAP 文件夹“{folder}”：{}",
                imap_problem(&e)
            ))),
        }
    }
    let _ = tokio::time::timeout(Duration::from_secs(3), conn.session.logout()).await;
    lines
}

fn imap_problem(e: &MailboxError) -> String {
    match e {
        MailboxError::Login(_) => format!(
            "登录被拒绝：请检查 mailbox.username 和授权码（mailbox.password），并确认 163 邮箱设置中已开启 IMAP 服务（{e}）"
        ),
        MailboxError::Certificate(_) => format!("服务器证书不受信任（{e}）"),
        MailboxError::Connect(_) => format!("无法连接（{e}）"),
        MailboxError::Timeout(_) => format!("服务器没有应答（{e}）"),
        MailboxError::Config(_) => format!("配置有误（{e}）"),
        _ => format!("失败（{e}）"),
    }
}

/// Connects and authenticates without sending anything.
pub async fn smtp(settings: &Settings) -> Line {
    let s = &settings.smtp;
    let server = format!("{}:{}", s.host, s.port);
    let mailer = match crate::notify::smtp::Mailer::new(settings) {
        Ok(m) => m,
        Err(e) => return fail(format!("SMTP {server}：配置有误（{e}）")),
    };
    let authenticated = s.username.is_some() && s.password.is_some();
    match mailer.verify().await {
        Ok(()) if authenticated => pass(format!(
            "SMTP {server}：已登录 {}（未发送邮件）",
            s.username.as_deref().unwrap_or_default()
        )),
        Ok(()) => warn(format!(
            "SMTP {server}：已连接，但未配置 smtp.username 和授权码，未登录；163 不登录不能发信"
        )),
        Err(e) if is_auth_refusal(&e) => fail(format!(
            "SMTP {server}：登录被拒绝：请检查 smtp.username 和授权码（smtp.password），并确认 163 邮箱设置中已开启 SMTP 服务（{e}）"
        )),
        Err(e) => fail(format!("SMTP {server}：无法连接或登录（{e}）")),
    }
}

/// 535 (credentials refused), 534 and 530 (authentication required or too weak), or a reply
/// that says so in words, as 163 sometimes does: the sender's own reading of it.
fn is_auth_refusal(e: &crate::notify::smtp::SmtpError) -> bool {
    crate::notify::smtp::classify(e.code, &e.message) == crate::notify::smtp::FailureClass::Auth
}
