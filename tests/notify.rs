//! Outgoing mail end to end: outbox rows sent by lettre to the loopback Postfix, delivered into
//! Dovecot, read back over IMAP from the recipient's mailbox.

mod common;

use chrono::{DateTime, Utc};
use common::{
    env_with_roster, imap_messages, imap_wait, mp4, report_txt, smtp_env, table, test_address,
    Mail, XLSX,
};
use common::{header, send};
use reportbox::intake::{self, IntakeLimits};
use reportbox::notify;
use sqlx::PgPool;

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn parse(raw: &[u8]) -> intake::Parsed {
    intake::parse(raw, &IntakeLimits::default())
}

/// The one message in `address`'s inbox, raw and parsed, once it has arrived.
async fn only_message(address: &str) -> (Vec<u8>, intake::Parsed) {
    let mut inbox = imap_wait(address, 1).await;
    assert_eq!(inbox.len(), 1, "exactly one message for {address}");
    let raw = inbox.remove(0);
    let parsed = parse(&raw);
    (raw, parsed)
}

#[sqlx::test(migrations = "./migrations")]
async fn a_submission_gets_exactly_one_acknowledgement_with_its_verdicts(pool: PgPool) {
    let police = test_address("police");
    let env = env_with_roster(
        pool,
        &[("city-police", "市公安局", "太原市公安局", &police)],
        &smtp_env(),
    )
    .await;
    let mut mail = Mail::new(&police, "市公安局报送2023年科技活动周材料")
        .attach(
            "市公安局科技活动周统计表.xlsx",
            XLSX,
            table("市公安局", "2023"),
        )
        .attach("警营开放日科普视频.mp4", "video/mp4", mp4(240));
    mail.message_id = Some("<police-1@test.example>".into());
    let raw = mail.build();
    assert!(env.process(raw.clone(), "submission").await.ack_due);
    // The same mail again (a re-import, a rescan) owes nothing more.
    assert!(!env.process(raw, "again").await.ack_due);

    let report = send(&env, Utc::now()).await;
    assert_eq!((report.sent, report.failed), (1, 0));
    assert_eq!(send(&env, Utc::now()).await.sent, 0);

    let (raw_ack, ack) = only_message(&police).await;
    assert_eq!(ack.subject, "回执：影像资料需更正（市公安局）");
    assert_eq!(ack.auto_submitted.as_deref(), Some("auto-replied"));
    assert!(
        ack.files.is_empty(),
        "the unit's attachments are not sent back"
    );
    assert_eq!(
        header(&raw_ack, "In-Reply-To").as_deref(),
        Some("<police-1@test.example>")
    );
    assert_eq!(
        header(&raw_ack, "References").as_deref(),
        Some("<police-1@test.example>")
    );
    assert_eq!(
        header(&raw_ack, "X-Auto-Response-Suppress").as_deref(),
        Some("All")
    );
    let text = &ack.body_text;
    assert!(
        text.contains("《市公安局科技活动周统计表.xlsx》：计为“开展情况统计表”，合格"),
        "{text}"
    );
    assert!(
        text.contains("《警营开放日科普视频.mp4》：计为“影像资料”，不合格"),
        "{text}"
    );
    assert!(text.contains("视频时长为4分0秒，超过3分钟的上限"), "{text}");
    assert!(text.contains("活动周总结报告：未报送"), "{text}");
    assert!(text.contains("2023年6月9日 24:00"), "{text}");
    assert!(text.contains("重新发送"), "{text}");
}

#[sqlx::test(migrations = "./migrations")]
async fn an_unmatched_sender_is_asked_to_resend_with_the_unit_in_the_subject(pool: PgPool) {
    let stranger = test_address("stranger");
    let env = env_with_roster(pool, &[("city-police", "市公安局", "", "")], &smtp_env()).await;
    // The subject names the campaign (contract §8 (d)): without it, a stranger's mail is unrelated.
    let raw = Mail::new(&stranger, "科技活动周材料")
        .attach("VID2023.mp4", "video/mp4", mp4(60))
        .build();
    assert!(env.process(raw, "unmatched").await.ack_due);
    send(&env, Utc::now()).await;
    let (_, ack) = only_message(&stranger).await;
    assert_eq!(
        ack.subject,
        "回执：未能确认报送单位，请在主题中注明单位名称"
    );
    assert!(
        ack.body_text.contains("邮件主题中注明单位全称"),
        "{}",
        ack.body_text
    );
}

#[sqlx::test(migrations = "./migrations")]
async fn auto_replies_bounces_lists_and_senders_over_the_hourly_cap_get_no_acknowledgement(
    pool: PgPool,
) {
    let unit = test_address("archives");
    let env = env_with_roster(
        pool,
        &[("city-archives", "市档案馆", "", &unit)],
        &smtp_env(),
    )
    .await;
    // List mail is set aside when nobody known sends it (a unit's own is processed, contract §8).
    let news = test_address("news");
    for (from, header) in [
        (&unit, "Auto-Submitted: auto-replied"),
        (&news, "List-Id: <notice.example.test>"),
        (&news, "Precedence: bulk"),
    ] {
        // The day before: these do not count towards the hour of the burst below.
        let mut m = Mail::new(from, "科技活动周通知").header(header);
        m.date = "Sun, 4 Jun 2023 10:00:00 +0800".into();
        env.process(m.build(), header).await;
    }
    let bounce = format!(
        "From: MAILER-DAEMON@{}\r\nTo: {unit}\r\nSubject: Undelivered\r\nMessage-ID: <b@x>\r\nContent-Type: multipart/report; report-type=delivery-status; boundary=\"r\"\r\n\r\n--r\r\nContent-Type: text/plain\r\n\r\nfailed\r\n--r--\r\n",
        common::testenv("TESTENV_MAIL_DOMAIN")
    );
    env.process(bounce.into_bytes(), "bounce").await;
    for i in 0..7 {
        // A file each: without one a message is a note, answered once a day (issue 9).
        let mut m = Mail::new(&unit, &format!("市档案馆材料{i}")).attach(
            "总结.txt",
            "text/plain",
            common::report_txt(),
        );
        m.date = format!("Mon, 5 Jun 2023 10:{:02}:00 +0800", i * 5);
        env.process(m.build(), "burst").await;
    }
    let report = send(&env, Utc::now()).await;
    assert_eq!(report.sent, 5, "five acknowledgements an hour, no more");
    assert_eq!(imap_wait(&unit, 5).await.len(), 5);
    assert!(imap_messages(&news).await.is_empty());
}

#[sqlx::test(migrations = "./migrations")]
async fn reminders_go_once_to_units_that_owe_something_and_never_to_exempt_or_complete_ones(
    pool: PgPool,
) {
    let done = test_address("done");
    let owing = test_address("owing");
    let exempt = test_address("exempt");
    let env = env_with_roster(
        pool,
        &[
            ("done", "市公安局", "", &done),
            ("owing", "市教育局", "", &owing),
            ("exempt", "市档案馆", "", &exempt),
            ("silent", "太原日报社", "", ""),
        ],
        &smtp_env(),
    )
    .await;
    let complete = Mail::new(&done, "市公安局材料")
        .attach("统计表.xlsx", XLSX, table("市公安局", "2023"))
        .attach("总结.txt", "text/plain", report_txt())
        .attach("视频.mp4", "video/mp4", mp4(150))
        .build();
    env.process(complete, "complete").await;
    let partial = Mail::new(&owing, "市教育局材料")
        .attach("总结.txt", "text/plain", report_txt())
        .build();
    env.process(partial, "partial").await;
    env.store
        .set_exempt(
            "exempt",
            Some("本年度不参加"),
            &env.settings.campaign_view(),
        )
        .await
        .unwrap();
    send(&env, Utc::now()).await; // the two acknowledgements

    // Before the first round: nothing.
    let early = notify::schedule_tick(&env.settings, &env.store, at("2023-06-07T08:59:00+08:00"))
        .await
        .unwrap();
    assert_eq!(early.reminders, 0);
    // Three days before the deadline, 09:00.
    let now = at("2023-06-07T09:30:00+08:00");
    let tick = notify::schedule_tick(&env.settings, &env.store, now)
        .await
        .unwrap();
    assert_eq!(tick.reminders, 1, "{tick:?}");
    // Again, and after a restart (a new store on the same database): the round is done.
    assert_eq!(
        notify::schedule_tick(&env.settings, &env.store, now)
            .await
            .unwrap()
            .reminders,
        0
    );
    let restarted = reportbox::store::Store::from_pool(
        env.store.pool.clone(),
        std::path::Path::new("/nonexistent"),
    );
    assert_eq!(
        notify::schedule_tick(&env.settings, &restarted, now)
            .await
            .unwrap()
            .reminders,
        0
    );
    send(&env, Utc::now()).await;

    assert_eq!(
        imap_wait(&done, 1).await.len(),
        1,
        "the complete unit has only its ack"
    );
    assert_eq!(imap_messages(&exempt).await.len(), 0);
    let inbox = imap_wait(&owing, 2).await;
    assert_eq!(inbox.len(), 2, "ack + one reminder");
    // Postfix may deliver the two in either order: pick the reminder by subject.
    let (acks, reminders): (Vec<_>, Vec<_>) = inbox
        .iter()
        .map(|raw| parse(raw))
        .partition(|m| m.subject.starts_with("回执"));
    assert_eq!((acks.len(), reminders.len()), (1, 1), "ack + one reminder");
    let reminder = &reminders[0];
    assert_eq!(
        reminder.subject,
        "提醒：请于2023年6月9日 24:00前报送2023年太原市科技活动周材料（市教育局）"
    );
    assert_eq!(reminder.auto_submitted.as_deref(), Some("auto-generated"));
    assert!(
        reminder.body_text.contains("开展情况统计表：未报送"),
        "{}",
        reminder.body_text
    );
    assert!(
        reminder.body_text.contains("影像资料：未报送"),
        "{}",
        reminder.body_text
    );
    // The table is missing: the blank one is attached, its Chinese name intact.
    assert_eq!(reminder.files.len(), 1);
    assert_eq!(
        reminder.files[0].name,
        "2023年太原市科技活动周开展情况统计表（空白）.xlsx"
    );
    assert_eq!(
        reminder.files[0].bytes,
        std::fs::read(common::repo().join("config/templates/statistics-table-2023.xlsx")).unwrap()
    );
}

#[sqlx::test(migrations = "./migrations")]
async fn rounds_missed_while_down_collapse_into_the_latest_one(pool: PgPool) {
    let owing = test_address("owing");
    let env = env_with_roster(pool, &[("owing", "市教育局", "", &owing)], &smtp_env()).await;
    // Down from before the first round until after the third: one reminder, the overdue kind.
    let now = at("2023-06-11T15:00:00+08:00");
    let tick = notify::schedule_tick(&env.settings, &env.store, now)
        .await
        .unwrap();
    assert_eq!(tick.reminders, 1);
    assert!(tick.reminder_round.unwrap().contains(":+1:"));
    send(&env, Utc::now()).await;
    assert!(only_message(&owing).await.1.subject.starts_with("催报："));
    // Years later nothing is sent any more.
    let late = notify::schedule_tick(&env.settings, &env.store, at("2026-12-01T09:30:00+08:00"))
        .await
        .unwrap();
    assert_eq!((late.reminders, late.report), (0, None));
}

#[sqlx::test(migrations = "./migrations")]
async fn the_daily_report_arrives_once_a_day_with_totals_that_add_up(pool: PgPool) {
    use calamine::{DataType, Reader, Xlsx};
    let coordinator = test_address("coordinator");
    let a = test_address("a");
    let b = test_address("b");
    let mut extra = smtp_env();
    extra.push((
        "REPORTBOX_CAMPAIGN__COORDINATORS".into(),
        coordinator.clone(),
    ));
    let env = env_with_roster(
        pool,
        &[
            ("a", "市公安局", "", &a),
            ("b", "市教育局", "", &b),
            ("c", "太原日报社", "", ""),
        ],
        &extra,
    )
    .await;
    for (addr, unit) in [(&a, "市公安局"), (&b, "市教育局")] {
        let m = Mail::new(addr, "材料")
            .attach("统计表.xlsx", XLSX, table(unit, "2023"))
            .build();
        env.process(m, unit).await;
    }
    let now = at("2023-06-08T08:45:00+08:00");
    let tick = notify::schedule_tick(&env.settings, &env.store, now)
        .await
        .unwrap();
    assert_eq!(tick.report.as_deref(), Some("report:2023-06-08"));
    let again = notify::schedule_tick(&env.settings, &env.store, now)
        .await
        .unwrap();
    assert_eq!(again.report, None, "one report a day");
    send(&env, Utc::now()).await;
    let (_, report) = only_message(&coordinator).await;
    assert_eq!(
        report.subject,
        "2023年太原市科技活动周报送情况日报（2023-06-08）"
    );
    assert!(
        report
            .body_text
            .contains("太原日报社：联系人 张三，电话 0351-1234567（名单中无邮箱，请电话联系）"),
        "{}",
        report.body_text
    );
    let xlsx = report
        .files
        .iter()
        .find(|f| f.name == "汇总表.xlsx")
        .expect("汇总表.xlsx attached");
    let mut book = Xlsx::new(std::io::Cursor::new(xlsx.bytes.clone())).unwrap();
    let sheet = book.worksheet_range("汇总表").unwrap();
    let rows: Vec<_> = sheet.rows().collect();
    // Row 0 is the title; the header is row 1.
    let header: Vec<String> = rows[1].iter().map(|c| c.to_string()).collect();
    let col = header
        .iter()
        .position(|h| h.starts_with("参与公众人数"))
        .unwrap();
    let total_row = rows.iter().find(|r| r[1] == "合计（2 个单位）").unwrap();
    // Every roster unit has a row; only the two with a valid table carry figures.
    let units: Vec<_> = rows[2..]
        .iter()
        .filter(|r| r[0].get_float().is_some())
        .collect();
    assert_eq!(units.len(), 3);
    let units: Vec<_> = units
        .into_iter()
        .filter(|r| r[col].get_float().is_some())
        .collect();
    assert_eq!(units.len(), 2);
    assert_eq!(
        rows.iter().find(|r| r[1] == "太原日报社").unwrap()[col],
        "未报送"
    );
    let sum: f64 = units.iter().map(|r| r[col].get_float().unwrap()).sum();
    assert_eq!(sum, 2400.0);
    assert_eq!(total_row[col].get_float(), Some(sum));
    assert!(book.worksheet_range("报送情况").is_ok());

    let next_day = at("2023-06-09T08:31:00+08:00");
    let tick = notify::schedule_tick(&env.settings, &env.store, next_day)
        .await
        .unwrap();
    assert_eq!(tick.report.as_deref(), Some("report:2023-06-09"));
}

#[sqlx::test(migrations = "./migrations")]
async fn a_permanent_refusal_is_recorded_and_reported_not_retried(pool: PgPool) {
    let coordinator = test_address("coordinator");
    let mut extra = smtp_env();
    extra.push((
        "REPORTBOX_CAMPAIGN__COORDINATORS".into(),
        coordinator.clone(),
    ));
    // Postfix here refuses every domain but the test one (554 at RCPT).
    let env = env_with_roster(
        pool,
        &[("x", "市公安局", "", "unit@elsewhere.invalid")],
        &extra,
    )
    .await;
    env.process(
        Mail::new("unit@elsewhere.invalid", "市公安局材料").build(),
        "x",
    )
    .await;
    let first = send(&env, Utc::now()).await;
    assert_eq!((first.sent, first.failed), (0, 1));
    let later = send(&env, Utc::now() + chrono::Duration::days(2)).await;
    assert_eq!((later.sent, later.failed, later.retried), (0, 0, 0));
    let failed = env.store.failed_outbox().await.unwrap();
    assert_eq!(failed.len(), 1);
    assert!(
        failed[0]
            .last_error
            .as_deref()
            .unwrap_or("")
            .contains("554"),
        "{failed:?}"
    );
    let email = notify::compose_report(
        &env.settings,
        &env.store,
        "2023-06-08",
        at("2023-06-08T08:45:00+08:00"),
    )
    .await
    .unwrap();
    assert!(
        email.body_text.contains("unit@elsewhere.invalid"),
        "{}",
        email.body_text
    );
}

#[sqlx::test(migrations = "./migrations")]
async fn implicit_tls_with_the_test_ca_delivers(pool: PgPool) {
    let unit = test_address("tls");
    let extra = common::smtp_tls_env("implicit", Some(&unit));
    let env = env_with_roster(pool, &[("x", "市公安局", "", &unit)], &extra).await;
    env.process(Mail::new(&unit, "市公安局材料").build(), "tls")
        .await;
    let r = send(&env, Utc::now()).await;
    assert_eq!(r.sent, 1, "{r:?}");
    assert_eq!(imap_wait(&unit, 1).await.len(), 1);
}

#[sqlx::test(migrations = "./migrations")]
async fn an_idle_sender_is_woken_by_a_recorded_message_not_by_its_timer(pool: PgPool) {
    let unit = test_address("wake");
    let mut extra = smtp_env();
    // The timer alone would not send anything for an hour: only the NOTIFY of a committed
    // acknowledgement can wake the sender in time for the assertions below.
    extra.push(("REPORTBOX_SMTP__IDLE_POLL_SECONDS".into(), "3600".into()));
    let env = env_with_roster(pool, &[("city-archives", "市档案馆", "", &unit)], &extra).await;
    let (trigger, shutdown) = reportbox::shutdown::Shutdown::new();
    let sender = reportbox::notify::run(&env.settings, &env.store, shutdown);
    let work = async {
        let with_file = |subject: &str| {
            Mail::new(&unit, subject)
                .attach("总结.txt", "text/plain", common::report_txt())
                .build()
        };
        env.process(with_file("市档案馆材料一"), "one").await;
        assert_eq!(imap_wait(&unit, 1).await.len(), 1, "first acknowledgement");
        // The sender has sent and gone idle; this one can only reach it by the notice.
        env.process(with_file("市档案馆材料二"), "two").await;
        assert_eq!(imap_wait(&unit, 2).await.len(), 2, "second acknowledgement");
        trigger.fire();
    };
    let (result, ()) = tokio::join!(sender, work);
    result.unwrap();
}
