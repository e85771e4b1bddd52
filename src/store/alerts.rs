//! `alerts` (the cases) and `alert_notes` (their threads).

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use entity::alert_notes;
use entity::alerts::{ActiveModel, Column, Entity, Model};
use entity::sea_orm_active_enums::{AlertKind, AlertStatus, Resolution, RiskLevel as StoredLevel};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, DatabaseBackend,
    DbErr, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect,
};

use crate::risk::RiskLevel;

/// The statuses of a case still being worked.
pub const OPEN_STATUSES: [AlertStatus; 2] = [AlertStatus::Open, AlertStatus::Acknowledged];

/// An alert to record: every column but the id and the case's later state.
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
    /// The client's key: one alert per key.
    pub idempotency_key: Option<String>,
    /// Who raised it.
    pub created_by: Option<String>,
    /// When.
    pub created_at: DateTime<Utc>,
    /// A person or the service.
    pub kind: AlertKind,
}

impl AlertFields {
    fn active_model(self) -> ActiveModel {
        ActiveModel {
            user_id: Set(self.user_id),
            risk_score: Set(self.risk_score),
            risk_level: Set(StoredLevel::from(self.risk_level)),
            severity: Set(severity(self.risk_level)),
            note: Set(self.note),
            idempotency_key: Set(self.idempotency_key),
            created_by: Set(self.created_by),
            created_at: Set(self.created_at),
            kind: Set(self.kind),
            status: Set(AlertStatus::Open),
            assignee: Set(None),
            version: Set(1),
            resolution: Set(None),
            closed_at: Set(None),
            ..Default::default()
        }
    }
}

/// The rank the queue orders by: 0 (low) to 3 (critical).
pub fn severity(level: RiskLevel) -> i16 {
    match level {
        RiskLevel::Low => 0,
        RiskLevel::Medium => 1,
        RiskLevel::High => 2,
        RiskLevel::Critical => 3,
    }
}

/// Inserts an alert; a repeated idempotency key is a unique violation for
/// the caller to map.
pub async fn insert<C: ConnectionTrait>(conn: &C, alert: AlertFields) -> Result<Model, DbErr> {
    alert.active_model().insert(conn).await
}

/// Inserts `alerts` and returns them with their ids, in order.
pub async fn insert_all<C: ConnectionTrait>(
    conn: &C,
    alerts: Vec<AlertFields>,
) -> Result<Vec<Model>, DbErr> {
    let mut inserted = Vec::with_capacity(alerts.len());
    let mut alerts = alerts.into_iter().peekable();
    while alerts.peek().is_some() {
        // 13 parameters a row, under both backends' bound-parameter limits.
        let chunk: Vec<ActiveModel> = alerts
            .by_ref()
            .take(1_000)
            .map(AlertFields::active_model)
            .collect();
        inserted.extend(Entity::insert_many(chunk).exec_with_returning(conn).await?);
    }
    Ok(inserted)
}

/// The alert `id`, if any.
pub async fn find<C: ConnectionTrait>(conn: &C, id: i64) -> Result<Option<Model>, DbErr> {
    Entity::find_by_id(id).one(conn).await
}

/// The alert `id`, locked until the caller's transaction ends (PostgreSQL;
/// SQLite's write transaction already excludes other writers).
pub async fn lock<C: ConnectionTrait>(conn: &C, id: i64) -> Result<Option<Model>, DbErr> {
    let query = Entity::find_by_id(id);
    match conn.get_database_backend() {
        DatabaseBackend::Postgres => query.lock_exclusive().one(conn).await,
        _ => query.one(conn).await,
    }
}

/// The alerts with these ids.
pub async fn find_many<C: ConnectionTrait>(conn: &C, ids: &[i64]) -> Result<Vec<Model>, DbErr> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    Entity::find()
        .filter(Column::Id.is_in(ids.iter().copied()))
        .all(conn)
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

/// Of `user_ids`, those that must not get an automatic alert now: they have
/// a case still open, or one closed after `cooldown_from`.
pub async fn recently_alerted<C: ConnectionTrait>(
    conn: &C,
    user_ids: &[i64],
    cooldown_from: DateTime<Utc>,
) -> Result<HashSet<i64>, DbErr> {
    let mut found = HashSet::new();
    for chunk in user_ids.chunks(5_000) {
        let rows: Vec<i64> = Entity::find()
            .select_only()
            .column(Column::UserId)
            .filter(Column::UserId.is_in(chunk.iter().copied()))
            .filter(
                Condition::any()
                    .add(Column::Status.is_in(OPEN_STATUSES))
                    .add(Column::ClosedAt.gt(cooldown_from)),
            )
            .into_tuple()
            .all(conn)
            .await?;
        found.extend(rows);
    }
    Ok(found)
}

/// A case's new state, written only if its version is still `version`.
#[derive(Clone, Debug, PartialEq)]
pub struct CaseUpdate {
    /// The new status.
    pub status: AlertStatus,
    /// The new assignee.
    pub assignee: Option<String>,
    /// The resolution, for a resolved case.
    pub resolution: Option<Resolution>,
    /// When it closed, for a closed case.
    pub closed_at: Option<DateTime<Utc>>,
}

/// Writes `update` to alert `id` if its version is `version`, bumping the
/// version; `None` when the version had moved on (or the alert is gone).
pub async fn update_case<C: ConnectionTrait>(
    conn: &C,
    id: i64,
    version: i32,
    update: CaseUpdate,
) -> Result<Option<Model>, DbErr> {
    let result = Entity::update_many()
        .col_expr(Column::Status, Expr::value(update.status))
        .col_expr(Column::Assignee, Expr::value(update.assignee))
        .col_expr(Column::Resolution, Expr::value(update.resolution))
        .col_expr(Column::ClosedAt, Expr::value(update.closed_at))
        .col_expr(Column::Version, Expr::col(Column::Version).add(1))
        .filter(Column::Id.eq(id))
        .filter(Column::Version.eq(version))
        .exec(conn)
        .await?;
    if result.rows_affected == 0 {
        return Ok(None);
    }
    find(conn, id).await
}

/// Which cases to list.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CaseFilter {
    /// Only this status.
    pub status: Option<AlertStatus>,
    /// Only this level.
    pub level: Option<RiskLevel>,
    /// Only this kind.
    pub kind: Option<AlertKind>,
    /// Only this assignee.
    pub assignee: Option<String>,
    /// Only cases still being worked (`OPEN` or `ACKNOWLEDGED`).
    pub unresolved: bool,
}

impl CaseFilter {
    fn condition(&self) -> Condition {
        let mut condition = Condition::all();
        if let Some(status) = self.status {
            condition = condition.add(Column::Status.eq(status));
        }
        if let Some(level) = self.level {
            condition = condition.add(Column::Severity.eq(severity(level)));
        }
        if let Some(kind) = self.kind {
            condition = condition.add(Column::Kind.eq(kind));
        }
        if let Some(assignee) = &self.assignee {
            condition = condition.add(Column::Assignee.eq(assignee.as_str()));
        }
        if self.unresolved {
            condition = condition.add(Column::Status.is_in(OPEN_STATUSES));
        }
        condition
    }
}

/// Where a page of the queue starts: after this case.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CaseCursor {
    /// The last case's severity.
    pub severity: i16,
    /// Its creation instant.
    pub created_at: DateTime<Utc>,
    /// Its id.
    pub id: i64,
}

impl CaseCursor {
    /// The cursor as clients see it: `severity:created_at µs:id`.
    pub fn encode(&self) -> String {
        format!(
            "{}:{}:{}",
            self.severity,
            self.created_at.timestamp_micros(),
            self.id
        )
    }

    /// Reads what [`CaseCursor::encode`] wrote; `None` for anything else.
    pub fn decode(text: &str) -> Option<Self> {
        let mut parts = text.splitn(3, ':');
        let severity = parts.next()?.parse::<i16>().ok()?;
        let micros = parts.next()?.parse::<i64>().ok()?;
        let id = parts.next()?.parse::<i64>().ok()?;
        Some(Self {
            severity,
            created_at: DateTime::from_timestamp_micros(micros)?,
            id,
        })
    }

    /// Where a page that ended with `case` continues.
    pub fn after(case: &Model) -> Self {
        Self {
            severity: case.severity,
            created_at: case.created_at,
            id: case.id,
        }
    }
}

/// Up to `limit` cases under `filter`, the most severe first, then the
/// oldest, after `after` when given.
pub async fn page<C: ConnectionTrait>(
    conn: &C,
    filter: &CaseFilter,
    after: Option<CaseCursor>,
    limit: u64,
) -> Result<Vec<Model>, DbErr> {
    let mut query = Entity::find().filter(filter.condition());
    if let Some(c) = after {
        query = query.filter(
            Condition::any().add(Column::Severity.lt(c.severity)).add(
                Condition::all().add(Column::Severity.eq(c.severity)).add(
                    Condition::any()
                        .add(Column::CreatedAt.gt(c.created_at))
                        .add(
                            Condition::all()
                                .add(Column::CreatedAt.eq(c.created_at))
                                .add(Column::Id.gt(c.id)),
                        ),
                ),
            ),
        );
    }
    query
        .order_by_desc(Column::Severity)
        .order_by_asc(Column::CreatedAt)
        .order_by_asc(Column::Id)
        .limit(limit)
        .all(conn)
        .await
}

/// How many cases `filter` matches.
pub async fn count<C: ConnectionTrait>(conn: &C, filter: &CaseFilter) -> Result<u64, DbErr> {
    Entity::find().filter(filter.condition()).count(conn).await
}

/// Open and acknowledged cases: (level, created_at) of each, for the digest
/// and the overview's counts by age.
pub async fn open_cases<C: ConnectionTrait>(
    conn: &C,
) -> Result<Vec<(StoredLevel, DateTime<Utc>)>, DbErr> {
    Entity::find()
        .select_only()
        .column(Column::RiskLevel)
        .column(Column::CreatedAt)
        .filter(Column::Status.is_in(OPEN_STATUSES))
        .into_tuple()
        .all(conn)
        .await
}

/// Appends a note to alert `alert_id`'s thread.
pub async fn add_note<C: ConnectionTrait>(
    conn: &C,
    alert_id: i64,
    author: &str,
    text: &str,
    at: DateTime<Utc>,
) -> Result<alert_notes::Model, DbErr> {
    alert_notes::ActiveModel {
        alert_id: Set(alert_id),
        at: Set(at),
        author: Set(author.to_owned()),
        text: Set(text.to_owned()),
        ..Default::default()
    }
    .insert(conn)
    .await
}

/// The notes of each of `alert_ids`, oldest first.
pub async fn notes_of<C: ConnectionTrait>(
    conn: &C,
    alert_ids: &[i64],
) -> Result<HashMap<i64, Vec<alert_notes::Model>>, DbErr> {
    let mut grouped: HashMap<i64, Vec<alert_notes::Model>> = HashMap::new();
    if alert_ids.is_empty() {
        return Ok(grouped);
    }
    let rows = alert_notes::Entity::find()
        .filter(alert_notes::Column::AlertId.is_in(alert_ids.iter().copied()))
        .order_by_asc(alert_notes::Column::Id)
        .all(conn)
        .await?;
    for row in rows {
        grouped.entry(row.alert_id).or_default().push(row);
    }
    Ok(grouped)
}
