//! Summary report check (contract §5): extract the text, then count it and look for the
//! campaign's keyword.
//!
//! Extraction is pure (bytes in, text out) and bounded: zip members are size-checked before they
//! are inflated and read through `take()`, XML entities are never expanded, the Word piece table
//! is walked only within its stream, and the PDF text layer is read on a separate thread with a
//! deadline because that parser recurses and is not ours.

mod pdf;
mod word97;
mod zipxml;

use crate::problem::Problem;
use serde::Deserialize;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Duration;
use unicode_normalization::UnicodeNormalization;

/// What a campaign requires of the summary report.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default)]
pub struct ReportRules {
    /// Fewest non-blank characters a report may have.
    pub min_chars: usize,
    /// Text the report must mention (compared after NFKC and with white space removed); empty:
    /// none (each campaign's configuration names its own, e.g. `科技活动周`).
    pub keyword: String,
    /// Most bytes one zip member (document.xml, content.xml) may inflate to.
    pub max_unzipped_bytes: u64,
    /// How long the PDF text layer may take to read before the file is given up on.
    pub pdf_timeout_seconds: u64,
}

impl Default for ReportRules {
    fn default() -> Self {
        ReportRules {
            min_chars: 200,
            keyword: String::new(),
            max_unzipped_bytes: 64 << 20,
            pdf_timeout_seconds: 60,
        }
    }
}

impl ReportRules {
    pub fn limits(&self) -> ExtractLimits {
        ExtractLimits {
            max_unzipped_bytes: self.max_unzipped_bytes,
            pdf_timeout: Duration::from_secs(self.pdf_timeout_seconds.max(1)),
        }
    }
}

/// Resource limits for [`extract_text`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExtractLimits {
    pub max_unzipped_bytes: u64,
    pub pdf_timeout: Duration,
}

impl Default for ExtractLimits {
    fn default() -> Self {
        ReportRules::default().limits()
    }
}

/// Document formats the report item accepts (contract §3). `Wps` is WPS Writer's own extension;
/// current WPS writes the Word 97 binary format under it, so it is read like `Doc`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReportFormat {
    Docx,
    Doc,
    Wps,
    Pdf,
    Odt,
    Txt,
}

impl ReportFormat {
    pub fn from_extension(ext: &str) -> Option<Self> {
        Some(match ext.to_ascii_lowercase().as_str() {
            "docx" | "docm" => Self::Docx,
            "doc" | "dot" => Self::Doc,
            "wps" => Self::Wps,
            "pdf" => Self::Pdf,
            "odt" => Self::Odt,
            "txt" => Self::Txt,
            _ => return None,
        })
    }

    fn label(self) -> &'static str {
        match self {
            Self::Docx => "Word（docx）",
            Self::Doc => "Word（doc）",
            Self::Wps => "WPS",
            Self::Pdf => "PDF",
            Self::Odt => "ODT",
            Self::Txt => "文本",
        }
    }
}

/// The text of a report and the format it was actually read as (content decides: an encrypted
/// `.docx` is an OLE file, a `.doc` may really be a docx).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtractedText {
    pub text: String,
    pub format: ReportFormat,
    /// False when part of the document could not be decoded (a PDF whose font encoding the
    /// extractor does not know): the text may be missing words, so a short one is for a person
    /// to judge rather than an error.
    pub complete: bool,
}

/// Why no text could be had. `Display` is Chinese: it is the reason in `report.unreadable`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReportError {
    #[error("文件为空")]
    Empty,
    #[error("文件已加密，请去除密码后重新发送")]
    Encrypted,
    #[error("文件已损坏或不是有效的{format}文件（{detail}）")]
    Corrupt {
        format: &'static str,
        detail: String,
    },
    #[error("文件解压后超过{limit_mib}MB的上限")]
    TooLarge { limit_mib: u64 },
    #[error("文件过于复杂，未能在限定时间内读取")]
    Timeout,
    #[error("读取文件时出现内部错误")]
    Internal,
}

impl ReportError {
    fn corrupt(format: ReportFormat, detail: impl Into<String>) -> Self {
        ReportError::Corrupt {
            format: format.label(),
            detail: detail.into(),
        }
    }
}

/// Outcome of [`check`]. `excerpt` is the start of the text for the coordinator's listing.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ReportVerdict {
    pub chars: usize,
    pub problems: Vec<Problem>,
    pub excerpt: String,
}

const EXCERPT_CHARS: usize = 200;

const OLE_MAGIC: [u8; 8] = [0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1];

/// Extracts the report's text. The container is recognised by content where it is unambiguous,
/// so a renamed file is still read; `format` decides only between zip flavours and for text.
pub fn extract_text(
    bytes: &[u8],
    format: ReportFormat,
    limits: &ExtractLimits,
) -> Result<ExtractedText, ReportError> {
    if bytes.is_empty() {
        return Err(ReportError::Empty);
    }
    let actual = if bytes.starts_with(&OLE_MAGIC) {
        // Also where an encrypted docx lands: Office wraps it in an OLE file.
        match format {
            ReportFormat::Wps => ReportFormat::Wps,
            _ => ReportFormat::Doc,
        }
    } else if bytes.starts_with(b"PK\x03\x04") {
        match format {
            ReportFormat::Odt => ReportFormat::Odt,
            _ => ReportFormat::Docx,
        }
    } else if bytes.starts_with(b"%PDF-") {
        ReportFormat::Pdf
    } else {
        format
    };
    if actual == ReportFormat::Pdf {
        // The PDF reader runs on its own thread and guards itself.
        let t = pdf::text(bytes, limits)?;
        return Ok(ExtractedText {
            text: t.text,
            format: actual,
            complete: t.complete,
        });
    }
    let text = match actual {
        ReportFormat::Txt => decode_plain_text(bytes),
        _ => catch_unwind(AssertUnwindSafe(|| match actual {
            ReportFormat::Docx => zipxml::docx_text(bytes, limits),
            ReportFormat::Odt => zipxml::odt_text(bytes, limits),
            _ => word97::text(bytes, actual),
        }))
        .unwrap_or(Err(ReportError::Internal))?,
    };
    Ok(ExtractedText {
        text,
        format: actual,
        complete: true,
    })
}

/// Checks a report against the rules: `report.unreadable`, `report.no_text`, `report.too_short`,
/// `report.off_topic` (contract §5).
pub fn check(bytes: &[u8], format: ReportFormat, rules: &ReportRules) -> ReportVerdict {
    let extracted = match extract_text(bytes, format, &rules.limits()) {
        Ok(t) => t,
        Err(e) => {
            return ReportVerdict {
                chars: 0,
                problems: vec![Problem::error(
                    "report.unreadable",
                    format!("无法读取总结报告：{e}"),
                )],
                excerpt: String::new(),
            }
        }
    };
    let chars = count_chars(&extracted.text);
    let mut problems = Vec::new();
    let is_pdf = extracted.format == ReportFormat::Pdf;
    if is_pdf && !extracted.complete && chars < rules.min_chars {
        problems.push(Problem::review(
            "report.no_text",
            "PDF文件中的文字无法完整提取（可能使用了特殊字体），将由工作人员查看核对",
        ));
    } else if is_pdf && chars == 0 {
        // A scan may be a perfectly good report: a person reads it.
        problems.push(Problem::review(
            "report.no_text",
            "PDF文件中没有可提取的文字（可能是扫描件），将由工作人员查看核对",
        ));
    } else {
        if chars < rules.min_chars {
            problems.push(Problem::error(
                "report.too_short",
                format!(
                    "总结报告正文只有{chars}个字，少于要求的{}个字",
                    rules.min_chars
                ),
            ));
        }
        if chars > 0 && !mentions(&extracted.text, &rules.keyword) {
            problems.push(Problem::warning(
                "report.off_topic",
                format!(
                    "总结报告中没有提到“{}”，请确认是否发错了文件",
                    rules.keyword.trim()
                ),
            ));
        }
    }
    ReportVerdict {
        chars,
        problems,
        excerpt: excerpt(&extracted.text),
    }
}

/// Non-blank characters: white space (including the ideographic space), control characters and
/// zero-width marks do not count.
pub fn count_chars(text: &str) -> usize {
    text.chars().filter(|&c| counts(c)).count()
}

fn counts(c: char) -> bool {
    !c.is_whitespace()
        && !c.is_control()
        && !matches!(c, '\u{200B}'..='\u{200D}' | '\u{2060}' | '\u{FEFF}')
}

fn squeeze(s: &str) -> String {
    s.nfkc().filter(|&c| counts(c)).collect()
}

/// Whether `text` mentions `keyword`, ignoring width (NFKC) and white space inside either, so
/// "科技 活动周" and full-width digits still match.
pub fn mentions(text: &str, keyword: &str) -> bool {
    let k = squeeze(keyword);
    k.is_empty() || squeeze(text).contains(&k)
}

/// The first characters with every run of blanks shown as one space.
fn excerpt(text: &str) -> String {
    let mut out = String::new();
    let mut n = 0;
    let mut gap = false;
    for c in text.chars() {
        if n >= EXCERPT_CHARS {
            break;
        }
        if !counts(c) {
            gap = n > 0;
            continue;
        }
        if gap {
            out.push(' ');
            n += 1;
            gap = false;
            if n >= EXCERPT_CHARS {
                break;
            }
        }
        out.push(c);
        n += 1;
    }
    out.trim_end().to_string()
}

/// A .txt: a BOM decides (UTF-8, UTF-16LE/BE); otherwise UTF-8 if it is valid, else GB18030,
/// the encoding Chinese Windows Notepad wrote before it switched to UTF-8.
fn decode_plain_text(bytes: &[u8]) -> String {
    if let Some((enc, bom_len)) = encoding_rs::Encoding::for_bom(bytes) {
        return enc
            .decode_without_bom_handling(&bytes[bom_len..])
            .0
            .into_owned();
    }
    match std::str::from_utf8(bytes) {
        Ok(s) => s.to_string(),
        Err(_) => encoding_rs::GB18030
            .decode_without_bom_handling(bytes)
            .0
            .into_owned(),
    }
}
