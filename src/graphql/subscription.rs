//! The subscription root (SPEC §10 `SubscriptionRoot`), served over
//! WebSocket at `/graphql/ws` (graphql-transport-ws; the upgrade is in
//! [`super::handler::graphql_ws`]).
//!
//! Each subscriber listens to this process's [`Hub`], which
//! `service::events::relay` feeds from the database, so a write committed
//! by any process reaches every subscriber of every process. An event names
//! its alert or user; the resolver loads it through `service::live` and
//! converts it like the queries do. A subscriber that falls too far behind
//! skips what it missed rather than losing its subscription; an event whose
//! alert or user cannot be read is skipped (and logged).

use async_graphql::{Context, Result, SimpleObject};
use chrono::{DateTime, Utc};
use futures::{Stream, StreamExt};
use sea_orm::DatabaseConnection;
use tokio::sync::broadcast::error::RecvError;

use super::guard::Need;
use super::types::{Alert, GqlRiskLevel, User};
use crate::domain::Permission;
use crate::risk::RiskLevel;
use crate::service::events::{Hub, LiveEvent};
use crate::service::live;

/// The subscription root: live alerts and level changes.
#[derive(Default)]
pub struct SubscriptionRoot;

/// A user's risk level changed.
#[derive(SimpleObject, Clone, Debug)]
pub struct RiskLevelChange {
    /// The user.
    pub user: User,
    /// The level before.
    pub from: GqlRiskLevel,
    /// The level now.
    pub to: GqlRiskLevel,
    /// The score now.
    pub risk_score: f64,
    /// When the new score was computed.
    pub at: DateTime<Utc>,
}

#[async_graphql::Subscription]
impl SubscriptionRoot {
    /// Every alert raised from now on (by `sendAlert`, the REST route, or
    /// automatically) at `minLevel` or above.
    #[graphql(guard = "Need(Permission::Read)")]
    async fn alert_raised(
        &self,
        ctx: &Context<'_>,
        #[graphql(default_with = "Some(GqlRiskLevel::High)")] min_level: Option<GqlRiskLevel>,
    ) -> Result<impl Stream<Item = Alert> + use<>> {
        let min = threshold(min_level);
        let db = ctx.data::<DatabaseConnection>()?.clone();
        let events = events(ctx.data::<Hub>()?);
        Ok(events.filter_map(move |event| {
            let db = db.clone();
            async move {
                match event {
                    LiveEvent::AlertRaised { alert_id, level } if level >= min => {
                        load_alert(&db, alert_id).await
                    }
                    _ => None,
                }
            }
        }))
    }

    /// Every change to a case from now on: acknowledged, assigned,
    /// commented, resolved, dismissed.
    #[graphql(guard = "Need(Permission::Read)")]
    async fn alert_changed(&self, ctx: &Context<'_>) -> Result<impl Stream<Item = Alert> + use<>> {
        let db = ctx.data::<DatabaseConnection>()?.clone();
        let events = events(ctx.data::<Hub>()?);
        Ok(events.filter_map(move |event| {
            let db = db.clone();
            async move {
                match event {
                    LiveEvent::AlertChanged { alert_id } => load_alert(&db, alert_id).await,
                    _ => None,
                }
            }
        }))
    }

    /// Every change of a user's level from now on where the level before
    /// or after is `minLevel` or above (so a user leaving HIGH is heard
    /// too).
    #[graphql(guard = "Need(Permission::Read)")]
    async fn risk_level_changed(
        &self,
        ctx: &Context<'_>,
        #[graphql(default_with = "Some(GqlRiskLevel::High)")] min_level: Option<GqlRiskLevel>,
    ) -> Result<impl Stream<Item = RiskLevelChange> + use<>> {
        let min = threshold(min_level);
        let db = ctx.data::<DatabaseConnection>()?.clone();
        let events = events(ctx.data::<Hub>()?);
        Ok(events.filter_map(move |event| {
            let db = db.clone();
            async move {
                match event {
                    LiveEvent::RiskLevelChanged {
                        user_id,
                        from,
                        to,
                        score,
                        at,
                    } if from >= min || to >= min => {
                        let user = match live::user(&db, user_id).await {
                            Ok(user) => user?,
                            Err(error) => {
                                error.log();
                                return None;
                            }
                        };
                        Some(RiskLevelChange {
                            user: User::from(user),
                            from: from.into(),
                            to: to.into(),
                            risk_score: score,
                            at,
                        })
                    }
                    _ => None,
                }
            }
        }))
    }
}

/// `minLevel` as given; an explicit null means the default, HIGH.
fn threshold(min_level: Option<GqlRiskLevel>) -> RiskLevel {
    min_level.unwrap_or(GqlRiskLevel::High).into()
}

/// The hub's events from now on. A subscriber that lagged behind the hub's
/// buffer skips the events it missed and goes on; the stream ends only
/// with the hub.
fn events(hub: &Hub) -> impl Stream<Item = LiveEvent> + use<> {
    futures::stream::unfold(hub.subscribe(), |mut receiver| async move {
        loop {
            match receiver.recv().await {
                Ok(event) => return Some((event, receiver)),
                Err(RecvError::Lagged(missed)) => {
                    tracing::warn!(missed, "a live subscriber fell behind; skipped events");
                }
                Err(RecvError::Closed) => return None,
            }
        }
    })
}

/// The alert `id` as the API shows it; `None` if it is gone or cannot be
/// read (logged).
async fn load_alert(db: &DatabaseConnection, id: i64) -> Option<Alert> {
    match live::alert(db, id).await {
        Ok(alert) => alert.map(Alert::from),
        Err(error) => {
            error.log();
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_and_an_explicit_null_mean_high() {
        assert_eq!(threshold(None), RiskLevel::High);
        assert_eq!(threshold(Some(GqlRiskLevel::Critical)), RiskLevel::Critical);
    }

    #[tokio::test]
    async fn a_lagging_subscriber_skips_what_it_missed_and_goes_on() {
        let hub = Hub::new();
        let stream = events(&hub);
        futures::pin_mut!(stream);
        // Past the hub's buffer: the first events are lost to this reader.
        for id in 0..5_000 {
            hub.send(LiveEvent::AlertChanged { alert_id: id });
        }
        let first = stream.next().await;
        assert!(
            matches!(first, Some(LiveEvent::AlertChanged { alert_id }) if alert_id > 0),
            "the stream goes on after a lag: {first:?}"
        );
    }
}
