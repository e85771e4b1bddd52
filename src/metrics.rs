//! Prometheus metrics (SPEC §9): the instruments the service updates as it
//! works, the values sampled when it is scraped, and `GET /metrics`.
//!
//! Each [`Metrics`] owns its registry (prometheus-client; no global
//! recorder), so several applications in one process, as in the tests, keep
//! separate counts. Every label value is bounded: routes come from axum's
//! `MatchedPath` (the route table, never the raw path), methods from a fixed
//! list, statuses by class, GraphQL operation names are cut to
//! [`MAX_OPERATION_NAME`] characters and at most [`MAX_OPERATION_NAMES`]
//! distinct ones are kept apart. Names start with `risk_monitor_`.
//!
//! The instruments of the payment writer and the statistics cache are theirs
//! ([`WriterMetrics`], [`SnapshotMetrics`]); they are registered here.

use std::collections::HashSet;
use std::sync::Mutex;
use std::sync::atomic::AtomicU64;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Registry, Unit};
use sea_orm::{DatabaseBackend, DatabaseConnection};
use std::sync::Arc;

use crate::clock::SharedClock;
use crate::service::deliverer::DeliveryMetrics;
use crate::service::payment_writer::WriterMetrics;
use crate::service::stats_cache::SnapshotMetrics;
use crate::service::{outbox, scoring};

/// The `Content-Type` of `/metrics`: the OpenMetrics text format, which
/// Prometheus asks for first and parses natively.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Longest GraphQL operation name kept as a label value; longer ones are cut.
pub const MAX_OPERATION_NAME: usize = 64;

/// Most distinct GraphQL operation names counted apart; past them, new names
/// are counted as [`OTHER_OPERATIONS`].
pub const MAX_OPERATION_NAMES: usize = 200;

/// The label of operations sent without a name.
pub const ANONYMOUS: &str = "anonymous";

/// The label of named operations past [`MAX_OPERATION_NAMES`].
pub const OTHER_OPERATIONS: &str = "other";

/// The labels of an HTTP request.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    /// The route's pattern, e.g. `/api/user/{user_id}/risk-analysis`, or
    /// `unmatched`.
    route: String,
    /// The method, or `other`.
    method: &'static str,
    /// `2xx`, `4xx`, …
    status: &'static str,
}

/// The labels of an HTTP request's latency.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    route: String,
    method: &'static str,
}

/// The labels of a GraphQL operation.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OperationLabels {
    /// The operation's name (bounded, see the module's docs).
    operation: String,
    /// `ok`, or the first error's `extensions.code`.
    outcome: String,
}

type FloatGauge = Gauge<f64, AtomicU64>;

fn latency_histogram() -> Histogram {
    // 1 ms to about 16 s.
    Histogram::new(exponential_buckets(0.001, 2.0, 15))
}

/// The database pool, sampled at each scrape.
#[derive(Default)]
struct PoolGauges {
    size: Gauge,
    max_size: Gauge,
    idle: Gauge,
    in_use: Gauge,
}

/// Every instrument of one application, and the registry that exposes them.
pub struct Metrics {
    registry: Registry,
    http_requests: Family<RequestLabels, Counter>,
    http_latency: Family<RouteLabels, Histogram, fn() -> Histogram>,
    graphql_operations: Family<OperationLabels, Counter>,
    operation_names: Mutex<HashSet<String>>,
    pool: PoolGauges,
    refresh_lag: FloatGauge,
    /// The payment writer's batch sizes and queue length.
    pub writer: WriterMetrics,
    /// The ages of the statistics and list-total snapshots served.
    pub snapshots: SnapshotMetrics,
    /// The deliverer's tries and their latency.
    pub deliveries: DeliveryMetrics,
    outbox_pending: Gauge,
    /// Scores the refresher of this process rewrote because their
    /// next-change instant had passed.
    pub refreshed: Counter,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// A registry with every instrument at zero.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("risk_monitor");
        let http_requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP requests by route pattern, method and status class",
            http_requests.clone(),
        );
        let http_latency =
            Family::<RouteLabels, Histogram, fn() -> Histogram>::new_with_constructor(
                latency_histogram,
            );
        registry.register_with_unit(
            "http_request_duration",
            "Time to answer an HTTP request (to the response's head), by route pattern and method",
            Unit::Seconds,
            http_latency.clone(),
        );
        let graphql_operations = Family::<OperationLabels, Counter>::default();
        registry.register(
            "graphql_operations",
            "GraphQL operations by name (\"anonymous\" without one) and outcome (\"ok\" or the \
             first error's code)",
            graphql_operations.clone(),
        );
        let pool = PoolGauges::default();
        registry.register(
            "db_pool_size",
            "Open database connections",
            pool.size.clone(),
        );
        registry.register(
            "db_pool_max_size",
            "Most database connections the pool opens",
            pool.max_size.clone(),
        );
        registry.register(
            "db_pool_idle_connections",
            "Open database connections waiting for work",
            pool.idle.clone(),
        );
        registry.register(
            "db_pool_in_use_connections",
            "Open database connections lent to a query or transaction",
            pool.in_use.clone(),
        );
        let refresh_lag = FloatGauge::default();
        registry.register_with_unit(
            "refresh_lag",
            "How long ago the most overdue score should have been refreshed (0: none is due)",
            Unit::Seconds,
            refresh_lag.clone(),
        );
        let writer = WriterMetrics::default();
        registry.register(
            "payment_batch_size",
            "Payments recorded per transaction by the payment writer",
            writer.batch_sizes.clone(),
        );
        registry.register(
            "payment_queue_length",
            "Payments waiting for the payment writer",
            writer.queue_length.clone(),
        );
        let snapshots = SnapshotMetrics::default();
        registry.register_with_unit(
            "stats_snapshot_age",
            "Age of the statistics snapshot served to each request",
            Unit::Seconds,
            snapshots.stats_age.clone(),
        );
        registry.register_with_unit(
            "list_total_snapshot_age",
            "Age of the risky list's total served to each request",
            Unit::Seconds,
            snapshots.totals_age.clone(),
        );
        let deliveries = DeliveryMetrics::default();
        registry.register(
            "delivery_tries",
            "Delivery tries by outcome: delivered, retry (failed, tried again later) or failed \
             (given up)",
            deliveries.tries.clone(),
        );
        registry.register_with_unit(
            "delivery_try_duration",
            "Time of one delivery try, from sending to the answer or the failure",
            Unit::Seconds,
            deliveries.latency.clone(),
        );
        let outbox_pending = Gauge::default();
        registry.register(
            "outbox_pending",
            "Deliveries waiting to be sent or retried",
            outbox_pending.clone(),
        );
        registry.register(
            "stats_computed",
            "Statistics snapshots this process computed (the others it served came from another \
             process on the database)",
            snapshots.stats_computed.clone(),
        );
        let refreshed = Counter::default();
        registry.register(
            "scores_refreshed",
            "Scores this process's refresher rewrote because time alone changed them",
            refreshed.clone(),
        );
        Self {
            refreshed,
            registry,
            http_requests,
            http_latency,
            graphql_operations,
            operation_names: Mutex::new(HashSet::new()),
            pool,
            refresh_lag,
            writer,
            snapshots,
            deliveries,
            outbox_pending,
        }
    }

    /// Counts one GraphQL operation: `name` as the request or document gave
    /// it, `outcome` `ok` or an error code.
    pub fn graphql_operation(&self, name: Option<&str>, outcome: &str) {
        let operation = self.operation_label(name);
        let outcome = truncate(outcome, MAX_OPERATION_NAME).to_owned();
        self.graphql_operations
            .get_or_create(&OperationLabels { operation, outcome })
            .inc();
    }

    /// The bounded label of an operation name.
    fn operation_label(&self, name: Option<&str>) -> String {
        let Some(name) = name.map(str::trim).filter(|n| !n.is_empty()) else {
            return ANONYMOUS.to_owned();
        };
        let name = truncate(name, MAX_OPERATION_NAME);
        let Ok(mut names) = self.operation_names.lock() else {
            return OTHER_OPERATIONS.to_owned();
        };
        if names.contains(name) {
            return name.to_owned();
        }
        if names.len() >= MAX_OPERATION_NAMES {
            return OTHER_OPERATIONS.to_owned();
        }
        names.insert(name.to_owned());
        name.to_owned()
    }

    /// Counts one HTTP request and its latency.
    fn http_request(&self, route: String, method: &Method, status: StatusCode, seconds: f64) {
        let method = method_label(method);
        self.http_latency
            .get_or_create(&RouteLabels {
                route: route.clone(),
                method,
            })
            .observe(seconds);
        self.http_requests
            .get_or_create(&RequestLabels {
                route,
                method,
                status: status_class(status),
            })
            .inc();
    }

    /// Samples the values that are read rather than counted: the pool and
    /// the refresher's lag.
    async fn sample(&self, db: &DatabaseConnection, clock: &SharedClock) {
        let (size, idle, max) = match db.get_database_backend() {
            DatabaseBackend::Postgres => {
                let pool = db.get_postgres_connection_pool();
                (
                    pool.size(),
                    pool.num_idle(),
                    pool.options().get_max_connections(),
                )
            }
            DatabaseBackend::Sqlite => {
                let pool = db.get_sqlite_connection_pool();
                (
                    pool.size(),
                    pool.num_idle(),
                    pool.options().get_max_connections(),
                )
            }
            _ => (0, 0, 0),
        };
        let idle = i64::try_from(idle).unwrap_or(i64::MAX);
        self.pool.size.set(i64::from(size));
        self.pool.max_size.set(i64::from(max));
        self.pool.idle.set(idle);
        self.pool.in_use.set((i64::from(size) - idle).max(0));
        let now = clock.now();
        match scoring::refresh_lag(db, now).await {
            Ok(lag) => {
                self.refresh_lag.set(lag.as_secs_f64());
            }
            Err(error) => tracing::warn!(%error, "metrics: cannot read the refresher's lag"),
        }
        match outbox::pending(db).await {
            Ok(pending) => {
                self.outbox_pending
                    .set(i64::try_from(pending).unwrap_or(i64::MAX));
            }
            Err(error) => tracing::warn!(%error, "metrics: cannot count the outbox"),
        }
    }

    /// The registry in the OpenMetrics text format.
    fn encode(&self) -> Result<String, std::fmt::Error> {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry)?;
        Ok(text)
    }
}

/// The first `max` characters of `text`.
fn truncate(text: &str, max: usize) -> &str {
    match text.char_indices().nth(max) {
        Some((at, _)) => &text[..at],
        None => text,
    }
}

fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        _ => "other",
    }
}

fn status_class(status: StatusCode) -> &'static str {
    match status.as_u16() {
        100..=199 => "1xx",
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        _ => "5xx",
    }
}

/// Middleware counting every request by route pattern, method and status
/// class, with its latency. Added with `Router::layer`, so axum has set the
/// `MatchedPath` already; a request that matched no route is `unmatched`.
pub async fn track(State(metrics): State<Arc<Metrics>>, request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |path| path.as_str().to_owned());
    let method = request.method().clone();
    let started = Instant::now();
    let response = next.run(request).await;
    metrics.http_request(
        route,
        &method,
        response.status(),
        started.elapsed().as_secs_f64(),
    );
    response
}

/// `GET /metrics`: every metric of this application in the OpenMetrics text
/// format, the sampled ones read now.
pub async fn render(
    State(metrics): State<Arc<Metrics>>,
    State(db): State<DatabaseConnection>,
    State(clock): State<SharedClock>,
) -> Response {
    metrics.sample(&db, &clock).await;
    match metrics.encode() {
        Ok(text) => ([(header::CONTENT_TYPE, CONTENT_TYPE)], text).into_response(),
        Err(error) => {
            tracing::error!(%error, "cannot encode the metrics");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operation_names_are_bounded_in_length_and_number() {
        let metrics = Metrics::new();
        assert_eq!(metrics.operation_label(None), ANONYMOUS);
        assert_eq!(metrics.operation_label(Some("  ")), ANONYMOUS);
        assert_eq!(metrics.operation_label(Some("Risky")), "Risky");
        let long = "x".repeat(500);
        assert_eq!(
            metrics.operation_label(Some(&long)).len(),
            MAX_OPERATION_NAME
        );
        for i in 0..MAX_OPERATION_NAMES * 2 {
            metrics.operation_label(Some(&format!("Op{i}")));
        }
        assert_eq!(
            metrics.operation_label(Some("Risky")),
            "Risky",
            "known names stay"
        );
        assert_eq!(metrics.operation_label(Some("Brand new")), OTHER_OPERATIONS);
    }

    #[test]
    fn statuses_are_counted_by_class_and_methods_from_a_fixed_list() {
        assert_eq!(status_class(StatusCode::OK), "2xx");
        assert_eq!(status_class(StatusCode::PERMANENT_REDIRECT), "3xx");
        assert_eq!(status_class(StatusCode::UNPROCESSABLE_ENTITY), "4xx");
        assert_eq!(status_class(StatusCode::SERVICE_UNAVAILABLE), "5xx");
        assert_eq!(method_label(&Method::POST), "POST");
        let odd = Method::from_bytes(b"BREW").expect("a method");
        assert_eq!(method_label(&odd), "other");
    }

    #[test]
    fn names_carry_the_prefix_and_counters_their_total_suffix() {
        let metrics = Metrics::new();
        metrics.graphql_operation(Some("Stats"), "ok");
        let text = metrics.encode().expect("encode");
        assert!(
            text.contains(
                "risk_monitor_graphql_operations_total{operation=\"Stats\",outcome=\"ok\"} 1"
            ),
            "{text}"
        );
        assert!(
            text.contains("# TYPE risk_monitor_payment_batch_size histogram"),
            "{text}"
        );
        assert!(text.ends_with("# EOF\n"));
    }
}
