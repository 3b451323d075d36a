//! `mailbox.folders` against the real Dovecot: INBOX and 163's spam folder 垃圾邮件 (on the wire
//! `&V4NXPpCuTvY-`) are both followed, each with its own UIDVALIDITY and mark, and what was found
//! in the spam folder is marked 在垃圾邮件中发现 for the coordinator.

mod mailbox_support;

use mailbox_support::*;
use reportbox::mailbox::{self, Shutdown};
use reportbox::store::Store;
use sqlx::{PgPool, Row};
use std::collections::BTreeMap;

/// 垃圾邮件 as IMAP names it; the tests create it the way 163 has it.
const JUNK_WIRE: &str = "&V4NXPpCuTvY-";

struct Fixture {
    settings: reportbox::config::Settings,
    store: Store,
    _storage: tempfile::TempDir,
}

async fn fixture(pool: PgPool, user: &str, tls: &str, extra: &[(&str, &str)]) -> Fixture {
    let storage = tempfile::tempdir().unwrap();
    let settings = settings(storage.path(), user, "rb-test-folders", tls, extra);
    let store = Store::from_pool(pool, storage.path());
    store.sync_units(&settings.roster).await.unwrap();
    Fixture {
        settings,
        store,
        _storage: storage,
    }
}

async fn status_json(f: &Fixture) -> (reportbox::status::Status, serde_json::Value) {
    let s = f
        .store
        .status(&f.settings.campaign_view(), chrono::Utc::now())
        .await
        .unwrap();
    let json = serde_json::to_value(&s).unwrap();
    (s, json)
}

/// Each followed folder's UIDVALIDITY and last UID, by folder name as stored.
async fn progress(pool: &PgPool) -> BTreeMap<String, (i64, i64)> {
    sqlx::query("SELECT folder, uidvalidity, last_uid FROM mailbox_progress")
        .fetch_all(pool)
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get("folder"), (r.get("uidvalidity"), r.get("last_uid"))))
        .collect()
}

async fn sources(pool: &PgPool) -> Vec<String> {
    sqlx::query_scalar("SELECT source FROM messages ORDER BY source")
        .fetch_all(pool)
        .await
        .unwrap()
}

#[sqlx::test(migrations = "./migrations")]
async fn a_submission_in_the_junk_folder_is_recorded_and_marked_for_the_coordinator(pool: PgPool) {
    let user = uniq_user("junk");
    let mut s = imap(&user).await;
    s.create(JUNK_WIRE).await.unwrap();
    // 市公安局's complete submission was filed as spam; 市城乡管理局's reached the inbox.
    s.append(JUNK_WIRE, None, None, &sample(0, &common::uniq()))
        .await
        .unwrap();
    s.append("INBOX", None, None, &sample(1, &common::uniq()))
        .await
        .unwrap();
    s.logout().await.unwrap();
    // The shipped defaults: INBOX, then 垃圾邮件.
    let f = fixture(pool.clone(), &user, "none", &[]).await;

    let report = mailbox::once(&f.settings, &f.store).await.unwrap();
    assert_eq!((report.found, report.recorded), (2, 2), "{report:?}");
    let visited: Vec<&str> = report.folders.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(visited, ["INBOX", "垃圾邮件"]);
    assert!(report.missing.is_empty(), "{report:?}");
    let src = sources(&pool).await;
    assert!(
        src[0].starts_with("imap:INBOX/") && src[1].starts_with("imap:垃圾邮件/"),
        "{src:?}"
    );

    let (status, json) = status_json(&f).await;
    let police = common::unit(&json, "city-police");
    assert_eq!(police["status"], "complete", "{police}");
    for (key, item) in police["items"].as_object().unwrap() {
        assert_eq!(item["found_in_junk"], true, "{key}: {item}");
    }
    let urban = common::unit(&json, "city-urban");
    assert_eq!(urban["status"], "complete", "{urban}");
    for (key, item) in urban["items"].as_object().unwrap() {
        assert!(item.get("found_in_junk").is_none(), "{key}: {item}");
    }
    let table = reportbox::status::render_table(&status, &f.settings.campaign_view());
    let police_line = table.lines().find(|l| l.starts_with("市公安局")).unwrap();
    assert!(police_line.contains("在垃圾邮件中发现"), "{table}");
    let urban_line = table
        .lines()
        .find(|l| l.starts_with("市城乡管理局"))
        .unwrap();
    assert!(!urban_line.contains("在垃圾邮件中发现"), "{table}");
    let daily = reportbox::notify::compose::daily_report(
        &f.settings.compose(),
        "2023-06-08",
        &status,
        &[],
        &[],
        None,
    );
    let police_row = daily
        .body_text
        .lines()
        .find(|l| l.contains("市公安局"))
        .unwrap_or_else(|| panic!("{}", daily.body_text));
    assert!(police_row.contains("在垃圾邮件中发现"), "{police_row}");

    // The processed keyword went onto the message in the folder it was found in.
    let flags = flags_of(&user, JUNK_WIRE).await;
    assert!(
        flags[0]
            .1
            .iter()
            .any(|x| x.contains("$Reportbox-Processed")),
        "{flags:?}"
    );

    // Each folder keeps its own mark: a second pass finds nothing in either.
    let again = mailbox::once(&f.settings, &f.store).await.unwrap();
    assert_eq!((again.found, again.recorded), (0, 0), "{again:?}");
    let marks = progress(&pool).await;
    assert_eq!(
        marks.keys().map(String::as_str).collect::<Vec<_>>(),
        ["INBOX", "垃圾邮件"]
    );
    assert!(marks.values().all(|(_, last)| *last == 1), "{marks:?}");
    assert_eq!(count_messages(&pool).await, 2);
}

#[sqlx::test(migrations = "./migrations")]
async fn a_configured_folder_that_does_not_exist_is_a_warning_and_the_inbox_is_still_drained(
    pool: PgPool,
) {
    let user = uniq_user("nofolder");
    let mut s = imap(&user).await;
    s.append("INBOX", None, None, &sample(2, &common::uniq()))
        .await
        .unwrap();
    s.logout().await.unwrap();
    let storage = tempfile::tempdir().unwrap();
    let mut env = mailbox_env(&user, "rb-test-nofolder", "none");
    env.push((
        "REPORTBOX_MAILBOX__FOLDERS".into(),
        "INBOX,没有这个文件夹".into(),
    ));
    let out = tokio::task::spawn_blocking({
        let url = url_of(&pool);
        let storage = storage.path().to_path_buf();
        move || {
            std::process::Command::new(env!("CARGO_BIN_EXE_reportbox"))
                .arg("--config")
                .arg(common::repo().join("config/reportbox.toml"))
                .arg("once")
                .env("REPORTBOX_DATABASE__URL", url)
                .env("REPORTBOX_STORAGE__DIR", storage)
                .env(
                    "REPORTBOX_CAMPAIGN__ROSTER",
                    common::samples_dir().join("roster.csv"),
                )
                .env("REPORTBOX_LOG", "info")
                .envs(common::smtp_env())
                .envs(env)
                .stdin(std::process::Stdio::null())
                .output()
                .unwrap()
        }
    })
    .await
    .unwrap();
    let (stdout, log) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "{:?}\n{stdout}\n{log}", out.status);
    assert_eq!(count_messages(&pool).await, 1, "{log}");
    let warning = log
        .lines()
        .find(|l| l.contains("没有这个文件夹"))
        .unwrap_or_else(|| panic!("no warning naming the folder:\n{log}"));
    assert!(warning.contains("WARN"), "{warning}");
    assert!(
        stdout.contains("邮箱中没有文件夹“没有这个文件夹”，已跳过"),
        "{stdout}"
    );
    assert!(stdout.contains("新记录 1 封"), "{stdout}");
    assert_eq!(progress(&pool).await.keys().collect::<Vec<_>>(), ["INBOX"]);
}

#[sqlx::test(migrations = "./migrations")]
async fn each_folder_has_its_own_uidvalidity(pool: PgPool) {
    let user = uniq_user("uvjunk");
    let in_junk = sample(0, &common::uniq());
    let mut s = imap(&user).await;
    s.create(JUNK_WIRE).await.unwrap();
    s.append(JUNK_WIRE, None, None, &in_junk).await.unwrap();
    s.append("INBOX", None, None, &sample(1, &common::uniq()))
        .await
        .unwrap();
    let f = fixture(pool.clone(), &user, "none", &[]).await;
    let one = mailbox::once(&f.settings, &f.store).await.unwrap();
    assert_eq!(one.recorded, 2, "{one:?}");
    let before = progress(&pool).await;

    // Only the spam folder is re-created (a new UIDVALIDITY); its old message comes back with
    // UID 1 again, and one new one with it.
    s.delete(JUNK_WIRE).await.unwrap();
    s.create(JUNK_WIRE).await.unwrap();
    s.append(JUNK_WIRE, None, None, &in_junk).await.unwrap();
    s.append(JUNK_WIRE, None, None, &sample(2, &common::uniq()))
        .await
        .unwrap();
    s.logout().await.unwrap();
    let two = mailbox::once(&f.settings, &f.store).await.unwrap();
    let by_folder: BTreeMap<&str, &mailbox::PollOutcome> =
        two.folders.iter().map(|(n, o)| (n.as_str(), o)).collect();
    assert_eq!(by_folder["INBOX"].found, 0, "{two:?}");
    let junk = by_folder["垃圾邮件"];
    assert_eq!(
        (junk.found, junk.recorded, junk.already_stored),
        (2, 1, 1),
        "{two:?}"
    );
    let after = progress(&pool).await;
    assert_eq!(after["INBOX"], before["INBOX"]);
    assert_ne!(after["垃圾邮件"].0, before["垃圾邮件"].0);
    assert_eq!(after["垃圾邮件"].1, 2);
    assert_eq!(count_messages(&pool).await, 3);
}

#[sqlx::test(migrations = "./migrations")]
async fn run_under_idle_follows_the_inbox_and_a_junk_folder_that_appears_later(pool: PgPool) {
    let user = uniq_user("idlejunk");
    let f = fixture(pool.clone(), &user, "implicit", &[]).await;
    let (trigger, shutdown) = Shutdown::new();
    let daemon = mailbox::run(&f.settings, &f.store, shutdown);
    let work = async {
        // The spam folder does not exist yet: the daemon still drains the inbox.
        smtp_send(&user, &sample(1, &common::uniq())).await;
        eventually("the inbox message", || async {
            count_messages(&pool).await >= 1
        })
        .await;
        let mut s = imap(&user).await;
        s.create(JUNK_WIRE).await.unwrap();
        s.append(JUNK_WIRE, None, None, &sample(0, &common::uniq()))
            .await
            .unwrap();
        s.logout().await.unwrap();
        eventually("the message in the spam folder", || async {
            count_messages(&pool).await >= 2
        })
        .await;
        smtp_send(&user, &sample(2, &common::uniq())).await;
        eventually("a second inbox message", || async {
            count_messages(&pool).await >= 3
        })
        .await;
        trigger.fire();
    };
    let (result, ()) = tokio::time::timeout(DEADLINE, async { tokio::join!(daemon, work) })
        .await
        .expect("run ends after shutdown");
    result.unwrap();
    let src = sources(&pool).await;
    assert_eq!(
        src.iter()
            .filter(|s| s.starts_with("imap:垃圾邮件/"))
            .count(),
        1,
        "{src:?}"
    );
    let (_, json) = status_json(&f).await;
    assert_eq!(
        common::unit(&json, "city-police")["items"]["video"]["found_in_junk"],
        true
    );
}

#[sqlx::test(migrations = "./migrations")]
async fn a_running_daemon_warns_about_a_missing_folder_once_not_on_every_pass(pool: PgPool) {
    let user = uniq_user("warnonce");
    let storage = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    // The shipped defaults; this mailbox has no 垃圾邮件. Polling every 300 ms.
    let env = mailbox_env(&user, "rb-test-warnonce", "starttls");
    let d = Daemon::spawn(
        "run",
        &url_of(&pool),
        storage.path(),
        &env,
        dir.path().join("run.log"),
    );
    // Each message recorded is at least one more pass over both folders.
    for (n, i) in (0..3).enumerate() {
        smtp_send(&user, &sample(i, &common::uniq())).await;
        eventually("the daemon to record the message", || async {
            count_messages(&pool).await > n as i64
        })
        .await;
    }
    let log = d.log_text();
    let warnings = log
        .lines()
        .filter(|l| l.contains("WARN") && l.contains("垃圾邮件"))
        .count();
    assert_eq!(warnings, 1, "{log}");
}
