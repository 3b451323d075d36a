//! What the mailbox tests share: the loopback stack's addresses (from deploy/testenv/up.sh's
//! exports), an SMTP sender, a small IMAP helper, settings for a test's own mailbox, and the
//! `reportbox` binary run as a child process.
#![allow(dead_code)]

#[path = "../common/mod.rs"]
pub mod common;
pub mod drill;

use futures_util::TryStreamExt;
use reportbox::config::Settings;
use sqlx::PgPool;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// Generous: only reached when something is broken.
pub const DEADLINE: Duration = Duration::from_secs(60);

pub fn var(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!(
            "{name} is not set: run the tests with deploy/test.sh (it starts the loopback stack)"
        )
    })
}

pub fn uniq_user(prefix: &str) -> String {
    let tag = common::uniq().replace('.', "-");
    format!("{prefix}-{tag}@{}", var("TESTENV_MAIL_DOMAIN"))
}

/// Waits for `check` to hold, looking again every 50 ms until the deadline.
pub async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let end = tokio::time::Instant::now() + DEADLINE;
    while !check().await {
        assert!(
            tokio::time::Instant::now() < end,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Sends `raw` to `to` over SMTP on the stack's Postfix, as a unit's mail client would.
pub async fn smtp_send(to: &str, raw: &[u8]) {
    let addr = format!("{}:{}", var("TESTENV_SMTP_HOST"), var("TESTENV_SMTP_PORT"));
    let stream = TcpStream::connect(&addr).await.expect("connect to SMTP");
    let (r, mut w) = stream.into_split();
    let mut r = BufReader::new(r);
    async fn reply(r: &mut BufReader<tokio::net::tcp::OwnedReadHalf>, want: char) {
        loop {
            let mut line = String::new();
            r.read_line(&mut line).await.unwrap();
            assert!(line.starts_with(want), "SMTP: unexpected reply {line:?}");
            if line.as_bytes().get(3) != Some(&b'-') {
                return;
            }
        }
    }
    reply(&mut r, '2').await;
    for (cmd, want) in [
        ("EHLO unit.test\r\n".to_string(), '2'),
        ("MAIL FROM:<sender@unit.test>\r\n".to_string(), '2'),
        (format!("RCPT TO:<{to}>\r\n"), '2'),
        ("DATA\r\n".to_string(), '3'),
    ] {
        w.write_all(cmd.as_bytes()).await.unwrap();
        reply(&mut r, want).await;
    }
    let mut body = Vec::with_capacity(raw.len() + 64);
    for line in raw.split_inclusive(|&b| b == b'\n') {
        if line.starts_with(b".") {
            body.push(b'.');
        }
        body.extend_from_slice(line);
    }
    if !body.ends_with(b"\n") {
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(b".\r\n");
    w.write_all(&body).await.unwrap();
    reply(&mut r, '2').await;
    w.write_all(b"QUIT\r\n").await.unwrap();
}

/// A sample from the corpus with a fresh Message-ID, so each copy is a new submission.
pub fn sample(index: usize, tag: &str) -> Vec<u8> {
    let samples = common::sample_messages();
    let raw = &samples[index % samples.len()].1;
    let needle = b"Message-ID: <";
    let mut out = Vec::with_capacity(raw.len() + 64);
    match raw
        .windows(needle.len())
        .position(|w| w.eq_ignore_ascii_case(needle))
    {
        Some(i) => {
            out.extend_from_slice(&raw[..i + needle.len()]);
            out.extend_from_slice(format!("{tag}.").as_bytes());
            out.extend_from_slice(&raw[i + needle.len()..]);
        }
        None => {
            out.extend_from_slice(format!("Message-ID: <{tag}@test>\r\n").as_bytes());
            out.extend_from_slice(raw);
        }
    }
    out
}

pub type TestImap = async_imap::Session<TcpStream>;

/// A plain session on the test's mailbox, as "another client" (the coordinator's webmail).
pub async fn imap(user: &str) -> TestImap {
    let tcp = TcpStream::connect((
        var("TESTENV_IMAP_HOST").as_str(),
        var("TESTENV_IMAP_PORT").parse::<u16>().unwrap(),
    ))
    .await
    .unwrap();
    let mut client = async_imap::Client::new(tcp);
    client.read_response().await.unwrap();
    client
        .login(user, var("TESTENV_MAIL_PASSWORD"))
        .await
        .map_err(|(e, _)| e)
        .unwrap()
}

/// Waits until `folder` of `user` holds at least `n` messages (SMTP delivery is asynchronous).
pub async fn wait_delivered(user: &str, folder: &str, n: u32) {
    let mut s = imap(user).await;
    let end = tokio::time::Instant::now() + DEADLINE;
    while !s.examine(folder).await.is_ok_and(|m| m.exists >= n) {
        assert!(
            tokio::time::Instant::now() < end,
            "timed out waiting for {n} messages delivered to {user}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = s.logout().await;
}

pub async fn flags_of(user: &str, folder: &str) -> Vec<(u32, Vec<String>)> {
    let mut s = imap(user).await;
    s.examine(folder).await.unwrap();
    let fetched: Vec<_> = s
        .uid_fetch("1:*", "(UID FLAGS)")
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    let out = fetched
        .iter()
        .map(|f| {
            (
                f.uid.unwrap(),
                f.flags().map(|fl| format!("{fl:?}")).collect(),
            )
        })
        .collect();
    let _ = s.logout().await;
    out
}

/// `REPORTBOX_MAILBOX__*` for the test's mailbox over `tls` (`none`, `starttls`, `implicit`).
pub fn mailbox_env(user: &str, id_name: &str, tls: &str) -> Vec<(String, String)> {
    let port = match tls {
        "implicit" => var("TESTENV_IMAPS_PORT"),
        _ => var("TESTENV_IMAP_PORT"),
    };
    [
        ("HOST", var("TESTENV_TLS_SERVER_NAME")),
        ("PORT", port),
        ("TLS", tls.to_string()),
        ("CA_FILE", var("TESTENV_CA_CERT")),
        ("USERNAME", user.to_string()),
        ("PASSWORD", var("TESTENV_MAIL_PASSWORD")),
        ("ID_NAME", id_name.to_string()),
        ("LOGIN_MIN_INTERVAL", "0".to_string()),
        ("BACKOFF_INITIAL", "100ms".to_string()),
        ("BACKOFF_MAX", "1s".to_string()),
        ("POLL_INTERVAL", "300ms".to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (format!("REPORTBOX_MAILBOX__{k}"), v))
    .collect()
}

/// Settings on the test's database and storage, watching `user`'s mailbox.
pub fn settings(
    storage: &Path,
    user: &str,
    id_name: &str,
    tls: &str,
    extra: &[(&str, &str)],
) -> Settings {
    let env = mailbox_env(user, id_name, tls);
    let mut all: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    all.extend_from_slice(extra);
    common::settings_with(&common::samples_dir().join("roster.csv"), storage, &all)
}

#[allow(unused_imports)]
pub use common::bin::url_of;

pub async fn count_messages(pool: &PgPool) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM messages")
        .fetch_one(pool)
        .await
        .unwrap()
}

/// `reportbox run` (or `once`) as a child process, killed when dropped.
pub struct Daemon {
    pub child: Child,
    pub log: PathBuf,
}

impl Daemon {
    pub fn spawn(
        command: &str,
        db_url: &str,
        storage: &Path,
        mailbox: &[(String, String)],
        log: PathBuf,
    ) -> Daemon {
        let stderr = std::fs::File::create(&log).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_reportbox"))
            .arg("--config")
            .arg(common::repo().join("config/reportbox.toml"))
            .arg(command)
            .env("REPORTBOX_DATABASE__URL", db_url)
            .env("REPORTBOX_STORAGE__DIR", storage)
            .env(
                "REPORTBOX_CAMPAIGN__ROSTER",
                common::samples_dir().join("roster.csv"),
            )
            .env("REPORTBOX_LOG", "info,reportbox=debug")
            // The sender runs too: point it at the loopback Postfix, never at 163.
            .envs(common::smtp_env())
            .envs(mailbox.iter().cloned())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .expect("spawn reportbox");
        Daemon { child, log }
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    pub fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .args([sig, &self.pid().to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill {sig} {}", self.pid());
    }

    /// Waits (bounded) for the process to exit and returns its status.
    pub async fn wait_exit(&mut self, within: Duration) -> std::process::ExitStatus {
        let end = tokio::time::Instant::now() + within;
        loop {
            if let Some(st) = self.child.try_wait().unwrap() {
                return st;
            }
            assert!(
                tokio::time::Instant::now() < end,
                "reportbox did not exit within {within:?}; log:\n{}",
                self.log_text()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
