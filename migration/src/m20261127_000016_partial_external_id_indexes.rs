//! External ids unique where they are given (issue #13 items 1 and 6).
//!
//! `users.external_id` and `subscription_payments.external_id` are the
//! billing system's ids, unique when given and NULL for every row created
//! here (a seeded user, a payment recorded without one). A unique
//! constraint's index holds an entry for every NULL as well: at ten million
//! users, 1.75 GB of payments' index that no lookup reads, an index entry
//! written with each payment recorded without an external id, and an index
//! a seed rebuilds for nothing. On PostgreSQL each constraint becomes a
//! partial unique index over the ids given, under the constraint's name:
//! the same ids stay unique, and `ON CONFLICT (external_id) WHERE
//! external_id IS NOT NULL` (which a full index also answers, on both
//! backends) still finds it. SQLite cannot drop a column's inline UNIQUE
//! without rebuilding its table, and its writes met their goals: it is left
//! alone.
//!
//! The new index is built before the constraint goes, so the ids stay
//! unique throughout; the build holds back the table's writers (not its
//! readers) for a scan of the table: about a second for a million users'
//! eight million payments on the benchmark machine.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DatabaseBackend};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// The tables whose `external_id` constraint becomes a partial index.
const TABLES: [&str; 2] = ["users", "subscription_payments"];

fn partial(table: &str) -> [String; 3] {
    [
        format!(
            "CREATE UNIQUE INDEX {table}_external_id_next ON {table} (external_id) \
             WHERE external_id IS NOT NULL"
        ),
        format!("ALTER TABLE {table} DROP CONSTRAINT {table}_external_id_key"),
        format!("ALTER INDEX {table}_external_id_next RENAME TO {table}_external_id_key"),
    ]
}

fn full(table: &str) -> [String; 2] {
    [
        format!("DROP INDEX {table}_external_id_key"),
        format!("ALTER TABLE {table} ADD CONSTRAINT {table}_external_id_key UNIQUE (external_id)"),
    ]
}

async fn run(manager: &SchemaManager<'_>, statements: Vec<String>) -> Result<(), DbErr> {
    if manager.get_database_backend() == DatabaseBackend::Postgres {
        for sql in statements {
            manager.get_connection().execute_unprepared(&sql).await?;
        }
    }
    Ok(())
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run(manager, TABLES.iter().flat_map(|t| partial(t)).collect()).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run(manager, TABLES.iter().flat_map(|t| full(t)).collect()).await
    }
}
