//! What systemd sees of `reportbox run`: readiness, the watchdog and a status line, over the
//! sd_notify datagram protocol (sd_notify(3)).
//!
//! The loops only say that they are alive and that the first mailbox login has been tried
//! ([`crate::liveness`], below them); everything systemd-specific is here, so the runtime around
//! the loops can change without touching it.
//!
//! The protocol is written by hand: one `sendto` of `KEY=VALUE` lines on a unix datagram socket
//! named by `NOTIFY_SOCKET` (a path, or `@name` in the abstract namespace). That is all of it, and
//! it spares a dependency for a dozen lines.

use crate::liveness::{wait_login_tried, MAILBOX, SENDER};
use std::io;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::time::Duration;

/// The socket systemd listens on, from `NOTIFY_SOCKET`.
pub struct Notifier {
    socket: UnixDatagram,
    address: SocketAddr,
}

impl Notifier {
    /// `None` when not started by systemd with `Type=notify` (no `NOTIFY_SOCKET`).
    pub fn from_env() -> io::Result<Option<Notifier>> {
        let Some(path) = std::env::var_os("NOTIFY_SOCKET") else {
            return Ok(None);
        };
        let path = path.to_string_lossy().into_owned();
        let address = match path.strip_prefix('@') {
            Some(name) => {
                use std::os::linux::net::SocketAddrExt;
                SocketAddr::from_abstract_name(name.as_bytes())?
            }
            None => SocketAddr::from_pathname(&path)?,
        };
        let socket = UnixDatagram::unbound()?;
        // A full socket must not stall the service: a lost STATUS is harmless, and a lost
        // WATCHDOG is sent again on the next tick.
        socket.set_nonblocking(true)?;
        Ok(Some(Notifier { socket, address }))
    }

    pub fn send(&self, state: &str) {
        if let Err(e) = self.socket.send_to_addr(state.as_bytes(), &self.address) {
            tracing::debug!(error = %e, state, "sd_notify failed");
        }
    }
}

/// `WATCHDOG_USEC` when it is meant for this process (`WATCHDOG_PID` absent or ours).
fn watchdog_interval() -> Option<Duration> {
    if let Some(pid) = std::env::var_os("WATCHDOG_PID") {
        if pid.to_string_lossy().trim() != std::process::id().to_string() {
            return None;
        }
    }
    let usec: u64 = std::env::var("WATCHDOG_USEC").ok()?.trim().parse().ok()?;
    (usec > 0).then(|| Duration::from_micros(usec))
}

/// What STATUS= says besides health: the folders watched, today's messages, the queue.
pub trait Figures: Send + Sync {
    fn status(&self) -> impl std::future::Future<Output = Option<String>> + Send;
}

/// Tells systemd READY=1 once the first login has been tried, then, every quarter of the
/// watchdog interval, WATCHDOG=1 while every loop is alive and a STATUS= line; until
/// `shutdown` fires, when it says STOPPING=1. Without `NOTIFY_SOCKET` it does nothing.
pub async fn supervise(figures: impl Figures, mut shutdown: crate::shutdown::Shutdown) {
    let notifier = match Notifier::from_env() {
        Ok(Some(n)) => n,
        Ok(None) => return,
        Err(e) => {
            tracing::warn!(error = %e, "NOTIFY_SOCKET is set but cannot be used");
            return;
        }
    };
    let watchdog = watchdog_interval();
    notifier.send("STATUS=启动中：等待首次登录邮箱");
    tokio::select! {
        _ = wait_login_tried() => {}
        _ = shutdown.fired() => {
            notifier.send("STOPPING=1");
            return;
        }
    }
    let status = figures.status().await.unwrap_or_default();
    notifier.send(&format!("READY=1\nSTATUS={status}"));
    // Slack: how far past its announced quiet a loop may be before it counts as stuck. Half the
    // interval leaves systemd the other half to see the pings stop and act.
    let slack = watchdog.map_or(Duration::MAX, |w| w / 2);
    let tick = watchdog.map_or(Duration::from_secs(30), |w| {
        (w / 4).clamp(Duration::from_millis(10), Duration::from_secs(30))
    });
    let mut was_stuck: Vec<&'static str> = Vec::new();
    let mut last_status = status;
    loop {
        tokio::select! {
            _ = tokio::time::sleep(tick) => {}
            _ = shutdown.fired() => break,
        }
        let stuck: Vec<&'static str> = [&MAILBOX, &SENDER]
            .into_iter()
            .filter(|h| h.overdue() > slack)
            .map(|h| h.name())
            .collect();
        if stuck.is_empty() {
            if watchdog.is_some() {
                notifier.send("WATCHDOG=1");
            }
        } else if stuck != was_stuck {
            let which: Vec<&str> = stuck
                .iter()
                .map(|n| if *n == "mailbox" { "收信" } else { "发信" })
                .collect();
            tracing::error!(loops = ?stuck, "a loop makes no progress; withholding the watchdog");
            notifier.send(&format!(
                "STATUS={}循环无进展（卡住），已停止看门狗通知，systemd 将重启服务",
                which.join("、")
            ));
        }
        if stuck.is_empty() {
            if let Some(s) = figures.status().await {
                if s != last_status || !was_stuck.is_empty() {
                    notifier.send(&format!("STATUS={s}"));
                    last_status = s;
                }
            }
        }
        was_stuck = stuck;
    }
    notifier.send("STOPPING=1\nSTATUS=正在停止");
}

/// The STATUS= figures from the database: "监视 INBOX、垃圾邮件，今日处理 12 封，待发 0 封".
pub struct StoreFigures<'a> {
    pub settings: &'a crate::config::Settings,
    pub store: &'a crate::store::Store,
}

impl Figures for StoreFigures<'_> {
    async fn status(&self) -> Option<String> {
        let tz = self.settings.campaign.tz;
        let midnight = chrono::Utc::now()
            .with_timezone(&tz)
            .date_naive()
            .and_hms_opt(0, 0, 0)?
            .and_local_timezone(tz)
            .earliest()?
            .with_timezone(&chrono::Utc);
        let today = self.store.messages_since(midnight).await.ok()?;
        let queued = self.store.emails_queued().await.ok()?;
        // A pause is what a person must act on (a refused code) or wait out (163's limits):
        // without it the STATUS line would show a queue that just grows.
        let paused = match self.store.any_sender_pause().await.ok()? {
            Some((until, reason)) if until > chrono::Utc::now() => {
                if reason.starts_with(crate::notify::AUTH_REJECTED) {
                    format!("；发信暂停：{}", crate::notify::AUTH_REJECTED)
                } else {
                    format!(
                        "；发信暂停至 {}（邮件服务器限制）",
                        crate::notify::compose::time_zh(&until, &self.settings.compose())
                    )
                }
            }
            _ => String::new(),
        };
        Some(format!(
            "监视 {}，今日处理 {today} 封，待发 {queued} 封{paused}",
            self.settings.mailbox.folders.join("、")
        ))
    }
}
