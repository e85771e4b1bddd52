//! `risk_scores`: the materialized score of every user (SPEC §3.4).

use chrono::{DateTime, Utc};
use entity::risk_scores::{ActiveModel, Column, Entity, Model};
use sea_orm::sea_query::{
    Alias, Expr, ExprTrait, Func, LikeExpr, OnConflict, Order, Query, SelectStatement,
};
use sea_orm::{
    ActiveValue::NotSet, ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait,
    DatabaseBackend, DbErr, EntityTrait, QueryFilter, QueryOrder, QueryResult, QuerySelect,
    QueryTrait,
};

pub(super) use entity::sea_orm_active_enums::RiskLevel as StoredLevel;

use crate::domain::{ListCursor, RiskyFilter};
use crate::risk::{Assessment, Brief, RiskPattern};

/// The plan a score row shows: the user's newest plan version.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CurrentPlan {
    /// basic, premium, …
    pub subscription_type: String,
    /// Monthly price in cents.
    pub monthly_amount_cents: i64,
    /// ISO 4217 code.
    pub currency: String,
}

/// One row of `risk_scores`, ready to write.
#[derive(Clone, Debug, PartialEq)]
pub struct ScoreRow {
    /// The scored user.
    pub user_id: i64,
    /// Score in [0, 1].
    pub score: f64,
    /// The level.
    pub level: StoredLevel,
    /// Pattern bit set.
    pub patterns: i32,
    /// Every payment.
    pub total_payments: i32,
    /// Failed or declined payments.
    pub failed_payments: i32,
    /// Successful payments.
    pub succeeded_payments: i32,
    /// failed / total.
    pub failure_rate: f64,
    /// Copy of `users.is_active`.
    pub is_active: bool,
    /// The newest plan version, if any.
    pub plan: Option<CurrentPlan>,
    /// When the score next changes by time alone.
    pub next_change_at: Option<DateTime<Utc>>,
    /// When it was computed.
    pub computed_at: DateTime<Utc>,
}

impl ScoreRow {
    /// The row for `assessment`, computed at `computed_at`.
    pub fn new(
        user_id: i64,
        is_active: bool,
        plan: Option<CurrentPlan>,
        assessment: &Assessment,
        computed_at: DateTime<Utc>,
    ) -> Self {
        Self::of_brief(
            user_id,
            is_active,
            plan,
            &Brief::from(assessment),
            computed_at,
        )
    }

    /// The row for `brief`, computed at `computed_at` (equal to
    /// [`ScoreRow::new`] of the full assessment).
    pub fn of_brief(
        user_id: i64,
        is_active: bool,
        plan: Option<CurrentPlan>,
        brief: &Brief,
        computed_at: DateTime<Utc>,
    ) -> Self {
        Self {
            user_id,
            score: brief.score,
            level: brief.level.into(),
            patterns: RiskPattern::to_mask(&brief.patterns),
            total_payments: saturate(brief.total_payments),
            failed_payments: saturate(brief.failed_payments),
            succeeded_payments: saturate(brief.succeeded_payments),
            failure_rate: brief.failure_rate,
            is_active,
            plan,
            next_change_at: brief.next_change,
            computed_at,
        }
    }

    /// Whether `stored` holds the same score, level, counts, plan and next
    /// change as `self`, whenever it was computed: a rescore leaves such a
    /// row as it is.
    pub fn same_values(&self, stored: &StoredValues) -> bool {
        // Destructured, so that a value added to the row is not forgotten
        // here; compared in place (a full rescore compares a million rows).
        let StoredValues {
            user_id,
            score,
            level,
            patterns,
            total_payments,
            failed_payments,
            succeeded_payments,
            failure_rate,
            is_active,
            subscription_type,
            monthly_amount_cents,
            currency,
            next_change_at,
        } = stored;
        let plan = self.plan.as_ref();
        *user_id == self.user_id
            && *score == self.score
            && *level == self.level
            && *patterns == self.patterns
            && *total_payments == self.total_payments
            && *failed_payments == self.failed_payments
            && *succeeded_payments == Some(self.succeeded_payments)
            && *failure_rate == self.failure_rate
            && *is_active == self.is_active
            && subscription_type.as_deref() == plan.map(|p| p.subscription_type.as_str())
            && *monthly_amount_cents == plan.map(|p| p.monthly_amount_cents)
            && currency.as_deref() == plan.map(|p| p.currency.as_str())
            && *next_change_at == self.next_change_at
    }

    fn into_active_model(self, generation: i64) -> ActiveModel {
        let (subscription_type, cents, currency) = match self.plan {
            Some(p) => (
                Some(p.subscription_type),
                Some(p.monthly_amount_cents),
                Some(p.currency),
            ),
            None => (None, None, None),
        };
        ActiveModel {
            user_id: Set(self.user_id),
            score: Set(self.score),
            level: Set(self.level),
            patterns: Set(self.patterns),
            total_payments: Set(self.total_payments),
            failed_payments: Set(self.failed_payments),
            succeeded_payments: Set(Some(self.succeeded_payments)),
            failure_rate: Set(self.failure_rate),
            is_active: Set(self.is_active),
            subscription_type: Set(subscription_type),
            monthly_amount_cents: Set(cents),
            currency: Set(currency),
            next_change_at: Set(self.next_change_at),
            computed_at: Set(self.computed_at),
            baseline_score: NotSet,
            baseline_level: NotSet,
            baseline_generation: Set(generation),
            previous_score: NotSet,
            previous_level: NotSet,
        }
    }
}

/// The columns a score's values live in: all but the key, `computed_at` and
/// the digest's baselines, in [`StoredValues`] order.
const VALUE_COLUMNS: [Column; 12] = [
    Column::Score,
    Column::Level,
    Column::Patterns,
    Column::TotalPayments,
    Column::FailedPayments,
    Column::SucceededPayments,
    Column::FailureRate,
    Column::IsActive,
    Column::SubscriptionType,
    Column::MonthlyAmountCents,
    Column::Currency,
    Column::NextChangeAt,
];

/// A stored row's values, every column but `computed_at` and the digest's
/// baselines: the user id, then [`VALUE_COLUMNS`] (read by position: a full
/// rescore reads a million of them).
#[derive(Clone, Debug, PartialEq)]
pub struct StoredValues {
    pub(super) user_id: i64,
    pub(super) score: f64,
    pub(super) level: StoredLevel,
    pub(super) patterns: i32,
    pub(super) total_payments: i32,
    pub(super) failed_payments: i32,
    pub(super) succeeded_payments: Option<i32>,
    pub(super) failure_rate: f64,
    pub(super) is_active: bool,
    pub(super) subscription_type: Option<String>,
    pub(super) monthly_amount_cents: Option<i64>,
    pub(super) currency: Option<String>,
    pub(super) next_change_at: Option<DateTime<Utc>>,
}

impl StoredValues {
    fn decode(row: &QueryResult) -> Result<Self, DbErr> {
        Ok(Self {
            user_id: row.try_get_by_index(0)?,
            score: row.try_get_by_index(1)?,
            level: row.try_get_by_index(2)?,
            patterns: row.try_get_by_index(3)?,
            total_payments: row.try_get_by_index(4)?,
            failed_payments: row.try_get_by_index(5)?,
            succeeded_payments: row.try_get_by_index(6)?,
            failure_rate: row.try_get_by_index(7)?,
            is_active: row.try_get_by_index(8)?,
            subscription_type: row.try_get_by_index(9)?,
            monthly_amount_cents: row.try_get_by_index(10)?,
            currency: row.try_get_by_index(11)?,
            next_change_at: row.try_get_by_index(12)?,
        })
    }
}

fn saturate(n: u32) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

/// Rows per INSERT: 14 parameters a row stays under SQLite's 32766 and
/// PostgreSQL's 65535 bound parameters.
const ROWS_PER_STATEMENT: usize = 2_000;

/// Inserts or replaces the rows, in the caller's transaction, moving their
/// digest baselines along (migration 13): the first write of a row in a
/// digest generation keeps its score and level before the write as the
/// generation's baseline, and the baseline it had as the previous one. A
/// new row has none: it did not exist when the generation started.
/// `generation` is the one the caller's transaction writes in
/// ([`crate::store::digest::writing_generation`], whose lock it holds).
pub async fn upsert_many<C: ConnectionTrait>(
    conn: &C,
    rows: Vec<ScoreRow>,
    generation: i64,
) -> Result<(), DbErr> {
    if rows.is_empty() {
        return Ok(());
    }
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        let chunk: Vec<ScoreRow> = rows.by_ref().take(ROWS_PER_STATEMENT).collect();
        upsert_statement(conn, chunk, generation).await?;
    }
    Ok(())
}

/// Writes the rows, in the caller's transaction, as [`upsert_many`] does;
/// `stored(user)` tells whether the user's row exists (the caller read it,
/// the user locked). On PostgreSQL those rows are updated in place by one
/// statement whose text is the same for any number of rows (prepared once
/// per connection): no speculative insertion, no row lock taken apart from
/// the update, and no `INSERT` statement trigger run for nothing. A row not
/// found after all, and every other row, goes through [`upsert_many`].
pub async fn write_many<C: ConnectionTrait>(
    conn: &C,
    rows: Vec<ScoreRow>,
    generation: i64,
    stored: impl Fn(i64) -> bool,
) -> Result<(), DbErr> {
    if conn.get_database_backend() != DatabaseBackend::Postgres {
        return upsert_many(conn, rows, generation).await;
    }
    let (existing, mut rest): (Vec<ScoreRow>, Vec<ScoreRow>) =
        rows.into_iter().partition(|row| stored(row.user_id));
    if !existing.is_empty() {
        let updated = update_existing(conn, &existing, generation).await?;
        rest.extend(
            existing
                .into_iter()
                .filter(|row| !updated.contains(&row.user_id)),
        );
    }
    upsert_many(conn, rest, generation).await
}

/// [`write_many`]'s `UPDATE` of existing rows on PostgreSQL: the rows travel
/// as one JSON value (`$1`), the generation as `$2`; the values are
/// [`VALUE_COLUMNS`] and `computed_at`, and the baselines move by
/// [`baseline_moves`], as the upsert's do. Returns the ids of the rows
/// updated.
async fn update_existing<C: ConnectionTrait>(
    conn: &C,
    rows: &[ScoreRow],
    generation: i64,
) -> Result<std::collections::HashSet<i64>, DbErr> {
    static SQL: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let sql = SQL.get_or_init(|| {
        use sea_orm::IdenStatic;
        let values = VALUE_COLUMNS
            .iter()
            .chain([&Column::ComputedAt])
            .map(|column| format!("{0} = v.{0}", column.as_str()));
        let baselines = baseline_moves("r", "$2")
            .into_iter()
            .map(|(column, expression)| format!("{} = {expression}", column.as_str()));
        let sets: Vec<String> = values.chain(baselines).collect();
        format!(
            "UPDATE risk_scores AS r SET {}, baseline_generation = $2 \
             FROM json_to_recordset($1::text::json) AS v(user_id bigint, score float8, \
             level varchar, patterns integer, total_payments integer, \
             failed_payments integer, succeeded_payments integer, failure_rate float8, \
             is_active boolean, subscription_type varchar, monthly_amount_cents bigint, \
             currency varchar, next_change_at timestamptz, computed_at timestamptz) \
             WHERE r.user_id = v.user_id RETURNING r.user_id",
            sets.join(", ")
        )
    });
    let json = serde_json::to_string(&rows.iter().map(JsonRow::from).collect::<Vec<_>>())
        .map_err(|error| DbErr::Custom(format!("score rows as JSON: {error}")))?;
    let statement = sea_orm::Statement::from_sql_and_values(
        DatabaseBackend::Postgres,
        sql.as_str(),
        [json.into(), generation.into()],
    );
    conn.query_all_raw(statement)
        .await?
        .iter()
        .map(|row| row.try_get_by_index::<i64>(0))
        .collect()
}

/// A [`ScoreRow`] as [`update_existing`]'s JSON carries it. Instants are
/// written to the microsecond, cut as the driver cuts a bound instant, so
/// that both paths store the same value.
#[derive(serde::Serialize)]
struct JsonRow<'a> {
    user_id: i64,
    score: f64,
    level: String,
    patterns: i32,
    total_payments: i32,
    failed_payments: i32,
    succeeded_payments: i32,
    failure_rate: f64,
    is_active: bool,
    subscription_type: Option<&'a str>,
    monthly_amount_cents: Option<i64>,
    currency: Option<&'a str>,
    next_change_at: Option<String>,
    computed_at: String,
}

impl<'a> From<&'a ScoreRow> for JsonRow<'a> {
    fn from(row: &'a ScoreRow) -> Self {
        use sea_orm::ActiveEnum;
        let micros = |at: &DateTime<Utc>| at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
        let plan = row.plan.as_ref();
        Self {
            user_id: row.user_id,
            score: row.score,
            level: row.level.to_value(),
            patterns: row.patterns,
            total_payments: row.total_payments,
            failed_payments: row.failed_payments,
            succeeded_payments: row.succeeded_payments,
            failure_rate: row.failure_rate,
            is_active: row.is_active,
            subscription_type: plan.map(|p| p.subscription_type.as_str()),
            monthly_amount_cents: plan.map(|p| p.monthly_amount_cents),
            currency: plan.map(|p| p.currency.as_str()),
            next_change_at: row.next_change_at.as_ref().map(micros),
            computed_at: micros(&row.computed_at),
        }
    }
}

/// The `ON CONFLICT` update of the baseline columns for a write in
/// `generation` (see [`baseline_moves`]).
fn baseline_updates(generation: i64) -> [(Column, Expr); 5] {
    let [a, b, c, d] = baseline_moves("risk_scores", &generation.to_string())
        .map(|(column, expression)| (column, Expr::cust(expression)));
    [
        a,
        b,
        c,
        d,
        (Column::BaselineGeneration, Expr::val(generation)),
    ]
}

/// How a write in `generation` (SQL text: a literal or a parameter) moves
/// the digest's baselines of the stored row `row` (its name or alias in the
/// statement): the first write of a row in a generation keeps its score and
/// level before the write as the baseline, and the baseline it had as the
/// previous one. Each expression reads the row as it was before the write.
fn baseline_moves(row: &str, generation: &str) -> [(Column, String); 4] {
    let moved = format!("{row}.baseline_generation < {generation}");
    let shift = |value: &str, baseline: &str, previous: &str| {
        (
            format!("CASE WHEN {moved} THEN {row}.{value} ELSE {row}.{baseline} END"),
            format!(
                "CASE WHEN {row}.baseline_generation = {generation} - 1 \
                 THEN {row}.{baseline} \
                 WHEN {moved} THEN {row}.{value} ELSE {row}.{previous} END"
            ),
        )
    };
    let (baseline_score, previous_score) = shift("score", "baseline_score", "previous_score");
    let (baseline_level, previous_level) = shift("level", "baseline_level", "previous_level");
    [
        (Column::BaselineScore, baseline_score),
        (Column::BaselineLevel, baseline_level),
        (Column::PreviousScore, previous_score),
        (Column::PreviousLevel, previous_level),
    ]
}

async fn upsert_statement<C: ConnectionTrait>(
    conn: &C,
    rows: Vec<ScoreRow>,
    generation: i64,
) -> Result<(), DbErr> {
    let models = rows
        .into_iter()
        .map(|row| row.into_active_model(generation));
    Entity::insert_many(models)
        .on_conflict(
            OnConflict::column(Column::UserId)
                .update_columns(VALUE_COLUMNS.into_iter().chain([Column::ComputedAt]))
                .values(baseline_updates(generation))
                .to_owned(),
        )
        .exec_without_returning(conn)
        .await?;
    Ok(())
}

/// The stored values of the users with ids in `from..=to`, by user.
pub async fn values_in_range<C: ConnectionTrait>(
    conn: &C,
    from: i64,
    to: i64,
) -> Result<std::collections::HashMap<i64, StoredValues>, DbErr> {
    let query = Entity::find()
        .select_only()
        .column(Column::UserId)
        .columns(VALUE_COLUMNS)
        .filter(Column::UserId.between(from, to))
        .build(conn.get_database_backend());
    conn.query_all_raw(query)
        .await?
        .iter()
        .map(|row| StoredValues::decode(row).map(|values| (values.user_id, values)))
        .collect()
}

/// The stored level of each of `user_ids` that has a score.
pub async fn levels_of<C: ConnectionTrait>(
    conn: &C,
    user_ids: &[i64],
) -> Result<std::collections::HashMap<i64, StoredLevel>, DbErr> {
    let mut levels = std::collections::HashMap::with_capacity(user_ids.len());
    for chunk in user_ids.chunks(5_000) {
        let rows: Vec<(i64, StoredLevel)> = Entity::find()
            .select_only()
            .column(Column::UserId)
            .column(Column::Level)
            .filter(Column::UserId.is_in(chunk.iter().copied()))
            .into_tuple()
            .all(conn)
            .await?;
        levels.extend(rows);
    }
    Ok(levels)
}

/// Up to `limit` users whose score changes by time alone at or before `now`
/// (SPEC §3.4), the most overdue first.
pub async fn due<C: ConnectionTrait>(
    conn: &C,
    now: DateTime<Utc>,
    limit: u64,
) -> Result<Vec<i64>, DbErr> {
    Entity::find()
        .select_only()
        .column(Column::UserId)
        .filter(Column::NextChangeAt.lte(now))
        .order_by_asc(Column::NextChangeAt)
        .limit(limit)
        .into_tuple()
        .all(conn)
        .await
}

/// Which of `user_ids` have a score due to change at or before `now`.
pub async fn due_among<C: ConnectionTrait>(
    conn: &C,
    user_ids: &[i64],
    now: DateTime<Utc>,
) -> Result<std::collections::HashSet<i64>, DbErr> {
    if user_ids.is_empty() {
        return Ok(Default::default());
    }
    let ids: Vec<i64> = Entity::find()
        .select_only()
        .column(Column::UserId)
        .filter(Column::UserId.is_in(user_ids.iter().copied()))
        .filter(Column::NextChangeAt.lte(now))
        .into_tuple()
        .all(conn)
        .await?;
    Ok(ids.into_iter().collect())
}

/// The earliest `next_change_at` at or before `now` (the most overdue
/// score), if any score is due.
pub async fn oldest_due<C: ConnectionTrait>(
    conn: &C,
    now: DateTime<Utc>,
) -> Result<Option<DateTime<Utc>>, DbErr> {
    let oldest: Option<Option<DateTime<Utc>>> = Entity::find()
        .select_only()
        .column(Column::NextChangeAt)
        .filter(Column::NextChangeAt.lte(now))
        .order_by_asc(Column::NextChangeAt)
        .limit(1)
        .into_tuple()
        .one(conn)
        .await?;
    Ok(oldest.flatten())
}

/// The shortest search a trigram index can answer: a shorter one holds no
/// trigram, so it is a scan of the users.
const TRIGRAM: usize = 3;

/// A LIKE pattern for "contains `value`": `%`, `_` and `\` escaped (with
/// `\`), so they match themselves.
fn contains_pattern(value: &str) -> String {
    let mut escaped = String::with_capacity(value.len() + 2);
    escaped.push('%');
    for c in value.chars() {
        if matches!(c, '%' | '_' | '\\') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped.push('%');
    escaped
}

/// An FTS5 query matching `value` as one phrase: inside double quotes every
/// character is literal but the double quote, written twice.
fn fts_phrase(value: &str) -> String {
    format!("\"{}\"", value.replace('"', "\"\""))
}

/// The users whose lower-cased name or email contains `search` (lower-cased
/// here): a subquery of their ids.
///
/// The `LIKE`s alone decide what matches, on both backends. On PostgreSQL
/// the `pg_trgm` GIN indexes answer them. On SQLite a search of three
/// characters or more first asks the FTS5 trigram table `users_fts` (a
/// quoted phrase: the rows holding it, case folded), so only those users
/// are read; the `LIKE`s then keep exactly what a scan keeps (FTS5 folds
/// the case of every letter, SQLite's `lower` and `LIKE` only ASCII's).
fn matching_users(backend: DatabaseBackend, search: &str) -> SelectStatement {
    use entity::users;
    let needle = search.to_lowercase();
    let pattern = contains_pattern(&needle);
    let like = |column: users::Column| {
        Expr::expr(Func::lower(Expr::col((users::Entity, column))))
            .like(LikeExpr::new(pattern.clone()).escape('\\'))
    };
    let mut condition = Condition::all().add(
        Condition::any()
            .add(like(users::Column::Name))
            .add(like(users::Column::Email)),
    );
    if backend == DatabaseBackend::Sqlite && needle.chars().count() >= TRIGRAM {
        condition = condition.add(
            Expr::col((users::Entity, users::Column::Id)).in_subquery(
                Query::select()
                    .expr(Expr::cust("rowid"))
                    .from("users_fts")
                    .and_where(Expr::cust_with_values(
                        "users_fts MATCH ?",
                        [fts_phrase(&needle)],
                    ))
                    .to_owned(),
            ),
        );
    }
    Query::select()
        .column((users::Entity, users::Column::Id))
        .from(users::Entity)
        .cond_where(condition)
        .to_owned()
}

/// The filter's search text, trimmed, if it has one.
fn search_of(filter: &RiskyFilter) -> Option<&str> {
    filter
        .search
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

/// The list's filter but its search: what the search walk reads inside
/// its index (see [`walked_page_ids`]).
fn apply_list_filter<Q: QueryFilter>(mut query: Q, filter: &RiskyFilter) -> Q {
    query = query
        .filter(Column::IsActive.eq(true))
        .filter(Column::Score.gte(filter.min_score.get()));
    if let Some(level) = filter.level {
        query = query.filter(Column::Level.eq(StoredLevel::from(level)));
    }
    if let Some(pattern) = filter.pattern {
        let bit = RiskPattern::to_mask(&[pattern]);
        query = query.filter(Expr::col((Entity, Column::Patterns)).bit_and(bit).ne(0));
    }
    if let Some(plan) = &filter.subscription_type {
        query = query.filter(Column::SubscriptionType.eq(plan.to_lowercase()));
    }
    if filter.require_plan {
        query = query.filter(Column::SubscriptionType.is_not_null());
    }
    query
}

fn apply_filter<Q: QueryFilter>(query: Q, backend: DatabaseBackend, filter: &RiskyFilter) -> Q {
    let mut query = apply_list_filter(query, filter);
    if let Some(search) = search_of(filter) {
        // The matching users as a subquery, not a condition on the joined
        // row: the database may then find them first (through the trigram
        // indexes) rather than walk the whole list checking each one, and
        // the count needs no join.
        query = query.filter(Column::UserId.in_subquery(matching_users(backend, search)));
    }
    query
}

/// One page of the list, highest score first, ties by user id: up to
/// `limit` rows strictly after `after`, each with its user (keyset
/// pagination on the `(score DESC, user_id)` index: pages never skip or
/// repeat a row while data is unchanged).
///
/// After a cursor, the rest of its score's ties and the lower scores are two
/// ranges of the index, read one after the other: as one condition
/// (`score < s OR (score = s AND user_id > id)`) the database walked every
/// tie before the cursor first, and scores are few and tied by thousands.
pub async fn risky_page<C: ConnectionTrait>(
    conn: &C,
    filter: &RiskyFilter,
    after: Option<ListCursor>,
    limit: u64,
) -> Result<Vec<(Model, entity::users::Model)>, DbErr> {
    let rows = match after {
        None => page(conn, filter, None, limit).await?,
        Some(cursor) => {
            let mut rows = page(
                conn,
                filter,
                Some(
                    Condition::all()
                        .add(Column::Score.eq(cursor.score))
                        .add(Column::UserId.gt(cursor.user_id)),
                ),
                limit,
            )
            .await?;
            let left = limit.saturating_sub(rows.len() as u64);
            if left > 0 {
                rows.extend(
                    page(
                        conn,
                        filter,
                        Some(Condition::all().add(Column::Score.lt(cursor.score))),
                        left,
                    )
                    .await?,
                );
            }
            rows
        }
    };
    Ok(rows)
}

/// Up to `limit` rows of the list under `filter` and `condition`, in the
/// list's order, each with its user.
///
/// With a search, the page's user ids are chosen first (the matching users
/// joined to their scores, ordered, limited) and only those rows are then
/// read in full: a common name matches thousands of users, and reading
/// each one's whole score and user row only to keep twenty cost most of the
/// time.
async fn page<C: ConnectionTrait>(
    conn: &C,
    filter: &RiskyFilter,
    condition: Option<Condition>,
    limit: u64,
) -> Result<Vec<(Model, entity::users::Model)>, DbErr> {
    let backend = conn.get_database_backend();
    let in_order = |query: sea_orm::Select<Entity>| {
        let query = match condition.clone() {
            Some(condition) => query.filter(condition),
            None => query,
        };
        query
            .order_by_desc(Column::Score)
            .order_by_asc(Column::UserId)
            .limit(limit)
    };
    // With a search, the page's user ids: walked on PostgreSQL when the
    // list's first rows hold a page, else the matches ordered and limited.
    let page_ids = match search_of(filter) {
        None => None,
        Some(search) => {
            let walked = if backend == DatabaseBackend::Postgres {
                walked_page_ids(conn, filter, search, condition.clone(), limit).await?
            } else {
                None
            };
            Some(match walked {
                Some(ids) => Column::UserId.is_in(ids),
                None => Column::UserId.in_subquery(
                    in_order(apply_filter(
                        Entity::find().select_only().column(Column::UserId),
                        backend,
                        filter,
                    ))
                    .into_query(),
                ),
            })
        }
    };
    let rows = match page_ids {
        Some(ids) => Entity::find()
            .filter(ids)
            .order_by_desc(Column::Score)
            .order_by_asc(Column::UserId),
        None => in_order(apply_filter(Entity::find(), backend, filter)),
    };
    conn.query_all_raw(with_users(rows).build(backend))
        .await?
        .iter()
        .map(list_row)
        .collect()
}

/// `query` reading every column of each score, then every column of its
/// user, in the order [`list_row`] decodes them.
fn with_users(query: sea_orm::Select<Entity>) -> sea_orm::Select<Entity> {
    use entity::users::Column as User;
    query
        .select_only()
        .column(Column::UserId)
        .columns(VALUE_COLUMNS)
        .columns([
            Column::ComputedAt,
            Column::BaselineScore,
            Column::BaselineLevel,
            Column::BaselineGeneration,
            Column::PreviousScore,
            Column::PreviousLevel,
        ])
        .columns([
            User::Id,
            User::ExternalId,
            User::Name,
            User::Email,
            User::CreatedAt,
            User::IsActive,
        ])
        .inner_join(entity::users::Entity)
}

/// A row of [`with_users`], decoded by position (by name, each value's
/// column name is formatted and looked up: most of a page's decoding).
fn list_row(row: &QueryResult) -> Result<(Model, entity::users::Model), DbErr> {
    let stored = StoredValues::decode(row)?;
    let score = Model {
        user_id: stored.user_id,
        score: stored.score,
        level: stored.level,
        patterns: stored.patterns,
        total_payments: stored.total_payments,
        failed_payments: stored.failed_payments,
        succeeded_payments: stored.succeeded_payments,
        failure_rate: stored.failure_rate,
        is_active: stored.is_active,
        subscription_type: stored.subscription_type,
        monthly_amount_cents: stored.monthly_amount_cents,
        currency: stored.currency,
        next_change_at: stored.next_change_at,
        computed_at: row.try_get_by_index(13)?,
        baseline_score: row.try_get_by_index(14)?,
        baseline_level: row.try_get_by_index(15)?,
        baseline_generation: row.try_get_by_index(16)?,
        previous_score: row.try_get_by_index(17)?,
        previous_level: row.try_get_by_index(18)?,
    };
    const USER: usize = 19;
    let user = entity::users::Model {
        id: row.try_get_by_index(USER)?,
        external_id: row.try_get_by_index(USER + 1)?,
        name: row.try_get_by_index(USER + 2)?,
        email: row.try_get_by_index(USER + 3)?,
        created_at: row.try_get_by_index(USER + 4)?,
        is_active: row.try_get_by_index(USER + 5)?,
    };
    Ok((score, user))
}

/// How many rows of the list, in its order, a search on PostgreSQL walks
/// inside `idx_risk_scores_search_walk` before it asks the trigram indexes
/// instead: a name held by one active user in 400 (as "smith" is at a
/// million users) still fills a page of 20 within it, and a rare one pays
/// about 3 ms for it.
const SEARCH_WALK: u64 = 8_192;

/// Whether a search term reads as an identifier (it holds a digit or an
/// `@`: an email, an account number) rather than a name. Identifiers are
/// rare: the trigram indexes find their few matches at once, where a walk
/// of the list would find none and cost more than the lookup. Either way
/// gives the same list; this only picks the cheaper one first.
fn is_identifier(search: &str) -> bool {
    search.chars().any(|c| c.is_ascii_digit() || c == '@')
}

/// PostgreSQL: the user ids of one page of a search for a name (not an
/// identifier), if the first [`SEARCH_WALK`] rows of the list (under the
/// rest of the filter and `condition`, in the list's order) hold a whole
/// page of matches.
///
/// Each row is checked against `risk_scores.search_name` and
/// `search_email` (the user's `lower(name)` and `lower(email)`, kept by
/// triggers, migration 12) inside the index that holds them, so no table
/// row is read; the matches found first in the list's order are the page.
/// `None` when the walk holds fewer than `limit` matches (a rare name, or
/// the end of the list): the caller then finds every match through the
/// trigram indexes, which is the cheaper way when there are few.
async fn walked_page_ids<C: ConnectionTrait>(
    conn: &C,
    filter: &RiskyFilter,
    search: &str,
    condition: Option<Condition>,
    limit: u64,
) -> Result<Option<Vec<i64>>, DbErr> {
    if is_identifier(search) {
        return Ok(None);
    }
    let ids = walk(conn, filter, search, condition, limit, SEARCH_WALK).await?;
    Ok(Some(ids).filter(|ids| ids.len() as u64 >= limit))
}

/// Up to `limit` ids of users among the first `rows` of the list (under
/// the rest of the filter and `condition`, in the list's order) whose
/// copies hold `search`, in that order.
async fn walk<C: ConnectionTrait>(
    conn: &C,
    filter: &RiskyFilter,
    search: &str,
    condition: Option<Condition>,
    limit: u64,
    rows: u64,
) -> Result<Vec<i64>, DbErr> {
    let (name, email) = (Alias::new("search_name"), Alias::new("search_email"));
    let mut walk = apply_list_filter(
        Entity::find()
            .select_only()
            .column(Column::UserId)
            .column(Column::Score)
            .expr(Expr::col(name.clone()))
            .expr(Expr::col(email.clone())),
        filter,
    );
    if let Some(condition) = condition {
        walk = walk.filter(condition);
    }
    let walk = walk
        .order_by_desc(Column::Score)
        .order_by_asc(Column::UserId)
        .limit(rows)
        .into_query();
    let pattern = contains_pattern(&search.to_lowercase());
    let like = |column: Alias| Expr::col(column).like(LikeExpr::new(pattern.clone()).escape('\\'));
    let page = Query::select()
        .column(Column::UserId)
        .from_subquery(walk, Alias::new("walked"))
        .cond_where(Condition::any().add(like(name)).add(like(email)))
        .order_by(Column::Score, Order::Desc)
        .order_by(Column::UserId, Order::Asc)
        .limit(limit)
        .to_owned();
    conn.query_all(&page)
        .await?
        .iter()
        .map(|row| row.try_get_by_index::<i64>(0))
        .collect()
}

/// How many rows the whole list has.
pub async fn risky_count<C: ConnectionTrait>(conn: &C, filter: &RiskyFilter) -> Result<u64, DbErr> {
    use sea_orm::PaginatorTrait;
    apply_filter(Entity::find(), conn.get_database_backend(), filter)
        .count(conn)
        .await
}

/// The stored score of `user_id`.
pub async fn find<C: ConnectionTrait>(conn: &C, user_id: i64) -> Result<Option<Model>, DbErr> {
    Entity::find_by_id(user_id).one(conn).await
}
