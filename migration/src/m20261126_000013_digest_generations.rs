//! The daily digest without a table lock (issue #13 item 6).
//!
//! Migration 8 kept "the score and level at the last digest" in
//! `risk_scores.baseline_*`, and each digest reset them for every changed row
//! while holding every score write: at ten million users, minutes during
//! which no payment could be recorded. Here the baselines are kept by
//! generation instead, and a digest writes one row:
//!
//! - A generation is the span between two digests. `digests.generation` is
//!   the generation a digest closed; the current one is the highest closed
//!   plus one (1 before any digest closed one).
//! - `risk_scores.baseline_generation` is the generation in which the row was
//!   last written; `baseline_*` its score and level at that generation's
//!   start, `previous_*` at the start of the generation before (NULL: the row
//!   did not exist then). The first write of a row in a generation moves
//!   them along, in the same upsert (`store::risk_scores`).
//! - Closing a generation is inserting the day's `digests` row, `made` false
//!   until its Markdown is stored. What the digest reports is read after,
//!   from those columns, so it can take as long as it needs, and a digest
//!   interrupted by a crash is finished from them after the restart.
//! - On PostgreSQL, a score writer takes a shared advisory lock for its
//!   transaction with `digest_generation_for_write()`, and a digest closes a
//!   generation under the exclusive one (`digest_generation_for_close()`):
//!   every score written is wholly in one generation. Both return the
//!   current generation. SQLite's write transaction already excludes every
//!   other writer.
//!
//! The existing baselines are those of generation 1, the current one.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DatabaseBackend};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// The advisory lock's key, in both functions: "RMDIGEST".
const POSTGRES_UP: [&str; 2] = [
    "CREATE FUNCTION digest_generation_for_write() RETURNS bigint LANGUAGE plpgsql VOLATILE AS $$ \
     BEGIN \
       PERFORM pg_advisory_xact_lock_shared(5930500617238102868); \
       RETURN (SELECT COALESCE(MAX(generation), 0) + 1 FROM digests); \
     END $$",
    "CREATE FUNCTION digest_generation_for_close() RETURNS bigint LANGUAGE plpgsql VOLATILE AS $$ \
     BEGIN \
       PERFORM pg_advisory_xact_lock(5930500617238102868); \
       RETURN (SELECT COALESCE(MAX(generation), 0) + 1 FROM digests); \
     END $$",
];

const POSTGRES_DOWN: [&str; 2] = [
    "DROP FUNCTION IF EXISTS digest_generation_for_write()",
    "DROP FUNCTION IF EXISTS digest_generation_for_close()",
];

/// Back to migration 8's meaning: a digest being made is dropped, and each
/// row's baselines become its score and level at the current generation's
/// start.
const RESTORE_BASELINES: [&str; 2] = [
    "DELETE FROM digests WHERE NOT made",
    "UPDATE risk_scores SET \
       baseline_score = CASE \
         WHEN baseline_generation > (SELECT COALESCE(MAX(generation), 0) + 1 FROM digests) \
           THEN previous_score \
         WHEN baseline_generation = (SELECT COALESCE(MAX(generation), 0) + 1 FROM digests) \
           THEN baseline_score \
         ELSE score END, \
       baseline_level = CASE \
         WHEN baseline_generation > (SELECT COALESCE(MAX(generation), 0) + 1 FROM digests) \
           THEN previous_level \
         WHEN baseline_generation = (SELECT COALESCE(MAX(generation), 0) + 1 FROM digests) \
           THEN baseline_level \
         ELSE level END",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in [
            big_integer(RiskScores::BaselineGeneration)
                .default(1)
                .to_owned(),
            double_null(RiskScores::PreviousScore),
            string_len_null(RiskScores::PreviousLevel, 8),
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(RiskScores::Table)
                        .add_column(column)
                        .to_owned(),
                )
                .await?;
        }
        for column in [
            big_integer_null(Digests::Generation),
            boolean(Digests::Made).default(true).to_owned(),
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Digests::Table)
                        .add_column(column)
                        .to_owned(),
                )
                .await?;
        }
        manager
            .create_index(
                Index::create()
                    .name("idx_digests_generation")
                    .table(Digests::Table)
                    .col(Digests::Generation)
                    .to_owned(),
            )
            .await?;
        if manager.get_database_backend() == DatabaseBackend::Postgres {
            for sql in POSTGRES_UP {
                manager.get_connection().execute_unprepared(sql).await?;
            }
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let conn = manager.get_connection();
        for sql in RESTORE_BASELINES {
            conn.execute_unprepared(sql).await?;
        }
        if manager.get_database_backend() == DatabaseBackend::Postgres {
            for sql in POSTGRES_DOWN {
                conn.execute_unprepared(sql).await?;
            }
        }
        manager
            .drop_index(
                Index::drop()
                    .name("idx_digests_generation")
                    .table(Digests::Table)
                    .to_owned(),
            )
            .await?;
        for column in [Digests::Generation, Digests::Made] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Digests::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        for column in [
            RiskScores::BaselineGeneration,
            RiskScores::PreviousScore,
            RiskScores::PreviousLevel,
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(RiskScores::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden)]
enum RiskScores {
    Table,
    BaselineGeneration,
    PreviousScore,
    PreviousLevel,
}

#[derive(DeriveIden)]
enum Digests {
    Table,
    Generation,
    Made,
}
