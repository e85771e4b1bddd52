//! `alerts`: the audit trail of raised alerts.

use chrono::{DateTime, Utc};
use entity::alerts::{ActiveModel, Column, Entity, Model};
use entity::sea_orm_active_enums::{AlertChannel, DeliveryStatus, RiskLevel as StoredLevel};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait,
    QueryFilter, QueryOrder,
};

use crate::risk::RiskLevel;

/// An alert to record: every column but the id.
#[derive(Clone, Debug, PartialEq)]
pub struct AlertFields {
    /// The user alerted on.
    pub user_id: i64,
    /// Their score at that moment.
    pub risk_score: f64,
    /// Their level at that moment.
    pub risk_level: RiskLevel,
    /// Free text from whoever raised it.
    pub note: Option<String>,
    /// Where it goes.
    pub channel: AlertChannel,
    /// How far its delivery got.
    pub delivery_status: DeliveryStatus,
    /// The client's key: one alert per key.
    pub idempotency_key: Option<String>,
    /// Who raised it, when known.
    pub created_by: Option<String>,
    /// When.
    pub created_at: DateTime<Utc>,
}

/// Inserts an alert; a repeated idempotency key is a unique violation for
/// the caller to map.
pub async fn insert<C: ConnectionTrait>(conn: &C, alert: AlertFields) -> Result<Model, DbErr> {
    ActiveModel {
        user_id: Set(alert.user_id),
        risk_score: Set(alert.risk_score),
        risk_level: Set(StoredLevel::from(alert.risk_level)),
        note: Set(alert.note),
        channel: Set(alert.channel),
        delivery_status: Set(alert.delivery_status),
        idempotency_key: Set(alert.idempotency_key),
        created_by: Set(alert.created_by),
        created_at: Set(alert.created_at),
        ..Default::default()
    }
    .insert(conn)
    .await
}

/// The alert recorded under `key`, if any.
pub async fn by_idempotency_key<C: ConnectionTrait>(
    conn: &C,
    key: &str,
) -> Result<Option<Model>, DbErr> {
    Entity::find()
        .filter(Column::IdempotencyKey.eq(key))
        .one(conn)
        .await
}

/// The alerts of `user_id` raised at or before `until` (all when `None`),
/// newest first.
pub async fn of_user<C: ConnectionTrait>(
    conn: &C,
    user_id: i64,
    until: Option<DateTime<Utc>>,
) -> Result<Vec<Model>, DbErr> {
    super::of_user_until::<Entity>(Column::UserId, Column::CreatedAt, user_id, until)
        .order_by_desc(Column::CreatedAt)
        .order_by_desc(Column::Id)
        .all(conn)
        .await
}
