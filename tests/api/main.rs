//! The one integration test binary: the real service on real databases.
//!
//! Database tests run on SQLite always, and on PostgreSQL too when
//! `TEST_DATABASE_URL` is set (CI sets it; there, an unreachable PostgreSQL is
//! a failure, never a skip). Each test gets a database of its own, dropped
//! afterwards.

mod explorer;
mod graphql_limits;
mod graphql_mutations;
mod graphql_queries;
mod helpers;
mod migrations;
mod readme;
mod rest;
mod scoring;
mod seeding;
mod serve;
