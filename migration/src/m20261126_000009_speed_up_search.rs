//! Faster substring search of the risky list (SPEC §4 `riskyUsers(search:)`).
//!
//! **SQLite** gets a trigram index, which it lacked (migration 6 gave
//! PostgreSQL `pg_trgm`; SQLite scanned every user). `users_fts` is an FTS5
//! table with the `trigram` tokenizer over the users' name and email, external-content (it keeps the index, not a second copy
//! of the text: `content='users'`, its rowid is the user's id). A quoted
//! phrase of three or more characters matches exactly the rows holding it as
//! a substring, case folded, without reading the other rows. Triggers keep
//! it in step with `users` (insert, a change of name or email, delete);
//! `up` builds it from the users already there.
//!
//! The trigram tokenizer came with SQLite 3.34; the bundled SQLite (sqlx's
//! `sqlite-bundled`) is newer and compiled with FTS5.
//!
//! **PostgreSQL** gets `idx_risk_scores_active_user_score`: the score of
//! each active user by user id. A search finds its users through the
//! trigram indexes, then needs each one's score to order them; with this
//! index that is an index-only lookup instead of a read of the whole
//! `risk_scores` row (a common name matches thousands of users).

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DatabaseBackend};

#[derive(DeriveMigrationName)]
pub struct Migration;

const SQLITE_UP: [&str; 5] = [
    // `case_sensitive 0` (the default, spelled out) folds case; diacritics
    // stay (`remove_diacritics 0`, the trigram tokenizer's default): `é` is
    // not `e`, as in `lower(…) LIKE`.
    "CREATE VIRTUAL TABLE users_fts USING fts5(name, email, \
     content='users', content_rowid='id', tokenize='trigram case_sensitive 0')",
    "INSERT INTO users_fts (users_fts) VALUES ('rebuild')",
    "CREATE TRIGGER users_fts_insert AFTER INSERT ON users BEGIN \
     INSERT INTO users_fts (rowid, name, email) VALUES (new.id, new.name, new.email); \
     END",
    // An external-content index forgets a row by being told its old values.
    "CREATE TRIGGER users_fts_delete AFTER DELETE ON users BEGIN \
     INSERT INTO users_fts (users_fts, rowid, name, email) \
     VALUES ('delete', old.id, old.name, old.email); \
     END",
    // `upsertUser` writes every column; only a real change re-indexes.
    "CREATE TRIGGER users_fts_update AFTER UPDATE OF id, name, email ON users \
     WHEN old.id IS NOT new.id OR old.name IS NOT new.name OR old.email IS NOT new.email \
     BEGIN \
     INSERT INTO users_fts (users_fts, rowid, name, email) \
     VALUES ('delete', old.id, old.name, old.email); \
     INSERT INTO users_fts (rowid, name, email) VALUES (new.id, new.name, new.email); \
     END",
];

/// Dropping the table drops FTS5's own shadow tables with it.
const SQLITE_DOWN: [&str; 4] = [
    "DROP TRIGGER IF EXISTS users_fts_update",
    "DROP TRIGGER IF EXISTS users_fts_delete",
    "DROP TRIGGER IF EXISTS users_fts_insert",
    "DROP TABLE IF EXISTS users_fts",
];

/// Only the list's rows (active users) are indexed: the list's filter is
/// the index's predicate.
const POSTGRES_UP: [&str; 1] = [
    "CREATE INDEX IF NOT EXISTS idx_risk_scores_active_user_score \
     ON risk_scores (user_id) INCLUDE (score) WHERE is_active",
];

const POSTGRES_DOWN: [&str; 1] = ["DROP INDEX IF EXISTS idx_risk_scores_active_user_score"];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let statements: &[&str] = match manager.get_database_backend() {
            DatabaseBackend::Sqlite => &SQLITE_UP,
            DatabaseBackend::Postgres => &POSTGRES_UP,
            _ => &[],
        };
        for sql in statements {
            manager.get_connection().execute_unprepared(sql).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let statements: &[&str] = match manager.get_database_backend() {
            DatabaseBackend::Sqlite => &SQLITE_DOWN,
            DatabaseBackend::Postgres => &POSTGRES_DOWN,
            _ => &[],
        };
        for sql in statements {
            manager.get_connection().execute_unprepared(sql).await?;
        }
        Ok(())
    }
}
