//! The campaigns a deployment serves, as rows: each campaign's units, messages, emails and
//! schedule runs name one (migration 0009).

use super::{Store, StoreError};

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

impl Store {
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
