//! The one integration test binary: the real service on real databases.
//!
//! Each database test is an `async fn name(backend: Backend)` made into two
//! tests by `backend_tests!(name)`: `name::sqlite`, and `name::postgres` on
//! the server of `TEST_DATABASE_URL`. Without that variable the PostgreSQL
//! tests fail under CI (`CI` set), and elsewhere say they are skipped. The
//! few tests about the HTTP surface alone run on SQLite only. Each test gets
//! a database of its own, dropped afterwards.

#![expect(
    clippy::expect_used,
    clippy::panic,
    reason = "a test reports a failure by panicking, helpers included"
)]

mod access;
mod alerting;
mod console;
mod console_browser;
mod digest;
mod explorer;
mod export;
mod graphql_limits;
mod graphql_mutations;
mod graphql_queries;
mod helpers;
mod layers;
mod limits;
mod migrations;
mod operations;
mod readme;
mod receiver;
mod replica;
mod resilience;
mod rest;
mod scoring;
mod search;
mod seeding;
mod serve;
mod statistics;
mod subscriptions;
