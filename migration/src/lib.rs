//! Schema migrations of Risk Monitor (SPEC §2), written with sea-query so that
//! the same files run on SQLite and on PostgreSQL.
//!
//! Table names follow the legacy database (`users`, `user_subscriptions`,
//! `subscription_payments`) so that its data can be brought over. Money is
//! integer cents plus an ISO currency code; timestamps are UTC.
//!
//! This crate owns the schema only: no queries, no data.

pub use sea_orm_migration::prelude::*;

mod m20261125_000001_create_users;
mod m20261125_000002_create_user_subscriptions;
mod m20261125_000003_create_subscription_payments;
mod m20261125_000004_create_risk_scores;
mod m20261125_000005_create_alerts;
mod m20261125_000006_create_search_indexes;
mod m20261125_000007_create_access;
mod m20261126_000008_create_outbox;
mod m20261126_000009_speed_up_search;
mod m20261126_000010_summaries_for_writes;
mod m20261126_000011_create_shared_snapshots;
mod m20261126_000012_search_walk;
mod m20261126_000013_digest_generations;
mod m20261127_000014_kept_statistics;
mod m20261127_000015_payment_status_in_order_index;
mod m20261127_000016_partial_external_id_indexes;
mod m20261128_000017_cheaper_statistics_triggers;

/// The ordered list of every migration of the service.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261125_000001_create_users::Migration),
            Box::new(m20261125_000002_create_user_subscriptions::Migration),
            Box::new(m20261125_000003_create_subscription_payments::Migration),
            Box::new(m20261125_000004_create_risk_scores::Migration),
            Box::new(m20261125_000005_create_alerts::Migration),
            Box::new(m20261125_000006_create_search_indexes::Migration),
            Box::new(m20261125_000007_create_access::Migration),
            Box::new(m20261126_000008_create_outbox::Migration),
            Box::new(m20261126_000009_speed_up_search::Migration),
            Box::new(m20261126_000010_summaries_for_writes::Migration),
            Box::new(m20261126_000011_create_shared_snapshots::Migration),
            Box::new(m20261126_000012_search_walk::Migration),
            Box::new(m20261126_000013_digest_generations::Migration),
            Box::new(m20261127_000014_kept_statistics::Migration),
            Box::new(m20261127_000015_payment_status_in_order_index::Migration),
            Box::new(m20261127_000016_partial_external_id_indexes::Migration),
            Box::new(m20261128_000017_cheaper_statistics_triggers::Migration),
        ]
    }
}
