#!/usr/bin/env bash
# The reads, two builds side by side on one PostgreSQL database:
#
#   BASE_BIN=/tmp/base-rm benches/reads.sh
#   USERS=100000 REPEAT=5 DURATION=5 BASE_BIN=… benches/reads.sh
#   SEED=0 PG_DB=… BASE_BIN=… benches/reads.sh   # a database already seeded
#
# Seeds one database (PG_DB: USERS users, seed 42, analyzed) unless SEED=0,
# then serves it with each build in turn, alternating (base first), REPEAT
# turns each; a turn warms the fresh server up for 10 s, untimed, then runs
# each operation for DURATION seconds at
# concurrency 4 (p50 and p99) and 32 (requests per second):
# `{ __typename }`, `riskyUsers(first: 20)` and `userRiskAnalysis` of a
# random user (benches/wrk/analysis.lua), over HTTP with wrk. Ends with the
# medians and their ratios. The database is dropped at the end when this
# script seeded it.
set -euo pipefail
cd "$(dirname "$0")/.."

USERS=${USERS:-1000000}
REPEAT=${REPEAT:-3}
DURATION=${DURATION:-5}
PG_URL=${PG_URL:-postgres://postgres@127.0.0.1:5432}
SEED=${SEED:-1}
PG_DB=${PG_DB:-bench_reads}
PORT=${PORT:-18767}
BIN=${BIN:-target/release/risk-monitor}
BASE_BIN=${BASE_BIN:?the build to compare with, a release binary}
# shellcheck source=benches/lib.sh
source benches/lib.sh
bench_prepare
URL=$PG_URL/$PG_DB

if [[ $SEED == 1 ]]; then
    bench_seed_pg_db
fi

list='edges { node { user { id name email } riskScore riskLevel patterns subscriptionType monthlyAmount } } pageInfo { hasNextPage endCursor }'
f_typename=$(gql_body typename "{ __typename }")
f_first=$(gql_body first "{ riskyUsers(first: 20) { totalCount $list } }")
OPERATIONS=(typename first analysis)

# measure NAME CONNECTIONS → "p50_ms p99_ms rps": one wrk run of NAME on
# the server at $PORT
measure() {
    local script=benches/wrk/graphql.lua body=
    case $1 in
        typename) body=$f_typename ;;
        first) body=$f_first ;;
        analysis) script=benches/wrk/analysis.lua ;;
    esac
    BODY_FILE=$body USERS=$USERS REPEAT=1 load "$1" "$2" -s "$script" "http://127.0.0.1:$PORT/graphql"
}

turn() { # SIDE → one line per operation: "name p50_ms p99_ms rps"
    local bin=$BIN; [[ $1 == base ]] && bin=$BASE_BIN
    DATABASE_URL=$URL DEMO_DATA=false LOG_LEVEL=warn API_PORT=$PORT RATE_LIMIT_PER_MINUTE=0 \
        "$bin" --config /nonexistent serve > "$WORK/server.log" 2>&1 &
    SERVER=$!
    for _ in $(seq 100); do curl -sf "http://127.0.0.1:$PORT/health/live" >/dev/null && break; sleep 0.1; done
    local name
    # Untimed first: a fresh server's first seconds answer the list in up
    # to hundreds of milliseconds now and then, in both builds alike
    # (BENCHMARKS.md).
    for name in first analysis; do
        DURATION=5 measure "$name" 4 >/dev/null
    done
    for name in "${OPERATIONS[@]}"; do
        read -r p50 p99 _ < <(measure "$name" 4)
        read -r _ _ rps < <(measure "$name" 32)
        echo "$name $p50 $p99 $rps"
    done
    kill -TERM "$SERVER"; wait "$SERVER" || true; SERVER=
}

: > "$WORK/base"; : > "$WORK/new"
for i in $(seq "$REPEAT"); do
    for side in base new; do
        turn "$side" | tee -a "$WORK/$side" | sed "s/^/turn $i, $side: /" >&2
    done
done

col() { awk -v n="$1" -v c="$2" '$1 == n { print $c }' "$3" | median; }
echo
echo "### Reads over $USERS users, PostgreSQL (medians of $REPEAT turns of ${DURATION} s, the builds alternating)"
echo
echo "| operation | base p50 / p99 ms (c=4) | new p50 / p99 ms (c=4) | base req/s (c=32) | new req/s (c=32) | new ÷ base req/s |"
echo "|---|---|---|---:|---:|---:|"
for name in "${OPERATIONS[@]}"; do
    b=$(col "$name" 4 "$WORK/base"); n=$(col "$name" 4 "$WORK/new")
    printf '| %s | %s / %s | %s / %s | %s | %s | %.2f |\n' "$name" \
        "$(col "$name" 2 "$WORK/base")" "$(col "$name" 3 "$WORK/base")" \
        "$(col "$name" 2 "$WORK/new")" "$(col "$name" 3 "$WORK/new")" \
        "$b" "$n" "$(echo "$n / $b" | bc -l)"
done
