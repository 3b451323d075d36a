//! The coordinator's desk in the database (issue 9): reviews of items that need a person's eye,
//! notes units wrote to the staff, and one unit's history. A review and the email it causes are
//! written in one transaction, like every other email.

use super::{
    audit, disposition_of, ensure_unit, outbox, record_status_change, stored_state, unit_status,
    CampaignId, NewOutbox, Store, StoreError,
};
use crate::history::{Entry, Event, FileEntry};
use crate::problem::{Problem, Severity};
use crate::status::{CampaignView, ReviewRecord};
use chrono::{DateTime, Utc};
use serde_json::json;
use sqlx::{Postgres, Row, Transaction};

/// Every review of a unit's files (or of all units), oldest first.
pub(super) async fn load_reviews(
    conn: &mut sqlx::PgConnection,
    c: CampaignId,
    unit: Option<&str>,
) -> Result<Vec<ReviewRecord>, StoreError> {
    Ok(sqlx::query(
        "SELECT id, message_id, ordinal, verdict, reason, reviewer, at FROM reviews
         WHERE campaign_id = $2 AND ($1::text IS NULL OR unit_id = $1) ORDER BY id",
    )
    .bind(unit)
    .bind(c.0)
    .fetch_all(&mut *conn)
    .await?
    .into_iter()
    .map(|r| ReviewRecord {
        id: r.get("id"),
        message_db_id: r.get("message_id"),
        ordinal: r.get("ordinal"),
        accepted: r.get::<String, _>("verdict") == "accepted",
        reason: r.get("reason"),
        reviewer: r.get("reviewer"),
        at: r.get("at"),
    })
    .collect())
}

/// Records a note (in the message's transaction).
pub(super) async fn insert_note(
    tx: &mut Transaction<'_, Postgres>,
    message_id: i64,
    text: &str,
    with_files: bool,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO notes (message_id, text, with_files) VALUES ($1, $2, $3)
         ON CONFLICT (message_id) DO NOTHING",
    )
    .bind(message_id)
    .bind(super::text::storable(text))
    .bind(with_files)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// What the coordinator decided about an item (`reportbox review`).
#[derive(Debug, Clone)]
pub struct ReviewRequest<'a> {
    pub unit_id: &'a str,
    pub item: &'a str,
    pub accept: bool,
    pub reason: &'a str,
    pub reviewer: &'a str,
}

/// The file a review judged, for the email a rejection sends.
#[derive(Debug, Clone)]
pub struct Reviewed {
    pub review_id: i64,
    pub unit_id: String,
    pub item: String,
    pub file: String,
    pub reason: String,
    pub received_at: DateTime<Utc>,
    /// Who sent the file (Reply-To, else From), else the unit's addresses.
    pub recipients: Vec<String>,
    /// The unit's message that carried the file, to answer in its thread.
    pub in_reply_to: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReviewOutcome {
    /// Recorded now; `emailed` when a rejection email was queued.
    Recorded { file: String, emailed: bool },
    /// The newest review of this file already says the same: nothing changed.
    Unchanged { file: String },
}

/// A note listed for the coordinator.
#[derive(Debug, Clone)]
pub struct NoteRow {
    pub number: i64,
    pub unit_id: Option<String>,
    pub from: Option<String>,
    pub subject: String,
    pub received_at: DateTime<Utc>,
    pub text: String,
    pub with_files: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Handled {
    Now { unit_id: Option<String> },
    Already { at: DateTime<Utc> },
}

impl Store {
    /// Records the coordinator's verdict on the newest file of a unit's item and, for a
    /// rejection, the email `compose` writes (one per review: its key is the review's id).
    /// Only a file that needs review can be reviewed; the same verdict and reason again changes
    /// nothing.
    pub async fn record_review(
        &self,
        campaign: &CampaignView,
        req: &ReviewRequest<'_>,
        compose: impl FnOnce(&Reviewed) -> Option<NewOutbox>,
    ) -> Result<ReviewOutcome, StoreError> {
        let mut tx = self.pool.begin().await?;
        ensure_unit(&mut tx, self.campaign, req.unit_id).await?;
        // Two reviews of one unit at once must see each other.
        sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
            .bind(format!("review:{}:{}", self.campaign.0, req.unit_id))
            .execute(&mut *tx)
            .await?;
        let file = sqlx::query(
            "SELECT f.message_id, f.ordinal, f.name, f.state, m.received_at, m.message_id AS mid,
                    coalesce(m.reply_to, m.from_addr) AS sender
             FROM files f JOIN messages m ON m.id = f.message_id
             WHERE m.unit_id = $1 AND m.campaign_id = $3 AND m.disposition = 'processed'
               AND f.item = $2
             ORDER BY m.received_at DESC, m.id DESC, f.ordinal DESC LIMIT 1",
        )
        .bind(req.unit_id)
        .bind(req.item)
        .bind(self.campaign.0)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(file) = file else {
            return Err(StoreError::NothingToReview {
                unit: req.unit_id.to_string(),
                state: "尚未收到".into(),
            });
        };
        let state: String = file.get("state");
        if state != "needs_review" {
            let state = crate::problem::ItemState::parse(&state)
                .map_or(state.clone(), |s| format!("为“{}”", s.label_zh()));
            return Err(StoreError::NothingToReview {
                unit: req.unit_id.to_string(),
                state,
            });
        }
        let (message_id, ordinal): (i64, i32) = (file.get("message_id"), file.get("ordinal"));
        let name: String = file.get("name");
        let verdict = if req.accept { "accepted" } else { "rejected" };
        let newest = sqlx::query(
            "SELECT verdict, reason FROM reviews WHERE message_id = $1 AND ordinal = $2
             ORDER BY id DESC LIMIT 1",
        )
        .bind(message_id)
        .bind(ordinal)
        .fetch_optional(&mut *tx)
        .await?;
        if newest.is_some_and(|r| {
            r.get::<String, _>("verdict") == verdict && r.get::<String, _>("reason") == req.reason
        }) {
            return Ok(ReviewOutcome::Unchanged { file: name });
        }
        let before = unit_status(&mut tx, self.campaign, campaign, req.unit_id).await?;
        let review_id: i64 = sqlx::query(
            "INSERT INTO reviews (unit_id, item, message_id, ordinal, verdict, reason, reviewer,
               campaign_id)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
        )
        .bind(req.unit_id)
        .bind(req.item)
        .bind(message_id)
        .bind(ordinal)
        .bind(verdict)
        .bind(req.reason)
        .bind(req.reviewer)
        .bind(self.campaign.0)
        .fetch_one(&mut *tx)
        .await?
        .get("id");
        audit(
            &mut tx,
            self.campaign,
            Some(req.unit_id),
            Some(message_id),
            "reviewed",
            json!({ "item": req.item, "verdict": verdict, "reason": req.reason,
                    "by": req.reviewer, "review": review_id }),
        )
        .await?;
        record_status_change(
            &mut tx,
            self.campaign,
            campaign,
            req.unit_id,
            before,
            Some(message_id),
        )
        .await?;
        let mut emailed = false;
        if !req.accept {
            let sender: Option<String> = file.get("sender");
            let recipients = match sender {
                Some(s) if !s.is_empty() => vec![s],
                _ => unit_addresses(&mut tx, self.campaign, req.unit_id).await?,
            };
            let reviewed = Reviewed {
                review_id,
                unit_id: req.unit_id.to_string(),
                item: req.item.to_string(),
                file: name.clone(),
                reason: req.reason.to_string(),
                received_at: file.get("received_at"),
                recipients,
                in_reply_to: file.get("mid"),
            };
            if let Some(email) = compose(&reviewed) {
                emailed = outbox::insert(&mut tx, self.campaign, &email).await?;
            }
        }
        tx.commit().await?;
        Ok(ReviewOutcome::Recorded {
            file: name,
            emailed,
        })
    }

    /// Notes not yet marked handled, oldest first.
    pub async fn open_notes(&self) -> Result<Vec<NoteRow>, StoreError> {
        Ok(sqlx::query(
            "SELECT n.message_id, m.unit_id, m.from_addr, m.subject, m.received_at, n.text,
                    n.with_files
             FROM notes n JOIN messages m ON m.id = n.message_id
             WHERE n.handled_at IS NULL AND m.campaign_id = $1 ORDER BY m.received_at, m.id",
        )
        .bind(self.campaign.0)
        .fetch_all(&self.pool)
        .await?
        .into_iter()
        .map(|r| NoteRow {
            number: r.get("message_id"),
            unit_id: r.get("unit_id"),
            from: r.get("from_addr"),
            subject: r.get("subject"),
            received_at: r.get("received_at"),
            text: r.get("text"),
            with_files: r.get("with_files"),
        })
        .collect())
    }

    /// Marks the note of message `number` handled; again is harmless and says when it was.
    pub async fn mark_handled(&self, number: i64, by: &str) -> Result<Handled, StoreError> {
        let mut tx = self.pool.begin().await?;
        let row = sqlx::query(
            "SELECT n.handled_at, m.unit_id FROM notes n JOIN messages m ON m.id = n.message_id
             WHERE n.message_id = $1 AND m.campaign_id = $2 FOR UPDATE OF n",
        )
        .bind(number)
        .bind(self.campaign.0)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(StoreError::NoSuchNote(number))?;
        if let Some(at) = row.get::<Option<DateTime<Utc>>, _>("handled_at") {
            return Ok(Handled::Already { at });
        }
        let unit_id: Option<String> = row.get("unit_id");
        sqlx::query("UPDATE notes SET handled_at = now(), handled_by = $2 WHERE message_id = $1")
            .bind(number)
            .bind(by)
            .execute(&mut *tx)
            .await?;
        audit(
            &mut tx,
            self.campaign,
            unit_id.as_deref(),
            Some(number),
            "note_handled",
            json!({ "by": by }),
        )
        .await?;
        tx.commit().await?;
        Ok(Handled::Now { unit_id })
    }

    /// Everything that happened to a unit, for `history`.
    pub async fn history(&self, unit_id: &str) -> Result<Vec<Entry>, StoreError> {
        let mut conn = self.pool.acquire().await?;
        let mut out = Vec::new();
        let files = sqlx::query(
            "SELECT f.message_id, f.name, f.item, f.state, f.problems, f.link_url
             FROM files f JOIN messages m ON m.id = f.message_id
             WHERE m.unit_id = $1 AND m.campaign_id = $2 AND f.role <> 'archive'
             ORDER BY f.message_id, f.ordinal",
        )
        .bind(unit_id)
        .bind(self.campaign.0)
        .fetch_all(&mut *conn)
        .await?;
        for m in sqlx::query(
            "SELECT m.id, m.from_addr, m.subject, m.received_at, m.disposition, m.match_rule,
                    n.text AS note
             FROM messages m LEFT JOIN notes n ON n.message_id = m.id
             WHERE m.unit_id = $1 AND m.campaign_id = $2 ORDER BY m.received_at, m.id",
        )
        .bind(unit_id)
        .bind(self.campaign.0)
        .fetch_all(&mut *conn)
        .await?
        {
            let id: i64 = m.get("id");
            let mut own = Vec::new();
            for f in files.iter().filter(|f| f.get::<i64, _>("message_id") == id) {
                let problems: Vec<Problem> = serde_json::from_value(f.get("problems"))?;
                own.push(FileEntry {
                    name: f.get("name"),
                    item: f.get("item"),
                    state: f.get("state"),
                    problems: problems
                        .iter()
                        .filter(|p| p.severity != Severity::Warning)
                        .map(|p| format!("{}：{}", p.severity.label_zh(), p.message))
                        .collect(),
                    link: f.get("link_url"),
                });
            }
            out.push(Entry {
                at: m.get("received_at"),
                seq: 0,
                event: Event::Message {
                    number: id,
                    from: m.get("from_addr"),
                    subject: m.get("subject"),
                    disposition: disposition_of(&m)?,
                    match_rule: m.get("match_rule"),
                    files: own,
                    note: m.get("note"),
                },
            });
        }
        for r in sqlx::query(
            "SELECT r.id, r.item, f.name, r.verdict, r.reason, r.reviewer, r.at FROM reviews r
             JOIN files f ON f.message_id = r.message_id AND f.ordinal = r.ordinal
             WHERE r.unit_id = $1 AND r.campaign_id = $2",
        )
        .bind(unit_id)
        .bind(self.campaign.0)
        .fetch_all(&mut *conn)
        .await?
        {
            out.push(Entry {
                at: r.get("at"),
                seq: r.get("id"),
                event: Event::Review {
                    item: r.get("item"),
                    file: r.get("name"),
                    accepted: r.get::<String, _>("verdict") == "accepted",
                    reason: r.get("reason"),
                    by: r.get("reviewer"),
                },
            });
        }
        for a in sqlx::query(
            "SELECT id, at, kind, message_id, detail FROM audit
             WHERE unit_id = $1 AND kind IN ('exempted', 'exemption_lifted', 'message_assigned',
                                             'status_changed', 'note_handled')
               AND campaign_id = $2",
        )
        .bind(unit_id)
        .bind(self.campaign.0)
        .fetch_all(&mut *conn)
        .await?
        {
            let detail: serde_json::Value = a.get("detail");
            let text = |k: &str| detail[k].as_str().map(str::to_string);
            let number: Option<i64> = a.get("message_id");
            let event = match a.get::<String, _>("kind").as_str() {
                "exempted" => Event::Exempted {
                    reason: Some(text("reason").unwrap_or_default()),
                },
                "exemption_lifted" => Event::Exempted { reason: None },
                "message_assigned" => Event::Assigned {
                    number: number.unwrap_or_default(),
                },
                "note_handled" => Event::NoteHandled {
                    number: number.unwrap_or_default(),
                    by: text("by"),
                },
                _ => Event::StatusChanged {
                    from: text("from").unwrap_or_default(),
                    to: text("to").unwrap_or_default(),
                },
            };
            out.push(Entry {
                at: a.get("at"),
                seq: a.get("id"),
                event,
            });
        }
        for e in sqlx::query(
            "SELECT id, kind, subject, recipients, state, last_error, created_at, sent_at
             FROM outbox WHERE unit_id = $1 AND campaign_id = $2",
        )
        .bind(unit_id)
        .bind(self.campaign.0)
        .fetch_all(&mut *conn)
        .await?
        {
            let sent: Option<DateTime<Utc>> = e.get("sent_at");
            out.push(Entry {
                at: sent.unwrap_or_else(|| e.get("created_at")),
                seq: e.get("id"),
                event: Event::Email {
                    kind: e.get("kind"),
                    subject: e.get("subject"),
                    recipients: e.get("recipients"),
                    state: stored_state("outbox.state", e.get("state"))?,
                    error: e.get("last_error"),
                },
            });
        }
        Ok(out)
    }
}

/// The roster's addresses of a unit, then those learned (in the caller's transaction).
async fn unit_addresses(
    tx: &mut Transaction<'_, Postgres>,
    c: CampaignId,
    unit_id: &str,
) -> Result<Vec<String>, StoreError> {
    let mut out: Vec<String> =
        sqlx::query_scalar("SELECT emails FROM units WHERE id = $1 AND campaign_id = $2")
            .bind(unit_id)
            .bind(c.0)
            .fetch_optional(&mut **tx)
            .await?
            .unwrap_or_default();
    let learned: Vec<String> = sqlx::query_scalar(
        "SELECT address FROM learned_addresses WHERE unit_id = $1 AND campaign_id = $2
         ORDER BY learned_at",
    )
    .bind(unit_id)
    .bind(c.0)
    .fetch_all(&mut **tx)
    .await?;
    for a in learned {
        if !out.contains(&a) {
            out.push(a);
        }
    }
    Ok(out)
}
