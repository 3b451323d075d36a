//! A bounded, deterministic fuzz run over the whole intake (parse, then the pure `decide`: table
//! reading, identification, classification, every validator) on arbitrary bytes and on mutated
//! messages (the samples and tests/corpus). A panic anywhere fails, even one a guard caught: a
//! caught panic is a parser that gave up on a unit's file. And a message whose raw header block
//! holds a readable From must come out with a sender.
//!
//! CI runs `REPORTBOX_FUZZ_CASES` cases (default 5,000 mutated + 5,000 random); run it longer
//! with e.g. `REPORTBOX_FUZZ_CASES=50000 REPORTBOX_FUZZ_SEED=7 cargo test --release --test
//! fuzz_intake`. A failure
//! prints the seed and case number; the failing input is written to target/fuzz-failures/.

mod common;

use common::{repo, sample_messages, samples_dir, settings_with};
use reportbox::intake::{self, IntakeLimits};
use reportbox::pipeline::{self, Meta};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// xorshift64*: deterministic, no dependency, good enough to pick mutations.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}

/// Fragments real mail is made of, to splice in: entities before CJK text, encoded words,
/// boundaries, zone letters, NUL, GBK and UTF-8 bytes cut in the middle.
const FRAGMENTS: &[&[u8]] = &[
    "&nbsp;中文".as_bytes(),
    "&amp;影像".as_bytes(),
    "&#x4E2D;".as_bytes(),
    b"&",
    b"\xe4\xb8",
    b"\xc4\xe3\xba",
    b"\0",
    b"=?gb2312?B?tPLUrQ==?=",
    b"=?x-\xff?Q?=E5=BC?=",
    b"\r\n--",
    b"\r\n\r\n",
    b"\n",
    b"Date: Mon, 5 Jun 2023 10:00:00 Z\r\n",
    b"Content-Type: multipart/mixed; boundary=\"b\"\r\n",
    b"Content-Transfer-Encoding: base64\r\n",
    b"Content-Disposition: attachment; filename*=gbk''%CD%B3.xlsx\r\n",
    b"PK\x03\x04",
    b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1",
    b"%PDF-1.4\n",
    b"Rar!\x1a\x07\x00",
    b"https://mail.163.com/large-attachment-download/index.html?p=X&file=a&title=%E5",
];

fn mutate(rng: &mut Rng, base: &[u8]) -> Vec<u8> {
    let mut m = base.to_vec();
    for _ in 0..1 + rng.below(8) {
        let at = rng.below(m.len() + 1);
        match rng.below(7) {
            0 if !m.is_empty() => {
                let i = rng.below(m.len());
                m[i] ^= 1 << rng.below(8);
            }
            1 => {
                let f = FRAGMENTS[rng.below(FRAGMENTS.len())];
                m.splice(at..at, f.iter().copied());
            }
            2 if at < m.len() => {
                let end = (at + 1 + rng.below(64)).min(m.len());
                m.drain(at..end);
            }
            3 => m.truncate(at),
            4 if at < m.len() => {
                let end = (at + 1 + rng.below(256)).min(m.len());
                let copy = m[at..end].to_vec();
                let to = rng.below(m.len() + 1);
                m.splice(to..to, copy);
            }
            5 => {
                let bytes: Vec<u8> = (0..rng.below(16)).map(|_| rng.next() as u8).collect();
                m.splice(at..at, bytes);
            }
            _ if !m.is_empty() => {
                let i = rng.below(m.len());
                m[i] = rng.next() as u8;
            }
            _ => {}
        }
    }
    m
}

/// Whether the top header block has a From field with an address in it.
fn has_readable_from(raw: &[u8]) -> bool {
    let raw = raw.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(raw);
    let mut lines = raw.split(|&b| b == b'\n');
    let mut fields: Vec<Vec<u8>> = Vec::new();
    for line in lines.by_ref() {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            break;
        }
        if matches!(line[0], b' ' | b'\t') {
            if let Some(last) = fields.last_mut() {
                last.extend_from_slice(line);
            }
        } else {
            fields.push(line.to_vec());
        }
    }
    fields.iter().any(|f| {
        let lower = String::from_utf8_lossy(f).to_ascii_lowercase();
        let Some(value) = lower.strip_prefix("from:") else {
            return false;
        };
        // `<local@domain>` with ASCII printable characters, as a client writes it.
        value.split('<').skip(1).any(|t| {
            t.split_once('>').is_some_and(|(a, _)| {
                a.split_once('@')
                    .is_some_and(|(l, d)| !l.is_empty() && !d.is_empty() && !d.contains('@'))
                    && a.bytes().all(|b| b.is_ascii_graphic())
            })
        })
    })
}

/// Inputs earlier fuzz runs found (tests/fuzz_regressions), checked the same way every time.
#[test]
fn inputs_that_once_failed_give_a_sender() {
    let limits = IntakeLimits::default();
    let mut names: Vec<_> = std::fs::read_dir(repo().join("tests/fuzz_regressions"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    names.sort();
    assert!(!names.is_empty());
    for path in names {
        let raw = std::fs::read(&path).unwrap();
        assert!(has_readable_from(&raw), "{}", path.display());
        let parsed = intake::parse(&raw, &limits);
        assert!(
            parsed.from.is_some() || parsed.sender.is_some(),
            "{}: no sender",
            path.display()
        );
    }
}

#[test]
fn no_input_makes_intake_panic_and_a_readable_from_always_gives_a_sender() {
    let cases: usize = std::env::var("REPORTBOX_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5000);
    let panics = Arc::new(AtomicUsize::new(0));
    let where_ = Arc::new(Mutex::new(Vec::<String>::new()));
    {
        let (panics, where_) = (panics.clone(), where_.clone());
        std::panic::set_hook(Box::new(move |info| {
            panics.fetch_add(1, Ordering::SeqCst);
            let at = info
                .location()
                .map(|l| format!("{}:{}", l.file(), l.line()))
                .unwrap_or_default();
            where_.lock().unwrap().push(format!("{at}: {info}"));
        }));
    }

    let storage = tempfile::tempdir().unwrap();
    let settings = settings_with(&samples_dir().join("roster.csv"), storage.path(), &[]);
    let limits = IntakeLimits {
        // Small limits keep each case fast and reach the limit paths too.
        max_file_bytes: 4 << 20,
        archive_max_expanded: 16 << 20,
        ..IntakeLimits::default()
    };
    let mut bases: Vec<Vec<u8>> = sample_messages().into_iter().map(|(_, b)| b).collect();
    let corpus = repo().join("tests/corpus/mail");
    let mut names: Vec<_> = std::fs::read_dir(&corpus)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    names.sort();
    bases.extend(names.iter().map(|p| std::fs::read(p).unwrap()));

    let seed = std::env::var("REPORTBOX_FUZZ_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0x5EED_2023_0610u64);
    let mut rng = Rng(seed);
    let mut failures = Vec::new();
    let mut without_sender = 0;
    for case in 0..cases * 2 {
        let input = if case % 2 == 0 {
            let base = &bases[rng.below(bases.len())];
            mutate(&mut rng, base)
        } else {
            let len = rng.below(4096);
            (0..len).map(|_| rng.next() as u8).collect()
        };
        let before = panics.load(Ordering::SeqCst);
        let parsed = intake::parse(&input, &limits);
        let readable_from = has_readable_from(&input);
        let sender = parsed.from.is_some() || parsed.sender.is_some();
        let meta = Meta {
            raw_sha256: format!("{case}"),
            body_sha256: format!("{case}"),
            size: input.len(),
            source: format!("fuzz:{case}"),
            internal_date: None,
        };
        let _ = pipeline::decide(&settings, parsed, &Default::default(), meta);
        let panicked = panics.load(Ordering::SeqCst) > before;
        if panicked || (readable_from && !sender) {
            if readable_from && !sender {
                without_sender += 1;
            }
            let dir = repo().join("target/fuzz-failures");
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(dir.join(format!("case-{case}.eml")), &input).unwrap();
            failures.push(format!(
                "case {case} (seed {seed:#x}): {}",
                if panicked {
                    "panic"
                } else {
                    "From present, no sender"
                }
            ));
        }
    }
    let _ = std::panic::take_hook();
    let where_ = where_.lock().unwrap();
    assert!(
        failures.is_empty(),
        "{} of {} inputs failed ({without_sender} without sender); inputs in target/fuzz-failures/\n{}\npanics:\n{}",
        failures.len(),
        cases * 2,
        failures.iter().take(20).cloned().collect::<Vec<_>>().join("\n"),
        where_.iter().take(20).cloned().collect::<Vec<_>>().join("\n")
    );
}
