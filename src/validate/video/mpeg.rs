//! MPEG program and transport streams carry no duration field: the span between the first and
//! the last presentation timestamp of one stream stands in for it. Only the head and the tail are
//! scanned, so a large file costs the same as a small one.

use super::*;

/// How much of each end is scanned for timestamps.
const WINDOW: usize = 4 << 20;
const PTS_WRAP: u64 = 1 << 33;
/// A timestamp this far below the first one has wrapped rather than been reordered.
const HALF_WRAP: u64 = 1 << 32;

pub(super) fn duration(data: &[u8], label: &'static str) -> Result<Option<f64>, VideoError> {
    let head = &data[..data.len().min(WINDOW)];
    let tail_start = data.len().saturating_sub(WINDOW).max(head.len());
    let tail = &data[tail_start..];
    let (head_pts, tail_pts) = if let Some(n) = ts_packet_size(data) {
        let lead = n - 188;
        // Align the tail window on a packet boundary.
        let tail_start = tail_start.div_ceil(n) * n;
        let tail = data.get(tail_start..).unwrap_or(&[]);
        let Some(&(pid, _)) = ts_pts(head, n, lead, None).first() else {
            return Ok(None);
        };
        let strip = |v: Vec<(u16, u64)>| v.into_iter().map(|(_, p)| p).collect::<Vec<_>>();
        (
            strip(ts_pts(head, n, lead, Some(pid))),
            strip(ts_pts(tail, n, lead, Some(pid))),
        )
    } else if data.starts_with(&[0, 0, 1, 0xBA]) || data.starts_with(&[0, 0, 1, 0xB3]) {
        let Some(&(sid, _)) = ps_pts(head, None).first() else {
            return Ok(None);
        };
        let strip = |v: Vec<(u8, u64)>| v.into_iter().map(|(_, p)| p).collect::<Vec<_>>();
        (
            strip(ps_pts(head, Some(sid))),
            strip(ps_pts(tail, Some(sid))),
        )
    } else {
        return Err(VideoError::NotContainer(label));
    };
    let Some(&reference) = head_pts.first() else {
        return Ok(None);
    };
    let unwrap = |p: u64| {
        if p + HALF_WRAP < reference {
            p + PTS_WRAP
        } else {
            p
        }
    };
    // B-frames put lower timestamps after the first one, hence min and max rather than the
    // first and the last seen.
    let first = head_pts
        .iter()
        .map(|&p| unwrap(p))
        .min()
        .unwrap_or(reference);
    let last = head_pts
        .iter()
        .chain(&tail_pts)
        .map(|&p| unwrap(p))
        .max()
        .unwrap_or(reference);
    if last <= first {
        return Ok(None);
    }
    Ok(Some((last - first) as f64 / 90_000.0))
}

fn read_pts(b: &[u8]) -> Option<u64> {
    let b = b.get(0..5)?;
    // Marker bits must be set; this keeps random payload bytes from passing for a header.
    if b[0] & 1 == 0 || b[2] & 1 == 0 || b[4] & 1 == 0 || b[0] >> 5 != 1 {
        return None;
    }
    Some(
        (((b[0] >> 1) & 0x07) as u64) << 30
            | (b[1] as u64) << 22
            | ((b[2] >> 1) as u64) << 15
            | (b[3] as u64) << 7
            | (b[4] >> 1) as u64,
    )
}

/// PTS of a PES header starting at `b` (the 00 00 01 prefix), MPEG-2 or MPEG-1 syntax.
fn pes_pts(b: &[u8]) -> Option<(u8, u64)> {
    if b.get(0..3)? != [0, 0, 1] {
        return None;
    }
    let sid = *b.get(3)?;
    if !(0xC0..=0xEF).contains(&sid) && sid != 0xBD {
        return None;
    }
    let flags = *b.get(6)?;
    if flags & 0xC0 == 0x80 {
        if b.get(7)? & 0x80 == 0 {
            return None;
        }
        return read_pts(b.get(9..)?).map(|p| (sid, p));
    }
    // MPEG-1: up to 16 stuffing bytes, an optional STD buffer field, then the PTS.
    let mut i = 6;
    while *b.get(i)? == 0xFF && i < 6 + 16 {
        i += 1;
    }
    if b.get(i)? & 0xC0 == 0x40 {
        i += 2;
    }
    if b.get(i)? & 0xE0 == 0x20 {
        return read_pts(b.get(i..)?).map(|p| (sid, p));
    }
    None
}

fn ps_pts(b: &[u8], only: Option<u8>) -> Vec<(u8, u64)> {
    let mut out = Vec::new();
    let mut i = 0;
    while i + 4 <= b.len() {
        if b[i] == 0 && b[i + 1] == 0 && b[i + 2] == 1 {
            if let Some((sid, pts)) = pes_pts(&b[i..]) {
                if only.is_none_or(|s| s == sid) {
                    out.push((sid, pts));
                    if only.is_none() {
                        break;
                    }
                }
            }
        }
        i += 1;
    }
    out
}

fn ts_pts(b: &[u8], n: usize, lead: usize, only: Option<u16>) -> Vec<(u16, u64)> {
    let mut out = Vec::new();
    for p in b.chunks_exact(n) {
        let p = &p[lead..];
        if p[0] != 0x47 || p[1] & 0x40 == 0 {
            continue;
        }
        let pid = u16::from_be_bytes([p[1] & 0x1F, p[2]]);
        let mut payload = 4;
        match (p[3] >> 4) & 0x3 {
            0b01 => {}
            0b11 => payload += 1 + p[4] as usize,
            _ => continue,
        }
        let Some(pes) = p.get(payload..) else {
            continue;
        };
        if let Some((_, pts)) = pes_pts(pes) {
            if only.is_none_or(|x| x == pid) {
                out.push((pid, pts));
                if only.is_none() {
                    break;
                }
            }
        }
    }
    out
}
