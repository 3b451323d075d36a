//! What the loops say about themselves: that they are alive ([`Heartbeat::beat`]) and that the
//! first mailbox login has been tried ([`login_tried`]). Plain state at the bottom of the layout,
//! so that the mailbox and the sender tell it without knowing who listens (`service`, for
//! systemd's watchdog).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};
use tokio::sync::Notify;

/// A loop's promise of liveness: it beats when it makes progress, saying how long it may then be
/// quiet on purpose (a poll interval, a backoff, an IDLE). Silence beyond that plus the
/// watchdog's slack means the loop is stuck.
pub struct Heartbeat {
    name: &'static str,
    /// Milliseconds since [`epoch`] until which silence is expected.
    quiet_until: AtomicU64,
}

/// The mailbox loop (`mailbox::run`).
pub static MAILBOX: Heartbeat = Heartbeat::new("mailbox");
/// The sender and scheduler loop (`notify::run`).
pub static SENDER: Heartbeat = Heartbeat::new("sender");

static LOGIN_TRIED: AtomicBool = AtomicBool::new(false);
static LOGIN_TRIED_NOTIFY: Notify = Notify::const_new();

fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

fn now_ms() -> u64 {
    u64::try_from(epoch().elapsed().as_millis()).unwrap_or(u64::MAX)
}

impl Heartbeat {
    const fn new(name: &'static str) -> Heartbeat {
        Heartbeat {
            name,
            quiet_until: AtomicU64::new(0),
        }
    }

    /// Progress now; the next beat may take up to `quiet` (plus the watchdog's slack).
    pub fn beat(&self, quiet: Duration) {
        let until = now_ms().saturating_add(u64::try_from(quiet.as_millis()).unwrap_or(u64::MAX));
        self.quiet_until.store(until, Ordering::Relaxed);
    }

    pub(crate) fn name(&self) -> &'static str {
        self.name
    }

    /// How long the loop has been silent beyond what it announced, if at all.
    pub(crate) fn overdue(&self) -> Duration {
        Duration::from_millis(now_ms().saturating_sub(self.quiet_until.load(Ordering::Relaxed)))
    }
}

/// The mailbox loop has tried its first login (or stands by for another instance): with the
/// configuration valid and the database migrated, the service is ready.
pub fn login_tried() {
    if !LOGIN_TRIED.swap(true, Ordering::Relaxed) {
        LOGIN_TRIED_NOTIFY.notify_waiters();
    }
}

pub(crate) async fn wait_login_tried() {
    let notified = LOGIN_TRIED_NOTIFY.notified();
    if !LOGIN_TRIED.load(Ordering::Relaxed) {
        notified.await;
    }
}
