//! ISO base media (mp4, mov, m4v, 3gp): `moov/mvhd` duration / timescale.

use super::*;

struct BoxHeader {
    kind: [u8; 4],
    /// Offset of the payload.
    body: usize,
    /// End of the box, clamped to the data (a truncated file keeps what it has).
    end: usize,
    truncated: bool,
}

/// Reads the box header at `at` within `data[..limit]`. `None` at the end; `Err` when the
/// size field cannot be right.
fn header(data: &[u8], at: usize, limit: usize) -> Result<Option<BoxHeader>, VideoError> {
    if at + 8 > limit {
        return Ok(None);
    }
    let size32 = be_u32(data, at).unwrap_or(0) as u64;
    let kind: [u8; 4] = data[at + 4..at + 8].try_into().unwrap_or([0; 4]);
    let (size, body) = match size32 {
        // Size 1: a 64-bit size follows the type (needed past 4 GiB, legal anywhere).
        1 => match be_u64(data, at + 8) {
            Some(s) if at + 16 <= limit => (s, at + 16),
            _ => return Err(VideoError::Corrupt("MP4 结构被截断")),
        },
        // Size 0: the box runs to the end of the file.
        0 => ((limit - at) as u64, at + 8),
        s => (s, at + 8),
    };
    if size < (body - at) as u64 {
        return Err(VideoError::Corrupt("MP4 结构长度字段无效"));
    }
    let remaining = (limit - at) as u64;
    let truncated = size > remaining;
    let end = at + size.min(remaining) as usize;
    Ok(Some(BoxHeader {
        kind,
        body,
        end,
        truncated,
    }))
}

fn plausible_type(kind: &[u8; 4]) -> bool {
    kind.iter()
        .all(|&c| c.is_ascii_alphanumeric() || c == b' ' || c == 0xA9)
}

pub(super) fn duration(data: &[u8], label: &'static str) -> Result<Option<f64>, VideoError> {
    let mut at = 0;
    let mut first = true;
    while let Some(h) = header(data, at, data.len())? {
        if !plausible_type(&h.kind) {
            return Err(if first {
                VideoError::NotContainer(label)
            } else {
                VideoError::Corrupt("MP4 结构损坏")
            });
        }
        first = false;
        if &h.kind == b"moov" {
            return moov(data, h.body, h.end);
        }
        if h.truncated {
            // A box runs past the end: the moov that should follow it was cut off.
            break;
        }
        at = h.end;
    }
    if first {
        return Err(VideoError::NotContainer(label));
    }
    Err(VideoError::Corrupt("未找到 moov 信息，文件可能未完整上传"))
}

fn moov(data: &[u8], start: usize, end: usize) -> Result<Option<f64>, VideoError> {
    let mut mvhd = None;
    let mut fragment_duration = None;
    let mut at = start;
    while let Some(h) = header(data, at, end)? {
        match &h.kind {
            b"mvhd" => mvhd = Some(parse_mvhd(&data[h.body..h.end])?),
            b"mvex" => fragment_duration = find_mehd(data, h.body, h.end)?,
            _ => {}
        }
        at = h.end;
        if h.truncated {
            break;
        }
    }
    let (timescale, duration) = mvhd.ok_or(VideoError::Corrupt("未找到 mvhd 信息"))?;
    // Fragmented files (and some live recorders) leave mvhd at 0 or all-ones and put the
    // total in mvex/mehd; with neither the file simply does not say.
    let unknown = |d: u64| d == 0 || d == u32::MAX as u64 || d == u64::MAX;
    let total = if !unknown(duration) {
        duration
    } else {
        match fragment_duration {
            Some(d) if !unknown(d) => d,
            _ => return Ok(None),
        }
    };
    Ok(Some(total as f64 / timescale as f64))
}

/// (timescale, duration) from an mvhd payload, version 0 (32-bit) or 1 (64-bit times).
fn parse_mvhd(body: &[u8]) -> Result<(u32, u64), VideoError> {
    let short = VideoError::Corrupt("mvhd 信息不完整");
    let (timescale, duration) = match body.first() {
        Some(0) => (be_u32(body, 12), be_u32(body, 16).map(u64::from)),
        Some(1) => (be_u32(body, 20), be_u64(body, 24)),
        Some(_) => return Err(VideoError::Corrupt("mvhd 版本无效")),
        None => return Err(short),
    };
    match (timescale, duration) {
        (Some(0), Some(_)) => Err(VideoError::Corrupt("mvhd 时间刻度为0")),
        (Some(t), Some(d)) => Ok((t, d)),
        _ => Err(short),
    }
}

fn find_mehd(data: &[u8], start: usize, end: usize) -> Result<Option<u64>, VideoError> {
    let mut at = start;
    while let Some(h) = header(data, at, end)? {
        if &h.kind == b"mehd" {
            let b = &data[h.body..h.end];
            return Ok(match b.first() {
                Some(0) => be_u32(b, 4).map(u64::from),
                Some(1) => be_u64(b, 4),
                _ => None,
            });
        }
        at = h.end;
        if h.truncated {
            break;
        }
    }
    Ok(None)
}
