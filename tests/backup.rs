//! The backup of README.md ("Backing up") tried for real: pg_dump (custom format) and a tar of the
//! storage directory, restored with pg_restore into a fresh database and a fresh directory, give
//! back the same status and every original.

mod common;

use chrono::TimeZone;
use reportbox::store::Store;
use sqlx::{Connection, PgPool};
use std::process::Command;

fn url_with_database(name: &str) -> String {
    let base = std::env::var("DATABASE_URL").expect("DATABASE_URL (deploy/testenv/up.sh)");
    let (server, _) = base.rsplit_once('/').unwrap();
    format!("{server}/{name}")
}

fn run(cmd: &mut Command) {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn files_under(dir: &std::path::Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p.strip_prefix(dir).unwrap().display().to_string());
            }
        }
    }
    out.sort();
    out
}

#[sqlx::test(migrations = "./migrations")]
async fn pg_dump_and_the_storage_directory_restore_everything(pool: PgPool) {
    let env = common::env(pool.clone()).await;
    env.import_samples().await;
    let now = chrono::Utc.with_ymd_and_hms(2023, 6, 7, 1, 30, 0).unwrap();
    let campaign = env.settings.campaign_view();
    let before = serde_json::to_value(env.store.status(&campaign, now).await.unwrap()).unwrap();
    assert!(
        before["counts"]["complete"] == 3,
        "something to back up: {before}"
    );
    let source = pool.connect_options().get_database().unwrap().to_string();

    let backup = tempfile::tempdir().unwrap();
    let dump = backup.path().join("reportbox.dump");
    let archive = backup.path().join("storage.tar.gz");
    run(Command::new("pg_dump")
        .arg("--format=custom")
        .arg(format!("--file={}", dump.display()))
        .arg(format!("--dbname={}", url_with_database(&source))));
    let storage = env.settings.storage.dir.clone();
    run(Command::new("tar")
        .arg("-C")
        .arg(storage.parent().unwrap())
        .arg("-czf")
        .arg(&archive)
        .arg(storage.file_name().unwrap()));

    // A new machine: an empty database and an empty state directory.
    let target = format!("{source}_restored");
    let mut admin = sqlx::PgConnection::connect(&std::env::var("DATABASE_URL").unwrap())
        .await
        .unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS \"{target}\""
    )))
    .execute(&mut admin)
    .await
    .unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{target}\"")))
        .execute(&mut admin)
        .await
        .unwrap();
    run(Command::new("pg_restore")
        .arg("--no-owner")
        .arg(format!("--dbname={}", url_with_database(&target)))
        .arg(&dump));
    let state = tempfile::tempdir().unwrap();
    run(Command::new("tar")
        .arg("-C")
        .arg(state.path())
        .arg("-xzf")
        .arg(&archive));
    let restored_storage = state.path().join(storage.file_name().unwrap());
    assert_eq!(files_under(&restored_storage), files_under(&storage));

    let restored = Store::connect(&url_with_database(&target), 2, &restored_storage)
        .await
        .unwrap();
    assert_eq!(
        restored.schema().await.unwrap(),
        reportbox::store::Schema::Current(reportbox::store::latest_migration())
    );
    let after = serde_json::to_value(restored.status(&campaign, now).await.unwrap()).unwrap();
    assert_eq!(after, before);
    restored.pool.close().await;
    sqlx::query(sqlx::AssertSqlSafe(format!("DROP DATABASE \"{target}\"")))
        .execute(&mut admin)
        .await
        .unwrap();
}
