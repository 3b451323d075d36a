//! The sample corpus (../shared/samples) against its expected.json: every unit, item, state,
//! problem, late flag, unmatched and ignored message, and who is owed an acknowledgement.

mod common;

use common::{env, samples_dir};
use serde_json::Value;
use sqlx::PgPool;

fn expected() -> Value {
    let text = std::fs::read_to_string(samples_dir().join("expected.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn codes(problems: &Value) -> Vec<(String, String)> {
    problems
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["code"].as_str().unwrap().to_string(),
                p["severity"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// Every code anywhere in a unit's status object.
fn all_codes(unit: &Value) -> Vec<String> {
    let mut out: Vec<String> = codes(&unit["problems"]).into_iter().map(|c| c.0).collect();
    for item in unit["items"].as_object().unwrap().values() {
        out.extend(codes(&item["problems"]).into_iter().map(|c| c.0));
    }
    out
}

#[sqlx::test(migrations = "./migrations")]
async fn every_sample_is_attributed_classified_and_judged_as_expected(pool: PgPool) {
    let env = env(pool).await;
    let outcomes = env.import_samples().await;
    let status = env.status_json().await;
    let exp = expected();

    assert_eq!(status["campaign"], exp["campaign"]);
    assert_eq!(status["deadline"], exp["deadline"]);
    for (id, want) in exp["units"].as_object().unwrap() {
        let got = status["units"]
            .as_array()
            .unwrap()
            .iter()
            .find(|u| u["id"] == *id)
            .unwrap_or_else(|| panic!("unit {id} missing from status"));
        assert_eq!(got["name"], want["name"], "{id} name");
        assert_eq!(got["status"], want["status"], "{id} status: {got:#}");
        assert_eq!(got["late"], want["late"], "{id} late");
        for (key, item_want) in want["items"].as_object().unwrap() {
            let item = &got["items"][key];
            let state = item["state"].as_str().unwrap();
            let mut accepted = vec![item_want["state"].as_str().unwrap()];
            if let Some(also) = item_want["state_also_accepted"].as_array() {
                accepted.extend(also.iter().map(|s| s.as_str().unwrap()));
            }
            assert!(
                accepted.contains(&state),
                "{id}.{key}: state {state}, want {accepted:?}: {item:#}"
            );
            let have = codes(&item["problems"]);
            for p in item_want["problems_required"].as_array().unwrap() {
                let code = p["code"].as_str().unwrap();
                assert!(
                    have.iter()
                        .any(|(c, s)| c == code
                            && p["severity"].as_str().is_none_or(|want| want == s)),
                    "{id}.{key}: {code} missing in {have:?}"
                );
            }
            if state == "valid" {
                assert!(
                    have.iter().all(|(_, s)| s != "error"),
                    "{id}.{key} is valid but has errors: {have:?}"
                );
            }
            if let Some(base) = item_want["file_basename"].as_str() {
                let file = item["file"].as_str().unwrap_or_default().replace('\\', "/");
                assert!(
                    file.ends_with(base),
                    "{id}.{key}: file {file:?}, want …{base}"
                );
            }
        }
        let anywhere = all_codes(got);
        for code in want["problems_required_anywhere"].as_array().unwrap() {
            let code = code.as_str().unwrap();
            assert!(anywhere.iter().any(|c| c == code), "{id}: {code} missing");
        }
    }

    let id_and_reason = |list: &'_ Value| -> Vec<(String, String)> {
        list.as_array()
            .unwrap()
            .iter()
            .map(|m| {
                (
                    m["message_id"].as_str().unwrap().to_string(),
                    m["reason"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    };
    assert_eq!(
        id_and_reason(&status["unmatched"]),
        id_and_reason(&exp["unmatched"])
    );

    let ignored = status["ignored"].as_array().unwrap();
    for want in exp["ignored"].as_array().unwrap() {
        assert!(
            ignored
                .iter()
                .any(|m| m["message_id"] == want["message_id"] && m["reason"] == want["reason"]),
            "ignored lacks {want}"
        );
    }
    for m in ignored {
        let listed = exp["ignored"]
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w["message_id"] == m["message_id"]);
        assert!(
            listed || m["reason"] == "message.duplicate",
            "unexpected ignored {m}"
        );
    }

    for want in exp["messages"].as_array().unwrap() {
        let file = want["file"].as_str().unwrap();
        let (_, outcome) = outcomes.iter().find(|(n, _)| n == file).unwrap();
        assert_eq!(
            outcome.ack_due,
            want["ack"].as_bool().unwrap(),
            "{file}: acknowledgement owed"
        );
    }
}

#[sqlx::test(migrations = "./migrations")]
async fn each_message_is_attributed_to_the_unit_expected_json_names(pool: PgPool) {
    let env = env(pool).await;
    let outcomes = env.import_samples().await;
    for want in expected()["messages"].as_array().unwrap() {
        if !want["unit_asserted"].as_bool().unwrap() {
            continue;
        }
        let file = want["file"].as_str().unwrap();
        let (_, outcome) = outcomes.iter().find(|(n, _)| n == file).unwrap();
        let reportbox::store::Saved::Recorded { unit_id, .. } = &outcome.saved else {
            panic!("{file} was not recorded");
        };
        assert_eq!(unit_id.as_deref(), want["unit"].as_str(), "{file}");
    }
}

#[sqlx::test(migrations = "./migrations")]
async fn message_level_codes_are_stored_with_the_message(pool: PgPool) {
    let env = env(pool).await;
    env.import_samples().await;
    for want in expected()["messages"].as_array().unwrap() {
        for code in want["codes_required"].as_array().unwrap() {
            let code = code.as_str().unwrap();
            let disposition = code.trim_start_matches("message.");
            let found: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM messages WHERE message_id = $1
                   AND (disposition = $2 OR no_ack_reason = $3 OR problems::text LIKE '%' || $3 || '%')",
            )
            .bind(want["message_id"].as_str().unwrap())
            .bind(disposition)
            .bind(code)
            .fetch_one(&env.store.pool)
            .await
            .unwrap();
            assert_eq!(found, 1, "{} lacks {code}", want["file"]);
        }
    }
}

#[sqlx::test(migrations = "./migrations")]
async fn importing_the_same_messages_twice_changes_nothing(pool: PgPool) {
    let env = env(pool).await;
    env.import_samples().await;
    let before = env.store.counts().await.unwrap();
    let status_before = env.status_json().await;
    let again = env.import_samples().await;
    assert!(again
        .iter()
        .all(
            |(_, o)| matches!(o.saved, reportbox::store::Saved::AlreadyStored { .. }) && !o.ack_due
        ));
    assert_eq!(env.store.counts().await.unwrap(), before);
    let mut status_after = env.status_json().await;
    status_after["generated_at"] = status_before["generated_at"].clone();
    assert_eq!(status_after, status_before);
}

#[sqlx::test(migrations = "./migrations")]
async fn every_original_is_kept_content_addressed(pool: PgPool) {
    let env = env(pool).await;
    env.import_samples().await;
    let rows: Vec<(String,)> = sqlx::query_as(
        "SELECT raw_sha256 FROM messages UNION SELECT sha256 FROM files WHERE sha256 IS NOT NULL",
    )
    .fetch_all(&env.store.pool)
    .await
    .unwrap();
    assert!(rows.len() > 8);
    for (sha,) in rows {
        let bytes = env.store.objects.get(&sha).unwrap();
        assert_eq!(reportbox::store::sha256_hex(&bytes), sha);
    }
}
