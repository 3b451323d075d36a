//! The whole loop as a unit and a cron-driven install see it: a unit emails its materials over
//! SMTP, `reportbox once` reads the campaign mailbox over IMAP, records the submission and sends
//! the acknowledgement, which arrives in the unit's own mailbox — once, however often `once` runs.

mod mailbox_support;

use mailbox_support::common::{self, imap_messages, imap_wait, mp4, table, Mail, XLSX};
use mailbox_support::{
    count_messages, mailbox_env, smtp_send, uniq_user, url_of, wait_delivered, Daemon, DEADLINE,
};
use reportbox::intake::{self, IntakeLimits};
use sqlx::PgPool;

#[sqlx::test(migrations = "./migrations")]
async fn a_unit_emails_its_materials_and_gets_exactly_one_acknowledgement(pool: PgPool) {
    let campaign_box = uniq_user("campaign");
    let unit = uniq_user("education");
    let storage = tempfile::tempdir().unwrap();
    let roster = common::write_roster(
        storage.path(),
        &[("city-education", "市教育局", "太原市教育局", &unit)],
    );
    let submission = Mail::new(&unit, "市教育局报送2023年科技活动周材料")
        .attach(
            "附件2：2023年太原市科技活动周开展情况统计表（市教育局）.xlsx",
            XLSX,
            table("太原市教育局", "2023"),
        )
        .attach("青少年科普月活动视频.mp4", "video/mp4", mp4(175))
        .build();
    smtp_send(&campaign_box, &submission).await;
    wait_delivered(&campaign_box, "INBOX", 1).await;

    let mut env = mailbox_env(&campaign_box, "rb-e2e", "none");
    env.extend(common::smtp_env());
    env.push((
        "REPORTBOX_CAMPAIGN__ROSTER".into(),
        roster.display().to_string(),
    ));
    let objects = storage.path().join("objects");
    for round in 0..2 {
        let mut once = Daemon::spawn(
            "once",
            &url_of(&pool),
            &objects,
            &env,
            storage.path().join(format!("once-{round}.log")),
        );
        let status = once.wait_exit(DEADLINE).await;
        assert!(status.success(), "once failed:\n{}", once.log_text());
    }
    assert_eq!(count_messages(&pool).await, 1);

    let inbox = imap_wait(&unit, 1).await;
    assert_eq!(inbox.len(), 1, "exactly one acknowledgement");
    let ack = intake::parse(&inbox[0], &IntakeLimits::default());
    assert_eq!(ack.subject, "回执：已收到，尚缺活动周总结报告（市教育局）");
    assert_eq!(ack.auto_submitted.as_deref(), Some("auto-replied"));
    let text = &ack.body_text;
    assert!(
        text.contains("《附件2：2023年太原市科技活动周开展情况统计表（市教育局）.xlsx》：计为“开展情况统计表”，合格"),
        "{text}"
    );
    assert!(
        text.contains("《青少年科普月活动视频.mp4》：计为“影像资料”，合格"),
        "{text}"
    );
    assert!(text.contains("活动周总结报告：未报送"), "{text}");
    let sent: i64 = sqlx::query_scalar("SELECT count(*) FROM outbox WHERE state = 'sent'")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(sent, 1);
    assert_eq!(imap_messages(&unit).await.len(), 1);
}
