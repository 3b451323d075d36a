//! docx and odt: one XML member of a zip archive, read within the size limit, its text runs
//! collected with paragraphs as new lines.

use super::{ExtractLimits, ReportError, ReportFormat};
use quick_xml::events::Event;
use quick_xml::Reader;
use std::io::{Cursor, Read};
use zip::result::ZipError;
use zip::ZipArchive;

/// `text:s` (a run of spaces) may claim any count; blanks are not counted anyway, so a few keep
/// the words apart without letting a tiny element expand into megabytes.
const MAX_SPACES: usize = 8;

pub(super) fn docx_text(bytes: &[u8], limits: &ExtractLimits) -> Result<String, ReportError> {
    let xml = read_member(bytes, "word/document.xml", ReportFormat::Docx, limits)?;
    xml_text(&xml, ReportFormat::Docx, &DOCX)
}

pub(super) fn odt_text(bytes: &[u8], limits: &ExtractLimits) -> Result<String, ReportError> {
    let xml = read_member(bytes, "content.xml", ReportFormat::Odt, limits)?;
    xml_text(&xml, ReportFormat::Odt, &ODT)
}

fn read_member(
    bytes: &[u8],
    name: &str,
    format: ReportFormat,
    limits: &ExtractLimits,
) -> Result<Vec<u8>, ReportError> {
    let too_large = || ReportError::TooLarge {
        limit_mib: limits.max_unzipped_bytes.div_ceil(1 << 20),
    };
    let mut archive = ZipArchive::new(Cursor::new(bytes))
        .map_err(|e| ReportError::corrupt(format, zip_reason(&e)))?;
    let mut member = match archive.by_name(name) {
        Ok(m) => m,
        Err(ZipError::UnsupportedArchive(msg)) if msg == ZipError::PASSWORD_REQUIRED => {
            return Err(ReportError::Encrypted)
        }
        Err(ZipError::FileNotFound) => {
            return Err(ReportError::corrupt(format, format!("缺少 {name}")))
        }
        Err(e) => return Err(ReportError::corrupt(format, zip_reason(&e))),
    };
    // The declared size first (cheap, catches an honest bomb), then `take()` for one that lies.
    if member.size() > limits.max_unzipped_bytes {
        return Err(too_large());
    }
    let mut xml = Vec::with_capacity(member.size() as usize);
    (&mut member)
        .take(limits.max_unzipped_bytes.saturating_add(1))
        .read_to_end(&mut xml)
        .map_err(|e| ReportError::corrupt(format, format!("解压失败：{e}")))?;
    if xml.len() as u64 > limits.max_unzipped_bytes {
        return Err(too_large());
    }
    Ok(xml)
}

fn zip_reason(e: &ZipError) -> &'static str {
    match e {
        ZipError::InvalidArchive(_) => "压缩结构无效",
        ZipError::UnsupportedArchive(_) => "使用了不支持的压缩方式",
        ZipError::Io(_) => "文件不完整",
        _ => "无法解压",
    }
}

/// Which elements (by local name, so any prefix works) carry what, per format.
struct Vocabulary {
    /// Elements whose text content is document text (`None`: all text inside a paragraph).
    text: Option<&'static [u8]>,
    /// Elements that end a line when they close.
    paragraph: &'static [&'static [u8]],
    tab: &'static [&'static [u8]],
    line_break: &'static [&'static [u8]],
    /// Elements whose whole subtree is skipped.
    skip: &'static [&'static [u8]],
}

const DOCX: Vocabulary = Vocabulary {
    // w:t only: w:delText (deleted revisions) and w:instrText (field codes) are not shown text.
    text: Some(b"t"),
    paragraph: &[b"p"],
    tab: &[b"tab"],
    line_break: &[b"br", b"cr"],
    // mc:Fallback repeats a text box's content for old readers; reading both doubles it.
    skip: &[b"Fallback"],
};

const ODT: Vocabulary = Vocabulary {
    text: None,
    paragraph: &[b"p", b"h"],
    tab: &[b"tab"],
    line_break: &[b"line-break"],
    // Reviewer comments are not the report's text.
    skip: &[b"annotation", b"tracked-changes"],
};

fn xml_text(xml: &[u8], format: ReportFormat, v: &Vocabulary) -> Result<String, ReportError> {
    let mut reader = Reader::from_reader(xml);
    reader.config_mut().check_end_names = false;
    let mut out = String::new();
    let mut skip_depth = 0usize;
    let mut text_depth = 0usize;
    let mut para_depth = 0usize;
    loop {
        let event = reader
            .read_event()
            .map_err(|e| ReportError::corrupt(format, format!("XML 结构错误：{e}")))?;
        match event {
            Event::Start(e) => {
                let name = e.local_name();
                let name = name.as_ref();
                if skip_depth > 0 || v.skip.contains(&name) {
                    skip_depth += 1;
                    continue;
                }
                if v.text == Some(name) {
                    text_depth += 1;
                }
                if v.paragraph.contains(&name) {
                    para_depth += 1;
                }
                if v.tab.contains(&name) {
                    out.push('\t');
                }
            }
            Event::Empty(e) => {
                if skip_depth > 0 {
                    continue;
                }
                let name = e.local_name();
                let name = name.as_ref();
                if v.tab.contains(&name) {
                    out.push('\t');
                } else if v.line_break.contains(&name) || v.paragraph.contains(&name) {
                    out.push('\n');
                } else if name == b"s" && v.text.is_none() {
                    let n = e
                        .try_get_attribute("text:c")
                        .ok()
                        .flatten()
                        .and_then(|a| std::str::from_utf8(&a.value).ok()?.parse::<usize>().ok())
                        .unwrap_or(1);
                    out.extend(std::iter::repeat_n(' ', n.clamp(1, MAX_SPACES)));
                }
            }
            Event::End(e) => {
                if skip_depth > 0 {
                    skip_depth -= 1;
                    continue;
                }
                let name = e.local_name();
                let name = name.as_ref();
                if v.text == Some(name) {
                    text_depth = text_depth.saturating_sub(1);
                }
                if v.paragraph.contains(&name) {
                    para_depth = para_depth.saturating_sub(1);
                    out.push('\n');
                }
            }
            Event::Text(t) if skip_depth == 0 => {
                let wanted = match v.text {
                    Some(_) => text_depth > 0,
                    None => para_depth > 0,
                };
                if wanted {
                    unescape_into(&String::from_utf8_lossy(&t), &mut out);
                }
            }
            Event::CData(t) if skip_depth == 0 && (text_depth > 0 || para_depth > 0) => {
                out.push_str(&String::from_utf8_lossy(&t));
            }
            Event::Eof => break,
            _ => {}
        }
    }
    Ok(out)
}

/// Resolves the five predefined entities and character references; any other reference is
/// dropped. A document's own `<!ENTITY>` declarations are never expanded, which is what keeps a
/// "billion laughs" file from growing.
fn unescape_into(raw: &str, out: &mut String) {
    let mut rest = raw;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        rest = &rest[amp..];
        // Entity names are short; looking further would make a stray '&' quadratic.
        let window = &rest.as_bytes()[..rest.len().min(34)];
        let Some(semi) = window.iter().position(|&b| b == b';') else {
            out.push('&');
            rest = &rest[1..];
            continue;
        };
        let name = &rest[1..semi];
        let resolved = match name {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            _ => name
                .strip_prefix("#x")
                .or_else(|| name.strip_prefix("#X"))
                .map(|h| u32::from_str_radix(h, 16))
                .or_else(|| name.strip_prefix('#').map(|d| d.parse::<u32>()))
                .and_then(|r| r.ok())
                .and_then(char::from_u32),
        };
        if let Some(c) = resolved {
            out.push(c);
        }
        rest = &rest[semi + 1..];
    }
    out.push_str(rest);
}
