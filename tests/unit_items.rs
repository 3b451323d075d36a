//! The current state of each unit and item (issue 12 item 3, migration 0011): the rows the
//! status of one unit is read from when a message is recorded stay what the unit's whole history
//! gives, through every kind of change — a newer message, an older one arriving late, two reports
//! in one message, the coordinator giving a message to another unit or setting one
//! aside, a file reclassified or removed — and a unit's status read through them is the status the
//! daily report computes from every message.

mod common;

use common::{env, Env, Mail};
use reportbox::pipeline::{self, Incoming};
use sqlx::PgPool;

type Row = (i64, String, String, i64, i32);

/// The kept rows against the same choice made over every file, and each unit's status read
/// through them against the status over the whole history.
async fn assert_current_is_history(env: &Env, pool: &PgPool, after: &str) {
    let kept: Vec<Row> = sqlx::query_as(
        "SELECT campaign_id, unit_id, item, message_id, ordinal FROM unit_items
         ORDER BY campaign_id, unit_id, item",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    let history: Vec<Row> = sqlx::query_as(
        "SELECT DISTINCT ON (m.campaign_id, m.unit_id, f.item)
                m.campaign_id, m.unit_id, f.item, f.message_id, f.ordinal
         FROM files f JOIN messages m ON m.id = f.message_id
         WHERE m.unit_id IS NOT NULL AND m.disposition = 'processed'
         ORDER BY m.campaign_id, m.unit_id, f.item, m.received_at DESC, m.id DESC, f.ordinal DESC",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    assert_eq!(kept, history, "after {after}");
    assert!(!kept.is_empty(), "after {after}: no unit has a file");

    let view = env.settings.campaign_view();
    let all = env.store.status(&view, chrono::Utc::now()).await.unwrap();
    for whole in &all.units {
        let one = env
            .store
            .unit_view(&view, &whole.id)
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("after {after}: no status for {}", whole.id));
        assert_eq!(
            serde_json::to_value(&one).unwrap(),
            serde_json::to_value(whole).unwrap(),
            "after {after}: {}'s status read through its current rows",
            whole.id
        );
    }
}

async fn process_at(env: &Env, raw: Vec<u8>, label: &str, at: &str) -> i64 {
    let o = pipeline::process(
        &env.settings,
        &env.store,
        Incoming {
            raw,
            source: format!("test:{label}"),
            internal_date: Some(at.parse().unwrap()),
        },
    )
    .await
    .unwrap();
    match o.saved {
        reportbox::store::Saved::Recorded { id, .. } => id,
        other => panic!("{label}: {other:?}"),
    }
}

async fn current(pool: &PgPool, unit: &str, item: &str) -> Option<(i64, i32)> {
    sqlx::query_as("SELECT message_id, ordinal FROM unit_items WHERE unit_id = $1 AND item = $2")
        .bind(unit)
        .bind(item)
        .fetch_optional(pool)
        .await
        .unwrap()
}

const XLSX: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";

#[sqlx::test(migrations = "./migrations")]
async fn the_current_rows_follow_every_change_of_the_history(pool: PgPool) {
    let env = env(pool.clone()).await;
    env.import_samples().await;
    assert_current_is_history(&env, &pool, "the samples").await;

    let urban = "tycxglj_kjc@163.com";
    let table = |subject: &str| {
        Mail::new(urban, subject)
            .attach(
                "开展情况统计表.xlsx",
                XLSX,
                common::table("市城乡管理局", "2025"),
            )
            .build()
    };
    let newer = process_at(&env, table("报送统计表"), "newer", "2026-06-08T02:00:00Z").await;
    assert_eq!(
        current(&pool, "city-urban", "statistics_table").await,
        Some((newer, 0))
    );
    // Mail that arrives late (an older date) does not stand for the item over a newer one.
    let late = process_at(&env, table("旧的统计表"), "late", "2026-06-01T02:00:00Z").await;
    assert_ne!(
        current(&pool, "city-urban", "statistics_table").await,
        Some((late, 0))
    );
    // Two reports in one message.
    let mut revised = common::report_txt();
    revised.extend_from_slice("\n（修改稿）\n".as_bytes());
    let two = Mail::new(urban, "两份总结报告")
        .attach("总结报告.txt", "text/plain", common::report_txt())
        .attach("总结报告（修改）.txt", "text/plain", revised)
        .build();
    let both = process_at(&env, two, "two", "2026-06-09T02:00:00Z").await;
    let reports: Vec<i32> = sqlx::query_scalar(
        "SELECT ordinal FROM files WHERE message_id = $1 AND item = 'summary_report' ORDER BY ordinal",
    )
    .bind(both)
    .fetch_all(&pool)
    .await
    .unwrap();
    // The classifier keeps one of them as the report (the other is `other`): that one stands.
    assert_eq!(reports.len(), 1, "one of the two is the report");
    assert_eq!(
        current(&pool, "city-urban", "summary_report").await,
        Some((both, reports[0]))
    );
    assert_current_is_history(&env, &pool, "newer, late and two-file messages").await;

    // The coordinator gives the newest table to another unit: both units change.
    let view = env.settings.campaign_view();
    env.store
        .assign(&newer.to_string(), "city-tv", &view)
        .await
        .unwrap();
    assert_eq!(
        current(&pool, "city-tv", "statistics_table").await,
        Some((newer, 0))
    );
    assert_current_is_history(&env, &pool, "a message given to another unit").await;

    // A message set aside, a file reclassified, a file removed: as a correction or a re-check
    // makes them, in SQL, since the rows are the database's to keep whoever writes.
    sqlx::query("UPDATE messages SET disposition = 'unrelated' WHERE id = $1")
        .bind(both)
        .execute(&pool)
        .await
        .unwrap();
    assert_current_is_history(&env, &pool, "a message set aside").await;
    sqlx::query("UPDATE files SET item = 'other' WHERE message_id = $1")
        .bind(newer)
        .execute(&pool)
        .await
        .unwrap();
    assert_current_is_history(&env, &pool, "a file reclassified").await;
    sqlx::query("DELETE FROM files WHERE message_id = $1")
        .bind(late)
        .execute(&pool)
        .await
        .unwrap();
    assert_current_is_history(&env, &pool, "a file removed").await;
}
