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
#
# Prints a markdown table: operation, instructions per request, and the ratio
# to `{ __typename }` (GraphQL's own cost: HTTP, parsing, validation). The
# database's own work is not counted (it runs in PostgreSQL's processes).
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
body() {
    local i=$2
    local user=$(( (i * 7919) % USERS + 1 ))
    case $1 in
        typename) echo '{"query":"{ __typename }"}' ;;
        riskyUsers) echo '{"query":"{ riskyUsers(first: 20) { totalCount edges { cursor node { riskScore riskLevel patterns failureRate user { id name email } } } } }"}' ;;
        userRiskAnalysis) echo "{\"query\":\"{ userRiskAnalysis(userId: \\\"$user\\\") { riskScore riskLevel factors { name contribution } messages recommendations } }\"}" ;;
        recordPayment) echo "{\"query\":\"mutation { recordPayment(input: { userId: \\\"$user\\\", amount: 9.99, currency: \\\"EUR\\\", status: SUCCESS, paymentDate: \\\"2026-11-20T10:00:00Z\\\", paymentMethod: \\\"card\\\", externalId: \\\"bench-$1-$i\\\" }) { riskScore } }\"}" ;;
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
psql "$PG_URL/postgres" -qc "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null
