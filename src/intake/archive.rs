//! Unpacking zip, 7z and RAR attachments (contract §3, §6); Outlook's winmail.dat is in `tnef`.
//! Every limit is checked twice: first against what the archive declares (so a bomb is refused
//! before any work), then while reading (so an archive that lies about its sizes still cannot
//! exceed them).

use super::names::{clean_name, decode_guess};
use super::sniff::{self, FileKind};
use super::IntakeLimits;
use crate::problem::Problem;
use std::io::{Cursor, Read};

mod rar;
pub(super) mod tnef;

/// What is left of the limits for one top-level archive and the archives inside it.
pub(crate) struct Budget {
    pub bytes: u64,
    pub entries: usize,
}

impl Budget {
    pub fn new(limits: &IntakeLimits) -> Self {
        Budget {
            bytes: limits.archive_max_expanded,
            entries: limits.archive_max_entries,
        }
    }
}

pub(crate) struct Member {
    /// Base name, cleaned; `None` when nothing usable was left.
    pub name: Option<String>,
    pub bytes: Vec<u8>,
}

#[derive(Default)]
pub(crate) struct Unpacked {
    pub members: Vec<Member>,
    pub problems: Vec<Problem>,
}

/// Decoder dictionaries above this are refused: real 7z archives use at most 64 MiB.
const SEVENZ_MEMORY_KB: usize = 256 * 1024;

pub(crate) fn unpack(
    name: &str,
    kind: FileKind,
    bytes: &[u8],
    limits: &IntakeLimits,
    budget: &mut Budget,
) -> Unpacked {
    let attempt = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let mut out = Unpacked::default();
        match kind {
            FileKind::Zip => unzip(name, bytes, limits, budget, &mut out),
            FileKind::SevenZ => un7z(name, bytes, limits, budget, &mut out),
            FileKind::Rar => rar::unrar(name, bytes, limits, budget, &mut out),
            FileKind::Tnef => tnef::unpack(name, bytes, limits, budget, &mut out),
            _ => out.problems.push(unreadable(name)),
        }
        out
    }));
    // A decoder that panics on hostile input must not take the whole message down.
    attempt.unwrap_or_else(|_| Unpacked {
        members: Vec::new(),
        problems: vec![unreadable(name)],
    })
}

fn unreadable(name: &str) -> Problem {
    Problem::error(
        "file.unreadable",
        format!("压缩包“{name}”已损坏，无法打开。请重新压缩后发送。"),
    )
}

fn encrypted(name: &str) -> Problem {
    Problem::error(
        "archive.encrypted",
        format!("压缩包“{name}”设置了密码，无法解压。请取消密码后重新发送。"),
    )
}

fn unsupported(name: &str) -> Problem {
    Problem::error(
        "archive.unsupported",
        format!(
            "压缩包“{name}”使用了系统不支持的压缩方式，未能解压。请用常见的 zip 格式重新压缩。"
        ),
    )
}

/// Checks the declared totals; `Some(problem)` refuses the archive before anything is read.
pub(crate) fn precheck(
    name: &str,
    compressed: u64,
    entries: usize,
    declared: u64,
    limits: &IntakeLimits,
    budget: &Budget,
) -> Option<Problem> {
    if entries > budget.entries {
        return Some(Problem::error(
            "archive.too_large",
            format!(
                "压缩包“{name}”内文件过多（{entries} 个，上限 {} 个），未解压。请直接把文件作为附件发送。",
                limits.archive_max_entries
            ),
        ));
    }
    if declared > budget.bytes {
        return Some(Problem::error(
            "archive.too_large",
            format!(
                "压缩包“{name}”解压后过大（{}，上限 {}），未解压。请分开发送或直接把文件作为附件发送。",
                fmt_size(declared),
                fmt_size(limits.archive_max_expanded)
            ),
        ));
    }
    if declared > ratio_cap(compressed, limits) {
        return Some(ratio_problem(name, limits));
    }
    None
}

fn ratio_cap(compressed: u64, limits: &IntakeLimits) -> u64 {
    compressed.max(1).saturating_mul(limits.archive_max_ratio)
}

fn ratio_problem(name: &str, limits: &IntakeLimits) -> Problem {
    Problem::error(
        "archive.too_large",
        format!(
            "压缩包“{name}”的压缩比异常（超过 {}:1），疑似压缩炸弹，未解压。",
            limits.archive_max_ratio
        ),
    )
}

fn overflow_problem(name: &str, limits: &IntakeLimits) -> Problem {
    Problem::error(
        "archive.too_large",
        format!(
            "压缩包“{name}”实际解压的内容超过上限（{} 或 {}:1），其余文件未解压。",
            fmt_size(limits.archive_max_expanded),
            limits.archive_max_ratio
        ),
    )
}

/// How many more bytes this archive may produce.
struct Allowance {
    left: u64,
    /// Set when the limit that ran out is the ratio, not the budget: the message differs.
    ratio_bound: bool,
}

impl Allowance {
    fn new(compressed: u64, limits: &IntakeLimits, budget: &Budget) -> Self {
        let ratio = ratio_cap(compressed, limits);
        Allowance {
            left: ratio.min(budget.bytes),
            ratio_bound: ratio < budget.bytes,
        }
    }
}

/// Reads one member through `take`, so the allowance holds whatever the header claimed.
/// `Ok(None)`: the member would exceed the allowance.
fn read_bounded(
    r: &mut dyn Read,
    declared: u64,
    allow: &mut Allowance,
    budget: &mut Budget,
) -> std::io::Result<Option<Vec<u8>>> {
    let cap = declared.min(allow.left).min(64 << 20) as usize;
    let mut buf = Vec::with_capacity(cap);
    r.take(allow.left.saturating_add(1)).read_to_end(&mut buf)?;
    let n = buf.len() as u64;
    if n > allow.left {
        return Ok(None);
    }
    allow.left -= n;
    budget.bytes = budget.bytes.saturating_sub(n);
    budget.entries = budget.entries.saturating_sub(1);
    Ok(Some(buf))
}

fn unzip(name: &str, bytes: &[u8], limits: &IntakeLimits, budget: &mut Budget, out: &mut Unpacked) {
    // The entry count comes from our own EOCD reader first: the zip crate reserves memory in
    // proportion to the count it is told.
    let Some((count, _)) = sniff::zip_eocd(bytes) else {
        out.problems.push(unreadable(name));
        return;
    };
    if count > budget.entries as u64 {
        out.problems.push(Problem::error(
            "archive.too_large",
            format!(
                "压缩包“{name}”内文件过多（{count} 个，上限 {} 个），未解压。请直接把文件作为附件发送。",
                limits.archive_max_entries
            ),
        ));
        return;
    }
    let mut zip = match zip::ZipArchive::new(Cursor::new(bytes)) {
        Ok(z) => z,
        Err(_) => {
            out.problems.push(unreadable(name));
            return;
        }
    };
    let mut files = Vec::new();
    let mut declared = 0u64;
    for i in 0..zip.len() {
        let Ok(f) = zip.by_index_raw(i) else {
            out.problems.push(unreadable(name));
            return;
        };
        let raw = f.name_raw();
        if f.is_dir() || raw.ends_with(b"\\") {
            continue;
        }
        if f.encrypted() {
            out.problems.push(encrypted(name));
            return;
        }
        declared = declared.saturating_add(f.size());
        files.push((i, clean_name(&decode_guess(raw)), f.size()));
    }
    if let Some(p) = precheck(
        name,
        bytes.len() as u64,
        files.len(),
        declared,
        limits,
        budget,
    ) {
        out.problems.push(p);
        return;
    }
    let mut allow = Allowance::new(bytes.len() as u64, limits, budget);
    for (i, member, size) in files {
        let mut f = match zip.by_index(i) {
            Ok(f) => f,
            Err(zip::result::ZipError::UnsupportedArchive(_)) => {
                out.problems.push(Problem::error(
                    "archive.unsupported",
                    format!(
                        "压缩包“{name}”中的“{}”使用了系统不支持的压缩方式，未能解压。请用常见的 zip 格式重新压缩。",
                        member.as_deref().unwrap_or("文件")
                    ),
                ));
                continue;
            }
            Err(_) => {
                out.problems.push(unreadable(name));
                return;
            }
        };
        match read_bounded(&mut f, size, &mut allow, budget) {
            Ok(Some(data)) => out.members.push(Member {
                name: member,
                bytes: data,
            }),
            Ok(None) => {
                out.problems.push(if allow.ratio_bound {
                    ratio_problem(name, limits)
                } else {
                    overflow_problem(name, limits)
                });
                return;
            }
            Err(_) => {
                out.problems.push(unreadable(name));
                return;
            }
        }
    }
}

fn un7z(name: &str, bytes: &[u8], limits: &IntakeLimits, budget: &mut Budget, out: &mut Unpacked) {
    use sevenz_rust2::{ArchiveReader, EntryDecision, Error, Password};
    let mut reader = match ArchiveReader::new_with_memory_limit(
        Cursor::new(bytes),
        Password::empty(),
        SEVENZ_MEMORY_KB,
    ) {
        Ok(r) => r,
        Err(Error::PasswordRequired | Error::MaybeBadPassword(_)) => {
            out.problems.push(encrypted(name));
            return;
        }
        Err(Error::UnsupportedCompressionMethod(m)) if m.to_ascii_uppercase().contains("AES") => {
            out.problems.push(encrypted(name));
            return;
        }
        Err(
            Error::MaxMemLimited { .. }
            | Error::UnsupportedCompressionMethod(_)
            | Error::Unsupported(_),
        ) => {
            out.problems.push(unsupported(name));
            return;
        }
        Err(_) => {
            out.problems.push(unreadable(name));
            return;
        }
    };
    reader.set_thread_count(1);
    let archive = reader.archive();
    let mut entries = 0usize;
    let mut declared = 0u64;
    for (i, f) in archive.files.iter().enumerate() {
        if f.is_directory() {
            continue;
        }
        if archive.is_file_encrypted(i) {
            out.problems.push(encrypted(name));
            return;
        }
        entries += 1;
        declared = declared.saturating_add(f.size());
    }
    if let Some(p) = precheck(name, bytes.len() as u64, entries, declared, limits, budget) {
        out.problems.push(p);
        return;
    }
    let mut allow = Allowance::new(bytes.len() as u64, limits, budget);
    let mut overflow = false;
    let mut members = Vec::new();
    let result = reader.for_each_entries_with_decision(|entry, r| {
        if entry.is_directory() {
            return Ok(EntryDecision::Continue);
        }
        match read_bounded(r, entry.size(), &mut allow, budget)? {
            Some(data) => {
                members.push(Member {
                    name: clean_name(entry.name()),
                    bytes: data,
                });
                Ok(EntryDecision::Continue)
            }
            None => {
                overflow = true;
                Ok(EntryDecision::Stop)
            }
        }
    });
    out.members = members;
    if overflow {
        out.problems.push(if allow.ratio_bound {
            ratio_problem(name, limits)
        } else {
            overflow_problem(name, limits)
        });
    } else if let Err(e) = result {
        out.problems.push(match e {
            Error::PasswordRequired | Error::MaybeBadPassword(_) => encrypted(name),
            _ => unreadable(name),
        });
    }
}

/// Sizes as a unit reads them: "1 GB", "200 MB", "12.5 KB".
pub(crate) fn fmt_size(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KB", "MB", "GB", "TB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 || v.fract() < 0.05 || v >= 100.0 {
        format!("{:.0} {}", v, UNITS[u])
    } else {
        format!("{:.1} {}", v, UNITS[u])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    /// The zip crate always writes UTF-8 names; GBK names are written by `raw_name_zip`.
    pub(crate) fn zip_with(entries: &[(&[u8], &[u8])]) -> Vec<u8> {
        let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
        let opts = zip::write::SimpleFileOptions::default();
        for (n, d) in entries {
            w.start_file(std::str::from_utf8(n).unwrap(), opts).unwrap();
            w.write_all(d).unwrap();
        }
        w.finish().unwrap().into_inner()
    }

    /// A stored zip with raw (non-UTF-8, flag bit 11 clear) names, as Windows' GBK zip tools write.
    pub(crate) fn raw_name_zip(entries: &[(Vec<u8>, &[u8])]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut central = Vec::new();
        for (name, data) in entries {
            let crc = crc32(data);
            let off = out.len() as u32;
            let mut h = Vec::new();
            h.extend_from_slice(b"PK\x03\x04");
            h.extend_from_slice(&20u16.to_le_bytes());
            h.extend_from_slice(&0u16.to_le_bytes()); // flags: no UTF-8 bit
            h.extend_from_slice(&0u16.to_le_bytes()); // stored
            h.extend_from_slice(&[0; 4]);
            h.extend_from_slice(&crc.to_le_bytes());
            h.extend_from_slice(&(data.len() as u32).to_le_bytes());
            h.extend_from_slice(&(data.len() as u32).to_le_bytes());
            h.extend_from_slice(&(name.len() as u16).to_le_bytes());
            h.extend_from_slice(&0u16.to_le_bytes());
            out.extend_from_slice(&h);
            out.extend_from_slice(name);
            out.extend_from_slice(data);
            central.extend_from_slice(b"PK\x01\x02");
            central.extend_from_slice(&20u16.to_le_bytes());
            central.extend_from_slice(&h[4..30]);
            central.extend_from_slice(&[0; 10]); // comment len, disk, attributes
            central.extend_from_slice(&off.to_le_bytes());
            central.extend_from_slice(name);
        }
        let cd_off = out.len() as u32;
        out.extend_from_slice(&central);
        out.extend_from_slice(b"PK\x05\x06\0\0\0\0");
        out.extend_from_slice(&(entries.len() as u16).to_le_bytes());
        out.extend_from_slice(&(entries.len() as u16).to_le_bytes());
        out.extend_from_slice(&(central.len() as u32).to_le_bytes());
        out.extend_from_slice(&cd_off.to_le_bytes());
        out.extend_from_slice(&0u16.to_le_bytes());
        out
    }

    fn crc32(d: &[u8]) -> u32 {
        let mut c = 0xFFFF_FFFFu32;
        for &b in d {
            c ^= b as u32;
            for _ in 0..8 {
                c = if c & 1 != 0 {
                    (c >> 1) ^ 0xEDB8_8320
                } else {
                    c >> 1
                };
            }
        }
        !c
    }

    fn run(kind: FileKind, bytes: &[u8], limits: &IntakeLimits) -> Unpacked {
        unpack("材料.zip", kind, bytes, limits, &mut Budget::new(limits))
    }

    #[test]
    fn gbk_names_without_utf8_flag() {
        let (n1, _, _) = encoding_rs::GB18030.encode("材料/统计表.xlsx");
        let z = raw_name_zip(&[(n1.into_owned(), b"abc"), (b"dir/".to_vec(), b"")]);
        let u = run(FileKind::Zip, &z, &IntakeLimits::default());
        assert!(u.problems.is_empty(), "{:?}", u.problems);
        assert_eq!(u.members.len(), 1);
        assert_eq!(u.members[0].name.as_deref(), Some("统计表.xlsx"));
        assert_eq!(u.members[0].bytes, b"abc");
    }

    #[test]
    fn utf8_names_and_traversal() {
        let z = zip_with(&[
            ("../../etc/passwd".as_bytes(), b"x"),
            ("总结报告.docx".as_bytes(), b"y"),
        ]);
        let u = run(FileKind::Zip, &z, &IntakeLimits::default());
        let names: Vec<_> = u.members.iter().map(|m| m.name.clone().unwrap()).collect();
        assert_eq!(names, ["passwd", "总结报告.docx"]);
    }

    #[test]
    fn zip_bomb_refused_before_extraction() {
        let zeros = vec![0u8; 10 << 20];
        let z = zip_with(&[(b"zeros.bin", &zeros)]);
        assert!(z.len() < (10 << 20) / 200);
        let u = run(FileKind::Zip, &z, &IntakeLimits::default());
        assert!(u.members.is_empty());
        assert_eq!(u.problems[0].code, "archive.too_large");
    }

    #[test]
    fn lying_sizes_are_enforced_while_reading() {
        // Declared size 1 byte, real content 1 MiB of zeros: the declared check passes, the
        // reading check must stop it.
        let data = vec![0u8; 1 << 20];
        let mut z = zip_with(&[(b"a.bin", &data)]);
        patch_sizes(&mut z, 1);
        let limits = IntakeLimits {
            archive_max_expanded: 4096,
            archive_max_ratio: 1_000_000,
            ..Default::default()
        };
        let u = run(FileKind::Zip, &z, &limits);
        assert!(u.members.is_empty());
        assert_eq!(u.problems.len(), 1, "{:?}", u.problems);
        assert_eq!(u.problems[0].code, "archive.too_large");
    }

    /// Overwrites the uncompressed size in every local and central header.
    fn patch_sizes(z: &mut [u8], size: u32) {
        let mut i = 0;
        while i + 4 <= z.len() {
            if z[i..].starts_with(b"PK\x03\x04") {
                z[i + 22..i + 26].copy_from_slice(&size.to_le_bytes());
            } else if z[i..].starts_with(b"PK\x01\x02") {
                z[i + 24..i + 28].copy_from_slice(&size.to_le_bytes());
            }
            i += 1;
        }
    }

    #[test]
    fn too_many_entries() {
        let names: Vec<String> = (0..20).map(|i| format!("{i}.txt")).collect();
        let entries: Vec<(&[u8], &[u8])> =
            names.iter().map(|n| (n.as_bytes(), &b"x"[..])).collect();
        let z = zip_with(&entries);
        let limits = IntakeLimits {
            archive_max_entries: 10,
            ..Default::default()
        };
        let u = run(FileKind::Zip, &z, &limits);
        assert!(u.members.is_empty());
        assert_eq!(u.problems[0].code, "archive.too_large");
    }

    #[test]
    fn encrypted_zip() {
        let mut z = zip_with(&[(b"a.txt", b"secret")]);
        // Set general purpose bit 0 (encrypted) in the local and central headers.
        for i in 0..z.len() - 4 {
            if z[i..].starts_with(b"PK\x03\x04") {
                z[i + 6] |= 1;
            } else if z[i..].starts_with(b"PK\x01\x02") {
                z[i + 8] |= 1;
            }
        }
        let u = run(FileKind::Zip, &z, &IntakeLimits::default());
        assert!(u.members.is_empty());
        assert_eq!(u.problems[0].code, "archive.encrypted");
    }

    #[test]
    fn corrupt_zip_and_rar() {
        let z = zip_with(&[(b"a.txt", b"hello hello hello")]);
        let u = run(FileKind::Zip, &z[..z.len() / 2], &IntakeLimits::default());
        assert_eq!(u.problems[0].code, "file.unreadable");
        let u = run(
            FileKind::Rar,
            b"Rar!\x1A\x07\x01\0junk",
            &IntakeLimits::default(),
        );
        // Junk after the RAR signature is a damaged archive, like a cut-off zip.
        assert_eq!(u.problems[0].code, "file.unreadable");
        assert!(u.problems[0].message.contains("材料.zip"));
    }

    #[test]
    fn sevenz_roundtrip_bomb_and_encrypted() {
        use sevenz_rust2::{ArchiveEntry, ArchiveWriter};
        let make = |data: &[u8], password: Option<&str>| {
            let mut w = ArchiveWriter::new(Cursor::new(Vec::new())).unwrap();
            if let Some(p) = password {
                w.set_content_methods(vec![
                    sevenz_rust2::encoder_options::AesEncoderOptions::new(p.into()).into(),
                    sevenz_rust2::EncoderMethod::LZMA2.into(),
                ]);
            }
            w.push_archive_entry(
                ArchiveEntry::new_file("子目录/科技活动周专题片.mp4"),
                Some(data),
            )
            .unwrap();
            w.finish().unwrap().into_inner()
        };
        let ok = make(b"video-bytes", None);
        assert_eq!(sniff::sniff(&ok), FileKind::SevenZ);
        let u = run(FileKind::SevenZ, &ok, &IntakeLimits::default());
        assert!(u.problems.is_empty(), "{:?}", u.problems);
        assert_eq!(u.members[0].name.as_deref(), Some("科技活动周专题片.mp4"));
        assert_eq!(u.members[0].bytes, b"video-bytes");

        let bomb = make(&vec![0u8; 4 << 20], None);
        let u = run(FileKind::SevenZ, &bomb, &IntakeLimits::default());
        assert!(u.members.is_empty());
        assert_eq!(u.problems[0].code, "archive.too_large");

        let enc = make(b"secret", Some("pw"));
        let u = run(FileKind::SevenZ, &enc, &IntakeLimits::default());
        assert!(u.members.is_empty());
        assert_eq!(u.problems[0].code, "archive.encrypted");

        let u = run(
            FileKind::SevenZ,
            &ok[..ok.len() - 10],
            &IntakeLimits::default(),
        );
        assert!(u.members.is_empty());
        assert_eq!(u.problems[0].code, "file.unreadable");
    }

    #[test]
    fn sizes() {
        assert_eq!(fmt_size(1 << 30), "1 GB");
        assert_eq!(fmt_size(200 << 20), "200 MB");
        assert_eq!(fmt_size(1536), "1.5 KB");
        assert_eq!(fmt_size(12), "12 B");
    }
}
