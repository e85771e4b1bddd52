//! `users`.

use chrono::{DateTime, Utc};
use entity::users::{Column, Entity, Model};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseBackend, DbErr, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect,
};

/// The user `id`, if any.
pub async fn find<C: ConnectionTrait>(conn: &C, id: i64) -> Result<Option<Model>, DbErr> {
    Entity::find_by_id(id).one(conn).await
}

/// The user `id`, locked until the caller's transaction ends (PostgreSQL
/// `FOR UPDATE`). Writes that rescore a user take this lock first, so two of
/// them for the same user run one after the other and the last one scores
/// every payment (SPEC §3.4). SQLite needs no row lock: its write
/// transactions already run one at a time ([`crate::db::begin_write`]).
pub async fn lock<C: ConnectionTrait>(conn: &C, id: i64) -> Result<Option<Model>, DbErr> {
    let query = Entity::find_by_id(id);
    match conn.get_database_backend() {
        DatabaseBackend::Postgres => query.lock_exclusive().one(conn).await,
        _ => query.one(conn).await,
    }
}

/// What scoring needs of a user.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ScoringUser {
    /// The user.
    pub id: i64,
    /// Account opening.
    pub created_at: DateTime<Utc>,
    /// Whether the user is active.
    pub is_active: bool,
}

/// The users with ids in `from..=to`, locked like [`lock`], in id order.
pub async fn lock_range<C: ConnectionTrait>(
    conn: &C,
    from: i64,
    to: i64,
) -> Result<Vec<ScoringUser>, DbErr> {
    lock_where(conn, Column::Id.between(from, to)).await
}

/// The users `ids`, locked like [`lock`], in id order.
pub async fn lock_many<C: ConnectionTrait>(
    conn: &C,
    ids: &[i64],
) -> Result<Vec<ScoringUser>, DbErr> {
    lock_where(conn, Column::Id.is_in(ids.iter().copied())).await
}

async fn lock_where<C: ConnectionTrait>(
    conn: &C,
    condition: sea_orm::sea_query::SimpleExpr,
) -> Result<Vec<ScoringUser>, DbErr> {
    let query = Entity::find()
        .select_only()
        .columns([Column::Id, Column::CreatedAt, Column::IsActive])
        .filter(condition)
        .order_by_asc(Column::Id);
    let query = match conn.get_database_backend() {
        DatabaseBackend::Postgres => query.lock_exclusive(),
        _ => query,
    };
    let rows: Vec<(i64, DateTime<Utc>, bool)> = query.into_tuple().all(conn).await?;
    Ok(rows
        .into_iter()
        .map(|(id, created_at, is_active)| ScoringUser {
            id,
            created_at,
            is_active,
        })
        .collect())
}

/// The smallest and largest user id, if there is any user.
pub async fn id_bounds<C: ConnectionTrait>(conn: &C) -> Result<Option<(i64, i64)>, DbErr> {
    let bounds: Option<(Option<i64>, Option<i64>)> = Entity::find()
        .select_only()
        .column_as(Column::Id.min(), "min_id")
        .column_as(Column::Id.max(), "max_id")
        .into_tuple()
        .one(conn)
        .await?;
    Ok(match bounds {
        Some((Some(min), Some(max))) => Some((min, max)),
        _ => None,
    })
}
