//! The sheets of a workbook as small sparse grids, whatever the format, holding only the cells
//! inside the row/column limits. Everything calamine does happens here, under `catch_unwind`.

use super::template::TableLimits;
use super::SheetFormat;
use calamine::{Data, Ods, Range, Reader, Xls, Xlsx, XlsxError};
use std::collections::BTreeMap;
use std::io::Cursor;
use std::panic::{catch_unwind, AssertUnwindSafe};

/// One cell's content, as the checker needs it.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Number(f64),
    Text(String),
    /// A number in a cell formatted as a date or a time (Excel shows 45 as 1900/2/14): the
    /// file holds the number the unit typed.
    DateNumber(f64),
    /// An error value (`#REF!`, `#DIV/0!`), usually a formula's result.
    Error(String),
    /// Boolean or an ODS date: shown as written, never a count.
    Other(String),
}

#[derive(Debug, Clone, Default)]
pub struct Entry {
    /// `None`: empty (including a formula whose result was never stored).
    pub value: Option<Value>,
    pub formula: bool,
}

#[derive(Debug, Clone, Default)]
pub struct Sheet {
    pub name: String,
    pub cells: BTreeMap<(u32, u32), Entry>,
}

impl Sheet {
    pub fn get(&self, row: u32, col: u32) -> Option<&Entry> {
        self.cells.get(&(row, col))
    }

    /// The non-empty-or-formula cells of one row, left to right.
    pub fn row(&self, row: u32) -> impl Iterator<Item = (u32, &Entry)> {
        self.cells
            .range((row, 0)..=(row, u32::MAX))
            .map(|(&(_, c), e)| (c, e))
    }

    pub fn rows(&self) -> Vec<u32> {
        let mut rows: Vec<u32> = self.cells.keys().map(|&(r, _)| r).collect();
        rows.dedup();
        rows
    }

    fn put(&mut self, pos: (u32, u32), value: Option<Value>, formula: bool, limits: &TableLimits) {
        if pos.0 >= limits.max_rows || pos.1 >= limits.max_cols || (value.is_none() && !formula) {
            return;
        }
        let e = self.cells.entry(pos).or_default();
        if value.is_some() {
            e.value = value;
        }
        e.formula |= formula;
    }
}

fn convert(d: Data) -> Option<Value> {
    match d {
        Data::Empty => None,
        Data::Int(i) => Some(Value::Number(i as f64)),
        Data::Float(f) => Some(Value::Number(f)),
        Data::String(s) if s.trim().is_empty() => None,
        Data::String(s) => Some(Value::Text(s)),
        Data::Bool(b) => Some(Value::Other(if b { "TRUE" } else { "FALSE" }.into())),
        Data::Error(e) => Some(Value::Error(e.to_string())),
        Data::DateTime(d) => Some(Value::DateNumber(d.as_f64())),
        Data::DateTimeIso(s) | Data::DurationIso(s) => Some(Value::Other(s)),
    }
}

/// An open workbook: sheet names, and each sheet loaded on demand.
pub enum Book<'a> {
    Xlsx(Box<Xlsx<Cursor<&'a [u8]>>>),
    Xls(Box<Xls<Cursor<&'a [u8]>>>),
    Ods(Box<Ods<Cursor<&'a [u8]>>>),
}

/// Why a file could not be read: the sentence the unit reads, and the parser's own words for
/// the coordinator's log.
#[derive(Debug, Clone)]
pub struct Failure {
    pub reason: String,
    pub detail: Option<String>,
}

impl From<String> for Failure {
    fn from(reason: String) -> Self {
        Failure {
            reason,
            detail: None,
        }
    }
}

fn guarded<T>(f: impl FnOnce() -> Result<T, Failure>) -> Result<T, Failure> {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|_| {
        Err(Failure {
            reason: "文件内容异常，解析时出错，无法读取；请用Excel或WPS打开后重新保存再发送".into(),
            detail: Some("parser panicked".into()),
        })
    })
}

fn reason(e: impl std::fmt::Display, password: bool) -> Failure {
    Failure {
        reason: if password {
            "文件设有密码保护，无法读取；请取消密码后重新发送".into()
        } else {
            "文件已损坏或不是有效的表格文件，无法读取；请用Excel或WPS打开后重新保存再发送".into()
        },
        detail: Some(e.to_string()),
    }
}

impl<'a> Book<'a> {
    pub fn open(bytes: &'a [u8], format: SheetFormat) -> Result<Self, Failure> {
        guarded(|| {
            let c = Cursor::new(bytes);
            Ok(match format {
                SheetFormat::Xlsx => Book::Xlsx(Box::new(Xlsx::new(c).map_err(|e| {
                    let p = matches!(e, XlsxError::Password);
                    reason(e, p)
                })?)),
                SheetFormat::Xls => Book::Xls(Box::new(Xls::new(c).map_err(|e| {
                    let p = matches!(e, calamine::XlsError::Password);
                    reason(e, p)
                })?)),
                SheetFormat::Ods => Book::Ods(Box::new(Ods::new(c).map_err(|e| {
                    let p = matches!(e, calamine::OdsError::Password);
                    reason(e, p)
                })?)),
            })
        })
    }

    pub fn sheet_names(&self) -> Vec<String> {
        match self {
            Book::Xlsx(b) => b.sheet_names(),
            Book::Xls(b) => b.sheet_names(),
            Book::Ods(b) => b.sheet_names(),
        }
    }

    /// One sheet's cells within the limits. `Ok(None)`: not a worksheet (a chart sheet).
    pub fn sheet(&mut self, name: &str, limits: &TableLimits) -> Result<Option<Sheet>, Failure> {
        guarded(|| {
            let mut sheet = Sheet {
                name: name.to_string(),
                ..Sheet::default()
            };
            match self {
                // Streamed cell by cell: building calamine's dense Range would allocate the
                // whole rectangle the cells span, however far apart they are.
                Book::Xlsx(b) => {
                    let mut r = match b.worksheet_cells_reader(name) {
                        Ok(r) => r,
                        Err(XlsxError::NotAWorksheet(_)) => return Ok(None),
                        Err(e) => return Err(reason(e, false)),
                    };
                    while let Some(c) = r.next_cell_with_formula().map_err(|e| reason(e, false))? {
                        // Rows are stored in ascending order (ECMA-376 §18.3.1.73), so nothing
                        // within the limits follows the first row past them.
                        if c.pos.0 >= limits.max_rows {
                            break;
                        }
                        let formula = c.formula.is_some_and(|f| !f.trim().is_empty());
                        sheet.put(c.pos, convert(c.value.into()), formula, limits);
                    }
                }
                Book::Xls(b) => {
                    let v = b.worksheet_range(name).map_err(|e| reason(e, false))?;
                    let f = b.worksheet_formula(name).map_err(|e| reason(e, false))?;
                    fill(&mut sheet, v, f, limits);
                }
                Book::Ods(b) => {
                    let v = b.worksheet_range(name).map_err(|e| reason(e, false))?;
                    let f = b.worksheet_formula(name).map_err(|e| reason(e, false))?;
                    fill(&mut sheet, v, f, limits);
                }
            }
            Ok(Some(sheet))
        })
    }
}

fn fill(sheet: &mut Sheet, values: Range<Data>, formulas: Range<String>, limits: &TableLimits) {
    let in_limits = |r: u32, c: u32| r < limits.max_rows && c < limits.max_cols;
    if let Some((r0, c0)) = values.start() {
        for (r, c, d) in values.used_cells() {
            let (r, c) = (r0 + r as u32, c0 + c as u32);
            if in_limits(r, c) {
                sheet.put((r, c), convert(d.clone()), false, limits);
            }
        }
    }
    if let Some((r0, c0)) = formulas.start() {
        for (r, c, f) in formulas.used_cells() {
            let (r, c) = (r0 + r as u32, c0 + c as u32);
            if in_limits(r, c) && !f.trim().is_empty() {
                sheet.put((r, c), None, true, limits);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use calamine::{CellErrorType, ExcelDateTime, ExcelDateTimeType};

    #[test]
    fn a_date_formatted_number_keeps_its_number_and_an_error_stays_an_error() {
        let d = ExcelDateTime::new(45.0, ExcelDateTimeType::DateTime, false);
        assert_eq!(convert(Data::DateTime(d)), Some(Value::DateNumber(45.0)));
        assert_eq!(
            convert(Data::Error(CellErrorType::Ref)),
            Some(Value::Error("#REF!".into()))
        );
    }
}
