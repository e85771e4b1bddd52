//! What a write needs to rescore a user without reading their whole history
//! (issue #13): the counts kept with the score, and the newest and oldest
//! payments in the model's order straight from an index.
//!
//! - `risk_scores.succeeded_payments`: the third count beside
//!   `total_payments` and `failed_payments`. Filled here from the payments;
//!   `NULL` means "not counted" and makes the next write read that user's
//!   whole history once.
//! - `idx_subscription_payments_user_order` replaces
//!   `idx_subscription_payments_user_date` (its first two columns, so every
//!   query that used the old one uses this one): one user's payments in the
//!   model's order (SPEC §3.1: newest first, and at one instant failures
//!   before neutral payments before successes, then the smaller amount).
//!   Read forwards it gives the oldest payments first, backwards the newest,
//!   each a `LIMIT` away, however long the history. The expression must stay
//!   the one `store::summaries` orders by, character for character, for
//!   SQLite's planner to match it.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// The index, in the same words on both backends.
const CREATE_ORDER_INDEX: &str = "CREATE INDEX idx_subscription_payments_user_order \
     ON subscription_payments (user_id, payment_date, \
     (CASE WHEN status IN ('failed', 'declined') THEN 0 WHEN status = 'success' THEN 2 ELSE 1 END) DESC, \
     amount_cents DESC)";

const BACKFILL: &str = "UPDATE risk_scores SET succeeded_payments = \
     (SELECT count(*) FROM subscription_payments p \
      WHERE p.user_id = risk_scores.user_id AND p.status = 'success')";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(RiskScores::Table)
                    .add_column(
                        ColumnDef::new(RiskScores::SucceededPayments)
                            .integer()
                            .null(),
                    )
                    .to_owned(),
            )
            .await?;
        let connection = manager.get_connection();
        connection.execute_unprepared(CREATE_ORDER_INDEX).await?;
        manager
            .drop_index(
                Index::drop()
                    .name("idx_subscription_payments_user_date")
                    .table(SubscriptionPayments::Table)
                    .to_owned(),
            )
            .await?;
        connection.execute_unprepared(BACKFILL).await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_index(
                Index::create()
                    .name("idx_subscription_payments_user_date")
                    .table(SubscriptionPayments::Table)
                    .col(SubscriptionPayments::UserId)
                    .col(SubscriptionPayments::PaymentDate)
                    .to_owned(),
            )
            .await?;
        manager
            .drop_index(
                Index::drop()
                    .name("idx_subscription_payments_user_order")
                    .table(SubscriptionPayments::Table)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(RiskScores::Table)
                    .drop_column(RiskScores::SucceededPayments)
                    .to_owned(),
            )
            .await
    }
}

#[derive(DeriveIden)]
enum RiskScores {
    Table,
    SucceededPayments,
}

#[derive(DeriveIden)]
enum SubscriptionPayments {
    Table,
    UserId,
    PaymentDate,
}
