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

/// How far a delivery got (`deliveries.status`).
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

/// Who raised an alert (`alerts.kind`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::None)")]
pub enum AlertKind {
    /// A person, through `sendAlert` or the legacy route.
    #[sea_orm(string_value = "manual")]
    Manual,
    /// The service, when a user's level rose to `AUTO_ALERT_LEVEL`.
    #[sea_orm(string_value = "automatic")]
    Automatic,
}

/// Where a case stands (`alerts.status`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::None)")]
pub enum AlertStatus {
    /// Raised, nobody on it yet.
    #[sea_orm(string_value = "open")]
    Open,
    /// Somebody is on it.
    #[sea_orm(string_value = "acknowledged")]
    Acknowledged,
    /// Worked to an outcome.
    #[sea_orm(string_value = "resolved")]
    Resolved,
    /// Closed without action.
    #[sea_orm(string_value = "dismissed")]
    Dismissed,
}

/// How a resolved case ended (`alerts.resolution`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::None)")]
pub enum Resolution {
    /// The subscriber was reached.
    #[sea_orm(string_value = "contacted")]
    Contacted,
    /// The failed payments were recovered.
    #[sea_orm(string_value = "payment_recovered")]
    PaymentRecovered,
    /// The score was wrong about them.
    #[sea_orm(string_value = "false_positive")]
    FalsePositive,
    /// A moderation task was posted.
    #[sea_orm(string_value = "sanctioned")]
    Sanctioned,
    /// Anything else, said in the note.
    #[sea_orm(string_value = "other")]
    Other,
}

/// How a channel is spoken to (`channels.kind`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::None)")]
pub enum ChannelKind {
    /// A signed JSON POST.
    #[sea_orm(string_value = "webhook")]
    Webhook,
    /// A Slack incoming webhook (Block Kit).
    #[sea_orm(string_value = "slack")]
    Slack,
}

/// What happened (`deliveries.event_type`, and each channel's wishes).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::None)")]
pub enum EventType {
    /// An alert was raised.
    #[sea_orm(string_value = "alert_raised")]
    AlertRaised,
    /// A case changed state.
    #[sea_orm(string_value = "alert_changed")]
    AlertChanged,
    /// A case was resolved with a sanction: a moderation task.
    #[sea_orm(string_value = "sanction")]
    Sanction,
    /// The daily digest.
    #[sea_orm(string_value = "digest")]
    Digest,
}
