//! RAR attachments (contract §3, §6): RAR4 and RAR5 unpacked like zip and 7z, every limit
//! checked, encrypted, broken and split archives each given a verdict. Pure: no database.
//! The fixtures and how each was made: tests/fixtures/rar/README.md.

mod common;

use common::{repo, samples_dir, settings_with, Mail, XLSX};
use reportbox::intake::{self, FileKind, FileRole, IncomingFile, IntakeLimits, Parsed};
use reportbox::pipeline::{self, Meta};
use sha2::{Digest, Sha256};

const DOCX: &str = "application/vnd.openxmlformats-officedocument.wordprocessingml.document";
const RAR: &str = "application/x-rar-compressed";

fn fixture(name: &str) -> Vec<u8> {
    let p = repo().join("tests/fixtures/rar").join(name);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn table_bytes() -> Vec<u8> {
    std::fs::read(repo().join("tests/fixtures/table/samples/03_统计表.xlsx")).unwrap()
}

fn report_bytes() -> Vec<u8> {
    std::fs::read(repo().join("tests/fixtures/report/report.docx")).unwrap()
}

/// One message from 市档案馆 carrying `bytes` as `name`.
fn mail_with(name: &str, bytes: Vec<u8>) -> Vec<u8> {
    Mail::new("tydag_bgs@163.com", "市档案馆科技活动周材料")
        .attach(name, RAR, bytes)
        .build()
}

fn parse_rar(name: &str, bytes: Vec<u8>) -> Parsed {
    intake::parse(&mail_with(name, bytes), &IntakeLimits::default())
}

fn members(p: &Parsed) -> Vec<&IncomingFile> {
    p.files
        .iter()
        .filter(|f| f.role == FileRole::Member)
        .collect()
}

fn codes(p: &Parsed) -> Vec<&str> {
    p.problems.iter().map(|p| p.code.as_str()).collect()
}

fn sha256(b: &[u8]) -> String {
    hex::encode(Sha256::digest(b))
}

/// The one problem of `p`, which must have `code`, name the archive and be written in Chinese.
fn only_problem(p: &Parsed, code: &str, archive: &str) -> String {
    assert_eq!(codes(p), [code], "{:?}", p.problems);
    let m = &p.problems[0].message;
    assert!(m.contains(&format!("“{archive}”")), "{m}");
    assert!(
        m.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c)),
        "{m}"
    );
    assert!(!m.contains("RAR 5") && !m.contains("error"), "{m}");
    m.clone()
}

// ---------- members come out ----------

#[test]
fn rar5_and_rar4_with_chinese_names_unpack_to_the_table_and_the_report() {
    for fx in ["rar5_stored_cn.rar", "rar4_stored_cn.rar"] {
        let p = parse_rar("2023年科技活动周材料.rar", fixture(fx));
        assert!(p.problems.is_empty(), "{fx}: {:?}", p.problems);
        assert_eq!(p.files.len(), 3, "{fx}: {:?}", p.files);
        assert_eq!(p.files[0].role, FileRole::Archive);
        assert_eq!(p.files[0].kind, FileKind::Rar);
        let m = members(&p);
        let names: Vec<_> = m.iter().map(|f| f.name.as_str()).collect();
        // Folders inside the archive are dropped; directory entries are not files.
        assert_eq!(
            names,
            ["开展情况统计表.xlsx", "活动周总结报告.docx"],
            "{fx}"
        );
        assert_eq!(m[0].kind, FileKind::Xlsx, "{fx}");
        assert_eq!(m[1].kind, FileKind::Docx, "{fx}");
        assert_eq!(m[0].bytes, table_bytes(), "{fx}");
        assert_eq!(m[1].bytes, report_bytes(), "{fx}");
        assert_eq!(m[0].size, table_bytes().len() as u64);
        for f in &m {
            assert_eq!(f.origin, ["2023年科技活动周材料.rar"], "{fx}");
            assert!(f.problems.is_empty(), "{fx}: {:?}", f.problems);
        }
    }
}

/// What the pipeline makes of each file: (name, kind, item, state, problem codes).
fn verdicts(raw: &[u8]) -> Vec<(String, String, String, String, Vec<String>)> {
    let storage = tempfile::tempdir().unwrap();
    let settings = settings_with(&samples_dir().join("roster.csv"), storage.path(), &[]);
    let parsed = intake::parse(raw, &settings.limits);
    let meta = Meta {
        raw_sha256: sha256(raw),
        body_sha256: sha256(raw),
        size: raw.len(),
        source: "test".into(),
        internal_date: None,
    };
    let (message, _) = pipeline::decide(&settings, parsed, &Default::default(), meta);
    message
        .files
        .into_iter()
        .filter(|f| f.role != "archive")
        .map(|f| {
            (
                f.name,
                f.kind,
                f.item,
                format!("{:?}", f.state),
                f.problems.into_iter().map(|p| p.code).collect(),
            )
        })
        .collect()
}

#[test]
fn members_of_a_rar_are_classified_like_loose_attachments() {
    let loose = Mail::new("tydag_bgs@163.com", "市档案馆科技活动周材料")
        .attach("开展情况统计表.xlsx", XLSX, table_bytes())
        .attach("活动周总结报告.docx", DOCX, report_bytes())
        .build();
    let expected = verdicts(&loose);
    let items: Vec<_> = expected.iter().map(|v| v.2.as_str()).collect();
    assert_eq!(
        items,
        ["statistics_table", "summary_report"],
        "{expected:?}"
    );
    for fx in ["rar5_stored_cn.rar", "rar4_stored_cn.rar"] {
        let got = verdicts(&mail_with("材料.rar", fixture(fx)));
        assert_eq!(got, expected, "{fx}");
    }
}

#[test]
fn compressed_rar5_and_rar4_members_match_what_libarchive_extracts() {
    // Expected digests are libarchive's (python libarchive-c) extraction of the same files:
    // a second, independent decoder.
    let cases = [
        (
            "rar5_compressed.rar",
            vec![(
                "bigtext_64k.bin",
                65536,
                "ed70a3812333daa70dfdbc167cb009049fd6aed3aeef0902ad5326d245892209",
            )],
        ),
        (
            "rar5_solid.rar",
            vec![
                (
                    "hello.txt",
                    30,
                    "a291257d14e55204e3d38ee1bf4a3256a32a2630a76e3bf28953ed6fae2c7e8b",
                ),
                (
                    "tiny.txt",
                    9,
                    "62de6306211cb0e6bd25c6fa452659e65f759b01fce630d027f5b781b14bd858",
                ),
            ],
        ),
        (
            "rar4_compressed.rar",
            vec![(
                "text.txt",
                2400,
                "2397d3a533cf0ff3bacf43ada6bf304d7d0711f60bfea36bfa9b9e9fc6d937f3",
            )],
        ),
    ];
    for (fx, want) in cases {
        let p = parse_rar("材料.rar", fixture(fx));
        assert!(p.problems.is_empty(), "{fx}: {:?}", p.problems);
        let got: Vec<_> = members(&p)
            .iter()
            .map(|f| (f.name.as_str(), f.size, sha256(&f.bytes)))
            .collect();
        let want: Vec<_> = want
            .into_iter()
            .map(|(n, s, h)| (n, s, h.to_string()))
            .collect();
        assert_eq!(got, want, "{fx}");
    }
}

#[test]
fn path_traversal_names_become_plain_base_names() {
    let p = parse_rar("材料.rar", fixture("rar5_traversal.rar"));
    assert!(p.problems.is_empty(), "{:?}", p.problems);
    let names: Vec<_> = members(&p).iter().map(|f| f.name.clone()).collect();
    assert_eq!(names, ["passwd", "总结报告.txt"]);
    assert_eq!(members(&p)[1].bytes, "科技活动周总结".as_bytes());

    let p = parse_rar("材料.rar", fixture("rar4_traversal.rar"));
    assert!(p.problems.is_empty(), "{:?}", p.problems);
    let names: Vec<_> = members(&p).iter().map(|f| f.name.clone()).collect();
    assert_eq!(names, ["passwd"]);
}

// ---------- refused ----------

#[test]
fn encrypted_rar_is_archive_encrypted_whether_names_or_only_contents_are_hidden() {
    for fx in [
        "rar5_header_encrypted.rar",
        "rar5_file_encrypted.rar",
        "rar4_header_encrypted.rar",
        "rar4_file_encrypted.rar",
    ] {
        let p = parse_rar("加密材料.rar", fixture(fx));
        let m = only_problem(&p, "archive.encrypted", "加密材料.rar");
        assert!(m.contains("密码"), "{fx}: {m}");
        assert!(members(&p).is_empty(), "{fx}");
        // The archive itself is kept, as with an encrypted zip.
        assert_eq!(p.files.len(), 1, "{fx}");
        assert_eq!(p.files[0].role, FileRole::Archive, "{fx}");
    }
}

#[test]
fn a_declared_size_bomb_is_refused_from_its_header() {
    // Each declares about 4 GiB for 5 bytes of data. Had anything been decoded, the result would
    // be a checksum failure (file.unreadable), not the size verdict.
    for fx in ["rar5_bomb_declared.rar", "rar4_bomb_declared.rar"] {
        let p = parse_rar("炸弹.rar", fixture(fx));
        let m = only_problem(&p, "archive.too_large", "炸弹.rar");
        assert!(m.contains("解压后过大"), "{fx}: {m}");
        assert!(m.contains("上限 1 GB"), "{fx}: {m}");
        assert!(members(&p).is_empty(), "{fx}");
    }
}

#[test]
fn more_entries_than_the_limit_are_refused() {
    let p = parse_rar("很多文件.rar", fixture("rar5_many.rar"));
    let m = only_problem(&p, "archive.too_large", "很多文件.rar");
    assert!(m.contains("1001 个") && m.contains("上限 1000 个"), "{m}");
    assert!(members(&p).is_empty());
    // Under a higher limit the same archive unpacks.
    let limits = IntakeLimits {
        archive_max_entries: 2000,
        max_parts: 5000,
        ..Default::default()
    };
    let p = intake::parse(
        &mail_with("很多文件.rar", fixture("rar5_many.rar")),
        &limits,
    );
    assert!(p.problems.is_empty(), "{:?}", p.problems);
    assert_eq!(members(&p).len(), 1001);
}

#[test]
fn expanded_size_and_ratio_limits_apply_to_compressed_rar() {
    // rar5_compressed.rar declares 64 KiB in 10 KB (6.5:1). Under a 32 KiB expanded limit, or
    // a 2:1 ratio limit, it is refused from its header. What a decoder actually writes is
    // counted too: see the unit tests in src/intake/archive/rar.rs.
    let limits = IntakeLimits {
        archive_max_expanded: 32 << 10,
        ..Default::default()
    };
    let p = intake::parse(
        &mail_with("材料.rar", fixture("rar5_compressed.rar")),
        &limits,
    );
    let m = only_problem(&p, "archive.too_large", "材料.rar");
    assert!(m.contains("解压后过大"), "{m}");
    let limits = IntakeLimits {
        archive_max_ratio: 2,
        ..Default::default()
    };
    let p = intake::parse(
        &mail_with("材料.rar", fixture("rar5_compressed.rar")),
        &limits,
    );
    let m = only_problem(&p, "archive.too_large", "材料.rar");
    assert!(m.contains("压缩比异常"), "{m}");
    assert!(members(&p).is_empty());
}

#[test]
fn a_part_of_a_multi_volume_rar_is_refused_with_a_clear_verdict() {
    for fx in [
        "rar5_volume.part1.rar",
        "rar5_volume.part2.rar",
        "rar4_volume.rar",
        "rar4_volume.r00",
    ] {
        let p = parse_rar("视频.part1.rar", fixture(fx));
        let m = only_problem(&p, "archive.unsupported", "视频.part1.rar");
        assert!(m.contains("分卷"), "{fx}: {m}");
        assert!(members(&p).is_empty(), "{fx}");
    }
}

// ---------- broken ----------

#[test]
fn truncated_rar_is_unreadable() {
    for fx in [
        "rar5_stored_cn.rar",
        "rar4_stored_cn.rar",
        "rar5_compressed.rar",
    ] {
        let full = fixture(fx);
        for cut in [full.len() / 2, full.len() - 1, 30] {
            let p = parse_rar("坏.rar", full[..cut].to_vec());
            only_problem(&p, "file.unreadable", "坏.rar");
            assert_eq!(p.files[0].role, FileRole::Archive, "{fx} cut at {cut}");
        }
    }
}

#[test]
fn a_damaged_member_is_unreadable_and_earlier_members_still_come_out() {
    let mut rar = fixture("rar5_stored_cn.rar");
    // A byte inside the .docx (the last member): its CRC32 no longer matches.
    let at = rar.len() - 100;
    rar[at] ^= 0xFF;
    let p = parse_rar("坏.rar", rar);
    only_problem(&p, "file.unreadable", "坏.rar");
    let names: Vec<_> = members(&p).iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names, ["开展情况统计表.xlsx"]);

    let mut rar = fixture("rar5_compressed.rar");
    let at = rar.len() / 2;
    rar[at] ^= 0xFF;
    let p = parse_rar("坏.rar", rar);
    only_problem(&p, "file.unreadable", "坏.rar");
    assert!(members(&p).is_empty());
}

#[test]
fn junk_after_the_rar_signature_is_unreadable() {
    for bytes in [
        &b"Rar!\x1A\x07\x01\0junk"[..],
        b"Rar!\x1A\x07\x00xxxx",
        b"Rar!\x1A\x07\x00",
        // A RAR5 main header and nothing after it: no files, no end of archive.
        b"Rar!\x1A\x07\x01\x00\x33\x92\xB5\xE5\x0A\x01\x05\x06\x00\x05\x01\x01\x80\x80\x00",
    ] {
        let p = parse_rar("视频.rar", bytes.to_vec());
        let m = only_problem(&p, "file.unreadable", "视频.rar");
        assert!(m.contains("已损坏"), "{m}");
    }
    // Not a RAR at all, only named like one.
    let p = parse_rar("视频.rar", b"this is not an archive".to_vec());
    only_problem(&p, "file.unreadable", "视频.rar");
}

#[test]
fn a_rar_inside_a_zip_is_unpacked_once() {
    use std::io::Write;
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    w.start_file("材料/内层.rar", zip::write::SimpleFileOptions::default())
        .unwrap();
    w.write_all(&fixture("rar5_stored_cn.rar")).unwrap();
    let z = w.finish().unwrap().into_inner();
    let raw = Mail::new("tydag_bgs@163.com", "材料")
        .attach("外层.zip", "application/zip", z)
        .build();
    let p = intake::parse(&raw, &IntakeLimits::default());
    assert!(p.problems.is_empty(), "{:?}", p.problems);
    let names: Vec<_> = p.files.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "外层.zip",
            "内层.rar",
            "开展情况统计表.xlsx",
            "活动周总结报告.docx"
        ]
    );
    assert_eq!(p.files[3].origin, ["外层.zip", "内层.rar"]);
}
