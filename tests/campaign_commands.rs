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
[[campaign.items]]
key = "summary"
label = "活动总结"
code = "report"
validator = "report"
extensions = ["docx", "pdf", "txt"]
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
}
