use super::*;
use std::io::Write;
use std::path::PathBuf;

// ---------- fixtures ----------

fn b64(data: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut s = String::with_capacity(data.len() / 3 * 4 + 4);
    for c in data.chunks(3) {
        let n = (c[0] as u32) << 16
            | (*c.get(1).unwrap_or(&0) as u32) << 8
            | *c.get(2).unwrap_or(&0) as u32;
        s.push(T[(n >> 18) as usize & 63] as char);
        s.push(T[(n >> 12) as usize & 63] as char);
        s.push(if c.len() > 1 {
            T[(n >> 6) as usize & 63] as char
        } else {
            '='
        });
        s.push(if c.len() > 2 {
            T[n as usize & 63] as char
        } else {
            '='
        });
    }
    let mut out = String::with_capacity(s.len() + s.len() / 76 * 2 + 2);
    for (i, ch) in s.chars().enumerate() {
        if i > 0 && i % 76 == 0 {
            out.push_str("\r\n");
        }
        out.push(ch);
    }
    out
}

/// A multipart/mixed message: a short text body, then each (part header lines, body bytes).
fn mail(parts: &[(&[u8], Vec<u8>)]) -> Vec<u8> {
    let mut m = "From: =?UTF-8?B?5biC5qGj5qGI6aaG?= <Unit@163.com>\r\nTo: box@163.com\r\nSubject: test\r\n\
Message-ID: <t1@example>\r\nDate: Thu, 8 Jun 2023 15:40:19 +0800\r\nMIME-Version: 1.0\r\n\
Content-Type: multipart/mixed; boundary=\"BB\"\r\n\r\n--BB\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n正文\r\n"
        .as_bytes()
        .to_vec();
    for (h, body) in parts {
        m.extend_from_slice(b"--BB\r\n");
        m.extend_from_slice(h);
        m.extend_from_slice(b"\r\n\r\n");
        m.extend_from_slice(body);
        m.extend_from_slice(b"\r\n");
    }
    m.extend_from_slice(b"--BB--\r\n");
    m
}

fn attachment(name: &str, data: &[u8]) -> (Vec<u8>, Vec<u8>) {
    (
        format!("Content-Type: application/octet-stream; name=\"{name}\"\r\nContent-Transfer-Encoding: base64\r\nContent-Disposition: attachment; filename=\"{name}\"").into_bytes(),
        b64(data).into_bytes(),
    )
}

fn parse_parts(parts: Vec<(Vec<u8>, Vec<u8>)>) -> Parsed {
    let refs: Vec<(&[u8], Vec<u8>)> = parts
        .iter()
        .map(|(h, b)| (h.as_slice(), b.clone()))
        .collect();
    parse(&mail(&refs), &IntakeLimits::default())
}

fn zip_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default();
    for (n, d) in entries {
        w.start_file(*n, opts).unwrap();
        w.write_all(d).unwrap();
    }
    w.finish().unwrap().into_inner()
}

fn xlsx_bytes() -> Vec<u8> {
    zip_of(&[
        ("[Content_Types].xml", b"<Types/>"),
        ("xl/workbook.xml", b"<workbook/>"),
    ])
}

fn mp4_bytes() -> Vec<u8> {
    let mut v = b"\0\0\0\x18ftypisom\0\0\x02\0isommp41".to_vec();
    v.extend_from_slice(&[0u8; 64]);
    v
}

fn names(p: &Parsed) -> Vec<&str> {
    p.files.iter().map(|f| f.name.as_str()).collect()
}

// ---------- the sample corpus ----------

/// `CARGO_MANIFEST_DIR/../shared/samples/corpus`: the shared tree sits beside the crate (a
/// symlink in a scratch crate). A missing corpus fails the test rather than skipping it.
fn corpus_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/samples/corpus");
    assert!(dir.is_dir(), "sample corpus not found at {}", dir.display());
    dir
}

fn corpus(name: &str) -> Parsed {
    let raw = std::fs::read(corpus_dir().join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
    parse(&raw, &IntakeLimits::default())
}

fn dt(s: &str) -> Option<MailDate> {
    Some(MailDate::Zoned(
        chrono::DateTime::parse_from_rfc3339(s).unwrap(),
    ))
}

#[test]
fn corpus_every_message_parses() {
    let mut n = 0;
    for e in std::fs::read_dir(corpus_dir()).unwrap() {
        let path = e.unwrap().path();
        if path.extension().is_some_and(|x| x == "eml") {
            let p = parse(&std::fs::read(&path).unwrap(), &IntakeLimits::default());
            assert!(p.message_id.is_some(), "{}", path.display());
            assert!(p.received_at.is_some(), "{}", path.display());
            assert!(
                p.problems.is_empty(),
                "{}: {:?}",
                path.display(),
                p.problems
            );
            n += 1;
        }
    }
    assert_eq!(n, 8);
}

#[test]
fn corpus_01_foxmail_gbk() {
    let p = corpus("01_city-police.eml");
    assert_eq!(
        p.message_id.as_deref(),
        Some("<202306021021370000910@163.com>")
    );
    assert_eq!(p.subject, "市公安局报送2023年科技活动周材料");
    assert_eq!(p.from.as_ref().unwrap().address, "tygaj_kxk@163.com");
    assert_eq!(p.date, dt("2023-06-02T10:21:37+08:00"));
    assert_eq!(p.received_at, dt("2023-06-02T10:22:08+08:00"));
    assert_eq!(
        names(&p),
        [
            "市公安局2023年科技活动周开展情况统计表.xlsx",
            "市公安局科技活动周工作总结.docx",
            "警营开放日科普视频.mp4"
        ]
    );
    let kinds: Vec<_> = p.files.iter().map(|f| f.kind).collect();
    assert_eq!(kinds, [FileKind::Xlsx, FileKind::Docx, FileKind::Mp4]);
    assert!(p
        .files
        .iter()
        .all(|f| f.role == FileRole::Attachment && f.origin.is_empty()));
    assert_eq!(p.files[2].declared_type.as_deref(), Some("video/mp4"));
    assert!(p.body_text.contains("0351-8256214"), "{}", p.body_text);
    assert!(p.links.is_empty());
    assert!(!p.is_delivery_report && !p.is_list && p.auto_submitted.is_none());
}

#[test]
fn corpus_02_rfc2231() {
    let p = corpus("02_city-urban.eml");
    assert_eq!(
        names(&p),
        [
            "附件2：2023年太原市科技活动周开展情况统计表（市城乡管理局）.xlsx",
            "太原市城乡管理局关于2023年科技活动周开展情况的总结报告.docx",
            "城乡管理科普宣传活动视频（2分钟）.mp4"
        ]
    );
    let kinds: Vec<_> = p.files.iter().map(|f| f.kind).collect();
    assert_eq!(kinds, [FileKind::Xlsx, FileKind::Docx, FileKind::Mp4]);
    assert_eq!(p.subject, "市城乡管理局2023年科技活动周材料");
}

#[test]
fn corpus_03_zip_with_gbk_names() {
    let p = corpus("03_city-tv.eml");
    assert_eq!(p.files[0].name, "太原台科技活动周材料.zip");
    assert_eq!(p.files[0].role, FileRole::Archive);
    let members: Vec<_> = p
        .files
        .iter()
        .filter(|f| f.role == FileRole::Member)
        .collect();
    let mut got: Vec<(&str, FileKind)> =
        members.iter().map(|f| (f.name.as_str(), f.kind)).collect();
    got.sort_by_key(|g| g.0);
    let mut want = vec![
        ("统计表.xlsx", FileKind::Xlsx),
        ("总结报告.docx", FileKind::Docx),
        ("科技活动周专题片.mp4", FileKind::Mp4),
    ];
    want.sort_by_key(|g| g.0);
    assert_eq!(got, want);
    assert!(members
        .iter()
        .all(|f| f.origin == ["太原台科技活动周材料.zip"]));
}

#[test]
fn corpus_04_05_08_names_and_kinds() {
    let p = corpus("04_city-medical-insurance.eml");
    assert_eq!(
        names(&p),
        [
            "市医保局科技活动周统计表.xlsx",
            "市医疗保障局科技活动周总结.docx",
            "医保科普视频.mp4"
        ]
    );
    assert_eq!(p.files[0].kind, FileKind::Xlsx);
    assert_eq!(
        p.files[0].declared_type.as_deref(),
        Some("application/octet-stream")
    );
    let p = corpus("05_city-sasac.eml");
    assert_eq!(
        names(&p),
        [
            "市国资委科技活动周统计表.xlsx",
            "市国资委2023年科技活动周总结.docx",
            "国企科技活动周纪实.mp4"
        ]
    );
    assert_eq!(
        p.message_id.as_deref(),
        Some("<000001d93423$b84de6b6$7f593a5e$@163.com>")
    );
    let p = corpus("08_unidentified.eml");
    assert_eq!(names(&p), ["VID20230525153012.mp4"]);
    assert_eq!(p.files[0].kind, FileKind::Mp4);
    assert_eq!(p.from.as_ref().unwrap().address, "1092837465@qq.com");
}

#[test]
fn corpus_06_163_link() {
    let p = corpus("06_city-archives.eml");
    assert_eq!(
        names(&p),
        [
            "市档案馆科技活动周统计表.xlsx",
            "市档案馆科技活动周总结.docx"
        ]
    );
    assert_eq!(p.links.len(), 1, "{:?}", p.links);
    let l = &p.links[0];
    assert_eq!(l.provider, "163");
    assert!(l.url.starts_with("https://mail.163.com/large-attachment-download/index.html?p=X-NETEASE-HUGE-ATTACHMENT&file="));
    assert!(!l.url.contains("&amp;"));
    assert_eq!(
        l.file_name.as_deref(),
        Some("市档案馆科技活动周影像资料.mp4")
    );
    assert_eq!(l.size_text.as_deref(), Some("486.2M"));
    assert_eq!(l.expires.as_deref(), Some("2023年6月23日 15:40"));
}

#[test]
fn corpus_07_auto_reply() {
    let p = corpus("07_city-police-autoreply.eml");
    assert_eq!(p.auto_submitted.as_deref(), Some("auto-replied"));
    assert_eq!(p.subject, "自动回复：2023年太原市科技活动周材料已收到");
    assert!(p.files.is_empty());
    assert!(p.body_text.contains("邮件已收到"));
}

// ---------- names ----------

#[test]
fn every_named_part_is_a_file_whatever_the_disposition() {
    let p = parse_parts(vec![
        (b"Content-Type: image/jpeg; name=\"a.jpg\"\r\nContent-Disposition: inline".to_vec(), b"\xFF\xD8\xFF\xE0".to_vec()),
        (b"Content-Type: application/pdf; name=\"b.pdf\"".to_vec(), b"%PDF-1.4".to_vec()),
        (b"Content-Type: text/plain; charset=gbk\r\nContent-Disposition: attachment; filename=\"c.txt\"".to_vec(), b"abc".to_vec()),
    ]);
    assert_eq!(names(&p), ["a.jpg", "b.pdf", "c.txt"]);
    assert_eq!(p.files[2].bytes, b"abc");
    assert_eq!(p.files[2].kind, FileKind::Txt);
    assert_eq!(p.body_text, "正文");
}

#[test]
fn raw_gbk_and_gbk_rfc2231_names() {
    let (gbk, _, _) = encoding_rs::GB18030.encode("统计表.xlsx");
    let mut h =
        b"Content-Type: application/octet-stream\r\nContent-Disposition: attachment; filename=\""
            .to_vec();
    h.extend_from_slice(&gbk);
    h.extend_from_slice(b"\"");
    let (gbk2, _, _) = encoding_rs::GB18030.encode("总结报告");
    let pct: String = gbk2.iter().map(|b| format!("%{b:02X}")).collect();
    let h2 = format!("Content-Type: application/octet-stream\r\nContent-Disposition: attachment;\r\n filename*0*=gbk''{pct};\r\n filename*1=.docx");
    let p = parse_parts(vec![(h, b"x".to_vec()), (h2.into_bytes(), b"y".to_vec())]);
    assert_eq!(names(&p), ["统计表.xlsx", "总结报告.docx"]);
}

#[test]
fn hostile_names_become_base_names() {
    let p = parse_parts(vec![
        attachment("../../etc/passwd", b"x"),
        attachment("C:\\\\Windows\\\\x.exe", b"x"),
        (
            b"Content-Type: application/octet-stream; name=\"a\x01b\x7f.doc\"".to_vec(),
            b"x".to_vec(),
        ),
        (
            b"Content-Type: application/octet-stream; name*=utf-8''evil%00name%0D%0A.pdf".to_vec(),
            b"x".to_vec(),
        ),
        attachment("..", b"x"),
        (
            b"Content-Type: application/octet-stream".to_vec(),
            b"x".to_vec(),
        ),
    ]);
    assert_eq!(
        names(&p),
        [
            "passwd",
            "x.exe",
            "ab.doc",
            "evilname.pdf",
            "未命名附件1",
            "未命名附件2"
        ]
    );
}

// ---------- attached messages ----------

fn inner_mail() -> Vec<u8> {
    let mut m = "From: a@b.c\r\nSubject: =?UTF-8?B?5Y6f5aeL6YKu5Lu2?=\r\nMIME-Version: 1.0\r\n\
Content-Type: multipart/mixed; boundary=\"IN\"\r\n\r\n--IN\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n\
转发的正文\r\n--IN\r\nContent-Type: application/octet-stream; name=\"inner.xlsx\"\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        .as_bytes()
        .to_vec();
    m.extend_from_slice(b64(&xlsx_bytes()).as_bytes());
    m.extend_from_slice(b"\r\n--IN--\r\n");
    m
}

#[test]
fn message_rfc822_is_opened() {
    let p = parse_parts(vec![(
        b"Content-Type: message/rfc822".to_vec(),
        inner_mail(),
    )]);
    assert_eq!(names(&p), ["inner.xlsx"]);
    assert_eq!(p.files[0].origin, ["邮件附件：原始邮件"]);
    assert_eq!(p.files[0].kind, FileKind::Xlsx);
    assert!(!p.body_text.contains("转发的正文"));
}

#[test]
fn base64_message_rfc822_and_octet_stream_eml_are_opened() {
    let p = parse_parts(vec![
        (
            b"Content-Type: message/rfc822\r\nContent-Transfer-Encoding: base64".to_vec(),
            b64(&inner_mail()).into_bytes(),
        ),
        attachment("转发.eml", &inner_mail()),
    ]);
    assert_eq!(names(&p), ["inner.xlsx", "inner.xlsx"]);
    assert!(p
        .files
        .iter()
        .all(|f| f.origin == ["邮件附件：原始邮件"] && f.kind == FileKind::Xlsx));
}

// ---------- archives ----------

#[test]
fn nested_archives_are_unpacked_once() {
    let innermost = zip_of(&[("deep.txt", b"deep")]);
    let inner = zip_of(&[("统计表.xlsx", &xlsx_bytes()), ("more.zip", &innermost)]);
    let outer = zip_of(&[("材料/inner.zip", &inner), ("视频.mp4", &mp4_bytes())]);
    let p = parse_parts(vec![attachment("材料.zip", &outer)]);
    let got: Vec<_> = p
        .files
        .iter()
        .map(|f| (f.name.as_str(), f.role, f.origin.join(">")))
        .collect();
    assert_eq!(
        got,
        [
            ("材料.zip", FileRole::Archive, String::new()),
            ("inner.zip", FileRole::Archive, "材料.zip".to_string()),
            (
                "统计表.xlsx",
                FileRole::Member,
                "材料.zip>inner.zip".to_string()
            ),
            (
                "more.zip",
                FileRole::Member,
                "材料.zip>inner.zip".to_string()
            ),
            ("视频.mp4", FileRole::Member, "材料.zip".to_string()),
        ]
    );
    assert_eq!(p.files[3].kind, FileKind::Zip);
    assert!(p.problems.is_empty());
}

#[test]
fn zip_bomb_in_a_message() {
    let bomb = zip_of(&[("zeros.bin", &vec![0u8; 10 << 20])]);
    let p = parse_parts(vec![attachment("bomb.zip", &bomb)]);
    assert_eq!(p.files.len(), 1);
    assert_eq!(p.files[0].role, FileRole::Archive);
    assert_eq!(p.problems.len(), 1);
    assert_eq!(p.problems[0].code, "archive.too_large");
    assert!(p.problems[0].message.contains("bomb.zip"));
}

#[test]
fn encrypted_zip_in_a_message() {
    let mut z = zip_of(&[("a.xlsx", b"secret")]);
    for i in 0..z.len() - 4 {
        if z[i..].starts_with(b"PK\x03\x04") {
            z[i + 6] |= 1;
        } else if z[i..].starts_with(b"PK\x01\x02") {
            z[i + 8] |= 1;
        }
    }
    let p = parse_parts(vec![attachment("加密.zip", &z)]);
    assert_eq!(p.files.len(), 1);
    assert_eq!(p.problems[0].code, "archive.encrypted");
    assert!(p.problems[0].message.contains("加密.zip"));
}

#[test]
fn corrupt_zip_and_rar_in_a_message() {
    let z = zip_of(&[("a.txt", b"hello")]);
    let p = parse_parts(vec![
        attachment("坏.zip", &z[..20]),
        attachment("a.rar", b"Rar!\x1A\x07\x00xxxx"),
    ]);
    let codes: Vec<_> = p.problems.iter().map(|p| p.code.as_str()).collect();
    assert_eq!(codes, ["file.unreadable", "file.unreadable"]);
    assert!(p.problems[0].message.contains("坏.zip"));
    assert!(p.problems[1].message.contains("a.rar"));
    assert!(p.files.iter().all(|f| f.role == FileRole::Archive));
}

// ---------- hostile input ----------

#[test]
fn zero_byte_attachment() {
    let p = parse_parts(vec![attachment("空.xlsx", b"")]);
    assert_eq!(p.files.len(), 1);
    assert_eq!(p.files[0].kind, FileKind::Empty);
    assert_eq!(p.files[0].size, 0);
}

#[test]
fn garbage_is_not_a_mail() {
    let garbage: Vec<u8> = (0..100_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let p = parse(&garbage, &IntakeLimits::default());
    assert!(p.files.is_empty());
    let p = parse(b"", &IntakeLimits::default());
    assert!(p.files.is_empty());
    let p = parse(b"\r\n\r\n\r\n", &IntakeLimits::default());
    assert!(p.files.is_empty());
}

#[test]
fn truncated_base64_keeps_what_decodes() {
    let data = xlsx_bytes();
    let enc = b64(&data);
    let mut m = b"From: a@b.c\r\nSubject: t\r\nContent-Type: multipart/mixed; boundary=\"BB\"\r\n\r\n--BB\r\n\
Content-Type: application/octet-stream; name=\"t.xlsx\"\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        .to_vec();
    m.extend_from_slice(&enc.as_bytes()[..enc.len() / 2]);
    let p = parse(&m, &IntakeLimits::default());
    assert_eq!(names(&p), ["t.xlsx"]);
    assert!(p.files[0].size > 0 && p.files[0].size < data.len() as u64);
    assert!(data.starts_with(&p.files[0].bytes[..100]));
}

#[test]
fn huge_header_line() {
    let mut m = b"From: a@b.c\r\nSubject: big\r\nX-Junk: ".to_vec();
    m.extend(std::iter::repeat_n(b'a', 1 << 20));
    m.extend_from_slice(b"\r\nContent-Type: text/plain\r\n\r\nhello\r\n");
    let p = parse(&m, &IntakeLimits::default());
    assert_eq!(p.subject, "big");
    assert!(p
        .problems
        .iter()
        .any(|p| p.code == "message.header_too_large"
            && p.severity == crate::problem::Severity::Warning));
}

#[test]
fn a_thousand_nested_multiparts() {
    let depth = 1000;
    let mut m =
        b"From: a@b.c\r\nSubject: deep\r\nContent-Type: multipart/mixed; boundary=\"b0\"\r\n\r\n"
            .to_vec();
    for i in 1..=depth {
        m.extend_from_slice(
            format!(
                "--b{}\r\nContent-Type: multipart/mixed; boundary=\"b{i}\"\r\n\r\n",
                i - 1
            )
            .as_bytes(),
        );
    }
    m.extend_from_slice(format!("--b{depth}\r\nContent-Type: application/pdf; name=\"x.pdf\"\r\n\r\n%PDF-1.4\r\n--b{depth}--\r\n").as_bytes());
    for i in (0..depth).rev() {
        m.extend_from_slice(format!("--b{i}--\r\n").as_bytes());
    }
    let p = parse(&m, &IntakeLimits::default());
    assert!(p.files.is_empty());
    assert!(p.problems.iter().any(|p| p.code == "message.too_deep"));
    // Within the limit the same shape is read through.
    let p = parse(
        &m,
        &IntakeLimits {
            max_depth: 2000,
            max_parts: 5000,
            ..Default::default()
        },
    );
    assert_eq!(names(&p), ["x.pdf"]);
}

#[test]
fn deeply_nested_attached_messages() {
    let depth = 20_000;
    let mut m = Vec::new();
    for _ in 0..depth {
        m.extend_from_slice(b"Subject: x\r\nContent-Type: message/rfc822\r\n\r\n");
    }
    m.extend_from_slice(
        b"Subject: end\r\nContent-Type: application/pdf; name=\"x.pdf\"\r\n\r\n%PDF-1.4\r\n",
    );
    let p = parse(&m, &IntakeLimits::default());
    assert!(p.files.is_empty());
}

#[test]
fn too_many_parts() {
    let parts: Vec<_> = (0..50)
        .map(|i| attachment(&format!("{i}.pdf"), b"%PDF-1.4"))
        .collect();
    let refs: Vec<(&[u8], Vec<u8>)> = parts
        .iter()
        .map(|(h, b)| (h.as_slice(), b.clone()))
        .collect();
    let p = parse(
        &mail(&refs),
        &IntakeLimits {
            max_parts: 10,
            ..Default::default()
        },
    );
    assert!(p.files.len() < 10);
    assert!(p
        .problems
        .iter()
        .any(|p| p.code == "message.too_many_parts"));
}

#[test]
fn oversized_attachment_keeps_name_and_size() {
    let data = vec![7u8; 4096];
    let refs = [attachment("大视频.mp4", &data)];
    let refs: Vec<(&[u8], Vec<u8>)> = refs
        .iter()
        .map(|(h, b)| (h.as_slice(), b.clone()))
        .collect();
    let p = parse(
        &mail(&refs),
        &IntakeLimits {
            max_file_bytes: 1000,
            ..Default::default()
        },
    );
    let f = &p.files[0];
    assert_eq!(
        (f.name.as_str(), f.size, f.bytes.len()),
        ("大视频.mp4", 4096, 0)
    );
    assert_eq!(f.problems[0].code, "file.too_large");
}

// ---------- signals for "never answer" ----------

#[test]
fn bounce_list_and_precedence_signals() {
    let p = parse(
        b"Return-Path: <>\r\nFrom: MAILER-DAEMON@163.com\r\nSubject: x\r\nContent-Type: multipart/report; report-type=delivery-status; boundary=\"r\"\r\n\r\n\
--r\r\nContent-Type: text/plain\r\n\r\nfailed\r\n--r\r\nContent-Type: message/delivery-status\r\n\r\nStatus: 5.0.0\r\n--r--\r\n",
        &IntakeLimits::default(),
    );
    assert!(p.is_delivery_report);
    assert!(p.files.is_empty(), "{:?}", p.files);
    for raw in [
        &b"From: postmaster@x.cn\r\n\r\nx"[..],
        b"From: a@b.c\r\nReturn-Path: < >\r\n\r\nx",
    ] {
        assert!(parse(raw, &IntakeLimits::default()).is_delivery_report);
    }
    let p = parse(b"From: a@b.c\r\nList-Unsubscribe: <mailto:x>\r\nPrecedence: Bulk\r\nAuto-Submitted: Auto-Generated\r\n\r\nx", &IntakeLimits::default());
    assert!(p.is_list && !p.is_delivery_report);
    assert_eq!(p.precedence.as_deref(), Some("bulk"));
    assert_eq!(p.auto_submitted.as_deref(), Some("auto-generated"));
}

#[test]
fn headers_and_addresses() {
    let p = parse(
        b"Received: from a by b; Tue, 6 Jun 2023 09:48:56 +0800 (CST)\r\nReceived: from c by d; Tue, 6 Jun 2023 09:40:00 +0800\r\n\
From: \"\xCA\xD0\xB9\xAB\xB0\xB2\xBE\xD6\" < Tygaj@163.COM >\r\nSender: s@x.cn\r\nReply-To: r@x.cn\r\nSubject: \xCA\xD0\xB9\xAB\xB0\xB2\xBE\xD6\r\n\
Message-ID:  <abc@x>\r\nDate: Tue, 6 Jun 2023 09:48:51 +0800\r\n\r\nbody",
        &IntakeLimits::default(),
    );
    assert_eq!(p.subject, "市公安局");
    assert_eq!(p.message_id.as_deref(), Some("<abc@x>"));
    assert_eq!(p.received_at, dt("2023-06-06T09:48:56+08:00"));
    assert_eq!(p.date, dt("2023-06-06T09:48:51+08:00"));
    assert_eq!(p.from.as_ref().unwrap().address, "tygaj@163.com");
    assert_eq!(p.sender.as_ref().unwrap().address, "s@x.cn");
    assert_eq!(p.reply_to.as_ref().unwrap().address, "r@x.cn");
    assert_eq!(p.body_text, "body");
}

#[test]
fn a_received_header_without_a_date_gives_way_to_the_next_one() {
    let p = parse(
        b"Received: from a by b with LMTP\r\nReceived: from c by d; Tue, 6 Jun 2023 09:40:00 +0800\r\n\
From: u@163.com\r\nDate: Mon, 5 Jun 2023 08:00:00 +0800\r\n\r\nbody",
        &IntakeLimits::default(),
    );
    assert_eq!(p.received_at, dt("2023-06-06T09:40:00+08:00"));
}

#[test]
fn vacation_responder_headers_are_read_unless_they_say_no() {
    let read = |h: &str| {
        let raw = format!("From: u@163.com\r\n{h}\r\nSubject: x\r\n\r\nbody");
        parse(raw.as_bytes(), &IntakeLimits::default()).autoreply_header
    };
    assert!(read("X-Autoreply: yes"));
    assert!(read("X-Autorespond: 1"));
    assert!(!read("X-Autoreply: no"));
    assert!(!read("X-Mailer: Foxmail 7.2"));
}

#[test]
fn links_in_html_only_message_and_limits_deserialize() {
    let html = "<div>从QQ邮箱发来的超大附件</div><div>片.mp4 (1.2G, 2023年7月1日 10:00 到期)<a href=\"https://wx.mail.qq.com/ftn/download?func=3&amp;key=k&amp;code=c\">进入下载页面</a></div>";
    let raw = format!(
        "From: a@qq.com\r\nSubject: s\r\nContent-Type: text/html; charset=utf-8\r\n\r\n{html}\r\n"
    );
    let p = parse(raw.as_bytes(), &IntakeLimits::default());
    assert_eq!(p.links.len(), 1, "{:?}", p.links);
    assert_eq!(p.links[0].provider, "qq");
    assert_eq!(
        p.links[0].url,
        "https://wx.mail.qq.com/ftn/download?func=3&key=k&code=c"
    );
    assert_eq!(p.links[0].file_name.as_deref(), Some("片.mp4"));
    assert_eq!(p.links[0].size_text.as_deref(), Some("1.2G"));
    assert!(p.body_text.contains("超大附件"));

    let l: IntakeLimits = serde_json::from_str(r#"{"max_parts": 7}"#).unwrap();
    assert_eq!(
        l,
        IntakeLimits {
            max_parts: 7,
            ..Default::default()
        }
    );
}

#[test]
fn a_saved_eml_with_a_bom_or_blank_lines_first_keeps_its_headers() {
    let mail = b"From: =?utf-8?B?5biC5YWs5a6J5bGA?= <a@b.cn>\r\nSubject: x\r\n\r\nbody";
    for prefix in [&b"\xEF\xBB\xBF"[..], b"\r\n", b"\xEF\xBB\xBF\r\n\r\n"] {
        let p = parse(
            &[prefix, mail.as_slice()].concat(),
            &IntakeLimits::default(),
        );
        assert_eq!(p.from.map(|s| s.address).as_deref(), Some("a@b.cn"));
        assert_eq!(p.subject, "x");
    }
}

#[test]
fn mail_is_told_from_other_files_by_its_header_block() {
    let mail = b"Return-Path: <a@b>\r\nFrom: a@b\r\nSubject: x\r\n\r\nbody";
    assert!(looks_like_message(mail));
    assert!(looks_like_message(
        &[b"\xEF\xBB\xBF\r\n".as_slice(), mail].concat()
    ));
    assert!(!looks_like_message("id,name\nxiaodian,小店区\n".as_bytes()));
    assert!(!looks_like_message(b"PK\x03\x04\x14\0\0\0"));
    assert!(!looks_like_message(b"Note: call them\nabout the table\n"));
}

/// A panic in mail-parser's walk or in link finding costs only that step: the sender, subject,
/// every attachment (through the walk by boundaries) and the body are still read.
#[test]
fn a_panic_in_one_step_leaves_the_message_its_sender_and_files() {
    for step in ["walk", "links"] {
        let raw = format!(
            "From: =?utf-8?B?5biC5qGj5qGI6aaG?= <tydag_bgs@163.com>\r\nSubject: =?utf-8?B?5biC5qGj5qGI6aaG5p2Q5paZ?=\r\nX-Test-Panic: {step}\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>&nbsp;附件请查收</p>\r\n--b\r\nContent-Type: application/octet-stream; name=\"=?utf-8?B?57uf6K6h6KGoLnhsc3g=?=\"\r\nContent-Transfer-Encoding: base64\r\n\r\n{}\r\n--b--\r\n",
            b64(b"PK\x03\x04 not really a table")
        );
        let p = parse(raw.as_bytes(), &IntakeLimits::default());
        assert_eq!(
            p.from.as_ref().map(|m| m.address.as_str()),
            Some("tydag_bgs@163.com"),
            "{step}"
        );
        assert_eq!(p.subject, "市档案馆材料", "{step}");
        assert_eq!(
            p.files.iter().map(|f| f.name.as_str()).collect::<Vec<_>>(),
            ["统计表.xlsx"],
            "{step}"
        );
        assert!(
            p.body_text.contains("附件请查收"),
            "{step}: {:?}",
            p.body_text
        );
    }
}
