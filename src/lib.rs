//! Risk Monitor: scores subscribers' payment-failure risk, explains each
//! score, and serves it over GraphQL and the legacy REST routes.
//!
//! Map of the crate (dependencies point downwards only):
//! - [`cli`], [`config`], [`telemetry`]: process start-up; [`clock`]: the
//!   current instant, injectable.
//! - [`app`]: the HTTP application: state, routes, serving and shutdown;
//!   [`server`]: connections (header timeout, connection cap, draining);
//!   [`limits`]: each request's rate limit and time budget.
//! - [`graphql`], [`rest`]: the two front ends (SPEC §4, §5); thin adapters
//!   over [`service`], sharing [`http`] but not each other; [`console`]:
//!   the support console's pages (SPEC §11).
//! - [`auth`]: the HTTP gate (hosts, origins, credentials) and per-route
//!   permissions (SPEC §9).
//! - [`service`]: one function per use case; owns transactions.
//! - [`store`]: every query. [`domain`]: validated values. [`error`]: codes.
//! - [`jobs`]: the background score refresher.
//! - [`metrics`]: the Prometheus metrics and `/metrics`.
//! - [`db`]: connecting to SQLite or PostgreSQL and migrating.
//! - [`seed`]: deterministic demo data, bulk-loaded.
//! - [`risk`]: the pure scoring model (SPEC §3): no I/O, no clock.
//! - [`progress`]: progress reporting for long commands.

pub mod app;
pub mod auth;
pub mod cli;
pub mod clock;
pub mod commands;
pub mod config;
pub mod console;
pub mod db;
pub mod domain;
pub mod error;
pub mod graphql;
pub mod http;
pub mod jobs;
pub mod limits;
pub mod metrics;
pub mod progress;
pub mod rest;
pub mod risk;
pub mod seed;
pub mod server;
pub mod service;
pub mod store;
pub mod telemetry;
