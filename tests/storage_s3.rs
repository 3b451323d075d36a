//! Originals in an S3 bucket (issue 11 item 3), against the real S3 server the test stack runs
//! on loopback: put, get, a re-put that writes nothing, a missing object named as missing, an
//! unreachable server that stays a storage error worth retrying, and a mailbox drained by the
//! real binary with `storage.backend = "s3"` whose originals and mailed 汇总表.xlsx come from the
//! bucket, not the machine's directory.

mod mailbox_support;

use mailbox_support::common::relay::Relay;
use mailbox_support::common::s3::Bucket;
use mailbox_support::common::{self, bin};
use mailbox_support::drill::{assert_nothing_given_up, wait_log, Campaign};
use mailbox_support::{uniq_user, url_of, DEADLINE};
use reportbox::store::settings::Backend;
use reportbox::store::{sha256_hex, ObjectStore, StoreError};
use sqlx::PgPool;

#[tokio::test]
async fn objects_are_put_once_read_back_and_a_missing_one_is_named() {
    let bucket = Bucket::create("objects").await;
    let objects = bucket.objects();
    let (a, b) = (b"first original".as_slice(), vec![7u8; 3 << 20]);
    let (sa, sb) = (sha256_hex(a), sha256_hex(&b));

    let done = objects
        .put_all(&[(sa.as_str(), a), (sb.as_str(), &b), (sa.as_str(), a)])
        .await
        .unwrap();
    assert_eq!(done.files, 2, "the repeated object is sent once");
    assert_eq!(objects.get(&sa).await.unwrap(), a);
    assert_eq!(objects.get(&sb).await.unwrap(), b, "3 MiB come back whole");

    let again = objects
        .put_all(&[(sa.as_str(), a), (sb.as_str(), &b)])
        .await
        .unwrap();
    assert_eq!(again.files, 0, "what the bucket holds is not written again");
    assert!(objects.exists(&sa).await.unwrap());

    let mut listed = objects.list().await.unwrap();
    listed.sort();
    let mut want = vec![sa.clone(), sb.clone()];
    want.sort();
    assert_eq!(listed, want);

    let missing = sha256_hex(b"never stored");
    assert!(!objects.exists(&missing).await.unwrap());
    match objects.get(&missing).await {
        Err(e @ StoreError::NoSuchObject(_)) => {
            assert!(!e.is_transient(), "retrying will not bring it back");
            assert!(e.to_string().contains(&missing), "{e}");
        }
        other => panic!("a missing object is NoSuchObject: {other:?}"),
    }
}

#[tokio::test]
async fn a_server_that_does_not_answer_is_a_storage_error_worth_retrying() {
    let bucket = Bucket::create("down").await;
    // A port nobody listens on: bind one, learn it, close it.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut settings = bucket.settings(std::path::Path::new("/nonexistent"));
    if let Backend::S3(s3) = &mut settings.backend {
        s3.endpoint = Some(format!("http://127.0.0.1:{port}"));
    }
    let objects = ObjectStore::open(&settings).unwrap();
    let err = objects.put(&sha256_hex(b"x"), b"x").await.unwrap_err();
    assert!(matches!(err, StoreError::S3 { .. }), "{err:?}");
    assert!(err.is_transient(), "the message is not at fault: {err}");
}

#[sqlx::test(migrations = "./migrations")]
async fn a_drain_with_the_s3_backend_keeps_originals_in_the_bucket_and_mails_from_it(pool: PgPool) {
    let bucket = Bucket::create("drain").await;
    let mut campaign = Campaign::new("s3drain", 3);
    campaign.deliver(6).await;
    let coordinator = uniq_user("s3-coordinator");
    let url = url_of(&pool);
    let local = campaign.dir.path().join("this-machine");
    let mut env = bucket.env();
    env.push((
        "REPORTBOX_CAMPAIGN__COORDINATORS".into(),
        coordinator.clone(),
    ));
    let extra: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();

    let mut once = campaign.spawn_in("once", &url, "once", &local, &extra);
    let status = once.wait_exit(DEADLINE).await;
    assert!(status.success(), "{}", once.log_text());
    campaign.assert_recorded_once(&pool).await;
    campaign.assert_originals_in(&pool, &bucket.objects()).await;
    campaign.assert_acks_queued_once_and_sent(&pool).await;
    assert!(
        !local.join("objects").exists(),
        "with backend = s3 nothing is kept on the machine"
    );

    // The daily email's 汇总表.xlsx is stored, then read back for sending: from the bucket.
    let xlsx = campaign.send_report(&url, &local, &env, &coordinator).await;
    let sha = sha256_hex(xlsx.as_slice());
    assert_eq!(
        bucket.objects().get(&sha).await.unwrap(),
        xlsx.as_slice(),
        "the attachment mailed is the object in the bucket"
    );
    assert!(!local.join("objects").exists());

    // export copies each unit's current files out of the bucket; a second run rewrites nothing.
    let out_dir = campaign.dir.path().join("export");
    let export = || {
        let mut cmd = bin::command(&["export", "--out", out_dir.to_str().unwrap()]);
        cmd.env("REPORTBOX_DATABASE__URL", &url)
            .env("REPORTBOX_STORAGE__DIR", &local)
            .env("REPORTBOX_CAMPAIGN__ROSTER", campaign.roster())
            .envs(env.iter().cloned());
        bin::output(cmd, DEADLINE)
    };
    let first = export().await;
    assert_eq!(first.code, 0, "{first}");
    let reports = exported_reports(&out_dir);
    assert_eq!(reports.len(), 3, "one 总结报告 per unit: {reports:?}");
    for path in &reports {
        let bytes = std::fs::read(path).unwrap();
        assert!(bucket.objects().exists(&sha256_hex(&bytes)).await.unwrap());
    }
    let stamps: Vec<_> = reports
        .iter()
        .map(|p| std::fs::metadata(p).unwrap().modified().unwrap())
        .collect();
    let second = export().await;
    assert_eq!(second.code, 0, "{second}");
    let again: Vec<_> = reports
        .iter()
        .map(|p| std::fs::metadata(p).unwrap().modified().unwrap())
        .collect();
    assert_eq!(stamps, again, "what is right is left alone");
}

fn exported_reports(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    for unit in std::fs::read_dir(dir).unwrap().flatten() {
        let path = unit.path().join("总结报告.txt");
        if path.is_file() {
            found.push(path);
        }
    }
    found.sort();
    found
}

/// `storage migrate --to s3` as ops would run it before switching the backend: an earlier run
/// that was interrupted left one object in the bucket; this run copies the rest, checks each,
/// and a third run finds nothing to do.
#[tokio::test]
async fn storage_migrate_copies_every_original_once_and_checks_it() {
    let bucket = Bucket::create("migrate").await;
    let dir = tempfile::tempdir().unwrap();
    let local = ObjectStore::new(dir.path());
    let originals: Vec<Vec<u8>> = (0..5)
        .map(|i| format!("original {i} {}", common::uniq()).into_bytes())
        .collect();
    for o in &originals {
        local.put(&sha256_hex(o), o).await.unwrap();
    }
    let first = sha256_hex(&originals[0]);
    bucket.objects().put(&first, &originals[0]).await.unwrap();

    let migrate = || {
        let mut cmd = bin::command(&["storage", "migrate", "--to", "s3"]);
        cmd.env("REPORTBOX_STORAGE__DIR", dir.path());
        // The backend stays fs while the copy runs: only [storage.s3] is set.
        for (k, v) in bucket.env() {
            if k != "REPORTBOX_STORAGE__BACKEND" {
                cmd.env(k, v);
            }
        }
        bin::output(cmd, DEADLINE)
    };
    let out = migrate().await;
    assert_eq!(out.code, 0, "{out}");
    assert!(
        out.stdout.contains(
            "共 5 个原件：本次上传并校验 4 个，存储桶中已有 1 个，本地损坏 0 个，校验失败 0 个"
        ),
        "{out}"
    );
    for o in &originals {
        assert_eq!(&bucket.objects().get(&sha256_hex(o)).await.unwrap(), o);
    }
    assert!(
        !out.all().contains(&bucket_secret()),
        "the secret is never printed"
    );

    let again = migrate().await;
    assert_eq!(again.code, 0, "{again}");
    assert!(
        again
            .stdout
            .contains("本次上传并校验 0 个，存储桶中已有 5 个"),
        "{again}"
    );
}

fn bucket_secret() -> String {
    std::env::var("TESTENV_S3_SECRET_KEY").unwrap()
}

/// The bucket goes away while mail waits: nothing is recorded without its originals, the IMAP
/// session is kept (one login in all, never "mailbox unavailable"), no message is charged an
/// attempt, and once the bucket is back everything is recorded and acknowledged once.
#[sqlx::test(migrations = "./migrations")]
async fn a_bucket_outage_keeps_the_mailbox_session_and_loses_nothing(pool: PgPool) {
    let bucket = Bucket::create("outage").await;
    let upstream = bucket.endpoint.trim_start_matches("http://").to_string();
    let relay = Relay::start_to(upstream).await;
    let mut env = bucket.env();
    for (k, v) in &mut env {
        if k == "REPORTBOX_STORAGE__S3__ENDPOINT" {
            *v = format!("http://127.0.0.1:{}", relay.port);
        }
    }
    env.push(("REPORTBOX_MAILBOX__BACKOFF_INITIAL".into(), "200ms".into()));
    env.push(("REPORTBOX_MAILBOX__BACKOFF_MAX".into(), "1s".into()));
    let extra: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let mut campaign = Campaign::new("s3outage", 2);
    let url = url_of(&pool);
    let local = campaign.dir.path().join("this-machine");

    relay.cut();
    campaign.deliver(4).await;
    let mut run = campaign.spawn_in("run", &url, "run", &local, &extra);
    wait_log(&run, "object store unavailable").await;
    let recorded: i64 = sqlx::query_scalar("SELECT count(*) FROM messages")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(recorded, 0, "nothing is committed without its originals");
    assert_nothing_given_up(&pool).await;

    relay.restore();
    campaign.wait_drained(&pool).await;
    wait_log(&run, "watching the mailbox").await;
    run.signal("-TERM");
    assert!(
        run.wait_exit(DEADLINE).await.success(),
        "{}",
        run.log_text()
    );

    campaign.assert_recorded_once(&pool).await;
    campaign.assert_originals_in(&pool, &bucket.objects()).await;
    campaign.assert_acks_queued_once_and_sent(&pool).await;
    let attempts: Vec<i32> = sqlx::query_scalar("SELECT attempts FROM mailbox_failures")
        .fetch_all(&pool)
        .await
        .unwrap();
    assert!(attempts.iter().all(|a| *a == 0), "charged: {attempts:?}");
    let log = run.log_text();
    assert_eq!(
        log.matches("mailbox open").count(),
        1,
        "one session:\n{log}"
    );
    assert!(!log.contains("mailbox unavailable"), "{log}");
}
