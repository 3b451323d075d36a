#!/usr/bin/env python3
"""Writes tests/corpus/mail/*.eml and tests/corpus/expected.json: mail a public 163 address
receives besides submissions, and submissions with small real-world quirks, each shaped like
what a real client or robot writes (issue 8). Deterministic: run it again and nothing changes.

expected.json: one entry per file, in file-name order (= arrival order):
  where: "unit:<id>" | "note:<id or nothing>" | "unmatched:<reason>" | "ignored:<reason>"
         (a note: no file, from a unit or answering our email; listed under 单位来信)
  ack:   whether exactly one acknowledgement is owed (false: none)
  files: (optional) how many files must be recorded for the message
"""
import base64, json, os, pathlib

HERE = pathlib.Path(__file__).resolve().parent
OUT = HERE / "mail"
CAMPAIGN = "w251342595@163.com"
cases = []


def b64(data: bytes) -> str:
    s = base64.b64encode(data).decode()
    return "\r\n".join(s[i:i + 76] for i in range(0, len(s), 76))


def ew(text: str, charset="utf-8") -> str:
    """An RFC 2047 B encoded word (UTF-8 where the charset cannot hold the text)."""
    try:
        data = text.encode(charset)
    except UnicodeEncodeError:
        charset, data = "utf-8", text.encode()
    return f"=?{charset}?B?{base64.b64encode(data).decode()}?="


SUMMARY = ("太原市科技活动周总结报告。本单位围绕“热爱科学 崇尚科学”主题，组织开展了科普讲座、"
           "科技展览、科普进社区等系列活动，参与公众一千余人次。" * 4).encode("utf-8")


def attachment(name: str, data: bytes, ctype="application/octet-stream", charset="utf-8") -> str:
    return (f'Content-Type: {ctype}; name="{ew(name, charset)}"\r\n'
            f"Content-Transfer-Encoding: base64\r\n"
            f'Content-Disposition: attachment; filename="{ew(name, charset)}"\r\n\r\n{b64(data)}\r\n')


def message(n: int, *, frm: str, subject: str, headers=(), body="", html=None, charset="utf-8",
            parts=(), date=None, eol="\r\n", raw_subject=None,
            message_id=True, content_type_right_after_date=False) -> bytes:
    """A message as bytes. `parts` are ready MIME part strings (headers + body). Messages are two
    hours apart, so no sender reaches the hourly acknowledgement cap."""
    date = date or stamp(n, "+0800")
    mid = f"<corpus-{n:03d}@example.test>"
    subj = raw_subject if raw_subject is not None else ew(subject, charset) if subject else ""
    top = []
    boundary = f"----=_Part_{n}_corpus"
    multipart = bool(parts) or html is not None
    ctype = (f'Content-Type: multipart/mixed; boundary="{boundary}"' if multipart
             else f"Content-Type: text/plain; charset={charset}")
    if content_type_right_after_date:
        top += [f"Date: {date}", ctype, f"From: {frm}"]
    else:
        top += [f"Date: {date}", f"From: {frm}"]
    top += [f"To: {CAMPAIGN}", f"Subject: {subj}"]
    if message_id:
        top.append(f"Message-ID: {mid}")
    top.append("MIME-Version: 1.0")
    top += list(headers)
    if not content_type_right_after_date:
        top.append(ctype)
    out = "\r\n".join(top) + "\r\n\r\n"
    if multipart:
        if html is not None:
            out += (f"--{boundary}\r\nContent-Type: text/html; charset={charset}\r\n"
                    f"Content-Transfer-Encoding: base64\r\n\r\n{b64(html.encode(charset, 'replace'))}\r\n")
        elif body:
            out += (f"--{boundary}\r\nContent-Type: text/plain; charset={charset}\r\n"
                    f"Content-Transfer-Encoding: base64\r\n\r\n{b64(body.encode(charset, 'replace'))}\r\n")
        for p in parts:
            out += f"--{boundary}\r\n{p}"
        out += f"--{boundary}--\r\n"
        data = out.encode("utf-8")
    else:
        data = out.encode("utf-8") + body.encode(charset, "replace") + b"\r\n"
    if eol == "\n":
        data = data.replace(b"\r\n", b"\n")
    return data


def stamp(n: int, zone: str) -> str:
    """Two hours apart from 1 June 2023 on; always before the deadline (10 June)."""
    day, hour = 1 + (2 * n) // 24, (2 * n) % 24
    weekday = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed", "Thu", "Fri"][day - 1]
    return f"{weekday}, {day} Jun 2023 {hour:02d}:00:00 {zone}".rstrip()


def add(slug: str, data: bytes, where: str, ack: bool, files=None):
    n = len(cases) + 1
    name = f"{n:03d}_{slug}.eml"
    entry = {"file": name, "where": where, "ack": ack}
    if files is not None:
        entry["files"] = files
    cases.append((name, data, entry))


def nxt() -> int:
    return len(cases) + 1


ARCHIVES = "tydag_bgs@163.com"
URBAN = "\"市城管局\" <tycxglj_kjc@163.com>"
TV = "tytv_kjpd@126.com"

# --- Submissions first: they get acknowledgements, which later replies refer to. -----------
add("police_submission", message(nxt(), frm="tygaj_kxk@163.com", subject="市公安局报送科技活动周总结",
                                 body="您好，附件为我局总结报告。", parts=[attachment("市公安局总结.txt", SUMMARY)]),
    "unit:city-police", True, files=1)

# --- HTML entities right before CJK / Cyrillic / Japanese text (the links.rs panic). --------
ENTITIES = ["&nbsp;", "&amp;", "&lt;", "&gt;", "&quot;", "&apos;", "&#160;", "&#x4E2D;", "&copy;", "&bogus;", "&"]
for charset, text in [("utf-8", "附件是我单位的总结报告，请查收"), ("gbk", "附件是我单位的总结报告，请查收"),
                      ("gb18030", "附件是我单位的总结报告，请查收"), ("big5", "附件是我單位的總結報告，請查收"),
                      ("koi8-r", "Отчёт во вложении"), ("shift_jis", "添付ファイルをご確認ください"),
                      ("iso-2022-jp", "添付ファイルをご確認ください"), ("euc-kr", "첨부 파일을 확인하십시오")]:
    html = "<html><body><div>" + "".join(f"{e}{text}<br>" for e in ENTITIES) + \
           f"<p>{text}&nbsp;&nbsp;{text}</p><a href=\"https://mail.163.com/large/x\">&nbsp;超大附件</a></div></body></html>"
    add(f"html_entities_{charset}", message(nxt(), frm=ARCHIVES, subject="市档案馆总结报告", charset=charset if charset not in ("koi8-r", "shift_jis", "iso-2022-jp", "euc-kr") else "utf-8",
                                            html=html if charset in ("utf-8", "gbk", "gb18030", "big5") else None,
                                            parts=[attachment("总结.txt", SUMMARY)] if charset in ("utf-8", "gbk", "gb18030", "big5") else
                                            [f"Content-Type: text/html; charset={charset}\r\nContent-Transfer-Encoding: base64\r\n\r\n{b64(html.encode(charset, 'replace'))}\r\n",
                                             attachment("总结.txt", SUMMARY)]),
        "unit:city-archives", True, files=1)

# --- Date zones mail-parser misreads (the next header line was lost), CRLF and LF. ---------
for zone in ["Z", "A", "M", "UT", "GMT", "CST", ""]:
    for eol in ["\r\n", "\n"]:
        tag = (zone or "none") + ("_crlf" if eol == "\r\n" else "_lf")
        for after in (False, True):
            add(f"date_{tag}{'_ctype' if after else ''}",
                message(nxt(), frm=URBAN, subject="市城管局总结", body="总结见附件",
                        parts=[attachment("总结.txt", SUMMARY)], date=stamp(nxt(), zone),
                        eol=eol, content_type_right_after_date=after),
                "unit:city-urban", True, files=1)

# --- NUL in subject, body, file name. ---------------------------------------------------------
add("nul_subject", message(nxt(), frm=TV, subject="", raw_subject="=?utf-8?B?" + base64.b64encode("太原台\0总结".encode()).decode() + "?=",
                           body="见附件", parts=[attachment("总结.txt", SUMMARY)]), "unit:city-tv", True, files=1)
add("nul_body", message(nxt(), frm=TV, subject="太原台总结", body="见\0附件\0", parts=[attachment("总结.txt", SUMMARY)]),
    "unit:city-tv", True, files=1)
add("nul_file_name", message(nxt(), frm=TV, subject="太原台总结", body="见附件", parts=[attachment("总结\0.txt", SUMMARY)]),
    "unit:city-tv", True, files=1)

# --- A bad charset token in the From encoded word. ----------------------------------------------
add("from_bad_charset", b"From: =?x-unknown-\xff?B?5byg5LiJ?= <tygzw_ghc@163.com>\r\nTo: " + CAMPAIGN.encode() +
    b"\r\nSubject: =?utf-8?B?" + base64.b64encode("市国资委总结".encode()) + b"?=\r\nDate: " + stamp(nxt(), "+0800").encode() + b"\r\n"
    b"Message-ID: <corpus-bad-charset@example.test>\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nhello\r\n",
    "note:city-sasac", True)

# --- No From at all: the coordinator's to look at, never a bounce. -----------------------------
add("no_from", b"To: " + CAMPAIGN.encode() + b"\r\nSubject: =?utf-8?B?" + base64.b64encode("材料".encode()) +
    b"?=\r\nDate: Mon, 5 Jun 2023 10:00:00 +0800\r\nMessage-ID: <corpus-no-from@example.test>\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n\r\n" + "见附件".encode() + b"\r\n",
    "unmatched:message.unreadable", False)

# --- Spam and phishing, Chinese and English, with and without attachments. ----------------------
add("spam_fapiao", message(nxt(), frm="zhang8812@qq.com", subject="代开各类发票，验证后付款",
                           body="本公司常年代开增值税发票，联系电话 138xxxx，微信同号。"), "ignored:message.unrelated", False)
add("spam_waimao", message(nxt(), frm="sales@trade-leads.example.com", subject="外贸客户开发，精准获客",
                           html="<p>海关数据&nbsp;精准开发&nbsp;欧美客户</p>", parts=[]), "ignored:message.unrelated", False)
add("phishing_macro_doc", message(nxt(), frm="invoice@billing-dept.example.com", subject="Invoice #88231 overdue",
                                  body="Please enable macros to view the invoice.",
                                  parts=[attachment("Invoice_88231.doc", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 504 + b"macro")]),
    "ignored:message.unrelated", False)
add("phishing_mailbox_upgrade", message(nxt(), frm="admin@163-mail-upgrade.example.com", subject="您的邮箱容量已满，请立即升级",
                                        html="<p>您的邮箱即将停用&nbsp;<a href='http://x.example.com'>点击升级</a></p>"),
    "ignored:message.unrelated", False)
add("spam_flagged", message(nxt(), frm="promo@shop.example.com", subject="限时优惠", headers=["X-Spam-Flag: YES"],
                            body="优惠"), "ignored:message.spam", False)
add("spam_status", message(nxt(), frm="promo@shop.example.com", subject="科技活动周特价", headers=["X-Spam-Status: Yes, score=9.1"],
                           body="科技活动周特价商品"), "ignored:message.spam", False)
add("spam_rspamd", message(nxt(), frm="promo@shop.example.com", subject="视频会员特惠", headers=["X-Spam: Yes"],
                           body="会员"), "ignored:message.spam", False)
add("spam_subject_tag", message(nxt(), frm="x@spam.example.com", subject="[SPAM] cheap pills", body="buy"), "ignored:message.spam", False)
add("spam_subject_cn_tag", message(nxt(), frm="x@spam.example.com", subject="【垃圾邮件】中奖通知", body="恭喜"), "ignored:message.spam", False)
add("spam_cyrillic", message(nxt(), frm="info@rassylka.example.ru", subject="Выгодное предложение", charset="koi8-r",
                             body="Только сегодня скидки"), "ignored:message.unrelated", False)
add("spam_japanese", message(nxt(), frm="info@campaign.example.jp", subject="特別なご案内", charset="iso-2022-jp",
                             body="今だけの特別価格です"), "ignored:message.unrelated", False)

# --- Newsletters and notifications without list headers; no-reply senders. ---------------------
add("amazon_order", message(nxt(), frm="\"Amazon.cn\" <auto-confirm@amazon.cn>", subject="您的订单已发货",
                            html="<p>您的订单&nbsp;#123 已发货</p>"), "ignored:message.unrelated", False)
add("paypal_notice", message(nxt(), frm="service@intl.paypal.com", subject="You've got money", body="You received a payment."),
    "ignored:message.unrelated", False)
add("aws_noreply", message(nxt(), frm="\"Amazon Web Services\" <no-reply-aws@amazon.com>", subject="AWS Notification",
                           body="Your bill is available."), "ignored:message.bulk", False)
add("password_reset", message(nxt(), frm="noreply@github.com", subject="[GitHub] Please reset your password",
                              body="Reset your password"), "ignored:message.bulk", False)
add("donotreply", message(nxt(), frm="DoNotReply@bank.example.com", subject="账单提醒", body="本月账单"), "ignored:message.bulk", False)
add("do_not_reply", message(nxt(), frm="do_not_reply@gov-service.example.cn", subject="科技活动周通知", body="通知"),
    "ignored:message.bulk", False)
add("microsoft_security", message(nxt(), frm="Microsoft account team <account-security-noreply@accountprotection.microsoft.com>",
                                  subject="Microsoft account security code", body="Your security code is 123456"),
    "ignored:message.bulk", False)
add("linkedin_notice", message(nxt(), frm="LinkedIn <notifications-noreply@linkedin.com>", subject="您有 3 条新通知",
                               html="<p>查看&nbsp;您的视频动态</p>"), "ignored:message.bulk", False)
add("netease_service", message(nxt(), frm="\"网易邮箱\" <mail@service.netease.com>", subject="网易邮箱安全提醒",
                               body="您的邮箱在新设备登录"), "ignored:message.unrelated", False)
add("newsletter_listid", message(nxt(), frm="news@kepu.example.cn", subject="科普周刊第12期", headers=["List-Id: <kepu.example.cn>",
                                 "List-Unsubscribe: <mailto:unsub@kepu.example.cn>"], body="本期内容"), "ignored:message.bulk", False)

# --- Auto-replies: 163, QQ, Outlook/Exchange, Foxmail, Gmail, traditional, Japanese, German. ----
AUTO = [
    ("163_subject", "tygzw_ghc@163.com", "自动回复: 关于报送材料", [], None),
    ("qq_traditional", "2378840916@qq.com", "自動回覆: 材料", [], None),
    ("qq_bracket", "2378840916@qq.com", "【自动回复】您好，邮件已收到", [], None),
    ("qq_reply_prefix", "2378840916@qq.com", "回复：自动回复: 材料", [], None),
    ("autoreply_colon", "gaj_kx2023@qq.com", "Autoreply: 材料", [], None),
    ("qq_holiday_header", "2378840916@qq.com", "Re: 材料", ["X-QQ-HolidayReply: true"], None),
    ("inline_logo", "tygzw_ghc@163.com", "自动回复: 材料", [], "logo"),
    ("outlook_automatic", "someone@corp.example.com", "Automatic reply: 材料", ["Auto-Submitted: auto-replied",
                                                                           "X-Auto-Response-Suppress: All"], None),
    ("exchange_ooo", "someone@corp.example.com", "Out of Office: 材料", ["X-Autogenerated: Reply"], None),
    ("exchange_cn", "someone@corp.example.com", "自动答复: 材料", ["Thread-Topic: 材料"], None),
    ("foxmail", "tygzw_ghc@163.com", "自动回复：材料", ["X-Mailer: Foxmail 7.2"], None),
    ("gmail_vacation", "someone@gmail.com", "Re: 材料", ["Auto-Submitted: auto-replied", "Precedence: bulk"], None),
    ("traditional_answer", "someone@example.com.tw", "自動答覆：材料", [], None),
    ("japanese", "someone@example.co.jp", "不在席のお知らせ", [], None),
    ("german", "jemand@example.de", "Abwesenheitsnotiz: 材料", [], None),
    ("precedence", "someone@example.com", "Re: 材料", ["Precedence: auto_reply"], None),
    ("x_autoreply", "someone@example.com", "Re: 材料", ["X-Autoreply: yes"], None),
    ("x_autorespond", "someone@example.com", "Re: 材料", ["X-Autorespond: 1"], None),
    ("auto_reply_words", "tydag_bgs@163.com", "Auto Reply: 材料", [], None),
    ("yingda", "someone@example.com", "自动应答：材料", [], None),
    ("vacation_cn", "someone@example.com", "休假通知", [], None),
    ("german_exchange", "jemand@example.de", "Automatische Antwort: 材料", [], None),
    ("french", "quelqu.un@example.fr", "Réponse automatique : 材料", [], None),
    ("korean", "someone@example.co.kr", "자동 회신: 材料", [], None),
]
for slug, frm, subject, headers, extra in AUTO:
    parts = []
    html = None
    if extra == "logo":
        html = '<p>您好，我已收到邮件。</p><img src="cid:logo001">'
        parts = ["Content-Type: image/png; name=\"logo.png\"\r\nContent-Transfer-Encoding: base64\r\n"
                 "Content-ID: <logo001>\r\nContent-Disposition: inline; filename=\"logo.png\"\r\n\r\n"
                 + b64(b"\x89PNG\r\n\x1a\n" + b"\0" * 64) + "\r\n"]
    add(f"auto_{slug}", message(nxt(), frm=frm, subject=subject, headers=headers, body="我目前不在办公室。",
                                html=html, parts=parts), "ignored:message.auto_reply", False)
# A unit that answers "自动回复" with its materials still counts.
add("auto_subject_with_file", message(nxt(), frm="tygzw_ghc@163.com", subject="自动回复: 市国资委总结",
                                      body="总结见附件", parts=[attachment("总结.txt", SUMMARY)]), "unit:city-sasac", True, files=1)

# --- Bounces, ARF, list robots. -------------------------------------------------------------------
add("bounce_post_master", message(nxt(), frm="post_master@163.com", subject="系统退信",
                                  body="您发送的邮件未能送达"), "ignored:message.bounce", False)
add("bounce_mail_daemon", message(nxt(), frm="Mail Delivery Subsystem <mailer-daemon@googlemail.com>",
                                  subject="Delivery Status Notification (Failure)", body="failed",
                                  headers=["X-Failed-Recipients: nobody@example.com"]), "ignored:message.bounce", False)
dsn = ("Content-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example.com\r\n\r\n"
       "Final-Recipient: rfc822; nobody@example.com\r\nAction: failed\r\nStatus: 5.1.1\r\n")
report = message(nxt(), frm="postmaster@example.com", subject="Undelivered Mail Returned to Sender",
                 body="This is the mail system.", parts=[dsn])
report = report.replace(b"multipart/mixed", b"multipart/report; report-type=delivery-status", 1)
add("bounce_dsn", report, "ignored:message.bounce", False)
arf = message(nxt(), frm="staff@fbl.example.net", subject="Abuse report", body="This is an email abuse report",
              parts=["Content-Type: message/feedback-report\r\n\r\nFeedback-Type: abuse\r\nUser-Agent: x/1\r\nVersion: 1\r\n"])
arf = arf.replace(b"multipart/mixed", b"multipart/report; report-type=feedback-report", 1)
add("arf_complaint", arf, "ignored:message.bounce", False)
add("null_sender", message(nxt(), frm="notice@example.com", subject="Returned mail", headers=["Return-Path: <>"],
                           body="returned"), "ignored:message.bounce", False)
add("mailman_robot", message(nxt(), frm="kepu-list-owner@lists.example.org", subject="Your message awaits moderator approval",
                             headers=["List-Id: <kepu.lists.example.org>", "Precedence: list"], body="moderation"),
    "ignored:message.bulk", False)
add("majordomo", message(nxt(), frm="majordomo@lists.example.org", subject="Majordomo results", headers=["Precedence: junk"],
                         body="results"), "ignored:message.bulk", False)

# --- Replies to our own acknowledgement (row 1 of the outbox is the first ack). ------------------
add("reply_to_ack_unknown_sender", message(nxt(), frm="colleague@corp.example.com", subject="Re: 回执",
                                           headers=["In-Reply-To: <reportbox.ack.1@163.com>", "References: <reportbox.ack.1@163.com>"],
                                           body="好的，收到，谢谢"), "note:", True)
add("reply_to_ack_with_table", message(nxt(), frm="gaj_kx2023@qq.com", subject="Re: 回执",
                                       headers=["In-Reply-To: <reportbox.ack.1@163.com>"], body="补充总结",
                                       parts=[attachment("补充总结.txt", SUMMARY)]), "unit:city-police", True, files=1)

# --- Unknown senders who do write about the campaign: kept for the coordinator. ------------------
add("unknown_with_keyword", message(nxt(), frm="someone@example.cn", subject="关于科技活动周材料的问题",
                                    body="请问统计表怎么填？"), "unmatched:unit.unidentified", True)
add("unknown_keyword_in_file", message(nxt(), frm="someone2@example.cn", subject="材料",
                                       body="见附件", parts=[attachment("活动总结.txt", SUMMARY)]), "unmatched:unit.unidentified", True)

OUT.mkdir(exist_ok=True)
for old in OUT.glob("*.eml"):
    old.unlink()
for name, data, _ in cases:
    (OUT / name).write_bytes(data)
(HERE / "expected.json").write_text(json.dumps([e for _, _, e in cases], ensure_ascii=False, indent=1) + "\n")
print(f"{len(cases)} messages")
