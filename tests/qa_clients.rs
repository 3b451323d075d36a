//! Mail exactly as the units' clients write it — Apple Mail on the iPhone and the Mac, Outlook
//! 2016 in Chinese (and its reply to our own acknowledgement), QQ Mail web with a 超大附件
//! link in the html only, Foxmail/WPS with GB18030 words, the 163 mobile app with a GBK body,
//! forwards of every shape — and the file names real desktops add (`~$` lock files, `Thumbs.db`,
//! `__MACOSX/._*`, `.DS_Store`, `统计表.xlsx.xlsx`). Each case is judged by what the contract
//! says the status must be (§2, §3, §7, §8, §9) and by the acknowledgement the unit reads.

mod common;

use base64::Engine;
use common::{
    activity_list, b64, codes, disposition, env, fixture, mp4, report_txt, unit, zip_of, Env, Mail,
    XLSX,
};
use reportbox::store::Saved;
use sqlx::PgPool;

// ---------- files ----------

fn table(unit: &str) -> Vec<u8> {
    common::table(unit, "2023")
}

fn docx() -> Vec<u8> {
    fixture("report/report.docx")
}

/// A QuickTime movie as the iPhone records it (`ftypqt  `, ffmpeg-made, 3 s).
fn mov() -> Vec<u8> {
    fixture("video/tiny3s.mov")
}

/// What Word/Excel/WPS leave next to an open document: 162 bytes, the user's name in ASCII
/// (length-prefixed, space-padded), then again in UTF-16.
fn office_lock_file() -> Vec<u8> {
    let mut v = vec![5u8];
    v.extend_from_slice(b"admin");
    v.resize(55, b' ');
    v.extend_from_slice(&[5, 0]);
    for c in "admin".encode_utf16() {
        v.extend_from_slice(&c.to_le_bytes());
    }
    v.resize(162, 0);
    v
}

/// `Thumbs.db`: an OLE compound file holding thumbnails, no Workbook or WordDocument stream.
fn thumbs_db() -> Vec<u8> {
    let mut v = vec![0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1];
    v.resize(1536, 0);
    v
}

/// The AppleDouble file macOS's Archive Utility puts under `__MACOSX/` for every file.
fn apple_double() -> Vec<u8> {
    let mut v = vec![0x00, 0x05, 0x16, 0x07, 0x00, 0x02, 0x00, 0x00];
    v.extend_from_slice(b"Mac OS X        ");
    v.extend_from_slice(&[0, 2, 0, 0, 0, 9, 0, 0, 0, 0x32, 0, 0, 0x0E, 0xB0]);
    v.resize(4096, 0);
    v
}

fn ds_store() -> Vec<u8> {
    let mut v = vec![0, 0, 0, 1];
    v.extend_from_slice(b"Bud1");
    v.resize(6148, 0);
    v
}

/// A zip as Windows tools (WinRAR, 360压缩, Bandizip in its default) write it: GBK names, no
/// UTF-8 flag.
fn gbk_zip_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
    // Build with placeholder ASCII names of the same byte length, then patch the GBK bytes in.
    let mut names = Vec::new();
    let mut placeholders = Vec::new();
    for (i, (name, _)) in entries.iter().enumerate() {
        let (gbk, _, _) = encoding_rs::GB18030.encode(name);
        let mut ph = format!("{i:02}");
        ph.push_str(&"x".repeat(gbk.len() - 2));
        names.push(gbk.into_owned());
        placeholders.push(ph);
    }
    let with_ph: Vec<(&str, &[u8])> = placeholders
        .iter()
        .zip(entries)
        .map(|(p, (_, b))| (p.as_str(), *b))
        .collect();
    let mut bytes = zip_of(&with_ph);
    for (ph, gbk) in placeholders.iter().zip(&names) {
        let ph = ph.as_bytes();
        let mut at = 0;
        while let Some(p) = bytes[at..].windows(ph.len()).position(|w| w == ph) {
            bytes[at + p..at + p + ph.len()].copy_from_slice(gbk);
            at += p + ph.len();
        }
    }
    bytes
}

// ---------- encodings as clients write them ----------

/// One RFC 2047 B word; GB labels are written with GB18030 bytes (GBK's superset).
fn word(label: &str, s: &str) -> String {
    let bytes = if label.to_ascii_lowercase().starts_with("gb") {
        encoding_rs::GB18030.encode(s).0.into_owned()
    } else {
        s.as_bytes().to_vec()
    };
    format!(
        "=?{label}?B?{}?=",
        base64::engine::general_purpose::STANDARD.encode(bytes)
    )
}

/// UTF-8 Q words of at most `chars` characters each, folded one per line as Apple Mail writes a
/// long subject.
fn q_words(s: &str, chars: usize) -> String {
    let chars_v: Vec<char> = s.chars().collect();
    chars_v
        .chunks(chars)
        .map(|c| {
            let mut w = String::from("=?utf-8?Q?");
            for ch in c {
                let mut buf = [0u8; 4];
                for b in ch.encode_utf8(&mut buf).bytes() {
                    if b.is_ascii_alphanumeric() {
                        w.push(b as char);
                    } else if b == b' ' {
                        w.push('_');
                    } else {
                        w.push_str(&format!("={b:02X}"));
                    }
                }
            }
            w.push_str("?=");
            w
        })
        .collect::<Vec<_>>()
        .join("\n ")
}

/// RFC 2231 value `utf-8''%E9%99%84…`.
fn pct(s: &str) -> String {
    let mut out = String::from("utf-8''");
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A message whose lines are written with `\n`; every line ending becomes CRLF.
fn crlf(s: &str) -> Vec<u8> {
    s.replace("\r\n", "\n").replace('\n', "\r\n").into_bytes()
}

const JUNE_5: &str = "Mon, 5 Jun 2023 10:00:00 +0800";

// ---------- reading the outcome ----------

fn message_row(o: &reportbox::pipeline::Outcome) -> i64 {
    match &o.saved {
        Saved::Recorded { id, .. } => *id,
        other => panic!("not recorded: {other:?}"),
    }
}

/// (name, item, state) of every file stored for one message.
async fn files_of(env: &Env, message: i64) -> Vec<(String, String, String)> {
    sqlx::query_as("SELECT name, item, state FROM files WHERE message_id = $1 ORDER BY ordinal")
        .bind(message)
        .fetch_all(&env.store.pool)
        .await
        .unwrap()
}

/// (subject, text body) of the acknowledgement queued for one message.
async fn ack_of(env: &Env, message: i64) -> (String, String) {
    sqlx::query_as("SELECT subject, body_text FROM outbox WHERE kind = 'ack' AND message_id = $1")
        .bind(message)
        .fetch_one(&env.store.pool)
        .await
        .unwrap()
}

async fn match_rule(env: &Env, message: i64) -> Option<String> {
    sqlx::query_scalar("SELECT match_rule FROM messages WHERE id = $1")
        .bind(message)
        .fetch_one(&env.store.pool)
        .await
        .unwrap()
}

async fn learned(env: &Env) -> Vec<(String, String)> {
    sqlx::query_as("SELECT address, unit_id FROM learned_addresses ORDER BY address")
        .fetch_all(&env.store.pool)
        .await
        .unwrap()
}

// ---------- Apple Mail ----------

/// iPhone Mail from a private iCloud address: the unit is only in the table. Attachments are
/// `inline` with the name only in `filename*=utf-8''…` (no `name=`), plain text parts sit
/// between them, the subject is Q-encoded over several words, and the video is the camera's
/// `IMG_0042.MOV` (QuickTime).
#[sqlx::test(migrations = "./migrations")]
async fn iphone_mail_inline_parts_named_only_by_rfc2231_and_a_quicktime_mov_are_complete(
    pool: PgPool,
) {
    let env = env(pool).await;
    let table_name = "附件2：2023年科技活动周开展情况统计表（城乡管理局）.xlsx";
    let report_name = "城管局科技活动周总结.txt";
    let b = "Apple-Mail-8F0C3C7E-1A2B-4C5D-9E8F-0123456789AB";
    let raw = format!(
        "Received: from smtpclient.apple (unknown [111.53.12.7])\n\tby mx.test with ESMTPSA; {JUNE_5}\n\
Content-Type: multipart/mixed; boundary={b}\n\
Content-Transfer-Encoding: 7bit\n\
From: {from} <zhangwei_ty@icloud.com>\n\
Mime-Version: 1.0 (1.0)\n\
Date: Mon, 5 Jun 2023 09:58:31 +0800\n\
Subject: {subject}\n\
Message-Id: <2B5F1C0E-7A41-4E0B-8C7D-3F2A9B6E1D04@icloud.com>\n\
To: w251342595@163.com\n\
X-Mailer: iPhone Mail (20F66)\n\
\n\
\n\
--{b}\n\
Content-Type: text/plain;\n\tcharset=utf-8\n\
Content-Transfer-Encoding: quoted-printable\n\
\n\
=E9=99=84=E4=BB=B6=E8=AF=B7=E6=9F=A5=E6=94=B6=E3=80=82\n\
\n\
--{b}\n\
Content-Type: application/vnd.openxmlformats-officedocument.spreadsheetml.sheet\n\
Content-Disposition: inline;\n\tfilename*={tname}\n\
Content-Transfer-Encoding: base64\n\
\n\
{table}\
--{b}\n\
Content-Type: text/plain;\n\tcharset=us-ascii\n\
Content-Transfer-Encoding: 7bit\n\
\n\
\n\
\n\
--{b}\n\
Content-Type: text/plain;\n\tcharset=utf-8;\n\tx-unix-mode=0644\n\
Content-Disposition: inline;\n\tfilename*={rname}\n\
Content-Transfer-Encoding: base64\n\
\n\
{report}\
--{b}\n\
Content-Type: video/quicktime\n\
Content-Disposition: inline;\n\tfilename=IMG_0042.MOV\n\
Content-Transfer-Encoding: base64\n\
\n\
{video}\
--{b}\n\
Content-Type: text/plain;\n\tcharset=utf-8\n\
Content-Transfer-Encoding: quoted-printable\n\
\n\
\n\
=E5=8F=91=E8=87=AA=E6=88=91=E7=9A=84iPhone\n\
--{b}--\n",
        from = q_words("张伟", 8),
        subject = q_words("城乡管理局 科技活动周材料（统计表、总结、视频）", 5),
        tname = pct(table_name),
        rname = pct(report_name),
        table = b64(&table("太原市城乡管理局")),
        report = b64(&report_txt()),
        video = b64(&mov()),
    );
    let o = env.process(crlf(&raw), "iphone").await;
    assert!(o.ack_due);
    assert_eq!(disposition(&o).1.as_deref(), Some("city-urban"));
    let id = message_row(&o);
    // The table names the unit; the subject's `城乡管理局` would too, but rule 2 comes first.
    assert_eq!(match_rule(&env, id).await.as_deref(), Some("table"));
    let status = env.status_json().await;
    let u = unit(&status, "city-urban");
    assert_eq!(u["status"], "complete", "{u:#}");
    assert_eq!(u["items"]["statistics_table"]["file"], table_name);
    assert_eq!(u["items"]["summary_report"]["file"], report_name);
    assert_eq!(u["items"]["video"]["file"], "IMG_0042.MOV");
    // The private address is learned for the next message (contract §2).
    assert_eq!(
        learned(&env).await,
        vec![(
            "zhangwei_ty@icloud.com".to_string(),
            "city-urban".to_string()
        )]
    );
    let (subject, body) = ack_of(&env, id).await;
    assert!(subject.contains("市城乡管理局"), "{subject}");
    assert!(body.contains("报送完成"), "{body}");
}

// ---------- Outlook 2016, Chinese ----------

/// Outlook 2016 (Chinese): gb2312 B words, the table's name only in Content-Type `name=`, the
/// body as multipart/alternative inside multipart/mixed, Thread-Topic and Thread-Index.
fn outlook_message(
    subject: &str,
    extra: &str,
    date: &str,
    text: &str,
    files: &[(&str, &str, String, &[u8])],
) -> Vec<u8> {
    let outer = "----=_NextPart_000_0001_01D99770.A1B2C3D4";
    let alt = "----=_NextPart_001_0002_01D99770.A1B2C3D4";
    let (gbk_text, _, _) = encoding_rs::GB18030.encode(text);
    let html = format!(
        "<html xmlns:o=\"urn:schemas-microsoft-com:office:office\"><head><meta http-equiv=Content-Type content=\"text/html; charset=gb2312\"></head><body lang=ZH-CN><div class=WordSection1><p class=MsoNormal>{}</p></div></body></html>",
        text.replace('\n', "<br>")
    );
    let (gbk_html, _, _) = encoding_rs::GB18030.encode(&html);
    let mut m = format!(
        "Received: from DESKTOP-7K3J2QF (unknown [218.26.54.3])\n\tby mx.test (Coremail) with SMTP id _____wD3bw; {date}\n\
From: {from} <2378840916@qq.com>\n\
To: <w251342595@163.com>\n\
{extra}\
Subject: {subject}\n\
Date: {date}\n\
Message-ID: <000001d99770${}$e5f6a7b8$@qq.com>\n\
MIME-Version: 1.0\n\
Content-Type: multipart/mixed;\n\tboundary=\"{outer}\"\n\
X-Mailer: Microsoft Outlook 16.0\n\
Content-Language: zh-cn\n\
Thread-Index: AdmXb2Q3VtK1o3n8Qf2l5c3xY0n6Ag==\n\
\n\
This is a multipart message in MIME format.\n\
\n\
--{outer}\n\
Content-Type: multipart/alternative;\n\tboundary=\"{alt}\"\n\
\n\
\n\
--{alt}\n\
Content-Type: text/plain;\n\tcharset=\"gb2312\"\n\
Content-Transfer-Encoding: base64\n\
\n\
{}\
\n\
--{alt}\n\
Content-Type: text/html;\n\tcharset=\"gb2312\"\n\
Content-Transfer-Encoding: base64\n\
\n\
{}\
\n\
--{alt}--\n\
\n",
        common::uniq().replace('.', ""),
        b64(&gbk_text),
        b64(&gbk_html),
        from = word("gb2312", "市医保局 李娜"),
    );
    for (name, ctype, disposition, bytes) in files {
        m.push_str(&format!(
            "--{outer}\nContent-Type: {ctype};\n\tname=\"{}\"\nContent-Transfer-Encoding: base64\nContent-Disposition: {disposition}\n\n{}\n",
            word("gb2312", name),
            b64(bytes)
        ));
    }
    m.push_str(&format!("--{outer}--\n\n"));
    crlf(&m)
}

/// A unit answers our acknowledgement in Outlook (`答复: 回执：…`, In-Reply-To our ack, the ack
/// quoted below) with the corrected table. It is the unit's submission, not an auto-reply: it
/// counts, supersedes the wrong table and gets its own acknowledgement.
#[sqlx::test(migrations = "./migrations")]
async fn an_outlook_reply_to_our_acknowledgement_with_the_corrected_table_counts(pool: PgPool) {
    let env = env(pool).await;
    let subject = "市医疗保障局报送2023年科技活动周材料";
    let first = outlook_message(
        &word("gb2312", subject),
        &format!("Thread-Topic: {}\n", word("gb2312", subject)),
        JUNE_5,
        "您好：\n附件为我局科技活动周统计表、总结和视频，请查收。\n\n李娜\n太原市医疗保障局",
        &[
            // Last year's form, filled in again: the wrong year.
            (
                "附件2 统计表.xlsx",
                XLSX,
                "attachment".into(),
                &common::table("市医疗保障局", "2022"),
            ),
            (
                "市医疗保障局科技活动周总结.docx",
                "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
                format!(
                    "attachment;\n\tfilename=\"{}\"",
                    word("gb2312", "市医疗保障局科技活动周总结.docx")
                ),
                &docx(),
            ),
            ("医保科普.mp4", "video/mp4", "attachment".into(), &mp4(150)),
        ],
    );
    let o = env.process(first, "outlook first").await;
    assert!(o.ack_due);
    let first_id = message_row(&o);
    let status = env.status_json().await;
    let u = unit(&status, "city-medical-insurance");
    assert_eq!(u["status"], "incomplete", "{u:#}");
    assert_eq!(u["items"]["statistics_table"]["state"], "invalid");
    assert!(codes(&u["items"]["statistics_table"]["problems"]).contains(&"table.wrong_year".into()));
    assert_eq!(u["items"]["summary_report"]["state"], "valid", "{u:#}");
    assert_eq!(
        u["items"]["summary_report"]["file"],
        "市医疗保障局科技活动周总结.docx"
    );
    assert_eq!(u["items"]["video"]["state"], "valid");

    let (ack_subject, ack_body) = ack_of(&env, first_id).await;
    let reply_subject = format!("答复: {ack_subject}");
    let quoted = format!(
        "已按要求更正统计表年份，请查收。\n\n李娜\n\n发件人: w251342595@163.com <w251342595@163.com> \n发送时间: 2023年6月5日 10:01\n收件人: 2378840916@qq.com\n主题: {ack_subject}\n\n{ack_body}"
    );
    let reply = outlook_message(
        &word("gb2312", &reply_subject),
        &format!(
            "Thread-Topic: {}\nIn-Reply-To: <reportbox.ack.1@163.com>\nReferences: <reportbox.ack.1@163.com>\n",
            word("gb2312", &ack_subject)
        ),
        "Mon, 5 Jun 2023 15:20:00 +0800",
        &quoted,
        &[(
            "附件2 统计表（更正）.xlsx",
            XLSX,
            "attachment".into(),
            &table("市医疗保障局"),
        )],
    );
    let o = env.process(reply, "outlook reply").await;
    assert_eq!(
        disposition(&o),
        ("processed".into(), Some("city-medical-insurance".into()))
    );
    assert!(o.ack_due, "a person's reply is acknowledged");
    let status = env.status_json().await;
    let u = unit(&status, "city-medical-insurance");
    assert_eq!(u["status"], "complete", "{u:#}");
    assert_eq!(
        u["items"]["statistics_table"]["file"],
        "附件2 统计表（更正）.xlsx"
    );
    assert!(status["ignored"].as_array().unwrap().is_empty());
    let (_, body) = ack_of(&env, message_row(&o)).await;
    assert!(body.contains("报送完成"), "{body}");
}

// ---------- QQ Mail web ----------

/// QQ Mail web: GB18030 everywhere, `X-QQ-mid`/`X-QQ-SSF`, and the video as a 超大附件 whose
/// block is written in the html alternative only. The link is the video, needing review.
#[sqlx::test(migrations = "./migrations")]
async fn a_qq_mail_big_attachment_written_only_in_the_html_is_the_video_needing_review(
    pool: PgPool,
) {
    let env = env(pool).await;
    let mixed = "----=_NextPart_647D8F30_0B5E6C58_1A2B3C4D";
    let alt = "----=_NextPart_647D8F30_0B5E6C58_5E6F7A8B";
    let url = "https://mail.qq.com/cgi-bin/ftnExs_download?k=2a3b4c5d6e7f0a1b2c3d4e5f1b5e0b5a5c0b0e0f0d5f5a0a1b0e5d0f0a&amp;t=exs_ftn_download&amp;code=7c1e9a2b";
    let html = format!(
        "<meta http-equiv=\"Content-Type\" content=\"text/html; charset=GB18030\"><div>附件为统计表和总结报告，视频较大，已用超大附件发送。</div><div><br></div><div>市公安局科技科</div>\
<div id=\"QQMailBigAttach\" style=\"padding:2px;margin-bottom:15px;background-color:#e8f0f7;\">\
<div style=\"padding:2px 0 6px 4px;\"><b style=\"font-size:14px;\">从QQ邮箱发来的超大附件</b></div>\
<div style=\"background:#fff;padding:4px 8px;\"><div style=\"float:left;\"><a href=\"{url}\" target=\"_blank\"><img src=\"https://rescdn.qqmail.com/zh_CN/images/xdisk/ico_mid/fu_mp4.gif\" border=\"0\"></a></div>\
<div style=\"margin-left:45px;\"><div><a href=\"{url}\" target=\"_blank\" style=\"color:#000;text-decoration:none;\">警营开放日宣传片.mp4</a><span style=\"color:#a0a0a0;\">&nbsp;(486.2M, 2023年6月20日 10:00 到期)</span></div>\
<div><a href=\"{url}\" target=\"_blank\">进入下载页面</a></div></div></div></div>"
    );
    let gb = |s: &str| encoding_rs::GB18030.encode(s).0.into_owned();
    let raw = format!(
        "Received: from xmbg.qq.com (unknown [183.3.255.59]) by mx.test; {JUNE_5}\n\
X-QQ-FEAT: 3+8ZsFJMrqwdhYAQ9Ckq1Y2XZxSbq+zKVXr4Fvn5wfo=\n\
X-QQ-SSF: 00010000000000F0\n\
X-QQ-XMAILINFO: MmyJ3yTMB4Uoc6F8pEKlSd4=\n\
X-QQ-STYLE: \n\
X-QQ-mid: webmail812t1685930400t6412093\n\
From: \"{from}\" <gaj_kx2023@qq.com>\n\
To: \"{to}\" <w251342595@163.com>\n\
Subject: {subject}\n\
Mime-Version: 1.0\n\
Content-Type: multipart/mixed;\n\tboundary=\"{mixed}\"\n\
Content-Transfer-Encoding: 8Bit\n\
Date: {JUNE_5}\n\
X-Priority: 3\n\
Message-ID: <tencent_8C1D5E2F0A3B4C6D7E8F9A0B1C2D3E4F5A06@qq.com>\n\
X-QQ-MIME: TCMime 1.0 by Tencent\n\
X-Mailer: QQMail 2.x\n\
X-QQ-Mailer: QQMail 2.x\n\
\n\
This is a multi-part message in MIME format.\n\
\n\
--{mixed}\n\
Content-Type: multipart/alternative;\n\tboundary=\"{alt}\";\n\
\n\
--{alt}\n\
Content-Type: text/plain;\n\tcharset=\"gb18030\"\n\
Content-Transfer-Encoding: base64\n\
\n\
{plain}\
\n\
--{alt}\n\
Content-Type: text/html;\n\tcharset=\"gb18030\"\n\
Content-Transfer-Encoding: base64\n\
\n\
{html}\
\n\
--{alt}--\n\
\n\
--{mixed}\n\
Content-Type: application/octet-stream;\n\tcharset=\"gb18030\";\n\tname=\"{tname}\"\n\
Content-Disposition: attachment; filename=\"{tname}\"\n\
Content-Transfer-Encoding: base64\n\
\n\
{table}\
\n\
--{mixed}\n\
Content-Type: application/octet-stream;\n\tcharset=\"gb18030\";\n\tname=\"{rname}\"\n\
Content-Disposition: attachment; filename=\"{rname}\"\n\
Content-Transfer-Encoding: base64\n\
\n\
{report}\
\n\
--{mixed}--\n\n",
        from = word("gb18030", "公安局科技科"),
        to = word("gb18030", "科技局国际合作办"),
        subject = word("gb18030", "市公安局科技活动周材料"),
        plain = b64(&gb(
            "附件为统计表和总结报告，视频较大，已用超大附件发送。\n\n市公安局科技科"
        )),
        html = b64(&gb(&html)),
        tname = word("gb18030", "统计表.xlsx"),
        rname = word("gb18030", "总结报告.docx"),
        table = b64(&table("市公安局")),
        report = b64(&docx()),
    );
    let o = env.process(crlf(&raw), "qq").await;
    assert_eq!(
        disposition(&o),
        ("processed".into(), Some("city-police".into()))
    );
    assert!(o.ack_due);
    let status = env.status_json().await;
    let u = unit(&status, "city-police");
    assert_eq!(u["status"], "needs_review", "{u:#}");
    assert_eq!(u["items"]["statistics_table"]["state"], "valid");
    assert_eq!(u["items"]["summary_report"]["state"], "valid");
    let v = &u["items"]["video"];
    assert_eq!(v["state"], "needs_review");
    assert_eq!(v["file"], "警营开放日宣传片.mp4");
    assert_eq!(v["problems"][0]["code"], "video.link_only");
    assert_eq!(v["problems"][0]["severity"], "review");
    let msg = v["problems"][0]["message"].as_str().unwrap();
    assert!(
        msg.contains("486.2M") && msg.contains("2023年6月20日 10:00"),
        "{msg}"
    );
    // One link, however many anchors point at it.
    let files = files_of(&env, message_row(&o)).await;
    assert_eq!(
        files.iter().filter(|f| f.1 == "video").count(),
        1,
        "{files:?}"
    );
}

// ---------- Foxmail / WPS ----------

/// Foxmail 7.2 with GB18030 words (as WPS-integrated installs label them), a table saved as
/// `附件2 统计表(1).xlsx` by the browser's second download, a `统计表.xlsx.xlsx` from Windows
/// hiding extensions, and a video named `.mp4` that is really a QuickTime `.mov`.
#[sqlx::test(migrations = "./migrations")]
async fn foxmail_gb18030_names_with_doubled_extensions_and_a_mov_named_mp4_are_complete(
    pool: PgPool,
) {
    let env = env(pool).await;
    let b = "----=_NextPart_5F1A2B3C_0D4E_4F5A_6B7C_8D9E0F1A2B3C";
    let part = |name: &str, ctype: &str, bytes: &[u8]| {
        format!(
            "--{b}\nContent-Type: {ctype};\n\tname=\"{w}\"\nContent-Transfer-Encoding: base64\nContent-Disposition: attachment;\n\tfilename=\"{w}\"\n\n{}\n",
            b64(bytes),
            w = word("GB18030", name)
        )
    };
    let mut raw = format!(
        "Received: from DESKTOP-GZW01 (unknown [221.204.3.90]) by mx.test; {JUNE_5}\n\
Date: Mon, 5 Jun 2023 09:59:48 +0800\n\
From: \"{from}\" <tygzw_ghc@163.com>\n\
To: \"w251342595\" <w251342595@163.com>\n\
Subject: {subject}\n\
X-Priority: 3\n\
X-Has-Attach: yes\n\
X-Mailer: Foxmail 7.2.25.228[cn]\n\
Mime-Version: 1.0\n\
Message-ID: <202306050959476681234@163.com>\n\
Content-Type: multipart/mixed;\n\tboundary=\"{b}\"\n\
\n\
This is a multi-part message in MIME format.\n\
\n\
--{b}\n\
Content-Type: text/plain;\n\tcharset=\"GB18030\"\n\
Content-Transfer-Encoding: base64\n\
\n\
{body}\n",
        from = word("GB18030", "规划发展处"),
        subject = word("GB18030", "市国资委报送科技活动周材料"),
        body = b64(&encoding_rs::GB18030.encode("附件请查收\n\n规划发展处").0),
    );
    raw.push_str(&part(
        "附件2 统计表(1).xlsx",
        "application/octet-stream",
        &activity_list(),
    ));
    raw.push_str(&part(
        "统计表.xlsx.xlsx",
        "application/octet-stream",
        &table("市国资委"),
    ));
    raw.push_str(&part("总结.docx", "application/octet-stream", &docx()));
    raw.push_str(&part("国企科技活动周纪实.mp4", "video/mp4", &mov()));
    raw.push_str(&format!("--{b}--\n\n"));
    let o = env.process(crlf(&raw), "foxmail").await;
    assert!(o.ack_due);
    let status = env.status_json().await;
    let u = unit(&status, "city-sasac");
    assert_eq!(u["status"], "complete", "{u:#}");
    // The activity list (附件1 saved under 附件2's name) is not the template; the other is.
    assert_eq!(u["items"]["statistics_table"]["file"], "统计表.xlsx.xlsx");
    assert_eq!(u["items"]["video"]["file"], "国企科技活动周纪实.mp4");
    assert_eq!(u["items"]["video"]["problems"], serde_json::json!([]));
}

// ---------- 163 mobile app ----------

/// The 163 mobile app (Coremail): the body is base64 GBK, the video a 超大附件 written in that
/// text; the unit (no roster address) is found by the table, the link's name by the GBK text.
#[sqlx::test(migrations = "./migrations")]
async fn a_163_app_message_with_a_gbk_base64_body_carries_the_video_link(pool: PgPool) {
    let env = env(pool).await;
    let text = "附件是统计表，总结随后补发。\n\n从网易163邮箱发来的超大附件\n\n日报社科技周专题.mp4 (210.5M, 2023年6月20日 9:30 到期)\n下载地址：https://mail.163.com/large-attachment-download/index.html?p=X-NETEASE-HUGE-ATTACHMENT&file=bM1xJ8kP0a9sTqW3zYv\n\n发自网易邮箱大师";
    let b = "----=_Part_143286_1092847122.1685930400123";
    let raw = format!(
        "Received: from tyrb_zbs$163.com ( [117.136.90.12] ) by ajax-webmail-wmsvr42 (Coremail) ; {JUNE_5}\n\
Date: Mon, 5 Jun 2023 10:00:00 +0800 (CST)\n\
From: {from} <tyrb_zbs@163.com>\n\
To: w251342595@163.com\n\
Subject: {subject}\n\
X-Priority: 3\n\
X-Mailer: Coremail Webmail Server Version XT5.0.14 build 20230109(dcb5de15)\n\
 Copyright (c) 2002-2023 www.mailtech.cn 163com\n\
X-NTES-SC: AL_QuyTCv+au0or5SaaZ+kXn0oTju85XMCzvf0n\n\
Content-Type: multipart/mixed;\n\tboundary=\"{b}\"\n\
MIME-Version: 1.0\n\
Message-ID: <4b1d2e3f.5a6b.1888a9c3d4e.Coremail.tyrb_zbs@163.com>\n\
X-Coremail-Locale: zh_CN\n\
\n\
--{b}\n\
Content-Type: text/plain; charset=GBK\n\
Content-Transfer-Encoding: base64\n\
\n\
{body}\
\n\
--{b}\n\
Content-Type: application/vnd.openxmlformats-officedocument.spreadsheetml.sheet;\n\tname=\"{tname}\"\n\
Content-Transfer-Encoding: base64\n\
Content-Disposition: attachment;\n\tfilename=\"{tname}\"\n\
\n\
{table}\
\n\
--{b}--\n",
        from = word("GBK", "太原日报社总编室"),
        subject = word("GBK", "科技活动周统计表"),
        body = b64(&encoding_rs::GB18030.encode(text).0),
        tname = word("GBK", "统计表.xlsx"),
        table = b64(&table("太原日报社")),
    );
    let o = env.process(crlf(&raw), "163 app").await;
    assert_eq!(
        disposition(&o),
        ("processed".into(), Some("city-daily".into()))
    );
    let status = env.status_json().await;
    let u = unit(&status, "city-daily");
    assert_eq!(u["status"], "incomplete", "{u:#}");
    assert_eq!(u["items"]["statistics_table"]["state"], "valid");
    assert_eq!(u["items"]["summary_report"]["state"], "missing");
    let v = &u["items"]["video"];
    assert_eq!(v["state"], "needs_review", "{v:#}");
    assert_eq!(v["file"], "日报社科技周专题.mp4");
    let msg = v["problems"][0]["message"].as_str().unwrap();
    assert!(
        msg.contains("210.5M") && msg.contains("2023年6月20日 9:30"),
        "{msg}"
    );
    let excerpt: String = sqlx::query_scalar("SELECT body_excerpt FROM messages WHERE id = $1")
        .bind(message_row(&o))
        .fetch_one(&env.store.pool)
        .await
        .unwrap();
    assert!(excerpt.contains("总结随后补发"), "{excerpt}");
}

// ---------- forwards ----------

/// A colleague forwards the unit's mail inline (Coremail's `-------- 转发邮件信息 --------`
/// block) and re-attaches the files: the table names the unit, the colleague's address is not
/// learned for it.
#[sqlx::test(migrations = "./migrations")]
async fn an_inline_forward_by_a_colleague_counts_for_the_unit_in_the_table(pool: PgPool) {
    let env = env(pool).await;
    let mut mail = Mail::new("kjj_zhanghua@163.com", "转发：市国资委科技活动周材料")
        .attach("市国资委统计表.xlsx", XLSX, table("市国资委"))
        .attach("市国资委总结.docx", "application/msword", docx())
        .attach("纪实.mp4", "video/mp4", mp4(120));
    mail.body = "张科长：这是国资委发到我邮箱的材料，转给你登记。\n\n\n-------- 转发邮件信息 --------\n发件人：\"规划发展处\" <tygzw_ghc@163.com>\n发送日期：2023-06-04 16:20:11\n收件人：kjj_zhanghua@163.com\n主题：市国资委科技活动周材料\n附件请查收".into();
    let o = env.process(mail.build(), "inline forward").await;
    assert_eq!(
        disposition(&o),
        ("processed".into(), Some("city-sasac".into()))
    );
    assert_eq!(
        match_rule(&env, message_row(&o)).await.as_deref(),
        Some("table")
    );
    assert!(learned(&env).await.is_empty());
    let status = env.status_json().await;
    assert_eq!(unit(&status, "city-sasac")["status"], "complete");
}

/// QQ's forward (`Fw:`, `------------------ 原始邮件 ------------------`) of a unit's report and
/// video, after the deadline although the unit sent it before: the received time of the message
/// that reached the mailbox decides (contract §7), and the unit is named in the subject only.
#[sqlx::test(migrations = "./migrations")]
async fn a_qq_forward_after_the_deadline_is_late_and_found_by_its_subject(pool: PgPool) {
    let env = env(pool).await;
    let mut mail = Mail::new("38127764@qq.com", "Fw: 太原市档案馆科技活动周总结和视频")
        .attach("科技活动周总结.docx", "application/msword", docx())
        .attach("档案馆开放日.mp4", "video/mp4", mp4(90));
    mail.date = "Sun, 11 Jun 2023 08:40:00 +0800".into();
    mail.body = "\n\n\n------------------&nbsp;原始邮件&nbsp;------------------\n发件人: \"市档案馆\"<tydag_bgs@163.com>;\n发送时间: 2023年6月8日(星期四) 下午5:12\n收件人: \"李\"<38127764@qq.com>;\n主题: 太原市档案馆科技活动周总结和视频\n".into();
    let o = env.process(mail.build(), "qq forward").await;
    assert_eq!(
        disposition(&o),
        ("processed".into(), Some("city-archives".into()))
    );
    assert_eq!(
        match_rule(&env, message_row(&o)).await.as_deref(),
        Some("subject")
    );
    // `Fw:` marks a forward: whoever forwards is not the unit.
    assert!(learned(&env).await.is_empty());
    let status = env.status_json().await;
    let u = unit(&status, "city-archives");
    assert_eq!(u["late"], true, "{u:#}");
    assert_eq!(u["status"], "incomplete");
    assert_eq!(u["items"]["statistics_table"]["state"], "missing");
    let (_, body) = ack_of(&env, message_row(&o)).await;
    assert!(body.contains("逾期"), "{body}");
}

/// The unit forwards its own earlier message as an attachment (Outlook's "以附件形式转发",
/// which writes it as `application/octet-stream` named `….eml`, base64) and adds the video it
/// forgot: the files inside the attached message count with the new one.
#[sqlx::test(migrations = "./migrations")]
async fn an_eml_attached_as_octet_stream_is_opened_and_its_files_count(pool: PgPool) {
    let env = env(pool).await;
    let inner = Mail::new("tytv_kjpd@126.com", "太原广播电视台科技活动周材料")
        .attach("统计表.xlsx.xlsx", XLSX, table("太原广播电视台"))
        .attach("总结报告.txt", "text/plain", report_txt())
        .build();
    let raw = Mail::new("tytv_kjpd@126.com", "补发视频")
        .attach("专题片.MP4", "video/mp4", mp4(170))
        .attach(
            "太原广播电视台科技活动周材料.eml",
            "application/octet-stream",
            inner,
        )
        .build();
    let o = env.process(raw, "eml").await;
    assert!(o.ack_due);
    let status = env.status_json().await;
    let u = unit(&status, "city-tv");
    assert_eq!(u["status"], "complete", "{u:#}");
    assert_eq!(u["items"]["statistics_table"]["file"], "统计表.xlsx.xlsx");
    assert_eq!(u["items"]["summary_report"]["file"], "总结报告.txt");
}

// ---------- who sent it ----------

/// The display name and the signature name the unit, the subject and the file names do not.
/// Contract §2 names three rules (address, 填报单位, subject and file names) and says a message
/// none resolves is unmatched: it is, and the acknowledgement asks for the unit in the subject.
#[sqlx::test(migrations = "./migrations")]
async fn a_unit_named_only_by_display_name_and_signature_is_unmatched_and_asked_to_resend(
    pool: PgPool,
) {
    let env = env(pool).await;
    let raw = crlf(&format!(
        "Received: from qq.com by mx.test; {JUNE_5}\nFrom: \"{}\" <wangfang1987@qq.com>\nTo: w251342595@163.com\nSubject: {}\nDate: {JUNE_5}\nMessage-ID: <display-name-1@qq.com>\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"B\"\n\n--B\nContent-Type: text/plain; charset=utf-8\n\n材料请查收。\n\n王芳\n太原市档案馆办公室\n--B\nContent-Type: video/mp4; name=\"VID_20230525_101010.mp4\"\nContent-Disposition: attachment; filename=\"VID_20230525_101010.mp4\"\nContent-Transfer-Encoding: base64\n\n{}\n--B--\n",
        word("utf-8", "市档案馆 王芳"),
        word("utf-8", "科技活动周材料"),
        b64(&mp4(60)),
    ));
    let o = env.process(raw, "display name").await;
    assert_eq!(disposition(&o), ("processed".into(), None));
    assert!(o.ack_due);
    let status = env.status_json().await;
    assert_eq!(
        status["unmatched"][0]["message_id"],
        "<display-name-1@qq.com>"
    );
    assert_eq!(status["unmatched"][0]["reason"], "unit.unidentified");
    assert_eq!(unit(&status, "city-archives")["status"], "missing");
    let (subject, body) = ack_of(&env, message_row(&o)).await;
    assert!(subject.contains("未能确认报送单位"), "{subject}");
    assert!(body.contains("邮件主题中注明单位全称"), "{body}");
}

/// A subject naming two units of equal length names none (contract §2); the file names then
/// decide. When they name both too, the message is unmatched.
#[sqlx::test(migrations = "./migrations")]
async fn a_subject_naming_two_units_falls_back_to_the_file_names(pool: PgPool) {
    let env = env(pool).await;
    let raw = Mail::new(
        "lxhy_bgs@163.com",
        "市公安局、市档案馆科技活动周材料（市档案馆报送）",
    )
    .attach("市档案馆总结.docx", "application/msword", docx())
    .build();
    // `市档案馆` twice and `市公安局` once: still two units at the same length, so no match.
    let o = env.process(raw, "two units").await;
    assert_eq!(disposition(&o).1.as_deref(), Some("city-archives"));
    assert_eq!(
        match_rule(&env, message_row(&o)).await.as_deref(),
        Some("file_name")
    );

    let raw = Mail::new("lxhy_bgs2@163.com", "市公安局、市档案馆科技活动周视频")
        .attach("市公安局、市档案馆联合活动.mp4", "video/mp4", mp4(60))
        .build();
    let o = env.process(raw, "two units, both in the name").await;
    assert_eq!(disposition(&o), ("processed".into(), None));
}

/// Reply and forward prefixes, a 【…】 tag and the city prefix around the unit's name in the
/// subject: the name is still found. A reply (`回复：`, `Re:`) is the unit's own mail and its
/// address is learned; a forward (`转发：`, `Fwd:`) is not.
#[sqlx::test(migrations = "./migrations")]
async fn prefixes_around_the_unit_in_the_subject_do_not_hide_it(pool: PgPool) {
    let env = env(pool).await;
    let raw = Mail::new(
        "dag_liu@126.com",
        "Re: 回复：【科技活动周】太原市档案馆 报送材料",
    )
    .attach("总结.docx", "application/msword", docx())
    .build();
    let o = env.process(raw, "reply prefixes").await;
    assert_eq!(disposition(&o).1.as_deref(), Some("city-archives"));
    let raw = Mail::new(
        "kjj_wang@163.com",
        "Fwd: 转发：【科技活动周】太原市公安局材料",
    )
    .attach("视频.mp4", "video/mp4", mp4(60))
    .build();
    let o = env.process(raw, "forward prefixes").await;
    assert_eq!(disposition(&o).1.as_deref(), Some("city-police"));
    assert_eq!(
        learned(&env).await,
        vec![("dag_liu@126.com".to_string(), "city-archives".to_string())]
    );
}

// ---------- files the desktop adds ----------

/// A folder zipped on Windows while the table was open in Excel: the `~$` lock file, Explorer's
/// `Thumbs.db` and `desktop.ini` come along. They are not the unit's materials: the table is the
/// real one, and the acknowledgement does not call the lock file a broken table.
#[sqlx::test(migrations = "./migrations")]
async fn office_lock_files_and_thumbs_db_in_a_windows_zip_are_not_materials(pool: PgPool) {
    let env = env(pool).await;
    let zip = gbk_zip_of(&[
        ("广电台材料/~$附件2 统计表.xlsx", &office_lock_file()),
        ("广电台材料/Thumbs.db", &thumbs_db()),
        (
            "广电台材料/desktop.ini",
            b"[.ShellClassInfo]\r\nIconResource=C:\\Windows\\system32\\imageres.dll,-3\r\n",
        ),
        ("广电台材料/附件2 统计表.xlsx", &table("太原广播电视台")),
        ("广电台材料/~$总结.docx", &office_lock_file()),
        ("广电台材料/总结.docx", &docx()),
        ("广电台材料/专题片.mp4", &mp4(175)),
    ]);
    let raw = Mail::new("tytv_kjpd@126.com", "太原广播电视台科技活动周材料")
        .attach("广电台材料.zip", "application/x-zip-compressed", zip)
        .build();
    let o = env.process(raw, "windows zip").await;
    let status = env.status_json().await;
    let u = unit(&status, "city-tv");
    assert_eq!(u["status"], "complete", "{u:#}");
    assert_eq!(u["items"]["statistics_table"]["file"], "附件2 统计表.xlsx");
    assert_eq!(u["items"]["summary_report"]["file"], "总结.docx");
    assert_eq!(u["problems"], serde_json::json!([]), "{u:#}");
    let (_, body) = ack_of(&env, message_row(&o)).await;
    assert!(!body.contains("损坏"), "{body}");
    assert!(!body.contains("错误"), "{body}");
}

/// A unit that picks the lock file instead of the table in a second message has not replaced
/// its valid table with a broken one: the lock file is not a table at all. The acknowledgement
/// says what the file is.
#[sqlx::test(migrations = "./migrations")]
async fn a_lone_office_lock_file_does_not_supersede_the_valid_table(pool: PgPool) {
    let env = env(pool).await;
    let raw = Mail::new("tydag_bgs@163.com", "市档案馆材料")
        .attach("附件2 统计表.xlsx", XLSX, table("市档案馆"))
        .build();
    env.process(raw, "table").await;
    let mut mail = Mail::new("tydag_bgs@163.com", "市档案馆补充材料").attach(
        "~$附件2 统计表.xlsx",
        XLSX,
        office_lock_file(),
    );
    mail.date = "Tue, 6 Jun 2023 10:00:00 +0800".into();
    let o = env.process(mail.build(), "lock file").await;
    assert!(o.ack_due);
    let status = env.status_json().await;
    let t = &unit(&status, "city-archives")["items"]["statistics_table"];
    assert_eq!(t["state"], "valid", "{t:#}");
    assert_eq!(t["file"], "附件2 统计表.xlsx");
    let (_, body) = ack_of(&env, message_row(&o)).await;
    assert!(body.contains("~$附件2 统计表.xlsx"), "{body}");
    assert!(body.contains("临时文件"), "{body}");
}

/// A folder compressed on a Mac (Archive Utility): `__MACOSX/._*` AppleDouble twins of every
/// file and `.DS_Store`. The materials count; the twins are neither items nor problems.
#[sqlx::test(migrations = "./migrations")]
async fn a_mac_zip_with_macosx_twins_and_ds_store_is_complete(pool: PgPool) {
    let env = env(pool).await;
    let zip = zip_of(&[
        ("档案馆材料/", b""),
        ("档案馆材料/附件2统计表.xlsx", &table("市档案馆")),
        ("__MACOSX/", b""),
        ("__MACOSX/档案馆材料/", b""),
        ("__MACOSX/档案馆材料/._附件2统计表.xlsx", &apple_double()),
        ("档案馆材料/总结.docx", &docx()),
        ("__MACOSX/档案馆材料/._总结.docx", &apple_double()),
        ("档案馆材料/开放日.mov", &mov()),
        ("__MACOSX/档案馆材料/._开放日.mov", &apple_double()),
        ("档案馆材料/.DS_Store", &ds_store()),
        ("__MACOSX/档案馆材料/._.DS_Store", &apple_double()),
    ]);
    let raw = Mail::new("tydag_bgs@163.com", "市档案馆材料")
        .attach("档案馆材料.zip", "application/zip", zip)
        .build();
    let o = env.process(raw, "mac zip").await;
    let status = env.status_json().await;
    let u = unit(&status, "city-archives");
    assert_eq!(u["status"], "complete", "{u:#}");
    assert_eq!(u["items"]["video"]["file"], "开放日.mov");
    let (_, body) = ack_of(&env, message_row(&o)).await;
    assert!(!body.contains("损坏"), "{body}");
}

/// The same Mac zip where the spreadsheet is not the template: the table is invalid with
/// `table.not_template` on the unit's own file, not `file.unreadable` on its AppleDouble twin
/// that comes after it.
#[sqlx::test(migrations = "./migrations")]
async fn an_appledouble_twin_never_stands_for_the_table(pool: PgPool) {
    let env = env(pool).await;
    let zip = zip_of(&[
        ("档案馆材料/附件2统计表.xlsx", &activity_list()),
        ("__MACOSX/档案馆材料/._附件2统计表.xlsx", &apple_double()),
        ("档案馆材料/总结.docx", &docx()),
        ("__MACOSX/档案馆材料/._总结.docx", &apple_double()),
    ]);
    let raw = Mail::new("tydag_bgs@163.com", "市档案馆材料")
        .attach("档案馆材料.zip", "application/zip", zip)
        .build();
    env.process(raw, "mac zip, not template").await;
    let status = env.status_json().await;
    let t = &unit(&status, "city-archives")["items"]["statistics_table"];
    assert_eq!(t["state"], "invalid", "{t:#}");
    assert_eq!(t["file"], "附件2统计表.xlsx");
    assert_eq!(codes(&t["problems"]), vec!["table.not_template"]);
}

/// Mail on the Mac sends a video over 20 MB with Mail Drop: the html alternative carries an
/// iCloud link named by `f=`, the text alternative the name and the link in angle brackets. It
/// is the video, sent as a link (contract §3), not a missing video.
#[sqlx::test(migrations = "./migrations")]
async fn an_apple_mail_drop_video_is_the_video_needing_review(pool: PgPool) {
    let env = env(pool).await;
    let url = "https://www.icloud.com/attachment/?u=https%3A%2F%2Fcvws.icloud-content.com%2FB%2FAaBbCcDd%2F%24%7Bf%7D%3Fo%3DAtE5&uk=Xy3kQ2&f=IMG_0042.MOV&sz=315217632";
    let mixed = "Apple-Mail=_6D1C0B8E-3F2A-4E5D-8C7B-9A0F1E2D3C4B";
    let alt = "Apple-Mail=_A4B3C2D1-0E9F-4A8B-7C6D-5E4F3A2B1C0D";
    let html = format!(
        "<html><head><meta http-equiv=\"content-type\" content=\"text/html; charset=utf-8\"></head><body style=\"overflow-wrap: break-word;\"><div>附件为统计表，视频较大，用“邮件下载”发送。</div><div><br></div><div class=\"mail-drop-attachments\"><a href=\"{}\">IMG_0042.MOV</a><br>300.6 MB</div></body></html>",
        url.replace('&', "&amp;")
    );
    let raw = format!(
        "Received: from smtpclient.apple (unknown [111.53.12.7]) by mx.test; {JUNE_5}\n\
From: =?utf-8?B?5biC5qGj5qGI6aaG?= <tydag_bgs@163.com>\n\
Content-Type: multipart/mixed;\n\tboundary=\"{mixed}\"\n\
Mime-Version: 1.0 (Mac OS X Mail 16.0 \\(3731.600.7\\))\n\
Subject: {subject}\n\
X-Apple-Mail-Remote-Attachments: YES\n\
Date: {JUNE_5}\n\
X-Apple-Base-Url: x-msg://12/\n\
Message-Id: <5C1E2D3F-4A5B-6C7D-8E9F-0A1B2C3D4E5F@163.com>\n\
To: w251342595@163.com\n\
X-Mailer: Apple Mail (2.3731.600.7)\n\
\n\
\n\
--{mixed}\n\
Content-Type: multipart/alternative;\n\tboundary=\"{alt}\"\n\
\n\
\n\
--{alt}\n\
Content-Transfer-Encoding: base64\n\
Content-Type: text/plain;\n\tcharset=utf-8\n\
\n\
{plain}\
--{alt}\n\
Content-Transfer-Encoding: base64\n\
Content-Type: text/html;\n\tcharset=utf-8\n\
\n\
{html}\
--{alt}--\n\
\n\
--{mixed}\n\
Content-Disposition: attachment;\n\tfilename*={tname}\n\
Content-Type: application/vnd.openxmlformats-officedocument.spreadsheetml.sheet;\n\tx-unix-mode=0644;\n\tname=\"=?utf-8?B?{tb64}?=\"\n\
Content-Transfer-Encoding: base64\n\
\n\
{table}\
--{mixed}--\n",
        subject = q_words("市档案馆 科技活动周统计表和视频", 6),
        plain = b64(format!("附件为统计表，视频较大，用“邮件下载”发送。\n\nIMG_0042.MOV\n<{url}>\n").as_bytes()),
        html = b64(html.as_bytes()),
        tname = pct("统计表.xlsx"),
        tb64 = base64::engine::general_purpose::STANDARD.encode("统计表.xlsx"),
        table = b64(&table("市档案馆")),
    );
    let o = env.process(crlf(&raw), "mail drop").await;
    assert!(o.ack_due);
    let status = env.status_json().await;
    let u = unit(&status, "city-archives");
    assert_eq!(u["items"]["statistics_table"]["state"], "valid", "{u:#}");
    let v = &u["items"]["video"];
    assert_eq!(v["state"], "needs_review", "{u:#}");
    assert_eq!(v["file"], "IMG_0042.MOV");
    assert_eq!(codes(&v["problems"]), vec!["video.link_only"]);
}

/// A unit pastes the text 百度网盘 copies for a share (link with `?pwd=`, 提取码, the
/// "来自百度网盘…的分享" line): the video was sent as a link and needs a person to fetch it.
#[sqlx::test(migrations = "./migrations")]
async fn a_baidu_netdisk_share_pasted_in_the_body_is_the_video_needing_review(pool: PgPool) {
    let env = env(pool).await;
    let mut mail = Mail::new("tytv_kjpd@126.com", "太原广播电视台科技活动周材料")
        .attach("统计表.xlsx", XLSX, table("太原广播电视台"))
        .attach("总结.docx", "application/msword", docx());
    mail.body = "您好，视频文件较大，已上传百度网盘，请下载：\n链接：https://pan.baidu.com/s/1a2B3c4D5e6F7g8H9i0JkLm?pwd=x7k9 \n提取码：x7k9 \n--来自百度网盘超级会员V3的分享\n\n太原广播电视台科教频道".into();
    let o = env.process(mail.build(), "baidu").await;
    assert!(o.ack_due);
    let status = env.status_json().await;
    let u = unit(&status, "city-tv");
    assert_eq!(u["status"], "needs_review", "{u:#}");
    let v = &u["items"]["video"];
    assert_eq!(v["state"], "needs_review");
    assert_eq!(codes(&v["problems"]), vec!["video.link_only"]);
    let (_, body) = ack_of(&env, message_row(&o)).await;
    assert!(body.contains("将由工作人员下载查看"), "{body}");
    assert!(
        !body.contains("人工"),
        "no staff wording for the unit: {body}"
    );
}
