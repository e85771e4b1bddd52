//! `deliveries`: the outbox, one row per event and channel (SPEC §10).

use sea_orm::entity::prelude::*;

use super::sea_orm_active_enums::{DeliveryStatus, EventType};

/// One event to deliver to one channel.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "deliveries")]
pub struct Model {
    /// Surrogate key.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// Where it goes.
    pub channel_id: i64,
    /// The alert it is about, if any.
    pub alert_id: Option<i64>,
    /// The event's id, the same on every channel and try.
    pub event_id: String,
    /// What happened.
    pub event_type: EventType,
    /// The exact body sent (a storm summary's is written when first sent).
    #[sea_orm(column_type = "Text", nullable)]
    pub payload: Option<String>,
    /// Storm summaries and digests: one row per key.
    #[sea_orm(unique)]
    pub batch_key: Option<String>,
    /// Alerts folded into a storm summary.
    pub batch_count: i32,
    /// Pending, delivered or failed.
    pub status: DeliveryStatus,
    /// Tries so far.
    pub attempts: i32,
    /// When it is next tried (pending only).
    pub next_attempt_at: Option<DateTimeUtc>,
    /// Claimed by a deliverer until then.
    pub locked_until: Option<DateTimeUtc>,
    /// The last answer's HTTP status.
    pub last_status_code: Option<i32>,
    /// The last failure, in words.
    #[sea_orm(column_type = "Text", nullable)]
    pub last_error: Option<String>,
    /// When a 2xx came back.
    pub delivered_at: Option<DateTimeUtc>,
    /// When it was queued.
    pub created_at: DateTimeUtc,
}

/// Relations of `deliveries`.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
