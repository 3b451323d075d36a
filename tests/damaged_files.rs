//! Contract §6: an office file whose container does not open (a truncated or damaged xlsx, docx,
//! ods or odt zip; a damaged xls, doc, et or wps compound file) is `file.unreadable` with a
//! message a clerk understands — never a type mismatch, never unpacked, never called a 压缩包.
//! Checked on the bytes of real files (intake and the pure decision), then once through the
//! pipeline against PostgreSQL.

mod common;

use common::{env, fixture, table, unit, zip_of, Mail, XLSX};
use reportbox::intake::{self, FileKind, FileRole, DAMAGED_FILE};
use reportbox::pipeline::{decide, Meta};
use reportbox::store::NewMessage;
use sqlx::PgPool;

fn settings() -> (reportbox::config::Settings, tempfile::TempDir) {
    let storage = tempfile::tempdir().unwrap();
    let settings = common::settings_with(
        &common::samples_dir().join("roster.csv"),
        storage.path(),
        &[],
    );
    (settings, storage)
}

/// The recorded message for one mail from 市公安局 carrying `files`.
fn decided(settings: &reportbox::config::Settings, files: &[(&str, Vec<u8>)]) -> NewMessage {
    let mut mail = Mail::new("tygaj_kxk@163.com", "市公安局科技活动周材料");
    for (name, bytes) in files {
        mail = mail.attach(name, "application/octet-stream", bytes.clone());
    }
    let parsed = intake::parse(&mail.build(), &settings.limits);
    let meta = Meta {
        raw_sha256: "raw".into(),
        body_sha256: "body".into(),
        size: 0,
        source: "test".into(),
        internal_date: None,
    };
    decide(settings, parsed, &Default::default(), meta).0
}

/// Everything a unit could read about the message mentions no archive, nothing was unpacked,
/// and the file called `name` is `kind`, damaged.
fn assert_damaged(m: &NewMessage, name: &str, kind: FileKind, case: &str) {
    let f = m
        .files
        .iter()
        .find(|f| f.name == name)
        .unwrap_or_else(|| panic!("{case}: no file {name}"));
    assert_eq!(f.kind, kind.as_str(), "{case}");
    assert_eq!(f.role, "attachment", "{case}");
    let codes: Vec<&str> = f.problems.iter().map(|p| p.code.as_str()).collect();
    assert_eq!(codes, ["file.unreadable"], "{case}: {:?}", f.problems);
    assert_eq!(f.problems[0].message, DAMAGED_FILE, "{case}");
    assert_no_archive_talk(m, case);
}

fn assert_no_archive_talk(m: &NewMessage, case: &str) {
    for f in &m.files {
        assert!(
            f.role != "member" && f.role != "archive",
            "{case}: {} was unpacked or taken for an archive",
            f.name
        );
        for p in &f.problems {
            assert_ne!(p.code, "file.type_mismatch", "{case}: {}", f.name);
            assert!(!p.message.contains("压缩包"), "{case}: {}", p.message);
        }
    }
    for p in &m.problems {
        assert!(!p.message.contains("压缩包"), "{case}: {}", p.message);
    }
}

/// The ways a zip gets damaged on its way: cut at 10, 50 and 99 %, cut just before its central
/// directory, and one byte flipped in the directory (its first signature, a byte of its first
/// name, its first local offset, the end record's entry count).
fn damaged_zips(z: &[u8]) -> Vec<(String, Vec<u8>)> {
    let cd = z.windows(4).position(|w| w == b"PK\x01\x02").unwrap();
    let eocd = z.windows(4).rposition(|w| w == b"PK\x05\x06").unwrap();
    let mut out: Vec<(String, Vec<u8>)> = [10, 50, 99]
        .iter()
        .map(|pct| (format!("cut at {pct}%"), z[..z.len() * pct / 100].to_vec()))
        .collect();
    out.push(("directory removed".into(), z[..cd].to_vec()));
    for (what, at) in [
        ("directory signature", cd + 1),
        ("first name", cd + 46),
        ("first local offset", cd + 42),
        ("entry count", eocd + 10),
    ] {
        let mut v = z.to_vec();
        v[at] ^= 0x21;
        out.push((format!("{what} flipped"), v));
    }
    out
}

/// The ways a compound file gets damaged: cut at 10, 50 and 99 % (header kept), and everything
/// after the header garbled.
fn damaged_oles(b: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<(String, Vec<u8>)> = [10, 50, 99]
        .iter()
        .map(|pct| {
            let n = (b.len() * pct / 100).max(512);
            (format!("cut at {pct}%"), b[..n].to_vec())
        })
        .collect();
    let mut garbled = b.to_vec();
    let mut x: u32 = 0x9E37_79B9;
    for byte in &mut garbled[512..] {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        *byte = x as u8;
    }
    out.push(("garbled after the header".into(), garbled));
    out
}

#[test]
fn cut_or_damaged_office_zips_are_damaged_files_of_their_kind() {
    let (settings, _storage) = settings();
    let originals: Vec<(&str, FileKind, Vec<u8>)> = vec![
        ("统计表.xlsx", FileKind::Xlsx, table("太原市公安局", "2023")),
        (
            "统计表.xlsx",
            FileKind::Xlsx,
            fixture("table/libreoffice/valid.xlsx"),
        ),
        ("总结.docx", FileKind::Docx, fixture("report/report.docx")),
        (
            "总结.docx",
            FileKind::Docx,
            fixture("media/samples/01.docx"),
        ),
        ("统计表.ods", FileKind::Ods, fixture("table/valid.ods")),
        ("总结.odt", FileKind::Odt, fixture("report/report.odt")),
    ];
    for (name, kind, original) in &originals {
        for (how, bytes) in damaged_zips(original) {
            let case = format!("{name} {how}");
            let m = decided(&settings, &[(name, bytes)]);
            assert_damaged(&m, name, *kind, &case);
        }
    }
}

#[test]
fn damaged_compound_files_are_damaged_files_of_their_kind() {
    let (settings, _storage) = settings();
    let xls = fixture("table/valid.xls");
    let libre_xls = fixture("table/libreoffice/sample01.xls");
    let doc = fixture("report/report.doc");
    let originals: Vec<(&str, FileKind, &[u8])> = vec![
        ("统计表.xls", FileKind::Xls, &xls),
        ("统计表.xls", FileKind::Xls, &libre_xls),
        ("统计表.et", FileKind::Xls, &xls),
        ("总结.doc", FileKind::Doc, &doc),
        ("总结.wps", FileKind::Doc, &doc),
    ];
    for (name, kind, original) in originals {
        for (how, bytes) in damaged_oles(original) {
            let case = format!("{name} {how}");
            let m = decided(&settings, &[(name, bytes)]);
            assert_damaged(&m, name, kind, &case);
        }
    }
}

#[test]
fn any_one_byte_flipped_in_a_directory_is_never_an_archive_or_a_mismatch() {
    let (settings, _storage) = settings();
    for (name, kind, z) in [
        ("统计表.xlsx", FileKind::Xlsx, table("太原市公安局", "2023")),
        ("总结.docx", FileKind::Docx, fixture("report/report.docx")),
    ] {
        let cd = z.windows(4).position(|w| w == b"PK\x01\x02").unwrap();
        // Every byte of the directory and the end record: what reads stays valid, what
        // does not is a damaged file of its kind, never anything else.
        for at in cd..z.len() {
            let mut v = z.clone();
            v[at] ^= 0xFF;
            let case = format!("{name} byte {} of {} flipped", at, z.len());
            let m = decided(&settings, &[(name, v)]);
            assert_no_archive_talk(&m, &case);
            let f = &m.files[0];
            assert_eq!(f.kind, kind.as_str(), "{case}");
            if let Some(p) = f.problems.iter().find(|p| p.code == "file.unreadable") {
                assert!(p.message.contains("损坏"), "{case}: {}", p.message);
            }
        }
    }
}

#[test]
fn a_damaged_document_inside_a_zip_is_damaged_and_not_unpacked_further() {
    let (settings, _storage) = settings();
    let x = table("太原市公安局", "2023");
    let outer = zip_of(&[("统计表.xlsx", &x[..x.len() / 2])]);
    let m = decided(&settings, &[("材料.zip", outer)]);
    let member = m.files.iter().find(|f| f.name == "统计表.xlsx").unwrap();
    assert_eq!(member.role, "member");
    assert_eq!(member.kind, "xlsx");
    assert_eq!(member.problems[0].code, "file.unreadable");
    assert_eq!(member.problems[0].message, DAMAGED_FILE);
    assert_eq!(m.files.len(), 2, "{:?}", m.files);
}

#[test]
fn a_cut_zip_named_zip_stays_an_archive_problem_and_other_content_a_mismatch() {
    let (settings, _storage) = settings();
    let z = zip_of(&[("a.txt", &[b'a'; 2000]), ("b.txt", b"b")]);
    let m = decided(&settings, &[("材料.zip", z[..z.len() / 2].to_vec())]);
    assert_eq!(m.files[0].kind, "zip");
    assert_eq!(m.files[0].role, "archive");
    assert!(
        m.problems
            .iter()
            .any(|p| p.code == "file.unreadable" && p.message.contains("压缩包")),
        "{:?}",
        m.problems
    );

    // A pdf named .xlsx, a whole docx named .xlsx: content of another type.
    for bytes in [b"%PDF-1.4\n%fake\n".to_vec(), fixture("report/report.docx")] {
        let m = decided(&settings, &[("统计表.xlsx", bytes)]);
        assert_eq!(m.files[0].problems[0].code, "file.type_mismatch");
    }
}

#[test]
fn whole_office_files_are_never_taken_for_damaged() {
    let mut all = Vec::new();
    for dir in [
        "table",
        "table/libreoffice",
        "table/samples",
        "report",
        "media/samples",
    ] {
        let path = common::repo().join("tests/fixtures").join(dir);
        for e in std::fs::read_dir(path).unwrap() {
            let p = e.unwrap().path();
            if p.is_file() {
                all.push(p);
            }
        }
    }
    let mut seen = 0;
    for p in all {
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        let bytes = std::fs::read(&p).unwrap();
        if intake::kind_from_name(&name).is_some_and(|k| {
            matches!(
                k,
                FileKind::Xlsx
                    | FileKind::Xls
                    | FileKind::Ods
                    | FileKind::Docx
                    | FileKind::Doc
                    | FileKind::Odt
            )
        }) {
            seen += 1;
            assert_eq!(intake::damaged_office(&bytes, &name), None, "{name}");
        }
    }
    assert!(seen >= 20, "only {seen} office fixtures");
}

#[sqlx::test(migrations = "./migrations")]
async fn a_unit_sending_cut_off_files_is_told_they_are_damaged(pool: PgPool) {
    let env = env(pool.clone()).await;
    let x = table("太原市公安局", "2023");
    let docx = fixture("report/report.docx");
    let raw = Mail::new("tygaj_kxk@163.com", "市公安局科技活动周材料")
        .attach("统计表.xlsx", XLSX, x[..x.len() * 3 / 4].to_vec())
        .attach(
            "总结.docx",
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
            docx[..docx.len() / 2].to_vec(),
        )
        .build();
    let o = env.process(raw, "cut").await;
    assert!(o.ack_due);
    let status = env.status_json().await;
    let u = unit(&status, "city-police");
    for item in ["statistics_table", "summary_report"] {
        let it = &u["items"][item];
        assert_eq!(it["state"], "invalid", "{item}: {it:#}");
        assert_eq!(it["problems"][0]["code"], "file.unreadable", "{item}");
        assert_eq!(it["problems"][0]["message"], DAMAGED_FILE, "{item}");
    }
    let ack: String = sqlx::query_scalar("SELECT body_text FROM outbox WHERE kind = 'ack'")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert!(ack.contains(DAMAGED_FILE), "{ack}");
    assert!(!ack.contains("压缩包"), "{ack}");
    assert!(!ack.contains("扩展名"), "{ack}");
}

#[test]
fn damaged_files_have_office_kinds_in_intake() {
    let limits = intake::IntakeLimits::default();
    let doc = fixture("report/report.doc");
    let raw = Mail::new("tygaj_kxk@163.com", "材料")
        .attach("总结.wps", "application/octet-stream", doc[..4000].to_vec())
        .build();
    let parsed = intake::parse(&raw, &limits);
    assert_eq!(parsed.files.len(), 1);
    assert_eq!(parsed.files[0].kind, FileKind::Doc);
    assert_eq!(parsed.files[0].role, FileRole::Attachment);
    assert_eq!(parsed.files[0].problems[0].message, DAMAGED_FILE);
}
