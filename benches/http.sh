#!/usr/bin/env bash
# The scale benchmark of issue #5, in one command:
#
#   benches/http.sh                 # PostgreSQL 1,000,000 users, SQLite 100,000
#   USERS=100000 SQLITE_USERS=0 benches/http.sh   # smaller/faster variants
#
# For each backend: seeds a fresh database (timed, peak RSS), runs a full
# rescore (timed, peak RSS), starts the release server, and drives it over
# HTTP from a second process (wrk, installed from Debian's packages) at
# concurrency 4 (latency: p50/p99) and 32 (throughput), each run REPEAT times
# (default 3) for DURATION seconds (default 10); medians are reported. Every
# figure is also given as a ratio of the trivial liveness route measured in
# the same run (the machine's HTTP ceiling). Before the load: the first
# statistics request of the fresh server (it computes the snapshot: the
# refresh's time) with the database blocks it touched (PostgreSQL's
# pg_stat_database), and the first byte of the whole list's CSV export.
# Ends with the server's peak RSS, and a check that scores are exact after
# the payment load.
#
#   USERS=10000000 SQLITE_USERS=0 DURATION=5 benches/http.sh   # ten million (about 30 GB)
set -euo pipefail
cd "$(dirname "$0")/.."

USERS=${USERS:-1000000}
SQLITE_USERS=${SQLITE_USERS:-100000}
REPEAT=${REPEAT:-3}
DURATION=${DURATION:-10}
PG_URL=${PG_URL:-postgres://postgres@127.0.0.1:5432}
PORT=${PORT:-18765}
BIN=target/release/risk-monitor
WORK=$(mktemp -d)
SERVER=
trap '[ -z "$SERVER" ] || kill "$SERVER" 2>/dev/null || true; rm -rf "$WORK"' EXIT

command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
[ -x /usr/bin/time ] || { apt-get update -qq && apt-get install -y -qq time >/dev/null; }
cargo build --release --locked --bin risk-monitor >&2

# shellcheck source=benches/lib.sh
source benches/lib.sh

bench_backend() { # BACKEND URL USERS
    local backend=$1 url=$2 users=$3
    # One client address drives the load: no rate limit.
    export DATABASE_URL=$url DEMO_DATA=false LOG_LEVEL=warn API_PORT=$PORT RATE_LIMIT_PER_MINUTE=0
    "$BIN" --config /nonexistent migrate fresh >/dev/null 2>&1
    read -r seed_s seed_mb < <(timed "$BIN" --config /nonexistent seed --users "$users" --seed 42)
    read -r rescore_s rescore_mb < <(timed "$BIN" --config /nonexistent rescore)

    "$BIN" --config /nonexistent serve > "$WORK/server.log" 2>&1 &
    SERVER=$!
    for _ in $(seq 100); do curl -sf "http://127.0.0.1:$PORT/health/live" >/dev/null && break; sleep 0.1; done
    local base="http://127.0.0.1:$PORT"

    # A cursor deep in the list: after the 50,000th risky user (or the middle).
    local deep
    deep=$(curl -s "$base/graphql" -H 'content-type: application/json' \
        -d '{"query":"{ riskyUsers(first: 1) { totalCount } }"}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["riskyUsers"]["totalCount"])')
    local offset=$(( deep > 100000 ? 50000 : deep / 2 ))
    local after
    after=$(python3 - "$base" "$offset" <<'PY'
import json, sys, urllib.request
base, offset = sys.argv[1], int(sys.argv[2])
after, seen = None, 0
while seen < offset:
    q = {"query": "query($a: String) { riskyUsers(first: 100, after: $a) { pageInfo { endCursor } } }", "variables": {"a": after}}
    req = urllib.request.Request(base + "/graphql", json.dumps(q).encode(), {"content-type": "application/json"})
    after = json.load(urllib.request.urlopen(req))["data"]["riskyUsers"]["pageInfo"]["endCursor"]
    seen += 100
print(after)
PY
)
    # One customer looked up by their email's local part, as support does.
    local customer
    customer=$(curl -s "$base/graphql" -H 'content-type: application/json' \
        -d "{\"query\":\"{ riskyUsers(first: 1, after: \\\"$after\\\") { edges { node { user { email } } } } }\"}" \
        | python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["riskyUsers"]["edges"][0]["node"]["user"]["email"].split("@")[0])')
    local list='edges { node { user { id name email } riskScore riskLevel patterns subscriptionType monthlyAmount } } pageInfo { hasNextPage endCursor }'
    local b_live="$base/health/live"
    local f_typename; f_typename=$(gql_body typename "{ __typename }")
    local f_first; f_first=$(gql_body first "{ riskyUsers(first: 20) { totalCount $list } }")
    local f_search; f_search=$(gql_body search "{ riskyUsers(first: 20, search: \"smith\") { $list } }")
    local f_customer; f_customer=$(gql_body customer "{ riskyUsers(first: 20, search: \"$customer\") { $list } }")
    local f_deep; f_deep=$(gql_body deep "{ riskyUsers(first: 20, after: \"$after\") { $list } }")
    local f_stats; f_stats=$(gql_body stats '{ stats { totalUsers activeUsers highRiskUsers totalPayments failedPayments overallFailureRate avgRiskScore levels { level count } histogram { from to count } failureTrend { day payments failed failureRate } computedAt } }')

    # The statistics snapshot's refresh: the fresh server's first request
    # computes it (one computation, whatever the request). The blocks are
    # PostgreSQL's shared buffers hit or read meanwhile (its counters are
    # flushed within a second of a transaction's end).
    local blocks_before blocks_after stats_s export_first
    blocks() { if [[ $url == postgres* ]]; then psql "$url" -Atc "SELECT blks_hit + blks_read FROM pg_stat_database WHERE datname = current_database()"; else echo 0; fi; }
    sleep 1.5; blocks_before=$(blocks)
    stats_s=$(curl -s -o /dev/null -w '%{time_total}' "$base/graphql" -H 'content-type: application/json' -d @"$f_stats")
    sleep 1.5; blocks_after=$(blocks)
    export_first=$(curl -s -o /dev/null -w '%{time_starttransfer}' --max-time 2 "$base/api/export/risky-users.csv?min_score=0" || true)

    declare -A lat thr
    run() { # NAME wrk-args...
        local name=$1; shift
        lat[$name]=$(load "$name" 4 "$@")
        thr[$name]=$(load "$name" 32 "$@")
    }
    run live "$b_live"
    BODY_FILE=$f_typename run graphql_typename -s benches/wrk/graphql.lua "$base/graphql"
    BODY_FILE=$f_first run riskyUsers_first20 -s benches/wrk/graphql.lua "$base/graphql"
    BODY_FILE=$f_search run riskyUsers_search -s benches/wrk/graphql.lua "$base/graphql"
    BODY_FILE=$f_customer run riskyUsers_search_customer -s benches/wrk/graphql.lua "$base/graphql"
    BODY_FILE=$f_deep run riskyUsers_deep -s benches/wrk/graphql.lua "$base/graphql"
    USERS=$users run userRiskAnalysis -s benches/wrk/analysis.lua "$base/graphql"
    BODY_FILE=$f_stats run stats -s benches/wrk/graphql.lua "$base/graphql"
    run rest_risky_users "$base/api/risky-users"
    run rest_stats "$base/api/stats"
    USERS=$users run recordPayment_spread -s benches/wrk/payment.lua "$base/graphql"
    HOT_USER=1 run recordPayment_hot_user -s benches/wrk/payment.lua "$base/graphql"

    local peak_kb; peak_kb=$(awk '/VmHWM/ { print $2 }' "/proc/$SERVER/status")
    kill -TERM "$SERVER"; wait "$SERVER" || true; SERVER=

    # Scores exact after the payment load: a full rescore changes none of them
    # (but those whose age boundary passed meanwhile, which the refresher
    # would have caught at its next tick).
    local drift
    if [[ $url == postgres* ]]; then
        psql "$url" -qc "DROP TABLE IF EXISTS bench_before" -c "CREATE TABLE bench_before AS SELECT user_id, score, next_change_at, now() AS taken FROM risk_scores" 2>/dev/null
        "$BIN" --config /nonexistent rescore >/dev/null 2>&1
        drift=$(psql "$url" -Atc "SELECT count(*) FROM risk_scores r JOIN bench_before b USING (user_id) WHERE r.score <> b.score AND (b.next_change_at IS NULL OR b.next_change_at > b.taken + interval '5 minutes')")
        psql "$url" -qc "DROP TABLE bench_before"
    else
        drift="n/a"
    fi

    local live_p50 live_rps; read -r live_p50 _ _ <<<"${lat[live]}"; read -r _ _ live_rps <<<"${thr[live]}"
    echo
    echo "### $backend, $users users"
    echo
    echo "seed: ${seed_s} s (peak ${seed_mb} MB) · full rescore: ${rescore_s} s (peak ${rescore_mb} MB) · server peak RSS under load: $((peak_kb / 1024)) MB · scores changed by a rescore after the payment load: $drift"
    echo
    echo "statistics snapshot computed by the first request: ${stats_s} s, $((blocks_after - blocks_before)) database blocks (8 kB, hit or read) · CSV export of the whole list, first byte: ${export_first} s"
    echo
    echo "| operation | p50 ms (c=4) | p99 ms (c=4) | p50 ÷ liveness | req/s (c=32) | req/s ÷ liveness |"
    echo "|---|---|---|---|---|---|"
    for name in live graphql_typename riskyUsers_first20 riskyUsers_search riskyUsers_search_customer riskyUsers_deep userRiskAnalysis stats rest_risky_users rest_stats recordPayment_spread recordPayment_hot_user; do
        read -r p50 p99 _ <<<"${lat[$name]}"; read -r _ _ rps <<<"${thr[$name]}"
        printf '| %s | %.2f | %.2f | %.1f× | %.0f | %.3f |\n' "$name" "$p50" "$p99" "$(echo "$p50 / $live_p50" | bc -l)" "$rps" "$(echo "$rps / $live_rps" | bc -l)"
    done
}

echo "## Results ($(date -u +%Y-%m-%d), $(nproc) cores, $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo), $(psql "$PG_URL/postgres" -Atc 'SHOW server_version' | cut -d' ' -f1) PostgreSQL; medians of $REPEAT runs of ${DURATION}s)"
psql "$PG_URL/postgres" -qc "DROP DATABASE IF EXISTS bench_http" -c "CREATE DATABASE bench_http" >/dev/null 2>&1
bench_backend PostgreSQL "$PG_URL/bench_http" "$USERS"
if (( SQLITE_USERS > 0 )); then
    bench_backend SQLite "sqlite://$WORK/bench.db?mode=rwc" "$SQLITE_USERS"
fi
