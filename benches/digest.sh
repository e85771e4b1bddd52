#!/usr/bin/env bash
# Does the daily digest hold the writes? (issue #13, item 6)
#
#   benches/digest.sh                                  # PostgreSQL, 1,000,000 users
#   BINS="/tmp/old/risk-monitor target/release/risk-monitor" benches/digest.sh
#   USERS=100000 DURATION=20 benches/digest.sh
#
# For each binary of BINS, side by side in one run: seeds a database of its
# own (PG_DB, default bench_digest) with USERS users, then serves it and
# drives `recordPayment` over HTTP with wrk at concurrency 8, spread over
# every user, twice: DURATION seconds with no digest (DIGEST_TIME=off), then
# DURATION seconds from a start at which the first digest is due (every
# score new since scoring began: the most a digest has to report). Reports
# the digest's time (from the server's start until its Markdown is stored)
# and, for each phase, recordPayment's p50, p99 and slowest answer, the
# requests answered and the payments recorded (answers that are not a
# recorded payment, such as a TIMEOUT, are the difference).
set -euo pipefail
cd "$(dirname "$0")/.."

USERS=${USERS:-1000000}
DURATION=${DURATION:-30}
PG_URL=${PG_URL:-postgres://postgres@127.0.0.1:5432}
PG_DB=${PG_DB:-bench_digest}
PORT=${PORT:-18769}
BINS=${BINS:-target/release/risk-monitor}
WORK=$(mktemp -d)
SERVER=
trap '[ -z "$SERVER" ] || kill "$SERVER" 2>/dev/null || true; rm -rf "$WORK"' EXIT

command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
[ -x /usr/bin/time ] || { apt-get update -qq && apt-get install -y -qq time >/dev/null; }
if [[ " $BINS " == *" target/release/risk-monitor "* ]]; then
    cargo build --release --locked --bin risk-monitor >&2
fi

# shellcheck source=benches/lib.sh
source benches/lib.sh

url="$PG_URL/$PG_DB"
export DATABASE_URL=$url DEMO_DATA=false LOG_LEVEL=warn API_PORT=$PORT RATE_LIMIT_PER_MINUTE=0
base="http://127.0.0.1:$PORT"
payments() { psql "$url" -Atc "SELECT count(*) FROM subscription_payments"; }

serve() { # BIN DIGEST_TIME
    DIGEST_TIME=$2 "$1" --config /nonexistent serve > "$WORK/server.log" 2>&1 &
    SERVER=$!
    for _ in $(seq 300); do curl -sf "$base/health/live" >/dev/null && return; sleep 0.1; done
    cat "$WORK/server.log" >&2; exit 1
}

# phase NAME → "p50 p99 max requests recorded" of one wrk run of DURATION s
phase() {
    local before after
    before=$(payments)
    USERS=$USERS wrk -t2 -c8 -d"${DURATION}s" --timeout 30s --latency \
        -s benches/wrk/payment.lua "$base/graphql" > "$WORK/$1.wrk" 2>&1
    after=$(payments)
    printf '%s %s %s %s %s\n' \
        "$(awk '$1 == "50%" { print $2 }' "$WORK/$1.wrk" | to_ms)" \
        "$(awk '$1 == "99%" { print $2 }' "$WORK/$1.wrk" | to_ms)" \
        "$(awk '$1 == "Latency" { print $4 }' "$WORK/$1.wrk" | to_ms)" \
        "$(awk '/requests in/ { print $1 }' "$WORK/$1.wrk")" \
        "$((after - before))"
}

rows=()
for bin in $BINS; do
    psql "$PG_URL/postgres" -qc "DROP DATABASE IF EXISTS $PG_DB" -c "CREATE DATABASE $PG_DB"
    "$bin" --config /nonexistent migrate fresh >/dev/null 2>&1
    read -r seed_s _ < <(timed "$bin" --config /nonexistent seed --users "$USERS" --seed 42)
    psql "$url" -qc "VACUUM (ANALYZE)"
    echo "$bin: seeded $USERS users in $seed_s s" >&2

    serve "$bin" off
    quiet=$(phase quiet)
    kill -TERM "$SERVER"; wait "$SERVER" || true; SERVER=

    start=$(date +%s.%N)
    serve "$bin" 00:00
    # The digest's time: polled beside the load until its Markdown is stored.
    (
        while [[ $(psql "$url" -Atc "SELECT count(*) FROM digests WHERE markdown <> ''") == 0 ]]; do
            sleep 0.2
        done
        echo "$(date +%s.%N) - $start" | bc -l > "$WORK/digest_s"
    ) &
    poller=$!
    during=$(phase during)
    wait "$poller"
    kill -TERM "$SERVER"; wait "$SERVER" || true; SERVER=
    rows+=("$bin|$(printf '%.1f' "$(cat "$WORK/digest_s")")|$quiet|$during")
done
psql "$PG_URL/postgres" -qc "DROP DATABASE IF EXISTS $PG_DB"

echo
echo "### recordPayment while the first digest is made, PostgreSQL, $USERS users (c=8, ${DURATION} s)"
echo
echo "| binary | digest s | phase | p50 ms | p99 ms | slowest ms | answered | recorded |"
echo "|---|---|---|---|---|---|---|---|"
for row in "${rows[@]}"; do
    IFS='|' read -r bin digest_s quiet during <<< "$row"
    read -r q50 q99 qmax qreq qrec <<< "$quiet"
    read -r d50 d99 dmax dreq drec <<< "$during"
    echo "| $bin | $digest_s | no digest | $q50 | $q99 | $qmax | $qreq | $qrec |"
    echo "| $bin | | digest due at start | $d50 | $d99 | $dmax | $dreq | $drec |"
done
