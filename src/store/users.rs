//! `users`.

use chrono::{DateTime, Utc};
use entity::users::{ActiveModel, Column, Entity, Model};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseBackend, DbErr,
    EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect,
};

use crate::risk::UserFacts;

/// The user `id`, if any.
pub async fn find<C: ConnectionTrait>(conn: &C, id: i64) -> Result<Option<Model>, DbErr> {
    Entity::find_by_id(id).one(conn).await
}

/// The user whose billing-system id is `external_id`, if any.
pub async fn by_external_id<C: ConnectionTrait>(
    conn: &C,
    external_id: &str,
) -> Result<Option<Model>, DbErr> {
    Entity::find()
        .filter(Column::ExternalId.eq(external_id))
        .one(conn)
        .await
}

/// The user whose email is `email` (stored lower-case), if any.
pub async fn by_email<C: ConnectionTrait>(conn: &C, email: &str) -> Result<Option<Model>, DbErr> {
    Entity::find()
        .filter(Column::Email.eq(email))
        .one(conn)
        .await
}

/// A user to write: every column but the id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserFields {
    /// The billing system's id.
    pub external_id: Option<String>,
    /// Display name.
    pub name: String,
    /// Contact email, lower-case.
    pub email: String,
    /// Account opening.
    pub created_at: DateTime<Utc>,
    /// Active flag.
    pub is_active: bool,
}

/// Inserts a user; a unique violation (email or external id) is the caller's to map.
pub async fn insert<C: ConnectionTrait>(conn: &C, fields: UserFields) -> Result<Model, DbErr> {
    ActiveModel {
        external_id: Set(fields.external_id),
        name: Set(fields.name),
        email: Set(fields.email),
        created_at: Set(fields.created_at),
        is_active: Set(fields.is_active),
        ..Default::default()
    }
    .insert(conn)
    .await
}

/// Rewrites user `id` with `fields` (the external id included).
pub async fn update<C: ConnectionTrait>(
    conn: &C,
    id: i64,
    fields: UserFields,
) -> Result<Model, DbErr> {
    ActiveModel {
        id: Set(id),
        external_id: Set(fields.external_id),
        name: Set(fields.name),
        email: Set(fields.email),
        created_at: Set(fields.created_at),
        is_active: Set(fields.is_active),
    }
    .update(conn)
    .await
}

/// How many users there are.
pub async fn count<C: ConnectionTrait>(conn: &C) -> Result<u64, DbErr> {
    Entity::find().count(conn).await
}

/// Whether there is no user at all (demo data goes only into an empty database).
pub async fn none<C: ConnectionTrait>(conn: &C) -> Result<bool, DbErr> {
    let one = Entity::find()
        .select_only()
        .column(Column::Id)
        .limit(1)
        .into_tuple::<i64>()
        .one(conn)
        .await?;
    Ok(one.is_none())
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

/// The users `ids` (those that exist).
pub async fn find_many<C: ConnectionTrait>(conn: &C, ids: &[i64]) -> Result<Vec<Model>, DbErr> {
    let mut found = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(5_000) {
        found.extend(
            Entity::find()
                .filter(Column::Id.is_in(chunk.iter().copied()))
                .all(conn)
                .await?,
        );
    }
    Ok(found)
}

/// The name and email of each of `ids`.
pub async fn contacts<C: ConnectionTrait>(
    conn: &C,
    ids: &[i64],
) -> Result<std::collections::HashMap<i64, (String, String)>, DbErr> {
    let mut found = std::collections::HashMap::with_capacity(ids.len());
    for chunk in ids.chunks(5_000) {
        let rows: Vec<(i64, String, String)> = Entity::find()
            .select_only()
            .columns([Column::Id, Column::Name, Column::Email])
            .filter(Column::Id.is_in(chunk.iter().copied()))
            .into_tuple()
            .all(conn)
            .await?;
        found.extend(
            rows.into_iter()
                .map(|(id, name, email)| (id, (name, email))),
        );
    }
    Ok(found)
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

impl From<ScoringUser> for UserFacts {
    fn from(user: ScoringUser) -> Self {
        Self {
            created_at: user.created_at,
        }
    }
}

impl From<&Model> for ScoringUser {
    fn from(user: &Model) -> Self {
        Self {
            id: user.id,
            created_at: user.created_at,
            is_active: user.is_active,
        }
    }
}

/// The users with ids in `from..=to`, locked like [`lock`], in id order.
pub async fn lock_range<C: ConnectionTrait>(
    conn: &C,
    from: i64,
    to: i64,
) -> Result<Vec<ScoringUser>, DbErr> {
    lock_where(conn, Column::Id.between(from, to)).await
}

/// The ids of the users with ids in `from..=to`, locked like [`lock`], in
/// id order (what [`lock_range`] locks, without decoding the rows).
pub async fn lock_range_ids<C: ConnectionTrait>(
    conn: &C,
    from: i64,
    to: i64,
) -> Result<Vec<i64>, DbErr> {
    lock_ids_where(conn, Column::Id.between(from, to)).await
}

/// The ids of the users `ids` (in increasing order), locked like [`lock`],
/// in id order; a user since deleted is missing.
pub async fn lock_ids<C: ConnectionTrait>(conn: &C, ids: &[i64]) -> Result<Vec<i64>, DbErr> {
    lock_ids_where(conn, Column::Id.is_in(ids.iter().copied())).await
}

/// The ids of the users matching `condition`, locked like [`lock`], in id
/// order.
async fn lock_ids_where<C: ConnectionTrait>(
    conn: &C,
    condition: sea_orm::sea_query::SimpleExpr,
) -> Result<Vec<i64>, DbErr> {
    let query = Entity::find()
        .select_only()
        .column(Column::Id)
        .filter(condition)
        .order_by_asc(Column::Id);
    for_update(query, conn.get_database_backend())
        .into_tuple()
        .all(conn)
        .await
}

/// `query` locking the rows it finds for the transaction on PostgreSQL;
/// SQLite's write transactions already exclude each other.
fn for_update(query: sea_orm::Select<Entity>, backend: DatabaseBackend) -> sea_orm::Select<Entity> {
    match backend {
        DatabaseBackend::Postgres => query.lock_exclusive(),
        _ => query,
    }
}

/// The users `ids`, locked like [`lock`], in id order (so that two
/// transactions locking overlapping sets never deadlock). On PostgreSQL the
/// ids go as one array, so the statement has one text for any number of
/// users (see [`super::bigint_array`]).
pub async fn lock_many<C: ConnectionTrait>(
    conn: &C,
    ids: &[i64],
) -> Result<Vec<ScoringUser>, DbErr> {
    let backend = conn.get_database_backend();
    if backend != DatabaseBackend::Postgres {
        return lock_where(conn, Column::Id.is_in(ids.iter().copied())).await;
    }
    let statement = sea_orm::Statement::from_sql_and_values(
        backend,
        "SELECT id, created_at, is_active FROM users WHERE id = ANY($1::text::bigint[]) \
         ORDER BY id FOR UPDATE",
        [super::bigint_array(ids)],
    );
    conn.query_all_raw(statement)
        .await?
        .iter()
        .map(|row| {
            Ok(ScoringUser {
                id: row.try_get_by_index(0)?,
                created_at: row.try_get_by_index(1)?,
                is_active: row.try_get_by_index(2)?,
            })
        })
        .collect()
}

/// Up to `limit` users whose score was due to change at or before `now`,
/// the most overdue first, locked for this transaction. On PostgreSQL users
/// another transaction holds are skipped (another process is rescoring
/// them); SQLite's write transactions already exclude each other.
pub async fn lock_due<C: ConnectionTrait>(
    conn: &C,
    now: DateTime<Utc>,
    limit: u64,
) -> Result<Vec<ScoringUser>, DbErr> {
    use entity::risk_scores;
    use sea_orm::QueryTrait;
    use sea_orm::sea_query::{LockBehavior, LockType};
    let mut query = Entity::find()
        .select_only()
        .columns([Column::Id, Column::CreatedAt, Column::IsActive])
        .inner_join(risk_scores::Entity)
        .filter(risk_scores::Column::NextChangeAt.lte(now))
        .order_by_asc(risk_scores::Column::NextChangeAt)
        .order_by_asc(Column::Id)
        .limit(limit);
    if conn.get_database_backend() == DatabaseBackend::Postgres {
        // Locked rows are skipped before the limit counts, so a second
        // process takes the next batch instead of waiting for this one.
        QueryTrait::query(&mut query).lock_with_tables_behavior(
            LockType::Update,
            [Entity],
            LockBehavior::SkipLocked,
        );
    }
    scoring_users(conn, query).await
}

/// What `query` (selecting id, created_at, is_active) finds, as scoring users.
async fn scoring_users<C: ConnectionTrait>(
    conn: &C,
    query: sea_orm::Select<Entity>,
) -> Result<Vec<ScoringUser>, DbErr> {
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

async fn lock_where<C: ConnectionTrait>(
    conn: &C,
    condition: sea_orm::sea_query::SimpleExpr,
) -> Result<Vec<ScoringUser>, DbErr> {
    let query = Entity::find()
        .select_only()
        .columns([Column::Id, Column::CreatedAt, Column::IsActive])
        .filter(condition)
        .order_by_asc(Column::Id);
    scoring_users(conn, for_update(query, conn.get_database_backend())).await
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
