//! FLV: `duration` in the `onMetaData` script tag (AMF0 double, seconds); when the encoder left
//! it out or at 0 (live recorders do), the last tag's timestamp.

use super::*;

/// AMF0 nesting we follow before giving up on a value; real metadata nests two or three deep.
const MAX_DEPTH: u32 = 16;

pub(super) fn duration(data: &[u8]) -> Result<Option<f64>, VideoError> {
    if data.len() < 9 || &data[0..3] != b"FLV" {
        return Err(VideoError::NotContainer("FLV"));
    }
    let header = be_u32(data, 5).unwrap_or(0) as usize;
    if header < 9 {
        return Err(VideoError::Corrupt("FLV 文件头无效"));
    }
    // Skip the header and PreviousTagSize0.
    let mut at = header.saturating_add(4);
    let mut last_ts: u32 = 0;
    let mut tags = 0u64;
    while at + 11 <= data.len() {
        let kind = data[at] & 0x1F;
        let size = (be_u32(data, at).unwrap_or(0) & 0x00FF_FFFF) as usize;
        let ts = (be_u32(data, at + 4).unwrap_or(0) >> 8) | ((data[at + 7] as u32) << 24);
        let body = at + 11;
        // A tag may claim more than the file holds: read what there is.
        let end = body.saturating_add(size).min(data.len());
        if kind == 18 {
            if let Some(d) = on_metadata_duration(&data[body..end]) {
                if d.is_finite() && d > 0.0 {
                    return Ok(Some(d));
                }
            }
        } else if kind == 8 || kind == 9 {
            tags += 1;
            last_ts = last_ts.max(ts);
        }
        // Tag header (11) + data + PreviousTagSize (4): at least 15 bytes per step.
        at = body.saturating_add(size).saturating_add(4);
    }
    if tags == 0 && at == header.saturating_add(4) {
        return Err(VideoError::Corrupt("FLV 文件中没有数据"));
    }
    Ok(if last_ts > 0 {
        Some(last_ts as f64 / 1000.0)
    } else {
        None
    })
}

fn on_metadata_duration(b: &[u8]) -> Option<f64> {
    let mut c = Cursor { b, at: 0 };
    if c.u8()? != 0x02 {
        return None;
    }
    if c.string()? != b"onMetaData" {
        return None;
    }
    match c.u8()? {
        0x08 => {
            c.take(4)?; // approximate count; the end marker is authoritative
            c.find_key(b"duration")
        }
        0x03 => c.find_key(b"duration"),
        _ => None,
    }
}

struct Cursor<'a> {
    b: &'a [u8],
    at: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let s = self.b.get(self.at..self.at.checked_add(n)?)?;
        self.at += n;
        Some(s)
    }
    fn u8(&mut self) -> Option<u8> {
        Some(self.take(1)?[0])
    }
    fn u16(&mut self) -> Option<usize> {
        let s = self.take(2)?;
        Some(u16::from_be_bytes([s[0], s[1]]) as usize)
    }
    fn u32(&mut self) -> Option<usize> {
        let s = self.take(4)?;
        Some(u32::from_be_bytes([s[0], s[1], s[2], s[3]]) as usize)
    }
    fn string(&mut self) -> Option<&'a [u8]> {
        let n = self.u16()?;
        self.take(n)
    }

    /// Walks object properties until `key` holds a number or the object ends.
    fn find_key(&mut self, key: &[u8]) -> Option<f64> {
        loop {
            let name = self.string()?;
            let marker = self.u8()?;
            if name.is_empty() && marker == 0x09 {
                return None;
            }
            if name == key && marker == 0x00 {
                return Some(f64::from_be_bytes(self.take(8)?.try_into().ok()?));
            }
            self.skip_value(marker, 0)?;
        }
    }

    fn skip_props(&mut self, depth: u32) -> Option<()> {
        loop {
            let name = self.string()?;
            let marker = self.u8()?;
            if name.is_empty() && marker == 0x09 {
                return Some(());
            }
            self.skip_value(marker, depth)?;
        }
    }

    fn skip_value(&mut self, marker: u8, depth: u32) -> Option<()> {
        if depth > MAX_DEPTH {
            return None;
        }
        match marker {
            0x00 => self.take(8).map(drop),
            0x01 => self.take(1).map(drop),
            0x02 => self.string().map(drop),
            0x03 => self.skip_props(depth + 1),
            0x05 | 0x06 => Some(()),
            0x07 => self.take(2).map(drop),
            0x08 => {
                self.take(4)?;
                self.skip_props(depth + 1)
            }
            0x0A => {
                let n = self.u32()?;
                // Each element takes at least one byte, so a lying count ends at the data's end.
                for _ in 0..n {
                    let m = self.u8()?;
                    self.skip_value(m, depth + 1)?;
                }
                Some(())
            }
            0x0B => self.take(10).map(drop),
            0x0C => {
                let n = self.u32()?;
                self.take(n).map(drop)
            }
            _ => None,
        }
    }
}
