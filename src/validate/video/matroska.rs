//! Matroska / WebM: Segment → Info → Duration × TimecodeScale.

use super::*;

const EBML: u32 = 0x1A45_DFA3;
const SEGMENT: u32 = 0x1853_8067;
const INFO: u32 = 0x1549_A966;
const CLUSTER: u32 = 0x1F43_B675;
const TIMECODE_SCALE: u32 = 0x2A_D7B1;
const DURATION: u32 = 0x4489;

/// An element header: id (marker bits kept, as the spec writes ids), payload offset and size
/// (`None` = unknown size).
struct Element {
    id: u32,
    body: usize,
    size: Option<u64>,
}

fn vint(data: &[u8], at: usize, max_len: u32) -> Option<(u64, usize, bool)> {
    let first = *data.get(at)?;
    let len = first.leading_zeros() + 1;
    if len > max_len {
        return None;
    }
    let len = len as usize;
    let bytes = data.get(at..at + len)?;
    let mut raw = 0u64;
    for &b in bytes {
        raw = (raw << 8) | b as u64;
    }
    let value_bits = 7 * len as u32;
    let value = raw & ((1u64 << value_bits) - 1);
    let all_ones = value == (1u64 << value_bits) - 1;
    Some((value, len, all_ones))
}

fn element(data: &[u8], at: usize) -> Option<Element> {
    let first = *data.get(at)?;
    let id_len = first.leading_zeros() as usize + 1;
    if id_len > 4 {
        return None;
    }
    let id_bytes = data.get(at..at + id_len)?;
    let id = id_bytes.iter().fold(0u32, |a, &b| (a << 8) | b as u32);
    let (size, size_len, unknown) = vint(data, at + id_len, 8)?;
    Some(Element {
        id,
        body: at + id_len + size_len,
        size: if unknown { None } else { Some(size) },
    })
}

fn read_uint(b: &[u8]) -> Option<u64> {
    if b.is_empty() || b.len() > 8 {
        return None;
    }
    Some(b.iter().fold(0u64, |a, &x| (a << 8) | x as u64))
}

fn read_float(b: &[u8]) -> Option<f64> {
    match b.len() {
        4 => Some(f32::from_be_bytes(b.try_into().ok()?) as f64),
        8 => Some(f64::from_be_bytes(b.try_into().ok()?)),
        _ => None,
    }
}

pub(super) fn duration(data: &[u8], label: &'static str) -> Result<Option<f64>, VideoError> {
    let head = element(data, 0).ok_or(VideoError::NotContainer(label))?;
    if head.id != EBML {
        return Err(VideoError::NotContainer(label));
    }
    let mut at = match head.size {
        Some(s) if s <= (data.len() - head.body) as u64 => head.body + s as usize,
        _ => return Err(VideoError::Corrupt("EBML 文件头长度无效")),
    };

    let mut in_segment = false;
    let mut found_info = false;
    let mut scale: u64 = 1_000_000;
    let mut duration: Option<f64> = None;
    // Scan the Segment's children. Masters of unknown size (live-written Segment or Cluster)
    // cannot be skipped, so their children are read as if they were siblings; that is enough
    // to meet Info, the only element we need.
    while let Some(el) = element(data, at) {
        let avail = (data.len() - el.body) as u64;
        match (el.id, el.size) {
            (SEGMENT, _) | (CLUSTER, None) => {
                in_segment |= el.id == SEGMENT;
                at = el.body;
                continue;
            }
            (INFO, size) => {
                let end = el.body + size.unwrap_or(avail).min(avail) as usize;
                info(data, el.body, end, &mut scale, &mut duration)?;
                found_info = true;
                break;
            }
            (_, Some(size)) if size <= avail => at = el.body + size as usize,
            // Runs past the end or has an unknown size we cannot step over.
            _ => break,
        }
    }
    if !in_segment {
        return Err(VideoError::Corrupt("未找到 Segment"));
    }
    if !found_info {
        return Err(VideoError::Corrupt("未找到 Segment Info 信息"));
    }
    Ok(duration.map(|d| d * scale as f64 / 1e9))
}

fn info(
    data: &[u8],
    start: usize,
    end: usize,
    scale: &mut u64,
    duration: &mut Option<f64>,
) -> Result<(), VideoError> {
    let mut at = start;
    while at < end {
        let Some(el) = element(data, at) else { break };
        let Some(size) = el.size else { break };
        if size > (end.saturating_sub(el.body)) as u64 {
            break;
        }
        let body = &data[el.body..el.body + size as usize];
        match el.id {
            TIMECODE_SCALE => match read_uint(body) {
                Some(s) if s > 0 => *scale = s,
                _ => return Err(VideoError::Corrupt("TimecodeScale 无效")),
            },
            DURATION => *duration = Some(read_float(body).ok_or(VideoError::BadDuration)?),
            _ => {}
        }
        at = el.body + size as usize;
    }
    Ok(())
}
