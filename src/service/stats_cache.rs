//! Statistics and list totals served from a short-lived cache (issue #5:
//! `stats` under 50 ms at a million users; a list's `totalCount` counts up
//! to every user). Computing them scans the scores and payments, so a
//! snapshot per `trendDays` (per filter, for totals) is kept for
//! [`MAX_AGE`]; past that, the next request still gets the snapshot at once
//! and starts one refresh in the background (stale-while-revalidate). A
//! snapshot is therefore at most `MAX_AGE` plus one computation old;
//! `computedAt` tells clients when.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::Utc;
use futures::FutureExt;
use futures::future::{BoxFuture, Shared};
use sea_orm::DatabaseConnection;

use crate::error::{AppError, AppResult};
use crate::service::queries::{self, MAX_TREND_DAYS, SystemStats};
use crate::store::risk_scores::{self, RiskyFilter};

/// Most list totals kept at once.
const MAX_TOTALS: usize = 1_000;

/// How long a snapshot is served before a refresh starts.
pub const MAX_AGE: Duration = Duration::from_secs(5);

struct Entry {
    stats: Arc<SystemStats>,
    at: Instant,
    refreshing: bool,
}

/// Snapshots of the statistics, one per trend length, and of list totals,
/// one per filter.
#[derive(Default)]
pub struct StatsCache {
    entries: Mutex<HashMap<i64, Entry>>,
    totals: Mutex<HashMap<String, (u64, Instant, bool)>>,
    /// Cold computations under way, shared by every request that misses.
    stats_flights: Flights<i64, Arc<SystemStats>>,
    total_flights: Flights<String, u64>,
}

type Flight<V> = Shared<BoxFuture<'static, Result<V, Arc<AppError>>>>;

/// Computations in flight by key ("single flight"): the first request that
/// misses starts one in a spawned task, which stores its result in the
/// cache; later ones wait for the same. A request cancelled by its client
/// cancels only its wait: under load with a cold cache and clients that time
/// out (wrk at 2 s), each cancelled request used to cancel its own
/// computation, and the statistics were never computed at all.
struct Flights<K, V> {
    pending: Mutex<HashMap<K, Flight<V>>>,
}

impl<K, V> Default for Flights<K, V> {
    fn default() -> Self {
        Self {
            pending: Mutex::new(HashMap::new()),
        }
    }
}

impl<K, V> Flights<K, V>
where
    K: std::hash::Hash + Eq + Clone,
    V: Clone + Send + Sync + 'static,
{
    async fn run(
        &self,
        key: K,
        compute: impl FnOnce() -> BoxFuture<'static, AppResult<V>>,
    ) -> AppResult<V> {
        let flight = {
            let mut pending = self
                .pending
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            pending
                .entry(key.clone())
                .or_insert_with(|| {
                    let task = tokio::spawn(compute());
                    async move {
                        match task.await {
                            Ok(result) => result.map_err(Arc::new),
                            Err(join) => Err(Arc::new(AppError::Internal(anyhow::anyhow!(
                                "statistics computation failed: {join}"
                            )))),
                        }
                    }
                    .boxed()
                    .shared()
                })
                .clone()
        };
        let result = flight.await;
        self.pending
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(&key);
        result.map_err(|error| error.replicate())
    }
}

impl StatsCache {
    /// The statistics with a `trend_days` trend: a fresh enough snapshot, or
    /// a computation when there is none yet.
    pub async fn get(
        self: &Arc<Self>,
        db: &DatabaseConnection,
        trend_days: i64,
    ) -> AppResult<Arc<SystemStats>> {
        if !(1..=MAX_TREND_DAYS).contains(&trend_days) {
            return Err(AppError::bad_input(
                "trendDays",
                format!("must be between 1 and {MAX_TREND_DAYS}"),
            ));
        }
        if let Some(stats) = self.cached(db, trend_days) {
            return Ok(stats);
        }
        let (cache, db) = (Arc::clone(self), db.clone());
        self.stats_flights
            .run(trend_days, move || {
                async move {
                    let stats = Arc::new(queries::stats(&db, trend_days, Utc::now()).await?);
                    cache.store(trend_days, stats.clone());
                    Ok(stats)
                }
                .boxed()
            })
            .await
    }

    /// The snapshot if any; starts a background refresh when it is stale.
    fn cached(
        self: &Arc<Self>,
        db: &DatabaseConnection,
        trend_days: i64,
    ) -> Option<Arc<SystemStats>> {
        let mut entries = self
            .entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let entry = entries.get_mut(&trend_days)?;
        if entry.at.elapsed() >= MAX_AGE && !entry.refreshing {
            entry.refreshing = true;
            let (cache, db) = (Arc::clone(self), db.clone());
            tokio::spawn(async move {
                match queries::stats(&db, trend_days, Utc::now()).await {
                    Ok(stats) => cache.store(trend_days, Arc::new(stats)),
                    Err(error) => {
                        tracing::warn!(%error, "statistics refresh failed; serving the previous snapshot");
                        cache.release(trend_days);
                    }
                }
            });
        }
        Some(entry.stats.clone())
    }

    /// The number of rows the risky list has under `filter`.
    pub async fn total(
        self: &Arc<Self>,
        db: &DatabaseConnection,
        filter: &RiskyFilter,
    ) -> AppResult<u64> {
        let key = format!("{filter:?}");
        {
            let mut totals = self
                .totals
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if let Some((total, at, refreshing)) = totals.get_mut(&key) {
                if at.elapsed() >= MAX_AGE && !*refreshing {
                    *refreshing = true;
                    let (cache, db, filter, key) =
                        (Arc::clone(self), db.clone(), filter.clone(), key.clone());
                    tokio::spawn(async move {
                        let fresh = risk_scores::risky_count(&db, &filter).await;
                        let mut totals = cache
                            .totals
                            .lock()
                            .unwrap_or_else(std::sync::PoisonError::into_inner);
                        match fresh {
                            Ok(n) => {
                                totals.insert(key, (n, Instant::now(), false));
                            }
                            Err(error) => {
                                tracing::warn!(%error, "list total refresh failed; serving the previous one");
                                if let Some(entry) = totals.get_mut(&key) {
                                    entry.2 = false;
                                }
                            }
                        }
                    });
                }
                return Ok(*total);
            }
        }
        let (cache, db, filter) = (Arc::clone(self), db.clone(), filter.clone());
        self.total_flights
            .run(key.clone(), move || {
                async move {
                    let total = risk_scores::risky_count(&db, &filter).await?;
                    let mut totals = cache
                        .totals
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner);
                    if totals.len() >= MAX_TOTALS {
                        totals.clear(); // filters are client-chosen: keep the map bounded
                    }
                    totals.insert(key, (total, Instant::now(), false));
                    Ok(total)
                }
                .boxed()
            })
            .await
    }

    fn store(&self, trend_days: i64, stats: Arc<SystemStats>) {
        let mut entries = self
            .entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        entries.insert(
            trend_days,
            Entry {
                stats,
                at: Instant::now(),
                refreshing: false,
            },
        );
    }

    fn release(&self, trend_days: i64) {
        let mut entries = self
            .entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(entry) = entries.get_mut(&trend_days) {
            entry.refreshing = false;
        }
    }
}
