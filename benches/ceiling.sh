#!/usr/bin/env bash
# PostgreSQL's own ceiling for recordPayment across users (issue #13 item 1):
# a payment batch's statements replayed by pgbench, with no service in the
# loop, so the figure is what the database alone holds on this machine.
#
#   PG_DB=bench_payments_base benches/ceiling.sh    # a seeded database (KEEP=1 benches/payments.sh leaves one)
#   BATCH=14 CLIENTS="1 2 4 8" DURATION=15 PG_DB=… benches/ceiling.sh
#   SETUP="DROP INDEX idx_risk_scores_score_user" PG_DB=… benches/ceiling.sh
#   FUNCTIONS=1 CLIENTS=1 PG_DB=… benches/ceiling.sh   # and the triggers' time
#
# Works on a copy of PG_DB (dropped at the end), which must hold USERS
# users seeded by `risk-monitor seed` and be migrated by the build whose
# statements are copied below (they are the texts `service::ingest`'s round
# sends, taken from PostgreSQL's log; keep them in step). One pgbench
# transaction is one batch of BATCH payments for random users: BEGIN; the
# users' `FOR UPDATE`; the summaries' read (`store::summaries::
# rescoring_of`); the payments' INSERT; the scores' UPDATE (new counts, a
# score that moves with them); the audit entries; one NOTIFY; COMMIT. Not
# replayed: the automatic alerts, raised in about 4 batches out of 10.
# SETUP, if given, is SQL run on the copy first: a variant of the schema
# whose cost is to be measured. FUNCTIONS=1 also times the PL/pgSQL
# functions (the triggers; `track_functions`): their wall time, so measure
# it with CLIENTS=1, where no client waits for a core.
#
# Prints, for each client count, payments per second (transactions ×
# BATCH) and what a payment cost the database: CPU µs (the machine's busy
# time over the run, less pgbench's own, so run it on an otherwise idle
# machine) and WAL (bytes, full-page images, records; pg_stat_wal). The
# CPU and WAL figures move much less from run to run than the throughput.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=benches/lib.sh
source benches/lib.sh

USERS=${USERS:-1000000}
BATCH=${BATCH:-14}
CLIENTS=${CLIENTS:-1 2 4 8}
DURATION=${DURATION:-15}
PG_URL=${PG_URL:-postgres://postgres@127.0.0.1:5432}
PG_DB=${PG_DB:?a database seeded with USERS users}
FUNCTIONS=${FUNCTIONS:-0}
COPY=${PG_DB}_ceiling
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"; psql "$PG_URL/postgres" -qc "DROP DATABASE IF EXISTS $COPY"' EXIT
psql "$PG_URL/postgres" -qc "DROP DATABASE IF EXISTS $COPY" -c "CREATE DATABASE $COPY TEMPLATE $PG_DB"
[[ -n ${SETUP:-} ]] && psql "$PG_URL/$COPY" -v ON_ERROR_STOP=1 -qc "$SETUP"
[[ $FUNCTIONS == 1 ]] && psql "$PG_URL/postgres" -qc "ALTER DATABASE $COPY SET track_functions = 'pl'"
psql "$PG_URL/$COPY" -qc "VACUUM (ANALYZE)"

# The batch's users: BATCH random ids, as a bigint[] literal, and their
# rows for the statements that take one row a payment.
ids=() payments=() scores=() entries=()
for i in $(seq "$BATCH"); do
    ids+=(":u$i")
    payments+=("(NULL, NULL, :u$i, 999, 'EUR', 'success', '2026-11-20T10:00:00Z', 'card', NULL)")
    scores+=("json_build_object('user_id', :u$i::bigint, 'score', 0.$((i % 10))5, 'level', 'medium', 'patterns', 0, 'total_payments', 10, 'failed_payments', :f$i::int, 'succeeded_payments', 7, 'failure_rate', 0.3, 'is_active', true, 'subscription_type', 'basic', 'monthly_amount_cents', 999, 'currency', 'EUR', 'next_change_at', NULL, 'computed_at', '2026-11-28T04:00:00Z')")
    entries+=("('2026-11-28T04:00:00Z', 'local-admin', 'recordPayment', 'payment', :u$i::text, NULL, 'ok', NULL)")
done
join() { local IFS=$1; shift; echo "$*"; }
array="ARRAY[$(join , "${ids[@]}")]::bigint[]"
newest_order="payment_date DESC, (CASE WHEN status IN ('failed', 'declined') THEN 0 WHEN status = 'success' THEN 2 ELSE 1 END), amount_cents"
oldest_order="payment_date, (CASE WHEN status IN ('failed', 'declined') THEN 0 WHEN status = 'success' THEN 2 ELSE 1 END) DESC, amount_cents DESC"
{
    for i in $(seq "$BATCH"); do
        echo "\\set u$i random(1, $USERS)"
        echo "\\set f$i random(0, 5)"
    done
    echo "BEGIN;"
    echo "SELECT id, created_at, is_active FROM users WHERE id = ANY($array) ORDER BY id FOR UPDATE;"
    echo "SELECT user_id, 0, total_payments, failed_payments, succeeded_payments, NULL::timestamptz, NULL::bigint, NULL::varchar, level::varchar FROM risk_scores WHERE user_id = ANY($array) UNION ALL SELECT u.id, 1, NULL::integer, NULL::integer, NULL::integer, p.*, NULL::varchar FROM unnest($array) AS u(id) CROSS JOIN LATERAL (SELECT payment_date, amount_cents, status FROM subscription_payments WHERE user_id = u.id ORDER BY $newest_order LIMIT 5) p UNION ALL SELECT u.id, 2, NULL::integer, NULL::integer, NULL::integer, p.*, NULL::varchar FROM unnest($array) AS u(id) CROSS JOIN LATERAL (SELECT payment_date, amount_cents, status FROM subscription_payments WHERE user_id = u.id ORDER BY $oldest_order LIMIT 4) p UNION ALL SELECT u.id, 4, NULL, NULL, NULL, NULL, s.monthly_amount_cents, s.subscription_type, s.currency::varchar FROM unnest($array) AS u(id) CROSS JOIN LATERAL (SELECT monthly_amount_cents, subscription_type, currency FROM user_subscriptions WHERE user_id = u.id ORDER BY effective_from DESC, id DESC LIMIT 1) s UNION ALL SELECT NULL, 5, NULL, NULL, NULL, NULL, digest_generation_for_write(), NULL, NULL;"
    echo "INSERT INTO subscription_payments (external_id, subscription_id, user_id, amount_cents, currency, status, payment_date, payment_method, failure_reason) VALUES $(join , "${payments[@]}") RETURNING id, external_id, subscription_id, user_id, amount_cents, currency, status, payment_date, payment_method, failure_reason;"
    echo "UPDATE risk_scores AS r SET score = v.score, level = v.level, patterns = v.patterns, total_payments = v.total_payments, failed_payments = v.failed_payments, succeeded_payments = v.succeeded_payments, failure_rate = v.failure_rate, is_active = v.is_active, subscription_type = v.subscription_type, monthly_amount_cents = v.monthly_amount_cents, currency = v.currency, next_change_at = v.next_change_at, computed_at = v.computed_at, baseline_score = CASE WHEN r.baseline_generation < 1 THEN r.score ELSE r.baseline_score END, baseline_level = CASE WHEN r.baseline_generation < 1 THEN r.level ELSE r.baseline_level END, previous_score = CASE WHEN r.baseline_generation = 0 THEN r.baseline_score WHEN r.baseline_generation < 1 THEN r.score ELSE r.previous_score END, previous_level = CASE WHEN r.baseline_generation = 0 THEN r.baseline_level WHEN r.baseline_generation < 1 THEN r.level ELSE r.previous_level END, baseline_generation = 1 FROM json_to_recordset(json_build_array($(join , "${scores[@]}"))) AS v(user_id bigint, score float8, level varchar, patterns integer, total_payments integer, failed_payments integer, succeeded_payments integer, failure_rate float8, is_active boolean, subscription_type varchar, monthly_amount_cents bigint, currency varchar, next_change_at timestamptz, computed_at timestamptz) WHERE r.user_id = v.user_id RETURNING r.user_id;"
    echo "INSERT INTO audit_log (at, actor, action, object_type, object_id, request_id, outcome, detail) VALUES $(join , "${entries[@]}");"
    echo "SELECT pg_notify('risk_monitor_events', json_build_array(json_build_object('t', 'risk_level_changed', 'user_id', :u1::bigint))::text);"
    echo "COMMIT;"
} > "$WORK/batch.sql"

wal() { psql "$PG_URL/$COPY" -Atc "SELECT wal_bytes, wal_fpi, wal_records FROM pg_stat_wal" | tr '|' ' '; }
tick=$(getconf CLK_TCK)
# An expression's value per payment of the run just measured.
per_payment() { echo "($1) / $payments" | bc -l; }

echo "| clients | batches/s | payments/s | mean batch latency ms | database CPU µs/payment | WAL bytes/payment | full-page images/payment | WAL records/payment |"
echo "|---:|---:|---:|---:|---:|---:|---:|---:|"
: > "$WORK/functions"
for clients in $CLIENTS; do
    psql "$PG_URL/$COPY" -qc "CHECKPOINT" -c "SELECT pg_stat_reset()" >/dev/null
    read -r bytes0 fpi0 records0 < <(wal)
    busy0=$(busy_ticks)
    /usr/bin/time -f "%U %S" -o "$WORK/pgbench_cpu" \
        pgbench -n -M prepared -c "$clients" -j "$clients" -T "$DURATION" -f "$WORK/batch.sql" "$PG_URL/$COPY" > "$WORK/out" 2>&1 \
        || { cat "$WORK/out" >&2; exit 1; }
    busy1=$(busy_ticks)
    read -r bytes1 fpi1 records1 < <(wal)
    tps=$(awk '/^tps = / { print $3 }' "$WORK/out")
    latency=$(awk '/^latency average = / { print $4 }' "$WORK/out")
    batches=$(awk '/^number of transactions actually processed:/ { print $6 }' "$WORK/out")
    payments=$((batches * BATCH))
    read -r pg_user pg_system < "$WORK/pgbench_cpu"
    printf '| %s | %.0f | %.0f | %s | %.0f | %.0f | %.2f | %.1f |\n' "$clients" "$tps" "$(echo "$tps * $BATCH" | bc -l)" "$latency" \
        "$(per_payment "(($busy1 - $busy0) / $tick - $pg_user - $pg_system) * 1000000")" \
        "$(per_payment "$bytes1 - $bytes0")" "$(per_payment "$fpi1 - $fpi0")" "$(per_payment "$records1 - $records0")"
    psql "$PG_URL/$COPY" -Atc "SELECT funcname, calls, total_time, self_time FROM pg_stat_user_functions ORDER BY funcname" |
        while IFS='|' read -r name calls total self; do
            printf '| %s | %s | %.1f | %.1f | %.1f |\n' "$clients" "$name" "$(echo "$calls / $batches" | bc -l)" \
                "$(per_payment "$total * 1000")" "$(per_payment "$self * 1000")"
        done >> "$WORK/functions"
done
if [[ -s $WORK/functions ]]; then
    echo
    echo "| clients | PL/pgSQL function | calls/batch | µs/payment | of which its own µs/payment |"
    echo "|---:|---|---:|---:|---:|"
    cat "$WORK/functions"
fi
