//! The statistics' triggers (migration 14) compute each row's keys once
//! (PostgreSQL).
//!
//! Migration 14's functions expand every changed row into its keys with a
//! lateral `VALUES` whose entries are the key expressions themselves.
//! PostgreSQL builds a lateral `VALUES`' expressions anew for each outer
//! row, so the histogram's `CASE` of ten branches was compiled again for
//! every row a statement changed. Here the keys and amounts are computed
//! as columns of a subquery (`OFFSET 0` keeps the planner from folding
//! them back into the `VALUES`), and the `VALUES` only pick those columns.
//! The keys, amounts, grouping and filter are migration 14's, so the
//! counters move exactly as before; only the functions are replaced.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DatabaseBackend};

use crate::m20261127_000014_kept_statistics::{self as kept, Counted, PAYMENTS, SCORES, USERS};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// The counters moved by the rows of `sources`, each `(sign, relation)`,
/// one row per key that moved: migration 14's, each key computed once a row.
fn counters(counted: &Counted, sources: &[(i32, &str)]) -> String {
    let columns: Vec<String> = counted
        .keys
        .iter()
        .enumerate()
        .map(|(i, (key, amount))| format!("{key} AS k{i}, {amount} AS a{i}"))
        .collect();
    let values: Vec<String> = (0..counted.keys.len())
        .map(|i| format!("(c.k{i}, c.a{i})"))
        .collect();
    let rows = format!(
        "SELECT s.n, {} FROM ({}) s OFFSET 0",
        columns.join(", "),
        kept::grouped(counted, sources)
    );
    kept::summed_by_key(&rows, "c", &values.join(", "))
}

async fn replace_functions(
    manager: &SchemaManager<'_>,
    counters: fn(&Counted, &[(i32, &str)]) -> String,
) -> Result<(), DbErr> {
    if manager.get_database_backend() != DatabaseBackend::Postgres {
        return Ok(());
    }
    for counted in [USERS, SCORES, PAYMENTS] {
        manager
            .get_connection()
            .execute_unprepared(&kept::function(&counted, counters))
            .await?;
    }
    Ok(())
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        replace_functions(manager, counters).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        replace_functions(manager, kept::counters).await
    }
}
