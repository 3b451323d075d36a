//! Reading an mbox (mboxo, mboxrd, and the unquoted mboxcl2 some tools write) one message at a
//! time, so that importing a mailbox export of hundreds of megabytes holds one message in memory,
//! never the file.
//!
//! Where a message starts: a `From ` line whose next line is a header field (`Name: value`).
//! The blank line that writers put before the separator is not required — some exports leave it
//! out — and not enough either: a `From ` line that is followed by text rather than a header is
//! a body line a writer did not quote (mboxcl2 writers never quote), so it stays in the message
//! instead of cutting it in two and making a headless second message. Every message begins with
//! its header, so a real separator is never missed by asking for one. The first `From ` line of
//! the file starts the first message whatever follows it; a UTF-8 BOM before it is skipped.

use std::io::{self, BufRead};

const BOM: &[u8] = b"\xEF\xBB\xBF";

/// Whether a file starting with `head` is an mbox: its first line, after a UTF-8 BOM, is a
/// `From ` line.
pub fn is_mbox(head: &[u8]) -> bool {
    head.strip_prefix(BOM).unwrap_or(head).starts_with(b"From ")
}

/// The messages of an mbox, in order, each as the bytes that were sent: the separator line
/// dropped, `>From ` quoting undone, the blank line before the next separator left out. An
/// empty message (two separators in a row) is skipped.
pub struct Messages<R> {
    input: R,
    /// A line read ahead to decide whether the `From ` line before it starts a message; it is
    /// the next line to take.
    ahead: Option<Vec<u8>>,
    /// Whether the first separator has been found.
    started: bool,
    done: bool,
}

impl<R: BufRead> Messages<R> {
    pub fn new(input: R) -> Self {
        Messages {
            input,
            ahead: None,
            started: false,
            done: false,
        }
    }

    fn line(&mut self) -> io::Result<Option<Vec<u8>>> {
        if let Some(l) = self.ahead.take() {
            return Ok(Some(l));
        }
        let mut line = Vec::new();
        if self.input.read_until(b'\n', &mut line)? == 0 {
            return Ok(None);
        }
        Ok(Some(line))
    }

    /// Skips to the first `From ` line; whatever comes before it is not a message.
    fn start(&mut self) -> io::Result<bool> {
        let mut first = true;
        while let Some(line) = self.line()? {
            let line = if first {
                line.strip_prefix(BOM).unwrap_or(&line)
            } else {
                &line[..]
            };
            first = false;
            if line.starts_with(b"From ") {
                return Ok(true);
            }
        }
        Ok(false)
    }

    fn next_message(&mut self) -> io::Result<Option<Vec<u8>>> {
        if !self.started {
            self.started = true;
            if !self.start()? {
                self.done = true;
                return Ok(None);
            }
        }
        let mut message = Vec::new();
        loop {
            let Some(line) = self.line()? else {
                self.done = true;
                break;
            };
            if line.starts_with(b"From ") {
                self.ahead = self.line()?;
                if self.ahead.as_deref().is_some_and(is_field_line) {
                    if message.is_empty() {
                        continue;
                    }
                    break;
                }
                message.extend_from_slice(&line);
                continue;
            }
            message.extend_from_slice(unquoted(&line));
        }
        // The blank line before each separator belongs to the mbox, not the message.
        if message.ends_with(b"\r\n\r\n") {
            message.truncate(message.len() - 2);
        } else if message.ends_with(b"\n\n") {
            message.pop();
        }
        // A large message grew by doubling; hand it on at its own size.
        message.shrink_to_fit();
        Ok((!message.is_empty()).then_some(message))
    }
}

impl<R: BufRead> Iterator for Messages<R> {
    type Item = io::Result<Vec<u8>>;

    fn next(&mut self) -> Option<Self::Item> {
        while !self.done {
            match self.next_message() {
                Ok(Some(m)) => return Some(Ok(m)),
                Ok(None) => {}
                Err(e) => {
                    self.done = true;
                    return Some(Err(e));
                }
            }
        }
        None
    }
}

/// `>From `, `>>From `, …: one `>` less (mboxrd; an mboxo `>From ` is read the same way).
fn unquoted(line: &[u8]) -> &[u8] {
    match line.iter().position(|&b| b != b'>') {
        Some(n) if n > 0 && line[n..].starts_with(b"From ") => &line[1..],
        _ => line,
    }
}

/// `Name: value` (RFC 5322: a name of printable ASCII without spaces, then a colon).
fn is_field_line(line: &[u8]) -> bool {
    match line.iter().position(|&b| b == b':') {
        Some(p) if p > 0 => line[..p].iter().all(|&b| (33..=126).contains(&b)),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(mbox: &[u8]) -> Vec<Vec<u8>> {
        Messages::new(mbox).collect::<io::Result<Vec<_>>>().unwrap()
    }

    #[test]
    fn splits_on_from_lines_after_a_blank_line_and_unquotes() {
        let mbox = b"From a@b Mon Jan  1 00:00:00 2024\nSubject: one\n\n>From here\n>>From there\nbody\n\nFrom c@d Mon Jan  1 00:00:00 2024\nSubject: two\n\nx\n";
        let m = split(mbox);
        assert_eq!(m.len(), 2);
        assert_eq!(
            m[0],
            b"Subject: one\n\nFrom here\n>From there\nbody\n".to_vec()
        );
        assert_eq!(m[1], b"Subject: two\n\nx\n".to_vec());
    }

    #[test]
    fn a_from_line_without_a_blank_line_before_it_starts_a_message_when_a_header_follows() {
        let mbox = b"From a@b Mon Jan  1 00:00:00 2024\nSubject: one\n\nlast line\nFrom c@d Mon Jan  1 00:00:00 2024\nReturn-Path: <c@d>\nSubject: two\n\nx\n";
        let m = split(mbox);
        assert_eq!(
            m,
            [
                b"Subject: one\n\nlast line\n".to_vec(),
                b"Return-Path: <c@d>\nSubject: two\n\nx\n".to_vec()
            ]
        );
    }

    #[test]
    fn a_from_line_followed_by_text_is_body_even_after_a_blank_line() {
        // An unquoted body line (mboxcl2, or a careless writer): cutting here would lose the
        // end of the message and make a second one without a header.
        let mbox = b"From a@b Mon Jan  1 00:00:00 2024\nSubject: one\n\nDear all,\n\nFrom the bureau: greetings\nsee attached\n\nFrom x\n";
        let m = split(mbox);
        assert_eq!(
            m,
            [b"Subject: one\n\nDear all,\n\nFrom the bureau: greetings\nsee attached\n\nFrom x\n"
                .to_vec()]
        );
    }

    #[test]
    fn a_bom_before_the_first_separator_is_skipped() {
        let mbox = b"\xEF\xBB\xBFFrom a@b Mon Jan  1 00:00:00 2024\r\nSubject: one\r\n\r\nx\r\n";
        assert!(is_mbox(mbox));
        assert!(!is_mbox(b"\xEF\xBB\xBFSubject: x\r\n"));
        assert_eq!(split(mbox), [b"Subject: one\r\n\r\nx\r\n".to_vec()]);
    }

    #[test]
    fn crlf_mboxes_keep_their_line_ends_and_lose_only_the_separator_blank() {
        let one = b"From: a@b\r\nSubject: one\r\n\r\nbody\r\n>From quoted\r\n".to_vec();
        let two = b"From: c@d\r\nSubject: two\r\n\r\nend\r\n".to_vec();
        let mut mbox = b"From a@b Mon Jan  1 00:00:00 2024\r\n".to_vec();
        mbox.extend_from_slice(&one);
        mbox.extend_from_slice(b"\r\nFrom c@d Mon Jan  1 00:00:00 2024\r\n");
        mbox.extend_from_slice(&two);
        mbox.extend_from_slice(b"\r\n");
        let m = split(&mbox);
        assert_eq!(m.len(), 2);
        assert_eq!(
            m[0],
            b"From: a@b\r\nSubject: one\r\n\r\nbody\r\nFrom quoted\r\n".to_vec()
        );
        assert_eq!(m[1], two);
    }

    #[test]
    fn empty_messages_are_not_messages() {
        let mbox = b"From a@b Mon Jan  1 00:00:00 2024\nFrom b@c Mon Jan  1 00:00:00 2024\nSubject: only\n\nx";
        assert_eq!(split(mbox), [b"Subject: only\n\nx".to_vec()]);
        assert!(split(b"").is_empty());
        assert!(split(b"From a@b Mon Jan  1 00:00:00 2024\n").is_empty());
    }

    #[test]
    fn a_read_error_ends_the_messages_with_the_error() {
        struct Broken;
        impl io::Read for Broken {
            fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
                Err(io::Error::other("disk"))
            }
        }
        let input = io::BufReader::new(io::Read::chain(
            &b"From a@b Mon Jan  1 00:00:00 2024\nSubject: one\n\nx\n"[..],
            Broken,
        ));
        let got: Vec<io::Result<Vec<u8>>> = Messages::new(input).collect();
        assert_eq!(got.len(), 1);
        assert!(got[0].is_err());
    }
}
