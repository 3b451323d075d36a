//! Intake: one raw message in, everything later stages need out — the sender, the dates that
//! decide "late", the signals that say "never answer this", every file the unit sent (archives
//! unpacked, attached messages opened), and large-attachment links.
//!
//! `parse` is pure and total: no I/O, and hostile input gives a `Parsed` with problems, never a
//! panic or a hang. Names and header text are decoded from the raw header bytes (see `names`),
//! because mail-parser turns raw GBK into replacement characters.

mod archive;
mod date;
mod links;
mod names;
mod sniff;
mod tnef;
mod walk;

pub use date::MailDate;
pub use links::{provider_of, LargeLink};
pub use sniff::{damaged_office, kind_from_name, sniff, FileFamily, FileKind};
pub(crate) use sniff::{zip_directory, ZipEntry};

use crate::problem::Problem;
use mail_parser::MessageParser;
use names::{field, split_fields, RawField, Structured};
use serde::{Deserialize, Serialize};
use walk::{expand_archives, Walker};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct IntakeLimits {
    /// A larger header block is still read; the message gets `message.header_too_large`.
    pub max_header_bytes: usize,
    pub max_parts: usize,
    /// Levels of multipart / message/rfc822 nesting.
    pub max_depth: usize,
    /// A larger attachment keeps its name and size; its bytes are dropped (`file.too_large`).
    pub max_file_bytes: u64,
    pub archive_max_expanded: u64,
    pub archive_max_entries: usize,
    /// Expanded : compressed, whole archive.
    pub archive_max_ratio: u64,
    /// 1: an archive inside an archive is unpacked; one deeper stays a file.
    pub archive_max_nesting: usize,
}

impl Default for IntakeLimits {
    fn default() -> Self {
        IntakeLimits {
            max_header_bytes: 256 << 10,
            max_parts: 500,
            max_depth: 20,
            max_file_bytes: 200 << 20,
            archive_max_expanded: 1 << 30,
            archive_max_entries: 1000,
            archive_max_ratio: 200,
            archive_max_nesting: 1,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mailbox {
    pub name: Option<String>,
    /// Lowercased, trimmed.
    pub address: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FileRole {
    Attachment,
    /// An archive that was unpacked, or that unpacking was tried on.
    Archive,
    /// Came out of an archive.
    Member,
}

#[derive(Clone, PartialEq, Eq)]
pub struct IncomingFile {
    /// Base name as the unit sent it, decoded and cleaned; never empty.
    pub name: String,
    /// Containers it came out of, outermost first: archive names, or "邮件附件：<subject>".
    pub origin: Vec<String>,
    pub role: FileRole,
    /// By content.
    pub kind: FileKind,
    /// The part's Content-Type, lowercased (for members: that of the archive's part).
    pub declared_type: Option<String>,
    pub size: u64,
    /// Empty when dropped for `file.too_large`.
    pub bytes: Vec<u8>,
    pub problems: Vec<Problem>,
}

// Derived Debug would print every byte of a 100 MB video into a test failure.
impl std::fmt::Debug for IncomingFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IncomingFile")
            .field("name", &self.name)
            .field("origin", &self.origin)
            .field("role", &self.role)
            .field("kind", &self.kind)
            .field("declared_type", &self.declared_type)
            .field("size", &self.size)
            .field("bytes", &format_args!("[{} bytes]", self.bytes.len()))
            .field("problems", &self.problems)
            .finish()
    }
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Parsed {
    /// As written, with angle brackets.
    pub message_id: Option<String>,
    pub from: Option<Mailbox>,
    pub sender: Option<Mailbox>,
    pub reply_to: Option<Mailbox>,
    pub subject: String,
    /// The Date: header; a date without a zone (or with China's `CST`) stays a wall-clock
    /// time for the pipeline to read in the campaign's time zone.
    pub date: Option<MailDate>,
    /// Date of the topmost Received: header with a readable date, likewise.
    pub received_at: Option<MailDate>,
    /// Lowercased.
    pub auto_submitted: Option<String>,
    pub is_list: bool,
    /// An `X-Autoreply` or `X-Autorespond` field, which some Chinese webmail vacation
    /// responders write instead of `Auto-Submitted`.
    pub autoreply_header: bool,
    /// Lowercased.
    pub precedence: Option<String>,
    pub is_delivery_report: bool,
    /// Text of the plain bodies (or of the html body when there is no plain one), ≤ 64 KiB.
    pub body_text: String,
    pub files: Vec<IncomingFile>,
    pub links: Vec<LargeLink>,
    /// Message-level problems (archives, limits).
    pub problems: Vec<Problem>,
}

/// What a unit reads about a file whose container does not open (contract §6): not "a zip" nor
/// "the wrong type", but damaged, most likely cut off in sending, to be saved again and resent.
pub const DAMAGED_FILE: &str = "文件已损坏，可能发送不完整，请重新保存后再发送";

/// How an attached message is named in a file's `origin`.
pub const ATTACHED_MESSAGE_PREFIX: &str = "邮件附件：";

const BODY_TEXT_MAX: usize = 64 << 10;
/// Bodies longer than this are not scanned for links: the links sit in the first screens.
const LINK_SCAN_MAX: usize = 1 << 20;
/// Mail-parser walks nested multiparts iteratively, but drops and copies nested messages
/// recursively; a large stack makes a deeply nested hostile message harmless.
const PARSE_STACK: usize = 256 << 20;

/// Parses one raw message. Total: whatever the bytes, a `Parsed` comes back.
pub fn parse(raw: &[u8], limits: &IntakeLimits) -> Parsed {
    let run =
        || std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| parse_inner(raw, limits)));
    let result = std::thread::scope(|s| {
        match std::thread::Builder::new()
            .name("intake-parse".into())
            .stack_size(PARSE_STACK)
            .spawn_scoped(s, run)
        {
            Ok(handle) => handle.join().unwrap_or_else(|_| Err(Box::new(()))),
            Err(_) => run(),
        }
    });
    result.unwrap_or_else(|_| Parsed {
        problems: vec![Problem::error(
            "message.unreadable",
            "邮件格式异常，无法读取。请重新发送。",
        )],
        ..Parsed::default()
    })
}

/// A UTF-8 BOM or blank lines before the first header field: what some Windows tools write
/// into a saved .eml. Mail never arrives like that over SMTP or IMAP, but read as is, the first
/// header (often `From:`) would be lost, or the whole message taken for a body.
fn file_preamble_len(raw: &[u8]) -> usize {
    let after_bom = if raw.starts_with(b"\xEF\xBB\xBF") {
        3
    } else {
        0
    };
    after_bom
        + raw[after_bom..]
            .iter()
            .take_while(|b| matches!(b, b'\r' | b'\n'))
            .count()
}

/// Whether `raw` starts like a message (after a saved file's BOM or blank lines): its first
/// line is a header field, and the header block holds a field every message has. `import`
/// asks this so that a spreadsheet or a note handed to it by mistake is not recorded as mail.
pub fn looks_like_message(raw: &[u8]) -> bool {
    let raw = &raw[file_preamble_len(raw)..];
    let raw = &raw[..raw.len().min(256 * 1024)];
    let block = &raw[..header_block_len(raw)];
    let fields = split_fields(block);
    let first_line_is_a_field = fields
        .first()
        .is_some_and(|f| block.starts_with(f.name.as_bytes()));
    first_line_is_a_field
        && ["from", "date", "message-id", "received", "subject"]
            .iter()
            .any(|n| field(&fields, n).is_some())
}

fn parse_inner(raw: &[u8], limits: &IntakeLimits) -> Parsed {
    let raw = &raw[file_preamble_len(raw)..];
    let mut p = Parsed::default();
    let header_len = header_block_len(raw);
    if header_len > limits.max_header_bytes {
        p.problems.push(Problem::warning(
            "message.header_too_large",
            format!(
                "邮件头过大（{}，上限 {}），只读取了能识别的部分。",
                archive::fmt_size(header_len as u64),
                archive::fmt_size(limits.max_header_bytes as u64)
            ),
        ));
    }
    let fields = split_fields(&raw[..header_len]);
    read_top_headers(&fields, &mut p);

    let parser = MessageParser::default();
    let Some(mut msg) = parser.parse(raw) else {
        return p;
    };
    p.from = mailbox(msg.from());
    p.sender = mailbox(msg.sender());
    p.reply_to = mailbox(msg.reply_to());
    let is_report = top_content_type(&fields).is_some_and(|c| c.value == "multipart/report");
    let robot = |m: &Option<Mailbox>| {
        m.as_ref().is_some_and(|m| {
            let local = m.address.split('@').next().unwrap_or("");
            local == "mailer-daemon" || local == "postmaster"
        })
    };
    let null_return = field(&fields, "return-path").is_some_and(|f| {
        let v: Vec<u8> = f
            .value
            .iter()
            .copied()
            .filter(|b| !b.is_ascii_whitespace())
            .collect();
        v == b"<>"
    });
    p.is_delivery_report = is_report || robot(&p.from) || robot(&p.sender) || null_return;

    let mut w = Walker {
        limits,
        parser: &parser,
        files: Vec::new(),
        bodies: Vec::new(),
        body: String::new(),
        problems: Vec::new(),
        parts_seen: 0,
        unnamed: 0,
        too_many_parts: false,
        too_deep: false,
    };
    w.walk(&mut msg, raw, &[], 0, true);
    drop(msg);

    for (is_html, text) in &w.bodies {
        let text = &text[..floor_char(text, LINK_SCAN_MAX)];
        if *is_html {
            links::find_in_html(text, &mut p.links);
        } else {
            links::find_in_text(text, &mut p.links);
        }
    }
    p.body_text = std::mem::take(&mut w.body);
    p.body_text
        .truncate(floor_char(&p.body_text, BODY_TEXT_MAX));
    if w.too_many_parts {
        p.problems.push(Problem::warning(
            "message.too_many_parts",
            format!(
                "邮件包含的部分过多（超过 {} 个），其余部分未处理。",
                limits.max_parts
            ),
        ));
    }
    if w.too_deep {
        p.problems.push(Problem::warning(
            "message.too_deep",
            format!(
                "邮件嵌套层数过多（超过 {} 层），更深的部分未处理。",
                limits.max_depth
            ),
        ));
    }
    p.problems.append(&mut w.problems);
    let mut unnamed = w.unnamed;
    p.files = expand_archives(
        std::mem::take(&mut w.files),
        limits,
        &mut unnamed,
        &mut p.problems,
    );
    p
}

/// Length of the header block, through the blank line that ends it (or all of `raw`).
fn header_block_len(raw: &[u8]) -> usize {
    let mut i = 0;
    while i < raw.len() {
        match raw[i..].iter().position(|&b| b == b'\n') {
            Some(nl) => {
                let line = &raw[i..i + nl];
                if line.is_empty() || line == b"\r" {
                    return i + nl + 1;
                }
                i += nl + 1;
            }
            None => return raw.len(),
        }
    }
    raw.len()
}

fn read_top_headers(fields: &[RawField], p: &mut Parsed) {
    let text =
        |name: &str| field(fields, name).map(|f| names::decode_guess(&f.value).trim().to_string());
    p.message_id = text("message-id").filter(|s| !s.is_empty());
    p.subject = field(fields, "subject")
        .map(|f| names::decode_header(&f.value).trim().to_string())
        .unwrap_or_default();
    p.auto_submitted = text("auto-submitted")
        .map(|s| s.to_lowercase())
        .filter(|s| !s.is_empty());
    p.precedence = text("precedence")
        .map(|s| s.to_lowercase())
        .filter(|s| !s.is_empty());
    p.date = field(fields, "date").and_then(|f| date::parse(&f.value));
    p.is_list = field(fields, "list-id").is_some() || field(fields, "list-unsubscribe").is_some();
    p.autoreply_header = ["x-autoreply", "x-autorespond", "x-autoreply-from"]
        .iter()
        .any(|n| field(fields, n).is_some_and(|f| !is_negative(&f.value)));
    // The topmost Received: was added last, by our own mail server: closest to arrival. One
    // without a readable date (some relays write none) gives way to the next one down, which
    // is still closer to arrival than the sender's own Date:.
    p.received_at = fields
        .iter()
        .filter(|f| f.name.eq_ignore_ascii_case("received"))
        .find_map(|f| {
            let at = f.value.iter().rposition(|&b| b == b';')?;
            date::parse(&f.value[at + 1..])
        });
}

/// `no`, `false`, `0`: written by clients that always emit the field.
fn is_negative(value: &[u8]) -> bool {
    let v = String::from_utf8_lossy(names::trim_bytes(value)).to_ascii_lowercase();
    matches!(v.as_str(), "no" | "false" | "0")
}

fn top_content_type(fields: &[RawField]) -> Option<Structured> {
    field(fields, "content-type").map(|f| names::parse_structured(&f.value))
}

fn mailbox(a: Option<&mail_parser::Address<'_>>) -> Option<Mailbox> {
    let addr = a?.first()?;
    let address = addr.address.as_deref()?.trim().to_lowercase();
    if address.is_empty() {
        return None;
    }
    let name = addr
        .name
        .as_deref()
        .map(|n| n.trim().trim_matches('"').trim().to_string())
        .filter(|n| !n.is_empty());
    Some(Mailbox { name, address })
}

fn floor_char(s: &str, mut i: usize) -> usize {
    if i >= s.len() {
        return s.len();
    }
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

#[cfg(test)]
mod tests;
