//! [`decide`]: everything about one parsed message, without the database, so that tests call it
//! directly on bytes (tests/decide_golden.rs). The top function lists the steps in the order a
//! message meets them; each step below it is one rule of the contract.

use super::{sender_of, Known, Meta};
use crate::campaign::Disposition;
use crate::classify::{self, FileFacts, Placement, TableFacts};
use crate::config::Settings;
use crate::identify::{Evidence, Identification, Matcher, Rule};
use crate::intake::{self, FileRole, IncomingFile, LargeLink, Parsed};
use crate::problem::{state_of, ItemState, Problem};
use crate::store::{sha256_hex, NewFile, NewMessage};
use crate::validate::{self, table::TableReading};
use chrono::{DateTime, Utc};

/// A file's content to keep: (sha256, bytes).
type Blob = (String, Vec<u8>);

/// Decides everything about a parsed message: pure, so tests call it directly on bytes.
/// Returns the record to store and the file contents to keep (sha256, bytes).
pub fn decide(
    settings: &Settings,
    parsed: Parsed,
    known: &Known,
    meta: Meta,
) -> (NewMessage, Vec<(String, Vec<u8>)>) {
    let sender = sender_of(&parsed);
    let disposition = machine_mail(settings, &parsed);
    let junk = junk_mail(&parsed);
    let mut message = header(settings, &parsed, meta, disposition);
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
    let readings = read_tables(settings, &files);
    let placements = classify::classify(&settings.campaign, &facts(&files, &readings));
    let who = Who::identify(
        settings,
        known,
        sender,
        &subject,
        &files,
        &placements,
        &readings,
    );
    let body = &message.body_excerpt;
    if let Some(reason) = who.set_aside(settings, junk, &subject, body, &files, &readings) {
        message.disposition = reason;
        return (message, Vec::new());
    }
    let carries_file = carries_file(&files, &links);
    let flagged = flags(junk, who.sender.is_none());
    let (mut new_files, blobs, taken) = check_files(settings, &who, files, placements, readings);
    new_files.extend(place_links(settings, links, taken));
    message.files = new_files;
    let mut unit_problems = message_problems;
    unit_problems.extend(flagged);
    who.attribute(&mut message, unit_problems);
    take_note(&mut message, known, &subject, carries_file);
    (message, blobs)
}

/// The record as the headers give it, before any file is looked at: what a set-aside message
/// keeps. `disposition` is the machine-mail reason, if any; otherwise it is `processed` for now.
fn header(
    settings: &Settings,
    parsed: &Parsed,
    meta: Meta,
    disposition: Option<Disposition>,
) -> NewMessage {
    // A date written without a zone (or with China's `CST`) is the campaign's wall clock.
    let tz = &settings.campaign.tz;
    let date_header = parsed.date.map(|d| d.to_utc(tz));
    let received_at = received_at(parsed, meta.internal_date, date_header, tz);
    NewMessage {
        raw_sha256: meta.raw_sha256,
        dedupe_key: dedupe_key(parsed, &meta.body_sha256),
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
    }
}

/// When the message arrived: the mailbox's INTERNALDATE, else the last `Received:` hop, else
/// its `Date:`, else now.
fn received_at(
    parsed: &Parsed,
    internal_date: Option<DateTime<Utc>>,
    date_header: Option<DateTime<Utc>>,
    tz: &chrono_tz::Tz,
) -> DateTime<Utc> {
    internal_date
        .or_else(|| parsed.received_at.map(|d| d.to_utc(tz)))
        .or(date_header)
        .unwrap_or_else(Utc::now)
}

/// Contract §8: the Message-ID recognises a second delivery; without one, the body's hash does.
fn dedupe_key(parsed: &Parsed, body_sha256: &str) -> String {
    parsed
        .message_id
        .clone()
        .filter(|m| !m.trim().is_empty())
        .unwrap_or_else(|| format!("sha256:{body_sha256}"))
}

/// Tables are read once, first: identification needs their 填报单位. An archive, or a file
/// intake already blocked, is not read.
fn read_tables(settings: &Settings, files: &[IncomingFile]) -> Vec<Option<TableReading>> {
    files
        .iter()
        .map(|f| {
            if f.role == FileRole::Archive || !f.problems.is_empty() {
                None
            } else {
                validate::read_table(&settings.validate_rules(), &f.name, f.kind, &f.bytes)
            }
        })
        .collect()
}

/// What classification needs to know of each file: its name and type, and how its table read.
fn facts<'a>(files: &'a [IncomingFile], readings: &[Option<TableReading>]) -> Vec<FileFacts<'a>> {
    files
        .iter()
        .zip(readings)
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
        .collect()
}

/// Who sent the message, as the roster, the learned addresses and the tables tell it.
struct Who<'a> {
    sender: Option<String>,
    known: &'a Known,
    matcher: Matcher<'a>,
    /// The campaign's statistics-table item, whose files name their 填报单位.
    table_item: Option<String>,
    /// Whoever forwards a unit's mail (a colleague of the coordinator, a superior) is not that
    /// unit: learning their address would attribute the next unit they forward to the first.
    forwarded: bool,
    identification: Identification,
    /// 填报单位 naming no roster unit is worth telling the unit (contract §4: a warning).
    unknown_table_unit: Option<Problem>,
}

impl<'a> Who<'a> {
    /// Identifies the unit from the sender, the tables' 填报单位, the subject and file names.
    fn identify(
        settings: &'a Settings,
        known: &'a Known,
        sender: Option<String>,
        subject: &str,
        files: &[IncomingFile],
        placements: &[Placement],
        readings: &[Option<TableReading>],
    ) -> Who<'a> {
        let table_item = settings.campaign.table_item().map(|i| i.key.clone());
        let matcher = Matcher::new(&settings.roster, &settings.campaign.strip_prefixes);
        let table_units: Vec<&str> = placements
            .iter()
            .zip(readings)
            .filter(|(p, _)| Some(&p.item) == table_item.as_ref())
            .filter_map(|(_, r)| r.as_ref())
            .filter(|r| r.is_template)
            .filter_map(|r| r.unit_text.as_deref())
            .collect();
        let file_names: Vec<&str> = files.iter().map(|f| f.name.as_str()).collect();
        let forwarded = is_forward(subject)
            || files.iter().any(|f| {
                f.origin
                    .iter()
                    .any(|o| o.starts_with(intake::ATTACHED_MESSAGE_PREFIX))
            });
        let identification = matcher.identify(
            &Evidence {
                sender: sender.as_deref(),
                table_units: table_units.clone(),
                subject,
                file_names,
            },
            &known.learned,
        );
        let unknown_table_unit = unknown_table_unit(&matcher, &table_units);
        Who {
            sender,
            known,
            matcher,
            table_item,
            forwarded,
            identification,
            unknown_table_unit,
        }
    }

    /// Contract §8 (a)–(c): mail from a unit, or answering us, is never junk or unrelated.
    fn related(&self) -> bool {
        let learned = &self.known.learned;
        self.sender
            .as_deref()
            .is_some_and(|s| self.matcher.by_address(s).is_some() || learned.contains_key(s))
            || self.identification.unit_id.is_some()
            || self.known.replies_to_us
            || self.known.assigned.is_some()
    }

    /// Contract §8: why mail from no unit is set aside (`spam`, `bulk`, `unrelated`), if it is.
    fn set_aside(
        &self,
        settings: &Settings,
        junk: Option<Disposition>,
        subject: &str,
        body: &str,
        files: &[IncomingFile],
        readings: &[Option<TableReading>],
    ) -> Option<Disposition> {
        if self.related() {
            return None;
        }
        junk.or_else(|| {
            let unrelated =
                self.sender.is_some() && off_topic(settings, subject, body, files, readings);
            unrelated.then_some(Disposition::Unrelated)
        })
    }

    /// The unit the message counts for and how it was found, its problems, and the address it
    /// teaches. The coordinator's `assign` overrides what was identified.
    fn attribute(self, message: &mut NewMessage, mut unit_problems: Vec<Problem>) {
        let learns = self.learns_address();
        unit_problems.extend(self.identification.problems);
        message.unit_id = self.identification.unit_id.clone();
        message.match_rule = self.identification.rule.map(|r| r.as_str().to_string());
        if let Some(unit) = &self.known.assigned {
            message.unit_id = Some(unit.clone());
            message.match_rule = Some("assigned".to_string());
        }
        message.problems = unit_problems;
        if learns {
            message.learn_address = self.sender;
        }
    }

    /// A sender is learned for the unit its table, subject or file names named, unless it
    /// forwarded the mail, is learned already, or is a roster address.
    fn learns_address(&self) -> bool {
        let sender = self.sender.as_deref();
        matches!(
            self.identification.rule,
            Some(Rule::Table | Rule::Subject | Rule::FileName)
        ) && !self.forwarded
            && !self.known.learned.contains_key(sender.unwrap_or_default())
            && sender.is_some_and(|s| self.matcher.by_address(s).is_none())
    }
}

/// The first 填报单位 of the tables that names no roster unit, as its warning.
fn unknown_table_unit(matcher: &Matcher<'_>, table_units: &[&str]) -> Option<Problem> {
    table_units
        .iter()
        .find(|t| matcher.in_text(t).is_none())
        .map(|t| {
            Problem::warning(
                "table.unit_unknown",
                format!("统计表填报单位“{t}”不在本次报送单位名单中，请填写单位全称"),
            )
        })
}

/// Contract §8 (d): nothing in the message speaks of the campaign, neither its words nor a
/// filled-in template nor a document mentioning it.
fn off_topic(
    settings: &Settings,
    subject: &str,
    body: &str,
    files: &[IncomingFile],
    readings: &[Option<TableReading>],
) -> bool {
    !mentions_campaign(
        &settings.campaign.keywords,
        subject,
        body,
        &files.iter().map(|f| f.name.as_str()).collect::<Vec<_>>(),
    ) && !readings.iter().flatten().any(|r| r.is_template)
        && !files.iter().any(|f| {
            f.problems.is_empty()
                && validate::document_mentions(
                    &settings.validate_rules(),
                    &f.name,
                    f.kind,
                    &f.bytes,
                    &settings.campaign.keywords,
                )
        })
}

/// Inline images (a logo, a signature) are not files a unit sent (contract §8).
fn carries_file(files: &[IncomingFile], links: &[LargeLink]) -> bool {
    !links.is_empty()
        || files.iter().any(|f| {
            !(f.inline
                && f.kind.family() == intake::FileFamily::Image
                && f.role == FileRole::Attachment)
        })
}

/// What the unit is told about the message itself: junk marks it was counted despite, and a
/// sender nobody could read.
fn flags(junk: Option<Disposition>, no_sender: bool) -> Vec<Problem> {
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
    if no_sender {
        flagged.push(Problem::error(
            "message.unreadable",
            "无法读取本邮件的发件人，请协调人查看原邮件并指定报送单位",
        ));
    }
    flagged
}

/// Each file checked against the item it was placed in. Returns the files' records, the
/// contents to keep, and the items taken (large-attachment links are placed around them).
fn check_files(
    settings: &Settings,
    who: &Who<'_>,
    files: Vec<IncomingFile>,
    placements: Vec<Placement>,
    readings: Vec<Option<TableReading>>,
) -> (Vec<NewFile>, Vec<Blob>, Vec<String>) {
    let mut blobs = Vec::new();
    let mut new_files = Vec::new();
    let mut taken: Vec<String> = Vec::new();
    for ((file, placement), reading) in files.into_iter().zip(placements).zip(readings) {
        let (problems, data) = check_file(settings, who, &file, &placement, reading.as_ref());
        if settings.campaign.item(&placement.item).is_some() {
            taken.push(placement.item.clone());
        }
        let (record, blob) = file_record(file, placement.item, problems, data);
        new_files.push(record);
        blobs.extend(blob);
    }
    (new_files, blobs, taken)
}

/// One file's problems (intake's, classification's, its validator's) and the values its
/// validator read. A table naming an unknown 填报单位 carries that warning too.
fn check_file(
    settings: &Settings,
    who: &Who<'_>,
    file: &IncomingFile,
    placement: &Placement,
    reading: Option<&TableReading>,
) -> (Vec<Problem>, Option<serde_json::Value>) {
    let mut problems = file.problems.clone();
    problems.extend(placement.problems.iter().cloned());
    let mut data = None;
    if placement.validate {
        if let Some(item) = settings.campaign.item(&placement.item) {
            let checked = validate::check(
                &settings.validate_rules(),
                item.validator,
                &file.name,
                file.kind,
                &file.bytes,
                reading,
            );
            problems.extend(checked.problems);
            data = checked.data;
            if Some(&placement.item) == who.table_item.as_ref() {
                if let Some(p) = &who.unknown_table_unit {
                    problems.push(p.clone());
                }
            }
        }
    }
    (problems, data)
}

/// A checked file's record, and its content to keep (none for an empty file).
fn file_record(
    file: IncomingFile,
    item: String,
    problems: Vec<Problem>,
    data: Option<serde_json::Value>,
) -> (NewFile, Option<Blob>) {
    let sha = (!file.bytes.is_empty()).then(|| sha256_hex(&file.bytes));
    let record = NewFile {
        name: file.name,
        origin: file.origin,
        role: role_name(file.role).to_string(),
        sha256: sha.clone(),
        size_bytes: file.size as i64,
        kind: file.kind.as_str().to_string(),
        declared_type: file.declared_type,
        link_url: None,
        item,
        state: state_of(&problems),
        problems,
        data,
    };
    (record, sha.map(|sha| (sha, file.bytes)))
}

/// Large-attachment links, each placed in an item the files left free; their content cannot be
/// checked, so a link someone must look at is `needs_review`.
fn place_links(settings: &Settings, links: Vec<LargeLink>, mut taken: Vec<String>) -> Vec<NewFile> {
    let mut new_files = Vec::new();
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
    new_files
}

/// Issue 9 item 2: what a unit (or someone answering us) writes without a file, or asks,
/// is a note for the staff; without a file it counts for nothing.
fn take_note(message: &mut NewMessage, known: &Known, subject: &str, carries_file: bool) {
    if message.unit_id.is_some() || known.replies_to_us {
        message.note = crate::notes::note_of(subject, &message.body_excerpt, carries_file);
        if message.note.is_some() && !carries_file {
            message.disposition = Disposition::Note;
        }
    }
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
