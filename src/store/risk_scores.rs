//! `risk_scores`: the materialized score of every user (SPEC §3.4).

use chrono::{DateTime, Utc};
use entity::risk_scores::{ActiveModel, Column, Entity};
use sea_orm::sea_query::OnConflict;
use sea_orm::{ActiveValue::Set, ConnectionTrait, DbErr, EntityTrait};

use crate::risk::{Assessment, RiskPattern};

/// The plan a score row shows: the user's newest plan version.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CurrentPlan {
    /// basic, premium, …
    pub subscription_type: String,
    /// Monthly price in cents.
    pub monthly_amount_cents: i64,
    /// ISO 4217 code.
    pub currency: String,
}

/// One row of `risk_scores`, ready to write.
#[derive(Clone, Debug, PartialEq)]
pub struct ScoreRow {
    /// The scored user.
    pub user_id: i64,
    /// Score in [0, 1].
    pub score: f64,
    /// The level's stored spelling.
    pub level: &'static str,
    /// Pattern bit set.
    pub patterns: i32,
    /// Every payment.
    pub total_payments: i32,
    /// Failed or declined payments.
    pub failed_payments: i32,
    /// failed / total.
    pub failure_rate: f64,
    /// Copy of `users.is_active`.
    pub is_active: bool,
    /// The newest plan version, if any.
    pub plan: Option<CurrentPlan>,
    /// When the score next changes by time alone.
    pub next_change_at: Option<DateTime<Utc>>,
    /// When it was computed.
    pub computed_at: DateTime<Utc>,
}

impl ScoreRow {
    /// The row for `assessment`, computed at `computed_at`.
    pub fn new(
        user_id: i64,
        is_active: bool,
        plan: Option<CurrentPlan>,
        assessment: &Assessment,
        computed_at: DateTime<Utc>,
    ) -> Self {
        Self {
            user_id,
            score: assessment.score,
            level: assessment.level.as_str(),
            patterns: RiskPattern::to_mask(&assessment.patterns),
            total_payments: saturate(assessment.total_payments),
            failed_payments: saturate(assessment.failed_payments),
            failure_rate: assessment.failure_rate,
            is_active,
            plan,
            next_change_at: assessment.next_change,
            computed_at,
        }
    }

    fn into_active_model(self) -> ActiveModel {
        let (subscription_type, cents, currency) = match self.plan {
            Some(p) => (
                Some(p.subscription_type),
                Some(p.monthly_amount_cents),
                Some(p.currency),
            ),
            None => (None, None, None),
        };
        ActiveModel {
            user_id: Set(self.user_id),
            score: Set(self.score),
            level: Set(self.level.to_owned()),
            patterns: Set(self.patterns),
            total_payments: Set(self.total_payments),
            failed_payments: Set(self.failed_payments),
            failure_rate: Set(self.failure_rate),
            is_active: Set(self.is_active),
            subscription_type: Set(subscription_type),
            monthly_amount_cents: Set(cents),
            currency: Set(currency),
            next_change_at: Set(self.next_change_at),
            computed_at: Set(self.computed_at),
        }
    }
}

fn saturate(n: u32) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

/// Inserts or replaces the rows, in one statement per call (callers batch).
pub async fn upsert_many<C: ConnectionTrait>(conn: &C, rows: Vec<ScoreRow>) -> Result<(), DbErr> {
    if rows.is_empty() {
        return Ok(());
    }
    let models = rows.into_iter().map(ScoreRow::into_active_model);
    Entity::insert_many(models)
        .on_conflict(
            OnConflict::column(Column::UserId)
                .update_columns([
                    Column::Score,
                    Column::Level,
                    Column::Patterns,
                    Column::TotalPayments,
                    Column::FailedPayments,
                    Column::FailureRate,
                    Column::IsActive,
                    Column::SubscriptionType,
                    Column::MonthlyAmountCents,
                    Column::Currency,
                    Column::NextChangeAt,
                    Column::ComputedAt,
                ])
                .to_owned(),
        )
        .exec_without_returning(conn)
        .await?;
    Ok(())
}
