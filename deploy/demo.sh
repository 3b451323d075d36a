#!/usr/bin/env bash
# A local demo on a fresh machine: starts PostgreSQL (and the mail servers) on loopback, imports
# the sample emails in ../shared/samples with their roster, and prints the status.
set -euo pipefail
cd "$(dirname "$0")/.."
eval "$(deploy/testenv/up.sh)"
samples="${1:-../shared/samples}"
demo_db="reportbox_demo"
psql "$DATABASE_URL" -qtAc "SELECT 1 FROM pg_database WHERE datname = '$demo_db'" | grep -q 1 \
  || psql "$DATABASE_URL" -qc "CREATE DATABASE $demo_db"
export REPORTBOX_DATABASE__URL="${DATABASE_URL%/*}/$demo_db"
export REPORTBOX_CAMPAIGN__ROSTER="$(cd "$samples" && pwd)/roster.csv"
export REPORTBOX_STORAGE__DIR="${TESTENV_STATE_DIR}/demo-storage"
cargo build --release --quiet
bin=target/release/reportbox
"$bin" migrate
"$bin" import "$samples/corpus"
"$bin" status
