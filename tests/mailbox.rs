//! The mailbox daemon against the real loopback stack: Postfix delivers, Dovecot serves IMAP,
//! PostgreSQL records. Each test has its own mailbox user and its own database, so they run in
//! parallel. Tests that stop Dovecot are in mailbox_restart.rs.

mod mailbox_support;

use mailbox_support::*;
use reportbox::mailbox::{self, MailboxError, Shutdown};
use reportbox::store::Store;
use sqlx::{PgPool, Row};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

struct Fixture {
    settings: reportbox::config::Settings,
    store: Store,
    _storage: tempfile::TempDir,
}

async fn fixture(
    pool: PgPool,
    user: &str,
    id_name: &str,
    tls: &str,
    extra: &[(&str, &str)],
) -> Fixture {
    let storage = tempfile::tempdir().unwrap();
    let settings = settings(storage.path(), user, id_name, tls, extra);
    let store = Store::from_pool(pool, storage.path());
    store.sync_units(&settings.roster).await.unwrap();
    Fixture {
        settings,
        store,
        _storage: storage,
    }
}

/// Runs the daemon while the samples `which` arrive one by one over SMTP, each recorded before
/// the next is sent, then shuts it down and checks that it ended cleanly.
async fn run_while_sending(f: &Fixture, pool: &PgPool, user: &str, which: std::ops::Range<usize>) {
    let (trigger, shutdown) = Shutdown::new();
    let daemon = mailbox::run(&f.settings, &f.store, shutdown);
    let work = async {
        for (n, i) in which.enumerate() {
            smtp_send(user, &sample(i, &common::uniq())).await;
            let want = n as i64 + 1;
            eventually("the daemon to record the message", || async {
                count_messages(pool).await >= want
            })
            .await;
        }
        trigger.fire();
    };
    let (result, ()) = tokio::time::timeout(DEADLINE, async { tokio::join!(daemon, work) })
        .await
        .expect("run ends after shutdown");
    result.unwrap();
}

/// A TCP relay in front of Dovecot's plain port that keeps what the client sends, to check the
/// order of commands on the wire.
async fn recording_proxy() -> (u16, Arc<Mutex<Vec<u8>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = seen.clone();
    tokio::spawn(async move {
        while let Ok((mut client, _)) = listener.accept().await {
            let record = record.clone();
            tokio::spawn(async move {
                let mut server = TcpStream::connect((
                    var("TESTENV_IMAP_HOST").as_str(),
                    var("TESTENV_IMAP_PORT").parse::<u16>().unwrap(),
                ))
                .await
                .unwrap();
                let (mut cr, mut cw) = client.split();
                let (mut sr, mut sw) = server.split();
                let up = async {
                    let mut buf = vec![0u8; 16384];
                    loop {
                        let n = cr.read(&mut buf).await.unwrap_or(0);
                        if n == 0 {
                            let _ = sw.shutdown().await;
                            break;
                        }
                        record.lock().unwrap().extend_from_slice(&buf[..n]);
                        if sw.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                    }
                };
                let down = tokio::io::copy(&mut sr, &mut cw);
                let _ = tokio::join!(up, down);
            });
        }
    });
    (port, seen)
}

#[sqlx::test(migrations = "./migrations")]
async fn once_records_smtp_submissions_including_read_ones_and_identifies_before_select(
    pool: PgPool,
) {
    let user = uniq_user("once");
    let id_name = format!("rb-test-{}", common::uniq().replace('.', "-"));
    smtp_send(&user, &sample(0, &common::uniq())).await;
    smtp_send(&user, &sample(7, &common::uniq())).await;
    wait_delivered(&user, "INBOX", 2).await;
    // The coordinator has already read one in webmail before reportbox ever connects.
    let mut other = imap(&user).await;
    other.select("INBOX").await.unwrap();
    let _: Vec<_> = futures_util::TryStreamExt::try_collect(
        other.uid_store("1", "+FLAGS (\\Seen)").await.unwrap(),
    )
    .await
    .unwrap();
    other.logout().await.unwrap();

    let (port, wire) = recording_proxy().await;
    let port = port.to_string();
    let f = fixture(
        pool.clone(),
        &user,
        &id_name,
        "none",
        &[
            ("REPORTBOX_MAILBOX__HOST", "127.0.0.1"),
            ("REPORTBOX_MAILBOX__PORT", &port),
        ],
    )
    .await;
    let report = mailbox::once(&f.settings, &f.store).await.unwrap();
    assert_eq!((report.found, report.recorded), (2, 2), "{report:?}");

    let rows = sqlx::query("SELECT source, disposition FROM messages ORDER BY source")
        .fetch_all(&pool)
        .await
        .unwrap();
    assert_eq!(rows.len(), 2);
    for r in &rows {
        let source: String = r.get("source");
        assert!(source.starts_with("imap:INBOX/"), "{source}");
    }

    let wire = String::from_utf8_lossy(&wire.lock().unwrap()).to_string();
    let at = |needle: &str| {
        wire.find(needle)
            .unwrap_or_else(|| panic!("{needle:?} not sent; wire:\n{wire}"))
    };
    assert!(
        at(" LOGIN ") < at(" ID (") && at(" ID (") < at(" SELECT "),
        "{wire}"
    );
    assert!(wire.contains("BODY.PEEK[]"), "{wire}");
    assert!(
        !wire.contains("RFC822)") && !wire.contains("BODY[]"),
        "a fetch that marks read: {wire}"
    );
    let log = std::fs::read_to_string(var("TESTENV_DOVECOT_LOG")).unwrap();
    assert!(
        log.contains(&format!("ID sent: name={id_name},")),
        "Dovecot did not log our ID ({id_name})"
    );

    // Both carry the keyword now; the one read before is still read (flags are only added).
    let flags = flags_of(&user, "INBOX").await;
    assert!(
        flags
            .iter()
            .all(|(_, f)| f.iter().any(|x| x.contains("$Reportbox-Processed"))),
        "{flags:?}"
    );
    assert!(
        flags
            .iter()
            .any(|(uid, f)| *uid == 1 && f.iter().any(|x| x.contains("Seen"))),
        "{flags:?}"
    );

    let again = mailbox::once(&f.settings, &f.store).await.unwrap();
    assert_eq!(again.found, 0, "{again:?}");
    assert_eq!(count_messages(&pool).await, 2);
}

#[sqlx::test(migrations = "./migrations")]
async fn run_with_idle_over_implicit_tls_records_mail_arriving_while_running(pool: PgPool) {
    let user = uniq_user("idle");
    let f = fixture(pool.clone(), &user, "rb-test-idle", "implicit", &[]).await;
    run_while_sending(&f, &pool, &user, 0..3).await;
    assert_eq!(count_messages(&pool).await, 3);
}

#[sqlx::test(migrations = "./migrations")]
async fn run_polling_over_starttls_records_mail_arriving_while_running(pool: PgPool) {
    let user = uniq_user("poll");
    let f = fixture(
        pool.clone(),
        &user,
        "rb-test-poll",
        "starttls",
        &[("REPORTBOX_MAILBOX__IDLE", "off")],
    )
    .await;
    run_while_sending(&f, &pool, &user, 2..4).await;
    assert_eq!(count_messages(&pool).await, 2);
}

#[sqlx::test(migrations = "./migrations")]
async fn an_untrusted_certificate_is_refused_with_a_clear_error(pool: PgPool) {
    let user = uniq_user("untrusted");
    let f = fixture(
        pool,
        &user,
        "rb-test-untrusted",
        "implicit",
        &[("REPORTBOX_MAILBOX__CA_FILE", "")],
    )
    .await;
    let err = mailbox::once(&f.settings, &f.store).await.unwrap_err();
    assert!(matches!(err, MailboxError::Certificate(_)), "{err:?}");
    assert!(err.is_fatal());
    let text = err.to_string();
    assert!(
        text.contains("not trusted") && text.contains("mailbox.ca_file"),
        "{text}"
    );
}

#[sqlx::test(migrations = "./migrations")]
async fn an_oversized_message_is_recorded_from_its_headers_with_file_too_large(pool: PgPool) {
    let user = uniq_user("big");
    smtp_send(&user, &sample(0, &common::uniq())).await;
    wait_delivered(&user, "INBOX", 1).await;
    let f = fixture(
        pool.clone(),
        &user,
        "rb-test-big",
        "none",
        &[("REPORTBOX_MAILBOX__MAX_MESSAGE_SIZE", "20000")],
    )
    .await;
    let report = mailbox::once(&f.settings, &f.store).await.unwrap();
    assert_eq!((report.recorded, report.oversized), (1, 1), "{report:?}");
    let row = sqlx::query(
        "SELECT m.problems::text AS p, m.size_bytes, (SELECT count(*) FROM files) AS files FROM messages m",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    let problems: String = row.get("p");
    assert!(problems.contains("file.too_large"), "{problems}");
    assert!(row.get::<i64, _>("size_bytes") > 20000);
    assert_eq!(row.get::<i64, _>("files"), 0);
    let again = mailbox::once(&f.settings, &f.store).await.unwrap();
    assert_eq!(again.found, 0, "not fetched again: {again:?}");
}

#[sqlx::test(migrations = "./migrations")]
async fn a_uidvalidity_change_rescans_without_counting_anything_twice(pool: PgPool) {
    let user = uniq_user("uidv");
    let folder = "Reports";
    let first: Vec<Vec<u8>> = (0..2).map(|i| sample(i, &common::uniq())).collect();
    let mut s = imap(&user).await;
    s.create(folder).await.unwrap();
    for m in &first {
        s.append(folder, None, None, m).await.unwrap();
    }
    let f = fixture(
        pool.clone(),
        &user,
        "rb-test-uidv",
        "none",
        &[("REPORTBOX_MAILBOX__FOLDER", folder)],
    )
    .await;
    let one = mailbox::once(&f.settings, &f.store).await.unwrap();
    assert_eq!(one.recorded, 2, "{one:?}");
    // Deleting and re-creating the folder gives it a new UIDVALIDITY; the same messages return
    // with UIDs starting again at 1, plus one new one.
    s.delete(folder).await.unwrap();
    s.create(folder).await.unwrap();
    for m in &first {
        s.append(folder, None, None, m).await.unwrap();
    }
    s.append(folder, None, None, &sample(3, &common::uniq()))
        .await
        .unwrap();
    s.logout().await.unwrap();
    let two = mailbox::once(&f.settings, &f.store).await.unwrap();
    assert_eq!(
        (two.found, two.recorded, two.already_stored),
        (3, 1, 2),
        "{two:?}"
    );
    assert_eq!(count_messages(&pool).await, 3);
}

#[sqlx::test(migrations = "./migrations")]
async fn sigterm_stops_a_running_daemon_cleanly_within_ten_seconds(pool: PgPool) {
    let user = uniq_user("term");
    let storage = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut d = Daemon::spawn(
        "run",
        &url_of(&pool),
        storage.path(),
        &mailbox_env(&user, "rb-test-term", "implicit"),
        dir.path().join("run.log"),
    );
    smtp_send(&user, &sample(1, &common::uniq())).await;
    eventually("the spawned daemon to record the message", || async {
        count_messages(&pool).await >= 1
    })
    .await;
    d.signal("-TERM");
    let status = d.wait_exit(Duration::from_secs(10)).await;
    assert!(status.success(), "{status:?}\n{}", d.log_text());
}

#[sqlx::test(migrations = "./migrations")]
async fn kill_9_mid_batch_then_run_again_records_every_message_exactly_once(pool: PgPool) {
    const N: usize = 40;
    let user = uniq_user("kill9");
    let mut s = imap(&user).await;
    for i in 0..N {
        s.append(
            "INBOX",
            None,
            None,
            &sample(i, &format!("k9-{i}-{}", common::uniq())),
        )
        .await
        .unwrap();
    }
    s.logout().await.unwrap();
    let storage = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let env = mailbox_env(&user, "rb-test-kill9", "none");
    let url = url_of(&pool);
    let mut first = Daemon::spawn("run", &url, storage.path(), &env, dir.path().join("1.log"));
    eventually("the first daemon to start on the batch", || async {
        count_messages(&pool).await >= 3
    })
    .await;
    first.signal("-KILL");
    first.wait_exit(Duration::from_secs(10)).await;
    let at_kill = count_messages(&pool).await;
    let _second = Daemon::spawn("run", &url, storage.path(), &env, dir.path().join("2.log"));
    eventually("the second daemon to finish the batch", || async {
        count_messages(&pool).await >= N as i64
    })
    .await;
    let row = sqlx::query(
        "SELECT count(*) AS n, count(DISTINCT message_id) AS ids, count(DISTINCT source) AS sources,
                (SELECT last_uid FROM mailbox_progress) AS last FROM messages",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(row.get::<i64, _>("n"), N as i64, "killed at {at_kill}");
    assert_eq!(row.get::<i64, _>("ids"), N as i64);
    assert_eq!(row.get::<i64, _>("sources"), N as i64);
    eventually("the mark to reach the last message", || async {
        sqlx::query_scalar::<_, i64>("SELECT last_uid FROM mailbox_progress")
            .fetch_one(&pool)
            .await
            .unwrap()
            == N as i64
    })
    .await;
}

#[sqlx::test(migrations = "./migrations")]
async fn two_daemons_record_each_message_once_and_the_standby_takes_over(pool: PgPool) {
    let user = uniq_user("pair");
    let storage = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let env = mailbox_env(&user, "rb-test-pair", "none");
    let url = url_of(&pool);
    let mut leader = Daemon::spawn("run", &url, storage.path(), &env, dir.path().join("a.log"));
    smtp_send(&user, &sample(0, &common::uniq())).await;
    eventually("the first daemon to lead and record", || async {
        count_messages(&pool).await >= 1
    })
    .await;
    let standby = Daemon::spawn("run", &url, storage.path(), &env, dir.path().join("b.log"));
    eventually("the second daemon to stand by", || async {
        standby.log_text().contains("standing by")
    })
    .await;
    for i in 1..4 {
        smtp_send(&user, &sample(i, &common::uniq())).await;
    }
    eventually("both daemons to settle on four messages", || async {
        count_messages(&pool).await >= 4
    })
    .await;
    leader.signal("-KILL");
    leader.wait_exit(Duration::from_secs(10)).await;
    for i in 4..6 {
        smtp_send(&user, &sample(i, &common::uniq())).await;
    }
    eventually("the standby to take over and record the rest", || async {
        count_messages(&pool).await >= 6
    })
    .await;
    let (n, ids): (i64, i64) =
        sqlx::query_as("SELECT count(*), count(DISTINCT message_id) FROM messages")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!((n, ids), (6, 6), "standby log:\n{}", standby.log_text());
    assert!(standby.log_text().contains("watching the mailbox"));
}

#[sqlx::test(migrations = "./migrations")]
async fn failed_attempts_are_counted_and_cleared_on_success(pool: PgPool) {
    use reportbox::store::progress;
    let (acct, folder) = ("a@b", "INBOX");
    let at = progress::Folder::new(acct, folder, 7);
    progress::save(
        &pool,
        acct,
        folder,
        progress::Progress {
            uidvalidity: 7,
            last_uid: 0,
        },
    )
    .await
    .unwrap();
    assert_eq!(progress::begin_attempt(&pool, at, 3).await.unwrap(), 1);
    progress::record_error(&pool, at, 3, "boom", false)
        .await
        .unwrap();
    assert_eq!(progress::begin_attempt(&pool, at, 3).await.unwrap(), 2);
    progress::advance(&pool, at, 3).await.unwrap();
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM mailbox_failures")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(left, 0);
    // The mark never moves back.
    progress::advance(&pool, at, 1).await.unwrap();
    let p = progress::load(&pool, acct, folder).await.unwrap().unwrap();
    assert_eq!(p.last_uid, 3);
}
