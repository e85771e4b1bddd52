#!/usr/bin/env bash
# A full rescore and a seed, two binaries side by side on PostgreSQL
# (issue #13, items 2 and 6):
#
#   BASE_BIN=/path/to/older/risk-monitor benches/rescore.sh     # 1,000,000 users
#   USERS=100000 REPEAT=5 BASE_BIN=… benches/rescore.sh
#
# BIN (default this tree's release build) and BASE_BIN, in turn, REPEAT
# times (default 3):
#   - seed USERS users (seed 42) into an empty database, each binary its own;
#   - on one database seeded by BASE_BIN, `rescore` under unchanged rules
#     (it reads every payment and writes nearly nothing) and `rescore` with
#     new weights (it rewrites nearly every row: each side gets weights the
#     previous run did not use). Each binary runs on its own schema: before
#     BASE_BIN's turn, BIN reverts the migrations BASE_BIN does not know
#     (untimed), and applies them again before its own.
# For each: wall seconds, the service's user CPU seconds, its peak RSS and
# the CPU the whole machine spent (the database's included), medians (the
# lower of two), and new ÷ base. Run it on an otherwise idle machine.
set -euo pipefail
cd "$(dirname "$0")/.."

USERS=${USERS:-1000000}
REPEAT=${REPEAT:-3}
PG_URL=${PG_URL:-postgres://postgres@127.0.0.1:5432}
PG_DB=${PG_DB:-bench_rescore}
BIN=${BIN:-target/release/risk-monitor}
BASE_BIN=${BASE_BIN:?BASE_BIN: the release binary to compare with}
# shellcheck source=benches/lib.sh
source benches/lib.sh
bench_prepare
export DEMO_DATA=false LOG_LEVEL=warn

fresh_db() { # NAME
    psql "$PG_URL/postgres" -qc "DROP DATABASE IF EXISTS $1" -c "CREATE DATABASE $1" >/dev/null
}
busy() { awk '/^cpu /{ print $2 + $3 + $4 + $7 + $8 }' /proc/stat; }
# measure LABEL CMD...: appends "wall user_cpu peak_MB machine_cpu" to $WORK/LABEL.
measure() {
    local label=$1; shift
    local out before after
    out=$(mktemp); before=$(busy)
    /usr/bin/time -f '%e %U %M' -o "$out" "$@" >/dev/null 2>"$WORK/err" || { cat "$WORK/err" >&2; exit 1; }
    after=$(busy)
    awk -v cpu="$(( (after - before) ))" '{ printf "%s %s %d %.1f\n", $1, $2, $3 / 1024, cpu / 100 }' "$out" >> "$WORK/$label"
    rm -f "$out"
}
side_bin() { [[ $1 == base ]] && echo "$BASE_BIN" || echo "$BIN"; }

for _ in $(seq "$REPEAT"); do
    for side in base new; do
        fresh_db "${PG_DB}_seed"
        DATABASE_URL="$PG_URL/${PG_DB}_seed" "$(side_bin $side)" --config /nonexistent migrate up >/dev/null 2>&1
        DATABASE_URL="$PG_URL/${PG_DB}_seed" measure "seed_$side" \
            "$(side_bin $side)" --config /nonexistent seed --users "$USERS" --seed 42
    done
done
psql "$PG_URL/postgres" -qc "DROP DATABASE IF EXISTS ${PG_DB}_seed"

export DATABASE_URL=$PG_URL/$PG_DB
fresh_db "$PG_DB"
"$BASE_BIN" --config /nonexistent migrate up >/dev/null 2>&1
"$BASE_BIN" --config /nonexistent seed --users "$USERS" --seed 42 >/dev/null 2>&1
# The migrations BIN has and BASE_BIN does not (pending once BASE_BIN's are
# applied), then all of them applied.
newer=$("$BIN" --config /nonexistent migrate status 2>/dev/null | grep -c '^Pending' || true)
"$BIN" --config /nonexistent migrate up >/dev/null 2>&1
schema_of() { # SIDE: the database at that side's migrations
    if [[ $1 == base && $newer -gt 0 ]]; then
        "$BIN" --config /nonexistent migrate down --steps "$newer" >/dev/null
    elif [[ $1 == new && $newer -gt 0 ]]; then
        "$BIN" --config /nonexistent migrate up >/dev/null
    fi
}
echo "migrations BIN has and BASE_BIN does not: $newer" >&2
# Two weight sets, neither the default (0.50 0.20), each of which moves
# nearly every score from the default's.
weights=("0.45 0.25" "0.40 0.30")
run=0
for _ in $(seq "$REPEAT"); do
    for side in base new; do
        schema_of "$side"
        measure "same_$side" "$(side_bin $side)" --config /nonexistent rescore
        read -r recent amount <<< "${weights[$((run % 2))]}"
        run=$((run + 1))
        RISK_WEIGHT_RECENT_FAILURES=$recent RISK_WEIGHT_AMOUNT=$amount \
            measure "weights_$side" "$(side_bin $side)" --config /nonexistent rescore
        # Back to the default weights, so the next "same rules" run finds
        # every row as those rules score it.
        "$BIN" --config /nonexistent rescore >/dev/null 2>&1
    done
done
psql "$PG_URL/postgres" -qc "DROP DATABASE IF EXISTS $PG_DB"

col() { awk -v c="$2" '{ print $c }' "$WORK/$1" | median; }
echo "| $USERS users, median of $REPEAT | base wall | new wall | new ÷ base | base user CPU | new user CPU | base / new peak | machine CPU base / new |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|"
for what in "seed:seed" "same:rescore, same rules" "weights:rescore, new weights"; do
    key=${what%%:*} label=${what#*:}
    bw=$(col "${key}_base" 1) nw=$(col "${key}_new" 1)
    printf '| %s | %s s | %s s | %.2f | %s s | %s s | %s / %s MB | %s / %s s |\n' "$label" "$bw" "$nw" \
        "$(echo "$nw / $bw" | bc -l)" "$(col "${key}_base" 2)" "$(col "${key}_new" 2)" \
        "$(col "${key}_base" 3)" "$(col "${key}_new" 3)" "$(col "${key}_base" 4)" "$(col "${key}_new" 4)"
done
echo "all runs (wall user peak machine):" >&2
for f in "$WORK"/seed_* "$WORK"/same_* "$WORK"/weights_*; do echo "$(basename "$f"): $(tr '\n' ';' < "$f")" >&2; done
