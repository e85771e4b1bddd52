//! `user_subscriptions`.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use entity::user_subscriptions::{Column, Entity};
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QuerySelect};

use crate::store::risk_scores::CurrentPlan;

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

/// The current plan of `user_id`, if the user has any.
pub async fn current_plan<C: ConnectionTrait>(
    conn: &C,
    user_id: i64,
) -> Result<Option<CurrentPlan>, DbErr> {
    let rows: Vec<PlanRow> = plans_query()
        .filter(Column::UserId.eq(user_id))
        .into_tuple()
        .all(conn)
        .await?;
    Ok(newest(rows).remove(&user_id))
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
) -> Result<Vec<entity::user_subscriptions::Model>, DbErr> {
    use sea_orm::QueryOrder;
    let mut query = Entity::find().filter(Column::UserId.eq(user_id));
    if let Some(until) = until {
        query = query.filter(Column::EffectiveFrom.lte(until));
    }
    query
        .order_by_asc(Column::EffectiveFrom)
        .order_by_asc(Column::Id)
        .all(conn)
        .await
}
