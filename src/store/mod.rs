//! PostgreSQL and the object store: everything reportbox knows, kept so that every step is safe
//! to repeat. A message is stored once (by the sha256 of its raw bytes) in one transaction with its
//! files, and the originals are content-addressed files that are written before that transaction
//! and never deleted.

mod campaigns;
mod corrections;
mod current;
mod desk;
mod durable;
mod export;
mod health;
mod keys;
mod leadership;
pub mod migrate;
pub mod objects;
mod outbox;
pub mod progress;
mod recheck;
mod record;
mod s3;
pub mod settings;
mod text;

pub use campaigns::{CampaignId, LEGACY_CAMPAIGN_KEY};
pub use desk::{Handled, NoteRow, ReviewOutcome, ReviewRequest, Reviewed};
pub use durable::Durable;
pub use export::CurrentFile;
pub use health::{
    Backlog, Daemon, FailedEmail, Failures, FolderPoll, GivenUp, LastError, Retried, RetryOnly,
    ServiceHealth,
};
pub use objects::ObjectStore;
pub use recheck::{FileChange, RecheckTarget, Rechecked};
pub use settings::StorageSettings;

pub use leadership::{Fence, Leadership};
pub use record::Recording;

pub use outbox::{
    message_token, parse_message_id, Claimed, Delivery, NewOutbox, OutboxAttachment, OutboxRow,
    OUTBOX_CHANNEL,
};

use crate::campaign::Disposition;
use crate::identify::Roster;
use crate::problem::{ItemState, Problem};
use crate::status::{self, CampaignView, FileRecord, MessageRecord, UnitRecord};
use chrono::{DateTime, Utc};
use serde_json::json;
use sha2::{Digest, Sha256};
use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::{Postgres, Row, Transaction};
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    #[error("migrations: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("storage {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("找不到邮件 {0}（请填写 status 中列出的 Message-ID 或编号）")]
    NoSuchMessage(String),
    #[error("单位名单中没有编号为 {0} 的单位")]
    NoSuchUnit(String),
    #[error("邮件 {0} 属于{1}，不计入任何单位")]
    SetAside(String, String),
    #[error("“{unit}”的这一项{state}，没有待审核的文件（只有超大附件链接等待审核的材料需要审核）")]
    NothingToReview { unit: String, state: String },
    #[error("找不到编号为 {0} 的单位来信（请填写日报“单位来信”中的编号）")]
    NoSuchNote(i64),
    #[error("stored JSON is malformed: {0}")]
    Json(#[from] serde_json::Error),
    /// A state word this binary does not know, read from `column` (see [`stored_state`]).
    #[error("数据库 {column} 中有本版本不认识的值“{value}”（由更新版本的 reportbox 写入，或被手工改过）：请换回写入它的版本，或更正这一行")]
    UnknownState { column: &'static str, value: String },
    /// An original a row names is not in the object store (never stored, or the wrong
    /// bucket or directory): a person must look, retrying will not bring it.
    #[error("原件 {0} 不在存储中（storage 配置的目录或存储桶是否正确？）")]
    NoSuchObject(String),
    /// The S3 server refused or did not answer: the bucket, not the message, is in trouble.
    #[error("S3 {op} {key}: {source}")]
    S3 {
        op: &'static str,
        key: String,
        #[source]
        source: object_store::Error,
    },
    /// Another instance took the lock since this one did: this one must stop writing.
    #[error("another instance has taken over ({key}, epoch {epoch})")]
    Fenced { key: String, epoch: i64 },
}

/// The migrations built into this binary.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// The newest migration this binary knows: the schema version it expects.
pub fn latest_migration() -> i64 {
    MIGRATOR.iter().map(|m| m.version).max().unwrap_or(0)
}

/// The database's schema against this binary's migrations (`_sqlx_migrations`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Schema {
    /// No migration was ever applied: a new database, or the wrong one.
    Missing {
        want: i64,
    },
    /// Migrations are pending: the binary was upgraded and `migrate` not yet run.
    Old {
        have: i64,
        want: i64,
    },
    /// The database was migrated by a newer reportbox than this one.
    Newer {
        have: i64,
        want: i64,
    },
    Current(i64),
}

impl StoreError {
    /// Worth trying again later (the database or disk may come back): never the message's fault.
    pub fn is_transient(&self) -> bool {
        match self {
            StoreError::Db(e) => db_error_is_transient(e),
            StoreError::Io { .. } => true,
            // A refused configuration stays refused; anything else is the server or the way
            // to it.
            StoreError::S3 { op, .. } => *op != "configure",
            _ => false,
        }
    }
}

/// A database error that says the connection or the server is in trouble, not the statement:
/// I/O, TLS, pool time-outs, SQLSTATE class 08 (connection exception), 57P01–57P03 (the server
/// shutting down or starting), 53 (out of resources), and a serialization failure or deadlock.
fn db_error_is_transient(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed
        | sqlx::Error::Protocol(_) => true,
        sqlx::Error::Database(d) => d.code().is_some_and(|c| sqlstate_is_transient(&c)),
        _ => false,
    }
}

fn sqlstate_is_transient(code: &str) -> bool {
    code.starts_with("08")
        || code.starts_with("53")
        || matches!(code, "57P01" | "57P02" | "57P03" | "40001" | "40P01")
}

/// Reads a state word stored as TEXT (`messages.disposition`, `outbox.state`) as its enum.
/// A word this binary does not know (written by a newer reportbox, or by hand) is an error, not a
/// fallback variant: taking it for any known state would count, hide or let `assign` overrule a
/// message, or send an email again, on no evidence. The command fails naming the column and the
/// word, and nothing is written.
fn stored_state<T: std::str::FromStr>(
    column: &'static str,
    value: String,
) -> Result<T, StoreError> {
    value
        .parse()
        .map_err(|_| StoreError::UnknownState { column, value })
}

/// `messages.disposition` of a row that selected it under that name.
fn disposition_of(r: &sqlx::postgres::PgRow) -> Result<Disposition, StoreError> {
    stored_state("messages.disposition", r.get("disposition"))
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// A message ready to be recorded: everything decided, nothing written yet.
/// Serializable for the golden files of tests/decide_golden.rs: what `decide` returns, readable.
#[derive(Debug, Clone, serde::Serialize)]
pub struct NewMessage {
    pub raw_sha256: String,
    pub dedupe_key: String,
    pub message_id: Option<String>,
    /// The thread above the message (`References`), oldest first; not stored.
    pub thread: Vec<String>,
    pub from_addr: Option<String>,
    pub from_name: Option<String>,
    pub sender_addr: Option<String>,
    pub reply_to: Option<String>,
    pub subject: String,
    pub date_header: Option<DateTime<Utc>>,
    pub received_at: DateTime<Utc>,
    pub size_bytes: i64,
    pub source: String,
    /// Counted, a note, or set aside and why.
    pub disposition: Disposition,
    pub unit_id: Option<String>,
    pub match_rule: Option<String>,
    pub problems: Vec<Problem>,
    pub body_excerpt: String,
    /// Learn the sender's address for `unit_id` (it was identified by content).
    pub learn_address: Option<String>,
    pub files: Vec<NewFile>,
    /// What the unit wrote to the staff, when the message is a note (`disposition` `note`: no
    /// file) or asks something besides its files (issue 9 item 2).
    pub note: Option<String>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct NewFile {
    pub name: String,
    pub origin: Vec<String>,
    pub role: String,
    pub sha256: Option<String>,
    pub size_bytes: i64,
    pub kind: String,
    pub declared_type: Option<String>,
    pub link_url: Option<String>,
    pub item: String,
    pub state: ItemState,
    pub problems: Vec<Problem>,
    pub data: Option<serde_json::Value>,
}

/// What `save` tells the composer of follow-up emails, inside the transaction.
#[derive(Debug)]
pub struct AfterSave<'a> {
    pub id: i64,
    pub message: &'a NewMessage,
    pub disposition: Disposition,
    pub rate_limited: bool,
    /// The unit's status with this message counted.
    pub unit: Option<&'a status::UnitView>,
}

/// What recording a message did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Saved {
    /// These exact bytes were recorded before: nothing changed.
    AlreadyStored { id: i64 },
    /// Recorded now. `disposition` may have become `duplicate` (same Message-ID, other bytes).
    Recorded {
        id: i64,
        disposition: Disposition,
        unit_id: Option<String>,
        /// The sender got more than the hourly number of messages through: no acknowledgement.
        rate_limited: bool,
    },
}

/// How long the first connection to PostgreSQL may take before a command gives up.
const CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);
/// How long a statement waits for a pooled connection before it fails as transient.
const ACQUIRE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

#[derive(Debug, Clone)]
pub struct Store {
    pub pool: PgPool,
    pub objects: ObjectStore,
    /// The campaign this store reads and writes; see [`Store::for_campaign`].
    campaign: CampaignId,
    /// Set for a leader (the mailbox daemon): each recording checks it in its transaction.
    fence: Option<Fence>,
}

impl Store {
    pub async fn connect(
        url: &str,
        max_connections: u32,
        objects: impl Into<ObjectStore>,
    ) -> Result<Store, StoreError> {
        // The pool retries a refused connection until its acquire timeout and then reports only
        // "pool timed out": one direct attempt first, so a stopped server or a wrong URL fails
        // within seconds and says why.
        use sqlx::Connection;
        match tokio::time::timeout(CONNECT_TIMEOUT, sqlx::PgConnection::connect(url)).await {
            Ok(Ok(conn)) => {
                let _ = conn.close().await;
            }
            Ok(Err(e)) => return Err(e.into()),
            Err(_) => {
                return Err(sqlx::Error::Io(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    format!("no answer within {} s", CONNECT_TIMEOUT.as_secs()),
                ))
                .into())
            }
        }
        let pool = PgPoolOptions::new()
            .max_connections(max_connections)
            // Waiting longer only delays noticing an outage, and a shutdown during one (systemd
            // allows 15 s): the daemon's loops retry on their own backoff.
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect(url)
            .await?;
        Ok(Store::from_pool(pool, objects))
    }

    /// A store over `pool`; `objects` is a local directory (`&Path`) or an opened
    /// [`ObjectStore`].
    pub fn from_pool(pool: PgPool, objects: impl Into<ObjectStore>) -> Store {
        Store {
            pool,
            objects: objects.into(),
            campaign: CampaignId::FIRST,
            fence: None,
        }
    }

    /// The campaign this store reads and writes.
    pub fn campaign(&self) -> CampaignId {
        self.campaign
    }

    /// This store for another campaign (same pool, originals and fence).
    pub fn for_campaign(&self, campaign: CampaignId) -> Store {
        Store {
            campaign,
            ..self.clone()
        }
    }

    /// One unit's status now, read from what it depends on only (see `load_current`).
    pub async fn unit_view(
        &self,
        campaign: &CampaignView,
        unit_id: &str,
    ) -> Result<Option<status::UnitView>, StoreError> {
        let mut conn = self.pool.acquire().await?;
        let (units, messages, files) = load_current(&mut conn, self.campaign, unit_id).await?;
        let reviews = desk::load_reviews(&mut conn, self.campaign, Some(unit_id)).await?;
        let s = status::compute(campaign, &units, &messages, &files, &reviews, Utc::now());
        Ok(s.units.into_iter().next())
    }

    /// A new leader of `key` takes the next epoch: from now on, writes fenced with an earlier
    /// one are refused. Taken through the store's own database, where the fence is checked.
    pub async fn take_epoch(&self, key: &str) -> Result<Fence, StoreError> {
        let epoch: i64 = sqlx::query_scalar(
            "INSERT INTO leader_epochs (key, epoch) VALUES ($1, 1)
             ON CONFLICT (key) DO UPDATE SET epoch = leader_epochs.epoch + 1, taken_at = now()
             RETURNING epoch",
        )
        .bind(key)
        .fetch_one(&self.pool)
        .await?;
        Ok(Fence {
            key: key.to_string(),
            epoch,
        })
    }

    /// This store for a leader: every message it records is recorded only while `fence` is
    /// still the current epoch of its lock (contract: two instances never record at once).
    pub fn fenced(&self, fence: Fence) -> Store {
        Store {
            pool: self.pool.clone(),
            objects: self.objects.clone(),
            campaign: self.campaign,
            fence: Some(fence),
        }
    }

    pub async fn migrate(&self) -> Result<(), StoreError> {
        MIGRATOR.run(&self.pool).await?;
        Ok(())
    }

    /// Where the database's schema stands against this binary's migrations, read from sqlx's own
    /// bookkeeping table; changes nothing.
    pub async fn schema(&self) -> Result<Schema, StoreError> {
        let want = latest_migration();
        let exists: bool = sqlx::query_scalar("SELECT to_regclass('_sqlx_migrations') IS NOT NULL")
            .fetch_one(&self.pool)
            .await?;
        if !exists {
            return Ok(Schema::Missing { want });
        }
        let have: Option<i64> =
            sqlx::query_scalar("SELECT max(version) FROM _sqlx_migrations WHERE success")
                .fetch_one(&self.pool)
                .await?;
        Ok(match have {
            None => Schema::Missing { want },
            Some(have) if have < want => Schema::Old { have, want },
            Some(have) if have > want => Schema::Newer { have, want },
            Some(have) => Schema::Current(have),
        })
    }

    /// Makes the units table mirror the roster; units no longer listed stay, inactive.
    pub async fn sync_units(&self, roster: &Roster) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("UPDATE units SET active = FALSE WHERE campaign_id = $1")
            .bind(self.campaign.0)
            .execute(&mut *tx)
            .await?;
        for (pos, u) in roster.units.iter().enumerate() {
            sqlx::query(
                "INSERT INTO units (id, name, aliases, emails, grp, contact, phone, active, position,
                   synced_at, campaign_id)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, TRUE, $8, now(), $9)
                 ON CONFLICT (campaign_id, id) DO UPDATE SET name = $2, aliases = $3, emails = $4, grp = $5,
                   contact = $6, phone = $7, active = TRUE, position = $8, synced_at = now()",
            )
            .bind(&u.id)
            .bind(&u.name)
            .bind(&u.aliases)
            .bind(&u.emails)
            .bind(&u.group)
            .bind(&u.contact)
            .bind(&u.phone)
            .bind(pos as i32)
            .bind(self.campaign.0)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// The unit an address was learned for, if any.
    pub async fn learned_unit(&self, address: &str) -> Result<Option<String>, StoreError> {
        let row = sqlx::query(
            "SELECT unit_id FROM learned_addresses WHERE campaign_id = $2 AND address = $1",
        )
        .bind(address.trim().to_lowercase())
        .bind(self.campaign.0)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|r| r.get("unit_id")))
    }

    /// Whether these exact bytes were recorded already (lets callers skip the work).
    /// Whether one of `references` (Message-IDs from `In-Reply-To`/`References`) is an email
    /// reportbox sent: `<reportbox.<kind>.<outbox id>.<token>@…>` naming a row of that kind in
    /// the outbox whose token matches. The token tells our emails from another database's with
    /// the same row id; ids written before tokens existed (`<reportbox.<kind>.<id>@…>`) are
    /// recognised by kind and id alone.
    pub async fn answers_our_email(&self, references: &[String]) -> Result<bool, StoreError> {
        Ok(self
            .answered_campaigns(references)
            .await?
            .iter()
            .any(|(id, _)| *id == self.campaign))
    }

    /// The campaigns (id, key) whose emails `references` answer, in any campaign: which
    /// campaign a reply in a shared mailbox belongs to (issue 11). See
    /// [`Store::answers_our_email`] for how our Message-IDs are recognised.
    pub async fn answered_campaigns(
        &self,
        references: &[String],
    ) -> Result<Vec<(CampaignId, String)>, StoreError> {
        let parsed: Vec<(&str, i64, Option<&str>)> = references
            .iter()
            .filter_map(|r| outbox::parse_message_id(r))
            .collect();
        if parsed.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<i64> = parsed.iter().map(|p| p.1).collect();
        let rows = sqlx::query(
            "SELECT o.id, o.kind, o.created_at, o.campaign_id, c.key FROM outbox o
             JOIN campaigns c ON c.id = o.campaign_id WHERE o.id = ANY($1)",
        )
        .bind(&ids)
        .fetch_all(&self.pool)
        .await?;
        let mut out: Vec<(CampaignId, String)> = Vec::new();
        for r in &rows {
            let (id, kind): (i64, String) = (r.get("id"), r.get("kind"));
            let token = outbox::message_token(id, r.get("created_at"));
            let ours = parsed
                .iter()
                .any(|(k, i, t)| *i == id && *k == kind && t.is_none_or(|t| t == token));
            let campaign = CampaignId(r.get("campaign_id"));
            if ours && !out.iter().any(|(c, _)| *c == campaign) {
                out.push((campaign, r.get("key")));
            }
        }
        Ok(out)
    }

    pub async fn find_raw(&self, raw_sha256: &str) -> Result<Option<i64>, StoreError> {
        let row = sqlx::query("SELECT id FROM messages WHERE raw_sha256 = $1")
            .bind(raw_sha256)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| r.get("id")))
    }

    /// Everything the status is computed from.
    pub async fn records(
        &self,
    ) -> Result<(Vec<UnitRecord>, Vec<MessageRecord>, Vec<FileRecord>), StoreError> {
        let mut conn = self.pool.acquire().await?;
        load_records(&mut conn, self.campaign, None).await
    }

    /// The status of every unit now.
    pub async fn status(
        &self,
        campaign: &CampaignView,
        now: DateTime<Utc>,
    ) -> Result<status::Status, StoreError> {
        let mut conn = self.pool.acquire().await?;
        let (units, messages, files) = load_records(&mut conn, self.campaign, None).await?;
        let reviews = desk::load_reviews(&mut conn, self.campaign, None).await?;
        drop(conn);
        let mut s = status::compute(campaign, &units, &messages, &files, &reviews, now);
        s.notes = self
            .open_notes()
            .await?
            .into_iter()
            .map(|n| status::NoteView {
                number: n.number,
                unit_id: n.unit_id,
                from: n.from,
                subject: n.subject,
                received_at: n.received_at.with_timezone(&campaign.tz).to_rfc3339(),
                text: n.text,
                with_files: n.with_files,
            })
            .collect();
        Ok(s)
    }

    /// Every address a unit can be written to: the roster's, then those learned.
    pub async fn unit_addresses(&self, unit_id: &str) -> Result<Vec<String>, StoreError> {
        let row = sqlx::query("SELECT emails FROM units WHERE id = $1 AND campaign_id = $2")
            .bind(unit_id)
            .bind(self.campaign.0)
            .fetch_optional(&self.pool)
            .await?;
        let mut out: Vec<String> = row.map(|r| r.get("emails")).unwrap_or_default();
        let learned: Vec<String> = sqlx::query_scalar(
            "SELECT address FROM learned_addresses WHERE unit_id = $1 AND campaign_id = $2
             ORDER BY learned_at",
        )
        .bind(unit_id)
        .bind(self.campaign.0)
        .fetch_all(&self.pool)
        .await?;
        for a in learned {
            if !out.contains(&a) {
                out.push(a);
            }
        }
        Ok(out)
    }

    /// The values of each unit's current statistics table (the newest file for the item, when
    /// it is valid), for the summary of all units.
    pub async fn table_values(
        &self,
        item: &str,
    ) -> Result<std::collections::HashMap<String, serde_json::Value>, StoreError> {
        let rows = sqlx::query(
            "SELECT DISTINCT ON (m.unit_id) m.unit_id, f.state, f.data
             FROM files f JOIN messages m ON m.id = f.message_id
             WHERE f.item = $1 AND m.disposition = 'processed' AND m.unit_id IS NOT NULL
               AND m.campaign_id = $2
             ORDER BY m.unit_id, m.received_at DESC, m.id DESC, f.ordinal DESC",
        )
        .bind(item)
        .bind(self.campaign.0)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .filter(|r| r.get::<String, _>("state") == "valid")
            .filter_map(|r| {
                let data: Option<serde_json::Value> = r.get("data");
                data.map(|d| (r.get::<String, _>("unit_id"), d["values"].clone()))
            })
            .collect())
    }

    /// A stored message with its files, to compose its acknowledgement again.
    pub async fn message_for_ack(
        &self,
        reference: &str,
    ) -> Result<(i64, NewMessage, Disposition, bool), StoreError> {
        let mut tx = self.pool.begin().await?;
        let (id, _, _, _) = self.resolve_message(&mut tx, reference).await?;
        let r = sqlx::query(
            "SELECT raw_sha256, dedupe_key, message_id, from_addr, from_name, sender_addr, reply_to,
               subject, date_header, received_at, size_bytes, source, disposition, no_ack_reason,
               unit_id, match_rule, problems, body_excerpt FROM messages WHERE id = $1",
        )
        .bind(id)
        .fetch_one(&mut *tx)
        .await?;
        let mut files = Vec::new();
        for f in sqlx::query(
            "SELECT name, origin, role, sha256, size_bytes, kind, declared_type, link_url, item, state,
               problems, data FROM files WHERE message_id = $1 ORDER BY ordinal",
        )
        .bind(id)
        .fetch_all(&mut *tx)
        .await?
        {
            let state: String = f.get("state");
            files.push(NewFile {
                name: f.get("name"),
                origin: f.get("origin"),
                role: f.get("role"),
                sha256: f.get("sha256"),
                size_bytes: f.get("size_bytes"),
                kind: f.get("kind"),
                declared_type: f.get("declared_type"),
                link_url: f.get("link_url"),
                item: f.get("item"),
                state: ItemState::parse(&state).unwrap_or(ItemState::Invalid),
                problems: serde_json::from_value(f.get("problems"))?,
                data: f.get("data"),
            });
        }
        let no_ack: Option<String> = r.get("no_ack_reason");
        let msg = NewMessage {
            raw_sha256: r.get("raw_sha256"),
            dedupe_key: r.get("dedupe_key"),
            message_id: r.get("message_id"),
            thread: Vec::new(),
            from_addr: r.get("from_addr"),
            from_name: r.get("from_name"),
            sender_addr: r.get("sender_addr"),
            reply_to: r.get("reply_to"),
            subject: r.get("subject"),
            date_header: r.get("date_header"),
            received_at: r.get("received_at"),
            size_bytes: r.get("size_bytes"),
            source: r.get("source"),
            disposition: disposition_of(&r)?,
            unit_id: r.get("unit_id"),
            match_rule: r.get("match_rule"),
            problems: serde_json::from_value(r.get("problems"))?,
            body_excerpt: r.get("body_excerpt"),
            learn_address: None,
            files,
            note: None,
        };
        let disposition = msg.disposition;
        tx.commit().await?;
        Ok((id, msg, disposition, no_ack.is_some()))
    }

    /// The current status of one unit.
    pub async fn unit_status_view(
        &self,
        campaign: &CampaignView,
        unit_id: &str,
    ) -> Result<Option<status::UnitView>, StoreError> {
        let mut tx = self.pool.begin().await?;
        let v = unit_view(&mut tx, self.campaign, campaign, unit_id).await?;
        tx.commit().await?;
        Ok(v)
    }

    /// Counts of rows, for tests and the import summary.
    pub async fn counts(&self) -> Result<(i64, i64, i64), StoreError> {
        let row = sqlx::query(
            "SELECT (SELECT count(*) FROM messages) AS m, (SELECT count(*) FROM files) AS f,
                    (SELECT count(*) FROM audit) AS a",
        )
        .fetch_one(&self.pool)
        .await?;
        Ok((row.get("m"), row.get("f"), row.get("a")))
    }
}

/// Fails with `Fenced` when another instance took the lock after this one. `FOR SHARE` makes a
/// takeover (which updates the row) wait for this transaction, so a commit is either before
/// the takeover or refused.
async fn check_fence(
    tx: &mut Transaction<'_, Postgres>,
    fence: Option<&Fence>,
) -> Result<(), StoreError> {
    let Some(fence) = fence else {
        return Ok(());
    };
    let current: Option<i64> =
        sqlx::query_scalar("SELECT epoch FROM leader_epochs WHERE key = $1 FOR SHARE")
            .bind(&fence.key)
            .fetch_optional(&mut **tx)
            .await?;
    if current == Some(fence.epoch) {
        Ok(())
    } else {
        Err(StoreError::Fenced {
            key: fence.key.clone(),
            epoch: fence.epoch,
        })
    }
}

/// Records a message's files (in the message's transaction).
async fn insert_files(
    tx: &mut Transaction<'_, Postgres>,
    id: i64,
    files: &[NewFile],
) -> Result<(), StoreError> {
    for (ordinal, f) in files.iter().enumerate() {
        sqlx::query(
            "INSERT INTO files (message_id, ordinal, name, origin, role, sha256, size_bytes, kind,
               declared_type, link_url, item, state, problems, data)
             VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14)",
        )
        .bind(id)
        .bind(ordinal as i32)
        .bind(&f.name)
        .bind(&f.origin)
        .bind(&f.role)
        .bind(&f.sha256)
        .bind(f.size_bytes)
        .bind(&f.kind)
        .bind(&f.declared_type)
        .bind(&f.link_url)
        .bind(&f.item)
        .bind(f.state.as_str())
        .bind(serde_json::to_value(&f.problems)?)
        .bind(&f.data)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

/// Remembers `address` as `unit_id`'s, learned from message `id`; the first unit to claim an
/// address keeps it. Whether it was new.
async fn learn(
    conn: &mut sqlx::PgConnection,
    c: CampaignId,
    address: &str,
    unit_id: &str,
    id: i64,
) -> Result<bool, StoreError> {
    let learned = sqlx::query(
        "INSERT INTO learned_addresses (address, unit_id, learned_from, campaign_id)
         VALUES ($1, $2, $3, $4) ON CONFLICT (campaign_id, address) DO NOTHING",
    )
    .bind(address)
    .bind(unit_id)
    .bind(id)
    .bind(c.0)
    .execute(conn)
    .await?;
    Ok(learned.rows_affected() == 1)
}

async fn ensure_unit(
    tx: &mut Transaction<'_, Postgres>,
    c: CampaignId,
    unit_id: &str,
) -> Result<(), StoreError> {
    let found =
        sqlx::query("SELECT 1 AS one FROM units WHERE id = $1 AND campaign_id = $2 AND active")
            .bind(unit_id)
            .bind(c.0)
            .fetch_optional(&mut **tx)
            .await?;
    match found {
        Some(_) => Ok(()),
        None => Err(StoreError::NoSuchUnit(unit_id.to_string())),
    }
}

async fn audit(
    tx: &mut Transaction<'_, Postgres>,
    c: CampaignId,
    unit_id: Option<&str>,
    message_id: Option<i64>,
    kind: &str,
    detail: serde_json::Value,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO audit (unit_id, message_id, kind, detail, campaign_id) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(unit_id)
    .bind(message_id)
    .bind(kind)
    .bind(detail)
    .bind(c.0)
    .execute(&mut **tx)
        .await?;
    Ok(())
}

async fn unit_view(
    tx: &mut Transaction<'_, Postgres>,
    c: CampaignId,
    campaign: &CampaignView,
    unit_id: &str,
) -> Result<Option<status::UnitView>, StoreError> {
    let (units, messages, files) = load_current(tx, c, unit_id).await?;
    let reviews = desk::load_reviews(tx, c, Some(unit_id)).await?;
    let s = status::compute(campaign, &units, &messages, &files, &reviews, Utc::now());
    Ok(s.units.into_iter().next())
}

async fn unit_status(
    tx: &mut Transaction<'_, Postgres>,
    c: CampaignId,
    campaign: &CampaignView,
    unit_id: &str,
) -> Result<String, StoreError> {
    Ok(unit_view(tx, c, campaign, unit_id)
        .await?
        .map(|u| u.status.as_str().to_string())
        .unwrap_or_default())
}

async fn record_status_change(
    tx: &mut Transaction<'_, Postgres>,
    c: CampaignId,
    campaign: &CampaignView,
    unit_id: &str,
    before: String,
    message_id: Option<i64>,
) -> Result<(), StoreError> {
    let after = unit_status(tx, c, campaign, unit_id).await?;
    audit_status_change(tx, c, unit_id, &before, &after, message_id).await
}

async fn audit_status_change(
    tx: &mut Transaction<'_, Postgres>,
    c: CampaignId,
    unit_id: &str,
    before: &str,
    after: &str,
    message_id: Option<i64>,
) -> Result<(), StoreError> {
    if after != before {
        audit(
            tx,
            c,
            Some(unit_id),
            message_id,
            "status_changed",
            json!({ "from": before, "to": after }),
        )
        .await?;
    }
    Ok(())
}

/// What one unit's status depends on, and no more (contract §7): the newest file of each item
/// and the unit's newest counted message, with the messages those files came from. The same
/// `status::compute` then gives the same view as over the whole history, while what is read
/// stays the same size however many messages the unit has sent: the files through the unit's
/// current-state rows (`unit_items`, one per item, kept by the database as files and messages
/// change: migration 0011), the newest message through the `messages_unit` index.
async fn load_current(
    conn: &mut sqlx::PgConnection,
    c: CampaignId,
    unit: &str,
) -> Result<(Vec<UnitRecord>, Vec<MessageRecord>, Vec<FileRecord>), StoreError> {
    let units = load_units(&mut *conn, c, Some(unit)).await?;
    let files = file_records(
        sqlx::query(
            // Only the column lists are spliced in, and they are constants.
            sqlx::AssertSqlSafe(format!(
                "SELECT {FILE_COLUMNS}
                 FROM unit_items u JOIN files f ON f.message_id = u.message_id AND f.ordinal = u.ordinal
                 WHERE u.unit_id = $1 AND u.campaign_id = $2
                 ORDER BY f.item"
            )),
        )
        .bind(unit)
        .bind(c.0)
        .fetch_all(&mut *conn)
        .await?,
    )?;
    let ids: Vec<i64> = files.iter().map(|f| f.message_db_id).collect();
    let messages = message_records(
        sqlx::query(
            // Only the column lists are spliced in, and they are constants.
            sqlx::AssertSqlSafe(format!(
                "SELECT {MESSAGE_COLUMNS} FROM messages
                 WHERE id = ANY($2)
                    OR id = (SELECT id FROM messages
                             WHERE unit_id = $1 AND campaign_id = $3 AND disposition = 'processed'
                             ORDER BY received_at DESC, id DESC LIMIT 1)
                 ORDER BY received_at, id"
            )),
        )
        .bind(unit)
        .bind(&ids)
        .bind(c.0)
        .fetch_all(&mut *conn)
        .await?,
    )?;
    Ok((units, messages, files))
}

async fn load_records(
    conn: &mut sqlx::PgConnection,
    c: CampaignId,
    unit: Option<&str>,
) -> Result<(Vec<UnitRecord>, Vec<MessageRecord>, Vec<FileRecord>), StoreError> {
    let units = load_units(&mut *conn, c, unit).await?;
    let messages = message_records(
        sqlx::query(
            // Only the column lists are spliced in, and they are constants.
            sqlx::AssertSqlSafe(format!(
                "SELECT {MESSAGE_COLUMNS} FROM messages
                 WHERE campaign_id = $2 AND ($1::text IS NULL OR unit_id = $1)
                 ORDER BY received_at, id"
            )),
        )
        .bind(unit)
        .bind(c.0)
        .fetch_all(&mut *conn)
        .await?,
    )?;
    let files = file_records(
        sqlx::query(
            // Only the column lists are spliced in, and they are constants.
            sqlx::AssertSqlSafe(format!(
                "SELECT {FILE_COLUMNS}
                 FROM files f JOIN messages m ON m.id = f.message_id
                 WHERE m.disposition = 'processed' AND m.campaign_id = $2
                   AND ($1::text IS NULL OR m.unit_id = $1)
                 ORDER BY f.message_id, f.ordinal"
            )),
        )
        .bind(unit)
        .bind(c.0)
        .fetch_all(&mut *conn)
        .await?,
    )?;
    Ok((units, messages, files))
}

async fn load_units(
    conn: &mut sqlx::PgConnection,
    c: CampaignId,
    unit: Option<&str>,
) -> Result<Vec<UnitRecord>, StoreError> {
    Ok(sqlx::query(
        "SELECT u.id, u.name, u.grp, e.reason FROM units u
           LEFT JOIN exemptions e ON e.campaign_id = u.campaign_id AND e.unit_id = u.id
         WHERE u.campaign_id = $2 AND u.active AND ($1::text IS NULL OR u.id = $1)
         ORDER BY u.position, u.id",
    )
    .bind(unit)
    .bind(c.0)
    .fetch_all(&mut *conn)
    .await?
    .into_iter()
    .map(|r| UnitRecord {
        id: r.get("id"),
        name: r.get("name"),
        group: r.get("grp"),
        exempt_reason: r.get("reason"),
    })
    .collect())
}

/// What [`message_records`] reads, for every query that feeds it.
const MESSAGE_COLUMNS: &str = "id, message_id, dedupe_key, from_addr, subject, received_at,
    disposition, unit_id, problems, source";

/// What [`file_records`] reads (`f` is `files`), for every query that feeds it.
const FILE_COLUMNS: &str = "f.message_id, f.ordinal, f.name, f.origin, f.item, f.state, f.problems,
    f.link_url,
    CASE WHEN f.role = 'link' THEN f.data->>'size' END AS link_size,
    CASE WHEN f.role = 'link' THEN f.data->>'expires' END AS link_expires";

fn message_records(rows: Vec<sqlx::postgres::PgRow>) -> Result<Vec<MessageRecord>, StoreError> {
    rows.into_iter()
        .map(|r| {
            let message_id: Option<String> = r.get("message_id");
            Ok(MessageRecord {
                db_id: r.get("id"),
                message_id: message_id.unwrap_or_else(|| r.get("dedupe_key")),
                from: r.get("from_addr"),
                subject: r.get("subject"),
                received_at: r.get("received_at"),
                disposition: disposition_of(&r)?,
                unit_id: r.get("unit_id"),
                problems: serde_json::from_value(r.get("problems"))?,
                source: r.get("source"),
            })
        })
        .collect()
}

fn file_records(rows: Vec<sqlx::postgres::PgRow>) -> Result<Vec<FileRecord>, StoreError> {
    rows.into_iter()
        .map(|r| {
            let state: String = r.get("state");
            Ok(FileRecord {
                message_db_id: r.get("message_id"),
                ordinal: r.get("ordinal"),
                name: r.get("name"),
                origin: r.get("origin"),
                item: r.get("item"),
                state: ItemState::parse(&state).unwrap_or(ItemState::Invalid),
                problems: serde_json::from_value(r.get("problems"))?,
                link_url: r.get("link_url"),
                link_size: r.get("link_size"),
                link_expires: r.get("link_expires"),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_level_sqlstates_are_transient_statement_errors_are_not() {
        for c in [
            "08006", "08001", "57P01", "57P02", "57P03", "53300", "40001", "40P01",
        ] {
            assert!(sqlstate_is_transient(c), "{c}");
        }
        for c in ["23505", "22P02", "42P01", "22021"] {
            assert!(!sqlstate_is_transient(c), "{c}");
        }
    }
}
