//! `recheck`: the counted messages decided again from their stored originals under the current
//! configuration (a raised video limit, a corrected indicator rule), through the very
//! `intake::parse` and `pipeline::decide` that intake runs, so there is no second copy of the
//! rules. Only the files' verdicts change: the unit a message counts for, its received time and
//! the outbox are left alone, so nobody is acknowledged again; what changed is in `audit`.

use crate::config::Settings;
use crate::intake;
use crate::pipeline::{body_of, decide, known, Meta, PipelineError};
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
        let raw = match store.objects.get(&target.raw_sha256) {
            Ok(raw) => raw,
            Err(StoreError::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
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
    for (sha, bytes) in &blobs {
        store.objects.put(sha, bytes)?;
    }
    Ok(message.files)
}
