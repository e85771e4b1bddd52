#!/usr/bin/env bash
# A fresh server's first requests, two builds alternating on one PostgreSQL
# database:
#
#   BASE_BIN=/tmp/base-rm benches/first-request.sh
#   USERS=100000 REPEAT=5 SETTLE=1 BASE_BIN=… benches/first-request.sh
#   PG_PARAMS='?sslmode=disable' BASE_BIN=… benches/first-request.sh
#
# Seeds one database (PG_DB: USERS users, seed 42, analyzed; PG_PARAMS is
# appended to the service's URL), then REPEAT times for each build (base
# first): starts `serve` on it, waits until `/health/live` answers and then
# SETTLE seconds more, and times with curl the first request that reads
# the database (`/api/user/N/risk-analysis`), then a burst of 10 such
# requests at once, for other users (the slowest of them). Prints every
# turn, then the medians. The database is dropped at the end.
set -euo pipefail
cd "$(dirname "$0")/.."

USERS=${USERS:-100000}
REPEAT=${REPEAT:-5}
SETTLE=${SETTLE:-1}
PG_URL=${PG_URL:-postgres://postgres@127.0.0.1:5432}
PG_PARAMS=${PG_PARAMS:-}
PG_DB=${PG_DB:-bench_first_request}
PORT=${PORT:-18769}
BIN=${BIN:-target/release/risk-monitor}
BASE_BIN=${BASE_BIN:?the build to compare with, a release binary}
# shellcheck source=benches/lib.sh
source benches/lib.sh
bench_prepare
URL=$PG_URL/$PG_DB

bench_seed_pg_db

ms() { # USER → the request's time in ms
    curl -sf -o /dev/null -w '%{time_total}\n' "http://127.0.0.1:$PORT/api/user/$1/risk-analysis" |
        awk '{ printf "%.1f\n", $1 * 1000 }'
}

turn() { # SIDE TURN → "first_ms slowest_of_burst_ms"
    local bin=$BIN; [[ $1 == base ]] && bin=$BASE_BIN
    DATABASE_URL=$URL$PG_PARAMS DEMO_DATA=false LOG_LEVEL=warn API_PORT=$PORT RATE_LIMIT_PER_MINUTE=0 \
        "$bin" --config /nonexistent serve > "$WORK/server.log" 2>&1 &
    SERVER=$!
    for _ in $(seq 100); do curl -sf "http://127.0.0.1:$PORT/health/live" >/dev/null && break; sleep 0.1; done
    sleep "$SETTLE"
    # Users a turn has not read yet: nothing of theirs is in a cache.
    local base=$(( $2 * 100 ))
    local first; first=$(ms $(( base + 1 )))
    local slowest
    slowest=$(for i in $(seq 2 11); do ms $(( base + i )) & done | sort -g | tail -1; wait)
    kill -TERM "$SERVER"; wait "$SERVER" || true; SERVER=
    echo "$first $slowest"
}

: > "$WORK/base"; : > "$WORK/new"
for i in $(seq "$REPEAT"); do
    for side in base new; do
        turn "$side" "$i" | tee -a "$WORK/$side" | sed "s/^/turn $i, $side: first, slowest of 10 at once (ms): /" >&2
    done
done

col() { awk -v c="$1" '{ print $c }' "$2" | median; }
echo
echo "### A fresh server's first requests, $USERS users, PostgreSQL$PG_PARAMS (medians of $REPEAT turns, ${SETTLE} s after it answers)"
echo
echo "| build | first request ms | slowest of the next 10 at once, ms |"
echo "|---|---:|---:|"
echo "| base | $(col 1 "$WORK/base") | $(col 2 "$WORK/base") |"
echo "| new | $(col 1 "$WORK/new") | $(col 2 "$WORK/new") |"
