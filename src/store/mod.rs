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
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, Select};

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
