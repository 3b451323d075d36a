//! The coordinator's desk commands (issue 9): `review`, `handled` and `history`.

use super::{resolve, send_now};
use crate::campaign::{EmailState, ItemDef, ValidatorKind};
use crate::config::Settings;
use crate::store::{Handled, ReviewOutcome, ReviewRequest, Store, StoreError};
use anyhow::bail;
use chrono::Utc;
use std::process::ExitCode;

/// Who the coordinator is: `--by`, else the login name, so every review and handled note says
/// who decided.
fn reviewer(by: Option<String>) -> String {
    by.filter(|b| !b.trim().is_empty())
        .or_else(|| std::env::var("USER").ok().filter(|u| !u.is_empty()))
        .or_else(|| std::env::var("LOGNAME").ok().filter(|u| !u.is_empty()))
        .unwrap_or_else(|| "协调人".to_string())
}

/// Short names people use for an item besides its label, by what checks it.
fn synonyms(v: ValidatorKind) -> &'static [&'static str] {
    match v {
        ValidatorKind::Table => &["统计表", "表格", "表"],
        ValidatorKind::Report => &["总结报告", "总结", "报告"],
        ValidatorKind::Video => &["视频", "影像", "影像资料"],
        _ => &[],
    }
}

/// The item the coordinator typed: its key (`video`), its label (`影像资料`), a part of the
/// label only one item has (`统计表`, `总结报告`), or a common short name (`视频`).
pub fn resolve_item<'s>(items: &'s [ItemDef], typed: &str) -> anyhow::Result<&'s ItemDef> {
    use unicode_normalization::UnicodeNormalization;
    let t: String = typed.nfkc().filter(|c| !c.is_whitespace()).collect();
    if let Some(i) = items
        .iter()
        .find(|i| i.key.eq_ignore_ascii_case(&t) || i.label == t)
    {
        return Ok(i);
    }
    let found: Vec<&ItemDef> = items
        .iter()
        .filter(|i| {
            (!t.is_empty() && i.label.contains(&t)) || synonyms(i.validator).contains(&t.as_str())
        })
        .collect();
    match found[..] {
        [one] => Ok(one),
        _ => {
            let known: Vec<String> = items
                .iter()
                .map(|i| format!("{}（{}）", i.label, i.key))
                .collect();
            bail!("无法确定项目“{typed}”，请写其中之一：{}", known.join("、"))
        }
    }
}

pub async fn review(
    settings: &Settings,
    store: &Store,
    unit: &str,
    item: &str,
    reject: Option<String>,
    by: Option<String>,
) -> anyhow::Result<ExitCode> {
    let unit = resolve(settings, unit)?;
    let item = resolve_item(&settings.campaign.items, item)?;
    let reason = reject.as_deref().map(str::trim).unwrap_or_default();
    if reject.is_some() && reason.is_empty() {
        bail!("请在 --reject 后写明不通过的理由，单位会在邮件中看到它");
    }
    let by = reviewer(by);
    let outcome = store
        .record_review(
            &settings.campaign_view(),
            &ReviewRequest {
                unit_id: &unit.id,
                item: &item.key,
                accept: reject.is_none(),
                reason,
                reviewer: &by,
            },
            |r| crate::notify::desk::rejection(&settings.compose(), r, unit),
        )
        .await;
    let (name, label) = (&unit.name, &item.label);
    let outcome = match outcome {
        Err(StoreError::NothingToReview { state, .. }) => bail!(
            "“{name}”的{label}{state}，没有等待审核的文件；只有待审核的材料（如超大附件链接）需要审核"
        ),
        other => other?,
    };
    match outcome {
        ReviewOutcome::Unchanged { file } => {
            println!("“{name}”的{label}《{file}》已有相同的审核结果，未作改动");
        }
        ReviewOutcome::Recorded { file, .. } if reject.is_none() => {
            println!("已记录：“{name}”的{label}《{file}》审核通过，计为合格（审核人 {by}）");
        }
        ReviewOutcome::Recorded {
            file,
            emailed: false,
        } => {
            println!(
                "已记录：“{name}”的{label}《{file}》审核未通过（审核人 {by}）；该单位没有邮箱地址，请电话告知：{reason}"
            );
        }
        ReviewOutcome::Recorded {
            file,
            emailed: true,
        } => {
            println!("已记录：“{name}”的{label}《{file}》审核未通过（审核人 {by}）");
            // The review is recorded and its email queued whatever happens now: a failed pass
            // only delays the email, which the service (or the next `send`) delivers.
            let pass = send_now(settings, store, Utc::now()).await;
            let row = store
                .outbox(Some("review"))
                .await?
                .into_iter()
                .rfind(|row| row.email.unit_id.as_deref() == Some(unit.id.as_str()));
            match (row, pass) {
                (Some(row), _) if row.state == EmailState::Sent => println!(
                    "已将理由发邮件告知单位（{}）",
                    row.email.recipients.join("，")
                ),
                (_, Err(e)) => println!(
                    "告知单位的邮件已排入发送队列，但此次未能发送（{e:#}）；服务运行时或下次 send 时自动发送"
                ),
                (_, Ok(_)) => println!("告知单位的邮件已排入发送队列，稍后自动发送"),
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn handled(
    store: &Store,
    settings: &Settings,
    number: i64,
    by: Option<String>,
) -> anyhow::Result<ExitCode> {
    let by = reviewer(by);
    match store.mark_handled(number, &by).await? {
        Handled::Now { unit_id } => {
            let who = unit_id
                .as_deref()
                .and_then(|u| settings.roster.get(u))
                .map(|u| format!("“{}”的", u.name))
                .unwrap_or_default();
            println!("{who}来信（编号 {number}）已标记为已处理，日报中不再列出");
        }
        Handled::Already { at } => println!(
            "来信（编号 {number}）已于 {} 标记为已处理",
            crate::notify::compose::time_zh(&at, &settings.compose())
        ),
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn history(settings: &Settings, store: &Store, unit: &str) -> anyhow::Result<ExitCode> {
    let unit = resolve(settings, unit)?;
    let entries = store.history(&unit.id).await?;
    let label = |key: &str| match settings.campaign.item(key) {
        Some(i) => i.label.clone(),
        None if key == "photos" => "活动照片".to_string(),
        None if key.ends_with("_scan") => "统计表扫描件".to_string(),
        None => "其他文件".to_string(),
    };
    print!(
        "{}",
        crate::history::render(&unit.name, &entries, settings.campaign.tz, &label)
    );
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn items() -> Vec<ItemDef> {
        [
            ("statistics_table", "开展情况统计表", ValidatorKind::Table),
            ("summary_report", "活动周总结报告", ValidatorKind::Report),
            ("video", "影像资料", ValidatorKind::Video),
        ]
        .into_iter()
        .map(|(key, label, validator)| ItemDef {
            key: key.into(),
            label: label.into(),
            code: key.into(),
            required: true,
            validator,
            kinds: vec![],
            extensions: vec![],
            scan_name_contains: vec![],
            prefer_name_contains: vec![],
            export_name: label.into(),
        })
        .collect()
    }

    #[test]
    fn an_item_is_named_by_key_label_part_of_label_or_short_name() {
        let items = items();
        for (typed, key) in [
            ("video", "video"),
            ("影像资料", "video"),
            ("视频", "video"),
            ("统计表", "statistics_table"),
            ("开展情况统计表", "statistics_table"),
            ("总结报告", "summary_report"),
            ("STATISTICS_TABLE", "statistics_table"),
        ] {
            assert_eq!(resolve_item(&items, typed).unwrap().key, key, "{typed}");
        }
        let err = resolve_item(&items, "照片").unwrap_err().to_string();
        assert!(err.contains("影像资料（video）"), "{err}");
    }
}
