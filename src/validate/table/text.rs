//! Text normalisation for finding labels the way people retype them (contract §2, §4):
//! full-width forms, stray spaces, `（项）` after a label, `1.` in front of it.

use unicode_normalization::UnicodeNormalization;

/// NFKC (full-width to half-width, `：` to `:`, `（` to `(`), without any white space or
/// invisible characters that Word and WPS leave behind.
pub fn normalize(s: &str) -> String {
    s.nfkc()
        .filter(|c| !c.is_whitespace() && !matches!(c, '\u{200b}'..='\u{200d}' | '\u{feff}'))
        .collect()
}

/// How well a cell's text names a label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Match {
    /// The label, possibly with a unit in parentheses or a running number.
    Exact,
    /// The label followed by more text (`参与单位数（含协办）`).
    Prefix,
}

/// Compares a normalised cell text with a normalised label.
pub fn label_match(cell: &str, label: &str) -> Option<Match> {
    if label.is_empty() {
        return None;
    }
    let cell = strip_numbering(cell);
    if cell == label || strip_trailing_unit(cell) == label {
        Some(Match::Exact)
    } else if cell.starts_with(label) {
        Some(Match::Prefix)
    } else {
        None
    }
}

/// `参与单位数(个)` -> `参与单位数`. Only short, unit-like parentheses go: the label
/// `新媒体传播量(直播、短视频、H5)` ends with a parenthesis that is part of its name.
fn strip_trailing_unit(s: &str) -> &str {
    let Some(body) = s.strip_suffix(')') else {
        return s;
    };
    let Some(open) = body.rfind('(') else {
        return s;
    };
    let inner = &body[open + 1..];
    let n = inner.chars().count();
    if (1..=4).contains(&n) && !inner.contains(['、', ',', '(']) {
        &s[..open]
    } else {
        s
    }
}

/// `1.举办科技活动总数`, `(1)...`, `一、...`: a 序号 typed into the label cell.
fn strip_numbering(s: &str) -> &str {
    let digits = s.trim_start_matches(|c: char| c.is_ascii_digit());
    if digits.len() < s.len() {
        if let Some(rest) = digits.strip_prefix(['.', '、']) {
            return rest;
        }
    }
    if let Some(rest) = s.strip_prefix('(') {
        let after = rest.trim_start_matches(|c: char| c.is_ascii_digit());
        if after.len() < rest.len() {
            if let Some(rest) = after.strip_prefix(')') {
                return rest;
            }
        }
    }
    let cn = s.trim_start_matches(|c: char| "一二三四五六七八九十".contains(c));
    if cn.len() < s.len() {
        if let Some(rest) = cn.strip_prefix('、') {
            return rest;
        }
    }
    s
}

/// The first plausible year in a normalised text: four ASCII digits not part of a longer
/// number (`2023年`), or four Chinese numerals before `年` (`二〇二三年`).
pub fn find_year(s: &str) -> Option<i32> {
    let chars: Vec<char> = s.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        if chars[i].is_ascii_digit() {
            let start = i;
            while i < chars.len() && chars[i].is_ascii_digit() {
                i += 1;
            }
            if i - start == 4 {
                let y: i32 = chars[start..i].iter().collect::<String>().parse().ok()?;
                if (1900..=2199).contains(&y) {
                    return Some(y);
                }
            }
        } else {
            i += 1;
        }
    }
    const CN: &str = "〇零一二三四五六七八九";
    let digit = |c: char| match c {
        '〇' | '零' | 'o' | 'O' => Some(0),
        _ => CN.chars().skip(1).position(|d| d == c).map(|p| p as i32),
    };
    for w in chars.windows(5) {
        if w[4] == '年' {
            let ds: Option<Vec<i32>> = w[..4].iter().map(|&c| digit(c)).collect();
            if let Some(ds) = ds {
                let y = ds.iter().fold(0, |acc, d| acc * 10 + d);
                if (1900..=2199).contains(&y) {
                    return Some(y);
                }
            }
        }
    }
    None
}

/// Splits `填报单位（盖章）：市公安局` after the label into the value as written.
/// `label` is normalised; the returned text keeps the writer's own characters.
pub fn value_after_label(original: &str, label: &str) -> Option<String> {
    // Walk the original text until its normalised prefix covers the label, then skip
    // `（盖章）`-style remarks and the colon.
    // Bounded: a label is short, so a long cell that has not covered it soon never will.
    let budget = label.chars().count() * 3 + 16;
    let mut consumed = String::new();
    let mut rest = None;
    for (n, (i, c)) in original.char_indices().enumerate() {
        if normalize(&consumed).starts_with(label) {
            rest = Some(&original[i..]);
            break;
        }
        if n > budget {
            return None;
        }
        consumed.push(c);
    }
    if rest.is_none() && normalize(&consumed).starts_with(label) {
        rest = Some("");
    }
    let mut rest = rest?.trim_start();
    loop {
        let before = rest;
        if let Some(r) = rest.strip_prefix(['(', '（']) {
            if let Some(end) = r.find([')', '）']) {
                rest = r[end..].trim_start_matches([')', '）']).trim_start();
            }
        }
        rest = rest.trim_start_matches([':', '：', ' ', '\u{3000}']);
        if rest == before {
            break;
        }
    }
    let v = rest.trim();
    (!v.is_empty()).then(|| v.to_string())
}

/// Text shown back to a person: trimmed, and shortened so one wild cell cannot flood a message.
pub fn shown(s: &str) -> String {
    let t = s.trim();
    if t.chars().count() > 40 {
        let mut out: String = t.chars().take(40).collect();
        out.push('…');
        out
    } else {
        t.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_width_and_spaces_normalise_away() {
        assert_eq!(normalize("其中： 线上 活动"), "其中:线上活动");
        assert_eq!(normalize("开放科普场馆（基地）数"), "开放科普场馆(基地)数");
        assert_eq!(normalize("１２０\u{3000}项"), "120项");
    }

    #[test]
    fn a_unit_in_parentheses_after_a_label_still_matches_exactly() {
        assert_eq!(
            label_match("参与单位数(个)", "参与单位数"),
            Some(Match::Exact)
        );
        assert_eq!(
            label_match(
                "新媒体传播量(直播、短视频、H5)",
                "新媒体传播量(直播、短视频、H5)"
            ),
            Some(Match::Exact)
        );
        assert_eq!(
            label_match("1.参与单位数", "参与单位数"),
            Some(Match::Exact)
        );
        assert_eq!(
            label_match("参与单位数合计", "参与单位数"),
            Some(Match::Prefix)
        );
        assert_eq!(label_match("参与", "参与单位数"), None);
    }

    #[test]
    fn years_are_found_in_ascii_full_width_and_chinese_numerals() {
        assert_eq!(
            find_year(&normalize("２０２３年太原市科技活动周")),
            Some(2023)
        );
        assert_eq!(find_year("二〇二二年科技活动周"), Some(2022));
        assert_eq!(find_year("科技活动周统计表"), None);
        assert_eq!(find_year("编号123456"), None);
    }

    #[test]
    fn the_value_after_a_label_in_the_same_cell_is_kept_as_written() {
        let l = normalize("填报单位");
        assert_eq!(
            value_after_label("填报单位：市公安局", &l).as_deref(),
            Some("市公安局")
        );
        assert_eq!(
            value_after_label("填报单位（盖章）： 市 公安局 ", &l).as_deref(),
            Some("市 公安局")
        );
        assert_eq!(value_after_label("填报单位（盖章）：", &l), None);
        assert_eq!(value_after_label("填 报 单 位:", &l), None);
    }
}
