//! IMAP's modified UTF-7 for folder names (RFC 3501 §5.1.3): how 垃圾邮件 travels as
//! `&V4NXPpCuTvY-`. Configuration and the stored `source` use the name a person sees; only the
//! wire uses this form.
//!
//! Written here rather than taken from crates.io: the one crate for it panics on malformed input
//! and drags in regex and an old base64, for about sixty lines of bit shuffling.

/// Why a name is not valid modified UTF-7.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Utf7Error {
    #[error("byte {0:#04x} cannot appear in an IMAP folder name")]
    NotPrintable(u8),
    #[error("an encoded run (after &) is not closed with -")]
    Unterminated,
    #[error("{0:?} is not a character of modified base64")]
    BadBase64(char),
    #[error("an encoded run does not end on a whole UTF-16 character")]
    BadLength,
    #[error("an encoded run is not valid UTF-16")]
    BadUtf16,
}

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,";

fn printable(c: char) -> bool {
    ('\u{20}'..='\u{7e}').contains(&c)
}

/// The name as IMAP wants it on the wire.
pub fn encode(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut run: Vec<u16> = Vec::new();
    for c in name.chars() {
        if printable(c) {
            flush(&mut run, &mut out);
            out.push(c);
            if c == '&' {
                out.push('-');
            }
        } else {
            let mut buf = [0u16; 2];
            run.extend_from_slice(c.encode_utf16(&mut buf));
        }
    }
    flush(&mut run, &mut out);
    out
}

fn flush(run: &mut Vec<u16>, out: &mut String) {
    if run.is_empty() {
        return;
    }
    out.push('&');
    let (mut bits, mut n) = (0u32, 0u32);
    for unit in run.drain(..) {
        bits = (bits << 16) | u32::from(unit);
        n += 16;
        while n >= 6 {
            n -= 6;
            out.push(ALPHABET[((bits >> n) & 0x3f) as usize] as char);
        }
        bits &= (1 << n) - 1;
    }
    if n > 0 {
        // No '=' padding: the leftover bits are zero-filled into one last character.
        out.push(ALPHABET[((bits << (6 - n)) & 0x3f) as usize] as char);
    }
    out.push('-');
}

/// The name a person sees, from the wire form. Strict about what RFC 3501 forbids, so that a
/// name which merely contains `&` is never mistaken for an encoded one.
pub fn decode(wire: &str) -> Result<String, Utf7Error> {
    let mut out = String::with_capacity(wire.len());
    let mut chars = wire.chars();
    while let Some(c) = chars.next() {
        if !printable(c) {
            let mut b = [0u8; 4];
            return Err(Utf7Error::NotPrintable(c.encode_utf8(&mut b).as_bytes()[0]));
        }
        if c != '&' {
            out.push(c);
            continue;
        }
        let (mut bits, mut n) = (0u32, 0u32);
        let mut units: Vec<u16> = Vec::new();
        loop {
            let Some(c) = chars.next() else {
                return Err(Utf7Error::Unterminated);
            };
            if c == '-' {
                break;
            }
            let v = ALPHABET
                .iter()
                .position(|&a| a as char == c)
                .ok_or(Utf7Error::BadBase64(c))? as u32;
            bits = (bits << 6) | v;
            n += 6;
            if n >= 16 {
                n -= 16;
                units.push((bits >> n) as u16);
                bits &= (1 << n) - 1;
            }
        }
        if units.is_empty() && n == 0 {
            out.push('&');
            continue;
        }
        // What is left must be the zero fill of the last character, never a partial unit.
        if n >= 6 || bits != 0 || units.is_empty() {
            return Err(Utf7Error::BadLength);
        }
        out.push_str(&String::from_utf16(&units).map_err(|_| Utf7Error::BadUtf16)?);
    }
    Ok(out)
}

/// A configured name, as a person sees it. A name given in its wire form (copied from a log or
/// another client, `&V4NXPpCuTvY-`) is read as what it stands for; anything else is taken as
/// written.
pub fn from_config(name: &str) -> String {
    match decode(name) {
        Ok(decoded) if decoded != name && !decoded.is_ascii() => decoded,
        _ => name.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_163_junk_folder() {
        assert_eq!(encode("垃圾邮件"), "&V4NXPpCuTvY-");
        assert_eq!(decode("&V4NXPpCuTvY-").unwrap(), "垃圾邮件");
    }

    #[test]
    fn ascii_names_are_themselves_except_the_ampersand() {
        assert_eq!(encode("INBOX"), "INBOX");
        assert_eq!(decode("INBOX").unwrap(), "INBOX");
        assert_eq!(encode("&"), "&-");
        assert_eq!(decode("&-").unwrap(), "&");
        assert_eq!(encode("AT&T Reports"), "AT&-T Reports");
        assert_eq!(decode("AT&-T Reports").unwrap(), "AT&T Reports");
    }

    #[test]
    fn mixed_names_and_the_rfc_example() {
        // RFC 3501 §5.1.3's own example.
        assert_eq!(
            encode("~peter/mail/台北/日本語"),
            "~peter/mail/&U,BTFw-/&ZeVnLIqe-"
        );
        assert_eq!(
            decode("~peter/mail/&U,BTFw-/&ZeVnLIqe-").unwrap(),
            "~peter/mail/台北/日本語"
        );
        assert_eq!(encode("2023年报送"), "2023&XnRipZAB-");
        assert_eq!(encode("Déjà vu"), "D&AOk-j&AOA- vu");
        assert_eq!(encode("已发送 & 草稿"), "&XfJT0ZAB- &- &g0l6Pw-");
        // Outside the BMP: a surrogate pair inside one run.
        assert_eq!(decode(&encode("报送📎")).unwrap(), "报送📎");
    }

    #[test]
    fn round_trips() {
        for s in [
            "",
            "INBOX",
            "垃圾邮件",
            "&&",
            "a&b&-c",
            "草稿箱/2023",
            "Отправленные",
            "\u{7f}\t",
        ] {
            assert_eq!(decode(&encode(s)).unwrap(), s, "{s:?}");
        }
    }

    #[test]
    fn malformed_wire_names_are_errors_not_panics() {
        assert_eq!(decode("&V4NX"), Err(Utf7Error::Unterminated));
        assert_eq!(decode("&V4N/-"), Err(Utf7Error::BadBase64('/')));
        assert_eq!(decode("&V4NXP-"), Err(Utf7Error::BadLength));
        assert_eq!(decode("&V4NXPpCuTvZ-"), Err(Utf7Error::BadLength));
        assert_eq!(decode("垃圾"), Err(Utf7Error::NotPrintable(0xe5)));
        // A lone high surrogate.
        assert_eq!(decode("&2D0-"), Err(Utf7Error::BadUtf16));
    }

    #[test]
    fn configured_names_may_be_given_in_either_form() {
        assert_eq!(from_config("垃圾邮件"), "垃圾邮件");
        assert_eq!(from_config("&V4NXPpCuTvY-"), "垃圾邮件");
        assert_eq!(from_config("INBOX"), "INBOX");
        // Plain names with an ampersand stay as written.
        assert_eq!(from_config("R&D"), "R&D");
        assert_eq!(from_config("&-"), "&-");
    }
}
