#!/usr/bin/env bash
# Seeding and full-rescore benchmark at scale (issues #2 and #3).
#
#   benches/scale.sh [USERS] [SQLITE_USERS]      defaults: 1000000 100000
#
# Builds the release binary, then, on PostgreSQL (PG_URL, default the local
# server) and on SQLite (a temp file):
#   - seeds USERS demo users (SQLITE_USERS on SQLite) into a fresh database,
#   - runs `risk-monitor rescore` three times,
#   - times a bare sequential scan of every payment in the same run, as the
#     floor a full rescore cannot beat (it must read every payment),
# and prints wall time, peak RSS (from /usr/bin/time) and the ratio of the
# median rescore to that scan. Run it on an otherwise idle machine; compare
# ratios rather than absolute seconds across machines.
set -euo pipefail
cd "$(dirname "$0")/.."

USERS=${1:-1000000}
SQLITE_USERS=${2:-100000}
PG_URL=${PG_URL:-postgres://postgres@127.0.0.1:5432}
BIN=target/release/risk-monitor
TIME=/usr/bin/time
command -v "$TIME" >/dev/null || { echo "needs GNU time (apt-get install time)"; exit 1; }

cargo build --release --locked --bin risk-monitor >&2

# run LABEL CMD...: prints "LABEL seconds peak_mb" and echoes nothing else.
run() {
    local label=$1; shift
    local log; log=$(mktemp)
    "$TIME" -f '%e %M' -o "$log" "$@" >/dev/null 2>&1 || { echo "$label failed"; cat "$log"; exit 1; }
    read -r secs kb < "$log"
    printf '%s %s %d\n' "$label" "$secs" $((kb / 1024))
    rm -f "$log"
}

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

bench() { # BACKEND URL USERS SCAN_CMD...
    local backend=$1 url=$2 users=$3; shift 3
    export DATABASE_URL=$url DEMO_DATA=false
    "$BIN" --config /nonexistent migrate fresh >/dev/null
    run "seed" "$BIN" --config /nonexistent seed --users "$users" --seed 42 | {
        read -r _ secs mb; echo "| $backend | $users | seed | $secs s | $mb MB |"; }
    local rescores=() peak=0
    for _ in 1 2 3; do
        read -r _ secs mb < <(run rescore "$BIN" --config /nonexistent rescore)
        rescores+=("$secs"); (( mb > peak )) && peak=$mb
    done
    local scans=()
    for _ in 1 2 3; do
        local start end
        start=$(date +%s.%N); "$@" >/dev/null; end=$(date +%s.%N)
        scans+=("$(echo "$end - $start" | bc)")
    done
    local r s
    r=$(printf '%s\n' "${rescores[@]}" | median); s=$(printf '%s\n' "${scans[@]}" | median)
    echo "| $backend | $users | rescore (median of 3: ${rescores[*]}) | $r s | $peak MB |"
    echo "| $backend | $users | bare scan of all payments (median of 3) | $s s | |"
    echo "| $backend | $users | rescore ÷ scan | $(echo "scale=1; $r / $s" | bc)× | |"
}

echo "| backend | users | what | time | peak RSS |"
echo "|---|---|---|---|---|"
psql "$PG_URL/postgres" -qc "DROP DATABASE IF EXISTS bench_scale" -c "CREATE DATABASE bench_scale" >/dev/null
bench PostgreSQL "$PG_URL/bench_scale" "$USERS" \
    psql "$PG_URL/bench_scale" -Atc "SELECT count(*), sum(amount_cents) FROM subscription_payments"
psql "$PG_URL/postgres" -qc "DROP DATABASE IF EXISTS bench_scale" >/dev/null

db=$(mktemp -d)/bench.db
command -v sqlite3 >/dev/null || apt-get install -y sqlite3 >/dev/null
bench SQLite "sqlite://$db?mode=rwc" "$SQLITE_USERS" \
    sqlite3 "$db" "SELECT count(*), sum(amount_cents) FROM subscription_payments"
rm -rf "$(dirname "$db")"
