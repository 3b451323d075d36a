#!/usr/bin/env python3
"""The baseline of the drain benchmark: the script an office would write to do reportbox's job,
with the usual libraries. It logs in over IMAP (imaplib), fetches every message one by one,
parses it (email), identifies the unit by its sender in the roster, classifies each attachment
by name, checks the statistics table against the template's labels and rules (openpyxl), the
report's text (python-docx), the video's duration (mvhd), keeps every original on disk (written
and fsynced, as reportbox does) and records messages and files in PostgreSQL (psycopg), one
transaction per message. It sends no acknowledgement.

    python3 bench/baseline.py --imap HOST:PORT --user U --password P --db URL --store DIR --roster CSV
"""
import argparse
import csv
import hashlib
import imaplib
import io
import json
import os
import re
import struct
import zipfile
from email import policy
from email.parser import BytesParser
from email.utils import parseaddr

import docx
import openpyxl
import psycopg

INDICATORS = [
    ("activities_total", "举办科技活动总数", True), ("activities_online", "其中：线上活动", False),
    ("activities_offline", "其中：线下活动", False), ("participants_total", "参与公众人数", True),
    ("participants_youth", "其中：青少年参与人数", False), ("scientists", "参与科技工作者人数", False),
    ("organisations", "参与单位数", False), ("venues_opened", "开放科普场馆（基地）数", False),
    ("materials", "发放科普资料", False), ("media_reports", "媒体报道数", False),
    ("new_media_reach", "新媒体传播量（直播、短视频、H5）", False), ("funding", "投入经费", False),
    ("flagship_events", "重点示范活动数", False),
]
SUBTOTALS = [("activities_online", "activities_total"), ("activities_offline", "activities_total"),
             ("participants_youth", "participants_total"), ("flagship_events", "activities_total")]


def norm(s):
    return "".join(str(s).split()).replace(":", "：")


def number(v):
    if isinstance(v, (int, float)):
        return float(v)
    s = norm(v).replace(",", "")
    m = re.match(r"^约?(\d+(?:\.\d+)?)(万)?", s)
    if not m:
        raise ValueError(s)
    return float(m.group(1)) * (10000 if m.group(2) else 1)


def check_table(data, year):
    problems = []
    try:
        wb = openpyxl.load_workbook(io.BytesIO(data), data_only=True, read_only=True)
    except Exception:
        return "invalid", ["file.unreadable"], None
    ws = wb.worksheets[0]
    rows = [list(r) for r in ws.iter_rows(values_only=True)]
    title = any(c and "科技活动周" in str(c) and year in str(c) for r in rows[:5] for c in r)
    header, label_col, value_col = None, None, None
    for i, r in enumerate(rows):
        cells = [norm(c) if c is not None else "" for c in r]
        if "统计指标" in cells and "数量" in cells:
            header, label_col, value_col = i, cells.index("统计指标"), cells.index("数量")
            break
    if header is None:
        return "invalid", ["table.not_template"], None
    if not title:
        problems.append("table.wrong_year")
    unit = None
    for r in rows:
        for j, c in enumerate(r):
            if c is not None and norm(c).startswith("填报单位"):
                unit = next((x for x in r[j + 1:] if x not in (None, "")), None)
    if not unit:
        problems.append("table.unit_missing")
    values = {}
    by_label = {norm(r[label_col]): r[value_col] for r in rows[header + 1:]
                if len(r) > max(label_col, value_col) and r[label_col] is not None}
    for key, label, required in INDICATORS:
        v = by_label.get(norm(label))
        if v in (None, ""):
            if required:
                problems.append("table.missing_value")
            values[key] = 0.0
            continue
        try:
            values[key] = number(v)
        except ValueError:
            problems.append("table.not_a_number")
            continue
        if values[key] < 0:
            problems.append("table.negative")
        if key != "funding" and values[key] != int(values[key]):
            problems.append("table.not_integer")
    for part, whole in SUBTOTALS:
        if values.get(part, 0) > values.get(whole, 0):
            problems.append("table.subtotal_exceeds_total")
    errors = [p for p in problems if p != "table.sum_mismatch"]
    return ("invalid" if errors else "valid"), problems, values


def check_report(data):
    try:
        text = "".join(p.text for p in docx.Document(io.BytesIO(data)).paragraphs)
    except Exception:
        return "invalid", ["report.unreadable"]
    chars = len("".join(text.split()))
    if chars < 200:
        return "invalid", ["report.too_short"]
    return "valid", ([] if "科技活动周" in text else ["report.off_topic"])


def mp4_duration(data):
    def boxes(buf, start, end):
        i = start
        while i + 8 <= end:
            size, kind = struct.unpack(">I4s", buf[i:i + 8])
            if size < 8:
                return
            yield kind, i + 8, i + size
            i += size
    for kind, s, e in boxes(data, 0, len(data)):
        if kind == b"moov":
            for k2, s2, e2 in boxes(data, s, e):
                if k2 == b"mvhd":
                    version = data[s2]
                    if version == 1:
                        scale, dur = struct.unpack(">IQ", data[s2 + 20:s2 + 32])
                    else:
                        scale, dur = struct.unpack(">II", data[s2 + 12:s2 + 20])
                    return dur / scale if scale else None
    return None


def check_video(data, limit=180):
    d = mp4_duration(data)
    if d is None:
        return "invalid", ["video.unreadable"]
    return ("valid", []) if d <= limit else ("invalid", ["video.too_long"])


def classify(name):
    n = name.lower()
    if n.endswith((".xlsx", ".xls", ".et", ".ods")):
        return "statistics_table"
    if n.endswith((".docx", ".doc", ".wps", ".pdf", ".odt", ".txt")):
        return "table_scan" if "统计表" in name else "summary_report"
    if n.endswith((".mp4", ".mov", ".m4v", ".3gp", ".avi", ".wmv", ".flv", ".mkv", ".webm")):
        return "video"
    if n.endswith(".zip"):
        return "archive"
    return "other"


def store(root, data):
    sha = hashlib.sha256(data).hexdigest()
    path = os.path.join(root, sha[:2], sha)
    if not os.path.exists(path):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        tmp = path + ".tmp"
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.rename(tmp, path)
    return sha


SCHEMA = """
CREATE TABLE IF NOT EXISTS py_messages (id BIGSERIAL PRIMARY KEY, uid BIGINT UNIQUE, sha256 TEXT,
  message_id TEXT, from_addr TEXT, subject TEXT, unit_id TEXT, received_at TIMESTAMPTZ DEFAULT now());
CREATE TABLE IF NOT EXISTS py_files (id BIGSERIAL PRIMARY KEY, message BIGINT REFERENCES py_messages(id),
  name TEXT, sha256 TEXT, item TEXT, state TEXT, problems JSONB, data JSONB);
"""


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--imap", required=True)
    ap.add_argument("--user", required=True)
    ap.add_argument("--password", required=True)
    ap.add_argument("--db", required=True)
    ap.add_argument("--store", required=True)
    ap.add_argument("--roster", required=True)
    ap.add_argument("--year", default="2023")
    a = ap.parse_args()
    by_email = {}
    with open(a.roster, encoding="utf-8") as f:
        for row in csv.DictReader(f):
            for e in row["emails"].split(";"):
                by_email[e.strip().lower()] = row["id"]
    host, port = a.imap.rsplit(":", 1)
    imap = imaplib.IMAP4(host, int(port))
    imap.login(a.user, a.password)
    imap.select("INBOX", readonly=True)
    _, data = imap.uid("SEARCH", None, "ALL")
    uids = data[0].split()
    db = psycopg.connect(a.db)
    db.execute(SCHEMA)
    db.commit()
    parser = BytesParser(policy=policy.default)
    counts = {}
    for uid in uids:
        _, fetched = imap.uid("FETCH", uid, "(BODY.PEEK[])")
        raw = fetched[0][1]
        sha = store(a.store, raw)
        msg = parser.parsebytes(raw)
        sender = parseaddr(str(msg.get("From", "")))[1].lower()
        unit = by_email.get(sender)
        files = []
        for part in msg.iter_attachments():
            name = part.get_filename() or "附件"
            content = part.get_payload(decode=True) or b""
            item = classify(name)
            data_json = None
            if item == "statistics_table":
                state, problems, data_json = check_table(content, a.year)
            elif item == "summary_report":
                state, problems = check_report(content)
            elif item == "video":
                state, problems = check_video(content)
            else:
                state, problems = "valid", []
            files.append((name, store(a.store, content), item, state, problems, data_json))
            counts[state] = counts.get(state, 0) + 1
        with db.transaction():
            (mid,) = db.execute(
                "INSERT INTO py_messages (uid, sha256, message_id, from_addr, subject, unit_id)"
                " VALUES (%s, %s, %s, %s, %s, %s) RETURNING id",
                (int(uid), sha, str(msg.get("Message-ID", "")), sender, str(msg.get("Subject", "")), unit),
            ).fetchone()
            for name, fsha, item, state, problems, data_json in files:
                db.execute(
                    "INSERT INTO py_files (message, name, sha256, item, state, problems, data)"
                    " VALUES (%s, %s, %s, %s, %s, %s, %s)",
                    (mid, name, fsha, item, state, json.dumps(problems), json.dumps(data_json)),
                )
    imap.logout()
    print(json.dumps({"messages": len(uids), "files": counts}))


if __name__ == "__main__":
    main()
