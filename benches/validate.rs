//! How long each validator takes on a typical file, and the memory of the largest one.
//!
//!     cargo bench --bench validate                  # table, 20-page docx, 30 MB mp4: medians
//!     cargo bench --bench validate -- --big 200     # peak RSS validating one 200 MB mp4
//!
//! Pure: no database or mail server. Each figure is the median of `RUNS` runs.

#[path = "../tests/common/mod.rs"]
mod common;

use common::peak_rss_mb;
use reportbox::campaign::ValidatorKind;
use reportbox::config::Settings;
use reportbox::intake::FileKind;
use reportbox::validate::{self, Checked};
use std::io::Write;
use std::time::{Duration, Instant};

const RUNS: usize = 31;

fn median(mut f: impl FnMut()) -> Duration {
    let mut times: Vec<Duration> = (0..RUNS)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .collect();
    times.sort();
    times[RUNS / 2]
}

fn settings() -> Settings {
    let dir = tempfile::tempdir().unwrap();
    let roster = common::write_roster(dir.path(), &[("a", "市公安局", "", "")]);
    // Validators touch no database; the shipped URL is only carried along.
    common::settings_with(&roster, dir.path(), &[])
}

/// A docx of `pages` pages of on-topic Chinese text (about 600 characters a page).
fn docx(pages: usize) -> Vec<u8> {
    let para = "2023年科技活动周期间，我单位围绕“热爱科学 崇尚科学”主题，组织开展科普讲座、科技展览和线上直播等活动。";
    let mut body = String::new();
    for _ in 0..pages * 12 {
        body.push_str(&format!("<w:p><w:r><w:t>{para}</w:t></w:r></w:p>"));
    }
    let xml = format!(
        r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?><w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body>{body}</w:body></w:document>"#
    );
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default();
    for (name, data) in [
        (
            "[Content_Types].xml",
            r#"<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>"#,
        ),
        ("word/document.xml", xml.as_str()),
    ] {
        zip.start_file(name, opts).unwrap();
        zip.write_all(data.as_bytes()).unwrap();
    }
    zip.finish().unwrap().into_inner()
}

/// An mp4 of `mb` MiB: ftyp, moov/mvhd (150 s), then an mdat filling the rest.
fn mp4(mb: usize) -> Vec<u8> {
    let mut v = common::mp4(150);
    v.truncate(v.len() - 16);
    let payload = (mb << 20).saturating_sub(v.len() + 16);
    v.extend_from_slice(&1u32.to_be_bytes());
    v.extend_from_slice(b"mdat");
    v.extend_from_slice(&((payload + 16) as u64).to_be_bytes());
    v.resize(v.len() + payload, 0x5a);
    v
}

/// One file through its validator, as the pipeline calls it.
fn check(
    settings: &Settings,
    v: ValidatorKind,
    name: &str,
    kind: FileKind,
    bytes: &[u8],
) -> Checked {
    validate::check(&settings.validate_rules(), v, name, kind, bytes, None)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if !args.iter().any(|a| a == "--bench") {
        return; // `cargo test --all-targets` builds benches but must not run them
    }
    let settings = settings();
    let video = ValidatorKind::Video;
    if let Some(i) = args.iter().position(|a| a == "--big") {
        let mb: usize = args.get(i + 1).and_then(|s| s.parse().ok()).unwrap_or(200);
        let bytes = mp4(mb);
        let before = peak_rss_mb();
        let t = Instant::now();
        let c = check(&settings, video, "视频.mp4", FileKind::Mp4, &bytes);
        println!(
            "{mb} MiB mp4: {:?}, duration {:?}, peak RSS {:.0} MB (before validating {:.0} MB)",
            t.elapsed(),
            c.data,
            peak_rss_mb(),
            before
        );
        return;
    }

    let xlsx = common::table("市公安局", "2023");
    let t = median(|| {
        let r = validate::read_table(
            &settings.validate_rules(),
            "统计表.xlsx",
            FileKind::Xlsx,
            &xlsx,
        )
        .unwrap();
        assert!(r.problems.is_empty(), "{:?}", r.problems);
    });
    println!("table xlsx ({} B): median {t:?}", xlsx.len());

    let runs: [(&str, ValidatorKind, &str, FileKind, Vec<u8>); 2] = [
        (
            "20-page docx",
            ValidatorKind::Report,
            "总结.docx",
            FileKind::Docx,
            docx(20),
        ),
        ("30 MiB mp4", video, "视频.mp4", FileKind::Mp4, mp4(30)),
    ];
    for (what, v, name, kind, bytes) in &runs {
        let t = median(|| {
            let c = check(&settings, *v, name, *kind, bytes);
            assert!(c.problems.is_empty(), "{what}: {:?}", c.problems);
        });
        println!("{what} ({} B): median {t:?}", bytes.len());
    }
    println!("peak RSS {:.0} MB", peak_rss_mb());
}
