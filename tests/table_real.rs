//! The statistics table as units really fill it in Excel and WPS (contract §4): merged cells,
//! extra sheets, cell formats, formulas with cached results or errors, retyped headers and
//! columns. Each case names its verdict; where the contract is silent the comment says what the
//! coordinator expects.

mod table_support;

use reportbox::problem::Severity;
use reportbox::validate::table::SheetFormat;
use rust_xlsxwriter::{Format, Workbook, Worksheet};
use serde_json::json;
use table_support::*;

/// A workbook built by hand: `f` adds the sheets.
fn book(f: impl FnOnce(&mut Workbook)) -> Vec<u8> {
    let mut wb = Workbook::new();
    f(&mut wb);
    wb.save_to_buffer().unwrap()
}

fn sheet<'a>(wb: &'a mut Workbook, name: &str, rows: &Rows) -> &'a mut Worksheet {
    let ws = wb.add_worksheet();
    ws.set_name(name).unwrap();
    write_rows(ws, rows);
    ws
}

fn read_book(f: impl FnOnce(&mut Workbook)) -> reportbox::validate::table::TableReading {
    check(&book(f), SheetFormat::Xlsx)
}

/// 0-based row of indicator `i` in `filled()`.
fn row_of(i: usize) -> u32 {
    (FIRST + i) as u32
}

// ---- merged cells ----

#[test]
fn a_title_merged_across_the_table_is_read() {
    let r = read_book(|wb| {
        let mut rows = filled();
        rows[0] = vec![];
        let ws = sheet(wb, "统计表", &rows);
        ws.merge_range(
            0,
            0,
            0,
            4,
            "2022年太原市科技活动周开展情况统计表",
            &Format::new(),
        )
        .unwrap();
    });
    // The merged title is still the title: its year is checked.
    assert!(only(&r, "table.wrong_year").contains("2022"));
}

#[test]
fn the_unit_label_merged_with_its_neighbour_takes_the_next_cell() {
    let r = read_book(|wb| {
        let mut rows = filled();
        rows[1] = vec![
            None,
            None,
            s("市公安局"),
            s("填报日期："),
            s("2023年6月2日"),
        ];
        let ws = sheet(wb, "统计表", &rows);
        ws.merge_range(1, 0, 1, 1, "填报单位（盖章）：", &Format::new())
            .unwrap();
    });
    assert_valid(&r);
    assert_eq!(r.unit_text.as_deref(), Some("市公安局"));
}

#[test]
fn an_indicator_spanning_two_merged_rows_is_read_from_its_top_cell() {
    // A unit made the 参与公众人数 row two rows high: label, unit and value merged vertically.
    let r = read_book(|wb| {
        let mut rows = filled();
        let i = FIRST + 3;
        rows.insert(i + 1, vec![]);
        let ws = sheet(wb, "统计表", &rows);
        let f = Format::new();
        let i = i as u32;
        ws.merge_range(i, 1, i + 1, 1, "参与公众人数", &f).unwrap();
        ws.merge_range(i, 2, i + 1, 2, "人次", &f).unwrap();
        ws.merge_range(i, 3, i + 1, 3, "", &f).unwrap();
        ws.write_number(i, 3, 27080.0).unwrap();
    });
    assert_valid(&r);
    assert_eq!(r.values["participants_total"], json!(27080));
    assert_eq!(r.values["participants_youth"], json!(8360));
}

#[test]
fn a_value_merged_over_the_next_indicator_leaves_that_one_empty() {
    // 发放科普资料's value merged down over 媒体报道数: the value is the top cell's; the optional
    // row below reads as empty, so 0 (§4), exactly what the unit sees in Excel.
    let r = read_book(|wb| {
        let mut rows = filled();
        set(&mut rows, 9, None);
        let ws = sheet(wb, "统计表", &rows);
        ws.merge_range(row_of(8), 3, row_of(9), 3, "", &Format::new())
            .unwrap();
        ws.write_number(row_of(8), 3, 17450.0).unwrap();
    });
    assert_valid(&r);
    assert_eq!(r.values["materials"], json!(17450));
    assert_eq!(r.values["media_reports"], json!(0));
}

#[test]
fn a_value_merged_over_a_required_indicator_leaves_it_missing() {
    let r = read_book(|wb| {
        let mut rows = filled();
        set(&mut rows, 3, None);
        let ws = sheet(wb, "统计表", &rows);
        ws.merge_range(row_of(2), 3, row_of(3), 3, "", &Format::new())
            .unwrap();
        ws.write_number(row_of(2), 3, 7.0).unwrap();
    });
    let m = only(&r, "table.missing_value");
    assert!(m.contains("参与公众人数") && m.contains("第8行"), "{m}");
}

// ---- the 填报单位 value as written ----

#[test]
fn the_unit_after_a_seal_remark_in_the_label_cell_is_read() {
    let mut rows = filled();
    rows[1] = vec![
        s("填报单位（盖章）：市公安局"),
        None,
        None,
        s("填报日期："),
        s("2023年6月2日"),
    ];
    let r = check_rows(&rows);
    assert_valid(&r);
    assert_eq!(r.unit_text.as_deref(), Some("市公安局"));
}

#[test]
fn a_seal_note_after_the_unit_name_is_kept_as_written() {
    // The roster matcher finds the unit's name inside the text; the reader keeps what was written.
    let mut rows = filled();
    rows[1][1] = s("市公安局（盖章）");
    let r = check_rows(&rows);
    assert_valid(&r);
    assert_eq!(r.unit_text.as_deref(), Some("市公安局（盖章）"));
}

#[test]
fn the_unit_after_the_date_on_the_same_row_is_read() {
    let mut rows = filled();
    rows[1] = vec![
        s("填报日期：2023年6月2日"),
        None,
        s("填报单位："),
        s("市公安局"),
    ];
    let r = check_rows(&rows);
    assert_valid(&r);
    assert_eq!(r.unit_text.as_deref(), Some("市公安局"));
}

// ---- sheets ----

#[test]
fn a_cover_and_an_instructions_sheet_before_the_table_are_passed_over() {
    let cover: Rows = vec![
        vec![s("附件2")],
        vec![s("2023年太原市科技活动周开展情况统计表")],
        vec![s("报送单位：市公安局")],
    ];
    let help: Rows = vec![
        vec![s("填表说明")],
        vec![s("1.“统计指标”栏不得修改，“数量”栏填写阿拉伯数字；")],
        vec![s("统计指标说明"), s("数量填写要求")],
    ];
    let r = check(
        &xlsx_sheets(&[("封面", &cover), ("填表说明", &help), ("附件2", &filled())]),
        SheetFormat::Xlsx,
    );
    assert_valid(&r);
    assert_eq!(r.sheet.as_deref(), Some("附件2"));
}

#[test]
fn a_renamed_table_sheet_is_named_in_the_messages() {
    for name in ["Sheet1", "附件2", "统计表 (2)"] {
        let mut rows = filled();
        set(&mut rows, 9, s("见报道"));
        let r = check(&xlsx_sheets(&[(name, &rows)]), SheetFormat::Xlsx);
        assert_eq!(r.sheet.as_deref(), Some(name));
        let m = only(&r, "table.not_a_number");
        assert!(m.contains(&format!("工作表“{name}”第14行")), "{m}");
    }
}

fn blank() -> Rows {
    let mut rows = filled();
    rows[1][1] = None;
    for i in 0..13 {
        set(&mut rows, i, None);
    }
    rows[FIRST + 13][1] = None;
    rows
}

#[test]
fn of_a_blank_copy_and_a_filled_table_the_filled_one_is_read() {
    // Units keep the blank template as a first sheet and fill a copy. The coordinator expects
    // the filled sheet: §3 asks for the table that passes, not the first header found.
    for order in [[0, 1], [1, 0]] {
        let (b, f) = (blank(), filled());
        let sheets = [("统计表", &b), ("统计表 (2)", &f)];
        let r = check(
            &xlsx_sheets(&[sheets[order[0]], sheets[order[1]]]),
            SheetFormat::Xlsx,
        );
        assert_valid(&r);
        assert_eq!(r.sheet.as_deref(), Some("统计表 (2)"));
        assert_eq!(r.unit_text.as_deref(), Some("市公安局"));
    }
}

#[test]
fn a_hidden_helper_sheet_before_the_table_is_passed_over() {
    let r = read_book(|wb| {
        let lists: Rows = vec![vec![s("项")], vec![s("人次")], vec![s("个")]];
        sheet(wb, "下拉列表", &lists).set_hidden(true);
        sheet(wb, "统计表", &filled());
    });
    assert_valid(&r);
    assert_eq!(r.sheet.as_deref(), Some("统计表"));
}

#[test]
fn a_hidden_blank_copy_does_not_hide_the_filled_table() {
    let r = read_book(|wb| {
        sheet(wb, "原表", &blank()).set_hidden(true);
        sheet(wb, "统计表", &filled());
    });
    assert_valid(&r);
    assert_eq!(r.sheet.as_deref(), Some("统计表"));
}

// ---- values ----

#[test]
fn zero_is_a_value_even_in_a_required_row() {
    let mut rows = filled();
    set(&mut rows, 3, n(0.0));
    set(&mut rows, 4, n(0.0));
    for i in 5..11 {
        set(&mut rows, i, n(0.0));
    }
    let r = check_rows(&rows);
    assert_valid(&r);
    assert_eq!(r.values["participants_total"], json!(0));
    assert_eq!(r.values["materials"], json!(0));
}

#[test]
fn a_dash_or_a_word_for_none_is_not_a_number() {
    // §4 lists the lenient forms and nothing else; the unit is told to write 0.
    for word in ["—", "/", "无", "-"] {
        let mut rows = filled();
        set(&mut rows, 9, s(word));
        let r = check_rows(&rows);
        let m = only(&r, "table.not_a_number");
        assert!(
            m.contains(&format!("“{word}”")) && m.ends_with("没有请填写0"),
            "{m}"
        );
    }
}

#[test]
fn numbers_typed_with_spaces_or_full_width_separators_are_read_with_a_notice() {
    // `1 200` and `１，２００` are the listed `1,200` and `１２０` forms typed another way.
    for (text, want) in [("１，２００", 1200), ("1 200", 1200), (" 1200 ", 1200)] {
        let mut rows = filled();
        set(&mut rows, 8, s(text));
        let r = check_rows(&rows);
        assert_eq!(r.values["materials"], json!(want), "{text}");
        if text.trim() == "1200" {
            assert_valid(&r);
        } else {
            let m = only(&r, "table.number_normalized");
            assert!(m.contains(&format!("“{}”", text.trim())), "{m}");
        }
    }
}

#[test]
fn a_whole_number_written_with_decimals_is_an_integer() {
    // §4: not_integer is for a value *holding a fraction*; 12.00 holds none.
    let mut rows = filled();
    set(&mut rows, 6, s("31.00"));
    set(&mut rows, 7, n(4.0));
    let r = check_rows(&rows);
    assert_valid(&r);
    assert_eq!(r.values["organisations"], json!(31));
}

fn with_format(i: usize, value: f64, format: Format) -> reportbox::validate::table::TableReading {
    read_book(|wb| {
        let mut rows = filled();
        set(&mut rows, i, None);
        let ws = sheet(wb, "统计表", &rows);
        ws.write_number_with_format(row_of(i), 3, value, &format)
            .unwrap();
    })
}

#[test]
fn a_percentage_or_scientific_format_does_not_change_the_stored_number() {
    let r = with_format(6, 31.0, Format::new().set_num_format("0%"));
    assert_valid(&r);
    assert_eq!(r.values["organisations"], json!(31));
    let r = with_format(10, 12000.0, Format::new().set_num_format("0.00E+00"));
    assert_valid(&r);
    assert_eq!(r.values["new_media_reach"], json!(12000));
}

#[test]
fn a_number_in_a_date_formatted_cell_is_read_as_the_number_with_a_notice() {
    // Typed 45 into a cell WPS had formatted as a date: Excel shows 1900/2/14, the file holds 45.
    // The number is the unit's; they are told the cell shows a date.
    let r = with_format(6, 45.0, Format::new().set_num_format("yyyy/m/d"));
    assert_eq!(r.values["organisations"], json!(45));
    let m = only(&r, "table.number_normalized");
    assert_eq!(r.problems[0].severity, Severity::Warning);
    assert!(
        m.contains("参与单位数（工作表“统计表”第11行）") && m.contains("日期") && m.contains("45"),
        "{m}"
    );
}

#[test]
fn scientific_notation_typed_as_text_is_not_a_number() {
    // Not among §4's lenient forms.
    let mut rows = filled();
    set(&mut rows, 10, s("1.2E+04"));
    let r = check_rows(&rows);
    assert!(only(&r, "table.not_a_number").contains("“1.2E+04”"));
}

fn formula_result(result: &str) -> reportbox::validate::table::TableReading {
    read_book(|wb| {
        let mut rows = filled();
        set(&mut rows, 0, None);
        let ws = sheet(wb, "统计表", &rows);
        ws.write_formula(row_of(0), 3, "=D6+D7").unwrap();
        ws.set_formula_result(row_of(0), 3, result);
    })
}

#[test]
fn a_formula_whose_result_is_an_error_names_the_error() {
    for err in ["#REF!", "#DIV/0!"] {
        let r = formula_result(err);
        let m = only(&r, "table.not_a_number");
        assert!(
            m.starts_with("举办科技活动总数（工作表“统计表”第5行）")
                && m.contains(&format!("“{err}”"))
                && m.contains("公式"),
            "{m}"
        );
        assert!(!codes(&r).contains(&"table.missing_value"));
    }
}

// ---- labels and columns ----

#[test]
fn the_units_column_deleted_is_tolerated() {
    let mut rows = filled();
    for row in rows.iter_mut().skip(3).take(14) {
        if row.len() > 2 {
            row.remove(2);
        }
    }
    let r = check_rows(&rows);
    assert_valid(&r);
    assert_eq!(r.values["funding"], json!(45.69));
}

#[test]
fn a_value_header_with_its_unit_in_parentheses_is_found() {
    let mut rows = filled();
    rows[3][3] = s("数量（单位）");
    rows[FIRST + 3][1] = s("参与公众人数（人次）");
    let r = check_rows(&rows);
    assert_valid(&r);
    assert_eq!(r.values["participants_total"], json!(27080));
}

#[test]
fn a_header_on_two_rows_is_found() {
    // 统计指标 merged over two header rows, 数量 on the second under a group heading. Excel shows
    // one header; the coordinator expects the table read.
    let r = read_book(|wb| {
        let mut rows = filled();
        rows[3] = vec![s("序号"), None, s("单位"), s("2023年")];
        rows.insert(4, vec![None, None, None, s("数量"), s("备注")]);
        let ws = sheet(wb, "统计表", &rows);
        ws.merge_range(3, 1, 4, 1, "统计指标", &Format::new())
            .unwrap();
    });
    assert_valid(&r);
    assert_eq!(r.values["activities_total"], json!(13));
}

#[test]
fn a_last_year_column_beside_the_value_column_is_not_read() {
    // 数量 is the value column whether last year's column stands before or after it, and
    // whether its header begins with 数量 or not.
    for header in ["2022年数量", "数量（2022年）"] {
        for at in [3, 4] {
            let mut rows = filled();
            for (i, row) in rows.iter_mut().enumerate().skip(3).take(14) {
                let extra = if i == 3 { s(header) } else { n(999.5) };
                if row.len() > 3 {
                    row.insert(at, extra);
                }
            }
            let r = check_rows(&rows);
            assert_valid(&r);
            assert_eq!(r.values["activities_total"], json!(13), "{header} {at}");
            assert_eq!(r.values["funding"], json!(45.69), "{header} {at}");
        }
    }
}

#[test]
fn indicators_in_another_order_are_matched_by_label() {
    let mut rows = filled();
    rows[FIRST..FIRST + 13].reverse();
    let r = check_rows(&rows);
    assert_valid(&r);
    assert_eq!(r.values["activities_total"], json!(13));
    assert_eq!(r.values["flagship_events"], json!(1));
    assert_eq!(r.values["funding"], json!(45.69));
}

// ---- funding ----

#[test]
fn funding_typed_with_three_places_is_rounded_without_a_notice() {
    // "decimal, 2 places" is the precision kept, as for a numeric cell (funding_is_rounded_...).
    let mut rows = filled();
    set(&mut rows, 11, s("1.234"));
    let r = check_rows(&rows);
    assert_valid(&r);
    assert_eq!(r.values["funding"], json!(1.23));
}

#[test]
fn funding_written_with_its_unit_as_text_is_read_with_a_notice() {
    let mut rows = filled();
    set(&mut rows, 11, s("1.5万元"));
    let r = check_rows(&rows);
    assert_eq!(r.values["funding"], json!(1.5));
    let m = only(&r, "table.number_normalized");
    assert!(m.contains("投入经费") && m.contains("“1.5万元”") && m.contains("1.5万元"));
}
