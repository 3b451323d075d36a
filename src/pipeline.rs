//! One message from raw bytes to a recorded verdict: intake → set-aside rules (contract §8) →
//! table reading → identify → classify → validate → store. `import` and the mailbox daemon both
//! call [`process`], so a message gives the same result whichever way it arrived.

use crate::classify::{self, FileFacts, TableFacts};
use crate::config::Settings;
use crate::identify::{Evidence, Matcher, Rule};
use crate::intake::{self, FileRole, Parsed};
use crate::problem::{state_of, ItemState, Problem};
use crate::status::{CampaignView, ItemSpec};
use crate::store::{sha256_hex, NewFile, NewMessage, Saved, Store, StoreError};
use crate::validate;
use chrono::{DateTime, Utc};
use std::collections::HashMap;

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
    pub fn is_transient(&self) -> bool {
        match self {
            PipelineError::Store(e) => e.is_transient(),
        }
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
    // The original is on disk before anything refers to it.
    store.objects.put(&raw_sha256, &incoming.raw)?;
    let parsed = intake::parse(&incoming.raw, &settings.limits);
    let sender = sender_of(&parsed);
    let mut learned = HashMap::new();
    if let Some(s) = &sender {
        if let Some(unit) = store.learned_unit(s).await? {
            learned.insert(s.clone(), unit);
        }
    }
    let size = incoming.raw.len();
    let body_sha = sha256_hex(body_of(&incoming.raw));
    drop(incoming.raw);
    let (message, blobs) = decide(
        settings,
        parsed,
        &learned,
        Meta {
            raw_sha256,
            body_sha256: body_sha,
            size,
            source: incoming.source,
            internal_date: incoming.internal_date,
        },
    );
    for (sha, bytes) in &blobs {
        store.objects.put(sha, bytes)?;
    }
    drop(blobs);
    save(settings, store, &message).await
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
    let ack_due = matches!(
        &saved,
        Saved::Recorded { disposition, rate_limited: false, .. } if disposition == "processed"
    );
    Ok(Outcome { saved, ack_due })
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
    store.objects.put(&raw_sha256, &header)?;
    let parsed = intake::parse(&header, &settings.limits);
    let mut learned = HashMap::new();
    if let Some(s) = sender_of(&parsed) {
        if let Some(unit) = store.learned_unit(&s).await? {
            learned.insert(s, unit);
        }
    }
    let (mut message, _) = decide(
        settings,
        parsed,
        &learned,
        Meta {
            body_sha256: sha256_hex(format!("{raw_sha256}:{size}").as_bytes()),
            raw_sha256,
            size: usize::try_from(size).unwrap_or(usize::MAX),
            source,
            internal_date,
        },
    );
    message.files.clear();
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
fn body_of(raw: &[u8]) -> &[u8] {
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

/// Contract §8: messages that are stored and counted but set aside, and why.
pub fn set_aside(settings: &Settings, parsed: &Parsed) -> Option<&'static str> {
    let sender = sender_of(parsed);
    if sender
        .as_deref()
        .is_some_and(|s| settings.campaign.own_addresses.iter().any(|o| o == s))
    {
        return Some("own_address");
    }
    if parsed.is_delivery_report || sender.is_none() {
        return Some("bounce");
    }
    if parsed
        .auto_submitted
        .as_deref()
        .is_some_and(|v| !v.trim().eq_ignore_ascii_case("no"))
        || parsed.autoreply_header
        || parsed.precedence.as_deref().map(str::trim) == Some("auto_reply")
        || looks_like_vacation_reply(parsed)
    {
        return Some("auto_reply");
    }
    if parsed.is_list
        || parsed
            .precedence
            .as_deref()
            .is_some_and(|p| matches!(p.trim(), "bulk" | "junk" | "list"))
    {
        return Some("bulk");
    }
    None
}

/// A vacation reply without any machine-readable marker: the subject says it is one and it
/// carries nothing a unit could be submitting. A message with a file or a large-attachment link
/// is never set aside on its subject alone, so a unit that answers "自动回复" with its
/// materials still counts.
fn looks_like_vacation_reply(parsed: &Parsed) -> bool {
    const PREFIXES: [&str; 6] = [
        "自动回复",
        "自动答复",
        "auto reply",
        "auto-reply",
        "automatic reply",
        "out of office",
    ];
    let subject = parsed.subject.trim_start().to_lowercase();
    parsed.files.is_empty()
        && parsed.links.is_empty()
        && PREFIXES.iter().any(|p| subject.starts_with(p))
}

/// Decides everything about a parsed message: pure, so tests call it directly on bytes.
/// Returns the record to store and the file contents to keep (sha256, bytes).
pub fn decide(
    settings: &Settings,
    parsed: Parsed,
    learned: &HashMap<String, String>,
    meta: Meta,
) -> (NewMessage, Vec<(String, Vec<u8>)>) {
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
    let disposition = set_aside(settings, &parsed);
    let mut message = NewMessage {
        raw_sha256: meta.raw_sha256,
        dedupe_key,
        message_id: parsed.message_id.clone(),
        from_addr: parsed.from.as_ref().map(|m| m.address.clone()),
        from_name: parsed.from.as_ref().and_then(|m| m.name.clone()),
        sender_addr: parsed.sender.as_ref().map(|m| m.address.clone()),
        reply_to: parsed.reply_to.as_ref().map(|m| m.address.clone()),
        subject: parsed.subject.clone(),
        date_header,
        received_at,
        size_bytes: meta.size as i64,
        source: meta.source,
        disposition: disposition.unwrap_or("processed").to_string(),
        unit_id: None,
        match_rule: None,
        problems: Vec::new(),
        body_excerpt: parsed.body_text.chars().take(2000).collect(),
        learn_address: None,
        files: Vec::new(),
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
                validate::read_table(settings, &f.name, f.kind, &f.bytes)
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

    let table_item = settings
        .campaign
        .items
        .iter()
        .find(|i| i.validator == crate::config::ValidatorKind::Table)
        .map(|i| i.key.clone());
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
                    settings,
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
    unit_problems.extend(identification.problems);
    message.unit_id = identification.unit_id.clone();
    message.match_rule = identification.rule.map(|r| r.as_str().to_string());
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
