//! What the integration tests share: settings pointing at a fresh database and storage, the
//! sample corpus, and a small builder for the messages units send.
#![allow(dead_code)]

pub mod bin;
pub mod relay;
pub mod s3;

use base64::Engine;
use reportbox::config::Settings;
use reportbox::pipeline::{self, Incoming, Outcome};
use reportbox::store::Store;
use sqlx::PgPool;
use std::path::{Path, PathBuf};

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `../shared/samples`, next to the repository (as on CI); fails loudly when it is not there.
pub fn samples_dir() -> PathBuf {
    let dir = repo().join("../shared/samples");
    assert!(
        dir.join("corpus").is_dir(),
        "the sample corpus is missing at {}",
        dir.display()
    );
    dir
}

/// The shipped configuration with the samples' roster and a private storage directory.
pub fn settings_with(roster: &Path, storage: &Path, extra: &[(&str, &str)]) -> Settings {
    let mut env = vec![
        (
            "REPORTBOX_CAMPAIGN__ROSTER".to_string(),
            roster.display().to_string(),
        ),
        (
            "REPORTBOX_STORAGE__DIR".to_string(),
            storage.display().to_string(),
        ),
    ];
    env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    Settings::load(&repo().join("config/reportbox.toml"), env).expect("shipped config loads")
}

pub struct Env {
    pub settings: Settings,
    pub store: Store,
    pub _storage: tempfile::TempDir,
}

/// A store on the test's own database (from `#[sqlx::test]`) with the samples' roster.
pub async fn env(pool: PgPool) -> Env {
    env_with(pool, &[]).await
}

pub async fn env_with(pool: PgPool, extra: &[(&str, &str)]) -> Env {
    let storage = tempfile::tempdir().unwrap();
    let settings = settings_with(&samples_dir().join("roster.csv"), storage.path(), extra);
    let store = Store::from_pool(pool, storage.path());
    store.sync_units(&settings.roster).await.unwrap();
    Env {
        settings,
        store,
        _storage: storage,
    }
}

impl Env {
    pub async fn process(&self, raw: Vec<u8>, label: &str) -> Outcome {
        pipeline::process(
            &self.settings,
            &self.store,
            Incoming {
                raw,
                source: format!("test:{label}"),
                internal_date: None,
            },
        )
        .await
        .unwrap_or_else(|e| panic!("{label}: {e}"))
    }

    pub async fn status_json(&self) -> serde_json::Value {
        let s = self
            .store
            .status(&self.settings.campaign_view(), chrono::Utc::now())
            .await
            .unwrap();
        serde_json::to_value(s).unwrap()
    }

    pub async fn import_samples(&self) -> Vec<(String, Outcome)> {
        let mut out = Vec::new();
        for (name, raw) in sample_messages() {
            let o = self.process(raw, &name).await;
            out.push((name, o));
        }
        out
    }
}

/// The sample corpus, in file-name order (= arrival order).
pub fn sample_messages() -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(samples_dir().join("corpus"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "eml"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no sample messages found");
    files
        .into_iter()
        .map(|p| {
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read(&p).unwrap(),
            )
        })
        .collect()
}

/// A message as a unit's mail client would write it.
pub struct Mail {
    pub from: String,
    pub subject: String,
    pub message_id: Option<String>,
    pub date: String,
    /// Whether a relay's `Received:` line (carrying `date`) tops the message.
    pub received: bool,
    pub headers: Vec<String>,
    pub body: String,
    pub attachments: Vec<(String, String, Vec<u8>)>,
}

impl Mail {
    pub fn new(from: &str, subject: &str) -> Mail {
        Mail {
            from: from.to_string(),
            subject: subject.to_string(),
            message_id: Some(format!("<{}@test.example>", uniq())),
            date: "Mon, 5 Jun 2023 10:00:00 +0800".to_string(),
            received: true,
            headers: Vec::new(),
            body: "您好，附件为报送材料。".to_string(),
            attachments: Vec::new(),
        }
    }

    pub fn attach(mut self, name: &str, content_type: &str, bytes: Vec<u8>) -> Mail {
        self.attachments
            .push((name.to_string(), content_type.to_string(), bytes));
        self
    }

    pub fn header(mut self, h: &str) -> Mail {
        self.headers.push(h.to_string());
        self
    }

    pub fn build(&self) -> Vec<u8> {
        let b64 = base64::engine::general_purpose::STANDARD;
        let enc = |s: &str| format!("=?UTF-8?B?{}?=", b64.encode(s.as_bytes()));
        let mut out = String::new();
        if self.received {
            out.push_str(&format!(
                "Received: from client (unknown [10.0.0.1]) by mx.test; {}\r\n",
                self.date
            ));
        }
        out.push_str(&format!("From: <{}>\r\n", self.from));
        out.push_str("To: w251342595@163.com\r\n");
        out.push_str(&format!("Subject: {}\r\n", enc(&self.subject)));
        out.push_str(&format!("Date: {}\r\n", self.date));
        if let Some(id) = &self.message_id {
            out.push_str(&format!("Message-ID: {id}\r\n"));
        }
        for h in &self.headers {
            out.push_str(h);
            out.push_str("\r\n");
        }
        out.push_str("MIME-Version: 1.0\r\n");
        let boundary = format!("----=_Part_{}", uniq());
        out.push_str(&format!(
            "Content-Type: multipart/mixed; boundary=\"{boundary}\"\r\n\r\n"
        ));
        out.push_str(&format!("--{boundary}\r\n"));
        out.push_str(
            "Content-Type: text/plain; charset=UTF-8\r\nContent-Transfer-Encoding: base64\r\n\r\n",
        );
        out.push_str(&wrap(&b64.encode(self.body.as_bytes())));
        for (name, ct, bytes) in &self.attachments {
            out.push_str(&format!("--{boundary}\r\n"));
            out.push_str(&format!(
                "Content-Type: {ct}; name=\"{}\"\r\nContent-Transfer-Encoding: base64\r\nContent-Disposition: attachment; filename=\"{}\"\r\n\r\n",
                enc(name),
                enc(name)
            ));
            out.push_str(&wrap(&b64.encode(bytes)));
        }
        out.push_str(&format!("--{boundary}--\r\n"));
        out.into_bytes()
    }
}

fn wrap(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + s.len() / 76 * 2 + 2);
    for chunk in s.as_bytes().chunks(76) {
        out.push_str(std::str::from_utf8(chunk).unwrap());
        out.push_str("\r\n");
    }
    out
}

pub fn uniq() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    format!(
        "{}.{}.{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed),
        chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default()
    )
}

/// The loopback mail stack of deploy/testenv (exported by up.sh); fails loudly without it.
pub fn testenv(var: &str) -> String {
    std::env::var(var).unwrap_or_else(|_| {
        panic!("{var} is not set: run the tests with deploy/test.sh (it starts the mail servers)")
    })
}

/// One unit's object in the status JSON (contract §9).
pub fn unit<'a>(status: &'a serde_json::Value, id: &str) -> &'a serde_json::Value {
    status["units"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["id"] == id)
        .unwrap_or_else(|| panic!("no unit {id}"))
}

/// The process's peak resident memory so far (VmHWM), in MB; for the benchmarks.
pub fn peak_rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

/// A fresh address on the test mail domain: every test reads its own mailboxes.
pub fn test_address(name: &str) -> String {
    format!(
        "{name}-{}@{}",
        uniq().replace('.', "-"),
        testenv("TESTENV_MAIL_DOMAIN")
    )
}

/// The messages of `address`'s INBOX once at least `n` have arrived (delivery through Postfix
/// and LMTP takes a moment after SMTP accepted them); gives up after 60 s and returns what is
/// there, so the caller's assertion reports the shortfall.
pub async fn imap_wait(address: &str, n: usize) -> Vec<Vec<u8>> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let got = imap_messages(address).await;
        if got.len() >= n || std::time::Instant::now() > deadline {
            return got;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// Every message in `address`'s INBOX, read over IMAP (plain, loopback), without marking it.
pub async fn imap_messages(address: &str) -> Vec<Vec<u8>> {
    use futures::TryStreamExt;
    let host = testenv("TESTENV_IMAP_HOST");
    let port = testenv("TESTENV_IMAP_PORT");
    let tcp = tokio::net::TcpStream::connect(format!("{host}:{port}"))
        .await
        .expect("IMAP server reachable");
    let mut client = async_imap::Client::new(tcp);
    client.read_response().await.expect("IMAP greeting");
    let mut session = client
        .login(address, testenv("TESTENV_MAIL_PASSWORD"))
        .await
        .map_err(|e| e.0)
        .expect("IMAP login");
    let mailbox = session.select("INBOX").await.expect("SELECT INBOX");
    let mut out = Vec::new();
    if mailbox.exists > 0 {
        let fetches: Vec<_> = session
            .fetch("1:*", "BODY.PEEK[]")
            .await
            .expect("FETCH")
            .try_collect()
            .await
            .expect("FETCH responses");
        for f in fetches {
            out.push(f.body().unwrap_or_default().to_vec());
        }
    }
    session.logout().await.ok();
    out
}

/// Settings for sending through the loopback Postfix: plain SMTP, no pacing.
pub fn smtp_env() -> Vec<(String, String)> {
    vec![
        ("REPORTBOX_SMTP__HOST".into(), testenv("TESTENV_SMTP_HOST")),
        ("REPORTBOX_SMTP__PORT".into(), testenv("TESTENV_SMTP_PORT")),
        ("REPORTBOX_SMTP__TLS".into(), "none".into()),
        ("REPORTBOX_SMTP__USERNAME".into(), String::new()),
        ("REPORTBOX_SMTP__MAX_PER_MINUTE".into(), "60000".into()),
    ]
}

/// Sends everything due at `now` through the env's SMTP settings, as the sender does.
pub async fn send(env: &Env, now: chrono::DateTime<chrono::Utc>) -> reportbox::notify::SendReport {
    let mailer = reportbox::notify::smtp::Mailer::new(&env.settings).unwrap();
    reportbox::notify::send_due(&env.settings, &env.store, &mailer, now, usize::MAX)
        .await
        .unwrap()
}

/// A header of a raw message as written, trimmed.
pub fn header(raw: &[u8], name: &str) -> Option<String> {
    let msg = mail_parser::MessageParser::default().parse(raw)?;
    msg.header_raw(name).map(|v| v.trim().to_string())
}

/// `REPORTBOX_SMTP__*` for the stack's Postfix over TLS checked against the test CA: `implicit`
/// on the SMTPS port, `starttls` on the plain one; AUTH as `user` when given.
pub fn smtp_tls_env(tls: &str, user: Option<&str>) -> Vec<(String, String)> {
    let port = if tls == "implicit" {
        "TESTENV_SMTPS_PORT"
    } else {
        "TESTENV_SMTP_PORT"
    };
    let mut env = vec![
        (
            "REPORTBOX_SMTP__HOST".into(),
            testenv("TESTENV_TLS_SERVER_NAME"),
        ),
        ("REPORTBOX_SMTP__PORT".into(), testenv(port)),
        ("REPORTBOX_SMTP__TLS".into(), tls.into()),
        ("REPORTBOX_SMTP__CA_FILE".into(), testenv("TESTENV_CA_CERT")),
        ("REPORTBOX_SMTP__USERNAME".into(), user.unwrap_or("").into()),
        ("REPORTBOX_SMTP__MAX_PER_MINUTE".into(), "60000".into()),
    ];
    if user.is_some() {
        env.push((
            "REPORTBOX_SMTP__PASSWORD".into(),
            testenv("TESTENV_MAIL_PASSWORD"),
        ));
    }
    env
}

/// A roster with the given units, written to a file in `dir`.
pub fn write_roster(dir: &Path, rows: &[(&str, &str, &str, &str)]) -> PathBuf {
    let mut csv = String::from("id,name,aliases,emails,group,contact,phone\n");
    for (id, name, aliases, emails) in rows {
        csv.push_str(&format!(
            "{id},{name},{aliases},{emails},联席会议成员单位,张三,0351-1234567\n"
        ));
    }
    let path = dir.join("roster.csv");
    std::fs::write(&path, csv).unwrap();
    path
}

/// An `Env` with its own roster and extra settings.
pub async fn env_with_roster(
    pool: PgPool,
    roster_rows: &[(&str, &str, &str, &str)],
    extra: &[(String, String)],
) -> Env {
    let storage = tempfile::tempdir().unwrap();
    let roster = write_roster(storage.path(), roster_rows);
    let pairs: Vec<(&str, &str)> = extra
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let settings = settings_with(&roster, &storage.path().join("objects"), &pairs);
    let store = Store::from_pool(pool, storage.path().join("objects"));
    store.sync_units(&settings.roster).await.unwrap();
    Env {
        settings,
        store,
        _storage: storage,
    }
}

/// A statistics table laid out like 附件2, filled in for `unit`; `unit` empty gives the blank
/// template.
pub fn table(unit: &str, year: &str) -> Vec<u8> {
    table_with_youth(unit, year, 300.0)
}

/// [`table`] with `youth` as 其中：青少年参与人数 (above 参与公众人数 it is an error).
pub fn table_with_youth(unit: &str, year: &str, youth: f64) -> Vec<u8> {
    let filled = !unit.is_empty();
    let mut wb = rust_xlsxwriter::Workbook::new();
    let ws = wb.add_worksheet();
    ws.write(0, 0, format!("{year}年太原市科技活动周开展情况统计表"))
        .unwrap();
    ws.write(1, 0, "填报单位（盖章）：").unwrap();
    if filled {
        ws.write(1, 1, unit).unwrap();
    }
    ws.write(1, 3, "填报日期：").unwrap();
    for (c, h) in ["序号", "统计指标", "单位", "数量", "备注"]
        .iter()
        .enumerate()
    {
        ws.write(3, c as u16, *h).unwrap();
    }
    let rows: [(&str, &str, f64); 13] = [
        ("举办科技活动总数", "项", 10.0),
        ("其中：线上活动", "项", 4.0),
        ("其中：线下活动", "项", 6.0),
        ("参与公众人数", "人次", 1200.0),
        ("其中：青少年参与人数", "人次", youth),
        ("参与科技工作者人数", "人次", 40.0),
        ("参与单位数", "个", 5.0),
        ("开放科普场馆（基地）数", "个", 2.0),
        ("发放科普资料", "份", 800.0),
        ("媒体报道数", "篇", 3.0),
        ("新媒体传播量（直播、短视频、H5）", "次", 5000.0),
        ("投入经费", "万元", 1.5),
        ("重点示范活动数", "项", 1.0),
    ];
    for (i, (label, u, v)) in rows.iter().enumerate() {
        let r = 4 + i as u32;
        ws.write(r, 0, (i + 1) as f64).unwrap();
        ws.write(r, 1, *label).unwrap();
        ws.write(r, 2, *u).unwrap();
        if filled {
            ws.write(r, 3, *v).unwrap();
        }
    }
    ws.write(17, 0, "重点示范活动名称及简介").unwrap();
    if filled {
        ws.write(17, 1, "科普进社区").unwrap();
    }
    wb.save_to_buffer().unwrap()
}

/// A summary report as plain text: long enough and on topic.
pub fn report_txt() -> Vec<u8> {
    "2023年科技活动周期间，我单位围绕“热爱科学 崇尚科学”主题开展了系列科普活动。"
        .repeat(12)
        .into_bytes()
}

/// A minimal mp4 (ftyp + moov/mvhd) lasting `seconds`.
pub fn mp4(seconds: u32) -> Vec<u8> {
    let mut v = Vec::new();
    v.extend_from_slice(&[0, 0, 0, 0x18]);
    v.extend_from_slice(b"ftypisom\0\0\x02\0isomiso2");
    let mut mvhd = vec![0u8; 108];
    mvhd[0..4].copy_from_slice(&108u32.to_be_bytes());
    mvhd[4..8].copy_from_slice(b"mvhd");
    mvhd[20..24].copy_from_slice(&1000u32.to_be_bytes());
    mvhd[24..28].copy_from_slice(&(seconds * 1000).to_be_bytes());
    v.extend_from_slice(&(8 + mvhd.len() as u32).to_be_bytes());
    v.extend_from_slice(b"moov");
    v.extend_from_slice(&mvhd);
    v.extend_from_slice(&16u32.to_be_bytes());
    v.extend_from_slice(b"mdat\0\0\0\0\0\0\0\0");
    v
}

pub const XLSX: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";

// ---------- shared by the QA suites ----------

/// 附件1, the list of activities some units send along: a spreadsheet, not the table.
pub fn activity_list() -> Vec<u8> {
    let mut wb = rust_xlsxwriter::Workbook::new();
    let ws = wb.add_worksheet();
    ws.write(0, 0, "2023年科技活动周重点活动安排表").unwrap();
    for (c, h) in ["序号", "活动名称", "时间", "地点"].iter().enumerate() {
        ws.write(1, c as u16, *h).unwrap();
    }
    ws.write(2, 1, "科普进社区").unwrap();
    wb.save_to_buffer().unwrap()
}

/// A committed file under tests/fixtures.
pub fn fixture(path: &str) -> Vec<u8> {
    std::fs::read(repo().join("tests/fixtures").join(path)).unwrap()
}

/// A zip with UTF-8 names; a name ending in `/` is a folder.
pub fn zip_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (name, bytes) in entries {
        if name.ends_with('/') {
            w.add_directory(*name, zip::write::SimpleFileOptions::default())
                .unwrap();
            continue;
        }
        w.start_file(*name, zip::write::SimpleFileOptions::default())
            .unwrap();
        std::io::Write::write_all(&mut w, bytes).unwrap();
    }
    w.finish().unwrap().into_inner()
}

/// Base64 in 76-character CRLF lines, as mail bodies carry it.
pub fn b64(data: &[u8]) -> String {
    let s = base64::engine::general_purpose::STANDARD.encode(data);
    s.as_bytes()
        .chunks(76)
        .map(|c| format!("{}\r\n", std::str::from_utf8(c).unwrap()))
        .collect()
}

/// The problem codes of a status JSON problem list.
pub fn codes(problems: &serde_json::Value) -> Vec<String> {
    problems
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["code"].as_str().unwrap().to_string())
        .collect()
}

/// (disposition, unit) of a recorded message; panics for any other outcome.
pub fn disposition(o: &reportbox::pipeline::Outcome) -> (String, Option<String>) {
    match &o.saved {
        reportbox::store::Saved::Recorded {
            disposition,
            unit_id,
            ..
        } => (disposition.to_string(), unit_id.clone()),
        other => panic!("not recorded: {other:?}"),
    }
}

// ---------- the samples' expected.json ----------

/// `../shared/samples/expected.json`.
pub fn expected() -> serde_json::Value {
    let text = std::fs::read_to_string(samples_dir().join("expected.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// (code, severity) of each problem in a status JSON problem list.
fn codes_and_severities(problems: &serde_json::Value) -> Vec<(String, String)> {
    problems
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["code"].as_str().unwrap().to_string(),
                p["severity"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// Every code anywhere in a unit's status object.
fn all_codes(unit: &serde_json::Value) -> Vec<String> {
    let mut out: Vec<String> = codes_and_severities(&unit["problems"])
        .into_iter()
        .map(|c| c.0)
        .collect();
    for item in unit["items"].as_object().unwrap().values() {
        out.extend(
            codes_and_severities(&item["problems"])
                .into_iter()
                .map(|c| c.0),
        );
    }
    out
}

/// A status JSON (contract §9) against expected.json as its README says to read it: every
/// unit's status, late flag and items (state or an accepted alternative, required codes with
/// their severity, no error on a valid item, the file's base name), codes required anywhere,
/// exactly the unmatched messages, and the ignored ones.
pub fn assert_status_matches(status: &serde_json::Value, exp: &serde_json::Value) {
    use serde_json::Value;
    assert_eq!(status["campaign"], exp["campaign"]);
    assert_eq!(status["deadline"], exp["deadline"]);
    for (id, want) in exp["units"].as_object().unwrap() {
        let got = status["units"]
            .as_array()
            .unwrap()
            .iter()
            .find(|u| u["id"] == *id)
            .unwrap_or_else(|| panic!("unit {id} missing from status"));
        assert_eq!(got["name"], want["name"], "{id} name");
        assert_eq!(got["status"], want["status"], "{id} status: {got:#}");
        assert_eq!(got["late"], want["late"], "{id} late");
        for (key, item_want) in want["items"].as_object().unwrap() {
            let item = &got["items"][key];
            let state = item["state"].as_str().unwrap();
            let mut accepted = vec![item_want["state"].as_str().unwrap()];
            if let Some(also) = item_want["state_also_accepted"].as_array() {
                accepted.extend(also.iter().map(|s| s.as_str().unwrap()));
            }
            assert!(
                accepted.contains(&state),
                "{id}.{key}: state {state}, want {accepted:?}: {item:#}"
            );
            let have = codes_and_severities(&item["problems"]);
            for p in item_want["problems_required"].as_array().unwrap() {
                let code = p["code"].as_str().unwrap();
                assert!(
                    have.iter()
                        .any(|(c, s)| c == code
                            && p["severity"].as_str().is_none_or(|want| want == s)),
                    "{id}.{key}: {code} missing in {have:?}"
                );
            }
            if state == "valid" {
                assert!(
                    have.iter().all(|(_, s)| s != "error"),
                    "{id}.{key} is valid but has errors: {have:?}"
                );
            }
            if let Some(base) = item_want["file_basename"].as_str() {
                let file = item["file"].as_str().unwrap_or_default().replace('\\', "/");
                assert!(
                    file.ends_with(base),
                    "{id}.{key}: file {file:?}, want …{base}"
                );
            }
        }
        let anywhere = all_codes(got);
        for code in want["problems_required_anywhere"].as_array().unwrap() {
            let code = code.as_str().unwrap();
            assert!(anywhere.iter().any(|c| c == code), "{id}: {code} missing");
        }
    }

    let id_and_reason = |list: &'_ Value| -> Vec<(String, String)> {
        list.as_array()
            .unwrap()
            .iter()
            .map(|m| {
                (
                    m["message_id"].as_str().unwrap().to_string(),
                    m["reason"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    };
    assert_eq!(
        id_and_reason(&status["unmatched"]),
        id_and_reason(&exp["unmatched"])
    );

    let ignored = status["ignored"].as_array().unwrap();
    for want in exp["ignored"].as_array().unwrap() {
        assert!(
            ignored
                .iter()
                .any(|m| m["message_id"] == want["message_id"] && m["reason"] == want["reason"]),
            "ignored lacks {want}"
        );
    }
    for m in ignored {
        let listed = exp["ignored"]
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w["message_id"] == m["message_id"]);
        assert!(
            listed || m["reason"] == "message.duplicate",
            "unexpected ignored {m}"
        );
    }
}
