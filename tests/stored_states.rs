//! A state word this binary does not know, in `messages.disposition` or `outbox.state` (a newer
//! reportbox wrote it, or someone edited the row by hand), is refused with an error that names
//! the column and the word. It is never taken for a known state: the status is not computed
//! from a guess, `assign` does not count the message, and nothing panics.

mod common;

use common::env;
use reportbox::store::{Saved, StoreError};
use sqlx::PgPool;

fn names_the_word(e: &StoreError, column: &str, word: &str) -> bool {
    matches!(e, StoreError::UnknownState { column: c, value } if *c == column && value == word)
        && e.to_string().contains(&format!("“{word}”"))
}

#[sqlx::test(migrations = "./migrations")]
async fn an_unknown_disposition_is_refused_by_name_and_assign_changes_nothing(pool: PgPool) {
    let env = env(pool.clone()).await;
    let outcomes = env.import_samples().await;
    let (name, unmatched) = outcomes
        .iter()
        .find_map(|(name, o)| match &o.saved {
            Saved::Recorded {
                id, unit_id: None, ..
            } => Some((name, *id)),
            _ => None,
        })
        .expect("the samples hold a message no unit could be found for");
    sqlx::query("UPDATE messages SET disposition = 'forwarded' WHERE id = $1")
        .bind(unmatched)
        .execute(&pool)
        .await
        .unwrap();

    let campaign = env.settings.campaign_view();
    let e = env
        .store
        .status(&campaign, chrono::Utc::now())
        .await
        .unwrap_err();
    assert!(
        names_the_word(&e, "messages.disposition", "forwarded"),
        "{e}"
    );

    let e = env
        .store
        .assign(&unmatched.to_string(), "city-police", &campaign)
        .await
        .unwrap_err();
    assert!(
        names_the_word(&e, "messages.disposition", "forwarded"),
        "{name}: {e}"
    );
    let (disposition, unit): (String, Option<String>) =
        sqlx::query_as("SELECT disposition, unit_id FROM messages WHERE id = $1")
            .bind(unmatched)
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!((disposition.as_str(), unit), ("forwarded", None));
}

#[sqlx::test(migrations = "./migrations")]
async fn an_unknown_outbox_state_is_refused_by_name(pool: PgPool) {
    let env = env(pool.clone()).await;
    env.import_samples().await;
    let queued = sqlx::query("UPDATE outbox SET state = 'queued' WHERE kind = 'ack'")
        .execute(&pool)
        .await
        .unwrap()
        .rows_affected();
    assert!(queued > 0, "the samples are acknowledged");
    let e = env.store.outbox(Some("ack")).await.unwrap_err();
    assert!(names_the_word(&e, "outbox.state", "queued"), "{e}");
}
