//! Golden files for `pipeline::decide`, without a database: each message of the public samples
//! and of the project's corpus (tests/corpus/mail) goes in as bytes, and what would be recorded
//! comes out as JSON (the message row, every file row with its item, state and problems, and the
//! originals to keep, by hash and size), compared with tests/golden/decide/<name>.json.
//!
//! A change in what reportbox decides shows up here as a diff a reviewer can read. When the
//! change is intended, write the files again and commit them with it:
//!
//!     BLESS=1 cargo test --test decide_golden

mod common;

use reportbox::intake;
use reportbox::pipeline::{decide, Known, Meta};
use std::path::{Path, PathBuf};

fn inputs() -> Vec<(String, PathBuf)> {
    let mut out = Vec::new();
    let dirs = [
        ("sample", common::samples_dir().join("corpus")),
        (
            "corpus",
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus/mail"),
        ),
    ];
    for (prefix, dir) in dirs {
        let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "eml"))
            .collect();
        files.sort();
        for f in files {
            let stem = f.file_stem().unwrap().to_string_lossy().into_owned();
            out.push((format!("{prefix}-{stem}"), f));
        }
    }
    out
}

/// What `decide` returns, as a reviewer reads it.
fn decided_json(raw: &[u8], settings: &reportbox::config::Settings) -> serde_json::Value {
    let parsed = intake::parse(raw, &settings.limits);
    // Fixed, so that a message without a date is not stamped with the time of the test run.
    let meta = Meta {
        raw_sha256: reportbox::store::sha256_hex(raw),
        body_sha256: "body".into(),
        size: raw.len(),
        source: "golden".into(),
        internal_date: Some("2023-06-01T02:00:00Z".parse().unwrap()),
    };
    let (message, blobs) = decide(settings, parsed, &Known::default(), meta);
    let originals: Vec<serde_json::Value> = blobs
        .iter()
        .map(|(sha, bytes)| serde_json::json!({ "sha256": sha, "size": bytes.len() }))
        .collect();
    serde_json::json!({ "message": message, "originals": originals })
}

#[test]
fn decide_matches_the_golden_files() {
    let storage = tempfile::tempdir().unwrap();
    let settings = common::settings_with(
        &common::samples_dir().join("roster.csv"),
        storage.path(),
        &[],
    );
    let golden = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/decide");
    let bless = std::env::var_os("BLESS").is_some();
    if bless {
        std::fs::create_dir_all(&golden).unwrap();
    }
    let mut differ = Vec::new();
    let mut count = 0;
    for (name, path) in inputs() {
        let raw = std::fs::read(&path).unwrap();
        let got = serde_json::to_string_pretty(&decided_json(&raw, &settings)).unwrap() + "\n";
        let file = golden.join(format!("{name}.json"));
        count += 1;
        if bless {
            std::fs::write(&file, &got).unwrap();
            continue;
        }
        match std::fs::read_to_string(&file) {
            Ok(want) if want == got => {}
            Ok(want) => {
                let line = want
                    .lines()
                    .zip(got.lines())
                    .position(|(a, b)| a != b)
                    .unwrap_or(want.lines().count().min(got.lines().count()));
                differ.push(format!(
                    "{name}: line {}: want {:?}, got {:?}",
                    line + 1,
                    want.lines().nth(line).unwrap_or(""),
                    got.lines().nth(line).unwrap_or("")
                ));
            }
            Err(_) => differ.push(format!("{name}: no golden file {}", file.display())),
        }
    }
    assert!(count >= 50, "only {count} inputs found");
    assert!(
        differ.is_empty(),
        "decide's output changed for {} of {count} messages (BLESS=1 writes the new ones):\n{}",
        differ.len(),
        differ.join("\n")
    );
}

#[test]
fn every_sample_is_decided_the_same_way_twice() {
    // The golden files are only meaningful if `decide` is a function of its input.
    let storage = tempfile::tempdir().unwrap();
    let settings = common::settings_with(
        &common::samples_dir().join("roster.csv"),
        storage.path(),
        &[],
    );
    for (name, path) in inputs().into_iter().take(12) {
        let raw = std::fs::read(&path).unwrap();
        assert_eq!(
            decided_json(&raw, &settings),
            decided_json(&raw, &settings),
            "{name}"
        );
    }
}
