//! `users`: one row per subscriber.

use sea_orm::entity::prelude::*;

/// A subscriber.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "users")]
pub struct Model {
    /// Surrogate key.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The billing system's id, unique when present.
    #[sea_orm(unique)]
    pub external_id: Option<String>,
    /// Display name.
    pub name: String,
    /// Contact email, unique.
    #[sea_orm(unique)]
    pub email: String,
    /// When the account was opened (UTC).
    pub created_at: DateTimeUtc,
    /// Inactive users stay recorded but leave the risky list.
    pub is_active: bool,
}

/// Relations of `users`.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    /// The user's alerts.
    #[sea_orm(has_many = "super::alerts::Entity")]
    Alerts,
    /// The user's materialized score.
    #[sea_orm(has_one = "super::risk_scores::Entity")]
    RiskScores,
    /// The user's payments.
    #[sea_orm(has_many = "super::subscription_payments::Entity")]
    SubscriptionPayments,
    /// The user's plan versions.
    #[sea_orm(has_many = "super::user_subscriptions::Entity")]
    UserSubscriptions,
}

impl Related<super::alerts::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Alerts.def()
    }
}

impl Related<super::risk_scores::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::RiskScores.def()
    }
}

impl Related<super::subscription_payments::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::SubscriptionPayments.def()
    }
}

impl Related<super::user_subscriptions::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::UserSubscriptions.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
