//! `user_subscriptions`: one row per version of a user's plan.

use sea_orm::entity::prelude::*;

use super::sea_orm_active_enums::PlanStatus;

/// One version of a user's plan.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "user_subscriptions")]
pub struct Model {
    /// Surrogate key.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The subscriber.
    pub user_id: i64,
    /// basic, premium, pro, enterprise, …
    pub subscription_type: String,
    /// active, cancelled, suspended.
    pub status: PlanStatus,
    /// Monthly price in cents of `currency`.
    pub monthly_amount_cents: i64,
    /// ISO 4217 code.
    pub currency: String,
    /// When the row was recorded.
    pub created_at: DateTimeUtc,
    /// When the row was last changed.
    pub updated_at: DateTimeUtc,
    /// First instant this version applies.
    pub effective_from: DateTimeUtc,
    /// Last instant this version applies, if it ended.
    pub effective_until: Option<DateTimeUtc>,
}

/// Relations of `user_subscriptions`.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    /// Payments made under this version.
    #[sea_orm(has_many = "super::subscription_payments::Entity")]
    SubscriptionPayments,
    /// The subscriber.
    #[sea_orm(
        belongs_to = "super::users::Entity",
        from = "Column::UserId",
        to = "super::users::Column::Id",
        on_update = "NoAction",
        on_delete = "Cascade"
    )]
    Users,
}

impl Related<super::subscription_payments::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::SubscriptionPayments.def()
    }
}

impl Related<super::users::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Users.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
