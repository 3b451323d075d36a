#!/usr/bin/env bash
# Stop the local reportbox test stack started by up.sh (Postfix, Dovecot, PostgreSQL).
# The state (database, mailboxes, certificates, logs) is kept, so the next up.sh is fast.
# Options: --purge   also delete the state dir
# Env:     REPORTBOX_TESTENV_DIR  state dir (default /var/tmp/reportbox-testenv)
set -euo pipefail
trap 'echo "[testenv] ERROR: down.sh failed at line $LINENO: $BASH_COMMAND" >&2' ERR

usage() { sed -n '2,5p' "$0" | sed 's/^# \{0,1\}//' >&2; }
PURGE=0
for arg in "$@"; do
  case $arg in
    --purge) PURGE=1 ;;
    -h | --help) usage; exit 0 ;;
    *) echo "down.sh: unknown argument: $arg" >&2; usage; exit 2 ;;
  esac
done

T0=$EPOCHREALTIME
elapsed() { awk -v a="$T0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.2f", b - a }'; }
log() { printf '[testenv %6.2fs] %s\n' "$(elapsed)" "$*" >&2; }
die() { printf '[testenv] ERROR: %s\n' "$*" >&2; exit 1; }

[[ $(id -u) -eq 0 ]] || die "must run as root"
STATE_DIR=$(realpath -m -- "${REPORTBOX_TESTENV_DIR:-/var/tmp/reportbox-testenv}")
case $STATE_DIR in
  / | /tmp | /var/tmp | /var | /usr | /etc | /home | /root | /root/*) die "refusing STATE_DIR=$STATE_DIR" ;;
esac
cd /
if [[ ! -d $STATE_DIR ]]; then log "no state dir $STATE_DIR: nothing to do"; exit 0; fi
[[ -e $STATE_DIR/.reportbox-testenv ]] || die "$STATE_DIR has no .reportbox-testenv marker; not touching it"

exec 9>"$STATE_DIR/.lock"
flock -w 600 9 || die "timed out waiting for $STATE_DIR/.lock"

PG_BIN=/usr/lib/postgresql/15/bin
PF_MASTER_EXE=/usr/lib/postfix/sbin/master
PIDS=$STATE_DIR/pids
PGDATA=$STATE_DIR/pg/data
DC_RUN=$STATE_DIR/dovecot/run
PF_ETC=$STATE_DIR/postfix/etc PF_SPOOL=$STATE_DIR/postfix/spool

# alive PID COMM EXE: exists, not a zombie (kill -0 succeeds on zombies), expected comm and exe
alive() {
  local pid=$1 comm=$2 exe=$3 stat rest
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  stat=$(cat "/proc/$pid/stat" 2>/dev/null) || return 1
  rest=${stat##*) }
  [[ ${rest%% *} != [ZX] ]] || return 1
  [[ $(cat "/proc/$pid/comm" 2>/dev/null) == "$comm" && $(readlink "/proc/$pid/exe" 2>/dev/null) == "$exe" ]]
}
read_pid() { local l=; [[ -r $1 ]] && read -r l 2>/dev/null <"$1"; echo "${l//[^0-9]/}"; }   # first line, digits
# find_pid COMM EXE PIDFILE...: first live pid named in one of the files
find_pid() {
  local comm=$1 exe=$2 f p; shift 2
  for f in "$@"; do
    p=$(read_pid "$f")
    if alive "$p" "$comm" "$exe"; then echo "$p"; return 0; fi
  done
  return 1
}
wait_gone() { # PID COMM EXE SECONDS
  local end=$((SECONDS + $4))
  while alive "$1" "$2" "$3"; do
    ((SECONDS < end)) || return 1
    sleep 0.05
  done
}
# All three are told to stop at once, then waited for (about 1 s in all, Dovecot's master
# being the slowest).
NAMES=() PIDL=() COMMS=() EXES=()
request_stop() { # NAME PID COMM EXE -- STOP-COMMAND...
  local name=$1 pid=$2 comm=$3 exe=$4; shift 5
  log "stopping $name (pid $pid)"
  "$@" </dev/null >/dev/null 2>&1 9>&- || kill -TERM "$pid" 2>/dev/null || true
  NAMES+=("$name") PIDL+=("$pid") COMMS+=("$comm") EXES+=("$exe")
}

if pid=$(find_pid master "$PF_MASTER_EXE" "$PF_SPOOL/pid/master.pid" "$PIDS/postfix.pid"); then
  request_stop postfix "$pid" master "$PF_MASTER_EXE" -- postfix -c "$PF_ETC" stop
fi
if pid=$(find_pid dovecot /usr/sbin/dovecot "$DC_RUN/master.pid" "$PIDS/dovecot.pid"); then
  # SIGTERM is what `dovecot stop` (doveadm stop) sends; doveadm then polls slowly (~2.2 s
  # instead of ~1.1 s), so we signal the master ourselves and poll /proc.
  request_stop dovecot "$pid" dovecot /usr/sbin/dovecot -- kill -TERM "$pid"
fi
if pid=$(find_pid postgres "$PG_BIN/postgres" "$PGDATA/postmaster.pid" "$PIDS/postgres.pid"); then
  # SIGINT = PostgreSQL "fast" shutdown: abort open transactions, checkpoint, exit
  request_stop postgres "$pid" postgres "$PG_BIN/postgres" -- kill -INT "$pid"
fi
S3_EXE=$(readlink -f /usr/bin/python3 2>/dev/null || true)
if [[ -n $S3_EXE ]] && pid=$(find_pid moto_server "$S3_EXE" "$PIDS/s3.pid"); then
  request_stop s3 "$pid" moto_server "$S3_EXE" -- kill -TERM "$pid"
fi
for i in "${!NAMES[@]}"; do
  if ! wait_gone "${PIDL[i]}" "${COMMS[i]}" "${EXES[i]}" 30; then
    log "${NAMES[i]} (pid ${PIDL[i]}) did not stop in 30 s; sending SIGKILL"
    kill -KILL "${PIDL[i]}" 2>/dev/null || true
    wait_gone "${PIDL[i]}" "${COMMS[i]}" "${EXES[i]}" 5 || die "${NAMES[i]} (pid ${PIDL[i]}) survives SIGKILL"
  fi
  log "${NAMES[i]} stopped"
done
rm -f "$PIDS"/*.pid

if ((PURGE)); then
  log "removing $STATE_DIR"
  rm -rf -- "$STATE_DIR"
fi
log "down in $(elapsed)s"
