#!/usr/bin/env bash
# What the statistics kept by the writes (migration 14) save and cost
# (issue #13, item 6), side by side on one PostgreSQL database:
#
#   BASE_BIN=/path/to/older/risk-monitor benches/counters.sh     # 1,000,000 users
#   USERS=100000 BASE_BIN=… benches/counters.sh
#
# BASE_BIN is a release build from before migration 14 (it scans the tables
# for every computation of the statistics); BIN, this tree's release build,
# keeps them. The database (PG_DB, default bench_counters) is seeded by the
# base binary at migration 13, then each round, REPEAT times (default 3):
#
#   base: `migrate down` the counters if present, serve with BASE_BIN;
#   new:  `migrate up` (its time: the counters' backfill), serve with BIN;
#
# and for each: the fresh server's first `stats` request (one computation
# of the snapshot) with the database blocks it touched, then
# `recordPayment` spread over every user at concurrency 32 for DURATION
# seconds (default 5), which shows what the triggers add to a write.
# Medians are reported. With SEEDS=1 it also times a seed of USERS into an
# empty database with each binary (the triggers fire on the seed's COPY).
set -euo pipefail
cd "$(dirname "$0")/.."

USERS=${USERS:-1000000}
REPEAT=${REPEAT:-3}
DURATION=${DURATION:-5}
PG_URL=${PG_URL:-postgres://postgres@127.0.0.1:5432}
PG_DB=${PG_DB:-bench_counters}
PORT=${PORT:-18768}
BIN=${BIN:-target/release/risk-monitor}
BASE_BIN=${BASE_BIN:?BASE_BIN: a release binary from before migration 14}
SEEDS=${SEEDS:-0}
# shellcheck source=benches/lib.sh
source benches/lib.sh
bench_prepare

url="$PG_URL/$PG_DB"
export DEMO_DATA=false LOG_LEVEL=warn API_PORT=$PORT RATE_LIMIT_PER_MINUTE=0 DIGEST_TIME=off
fresh_db() { # NAME
    psql "$PG_URL/postgres" -qc "DROP DATABASE IF EXISTS $1" -c "CREATE DATABASE $1"
}

declare -A seeded
if [[ $SEEDS == 1 ]]; then
    for side in base new; do
        bin=$([[ $side == base ]] && echo "$BASE_BIN" || echo "$BIN")
        fresh_db "${PG_DB}_seed"
        DATABASE_URL="$PG_URL/${PG_DB}_seed" "$bin" --config /nonexistent migrate up >/dev/null 2>&1
        read -r seeded[$side] _ < <(DATABASE_URL="$PG_URL/${PG_DB}_seed" timed "$bin" --config /nonexistent seed --users "$USERS" --seed 42)
        echo "seed with the $side binary: ${seeded[$side]} s" >&2
    done
    psql "$PG_URL/postgres" -qc "DROP DATABASE IF EXISTS ${PG_DB}_seed"
fi

export DATABASE_URL=$url
fresh_db "$PG_DB"
"$BASE_BIN" --config /nonexistent migrate up >/dev/null 2>&1
"$BASE_BIN" --config /nonexistent seed --users "$USERS" --seed 42 >/dev/null 2>&1
echo "seeded $USERS users" >&2

f_stats=$(gql_body stats '{ stats { totalUsers activeUsers highRiskUsers totalPayments failedPayments overallFailureRate avgRiskScore levels { level count } histogram { from to count } failureTrend { day payments failed failureRate } highRiskByPlan { subscriptionType count } computedAt } }')
blocks() { psql "$url" -Atc "SELECT blks_hit + blks_read FROM pg_stat_database WHERE datname = current_database()"; }
counters_present() { psql "$url" -Atc "SELECT to_regclass('stats_totals') IS NOT NULL"; }

for side in base new; do : > "$WORK/$side"; done
migrate_s=()
for _ in $(seq "$REPEAT"); do
    for side in base new; do
        if [[ $side == base ]]; then
            bin=$BASE_BIN
            [[ $(counters_present) == t ]] && "$BIN" --config /nonexistent migrate down >/dev/null 2>&1
        else
            bin=$BIN
            read -r s _ < <(timed "$BIN" --config /nonexistent migrate up)
            migrate_s+=("$s")
        fi
        "$bin" --config /nonexistent serve > "$WORK/server.log" 2>&1 &
        SERVER=$!
        for _ in $(seq 300); do curl -sf "http://127.0.0.1:$PORT/health/live" >/dev/null && break; sleep 0.1; done
        base="http://127.0.0.1:$PORT"
        # The fresh server's first request computes the snapshot; the
        # blocks are PostgreSQL's shared buffers hit or read meanwhile (its
        # counters are flushed within a second of a transaction's end).
        sleep 1.5; before=$(blocks)
        stats_s=$(curl -s -o /dev/null -w '%{time_total}' "$base/graphql" -H 'content-type: application/json' -d @"$f_stats")
        sleep 1.5; after=$(blocks)
        spread=$(REPEAT=1 USERS=$USERS load spread 32 -s benches/wrk/payment.lua "$base/graphql")
        kill -TERM "$SERVER"; wait "$SERVER" || true; SERVER=
        echo "$stats_s $((after - before)) $(echo "$spread" | awk '{ print $3 }')" >> "$WORK/$side"
    done
done
# Both binaries answer the same figures (computedAt aside) on the same data:
# one more request from each, with no write between.
first_stats() { # BIN SIDE
    "$1" --config /nonexistent serve > "$WORK/server.log" 2>&1 &
    SERVER=$!
    for _ in $(seq 300); do curl -sf "http://127.0.0.1:$PORT/health/live" >/dev/null && break; sleep 0.1; done
    curl -s -o "$WORK/stats.$2.json" "http://127.0.0.1:$PORT/graphql" -H 'content-type: application/json' -d @"$f_stats"
    kill -TERM "$SERVER"; wait "$SERVER" || true; SERVER=
}
first_stats "$BIN" new
"$BIN" --config /nonexistent migrate down >/dev/null 2>&1
first_stats "$BASE_BIN" base
same=$(python3 - "$WORK/stats.base.json" "$WORK/stats.new.json" <<'EOF'
import json, sys
a, b = (json.load(open(p))["data"]["stats"] for p in sys.argv[1:])
for s in (a, b):
    s.pop("computedAt")
print("yes" if a.keys() == b.keys() and all(
    abs(a[k] - b[k]) < 1e-9 if isinstance(a[k], float) else a[k] == b[k] for k in a) else "no")
EOF
)
col() { awk -v c="$1" '{ print $c }' "$2" | median; }

echo
echo "### Statistics kept by the writes, PostgreSQL, $USERS users"
echo
echo "| | scans (base) | counters (new) | new ÷ base |"
echo "|---|---:|---:|---:|"
for row in "statistics, one computation (s)|1" "database blocks it touched|2" "recordPayment spread, c=32 (req/s)|3"; do
    label=${row%|*}; c=${row#*|}
    b=$(col "$c" "$WORK/base"); n=$(col "$c" "$WORK/new")
    printf '| %s | %s | %s | %.3f |\n' "$label" "$b" "$n" "$(echo "$n / $b" | bc -l)"
done
if [[ $SEEDS == 1 ]]; then
    printf '| seed of %s users (s) | %s | %s | %.3f |\n' "$USERS" "${seeded[base]}" "${seeded[new]}" \
        "$(echo "${seeded[new]} / ${seeded[base]}" | bc -l)"
fi
echo
echo "migrate up to the counters (their backfill): $(printf '%s\n' "${migrate_s[@]}" | median) s · same figures from both: $same"
psql "$PG_URL/postgres" -qc "DROP DATABASE IF EXISTS $PG_DB"
