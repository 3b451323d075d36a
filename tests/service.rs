//! `reportbox run` as systemd sees it (`Type=notify`, `WatchdogSec=`): the test listens on its
//! own `NOTIFY_SOCKET` and reads the datagrams in the order they were sent. Healthy: READY=1,
//! then WATCHDOG=1 again and again. A mailbox server that accepts the login and then never
//! answers (the loop hangs in SELECT): a STATUS line naming the stuck loop, and no WATCHDOG=1
//! after it, so systemd restarts the service.
//!
//! The watchdog interval is set small through `WATCHDOG_USEC`, as systemd sets it. Nothing here
//! waits a fixed time: each step waits for the next datagram (bounded, so a hang fails).

mod common;

use common::bin::url_of;
use common::relay::Relay;
use common::{samples_dir, testenv};
use sqlx::PgPool;
use std::os::unix::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixDatagram;

/// Per datagram: a daemon that says nothing for this long has hung, and the test fails.
const NEXT: Duration = Duration::from_secs(60);

struct Listener {
    socket: UnixDatagram,
    /// What NOTIFY_SOCKET says.
    name: String,
    _dir: tempfile::TempDir,
}

impl Listener {
    /// A socket in the abstract namespace (`@…`, as systemd uses) or at a path.
    fn new(abstract_name: bool) -> Listener {
        let dir = tempfile::tempdir().unwrap();
        let (std_socket, name) = if abstract_name {
            use std::os::linux::net::SocketAddrExt;
            let name = format!("reportbox-test-{}", common::uniq());
            let addr = SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
            (
                std::os::unix::net::UnixDatagram::bind_addr(&addr).unwrap(),
                format!("@{name}"),
            )
        } else {
            let path = dir.path().join("notify");
            (
                std::os::unix::net::UnixDatagram::bind(&path).unwrap(),
                path.display().to_string(),
            )
        };
        std_socket.set_nonblocking(true).unwrap();
        Listener {
            socket: UnixDatagram::from_std(std_socket).unwrap(),
            name,
            _dir: dir,
        }
    }

    async fn next(&self) -> String {
        let mut buf = vec![0u8; 4096];
        let n = tokio::time::timeout(NEXT, self.socket.recv(&mut buf))
            .await
            .expect("the daemon keeps talking to systemd")
            .unwrap();
        String::from_utf8(buf[..n].to_vec()).expect("sd_notify states are UTF-8")
    }
}

/// `reportbox run` on the test's database, with the sender on the stack's Postfix and the
/// mailbox where `mailbox` says.
fn daemon(
    url: &str,
    storage: &std::path::Path,
    notify: &str,
    mailbox: &[(&str, String)],
    log: &std::path::Path,
    args: &[&str],
    watchdog_usec: &str,
) -> tokio::process::Child {
    let mut cmd = common::bin::command(args);
    cmd.arg("run")
        .env("REPORTBOX_DATABASE__URL", url)
        .env("REPORTBOX_STORAGE__DIR", storage)
        .env(
            "REPORTBOX_CAMPAIGN__ROSTER",
            samples_dir().join("roster.csv"),
        )
        .env("REPORTBOX_MAILBOX__TLS", "none")
        .env("REPORTBOX_MAILBOX__FOLDERS", "INBOX")
        .env(
            "REPORTBOX_MAILBOX__PASSWORD",
            testenv("TESTENV_MAIL_PASSWORD"),
        )
        .envs(common::smtp_env())
        .envs(mailbox.iter().map(|(k, v)| (k, v)))
        .env("NOTIFY_SOCKET", notify)
        // A ping every quarter of it while healthy; a loop half of it past its announced quiet
        // is stuck.
        .env("WATCHDOG_USEC", watchdog_usec)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(log).unwrap())
        .kill_on_drop(true);
    cmd.spawn().expect("spawn reportbox run")
}

fn terminate(child: &tokio::process::Child) {
    let pid = child.id().expect("running").to_string();
    assert!(std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
}

#[sqlx::test(migrations = "./migrations")]
async fn ready_then_watchdog_while_both_loops_work(pool: PgPool) {
    let storage = tempfile::tempdir().unwrap();
    let listener = Listener::new(false);
    let user = format!(
        "notify-{}@{}",
        common::uniq().replace('.', "-"),
        testenv("TESTENV_MAIL_DOMAIN")
    );
    // stderr is "the journal": JOURNAL_STREAM names its device and inode, as systemd does.
    let log = storage.path().join("journal.log");
    std::fs::File::create(&log).unwrap();
    let meta = std::fs::metadata(&log).unwrap();
    let stream = {
        use std::os::unix::fs::MetadataExt;
        format!("{}:{}", meta.dev(), meta.ino())
    };
    let mut child = daemon(
        &url_of(&pool),
        storage.path(),
        &listener.name,
        &[
            ("REPORTBOX_MAILBOX__HOST", testenv("TESTENV_IMAP_HOST")),
            ("REPORTBOX_MAILBOX__PORT", testenv("TESTENV_IMAP_PORT")),
            ("REPORTBOX_MAILBOX__USERNAME", user),
            ("JOURNAL_STREAM", stream),
        ],
        &log,
        &[],
        // 8 s: slack enough for a loaded machine, so that a slow start is not a stuck loop.
        "8000000",
    );
    let mut seen = Vec::new();
    loop {
        let state = listener.next().await;
        seen.push(state.clone());
        if state.contains("READY=1") {
            assert!(
                state.contains("STATUS=监视 INBOX，今日处理 0 封，待发 0 封"),
                "{seen:?}"
            );
            break;
        }
        assert!(
            !state.contains("WATCHDOG=1"),
            "no ping before READY: {seen:?}"
        );
    }
    let mut pings = 0;
    while pings < 3 {
        let state = listener.next().await;
        assert!(!state.contains("无进展"), "nothing is stuck: {state}");
        if state == "WATCHDOG=1" {
            pings += 1;
        }
    }
    terminate(&child);
    loop {
        if listener.next().await.contains("STOPPING=1") {
            break;
        }
    }
    let status = tokio::time::timeout(NEXT, child.wait())
        .await
        .expect("stops after SIGTERM")
        .unwrap();
    assert_eq!(status.code(), Some(0));
    // Every line carries its priority for journald, and no timestamp of its own.
    let journal = std::fs::read_to_string(&log).unwrap();
    assert!(
        journal
            .lines()
            .any(|l| l.starts_with("<6>") && l.contains("watching the mailbox")),
        "{journal}"
    );
    assert!(
        journal.lines().all(|l| l.starts_with('<')),
        "every line has a priority:\n{journal}"
    );
}

/// An IMAP server that logs the client in, identifies itself, and then never answers SELECT:
/// the mailbox loop hangs in the middle of a pass.
async fn hanging_imap() -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            tokio::spawn(async move {
                let (r, mut w) = stream.into_split();
                let mut lines = BufReader::new(r).lines();
                w.write_all(b"* OK IMAP4rev1 ready\r\n").await.unwrap();
                while let Ok(Some(line)) = lines.next_line().await {
                    let mut words = line.split_whitespace();
                    let tag = words.next().unwrap_or("*").to_string();
                    let command = words.next().unwrap_or("").to_uppercase();
                    let reply = match command.as_str() {
                        "SELECT" | "EXAMINE" => continue,
                        "CAPABILITY" => format!("* CAPABILITY IMAP4rev1 ID\r\n{tag} OK done\r\n"),
                        "ID" => format!("* ID NIL\r\n{tag} OK done\r\n"),
                        _ => format!("{tag} OK done\r\n"),
                    };
                    if w.write_all(reply.as_bytes()).await.is_err() {
                        break;
                    }
                }
            });
        }
    });
    port
}

#[sqlx::test(migrations = "./migrations")]
async fn no_watchdog_while_the_mailbox_loop_is_stuck(pool: PgPool) {
    let storage = tempfile::tempdir().unwrap();
    let listener = Listener::new(true);
    let port = hanging_imap().await;
    let log = storage.path().join("stderr.jsonl");
    let mut child = daemon(
        &url_of(&pool),
        storage.path(),
        &listener.name,
        &[
            ("REPORTBOX_MAILBOX__HOST", "127.0.0.1".to_string()),
            ("REPORTBOX_MAILBOX__PORT", port.to_string()),
            (
                "REPORTBOX_MAILBOX__USERNAME",
                "stuck@example.test".to_string(),
            ),
        ],
        &log,
        &["--log-format", "json"],
        // 2 s: the hung SELECT counts as stuck after 1 s.
        "2000000",
    );
    let mut seen = Vec::new();
    // The login works, so the service becomes ready; then SELECT hangs.
    loop {
        let state = listener.next().await;
        seen.push(state.clone());
        if state.contains("READY=1") {
            break;
        }
    }
    loop {
        let state = listener.next().await;
        seen.push(state.clone());
        if state.contains("收信") && state.contains("无进展") {
            break;
        }
    }
    // Still hung: from here to STOPPING, not one ping.
    terminate(&child);
    loop {
        let state = listener.next().await;
        assert!(
            !state.contains("WATCHDOG=1"),
            "a ping while the mailbox loop is stuck: {seen:?} then {state}"
        );
        if state.contains("STOPPING=1") {
            break;
        }
    }
    let _ = child.kill().await;
    // --log-format json: one JSON object a line; the stuck loop is an ERROR.
    let lines = std::fs::read_to_string(&log).unwrap();
    let events: Vec<serde_json::Value> = lines
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert!(
        events.iter().any(|e| e["level"] == "ERROR"
            && e["fields"]["message"]
                .as_str()
                .is_some_and(|m| m.contains("no progress"))),
        "{lines}"
    );
}

/// systemd sends SIGTERM and kills the service 15 s later (TimeoutStopSec); the issue asks for a
/// clean exit within 10 s in every state, a database outage included.
#[sqlx::test(migrations = "./migrations")]
async fn sigterm_during_a_database_outage_exits_cleanly_within_ten_seconds(pool: PgPool) {
    let storage = tempfile::tempdir().unwrap();
    let listener = Listener::new(false);
    let relay = Relay::start().await;
    let user = format!(
        "outage-{}@{}",
        common::uniq().replace('.', "-"),
        testenv("TESTENV_MAIL_DOMAIN")
    );
    let log = storage.path().join("stderr.log");
    let mut child = daemon(
        &relay.url(&pool, ""),
        storage.path(),
        &listener.name,
        &[
            ("REPORTBOX_MAILBOX__HOST", testenv("TESTENV_IMAP_HOST")),
            ("REPORTBOX_MAILBOX__PORT", testenv("TESTENV_IMAP_PORT")),
            ("REPORTBOX_MAILBOX__USERNAME", user),
        ],
        &log,
        &[],
        "8000000",
    );
    while !listener.next().await.contains("READY=1") {}
    relay.cut();
    // Until the daemon has noticed: it is then retrying against a database that is not there.
    let deadline = tokio::time::Instant::now() + NEXT;
    loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        if text.contains("lost the mailbox lock") || text.contains("cannot connect to the database")
        {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the daemon never noticed the outage:\n{text}"
        );
        let _ = tokio::time::timeout(Duration::from_millis(200), listener.next()).await;
    }
    terminate(&child);
    let status = tokio::time::timeout(Duration::from_secs(10), child.wait())
        .await
        .unwrap_or_else(|_| {
            panic!(
                "still running 10 s after SIGTERM:\n{}",
                std::fs::read_to_string(&log).unwrap_or_default()
            )
        })
        .unwrap();
    assert_eq!(
        status.code(),
        Some(0),
        "{}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );
}
