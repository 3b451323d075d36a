//! Dates in `Date:` and `Received:` headers as Chinese mail clients and relays really write
//! them: RFC 5322 with a numeric zone, with no zone at all (`Mon, 5 Jun 2023 10:00:00`), with
//! the zone named `CST`, which in China is China Standard Time (+08:00), not US Central
//! (-06:00), or as `2023-06-05 10:00:00`.
//!
//! mail-parser's date parser reads a missing zone as +00:00 (indistinguishable from a real
//! `+0000`), `CST` as -06:00, and `2023-06-05 10:00:00` as nonsense, so a unit that sent its
//! materials at 23:30 on the last day would count as late. Here a date either carries a zone we
//! trust (`Zoned`) or is a wall-clock time (`Local`) that the pipeline reads in the campaign's
//! time zone: intake stays free of configuration.

use chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime, NaiveTime, Offset, TimeZone, Utc};
use chrono_tz::Tz;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MailDate {
    /// The date names its offset (`+0800`, `GMT`, `EST`, …).
    Zoned(DateTime<FixedOffset>),
    /// A wall-clock time without a zone, or with the ambiguous `CST`: read in the campaign's
    /// time zone.
    Local(NaiveDateTime),
}

impl MailDate {
    /// The instant, reading a `Local` date in `tz`. A wall-clock time that `tz` skips (a DST
    /// gap) takes the offset in force just before; a repeated one takes its first occurrence.
    pub fn to_utc(&self, tz: &Tz) -> DateTime<Utc> {
        match self {
            MailDate::Zoned(d) => d.with_timezone(&Utc),
            MailDate::Local(n) => match tz.from_local_datetime(n) {
                chrono::LocalResult::Single(d) | chrono::LocalResult::Ambiguous(d, _) => {
                    d.with_timezone(&Utc)
                }
                chrono::LocalResult::None => {
                    let offset = tz.offset_from_utc_datetime(n).fix();
                    Utc.from_utc_datetime(
                        &(*n - chrono::Duration::seconds(offset.local_minus_utc() as i64)),
                    )
                }
            },
        }
    }
}

/// Longest header value looked at; a real date is about 40 characters.
const MAX_LEN: usize = 200;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Zone {
    /// Seconds east of UTC.
    Offset(i32),
    /// `CST`, or an offset that cannot be one (`+2500`): the campaign's wall clock.
    Local,
}

/// Reads one date. `None` when there is no recognisable calendar date and time of day, or they
/// do not exist (31 June, 25:00).
pub fn parse(value: &[u8]) -> Option<MailDate> {
    let value = &value[..value.len().min(MAX_LEN)];
    let text = String::from_utf8_lossy(value);
    let (main, comments) = split_comments(&text);
    let mut f = Fields::default();
    for token in tokens(&main) {
        f.take(&token, false);
    }
    if f.zone.is_none() {
        // `Mon, 5 Jun 2023 10:00:00 (GMT+08:00)`: a zone only in a comment still counts.
        for token in tokens(&comments) {
            f.take(&token, true);
        }
    }
    f.finish()
}

/// The text outside parentheses, and the text inside them (nested comments included).
fn split_comments(text: &str) -> (String, String) {
    let mut main = String::with_capacity(text.len());
    let mut comments = String::new();
    let mut depth = 0usize;
    for c in text.chars() {
        match c {
            '(' => {
                depth += 1;
                comments.push(' ');
            }
            ')' if depth > 0 => {
                depth -= 1;
                comments.push(' ');
            }
            _ if depth > 0 => comments.push(c),
            _ => main.push(c),
        }
    }
    (main, comments)
}

/// Splits on white space and commas, puts `T` between an ISO date and time apart, turns
/// `2023年6月5日` into `2023-6-5`, and splits a zone glued to a time (`10:00:00+0800`).
fn tokens(text: &str) -> Vec<String> {
    let text = text.replace(['年', '月'], "-").replace('日', " ");
    let mut out = Vec::new();
    for raw in text.split(|c: char| c.is_whitespace() || c == ',') {
        if raw.is_empty() {
            continue;
        }
        // 2023-06-05T10:00:00+08:00
        let raw = match raw.find(['T', 't']) {
            Some(i) if i > 0 && raw[..i].bytes().all(|b| b.is_ascii_digit() || b == b'-') => {
                out.push(raw[..i].to_string());
                &raw[i + 1..]
            }
            _ => raw,
        };
        if raw.starts_with(|c: char| c.is_ascii_digit()) && raw.contains(':') {
            // 10:00:00+0800, 10:00:00Z, 10:00:00.123-05:00
            let end = raw
                .find(|c: char| !(c.is_ascii_digit() || c == ':' || c == '.'))
                .unwrap_or(raw.len());
            out.push(raw[..end].to_string());
            if end < raw.len() {
                out.push(raw[end..].to_string());
            }
        } else {
            out.push(raw.to_string());
        }
    }
    out
}

#[derive(Default)]
struct Fields {
    ymd: Option<(i32, u32, u32)>,
    month: Option<u32>,
    /// Bare numbers, with their digit counts: day and year of `5 Jun 2023`.
    numbers: Vec<(u32, usize)>,
    time: Option<(u32, u32, u32)>,
    pm: Option<bool>,
    zone: Option<Zone>,
}

impl Fields {
    fn take(&mut self, token: &str, comment: bool) {
        if comment {
            if self.zone.is_none() {
                self.zone = zone(token);
            }
            return;
        }
        let lower = token.to_ascii_lowercase();
        if let Some(ymd) = iso_date(token) {
            self.ymd.get_or_insert(ymd);
        } else if let Some(dmy) = dash_month_date(&lower) {
            self.ymd.get_or_insert(dmy);
        } else if token.starts_with(|c: char| c.is_ascii_digit()) && token.contains(':') {
            if self.time.is_none() {
                self.time = time(token);
            }
        } else if token.bytes().all(|b| b.is_ascii_digit()) {
            if self.numbers.len() < 4 && token.len() <= 4 {
                if let Ok(n) = token.parse() {
                    self.numbers.push((n, token.len()));
                }
            }
        } else if let Some(m) = month(&lower) {
            self.month.get_or_insert(m);
        } else if lower == "am" || lower == "pm" {
            self.pm = Some(lower == "pm");
        } else if self.zone.is_none() {
            self.zone = zone(token);
        }
    }

    fn finish(self) -> Option<MailDate> {
        let (y, m, d) = match self.ymd {
            Some(ymd) => ymd,
            None => {
                let month = self.month?;
                let (day, year) = match self.numbers[..] {
                    // `5 Jun 2023`, and asctime's `Jun 5 10:00:00 2023`.
                    [(a, la), (b, lb)] if la <= 2 && lb == 4 => (a, b as i32),
                    [(a, la), (b, lb)] if la == 4 && lb <= 2 => (b, a as i32),
                    // `5 Jun 23`
                    [(a, la), (b, 2)] if la <= 2 => (a, two_digit_year(b)),
                    _ => return None,
                };
                (year, month, day)
            }
        };
        if !(1970..=2200).contains(&y) {
            return None;
        }
        let (mut h, min, s) = self.time?;
        match self.pm {
            Some(true) if h < 12 => h += 12,
            Some(false) if h == 12 => h = 0,
            _ => {}
        }
        let naive = NaiveDate::from_ymd_opt(y, m, d)?.and_time(NaiveTime::from_hms_opt(h, min, s)?);
        match self.zone.unwrap_or(Zone::Local) {
            Zone::Local => Some(MailDate::Local(naive)),
            Zone::Offset(secs) => {
                let offset = FixedOffset::east_opt(secs)?;
                offset
                    .from_local_datetime(&naive)
                    .single()
                    .map(MailDate::Zoned)
            }
        }
    }
}

fn two_digit_year(y: u32) -> i32 {
    if y < 50 {
        2000 + y as i32
    } else {
        1900 + y as i32
    }
}

/// `2023-06-05`, `2023/6/5`, `2023.06.05`.
fn iso_date(token: &str) -> Option<(i32, u32, u32)> {
    let parts: Vec<&str> = token.split(['-', '/', '.']).collect();
    match parts[..] {
        [y, m, d]
            if y.len() == 4
                && (1..=2).contains(&m.len())
                && (1..=2).contains(&d.len())
                && parts.iter().all(|p| p.bytes().all(|b| b.is_ascii_digit())) =>
        {
            Some((y.parse().ok()?, m.parse().ok()?, d.parse().ok()?))
        }
        _ => None,
    }
}

/// `05-jun-2023`, as IMAP and some relays write it (lowercased).
fn dash_month_date(lower: &str) -> Option<(i32, u32, u32)> {
    let parts: Vec<&str> = lower.split('-').collect();
    match parts[..] {
        [d, m, y]
            if (1..=2).contains(&d.len())
                && d.bytes().all(|b| b.is_ascii_digit())
                && (y.len() == 4 || y.len() == 2)
                && y.bytes().all(|b| b.is_ascii_digit()) =>
        {
            let y: u32 = y.parse().ok()?;
            let y = if y < 100 { two_digit_year(y) } else { y as i32 };
            Some((y, month(m)?, d.parse().ok()?))
        }
        _ => None,
    }
}

fn month(lower: &str) -> Option<u32> {
    const NAMES: [&str; 12] = [
        "january",
        "february",
        "march",
        "april",
        "may",
        "june",
        "july",
        "august",
        "september",
        "october",
        "november",
        "december",
    ];
    let lower = lower.trim_end_matches('.');
    if lower.len() < 3 {
        return None;
    }
    NAMES
        .iter()
        .position(|n| n.starts_with(lower) || (lower == "sept" && *n == "september"))
        .map(|i| i as u32 + 1)
}

/// `hh:mm[:ss[.fff]]`; a leap second reads as :59.
fn time(token: &str) -> Option<(u32, u32, u32)> {
    let token = token.split('.').next()?;
    let parts: Vec<&str> = token.split(':').collect();
    let num = |s: &str| -> Option<u32> {
        if (1..=2).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit()) {
            s.parse().ok()
        } else {
            None
        }
    };
    match parts[..] {
        [h, m] => Some((num(h)?, num(m)?, 0)),
        [h, m, s] => Some((num(h)?, num(m)?, num(s)?.min(59))),
        _ => None,
    }
}

/// A zone token: `+0800`, `-05:00`, `+8`, `Z`, `GMT`, `UTC+8`, `GMT+08:00`, RFC 5322's US
/// names, and the Asian abbreviations seen in Chinese mail. `CST` is China Standard Time here,
/// and so is read as the campaign's own wall clock.
fn zone(token: &str) -> Option<Zone> {
    let upper = token.trim_matches(['"', '\'', '.']).to_ascii_uppercase();
    if let Some(rest) = upper.strip_prefix(['+', '-']) {
        let sign = if upper.starts_with('-') { -1 } else { 1 };
        return numeric_offset(rest).map(|secs| match secs {
            Some(secs) => Zone::Offset(sign * secs),
            None => Zone::Local,
        });
    }
    for prefix in ["GMT", "UTC", "UT"] {
        if let Some(rest) = upper.strip_prefix(prefix) {
            if rest.is_empty() {
                return Some(Zone::Offset(0));
            }
            if rest.starts_with(['+', '-']) {
                return zone(rest);
            }
        }
    }
    let hours = match upper.as_str() {
        "Z" => 0,
        "EDT" => -4,
        "EST" | "CDT" => -5,
        "MDT" => -6,
        "MST" => -7,
        "PDT" => -7,
        "PST" => -8,
        "CST" => return Some(Zone::Local),
        "BJT" | "HKT" | "SGT" | "AWST" | "PHT" => 8,
        "JST" | "KST" => 9,
        _ => return None,
    };
    Some(Zone::Offset(hours * 3600))
}

/// Digits of a numeric zone after its sign: `0800`, `08:00`, `8`, `08`. `Some(None)`: it is a
/// zone, but not a possible one (`+2500`, `+0875`).
fn numeric_offset(rest: &str) -> Option<Option<i32>> {
    let digits: String = rest.chars().filter(|c| *c != ':').collect();
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let (h, m) = match digits.len() {
        1 | 2 => (digits.parse::<i32>().ok()?, 0),
        3 | 4 => {
            let n: i32 = digits.parse().ok()?;
            (n / 100, n % 100)
        }
        _ => return None,
    };
    if h > 14 || m > 59 {
        return Some(None);
    }
    Some(Some(h * 3600 + m * 60))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zoned(s: &str) -> Option<MailDate> {
        Some(MailDate::Zoned(DateTime::parse_from_rfc3339(s).unwrap()))
    }

    fn local(s: &str) -> Option<MailDate> {
        Some(MailDate::Local(
            NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").unwrap(),
        ))
    }

    fn p(s: &str) -> Option<MailDate> {
        parse(s.as_bytes())
    }

    #[test]
    fn rfc5322_with_numeric_zones() {
        assert_eq!(
            p("Mon, 5 Jun 2023 10:00:00 +0800"),
            zoned("2023-06-05T10:00:00+08:00")
        );
        assert_eq!(
            p("Mon, 05 Jun 2023 10:00:00 -0500"),
            zoned("2023-06-05T10:00:00-05:00")
        );
        assert_eq!(
            p("5 Jun 2023 10:00 +0000"),
            zoned("2023-06-05T10:00:00+00:00")
        );
        assert_eq!(
            p("Mon,\r\n 5 Jun 2023\t10:00:00 +0800"),
            zoned("2023-06-05T10:00:00+08:00")
        );
        assert_eq!(
            p("Mon, 5 Jun 23 10:00:00 GMT"),
            zoned("2023-06-05T10:00:00+00:00")
        );
        assert_eq!(
            p("Mon, 5 Jun 2023 10:00:00 EST"),
            zoned("2023-06-05T10:00:00-05:00")
        );
    }

    #[test]
    fn a_numeric_zone_wins_over_its_comment() {
        assert_eq!(
            p("Mon, 5 Jun 2023 10:00:00 +0800 (CST)"),
            zoned("2023-06-05T10:00:00+08:00")
        );
        assert_eq!(
            p("Tue, 6 Jun 2023 09:48:56 +0800 (GMT+08:00)"),
            zoned("2023-06-06T09:48:56+08:00")
        );
        // Only in a comment: still a zone.
        assert_eq!(
            p("Mon, 5 Jun 2023 10:00:00 (GMT+08:00)"),
            zoned("2023-06-05T10:00:00+08:00")
        );
    }

    #[test]
    fn no_zone_and_cst_are_the_campaigns_wall_clock() {
        assert_eq!(p("Mon, 5 Jun 2023 10:00:00"), local("2023-06-05 10:00:00"));
        assert_eq!(
            p("Mon, 5 Jun 2023 10:00:00 CST"),
            local("2023-06-05 10:00:00")
        );
        assert_eq!(
            p("Mon, 5 Jun 2023 10:00:00 (CST)"),
            local("2023-06-05 10:00:00")
        );
        // An offset that cannot exist says nothing about the zone.
        assert_eq!(
            p("Mon, 5 Jun 2023 10:00:00 +2500"),
            local("2023-06-05 10:00:00")
        );
        // An unknown name neither.
        assert_eq!(
            p("Mon, 5 Jun 2023 10:00:00 XYZT"),
            local("2023-06-05 10:00:00")
        );
    }

    #[test]
    fn iso_chinese_and_other_shapes() {
        assert_eq!(p("2023-06-05 10:00:00"), local("2023-06-05 10:00:00"));
        assert_eq!(p("2023/6/5 10:00"), local("2023-06-05 10:00:00"));
        assert_eq!(
            p("2023-06-05T10:00:00+08:00"),
            zoned("2023-06-05T10:00:00+08:00")
        );
        assert_eq!(
            p("2023-06-05T02:00:00.123Z"),
            zoned("2023-06-05T02:00:00+00:00")
        );
        assert_eq!(p("2023年6月5日 10:00:00"), local("2023-06-05 10:00:00"));
        // asctime, and IMAP's INTERNALDATE form.
        assert_eq!(p("Mon Jun  5 10:00:00 2023"), local("2023-06-05 10:00:00"));
        assert_eq!(
            p("05-Jun-2023 10:00:00 +0800"),
            zoned("2023-06-05T10:00:00+08:00")
        );
        assert_eq!(
            p("Mon, 5 Jun 2023 10:00:00 PM +0800"),
            zoned("2023-06-05T22:00:00+08:00")
        );
        assert_eq!(
            p("Mon, 5 June 2023 10:00:00 UTC+8"),
            zoned("2023-06-05T10:00:00+08:00")
        );
        assert_eq!(
            p("Fri, 30 Jun 2023 23:59:60 +0800"),
            zoned("2023-06-30T23:59:59+08:00")
        );
    }

    #[test]
    fn garbage_is_none() {
        for s in [
            "",
            "garbage",
            "Mon, 5 Jun 2023",
            "10:00:00",
            "Mon, 31 Jun 2023 10:00:00 +0800",
            "Mon, 5 Jun 2023 25:00:00 +0800",
            "Mon, 5 Foo 2023 10:00:00 +0800",
            "Mon, 5 Jun 0001 10:00:00 +0800",
            "6/5/2023 10:00:00",
            "Mon, 5 Jun 2023 10:99:00",
            "((((((((((",
        ] {
            assert_eq!(p(s), None, "{s:?}");
        }
        assert_eq!(
            parse(b"\xFF\xFE\x00 5 Jun 2023 \x80 10:00:00"),
            local("2023-06-05 10:00:00")
        );
        // Long hostile values are cut, not scanned forever.
        let long = "9".repeat(1 << 20);
        assert_eq!(p(&long), None);
    }

    #[test]
    fn to_utc_reads_local_dates_in_the_campaign_zone() {
        let shanghai: Tz = "Asia/Shanghai".parse().unwrap();
        let utc = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
        assert_eq!(
            p("Fri, 9 Jun 2023 23:30:00").unwrap().to_utc(&shanghai),
            utc("2023-06-09T15:30:00Z")
        );
        assert_eq!(
            p("Fri, 9 Jun 2023 23:30:00 CST").unwrap().to_utc(&shanghai),
            utc("2023-06-09T15:30:00Z")
        );
        // A zoned date ignores the campaign zone.
        assert_eq!(
            p("Fri, 9 Jun 2023 23:30:00 +0000")
                .unwrap()
                .to_utc(&shanghai),
            utc("2023-06-09T23:30:00Z")
        );
        // A DST gap and a repeated hour elsewhere: total, and deterministic.
        let ny: Tz = "America/New_York".parse().unwrap();
        assert_eq!(
            p("Sun, 12 Mar 2023 02:30:00").unwrap().to_utc(&ny),
            utc("2023-03-12T07:30:00Z")
        );
        assert_eq!(
            p("Sun, 5 Nov 2023 01:30:00").unwrap().to_utc(&ny),
            utc("2023-11-05T05:30:00Z")
        );
    }

    /// Why this module exists: what mail-parser 0.11 makes of the same dates. A date without
    /// a zone is no date at all (unless a space follows it, and then it is UTC), so the
    /// message fell back to the time it was processed; `CST` is US Central.
    #[test]
    fn mail_parser_drops_a_date_without_zone_and_reads_cst_as_us_central() {
        let header = |s: &str| {
            let raw = format!("From: a@b.cn\r\nDate: {s}\r\nSubject: x\r\n\r\nbody");
            mail_parser::MessageParser::default()
                .parse(raw.as_bytes())
                .and_then(|m| m.date().map(|d| d.to_rfc3339()))
        };
        assert_eq!(header("Fri, 9 Jun 2023 23:30:00"), None);
        assert_eq!(
            header("Fri, 9 Jun 2023 23:30:00 ").as_deref(),
            Some("2023-06-09T23:30:00Z")
        );
        assert_eq!(
            header("Fri, 9 Jun 2023 23:30:00 CST").as_deref(),
            Some("2023-06-09T23:30:00-06:00")
        );
        assert_eq!(header("2023-06-09 23:30:00"), None);
        assert_eq!(
            header("Fri, 9 Jun 2023 23:30:00 +0800 (CST)").as_deref(),
            Some("2023-06-09T23:30:00+08:00")
        );
    }
}
