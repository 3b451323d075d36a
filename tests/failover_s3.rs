//! Two machines, one mailbox (issue 11 item 4): two `reportbox run` instances with different
//! local directories, one PostgreSQL database, one S3 bucket and one IMAP mailbox. The leader
//! is killed with SIGKILL while mail is arriving and being drained; the standby takes over.
//! Asserted from the database, the bucket and the units' mailboxes: every message recorded
//! once, every original in the bucket (none on either machine), one acknowledgement per
//! message queued and sent, and the coordinator's 汇总表.xlsx mailed from the bucket by the
//! machine that survived. The takeover time is measured on the database's clock and printed.
//!
//! `FAILOVER_MESSAGES=200` for a longer run (30 by default).

mod mailbox_support;

use mailbox_support::common::s3::Bucket;
use mailbox_support::drill::{assert_nothing_given_up, knob, wait_log, Campaign};
use mailbox_support::{uniq_user, url_of, DEADLINE};
use reportbox::store::sha256_hex;
use sqlx::PgPool;
use std::time::Duration;

async fn recorded(pool: &PgPool) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM messages")
        .fetch_one(pool)
        .await
        .unwrap()
}

#[sqlx::test(migrations = "./migrations")]
async fn the_standby_on_another_machine_takes_over_from_a_killed_leader_with_the_bucket(
    pool: PgPool,
) {
    let n = knob("FAILOVER_MESSAGES", 30);
    let bucket = Bucket::create("failover").await;
    let mut campaign = Campaign::new("failover", 5);
    let url = url_of(&pool);
    let coordinator = uniq_user("failover-coordinator");
    let mut env = bucket.env();
    env.push((
        "REPORTBOX_CAMPAIGN__COORDINATORS".into(),
        coordinator.clone(),
    ));
    let extra: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let host_a = campaign.dir.path().join("host-a");
    let host_b = campaign.dir.path().join("host-b");

    let mut a = campaign.spawn_in("run", &url, "host-a", &host_a, &extra);
    wait_log(&a, "watching the mailbox").await;
    let mut b = campaign.spawn_in("run", &url, "host-b", &host_b, &extra);
    wait_log(&b, "standing by").await;

    // Mail arrives while A drains it; A is killed a third of the way in, so that some mail is
    // recorded by A, some fetched and lost with it, and the rest is still to come.
    let kill_at = (n as i64 / 3).max(1);
    let (_, (killed_at, recorded_by_a)) = tokio::join!(campaign.deliver(n), async {
        let end = tokio::time::Instant::now() + DEADLINE;
        while recorded(&pool).await < kill_at {
            assert!(
                tokio::time::Instant::now() < end,
                "A recorded nothing:\n{}",
                a.log_text()
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        a.signal("-KILL");
        a.wait_exit(DEADLINE).await;
        let at: chrono::DateTime<chrono::Utc> = sqlx::query_scalar("SELECT clock_timestamp()")
            .fetch_one(&pool)
            .await
            .unwrap();
        (at, recorded(&pool).await)
    });

    campaign.wait_drained(&pool).await;
    wait_log(&b, "watching the mailbox").await;
    b.signal("-TERM");
    let status = b.wait_exit(DEADLINE).await;
    assert!(status.success(), "{}", b.log_text());

    campaign.assert_recorded_once(&pool).await;
    campaign.assert_originals_in(&pool, &bucket.objects()).await;
    campaign.assert_acks_queued_once_and_sent(&pool).await;
    assert_nothing_given_up(&pool).await;
    for host in [&host_a, &host_b] {
        assert!(
            !host.join("objects").exists(),
            "{} keeps no original: they are in the bucket",
            host.display()
        );
    }
    // A kill between "sending" and "sent" is the one way an acknowledgement goes out twice
    // (README, the duplicate window): one kill, at most one such email, with the same id.
    let duplicates = campaign.acks_received().await;
    assert!(duplicates <= 1, "{duplicates} duplicate acknowledgements");

    // The survivor mails the coordinator's report; its 汇总表.xlsx goes through the bucket.
    let xlsx = campaign
        .send_report(&url, &host_b, &env, &coordinator)
        .await;
    assert_eq!(
        bucket
            .objects()
            .get(&sha256_hex(xlsx.as_slice()))
            .await
            .unwrap(),
        xlsx.as_slice()
    );

    // On the database's clock: the kill, the standby's epoch, its first recording.
    let (taken_at, first_by_b): (
        chrono::DateTime<chrono::Utc>,
        Option<chrono::DateTime<chrono::Utc>>,
    ) = sqlx::query_as(
        "SELECT (SELECT taken_at FROM leader_epochs WHERE key LIKE 'reportbox-mailbox:%'),
                (SELECT min(processed_at) FROM messages WHERE processed_at > $1)",
    )
    .bind(killed_at)
    .fetch_one(&pool)
    .await
    .unwrap();
    let ms = |t: chrono::DateTime<chrono::Utc>| (t - killed_at).num_milliseconds();
    eprintln!(
        "failover: {n} messages, A killed after recording {recorded_by_a}; standby leading \
         {} ms after the kill, first message recorded by it after {} (lock check every 1 s); \
         {duplicates} duplicate acknowledgements",
        ms(taken_at),
        first_by_b.map_or("none (A had recorded all)".to_string(), |t| format!(
            "{} ms",
            ms(t)
        )),
    );
}
