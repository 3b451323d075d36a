//! Outlook's winmail.dat (`application/ms-tnef`): the files inside are the unit's files, with
//! their own names (contract §3: attachments are unpacked before classification).

mod common;

use common::{env, table, Mail};
use reportbox::intake::{parse, FileKind, FileRole, IntakeLimits};
use sqlx::PgPool;
use std::io::Write;

const TNEF: &str = "application/ms-tnef";

/// A TNEF stream as Outlook writes it: signature, key, version, OEM code page, then per
/// attachment renddata, an 8.3 title in the code page, the data and the MAPI properties with
/// the long file name in UTF-16.
fn winmail(codepage: u32, files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut out = 0x223E_9F78u32.to_le_bytes().to_vec();
    out.extend_from_slice(&0x0001u16.to_le_bytes());
    let mut attr = |level: u8, id: u32, data: &[u8]| {
        out.push(level);
        out.extend_from_slice(&id.to_le_bytes());
        out.extend_from_slice(&(data.len() as u32).to_le_bytes());
        out.extend_from_slice(data);
        let sum = data.iter().fold(0u16, |s, &b| s.wrapping_add(b as u16));
        out.extend_from_slice(&sum.to_le_bytes());
    };
    attr(1, 0x0008_9006, &0x0001_0000u32.to_le_bytes());
    attr(1, 0x0006_9007, &[codepage.to_le_bytes(), [0; 4]].concat());
    attr(1, 0x0007_8008, b"IPM.Microsoft Mail.Note\0");
    for (i, (name, data)) in files.iter().enumerate() {
        attr(
            2,
            0x0006_9002,
            &[1, 0, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0, 0, 0, 0, 0, 0],
        );
        let ext = name.rsplit('.').next().unwrap().to_ascii_uppercase();
        attr(
            2,
            0x0001_8010,
            format!("~{}.{}\0", i + 1, &ext[..3]).as_bytes(),
        );
        attr(2, 0x0006_800F, data);
        // PR_ATTACH_METHOD = 1 (by value), PR_ATTACH_LONG_FILENAME (PT_UNICODE).
        let long: Vec<u8> = name
            .encode_utf16()
            .chain([0])
            .flat_map(|u| u.to_le_bytes())
            .collect();
        let mut props = 2u32.to_le_bytes().to_vec();
        props.extend_from_slice(&0x0003u16.to_le_bytes());
        props.extend_from_slice(&0x3705u16.to_le_bytes());
        props.extend_from_slice(&1u32.to_le_bytes());
        props.extend_from_slice(&0x001Fu16.to_le_bytes());
        props.extend_from_slice(&0x3707u16.to_le_bytes());
        props.extend_from_slice(&1u32.to_le_bytes());
        props.extend_from_slice(&(long.len() as u32).to_le_bytes());
        props.extend_from_slice(&long);
        props.resize(props.len() + (4 - long.len() % 4) % 4, 0);
        attr(2, 0x0006_9005, &props);
    }
    out
}

/// A minimal Word document: enough for the content sniffer to call it docx.
fn docx(text: &str) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default();
    w.start_file("[Content_Types].xml", opts).unwrap();
    w.write_all(br#"<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"/>"#).unwrap();
    w.start_file("word/document.xml", opts).unwrap();
    w.write_all(
        format!(r#"<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body><w:p><w:r><w:t>{text}</w:t></w:r></w:p></w:body></w:document>"#)
            .as_bytes(),
    )
    .unwrap();
    w.finish().unwrap().into_inner()
}

fn outlook_mail(winmail_dat: Vec<u8>) -> Vec<u8> {
    Mail::new("tydag_bgs@163.com", "市档案馆科技活动周材料")
        .attach("winmail.dat", TNEF, winmail_dat)
        .build()
}

#[test]
fn the_files_inside_winmail_dat_are_the_units_files() {
    let xlsx = table("市档案馆", "2023");
    let report = docx("2023年科技活动周总结");
    let raw = outlook_mail(winmail(
        936,
        &[("统计表.xlsx", &xlsx), ("总结.docx", &report)],
    ));
    let p = parse(&raw, &IntakeLimits::default());
    assert!(p.problems.is_empty(), "{:?}", p.problems);
    let got: Vec<(&str, FileRole, FileKind)> = p
        .files
        .iter()
        .map(|f| (f.name.as_str(), f.role, f.kind))
        .collect();
    assert_eq!(
        got,
        [
            ("winmail.dat", FileRole::Archive, FileKind::Tnef),
            ("统计表.xlsx", FileRole::Member, FileKind::Xlsx),
            ("总结.docx", FileRole::Member, FileKind::Docx),
        ]
    );
    assert_eq!(p.files[1].bytes, xlsx);
    assert_eq!(p.files[2].bytes, report);
    assert_eq!(p.files[1].origin, ["winmail.dat"]);
}

#[test]
fn a_corrupt_winmail_dat_is_reported_in_chinese() {
    let xlsx = table("市档案馆", "2023");
    let whole = winmail(936, &[("统计表.xlsx", &xlsx)]);
    for bytes in [whole[..whole.len() / 2].to_vec(), b"garbage".to_vec()] {
        let p = parse(&outlook_mail(bytes), &IntakeLimits::default());
        assert_eq!(p.problems.len(), 1, "{:?}", p.problems);
        assert_eq!(p.problems[0].code, "file.unreadable");
        assert!(p.problems[0].message.contains("winmail.dat"));
        assert_eq!(p.files.len(), 1, "{:?}", p.files);
        assert_eq!(p.files[0].role, FileRole::Archive);
    }
}

#[test]
fn a_winmail_dat_with_only_the_rtf_body_adds_nothing() {
    let raw = outlook_mail(winmail(936, &[]));
    let p = parse(&raw, &IntakeLimits::default());
    assert!(p.problems.is_empty(), "{:?}", p.problems);
    assert_eq!(p.files.len(), 1);
    assert_eq!(p.files[0].role, FileRole::Archive);
}

#[sqlx::test(migrations = "./migrations")]
async fn a_table_in_winmail_dat_counts_for_the_unit(pool: PgPool) {
    let env = env(pool).await;
    let xlsx = table("市档案馆", "2023");
    let report = docx("2023年科技活动周总结");
    env.process(
        outlook_mail(winmail(
            936,
            &[("统计表.xlsx", &xlsx), ("总结.docx", &report)],
        )),
        "outlook",
    )
    .await;
    let status = env.status_json().await;
    let u = status["units"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["id"] == "city-archives")
        .unwrap();
    let table_item = &u["items"]["statistics_table"];
    assert_eq!(table_item["file"], "统计表.xlsx", "{u:#}");
    assert_eq!(table_item["state"], "valid", "{u:#}");
    assert_eq!(table_item["origin"][0], "winmail.dat");
    assert_eq!(u["items"]["summary_report"]["file"], "总结.docx", "{u:#}");
    assert_eq!(u["problems"], serde_json::json!([]), "{u:#}");
}
