//! Failure drills of issue 12 on the database side, with the real binary: `reportbox run`
//! reaches PostgreSQL through a Relay (tests/common/relay.rs) that the test cuts, which is what
//! a PostgreSQL restart or a killed connection does to the daemon — without touching the shared
//! server.
//!
//! - Two instances, the leader's database connections cut in the middle of a drain (its
//!   session lock vanishes as in a restart): asserted from the database that no two instances
//!   ever recorded at once, and that nothing was lost or recorded twice.
//! - Connections killed while messages are being recorded, with `max_attempts = 1`: a database
//!   fault is nobody's message's fault, so nothing is given up.
//!
//! Random moments are seeded (printed; `DRILL_SEED` replays them). No fixed waits for events:
//! every step waits for its condition, bounded.

mod mailbox_support;

use mailbox_support::common::relay::Relay;
use mailbox_support::drill::{knob, seed, wait_progress, Campaign};
use mailbox_support::{Daemon, DEADLINE};
use sqlx::PgPool;
use std::time::Duration;

/// Who wrote what, kept by the database itself: each message row as its transaction commits
/// (a deferred trigger runs at commit, after the daemon's fence check) with the writer's
/// `application_name` and the mailbox epoch current then, and each epoch as it is taken.
/// `clock_timestamp()` is the real moment, not the transaction's start.
const WITNESS: &[&str] = &[
    "CREATE TABLE drill_writes (message BIGINT, app TEXT, epoch BIGINT, at TIMESTAMPTZ)",
    "CREATE TABLE drill_epochs (epoch BIGINT, app TEXT, at TIMESTAMPTZ)",
    "CREATE FUNCTION drill_write() RETURNS trigger LANGUAGE plpgsql AS $$
     BEGIN
       INSERT INTO drill_writes
         SELECT NEW.id, current_setting('application_name'),
                (SELECT epoch FROM leader_epochs WHERE key LIKE 'reportbox-mailbox:%'),
                clock_timestamp();
       RETURN NULL;
     END $$",
    "CREATE CONSTRAINT TRIGGER drill_write AFTER INSERT ON messages
     DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION drill_write()",
    "CREATE FUNCTION drill_epoch() RETURNS trigger LANGUAGE plpgsql AS $$
     BEGIN
       IF NEW.key LIKE 'reportbox-mailbox:%' THEN
         INSERT INTO drill_epochs VALUES (NEW.epoch, current_setting('application_name'),
                                          clock_timestamp());
       END IF;
       RETURN NULL;
     END $$",
    "CREATE TRIGGER drill_epoch AFTER INSERT OR UPDATE ON leader_epochs
     FOR EACH ROW EXECUTE FUNCTION drill_epoch()",
];

async fn messages(pool: &PgPool) -> i64 {
    mailbox_support::count_messages(pool).await
}

/// The instance that took the newest mailbox epoch, once one has been taken.
async fn leader(pool: &PgPool) -> Option<String> {
    sqlx::query_scalar("SELECT app FROM drill_epochs ORDER BY epoch DESC LIMIT 1")
        .fetch_optional(pool)
        .await
        .unwrap()
}

/// Waits (bounded) until `cond` holds, checking every 20 ms.
async fn until<F, Fut>(what: &str, campaign: &Campaign, mut cond: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let end = tokio::time::Instant::now() + DEADLINE;
    while !cond().await {
        assert!(
            tokio::time::Instant::now() < end,
            "timed out waiting for {what}\n{}",
            campaign.logs()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn stop(daemon: &mut Daemon) {
    daemon.signal("-TERM");
    let status = daemon.wait_exit(Duration::from_secs(10)).await;
    assert!(status.success(), "{}", daemon.log_text());
}

#[sqlx::test(migrations = "./migrations")]
async fn two_instances_never_record_at_once_when_the_leaders_database_goes_away(pool: PgPool) {
    let n = knob("DRILL_MESSAGES", 60);
    let cuts = knob("DRILL_CUTS", 2);
    let mut rng = seed("restart drill");
    for sql in WITNESS {
        sqlx::raw_sql(sqlx::AssertSqlSafe(*sql))
            .execute(&pool)
            .await
            .unwrap();
    }
    let mut campaign = Campaign::new("restart", 6);
    campaign.deliver(n).await;
    let relays = [Relay::start().await, Relay::start().await];
    let names = ["drill-a", "drill-b"];
    let mut daemons: Vec<Daemon> = (0..2)
        .map(|i| {
            let url = relays[i].url(&pool, &format!("application_name={}", names[i]));
            campaign.spawn(&url, names[i], &[])
        })
        .collect();

    let mut takeovers = 0;
    for c in 0..cuts {
        // Into the drain, at a seeded point of what is left.
        let now = messages(&pool).await;
        let left = n as i64 - now;
        if left <= 0 {
            break;
        }
        let target = now + rng.i64(1..=(left / (cuts - c + 1) as i64).max(1));
        until("messages to record", &campaign, || async {
            messages(&pool).await >= target
        })
        .await;
        let old = leader(&pool).await.expect("a leader");
        let i = names.iter().position(|n| *n == old).unwrap();
        // PostgreSQL "restarts" for the leader: its connections and its session lock go; the
        // standby takes over while the old leader cannot reach the server.
        relays[i].cut();
        until("the standby to take over", &campaign, || async {
            leader(&pool).await.as_deref() != Some(old.as_str())
        })
        .await;
        relays[i].restore();
        takeovers += 1;
    }
    campaign.wait_drained(&pool).await;
    for d in &mut daemons {
        stop(d).await;
    }

    campaign.assert_recorded_once(&pool).await;
    campaign.assert_originals(&pool).await;
    campaign.assert_acks_queued_once_and_sent(&pool).await;
    let (writes, wrong_writer, overlapping): (i64, i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM drill_writes),
                (SELECT count(*) FROM drill_writes w JOIN drill_epochs e USING (epoch)
                  WHERE w.app <> e.app),
                (SELECT count(*) FROM drill_writes w JOIN drill_epochs e ON e.epoch > w.epoch
                  WHERE w.at >= e.at)",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(writes, n as i64, "every message's commit witnessed");
    assert_eq!(
        wrong_writer, 0,
        "every message was committed by the holder of the epoch current at its commit"
    );
    assert_eq!(
        overlapping, 0,
        "no message committed under an epoch after a newer one was taken"
    );
    let writers: Vec<(String, i64)> =
        sqlx::query_as("SELECT app, count(*) FROM drill_writes GROUP BY app ORDER BY app")
            .fetch_all(&pool)
            .await
            .unwrap();
    let epochs: i64 = sqlx::query_scalar("SELECT count(*) FROM drill_epochs")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert!(
        takeovers >= 1 && epochs > takeovers,
        "{takeovers} takeovers"
    );
    let duplicates = campaign.acks_received().await;
    eprintln!(
        "restart drill: {n} messages, {takeovers} takeovers, {epochs} epochs, recorded by \
         {writers:?}; {duplicates} duplicate acknowledgements received"
    );
}

#[sqlx::test(migrations = "./migrations")]
async fn database_connections_killed_mid_message_give_nothing_up(pool: PgPool) {
    let n = knob("DRILL_MESSAGES", 40);
    let kills = knob("DRILL_CUTS", 5);
    let mut rng = seed("connection kill drill");
    let mut campaign = Campaign::new("dbkill", 4);
    campaign.deliver(n).await;
    let relay = Relay::start().await;
    let mut daemon = campaign.spawn(
        &relay.url(&pool, ""),
        "run",
        &[("REPORTBOX_MAILBOX__MAX_ATTEMPTS", "1")],
    );
    // Killed right after a commit, plus up to 30 ms: inside the recording of the next message.
    let total = 2 * n as i64;
    let mut kill_points = Vec::new();
    for k in 0..kills {
        let now = mailbox_support::drill::progress(&pool).await;
        let span = (total - now) / (kills - k) as i64;
        let target = now + 1 + rng.i64(0..=span.max(0));
        let delay = Duration::from_millis(rng.u64(0..=30));
        if !wait_progress(&pool, &mut daemon, target.min(total)).await {
            panic!("reportbox exited:\n{}", daemon.log_text());
        }
        tokio::time::sleep(delay).await;
        relay.kill_connections();
        kill_points.push(mailbox_support::drill::progress(&pool).await);
    }
    campaign.wait_drained(&pool).await;
    stop(&mut daemon).await;

    let failures: Vec<(i64, i32, bool, Option<String>)> = sqlx::query_as(
        "SELECT uid, attempts, gave_up, last_error FROM mailbox_failures ORDER BY uid",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert!(
        failures.is_empty(),
        "a database fault is charged to no message: {failures:?}"
    );
    campaign.assert_recorded_once(&pool).await;
    campaign.assert_originals(&pool).await;
    campaign.assert_acks_queued_once_and_sent(&pool).await;
    let duplicates = campaign.acks_received().await;
    eprintln!(
        "connection kill drill: {n} messages, connections killed at progress {kill_points:?} \
         of {total}; {duplicates} duplicate acknowledgements received"
    );
}
