//! `alerts`: the audit trail of every alert raised.

use sea_orm::entity::prelude::*;

use super::sea_orm_active_enums::{AlertKind, AlertStatus, Resolution, RiskLevel};

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
    /// Client-chosen key: one alert per key.
    #[sea_orm(unique)]
    pub idempotency_key: Option<String>,
    /// Who raised it, when known.
    pub created_by: Option<String>,
    /// When it was raised.
    pub created_at: DateTimeUtc,
    /// Raised by a person or by the service.
    pub kind: AlertKind,
    /// Where the case stands.
    pub status: AlertStatus,
    /// The level's rank (0 low … 3 critical), for ordering the queue.
    pub severity: i16,
    /// Who works the case.
    pub assignee: Option<String>,
    /// Bumped by every transition: a stale version is a conflict.
    pub version: i32,
    /// How a resolved case ended.
    pub resolution: Option<Resolution>,
    /// When it was resolved or dismissed.
    pub closed_at: Option<DateTimeUtc>,
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
