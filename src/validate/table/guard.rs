//! Cheap structural checks that run before calamine sees a file, because some hostile files make
//! calamine allocate a cell grid as large as the coordinates they claim: an allocation failure
//! aborts the process, which `catch_unwind` cannot stop. Each check reads only the container
//! (zip central directory, OLE sectors, BIFF record headers, ODS row/cell tags) and estimates
//! what calamine would build; the file is refused when that exceeds the limits.

use super::template::TableLimits;
use crate::intake::{zip_directory, ZipEntry, DAMAGED_FILE};
use std::io::Read;

/// Why a file is refused, in words a unit can read.
pub type Refusal = String;

const MAX_ZIP_ENTRIES: usize = 10_000;
/// Bytes calamine spends per grid cell: a `Data` (32) plus a formula `String` (24).
const BYTES_PER_CELL: u64 = 56;

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(at..at + 2)?.try_into().ok()?))
}
fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}
fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

fn mib(n: u64) -> u64 {
    n.div_ceil(1024 * 1024)
}

fn broken_zip() -> Refusal {
    DAMAGED_FILE.to_string()
}

/// The central directory as the zip crate reads it (which then enforces the declared sizes
/// while inflating, so the declared sizes are a true bound).
fn zip_entries(b: &[u8]) -> Option<Vec<ZipEntry>> {
    let dir = zip_directory(b, MAX_ZIP_ENTRIES)?;
    (!dir.entries.is_empty()).then_some(dir.entries)
}

fn check_zip_sizes(entries: &[ZipEntry], limits: &TableLimits) -> Result<(), Refusal> {
    let total = entries
        .iter()
        .try_fold(0u64, |acc, e| acc.checked_add(e.uncompressed));
    match total {
        Some(t) if t <= limits.max_unzipped_bytes => Ok(()),
        _ => Err(format!(
            "文件解压后超过{}MB的上限，无法读取",
            mib(limits.max_unzipped_bytes)
        )),
    }
}

/// An xlsx: a readable zip whose parts together stay under the limit once inflated.
pub fn check_xlsx(b: &[u8], limits: &TableLimits) -> Result<(), Refusal> {
    let entries = zip_entries(b).ok_or_else(broken_zip)?;
    check_zip_sizes(&entries, limits)
}

/// An ods: as an xlsx, and the cells that `number-rows-repeated`/`number-columns-repeated`
/// would make calamine materialise stay under the memory budget.
pub fn check_ods(b: &[u8], limits: &TableLimits) -> Result<(), Refusal> {
    let entries = zip_entries(b).ok_or_else(broken_zip)?;
    check_zip_sizes(&entries, limits)?;
    let Some(content) = entries.iter().find(|e| e.name == b"content.xml") else {
        // calamine reports the missing part itself.
        return Ok(());
    };
    let xml = inflate(b, content).ok_or_else(broken_zip)?;
    let cells = ods_cell_estimate(&xml);
    if cells.saturating_mul(BYTES_PER_CELL) > limits.max_unzipped_bytes {
        return Err(too_many_cells(limits));
    }
    Ok(())
}

fn too_many_cells(limits: &TableLimits) -> Refusal {
    format!(
        "表格声明的单元格范围过大（展开后超过{}MB的上限），无法读取；请删除多余的行列后重新保存",
        mib(limits.max_unzipped_bytes)
    )
}

fn inflate(b: &[u8], e: &ZipEntry) -> Option<Vec<u8>> {
    let lh = usize::try_from(e.local_offset).ok()?;
    if !b.get(lh..)?.starts_with(b"PK\x03\x04") {
        return None;
    }
    let n = usize::from(u16_at(b, lh + 26)?);
    let x = usize::from(u16_at(b, lh + 28)?);
    let start = lh + 30 + n + x;
    let data = b.get(start..start.checked_add(usize::try_from(e.compressed).ok()?)?)?;
    let mut out = Vec::new();
    match e.method {
        0 => out.extend_from_slice(&data[..data.len().min(e.uncompressed as usize)]),
        8 => {
            flate2::read::DeflateDecoder::new(data)
                .take(e.uncompressed)
                .read_to_end(&mut out)
                .ok()?;
        }
        _ => return None,
    }
    Some(out)
}

/// Cells calamine's ODS reader would hold for `content.xml`, over all tables: each row element
/// up to its last non-empty cell, then the non-empty rows' span times the widest row (the
/// rectangle it builds, repeats expanded). Works on tags only; text content is never looked at.
fn ods_cell_estimate(xml: &[u8]) -> u64 {
    const MAX_ROWS: u64 = 1_048_576;
    const MAX_COLS: u64 = 16_384;
    #[derive(Default)]
    struct Table {
        rows: u64,
        first: Option<u64>,
        last_end: u64,
        width: u64,
        raw: u64,
    }
    impl Table {
        fn cells(&self) -> u64 {
            let span = self.first.map_or(0, |f| self.last_end.saturating_sub(f));
            self.raw.saturating_add(span.saturating_mul(self.width))
        }
    }
    let attr = |tag: &[u8], name: &[u8]| -> Option<u64> {
        let at = tag.windows(name.len()).position(|w| w == name)?;
        let rest = &tag[at + name.len()..];
        let rest = rest
            .strip_prefix(b"=\"")
            .or_else(|| rest.strip_prefix(b"='"))?;
        let digits: Vec<u8> = rest
            .iter()
            .copied()
            .take_while(u8::is_ascii_digit)
            .collect();
        std::str::from_utf8(&digits).ok()?.parse::<u64>().ok()
    };
    let mut total = 0u64;
    let mut t = Table::default();
    let (mut row_rep, mut col, mut width) = (1u64, 0u64, 0u64);
    let mut i = 0;
    while let Some(off) = xml[i..].iter().position(|&c| c == b'<') {
        let s = i + off;
        let e = match xml[s..].iter().position(|&c| c == b'>') {
            Some(e) => s + e,
            None => break,
        };
        let tag = &xml[s + 1..e];
        // Skip the first byte: a closing tag starts with the `/` that ends names elsewhere.
        let name_end = tag
            .iter()
            .skip(1)
            .position(|c| c.is_ascii_whitespace() || *c == b'/')
            .map_or(tag.len(), |p| p + 1);
        let name = &tag[..name_end];
        let self_closing = tag.ends_with(b"/");
        match name {
            b"table:table" => {
                total = total.saturating_add(t.cells());
                t = Table::default();
            }
            b"table:table-row" => {
                row_rep = attr(tag, b"table:number-rows-repeated").unwrap_or(1).max(1);
                col = 0;
                width = 0;
                if self_closing {
                    t.rows = (t.rows + row_rep).min(MAX_ROWS);
                }
            }
            b"table:table-cell" | b"table:covered-table-cell" => {
                let rep = attr(tag, b"table:number-columns-repeated").unwrap_or(1);
                col = col.saturating_add(rep).min(MAX_COLS);
                let has_value = tag.windows(17).any(|w| w == b"office:value-type")
                    || tag.windows(13).any(|w| w == b"table:formula");
                if has_value || !self_closing {
                    width = col;
                }
            }
            b"/table:table-row" => {
                let rep = row_rep.min(MAX_ROWS - t.rows);
                t.raw = t.raw.saturating_add(width);
                if width > 0 {
                    t.first.get_or_insert(t.rows);
                    t.last_end = t.rows + rep;
                    t.width = t.width.max(width);
                }
                t.rows += rep;
            }
            _ => {}
        }
        i = e + 1;
    }
    total.saturating_add(t.cells())
}

/// An xls (or WPS et): the OLE container is sound, and no worksheet claims or spreads its cells
/// over a grid larger than the budget.
pub fn check_xls(b: &[u8], limits: &TableLimits) -> Result<(), Refusal> {
    let broken = || {
        "文件结构已损坏（不是有效的Excel 97-2003文件），请用Excel或WPS重新保存后再发送".to_string()
    };
    let stream = cfb_stream(b, &["Workbook", "Book"]).ok_or_else(broken)?;
    let budget = limits.max_unzipped_bytes / BYTES_PER_CELL;
    for cells in biff_grid_sizes(&stream) {
        if cells > budget {
            return Err(too_many_cells(limits));
        }
    }
    Ok(())
}

/// The grid sizes calamine would reserve or build per BIFF substream: the DIMENSIONS record's
/// rectangle and the bounding box of the cell records.
fn biff_grid_sizes(s: &[u8]) -> Vec<u64> {
    #[derive(Default)]
    struct BBox {
        min_r: u32,
        max_r: u32,
        min_c: u32,
        max_c: u32,
        any: bool,
        dims: u64,
    }
    impl BBox {
        fn add(&mut self, r: u32, c: u32) {
            if !self.any {
                (self.min_r, self.max_r, self.min_c, self.max_c, self.any) = (r, r, c, c, true);
            }
            self.min_r = self.min_r.min(r);
            self.max_r = self.max_r.max(r);
            self.min_c = self.min_c.min(c);
            self.max_c = self.max_c.max(c);
        }
        fn cells(&self) -> u64 {
            let grid = if self.any {
                u64::from(self.max_r - self.min_r + 1) * u64::from(self.max_c - self.min_c + 1)
            } else {
                0
            };
            grid.max(self.dims)
        }
    }
    let mut out = Vec::new();
    let mut cur = BBox::default();
    let mut p = 0;
    while p + 4 <= s.len() {
        let typ = u16::from_le_bytes([s[p], s[p + 1]]);
        let len = usize::from(u16::from_le_bytes([s[p + 2], s[p + 3]]));
        let d = &s[p + 4..(p + 4 + len).min(s.len())];
        p += 4 + len;
        let rc = |d: &[u8]| Some((u32::from(u16_at(d, 0)?), u32::from(u16_at(d, 2)?)));
        match typ {
            0x0809 => out.push(std::mem::take(&mut cur).cells()),
            0x0200 => {
                // Mirrors calamine's parse_dimensions, including the wrap it would hit when the
                // last row is before the first.
                let (rf, rl, mut cf, cl) = match d.len() {
                    10 => (
                        u32::from(u16_at(d, 0).unwrap_or(0)),
                        u32::from(u16_at(d, 2).unwrap_or(0)),
                        u32::from(u16_at(d, 4).unwrap_or(0)),
                        u32::from(u16_at(d, 6).unwrap_or(0)),
                    ),
                    14 | 16 => (
                        u32_at(d, 0).unwrap_or(0),
                        u32_at(d, 4).unwrap_or(0),
                        u32::from(u16_at(d, 8).unwrap_or(0)),
                        u32::from(u16_at(d, 10).unwrap_or(0)),
                    ),
                    _ => continue,
                };
                if 0xFF < cf || cl < cf {
                    cf = 0;
                }
                if rl >= 1 && cl >= 1 {
                    cur.dims = if rl - 1 < rf || cl - 1 < cf {
                        u64::MAX
                    } else {
                        u64::from(rl - rf) * u64::from(cl - cf)
                    };
                }
            }
            0x0203 | 0x0204 | 0x00D6 | 0x0205 | 0x027E | 0x00FD | 0x0006 => {
                if let Some((r, c)) = rc(d) {
                    cur.add(r, c);
                }
            }
            0x00BD => {
                if let (Some((r, c)), Some(last)) = (rc(d), d.len().checked_sub(2)) {
                    cur.add(r, c);
                    if let Some(lc) = u16_at(d, last) {
                        cur.add(r, u32::from(lc));
                    }
                }
            }
            _ => {}
        }
    }
    out.push(cur.cells());
    out
}

/// One stream of an OLE compound file, following the FAT (or mini FAT) chains with every
/// chain bounded by the number of sectors, so a cycle ends the read instead of looping.
fn cfb_stream(b: &[u8], names: &[&str]) -> Option<Vec<u8>> {
    const END: u32 = 0xFFFF_FFFE;
    if b.len() < 512 || !b.starts_with(b"\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1") {
        return None;
    }
    let ss: usize = match u16_at(b, 30)? {
        9 => 512,
        12 => 4096,
        _ => return None,
    };
    if u16_at(b, 32)? != 6 {
        return None;
    }
    let v3 = u16_at(b, 26)? == 3;
    let n_sectors = b.len() / ss + 1;
    let sector = |id: u32| -> Option<&[u8]> {
        let start = (id as usize).checked_add(1)?.checked_mul(ss)?;
        b.get(start..(start + ss).min(b.len()))
    };
    let words = |d: &[u8]| -> Vec<u32> {
        d.chunks_exact(4)
            .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect()
    };

    let mut difat: Vec<u32> = words(&b[76..512]);
    let mut next = u32_at(b, 68)?;
    let mut hops = 0;
    while next < 0xFFFF_FFFA {
        hops += 1;
        if hops > n_sectors {
            return None;
        }
        let mut w = words(sector(next)?);
        next = w.pop()?;
        difat.extend(w);
    }
    let mut fat = Vec::new();
    for id in difat.into_iter().filter(|&id| id < 0xFFFF_FFFA) {
        fat.extend(words(sector(id)?));
        if fat.len() > n_sectors * (ss / 4) + ss {
            return None;
        }
    }
    let chain = |start: u32, table: &[u32], read: &dyn Fn(u32) -> Option<Vec<u8>>| {
        let mut out = Vec::new();
        let mut id = start;
        let mut hops = 0;
        while id != END {
            hops += 1;
            if hops > table.len() + 1 {
                return None;
            }
            out.extend(read(id)?);
            id = *table.get(id as usize)?;
        }
        Some(out)
    };
    let big = |id: u32| sector(id).map(<[u8]>::to_vec);

    let dirs = chain(u32_at(b, 48)?, &fat, &big)?;
    let entries: Vec<&[u8]> = dirs.chunks_exact(128).collect();
    let root = entries.first()?;
    let size_of = |d: &[u8]| -> Option<usize> {
        let s = if v3 {
            u64::from(u32_at(d, 120)?)
        } else {
            u64_at(d, 120)?
        };
        usize::try_from(s).ok()
    };
    let name_of = |d: &[u8]| -> String {
        let n = usize::from(u16_at(d, 64).unwrap_or(0)).min(64);
        let units: Vec<u16> = d[..n]
            .chunks_exact(2)
            .map(|c| u16::from_le_bytes([c[0], c[1]]))
            .take_while(|&u| u != 0)
            .collect();
        String::from_utf16_lossy(&units)
    };
    let entry = names.iter().find_map(|want| {
        entries
            .iter()
            .find(|d| d[66] == 2 && name_of(d).eq_ignore_ascii_case(want))
    })?;
    let size = size_of(entry)?;
    let start = u32_at(entry, 116)?;
    let mut data = if size < 4096 {
        let minifat = words(&chain(u32_at(b, 60)?, &fat, &big)?);
        let mut ministream = chain(u32_at(root, 116)?, &fat, &big)?;
        ministream.truncate(size_of(root)?);
        let mini = |id: u32| {
            let s = (id as usize).checked_mul(64)?;
            ministream
                .get(s..(s + 64).min(ministream.len()))
                .map(<[u8]>::to_vec)
        };
        chain(start, &minifat, &mini)?
    } else {
        chain(start, &fat, &big)?
    };
    data.truncate(size);
    Some(data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ods_repeats_of_empty_cells_cost_nothing() {
        let xml = br#"<table:table table:name="a"><table:table-row table:number-rows-repeated="1048570"><table:table-cell table:number-columns-repeated="1024"/></table:table-row></table:table>"#;
        assert_eq!(ods_cell_estimate(xml), 0);
    }

    #[test]
    fn ods_repeats_of_a_value_multiply() {
        let xml = br#"<table:table><table:table-row table:number-rows-repeated="100000"><table:table-cell office:value-type="float" office:value="1" table:number-columns-repeated="1000"/></table:table-row></table:table>"#;
        assert!(ods_cell_estimate(xml) >= 100_000_000);
    }

    #[test]
    fn a_biff_dimensions_record_ending_before_it_starts_is_huge() {
        let mut s = 0x0200u16.to_le_bytes().to_vec();
        s.extend_from_slice(&14u16.to_le_bytes());
        s.extend_from_slice(&10u32.to_le_bytes());
        s.extend_from_slice(&5u32.to_le_bytes());
        s.extend_from_slice(&0u16.to_le_bytes());
        s.extend_from_slice(&3u16.to_le_bytes());
        s.extend_from_slice(&0u16.to_le_bytes());
        assert_eq!(biff_grid_sizes(&s), vec![u64::MAX]);
    }

    #[test]
    fn biff_cells_far_apart_make_a_large_grid() {
        let mut s = Vec::new();
        for (r, c) in [(0u16, 0u16), (65535, 255)] {
            s.extend_from_slice(&0x0203u16.to_le_bytes());
            s.extend_from_slice(&14u16.to_le_bytes());
            s.extend_from_slice(&r.to_le_bytes());
            s.extend_from_slice(&c.to_le_bytes());
            s.extend_from_slice(&[0u8; 10]);
        }
        assert_eq!(biff_grid_sizes(&s), vec![65536 * 256]);
    }
}
