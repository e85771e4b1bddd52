//! What a write reads of its users' histories (SPEC §3.1, [`Summary`]): the
//! counts kept in `risk_scores` and the newest and oldest payments of
//! `subscription_payments`, in one statement for a batch of users, at a cost
//! that does not grow with their histories.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sea_orm::{ActiveEnum, ConnectionTrait, DatabaseBackend, DbErr, Statement, Value};

use crate::domain::PaymentStatus;
use crate::risk::{Counts, PaymentFact, Summary};

use super::payments::fact;

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

/// Which part of a summary a row of [`parts_of`]'s statement holds.
const COUNTS: i32 = 0;
const NEWEST: i32 = 1;
const OLDEST: i32 = 2;

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
        let (sql, binds) = statement(backend, chunk);
        let rows = conn
            .query_all_raw(Statement::from_sql_and_values(backend, sql, binds))
            .await?;
        for row in rows {
            let user_id: i64 = row.try_get_by_index(0)?;
            let part: i32 = row.try_get_by_index(1)?;
            let entry = parts.entry(user_id).or_default();
            if part == COUNTS {
                let count = |index| -> Result<Option<u32>, DbErr> {
                    let n: Option<i32> = row.try_get_by_index(index)?;
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
            let paid_at: Option<DateTime<Utc>> = row.try_get_by_index(5)?;
            let cents: Option<i64> = row.try_get_by_index(6)?;
            let status: Option<String> = row.try_get_by_index(7)?;
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
    }
    Ok(parts)
}

/// The statement reading the parts of `users`' summaries, and its values:
/// rows of (user, part, total, failed, succeeded, date, cents, status).
fn statement(backend: DatabaseBackend, users: &[i64]) -> (String, Vec<Value>) {
    let newest = format!(
        "ORDER BY payment_date DESC, {TIE_RANK}, amount_cents LIMIT {}",
        Summary::NEWEST
    );
    let oldest = format!(
        "ORDER BY payment_date, {TIE_RANK} DESC, amount_cents DESC LIMIT {}",
        Summary::OLDEST
    );
    let columns = "payment_date, amount_cents, status";
    if backend == DatabaseBackend::Postgres {
        let placeholders: Vec<String> = (1..=users.len()).map(|n| format!("${n}")).collect();
        let list = placeholders.join(", ");
        let rows = placeholders
            .iter()
            .map(|p| format!("({p}::bigint)"))
            .collect::<Vec<_>>()
            .join(", ");
        let end = |part: i32, order: &str| {
            format!(
                "SELECT u.id, {part}, NULL::integer, NULL::integer, NULL::integer, p.* \
                 FROM (VALUES {rows}) AS u(id) CROSS JOIN LATERAL (SELECT {columns} \
                 FROM subscription_payments WHERE user_id = u.id {order}) p"
            )
        };
        let sql = format!(
            "SELECT user_id, {COUNTS}, total_payments, failed_payments, succeeded_payments, \
             NULL::timestamptz, NULL::bigint, NULL::varchar FROM risk_scores \
             WHERE user_id IN ({list}) UNION ALL {} UNION ALL {}",
            end(NEWEST, &newest),
            end(OLDEST, &oldest)
        );
        (sql, users.iter().map(|id| (*id).into()).collect())
    } else {
        let list = vec!["?"; users.len()].join(", ");
        let mut sql = format!(
            "SELECT user_id, {COUNTS}, total_payments, failed_payments, succeeded_payments, \
             NULL, NULL, NULL FROM risk_scores WHERE user_id IN ({list})"
        );
        for (part, order) in [(NEWEST, &newest), (OLDEST, &oldest)] {
            for _ in users {
                sql.push_str(&format!(
                    " UNION ALL SELECT * FROM (SELECT user_id, {part}, NULL, NULL, NULL, {columns} \
                     FROM subscription_payments WHERE user_id = ? {order})"
                ));
            }
        }
        let binds = users.iter().cycle().take(users.len() * 3);
        (sql, binds.map(|id| (*id).into()).collect())
    }
}
