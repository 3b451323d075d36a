//! The campaigns a deployment serves, as rows: each campaign's units, messages, emails and
//! schedule runs name one (migration 0009).

use super::{audit, Store, StoreError};
use serde_json::json;
use sqlx::Row;

/// A campaign's row in `campaigns`: every unit, message, email and schedule run belongs to one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CampaignId(pub(super) i64);

impl CampaignId {
    /// The campaign migration 0009 creates, holding what was recorded before campaigns existed
    /// (and, in a new database, the first campaign configured): a store starts on it.
    pub const FIRST: CampaignId = CampaignId(1);

    pub fn get(self) -> i64 {
        self.0
    }
}

/// The key migration 0009 gives the campaign it files existing rows under, until
/// [`Store::adopt_campaign`] names it after the configuration.
pub const LEGACY_CAMPAIGN_KEY: &str = "__legacy__";

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
        let r = reference.trim();
        let bracketed = if r.starts_with('<') {
            r.to_string()
        } else {
            format!("<{r}>")
        };
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

    /// The keys of the campaigns that learned one of `addresses` (lowercase) for a unit.
    pub async fn learned_campaigns(&self, addresses: &[String]) -> Result<Vec<String>, StoreError> {
        if addresses.is_empty() {
            return Ok(Vec::new());
        }
        Ok(sqlx::query_scalar(
            "SELECT DISTINCT c.key FROM learned_addresses l JOIN campaigns c ON c.id = l.campaign_id
             WHERE l.address = ANY($1)",
        )
        .bind(addresses)
        .fetch_all(&self.pool)
        .await?)
    }

    /// The campaign registered under `key`, if it was (by [`Store::adopt_campaign`]).
    pub async fn campaign_by_key(&self, key: &str) -> Result<Option<CampaignId>, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT id FROM campaigns WHERE key = $1")
                .bind(key)
                .fetch_optional(&self.pool)
                .await?
                .map(CampaignId),
        )
    }

    /// The campaign configured under `key`, created when new. With `takes_legacy`, a
    /// campaign not yet in the database takes over the placeholder of migration 0009 (the rows
    /// recorded before campaigns existed, or nothing in a new database) instead of a new row:
    /// the deployment's one campaign then keeps everything it recorded. Its name follows the
    /// configuration.
    pub async fn adopt_campaign(
        &self,
        key: &str,
        name: &str,
        takes_legacy: bool,
    ) -> Result<CampaignId, StoreError> {
        let mut tx = self.pool.begin().await?;
        // Two instances starting at once must not both create the campaign.
        sqlx::query("LOCK TABLE campaigns IN SHARE ROW EXCLUSIVE MODE")
            .execute(&mut *tx)
            .await?;
        let mut id: Option<i64> =
            sqlx::query_scalar("UPDATE campaigns SET name = $2 WHERE key = $1 RETURNING id")
                .bind(key)
                .bind(name)
                .fetch_optional(&mut *tx)
                .await?;
        if id.is_none() && takes_legacy {
            id = sqlx::query_scalar(
                "UPDATE campaigns SET key = $1, name = $2 WHERE key = $3 RETURNING id",
            )
            .bind(key)
            .bind(name)
            .bind(LEGACY_CAMPAIGN_KEY)
            .fetch_optional(&mut *tx)
            .await?;
        }
        let id = match id {
            Some(id) => id,
            None => {
                sqlx::query_scalar("INSERT INTO campaigns (key, name) VALUES ($1, $2) RETURNING id")
                    .bind(key)
                    .bind(name)
                    .fetch_one(&mut *tx)
                    .await?
            }
        };
        tx.commit().await?;
        Ok(CampaignId(id))
    }
}
