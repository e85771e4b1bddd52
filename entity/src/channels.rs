//! `channels`: where events are delivered (SPEC §10).

use sea_orm::entity::prelude::*;

use super::sea_orm_active_enums::{ChannelKind, RiskLevel};

/// One delivery channel.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "channels")]
pub struct Model {
    /// Surrogate key.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// Unique name.
    #[sea_orm(unique)]
    pub name: String,
    /// Webhook or Slack.
    pub kind: ChannelKind,
    /// Where requests go (http or https).
    #[sea_orm(column_type = "Text")]
    pub url: String,
    /// Signs webhook bodies; never returned after creation.
    pub secret: String,
    /// The event types it wants, comma-separated stored spellings.
    pub events: String,
    /// Alerts below this level are not sent to it.
    pub min_level: RiskLevel,
    /// Disabled channels get nothing new.
    pub enabled: bool,
    /// When it was registered.
    pub created_at: DateTimeUtc,
    /// When it last changed.
    pub updated_at: DateTimeUtc,
}

/// Relations of `channels`.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
