//! Video duration checks: boundary lengths in every container (built from bytes here), real files
//! made with ffmpeg (tests/fixtures/video/README.md), the sample corpus, and hostile input.

use reportbox::problem::Severity;
use reportbox::validate::video::{
    check, format_duration_zh, probe_duration, VideoContainer, VideoError, VideoRules, VideoVerdict,
};
use std::path::Path;

// ---------------------------------------------------------------------------------------------
// Builders: only the headers the parsers read, with real layouts.

fn bx(kind: &[u8; 4], body: &[u8]) -> Vec<u8> {
    let mut v = ((body.len() + 8) as u32).to_be_bytes().to_vec();
    v.extend_from_slice(kind);
    v.extend_from_slice(body);
    v
}

fn mvhd_v0(timescale: u32, duration: u32) -> Vec<u8> {
    let mut b = vec![0u8; 100];
    b[12..16].copy_from_slice(&timescale.to_be_bytes());
    b[16..20].copy_from_slice(&duration.to_be_bytes());
    bx(b"mvhd", &b)
}

fn mvhd_v1(timescale: u32, duration: u64) -> Vec<u8> {
    let mut b = vec![0u8; 112];
    b[0] = 1;
    b[20..24].copy_from_slice(&timescale.to_be_bytes());
    b[24..32].copy_from_slice(&duration.to_be_bytes());
    bx(b"mvhd", &b)
}

fn ftyp(brand: &[u8; 4]) -> Vec<u8> {
    let mut b = brand.to_vec();
    b.extend_from_slice(&[0, 0, 2, 0]);
    b.extend_from_slice(brand);
    b.extend_from_slice(b"isom");
    bx(b"ftyp", &b)
}

/// ftyp + moov(mvhd) + a small mdat, the layout of a phone recording made "fast start".
fn mp4_secs(brand: &[u8; 4], seconds: u32) -> Vec<u8> {
    let mut v = ftyp(brand);
    v.extend(bx(b"moov", &mvhd_v0(1000, seconds * 1000)));
    v.extend(bx(b"mdat", &[0u8; 64]));
    v
}

fn ebml_size(n: u64) -> Vec<u8> {
    // Always the 8-byte form: legal, and what muxers use for sizes patched in later.
    let mut v = (n | (1u64 << 56)).to_be_bytes().to_vec();
    v[0] = 0x01;
    v
}

fn ebml(id: &[u8], body: &[u8]) -> Vec<u8> {
    let mut v = id.to_vec();
    v.extend(ebml_size(body.len() as u64));
    v.extend_from_slice(body);
    v
}

const UNKNOWN_SIZE: [u8; 8] = [0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF];

fn mkv(doc_type: &str, scale: Option<u64>, duration: Option<Vec<u8>>) -> Vec<u8> {
    let mut v = ebml(
        &[0x1A, 0x45, 0xDF, 0xA3],
        &ebml(&[0x42, 0x82], doc_type.as_bytes()),
    );
    let mut info = Vec::new();
    if let Some(s) = scale {
        info.extend(ebml(&[0x2A, 0xD7, 0xB1], &s.to_be_bytes()[4..]));
    }
    if let Some(d) = duration {
        info.extend(ebml(&[0x44, 0x89], &d));
    }
    let mut segment = ebml(&[0x11, 0x4D, 0x9B, 0x74], &[0xEC, 0x80]); // SeekHead with a Void
    segment.extend(ebml(&[0x15, 0x49, 0xA9, 0x66], &info));
    segment.extend(ebml(&[0x1F, 0x43, 0xB6, 0x75], &[0xE7, 0x81, 0x00])); // Cluster, Timecode 0
    v.extend_from_slice(&[0x18, 0x53, 0x80, 0x67]);
    v.extend(ebml_size(segment.len() as u64));
    v.extend(segment);
    v
}

fn mkv_secs(doc_type: &str, seconds: f64) -> Vec<u8> {
    mkv(
        doc_type,
        Some(1_000_000),
        Some((seconds * 1000.0).to_be_bytes().to_vec()),
    )
}

fn avi(us_per_frame: u32, frames: u32) -> Vec<u8> {
    let mut avih = vec![0u8; 56];
    avih[0..4].copy_from_slice(&us_per_frame.to_le_bytes());
    avih[16..20].copy_from_slice(&frames.to_le_bytes());
    let mut hdrl = b"hdrl".to_vec();
    hdrl.extend(riff_chunk(b"avih", &avih));
    let mut body = b"AVI ".to_vec();
    body.extend(riff_chunk(b"LIST", &hdrl));
    let mut movi = b"movi".to_vec();
    movi.extend(riff_chunk(b"00dc", &[0u8; 5])); // odd size: exercises padding
    body.extend(riff_chunk(b"LIST", &movi));
    riff_chunk(b"RIFF", &body)
}

fn riff_chunk(id: &[u8; 4], body: &[u8]) -> Vec<u8> {
    let mut v = id.to_vec();
    v.extend_from_slice(&(body.len() as u32).to_le_bytes());
    v.extend_from_slice(body);
    if body.len() % 2 == 1 {
        v.push(0);
    }
    v
}

fn amf_str(s: &str) -> Vec<u8> {
    let mut v = (s.len() as u16).to_be_bytes().to_vec();
    v.extend_from_slice(s.as_bytes());
    v
}

fn flv_tag(kind: u8, ts_ms: u32, body: &[u8]) -> Vec<u8> {
    let mut v = vec![kind];
    v.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
    v.extend_from_slice(&ts_ms.to_be_bytes()[1..]);
    v.push((ts_ms >> 24) as u8);
    v.extend_from_slice(&[0, 0, 0]);
    v.extend_from_slice(body);
    v.extend_from_slice(&((body.len() + 11) as u32).to_be_bytes());
    v
}

fn flv_header() -> Vec<u8> {
    let mut v = b"FLV\x01\x05".to_vec();
    v.extend_from_slice(&9u32.to_be_bytes());
    v.extend_from_slice(&0u32.to_be_bytes());
    v
}

fn on_metadata(duration: f64) -> Vec<u8> {
    let mut m = vec![0x02];
    m.extend(amf_str("onMetaData"));
    m.push(0x08);
    m.extend_from_slice(&3u32.to_be_bytes());
    m.extend(amf_str("encoder"));
    m.push(0x02);
    m.extend(amf_str("Lavf60"));
    m.extend(amf_str("keyframes")); // nested object with arrays, as yamdi writes
    m.push(0x03);
    m.extend(amf_str("times"));
    m.push(0x0A);
    m.extend_from_slice(&2u32.to_be_bytes());
    for t in [0.0f64, 1.0] {
        m.push(0x00);
        m.extend_from_slice(&t.to_be_bytes());
    }
    m.extend_from_slice(&[0, 0, 0x09]);
    m.extend(amf_str("duration"));
    m.push(0x00);
    m.extend_from_slice(&duration.to_be_bytes());
    m.extend_from_slice(&[0, 0, 0x09]);
    m
}

fn flv_secs(seconds: f64) -> Vec<u8> {
    let mut v = flv_header();
    v.extend(flv_tag(18, 0, &on_metadata(seconds)));
    v.extend(flv_tag(9, 0, &[0x17, 0, 0, 0, 0]));
    v
}

const ASF_HEADER: [u8; 16] = [
    0x30, 0x26, 0xB2, 0x75, 0x8E, 0x66, 0xCF, 0x11, 0xA6, 0xD9, 0x00, 0xAA, 0x00, 0x62, 0xCE, 0x6C,
];
const ASF_FILE_PROPS: [u8; 16] = [
    0xA1, 0xDC, 0xAB, 0x8C, 0x47, 0xA9, 0xCF, 0x11, 0x8E, 0xE4, 0x00, 0xC0, 0x0C, 0x20, 0x53, 0x65,
];

fn asf(play_100ns: u64, preroll_ms: u64, flags: u32) -> Vec<u8> {
    let mut fp = ASF_FILE_PROPS.to_vec();
    fp.extend_from_slice(&104u64.to_le_bytes());
    fp.extend_from_slice(&[7u8; 16]); // file id
    fp.extend_from_slice(&0u64.to_le_bytes()); // file size
    fp.extend_from_slice(&0u64.to_le_bytes()); // creation date
    fp.extend_from_slice(&1u64.to_le_bytes()); // packets
    fp.extend_from_slice(&play_100ns.to_le_bytes());
    fp.extend_from_slice(&play_100ns.to_le_bytes()); // send duration
    fp.extend_from_slice(&preroll_ms.to_le_bytes());
    fp.extend_from_slice(&flags.to_le_bytes());
    fp.extend_from_slice(&[0u8; 12]); // packet sizes, bitrate
    assert_eq!(fp.len(), 104);
    let mut v = ASF_HEADER.to_vec();
    v.extend_from_slice(&((30 + fp.len()) as u64).to_le_bytes());
    v.extend_from_slice(&1u32.to_le_bytes());
    v.extend_from_slice(&[1, 2]);
    v.extend(fp);
    v
}

fn asf_secs(seconds: u64) -> Vec<u8> {
    // Play duration includes the preroll, as Windows Media encoders write it.
    asf((seconds * 1000 + 3000) * 10_000, 3000, 2)
}

fn pts_bytes(pts: u64, prefix: u8) -> [u8; 5] {
    [
        (prefix << 4) | (((pts >> 30) as u8 & 0x07) << 1) | 1,
        (pts >> 22) as u8,
        (((pts >> 15) as u8) << 1) | 1,
        (pts >> 7) as u8,
        ((pts as u8) << 1) | 1,
    ]
}

fn pes(stream_id: u8, pts: u64) -> Vec<u8> {
    let mut v = vec![0, 0, 1, stream_id, 0, 16, 0x80, 0x80, 5];
    v.extend_from_slice(&pts_bytes(pts, 2));
    v.extend_from_slice(&[0xAB; 8]);
    v
}

fn mpg_span(first: u64, last: u64) -> Vec<u8> {
    let mut v = vec![0, 0, 1, 0xBA, 0x44, 0, 4, 0, 4, 1, 1, 0x89, 0xC3, 0xF8];
    v.extend(pes(0xE0, first));
    v.extend(pes(0xC0, first + 1_000_000)); // audio stream: must not be mixed in
    v.extend(vec![0x55; 3000]);
    v.extend(pes(0xE0, (first + last) / 2));
    v.extend(pes(0xE0, last));
    v.extend_from_slice(&[0, 0, 1, 0xB9]);
    v
}

fn ts_packet(pid: u16, pes_data: Option<&[u8]>) -> Vec<u8> {
    let mut p = vec![0x47, ((pid >> 8) as u8) & 0x1F, pid as u8, 0x10];
    if let Some(d) = pes_data {
        p[1] |= 0x40;
        p.extend_from_slice(d);
    }
    p.resize(188, 0xFF);
    p
}

fn ts_span(first: u64, last: u64) -> Vec<u8> {
    let mut v = ts_packet(0, None);
    v.extend(ts_packet(0x100, Some(&pes(0xE0, first))));
    v.extend(ts_packet(0x101, Some(&pes(0xC0, first + 9_000_000))));
    v.extend(ts_packet(0x100, None));
    v.extend(ts_packet(0x100, Some(&pes(0xE0, last))));
    v
}

fn secs(bytes: &[u8], c: VideoContainer) -> f64 {
    probe_duration(bytes, c)
        .expect("readable")
        .expect("has a duration")
}

fn codes(v: &VideoVerdict) -> Vec<&str> {
    v.problems.iter().map(|p| p.code.as_str()).collect()
}

fn assert_boundaries(container: VideoContainer, build: impl Fn(u32) -> Vec<u8>) {
    let rules = VideoRules::default();
    for (s, expected) in [(179, vec![]), (180, vec![]), (181, vec!["video.too_long"])] {
        let v = check(&build(s), container, &rules);
        let d = v.duration_seconds.expect("duration");
        assert!(
            (d - s as f64).abs() < 1e-6,
            "{container:?} {s}s read as {d}"
        );
        assert_eq!(codes(&v), expected, "{container:?} {s}s");
    }
}

fn all_containers() -> [VideoContainer; 11] {
    use VideoContainer::*;
    [Mp4, Mov, M4v, ThreeGp, Mkv, Webm, Avi, Asf, Flv, Mpg, Ts]
}

// ---------------------------------------------------------------------------------------------
// Boundaries in each container.

#[test]
fn an_mp4_of_179_or_180_seconds_passes_and_181_is_too_long() {
    assert_boundaries(VideoContainer::Mp4, |s| mp4_secs(b"isom", s));
}

#[test]
fn a_mov_of_179_or_180_seconds_passes_and_181_is_too_long() {
    assert_boundaries(VideoContainer::Mov, |s| {
        // QuickTime files often start with a `wide` atom and have no ftyp.
        let mut v = bx(b"wide", &[]);
        v.extend(bx(b"mdat", &[1u8; 32]));
        v.extend(bx(b"moov", &mvhd_v0(600, s * 600)));
        v
    });
}

#[test]
fn a_3gp_and_an_m4v_of_179_or_180_seconds_pass_and_181_is_too_long() {
    assert_boundaries(VideoContainer::ThreeGp, |s| mp4_secs(b"3gp4", s));
    assert_boundaries(VideoContainer::M4v, |s| mp4_secs(b"M4V ", s));
}

#[test]
fn an_mkv_of_179_or_180_seconds_passes_and_181_is_too_long() {
    assert_boundaries(VideoContainer::Mkv, |s| mkv_secs("matroska", s as f64));
}

#[test]
fn a_webm_of_179_or_180_seconds_passes_and_181_is_too_long() {
    assert_boundaries(VideoContainer::Webm, |s| mkv_secs("webm", s as f64));
}

#[test]
fn an_avi_of_179_or_180_seconds_passes_and_181_is_too_long() {
    assert_boundaries(VideoContainer::Avi, |s| avi(40_000, s * 25));
}

#[test]
fn an_flv_of_179_or_180_seconds_passes_and_181_is_too_long() {
    assert_boundaries(VideoContainer::Flv, |s| flv_secs(s as f64));
}

#[test]
fn a_wmv_of_179_or_180_seconds_passes_and_181_is_too_long_after_the_preroll_is_removed() {
    assert_boundaries(VideoContainer::Asf, |s| asf_secs(s as u64));
}

#[test]
fn an_mpeg_program_stream_of_179_or_180_seconds_passes_and_181_is_too_long() {
    assert_boundaries(VideoContainer::Mpg, |s| {
        mpg_span(90_000, 90_000 + s as u64 * 90_000)
    });
}

#[test]
fn an_mpeg_transport_stream_of_179_or_180_seconds_passes_and_181_is_too_long() {
    assert_boundaries(VideoContainer::Ts, |s| {
        ts_span(3_600, 3_600 + s as u64 * 90_000)
    });
}

#[test]
fn a_fraction_of_a_second_over_the_limit_is_too_long_and_the_message_says_so() {
    let mut v = ftyp(b"isom");
    v.extend(bx(b"moov", &mvhd_v0(1000, 180_500)));
    let verdict = check(&v, VideoContainer::Mp4, &VideoRules::default());
    assert_eq!(codes(&verdict), ["video.too_long"]);
    assert_eq!(verdict.problems[0].severity, Severity::Error);
    assert_eq!(
        verdict.problems[0].message,
        "视频时长为3分0.5秒，超过3分钟的上限"
    );
}

#[test]
fn the_too_long_message_gives_minutes_and_seconds_and_the_limit() {
    let v = check(
        &mp4_secs(b"isom", 240),
        VideoContainer::Mp4,
        &VideoRules::default(),
    );
    assert_eq!(v.problems[0].message, "视频时长为4分0秒，超过3分钟的上限");
    assert_eq!(format_duration_zh(45.0), "45秒");
    assert_eq!(format_duration_zh(180.01), "3分0.1秒");
}

#[test]
fn the_limit_comes_from_the_rules() {
    let rules: VideoRules = serde_json::from_str(r#"{"max_seconds": 300}"#).unwrap();
    assert!(check(&mp4_secs(b"isom", 240), VideoContainer::Mp4, &rules)
        .problems
        .is_empty());
    let defaults: VideoRules = serde_json::from_str("{}").unwrap();
    assert_eq!(defaults, VideoRules::default());
}

// ---------------------------------------------------------------------------------------------
// ISO-BMFF layouts.

#[test]
fn an_mp4_with_a_version_1_mvhd_reads_its_64_bit_duration() {
    let mut v = ftyp(b"isom");
    v.extend(bx(b"moov", &mvhd_v1(90_000, 170 * 90_000)));
    assert_eq!(secs(&v, VideoContainer::Mp4), 170.0);
    let mut long = ftyp(b"isom");
    long.extend(bx(b"moov", &mvhd_v1(1, (1u64 << 33) + 5)));
    assert_eq!(secs(&long, VideoContainer::Mp4), ((1u64 << 33) + 5) as f64);
}

#[test]
fn an_mp4_whose_moov_follows_a_large_mdat_is_read() {
    let mut v = ftyp(b"mp42");
    v.extend(bx(b"mdat", &vec![0u8; 3 << 20]));
    v.extend(bx(b"moov", &mvhd_v0(30_000, 150 * 30_000)));
    assert_eq!(secs(&v, VideoContainer::Mp4), 150.0);
}

#[test]
fn an_mp4_with_a_64_bit_largesize_mdat_before_moov_is_read() {
    let mut v = ftyp(b"isom");
    let payload = vec![0u8; 100];
    v.extend_from_slice(&1u32.to_be_bytes());
    v.extend_from_slice(b"mdat");
    v.extend_from_slice(&(16 + payload.len() as u64).to_be_bytes());
    v.extend(payload);
    v.extend(bx(b"moov", &mvhd_v0(1000, 181_000)));
    let verdict = check(&v, VideoContainer::Mp4, &VideoRules::default());
    assert_eq!(verdict.duration_seconds, Some(181.0));
    assert_eq!(codes(&verdict), ["video.too_long"]);
}

#[test]
fn an_mp4_whose_last_box_has_size_0_runs_to_the_end_of_the_file() {
    let mut v = ftyp(b"isom");
    v.extend(bx(b"moov", &mvhd_v0(1000, 100_000)));
    v.extend_from_slice(&0u32.to_be_bytes());
    v.extend_from_slice(b"mdat");
    v.extend(vec![0u8; 500]);
    assert_eq!(secs(&v, VideoContainer::Mp4), 100.0);
    // And a size-0 moov (the last box) still yields its mvhd.
    let mut w = ftyp(b"isom");
    w.extend_from_slice(&0u32.to_be_bytes());
    w.extend_from_slice(b"moov");
    w.extend(mvhd_v0(1000, 42_000));
    assert_eq!(secs(&w, VideoContainer::Mp4), 42.0);
}

#[test]
fn a_fragmented_mp4_takes_its_duration_from_mehd_or_has_none() {
    let mut mehd = vec![0u8; 4];
    mehd.extend_from_slice(&(120_000u32).to_be_bytes());
    let mut moov = mvhd_v0(1000, 0);
    moov.extend(bx(b"mvex", &bx(b"mehd", &mehd)));
    let mut v = ftyp(b"iso6");
    v.extend(bx(b"moov", &moov));
    v.extend(bx(b"moof", &[0u8; 16]));
    assert_eq!(secs(&v, VideoContainer::Mp4), 120.0);

    let mut w = ftyp(b"iso6");
    w.extend(bx(b"moov", &mvhd_v0(1000, 0)));
    let verdict = check(&w, VideoContainer::Mp4, &VideoRules::default());
    assert_eq!(codes(&verdict), ["video.unknown_duration"]);
    assert_eq!(verdict.problems[0].severity, Severity::Review);
    assert_eq!(
        verdict.problems[0].message,
        "无法从视频文件中读取时长，将由工作人员查看核对"
    );
}

#[test]
fn an_mp4_cut_off_before_its_moov_is_unreadable_with_a_chinese_reason() {
    let mut v = ftyp(b"isom");
    v.extend_from_slice(&(1_000_000u32).to_be_bytes());
    v.extend_from_slice(b"mdat");
    v.extend(vec![0u8; 1000]);
    let verdict = check(&v, VideoContainer::Mp4, &VideoRules::default());
    assert_eq!(codes(&verdict), ["video.unreadable"]);
    assert_eq!(verdict.problems[0].severity, Severity::Error);
    assert!(verdict.problems[0].message.contains("moov"));
    assert!(verdict.problems[0].message.starts_with("无法读取视频文件"));
}

// ---------------------------------------------------------------------------------------------
// Other containers' variants.

#[test]
fn an_mkv_with_a_4_byte_float_duration_and_a_custom_timecode_scale_is_read() {
    // TimecodeScale 1 ms × 1000 = 1 s units; Duration 150.0 as f32.
    let v = mkv(
        "matroska",
        Some(1_000_000_000),
        Some(150f32.to_be_bytes().to_vec()),
    );
    assert_eq!(secs(&v, VideoContainer::Mkv), 150.0);
}

#[test]
fn an_mkv_without_timecode_scale_uses_the_default_of_one_millisecond() {
    let v = mkv("webm", None, Some(90_000f64.to_be_bytes().to_vec()));
    assert_eq!(secs(&v, VideoContainer::Webm), 90.0);
}

#[test]
fn a_live_recorded_webm_with_unknown_segment_size_and_no_duration_needs_review() {
    let mut v = ebml(&[0x1A, 0x45, 0xDF, 0xA3], &ebml(&[0x42, 0x82], b"webm"));
    v.extend_from_slice(&[0x18, 0x53, 0x80, 0x67]);
    v.extend_from_slice(&UNKNOWN_SIZE);
    v.extend_from_slice(&[0x1F, 0x43, 0xB6, 0x75]); // a Cluster of unknown size first
    v.extend_from_slice(&UNKNOWN_SIZE);
    v.extend(ebml(&[0xE7], &[0]));
    v.extend(ebml(
        &[0x15, 0x49, 0xA9, 0x66],
        &ebml(&[0x2A, 0xD7, 0xB1], &[0x0F, 0x42, 0x40]),
    ));
    let verdict = check(&v, VideoContainer::Webm, &VideoRules::default());
    assert_eq!(codes(&verdict), ["video.unknown_duration"]);
}

#[test]
fn an_avi_with_opendml_takes_the_total_frame_count_from_dmlh() {
    let mut base = avi(40_000, 1000);
    // Append LIST odml/dmlh inside hdrl by rebuilding: simpler to build by hand.
    let mut avih = vec![0u8; 56];
    avih[0..4].copy_from_slice(&40_000u32.to_le_bytes());
    avih[16..20].copy_from_slice(&1000u32.to_le_bytes());
    let mut odml = b"odml".to_vec();
    odml.extend(riff_chunk(b"dmlh", &5000u32.to_le_bytes()));
    let mut hdrl = b"hdrl".to_vec();
    hdrl.extend(riff_chunk(b"avih", &avih));
    hdrl.extend(riff_chunk(b"LIST", &odml));
    let mut body = b"AVI ".to_vec();
    body.extend(riff_chunk(b"LIST", &hdrl));
    base.clear();
    base.extend(riff_chunk(b"RIFF", &body));
    assert_eq!(secs(&base, VideoContainer::Avi), 200.0);
}

#[test]
fn an_flv_without_a_metadata_duration_falls_back_to_the_last_timestamp() {
    let mut v = flv_header();
    v.extend(flv_tag(9, 0, &[0x17, 0, 0, 0, 0]));
    v.extend(flv_tag(8, 100_000, &[0xAF, 1]));
    v.extend(flv_tag(9, 0x0100_0000 + 5, &[0x27, 1])); // extended timestamp byte
    assert_eq!(secs(&v, VideoContainer::Flv), 16_777.221);
}

#[test]
fn a_broadcast_asf_has_no_duration_and_needs_review() {
    let v = asf(0, 3000, 1);
    let verdict = check(&v, VideoContainer::Asf, &VideoRules::default());
    assert_eq!(codes(&verdict), ["video.unknown_duration"]);
}

fn mpg_points(points: &[u64]) -> Vec<u8> {
    let mut v = vec![0, 0, 1, 0xBA, 0x44, 0, 4, 0, 4, 1, 1, 0x89, 0xC3, 0xF8];
    for &p in points {
        v.extend(pes(0xE0, p));
    }
    v
}

#[test]
fn an_mpeg_stream_whose_pts_wraps_around_is_measured_across_the_wrap() {
    let wrap = 1u64 << 33;
    let v = mpg_points(&[wrap - 90_000 * 10, wrap - 90_000, 90_000 * 5, 90_000 * 20]);
    assert!((secs(&v, VideoContainer::Mpg) - 30.0).abs() < 1e-6);
}

#[test]
fn b_frames_reordered_below_the_first_timestamp_do_not_count_as_a_wrap() {
    // Decode order I P B B: the B-frames present before the I-frame that opens the stream.
    let v = mpg_points(&[90_000 * 3, 90_000 * 6, 90_000, 90_000 * 2, 90_000 * 9]);
    assert!((secs(&v, VideoContainer::Mpg) - 8.0).abs() < 1e-6);
}

#[test]
fn an_mpeg_stream_without_timestamps_needs_review() {
    let mut v = vec![0, 0, 1, 0xBA, 0x44, 0, 4, 0, 4, 1, 1, 0x89, 0xC3, 0xF8];
    v.extend(vec![0u8; 500]);
    let verdict = check(&v, VideoContainer::Mpg, &VideoRules::default());
    assert_eq!(codes(&verdict), ["video.unknown_duration"]);
}

#[test]
fn sniff_recognises_each_family_from_its_magic_bytes() {
    use VideoContainer::*;
    assert_eq!(VideoContainer::sniff(&mp4_secs(b"isom", 1)), Some(Mp4));
    assert_eq!(VideoContainer::sniff(&mkv_secs("webm", 1.0)), Some(Mkv));
    assert_eq!(VideoContainer::sniff(&avi(1, 1)), Some(Avi));
    assert_eq!(VideoContainer::sniff(&asf_secs(1)), Some(Asf));
    assert_eq!(VideoContainer::sniff(&flv_secs(1.0)), Some(Flv));
    assert_eq!(VideoContainer::sniff(&mpg_span(0, 9)), Some(Mpg));
    assert_eq!(VideoContainer::sniff(&ts_span(0, 9)), Some(Ts));
    assert_eq!(VideoContainer::sniff(b"PK\x03\x04"), None);
    assert_eq!(VideoContainer::from_extension("WMV"), Some(Asf));
    assert_eq!(VideoContainer::from_extension("docx"), None);
}

// ---------------------------------------------------------------------------------------------
// Real files: ffmpeg-made fixtures and the sample corpus.

fn fixture(rel: &str) -> Vec<u8> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(rel);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

#[test]
fn real_three_second_videos_made_by_ffmpeg_read_as_three_seconds_in_every_container() {
    use VideoContainer::*;
    for (file, c, tolerance) in [
        ("tiny3s.mp4", Mp4, 0.001),
        ("tiny3s.mov", Mov, 0.001),
        ("tiny3s.3gp", ThreeGp, 0.001),
        ("tiny3s.mkv", Mkv, 0.001),
        ("tiny3s.webm", Webm, 0.001),
        ("tiny3s.avi", Avi, 0.001),
        ("tiny3s.flv", Flv, 0.001),
        ("tiny3s.wmv", Asf, 0.001),
        // PTS span: first to last frame start, one frame short of the playing time.
        ("tiny3s.mpg", Mpg, 0.1),
        ("tiny3s.ts", Ts, 0.1),
    ] {
        let d = secs(&fixture(&format!("video/{file}")), c);
        assert!((d - 3.0).abs() <= tolerance, "{file}: {d}");
    }
}

#[test]
fn a_real_181_second_mp4_is_too_long() {
    let v = check(
        &fixture("video/tiny181s.mp4"),
        VideoContainer::Mp4,
        &VideoRules::default(),
    );
    assert_eq!(v.duration_seconds, Some(181.0));
    assert_eq!(codes(&v), ["video.too_long"]);
}

#[test]
fn the_sample_140_second_video_is_valid_and_the_240_second_one_is_too_long() {
    let rules = VideoRules::default();
    let ok = check(
        &fixture("media/samples/01.mp4"),
        VideoContainer::Mp4,
        &rules,
    );
    assert_eq!(ok.duration_seconds, Some(140.0));
    assert!(ok.problems.is_empty());
    let long = check(
        &fixture("media/samples/05.mp4"),
        VideoContainer::Mp4,
        &rules,
    );
    assert_eq!(long.duration_seconds, Some(240.0));
    assert_eq!(codes(&long), ["video.too_long"]);
    assert_eq!(
        long.problems[0].message,
        "视频时长为4分0秒，超过3分钟的上限"
    );
    for f in [
        "media/samples/02.mp4",
        "media/samples/04.mp4",
        "media/samples/08.mp4",
    ] {
        assert!(
            check(&fixture(f), VideoContainer::Mp4, &rules)
                .problems
                .is_empty(),
            "{f}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Hostile input: every case ends with a verdict, quickly, without panicking.

fn assert_unreadable_or_duration(bytes: &[u8], c: VideoContainer) {
    let v = check(bytes, c, &VideoRules::default());
    match v.duration_seconds {
        Some(d) => assert!(d.is_finite() && d >= 0.0),
        None => assert!(
            codes(&v) == ["video.unreadable"] || codes(&v) == ["video.unknown_duration"],
            "{c:?}: {:?}",
            v.problems
        ),
    }
}

#[test]
fn empty_input_is_unreadable_in_every_container() {
    for c in all_containers() {
        assert_eq!(probe_duration(&[], c), Err(VideoError::Empty));
        let v = check(&[], c, &VideoRules::default());
        assert_eq!(codes(&v), ["video.unreadable"]);
        assert_eq!(
            v.problems[0].message,
            "无法读取视频文件：文件为空，请检查文件后重新发送"
        );
    }
}

#[test]
fn random_bytes_are_unreadable_in_every_container() {
    // A fixed xorshift sequence: reproducible, no dependency.
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    for round in 0..64 {
        let len = 1 + (round * 997) % 20_000;
        let bytes: Vec<u8> = (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        for c in all_containers() {
            assert_unreadable_or_duration(&bytes, c);
        }
    }
}

#[test]
fn every_truncation_of_every_valid_container_ends_in_a_verdict() {
    use VideoContainer::*;
    let samples = [
        (mp4_secs(b"isom", 100), Mp4),
        (mkv_secs("webm", 100.0), Webm),
        (avi(40_000, 2500), Avi),
        (flv_secs(100.0), Flv),
        (asf_secs(100), Asf),
        (mpg_span(0, 9_000_000), Mpg),
        (ts_span(0, 9_000_000), Ts),
        (fixture("video/tiny3s.mkv"), Mkv),
        (fixture("video/tiny3s.wmv"), Asf),
        (fixture("video/tiny3s.avi"), Avi),
    ];
    for (bytes, c) in samples {
        for cut in 0..bytes.len().min(4000) {
            let part = &bytes[..cut];
            if cut == 0 {
                assert_eq!(probe_duration(part, c), Err(VideoError::Empty));
            } else {
                assert_unreadable_or_duration(part, c);
            }
        }
    }
}

#[test]
fn an_mp4_of_empty_size_8_boxes_repeated_ends_as_unreadable() {
    let mut v = ftyp(b"isom");
    for _ in 0..200_000 {
        v.extend(bx(b"free", &[]));
    }
    let verdict = check(&v, VideoContainer::Mp4, &VideoRules::default());
    assert_eq!(codes(&verdict), ["video.unreadable"]);
}

#[test]
fn an_mp4_box_claiming_more_than_the_file_or_less_than_its_header_is_unreadable() {
    let mut huge = ftyp(b"isom");
    huge.extend_from_slice(&u32::MAX.to_be_bytes());
    huge.extend_from_slice(b"moov");
    huge.extend(vec![0u8; 10]);
    assert_unreadable_or_duration(&huge, VideoContainer::Mp4);
    let mut huge64 = ftyp(b"isom");
    huge64.extend_from_slice(&1u32.to_be_bytes());
    huge64.extend_from_slice(b"mdat");
    huge64.extend_from_slice(&u64::MAX.to_be_bytes());
    huge64.extend(bx(b"moov", &mvhd_v0(1000, 1000)));
    assert_eq!(
        codes(&check(&huge64, VideoContainer::Mp4, &VideoRules::default())),
        ["video.unreadable"]
    );
    for size in 2u32..8 {
        let mut v = ftyp(b"isom");
        v.extend_from_slice(&size.to_be_bytes());
        v.extend_from_slice(b"moov");
        v.extend(mvhd_v0(1000, 1000));
        assert!(matches!(
            probe_duration(&v, VideoContainer::Mp4),
            Err(VideoError::Corrupt(_))
        ));
    }
    let mut bad_mvhd = ftyp(b"isom");
    bad_mvhd.extend(bx(b"moov", &mvhd_v0(0, 1000)));
    assert!(probe_duration(&bad_mvhd, VideoContainer::Mp4).is_err());
}

#[test]
fn moov_boxes_nested_ten_thousand_deep_do_not_overflow_the_stack() {
    let mut inner = mvhd_v0(1000, 5000);
    for _ in 0..10_000 {
        inner = bx(b"moov", &inner);
    }
    let mut v = ftyp(b"isom");
    v.extend(inner);
    assert_unreadable_or_duration(&v, VideoContainer::Mp4);
    let mut trak = mvhd_v0(1000, 5000);
    for _ in 0..10_000 {
        trak = bx(b"trak", &trak);
    }
    let mut w = ftyp(b"isom");
    w.extend(bx(b"moov", &trak));
    assert_unreadable_or_duration(&w, VideoContainer::Mp4);
}

#[test]
fn an_ebml_element_with_an_absurd_size_is_a_verdict_not_an_allocation() {
    let mut v = ebml(&[0x1A, 0x45, 0xDF, 0xA3], &ebml(&[0x42, 0x82], b"webm"));
    v.extend_from_slice(&[0x18, 0x53, 0x80, 0x67]);
    v.extend_from_slice(&[0x01, 0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xF0]);
    v.extend_from_slice(&[0x15, 0x49, 0xA9, 0x66]);
    v.extend_from_slice(&[0x01, 0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xF0]);
    v.extend(ebml(&[0x44, 0x89], &100_000f64.to_be_bytes()));
    assert_eq!(secs(&v, VideoContainer::Webm), 100.0);

    let mut w = ebml(&[0x1A, 0x45, 0xDF, 0xA3], &ebml(&[0x42, 0x82], b"webm"));
    w.extend_from_slice(&[0x18, 0x53, 0x80, 0x67]);
    w.extend_from_slice(&UNKNOWN_SIZE);
    w.extend_from_slice(&[
        0x1F, 0x43, 0xB6, 0x75, 0x01, 0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xF0,
    ]);
    w.extend(vec![0u8; 100]);
    assert_eq!(
        codes(&check(&w, VideoContainer::Webm, &VideoRules::default())),
        ["video.unreadable"]
    );
    let mut header = vec![0x1A, 0x45, 0xDF, 0xA3];
    header.extend_from_slice(&[0x01, 0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xF0]);
    assert_unreadable_or_duration(&header, VideoContainer::Mkv);
}

#[test]
fn a_nan_or_negative_duration_is_unreadable() {
    let nan = mkv(
        "webm",
        Some(1_000_000),
        Some(f64::NAN.to_be_bytes().to_vec()),
    );
    assert_eq!(
        probe_duration(&nan, VideoContainer::Webm),
        Err(VideoError::BadDuration)
    );
    let neg = flv_secs(-5.0);
    // A negative metadata duration is ignored and the timestamps (all 0) give none.
    assert_eq!(probe_duration(&neg, VideoContainer::Flv), Ok(None));
}

#[test]
fn an_flv_with_a_huge_script_tag_length_is_read_within_the_file() {
    let mut v = flv_header();
    let meta = on_metadata(61.0);
    v.push(18);
    v.extend_from_slice(&[0xFF, 0xFF, 0xFF]);
    v.extend_from_slice(&[0; 7]);
    v.extend(meta);
    assert_eq!(secs(&v, VideoContainer::Flv), 61.0);
    // And AMF nested far deeper than any encoder writes gives up on the value, not the stack.
    let mut deep = vec![0x02];
    deep.extend(amf_str("onMetaData"));
    deep.push(0x03);
    for _ in 0..100_000 {
        deep.extend(amf_str("a"));
        deep.push(0x03);
    }
    let mut w = flv_header();
    w.extend(flv_tag(18, 0, &deep[..deep.len().min(0xFF_FFFF)]));
    assert_unreadable_or_duration(&w, VideoContainer::Flv);
    let mut arr = vec![0x02];
    arr.extend(amf_str("onMetaData"));
    arr.push(0x03);
    arr.extend(amf_str("x"));
    arr.push(0x0A);
    arr.extend_from_slice(&u32::MAX.to_be_bytes());
    let mut z = flv_header();
    z.extend(flv_tag(18, 0, &arr));
    assert_unreadable_or_duration(&z, VideoContainer::Flv);
}

#[test]
fn an_asf_object_with_a_size_below_its_header_is_unreadable() {
    let mut v = asf_secs(10);
    v[30 + 16..30 + 24].copy_from_slice(&3u64.to_le_bytes());
    assert!(matches!(
        probe_duration(&v, VideoContainer::Asf),
        Err(VideoError::Corrupt(_))
    ));
}

#[test]
fn a_file_of_another_container_is_unreadable_as_the_named_one() {
    let v = check(
        &mkv_secs("webm", 10.0),
        VideoContainer::Mp4,
        &VideoRules::default(),
    );
    assert_eq!(codes(&v), ["video.unreadable"]);
    assert!(
        v.problems[0].message.contains("不是有效的MP4视频"),
        "{}",
        v.problems[0].message
    );
}
