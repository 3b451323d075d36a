//! One unit's status around the recording of a message, read once (issue 12 item 3): what the
//! status depends on is loaded before the insert (a constant number of statements, see
//! `load_current`), the status before comes from it, and the status after from the same rows
//! with the new message applied in memory, exactly as `load_current` would read them back.

use super::{desk, load_current, CampaignId, NewMessage, StoreError};
use crate::campaign::Disposition;
use crate::status::{self, CampaignView, FileRecord, MessageRecord, ReviewRecord, UnitRecord};
use chrono::{SubsecRound, Utc};

/// What one unit's status depends on.
#[derive(Debug, Clone)]
pub(super) struct UnitState {
    units: Vec<UnitRecord>,
    messages: Vec<MessageRecord>,
    files: Vec<FileRecord>,
    reviews: Vec<ReviewRecord>,
}

impl UnitState {
    pub(super) async fn load(
        conn: &mut sqlx::PgConnection,
        c: CampaignId,
        unit_id: &str,
    ) -> Result<UnitState, StoreError> {
        let (units, messages, files) = load_current(&mut *conn, c, unit_id).await?;
        let reviews = desk::load_reviews(conn, c, Some(unit_id)).await?;
        Ok(UnitState {
            units,
            messages,
            files,
            reviews,
        })
    }

    pub(super) fn view(&self, campaign: &CampaignView) -> Option<status::UnitView> {
        let s = status::compute(
            campaign,
            &self.units,
            &self.messages,
            &self.files,
            &self.reviews,
            Utc::now(),
        );
        s.units.into_iter().next()
    }

    /// The state once message `id` (`msg`, stored as `disposition` for this unit) is recorded:
    /// only a counted message changes it, and only where it is the newest (`load_current`'s
    /// order: received time, then id, then the file's position).
    pub(super) fn record(&mut self, id: i64, msg: &NewMessage, disposition: Disposition) {
        if disposition != Disposition::Processed {
            return;
        }
        // As PostgreSQL keeps it: microseconds.
        let received_at = msg.received_at.trunc_subsecs(6);
        let newest = |m: &MessageRecord| (received_at, id) >= (m.received_at, m.db_id);
        let by_id =
            |db_id: i64, ms: &[MessageRecord]| ms.iter().find(|m| m.db_id == db_id).cloned();
        let mut files: Vec<FileRecord> = Vec::new();
        for f in &self.files {
            let takes_over = msg.files.iter().any(|n| n.item == f.item)
                && by_id(f.message_db_id, &self.messages).is_none_or(|m| newest(&m));
            if !takes_over {
                files.push(f.clone());
            }
        }
        for (ordinal, f) in msg.files.iter().enumerate().rev() {
            let kept = files.iter().any(|k| k.item == f.item);
            if kept {
                continue;
            }
            let link = |key: &str| -> Option<String> {
                if f.role != "link" {
                    return None;
                }
                match f.data.as_ref()?.get(key)? {
                    serde_json::Value::Null => None,
                    serde_json::Value::String(s) => Some(s.clone()),
                    v => Some(v.to_string()),
                }
            };
            files.push(FileRecord {
                message_db_id: id,
                ordinal: ordinal as i32,
                name: f.name.clone(),
                origin: f.origin.clone(),
                item: f.item.clone(),
                state: f.state,
                problems: f.problems.clone(),
                link_url: f.link_url.clone(),
                link_size: link("size"),
                link_expires: link("expires"),
            });
        }
        files.sort_by(|a, b| a.item.cmp(&b.item));
        let new = MessageRecord {
            db_id: id,
            message_id: msg
                .message_id
                .clone()
                .unwrap_or_else(|| msg.dedupe_key.clone()),
            from: msg.from_addr.clone(),
            subject: msg.subject.clone(),
            received_at,
            disposition,
            unit_id: msg.unit_id.clone(),
            problems: msg.problems.clone(),
            source: msg.source.clone(),
        };
        let mut all = std::mem::take(&mut self.messages);
        all.push(new);
        let latest = all
            .iter()
            .max_by_key(|m| (m.received_at, m.db_id))
            .map(|m| m.db_id);
        all.retain(|m| Some(m.db_id) == latest || files.iter().any(|f| f.message_db_id == m.db_id));
        all.sort_by_key(|m| (m.received_at, m.db_id));
        self.messages = all;
        self.files = files;
    }
}
