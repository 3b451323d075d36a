#!/usr/bin/env bash
# Peak RSS of `reportbox once` on one large message (issue 12): builds a message carrying a
# MB-sized mp4 (default 110 MiB of random bytes, about 156 MB as mail), APPENDs it to a fresh
# loopback mailbox and times one pass with /usr/bin/time.   VIDEO_MIB=140 bench/big_message.sh
set -euo pipefail
cd "$(dirname "$0")/.."
eval "$(deploy/testenv/up.sh 2>/dev/null)"
cargo build --release --bin reportbox -q
W=/var/tmp/reportbox-big; rm -rf $W; mkdir -p $W/store
printf 'id,name,aliases,emails,group\nbench-00,测试单位00,,unit00@bench.example,联席会议成员单位\n' > $W/roster.csv
python3 - $W <<'PY'
import sys, os, random, struct
from email.message import EmailMessage
w=sys.argv[1]
def box(k,p): return struct.pack(">I",8+len(p))+k+p
size=int(os.environ.get("VIDEO_MIB","110"))*1024*1024
mp4=box(b"ftyp",b"isom"+struct.pack(">I",512)+b"isomiso2avc1mp41")+box(b"moov",box(b"mvhd",struct.pack(">IIIII",0,0,0,1000,120000)+bytes(80)))
mp4+=box(b"free",os.urandom(size))
m=EmailMessage(); m["From"]="测试单位00 <unit00@bench.example>"; m["To"]="k@bench.example"; m["Subject"]="测试单位00报送科技活动周材料"; m["Message-ID"]="<big-%d@bench.example>"%random.randint(0,1<<40)
m.set_content("附件是影像资料。")
m.add_attachment(mp4,maintype="video",subtype="mp4",filename="科普视频.mp4")
open(w+"/big.eml","wb").write(m.as_bytes())
PY
ls -la $W/big.eml
USER_ADDR="big-$(date +%s)@$TESTENV_MAIL_DOMAIN"
python3 - $W/big.eml "$USER_ADDR" <<'PY'
import imaplib, os, sys
m=imaplib.IMAP4(os.environ["TESTENV_IMAP_HOST"], int(os.environ["TESTENV_IMAP_PORT"]))
m.login(sys.argv[2], os.environ["TESTENV_MAIL_PASSWORD"]); m.append("INBOX",None,None,open(sys.argv[1],"rb").read()); m.logout()
PY
rm -f $W/big.eml
psql -q "$DATABASE_URL" -c "DROP DATABASE IF EXISTS bench_big WITH (FORCE)" -c "CREATE DATABASE bench_big" >/dev/null
DB="${DATABASE_URL%/*}/bench_big"
for v in $(env | grep -o '^REPORTBOX_[A-Z_]*' || true); do unset "$v"; done
REPORTBOX_DATABASE__URL="$DB" REPORTBOX_STORAGE__DIR=$W/store REPORTBOX_CAMPAIGN__ROSTER=$W/roster.csv \
REPORTBOX_MAILBOX__HOST=$TESTENV_IMAP_HOST REPORTBOX_MAILBOX__PORT=$TESTENV_IMAP_PORT REPORTBOX_MAILBOX__TLS=none \
REPORTBOX_MAILBOX__FOLDERS=INBOX REPORTBOX_MAILBOX__USERNAME=$USER_ADDR REPORTBOX_MAILBOX__PASSWORD=$TESTENV_MAIL_PASSWORD \
REPORTBOX_MAILBOX__MAX_MESSAGE_SIZE=314572800 REPORTBOX_SMTP__HOST=127.0.0.1 REPORTBOX_SMTP__PORT=9 REPORTBOX_SMTP__TLS=none REPORTBOX_SMTP__USERNAME= \
/usr/bin/time -f 'wall %e s, user %U s, sys %S s, peak RSS %M KB' target/release/reportbox --config config/reportbox.toml once
rm -rf $W
