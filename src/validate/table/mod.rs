//! The statistics table (contract §4): finds the template's header on any sheet, reads the
//! reporting unit, every indicator and the free-text rows by their labels, and reports every
//! problem with a Chinese message naming the sheet, the row and the value as written.
//!
//! Pure: bytes in, values out. Hostile files (huge claimed ranges, zip bombs, entity tricks,
//! corrupt containers) end as `file.unreadable`, never as a panic, an abort or a hang.

mod check;
mod grid;
mod guard;
mod numbers;
mod template;
mod text;

pub use template::{Indicator, SumRule, TableLimits, TableTemplate, TextRow, ValueKind};

use crate::problem::{Problem, Severity, Verdict};
use serde::Serialize;
use std::collections::BTreeMap;
use std::panic::{catch_unwind, AssertUnwindSafe};

/// The container format, decided by the caller from the content. WPS `.et` files are `Xls`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SheetFormat {
    Xlsx,
    Xls,
    Ods,
}

/// What was read from one spreadsheet.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct TableReading {
    /// False: the file could not be opened; `problems` holds `file.unreadable` with the reason.
    pub readable: bool,
    /// A sheet holds a row with the header and value labels. When false, the caller decides on
    /// `table.not_template` (contract §3: only if no other spreadsheet of the message passes).
    pub is_template: bool,
    /// The sheet the header was found on.
    pub sheet: Option<String>,
    /// The 填报单位 value as written (trimmed).
    pub unit_text: Option<String>,
    /// Indicator key -> number (integers as i64, decimals rounded to their places); text-row
    /// key -> string. Optional indicators left empty or absent are 0.
    pub values: BTreeMap<String, serde_json::Value>,
    pub problems: Vec<Problem>,
    /// When unreadable: the parser's own (English) words, for the coordinator's log only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unreadable_detail: Option<String>,
}

impl TableReading {
    /// The problems as a verdict, for the item state (contract §7).
    pub fn verdict(&self) -> Verdict {
        Verdict {
            problems: self.problems.clone(),
        }
    }

    pub fn has_errors(&self) -> bool {
        self.problems.iter().any(|p| p.severity == Severity::Error)
    }

    fn unreadable(f: grid::Failure) -> Self {
        TableReading {
            problems: vec![Problem::error("file.unreadable", f.reason)],
            unreadable_detail: f.detail,
            ..Self::default()
        }
    }
}

/// Reads and checks one spreadsheet against the template. `campaign_year` is the year the title
/// must carry. Never panics; work is bounded by `limits`.
pub fn read(
    bytes: &[u8],
    format: SheetFormat,
    template: &TableTemplate,
    campaign_year: i32,
    limits: &TableLimits,
) -> TableReading {
    catch_unwind(AssertUnwindSafe(|| {
        read_inner(bytes, format, template, campaign_year, limits)
    }))
    .unwrap_or_else(|_| {
        TableReading::unreadable(grid::Failure {
            reason: "文件内容异常，解析时出错，无法读取；请用Excel或WPS打开后重新保存再发送".into(),
            detail: Some("checker panicked".into()),
        })
    })
}

fn read_inner(
    bytes: &[u8],
    format: SheetFormat,
    template: &TableTemplate,
    campaign_year: i32,
    limits: &TableLimits,
) -> TableReading {
    if bytes.is_empty() {
        return TableReading::unreadable("文件为空（0字节），无法读取".to_string().into());
    }
    let ole = bytes.starts_with(b"\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1");
    let guard = match format {
        // An xlsx with an opening password is stored as an OLE container.
        SheetFormat::Xlsx if ole => Err("文件设有密码保护，无法读取；请取消密码后重新发送".into()),
        SheetFormat::Xlsx => guard::check_xlsx(bytes, limits),
        SheetFormat::Ods => guard::check_ods(bytes, limits),
        SheetFormat::Xls => guard::check_xls(bytes, limits),
    };
    if let Err(reason) = guard {
        return TableReading::unreadable(reason.into());
    }
    let mut book = match grid::Book::open(bytes, format) {
        Ok(b) => b,
        Err(reason) => return TableReading::unreadable(reason),
    };
    let mut reading = TableReading {
        readable: true,
        ..TableReading::default()
    };
    // Every sheet holding the template is a candidate: a blank copy kept beside the filled
    // table (before or after it, hidden or not) must not hide it. The most filled one is read;
    // of equally filled ones, the first.
    let mut best: Option<(String, check::Found)> = None;
    for name in book.sheet_names().into_iter().take(limits.max_sheets) {
        let sheet = match book.sheet(&name, limits) {
            Ok(Some(s)) => s,
            Ok(None) => continue,
            Err(reason) => return TableReading::unreadable(reason),
        };
        if let Some(found) = check::check_sheet(&sheet, template, campaign_year) {
            if best.as_ref().is_none_or(|(_, b)| found.filled > b.filled) {
                best = Some((name, found));
            }
        }
    }
    if let Some((name, found)) = best {
        reading.is_template = true;
        reading.sheet = Some(name);
        reading.unit_text = found.unit_text;
        reading.values = found.values;
        reading.problems = found.problems;
    }
    reading
}
