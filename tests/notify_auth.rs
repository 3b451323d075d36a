//! A wrong authorisation code (issue 10 item 5): the real Postfix refuses it through Dovecot
//! SASL with 535, sending pauses without failing or charging any queued email, and once the
//! code in `smtp.password_file` is corrected the same sender delivers every one of them.

mod common;

use chrono::{SubsecRound, Utc};
use common::{env_with_roster, imap_messages, imap_wait, smtp_env, test_address, Mail};
use reportbox::campaign::EmailState;
use reportbox::notify::{self, smtp::Mailer};
use reportbox::service::Figures;
use sqlx::PgPool;

#[sqlx::test(migrations = "./migrations")]
async fn a_refused_code_pauses_sending_and_a_corrected_file_resumes_it(pool: PgPool) {
    let units: Vec<(String, String)> = ["市公安局", "市教育局", "市档案馆"]
        .iter()
        .enumerate()
        .map(|(i, name)| (format!("unit-{i}"), name.to_string()))
        .collect();
    let addresses: Vec<String> = (0..units.len())
        .map(|i| test_address(&format!("auth{i}")))
        .collect();
    let roster: Vec<(&str, &str, &str, &str)> = units
        .iter()
        .zip(&addresses)
        .map(|((id, name), a)| (id.as_str(), name.as_str(), "", a.as_str()))
        .collect();
    let secrets = tempfile::tempdir().unwrap();
    let password_file = secrets.path().join("smtp-password");
    std::fs::write(&password_file, "not-the-code\n").unwrap();
    let mut extra: Vec<(String, String)> = smtp_env()
        .into_iter()
        .filter(|(k, _)| k != "REPORTBOX_SMTP__USERNAME")
        .collect();
    extra.push((
        "REPORTBOX_SMTP__USERNAME".into(),
        test_address("campaign-sender"),
    ));
    extra.push((
        "REPORTBOX_SMTP__PASSWORD_FILE".into(),
        password_file.display().to_string(),
    ));
    let env = env_with_roster(pool, &roster, &extra).await;
    for ((_, name), address) in units.iter().zip(&addresses) {
        env.process(Mail::new(address, &format!("{name}报送材料")).build(), name)
            .await;
    }
    assert_eq!(pending(&env).await, 3);

    // One sender for the whole test, as `run` keeps one: it must pick up the new code itself.
    let mailer = Mailer::new(&env.settings).unwrap();
    // PostgreSQL keeps microseconds: compare like with like.
    let now = Utc::now().trunc_subsecs(6);
    let first = notify::send_due(&env.settings, &env.store, &mailer, now, usize::MAX)
        .await
        .unwrap();
    assert_eq!((first.sent, first.failed, first.retried), (0, 0, 0));
    let until = first.paused_until.expect("sending paused");
    assert_eq!(until, now + chrono::Duration::seconds(300));
    let reason = first.pause_reason.clone().unwrap_or_default();
    assert!(reason.starts_with(notify::AUTH_REJECTED), "{reason}");
    assert!(reason.contains("535"), "{reason}");
    let (paused, why) = env
        .store
        .sender_paused_until(reportbox::notify::sender_account(&env.settings))
        .await
        .unwrap()
        .unwrap();
    assert_eq!((paused, why), (until, reason));
    // Only this account waits: a campaign sending as its own mailbox goes on (issue 11).
    assert_eq!(
        env.store
            .sender_paused_until("jidi-office@163.com")
            .await
            .unwrap(),
        None
    );
    for row in env.store.outbox(Some("ack")).await.unwrap() {
        assert_eq!(
            (row.state.as_str(), row.attempts),
            ("pending", 0),
            "{row:?}"
        );
    }
    assert!(env.store.failed_outbox().await.unwrap().is_empty());

    // The service's STATUS line says so.
    let figures = reportbox::service::StoreFigures {
        settings: &env.settings,
        store: &env.store,
    };
    let status = figures.status().await.unwrap();
    assert!(status.contains("发信暂停：邮箱授权码被拒绝"), "{status}");
    assert!(status.contains("待发 3 封"), "{status}");

    // Within the pause nothing is tried, so nothing can be refused again.
    let during = notify::send_due(
        &env.settings,
        &env.store,
        &mailer,
        now + chrono::Duration::seconds(60),
        usize::MAX,
    )
    .await
    .unwrap();
    assert_eq!((during.sent, during.failed, during.retried), (0, 0, 0));
    assert_eq!(during.paused_until, Some(until));

    // Past the pause with the file still wrong: refused again, still nothing failed.
    let again_at = until + chrono::Duration::seconds(1);
    let again = notify::send_due(&env.settings, &env.store, &mailer, again_at, usize::MAX)
        .await
        .unwrap();
    assert_eq!((again.sent, again.failed), (0, 0));
    let until = again.paused_until.expect("paused again");
    assert_eq!(until, again_at + chrono::Duration::seconds(300));
    assert_eq!(pending(&env).await, 3);

    // The coordinator corrects the file; no command, no restart.
    std::fs::write(
        &password_file,
        format!("{}\n", common::testenv("TESTENV_MAIL_PASSWORD")),
    )
    .unwrap();
    let fixed = notify::send_due(
        &env.settings,
        &env.store,
        &mailer,
        until + chrono::Duration::seconds(1),
        usize::MAX,
    )
    .await
    .unwrap();
    assert_eq!((fixed.sent, fixed.failed, fixed.retried), (3, 0, 0));
    assert_eq!(pending(&env).await, 0);
    for row in env.store.outbox(Some("ack")).await.unwrap() {
        assert_eq!((row.state.as_str(), row.attempts), ("sent", 1), "{row:?}");
    }
    let status = figures.status().await.unwrap();
    assert!(status.contains("待发 0 封"), "{status}");
    assert!(!status.contains("发信暂停"), "{status}");
    assert_eq!(
        env.store
            .sender_paused_until(reportbox::notify::sender_account(&env.settings))
            .await
            .unwrap(),
        None
    );
    for address in &addresses {
        imap_wait(address, 1).await;
        let inbox = imap_messages(address).await;
        assert_eq!(inbox.len(), 1, "exactly one acknowledgement for {address}");
    }
}

async fn pending(env: &common::Env) -> usize {
    env.store
        .outbox(Some("ack"))
        .await
        .unwrap()
        .iter()
        .filter(|r| r.state == EmailState::Pending)
        .count()
}
