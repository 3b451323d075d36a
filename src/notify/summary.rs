//! 汇总表.xlsx, attached to the daily status email and printed by the coordinator: every roster
//! unit's statistics table in one sheet with a totals row, and every unit's status, contact and
//! problems in a second. Every unit has its row in both, so a unit that sent nothing is seen as
//! missing rather than silently left out of the totals.

use super::compose::Context;
use crate::problem::ItemState;
use crate::status::{Status, UnitStatus, UnitView};
use crate::validate::table::ValueKind;
use rust_xlsxwriter::{
    Color, DocProperties, ExcelDateTime, Format, FormatAlign, FormatBorder, Workbook, Worksheet,
    XlsxError,
};
use std::collections::HashMap;

/// The 问题 column of the second sheet, in characters of the default font.
const PROBLEM_WIDTH: u16 = 60;

/// The free-text columns of the first sheet (重点示范活动名称及简介).
const TEXT_WIDTH: u16 = 30;

/// A4, in the `paperSize` numbering of the file format.
const A4: u8 = 9;

/// Why a unit's row has no figures, and its fill.
fn mark(unit: &UnitView, table: Option<&str>) -> Option<(&'static str, u32)> {
    if unit.status == UnitStatus::Exempt {
        return Some(("免报", 0xEEEEEE));
    }
    match table.map(|k| unit.items[k].state) {
        Some(ItemState::Valid) => None,
        Some(ItemState::NeedsReview) => Some(("待审核", 0xFFF1CC)),
        Some(ItemState::Invalid) => Some(("不合格", 0xFFE3D1)),
        Some(ItemState::Missing) | None => Some(("未报送", 0xFDE2E0)),
    }
}

fn state_fill(s: UnitStatus) -> u32 {
    match s {
        UnitStatus::Complete => 0xE3F4E8,
        UnitStatus::NeedsReview => 0xFFF1CC,
        UnitStatus::Incomplete => 0xFFE3D1,
        UnitStatus::Missing => 0xFDE2E0,
        UnitStatus::Exempt => 0xEEEEEE,
    }
}

/// The number format of an indicator: thousands separated, as many decimals as it allows.
fn num_format(kind: &ValueKind) -> String {
    match kind {
        ValueKind::Decimal { places } if *places > 0 => {
            format!("#,##0.{}", "0".repeat(usize::from(*places)))
        }
        _ => "#,##0".to_string(),
    }
}

/// Rows of a wrapped cell `width` characters wide holding `lines`: written out, because neither
/// Excel nor LibreOffice grows a row to its wrapped text when the file is opened.
fn wrapped_rows(lines: &[String], width: usize) -> usize {
    use unicode_width::UnicodeWidthStr;
    lines
        .iter()
        .map(|l| l.width().div_ceil(width.max(1)).max(1))
        .sum::<usize>()
        .max(1)
}

fn cell() -> Format {
    Format::new()
        .set_border(FormatBorder::Thin)
        .set_align(FormatAlign::VerticalCenter)
}

/// A4 landscape, one page wide, the title and header rows on every page.
fn print_setup(sheet: &mut Worksheet, campaign: &str) -> Result<(), XlsxError> {
    sheet.set_paper_size(A4);
    sheet.set_landscape();
    sheet.set_print_fit_to_pages(1, 0);
    sheet.set_repeat_rows(0, 1)?;
    sheet.set_print_center_horizontally(true);
    sheet.set_margins(0.4, 0.4, 0.6, 0.6, 0.3, 0.3);
    sheet.set_footer(format!(
        "&L{}&R第 &P 页，共 &N 页",
        campaign.replace('&', "&&")
    ));
    Ok(())
}

fn title(sheet: &mut Worksheet, text: &str, last_col: u16) -> Result<(), XlsxError> {
    let f = Format::new()
        .set_bold()
        .set_font_size(16)
        .set_align(FormatAlign::Center)
        .set_align(FormatAlign::VerticalCenter);
    sheet.merge_range(0, 0, 0, last_col, text, &f)?;
    sheet.set_row_height(0, 30)?;
    Ok(())
}

/// Builds the workbook. `values` maps unit ids to the values of their valid statistics table.
pub fn workbook(
    settings: &Context<'_>,
    status: &Status,
    values: &HashMap<String, serde_json::Value>,
) -> Result<Vec<u8>, XlsxError> {
    let mut wb = Workbook::new();
    // The file says it was made when its status was taken, not when it was written: the same
    // records give the same bytes (`export` run twice leaves the same tree).
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(&status.generated_at) {
        use chrono::{Datelike, Timelike};
        let t = t.naive_utc();
        let created = ExcelDateTime::from_ymd(t.year() as u16, t.month() as u8, t.day() as u8)
            .and_then(|d| d.and_hms(t.hour() as u16, t.minute() as u8, t.second()));
        if let Ok(created) = created {
            wb.set_properties(&DocProperties::new().set_creation_datetime(&created));
        }
    }
    let head = cell()
        .set_bold()
        .set_text_wrap()
        .set_align(FormatAlign::Center)
        .set_background_color(Color::RGB(0xDDE4F0));
    let text = cell();
    let wrap = cell().set_text_wrap();
    let numbers: Vec<Format> = settings
        .table
        .indicators
        .iter()
        .map(|i| cell().set_num_format(num_format(&i.kind)))
        .collect();
    let campaign = &settings.campaign.name;
    let at = chrono::DateTime::parse_from_rfc3339(&status.generated_at)
        .map(|t| super::compose::time_zh(&t, settings))
        .unwrap_or_default();
    let indicators = &settings.table.indicators;
    let table_item = settings.campaign.table_item().map(|i| i.key.as_str());

    let sheet = wb.add_worksheet();
    sheet.set_name("汇总表")?;
    let first_ind = 3u16;
    let text_col = first_ind + indicators.len() as u16;
    let last_col = text_col + settings.table.text_rows.len() as u16 - 1;
    title(
        sheet,
        &format!("{campaign}开展情况统计汇总表（截至{at}）"),
        last_col,
    )?;
    sheet.write_string_with_format(1, 0, "序号", &head)?;
    sheet.write_string_with_format(1, 1, "单位", &head)?;
    sheet.write_string_with_format(1, 2, "状态", &head)?;
    for (i, ind) in indicators.iter().enumerate() {
        let t = if ind.unit.is_empty() {
            ind.label.clone()
        } else {
            format!("{}（{}）", ind.label, ind.unit)
        };
        sheet.write_string_with_format(1, first_ind + i as u16, &t, &head)?;
        sheet.set_column_width(first_ind + i as u16, 11)?;
    }
    for (j, t) in settings.table.text_rows.iter().enumerate() {
        sheet.write_string_with_format(1, text_col + j as u16, &t.label, &head)?;
        sheet.set_column_width(text_col + j as u16, TEXT_WIDTH)?;
    }
    sheet.set_row_height(1, 48)?;
    let mut totals = vec![0f64; indicators.len()];
    let mut counted = 0usize;
    let mut row = 2u32;
    for (n, u) in status.units.iter().enumerate() {
        sheet.write_number_with_format(row, 0, (n + 1) as f64, &text)?;
        sheet.write_string_with_format(row, 1, &u.name, &text)?;
        let fill = Color::RGB(state_fill(u.status));
        sheet.write_string_with_format(
            row,
            2,
            u.status.label_zh(),
            &text.clone().set_background_color(fill),
        )?;
        let shown = match mark(u, table_item) {
            None => values.get(&u.id),
            Some(_) => None,
        };
        match (shown, mark(u, table_item)) {
            (Some(v), _) => {
                counted += 1;
                for (i, ind) in indicators.iter().enumerate() {
                    let c = first_ind + i as u16;
                    match v.get(&ind.key).and_then(|x| x.as_f64()) {
                        Some(x) => {
                            sheet.write_number_with_format(row, c, x, &numbers[i])?;
                            totals[i] += x;
                        }
                        None => {
                            sheet.write_blank(row, c, &numbers[i])?;
                        }
                    }
                }
                let mut lines = 1;
                for (j, t) in settings.table.text_rows.iter().enumerate() {
                    let s = v.get(&t.key).and_then(|x| x.as_str()).unwrap_or("");
                    sheet.write_string_with_format(row, text_col + j as u16, s, &wrap)?;
                    lines = lines.max(wrapped_rows(&[s.to_string()], TEXT_WIDTH as usize - 2));
                }
                if lines > 1 {
                    sheet.set_row_height(row, 15.0 * lines as f64)?;
                }
            }
            (None, m) => {
                // Every row without figures says why: an empty row would be read as zeros.
                let (word, rgb) = m.unwrap_or(("无数据", 0xEEEEEE));
                let f = cell()
                    .set_align(FormatAlign::Center)
                    .set_font_color(Color::RGB(0x7A1F1A))
                    .set_background_color(Color::RGB(rgb));
                for c in first_ind..=last_col {
                    sheet.write_string_with_format(row, c, word, &f)?;
                }
            }
        }
        row += 1;
    }
    let bold = cell().set_bold().set_background_color(Color::RGB(0xF2F2F2));
    sheet.write_blank(row, 0, &bold)?;
    sheet.write_string_with_format(row, 1, format!("合计（{counted} 个单位）"), &bold)?;
    sheet.write_blank(row, 2, &bold)?;
    for (i, ind) in indicators.iter().enumerate() {
        let total = match ind.kind {
            ValueKind::Decimal { places } => {
                let f = 10f64.powi(i32::from(places));
                (totals[i] * f).round() / f
            }
            _ => totals[i],
        };
        let f = bold.clone().set_num_format(num_format(&ind.kind));
        sheet.write_number_with_format(row, first_ind + i as u16, total, &f)?;
    }
    for c in text_col..=last_col {
        sheet.write_blank(row, c, &bold)?;
    }
    let note = format!(
        "合计只含统计表合格的 {counted} 个单位；共 {} 个单位，其余单位的行注明了原因（未报送、不合格、待审核、免报）。",
        status.units.len()
    );
    sheet.write_string(row + 1, 1, &note)?;
    sheet.set_column_width(0, 5)?;
    sheet.set_column_width(1, 26)?;
    sheet.set_column_width(2, 8)?;
    sheet.set_freeze_panes(2, 2)?;
    sheet.autofilter(1, 0, row - 1, last_col)?;
    print_setup(sheet, campaign)?;

    let sheet = wb.add_worksheet();
    sheet.set_name("报送情况")?;
    let mut header = vec!["序号", "单位", "分组", "状态"];
    header.extend(settings.campaign.items.iter().map(|i| i.label.as_str()));
    header.extend(["联系人", "电话", "最近报送", "逾期", "问题"]);
    let last = header.len() as u16 - 1;
    title(
        sheet,
        &format!("{campaign}各单位报送情况（截至{at}）"),
        last,
    )?;
    for (c, h) in header.iter().enumerate() {
        sheet.write_string_with_format(1, c as u16, *h, &head)?;
    }
    for (n, u) in status.units.iter().enumerate() {
        let r = n as u32 + 2;
        let unit = settings.roster.get(&u.id);
        sheet.write_number_with_format(r, 0, (n + 1) as f64, &text)?;
        sheet.write_string_with_format(r, 1, &u.name, &text)?;
        sheet.write_string_with_format(r, 2, &u.group, &text)?;
        sheet.write_string_with_format(
            r,
            3,
            u.status.label_zh(),
            &text
                .clone()
                .set_background_color(Color::RGB(state_fill(u.status))),
        )?;
        let mut c = 4u16;
        let mut problems = Vec::new();
        for i in &settings.campaign.items {
            let item = &u.items[&i.key];
            sheet.write_string_with_format(r, c, item.state_zh(), &wrap)?;
            problems.extend(
                item.problems
                    .iter()
                    .map(|p| format!("{}（{}）：{}", i.label, p.severity.label_zh(), p.message)),
            );
            c += 1;
        }
        problems.extend(
            u.problems
                .iter()
                .map(|p| format!("（{}）{}", p.severity.label_zh(), p.message)),
        );
        let contact = unit.and_then(|x| x.contact.as_deref()).unwrap_or("");
        let phone = unit.and_then(|x| x.phone.as_deref()).unwrap_or("");
        let last_at = u
            .last_received_at
            .as_deref()
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
            .map(|t| super::compose::time_zh(&t, settings))
            .unwrap_or_default();
        sheet.write_string_with_format(r, c, contact, &text)?;
        sheet.write_string_with_format(r, c + 1, phone, &text)?;
        sheet.write_string_with_format(r, c + 2, &last_at, &text)?;
        sheet.write_string_with_format(r, c + 3, if u.late { "是" } else { "" }, &text)?;
        sheet.write_string_with_format(r, c + 4, problems.join("\n"), &wrap)?;
        if problems.len() > 1 || problems.iter().any(|p| p.chars().count() > 28) {
            let lines = wrapped_rows(&problems, PROBLEM_WIDTH as usize - 2);
            sheet.set_row_height(r, 15.0 * lines as f64)?;
        }
    }
    sheet.set_column_width(0, 5)?;
    sheet.set_column_width(1, 26)?;
    sheet.set_column_width(2, 17)?;
    sheet.set_column_width(3, 8)?;
    let items = settings.campaign.items.len() as u16;
    for c in 4..4 + items {
        sheet.set_column_width(c, 12)?;
    }
    sheet.set_column_width(4 + items, 10)?;
    sheet.set_column_width(5 + items, 15)?;
    sheet.set_column_width(6 + items, 18)?;
    sheet.set_column_width(7 + items, 6)?;
    sheet.set_column_width(8 + items, PROBLEM_WIDTH)?;
    sheet.set_freeze_panes(2, 2)?;
    sheet.autofilter(1, 0, status.units.len().max(1) as u32 + 1, last)?;
    print_setup(sheet, campaign)?;
    wb.save_to_buffer()
}
