//! The daemon commands, `run` and `once`: their tasks, signals and what they print.

use crate::config::Settings;
use crate::notify;
use crate::store::Store;
use anyhow::Context;
use chrono::Utc;
use std::process::ExitCode;

/// Exit status for a configuration the daemon cannot work with (sysexits EX_CONFIG): the systemd
/// unit does not restart on it.
pub const EXIT_CONFIG: u8 = 78;

fn mailbox_exit(e: &crate::mailbox::MailboxError) -> ExitCode {
    eprintln!("reportbox: {e}");
    if e.is_fatal() {
        ExitCode::from(EXIT_CONFIG)
    } else {
        ExitCode::FAILURE
    }
}

/// The machine's name for `status` (a second machine may run a standby).
fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_default()
}

/// `reportbox run`: the mailbox loop, the sender, sd_notify and (when configured) the metrics
/// endpoint side by side until SIGTERM/SIGINT; SIGHUP re-reads the authorisation codes.
pub async fn daemon(settings: &Settings, store: &Store, all: bool) -> anyhow::Result<ExitCode> {
    // First, so that a SIGHUP sent early is a reload and not the default (termination).
    let reload = std::sync::Arc::new(tokio::sync::Notify::new());
    let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
        .context("cannot listen for SIGHUP")?;
    let on_hup = reload.clone();
    tokio::spawn(async move {
        while hup.recv().await.is_some() {
            tracing::info!("SIGHUP: the authorisation codes are read again from their files");
            reload.notify_one();
        }
    });
    let listener = match settings.metrics.listen {
        Some(addr) => match tokio::net::TcpListener::bind(addr).await {
            Ok(l) => {
                tracing::info!(%addr, "serving Prometheus metrics at /metrics");
                Some(l)
            }
            Err(e) => {
                eprintln!("reportbox: 无法监听 metrics.listen {addr}：{e}");
                return Ok(ExitCode::FAILURE);
            }
        },
        None => None,
    };
    if let Err(e) = store
        .service_started(env!("CARGO_PKG_VERSION"), &host_name())
        .await
    {
        tracing::warn!(error = %e, "cannot record the daemon's start for status");
    }
    let (trigger, shutdown) = crate::shutdown::Shutdown::new();
    let trigger = std::sync::Arc::new(trigger);
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("cannot listen for SIGTERM")?;
    let on_signal = trigger.clone();
    tokio::spawn(async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
        tracing::info!("shutting down");
        on_signal.fire();
    });
    // Separate tasks, so that a long message in the mailbox loop (its CPU work leaves the
    // worker through `pipeline::blocking`) never stalls the sender mid-SMTP, nor the sender the
    // IMAP session's keep-alives. Either loop ending for good (a configuration error) or
    // panicking stops the others, so the service exits and systemd shows why.
    let mut tasks = tokio::task::JoinSet::new();
    // One mailbox loop and one sender per mailbox the campaigns read; each loop ending for good
    // (a configuration error) or panicking stops the others.
    let mut reloads = Vec::new();
    for (s, st) in served(settings, store, all).await? {
        let s = std::sync::Arc::new(s);
        let (ms, mst, sd, done) = (s.clone(), st.clone(), shutdown.clone(), trigger.clone());
        tasks.spawn(async move {
            let r = crate::mailbox::run(&ms, &mst, sd).await;
            done.fire();
            Ended::Mailbox(r)
        });
        let reload = std::sync::Arc::new(tokio::sync::Notify::new());
        reloads.push(reload.clone());
        let (sd, done) = (shutdown.clone(), trigger.clone());
        tasks.spawn(async move {
            let r = notify::run_with_reload(&s, &st, sd, &reload).await;
            done.fire();
            Ended::Sender(r)
        });
    }
    tokio::spawn(async move {
        loop {
            on_hup.notified().await;
            for r in &reloads {
                r.notify_one();
            }
        }
    });
    let settings = std::sync::Arc::new(settings.clone());
    let handles = || (settings.clone(), store.clone(), shutdown.clone());
    let (s, st, sd) = handles();
    tasks.spawn(async move {
        let figures = crate::service::StoreFigures {
            settings: &s,
            store: &st,
        };
        crate::service::supervise(figures, sd).await;
        Ended::Other
    });
    if let Some(l) = listener {
        // A scrape is answered even while the loops are busy, and a hung loop shows as stale
        // figures, not a dead port.
        let (store, shutdown) = (store.clone(), shutdown.clone());
        tasks.spawn(async move {
            crate::metrics::serve(l, store, shutdown).await;
            Ended::Other
        });
    }
    let (mut mailbox, mut sender, mut panicked) = (Ok(()), Ok(()), false);
    while let Some(ended) = tasks.join_next().await {
        match ended {
            // The first failure of each kind says why the service stopped.
            Ok(Ended::Mailbox(r)) if mailbox.is_ok() => mailbox = r,
            Ok(Ended::Sender(r)) if sender.is_ok() => sender = r,
            Ok(Ended::Mailbox(_) | Ended::Sender(_)) => {}
            Ok(Ended::Other) => {}
            Err(e) => {
                tracing::error!(error = %e, "a task of the daemon failed; stopping");
                panicked = true;
                trigger.fire();
            }
        }
    }
    if let Err(e) = &sender {
        eprintln!("reportbox: 发信配置有误：{e}");
    }
    match (mailbox, sender) {
        (Err(e), _) => Ok(mailbox_exit(&e)),
        (Ok(()), Err(_)) => Ok(ExitCode::from(EXIT_CONFIG)),
        (Ok(()), Ok(())) if panicked => Ok(ExitCode::FAILURE),
        (Ok(()), Ok(())) => Ok(ExitCode::SUCCESS),
    }
}

/// How a task of the daemon ended.
enum Ended {
    Mailbox(Result<(), crate::mailbox::MailboxError>),
    Sender(Result<(), notify::NotifyError>),
    Other,
}

/// The mailboxes `run` and `once` serve, each with the settings and store of the first
/// campaign reading it (where its unmatched mail goes): every mailbox the configuration names
/// when `all`, else the selected campaign's.
async fn served(
    settings: &Settings,
    store: &Store,
    all: bool,
) -> anyhow::Result<Vec<(Settings, Store)>> {
    let firsts: Vec<String> = if all {
        settings
            .mailbox_groups()
            .iter()
            .filter_map(|g| g.first().map(|k| k.to_string()))
            .collect()
    } else {
        settings
            .mailbox_peers()
            .first()
            .map(|c| c.campaign.key.clone())
            .into_iter()
            .collect()
    };
    let mut out = Vec::new();
    for key in firsts {
        let id = store
            .campaign_by_key(&key)
            .await?
            .with_context(|| format!("campaign {key} is not registered in the database"))?;
        out.push((settings.select(Some(&key))?, store.for_campaign(id)));
    }
    if out.is_empty() {
        out.push((settings.clone(), store.clone()));
    }
    Ok(out)
}

/// `reportbox once`: one pass over each mailbox, then everything due is sent.
pub async fn once(settings: &Settings, store: &Store, all: bool) -> anyhow::Result<ExitCode> {
    let mut code = ExitCode::SUCCESS;
    let served = served(settings, store, all).await?;
    let several = served.len() > 1;
    for (settings, store) in &served {
        if several {
            println!("邮箱 {}：", settings.campaign.mailbox);
        }
        let c = once_for(settings, store).await?;
        if c != ExitCode::SUCCESS {
            code = c;
        }
    }
    Ok(code)
}

async fn once_for(settings: &Settings, store: &Store) -> anyhow::Result<ExitCode> {
    let code = match crate::mailbox::once(settings, store).await {
        Ok(r) => {
            for (folder, _) in &r.missing {
                println!("邮箱中没有文件夹“{folder}”，已跳过（mailbox.folders）");
            }
            println!(
                "收取完成：新邮件 {} 封，新记录 {} 封，已记录过 {} 封，超过大小上限 {} 封，放弃 {} 封",
                r.found, r.recorded, r.already_stored, r.oversized, r.given_up
            );
            if r.retried > 0 {
                println!(
                    "按 reportbox retry 的要求重新收取 {} 封此前放弃的邮件（已计入上面的数字）",
                    r.retried
                );
            }
            ExitCode::SUCCESS
        }
        Err(e) => mailbox_exit(&e),
    };
    // Acknowledgements of what was recorded go out even when the mailbox pass failed part way.
    match notify::cycle(settings, store, Utc::now()).await? {
        Some((tick, sent)) => {
            if let Some(round) = tick.reminder_round {
                println!("提醒轮次 {round}：{} 封提醒已排队", tick.reminders);
            }
            if let Some(report) = tick.report {
                println!("日报 {report} 已排队");
            }
            println!(
                "发信完成：发出 {} 封，待重试 {} 封，失败 {} 封",
                sent.sent, sent.retried, sent.failed
            );
        }
        None => println!("另一个 reportbox 实例正在发信，本次不发信"),
    }
    Ok(code)
}
