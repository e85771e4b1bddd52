//! A trigram index for the list's substring search on SQLite (SPEC §4
//! `riskyUsers(search:)`); nothing on PostgreSQL, whose `pg_trgm` indexes
//! (migration 6) already serve it.
//!
//! `users_fts` is an FTS5 table with the `trigram` tokenizer over the users'
//! name and email, external-content (it keeps the index, not a second copy
//! of the text: `content='users'`, its rowid is the user's id). A quoted
//! phrase of three or more characters matches exactly the rows holding it as
//! a substring, case folded, without reading the other rows. Triggers keep
//! it in step with `users` (insert, a change of name or email, delete);
//! `up` builds it from the users already there.
//!
//! The trigram tokenizer came with SQLite 3.34; the bundled SQLite (sqlx's
//! `sqlite-bundled`) is newer and compiled with FTS5.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DatabaseBackend};

#[derive(DeriveMigrationName)]
pub struct Migration;

const UP_SQL: [&str; 5] = [
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
const DOWN_SQL: [&str; 4] = [
    "DROP TRIGGER IF EXISTS users_fts_update",
    "DROP TRIGGER IF EXISTS users_fts_delete",
    "DROP TRIGGER IF EXISTS users_fts_insert",
    "DROP TABLE IF EXISTS users_fts",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DatabaseBackend::Sqlite {
            return Ok(());
        }
        for sql in UP_SQL {
            manager.get_connection().execute_unprepared(sql).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DatabaseBackend::Sqlite {
            return Ok(());
        }
        for sql in DOWN_SQL {
            manager.get_connection().execute_unprepared(sql).await?;
        }
        Ok(())
    }
}
