#!/usr/bin/env bash
# Runs the whole test suite against real services on loopback: starts (installing if needed)
# PostgreSQL, Dovecot and Postfix with deploy/testenv/up.sh, then cargo test.
set -euo pipefail
cd "$(dirname "$0")/.."
eval "$(deploy/testenv/up.sh)"
export DATABASE_URL
cargo test --all-targets "$@"
