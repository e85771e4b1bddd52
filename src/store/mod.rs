//! Every database query of the service, one file per table or aggregate.
//!
//! Functions are generic over [`sea_orm::ConnectionTrait`], so the same query
//! runs on the pool or inside a caller's transaction; transactions themselves
//! belong to the use cases that open them. Queries stay portable across
//! SQLite and PostgreSQL. No business rules here: scoring is [`crate::risk`].

pub mod risk_scores;
