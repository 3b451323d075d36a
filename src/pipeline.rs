//! One message from raw bytes to a recorded verdict: intake → set-aside rules (contract §8) →
//! table reading → identify → classify → validate → store. `import` and the mailbox daemon both
//! call [`process`], so a message gives the same result whichever way it arrived.

use crate::campaign::Disposition;
use crate::config::Settings;
use crate::intake::{self, Parsed};
use crate::problem::Problem;
use crate::status::{CampaignView, ItemSpec};
use crate::store::{sha256_hex, CampaignId, NewMessage, Recording, Saved, Store, StoreError};
use chrono::{DateTime, Utc};
use std::collections::HashMap;

pub mod batch;
mod decide;
pub mod routing;

pub use self::decide::{decide, junk_mail, machine_mail};

/// A message as it reached reportbox.
#[derive(Debug, Clone)]
pub struct Incoming {
    pub raw: Vec<u8>,
    /// Where it came from, for the record: `import:<name>` or `imap:<folder>/<uidvalidity>/<uid>`.
    pub source: String,
    /// The mailbox's INTERNALDATE; `None` for a file, whose time comes from its headers.
    pub internal_date: Option<DateTime<Utc>>,
}

#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A job of a batch on a blocking thread panicked (or its runtime shut down under it).
    /// Likely one message's doing and bound to happen again: not transient, so the batch goes
    /// one message at a time, where each message is charged and given up on alone.
    #[error("a blocking job failed while {stage}: {reason}")]
    BlockingJob { stage: &'static str, reason: String },
}

impl PipelineError {
    /// The object store (bucket or disk) failed, for a while: not the message's fault, and not
    /// the mailbox's either.
    pub fn is_storage(&self) -> bool {
        matches!(
            self,
            PipelineError::Store(e @ (StoreError::S3 { .. } | StoreError::Io { .. })) if e.is_transient()
        )
    }

    pub fn is_transient(&self) -> bool {
        match self {
            PipelineError::Store(e) => e.is_transient(),
            PipelineError::BlockingJob { .. } => false,
        }
    }

    /// Another instance leads now: nothing was recorded, and this one must stop.
    pub fn is_fenced(&self) -> bool {
        matches!(self, PipelineError::Store(StoreError::Fenced { .. }))
    }
}

/// What became of one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub saved: Saved,
    /// The sender is owed an acknowledgement (contract §8).
    pub ack_due: bool,
}

impl Settings {
    /// The campaign as the status computation sees it.
    pub fn campaign_view(&self) -> CampaignView {
        CampaignView {
            name: self.campaign.name.clone(),
            deadline: self.campaign.deadline,
            tz: self.campaign.tz,
            items: self
                .campaign
                .items
                .iter()
                .map(|i| ItemSpec {
                    key: i.key.clone(),
                    label: i.label.clone(),
                    required: i.required,
                })
                .collect(),
            junk_folders: self.mailbox.junk_folders.clone(),
        }
    }
}

/// Processes one message end to end. Safe to repeat: the same bytes a second time change nothing.
pub async fn process(
    settings: &Settings,
    store: &Store,
    incoming: Incoming,
) -> Result<Outcome, PipelineError> {
    let raw_sha256 = sha256_hex(&incoming.raw);
    if let Some(id) = store.find_raw(&raw_sha256).await? {
        return Ok(Outcome {
            saved: Saved::AlreadyStored { id },
            ack_due: false,
        });
    }
    // The original is stored before anything refers to it.
    store.objects.put(&raw_sha256, &incoming.raw).await?;
    let parsed = blocking(|| intake::parse(&incoming.raw, &settings.limits));
    // In a mailbox several campaigns read, the campaign the message is for decides it.
    let (routed_settings, routed_store) = routing::target(settings, store, &parsed).await?;
    let (settings, store) = (&*routed_settings, &routed_store);
    let known = known(store, &parsed).await?;
    let size = incoming.raw.len();
    let (message, blobs) = blocking(|| {
        let body_sha256 = sha256_hex(body_of(&incoming.raw));
        // The parse holds what is needed; the raw bytes can go before the files are unpacked.
        drop(incoming.raw);
        decide(
            settings,
            parsed,
            &known,
            Meta {
                raw_sha256,
                body_sha256,
                size,
                source: incoming.source,
                internal_date: incoming.internal_date,
            },
        )
    });
    store.objects.put_all(&borrowed(&blobs)).await?;
    drop(blobs);
    save(settings, store, &message).await
}

/// `(sha256, bytes)` pairs as [`crate::store::ObjectStore::put_all`] takes them.
pub(crate) fn borrowed(blobs: &[(String, Vec<u8>)]) -> Vec<(&str, &[u8])> {
    blobs
        .iter()
        .map(|(s, b)| (s.as_str(), b.as_slice()))
        .collect()
}

/// Parsing, validation and file writes of one message off the async workers, so that a slow
/// message does not stall the IMAP session's keep-alives or the sender: on a multi-threaded
/// runtime (the daemon) the worker becomes a blocking thread for the duration. On a
/// single-threaded runtime (tests, one-shot commands) there is nothing else to keep going, and
/// it runs inline. It blocks the whole task, futures joined with it included: a batch, fetched
/// while the previous one is recorded, uses [`batch`]'s jobs on the blocking pool instead.
fn blocking<T>(f: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current().map(|h| h.runtime_flavor()) {
        Ok(tokio::runtime::RuntimeFlavor::MultiThread) => tokio::task::block_in_place(f),
        _ => f(),
    }
}

/// What `assign` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Assigned {
    /// A processed message now counts for the unit.
    Reassigned { id: i64 },
    /// A message set aside as unrelated (or spam, bulk) was processed for the unit, with the
    /// acknowledgement it never had.
    Counted { id: i64 },
}

/// The coordinator's `assign`: attributes a message to a unit. A message set aside as
/// unrelated, spam or bulk is decided again from its stored original, for that unit, and
/// counted then (contract §8): its files, the unit's status, its acknowledgement.
pub async fn assign(
    settings: &Settings,
    store: &Store,
    reference: &str,
    unit_id: &str,
) -> Result<Assigned, PipelineError> {
    let campaign = settings.campaign_view();
    if settings.roster.get(unit_id).is_none() {
        return Err(StoreError::NoSuchUnit(unit_id.to_string()).into());
    }
    // A message the mailbox's router gave another campaign is taken over first, then decided
    // again here like any message set aside.
    let original = match store.set_aside_original(reference).await {
        Err(StoreError::NoSuchMessage(_))
            if store.take_from_other_campaign(reference).await?.is_some() =>
        {
            store.set_aside_original(reference).await?
        }
        other => other?,
    };
    let Some((id, raw_sha256, received_at)) = original else {
        let id = store.assign(reference, unit_id, &campaign).await?;
        return Ok(Assigned::Reassigned { id });
    };
    let raw = store.objects.get(&raw_sha256).await?;
    let parsed = intake::parse(&raw, &settings.limits);
    let mut known = known(store, &parsed).await?;
    known.assigned = Some(unit_id.to_string());
    let (message, blobs) = decide(
        settings,
        parsed,
        &known,
        Meta {
            body_sha256: sha256_hex(body_of(&raw)),
            raw_sha256,
            size: raw.len(),
            source: String::new(),
            internal_date: Some(received_at),
        },
    );
    drop(raw);
    store.objects.put_all(&borrowed(&blobs)).await?;
    store
        .count_set_aside(id, &message, &campaign, |after| {
            crate::notify::compose_ack(settings, after)
        })
        .await?;
    Ok(Assigned::Counted { id })
}

/// Records a decided message with its acknowledgement, if one is owed.
async fn save(
    settings: &Settings,
    store: &Store,
    message: &NewMessage,
) -> Result<Outcome, PipelineError> {
    let saved = store
        .save(
            message,
            &settings.campaign_view(),
            settings.campaign.acks_per_sender_per_hour,
            |after| crate::notify::compose_ack(settings, after),
        )
        .await?;
    Ok(outcome(message, saved))
}

/// Records a decided message inside a batch's transaction ([`Store::begin_recording`]).
pub async fn save_in(
    settings: &Settings,
    campaign: CampaignId,
    tx: &mut Recording,
    message: &NewMessage,
) -> Result<Outcome, PipelineError> {
    let saved = Store::save_in(
        tx,
        campaign,
        message,
        &settings.campaign_view(),
        settings.campaign.acks_per_sender_per_hour,
        |after| crate::notify::compose_ack(settings, after),
    )
    .await?;
    Ok(outcome(message, saved))
}

fn outcome(message: &NewMessage, saved: Saved) -> Outcome {
    // Nobody to answer when no sender could be read. A note is owed its 已转交 reply (the
    // first of the day; the outbox key keeps it to one).
    let ack_due = matches!(
        &saved,
        Saved::Recorded { disposition, rate_limited: false, .. }
            if disposition.is_attributed()
    ) && (message.from_addr.is_some() || message.sender_addr.is_some());
    Outcome { saved, ack_due }
}

/// Records a message too large to download (over `mailbox.max_message_size`) from its header
/// block alone, with a `file.too_large` problem on the message: the unit learns why nothing
/// counted, the coordinator sees it, and it is not fetched again. Safe to repeat like [`process`].
pub async fn process_oversized(
    settings: &Settings,
    store: &Store,
    header: Vec<u8>,
    size: u64,
    source: String,
    internal_date: Option<DateTime<Utc>>,
) -> Result<Outcome, PipelineError> {
    // Only the header block is kept, so its hash stands for the message.
    let raw_sha256 = sha256_hex(&header);
    if let Some(id) = store.find_raw(&raw_sha256).await? {
        return Ok(Outcome {
            saved: Saved::AlreadyStored { id },
            ack_due: false,
        });
    }
    store.objects.put(&raw_sha256, &header).await?;
    let parsed = intake::parse(&header, &settings.limits);
    let (routed_settings, routed_store) = routing::target(settings, store, &parsed).await?;
    let (settings, store) = (&*routed_settings, &routed_store);
    let known = known(store, &parsed).await?;
    let (mut message, _) = decide(
        settings,
        parsed,
        &known,
        Meta {
            body_sha256: sha256_hex(format!("{raw_sha256}:{size}").as_bytes()),
            raw_sha256,
            size: usize::try_from(size).unwrap_or(usize::MAX),
            source,
            internal_date,
        },
    );
    message.files.clear();
    // Its files were there, only too large to fetch: a submission, not a note.
    if message.disposition == Disposition::Note {
        message.disposition = Disposition::Processed;
    }
    let mb = |b: u64| b as f64 / (1024.0 * 1024.0);
    message.problems.push(Problem::error(
        "file.too_large",
        format!(
            "邮件大小约 {:.1} MB，超过接收上限 {:.1} MB，未能接收附件，请压缩后重新发送，或使用超大附件（网盘链接）发送",
            mb(size),
            mb(settings.mailbox.max_message_size)
        ),
    ));
    save(settings, store, &message).await
}

/// What the store knows about a message's sender and thread, looked up before [`decide`].
#[derive(Debug, Clone, Default)]
pub struct Known {
    /// Addresses learned for a unit: sender → unit id.
    pub learned: HashMap<String, String>,
    /// The message answers an email reportbox sent (contract §8 (c)).
    pub replies_to_us: bool,
    /// The coordinator assigned the message to this unit (`assign` of a set-aside message).
    pub assigned: Option<String>,
}

pub(crate) async fn known(store: &Store, parsed: &Parsed) -> Result<Known, StoreError> {
    let mut known = Known::default();
    if let Some(s) = sender_of(parsed) {
        if let Some(unit) = store.learned_unit(&s).await? {
            known.learned.insert(s, unit);
        }
    }
    known.replies_to_us = store.answers_our_email(&parsed.references).await?;
    Ok(known)
}

/// Facts about the raw message that `decide` cannot see in the parsed one.
#[derive(Debug, Clone)]
pub struct Meta {
    pub raw_sha256: String,
    pub body_sha256: String,
    pub size: usize,
    pub source: String,
    pub internal_date: Option<DateTime<Utc>>,
}

/// The bytes after the header block, for messages without a Message-ID (contract §8).
pub(crate) fn body_of(raw: &[u8]) -> &[u8] {
    let find = |pat: &[u8]| {
        raw.windows(pat.len())
            .position(|w| w == pat)
            .map(|i| i + pat.len())
    };
    match find(b"\r\n\r\n").or_else(|| find(b"\n\n")) {
        Some(i) => &raw[i..],
        None => raw,
    }
}

fn sender_of(parsed: &Parsed) -> Option<String> {
    parsed
        .from
        .as_ref()
        .or(parsed.sender.as_ref())
        .map(|m| m.address.clone())
        .filter(|a| !a.is_empty())
}
