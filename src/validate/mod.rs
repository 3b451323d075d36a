//! Content checks behind one small interface: a file's bytes and kind in, problems (and, for the
//! statistics table, its typed values) out. Each validator is total: a hostile file gets a
//! verdict, never a panic that takes the process down.

pub mod report;
pub mod table;
pub mod video;

use crate::campaign::ValidatorKind;
use crate::intake::FileKind;
use crate::problem::Problem;
use std::panic::{catch_unwind, AssertUnwindSafe};

/// What the validators need of a campaign: its table template and limits, its report and
/// video rules, and the year its table must name.
#[derive(Debug, Clone, Copy)]
pub struct Rules<'a> {
    pub table: &'a table::TableTemplate,
    pub table_limits: &'a table::TableLimits,
    pub report: &'a report::ReportRules,
    pub video: &'a video::VideoRules,
    pub year: i32,
}

/// A validator's answer for one file.
#[derive(Debug, Clone, Default)]
pub struct Checked {
    pub problems: Vec<Problem>,
    /// Values worth keeping (the table's indicators, a video's duration).
    pub data: Option<serde_json::Value>,
}

/// Runs `f`, turning a panic inside a parsing crate into a `file.unreadable` verdict.
pub fn guarded<T>(name: &str, f: impl FnOnce() -> T, on_panic: impl FnOnce(Problem) -> T) -> T {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(v) => v,
        Err(_) => {
            tracing::warn!(
                file = name,
                "a parser panicked on this file; recorded as unreadable"
            );
            on_panic(Problem::error(
                "file.unreadable",
                format!("文件“{name}”内容异常，无法读取"),
            ))
        }
    }
}

pub fn sheet_format(kind: FileKind) -> Option<table::SheetFormat> {
    match kind {
        FileKind::Xlsx => Some(table::SheetFormat::Xlsx),
        FileKind::Xls => Some(table::SheetFormat::Xls),
        FileKind::Ods => Some(table::SheetFormat::Ods),
        _ => None,
    }
}

/// Reads a spreadsheet against the campaign's table template; `None` for other kinds.
pub fn read_table(
    rules: &Rules<'_>,
    name: &str,
    kind: FileKind,
    bytes: &[u8],
) -> Option<table::TableReading> {
    let format = sheet_format(kind)?;
    Some(guarded(
        name,
        || table::read(bytes, format, rules.table, rules.year, rules.table_limits),
        |p| table::TableReading {
            readable: false,
            problems: vec![p],
            ..Default::default()
        },
    ))
}

fn report_format(kind: FileKind, name: &str) -> Option<report::ReportFormat> {
    let wps = name.to_lowercase().ends_with(".wps");
    Some(match kind {
        FileKind::Docx => report::ReportFormat::Docx,
        FileKind::Doc if wps => report::ReportFormat::Wps,
        FileKind::Doc => report::ReportFormat::Doc,
        FileKind::Pdf => report::ReportFormat::Pdf,
        FileKind::Odt => report::ReportFormat::Odt,
        FileKind::Txt => report::ReportFormat::Txt,
        _ => return None,
    })
}

fn video_container(kind: FileKind) -> Option<video::VideoContainer> {
    use video::VideoContainer as C;
    Some(match kind {
        FileKind::Mp4 => C::Mp4,
        FileKind::Mov => C::Mov,
        FileKind::M4v => C::M4v,
        FileKind::ThreeGp => C::ThreeGp,
        FileKind::Mkv => C::Mkv,
        FileKind::Webm => C::Webm,
        FileKind::Avi => C::Avi,
        FileKind::Asf => C::Asf,
        FileKind::Flv => C::Flv,
        FileKind::Mpg => C::Mpg,
        FileKind::Ts => C::Ts,
        _ => return None,
    })
}

/// Whether a document's text mentions one of `keywords` (lowercase): contract §8 (e), asked only
/// of mail from an unknown sender.
pub fn document_mentions(
    rules: &Rules<'_>,
    name: &str,
    kind: FileKind,
    bytes: &[u8],
    keywords: &[String],
) -> bool {
    let Some(format) = report_format(kind, name) else {
        return false;
    };
    guarded(
        name,
        || {
            report::extract_text(bytes, format, &rules.report.limits()).is_ok_and(|t| {
                let text = t.text.to_lowercase();
                keywords.iter().any(|k| text.contains(k.as_str()))
            })
        },
        |_| false,
    )
}

/// Checks one file as the item its validator names. `table` is the reading already made for
/// a spreadsheet (tables are read once, before identification needs their 填报单位).
pub fn check(
    rules: &Rules<'_>,
    validator: ValidatorKind,
    name: &str,
    kind: FileKind,
    bytes: &[u8],
    table: Option<&table::TableReading>,
) -> Checked {
    let unreadable = |p: Problem| Checked {
        problems: vec![p],
        data: None,
    };
    match validator {
        ValidatorKind::None => Checked::default(),
        ValidatorKind::Table => match table {
            Some(t) => Checked {
                problems: t.problems.clone(),
                data: Some(
                    serde_json::json!({ "sheet": t.sheet, "unit": t.unit_text, "values": t.values }),
                ),
            },
            None => Checked::default(),
        },
        ValidatorKind::Report => match report_format(kind, name) {
            Some(format) => guarded(
                name,
                || {
                    let v = report::check(bytes, format, rules.report);
                    Checked {
                        problems: v.problems,
                        data: Some(serde_json::json!({ "chars": v.chars, "excerpt": v.excerpt })),
                    }
                },
                unreadable,
            ),
            None => Checked::default(),
        },
        ValidatorKind::Video => match video_container(kind) {
            Some(container) => guarded(
                name,
                || {
                    let v = video::check(bytes, container, rules.video);
                    Checked {
                        problems: v.problems,
                        data: Some(serde_json::json!({ "duration_seconds": v.duration_seconds })),
                    }
                },
                unreadable,
            ),
            None => Checked::default(),
        },
    }
}
