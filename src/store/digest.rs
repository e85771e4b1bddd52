//! The daily digest's queries (SPEC §10, issue #11): `digests` (one row per
//! day) and what the digest reads of `risk_scores` against its baseline
//! columns (the score and level at the last digest; NULL for a user scored
//! since). Like the statistics, the figures are over active users.

use chrono::{DateTime, NaiveDate, Utc};
use entity::sea_orm_active_enums::RiskLevel as StoredLevel;
use entity::{digests, risk_scores, users};
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, DatabaseBackend, DbErr, EntityTrait,
    Iterable, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, Statement,
};

/// `YYYY-MM-DD`: how a day is keyed in `digests`.
pub fn day_key(day: NaiveDate) -> String {
    day.format("%Y-%m-%d").to_string()
}

/// A user the digest names.
#[derive(Clone, Debug, PartialEq)]
pub struct DigestUser {
    /// The user's id.
    pub user_id: i64,
    /// Their name.
    pub name: String,
    /// Their email.
    pub email: String,
    /// The current score.
    pub score: f64,
    /// The current level.
    pub level: StoredLevel,
    /// The score at the last digest (none: scored since).
    pub baseline_score: Option<f64>,
    /// The level at the last digest (none: scored since).
    pub baseline_level: Option<StoredLevel>,
}

fn digest_user((score, user): (risk_scores::Model, Option<users::Model>)) -> DigestUser {
    let (name, email) = user.map(|u| (u.name, u.email)).unwrap_or_default();
    DigestUser {
        user_id: score.user_id,
        name,
        email,
        score: score.score,
        level: score.level,
        baseline_score: score.baseline_score,
        baseline_level: score.baseline_level,
    }
}

/// Active users per level at the last digest, in the enum's order (low to
/// critical); users scored since are in no level.
pub async fn baseline_levels<C: ConnectionTrait>(conn: &C) -> Result<[u64; 4], DbErr> {
    let rows: Vec<(StoredLevel, i64)> = risk_scores::Entity::find()
        .select_only()
        .column(risk_scores::Column::BaselineLevel)
        .column_as(risk_scores::Column::UserId.count(), "users")
        .filter(risk_scores::Column::IsActive.eq(true))
        .filter(risk_scores::Column::BaselineLevel.is_not_null())
        .group_by(risk_scores::Column::BaselineLevel)
        .into_tuple()
        .all(conn)
        .await?;
    let mut counts = [0; 4];
    for (level, users) in rows {
        if let Some(slot) = StoredLevel::iter().position(|l| l == level) {
            counts[slot] = u64::try_from(users).unwrap_or(0);
        }
    }
    Ok(counts)
}

/// Active users now high or critical whose level at the last digest was
/// below high, or who were scored since: the highest scores first, at most
/// `limit`, and how many there are in all.
pub async fn became_high<C: ConnectionTrait>(
    conn: &C,
    limit: u64,
) -> Result<(Vec<DigestUser>, u64), DbErr> {
    let below_high = [StoredLevel::Low, StoredLevel::Medium];
    let filter = Condition::all()
        .add(risk_scores::Column::IsActive.eq(true))
        .add(risk_scores::Column::Level.is_in([StoredLevel::High, StoredLevel::Critical]))
        .add(
            Condition::any()
                .add(risk_scores::Column::BaselineLevel.is_null())
                .add(risk_scores::Column::BaselineLevel.is_in(below_high)),
        );
    let total = risk_scores::Entity::find()
        .filter(filter.clone())
        .count(conn)
        .await?;
    let rows = risk_scores::Entity::find()
        .find_also_related(users::Entity)
        .filter(filter)
        .order_by_desc(risk_scores::Column::Score)
        .order_by_asc(risk_scores::Column::UserId)
        .limit(limit)
        .all(conn)
        .await?;
    Ok((rows.into_iter().map(digest_user).collect(), total))
}

/// The rise of a score since the last digest: a user scored since rose from 0.
const RISE: &str = "risk_scores.score - COALESCE(risk_scores.baseline_score, 0.0)";

/// The `limit` active users whose score rose most since the last digest
/// (rises above zero only), the largest first.
pub async fn risers<C: ConnectionTrait>(conn: &C, limit: u64) -> Result<Vec<DigestUser>, DbErr> {
    let rows = risk_scores::Entity::find()
        .find_also_related(users::Entity)
        .filter(risk_scores::Column::IsActive.eq(true))
        .filter(Expr::cust(format!("{RISE} > 0")))
        .order_by_desc(Expr::cust(RISE))
        .order_by_asc(risk_scores::Column::UserId)
        .limit(limit)
        .all(conn)
        .await?;
    Ok(rows.into_iter().map(digest_user).collect())
}

/// The digest stored for `day`.
pub async fn stored<C: ConnectionTrait>(
    conn: &C,
    day: NaiveDate,
) -> Result<Option<digests::Model>, DbErr> {
    digests::Entity::find_by_id(day_key(day)).one(conn).await
}

/// The day of the latest digest before `day`.
pub async fn previous_day<C: ConnectionTrait>(
    conn: &C,
    day: NaiveDate,
) -> Result<Option<String>, DbErr> {
    digests::Entity::find()
        .select_only()
        .column(digests::Column::Day)
        .filter(digests::Column::Day.lt(day_key(day)))
        .order_by_desc(digests::Column::Day)
        .into_tuple()
        .one(conn)
        .await
}

/// Stores `markdown` as `day`'s digest unless that day has one: `true`
/// when this call stored it.
pub async fn insert<C: ConnectionTrait>(
    conn: &C,
    day: NaiveDate,
    markdown: &str,
    at: DateTime<Utc>,
) -> Result<bool, DbErr> {
    let row = digests::ActiveModel {
        day: Set(day_key(day)),
        markdown: Set(markdown.to_owned()),
        created_at: Set(at),
    };
    let inserted = digests::Entity::insert(row)
        .on_conflict(
            OnConflict::column(digests::Column::Day)
                .do_nothing()
                .to_owned(),
        )
        .exec_without_returning(conn)
        .await?;
    Ok(inserted > 0)
}

/// Sets every changed row's baseline to its current score and level; returns
/// how many rows changed.
pub async fn reset_baselines<C: ConnectionTrait>(conn: &C) -> Result<u64, DbErr> {
    use risk_scores::Column;
    let changed = Condition::any()
        .add(Column::BaselineScore.is_null())
        .add(ExprTrait::ne(
            Expr::col(Column::BaselineScore),
            Expr::col(Column::Score),
        ))
        .add(Column::BaselineLevel.is_null())
        .add(ExprTrait::ne(
            Expr::col(Column::BaselineLevel),
            Expr::col(Column::Level),
        ));
    let result = risk_scores::Entity::update_many()
        .col_expr(Column::BaselineScore, Expr::col(Column::Score))
        .col_expr(Column::BaselineLevel, Expr::col(Column::Level))
        .filter(changed)
        .exec(conn)
        .await?;
    Ok(result.rows_affected)
}

/// Holds every other write to `risk_scores` until the caller's transaction
/// ends, reads still allowed, so that the scores a digest reports are the
/// ones its baselines are reset to. On PostgreSQL a table lock that also
/// conflicts with itself (two digests run one after the other); SQLite's
/// write transaction already excludes every other writer.
pub async fn hold_scores<C: ConnectionTrait>(conn: &C) -> Result<(), DbErr> {
    if conn.get_database_backend() == DatabaseBackend::Postgres {
        conn.execute_raw(Statement::from_string(
            DatabaseBackend::Postgres,
            "LOCK TABLE risk_scores IN SHARE ROW EXCLUSIVE MODE",
        ))
        .await?;
    }
    Ok(())
}
