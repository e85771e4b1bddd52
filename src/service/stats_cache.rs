//! Statistics and list totals served from short-lived snapshots. A list
//! total counts the matching scores, and the statistics scan the scores and
//! payments on SQLite (PostgreSQL keeps them as counters, below), so each
//! result is kept per key for [`MAX_AGE`]; past that, the next request still gets the snapshot at once
//! and starts one refresh in the background (stale-while-revalidate). A
//! snapshot is therefore at most `MAX_AGE` plus one computation old;
//! `computedAt` tells clients when.
//!
//! A key with no snapshot yet is computed once however many requests wait
//! for it ("single flight"), in a spawned task that stores its own result:
//! a request whose client gives up cancels only its wait, never the
//! computation the next request will be served by. (moka's future cache
//! coalesces loads too, but a load there runs in the first caller's future
//! and dies with it, and it has no stale-while-revalidate.)
//!
//! The statistics are one snapshot whatever the trend's length: it holds the
//! longest trend ([`queries::MAX_TREND_DAYS`] days) and each request is cut
//! from it. Keyed by length, a client naming many lengths (aliases in one
//! request) would start one full computation per length.
//!
//! On PostgreSQL the statistics snapshot is also shared by every service
//! process on the database (`shared_snapshots`, [`load_shared_stats`]): a
//! process whose own copy is stale takes the stored one if it was published
//! less than [`MAX_AGE`] ago; otherwise the one process that claims the
//! lease computes and publishes the next, and the others serve the stored
//! one meanwhile. N processes compute it about once per `MAX_AGE` between
//! them, not N times. Freshness compares each process's clock with the
//! others' timestamps: their clocks must agree (NTP) to well under
//! `MAX_AGE`. A snapshot served is normally at most twice `MAX_AGE` plus
//! one computation old; if the process computing the next one stalls, the
//! others serve the stored one until its lease ([`LEASE`]) runs out.
//!
//! There the figures themselves are counters the writes keep (migration
//! 14), so one computation reads a few hundred rows whatever the data's
//! size; [`keep_counters`] folds them beside the server.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use chrono::{DateTime, SubsecRound, Utc};
use futures::FutureExt;
use futures::future::{BoxFuture, Shared};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::histogram::Histogram;
use sea_orm::{DatabaseConnection, TransactionTrait};

use crate::clock::SharedClock;
use crate::domain::RiskyFilter;
use crate::error::{AppError, AppResult};
use crate::service::queries::{self, SystemStats, TrendDays};
use crate::store::{self, maintenance, risk_scores, snapshots};

/// How long a snapshot is served before a refresh starts.
pub const MAX_AGE: Duration = Duration::from_secs(5);

/// Most snapshots kept per kind: keys are client-chosen, so the map is
/// bounded (past it, every snapshot is dropped and recomputed on demand).
const MAX_ENTRIES: usize = 1_000;

type Flight<V> = Shared<BoxFuture<'static, Result<V, Arc<AppError>>>>;

struct Entry<V> {
    value: V,
    at: DateTime<Utc>,
    refreshing: bool,
}

/// What the snapshots report for `/metrics` (registered by
/// [`crate::metrics`]): the age, in seconds, of each snapshot served, and
/// how many statistics snapshots this process computed.
#[derive(Clone, Debug)]
pub struct SnapshotMetrics {
    /// Of the statistics.
    pub stats_age: Histogram,
    /// Of the risky list's totals.
    pub totals_age: Histogram,
    /// Statistics snapshots computed by this process (the others it served
    /// were computed by another process on the database).
    pub stats_computed: Counter,
}

impl Default for SnapshotMetrics {
    fn default() -> Self {
        let ages = || Histogram::new([0.5, 1.0, 2.5, 5.0, 7.5, 10.0, 30.0, 60.0, 300.0]);
        Self {
            stats_age: ages(),
            totals_age: ages(),
            stats_computed: Counter::default(),
        }
    }
}

/// Snapshots of one kind of result, by key, aged by `clock`.
pub struct Snapshots<K, V> {
    clock: SharedClock,
    entries: Mutex<HashMap<K, Entry<V>>>,
    flights: Mutex<HashMap<K, Flight<V>>>,
    served_age: Option<Histogram>,
}

impl<K, V> Snapshots<K, V> {
    /// No snapshot yet.
    pub fn new(clock: SharedClock) -> Self {
        Self {
            clock,
            entries: Mutex::new(HashMap::new()),
            flights: Mutex::new(HashMap::new()),
            served_age: None,
        }
    }

    /// No snapshot yet; the age of each one served is observed in `ages`.
    pub fn observed(clock: SharedClock, ages: Histogram) -> Self {
        Self {
            served_age: Some(ages),
            ..Self::new(clock)
        }
    }

    fn served(&self, age: chrono::TimeDelta) {
        if let Some(histogram) = &self.served_age {
            histogram.observe(age.to_std().map_or(0.0, |age| age.as_secs_f64()));
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> AppResult<MutexGuard<'_, T>> {
    mutex
        .lock()
        .map_err(|_| AppError::bug("a snapshot cache's lock was poisoned"))
}

impl<K, V> Snapshots<K, V>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    /// The snapshot of `key`: a fresh enough one, a stale one while `load`
    /// refreshes it in the background, or `load`'s result when there is none.
    pub async fn get(
        self: &Arc<Self>,
        key: K,
        load: impl FnOnce() -> BoxFuture<'static, AppResult<V>>,
    ) -> AppResult<V> {
        let now = self.clock.now();
        let cached = {
            let mut entries = lock(&self.entries)?;
            entries.get_mut(&key).map(|entry| {
                let age = (now - entry.at).to_std().unwrap_or_default();
                let stale = age >= MAX_AGE && !entry.refreshing;
                entry.refreshing |= stale;
                (entry.value.clone(), stale, now - entry.at)
            })
        };
        if let Some((value, stale, age)) = cached {
            self.served(age);
            if stale {
                self.refresh(key, load());
            }
            return Ok(value);
        }
        let flight = {
            let mut flights = lock(&self.flights)?;
            flights
                .entry(key.clone())
                .or_insert_with(|| self.start(key, load()))
                .clone()
        };
        let value = flight.await.map_err(|error| error.replicate())?;
        self.served(chrono::TimeDelta::zero());
        Ok(value)
    }

    /// Computes `key` in a task of its own, which stores the result and then
    /// leaves the map of flights (so a failure is retried by the next request).
    fn start(self: &Arc<Self>, key: K, load: BoxFuture<'static, AppResult<V>>) -> Flight<V> {
        let this = Arc::clone(self);
        let task = tokio::spawn(async move {
            let result = load.await;
            if let Ok(value) = &result {
                this.store(key.clone(), value.clone());
            }
            if let Ok(mut flights) = this.flights.lock() {
                flights.remove(&key);
            }
            result
        });
        async move {
            match task.await {
                Ok(result) => result.map_err(Arc::new),
                Err(join) => Err(Arc::new(AppError::bug(format!(
                    "a snapshot computation failed: {join}"
                )))),
            }
        }
        .boxed()
        .shared()
    }

    /// Replaces `key`'s snapshot with `load`'s result, in the background.
    fn refresh(self: &Arc<Self>, key: K, load: BoxFuture<'static, AppResult<V>>) {
        let this = Arc::clone(self);
        tokio::spawn(async move {
            match load.await {
                Ok(value) => this.store(key, value),
                Err(error) => {
                    tracing::warn!(%error, "snapshot refresh failed; serving the previous one");
                    if let Ok(mut entries) = this.entries.lock()
                        && let Some(entry) = entries.get_mut(&key)
                    {
                        entry.refreshing = false;
                    }
                }
            }
        });
    }

    fn store(&self, key: K, value: V) {
        if let Ok(mut entries) = self.entries.lock() {
            if entries.len() >= MAX_ENTRIES && !entries.contains_key(&key) {
                entries.clear();
            }
            let entry = Entry {
                value,
                at: self.clock.now(),
                refreshing: false,
            };
            entries.insert(key, entry);
        }
    }
}

/// The statistics (one snapshot, with the longest trend) and the risky
/// list's totals by filter.
pub struct StatsCache {
    clock: SharedClock,
    stats: Arc<Snapshots<(), Arc<SystemStats>>>,
    totals: Arc<Snapshots<RiskyFilter, u64>>,
    /// Statistics snapshots this process computed.
    computed: Counter,
}

impl Default for StatsCache {
    fn default() -> Self {
        Self::new(SharedClock::system())
    }
}

impl StatsCache {
    /// Empty snapshots, computed and aged by `clock`.
    pub fn new(clock: SharedClock) -> Self {
        Self::observed(clock, SnapshotMetrics::default())
    }

    /// Like [`StatsCache::new`], reporting the ages served to `metrics`.
    pub fn observed(clock: SharedClock, metrics: SnapshotMetrics) -> Self {
        Self {
            stats: Arc::new(Snapshots::observed(clock.clone(), metrics.stats_age)),
            totals: Arc::new(Snapshots::observed(clock.clone(), metrics.totals_age)),
            computed: metrics.stats_computed,
            clock,
        }
    }

    /// The statistics with a `trend_days` trend (1 to
    /// [`queries::MAX_TREND_DAYS`]): the last `trend_days` days of the
    /// snapshot's trend.
    ///
    /// The shared snapshot is read and published on `db` (the primary);
    /// a new one is computed on `reads` (a read replica, or `db`).
    pub async fn get(
        &self,
        db: &DatabaseConnection,
        reads: &DatabaseConnection,
        trend_days: i64,
    ) -> AppResult<Arc<SystemStats>> {
        let trend = TrendDays::parse(trend_days)?;
        let (db, reads, clock) = (db.clone(), reads.clone(), self.clock.clone());
        let computed = self.computed.clone();
        let full = self
            .stats
            .get((), move || {
                async move {
                    let stats = load_shared_stats(&db, &reads, &clock, &computed).await?;
                    Ok(Arc::new(stats))
                }
                .boxed()
            })
            .await?;
        Ok(Arc::new(full.with_trend(trend)))
    }

    /// How many rows the risky list has under `filter`.
    pub async fn total(&self, db: &DatabaseConnection, filter: &RiskyFilter) -> AppResult<u64> {
        let (db, key) = (db.clone(), filter.clone());
        let filter = filter.clone();
        self.totals
            .get(key, move || {
                async move { Ok(risk_scores::risky_count(&db, &filter).await?) }.boxed()
            })
            .await
    }
}

/// The name of the statistics in `shared_snapshots`.
const SHARED_STATS: &str = "stats";

/// How long a process may take to compute the statistics before another
/// may take over (a process that dies while computing holds no lease
/// longer than this).
const LEASE: Duration = Duration::from_secs(120);

/// How long one computation of the statistics may run on the database: as
/// long as its lease. It runs in the background (a client that gives up
/// does not stop it), so a request's budget (`REQUEST_TIMEOUT_SECONDS`,
/// the serving pool's statement timeout) does not bound it: at ten million
/// users the statistics take longer than that.
const COMPUTE_BUDGET: Duration = LEASE;

/// The statistics computed on `reads`, in one transaction whose statements
/// may take [`COMPUTE_BUDGET`].
async fn compute(
    reads: &DatabaseConnection,
    longest: TrendDays,
    now: chrono::DateTime<chrono::Utc>,
) -> AppResult<SystemStats> {
    let txn = reads.begin().await?;
    maintenance::long_statements(&txn, COMPUTE_BUDGET).await?;
    let stats = queries::stats(&txn, longest, now).await?;
    txn.commit().await?;
    Ok(stats)
}

/// How often a process waiting for the first snapshot looks for it.
const POLL: Duration = Duration::from_millis(100);

/// The statistics snapshot shared by every process on `db`, computed on
/// `reads`: the stored one when it was published less than [`MAX_AGE`]
/// ago; otherwise computed here and published if this process claims the
/// lease, or the stored one, older, while another process computes the
/// next. With none stored yet, waits for the process computing it, up to
/// [`LEASE`], then computes its own. SQLite serves one process: it
/// computes its own, without writing in a read.
async fn load_shared_stats(
    db: &DatabaseConnection,
    reads: &DatabaseConnection,
    clock: &SharedClock,
    computed: &Counter,
) -> AppResult<SystemStats> {
    let longest = TrendDays::parse(queries::MAX_TREND_DAYS)?;
    if !crate::db::is_postgres(db) {
        let stats = compute(reads, longest, clock.now()).await?;
        computed.inc();
        return Ok(stats);
    }
    let max_age = chrono::TimeDelta::from_std(MAX_AGE).unwrap_or_default();
    let lease = chrono::TimeDelta::from_std(LEASE).unwrap_or_default();
    let waiting_since = std::time::Instant::now();
    loop {
        let now = clock.now();
        let stored = snapshots::read(db, SHARED_STATS).await?;
        // A snapshot this binary cannot read (another version's) counts as
        // none: the next one published replaces it.
        let stored = stored.and_then(|stored| Some((decode(&stored)?, stored.published_at)));
        if let Some((stats, published_at)) = &stored
            && now - *published_at < max_age
        {
            return Ok(stats.clone());
        }
        // The lease's end is also its token: stored to the microsecond.
        let lease_until = (now + lease).trunc_subsecs(6);
        if snapshots::claim(db, SHARED_STATS, now, lease_until, now - max_age).await? {
            let stats = match compute(reads, longest, clock.now()).await {
                Ok(stats) => stats,
                Err(error) => {
                    if let Err(release) = snapshots::release(db, SHARED_STATS, lease_until).await {
                        tracing::warn!(%release, "the statistics lease was not released");
                    }
                    return Err(error);
                }
            };
            computed.inc();
            // Published when the computation ends: a snapshot that took
            // seconds to compute is still fresh for MAX_AGE after.
            let published = match serde_json::to_string(&stats) {
                Ok(body) => {
                    snapshots::publish(db, SHARED_STATS, &body, clock.now(), lease_until).await
                }
                Err(error) => Err(sea_orm::DbErr::Custom(error.to_string())),
            };
            match published {
                Ok(true) => {}
                Ok(false) => tracing::warn!("the statistics lease ran out before publishing"),
                Err(error) => tracing::warn!(%error, "the statistics snapshot was not published"),
            }
            return Ok(stats);
        }
        // Another process is computing the next snapshot.
        if let Some((stats, _)) = stored {
            return Ok(stats);
        }
        if waiting_since.elapsed() >= LEASE {
            let stats = compute(reads, longest, clock.now()).await?;
            computed.inc();
            return Ok(stats);
        }
        tokio::time::sleep(POLL).await;
    }
}

/// How often [`keep_counters`] folds the statistics' counters.
pub const FOLD_INTERVAL: Duration = Duration::from_secs(10);

/// Folds the statistics' counters the writes keep on PostgreSQL (migration
/// 14) into their totals and reclaims the space of the deltas, so that
/// reading them adds up at most [`FOLD_INTERVAL`]'s worth of writes. Errors
/// are logged: the counters stay exact without a fold, only slower to read.
/// Nothing to do on SQLite.
pub async fn fold_counters(db: &DatabaseConnection) {
    if !crate::db::is_postgres(db) {
        return;
    }
    if let Err(error) = store::stats::fold(db).await {
        tracing::warn!(%error, "the statistics' counters were not folded");
        return;
    }
    if let Err(error) = store::stats::vacuum_counters(db).await {
        tracing::warn!(%error, "the statistics' folded deltas were not vacuumed");
    }
}

/// Runs forever beside the server on PostgreSQL: folds the statistics'
/// counters every [`FOLD_INTERVAL`], so that their deltas stay few. Safe in
/// every process at once (one fold runs at a time, a delta is folded once).
/// Returns at once on SQLite.
pub async fn keep_counters(db: DatabaseConnection) {
    if !crate::db::is_postgres(&db) {
        return;
    }
    let mut ticker = tokio::time::interval(FOLD_INTERVAL);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        fold_counters(&db).await;
    }
}

fn decode(stored: &snapshots::Stored) -> Option<SystemStats> {
    serde_json::from_str(&stored.body)
        .inspect_err(|error| tracing::warn!(%error, "a stored statistics snapshot is unreadable"))
        .ok()
}
