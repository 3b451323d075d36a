//! Mailbox daemon figures, against the loopback stack of deploy/testenv:
//!
//!     eval "$(deploy/testenv/up.sh)"; cargo bench --bench mailbox            # 1,000 messages
//!     cargo bench --bench mailbox -- --messages 200 --latency 50
//!
//! 1. Drain: N messages (the 8 samples repeated with fresh Message-IDs, APPENDed to a fresh
//!    mailbox) recorded by `mailbox::once`, against a bare async-imap client that only runs
//!    `UID FETCH BODY.PEEK[]` over the same messages (one bulk command, and one command per
//!    message as the daemon does). The ratio is the figure.
//! 2. Latency under IDLE: `mailbox::run` watching a fresh mailbox; M messages, one at a time,
//!    from the end of the APPEND (and of the SMTP transaction) to the commit (messages.processed_at).
//! 3. Arrival to acknowledgement under IDLE, then under polling (`--poll-interval` seconds, 60 by
//!    default as shipped; `--poll-latency` submissions): `mailbox::run` and the sender (`notify::run`, woken
//!    by NOTIFY) side by side; M submissions from units of a roster on the test domain, each
//!    from the end of its SMTP transaction to the moment the loopback Postfix accepted its
//!    acknowledgement (outbox.sent_at).
//!
//! Uses its own database `reportbox_bench_mailbox`, recreated each run.

#[path = "../tests/mailbox_support/mod.rs"]
mod mailbox_support;

#[path = "support/mod.rs"]
mod support;

use futures_util::TryStreamExt;
use mailbox_support::*;
use reportbox::mailbox::{self, Shutdown};
use reportbox::store::Store;
use std::time::{Duration, Instant, SystemTime};
use support::{arg, fresh_db};

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

async fn bare_fetch(user: &str, per_message: bool) -> (Duration, usize) {
    let mut s = imap(user).await;
    let t = Instant::now();
    s.select("INBOX").await.unwrap();
    let mut bytes = 0;
    if per_message {
        let uids: Vec<u32> = s.uid_search("ALL").await.unwrap().into_iter().collect();
        for uid in uids {
            let f: Vec<_> = s
                .uid_fetch(uid.to_string(), "(UID BODY.PEEK[])")
                .await
                .unwrap()
                .try_collect()
                .await
                .unwrap();
            bytes += f
                .iter()
                .filter_map(|f| f.body())
                .map(<[u8]>::len)
                .sum::<usize>();
        }
    } else {
        let f: Vec<_> = s
            .uid_fetch("1:*", "(UID BODY.PEEK[])")
            .await
            .unwrap()
            .try_collect()
            .await
            .unwrap();
        bytes = f.iter().filter_map(|f| f.body()).map(<[u8]>::len).sum();
    }
    let took = t.elapsed();
    let _ = s.logout().await;
    (took, bytes)
}

#[tokio::main]
async fn main() {
    // `cargo test --all-targets` runs bench binaries too; only `cargo bench` passes --bench.
    if !std::env::args().any(|a| a == "--bench") {
        println!("mailbox benchmark: run it with `cargo bench --bench mailbox`");
        return;
    }
    let n = arg("--messages", 1000);
    let m = arg("--latency", 100);
    let pool = fresh_db("reportbox_bench_mailbox").await;
    let storage = tempfile::tempdir().unwrap();

    // ---- drain
    let user = uniq_user("bench-drain");
    let mut s = imap(&user).await;
    let t = Instant::now();
    for i in 0..n {
        s.append(
            "INBOX",
            None,
            None,
            &sample(i, &format!("bench-{i}-{}", common::uniq())),
        )
        .await
        .unwrap();
    }
    println!("appended {n} messages in {:.2?}", t.elapsed());
    s.logout().await.unwrap();
    let (bulk, bytes) = bare_fetch(&user, false).await;
    let (single, _) = bare_fetch(&user, true).await;
    let drain_settings = settings(
        storage.path(),
        &user,
        "reportbox-bench",
        "none",
        &[(
            "REPORTBOX_MAILBOX__PROCESSED_KEYWORD",
            "$Reportbox-Processed",
        )],
    );
    let store = Store::from_pool(pool.clone(), storage.path());
    store.migrate().await.unwrap();
    store.sync_units(&drain_settings.roster).await.unwrap();
    let t = Instant::now();
    let report = mailbox::once(&drain_settings, &store).await.unwrap();
    let drain = t.elapsed();
    assert_eq!(report.recorded, n, "{report:?}");
    println!(
        "bare UID FETCH BODY.PEEK[] of {n} messages ({:.1} MB): {:.2?} in one command, {:.2?} one by one",
        bytes as f64 / 1e6,
        bulk,
        single
    );
    println!(
        "reportbox once, {n} messages: {:.2?} ({:.0} msg/s); ratio {:.1}x the bulk fetch, {:.1}x the one-by-one fetch",
        drain,
        n as f64 / drain.as_secs_f64(),
        drain.as_secs_f64() / bulk.as_secs_f64(),
        drain.as_secs_f64() / single.as_secs_f64()
    );

    // ---- latency under IDLE
    let user = uniq_user("bench-idle");
    let idle_settings = settings(storage.path(), &user, "reportbox-bench-idle", "none", &[]);
    let (trigger, shutdown) = Shutdown::new();
    let daemon = mailbox::run(&idle_settings, &store, shutdown);
    let measure = async {
        // Let the daemon reach IDLE on an empty mailbox first: one message, not measured.
        let base: i64 = count_messages(&pool).await;
        let mut s = imap(&user).await;
        s.append(
            "INBOX",
            None,
            None,
            &sample(0, &format!("warm-{}", common::uniq())),
        )
        .await
        .unwrap();
        eventually("warm-up", || async { count_messages(&pool).await > base }).await;
        let mut results = Vec::new();
        for via_smtp in [false, true] {
            let mut lat = Vec::with_capacity(m);
            for i in 0..m {
                let before = count_messages(&pool).await;
                let raw = sample(i, &format!("lat-{via_smtp}-{i}-{}", common::uniq()));
                if via_smtp {
                    smtp_send(&user, &raw).await;
                } else {
                    s.append("INBOX", None, None, &raw).await.unwrap();
                }
                let arrived = SystemTime::now();
                eventually("commit", || async { count_messages(&pool).await > before }).await;
                let at: chrono::DateTime<chrono::Utc> =
                    sqlx::query_scalar("SELECT max(processed_at) FROM messages")
                        .fetch_one(&pool)
                        .await
                        .unwrap();
                let arrived: chrono::DateTime<chrono::Utc> = arrived.into();
                lat.push((at - arrived).num_microseconds().unwrap() as f64 / 1000.0);
            }
            lat.sort_by(f64::total_cmp);
            results.push((via_smtp, lat));
        }
        let _ = s.logout().await;
        trigger.fire();
        results
    };
    let (r, results) = tokio::join!(daemon, measure);
    r.unwrap();
    for (via_smtp, lat) in results {
        println!(
            "IDLE arrival-to-committed over {} messages, from the end of {}: median {:.0} ms, p99 {:.0} ms, max {:.0} ms",
            lat.len(),
            if via_smtp { "the SMTP transaction" } else { "the APPEND" },
            percentile(&lat, 0.5),
            percentile(&lat, 0.99),
            lat.last().unwrap()
        );
    }

    // ---- arrival to acknowledgement, under IDLE and under polling (the server without IDLE,
    // or `idle = "off"`): a submission waits for the next poll, half the interval on average.
    ack_latency("IDLE", &[], None, m, &pool, &store, storage.path()).await;
    let interval = arg("--poll-interval", 60);
    let interval_s = format!("{interval}s");
    ack_latency(
        "polling",
        &[
            ("REPORTBOX_MAILBOX__IDLE", "off"),
            ("REPORTBOX_MAILBOX__POLL_INTERVAL", interval_s.as_str()),
        ],
        Some(Duration::from_secs(interval as u64)),
        arg("--poll-latency", 20),
        &pool,
        &store,
        storage.path(),
    )
    .await;
}

/// Arrival to acknowledgement: `mailbox::run` and the sender (`notify::run`, woken by NOTIFY)
/// side by side; `m` submissions one at a time, each from the end of its SMTP transaction to
/// the moment the loopback Postfix accepted its acknowledgement (outbox.sent_at). Under polling
/// (`poll` is the interval) each submission is sent at a random moment of the interval, as real
/// mail arrives, not right after the poll that took the previous one.
async fn ack_latency(
    label: &str,
    mode: &[(&str, &str)],
    poll: Option<Duration>,
    m: usize,
    pool: &sqlx::PgPool,
    store: &Store,
    storage: &std::path::Path,
) {
    let user = uniq_user(label);
    let units: Vec<(String, String)> = (0..10)
        .map(|i| {
            (
                format!("bench-{i}"),
                common::test_address(&format!("bench-unit{i}")),
            )
        })
        .collect();
    let rows: Vec<(&str, &str, &str, &str)> = units
        .iter()
        .map(|(id, address)| (id.as_str(), id.as_str(), "", address.as_str()))
        .collect();
    let roster = common::write_roster(storage, &rows);
    let mut env = mailbox_env(&user, "reportbox-bench-ack", "none");
    env.extend(mode.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    env.extend(common::smtp_env());
    env.push((
        "REPORTBOX_CAMPAIGN__ACKS_PER_SENDER_PER_HOUR".into(),
        "100000".into(),
    ));
    let pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let ack_settings = common::settings_with(&roster, storage, &pairs);
    store.sync_units(&ack_settings.roster).await.unwrap();
    let (trigger, shutdown) = Shutdown::new();
    let daemon = mailbox::run(&ack_settings, store, shutdown.clone());
    let sender = reportbox::notify::run(&ack_settings, store, shutdown);
    let measure = async {
        let mut lat = Vec::with_capacity(m);
        for i in 0..m {
            let (_, from) = &units[i % units.len()];
            let id = format!("<ack-{i}-{}@bench.test>", common::uniq());
            let mut mail = common::Mail::new(from, "报送科技活动周材料").attach(
                "科普视频.mp4",
                "video/mp4",
                common::mp4(60),
            );
            mail.message_id = Some(id.clone());
            if let Some(interval) = poll {
                tokio::time::sleep(interval.mul_f64(fastrand::f64())).await;
            }
            smtp_send(&user, &mail.build()).await;
            let arrived: chrono::DateTime<chrono::Utc> = SystemTime::now().into();
            let sent_at = || async {
                sqlx::query_scalar::<_, chrono::DateTime<chrono::Utc>>(
                    "SELECT o.sent_at FROM outbox o JOIN messages m ON o.message_id = m.id
                     WHERE m.message_id = $1 AND o.state = 'sent'",
                )
                .bind(&id)
                .fetch_optional(pool)
                .await
                .unwrap()
            };
            // Up to a whole interval's wait, beyond `eventually`'s deadline.
            let end =
                tokio::time::Instant::now() + poll.unwrap_or_default() + Duration::from_secs(60);
            let at = loop {
                if let Some(at) = sent_at().await {
                    break at;
                }
                assert!(tokio::time::Instant::now() < end, "not acknowledged: {id}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            };
            lat.push((at - arrived).num_microseconds().unwrap() as f64 / 1000.0);
        }
        trigger.fire();
        lat.sort_by(f64::total_cmp);
        lat
    };
    let (r, s, lat) = tokio::join!(daemon, sender, measure);
    r.unwrap();
    s.unwrap();
    println!(
        "{label} arrival-to-acknowledgement accepted by the SMTP server, over {} submissions: median {:.0} ms, p99 {:.0} ms, max {:.0} ms",
        lat.len(),
        percentile(&lat, 0.5),
        percentile(&lat, 0.99),
        lat.last().unwrap()
    );
}
