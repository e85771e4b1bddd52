//! A search for a common name on PostgreSQL that stops at its first page
//! (issue #13 item 3).
//!
//! The list searches the users' lower-cased name and email, and orders the
//! matches by score. A common name ("smith") matches thousands of users:
//! finding them all through the trigram indexes means reading each one's
//! `users` row to recheck the `LIKE` (the index is lossy), and walking the
//! score index instead means reading a `risk_scores` and a `users` row for
//! every user passed until a page of matches is found. Both cost tens of
//! milliseconds.
//!
//! Here the walk reads one index and nothing else:
//!
//! - `risk_scores.search_name` and `search_email` hold `lower(name)` and
//!   `lower(email)` of the user, computed by PostgreSQL. Triggers keep them
//!   equal to `users`: a new score row without them gets them from its user
//!   (the bulk loader writes them itself, so a seed does not pay a second
//!   write per row), and a change of name or email is copied to the score.
//! - `idx_risk_scores_search_walk` holds, for each active user in the list's
//!   order, those two and every other column the list filters on, so a walk
//!   in score order checks each user inside the index (an index-only scan).
//!
//! `store::risk_scores` walks a bounded stretch of it first and falls back
//! to the trigram indexes when that stretch holds less than a page. SQLite
//! has its own trigram table (migration 9) and gets none of this.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DatabaseBackend};

#[derive(DeriveMigrationName)]
pub struct Migration;

const POSTGRES_UP: [&str; 7] = [
    "ALTER TABLE risk_scores ADD COLUMN search_name text, ADD COLUMN search_email text",
    "UPDATE risk_scores r SET search_name = lower(u.name), search_email = lower(u.email) \
     FROM users u WHERE u.id = r.user_id",
    // A row inserted without them (a new user's first score) takes them from
    // its user. AFTER, not BEFORE: an upsert that updates an existing row
    // does not fire it.
    "CREATE FUNCTION risk_scores_search_fill() RETURNS trigger LANGUAGE plpgsql AS $$ \
     BEGIN \
       UPDATE risk_scores r SET search_name = lower(u.name), search_email = lower(u.email) \
       FROM users u WHERE u.id = NEW.user_id AND r.user_id = NEW.user_id; \
       RETURN NULL; \
     END $$",
    "CREATE TRIGGER risk_scores_search_fill AFTER INSERT ON risk_scores FOR EACH ROW \
     WHEN (NEW.search_name IS NULL OR NEW.search_email IS NULL) \
     EXECUTE FUNCTION risk_scores_search_fill()",
    "CREATE FUNCTION users_search_copy() RETURNS trigger LANGUAGE plpgsql AS $$ \
     BEGIN \
       UPDATE risk_scores SET search_name = lower(NEW.name), search_email = lower(NEW.email) \
       WHERE user_id = NEW.id; \
       RETURN NULL; \
     END $$",
    "CREATE TRIGGER users_search_copy AFTER UPDATE OF name, email ON users FOR EACH ROW \
     WHEN (OLD.name IS DISTINCT FROM NEW.name OR OLD.email IS DISTINCT FROM NEW.email) \
     EXECUTE FUNCTION users_search_copy()",
    "CREATE INDEX idx_risk_scores_search_walk ON risk_scores (score DESC, user_id) \
     INCLUDE (search_name, search_email, level, patterns, subscription_type) \
     WHERE is_active",
];

const POSTGRES_DOWN: [&str; 6] = [
    "DROP INDEX IF EXISTS idx_risk_scores_search_walk",
    "DROP TRIGGER IF EXISTS users_search_copy ON users",
    "DROP FUNCTION IF EXISTS users_search_copy()",
    "DROP TRIGGER IF EXISTS risk_scores_search_fill ON risk_scores",
    "DROP FUNCTION IF EXISTS risk_scores_search_fill()",
    "ALTER TABLE risk_scores DROP COLUMN IF EXISTS search_name, \
     DROP COLUMN IF EXISTS search_email",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() == DatabaseBackend::Postgres {
            for sql in POSTGRES_UP {
                manager.get_connection().execute_unprepared(sql).await?;
            }
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() == DatabaseBackend::Postgres {
            for sql in POSTGRES_DOWN {
                manager.get_connection().execute_unprepared(sql).await?;
            }
        }
        Ok(())
    }
}
