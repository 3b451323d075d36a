//! What the coordinator's desk adds to the status (issue 9): a link's details for its reviewer,
//! the newest review of a file, and the notes units wrote. Pure, like the rest of `status`.

use super::{short_time, FileRecord, ReviewRecord};
use crate::problem::{ItemState, Problem};
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::Serialize;

/// A note a unit wrote to the staff (a question, a message without a file) that nobody has marked
/// handled yet: the status lists it, as the daily email does under 单位来信.
#[derive(Debug, Clone, Serialize)]
pub struct NoteView {
    /// The message's number, which `handled` takes.
    pub number: i64,
    pub unit_id: Option<String>,
    pub from: Option<String>,
    pub subject: String,
    pub received_at: String,
    /// The unit's own words, at most 500 characters.
    pub text: String,
    /// The message also carried files, counted as usual.
    pub with_files: bool,
}

/// A large-attachment link as the reviewer needs it: where, what, how big, until when.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct LinkView {
    pub url: String,
    pub file: Option<String>,
    pub size: Option<String>,
    /// As the share page or message wrote it (`2023年6月23日 15:40`).
    pub expires: Option<String>,
    /// The expiry is within [`EXPIRY_WARNING_DAYS`] days (or past): download now.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub expires_soon: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub expired: bool,
}

/// A link expiring within this many days is flagged to the reviewer.
pub const EXPIRY_WARNING_DAYS: i64 = 3;

impl LinkView {
    /// The warning a reviewer reads next to the link, if it is about to expire or has.
    pub fn warning_zh(&self) -> Option<String> {
        if self.expired {
            Some("链接已过期，请联系单位重新发送".to_string())
        } else if self.expires_soon {
            Some(format!("链接将在{EXPIRY_WARNING_DAYS}天内到期，请尽快下载"))
        } else {
            None
        }
    }
}

/// The coordinator's verdict on an item's file, as the status shows it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ReviewView {
    /// `accepted` or `rejected`.
    pub verdict: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub by: String,
    pub at: String,
}

impl ReviewView {
    /// `审核通过（张三，2023-06-08 10:00）` or `审核未通过（…）：理由`.
    pub fn describe_zh(&self) -> String {
        let verdict = if self.verdict == "accepted" {
            "审核通过"
        } else {
            "审核未通过"
        };
        let mut s = format!("{verdict}（{}，{}）", self.by, short_time(&self.at));
        if let Some(r) = &self.reason {
            s.push('：');
            s.push_str(r);
        }
        s
    }
}

/// A link's stated expiry (`2023年6月23日 15:40`, `2023年6月23日`, `2023-06-23 15:40`) as an
/// instant, read in the campaign's zone; a date alone lasts to its end.
pub fn parse_expiry(text: &str, tz: Tz) -> Option<DateTime<Utc>> {
    use chrono::{NaiveDate, NaiveTime, TimeZone};
    let digits: Vec<u32> = text
        .split(|c: char| !c.is_ascii_digit())
        .filter(|p| !p.is_empty())
        .map(|p| p.parse().ok())
        .collect::<Option<Vec<u32>>>()?;
    let (date, time) = match digits[..] {
        [y, m, d] => (
            NaiveDate::from_ymd_opt(y as i32, m, d)?,
            NaiveTime::from_hms_opt(23, 59, 59)?,
        ),
        [y, m, d, h, min, ..] => (
            NaiveDate::from_ymd_opt(y as i32, m, d)?,
            NaiveTime::from_hms_opt(h, min, 0)?,
        ),
        _ => return None,
    };
    tz.from_local_datetime(&date.and_time(time))
        .earliest()
        .map(|t| t.with_timezone(&Utc))
}

/// A file's state and problems after the coordinator's newest verdict on it: accepted is valid
/// (its review notes are settled), rejected is invalid with the reason as an error the unit
/// reads.
pub(super) fn reviewed(f: &FileRecord, review: Option<&ReviewRecord>) -> (ItemState, Vec<Problem>) {
    let Some(r) = review else {
        return (f.state, f.problems.clone());
    };
    let mut problems: Vec<Problem> = f
        .problems
        .iter()
        .filter(|p| p.severity != crate::problem::Severity::Review)
        .cloned()
        .collect();
    if r.accepted {
        (ItemState::Valid, problems)
    } else {
        let why = if r.reason.is_empty() {
            "工作人员审核后认为该材料不符合要求，请更正后重新发送".to_string()
        } else {
            format!("工作人员审核未通过：{}", r.reason)
        };
        problems.push(Problem::error("review.rejected", why));
        (ItemState::Invalid, problems)
    }
}

pub(super) fn link_view(f: &FileRecord, url: &str, tz: Tz, now: DateTime<Utc>) -> LinkView {
    let until = f.link_expires.as_deref().and_then(|e| parse_expiry(e, tz));
    LinkView {
        url: url.to_string(),
        file: Some(f.name.clone()),
        size: f.link_size.clone(),
        expires: f.link_expires.clone(),
        expires_soon: until.is_some_and(|t| t - now <= chrono::Duration::days(EXPIRY_WARNING_DAYS)),
        expired: until.is_some_and(|t| t <= now),
    }
}

/// A link in one line: 下载链接、文件名、大小、有效期, and a warning when it expires soon.
pub fn link_line(link: &LinkView) -> String {
    let mut parts = vec![format!("下载链接 {}", link.url)];
    if let Some(f) = &link.file {
        parts.push(format!("文件名 {f}"));
    }
    if let Some(s) = &link.size {
        parts.push(format!("大小 {s}"));
    }
    parts.push(format!(
        "有效期 {}",
        link.expires.as_deref().unwrap_or("未注明")
    ));
    if let Some(w) = link.warning_zh() {
        parts.push(format!("⚠ {w}"));
    }
    parts.join("；")
}

#[cfg(test)]
mod tests {
    use super::super::tests::{all_valid, campaign, file, msg, unit};
    use super::super::*;
    use chrono::TimeZone;

    fn review(id: i64, message: i64, accepted: bool, reason: &str) -> ReviewRecord {
        ReviewRecord {
            id,
            message_db_id: message,
            ordinal: 0,
            accepted,
            reason: reason.into(),
            reviewer: "王老师".into(),
            at: Utc.with_ymd_and_hms(2023, 6, 7, 2, 0, 0).unwrap(),
        }
    }

    #[test]
    fn the_newest_review_of_the_newest_file_decides_and_a_newer_file_supersedes_it() {
        let mut files = all_valid(1);
        files[2].state = ItemState::NeedsReview;
        files[2].problems = vec![Problem::review("video.link_only", "超大附件链接，待审核")];
        let messages = [msg(1, Some("a"), 5, Disposition::Processed)];
        let reviews = [review(1, 1, true, ""), review(2, 1, false, "视频无法播放")];
        let s = compute(
            &campaign(),
            &[unit("a")],
            &messages,
            &files,
            &reviews,
            Utc::now(),
        );
        let video = &s.units[0].items["video"];
        assert_eq!(video.state, ItemState::Invalid);
        assert_eq!(s.units[0].status, UnitStatus::Incomplete);
        assert_eq!(video.problems.len(), 1, "{:?}", video.problems);
        assert_eq!(video.problems[0].code, "review.rejected");
        assert!(video.problems[0].message.contains("视频无法播放"));
        let json = serde_json::to_value(&s).unwrap();
        assert_eq!(
            json["units"][0]["items"]["video"]["review"]["verdict"],
            "rejected"
        );
        assert_eq!(json["units"][0]["items"]["video"]["review"]["by"], "王老师");

        let reviews = [review(2, 1, false, "视频无法播放"), review(3, 1, true, "")];
        let s = compute(
            &campaign(),
            &[unit("a")],
            &messages,
            &files,
            &reviews,
            Utc::now(),
        );
        assert_eq!(s.units[0].items["video"].state, ItemState::Valid);
        assert!(s.units[0].items["video"].problems.is_empty());
        assert_eq!(s.units[0].status, UnitStatus::Complete);

        // A newer video: the old review no longer applies.
        let messages = [
            msg(1, Some("a"), 5, Disposition::Processed),
            msg(2, Some("a"), 8, Disposition::Processed),
        ];
        files.push(file(2, "video", ItemState::NeedsReview));
        let s = compute(
            &campaign(),
            &[unit("a")],
            &messages,
            &files,
            &reviews,
            Utc::now(),
        );
        assert_eq!(s.units[0].items["video"].state, ItemState::NeedsReview);
        assert!(s.units[0].items["video"].review.is_none());
    }

    #[test]
    fn a_link_shows_its_details_and_warns_within_three_days_of_expiry() {
        let mut files = all_valid(1);
        files[2].state = ItemState::NeedsReview;
        files[2].link_url = Some("https://mail.163.com/x?file=1".into());
        files[2].link_size = Some("486.2M".into());
        files[2].link_expires = Some("2023年6月23日 15:40".into());
        let messages = [msg(1, Some("a"), 5, Disposition::Processed)];
        let at = |d: u32| Utc.with_ymd_and_hms(2023, 6, d, 8, 0, 0).unwrap();
        let c = campaign();
        let s = compute(&c, &[unit("a")], &messages, &files, &[], at(10));
        let json = serde_json::to_value(&s).unwrap();
        let link = &json["units"][0]["items"]["video"]["link"];
        assert_eq!(link["url"], "https://mail.163.com/x?file=1");
        assert_eq!(link["file"], "video-1");
        assert_eq!(link["size"], "486.2M");
        assert_eq!(link["expires"], "2023年6月23日 15:40");
        assert!(link.get("expires_soon").is_none(), "{link}");
        let s = compute(&c, &[unit("a")], &messages, &files, &[], at(21));
        let table = render_table(&s, &c);
        assert!(
            table.contains("下载链接 https://mail.163.com/x?file=1；文件名 video-1；大小 486.2M；有效期 2023年6月23日 15:40；⚠ 链接将在3天内到期"),
            "{table}"
        );
        let s = compute(&c, &[unit("a")], &messages, &files, &[], at(24));
        let link = s.units[0].items["video"].link_view.clone().unwrap();
        assert!(link.expired && link.warning_zh().unwrap().contains("已过期"));
    }

    #[test]
    fn expiry_texts_are_read_in_the_campaign_zone() {
        let tz = chrono_tz::Asia::Shanghai;
        assert_eq!(
            parse_expiry("2023年6月23日 15:40", tz),
            Some(Utc.with_ymd_and_hms(2023, 6, 23, 7, 40, 0).unwrap())
        );
        assert_eq!(
            parse_expiry("2023年6月23日", tz),
            Some(Utc.with_ymd_and_hms(2023, 6, 23, 15, 59, 59).unwrap())
        );
        assert_eq!(parse_expiry("30天后", tz), None);
    }
}
