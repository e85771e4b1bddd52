//! The HTTP application: shared state, the one route table of the service,
//! binding, serving and graceful shutdown (STYLE principle 5: the app is a
//! function of its settings, and tests start the real one). Handlers take
//! the parts of [`AppState`] they need through axum's `FromRef`.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{FromRef, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use sea_orm::DatabaseConnection;
use serde_json::json;
use tokio::net::TcpListener;

use axum::extract::DefaultBodyLimit;
use tower_http::trace::TraceLayer;

use crate::clock::SharedClock;
use crate::config::Settings;
use crate::graphql::{self, AppSchema, handler};
use crate::risk::ScoringConfig;
use crate::server::{self, ServeOptions};
use crate::service::stats_cache::StatsCache;
use crate::store::maintenance;
use crate::{db, limits, rest};

/// What every handler can reach.
#[derive(Clone, FromRef)]
pub struct AppState {
    /// The connection pool.
    pub db: DatabaseConnection,
    /// The settings the service started with.
    pub settings: Arc<Settings>,
    /// The scoring model in force.
    pub scoring: ScoringConfig,
    /// The GraphQL schema, with its data and limits.
    pub schema: AppSchema,
    /// Snapshots of the statistics, shared by GraphQL and REST.
    pub stats: Arc<StatsCache>,
    /// The current instant.
    pub clock: SharedClock,
}

impl AppState {
    /// The state for `settings` on `db`, reading the instant from `clock`.
    pub fn new(settings: Settings, db: DatabaseConnection, clock: SharedClock) -> Self {
        let scoring = settings.scoring;
        let stats = Arc::new(StatsCache::new(clock.clone()));
        let schema = graphql::build_schema(db.clone(), scoring, stats.clone(), clock.clone());
        Self {
            db,
            settings: Arc::new(settings),
            scoring,
            schema,
            stats,
            clock,
        }
    }
}

/// The route table of the whole service: GraphQL and its explorer, the
/// legacy REST routes (SPEC §5), and the health probes.
pub fn router(state: AppState) -> Router {
    let routes = Router::new()
        .route(
            "/graphql",
            get(handler::graphql_get)
                .post(handler::graphql_post)
                .layer(DefaultBodyLimit::max(graphql::MAX_BODY_BYTES)),
        )
        .route("/graphiql", get(handler::explorer_page))
        .route("/graphiql/assets/{name}", get(handler::explorer_asset))
        .route("/", get(rest::health))
        .route("/api/risky-users", get(rest::risky_users))
        .route(
            "/api/user/{user_id}/risk-analysis",
            get(rest::user_risk_analysis),
        )
        .route("/api/stats", get(rest::stats))
        .route("/api/alert/{user_id}", post(rest::send_alert))
        .route("/api/openapi.json", get(rest::openapi::document))
        .route("/health/live", get(live))
        .route("/health/ready", get(ready));
    limits::apply(routes, &state.settings.limits)
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

/// Liveness: the process answers. Touches nothing else.
async fn live() -> Json<serde_json::Value> {
    Json(json!({ "status": "ok" }))
}

/// Readiness: the database answers a trivial query.
async fn ready(State(db): State<DatabaseConnection>) -> impl IntoResponse {
    match maintenance::ping(&db).await {
        Ok(_) => (
            StatusCode::OK,
            Json(json!({ "status": "ok", "database": "ok" })),
        ),
        Err(error) => {
            tracing::warn!(error = %error, "readiness check: database unreachable");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({ "status": "unavailable", "database": "unreachable" })),
            )
        }
    }
}

/// A bound, ready-to-serve application.
pub struct Application {
    listener: TcpListener,
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
        Ok(Self {
            listener,
            state: AppState::new(settings, db, clock),
        })
    }

    /// The address actually bound.
    pub fn address(&self) -> SocketAddr {
        self.listener.local_addr().unwrap_or_else(|_| {
            SocketAddr::new(self.state.settings.http.host, self.state.settings.http.port)
        })
    }

    /// The shared state (tests reach the database through it).
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until `shutdown` completes, then stops accepting and lets
    /// in-flight requests finish within `SHUTDOWN_GRACE_SECONDS`.
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
        server::serve(self.listener, router(self.state), shutdown, options).await
    }
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
