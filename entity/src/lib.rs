//! SeaORM entities of the Risk Monitor tables, in the shape sea-orm-cli
//! generates them from the schema of `migration/`.
//!
//! Nothing API-facing is derived here: GraphQL and REST types live in the
//! service crate and convert from these models, so that a column change never
//! silently changes a public contract.

pub mod alert_notes;
pub mod alerts;
pub mod api_keys;
pub mod audit_log;
pub mod channels;
pub mod deliveries;
pub mod delivery_attempts;
pub mod digests;
pub mod prelude;
pub mod risk_scores;
pub mod sea_orm_active_enums;
pub mod sessions;
pub mod subscription_payments;
pub mod user_subscriptions;
pub mod users;
