//! The statistics-table template as configuration (contract §4 as data), and the limits that keep
//! a hostile spreadsheet from exhausting memory.

use serde::{Deserialize, Serialize};

/// What the checker looks for in a statistics table. Another campaign supplies its own.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TableTemplate {
    /// Part of the title cell, e.g. `科技活动周`; the title must also hold the campaign year.
    pub title_keyword: String,
    /// Header of the column holding the indicator labels.
    pub header_label: String,
    /// Header of the column holding the values.
    pub value_label: String,
    /// Label of the cell whose right-hand neighbour names the reporting unit.
    pub unit_label: String,
    pub indicators: Vec<Indicator>,
    #[serde(default)]
    pub text_rows: Vec<TextRow>,
    #[serde(default)]
    pub sum_rules: Vec<SumRule>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Indicator {
    pub key: String,
    pub label: String,
    /// The unit printed in the template; a value written with it (`120项`) is accepted.
    pub unit: String,
    pub kind: ValueKind,
    #[serde(default)]
    pub required: bool,
    /// Key of the total this value is part of (`其中` rows).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at_most: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ValueKind {
    Integer,
    Decimal { places: u8 },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TextRow {
    pub key: String,
    pub label: String,
    /// Indicator key: the text is required when that indicator is above zero.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub required_when_positive: Option<String>,
    pub missing_code: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SumRule {
    pub total: String,
    pub parts: Vec<String>,
}

impl TableTemplate {
    /// No table: the template of a campaign that asks for none (it is never read).
    pub fn empty() -> Self {
        TableTemplate {
            title_keyword: String::new(),
            header_label: String::new(),
            value_label: String::new(),
            unit_label: String::new(),
            indicators: Vec::new(),
            text_rows: Vec::new(),
            sum_rules: Vec::new(),
        }
    }
}

/// Bounds on what one spreadsheet may cost. A file over them is unreadable, never a crash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TableLimits {
    /// Rows looked at per sheet; cells below are ignored.
    pub max_rows: u32,
    /// Columns looked at per sheet; cells to the right are ignored.
    pub max_cols: u32,
    /// Sheets searched for the header; later sheets are ignored.
    pub max_sheets: usize,
    /// Declared uncompressed size of all parts of an xlsx/ods together, and the memory budget
    /// for the cell grid the parser would build for an xls/ods.
    pub max_unzipped_bytes: u64,
}

impl Default for TableLimits {
    fn default() -> Self {
        TableLimits {
            max_rows: 2000,
            max_cols: 100,
            max_sheets: 20,
            max_unzipped_bytes: 64 * 1024 * 1024,
        }
    }
}
