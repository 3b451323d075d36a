#!/usr/bin/env bash
# The drain benchmark of issue 12, re-runnable:
#
#     bench/run.sh                 # 2,000 messages, 3 alternating repetitions
#     N=500 REPS=5 bench/run.sh
#     REPORTBOX_BIN=/path/to/older/reportbox N=300 bench/run.sh   # a before/after figure
#
# Fills one loopback IMAP mailbox (deploy/testenv's Dovecot) with N submissions whose attachment
# bytes all differ (bench/gen_mail.py), then times, in turn and alternating the order each
# repetition:
#   reportbox   `reportbox once` (release build): fetch, parse, identify, classify, validate,
#               store originals (fsync), record in PostgreSQL; sending is pointed at a closed
#               port so the figure is the drain alone
#   python      bench/baseline.py: imaplib + email + openpyxl + python-docx + psycopg
#   mbsync-fsync / mbsync-nofsync   a bare fetch into a Maildir (isync), FSync yes / no
# against a PostgreSQL cluster of its own with the default durability (fsync on,
# synchronous_commit on), unlike the test stack's. Wall time, CPU and peak RSS come from
# /usr/bin/time. Results: printed, and appended to bench/results.md.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-2000}
REPS=${REPS:-3}
WORK=${WORK:-/var/tmp/reportbox-bench}
eval "$(deploy/testenv/up.sh)"
mkdir -p "$WORK"

need() { command -v "$1" >/dev/null 2>&1; }
python3 -c 'import openpyxl, docx, psycopg' 2>/dev/null ||
  pip install -q openpyxl python-docx 'psycopg[binary]' >/dev/null 2>&1
need mbsync || { DEBIAN_FRONTEND=noninteractive apt-get install -y -q isync >/dev/null; }
[[ -x /usr/bin/time ]] || { DEBIAN_FRONTEND=noninteractive apt-get install -y -q time >/dev/null; }
# REPORTBOX_BIN=path times that binary instead (an earlier build, for a before/after figure).
if [[ -n ${REPORTBOX_BIN:-} ]]; then
  BIN=$REPORTBOX_BIN
else
  cargo build --release --bin reportbox -q
  BIN=$PWD/target/release/reportbox
fi

# ---- a PostgreSQL with its default durability
PG_BIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
PGD=$WORK/pg PGPORT_BENCH=55439
if [[ ! -s $PGD/PG_VERSION ]]; then
  rm -rf "$PGD"; mkdir -p "$PGD"; chown postgres:postgres "$PGD"
  runuser -u postgres -- "$PG_BIN/initdb" -D "$PGD" -U postgres -A trust -E UTF8 --locale=C.UTF-8 \
    --no-instructions >/dev/null
  cat >>"$PGD/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $PGPORT_BENCH
unix_socket_directories = '$PGD'
max_connections = 50
CONF
fi
if ! runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$PGD" status >/dev/null 2>&1; then
  runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$PGD" -l "$PGD/log" -w -s start
fi
ADMIN=postgres://postgres@127.0.0.1:$PGPORT_BENCH/postgres
fresh_db() {
  psql -q "$ADMIN" -c "DROP DATABASE IF EXISTS $1 WITH (FORCE)" -c "CREATE DATABASE $1" >/dev/null
  echo "postgres://postgres@127.0.0.1:$PGPORT_BENCH/$1"
}

# ---- the messages, once per N
GEN=$WORK/gen-$N
[[ -s $GEN/roster.csv ]] || python3 bench/gen_mail.py "$GEN" "$N"
BYTES=$(du -sb "$GEN/mail" | cut -f1)
USER_ADDR="bench-$N-$(date +%s)@$TESTENV_MAIL_DOMAIN"
python3 - "$GEN/mail" "$USER_ADDR" <<'PY'
import imaplib, os, sys
d, user = sys.argv[1], sys.argv[2]
m = imaplib.IMAP4(os.environ["TESTENV_IMAP_HOST"], int(os.environ["TESTENV_IMAP_PORT"]))
m.login(user, os.environ["TESTENV_MAIL_PASSWORD"])
for f in sorted(os.listdir(d)):
    m.append("INBOX", None, None, open(os.path.join(d, f), "rb").read())
m.logout()
PY

measure() { # name, then the command; prints "name wall user sys maxrss_kb"
  local name=$1; shift
  local t; t=$(mktemp)
  /usr/bin/time -f '%e %U %S %M' -o "$t" "$@" >"$WORK/$name.out" 2>"$WORK/$name.err" ||
    { echo "$name failed:" >&2; tail -5 "$WORK/$name.err" >&2; exit 1; }
  echo "$name $(cat "$t")"; rm -f "$t"
}

run_reportbox() {
  local db store; db=$(fresh_db bench_reportbox); store=$WORK/rb-store
  rm -rf "$store"; mkdir -p "$store"
  (
    for v in $(env | grep -o '^REPORTBOX_[A-Z_]*' || true); do unset "$v"; done
    export REPORTBOX_DATABASE__URL="$db" REPORTBOX_STORAGE__DIR="$store" \
      REPORTBOX_CAMPAIGN__ROSTER="$GEN/roster.csv" \
      REPORTBOX_MAILBOX__HOST="$TESTENV_IMAP_HOST" REPORTBOX_MAILBOX__PORT="$TESTENV_IMAP_PORT" \
      REPORTBOX_MAILBOX__TLS=none REPORTBOX_MAILBOX__FOLDERS=INBOX \
      REPORTBOX_MAILBOX__USERNAME="$USER_ADDR" REPORTBOX_MAILBOX__PASSWORD="$TESTENV_MAIL_PASSWORD" \
      REPORTBOX_SMTP__HOST=127.0.0.1 REPORTBOX_SMTP__PORT=9 REPORTBOX_SMTP__TLS=none \
      REPORTBOX_SMTP__USERNAME=
    measure reportbox "$BIN" --config config/reportbox.toml once
  )
}

run_python() {
  local db store; db=$(fresh_db bench_python); store=$WORK/py-store
  rm -rf "$store"; mkdir -p "$store"
  measure python python3 bench/baseline.py --imap "$TESTENV_IMAP_HOST:$TESTENV_IMAP_PORT" \
    --user "$USER_ADDR" --password "$TESTENV_MAIL_PASSWORD" --db "$db" --store "$store" \
    --roster "$GEN/roster.csv"
}

run_mbsync() { # yes | no
  local dir=$WORK/maildir-$1 rc=$WORK/mbsyncrc-$1
  rm -rf "$dir"; mkdir -p "$dir"
  cat >"$rc" <<RC
FSync $1
IMAPAccount bench
Host $TESTENV_IMAP_HOST
Port $TESTENV_IMAP_PORT
User $USER_ADDR
Pass $TESTENV_MAIL_PASSWORD
SSLType None
AuthMechs LOGIN

IMAPStore remote
Account bench

MaildirStore local
Path $dir/
Inbox $dir/INBOX
SubFolders Verbatim

Channel bench
Far :remote:
Near :local:
Patterns INBOX
Sync Pull
Create Near
SyncState *
RC
  local name=mbsync-nofsync; [[ $1 == yes ]] && name=mbsync-fsync
  measure "$name" mbsync -q -c "$rc" bench
}

RESULTS=$WORK/results-$N.txt
: >"$RESULTS"
tools=(reportbox python mbsync-fsync mbsync-nofsync)
for ((rep = 0; rep < REPS; rep++)); do
  # Rotate the order so that no tool always runs first (cold caches) or last.
  for ((k = 0; k < ${#tools[@]}; k++)); do
    tool=${tools[$(((k + rep) % ${#tools[@]}))]}
    case $tool in
      reportbox) run_reportbox ;;
      python) run_python ;;
      mbsync-fsync) run_mbsync yes ;;
      mbsync-nofsync) run_mbsync no ;;
    esac | tee -a "$RESULTS"
  done
done
grep -h "收取完成" "$WORK/reportbox.out" || true
tail -1 "$WORK/python.out" || true

python3 - "$RESULTS" "$N" "$BYTES" "$REPS" <<'PY' | tee -a bench/results.md
import statistics, sys, datetime, platform, os
path, n, size, reps = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
rows = {}
for line in open(path):
    name, wall, user, sys_, rss = line.split()
    rows.setdefault(name, []).append((float(wall), float(user) + float(sys_), int(rss) / 1024))
med = {k: (statistics.median(w for w, _, _ in v), statistics.median(c for _, c, _ in v),
           max(r for _, _, r in v)) for k, v in rows.items()}
rb = med["reportbox"][0]
print(f"\n### {datetime.date.today()}: {n} messages, {size / 1e6:.1f} MB, median of {reps} alternating repetitions ({os.cpu_count()} cores)\n")
print("| | wall (s) | CPU (s) | peak RSS (MiB) | wall / reportbox's wall |")
print("| --- | --- | --- | --- | --- |")
for k in ["reportbox", "python", "mbsync-fsync", "mbsync-nofsync"]:
    w, c, r = med[k]
    print(f"| {k} | {w:.2f} | {c:.2f} | {r:.0f} | {w / rb:.2f} |")
print(f"\nGoals (issue 12): python / reportbox >= 20 (now {med['python'][0] / rb:.1f}); "
      f"reportbox / mbsync-fsync <= 3 (now {rb / med['mbsync-fsync'][0]:.1f}).")
PY
