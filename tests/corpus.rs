//! The regression corpus of tests/corpus (written by tests/corpus/make_corpus.py): mail a public
//! 163 address gets besides submissions — spam, phishing, notifications, no-reply senders,
//! auto-replies of every common client, bounces, list robots, replies to our own emails — and
//! submissions with real-world quirks (HTML entities before CJK text, odd Date zones, NUL
//! characters, a broken From charset, no From at all). Each message, fed in file-name order
//! like `import`, must land where expected.json says: counted for a unit, a note (no file) for
//! 单位来信, unmatched with a reason, or set aside with a reason; with exactly one
//! acknowledgement (for a note, its 已转交 reply) or none.

mod common;

use common::{env, repo};
use reportbox::campaign::Disposition;
use reportbox::intake;
use reportbox::store::Saved;
use serde_json::Value;
use sqlx::PgPool;

fn corpus() -> Vec<(String, Vec<u8>, Value)> {
    let dir = repo().join("tests/corpus");
    let expected: Vec<Value> =
        serde_json::from_slice(&std::fs::read(dir.join("expected.json")).unwrap()).unwrap();
    expected
        .into_iter()
        .map(|e| {
            let file = e["file"].as_str().unwrap().to_string();
            let raw = std::fs::read(dir.join("mail").join(&file)).unwrap();
            (file, raw, e)
        })
        .collect()
}

fn listed<'a>(status: &'a Value, list: &str, message_id: &str) -> Option<&'a str> {
    status[list]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["message_id"] == message_id)
        .map(|m| m["reason"].as_str().unwrap())
}

#[sqlx::test(migrations = "./migrations")]
async fn every_corpus_message_lands_where_expected_with_one_acknowledgement_or_none(pool: PgPool) {
    let env = env(pool).await;
    let mut outcomes = Vec::new();
    for (file, raw, want) in corpus() {
        let outcome = env.process(raw, &file).await;
        outcomes.push((file, outcome, want));
    }
    let status = env.status_json().await;
    let mut wrong = Vec::new();
    for (file, outcome, want) in &outcomes {
        let Saved::Recorded {
            id,
            disposition,
            unit_id,
            ..
        } = &outcome.saved
        else {
            wrong.push(format!("{file}: not recorded: {:?}", outcome.saved));
            continue;
        };
        let (message_id, files, acks): (Option<String>, i64, i64) = sqlx::query_as(
            "SELECT m.message_id,
                    (SELECT count(*) FROM files f WHERE f.message_id = m.id),
                    (SELECT count(*) FROM outbox o WHERE o.message_id = m.id AND o.kind = 'ack')
               FROM messages m WHERE m.id = $1",
        )
        .bind(id)
        .fetch_one(&env.store.pool)
        .await
        .unwrap();
        let message_id = message_id.unwrap_or_default();
        let place = want["where"].as_str().unwrap();
        let (kind, value) = place.split_once(':').unwrap();
        let got = match kind {
            "unit" => unit_id.clone().map(|u| format!("unit:{u}")),
            // A note (no file) is its unit's, or nobody's, and listed under 单位来信 only.
            "note" => (*disposition == Disposition::Note)
                .then(|| format!("note:{}", unit_id.clone().unwrap_or_default())),
            "unmatched" => {
                listed(&status, "unmatched", &message_id).map(|r| format!("unmatched:{r}"))
            }
            _ => listed(&status, "ignored", &message_id).map(|r| format!("ignored:{r}")),
        };
        if got.as_deref() != Some(place) {
            wrong.push(format!(
                "{file}: expected {place}, got {got:?} (disposition {disposition}, unit {unit_id:?})"
            ));
        }
        if kind == "unit" && *disposition != Disposition::Processed {
            wrong.push(format!("{file}: {value} but disposition {disposition}"));
        }
        let ack = want["ack"].as_bool().unwrap();
        if outcome.ack_due != ack || acks != i64::from(ack) {
            wrong.push(format!(
                "{file}: acknowledgement expected {ack}, owed {}, queued {acks}",
                outcome.ack_due
            ));
        }
        if let Some(n) = want["files"].as_i64() {
            if files != n {
                wrong.push(format!("{file}: {n} file(s) expected, {files} recorded"));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "{} of {}:\n{}",
        wrong.len(),
        outcomes.len(),
        wrong.join("\n")
    );
}

#[sqlx::test(migrations = "./migrations")]
async fn the_daily_report_counts_set_aside_mail_and_lists_recent_unrelated_messages(pool: PgPool) {
    let env = env(pool).await;
    for (file, raw, _) in corpus() {
        env.process(raw, &file).await;
    }
    let status = env
        .store
        .status(&env.settings.campaign_view(), chrono::Utc::now())
        .await
        .unwrap();
    let report = reportbox::notify::compose::daily_report(
        &env.settings.compose(),
        "2023-06-07",
        &status,
        &[],
        &[],
        None,
    );
    let text = report.body_text;
    assert!(text.contains("八、未计入的邮件"), "{text}");
    for reason in [
        "自动回复",
        "退信",
        "群发或邮件列表",
        "垃圾邮件",
        "与本次报送无关",
    ] {
        assert!(text.contains(reason), "{reason} not counted:\n{text}");
    }
    // The five most recent unrelated messages, newest first, each with how to assign it.
    assert!(
        text.contains("您的邮箱在新设备登录") || text.contains("网易邮箱安全提醒"),
        "{text}"
    );
    assert_eq!(text.matches("如确为报送材料").count(), 5, "{text}");
}

#[sqlx::test(migrations = "./migrations")]
async fn each_units_status_read_alone_equals_its_status_over_the_whole_history(pool: PgPool) {
    let env = env(pool).await;
    for (name, raw) in common::sample_messages() {
        env.process(raw, &name).await;
    }
    for (file, raw, _) in corpus() {
        env.process(raw, &file).await;
    }
    let campaign = env.settings.campaign_view();
    let now = chrono::Utc::now();
    let full = env.store.status(&campaign, now).await.unwrap();
    for whole in &full.units {
        let alone = env
            .store
            .unit_view(&campaign, &whole.id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            serde_json::to_value(&alone).unwrap(),
            serde_json::to_value(whole).unwrap(),
            "{}",
            whole.id
        );
    }
}

/// The corpus as the coordinator imports it: the real binary's `import` of the directory, then
/// `status --format json`; every unmatched and set-aside message listed with its reason.
#[sqlx::test(migrations = "./migrations")]
async fn import_and_status_json_of_the_binary_list_every_message_where_expected(pool: PgPool) {
    let name = pool.connect_options().get_database().unwrap().to_string();
    let base = std::env::var("DATABASE_URL").expect("DATABASE_URL (deploy/testenv/up.sh)");
    let url = format!("{}/{name}", base.rsplit_once('/').unwrap().0);
    let storage = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_reportbox"));
        for (k, _) in std::env::vars() {
            if k.starts_with("REPORTBOX_") {
                cmd.env_remove(k);
            }
        }
        let out = cmd
            .current_dir(repo())
            .args(["--config", "config/reportbox.toml"])
            .args(args)
            .env("REPORTBOX_DATABASE__URL", &url)
            .env("REPORTBOX_STORAGE__DIR", storage.path())
            .env(
                "REPORTBOX_CAMPAIGN__ROSTER",
                common::samples_dir().join("roster.csv"),
            )
            .stdin(std::process::Stdio::null())
            .output()
            .expect("reportbox runs");
        assert!(
            out.status.success(),
            "reportbox {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    };
    let dir = repo().join("tests/corpus/mail");
    run(&["import", dir.to_str().unwrap()]);
    let status: Value = serde_json::from_slice(&run(&["status", "--format", "json"])).unwrap();
    let mut wrong = Vec::new();
    for (file, raw, want) in corpus() {
        let place = want["where"].as_str().unwrap();
        let (kind, reason) = place.split_once(':').unwrap();
        if kind == "unit" || kind == "note" {
            continue;
        }
        let message_id = intake::parse(&raw, &intake::IntakeLimits::default())
            .message_id
            .unwrap_or_default();
        let got = listed(&status, kind, &message_id);
        if got != Some(reason) {
            wrong.push(format!("{file}: expected {place}, listed {got:?}"));
        }
    }
    let listed_count =
        status["unmatched"].as_array().unwrap().len() + status["ignored"].as_array().unwrap().len();
    let expected_count = corpus()
        .iter()
        .filter(|(_, _, w)| {
            let place = w["where"].as_str().unwrap();
            !place.starts_with("unit:") && !place.starts_with("note:")
        })
        .count();
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    assert_eq!(listed_count, expected_count, "nothing else listed");
}
