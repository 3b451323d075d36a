//! Helpers shared by the statistics-table tests (tests/table.rs, tests/table_real.rs): the
//! filled template as rows, a workbook writer and assertions on a reading.
#![allow(dead_code)]

use reportbox::validate::table::{read, SheetFormat, TableLimits, TableReading, TableTemplate};
use rust_xlsxwriter::{Workbook, Worksheet};

#[derive(Clone, Debug)]
pub enum V {
    S(String),
    N(f64),
    /// A formula stored without a cached result.
    F(String),
}

pub fn s(t: &str) -> Option<V> {
    Some(V::S(t.to_string()))
}
pub fn n(x: f64) -> Option<V> {
    Some(V::N(x))
}

pub const LABELS: [(&str, &str); 13] = [
    ("举办科技活动总数", "项"),
    ("其中：线上活动", "项"),
    ("其中：线下活动", "项"),
    ("参与公众人数", "人次"),
    ("其中：青少年参与人数", "人次"),
    ("参与科技工作者人数", "人次"),
    ("参与单位数", "个"),
    ("开放科普场馆（基地）数", "个"),
    ("发放科普资料", "份"),
    ("媒体报道数", "篇"),
    ("新媒体传播量（直播、短视频、H5）", "次"),
    ("投入经费", "万元"),
    ("重点示范活动数", "项"),
];
pub const VALID: [f64; 13] = [
    13.0, 6.0, 7.0, 27080.0, 8360.0, 211.0, 31.0, 4.0, 17450.0, 27.0, 114300.0, 45.69, 1.0,
];
/// Row (0-based) of the first indicator in the template layout.
pub const FIRST: usize = 4;

pub type Rows = Vec<Vec<Option<V>>>;

/// The blank template's layout (templates/statistics-table-2023.xlsx), filled in.
pub fn filled() -> Rows {
    let mut rows: Rows = vec![
        vec![s("2023年太原市科技活动周开展情况统计表")],
        vec![
            s("填报单位（盖章）："),
            s("市公安局"),
            None,
            s("填报日期："),
            s("2023年6月2日"),
        ],
        vec![
            s("填报人："),
            s("郑凯"),
            None,
            s("联系电话："),
            s("0351-8256214"),
        ],
        vec![s("序号"), s("统计指标"), s("单位"), s("数量"), s("备注")],
    ];
    for (i, ((label, unit), v)) in LABELS.iter().zip(VALID).enumerate() {
        rows.push(vec![n(i as f64 + 1.0), s(label), s(unit), n(v)]);
    }
    rows.push(vec![
        s("重点示范活动名称及简介"),
        s("科学家精神报告会：邀请本地院士专家讲述科研故事。"),
    ]);
    rows.push(vec![s(
        "说明：1.数量栏填写阿拉伯数字；2.“其中”项不得大于总数。",
    )]);
    rows
}

/// Sets the 数量 cell of indicator `i`.
pub fn set(rows: &mut Rows, i: usize, v: Option<V>) {
    rows[FIRST + i][3] = v;
}

/// Writes `rows` into `ws` from A1.
pub fn write_rows(ws: &mut Worksheet, rows: &Rows) {
    for (r, row) in rows.iter().enumerate() {
        for (c, v) in row.iter().enumerate() {
            let (r, c) = (r as u32, c as u16);
            match v {
                Some(V::S(t)) => {
                    ws.write_string(r, c, t).unwrap();
                }
                Some(V::N(x)) => {
                    ws.write_number(r, c, *x).unwrap();
                }
                Some(V::F(t)) => {
                    ws.write_formula(r, c, t.as_str()).unwrap();
                    // An empty result is what a generator that never calculates leaves.
                    ws.set_formula_result(r, c, "");
                }
                None => {}
            }
        }
    }
}

pub fn xlsx_sheets(sheets: &[(&str, &Rows)]) -> Vec<u8> {
    let mut wb = Workbook::new();
    for (name, rows) in sheets {
        let ws = wb.add_worksheet();
        ws.set_name(*name).unwrap();
        write_rows(ws, rows);
    }
    wb.save_to_buffer().unwrap()
}

pub fn xlsx(rows: &Rows) -> Vec<u8> {
    xlsx_sheets(&[("统计表", rows)])
}

pub fn check(bytes: &[u8], format: SheetFormat) -> TableReading {
    read(
        bytes,
        format,
        &shipped_template(),
        2023,
        &TableLimits::default(),
    )
}

pub fn check_rows(rows: &Rows) -> TableReading {
    check(&xlsx(rows), SheetFormat::Xlsx)
}

pub fn codes(r: &TableReading) -> Vec<&str> {
    r.problems.iter().map(|p| p.code.as_str()).collect()
}

pub fn only(r: &TableReading, code: &str) -> String {
    let found: Vec<_> = r.problems.iter().filter(|p| p.code == code).collect();
    assert_eq!(found.len(), 1, "expected one {code}: {:#?}", r.problems);
    found[0].message.clone()
}

pub fn assert_valid(r: &TableReading) {
    assert!(r.readable && r.is_template, "{r:#?}");
    assert!(r.problems.is_empty(), "{:#?}", r.problems);
}

/// The statistics table of the shipped configuration (config/reportbox.toml's `[table]`): the
/// campaign's template lives there, not in the code.
pub fn shipped_template() -> TableTemplate {
    #[derive(serde::Deserialize)]
    struct Shipped {
        table: TableTemplate,
    }
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config/reportbox.toml");
    let file: Shipped = toml::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    file.table
}
