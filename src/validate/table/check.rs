//! The §4 rules on one sheet: everything is found by label, never by cell address, because units
//! insert rows, delete the 序号 column and retype labels.

use super::grid::{Sheet, Value};
use super::numbers::{self, Reading};
use super::template::{Indicator, TableTemplate, ValueKind};
use super::text::{find_year, label_match, normalize, shown, value_after_label, Match};
use crate::problem::Problem;
use serde_json::Value as Json;
use std::collections::{BTreeMap, BTreeSet};

pub struct Found {
    pub unit_text: Option<String>,
    pub values: BTreeMap<String, Json>,
    pub problems: Vec<Problem>,
    /// How much of the table is filled in (indicator values written, the unit named): of two
    /// sheets holding the template, a blank copy and the filled one, the filled one is read.
    pub filled: usize,
}

/// A label as it reads inside a sentence: `其中：青少年参与人数` is a row heading in the table,
/// but "其中：青少年参与人数（第9行）为12.5" reads as if the colon began a quotation.
pub fn in_sentence(label: &str) -> &str {
    let l = label.trim_start();
    ["其中：", "其中:", "其中"]
        .iter()
        .find_map(|p| l.strip_prefix(p))
        .map(str::trim_start)
        .filter(|rest| !rest.is_empty())
        .unwrap_or(label)
}

fn text_of(sheet: &Sheet, r: u32, c: u32) -> Option<&str> {
    match sheet.get(r, c)?.value.as_ref()? {
        Value::Text(s) => Some(s),
        _ => None,
    }
}

/// The value as the unit wrote it, for messages.
fn written(v: &Value) -> String {
    match v {
        Value::Number(f) | Value::DateNumber(f) => format!("{f}"),
        Value::Text(s) | Value::Error(s) | Value::Other(s) => shown(s),
    }
}

/// One row's header cells: the 统计指标 column, and each 数量-like column with its match.
type HeaderCells = (Option<u32>, Vec<(u32, Match)>);

/// Where the header is: its row, the label column and the value column. A header typed on two
/// rows (统计指标 merged over both, 数量 under a group heading) counts as one, on its lower row.
fn find_header(sheet: &Sheet, t: &TableTemplate) -> Option<(u32, u32, u32)> {
    let (hl, vl) = (normalize(&t.header_label), normalize(&t.value_label));
    let scan = |r: u32| -> HeaderCells {
        let mut label_col = None;
        let mut value_cols: Vec<(u32, Match)> = Vec::new();
        for (c, e) in sheet.row(r) {
            let Some(Value::Text(s)) = &e.value else {
                continue;
            };
            let n = normalize(s);
            if label_col.is_none() && label_match(&n, &hl).is_some() {
                label_col = Some(c);
            } else if let Some(m) = label_match(&n, &vl) {
                value_cols.push((c, m));
            }
        }
        (label_col, value_cols)
    };
    let mut previous: Option<(u32, HeaderCells)> = None;
    for r in sheet.rows() {
        let (mut label_col, mut value_cols) = scan(r);
        // Only one half of the header on this row: the other may be on the row above.
        let half = label_col.is_some() == value_cols.is_empty();
        if let Some((_, (pl, pv))) = previous.take().filter(|(pr, _)| half && pr + 1 == r) {
            if label_col.is_none() {
                label_col = pl;
            } else {
                value_cols = pv;
            }
        }
        if let Some(lc) = label_col {
            // Several 数量-like columns (`2022年数量`, `数量（2022年）`): the exact header right
            // of the labels is the template's.
            let pick = [Match::Exact, Match::Prefix].into_iter().find_map(|want| {
                let of = |&&(c, m): &&(u32, Match)| m == want && c > lc;
                let any = |&&(_, m): &&(u32, Match)| m == want;
                value_cols
                    .iter()
                    .find(of)
                    .or_else(|| value_cols.iter().find(any))
            });
            if let Some(&(vc, _)) = pick {
                return Some((r, lc, vc));
            }
        }
        previous = Some((r, (label_col, value_cols)));
    }
    None
}

pub fn check_sheet(sheet: &Sheet, t: &TableTemplate, campaign_year: i32) -> Option<Found> {
    let (header_row, label_col, value_col) = find_header(sheet, t)?;
    let name = &sheet.name;
    let mut problems = Vec::new();
    let mut values = BTreeMap::new();

    check_title(sheet, t, header_row, campaign_year, &mut problems);
    let unit_text = find_unit(sheet, t, &mut problems);

    // Label of each row below the header: the 统计指标 column, else (a row typed into another
    // column or merged leftwards) the first text left of the value column.
    let mut row_labels: Vec<(u32, String)> = Vec::new();
    for r in sheet.rows().into_iter().filter(|&r| r > header_row) {
        let text = text_of(sheet, r, label_col).or_else(|| {
            sheet
                .row(r)
                .filter(|&(c, _)| c < value_col)
                .find_map(|(c, _)| text_of(sheet, r, c))
        });
        if let Some(s) = text {
            row_labels.push((r, normalize(s)));
        }
    }
    let mut assigned: BTreeMap<usize, u32> = BTreeMap::new();
    let mut taken: BTreeSet<u32> = BTreeSet::new();
    for wanted in [Match::Exact, Match::Prefix] {
        for (i, ind) in t.indicators.iter().enumerate() {
            if assigned.contains_key(&i) {
                continue;
            }
            let l = normalize(&ind.label);
            let hit = row_labels
                .iter()
                .find(|(r, s)| !taken.contains(r) && label_match(s, &l) == Some(wanted));
            if let Some(&(r, _)) = hit {
                assigned.insert(i, r);
                taken.insert(r);
            }
        }
    }

    // Values that were written (not defaulted), for the consistency rules.
    let mut written_rows: BTreeMap<&str, (u32, f64)> = BTreeMap::new();
    for (i, ind) in t.indicators.iter().enumerate() {
        let Some(&r) = assigned.get(&i) else {
            if ind.required {
                problems.push(Problem::error(
                    "table.missing_value",
                    format!("工作表“{name}”中未找到“{}”一行，该项为必填", ind.label),
                ));
            } else {
                values.insert(ind.key.clone(), zero(ind));
            }
            continue;
        };
        let at = format!("{}（工作表“{name}”第{}行）", in_sentence(&ind.label), r + 1);
        match read_value(sheet, r, value_col, ind, &at, &mut problems) {
            Cell::Value(v) => {
                values.insert(ind.key.clone(), json(ind, v));
                written_rows.insert(&ind.key, (r, v));
            }
            Cell::Empty if !ind.required => {
                values.insert(ind.key.clone(), zero(ind));
            }
            Cell::Empty => problems.push(Problem::error(
                "table.missing_value",
                format!("{at}未填写，该项为必填"),
            )),
            Cell::Invalid => {}
        }
    }

    let label_of = |key: &str| {
        t.indicators
            .iter()
            .find(|i| i.key == key)
            .map_or(key.to_string(), |i| in_sentence(&i.label).to_string())
    };
    for ind in &t.indicators {
        let Some(total_key) = &ind.at_most else {
            continue;
        };
        if let (Some(&(r, v)), Some(&(tr, tv))) = (
            written_rows.get(ind.key.as_str()),
            written_rows.get(total_key.as_str()),
        ) {
            if v > tv + 1e-9 {
                problems.push(Problem::error(
                    "table.subtotal_exceeds_total",
                    format!(
                        "{}（工作表“{name}”第{}行）为{v}，大于{}（第{}行）的{tv}",
                        in_sentence(&ind.label),
                        r + 1,
                        label_of(total_key),
                        tr + 1
                    ),
                ));
            }
        }
    }
    for rule in &t.sum_rules {
        let parts: Option<Vec<f64>> = rule
            .parts
            .iter()
            .map(|p| written_rows.get(p.as_str()).map(|&(_, v)| v))
            .collect();
        if let (Some(parts), Some(&(tr, tv))) = (parts, written_rows.get(rule.total.as_str())) {
            let sum: f64 = parts.iter().sum();
            if (sum - tv).abs() > 1e-6 {
                let names: Vec<String> = rule.parts.iter().map(|p| label_of(p)).collect();
                problems.push(Problem::warning(
                    "table.sum_mismatch",
                    format!(
                        "工作表“{name}”中{}之和为{sum}，与{}（第{}行）的{tv}不一致",
                        names.join("与"),
                        label_of(&rule.total),
                        tr + 1
                    ),
                ));
            }
        }
    }

    for tr in &t.text_rows {
        let found = find_text_row(sheet, &normalize(&tr.label), header_row);
        if let Some(s) = &found {
            values.insert(tr.key.clone(), Json::String(s.clone()));
        }
        let positive = tr.required_when_positive.as_ref().and_then(|k| {
            written_rows
                .get(k.as_str())
                .filter(|(_, v)| *v > 0.0)
                .map(|_| label_of(k))
        });
        if let (None, Some(because)) = (&found, positive) {
            problems.push(Problem::warning(
                &tr.missing_code,
                format!("工作表“{name}”中{}大于0，但“{}”未填写", because, tr.label),
            ));
        }
    }

    let filled = assigned
        .values()
        .filter(|&&r| sheet.get(r, value_col).is_some())
        .count()
        + usize::from(unit_text.is_some());
    Some(Found {
        unit_text,
        values,
        problems,
        filled,
    })
}

fn zero(ind: &Indicator) -> Json {
    match ind.kind {
        ValueKind::Integer => Json::from(0i64),
        ValueKind::Decimal { .. } => Json::from(0.0f64),
    }
}

/// Decimals arrive already rounded to their places.
fn json(ind: &Indicator, v: f64) -> Json {
    match ind.kind {
        ValueKind::Integer => Json::from(v.round() as i64),
        ValueKind::Decimal { .. } => Json::from(v),
    }
}

enum Cell {
    Value(f64),
    Empty,
    /// A problem was reported.
    Invalid,
}

fn read_value(
    sheet: &Sheet,
    r: u32,
    c: u32,
    ind: &Indicator,
    at: &str,
    problems: &mut Vec<Problem>,
) -> Cell {
    let entry = sheet.get(r, c);
    let Some(v) = entry.and_then(|e| e.value.as_ref()) else {
        if entry.is_some_and(|e| e.formula) {
            problems.push(Problem::error(
                "table.formula_without_value",
                format!("{at}是公式但没有保存计算结果，请在Excel或WPS中打开、确认数值后重新保存"),
            ));
            return Cell::Invalid;
        }
        return Cell::Empty;
    };
    let shown_v = written(v);
    if let Value::Error(e) = v {
        let what = if entry.is_some_and(|e| e.formula) {
            "公式的计算结果为错误值"
        } else {
            "填写为错误值"
        };
        problems.push(Problem::error(
            "table.not_a_number",
            format!("{at}{what}“{}”，请修正公式或直接填写数字", shown(e)),
        ));
        return Cell::Invalid;
    }
    let reading: Option<Reading> = match v {
        // The unit typed a number; the cell's date format only changes how Excel shows it
        // (the warning below says so).
        Value::Number(f) | Value::DateNumber(f) => numbers::from_float(*f),
        Value::Text(s) => numbers::parse_text(s, &ind.unit),
        Value::Error(_) | Value::Other(_) => None,
    };
    let Some(reading) = reading else {
        let hint = match v {
            Value::Text(t) if numbers::is_none_word(t) => "，没有请填写0",
            _ => "",
        };
        problems.push(Problem::error(
            "table.not_a_number",
            format!("{at}填写为“{shown_v}”，应填写数字{hint}"),
        ));
        return Cell::Invalid;
    };
    if reading.value < 0.0 {
        problems.push(Problem::error(
            "table.negative",
            format!("{at}填写为“{shown_v}”，不能为负数"),
        ));
        return Cell::Invalid;
    }
    let value = match ind.kind {
        ValueKind::Integer if !reading.is_whole => {
            problems.push(Problem::error(
                "table.not_integer",
                format!("{at}填写为“{shown_v}”，应为整数"),
            ));
            return Cell::Invalid;
        }
        ValueKind::Integer => reading.value.round(),
        ValueKind::Decimal { places } => {
            let p = 10f64.powi(i32::from(places.min(15)));
            (reading.value * p).round() / p
        }
    };
    if matches!(v, Value::DateNumber(_)) {
        problems.push(Problem::warning(
            "table.number_normalized",
            format!(
                "{at}填写为“{shown_v}”，但该单元格格式为日期或时间，表中显示为日期；已按{value}{}计，请将该单元格格式改为“常规”或“数值”",
                ind.unit
            ),
        ));
    } else if reading.normalized {
        problems.push(Problem::warning(
            "table.number_normalized",
            format!("{at}填写为“{shown_v}”，已按{value}{}计", ind.unit),
        ));
    }
    Cell::Value(value)
}

/// The 填报单位 value: in the label's own cell after the colon, else the first non-empty cell to
/// its right, unless that cell is the next label (`填报日期：`) of a blank template.
fn find_unit(sheet: &Sheet, t: &TableTemplate, problems: &mut Vec<Problem>) -> Option<String> {
    let label = normalize(&t.unit_label);
    let name = &sheet.name;
    let hit = sheet.cells.iter().find_map(|(&(r, c), e)| match &e.value {
        Some(Value::Text(s)) if normalize(s).starts_with(&label) => Some((r, c, s.clone())),
        _ => None,
    });
    let Some((r, c, own)) = hit else {
        problems.push(Problem::error(
            "table.unit_missing",
            format!("工作表“{name}”中未找到“{}”一栏", t.unit_label),
        ));
        return None;
    };
    let value = value_after_label(&own, &label).or_else(|| {
        let (_, e) = sheet.row(r).find(|&(cc, e)| cc > c && e.value.is_some())?;
        let v = match e.value.as_ref()? {
            Value::Text(s) => s.trim().to_string(),
            other => written(other),
        };
        let n = normalize(&v);
        (!n.ends_with(':')).then_some(v)
    });
    if value.is_none() {
        problems.push(Problem::error(
            "table.unit_missing",
            format!("工作表“{name}”第{}行“{}”未填写", r + 1, t.unit_label),
        ));
    }
    value
}

/// The title above the header: a cell holding the keyword; its year (or one elsewhere on that
/// row) must be the campaign's. A sheet without a title passes: the header already identifies
/// the template.
fn check_title(
    sheet: &Sheet,
    t: &TableTemplate,
    header_row: u32,
    campaign_year: i32,
    problems: &mut Vec<Problem>,
) {
    let kw = normalize(&t.title_keyword);
    let title = sheet.cells.iter().find_map(|(&(r, _), e)| match &e.value {
        Some(Value::Text(s)) if r < header_row && normalize(s).contains(&kw) => Some((r, s)),
        _ => None,
    });
    let Some((r, title)) = title else { return };
    let year = find_year(&normalize(title)).or_else(|| {
        sheet.row(r).find_map(|(_, e)| match &e.value {
            Some(Value::Text(s)) => find_year(&normalize(s)),
            _ => None,
        })
    });
    if let Some(y) = year.filter(|&y| y != campaign_year) {
        problems.push(Problem::error(
            "table.wrong_year",
            format!(
                "工作表“{}”的标题为“{}”，年份{y}与本次活动的{campaign_year}年不符，请使用{campaign_year}年的统计表",
                sheet.name,
                shown(title)
            ),
        ));
    }
}

/// A free-text row: its label in any column; the text after the label in the same cell, or in
/// the first non-empty cell to the right.
fn find_text_row(sheet: &Sheet, label: &str, header_row: u32) -> Option<String> {
    let (r, c, own) = sheet.cells.iter().find_map(|(&(r, c), e)| match &e.value {
        Some(Value::Text(s)) if r > header_row && label_match(&normalize(s), label).is_some() => {
            Some((r, c, s.clone()))
        }
        _ => None,
    })?;
    value_after_label(&own, label).or_else(|| {
        let (_, e) = sheet.row(r).find(|&(cc, e)| cc > c && e.value.is_some())?;
        match e.value.as_ref()? {
            Value::Text(s) => Some(s.trim().to_string()),
            other => Some(written(other)),
        }
    })
}

#[cfg(test)]
mod tests {

    #[test]
    fn a_sub_indicator_reads_without_its_prefix_inside_a_sentence() {
        assert_eq!(in_sentence("其中：青少年参与人数"), "青少年参与人数");
        assert_eq!(in_sentence("其中: 线上活动"), "线上活动");
        assert_eq!(in_sentence("参与公众人数"), "参与公众人数");
        // A label that is only the prefix keeps it rather than vanish.
        assert_eq!(in_sentence("其中："), "其中：");
    }

    use super::*;
    use crate::validate::table::grid::Entry;

    fn sheet(cells: &[(u32, u32, &str)]) -> Sheet {
        let mut s = Sheet {
            name: "统计表".into(),
            ..Sheet::default()
        };
        for &(r, c, t) in cells {
            s.cells.insert(
                (r, c),
                Entry {
                    value: Some(Value::Text(t.into())),
                    formula: false,
                },
            );
        }
        s
    }

    /// The template the shipped configuration carries: no campaign's table is built into the code.
    fn shipped() -> TableTemplate {
        #[derive(serde::Deserialize)]
        struct Shipped {
            table: TableTemplate,
        }
        let file: Shipped = toml::from_str(include_str!("../../../config/reportbox.toml")).unwrap();
        file.table
    }

    #[test]
    fn the_exact_value_header_wins_over_one_that_only_begins_with_it() {
        let t = shipped();
        let s = sheet(&[(3, 1, "统计指标"), (3, 2, "数量（2022年）"), (3, 3, "数量")]);
        assert_eq!(find_header(&s, &t), Some((3, 1, 3)));
        let s = sheet(&[(3, 1, "统计指标"), (3, 2, "2022年数量"), (3, 3, "数 量")]);
        assert_eq!(find_header(&s, &t), Some((3, 1, 3)));
    }

    #[test]
    fn a_header_split_over_two_adjacent_rows_is_one_header() {
        let t = shipped();
        let s = sheet(&[(3, 1, "统计指标"), (3, 3, "2023年"), (4, 3, "数量")]);
        assert_eq!(find_header(&s, &t), Some((4, 1, 3)));
        let s = sheet(&[(3, 3, "数量"), (4, 1, "统计指标")]);
        assert_eq!(find_header(&s, &t), Some((4, 1, 3)));
        // Not adjacent: two unrelated cells are no header.
        let s = sheet(&[(1, 1, "统计指标说明"), (5, 3, "数量")]);
        assert_eq!(find_header(&s, &t), None);
    }
}
