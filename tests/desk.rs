//! What the coordinator and the units read (issue 9, items 3, 4 and 7): acknowledgement subjects
//! and headers, the daily email, and 汇总表.xlsx, through the loopback Postfix into Dovecot, and
//! the workbook rendered by LibreOffice.

mod common;

use chrono::{DateTime, Utc};
use common::{
    env_with_roster, imap_wait, mp4, report_txt, smtp_env, test_address, Env, Mail, XLSX,
};
use mail_parser::MimeHeaders;
use reportbox::intake::{self, IntakeLimits};
use reportbox::notify::{self, smtp::Mailer};
use sqlx::PgPool;

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

async fn send(env: &Env) -> notify::SendReport {
    let mailer = Mailer::new(&env.settings).unwrap();
    notify::send_due(&env.settings, &env.store, &mailer, Utc::now(), usize::MAX)
        .await
        .unwrap()
}

/// Kept under `target/desk-artefacts/` for a person to open: what the coordinator would see.
fn artefact(name: &str, bytes: &[u8]) {
    let dir = common::repo().join("target/desk-artefacts");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(name), bytes).unwrap();
}

fn parse(raw: &[u8]) -> intake::Parsed {
    intake::parse(raw, &IntakeLimits::default())
}

fn header(raw: &[u8], name: &str) -> Option<String> {
    let msg = mail_parser::MessageParser::default().parse(raw)?;
    msg.header_raw(name).map(|v| v.trim().to_string())
}

fn table_with_youth(unit: &str, youth: f64) -> Vec<u8> {
    common::table_with_youth(unit, "2023", youth)
}

const LINK_BODY: &str = "您好，视频较大，以超大附件发送：\n\n从网易163邮箱发来的超大附件\n\n市档案馆科技活动周影像资料.mp4 (486.2M, 2023年6月23日 15:40 到期)\n下载地址：https://mail.163.com/large-attachment-download/index.html?p=X-NETEASE-HUGE-ATTACHMENT&file=qCPD&title=%E5%BD%B1%E5%83%8F.mp4\n";

/// Five units, one in each state a coordinator meets: complete, table to correct (a 其中：
/// row wrong), a video sent as a link (待审核), nothing sent (no address: phone), exempt; and one
/// that sent only its report.
async fn campaign(pool: PgPool, coordinator: Option<&str>) -> (Env, Vec<String>) {
    let addr: Vec<String> = ["police", "edu", "archives", "health"]
        .iter()
        .map(|n| test_address(n))
        .collect();
    let mut extra = smtp_env();
    if let Some(c) = coordinator {
        extra.push(("REPORTBOX_CAMPAIGN__COORDINATORS".into(), c.to_string()));
    }
    let env = env_with_roster(
        pool,
        &[
            ("police", "市公安局", "", &addr[0]),
            ("edu", "市教育局", "", &addr[1]),
            ("archives", "市档案馆", "", &addr[2]),
            ("health", "市卫健委", "", &addr[3]),
            ("daily", "太原日报社", "", ""),
            ("exempt", "市气象局", "", ""),
        ],
        &extra,
    )
    .await;
    let complete = Mail::new(&addr[0], "市公安局报送科技活动周材料")
        .attach("统计表.xlsx", XLSX, table_with_youth("市公安局", 300.0))
        .attach("总结.txt", "text/plain", report_txt())
        .attach("视频.mp4", "video/mp4", mp4(150))
        .build();
    env.process(complete, "complete").await;
    let wrong = Mail::new(&addr[1], "市教育局报送科技活动周材料")
        .attach("统计表.xlsx", XLSX, table_with_youth("市教育局", 12.5))
        .attach("总结.txt", "text/plain", report_txt())
        .attach("视频.mp4", "video/mp4", mp4(150))
        .build();
    env.process(wrong, "wrong").await;
    let mut link = Mail::new(&addr[2], "市档案馆报送科技活动周材料")
        .attach("统计表.xlsx", XLSX, table_with_youth("市档案馆", 300.0))
        .attach("总结.txt", "text/plain", report_txt());
    link.body = LINK_BODY.to_string();
    env.process(link.build(), "link").await;
    let partial = Mail::new(&addr[3], "市卫健委报送科技活动周总结")
        .attach("总结.txt", "text/plain", report_txt())
        .build();
    env.process(partial, "partial").await;
    env.store
        .set_exempt("exempt", Some("机构改革"), &env.settings.campaign_view())
        .await
        .unwrap();
    (env, addr)
}

#[sqlx::test(migrations = "./migrations")]
async fn acknowledgements_say_the_verdict_in_the_subject_and_in_words_a_unit_reads(pool: PgPool) {
    let (env, addr) = campaign(pool, None).await;
    assert_eq!(send(&env).await.sent, 4);
    let subjects: Vec<(String, String)> = [
        (0, "回执：材料已全部合格（市公安局）"),
        (1, "回执：开展情况统计表需更正（市教育局）"),
        (2, "回执：已收到，待审核（市档案馆）"),
        (3, "回执：已收到，尚缺开展情况统计表、影像资料（市卫健委）"),
    ]
    .iter()
    .map(|(i, s)| (addr[*i].clone(), s.to_string()))
    .collect();
    for (address, subject) in &subjects {
        let inbox = imap_wait(address, 1).await;
        let ack = parse(&inbox[0]);
        assert_eq!(&ack.subject, subject);
        let text = &ack.body_text;
        assert!(
            !text.contains("人工"),
            "staff wording reached a unit: {text}"
        );
        assert!(
            !text.contains("其中："),
            "a row heading inside a sentence: {text}"
        );
    }
    let edu = parse(&imap_wait(&addr[1], 1).await[0]).body_text;
    assert!(
        edu.contains("青少年参与人数（工作表"),
        "the label without 其中： in the sentence:\n{edu}"
    );
    let archives = parse(&imap_wait(&addr[2], 1).await[0]).body_text;
    artefact("回执-待审核.txt", archives.as_bytes());
    artefact("回执-需更正.txt", edu.as_bytes());
    assert!(
        archives.contains("将由工作人员下载查看") && archives.contains("贵单位无需再做什么"),
        "{archives}"
    );
}

#[sqlx::test(migrations = "./migrations")]
async fn message_ids_are_unique_per_database_stable_per_row_and_replies_are_still_recognised(
    pool: PgPool,
) {
    let unit = test_address("thread");
    let env = env_with_roster(pool, &[("x", "市公安局", "", &unit)], &smtp_env()).await;
    let mut mail = Mail::new(&unit, "Re: 市公安局报送材料").header(
        "References: <first@test.example> <second@test.example>\r\nIn-Reply-To: <second@test.example>",
    );
    mail.message_id = Some("<third@test.example>".into());
    env.process(mail.build(), "reply").await;
    let row = env.store.outbox(Some("ack")).await.unwrap().remove(0);
    let mailer = Mailer::new(&env.settings).unwrap();
    // A retry of the same row (after a crash between the server's 250 and the commit) carries
    // the same Message-ID, so the two copies fold into one.
    let id = |m: lettre::Message| header(&m.formatted(), "Message-ID").unwrap();
    let first = id(mailer.build(&row, vec![]).unwrap());
    assert_eq!(first, id(mailer.build(&row, vec![]).unwrap()));
    let token = reportbox::store::message_token(row.id, row.created_at);
    assert_eq!(token.len(), 16);
    let domain = env.settings.campaign.mailbox.split('@').nth(1).unwrap();
    assert_eq!(
        first,
        format!("<reportbox.ack.{}.{token}@{domain}>", row.id)
    );

    assert_eq!(send(&env).await.sent, 1);
    let raw = imap_wait(&unit, 1).await.remove(0);
    assert_eq!(header(&raw, "Message-ID").as_deref(), Some(first.as_str()));
    assert_eq!(
        header(&raw, "References").as_deref(),
        Some("<first@test.example> <second@test.example> <third@test.example>")
    );
    assert_eq!(
        header(&raw, "In-Reply-To").as_deref(),
        Some("<third@test.example>")
    );
    let date = header(&raw, "Date").unwrap();
    assert!(
        date.ends_with("+0800"),
        "Date in the campaign's zone: {date}"
    );

    // Replies: our id with its token; the form before tokens; not a foreign token or kind.
    let answers = |r: &str| {
        let store = &env.store;
        let r = vec![r.to_string()];
        async move { store.answers_our_email(&r).await.unwrap() }
    };
    assert!(answers(&first).await);
    assert!(answers(&format!("<reportbox.ack.{}@163.com>", row.id)).await);
    assert!(
        !answers(&format!(
            "<reportbox.ack.{}.0000000000000000@163.com>",
            row.id
        ))
        .await
    );
    assert!(!answers(&format!("<reportbox.report.{}.{token}@163.com>", row.id)).await);
    assert!(!answers("<reportbox.ack.999999@163.com>").await);
    assert!(!answers("<someone@else.example>").await);
}

/// The attachment part of `raw` whose body is `bytes`: its header lines, unfolded.
fn attachment_headers(raw: &[u8]) -> String {
    let text = String::from_utf8_lossy(raw);
    let at = text.find("Content-Disposition: attachment").unwrap();
    let start = text[..at].rfind("\r\n\r\n").map_or(0, |i| i + 4);
    let end = at + text[at..].find("\r\n\r\n").unwrap();
    text[start..end].to_string()
}

#[sqlx::test(migrations = "./migrations")]
async fn the_daily_email_leads_with_progress_and_lists_what_to_act_on(pool: PgPool) {
    let coordinator = test_address("coordinator");
    let (env, _) = campaign(pool, Some(&coordinator)).await;
    send(&env).await; // the four acknowledgements
    let tick = notify::schedule_tick(&env.settings, &env.store, at("2023-06-08T08:45:00+08:00"))
        .await
        .unwrap();
    assert_eq!(tick.report.as_deref(), Some("report:2023-06-08"));
    send(&env).await;
    let raw = imap_wait(&coordinator, 1).await.remove(0);
    let report = parse(&raw);
    let text = &report.body_text;
    let parsed_html = mail_parser::MessageParser::default().parse(&raw).unwrap();
    let html = parsed_html.body_html(0).unwrap_or_default().to_string();
    let html = html.as_str();
    artefact("日报.html", html.as_bytes());
    artefact("日报.txt", text.as_bytes());

    // Progress first: 1 of the 5 units that must report (one is exempt).
    let first = text.lines().find(|l| !l.trim().is_empty()).unwrap();
    assert_eq!(
        first,
        "2023年太原市科技活动周报送进度：已完成 1/5（20%），另有 1 个单位免报"
    );
    // The lists in the order a person acts on them, then the full table, then the rest.
    let pos = |s: &str| {
        text.find(s)
            .unwrap_or_else(|| panic!("{s} missing:\n{text}"))
    };
    let order = [
        "一、待您审核",
        "二、单位来信",
        "三、未报送",
        "四、需更正",
        "五、各单位报送情况",
        "六、未能确认报送单位的邮件",
        "八、未计入的邮件",
    ];
    for w in order.windows(2) {
        assert!(pos(w[0]) < pos(w[1]), "{} before {}:\n{text}", w[0], w[1]);
    }
    let section = |from: &str, to: &str| text[pos(from)..pos(to)].to_string();
    let review = section("一、待您审核", "三、未报送");
    for want in [
        "市档案馆：影像资料",
        "联系人 张三，电话 0351-1234567",
        "下载链接：https://mail.163.com/large-attachment-download/",
        "文件名：市档案馆科技活动周影像资料.mp4",
        "大小：486.2M",
        "有效期：2023年6月23日 15:40",
    ] {
        assert!(review.contains(want), "{want}:\n{review}");
    }
    let missing = section("三、未报送", "四、需更正");
    assert!(
        missing.contains("太原日报社：联系人 张三，电话 0351-1234567（名单中无邮箱，请电话联系）"),
        "{missing}"
    );
    assert!(
        !missing.contains("市气象局"),
        "exempt is not missing:\n{missing}"
    );
    let fix = section("四、需更正", "五、各单位报送情况");
    assert!(
        fix.contains("市教育局：联系人 张三，电话 0351-1234567"),
        "{fix}"
    );
    assert!(fix.contains("青少年参与人数"), "{fix}");
    assert!(
        fix.contains("市卫健委") && fix.contains("尚缺：开展情况统计表、影像资料"),
        "{fix}"
    );
    assert!(!fix.contains("提示"), "hints are not errors:\n{fix}");
    // The full table, sorted by state: 待审核 first, 免报 last.
    let table = section("五、各单位报送情况", "六、未能确认报送单位的邮件");
    let row = |name: &str| table.find(&format!("· {name}【")).unwrap();
    assert!(row("市档案馆") < row("太原日报社"));
    assert!(row("太原日报社") < row("市教育局"));
    assert!(row("市教育局") < row("市公安局"));
    assert!(row("市公安局") < row("市气象局"));
    // Coloured states in HTML; no command lines anywhere.
    assert!(html.contains("已完成 1/5（20%）"), "{html}");
    assert!(
        html.contains("background:#fde2e0") && html.contains(">未报送</span>"),
        "{html}"
    );
    assert!(
        html.contains("<a href=\"https://mail.163.com/large-attachment-download/index.html?p=X-NETEASE-HUGE-ATTACHMENT&amp;file=qCPD"),
        "the link is clickable: {html}"
    );
    for body in [text.as_str(), html] {
        assert!(!body.contains("reportbox "), "a command line:\n{body}");
        assert!(!body.contains("<单位编号>"), "{body}");
    }
    // The workbook is attached under a name every client shows: RFC 2231 and RFC 2047 both.
    let xlsx = report.files.iter().find(|f| f.name == "汇总表.xlsx");
    assert!(
        xlsx.is_some(),
        "{:?}",
        report.files.iter().map(|f| &f.name).collect::<Vec<_>>()
    );
    let part = attachment_headers(&raw);
    assert!(
        part.contains("filename*0*=utf-8''%E6%B1%87%E6%80%BB"),
        "{part}"
    );
    assert!(
        part.contains("filename=\"=?utf-8?B?5rGH5oC76KGoLnhsc3g=?=\""),
        "{part}"
    );
    assert!(
        part.contains("name=\"=?utf-8?B?5rGH5oC76KGoLnhsc3g=?=\""),
        "{part}"
    );
    // A reader that only knows RFC 2047 (the RFC 2231 parameter removed) still gets the name.
    let text_raw = String::from_utf8_lossy(&raw).to_string();
    let only_2047 = text_raw.replace("filename*0*=utf-8''", "x-ignored=");
    let old = parse(only_2047.as_bytes());
    assert!(old.files.iter().any(|f| f.name == "汇总表.xlsx"));
}

/// A PNG's width, height and RGBA pixels (8-bit RGB or RGBA, not interlaced: what Chromium
/// writes), decoded here so the test needs no image library.
fn decode_png(png: &[u8]) -> (u32, u32, Vec<[u8; 4]>) {
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "not a PNG");
    let (mut width, mut height, mut channels) = (0u32, 0u32, 0usize);
    let mut idat = Vec::new();
    let mut at = 8;
    while at + 8 <= png.len() {
        let len = u32::from_be_bytes(png[at..at + 4].try_into().unwrap()) as usize;
        let kind = &png[at + 4..at + 8];
        let data = &png[at + 8..at + 8 + len];
        match kind {
            b"IHDR" => {
                width = u32::from_be_bytes(data[0..4].try_into().unwrap());
                height = u32::from_be_bytes(data[4..8].try_into().unwrap());
                assert_eq!((data[8], data[12]), (8, 0), "8-bit, not interlaced");
                channels = match data[9] {
                    2 => 3,
                    6 => 4,
                    other => panic!("colour type {other}"),
                };
            }
            b"IDAT" => idat.extend_from_slice(data),
            _ => {}
        }
        at += 12 + len;
    }
    let mut raw = Vec::new();
    std::io::Read::read_to_end(&mut flate2::read::ZlibDecoder::new(&idat[..]), &mut raw).unwrap();
    let stride = width as usize * channels;
    let mut prev = vec![0u8; stride];
    let mut pixels = Vec::with_capacity(width as usize * height as usize);
    for row in raw.chunks(stride + 1).take(height as usize) {
        let (filter, line) = (row[0], &row[1..]);
        let mut cur = vec![0u8; stride];
        for i in 0..stride {
            let a = if i >= channels { cur[i - channels] } else { 0 };
            let b = prev[i];
            let c = if i >= channels { prev[i - channels] } else { 0 };
            let predicted = match filter {
                0 => 0,
                1 => a,
                2 => b,
                3 => ((u16::from(a) + u16::from(b)) / 2) as u8,
                4 => {
                    let p = i16::from(a) + i16::from(b) - i16::from(c);
                    let (pa, pb, pc) = (
                        (p - i16::from(a)).abs(),
                        (p - i16::from(b)).abs(),
                        (p - i16::from(c)).abs(),
                    );
                    if pa <= pb && pa <= pc {
                        a
                    } else if pb <= pc {
                        b
                    } else {
                        c
                    }
                }
                other => panic!("PNG filter {other}"),
            };
            cur[i] = line[i].wrapping_add(predicted);
        }
        for px in cur.chunks(channels) {
            pixels.push([px[0], px[1], px[2], if channels == 4 { px[3] } else { 255 }]);
        }
        prev = cur;
    }
    (width, height, pixels)
}

/// The daily email as a mail client shows it: its HTML rendered by headless Chromium
/// (installed by deploy/testenv/up.sh) to `target/desk-artefacts/日报.png` for a person to look
/// at, and the picture checked to be the page (its size, the state colours, text in many
/// shades), not an empty or error screen.
#[sqlx::test(migrations = "./migrations")]
async fn the_daily_email_renders_in_chromium_with_progress_lists_and_no_command_line(pool: PgPool) {
    let coordinator = test_address("render");
    let (env, _) = campaign(pool, Some(&coordinator)).await;
    send(&env).await; // the four acknowledgements
    notify::schedule_tick(&env.settings, &env.store, at("2023-06-08T08:45:00+08:00"))
        .await
        .unwrap();
    send(&env).await;
    let raw = imap_wait(&coordinator, 1).await.remove(0);
    let email = mail_parser::MessageParser::default().parse(&raw).unwrap();
    let html = email.body_html(0).unwrap().to_string();
    let text = email.body_text(0).unwrap().to_string();
    for (part, body) in [("HTML", &html), ("text", &text)] {
        assert!(
            body.contains("已完成 1/5（20%）"),
            "{part}: progress\n{body}"
        );
        for list in ["待您审核", "未报送", "需更正"] {
            assert!(body.contains(list), "{part}: {list}\n{body}");
        }
        assert!(
            body.contains("市档案馆") && body.contains("太原日报社"),
            "{part}"
        );
        assert!(
            !body.contains("reportbox "),
            "{part}: a command line\n{body}"
        );
    }

    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("日报.html");
    std::fs::write(&page, &html).unwrap();
    let png_path = common::repo().join("target/desk-artefacts/日报.png");
    std::fs::create_dir_all(png_path.parent().unwrap()).unwrap();
    let _ = std::fs::remove_file(&png_path);
    let (width, height) = (900u32, 2400u32);
    let mut chromium = tokio::process::Command::new("chromium");
    // Root in a container has no sandbox; its own profile keeps it apart from any other run.
    chromium
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
        ])
        .arg(format!(
            "--user-data-dir={}",
            dir.path().join("profile").display()
        ))
        .arg(format!("--window-size={width},{height}"))
        .arg(format!("--screenshot={}", png_path.display()))
        .arg(format!("file://{}", page.display()))
        .kill_on_drop(true);
    let out = tokio::time::timeout(std::time::Duration::from_secs(120), chromium.output())
        .await
        .expect("Chromium finishes within 2 minutes")
        .expect("chromium is installed by deploy/testenv/up.sh");
    let png = std::fs::read(&png_path).unwrap_or_else(|e| {
        panic!(
            "no screenshot ({e}): {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    let (w, h, pixels) = decode_png(&png);
    assert_eq!((w, h), (width, height));
    let colours: std::collections::HashSet<[u8; 4]> = pixels.iter().copied().collect();
    assert!(
        colours.len() > 100,
        "text in many shades: {} colours",
        colours.len()
    );
    let inked = pixels.iter().filter(|p| p[..3] != [255, 255, 255]).count();
    assert!(
        inked * 100 > pixels.len(),
        "more than 1% of the page is not blank: {inked} of {}",
        pixels.len()
    );
    // The coloured states the HTML gives, as painted: 未报送, 待审核, 已完成, 未完成, 免报.
    for (state, rgb) in [
        ("未报送", [0xfd, 0xe2, 0xe0]),
        ("待审核", [0xff, 0xf1, 0xcc]),
        ("已完成", [0xe3, 0xf4, 0xe8]),
        ("未完成", [0xff, 0xe3, 0xd1]),
        ("免报", [0xee, 0xee, 0xee]),
    ] {
        assert!(
            pixels.iter().any(|p| p[..3] == rgb),
            "{state}'s colour is not on the page"
        );
    }
}

#[sqlx::test(migrations = "./migrations")]
async fn a_long_chinese_attachment_name_survives_both_encodings(pool: PgPool) {
    // The blank table a reminder carries has a name longer than one encoded word.
    let owing = test_address("owing");
    let env = env_with_roster(pool, &[("owing", "市教育局", "", &owing)], &smtp_env()).await;
    notify::schedule_tick(&env.settings, &env.store, at("2023-06-07T09:30:00+08:00"))
        .await
        .unwrap();
    assert_eq!(send(&env).await.sent, 1);
    let raw = imap_wait(&owing, 1).await.remove(0);
    let name = "2023年太原市科技活动周开展情况统计表（空白）.xlsx";
    assert_eq!(parse(&raw).files[0].name, name);
    let part = attachment_headers(&raw);
    assert!(part.contains("filename*1*="), "continued RFC 2231: {part}");
    let text_raw = String::from_utf8_lossy(&raw).to_string();
    let mut only_2047 = text_raw.clone();
    for i in 0..10 {
        only_2047 = only_2047.replace(&format!("filename*{i}*="), &format!("x-ignored{i}="));
    }
    let parsed = mail_parser::MessageParser::default()
        .parse(only_2047.as_bytes())
        .unwrap();
    let names: Vec<String> = parsed
        .attachments()
        .filter_map(|a| a.attachment_name().map(str::to_string))
        .collect();
    assert_eq!(names, vec![name.to_string()], "{part}");
}

/// The workbook of the daily report at `now`.
async fn workbook(env: &Env) -> Vec<u8> {
    let email = notify::compose_report(
        &env.settings,
        &env.store,
        "2023-06-08",
        at("2023-06-08T08:45:00+08:00"),
    )
    .await
    .unwrap();
    env.store
        .objects
        .get(&email.attachments[0].sha256)
        .await
        .unwrap()
}

#[sqlx::test(migrations = "./migrations")]
async fn the_workbook_has_every_unit_marked_and_totals_saying_how_many_they_cover(pool: PgPool) {
    use calamine::{Data, DataType, Reader, Xlsx};
    let (env, _) = campaign(pool, None).await;
    let bytes = workbook(&env).await;
    let mut book = Xlsx::new(std::io::Cursor::new(bytes)).unwrap();
    let sheet = book.worksheet_range("汇总表").unwrap();
    let rows: Vec<Vec<String>> = sheet
        .rows()
        .map(|r| r.iter().map(|c| c.to_string()).collect())
        .collect();
    assert!(
        rows[0][0]
            .starts_with("2023年太原市科技活动周开展情况统计汇总表（截至2023年6月8日 08:45）"),
        "{:?}",
        rows[0]
    );
    let header = &rows[1];
    assert_eq!(&header[..3], ["序号", "单位", "状态"]);
    assert!(
        header.contains(&"参与公众人数（人次）".to_string()),
        "{header:?}"
    );
    let col = header
        .iter()
        .position(|h| h == "参与公众人数（人次）")
        .unwrap();
    let row_of = |name: &str| {
        rows.iter()
            .find(|r| r[1] == name)
            .unwrap_or_else(|| panic!("{name} has no row"))
    };
    assert_eq!(row_of("市公安局")[2], "已完成");
    assert_eq!(row_of("市公安局")[col], "1200");
    assert_eq!(row_of("市档案馆")[col], "1200", "its table is valid");
    assert_eq!(row_of("市教育局")[col], "不合格");
    assert_eq!(row_of("市卫健委")[col], "未报送");
    assert_eq!(row_of("太原日报社")[col], "未报送");
    assert_eq!(row_of("市气象局")[col], "免报");
    let total = row_of("合计（2 个单位）");
    let cell = sheet
        .get((rows.iter().position(|r| r == total).unwrap(), col))
        .unwrap();
    assert_eq!(cell.get_float(), Some(2400.0));
    assert!(matches!(cell, Data::Float(_)));

    let status = book.worksheet_range("报送情况").unwrap();
    let srows: Vec<Vec<String>> = status
        .rows()
        .map(|r| r.iter().map(|c| c.to_string()).collect())
        .collect();
    let h = &srows[1];
    for want in ["单位", "状态", "联系人", "电话", "最近报送", "问题"] {
        assert!(h.contains(&want.to_string()), "{want}: {h:?}");
    }
    let c = |name: &str| h.iter().position(|x| x == name).unwrap();
    let edu = srows.iter().find(|r| r[1] == "市教育局").unwrap();
    assert_eq!(edu[c("状态")], "未完成");
    assert_eq!(edu[c("联系人")], "张三");
    assert_eq!(edu[c("电话")], "0351-1234567");
    assert_eq!(edu[c("最近报送")], "2023年6月5日 10:00");
    assert!(edu[c("问题")].contains("青少年参与人数"), "{edu:?}");
    assert_eq!(srows.len(), 2 + 6, "title, header, six units");
}

#[sqlx::test(migrations = "./migrations")]
async fn the_workbook_prints_landscape_one_page_wide_with_every_unit(pool: PgPool) {
    let (env, _) = campaign(pool, None).await;
    let bytes = workbook(&env).await;
    let dir = tempfile::tempdir().unwrap();
    let xlsx = dir.path().join("汇总表.xlsx");
    std::fs::write(&xlsx, bytes).unwrap();
    // Its own profile: a LibreOffice the developer has open must not take the conversion over.
    let profile = format!(
        "-env:UserInstallation=file://{}/profile",
        dir.path().display()
    );
    let out = std::process::Command::new("soffice")
        .args([
            &profile,
            "--headless",
            "--convert-to",
            "pdf",
            "--outdir",
            &dir.path().display().to_string(),
            &xlsx.display().to_string(),
        ])
        .output()
        .expect("LibreOffice (soffice) is installed by deploy/testenv/up.sh");
    let pdf = dir.path().join("汇总表.pdf");
    assert!(
        pdf.exists(),
        "no PDF: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    artefact("汇总表.pdf", &std::fs::read(&pdf).unwrap());
    let info = std::process::Command::new("pdfinfo")
        .arg(&pdf)
        .output()
        .unwrap();
    let info = String::from_utf8_lossy(&info.stdout).to_string();
    // Both sheets, each one page here (six units), A4 landscape.
    assert!(info.contains("Pages:           2"), "{info}");
    assert!(info.contains("841.89 x 595.3"), "landscape A4: {info}");
    let text = std::process::Command::new("pdftotext")
        .args(["-layout", &pdf.display().to_string(), "-"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&text.stdout).to_string();
    let pages: Vec<&str> = text.split('\u{c}').collect();
    let first = pages[0];
    assert!(
        first.contains("2023年太原市科技活动周开展情况统计汇总表"),
        "{first}"
    );
    for unit in [
        "市公安局",
        "市教育局",
        "市档案馆",
        "市卫健委",
        "太原日报社",
        "市气象局",
    ] {
        assert!(first.contains(unit), "{unit} not printed:\n{first}");
        assert!(
            pages[1].contains(unit),
            "{unit} not on the status page:\n{}",
            pages[1]
        );
    }
    assert!(first.contains("合计（2 个单位）"), "{first}");
    // One page wide: the last indicator column is on the first page, not cut to another.
    assert!(first.contains("重点示范活动"), "{first}");
    assert!(
        first.contains("未报送") && first.contains("免报"),
        "{first}"
    );
}
