//! `alerts`: the audit trail of raised alerts.

use entity::alerts::{ActiveModel, Column, Entity, Model};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder,
};

/// Inserts an alert.
pub async fn insert<C: ConnectionTrait>(conn: &C, alert: ActiveModel) -> Result<Model, DbErr> {
    alert.insert(conn).await
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

/// The alerts of `user_id`, newest first.
pub async fn of_user<C: ConnectionTrait>(conn: &C, user_id: i64) -> Result<Vec<Model>, DbErr> {
    Entity::find()
        .filter(Column::UserId.eq(user_id))
        .order_by_desc(Column::CreatedAt)
        .order_by_desc(Column::Id)
        .all(conn)
        .await
}
