//! The sender's duplicate window and its resilience to one bad row, against the loopback
//! Postfix and Dovecot: an email that was being transmitted when the sender died is sent again
//! only after the grace period, with the same Message-ID; an email whose attachment is gone
//! fails alone; STARTTLS with the test CA delivers over our own socket.

mod common;

use chrono::{Duration, Utc};
use common::{env_with_roster, imap_wait, smtp_env, test_address, Env, Mail};
use common::{header, send};
use reportbox::campaign::EmailState;
use reportbox::store::{NewOutbox, OutboxAttachment};
use sqlx::PgPool;

async fn state(env: &Env, id: i64) -> (String, i32) {
    sqlx::query_as("SELECT state, attempts FROM outbox WHERE id = $1")
        .bind(id)
        .fetch_one(&env.store.pool)
        .await
        .unwrap()
}

#[sqlx::test(migrations = "./migrations")]
async fn an_email_cut_off_mid_transmission_waits_out_the_grace_then_goes_once_with_its_id(
    pool: PgPool,
) {
    let unit = test_address("grace");
    let mut extra = smtp_env();
    extra.push(("REPORTBOX_SMTP__RESEND_GRACE_SECONDS".into(), "300".into()));
    let env = env_with_roster(pool, &[("x", "市公安局", "", &unit)], &extra).await;
    let mail = Mail::new(&unit, "市公安局材料").attach(
        "警营开放日科普视频.mp4",
        "video/mp4",
        common::mp4(60),
    );
    env.process(mail.build(), "grace").await;
    let ack = env.store.outbox(Some("ack")).await.unwrap().remove(0);
    // What a sender that died after the server accepted the envelope leaves behind.
    sqlx::query("UPDATE outbox SET state = 'sending', sending_at = now() WHERE id = $1")
        .bind(ack.id)
        .execute(&env.store.pool)
        .await
        .unwrap();

    let now = Utc::now();
    let early = send(&env, now + Duration::seconds(240)).await;
    assert_eq!(
        (early.sent, early.retried, early.failed),
        (0, 0, 0),
        "the server may already have it: not sent again within the grace period"
    );
    assert_eq!(state(&env, ack.id).await.0, "sending");

    let late = send(&env, now + Duration::seconds(301)).await;
    assert_eq!(late.sent, 1, "{late:?}");
    assert_eq!(state(&env, ack.id).await, ("sent".to_string(), 1));
    let inbox = imap_wait(&unit, 1).await;
    assert_eq!(inbox.len(), 1);
    let domain = env.settings.campaign.mailbox.split('@').nth(1).unwrap();
    assert_eq!(
        header(&inbox[0], "Message-ID"),
        Some(ack.message_id(domain)),
        "a resend carries the row's Message-ID, so the unit's client can fold the two"
    );
    assert_eq!(send(&env, now + Duration::seconds(900)).await.sent, 0);
}

#[sqlx::test(migrations = "./migrations")]
async fn an_email_whose_attachment_is_gone_fails_alone_and_the_next_goes_out(pool: PgPool) {
    let unit = test_address("gone");
    let env = env_with_roster(pool, &[("x", "市公安局", "", &unit)], &smtp_env()).await;
    let email = |key: &str, attachments: Vec<OutboxAttachment>| NewOutbox {
        dedupe_key: key.to_string(),
        kind: "reminder".into(),
        unit_id: Some("x".into()),
        message_id: None,
        recipients: vec![unit.clone()],
        subject: format!("催报：{key}"),
        body_text: "请尽快报送。".into(),
        body_html: "<p>请尽快报送。</p>".into(),
        in_reply_to: None,
        references: None,
        auto_submitted: "auto-generated".into(),
        attachments,
    };
    let missing = OutboxAttachment {
        name: "附件2.xlsx".into(),
        content_type: "application/octet-stream".into(),
        sha256: "0".repeat(64),
    };
    env.store
        .enqueue(&[
            email("reminder:gone:1", vec![missing]),
            email("reminder:gone:2", Vec::new()),
        ])
        .await
        .unwrap();

    let r = send(&env, Utc::now()).await;
    assert_eq!((r.sent, r.failed), (1, 1), "{r:?}");
    let rows = env.store.outbox(Some("reminder")).await.unwrap();
    let broken = rows
        .iter()
        .find(|r| r.email.dedupe_key == "reminder:gone:1")
        .unwrap();
    assert_eq!(broken.state, EmailState::Failed);
    assert!(
        broken
            .last_error
            .as_deref()
            .unwrap_or("")
            .contains("附件2.xlsx"),
        "{:?}",
        broken.last_error
    );
    let inbox = imap_wait(&unit, 1).await;
    assert_eq!(inbox.len(), 1);
    assert_eq!(
        header(&inbox[0], "Subject").map(|s| s.contains("gone:2") || s.contains("=?")),
        Some(true)
    );
    // The failed row is not claimed again ahead of everything else.
    assert_eq!(send(&env, Utc::now()).await.failed, 0);
}

#[sqlx::test(migrations = "./migrations")]
async fn starttls_with_the_test_ca_delivers_several_emails_over_one_session(pool: PgPool) {
    let unit = test_address("starttls");
    let extra = common::smtp_tls_env("starttls", None);
    let env = env_with_roster(pool, &[("x", "市公安局", "", &unit)], &extra).await;
    for i in 0..3 {
        // Files, so each is a submission with its own acknowledgement (not a note).
        let mut mail = Mail::new(&unit, &format!("市公安局材料{i}")).attach(
            "警营开放日科普视频.mp4",
            "video/mp4",
            common::mp4(60 + i),
        );
        mail.message_id = Some(format!("<starttls-{i}-{}@test.example>", common::uniq()));
        env.process(mail.build(), "starttls").await;
    }
    let r = send(&env, Utc::now()).await;
    assert_eq!((r.sent, r.failed, r.retried), (3, 0, 0), "{r:?}");
    assert_eq!(imap_wait(&unit, 3).await.len(), 3);
}
