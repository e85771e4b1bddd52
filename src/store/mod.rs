//! Every database query of the service, one file per table or aggregate.
//!
//! Functions are generic over [`sea_orm::ConnectionTrait`], so the same query
//! runs on the pool or inside a caller's transaction; transactions themselves
//! belong to the use cases in [`crate::service`] that open them. Queries stay
//! portable across SQLite and PostgreSQL (the query builder; where a
//! PostgreSQL-only bulk path exists, as in [`copy`], the caller branches on the
//! backend and both branches are tested). No business rules here: scoring is
//! [`crate::risk`].

pub mod alerts;
pub mod copy;
pub mod payments;
pub mod risk_scores;
pub mod stats;
pub mod subscriptions;
pub mod users;
