//! What a write reads of its users' histories (SPEC §3.1, [`Summary`]): the
//! counts kept in `risk_scores` and the newest and oldest payments of
//! `subscription_payments`, in one statement for a batch of users, at a cost
//! that does not grow with their histories.

use std::collections::HashMap;
use std::sync::OnceLock;

use chrono::{DateTime, Utc};
use entity::users;
use sea_orm::{
    ActiveEnum, ConnectionTrait, DatabaseBackend, DatabaseConnection, DbErr, QueryResult,
    Statement, Value,
};

use crate::domain::PaymentStatus;
use crate::risk::{Counts, PaymentFact, Summary};

use super::payments::fact;
use super::risk_scores::{CurrentPlan, StoredLevel};
use super::{digest, risk_scores, subscriptions};

/// The model's order of one user's payments at one instant (SPEC §3.1):
/// failures first, then neutral payments, then successes. The words of
/// `idx_subscription_payments_user_order` (migration 10), which SQLite's
/// planner matches character for character.
const TIE_RANK: &str = "(CASE WHEN status IN ('failed', 'declined') THEN 0 \
     WHEN status = 'success' THEN 2 ELSE 1 END)";

/// The stored parts of one user's [`Summary`].
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SummaryParts {
    /// The counts kept with the score; none when the user has no score or
    /// their counts are not known (a row older than migration 10).
    pub counts: Option<Counts>,
    /// The newest [`Summary::NEWEST`] payments, in any order.
    pub newest: Vec<PaymentFact>,
    /// The oldest [`Summary::OLDEST`] payments, in any order.
    pub oldest: Vec<PaymentFact>,
}

/// Which part of a summary a row of [`parts_of`]'s statement holds (or,
/// in [`user_and_parts`]'s, the user's own row).
const COUNTS: i32 = 0;
const NEWEST: i32 = 1;
const OLDEST: i32 = 2;
const USER: i32 = 3;
/// In [`rescoring_of`]'s statement: a user's newest plan version, and the
/// digest generation.
const PLAN: i32 = 4;
const GENERATION: i32 = 5;

/// The stored parts of the summaries of `user_ids` (those without any part
/// are absent): each history's ends read from the end of
/// `idx_subscription_payments_user_order`, however long it is.
pub async fn parts_of<C: ConnectionTrait>(
    conn: &C,
    user_ids: &[i64],
) -> Result<HashMap<i64, SummaryParts>, DbErr> {
    let mut parts: HashMap<i64, SummaryParts> = HashMap::new();
    let backend = conn.get_database_backend();
    // SQLite has no LATERAL: one `UNION ALL` term per user and end, under
    // its bound of 500 terms a statement.
    for chunk in user_ids.chunks(200) {
        let (sql, binds) = statement_for(backend, chunk, false);
        let rows = conn
            .query_all_raw(Statement::from_sql_and_values(backend, sql, binds))
            .await?;
        read_rows(&rows, &mut parts, &mut None)?;
    }
    Ok(parts)
}

/// What rescoring locked users reads before it writes their scores.
#[derive(Clone, Debug, Default)]
pub struct Rescoring {
    /// The stored parts of their summaries, as [`parts_of`] reads them.
    pub parts: HashMap<i64, SummaryParts>,
    /// The stored level of each user that has a score.
    pub levels: HashMap<i64, StoredLevel>,
    /// Each user's newest plan version, as [`subscriptions::current_plans_of`].
    pub plans: HashMap<i64, CurrentPlan>,
    /// The digest generation the scores are written in, as
    /// [`digest::writing_generation`] (its lock taken on PostgreSQL).
    pub generation: i64,
}

/// What rescoring the locked `user_ids` (distinct) reads: on PostgreSQL in
/// one round trip, whose text is the same for any number of users, instead
/// of four (a payment's transaction, the refresher's and one user's
/// rescore all start with these reads). The statement's snapshot is taken
/// before the digest's lock is waited for, which is sound: the users'
/// locks, taken before, keep their rows as read, and the generation is
/// read by the function after its lock, as [`digest::writing_generation`]
/// does. SQLite runs the four reads.
pub async fn rescoring_of<C: ConnectionTrait>(
    conn: &C,
    user_ids: &[i64],
) -> Result<Rescoring, DbErr> {
    let backend = conn.get_database_backend();
    if backend != DatabaseBackend::Postgres {
        return Ok(Rescoring {
            parts: parts_of(conn, user_ids).await?,
            levels: risk_scores::levels_of(conn, user_ids).await?,
            plans: subscriptions::current_plans_of(conn, user_ids).await?,
            generation: digest::writing_generation(conn).await?,
        });
    }
    static TEXT: OnceLock<String> = OnceLock::new();
    let sql = TEXT.get_or_init(rescoring_statement).clone();
    let rows = conn
        .query_all_raw(Statement::from_sql_and_values(
            backend,
            sql,
            [super::bigint_array(user_ids)],
        ))
        .await?;
    let mut read = Rescoring::default();
    let mut generation = None;
    for row in &rows {
        let part: i32 = row.try_get_by_index(1)?;
        if part == GENERATION {
            generation = row.try_get_by_index(6)?;
            continue;
        }
        let user_id: i64 = row.try_get_by_index(0)?;
        match part {
            PLAN => {
                let plan: (Option<String>, Option<i64>, Option<String>) = (
                    row.try_get_by_index(7)?,
                    row.try_get_by_index(6)?,
                    row.try_get_by_index(8)?,
                );
                let (Some(subscription_type), Some(monthly_amount_cents), Some(currency)) = plan
                else {
                    return Err(DbErr::Custom("a plan row without its values".into()));
                };
                read.plans.insert(
                    user_id,
                    CurrentPlan {
                        subscription_type,
                        monthly_amount_cents,
                        currency,
                    },
                );
            }
            COUNTS => {
                let level: Option<String> = row.try_get_by_index(8)?;
                if let Some(level) = level {
                    read.levels
                        .insert(user_id, StoredLevel::try_from_value(&level)?);
                }
            }
            _ => {}
        }
    }
    read_rows(&rows, &mut read.parts, &mut None)?;
    read.generation =
        generation.ok_or_else(|| DbErr::RecordNotFound("the digest generation".into()))?;
    Ok(read)
}

/// [`rescoring_of`]'s PostgreSQL statement, its one value the users' ids
/// (`$1`, see [`super::bigint_array`]): the rows of [`statement`] (the
/// counts' row carrying the stored level in column 8), then each user's
/// newest plan version (type, cents, currency in columns 7, 6 and 8), then
/// the digest generation (column 6).
fn rescoring_statement() -> String {
    let ids = "unnest($1::text::bigint[]) AS u(id)";
    let (newest, oldest) = end_orders();
    let end = |part: i32, order: &str| {
        format!(
            "SELECT u.id, {part}, NULL::integer, NULL::integer, NULL::integer, p.*, \
             NULL::varchar FROM {ids} CROSS JOIN LATERAL (SELECT payment_date, amount_cents, \
             status FROM subscription_payments WHERE user_id = u.id {order}) p"
        )
    };
    format!(
        "SELECT user_id, {COUNTS}, total_payments, failed_payments, succeeded_payments, \
         NULL::timestamptz, NULL::bigint, NULL::varchar, level::varchar FROM risk_scores \
         WHERE user_id = ANY($1::text::bigint[]) \
         UNION ALL {} UNION ALL {} \
         UNION ALL SELECT u.id, {PLAN}, NULL, NULL, NULL, NULL, s.monthly_amount_cents, \
         s.subscription_type, s.currency::varchar FROM {ids} CROSS JOIN LATERAL \
         (SELECT monthly_amount_cents, subscription_type, currency FROM user_subscriptions \
         WHERE user_id = u.id ORDER BY effective_from DESC, id DESC LIMIT 1) s \
         UNION ALL SELECT NULL, {GENERATION}, NULL, NULL, NULL, NULL, \
         digest_generation_for_write(), NULL, NULL",
        end(NEWEST, &newest),
        end(OLDEST, &oldest),
    )
}

/// The user `user_id` and the stored parts of their summary, in one round
/// trip (an analysis reads both); `None` for an unknown user. On PostgreSQL
/// the statement goes to the pool's driver directly: the analysis is a hot
/// read, and the ORM's layers around one small statement (its boxed
/// futures, moved by value, and a decoding of each value through its
/// generic row) cost more instructions than the statement's own work.
pub async fn user_and_parts(
    db: &DatabaseConnection,
    user_id: i64,
) -> Result<Option<(users::Model, SummaryParts)>, DbErr> {
    let backend = db.get_database_backend();
    let (sql, binds) = statement_for(backend, &[user_id], true);
    let mut parts = HashMap::new();
    let mut user = None;
    if backend == DatabaseBackend::Postgres {
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(user_id)
            .fetch_all(db.get_postgres_connection_pool())
            .await
            .map_err(super::driver_error)?;
        read_rows(&rows, &mut parts, &mut user)?;
    } else {
        let rows = db
            .query_all_raw(Statement::from_sql_and_values(backend, sql, binds))
            .await?;
        read_rows(&rows, &mut parts, &mut user)?;
    }
    Ok(user.map(|user| (user, parts.remove(&user_id).unwrap_or_default())))
}

/// A row of [`statement`], read by position: the ORM's for SQLite, the
/// driver's own on PostgreSQL.
trait PartsRow {
    fn at<T>(&self, index: usize) -> Result<T, DbErr>
    where
        T: sea_orm::TryGetable
            + for<'r> sqlx::Decode<'r, sqlx::Postgres>
            + sqlx::Type<sqlx::Postgres>;
}

impl PartsRow for QueryResult {
    fn at<T>(&self, index: usize) -> Result<T, DbErr>
    where
        T: sea_orm::TryGetable
            + for<'r> sqlx::Decode<'r, sqlx::Postgres>
            + sqlx::Type<sqlx::Postgres>,
    {
        self.try_get_by_index(index)
    }
}

impl PartsRow for sqlx::postgres::PgRow {
    fn at<T>(&self, index: usize) -> Result<T, DbErr>
    where
        T: sea_orm::TryGetable
            + for<'r> sqlx::Decode<'r, sqlx::Postgres>
            + sqlx::Type<sqlx::Postgres>,
    {
        // The statement fixes every column's type (its casts), so the
        // driver's check of each value's type against `T` is skipped; a
        // value of another width still fails to decode.
        sqlx::Row::try_get_unchecked(self, index).map_err(super::driver_error)
    }
}

/// Sorts the rows of [`statement`] into `parts` by user, and the user's own
/// row, when the statement has one, into `user`.
fn read_rows<R: PartsRow>(
    rows: &[R],
    parts: &mut HashMap<i64, SummaryParts>,
    user: &mut Option<users::Model>,
) -> Result<(), DbErr> {
    for row in rows {
        let part: i32 = row.at(1)?;
        if ![COUNTS, NEWEST, OLDEST, USER].contains(&part) {
            // A row of another reader's ([`rescoring_of`]'s plans and
            // generation).
            continue;
        }
        let user_id: i64 = row.at(0)?;
        if part == USER {
            *user = Some(users::Model {
                id: user_id,
                created_at: row.at(5)?,
                name: row.at(8)?,
                email: row.at(9)?,
                external_id: row.at(10)?,
                is_active: row.at(11)?,
            });
            continue;
        }
        let entry = parts.entry(user_id).or_default();
        if part == COUNTS {
            let count = |index| -> Result<Option<u32>, DbErr> {
                let n: Option<i32> = row.at(index)?;
                Ok(n.and_then(|n| u32::try_from(n).ok()))
            };
            entry.counts = match (count(2)?, count(3)?, count(4)?) {
                (Some(total), Some(failed), Some(succeeded)) => Some(Counts {
                    total,
                    failed,
                    succeeded,
                }),
                _ => None,
            };
            continue;
        }
        let paid_at: Option<DateTime<Utc>> = row.at(5)?;
        let cents: Option<i64> = row.at(6)?;
        let status: Option<String> = row.at(7)?;
        let (Some(paid_at), Some(cents), Some(status)) = (paid_at, cents, status) else {
            return Err(DbErr::Custom("a payment row without its values".into()));
        };
        let status = PaymentStatus::try_from_value(&status)?;
        let payment = fact(&(user_id, paid_at, cents, status));
        match part {
            NEWEST => entry.newest.push(payment),
            _ => entry.oldest.push(payment),
        }
    }
    Ok(())
}

/// The `ORDER BY … LIMIT` clauses that read a history's newest and oldest
/// payments from the ends of `idx_subscription_payments_user_order`.
fn end_orders() -> (String, String) {
    (
        format!(
            "ORDER BY payment_date DESC, {TIE_RANK}, amount_cents LIMIT {}",
            Summary::NEWEST
        ),
        format!(
            "ORDER BY payment_date, {TIE_RANK} DESC, amount_cents DESC LIMIT {}",
            Summary::OLDEST
        ),
    )
}

/// [`statement`]'s text and values for `users`, the text formatted once
/// per backend for the commonest case, one user (a write, an analysis).
fn statement_for(backend: DatabaseBackend, users: &[i64], with_user: bool) -> (String, Vec<Value>) {
    static ONE_USER: [OnceLock<String>; 4] = [const { OnceLock::new() }; 4];
    let text = match users.len() {
        1 => {
            let slot =
                usize::from(backend == DatabaseBackend::Postgres) * 2 + usize::from(with_user);
            ONE_USER[slot]
                .get_or_init(|| statement(backend, 1, with_user))
                .clone()
        }
        n => statement(backend, n, with_user),
    };
    (text, statement_values(backend, users, with_user))
}

/// The values of [`statement`] for `users`.
fn statement_values(backend: DatabaseBackend, users: &[i64], with_user: bool) -> Vec<Value> {
    let copies = match backend {
        DatabaseBackend::Postgres => 1,
        _ => 3,
    };
    let mut binds: Vec<Value> = users
        .iter()
        .cycle()
        .take(users.len() * copies)
        .map(|id| (*id).into())
        .collect();
    if let (true, DatabaseBackend::Sqlite, Some(first)) = (with_user, backend, users.first()) {
        binds.push((*first).into());
    }
    binds
}

/// The statement reading the parts of the summaries of `users` users (its
/// values: [`statement_values`]): rows of (user, part, total, failed,
/// succeeded, date, cents, status). `with_user` adds the first user's own
/// row (its creation in `date`) and four columns to every row: name,
/// email, external id, active.
fn statement(backend: DatabaseBackend, users: usize, with_user: bool) -> String {
    let (newest, oldest) = end_orders();
    let columns = "payment_date, amount_cents, status";
    let mut sql = if backend == DatabaseBackend::Postgres {
        let placeholders: Vec<String> = (1..=users).map(|n| format!("${n}")).collect();
        let list = placeholders.join(", ");
        let rows = placeholders
            .iter()
            .map(|p| format!("({p}::bigint)"))
            .collect::<Vec<_>>()
            .join(", ");
        let extra = match with_user {
            true => ", NULL::varchar, NULL::varchar, NULL::varchar, NULL::boolean",
            false => "",
        };
        let end = |part: i32, order: &str| {
            format!(
                "SELECT u.id, {part}, NULL::integer, NULL::integer, NULL::integer, p.*{extra} \
                 FROM (VALUES {rows}) AS u(id) CROSS JOIN LATERAL (SELECT {columns} \
                 FROM subscription_payments WHERE user_id = u.id {order}) p"
            )
        };
        format!(
            "SELECT user_id, {COUNTS}, total_payments, failed_payments, succeeded_payments, \
             NULL::timestamptz, NULL::bigint, NULL::varchar{extra} FROM risk_scores \
             WHERE user_id IN ({list}) UNION ALL {} UNION ALL {}",
            end(NEWEST, &newest),
            end(OLDEST, &oldest)
        )
    } else {
        let extra = match with_user {
            true => ", NULL, NULL, NULL, NULL",
            false => "",
        };
        let list = vec!["?"; users].join(", ");
        let mut sql = format!(
            "SELECT user_id, {COUNTS}, total_payments, failed_payments, succeeded_payments, \
             NULL, NULL, NULL{extra} FROM risk_scores WHERE user_id IN ({list})"
        );
        for (part, order) in [(NEWEST, &newest), (OLDEST, &oldest)] {
            for _ in 0..users {
                sql.push_str(&format!(
                    " UNION ALL SELECT * FROM (SELECT user_id, {part}, NULL, NULL, NULL, {columns}\
                     {extra} FROM subscription_payments WHERE user_id = ? {order})"
                ));
            }
        }
        sql
    };
    if with_user {
        let first = match backend {
            DatabaseBackend::Postgres => "$1",
            _ => "?",
        };
        sql.push_str(&format!(
            " UNION ALL SELECT id, {USER}, NULL, NULL, NULL, created_at, NULL, NULL, \
             name, email, external_id, is_active FROM users WHERE id = {first}"
        ));
    }
    sql
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_kept_statement_text_is_the_one_formatted_for_its_user() {
        for backend in [DatabaseBackend::Postgres, DatabaseBackend::Sqlite] {
            for with_user in [false, true] {
                for user in [7, 7_000_000_000] {
                    assert_eq!(
                        statement_for(backend, &[user], with_user),
                        (
                            statement(backend, 1, with_user),
                            statement_values(backend, &[user], with_user)
                        ),
                        "{backend:?}, with the user: {with_user}"
                    );
                }
                assert_eq!(
                    statement_for(backend, &[1, 2, 3], with_user),
                    (
                        statement(backend, 3, with_user),
                        statement_values(backend, &[1, 2, 3], with_user)
                    )
                );
            }
        }
    }
}
