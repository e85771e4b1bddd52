#!/usr/bin/env bash
# Instructions per request: a cost figure the machine's noise does not move
# (issue #13 item 7). Runs the release server under valgrind's callgrind on a
# fresh PostgreSQL database seeded the same way every time, sends the same
# requests every time, and counts the instructions executed inside the
# connections' tasks (`server::serve`'s per-connection future: HTTP, routing,
# the handler, the database driver's work) and in the payment writer's
# batches (where `recordPayment` writes), so the background tasks (the
# deliverer's polls, the live-event relay) do not blur the figure.
#
#   benches/instructions.sh [USERS] [REQUESTS]     defaults 10000 and 200
#   BIN=path/to/risk-monitor benches/instructions.sh  # a binary already built
#   KEEP=dir benches/instructions.sh   # keeps each operation's dump in dir,
#                                      # for `callgrind_annotate dir/<op>.out`
#   THROUGHPUT=0 benches/instructions.sh   # skips the throughput table
#
# Prints a markdown table: operation, instructions per request, and the ratio
# to `{ __typename }` (GraphQL's own cost: HTTP, parsing, validation). The
# database's own work is not counted (it runs in PostgreSQL's processes).
# Then a second table: the same operations' throughput at concurrency 32
# (wrk, the binary outside valgrind), beside `{ __typename }`'s in the same
# run (REPEAT runs of DURATION seconds, medians; defaults 3 and 5).
set -euo pipefail
cd "$(dirname "$0")/.."

USERS=${1:-10000}
REQUESTS=${2:-200}
PG_URL=${PG_URL:-postgres://postgres@127.0.0.1:5432}
PORT=${PORT:-18769}
BIN=${BIN:-}
KEEP=${KEEP:-}
BASE="http://127.0.0.1:$PORT"
DB=bench_instructions
WORK=$(mktemp -d)
SERVER=
trap '[ -z "$SERVER" ] || kill "$SERVER" 2>/dev/null || true; rm -rf "$WORK"' EXIT

command -v valgrind >/dev/null || { apt-get update -qq && apt-get install -y -qq valgrind >/dev/null; }
if [ -z "$BIN" ]; then
    cargo build --release --locked --bin risk-monitor >&2
    BIN=${CARGO_TARGET_DIR:-target}/release/risk-monitor
fi
psql "$PG_URL/postgres" -qc "DROP DATABASE IF EXISTS $DB WITH (FORCE)" -c "CREATE DATABASE $DB" >/dev/null
export DATABASE_URL="$PG_URL/$DB" DEMO_DATA=false DIGEST_TIME=off RATE_LIMIT_PER_MINUTE=0 \
    REQUEST_TIMEOUT_SECONDS=120 RESCORE_INTERVAL_SECONDS=86400 LOG_LEVEL=warn
"$BIN" --config /nonexistent seed --users "$USERS" --seed 42 >&2
psql "$DATABASE_URL" -qc "ANALYZE" >/dev/null

# Only code run inside a connection's task is counted; each batch is zeroed
# before and dumped after, so the start-up and the warm-up are not counted.
API_PORT=$PORT valgrind --tool=callgrind --collect-atstart=no \
    --toggle-collect='risk_monitor::server::serve::{{closure}}::{{closure}}' \
    --toggle-collect='risk_monitor::service::payment_writer::write_batches::{{closure}}' \
    --callgrind-out-file="$WORK/callgrind.out.%p" \
    "$BIN" --config /nonexistent serve 2>"$WORK/server.log" &
SERVER=$!
for _ in $(seq 600); do curl -sf "$BASE/health/ready" >/dev/null && break; sleep 0.5; done
curl -sf "$BASE/health/ready" >/dev/null || { cat "$WORK/server.log" >&2; exit 1; }

# The requests: GraphQL bodies, the same every run (users 1.. in turn).
# What changes between requests travels in variables, as a client sends
# it: the document's text is then the same every time, and parsed once.
body() {
    local i=$2
    local user=$(( (i * 7919) % USERS + 1 ))
    case $1 in
        typename) echo '{"query":"{ __typename }"}' ;;
        riskyUsers) echo '{"query":"{ riskyUsers(first: 20) { totalCount edges { cursor node { riskScore riskLevel patterns failureRate user { id name email } } } } }"}' ;;
        userRiskAnalysis) echo "{\"query\":\"query Analysis(\$id: ID!) { userRiskAnalysis(userId: \$id) { riskScore riskLevel factors { name contribution } messages recommendations } }\",\"variables\":{\"id\":\"$user\"}}" ;;
        recordPayment) echo "{\"query\":\"mutation Pay(\$input: PaymentInput!) { recordPayment(input: \$input) { riskScore } }\",\"variables\":{\"input\":{\"userId\":\"$user\",\"amount\":9.99,\"currency\":\"EUR\",\"status\":\"SUCCESS\",\"paymentDate\":\"2026-11-20T10:00:00Z\",\"paymentMethod\":\"card\",\"externalId\":\"bench-$1-$i\"}}}" ;;
    esac
}
send() { # op count offset
    for i in $(seq "$3" $(( $3 + $2 - 1 ))); do
        body "$1" "$i" > "$WORK/body.json"
        curl -sf -H 'content-type: application/json' --data @"$WORK/body.json" "$BASE/graphql" > "$WORK/answer.json"
        if grep -q '"errors"' "$WORK/answer.json"; then cat "$WORK/answer.json" >&2; exit 1; fi
    done
}
# Instructions counted while `send $@` runs.
count() {
    callgrind_control -z "$SERVER" >/dev/null 2>&1
    send "$@"
    callgrind_control -d "$SERVER" >/dev/null 2>&1
    local dump
    dump=$(ls -t "$WORK"/callgrind.out.* | head -n 1)
    awk '/^totals:/ { print $2; exit }' "$dump"
    if [ -n "$KEEP" ]; then mkdir -p "$KEEP" && cp "$dump" "$KEEP/$1.out"; fi
    rm -f "$WORK"/callgrind.out.*.*
}

echo "| operation | instructions per request | ÷ \`{ __typename }\` |"
echo "| --- | ---: | ---: |"
base=
for op in typename riskyUsers userRiskAnalysis recordPayment; do
    send "$op" 20 100000          # warm-up: pools, caches, first allocations
    total=$(count "$op" "$REQUESTS" 0)
    per=$(( total / REQUESTS ))
    [ -n "$base" ] || base=$per
    printf '| %s | %s | %s |\n' "$op" "$per" "$(echo "scale=1; $per / $base" | bc)×"
done
kill "$SERVER"; wait "$SERVER" 2>/dev/null || true; SERVER=

# Throughput at concurrency 32, the same binary outside valgrind on the same
# database, beside GraphQL's own ceiling (`{ __typename }`) in the same run:
# medians of REPEAT runs of DURATION seconds (wrk, 2 threads, sharing the
# machine's cores with the server and PostgreSQL).
if [ "${THROUGHPUT:-1}" != 0 ]; then
    command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
    REPEAT=${REPEAT:-3}
    DURATION=${DURATION:-5}
    # shellcheck source=benches/lib.sh
    source benches/lib.sh
    API_PORT=$PORT "$BIN" --config /nonexistent serve >"$WORK/server.log" 2>&1 &
    SERVER=$!
    for _ in $(seq 100); do curl -sf "$BASE/health/ready" >/dev/null && break; sleep 0.1; done
    f_typename=$(gql_body typename '{ __typename }')
    f_list=$(gql_body list '{ riskyUsers(first: 20) { totalCount edges { cursor node { riskScore riskLevel patterns failureRate user { id name email } } } } }')
    echo
    echo "| operation (c=32) | req/s | ÷ \`{ __typename }\` |"
    echo "| --- | ---: | ---: |"
    ceiling=
    for op in typename riskyUsers userRiskAnalysis recordPayment; do
        case $op in
            typename) read -r _ _ rps < <(BODY_FILE=$f_typename load "$op" 32 -s benches/wrk/graphql.lua "$BASE/graphql") ;;
            riskyUsers) read -r _ _ rps < <(BODY_FILE=$f_list load "$op" 32 -s benches/wrk/graphql.lua "$BASE/graphql") ;;
            userRiskAnalysis) read -r _ _ rps < <(USERS=$USERS load "$op" 32 -s benches/wrk/analysis.lua "$BASE/graphql") ;;
            recordPayment) read -r _ _ rps < <(USERS=$USERS load "$op" 32 -s benches/wrk/payment.lua "$BASE/graphql") ;;
        esac
        [ -n "$ceiling" ] || ceiling=$rps
        printf '| %s | %.0f | %s |\n' "$op" "$rps" "$(awk -v r="$rps" -v c="$ceiling" 'BEGIN { printf "%.3f", r / c }')"
    done
    kill "$SERVER"; wait "$SERVER" 2>/dev/null || true; SERVER=
fi
psql "$PG_URL/postgres" -qc "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null
