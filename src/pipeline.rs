//! One message from raw bytes to a recorded verdict: intake → set-aside rules (contract §8) →
//! table reading → identify → classify → validate → store. `import` and the mailbox daemon both
//! call [`process`], so a message gives the same result whichever way it arrived.

use crate::campaign::Disposition;
use crate::classify::{self, FileFacts, TableFacts};
use crate::config::Settings;
use crate::identify::{Evidence, Matcher, Rule};
use crate::intake::{self, FileRole, Parsed};
use crate::problem::{state_of, ItemState, Problem};
use crate::status::{CampaignView, ItemSpec};
use crate::store::{
    sha256_hex, CampaignId, NewFile, NewMessage, Recording, Saved, Store, StoreError,
};
use crate::validate;
use chrono::{DateTime, Utc};
use std::collections::HashMap;

pub mod batch;
pub mod routing;

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

/// Parsing, validation and file writes off the async workers, so that a slow message does not
/// stall the IMAP session's keep-alives or the sender: on a multi-threaded runtime (the daemon)
/// the worker becomes a blocking thread for the duration. On a single-threaded runtime (tests,
/// one-shot commands) there is nothing else to keep going, and it runs inline.
/// `(sha256, bytes)` pairs as [`crate::store::ObjectStore::put_all`] takes them.
pub(crate) fn borrowed(blobs: &[(String, Vec<u8>)]) -> Vec<(&str, &[u8])> {
    blobs
        .iter()
        .map(|(s, b)| (s.as_str(), b.as_slice()))
        .collect()
}

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

/// Contract §8, the mail set aside whoever sends it: our own, delivery reports, auto-replies.
pub fn machine_mail(settings: &Settings, parsed: &Parsed) -> Option<Disposition> {
    let sender = sender_of(parsed);
    if sender
        .as_deref()
        .is_some_and(|s| settings.campaign.own_addresses.iter().any(|o| o == s))
    {
        return Some(Disposition::OwnAddress);
    }
    if parsed.is_delivery_report {
        return Some(Disposition::Bounce);
    }
    if parsed
        .auto_submitted
        .as_deref()
        .is_some_and(|v| !v.trim().eq_ignore_ascii_case("no"))
        || parsed.autoreply_header
        || parsed.precedence.as_deref().map(str::trim) == Some("auto_reply")
        || looks_like_vacation_reply(parsed)
    {
        return Some(Disposition::AutoReply);
    }
    None
}

/// Contract §8, mail set aside unless it comes from a unit or answers us: spam, list and bulk
/// mail, senders that take no replies.
pub fn junk_mail(parsed: &Parsed) -> Option<Disposition> {
    if parsed.spam_flag || spam_subject(&parsed.subject) {
        return Some(Disposition::Spam);
    }
    let no_reply = |m: &Option<intake::Mailbox>| {
        m.as_ref()
            .is_some_and(|m| takes_no_replies(m.address.split('@').next().unwrap_or("")))
    };
    if parsed.is_list
        || parsed
            .precedence
            .as_deref()
            .is_some_and(|p| matches!(p.trim(), "bulk" | "junk" | "list"))
        || no_reply(&parsed.from)
        || (parsed.from.is_none() && no_reply(&parsed.sender))
    {
        return Some(Disposition::Bulk);
    }
    None
}

/// `noreply`, `no-reply`, `no_reply`, `donotreply`, `do-not-reply`, `do_not_reply`, with any
/// suffix (`noreply-aws`, `no_reply123`) — and, wider than the contract's list, anywhere in the
/// local part (`account-security-noreply@`, `notifications-noreply@`), as large senders write it.
fn takes_no_replies(local: &str) -> bool {
    let l = local.to_lowercase();
    [
        "noreply",
        "no-reply",
        "no_reply",
        "donotreply",
        "do-not-reply",
        "do_not_reply",
    ]
    .iter()
    .any(|p| l.contains(p))
}

fn spam_subject(subject: &str) -> bool {
    let s = subject.trim_start().to_uppercase();
    s.starts_with("[SPAM]") || s.starts_with("***SPAM***") || s.starts_with("【垃圾邮件】")
}

/// Contract §8: a subject containing one of these (after any `Re:` or bracket, which changes
/// nothing for "contains") says it is an auto-reply.
const AUTO_REPLY_WORDS: [&str; 25] = [
    "自动回复",
    "自動回覆",
    "自动答复",
    "自動答覆",
    "自动应答",
    "自動回復",
    "休假",
    "auto reply",
    "auto-reply",
    "autoreply",
    "automatic reply",
    "out of office",
    "abwesenheit",
    "不在席",
    // Beyond the contract's list: what Exchange, Gmail and webmail write in other languages.
    "自動応答",
    "automatische antwort",
    "réponse automatique",
    "respuesta automática",
    "risposta automatica",
    "automatisch antwoord",
    "autosvar",
    "자동 회신",
    "자동응답",
    "vacation reply",
    "自動回信",
];

fn is_auto_reply_words(s: &str) -> bool {
    let s = s.to_lowercase();
    AUTO_REPLY_WORDS.iter().any(|w| s.contains(w))
}

/// A vacation reply without any machine-readable marker: the subject says it is one and it
/// carries nothing a unit could be submitting. Inline images (a logo, a signature) do not
/// count as something submitted; any other file or a large-attachment link does, so a unit
/// that answers "自动回复" with its materials still counts.
fn looks_like_vacation_reply(parsed: &Parsed) -> bool {
    let only_inline_images = parsed.files.iter().all(|f| {
        f.inline && f.kind.family() == intake::FileFamily::Image && f.role == FileRole::Attachment
    });
    only_inline_images && parsed.links.is_empty() && is_auto_reply_words(&parsed.subject)
}

/// Contract §8 (d): the words of the campaign in the subject, the first 2,000 characters of the
/// body, or a file name.
fn mentions_campaign(keywords: &[String], subject: &str, body: &str, names: &[&str]) -> bool {
    let body: String = body.chars().take(2000).collect();
    let texts = [subject.to_lowercase(), body.to_lowercase()];
    let hit = |t: &str| keywords.iter().any(|k| t.contains(k.as_str()));
    texts.iter().any(|t| hit(t)) || names.iter().any(|n| hit(&n.to_lowercase()))
}

/// Decides everything about a parsed message: pure, so tests call it directly on bytes.
/// Returns the record to store and the file contents to keep (sha256, bytes).
pub fn decide(
    settings: &Settings,
    parsed: Parsed,
    known: &Known,
    meta: Meta,
) -> (NewMessage, Vec<(String, Vec<u8>)>) {
    let learned = &known.learned;
    let sender = sender_of(&parsed);
    // A date written without a zone (or with China's `CST`) is the campaign's wall clock.
    let tz = &settings.campaign.tz;
    let date_header = parsed.date.map(|d| d.to_utc(tz));
    let received_at = meta
        .internal_date
        .or_else(|| parsed.received_at.map(|d| d.to_utc(tz)))
        .or(date_header)
        .unwrap_or_else(Utc::now);
    let dedupe_key = parsed
        .message_id
        .clone()
        .filter(|m| !m.trim().is_empty())
        .unwrap_or_else(|| format!("sha256:{}", meta.body_sha256));
    let disposition = machine_mail(settings, &parsed);
    let junk = junk_mail(&parsed);
    let mut message = NewMessage {
        raw_sha256: meta.raw_sha256,
        dedupe_key,
        message_id: parsed.message_id.clone(),
        thread: parsed.thread.clone(),
        from_addr: parsed.from.as_ref().map(|m| m.address.clone()),
        from_name: parsed.from.as_ref().and_then(|m| m.name.clone()),
        sender_addr: parsed.sender.as_ref().map(|m| m.address.clone()),
        reply_to: parsed.reply_to.as_ref().map(|m| m.address.clone()),
        subject: parsed.subject.clone(),
        date_header,
        received_at,
        size_bytes: meta.size as i64,
        source: meta.source,
        disposition: disposition.unwrap_or(Disposition::Processed),
        unit_id: None,
        match_rule: None,
        problems: Vec::new(),
        body_excerpt: parsed.body_text.chars().take(2000).collect(),
        learn_address: None,
        files: Vec::new(),
        note: None,
    };
    if disposition.is_some() {
        // An auto-reply or bounce often quotes the original with its attachments: those must
        // not count, so only the raw message is kept.
        return (message, Vec::new());
    }

    let Parsed {
        files,
        links,
        problems: message_problems,
        subject,
        ..
    } = parsed;

    // Tables are read once, first: identification needs their 填报单位.
    let readings: Vec<Option<validate::table::TableReading>> = files
        .iter()
        .map(|f| {
            if f.role == FileRole::Archive || !f.problems.is_empty() {
                None
            } else {
                validate::read_table(&settings.validate_rules(), &f.name, f.kind, &f.bytes)
            }
        })
        .collect();

    let facts: Vec<FileFacts<'_>> = files
        .iter()
        .zip(&readings)
        .map(|(f, r)| FileFacts {
            name: &f.name,
            kind: f.kind,
            role: f.role,
            size: f.size,
            blocked: !f.problems.is_empty(),
            table: r.as_ref().map(|r| TableFacts {
                readable: r.readable,
                is_template: r.is_template,
                unit_named: r.unit_text.is_some(),
                errors: r
                    .problems
                    .iter()
                    .filter(|p| p.severity == crate::problem::Severity::Error)
                    .count(),
            }),
        })
        .collect();
    let placements = classify::classify(&settings.campaign, &facts);

    let table_item = settings.campaign.table_item().map(|i| i.key.clone());
    let matcher = Matcher::new(&settings.roster, &settings.campaign.strip_prefixes);
    let table_units: Vec<&str> = placements
        .iter()
        .zip(&readings)
        .filter(|(p, _)| Some(&p.item) == table_item.as_ref())
        .filter_map(|(_, r)| r.as_ref())
        .filter(|r| r.is_template)
        .filter_map(|r| r.unit_text.as_deref())
        .collect();
    let file_names: Vec<&str> = files.iter().map(|f| f.name.as_str()).collect();
    // Whoever forwards a unit's mail (a colleague of the coordinator, a superior) is not that
    // unit: learning their address would attribute the next unit they forward to the first.
    let forwarded = is_forward(&subject)
        || files.iter().any(|f| {
            f.origin
                .iter()
                .any(|o| o.starts_with(intake::ATTACHED_MESSAGE_PREFIX))
        });
    let identification = matcher.identify(
        &Evidence {
            sender: sender.as_deref(),
            table_units: table_units.clone(),
            subject: &subject,
            file_names,
        },
        learned,
    );
    // Contract §8 (a)–(c): mail from a unit, or answering us, is never junk or unrelated.
    let related = sender
        .as_deref()
        .is_some_and(|s| matcher.by_address(s).is_some() || learned.contains_key(s))
        || identification.unit_id.is_some()
        || known.replies_to_us
        || known.assigned.is_some();
    if !related {
        let set_aside = junk.or_else(|| {
            let unrelated = sender.is_some()
                && !mentions_campaign(
                    &settings.campaign.keywords,
                    &subject,
                    &message.body_excerpt,
                    &files.iter().map(|f| f.name.as_str()).collect::<Vec<_>>(),
                )
                && !readings.iter().flatten().any(|r| r.is_template)
                && !files.iter().any(|f| {
                    f.problems.is_empty()
                        && validate::document_mentions(
                            &settings.validate_rules(),
                            &f.name,
                            f.kind,
                            &f.bytes,
                            &settings.campaign.keywords,
                        )
                });
            unrelated.then_some(Disposition::Unrelated)
        });
        if let Some(reason) = set_aside {
            message.disposition = reason;
            return (message, Vec::new());
        }
    }
    // Inline images (a logo, a signature) are not files a unit sent (contract §8).
    let carries_file = !links.is_empty()
        || files.iter().any(|f| {
            !(f.inline
                && f.kind.family() == intake::FileFamily::Image
                && f.role == FileRole::Attachment)
        });
    let mut flagged = Vec::new();
    match junk {
        Some(Disposition::Spam) => flagged.push(Problem::warning(
            "message.spam",
            "本邮件被邮件系统标记为垃圾邮件，因发自报送单位，已照常处理",
        )),
        Some(_) => flagged.push(Problem::warning(
            "message.bulk",
            "本邮件带有群发或“请勿回复”标记，因发自报送单位，已照常处理",
        )),
        None => {}
    }
    if sender.is_none() {
        flagged.push(Problem::error(
            "message.unreadable",
            "无法读取本邮件的发件人，请协调人查看原邮件并指定报送单位",
        ));
    }
    // 填报单位 naming no roster unit is worth telling the unit (contract §4: a warning).
    let unknown_table_unit: Option<Problem> = table_units
        .iter()
        .find(|t| matcher.in_text(t).is_none())
        .map(|t| {
            Problem::warning(
                "table.unit_unknown",
                format!("统计表填报单位“{t}”不在本次报送单位名单中，请填写单位全称"),
            )
        });

    let mut blobs = Vec::new();
    let mut new_files = Vec::new();
    let mut taken: Vec<String> = Vec::new();
    for ((file, placement), reading) in files.into_iter().zip(placements).zip(readings) {
        let mut problems = file.problems.clone();
        problems.extend(placement.problems);
        let mut data = None;
        if placement.validate {
            if let Some(item) = settings.campaign.item(&placement.item) {
                let checked = validate::check(
                    &settings.validate_rules(),
                    item.validator,
                    &file.name,
                    file.kind,
                    &file.bytes,
                    reading.as_ref(),
                );
                problems.extend(checked.problems);
                data = checked.data;
                if Some(&placement.item) == table_item.as_ref() {
                    if let Some(p) = &unknown_table_unit {
                        problems.push(p.clone());
                    }
                }
            }
        }
        if settings.campaign.item(&placement.item).is_some() {
            taken.push(placement.item.clone());
        }
        let sha = (!file.bytes.is_empty()).then(|| sha256_hex(&file.bytes));
        new_files.push(NewFile {
            name: file.name,
            origin: file.origin,
            role: role_name(file.role).to_string(),
            sha256: sha.clone(),
            size_bytes: file.size as i64,
            kind: file.kind.as_str().to_string(),
            declared_type: file.declared_type,
            link_url: None,
            item: placement.item,
            state: state_of(&problems),
            problems,
            data,
        });
        if let Some(sha) = sha {
            blobs.push((sha, file.bytes));
        }
    }
    for link in links {
        let placement = classify::place_link(&settings.campaign, &link, &taken);
        if settings.campaign.item(&placement.item).is_some() {
            taken.push(placement.item.clone());
        }
        new_files.push(NewFile {
            name: link
                .file_name
                .clone()
                .unwrap_or_else(|| "超大附件链接".to_string()),
            origin: Vec::new(),
            role: "link".to_string(),
            sha256: None,
            size_bytes: 0,
            kind: "link".to_string(),
            declared_type: None,
            link_url: Some(link.url.clone()),
            item: placement.item,
            state: if placement.problems.is_empty() {
                ItemState::NeedsReview
            } else {
                state_of(&placement.problems)
            },
            problems: placement.problems,
            data: Some(serde_json::json!({
                "provider": link.provider, "size": link.size_text, "expires": link.expires
            })),
        });
    }

    let mut unit_problems = message_problems;
    unit_problems.extend(flagged);
    unit_problems.extend(identification.problems);
    message.unit_id = identification.unit_id.clone();
    message.match_rule = identification.rule.map(|r| r.as_str().to_string());
    if let Some(unit) = &known.assigned {
        message.unit_id = Some(unit.clone());
        message.match_rule = Some("assigned".to_string());
    }
    message.problems = unit_problems;
    message.files = new_files;
    if matches!(
        identification.rule,
        Some(Rule::Table | Rule::Subject | Rule::FileName)
    ) && !forwarded
        && !learned.contains_key(sender.as_deref().unwrap_or_default())
        && sender
            .as_deref()
            .is_some_and(|s| matcher.by_address(s).is_none())
    {
        message.learn_address = sender;
    }
    // Issue 9 item 2: what a unit (or someone answering us) writes without a file, or asks,
    // is a note for the staff; without a file it counts for nothing.
    if message.unit_id.is_some() || known.replies_to_us {
        message.note = crate::notes::note_of(&subject, &message.body_excerpt, carries_file);
        if message.note.is_some() && !carries_file {
            message.disposition = Disposition::Note;
        }
    }
    (message, blobs)
}

/// `转发：…`, `Fw: …`, `FWD: …`, as Coremail, QQ, Foxmail and Outlook write a forward.
fn is_forward(subject: &str) -> bool {
    let s = subject.trim_start().to_lowercase();
    ["转发", "fw:", "fw：", "fwd:", "fwd："]
        .iter()
        .any(|p| s.starts_with(p))
}

fn role_name(role: FileRole) -> &'static str {
    match role {
        FileRole::Attachment => "attachment",
        FileRole::Archive => "archive",
        FileRole::Member => "member",
    }
}
