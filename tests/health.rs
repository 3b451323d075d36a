//! Health you can see (issue 10 item 6), against the loopback stack and the real binary:
//! `status` shows each folder's last poll and the outbox backlog after a real `once`; the
//! metrics endpoint of `run` counts a processed message and its acknowledgement; `failures`
//! lists a given-up message and a failed email and `retry` brings each back exactly once; a
//! SIGHUP after the code file is corrected makes a paused sender deliver at once.
//!
//! Nothing waits a fixed time: each step polls for its outcome within a generous deadline.

mod mailbox_support;

use mailbox_support::common::bin::Out;
use mailbox_support::common::{self, imap_messages, imap_wait, smtp_env, test_address, Mail};
use mailbox_support::{imap, mailbox_env, smtp_send, uniq_user, url_of, wait_delivered, Daemon};
use serde_json::Value;
use sqlx::PgPool;
use std::path::PathBuf;
use std::time::Duration;

/// Long enough for a debug build on a busy machine; a hang still fails.
const TIMEOUT: Duration = Duration::from_secs(180);

/// A port on loopback where nothing listens: an SMTP server that is down.
fn dead_port() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port().to_string()
}

/// One coordinator's world: the test's database, storage, roster and mailbox.
struct World {
    url: String,
    storage: tempfile::TempDir,
    roster: PathBuf,
    env: Vec<(String, String)>,
}

impl World {
    fn new(pool: &PgPool, units: &[(&str, &str, &str)], env: Vec<(String, String)>) -> World {
        let storage = tempfile::tempdir().unwrap();
        let rows: Vec<(&str, &str, &str, &str)> = units
            .iter()
            .map(|(id, name, address)| (*id, *name, "", *address))
            .collect();
        let roster = common::write_roster(storage.path(), &rows);
        World {
            url: url_of(pool),
            storage,
            roster,
            env,
        }
    }

    fn storage(&self) -> PathBuf {
        self.storage.path().join("objects")
    }

    /// What `Daemon::spawn` should add for this world.
    fn daemon_env(&self) -> Vec<(String, String)> {
        let mut env = vec![(
            "REPORTBOX_CAMPAIGN__ROSTER".to_string(),
            self.roster.display().to_string(),
        )];
        env.extend(self.env.iter().cloned());
        env
    }

    async fn run(&self, args: &[&str]) -> Out {
        let mut cmd = common::bin::command(args);
        cmd.env("REPORTBOX_DATABASE__URL", &self.url)
            .env("REPORTBOX_STORAGE__DIR", self.storage())
            .env("REPORTBOX_CAMPAIGN__ROSTER", &self.roster)
            .envs(smtp_env())
            .envs(self.env.iter().cloned());
        common::bin::output(cmd, TIMEOUT).await
    }

    async fn json(&self, args: &[&str]) -> Value {
        let out = self.run(args).await;
        assert_eq!(out.code, 0, "{out}");
        serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("{e}: {out}"))
    }
}

fn with(mut env: Vec<(String, String)>, key: &str, value: &str) -> Vec<(String, String)> {
    env.push((key.to_string(), value.to_string()));
    env
}

async fn junk_folder(user: &str) {
    let mut s = imap(user).await;
    s.create(reportbox::mailbox::utf7::encode("垃圾邮件"))
        .await
        .unwrap();
    let _ = s.logout().await;
}

#[sqlx::test(migrations = "./migrations")]
async fn after_once_status_shows_each_folders_last_poll_and_the_outbox_backlog(pool: PgPool) {
    let user = uniq_user("health");
    let unit = test_address("health-unit");
    // The SMTP server is down: the acknowledgements stay queued, which is the backlog to see.
    let env = with(
        mailbox_env(&user, "reportbox", "none"),
        "REPORTBOX_SMTP__PORT",
        &dead_port(),
    );
    let world = World::new(&pool, &[("police", "市公安局", &unit)], env);
    junk_folder(&user).await;
    for subject in ["市公安局报送材料", "市公安局补充材料"] {
        smtp_send(&user, &submission(&unit, subject)).await;
    }
    wait_delivered(&user, "INBOX", 2).await;

    let once = world.run(&["once"]).await;
    assert_eq!(once.code, 0, "{once}");
    assert!(once.stdout.contains("新记录 2 封"), "{once}");

    let status = world.json(&["status", "--format", "json"]).await;
    // §9 as it was, the service beside it.
    assert!(status["units"].is_array() && status["counts"].is_object());
    let service = &status["service"];
    let folders = service["folders"].as_array().unwrap();
    let folder = |name: &str| {
        folders
            .iter()
            .find(|f| f["folder"] == name)
            .unwrap_or_else(|| panic!("{name} in {service:#}"))
    };
    assert_eq!(folder("INBOX")["last_uid"], 2, "{service:#}");
    assert_eq!(folder("垃圾邮件")["last_uid"], 0, "{service:#}");
    for f in folders {
        assert!(f["last_poll_at"].is_string(), "{service:#}");
    }
    // The pass ends at the first email the absent server does not take: that one waits for its
    // retry, the other is still due now.
    let acks: i64 = sqlx::query_scalar("SELECT count(*) FROM outbox WHERE kind = 'ack'")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(acks, 2);
    let outbox = &service["outbox"];
    assert_eq!(outbox["pending"], 2, "{service:#}");
    assert_eq!(outbox["due"], 1, "{service:#}");
    assert!(outbox["oldest_due_at"].is_string(), "{service:#}");
    assert_eq!(outbox["failed"], 0, "{service:#}");
    assert_eq!(service["given_up_messages"], 0, "{service:#}");
    // `once` is not the service: no daemon has started.
    assert!(service["daemon"].is_null(), "{service:#}");

    let table = world.run(&["status"]).await;
    assert_eq!(table.code, 0, "{table}");
    for words in [
        "服务状态",
        "服务进程：尚未运行过",
        "收信：INBOX 最近一次成功收取",
        "收信：垃圾邮件 最近一次成功收取",
        "待发邮件 2 封（已到期 1 封，最早一封排队于",
        "发送失败 0 封",
        "放弃处理的邮件 0 封",
    ] {
        assert!(table.stdout.contains(words), "{words}: {table}");
    }
}

/// Mail from `unit` with a fresh Message-ID and a file: a submission with its acknowledgement
/// (a message without files is a note).
fn submission(unit: &str, subject: &str) -> Vec<u8> {
    Mail::new(unit, subject)
        .attach("警营开放日科普视频.mp4", "video/mp4", common::mp4(60))
        .build()
}

#[sqlx::test(migrations = "./migrations")]
async fn failures_lists_a_given_up_message_and_a_failed_email_and_retry_brings_each_back_once(
    pool: PgPool,
) {
    let user = uniq_user("retry");
    let a = test_address("retry-a");
    let b = test_address("retry-b");
    let world = World::new(
        &pool,
        &[("police", "市公安局", &a), ("archives", "市档案馆", &b)],
        mailbox_env(&user, "reportbox", "none"),
    );

    // A's acknowledgement failed for good: the SMTP server did not answer any of its tries
    // (a day of backoff, passed here by moving `now` on instead of waiting).
    let pairs: Vec<(&str, &str)> = world
        .env
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let storage = world.storage();
    let port = dead_port();
    let mut down = pairs.clone();
    down.extend([
        ("REPORTBOX_SMTP__HOST", "127.0.0.1"),
        ("REPORTBOX_SMTP__PORT", port.as_str()),
        ("REPORTBOX_SMTP__TLS", "none"),
    ]);
    let settings = common::settings_with(&world.roster, &storage, &down);
    let store = reportbox::store::Store::from_pool(pool.clone(), &storage);
    store.sync_units(&settings.roster).await.unwrap();
    reportbox::pipeline::process(
        &settings,
        &store,
        reportbox::pipeline::Incoming {
            raw: submission(&a, "市公安局报送材料"),
            source: "import:a.eml".into(),
            internal_date: None,
        },
    )
    .await
    .unwrap();
    let mailer = reportbox::notify::smtp::Mailer::new(&settings).unwrap();
    let mut now = chrono::Utc::now();
    for _ in 0..40 {
        if !store.failed_outbox().await.unwrap().is_empty() {
            break;
        }
        reportbox::notify::send_due(&settings, &store, &mailer, now, usize::MAX)
            .await
            .unwrap();
        now += chrono::Duration::hours(2);
    }
    assert_eq!(store.failed_outbox().await.unwrap().len(), 1);

    // B's message crashed the daemon as often as mailbox.max_attempts allows: the daemon
    // counts each attempt in mailbox_failures before making it, so this is what it finds.
    smtp_send(&user, &submission(&b, "市档案馆报送材料")).await;
    wait_delivered(&user, "INBOX", 1).await;
    let uidvalidity = {
        let mut s = imap(&user).await;
        let m = s.examine("INBOX").await.unwrap();
        let _ = s.logout().await;
        m.uid_validity.unwrap()
    };
    sqlx::query(
        "INSERT INTO mailbox_failures (account, folder, uidvalidity, uid, attempts, last_error)
         VALUES ($1, 'INBOX', $2, 1, 3, 'the process died while handling it')",
    )
    .bind(format!(
        "{user}@{}",
        common::testenv("TESTENV_TLS_SERVER_NAME")
    ))
    .bind(i64::from(uidvalidity))
    .execute(&pool)
    .await
    .unwrap();
    let once = world.run(&["once"]).await;
    assert_eq!(once.code, 0, "{once}");
    assert!(once.stdout.contains("放弃 1 封"), "{once}");

    let failures = world.run(&["failures"]).await;
    assert_eq!(failures.code, 0, "{failures}");
    for words in [
        "放弃处理的邮件（1 封）",
        "INBOX:1（UIDVALIDITY",
        "已放弃，尝试 4 次",
        "发送失败的邮件（1 封）",
        &format!("回执 → {a}"),
        "Connection refused",
    ] {
        assert!(failures.stdout.contains(words), "{words}: {failures}");
    }
    let json = world.json(&["failures", "--format", "json"]).await;
    assert_eq!(json["messages"].as_array().unwrap().len(), 1, "{json:#}");
    assert_eq!(json["emails"].as_array().unwrap().len(), 1, "{json:#}");
    let service = &world.json(&["status", "--format", "json"]).await["service"];
    assert_eq!(service["given_up_messages"], 1, "{service:#}");
    assert_eq!(service["outbox"]["failed"], 1, "{service:#}");
    assert_eq!(service["last_error"]["source"], "mailbox", "{service:#}");
    assert!(
        service["last_error"]["error"]
            .as_str()
            .is_some_and(|e| e.contains("放弃处理邮件 INBOX:1")),
        "{service:#}"
    );

    // Naming something that is not listed changes nothing.
    let unknown = world.run(&["retry", "--message", "INBOX:99"]).await;
    assert!(unknown.stdout.contains("没有需要重试的邮件"), "{unknown}");
    // The email alone, by its number…
    let id = json["emails"][0]["id"].as_i64().unwrap().to_string();
    let retry = world.run(&["retry", "--email", &id]).await;
    assert_eq!(retry.code, 0, "{retry}");
    for words in ["已将 1 封发送失败的邮件重新排入发送队列", "本次发出 1 封"]
    {
        assert!(retry.stdout.contains(words), "{words}: {retry}");
    }
    assert!(!retry.stdout.contains("放弃处理"), "{retry}");
    assert_eq!(imap_wait(&a, 1).await.len(), 1);
    // …then everything left: the message.
    let retry = world.run(&["retry"]).await;
    assert_eq!(retry.code, 0, "{retry}");
    assert!(
        retry.stdout.contains("已请求重新处理 1 封放弃处理的邮件"),
        "{retry}"
    );
    assert!(!retry.stdout.contains("重新排入发送队列"), "{retry}");
    let pending = world.run(&["failures"]).await;
    assert!(
        pending.stdout.contains("等待下一次收取时重新处理"),
        "{pending}"
    );

    let again = world.run(&["once"]).await;
    assert_eq!(again.code, 0, "{again}");
    assert!(again.stdout.contains("新记录 1 封"), "{again}");
    assert!(
        again.stdout.contains("重新收取 1 封此前放弃的邮件"),
        "{again}"
    );
    assert_eq!(imap_wait(&b, 1).await.len(), 1);

    // Everything is back: nothing to list, nothing to retry, and repeating changes nothing.
    let none = world.run(&["failures"]).await;
    assert!(
        none.stdout
            .contains("没有放弃处理的邮件，也没有发送失败的邮件"),
        "{none}"
    );
    let retry = world.run(&["retry"]).await;
    assert!(retry.stdout.contains("没有需要重试的邮件"), "{retry}");
    let last = world.run(&["once"]).await;
    assert!(last.stdout.contains("新邮件 0 封"), "{last}");
    let acks: Vec<(String, String)> =
        sqlx::query_as("SELECT recipients[1], state FROM outbox WHERE kind = 'ack' ORDER BY id")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(
        acks,
        vec![
            (a.clone(), "sent".to_string()),
            (b.clone(), "sent".to_string())
        ]
    );
    assert_eq!(imap_messages(&a).await.len(), 1);
    assert_eq!(imap_messages(&b).await.len(), 1);
}

/// GET `path` from `addr`; `None` while nothing answers.
async fn http_get(addr: &str, path: &str) -> Option<String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.ok()?;
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\n\r\n").as_bytes())
        .await
        .ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).await.ok()?;
    Some(out)
}

/// Scrapes until `check` holds (bounded), returning the last scrape.
async fn scrape_until(addr: &str, what: &str, check: impl Fn(&str) -> bool) -> String {
    let end = tokio::time::Instant::now() + TIMEOUT;
    loop {
        if let Some(text) = http_get(addr, "/metrics").await {
            if check(&text) {
                return text;
            }
            assert!(
                tokio::time::Instant::now() < end,
                "timed out waiting for {what}; last scrape:\n{text}"
            );
        } else {
            assert!(tokio::time::Instant::now() < end, "metrics never answered");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn sample(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(name) && l[name.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
}

#[sqlx::test(migrations = "./migrations")]
async fn the_metrics_endpoint_counts_a_processed_message_and_its_acknowledgement(pool: PgPool) {
    let user = uniq_user("metrics");
    let unit = test_address("metrics-unit");
    let addr = format!("127.0.0.1:{}", dead_port());
    let env = with(
        with(
            mailbox_env(&user, "reportbox", "none"),
            "REPORTBOX_MAILBOX__FOLDERS",
            "INBOX",
        ),
        "REPORTBOX_METRICS__LISTEN",
        &addr,
    );
    let world = World::new(&pool, &[("police", "市公安局", &unit)], env);
    let log = world.storage.path().join("run.log");
    let daemon = Daemon::spawn(
        "run",
        &world.url,
        &world.storage(),
        &world.daemon_env(),
        log,
    );
    // Served before any mail: the first pass's poll time shows, nothing counted yet.
    let first = scrape_until(&addr, "the first poll", |t| {
        t.contains("reportbox_last_poll_timestamp_seconds{folder=\"INBOX\"}")
    })
    .await;
    assert_eq!(
        sample(&first, "reportbox_database_up"),
        Some(1.0),
        "{first}"
    );
    assert_eq!(
        sample(&first, "reportbox_acks_sent_total"),
        Some(0.0),
        "{first}"
    );

    smtp_send(&user, &submission(&unit, "市公安局报送材料")).await;
    let text = scrape_until(&addr, "the message and its acknowledgement", |t| {
        sample(t, "reportbox_messages_total{disposition=\"processed\"}") == Some(1.0)
            && sample(t, "reportbox_acks_sent_total") == Some(1.0)
    })
    .await;
    assert_eq!(
        sample(&text, "reportbox_emails_sent_total{kind=\"ack\"}"),
        Some(1.0)
    );
    assert_eq!(
        sample(&text, "reportbox_outbox_pending"),
        Some(0.0),
        "{text}"
    );
    assert_eq!(
        sample(&text, "reportbox_failures_total{what=\"email_failed\"}"),
        Some(0.0)
    );
    assert!(
        sample(&text, "reportbox_poll_duration_seconds_count").unwrap_or(0.0) >= 1.0,
        "{text}"
    );
    assert_eq!(imap_wait(&unit, 1).await.len(), 1);
    let other = http_get(&addr, "/").await.unwrap_or_default();
    assert!(other.starts_with("HTTP/1.1 404"), "{other}");
    drop(daemon);
}

#[sqlx::test(migrations = "./migrations")]
async fn sighup_after_the_code_file_is_corrected_makes_a_paused_sender_deliver(pool: PgPool) {
    let user = uniq_user("reload");
    let unit = test_address("reload-unit");
    let secrets = tempfile::tempdir().unwrap();
    let code = secrets.path().join("smtp-password");
    std::fs::write(&code, "not-the-code\n").unwrap();
    // The real Postfix checks the code through Dovecot and answers a wrong one with 535; the
    // pause after it is an hour, so only the reload can end it within the test.
    let mut env = mailbox_env(&user, "reportbox", "none");
    for (k, v) in [
        ("REPORTBOX_MAILBOX__FOLDERS", "INBOX".to_string()),
        ("REPORTBOX_SMTP__USERNAME", test_address("campaign-sender")),
        ("REPORTBOX_SMTP__PASSWORD_FILE", code.display().to_string()),
        ("REPORTBOX_SMTP__AUTH_RETRY_SECONDS", "3600".to_string()),
    ] {
        env.push((k.to_string(), v));
    }
    let world = World::new(&pool, &[("police", "市公安局", &unit)], env);
    let log = world.storage.path().join("run.log");
    let daemon = Daemon::spawn(
        "run",
        &world.url,
        &world.storage(),
        &world.daemon_env(),
        log,
    );
    smtp_send(&user, &submission(&unit, "市公安局报送材料")).await;
    mailbox_support::eventually("sending paused for the refused code", || async {
        sqlx::query_scalar::<_, Option<String>>("SELECT max(reason) FROM sender_state")
            .fetch_one(&pool)
            .await
            .ok()
            .flatten()
            .is_some_and(|r| r.starts_with(reportbox::notify::AUTH_REJECTED))
    })
    .await;
    let service = &world.json(&["status", "--format", "json"]).await["service"];
    assert_eq!(service["outbox"]["pending"], 1, "{service:#}");
    assert!(service["outbox"]["paused_until"].is_string(), "{service:#}");
    assert!(
        service["daemon"]["pid"].as_i64() == Some(i64::from(daemon.pid())),
        "{service:#}"
    );

    std::fs::write(
        &code,
        format!("{}\n", common::testenv("TESTENV_MAIL_PASSWORD")),
    )
    .unwrap();
    daemon.signal("-HUP");
    let inbox = imap_wait(&unit, 1).await;
    assert_eq!(inbox.len(), 1, "log:\n{}", daemon.log_text());
    mailbox_support::eventually("the pause cleared", || async {
        sqlx::query_scalar::<_, Option<String>>("SELECT max(reason) FROM sender_state")
            .fetch_one(&pool)
            .await
            .ok()
            .flatten()
            .is_none()
    })
    .await;
    let state: String = sqlx::query_scalar("SELECT state FROM outbox WHERE kind = 'ack'")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(state, "sent");
    // Still running: the signal was a reload, not an end.
    let mut daemon = daemon;
    assert!(
        daemon.child.try_wait().unwrap().is_none(),
        "{}",
        daemon.log_text()
    );
    daemon.signal("-TERM");
    assert!(daemon.wait_exit(Duration::from_secs(60)).await.success());
    assert_eq!(imap_messages(&unit).await.len(), 1);
}

#[sqlx::test(migrations = "./migrations")]
async fn a_given_up_message_of_a_folder_since_recreated_is_tried_again_by_the_rescan(pool: PgPool) {
    let user = uniq_user("rescan");
    let unit = test_address("rescan-unit");
    let env = with(
        mailbox_env(&user, "reportbox", "none"),
        "REPORTBOX_MAILBOX__FOLDERS",
        "INBOX",
    );
    let world = World::new(&pool, &[("police", "市公安局", &unit)], env);
    smtp_send(&user, &submission(&unit, "市公安局报送材料")).await;
    wait_delivered(&user, "INBOX", 1).await;
    let uidvalidity = {
        let mut s = imap(&user).await;
        let m = s.examine("INBOX").await.unwrap();
        let _ = s.logout().await;
        i64::from(m.uid_validity.unwrap())
    };
    // What the database holds when the folder was re-created since the daemon gave up on its
    // message: progress and the given-up row under the folder's old UIDVALIDITY.
    let account = format!("{user}@{}", common::testenv("TESTENV_TLS_SERVER_NAME"));
    sqlx::query(
        "INSERT INTO mailbox_progress (account, folder, uidvalidity, last_uid)
         VALUES ($1, 'INBOX', $2, 1)",
    )
    .bind(&account)
    .bind(uidvalidity - 1)
    .execute(&pool)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO mailbox_failures (account, folder, uidvalidity, uid, attempts, gave_up)
         VALUES ($1, 'INBOX', $2, 1, 4, TRUE)",
    )
    .bind(&account)
    .bind(uidvalidity - 1)
    .execute(&pool)
    .await
    .unwrap();
    let listed = world.run(&["failures"]).await;
    assert!(listed.stdout.contains("放弃处理的邮件（1 封）"), "{listed}");

    let once = world.run(&["once"]).await;
    assert_eq!(once.code, 0, "{once}");
    assert!(once.stdout.contains("新记录 1 封"), "{once}");
    let none = world.run(&["failures"]).await;
    assert!(
        none.stdout
            .contains("没有放弃处理的邮件，也没有发送失败的邮件"),
        "{none}"
    );
    assert_eq!(imap_wait(&unit, 1).await.len(), 1);
}
