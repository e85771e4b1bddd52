#!/usr/bin/env bash
# The support console in a real browser at scale (issue #12): how long each
# page takes in Chromium at a million users, how many requests it needs for
# its data and what it weighs.
#
#   benches/console.sh [USERS]       default 1000000, PostgreSQL at PG_URL
#
# Builds the release binary, seeds USERS demo users into a fresh database
# `bench_console`, ANALYZEs it, starts the server on loopback with AUTH=off
# (the local administrator: no sign-in), then runs
# benches/console-timing.mjs: the overview, the risky list's first page, a
# page 20 "Next page" clicks deep, a filtered list, the riskiest user and the
# case queue (60 cases raised first), each N times (default 15) after a
# warm-up, timed by the browser's Navigation Timing. Prints a markdown table
# and drops the database. Needs Debian's chromium and
# `npm ci --prefix tests/browser` (run here if node_modules is missing).
# Variables: USERS, PG_URL, PORT, N, CASES.
set -euo pipefail
cd "$(dirname "$0")/.."

USERS=${1:-${USERS:-1000000}}
PG_URL=${PG_URL:-postgres://postgres@127.0.0.1:5432}
PORT=${PORT:-18768}
N=${N:-15}
BIN=${CARGO_TARGET_DIR:-target}/release/risk-monitor
BASE="http://127.0.0.1:$PORT"
WORK=$(mktemp -d)
SERVER=
drop() { psql "$PG_URL/postgres" -qc "DROP DATABASE IF EXISTS bench_console WITH (FORCE)" >/dev/null; }
# (Never `kill 0`: with no server yet that would signal this whole process group.)
trap 'if [ -n "$SERVER" ]; then kill "$SERVER" 2>/dev/null || true; fi; drop || true; rm -rf "$WORK"' EXIT

cargo build --release --locked --bin risk-monitor >&2
[ -d tests/browser/node_modules/playwright-core ] || npm ci --prefix tests/browser --no-audit --no-fund >&2
command -v chromium >/dev/null || { echo "install Debian's chromium first" >&2; exit 1; }

drop
psql "$PG_URL/postgres" -qc "CREATE DATABASE bench_console" >/dev/null
export DATABASE_URL="$PG_URL/bench_console" DEMO_DATA=false DIGEST_TIME=off RATE_LIMIT_PER_MINUTE=0 \
    REQUEST_TIMEOUT_SECONDS=60 AUTH=off
started=$(date +%s)
"$BIN" --config /nonexistent seed --users "$USERS" --seed 42 >&2
psql "$DATABASE_URL" -qc "ANALYZE" >&2
echo "seeded $USERS users and analyzed them in $(( $(date +%s) - started )) s" >&2
API_PORT=$PORT "$BIN" --config /nonexistent serve 2>"$WORK/server.log" &
SERVER=$!
for _ in $(seq 300); do curl -sf "$BASE/health/ready" >/dev/null && break; sleep 0.1; done
curl -sf "$BASE/health/ready" >/dev/null || { cat "$WORK/server.log" >&2; exit 1; }

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
N=$N node benches/console-timing.mjs "$BASE" "$N"
echo
# The figures are only as quiet as the machine: other work shows in the load.
echo "Load average (1, 5, 15 min) before the timing: $load_before; after: $(cut -d' ' -f1-3 /proc/loadavg)."
echo "Server peak RSS: $(awk '$1 == "VmHWM:" { print int($2 / 1024) }' "/proc/$SERVER/status") MB; $(nproc) cores; $(chromium --version 2>/dev/null); node $(node --version); $(psql "$PG_URL/postgres" -Atc 'SHOW server_version' | sed 's/^/PostgreSQL /')."
kill "$SERVER"; wait "$SERVER" 2>/dev/null || true; SERVER=
drop
