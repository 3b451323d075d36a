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
    /// OLE with a Workbook/Book stream: Excel 97–2003 and WPS `.et`.
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
    if b.starts_with(&[0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1]) {
        return ole_kind(b);
    }
    if b.starts_with(b"7z\xBC\xAF\x27\x1C") {
        return SevenZ;
    }
    if b.starts_with(b"Rar!\x1A\x07") {
        return Rar;
    }
    if b.starts_with(&super::tnef::SIGNATURE) {
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
        f[0x1E] = 9;
        f[0x2C] = 1;
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
