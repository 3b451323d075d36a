//! Recording one message (contract §8): its row, files, note, learned address, the unit's status
//! change and its acknowledgement, inside a transaction the caller holds, so that a batch of
//! messages can share one commit (issue 12) while each keeps its own checks.

use super::{
    audit, audit_status_change, check_fence, current::UnitState, desk, insert_files, outbox,
    AfterSave, CampaignId, NewMessage, NewOutbox, Saved, Store, StoreError,
};
use crate::campaign::Disposition;
use crate::status::CampaignView;
use serde_json::json;
use sqlx::{Postgres, Row, Transaction};

/// A transaction for recording, opened by [`Store::begin_recording`]: a leader's fence is
/// checked in it, so whatever it commits is committed only while this instance leads.
pub type Recording = Transaction<'static, Postgres>;

impl Store {
    /// Records a message and its files in one transaction, with the emails `compose` derives
    /// from the result (the acknowledgement). Safe to call again with the same message: the
    /// second call changes nothing.
    pub async fn save(
        &self,
        msg: &NewMessage,
        campaign: &CampaignView,
        acks_per_hour: u32,
        compose: impl FnOnce(&AfterSave<'_>) -> Vec<NewOutbox>,
    ) -> Result<Saved, StoreError> {
        let mut tx = self.begin_recording().await?;
        let saved = Self::save_in(
            &mut tx,
            self.campaign,
            msg,
            campaign,
            acks_per_hour,
            compose,
        )
        .await?;
        tx.commit().await?;
        Ok(saved)
    }

    /// Opens a transaction for [`Store::save_in`], the fence checked first (`FOR SHARE`: a
    /// takeover waits for this transaction, so its commit lands before the takeover or not at
    /// all).
    pub async fn begin_recording(&self) -> Result<Recording, StoreError> {
        let mut tx = self.pool.begin().await?;
        check_fence(&mut tx, self.fence.as_ref()).await?;
        Ok(tx)
    }

    /// [`Store::save`] inside `tx`: nothing is visible until the caller commits, and a rollback
    /// undoes the message whole.
    pub async fn save_in(
        tx: &mut Recording,
        c: CampaignId,
        msg: &NewMessage,
        campaign: &CampaignView,
        acks_per_hour: u32,
        compose: impl FnOnce(&AfterSave<'_>) -> Vec<NewOutbox>,
    ) -> Result<Saved, StoreError> {
        let msg = &msg.storable();
        lock_dedupe_key(tx, &msg.dedupe_key).await?;
        if let Some(id) = id_by_raw(tx, &msg.raw_sha256).await? {
            return Ok(Saved::AlreadyStored { id });
        }
        let admission = Admission::decide(tx, c, msg, acks_per_hour).await?;
        // Read once: the status before, and after (the new message applied in memory).
        let mut state = match &admission.unit_id {
            Some(u) => Some(UnitState::load(tx, c, u).await?),
            None => None,
        };
        let before = state.as_ref().map(|s| status_of(s, campaign));
        let id = insert_message(tx, c, msg, &admission).await?;
        // A duplicate's files were counted with the first delivery: only the raw bytes are kept.
        if !admission.duplicate {
            insert_files_and_note(tx, id, msg, &admission).await?;
        }
        audit_recorded(tx, c, id, msg, &admission).await?;
        learn_address(tx, c, id, msg, &admission).await?;
        // One view after the change serves both the status history and the acknowledgement.
        let view = state.as_mut().and_then(|s| {
            s.record(id, msg, admission.disposition);
            s.view(campaign)
        });
        if let (Some(u), Some(before), Some(after)) = (&admission.unit_id, before, &view) {
            audit_status_change(tx, c, u, &before, after.status.as_str(), Some(id)).await?;
        }
        let emails = compose(&AfterSave {
            id,
            message: msg,
            disposition: admission.disposition,
            rate_limited: admission.rate_limited,
            unit: view.as_ref(),
        });
        queue(tx, c, &emails).await?;
        Ok(admission.into_saved(id))
    }
}

/// The unit's status as the history records it (empty when no such unit is on record).
fn status_of(state: &UnitState, campaign: &CampaignView) -> String {
    state
        .view(campaign)
        .map(|v| v.status.as_str().to_string())
        .unwrap_or_default()
}

/// The emails the message owes (its acknowledgement), in the outbox with the message.
async fn queue(tx: &mut Recording, c: CampaignId, emails: &[NewOutbox]) -> Result<(), StoreError> {
    for e in emails {
        outbox::insert(tx, c, e).await?;
    }
    Ok(())
}

/// Two deliveries of one Message-ID processed at once must see each other: the second waits
/// here until the first commits.
async fn lock_dedupe_key(tx: &mut Recording, dedupe_key: &str) -> Result<(), StoreError> {
    sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
        .bind(dedupe_key)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// The message recorded with these exact bytes, if any.
async fn id_by_raw(tx: &mut Recording, raw_sha256: &str) -> Result<Option<i64>, StoreError> {
    Ok(sqlx::query("SELECT id FROM messages WHERE raw_sha256 = $1")
        .bind(raw_sha256)
        .fetch_optional(&mut **tx)
        .await?
        .map(|row| row.get("id")))
}

/// How the message is admitted: as decided, or as a duplicate of an earlier delivery; whether
/// it counts, for which unit, and whether its sender is over the hourly acknowledgement limit.
struct Admission {
    disposition: Disposition,
    /// An earlier delivery of the same Message-ID (or body) was recorded in this campaign.
    duplicate: bool,
    counted: bool,
    /// A note counts for nothing but still belongs to its unit: its history and 单位来信.
    attributed: bool,
    unit_id: Option<String>,
    rate_limited: bool,
}

impl Admission {
    async fn decide(
        tx: &mut Recording,
        c: CampaignId,
        msg: &NewMessage,
        acks_per_hour: u32,
    ) -> Result<Admission, StoreError> {
        let duplicate = earlier_delivery(tx, c, &msg.dedupe_key).await?.is_some();
        let disposition = if duplicate {
            Disposition::Duplicate
        } else {
            msg.disposition
        };
        let counted = disposition == Disposition::Processed;
        let attributed = disposition.is_attributed();
        let unit_id = if attributed {
            msg.unit_id.clone()
        } else {
            None
        };
        let rate_limited = match (&msg.from_addr, counted) {
            (Some(from), true) => over_ack_limit(tx, c, from, msg, acks_per_hour).await?,
            _ => false,
        };
        Ok(Admission {
            disposition,
            duplicate,
            counted,
            attributed,
            unit_id,
            rate_limited,
        })
    }

    fn into_saved(self, id: i64) -> Saved {
        Saved::Recorded {
            id,
            disposition: self.disposition,
            unit_id: self.unit_id,
            rate_limited: self.rate_limited,
        }
    }
}

/// The first delivery of this dedupe key in the campaign that was not itself a duplicate.
async fn earlier_delivery(
    tx: &mut Recording,
    c: CampaignId,
    dedupe_key: &str,
) -> Result<Option<i64>, StoreError> {
    Ok(sqlx::query(
        "SELECT id FROM messages
         WHERE dedupe_key = $1 AND campaign_id = $2 AND disposition <> 'duplicate' LIMIT 1",
    )
    .bind(dedupe_key)
    .bind(c.0)
    .fetch_optional(&mut **tx)
    .await?
    .map(|r| r.get("id")))
}

/// The sender already had `acks_per_hour` messages in the hour before this one: it is
/// recorded, but not acknowledged again (contract §8).
async fn over_ack_limit(
    tx: &mut Recording,
    c: CampaignId,
    from: &str,
    msg: &NewMessage,
    acks_per_hour: u32,
) -> Result<bool, StoreError> {
    let n: i64 = sqlx::query(
        "SELECT count(*) AS n FROM messages WHERE from_addr = $1 AND campaign_id = $3
           AND received_at > $2 - interval '1 hour' AND received_at <= $2",
    )
    .bind(from)
    .bind(msg.received_at)
    .bind(c.0)
    .fetch_one(&mut **tx)
    .await?
    .get("n");
    Ok(n >= i64::from(acks_per_hour))
}

/// The message's row. A message that does not count keeps no problems, and one not attributed
/// no match rule.
async fn insert_message(
    tx: &mut Recording,
    c: CampaignId,
    msg: &NewMessage,
    a: &Admission,
) -> Result<i64, StoreError> {
    Ok(sqlx::query(
        "INSERT INTO messages (raw_sha256, dedupe_key, message_id, from_addr, from_name, sender_addr,
           reply_to, subject, date_header, received_at, size_bytes, source, disposition,
           no_ack_reason, unit_id, match_rule, problems, body_excerpt, campaign_id)
         VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18,$19)
         RETURNING id",
    )
    .bind(&msg.raw_sha256)
    .bind(&msg.dedupe_key)
    .bind(&msg.message_id)
    .bind(&msg.from_addr)
    .bind(&msg.from_name)
    .bind(&msg.sender_addr)
    .bind(&msg.reply_to)
    .bind(&msg.subject)
    .bind(msg.date_header)
    .bind(msg.received_at)
    .bind(msg.size_bytes)
    .bind(&msg.source)
    .bind(a.disposition.as_str())
    .bind(a.rate_limited.then_some("message.rate_limited"))
    .bind(&a.unit_id)
    .bind(if a.attributed {
        msg.match_rule.clone()
    } else {
        None
    })
    .bind(serde_json::to_value(if a.counted { &msg.problems[..] } else { &[] })?)
    .bind(&msg.body_excerpt)
    .bind(c.0)
    .fetch_one(&mut **tx)
    .await?
    .get("id"))
}

/// The message's files, and its note for the staff when it belongs to a unit.
async fn insert_files_and_note(
    tx: &mut Recording,
    id: i64,
    msg: &NewMessage,
    a: &Admission,
) -> Result<(), StoreError> {
    insert_files(tx, id, &msg.files).await?;
    if let (Some(note), true) = (&msg.note, a.attributed) {
        desk::insert_note(tx, id, note, a.counted).await?;
    }
    Ok(())
}

/// The audit trail's `message_recorded`.
async fn audit_recorded(
    tx: &mut Recording,
    c: CampaignId,
    id: i64,
    msg: &NewMessage,
    a: &Admission,
) -> Result<(), StoreError> {
    audit(
        tx,
        c,
        a.unit_id.as_deref(),
        Some(id),
        "message_recorded",
        json!({
            "disposition": a.disposition,
            "match_rule": if a.counted { msg.match_rule.clone() } else { None },
            "rate_limited": a.rate_limited,
            "source": msg.source,
        }),
    )
    .await
}

/// A counted message whose unit was found by its table, subject or file names teaches its
/// sender's address (the first unit to claim an address keeps it), audited when new.
async fn learn_address(
    tx: &mut Recording,
    c: CampaignId,
    id: i64,
    msg: &NewMessage,
    a: &Admission,
) -> Result<(), StoreError> {
    let (Some(u), Some(addr), true) = (&a.unit_id, &msg.learn_address, a.counted) else {
        return Ok(());
    };
    if super::learn(tx, c, addr, u, id).await? {
        audit(
            tx,
            c,
            Some(u),
            Some(id),
            "address_learned",
            json!({ "address": addr }),
        )
        .await?;
    }
    Ok(())
}

impl Store {
    /// Which of these raw hashes are recorded already, with their message ids: one statement
    /// for a whole batch.
    pub async fn find_raws(
        &self,
        raw_sha256: &[String],
    ) -> Result<std::collections::HashMap<String, i64>, StoreError> {
        let rows = sqlx::query("SELECT raw_sha256, id FROM messages WHERE raw_sha256 = ANY($1)")
            .bind(raw_sha256)
            .fetch_all(&self.pool)
            .await?;
        Ok(rows
            .iter()
            .map(|r| (r.get("raw_sha256"), r.get("id")))
            .collect())
    }

    /// The units these addresses were learned for (address as given → unit id), in one
    /// statement: [`Store::learned_unit`] for a batch.
    pub async fn learned_units(
        &self,
        addresses: &[String],
    ) -> Result<std::collections::HashMap<String, String>, StoreError> {
        let keys: Vec<String> = addresses.iter().map(|a| a.trim().to_lowercase()).collect();
        let rows = sqlx::query(
            "SELECT address, unit_id FROM learned_addresses
                 WHERE address = ANY($1) AND campaign_id = $2",
        )
        .bind(&keys)
        .bind(self.campaign.0)
        .fetch_all(&self.pool)
        .await?;
        let found: std::collections::HashMap<String, String> = rows
            .iter()
            .map(|r| (r.get("address"), r.get("unit_id")))
            .collect();
        Ok(addresses
            .iter()
            .zip(&keys)
            .filter_map(|(a, k)| Some((a.clone(), found.get(k)?.clone())))
            .collect())
    }
}
