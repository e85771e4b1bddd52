//! Trigram indexes for the case-insensitive substring search of the risky
//! list (SPEC §4 `riskyUsers(search:)`), on PostgreSQL only.
//!
//! `lower(name) LIKE '%smith%'` cannot use a B-tree: without these indexes
//! PostgreSQL walks the score index checking every user's name. `pg_trgm`
//! GIN indexes on the lowered name and email answer the same `LIKE`
//! directly. `pg_trgm` ships with
//! PostgreSQL (contrib) and is a trusted extension: the database's owner may
//! create it. SQLite has no equivalent index; its search stays a scan.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DatabaseBackend};

#[derive(DeriveMigrationName)]
pub struct Migration;

const INDEXES: [(&str, &str); 2] = [
    ("idx_users_name_trgm", "name"),
    ("idx_users_email_trgm", "email"),
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DatabaseBackend::Postgres {
            return Ok(());
        }
        let db = manager.get_connection();
        db.execute_unprepared("CREATE EXTENSION IF NOT EXISTS pg_trgm")
            .await?;
        for (name, column) in INDEXES {
            db.execute_unprepared(&format!(
                "CREATE INDEX IF NOT EXISTS {name} ON users USING gin (lower({column}) gin_trgm_ops)"
            ))
            .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DatabaseBackend::Postgres {
            return Ok(());
        }
        // The extension stays: it may serve others, and costs nothing unused.
        for (name, _) in INDEXES {
            manager
                .get_connection()
                .execute_unprepared(&format!("DROP INDEX IF EXISTS {name}"))
                .await?;
        }
        Ok(())
    }
}
