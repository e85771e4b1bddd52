//! One async function per user-visible operation. This layer owns the
//! transactions: it opens one, calls [`crate::store`] and [`crate::risk`],
//! and commits, so that a write and the rescoring it causes land together or
//! not at all. GraphQL resolvers and REST handlers call only this layer.

pub mod access;
pub mod alerts;
pub mod audit;
pub mod cases;
pub mod channels;
pub mod deliverer;
pub mod digest;
pub mod events;
pub mod export;
pub mod ingest;
pub mod live;
pub mod outbox;
pub mod payment_writer;
pub mod queries;
pub mod scoring;
pub mod stats_cache;

use std::sync::Arc;

use crate::config::AlertSettings;
use crate::risk::ScoringConfig;

/// What a write obeys: the scoring model, and what a change of level sets
/// off (automatic alerts and their deliveries).
#[derive(Clone, Debug, Default)]
pub struct Rules {
    /// Weights and thresholds.
    pub scoring: ScoringConfig,
    /// Automatic alerts, deliveries, the digest.
    pub alerts: Arc<AlertSettings>,
}

impl Rules {
    /// The rules of `scoring` and `alerts`.
    pub fn new(scoring: ScoringConfig, alerts: AlertSettings) -> Self {
        Self {
            scoring,
            alerts: Arc::new(alerts),
        }
    }
}

impl From<ScoringConfig> for Rules {
    /// `scoring` with the default alerting settings.
    fn from(scoring: ScoringConfig) -> Self {
        Self::new(scoring, AlertSettings::default())
    }
}
