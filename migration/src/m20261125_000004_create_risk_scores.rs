//! `risk_scores`: the materialized score of every user (SPEC §3.4).
//!
//! One row per user, rewritten in the same transaction as any write that
//! changes the user's score. Lists and statistics read this table through its
//! indexes instead of rescoring on every request as the legacy system did.

use sea_orm_migration::{prelude::*, schema::*};

use crate::m20261125_000001_create_users::Users;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(RiskScores::Table)
                    .col(big_integer(RiskScores::UserId).primary_key())
                    .col(double(RiskScores::Score))
                    // low | medium | high | critical, under the thresholds in force.
                    .col(string_len(RiskScores::Level, 8))
                    // Bit set of the detected patterns (risk::RiskPattern::bit).
                    .col(integer(RiskScores::Patterns))
                    .col(integer(RiskScores::TotalPayments))
                    .col(integer(RiskScores::FailedPayments))
                    .col(double(RiskScores::FailureRate))
                    // Copied from `users` so the list filters on one index.
                    .col(boolean(RiskScores::IsActive))
                    // The user's current plan (newest version), for the list.
                    .col(string_null(RiskScores::SubscriptionType))
                    .col(big_integer_null(RiskScores::MonthlyAmountCents))
                    .col(char_len_null(RiskScores::Currency, 3))
                    // SPEC §3.4: when the score next changes by time alone.
                    .col(timestamp_with_time_zone_null(RiskScores::NextChangeAt))
                    .col(timestamp_with_time_zone(RiskScores::ComputedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_risk_scores_user")
                            .from(RiskScores::Table, RiskScores::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        // SPEC §2 hot path: the risky list, highest first, ties by user id.
        manager
            .create_index(
                Index::create()
                    .name("idx_risk_scores_score_user")
                    .table(RiskScores::Table)
                    .col((RiskScores::Score, IndexOrder::Desc))
                    .col(RiskScores::UserId)
                    .to_owned(),
            )
            .await?;
        // The list filtered by level, and counts per level.
        manager
            .create_index(
                Index::create()
                    .name("idx_risk_scores_level_score_user")
                    .table(RiskScores::Table)
                    .col(RiskScores::Level)
                    .col((RiskScores::Score, IndexOrder::Desc))
                    .col(RiskScores::UserId)
                    .to_owned(),
            )
            .await?;
        // The refresher's scan for scores whose instant has passed.
        manager
            .create_index(
                Index::create()
                    .name("idx_risk_scores_next_change")
                    .table(RiskScores::Table)
                    .col(RiskScores::NextChangeAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(RiskScores::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum RiskScores {
    Table,
    UserId,
    Score,
    Level,
    Patterns,
    TotalPayments,
    FailedPayments,
    FailureRate,
    IsActive,
    SubscriptionType,
    MonthlyAmountCents,
    Currency,
    NextChangeAt,
    ComputedAt,
}
