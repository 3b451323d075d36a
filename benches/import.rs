//! Import throughput and memory, against the real PostgreSQL of deploy/testenv.
//!
//!     eval "$(deploy/testenv/up.sh)"; cargo bench --bench import            # 1,000 messages
//!     cargo bench --bench import -- --big 100                                # one 100 MB video
//!
//! Prints messages/s, MB/s and the process's peak RSS (VmHWM). Uses its own database
//! `reportbox_bench`, recreated each run, and a temporary storage directory.

#[path = "../tests/common/mod.rs"]
mod common;

use common::peak_rss_mb;
use reportbox::config::Settings;
use reportbox::pipeline::{self, Incoming};
use reportbox::store::Store;
use std::path::PathBuf;
use std::time::Instant;

fn samples() -> Vec<Vec<u8>> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/samples/corpus");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("../shared/samples/corpus")
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| std::fs::read(p).unwrap())
        .collect()
}

/// A sample with a fresh Message-ID, so each copy is a new message.
fn variant(raw: &[u8], n: usize) -> Vec<u8> {
    let mut out = format!("X-Bench-Copy: {n}\r\n").into_bytes();
    let text = raw;
    let needle = b"Message-ID: <";
    match text
        .windows(needle.len())
        .position(|w| w.eq_ignore_ascii_case(needle))
    {
        Some(i) => {
            out.extend_from_slice(&text[..i + needle.len()]);
            out.extend_from_slice(format!("bench{n}.").as_bytes());
            out.extend_from_slice(&text[i + needle.len()..]);
        }
        None => out.extend_from_slice(text),
    }
    out
}

fn big_message(mb: usize) -> Vec<u8> {
    use base64::Engine;
    // An mp4 shape: ftyp, a moov with mvhd (120 s), then mdat filling the rest.
    let mut video = Vec::with_capacity(mb << 20);
    video.extend_from_slice(&[0, 0, 0, 0x18]);
    video.extend_from_slice(b"ftypisom\0\0\x02\0isomiso2");
    let mut mvhd = vec![0u8; 108];
    mvhd[0..4].copy_from_slice(&108u32.to_be_bytes());
    mvhd[4..8].copy_from_slice(b"mvhd");
    mvhd[20..24].copy_from_slice(&1000u32.to_be_bytes());
    mvhd[24..28].copy_from_slice(&120_000u32.to_be_bytes());
    video.extend_from_slice(&(8 + mvhd.len() as u32).to_be_bytes());
    video.extend_from_slice(b"moov");
    video.extend_from_slice(&mvhd);
    let rest = (mb << 20) - video.len() - 8;
    video.extend_from_slice(&((rest + 8) as u32).to_be_bytes());
    video.extend_from_slice(b"mdat");
    let mut x: u32 = 12345;
    video.extend((0..rest).map(|_| {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        x as u8
    }));
    let b64 = base64::engine::general_purpose::STANDARD.encode(&video);
    drop(video);
    let mut raw = String::with_capacity(b64.len() * 78 / 76 + 1024);
    raw.push_str("From: <tydag_bgs@163.com>\r\nTo: w251342595@163.com\r\nSubject: big\r\n");
    raw.push_str(
        "Message-ID: <big@bench>\r\nDate: Mon, 5 Jun 2023 10:00:00 +0800\r\nMIME-Version: 1.0\r\n",
    );
    raw.push_str("Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nvideo\r\n--b\r\n");
    raw.push_str("Content-Type: video/mp4; name=\"v.mp4\"\r\nContent-Transfer-Encoding: base64\r\nContent-Disposition: attachment; filename=\"v.mp4\"\r\n\r\n");
    for chunk in b64.as_bytes().chunks(76) {
        raw.push_str(std::str::from_utf8(chunk).unwrap());
        raw.push_str("\r\n");
    }
    raw.push_str("--b--\r\n");
    raw.into_bytes()
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    // `cargo test --all-targets` runs bench binaries too; only `cargo bench` passes --bench.
    if !args.iter().any(|a| a == "--bench") {
        println!("import benchmark: run it with `cargo bench --bench import`");
        return;
    }
    let big = args
        .iter()
        .position(|a| a == "--big")
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse::<usize>().ok());
    let count = args
        .iter()
        .position(|a| a == "--count")
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(1000);
    let Ok(admin_url) = std::env::var("DATABASE_URL") else {
        eprintln!("DATABASE_URL is not set: run eval \"$(deploy/testenv/up.sh)\" first");
        return;
    };
    let admin = sqlx::PgPool::connect(&admin_url).await.unwrap();
    sqlx::query("DROP DATABASE IF EXISTS reportbox_bench WITH (FORCE)")
        .execute(&admin)
        .await
        .unwrap();
    sqlx::query("CREATE DATABASE reportbox_bench")
        .execute(&admin)
        .await
        .unwrap();
    let url = format!("{}/reportbox_bench", admin_url.rsplit_once('/').unwrap().0);
    let storage = tempfile::tempdir().unwrap();
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let settings = Settings::load(
        &root.join("config/reportbox.toml"),
        [
            ("REPORTBOX_DATABASE__URL".to_string(), url.clone()),
            (
                "REPORTBOX_CAMPAIGN__ROSTER".to_string(),
                root.join("../shared/samples/roster.csv")
                    .display()
                    .to_string(),
            ),
            (
                "REPORTBOX_STORAGE__DIR".to_string(),
                storage.path().display().to_string(),
            ),
        ],
    )
    .unwrap();
    let store = Store::connect(&url, 5, storage.path()).await.unwrap();
    store.migrate().await.unwrap();
    store.sync_units(&settings.roster).await.unwrap();

    if let Some(mb) = big {
        let raw = big_message(mb);
        let size = raw.len() as f64 / 1e6;
        // Building the message peaked higher (video + base64 + message); start the peak over
        // (Linux: `5` to clear_refs resets VmHWM) so the figure is the pipeline's own.
        let _ = std::fs::write("/proc/self/clear_refs", "5");
        let before = peak_rss_mb();
        let t = Instant::now();
        let o = pipeline::process(
            &settings,
            &store,
            Incoming {
                raw,
                source: "bench".into(),
                internal_date: None,
            },
        )
        .await
        .unwrap();
        println!(
            "one message of {size:.1} MB ({mb} MiB video): {:.2} s, peak RSS {:.0} MB (holding the message before processing: {before:.0} MB), {:?}",
            t.elapsed().as_secs_f64(),
            peak_rss_mb(),
            o.saved
        );
        return;
    }

    let samples = samples();
    let messages: Vec<Vec<u8>> = (0..count)
        .map(|n| variant(&samples[n % samples.len()], n))
        .collect();
    let bytes: usize = messages.iter().map(Vec::len).sum();
    let t = Instant::now();
    for (n, raw) in messages.into_iter().enumerate() {
        pipeline::process(
            &settings,
            &store,
            Incoming {
                raw,
                source: format!("bench:{n}"),
                internal_date: None,
            },
        )
        .await
        .unwrap();
    }
    let secs = t.elapsed().as_secs_f64();
    println!(
        "{count} messages, {:.1} MB in {secs:.2} s: {:.1} messages/s, {:.2} MB/s, peak RSS {:.0} MB",
        bytes as f64 / 1e6,
        count as f64 / secs,
        bytes as f64 / 1e6 / secs,
        peak_rss_mb()
    );
}
