//! What the failure drills (issue 12) share: a campaign of a few units on the loopback mail
//! domain, submissions whose attachment bytes differ per message sent over SMTP into the
//! campaign's IMAP mailbox, `reportbox run` as a child process on it, and the checks every drill
//! ends with — from the database, the storage directory and the units' own mailboxes.

use super::common::{self, Mail};
use super::{mailbox_env, smtp_send, uniq_user, wait_delivered, Daemon, DEADLINE};
use reportbox::intake::{self, IntakeLimits};
use reportbox::store::sha256_hex;
use sqlx::PgPool;
use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

pub struct Submission {
    /// With angle brackets, as written.
    pub message_id: String,
    pub unit: usize,
    pub attachment_sha256: String,
}

pub struct Campaign {
    pub mailbox: String,
    /// Each unit's address; the roster's unit `drill-unit-{i}` has the i-th.
    pub units: Vec<String>,
    pub dir: tempfile::TempDir,
    roster: PathBuf,
    pub submissions: Vec<Submission>,
}

/// A drill's size from the environment (`DRILL_KILLS=30` for the long run), else `default`.
pub fn knob(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The seed of a drill's random moments: `DRILL_SEED` to repeat a run, else a fresh one. Printed
/// so that a failure can be replayed.
pub fn seed(drill: &str) -> fastrand::Rng {
    let seed = std::env::var("DRILL_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| fastrand::u64(..));
    eprintln!("{drill}: seed {seed} (DRILL_SEED={seed} repeats it)");
    fastrand::Rng::with_seed(seed)
}

impl Campaign {
    pub fn new(tag: &str, units: usize) -> Campaign {
        let mailbox = uniq_user(&format!("{tag}-campaign"));
        let units: Vec<String> = (0..units)
            .map(|i| uniq_user(&format!("{tag}-unit{i}")))
            .collect();
        let dir = tempfile::tempdir().unwrap();
        let rows: Vec<(String, String, String, String)> = units
            .iter()
            .enumerate()
            .map(|(i, a)| {
                (
                    format!("drill-unit-{i}"),
                    format!("演练单位{i}号"),
                    format!("太原市演练单位{i}号"),
                    a.clone(),
                )
            })
            .collect();
        let refs: Vec<(&str, &str, &str, &str)> = rows
            .iter()
            .map(|(a, b, c, d)| (a.as_str(), b.as_str(), c.as_str(), d.as_str()))
            .collect();
        let roster = common::write_roster(dir.path(), &refs);
        Campaign {
            mailbox,
            units,
            dir,
            roster,
            submissions: Vec::new(),
        }
    }

    /// Sends `n` submissions round the units, each with a summary report whose bytes no other
    /// has, and waits until the campaign's mailbox holds them all.
    pub async fn deliver(&mut self, n: usize) {
        for _ in 0..n {
            let i = self.submissions.len();
            let unit = i % self.units.len();
            let mut text = common::report_txt();
            text.extend_from_slice(format!("\n第{i}份（{}）\n", common::uniq()).as_bytes());
            let mail = Mail::new(
                &self.units[unit],
                &format!("演练单位{unit}号报送科技活动周总结（第{i}份）"),
            )
            .attach(
                &format!("活动周总结报告（第{i}份）.txt"),
                "text/plain",
                text.clone(),
            );
            smtp_send(&self.mailbox, &mail.build()).await;
            self.submissions.push(Submission {
                message_id: mail.message_id.clone().unwrap(),
                unit,
                attachment_sha256: sha256_hex(&text),
            });
        }
        wait_delivered(&self.mailbox, "INBOX", self.submissions.len() as u32).await;
    }

    pub fn roster(&self) -> &std::path::Path {
        &self.roster
    }

    pub fn storage(&self) -> PathBuf {
        self.dir.path().join("storage")
    }

    /// `reportbox run` on the campaign's mailbox and `db_url`, logging to `<name>.log`. A resend
    /// grace of 0 makes an email a kill interrupted mid-transmission go out again at once, so the
    /// drill sees the duplicates at-least-once allows instead of waiting 5 minutes for them.
    pub fn spawn(&self, db_url: &str, name: &str, extra: &[(&str, &str)]) -> Daemon {
        self.spawn_in("run", db_url, name, &self.storage(), extra)
    }

    /// `reportbox <command>` as [`Campaign::spawn`] runs it, with `storage` as this process's
    /// `storage.dir` (another machine's local directory, say).
    pub fn spawn_in(
        &self,
        command: &str,
        db_url: &str,
        name: &str,
        storage: &std::path::Path,
        extra: &[(&str, &str)],
    ) -> Daemon {
        let mut env = mailbox_env(&self.mailbox, "rb-drill", "none");
        for (k, v) in [
            (
                "REPORTBOX_CAMPAIGN__ROSTER",
                self.roster.display().to_string(),
            ),
            ("REPORTBOX_MAILBOX__FOLDERS", "INBOX".to_string()),
            // Ten submissions a unit within the hour: every one is owed its acknowledgement.
            (
                "REPORTBOX_CAMPAIGN__ACKS_PER_SENDER_PER_HOUR",
                "100000".to_string(),
            ),
            ("REPORTBOX_SMTP__RESEND_GRACE_SECONDS", "0".to_string()),
        ] {
            env.push((k.to_string(), v));
        }
        env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        Daemon::spawn(
            command,
            db_url,
            storage,
            &env,
            self.dir.path().join(format!("{name}.log")),
        )
    }

    /// Every log so far, for a failure message.
    pub fn logs(&self) -> String {
        let mut names: Vec<PathBuf> = std::fs::read_dir(self.dir.path())
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "log"))
            .collect();
        names.sort();
        let mut out = String::new();
        for p in names {
            let text = std::fs::read_to_string(&p).unwrap_or_default();
            // The end of each log is what explains a hang.
            let tail: Vec<&str> = text.lines().rev().take(40).collect();
            out.push_str(&format!("==== {}\n", p.display()));
            for l in tail.into_iter().rev() {
                out.push_str(l);
                out.push('\n');
            }
        }
        out
    }

    /// Waits (bounded) until every submission is recorded and every acknowledgement is sent.
    pub async fn wait_drained(&self, pool: &PgPool) {
        let n = self.submissions.len() as i64;
        let end = tokio::time::Instant::now() + DEADLINE;
        loop {
            let (messages, acks, sent) = drained(pool).await;
            if messages >= n && acks >= n && sent == acks {
                return;
            }
            assert_nothing_given_up(pool).await;
            assert!(
                tokio::time::Instant::now() < end,
                "not drained: {messages}/{n} recorded, {sent}/{acks} acknowledgements sent\n{}",
                self.logs()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Nothing lost, nothing twice: each submission is one row of `messages`, and there is no
    /// other.
    pub async fn assert_recorded_once(&self, pool: &PgPool) {
        let rows: Vec<(Option<String>, i64)> =
            sqlx::query_as("SELECT message_id, count(*) FROM messages GROUP BY message_id")
                .fetch_all(pool)
                .await
                .unwrap();
        let recorded: HashMap<String, i64> = rows
            .into_iter()
            .map(|(id, n)| (bare(&id.unwrap_or_default()).to_string(), n))
            .collect();
        for s in &self.submissions {
            assert_eq!(
                recorded.get(bare(&s.message_id)),
                Some(&1),
                "{} recorded once",
                s.message_id
            );
        }
        assert_eq!(recorded.len(), self.submissions.len(), "{recorded:?}");
    }

    /// Every original is in the storage directory with the bytes its hash names: each raw
    /// message, each file, and each submission's attachment by the hash of what was sent.
    pub async fn assert_originals(&self, pool: &PgPool) {
        self.assert_originals_in(pool, &reportbox::store::ObjectStore::new(self.storage()))
            .await;
    }

    /// [`Campaign::assert_originals`] against `objects` (a bucket, say).
    pub async fn assert_originals_in(
        &self,
        pool: &PgPool,
        objects: &reportbox::store::ObjectStore,
    ) {
        let hashes: Vec<String> = sqlx::query_scalar(
            "SELECT raw_sha256 FROM messages
             UNION SELECT sha256 FROM files WHERE sha256 IS NOT NULL",
        )
        .fetch_all(pool)
        .await
        .unwrap();
        for h in &hashes {
            let bytes = objects
                .get(h)
                .await
                .unwrap_or_else(|e| panic!("original {h} missing: {e}"));
            assert_eq!(&sha256_hex(&bytes), h, "the original {h} is intact");
        }
        for s in &self.submissions {
            assert!(
                hashes.contains(&s.attachment_sha256),
                "the attachment of {} is kept",
                s.message_id
            );
        }
    }

    /// One acknowledgement per message in the outbox, each sent, and no given-up message.
    pub async fn assert_acks_queued_once_and_sent(&self, pool: &PgPool) {
        let (rows, messages, sent): (i64, i64, i64) = sqlx::query_as(
            "SELECT count(*), count(DISTINCT message_id), count(*) FILTER (WHERE state = 'sent')
             FROM outbox WHERE kind = 'ack'",
        )
        .fetch_one(pool)
        .await
        .unwrap();
        let n = self.submissions.len() as i64;
        assert_eq!((rows, messages, sent), (n, n, n), "acknowledgements");
    }

    /// Reads every unit's mailbox until each submission's acknowledgement has arrived, asserts
    /// that every copy of one acknowledgement carries the same Message-ID (at-least-once with
    /// the same id) and returns how many copies arrived beyond the first.
    pub async fn acks_received(&self) -> usize {
        let mut duplicates = 0;
        for (unit, address) in self.units.iter().enumerate() {
            let owed: Vec<&Submission> =
                self.submissions.iter().filter(|s| s.unit == unit).collect();
            let end = tokio::time::Instant::now() + DEADLINE;
            let acks = loop {
                let acks: Vec<intake::Parsed> = common::imap_messages(address)
                    .await
                    .iter()
                    .map(|raw| intake::parse(raw, &IntakeLimits::default()))
                    .filter(|p| p.auto_submitted.as_deref() == Some("auto-replied"))
                    .collect();
                let all_in = owed
                    .iter()
                    .all(|s| acks.iter().any(|a| a.references.contains(&s.message_id)));
                if all_in {
                    break acks;
                }
                assert!(
                    tokio::time::Instant::now() < end,
                    "{address}: {} acknowledgements for {} submissions",
                    acks.len(),
                    owed.len()
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            };
            for s in &owed {
                let copies: Vec<&Option<String>> = acks
                    .iter()
                    .filter(|a| a.references.contains(&s.message_id))
                    .map(|a| &a.message_id)
                    .collect();
                assert!(
                    copies.iter().all(|id| id.is_some() && *id == copies[0]),
                    "every copy of the acknowledgement of {} has the first one's Message-ID: {copies:?}",
                    s.message_id
                );
                duplicates += copies.len() - 1;
            }
            assert!(
                acks.iter()
                    .all(|a| owed.iter().any(|s| a.references.contains(&s.message_id))),
                "{address} got only acknowledgements of its own submissions"
            );
        }
        duplicates
    }
}

/// Messages recorded, acknowledgements queued, acknowledgements sent.
pub async fn drained(pool: &PgPool) -> (i64, i64, i64) {
    sqlx::query_as(
        "SELECT (SELECT count(*) FROM messages),
                (SELECT count(*) FROM outbox WHERE kind = 'ack'),
                (SELECT count(*) FROM outbox WHERE kind = 'ack' AND state = 'sent')",
    )
    .fetch_one(pool)
    .await
    .unwrap()
}

/// A Message-ID without its angle brackets.
pub fn bare(id: &str) -> &str {
    id.trim().trim_start_matches('<').trim_end_matches('>')
}

/// A message given up on is lost to the drain: say so at once rather than time out waiting.
pub async fn assert_nothing_given_up(pool: &PgPool) {
    let given_up: Vec<(i64, i32, Option<String>)> = sqlx::query_as(
        "SELECT uid, attempts, last_error FROM mailbox_failures WHERE gave_up ORDER BY uid",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    assert!(given_up.is_empty(), "messages given up on: {given_up:?}");
}

/// Messages recorded plus acknowledgements sent: how far a drain has got.
pub async fn progress(pool: &PgPool) -> i64 {
    sqlx::query_scalar(
        "SELECT (SELECT count(*) FROM messages)
              + (SELECT count(*) FROM outbox WHERE kind = 'ack' AND state = 'sent')",
    )
    .fetch_one(pool)
    .await
    .unwrap()
}

/// Waits (bounded) until `progress` reaches `target`, looking every few milliseconds so that
/// the moment after it is close to the event. Returns false when `daemon` exited meanwhile.
pub async fn wait_progress(pool: &PgPool, daemon: &mut Daemon, target: i64) -> bool {
    let end = tokio::time::Instant::now() + DEADLINE;
    loop {
        if progress(pool).await >= target {
            return true;
        }
        if daemon.child.try_wait().unwrap().is_some() {
            return false;
        }
        assert_nothing_given_up(pool).await;
        assert!(
            tokio::time::Instant::now() < end,
            "no progress to {target}:\n{}",
            daemon.log_text()
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Waits (bounded) until `daemon` has logged `what`.
pub async fn wait_log(daemon: &Daemon, what: &str) {
    let end = tokio::time::Instant::now() + DEADLINE;
    while !daemon.log_text().contains(what) {
        assert!(
            tokio::time::Instant::now() < end,
            "never logged {what:?}:\n{}",
            daemon.log_text()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

impl Campaign {
    /// Runs `report --send` as a host with local directory `dir` would (`env`: its storage
    /// settings), and returns the 汇总表.xlsx the coordinator received.
    pub async fn send_report(
        &self,
        url: &str,
        dir: &std::path::Path,
        env: &[(String, String)],
        coordinator: &str,
    ) -> Vec<u8> {
        use mail_parser::MimeHeaders;
        let mut cmd = common::bin::command(&["report", "--send"]);
        cmd.env("REPORTBOX_DATABASE__URL", url)
            .env("REPORTBOX_STORAGE__DIR", dir)
            .env("REPORTBOX_CAMPAIGN__ROSTER", self.roster())
            .envs(common::smtp_env())
            .envs(env.iter().cloned());
        let out = common::bin::output(cmd, DEADLINE).await;
        assert_eq!(out.code, 0, "{out}");
        wait_delivered(coordinator, "INBOX", 1).await;
        let raw = common::imap_messages(coordinator).await.remove(0);
        let mail = mail_parser::MessageParser::default().parse(&raw).unwrap();
        let xlsx = mail
            .attachments()
            .find(|a| a.attachment_name() == Some("汇总表.xlsx"))
            .expect("the report carries 汇总表.xlsx")
            .contents()
            .to_vec();
        xlsx
    }
}
