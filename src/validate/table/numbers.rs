//! Lenient reading of the numbers people type into a 数量 cell (contract §4): `120项`, `1,200`,
//! `１２０`, `1.2万`, `约300`, `300余`. Text is read as an exact decimal so that `12.5` is caught
//! as a fraction and `1.25万` is exactly 12500, with no binary rounding in between.

use super::text::normalize;

/// A number read from a cell.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Reading {
    pub value: f64,
    /// No fractional part (exactly for text; within float noise for numeric cells).
    pub is_whole: bool,
    /// The text needed more than trimming to become a number: the unit is told.
    pub normalized: bool,
}

/// Unit words people append; the indicator's own unit is tried too.
const UNITS: &[&str] = &[
    "人次", "场次", "项", "个", "人", "次", "份", "篇", "元", "场", "家", "所", "名", "册", "张",
    "条", "部", "期", "处", "件", "本", "套", "位", "户", "天", "家次",
];
const APPROX_PREFIX: &[&str] = &["大约", "约", "近", "超过", "逾", "共计", "共", "合计"];
const APPROX_SUFFIX: &[&str] = &["余", "多", "+", "以上", "左右"];
/// Written for "none". Contract §4 lists no such form, so they are not numbers; the unit is
/// told to write 0 instead.
const NONE_WORDS: &[&str] = &["无", "没有", "/", "-", "—", "——", "－", "--"];

/// Whether the cell says "none" in words or a dash rather than 0.
pub fn is_none_word(raw: &str) -> bool {
    NONE_WORDS.contains(&normalize(raw.trim()).as_str())
}

/// A numeric cell: whole when it differs from an integer only by float noise (`=A1*0.1`).
pub fn from_float(f: f64) -> Option<Reading> {
    if !f.is_finite() {
        return None;
    }
    let is_whole = (f - f.round()).abs() <= 1e-9 * f.abs().max(1.0);
    Some(Reading {
        value: if is_whole { f.round() } else { f },
        is_whole,
        normalized: false,
    })
}

/// A text cell. `None`: not a number (`若干`, `见附件`).
pub fn parse_text(raw: &str, unit: &str) -> Option<Reading> {
    let trimmed = raw.trim();
    let s = normalize(trimmed);
    if s.is_empty() {
        return None;
    }
    let mut normalized = s != trimmed;

    let mut rest = s.as_str();
    let mut negative = false;
    if let Some(r) = rest.strip_prefix(['-', '−']) {
        negative = true;
        rest = r;
    }
    for p in APPROX_PREFIX {
        if let Some(r) = rest.strip_prefix(p) {
            rest = r;
            normalized = true;
            break;
        }
    }

    // The indicator's unit may carry a multiplier (`万元`): a bare number is in that unit,
    // a written unit or multiplier is converted into it.
    let (unit_mult, unit_base) = split_multiplier(unit);
    let mut wrote_unit = false;
    let mut text_mult: u32 = 0;
    // Strip from the right: units, approximations and one multiplier, in any order people use
    // (`3万余人次`, `300余人`).
    for _ in 0..4 {
        let before = rest;
        let mut units: Vec<&str> = UNITS.to_vec();
        if !unit_base.is_empty() {
            units.push(unit_base);
        }
        units.sort_by_key(|u| std::cmp::Reverse(u.len()));
        if let Some(u) = units.iter().find(|u| rest.ends_with(**u)) {
            rest = &rest[..rest.len() - u.len()];
            wrote_unit = true;
        }
        if let Some(a) = APPROX_SUFFIX.iter().find(|a| rest.ends_with(**a)) {
            rest = &rest[..rest.len() - a.len()];
            normalized = true;
        }
        if text_mult == 0 {
            if let Some(r) = rest.strip_suffix('万') {
                rest = r;
                text_mult = 4;
            } else if let Some(r) = rest.strip_suffix('亿') {
                rest = r;
                text_mult = 8;
            }
        }
        if rest == before {
            break;
        }
    }
    if wrote_unit || text_mult > 0 {
        normalized = true;
    }

    let (mut mant, mut scale) = parse_decimal(rest, &mut normalized)?;
    if wrote_unit || text_mult > 0 {
        mant = mant.checked_mul(10i128.checked_pow(text_mult)?)?;
        scale += unit_mult;
    }
    if negative {
        mant = -mant;
    }
    let pow = 10i128.checked_pow(scale)?;
    let is_whole = mant % pow == 0;
    Some(Reading {
        value: mant as f64 / pow as f64,
        is_whole,
        normalized,
    })
}

/// `万元` -> (4, "元"); `项` -> (0, "项").
fn split_multiplier(unit: &str) -> (u32, &str) {
    let u = unit.trim();
    if let Some(b) = u.strip_prefix('万') {
        (4, b)
    } else if let Some(b) = u.strip_prefix('亿') {
        (8, b)
    } else {
        (0, u)
    }
}

/// Digits with an optional point and thousands separators in groups of three.
fn parse_decimal(s: &str, normalized: &mut bool) -> Option<(i128, u32)> {
    let (int, frac) = match s.split_once('.') {
        Some((i, f)) => (i, f),
        None => (s, ""),
    };
    let int = if int.contains(',') {
        let groups: Vec<&str> = int.split(',').collect();
        let ok = groups[0].len() <= 3
            && !groups[0].is_empty()
            && groups[1..].iter().all(|g| g.len() == 3);
        if !ok {
            return None;
        }
        *normalized = true;
        groups.concat()
    } else {
        int.to_string()
    };
    if int.is_empty() && frac.is_empty() {
        return None;
    }
    let all_digits = |t: &str| t.bytes().all(|b| b.is_ascii_digit());
    if !all_digits(&int) || !all_digits(frac) || int.len() + frac.len() > 30 {
        return None;
    }
    let digits = format!("{int}{frac}");
    let mant: i128 = digits.parse().ok()?;
    Some((mant, frac.len() as u32))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str, unit: &str) -> Option<(f64, bool, bool)> {
        parse_text(s, unit).map(|r| (r.value, r.is_whole, r.normalized))
    }

    #[test]
    fn plain_text_numbers_are_read_without_a_notice() {
        assert_eq!(v("120", "项"), Some((120.0, true, false)));
        assert_eq!(v(" 45.69 ", "万元"), Some((45.69, false, false)));
    }

    #[test]
    fn units_separators_full_width_and_wan_are_read_with_a_notice() {
        assert_eq!(v("120项", "项"), Some((120.0, true, true)));
        assert_eq!(v("120个", "项"), Some((120.0, true, true)));
        assert_eq!(v("1,200", "份"), Some((1200.0, true, true)));
        assert_eq!(v("１２０", "项"), Some((120.0, true, true)));
        assert_eq!(v("1.2万", "人次"), Some((12000.0, true, true)));
        assert_eq!(v("1.25万人次", "人次"), Some((12500.0, true, true)));
        assert_eq!(v("3万余人次", "人次"), Some((30000.0, true, true)));
    }

    #[test]
    fn approximate_numbers_are_read_with_a_notice() {
        for s in [
            "约300",
            "300余",
            "300多",
            "300+",
            "300余人",
            "大约300人次",
            "300左右",
        ] {
            assert_eq!(v(s, "人次"), Some((300.0, true, true)), "{s}");
        }
    }

    #[test]
    fn money_is_converted_into_the_template_unit() {
        assert_eq!(v("45.69万元", "万元"), Some((45.69, false, true)));
        assert_eq!(v("45.69万", "万元"), Some((45.69, false, true)));
        assert_eq!(v("456900元", "万元"), Some((45.69, false, true)));
    }

    #[test]
    fn fractions_and_negatives_are_seen() {
        assert_eq!(v("12.5", "个"), Some((12.5, false, false)));
        assert_eq!(v("1.23456万", "人次").map(|r| r.1), Some(false));
        assert_eq!(v("-5", "项"), Some((-5.0, true, false)));
        assert_eq!(v("－5", "项"), Some((-5.0, true, true)));
    }

    #[test]
    fn words_and_odd_separators_are_not_numbers() {
        for s in [
            "若干",
            "见附件",
            "12,5",
            "1.2.3",
            "万",
            "约",
            "3-5",
            "1e5",
            "十二",
        ] {
            assert_eq!(v(s, "项"), None, "{s}");
        }
    }

    #[test]
    fn none_words_are_not_numbers() {
        // Contract §4: only the listed forms are read; the check tells the unit to write 0.
        for w in ["无", "/", "-", "—", "－"] {
            assert_eq!(v(w, "项"), None, "{w}");
            assert!(is_none_word(w), "{w}");
        }
        assert!(!is_none_word("见附件"));
    }

    #[test]
    fn float_cells_differing_by_noise_are_whole() {
        assert!(from_float(120.0).unwrap().is_whole);
        assert!(from_float(12.000000000000002).unwrap().is_whole);
        assert!(!from_float(12.5).unwrap().is_whole);
        assert!(from_float(f64::NAN).is_none());
    }
}
