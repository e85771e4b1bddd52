//! `deliveries` (the outbox) and `delivery_attempts`.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use entity::deliveries::{ActiveModel, Column, Entity, Model};
use entity::delivery_attempts;
use entity::sea_orm_active_enums::{DeliveryStatus, EventType};
use sea_orm::sea_query::{
    Alias, Expr, ExprTrait, LockBehavior, LockType, OnConflict, Order, Query,
};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, DbErr,
    EntityTrait, FromQueryResult, PaginatorTrait, QueryFilter, QueryOrder,
};

/// A delivery to queue.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewDelivery {
    /// Where it goes.
    pub channel_id: i64,
    /// The alert it is about.
    pub alert_id: Option<i64>,
    /// The event's id.
    pub event_id: String,
    /// What happened.
    pub event_type: EventType,
    /// The body to send.
    pub payload: String,
    /// When it was queued (and first due).
    pub created_at: DateTime<Utc>,
}

/// Queues `deliveries`, each due at once.
pub async fn queue<C: ConnectionTrait>(
    conn: &C,
    deliveries: Vec<NewDelivery>,
) -> Result<(), DbErr> {
    let mut deliveries = deliveries.into_iter().peekable();
    while deliveries.peek().is_some() {
        let chunk: Vec<ActiveModel> = deliveries
            .by_ref()
            .take(1_000)
            .map(|d| ActiveModel {
                channel_id: Set(d.channel_id),
                alert_id: Set(d.alert_id),
                event_id: Set(d.event_id),
                event_type: Set(d.event_type),
                payload: Set(Some(d.payload)),
                batch_key: Set(None),
                batch_count: Set(0),
                status: Set(DeliveryStatus::Pending),
                attempts: Set(0),
                next_attempt_at: Set(Some(d.created_at)),
                locked_until: Set(None),
                last_status_code: Set(None),
                last_error: Set(None),
                delivered_at: Set(None),
                created_at: Set(d.created_at),
                ..Default::default()
            })
            .collect();
        Entity::insert_many(chunk)
            .exec_without_returning(conn)
            .await?;
    }
    Ok(())
}

/// Queues `delivery` under `batch_key` unless a delivery with that key
/// exists: `true` when it was queued (the digest's once-a-day guard).
pub async fn insert_keyed<C: ConnectionTrait>(
    conn: &C,
    delivery: NewDelivery,
    batch_key: &str,
) -> Result<bool, DbErr> {
    let model = ActiveModel {
        channel_id: Set(delivery.channel_id),
        alert_id: Set(delivery.alert_id),
        event_id: Set(delivery.event_id),
        event_type: Set(delivery.event_type),
        payload: Set(Some(delivery.payload)),
        batch_key: Set(Some(batch_key.to_owned())),
        batch_count: Set(0),
        status: Set(DeliveryStatus::Pending),
        attempts: Set(0),
        next_attempt_at: Set(Some(delivery.created_at)),
        created_at: Set(delivery.created_at),
        ..Default::default()
    };
    let inserted = Entity::insert(model)
        .on_conflict(OnConflict::column(Column::BatchKey).do_nothing().to_owned())
        .exec_without_returning(conn)
        .await?;
    Ok(inserted > 0)
}

/// Deliveries of `event` queued one by one to `channel_id` since `since`
/// (the storm guard's count; summaries are not counted).
pub async fn recent_count<C: ConnectionTrait>(
    conn: &C,
    channel_id: i64,
    event: EventType,
    since: DateTime<Utc>,
) -> Result<u64, DbErr> {
    Entity::find()
        .filter(Column::ChannelId.eq(channel_id))
        .filter(Column::EventType.eq(event))
        .filter(Column::BatchKey.is_null())
        .filter(Column::CreatedAt.gte(since))
        .count(conn)
        .await
}

/// Adds `count` alerts to the storm summary `batch_key` of `channel_id`,
/// creating it (due at `send_at`, with `event_id`) if needed. Its body is
/// written when it is first sent, so it carries the final count.
pub async fn add_to_summary<C: ConnectionTrait>(
    conn: &C,
    channel_id: i64,
    batch_key: &str,
    count: i32,
    event_id: String,
    send_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    let model = ActiveModel {
        channel_id: Set(channel_id),
        alert_id: Set(None),
        event_id: Set(event_id),
        event_type: Set(EventType::AlertRaised),
        payload: Set(None),
        batch_key: Set(Some(batch_key.to_owned())),
        batch_count: Set(count),
        status: Set(DeliveryStatus::Pending),
        attempts: Set(0),
        next_attempt_at: Set(Some(send_at)),
        created_at: Set(now),
        ..Default::default()
    };
    let add = Expr::col((Entity, Column::BatchCount))
        .add(Expr::col((Alias::new("excluded"), Column::BatchCount)));
    Entity::insert(model)
        .on_conflict(
            OnConflict::column(Column::BatchKey)
                .value(Column::BatchCount, add)
                .to_owned(),
        )
        .exec_without_returning(conn)
        .await?;
    Ok(())
}

/// Claims up to `limit` pending deliveries due at `now` that nobody holds,
/// until `lease_until`: another process takes one only after its lease
/// passes (a deliverer killed mid-send). On PostgreSQL, rows another
/// process is claiming are skipped (`FOR UPDATE SKIP LOCKED`); SQLite has
/// one writer at a time.
pub async fn claim<C: ConnectionTrait>(
    conn: &C,
    now: DateTime<Utc>,
    lease_until: DateTime<Utc>,
    limit: u64,
) -> Result<Vec<Model>, DbErr> {
    let due = Query::select()
        .column(Column::Id)
        .from(Entity)
        .and_where(Column::Status.eq(DeliveryStatus::Pending))
        .and_where(Column::NextAttemptAt.lte(now))
        .cond_where(
            Condition::any()
                .add(Column::LockedUntil.is_null())
                .add(Column::LockedUntil.lt(now)),
        )
        .order_by(Column::NextAttemptAt, Order::Asc)
        .limit(limit)
        .lock_with_behavior(LockType::Update, LockBehavior::SkipLocked)
        .to_owned();
    let update = Query::update()
        .table(Entity)
        .value(Column::LockedUntil, lease_until)
        .and_where(Column::Id.in_subquery(due))
        .returning_all()
        .to_owned();
    let statement = conn.get_database_backend().build(&update);
    Model::find_by_statement(statement).all(conn).await
}

/// Writes the body of a storm summary when it is first sent.
pub async fn set_payload<C: ConnectionTrait>(
    conn: &C,
    id: i64,
    payload: &str,
) -> Result<(), DbErr> {
    Entity::update_many()
        .col_expr(Column::Payload, Expr::value(payload))
        .filter(Column::Id.eq(id))
        .exec(conn)
        .await?;
    Ok(())
}

/// One try's outcome.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attempt {
    /// When the request went out.
    pub at: DateTime<Utc>,
    /// The answer's status, if one came.
    pub status_code: Option<i32>,
    /// How long it took.
    pub latency_ms: i32,
    /// What went wrong.
    pub error: Option<String>,
}

/// Where a delivery stands after a try.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AfterAttempt {
    /// A 2xx came back at this instant.
    Delivered(DateTime<Utc>),
    /// Try again then.
    RetryAt(DateTime<Utc>),
    /// Given up.
    Failed,
}

/// Records `attempt` on delivery `id` and moves it to `next`, releasing the claim.
pub async fn record_attempt<C: ConnectionTrait>(
    conn: &C,
    id: i64,
    attempt: Attempt,
    next: AfterAttempt,
) -> Result<(), DbErr> {
    let (status, next_attempt_at, delivered_at) = match next {
        AfterAttempt::Delivered(at) => (DeliveryStatus::Delivered, None, Some(at)),
        AfterAttempt::RetryAt(at) => (DeliveryStatus::Pending, Some(at), None),
        AfterAttempt::Failed => (DeliveryStatus::Failed, None, None),
    };
    Entity::update_many()
        .col_expr(Column::Status, Expr::value(status))
        .col_expr(Column::Attempts, Expr::col(Column::Attempts).add(1))
        .col_expr(Column::NextAttemptAt, Expr::value(next_attempt_at))
        .col_expr(Column::DeliveredAt, Expr::value(delivered_at))
        .col_expr(
            Column::LockedUntil,
            Expr::value(Option::<DateTime<Utc>>::None),
        )
        .col_expr(Column::LastStatusCode, Expr::value(attempt.status_code))
        .col_expr(Column::LastError, Expr::value(attempt.error.clone()))
        .filter(Column::Id.eq(id))
        .exec(conn)
        .await?;
    delivery_attempts::ActiveModel {
        delivery_id: Set(id),
        at: Set(attempt.at),
        status_code: Set(attempt.status_code),
        latency_ms: Set(attempt.latency_ms),
        error: Set(attempt.error),
        ..Default::default()
    }
    .insert(conn)
    .await?;
    Ok(())
}

/// Puts a delivered or failed delivery back in the queue, due at `now`;
/// its age for giving up counts from `now`. `None` if it is not there.
pub async fn requeue<C: ConnectionTrait>(
    conn: &C,
    id: i64,
    now: DateTime<Utc>,
) -> Result<Option<Model>, DbErr> {
    Entity::update_many()
        .col_expr(Column::Status, Expr::value(DeliveryStatus::Pending))
        .col_expr(Column::NextAttemptAt, Expr::value(Some(now)))
        .col_expr(
            Column::LockedUntil,
            Expr::value(Option::<DateTime<Utc>>::None),
        )
        .col_expr(Column::CreatedAt, Expr::value(now))
        .filter(Column::Id.eq(id))
        .filter(Column::Status.ne(DeliveryStatus::Pending))
        .exec(conn)
        .await?;
    find(conn, id).await
}

/// The delivery queued under `batch_key`, if any.
pub async fn by_key<C: ConnectionTrait>(conn: &C, batch_key: &str) -> Result<Option<Model>, DbErr> {
    Entity::find()
        .filter(Column::BatchKey.eq(batch_key))
        .one(conn)
        .await
}

/// How many deliveries are pending.
pub async fn pending_count<C: ConnectionTrait>(conn: &C) -> Result<u64, DbErr> {
    Entity::find()
        .filter(Column::Status.eq(DeliveryStatus::Pending))
        .count(conn)
        .await
}

/// Delivery `id`, if any.
pub async fn find<C: ConnectionTrait>(conn: &C, id: i64) -> Result<Option<Model>, DbErr> {
    Entity::find_by_id(id).one(conn).await
}

/// The deliveries of each of `alert_ids`, oldest first.
pub async fn of_alerts<C: ConnectionTrait>(
    conn: &C,
    alert_ids: &[i64],
) -> Result<HashMap<i64, Vec<Model>>, DbErr> {
    let mut grouped: HashMap<i64, Vec<Model>> = HashMap::new();
    if alert_ids.is_empty() {
        return Ok(grouped);
    }
    let rows = Entity::find()
        .filter(Column::AlertId.is_in(alert_ids.iter().copied()))
        .order_by_asc(Column::Id)
        .all(conn)
        .await?;
    for row in rows {
        if let Some(alert_id) = row.alert_id {
            grouped.entry(alert_id).or_default().push(row);
        }
    }
    Ok(grouped)
}

/// Up to `limit` deliveries with `status` (all when `None`), newest first,
/// older than delivery `before` when given.
pub async fn page<C: ConnectionTrait>(
    conn: &C,
    status: Option<DeliveryStatus>,
    before: Option<i64>,
    limit: u64,
) -> Result<Vec<Model>, DbErr> {
    let mut query = Entity::find();
    if let Some(status) = status {
        query = query.filter(Column::Status.eq(status));
    }
    if let Some(before) = before {
        query = query.filter(Column::Id.lt(before));
    }
    sea_orm::QuerySelect::limit(query.order_by_desc(Column::Id), limit)
        .all(conn)
        .await
}

/// Every try of each of `delivery_ids`, oldest first.
pub async fn attempts_of<C: ConnectionTrait>(
    conn: &C,
    delivery_ids: &[i64],
) -> Result<HashMap<i64, Vec<delivery_attempts::Model>>, DbErr> {
    let mut grouped: HashMap<i64, Vec<delivery_attempts::Model>> = HashMap::new();
    if delivery_ids.is_empty() {
        return Ok(grouped);
    }
    let rows = delivery_attempts::Entity::find()
        .filter(delivery_attempts::Column::DeliveryId.is_in(delivery_ids.iter().copied()))
        .order_by_asc(delivery_attempts::Column::Id)
        .all(conn)
        .await?;
    for row in rows {
        grouped.entry(row.delivery_id).or_default().push(row);
    }
    Ok(grouped)
}
