//! doc and wps: the Word 97 binary format inside an OLE compound file ([MS-DOC]). The text is
//! found through the FIB → CLX → piece table; when that is missing or damaged, UTF-16LE runs of
//! Chinese text are scanned out of the WordDocument stream instead, which is how Chinese text is
//! stored in practice.

use super::{ReportError, ReportFormat};
use std::io::{Cursor, Read};

const FIB_IDENT: u16 = 0xA5EC;
const F_ENCRYPTED: u16 = 0x0100;
const F_WHICH_TBL_STM: u16 = 0x0200;
/// Index of fcClx/lcbClx in FibRgFcLcb97.
const CLX_INDEX: usize = 33;
/// Shortest run the fallback scan keeps: shorter ones are mostly binary that happens to decode.
const MIN_RUN: usize = 4;

pub(super) fn text(bytes: &[u8], format: ReportFormat) -> Result<String, ReportError> {
    let corrupt = |d: &str| ReportError::corrupt(format, d);
    let mut ole =
        cfb::CompoundFile::open(Cursor::new(bytes)).map_err(|_| corrupt("OLE 结构无效"))?;
    if ole.exists("/EncryptedPackage") || ole.exists("/EncryptionInfo") {
        return Err(ReportError::Encrypted);
    }
    let limit = bytes.len() as u64;
    let mut read_stream = |name: &str| -> Option<Vec<u8>> {
        let mut s = ole.open_stream(name).ok()?;
        let mut buf = Vec::new();
        // A stream cannot hold more than the file; the cap guards a looping sector chain.
        (&mut s).take(limit).read_to_end(&mut buf).ok()?;
        Some(buf)
    };
    let Some(word) = read_stream("/WordDocument") else {
        return Err(corrupt("不是 Word 文档"));
    };
    let ident = u16_at(&word, 0);
    let flags = u16_at(&word, 0x0A).unwrap_or(0);
    if ident == Some(FIB_IDENT) && flags & F_ENCRYPTED != 0 {
        return Err(ReportError::Encrypted);
    }
    let table_name = if flags & F_WHICH_TBL_STM != 0 {
        "/1Table"
    } else {
        "/0Table"
    };
    if ident == Some(FIB_IDENT) {
        if let Some(table) = read_stream(table_name) {
            if let Some(t) = piece_table_text(&word, &table) {
                return Ok(t);
            }
        }
    }
    Ok(scan_utf16(&word))
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

/// The main document's text (CPs 0..ccpText) from the piece table. `None` when any structure
/// is out of bounds, so the caller falls back to the scan.
fn piece_table_text(word: &[u8], table: &[u8]) -> Option<String> {
    // FibBase (32 bytes), then three variable arrays, each preceded by its count.
    let csw = u16_at(word, 32)? as usize;
    let lw_at = 34 + csw * 2;
    let cslw = u16_at(word, lw_at)? as usize;
    let rg_lw = lw_at + 2;
    let ccp_text = if cslw > 3 {
        u32_at(word, rg_lw + 12)?
    } else {
        0
    };
    let fc_at = rg_lw + cslw * 4;
    let cb_fc_lcb = u16_at(word, fc_at)? as usize;
    if cb_fc_lcb <= CLX_INDEX {
        return None;
    }
    let fc_clx = u32_at(word, fc_at + 2 + CLX_INDEX * 8)? as usize;
    let lcb_clx = u32_at(word, fc_at + 2 + CLX_INDEX * 8 + 4)? as usize;
    let clx = table.get(fc_clx..fc_clx.checked_add(lcb_clx)?)?;

    // Clx: any number of Prc (0x01, i16 size, grpprl), then one Pcdt (0x02, u32 size, PlcPcd).
    let mut at = 0;
    let plc = loop {
        match *clx.get(at)? {
            0x01 => at += 3 + u16_at(clx, at + 1)? as usize,
            0x02 => {
                let lcb = u32_at(clx, at + 1)? as usize;
                break clx.get(at + 5..(at + 5).checked_add(lcb)?)?;
            }
            _ => return None,
        }
    };
    if plc.len() < 16 || (plc.len() - 4) % 12 != 0 {
        return None;
    }
    let pieces = (plc.len() - 4) / 12;
    // Pieces may overlap or repeat in a hostile file; real text never has more characters than
    // its stream has bytes, so that caps the output at the input's size.
    let budget = word.len();
    let mut raw: Vec<u16> = Vec::new();
    for i in 0..pieces {
        if raw.len() >= budget {
            break;
        }
        let cp_start = u32_at(plc, i * 4)?;
        let cp_end = u32_at(plc, (i + 1) * 4)?;
        if cp_end <= cp_start {
            continue;
        }
        if ccp_text > 0 && cp_start >= ccp_text {
            break;
        }
        let wanted = if ccp_text > 0 {
            cp_end.min(ccp_text) - cp_start
        } else {
            cp_end - cp_start
        } as usize;
        let fc = u32_at(plc, 4 * (pieces + 1) + i * 8 + 2)?;
        if fc & 0x4000_0000 != 0 {
            // "Compressed": one byte per character, code page 1252, at fc / 2.
            let start = ((fc & 0x3FFF_FFFF) / 2) as usize;
            let end = start.saturating_add(wanted).min(word.len());
            let s = encoding_rs::WINDOWS_1252
                .decode_without_bom_handling(word.get(start..end)?)
                .0;
            raw.extend(s.encode_utf16());
        } else {
            let start = fc as usize;
            let end = start
                .saturating_add(wanted.saturating_mul(2))
                .min(word.len());
            let b = word.get(start..end)?;
            raw.extend(b.chunks_exact(2).map(|c| u16::from_le_bytes([c[0], c[1]])));
        }
    }
    Some(clean(&String::from_utf16_lossy(&raw)))
}

/// Word's in-text control characters: paragraph and cell marks become line breaks and tabs,
/// field instructions (between 0x13 and 0x14) are dropped and their results kept, object anchors
/// and other controls vanish.
fn clean(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    // One entry per open field: true while still in its instruction part.
    let mut fields: Vec<bool> = Vec::new();
    // How many of them are in their instruction part; kept so each character costs O(1).
    let mut in_instr = 0usize;
    for c in raw.chars() {
        match c {
            '\u{13}' => {
                fields.push(true);
                in_instr += 1;
                continue;
            }
            '\u{14}' => {
                if let Some(top) = fields.last_mut() {
                    if *top {
                        *top = false;
                        in_instr -= 1;
                    }
                }
                continue;
            }
            '\u{15}' => {
                if fields.pop() == Some(true) {
                    in_instr -= 1;
                }
                continue;
            }
            _ => {}
        }
        if in_instr > 0 {
            continue;
        }
        match c {
            '\r' | '\u{0B}' | '\u{0C}' => out.push('\n'),
            '\u{07}' | '\t' => out.push('\t'),
            '\u{1E}' => out.push('-'),
            '\u{A0}' => out.push(' '),
            c if (c as u32) < 0x20 => {}
            c => out.push(c),
        }
    }
    out
}

fn is_cjk(u: u16) -> bool {
    matches!(u, 0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xF900..=0xFAFF)
}

fn is_texty(u: u16) -> bool {
    is_cjk(u)
        || matches!(u, 0x20..=0x7E | 0x0D | 0x3000..=0x303F | 0xFF00..=0xFFEF | 0x2010..=0x2027)
}

/// Fallback: UTF-16LE runs holding Chinese, at both byte alignments; the alignment that yields
/// more Chinese wins.
fn scan_utf16(stream: &[u8]) -> String {
    let mut best = (0usize, String::new());
    for align in 0..2 {
        let units: Vec<u16> = stream
            .get(align..)
            .unwrap_or(&[])
            .chunks_exact(2)
            .map(|c| u16::from_le_bytes([c[0], c[1]]))
            .collect();
        let mut out: Vec<u16> = Vec::new();
        let mut cjk_total = 0;
        for run in units.split(|&u| !is_texty(u)) {
            let cjk = run.iter().filter(|&&u| is_cjk(u)).count();
            if run.len() >= MIN_RUN && cjk >= 2 {
                out.extend_from_slice(run);
                out.push(u16::from(b'\r'));
                cjk_total += cjk;
            }
        }
        if cjk_total > best.0 {
            best = (cjk_total, clean(&String::from_utf16_lossy(&out)));
        }
    }
    best.1
}
