//! Summary report checks: every format (built here from bytes, or the small committed files in
//! tests/fixtures/report, see its README), the sample corpus, and hostile archives.

use reportbox::problem::Severity;
use reportbox::validate::report::{
    check, count_chars, extract_text, mentions, ExtractLimits, ReportError, ReportFormat,
    ReportRules, ReportVerdict,
};
use std::io::{Cursor, Write};
use std::path::Path;
use std::time::{Duration, Instant};

// ---------------------------------------------------------------------------------------------
// Builders.

const PARAGRAPH: &str = "根据《关于举办2023年太原市科技活动周的通知》要求，我局组织开展了以“热爱科学 崇尚科学”为主题的系列活动，共举办科普讲座、展览和开放日活动十二项。";

/// Paragraphs of report text holding at least `min` non-blank characters; with the keyword or
/// with every mention of it replaced.
fn report_paragraphs(min: usize, on_topic: bool) -> Vec<String> {
    let p = if on_topic {
        PARAGRAPH.to_string()
    } else {
        PARAGRAPH.replace("科技活动周", "植树节")
    };
    let mut out = Vec::new();
    let mut n = 0;
    while n < min {
        n += count_chars(&p);
        out.push(p.clone());
    }
    out
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn document_xml(paragraphs: &[String]) -> String {
    let mut body = String::new();
    for p in paragraphs {
        // Split each paragraph over two runs, as Word does at every formatting change.
        let mid = p
            .char_indices()
            .nth(p.chars().count() / 2)
            .map_or(0, |(i, _)| i);
        body.push_str(&format!(
            "<w:p><w:pPr><w:jc w:val=\"both\"/></w:pPr><w:r><w:t>{}</w:t></w:r><w:r><w:rPr><w:b/></w:rPr><w:t xml:space=\"preserve\">{}</w:t></w:r></w:p>",
            xml_escape(&p[..mid]),
            xml_escape(&p[mid..])
        ));
    }
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n<w:document xmlns:w=\"http://schemas.openxmlformats.org/wordprocessingml/2006/main\" xmlns:mc=\"http://schemas.openxmlformats.org/markup-compatibility/2006\"><w:body>{body}<w:sectPr/></w:body></w:document>"
    )
}

fn zip_of(members: &[(&str, &[u8])]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    for (name, data) in members {
        w.start_file(*name, opts).unwrap();
        w.write_all(data).unwrap();
    }
    w.finish().unwrap().into_inner()
}

fn docx_from_xml(xml: &str) -> Vec<u8> {
    zip_of(&[
        ("[Content_Types].xml", b"<Types/>".as_slice()),
        ("word/document.xml", xml.as_bytes()),
    ])
}

fn docx(paragraphs: &[String]) -> Vec<u8> {
    docx_from_xml(&document_xml(paragraphs))
}

fn odt(paragraphs: &[String]) -> Vec<u8> {
    let mut body = String::from("<text:h text:outline-level=\"1\">工作总结</text:h>");
    for p in paragraphs {
        let mid = p.char_indices().nth(4).map_or(0, |(i, _)| i);
        body.push_str(&format!(
            "<text:p text:style-name=\"P1\"><text:span text:style-name=\"T1\">{}</text:span><text:s text:c=\"1000000000\"/>{}</text:p>",
            xml_escape(&p[..mid]),
            xml_escape(&p[mid..])
        ));
    }
    let content = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><office:document-content xmlns:office=\"urn:oasis:names:tc:opendocument:xmlns:office:1.0\" xmlns:text=\"urn:oasis:names:tc:opendocument:xmlns:text:1.0\"><office:body><office:text><office:annotation><text:p>批注：科技活动周</text:p></office:annotation>{body}</office:text></office:body></office:document-content>"
    );
    zip_of(&[
        (
            "mimetype",
            b"application/vnd.oasis.opendocument.text".as_slice(),
        ),
        ("content.xml", content.as_bytes()),
    ])
}

/// A local file header + data + central directory + end record, by hand, so that sizes, flags
/// and CRC can lie.
fn raw_zip(name: &str, method: u16, flags: u16, data: &[u8], declared_size: u32) -> Vec<u8> {
    let crc = crc32fast::hash(data);
    let mut v = Vec::new();
    v.extend_from_slice(&0x0403_4b50u32.to_le_bytes());
    v.extend_from_slice(&20u16.to_le_bytes());
    v.extend_from_slice(&flags.to_le_bytes());
    v.extend_from_slice(&method.to_le_bytes());
    v.extend_from_slice(&[0, 0, 0x21, 0]); // time, date
    v.extend_from_slice(&crc.to_le_bytes());
    v.extend_from_slice(&(data.len() as u32).to_le_bytes());
    v.extend_from_slice(&declared_size.to_le_bytes());
    v.extend_from_slice(&(name.len() as u16).to_le_bytes());
    v.extend_from_slice(&0u16.to_le_bytes());
    v.extend_from_slice(name.as_bytes());
    v.extend_from_slice(data);
    let cd_at = v.len() as u32;
    v.extend_from_slice(&0x0201_4b50u32.to_le_bytes());
    v.extend_from_slice(&20u16.to_le_bytes());
    v.extend_from_slice(&20u16.to_le_bytes());
    v.extend_from_slice(&flags.to_le_bytes());
    v.extend_from_slice(&method.to_le_bytes());
    v.extend_from_slice(&[0, 0, 0x21, 0]);
    v.extend_from_slice(&crc.to_le_bytes());
    v.extend_from_slice(&(data.len() as u32).to_le_bytes());
    v.extend_from_slice(&declared_size.to_le_bytes());
    v.extend_from_slice(&(name.len() as u16).to_le_bytes());
    v.extend_from_slice(&[0u8; 8]); // extra, comment, disk, internal attrs
    v.extend_from_slice(&0u32.to_le_bytes()); // external attrs
    v.extend_from_slice(&0u32.to_le_bytes()); // local header offset
    v.extend_from_slice(name.as_bytes());
    let cd_len = v.len() as u32 - cd_at;
    v.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
    v.extend_from_slice(&[0, 0, 0, 0, 1, 0, 1, 0]);
    v.extend_from_slice(&cd_len.to_le_bytes());
    v.extend_from_slice(&cd_at.to_le_bytes());
    v.extend_from_slice(&0u16.to_le_bytes());
    v
}

fn deflate(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

fn ole(streams: &[(&str, &[u8])]) -> Vec<u8> {
    let mut c = cfb::CompoundFile::create(Cursor::new(Vec::new())).unwrap();
    for (name, data) in streams {
        c.create_stream(name).unwrap().write_all(data).unwrap();
    }
    c.flush().unwrap();
    c.into_inner().into_inner()
}

fn utf16le(s: &str) -> Vec<u8> {
    s.encode_utf16().flat_map(|u| u.to_le_bytes()).collect()
}

/// A Word 97 file: a FIB whose CLX points at a piece table with one UTF-16 piece (Chinese) and
/// one "compressed" 8-bit piece (Latin), then a footnote piece beyond ccpText.
fn word97(unicode_part: &str, ansi_part: &str, flags: u16) -> Vec<u8> {
    let mut word = vec![0u8; 0x1800];
    word[0..2].copy_from_slice(&0xA5ECu16.to_le_bytes());
    word[2..4].copy_from_slice(&0x00C1u16.to_le_bytes());
    word[0x0A..0x0C].copy_from_slice(&(flags | 0x0200).to_le_bytes());
    word[32..34].copy_from_slice(&14u16.to_le_bytes());
    word[62..64].copy_from_slice(&22u16.to_le_bytes());
    let uni: Vec<u16> = unicode_part.encode_utf16().collect();
    let cp1 = uni.len() as u32;
    let cp2 = cp1 + ansi_part.len() as u32;
    let footnote = "脚注文字";
    let cp3 = cp2 + footnote.encode_utf16().count() as u32;
    word[76..80].copy_from_slice(&cp2.to_le_bytes()); // ccpText
    word[152..154].copy_from_slice(&93u16.to_le_bytes());
    let u = utf16le(unicode_part);
    word.resize(0x800 + u.len().max(0x800), 0);
    word[0x800..0x800 + u.len()].copy_from_slice(&u);
    let ansi_at = word.len();
    word.extend_from_slice(ansi_part.as_bytes());
    let foot_at = word.len();
    word.extend(utf16le(footnote));

    let mut plc = Vec::new();
    for cp in [0, cp1, cp2, cp3] {
        plc.extend_from_slice(&cp.to_le_bytes());
    }
    for fc in [
        0x800u32,
        ((ansi_at as u32) * 2) | 0x4000_0000,
        foot_at as u32,
    ] {
        plc.extend_from_slice(&0u16.to_le_bytes());
        plc.extend_from_slice(&fc.to_le_bytes());
        plc.extend_from_slice(&0u16.to_le_bytes());
    }
    let mut table = vec![0xEEu8; 64]; // other table-stream structures come first
    let fc_clx = table.len() as u32;
    table.extend_from_slice(&[0x01, 2, 0, 0xAA, 0xBB]); // a Prc to skip
    table.push(0x02);
    table.extend_from_slice(&(plc.len() as u32).to_le_bytes());
    table.extend(plc);
    let lcb_clx = table.len() as u32 - fc_clx;
    word[418..422].copy_from_slice(&fc_clx.to_le_bytes());
    word[422..426].copy_from_slice(&lcb_clx.to_le_bytes());
    ole(&[("/WordDocument", &word), ("/1Table", &table)])
}

fn codes(v: &ReportVerdict) -> Vec<&str> {
    v.problems.iter().map(|p| p.code.as_str()).collect()
}

fn fixture(rel: &str) -> Vec<u8> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(rel);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// The shipped campaign's rules (config/reportbox.toml's `[report]`): its keyword is
/// 科技活动周; the code has no campaign's keyword.
fn rules() -> ReportRules {
    ReportRules {
        keyword: "科技活动周".to_string(),
        ..ReportRules::default()
    }
}

// ---------------------------------------------------------------------------------------------
// Each format, valid.

#[test]
fn a_docx_with_enough_text_about_the_campaign_is_valid() {
    let v = check(
        &docx(&report_paragraphs(250, true)),
        ReportFormat::Docx,
        &rules(),
    );
    assert!(v.problems.is_empty(), "{:?}", v.problems);
    assert!(v.chars >= 250);
    assert!(v
        .excerpt
        .starts_with("根据《关于举办2023年太原市科技活动周的通知》"));
    assert!(v.excerpt.chars().count() <= 200);
}

#[test]
fn docx_paragraphs_become_lines_and_runs_join_without_gaps() {
    let xml = document_xml(&["第一段".to_string(), "第二段".to_string()]);
    let t = extract_text(
        &docx_from_xml(&xml),
        ReportFormat::Docx,
        &ExtractLimits::default(),
    )
    .unwrap();
    assert_eq!(t.text, "第一段\n第二段\n");
}

#[test]
fn docx_deleted_revisions_field_codes_and_fallback_copies_are_not_counted() {
    let xml = r#"<w:document xmlns:w="w" xmlns:mc="mc"><w:body><w:p>
        <w:r><w:t>正文</w:t></w:r>
        <w:del><w:r><w:delText>删除的文字</w:delText></w:r></w:del>
        <w:r><w:instrText> HYPERLINK "http://x" </w:instrText></w:r>
        <mc:AlternateContent><mc:Choice><w:txbxContent><w:p><w:r><w:t>文本框</w:t></w:r></w:p></w:txbxContent></mc:Choice>
        <mc:Fallback><w:txbxContent><w:p><w:r><w:t>文本框</w:t></w:r></w:p></w:txbxContent></mc:Fallback></mc:AlternateContent>
        <w:r><w:t>A&amp;B&#x4E2D;&#25991;</w:t><w:tab/><w:t>尾</w:t></w:r></w:p></w:body></w:document>"#;
    let t = extract_text(
        &docx_from_xml(xml),
        ReportFormat::Docx,
        &ExtractLimits::default(),
    )
    .unwrap()
    .text;
    let squeezed: String = t.chars().filter(|c| !c.is_whitespace()).collect();
    assert_eq!(squeezed, "正文文本框A&B中文尾");
}

#[test]
fn an_odt_is_read_from_content_xml_without_its_comments() {
    let v = check(
        &odt(&report_paragraphs(250, true)),
        ReportFormat::Odt,
        &rules(),
    );
    assert!(v.problems.is_empty(), "{:?}", v.problems);
    assert!(v.excerpt.starts_with("工作总结 根据《"), "{}", v.excerpt);
    assert!(!v.excerpt.contains("批注"));
}

#[test]
fn a_doc_is_read_through_its_piece_table_in_both_piece_encodings() {
    let body = report_paragraphs(220, true).join("\r");
    let bytes = word97(
        &format!("{body}\r见\u{13} HYPERLINK \"http://kjj\" \u{14}链接\u{15}\u{7}"),
        "Report 2023\r",
        0,
    );
    let t = extract_text(&bytes, ReportFormat::Doc, &ExtractLimits::default()).unwrap();
    assert!(
        t.text.contains("见链接\t"),
        "field result kept, instruction dropped"
    );
    assert!(!t.text.contains("HYPERLINK"));
    assert!(t.text.ends_with("Report 2023\n"), "8-bit piece decoded");
    assert!(!t.text.contains("脚注"), "only the main document (ccpText)");
    let v = check(&bytes, ReportFormat::Doc, &rules());
    assert!(v.problems.is_empty(), "{:?}", v.problems);
}

#[test]
fn a_wps_file_in_word_97_format_is_read_like_a_doc() {
    let bytes = word97(&report_paragraphs(220, true).join("\r"), "", 0);
    let v = check(&bytes, ReportFormat::Wps, &rules());
    assert!(v.problems.is_empty(), "{:?}", v.problems);
    let real = check(&fixture("report/report.doc"), ReportFormat::Wps, &rules());
    assert!(real.problems.is_empty(), "{:?}", real.problems);
}

#[test]
fn a_doc_without_a_usable_piece_table_falls_back_to_scanning_for_chinese_text() {
    let text = report_paragraphs(220, true).join("\r");
    let mut word = vec![0u8; 600];
    word[0..2].copy_from_slice(&0xA5ECu16.to_le_bytes());
    word.extend(utf16le(&text));
    word.extend([0xFFu8, 0xFF, 0x01, 0x00]);
    let bytes = ole(&[("/WordDocument", &word)]); // no table stream at all
    let t = extract_text(&bytes, ReportFormat::Doc, &ExtractLimits::default()).unwrap();
    assert!(t.text.contains(PARAGRAPH), "{}", t.text);
    assert!(check(&bytes, ReportFormat::Doc, &rules())
        .problems
        .is_empty());
}

#[test]
fn a_real_docx_doc_and_odt_written_by_libreoffice_are_valid() {
    for (f, fmt) in [
        ("report/report.docx", ReportFormat::Docx),
        ("report/report.doc", ReportFormat::Doc),
        ("report/report.odt", ReportFormat::Odt),
    ] {
        let v = check(&fixture(f), fmt, &rules());
        assert!(v.problems.is_empty(), "{f}: {:?}", v.problems);
        assert_eq!(v.chars, 397, "{f}");
        assert!(
            v.excerpt
                .starts_with("太原市某区科技局2023年科技活动周工作总结 根据"),
            "{f}"
        );
    }
}

#[test]
fn a_pdf_with_a_chinese_text_layer_is_valid() {
    let v = check(
        &fixture("report/report_libreoffice.pdf"),
        ReportFormat::Pdf,
        &rules(),
    );
    assert!(v.problems.is_empty(), "{:?}", v.problems);
    assert_eq!(v.chars, 397);
    assert!(v.excerpt.contains("科技活动周工作总结"));
}

#[test]
fn a_pdf_that_only_restricts_copying_is_read_without_a_password() {
    let v = check(
        &fixture("report/permissions_only.pdf"),
        ReportFormat::Pdf,
        &rules(),
    );
    assert!(v.problems.is_empty(), "{:?}", v.problems);
    assert_eq!(v.chars, 397);
}

#[test]
fn a_pdf_without_a_text_layer_needs_review_not_rejection() {
    let v = check(
        &fixture("report/scan_no_text.pdf"),
        ReportFormat::Pdf,
        &rules(),
    );
    assert_eq!(codes(&v), ["report.no_text"]);
    assert_eq!(v.problems[0].severity, Severity::Review);
}

#[test]
fn a_pdf_whose_cjk_font_encoding_the_extractor_cannot_decode_needs_review() {
    // reportlab's STSong-Light uses the predefined UniGB-UCS2-H CMap, on which pdf-extract
    // panics; the panic is contained and the file goes to a person.
    let v = check(
        &fixture("report/report_stsong.pdf"),
        ReportFormat::Pdf,
        &rules(),
    );
    assert_eq!(codes(&v), ["report.no_text"]);
    assert_eq!(v.problems[0].severity, Severity::Review);
}

#[test]
fn a_txt_in_utf8_with_or_without_bom_and_in_utf16_is_read() {
    let text = report_paragraphs(220, true).join("\r\n");
    let mut bom8 = vec![0xEF, 0xBB, 0xBF];
    bom8.extend_from_slice(text.as_bytes());
    let mut bom16 = vec![0xFF, 0xFE];
    bom16.extend(utf16le(&text));
    for bytes in [text.as_bytes().to_vec(), bom8, bom16] {
        let t = extract_text(&bytes, ReportFormat::Txt, &ExtractLimits::default()).unwrap();
        assert_eq!(t.text, text);
        assert!(check(&bytes, ReportFormat::Txt, &rules())
            .problems
            .is_empty());
    }
}

#[test]
fn the_committed_plain_text_source_reads_the_same_as_the_documents_made_from_it() {
    let v = check(&fixture("report/report.txt"), ReportFormat::Txt, &rules());
    assert!(v.problems.is_empty());
    assert_eq!(v.chars, 397);
}

#[test]
fn a_txt_in_gb18030_is_read() {
    let text = report_paragraphs(220, true).join("\r\n");
    let (gb, _, _) = encoding_rs::GB18030.encode(&text);
    assert!(std::str::from_utf8(&gb).is_err());
    let t = extract_text(&gb, ReportFormat::Txt, &ExtractLimits::default()).unwrap();
    assert_eq!(t.text, text);
    assert!(check(&gb, ReportFormat::Txt, &rules()).problems.is_empty());
}

#[test]
fn every_sample_docx_report_is_valid() {
    for n in ["01", "02", "04", "05", "06"] {
        let v = check(
            &fixture(&format!("media/samples/{n}.docx")),
            ReportFormat::Docx,
            &rules(),
        );
        assert!(v.problems.is_empty(), "{n}: {:?}", v.problems);
        assert!(v.chars >= 200, "{n}: {}", v.chars);
        assert!(v.excerpt.contains("科技活动周"));
    }
}

// ---------------------------------------------------------------------------------------------
// Too short, off topic.

#[test]
fn a_report_under_200_characters_is_too_short_and_says_how_many_it_has() {
    let text = "2023年科技活动周总结：活动圆满完成。".repeat(5);
    let n = count_chars(&text);
    assert!(n < 200);
    let v = check(text.as_bytes(), ReportFormat::Txt, &rules());
    assert_eq!(codes(&v), ["report.too_short"]);
    assert_eq!(v.problems[0].severity, Severity::Error);
    assert_eq!(
        v.problems[0].message,
        format!("总结报告正文只有{n}个字，少于要求的200个字")
    );
    assert_eq!(v.chars, n);
}

#[test]
fn blanks_do_not_count_toward_the_minimum() {
    assert_eq!(count_chars(" 科 技\u{3000}活\t动\n周\u{200B}\u{FEFF} "), 5);
    let padded = format!("{}{}", "科技活动周".repeat(39), " \u{3000}\n".repeat(500));
    let v = check(padded.as_bytes(), ReportFormat::Txt, &rules());
    assert_eq!(codes(&v), ["report.too_short"]);
}

#[test]
fn exactly_200_characters_is_enough() {
    let text = "科技活动周".repeat(40);
    assert!(check(text.as_bytes(), ReportFormat::Txt, &rules())
        .problems
        .is_empty());
}

#[test]
fn a_report_that_never_mentions_the_campaign_is_off_topic_as_a_warning() {
    let v = check(
        &docx(&report_paragraphs(250, false)),
        ReportFormat::Docx,
        &rules(),
    );
    assert_eq!(codes(&v), ["report.off_topic"]);
    assert_eq!(v.problems[0].severity, Severity::Warning);
    assert!(v.problems[0].message.contains("科技活动周"));
}

#[test]
fn the_keyword_matches_across_spaces_and_full_width_forms() {
    assert!(mentions("2023年科技 活动\n周", "科技活动周"));
    assert!(mentions("ＡＢＣ２０２３", "ABC2023"));
    assert!(!mentions("科技周", "科技活动周"));
    let rules: ReportRules =
        serde_json::from_str(r#"{"keyword": "植树节", "min_chars": 10}"#).unwrap();
    assert_eq!(rules.max_unzipped_bytes, 64 << 20);
    let v = check(
        &docx(&report_paragraphs(20, false)),
        ReportFormat::Docx,
        &rules,
    );
    assert!(v.problems.is_empty(), "{:?}", v.problems);
}

// ---------------------------------------------------------------------------------------------
// Unreadable: encrypted, corrupt, empty.

fn assert_unreadable(bytes: &[u8], fmt: ReportFormat) -> ReportVerdict {
    let v = check(bytes, fmt, &rules());
    assert_eq!(codes(&v), ["report.unreadable"], "{:?}", v.problems);
    assert_eq!(v.problems[0].severity, Severity::Error);
    assert!(v.problems[0].message.starts_with("无法读取总结报告："));
    v
}

#[test]
fn an_encrypted_docx_is_unreadable_and_asks_for_the_password_to_be_removed() {
    for bytes in [
        fixture("report/encrypted.docx"),
        ole(&[
            ("/EncryptionInfo", &[4, 0, 4, 0]),
            ("/EncryptedPackage", &[0u8; 64]),
        ]),
    ] {
        let v = assert_unreadable(&bytes, ReportFormat::Docx);
        assert_eq!(
            v.problems[0].message,
            "无法读取总结报告：文件已加密，请去除密码后重新发送"
        );
    }
}

#[test]
fn a_password_protected_doc_or_pdf_is_unreadable_as_encrypted() {
    let doc = word97(&report_paragraphs(220, true).join("\r"), "", 0x0100);
    assert_eq!(
        extract_text(&doc, ReportFormat::Doc, &ExtractLimits::default()),
        Err(ReportError::Encrypted)
    );
    assert_eq!(
        extract_text(
            &fixture("report/encrypted_userpw.pdf"),
            ReportFormat::Pdf,
            &ExtractLimits::default()
        ),
        Err(ReportError::Encrypted)
    );
    assert_unreadable(&fixture("report/encrypted_userpw.pdf"), ReportFormat::Pdf);
}

#[test]
fn a_zip_member_encrypted_with_a_password_is_unreadable_as_encrypted() {
    let bytes = raw_zip("word/document.xml", 0, 0x0001, &[0u8; 40], 28);
    assert_eq!(
        extract_text(&bytes, ReportFormat::Docx, &ExtractLimits::default()),
        Err(ReportError::Encrypted)
    );
}

#[test]
fn corrupt_and_truncated_reports_are_unreadable_in_every_format() {
    let good_docx = docx(&report_paragraphs(250, true));
    assert_unreadable(&good_docx[..good_docx.len() / 2], ReportFormat::Docx);
    assert_unreadable(
        &zip_of(&[("word/other.xml", b"<x/>".as_slice())]),
        ReportFormat::Docx,
    );
    assert_unreadable(
        &docx_from_xml("<w:document><w:body><w:p><w:t>科技</w:t></w:p></w:body"),
        ReportFormat::Docx,
    );
    assert_unreadable(b"this is not a zip file at all", ReportFormat::Odt);
    assert_unreadable(
        &[0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1, 0, 0],
        ReportFormat::Doc,
    );
    assert_unreadable(&ole(&[("/Other", b"x".as_slice())]), ReportFormat::Doc);
    assert_unreadable(
        b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF",
        ReportFormat::Pdf,
    );
    assert_unreadable(b"not a pdf", ReportFormat::Pdf);
    for fmt in [
        ReportFormat::Docx,
        ReportFormat::Doc,
        ReportFormat::Pdf,
        ReportFormat::Txt,
    ] {
        let v = assert_unreadable(&[], fmt);
        assert_eq!(v.problems[0].message, "无法读取总结报告：文件为空");
    }
}

#[test]
fn every_truncation_of_a_real_doc_and_odt_ends_in_a_verdict() {
    for (f, fmt) in [
        ("report/report.doc", ReportFormat::Doc),
        ("report/report.odt", ReportFormat::Odt),
        ("media/samples/01.docx", ReportFormat::Docx),
    ] {
        let bytes = fixture(f);
        for cut in (0..bytes.len()).step_by(97) {
            let _ = check(&bytes[..cut], fmt, &rules());
        }
    }
}

#[test]
fn random_bytes_behind_each_magic_number_end_in_a_verdict() {
    let mut x: u64 = 0x2545_F491_4F6C_DD1D;
    let mut rand = |n: usize| -> Vec<u8> {
        (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect()
    };
    for round in 0..40 {
        for magic in [
            &b"PK\x03\x04"[..],
            &[0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1][..],
            b"%PDF-1.7\n",
            b"",
        ] {
            let mut bytes = magic.to_vec();
            bytes.extend(rand(100 + round * 211));
            for fmt in [ReportFormat::Docx, ReportFormat::Doc, ReportFormat::Txt] {
                let v = check(&bytes, fmt, &rules());
                assert!(!v.problems.is_empty());
            }
        }
    }
    // A real OLE header with random sectors behind it.
    let doc = fixture("report/report.doc");
    let mut damaged = doc[..512].to_vec();
    damaged.extend(rand(doc.len() - 512));
    let _ = check(&damaged, ReportFormat::Doc, &rules());
}

// ---------------------------------------------------------------------------------------------
// Hostile archives.

#[test]
fn a_billion_laughs_docx_does_not_expand_its_entities() {
    let mut dtd = String::from("<!DOCTYPE lolz [<!ENTITY lol \"lol\">");
    for i in 1..=9 {
        let prev = if i == 1 {
            "lol".to_string()
        } else {
            format!("lol{}", i - 1)
        };
        dtd.push_str(&format!(
            "<!ENTITY lol{i} \"{}\">",
            format!("&{prev};").repeat(10)
        ));
    }
    dtd.push_str("]>");
    let xml = format!(
        "<?xml version=\"1.0\"?>{dtd}<w:document xmlns:w=\"w\"><w:body><w:p><w:r><w:t>&lol9;科技活动周</w:t></w:r></w:p></w:body></w:document>"
    );
    let started = Instant::now();
    let t = extract_text(
        &docx_from_xml(&xml),
        ReportFormat::Docx,
        &ExtractLimits::default(),
    )
    .unwrap();
    assert_eq!(t.text, "科技活动周\n");
    let v = check(&docx_from_xml(&xml), ReportFormat::Docx, &rules());
    assert_eq!(codes(&v), ["report.too_short"]);
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[test]
fn a_docx_whose_document_declares_more_than_the_limit_is_rejected_before_inflating() {
    // Declares 1 GiB; the 30 bytes of data are never inflated.
    let bytes = raw_zip(
        "word/document.xml",
        8,
        0,
        &deflate(b"<w:document/>"),
        1 << 30,
    );
    let started = Instant::now();
    let v = assert_unreadable(&bytes, ReportFormat::Docx);
    assert_eq!(
        v.problems[0].message,
        "无法读取总结报告：文件解压后超过64MB的上限"
    );
    assert!(started.elapsed() < Duration::from_secs(1));
}

#[test]
fn a_zip_bomb_docx_that_lies_about_its_size_stops_at_the_limit() {
    // 8 MiB of zeros deflate to ~8 KiB; the header claims 100 bytes.
    let data = deflate(&vec![b' '; 8 << 20]);
    let bytes = raw_zip("word/document.xml", 8, 0, &data, 100);
    let limits = ExtractLimits {
        max_unzipped_bytes: 1 << 20,
        ..ExtractLimits::default()
    };
    assert_eq!(
        extract_text(&bytes, ReportFormat::Docx, &limits),
        Err(ReportError::TooLarge { limit_mib: 1 })
    );
}

#[test]
fn an_honest_docx_over_the_configured_limit_is_too_large() {
    let rules = ReportRules {
        max_unzipped_bytes: 100_000,
        ..rules()
    };
    let bytes = docx(&report_paragraphs(40_000, true));
    let v = check(&bytes, ReportFormat::Docx, &rules);
    assert_eq!(codes(&v), ["report.unreadable"]);
    assert!(v.problems[0].message.contains("超过1MB的上限"));
}

#[test]
fn an_odt_space_run_claiming_a_billion_spaces_stays_small() {
    let t = extract_text(
        &odt(&report_paragraphs(250, true)),
        ReportFormat::Odt,
        &ExtractLimits::default(),
    )
    .unwrap();
    assert!(t.text.len() < 10_000, "{}", t.text.len());
}

#[test]
fn a_doc_whose_piece_table_points_outside_its_stream_falls_back_without_panicking() {
    let mut bytes = word97(&report_paragraphs(220, true).join("\r"), "abc", 0);
    // Re-create with absurd fc values by editing the table stream in place.
    let mut c = cfb::CompoundFile::open(Cursor::new(bytes.clone())).unwrap();
    let mut table = Vec::new();
    std::io::Read::read_to_end(&mut c.open_stream("/1Table").unwrap(), &mut table).unwrap();
    let n = table.len();
    for i in 0..3 {
        let at = n - 3 * 8 + i * 8 + 2;
        table[at..at + 4].copy_from_slice(&0x3FFF_FFF0u32.to_le_bytes());
    }
    c.create_stream("/1Table")
        .unwrap()
        .write_all(&table)
        .unwrap();
    c.flush().unwrap();
    bytes = c.into_inner().into_inner();
    let v = check(&bytes, ReportFormat::Doc, &rules());
    assert!(
        v.problems.is_empty(),
        "fallback scan finds the text: {:?}",
        v.problems
    );
}

#[test]
fn a_doc_whose_pieces_all_repeat_the_whole_stream_yields_no_more_text_than_the_stream_holds() {
    let mut word = vec![0u8; 0x800];
    word[0..2].copy_from_slice(&0xA5ECu16.to_le_bytes());
    word[0x0A..0x0C].copy_from_slice(&0x0200u16.to_le_bytes());
    word[32..34].copy_from_slice(&14u16.to_le_bytes());
    word[62..64].copy_from_slice(&22u16.to_le_bytes()); // ccpText stays 0: take every piece
    word[152..154].copy_from_slice(&93u16.to_le_bytes());
    word.extend(utf16le(&"科技活动周".repeat(20_000)));
    let pieces = 20_000u32;
    let mut plc = Vec::new();
    for i in 0..=pieces {
        plc.extend_from_slice(&(if i % 2 == 0 { 0u32 } else { 1_000_000_000 }).to_le_bytes());
    }
    for _ in 0..pieces {
        plc.extend_from_slice(&[0, 0]);
        plc.extend_from_slice(&0x800u32.to_le_bytes());
        plc.extend_from_slice(&[0, 0]);
    }
    let mut table = vec![0x02];
    table.extend_from_slice(&(plc.len() as u32).to_le_bytes());
    table.extend(plc);
    word[418..422].copy_from_slice(&0u32.to_le_bytes());
    word[422..426].copy_from_slice(&(table.len() as u32).to_le_bytes());
    let bytes = ole(&[("/WordDocument", &word), ("/1Table", &table)]);
    let started = Instant::now();
    let t = extract_text(&bytes, ReportFormat::Doc, &ExtractLimits::default()).unwrap();
    assert!(t.text.encode_utf16().count() <= 2 * word.len());
    assert!(started.elapsed() < Duration::from_secs(5));
}
