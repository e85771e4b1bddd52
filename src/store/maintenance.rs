//! Whole-database statements: the readiness probe and the planner's
//! statistics after a bulk write.

use sea_orm::{ConnectionTrait, DatabaseBackend, DbErr};

/// A trivial round trip: whether the database answers.
pub async fn ping<C: ConnectionTrait>(conn: &C) -> Result<(), DbErr> {
    conn.execute_unprepared("SELECT 1").await.map(|_| ())
}

/// After a bulk write (seeding, a full rescore): brings the planner's
/// statistics up to date for `tables` at once rather than whenever
/// autovacuum runs (which may be hours, or never where it is off). On
/// PostgreSQL `VACUUM (ANALYZE)`, which also clears the dead row versions a
/// rewrite leaves and marks pages all-visible for index-only scans; on
/// SQLite `ANALYZE`. Runs outside any transaction (VACUUM cannot run inside
/// one). `tables` are the crate's own table names, never client input.
pub async fn refresh_statistics<C: ConnectionTrait>(
    conn: &C,
    tables: &[&str],
) -> Result<(), DbErr> {
    let statement = match conn.get_database_backend() {
        DatabaseBackend::Postgres => format!("VACUUM (ANALYZE) {}", tables.join(", ")),
        _ => tables
            .iter()
            .map(|table| format!("ANALYZE {table};"))
            .collect::<Vec<_>>()
            .join(" "),
    };
    conn.execute_unprepared(&statement).await.map(|_| ())
}

/// Lifts the serving pool's statement timeout for the rest of the caller's
/// transaction (PostgreSQL; SQLite has none), for background work that may
/// take longer than a request (`budget`, at most).
pub async fn long_statements<C: ConnectionTrait>(
    conn: &C,
    budget: std::time::Duration,
) -> Result<(), DbErr> {
    if conn.get_database_backend() == sea_orm::DatabaseBackend::Postgres {
        conn.execute_unprepared(&format!(
            "SET LOCAL statement_timeout = {}",
            budget.as_millis()
        ))
        .await?;
    }
    Ok(())
}
