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

/// The default template, as the shipped configuration file carries it under `[table]`.
/// Inline tables keep it pasteable under that header unchanged (no `[[...]]` sections).
pub const DEFAULT_TEMPLATE_TOML: &str = r#"title_keyword = "科技活动周"
header_label = "统计指标"
value_label = "数量"
unit_label = "填报单位"
indicators = [
  { key = "activities_total", label = "举办科技活动总数", unit = "项", kind = "integer", required = true },
  { key = "activities_online", label = "其中：线上活动", unit = "项", kind = "integer", at_most = "activities_total" },
  { key = "activities_offline", label = "其中：线下活动", unit = "项", kind = "integer", at_most = "activities_total" },
  { key = "participants_total", label = "参与公众人数", unit = "人次", kind = "integer", required = true },
  { key = "participants_youth", label = "其中：青少年参与人数", unit = "人次", kind = "integer", at_most = "participants_total" },
  { key = "scientists", label = "参与科技工作者人数", unit = "人次", kind = "integer" },
  { key = "organisations", label = "参与单位数", unit = "个", kind = "integer" },
  { key = "venues_opened", label = "开放科普场馆（基地）数", unit = "个", kind = "integer" },
  { key = "materials", label = "发放科普资料", unit = "份", kind = "integer" },
  { key = "media_reports", label = "媒体报道数", unit = "篇", kind = "integer" },
  { key = "new_media_reach", label = "新媒体传播量（直播、短视频、H5）", unit = "次", kind = "integer" },
  { key = "funding", label = "投入经费", unit = "万元", kind = { decimal = { places = 2 } } },
  { key = "flagship_events", label = "重点示范活动数", unit = "项", kind = "integer", at_most = "activities_total" },
]
text_rows = [
  { key = "flagship_text", label = "重点示范活动名称及简介", required_when_positive = "flagship_events", missing_code = "table.flagship_text_missing" },
]
sum_rules = [
  { total = "activities_total", parts = ["activities_online", "activities_offline"] },
]
"#;

impl TableTemplate {
    /// The 2023 Taiyuan Science and Technology Week table (contract §4).
    pub fn taiyuan_2023() -> Self {
        let ind =
            |key: &str, label: &str, unit: &str, required: bool, at_most: Option<&str>| Indicator {
                key: key.into(),
                label: label.into(),
                unit: unit.into(),
                kind: ValueKind::Integer,
                required,
                at_most: at_most.map(Into::into),
            };
        let mut funding = ind("funding", "投入经费", "万元", false, None);
        funding.kind = ValueKind::Decimal { places: 2 };
        TableTemplate {
            title_keyword: "科技活动周".into(),
            header_label: "统计指标".into(),
            value_label: "数量".into(),
            unit_label: "填报单位".into(),
            indicators: vec![
                ind("activities_total", "举办科技活动总数", "项", true, None),
                ind(
                    "activities_online",
                    "其中：线上活动",
                    "项",
                    false,
                    Some("activities_total"),
                ),
                ind(
                    "activities_offline",
                    "其中：线下活动",
                    "项",
                    false,
                    Some("activities_total"),
                ),
                ind("participants_total", "参与公众人数", "人次", true, None),
                ind(
                    "participants_youth",
                    "其中：青少年参与人数",
                    "人次",
                    false,
                    Some("participants_total"),
                ),
                ind("scientists", "参与科技工作者人数", "人次", false, None),
                ind("organisations", "参与单位数", "个", false, None),
                ind("venues_opened", "开放科普场馆（基地）数", "个", false, None),
                ind("materials", "发放科普资料", "份", false, None),
                ind("media_reports", "媒体报道数", "篇", false, None),
                ind(
                    "new_media_reach",
                    "新媒体传播量（直播、短视频、H5）",
                    "次",
                    false,
                    None,
                ),
                funding,
                ind(
                    "flagship_events",
                    "重点示范活动数",
                    "项",
                    false,
                    Some("activities_total"),
                ),
            ],
            text_rows: vec![TextRow {
                key: "flagship_text".into(),
                label: "重点示范活动名称及简介".into(),
                required_when_positive: Some("flagship_events".into()),
                missing_code: "table.flagship_text_missing".into(),
            }],
            sum_rules: vec![SumRule {
                total: "activities_total".into(),
                parts: vec!["activities_online".into(), "activities_offline".into()],
            }],
        }
    }
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
