//! Fencing: a leader whose lock vanished (what a PostgreSQL restart or a dropped connection does
//! to a session lock) and that has not noticed yet records nothing once another instance has
//! taken the lock; asserted from the database, not from logs.

mod mailbox_support;

use mailbox_support::common::{env, Mail};
use mailbox_support::url_of;
use reportbox::pipeline::{self, Incoming};
use reportbox::store::{Leadership, Saved, Store};
use sqlx::PgPool;

fn incoming(raw: Vec<u8>, uid: u32) -> Incoming {
    Incoming {
        raw,
        source: format!("imap:INBOX/1/{uid}"),
        internal_date: None,
    }
}

async fn messages(pool: &PgPool) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM messages")
        .fetch_one(pool)
        .await
        .unwrap()
}

#[sqlx::test(migrations = "./migrations")]
async fn a_leader_whose_lock_was_taken_over_records_nothing(pool: PgPool) {
    let env = env(pool.clone()).await;
    let url = url_of(&pool);
    let key = "reportbox-mailbox:test".to_string();

    let mut a = Leadership::connect(&url, key.clone()).await.unwrap();
    assert!(a.try_lock().await.unwrap());
    let store_a: Store = env
        .store
        .fenced(env.store.take_epoch(a.key()).await.unwrap());
    let first = Mail::new("tydag_bgs@163.com", "市档案馆材料").build();
    let o = pipeline::process(&env.settings, &store_a, incoming(first, 1))
        .await
        .unwrap();
    assert!(matches!(o.saved, Saved::Recorded { .. }));

    // A's lock connection dies; B takes the lock before A notices.
    sqlx::query(
        "SELECT pg_terminate_backend(pid) FROM pg_locks
          WHERE locktype = 'advisory' AND granted AND pid <> pg_backend_pid()
            AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
    )
    .execute(&pool)
    .await
    .unwrap();
    let mut b = Leadership::connect(&url, key.clone()).await.unwrap();
    assert!(
        b.try_lock().await.unwrap(),
        "the lock is free once A's connection is gone"
    );
    let store_b = env
        .store
        .fenced(env.store.take_epoch(b.key()).await.unwrap());

    let second = Mail::new("tygzw_ghc@163.com", "市国资委材料").build();
    let err = pipeline::process(&env.settings, &store_a, incoming(second.clone(), 2))
        .await
        .unwrap_err();
    assert!(err.is_fenced(), "{err}");
    assert!(!err.is_transient());
    assert_eq!(
        messages(&pool).await,
        1,
        "A recorded nothing after the takeover"
    );

    let o = pipeline::process(&env.settings, &store_b, incoming(second, 2))
        .await
        .unwrap();
    assert!(matches!(o.saved, Saved::Recorded { .. }));
    assert_eq!(messages(&pool).await, 2);

    // Without a fence (import, the coordinator's commands) nothing changes.
    let third = Mail::new("tycxglj_kjc@163.com", "市城管局材料").build();
    pipeline::process(&env.settings, &env.store, incoming(third, 3))
        .await
        .unwrap();
    assert_eq!(messages(&pool).await, 3);
    b.release().await;
}
