//! The legacy REST routes (SPEC §5), kept so the Python system's clients work
//! unchanged: same paths, parameters, status codes and JSON. Everything
//! legacy-specific (FastAPI's `{detail}` bodies, 422 on malformed parameters,
//! naive timestamps) is fenced here; the handlers call `service` like the
//! GraphQL resolvers do, so the two front ends cannot drift apart.
//!
//! Where the legacy API was wrong, the shape is kept but not the bug (see
//! "Known quirks" in ARCHITECTURE.md).

pub mod legacy;
pub mod openapi;
pub mod params;

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::Utc;
use sea_orm::DatabaseConnection;

use crate::app::AppState;
use crate::error::AppError;
use crate::risk::ScoringConfig;
use crate::service::stats_cache::StatsCache;
use crate::service::{alerts, queries};
use crate::store::risk_scores::RiskyFilter;
use legacy::{AlertSent, Detail, Health, RiskAnalysis, RiskyUserSummary, Stats, ValidationError};

/// The legacy routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(health))
        .route("/api/risky-users", get(risky_users))
        .route("/api/user/{user_id}/risk-analysis", get(user_risk_analysis))
        .route("/api/stats", get(stats))
        .route("/api/alert/{user_id}", post(send_alert))
        .route("/api/openapi.json", get(openapi::document))
}

/// The REST side of the error mapping: the legacy status and `{"detail": …}`.
impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        match &self {
            AppError::Internal(cause) => {
                tracing::error!(error = format!("{cause:#}"), "internal error")
            }
            AppError::DatabaseUnavailable(cause) => {
                tracing::error!(error = %cause, "database unavailable")
            }
            _ => {}
        }
        let status = match &self {
            AppError::NotFound(_) => StatusCode::NOT_FOUND,
            AppError::BadUserInput { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            AppError::Unauthenticated => StatusCode::UNAUTHORIZED,
            AppError::Forbidden => StatusCode::FORBIDDEN,
            AppError::DatabaseUnavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            AppError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        let mut response = (
            status,
            Json(Detail {
                detail: self.to_string(),
            }),
        )
            .into_response();
        response.headers_mut().insert(
            "x-error-code",
            axum::http::HeaderValue::from_static(self.code()),
        );
        response
    }
}

/// Health check. A browser (an `Accept` that prefers HTML) is sent to the
/// GraphiQL explorer instead; API clients get the legacy JSON.
#[utoipa::path(get, path = "/", tag = "legacy",
    responses((status = 200, description = "The service is up", body = Health)))]
pub async fn health(headers: HeaderMap) -> Response {
    // Legacy quirk kept: `/` is the health route for API clients.
    if crate::graphql::handler::prefers_html(&headers) {
        return Redirect::to("/graphiql").into_response();
    }
    Json(Health {
        status: "healthy",
        message: "Risk Monitor API is running",
        version: env!("CARGO_PKG_VERSION"),
    })
    .into_response()
}

/// Active users at or above `min_risk_score` with a plan, highest score
/// first (ties by id), at most `limit`.
#[utoipa::path(get, path = "/api/risky-users", tag = "legacy",
    params(
        ("min_risk_score" = Option<f64>, Query, description = "Lowest score listed (default 0.4)"),
        ("limit" = Option<i64>, Query, description = "Most rows returned, 1 to 10000 (default 100)"),
    ),
    responses(
        (status = 200, description = "Highest score first", body = [RiskyUserSummary]),
        (status = 422, description = "A malformed parameter", body = ValidationError),
    ))]
pub async fn risky_users(
    State(db): State<DatabaseConnection>,
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Result<Json<Vec<RiskyUserSummary>>, Response> {
    let query = query.map(|Query(q)| q).unwrap_or_default();
    let (min_score, limit) = params::risky_list(&query).map_err(IntoResponse::into_response)?;
    // Legacy quirk kept: the legacy list joined plans, so users without one are left out.
    let filter = RiskyFilter {
        min_score,
        require_plan: true,
        ..RiskyFilter::default()
    };
    let page = queries::risky_users(&db, &filter, limit, None)
        .await
        .map_err(IntoResponse::into_response)?;
    Ok(Json(page.rows.into_iter().map(Into::into).collect()))
}

/// One user's analysis with the legacy risk factors; 404 for an unknown user.
#[utoipa::path(get, path = "/api/user/{user_id}/risk-analysis", tag = "legacy",
    params(("user_id" = i64, Path, description = "The user's id")),
    responses(
        (status = 200, description = "The analysis", body = RiskAnalysis),
        (status = 404, description = "No such user", body = Detail),
        (status = 422, description = "A malformed id", body = ValidationError),
    ))]
pub async fn user_risk_analysis(
    State(db): State<DatabaseConnection>,
    State(config): State<ScoringConfig>,
    Path(raw_id): Path<String>,
) -> Result<Json<RiskAnalysis>, Response> {
    let user_id = params::user_id(&raw_id).map_err(IntoResponse::into_response)?;
    let analysis = queries::user_analysis(&db, &config, user_id, None, Utc::now())
        .await
        .map_err(IntoResponse::into_response)?
        .ok_or_else(|| AppError::NotFound(format!("User {user_id} not found")).into_response())?;
    let subscriptions = queries::analysis_subscriptions(&db, &analysis)
        .await
        .map_err(IntoResponse::into_response)?;
    let payments = queries::analysis_payments(&db, &analysis, 10)
        .await
        .map_err(IntoResponse::into_response)?;
    Ok(Json(RiskAnalysis::new(analysis, subscriptions, payments)))
}

/// Global statistics.
#[utoipa::path(get, path = "/api/stats", tag = "legacy",
    responses((status = 200, description = "The statistics", body = Stats)))]
pub async fn stats(
    State(db): State<DatabaseConnection>,
    State(cache): State<Arc<StatsCache>>,
) -> Result<Json<Stats>, AppError> {
    Ok(Json(cache.get(&db, 1).await?.as_ref().into()))
}

/// Raises an alert on the user (recorded in the audit trail); 404 for an
/// unknown user.
#[utoipa::path(post, path = "/api/alert/{user_id}", tag = "legacy",
    params(("user_id" = i64, Path, description = "The user's id")),
    responses(
        (status = 200, description = "The alert was sent", body = AlertSent),
        (status = 404, description = "No such user", body = Detail),
        (status = 422, description = "A malformed id", body = ValidationError),
    ))]
pub async fn send_alert(
    State(db): State<DatabaseConnection>,
    State(config): State<ScoringConfig>,
    Path(raw_id): Path<String>,
) -> Result<Json<AlertSent>, Response> {
    let user_id = params::user_id(&raw_id).map_err(IntoResponse::into_response)?;
    let sent = alerts::send_alert(&db, &config, user_id, None, None, Utc::now())
        .await
        .map_err(IntoResponse::into_response)?;
    Ok(Json(AlertSent {
        status: "success",
        message: format!("Alert sent for user {user_id}"),
        risk_level: sent.alert.risk_level,
        risk_score: sent.alert.risk_score,
    }))
}
