//! `risk_scores`: the materialized score of every user.

use sea_orm::entity::prelude::*;

use super::sea_orm_active_enums::RiskLevel;

/// A user's current score, kept fresh by the service.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "risk_scores")]
pub struct Model {
    /// The scored user (one row each).
    #[sea_orm(primary_key, auto_increment = false)]
    pub user_id: i64,
    /// Score in [0, 1].
    #[sea_orm(column_type = "Double")]
    pub score: f64,
    /// The level by the thresholds in force when it was computed.
    pub level: RiskLevel,
    /// Bit set of the detected patterns.
    pub patterns: i32,
    /// Every payment of the user.
    pub total_payments: i32,
    /// Failed or declined payments.
    pub failed_payments: i32,
    /// Successful payments (none: not counted yet, see migration 10).
    pub succeeded_payments: Option<i32>,
    /// failed / total, 0 without payments.
    #[sea_orm(column_type = "Double")]
    pub failure_rate: f64,
    /// Copy of `users.is_active`.
    pub is_active: bool,
    /// The current plan's type.
    pub subscription_type: Option<String>,
    /// The current plan's monthly price in cents.
    pub monthly_amount_cents: Option<i64>,
    /// The current plan's currency.
    pub currency: Option<String>,
    /// When the score next changes through time alone.
    pub next_change_at: Option<DateTimeUtc>,
    /// When this row was computed.
    pub computed_at: DateTimeUtc,
    /// The score at the start of `baseline_generation`, the digest
    /// generation in which the row was last written (none: it did not exist
    /// then). See migration 13.
    #[sea_orm(column_type = "Double", nullable)]
    pub baseline_score: Option<f64>,
    /// The level at the start of `baseline_generation`.
    pub baseline_level: Option<RiskLevel>,
    /// The digest generation in which the row was last written.
    pub baseline_generation: i64,
    /// The score at the start of the generation before
    /// `baseline_generation` (none: it did not exist then).
    #[sea_orm(column_type = "Double", nullable)]
    pub previous_score: Option<f64>,
    /// The level at the start of the generation before.
    pub previous_level: Option<RiskLevel>,
}

/// Relations of `risk_scores`.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    /// The scored user.
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
