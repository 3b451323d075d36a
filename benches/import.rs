//! Import throughput and memory, against the real PostgreSQL of deploy/testenv.
//!
//!     eval "$(deploy/testenv/up.sh)"; cargo bench --bench import            # 1,000 messages
//!     cargo bench --bench import -- --big 100                                # one 100 MB video
//!     cargo bench --bench import -- --mbox 500 --largest 40    # a 500 MiB mbox through `import`
//!
//! Prints messages/s, MB/s and the process's peak RSS (VmHWM). Uses its own database
//! `reportbox_bench`, recreated each run, and a temporary storage directory.
//!
//! `--mbox` writes an mbox of that many MiB to a temporary directory — messages of about 1 MB
//! each, and one carrying a `--largest` MiB video (default 40) in the middle — and imports it as
//! `reportbox import` does, to show that peak memory follows the largest message, not the file
//! (the goal: 64 MiB + 2 × the largest message).

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
    video_message(mb << 20, 0)
}

/// A message from 市档案馆 carrying an mp4 of `bytes`, its content and Message-ID set by `n`.
fn video_message(bytes: usize, n: usize) -> Vec<u8> {
    use base64::Engine;
    // An mp4 shape: ftyp, a moov with mvhd (120 s), then mdat filling the rest.
    let mut video = Vec::with_capacity(bytes);
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
    let rest = bytes - video.len() - 8;
    video.extend_from_slice(&((rest + 8) as u32).to_be_bytes());
    video.extend_from_slice(b"mdat");
    let mut x: u32 = 12345 + n as u32;
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
    let id = if n == 0 {
        "big@bench".to_string()
    } else {
        format!("video{n}@bench")
    };
    raw.push_str(&format!(
        "Message-ID: <{id}>\r\nDate: Mon, 5 Jun 2023 10:00:00 +0800\r\nMIME-Version: 1.0\r\n"
    ));
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

    let arg = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .and_then(|v| v.parse::<usize>().ok())
    };
    if let Some(total) = arg("--mbox") {
        mbox(&settings, &store, total, arg("--largest").unwrap_or(40)).await;
        return;
    }

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

/// Writes an mbox of about `total_mib` MiB — 1 MB messages and one with a `largest_mib` MiB
/// video — then imports it through `cli::import` and reports the peak RSS of the import alone.
async fn mbox(settings: &Settings, store: &Store, total_mib: usize, largest_mib: usize) {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("export.mbox");
    let mut out = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
    let mut write = |raw: &[u8]| {
        out.write_all(b"From MAILER-DAEMON Mon Jun  5 10:00:00 2023\r\n")
            .unwrap();
        // mboxrd: a body line starting `From ` (after any `>`) gets one more `>`.
        for line in raw.split_inclusive(|&b| b == b'\n') {
            let gt = line.iter().take_while(|&&b| b == b'>').count();
            if line[gt..].starts_with(b"From ") {
                out.write_all(b">").unwrap();
            }
            out.write_all(line).unwrap();
        }
        out.write_all(b"\r\n").unwrap();
        raw.len()
    };
    let (mut written, mut count, mut largest) = (0usize, 0usize, 0usize);
    let target = total_mib << 20;
    let (mut n, mut large_done) = (1, false);
    while written < target {
        let raw = if !large_done && written >= target / 2 {
            large_done = true;
            video_message(largest_mib << 20, n)
        } else {
            video_message(750 << 10, n)
        };
        largest = largest.max(raw.len());
        written += write(&raw);
        count += 1;
        n += 1;
    }
    out.flush().unwrap();
    drop(out);
    let file_mib = std::fs::metadata(&path).unwrap().len() as f64 / 1048576.0;
    let largest_mib = largest as f64 / 1048576.0;
    // Writing peaked with the largest message in memory; start the peak over (Linux: `5` to
    // clear_refs resets VmHWM) so the figure is the import's own.
    let _ = std::fs::write("/proc/self/clear_refs", "5");
    let before = peak_rss_mb();
    let t = Instant::now();
    let code = reportbox::cli::import(settings, store, &[path])
        .await
        .unwrap();
    let secs = t.elapsed().as_secs_f64();
    // VmHWM is in kB, so peak_rss_mb() is in MiB.
    let peak = peak_rss_mb();
    let goal = 64.0 + 2.0 * largest_mib;
    println!(
        "mbox of {file_mib:.0} MiB, {count} messages, largest {largest_mib:.1} MiB: imported in {secs:.1} s ({:.1} MiB/s), {code:?}; \
         peak RSS {peak:.0} MiB (before the import: {:.0} MiB); goal 64 MiB + 2 × largest = {goal:.0} MiB: {}",
        file_mib / secs,
        before,
        if peak <= goal { "met" } else { "NOT MET" }
    );
}
