//! What a file is, decided by its bytes (contract §6). Units rename files freely (`视频.mp4` that
//! is a `.mov`, `统计表.xls` that is an xlsx), so the name is only a fallback the caller may use.
//!
//! Everything here reads bounded prefixes and bounded directory listings of the content; nothing
//! allocates in proportion to a size a file declares about itself.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FileKind {
    Xlsx,
    /// OLE with a Workbook/Book stream: Excel 97–2003 and WPS `.et`. Also a file named so whose
    /// compound file does not open ([`damaged_office`]); likewise for the other office kinds.
    Xls,
    Ods,
    Docx,
    /// OLE with a WordDocument stream: Word 97–2003 and WPS `.wps`.
    Doc,
    Odt,
    Pdf,
    Txt,
    Mp4,
    Mov,
    M4v,
    #[serde(rename = "3gp")]
    ThreeGp,
    Mkv,
    Webm,
    Avi,
    /// ASF container: `.wmv`, `.asf`.
    Asf,
    Flv,
    Mpg,
    Ts,
    Jpg,
    Png,
    Gif,
    Bmp,
    Heic,
    /// A zip that is not an OOXML or ODF document.
    Zip,
    #[serde(rename = "7z")]
    SevenZ,
    Rar,
    /// Outlook's `winmail.dat` (`application/ms-tnef`): attachments wrapped in TNEF.
    Tnef,
    Eml,
    Empty,
    Unknown,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FileFamily {
    Spreadsheet,
    Document,
    Video,
    Image,
    Archive,
    Message,
    Other,
}

impl FileKind {
    /// The same string serde writes.
    pub fn as_str(self) -> &'static str {
        use FileKind::*;
        match self {
            Xlsx => "xlsx",
            Xls => "xls",
            Ods => "ods",
            Docx => "docx",
            Doc => "doc",
            Odt => "odt",
            Pdf => "pdf",
            Txt => "txt",
            Mp4 => "mp4",
            Mov => "mov",
            M4v => "m4v",
            ThreeGp => "3gp",
            Mkv => "mkv",
            Webm => "webm",
            Avi => "avi",
            Asf => "asf",
            Flv => "flv",
            Mpg => "mpg",
            Ts => "ts",
            Jpg => "jpg",
            Png => "png",
            Gif => "gif",
            Bmp => "bmp",
            Heic => "heic",
            Zip => "zip",
            SevenZ => "7z",
            Rar => "rar",
            Tnef => "tnef",
            Eml => "eml",
            Empty => "empty",
            Unknown => "unknown",
        }
    }

    pub fn family(self) -> FileFamily {
        use FileKind::*;
        match self {
            Xlsx | Xls | Ods => FileFamily::Spreadsheet,
            Docx | Doc | Odt | Pdf | Txt => FileFamily::Document,
            Mp4 | Mov | M4v | ThreeGp | Mkv | Webm | Avi | Asf | Flv | Mpg | Ts => {
                FileFamily::Video
            }
            Jpg | Png | Gif | Bmp | Heic => FileFamily::Image,
            Zip | SevenZ | Rar | Tnef => FileFamily::Archive,
            Eml => FileFamily::Message,
            Empty | Unknown => FileFamily::Other,
        }
    }
}

impl std::fmt::Display for FileKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The magic number a winmail.dat (TNEF) stream starts with, little-endian.
pub(crate) const TNEF_SIGNATURE: [u8; 4] = 0x223E_9F78u32.to_le_bytes();

/// The kind a file name's extension claims (case-insensitive).
pub fn kind_from_name(name: &str) -> Option<FileKind> {
    use FileKind::*;
    let (_, ext) = name.rsplit_once('.')?;
    Some(match ext.trim().to_ascii_lowercase().as_str() {
        "xlsx" | "xlsm" => Xlsx,
        "xls" | "et" => Xls,
        "ods" => Ods,
        "docx" | "docm" => Docx,
        "doc" | "wps" => Doc,
        "odt" => Odt,
        "pdf" => Pdf,
        "txt" => Txt,
        "mp4" | "f4v" => Mp4,
        "mov" | "qt" => Mov,
        "m4v" => M4v,
        "3gp" | "3g2" => ThreeGp,
        "mkv" => Mkv,
        "webm" => Webm,
        "avi" => Avi,
        "wmv" | "asf" => Asf,
        "flv" => Flv,
        "mpg" | "mpeg" | "vob" => Mpg,
        "ts" | "mts" | "m2ts" => Ts,
        "jpg" | "jpeg" | "jfif" => Jpg,
        "png" => Png,
        "gif" => Gif,
        "bmp" => Bmp,
        "heic" | "heif" => Heic,
        "zip" => Zip,
        "7z" => SevenZ,
        "rar" => Rar,
        "eml" => Eml,
        _ => return None,
    })
}

/// The kind of a file by its content only.
pub fn sniff(b: &[u8]) -> FileKind {
    use FileKind::*;
    if b.is_empty() {
        return Empty;
    }
    if b.starts_with(b"PK\x03\x04") || b.starts_with(b"PK\x05\x06") || b.starts_with(b"PK\x07\x08")
    {
        return zip_kind(b);
    }
    if b.starts_with(&OLE_MAGIC) {
        return ole_kind(b);
    }
    if b.starts_with(b"7z\xBC\xAF\x27\x1C") {
        return SevenZ;
    }
    if b.starts_with(b"Rar!\x1A\x07") {
        return Rar;
    }
    if b.starts_with(&TNEF_SIGNATURE) {
        return Tnef;
    }
    if b.starts_with(b"\x89PNG\r\n\x1A\n") {
        return Png;
    }
    if b.starts_with(&[0xFF, 0xD8, 0xFF]) {
        return Jpg;
    }
    if b.starts_with(b"GIF87a") || b.starts_with(b"GIF89a") {
        return Gif;
    }
    if b.len() >= 26 && b.starts_with(b"BM") && b[6..10] == [0, 0, 0, 0] {
        return Bmp;
    }
    if b.len() >= 12 && &b[4..8] == b"ftyp" {
        return ftyp_kind(b);
    }
    if b.starts_with(&[0x1A, 0x45, 0xDF, 0xA3]) {
        return ebml_kind(b);
    }
    if b.len() >= 12 && b.starts_with(b"RIFF") && &b[8..12] == b"AVI " {
        return Avi;
    }
    if b.starts_with(&[
        0x30, 0x26, 0xB2, 0x75, 0x8E, 0x66, 0xCF, 0x11, 0xA6, 0xD9, 0x00, 0xAA, 0x00, 0x62, 0xCE,
        0x6C,
    ]) {
        return Asf;
    }
    if b.starts_with(b"FLV\x01") {
        return Flv;
    }
    if b.starts_with(&[0, 0, 1, 0xBA]) || b.starts_with(&[0, 0, 1, 0xB3]) {
        return Mpg;
    }
    if is_ts(b, 0, 188) || is_ts(b, 4, 192) {
        return Ts;
    }
    if b.len() >= 8
        && matches!(
            &b[4..8],
            b"moov" | b"mdat" | b"wide" | b"free" | b"skip" | b"pnot"
        )
    {
        return Mov;
    }
    if contains(head(b, 1024), b"%PDF-") {
        return Pdf;
    }
    if looks_like_mail(b) {
        return Eml;
    }
    if is_text(b) {
        return Txt;
    }
    Unknown
}

/// The office kind `name` claims, when the content starts like that kind's container but the
/// container does not open (contract §6): an xlsx, docx, ods or odt whose zip is cut short or
/// damaged, an xls, doc, et or wps whose compound file is. Such a file was almost always cut off
/// in sending; calling it a zip (and unpacking it) or a type mismatch would send the unit
/// after the wrong cause. `None` for everything else, including a damaged container whose
/// readable parts show another type (a docx named `.xlsx` stays a type mismatch) and a damaged
/// zip of other files, which stays an archive problem.
pub fn damaged_office(b: &[u8], name: &str) -> Option<FileKind> {
    use FileKind::*;
    let claimed = kind_from_name(name)?;
    match claimed {
        Xlsx | Docx | Ods | Odt => {
            (b.starts_with(b"PK\x03\x04") && !zip_opens(b) && zip_parts_fit(b, claimed))
                .then_some(claimed)
        }
        Xls | Doc => {
            if !b.starts_with(&OLE_MAGIC) {
                return None;
            }
            let shown = ole_kind(b);
            if matches!(shown, Xls | Doc) && shown != claimed {
                return None;
            }
            let streams: &[&str] = if claimed == Xls {
                &["Workbook", "Book"]
            } else {
                &["WordDocument"]
            };
            (!ole_opens(b, streams)).then_some(claimed)
        }
        _ => None,
    }
}

/// Whether the part names that can still be read from a damaged zip (from what is left of its
/// directory, else from the local headers up front) fit an OOXML or ODF document of the
/// claimed kind. No readable name at all fits: nothing says it is anything else.
fn zip_parts_fit(b: &[u8], claimed: FileKind) -> bool {
    use FileKind::*;
    // A damaged directory can yield garbage names; the local headers up front are a second
    // witness.
    let mut names = zip_names(b, MAX_LISTED);
    names.extend(local_names(b, MAX_LISTED));
    if names.is_empty() {
        return true;
    }
    let has = |n: &str| names.iter().any(|x| x.as_slice() == n.as_bytes());
    let prefix = |p: &str| names.iter().any(|x| x.starts_with(p.as_bytes()));
    match claimed {
        Xlsx | Docx => {
            let shown = if prefix("xl/") {
                Some(Xlsx)
            } else if prefix("word/") {
                Some(Docx)
            } else if prefix("ppt/") {
                Some(Unknown)
            } else {
                None
            };
            let ooxml = shown.is_some()
                || has("[Content_Types].xml")
                || prefix("_rels/")
                || prefix("docProps/")
                || prefix("customXml/");
            ooxml && shown.is_none_or(|k| k == claimed)
        }
        Ods | Odt => {
            let h = head(b, 200);
            let shown = if contains(h, b"application/vnd.oasis.opendocument.spreadsheet") {
                Some(Ods)
            } else if contains(h, b"application/vnd.oasis.opendocument.text") {
                Some(Odt)
            } else if contains(h, b"application/") {
                Some(Unknown)
            } else {
                None
            };
            let odf = has("mimetype")
                || prefix("META-INF/")
                || has("content.xml")
                || has("styles.xml")
                || has("meta.xml");
            odf && shown.is_none_or(|k| k == claimed)
        }
        _ => false,
    }
}

fn contains(h: &[u8], needle: &[u8]) -> bool {
    h.windows(needle.len()).any(|w| w == needle)
}

fn head(b: &[u8], n: usize) -> &[u8] {
    &b[..b.len().min(n)]
}

fn ftyp_kind(b: &[u8]) -> FileKind {
    use FileKind::*;
    let major = &b[8..12];
    match major {
        b"qt  " => Mov,
        b"M4V " | b"M4VH" | b"M4VP" => M4v,
        b"heic" | b"heix" | b"heim" | b"heis" | b"hevc" | b"hevx" | b"mif1" | b"msf1" => Heic,
        b"M4A " | b"M4B " | b"M4P " | b"avif" | b"avis" | b"crx " | b"jp2 " => Unknown,
        _ if major.starts_with(b"3gp")
            || major.starts_with(b"3g2")
            || major.starts_with(b"3ge") =>
        {
            ThreeGp
        }
        _ => Mp4,
    }
}

fn ebml_kind(b: &[u8]) -> FileKind {
    // DocType element (0x4282) sits in the EBML header, within the first few dozen bytes.
    let h = head(b, 128);
    if let Some(p) = h.windows(2).position(|w| w == [0x42, 0x82]) {
        let rest = &h[p + 2..];
        if rest.len() > 1 && rest[1..].starts_with(b"webm") {
            return FileKind::Webm;
        }
    }
    FileKind::Mkv
}

fn is_ts(b: &[u8], first: usize, stride: usize) -> bool {
    let packets = (b.len().saturating_sub(first)) / stride;
    if packets < 2 {
        return false;
    }
    (0..packets.min(8)).all(|i| b[first + i * stride] == 0x47)
}

fn looks_like_mail(b: &[u8]) -> bool {
    let h = head(b, 8192);
    if h.contains(&0) {
        return false;
    }
    let mut lines = h
        .split(|&c| c == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l));
    let Some(first) = lines.next() else {
        return false;
    };
    if !is_field_line(first) && !first.starts_with(b"From ") {
        return false;
    }
    let mut known = 0;
    for line in std::iter::once(first).chain(lines).take(200) {
        if line.is_empty() {
            break;
        }
        if line[0] == b' ' || line[0] == b'\t' {
            continue;
        }
        if !is_field_line(line) && !line.starts_with(b"From ") {
            return false;
        }
        let lower = line.to_ascii_lowercase();
        if [
            &b"from:"[..],
            b"date:",
            b"subject:",
            b"received:",
            b"message-id:",
            b"mime-version:",
            b"return-path:",
            b"to:",
        ]
        .iter()
        .any(|k| lower.starts_with(k))
        {
            known += 1;
        }
    }
    known >= 2
}

fn is_field_line(line: &[u8]) -> bool {
    match line.iter().position(|&c| c == b':') {
        Some(p) if p > 0 => line[..p]
            .iter()
            .all(|c| c.is_ascii_alphanumeric() || *c == b'-' || *c == b'_'),
        _ => false,
    }
}

/// Text: no NUL, no binary control bytes, valid UTF-8 or GB18030. Checked on a bounded prefix,
/// which is enough to tell text from binary without walking a 200 MB file.
fn is_text(b: &[u8]) -> bool {
    const LIMIT: usize = 4 << 20;
    let h = head(b, LIMIT);
    let h = h.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(h);
    if h.iter()
        .any(|&c| c < 0x20 && !matches!(c, b'\t' | b'\n' | b'\r' | 0x0C | 0x1A) || c == 0x7F)
    {
        return false;
    }
    match std::str::from_utf8(h) {
        Ok(_) => return true,
        // A multi-byte character cut by the prefix limit is still text.
        Err(e) if e.error_len().is_none() && b.len() > LIMIT => return true,
        Err(_) => {}
    }
    let mut dec = encoding_rs::GB18030.new_decoder_without_bom_handling();
    let mut out = String::with_capacity(4096);
    let mut src = h;
    loop {
        out.clear();
        let (res, read) = dec.decode_to_string_without_replacement(src, &mut out, b.len() <= LIMIT);
        src = &src[read..];
        match res {
            encoding_rs::DecoderResult::InputEmpty => return true,
            encoding_rs::DecoderResult::OutputFull => continue,
            encoding_rs::DecoderResult::Malformed(_, _) => return false,
        }
    }
}

// ---- zip: OOXML and ODF are zips told apart by their entries ----

const MAX_LISTED: usize = 5000;

fn zip_kind(b: &[u8]) -> FileKind {
    let names = zip_names(b, MAX_LISTED);
    let has = |n: &str| names.iter().any(|x| x.as_slice() == n.as_bytes());
    let prefix = |p: &str| names.iter().any(|x| x.starts_with(p.as_bytes()));
    if has("[Content_Types].xml") || has("xl/workbook.xml") || has("word/document.xml") {
        if prefix("xl/") {
            return FileKind::Xlsx;
        }
        if prefix("word/") {
            return FileKind::Docx;
        }
        // Other OOXML (pptx, ...): a document, not an archive to unpack.
        return FileKind::Unknown;
    }
    if has("mimetype") {
        // ODF stores `mimetype` first and uncompressed, so its text follows the first header.
        let h = head(b, 200);
        if contains(h, b"application/vnd.oasis.opendocument.spreadsheet") {
            return FileKind::Ods;
        }
        if contains(h, b"application/vnd.oasis.opendocument.text") {
            return FileKind::Odt;
        }
        if contains(h, b"application/vnd.") || contains(h, b"application/epub+zip") {
            return FileKind::Unknown;
        }
    }
    FileKind::Zip
}

fn u16le(b: &[u8], at: usize) -> Option<u64> {
    Some(u16::from_le_bytes(b.get(at..at + 2)?.try_into().ok()?) as u64)
}
fn u32le(b: &[u8], at: usize) -> Option<u64> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?) as u64)
}
fn u64le(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

/// The end of central directory record: (entry count, directory offset), zip64 aware.
pub(crate) fn zip_eocd(b: &[u8]) -> Option<(u64, u64)> {
    let from = b.len().saturating_sub(22 + 65535);
    let pos = (from..=b.len().saturating_sub(22))
        .rev()
        .find(|&p| b[p..].starts_with(b"PK\x05\x06"))?;
    let mut count = u16le(b, pos + 10)?;
    let mut offset = u32le(b, pos + 16)?;
    if (count == 0xFFFF || offset == 0xFFFF_FFFF)
        && pos >= 20
        && b[pos - 20..].starts_with(b"PK\x06\x07")
    {
        let z64 = u64le(b, pos - 20 + 8)? as usize;
        if b.get(z64..)?.starts_with(b"PK\x06\x06") {
            count = u64le(b, z64 + 32)?;
            offset = u64le(b, z64 + 48)?;
        }
    }
    Some((count, offset))
}

/// Up to `max` entry names, from the central directory, or from the local headers when the
/// central directory is missing (a truncated download).
pub(crate) fn zip_names(b: &[u8], max: usize) -> Vec<Vec<u8>> {
    let mut names = Vec::new();
    if let Some((count, offset)) = zip_eocd(b) {
        let mut p = offset as usize;
        for _ in 0..count.min(max as u64) {
            if !b.get(p..).is_some_and(|s| s.starts_with(b"PK\x01\x02")) {
                break;
            }
            let (Some(n), Some(e), Some(c)) =
                (u16le(b, p + 28), u16le(b, p + 30), u16le(b, p + 32))
            else {
                break;
            };
            match b.get(p + 46..p + 46 + n as usize) {
                Some(name) => names.push(name.to_vec()),
                None => break,
            }
            p += 46 + (n + e + c) as usize;
        }
        if !names.is_empty() {
            return names;
        }
    }
    local_names(b, max)
}

/// Up to `max` entry names from the local headers at the start of a zip, as far as they can be
/// followed without the central directory.
fn local_names(b: &[u8], max: usize) -> Vec<Vec<u8>> {
    let mut names = Vec::new();
    let mut p = 0usize;
    while names.len() < max && b.get(p..).is_some_and(|s| s.starts_with(b"PK\x03\x04")) {
        let (Some(flags), Some(csize), Some(n), Some(e)) = (
            u16le(b, p + 6),
            u32le(b, p + 18),
            u16le(b, p + 26),
            u16le(b, p + 28),
        ) else {
            break;
        };
        let Some(name) = b.get(p + 30..p + 30 + n as usize) else {
            break;
        };
        names.push(name.to_vec());
        if flags & 0x08 != 0 {
            // Sizes are in a trailing descriptor; the next header cannot be found cheaply.
            break;
        }
        p += 30 + (n + e) as usize + csize as usize;
    }
    names
}

/// One entry of a zip's central directory: zip64 sizes and offsets resolved, and the length of
/// anything prepended to the archive added to the offset, as the zip crate reads it.
#[derive(Debug)]
pub(crate) struct ZipEntry {
    pub(crate) name: Vec<u8>,
    pub(crate) method: u16,
    pub(crate) crc32: u64,
    pub(crate) compressed: u64,
    pub(crate) uncompressed: u64,
    pub(crate) local_offset: u64,
}

#[derive(Debug)]
pub(crate) struct ZipDirectory {
    /// As many entries as could be read, in order: fewer than `declared` when the directory
    /// is cut short.
    pub(crate) entries: Vec<ZipEntry>,
    /// The entry count the end record claims.
    pub(crate) declared: u64,
    /// Where the directory starts in the file; every entry's data lies before it.
    pub(crate) start: u64,
}

/// Reads a zip's central directory; `None` when there is no end record, a field lies outside
/// the file, or there are more than `max_entries` entries.
pub(crate) fn zip_directory(b: &[u8], max_entries: usize) -> Option<ZipDirectory> {
    let tail = b.len().saturating_sub(22 + 65_535);
    let eocd = (tail..b.len().saturating_sub(21))
        .rev()
        .find(|&i| b[i..].starts_with(b"PK\x05\x06"))?;
    let mut declared = u16le(b, eocd + 10)?;
    let mut cd_size = u32le(b, eocd + 12)?;
    let mut cd_offset = u32le(b, eocd + 16)?;
    let mut archive_offset = 0u64;
    if cd_offset == 0xFFFF_FFFF || cd_size == 0xFFFF_FFFF || declared == 0xFFFF {
        let loc = eocd.checked_sub(20)?;
        if !b[loc..].starts_with(b"PK\x06\x07") {
            return None;
        }
        let z = usize::try_from(u64le(b, loc + 8)?).ok()?;
        if !b.get(z..)?.starts_with(b"PK\x06\x06") {
            return None;
        }
        declared = u64le(b, z + 32)?;
        cd_size = u64le(b, z + 40)?;
        cd_offset = u64le(b, z + 48)?;
    } else {
        // Data prepended to the archive shifts every offset; the zip crate corrects for it too.
        let start = (eocd as u64).checked_sub(cd_size)?;
        archive_offset = start.checked_sub(cd_offset)?;
        cd_offset = start;
    }
    let mut p = usize::try_from(cd_offset).ok()?;
    let end = p.checked_add(usize::try_from(cd_size).ok()?)?.min(b.len());
    let mut entries = Vec::new();
    while p + 46 <= end && b[p..].starts_with(b"PK\x01\x02") {
        if entries.len() >= max_entries {
            return None;
        }
        let method = u16le(b, p + 10)? as u16;
        let crc32 = u32le(b, p + 16)?;
        let mut compressed = u32le(b, p + 20)?;
        let mut uncompressed = u32le(b, p + 24)?;
        let n = u16le(b, p + 28)? as usize;
        let e = u16le(b, p + 30)? as usize;
        let c = u16le(b, p + 32)? as usize;
        let mut local_offset = u32le(b, p + 42)?;
        let name = b.get(p + 46..p + 46 + n)?.to_vec();
        let extra = b.get(p + 46 + n..p + 46 + n + e)?;
        let mut x = 0;
        while x + 4 <= extra.len() {
            let id = u16le(extra, x)?;
            let len = u16le(extra, x + 2)? as usize;
            if id == 1 {
                let mut f = x + 4;
                for v in [&mut uncompressed, &mut compressed, &mut local_offset] {
                    if *v == 0xFFFF_FFFF {
                        *v = u64le(extra, f)?;
                        f += 8;
                    }
                }
            }
            x += 4 + len;
        }
        entries.push(ZipEntry {
            name,
            method,
            crc32,
            compressed,
            uncompressed,
            local_offset: local_offset.checked_add(archive_offset)?,
        });
        p += 46 + n + e + c;
    }
    Some(ZipDirectory {
        entries,
        declared,
        start: cd_offset,
    })
}

/// Whether a zip opens: its central directory is whole, and every entry's local header is where
/// the directory says, under the same name, agreeing with it on checksum and sizes (when the
/// header carries them rather than a trailing descriptor), with the entry's data before the
/// directory. What is checked is the container only; a part whose compressed bytes are garbled
/// still "opens" here and is for the reader of that part to find.
fn zip_opens(b: &[u8]) -> bool {
    let Some(dir) = zip_directory(b, 100_000) else {
        return false;
    };
    if dir.entries.is_empty() || dir.entries.len() as u64 != dir.declared {
        return false;
    }
    dir.entries.iter().all(|e| {
        let Ok(lh) = usize::try_from(e.local_offset) else {
            return false;
        };
        let local = |at: usize| u32le(b, lh + at);
        let (Some(flags), Some(n), Some(x)) =
            (u16le(b, lh + 6), u16le(b, lh + 26), u16le(b, lh + 28))
        else {
            return false;
        };
        let agrees = |at: usize, v: u64| local(at).is_some_and(|l| l == v || l == 0xFFFF_FFFF);
        let described_later = flags & 0x08 != 0;
        let data = (lh + 30) as u64 + n + x;
        b[lh..].starts_with(b"PK\x03\x04")
            && b.get(lh + 30..lh + 30 + n as usize) == Some(e.name.as_slice())
            && (described_later
                || (agrees(14, e.crc32) && agrees(18, e.compressed) && agrees(22, e.uncompressed)))
            && data
                .checked_add(e.compressed)
                .is_some_and(|end| end <= dir.start)
    })
}

// ---- OLE compound files: the stream names say which Office program wrote it ----

fn ole_kind(b: &[u8]) -> FileKind {
    let names = ole_stream_names(b);
    let has = |n: &str| names.iter().any(|x| x.eq_ignore_ascii_case(n));
    if has("WordDocument") {
        FileKind::Doc
    } else if has("Workbook") || has("Book") {
        FileKind::Xls
    } else {
        // PowerPoint, encrypted OOXML (EncryptionInfo + EncryptedPackage), MSG, ...
        FileKind::Unknown
    }
}

/// Names of the directory entries of a compound file. Bounded by the file's own sector count,
/// so a looping FAT chain ends.
pub(crate) fn ole_stream_names(b: &[u8]) -> Vec<String> {
    let mut names = Vec::new();
    let Some(shift) = u16le(b, 0x1E) else {
        return names;
    };
    if !(7..=16).contains(&shift) {
        return names;
    }
    let ss = 1usize << shift;
    let total_sectors = b.len() / ss + 1;
    let sector = |s: u64| -> Option<&[u8]> {
        let start = (s as usize).checked_add(1)?.checked_mul(ss)?;
        b.get(start..start.checked_add(ss)?)
    };
    // FAT sector list: 109 in the header, the rest in the DIFAT chain.
    let mut fat_sectors: Vec<u64> = Vec::new();
    for i in 0..109 {
        match u32le(b, 0x4C + i * 4) {
            Some(s) if s < 0xFFFF_FFFA => fat_sectors.push(s),
            _ => break,
        }
    }
    let mut difat = u32le(b, 0x44).unwrap_or(0xFFFF_FFFE);
    let mut guard = 0;
    while difat < 0xFFFF_FFFA && guard < total_sectors {
        guard += 1;
        let Some(sec) = sector(difat) else { break };
        let per = ss / 4 - 1;
        for i in 0..per {
            match u32le(sec, i * 4) {
                Some(s) if s < 0xFFFF_FFFA => fat_sectors.push(s),
                _ => {}
            }
        }
        difat = u32le(sec, per * 4).unwrap_or(0xFFFF_FFFE);
    }
    let per_fat = (ss / 4) as u64;
    let next = |s: u64| -> Option<u64> {
        let fs = *fat_sectors.get((s / per_fat) as usize)?;
        u32le(sector(fs)?, ((s % per_fat) * 4) as usize)
    };
    let mut dir = u32le(b, 0x30).unwrap_or(0xFFFF_FFFE);
    let mut steps = 0;
    while dir < 0xFFFF_FFFA && steps < total_sectors && names.len() < 10_000 {
        steps += 1;
        let Some(sec) = sector(dir) else { break };
        for e in sec.chunks_exact(128) {
            let len = u16le(e, 0x40).unwrap_or(0) as usize;
            let kind = e[0x42];
            if !(2..=64).contains(&len) || kind == 0 {
                continue;
            }
            let units: Vec<u16> = e[..len - 2]
                .chunks_exact(2)
                .map(|c| u16::from_le_bytes([c[0], c[1]]))
                .collect();
            names.push(String::from_utf16_lossy(&units));
        }
        match next(dir) {
            Some(n) => dir = n,
            None => break,
        }
    }
    names
}

/// Whether a compound file opens far enough to read the first of `streams` it holds: a sane
/// header, every FAT sector and the whole directory chain inside the file, and every byte of
/// that stream reachable through its chain inside the file. A file holding none of `streams`
/// opens as far as this asks (it is some other OLE file). Every chain walk is bounded by the
/// number of sectors the file has, so a looping chain ends.
fn ole_opens(b: &[u8], streams: &[&str]) -> bool {
    ole_check(b, streams).is_some()
}

fn ole_check(b: &[u8], streams: &[&str]) -> Option<()> {
    const END: u64 = 0xFFFF_FFFE;
    if !b.starts_with(&OLE_MAGIC) || b.len() < 512 {
        return None;
    }
    let ss: usize = match u16le(b, 0x1E)? {
        9 => 512,
        12 => 4096,
        _ => return None,
    };
    if u16le(b, 0x20)? != 6 {
        return None;
    }
    let v3 = u16le(b, 0x1A)? == 3;
    let sectors = (b.len() / ss).saturating_sub(1);
    // Whole sectors only: a sector cut by the end of the file is missing.
    let sector = |id: u64| -> Option<&[u8]> {
        let start = usize::try_from(id).ok()?.checked_add(1)?.checked_mul(ss)?;
        b.get(start..start.checked_add(ss)?)
    };
    let mut fat_sectors = Vec::new();
    for i in 0..109 {
        match u32le(b, 0x4C + i * 4)? {
            s if s < 0xFFFF_FFFA => fat_sectors.push(s),
            _ => {}
        }
    }
    let mut difat = u32le(b, 0x44)?;
    let mut hops = 0;
    while difat < 0xFFFF_FFFA {
        hops += 1;
        if hops > sectors {
            return None;
        }
        let sec = sector(difat)?;
        let per = ss / 4 - 1;
        for i in 0..per {
            match u32le(sec, i * 4)? {
                s if s < 0xFFFF_FFFA => fat_sectors.push(s),
                _ => {}
            }
        }
        difat = u32le(sec, per * 4)?;
    }
    if fat_sectors.is_empty() || fat_sectors.iter().any(|&s| sector(s).is_none()) {
        return None;
    }
    let per_fat = (ss / 4) as u64;
    let next = |s: u64| -> Option<u64> {
        let fs = *fat_sectors.get(usize::try_from(s / per_fat).ok()?)?;
        u32le(sector(fs)?, ((s % per_fat) * 4) as usize)
    };
    // The sectors of a chain, which must end where it says it ends.
    let chain = |start: u64| -> Option<Vec<u64>> {
        let mut out = Vec::new();
        let mut id = start;
        while id != END {
            if id >= 0xFFFF_FFFA || out.len() > sectors {
                return None;
            }
            out.push(id);
            id = next(id)?;
        }
        Some(out)
    };
    let mut entries: Vec<&[u8]> = Vec::new();
    for id in chain(u32le(b, 0x30)?)? {
        entries.extend(sector(id)?.chunks_exact(128));
    }
    let root = entries.first().filter(|r| r[0x42] == 5)?;
    let name_of = |e: &[u8]| -> String {
        let len = (u16le(e, 0x40).unwrap_or(0) as usize).min(64);
        let units: Vec<u16> = e[..len]
            .chunks_exact(2)
            .map(|c| u16::from_le_bytes([c[0], c[1]]))
            .take_while(|&u| u != 0)
            .collect();
        String::from_utf16_lossy(&units)
    };
    let Some(entry) = streams.iter().find_map(|want| {
        entries
            .iter()
            .find(|e| e[0x42] == 2 && name_of(e).eq_ignore_ascii_case(want))
    }) else {
        return Some(());
    };
    let size_of = |e: &[u8]| -> Option<u64> {
        if v3 {
            u32le(e, 120)
        } else {
            u64le(e, 120)
        }
    };
    let size = size_of(entry)?;
    let start = u32le(entry, 116)?;
    if size == 0 {
        return Some(());
    }
    if size >= u32le(b, 0x38)? {
        // Each sector of the stream, the last one only as far as the stream reaches into it.
        let mut left = size;
        let mut id = start;
        for _ in 0..=sectors {
            let from = usize::try_from(id).ok()?.checked_add(1)?.checked_mul(ss)?;
            let need = left.min(ss as u64) as usize;
            b.get(from..from.checked_add(need)?)?;
            left -= need as u64;
            if left == 0 {
                return Some(());
            }
            id = next(id)?;
            if id >= 0xFFFF_FFFA {
                return None;
            }
        }
        return None;
    }
    // A small stream lives in the mini stream (the root entry's chain), in 64-byte sectors
    // chained by the mini FAT.
    let ministream = chain(u32le(root, 116)?)?;
    let mini_bytes = size_of(root)?;
    if (ministream.len() as u64) * (ss as u64) < mini_bytes
        || ministream.iter().any(|&id| sector(id).is_none())
    {
        return None;
    }
    let minifat: Vec<u64> = chain(u32le(b, 0x3C)?)?
        .into_iter()
        .map(|id| sector(id).map(|s| s.chunks_exact(4).map(|c| u32le(c, 0)).collect::<Vec<_>>()))
        .collect::<Option<Vec<_>>>()?
        .into_iter()
        .flatten()
        .collect::<Option<Vec<_>>>()?;
    let mini_count = mini_bytes.div_ceil(64);
    let mut left = size;
    let mut id = start;
    for _ in 0..=minifat.len() {
        if id >= mini_count {
            return None;
        }
        left = left.saturating_sub(64);
        if left == 0 {
            return Some(());
        }
        id = *minifat.get(usize::try_from(id).ok()?)?;
    }
    None
}

const OLE_MAGIC: [u8; 8] = [0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1];

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    pub(crate) fn zip_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
        let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        let opts = zip::write::SimpleFileOptions::default();
        for (n, d) in entries {
            w.start_file(*n, opts).unwrap();
            w.write_all(d).unwrap();
        }
        w.finish().unwrap().into_inner()
    }

    /// A minimal compound file: header, one FAT sector, one directory sector.
    pub(crate) fn ole_with(stream: &str) -> Vec<u8> {
        let mut f = vec![0u8; 512 * 3];
        f[..8].copy_from_slice(&[0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1]);
        f[0x1A] = 3;
        f[0x1C..0x1E].copy_from_slice(&0xFFFEu16.to_le_bytes());
        f[0x1E] = 9;
        f[0x20] = 6;
        f[0x2C] = 1;
        f[0x38..0x3C].copy_from_slice(&4096u32.to_le_bytes());
        f[0x3C..0x40].copy_from_slice(&0xFFFF_FFFEu32.to_le_bytes());
        f[0x30..0x34].copy_from_slice(&1u32.to_le_bytes()); // directory at sector 1
        f[0x44..0x48].copy_from_slice(&0xFFFF_FFFEu32.to_le_bytes());
        f[0x4C..0x50].copy_from_slice(&0u32.to_le_bytes()); // FAT at sector 0
        for i in 1..109 {
            f[0x4C + i * 4..0x50 + i * 4].copy_from_slice(&0xFFFF_FFFFu32.to_le_bytes());
        }
        let fat = 512;
        f[fat..fat + 4].copy_from_slice(&0xFFFF_FFFDu32.to_le_bytes());
        f[fat + 4..fat + 8].copy_from_slice(&0xFFFF_FFFEu32.to_le_bytes());
        let dir = 1024;
        for (i, (name, kind)) in [("Root Entry", 5u8), (stream, 2u8)].iter().enumerate() {
            let e = dir + i * 128;
            let units: Vec<u8> = name
                .encode_utf16()
                .chain([0])
                .flat_map(|u| u.to_le_bytes())
                .collect();
            f[e..e + units.len()].copy_from_slice(&units);
            f[e + 0x40..e + 0x42].copy_from_slice(&(units.len() as u16).to_le_bytes());
            f[e + 0x42] = *kind;
        }
        f
    }

    #[test]
    fn office_formats() {
        assert_eq!(
            sniff(&zip_of(&[
                ("[Content_Types].xml", b"x"),
                ("xl/workbook.xml", b"x")
            ])),
            FileKind::Xlsx
        );
        assert_eq!(
            sniff(&zip_of(&[
                ("[Content_Types].xml", b"x"),
                ("word/document.xml", b"x")
            ])),
            FileKind::Docx
        );
        assert_eq!(
            sniff(&zip_of(&[
                ("[Content_Types].xml", b"x"),
                ("ppt/p.xml", b"x")
            ])),
            FileKind::Unknown
        );
        assert_eq!(sniff(&zip_of(&[("a.txt", b"x")])), FileKind::Zip);
        let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        let stored = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Stored);
        w.start_file("mimetype", stored).unwrap();
        w.write_all(b"application/vnd.oasis.opendocument.spreadsheet")
            .unwrap();
        w.start_file("content.xml", stored).unwrap();
        w.write_all(b"<x/>").unwrap();
        assert_eq!(sniff(&w.finish().unwrap().into_inner()), FileKind::Ods);
        assert_eq!(sniff(&ole_with("Workbook")), FileKind::Xls);
        assert_eq!(sniff(&ole_with("WordDocument")), FileKind::Doc);
        assert_eq!(sniff(&ole_with("EncryptedPackage")), FileKind::Unknown);
    }

    #[test]
    fn truncated_xlsx_still_reads_as_xlsx() {
        let z = zip_of(&[("[Content_Types].xml", b"x"), ("xl/workbook.xml", b"x")]);
        assert_eq!(sniff(&z[..z.len() - 30]), FileKind::Xlsx);
    }

    /// A zip's bytes with the one at `at` changed.
    fn flipped(b: &[u8], at: usize) -> Vec<u8> {
        let mut v = b.to_vec();
        v[at] ^= 0x5A;
        v
    }

    fn central_directory(z: &[u8]) -> usize {
        z.windows(4).position(|w| w == b"PK\x01\x02").unwrap()
    }

    #[test]
    fn a_cut_or_damaged_ooxml_zip_is_the_claimed_kind_damaged() {
        let xlsx = zip_of(&[
            ("[Content_Types].xml", &[b'x'; 300]),
            ("xl/workbook.xml", &[b'y'; 300]),
            ("xl/worksheets/sheet1.xml", &[b'z'; 300]),
        ]);
        assert_eq!(damaged_office(&xlsx, "统计表.xlsx"), None);
        let cd = central_directory(&xlsx);
        let mut cases = vec![xlsx[..10].to_vec(), xlsx[..cd].to_vec()];
        for pct in [10, 50, 99] {
            cases.push(xlsx[..xlsx.len() * pct / 100].to_vec());
        }
        // The directory's signature, a byte of its first name, its first local offset.
        for at in [cd, cd + 46, cd + 42] {
            cases.push(flipped(&xlsx, at));
        }
        for (i, c) in cases.iter().enumerate() {
            assert_eq!(
                damaged_office(c, "统计表.xlsx"),
                Some(FileKind::Xlsx),
                "case {i}"
            );
            assert_eq!(
                damaged_office(c, "统计表.XLSM"),
                Some(FileKind::Xlsx),
                "case {i}"
            );
        }
        let docx = zip_of(&[("_rels/.rels", b"r"), ("word/document.xml", b"d")]);
        assert_eq!(
            damaged_office(&docx[..docx.len() / 2], "总结.docx"),
            Some(FileKind::Docx)
        );
    }

    #[test]
    fn a_cut_odf_zip_is_the_claimed_kind_damaged() {
        let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        let stored = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Stored);
        w.start_file("mimetype", stored).unwrap();
        w.write_all(b"application/vnd.oasis.opendocument.text")
            .unwrap();
        w.start_file("content.xml", zip::write::SimpleFileOptions::default())
            .unwrap();
        w.write_all(&[b'x'; 500]).unwrap();
        let odt = w.finish().unwrap().into_inner();
        assert_eq!(damaged_office(&odt, "总结.odt"), None);
        let cut = &odt[..odt.len() / 2];
        assert_eq!(damaged_office(cut, "总结.odt"), Some(FileKind::Odt));
        // An odt cut short and named as a spreadsheet is a text document: another type.
        assert_eq!(damaged_office(cut, "统计表.ods"), None);
    }

    #[test]
    fn a_damaged_zip_of_another_type_is_not_called_a_damaged_document() {
        let docx = zip_of(&[("_rels/.rels", b"r"), ("word/document.xml", b"d")]);
        // A docx named .xlsx: the parts say docx, so it stays a type mismatch.
        assert_eq!(damaged_office(&docx[..docx.len() / 2], "统计表.xlsx"), None);
        // A zip of other files, cut short: an archive problem, whatever its name.
        let plain = zip_of(&[("照片.jpg", &[1u8; 400]), ("说明.txt", b"x")]);
        let cut = &plain[..plain.len() / 2];
        assert_eq!(damaged_office(cut, "统计表.xlsx"), None);
        assert_eq!(damaged_office(cut, "材料.zip"), None);
        // Content of another type altogether.
        assert_eq!(damaged_office(b"%PDF-1.4\n", "统计表.xlsx"), None);
        assert_eq!(
            damaged_office(&ole_with("Workbook")[..600], "统计表.xlsx"),
            None
        );
    }

    #[test]
    fn a_damaged_compound_file_is_the_claimed_kind_damaged() {
        let xls = ole_with("Workbook");
        assert_eq!(damaged_office(&xls, "统计表.xls"), None);
        assert_eq!(damaged_office(&xls, "统计表.et"), None);
        let mut no_fat = xls.clone();
        no_fat[512..1024].fill(0);
        let mut looping_directory = xls.clone();
        looping_directory[512 + 4..512 + 8].copy_from_slice(&1u32.to_le_bytes());
        let mut bad_shift = xls.clone();
        bad_shift[0x1E] = 3;
        for (i, c) in [
            &xls[..512],
            &xls[..1000],
            &xls[..1100],
            &no_fat[..],
            &looping_directory[..],
            &bad_shift[..],
        ]
        .iter()
        .enumerate()
        {
            assert_eq!(
                damaged_office(c, "统计表.xls"),
                Some(FileKind::Xls),
                "case {i}"
            );
            assert_eq!(
                damaged_office(c, "统计表.et"),
                Some(FileKind::Xls),
                "case {i}"
            );
        }
        let doc = ole_with("WordDocument");
        assert_eq!(damaged_office(&doc, "总结.wps"), None);
        assert_eq!(damaged_office(&doc[..700], "总结.doc"), Some(FileKind::Doc));
        assert_eq!(damaged_office(&doc[..700], "总结.wps"), Some(FileKind::Doc));
        // A whole Word file named .xls is a Word file: another type.
        assert_eq!(damaged_office(&doc, "统计表.xls"), None);
    }

    #[test]
    fn a_stream_whose_sectors_are_cut_off_does_not_open() {
        // A 4 KiB Workbook stream in regular sectors 2..=9, after the FAT and the directory.
        let mut f = ole_with("Workbook");
        f.resize(512 * 11, 0);
        let fat = 512;
        for id in 2..10u32 {
            let next = if id == 9 { 0xFFFF_FFFE } else { id + 1 };
            let at = fat + id as usize * 4;
            f[at..at + 4].copy_from_slice(&next.to_le_bytes());
        }
        let entry = 1024 + 128;
        f[entry + 116..entry + 120].copy_from_slice(&2u32.to_le_bytes());
        f[entry + 120..entry + 124].copy_from_slice(&4096u32.to_le_bytes());
        assert!(ole_opens(&f, &["Workbook"]));
        assert_eq!(damaged_office(&f, "统计表.xls"), None);
        let cut = &f[..512 * 10 + 100];
        assert!(!ole_opens(cut, &["Workbook"]));
        assert_eq!(damaged_office(cut, "统计表.xls"), Some(FileKind::Xls));
        // A chain that ends before the stream does.
        let mut short = f.clone();
        short[fat + 5 * 4..fat + 6 * 4].copy_from_slice(&0xFFFF_FFFEu32.to_le_bytes());
        assert!(!ole_opens(&short, &["Workbook"]));
    }

    #[test]
    fn media_and_images() {
        let ftyp = |brand: &[u8]| {
            let mut v = vec![0, 0, 0, 0x18];
            v.extend_from_slice(b"ftyp");
            v.extend_from_slice(brand);
            v.extend_from_slice(&[0; 12]);
            v
        };
        assert_eq!(sniff(&ftyp(b"isom")), FileKind::Mp4);
        assert_eq!(sniff(&ftyp(b"qt  ")), FileKind::Mov);
        assert_eq!(sniff(&ftyp(b"M4V ")), FileKind::M4v);
        assert_eq!(sniff(&ftyp(b"3gp4")), FileKind::ThreeGp);
        assert_eq!(sniff(&ftyp(b"heic")), FileKind::Heic);
        assert_eq!(sniff(b"\0\0\0\x08moov\0\0\0\0"), FileKind::Mov);
        let mut webm = vec![
            0x1A, 0x45, 0xDF, 0xA3, 0x9F, 0x42, 0x86, 0x81, 0x01, 0x42, 0x82, 0x84,
        ];
        webm.extend_from_slice(b"webm");
        assert_eq!(sniff(&webm), FileKind::Webm);
        webm.truncate(12);
        webm.extend_from_slice(b"matroska");
        assert_eq!(sniff(&webm), FileKind::Mkv);
        assert_eq!(sniff(b"RIFF\0\0\0\0AVI LIST"), FileKind::Avi);
        assert_eq!(sniff(b"RIFF\0\0\0\0WAVEfmt "), FileKind::Unknown);
        assert_eq!(sniff(b"FLV\x01\x05\0\0\0\x09"), FileKind::Flv);
        assert_eq!(sniff(&[0, 0, 1, 0xBA, 0x44]), FileKind::Mpg);
        let mut ts = vec![0u8; 188 * 4];
        for i in 0..4 {
            ts[i * 188] = 0x47;
        }
        assert_eq!(sniff(&ts), FileKind::Ts);
        assert_eq!(sniff(b"\x89PNG\r\n\x1A\n...."), FileKind::Png);
        assert_eq!(sniff(&[0xFF, 0xD8, 0xFF, 0xE0]), FileKind::Jpg);
        assert_eq!(sniff(b"GIF89a.."), FileKind::Gif);
        assert_eq!(sniff(b"%PDF-1.7\n"), FileKind::Pdf);
        assert_eq!(sniff(b"7z\xBC\xAF\x27\x1C\0\x04"), FileKind::SevenZ);
        assert_eq!(sniff(b"Rar!\x1A\x07\x01\0"), FileKind::Rar);
    }

    #[test]
    fn text_mail_and_other() {
        assert_eq!(sniff(b""), FileKind::Empty);
        assert_eq!(sniff("科技活动周总结\r\n".as_bytes()), FileKind::Txt);
        let (gbk, _, _) = encoding_rs::GB18030.encode("科技活动周总结");
        assert_eq!(sniff(&gbk), FileKind::Txt);
        assert_eq!(
            sniff(b"Received: x\r\nFrom: a@b\r\nSubject: s\r\n\r\nbody"),
            FileKind::Eml
        );
        assert_eq!(sniff(b"abc\0def"), FileKind::Unknown);
        assert_eq!(sniff(&[0x81, 0x20, 0xFF, 0xFE]), FileKind::Unknown);
    }

    #[test]
    fn names_and_families() {
        assert_eq!(kind_from_name("统计表.XLSX"), Some(FileKind::Xlsx));
        assert_eq!(kind_from_name("a.et"), Some(FileKind::Xls));
        assert_eq!(kind_from_name("a.wmv"), Some(FileKind::Asf));
        assert_eq!(kind_from_name("noext"), None);
        assert_eq!(FileKind::Mp4.family(), FileFamily::Video);
        assert_eq!(FileKind::SevenZ.as_str(), "7z");
        assert_eq!(
            serde_json::to_string(&FileKind::ThreeGp).unwrap(),
            "\"3gp\""
        );
        assert_eq!(serde_json::to_string(&FileKind::Xlsx).unwrap(), "\"xlsx\"");
    }
}
