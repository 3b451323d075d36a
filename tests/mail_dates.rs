//! Contract §1, §7: dates as Chinese mail clients write them decide "late" in the campaign's
//! time zone. A `Date:` without a zone, or with `CST` (China Standard Time, not US Central), is
//! Asia/Shanghai wall-clock time; mail-parser alone would read the first as UTC and the second
//! as -06:00, and both messages below would count as late.

mod common;

use common::{env, table, unit, Mail, XLSX};
use serde_json::Value;
use sqlx::PgPool;

/// The city archives' table, dated `date`, with no `Received:` line: imported from a file,
/// so the `Date:` header is the received time (contract §7).
async fn archives_table_dated(pool: PgPool, date: &str) -> Value {
    let env = env(pool).await;
    let mut m = Mail::new("tydag_bgs@163.com", "市档案馆材料").attach(
        "统计表.xlsx",
        XLSX,
        table("市档案馆", "2023"),
    );
    m.date = date.into();
    m.received = false;
    let raw = m.build();
    assert!(!String::from_utf8_lossy(&raw).contains("Received:"));
    env.process(raw, "dated").await;
    let status = env.status_json().await;
    unit(&status, "city-archives").clone()
}

#[sqlx::test(migrations = "./migrations")]
async fn a_date_without_a_zone_before_midnight_in_china_is_on_time(pool: PgPool) {
    let u = archives_table_dated(pool, "Fri, 9 Jun 2023 23:30:00").await;
    assert_eq!(u["late"], false, "{u:#}");
    assert_eq!(u["items"]["statistics_table"]["late"], false);
    assert_eq!(u["last_received_at"], "2023-06-09T23:30:00+08:00");
}

#[sqlx::test(migrations = "./migrations")]
async fn cst_is_china_standard_time(pool: PgPool) {
    let u = archives_table_dated(pool, "Fri, 9 Jun 2023 23:30:00 CST").await;
    assert_eq!(u["late"], false, "{u:#}");
    assert_eq!(u["last_received_at"], "2023-06-09T23:30:00+08:00");
}

#[sqlx::test(migrations = "./migrations")]
async fn a_numeric_zone_wins_over_its_cst_comment(pool: PgPool) {
    let u = archives_table_dated(pool, "Fri, 9 Jun 2023 23:30:00 +0800 (CST)").await;
    assert_eq!(u["late"], false, "{u:#}");
    assert_eq!(u["last_received_at"], "2023-06-09T23:30:00+08:00");
}

#[sqlx::test(migrations = "./migrations")]
async fn a_date_without_a_zone_after_midnight_in_china_is_late(pool: PgPool) {
    let u = archives_table_dated(pool, "Sat, 10 Jun 2023 00:30:00").await;
    assert_eq!(u["late"], true, "{u:#}");
    assert_eq!(u["last_received_at"], "2023-06-10T00:30:00+08:00");
}

#[sqlx::test(migrations = "./migrations")]
async fn an_explicit_utc_date_is_not_reinterpreted(pool: PgPool) {
    // 23:30 UTC on the 9th is 07:30 on the 10th in Taiyuan.
    let u = archives_table_dated(pool, "Fri, 9 Jun 2023 23:30:00 +0000").await;
    assert_eq!(u["late"], true, "{u:#}");
    assert_eq!(u["last_received_at"], "2023-06-10T07:30:00+08:00");
}

#[sqlx::test(migrations = "./migrations")]
async fn an_iso_date_without_a_zone_is_read_in_china(pool: PgPool) {
    let u = archives_table_dated(pool, "2023-06-09 23:30:00").await;
    assert_eq!(u["late"], false, "{u:#}");
    assert_eq!(u["last_received_at"], "2023-06-09T23:30:00+08:00");
}

#[sqlx::test(migrations = "./migrations")]
async fn a_received_line_without_a_zone_is_read_in_china_too(pool: PgPool) {
    let env = env(pool).await;
    let mut m = Mail::new("tydag_bgs@163.com", "市档案馆材料").attach(
        "统计表.xlsx",
        XLSX,
        table("市档案馆", "2023"),
    );
    // The relay's line has no zone either; it, not the sender's Date:, is the received time.
    m.date = "Fri, 9 Jun 2023 23:50:00".into();
    m.received = false;
    let raw = m.build();
    let mut with_received = b"Received: from mx by mx.test; Fri, 9 Jun 2023 23:55:00\r\n".to_vec();
    with_received.extend_from_slice(&raw);
    env.process(with_received, "received").await;
    let status = env.status_json().await;
    let u = unit(&status, "city-archives");
    assert_eq!(u["late"], false, "{u:#}");
    assert_eq!(u["last_received_at"], "2023-06-09T23:55:00+08:00");
}

#[sqlx::test(migrations = "./migrations")]
async fn an_unreadable_date_falls_back_to_the_time_of_processing(pool: PgPool) {
    let u = archives_table_dated(pool, "某年某月某日").await;
    // Processed now, long after the 2023 deadline.
    assert_eq!(u["late"], true, "{u:#}");
    assert_eq!(u["status"], "incomplete");
    let at = u["last_received_at"].as_str().unwrap();
    assert!(at > "2024", "{at}");
}
