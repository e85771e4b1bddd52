//! `alerts`: the audit trail of every alert raised.

use sea_orm::entity::prelude::*;

use super::sea_orm_active_enums::{AlertChannel, DeliveryStatus, RiskLevel};

/// One alert raised on a user.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "alerts")]
pub struct Model {
    /// Surrogate key.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The user alerted on.
    pub user_id: i64,
    /// The user's score when the alert was raised.
    #[sea_orm(column_type = "Double")]
    pub risk_score: f64,
    /// The user's level when the alert was raised.
    pub risk_level: RiskLevel,
    /// Free text from whoever raised it.
    #[sea_orm(column_type = "Text", nullable)]
    pub note: Option<String>,
    /// Where it was delivered.
    pub channel: AlertChannel,
    /// How far its delivery got.
    pub delivery_status: DeliveryStatus,
    /// Client-chosen key: one alert per key.
    #[sea_orm(unique)]
    pub idempotency_key: Option<String>,
    /// Who raised it, when known.
    pub created_by: Option<String>,
    /// When it was raised.
    pub created_at: DateTimeUtc,
}

/// Relations of `alerts`.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    /// The user alerted on.
    #[sea_orm(
        belongs_to = "super::users::Entity",
        from = "Column::UserId",
        to = "super::users::Column::Id",
        on_update = "NoAction",
        on_delete = "Cascade"
    )]
    Users,
}

impl Related<super::users::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Users.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
