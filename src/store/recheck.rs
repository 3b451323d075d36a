//! What `recheck` reads and writes: the counted messages whose stored originals are decided
//! again, and the files whose verdict changed. Only `files` rows change (item, state, problems,
//! data); the message, its received time and the outbox are left alone, and every change is
//! written to `audit` so the history shows what the configuration change did.

use super::{audit, audit_status_change, stored_state, unit_status, NewFile, Store, StoreError};
use crate::campaign::Disposition;
use crate::problem::ItemState;
use crate::status::CampaignView;
use serde_json::json;
use sqlx::Row;

/// A counted message to decide again.
#[derive(Debug, Clone)]
pub struct RecheckTarget {
    pub id: i64,
    pub raw_sha256: String,
    pub unit_id: String,
    pub received_at: chrono::DateTime<chrono::Utc>,
}

/// One file whose verdict is different under the current configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileChange {
    pub message_id: i64,
    pub ordinal: i32,
    pub name: String,
    pub item_before: String,
    pub item_after: String,
    pub state_before: ItemState,
    pub state_after: ItemState,
}

/// What deciding one message again did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rechecked {
    /// Every file has the verdict it had.
    Unchanged,
    /// Some files changed; `status` is the unit's status before and after when it moved.
    Changed {
        files: Vec<FileChange>,
        status: Option<(String, String)>,
    },
    /// The message no longer yields the same files (an archive limit changed, say): its rows are
    /// left as they are rather than guessing which old file is which new one.
    Reshaped,
    /// The message was reassigned or set aside since it was listed: nothing to do.
    Moved,
}

impl Store {
    /// The counted, attributed messages of `unit` (or of every unit), oldest first. An
    /// unmatched message counts for no one and is decided when it is assigned.
    pub async fn recheck_targets(
        &self,
        unit: Option<&str>,
    ) -> Result<Vec<RecheckTarget>, StoreError> {
        Ok(sqlx::query(
            "SELECT id, raw_sha256, unit_id, received_at FROM messages
             WHERE disposition = 'processed' AND unit_id IS NOT NULL
               AND ($1::text IS NULL OR unit_id = $1) AND campaign_id = $2
             ORDER BY received_at, id",
        )
        .bind(unit)
        .bind(self.campaign.0)
        .fetch_all(&self.pool)
        .await?
        .into_iter()
        .map(|r| RecheckTarget {
            id: r.get("id"),
            raw_sha256: r.get("raw_sha256"),
            unit_id: r.get("unit_id"),
            received_at: r.get("received_at"),
        })
        .collect())
    }

    /// Writes the verdicts `files` (the message decided again) over the stored ones, in one
    /// transaction with an `audit` row per changed file and the unit's status change. Repeating
    /// it with the same verdicts changes nothing.
    pub async fn apply_recheck(
        &self,
        target: &RecheckTarget,
        files: &[NewFile],
        campaign: &CampaignView,
    ) -> Result<Rechecked, StoreError> {
        // Compared and written as `save` wrote them: without the NULs PostgreSQL refuses (a
        // 填报单位 cell quoted in a problem can hold one); else the UPDATE fails outright.
        let files: Vec<NewFile> = files.iter().map(NewFile::storable).collect();
        let mut tx = self.pool.begin().await?;
        let still: Option<(String, Option<String>)> =
            sqlx::query_as("SELECT disposition, unit_id FROM messages WHERE id = $1 FOR UPDATE")
                .bind(target.id)
                .fetch_optional(&mut *tx)
                .await?;
        let still = match still {
            Some((d, unit)) => Some((stored_state("messages.disposition", d)?, unit)),
            None => None,
        };
        if still != Some((Disposition::Processed, Some(target.unit_id.clone()))) {
            return Ok(Rechecked::Moved);
        }
        let stored = sqlx::query(
            "SELECT ordinal, name, role, sha256, item, state, problems, data FROM files
             WHERE message_id = $1 ORDER BY ordinal",
        )
        .bind(target.id)
        .fetch_all(&mut *tx)
        .await?;
        let same_shape = stored.len() == files.len()
            && stored.iter().zip(&files).all(|(r, f)| {
                r.get::<String, _>("name") == f.name
                    && r.get::<String, _>("role") == f.role
                    && r.get::<Option<String>, _>("sha256") == f.sha256
            });
        if !same_shape {
            return Ok(Rechecked::Reshaped);
        }
        let before = unit_status(&mut tx, self.campaign, campaign, &target.unit_id).await?;
        let mut changes = Vec::new();
        for (r, f) in stored.iter().zip(&files) {
            let ordinal: i32 = r.get("ordinal");
            let item: String = r.get("item");
            let state: String = r.get("state");
            let problems: serde_json::Value = r.get("problems");
            let data: Option<serde_json::Value> = r.get("data");
            let new_problems = serde_json::to_value(&f.problems)?;
            if item == f.item
                && state == f.state.as_str()
                && problems == new_problems
                && data == f.data
            {
                continue;
            }
            sqlx::query(
                "UPDATE files SET item = $3, state = $4, problems = $5, data = $6
                 WHERE message_id = $1 AND ordinal = $2",
            )
            .bind(target.id)
            .bind(ordinal)
            .bind(&f.item)
            .bind(f.state.as_str())
            .bind(&new_problems)
            .bind(&f.data)
            .execute(&mut *tx)
            .await?;
            audit(
                &mut tx,
                self.campaign,
                Some(&target.unit_id),
                Some(target.id),
                "file_rechecked",
                json!({
                    "ordinal": ordinal,
                    "name": f.name,
                    "item": { "from": item, "to": f.item },
                    "state": { "from": state, "to": f.state.as_str() },
                    "problems": { "from": codes(&problems), "to": codes(&new_problems) },
                }),
            )
            .await?;
            changes.push(FileChange {
                message_id: target.id,
                ordinal,
                name: f.name.clone(),
                item_before: item,
                item_after: f.item.clone(),
                state_before: ItemState::parse(&state).unwrap_or(ItemState::Invalid),
                state_after: f.state,
            });
        }
        if changes.is_empty() {
            return Ok(Rechecked::Unchanged);
        }
        let after = unit_status(&mut tx, self.campaign, campaign, &target.unit_id).await?;
        audit_status_change(
            &mut tx,
            self.campaign,
            &target.unit_id,
            &before,
            &after,
            None,
        )
        .await?;
        tx.commit().await?;
        Ok(Rechecked::Changed {
            files: changes,
            status: (before != after).then_some((before, after)),
        })
    }
}

/// The problem codes of a stored problem list, for the audit trail.
fn codes(problems: &serde_json::Value) -> Vec<String> {
    problems
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|p| p["code"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}
