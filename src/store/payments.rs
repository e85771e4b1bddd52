//! `subscription_payments`.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use entity::subscription_payments::{Column, Entity};
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QuerySelect};

use crate::domain::PaymentStatus;
use crate::risk::{Outcome, PaymentFact};

type FactRow = (i64, DateTime<Utc>, i64, String);

fn fact((_, paid_at, cents, status): &FactRow) -> PaymentFact {
    fact_from(*paid_at, *cents, status)
}

fn fact_from(paid_at: DateTime<Utc>, cents: i64, status: &str) -> PaymentFact {
    PaymentFact {
        paid_at,
        amount: cents_to_units(cents),
        // Statuses are written through `PaymentStatus`; anything else counts as neither.
        outcome: PaymentStatus::parse(status).map_or(Outcome::Neutral, PaymentStatus::outcome),
    }
}

/// A stored payment as the model reads it.
pub fn fact_of(model: &entity::subscription_payments::Model) -> PaymentFact {
    fact_from(model.payment_date, model.amount_cents, &model.status)
}

/// Cents to currency units, exactly as the literal would parse (1299 → 12.99).
pub fn cents_to_units(cents: i64) -> f64 {
    cents as f64 / 100.0
}

fn facts_query() -> sea_orm::Select<Entity> {
    Entity::find().select_only().columns([
        Column::UserId,
        Column::PaymentDate,
        Column::AmountCents,
        Column::Status,
    ])
}

/// Every payment of `user_id`, as the model reads them (any order).
pub async fn facts<C: ConnectionTrait>(conn: &C, user_id: i64) -> Result<Vec<PaymentFact>, DbErr> {
    let rows: Vec<FactRow> = facts_query()
        .filter(Column::UserId.eq(user_id))
        .into_tuple()
        .all(conn)
        .await?;
    Ok(rows.iter().map(fact).collect())
}

/// The payments of every user with an id in `from..=to`, grouped by user.
pub async fn facts_in_range<C: ConnectionTrait>(
    conn: &C,
    from: i64,
    to: i64,
) -> Result<HashMap<i64, Vec<PaymentFact>>, DbErr> {
    let rows: Vec<FactRow> = facts_query()
        .filter(Column::UserId.between(from, to))
        .into_tuple()
        .all(conn)
        .await?;
    Ok(group(rows))
}

/// The payments of the users `ids`, grouped by user.
pub async fn facts_of<C: ConnectionTrait>(
    conn: &C,
    ids: &[i64],
) -> Result<HashMap<i64, Vec<PaymentFact>>, DbErr> {
    let rows: Vec<FactRow> = facts_query()
        .filter(Column::UserId.is_in(ids.iter().copied()))
        .into_tuple()
        .all(conn)
        .await?;
    Ok(group(rows))
}

fn group(rows: Vec<FactRow>) -> HashMap<i64, Vec<PaymentFact>> {
    let mut by_user: HashMap<i64, Vec<PaymentFact>> = HashMap::new();
    for row in &rows {
        by_user.entry(row.0).or_default().push(fact(row));
    }
    by_user
}

/// The `limit` newest payments of `user_id` made at or before `until` (all
/// when `None`), newest first.
pub async fn newest<C: ConnectionTrait>(
    conn: &C,
    user_id: i64,
    until: Option<DateTime<Utc>>,
    limit: u64,
) -> Result<Vec<entity::subscription_payments::Model>, DbErr> {
    use sea_orm::QueryOrder;
    let mut query = Entity::find().filter(Column::UserId.eq(user_id));
    if let Some(until) = until {
        query = query.filter(Column::PaymentDate.lte(until));
    }
    query
        .order_by_desc(Column::PaymentDate)
        .order_by_desc(Column::Id)
        .limit(limit)
        .all(conn)
        .await
}
