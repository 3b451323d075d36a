#!/usr/bin/env bash
# Idle cost of `reportbox run` (issue 12): CPU and RSS over 5 minutes of an empty mailbox under IDLE,
# after 20 s of start-up. The sleeps are the measuring window, not waits for something to happen.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --bin reportbox -q
eval "$(deploy/testenv/up.sh 2>/dev/null)"
W=/var/tmp/reportbox-idle; rm -rf $W; mkdir -p $W/store
printf 'id,name,aliases,emails,group\nbench-00,测试单位00,,unit00@bench.example,联席会议成员单位\n' > $W/roster.csv
psql -q "$DATABASE_URL" -c "DROP DATABASE IF EXISTS bench_idle WITH (FORCE)" -c "CREATE DATABASE bench_idle" >/dev/null
DB="${DATABASE_URL%/*}/bench_idle"
USER_ADDR="idle-$(date +%s)@$TESTENV_MAIL_DOMAIN"
for v in $(env | grep -o '^REPORTBOX_[A-Z_]*' || true); do unset "$v"; done
export REPORTBOX_DATABASE__URL="$DB" REPORTBOX_STORAGE__DIR=$W/store REPORTBOX_CAMPAIGN__ROSTER=$W/roster.csv \
REPORTBOX_MAILBOX__HOST=$TESTENV_IMAP_HOST REPORTBOX_MAILBOX__PORT=$TESTENV_IMAP_PORT REPORTBOX_MAILBOX__TLS=none \
REPORTBOX_MAILBOX__FOLDERS=INBOX REPORTBOX_MAILBOX__USERNAME=$USER_ADDR REPORTBOX_MAILBOX__PASSWORD=$TESTENV_MAIL_PASSWORD \
REPORTBOX_SMTP__HOST=$TESTENV_SMTP_HOST REPORTBOX_SMTP__PORT=$TESTENV_SMTP_PORT REPORTBOX_SMTP__TLS=none REPORTBOX_SMTP__USERNAME=
target/release/reportbox --config config/reportbox.toml migrate >/dev/null
target/release/reportbox --config config/reportbox.toml run 2>$W/log &
PID=$!
sleep 20   # start-up (login, first pass, IDLE) is not idle time
read -r a < <(awk '{print $14+$15}' /proc/$PID/stat)
sleep 300
read -r b < <(awk '{print $14+$15}' /proc/$PID/stat)
rss=$(awk '/VmRSS/ {print $2}' /proc/$PID/status); hwm=$(awk '/VmHWM/ {print $2}' /proc/$PID/status)
echo "idle 300 s: CPU $(( b - a )) ticks ($(getconf CLK_TCK)/s), RSS ${rss} KB, peak ${hwm} KB"
kill -TERM $PID; wait $PID || true
grep -c . $W/log || true
