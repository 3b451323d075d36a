//! Upgrading a deployment to campaigns (migration 0009, issue 11): a database written by the
//! single-campaign version — schema 0008, rows as that version writes them — is migrated by
//! `reportbox migrate` and read by `reportbox status`. Every row ends up in the configured
//! campaign, none is lost, and the status a coordinator reads is what it was before.

mod common;

use common::bin::url_of;
use common::{repo, samples_dir, unit};
use serde_json::Value;
use sqlx::PgPool;
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_secs(180);
/// The tables that hold a campaign's rows after 0009.
const CAMPAIGN_TABLES: [&str; 8] = [
    "units",
    "messages",
    "learned_addresses",
    "exemptions",
    "audit",
    "reviews",
    "outbox",
    "schedule_runs",
];

/// Applies the migrations before 0009 only, as the previous version left the database.
async fn migrate_to_0008(pool: &PgPool) {
    let dir = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(repo().join("migrations")).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if name.as_str() < "0009" {
            std::fs::copy(&path, dir.path().join(&name)).unwrap();
        }
    }
    sqlx::migrate::Migrator::new(dir.path())
        .await
        .unwrap()
        .run(pool)
        .await
        .unwrap();
}

/// What the single-campaign version recorded for a small campaign: the roster's units, a
/// submission from 市公安局 (a valid table and a report the coordinator accepted after review),
/// a note from it, an unmatched message, an exemption, a learned address, an acknowledgement
/// in the outbox, a reminder round and the audit trail.
async fn fill_like_0008(pool: &PgPool) {
    let statements = [
        "INSERT INTO units (id, name, aliases, emails, grp, position) VALUES
           ('city-police', '市公安局', '{太原市公安局}', '{tygaj_kxk@163.com}', '联席会议成员单位', 0),
           ('city-urban', '市城乡管理局', '{市城管局}', '{tycxglj_kjc@163.com}', '联席会议成员单位', 1)",
        "INSERT INTO messages (id, raw_sha256, dedupe_key, message_id, from_addr, subject, received_at,
           size_bytes, source, disposition, unit_id, match_rule)
         VALUES (1, 'aa01', '<m1@163.com>', '<m1@163.com>', 'tygaj_kxk@163.com', '市公安局科技活动周材料',
           '2023-06-05T10:00:00+08:00', 1000, 'imap:INBOX:1', 'processed', 'city-police', 'roster_address'),
                (2, 'aa02', '<m2@qq.com>', '<m2@qq.com>', 'stranger@qq.com', '科技活动周材料',
           '2023-06-05T11:00:00+08:00', 500, 'imap:INBOX:2', 'processed', NULL, NULL),
                (3, 'aa03', '<m3@163.com>', '<m3@163.com>', 'tygaj_kxk@163.com', '视频稍后补报',
           '2023-06-06T09:00:00+08:00', 300, 'imap:INBOX:3', 'note', 'city-police', 'roster_address')",
        "SELECT setval('messages_id_seq', 3)",
        "INSERT INTO files (message_id, ordinal, name, role, sha256, size_bytes, kind, item, state, data)
         VALUES (1, 0, '统计表.xlsx', 'attachment', 'bb01', 100, 'xlsx', 'statistics_table', 'valid',
                 '{\"values\": {\"activities_total\": 12}}'),
                (1, 1, '总结.docx', 'attachment', 'bb02', 200, 'docx', 'summary_report', 'needs_review', NULL)",
        "INSERT INTO reviews (unit_id, item, message_id, ordinal, verdict, reason, reviewer)
         VALUES ('city-police', 'summary_report', 1, 1, 'accepted', '', '王宏颖')",
        "INSERT INTO notes (message_id, text, with_files) VALUES (3, '视频稍后补报', FALSE)",
        "INSERT INTO exemptions (unit_id, reason) VALUES ('city-urban', '本年度不参加')",
        "INSERT INTO learned_addresses (address, unit_id, learned_from)
         VALUES ('gaj_kx2023@qq.com', 'city-police', 1)",
        "INSERT INTO outbox (dedupe_key, kind, unit_id, message_id, recipients, subject, body_text,
           body_html, auto_submitted, state)
         VALUES ('ack:1', 'ack', 'city-police', 1, '{tygaj_kxk@163.com}', '已收到', '已收到', '<p>已收到</p>',
                 'auto-replied', 'sent')",
        "INSERT INTO schedule_runs (key, kind, due_at)
         VALUES ('reminder:2023-06-10:-3:09:00', 'reminder', '2023-06-07T09:00:00+08:00')",
        "INSERT INTO audit (unit_id, message_id, kind, detail) VALUES
           ('city-police', 1, 'message_recorded', '{\"disposition\": \"processed\"}'),
           ('city-urban', NULL, 'exempted', '{\"reason\": \"本年度不参加\"}')",
    ];
    for sql in statements {
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
            .execute(pool)
            .await
            .unwrap_or_else(|e| panic!("{e}: {sql}"));
    }
}

async fn count(pool: &PgPool, sql: String) -> i64 {
    sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
        .fetch_one(pool)
        .await
        .unwrap()
}

async fn row_counts(pool: &PgPool) -> Vec<(String, i64)> {
    let mut out = Vec::new();
    for t in CAMPAIGN_TABLES.iter().chain(&["files", "notes"]) {
        out.push((
            t.to_string(),
            count(pool, format!("SELECT count(*) FROM {t}")).await,
        ));
    }
    out
}

async fn reportbox(pool: &PgPool, storage: &std::path::Path, args: &[&str]) -> String {
    let mut cmd = common::bin::command(args);
    cmd.env("REPORTBOX_DATABASE__URL", url_of(pool))
        .env("REPORTBOX_STORAGE__DIR", storage)
        .env(
            "REPORTBOX_CAMPAIGN__ROSTER",
            samples_dir().join("roster.csv"),
        )
        .env("REPORTBOX_CAMPAIGN__KEY", "taiyuan-2023");
    let out = common::bin::output(cmd, TIMEOUT).await;
    assert_eq!(out.code, 0, "reportbox {args:?}:\n{out}");
    out.stdout
}

#[sqlx::test(migrations = false)]
async fn a_single_campaign_database_moves_whole_into_the_configured_campaign(pool: PgPool) {
    migrate_to_0008(&pool).await;
    fill_like_0008(&pool).await;
    let before = row_counts(&pool).await;
    let storage = tempfile::tempdir().unwrap();

    let migrated = reportbox(&pool, storage.path(), &["migrate"]).await;
    assert!(migrated.contains("数据库已是最新结构"), "{migrated}");
    let status: Value = serde_json::from_str(
        &reportbox(&pool, storage.path(), &["status", "--format", "json"]).await,
    )
    .unwrap();

    // One campaign, named by the configuration; nothing was left under the placeholder.
    let campaigns: Vec<(i64, String, String)> =
        sqlx::query_as("SELECT id, key, name FROM campaigns ORDER BY id")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(
        campaigns,
        [(1, "taiyuan-2023".into(), "2023年太原市科技活动周".into())]
    );
    // Every row is still there (the roster sync adds the units the test did not write)…
    let after = row_counts(&pool).await;
    for ((table, was), (_, now)) in before.iter().zip(&after) {
        if table == "units" {
            assert!(now >= was, "units: {was} before, {now} after");
        } else {
            assert_eq!(now, was, "{table}: {was} rows before, {now} after");
        }
    }
    // …and in that campaign.
    for t in CAMPAIGN_TABLES {
        let elsewhere = count(
            &pool,
            format!("SELECT count(*) FROM {t} WHERE campaign_id <> 1"),
        )
        .await;
        assert_eq!(elsewhere, 0, "{t} has rows outside the configured campaign");
    }

    // The status reads as it did: the table valid, the reviewed report accepted, the video
    // missing; the exemption, the unmatched message and the open note all still there.
    assert_eq!(status["campaign"], "2023年太原市科技活动周");
    let police = unit(&status, "city-police");
    assert_eq!(police["items"]["statistics_table"]["state"], "valid");
    assert_eq!(police["items"]["statistics_table"]["file"], "统计表.xlsx");
    assert_eq!(police["items"]["summary_report"]["state"], "valid");
    assert_eq!(police["items"]["video"]["state"], "missing");
    assert_eq!(police["status"], "incomplete");
    let urban = unit(&status, "city-urban");
    assert_eq!(urban["status"], "exempt");
    assert_eq!(urban["exempt_reason"], "本年度不参加");
    let unmatched = status["unmatched"].as_array().unwrap();
    assert_eq!(unmatched.len(), 1, "{unmatched:?}");
    assert_eq!(unmatched[0]["from"], "stranger@qq.com");
    assert_eq!(status["notes"][0]["text"], "视频稍后补报");

    // Starting again changes nothing: the campaign is found by its key.
    reportbox(&pool, storage.path(), &["migrate"]).await;
    assert_eq!(
        count(&pool, "SELECT count(*) FROM campaigns".into()).await,
        1
    );
}
