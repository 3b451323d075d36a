//! Outlook's `winmail.dat` (`application/ms-tnef`, MS-OXTNEF): when Outlook sends in "rich
//! text" format it wraps every attachment in one TNEF stream, and the unit's 统计表.xlsx and
//! 总结.docx reach us as a single unknown file. This unpacks it like an archive.
//!
//! The stream is the signature 0x223E9F78, a 2-byte key, then attributes: level (1 message,
//! 2 attachment), id (u32: low 16 bits the attribute, high 16 its type), length (u32), data,
//! a 2-byte checksum. An attachment begins with `attAttachRenddata`; its bytes are in
//! `attAttachData`, its name in `attAttachTitle` (in the stream's code page, often cut to 8.3)
//! and, better, in the MAPI property `PR_ATTACH_LONG_FILENAME` inside `attAttachment`.
//!
//! Hand-written and bounded: on crates.io, `tnef` 0.1 is a bare attribute reader that leaves
//! the MAPI properties (so the long file name) unread, and `ytnef` binds the C libytnef.
//! Every length is checked against what is left before anything is read, nothing is allocated
//! from a count the stream claims, and the attachments share the archive `Budget`. Checksums are
//! not enforced (some writers get them wrong; the lengths are what keeps us safe).

use super::{precheck, Budget, Member, Unpacked};
use crate::intake::names::{clean_name, decode_guess};
use crate::intake::IntakeLimits;
use crate::problem::Problem;
use encoding_rs::Encoding;

use crate::intake::sniff::TNEF_SIGNATURE as SIGNATURE;

const LVL_ATTACHMENT: u8 = 2;

// Attribute ids, low 16 bits (the high 16 are the type, which some writers get wrong).
const ATT_ATTACH_DATA: u16 = 0x800F;
const ATT_ATTACH_TITLE: u16 = 0x8010;
const ATT_ATTACH_RENDDATA: u16 = 0x9002;
const ATT_ATTACHMENT: u16 = 0x9005;
const ATT_OEM_CODEPAGE: u16 = 0x9007;

// MAPI property ids and types.
const PR_DISPLAY_NAME: u16 = 0x3001;
const PR_ATTACH_DATA: u16 = 0x3701;
const PR_ATTACH_FILENAME: u16 = 0x3704;
const PR_ATTACH_METHOD: u16 = 0x3705;
const PR_ATTACH_LONG_FILENAME: u16 = 0x3707;
const PT_LONG: u16 = 0x0003;
const PT_OBJECT: u16 = 0x000D;
const PT_STRING8: u16 = 0x001E;
const PT_UNICODE: u16 = 0x001F;
const PT_BINARY: u16 = 0x0102;
const MV_FLAG: u16 = 0x1000;
/// `PR_ATTACH_METHOD` of an attached Outlook message, which carries no `attAttachData`.
const ATTACH_EMBEDDED_MSG: u32 = 5;

/// Whether a file is worth handing to `unpack` although its content is not recognisably TNEF:
/// a corrupt `winmail.dat` is then reported instead of kept as an unknown file.
pub(crate) fn claims_tnef(name: &str, declared_type: Option<&str>) -> bool {
    name.eq_ignore_ascii_case("winmail.dat")
        || declared_type
            .is_some_and(|t| matches!(t, "application/ms-tnef" | "application/vnd.ms-tnef"))
}

pub(crate) fn unpack(
    name: &str,
    bytes: &[u8],
    limits: &IntakeLimits,
    budget: &mut Budget,
    out: &mut Unpacked,
) {
    let stream = read_stream(bytes);
    if stream.corrupt {
        out.problems.push(unreadable(name));
    }
    let mut found = Vec::new();
    for a in &stream.attachments {
        let inner = a.name(bytes, stream.codepage);
        match a.data.or(a.props.data) {
            Some(range) => found.push((inner, range)),
            // A truncated stream leaves its last attachment without data: already reported.
            None if stream.corrupt => {}
            None if a.props.method == Some(ATTACH_EMBEDDED_MSG) || a.props.object => {
                out.problems.push(Problem::error(
                    "archive.unsupported",
                    format!(
                        "附件“{name}”（Outlook 的 winmail.dat）中的“{}”是内嵌的邮件或对象，系统无法提取。请把它另存为文件后作为附件发送。",
                        inner.as_deref().unwrap_or("附件"),
                    ),
                ))
            }
            // Attributes without content (a rendering hint alone): nothing was sent.
            None => {}
        }
    }
    let declared: u64 = found.iter().map(|(_, r)| (r.1 - r.0) as u64).sum();
    // The same entry and size limits as every archive (TNEF stores, so the ratio never binds).
    if let Some(p) = precheck(
        name,
        bytes.len() as u64,
        found.len(),
        declared,
        limits,
        budget,
    ) {
        out.problems.push(p);
        return;
    }
    for (member, (start, end)) in found {
        budget.bytes -= (end - start) as u64;
        budget.entries -= 1;
        out.members.push(Member {
            name: member,
            bytes: bytes[start..end].to_vec(),
        });
    }
}

fn unreadable(name: &str) -> Problem {
    Problem::error(
        "file.unreadable",
        format!(
            "附件“{name}”（Outlook 的 winmail.dat 打包格式）已损坏，无法取出其中的文件。请在 Outlook 中把邮件格式改为 HTML 或纯文本后重新发送，或把文件压缩成 zip 后发送。"
        ),
    )
}

/// Byte range of a value inside the whole stream, so nothing is copied before the budget says so.
type Range = (usize, usize);

#[derive(Default)]
struct Stream {
    /// The code page of 8-bit strings (`attOemCodepage`), e.g. 936 on Chinese Windows.
    codepage: Option<u32>,
    attachments: Vec<Attachment>,
    /// Truncated, a length running past the end, or not TNEF at all.
    corrupt: bool,
}

#[derive(Default)]
struct Attachment {
    title: Option<Range>,
    data: Option<Range>,
    props: Props,
}

#[derive(Default)]
struct Props {
    long_filename: Option<Text>,
    filename: Option<Text>,
    display_name: Option<Text>,
    method: Option<u32>,
    /// `PR_ATTACH_DATA_BIN`, for writers that put the bytes only there.
    data: Option<Range>,
    /// `PR_ATTACH_DATA_OBJ`: an embedded message or OLE object.
    object: bool,
}

#[derive(Clone, Copy)]
enum Text {
    Ansi(Range),
    Unicode(Range),
}

/// A cursor that never reads past its end: every read is `None` instead.
struct Reader<'a> {
    b: &'a [u8],
    pos: usize,
    /// Where `b` starts inside the whole stream, for ranges.
    base: usize,
}

impl<'a> Reader<'a> {
    fn left(&self) -> usize {
        self.b.len() - self.pos
    }
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if n > self.left() {
            return None;
        }
        let s = &self.b[self.pos..self.pos + n];
        self.pos += n;
        Some(s)
    }
    fn range(&mut self, n: usize) -> Option<Range> {
        let start = self.base + self.pos;
        self.take(n)?;
        Some((start, start + n))
    }
    fn u8(&mut self) -> Option<u8> {
        self.take(1).map(|s| s[0])
    }
    fn u16(&mut self) -> Option<u16> {
        self.take(2).map(|s| u16::from_le_bytes([s[0], s[1]]))
    }
    fn u32(&mut self) -> Option<u32> {
        self.take(4)
            .map(|s| u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
    }
    /// Values in a property block are padded to 4 bytes; the last one may lack its padding.
    fn pad4(&mut self, n: usize) {
        let pad = (4 - n % 4) % 4;
        self.pos += pad.min(self.left());
    }
}

fn read_stream(bytes: &[u8]) -> Stream {
    let mut s = Stream::default();
    let mut r = Reader {
        b: bytes,
        pos: 0,
        base: 0,
    };
    if r.take(4) != Some(&SIGNATURE[..]) || r.u16().is_none() {
        s.corrupt = true;
        return s;
    }
    // Each attribute takes at least 11 bytes, so this loop is bounded by the input.
    while r.left() > 0 {
        let start = r.pos;
        let Some((level, id, data)) = attribute(&mut r) else {
            // Zero bytes where an attribute would start (level 0 is none) are padding some
            // gateways add, not damage.
            s.corrupt = bytes[start..].iter().any(|&b| b != 0);
            break;
        };
        let value = |r: &Range| &bytes[r.0..r.1];
        match (id & 0xFFFF) as u16 {
            ATT_OEM_CODEPAGE => {
                let v = value(&data);
                if v.len() >= 4 {
                    s.codepage = Some(u32::from_le_bytes([v[0], v[1], v[2], v[3]]));
                }
            }
            ATT_ATTACH_RENDDATA => s.attachments.push(Attachment::default()),
            _ if level != LVL_ATTACHMENT => {}
            ATT_ATTACH_TITLE => current(&mut s.attachments).title = Some(data),
            ATT_ATTACH_DATA => {
                current(&mut s.attachments).data = Some(data);
            }
            ATT_ATTACHMENT => {
                let mut props = Reader {
                    b: value(&data),
                    pos: 0,
                    base: data.0,
                };
                // A broken property block loses names, not the attachment's bytes.
                read_props(&mut props, &mut current(&mut s.attachments).props);
            }
            _ => {}
        }
    }
    s
}

/// The attachment the attributes now describe; one is started if the writer skipped
/// `attAttachRenddata`.
fn current(list: &mut Vec<Attachment>) -> &mut Attachment {
    if list.is_empty() {
        list.push(Attachment::default());
    }
    let last = list.len() - 1;
    &mut list[last]
}

fn attribute(r: &mut Reader<'_>) -> Option<(u8, u32, Range)> {
    let level = r.u8()?;
    let id = r.u32()?;
    let len = r.u32()? as usize;
    let data = r.range(len)?;
    r.u16()?; // checksum
    Some((level, id, data))
}

/// Reads the properties that name an attachment; stops at the first thing it cannot read.
fn read_props(r: &mut Reader<'_>, p: &mut Props) -> Option<()> {
    let count = r.u32()?;
    for _ in 0..count {
        // Every property takes at least 4 bytes: a lying count ends at the end of the block.
        let ptype = r.u16()?;
        let pid = r.u16()?;
        if pid >= 0x8000 {
            // Named property: GUID, kind, then an id or a UTF-16 name.
            r.take(16)?;
            if r.u32()? == 0 {
                r.u32()?;
            } else {
                let n = r.u32()? as usize;
                r.take(n)?;
                r.pad4(n);
            }
        }
        let multi = ptype & MV_FLAG != 0;
        let base = ptype & !MV_FLAG;
        let variable = matches!(base, PT_STRING8 | PT_UNICODE | PT_BINARY | PT_OBJECT);
        let values = if multi || variable { r.u32()? } else { 1 };
        for i in 0..values {
            if variable {
                let n = r.u32()? as usize;
                let range = r.range(n)?;
                r.pad4(n);
                if i > 0 || multi {
                    continue;
                }
                let text = match base {
                    PT_STRING8 => Some(Text::Ansi(range)),
                    PT_UNICODE => Some(Text::Unicode(range)),
                    _ => None,
                };
                match (pid, base) {
                    (PR_ATTACH_LONG_FILENAME, _) => p.long_filename = text.or(p.long_filename),
                    (PR_ATTACH_FILENAME, _) => p.filename = text.or(p.filename),
                    (PR_DISPLAY_NAME, _) => p.display_name = text.or(p.display_name),
                    (PR_ATTACH_DATA, PT_BINARY) => p.data = Some(range),
                    (PR_ATTACH_DATA, PT_OBJECT) => p.object = true,
                    _ => {}
                }
            } else {
                let size = fixed_size(base)?;
                let v = r.take(size)?;
                if pid == PR_ATTACH_METHOD && base == PT_LONG && !multi {
                    p.method = Some(u32::from_le_bytes([v[0], v[1], v[2], v[3]]));
                }
            }
        }
    }
    Some(())
}

/// Bytes a fixed-size value takes in a property block, padding included.
fn fixed_size(ptype: u16) -> Option<usize> {
    Some(match ptype {
        // null, short, long, float, error, boolean
        0x0001 | 0x0002 | 0x0003 | 0x0004 | 0x000A | 0x000B => 4,
        // double, currency, apptime, int64, systime
        0x0005 | 0x0006 | 0x0007 | 0x0014 | 0x0040 => 8,
        // clsid
        0x0048 => 16,
        _ => return None,
    })
}

impl Attachment {
    /// The long file name, else the title (often 8.3), else the MAPI file or display name.
    fn name(&self, stream: &[u8], codepage: Option<u32>) -> Option<String> {
        let p = &self.props;
        [
            p.long_filename,
            self.title.map(Text::Ansi),
            p.filename,
            p.display_name,
        ]
        .into_iter()
        .flatten()
        .find_map(|t| clean_name(&t.decode(stream, codepage)))
    }
}

impl Text {
    /// `stream` is the one the range was read from, so the range is in bounds.
    fn decode(self, stream: &[u8], codepage: Option<u32>) -> String {
        match self {
            Text::Ansi((a, z)) => ansi(&stream[a..z], codepage),
            Text::Unicode((a, z)) => {
                let units: Vec<u16> = stream[a..z]
                    .chunks_exact(2)
                    .map(|c| u16::from_le_bytes([c[0], c[1]]))
                    .collect();
                String::from_utf16_lossy(&units)
                    .trim_end_matches('\0')
                    .to_string()
            }
        }
    }
}

fn ansi(b: &[u8], codepage: Option<u32>) -> String {
    let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
    let b = &b[..end];
    let encoding: Option<&'static Encoding> = codepage
        .and_then(|cp| u16::try_from(cp).ok())
        .and_then(codepage::to_encoding)
        // GBK text labelled 936 (or 20936) decodes the same as GB18030, its superset.
        .map(|e| {
            if e == encoding_rs::GBK {
                encoding_rs::GB18030
            } else {
                e
            }
        });
    match encoding {
        Some(e) => e.decode_without_bom_handling(b).0.into_owned(),
        None => decode_guess(b),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::intake::sniff::{sniff, FileKind};

    /// Writes TNEF streams the way Outlook does: version and code page first, then per
    /// attachment renddata, title, data and the MAPI properties.
    pub(crate) struct Tnef {
        pub out: Vec<u8>,
    }

    pub(crate) struct Att<'a> {
        /// Written as `attAttachTitle`, in the stream's code page.
        pub title: Option<Vec<u8>>,
        pub data: Option<&'a [u8]>,
        /// `PR_ATTACH_LONG_FILENAME` as PT_UNICODE.
        pub long_name: Option<&'a str>,
        pub extra_props: Vec<(u16, u16, Vec<u8>)>,
    }

    impl Tnef {
        pub fn new(codepage: u32) -> Tnef {
            let mut t = Tnef {
                out: SIGNATURE.to_vec(),
            };
            t.out.extend_from_slice(&0x1234u16.to_le_bytes());
            t.attr(1, 0x0008_9006, &0x0001_0000u32.to_le_bytes());
            let mut cp = codepage.to_le_bytes().to_vec();
            cp.extend_from_slice(&0u32.to_le_bytes());
            t.attr(1, 0x0006_9007, &cp);
            t
        }

        pub fn attr(&mut self, level: u8, id: u32, data: &[u8]) -> &mut Tnef {
            self.out.push(level);
            self.out.extend_from_slice(&id.to_le_bytes());
            self.out
                .extend_from_slice(&(data.len() as u32).to_le_bytes());
            self.out.extend_from_slice(data);
            let sum = data.iter().fold(0u16, |s, &b| s.wrapping_add(b as u16));
            self.out.extend_from_slice(&sum.to_le_bytes());
            self
        }

        pub fn attach(&mut self, a: Att<'_>) -> &mut Tnef {
            self.attr(
                2,
                0x0006_9002,
                &[1, 0, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0, 0, 0, 0, 0, 0],
            );
            if let Some(t) = &a.title {
                let mut t = t.clone();
                t.push(0);
                self.attr(2, 0x0001_8010, &t);
            }
            if let Some(d) = a.data {
                self.attr(2, 0x0006_800F, d);
            }
            let mut props: Vec<(u16, u16, Vec<u8>)> = Vec::new();
            if let Some(n) = a.long_name {
                props.push((PT_UNICODE, PR_ATTACH_LONG_FILENAME, utf16z(n)));
            }
            props.extend(a.extra_props);
            if !props.is_empty() {
                self.attr(2, 0x0006_9005, &mapi(&props));
            }
            self
        }
    }

    pub(crate) fn utf16z(s: &str) -> Vec<u8> {
        s.encode_utf16()
            .chain([0])
            .flat_map(|u| u.to_le_bytes())
            .collect()
    }

    /// A MAPI property block; variable-length values get their count, length and padding.
    pub(crate) fn mapi(props: &[(u16, u16, Vec<u8>)]) -> Vec<u8> {
        let mut b = (props.len() as u32).to_le_bytes().to_vec();
        for (ptype, pid, v) in props {
            b.extend_from_slice(&ptype.to_le_bytes());
            b.extend_from_slice(&pid.to_le_bytes());
            if matches!(*ptype, PT_STRING8 | PT_UNICODE | PT_BINARY | PT_OBJECT) {
                b.extend_from_slice(&1u32.to_le_bytes());
                b.extend_from_slice(&(v.len() as u32).to_le_bytes());
                b.extend_from_slice(v);
                b.resize(b.len() + (4 - v.len() % 4) % 4, 0);
            } else {
                b.extend_from_slice(v);
            }
        }
        b
    }

    fn gbk(s: &str) -> Vec<u8> {
        encoding_rs::GB18030.encode(s).0.into_owned()
    }

    fn att<'a>(title: Option<Vec<u8>>, data: &'a [u8], long_name: Option<&'a str>) -> Att<'a> {
        Att {
            title,
            data: Some(data),
            long_name,
            extra_props: Vec::new(),
        }
    }

    fn run_with(bytes: &[u8], limits: &IntakeLimits) -> Unpacked {
        let mut out = Unpacked::default();
        unpack(
            "winmail.dat",
            bytes,
            limits,
            &mut Budget::new(limits),
            &mut out,
        );
        out
    }

    fn run(bytes: &[u8]) -> Unpacked {
        run_with(bytes, &IntakeLimits::default())
    }

    fn names(u: &Unpacked) -> Vec<String> {
        u.members
            .iter()
            .map(|m| m.name.clone().unwrap_or_default())
            .collect()
    }

    fn two_files() -> Vec<u8> {
        let mut t = Tnef::new(936);
        t.attach(att(Some(gbk("统计表.xlsx")), b"xlsx-bytes", None))
            .attach(att(
                Some(b"~1.DOC".to_vec()),
                b"docx-bytes",
                Some("总结.docx"),
            ));
        t.out
    }

    #[test]
    fn attachments_come_out_with_their_names() {
        let t = two_files();
        assert_eq!(sniff(&t), FileKind::Tnef);
        let u = run(&t);
        assert!(u.problems.is_empty(), "{:?}", u.problems);
        // GBK title (code page 936); the long file name beats the 8.3 title.
        assert_eq!(names(&u), ["统计表.xlsx", "总结.docx"]);
        assert_eq!(u.members[0].bytes, b"xlsx-bytes");
        assert_eq!(u.members[1].bytes, b"docx-bytes");
    }

    #[test]
    fn names_from_string8_props_and_unknown_code_pages() {
        let mut t = Tnef::new(936);
        t.attach(Att {
            title: None,
            data: Some(b"a"),
            long_name: None,
            extra_props: vec![
                // A named property before it, as Outlook writes them.
                (PT_LONG, PR_ATTACH_METHOD, 1u32.to_le_bytes().to_vec()),
                (PT_STRING8, PR_ATTACH_LONG_FILENAME, {
                    let mut v = gbk("活动周总结报告.docx");
                    v.push(0);
                    v
                }),
            ],
        });
        assert_eq!(names(&run(&t.out)), ["活动周总结报告.docx"]);

        // No code page we know: UTF-8 when it is UTF-8, else GB18030.
        let mut t = Tnef::new(0xFFFF_FFFF);
        t.attach(att(Some(gbk("统计表.xlsx")), b"a", None))
            .attach(att(Some("视频.mp4".as_bytes().to_vec()), b"b", None))
            .attach(att(None, b"c", None));
        let u = run(&t.out);
        assert_eq!(names(&u)[..2], ["统计表.xlsx", "视频.mp4"]);
        assert_eq!(u.members[2].name, None);
        // Paths in names are dropped.
        let mut t = Tnef::new(1252);
        t.attach(att(None, b"a", Some("C:\\Users\\x\\..\\报告.pdf")));
        assert_eq!(names(&run(&t.out)), ["报告.pdf"]);
    }

    #[test]
    fn rtf_only_body_gives_nothing_and_no_problem() {
        let mut t = Tnef::new(936);
        t.attr(1, 0x0007_8008, b"IPM.Microsoft Mail.Note\0");
        // attMAPIProps with PR_RTF_COMPRESSED (0x1009, binary).
        let props = mapi(&[(PT_BINARY, 0x1009, b"LZFu-compressed-rtf".to_vec())]);
        t.attr(1, 0x0006_9003, &props);
        let u = run(&t.out);
        assert!(u.members.is_empty());
        assert!(u.problems.is_empty(), "{:?}", u.problems);
    }

    #[test]
    fn data_only_in_the_properties_and_embedded_messages() {
        let mut t = Tnef::new(936);
        t.attach(Att {
            title: Some(gbk("统计表.xlsx")),
            data: None,
            long_name: None,
            extra_props: vec![(PT_BINARY, PR_ATTACH_DATA, b"from-props".to_vec())],
        });
        t.attach(Att {
            title: Some(gbk("转发的邮件")),
            data: None,
            long_name: None,
            extra_props: vec![
                (PT_LONG, PR_ATTACH_METHOD, 5u32.to_le_bytes().to_vec()),
                (PT_OBJECT, PR_ATTACH_DATA, vec![0; 20]),
            ],
        });
        let u = run(&t.out);
        assert_eq!(names(&u), ["统计表.xlsx"]);
        assert_eq!(u.members[0].bytes, b"from-props");
        assert_eq!(u.problems.len(), 1, "{:?}", u.problems);
        assert_eq!(u.problems[0].code, "archive.unsupported");
        assert!(u.problems[0].message.contains("转发的邮件"));
    }

    #[test]
    fn not_tnef_or_truncated_is_unreadable() {
        let u = run(b"this is not a winmail.dat");
        assert!(u.members.is_empty());
        assert_eq!(u.problems[0].code, "file.unreadable");
        assert!(u.problems[0].message.contains("winmail.dat"));
        assert_eq!(run(&SIGNATURE).problems[0].code, "file.unreadable");
        // Trailing zeros after the last attribute are padding.
        let mut padded = two_files();
        padded.extend_from_slice(&[0; 7]);
        let u = run(&padded);
        assert!(u.problems.is_empty(), "{:?}", u.problems);
        assert_eq!(u.members.len(), 2);

        let t = two_files();
        let full = run(&t);
        for cut in 0..t.len() {
            let u = run(&t[..cut]);
            // Whatever comes out of a prefix is a prefix of what the whole gives, byte for byte
            // (a name may still be the 8.3 title when the long name was cut off).
            assert!(u.members.len() <= full.members.len());
            for (a, b) in u.members.iter().zip(&full.members) {
                assert_eq!(a.bytes, b.bytes, "cut at {cut}");
            }
            assert!(u.problems.len() <= 1, "cut at {cut}: {:?}", u.problems);
        }
        // Cut inside the second attachment's data: the first survives, the cut is reported.
        let at = t.windows(10).position(|w| w == b"docx-bytes").unwrap() + 4;
        let u = run(&t[..at]);
        assert_eq!(names(&u), ["统计表.xlsx"]);
        assert_eq!(u.problems[0].code, "file.unreadable");
    }

    #[test]
    fn lying_lengths_and_counts() {
        // attAttachData claiming 4 GiB.
        let mut t = Tnef::new(936);
        t.attr(2, 0x0006_9002, &[0; 14]);
        let mut b = t.out.clone();
        b.push(2);
        b.extend_from_slice(&0x0006_800Fu32.to_le_bytes());
        b.extend_from_slice(&0xFFFF_FFF0u32.to_le_bytes());
        b.extend_from_slice(b"short");
        let u = run(&b);
        assert!(u.members.is_empty());
        assert_eq!(u.problems[0].code, "file.unreadable");

        // A property block claiming 4 billion properties, and a string claiming 4 GiB: the
        // names are lost, the bytes are not.
        let mut t = Tnef::new(936);
        t.attach(att(Some(gbk("统计表.xlsx")), b"data", None));
        t.attr(2, 0x0006_9005, &u32::MAX.to_le_bytes());
        let mut lying = mapi(&[(PT_UNICODE, PR_ATTACH_LONG_FILENAME, utf16z("x.doc"))]);
        lying[12..16].copy_from_slice(&u32::MAX.to_le_bytes());
        t.attr(2, 0x0006_9005, &lying);
        // A value count in the billions for a multi-valued long.
        let mut many = 1u32.to_le_bytes().to_vec();
        many.extend_from_slice(&(PT_LONG | MV_FLAG).to_le_bytes());
        many.extend_from_slice(&0x6000u16.to_le_bytes());
        many.extend_from_slice(&u32::MAX.to_le_bytes());
        t.attr(2, 0x0006_9005, &many);
        let u = run(&t.out);
        assert!(u.problems.is_empty(), "{:?}", u.problems);
        assert_eq!(names(&u), ["统计表.xlsx"]);
        assert_eq!(u.members[0].bytes, b"data");
    }

    #[test]
    fn archive_limits_apply() {
        let mut t = Tnef::new(936);
        for i in 0..3 {
            t.attach(att(
                Some(format!("{i}.txt").into_bytes()),
                &[b'x'; 100],
                None,
            ));
        }
        let u = run_with(
            &t.out,
            &IntakeLimits {
                archive_max_entries: 2,
                ..Default::default()
            },
        );
        assert!(u.members.is_empty());
        assert_eq!(u.problems[0].code, "archive.too_large");
        let u = run_with(
            &t.out,
            &IntakeLimits {
                archive_max_expanded: 250,
                ..Default::default()
            },
        );
        assert!(u.members.is_empty());
        assert_eq!(u.problems[0].code, "archive.too_large");
        // The budget is shared with what came before.
        let limits = IntakeLimits::default();
        let mut budget = Budget::new(&limits);
        budget.entries = 2;
        let mut out = Unpacked::default();
        unpack("winmail.dat", &t.out, &limits, &mut budget, &mut out);
        assert_eq!(out.problems[0].code, "archive.too_large");
        let mut budget = Budget::new(&limits);
        let mut out = Unpacked::default();
        unpack("winmail.dat", &t.out, &limits, &mut budget, &mut out);
        assert_eq!(out.members.len(), 3);
        assert_eq!(budget.entries, limits.archive_max_entries - 3);
        assert_eq!(budget.bytes, limits.archive_max_expanded - 300);
    }

    #[test]
    fn mutated_streams_never_panic() {
        let base = two_files();
        let mut seed = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for _ in 0..3000 {
            let mut b = base.clone();
            for _ in 0..(next() % 6 + 1) {
                let i = (next() as usize) % b.len();
                b[i] = next() as u8;
            }
            if next() % 4 == 0 {
                b.truncate((next() as usize) % b.len());
            }
            // Directly, not through archive::unpack's catch_unwind: a panic fails the test.
            let _ = run(&b);
        }
    }
}
