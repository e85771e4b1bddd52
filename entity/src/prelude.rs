//! The entities under the names sea-orm-cli gives them.

pub use super::alert_notes::Entity as AlertNotes;
pub use super::alerts::Entity as Alerts;
pub use super::api_keys::Entity as ApiKeys;
pub use super::audit_log::Entity as AuditLog;
pub use super::channels::Entity as Channels;
pub use super::deliveries::Entity as Deliveries;
pub use super::delivery_attempts::Entity as DeliveryAttempts;
pub use super::digests::Entity as Digests;
pub use super::risk_scores::Entity as RiskScores;
pub use super::sessions::Entity as Sessions;
pub use super::subscription_payments::Entity as SubscriptionPayments;
pub use super::user_subscriptions::Entity as UserSubscriptions;
pub use super::users::Entity as Users;
