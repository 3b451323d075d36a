//! Campaigns and mailboxes (issue 11, "Tests"): two campaigns share the deployment's mailbox and a
//! third reads its own, all run by one `reportbox run` against the loopback Dovecot and Postfix.
//! Mail is delivered over SMTP as units send it; what the test asserts is what the coordinators
//! and units see: the campaign each message is recorded under (from the database), the
//! acknowledgement each sender receives and whose address it comes from (from the senders'
//! mailboxes), and each campaign's status, reminders and daily email, which name only its units.
//!
//! The shared mailbox is the one `reportbox.toml` configures (the shipped Taiyuan campaign, with
//! the shipped roster units.csv) and `campaigns/kepu-2024.toml` shares; `campaigns/jidi.toml`
//! names its own `[mailbox]` and no `[smtp]`, so it sends through the deployment's SMTP server as
//! its own mailbox.
//!
//! Every address is on the test mail domain: the loopback Postfix refuses any other recipient,
//! and each acknowledgement is asserted as received.

mod mailbox_support;

use mailbox_support::common::bin::{output, url_of, Out};
use mailbox_support::common::{self, Mail};
use mailbox_support::drill::bare;
use mailbox_support::{mailbox_env, smtp_send, uniq_user, var, wait_delivered, Daemon, DEADLINE};
use reportbox::intake::{self, IntakeLimits};
use serde_json::Value;
use sqlx::PgPool;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

const TAIYUAN: &str = "taiyuan-2023";
const TAIYUAN_NAME: &str = "2023年太原市科技活动周";
const KEPU: &str = "kepu-2024";
const KEPU_NAME: &str = "2024年全国科普日";
const JIDI: &str = "jidi-2024";
const JIDI_NAME: &str = "2024年科普教育基地年度报告";

/// A TOML string literal (addresses and paths come from the environment).
fn q(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

/// The deployment under test: its configuration directory, storage, database and the addresses
/// of everyone involved.
struct Deployment {
    dir: tempfile::TempDir,
    url: String,
    /// The deployment's mailbox, read for Taiyuan and 科普日.
    shared: String,
    /// 基地's own mailbox.
    jidi: String,
    taiyuan_coordinator: String,
    kepu_coordinator: String,
    jidi_coordinator: String,
    /// 甲县科协, on the 科普日 roster.
    kxa: String,
    /// 甲科普教育基地 and 乙科普教育基地, on the 基地 roster.
    jd_a: String,
    jd_b: String,
}

impl Deployment {
    fn new(pool: &PgPool) -> Deployment {
        let d = Deployment {
            dir: tempfile::tempdir().unwrap(),
            url: url_of(pool),
            shared: uniq_user("mbtest-shared"),
            jidi: uniq_user("mbtest-jidi"),
            taiyuan_coordinator: uniq_user("mbtest-ty-office"),
            kepu_coordinator: uniq_user("mbtest-kepu-office"),
            jidi_coordinator: uniq_user("mbtest-jidi-office"),
            kxa: uniq_user("mbtest-kxa"),
            jd_a: uniq_user("mbtest-jd-a"),
            jd_b: uniq_user("mbtest-jd-b"),
        };
        d.write_config();
        d
    }

    fn config(&self) -> PathBuf {
        self.dir.path().join("config")
    }

    /// The shipped reportbox.toml and roster, and the two campaign files beside them.
    fn write_config(&self) {
        let config = self.config();
        let shipped = common::repo().join("config");
        for f in [
            "reportbox.toml",
            "units.csv",
            "templates/statistics-table-2023.xlsx",
        ] {
            let to = config.join(f);
            std::fs::create_dir_all(to.parent().unwrap()).unwrap();
            std::fs::copy(shipped.join(f), to).unwrap();
        }
        let campaigns = config.join("campaigns");
        std::fs::create_dir_all(&campaigns).unwrap();

        // Shares the deployment's mailbox: no [mailbox], the same campaign.mailbox.
        let kepu = format!(
            r#"
[campaign]
key = "{KEPU}"
name = "{KEPU_NAME}"
deadline = "2024-09-30T00:00:00+08:00"
timezone = "Asia/Shanghai"
mailbox = {mailbox}
roster = "campaigns/kepu.csv"
keywords = ["科普日"]
coordinators = [{coordinator}]
contact = "县科协办公室 赵老师，电话 1234567"
[[campaign.items]]
key = "summary"
label = "活动总结"
code = "report"
validator = "report"
extensions = ["docx", "pdf", "txt"]
[report]
keyword = "科普日"
[schedule]
reminders = ["-2 10:00"]
daily_report_at = "09:00"
report_days_after_deadline = 3
"#,
            mailbox = q(&self.shared),
            coordinator = q(&self.kepu_coordinator),
        );
        std::fs::write(campaigns.join("kepu-2024.toml"), kepu).unwrap();
        std::fs::write(
            campaigns.join("kepu.csv"),
            format!(
                "id,name,aliases,emails,group\nkx-a,甲县科协,甲县科学技术协会,{},县科协\n",
                self.kxa
            ),
        )
        .unwrap();

        // Its own mailbox and no [smtp]. The deadline lies ahead and the daily emails start
        // after the test, so `run`'s scheduler sends nothing of its own accord: every reminder
        // and report below is one the test asked for.
        let now = chrono::Utc::now().with_timezone(&chrono_tz::Asia::Shanghai);
        let password_file = self.dir.path().join("jidi-mailbox-password");
        std::fs::write(&password_file, var("TESTENV_MAIL_PASSWORD")).unwrap();
        let jidi = format!(
            r#"
[campaign]
key = "{JIDI}"
name = "{JIDI_NAME}"
deadline = {deadline}
opens = {opens}
timezone = "Asia/Shanghai"
mailbox = {mailbox}
roster = "campaigns/jidi.csv"
keywords = ["科普教育基地"]
coordinators = [{coordinator}]
contact = "基地管理办公室 钱老师，电话 7654321"
[[campaign.items]]
key = "annual_report"
label = "年度工作报告"
code = "report"
validator = "report"
extensions = ["docx", "pdf", "txt"]
[report]
keyword = "科普教育基地"
[schedule]
reminders = ["-2 10:00"]
daily_report_at = "09:00"
report_days_after_deadline = 3
[mailbox]
host = {host}
port = {port}
tls = "none"
ca_file = {ca}
username = {mailbox}
password_file = {password_file}
id_name = "rb-mbtest-jidi"
folders = ["INBOX"]
poll_interval = "300ms"
login_min_interval = "0"
backoff_initial = "100ms"
backoff_max = "1s"
"#,
            deadline = q(&(now + chrono::Duration::days(30)).to_rfc3339()),
            opens = q(&(now + chrono::Duration::days(20)).to_rfc3339()),
            mailbox = q(&self.jidi),
            coordinator = q(&self.jidi_coordinator),
            host = q(&var("TESTENV_TLS_SERVER_NAME")),
            port = var("TESTENV_IMAP_PORT"),
            ca = q(&var("TESTENV_CA_CERT")),
            password_file = q(&password_file.display().to_string()),
        );
        std::fs::write(campaigns.join("jidi.toml"), jidi).unwrap();
        std::fs::write(
            campaigns.join("jidi.csv"),
            format!(
                "id,name,aliases,emails,group,contact,phone\n\
                 jd-a,甲科普教育基地,,{},科普教育基地,李四,0351-7654321\n\
                 jd-b,乙科普教育基地,,{},科普教育基地,王五,0351-7654322\n",
                self.jd_a, self.jd_b
            ),
        )
        .unwrap();
    }

    /// What reportbox.toml leaves to the environment: the database, storage, the deployment's
    /// mailbox and SMTP server (the loopback ones), and the Taiyuan campaign's address and
    /// coordinator.
    fn env(&self) -> Vec<(String, String)> {
        let mut env = vec![
            ("REPORTBOX_DATABASE__URL".to_string(), self.url.clone()),
            (
                "REPORTBOX_STORAGE__DIR".to_string(),
                self.dir.path().join("storage").display().to_string(),
            ),
            (
                "REPORTBOX_CAMPAIGN__MAILBOX".to_string(),
                self.shared.clone(),
            ),
            (
                "REPORTBOX_CAMPAIGN__COORDINATORS".to_string(),
                self.taiyuan_coordinator.clone(),
            ),
            (
                "REPORTBOX_MAILBOX__FOLDERS".to_string(),
                "INBOX".to_string(),
            ),
            (
                "REPORTBOX_LOG".to_string(),
                "info,reportbox=debug".to_string(),
            ),
        ];
        env.extend(common::smtp_env());
        env.extend(mailbox_env(&self.shared, "rb-mbtest-shared", "none"));
        env
    }

    /// `reportbox ARGS…` on this deployment, to its end.
    async fn cli(&self, args: &[&str]) -> Out {
        let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_reportbox"));
        for (k, _) in std::env::vars() {
            if k.starts_with("REPORTBOX_") {
                cmd.env_remove(k);
            }
        }
        cmd.arg("--config")
            .arg(self.config().join("reportbox.toml"))
            .args(args)
            .envs(self.env())
            .stdin(std::process::Stdio::null())
            .kill_on_drop(true);
        output(cmd, DEADLINE).await
    }

    /// `reportbox run` on this deployment, logging to run.log; killed when dropped.
    fn run(&self) -> Daemon {
        let log = self.dir.path().join("run.log");
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_reportbox"));
        for (k, _) in std::env::vars() {
            if k.starts_with("REPORTBOX_") {
                cmd.env_remove(k);
            }
        }
        let child = cmd
            .arg("--config")
            .arg(self.config().join("reportbox.toml"))
            .arg("run")
            .envs(self.env())
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("spawn reportbox run");
        Daemon { child, log }
    }

    /// One campaign's `status --format json`.
    async fn status(&self, key: &str) -> Value {
        let out = self
            .cli(&["--campaign", key, "status", "--format", "json"])
            .await;
        assert_eq!(out.code, 0, "{out}");
        serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("{e}:\n{out}"))
    }
}

/// An acknowledgement as the outbox holds it: its message's Message-ID, the campaign the row
/// is filed under, the campaign of its message, recipients, state and text.
type AckRow = (Option<String>, String, String, Vec<String>, String, String);

/// Waits (bounded) until `messages` messages are recorded and `acks` acknowledgements sent;
/// an email that failed for good, a message given up on or a daemon that exited ends the wait
/// at once with what explains it.
async fn wait_drained(pool: &PgPool, daemon: &mut Daemon, messages: i64, acks: i64) {
    let end = tokio::time::Instant::now() + DEADLINE;
    loop {
        if let Some(st) = daemon.child.try_wait().unwrap() {
            panic!("reportbox run exited ({st}):\n{}", daemon.log_text());
        }
        let (recorded, queued, sent) = mailbox_support::drill::drained(pool).await;
        let failed: Vec<(String, Option<String>)> =
            sqlx::query_as("SELECT kind, last_error FROM outbox WHERE state = 'failed'")
                .fetch_all(pool)
                .await
                .unwrap();
        assert!(failed.is_empty(), "emails failed: {failed:?}");
        let given_up: Vec<(i64, Option<String>)> =
            sqlx::query_as("SELECT uid, last_error FROM mailbox_failures WHERE gave_up")
                .fetch_all(pool)
                .await
                .unwrap();
        assert!(given_up.is_empty(), "messages given up on: {given_up:?}");
        if recorded >= messages && queued >= acks && sent == queued {
            return;
        }
        assert!(
            tokio::time::Instant::now() < end,
            "not drained: {recorded}/{messages} recorded, {sent}/{queued} of {acks} \
             acknowledgements sent\n{}",
            daemon.log_text()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The one email `address` received, once it is there.
async fn the_email_to(address: &str) -> Vec<u8> {
    let mut got = common::imap_wait(address, 1).await;
    assert_eq!(got.len(), 1, "{address} received {} emails", got.len());
    got.remove(0)
}

/// The address an email is From, lowercase.
fn from_address(raw: &[u8]) -> String {
    let msg = mail_parser::MessageParser::default().parse(raw).unwrap();
    msg.from()
        .and_then(|a| a.first())
        .and_then(|a| a.address())
        .unwrap_or_default()
        .to_lowercase()
}

fn subject(raw: &[u8]) -> String {
    let msg = mail_parser::MessageParser::default().parse(raw).unwrap();
    msg.subject().unwrap_or_default().to_string()
}

/// The ids of a status JSON's units, in order.
fn unit_ids(status: &Value) -> Vec<String> {
    status["units"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["id"].as_str().unwrap().to_string())
        .collect()
}

/// The Message-IDs (bare) of a status JSON list (`unmatched`, `ignored`).
fn listed(status: &Value, list: &str) -> Vec<String> {
    status[list]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| bare(m["message_id"].as_str().unwrap_or_default()).to_string())
        .collect()
}

/// The roster's (id, name) pairs, read from the CSV the campaign is configured with.
fn roster(path: &Path) -> Vec<(String, String)> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let mut cols = l.split(',');
            (
                cols.next().unwrap().to_string(),
                cols.next().unwrap().to_string(),
            )
        })
        .collect()
}

#[sqlx::test(migrations = false)]
async fn each_message_lands_in_its_campaign_which_keeps_its_own_acks_status_reminders_and_daily_email(
    pool: PgPool,
) {
    let d = Deployment::new(&pool);
    let migrated = d.cli(&["migrate"]).await;
    assert_eq!(migrated.code, 0, "{migrated}");

    // 1. A Taiyuan roster unit (the shipped roster has no addresses: known by its table and
    //    subject), with all three items.
    let ty_sender = uniq_user("mbtest-xiaodian");
    let m1 = Mail::new(&ty_sender, "小店区科技局报送科技活动周材料")
        .attach(
            "开展情况统计表.xlsx",
            common::XLSX,
            common::table("小店区科技局", "2023"),
        )
        .attach("活动周总结报告.txt", "text/plain", common::report_txt())
        .attach("影像资料.mp4", "video/mp4", common::mp4(60));
    // 2. 甲县科协, on the 科普日 roster, whose subject also holds a Taiyuan keyword (总结): the
    //    roster address decides.
    let m2 = Mail::new(&d.kxa, "甲县科协全国科普日活动总结").attach(
        "科普日活动总结.txt",
        "text/plain",
        "全国科普日活动总结。".repeat(40).into_bytes(),
    );
    // 3. A stranger naming 全国科普日 and no Taiyuan keyword: 科普日 by its words, unmatched
    //    there (no unit named).
    let stranger = uniq_user("mbtest-stranger");
    let mut m3 = Mail::new(&stranger, "全国科普日活动材料").attach(
        "活动材料.txt",
        "text/plain",
        "全国科普日活动开展情况。".repeat(30).into_bytes(),
    );
    m3.body = "您好，附件为我单位材料，请查收。".to_string();
    // 4. A stranger's invoice: no campaign's words, so the first campaign, where it is set
    //    aside as unrelated.
    let invoicer = uniq_user("mbtest-invoice");
    let mut m4 = Mail::new(&invoicer, "发票");
    m4.body = "您好，发票已开具，请查收。".to_string();
    // 5. 甲科普教育基地 to 基地's own mailbox.
    let m5 = Mail::new(&d.jd_a, "甲科普教育基地2024年度工作报告").attach(
        "年度工作报告.txt",
        "text/plain",
        "本基地2024年科普教育基地年度工作情况。"
            .repeat(20)
            .into_bytes(),
    );
    // 6. A stranger writes to 基地's mailbox with Taiyuan's words: a mailbox of its own is read
    //    for its campaign only, so this stays with 基地 (and is set aside there).
    let lost = uniq_user("mbtest-lost");
    let mut m6 = Mail::new(&lost, "科技活动周材料");
    m6.body = "您好，请查收。".to_string();

    for m in [&m1, &m2, &m3, &m4] {
        smtp_send(&d.shared, &m.build()).await;
    }
    for m in [&m5, &m6] {
        smtp_send(&d.jidi, &m.build()).await;
    }
    wait_delivered(&d.shared, "INBOX", 4).await;
    wait_delivered(&d.jidi, "INBOX", 2).await;

    let mut daemon = d.run();
    // Messages 1, 2, 3 and 5 are acknowledged; 4 and 6 are set aside, which is never answered.
    wait_drained(&pool, &mut daemon, 6, 4).await;

    let id = |m: &Mail| bare(m.message_id.as_deref().unwrap()).to_string();
    let rows: Vec<(Option<String>, String, Option<String>, String)> = sqlx::query_as(
        "SELECT m.message_id, c.key, m.unit_id, m.disposition
         FROM messages m JOIN campaigns c ON c.id = m.campaign_id",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(rows.len(), 6, "each message recorded once: {rows:?}");
    let recorded: BTreeMap<String, (String, Option<String>, String)> = rows
        .into_iter()
        .map(|(mid, key, unit, disposition)| {
            (
                bare(&mid.unwrap_or_default()).to_string(),
                (key, unit, disposition),
            )
        })
        .collect();
    let want = |key: &str, unit: Option<&str>, disposition: &str| {
        (
            key.to_string(),
            unit.map(str::to_string),
            disposition.to_string(),
        )
    };
    let expected: BTreeMap<String, (String, Option<String>, String)> = [
        (id(&m1), want(TAIYUAN, Some("xiaodian"), "processed")),
        (id(&m2), want(KEPU, Some("kx-a"), "processed")),
        (id(&m3), want(KEPU, None, "processed")),
        (id(&m4), want(TAIYUAN, None, "unrelated")),
        (id(&m5), want(JIDI, Some("jd-a"), "processed")),
        (id(&m6), want(JIDI, None, "unrelated")),
    ]
    .into_iter()
    .collect();
    assert_eq!(
        recorded, expected,
        "(campaign, unit, disposition) of each message"
    );

    // Each acknowledgement is queued in its message's campaign, to its sender, and sent.
    let acks: Vec<AckRow> = sqlx::query_as(
        "SELECT m.message_id, oc.key, mc.key, o.recipients, o.state, o.body_text
         FROM outbox o
         JOIN messages m ON m.id = o.message_id
         JOIN campaigns oc ON oc.id = o.campaign_id
         JOIN campaigns mc ON mc.id = m.campaign_id
         WHERE o.kind = 'ack'",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    let mut acked: Vec<String> = Vec::new();
    for (mid, ack_campaign, message_campaign, recipients, state, _) in &acks {
        let mid = bare(mid.as_deref().unwrap_or_default()).to_string();
        assert_eq!(
            ack_campaign, message_campaign,
            "the acknowledgement of {mid} belongs to its message's campaign"
        );
        assert_eq!(state, "sent", "the acknowledgement of {mid}");
        assert_eq!(recipients.len(), 1, "{mid}: {recipients:?}");
        acked.push(mid);
    }
    acked.sort();
    let mut owed = vec![id(&m1), id(&m2), id(&m3), id(&m5)];
    owed.sort();
    assert_eq!(acked, owed, "one acknowledgement per answered message");
    // Each acknowledgement speaks for its campaign, the unmatched one's request to resend too.
    for (m, name) in [
        (&m1, TAIYUAN_NAME),
        (&m2, KEPU_NAME),
        (&m3, KEPU_NAME),
        (&m5, JIDI_NAME),
    ] {
        let body = &acks
            .iter()
            .find(|a| bare(a.0.as_deref().unwrap_or_default()) == id(m))
            .unwrap()
            .5;
        assert!(body.contains(name), "{}: {body}", id(m));
    }

    // Each sender received its acknowledgement, answering its message, from the address of the
    // mailbox it wrote to: 基地's comes from 基地's own.
    for (m, mailbox) in [
        (&m1, &d.shared),
        (&m2, &d.shared),
        (&m3, &d.shared),
        (&m5, &d.jidi),
    ] {
        let raw = the_email_to(&m.from).await;
        let ack = intake::parse(&raw, &IntakeLimits::default());
        assert_eq!(
            ack.auto_submitted.as_deref(),
            Some("auto-replied"),
            "{}",
            m.from
        );
        assert!(
            ack.references.contains(m.message_id.as_ref().unwrap()),
            "{} answers {:?}: {:?}",
            m.from,
            m.message_id,
            ack.references
        );
        assert_eq!(
            from_address(&raw),
            mailbox.to_lowercase(),
            "From of {}'s",
            m.from
        );
    }

    // Each mailbox was read with its own [mailbox] settings: the IMAP ID each session sent.
    let dovecot = std::fs::read_to_string(var("TESTENV_DOVECOT_LOG")).unwrap();
    for (user, id_name) in [(&d.shared, "rb-mbtest-shared"), (&d.jidi, "rb-mbtest-jidi")] {
        assert!(
            dovecot.lines().any(|l| l.contains(&format!("imap({user})"))
                && l.contains(&format!("ID sent: name={id_name},"))),
            "{user} was read as {id_name}"
        );
    }

    daemon.signal("-TERM");
    let exit = daemon.wait_exit(DEADLINE).await;
    assert!(exit.success(), "{exit}:\n{}", daemon.log_text());

    // Each campaign's status holds its own units and messages only.
    let kepu = d.status(KEPU).await;
    assert_eq!(kepu["campaign"], KEPU_NAME);
    assert_eq!(unit_ids(&kepu), ["kx-a"], "{kepu:#}");
    assert_eq!(
        common::unit(&kepu, "kx-a")["items"]["summary"]["state"],
        "valid",
        "{kepu:#}"
    );
    assert_eq!(listed(&kepu, "unmatched"), [id(&m3)], "{kepu:#}");
    assert!(listed(&kepu, "ignored").is_empty(), "{kepu:#}");

    let jidi = d.status(JIDI).await;
    assert_eq!(jidi["campaign"], JIDI_NAME);
    assert_eq!(unit_ids(&jidi), ["jd-a", "jd-b"], "{jidi:#}");
    assert_eq!(
        common::unit(&jidi, "jd-a")["status"],
        "complete",
        "{jidi:#}"
    );
    assert_eq!(common::unit(&jidi, "jd-b")["status"], "missing", "{jidi:#}");
    assert!(listed(&jidi, "unmatched").is_empty(), "{jidi:#}");
    assert_eq!(listed(&jidi, "ignored"), [id(&m6)], "{jidi:#}");

    let taiyuan_roster = roster(&d.config().join("units.csv"));
    let taiyuan = d.status(TAIYUAN).await;
    assert_eq!(taiyuan["campaign"], TAIYUAN_NAME);
    assert_eq!(
        unit_ids(&taiyuan),
        taiyuan_roster
            .iter()
            .map(|(id, _)| id.clone())
            .collect::<Vec<_>>()
    );
    assert_eq!(
        common::unit(&taiyuan, "xiaodian")["status"],
        "complete",
        "{taiyuan:#}"
    );
    for u in taiyuan["units"].as_array().unwrap() {
        if u["id"] != "xiaodian" {
            assert_eq!(u["status"], "missing", "{u:#}");
        }
    }
    assert!(listed(&taiyuan, "unmatched").is_empty(), "{taiyuan:#}");
    assert_eq!(listed(&taiyuan, "ignored"), [id(&m4)], "{taiyuan:#}");
    assert_eq!(taiyuan["ignored"][0]["reason"], "message.unrelated");

    // Each campaign's daily email names its own units, its own mail and its own coordinators.
    let names = |roster: &[(String, String)]| -> Vec<String> {
        roster.iter().map(|(_, n)| n.clone()).collect()
    };
    let kepu_units = names(&roster(&d.config().join("campaigns/kepu.csv")));
    let jidi_units = names(&roster(&d.config().join("campaigns/jidi.csv")));
    let taiyuan_units = names(&taiyuan_roster);
    for (key, name, coordinator, own, others, own_senders, other_senders) in [
        (
            TAIYUAN,
            TAIYUAN_NAME,
            &d.taiyuan_coordinator,
            &taiyuan_units,
            [&kepu_units, &jidi_units],
            vec![&invoicer],
            vec![&stranger, &lost],
        ),
        (
            KEPU,
            KEPU_NAME,
            &d.kepu_coordinator,
            &kepu_units,
            [&taiyuan_units, &jidi_units],
            vec![&stranger],
            vec![&invoicer, &lost],
        ),
        (
            JIDI,
            JIDI_NAME,
            &d.jidi_coordinator,
            &jidi_units,
            [&taiyuan_units, &kepu_units],
            vec![&lost],
            vec![&invoicer, &stranger],
        ),
    ] {
        let out = d.cli(&["--campaign", key, "report", "--print"]).await;
        assert_eq!(out.code, 0, "{out}");
        let report = &out.stdout;
        assert!(
            report.lines().next().unwrap_or_default().contains(name),
            "{key}: {report}"
        );
        assert!(
            report.contains(&format!("收件人：{coordinator}\n")),
            "{key}: {report}"
        );
        for unit in own {
            assert!(
                report.contains(unit.as_str()),
                "{key} names {unit}: {report}"
            );
        }
        for unit in others.iter().flat_map(|o| o.iter()) {
            assert!(
                !report.contains(unit.as_str()),
                "{key} names another campaign's {unit}: {report}"
            );
        }
        for sender in own_senders {
            assert!(
                report.contains(sender.as_str()),
                "{key} lists {sender}: {report}"
            );
        }
        for sender in other_senders {
            assert!(
                !report.contains(sender.as_str()),
                "{key} lists another campaign's mail from {sender}: {report}"
            );
        }
    }

    // 基地's daily email, sent: to its coordinator, from its own mailbox.
    let sent = d.cli(&["--campaign", JIDI, "report", "--send"]).await;
    assert_eq!(sent.code, 0, "{sent}");
    let raw = the_email_to(&d.jidi_coordinator).await;
    assert_eq!(from_address(&raw), d.jidi.to_lowercase());
    assert!(subject(&raw).contains(JIDI_NAME), "{}", subject(&raw));

    // 基地's reminder round: only its unit that sent nothing is reminded, from 基地's mailbox;
    // no other campaign's unit is.
    let reminded = d.cli(&["--campaign", JIDI, "remind"]).await;
    assert_eq!(reminded.code, 0, "{reminded}");
    let reminders: Vec<(String, Option<String>, Vec<String>, String)> = sqlx::query_as(
        "SELECT c.key, o.unit_id, o.recipients, o.state
         FROM outbox o JOIN campaigns c ON c.id = o.campaign_id
         WHERE o.kind = 'reminder'",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(
        reminders,
        [(
            JIDI.to_string(),
            Some("jd-b".to_string()),
            vec![d.jd_b.clone()],
            "sent".to_string()
        )],
        "{reminded}"
    );
    let raw = the_email_to(&d.jd_b).await;
    assert_eq!(from_address(&raw), d.jidi.to_lowercase());
    let reminder = intake::parse(&raw, &IntakeLimits::default());
    assert_eq!(reminder.auto_submitted.as_deref(), Some("auto-generated"));
}
