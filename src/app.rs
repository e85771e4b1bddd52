//! The HTTP application: shared state, the one route table of the service,
//! binding, serving and graceful shutdown (STYLE principle 5: the app is a
//! function of its settings, and tests start the real one). Handlers take
//! the parts of [`AppState`] they need through axum's `FromRef`.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{FromRef, State};
use axum::http::StatusCode;
use axum::middleware::{from_fn, from_fn_with_state};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use sea_orm::DatabaseConnection;
use serde_json::json;
use tokio::net::TcpListener;

use axum::extract::DefaultBodyLimit;
use axum::middleware;
use futures::FutureExt;
use tower::ServiceBuilder;
use tower_http::compression::CompressionLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

use crate::auth::{self, Gate};
use crate::clock::SharedClock;
use crate::config::Settings;
use crate::db::Reads;
use crate::domain::Permission;
use crate::graphql::{self, AppSchema, handler};
use crate::metrics::{self, Metrics};
use crate::risk::ScoringConfig;
use crate::server::{self, ServeOptions};
use crate::service::Rules;
use crate::service::deliverer::Deliverer;
use crate::service::events::{self, Hub};
use crate::service::stats_cache::StatsCache;
use crate::service::{digest, stats_cache};
use crate::store::maintenance;
use crate::{console, db, http, limits, rest};

/// What every handler can reach.
#[derive(Clone, FromRef)]
pub struct AppState {
    /// The connection pool.
    pub db: DatabaseConnection,
    /// Where lists, analyses, statistics and exports read: the read
    /// replica's pool (`DATABASE_READ_URL`), or `db` without one.
    pub reads: Reads,
    /// The settings the service started with.
    pub settings: Arc<Settings>,
    /// The scoring model in force.
    pub scoring: ScoringConfig,
    /// The scoring model and what a change of level sets off.
    pub rules: Rules,
    /// This process's live events.
    pub hub: Hub,
    /// The GraphQL schema, with its data and limits.
    pub schema: AppSchema,
    /// Snapshots of the statistics, shared by GraphQL and REST.
    pub stats: Arc<StatsCache>,
    /// The current instant.
    pub clock: SharedClock,
    /// Who may come in (SPEC §9).
    pub gate: Gate,
    /// This application's Prometheus metrics.
    pub metrics: Arc<Metrics>,
}

impl FromRef<AppState> for crate::graphql::handler::Services {
    fn from_ref(state: &AppState) -> Self {
        Self {
            reads: state.reads.clone(),
            db: state.db.clone(),
            settings: state.settings.clone(),
            clock: state.clock.clone(),
            metrics: state.metrics.clone(),
        }
    }
}

impl AppState {
    /// The state for `settings` on `db`, reading the instant from `clock`.
    pub fn new(settings: Settings, db: DatabaseConnection, clock: SharedClock) -> Self {
        let reads = Reads(db.clone());
        Self::with_reads(settings, db, reads, clock)
    }

    /// Like [`AppState::new`], reading lists, analyses, statistics and
    /// exports from `reads`.
    pub fn with_reads(
        settings: Settings,
        db: DatabaseConnection,
        reads: Reads,
        clock: SharedClock,
    ) -> Self {
        let scoring = settings.scoring;
        let rules = Rules::new(scoring, settings.alerts.clone());
        let hub = Hub::new();
        let metrics = Arc::new(Metrics::new());
        let stats = Arc::new(StatsCache::observed(
            clock.clone(),
            metrics.snapshots.clone(),
        ));
        let schema = graphql::build_schema(
            db.clone(),
            rules.clone(),
            hub.clone(),
            stats.clone(),
            clock.clone(),
            &settings.operations,
            &metrics,
        );
        let gate = Gate::new(db.clone(), settings.access.clone(), clock.clone());
        Self {
            gate,
            db,
            reads,
            settings: Arc::new(settings),
            scoring,
            rules,
            hub,
            schema,
            stats,
            clock,
            metrics,
        }
    }
}

/// The route table of the whole service: GraphQL and its explorer, the
/// legacy REST routes (SPEC §5), the console's sign-in, the health probes
/// and the metrics, grouped by the permission each needs (SPEC §9). Every
/// request first passes [`auth::admit`] (host, origin, credentials).
pub fn router(state: AppState) -> Router {
    let open = Router::new()
        .route("/", get(rest::health))
        .route("/api/openapi.json", get(rest::openapi::document))
        .merge(explorer_assets(state.settings.operations.explorer))
        .route(
            auth::LOGIN_PATH,
            get(console::login_page).post(console::login),
        )
        .route("/console/logout", post(console::logout))
        .merge(
            Router::new()
                .route("/console/assets/{name}", get(console::assets::serve))
                .layer(CompressionLayer::new()),
        )
        .route("/health/live", get(live))
        .route("/health/ready", get(ready));
    let read = Router::new()
        .route("/api/risky-users", get(rest::risky_users))
        .route(
            "/api/user/{user_id}/risk-analysis",
            get(rest::user_risk_analysis),
        )
        .route("/api/stats", get(rest::stats))
        .route(
            "/api/export/risky-users.csv",
            get(rest::export::risky_users_csv),
        )
        .route(
            "/api/export/risky-users.json",
            get(rest::export::risky_users_json),
        )
        .route_layer(from_fn(|request, next| {
            auth::require(Some(Permission::Read), request, next)
        }));
    let alert = Router::new()
        .route("/api/alert/{user_id}", post(rest::send_alert))
        .route_layer(from_fn(|request, next| {
            auth::require(Some(Permission::Alert), request, next)
        }));
    // Signed in, whatever the role: GraphQL checks each field's permission.
    let signed_in = Router::new()
        .route(
            "/graphql",
            get(handler::graphql_get)
                .post(handler::graphql_post)
                .layer(DefaultBodyLimit::max(graphql::MAX_BODY_BYTES)),
        )
        .merge(explorer_page(state.settings.operations.explorer))
        .route_layer(from_fn(auth::require_page));
    // Read (SPEC §10 subscriptions), checked by the handler itself: an
    // upgrade without credentials may still present a key in its
    // `connection_init`, so it cannot be refused here.
    let live = Router::new().route("/graphql/ws", get(handler::graphql_ws));
    // The console's pages (SPEC §11): read to see them; each action checks
    // its own permission and the form's origin.
    let console = Router::new()
        .route("/console", get(console::overview))
        .route("/console/risky-users", get(console::risky_users))
        .route("/console/users/{user_id}", get(console::user_page))
        .route("/console/users/{user_id}/alert", post(console::send_alert))
        .route("/console/cases", get(console::cases_page))
        .route("/console/cases/{alert_id}", post(console::case_action))
        .route_layer(from_fn(console::gate))
        .layer(CompressionLayer::new());
    let admin = Router::new()
        .route("/metrics", get(metrics::render))
        .route_layer(from_fn(|request, next| {
            auth::require(Some(Permission::Admin), request, next)
        }));
    Router::new()
        .merge(open)
        .merge(read)
        .merge(alert)
        .merge(signed_in)
        .merge(console)
        .merge(live)
        .merge(admin)
        .layer(
            // One layer on each route: axum boxes a route again for every
            // `layer` call, and each middleware clones the route beneath it
            // per request, boxes included. In order, from the first to run:
            // CORS and headers, request ids, the trace span and metrics (after
            // routing: they name the route), the rate limit and time budget,
            // then the gate.
            ServiceBuilder::new()
                .layer(cors(&state.settings.access.cors_origins))
                .layer(middleware::map_response(http::security_headers))
                .layer(middleware::map_request(http::drop_unfit_request_id))
                .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
                .layer(PropagateRequestIdLayer::x_request_id())
                .layer(TraceLayer::new_for_http().make_span_with(http::request_span))
                .layer(from_fn_with_state(state.metrics.clone(), metrics::track))
                .layer(from_fn_with_state(
                    limits::limiter(&state.settings.limits),
                    limits::rate_limit,
                ))
                .layer(from_fn_with_state(
                    state.settings.limits.request_timeout,
                    limits::time_budget,
                ))
                .layer(from_fn_with_state(state.gate.clone(), auth::admit)),
        )
        .with_state(state)
}

/// CORS (SPEC §9): closed (no `Access-Control-Allow-Origin`, so a browser
/// keeps other sites' pages from reading any answer) unless `CORS_ORIGINS`
/// lists origins, whose pages may then call the API with a key. Cookies are
/// never sent cross-site (`SameSite=Strict`), so credentials are not allowed.
fn cors(origins: &[String]) -> tower_http::cors::CorsLayer {
    use axum::http::{HeaderName, HeaderValue, Method, header};
    use tower_http::cors::{AllowOrigin, CorsLayer};
    let origins: Vec<HeaderValue> = origins
        .iter()
        .filter_map(|o| HeaderValue::from_str(o).ok())
        .collect();
    CorsLayer::new()
        .allow_origin(AllowOrigin::list(origins))
        .allow_methods([Method::GET, Method::POST])
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            HeaderName::from_static("x-request-id"),
        ])
        .expose_headers([HeaderName::from_static("x-request-id")])
        .max_age(std::time::Duration::from_secs(600))
}

/// The explorer's page, or nothing when `EXPLORER` is off.
fn explorer_page(enabled: bool) -> Router<AppState> {
    match enabled {
        true => Router::new().route("/graphiql", get(handler::explorer_page)),
        false => Router::new(),
    }
}

/// The explorer's assets (no data in them: open), or none when `EXPLORER`
/// is off.
fn explorer_assets(enabled: bool) -> Router<AppState> {
    match enabled {
        true => Router::new().route("/graphiql/assets/{name}", get(handler::explorer_asset)),
        false => Router::new(),
    }
}

/// The routes of the `METRICS_ADDR` listener: `/metrics` alone, for a
/// scraper on a private network.
pub fn metrics_router(state: AppState) -> Router {
    Router::new()
        .route("/metrics", get(metrics::render))
        .layer(middleware::map_response(http::security_headers))
        .with_state(state)
}

/// Liveness: the process answers. Touches nothing else.
async fn live() -> Json<serde_json::Value> {
    Json(json!({ "status": "ok" }))
}

/// Readiness: the database (and the read replica, when there is one)
/// answers a trivial query.
async fn ready(
    State(db): State<DatabaseConnection>,
    State(Reads(reads)): State<Reads>,
    State(settings): State<Arc<Settings>>,
) -> impl IntoResponse {
    let word = |up: bool| if up { "ok" } else { "unreachable" };
    let database = maintenance::ping(&db).await;
    if let Err(error) = &database {
        tracing::warn!(error = %error, "readiness check: database unreachable");
    }
    let mut body = json!({ "database": word(database.is_ok()) });
    let mut up = database.is_ok();
    // With a read replica, its reads fail while it is down: not ready.
    if settings.database_read.is_some() {
        let replica = maintenance::ping(&reads).await;
        if let Err(error) = &replica {
            tracing::warn!(error = %error, "readiness check: read replica unreachable");
        }
        body["replica"] = json!(word(replica.is_ok()));
        up &= replica.is_ok();
    }
    body["status"] = json!(if up { "ok" } else { "unavailable" });
    let status = if up {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(body))
}

/// A bound, ready-to-serve application.
pub struct Application {
    listener: TcpListener,
    metrics_listener: Option<TcpListener>,
    state: AppState,
}

impl Application {
    /// Connects to the database and binds the listener (port 0 takes any free
    /// port; [`Application::address`] tells which). Does not migrate.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        Self::build_with_clock(settings, SharedClock::system()).await
    }

    /// Like [`Application::build`], reading the instant from `clock`.
    pub async fn build_with_clock(settings: Settings, clock: SharedClock) -> anyhow::Result<Self> {
        let db = db::connect_serving(&settings.database, settings.limits.request_timeout).await?;
        Self::with_db(settings, db, clock).await
    }

    /// Like [`Application::build_with_clock`] with an existing pool (which
    /// should come from [`db::connect_serving`]).
    pub async fn with_db(
        settings: Settings,
        db: DatabaseConnection,
        clock: SharedClock,
    ) -> anyhow::Result<Self> {
        let address = SocketAddr::new(settings.http.host, settings.http.port);
        let listener = TcpListener::bind(address)
            .await
            .map_err(|e| anyhow::anyhow!("cannot listen on {address}: {e}"))?;
        let reads = match &settings.database_read {
            Some(read) => Reads(
                db::connect_serving(read, settings.limits.request_timeout)
                    .await
                    .map_err(|e| anyhow::anyhow!("cannot connect to DATABASE_READ_URL: {e}"))?,
            ),
            None => Reads(db.clone()),
        };
        let metrics_listener =
            match settings.operations.metrics_addr {
                Some(address) => Some(TcpListener::bind(address).await.map_err(|e| {
                    anyhow::anyhow!("cannot listen on {address} (METRICS_ADDR): {e}")
                })?),
                None => None,
            };
        Ok(Self {
            listener,
            metrics_listener,
            state: AppState::with_reads(settings, db, reads, clock),
        })
    }

    /// The address actually bound.
    pub fn address(&self) -> SocketAddr {
        self.listener.local_addr().unwrap_or_else(|_| {
            SocketAddr::new(self.state.settings.http.host, self.state.settings.http.port)
        })
    }

    /// The address of the `METRICS_ADDR` listener, when there is one.
    pub fn metrics_address(&self) -> Option<SocketAddr> {
        self.metrics_listener
            .as_ref()
            .and_then(|listener| listener.local_addr().ok())
    }

    /// The shared state (tests reach the database through it).
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves (and the metrics listener, if any) until `shutdown` completes,
    /// then stops accepting and lets in-flight requests finish within
    /// `SHUTDOWN_GRACE_SECONDS`. Beside the server run the background
    /// workers: the live-event relay and the outbox's deliverer.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let options = ServeOptions::new(self.state.settings.limits.shutdown_grace);
        self.run_until_with(shutdown, options).await
    }

    /// [`Application::run_until`] with other connection limits (tests use
    /// short ones).
    pub async fn run_until_with(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
        options: ServeOptions,
    ) -> std::io::Result<()> {
        let shutdown = shutdown.shared();
        let workers = background(&self.state)
            .map_err(|e| std::io::Error::other(format!("cannot start the deliverer: {e}")))?;
        let main = server::serve(
            self.listener,
            router(self.state.clone()),
            shutdown.clone(),
            options,
        );
        let served = async move {
            match self.metrics_listener {
                None => main.await,
                Some(listener) => {
                    let scrape =
                        server::serve(listener, metrics_router(self.state), shutdown, options);
                    tokio::try_join!(main, scrape).map(|_| ())
                }
            }
        };
        tokio::select! {
            served = served => served,
            () = workers => Err(std::io::Error::other("a background worker stopped")),
        }
    }
}

/// The background workers of a serving process: the relay of live events
/// from the database into this process's hub, the deliverer, the daily
/// digest's scheduler (which returns at once with `DIGEST_TIME=off`) and the
/// fold of the statistics' counters (at once on SQLite). They run
/// until the process stops (an error inside is logged and retried).
fn background(state: &AppState) -> anyhow::Result<impl Future<Output = ()> + use<>> {
    let relay = events::relay(state.db.clone(), state.hub.clone());
    let deliverer = Deliverer::new(
        state.db.clone(),
        state.rules.alerts.clone(),
        state.clock.clone(),
        state.metrics.deliveries.clone(),
    )?;
    let deliver = deliverer.run(state.hub.clone());
    let digest = digest::run_scheduler(state.db.clone(), state.rules.clone(), state.clock.clone());
    let counters = stats_cache::keep_counters(state.db.clone());
    Ok(async move {
        tokio::join!(relay, deliver, digest, counters);
    })
}

/// Resolves on SIGINT (Ctrl-C) or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::error!(%error, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::error!(%error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => tracing::info!("SIGINT received: draining in-flight requests"),
        () = terminate => tracing::info!("SIGTERM received: draining in-flight requests"),
    }
}
