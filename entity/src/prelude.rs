//! The entities under the names sea-orm-cli gives them.

pub use super::alerts::Entity as Alerts;
pub use super::risk_scores::Entity as RiskScores;
pub use super::subscription_payments::Entity as SubscriptionPayments;
pub use super::user_subscriptions::Entity as UserSubscriptions;
pub use super::users::Entity as Users;
