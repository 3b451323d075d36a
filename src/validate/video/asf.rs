//! ASF (wmv): File Properties Object: Play Duration (100 ns) − Preroll (ms).

use super::*;

const FILE_PROPERTIES_GUID: [u8; 16] = [
    0xA1, 0xDC, 0xAB, 0x8C, 0x47, 0xA9, 0xCF, 0x11, 0x8E, 0xE4, 0x00, 0xC0, 0x0C, 0x20, 0x53, 0x65,
];

pub(super) fn duration(data: &[u8]) -> Result<Option<f64>, VideoError> {
    if !data.starts_with(&ASF_HEADER_GUID) {
        return Err(VideoError::NotContainer("WMV/ASF"));
    }
    let header_size = le_u64(data, 16).ok_or(VideoError::Corrupt("ASF 文件头不完整"))?;
    let end = header_size.min(data.len() as u64) as usize;
    // Header object: GUID, size, object count (u32), two reserved bytes; children follow.
    let mut at = 30;
    while at + 24 <= end {
        let size = le_u64(data, at + 16).unwrap_or(0);
        if size < 24 {
            return Err(VideoError::Corrupt("ASF 结构长度字段无效"));
        }
        if data[at..at + 16] == FILE_PROPERTIES_GUID {
            let body = &data[at..(at as u64 + size).min(end as u64) as usize];
            let (Some(play), Some(preroll), Some(flags)) =
                (le_u64(body, 64), le_u64(body, 80), le_u32(body, 88))
            else {
                return Err(VideoError::Corrupt("文件属性信息不完整"));
            };
            // Broadcast flag: the durations are not valid (a live stream being written).
            if flags & 1 != 0 || play == 0 {
                return Ok(None);
            }
            let seconds = play as f64 / 1e7 - preroll as f64 / 1e3;
            return Ok(Some(seconds.max(0.0)));
        }
        match at.checked_add(size as usize) {
            Some(n) if size <= (end - at) as u64 => at = n,
            _ => break,
        }
    }
    Err(VideoError::Corrupt("未找到文件属性信息"))
}
