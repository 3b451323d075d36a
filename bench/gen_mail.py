#!/usr/bin/env python3
"""Writes N realistic submissions for the drain benchmark, every one with its own attachment
bytes: a statistics table filled in from the blank 附件2 template (openpyxl), a summary report
(python-docx) and a short mp4 whose mvhd gives the duration and whose padding makes the size of a
phone video cut down by the mail client. Also writes the 35-unit roster they come from.

    python3 bench/gen_mail.py OUT_DIR N [--seed 1] [--video-kb 80]
"""
import argparse
import io
import random
import struct
import sys
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import docx
import openpyxl

HERE = Path(__file__).resolve().parent
TEMPLATE = HERE.parent.parent / "shared" / "templates" / "statistics-table-2023.xlsx"
UNITS = 35

LABELS = [
    "举办科技活动总数", "其中：线上活动", "其中：线下活动", "参与公众人数", "其中：青少年参与人数",
    "参与科技工作者人数", "参与单位数", "开放科普场馆（基地）数", "发放科普资料", "媒体报道数",
    "新媒体传播量（直播、短视频、H5）", "投入经费", "重点示范活动数",
]


def norm(s):
    return "".join(str(s).split()).replace(":", "：")


def table(unit_name, rng):
    wb = openpyxl.load_workbook(TEMPLATE)
    ws = wb.active
    total = rng.randint(5, 60)
    online = rng.randint(0, total)
    people = rng.randint(500, 50000)
    values = {
        "举办科技活动总数": total, "其中：线上活动": online, "其中：线下活动": total - online,
        "参与公众人数": people, "其中：青少年参与人数": rng.randint(0, people),
        "参与科技工作者人数": rng.randint(10, 900), "参与单位数": rng.randint(1, 40),
        "开放科普场馆（基地）数": rng.randint(0, 9), "发放科普资料": rng.randint(100, 20000),
        "媒体报道数": rng.randint(0, 50), "新媒体传播量（直播、短视频、H5）": rng.randint(0, 900000),
        "投入经费": round(rng.uniform(0.5, 80.0), 2), "重点示范活动数": rng.randint(0, min(total, 3)),
    }
    value_col = None
    for row in ws.iter_rows():
        for cell in row:
            text = norm(cell.value) if cell.value is not None else ""
            if text == "数量":
                value_col = cell.column
            if text.startswith("填报单位"):
                ws.cell(row=cell.row, column=cell.column + 1, value=unit_name)
    for row in ws.iter_rows():
        for cell in row:
            if cell.value is None:
                continue
            text = norm(cell.value)
            for label in LABELS:
                if text == norm(label) and value_col:
                    ws.cell(row=cell.row, column=value_col, value=values[label])
            if text == "重点示范活动名称及简介":
                ws.cell(row=cell.row, column=cell.column + 1, value=f"科普进社区活动{rng.randint(1, 999)}场")
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def report(unit_name, rng):
    d = docx.Document()
    d.add_heading(f"{unit_name}2023年科技活动周工作总结", 1)
    for i in range(6):
        d.add_paragraph(
            f"根据市科技活动周组委会的统一部署，{unit_name}围绕“热爱科学 崇尚科学”主题，"
            f"组织开展了第{i + 1}类科普活动{rng.randint(2, 40)}场，参与群众{rng.randint(100, 9000)}人次，"
            f"发放科普资料{rng.randint(100, 5000)}份，取得了良好的社会效果。科技活动周期间，"
            f"我单位还通过新媒体平台发布科普内容{rng.randint(1, 60)}条。"
        )
    out = io.BytesIO()
    d.save(out)
    return out.getvalue()


def box(kind, payload):
    return struct.pack(">I", 8 + len(payload)) + kind + payload


def mp4(seconds, size, rng):
    ftyp = box(b"ftyp", b"isom" + struct.pack(">I", 512) + b"isomiso2avc1mp41")
    mvhd = box(b"mvhd", struct.pack(">IIIII", 0, 0, 0, 1000, seconds * 1000) + bytes(80))
    moov = box(b"moov", mvhd)
    pad = max(0, size - len(ftyp) - len(moov) - 8)
    return ftyp + moov + box(b"free", rng.randbytes(pad))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("n", type=int)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--video-kb", type=int, default=40)
    a = ap.parse_args()
    rng = random.Random(a.seed)
    out = Path(a.out)
    (out / "mail").mkdir(parents=True, exist_ok=True)
    units = [(f"bench-{i:02}", f"测试单位{i:02}", f"unit{i:02}@bench.example") for i in range(UNITS)]
    with open(out / "roster.csv", "w", encoding="utf-8") as f:
        f.write("id,name,aliases,emails,group\n")
        for uid, name, email in units:
            f.write(f"{uid},{name},,{email},联席会议成员单位\n")
    start = datetime(2023, 6, 1, 9, 0, tzinfo=timezone(timedelta(hours=8)))
    total = 0
    for n in range(a.n):
        uid, name, email = units[n % UNITS]
        m = EmailMessage()
        m["From"] = f"{name} <{email}>"
        m["To"] = "kjhdz@bench.example"
        m["Subject"] = f"{name}报送2023年科技活动周材料"
        m["Date"] = format_datetime(start + timedelta(minutes=n))
        m["Message-ID"] = make_msgid(idstring=f"bench{n}", domain="bench.example")
        m.set_content(f"您好！\n\n附件是{name}2023年科技活动周统计表、总结报告和影像资料，请查收。\n\n{name}\n")
        m.add_attachment(table(name, rng), maintype="application",
                         subtype="vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                         filename=f"{name}科技活动周统计表.xlsx")
        m.add_attachment(report(name, rng), maintype="application",
                         subtype="vnd.openxmlformats-officedocument.wordprocessingml.document",
                         filename=f"{name}科技活动周总结报告.docx")
        seconds = rng.choice([45, 90, 120, 150, 170, 200])
        m.add_attachment(mp4(seconds, a.video_kb * 1024 + rng.randint(0, 4096), rng),
                         maintype="video", subtype="mp4", filename=f"{name}科普视频.mp4")
        raw = m.as_bytes()
        total += len(raw)
        (out / "mail" / f"{n:06}.eml").write_bytes(raw)
    print(f"{a.n} messages, {total / 1e6:.1f} MB, in {out / 'mail'}", file=sys.stderr)


if __name__ == "__main__":
    main()
