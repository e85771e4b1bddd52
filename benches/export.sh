#!/usr/bin/env bash
# The risky list's export at scale (SPEC §12, issue #12's goal: a million
# rows with the server's memory growing by less than 50 MB, the first byte
# in under a second).
#
#   benches/export.sh [USERS]        default 1000000, PostgreSQL at PG_URL
#
# Builds the release binary, seeds USERS demo users into a fresh database,
# starts the server, then for the CSV and the JSON export of the whole list
# (min_score=0: every active user) reports the time to the first byte and
# to the last (curl), the bytes and rows, and the server's resident memory
# before and after (VmRSS) and its peak (VmHWM). Beside them, in the same
# run: `GET /api/stats` (a small answer) for the fixed cost of a request.
set -euo pipefail
cd "$(dirname "$0")/.."

USERS=${1:-1000000}
PG_URL=${PG_URL:-postgres://postgres@127.0.0.1:5432}
PORT=${PORT:-18767}
BIN=${CARGO_TARGET_DIR:-target}/release/risk-monitor
BASE="http://127.0.0.1:$PORT"
WORK=$(mktemp -d)
SERVER=
trap '[ -z "$SERVER" ] || kill "$SERVER" 2>/dev/null || true; rm -rf "$WORK"' EXIT

cargo build --release --locked --bin risk-monitor >&2
psql "$PG_URL/postgres" -qc "DROP DATABASE IF EXISTS bench_export WITH (FORCE)" -c "CREATE DATABASE bench_export" >/dev/null
export DATABASE_URL="$PG_URL/bench_export" DEMO_DATA=false DIGEST_TIME=off RATE_LIMIT_PER_MINUTE=0 REQUEST_TIMEOUT_SECONDS=60
"$BIN" --config /nonexistent seed --users "$USERS" --seed 42 >&2
API_PORT=$PORT "$BIN" --config /nonexistent serve 2>"$WORK/server.log" &
SERVER=$!
for _ in $(seq 200); do curl -sf "$BASE/health/ready" >/dev/null && break; sleep 0.1; done

mem() { awk -v k="$1:" '$1 == k { print int($2 / 1024) }' "/proc/$SERVER/status"; }

echo "| what | first byte | last byte | bytes | rows | RSS before → after (MB) | peak RSS (MB) |"
echo "| --- | --- | --- | --- | --- | --- | --- |"
curl -s "$BASE/api/stats" >/dev/null   # warm the statistics snapshot
read -r first total bytes < <(curl -s -o "$WORK/stats" -w '%{time_starttransfer} %{time_total} %{size_download}\n' "$BASE/api/stats")
echo "| GET /api/stats | ${first}s | ${total}s | $bytes | | | |"
for format in csv json; do
    before=$(mem VmRSS)
    read -r first total bytes < <(curl -s -o "$WORK/export.$format" -w '%{time_starttransfer} %{time_total} %{size_download}\n' \
        "$BASE/api/export/risky-users.$format?min_score=0")
    after=$(mem VmRSS)
    if [ "$format" = csv ]; then
        rows=$(python3 -c "import csv,sys; print(sum(1 for _ in csv.reader(open(sys.argv[1], newline='', encoding='utf-8'))) - 1)" "$WORK/export.csv")
    else
        rows=$(python3 -c "import json,sys; print(len(json.load(open(sys.argv[1]))))" "$WORK/export.json")
    fi
    echo "| export .$format (min_score=0) | ${first}s | ${total}s | $bytes | $rows | $before → $after | $(mem VmHWM) |"
done
kill "$SERVER"; wait "$SERVER" 2>/dev/null || true; SERVER=
psql "$PG_URL/postgres" -qc "DROP DATABASE IF EXISTS bench_export WITH (FORCE)" >/dev/null
