//! A second, simpler reading of a message, for when the first one fails: mail-parser returned
//! nothing, or some parser panicked. It reads the raw header fields and walks the MIME
//! structure by boundaries alone, so that a message that trips a parser still keeps its sender
//! and every file the unit attached. It also reads addresses from raw header values, which
//! mail-parser loses on some malformed headers (a bad charset token in an encoded word).

use super::walk::{attached_origin, decode_body, file_name, new_file, PartHeaders};
use super::*;

/// What the simple walk found.
#[derive(Default)]
pub(super) struct Found {
    pub files: Vec<IncomingFile>,
    /// Every body text, for link detection: (is html, text).
    pub bodies: Vec<(bool, String)>,
    /// The top-level message's own body, as plain text.
    pub body: String,
    pub parts_seen: usize,
    pub unnamed: usize,
}

/// Walks `raw` (a whole message) by its MIME boundaries.
pub(super) fn walk(raw: &[u8], limits: &IntakeLimits) -> Found {
    let mut found = Found::default();
    part(raw, &[], 0, true, limits, &mut found);
    found
}

fn part(
    raw: &[u8],
    origin: &[String],
    depth: usize,
    top: bool,
    limits: &IntakeLimits,
    found: &mut Found,
) {
    if found.parts_seen >= limits.max_parts || depth > limits.max_depth {
        return;
    }
    found.parts_seen += 1;
    let header_len = header_block_len(raw);
    let fields = split_fields(&raw[..header_len]);
    let body = &raw[header_len..];
    let PartHeaders { ctype, disp, cte } = PartHeaders::read(&fields);
    let value = ctype
        .as_ref()
        .map(|c| c.value.clone())
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| "text/plain".to_string());
    if value.starts_with("multipart/") {
        if let Some(boundary) = ctype.as_ref().and_then(|c| c.param("boundary")) {
            for child in split_multipart(body, boundary.as_bytes()) {
                part(child, origin, depth + 1, top, limits, found);
            }
            return;
        }
    }
    let name = file_name(disp.as_ref(), ctype.as_ref()).and_then(names::clean_name);
    let bytes = decode_body(body, &cte);
    if value == "message/rfc822" && name.is_none() {
        let inner_fields = split_fields(&bytes[..header_block_len(&bytes)]);
        let subject = field(&inner_fields, "subject")
            .map(|s| names::decode_header(&s.value).trim().to_string());
        let inner_origin = [origin, &[attached_origin(subject)]].concat();
        part(&bytes, &inner_origin, depth + 1, false, limits, found);
        return;
    }
    let is_text = value == "text/plain" || value == "text/html";
    match name {
        None if is_text => {
            let text = match ctype.as_ref().and_then(|c| c.param("charset")) {
                Some(label) => match names::charset(label) {
                    Some(enc) => enc.decode_without_bom_handling(&bytes).0.into_owned(),
                    None => names::decode_guess(&bytes),
                },
                None => names::decode_guess(&bytes),
            };
            let is_html = value == "text/html";
            if top && found.body.len() < BODY_TEXT_MAX {
                if !found.body.is_empty() {
                    found.body.push('\n');
                }
                if is_html {
                    found
                        .body
                        .push_str(&mail_parser::decoders::html::html_to_text(&text));
                } else {
                    found.body.push_str(&text);
                }
            }
            found.bodies.push((is_html, text));
        }
        // Report parts of a delivery notice: nothing a unit sent.
        None if value.starts_with("message/") => {}
        name => {
            let name = name.unwrap_or_else(|| {
                found.unnamed += 1;
                format!("未命名附件{}", found.unnamed)
            });
            let mut file = new_file(name, origin.to_vec(), Some(value), bytes, limits);
            file.inline = super::walk::is_inline(&fields, disp.as_ref());
            found.files.push(file);
        }
    }
}

/// The parts between `--boundary` lines. An unterminated last part (a message cut off in
/// transit) is kept as far as it goes.
fn split_multipart<'a>(body: &'a [u8], boundary: &[u8]) -> Vec<&'a [u8]> {
    let mut parts = Vec::new();
    let mut start: Option<usize> = None;
    let mut i = 0;
    while i < body.len() {
        let end = body[i..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(body.len(), |p| i + p);
        let line = body[i..end].strip_suffix(b"\r").unwrap_or(&body[i..end]);
        if let Some(rest) = line
            .strip_prefix(b"--")
            .and_then(|l| l.strip_prefix(boundary))
        {
            if let Some(s) = start {
                // The line break before a boundary belongs to the boundary.
                let mut e = i;
                if e > s && body[e - 1] == b'\n' {
                    e -= 1;
                    if e > s && body[e - 1] == b'\r' {
                        e -= 1;
                    }
                }
                parts.push(&body[s..e]);
            }
            if rest.starts_with(b"--") {
                return parts;
            }
            start = Some((end + 1).min(body.len()));
        }
        i = end + 1;
    }
    if let Some(s) = start {
        parts.push(&body[s..]);
    }
    parts
}

/// The first mailbox of an address header, read from its raw value: `"名" <a@b>`,
/// `=?gbk?B?…?= <a@b>`, `a@b (名)`, `<a@b>`, `a@b`. `None` when no address is there.
pub(super) fn address(value: &[u8]) -> Option<Mailbox> {
    // Every `<…@…>` in order (the innermost bracket of `<x "名" <a@b>`), then a bare token: the
    // first that is an address wins, so a damaged first one does not hide a good second.
    let angles = value.iter().enumerate().filter_map(|(lt, &b)| {
        if b != b'<' {
            return None;
        }
        let len = value[lt + 1..].iter().position(|&c| c == b'>')?;
        let inside = &value[lt + 1..lt + 1 + len];
        (inside.contains(&b'@') && !inside.contains(&b'<'))
            .then(|| (inside, names::decode_header(&value[..lt])))
    });
    let comment = || {
        value
            .iter()
            .position(|&b| b == b'(')
            .and_then(|o| {
                let c = value[o + 1..].iter().position(|&b| b == b')')?;
                Some(names::decode_header(&value[o + 1..o + 1 + c]))
            })
            .unwrap_or_default()
    };
    let bare = value
        .split(|&b| b.is_ascii_whitespace() || matches!(b, b',' | b';' | b'(' | b')'))
        .filter(|t| t.contains(&b'@'))
        .map(|t| (t, comment()));
    angles.chain(bare).find_map(|(address, name)| {
        let address = String::from_utf8_lossy(address)
            .trim_matches(|c: char| c.is_whitespace() || matches!(c, '"' | '\'' | '<' | '>'))
            .to_lowercase();
        if !is_address(&address) {
            return None;
        }
        let name = name
            .trim()
            .trim_matches(|c: char| c == '"' || c.is_whitespace())
            .to_string();
        Some(Mailbox {
            name: (!name.is_empty()).then_some(name),
            address,
        })
    })
}

/// `local@domain`, one `@`, neither side empty, no white space or control characters.
pub(super) fn is_address(a: &str) -> bool {
    match a.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && !domain.is_empty()
                && !domain.contains('@')
                && !a.chars().any(|c| c.is_whitespace() || c.is_control())
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(v: &[u8]) -> Option<(Option<String>, String)> {
        address(v).map(|m| (m.name, m.address))
    }

    #[test]
    fn addresses_in_the_forms_clients_write() {
        assert_eq!(
            addr(b"\"Xiaodian\" <KJJ@Xiaodian.GOV.cn>"),
            Some((Some("Xiaodian".into()), "kjj@xiaodian.gov.cn".into()))
        );
        assert_eq!(
            addr(b"=?utf-8?B?5bCP5bqX5Yy6?= <a@b.cn>"),
            Some((Some("小店区".into()), "a@b.cn".into()))
        );
        assert_eq!(
            addr(b"a@b.cn (Zhang)"),
            Some((Some("Zhang".into()), "a@b.cn".into()))
        );
        assert_eq!(addr(b"<a@b.cn>"), Some((None, "a@b.cn".into())));
        assert_eq!(addr(b"a@b.cn"), Some((None, "a@b.cn".into())));
        // A bad charset token in the name loses the name's meaning, never the address.
        assert_eq!(
            addr(b"=?x-\xff\xfe?B?5byg5LiJ?= <a@b.cn>").map(|a| a.1),
            Some("a@b.cn".into())
        );
        assert_eq!(
            addr(b"\"a, b\" <x@y.cn>, c <z@w.cn>").map(|a| a.1),
            Some("x@y.cn".into())
        );
        assert_eq!(
            addr(b"<junk \"\xe7\xbd\x91\" <mail@service.netease.com>").map(|a| a.1),
            Some("mail@service.netease.com".into())
        );
        assert_eq!(addr(b"undisclosed-recipients:;"), None);
        assert_eq!(addr(b""), None);
        assert_eq!(addr(b"<>"), None);
    }

    #[test]
    fn multipart_split_keeps_an_unterminated_last_part() {
        let body = b"preamble\r\n--b\r\nA\r\n--b\r\nB\r\n--b--\r\nepilogue";
        assert_eq!(split_multipart(body, b"b"), vec![&b"A"[..], &b"B"[..]]);
        let cut = b"--b\nA\n--b\nBB";
        assert_eq!(split_multipart(cut, b"b"), vec![&b"A"[..], &b"BB"[..]]);
    }

    #[test]
    fn the_simple_walk_finds_files_and_bodies() {
        let raw = b"From: a@b.cn\r\nContent-Type: multipart/mixed; boundary=\"xx\"\r\n\r\n--xx\r\nContent-Type: text/html; charset=gbk\r\n\r\n\xc4\xe3\xba\xc3\r\n--xx\r\nContent-Type: application/octet-stream; name=\"=?utf-8?B?57uf6K6h6KGoLnhsc3g=?=\"\r\nContent-Transfer-Encoding: base64\r\n\r\naGVsbG8=\r\n--xx--\r\n";
        let found = walk(raw, &IntakeLimits::default());
        assert_eq!(found.files.len(), 1);
        assert_eq!(found.files[0].name, "统计表.xlsx");
        assert_eq!(found.files[0].bytes, b"hello");
        assert_eq!(found.body.trim(), "你好");
    }
}
