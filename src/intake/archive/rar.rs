//! Unpacking RAR attachments, RAR4 (1.5–4.x) and RAR5, with the pure-Rust `rars` reader.
//! The same two checks as zip and 7z: the declared sizes and entry count against the limits
//! before anything is decoded, then every byte written counted against the same allowance, so
//! an archive that understates its sizes still cannot exceed them.

use super::{
    clean_name, decode_guess, encrypted, overflow_problem, precheck, ratio_problem, unreadable,
    unsupported, Allowance, Budget, Member, Unpacked,
};
use crate::intake::IntakeLimits;
use crate::problem::Problem;
use rars::{ArchiveReadOptions, ArchiveReader, ErrorKind, ExtractionDecision};
use std::cell::RefCell;
use std::io::Write;
use std::rc::Rc;

/// RAR5 dictionaries above this are refused, like 7z's: WinRAR's default is 32 MiB.
const DICTIONARY_MAX: u64 = 256 << 20;
/// Header bytes parsed before the entry count is known; real headers are well under 1 KiB
/// each, so this only stops a header bomb.
const HEADER_BYTES_MAX: u64 = 16 << 20;

pub(super) fn unrar(
    name: &str,
    bytes: &[u8],
    limits: &IntakeLimits,
    budget: &mut Budget,
    out: &mut Unpacked,
) {
    // Headers are counted while parsing so a header bomb is refused before it is all read.
    // Service headers (comments, NTFS streams, quick-open data) count too, hence the slack.
    let header_limit = (budget.entries as u64).saturating_mul(2).saturating_add(64);
    let options = ArchiveReadOptions::new()
        .with_max_header_count(header_limit)
        .with_max_header_bytes(HEADER_BYTES_MAX);
    let archive = match ArchiveReader::read_with_options(bytes, options) {
        Ok(a) => a,
        Err(e) => {
            out.problems.push(
                if matches!(e.root_cause(), rars::Error::HeaderCountLimitExceeded { .. }) {
                    too_many(name, limits)
                } else {
                    problem_for(name, &e)
                },
            );
            return;
        }
    };

    if is_volume(&archive) {
        out.problems.push(volume(name));
        return;
    }
    let mut entries = 0usize;
    let mut declared = 0u64;
    for m in archive.members() {
        let meta = &m.meta;
        if meta.is_split_before || meta.is_split_after {
            out.problems.push(volume(name));
            return;
        }
        if meta.is_directory || meta.is_redirection {
            continue;
        }
        if meta.is_encrypted {
            out.problems.push(encrypted(name));
            return;
        }
        entries += 1;
        declared = declared.saturating_add(meta.unpacked_size);
    }
    if let Some(p) = precheck(name, bytes.len() as u64, entries, declared, limits, budget) {
        out.problems.push(p);
        return;
    }

    let allow = Allowance::new(bytes.len() as u64, limits, budget);
    let sink = Rc::new(RefCell::new(Sink {
        left: allow.left,
        ..Sink::default()
    }));
    let options = ArchiveReadOptions::new()
        .with_rar50_dictionary_size_limit(DICTIONARY_MAX)
        .with_max_member_output_bytes(allow.left)
        .with_max_total_output_bytes(allow.left);
    let result = archive.extract_with_control(options, |m| {
        let mut s = sink.borrow_mut();
        s.finish();
        // Directories and links are not files; skipping them reads nothing.
        if m.meta.is_directory || m.meta.is_redirection {
            return Ok(ExtractionDecision::Skip);
        }
        s.current = Some((clean_name(&decode_guess(&m.meta.name)), Vec::new()));
        Ok(ExtractionDecision::Extract(Box::new(Writer(Rc::clone(
            &sink,
        )))))
    });
    let mut s = sink.take();
    match result {
        // Cut off at a header boundary: what came before is whole and verified, but the
        // archive is not, and the unit should know.
        Ok(_) if !has_end(&archive) => {
            s.finish();
            out.problems.push(unreadable(name));
        }
        Ok(_) => s.finish(),
        // The member being written when the error came is incomplete and is dropped.
        Err(e) if s.overflow || is_output_limit(&e) => s.overflow = true,
        Err(e) => out.problems.push(problem_for(name, &e)),
    }
    if s.overflow {
        out.problems.push(if allow.ratio_bound {
            ratio_problem(name, limits)
        } else {
            overflow_problem(name, limits)
        });
    }
    budget.bytes = budget.bytes.saturating_sub(s.written);
    budget.entries = budget.entries.saturating_sub(s.done.len());
    out.members = s.done;
}

/// Where extracted bytes go: the member being written, the finished ones, and how much more
/// the allowance lets through.
#[derive(Default)]
struct Sink {
    current: Option<(Option<String>, Vec<u8>)>,
    done: Vec<Member>,
    left: u64,
    written: u64,
    overflow: bool,
}

impl Sink {
    /// The previous member was written and verified: `rars` asks for the next writer, or
    /// returns, only after a member's checksum matched.
    fn finish(&mut self) {
        if let Some((name, bytes)) = self.current.take() {
            self.done.push(Member { name, bytes });
        }
    }
}

struct Writer(Rc<RefCell<Sink>>);

impl Write for Writer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let mut s = self.0.borrow_mut();
        let n = buf.len() as u64;
        if n > s.left {
            s.overflow = true;
            return Err(std::io::Error::other("archive allowance exceeded"));
        }
        s.left -= n;
        s.written += n;
        match s.current.as_mut() {
            Some((_, data)) => data.extend_from_slice(buf),
            None => return Err(std::io::Error::other("no member open")),
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The reader's own output ceilings, set to the same allowance as the writer's.
fn is_output_limit(e: &rars::Error) -> bool {
    matches!(
        e.root_cause(),
        rars::Error::MemberOutputLimitExceeded { .. }
            | rars::Error::TotalOutputLimitExceeded { .. }
    )
}

/// Whether the end-of-archive header was read. WinRAR writes it last in every RAR4 and RAR5
/// archive; `rars` stops quietly at a header boundary (or, for RAR4, before a last header of
/// under 7 bytes), which is how a truncated attachment looks.
fn has_end(archive: &rars::Archive) -> bool {
    match archive {
        rars::Archive::Rar50Plus(a) => matches!(a.blocks.last(), Some(rars::rar50::Block::End(_))),
        rars::Archive::Rar15To40(a) => a
            .blocks
            .iter()
            .any(|b| matches!(b, rars::rar15_40::Block::End(_))),
        _ => true,
    }
}

fn is_volume(archive: &rars::Archive) -> bool {
    match archive {
        rars::Archive::Rar50Plus(a) => a.main.is_volume(),
        rars::Archive::Rar15To40(a) => a.main.is_volume(),
        _ => false,
    }
}

fn problem_for(name: &str, e: &rars::Error) -> Problem {
    match (e.kind(), e.root_cause()) {
        // Named .rar, but no RAR signature anywhere near the start.
        (_, rars::Error::UnsupportedSignature) => unreadable(name),
        (ErrorKind::PasswordRequired | ErrorKind::BadPassword, _)
        | (_, rars::Error::UnsupportedEncryption { .. }) => encrypted(name),
        (ErrorKind::UnsupportedFeature | ErrorKind::UnsupportedFormat, _)
        | (_, rars::Error::Rar50DictionaryLimitExceeded { .. }) => unsupported(name),
        _ => unreadable(name),
    }
}

fn too_many(name: &str, limits: &IntakeLimits) -> Problem {
    Problem::error(
        "archive.too_large",
        format!(
            "压缩包“{name}”内文件过多（超过 {} 个），未解压。请直接把文件作为附件发送。",
            limits.archive_max_entries
        ),
    )
}

fn volume(name: &str) -> Problem {
    Problem::error(
        "archive.unsupported",
        format!("压缩包“{name}”是分卷压缩包中的一卷，系统无法单独解压。请不要分卷，重新压缩成一个文件后发送，或直接把文件作为附件发送。"),
    )
}

#[cfg(test)]
mod tests {
    use super::super::{unpack, Budget};
    use super::{Sink, Writer};
    use crate::intake::sniff::FileKind;
    use crate::intake::IntakeLimits;
    use std::cell::RefCell;
    use std::rc::Rc;

    fn vint(mut n: u64) -> Vec<u8> {
        let mut out = Vec::new();
        loop {
            let b = (n & 0x7F) as u8;
            n >>= 7;
            if n == 0 {
                out.push(b);
                return out;
            }
            out.push(b | 0x80);
        }
    }

    fn block(body: &[u8]) -> Vec<u8> {
        let mut sized = vint(body.len() as u64);
        sized.extend_from_slice(body);
        let mut out = crc32fast::hash(&sized).to_le_bytes().to_vec();
        out.extend_from_slice(&sized);
        out
    }

    /// A RAR5 archive of stored files, each `(name, data, declared size)`; the CRC32 is that
    /// of the data.
    pub(crate) fn rar5_stored(files: &[(&str, &[u8], u64)]) -> Vec<u8> {
        let mut out = b"Rar!\x1A\x07\x01\x00".to_vec();
        out.extend(block(&[1, 0, 0]));
        for (name, data, declared) in files {
            let mut body = vec![2, 2]; // file header, data area present
            body.extend(vint(data.len() as u64));
            body.extend(vint(0x04)); // CRC32 present
            body.extend(vint(*declared));
            body.extend(vint(0x20));
            body.extend(crc32fast::hash(data).to_le_bytes());
            body.extend([0, 0]); // stored, Windows
            body.extend(vint(name.len() as u64));
            body.extend(name.as_bytes());
            out.extend(block(&body));
            out.extend_from_slice(data);
        }
        out.extend(block(&[5, 0, 0]));
        out
    }

    fn run(bytes: &[u8], limits: &IntakeLimits) -> super::super::Unpacked {
        unpack(
            "材料.rar",
            FileKind::Rar,
            bytes,
            limits,
            &mut Budget::new(limits),
        )
    }

    #[test]
    fn stored_roundtrip() {
        let r = rar5_stored(&[("a/统计表.xlsx", b"abc", 3), ("b.txt", b"", 0)]);
        let u = run(&r, &IntakeLimits::default());
        assert!(u.problems.is_empty(), "{:?}", u.problems);
        let got: Vec<_> = u
            .members
            .iter()
            .map(|m| (m.name.clone().unwrap(), m.bytes.clone()))
            .collect();
        assert_eq!(
            got,
            [
                ("统计表.xlsx".to_string(), b"abc".to_vec()),
                ("b.txt".to_string(), Vec::new())
            ]
        );
    }

    #[test]
    fn lying_sizes_are_enforced_while_reading() {
        // Declares 1 byte, stores 8 KiB: the declared check passes. `rars` itself refuses a
        // stored member whose sizes disagree, so it is reported as damaged and nothing is
        // handed out.
        let data = vec![7u8; 8192];
        let r = rar5_stored(&[("a.bin", &data, 1)]);
        let limits = IntakeLimits {
            archive_max_expanded: 4096,
            archive_max_ratio: 1_000_000,
            ..Default::default()
        };
        let u = run(&r, &limits);
        assert!(u.members.is_empty());
        let codes: Vec<_> = u.problems.iter().map(|p| p.code.as_str()).collect();
        assert_eq!(codes, ["file.unreadable"]);
    }

    #[test]
    fn the_writer_stops_at_the_allowance() {
        // Whatever a decoder produces beyond what was declared goes through this writer; it
        // refuses the first byte past the allowance and marks the archive as over the limit.
        use std::io::Write;
        let sink = Rc::new(RefCell::new(Sink {
            left: 10,
            current: Some((Some("a".into()), Vec::new())),
            ..Sink::default()
        }));
        let mut w = Writer(Rc::clone(&sink));
        w.write_all(&[1; 6]).unwrap();
        assert!(w.write_all(&[1; 5]).is_err());
        let s = sink.borrow();
        assert!(s.overflow);
        assert_eq!(s.written, 6);
        assert!(s.done.is_empty());
    }
}
