//! `reportbox check` as ops run it before `systemctl enable --now`: against the real test stack
//! (PostgreSQL, Dovecot, Postfix of deploy/testenv) it passes, and each thing ops get wrong — the
//! IMAP code, the SMTP code, a stopped database, a storage directory that cannot be written —
//! fails with its own line and exit 1, the other lines still passing.

mod common;

use common::bin::{url_of, Out};
use common::{samples_dir, testenv};
use sqlx::PgPool;
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_secs(120);

/// The shipped configuration pointed at the test stack: the samples' roster, intake@ for IMAP
/// and SMTP, with the right passwords unless `extra` says otherwise.
async fn check(url: &str, storage: &std::path::Path, extra: &[(&str, &str)]) -> Out {
    let mut cmd = common::bin::command(&["check"]);
    let user = format!("intake@{}", testenv("TESTENV_MAIL_DOMAIN"));
    let password = testenv("TESTENV_MAIL_PASSWORD");
    cmd.env("REPORTBOX_DATABASE__URL", url)
        .env("REPORTBOX_STORAGE__DIR", storage)
        .env(
            "REPORTBOX_CAMPAIGN__ROSTER",
            samples_dir().join("roster.csv"),
        )
        .env(
            "REPORTBOX_CAMPAIGN__COORDINATORS",
            "coordinator@example.test",
        )
        .env("REPORTBOX_MAILBOX__HOST", testenv("TESTENV_IMAP_HOST"))
        .env("REPORTBOX_MAILBOX__PORT", testenv("TESTENV_IMAP_PORT"))
        .env("REPORTBOX_MAILBOX__TLS", "none")
        .env("REPORTBOX_MAILBOX__USERNAME", &user)
        .env("REPORTBOX_MAILBOX__PASSWORD", &password)
        .env("REPORTBOX_MAILBOX__FOLDERS", "INBOX")
        .env("REPORTBOX_SMTP__HOST", testenv("TESTENV_SMTP_HOST"))
        .env("REPORTBOX_SMTP__PORT", testenv("TESTENV_SMTP_PORT"))
        .env("REPORTBOX_SMTP__TLS", "none")
        .env("REPORTBOX_SMTP__USERNAME", &user)
        .env("REPORTBOX_SMTP__PASSWORD", &password)
        .envs(extra.iter().map(|(k, v)| (k, v)));
    common::bin::output(cmd, TIMEOUT).await
}

/// Exactly one failing line, the one expected, and exit 1.
fn fails_only(out: &Out, start: &str, words: &str) {
    assert_eq!(out.code, 1, "{out}");
    let failed = out.lines("[失败]");
    assert_eq!(failed.len(), 1, "one failure only:\n{out}");
    assert!(
        failed[0].starts_with(&format!("[失败] {start}")) && failed[0].contains(words),
        "{out}"
    );
    assert!(out.stdout.contains("1 项检查未通过"), "{out}");
}

#[sqlx::test(migrations = "./migrations")]
async fn check_passes_against_the_test_stack(pool: PgPool) {
    let storage = tempfile::tempdir().unwrap();
    let out = check(&url_of(&pool), storage.path(), &[]).await;
    assert_eq!(out.code, 0, "{out}");
    assert!(out.lines("[失败]").is_empty(), "{out}");
    for expected in [
        "[通过] 配置有效",
        "[通过] 存储目录",
        "[通过] 数据库：已连接，结构版本",
        "[通过] IMAP 127.0.0.1",
        "[通过] IMAP 文件夹“INBOX”：可以打开",
        "[通过] SMTP 127.0.0.1",
    ] {
        assert!(
            out.stdout.lines().any(|l| l.starts_with(expected)),
            "{expected}:\n{out}"
        );
    }
    assert!(out.stdout.contains("支持 IDLE"), "{out}");
    assert!(out.stdout.contains("检查通过"), "{out}");
    // The probe file is gone again.
    assert_eq!(std::fs::read_dir(storage.path()).unwrap().count(), 0);
    // The passwords were handed over in the environment; they are never printed.
    let password = testenv("TESTENV_MAIL_PASSWORD");
    assert!(!out.stdout.contains(&password) && !out.stderr.contains(&password));
}

#[sqlx::test(migrations = "./migrations")]
async fn a_wrong_imap_code_fails_the_imap_line(pool: PgPool) {
    let storage = tempfile::tempdir().unwrap();
    let out = check(
        &url_of(&pool),
        storage.path(),
        &[("REPORTBOX_MAILBOX__PASSWORD", "wrong-code")],
    )
    .await;
    fails_only(&out, "IMAP", "登录被拒绝");
}

#[sqlx::test(migrations = "./migrations")]
async fn a_wrong_smtp_code_fails_the_smtp_line(pool: PgPool) {
    let storage = tempfile::tempdir().unwrap();
    let out = check(
        &url_of(&pool),
        storage.path(),
        &[("REPORTBOX_SMTP__PASSWORD", "wrong-code")],
    )
    .await;
    fails_only(&out, "SMTP", "登录被拒绝");
}

#[tokio::test]
async fn a_stopped_database_fails_the_database_line() {
    let storage = tempfile::tempdir().unwrap();
    // Nothing listens on port 1: a PostgreSQL that is not running.
    let out = check(
        "postgres://reportbox:x@127.0.0.1:1/reportbox",
        storage.path(),
        &[],
    )
    .await;
    fails_only(&out, "数据库（database.url）", "无法连接");
}

#[sqlx::test(migrations = "./migrations")]
async fn a_storage_directory_that_cannot_be_written_fails_the_storage_line(pool: PgPool) {
    // Root ignores file modes, so the directory is made impossible instead: under a file.
    let scratch = tempfile::tempdir().unwrap();
    let file = scratch.path().join("not-a-directory");
    std::fs::write(&file, b"x").unwrap();
    let out = check(&url_of(&pool), &file.join("storage"), &[]).await;
    fails_only(&out, "存储目录", "无法创建");
}

#[sqlx::test(migrations = "./migrations")]
async fn warnings_do_not_fail_and_a_gbk_roster_with_chinese_headers_is_read(pool: PgPool) {
    let storage = tempfile::tempdir().unwrap();
    let roster = storage.path().join("名单.csv");
    let text = "单位编号,单位名称,别名,邮箱,分组,联系人,电话\r\n\
                a,小店区科技局,小店区,,县(市、区),,\r\n\
                b,迎泽区科技局,迎泽区,yz@example.test,县(市、区),王,0351-1\r\n";
    let (gbk, _, _) = encoding_rs::GBK.encode(text);
    std::fs::write(&roster, &gbk).unwrap();
    let out = check(
        &url_of(&pool),
        &storage.path().join("store"),
        &[
            ("REPORTBOX_CAMPAIGN__ROSTER", roster.to_str().unwrap()),
            ("REPORTBOX_CAMPAIGN__OPENS", "2023-07-01T00:00:00+08:00"),
            ("REPORTBOX_CAMPAIGN__COORDINATORS", ""),
        ],
    )
    .await;
    assert_eq!(out.code, 0, "{out}");
    assert!(out.stdout.contains("2 个单位"), "{out}");
    assert!(out.stdout.contains("GBK/GB18030 编码"), "{out}");
    let warnings = out.lines("[警告]");
    assert!(
        warnings
            .iter()
            .any(|w| w.contains("1 个单位既没有邮箱也没有电话（小店区科技局）")),
        "{out}"
    );
    assert!(
        warnings.iter().any(|w| w.contains("不晚于开始时间")),
        "{out}"
    );
    assert!(
        warnings
            .iter()
            .any(|w| w.contains("campaign.coordinators 为空")),
        "{out}"
    );
}

#[tokio::test]
async fn a_roster_that_cannot_be_read_says_how_to_save_it() {
    let scratch = tempfile::tempdir().unwrap();
    let roster = scratch.path().join("units.csv");
    // Excel's "Unicode text": UTF-16 with tabs.
    std::fs::write(&roster, b"\xff\xfei\x00d\x00\t\x00").unwrap();
    let out = check(
        "postgres://reportbox:x@127.0.0.1:1/reportbox",
        scratch.path(),
        &[("REPORTBOX_CAMPAIGN__ROSTER", roster.to_str().unwrap())],
    )
    .await;
    assert_eq!(out.code, 78, "{out}");
    assert!(out.stderr.contains("CSV UTF-8（逗号分隔）"), "{out}");
}

/// Under systemd the code arrives by `LoadCredential=mailbox-password:…`: read from
/// `$CREDENTIALS_DIRECTORY`, for IMAP and (163 has one code) SMTP alike.
#[sqlx::test(migrations = "./migrations")]
async fn the_code_is_read_from_the_systemd_credentials_directory(pool: PgPool) {
    let storage = tempfile::tempdir().unwrap();
    let credentials = tempfile::tempdir().unwrap();
    std::fs::write(
        credentials.path().join("mailbox-password"),
        format!("{}\n", testenv("TESTENV_MAIL_PASSWORD")),
    )
    .unwrap();
    let out = check(
        &url_of(&pool),
        storage.path(),
        &[
            ("REPORTBOX_MAILBOX__PASSWORD", ""),
            ("REPORTBOX_SMTP__PASSWORD", ""),
            (
                "CREDENTIALS_DIRECTORY",
                credentials.path().to_str().unwrap(),
            ),
        ],
    )
    .await;
    assert_eq!(out.code, 0, "{out}");
    assert!(out.stdout.contains("[通过] IMAP 127.0.0.1"), "{out}");
    assert!(out.stdout.contains("[通过] SMTP 127.0.0.1"), "{out}");
}
