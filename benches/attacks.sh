#!/usr/bin/env bash
# The service under attack (issue #10), on loopback, in a few minutes:
#
#   benches/attacks.sh                        # SQLite, 10,000 users, 10 s windows
#   USERS=2000 DURATION=5 benches/attacks.sh  # quicker
#
# Seeds a fresh SQLite database, starts the release server on 127.0.0.1 and,
# for each attack, measures the latency of `/health/live` and of an ordinary
# query (`{ stats { totalUsers } }`) for DURATION seconds without the attack,
# then DURATION seconds during it; prints one table (p50 and p99 in ms).
#
# The ordinary client sends one request at a time, each on a new connection
# from one of 127.0.0.2–127.0.0.254 in turn (a crowd of clients, none over the
# rate limit); the attackers come from 127.0.0.1:
#   fragments   4 connections posting a 20-level exponential fragment bomb
#   stats×50    4 connections posting 50 aliased stats(trendDays: 1…50)
#   slow heads  connections sending a header line every second, never ending
#               their heads (reconnecting when cut off): SLOW_UNDER (200),
#               within one address's share of the connections (256), and
#               SLOW_OVER (2000), past the whole cap (1024)
#   over rate   8 connections posting the ordinary query as fast as they can
#               (RATE_LIMIT_PER_MINUTE=600; the others run with it off, so
#               that the attack reaches the GraphQL layer)
# Needs wrk (installed from Debian's packages if missing) and python3.
set -euo pipefail
cd "$(dirname "$0")/.."

USERS=${USERS:-10000}
DURATION=${DURATION:-10}
PORT=${PORT:-18766}
SLOW_UNDER=${SLOW_UNDER:-200}
SLOW_OVER=${SLOW_OVER:-2000}
BIN=${CARGO_TARGET_DIR:-target}/release/risk-monitor
BASE="http://127.0.0.1:$PORT"
WORK=$(mktemp -d)
SERVER=
ATTACK=
trap 'kill $ATTACK $SERVER 2>/dev/null || true; rm -rf "$WORK"' EXIT

command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
cargo build --release --locked --bin risk-monitor >&2
ulimit -n 16384 2>/dev/null || ulimit -n "$(ulimit -Hn)"

export DATABASE_URL="sqlite://$WORK/attacks.db?mode=rwc" DEMO_DATA=false LOG_LEVEL=error \
    API_HOST=127.0.0.1 API_PORT=$PORT
"$BIN" --config /nonexistent seed --users "$USERS" --seed 42 >/dev/null

start_server() { # RATE_LIMIT_PER_MINUTE
    RATE_LIMIT_PER_MINUTE=$1 "$BIN" --config /nonexistent serve >> "$WORK/server.log" 2>&1 &
    SERVER=$!
    for _ in $(seq 100); do curl -sf "$BASE/health/live" >/dev/null && return; sleep 0.1; done
    echo "the server did not start" >&2; cat "$WORK/server.log" >&2; exit 1
}
stop_server() { kill -TERM "$SERVER"; wait "$SERVER" || true; SERVER=; }

# The ordinary client: alternates GET /health/live and the stats query for
# DURATION seconds; prints "live_p50 live_p99 query_p50 query_p99 failures".
cat > "$WORK/measure.py" <<'PY'
import http.client, sys, time
port, duration = int(sys.argv[1]), float(sys.argv[2])
body = b'{"query": "{ stats { totalUsers } }"}'
lat = {"live": [], "query": []}
failures, n = 0, 0
end = time.monotonic() + duration
while time.monotonic() < end:
    for kind in ("live", "query"):
        n += 1
        source = "127.0.0.%d" % (2 + n % 253)
        started = time.monotonic()
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=30, source_address=(source, 0))
            if kind == "live":
                c.request("GET", "/health/live")
            else:
                c.request("POST", "/graphql", body, {"Content-Type": "application/json"})
            r = c.getresponse()
            answer = r.read()
            c.close()
            ok = r.status == 200 and (kind == "live" or b'"totalUsers"' in answer)
        except Exception:
            ok = False
        if ok:
            lat[kind].append((time.monotonic() - started) * 1000)
        else:
            failures += 1
def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(len(xs) * p))] if xs else float("nan")
print("%.2f %.2f %.2f %.2f %d" % (pct(lat["live"], .5), pct(lat["live"], .99),
                                   pct(lat["query"], .5), pct(lat["query"], .99), failures))
PY

# Slow heads: N connections from 127.0.0.1 that never finish their request
# head; prints how many the server cut off (after a second or more) and how
# many it closed at once (past the cap of one address), each followed by a
# new connection.
cat > "$WORK/slow.py" <<'PY'
import asyncio, sys
port, count, duration = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
cut, refused = 0, 0
async def one():
    global cut, refused
    loop = asyncio.get_running_loop()
    end = loop.time() + duration
    while loop.time() < end:
        try:
            r, w = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            await asyncio.sleep(0.1)
            continue
        opened = loop.time()
        try:
            w.write(b"GET /health/live HTTP/1.1\r\nHost: x\r\n")
            while loop.time() < end:
                await w.drain()
                try:
                    if await asyncio.wait_for(r.read(1024), 1.0) == b"":
                        break
                except asyncio.TimeoutError:
                    w.write(b"X-Slow: 1\r\n")
        except OSError:
            pass
        w.close()
        if loop.time() < end:
            if loop.time() - opened < 1.0:
                refused += 1
                await asyncio.sleep(0.1)
            else:
                cut += 1
async def main():
    await asyncio.gather(*(one() for _ in range(count)))
    print(cut, refused)
asyncio.run(main())
PY

# shellcheck source=benches/lib.sh
source benches/lib.sh
fragments=$(python3 - <<'PY'
levels = 20
q = "query { ...F0 }\n"
for i in range(levels):
    q += "fragment F%d on Query { ...F%d ...F%d }\n" % (i, i + 1, i + 1)
q += "fragment F%d on Query { __typename }\n" % levels
print(q)
PY
)
f_fragments=$(gql_body fragments "$fragments")
f_stats50=$(gql_body stats50 "{ $(for d in $(seq 50); do printf 'd%d: stats(trendDays: %d) { totalUsers failureTrend { day failed } } ' "$d" "$d"; done) }")
f_ordinary=$(gql_body ordinary '{ stats { totalUsers } }')

declare -A before during notes
flood() { # NAME CONNECTIONS BODY
    BODY_FILE=$3 wrk -t2 -c"$2" -d"$((DURATION + 2))s" -s benches/wrk/graphql.lua "$BASE/graphql" > "$WORK/$1.wrk" 2>&1 &
    ATTACK=$!
}
run() { # NAME: measures without, then during the attack that `attack_NAME` starts
    local name=$1
    before[$name]=$(python3 "$WORK/measure.py" "$PORT" "$DURATION")
    "attack_$name"
    sleep 1
    during[$name]=$(python3 "$WORK/measure.py" "$PORT" "$DURATION")
    wait "$ATTACK" || true
    ATTACK=
    notes[$name]=$("note_$name")
    sleep 1
}
rps() { awk '/^Requests\/sec/ { printf "%.0f req/s", $2 }' "$WORK/$1.wrk"; }
code_of() { # BODY → the first error code of one answer, or "ok"
    curl -s "$BASE/graphql" -H 'content-type: application/json' --data-binary "@$1" \
        | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["errors"][0]["extensions"]["code"] if d.get("errors") else "ok")'
}

attack_fragments() { flood fragments 4 "$f_fragments"; }
note_fragments() { echo "$(rps fragments), each answered $(code_of "$f_fragments")"; }
attack_stats50() { flood stats50 4 "$f_stats50"; }
note_stats50() { echo "$(rps stats50), each answered $(code_of "$f_stats50")"; }
attack_slow_under() {
    python3 "$WORK/slow.py" "$PORT" "$SLOW_UNDER" "$((DURATION + 2))" > "$WORK/slow_under.out" & ATTACK=$!
}
slow_note() { # COUNT FILE
    local cut refused; read -r cut refused < "$2"
    echo "$1 connections kept open from one address; $cut cut off by the header timeout, $refused closed at once (over the address's share)"
}
note_slow_under() { slow_note "$SLOW_UNDER" "$WORK/slow_under.out"; }
attack_slow_over() {
    python3 "$WORK/slow.py" "$PORT" "$SLOW_OVER" "$((DURATION + 2))" > "$WORK/slow_over.out" & ATTACK=$!
}
note_slow_over() { slow_note "$SLOW_OVER" "$WORK/slow_over.out"; }
attack_over_rate() { flood over_rate 8 "$f_ordinary"; }
note_over_rate() {
    local non2xx; non2xx=$(awk '/Non-2xx/ { print $NF }' "$WORK/over_rate.wrk")
    echo "$(rps over_rate), ${non2xx:-0} answered 429"
}

start_server 0
run fragments
run stats50
run slow_under
run slow_over
stop_server
start_server 600
run over_rate
stop_server

echo "## Under attack ($(date -u +%Y-%m-%d), $(nproc) cores, SQLite, $USERS users, ${DURATION}s windows)"
echo
echo "| attack | /health/live p50 / p99 ms, without → during | stats query p50 / p99 ms, without → during | failed requests without → during | the attack |"
echo "|---|---|---|---|---|"
for name in fragments stats50 slow_under slow_over over_rate; do
    read -r lb5 lb9 qb5 qb9 fb <<<"${before[$name]}"
    read -r ld5 ld9 qd5 qd9 fd <<<"${during[$name]}"
    printf '| %s | %s / %s → %s / %s | %s / %s → %s / %s | %s → %s | %s |\n' \
        "$name" "$lb5" "$lb9" "$ld5" "$ld9" "$qb5" "$qb9" "$qd5" "$qd9" "$fb" "$fd" "${notes[$name]}"
done
