//! Video length check (contract §5): the duration is read from the container's own header, with
//! no external program, and compared with the campaign's limit.
//!
//! Every parser here is hand-written over `&[u8]`: we need one number from one header, and the
//! general-purpose demuxer crates parse (and allocate for) whole sample tables from counts the
//! file declares, which a hostile upload controls. Each parser walks forward by at least one byte
//! per step and never recurses on input structure except AMF0 (depth-capped), so work is bounded
//! by the input's size.

mod asf;
mod avi;
mod flv;
mod isobmff;
mod matroska;
mod mpeg;

use crate::problem::Problem;
use serde::Deserialize;
use std::panic::{catch_unwind, AssertUnwindSafe};

/// Limits a campaign puts on the video item.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default)]
pub struct VideoRules {
    /// Longest accepted duration, inclusive: exactly this long is fine.
    pub max_seconds: f64,
}

impl Default for VideoRules {
    fn default() -> Self {
        VideoRules { max_seconds: 180.0 }
    }
}

/// Container formats the video item accepts (contract §3). The caller decides which one a file
/// is (by content, see [`VideoContainer::sniff`]); the four ISO-BMFF flavours share one parser.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum VideoContainer {
    Mp4,
    Mov,
    M4v,
    ThreeGp,
    Mkv,
    Webm,
    Avi,
    Asf,
    Flv,
    Mpg,
    Ts,
}

impl VideoContainer {
    /// The container a file extension names (without the dot, any case).
    pub fn from_extension(ext: &str) -> Option<Self> {
        Some(match ext.to_ascii_lowercase().as_str() {
            "mp4" => Self::Mp4,
            "mov" | "qt" => Self::Mov,
            "m4v" => Self::M4v,
            "3gp" | "3g2" => Self::ThreeGp,
            "mkv" => Self::Mkv,
            "webm" => Self::Webm,
            "avi" => Self::Avi,
            "wmv" | "asf" => Self::Asf,
            "flv" => Self::Flv,
            "mpg" | "mpeg" | "vob" => Self::Mpg,
            "ts" | "m2ts" | "mts" => Self::Ts,
            _ => return None,
        })
    }

    /// The container family the bytes look like, from magic numbers. For ISO-BMFF and Matroska
    /// it answers the family's first member (`Mp4`, `Mkv`); the parser is the same.
    pub fn sniff(bytes: &[u8]) -> Option<Self> {
        if bytes.len() >= 8 {
            let t = &bytes[4..8];
            if matches!(t, b"ftyp" | b"moov" | b"mdat" | b"wide" | b"free" | b"skip") {
                return Some(Self::Mp4);
            }
        }
        if bytes.starts_with(&[0x1A, 0x45, 0xDF, 0xA3]) {
            return Some(Self::Mkv);
        }
        if bytes.len() >= 12 && &bytes[0..4] == b"RIFF" && &bytes[8..12] == b"AVI " {
            return Some(Self::Avi);
        }
        if bytes.starts_with(&ASF_HEADER_GUID) {
            return Some(Self::Asf);
        }
        if bytes.starts_with(b"FLV") {
            return Some(Self::Flv);
        }
        if ts_packet_size(bytes).is_some() {
            return Some(Self::Ts);
        }
        if bytes.starts_with(&[0, 0, 1, 0xBA]) {
            return Some(Self::Mpg);
        }
        None
    }

    fn label(self) -> &'static str {
        match self {
            Self::Mp4 => "MP4",
            Self::Mov => "MOV",
            Self::M4v => "M4V",
            Self::ThreeGp => "3GP",
            Self::Mkv => "MKV",
            Self::Webm => "WebM",
            Self::Avi => "AVI",
            Self::Asf => "WMV/ASF",
            Self::Flv => "FLV",
            Self::Mpg => "MPEG",
            Self::Ts => "MPEG-TS",
        }
    }
}

/// Why a container could not be read. `Display` is Chinese: it becomes the reason a unit reads
/// in `video.unreadable`.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum VideoError {
    #[error("文件为空")]
    Empty,
    #[error("文件不是有效的{0}视频")]
    NotContainer(&'static str),
    #[error("文件不完整或已损坏（{0}）")]
    Corrupt(&'static str),
    #[error("时长字段的数值无效")]
    BadDuration,
    #[error("解析视频文件时出现内部错误")]
    Internal,
}

/// Outcome of [`check`]: the measured duration (when one could be read) and the problems.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct VideoVerdict {
    pub duration_seconds: Option<f64>,
    pub problems: Vec<Problem>,
}

/// Reads the duration the container declares, in seconds. `Ok(None)`: the container is readable
/// but carries no duration (live-recorded WebM, broadcast ASF, an MPEG stream without PTS).
pub fn probe_duration(bytes: &[u8], container: VideoContainer) -> Result<Option<f64>, VideoError> {
    if bytes.is_empty() {
        return Err(VideoError::Empty);
    }
    // The parsers are written not to panic; this is the second line, so that a bug in them turns
    // into a verdict on one file instead of taking the intake worker down.
    let probed = catch_unwind(AssertUnwindSafe(|| match container {
        VideoContainer::Mp4
        | VideoContainer::Mov
        | VideoContainer::M4v
        | VideoContainer::ThreeGp => isobmff::duration(bytes, container.label()),
        VideoContainer::Mkv | VideoContainer::Webm => matroska::duration(bytes, container.label()),
        VideoContainer::Avi => avi::duration(bytes),
        VideoContainer::Asf => asf::duration(bytes),
        VideoContainer::Flv => flv::duration(bytes),
        VideoContainer::Mpg | VideoContainer::Ts => mpeg::duration(bytes, container.label()),
    }))
    .unwrap_or(Err(VideoError::Internal))?;
    match probed {
        Some(s) if !s.is_finite() || s < 0.0 => Err(VideoError::BadDuration),
        other => Ok(other),
    }
}

/// Checks a video against the rules: `video.too_long`, `video.unreadable` or
/// `video.unknown_duration` (contract §5).
pub fn check(bytes: &[u8], container: VideoContainer, rules: &VideoRules) -> VideoVerdict {
    match probe_duration(bytes, container) {
        Ok(Some(seconds)) => {
            let mut problems = Vec::new();
            if seconds > rules.max_seconds {
                problems.push(Problem::error(
                    "video.too_long",
                    format!(
                        "视频时长为{}，超过{}的上限",
                        format_duration_zh(seconds),
                        format_limit_zh(rules.max_seconds)
                    ),
                ));
            }
            VideoVerdict {
                duration_seconds: Some(seconds),
                problems,
            }
        }
        Ok(None) => VideoVerdict {
            duration_seconds: None,
            problems: vec![Problem::review(
                "video.unknown_duration",
                "无法从视频文件中读取时长，将由工作人员查看核对",
            )],
        },
        Err(e) => VideoVerdict {
            duration_seconds: None,
            problems: vec![Problem::error(
                "video.unreadable",
                format!("无法读取视频文件：{e}，请检查文件后重新发送"),
            )],
        },
    }
}

/// "4分0秒", "45秒", "3分0.5秒". Rounded up to a tenth so that a video just over the limit never
/// reads as exactly the limit.
pub fn format_duration_zh(seconds: f64) -> String {
    let tenths = (seconds * 10.0 - 1e-6).ceil().max(0.0) as u64;
    let minutes = tenths / 600;
    let rest = tenths % 600;
    let secs = if rest.is_multiple_of(10) {
        format!("{}", rest / 10)
    } else {
        format!("{}.{}", rest / 10, rest % 10)
    };
    if minutes == 0 {
        format!("{secs}秒")
    } else {
        format!("{minutes}分{secs}秒")
    }
}

fn format_limit_zh(seconds: f64) -> String {
    if seconds >= 60.0 && seconds.fract() == 0.0 && (seconds as u64).is_multiple_of(60) {
        format!("{}分钟", seconds as u64 / 60)
    } else {
        format_duration_zh(seconds)
    }
}

fn be_u32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(b.get(at..at + 4)?.try_into().ok()?))
}
fn be_u64(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_be_bytes(b.get(at..at + 8)?.try_into().ok()?))
}
fn le_u32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}
fn le_u64(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

const ASF_HEADER_GUID: [u8; 16] = [
    0x30, 0x26, 0xB2, 0x75, 0x8E, 0x66, 0xCF, 0x11, 0xA6, 0xD9, 0x00, 0xAA, 0x00, 0x62, 0xCE, 0x6C,
];

/// Transport-stream packet size (188, or 192 for M2TS with its timestamp prefix) when the bytes
/// look like one: sync bytes at the right places.
fn ts_packet_size(data: &[u8]) -> Option<usize> {
    [188usize, 192].into_iter().find(|&n| {
        let lead = n - 188;
        let packets = (data.len() / n).min(4);
        packets >= 2 && (0..packets).all(|i| data.get(i * n + lead) == Some(&0x47))
    })
}
