//! When reminders and daily reports fall due. Pure: settings and a time in, the latest round due
//! at that time out. Rounds missed while the service was down collapse into the latest one,
//! and nothing is sent outside the campaign's window (opening to some days past the deadline).

use crate::campaign::{Campaign, ReminderRound};
use chrono::{DateTime, Days, NaiveDate, NaiveTime, TimeZone, Utc};

/// When a campaign's reminders and daily reports go out.
#[derive(Debug, Clone)]
pub struct ScheduleSettings {
    pub reminders: Vec<ReminderRound>,
    pub daily_report_at: chrono::NaiveTime,
    pub report_days_after_deadline: i64,
}

/// Where time comes from: the system, or a fixed instant (tests, `--now`).
#[derive(Debug, Clone, Copy)]
pub enum Clock {
    System,
    Fixed(DateTime<Utc>),
}

impl Clock {
    pub fn now(&self) -> DateTime<Utc> {
        match self {
            Clock::System => Utc::now(),
            Clock::Fixed(t) => *t,
        }
    }
}

/// One round of a schedule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Round {
    /// Unique across campaigns and rounds: `reminder:2023-06-10:-3:09:00`, `report:2023-06-05`.
    pub key: String,
    pub due_at: DateTime<Utc>,
    /// For reminders: days from the deadline's date.
    pub days: i64,
    /// For reports: the local date it reports on.
    pub date: NaiveDate,
}

fn local_instant(campaign: &Campaign, date: NaiveDate, at: NaiveTime) -> Option<DateTime<Utc>> {
    campaign
        .tz
        .from_local_datetime(&date.and_time(at))
        .earliest()
        .map(|t| t.with_timezone(&Utc))
}

fn shift(date: NaiveDate, days: i64) -> Option<NaiveDate> {
    if days >= 0 {
        date.checked_add_days(Days::new(days as u64))
    } else {
        date.checked_sub_days(Days::new(days.unsigned_abs()))
    }
}

fn deadline_date(campaign: &Campaign) -> NaiveDate {
    campaign.deadline.with_timezone(&campaign.tz).date_naive()
}

/// The end of the window in which anything is sent.
pub fn window_end(campaign: &Campaign, schedule: &ScheduleSettings) -> DateTime<Utc> {
    campaign.deadline.with_timezone(&Utc)
        + chrono::Duration::days(schedule.report_days_after_deadline.max(0) + 1)
}

/// Every configured reminder round of the campaign.
fn reminder_rounds<'a>(
    campaign: &'a Campaign,
    schedule: &'a ScheduleSettings,
) -> impl Iterator<Item = Round> + 'a {
    let base = deadline_date(campaign);
    schedule.reminders.iter().filter_map(move |r| {
        let date = shift(base, r.days)?;
        Some(Round {
            key: format!("reminder:{base}:{:+}:{}", r.days, r.at.format("%H:%M")),
            due_at: local_instant(campaign, date, r.at)?,
            days: r.days,
            date,
        })
    })
}

/// The latest reminder round due at `now`, if any and if still within the campaign window.
pub fn latest_reminder_round(
    campaign: &Campaign,
    schedule: &ScheduleSettings,
    now: DateTime<Utc>,
) -> Option<Round> {
    if now > window_end(campaign, schedule) {
        return None;
    }
    reminder_rounds(campaign, schedule)
        .filter(|r| r.due_at <= now)
        .max_by_key(|r| r.due_at)
}

/// The next reminder round after `now` (for `remind --dry-run`).
pub fn next_reminder_round(
    campaign: &Campaign,
    schedule: &ScheduleSettings,
    now: DateTime<Utc>,
) -> Option<Round> {
    reminder_rounds(campaign, schedule)
        .filter(|r| r.due_at > now)
        .min_by_key(|r| r.due_at)
}

/// The daily report due at `now`: today's once its time has passed, else yesterday's — within
/// the campaign's opening and `report_days_after_deadline` days past the deadline.
pub fn latest_daily_report(
    campaign: &Campaign,
    schedule: &ScheduleSettings,
    now: DateTime<Utc>,
) -> Option<Round> {
    let tz = campaign.tz;
    let today = now.with_timezone(&tz).date_naive();
    let at = schedule.daily_report_at;
    let date = match local_instant(campaign, today, at) {
        Some(t) if t <= now => today,
        _ => shift(today, -1)?,
    };
    let first = campaign.opens.with_timezone(&tz).date_naive();
    let last = shift(deadline_date(campaign), schedule.report_days_after_deadline)?;
    if date < first || date > last {
        return None;
    }
    Some(Round {
        key: format!("report:{date}"),
        due_at: local_instant(campaign, date, at)?,
        days: 0,
        date,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Settings;

    fn settings() -> Settings {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config/reportbox.toml");
        Settings::load(&path, Vec::new()).expect("shipped config")
    }

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn reminder_rounds_fall_at_nine_local_time_around_the_deadline_date() {
        let s = settings();
        let due: Vec<String> = reminder_rounds(&s.campaign, &s.schedule)
            .map(|r| r.due_at.with_timezone(&s.campaign.tz).to_rfc3339())
            .collect();
        assert_eq!(
            due,
            [
                "2023-06-07T09:00:00+08:00",
                "2023-06-09T09:00:00+08:00",
                "2023-06-11T09:00:00+08:00",
                "2023-06-13T09:00:00+08:00"
            ]
        );
    }

    #[test]
    fn only_the_latest_due_round_counts_and_none_before_the_first() {
        let s = settings();
        assert_eq!(
            latest_reminder_round(&s.campaign, &s.schedule, at("2023-06-07T08:59:59+08:00")),
            None
        );
        let r = latest_reminder_round(&s.campaign, &s.schedule, at("2023-06-12T00:00:00+08:00"))
            .unwrap();
        assert_eq!(r.days, 1);
        let next =
            next_reminder_round(&s.campaign, &s.schedule, at("2023-06-12T00:00:00+08:00")).unwrap();
        assert_eq!(next.days, 3);
    }

    #[test]
    fn nothing_is_due_long_after_the_campaign() {
        let s = settings();
        assert_eq!(
            latest_reminder_round(&s.campaign, &s.schedule, at("2026-12-01T09:00:00+08:00")),
            None
        );
        assert_eq!(
            latest_daily_report(&s.campaign, &s.schedule, at("2026-12-01T09:00:00+08:00")),
            None
        );
    }

    #[test]
    fn the_daily_report_is_yesterdays_until_todays_time_has_come() {
        let s = settings();
        let before =
            latest_daily_report(&s.campaign, &s.schedule, at("2023-06-05T08:29:00+08:00")).unwrap();
        assert_eq!(before.key, "report:2023-06-04");
        let after =
            latest_daily_report(&s.campaign, &s.schedule, at("2023-06-05T08:30:00+08:00")).unwrap();
        assert_eq!(after.key, "report:2023-06-05");
        // Reports run from the opening until report_days_after_deadline (7) past the deadline.
        assert_eq!(
            latest_daily_report(&s.campaign, &s.schedule, at("2023-05-08T12:00:00+08:00")),
            None
        );
        assert!(
            latest_daily_report(&s.campaign, &s.schedule, at("2023-06-17T12:00:00+08:00"))
                .is_some()
        );
        assert_eq!(
            latest_daily_report(&s.campaign, &s.schedule, at("2023-06-18T12:00:00+08:00")),
            None
        );
    }
}
