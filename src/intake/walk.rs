//! The walk over one parsed message: which parts are files, which are bodies, which are
//! attached messages to open, and the unpacking of archives among the files.

use super::*;
use mail_parser::{Message, MessageParser, MimeHeaders, PartType};

pub(super) struct Walker<'a> {
    pub(super) limits: &'a IntakeLimits,
    pub(super) parser: &'a MessageParser,
    pub(super) files: Vec<IncomingFile>,
    /// Every body text (html or not), for link detection; nested messages included, since a
    /// forwarded 163 mail carries its link in the forwarded body.
    pub(super) bodies: Vec<(bool, String)>,
    /// The top-level message's own body.
    pub(super) body: String,
    pub(super) problems: Vec<Problem>,
    pub(super) parts_seen: usize,
    pub(super) unnamed: usize,
    pub(super) too_many_parts: bool,
    pub(super) too_deep: bool,
}

impl Walker<'_> {
    /// Visits the parts of one message. Multipart nesting is walked with an explicit stack;
    /// only attached messages recurse, and `max_depth` bounds that.
    pub(super) fn walk(
        &mut self,
        msg: &mut Message<'_>,
        parent_raw: &[u8],
        origin: &[String],
        depth: usize,
        top: bool,
    ) {
        let Message {
            parts,
            raw_message,
            text_body,
            ..
        } = msg;
        // A nested message parsed in place shares its parent's buffer (and may leave its own
        // empty); an encoded one has its own decoded buffer, and its offsets point into that.
        let raw: &[u8] = if raw_message.is_empty() {
            parent_raw
        } else {
            raw_message
        };
        let text_body: Vec<u32> = text_body.clone();
        let mut stack = vec![(0u32, depth)];
        while let Some((id, d)) = stack.pop() {
            if self.parts_seen >= self.limits.max_parts {
                self.too_many_parts = true;
                return;
            }
            self.parts_seen += 1;
            let Some(part) = parts.get_mut(id as usize) else {
                continue;
            };
            let header = raw
                .get(part.offset_header as usize..part.offset_body as usize)
                .unwrap_or(&[]);
            let fields = split_fields(header);
            let PartHeaders { ctype, disp, cte } = PartHeaders::read(&fields);
            let raw_name = file_name(disp.as_ref(), ctype.as_ref())
                .map(str::to_string)
                .or_else(|| part.attachment_name().map(str::to_string));
            let has_name = raw_name.as_deref().is_some_and(|n| !n.trim().is_empty());
            let declared = ctype
                .as_ref()
                .map(|c| c.value.clone())
                .or_else(|| {
                    part.content_type().map(|c| match c.subtype() {
                        Some(s) => format!("{}/{}", c.ctype(), s).to_lowercase(),
                        None => c.ctype().to_lowercase(),
                    })
                })
                .filter(|v| !v.is_empty());
            let raw_body = || {
                raw.get(part.offset_body as usize..part.offset_end as usize)
                    .unwrap_or(&[])
            };

            match std::mem::take(&mut part.body) {
                PartType::Multipart(children) => {
                    if d + 1 > self.limits.max_depth {
                        self.too_deep = true;
                        continue;
                    }
                    stack.extend(children.iter().rev().map(|&c| (c, d + 1)));
                }
                PartType::Message(mut inner) => {
                    if d + 1 > self.limits.max_depth {
                        self.too_deep = true;
                        continue;
                    }
                    let inner_origin = with(origin, message_origin(&inner, raw));
                    self.walk(&mut inner, raw, &inner_origin, d + 1, false);
                }
                body @ (PartType::Text(_) | PartType::Html(_)) if !has_name => {
                    let is_html = matches!(body, PartType::Html(_));
                    let has_charset = ctype.as_ref().is_some_and(|c| c.param("charset").is_some());
                    let text = match body {
                        // Without a declared charset, GBK is likelier than the UTF-8 mail-parser
                        // assumes.
                        _ if !has_charset => names::decode_guess(&decode_body(raw_body(), &cte)),
                        PartType::Text(t) | PartType::Html(t) => t.into_owned(),
                        _ => String::new(),
                    };
                    if top && text_body.contains(&id) && self.body.len() < BODY_TEXT_MAX {
                        let plain = if is_html {
                            mail_parser::decoders::html::html_to_text(&text)
                        } else {
                            text.clone()
                        };
                        if !self.body.is_empty() {
                            self.body.push('\n');
                        }
                        self.body.push_str(&plain);
                    }
                    self.bodies.push((is_html, text));
                }
                body => {
                    let bytes = match body {
                        PartType::Binary(b) | PartType::InlineBinary(b)
                            if !part.is_encoding_problem =>
                        {
                            b.into_owned()
                        }
                        // Text attachments are decoded again from the raw body: the file is the
                        // bytes as sent, not mail-parser's charset-converted text. Broken base64
                        // lands here too and is decoded leniently.
                        _ => decode_body(raw_body(), &cte),
                    };
                    if !has_name
                        && declared
                            .as_deref()
                            .is_some_and(|t| t.starts_with("message/"))
                    {
                        // delivery-status and similar report parts: not something a unit sent.
                        continue;
                    }
                    let name = raw_name.as_deref().and_then(names::clean_name);
                    if self.open_attached_message(&bytes, name.as_deref(), origin, d) {
                        continue;
                    }
                    let name = name.unwrap_or_else(|| self.unnamed_name());
                    let mut file = new_file(name, origin.to_vec(), declared, bytes, self.limits);
                    file.inline = is_inline(&fields, disp.as_ref());
                    self.files.push(file);
                }
            }
        }
    }

    /// A `.eml` sent as application/octet-stream is opened like a message/rfc822 part.
    fn open_attached_message(
        &mut self,
        bytes: &[u8],
        name: Option<&str>,
        origin: &[String],
        d: usize,
    ) -> bool {
        let by_name = name.and_then(kind_from_name);
        if !(by_name.is_none() || by_name == Some(FileKind::Eml)) || sniff(bytes) != FileKind::Eml {
            return false;
        }
        if d + 1 > self.limits.max_depth {
            self.too_deep = true;
            return false;
        }
        let parser = self.parser;
        let Some(mut inner) = parser.parse(bytes) else {
            return false;
        };
        let inner_origin = with(origin, message_origin(&inner, bytes));
        self.walk(&mut inner, bytes, &inner_origin, d + 1, false);
        true
    }

    fn unnamed_name(&mut self) -> String {
        self.unnamed += 1;
        format!("未命名附件{}", self.unnamed)
    }
}

/// A part shown inside the body rather than offered as an attachment.
pub(super) fn is_inline(fields: &[RawField], disp: Option<&names::Structured>) -> bool {
    match disp {
        Some(d) if d.value == "attachment" => false,
        Some(d) if d.value == "inline" => true,
        _ => field(fields, "content-id").is_some(),
    }
}

fn with(origin: &[String], next: String) -> Vec<String> {
    let mut v = origin.to_vec();
    v.push(next);
    v
}

fn message_origin(inner: &Message<'_>, parent_raw: &[u8]) -> String {
    let raw: &[u8] = if inner.raw_message.is_empty() {
        parent_raw
    } else {
        &inner.raw_message
    };
    let subject = inner
        .parts
        .first()
        .and_then(|p| raw.get(p.offset_header as usize..p.offset_body as usize))
        .map(split_fields)
        .and_then(|f| {
            field(&f, "subject").map(|s| names::decode_header(&s.value).trim().to_string())
        })
        .or_else(|| inner.subject().map(|s| s.trim().to_string()));
    attached_origin(subject)
}

/// How an attached message is named in its files' `origin`: by its subject.
pub(super) fn attached_origin(subject: Option<String>) -> String {
    let subject = subject
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "（无主题）".to_string());
    format!("{ATTACHED_MESSAGE_PREFIX}{subject}")
}

/// What a MIME part's own header fields say about it, read from the raw fields (so GBK names
/// and RFC 2231 parameters decode as Chinese clients write them).
pub(super) struct PartHeaders {
    pub ctype: Option<names::Structured>,
    pub disp: Option<names::Structured>,
    /// Lowercased, empty when absent.
    pub cte: String,
}

impl PartHeaders {
    pub(super) fn read(fields: &[RawField]) -> PartHeaders {
        let structured = |n: &str| field(fields, n).map(|f| names::parse_structured(&f.value));
        PartHeaders {
            ctype: structured("content-type"),
            disp: structured("content-disposition"),
            cte: field(fields, "content-transfer-encoding")
                .map(|f| names::decode_guess(&f.value).trim().to_ascii_lowercase())
                .unwrap_or_default(),
        }
    }
}

/// The part's file name as written: `filename` of the disposition, else `name` of the type.
pub(super) fn file_name<'a>(
    disp: Option<&'a names::Structured>,
    ctype: Option<&'a names::Structured>,
) -> Option<&'a str> {
    disp.and_then(|d| d.param("filename"))
        .or_else(|| ctype.and_then(|c| c.param("name")))
}

pub(super) fn decode_body(body: &[u8], cte: &str) -> Vec<u8> {
    match cte {
        "base64" => names::base64_lenient(body),
        "quoted-printable" => names::qp_decode(body),
        _ => body.to_vec(),
    }
}

pub(super) fn new_file(
    name: String,
    origin: Vec<String>,
    declared: Option<String>,
    bytes: Vec<u8>,
    limits: &IntakeLimits,
) -> IncomingFile {
    // Both readers walk hostile structures: a panic in either is an unknown file, not a
    // message without files.
    let damaged = guarded(|| damaged_office(&bytes, &name)).flatten();
    let kind = damaged.unwrap_or_else(|| guarded(|| sniff(&bytes)).unwrap_or(FileKind::Unknown));
    let size = bytes.len() as u64;
    let mut f = IncomingFile {
        name,
        origin,
        role: FileRole::Attachment,
        kind,
        declared_type: declared,
        size,
        bytes,
        problems: Vec::new(),
        inline: false,
    };
    if size > limits.max_file_bytes {
        f.bytes = Vec::new();
        f.problems.push(Problem::error(
            "file.too_large",
            format!(
                "附件“{}”大小为 {}，超过上限 {}，未能接收。请压缩视频或分开发送。",
                f.name,
                archive::fmt_size(size),
                archive::fmt_size(limits.max_file_bytes)
            ),
        ));
    } else if damaged.is_some() {
        f.problems
            .push(Problem::error("file.unreadable", DAMAGED_FILE.to_string()));
    }
    f
}

/// Whether a file should go through the unpacker: archives by content, and files named as
/// archives whose content is not recognisable (so a corrupt zip is reported, not ignored).
fn archive_kind(f: &IncomingFile) -> Option<FileKind> {
    if f.bytes.is_empty() {
        return None;
    }
    match f.kind {
        FileKind::Zip | FileKind::SevenZ | FileKind::Rar | FileKind::Tnef => Some(f.kind),
        FileKind::Unknown | FileKind::Txt => kind_from_name(&f.name)
            .filter(|k| k.family() == FileFamily::Archive)
            .or_else(|| {
                super::archive::tnef::claims_tnef(&f.name, f.declared_type.as_deref())
                    .then_some(FileKind::Tnef)
            }),
        _ => None,
    }
}

/// Puts each archive's members right after it; archives inside archives are unpacked up to
/// `archive_max_nesting` levels and share the outer archive's budget.
pub(super) fn expand_archives(
    files: Vec<IncomingFile>,
    limits: &IntakeLimits,
    unnamed: &mut usize,
    problems: &mut Vec<Problem>,
) -> Vec<IncomingFile> {
    let mut out = Vec::with_capacity(files.len());
    for f in files {
        let mut budget = archive::Budget::new(limits);
        expand_one(f, 0, limits, &mut budget, unnamed, problems, &mut out);
    }
    out
}

fn expand_one(
    mut f: IncomingFile,
    level: usize,
    limits: &IntakeLimits,
    budget: &mut archive::Budget,
    unnamed: &mut usize,
    problems: &mut Vec<Problem>,
    out: &mut Vec<IncomingFile>,
) {
    let Some(kind) = archive_kind(&f).filter(|_| level <= limits.archive_max_nesting.min(8)) else {
        out.push(f);
        return;
    };
    f.role = FileRole::Archive;
    let unpacked = archive::unpack(&f.name, kind, &f.bytes, limits, budget);
    problems.extend(unpacked.problems);
    let origin = with(&f.origin, f.name.clone());
    out.push(f);
    for m in unpacked.members {
        let name = m.name.unwrap_or_else(|| {
            *unnamed += 1;
            format!("未命名附件{unnamed}")
        });
        // A member has no MIME part, so no declared type.
        let mut member = new_file(name, origin.clone(), None, m.bytes, limits);
        member.role = FileRole::Member;
        expand_one(member, level + 1, limits, budget, unnamed, problems, out);
    }
}
