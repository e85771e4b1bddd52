#!/usr/bin/env bash
# The list's searches alone, measured as benches/http.sh measures them (wrk,
# c=4 for p50/p99 and c=32 for throughput, medians of REPEAT runs of
# DURATION seconds, ratios to the liveness route of the same run), on a
# database of this script's own (PG_DB, default bench_search) and its own
# port, so that it can run beside http.sh:
#
#   benches/search.sh                                 # PostgreSQL 1,000,000 users, SQLite 100,000
#   BINS="/tmp/old /tmp/new" USERS=1000000 benches/search.sh
#   SEED=0 benches/search.sh                         # PostgreSQL: the database the last run seeded
#
# With several binaries in BINS, the first seeds (and rescores, as http.sh
# does) and each then serves the same database in turn, oldest first (a
# newer one applies its migrations when it starts: their time is printed).
# The operations: `{ __typename }`-free liveness, `search: "smith"` (a common
# name), a search for one customer (their email's local part, found 50,000
# deep in the list as http.sh finds it), and the same two with `totalCount`
# on a cold count (the first request after the server starts: one
# computation, as the cache's first fill costs).
set -euo pipefail
cd "$(dirname "$0")/.."

USERS=${USERS:-1000000}
SQLITE_USERS=${SQLITE_USERS:-100000}
REPEAT=${REPEAT:-3}
DURATION=${DURATION:-5}
PG_URL=${PG_URL:-postgres://postgres@127.0.0.1:5432}
PG_DB=${PG_DB:-bench_search}
PORT=${PORT:-18766}
BINS=${BINS:-target/release/risk-monitor}
SEED=${SEED:-1}  # 0: PostgreSQL reuses PG_DB as the previous run left it
WORK=$(mktemp -d)
trap 'if [[ -n ${SERVER:-} ]]; then kill "$SERVER" 2>/dev/null || true; fi; rm -rf "$WORK"' EXIT

command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
[ -x /usr/bin/time ] || { apt-get update -qq && apt-get install -y -qq time >/dev/null; }
if [[ $BINS == target/release/risk-monitor ]]; then
    cargo build --release --locked --bin risk-monitor >&2
fi

# shellcheck source=benches/lib.sh
source benches/lib.sh
gql_ms() { # BODY_FILE → milliseconds of one request
    curl -s -o /dev/null -w '%{time_total}' "http://127.0.0.1:$PORT/graphql" -H 'content-type: application/json' -d @"$1" \
        | awk '{ printf "%.1f", $1 * 1000 }'
}

start_server() { # BIN → starts it; STARTED: the seconds until it answered (migrations included)
    local bin=$1 t0; t0=$(date +%s.%N)
    "$bin" --config /nonexistent serve > "$WORK/server.log" 2>&1 &
    SERVER=$!
    for _ in $(seq 3000); do curl -sf "http://127.0.0.1:$PORT/health/live" >/dev/null && break; sleep 0.1; done
    curl -sf "http://127.0.0.1:$PORT/health/live" >/dev/null || { cat "$WORK/server.log" >&2; exit 1; }
    STARTED=$(echo "$(date +%s.%N) - $t0" | bc -l | xargs printf '%.1f')
}
stop_server() { kill -TERM "$SERVER"; wait "$SERVER" || true; SERVER=; }

bench_backend() { # BACKEND URL USERS
    local backend=$1 url=$2 users=$3
    export DATABASE_URL=$url DEMO_DATA=false LOG_LEVEL=warn API_PORT=$PORT RATE_LIMIT_PER_MINUTE=0
    local first; read -r first _ <<<"$BINS"
    echo
    echo "### $backend, $users users"
    echo
    if [[ $backend == SQLite || $SEED == 1 ]]; then
        "$first" --config /nonexistent migrate fresh >/dev/null 2>&1
        read -r seed_s seed_mb < <(timed "$first" --config /nonexistent seed --users "$users" --seed 42)
        read -r rescore_s _ < <(timed "$first" --config /nonexistent rescore)
        echo "seeded by $(basename "$first"): ${seed_s} s (peak ${seed_mb} MB) · full rescore: ${rescore_s} s · load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
    else
        echo "the database $PG_DB as a previous run seeded it · load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
    fi
    local base="http://127.0.0.1:$PORT"

    local customer=""
    for bin in $BINS; do
        start_server "$bin"; local started=$STARTED
        if [[ -z $customer ]]; then
            # One customer looked up by their email's local part, 50,000 deep
            # in the list (or in its middle), as http.sh does.
            local total; total=$(curl -s "$base/graphql" -H 'content-type: application/json' \
                -d '{"query":"{ riskyUsers(first: 1) { totalCount } }"}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["riskyUsers"]["totalCount"])')
            customer=$(python3 - "$base" $(( total > 100000 ? 50000 : total / 2 )) <<'PY'
import json, sys, urllib.request
base, offset = sys.argv[1], int(sys.argv[2])
def page(first, after):
    q = {"query": "query($a: String) { riskyUsers(first: %d, after: $a) { edges { node { user { email } } } pageInfo { endCursor } } }" % first, "variables": {"a": after}}
    req = urllib.request.Request(base + "/graphql", json.dumps(q).encode(), {"content-type": "application/json"})
    return json.load(urllib.request.urlopen(req))["data"]["riskyUsers"]
after, seen = None, 0
while seen < offset:
    after = page(100, after)["pageInfo"]["endCursor"]
    seen += 100
print(page(1, after)["edges"][0]["node"]["user"]["email"].split("@")[0])
PY
)
        fi
        local list='edges { node { user { id name email } riskScore riskLevel patterns subscriptionType monthlyAmount } } pageInfo { hasNextPage endCursor }'
        local f_search f_customer f_search_count f_customer_count
        f_search=$(gql_body search "{ riskyUsers(first: 20, search: \"smith\") { $list } }")
        f_customer=$(gql_body customer "{ riskyUsers(first: 20, search: \"$customer\") { $list } }")
        f_search_count=$(gql_body search_count "{ riskyUsers(first: 20, search: \"smith\") { totalCount $list } }")
        f_customer_count=$(gql_body customer_count "{ riskyUsers(first: 20, search: \"$customer\") { totalCount $list } }")
        # A server started afresh for the cold counts: nothing cached yet.
        stop_server; start_server "$bin"
        local cold_search cold_customer
        cold_search=$(gql_ms "$f_search_count"); cold_customer=$(gql_ms "$f_customer_count")

        declare -A lat thr
        run() { local name=$1; shift; lat[$name]=$(load "$name" 4 "$@"); thr[$name]=$(load "$name" 32 "$@"); }
        run live "$base/health/live"
        BODY_FILE=$f_search run riskyUsers_search -s benches/wrk/graphql.lua "$base/graphql"
        BODY_FILE=$f_customer run riskyUsers_search_customer -s benches/wrk/graphql.lua "$base/graphql"
        stop_server

        local live_p50 live_rps; read -r live_p50 _ _ <<<"${lat[live]}"; read -r _ _ live_rps <<<"${thr[live]}"
        echo
        echo "#### $(basename "$bin"): up and migrated in ${started} s; customer \"$customer\"; first request with totalCount (cold count): smith ${cold_search} ms, customer ${cold_customer} ms; load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
        echo
        echo "| operation | p50 ms (c=4) | p99 ms (c=4) | p50 ÷ liveness | req/s (c=32) | req/s ÷ liveness |"
        echo "|---|---|---|---|---|---|"
        for name in live riskyUsers_search riskyUsers_search_customer; do
            read -r p50 p99 _ <<<"${lat[$name]}"; read -r _ _ rps <<<"${thr[$name]}"
            printf '| %s | %.2f | %.2f | %.1f× | %.0f | %.3f |\n' "$name" "$p50" "$p99" "$(echo "$p50 / $live_p50" | bc -l)" "$rps" "$(echo "$rps / $live_rps" | bc -l)"
        done
    done
}

echo "## Search ($(date -u +%Y-%m-%d), $(nproc) cores, $(psql "$PG_URL/postgres" -Atc 'SHOW server_version' | cut -d' ' -f1) PostgreSQL; medians of $REPEAT runs of ${DURATION}s)"
if (( USERS > 0 )); then
    if [[ $SEED == 1 ]]; then
        psql "$PG_URL/postgres" -qc "DROP DATABASE IF EXISTS $PG_DB" -c "CREATE DATABASE $PG_DB" >/dev/null 2>&1
    fi
    bench_backend PostgreSQL "$PG_URL/$PG_DB" "$USERS"
fi
if (( SQLITE_USERS > 0 )); then
    bench_backend SQLite "sqlite://$WORK/bench.db?mode=rwc" "$SQLITE_USERS"
fi
