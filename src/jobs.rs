//! Background work of `serve`: the refresher that rescores users whose score
//! changes by time alone (SPEC §3.4: the account's age crosses 30, 90 or 180
//! days). Each stored score carries that instant; this task wakes at an
//! interval, rescores the users whose instant has passed, a batch at a time,
//! each batch in a short transaction of its own, so requests never wait long.
//! Every `serve` process runs one: a batch claims its users (locks skipped
//! by the others), so each due user is rescored once however many run.

use std::time::Duration;

use chrono::Utc;
use prometheus_client::metrics::counter::Counter;
use sea_orm::DatabaseConnection;

use crate::service::{Rules, scoring};

/// Users rescored per refresher transaction.
pub const REFRESH_BATCH: u64 = 1_000;

/// Runs forever: every `interval`, rescores every user that is due, and
/// counts them in `refreshed`. Database errors are logged and retried at
/// the next tick.
pub async fn refresher(
    db: DatabaseConnection,
    rules: Rules,
    interval: Duration,
    refreshed: Counter,
) {
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        match refresh_now(&db, &rules).await {
            Ok(0) => {}
            Ok(n) => {
                refreshed.inc_by(n);
                tracing::info!(
                    users = n,
                    "refreshed scores whose next-change instant had passed"
                );
            }
            Err(error) => tracing::warn!(%error, "score refresh failed; retrying at the next tick"),
        }
    }
}

/// Rescores every user due at this instant, batch after batch; returns how many.
pub async fn refresh_now(db: &DatabaseConnection, rules: &Rules) -> Result<u64, sea_orm::DbErr> {
    let mut total = 0;
    loop {
        let done = scoring::rescore_due(db, rules, Utc::now(), REFRESH_BATCH).await?;
        total += done;
        if done < REFRESH_BATCH {
            return Ok(total);
        }
    }
}
