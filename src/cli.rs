//! The commands a coordinator or ops run. Thin: each parses what it was given, calls the
//! library, and prints in Chinese for people or JSON for programs.

mod desk;

use crate::campaign::EmailState;
use crate::config::Settings;
use crate::notify::{self, smtp::Mailer, SendReport};
use crate::pipeline;
use crate::schedule::{self, Clock};
use crate::store::Store;
use anyhow::{bail, Context};
use chrono::Utc;
use clap::{Parser, Subcommand, ValueEnum};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

mod import;
pub use import::{find_files, import, Found};

#[derive(Debug, Parser)]
#[command(
    name = "reportbox",
    version,
    about = "按通知要求收集各单位邮件报送的材料"
)]
pub struct Cli {
    /// The configuration file (TOML); `REPORTBOX_SECTION__KEY` variables override it. Default:
    /// /etc/reportbox/reportbox.toml when it exists, else config/reportbox.toml.
    #[arg(long, short, global = true)]
    pub config: Option<PathBuf>,
    /// Log lines on stderr: text (with journald priorities under systemd) or JSON.
    #[arg(long, value_enum, default_value_t = crate::logging::LogFormat::Text, global = true)]
    pub log_format: crate::logging::LogFormat,
    /// The campaign a command is about, by its key (campaign.key); needed only when several
    /// campaigns are configured.
    #[arg(long, global = true)]
    pub campaign: Option<String>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check the configuration and roster, print what was loaded, touch nothing.
    CheckConfig,
    /// The ops preflight: the configuration, then the database, IMAP, SMTP and the storage
    /// directory, one line each; exit 1 if any fails.
    Check {
        /// Only what needs no network (the configuration, roster and storage directory).
        #[arg(long)]
        offline: bool,
    },
    /// Create or update the database tables.
    Migrate,
    /// Process messages from .eml files, mbox files, or directories of them.
    Import {
        #[arg(required = true)]
        paths: Vec<PathBuf>,
    },
    /// Where every unit stands.
    Status {
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// Attribute a message (by Message-ID or number) to a unit (its id, name, alias or the
    /// start of its name).
    Assign { message: String, unit: String },
    /// Who would be reminded now, and why (--dry-run); or queue and send a reminder round now.
    Remind {
        #[arg(long)]
        dry_run: bool,
        #[arg(long, value_parser = parse_now)]
        now: Option<chrono::DateTime<Utc>>,
    },
    /// The coordinator's status email: print it, or queue and send it now; or write its
    /// 汇总表.xlsx to a file.
    Report {
        #[arg(long, conflicts_with = "send", required_unless_present_any = ["send", "xlsx"])]
        print: bool,
        #[arg(long)]
        send: bool,
        /// Write 汇总表.xlsx (every unit of the roster) to this file.
        #[arg(long, value_name = "PATH")]
        xlsx: Option<PathBuf>,
        #[arg(long, value_parser = parse_now)]
        now: Option<chrono::DateTime<Utc>>,
    },
    /// Queue and send the acknowledgement of a message (by Message-ID or number) again.
    ResendAck { message: String },
    /// Send every due email of the outbox now (within smtp.max_per_minute).
    Send {
        #[arg(long, value_parser = parse_now)]
        now: Option<chrono::DateTime<Utc>>,
    },
    /// Mark a unit (its id, name, alias or the start of its name) exempt, or lift its
    /// exemption with --clear.
    Exempt {
        unit: String,
        #[arg(long, required_unless_present = "clear")]
        reason: Option<String>,
        #[arg(long)]
        clear: bool,
    },
    /// Every unit of the roster with its id, names, addresses and contact.
    Units,
    /// Messages the daemon gave up on (mailbox_failures) and emails that failed for good.
    Failures {
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// Queue every failed email again and send it now; have every given-up message fetched and
    /// processed again on the next pass. Safe to repeat: nothing is acknowledged twice.
    Retry {
        /// Only this failed email (its number in `failures`, #N); may be repeated.
        #[arg(long = "email", value_name = "N")]
        emails: Vec<i64>,
        /// Only this given-up message (FOLDER:UID as `failures` shows it); may be repeated.
        #[arg(long = "message", value_name = "FOLDER:UID")]
        messages: Vec<String>,
    },
    /// The coordinator's verdict on a unit's item that waits for review (a large-attachment
    /// link): --accept makes it valid; --reject "理由" makes it invalid and emails the unit why.
    Review {
        unit: String,
        /// The item: its key (video), label (影像资料) or short name (统计表, 总结报告, 视频).
        item: String,
        #[arg(long, conflicts_with = "reject", required_unless_present = "reject")]
        accept: bool,
        #[arg(long, value_name = "理由")]
        reject: Option<String>,
        /// Who decided (default: $USER).
        #[arg(long)]
        by: Option<String>,
    },
    /// Mark a unit's note (by the message number the daily email lists under 单位来信) handled.
    Handled {
        number: i64,
        /// Who handled it (default: $USER).
        #[arg(long)]
        by: Option<String>,
    },
    /// Everything that happened to a unit, in time order: messages, files, verdicts, reviews,
    /// exemptions, emails sent.
    History { unit: String },
    /// Copy each unit's current valid files under clean names into DIR, one folder per unit,
    /// with 汇总表.xlsx and 状态.csv at the top. Safe to run again.
    Export {
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
    },
    /// Decide the stored files again under the current configuration (a raised limit, a
    /// corrected rule) and update their states; sends nothing.
    Recheck {
        /// Only this unit (its id, name, alias or the start of its name).
        #[arg(long)]
        unit: Option<String>,
    },
    /// The originals' storage: `storage migrate --to s3` copies every original of storage.dir
    /// into the bucket of [storage.s3], checking each one's sha256 after upload.
    Storage {
        #[command(subcommand)]
        action: StorageCommand,
    },
    /// Watch the mailbox ([mailbox] in the configuration) until SIGTERM or SIGINT.
    Run,
    /// One pass over the mailbox, then exit.
    Once,
}

#[derive(Debug, Subcommand)]
pub enum StorageCommand {
    /// Copy the originals of storage.dir into the bucket (those already there are skipped);
    /// safe to interrupt and to run again. Then set storage.backend = "s3".
    Migrate {
        #[arg(long, value_enum)]
        to: StorageTarget,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum StorageTarget {
    S3,
}

/// An instant for the scheduler, instead of the system clock.
fn parse_now(s: &str) -> Result<chrono::DateTime<Utc>, String> {
    chrono::DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| format!("not an RFC 3339 time ({e}); e.g. 2023-06-07T09:00:00+08:00"))
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Format {
    Table,
    Json,
}

/// Where the service's configuration lives once installed.
pub const SYSTEM_CONFIG: &str = "/etc/reportbox/reportbox.toml";
/// The working copy's configuration, for development and the demo.
pub const LOCAL_CONFIG: &str = "config/reportbox.toml";

/// `--config`, else the installed configuration when there is one, else the local file: a
/// command typed on the server reads what the service reads, whatever the directory.
pub fn config_path(given: Option<&Path>) -> PathBuf {
    match given {
        Some(p) => p.to_path_buf(),
        None if Path::new(SYSTEM_CONFIG).is_file() => PathBuf::from(SYSTEM_CONFIG),
        None => PathBuf::from(LOCAL_CONFIG),
    }
}

pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let config = config_path(cli.config.as_deref());
    let settings = match Settings::load_from_env(&config) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("reportbox: {} : {e}", config.display());
            return Ok(ExitCode::from(crate::run::EXIT_CONFIG));
        }
    };
    // What concerns the whole deployment (its schema, its connections) needs no campaign named:
    // the first configured stands in.
    // `run` and `once` serve every mailbox, or only the named campaign's.
    let all_mailboxes =
        cli.campaign.is_none() && matches!(cli.command, Command::Run | Command::Once);
    let deployment_wide = all_mailboxes
        || matches!(
            cli.command,
            Command::Migrate | Command::CheckConfig | Command::Check { .. }
        );
    let key = match (&cli.campaign, deployment_wide) {
        (None, true) => settings.campaign_keys().first().map(|k| k.to_string()),
        (key, _) => key.clone(),
    };
    let settings = match settings.select(key.as_deref()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("reportbox: {e}");
            return Ok(ExitCode::from(crate::run::EXIT_CONFIG));
        }
    };
    match cli.command {
        Command::CheckConfig => {
            for line in crate::check::offline(&settings) {
                match line.level {
                    crate::check::Level::Pass => println!("{}", line.text),
                    _ => println!("注意：{}", line.text),
                }
            }
            return Ok(ExitCode::SUCCESS);
        }
        Command::Units => {
            print!("{}", units_table(&settings.roster));
            return Ok(ExitCode::SUCCESS);
        }
        Command::Storage {
            action: StorageCommand::Migrate {
                to: StorageTarget::S3,
            },
        } => return migrate_storage(&settings).await,
        Command::Check { offline } => {
            let lines = if offline {
                let mut l = crate::check::offline(&settings);
                l.push(crate::check::storage(&settings));
                l
            } else {
                crate::check::all(&settings).await
            };
            println!("配置文件：{}", config.display());
            for line in &lines {
                println!("{line}");
            }
            let failed = lines
                .iter()
                .filter(|l| l.level == crate::check::Level::Fail)
                .count();
            return Ok(if failed == 0 {
                println!("检查通过");
                ExitCode::SUCCESS
            } else {
                println!("{failed} 项检查未通过");
                ExitCode::FAILURE
            });
        }
        _ => {}
    }
    // Only these change the schema: a read-only command pointed at the wrong database (or run
    // before an upgrade's migrate) refuses instead of creating or altering tables there.
    let store = match cli.command {
        Command::Migrate | Command::Run | Command::Once => open_store(&settings).await?,
        _ => open_current(&settings).await?,
    };
    let campaign = settings.campaign_view();
    match cli.command {
        Command::CheckConfig | Command::Check { .. } | Command::Units | Command::Storage { .. } => {
            unreachable!("handled above")
        }
        Command::Migrate => {
            println!(
                "数据库已是最新结构（版本 {}）",
                crate::store::latest_migration()
            );
        }
        Command::Import { paths } => return import(&settings.alone(), &store, &paths).await,
        Command::Run => return crate::run::daemon(&settings, &store, all_mailboxes).await,
        Command::Once => return crate::run::once(&settings, &store, all_mailboxes).await,
        Command::Status { format } => {
            let status = store.status(&campaign, Utc::now()).await?;
            let service = store.service_health(settings.campaign.tz).await?;
            match format {
                Format::Json => {
                    // Additive: §9's keys stay as they are, the daemon's health beside them.
                    let mut json = serde_json::to_value(&status)?;
                    json["service"] = serde_json::to_value(&service)?;
                    println!("{}", serde_json::to_string_pretty(&json)?);
                }
                Format::Table => {
                    print!("{}", crate::status::render_table(&status, &campaign));
                    print!("\n{}", crate::health::render_service(&service));
                }
            }
        }
        Command::Failures { format } => {
            let failures = store.failures(settings.campaign.tz).await?;
            match format {
                Format::Json => println!("{}", serde_json::to_string_pretty(&failures)?),
                Format::Table => print!("{}", crate::health::render_failures(&failures)),
            }
        }
        Command::Retry { emails, messages } => {
            let only = (!emails.is_empty() || !messages.is_empty()).then(|| {
                crate::store::RetryOnly {
                    emails,
                    // `failures` prints `INBOX UID 17`; both that and INBOX:17 are accepted.
                    messages: messages
                        .iter()
                        .map(|m| m.replacen(" UID ", ":", 1).trim().to_string())
                        .collect(),
                }
            });
            let retried = store.retry_failures(only.as_ref()).await?;
            print!("{}", crate::health::render_retried(&retried));
            if !retried.emails.is_empty() {
                let r = send_now(&settings, &store, Utc::now()).await?;
                println!(
                    "本次发出 {} 封，待重试 {} 封，失败 {} 封{}",
                    r.sent,
                    r.retried,
                    r.failed,
                    r.paused_until
                        .map(|t| format!(
                            "；发信暂停至 {}（{}），届时自动发送",
                            notify::compose::time_zh(&t, &settings.compose()),
                            r.pause_reason.as_deref().map_or("", pause_zh)
                        ))
                        .unwrap_or_default()
                );
            }
        }
        Command::Remind { dry_run, now } => {
            let clock = now.map_or(Clock::System, Clock::Fixed);
            return remind(&settings, &store, dry_run, clock).await;
        }
        Command::Export { out } => return export(&settings, &store, &out).await,
        Command::Recheck { unit } => {
            let unit = unit.map(|u| resolve(&settings, &u)).transpose()?;
            return recheck(&settings, &store, unit).await;
        }
        Command::Report {
            print,
            send,
            xlsx,
            now,
        } => {
            let now = now.unwrap_or_else(Utc::now);
            if let Some(path) = xlsx {
                let status = store.status(&campaign, now).await?;
                let bytes = crate::export::summary_workbook(&settings, &store, &status).await?;
                crate::export::write_file(&path, &bytes)
                    .with_context(|| format!("无法写入 {}", path.display()))?;
                println!(
                    "汇总表已写入 {}（{} 个单位）",
                    path.display(),
                    status.units.len()
                );
                if !print && !send {
                    return Ok(ExitCode::SUCCESS);
                }
            }
            let date = now
                .with_timezone(&settings.campaign.tz)
                .date_naive()
                .to_string();
            let mut email = notify::compose_report(&settings, &store, &date, now).await?;
            if print {
                let to = if email.recipients.is_empty() {
                    "（未配置 campaign.coordinators，--send 无人可收）".to_string()
                } else {
                    email.recipients.join("，")
                };
                println!(
                    "主题：{}\n收件人：{to}\n\n{}",
                    email.subject, email.body_text
                );
            }
            if send {
                if settings.campaign.coordinators.is_empty() {
                    bail!("campaign.coordinators 未配置，无人可收日报");
                }
                email.dedupe_key = format!("report:manual:{}", now.to_rfc3339());
                store.enqueue(std::slice::from_ref(&email)).await?;
                let r = send_now(&settings, &store, Utc::now()).await?;
                println!(
                    "日报已发送至 {}（本次发出 {} 封）",
                    email.recipients.join("，"),
                    r.sent
                );
            }
        }
        Command::ResendAck { message } => {
            match notify::resend_ack(&settings, &store, &message).await? {
                Some(email) => {
                    let r = send_now(&settings, &store, Utc::now()).await?;
                    // What became of this email, not of the pass: the pass may have sent
                    // others, or nothing at all while sending is paused.
                    let row = store
                        .outbox(Some("ack"))
                        .await?
                        .into_iter()
                        .find(|row| row.email.dedupe_key == email.dedupe_key);
                    let to = email.recipients.join("，");
                    let (state, error) = row
                        .map(|row| (Some(row.state), row.last_error.unwrap_or_default()))
                        .unwrap_or_default();
                    match state {
                        Some(EmailState::Sent) => println!("回执已重新发送至 {to}"),
                        Some(EmailState::Failed) => {
                            println!("回执未能发送至 {to}：{error}");
                            return Ok(ExitCode::FAILURE);
                        }
                        _ => {
                            match (r.paused_until, &r.pause_reason) {
                                (Some(until), Some(reason)) => println!(
                                    "回执已排入发送队列，但尚未发出：发信暂停至 {}（{}）；暂停结束后自动发送，无需再次执行",
                                    notify::compose::time_zh(&until, &settings.compose()),
                                    pause_zh(reason)
                                ),
                                _ => println!(
                                    "回执已排入发送队列，但尚未发出（{error}）；稍后自动重试，无需再次执行"
                                ),
                            }
                            return Ok(ExitCode::FAILURE);
                        }
                    }
                }
                None => println!("该邮件不需要回执（自动回复、退信、群发或重复邮件）"),
            }
        }
        Command::Send { now } => {
            let r = send_now(&settings, &store, now.unwrap_or_else(Utc::now)).await?;
            println!(
                "发出 {} 封，待重试 {} 封，失败 {} 封{}",
                r.sent,
                r.retried,
                r.failed,
                r.paused_until
                    .map(|t| format!(
                        "；发信暂停至 {}（{}），队列中的邮件届时自动发送",
                        notify::compose::time_zh(&t, &settings.compose()),
                        r.pause_reason.as_deref().map_or("", pause_zh)
                    ))
                    .unwrap_or_default()
            );
        }
        Command::Review {
            unit,
            item,
            accept: _,
            reject,
            by,
        } => return desk::review(&settings, &store, &unit, &item, reject, by).await,
        Command::Handled { number, by } => {
            return desk::handled(&store, &settings, number, by).await
        }
        Command::History { unit } => return desk::history(&settings, &store, &unit).await,
        Command::Assign { message, unit } => {
            let unit = resolve(&settings, &unit)?;
            let assigned = pipeline::assign(&settings, &store, &message, &unit.id).await?;
            let name = &unit.name;
            match assigned {
                pipeline::Assigned::Reassigned { id } => {
                    println!("邮件 {message}（编号 {id}）已计入“{name}”")
                }
                pipeline::Assigned::Counted { id } => println!(
                    "邮件 {message}（编号 {id}）原未计入，现已按“{name}”的报送材料处理，并将向发件人发送回执"
                ),
            }
        }
        Command::Exempt {
            unit,
            reason,
            clear,
        } => {
            let unit = resolve(&settings, &unit)?;
            let name = &unit.name;
            if clear {
                store.set_exempt(&unit.id, None, &campaign).await?;
                println!("已取消“{name}”的免报");
            } else {
                let reason = reason.unwrap_or_default();
                store.set_exempt(&unit.id, Some(&reason), &campaign).await?;
                println!("“{name}”已设为免报：{reason}");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `reportbox export --out DIR`: every file, then what was written, kept and removed.
async fn export(settings: &Settings, store: &Store, out: &Path) -> anyhow::Result<ExitCode> {
    let done = crate::export::export(settings, store, out)
        .await
        .with_context(|| format!("导出到 {} 未完成", out.display()))?;
    print!("{}", done.render_zh(out));
    Ok(ExitCode::SUCCESS)
}

/// `reportbox recheck [--unit U]`: exit 1 when an original was missing.
async fn recheck(
    settings: &Settings,
    store: &Store,
    unit: Option<&crate::identify::Unit>,
) -> anyhow::Result<ExitCode> {
    let report = crate::recheck::recheck(settings, store, unit.map(|u| u.id.as_str())).await?;
    for id in &report.missing_originals {
        eprintln!("编号 {id}：存储目录中找不到原始邮件，未能重新检查");
    }
    print!("{}", report.render_zh(settings));
    Ok(if report.missing_originals.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// A pause's reason for the coordinator: a refused code says what to fix; 163's limits are
/// only waited out.
fn pause_zh(reason: &str) -> &str {
    if reason.starts_with(notify::AUTH_REJECTED) {
        "邮箱授权码被拒绝，请更正 smtp.password_file 中的授权码"
    } else {
        "邮件服务器限制发送频率或当日数量"
    }
}

/// The unit the coordinator typed, by id, name, alias or the start of a name (issue 9).
fn resolve<'s>(settings: &'s Settings, typed: &str) -> anyhow::Result<&'s crate::identify::Unit> {
    Ok(settings
        .roster
        .resolve(typed, &settings.campaign.strip_prefixes)?)
}

/// `reportbox units`: the roster in its own order, one unit a line, so the coordinator can find
/// the id or name to give `assign` and `exempt`.
pub fn units_table(roster: &crate::identify::Roster) -> String {
    let or_dash = |s: String| if s.is_empty() { "—".to_string() } else { s };
    let mut rows = vec![
        ["编号", "单位名称", "分组", "联系人", "电话", "邮箱", "别名"]
            .map(String::from)
            .to_vec(),
    ];
    for u in &roster.units {
        rows.push(vec![
            u.id.clone(),
            u.name.clone(),
            or_dash(u.group.clone()),
            or_dash(u.contact.clone().unwrap_or_default()),
            or_dash(u.phone.clone().unwrap_or_default()),
            or_dash(u.emails.join("；")),
            // Last: the longest column, so it pushes no other out of sight.
            or_dash(u.aliases.join("；")),
        ]);
    }
    let mut out = format!("共 {} 个单位\n\n", roster.units.len());
    for line in crate::status::aligned(&rows) {
        out.push_str(&line);
        out.push('\n');
    }
    out.push_str("\nassign、exempt 等命令中的单位可写编号、单位名称、别名，或名称的开头（须只对应一个单位）\n");
    out
}

/// Drains the due part of the outbox.
pub async fn send_now(
    settings: &Settings,
    store: &Store,
    now: chrono::DateTime<Utc>,
) -> anyhow::Result<SendReport> {
    let mailer = Mailer::new(settings)?;
    Ok(notify::send_due(settings, store, &mailer, now, usize::MAX).await?)
}

async fn remind(
    settings: &Settings,
    store: &Store,
    dry_run: bool,
    clock: Clock,
) -> anyhow::Result<ExitCode> {
    let now = clock.now();
    let status = store.status(&settings.campaign_view(), now).await?;
    let due = schedule::latest_reminder_round(&settings.campaign, &settings.schedule, now);
    let key = match (&due, dry_run) {
        (Some(r), _) => r.key.clone(),
        (None, true) => "dry-run".to_string(),
        (None, false) => format!("reminder:manual:{}", now.to_rfc3339()),
    };
    let plan = notify::plan_reminders(settings, store, &status, &key, now).await?;
    match &due {
        Some(r) if store.round_done(&r.key).await? => println!(
            "当前提醒轮次（{}）已于此前执行",
            notify::compose::time_zh(&r.due_at, &settings.compose())
        ),
        Some(r) => println!(
            "当前应执行的提醒轮次：{}",
            notify::compose::time_zh(&r.due_at, &settings.compose())
        ),
        None => println!("当前没有到期的提醒轮次"),
    }
    if let Some(next) = schedule::next_reminder_round(&settings.campaign, &settings.schedule, now) {
        println!(
            "下一轮提醒：{}",
            notify::compose::time_zh(&next.due_at, &settings.compose())
        );
    }
    if plan.why.is_empty() {
        println!("所有单位均已完成或免报，无需提醒");
    }
    for (unit, to, reasons) in &plan.why {
        println!("{unit} → {to}");
        for r in reasons {
            println!("    {r}");
        }
    }
    if dry_run {
        return Ok(ExitCode::SUCCESS);
    }
    let round_due = due.as_ref().map_or(now, |r| r.due_at);
    let detail = serde_json::json!({ "reminded": plan.emails.len(), "manual": true });
    if !store
        .run_round(&key, "reminder", round_due, &plan.emails, detail)
        .await?
    {
        println!("该轮提醒此前已发出，不再重复发送");
        return Ok(ExitCode::SUCCESS);
    }
    let r = send_now(settings, store, Utc::now()).await?;
    println!(
        "已发出 {} 封提醒（失败 {} 封，待重试 {} 封）",
        r.sent, r.failed, r.retried
    );
    Ok(ExitCode::SUCCESS)
}

/// `storage migrate --to s3`: needs no database, only the directory and the bucket.
async fn migrate_storage(settings: &Settings) -> anyhow::Result<ExitCode> {
    use crate::store::ObjectStore;
    let Some(s3) = settings.storage.s3() else {
        bail!("[storage.s3] 未配置（endpoint、bucket、region、凭据），无处可迁移");
    };
    let from = ObjectStore::new(&settings.storage.dir);
    let to = ObjectStore::s3(s3)?;
    println!("从 {} 迁移到 {}", from.describe(), to.describe());
    let done = crate::store::migrate::copy_objects(&from, &to, |i, n| {
        if i % 500 == 0 && i < n {
            println!("已处理 {i}/{n} 个原件");
        }
    })
    .await
    .context("迁移中断（已完成的不受影响，再次运行即可继续）")?;
    for sha in &done.damaged {
        println!("本地原件已损坏（内容与哈希不符），未上传：{sha}");
    }
    for sha in &done.mismatched {
        println!("上传后读回的内容与哈希不符：{sha}（请再次运行）");
    }
    println!(
        "共 {} 个原件：本次上传并校验 {} 个，存储桶中已有 {} 个，本地损坏 {} 个，校验失败 {} 个",
        done.found,
        done.copied,
        done.present,
        done.damaged.len(),
        done.mismatched.len()
    );
    Ok(if done.ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

async fn connect(settings: &Settings) -> anyhow::Result<Store> {
    Store::connect(
        &settings.database.url,
        settings.database.max_connections,
        crate::store::ObjectStore::open(&settings.storage)?,
    )
    .await
    .context("无法连接数据库（database.url）")
}

/// Connects, brings the schema up to date and mirrors the roster: `migrate`, `run`, `once`.
pub async fn open_store(settings: &Settings) -> anyhow::Result<Store> {
    let store = connect(settings).await?;
    store.migrate().await.context("cannot apply migrations")?;
    adopt(settings, store).await
}

/// Connects to a database whose schema is this binary's, and mirrors the roster; refuses, in
/// words ops can act on, when it is missing, old or newer.
pub async fn open_current(settings: &Settings) -> anyhow::Result<Store> {
    use crate::store::Schema;
    let store = connect(settings).await?;
    match store.schema().await? {
        Schema::Current(_) => {}
        Schema::Missing { want } => bail!(
            "数据库中还没有 reportbox 的表（本程序需要结构版本 {want}），本命令不会建立它们。\
             请确认 database.url 指向正确的数据库，再运行 reportbox migrate"
        ),
        Schema::Old { have, want } => bail!(
            "数据库结构版本 {have} 旧于本程序需要的 {want}（升级后还没有迁移？），本命令不会修改它。\
             请先运行 reportbox migrate"
        ),
        Schema::Newer { have, want } => bail!(
            "数据库结构版本 {have} 新于本程序（{want}）：数据库已被更新版本的 reportbox 迁移，请使用那个版本"
        ),
    }
    adopt(settings, store).await
}

/// The store for the selected campaign. The campaign of reportbox.toml takes over what was
/// recorded before campaigns existed (migration 0009's placeholder), so upgrading loses nothing.
/// Every configured campaign is registered and its roster mirrored, so that the scheduler finds
/// each one's units and rows whichever campaign a command names.
async fn adopt(settings: &Settings, store: Store) -> anyhow::Result<Store> {
    let mut selected = None;
    for (i, c) in settings.campaigns.iter().enumerate() {
        let id = store
            .adopt_campaign(&c.campaign.key, &c.campaign.name, i == 0)
            .await
            .context("cannot register the campaign in the database")?;
        store.for_campaign(id).sync_units(&c.roster).await?;
        if c.campaign.key == settings.campaign.key {
            selected = Some(id);
        }
    }
    Ok(store.for_campaign(selected.unwrap_or_else(|| store.campaign())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_installed_configuration_is_the_default_when_it_exists() {
        let given = Path::new("/srv/campaign.toml");
        assert_eq!(config_path(Some(given)), given);
        let expected = if Path::new(SYSTEM_CONFIG).is_file() {
            SYSTEM_CONFIG
        } else {
            LOCAL_CONFIG
        };
        assert_eq!(config_path(None), Path::new(expected));
    }
}
