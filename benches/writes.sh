#!/usr/bin/env bash
# Does a write cost the same whatever the history? (issue #13, item 1)
#
#   benches/writes.sh                         # PostgreSQL, 1,000,000 users
#   USERS=100000 LONG=10000 benches/writes.sh
#   SEED=0 benches/writes.sh                  # the database the last run seeded
#
# Seeds a database of its own (PG_DB, default bench_writes), gives user 1 a
# history of LONG payments (10,000) and user 2 one of SHORT (10), rescores
# every user (so both stored scores and counts are exact), then serves it
# and drives `recordPayment` over HTTP with wrk, as benches/http.sh does:
# every request on the long-history user, then every request on the short
# one, alternately, REPEAT times each (medians), at concurrency 32
# (throughput) and 4 (latency); then spread over every user at 32. A
# user's payments are serialised by their lock, so the per-user figures
# are a write's whole cost, one after the other. The long history keeps
# growing during the run; its length at the end is printed. Ends with a
# full rescore, which must find no score to change (but those whose age
# boundary passed meanwhile).
set -euo pipefail
cd "$(dirname "$0")/.."

USERS=${USERS:-1000000}
LONG=${LONG:-10000}
SHORT=${SHORT:-10}
REPEAT=${REPEAT:-3}
DURATION=${DURATION:-5}
PG_URL=${PG_URL:-postgres://postgres@127.0.0.1:5432}
PG_DB=${PG_DB:-bench_writes}
PORT=${PORT:-18767}
BIN=${BIN:-target/release/risk-monitor}
SEED=${SEED:-1}
# shellcheck source=benches/lib.sh
source benches/lib.sh
bench_prepare

url="$PG_URL/$PG_DB"
export DATABASE_URL=$url DEMO_DATA=false LOG_LEVEL=warn API_PORT=$PORT RATE_LIMIT_PER_MINUTE=0
if [[ $SEED == 1 ]]; then
    psql "$PG_URL/postgres" -qc "DROP DATABASE IF EXISTS $PG_DB" -c "CREATE DATABASE $PG_DB"
    "$BIN" --config /nonexistent migrate fresh >/dev/null 2>&1
    read -r seed_s _ < <(timed "$BIN" --config /nonexistent seed --users "$USERS" --seed 42)
    echo "seeded $USERS users in $seed_s s" >&2
fi

# User 1's history becomes LONG payments, user 2's SHORT, monthly-ish,
# mostly successes, dated before the load's payments.
history() { # USER COUNT
    psql "$url" -qc "DELETE FROM subscription_payments WHERE user_id = $1" -c "
        INSERT INTO subscription_payments
            (user_id, amount_cents, currency, status, payment_date, payment_method)
        SELECT $1, 999, 'EUR',
               (ARRAY['success', 'success', 'success', 'failed', 'declined'])[1 + g % 5],
               timestamptz '2026-11-01' - g * interval '1 hour', 'card'
        FROM generate_series(1, $2) g"
}
history 1 "$LONG"
history 2 "$SHORT"
"$BIN" --config /nonexistent rescore 2>/dev/null
psql "$url" -qc "VACUUM (ANALYZE) subscription_payments, risk_scores"

"$BIN" --config /nonexistent serve > "$WORK/server.log" 2>&1 &
SERVER=$!
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$PORT/health/live" >/dev/null && break; sleep 0.1; done
base="http://127.0.0.1:$PORT"

# Alternating runs of one each, so that the machine's drift falls on both.
declare -A lat thr
for conns in 32 4; do
    for name in long short; do : > "$WORK/$name.$conns"; done
    for _ in $(seq "$REPEAT"); do
        for name in long short; do
            user=$([[ $name == long ]] && echo 1 || echo 2)
            REPEAT=1 HOT_USER=$user load "$name" "$conns" -s benches/wrk/payment.lua "$base/graphql" >> "$WORK/$name.$conns"
        done
    done
done
col() { awk -v c="$1" '{ print $c }' "$2" | median; }
spread=$(USERS=$USERS load spread 32 -s benches/wrk/payment.lua "$base/graphql")
kill -TERM "$SERVER"; wait "$SERVER" || true; SERVER=

grown=$(psql "$url" -Atc "SELECT count(*) FROM subscription_payments WHERE user_id = 1")
short_grown=$(psql "$url" -Atc "SELECT count(*) FROM subscription_payments WHERE user_id = 2")
rescored=$("$BIN" --config /nonexistent rescore 2>/dev/null | tail -1)

echo
echo "### recordPayment by length of history, PostgreSQL, $USERS users"
echo
echo "| user | payments before → after | req/s (c=32) | p50 ms (c=4) | p99 ms (c=4) |"
echo "|---|---|---|---|---|"
printf '| long history | %s → %s | %.0f | %.2f | %.2f |\n' "$LONG" "$grown" \
    "$(col 3 "$WORK/long.32")" "$(col 1 "$WORK/long.4")" "$(col 2 "$WORK/long.4")"
printf '| short history | %s → %s | %.0f | %.2f | %.2f |\n' "$SHORT" "$short_grown" \
    "$(col 3 "$WORK/short.32")" "$(col 1 "$WORK/short.4")" "$(col 2 "$WORK/short.4")"
echo
printf 'long ÷ short throughput: %.2f · recordPayment spread over every user (c=32): %.0f req/s · after the load: %s\n' \
    "$(echo "$(col 3 "$WORK/long.32") / $(col 3 "$WORK/short.32")" | bc -l)" "$(echo "$spread" | awk '{ print $3 }')" "$rescored"
