//! Two campaigns in one deployment, as a coordinator runs them (issue 11): the second is one more
//! file in `campaigns/`, every command names its campaign with `--campaign`, and what is
//! recorded for one campaign is not seen in the other's status.

mod common;

use common::bin::{output, url_of, Out};
use common::{repo, Mail};
use serde_json::Value;
use sqlx::PgPool;
use std::path::{Path, PathBuf};
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_secs(180);

const KEPU: &str = r#"
[campaign]
key = "kepu-2024"
name = "2024年全国科普日"
deadline = "2024-09-30T00:00:00+08:00"
timezone = "Asia/Shanghai"
mailbox = "w251342595@163.com"
roster = "campaigns/kepu.csv"
keywords = ["科普日"]
coordinators = ["kepu-office@example.cn"]
[[campaign.items]]
key = "summary"
label = "活动总结"
code = "report"
validator = "report"
extensions = ["docx", "pdf", "txt"]
[schedule]
reminders = ["-2 10:00"]
daily_report_at = "09:00"
report_days_after_deadline = 3
"#;

/// The shipped configuration plus campaigns/kepu-2024.toml and its roster of one unit.
fn config_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let shipped = repo().join("config");
    for f in [
        "reportbox.toml",
        "units.csv",
        "templates/statistics-table-2023.xlsx",
    ] {
        let to = dir.path().join(f);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(shipped.join(f), to).unwrap();
    }
    let campaigns = dir.path().join("campaigns");
    std::fs::create_dir_all(&campaigns).unwrap();
    std::fs::write(campaigns.join("kepu-2024.toml"), KEPU).unwrap();
    std::fs::write(
        campaigns.join("kepu.csv"),
        "id,name,aliases,emails,group\nkx-a,甲县科协,甲县科学技术协会,kxa@example.cn,县科协\n",
    )
    .unwrap();
    dir
}

async fn reportbox(config: &Path, url: &str, storage: &Path, args: &[&str]) -> Out {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_reportbox"));
    for (k, _) in std::env::vars() {
        if k.starts_with("REPORTBOX_") {
            cmd.env_remove(k);
        }
    }
    cmd.arg("--config")
        .arg(config.join("reportbox.toml"))
        .args(args)
        .env("REPORTBOX_DATABASE__URL", url)
        .env("REPORTBOX_STORAGE__DIR", storage)
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true);
    output(cmd, TIMEOUT).await
}

fn eml(dir: &Path, name: &str, mail: Mail) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, mail.build()).unwrap();
    path
}

fn json(out: &Out) -> Value {
    assert_eq!(out.code, 0, "{out}");
    serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("{e}:\n{out}"))
}

#[sqlx::test(migrations = false)]
async fn each_campaign_keeps_its_own_units_messages_and_status(pool: PgPool) {
    let config = config_dir();
    let storage = tempfile::tempdir().unwrap();
    let url = url_of(&pool);
    let run = |args: &'static [&'static str]| reportbox(config.path(), &url, storage.path(), args);

    // The schema concerns the deployment: no campaign to name.
    let migrated = run(&["migrate"]).await;
    assert_eq!(migrated.code, 0, "{migrated}");

    // Two campaigns: a command about one must say which, and is told the keys.
    let ambiguous = run(&["status"]).await;
    assert_eq!(ambiguous.code, 78, "{ambiguous}");
    assert!(
        ambiguous.stderr.contains("--campaign")
            && ambiguous.stderr.contains("taiyuan-2023, kepu-2024"),
        "{ambiguous}"
    );

    let mails = tempfile::tempdir().unwrap();
    let kepu_mail = eml(
        mails.path(),
        "kepu.eml",
        Mail::new("kxa@example.cn", "甲县科协全国科普日活动总结").attach(
            "活动总结.txt",
            "text/plain",
            "全国科普日活动总结。".repeat(40).into_bytes(),
        ),
    );
    let path = kepu_mail.display().to_string();
    let imported = reportbox(
        config.path(),
        &url,
        storage.path(),
        &["import", "--campaign", "kepu-2024", &path],
    )
    .await;
    assert_eq!(imported.code, 0, "{imported}");

    let kepu = json(&run(&["status", "--campaign", "kepu-2024", "--format", "json"]).await);
    assert_eq!(kepu["campaign"], "2024年全国科普日");
    let units = kepu["units"].as_array().unwrap();
    assert_eq!(units.len(), 1, "{kepu}");
    assert_eq!(units[0]["id"], "kx-a");
    assert_ne!(units[0]["items"]["summary"]["state"], "missing", "{kepu}");

    // The other campaign saw none of it: its own roster, nothing received, nothing unmatched.
    let taiyuan = json(&run(&["status", "--campaign", "taiyuan-2023", "--format", "json"]).await);
    assert_eq!(taiyuan["campaign"], "2023年太原市科技活动周");
    let units = taiyuan["units"].as_array().unwrap();
    assert!(units.iter().all(|u| u["id"] != "kx-a"));
    assert!(units.iter().all(|u| u["status"] == "missing"), "{taiyuan}");
    assert_eq!(taiyuan["unmatched"].as_array().unwrap().len(), 0);

    let campaigns: Vec<String> = sqlx::query_scalar("SELECT key FROM campaigns ORDER BY id")
        .fetch_all(&pool)
        .await
        .unwrap();
    assert_eq!(campaigns, ["taiyuan-2023", "kepu-2024"]);

    // A county's second address, unknown to both rosters, lands in the first campaign and is set
    // aside there; kepu's coordinator claims it for kx-a: it moves, is decided again with kepu's
    // items and counts there.
    let stray = eml(
        mails.path(),
        "stray.eml",
        Mail::new("kxa-office@example.cn", "材料").attach(
            "全国科普日活动总结.txt",
            "text/plain",
            "全国科普日活动总结。".repeat(40).into_bytes(),
        ),
    );
    let path = stray.display().to_string();
    let imported = reportbox(
        config.path(),
        &url,
        storage.path(),
        &["import", "--campaign", "taiyuan-2023", &path],
    )
    .await;
    assert_eq!(imported.code, 0, "{imported}");
    let (id, unit): (i64, Option<String>) = sqlx::query_as(
        "SELECT id, unit_id FROM messages WHERE from_addr = 'kxa-office@example.cn'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(unit, None, "unmatched in the first campaign");
    let number = id.to_string();
    let wrong_unit = reportbox(
        config.path(),
        &url,
        storage.path(),
        &["assign", "--campaign", "kepu-2024", &number, "no-such-unit"],
    )
    .await;
    assert_ne!(wrong_unit.code, 0, "{wrong_unit}");
    let assigned = reportbox(
        config.path(),
        &url,
        storage.path(),
        &["assign", "--campaign", "kepu-2024", &number, "kx-a"],
    )
    .await;
    assert_eq!(assigned.code, 0, "{assigned}");
    let (campaign, unit, disposition): (String, Option<String>, String) = sqlx::query_as(
        "SELECT c.key, m.unit_id, m.disposition FROM messages m
         JOIN campaigns c ON c.id = m.campaign_id WHERE m.id = $1",
    )
    .bind(id)
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(
        (campaign.as_str(), unit.as_deref(), disposition.as_str()),
        ("kepu-2024", Some("kx-a"), "processed")
    );
    let items: Vec<String> = sqlx::query_scalar("SELECT item FROM files WHERE message_id = $1")
        .bind(id)
        .fetch_all(&pool)
        .await
        .unwrap();
    assert_eq!(items, ["summary"], "decided again with kepu's items");
    let kepu = json(&run(&["status", "--campaign", "kepu-2024", "--format", "json"]).await);
    assert_eq!(
        kepu["units"][0]["items"]["summary"]["file"], "全国科普日活动总结.txt",
        "the claimed message is kx-a's newest summary: {kepu}"
    );
    let taiyuan = run(&["status", "--campaign", "taiyuan-2023", "--format", "json"]).await;
    assert!(
        !json(&taiyuan).to_string().contains("kxa-office"),
        "{taiyuan}"
    );
}

/// The rows of one campaign's outbox, by kind.
async fn kinds(store: &reportbox::store::Store, key: &str) -> Vec<(String, Option<String>)> {
    let id = store
        .campaign_by_key(key)
        .await
        .unwrap()
        .expect("registered");
    let mut rows: Vec<(String, Option<String>)> = store
        .for_campaign(id)
        .outbox(None)
        .await
        .unwrap()
        .into_iter()
        .map(|r| (r.email.kind, r.email.unit_id))
        .collect();
    rows.sort();
    rows.dedup();
    rows
}

/// The scheduled rounds a campaign has run, by key.
async fn rounds(pool: &PgPool, key: &str) -> Vec<String> {
    sqlx::query_scalar(
        "SELECT r.key FROM schedule_runs r JOIN campaigns c ON c.id = r.campaign_id
         WHERE c.key = $1 ORDER BY r.key",
    )
    .bind(key)
    .fetch_all(pool)
    .await
    .unwrap()
}

#[sqlx::test(migrations = false)]
async fn each_campaign_gets_its_own_reminders_and_daily_email(pool: PgPool) {
    let config = config_dir();
    let storage = tempfile::tempdir().unwrap();
    let url = url_of(&pool);
    let migrated = reportbox(config.path(), &url, storage.path(), &["migrate"]).await;
    assert_eq!(migrated.code, 0, "{migrated}");
    let settings = reportbox::config::Settings::load(
        &config.path().join("reportbox.toml"),
        [
            ("REPORTBOX_DATABASE__URL".to_string(), url.clone()),
            (
                "REPORTBOX_CAMPAIGN__COORDINATORS".to_string(),
                "office@example.cn".to_string(),
            ),
        ],
    )
    .unwrap();
    let store = reportbox::store::Store::from_pool(pool.clone(), storage.path());
    let at = |t: &str| {
        chrono::DateTime::parse_from_rfc3339(t)
            .unwrap()
            .with_timezone(&chrono::Utc)
    };

    // Within the Taiyuan campaign's window only: its reminder round and daily email.
    for (key, tick) in
        reportbox::notify::schedule_all(&settings, &store, at("2023-06-07T09:30:00+08:00")).await
    {
        tick.unwrap_or_else(|e| panic!("{key}: {e}"));
    }
    let taiyuan = kinds(&store, "taiyuan-2023").await;
    assert!(taiyuan.iter().any(|(k, _)| k == "report"), "{taiyuan:?}");
    // (The shipped roster has no addresses: its units are reminded by phone, and the round is
    // recorded as run.)
    assert_eq!(
        rounds(&pool, "taiyuan-2023").await,
        ["reminder:2023-06-10:-3:09:00", "report:2023-06-07"]
    );
    assert_eq!(kinds(&store, "kepu-2024").await, []);
    assert!(rounds(&pool, "kepu-2024").await.is_empty());

    // Two days before the 科普日 deadline: its round, to its own unit, and its own daily email.
    for (key, tick) in
        reportbox::notify::schedule_all(&settings, &store, at("2024-09-28T10:30:00+08:00")).await
    {
        tick.unwrap_or_else(|e| panic!("{key}: {e}"));
    }
    let kepu = kinds(&store, "kepu-2024").await;
    assert_eq!(
        kepu,
        [
            ("reminder".to_string(), Some("kx-a".to_string())),
            ("report".to_string(), None)
        ]
    );
    let report = store
        .for_campaign(store.campaign_by_key("kepu-2024").await.unwrap().unwrap())
        .outbox(Some("report"))
        .await
        .unwrap();
    assert_eq!(report[0].email.recipients, ["kepu-office@example.cn"]);
    assert!(
        report[0].email.subject.contains("全国科普日"),
        "{}",
        report[0].email.subject
    );
    assert_eq!(
        kinds(&store, "taiyuan-2023").await,
        taiyuan,
        "nothing new for Taiyuan"
    );
    assert_eq!(rounds(&pool, "taiyuan-2023").await.len(), 2);
}
