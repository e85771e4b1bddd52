//! Aggregates for the statistics (SPEC §4 `stats`, §5 `/api/stats`).
//!
//! On PostgreSQL they are kept by the writes (migration 14): [`figures`]
//! reads the counters, [`fold`] compacts them. SQLite scans the tables
//! ([`scanned`]), which PostgreSQL's tests also do to check the counters.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use entity::sea_orm_active_enums::RiskLevel as StoredLevel;
use sea_orm::{ActiveEnum, ConnectionTrait, DatabaseBackend, DbErr, Iterable, Statement};

use crate::domain::PaymentStatus;
use crate::risk::Outcome;

/// `level = 'low'` and so on: a stored level as an SQL condition. The
/// spellings come from the enum; they are fixed words, never client input.
fn level_is(level: StoredLevel) -> String {
    format!("level = '{}'", level.to_value())
}

/// `status IN ('failed', 'declined')`: the statuses the model counts as
/// failures, from the enum.
fn failed_status() -> String {
    let failed: Vec<String> = PaymentStatus::iter()
        .filter(|status| Outcome::from(*status) == Outcome::Failed)
        .map(|status| format!("'{}'", status.to_value()))
        .collect();
    format!("status IN ({})", failed.join(", "))
}

/// Counts over users and their stored scores.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ScoreAggregates {
    /// Every user.
    pub total_users: u64,
    /// Active users.
    pub active_users: u64,
    /// Active users per stored level, in the enum's order (low to critical).
    pub levels: [u64; 4],
    /// Sum of the active users' scores.
    pub score_sum: f64,
    /// Active users per tenth of score: [0, 0.1), …, [0.9, 1].
    pub histogram: [u64; 10],
}

/// Counts over payments.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PaymentAggregates {
    /// Every payment.
    pub total: u64,
    /// Failed or declined.
    pub failed: u64,
}

fn get_u64(row: &sea_orm::QueryResult, index: usize) -> Result<u64, DbErr> {
    let value: Option<i64> = row.try_get_by_index(index)?;
    Ok(value.unwrap_or(0).max(0) as u64)
}

/// What the statistics are made of.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Figures {
    /// Users and their scores.
    pub scores: ScoreAggregates,
    /// Every payment.
    pub payments: PaymentAggregates,
    /// Payments per UTC day from the day asked on, days without payments
    /// left out, oldest first.
    pub days: Vec<(NaiveDate, PaymentAggregates)>,
    /// Active high-risk users per current plan type (`None`: no plan), most
    /// first, then by plan type, no plan last.
    pub high_risk_by_plan: Vec<(Option<String>, u64)>,
}

/// The figures, with the UTC days from `first_day` on: the kept counters
/// on PostgreSQL, scans on SQLite.
pub async fn figures<C: ConnectionTrait>(conn: &C, first_day: NaiveDate) -> Result<Figures, DbErr> {
    match conn.get_database_backend() {
        DatabaseBackend::Postgres => counted(conn, first_day).await,
        _ => scanned(conn, first_day).await,
    }
}

/// The figures computed by scanning the tables.
pub async fn scanned<C: ConnectionTrait>(conn: &C, first_day: NaiveDate) -> Result<Figures, DbErr> {
    Ok(Figures {
        scores: scores(conn).await?,
        payments: payments(conn).await?,
        days: daily_failures(conn, first_day.and_time(NaiveTime::MIN).and_utc()).await?,
        high_risk_by_plan: high_risk_by_plan(conn).await?,
    })
}

/// The figures from the counters the writes keep on PostgreSQL (migration
/// 14): each counter's folded total plus the deltas appended since, in one
/// statement, so they are those of one snapshot.
pub async fn counted<C: ConnectionTrait>(conn: &C, first_day: NaiveDate) -> Result<Figures, DbErr> {
    // Keys of days sort by date, and a day's failures right after it. The
    // rows come in the order the scan gives the plans (most first, then by
    // plan type in the database's collation, no plan last); the other keys
    // do not depend on it.
    let first_day = format!("day/{}", first_day.format("%Y-%m-%d"));
    let rows = conn
        .query_all_raw(Statement::from_sql_and_values(
            DatabaseBackend::Postgres,
            "SELECT key, SUM(count)::bigint, SUM(amount)::float8 FROM ( \
               SELECT key, count, amount FROM stats_totals \
               UNION ALL SELECT key, count, amount FROM stats_deltas) c \
             WHERE key NOT LIKE 'day/%' OR key >= $1 GROUP BY key \
             ORDER BY SUM(count) DESC, \
               CASE WHEN key LIKE 'plan/%' THEN substr(key, 6) END NULLS LAST",
            [first_day.into()],
        ))
        .await?;
    let mut figures = Figures::default();
    let mut days: BTreeMap<NaiveDate, PaymentAggregates> = BTreeMap::new();
    for row in &rows {
        let key: String = row.try_get_by_index(0)?;
        let count = get_u64(row, 1)?;
        let scores = &mut figures.scores;
        match key.split_once('/') {
            None => match key.as_str() {
                "users" => scores.total_users = count,
                "active_users" => scores.active_users = count,
                "scored" => {
                    scores.score_sum = row.try_get_by_index::<Option<f64>>(2)?.unwrap_or(0.0)
                }
                "payments" => figures.payments.total = count,
                "failed" => figures.payments.failed = count,
                "plan" if count > 0 => figures.high_risk_by_plan.push((None, count)),
                _ => {}
            },
            Some(("level", level)) => {
                if let Some(index) = StoredLevel::iter().position(|l| l.to_value() == level) {
                    scores.levels[index] = count;
                }
            }
            Some(("histogram", tenth)) => {
                if let Some(slot) = tenth
                    .parse::<usize>()
                    .ok()
                    .and_then(|i| scores.histogram.get_mut(i))
                {
                    *slot = count;
                }
            }
            Some(("plan", plan)) if count > 0 => {
                figures
                    .high_risk_by_plan
                    .push((Some(plan.to_owned()), count));
            }
            Some(("day", day)) => {
                let (day, failed) = match day.strip_suffix("/failed") {
                    Some(day) => (day, true),
                    None => (day, false),
                };
                let date = NaiveDate::parse_from_str(day, "%Y-%m-%d")
                    .map_err(|e| DbErr::Type(format!("day {day:?}: {e}")))?;
                let slot = days.entry(date).or_default();
                if failed {
                    slot.failed = count;
                } else {
                    slot.total = count;
                }
            }
            Some(_) => {}
        }
    }
    figures.days = days.into_iter().filter(|(_, day)| day.total > 0).collect();
    Ok(figures)
}

/// Moves the deltas the writes appended into the counters' totals, in one
/// statement: a reader sees either. Safe beside writers (they only append).
/// One fold runs at a time: another process's fold meanwhile moves nothing
/// rather than waiting on its row locks (advisory lock "RMCOUNTS").
/// PostgreSQL only.
pub async fn fold<C: ConnectionTrait>(conn: &C) -> Result<(), DbErr> {
    conn.execute_raw(Statement::from_string(
        DatabaseBackend::Postgres,
        "WITH turn AS (SELECT pg_try_advisory_xact_lock(5930470292329485395) AS mine), \
             moved AS (DELETE FROM stats_deltas WHERE (SELECT mine FROM turn) \
               RETURNING key, count, amount) \
             INSERT INTO stats_totals (key, count, amount) \
             SELECT key, SUM(count), SUM(amount) FROM moved GROUP BY key \
             ON CONFLICT (key) DO UPDATE SET count = stats_totals.count + EXCLUDED.count, \
             amount = stats_totals.amount + EXCLUDED.amount",
    ))
    .await
    .map(|_| ())
}

/// Reclaims the space of the folded deltas, which the next writes reuse:
/// the deltas table stays a few pages long without depending on
/// autovacuum. Without truncating the table (which would take a lock every
/// append conflicts with, replayed on the replicas), and skipped while
/// another vacuum of it runs. Not in a transaction.
pub async fn vacuum_counters<C: ConnectionTrait>(conn: &C) -> Result<(), DbErr> {
    conn.execute_unprepared("VACUUM (TRUNCATE false, SKIP_LOCKED) stats_deltas, stats_totals")
        .await
        .map(|_| ())
}

/// Users, levels, average and histogram, in two scans.
pub async fn scores<C: ConnectionTrait>(conn: &C) -> Result<ScoreAggregates, DbErr> {
    let backend = conn.get_database_backend();
    let users = conn
        .query_one_raw(Statement::from_string(
            backend,
            "SELECT COUNT(*), COALESCE(SUM(CASE WHEN is_active THEN 1 ELSE 0 END), 0) FROM users",
        ))
        .await?
        .ok_or_else(|| DbErr::RecordNotFound("user counts".into()))?;
    let mut histogram_columns = String::new();
    for i in 0..10 {
        let upper = if i == 9 {
            "score <= 1.0".to_owned()
        } else {
            format!("score < {:.1}", (i + 1) as f64 / 10.0)
        };
        let lower = format!("score >= {:.1}", i as f64 / 10.0);
        histogram_columns.push_str(&format!(
            ", COALESCE(SUM(CASE WHEN {lower} AND {upper} THEN 1 ELSE 0 END), 0)"
        ));
    }
    let level_columns: Vec<String> = StoredLevel::iter()
        .map(|level| {
            format!(
                "COALESCE(SUM(CASE WHEN {} THEN 1 ELSE 0 END), 0)",
                level_is(level)
            )
        })
        .collect();
    let sql = format!(
        "SELECT {}, COALESCE(SUM(score), 0.0){histogram_columns} \
         FROM risk_scores WHERE is_active",
        level_columns.join(", ")
    );
    let row = conn
        .query_one_raw(Statement::from_string(backend, sql))
        .await?
        .ok_or_else(|| DbErr::RecordNotFound("score aggregates".into()))?;
    let mut histogram = [0; 10];
    for (i, slot) in histogram.iter_mut().enumerate() {
        *slot = get_u64(&row, 5 + i)?;
    }
    let score_sum: Option<f64> = row.try_get_by_index(4)?;
    Ok(ScoreAggregates {
        total_users: get_u64(&users, 0)?,
        active_users: get_u64(&users, 1)?,
        levels: [
            get_u64(&row, 0)?,
            get_u64(&row, 1)?,
            get_u64(&row, 2)?,
            get_u64(&row, 3)?,
        ],
        score_sum: score_sum.unwrap_or(0.0),
        histogram,
    })
}

/// Every payment and the failed ones.
pub async fn payments<C: ConnectionTrait>(conn: &C) -> Result<PaymentAggregates, DbErr> {
    let row = conn
        .query_one_raw(Statement::from_string(
            conn.get_database_backend(),
            format!(
                "SELECT COUNT(*), COALESCE(SUM(CASE WHEN {} THEN 1 ELSE 0 END), 0) \
                 FROM subscription_payments",
                failed_status()
            ),
        ))
        .await?
        .ok_or_else(|| DbErr::RecordNotFound("payment counts".into()))?;
    Ok(PaymentAggregates {
        total: get_u64(&row, 0)?,
        failed: get_u64(&row, 1)?,
    })
}

/// Payments and failures per UTC day from `since` on, days without payments
/// left out.
pub async fn daily_failures<C: ConnectionTrait>(
    conn: &C,
    since: DateTime<Utc>,
) -> Result<Vec<(NaiveDate, PaymentAggregates)>, DbErr> {
    let backend = conn.get_database_backend();
    // The day of a timestamp differs by backend: timestamptz on PostgreSQL,
    // RFC 3339 text in UTC on SQLite. On PostgreSQL the rows are grouped by
    // the date and only the groups are formatted: formatting every row and
    // sorting the texts cost most of the query.
    let (day, group) = match backend {
        DatabaseBackend::Postgres => (
            "to_char((payment_date AT TIME ZONE 'UTC')::date, 'YYYY-MM-DD')",
            "(payment_date AT TIME ZONE 'UTC')::date",
        ),
        _ => ("substr(payment_date, 1, 10)", "substr(payment_date, 1, 10)"),
    };
    let placeholder = match backend {
        DatabaseBackend::Postgres => "$1",
        _ => "?",
    };
    let sql = format!(
        "SELECT {day} AS day, COUNT(*), \
         COALESCE(SUM(CASE WHEN {failed} THEN 1 ELSE 0 END), 0) \
         FROM subscription_payments WHERE payment_date >= {placeholder} \
         GROUP BY {group} ORDER BY {group}",
        failed = failed_status()
    );
    let rows = conn
        .query_all_raw(Statement::from_sql_and_values(backend, sql, [since.into()]))
        .await?;
    let mut days = Vec::with_capacity(rows.len());
    for row in rows {
        let day: String = row.try_get_by_index(0)?;
        let date = NaiveDate::parse_from_str(&day, "%Y-%m-%d")
            .map_err(|e| DbErr::Type(format!("day {day:?}: {e}")))?;
        days.push((
            date,
            PaymentAggregates {
                total: get_u64(&row, 1)?,
                failed: get_u64(&row, 2)?,
            },
        ));
    }
    Ok(days)
}

/// Active users at the high level or above per current plan type (`None`
/// for users without a plan), most first, ties by name.
pub async fn high_risk_by_plan<C: ConnectionTrait>(
    conn: &C,
) -> Result<Vec<(Option<String>, u64)>, DbErr> {
    let high: Vec<String> = [StoredLevel::High, StoredLevel::Critical]
        .into_iter()
        .map(|level| format!("'{}'", level.to_value()))
        .collect();
    let sql = format!(
        "SELECT subscription_type, COUNT(*) AS n FROM risk_scores \
         WHERE is_active AND level IN ({}) \
         GROUP BY subscription_type ORDER BY n DESC, subscription_type",
        high.join(", ")
    );
    let rows = conn
        .query_all_raw(Statement::from_string(conn.get_database_backend(), sql))
        .await?;
    rows.iter()
        .map(|row| Ok((row.try_get_by_index(0)?, get_u64(row, 1)?)))
        .collect()
}

/// Cases still being worked (open or acknowledged) per level at raising,
/// in the enum's order (low to critical).
pub async fn open_cases_by_level<C: ConnectionTrait>(conn: &C) -> Result<[u64; 4], DbErr> {
    let open: Vec<String> = crate::store::alerts::OPEN_STATUSES
        .iter()
        .map(|status| format!("'{}'", status.to_value()))
        .collect();
    let sql = format!(
        "SELECT risk_level, COUNT(*) FROM alerts WHERE status IN ({}) GROUP BY risk_level",
        open.join(", ")
    );
    let rows = conn
        .query_all_raw(Statement::from_string(conn.get_database_backend(), sql))
        .await?;
    let mut counts = [0; 4];
    for row in &rows {
        let level: String = row.try_get_by_index(0)?;
        if let Some(index) = StoredLevel::iter().position(|l| l.to_value() == level) {
            counts[index] = get_u64(row, 1)?;
        }
    }
    Ok(counts)
}
