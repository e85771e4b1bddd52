//! `subscription_payments`: every payment attempt.

use sea_orm::entity::prelude::*;

use super::sea_orm_active_enums::PaymentStatus;

/// One payment attempt.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "subscription_payments")]
pub struct Model {
    /// Surrogate key.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The billing system's id: unique when present, makes ingestion idempotent.
    #[sea_orm(unique)]
    pub external_id: Option<String>,
    /// The plan version paid for, when known.
    pub subscription_id: Option<i64>,
    /// The subscriber.
    pub user_id: i64,
    /// Amount in cents of `currency`.
    pub amount_cents: i64,
    /// ISO 4217 code.
    pub currency: String,
    /// The outcome.
    pub status: PaymentStatus,
    /// When the payment was attempted (UTC).
    pub payment_date: DateTimeUtc,
    /// card, paypal, bank_transfer, …
    pub payment_method: String,
    /// Why it failed, as the billing system said.
    #[sea_orm(column_type = "Text", nullable)]
    pub failure_reason: Option<String>,
}

/// Relations of `subscription_payments`.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    /// The plan version paid for.
    #[sea_orm(
        belongs_to = "super::user_subscriptions::Entity",
        from = "Column::SubscriptionId",
        to = "super::user_subscriptions::Column::Id",
        on_update = "NoAction",
        on_delete = "SetNull"
    )]
    UserSubscriptions,
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

impl Related<super::user_subscriptions::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::UserSubscriptions.def()
    }
}

impl Related<super::users::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Users.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
