//! What the daemon knows about its own health, kept where another process can read it
//! (`status`, `failures`, the metrics endpoint), and the coordinator's `retry`.

use super::{Store, StoreError, OUTBOX_CHANNEL};
use chrono::{DateTime, FixedOffset, Utc};
use chrono_tz::Tz;
use serde::Serialize;
use sqlx::Row;

/// The `service` key of `status --format json`: the daemon, each folder's last poll, the last
/// error, the outbox and what was given up on. Times are in the campaign's zone.
#[derive(Debug, Clone, Serialize)]
pub struct ServiceHealth {
    /// The daemon that last started (`run`); `None` before any has.
    pub daemon: Option<Daemon>,
    /// Every folder the daemon has opened, with its last successful poll.
    pub folders: Vec<FolderPoll>,
    pub last_error: Option<LastError>,
    pub outbox: Backlog,
    /// Messages given up on after `mailbox.max_attempts` (listed by `reportbox failures`).
    pub given_up_messages: i64,
    /// Of those, how many `retry` has asked to be fetched again on the next pass.
    pub retry_requested_messages: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Daemon {
    pub pid: i32,
    pub version: String,
    pub host: String,
    pub started_at: DateTime<FixedOffset>,
}

#[derive(Debug, Clone, Serialize)]
pub struct FolderPoll {
    pub account: String,
    pub folder: String,
    pub last_uid: i64,
    /// `None` when no pass over it has finished since this was recorded (an older version).
    pub last_poll_at: Option<DateTime<FixedOffset>>,
}

#[derive(Debug, Clone, Serialize)]
pub struct LastError {
    /// `mailbox` or `sender`.
    pub source: String,
    pub error: String,
    pub at: DateTime<FixedOffset>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Backlog {
    /// Emails not yet sent (due now or waiting for a retry).
    pub pending: i64,
    /// Of those, due now.
    pub due: i64,
    /// When the longest-waiting due email was queued.
    pub oldest_due_at: Option<DateTime<FixedOffset>>,
    /// Emails given up on (listed by `reportbox failures`).
    pub failed: i64,
    /// A pause the SMTP server imposed, while it lasts.
    pub paused_until: Option<DateTime<FixedOffset>>,
    pub pause_reason: Option<String>,
}

/// A message the daemon gave up on.
#[derive(Debug, Clone, Serialize)]
pub struct GivenUp {
    pub account: String,
    pub folder: String,
    pub uidvalidity: i64,
    pub uid: i64,
    pub attempts: i32,
    pub error: Option<String>,
    pub first_at: DateTime<FixedOffset>,
    pub last_at: DateTime<FixedOffset>,
    /// `retry` asked for it to be fetched again; the next pass does.
    pub retry_requested: bool,
}

/// An email that could not be delivered.
#[derive(Debug, Clone, Serialize)]
pub struct FailedEmail {
    pub id: i64,
    pub kind: String,
    pub recipients: Vec<String>,
    pub subject: String,
    pub attempts: i32,
    pub error: Option<String>,
    pub created_at: DateTime<FixedOffset>,
}

/// `reportbox failures`.
#[derive(Debug, Clone, Serialize)]
pub struct Failures {
    pub messages: Vec<GivenUp>,
    pub emails: Vec<FailedEmail>,
}

/// What `retry` changed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Retried {
    /// Outbox ids put back in the queue.
    pub emails: Vec<i64>,
    /// Given-up messages to be fetched again on the next pass.
    pub messages: usize,
}

/// What `retry --email ID --message FOLDER:UID` names.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RetryOnly {
    pub emails: Vec<i64>,
    /// `folder:uid`, as `failures` shows them.
    pub messages: Vec<String>,
}

fn local(t: DateTime<Utc>, tz: Tz) -> DateTime<FixedOffset> {
    t.with_timezone(&tz).fixed_offset()
}

impl Store {
    /// Messages recorded since `since` (the day's count on systemd's STATUS line).
    pub async fn messages_since(&self, since: DateTime<Utc>) -> Result<i64, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT count(*) FROM messages WHERE processed_at >= $1")
                .bind(since)
                .fetch_one(&self.pool)
                .await?,
        )
    }

    /// The daemon started: who it is, for `status`.
    pub async fn service_started(&self, version: &str, host: &str) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE service_health SET pid = $1, version = $2, host = $3, started_at = now()
             WHERE id = 1",
        )
        .bind(i32::try_from(std::process::id()).unwrap_or(i32::MAX))
        .bind(version)
        .bind(host)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Records the last error a loop of the daemon met. Callers write only when the error
    /// changes, so an outage costs one row update, not one per retry.
    pub async fn service_error(&self, source: &str, error: &str) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE service_health SET last_error_source = $1, last_error = $2,
               last_error_at = now() WHERE id = 1",
        )
        .bind(source)
        .bind(super::text::storable(error))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Everything of [`ServiceHealth`], in four short queries.
    pub async fn service_health(&self, tz: Tz) -> Result<ServiceHealth, StoreError> {
        let h = sqlx::query(
            "SELECT pid, version, host, started_at, last_error_source, last_error, last_error_at
             FROM service_health WHERE id = 1",
        )
        .fetch_optional(&self.pool)
        .await?;
        let (daemon, last_error) = match &h {
            Some(r) => {
                let started: Option<DateTime<Utc>> = r.get("started_at");
                let daemon = started.map(|s| Daemon {
                    pid: r.get::<Option<i32>, _>("pid").unwrap_or_default(),
                    version: r.get::<Option<String>, _>("version").unwrap_or_default(),
                    host: r.get::<Option<String>, _>("host").unwrap_or_default(),
                    started_at: local(s, tz),
                });
                let at: Option<DateTime<Utc>> = r.get("last_error_at");
                let error = at.map(|at| LastError {
                    source: r
                        .get::<Option<String>, _>("last_error_source")
                        .unwrap_or_default(),
                    error: r.get::<Option<String>, _>("last_error").unwrap_or_default(),
                    at: local(at, tz),
                });
                (daemon, error)
            }
            None => (None, None),
        };
        let folders = sqlx::query(
            "SELECT account, folder, last_uid, last_poll_at FROM mailbox_progress
             ORDER BY account, folder",
        )
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|r| FolderPoll {
            account: r.get("account"),
            folder: r.get("folder"),
            last_uid: r.get("last_uid"),
            last_poll_at: r
                .get::<Option<DateTime<Utc>>, _>("last_poll_at")
                .map(|t| local(t, tz)),
        })
        .collect();
        let o = sqlx::query(
            "SELECT count(*) FILTER (WHERE state = 'pending') AS pending,
                    count(*) FILTER (WHERE state = 'pending' AND next_attempt_at <= now()) AS due,
                    min(created_at) FILTER (WHERE state = 'pending' AND next_attempt_at <= now())
                      AS oldest_due_at,
                    count(*) FILTER (WHERE state = 'failed') AS failed,
                    (SELECT paused_until FROM sender_state WHERE paused_until > now()
                      ORDER BY paused_until DESC LIMIT 1) AS paused_until,
                    (SELECT reason FROM sender_state WHERE paused_until > now()
                      ORDER BY paused_until DESC LIMIT 1) AS pause_reason
             FROM outbox",
        )
        .fetch_one(&self.pool)
        .await?;
        let outbox = Backlog {
            pending: o.get("pending"),
            due: o.get("due"),
            oldest_due_at: o
                .get::<Option<DateTime<Utc>>, _>("oldest_due_at")
                .map(|t| local(t, tz)),
            failed: o.get("failed"),
            paused_until: o
                .get::<Option<DateTime<Utc>>, _>("paused_until")
                .map(|t| local(t, tz)),
            pause_reason: o.get("pause_reason"),
        };
        let g = sqlx::query(
            "SELECT count(*) FILTER (WHERE gave_up) AS given_up,
                    count(*) FILTER (WHERE retry_requested_at IS NOT NULL) AS retry
             FROM mailbox_failures",
        )
        .fetch_one(&self.pool)
        .await?;
        Ok(ServiceHealth {
            daemon,
            folders,
            last_error,
            outbox,
            given_up_messages: g.get("given_up"),
            retry_requested_messages: g.get("retry"),
        })
    }

    /// Messages given up on (and those waiting for their retry), and emails that failed.
    pub async fn failures(&self, tz: Tz) -> Result<Failures, StoreError> {
        let messages = sqlx::query(
            "SELECT account, folder, uidvalidity, uid, attempts, last_error, first_at, last_at,
                    retry_requested_at
             FROM mailbox_failures WHERE gave_up OR retry_requested_at IS NOT NULL
             ORDER BY first_at, folder, uid",
        )
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|r| GivenUp {
            account: r.get("account"),
            folder: r.get("folder"),
            uidvalidity: r.get("uidvalidity"),
            uid: r.get("uid"),
            attempts: r.get("attempts"),
            error: r.get("last_error"),
            first_at: local(r.get("first_at"), tz),
            last_at: local(r.get("last_at"), tz),
            retry_requested: r
                .get::<Option<DateTime<Utc>>, _>("retry_requested_at")
                .is_some(),
        })
        .collect();
        let emails = sqlx::query(
            "SELECT id, kind, recipients, subject, attempts, last_error, created_at
             FROM outbox WHERE state = 'failed' ORDER BY id",
        )
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|r| FailedEmail {
            id: r.get("id"),
            kind: r.get("kind"),
            recipients: r.get("recipients"),
            subject: r.get("subject"),
            attempts: r.get("attempts"),
            error: r.get("last_error"),
            created_at: local(r.get("created_at"), tz),
        })
        .collect();
        Ok(Failures { messages, emails })
    }

    /// Puts every failed email back in the queue (due now, attempts from zero) and asks the
    /// daemon to fetch every given-up message again. Repeating it changes nothing more: a row
    /// already queued or already asked for is not touched again, and a message recorded in
    /// the meantime is recognised by the pipeline's dedupe and answered no second time.
    ///
    /// `only` limits it to the emails (outbox ids) and messages (`folder:uid`) named; `None`
    /// retries everything.
    pub async fn retry_failures(&self, only: Option<&RetryOnly>) -> Result<Retried, StoreError> {
        let (emails, messages) = match only {
            Some(o) => (Some(o.emails.clone()), Some(o.messages.clone())),
            None => (None, None),
        };
        let mut tx = self.pool.begin().await?;
        let emails: Vec<i64> = sqlx::query_scalar(
            "UPDATE outbox SET state = 'pending', attempts = 0, next_attempt_at = now()
             WHERE state = 'failed' AND ($1::bigint[] IS NULL OR id = ANY($1)) RETURNING id",
        )
        .bind(emails)
        .fetch_all(&mut *tx)
        .await?;
        if !emails.is_empty() {
            sqlx::query("SELECT pg_notify($1, '')")
                .bind(OUTBOX_CHANNEL)
                .execute(&mut *tx)
                .await?;
        }
        let messages = sqlx::query(
            "UPDATE mailbox_failures SET gave_up = FALSE, attempts = 0, retry_requested_at = now()
             WHERE gave_up AND ($1::text[] IS NULL OR folder || ':' || uid = ANY($1))",
        )
        .bind(messages)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        tx.commit().await?;
        let mut emails = emails;
        emails.sort_unstable();
        Ok(Retried {
            emails,
            messages: usize::try_from(messages).unwrap_or(usize::MAX),
        })
    }
}
