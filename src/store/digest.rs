//! The daily digest's queries (SPEC §10, issue #11): `digests` (one row per
//! day), the digest generations (migration 13: a generation is the span
//! between two digests) and what the digest reads of `risk_scores` at the
//! start and at the end of one. Like the statistics, the figures are over
//! active users.

use chrono::{DateTime, NaiveDate, Utc};
use entity::digests;
use entity::sea_orm_active_enums::RiskLevel as StoredLevel;
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseBackend, DbErr, EntityTrait, Iterable,
    QueryFilter, QueryOrder, QuerySelect, Statement,
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
    /// The score at the digest.
    pub score: f64,
    /// The level at the digest.
    pub level: StoredLevel,
    /// The score at the last digest (none: scored since).
    pub baseline_score: Option<f64>,
    /// The level at the last digest (none: scored since).
    pub baseline_level: Option<StoredLevel>,
}

/// The value of a score column (`score` or `level`) at the start of
/// `generation`, for a row last written in `baseline_generation` (migration
/// 13). Valid while the current generation is `generation` or the next one.
fn at_start(column: &str, generation: i64) -> String {
    format!(
        "CASE WHEN risk_scores.baseline_generation = {next} THEN risk_scores.previous_{column} \
         WHEN risk_scores.baseline_generation = {generation} THEN risk_scores.baseline_{column} \
         ELSE risk_scores.{column} END",
        next = generation + 1
    )
}

/// The value of a score column at the end of `generation`: its value now
/// while `generation` is the current one.
fn at_end(column: &str, generation: i64) -> String {
    format!(
        "CASE WHEN risk_scores.baseline_generation = {next} THEN risk_scores.baseline_{column} \
         ELSE risk_scores.{column} END",
        next = generation + 1
    )
}

/// Active users per level at the start and at the end of `generation`, in
/// the enum's order (low to critical); a user without a score at either
/// instant is in no level of it.
pub async fn levels<C: ConnectionTrait>(
    conn: &C,
    generation: i64,
) -> Result<([u64; 4], [u64; 4]), DbErr> {
    let sql = format!(
        "SELECT {start}, {end}, COUNT(*) FROM risk_scores WHERE is_active GROUP BY 1, 2",
        start = at_start("level", generation),
        end = at_end("level", generation),
    );
    let backend = conn.get_database_backend();
    let rows = conn
        .query_all_raw(Statement::from_string(backend, sql))
        .await?;
    let slot = |level: Option<StoredLevel>| {
        level.and_then(|level| StoredLevel::iter().position(|l| l == level))
    };
    let (mut start, mut end) = ([0; 4], [0; 4]);
    for row in rows {
        let users = u64::try_from(row.try_get_by_index::<i64>(2)?).unwrap_or(0);
        if let Some(index) = slot(row.try_get_by_index(0)?) {
            start[index] += users;
        }
        if let Some(index) = slot(row.try_get_by_index(1)?) {
            end[index] += users;
        }
    }
    Ok((start, end))
}

/// The named users among active users matching `condition` (SQL over the
/// `start_*` and `end_*` columns of [`changes`]), in `order`, at most `limit`.
async fn named<C: ConnectionTrait>(
    conn: &C,
    generation: i64,
    condition: &str,
    order: &str,
    limit: u64,
) -> Result<Vec<DigestUser>, DbErr> {
    let sql = format!(
        "SELECT c.user_id, u.name, u.email, c.end_score, c.end_level, c.start_score, \
         c.start_level FROM ({changes}) c JOIN users u ON u.id = c.user_id \
         WHERE {condition} ORDER BY {order}, c.user_id LIMIT {limit}",
        changes = changes(generation)
    );
    let backend = conn.get_database_backend();
    conn.query_all_raw(Statement::from_string(backend, sql))
        .await?
        .iter()
        .map(|row| {
            Ok(DigestUser {
                user_id: row.try_get_by_index(0)?,
                name: row.try_get_by_index(1)?,
                email: row.try_get_by_index(2)?,
                score: row.try_get_by_index(3)?,
                level: row.try_get_by_index(4)?,
                baseline_score: row.try_get_by_index(5)?,
                baseline_level: row.try_get_by_index(6)?,
            })
        })
        .collect()
}

/// Every active user's score and level at the start and at the end of
/// `generation`, as a subquery; users without a score at its end are left
/// out.
fn changes(generation: i64) -> String {
    format!(
        "SELECT user_id, {start_score} AS start_score, {start_level} AS start_level, \
         {end_score} AS end_score, {end_level} AS end_level FROM risk_scores \
         WHERE is_active AND {end_score} IS NOT NULL",
        start_score = at_start("score", generation),
        start_level = at_start("level", generation),
        end_score = at_end("score", generation),
        end_level = at_end("level", generation),
    )
}

/// Users high or critical at the end of `generation` who were below high at
/// its start, or scored since: the highest scores first, at most `limit`,
/// and how many there are in all.
pub async fn became_high<C: ConnectionTrait>(
    conn: &C,
    generation: i64,
    limit: u64,
) -> Result<(Vec<DigestUser>, u64), DbErr> {
    const BECAME: &str = "c.end_level IN ('high', 'critical') \
         AND (c.start_level IS NULL OR c.start_level IN ('low', 'medium'))";
    let count = format!(
        "SELECT COUNT(*) FROM ({changes}) c WHERE {BECAME}",
        changes = changes(generation)
    );
    let backend = conn.get_database_backend();
    let total: i64 = conn
        .query_one_raw(Statement::from_string(backend, count))
        .await?
        .map(|row| row.try_get_by_index(0))
        .transpose()?
        .unwrap_or(0);
    let users = named(conn, generation, BECAME, "c.end_score DESC", limit).await?;
    Ok((users, u64::try_from(total).unwrap_or(0)))
}

/// The `limit` active users whose score rose most during `generation`
/// (rises above zero only; a user scored since rose from 0), the largest
/// first.
pub async fn risers<C: ConnectionTrait>(
    conn: &C,
    generation: i64,
    limit: u64,
) -> Result<Vec<DigestUser>, DbErr> {
    const RISE: &str = "c.end_score - COALESCE(c.start_score, 0.0)";
    named(
        conn,
        generation,
        &format!("{RISE} > 0"),
        &format!("{RISE} DESC"),
        limit,
    )
    .await
}

/// The current digest generation (migration 13): the highest closed plus
/// one. On PostgreSQL it also takes the shared side of the digest's lock
/// until the caller's transaction ends, so that whatever the caller writes
/// to `risk_scores` is wholly in this generation; every score writer calls
/// it in its transaction. SQLite's write transaction already excludes a
/// digest.
pub async fn writing_generation<C: ConnectionTrait>(conn: &C) -> Result<i64, DbErr> {
    generation(conn, "SELECT digest_generation_for_write()").await
}

/// The current digest generation, without a lock: what a preview reports.
pub async fn current_generation<C: ConnectionTrait>(conn: &C) -> Result<i64, DbErr> {
    generation(conn, CURRENT).await
}

const CURRENT: &str = "SELECT COALESCE(MAX(generation), 0) + 1 FROM digests";

async fn generation<C: ConnectionTrait>(conn: &C, postgres: &str) -> Result<i64, DbErr> {
    let backend = conn.get_database_backend();
    let sql = match backend {
        DatabaseBackend::Postgres => postgres,
        _ => CURRENT,
    };
    conn.query_one_raw(Statement::from_string(backend, sql))
        .await?
        .ok_or_else(|| DbErr::RecordNotFound("the digest generation".into()))?
        .try_get_by_index(0)
}

/// How long closing a generation waits for the score writes in flight on
/// PostgreSQL; the writes that arrive meanwhile queue behind it, so this
/// bounds their wait. A digest that cannot close in time is retried.
const CLOSE_WAIT_MS: u32 = 200;

/// Closes the current generation for `day`'s digest, in the caller's write
/// transaction: inserts the day's row, not yet made, unless the day has
/// one or another digest is being made (its figures are read against the
/// generation after its own, so it must be finished before the next close;
/// closes are serialised by the lock, or SQLite's write transaction).
/// Returns the generation closed, or `None` when it closed none.
pub async fn close<C: ConnectionTrait>(
    conn: &C,
    day: NaiveDate,
    at: DateTime<Utc>,
) -> Result<Option<i64>, DbErr> {
    if conn.get_database_backend() == DatabaseBackend::Postgres {
        conn.execute_unprepared(&format!("SET LOCAL lock_timeout = {CLOSE_WAIT_MS}"))
            .await?;
    }
    let closing = generation(conn, "SELECT digest_generation_for_close()").await?;
    if being_made(conn).await?.is_some() {
        return Ok(None);
    }
    let row = digests::ActiveModel {
        day: Set(day_key(day)),
        markdown: Set(String::new()),
        created_at: Set(at),
        generation: Set(Some(closing)),
        made: Set(false),
    };
    let inserted = digests::Entity::insert(row)
        .on_conflict(
            OnConflict::column(digests::Column::Day)
                .do_nothing()
                .to_owned(),
        )
        .exec_without_returning(conn)
        .await?;
    Ok((inserted > 0).then_some(closing))
}

/// The digest being made, if any: its generation is closed, its Markdown
/// not stored yet.
pub async fn being_made<C: ConnectionTrait>(conn: &C) -> Result<Option<digests::Model>, DbErr> {
    digests::Entity::find()
        .filter(digests::Column::Made.eq(false))
        .order_by_desc(digests::Column::Day)
        .one(conn)
        .await
}

/// Stores the Markdown of `day`'s digest being made (its `created_at`
/// stays the instant of its close): `true` when this call stored it (false:
/// another process did first).
pub async fn store<C: ConnectionTrait>(
    conn: &C,
    day: NaiveDate,
    markdown: &str,
) -> Result<bool, DbErr> {
    let result = digests::Entity::update_many()
        .col_expr(digests::Column::Markdown, Expr::val(markdown))
        .col_expr(digests::Column::Made, Expr::val(true))
        .filter(digests::Column::Day.eq(day_key(day)))
        .filter(digests::Column::Made.eq(false))
        .exec(conn)
        .await?;
    Ok(result.rows_affected > 0)
}

/// The digest stored for `day`.
pub async fn stored<C: ConnectionTrait>(
    conn: &C,
    day: NaiveDate,
) -> Result<Option<digests::Model>, DbErr> {
    digests::Entity::find_by_id(day_key(day))
        .filter(digests::Column::Made.eq(true))
        .one(conn)
        .await
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
        .filter(digests::Column::Made.eq(true))
        .order_by_desc(digests::Column::Day)
        .into_tuple()
        .one(conn)
        .await
}
