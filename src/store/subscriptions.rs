//! `user_subscriptions`.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use entity::user_subscriptions::{ActiveModel, Column, Entity, Model};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait,
    QueryFilter, QueryOrder, QuerySelect,
};

use crate::domain::{Cents, PlanStatus};
use crate::store::risk_scores::CurrentPlan;

/// A plan version to write: every column but the id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlanFields {
    /// The subscriber.
    pub user_id: i64,
    /// basic, premium, pro, enterprise, … (lower case).
    pub subscription_type: String,
    /// Its status.
    pub status: PlanStatus,
    /// Monthly price.
    pub monthly_amount: Cents,
    /// ISO 4217 code.
    pub currency: String,
    /// When it was recorded (also its last change).
    pub recorded_at: DateTime<Utc>,
    /// First instant it applies.
    pub effective_from: DateTime<Utc>,
    /// Last instant it applies.
    pub effective_until: Option<DateTime<Utc>>,
}

/// Inserts a plan version.
pub async fn insert<C: ConnectionTrait>(conn: &C, plan: PlanFields) -> Result<Model, DbErr> {
    ActiveModel {
        user_id: Set(plan.user_id),
        subscription_type: Set(plan.subscription_type),
        status: Set(plan.status),
        monthly_amount_cents: Set(plan.monthly_amount.get()),
        currency: Set(plan.currency),
        created_at: Set(plan.recorded_at),
        updated_at: Set(plan.recorded_at),
        effective_from: Set(plan.effective_from),
        effective_until: Set(plan.effective_until),
        ..Default::default()
    }
    .insert(conn)
    .await
}

/// The user each of the plan versions `ids` belongs to (unknown ids left out).
pub async fn owners<C: ConnectionTrait>(conn: &C, ids: &[i64]) -> Result<HashMap<i64, i64>, DbErr> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    Ok(Entity::find()
        .select_only()
        .columns([Column::Id, Column::UserId])
        .filter(Column::Id.is_in(ids.iter().copied()))
        .into_tuple::<(i64, i64)>()
        .all(conn)
        .await?
        .into_iter()
        .collect())
}

type PlanRow = (i64, i64, DateTime<Utc>, String, i64, String);

fn plans_query() -> sea_orm::Select<Entity> {
    Entity::find().select_only().columns([
        Column::UserId,
        Column::Id,
        Column::EffectiveFrom,
        Column::SubscriptionType,
        Column::MonthlyAmountCents,
        Column::Currency,
    ])
}

/// Keeps, per user, the newest plan version: the latest `effective_from`,
/// ties to the latest id. (The legacy list showed an arbitrary one; SPEC §5.)
fn newest(rows: Vec<PlanRow>) -> HashMap<i64, CurrentPlan> {
    let mut best: HashMap<i64, PlanRow> = HashMap::new();
    for row in rows {
        match best.get(&row.0) {
            Some(kept) if (kept.2, kept.1) >= (row.2, row.1) => {}
            _ => {
                best.insert(row.0, row);
            }
        }
    }
    best.into_iter()
        .map(
            |(user, (_, _, _, subscription_type, monthly_amount_cents, currency))| {
                (
                    user,
                    CurrentPlan {
                        subscription_type,
                        monthly_amount_cents,
                        currency,
                    },
                )
            },
        )
        .collect()
}

/// The current plans of users with ids in `from..=to`.
pub async fn current_plans_in_range<C: ConnectionTrait>(
    conn: &C,
    from: i64,
    to: i64,
) -> Result<HashMap<i64, CurrentPlan>, DbErr> {
    let rows: Vec<PlanRow> = plans_query()
        .filter(Column::UserId.between(from, to))
        .into_tuple()
        .all(conn)
        .await?;
    Ok(newest(rows))
}

/// The current plans of the users `ids`.
pub async fn current_plans_of<C: ConnectionTrait>(
    conn: &C,
    ids: &[i64],
) -> Result<HashMap<i64, CurrentPlan>, DbErr> {
    let rows: Vec<PlanRow> = plans_query()
        .filter(Column::UserId.is_in(ids.iter().copied()))
        .into_tuple()
        .all(conn)
        .await?;
    Ok(newest(rows))
}

/// Every plan version of `user_id` that started at or before `until` (all
/// when `None`), oldest first.
pub async fn history<C: ConnectionTrait>(
    conn: &C,
    user_id: i64,
    until: Option<DateTime<Utc>>,
) -> Result<Vec<Model>, DbErr> {
    super::of_user_until::<Entity>(Column::UserId, Column::EffectiveFrom, user_id, until)
        .order_by_asc(Column::EffectiveFrom)
        .order_by_asc(Column::Id)
        .all(conn)
        .await
}
