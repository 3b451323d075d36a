//! The mailbox drained in batches (issue 12 item 1) gives what recording one message at a time
//! gives: the same units, statuses, status changes and acknowledgements, a sender learned within
//! a batch included; and a batch cut short by a crash is not charged to its messages.

mod mailbox_support;

use mailbox_support::common::{self, Mail};
use mailbox_support::*;
use reportbox::mailbox;
use reportbox::pipeline::{self, Incoming};
use reportbox::store::progress;
use reportbox::store::Store;
use sqlx::{PgPool, Row};

/// The samples' messages, then a unit writing from an address the roster does not list: first a
/// table naming it (the address is learned), then a report alone from the same address, which
/// counts for the unit only once the first is recorded.
fn messages() -> Vec<Vec<u8>> {
    let mut all: Vec<Vec<u8>> = common::sample_messages()
        .into_iter()
        .map(|(_, raw)| raw)
        .collect();
    let stranger = format!("kjc-{}@example.org", common::uniq());
    all.push(
        Mail::new(&stranger, "报送材料")
            .attach(
                "开展情况统计表.xlsx",
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                common::table("市城乡管理局", "2025"),
            )
            .build(),
    );
    all.push(
        Mail::new(&stranger, "补充总结报告")
            .attach("总结报告.txt", "text/plain", common::report_txt())
            .build(),
    );
    all
}

/// What a unit and the coordinator see: statuses, the status history and the acknowledgements
/// (recipient and subject), in arrival order, without database ids.
async fn seen(pool: &PgPool) -> (Vec<(String, String)>, Vec<String>, Vec<String>) {
    let units = sqlx::query(
        "SELECT m.source, coalesce(m.unit_id, '') || ' ' || m.disposition AS got
         FROM messages m ORDER BY m.id",
    )
    .fetch_all(pool)
    .await
    .unwrap()
    .iter()
    .map(|r| {
        let source: String = r.get("source");
        (source.rsplit('/').next().unwrap().to_string(), r.get("got"))
    })
    .collect();
    let history = sqlx::query_scalar(
        "SELECT coalesce(unit_id, '') || ' ' || (detail->>'from') || '→' || (detail->>'to')
         FROM audit WHERE kind = 'status_changed' ORDER BY id",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    let acks = sqlx::query_scalar(
        "SELECT kind || ' ' || array_to_string(recipients, ',') || ' ' || subject || E'\n' || body_text
         FROM outbox ORDER BY id",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    (units, history, acks)
}

#[sqlx::test(migrations = "./migrations")]
async fn a_drained_batch_lands_as_one_message_at_a_time_would(pool: PgPool) {
    let user = uniq_user("batch");
    let mut s = imap(&user).await;
    let all = messages();
    for m in &all {
        s.append("INBOX", None, None, m).await.unwrap();
    }
    s.logout().await.unwrap();

    let storage = tempfile::tempdir().unwrap();
    let settings = settings(storage.path(), &user, "rb-test-batch", "none", &[]);
    let store = Store::from_pool(pool.clone(), storage.path());
    store.sync_units(&settings.roster).await.unwrap();
    let report = mailbox::once(&settings, &store).await.unwrap();
    assert_eq!(
        (report.found, report.recorded, report.given_up),
        (all.len(), all.len(), 0),
        "{report:?}"
    );
    let batched = seen(&pool).await;

    // The same messages one at a time, in arrival order, in a database of their own.
    let one_db = format!("{}_one", pool.connect_options().get_database().unwrap());
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {one_db}")))
        .execute(&pool)
        .await
        .unwrap();
    let url = url_of(&pool);
    let (server, _) = url.rsplit_once('/').unwrap();
    let one = PgPool::connect(&format!("{server}/{one_db}"))
        .await
        .unwrap();
    let one_storage = tempfile::tempdir().unwrap();
    let one_store = Store::from_pool(one.clone(), one_storage.path());
    one_store.migrate().await.unwrap();
    one_store.sync_units(&settings.roster).await.unwrap();
    // Received when the mailbox says, as in the drain.
    let received: Vec<chrono::DateTime<chrono::Utc>> =
        sqlx::query_scalar("SELECT received_at FROM messages ORDER BY id")
            .fetch_all(&pool)
            .await
            .unwrap();
    for (at, raw) in all.iter().enumerate() {
        pipeline::process(
            &settings,
            &one_store,
            Incoming {
                raw: raw.clone(),
                source: format!("test/{}", at + 1),
                internal_date: Some(received[at]),
            },
        )
        .await
        .unwrap();
    }
    let single = seen(&one).await;
    one.close().await;
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE {one_db} WITH (FORCE)"
    )))
    .execute(&pool)
    .await
    .unwrap();

    let got: Vec<&String> = batched.0.iter().map(|(_, g)| g).collect();
    let want: Vec<&String> = single.0.iter().map(|(_, g)| g).collect();
    assert_eq!(got, want, "units and dispositions, in arrival order");
    assert!(
        got.last().unwrap().starts_with("city-urban processed"),
        "the report from the learned address counts for the unit: {got:?}"
    );
    assert_eq!(batched.1, single.1, "status history");
    assert_eq!(batched.2, single.2, "acknowledgements");
    assert!(!batched.2.is_empty());
}

#[sqlx::test(migrations = "./migrations")]
async fn a_batch_cut_short_by_a_crash_is_not_charged_to_its_messages(pool: PgPool) {
    let user = uniq_user("crashed");
    for i in 0..3 {
        smtp_send(&user, &sample(i, &common::uniq())).await;
    }
    wait_delivered(&user, "INBOX", 3).await;
    let uidvalidity = {
        let mut s = imap(&user).await;
        let m = s.examine("INBOX").await.unwrap();
        let _ = s.logout().await;
        m.uid_validity.unwrap()
    };
    // A process that died while recording UIDs 1-3 together left them marked in flight.
    let storage = tempfile::tempdir().unwrap();
    let settings = settings(
        storage.path(),
        &user,
        "rb-test-crashed",
        "none",
        &[("REPORTBOX_MAILBOX__MAX_ATTEMPTS", "1")],
    );
    let account = settings.mailbox.account();
    assert!(progress::claim_batch(
        &pool,
        progress::Folder::new(&account, "INBOX", uidvalidity),
        &[1, 2, 3]
    )
    .await
    .unwrap());
    let store = Store::from_pool(pool.clone(), storage.path());
    store.sync_units(&settings.roster).await.unwrap();
    let report = mailbox::once(&settings, &store).await.unwrap();
    assert_eq!(
        (report.recorded, report.given_up),
        (3, 0),
        "one attempt allowed, none used by the crash: {report:?}"
    );
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM mailbox_failures")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(left, 0);
    let acks: i64 = sqlx::query_scalar("SELECT count(*) FROM outbox WHERE kind = 'ack'")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(acks, 3, "one acknowledgement per message");
}

/// A batch is decided while the one before it is committed (mailbox/poll.rs). When that one
/// teaches an address, a message of this batch from it was decided without knowing it, and is
/// decided again: here the table that teaches the stranger's address is the last message of
/// the first batch, the stranger's report alone the first of the second.
#[sqlx::test(migrations = "./migrations")]
async fn a_sender_learned_in_one_batch_counts_in_the_next(pool: PgPool) {
    let user = uniq_user("across");
    let mut s = imap(&user).await;
    // A batch is at most 32 messages (FETCH_AHEAD_COUNT): 31 others first.
    for i in 0..31 {
        let other = Mail::new("tygaj_kxk@163.com", &format!("报送材料 {i}"))
            .attach("总结报告.txt", "text/plain", common::report_txt())
            .build();
        s.append("INBOX", None, None, &other).await.unwrap();
    }
    let stranger = format!("kjc-{}@example.org", common::uniq());
    let teaching = Mail::new(&stranger, "报送材料")
        .attach(
            "开展情况统计表.xlsx",
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            common::table("市城乡管理局", "2025"),
        )
        .build();
    let report = Mail::new(&stranger, "补充总结报告")
        .attach("总结报告.txt", "text/plain", common::report_txt())
        .build();
    s.append("INBOX", None, None, &teaching).await.unwrap();
    s.append("INBOX", None, None, &report).await.unwrap();
    s.logout().await.unwrap();

    let storage = tempfile::tempdir().unwrap();
    let settings = settings(storage.path(), &user, "rb-test-across", "none", &[]);
    let store = Store::from_pool(pool.clone(), storage.path());
    store.sync_units(&settings.roster).await.unwrap();
    let drained = mailbox::once(&settings, &store).await.unwrap();
    assert_eq!((drained.recorded, drained.given_up), (33, 0), "{drained:?}");
    let last_two: Vec<(String, String)> = sqlx::query_as(
        "SELECT coalesce(unit_id, ''), disposition FROM messages
         WHERE from_addr = $1 ORDER BY received_at, id",
    )
    .bind(&stranger)
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(
        last_two,
        vec![
            ("city-urban".to_string(), "processed".to_string()),
            ("city-urban".to_string(), "processed".to_string()),
        ],
        "the report from the address learned in the batch before counts for the unit"
    );
}
