//! The pure risk-scoring model (SPEC §3): one user's facts and payment history plus
//! an instant in, an [`Assessment`] out (score, level, structured factors, named
//! patterns, the legacy messages and recommendations, and the instant at which the
//! answer next changes by itself).
//!
//! It owns the legacy formula (§3.1), its explanations (§3.2) and the validation of
//! its configuration (§3.3). It must not touch I/O, the clock (the caller passes
//! `now`; nothing here calls `Utc::now`), the database, HTTP, GraphQL or an async
//! runtime: no `sea_orm`, `axum`, `async_graphql` or `tokio`. Statuses arrive already
//! classified as an [`Outcome`] and money as currency units.
//!
//! Layout: `config` (weights, thresholds, their errors), `facts` (inputs),
//! `assessment` (outputs), `summary` (what the model reads of a history: counts, the newest and
//! oldest payments), `observation` (what one summed-up history shows),
//! `engine` (the score from it), `legacy` (messages, recommendations, number
//! formatting); `engine` and `legacy` both read `observation`, not each
//! other. The golden histories of the legacy system are replayed by the
//! test-only `golden` module.

mod assessment;
mod config;
mod engine;
mod facts;
#[cfg(test)]
mod golden;
mod legacy;
mod observation;
mod summary;

pub use assessment::{Assessment, Factor, FactorName, RiskLevel, RiskPattern};
pub use config::{
    CRITICAL_RISK_THRESHOLD, ConfigError, HIGH_RISK_THRESHOLD, MEDIUM_RISK_THRESHOLD,
    ScoringConfig, ThresholdName, Thresholds, WEIGHT_SUM_TOLERANCE, WeightName, Weights,
};
pub use engine::{
    Brief, assess, assess_as_of, assess_brief, assess_summary, assess_summary_brief, level_for,
};
pub use facts::{Outcome, PaymentFact, UserFacts};
pub use legacy::recommendations;
pub use summary::{Counts, Summary};
