//! The outbox: emails to send, as rows. A sender claims one due row at a time with
//! `FOR UPDATE SKIP LOCKED` and keeps it locked until the server has accepted the envelope, so
//! a second instance never sends the same row and a crash before then returns the row to the
//! queue; it then commits "sending" and transmits the message. A row left "sending" is sent
//! again after a grace period, with the same Message-ID.

use super::{CampaignId, Store, StoreError};
use crate::campaign::EmailState;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::{Postgres, Row, Transaction};

/// A file attached to an outgoing email; its bytes are in the object store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboxAttachment {
    pub name: String,
    pub content_type: String,
    pub sha256: String,
}

/// An email to send, fully composed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewOutbox {
    /// `ack:<message>`, `reminder:<round>:<unit>`, `report:<date>`: one email per key, ever.
    pub dedupe_key: String,
    pub kind: String,
    pub unit_id: Option<String>,
    pub message_id: Option<i64>,
    pub recipients: Vec<String>,
    pub subject: String,
    pub body_text: String,
    pub body_html: String,
    pub in_reply_to: Option<String>,
    pub references: Option<String>,
    pub auto_submitted: String,
    pub attachments: Vec<OutboxAttachment>,
}

/// A stored outbox row.
#[derive(Debug, Clone)]
pub struct OutboxRow {
    pub id: i64,
    pub email: NewOutbox,
    pub state: EmailState,
    pub attempts: i32,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
}

impl OutboxRow {
    /// The Message-ID of this row: `<reportbox.{kind}.{id}.{token}@{domain}>`. The token makes
    /// ids from two databases (a test run, a reinstall) differ, so a client never folds two
    /// unrelated emails into one; it is derived from the row's creation instant, stored with
    /// the row, so a retry of the same row carries the same Message-ID.
    pub fn message_id(&self, domain: &str) -> String {
        format!(
            "<reportbox.{}.{}.{}@{domain}>",
            self.email.kind,
            self.id,
            message_token(self.id, self.created_at)
        )
    }
}

/// The random-looking part of a row's Message-ID (see [`OutboxRow::message_id`]).
pub fn message_token(id: i64, created_at: DateTime<Utc>) -> String {
    let digest = super::sha256_hex(format!("{id}:{}", created_at.timestamp_micros()).as_bytes());
    digest[..16].to_string()
}

/// The kind, outbox id and token (absent in the form used before tokens) of a Message-ID
/// reportbox wrote, or `None` for anyone else's.
pub fn parse_message_id(id: &str) -> Option<(&str, i64, Option<&str>)> {
    let rest = id.trim().strip_prefix("<reportbox.")?;
    let (local, _domain) = rest.split_once('@')?;
    let mut parts = local.split('.');
    let kind = parts.next()?;
    let row: i64 = parts.next()?.parse().ok()?;
    let token = parts.next();
    if parts.next().is_some() || kind.is_empty() {
        return None;
    }
    Some((kind, row, token))
}

/// What became of one attempt to send a row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    Sent {
        reply: String,
    },
    /// Try again at `retry_at`.
    Retry {
        error: String,
        retry_at: DateTime<Utc>,
    },
    /// Given up: shown to the coordinator.
    Failed {
        error: String,
    },
    /// Not this email's fault (the account's code was refused): no attempt charged, due as
    /// before; the error is kept for whoever looks at the row.
    Held {
        error: String,
    },
}

/// A row claimed for sending: its lock lives as long as this value, until it is marked
/// "sending" (the mark is committed and the state keeps other senders off it).
pub struct Claimed {
    tx: Option<Transaction<'static, Postgres>>,
    pub row: OutboxRow,
}

impl Claimed {
    /// Commits "sending": from here on a crash leaves the row to be sent again only after the
    /// grace period, since the server may already have the message.
    pub async fn mark_sending(&mut self) -> Result<(), StoreError> {
        let Some(mut tx) = self.tx.take() else {
            return Ok(());
        };
        sqlx::query("UPDATE outbox SET state = 'sending', sending_at = now() WHERE id = $1")
            .bind(self.row.id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }
}

// A macro, not a const: sqlx takes only literal SQL, and `concat!` keeps it literal.
macro_rules! select_outbox {
    ($rest:literal) => {
        concat!(
            "SELECT id, dedupe_key, kind, unit_id, message_id, recipients, subject, body_text,
               body_html, in_reply_to, refs, auto_submitted, attachments, state, attempts,
               last_error, created_at, sent_at FROM outbox ",
            $rest
        )
    };
}

fn from_row(r: &sqlx::postgres::PgRow) -> Result<OutboxRow, StoreError> {
    Ok(OutboxRow {
        id: r.get("id"),
        email: NewOutbox {
            dedupe_key: r.get("dedupe_key"),
            kind: r.get("kind"),
            unit_id: r.get("unit_id"),
            message_id: r.get("message_id"),
            recipients: r.get("recipients"),
            subject: r.get("subject"),
            body_text: r.get("body_text"),
            body_html: r.get("body_html"),
            in_reply_to: r.get("in_reply_to"),
            references: r.get("refs"),
            auto_submitted: r.get("auto_submitted"),
            attachments: serde_json::from_value(r.get("attachments"))?,
        },
        state: super::stored_state("outbox.state", r.get("state"))?,
        attempts: r.get("attempts"),
        last_error: r.get("last_error"),
        created_at: r.get("created_at"),
        sent_at: r.get("sent_at"),
    })
}

/// Adds an email unless one with its key exists; true if added.
pub(super) async fn insert(
    tx: &mut Transaction<'_, Postgres>,
    c: CampaignId,
    e: &NewOutbox,
) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "INSERT INTO outbox (dedupe_key, kind, unit_id, message_id, recipients, subject, body_text,
           body_html, in_reply_to, refs, auto_submitted, attachments, campaign_id)
         VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13)
         ON CONFLICT (campaign_id, dedupe_key) DO NOTHING",
    )
    .bind(&e.dedupe_key)
    .bind(&e.kind)
    .bind(&e.unit_id)
    .bind(e.message_id)
    .bind(&e.recipients)
    .bind(super::text::storable(&e.subject))
    .bind(super::text::storable(&e.body_text))
    .bind(super::text::storable(&e.body_html))
    .bind(&e.in_reply_to)
    .bind(&e.references)
    .bind(&e.auto_submitted)
    .bind(serde_json::to_value(&e.attachments)?)
    .bind(c.0)
    .execute(&mut **tx)
    .await?;
    let queued = done.rows_affected() == 1;
    if queued {
        // Delivered when the transaction commits: the sender (of any instance) wakes at once.
        sqlx::query("SELECT pg_notify($1, '')")
            .bind(OUTBOX_CHANNEL)
            .execute(&mut **tx)
            .await?;
    }
    Ok(queued)
}

/// The PostgreSQL channel a committed email is announced on.
pub const OUTBOX_CHANNEL: &str = "reportbox_outbox";

impl Store {
    /// Queues emails; those whose key exists already are left alone. Returns how many were added.
    pub async fn enqueue(&self, emails: &[NewOutbox]) -> Result<usize, StoreError> {
        let mut tx = self.pool.begin().await?;
        let mut added = 0;
        for e in emails {
            added += usize::from(insert(&mut tx, self.campaign, e).await?);
        }
        tx.commit().await?;
        Ok(added)
    }

    /// Carries out a scheduled round once: records it and queues its emails in one transaction.
    /// False if the round was carried out before.
    pub async fn run_round(
        &self,
        key: &str,
        kind: &str,
        due_at: DateTime<Utc>,
        emails: &[NewOutbox],
        detail: serde_json::Value,
    ) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await?;
        let fresh = sqlx::query(
            "INSERT INTO schedule_runs (key, kind, due_at, detail, campaign_id)
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (campaign_id, key) DO NOTHING",
        )
        .bind(key)
        .bind(kind)
        .bind(due_at)
        .bind(detail)
        .bind(self.campaign.0)
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        if !fresh {
            return Ok(false);
        }
        for e in emails {
            insert(&mut tx, self.campaign, e).await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    pub async fn round_done(&self, key: &str) -> Result<bool, StoreError> {
        Ok(
            sqlx::query("SELECT 1 AS one FROM schedule_runs WHERE key = $1 AND campaign_id = $2")
                .bind(key)
                .bind(self.campaign.0)
                .fetch_optional(&self.pool)
                .await?
                .is_some(),
        )
    }

    /// Claims the oldest due row, locked until the returned value is completed, dropped or
    /// marked sending. A row left "sending" by a sender that died is due again `grace` after
    /// its mark. Only rows of the campaigns in `scope` (every campaign's when it is empty).
    pub async fn claim_due(
        &self,
        now: DateTime<Utc>,
        grace: std::time::Duration,
        scope: &[CampaignId],
    ) -> Result<Option<Claimed>, StoreError> {
        let grace = chrono::Duration::from_std(grace).unwrap_or(chrono::Duration::minutes(10));
        let scope: Vec<i64> = scope.iter().map(|c| c.0).collect();
        let mut tx = self.pool.begin().await?;
        let row = sqlx::query(select_outbox!(
            "WHERE ((state = 'pending' AND next_attempt_at <= $1)
                OR (state = 'sending' AND sending_at <= $2))
               AND (cardinality($3::bigint[]) = 0 OR campaign_id = ANY($3))
             ORDER BY next_attempt_at, id LIMIT 1 FOR UPDATE SKIP LOCKED"
        ))
        .bind(now)
        .bind(now - grace)
        .bind(&scope)
        .fetch_optional(&mut *tx)
        .await?;
        match row {
            Some(r) => Ok(Some(Claimed {
                row: from_row(&r)?,
                tx: Some(tx),
            })),
            None => Ok(None),
        }
    }

    /// Records the outcome of sending a claimed row and releases it.
    pub async fn complete(&self, claimed: Claimed, outcome: &Delivery) -> Result<(), StoreError> {
        let Claimed { tx, row } = claimed;
        // After the mark the lock is gone; the row's state keeps other senders off it.
        let mut tx = match tx {
            Some(tx) => tx,
            None => self.pool.begin().await?,
        };
        match outcome {
            Delivery::Sent { reply } => {
                sqlx::query(
                    "UPDATE outbox SET state = 'sent', sent_at = now(), attempts = attempts + 1,
                       smtp_reply = $2 WHERE id = $1",
                )
                .bind(row.id)
                .bind(reply)
                .execute(&mut *tx)
                .await?;
            }
            Delivery::Retry { error, retry_at } => {
                sqlx::query(
                    "UPDATE outbox SET state = 'pending', attempts = attempts + 1, last_error = $2,
                       next_attempt_at = $3 WHERE id = $1",
                )
                .bind(row.id)
                .bind(error)
                .bind(retry_at)
                .execute(&mut *tx)
                .await?;
            }
            Delivery::Failed { error } => {
                sqlx::query(
                    "UPDATE outbox SET state = 'failed', attempts = attempts + 1, last_error = $2
                     WHERE id = $1",
                )
                .bind(row.id)
                .bind(error)
                .execute(&mut *tx)
                .await?;
            }
            Delivery::Held { error } => {
                sqlx::query("UPDATE outbox SET state = 'pending', last_error = $2 WHERE id = $1")
                    .bind(row.id)
                    .bind(error)
                    .execute(&mut *tx)
                    .await?;
            }
        }
        tx.commit().await?;
        Ok(())
    }

    /// Emails waiting to go out or going out now: the queue systemd's STATUS line shows.
    pub async fn emails_queued(&self) -> Result<i64, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT count(*) FROM outbox WHERE state IN ('pending', 'sending')")
                .fetch_one(&self.pool)
                .await?,
        )
    }

    /// When sending as `account` may resume, if its server imposed a pause.
    pub async fn sender_paused_until(
        &self,
        account: &str,
    ) -> Result<Option<(DateTime<Utc>, String)>, StoreError> {
        let r = sqlx::query("SELECT paused_until, reason FROM sender_state WHERE account = $1")
            .bind(account)
            .fetch_optional(&self.pool)
            .await?;
        Ok(r.and_then(|r| {
            let until: Option<DateTime<Utc>> = r.get("paused_until");
            let reason: Option<String> = r.get("reason");
            until.map(|u| (u, reason.unwrap_or_default()))
        }))
    }

    /// The pause that lasts longest among every sending account's, if one is on: what the
    /// service's status line shows.
    pub async fn any_sender_pause(&self) -> Result<Option<(DateTime<Utc>, String)>, StoreError> {
        let r = sqlx::query(
            "SELECT paused_until, reason FROM sender_state WHERE paused_until > now()
             ORDER BY paused_until DESC LIMIT 1",
        )
        .fetch_optional(&self.pool)
        .await?;
        Ok(r.map(|r| {
            let reason: Option<String> = r.get("reason");
            (r.get("paused_until"), reason.unwrap_or_default())
        }))
    }

    pub async fn pause_sender(
        &self,
        account: &str,
        until: DateTime<Utc>,
        reason: &str,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO sender_state (account, paused_until, reason) VALUES ($1, $2, $3)
             ON CONFLICT (account) DO UPDATE
               SET paused_until = GREATEST(COALESCE(sender_state.paused_until, $2), $2), reason = $3",
        )
        .bind(account)
        .bind(until)
        .bind(reason)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Ends a pause early: the server accepted the code that it had refused.
    pub async fn resume_sender(&self, account: &str) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE sender_state SET paused_until = NULL, reason = NULL WHERE account = $1",
        )
        .bind(account)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Emails that could not be delivered, newest first: the coordinator is told of them.
    pub async fn failed_outbox(&self) -> Result<Vec<OutboxRow>, StoreError> {
        let rows = sqlx::query(select_outbox!(
            "WHERE state = 'failed' AND campaign_id = $1 ORDER BY id DESC"
        ))
        .bind(self.campaign.0)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(from_row).collect()
    }

    /// All outbox rows of a kind (for commands and tests), oldest first.
    pub async fn outbox(&self, kind: Option<&str>) -> Result<Vec<OutboxRow>, StoreError> {
        let rows = sqlx::query(select_outbox!(
            "WHERE ($1::text IS NULL OR kind = $1) AND campaign_id = $2 ORDER BY id"
        ))
        .bind(kind)
        .bind(self.campaign.0)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(from_row).collect()
    }

    /// The email queued for a message's acknowledgement, if any.
    pub async fn ack_for(&self, message: i64) -> Result<Option<OutboxRow>, StoreError> {
        let row = sqlx::query(select_outbox!(
            "WHERE kind = 'ack' AND message_id = $1 ORDER BY id DESC LIMIT 1"
        ))
        .bind(message)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(from_row).transpose()
    }
}

/// What wakes an idle sender: a connection listening for committed emails (PostgreSQL NOTIFY on
/// [`super::OUTBOX_CHANNEL`], which also reaches a sender in another instance).
pub struct OutboxWake(Option<sqlx::postgres::PgListener>);

impl Store {
    /// Listens for committed emails; without a connection for it (the sender then looks at the
    /// outbox every `smtp.idle_poll`) it never wakes.
    pub async fn outbox_wake(&self) -> OutboxWake {
        // On the store's own database, where the notice is sent.
        let listener = async {
            let mut l = sqlx::postgres::PgListener::connect_with(&self.pool)
                .await
                .ok()?;
            l.listen(super::OUTBOX_CHANNEL).await.ok()?;
            Some(l)
        };
        OutboxWake(listener.await)
    }
}

impl OutboxWake {
    /// Returns when an email was committed. A listener that fails is dropped, so a database
    /// outage never turns this into a busy loop; the timer takes over.
    pub async fn woken(&mut self) {
        let Some(l) = self.0.as_mut() else {
            return std::future::pending().await;
        };
        if let Err(e) = l.recv().await {
            tracing::debug!(error = %e, "sender: outbox listener lost; polling");
            self.0 = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn our_message_ids_parse_back_to_kind_row_and_token() {
        assert_eq!(
            parse_message_id("<reportbox.ack.42.0123456789abcdef@163.com>"),
            Some(("ack", 42, Some("0123456789abcdef")))
        );
        assert_eq!(
            parse_message_id("<reportbox.report.7@163.com>"),
            Some(("report", 7, None))
        );
        assert_eq!(parse_message_id("<reportbox.ack.x@163.com>"), None);
        assert_eq!(parse_message_id("<reportbox.ack.1.a.b@163.com>"), None);
        assert_eq!(parse_message_id("<abc@163.com>"), None);
    }

    #[test]
    fn the_token_is_fixed_by_the_row_and_differs_between_rows_and_instants() {
        let t = DateTime::parse_from_rfc3339("2023-06-05T10:00:00.123456+08:00")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(message_token(1, t), message_token(1, t));
        assert_ne!(message_token(1, t), message_token(2, t));
        let later = t + chrono::Duration::microseconds(1);
        assert_ne!(message_token(1, t), message_token(1, later));
    }
}
