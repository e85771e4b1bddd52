//! Statistics kept by the writes on PostgreSQL (issue #13 item 6).
//!
//! The statistics (SPEC §4 `stats`) were computed by scanning `users`,
//! `risk_scores` and `subscription_payments`: at ten million users one
//! computation read 12.6 GB and took a minute. Here every write keeps them:
//!
//! - A statement that inserts, updates or deletes rows of those tables
//!   appends what it changed to `stats_deltas`, in its own transaction: one
//!   row per counter it moved, `(key, count, amount)`, from the statement's
//!   transition tables (a trigger per statement, not per row: a statement
//!   that writes thousands of rows appends a few dozen).
//! - `stats_totals` holds the counters folded so far. A counter's value is
//!   its total plus its deltas, read in one statement, so every reader sees
//!   the counters of one consistent snapshot, exact at any time.
//! - Folding (`store::stats::fold`) moves the deltas into the totals in one
//!   statement; every `serve` process does it every 10 seconds. Writers
//!   only append, so they never wait on each other for a counter.
//!
//! The keys (the store reads them back, `store::stats::counted`):
//!
//! | key | count | amount |
//! |---|---|---|
//! | `users`, `active_users` | users, active users | |
//! | `scored` | active users with a score in [0, 1] | the sum of their scores |
//! | `level/<level>` | active users at that level | |
//! | `histogram/<0-9>` | active users per tenth of score | |
//! | `plan/<type>`, `plan` | active high or critical users per plan type, without one | |
//! | `payments`, `failed` | payments, failed or declined ones | |
//! | `day/<YYYY-MM-DD>`, `day/<YYYY-MM-DD>/failed` | the same for one UTC day | |
//!
//! The score sum is `numeric`: adding and removing the same score leaves it
//! exactly as it was, however many writes pass (a score outside [0, 1],
//! which the model never gives, is left out of it: a NaN would stay in a
//! sum for good). The failed statuses and the
//! histogram's bounds are those of the scans they replace; a test compares
//! the kept figures with the scans after random writes. SQLite keeps
//! scanning: it serves one machine's data, where a scan takes milliseconds.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DatabaseBackend};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// What each row of a table counts for, as `(key, amount)` pairs of a
/// lateral `VALUES` over `s`, a row of the table with a `sign` (1 added, -1
/// removed). A NULL key counts for nothing.
pub(crate) struct Counted {
    pub(crate) table: &'static str,
    /// The columns of the table the keys are computed from.
    pub(crate) columns: &'static str,
    /// Only the rows matching this count.
    pub(crate) filter: &'static str,
    /// The `(key, amount)` expressions over `s`.
    pub(crate) keys: &'static [(&'static str, &'static str)],
}

pub(crate) const USERS: Counted = Counted {
    table: "users",
    columns: "is_active",
    filter: "true",
    keys: &[
        ("'users'", "0::numeric"),
        ("CASE WHEN s.is_active THEN 'active_users' END", "0"),
    ],
};

pub(crate) const SCORES: Counted = Counted {
    table: "risk_scores",
    columns: "score, level, subscription_type",
    filter: "is_active",
    keys: &[
        (
            "CASE WHEN s.score BETWEEN 0.0 AND 1.0 THEN 'scored' END",
            "s.score::numeric",
        ),
        ("'level/' || s.level", "0"),
        (
            "'histogram/' || CASE \
              WHEN s.score >= 0.0 AND s.score < 0.1 THEN '0' \
              WHEN s.score >= 0.1 AND s.score < 0.2 THEN '1' \
              WHEN s.score >= 0.2 AND s.score < 0.3 THEN '2' \
              WHEN s.score >= 0.3 AND s.score < 0.4 THEN '3' \
              WHEN s.score >= 0.4 AND s.score < 0.5 THEN '4' \
              WHEN s.score >= 0.5 AND s.score < 0.6 THEN '5' \
              WHEN s.score >= 0.6 AND s.score < 0.7 THEN '6' \
              WHEN s.score >= 0.7 AND s.score < 0.8 THEN '7' \
              WHEN s.score >= 0.8 AND s.score < 0.9 THEN '8' \
              WHEN s.score >= 0.9 AND s.score <= 1.0 THEN '9' END",
            "0",
        ),
        (
            "CASE WHEN s.level IN ('high', 'critical') \
              THEN 'plan' || COALESCE('/' || s.subscription_type, '') END",
            "0",
        ),
    ],
};

/// Payments are grouped by day and outcome before their keys are formatted:
/// a seed's COPY of millions of rows formats a few hundred days.
pub(crate) const PAYMENTS: Counted = Counted {
    table: "subscription_payments",
    columns: "(payment_date AT TIME ZONE 'UTC')::date AS day, \
              status IN ('failed', 'declined') AS failed",
    filter: "true",
    keys: &[
        ("'payments'", "0::numeric"),
        ("CASE WHEN s.failed THEN 'failed' END", "0"),
        ("'day/' || to_char(s.day, 'YYYY-MM-DD')", "0"),
        (
            "CASE WHEN s.failed THEN 'day/' || to_char(s.day, 'YYYY-MM-DD') || '/failed' END",
            "0",
        ),
    ],
};

/// The rows of `sources`, each `(sign, relation)`, as `n` (the sign, or for
/// payments the signed count of a group) and the columns the keys read.
pub(crate) fn grouped(counted: &Counted, sources: &[(i32, &str)]) -> String {
    let rows: Vec<String> = sources
        .iter()
        .map(|(sign, relation)| {
            format!(
                "SELECT {sign} AS sign, {} FROM {relation} WHERE {}",
                counted.columns, counted.filter
            )
        })
        .collect();
    let rows = rows.join(" UNION ALL ");
    if counted.table == PAYMENTS.table {
        format!(
            "SELECT sign * COUNT(*) AS n, day, failed FROM ({rows}) r GROUP BY sign, day, failed"
        )
    } else {
        format!("SELECT sign AS n, * FROM ({rows}) r")
    }
}

/// The counters moved by the rows of `sources`, each `(sign, relation)`,
/// one row per key that moved.
pub(crate) fn counters(counted: &Counted, sources: &[(i32, &str)]) -> String {
    let values: Vec<String> = counted
        .keys
        .iter()
        .map(|(key, amount)| format!("({key}, {amount})"))
        .collect();
    summed_by_key(&grouped(counted, sources), "s", &values.join(", "))
}

/// Sums by key the `(key, amount)` rows that a lateral `VALUES` makes of
/// each row `alias` of `rows` (which has `n`), keeping the keys that moved.
pub(crate) fn summed_by_key(rows: &str, alias: &str, values: &str) -> String {
    format!(
        "SELECT k.key, SUM({alias}.n) AS count, SUM({alias}.n * k.amount) AS amount \
         FROM ({rows}) {alias} CROSS JOIN LATERAL (VALUES {values}) AS k(key, amount) \
         WHERE k.key IS NOT NULL GROUP BY k.key \
         HAVING SUM({alias}.n) <> 0 OR SUM({alias}.n * k.amount) <> 0"
    )
}

/// The keys a table's rows count for, as a condition on `key`: what a
/// `TRUNCATE` of it empties.
fn keys_of(counted: &Counted) -> &'static str {
    match counted.table {
        "users" => "key IN ('users', 'active_users')",
        "risk_scores" => {
            "key = 'scored' OR key = 'plan' OR key LIKE 'level/%' OR key LIKE 'histogram/%' \
             OR key LIKE 'plan/%'"
        }
        _ => "key IN ('payments', 'failed') OR key LIKE 'day/%'",
    }
}

/// The trigger function of a table: appends the counters its statement
/// moved, or forgets the table's counters when it is truncated (which takes
/// the table's exclusive lock, so no write of it is pending).
pub(crate) fn function(
    counted: &Counted,
    counters: fn(&Counted, &[(i32, &str)]) -> String,
) -> String {
    let insert = "INSERT INTO stats_deltas (key, count, amount) ";
    format!(
        "CREATE OR REPLACE FUNCTION stats_count_{table}() RETURNS trigger LANGUAGE plpgsql AS $$ \
         BEGIN \
           IF TG_OP = 'INSERT' THEN {insert}{inserted}; \
           ELSIF TG_OP = 'UPDATE' THEN {insert}{updated}; \
           ELSIF TG_OP = 'DELETE' THEN {insert}{deleted}; \
           ELSE \
             DELETE FROM stats_deltas WHERE {keys}; \
             DELETE FROM stats_totals WHERE {keys}; \
           END IF; \
           RETURN NULL; \
         END $$",
        table = counted.table,
        inserted = counters(counted, &[(1, "new_rows")]),
        updated = counters(counted, &[(1, "new_rows"), (-1, "old_rows")]),
        deleted = counters(counted, &[(-1, "old_rows")]),
        keys = keys_of(counted),
    )
}

/// The four triggers of a table. (A trigger with transition tables cannot
/// name the columns it fires on: an update that changes none of the
/// counted columns appends nothing, as its rows cancel out.)
fn triggers(counted: &Counted) -> [String; 4] {
    let table = counted.table;
    let run = format!("EXECUTE FUNCTION stats_count_{table}()");
    [
        format!(
            "CREATE TRIGGER stats_count_insert AFTER INSERT ON {table} \
             REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT {run}"
        ),
        format!(
            "CREATE TRIGGER stats_count_update AFTER UPDATE ON {table} \
             REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT {run}"
        ),
        format!(
            "CREATE TRIGGER stats_count_delete AFTER DELETE ON {table} \
             REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT {run}"
        ),
        format!(
            "CREATE TRIGGER stats_count_truncate AFTER TRUNCATE ON {table} FOR EACH STATEMENT {run}"
        ),
    ]
}

/// Every statement of the migration, in order.
fn up_statements() -> Vec<String> {
    let mut statements = vec![
        // Nothing may write the counted tables between the count below and
        // the triggers' first firing (the migration's transaction holds the
        // locks). Taken in the order a write takes them (a user, then a
        // payment, then the score), so that a write running meanwhile
        // waits instead of deadlocking.
        "LOCK TABLE users, subscription_payments, risk_scores IN SHARE ROW EXCLUSIVE MODE"
            .to_owned(),
        "CREATE TABLE stats_totals (key text PRIMARY KEY, count bigint NOT NULL, \
         amount numeric NOT NULL)"
            .to_owned(),
        // A vacuum of the emptied deltas must not truncate the table: that
        // takes a lock every write's append conflicts with.
        "CREATE TABLE stats_deltas (key text NOT NULL, count bigint NOT NULL, \
         amount numeric NOT NULL) WITH (vacuum_truncate = false)"
            .to_owned(),
    ];
    for counted in [USERS, SCORES, PAYMENTS] {
        statements.push(format!(
            "INSERT INTO stats_totals (key, count, amount) {}",
            counters(&counted, &[(1, counted.table)])
        ));
        statements.push(function(&counted, counters));
        statements.extend(triggers(&counted));
    }
    statements
}

const POSTGRES_DOWN: [&str; 14] = [
    "DROP TRIGGER IF EXISTS stats_count_insert ON users",
    "DROP TRIGGER IF EXISTS stats_count_update ON users",
    "DROP TRIGGER IF EXISTS stats_count_delete ON users",
    "DROP TRIGGER IF EXISTS stats_count_truncate ON users",
    "DROP TRIGGER IF EXISTS stats_count_insert ON risk_scores",
    "DROP TRIGGER IF EXISTS stats_count_update ON risk_scores",
    "DROP TRIGGER IF EXISTS stats_count_delete ON risk_scores",
    "DROP TRIGGER IF EXISTS stats_count_truncate ON risk_scores",
    "DROP TRIGGER IF EXISTS stats_count_insert ON subscription_payments",
    "DROP TRIGGER IF EXISTS stats_count_update ON subscription_payments",
    "DROP TRIGGER IF EXISTS stats_count_delete ON subscription_payments",
    "DROP TRIGGER IF EXISTS stats_count_truncate ON subscription_payments",
    "DROP FUNCTION IF EXISTS stats_count_users(), stats_count_risk_scores(), \
     stats_count_subscription_payments()",
    "DROP TABLE IF EXISTS stats_deltas, stats_totals",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() == DatabaseBackend::Postgres {
            for sql in up_statements() {
                manager.get_connection().execute_unprepared(&sql).await?;
            }
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() == DatabaseBackend::Postgres {
            for sql in POSTGRES_DOWN {
                manager.get_connection().execute_unprepared(sql).await?;
            }
        }
        Ok(())
    }
}
