//! 汇总表.xlsx, attached to the daily status email: every unit's statistics table in one sheet
//! with a totals row, and every unit's status in a second.

use crate::config::Settings;
use crate::status::Status;
use crate::validate::table::ValueKind;
use rust_xlsxwriter::{Format, Workbook, XlsxError};
use std::collections::HashMap;

/// Builds the workbook. `values` maps unit ids to the values of their valid statistics table.
pub fn workbook(
    settings: &Settings,
    status: &Status,
    values: &HashMap<String, serde_json::Value>,
) -> Result<Vec<u8>, XlsxError> {
    let mut wb = Workbook::new();
    let bold = Format::new().set_bold();
    let indicators = &settings.table.indicators;

    let sheet = wb.add_worksheet();
    sheet.set_name("汇总表")?;
    sheet.write_string_with_format(0, 0, "序号", &bold)?;
    sheet.write_string_with_format(0, 1, "单位", &bold)?;
    for (i, ind) in indicators.iter().enumerate() {
        let title = if ind.unit.is_empty() {
            ind.label.clone()
        } else {
            format!("{}（{}）", ind.label, ind.unit)
        };
        sheet.write_string_with_format(0, 2 + i as u16, &title, &bold)?;
    }
    let text_col = 2 + indicators.len() as u16;
    for (j, t) in settings.table.text_rows.iter().enumerate() {
        sheet.write_string_with_format(0, text_col + j as u16, &t.label, &bold)?;
    }
    let mut totals = vec![0f64; indicators.len()];
    let mut row = 1u32;
    for u in &status.units {
        let Some(v) = values.get(&u.id) else {
            continue;
        };
        sheet.write_number(row, 0, f64::from(row))?;
        sheet.write_string(row, 1, &u.name)?;
        for (i, ind) in indicators.iter().enumerate() {
            if let Some(n) = v.get(&ind.key).and_then(|x| x.as_f64()) {
                sheet.write_number(row, 2 + i as u16, n)?;
                totals[i] += n;
            }
        }
        for (j, t) in settings.table.text_rows.iter().enumerate() {
            if let Some(s) = v.get(&t.key).and_then(|x| x.as_str()) {
                sheet.write_string(row, text_col + j as u16, s)?;
            }
        }
        row += 1;
    }
    sheet.write_string_with_format(row, 1, "合计", &bold)?;
    for (i, ind) in indicators.iter().enumerate() {
        let total = match ind.kind {
            ValueKind::Decimal { places } => {
                let f = 10f64.powi(i32::from(places));
                (totals[i] * f).round() / f
            }
            _ => totals[i],
        };
        sheet.write_number_with_format(row, 2 + i as u16, total, &bold)?;
    }
    sheet.set_column_width(1, 24)?;

    let sheet = wb.add_worksheet();
    sheet.set_name("报送情况")?;
    let mut header = vec!["单位", "分组", "状态"];
    header.extend(settings.campaign.items.iter().map(|i| i.label.as_str()));
    header.extend(["最近报送", "逾期", "问题"]);
    for (c, h) in header.iter().enumerate() {
        sheet.write_string_with_format(0, c as u16, *h, &bold)?;
    }
    for (r, u) in status.units.iter().enumerate() {
        let r = r as u32 + 1;
        sheet.write_string(r, 0, &u.name)?;
        sheet.write_string(r, 1, &u.group)?;
        sheet.write_string(r, 2, u.status.label_zh())?;
        let mut c = 3u16;
        let mut problems = Vec::new();
        for i in &settings.campaign.items {
            let item = &u.items[&i.key];
            sheet.write_string(r, c, item.state_zh())?;
            problems.extend(
                item.problems
                    .iter()
                    .map(|p| format!("{}：{}", i.label, p.message)),
            );
            c += 1;
        }
        problems.extend(u.problems.iter().map(|p| p.message.clone()));
        sheet.write_string(r, c, u.last_received_at.as_deref().unwrap_or(""))?;
        sheet.write_string(r, c + 1, if u.late { "是" } else { "" })?;
        sheet.write_string(r, c + 2, problems.join("；"))?;
    }
    sheet.set_column_width(0, 24)?;
    wb.save_to_buffer()
}
