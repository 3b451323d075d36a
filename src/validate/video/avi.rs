//! AVI: `RIFF AVI / LIST hdrl / avih`: dwMicroSecPerFrame × dwTotalFrames (OpenDML files carry
//! the real frame count in `LIST odml / dmlh`, since avih counts only the first RIFF).

use super::*;

struct Chunk {
    id: [u8; 4],
    body: usize,
    end: usize,
}

fn chunk(data: &[u8], at: usize, limit: usize) -> Option<Chunk> {
    if at + 8 > limit {
        return None;
    }
    let id: [u8; 4] = data[at..at + 4].try_into().ok()?;
    let size = le_u32(data, at + 4)? as usize;
    let body = at + 8;
    Some(Chunk {
        id,
        body,
        end: body.saturating_add(size).min(limit),
    })
}

/// Next chunk start: chunks are padded to an even length; always at least one step forward.
fn next(c: &Chunk) -> usize {
    (c.end + (c.end & 1)).max(c.body)
}

pub(super) fn duration(data: &[u8]) -> Result<Option<f64>, VideoError> {
    if data.len() < 12 || &data[0..4] != b"RIFF" || &data[8..12] != b"AVI " {
        return Err(VideoError::NotContainer("AVI"));
    }
    let mut at = 12;
    let mut hdrl = None;
    while let Some(c) = chunk(data, at, data.len()) {
        if &c.id == b"LIST" && data.get(c.body..c.body + 4) == Some(b"hdrl") {
            hdrl = Some((c.body + 4, c.end));
            break;
        }
        at = next(&c);
    }
    let (start, end) = hdrl.ok_or(VideoError::Corrupt("未找到 hdrl 信息"))?;
    let mut avih = None;
    let mut odml_frames = None;
    let mut at = start;
    while let Some(c) = chunk(data, at, end) {
        let body = &data[c.body..c.end];
        if &c.id == b"avih" {
            avih = match (le_u32(body, 0), le_u32(body, 16)) {
                (Some(us), Some(frames)) => Some((us, frames)),
                _ => return Err(VideoError::Corrupt("avih 信息不完整")),
            };
        } else if &c.id == b"LIST" && body.get(0..4) == Some(b"odml") {
            let mut inner = c.body + 4;
            while let Some(d) = chunk(data, inner, c.end) {
                if &d.id == b"dmlh" {
                    odml_frames = le_u32(data, d.body).filter(|_| d.end >= d.body + 4);
                }
                inner = next(&d);
            }
        }
        at = next(&c);
    }
    let (us_per_frame, frames) = avih.ok_or(VideoError::Corrupt("未找到 avih 信息"))?;
    let frames = odml_frames.filter(|&f| f > frames).unwrap_or(frames);
    if us_per_frame == 0 || frames == 0 {
        return Ok(None);
    }
    Ok(Some(us_per_frame as f64 * frames as f64 / 1e6))
}
