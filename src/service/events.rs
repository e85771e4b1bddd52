//! Live events (SPEC §10 subscriptions): what writers announce, and the hub
//! every process's subscribers listen to.
//!
//! A writer calls [`emit`] inside its transaction; the events leave the
//! database only if it commits (PostgreSQL's `NOTIFY`, or SQLite's
//! `event_queue` rows), so nobody hears of a write that did not happen.
//! [`relay`] runs beside the server in every process and feeds what the
//! database carries into the process's [`Hub`], so every subscriber of
//! every process sees every event.

use std::time::Duration;

use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbErr};
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;

use crate::db;
use crate::risk::RiskLevel;
use crate::store;

/// Something subscribers and deliverers want to hear of.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "t", rename_all = "snake_case")]
pub enum LiveEvent {
    /// An alert was raised.
    AlertRaised {
        /// The alert.
        alert_id: i64,
        /// Its level.
        level: RiskLevel,
    },
    /// A case changed (status, assignee, notes).
    AlertChanged {
        /// The alert.
        alert_id: i64,
    },
    /// A user's level changed.
    RiskLevelChanged {
        /// The user.
        user_id: i64,
        /// The level before.
        from: RiskLevel,
        /// The level now.
        to: RiskLevel,
        /// The score now.
        score: f64,
        /// When.
        at: DateTime<Utc>,
    },
    /// Deliveries were queued or requeued: deliverers should look.
    DeliveriesQueued,
}

/// Largest notification payload written (PostgreSQL refuses 8000 bytes).
const MAX_PAYLOAD: usize = 7_000;

/// Announces `events` when the caller's transaction commits; several
/// events share one notification.
pub async fn emit<C: ConnectionTrait>(conn: &C, events: &[LiveEvent]) -> Result<(), DbErr> {
    if events.is_empty() {
        return Ok(());
    }
    let mut payloads = Vec::new();
    let mut batch: Vec<String> = Vec::new();
    let mut size = 2;
    for event in events {
        let json = serde_json::to_string(event).map_err(|e| DbErr::Custom(e.to_string()))?;
        if size + json.len() + 1 > MAX_PAYLOAD && !batch.is_empty() {
            payloads.push(format!("[{}]", batch.join(",")));
            batch.clear();
            size = 2;
        }
        size += json.len() + 1;
        batch.push(json);
    }
    payloads.push(format!("[{}]", batch.join(",")));
    store::events::publish(conn, &payloads).await
}

/// The events of this process, fanned out to every subscriber.
#[derive(Clone, Debug)]
pub struct Hub {
    sender: broadcast::Sender<LiveEvent>,
}

/// Events a slow subscriber may fall behind before it misses some.
const HUB_CAPACITY: usize = 4_096;

impl Default for Hub {
    fn default() -> Self {
        Self::new()
    }
}

impl Hub {
    /// A hub nobody listens to yet.
    pub fn new() -> Self {
        Self {
            sender: broadcast::channel(HUB_CAPACITY).0,
        }
    }

    /// Every event from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<LiveEvent> {
        self.sender.subscribe()
    }

    /// Hands `event` to this process's subscribers only (the relay does
    /// this for the database's events; writers call [`emit`] instead).
    pub fn send(&self, event: LiveEvent) {
        // No receiver is not an error: nobody is listening.
        let _ = self.sender.send(event);
    }

    fn publish(&self, payload: &str) {
        match serde_json::from_str::<Vec<LiveEvent>>(payload) {
            Ok(events) => {
                for event in events {
                    // No receiver is not an error: nobody is listening.
                    let _ = self.sender.send(event);
                }
            }
            Err(error) => tracing::warn!(%error, "ignored a malformed live event"),
        }
    }
}

/// How often SQLite's queue is read.
const POLL: Duration = Duration::from_millis(100);

/// Feeds the database's events into `hub`, forever; reconnects (PostgreSQL)
/// or retries (SQLite) after an error.
pub async fn relay(db: DatabaseConnection, hub: Hub) {
    if db::is_postgres(&db) {
        loop {
            let result = store::events::listen(&db, |payload| hub.publish(&payload)).await;
            if let Err(error) = result {
                tracing::warn!(%error, "live events: listening failed; reconnecting");
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    } else {
        let mut last = loop {
            match store::events::last_queued(&db).await {
                Ok(id) => break id,
                Err(error) => tracing::warn!(%error, "live events: cannot read the queue"),
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        };
        let mut ticks = 0u32;
        loop {
            tokio::time::sleep(POLL).await;
            match store::events::queued_after(&db, last, 1_000).await {
                Ok(rows) => {
                    for (id, payload) in rows {
                        last = id;
                        hub.publish(&payload);
                    }
                }
                Err(error) => tracing::warn!(%error, "live events: cannot read the queue"),
            }
            ticks = ticks.wrapping_add(1);
            if ticks.is_multiple_of(600) {
                let before = Utc::now() - chrono::Duration::minutes(5);
                if let Err(error) = store::events::prune_queue(&db, before).await {
                    tracing::warn!(%error, "live events: cannot prune the queue");
                }
            }
        }
    }
}
