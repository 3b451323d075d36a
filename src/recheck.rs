//! `recheck`: the counted messages decided again from their stored originals under the current
//! configuration (a raised video limit, a corrected indicator rule), through the very
//! `intake::parse` and `pipeline::decide` that intake runs, so there is no second copy of the
//! rules. Only the files' verdicts change: the unit a message counts for, its received time and
//! the outbox are left alone, so nobody is acknowledged again; what changed is in `audit`.

use crate::config::Settings;
use crate::intake;
use crate::pipeline::{body_of, decide, known, Meta, PipelineError};
use crate::status::UnitStatus;
use crate::store::{sha256_hex, FileChange, RecheckTarget, Rechecked, Store, StoreError};

/// What one `recheck` did.
#[derive(Debug, Default)]
pub struct RecheckReport {
    /// Messages decided again.
    pub messages: usize,
    /// Files whose verdict changed, each with its unit's id.
    pub files: Vec<(String, FileChange)>,
    /// Units whose status moved: (unit id, before, after).
    pub units: Vec<(String, String, String)>,
    /// Messages left as they were because they no longer yield the same files.
    pub reshaped: Vec<i64>,
    /// Messages whose original is missing from the storage directory.
    pub missing_originals: Vec<i64>,
}

impl RecheckReport {
    /// What the coordinator reads: each file whose verdict changed, each unit whose status
    /// moved, each message left alone, and the count.
    pub fn render_zh(&self, settings: &Settings) -> String {
        let name = |id: &str| {
            settings
                .roster
                .get(id)
                .map_or_else(|| id.to_string(), |u| u.name.clone())
        };
        let label =
            |key: &str| crate::notify::compose::item_label(&settings.compose(), key).to_string();
        let status_zh = |s: &str| {
            UnitStatus::ALL
                .iter()
                .find(|x| x.as_str() == s)
                .map_or(s.to_string(), |x| x.label_zh().to_string())
        };
        let mut out = String::new();
        for (unit, f) in &self.files {
            let item = if f.item_before == f.item_after {
                label(&f.item_after)
            } else {
                format!("{} → {}", label(&f.item_before), label(&f.item_after))
            };
            out.push_str(&format!(
                "{}（编号 {}）{}：{}，{} → {}\n",
                name(unit),
                f.message_id,
                f.name,
                item,
                f.state_before.label_zh(),
                f.state_after.label_zh()
            ));
        }
        for (unit, before, after) in &self.units {
            out.push_str(&format!(
                "{}：{} → {}\n",
                name(unit),
                status_zh(before),
                status_zh(after)
            ));
        }
        for id in &self.reshaped {
            out.push_str(&format!(
                "编号 {id}：按现行配置拆出的文件与原记录不同（如压缩包限制已改），未改动\n"
            ));
        }
        out.push_str(&format!(
            "重新检查 {} 封邮件：{} 个文件结论有变，{} 个单位状态有变；未发送任何邮件\n",
            self.messages,
            self.files.len(),
            self.units.len()
        ));
        out
    }
}

/// Decides again every counted message of `unit` (or of every unit). Safe to repeat: a second
/// run under the same configuration changes nothing.
pub async fn recheck(
    settings: &Settings,
    store: &Store,
    unit: Option<&str>,
) -> Result<RecheckReport, PipelineError> {
    let campaign = settings.campaign_view();
    let mut report = RecheckReport::default();
    for target in store.recheck_targets(unit).await? {
        let raw = match store.objects.get(&target.raw_sha256).await {
            Ok(raw) => raw,
            Err(StoreError::NoSuchObject(_)) => {
                report.missing_originals.push(target.id);
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        report.messages += 1;
        let files = decide_files(settings, store, &target, &raw).await?;
        match store.apply_recheck(&target, &files, &campaign).await? {
            Rechecked::Changed { files, status } => {
                report
                    .files
                    .extend(files.into_iter().map(|f| (target.unit_id.clone(), f)));
                if let Some((before, after)) = status {
                    report.units.push((target.unit_id.clone(), before, after));
                }
            }
            Rechecked::Reshaped => report.reshaped.push(target.id),
            Rechecked::Unchanged | Rechecked::Moved => {}
        }
    }
    Ok(report)
}

/// The message's files as intake decides them today, for the unit it counts for.
async fn decide_files(
    settings: &Settings,
    store: &Store,
    target: &RecheckTarget,
    raw: &[u8],
) -> Result<Vec<crate::store::NewFile>, PipelineError> {
    let parsed = intake::parse(raw, &settings.limits);
    let mut known = known(store, &parsed).await?;
    // The unit stays the one it counts for: recheck judges files, not attribution.
    known.assigned = Some(target.unit_id.clone());
    let (message, blobs) = decide(
        settings,
        parsed,
        &known,
        Meta {
            raw_sha256: target.raw_sha256.clone(),
            body_sha256: sha256_hex(body_of(raw)),
            size: raw.len(),
            source: String::new(),
            internal_date: Some(target.received_at),
        },
    );
    // A member an archive limit kept out before may come out now: its bytes are kept like
    // intake keeps them (writing an object already there is a no-op).
    store
        .objects
        .put_all(&crate::pipeline::borrowed(&blobs))
        .await?;
    Ok(message.files)
}
