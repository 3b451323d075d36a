//! Failure drills of issue 12 with the real binary: `reportbox run` killed with SIGKILL at random
//! moments while it drains a mailbox (the short version here; `DRILL_KILLS=30 DRILL_MESSAGES=200`
//! for the long one, `DRILL_SEED` to replay a run), and the temporary files such a kill leaves
//! in the storage directory removed at the next start.
//!
//! A kill falls at a random point of the drain: once the drain's progress (messages recorded
//! plus acknowledgements sent) reaches a seeded target, after a seeded delay of up to 40 ms, so
//! that it lands anywhere in fetching, storing, committing or sending. Nothing here waits a
//! fixed time for something to happen: each step waits for its condition, bounded.

mod mailbox_support;

use mailbox_support::drill::{
    assert_nothing_given_up, knob, progress, seed, wait_progress, Campaign,
};
use mailbox_support::{url_of, DEADLINE};
use sqlx::PgPool;
use std::time::Duration;

#[sqlx::test(migrations = "./migrations")]
async fn kill_9_at_random_moments_of_a_drain_loses_nothing_and_records_nothing_twice(pool: PgPool) {
    let kills = knob("DRILL_KILLS", 5);
    let n = knob("DRILL_MESSAGES", 60);
    let mut rng = seed("kill drill");
    let mut campaign = Campaign::new("kill", 6);
    campaign.deliver(n).await;
    let url = url_of(&pool);
    // Each submission is recorded once and acknowledged once: 2n steps in all.
    let total = 2 * n as i64;
    let mut kill_points = Vec::new();
    // A kill while a message is in flight is charged to that message: that is how a message
    // that crashes the process is caught and given up after mailbox.max_attempts. Random kills
    // can land on the same message each time, so the drill allows more attempts than kills:
    // what it checks is that the kills themselves lose nothing.
    let attempts = (kills + 1).to_string();
    let extra = [("REPORTBOX_MAILBOX__MAX_ATTEMPTS", attempts.as_str())];
    for k in 0..kills {
        let mut daemon = campaign.spawn(&url, &format!("run-{k:02}"), &extra);
        let now = progress(&pool).await;
        let span = (total - now) / (kills - k) as i64;
        let target = now + rng.i64(0..=span.max(0));
        let delay = Duration::from_millis(rng.u64(0..=40));
        let alive = wait_progress(&pool, &mut daemon, target).await;
        assert!(alive, "reportbox exited by itself:\n{}", daemon.log_text());
        tokio::time::sleep(delay).await;
        daemon.signal("-KILL");
        daemon.wait_exit(DEADLINE).await;
        kill_points.push(progress(&pool).await);
    }
    let mut last = campaign.spawn(&url, "run-final", &extra);
    campaign.wait_drained(&pool).await;
    // The drain may be complete before this process is up: SIGTERM before its handler is
    // installed would end it by the signal's default action, which is not what is tested here.
    let end = tokio::time::Instant::now() + DEADLINE;
    while !last.log_text().contains("watching the mailbox") {
        assert!(
            tokio::time::Instant::now() < end,
            "the last run never started watching:\n{}",
            last.log_text()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    last.signal("-TERM");
    let status = last.wait_exit(Duration::from_secs(10)).await;
    assert!(status.success(), "{}", last.log_text());

    campaign.assert_recorded_once(&pool).await;
    campaign.assert_originals(&pool).await;
    campaign.assert_acks_queued_once_and_sent(&pool).await;
    assert_nothing_given_up(&pool).await;
    let duplicates = campaign.acks_received().await;
    eprintln!(
        "kill drill: {n} messages, {kills} kills at progress {kill_points:?} of {total}; \
         {duplicates} duplicate acknowledgements received, each with the first one's Message-ID"
    );
}

/// A kill -9 during a file write leaves the temporary file (`.tmp…` beside the objects). The
/// next start removes those old enough that no write in flight can own them, and nothing else.
#[sqlx::test(migrations = "./migrations")]
async fn temporary_files_left_by_a_killed_write_are_removed_at_start(pool: PgPool) {
    let campaign = Campaign::new("tmpfiles", 1);
    let objects = reportbox::store::ObjectStore::new(campaign.storage());
    let sha = reportbox::store::sha256_hex(b"an original");
    objects.put(&sha, b"an original").await.unwrap();
    let kept = objects.local_path(&sha).unwrap();
    let dir = kept.parent().unwrap();
    let stale = dir.join(".tmpK1LLED");
    let fresh = dir.join(".tmpWR1TING");
    std::fs::write(&stale, b"half a file").unwrap();
    std::fs::write(&fresh, b"a write in flight").unwrap();
    let hour_ago = std::time::SystemTime::now() - Duration::from_secs(3600);
    std::fs::File::options()
        .write(true)
        .open(&stale)
        .unwrap()
        .set_modified(hour_ago)
        .unwrap();

    let mut daemon = campaign.spawn(&url_of(&pool), "run", &[]);
    let end = tokio::time::Instant::now() + DEADLINE;
    while !daemon.log_text().contains("watching the mailbox") {
        assert!(
            tokio::time::Instant::now() < end,
            "never started watching:\n{}",
            daemon.log_text()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(!stale.exists(), "the stale temporary file is removed");
    assert!(fresh.exists(), "a recent one may be a write in flight");
    assert_eq!(objects.get(&sha).await.unwrap(), b"an original");
    assert!(
        daemon
            .log_text()
            .contains("removed temporary files left by an interrupted write"),
        "{}",
        daemon.log_text()
    );
    daemon.signal("-TERM");
    assert!(daemon.wait_exit(DEADLINE).await.success());
}
