//! The commands a coordinator or ops run. Thin: each parses what it was given, calls the
//! library, and prints in Chinese for people or JSON for programs.

use crate::config::Settings;
use crate::pipeline::{self, Incoming};
use crate::store::{Saved, Store};
use anyhow::{bail, Context};
use chrono::Utc;
use clap::{Parser, Subcommand, ValueEnum};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Debug, Parser)]
#[command(
    name = "reportbox",
    version,
    about = "按通知要求收集各单位邮件报送的材料"
)]
pub struct Cli {
    /// The configuration file (TOML); `REPORTBOX_SECTION__KEY` variables override it.
    #[arg(long, short, default_value = "config/reportbox.toml", global = true)]
    pub config: PathBuf,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check the configuration and roster, print what was loaded, touch nothing.
    CheckConfig,
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
    /// Attribute a message (by Message-ID or number) to a unit.
    Assign { message: String, unit: String },
    /// Mark a unit exempt, or lift its exemption with --clear.
    Exempt {
        unit: String,
        #[arg(long, required_unless_present = "clear")]
        reason: Option<String>,
        #[arg(long)]
        clear: bool,
    },
    /// Watch the mailbox ([mailbox] in the configuration) until SIGTERM or SIGINT.
    Run,
    /// One pass over the mailbox, then exit.
    Once,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Format {
    Table,
    Json,
}

pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let settings = match Settings::load_from_env(&cli.config) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("reportbox: {} : {e}", cli.config.display());
            return Ok(ExitCode::from(2));
        }
    };
    if let Command::CheckConfig = cli.command {
        println!(
            "配置有效：{}，截止 {}，{} 个单位，{} 项材料",
            settings.campaign.name,
            settings.campaign.deadline.to_rfc3339(),
            settings.roster.units.len(),
            settings.campaign.items.len()
        );
        return Ok(ExitCode::SUCCESS);
    }
    let store = open_store(&settings).await?;
    let campaign = settings.campaign_view();
    match cli.command {
        Command::CheckConfig | Command::Migrate => {
            println!("数据库已是最新结构");
        }
        Command::Import { paths } => return import(&settings, &store, &paths).await,
        Command::Run => return run_daemon(&settings, &store).await,
        Command::Once => return once(&settings, &store).await,
        Command::Status { format } => {
            let status = store.status(&campaign, Utc::now()).await?;
            match format {
                Format::Json => println!("{}", serde_json::to_string_pretty(&status)?),
                Format::Table => print!("{}", crate::status::render_table(&status, &campaign)),
            }
        }
        Command::Assign { message, unit } => {
            let id = store.assign(&message, &unit, &campaign).await?;
            let name = settings
                .roster
                .get(&unit)
                .map_or(unit.as_str(), |u| &u.name);
            println!("邮件 {message}（编号 {id}）已计入“{name}”");
        }
        Command::Exempt {
            unit,
            reason,
            clear,
        } => {
            let name = settings
                .roster
                .get(&unit)
                .map_or(unit.clone(), |u| u.name.clone());
            if clear {
                store.set_exempt(&unit, None, &campaign).await?;
                println!("已取消“{name}”的免报");
            } else {
                let reason = reason.unwrap_or_default();
                store.set_exempt(&unit, Some(&reason), &campaign).await?;
                println!("“{name}”已设为免报：{reason}");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Connects, brings the schema up to date and mirrors the roster: every command starts here.
pub async fn open_store(settings: &Settings) -> anyhow::Result<Store> {
    let store = Store::connect(
        &settings.database.url,
        settings.database.max_connections,
        &settings.storage_dir,
    )
    .await
    .context("cannot connect to the database (database.url)")?;
    store.migrate().await.context("cannot apply migrations")?;
    store.sync_units(&settings.roster).await?;
    Ok(store)
}

/// The messages found under `paths`, in a stable order: directories are read by file name
/// (which is arrival order for exported mail), keeping `.eml` and mbox files.
pub fn collect_messages(paths: &[PathBuf]) -> anyhow::Result<Vec<(String, Vec<u8>)>> {
    let mut files = Vec::new();
    for p in paths {
        if p.is_dir() {
            walk(p, &mut files)?;
        } else if p.is_file() {
            files.push(p.clone());
        } else {
            bail!("{} does not exist", p.display());
        }
    }
    let mut out = Vec::new();
    for f in files {
        let bytes = std::fs::read(&f).with_context(|| format!("cannot read {}", f.display()))?;
        let label = f.file_name().map_or_else(
            || f.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        );
        if bytes.starts_with(b"From ") {
            for (i, m) in split_mbox(&bytes).into_iter().enumerate() {
                out.push((format!("{label}#{}", i + 1), m));
            }
        } else {
            out.push((label, bytes));
        }
    }
    Ok(out)
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> anyhow::Result<()> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("cannot read {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    entries.sort();
    for e in entries {
        if e.is_dir() {
            walk(&e, out)?;
        } else {
            let ext = e
                .extension()
                .map(|x| x.to_string_lossy().to_lowercase())
                .unwrap_or_default();
            if matches!(ext.as_str(), "eml" | "mbox" | "mbx") {
                out.push(e);
            }
        }
    }
    Ok(())
}

/// Splits an mbox (mboxo or mboxrd) into messages, undoing `>From ` quoting.
pub fn split_mbox(bytes: &[u8]) -> Vec<Vec<u8>> {
    let mut messages = Vec::new();
    let mut current: Option<Vec<u8>> = None;
    let mut previous_blank = true;
    for line in bytes.split_inclusive(|&b| b == b'\n') {
        if line.starts_with(b"From ") && previous_blank {
            if let Some(m) = current.take() {
                messages.push(m);
            }
            current = Some(Vec::new());
            previous_blank = false;
            continue;
        }
        previous_blank = line == b"\n" || line == b"\r\n";
        if let Some(m) = current.as_mut() {
            let unquoted = match line.iter().position(|&b| b != b'>') {
                Some(n) if n > 0 && line[n..].starts_with(b"From ") => &line[1..],
                _ => line,
            };
            m.extend_from_slice(unquoted);
        }
    }
    if let Some(m) = current {
        messages.push(m);
    }
    // The blank line before each separator belongs to the mbox, not the message.
    for m in &mut messages {
        if m.ends_with(b"\n\n") {
            m.pop();
        } else if m.ends_with(b"\r\n\r\n") {
            m.truncate(m.len() - 2);
        }
    }
    messages
}

async fn import(settings: &Settings, store: &Store, paths: &[PathBuf]) -> anyhow::Result<ExitCode> {
    let messages = collect_messages(paths)?;
    if messages.is_empty() {
        eprintln!("没有找到邮件文件（.eml 或 mbox）");
        return Ok(ExitCode::FAILURE);
    }
    let (mut new, mut known, mut failed) = (0, 0, 0);
    for (label, raw) in messages {
        let incoming = Incoming {
            raw,
            source: format!("import:{label}"),
            internal_date: None,
        };
        match pipeline::process(settings, store, incoming).await {
            Ok(outcome) => match outcome.saved {
                Saved::AlreadyStored { .. } => {
                    known += 1;
                    println!("{label}：已导入过，跳过");
                }
                Saved::Recorded {
                    id,
                    disposition,
                    unit_id,
                    ..
                } => {
                    new += 1;
                    let unit = unit_id
                        .as_deref()
                        .and_then(|u| settings.roster.get(u))
                        .map(|u| u.name.as_str());
                    let what = match (disposition.as_str(), unit) {
                        ("processed", Some(u)) => format!("计入“{u}”"),
                        ("processed", None) => "无法确定单位，待指定".to_string(),
                        (d, _) => format!(
                            "未计入（{}）",
                            crate::status::reason_zh(&format!("message.{d}"))
                        ),
                    };
                    println!("{label}：编号 {id}，{what}");
                }
            },
            Err(e) => {
                failed += 1;
                eprintln!("{label}：处理失败：{e}");
            }
        }
    }
    println!("导入完成：新增 {new} 封，已存在 {known} 封，失败 {failed} 封");
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Exit status for a configuration the daemon cannot work with (sysexits EX_CONFIG): the systemd
/// unit does not restart on it.
const EXIT_CONFIG: u8 = 78;

fn mailbox_exit(e: &crate::mailbox::MailboxError) -> ExitCode {
    eprintln!("reportbox: {e}");
    if e.is_fatal() {
        ExitCode::from(EXIT_CONFIG)
    } else {
        ExitCode::FAILURE
    }
}

async fn run_daemon(settings: &Settings, store: &Store) -> anyhow::Result<ExitCode> {
    let (trigger, shutdown) = crate::mailbox::Shutdown::new();
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("cannot listen for SIGTERM")?;
    tokio::spawn(async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
        tracing::info!("shutting down");
        trigger.fire();
    });
    match crate::mailbox::run(settings, store, shutdown).await {
        Ok(()) => Ok(ExitCode::SUCCESS),
        Err(e) => Ok(mailbox_exit(&e)),
    }
}

async fn once(settings: &Settings, store: &Store) -> anyhow::Result<ExitCode> {
    match crate::mailbox::once(settings, store).await {
        Ok(r) => {
            println!(
                "收取完成：新邮件 {} 封，新记录 {} 封，已记录过 {} 封，超过大小上限 {} 封，放弃 {} 封",
                r.found, r.recorded, r.already_stored, r.oversized, r.given_up
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => Ok(mailbox_exit(&e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mbox_splits_on_from_lines_after_a_blank_line_and_unquotes() {
        let mbox = b"From a@b Mon Jan  1 00:00:00 2024\nSubject: one\n\n>From here\nbody\n\nFrom c@d Mon Jan  1 00:00:00 2024\nSubject: two\n\nx\n";
        let m = split_mbox(mbox);
        assert_eq!(m.len(), 2);
        assert_eq!(m[0], b"Subject: one\n\nFrom here\nbody\n".to_vec());
        assert_eq!(m[1], b"Subject: two\n\nx\n".to_vec());
    }
}
