//! pdf: the text layer, read by `pdf-extract` over lopdf. Both recurse over the file's structure
//! and can panic (pdf-extract panics on CID encodings it does not know, such as UniGB-UCS2-H)
//! or spin on malformed input, so they run on their own thread with a large stack, inside
//! `catch_unwind`, and are waited for only until the deadline.

use super::{ExtractLimits, ReportError, ReportFormat};
use pdf_extract::{Document, PlainTextOutput};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::mpsc;

/// Deep recursion in the parser is legitimate for nested form objects; this is address space
/// reserved, not memory used.
const STACK_BYTES: usize = 256 << 20;

/// The text layer, and whether all of it could be decoded. A document that parses but whose
/// fonts defeat the extractor is not corrupt: it comes back with `complete == false`.
pub(super) struct PdfText {
    pub text: String,
    pub complete: bool,
}

pub(super) fn text(bytes: &[u8], limits: &ExtractLimits) -> Result<PdfText, ReportError> {
    let owned = bytes.to_vec();
    let (tx, rx) = mpsc::channel();
    let spawned = std::thread::Builder::new()
        .name("report-pdf".into())
        .stack_size(STACK_BYTES)
        .spawn(move || {
            let result = catch_unwind(AssertUnwindSafe(|| read(&owned)))
                .unwrap_or_else(|_| Err(ReportError::corrupt(ReportFormat::Pdf, "无法解析")));
            // The receiver may have given up already; nothing to do then.
            let _ = tx.send(result);
        });
    if spawned.is_err() {
        return Err(ReportError::Internal);
    }
    // On timeout the thread is left to finish on its own (Rust cannot stop a thread); the
    // verdict does not wait for it.
    match rx.recv_timeout(limits.pdf_timeout) {
        Ok(r) => r,
        Err(mpsc::RecvTimeoutError::Timeout) => Err(ReportError::Timeout),
        Err(mpsc::RecvTimeoutError::Disconnected) => Err(ReportError::Internal),
    }
}

fn read(bytes: &[u8]) -> Result<PdfText, ReportError> {
    // lopdf tries the empty user password while loading, so a file that only restricts
    // printing or copying is readable; one that stays encrypted needs a password we lack.
    let doc = match Document::load_mem(bytes) {
        Ok(d) => d,
        Err(_) if declares_encryption(bytes) => return Err(ReportError::Encrypted),
        Err(e) => {
            return Err(ReportError::corrupt(
                ReportFormat::Pdf,
                format!("无法解析：{e}"),
            ))
        }
    };
    if doc.is_encrypted() {
        return Err(ReportError::Encrypted);
    }
    if doc.get_pages().is_empty() {
        return Err(ReportError::corrupt(ReportFormat::Pdf, "没有页面"));
    }
    let mut text = String::new();
    let complete = {
        let mut out = PlainTextOutput::new(&mut text);
        matches!(
            catch_unwind(AssertUnwindSafe(|| pdf_extract::output_doc(&doc, &mut out))),
            Ok(Ok(()))
        )
    };
    Ok(PdfText { text, complete })
}

fn declares_encryption(bytes: &[u8]) -> bool {
    bytes.windows(8).any(|w| w == b"/Encrypt")
}
