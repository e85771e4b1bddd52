//! Every database query of the service, one file per table or aggregate.
//!
//! Functions are generic over [`sea_orm::ConnectionTrait`], so the same query
//! runs on the pool or inside a caller's transaction; transactions themselves
//! belong to the use cases in [`crate::service`] that open them. Queries stay
//! portable across SQLite and PostgreSQL (the query builder; where a
//! PostgreSQL-only bulk path exists, as in [`bulk`] and [`copy`], it branches on
//! the backend and both branches are tested). No business rules here: scoring is
//! [`crate::risk`].

pub mod access;
pub mod alerts;
pub mod audit;
pub mod bulk;
pub mod channels;
pub mod copy;
pub mod deliveries;
pub mod digest;
pub mod events;
pub mod maintenance;
pub mod payments;
pub mod ranges;
pub mod risk_scores;
pub mod snapshots;
pub mod stats;
pub mod subscriptions;
pub mod summaries;
pub mod users;

use chrono::{DateTime, Utc};
use sea_orm::{ColumnTrait, DbErr, EntityTrait, QueryFilter, Select};

/// A driver's error, from a statement sent to sqlx directly (the COPYs, the
/// analysis's read, the live events' listener), as the ORM reports it, so
/// that `error.rs` maps it the same whichever path ran the statement: no
/// connection to be had (the pool's wait, or a connection that fails to
/// open or breaks) is a connection error, anything else the statement's.
pub(crate) fn driver_error(error: sqlx::Error) -> DbErr {
    use sea_orm::{ConnAcquireErr, RuntimeErr};
    match error {
        sqlx::Error::PoolTimedOut => DbErr::ConnectionAcquire(ConnAcquireErr::Timeout),
        sqlx::Error::PoolClosed => DbErr::ConnectionAcquire(ConnAcquireErr::ConnectionClosed),
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::WorkerCrashed
        | sqlx::Error::Configuration(_) => DbErr::Conn(RuntimeErr::SqlxError(error.into())),
        _ => DbErr::Query(RuntimeErr::SqlxError(error.into())),
    }
}

/// `ids` as one PostgreSQL statement value, for `$n::text::bigint[]`: a
/// statement that takes a list of ids this way has one text whatever the
/// list's length, so each connection prepares and plans it once (a list of
/// placeholders is a new statement for every length).
fn bigint_array(ids: &[i64]) -> sea_orm::Value {
    use std::fmt::Write;
    let mut text = String::with_capacity(ids.len() * 8 + 2);
    text.push('{');
    for (n, id) in ids.iter().enumerate() {
        if n > 0 {
            text.push(',');
        }
        let _ = write!(text, "{id}");
    }
    text.push('}');
    text.into()
}

/// `user_id`'s rows of `E` whose `at` column is at or before `until` (all of
/// them when `None`): a user's history as it stood at an instant.
fn of_user_until<E: EntityTrait>(
    user_column: E::Column,
    at_column: E::Column,
    user_id: i64,
    until: Option<DateTime<Utc>>,
) -> Select<E> {
    let query = E::find().filter(user_column.eq(user_id));
    match until {
        Some(until) => query.filter(at_column.lte(until)),
        None => query,
    }
}

#[cfg(test)]
mod tests {
    use super::{bigint_array, driver_error};
    use crate::error::AppError;

    #[test]
    fn an_id_list_is_written_as_a_postgresql_array() {
        assert_eq!(bigint_array(&[]), "{}".into());
        assert_eq!(bigint_array(&[7]), "{7}".into());
        assert_eq!(
            bigint_array(&[1, -2, 9_000_000_000]),
            "{1,-2,9000000000}".into()
        );
    }

    #[test]
    fn a_driver_error_without_a_connection_reports_the_database_unavailable() {
        let unavailable = [
            sqlx::Error::PoolTimedOut,
            sqlx::Error::PoolClosed,
            sqlx::Error::Io(std::io::Error::other("connection reset")),
            sqlx::Error::Protocol("unexpected message".into()),
            sqlx::Error::WorkerCrashed,
        ];
        for error in unavailable {
            let shown = error.to_string();
            assert!(
                matches!(
                    AppError::from(driver_error(error)),
                    AppError::DatabaseUnavailable(_)
                ),
                "{shown}"
            );
        }
        assert!(matches!(
            AppError::from(driver_error(sqlx::Error::RowNotFound)),
            AppError::Internal(_)
        ));
    }
}
