//! The SMTP server goes away and comes back: every queued email is delivered once. Stops the
//! shared Postfix, so it lives in its own test binary (cargo runs binaries one at a time) and
//! always starts Postfix again, even when it fails.

mod common;

use chrono::Utc;
use common::{env_with_roster, imap_wait, smtp_env, test_address, testenv, Mail};
use reportbox::notify::{self, smtp::Mailer};
use sqlx::PgPool;
use std::process::Command;

/// Starts whatever of the test stack is not running when dropped.
struct RestartStack;

impl Drop for RestartStack {
    fn drop(&mut self) {
        let up = common::repo().join("deploy/testenv/up.sh");
        let ok = Command::new(&up).output().map(|o| o.status.success());
        assert!(
            matches!(ok, Ok(true)) || std::thread::panicking(),
            "up.sh failed"
        );
    }
}

fn postfix(action: &str) {
    let status = Command::new("postfix")
        .args(["-c", &testenv("TESTENV_POSTFIX_CONF_DIR"), action])
        .status()
        .expect("postfix command");
    assert!(status.success(), "postfix {action}");
}

#[sqlx::test(migrations = "./migrations")]
async fn emails_queued_while_smtp_is_down_are_delivered_once_when_it_is_back(pool: PgPool) {
    let units: Vec<String> = (0..3)
        .map(|i| test_address(&format!("outage{i}")))
        .collect();
    let rows: Vec<(String, String, String)> = units
        .iter()
        .enumerate()
        .map(|(i, a)| (format!("u{i}"), format!("单位{i}"), a.clone()))
        .collect();
    let roster: Vec<(&str, &str, &str, &str)> = rows
        .iter()
        .map(|(id, name, a)| (id.as_str(), name.as_str(), "", a.as_str()))
        .collect();
    let env = env_with_roster(pool, &roster, &smtp_env()).await;
    let mailer = Mailer::new(&env.settings).unwrap();

    let _restart = RestartStack;
    postfix("stop");
    for (i, a) in units.iter().enumerate() {
        env.process(Mail::new(a, &format!("单位{i}材料")).build(), a)
            .await;
    }
    let down = notify::send_due(&env.settings, &env.store, &mailer, Utc::now(), usize::MAX)
        .await
        .unwrap();
    // The first email finds no server: the pass ends there, the other two stay queued.
    assert_eq!(
        (down.sent, down.retried, down.failed),
        (0, 1, 0),
        "{down:?}"
    );

    postfix("start");
    // The two never tried go now; the one that found no server waits its backoff.
    let early = notify::send_due(&env.settings, &env.store, &mailer, Utc::now(), usize::MAX)
        .await
        .unwrap();
    assert_eq!(early.sent, 2, "{early:?}");
    let later = Utc::now() + chrono::Duration::hours(2);
    let up = notify::send_due(&env.settings, &env.store, &mailer, later, usize::MAX)
        .await
        .unwrap();
    assert_eq!(up.sent, 1, "{up:?}");
    let again = notify::send_due(&env.settings, &env.store, &mailer, later, usize::MAX)
        .await
        .unwrap();
    assert_eq!(again.sent, 0);
    for a in &units {
        assert_eq!(imap_wait(a, 1).await.len(), 1, "{a}");
    }
}
