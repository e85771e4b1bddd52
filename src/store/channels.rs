//! `channels`: where events are delivered.

use chrono::{DateTime, Utc};
use entity::channels::{ActiveModel, Column, Entity, Model};
use entity::sea_orm_active_enums::{ChannelKind, EventType, RiskLevel as StoredLevel};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseBackend, DbErr,
    EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};

/// A channel to write: every column but the id and the instants.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChannelFields {
    /// Unique name.
    pub name: String,
    /// Webhook or Slack.
    pub kind: ChannelKind,
    /// Where requests go.
    pub url: String,
    /// The signing secret.
    pub secret: String,
    /// The events it wants, in their stored spelling.
    pub events: Vec<EventType>,
    /// The lowest level it wants.
    pub min_level: StoredLevel,
    /// Whether it gets anything.
    pub enabled: bool,
}

/// The stored form of a list of event types.
fn events_column(events: &[EventType]) -> String {
    events
        .iter()
        .map(sea_orm::ActiveEnum::to_value)
        .collect::<Vec<_>>()
        .join(",")
}

/// The event types a channel wants, from the stored column; spellings this
/// version does not know are skipped.
pub fn events_of(channel: &Model) -> Vec<EventType> {
    channel
        .events
        .split(',')
        .filter_map(|name| {
            <EventType as sea_orm::ActiveEnum>::try_from_value(&name.to_owned()).ok()
        })
        .collect()
}

/// Inserts a channel; a taken name is a unique violation for the caller.
pub async fn insert<C: ConnectionTrait>(
    conn: &C,
    fields: ChannelFields,
    now: DateTime<Utc>,
) -> Result<Model, DbErr> {
    ActiveModel {
        name: Set(fields.name),
        kind: Set(fields.kind),
        url: Set(fields.url),
        secret: Set(fields.secret),
        events: Set(events_column(&fields.events)),
        min_level: Set(fields.min_level),
        enabled: Set(fields.enabled),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(conn)
    .await
}

/// Rewrites channel `id` with `fields`.
pub async fn update<C: ConnectionTrait>(
    conn: &C,
    id: i64,
    fields: ChannelFields,
    now: DateTime<Utc>,
) -> Result<Model, DbErr> {
    ActiveModel {
        id: Set(id),
        name: Set(fields.name),
        kind: Set(fields.kind),
        url: Set(fields.url),
        secret: Set(fields.secret),
        events: Set(events_column(&fields.events)),
        min_level: Set(fields.min_level),
        enabled: Set(fields.enabled),
        updated_at: Set(now),
        ..Default::default()
    }
    .update(conn)
    .await
}

/// Channel `id`, if any.
pub async fn find<C: ConnectionTrait>(conn: &C, id: i64) -> Result<Option<Model>, DbErr> {
    Entity::find_by_id(id).one(conn).await
}

/// Every channel, by name.
pub async fn all<C: ConnectionTrait>(conn: &C) -> Result<Vec<Model>, DbErr> {
    Entity::find().order_by_asc(Column::Name).all(conn).await
}

/// Holds channel `id` until the caller's transaction ends (PostgreSQL;
/// SQLite's write transactions run one at a time), so that two
/// transactions queuing alerts for it count each other's deliveries.
pub async fn lock<C: ConnectionTrait>(conn: &C, id: i64) -> Result<(), DbErr> {
    if conn.get_database_backend() == DatabaseBackend::Postgres {
        Entity::find_by_id(id).lock_exclusive().one(conn).await?;
    }
    Ok(())
}

/// The enabled channels that want `event`.
pub async fn wanting<C: ConnectionTrait>(conn: &C, event: EventType) -> Result<Vec<Model>, DbErr> {
    let enabled = Entity::find()
        .filter(Column::Enabled.eq(true))
        .order_by_asc(Column::Id)
        .all(conn)
        .await?;
    Ok(enabled
        .into_iter()
        .filter(|channel| events_of(channel).contains(&event))
        .collect())
}
