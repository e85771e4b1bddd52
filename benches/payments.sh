#!/usr/bin/env bash
# recordPayment across users, two builds side by side (issue #13, item 1)
#
#   BASE_BIN=/tmp/base-rm benches/payments.sh
#   USERS=100000 REPEAT=5 DURATION=10 BASE_BIN=… benches/payments.sh
#   BASE_BIN=target/release/risk-monitor BASE_PG_URL=postgres://…:5432 \
#       PG_URL=postgres://…:5434 benches/payments.sh   # one build, two servers
#   KEEP=1 …, then SEED=0 …: the same databases again, not seeded anew
#
# Each build seeds a PostgreSQL database of its own (PG_DB_new, PG_DB_base:
# USERS users, seed 42, analyzed) and then serves it in turns, alternating
# (base first), REPEAT turns each: a CHECKPOINT, then `recordPayment` for a
# random user over HTTP at concurrency 32 for DURATION seconds
# (benches/wrk/payment.lua). Each turn prints its payments per second and
# the CPU it cost per payment: the service's process, and the rest of the
# machine (PostgreSQL, and wrk, the same for both); and the service's peak
# memory (VmHWM). Ends with the medians,
# their ratio, and a full rescore of each database, which must find no
# score to change (but those whose age boundary passed during the run).
# The databases are dropped at the end unless KEEP=1.
set -euo pipefail
cd "$(dirname "$0")/.."

USERS=${USERS:-1000000}
REPEAT=${REPEAT:-3}
DURATION=${DURATION:-10}
PG_URL=${PG_URL:-postgres://postgres@127.0.0.1:5432}
BASE_PG_URL=${BASE_PG_URL:-$PG_URL}
SEED=${SEED:-1}
PG_DB=${PG_DB:-bench_payments}
PORT=${PORT:-18768}
BIN=${BIN:-target/release/risk-monitor}
BASE_BIN=${BASE_BIN:?the build to compare with, a release binary}
KEEP=${KEEP:-0}
# shellcheck source=benches/lib.sh
source benches/lib.sh
bench_prepare
HZ=$(getconf CLK_TCK)

binary() { [[ $1 == new ]] && echo "$BIN" || echo "$BASE_BIN"; }
server_of() { [[ $1 == new ]] && echo "$PG_URL" || echo "$BASE_PG_URL"; }
url_of() { echo "$(server_of "$1")/${PG_DB}_$1"; }

for side in base new; do
    [[ $SEED == 1 ]] || break
    psql "$(server_of $side)/postgres" -qc "DROP DATABASE IF EXISTS ${PG_DB}_$side" -c "CREATE DATABASE ${PG_DB}_$side"
    DATABASE_URL=$(url_of $side) "$(binary $side)" --config /nonexistent migrate up >/dev/null 2>&1
    read -r seed_s _ < <(DATABASE_URL=$(url_of $side) timed "$(binary $side)" --config /nonexistent seed --users "$USERS" --seed 42)
    psql "$(url_of $side)" -qc "VACUUM (ANALYZE)"
    echo "$side: seeded $USERS users in $seed_s s" >&2
done
if [[ $KEEP != 1 ]]; then
    trap '[ -z "$SERVER" ] || kill "$SERVER" 2>/dev/null || true; rm -rf "$WORK";
          for side in base new; do psql "$(server_of $side)/postgres" -qc "DROP DATABASE IF EXISTS ${PG_DB}_$side"; done' EXIT
fi

process_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

# turn SIDE → "payments_per_s service_us_per_payment rest_us_per_payment peak_MB"
turn() {
    local side=$1
    DATABASE_URL=$(url_of "$side") DEMO_DATA=false LOG_LEVEL=warn API_PORT=$PORT \
        RATE_LIMIT_PER_MINUTE=0 "$(binary "$side")" --config /nonexistent serve > "$WORK/server.log" 2>&1 &
    SERVER=$!
    for _ in $(seq 100); do curl -sf "http://127.0.0.1:$PORT/health/live" >/dev/null && break; sleep 0.1; done
    psql "$(url_of "$side")" -qc "CHECKPOINT"
    local before_all before_server
    before_all=$(busy_ticks)
    before_server=$(process_ticks "$SERVER")
    USERS=$USERS wrk -t2 -c32 -d"${DURATION}s" -s benches/wrk/payment.lua "http://127.0.0.1:$PORT/graphql" > "$WORK/wrk.out" 2>&1
    local server_ticks=$(($(process_ticks "$SERVER") - before_server))
    local all_ticks=$(($(busy_ticks) - before_all))
    local peak_kb
    peak_kb=$(awk '/^VmHWM/ { print $2 }' "/proc/$SERVER/status")
    kill -TERM "$SERVER"; wait "$SERVER" || true; SERVER=
    if grep -q "Non-2xx" "$WORK/wrk.out"; then echo "$side: non-2xx answers" >&2; cat "$WORK/wrk.out" >&2; exit 1; fi
    local rps count
    rps=$(awk '/^Requests\/sec/ { print $2 }' "$WORK/wrk.out")
    count=$(awk '/requests in/ { print $1 }' "$WORK/wrk.out")
    awk -v r="$rps" -v n="$count" -v s="$server_ticks" -v a="$all_ticks" -v hz="$HZ" -v m="$peak_kb" \
        'BEGIN { printf "%.0f %.0f %.0f %.0f\n", r, s / hz / n * 1e6, (a - s) / hz / n * 1e6, m / 1024 }'
}

: > "$WORK/base"; : > "$WORK/new"
for i in $(seq "$REPEAT"); do
    for side in base new; do
        result=$(turn "$side")
        echo "$result" >> "$WORK/$side"
        echo "turn $i, $side: $result (payments/s, service µs/payment, rest of the machine µs/payment, service peak MB)" >&2
    done
done

col() { awk -v c="$1" '{ print $c }' "$2" | median; }
echo
echo "### recordPayment across $USERS users, c=32, PostgreSQL (medians of $REPEAT turns of ${DURATION} s)"
echo
echo "| build | payments/s | service CPU µs/payment | rest of the machine µs/payment | service peak MB |"
echo "|---|---:|---:|---:|---:|"
for side in base new; do
    printf '| %s | %s | %s | %s | %s |\n' "$side" "$(col 1 "$WORK/$side")" "$(col 2 "$WORK/$side")" "$(col 3 "$WORK/$side")" "$(col 4 "$WORK/$side")"
done
printf '\nnew ÷ base payments/s: %.2f\n' "$(echo "$(col 1 "$WORK/new") / $(col 1 "$WORK/base")" | bc -l)"
for side in base new; do
    echo "$side, full rescore after the load: $(DATABASE_URL=$(url_of $side) "$(binary $side)" --config /nonexistent rescore 2>/dev/null | tail -1)"
done
