# Helpers shared by the benchmarks (sourced, not run). They write under
# $WORK and repeat each load $REPEAT times, both set by the sourcing script
# (bench_prepare sets WORK).

# A work folder ($WORK, removed at exit, with the server whose pid is in
# $SERVER if one runs), wrk and GNU time installed, and $BIN built when it
# is this tree's release build.
bench_prepare() {
    WORK=$(mktemp -d)
    SERVER=
    trap '[ -z "$SERVER" ] || kill "$SERVER" 2>/dev/null || true; rm -rf "$WORK"' EXIT
    command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
    [ -x /usr/bin/time ] || { apt-get update -qq && apt-get install -y -qq time >/dev/null; }
    if [[ $BIN == target/release/risk-monitor ]]; then
        cargo build --release --locked --bin risk-monitor >&2
    fi
}

# A new PostgreSQL database $PG_DB on $PG_URL, migrated by $BIN, seeded with
# $USERS users (seed 42) and analyzed; dropped at exit, beside what
# bench_prepare's trap cleans up.
bench_seed_pg_db() {
    psql "$PG_URL/postgres" -qc "DROP DATABASE IF EXISTS $PG_DB" -c "CREATE DATABASE $PG_DB"
    trap '[ -z "$SERVER" ] || kill "$SERVER" 2>/dev/null || true; rm -rf "$WORK";
          psql "$PG_URL/postgres" -qc "DROP DATABASE IF EXISTS $PG_DB"' EXIT
    DATABASE_URL=$PG_URL/$PG_DB "$BIN" --config /nonexistent migrate up >/dev/null 2>&1
    DATABASE_URL=$PG_URL/$PG_DB "$BIN" --config /nonexistent seed --users "$USERS" --seed 42 >/dev/null 2>&1
    psql "$PG_URL/$PG_DB" -qc "VACUUM (ANALYZE)"
}

timed() { # CMD... → prints "seconds peak_MB"
    local out; out=$(mktemp)
    /usr/bin/time -f '%e %M' -o "$out" "$@" >/dev/null 2>"$WORK/timed.err" || { cat "$WORK/timed.err" >&2; exit 1; }
    awk '{ printf "%s %d\n", $1, $2 / 1024 }' "$out"; rm -f "$out"
}

# The machine's busy CPU time so far, in clock ticks (user, nice, system,
# irq, softirq: not idle, not waiting on the disk).
busy_ticks() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 }' /proc/stat; }

median() { sort -g | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }

to_ms() { # wrk latency "1.23ms" / "456.00us" / "1.02s" → ms
    awk '{ v = $1; if (v ~ /us$/) { sub(/us$/, "", v); v /= 1000 } else if (v ~ /ms$/) { sub(/ms$/, "", v) } else if (v ~ /s$/) { sub(/s$/, "", v); v *= 1000 } print v }'
}

# load NAME CONNECTIONS [wrk args...] → "p50_ms p99_ms rps" (medians of REPEAT runs)
load() {
    local name=$1 conns=$2; shift 2
    local p50s=() p99s=() rpss=()
    for _ in $(seq "$REPEAT"); do
        wrk -t2 -c"$conns" -d"${DURATION}s" --latency "$@" > "$WORK/wrk.out" 2>&1
        if grep -q "Non-2xx" "$WORK/wrk.out"; then echo "$name: non-2xx answers" >&2; cat "$WORK/wrk.out" >&2; exit 1; fi
        p50s+=("$(awk '$1 == "50%" { print $2 }' "$WORK/wrk.out" | to_ms)")
        p99s+=("$(awk '$1 == "99%" { print $2 }' "$WORK/wrk.out" | to_ms)")
        rpss+=("$(awk '/^Requests\/sec/ { print $2 }' "$WORK/wrk.out")")
    done
    echo "$(printf '%s\n' "${p50s[@]}" | median) $(printf '%s\n' "${p99s[@]}" | median) $(printf '%s\n' "${rpss[@]}" | median)"
}

gql_body() { # NAME QUERY → a GraphQL request body file, for wrk or curl
    python3 -c 'import json,sys; print(json.dumps({"query": sys.argv[1]}))' "$2" > "$WORK/$1.json"
    echo "$WORK/$1.json"
}
