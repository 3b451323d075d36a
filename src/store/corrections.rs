//! The coordinator's corrections: a message attributed to a unit (`assign`), a message set aside
//! counted after all, a message another campaign's router took claimed back, a unit exempted.
//! Each is one transaction that recomputes the statuses it changes and leaves an audit row.

use super::{
    audit, desk, disposition_of, ensure_unit, insert_files, learn, outbox, record_status_change,
    unit_status, unit_view, AfterSave, CampaignId, NewMessage, NewOutbox, Store, StoreError,
};
use crate::campaign::Disposition;
use crate::status::{self, CampaignView};
use chrono::{DateTime, Utc};
use serde_json::json;
use sqlx::{Postgres, Row, Transaction};

/// What another campaign recorded that this one may take over: nothing counted for any unit.
const MOVABLE: [&str; 4] = ["processed", "unrelated", "spam", "bulk"];

impl Store {
    /// Takes a message another campaign recorded without a unit (routed there by mistake:
    /// unmatched or set aside) into this campaign, set aside as unrelated, so that `assign`
    /// decides it again with this campaign's roster and items and counts it. Its files as the
    /// other campaign classified them go; the original stays. `None` when `reference` names no
    /// such message elsewhere (one of this campaign's, or one counted for a unit, stays put).
    pub async fn take_from_other_campaign(
        &self,
        reference: &str,
    ) -> Result<Option<i64>, StoreError> {
        let (r, bracketed) = reference_forms(reference);
        let mut tx = self.pool.begin().await?;
        let Some(row) = sqlx::query(
            "SELECT m.id, m.campaign_id, m.disposition, c.key FROM messages m
             JOIN campaigns c ON c.id = m.campaign_id
             WHERE (m.message_id = $1 OR m.message_id = $2 OR m.dedupe_key = $2 OR m.id::text = $2)
               AND m.campaign_id <> $3 AND m.unit_id IS NULL AND m.disposition = ANY($4)
             ORDER BY m.id LIMIT 1 FOR UPDATE OF m",
        )
        .bind(&bracketed)
        .bind(r)
        .bind(self.campaign.0)
        .bind(&MOVABLE[..])
        .fetch_optional(&mut *tx)
        .await?
        else {
            return Ok(None);
        };
        let (id, from): (i64, i64) = (row.get("id"), row.get("campaign_id"));
        let (disposition, key): (String, String) = (row.get("disposition"), row.get("key"));
        sqlx::query("DELETE FROM files WHERE message_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM notes WHERE message_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "UPDATE messages SET campaign_id = $2, disposition = 'unrelated' WHERE id = $1",
        )
        .bind(id)
        .bind(self.campaign.0)
        .execute(&mut *tx)
        .await?;
        let detail = json!({ "from_campaign": key, "from_disposition": disposition });
        audit(
            &mut tx,
            CampaignId(from),
            None,
            Some(id),
            "message_moved_out",
            detail.clone(),
        )
        .await?;
        audit(
            &mut tx,
            self.campaign,
            None,
            Some(id),
            "message_moved_in",
            detail,
        )
        .await?;
        tx.commit().await?;
        Ok(Some(id))
    }

    /// Finds a message by Message-ID (with or without angle brackets) or by its number.
    pub(super) async fn resolve_message(
        &self,
        tx: &mut Transaction<'_, Postgres>,
        reference: &str,
    ) -> Result<(i64, Disposition, Option<String>, Option<String>), StoreError> {
        let (r, bracketed) = reference_forms(reference);
        let row = sqlx::query(
            "SELECT id, disposition, unit_id, from_addr FROM messages
             WHERE (message_id = $1 OR message_id = $2 OR dedupe_key = $3 OR id::text = $3)
               AND campaign_id = $4
             ORDER BY (disposition = 'duplicate'), id LIMIT 1",
        )
        .bind(&bracketed)
        .bind(r)
        .bind(r)
        .bind(self.campaign.0)
        .fetch_optional(&mut **tx)
        .await?
        .ok_or_else(|| StoreError::NoSuchMessage(r.to_string()))?;
        Ok((
            row.get("id"),
            disposition_of(&row)?,
            row.get("unit_id"),
            row.get("from_addr"),
        ))
    }

    /// A message set aside as unrelated, spam or bulk, for the coordinator to count after all:
    /// (id, sha256 of the original, received time). `None` when the message was processed or
    /// set aside for a reason no one overrides (auto-reply, bounce, duplicate, own address).
    pub async fn set_aside_original(
        &self,
        reference: &str,
    ) -> Result<Option<(i64, String, DateTime<Utc>)>, StoreError> {
        let mut tx = self.pool.begin().await?;
        let (id, disposition, _, _) = self.resolve_message(&mut tx, reference).await?;
        if !disposition.is_overridable() {
            return Ok(None);
        }
        let row = sqlx::query("SELECT raw_sha256, received_at FROM messages WHERE id = $1")
            .bind(id)
            .fetch_one(&mut *tx)
            .await?;
        Ok(Some((id, row.get("raw_sha256"), row.get("received_at"))))
    }

    /// Counts a set-aside message after all, as `msg` (decided again, for its assigned unit):
    /// its files, the unit's status and the acknowledgement it was never sent, in one
    /// transaction. Safe to repeat: a message already counted is left as it is.
    pub async fn count_set_aside(
        &self,
        id: i64,
        msg: &NewMessage,
        campaign: &CampaignView,
        compose: impl FnOnce(&AfterSave<'_>) -> Vec<NewOutbox>,
    ) -> Result<(), StoreError> {
        let msg = &msg.storable();
        let unit_id = msg
            .unit_id
            .clone()
            .ok_or_else(|| StoreError::NoSuchUnit(String::new()))?;
        let mut tx = self.pool.begin().await?;
        ensure_unit(&mut tx, self.campaign, &unit_id).await?;
        let disposition = disposition_of(
            &sqlx::query("SELECT disposition FROM messages WHERE id = $1 FOR UPDATE")
                .bind(id)
                .fetch_one(&mut *tx)
                .await?,
        )?;
        if !disposition.is_overridable() {
            return Ok(());
        }
        let before = unit_status(&mut tx, self.campaign, campaign, &unit_id).await?;
        // Decided again for the unit, it may be a note (no file) rather than a submission.
        let now_disposition = if msg.disposition == Disposition::Note {
            Disposition::Note
        } else {
            Disposition::Processed
        };
        sqlx::query(
            "UPDATE messages SET disposition = $4, unit_id = $1, match_rule = 'assigned',
               problems = $2 WHERE id = $3",
        )
        .bind(&unit_id)
        .bind(serde_json::to_value(&msg.problems)?)
        .bind(id)
        .bind(now_disposition.as_str())
        .execute(&mut *tx)
        .await?;
        insert_files(&mut tx, id, &msg.files).await?;
        if let Some(note) = &msg.note {
            desk::insert_note(&mut tx, id, note, now_disposition == Disposition::Processed).await?;
        }
        audit(
            &mut tx,
            self.campaign,
            Some(&unit_id),
            Some(id),
            "message_assigned",
            json!({ "from_disposition": disposition }),
        )
        .await?;
        if let Some(addr) = &msg.from_addr {
            learn(&mut tx, self.campaign, addr, &unit_id, id).await?;
        }
        record_status_change(&mut tx, self.campaign, campaign, &unit_id, before, Some(id)).await?;
        let view = unit_view(&mut tx, self.campaign, campaign, &unit_id).await?;
        let emails = compose(&AfterSave {
            id,
            message: msg,
            disposition: now_disposition,
            rate_limited: false,
            unit: view.as_ref(),
        });
        for e in &emails {
            outbox::insert(&mut tx, self.campaign, e).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// The coordinator attributes a message to a unit (an unmatched one, or a correction).
    /// Returns the message's number.
    pub async fn assign(
        &self,
        reference: &str,
        unit_id: &str,
        campaign: &CampaignView,
    ) -> Result<i64, StoreError> {
        let mut tx = self.pool.begin().await?;
        ensure_unit(&mut tx, self.campaign, unit_id).await?;
        let (id, disposition, previous, from) = self.resolve_message(&mut tx, reference).await?;
        if let Some(reason) = disposition.reason() {
            return Err(StoreError::SetAside(
                reference.to_string(),
                status::reason_zh(&reason).to_string(),
            ));
        }
        let before_new = unit_status(&mut tx, self.campaign, campaign, unit_id).await?;
        let before_old = match &previous {
            Some(p) if p != unit_id => Some((
                p.clone(),
                unit_status(&mut tx, self.campaign, campaign, p).await?,
            )),
            _ => None,
        };
        sqlx::query("UPDATE messages SET unit_id = $1, match_rule = 'assigned' WHERE id = $2")
            .bind(unit_id)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        audit(
            &mut tx,
            self.campaign,
            Some(unit_id),
            Some(id),
            "message_assigned",
            json!({ "from_unit": previous }),
        )
        .await?;
        if let Some(addr) = from {
            learn(&mut tx, self.campaign, &addr, unit_id, id).await?;
        }
        record_status_change(
            &mut tx,
            self.campaign,
            campaign,
            unit_id,
            before_new,
            Some(id),
        )
        .await?;
        if let Some((old, before)) = before_old {
            record_status_change(&mut tx, self.campaign, campaign, &old, before, Some(id)).await?;
        }
        tx.commit().await?;
        Ok(id)
    }

    /// Marks a unit exempt (`Some(reason)`) or lifts the exemption (`None`).
    pub async fn set_exempt(
        &self,
        unit_id: &str,
        reason: Option<&str>,
        campaign: &CampaignView,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        ensure_unit(&mut tx, self.campaign, unit_id).await?;
        let before = unit_status(&mut tx, self.campaign, campaign, unit_id).await?;
        match reason {
            Some(r) => {
                sqlx::query(
                    "INSERT INTO exemptions (unit_id, reason, campaign_id) VALUES ($1, $2, $3)
                     ON CONFLICT (campaign_id, unit_id) DO UPDATE SET reason = $2, created_at = now()",
                )
                .bind(unit_id)
                .bind(r)
                .bind(self.campaign.0)
                .execute(&mut *tx)
                .await?;
            }
            None => {
                sqlx::query("DELETE FROM exemptions WHERE unit_id = $1 AND campaign_id = $2")
                    .bind(unit_id)
                    .bind(self.campaign.0)
                    .execute(&mut *tx)
                    .await?;
            }
        }
        audit(
            &mut tx,
            self.campaign,
            Some(unit_id),
            None,
            if reason.is_some() {
                "exempted"
            } else {
                "exemption_lifted"
            },
            json!({ "reason": reason }),
        )
        .await?;
        record_status_change(&mut tx, self.campaign, campaign, unit_id, before, None).await?;
        tx.commit().await?;
        Ok(())
    }
}

/// A reference as typed (a Message-ID with or without angle brackets, or a message's number):
/// trimmed, and in angle brackets.
fn reference_forms(reference: &str) -> (&str, String) {
    let r = reference.trim();
    let bracketed = if r.starts_with('<') {
        r.to_string()
    } else {
        format!("<{r}>")
    };
    (r, bracketed)
}
