//! Stops and restarts Dovecot under a running daemon. Disruptive for anything else using IMAP,
//! so it is its own test binary (cargo runs test binaries one after another) with a single test,
//! and a guard brings Dovecot back even when the test fails.

mod mailbox_support;

use mailbox_support::*;
use reportbox::mailbox::{self, Shutdown};
use reportbox::store::Store;
use sqlx::PgPool;
use std::process::Command;

/// Runs deploy/testenv/up.sh, which starts whatever is not running.
fn stack_up() {
    let out = Command::new(common::repo().join("deploy/testenv/up.sh"))
        .output()
        .expect("run up.sh");
    assert!(
        out.status.success(),
        "up.sh failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

struct DovecotBack;

impl Drop for DovecotBack {
    fn drop(&mut self) {
        stack_up();
    }
}

fn dovecot_pid() -> i32 {
    let path = format!("{}/pids/dovecot.pid", var("TESTENV_STATE_DIR"));
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{path}: {e}"))
        .trim()
        .parse()
        .unwrap()
}

fn running(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| {
            let state = s.rsplit_once(") ").map(|(_, r)| r.chars().next());
            !matches!(state, Some(Some('Z' | 'X')))
        })
        .unwrap_or(false)
}

#[sqlx::test(migrations = "./migrations")]
async fn the_daemon_reconnects_after_an_imap_restart_and_loses_nothing(pool: PgPool) {
    let _guard = DovecotBack;
    let user = uniq_user("restart");
    let storage = tempfile::tempdir().unwrap();
    let settings = settings(storage.path(), &user, "rb-test-restart", "implicit", &[]);
    let store = Store::from_pool(pool.clone(), storage.path());
    store.sync_units(&settings.roster).await.unwrap();

    let (trigger, shutdown) = Shutdown::new();
    let daemon = mailbox::run(&settings, &store, shutdown);
    let work = async {
        smtp_send(&user, &sample(0, &common::uniq())).await;
        eventually("the first message", || async {
            count_messages(&pool).await >= 1
        })
        .await;

        let pid = dovecot_pid();
        assert!(Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .unwrap()
            .success());
        eventually("Dovecot to stop", || async { !running(pid) }).await;
        // Postfix queues these while Dovecot's LMTP is down and delivers them once it is back.
        smtp_send(&user, &sample(1, &common::uniq())).await;
        smtp_send(&user, &sample(2, &common::uniq())).await;
        tokio::task::spawn_blocking(stack_up).await.unwrap();
        eventually("the messages that arrived meanwhile", || async {
            count_messages(&pool).await >= 3
        })
        .await;
        trigger.fire();
    };
    let (result, ()) = tokio::time::timeout(DEADLINE * 2, async { tokio::join!(daemon, work) })
        .await
        .expect("run ends after shutdown");
    result.unwrap();
    let (n, ids): (i64, i64) =
        sqlx::query_as("SELECT count(*), count(DISTINCT message_id) FROM messages")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!((n, ids), (3, 3));
}
