#!/usr/bin/env bash
# Smoke test of the local reportbox test stack (run deploy/testenv/up.sh first).
# Uses psql and curl (with imap/smtp support) only. Exits non-zero on the first failure.
# Options: --only-postgres   check only PostgreSQL
# Env:     the TESTENV_* exports of up.sh; if TESTENV_STATE_DIR is unset, they are read from
#          ${REPORTBOX_TESTENV_DIR:-/var/tmp/reportbox-testenv}/env.sh
set -euo pipefail

ONLY_PG=0
for arg in "$@"; do
  case $arg in
    --only-postgres) ONLY_PG=1 ;;
    -h | --help) sed -n '2,6p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 0 ;;
    *) echo "smoke.sh: unknown argument: $arg" >&2; exit 2 ;;
  esac
done

T0=$EPOCHREALTIME
elapsed() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.2f", b - a }'; }
fail() {
  printf 'smoke: FAIL: %s\n' "$*" >&2
  [[ -n ${TESTENV_DOVECOT_LOG:-} ]] && printf '  logs: %s %s %s/pg/postgres.log\n' \
    "$TESTENV_DOVECOT_LOG" "${TESTENV_POSTFIX_LOG:-}" "${TESTENV_STATE_DIR:-}" >&2
  exit 1
}
N=0
ok() { N=$((N + 1)); printf 'smoke: ok   %-58s %5ss\n' "$1" "$(elapsed "$STEP_T")" >&2; }
step() { STEP_T=$EPOCHREALTIME; }

if [[ -z ${TESTENV_STATE_DIR:-} ]]; then
  ENV_FILE=${REPORTBOX_TESTENV_DIR:-/var/tmp/reportbox-testenv}/env.sh
  [[ -r $ENV_FILE ]] || fail "no TESTENV_* environment and no $ENV_FILE: run deploy/testenv/up.sh first"
  # shellcheck source=/dev/null
  source "$ENV_FILE"
fi
: "${DATABASE_URL:?}" "${TESTENV_PG_HOST:?}" "${TESTENV_PG_PORT:?}"
command -v psql >/dev/null || fail "psql not found"

# ---------------------------------------------------------------- PostgreSQL
step
out=$(PGCONNECT_TIMEOUT=5 psql "$DATABASE_URL" -XAtqc 'SELECT current_user' 2>&1) ||
  fail "postgres login over TCP ($DATABASE_URL): $out"
[[ $out == reportbox ]] || fail "postgres: expected current_user reportbox, got: $out"
ok "postgres: login reportbox over TCP $TESTENV_PG_HOST:$TESTENV_PG_PORT"

step
if out=$(PGCONNECT_TIMEOUT=5 psql "postgres://reportbox:wrong@$TESTENV_PG_HOST:$TESTENV_PG_PORT/reportbox" -XAtqc 'SELECT 1' 2>&1); then
  fail "postgres accepted a wrong password"
fi
[[ $out == *"password authentication failed"* ]] || fail "postgres: unexpected error for wrong password: $out"
ok "postgres: wrong password refused (scram-sha-256)"

if ((ONLY_PG)); then
  printf 'smoke: all %d checks passed in %ss\n' "$N" "$(elapsed "$T0")" >&2
  exit 0
fi

# ---------------------------------------------------------------- mail
: "${TESTENV_IMAP_PORT:?}" "${TESTENV_IMAPS_PORT:?}" "${TESTENV_SMTP_PORT:?}" "${TESTENV_SMTPS_PORT:?}"
: "${TESTENV_CA_CERT:?}" "${TESTENV_TLS_SERVER_NAME:?}" "${TESTENV_MAIL_DOMAIN:?}" "${TESTENV_MAIL_PASSWORD:?}"
: "${TESTENV_DOVECOT_LOG:?}"
command -v curl >/dev/null || fail "curl not found"
CURL_PROTOCOLS=" $(curl --version | sed -n 's/^Protocols: //p') "
for proto in imap imaps smtp smtps; do
  [[ $CURL_PROTOCOLS == *" $proto "* ]] || fail "curl lacks $proto support (curl --version)"
done

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
mkdir "$TMP/no-capath"   # empty CA dir: trust nothing but TESTENV_CA_CERT
D=$TESTENV_MAIL_DOMAIN PW=$TESTENV_MAIL_PASSWORD SNI=$TESTENV_TLS_SERVER_NAME
H=${TESTENV_IMAP_HOST:-127.0.0.1} SH=${TESTENV_SMTP_HOST:-127.0.0.1}
TOK=smoke-$(date +%s%N)-$$
CURL=(curl -sS --connect-timeout 5 --max-time 15)
# TLS: trust only the test CA, connect to 127.0.0.1 but verify the name `localhost`
TLSOPT=(--cacert "$TESTENV_CA_CERT" --capath "$TMP/no-capath"
  --resolve "$SNI:$TESTENV_IMAP_PORT:$H" --resolve "$SNI:$TESTENV_IMAPS_PORT:$H"
  --resolve "$SNI:$TESTENV_SMTP_PORT:$SH" --resolve "$SNI:$TESTENV_SMTPS_PORT:$SH")

mkmsg() { # FILE TO TOKEN
  cat >"$1" <<EOF
From: testenv smoke <smoke@$D>
To: $2
Subject: testenv smoke $3
Date: $(date -R)
Message-ID: <$3@$D>
X-Smoke-Token: $3

Hello from deploy/testenv/smoke.sh, token $3.
EOF
}
# imap_find URLBASE USER TOKEN [curl opts...]: print the UID of the message carrying TOKEN (waits up to 10 s)
imap_find() {
  local base=$1 user=$2 tok=$3 out uid i; shift 3
  for i in $(seq 1 100); do
    out=$("${CURL[@]}" "$@" --user "$user:$PW" --url "$base/INBOX" -X "UID SEARCH HEADER X-Smoke-Token $tok" 2>&1) ||
      { echo "$out"; return 1; }
    uid=$(sed -n 's/^\* SEARCH \([0-9 ]*\).*/\1/p' <<<"$out" | tr -d '\r' | awk '{ print $NF }')
    if [[ -n $uid ]]; then echo "$uid"; return 0; fi
    ((i < 100)) && sleep 0.1
  done
  echo "message with X-Smoke-Token $tok not delivered to $user within 10 s"
  return 1
}

# SMTP 10025, plain
step
mkmsg "$TMP/m1.eml" "unit1@$D" "$TOK"
out=$("${CURL[@]}" --url "smtp://$SH:$TESTENV_SMTP_PORT" --mail-from "smoke@$D" --mail-rcpt "unit1@$D" \
  --crlf --upload-file "$TMP/m1.eml" 2>&1) || fail "SMTP $SH:$TESTENV_SMTP_PORT send to unit1@$D: $out"
ok "smtp  :$TESTENV_SMTP_PORT plain: sent to unit1@$D"

step
if out=$("${CURL[@]}" --url "smtp://$SH:$TESTENV_SMTP_PORT" --mail-from "smoke@$D" --mail-rcpt "someone@example.com" \
  --crlf --upload-file "$TMP/m1.eml" 2>&1); then
  fail "SMTP accepted a recipient outside @$D"
fi
[[ $out == *554* ]] || fail "SMTP: expected 554 for someone@example.com, got: $out"
ok "smtp  :$TESTENV_SMTP_PORT rejects someone@example.com (554)"

# IMAP 10143, plain LOGIN
step
UID1=$(imap_find "imap://$H:$TESTENV_IMAP_PORT" "unit1@$D" "$TOK") || fail "IMAP $H:$TESTENV_IMAP_PORT: $UID1"
out=$("${CURL[@]}" --user "unit1@$D:$PW" --url "imap://$H:$TESTENV_IMAP_PORT/INBOX;UID=$UID1" 2>&1) ||
  fail "IMAP fetch UID $UID1: $out"
[[ $out == *"X-Smoke-Token: $TOK"* ]] || fail "IMAP fetch UID $UID1: token not in message: $out"
ok "imap  :$TESTENV_IMAP_PORT plain: delivered and fetched (uid $UID1)"

# IMAP 10143, STARTTLS
step
out=$("${CURL[@]}" "${TLSOPT[@]}" --ssl-reqd --user "unit1@$D:$PW" \
  --url "imap://$SNI:$TESTENV_IMAP_PORT/INBOX;UID=$UID1" 2>&1) || fail "IMAP STARTTLS fetch: $out"
[[ $out == *"X-Smoke-Token: $TOK"* ]] || fail "IMAP STARTTLS fetch: token not in message"
ok "imap  :$TESTENV_IMAP_PORT STARTTLS ($SNI, test CA): fetched"

# IMAPS 10993
step
out=$("${CURL[@]}" "${TLSOPT[@]}" --user "unit1@$D:$PW" \
  --url "imaps://$SNI:$TESTENV_IMAPS_PORT/INBOX;UID=$UID1" 2>&1) || fail "IMAPS fetch: $out"
[[ $out == *"X-Smoke-Token: $TOK"* ]] || fail "IMAPS fetch: token not in message"
ok "imaps :$TESTENV_IMAPS_PORT ($SNI, test CA): fetched"

step
if out=$("${CURL[@]}" --capath "$TMP/no-capath" --cacert /etc/ssl/certs/ca-certificates.crt \
  --resolve "$SNI:$TESTENV_IMAPS_PORT:$H" --user "unit1@$D:$PW" --url "imaps://$SNI:$TESTENV_IMAPS_PORT/INBOX" -X NOOP 2>&1); then
  fail "IMAPS certificate was accepted without the test CA"
fi
[[ $out == *"certificate"* ]] || fail "IMAPS without the test CA: expected a certificate error, got: $out"
ok "imaps :$TESTENV_IMAPS_PORT certificate refused without the test CA"

# IMAP ID, logged by Dovecot (imap_id_log = *)
step
out=$("${CURL[@]}" --user "unit1@$D:$PW" --url "imap://$H:$TESTENV_IMAP_PORT" \
  -X "ID (\"name\" \"reportbox-smoke\" \"version\" \"$TOK\")" 2>&1) || fail "IMAP ID command: $out"
for i in $(seq 1 50); do
  grep -qF "ID sent: name=reportbox-smoke, version=$TOK" "$TESTENV_DOVECOT_LOG" && break
  ((i < 50)) || fail "no 'ID sent: name=reportbox-smoke, version=$TOK' in $TESTENV_DOVECOT_LOG"
  sleep 0.1
done
ok "imap  ID logged: 'ID sent: name=reportbox-smoke'"

# SMTPS 10465 with AUTH (Dovecot SASL), to unit21 which exists only via the static fallback
step
TOK2=$TOK-smtps
mkmsg "$TMP/m2.eml" "unit21@$D" "$TOK2"
out=$("${CURL[@]}" "${TLSOPT[@]}" --url "smtps://$SNI:$TESTENV_SMTPS_PORT" --user "unit2@$D:$PW" \
  --mail-from "unit2@$D" --mail-rcpt "unit21@$D" --crlf --upload-file "$TMP/m2.eml" 2>&1) ||
  fail "SMTPS $SNI:$TESTENV_SMTPS_PORT (AUTH unit2) send to unit21@$D: $out"
UID2=$(imap_find "imaps://$SNI:$TESTENV_IMAPS_PORT" "unit21@$D" "$TOK2" "${TLSOPT[@]}") ||
  fail "SMTPS mail to unit21@$D: $UID2"
ok "smtps :$TESTENV_SMTPS_PORT AUTH: delivered to unit21@$D (fallback user)"

# SMTP 10025, STARTTLS required
step
TOK3=$TOK-starttls
mkmsg "$TMP/m3.eml" "coordinator@$D" "$TOK3"
out=$("${CURL[@]}" "${TLSOPT[@]}" --ssl-reqd --url "smtp://$SNI:$TESTENV_SMTP_PORT" \
  --mail-from "smoke@$D" --mail-rcpt "coordinator@$D" --crlf --upload-file "$TMP/m3.eml" 2>&1) ||
  fail "SMTP STARTTLS send to coordinator@$D: $out"
UID3=$(imap_find "imap://$H:$TESTENV_IMAP_PORT" "coordinator@$D" "$TOK3") || fail "SMTP STARTTLS mail: $UID3"
ok "smtp  :$TESTENV_SMTP_PORT STARTTLS: delivered to coordinator@$D"

printf 'smoke: all %d checks passed in %ss\n' "$N" "$(elapsed "$T0")" >&2
