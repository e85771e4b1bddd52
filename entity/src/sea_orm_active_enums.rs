//! The enumerations stored as text columns, in sea-orm-cli's shape: each
//! variant's `string_value` is the spelling the column holds (the legacy
//! one), so no data migration was needed to type them. Reading a value that
//! is not listed here fails with `DbErr::Type` rather than picking a default.

use sea_orm::entity::prelude::*;

/// A user's risk level (`risk_scores.level`, `alerts.risk_level`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::None)")]
pub enum RiskLevel {
    /// Below the medium threshold.
    #[sea_orm(string_value = "low")]
    Low,
    /// From the medium to the high threshold.
    #[sea_orm(string_value = "medium")]
    Medium,
    /// From the high to the critical threshold.
    #[sea_orm(string_value = "high")]
    High,
    /// At or above the critical threshold.
    #[sea_orm(string_value = "critical")]
    Critical,
}

/// A payment's status (`subscription_payments.status`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::None)")]
pub enum PaymentStatus {
    /// Paid.
    #[sea_orm(string_value = "success")]
    Success,
    /// Failed.
    #[sea_orm(string_value = "failed")]
    Failed,
    /// Declined by the bank or provider.
    #[sea_orm(string_value = "declined")]
    Declined,
    /// Not settled yet.
    #[sea_orm(string_value = "pending")]
    Pending,
    /// Paid, then refunded.
    #[sea_orm(string_value = "refunded")]
    Refunded,
}

/// A plan version's status (`user_subscriptions.status`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::None)")]
pub enum PlanStatus {
    /// In force.
    #[sea_orm(string_value = "active")]
    Active,
    /// Ended by the subscriber or replaced.
    #[sea_orm(string_value = "cancelled")]
    Cancelled,
    /// Paused by the business.
    #[sea_orm(string_value = "suspended")]
    Suspended,
}

/// Where an alert was delivered (`alerts.channel`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::None)")]
pub enum AlertChannel {
    /// A structured log event.
    #[sea_orm(string_value = "log")]
    Log,
}

/// How far an alert's delivery got (`alerts.delivery_status`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::None)")]
pub enum DeliveryStatus {
    /// Not delivered yet.
    #[sea_orm(string_value = "pending")]
    Pending,
    /// Delivered.
    #[sea_orm(string_value = "delivered")]
    Delivered,
    /// Given up on.
    #[sea_orm(string_value = "failed")]
    Failed,
}

/// What an API key (and the person signed in with it) may do (`api_keys.role`, SPEC §9).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::None)")]
pub enum Role {
    /// Every query, the REST reads, exports, the console's views.
    #[sea_orm(string_value = "viewer")]
    Viewer,
    /// A viewer who also raises alerts and works cases.
    #[sea_orm(string_value = "agent")]
    Agent,
    /// Records users, plans and payments; sees nothing.
    #[sea_orm(string_value = "ingest")]
    Ingest,
    /// Everything: keys, channels, the audit trail.
    #[sea_orm(string_value = "admin")]
    Admin,
}
