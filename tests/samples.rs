//! The sample corpus (../shared/samples) against its expected.json: every unit, item, state,
//! problem, late flag, unmatched and ignored message, and who is owed an acknowledgement.

mod common;

use common::{assert_status_matches, env, expected};
use sqlx::PgPool;

#[sqlx::test(migrations = "./migrations")]
async fn every_sample_is_attributed_classified_and_judged_as_expected(pool: PgPool) {
    let env = env(pool).await;
    let outcomes = env.import_samples().await;
    let status = env.status_json().await;
    let exp = expected();

    assert_status_matches(&status, &exp);

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
        let bytes = env.store.objects.get(&sha).await.unwrap();
        assert_eq!(reportbox::store::sha256_hex(&bytes), sha);
    }
}
