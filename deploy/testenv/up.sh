#!/usr/bin/env bash
# Start (or make sure is running) the local reportbox test stack on 127.0.0.1:
#   PostgreSQL 15 :55432, Dovecot IMAP :10143 (+STARTTLS) / IMAPS :10993, LMTP :10024,
#   Postfix SMTP :10025 (+STARTTLS, optional AUTH) / SMTPS :10465, only @example.test.
# Idempotent: installs only missing packages, starts only what is not running.
# Progress goes to stderr; stdout carries only `export VAR=...` lines, so
#   eval "$(deploy/testenv/up.sh)"
# works. The same lines are written to $STATE_DIR/env.sh.
# Options: --only-postgres   start only PostgreSQL (all exports are still printed)
# Env:     REPORTBOX_TESTENV_DIR  state dir (default /var/tmp/reportbox-testenv)
#          TESTENV_EXTRA_USERS    extra mailbox local parts, e.g. "a b"
set -euo pipefail
trap 'echo "[testenv] ERROR: up.sh failed at line $LINENO: $BASH_COMMAND" >&2' ERR

usage() { sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//' >&2; }

ONLY_PG=0
for arg in "$@"; do
  case $arg in
    --only-postgres) ONLY_PG=1 ;;
    -h | --help) usage; exit 0 ;;
    *) echo "up.sh: unknown argument: $arg" >&2; usage; exit 2 ;;
  esac
done

T0=$EPOCHREALTIME
log() { printf '[testenv %6.2fs] %s\n' "$(bc_elapsed)" "$*" >&2; }
bc_elapsed() { awk -v a="$T0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.2f", b - a }'; }
die() { printf '[testenv] ERROR: %s\n' "$*" >&2; exit 1; }

[[ $(id -u) -eq 0 ]] || die "must run as root (it installs packages and runs daemons as other users)"

# ---------------------------------------------------------------- constants
PG_PORT=55432 S3_PORT=10900 IMAP_PORT=10143 IMAPS_PORT=10993 LMTP_PORT=10024 SMTP_PORT=10025 SMTPS_PORT=10465
MAIL_DOMAIN=example.test MAIL_PASSWORD=secret MAIL_USER=rbtestmail
PG_BIN=/usr/lib/postgresql/15/bin
PF_MASTER_EXE=/usr/lib/postfix/sbin/master
USERS=(intake coordinator)
for i in $(seq 1 20); do USERS+=("unit$i"); done
read -r -a EXTRA_USERS <<<"${TESTENV_EXTRA_USERS:-}"
USERS+=("${EXTRA_USERS[@]}")

# ---------------------------------------------------------------- state dir
SELF=$(realpath -- "$0")
RAW_STATE_DIR=${REPORTBOX_TESTENV_DIR:-/var/tmp/reportbox-testenv}
STATE_DIR=$(realpath -m -- "$RAW_STATE_DIR")
case $STATE_DIR in
  / | /tmp | /var/tmp | /var | /usr | /etc | /home | /root | /root/*)
    die "refusing STATE_DIR=$STATE_DIR (use a dedicated dir such as /var/tmp/reportbox-testenv; not /tmp itself, not under /root)" ;;
esac
# The daemons outlive this script: they must not keep any fd of the caller (a pipe kept
# open by a daemon makes `$(up.sh)` or a CI step wait forever). stdio is redirected per
# daemon below; here every other inherited fd is closed, except bash's own script fd.
for fdpath in "/proc/$$/fd"/*; do
  fd=${fdpath##*/}
  [[ $fd =~ ^[0-9]+$ ]] || continue
  ((fd > 2)) || continue
  [[ $(readlink "$fdpath" 2>/dev/null) == "$SELF" ]] && continue
  exec {fd}>&- || true
done
unset fd fdpath SELF
cd /   # daemons run as postgres/postfix/dovecot users must not inherit an unreadable cwd

mkdir -p "$STATE_DIR"
chmod 0755 "$STATE_DIR"
touch "$STATE_DIR/.reportbox-testenv"   # marker: down.sh --purge only removes dirs that carry it

# Serialise concurrent up.sh/down.sh on one state dir. Every daemon gets 9>&- so it does
# not keep holding the lock.
exec 9>"$STATE_DIR/.lock"
if ! flock -n 9; then
  log "another up.sh/down.sh holds $STATE_DIR/.lock; waiting"
  flock -w 600 9 || die "timed out waiting for $STATE_DIR/.lock"
fi

PIDS=$STATE_DIR/pids TLS=$STATE_DIR/tls
PG_DIR=$STATE_DIR/pg PGDATA=$STATE_DIR/pg/data PG_RUN=$STATE_DIR/pg/run PG_LOG=$STATE_DIR/pg/postgres.log
DC_DIR=$STATE_DIR/dovecot DC_CONF=$STATE_DIR/dovecot/dovecot.conf DC_LOG=$STATE_DIR/dovecot/dovecot.log
DC_RUN=$STATE_DIR/dovecot/run
MAIL_ROOT=$STATE_DIR/mail
PF_DIR=$STATE_DIR/postfix PF_ETC=$STATE_DIR/postfix/etc PF_SPOOL=$STATE_DIR/postfix/spool
PF_DATA=$STATE_DIR/postfix/data PF_LOG=$STATE_DIR/postfix/postfix.log

# ---------------------------------------------------------------- helpers
# alive PID COMM [EXE]: process exists, is not a zombie, and has the expected comm (and exe).
# kill -0 is not enough: PID 1 here reaps orphans lazily, and kill -0 succeeds on a zombie.
alive() {
  local pid=$1 comm=$2 exe=${3:-} stat rest
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  stat=$(cat "/proc/$pid/stat" 2>/dev/null) || return 1
  rest=${stat##*) }
  [[ ${rest%% *} != [ZX] ]] || return 1
  [[ $(cat "/proc/$pid/comm" 2>/dev/null) == "$comm" ]] || return 1
  [[ -z $exe || $(readlink "/proc/$pid/exe" 2>/dev/null) == "$exe" ]]
}
read_pid() { local l=; [[ -r $1 ]] && read -r l 2>/dev/null <"$1"; echo "${l//[^0-9]/}"; }   # first line, digits
# listening PORT: some socket is in LISTEN on that TCP port (no connection made, so no log noise).
listening() {
  local hex; hex=$(printf '%04X' "$1")
  grep -qE "^ *[0-9]+: [0-9A-F]{8}:$hex [0-9A-F]{8}:[0-9A-F]{4} 0A " /proc/net/tcp
}
wait_listening() { # PORT NAME SECONDS
  local end=$((SECONDS + $3))
  until listening "$1"; do
    ((SECONDS < end)) || return 1
    sleep 0.05
  done
}
# write_if_changed DEST < content ; returns 0 if DEST was (re)written
write_if_changed() {
  local dst=$1 tmp="$1.tmp.$$"
  cat >"$tmp"
  if [[ -f $dst ]] && cmp -s "$tmp" "$dst"; then rm -f "$tmp"; return 1; fi
  mv -f "$tmp" "$dst"
}
# pids of processes whose cwd is DIR, e.g. orphaned postgres backends after kill -9
# (a zombie has no cwd any more, so it is not listed)
procs_in_dir() {
  { find /proc -mindepth 2 -maxdepth 2 -name cwd -lname "$1" 2>/dev/null || true; } | cut -d/ -f3 | xargs
}

# ---------------------------------------------------------------- packages
# systemd only for its offline tools (systemd-analyze verify/security, systemd-sysusers,
# systemd-tmpfiles) that tests/unit_file.rs runs on deploy/; nothing here starts it as PID 1.
PKGS=(postgresql-15 openssl systemd)
((ONLY_PG)) || PKGS+=(dovecot-imapd dovecot-lmtpd postfix)
# tests/desk.rs prints 汇总表.xlsx to PDF with LibreOffice and reads it back with pdftotext;
# without a CJK font the Chinese would print as empty boxes and read back as nothing.
((ONLY_PG)) || PKGS+=(libreoffice-calc-nogui poppler-utils fonts-wqy-microhei)
# tests/desk.rs renders the daily email's HTML to a PNG with headless Chromium.
((ONLY_PG)) || PKGS+=(chromium)
# tests/storage_s3.rs and tests/failover_s3.rs: an S3 server (moto, from PyPI) in a venv.
((ONLY_PG)) || PKGS+=(python3-venv)
MISSING=()
for p in "${PKGS[@]}"; do
  [[ $(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true) == "install ok installed" ]] || MISSING+=("$p")
done
if ((${#MISSING[@]})); then
  log "installing missing packages: ${MISSING[*]} (log: $STATE_DIR/apt.log)"
  export DEBIAN_FRONTEND=noninteractive
  CREATED_POLICY=0
  if [[ ! -e /usr/sbin/policy-rc.d ]]; then
    # keep the distro's init scripts from starting dovecot/postfix on 0.0.0.0:143/993/25
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod 0755 /usr/sbin/policy-rc.d
    CREATED_POLICY=1
  fi
  if [[ " ${MISSING[*]} " == *" postfix "* ]]; then
    # no live /etc/postfix/main.cf: our instance uses its own config dir
    echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
  fi
  APT=(apt-get -q -y -o DPkg::Lock::Timeout=600 -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold)
  rc=0
  "${APT[@]}" install --no-install-recommends "${MISSING[@]}" </dev/null >"$STATE_DIR/apt.log" 2>&1 9>&- || rc=$?
  if ((rc)); then
    log "apt-get install failed (rc=$rc); running apt-get update and retrying"
    "${APT[@]}" update </dev/null >>"$STATE_DIR/apt.log" 2>&1 9>&- || true
    rc=0
    "${APT[@]}" install --no-install-recommends "${MISSING[@]}" </dev/null >>"$STATE_DIR/apt.log" 2>&1 9>&- || rc=$?
  fi
  ((CREATED_POLICY)) && rm -f /usr/sbin/policy-rc.d
  if ((rc)); then
    tail -n 30 "$STATE_DIR/apt.log" >&2
    die "apt-get install ${MISSING[*]} failed (rc=$rc)"
  fi
  log "packages installed"
fi
[[ -x $PG_BIN/postgres ]] || die "$PG_BIN/postgres missing although postgresql-15 is installed"

# ---------------------------------------------------------------- users, dirs
if ! getent passwd "$MAIL_USER" >/dev/null; then
  useradd --system --user-group --no-create-home --home-dir /nonexistent \
    --shell /usr/sbin/nologin "$MAIL_USER" 2>/dev/null || getent passwd "$MAIL_USER" >/dev/null ||
    die "could not create system user $MAIL_USER"
fi
MAIL_UID=$(id -u "$MAIL_USER") MAIL_GID=$(id -g "$MAIL_USER")

runuser -u postgres -- test -x "$STATE_DIR" ||
  die "$STATE_DIR is not traversable by user postgres (a parent dir lacks o+x?)"
mkdir -p "$PIDS" "$TLS"
install -d -o postgres -g postgres -m 0700 "$PG_DIR"
install -d -o postgres -g postgres -m 0700 "$PG_RUN"

# ---------------------------------------------------------------- TLS: CA + leaf
# rustls/webpki refuse a CA:TRUE certificate used as a server's own certificate, so a
# private CA signs a separate leaf (CA:FALSE, serverAuth, DNS:localhost, IP:127.0.0.1).
TLS_CHANGED=0
cat >"$TLS/openssl.cnf" <<'EOF'
[req]
distinguished_name = dn
prompt = no
[dn]
CN = reportbox testenv
[v3_ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[v3_leaf]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost, IP:127.0.0.1
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid, issuer
EOF
if [[ ! -s $TLS/ca.crt || ! -s $TLS/ca.key ]] || ! openssl x509 -in "$TLS/ca.crt" -noout -checkend 86400 >/dev/null 2>&1; then
  log "creating test CA"
  (umask 077 && openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days 3650 \
    -config "$TLS/openssl.cnf" -extensions v3_ca -subj "/CN=reportbox testenv CA" \
    -keyout "$TLS/ca.key" -out "$TLS/ca.crt" 2>/dev/null)
  rm -f "$TLS/server.crt"
fi
if [[ ! -s $TLS/server.crt || ! -s $TLS/server.key ]] ||
  ! openssl verify -CAfile "$TLS/ca.crt" "$TLS/server.crt" >/dev/null 2>&1 ||
  ! openssl x509 -in "$TLS/server.crt" -noout -checkend 86400 >/dev/null 2>&1; then
  log "creating server certificate (localhost, 127.0.0.1)"
  (umask 077 && openssl req -new -newkey rsa:2048 -nodes -sha256 -config "$TLS/openssl.cnf" \
    -subj "/CN=localhost" -keyout "$TLS/server.key" -out "$TLS/server.csr" 2>/dev/null)
  openssl x509 -req -in "$TLS/server.csr" -CA "$TLS/ca.crt" -CAkey "$TLS/ca.key" \
    -set_serial "0x$(openssl rand -hex 16)" -days 825 -sha256 \
    -extfile "$TLS/openssl.cnf" -extensions v3_leaf -out "$TLS/server.crt" 2>/dev/null
  rm -f "$TLS/server.csr"
  TLS_CHANGED=1
fi
chmod 0755 "$TLS"; chmod 0644 "$TLS/ca.crt" "$TLS/server.crt"; chmod 0600 "$TLS/ca.key" "$TLS/server.key"

# ---------------------------------------------------------------- PostgreSQL
pg() { runuser -u postgres -- "$@" 9>&-; }   # callers give stdin (</dev/null for daemons)
pg_pid() { local p; p=$(read_pid "$PGDATA/postmaster.pid"); alive "$p" postgres "$PG_BIN/postgres" && echo "$p"; }

if [[ ! -s $PGDATA/PG_VERSION ]]; then
  log "initdb $PGDATA"
  rm -rf "$PGDATA"
  pg "$PG_BIN/initdb" -D "$PGDATA" -U postgres -A trust -E UTF8 --locale=C.UTF-8 \
    --no-sync --no-instructions </dev/null >"$PG_DIR/initdb.log" 2>&1 || { cat "$PG_DIR/initdb.log" >&2; die "initdb failed"; }
  echo "include_if_exists = 'testenv.conf'" >>"$PGDATA/postgresql.conf"
fi
PG_CONF_CHANGED=0
write_if_changed "$PGDATA/testenv.conf" <<EOF && PG_CONF_CHANGED=1
# generated by deploy/testenv/up.sh
listen_addresses = '127.0.0.1'
port = $PG_PORT
unix_socket_directories = '$PG_RUN'
max_connections = 200
shared_buffers = 64MB
fsync = off
synchronous_commit = off
full_page_writes = off
password_encryption = scram-sha-256
log_min_messages = warning
EOF
write_if_changed "$PGDATA/pg_hba.conf" <<EOF && PG_CONF_CHANGED=1
# generated by deploy/testenv/up.sh
local all all                trust
host  all all 127.0.0.1/32   scram-sha-256
EOF
chown postgres:postgres "$PGDATA/testenv.conf" "$PGDATA/pg_hba.conf"

if PGPID=$(pg_pid); then
  log "postgres already running (pid $PGPID)"
  ((PG_CONF_CHANGED)) && { log "postgres config changed: reloading"; kill -HUP "$PGPID"; }
else
  if [[ -e $PGDATA/postmaster.pid ]]; then
    # Stale lock (e.g. after kill -9; the dead postmaster may still be a zombie, which
    # PostgreSQL's own kill(pid, 0) check takes for a live postmaster). Wait for orphaned
    # backends to exit, then remove the lock files.
    for _ in $(seq 1 100); do
      left=$(procs_in_dir "$PGDATA")
      [[ -z $left ]] && break
      sleep 0.1
    done
    [[ -z $left ]] || die "old postgres processes still running in $PGDATA: $left"
    log "removing stale postgres lock files"
    rm -f "$PGDATA/postmaster.pid" "$PG_RUN"/.s.PGSQL.*.lock
  fi
  log "starting postgres on 127.0.0.1:$PG_PORT"
  ok=0
  for attempt in 1 2 3; do
    if pg "$PG_BIN/pg_ctl" -D "$PGDATA" -l "$PG_LOG" -w -t 60 -s start </dev/null >>"$PG_DIR/pg_ctl.log" 2>&1; then ok=1; break; fi
    log "postgres start attempt $attempt failed; retrying"
    sleep 1
  done
  ((ok)) || { tail -n 20 "$PG_LOG" >&2; die "postgres did not start (log: $PG_LOG)"; }
  PGPID=$(pg_pid) || die "postgres started but no live postmaster found"
fi
echo "$PGPID" >"$PIDS/postgres.pid"
wait_listening "$PG_PORT" postgres 30 || die "postgres (pid $PGPID) is not listening on $PG_PORT"
pg "$PG_BIN/psql" -h "$PG_RUN" -p "$PG_PORT" -U postgres -d postgres -qAtX -v ON_ERROR_STOP=1 >/dev/null <<'EOF' || die "creating role/database failed"
DO $$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'reportbox') THEN
    CREATE ROLE reportbox LOGIN CREATEDB SUPERUSER PASSWORD 'reportbox';
  END IF;
END $$;
SELECT 'CREATE DATABASE reportbox OWNER reportbox'
  WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = 'reportbox') \gexec
EOF
log "postgres ready"

# ---------------------------------------------------------------- Dovecot
dc_pid() { local p; p=$(read_pid "$DC_RUN/master.pid"); alive "$p" dovecot /usr/sbin/dovecot && echo "$p"; }
pf_pid() { local p; p=$(read_pid "$PF_SPOOL/pid/master.pid"); alive "$p" master "$PF_MASTER_EXE" && echo "$p"; }

if ((!ONLY_PG)); then
  getent passwd postfix >/dev/null || die "user postfix missing (postfix package not installed correctly?)"
  runuser -u postfix -- test -x "$STATE_DIR" || die "$STATE_DIR is not traversable by user postfix"
  install -d -m 0755 "$DC_DIR"
  install -d -m 0750 "$DC_DIR/state"
  install -d -m 0700 -o "$MAIL_UID" -g "$MAIL_GID" "$MAIL_ROOT"

  DC_CHANGED=0
  {
    for u in "${USERS[@]}"; do printf '%s@%s:{PLAIN}%s::::::\n' "$u" "$MAIL_DOMAIN" "$MAIL_PASSWORD"; done
  } | write_if_changed "$DC_DIR/passwd" || true
  chown root:dovecot "$DC_DIR/passwd"; chmod 0640 "$DC_DIR/passwd"

  DH_LINE=""
  [[ -r /usr/share/dovecot/dh.pem ]] && DH_LINE="ssl_dh = </usr/share/dovecot/dh.pem"
  write_if_changed "$DC_CONF" <<EOF && DC_CHANGED=1
# generated by deploy/testenv/up.sh -- nothing is read from /etc/dovecot
instance_name = reportbox-testenv
base_dir = $DC_RUN
state_dir = $DC_DIR/state
log_path = $DC_LOG
protocols = imap lmtp
listen = 127.0.0.1

disable_plaintext_auth = no
auth_mechanisms = plain login
auth_username_format = %Lu
auth_failure_delay = 0
auth_verbose = yes

passdb {
  driver = passwd-file
  args = scheme=PLAIN $DC_DIR/passwd
}
passdb {
  driver = static
  args = password=$MAIL_PASSWORD
  username_filter = *@$MAIL_DOMAIN
}
userdb {
  driver = passwd-file
  args = $DC_DIR/passwd
  default_fields = uid=$MAIL_UID gid=$MAIL_GID home=$MAIL_ROOT/%d/%n
}
userdb {
  driver = static
  args = uid=$MAIL_UID gid=$MAIL_GID home=$MAIL_ROOT/%d/%n allow_all_users=yes
}
first_valid_uid = $MAIL_UID
last_valid_uid = $MAIL_UID
first_valid_gid = $MAIL_GID
last_valid_gid = $MAIL_GID

mail_location = maildir:~/Maildir
namespace inbox {
  inbox = yes
}
mailbox_idle_check_interval = 1 secs

ssl = yes
ssl_cert = <$TLS/server.crt
ssl_key = <$TLS/server.key
$DH_LINE

protocol imap {
  imap_id_log = *
  mail_max_userip_connections = 200
}
protocol lmtp {
  postmaster_address = postmaster@$MAIL_DOMAIN
}
service imap-login {
  inet_listener imap {
    address = 127.0.0.1
    port = $IMAP_PORT
  }
  inet_listener imaps {
    address = 127.0.0.1
    port = $IMAPS_PORT
    ssl = yes
  }
}
service lmtp {
  inet_listener lmtp {
    address = 127.0.0.1
    port = $LMTP_PORT
  }
}
# no auth penalty: otherwise every login waits 4-5 s after a few failed ones
service anvil {
  unix_listener anvil-auth-penalty {
    mode = 0
  }
}
# SASL for Postfix
service auth {
  unix_listener auth-postfix {
    mode = 0660
    user = postfix
    group = postfix
  }
}
EOF

  if DCPID=$(dc_pid); then
    log "dovecot already running (pid $DCPID)"
    if ((DC_CHANGED || TLS_CHANGED)); then
      log "dovecot config/cert changed: reloading"
      doveadm -c "$DC_CONF" reload </dev/null >&2 9>&-
    fi
  else
    if [[ -e $DC_RUN/master.pid ]]; then log "removing stale dovecot master.pid"; rm -f "$DC_RUN/master.pid"; fi
    log "starting dovecot (imap $IMAP_PORT, imaps $IMAPS_PORT, lmtp $LMTP_PORT)"
    ok=0
    for attempt in 1 2 3; do
      if dovecot -c "$DC_CONF" </dev/null >>"$DC_LOG" 2>&1 9>&-; then ok=1; break; fi
      log "dovecot start attempt $attempt failed; retrying"
      sleep 1
    done
    ((ok)) || { tail -n 20 "$DC_LOG" >&2; die "dovecot did not start (log: $DC_LOG)"; }
    for _ in $(seq 1 100); do DCPID=$(dc_pid) && break; sleep 0.05; done
    [[ -n ${DCPID:-} ]] || { tail -n 20 "$DC_LOG" >&2; die "dovecot exited right after start (log: $DC_LOG)"; }
  fi
  echo "$DCPID" >"$PIDS/dovecot.pid"
  for port in "$IMAP_PORT" "$IMAPS_PORT" "$LMTP_PORT"; do
    wait_listening "$port" dovecot 15 || { tail -n 20 "$DC_LOG" >&2; die "dovecot is not listening on $port"; }
  done
  log "dovecot ready"

  # -------------------------------------------------------------- Postfix
  install -d -m 0755 "$PF_DIR" "$PF_ETC"
  install -d -m 0755 -o root -g root "$PF_SPOOL"
  install -d -m 0700 -o postfix -g postfix "$PF_DATA"
  PF_CHANGED=0
  write_if_changed "$PF_ETC/main.cf" <<EOF && PF_CHANGED=1
# generated by deploy/testenv/up.sh -- /etc/postfix is not used
compatibility_level = 3.6
queue_directory = $PF_SPOOL
data_directory = $PF_DATA
mail_owner = postfix
setgid_group = postdrop
maillog_file = $PF_LOG
maillog_file_prefixes = $PF_DIR
myhostname = mail.$MAIL_DOMAIN
mydomain = $MAIL_DOMAIN
myorigin = $MAIL_DOMAIN
mydestination =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
alias_maps =
alias_database =
local_recipient_maps =
local_transport = error:local delivery is disabled in the testenv
biff = no
append_dot_mydomain = no

# only @$MAIL_DOMAIN is accepted, and delivered over LMTP into Dovecot
virtual_mailbox_domains = $MAIL_DOMAIN
virtual_mailbox_maps = static:OK
virtual_transport = lmtp:inet:127.0.0.1:$LMTP_PORT
relay_domains =
smtpd_relay_restrictions = reject_unauth_destination
default_transport = error:outbound mail is disabled in the testenv
relay_transport = error:outbound mail is disabled in the testenv

smtpd_tls_security_level = may
smtpd_tls_cert_file = $TLS/server.crt
smtpd_tls_key_file = $TLS/server.key
smtpd_tls_loglevel = 1
smtpd_sasl_auth_enable = yes
smtpd_sasl_type = dovecot
smtpd_sasl_path = $DC_RUN/auth-postfix

# fast retries and no tarpitting, for tests
queue_run_delay = 1s
minimal_backoff_time = 1s
maximal_backoff_time = 10s
smtpd_error_sleep_time = 0
in_flow_delay = 0
message_size_limit = 52428800
EOF
  write_if_changed "$PF_ETC/master.cf" <<EOF && PF_CHANGED=1
# generated by deploy/testenv/up.sh; no chroot anywhere
# service  type  private unpriv chroot wakeup maxproc command
127.0.0.1:$SMTP_PORT inet n - n - - smtpd
127.0.0.1:$SMTPS_PORT inet n - n - - smtpd
  -o smtpd_tls_wrappermode=yes
  -o smtpd_tls_security_level=encrypt
pickup     unix  n - n 60   1 pickup
cleanup    unix  n - n -    0 cleanup
qmgr       unix  n - n 300  1 qmgr
tlsmgr     unix  - - n 1000? 1 tlsmgr
rewrite    unix  - - n -    - trivial-rewrite
bounce     unix  - - n -    0 bounce
defer      unix  - - n -    0 bounce
trace      unix  - - n -    0 bounce
verify     unix  - - n -    1 verify
flush      unix  n - n 1000? 0 flush
proxymap   unix  - - n -    - proxymap
proxywrite unix  - - n -    1 proxymap
smtp       unix  - - n -    - smtp
relay      unix  - - n -    - smtp
showq      unix  n - n -    - showq
error      unix  - - n -    - error
retry      unix  - - n -    - error
discard    unix  - - n -    - discard
local      unix  - n n -    - local
virtual    unix  - n n -    - virtual
lmtp       unix  - - n -    - lmtp
anvil      unix  - - n -    1 anvil
scache     unix  - - n -    1 scache
postlog    unix-dgram n - n - 1 postlogd
EOF
  pf_diag() { # postfix prints fatal errors only to a tty or syslog; `script` gives it a tty
    script -qec "postfix -c $(printf %q "$PF_ETC") check" /dev/null </dev/null 2>&1 9>&- | tail -n 20 >&2 || true
    tail -n 20 "$PF_LOG" >&2 2>/dev/null || true
  }
  if PFPID=$(pf_pid); then
    log "postfix already running (pid $PFPID)"
    if ((PF_CHANGED || TLS_CHANGED)); then
      log "postfix config/cert changed: reloading"
      postfix -c "$PF_ETC" reload </dev/null >>"$PF_LOG" 2>&1 9>&- || { pf_diag; die "postfix reload failed"; }
    fi
  else
    log "starting postfix (smtp $SMTP_PORT, smtps $SMTPS_PORT)"
    ok=0
    for attempt in 1 2 3; do
      if postfix -c "$PF_ETC" start </dev/null >>"$PF_LOG" 2>&1 9>&-; then ok=1; break; fi
      log "postfix start attempt $attempt failed; retrying"
      sleep 1
    done
    ((ok)) || { pf_diag; die "postfix did not start (log: $PF_LOG)"; }
    for _ in $(seq 1 100); do PFPID=$(pf_pid) && break; sleep 0.05; done
    [[ -n ${PFPID:-} ]] || { pf_diag; die "postfix master not running after start (log: $PF_LOG)"; }
  fi
  echo "$PFPID" >"$PIDS/postfix.pid"
  for port in "$SMTP_PORT" "$SMTPS_PORT"; do
    wait_listening "$port" postfix 15 || { pf_diag; die "postfix is not listening on $port"; }
  done
  log "postfix ready"
fi

# ---------------------------------------------------------------- S3 (moto server)
# A real S3 HTTP server on loopback for the S3 object store's tests. No Debian package ships
# one, so moto's server is installed once from PyPI into a venv under the state dir (about
# 3 minutes and 300 MB the first time, nothing after) and pinned. It keeps objects in memory:
# a restart empties every bucket, which the tests never rely on across runs.
MOTO_VERSION=5.2.5
S3_DIR=$STATE_DIR/s3 S3_VENV=$STATE_DIR/s3/venv S3_LOG=$STATE_DIR/s3/moto.log
S3_ACCESS_KEY=reportbox-test S3_SECRET_KEY=reportbox-test-secret
if ((!ONLY_PG)); then
  mkdir -p "$S3_DIR"
  if [[ $(cat "$S3_DIR/installed" 2>/dev/null) != "moto $MOTO_VERSION" ]]; then
    log "installing moto $MOTO_VERSION (S3 server) into $S3_VENV (log: $S3_DIR/pip.log)"
    rm -rf "$S3_VENV"
    /usr/bin/python3 -m venv "$S3_VENV" </dev/null >"$S3_DIR/pip.log" 2>&1 9>&- || die "python3 -m venv failed"
    "$S3_VENV/bin/pip" install -q "moto[s3,server]==$MOTO_VERSION" </dev/null >>"$S3_DIR/pip.log" 2>&1 9>&- ||
      { tail -n 20 "$S3_DIR/pip.log" >&2; die "pip install moto failed"; }
    echo "moto $MOTO_VERSION" >"$S3_DIR/installed"
  fi
  S3PID=$(read_pid "$PIDS/s3.pid")
  if alive "$S3PID" moto_server && listening "$S3_PORT"; then
    log "s3 (moto) already running (pid $S3PID)"
  else
    log "starting s3 (moto) on $S3_PORT"
    setsid "$S3_VENV/bin/moto_server" -H 127.0.0.1 -p "$S3_PORT" </dev/null >>"$S3_LOG" 2>&1 9>&- &
    echo $! >"$PIDS/s3.pid"
    wait_listening "$S3_PORT" s3 30 || { tail -n 20 "$S3_LOG" >&2; die "moto is not listening on $S3_PORT"; }
  fi
  log "s3 ready"
fi

# ---------------------------------------------------------------- exports
write_if_changed "$STATE_DIR/env.sh" <<EOF || true
$(
  for kv in \
    "DATABASE_URL=postgres://reportbox:reportbox@127.0.0.1:$PG_PORT/reportbox" \
    "TESTENV_STATE_DIR=$STATE_DIR" \
    "TESTENV_PG_HOST=127.0.0.1" \
    "TESTENV_PG_PORT=$PG_PORT" \
    "TESTENV_IMAP_HOST=127.0.0.1" \
    "TESTENV_IMAP_PORT=$IMAP_PORT" \
    "TESTENV_IMAPS_PORT=$IMAPS_PORT" \
    "TESTENV_SMTP_HOST=127.0.0.1" \
    "TESTENV_SMTP_PORT=$SMTP_PORT" \
    "TESTENV_SMTPS_PORT=$SMTPS_PORT" \
    "TESTENV_CA_CERT=$TLS/ca.crt" \
    "TESTENV_TLS_SERVER_NAME=localhost" \
    "TESTENV_MAIL_DOMAIN=$MAIL_DOMAIN" \
    "TESTENV_MAIL_PASSWORD=$MAIL_PASSWORD" \
    "TESTENV_MAILDIR_ROOT=$MAIL_ROOT" \
    "TESTENV_DOVECOT_LOG=$DC_LOG" \
    "TESTENV_DOVECOT_CONF=$DC_CONF" \
    "TESTENV_POSTFIX_LOG=$PF_LOG" \
    "TESTENV_POSTFIX_CONF_DIR=$PF_ETC" \
    "TESTENV_S3_ENDPOINT=http://127.0.0.1:$S3_PORT" \
    "TESTENV_S3_ACCESS_KEY=$S3_ACCESS_KEY" \
    "TESTENV_S3_SECRET_KEY=$S3_SECRET_KEY"; do
    printf 'export %s=%q\n' "${kv%%=*}" "${kv#*=}"
  done
)
EOF
cat "$STATE_DIR/env.sh"
if ((ONLY_PG)); then
  log "up (postgres only) in $(bc_elapsed)s; state: $STATE_DIR"
else
  log "up in $(bc_elapsed)s; state: $STATE_DIR"
fi
