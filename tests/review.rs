//! The coordinator's desk through the real binary and the loopback mail stack (issue 9, items 1,
//! 2 and 6): `review` of a large-attachment link (accepted, rejected, the email the unit
//! receives, no reminder while it waits), notes (单位来信) in the daily email until `handled`,
//! one 已转交工作人员 reply per unit per day, and `history`.

mod common;

use common::bin::{url_of, Out};
use common::{
    imap_wait, mp4, repo, report_txt, smtp_env, table_with_youth, test_address, write_roster, Mail,
    XLSX,
};
use serde_json::Value;
use sqlx::PgPool;
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_secs(180);
const NOW: &str = "2023-06-07T09:30:00+08:00";

const LINK_BODY: &str = "您好，视频较大，以超大附件发送：\n\n从网易163邮箱发来的超大附件\n\n市档案馆科技活动周影像资料.mp4 (486.2M, 2023年6月23日 15:40 到期)\n下载地址：https://mail.163.com/large-attachment-download/index.html?p=X-NETEASE-HUGE-ATTACHMENT&file=qCPD&title=%E5%BD%B1%E5%83%8F.mp4\n";

/// A coordinator's world: the test's database, a roster, storage, the loopback SMTP server.
struct Desk {
    dir: tempfile::TempDir,
    env: Vec<(String, String)>,
}

impl Desk {
    async fn new(pool: &PgPool, rows: &[(&str, &str, &str, &str)], coordinator: &str) -> Desk {
        let dir = tempfile::tempdir().unwrap();
        let roster = write_roster(dir.path(), rows);
        let mut env = smtp_env();
        env.extend([
            ("REPORTBOX_DATABASE__URL".to_string(), url_of(pool)),
            (
                "REPORTBOX_STORAGE__DIR".to_string(),
                dir.path().join("objects").display().to_string(),
            ),
            (
                "REPORTBOX_CAMPAIGN__ROSTER".to_string(),
                roster.display().to_string(),
            ),
            (
                "REPORTBOX_CAMPAIGN__COORDINATORS".to_string(),
                coordinator.to_string(),
            ),
        ]);
        let desk = Desk { dir, env };
        desk.ok(&["migrate"]).await;
        desk
    }

    async fn run(&self, args: &[&str]) -> Out {
        let mut cmd = common::bin::command(args);
        cmd.envs(self.env.iter().map(|(k, v)| (k, v)));
        common::bin::output(cmd, TIMEOUT).await
    }

    async fn ok(&self, args: &[&str]) -> Out {
        let out = self.run(args).await;
        assert_eq!(out.code, 0, "reportbox {args:?}:\n{out}");
        out
    }

    /// Imports one message as a file (the pipeline the daemon runs); returns its number.
    async fn import(&self, name: &str, raw: Vec<u8>) -> (i64, String) {
        let path = self.dir.path().join(format!("{name}.eml"));
        std::fs::write(&path, raw).unwrap();
        let out = self.ok(&["import", &path.display().to_string()]).await;
        let line = out
            .stdout
            .lines()
            .find(|l| l.contains("编号 "))
            .unwrap_or_else(|| panic!("no number:\n{out}"))
            .to_string();
        let number = line
            .split("编号 ")
            .nth(1)
            .and_then(|r| r.split('，').next())
            .and_then(|n| n.trim().parse().ok())
            .unwrap_or_else(|| panic!("{line}"));
        (number, line)
    }

    async fn status(&self) -> Value {
        let out = self.ok(&["status", "--format", "json"]).await;
        serde_json::from_str(&out.stdout).unwrap()
    }
}

/// Kept under `target/desk-artefacts/` for a person to read: what the coordinator would see.
fn artefact(name: &str, text: &str) {
    let dir = repo().join("target/desk-artefacts");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(name), text).unwrap();
}

fn unit<'a>(status: &'a Value, id: &str) -> &'a Value {
    common::unit(status, id)
}

fn parse(raw: &[u8]) -> reportbox::intake::Parsed {
    reportbox::intake::parse(raw, &reportbox::intake::IntakeLimits::default())
}

/// The messages of `address` whose subject contains `subject`.
fn with_subject(inbox: &[Vec<u8>], subject: &str) -> Vec<reportbox::intake::Parsed> {
    inbox
        .iter()
        .map(|raw| parse(raw))
        .filter(|p| p.subject.contains(subject))
        .collect()
}

async fn count(pool: &PgPool, sql: &str) -> i64 {
    sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_string()))
        .fetch_one(pool)
        .await
        .unwrap()
}

#[sqlx::test(migrations = false)]
async fn a_link_is_reviewed_rejected_with_an_email_then_accepted_and_never_reminded_while_pending(
    pool: PgPool,
) {
    let archives = test_address("archives");
    let police = test_address("police");
    let coordinator = test_address("coordinator");
    let desk = Desk::new(
        &pool,
        &[
            ("archives", "市档案馆", "", &archives),
            ("police", "市公安局", "", &police),
        ],
        &coordinator,
    )
    .await;
    let mut link = Mail::new(&archives, "市档案馆报送科技活动周材料")
        .attach(
            "统计表.xlsx",
            XLSX,
            table_with_youth("市档案馆", "2023", 300.0),
        )
        .attach("总结.txt", "text/plain", report_txt());
    link.body = LINK_BODY.to_string();
    desk.import("link", link.build()).await;
    let partial = Mail::new(&police, "市公安局报送科技活动周总结")
        .attach("总结.txt", "text/plain", report_txt())
        .attach("视频.mp4", "video/mp4", mp4(150))
        .build();
    desk.import("partial", partial).await;
    desk.ok(&["send"]).await; // the two acknowledgements

    // Waiting for review: the reviewer sees everything, the unit is not reminded.
    let status = desk.status().await;
    let video = &unit(&status, "archives")["items"]["video"];
    assert_eq!(video["state"], "needs_review");
    assert!(
        video["link"]["url"]
            .as_str()
            .unwrap()
            .starts_with("https://mail.163.com/large-attachment-download/"),
        "{video}"
    );
    assert_eq!(video["link"]["file"], "市档案馆科技活动周影像资料.mp4");
    assert_eq!(video["link"]["size"], "486.2M");
    assert_eq!(video["link"]["expires"], "2023年6月23日 15:40");
    let table = desk.ok(&["status"]).await.stdout;
    assert!(
        table.contains("影像资料：下载链接 https://mail.163.com/large-attachment-download/")
            && table.contains("大小 486.2M；有效期 2023年6月23日 15:40"),
        "{table}"
    );
    let dry = desk.ok(&["remind", "--dry-run", "--now", NOW]).await.stdout;
    assert!(dry.contains("市公安局"), "the owing unit is listed:\n{dry}");
    assert!(
        !dry.contains("市档案馆"),
        "an item waiting for review is no reason to remind:\n{dry}"
    );
    let report = desk.ok(&["report", "--print", "--now", NOW]).await.stdout;
    let review_part =
        &report[report.find("一、待您审核").unwrap()..report.find("二、单位来信").unwrap()];
    assert!(
        review_part.contains("市档案馆：影像资料") && review_part.contains("大小：486.2M"),
        "{report}"
    );
    assert!(
        !review_part.contains("⚠"),
        "weeks before expiry:\n{review_part}"
    );
    // Two days before the link expires, the reviewer is warned.
    let late = desk
        .ok(&["report", "--print", "--now", "2023-06-21T09:00:00+08:00"])
        .await
        .stdout;
    assert!(late.contains("⚠ 链接将在3天内到期，请尽快下载"), "{late}");

    // Rejected: invalid, the unit is emailed the reason, once however often it is typed.
    let out = desk
        .ok(&[
            "review",
            "市档案馆",
            "视频",
            "--reject",
            "视频无法播放，请重新上传",
            "--by",
            "王老师",
        ])
        .await;
    assert!(
        out.stdout.contains("审核未通过") && out.stdout.contains("已将理由发邮件告知单位"),
        "{out}"
    );
    let again = desk
        .ok(&[
            "review",
            "archives",
            "video",
            "--reject",
            "视频无法播放，请重新上传",
            "--by",
            "王老师",
        ])
        .await;
    assert!(again.stdout.contains("已有相同的审核结果"), "{again}");
    assert_eq!(
        count(&pool, "SELECT count(*) FROM outbox WHERE kind = 'review'").await,
        1
    );
    let inbox = imap_wait(&archives, 2).await;
    let rejections = with_subject(&inbox, "审核未通过");
    assert_eq!(rejections.len(), 1, "one rejection email");
    assert_eq!(
        rejections[0].subject,
        "审核未通过：影像资料需更正（市档案馆）"
    );
    let text = &rejections[0].body_text;
    assert!(
        text.contains("市档案馆科技活动周影像资料.mp4")
            && text.contains("原因：视频无法播放，请重新上传"),
        "{text}"
    );
    assert!(
        !text.contains("王老师"),
        "staff names stay with staff:\n{text}"
    );
    let status = desk.status().await;
    let u = unit(&status, "archives");
    assert_eq!(u["status"], "incomplete");
    assert_eq!(u["items"]["video"]["state"], "invalid");
    assert_eq!(u["items"]["video"]["review"]["verdict"], "rejected");
    assert_eq!(u["items"]["video"]["review"]["by"], "王老师");
    assert_eq!(
        u["items"]["video"]["problems"][0]["code"],
        "review.rejected"
    );
    let dry = desk.ok(&["remind", "--dry-run", "--now", NOW]).await.stdout;
    assert!(
        dry.contains("市档案馆") && dry.contains("影像资料：不合格"),
        "rejected is owed again:\n{dry}"
    );

    // Accepted after all: valid, complete, no email.
    let out = desk
        .ok(&[
            "review",
            "archives",
            "影像资料",
            "--accept",
            "--by",
            "王老师",
        ])
        .await;
    assert!(out.stdout.contains("审核通过"), "{out}");
    let status = desk.status().await;
    assert_eq!(unit(&status, "archives")["status"], "complete");
    assert_eq!(
        unit(&status, "archives")["items"]["video"]["review"]["verdict"],
        "accepted"
    );
    assert_eq!(
        count(&pool, "SELECT count(*) FROM outbox WHERE kind = 'review'").await,
        1
    );

    // Only what waits for review can be reviewed.
    let refused = desk
        .run(&["review", "archives", "统计表", "--accept"])
        .await;
    assert_eq!(refused.code, 1, "{refused}");
    assert!(
        refused
            .stderr
            .contains("“市档案馆”的开展情况统计表为“合格”，没有等待审核的文件"),
        "{refused}"
    );
    let refused = desk
        .run(&["review", "archives", "video", "--reject", " "])
        .await;
    assert_eq!(refused.code, 1, "{refused}");
    assert!(refused.stderr.contains("理由"), "{refused}");

    // The history tells it all, in order.
    let history = desk.ok(&["history", "市档案馆"]).await.stdout;
    artefact("history-审核.txt", &history);
    artefact("审核未通过.txt", text);
    let pos = |s: &str| {
        history
            .find(s)
            .unwrap_or_else(|| panic!("{s} missing:\n{history}"))
    };
    let received = pos("《市档案馆报送科技活动周材料》：计入本单位");
    let link_line = pos("超大附件链接 《市档案馆科技活动周影像资料.mp4》→ 影像资料：待审核");
    let rejected = pos("王老师 审核影像资料《市档案馆科技活动周影像资料.mp4》：审核未通过，理由：视频无法播放，请重新上传");
    let mailed = pos("发出审核结果《审核未通过：影像资料需更正（市档案馆）》");
    let accepted = pos("王老师 审核影像资料《市档案馆科技活动周影像资料.mp4》：审核通过");
    assert!(received < link_line && link_line < rejected, "{history}");
    assert!(rejected < accepted && rejected < mailed, "{history}");
    assert!(
        history.contains("发出回执《回执：已收到，待审核（市档案馆）》"),
        "{history}"
    );
}

#[sqlx::test(migrations = false)]
async fn a_question_is_listed_for_the_coordinator_until_handled_and_answered_once_a_day(
    pool: PgPool,
) {
    let edu = test_address("edu");
    let coordinator = test_address("coordinator");
    let desk = Desk::new(&pool, &[("edu", "市教育局", "", &edu)], &coordinator).await;

    let mut ask = Mail::new(&edu, "咨询");
    ask.body = "请问视频超过3分钟怎么办？".to_string();
    let (first, line) = desk.import("ask", ask.build()).await;
    assert!(line.contains("列入单位来信"), "{line}");
    let mut more = Mail::new(&edu, "Re: 咨询");
    more.date = "Mon, 5 Jun 2023 15:00:00 +0800".to_string();
    more.body = "另外，统计表能否用WPS填写\n\n在 2023年6月5日 10:00，科技周 写道：\n> 本邮件未附带任何文件\n".to_string();
    let (second, _) = desk.import("more", more.build()).await;

    // A note changes nothing a unit is counted by.
    let status = desk.status().await;
    let u = unit(&status, "edu");
    assert_eq!(u["status"], "missing");
    assert!(u["last_received_at"].is_null(), "{u}");
    assert!(status["ignored"].as_array().unwrap().is_empty());
    assert!(status["unmatched"].as_array().unwrap().is_empty());
    // Listed for the coordinator, by the number `handled` takes.
    let notes = status["notes"].as_array().unwrap();
    assert_eq!(notes.len(), 2, "{status}");
    assert_eq!(notes[0]["number"], first);
    assert_eq!(notes[0]["unit_id"], "edu");
    assert_eq!(notes[0]["text"], "请问视频超过3分钟怎么办？");
    assert_eq!(notes[1]["number"], second);
    let table = desk.ok(&["status"]).await.stdout;
    assert!(
        table.contains(&format!(
            "  编号 {first}　2023-06-05 10:00　市教育局　《咨询》：请问视频超过3分钟怎么办？"
        )),
        "{table}"
    );

    // A submission that also asks something: counted as before, and its question is a note.
    let mut with_files = Mail::new(&edu, "市教育局报送科技活动周材料")
        .attach(
            "统计表.xlsx",
            XLSX,
            table_with_youth("市教育局", "2023", 300.0),
        )
        .attach("总结.txt", "text/plain", report_txt())
        .attach("视频.mp4", "video/mp4", mp4(150));
    with_files.date = "Mon, 5 Jun 2023 16:00:00 +0800".to_string();
    with_files.body = "附件为我局材料，请问是否还需要寄送纸质盖章件？".to_string();
    let (third, _) = desk.import("files", with_files.build()).await;
    let status = desk.status().await;
    assert_eq!(unit(&status, "edu")["status"], "complete");
    assert_eq!(
        unit(&status, "edu")["last_received_at"],
        "2023-06-05T16:00:00+08:00"
    );

    desk.ok(&["send"]).await;
    // Everything queued for the unit went out: so its inbox holds all there will be.
    assert_eq!(
        count(
            &pool,
            "SELECT count(*) FROM outbox WHERE unit_id = 'edu' AND state = 'sent'"
        )
        .await,
        2
    );
    assert_eq!(count(&pool, "SELECT count(*) FROM outbox").await, 2);
    let inbox = imap_wait(&edu, 2).await;
    let forwarded = with_subject(&inbox, "已转交工作人员");
    assert_eq!(forwarded.len(), 1, "one 已转交 reply per unit per day");
    assert!(
        !forwarded[0].body_text.contains("未附带任何文件")
            && !forwarded[0].body_text.contains("逾期")
            && !forwarded[0].body_text.contains("尚缺"),
        "{}",
        forwarded[0].body_text
    );
    let acks = with_subject(&inbox, "回执");
    assert_eq!(acks.len(), 1, "only the submission is acknowledged");
    assert_eq!(acks[0].subject, "回执：材料已全部合格（市教育局）");
    assert!(
        acks[0].body_text.contains("留言已转交工作人员"),
        "{}",
        acks[0].body_text
    );
    assert_eq!(inbox.len(), 2);

    // The daily email lists every open note with its text.
    let report = desk.ok(&["report", "--print", "--now", NOW]).await.stdout;
    artefact("日报-单位来信.txt", &report);
    artefact("已转交工作人员.txt", &forwarded[0].body_text);
    let notes = &report[report.find("二、单位来信").unwrap()..report.find("三、未报送").unwrap()];
    for want in [
        format!("第 {first} 号邮件：市教育局"),
        "来信：请问视频超过3分钟怎么办？".to_string(),
        format!("第 {second} 号邮件：市教育局"),
        "来信：另外，统计表能否用WPS填写".to_string(),
        format!("第 {third} 号邮件：市教育局"),
        "（随附材料已照常计入）".to_string(),
        "联系人 张三，电话 0351-1234567".to_string(),
    ] {
        assert!(notes.contains(&want), "{want}:\n{notes}");
    }
    assert!(
        !notes.contains("本邮件未附带任何文件"),
        "quoted text: {notes}"
    );

    // Handled: gone from the daily email; again is harmless; an unknown number is named.
    let out = desk
        .ok(&["handled", &first.to_string(), "--by", "王老师"])
        .await;
    assert!(out.stdout.contains("已标记为已处理"), "{out}");
    let again = desk.ok(&["handled", &first.to_string()]).await;
    assert!(again.stdout.contains("已于"), "{again}");
    let report = desk.ok(&["report", "--print", "--now", NOW]).await.stdout;
    assert!(!report.contains("请问视频超过3分钟怎么办"), "{report}");
    let status = desk.status().await;
    assert_eq!(status["notes"].as_array().unwrap().len(), 2, "{status}");
    assert!(report.contains("统计表能否用WPS填写"), "{report}");
    let unknown = desk.run(&["handled", "999999"]).await;
    assert_eq!(unknown.code, 1, "{unknown}");
    assert!(
        unknown.stderr.contains("找不到编号为 999999 的单位来信"),
        "{unknown}"
    );

    let history = desk.ok(&["history", "edu"]).await.stdout;
    artefact("history-来信.txt", &history);
    for want in [
        "《咨询》：单位来信，无附件",
        "来信内容：请问视频超过3分钟怎么办？",
        &format!("编号 {first} 的来信已处理（王老师）"),
        "发出回执《已转交工作人员》",
    ] {
        assert!(history.contains(want), "{want}:\n{history}");
    }
}
