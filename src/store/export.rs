//! What `export` reads: each unit's current file of each item, with where its bytes are.

use super::{Store, StoreError};
use crate::problem::ItemState;
use sqlx::Row;

/// The newest file a unit sent for an item (contract §7), as `export` needs it.
#[derive(Debug, Clone)]
pub struct CurrentFile {
    pub unit_id: String,
    pub item: String,
    pub state: ItemState,
    /// The object holding its bytes; `None` for a large-attachment link.
    pub sha256: Option<String>,
    /// Its type by content (`xlsx`, `docx`, `mp4`, …).
    pub kind: String,
}

impl Store {
    /// Every attributed unit's newest file per item, chosen exactly as the status chooses it
    /// (newest message first, then the last file of that message).
    pub async fn current_files(&self) -> Result<Vec<CurrentFile>, StoreError> {
        let rows = sqlx::query(
            "SELECT DISTINCT ON (m.unit_id, f.item) m.unit_id, f.item, f.state, f.sha256, f.kind
             FROM files f JOIN messages m ON m.id = f.message_id
             WHERE m.disposition = 'processed' AND m.unit_id IS NOT NULL AND m.campaign_id = $1
             ORDER BY m.unit_id, f.item, m.received_at DESC, m.id DESC, f.ordinal DESC",
        )
        .bind(self.campaign.0)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|r| {
                let state: String = r.get("state");
                CurrentFile {
                    unit_id: r.get("unit_id"),
                    item: r.get("item"),
                    state: ItemState::parse(&state).unwrap_or(ItemState::Invalid),
                    sha256: r.get("sha256"),
                    kind: r.get("kind"),
                }
            })
            .collect())
    }

    /// When anything that counts last changed (every change writes `audit`): what an export
    /// or summary is "as of", so the same records give the same files.
    pub async fn last_change(&self) -> Result<Option<chrono::DateTime<chrono::Utc>>, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT max(at) FROM audit WHERE campaign_id = $1")
                .bind(self.campaign.0)
                .fetch_one(&self.pool)
                .await?,
        )
    }
}
