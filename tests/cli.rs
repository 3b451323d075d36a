//! The `reportbox` binary as the coordinator and ops run it: each test starts the real
//! executable on its own database, storage directory and the samples' roster, and asserts what a
//! person reads (exit status, the words printed) and what changed in the database. Every run is
//! bounded by a timeout (a hang fails the test) and every run's output is checked for the
//! secrets handed over in the environment.

mod common;

use common::bin::{url_of, Out};
use common::{
    assert_status_matches, expected, imap_wait, repo, samples_dir, test_address, testenv, unit,
    Mail,
};
use serde_json::Value;
use sqlx::PgPool;
use std::path::PathBuf;
use std::time::{Duration, Instant};

const MAILBOX_SECRET: &str = "sekrit-123";
const SMTP_SECRET: &str = "sekrit-smtp-456";
const DB_SECRET: &str = "sekrit-db-789";
/// A PostgreSQL that is not there: nothing listens on port 1.
const DOWN_URL: &str = "postgres://reportbox:sekrit-db-789@127.0.0.1:1/reportbox";
/// Long enough for a debug build importing the corpus on a busy machine; a hang still fails.
const TIMEOUT: Duration = Duration::from_secs(180);
const NOW: &str = "2023-06-07T09:30:00+08:00";

/// One coordinator's world: a database URL, a storage directory, the samples' roster.
struct Desk {
    url: String,
    storage: tempfile::TempDir,
    env: Vec<(String, String)>,
}

impl Desk {
    /// A desk on the test's own database, migrated first as ops would: only `migrate`, `run` and
    /// `once` create tables.
    fn new(pool: &PgPool) -> Desk {
        let desk = Desk::with_url(&url_of(pool));
        let migrated = std::process::Command::new(env!("CARGO_BIN_EXE_reportbox"))
            .current_dir(repo())
            .args(["--config", "config/reportbox.toml", "migrate"])
            .env("REPORTBOX_DATABASE__URL", &desk.url)
            .env("REPORTBOX_STORAGE__DIR", desk.storage.path())
            .env(
                "REPORTBOX_CAMPAIGN__ROSTER",
                samples_dir().join("roster.csv"),
            )
            .output()
            .expect("reportbox migrate runs");
        assert!(
            migrated.status.success(),
            "migrate: {}",
            String::from_utf8_lossy(&migrated.stderr)
        );
        desk
    }

    /// A desk on the test's own database as it was created: no tables.
    fn unmigrated(pool: &PgPool) -> Desk {
        Desk::with_url(&url_of(pool))
    }

    fn with_url(url: &str) -> Desk {
        Desk {
            url: url.to_string(),
            storage: tempfile::tempdir().unwrap(),
            env: Vec::new(),
        }
    }

    fn set(mut self, key: &str, value: &str) -> Desk {
        self.env.push((key.into(), value.into()));
        self
    }

    async fn run(&self, args: &[&str]) -> Out {
        let mut cmd = common::bin::command(args);
        cmd.env("REPORTBOX_DATABASE__URL", &self.url)
            .env("REPORTBOX_STORAGE__DIR", self.storage.path())
            .env(
                "REPORTBOX_CAMPAIGN__ROSTER",
                samples_dir().join("roster.csv"),
            )
            .env("REPORTBOX_MAILBOX__PASSWORD", MAILBOX_SECRET)
            .env("REPORTBOX_SMTP__PASSWORD", SMTP_SECRET)
            .envs(self.env.iter().map(|(k, v)| (k, v)));
        let out = common::bin::output(cmd, TIMEOUT).await;
        for secret in [MAILBOX_SECRET, SMTP_SECRET, DB_SECRET] {
            assert!(
                !out.all().contains(secret),
                "reportbox {args:?} printed a secret:\n{out}"
            );
        }
        out
    }

    /// Runs and expects exit 0.
    async fn ok(&self, args: &[&str]) -> Out {
        let out = self.run(args).await;
        assert_eq!(out.code, 0, "reportbox {args:?}:\n{out}");
        out
    }

    async fn status_json(&self) -> Value {
        let out = self.ok(&["status", "--format", "json"]).await;
        serde_json::from_str(&out.stdout)
            .unwrap_or_else(|e| panic!("status --format json is not JSON ({e}):\n{out}"))
    }
}

fn corpus() -> String {
    samples_dir().join("corpus").display().to_string()
}

fn sample(name: &str) -> PathBuf {
    samples_dir().join("corpus").join(name)
}

async fn count(pool: &PgPool, sql: &str) -> i64 {
    sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_owned()))
        .fetch_one(pool)
        .await
        .unwrap()
}

/// Rows of every table the commands write, to see that something changed nothing.
async fn counts(pool: &PgPool) -> Vec<i64> {
    let mut out = Vec::new();
    for t in [
        "messages",
        "files",
        "exemptions",
        "audit",
        "outbox",
        "schedule_runs",
        "learned_addresses",
    ] {
        out.push(count(pool, &format!("SELECT count(*) FROM {t}")).await);
    }
    out
}

// ---------- check-config ----------

#[tokio::test]
async fn check_config_accepts_the_shipped_configuration() {
    let b = Desk::with_url(DOWN_URL);
    let out = b.ok(&["check-config"]).await;
    assert!(out.stdout.contains("配置有效"), "{out}");
    assert!(out.stdout.contains("2023年太原市科技活动周"), "{out}");
    assert!(out.stdout.contains("7 个单位"), "{out}");
    assert!(out.stdout.contains("3 项材料"), "{out}");
    assert!(
        out.stdout.contains("收取的文件夹：INBOX、垃圾邮件"),
        "{out}"
    );
}

#[tokio::test]
async fn a_broken_configuration_is_reported_all_at_once_with_exit_78() {
    let b = Desk::with_url("mysql://reportbox:sekrit-db-789@127.0.0.1/reportbox")
        .set("REPORTBOX_CAMPAIGN__DEADLINE", "before June 10")
        .set("REPORTBOX_CAMPAIGN__TIMEZONE", "Mars/Olympus")
        .set("REPORTBOX_SMTP__TLS", "maybe")
        .set("REPORTBOX_SCHEDULE__DAILY_REPORT_AT", "25:99")
        .set("REPORTBOX_CAMPAIGN__ROSTER", "/nonexistent/roster.csv");
    // check-config, an ordinary command and the daemon alike: 78, which systemd does not
    // restart (deploy/reportbox.service).
    for args in [&["check-config"][..], &["status"], &["run"]] {
        let out = b.run(args).await;
        assert_eq!(out.code, 78, "{args:?}: EX_CONFIG\n{out}");
        assert!(out.stdout.is_empty(), "{out}");
        for key in [
            "database.url",
            "campaign.deadline",
            "campaign.timezone",
            "smtp.tls",
            "schedule.daily_report_at",
            "campaign.roster",
        ] {
            assert!(out.stderr.contains(key), "{args:?}: {key} not named\n{out}");
        }
    }
}

#[tokio::test]
async fn a_missing_configuration_file_is_a_configuration_error() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_reportbox"))
        .current_dir(repo())
        .args(["--config", "config/nonexistent.toml", "check-config"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(78));
    assert!(String::from_utf8_lossy(&out.stderr).contains("nonexistent.toml"));
}

// ---------- migrate, import ----------

#[sqlx::test(migrations = false)]
async fn migrate_twice_is_idempotent(pool: PgPool) {
    let b = Desk::unmigrated(&pool);
    let first = b.ok(&["migrate"]).await;
    assert!(first.stdout.contains("数据库已是最新结构"), "{first}");
    let applied = count(&pool, "SELECT count(*) FROM _sqlx_migrations").await;
    assert!(applied >= 3);
    let units = count(&pool, "SELECT count(*) FROM units WHERE active").await;
    assert_eq!(units, 7, "the roster is mirrored");
    let second = b.ok(&["migrate"]).await;
    assert!(second.stdout.contains("数据库已是最新结构"), "{second}");
    assert_eq!(
        count(&pool, "SELECT count(*) FROM _sqlx_migrations").await,
        applied
    );
}

/// On the server, a read-only command aimed at the wrong database, or run after an upgrade
/// before `migrate`, must not create or alter tables there.
#[sqlx::test(migrations = false)]
async fn read_only_commands_refuse_a_missing_or_old_schema_and_change_nothing(pool: PgPool) {
    let tables = "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'";
    let b = Desk::unmigrated(&pool);
    let commands: [&[&str]; 5] = [
        &["status"],
        &["status", "--format", "json"],
        &["import", &corpus()],
        &["remind", "--dry-run", "--now", NOW],
        &["exempt", "city-daily", "--reason", "x"],
    ];
    for args in commands {
        let out = b.run(args).await;
        assert_eq!(out.code, 1, "{args:?}:\n{out}");
        assert!(
            out.stderr.contains("还没有 reportbox 的表")
                && out.stderr.contains("reportbox migrate"),
            "{args:?}:\n{out}"
        );
        assert_eq!(count(&pool, tables).await, 0, "{args:?} created tables");
    }
    b.ok(&["migrate"]).await;
    // As if this binary were newer than the last migrate: the newest migration not applied.
    sqlx::query(
        "DELETE FROM _sqlx_migrations WHERE version = (SELECT max(version) FROM _sqlx_migrations)",
    )
    .execute(&pool)
    .await
    .unwrap();
    let before = counts(&pool).await;
    let out = b.run(&["status"]).await;
    assert_eq!(out.code, 1, "{out}");
    assert!(out.stderr.contains("旧于本程序需要的"), "{out}");
    assert_eq!(counts(&pool).await, before);
}

#[sqlx::test(migrations = false)]
async fn importing_the_corpus_twice_changes_nothing_the_second_time(pool: PgPool) {
    let b = Desk::new(&pool);
    let first = b.ok(&["import", &corpus()]).await;
    assert!(
        first
            .stdout
            .contains("导入完成：新增 8 封，已存在 0 封，失败 0 封"),
        "{first}"
    );
    assert!(
        first
            .stdout
            .contains("01_city-police.eml：编号 1，计入“市公安局”"),
        "{first}"
    );
    assert!(
        first.stdout.contains("08_unidentified.eml") && first.stdout.contains("无法确定单位"),
        "{first}"
    );
    assert!(first.stdout.contains("自动回复"), "{first}");
    let before = counts(&pool).await;
    let mut status_before = b.status_json().await;

    let second = b.ok(&["import", &corpus()]).await;
    assert!(
        second
            .stdout
            .contains("导入完成：新增 0 封，已存在 8 封，失败 0 封"),
        "{second}"
    );
    assert_eq!(
        second.stdout.matches("已导入过，跳过").count(),
        8,
        "{second}"
    );
    assert_eq!(counts(&pool).await, before);
    let status_after = b.status_json().await;
    status_before["generated_at"] = status_after["generated_at"].clone();
    assert_eq!(status_after, status_before);
}

#[sqlx::test(migrations = false)]
async fn a_single_eml_file_is_imported(pool: PgPool) {
    let b = Desk::new(&pool);
    let path = sample("02_city-urban.eml");
    let out = b.ok(&["import", path.to_str().unwrap()]).await;
    assert!(out.stdout.contains("计入“市城乡管理局”"), "{out}");
    assert!(out.stdout.contains("新增 1 封"), "{out}");
    assert_eq!(count(&pool, "SELECT count(*) FROM messages").await, 1);
    let status = b.status_json().await;
    assert_eq!(unit(&status, "city-urban")["status"], "complete");
}

/// mboxrd: a `From ` line before each message, `>` added to every `>*From ` line of a body,
/// a blank line after each message.
fn mbox_of(messages: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::new();
    for m in messages {
        out.extend_from_slice(b"From MAILER-DAEMON Mon Jun  5 10:00:00 2023\n");
        for line in m.split_inclusive(|&b| b == b'\n') {
            let gt = line.iter().take_while(|&&b| b == b'>').count();
            if line[gt..].starts_with(b"From ") {
                out.push(b'>');
            }
            out.extend_from_slice(line);
        }
        out.extend_from_slice(b"\n");
    }
    out
}

#[sqlx::test(migrations = false)]
async fn an_mbox_file_is_split_unquoted_and_recognised_byte_for_byte(pool: PgPool) {
    let b = Desk::new(&pool);
    let police = std::fs::read(sample("01_city-police.eml")).unwrap();
    let unidentified = std::fs::read(sample("08_unidentified.eml")).unwrap();
    let quoting = b"From: someone@example.com\r\nTo: w251342595@163.com\r\n\
Subject: mbox quoting\r\nMessage-ID: <mbox-quoting@example.com>\r\n\
Date: Mon, 05 Jun 2023 10:00:00 +0800\r\n\r\n\
From the bureau: a line that an mbox must escape\r\n\
>From a line that was already quoted\r\n"
        .to_vec();
    let dir = tempfile::tempdir().unwrap();
    let mbox = dir.path().join("export.mbox");
    std::fs::write(&mbox, mbox_of(&[&police, &unidentified, &quoting])).unwrap();

    let out = b.ok(&["import", mbox.to_str().unwrap()]).await;
    assert!(out.stdout.contains("export.mbox#1：编号"), "{out}");
    assert!(out.stdout.contains("export.mbox#3：编号"), "{out}");
    assert!(out.stdout.contains("新增 3 封"), "{out}");
    let stored = count(
        &pool,
        &format!(
            "SELECT count(*) FROM messages WHERE raw_sha256 = '{}'",
            reportbox::store::sha256_hex(&quoting)
        ),
    )
    .await;
    assert_eq!(
        stored, 1,
        "the third message comes back exactly, >From undone"
    );

    // The samples come out of the mbox byte for byte: importing them as .eml finds them known.
    let again = b
        .ok(&[
            "import",
            sample("01_city-police.eml").to_str().unwrap(),
            sample("08_unidentified.eml").to_str().unwrap(),
        ])
        .await;
    assert!(
        again.stdout.contains("新增 0 封，已存在 2 封"),
        "the mbox altered a message:\n{again}"
    );
}

/// An export some tools write: a BOM, no blank line before a separator, and a body line
/// starting `From ` that nobody quoted.
#[sqlx::test(migrations = false)]
async fn an_mbox_is_split_where_a_header_follows_a_from_line_and_nowhere_else(pool: PgPool) {
    let b = Desk::new(&pool);
    let police = std::fs::read(sample("01_city-police.eml")).unwrap();
    let unidentified = std::fs::read(sample("08_unidentified.eml")).unwrap();
    let unquoted = b"From: someone@example.com\r\nTo: w251342595@163.com\r\n\
Subject: unquoted\r\nMessage-ID: <mbox-unquoted@example.com>\r\n\
Date: Mon, 05 Jun 2023 10:00:00 +0800\r\n\r\nDear all,\r\n\r\n\
From the bureau, greetings\r\nand more text\r\n"
        .to_vec();
    let mut mbox = b"\xEF\xBB\xBFFrom MAILER-DAEMON Mon Jun  5 10:00:00 2023\r\n".to_vec();
    mbox.extend_from_slice(&police);
    assert!(police.ends_with(b"\n") && !police.ends_with(b"\n\n"));
    mbox.extend_from_slice(b"From MAILER-DAEMON Mon Jun  5 10:00:00 2023\r\n");
    mbox.extend_from_slice(&unidentified);
    mbox.extend_from_slice(b"\r\nFrom MAILER-DAEMON Mon Jun  5 10:00:00 2023\r\n");
    mbox.extend_from_slice(&unquoted);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("export.mbx");
    std::fs::write(&path, mbox).unwrap();

    let out = b.ok(&["import", path.to_str().unwrap()]).await;
    assert!(out.stdout.contains("新增 3 封"), "{out}");
    assert!(
        out.stdout.contains("export.mbx#1：编号 1，计入“市公安局”"),
        "{out}"
    );
    for (what, raw) in [("the unquoted one", &unquoted), ("the police one", &police)] {
        let stored = count(
            &pool,
            &format!(
                "SELECT count(*) FROM messages WHERE raw_sha256 = '{}'",
                reportbox::store::sha256_hex(raw)
            ),
        )
        .await;
        assert_eq!(stored, 1, "{what} comes back exactly");
    }
}

#[sqlx::test(migrations = false)]
async fn a_missing_path_or_a_non_mail_file_is_named_and_the_rest_is_imported(pool: PgPool) {
    let b = Desk::new(&pool);
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(sample("03_city-tv.eml"), dir.path().join("03_city-tv.eml")).unwrap();
    std::fs::write(dir.path().join("说明.txt"), "导出自163邮箱").unwrap();
    std::fs::write(dir.path().join("Thumbs.db"), [0u8, 1, 2, 3]).unwrap();

    // A directory with other files in it: they are listed as skipped; exit 0.
    let out = b.ok(&["import", dir.path().to_str().unwrap()]).await;
    assert!(out.stdout.contains("说明.txt：不是邮件文件"), "{out}");
    assert!(out.stdout.contains("Thumbs.db"), "{out}");
    assert!(out.stdout.contains("新增 1 封"), "{out}");
    assert!(out.stdout.contains("跳过非邮件文件 2 个"), "{out}");

    // A path that does not exist and a file that is not mail, given by name: named on stderr,
    // not recorded, the rest imported, exit 1.
    let missing = dir.path().join("no-such.eml");
    let roster = samples_dir().join("roster.csv");
    let out = b
        .run(&[
            "import",
            missing.to_str().unwrap(),
            roster.to_str().unwrap(),
            sample("04_city-medical-insurance.eml").to_str().unwrap(),
        ])
        .await;
    assert_eq!(out.code, 1, "{out}");
    assert!(out.stderr.contains("no-such.eml：路径不存在"), "{out}");
    assert!(out.stderr.contains("roster.csv：不是邮件"), "{out}");
    assert!(out.stdout.contains("计入“市医疗保障局”"), "{out}");
    assert!(out.stdout.contains("新增 1 封"), "{out}");
    assert!(out.stdout.contains("未导入的路径 2 个"), "{out}");
    assert_eq!(count(&pool, "SELECT count(*) FROM messages").await, 2);

    // Nothing at all to import.
    let out = b.run(&["import", missing.to_str().unwrap()]).await;
    assert_eq!(out.code, 1, "{out}");
    assert!(out.stderr.contains("没有找到邮件文件"), "{out}");
}

// ---------- status ----------

#[sqlx::test(migrations = false)]
async fn status_prints_every_unit_of_the_roster_in_chinese(pool: PgPool) {
    let b = Desk::new(&pool);
    b.ok(&["import", &corpus()]).await;
    let out = b.ok(&["status"]).await;
    let table = &out.stdout;
    assert!(table.starts_with("2023年太原市科技活动周"), "{out}");
    assert!(table.contains("共 7 个单位"), "{out}");
    let roster = std::fs::read_to_string(samples_dir().join("roster.csv")).unwrap();
    for line in roster.lines().skip(1) {
        let name = line.split(',').nth(1).unwrap();
        assert!(
            table.lines().any(|l| l.starts_with(name)),
            "{name} missing:\n{out}"
        );
    }
    let row = |name: &str| {
        table
            .lines()
            .find(|l| l.starts_with(name))
            .unwrap()
            .to_string()
    };
    assert!(row("市公安局").contains("已完成"), "{out}");
    assert!(row("市医疗保障局").contains("未完成"), "{out}");
    assert!(row("市医疗保障局").contains("不合格"), "{out}");
    assert!(row("市档案馆").contains("待审核"), "{out}");
    assert!(row("太原日报社").contains("未报送"), "{out}");
    assert!(
        !table.contains("逾期"),
        "nothing in the samples is late:\n{out}"
    );
    assert!(
        table.contains("应为整数"),
        "the problem is spelled out:\n{out}"
    );
    assert!(
        table.contains("assign"),
        "how to settle the unmatched message:\n{out}"
    );
    assert!(
        !table.contains("complete") && !table.contains("needs_review"),
        "no English state names:\n{out}"
    );

    // With an earlier deadline the later senders are flagged late.
    let early = Desk {
        url: b.url.clone(),
        storage: tempfile::tempdir().unwrap(),
        env: vec![(
            "REPORTBOX_CAMPAIGN__DEADLINE".into(),
            "2023-06-06T00:00:00+08:00".into(),
        )],
    };
    let out = early.ok(&["status"]).await;
    let late_row = out
        .stdout
        .lines()
        .find(|l| l.starts_with("市国资委"))
        .unwrap();
    assert!(late_row.contains("逾期"), "{out}");
    let on_time = out
        .stdout
        .lines()
        .find(|l| l.starts_with("市公安局"))
        .unwrap();
    assert!(!on_time.contains("逾期"), "{out}");
    let json = early.status_json().await;
    assert_eq!(unit(&json, "city-sasac")["late"], true);
    assert_eq!(unit(&json, "city-police")["late"], false);
}

#[sqlx::test(migrations = false)]
async fn status_json_matches_the_contract_for_the_samples(pool: PgPool) {
    let b = Desk::new(&pool);
    b.ok(&["import", &corpus()]).await;
    let status = b.status_json().await;
    let exp = expected();
    assert_eq!(
        status["units"].as_array().unwrap().len(),
        exp["units"].as_object().unwrap().len()
    );
    // Through stdout, the same verdicts as the library gives in tests/samples.rs.
    assert_status_matches(&status, &exp);
}

// ---------- assign, exempt ----------

#[sqlx::test(migrations = false)]
async fn assign_counts_the_unmatched_message_and_refuses_unknown_ids_in_chinese(pool: PgPool) {
    let b = Desk::new(&pool);
    b.ok(&["import", &corpus()]).await;
    let message_id = expected()["unmatched"][0]["message_id"]
        .as_str()
        .unwrap()
        .to_string();

    let before = counts(&pool).await;
    let out = b
        .run(&["assign", "<no-such-message@qq.com>", "city-daily"])
        .await;
    assert_ne!(out.code, 0, "{out}");
    assert!(
        out.stderr.contains("找不到邮件 <no-such-message@qq.com>"),
        "{out}"
    );
    let out = b.run(&["assign", &message_id, "no-such-unit"]).await;
    assert_ne!(out.code, 0, "{out}");
    assert!(out.stderr.contains("单位名单中没有“no-such-unit”"), "{out}");
    assert!(out.stderr.contains("reportbox units"), "{out}");
    assert_eq!(
        counts(&pool).await,
        before,
        "a refused assign changes nothing"
    );

    let out = b.ok(&["assign", &message_id, "city-daily"]).await;
    assert!(out.stdout.contains("已计入“太原日报社”"), "{out}");
    let status = b.status_json().await;
    assert!(
        status["unmatched"].as_array().unwrap().is_empty(),
        "{status:#}"
    );
    let daily = unit(&status, "city-daily");
    assert_ne!(daily["status"], "missing", "{daily:#}");
    assert!(daily["last_received_at"].is_string(), "{daily:#}");
    let table = b.ok(&["status"]).await.stdout;
    assert!(!table.contains("无法确定报送单位的邮件"), "{table}");
}

#[sqlx::test(migrations = false)]
async fn exempt_and_clear(pool: PgPool) {
    let b = Desk::new(&pool);
    b.ok(&["import", &corpus()]).await;
    let out = b
        .ok(&[
            "exempt",
            "city-daily",
            "--reason",
            "已电话说明，不参加本次活动",
        ])
        .await;
    assert!(
        out.stdout
            .contains("“太原日报社”已设为免报：已电话说明，不参加本次活动"),
        "{out}"
    );
    let status = b.status_json().await;
    assert_eq!(unit(&status, "city-daily")["status"], "exempt");
    let table = b.ok(&["status"]).await.stdout;
    let row = table.lines().find(|l| l.starts_with("太原日报社")).unwrap();
    assert!(row.contains("免报"), "{table}");
    assert!(table.contains("免报 1"), "{table}");
    let reminded = b.ok(&["remind", "--dry-run", "--now", NOW]).await;
    assert!(!reminded.stdout.contains("太原日报社"), "{reminded}");

    let out = b.ok(&["exempt", "city-daily", "--clear"]).await;
    assert!(out.stdout.contains("已取消“太原日报社”的免报"), "{out}");
    assert_eq!(
        unit(&b.status_json().await, "city-daily")["status"],
        "missing"
    );

    let out = b.run(&["exempt", "no-such-unit", "--reason", "x"]).await;
    assert_ne!(out.code, 0, "{out}");
    assert!(out.stderr.contains("单位名单中没有“no-such-unit”"), "{out}");
    // Neither a reason nor --clear: a usage error, nothing done.
    let out = b.run(&["exempt", "city-daily"]).await;
    assert_eq!(out.code, 2, "{out}");
    assert!(out.stderr.contains("--reason"), "{out}");
}

// ---------- units by name (issue 9) ----------

#[tokio::test]
async fn units_lists_every_roster_unit_with_its_id_without_a_database() {
    let b = Desk::with_url(DOWN_URL);
    let out = b.ok(&["units"]).await;
    assert!(out.stdout.starts_with("共 7 个单位"), "{out}");
    let header = out.stdout.lines().find(|l| l.starts_with("编号")).unwrap();
    for column in ["单位名称", "分组", "联系人", "电话", "邮箱", "别名"] {
        assert!(header.contains(column), "{column}:\n{out}");
    }
    let roster = std::fs::read_to_string(samples_dir().join("roster.csv")).unwrap();
    let mut lines = out.stdout.lines();
    // In roster order, each line with the unit's id, name, aliases and addresses.
    for row in roster.lines().skip(1) {
        let fields: Vec<&str> = row.split(',').collect();
        let line = lines
            .find(|l| l.starts_with(&format!("{} ", fields[0])))
            .unwrap_or_else(|| panic!("{} missing or out of order:\n{out}", fields[0]));
        assert!(line.contains(fields[1]), "{line}");
        for alias in fields[2].split(';').filter(|a| !a.is_empty()) {
            assert!(line.contains(alias), "{alias}: {line}");
        }
        for email in fields[3].split(';').filter(|e| !e.is_empty()) {
            assert!(line.contains(email), "{email}: {line}");
        }
    }
}

#[sqlx::test(migrations = false)]
async fn commands_take_a_unit_by_name_alias_or_unique_prefix(pool: PgPool) {
    let b = Desk::new(&pool);
    b.ok(&["import", &corpus()]).await;

    // The status table shows each unit's id, and the unmatched message's number.
    let table = b.ok(&["status"]).await.stdout;
    let row = table.lines().find(|l| l.starts_with("太原日报社")).unwrap();
    assert!(row.contains("city-daily"), "{table}");
    let number = table
        .lines()
        .find_map(|l| l.trim_start().strip_prefix("编号 "))
        .and_then(|rest| rest.split('　').next())
        .unwrap_or_else(|| panic!("no numbered unmatched message:\n{table}"))
        .to_string();
    number.parse::<i64>().expect("a number");

    let out = b
        .ok(&["exempt", "市档案馆", "--reason", "已电话说明"])
        .await;
    assert!(
        out.stdout.contains("“市档案馆”已设为免报：已电话说明"),
        "{out}"
    );
    assert_eq!(
        unit(&b.status_json().await, "city-archives")["status"],
        "exempt"
    );
    let out = b.ok(&["exempt", "太原市档案馆", "--clear"]).await;
    assert!(out.stdout.contains("已取消“市档案馆”的免报"), "{out}");

    // Ambiguous: refused, nothing changed, every candidate named with its id.
    let before = counts(&pool).await;
    let out = b.run(&["assign", &number, "市"]).await;
    assert_ne!(out.code, 0, "{out}");
    for candidate in [
        "市公安局（city-police）",
        "市城乡管理局（city-urban）",
        "市医疗保障局（city-medical-insurance）",
        "市国资委（city-sasac）",
        "市档案馆（city-archives）",
    ] {
        assert!(out.stderr.contains(candidate), "{candidate}:\n{out}");
    }
    assert!(!out.stderr.contains("city-daily"), "{out}");
    let out = b.run(&["exempt", "市", "--reason", "x"]).await;
    assert_ne!(out.code, 0, "{out}");
    assert!(out.stderr.contains("可指 5 个单位"), "{out}");
    assert_eq!(
        counts(&pool).await,
        before,
        "a refused command changes nothing"
    );

    // 档案馆: the alias 太原市档案馆 once the campaign prefix is set aside.
    let out = b.ok(&["assign", &number, "档案馆"]).await;
    assert!(out.stdout.contains("已计入“市档案馆”"), "{out}");
    let status = b.status_json().await;
    assert!(
        status["unmatched"].as_array().unwrap().is_empty(),
        "{status:#}"
    );
    // A unique prefix of a name (太原日报社) moves it on.
    let out = b.ok(&["assign", &number, "太原日"]).await;
    assert!(out.stdout.contains("已计入“太原日报社”"), "{out}");
}

// ---------- remind, report ----------

#[sqlx::test(migrations = false)]
async fn remind_dry_run_lists_who_and_why_and_sends_nothing(pool: PgPool) {
    let b = Desk::new(&pool);
    b.ok(&["import", &corpus()]).await;
    let before = counts(&pool).await;
    let out = b.ok(&["remind", "--dry-run", "--now", NOW]).await;
    let text = &out.stdout;
    assert!(
        text.contains("当前应执行的提醒轮次：2023年6月7日 09:00"),
        "{out}"
    );
    assert!(text.contains("下一轮提醒：2023年6月9日 09:00"), "{out}");
    assert!(text.contains("市医疗保障局 → 2378840916@qq.com"), "{out}");
    assert!(text.contains("开展情况统计表：不合格"), "{out}");
    assert!(text.contains("市国资委 → tygzw_ghc@163.com"), "{out}");
    // Its video is a link waiting for the coordinator's review: nothing for the unit to do.
    assert!(!text.contains("市档案馆"), "{out}");
    assert!(text.contains("太原日报社 → 无邮箱地址"), "{out}");
    assert!(text.contains("影像资料：未报送"), "{out}");
    for done in ["市公安局", "市城乡管理局", "太原广播电视台"] {
        assert!(!text.contains(done), "{done} is complete:\n{out}");
    }
    assert_eq!(counts(&pool).await, before, "a dry run writes nothing");
}

#[sqlx::test(migrations = false)]
async fn report_print_shows_the_daily_status_text_and_queues_nothing(pool: PgPool) {
    let b = Desk::new(&pool);
    b.ok(&["import", &corpus()]).await;
    let before = counts(&pool).await;
    let out = b.ok(&["report", "--print", "--now", NOW]).await;
    let text = &out.stdout;
    assert!(
        text.contains("主题：2023年太原市科技活动周报送情况日报（2023-06-07）"),
        "{out}"
    );
    assert!(text.contains("截至2023年6月7日 09:30"), "{out}");
    assert!(text.contains("未配置 campaign.coordinators"), "{out}");
    for name in [
        "市公安局",
        "市城乡管理局",
        "太原广播电视台",
        "市医疗保障局",
        "市国资委",
        "市档案馆",
        "太原日报社",
    ] {
        assert!(text.contains(name), "{name}:\n{out}");
    }
    // How to assign an unmatched message, in words and by its number: the email is read by
    // someone who runs no commands.
    assert!(text.contains("按邮件编号"), "{out}");
    assert!(!text.contains("reportbox assign"), "{out}");
    assert_eq!(counts(&pool).await, before, "--print queues nothing");

    let b = b.set("REPORTBOX_CAMPAIGN__COORDINATORS", "wang@example.gov.cn");
    let out = b.ok(&["report", "--print", "--now", NOW]).await;
    assert!(out.stdout.contains("收件人：wang@example.gov.cn"), "{out}");
}

// ---------- a refused SMTP code ----------

/// `resend-ack` says what became of the acknowledgement. The desk's SMTP password is not the
/// test server's, so Postfix (through Dovecot SASL) refuses it with 535.
#[sqlx::test(migrations = false)]
async fn resend_ack_tells_a_paused_queue_from_a_sent_acknowledgement(pool: PgPool) {
    let unit_address = test_address("urban");
    let dir = tempfile::tempdir().unwrap();
    let eml = dir.path().join("urban.eml");
    std::fs::write(
        &eml,
        Mail::new(&unit_address, "市城乡管理局报送科技活动周材料").build(),
    )
    .unwrap();
    let b = Desk::new(&pool)
        .set("REPORTBOX_SMTP__HOST", &testenv("TESTENV_SMTP_HOST"))
        .set("REPORTBOX_SMTP__PORT", &testenv("TESTENV_SMTP_PORT"))
        .set("REPORTBOX_SMTP__TLS", "none")
        .set("REPORTBOX_SMTP__USERNAME", &test_address("desk-sender"))
        .set("REPORTBOX_SMTP__MAX_PER_MINUTE", "60000");
    b.ok(&["import", eml.to_str().unwrap()]).await;

    let out = b.run(&["resend-ack", "1"]).await;
    assert_eq!(out.code, 1, "{out}");
    assert!(
        out.stdout.contains("回执已排入发送队列，但尚未发出"),
        "{out}"
    );
    assert!(out.stdout.contains("邮箱授权码被拒绝"), "{out}");
    assert!(!out.stdout.contains("回执已重新发送"), "{out}");
    let sql = "SELECT count(*) FROM outbox WHERE state = 'pending' AND attempts = 0";
    assert_eq!(
        count(&pool, sql).await,
        2,
        "the import's ack and the resend, both kept"
    );
    let failed = "SELECT count(*) FROM outbox WHERE state = 'failed'";
    assert_eq!(count(&pool, failed).await, 0);
    let out = b.ok(&["send"]).await;
    assert!(out.stdout.contains("发出 0 封"), "{out}");
    assert!(out.stdout.contains("邮箱授权码被拒绝"), "{out}");

    // The code corrected; past the pause, the queue goes out without being asked again.
    let b = b.set(
        "REPORTBOX_SMTP__PASSWORD",
        &testenv("TESTENV_MAIL_PASSWORD"),
    );
    let later = (chrono::Utc::now() + chrono::Duration::minutes(10)).to_rfc3339();
    let out = b.ok(&["send", "--now", &later]).await;
    assert!(out.stdout.contains("发出 2 封"), "{out}");
    assert_eq!(imap_wait(&unit_address, 2).await.len(), 2);

    let out = b.ok(&["resend-ack", "1"]).await;
    assert!(
        out.stdout
            .contains(&format!("回执已重新发送至 {unit_address}")),
        "{out}"
    );
    assert_eq!(count(&pool, failed).await, 0);
}

// ---------- the database down ----------

#[tokio::test]
async fn every_command_fails_fast_and_clearly_when_the_database_is_down() {
    let b = Desk::with_url(DOWN_URL);
    let corpus = corpus();
    let commands: [&[&str]; 11] = [
        &["migrate"],
        &["import", &corpus],
        &["status"],
        &["status", "--format", "json"],
        &["assign", "<x@y>", "city-daily"],
        &["exempt", "city-daily", "--reason", "x"],
        &["remind", "--dry-run", "--now", NOW],
        &["report", "--print", "--now", NOW],
        &["resend-ack", "1"],
        &["once"],
        // The daemon: it exits 1 (systemd restarts it after RestartSec), not 0 and not 78.
        &["run"],
    ];
    for args in commands {
        let out = b.run(args).await;
        assert_eq!(out.code, 1, "{args:?}:\n{out}");
        assert!(out.took < Duration::from_secs(15), "{args:?} slow:\n{out}");
        assert!(
            out.stderr.contains("无法连接数据库（database.url）"),
            "{out}"
        );
        assert!(
            out.stderr.contains("Connection refused"),
            "the cause:\n{out}"
        );
        assert_eq!(
            out.stderr.matches("Connection refused").count(),
            1,
            "said once:\n{out}"
        );
        assert!(out.stdout.is_empty(), "{args:?}:\n{out}");
    }
}

#[sqlx::test(migrations = false)]
async fn a_wrong_database_name_is_named(pool: PgPool) {
    let url = url_of(&pool);
    let (server, _) = url.rsplit_once('/').unwrap();
    let b = Desk::with_url(&format!("{server}/reportbox_no_such_database"));
    let out = b.run(&["status"]).await;
    assert_eq!(out.code, 1, "{out}");
    assert!(out.stderr.contains("reportbox_no_such_database"), "{out}");
}

/// The daemon on a working database with an unreachable mailbox: it keeps retrying (slowly),
/// logs plain text for the journal, and stops with exit 0 on SIGTERM well within the unit's
/// TimeoutStopSec.
#[sqlx::test(migrations = false)]
async fn run_retries_an_unreachable_mailbox_and_stops_cleanly_on_sigterm(pool: PgPool) {
    let b = Desk::new(&pool)
        .set("REPORTBOX_MAILBOX__HOST", "127.0.0.1")
        .set("REPORTBOX_MAILBOX__PORT", "1")
        .set("REPORTBOX_MAILBOX__TLS", "none")
        .set("REPORTBOX_SMTP__HOST", "127.0.0.1")
        .set("REPORTBOX_SMTP__PORT", "1")
        .set("REPORTBOX_SMTP__TLS", "none");
    let mut cmd = common::bin::command(&["run"]);
    let child = cmd
        .env("REPORTBOX_DATABASE__URL", &b.url)
        .env("REPORTBOX_STORAGE__DIR", b.storage.path())
        .env(
            "REPORTBOX_CAMPAIGN__ROSTER",
            samples_dir().join("roster.csv"),
        )
        .env("REPORTBOX_MAILBOX__PASSWORD", MAILBOX_SECRET)
        .env("REPORTBOX_SMTP__PASSWORD", SMTP_SECRET)
        .envs(b.env.iter().map(|(k, v)| (k, v)))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    tokio::time::sleep(Duration::from_secs(4)).await;
    let pid = child.id().expect("still running").to_string();
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(killed.success());
    let started = Instant::now();
    let output = tokio::time::timeout(Duration::from_secs(15), child.wait_with_output())
        .await
        .expect("stops within TimeoutStopSec after SIGTERM")
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(started.elapsed() < Duration::from_secs(10), "{stderr}");
    assert!(stderr.contains("mailbox unavailable"), "{stderr}");
    assert!(
        stderr.matches("mailbox unavailable").count() <= 3,
        "no hot retry loop:\n{stderr}"
    );
    assert!(
        !stderr.contains('\u{1b}'),
        "no colour codes in the journal:\n{stderr}"
    );
    for secret in [MAILBOX_SECRET, SMTP_SECRET] {
        assert!(!stderr.contains(secret), "{stderr}");
    }
}

/// systemd restarts the daemon after a DB outage (exit 1) but not after a configuration error
/// (exit 78), and never back to back.
#[test]
fn the_systemd_unit_restarts_failures_but_not_configuration_errors() {
    let unit = std::fs::read_to_string(repo().join("deploy/reportbox.service")).unwrap();
    let value = |key: &str| {
        unit.lines()
            .find_map(|l| l.strip_prefix(&format!("{key}=")))
            .unwrap_or_else(|| panic!("{key}= missing"))
            .trim()
            .to_string()
    };
    assert_eq!(value("Restart"), "on-failure");
    let restart_sec: u64 = value("RestartSec").parse().unwrap();
    assert!(restart_sec >= 5, "RestartSec={restart_sec} would spin");
    assert!(value("RestartPreventExitStatus")
        .split_whitespace()
        .any(|s| s == "78"));
    assert!(
        !unit.contains("SuccessExitStatus=1"),
        "exit 1 must count as a failure"
    );
}
