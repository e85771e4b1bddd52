//! `api_keys` and `sessions`: credentials, by the hash of their secret.

use chrono::{DateTime, Utc};
use entity::sea_orm_active_enums::Role;
use entity::{api_keys, sessions};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, DbErr,
    EntityTrait, QueryFilter, QueryOrder,
};

/// Records a key; a name already taken is a unique violation for the caller.
pub async fn insert_key<C: ConnectionTrait>(
    conn: &C,
    name: &str,
    role: Role,
    prefix: &str,
    key_hash: &str,
    now: DateTime<Utc>,
) -> Result<api_keys::Model, DbErr> {
    api_keys::ActiveModel {
        name: Set(name.to_owned()),
        role: Set(role),
        prefix: Set(prefix.to_owned()),
        key_hash: Set(key_hash.to_owned()),
        created_at: Set(now),
        revoked_at: Set(None),
        ..Default::default()
    }
    .insert(conn)
    .await
}

/// Whether any key is live (not revoked).
pub async fn any_live_key<C: ConnectionTrait>(conn: &C) -> Result<bool, DbErr> {
    Ok(api_keys::Entity::find()
        .filter(api_keys::Column::RevokedAt.is_null())
        .one(conn)
        .await?
        .is_some())
}

/// Every key, revoked ones included, by name.
pub async fn keys<C: ConnectionTrait>(conn: &C) -> Result<Vec<api_keys::Model>, DbErr> {
    api_keys::Entity::find()
        .order_by_asc(api_keys::Column::Name)
        .all(conn)
        .await
}

/// The key named `name`, if any.
pub async fn key_named<C: ConnectionTrait>(
    conn: &C,
    name: &str,
) -> Result<Option<api_keys::Model>, DbErr> {
    api_keys::Entity::find()
        .filter(api_keys::Column::Name.eq(name))
        .one(conn)
        .await
}

/// Marks key `id` and its open sessions revoked at `now`.
pub async fn revoke_key<C: ConnectionTrait>(
    conn: &C,
    id: i64,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    api_keys::Entity::update_many()
        .col_expr(api_keys::Column::RevokedAt, Expr::value(now))
        .filter(api_keys::Column::Id.eq(id))
        .filter(api_keys::Column::RevokedAt.is_null())
        .exec(conn)
        .await?;
    sessions::Entity::update_many()
        .col_expr(sessions::Column::RevokedAt, Expr::value(now))
        .filter(sessions::Column::KeyId.eq(id))
        .filter(sessions::Column::RevokedAt.is_null())
        .exec(conn)
        .await?;
    Ok(())
}

/// The live (not revoked) key whose hash is `key_hash`.
pub async fn live_key<C: ConnectionTrait>(
    conn: &C,
    key_hash: &str,
) -> Result<Option<api_keys::Model>, DbErr> {
    api_keys::Entity::find()
        .filter(api_keys::Column::KeyHash.eq(key_hash))
        .filter(api_keys::Column::RevokedAt.is_null())
        .one(conn)
        .await
}

/// Opens a session for key `key_id` until `expires_at`.
pub async fn insert_session<C: ConnectionTrait>(
    conn: &C,
    key_id: i64,
    token_hash: &str,
    now: DateTime<Utc>,
    expires_at: DateTime<Utc>,
) -> Result<sessions::Model, DbErr> {
    sessions::ActiveModel {
        token_hash: Set(token_hash.to_owned()),
        key_id: Set(key_id),
        created_at: Set(now),
        expires_at: Set(expires_at),
        revoked_at: Set(None),
        ..Default::default()
    }
    .insert(conn)
    .await
}

/// The live session whose token hash is `token_hash` at `now` (not
/// expired, not revoked, its key not revoked), with its key.
pub async fn live_session<C: ConnectionTrait>(
    conn: &C,
    token_hash: &str,
    now: DateTime<Utc>,
) -> Result<Option<(sessions::Model, api_keys::Model)>, DbErr> {
    let found = sessions::Entity::find()
        .find_also_related(api_keys::Entity)
        .filter(
            Condition::all()
                .add(sessions::Column::TokenHash.eq(token_hash))
                .add(sessions::Column::RevokedAt.is_null())
                .add(sessions::Column::ExpiresAt.gt(now))
                .add(api_keys::Column::RevokedAt.is_null()),
        )
        .one(conn)
        .await?;
    Ok(found.and_then(|(session, key)| Some((session, key?))))
}

/// Ends the session whose token hash is `token_hash`.
pub async fn revoke_session<C: ConnectionTrait>(
    conn: &C,
    token_hash: &str,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    sessions::Entity::update_many()
        .col_expr(sessions::Column::RevokedAt, Expr::value(now))
        .filter(sessions::Column::TokenHash.eq(token_hash))
        .filter(sessions::Column::RevokedAt.is_null())
        .exec(conn)
        .await?;
    Ok(())
}
