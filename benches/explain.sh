#!/usr/bin/env bash
# EXPLAIN ANALYZE of the hot queries on a seeded PostgreSQL database
# (default: the one benches/http.sh leaves, bench_http), as Markdown.
#
#   benches/explain.sh [DATABASE_URL]
set -euo pipefail
URL=${1:-postgres://postgres@127.0.0.1:5432/bench_http}
q() { psql "$URL" -Atc "$1"; }
user=$(q "SELECT user_id FROM risk_scores ORDER BY user_id OFFSET 500000 LIMIT 1")
read -r score id < <(q "SELECT score, user_id FROM risk_scores WHERE is_active AND score >= 0.4 ORDER BY score DESC, user_id OFFSET 50000 LIMIT 1" | tr '|' ' ')
customer=$(q "SELECT split_part(email, '@', 1) FROM users WHERE id = $id")
list="SELECT r.*, u.* FROM risk_scores r LEFT JOIN users u ON u.id = r.user_id WHERE r.is_active AND r.score >= 0.4"
explain() { # TITLE SQL
    echo "### $1"; echo; echo '```sql'; echo "$2"; echo '```'; echo; echo '```text'
    psql "$URL" -Atc "EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) $2"
    echo '```'; echo
}
explain "riskyUsers, first page" "$list ORDER BY r.score DESC, r.user_id LIMIT 21"
explain "riskyUsers, 50,000 deep (keyset): the rest of the cursor's ties" "$list AND r.score = $score AND r.user_id > $id ORDER BY r.score DESC, r.user_id LIMIT 21"
explain "riskyUsers, 50,000 deep (keyset): then the lower scores" "$list AND r.score < $score ORDER BY r.score DESC, r.user_id LIMIT 21"
explain "riskyUsers totalCount (cached 5 s)" "SELECT count(*) FROM risk_scores WHERE is_active AND score >= 0.4"
# A search's page: its user ids first (matches, ordered, limited), then those rows.
search() { # TERM
    echo "SELECT r.*, u.* FROM risk_scores r LEFT JOIN users u ON u.id = r.user_id WHERE r.user_id IN (SELECT s.user_id FROM risk_scores s WHERE s.is_active AND s.score >= 0.4 AND s.user_id IN (SELECT id FROM users WHERE lower(name) LIKE '%$1%' OR lower(email) LIKE '%$1%') ORDER BY s.score DESC, s.user_id LIMIT 21) ORDER BY r.score DESC, r.user_id"
}
# PostgreSQL, a name (migration 12): the first 8,192 rows of the list, walked
# inside idx_risk_scores_search_walk, checked against the copies.
walk() { # TERM
    echo "SELECT user_id FROM (SELECT user_id, score, search_name, search_email FROM risk_scores WHERE is_active AND score >= 0.4 ORDER BY score DESC, user_id LIMIT 8192) walked WHERE search_name LIKE '%$1%' OR search_email LIKE '%$1%' ORDER BY score DESC, user_id LIMIT 21"
}
explain "riskyUsers with a search: the walk" "$(walk smith)"
explain "riskyUsers with a search: without the walk (a rare name's second step)" "$(search smith)"
explain "riskyUsers searching one customer" "$(search "$customer")"
explain "riskyUsers totalCount with a search (cached 5 s)" "SELECT count(*) FROM risk_scores WHERE is_active AND score >= 0.4 AND user_id IN (SELECT id FROM users WHERE lower(name) LIKE '%smith%' OR lower(email) LIKE '%smith%')"
# A write's summary of the longest history (benches/writes.sh's user 1 when
# this database has it): the newest 5 backwards and the oldest 4 forwards.
long=$(q "SELECT user_id FROM risk_scores ORDER BY total_payments DESC LIMIT 1")
rank="(CASE WHEN status IN ('failed', 'declined') THEN 0 WHEN status = 'success' THEN 2 ELSE 1 END)"
explain "a write's summary: the newest and oldest payments of the longest history" "SELECT u.id, true, p.* FROM (VALUES ($long::bigint)) AS u(id) CROSS JOIN LATERAL (SELECT payment_date, amount_cents, status FROM subscription_payments WHERE user_id = u.id ORDER BY payment_date DESC, $rank, amount_cents LIMIT 5) p UNION ALL SELECT u.id, false, p.* FROM (VALUES ($long::bigint)) AS u(id) CROSS JOIN LATERAL (SELECT payment_date, amount_cents, status FROM subscription_payments WHERE user_id = u.id ORDER BY payment_date, $rank DESC, amount_cents DESC LIMIT 4) p"
explain "one user's payments (analysis)" "SELECT user_id, payment_date, amount_cents, status FROM subscription_payments WHERE user_id = $user"
explain "one user's newest payments" "SELECT * FROM subscription_payments WHERE user_id = $user ORDER BY payment_date DESC, id DESC LIMIT 10"
explain "refresher: scores due" "SELECT user_id FROM risk_scores WHERE next_change_at <= now() ORDER BY next_change_at LIMIT 1000"
explain "stats: daily failure trend (30 days)" "SELECT to_char(payment_date AT TIME ZONE 'UTC', 'YYYY-MM-DD') AS day, COUNT(*), SUM(CASE WHEN status IN ('failed', 'declined') THEN 1 ELSE 0 END) FROM subscription_payments WHERE payment_date >= now() - interval '30 days' GROUP BY day ORDER BY day"
