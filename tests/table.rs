//! The statistics-table reader on tables built here (rust_xlsxwriter), on committed .xls/.ods
//! fixtures (tests/fixtures/table/README.md), on the corpus's sample tables and on hostile files.

mod table_support;

use reportbox::problem::Severity;
use reportbox::validate::table::{read, SheetFormat, TableLimits, TableReading};
use rust_xlsxwriter::Workbook;
use serde_json::json;
use std::io::Write;
use std::path::Path;
use table_support::*;

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/table")
            .join(name),
    )
    .unwrap()
}

// ---- the template as configuration ----

#[test]
fn the_shipped_configuration_carries_the_whole_template() {
    // Contract §4: 13 indicators, the 重点示范活动 text row and the online/offline sum.
    let t = shipped_template();
    assert_eq!(t.indicators.len(), 13);
    assert_eq!(t.title_keyword, "科技活动周");
    assert_eq!(t.text_rows.len(), 1);
    assert_eq!(t.sum_rules.len(), 1);
}

#[test]
fn limits_default_when_absent_from_configuration() {
    let l: TableLimits = toml::from_str("max_rows = 10").unwrap();
    assert_eq!(l.max_rows, 10);
    assert_eq!(l.max_cols, TableLimits::default().max_cols);
}

// ---- a valid table ----

#[test]
fn the_filled_template_is_valid_and_every_value_is_read() {
    let r = check_rows(&filled());
    assert_valid(&r);
    assert_eq!(r.sheet.as_deref(), Some("统计表"));
    assert_eq!(r.unit_text.as_deref(), Some("市公安局"));
    assert_eq!(r.values["activities_total"], json!(13));
    assert_eq!(r.values["participants_total"], json!(27080));
    assert_eq!(r.values["funding"], json!(45.69));
    assert_eq!(r.values["flagship_events"], json!(1));
    assert_eq!(
        r.values["flagship_text"],
        json!("科学家精神报告会：邀请本地院士专家讲述科研故事。")
    );
    assert_eq!(r.values.len(), 14);
}

#[test]
fn a_float_cell_without_a_fraction_is_an_integer() {
    let mut rows = filled();
    set(&mut rows, 8, n(17450.0));
    let r = check_rows(&rows);
    assert_valid(&r);
    assert_eq!(r.values["materials"], json!(17450));
}

#[test]
fn funding_is_rounded_to_two_places() {
    let mut rows = filled();
    set(&mut rows, 11, n(45.6912));
    let r = check_rows(&rows);
    assert_valid(&r);
    assert_eq!(r.values["funding"], json!(45.69));
}

// ---- each error ----

#[test]
fn a_fraction_in_an_integer_indicator_is_not_integer() {
    let mut rows = filled();
    set(&mut rows, 6, n(12.5));
    let r = check_rows(&rows);
    let m = only(&r, "table.not_integer");
    assert_eq!(
        m,
        "参与单位数（工作表“统计表”第11行）填写为“12.5”，应为整数"
    );
    assert!(!r.values.contains_key("organisations"));
}

#[test]
fn a_fraction_written_as_text_is_not_integer() {
    let mut rows = filled();
    set(&mut rows, 6, s("12.5"));
    assert_eq!(codes(&check_rows(&rows)), ["table.not_integer"]);
}

#[test]
fn a_negative_value_is_an_error() {
    let mut rows = filled();
    set(&mut rows, 3, n(-5.0));
    let r = check_rows(&rows);
    let m = only(&r, "table.negative");
    assert!(m.contains("参与公众人数") && m.contains("“-5”"), "{m}");
    assert_eq!(r.problems[0].severity, Severity::Error);
}

#[test]
fn words_are_not_a_number() {
    for word in ["若干", "见附件", "12,5", "十二"] {
        let mut rows = filled();
        set(&mut rows, 9, s(word));
        let r = check_rows(&rows);
        let m = only(&r, "table.not_a_number");
        assert!(
            m.contains(&format!("“{word}”")) && m.contains("媒体报道数"),
            "{m}"
        );
    }
}

#[test]
fn an_empty_required_indicator_is_missing_value() {
    let mut rows = filled();
    set(&mut rows, 3, None);
    let r = check_rows(&rows);
    let m = only(&r, "table.missing_value");
    assert!(m.contains("参与公众人数") && m.contains("第8行"), "{m}");
}

#[test]
fn an_absent_required_row_is_missing_value() {
    let mut rows = filled();
    rows.remove(FIRST);
    let r = check_rows(&rows);
    assert!(only(&r, "table.missing_value").contains("举办科技活动总数"));
}

#[test]
fn an_empty_or_absent_optional_indicator_counts_as_zero() {
    let mut rows = filled();
    set(&mut rows, 9, None);
    rows.remove(FIRST + 8);
    let r = check_rows(&rows);
    assert_valid(&r);
    assert_eq!(r.values["media_reports"], json!(0));
    assert_eq!(r.values["materials"], json!(0));
}

#[test]
fn a_formula_without_a_cached_value_is_reported() {
    let mut rows = filled();
    set(&mut rows, 0, Some(V::F("=D6+D7".into())));
    let r = check_rows(&rows);
    let m = only(&r, "table.formula_without_value");
    assert!(m.contains("举办科技活动总数"), "{m}");
    assert!(!codes(&r).contains(&"table.missing_value"));
}

#[test]
fn a_formula_with_a_cached_value_is_read() {
    let mut wb = Workbook::new();
    let ws = wb.add_worksheet();
    ws.set_name("统计表").unwrap();
    for (r, row) in filled().iter().enumerate() {
        for (c, v) in row.iter().enumerate() {
            match v {
                Some(V::S(t)) => drop(ws.write_string(r as u32, c as u16, t).unwrap()),
                Some(V::N(x)) => drop(ws.write_number(r as u32, c as u16, *x).unwrap()),
                _ => {}
            }
        }
    }
    ws.write_formula(FIRST as u32, 3, "=D6+D7").unwrap();
    ws.set_formula_result(FIRST as u32, 3, "13");
    let r = check(&wb.save_to_buffer().unwrap(), SheetFormat::Xlsx);
    assert_valid(&r);
    assert_eq!(r.values["activities_total"], json!(13));
}

#[test]
fn a_subtotal_above_its_total_is_an_error() {
    let mut rows = filled();
    set(&mut rows, 4, n(30000.0));
    let r = check_rows(&rows);
    let m = only(&r, "table.subtotal_exceeds_total");
    assert!(m.contains("青少年") && m.contains("参与公众人数"), "{m}");
}

#[test]
fn flagship_events_above_the_activity_total_is_an_error() {
    let mut rows = filled();
    set(&mut rows, 12, n(14.0));
    assert!(codes(&check_rows(&rows)).contains(&"table.subtotal_exceeds_total"));
}

#[test]
fn online_plus_offline_differing_from_the_total_is_a_warning() {
    let mut rows = filled();
    set(&mut rows, 1, n(5.0));
    let r = check_rows(&rows);
    only(&r, "table.sum_mismatch");
    assert_eq!(r.problems[0].severity, Severity::Warning);
    assert!(!r.has_errors());
}

#[test]
fn online_and_offline_left_empty_are_not_a_sum_mismatch() {
    let mut rows = filled();
    set(&mut rows, 1, None);
    set(&mut rows, 2, None);
    assert_valid(&check_rows(&rows));
}

#[test]
fn flagship_events_without_their_description_is_a_warning() {
    let mut rows = filled();
    rows[FIRST + 13][1] = None;
    let r = check_rows(&rows);
    only(&r, "table.flagship_text_missing");
    assert_eq!(r.problems[0].severity, Severity::Warning);
}

#[test]
fn no_flagship_events_need_no_description() {
    let mut rows = filled();
    set(&mut rows, 12, n(0.0));
    rows[FIRST + 13][1] = None;
    assert_valid(&check_rows(&rows));
}

#[test]
fn the_description_label_may_stand_in_any_column() {
    let mut rows = filled();
    rows[FIRST + 13] = vec![None, None, s("重点示范活动名称及简介："), None, s("开放日")];
    let r = check_rows(&rows);
    assert_valid(&r);
    assert_eq!(r.values["flagship_text"], json!("开放日"));
}

// ---- numbers written each lenient way ----

#[test]
fn each_lenient_number_is_accepted_with_a_notice() {
    let cases = [
        ("120项", 120),
        ("120个", 120),
        ("1,200", 1200),
        ("１２０", 120),
        ("1.2万", 12000),
        ("约300", 300),
        ("300余", 300),
        ("300多", 300),
        ("300+", 300),
        ("3万余份", 30000),
    ];
    for (text, want) in cases {
        let mut rows = filled();
        set(&mut rows, 8, s(text));
        let r = check_rows(&rows);
        assert_eq!(codes(&r), ["table.number_normalized"], "{text}");
        assert_eq!(r.problems[0].severity, Severity::Warning);
        assert_eq!(r.values["materials"], json!(want), "{text}");
        assert!(r.problems[0].message.contains(&format!("“{text}”")));
    }
}

#[test]
fn a_number_stored_as_plain_text_needs_no_notice() {
    let mut rows = filled();
    set(&mut rows, 8, s("17450"));
    set(&mut rows, 11, s("45.69"));
    let r = check_rows(&rows);
    assert_valid(&r);
    assert_eq!(r.values["funding"], json!(45.69));
}

#[test]
fn funding_written_in_yuan_is_converted_to_wan_yuan() {
    let mut rows = filled();
    set(&mut rows, 11, s("456900元"));
    let r = check_rows(&rows);
    assert_eq!(codes(&r), ["table.number_normalized"]);
    assert_eq!(r.values["funding"], json!(45.69));
}

// ---- layouts units make ----

#[test]
fn rows_inserted_above_the_header_and_between_indicators_are_tolerated() {
    let mut rows = filled();
    rows.insert(0, vec![s("附件2")]);
    rows.insert(1, vec![]);
    rows.insert(FIRST + 2 + 5, vec![None, s("（以下为参与情况）")]);
    rows.insert(FIRST + 2 + 9, vec![]);
    let r = check_rows(&rows);
    assert_valid(&r);
    assert_eq!(r.values["scientists"], json!(211));
    assert_eq!(r.values["funding"], json!(45.69));
}

#[test]
fn the_serial_number_column_deleted_is_tolerated() {
    let mut rows = filled();
    for row in rows.iter_mut().skip(3).take(14) {
        if !row.is_empty() {
            row.remove(0);
        }
    }
    let r = check_rows(&rows);
    assert_valid(&r);
    assert_eq!(r.values["organisations"], json!(31));
}

#[test]
fn labels_with_full_width_characters_and_spaces_match() {
    let mut rows = filled();
    rows[3][1] = s("统 计 指 标");
    rows[3][3] = s("数　量");
    rows[FIRST + 1][1] = s("其中:线上活动");
    rows[FIRST + 7][1] = s("开放科普场馆(基地)数");
    rows[FIRST + 6][1] = s(" 参与单位数（个）");
    rows[FIRST + 10][1] = s("新媒体传播量（直播、短视频、Ｈ５）");
    let r = check_rows(&rows);
    assert_valid(&r);
    assert_eq!(r.values["activities_online"], json!(6));
    assert_eq!(r.values["venues_opened"], json!(4));
    assert_eq!(r.values["organisations"], json!(31));
    assert_eq!(r.values["new_media_reach"], json!(114300));
}

#[test]
fn a_label_with_extra_words_matches_by_its_beginning() {
    let mut rows = filled();
    rows[FIRST + 8][1] = s("发放科普资料（含电子版）");
    let r = check_rows(&rows);
    assert_valid(&r);
    assert_eq!(r.values["materials"], json!(17450));
}

#[test]
fn a_wrong_year_in_the_title_is_an_error() {
    let mut rows = filled();
    rows[0][0] = s("２０２２年太原市科技活动周开展情况统计表");
    let r = check_rows(&rows);
    let m = only(&r, "table.wrong_year");
    assert!(m.contains("2022") && m.contains("2023"), "{m}");
}

#[test]
fn a_table_without_a_title_is_still_checked() {
    let mut rows = filled();
    rows[0] = vec![];
    assert_valid(&check_rows(&rows));
}

#[test]
fn the_unit_in_the_same_cell_as_the_label_is_read() {
    let mut rows = filled();
    rows[1] = vec![s("填报单位：市公安局"), None, None, s("填报日期：")];
    let r = check_rows(&rows);
    assert_valid(&r);
    assert_eq!(r.unit_text.as_deref(), Some("市公安局"));
}

#[test]
fn an_empty_unit_is_unit_missing_even_with_the_date_label_to_its_right() {
    let mut rows = filled();
    rows[1][1] = None;
    let r = check_rows(&rows);
    assert!(only(&r, "table.unit_missing").contains("填报单位"));
    assert_eq!(r.unit_text, None);
}

#[test]
fn a_sheet_without_the_header_is_not_a_template() {
    let rows: Rows = vec![vec![s("名称"), s("金额")], vec![s("a"), n(1.0)]];
    let r = check_rows(&rows);
    assert!(
        r.readable && !r.is_template && r.problems.is_empty(),
        "{r:#?}"
    );
}

#[test]
fn the_header_on_a_later_sheet_is_found() {
    let other: Rows = vec![vec![s("说明")]];
    let r = check(
        &xlsx_sheets(&[("说明", &other), ("Sheet2", &filled())]),
        SheetFormat::Xlsx,
    );
    assert_valid(&r);
    assert_eq!(r.sheet.as_deref(), Some("Sheet2"));
}

#[test]
fn every_message_names_the_sheet_the_row_and_the_value_as_written() {
    let mut rows = filled();
    set(&mut rows, 9, s("见附件"));
    let r = check_rows(&rows);
    assert_eq!(
        only(&r, "table.not_a_number"),
        "媒体报道数（工作表“统计表”第14行）填写为“见附件”，应填写数字"
    );
}

// ---- other formats ----

#[test]
fn a_valid_xls_table_is_read() {
    let r = check(&fixture("valid.xls"), SheetFormat::Xls);
    assert_valid(&r);
    assert_eq!(r.unit_text.as_deref(), Some("市公安局"));
    assert_eq!(r.values["funding"], json!(45.69));
}

#[test]
fn an_invalid_xls_table_reports_its_errors() {
    let r = check(&fixture("invalid.xls"), SheetFormat::Xls);
    let mut c = codes(&r);
    c.sort();
    assert_eq!(c, ["table.negative", "table.not_integer"]);
}

#[test]
fn a_valid_ods_table_is_read() {
    let r = check(&fixture("valid.ods"), SheetFormat::Ods);
    assert_valid(&r);
    assert_eq!(r.values["participants_total"], json!(27080));
}

#[test]
fn an_invalid_ods_table_reports_its_errors() {
    let r = check(&fixture("invalid.ods"), SheetFormat::Ods);
    let mut c = codes(&r);
    c.sort();
    assert_eq!(c, ["table.negative", "table.not_integer"]);
}

// ---- tables saved by LibreOffice (tests/fixtures/table/libreoffice/README.md) ----

fn libreoffice(name: &str) -> Vec<u8> {
    fixture(&format!("libreoffice/{name}"))
}

#[test]
fn valid_tables_resaved_by_libreoffice_read_the_same_in_every_format() {
    for (name, format) in [
        ("valid.xlsx", SheetFormat::Xlsx),
        ("valid.ods", SheetFormat::Ods),
    ] {
        let r = check(&libreoffice(name), format);
        assert!(r.readable && r.is_template, "{name}: {r:#?}");
        assert!(r.problems.is_empty(), "{name}: {:#?}", r.problems);
        assert_eq!(r.unit_text.as_deref(), Some("市公安局"), "{name}");
        assert_eq!(r.values["funding"], json!(45.69), "{name}");
    }
}

#[test]
fn invalid_tables_resaved_by_libreoffice_keep_their_errors_and_name_the_row() {
    for (name, format) in [
        ("invalid.xlsx", SheetFormat::Xlsx),
        ("invalid.ods", SheetFormat::Ods),
        ("invalid.xls", SheetFormat::Xls),
    ] {
        let r = check(&libreoffice(name), format);
        let mut c = codes(&r);
        c.sort();
        assert_eq!(c, ["table.negative", "table.not_integer"], "{name}");
        assert!(
            only(&r, "table.not_integer").contains("参与单位数"),
            "{name}"
        );
        assert!(
            only(&r, "table.negative").contains("参与公众人数"),
            "{name}"
        );
    }
}

#[test]
fn a_sample_table_converted_by_libreoffice_to_xls_and_ods_is_still_the_units_table() {
    let original = check(
        &fixture("samples/01_市公安局2023年科技活动周开展情况统计表.xlsx"),
        SheetFormat::Xlsx,
    );
    assert_valid(&original);
    for (name, format) in [
        ("sample01.xls", SheetFormat::Xls),
        ("sample01.ods", SheetFormat::Ods),
    ] {
        let r = check(&libreoffice(name), format);
        assert_valid(&r);
        assert_eq!(r.unit_text, original.unit_text, "{name}");
        assert_eq!(r.values, original.values, "{name}");
    }
}

// ---- the corpus ----

#[test]
fn every_sample_table_of_the_corpus_reads_as_expected() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/table/samples");
    let mut seen = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        let r = check(&std::fs::read(&path).unwrap(), SheetFormat::Xlsx);
        assert!(r.readable && r.is_template, "{name}");
        assert!(r.unit_text.is_some(), "{name}");
        if name.starts_with("04_") {
            assert_eq!(codes(&r), ["table.not_integer"], "{name}");
            assert!(r.problems[0].message.contains("参与单位数"));
        } else {
            assert!(!r.has_errors(), "{name}: {:#?}", r.problems);
        }
        seen += 1;
    }
    assert_eq!(seen, 6);
}

// ---- hostile inputs ----

fn crc32(data: &[u8]) -> u32 {
    let mut table = [0u32; 256];
    for (i, t) in table.iter_mut().enumerate() {
        let mut c = i as u32;
        for _ in 0..8 {
            c = if c & 1 == 1 {
                0xEDB8_8320 ^ (c >> 1)
            } else {
                c >> 1
            };
        }
        *t = c;
    }
    !data.iter().fold(!0u32, |crc, &b| {
        table[((crc ^ u32::from(b)) & 0xFF) as usize] ^ (crc >> 8)
    })
}

/// A zip with deflated entries, enough for calamine.
fn zip(entries: &[(&str, Vec<u8>)]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut central = Vec::new();
    for (name, data) in entries {
        let mut enc = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(data).unwrap();
        let comp = enc.finish().unwrap();
        let offset = out.len() as u32;
        let head = |sig: &[u8], central: bool| {
            let mut h = sig.to_vec();
            if central {
                h.extend_from_slice(&20u16.to_le_bytes());
            }
            h.extend_from_slice(&20u16.to_le_bytes());
            h.extend_from_slice(&0u16.to_le_bytes());
            h.extend_from_slice(&8u16.to_le_bytes());
            h.extend_from_slice(&[0; 4]);
            h.extend_from_slice(&crc32(data).to_le_bytes());
            h.extend_from_slice(&(comp.len() as u32).to_le_bytes());
            h.extend_from_slice(&(data.len() as u32).to_le_bytes());
            h.extend_from_slice(&(name.len() as u16).to_le_bytes());
            h.extend_from_slice(&0u16.to_le_bytes());
            if central {
                // comment length, disk, internal and external attributes
                h.extend_from_slice(&[0; 10]);
                h.extend_from_slice(&offset.to_le_bytes());
            }
            h.extend_from_slice(name.as_bytes());
            h
        };
        out.extend(head(b"PK\x03\x04", false));
        out.extend(&comp);
        central.extend(head(b"PK\x01\x02", true));
    }
    let cd_offset = out.len() as u32;
    out.extend(&central);
    out.extend_from_slice(b"PK\x05\x06\0\0\0\0");
    out.extend_from_slice(&(entries.len() as u16).to_le_bytes());
    out.extend_from_slice(&(entries.len() as u16).to_le_bytes());
    out.extend_from_slice(&(central.len() as u32).to_le_bytes());
    out.extend_from_slice(&cd_offset.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out
}

/// A minimal xlsx around one sheet's XML and an optional sharedStrings part.
fn raw_xlsx(sheet: &str, shared: Option<&str>) -> Vec<u8> {
    let mut entries = vec![
        ("[Content_Types].xml", br#"<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/></Types>"#.to_vec()),
        ("_rels/.rels", br#"<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>"#.to_vec()),
        ("xl/workbook.xml", r#"<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets><sheet name="统计表" sheetId="1" r:id="rId1"/></sheets></workbook>"#.as_bytes().to_vec()),
        ("xl/_rels/workbook.xml.rels", br#"<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/><Relationship Id="rId2" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/sharedStrings" Target="sharedStrings.xml"/></Relationships>"#.to_vec()),
        ("xl/worksheets/sheet1.xml", sheet.as_bytes().to_vec()),
    ];
    if let Some(sst) = shared {
        entries.push(("xl/sharedStrings.xml", sst.as_bytes().to_vec()));
    }
    zip(&entries)
}

/// Sheet XML of the filled template with inline strings, plus `extra` cells and a dimension.
fn sheet_xml(dimension: &str, extra: &str) -> String {
    let mut x = format!(
        r#"<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><dimension ref="{dimension}"/><sheetData>"#
    );
    let col = |c: usize| (b'A' + c as u8) as char;
    for (r, row) in filled().iter().enumerate() {
        x += &format!(r#"<row r="{}">"#, r + 1);
        for (c, v) in row.iter().enumerate() {
            let at = format!("{}{}", col(c), r + 1);
            match v {
                Some(V::S(t)) => {
                    x += &format!(r#"<c r="{at}" t="inlineStr"><is><t>{t}</t></is></c>"#)
                }
                Some(V::N(v)) => x += &format!(r#"<c r="{at}"><v>{v}</v></c>"#),
                _ => {}
            }
        }
        x += "</row>";
    }
    x + extra + "</sheetData></worksheet>"
}

fn assert_unreadable(r: &TableReading) -> String {
    assert!(!r.readable && !r.is_template, "{r:#?}");
    only(r, "file.unreadable")
}

#[test]
fn a_hand_made_xlsx_is_read_like_a_generated_one() {
    let r = check(&raw_xlsx(&sheet_xml("A1:E19", ""), None), SheetFormat::Xlsx);
    assert_valid(&r);
}

#[test]
fn a_sheet_claiming_a_million_rows_is_read_within_the_limits() {
    let r = check(
        &raw_xlsx(&sheet_xml("A1:Z1000000", ""), None),
        SheetFormat::Xlsx,
    );
    assert_valid(&r);
}

#[test]
fn cells_at_opposite_corners_of_the_sheet_allocate_nothing_large() {
    let far = r#"<row r="1048576"><c r="XFD1048576"><v>1</v></c></row>"#;
    let r = check(
        &raw_xlsx(&sheet_xml("A1:XFD1048576", far), None),
        SheetFormat::Xlsx,
    );
    assert_valid(&r);
}

#[test]
fn entity_expansion_in_shared_strings_is_not_performed() {
    let mut dtd = String::from(r#"<!DOCTYPE lolz [<!ENTITY lol "lol">"#);
    for i in 1..=9 {
        let prev = if i == 1 {
            "lol".to_string()
        } else {
            format!("lol{}", i - 1)
        };
        dtd += &format!(r#"<!ENTITY lol{i} "{}">"#, format!("&{prev};").repeat(10));
    }
    dtd += "]>";
    let sst = format!(
        r#"<?xml version="1.0"?>{dtd}<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" count="1" uniqueCount="1"><si><t>&lol9;</t></si></sst>"#
    );
    let extra = r#"<row r="30"><c r="A30" t="s"><v>0</v></c></row>"#;
    let r = check(
        &raw_xlsx(&sheet_xml("A1:E30", extra), Some(&sst)),
        SheetFormat::Xlsx,
    );
    // calamine (quick-xml) refuses the undeclared-by-XML entity instead of expanding it.
    let m = assert_unreadable(&r);
    assert!(!m.contains("lol"), "{m}");
    assert!(r.unreadable_detail.as_deref().unwrap().contains("entity"));
}

#[test]
fn a_part_expanding_past_the_limit_is_unreadable() {
    // Scaled down (8 MiB against a 4 MiB limit) to keep the test fast; the check is the same.
    let bomb = vec![b' '; 8 * 1024 * 1024];
    let bytes = zip(&[
        (
            "xl/worksheets/sheet1.xml",
            sheet_xml("A1:E19", "").into_bytes(),
        ),
        ("xl/media/bomb.bin", bomb),
    ]);
    assert!(bytes.len() < 100 * 1024);
    let limits = TableLimits {
        max_unzipped_bytes: 4 * 1024 * 1024,
        ..TableLimits::default()
    };
    let r = read(
        &bytes,
        SheetFormat::Xlsx,
        &shipped_template(),
        2023,
        &limits,
    );
    let m = assert_unreadable(&r);
    assert!(m.contains("4MB"), "{m}");
}

#[test]
fn a_lower_limit_refuses_an_ordinary_table() {
    let limits = TableLimits {
        max_unzipped_bytes: 1000,
        ..TableLimits::default()
    };
    let r = read(
        &xlsx(&filled()),
        SheetFormat::Xlsx,
        &shipped_template(),
        2023,
        &limits,
    );
    assert_unreadable(&r);
}

#[test]
fn a_corrupt_or_truncated_file_is_unreadable() {
    let good = xlsx(&filled());
    for bytes in [
        good[..good.len() / 2].to_vec(),
        b"PK\x03\x04 this is not a zip".to_vec(),
        vec![0xAB; 4096],
    ] {
        assert_unreadable(&check(&bytes, SheetFormat::Xlsx));
        assert_unreadable(&check(&bytes, SheetFormat::Xls));
        assert_unreadable(&check(&bytes, SheetFormat::Ods));
    }
}

#[test]
fn a_damaged_sheet_inside_a_sound_zip_is_unreadable() {
    let r = check(
        &raw_xlsx("<worksheet><sheetData><row><c r=\"A1\"", None),
        SheetFormat::Xlsx,
    );
    assert_unreadable(&r);
}

#[test]
fn an_empty_file_is_unreadable() {
    for f in [SheetFormat::Xlsx, SheetFormat::Xls, SheetFormat::Ods] {
        assert!(assert_unreadable(&check(b"", f)).contains("为空"));
    }
}

#[test]
fn a_password_protected_xlsx_is_unreadable_with_that_reason() {
    let r = check(&fixture("valid.xls"), SheetFormat::Xlsx);
    assert!(assert_unreadable(&r).contains("密码"));
}

#[test]
fn an_xls_with_cells_at_opposite_corners_is_refused_before_parsing() {
    let m = assert_unreadable(&check(&fixture("far_cells.xls"), SheetFormat::Xls));
    assert!(m.contains("范围过大"), "{m}");
}

#[test]
fn an_ods_repeating_a_value_over_a_million_rows_is_refused_before_parsing() {
    let m = assert_unreadable(&check(&fixture("repeated_cells.ods"), SheetFormat::Ods));
    assert!(m.contains("范围过大"), "{m}");
}

#[test]
fn only_the_configured_number_of_sheets_is_searched() {
    let blank: Rows = vec![vec![s("x")]];
    let filled = filled();
    let bytes = xlsx_sheets(&[("a", &blank), ("b", &blank), ("c", &filled)]);
    let limits = TableLimits {
        max_sheets: 2,
        ..TableLimits::default()
    };
    let r = read(
        &bytes,
        SheetFormat::Xlsx,
        &shipped_template(),
        2023,
        &limits,
    );
    assert!(r.readable && !r.is_template);
}

#[test]
fn cells_beyond_the_row_limit_are_ignored() {
    // Rows 1-6: the header and the first two indicators; 参与公众人数 is on row 8.
    let limits = TableLimits {
        max_rows: 6,
        ..TableLimits::default()
    };
    let r = read(
        &xlsx(&filled()),
        SheetFormat::Xlsx,
        &shipped_template(),
        2023,
        &limits,
    );
    assert!(r.is_template);
    assert!(codes(&r).contains(&"table.missing_value"));
}
