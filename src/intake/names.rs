//! Header text as Chinese mail clients really write it: RFC 2047 encoded words in any charset,
//! RFC 2231 parameters (continuations, GBK too), and raw 8-bit GBK where a client ignored both.
//! mail-parser decodes most of this, but falls back to lossy UTF-8 for raw GBK and cannot hand
//! back the original bytes, so names are decoded here from the raw header block.

use encoding_rs::{Encoding, GB18030, UTF_8};

/// One header field of a raw header block: the name as written and the value with folding
/// line breaks removed (bytes, since the value may be raw 8-bit).
pub(crate) struct RawField {
    pub name: String,
    pub value: Vec<u8>,
}

/// Splits a header block into fields. Lines that are neither a field nor a continuation are
/// skipped, because broken clients emit them and the rest of the block is still worth reading.
pub(crate) fn split_fields(block: &[u8]) -> Vec<RawField> {
    let mut fields: Vec<RawField> = Vec::new();
    for line in block.split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            break;
        }
        if line[0] == b' ' || line[0] == b'\t' {
            if let Some(last) = fields.last_mut() {
                last.value.extend_from_slice(line);
            }
            continue;
        }
        if let Some(colon) = line.iter().position(|&b| b == b':') {
            let name = &line[..colon];
            if !name.is_empty() && name.iter().all(|&b| b.is_ascii_graphic()) {
                fields.push(RawField {
                    name: String::from_utf8_lossy(name).trim().to_string(),
                    value: trim_bytes(&line[colon + 1..]).to_vec(),
                });
            }
        }
    }
    fields
}

pub(crate) fn field<'a>(fields: &'a [RawField], name: &str) -> Option<&'a RawField> {
    fields.iter().find(|f| f.name.eq_ignore_ascii_case(name))
}

pub(crate) fn trim_bytes(b: &[u8]) -> &[u8] {
    let start = b
        .iter()
        .position(|c| !c.is_ascii_whitespace())
        .unwrap_or(b.len());
    let end = b
        .iter()
        .rposition(|c| !c.is_ascii_whitespace())
        .map_or(start, |e| e + 1);
    &b[start..end.max(start)]
}

/// Bytes of unknown charset: UTF-8 if they are valid UTF-8, else GB18030 (what Chinese
/// Windows clients write when they write raw 8-bit).
pub(crate) fn decode_guess(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(s) => s.to_string(),
        Err(_) => GB18030.decode_without_bom_handling(bytes).0.into_owned(),
    }
}

/// The encoding a MIME charset label names. GB2312 and GBK are widened to GB18030, a superset:
/// clients label GBK text as gb2312 and it must still decode.
pub(crate) fn charset(label: &str) -> Option<&'static Encoding> {
    let l = label.trim().trim_matches('"').to_ascii_lowercase();
    if matches!(
        l.as_str(),
        "gb2312" | "gbk" | "gb18030" | "cp936" | "x-gbk" | "euc-cn" | "csgb2312" | "ms936"
    ) {
        return Some(GB18030);
    }
    Encoding::for_label(l.as_bytes())
}

fn decode_with(label: &str, bytes: &[u8]) -> String {
    match charset(label) {
        // An empty or unknown label says nothing; guessing beats replacement characters.
        Some(enc) if enc != UTF_8 => enc.decode_without_bom_handling(bytes).0.into_owned(),
        _ => decode_guess(bytes),
    }
}

/// Decodes an unstructured header value: RFC 2047 encoded words (adjacent words of one charset
/// are joined as bytes first, since clients split multi-byte characters across words) and raw
/// 8-bit text everywhere else.
pub(crate) fn decode_header(raw: &[u8]) -> String {
    let mut out = String::new();
    let mut pending: Option<(String, Vec<u8>)> = None; // charset, decoded bytes
    let mut plain: Vec<u8> = Vec::new();
    let mut i = 0;
    while i < raw.len() {
        if raw[i] == b'=' && raw.get(i + 1) == Some(&b'?') {
            if let Some((label, bytes, end)) = encoded_word(&raw[i..]) {
                // White space between two encoded words is not part of the text.
                let between_words =
                    pending.is_some() && plain.iter().all(|b| b.is_ascii_whitespace());
                if !between_words {
                    flush(&mut out, &mut pending);
                    out.push_str(&decode_guess(&plain));
                }
                plain.clear();
                match &mut pending {
                    Some((l, buf)) if l.eq_ignore_ascii_case(&label) => {
                        buf.extend_from_slice(&bytes)
                    }
                    _ => {
                        flush(&mut out, &mut pending);
                        pending = Some((label, bytes));
                    }
                }
                i += end;
                continue;
            }
        }
        plain.push(raw[i]);
        i += 1;
    }
    flush(&mut out, &mut pending);
    out.push_str(&decode_guess(&plain));
    out
}

fn flush(out: &mut String, pending: &mut Option<(String, Vec<u8>)>) {
    if let Some((label, bytes)) = pending.take() {
        out.push_str(&decode_with(&label, &bytes));
    }
}

/// Parses `=?charset?B|Q?text?=` at the start of `s`: (charset, decoded bytes, length).
fn encoded_word(s: &[u8]) -> Option<(String, Vec<u8>, usize)> {
    let rest = s.get(2..)?;
    let q1 = rest.iter().position(|&b| b == b'?')?;
    let label = std::str::from_utf8(&rest[..q1]).ok()?;
    // RFC 2231 §5 allows a language suffix: charset*lang.
    let label = label.split('*').next().unwrap_or("").to_string();
    if label.is_empty() || label.len() > 40 {
        return None;
    }
    let enc = *rest.get(q1 + 1)?;
    if rest.get(q1 + 2) != Some(&b'?') {
        return None;
    }
    let text_start = q1 + 3;
    let body = rest.get(text_start..)?;
    let end = body.windows(2).position(|w| w == b"?=")?;
    let text = &body[..end];
    if text.iter().any(|b| b.is_ascii_whitespace() && *b != b' ') {
        return None;
    }
    let bytes = match enc {
        b'B' | b'b' => base64_lenient(text),
        b'Q' | b'q' => q_decode(text),
        _ => return None,
    };
    Some((label, bytes, 2 + text_start + end + 2))
}

fn q_decode(text: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len());
    let mut i = 0;
    while i < text.len() {
        match text[i] {
            b'_' => out.push(b' '),
            b'=' => match hex_pair(text, i + 1) {
                Some(b) => {
                    out.push(b);
                    i += 2;
                }
                None => out.push(b'='),
            },
            b => out.push(b),
        }
        i += 1;
    }
    out
}

fn hex_pair(s: &[u8], at: usize) -> Option<u8> {
    let h = (*s.get(at)? as char).to_digit(16)?;
    let l = (*s.get(at + 1)? as char).to_digit(16)?;
    Some((h * 16 + l) as u8)
}

/// Base64 that decodes what it can: stray characters are skipped and a truncated tail keeps its
/// complete bytes, because a truncated attachment is still worth showing to a person.
pub(crate) fn base64_lenient(text: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len() / 4 * 3 + 3);
    let mut acc: u32 = 0;
    let mut n = 0u8;
    for &c in text {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            b'=' => {
                // Padding ends a group; a later group may follow (concatenated base64).
                match n {
                    2 => out.push((acc >> 4) as u8),
                    3 => out.extend_from_slice(&[(acc >> 10) as u8, (acc >> 2) as u8]),
                    _ => {}
                }
                acc = 0;
                n = 0;
                continue;
            }
            _ => continue,
        };
        acc = (acc << 6) | v as u32;
        n += 1;
        if n == 4 {
            out.extend_from_slice(&[(acc >> 16) as u8, (acc >> 8) as u8, acc as u8]);
            acc = 0;
            n = 0;
        }
    }
    match n {
        2 => out.push((acc >> 4) as u8),
        3 => out.extend_from_slice(&[(acc >> 10) as u8, (acc >> 2) as u8]),
        _ => {}
    }
    out
}

/// Quoted-printable body decoding (soft line breaks removed, bad escapes kept as written).
pub(crate) fn qp_decode(text: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len());
    let mut i = 0;
    while i < text.len() {
        if text[i] == b'=' {
            if let Some(b) = hex_pair(text, i + 1) {
                out.push(b);
                i += 3;
                continue;
            }
            let rest = &text[i + 1..];
            let ws = rest
                .iter()
                .take_while(|b| **b == b' ' || **b == b'\t')
                .count();
            match &rest[ws..] {
                [b'\r', b'\n', ..] => {
                    i += 1 + ws + 2;
                    continue;
                }
                [b'\n', ..] => {
                    i += 1 + ws + 1;
                    continue;
                }
                _ => {}
            }
        }
        out.push(text[i]);
        i += 1;
    }
    out
}

/// A structured header (`Content-Type`, `Content-Disposition`): the lowercased value before the
/// first `;`, and its parameters with RFC 2231 sections already joined and decoded.
pub(crate) struct Structured {
    pub value: String,
    pub params: Vec<(String, String)>,
}

impl Structured {
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

struct Section {
    name: String,
    index: Option<u32>,
    extended: bool,
    value: Vec<u8>,
}

pub(crate) fn parse_structured(raw: &[u8]) -> Structured {
    let mut pos = raw.iter().position(|&b| b == b';').unwrap_or(raw.len());
    let value = String::from_utf8_lossy(trim_bytes(&raw[..pos])).to_ascii_lowercase();
    let mut sections: Vec<Section> = Vec::new();
    while pos < raw.len() {
        pos += 1; // the ';'
        while pos < raw.len() && raw[pos].is_ascii_whitespace() {
            pos += 1;
        }
        let name_end = raw[pos..]
            .iter()
            .position(|&b| b == b'=' || b == b';')
            .map_or(raw.len(), |p| p + pos);
        if name_end >= raw.len() || raw[name_end] == b';' {
            pos = name_end;
            continue;
        }
        let pname = String::from_utf8_lossy(trim_bytes(&raw[pos..name_end])).to_ascii_lowercase();
        pos = name_end + 1;
        while pos < raw.len() && (raw[pos] == b' ' || raw[pos] == b'\t') {
            pos += 1;
        }
        let mut pval = Vec::new();
        if raw.get(pos) == Some(&b'"') {
            pos += 1;
            while pos < raw.len() && raw[pos] != b'"' {
                if raw[pos] == b'\\' && pos + 1 < raw.len() {
                    pos += 1;
                }
                pval.push(raw[pos]);
                pos += 1;
            }
            pos += 1;
            // Skip anything up to the next parameter.
            pos = raw[pos.min(raw.len())..]
                .iter()
                .position(|&b| b == b';')
                .map_or(raw.len(), |p| p + pos);
        } else {
            // Unquoted values may hold raw 8-bit text and spaces in broken clients: read to ';'.
            let end = raw[pos..]
                .iter()
                .position(|&b| b == b';')
                .map_or(raw.len(), |p| p + pos);
            pval.extend_from_slice(trim_bytes(&raw[pos..end]));
            pos = end;
        }
        let (base, index, extended) = split_param_name(&pname);
        sections.push(Section {
            name: base,
            index,
            extended,
            value: pval,
        });
    }
    Structured {
        value,
        params: join_sections(sections),
    }
}

/// `filename*1*` → ("filename", Some(1), true); `name` → ("name", None, false).
fn split_param_name(n: &str) -> (String, Option<u32>, bool) {
    let (n, extended) = match n.strip_suffix('*') {
        Some(s) => (s, true),
        None => (n, false),
    };
    if let Some((base, idx)) = n.rsplit_once('*') {
        if let Ok(i) = idx.parse::<u32>() {
            return (base.to_string(), Some(i), extended);
        }
    }
    (n.to_string(), None, extended)
}

fn join_sections(sections: Vec<Section>) -> Vec<(String, String)> {
    let mut names: Vec<String> = Vec::new();
    for s in &sections {
        if !names.contains(&s.name) {
            names.push(s.name.clone());
        }
    }
    let mut out = Vec::new();
    for name in names {
        let mut parts: Vec<&Section> = sections.iter().filter(|s| s.name == name).collect();
        // An RFC 2231 form wins over a plain one of the same name, as RFC 2231 §4 intends.
        let has_2231 = parts.iter().any(|s| s.index.is_some() || s.extended);
        if has_2231 {
            parts.retain(|s| s.index.is_some() || s.extended);
        } else {
            let v = decode_header(&parts[0].value);
            out.push((name, v));
            continue;
        }
        parts.sort_by_key(|s| s.index.unwrap_or(0));
        let mut label = String::new();
        let mut bytes = Vec::new();
        for (i, s) in parts.iter().enumerate() {
            if s.extended {
                let mut v: &[u8] = &s.value;
                if i == 0 {
                    // charset'language'value
                    let mut split = v.splitn(3, |&b| b == b'\'');
                    if let (Some(cs), Some(_lang), Some(rest)) =
                        (split.next(), split.next(), split.next())
                    {
                        label = String::from_utf8_lossy(cs).to_string();
                        v = rest;
                    }
                }
                bytes.extend_from_slice(&percent_decode(v));
            } else {
                bytes.extend_from_slice(&s.value);
            }
        }
        let text = decode_with(&label, &bytes);
        // Some clients put RFC 2047 words inside RFC 2231 values; decode those too.
        let text = if text.contains("=?") {
            decode_header(text.as_bytes())
        } else {
            text
        };
        out.push((name, text));
    }
    out
}

pub(crate) fn percent_decode(v: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(v.len());
    let mut i = 0;
    while i < v.len() {
        if v[i] == b'%' {
            if let Some(b) = hex_pair(v, i + 1) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(v[i]);
        i += 1;
    }
    out
}

/// The name a unit sees: base name only (a name is never a path), control and bidi-override
/// characters removed, trimmed. `None` when nothing usable is left.
pub(crate) fn clean_name(name: &str) -> Option<String> {
    let base = name.rsplit(['/', '\\']).next().unwrap_or("");
    let cleaned: String = base
        .chars()
        .filter(|c| {
            !c.is_control()
                && !matches!(*c, '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{FEFF}')
        })
        .collect();
    let trimmed = cleaned.trim();
    if trimmed.is_empty() || trimmed.chars().all(|c| c == '.') {
        return None;
    }
    // Very long names are clipped, keeping the extension that says what the file is.
    const MAX: usize = 200;
    if trimmed.chars().count() > MAX {
        let ext: String = match trimmed.rsplit_once('.') {
            Some((_, e)) if e.chars().count() <= 10 => format!(".{e}"),
            _ => String::new(),
        };
        let keep: String = trimmed.chars().take(MAX - ext.chars().count()).collect();
        return Some(format!("{keep}{ext}"));
    }
    Some(trimmed.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoded_words_in_gbk_and_utf8() {
        assert_eq!(
            decode_header(b"=?gb2312?B?ytC5q7CyvtaxqMvNMjAyM8Tqv8a8vLvutq/W3LLEwc8=?="),
            "市公安局报送2023年科技活动周材料"
        );
        assert_eq!(
            decode_header(
                b"=?UTF-8?B?5biC5Z+O5Lmh566h55CG5bGAMjAyM+W5tOenkeaKgOa0u+WKqOWRqOadkA==?= =?UTF-8?B?5paZ?="
            ),
            "市城乡管理局2023年科技活动周材料"
        );
        assert_eq!(decode_header(b"=?utf-8?Q?a_b=E5=B8=82?= c"), "a b市 c");
    }

    #[test]
    fn split_multibyte_character_across_words() {
        // "市" is E5 B8 82 in UTF-8; split after the first byte.
        assert_eq!(decode_header(b"=?UTF-8?Q?=E5?= =?UTF-8?Q?=B8=82?="), "市");
    }

    #[test]
    fn raw_gbk_header_bytes() {
        let (gbk, _, _) = GB18030.encode("统计表.xlsx");
        assert_eq!(decode_header(&gbk), "统计表.xlsx");
        assert_eq!(decode_header("统计表".as_bytes()), "统计表");
    }

    #[test]
    fn rfc2231_continuations_utf8_and_gbk() {
        let s = parse_structured(
            b"attachment; filename*0*=UTF-8''%E5%B8%82%E6%A1%A3; filename*1*=%E6%A1%88.xlsx",
        );
        assert_eq!(s.value, "attachment");
        assert_eq!(s.param("filename"), Some("市档案.xlsx"));
        let (gbk, _, _) = GB18030.encode("总结");
        let enc: String = gbk.iter().map(|b| format!("%{b:02X}")).collect();
        let raw = format!("attachment; filename*=gbk''{enc}.docx");
        assert_eq!(
            parse_structured(raw.as_bytes()).param("filename"),
            Some("总结.docx")
        );
        // Mixed encoded / plain sections and a plain duplicate that must lose.
        let s = parse_structured(
            b"inline; filename=\"x\"; filename*0*=utf-8''%E5%B8%82; filename*1=abc.doc",
        );
        assert_eq!(s.param("filename"), Some("市abc.doc"));
    }

    #[test]
    fn quoted_params_with_encoded_words() {
        let s = parse_structured(
            b"application/octet-stream;\r\n\tcharset=\"utf-8\";\r\n\tname=\"=?utf-8?B?5Yy75L+d56eR5pmu6KeG6aKRLm1wNA==?=\"",
        );
        assert_eq!(s.value, "application/octet-stream");
        assert_eq!(s.param("name"), Some("医保科普视频.mp4"));
        assert_eq!(s.param("charset"), Some("utf-8"));
    }

    #[test]
    fn clean_names() {
        assert_eq!(clean_name("../../etc/passwd").as_deref(), Some("passwd"));
        assert_eq!(clean_name("C:\\Windows\\x.exe").as_deref(), Some("x.exe"));
        assert_eq!(
            clean_name("a\0b\x07c\u{202E}d.txt").as_deref(),
            Some("abcd.txt")
        );
        assert_eq!(clean_name(".."), None);
        assert_eq!(clean_name("dir/"), None);
        let long = format!("{}.xlsx", "长".repeat(500));
        let c = clean_name(&long).unwrap();
        assert!(c.ends_with(".xlsx") && c.chars().count() == 200);
    }

    #[test]
    fn lenient_base64() {
        assert_eq!(base64_lenient(b"aGVsbG8="), b"hello");
        assert_eq!(base64_lenient(b"aGVs\r\nbG8"), b"hello");
        assert_eq!(base64_lenient(b"aGVsbG8gd29y"), b"hello wor");
        assert_eq!(base64_lenient(b"aGVsbG8gd2"), b"hello w");
    }

    #[test]
    fn header_block_fields() {
        let f = split_fields(b"Subject: a\r\n b\r\nX-Y: z\r\nbroken line\r\n\r\nBody: no");
        assert_eq!(f.len(), 2);
        assert_eq!(f[0].value, b"a b");
        assert!(field(&f, "x-y").is_some());
        assert!(field(&f, "body").is_none());
    }
}
