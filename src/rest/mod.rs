//! The legacy REST routes (SPEC §5), kept so the Python system's clients work
//! unchanged: same paths, parameters, status codes and JSON. Everything
//! legacy-specific (FastAPI's `{detail}` bodies, 422 on malformed parameters,
//! naive timestamps) is fenced here; the handlers call `service` like the
//! GraphQL resolvers do, so the two front ends cannot drift apart.
//!
//! Where the legacy API was wrong, the shape is kept but not the bug (see
//! "Known quirks" in ARCHITECTURE.md).

pub mod export;
pub mod legacy;
pub mod openapi;
pub mod params;

use std::sync::Arc;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Extension, Json};
use sea_orm::DatabaseConnection;

use crate::clock::SharedClock;
use crate::db::Reads;
use crate::domain::{Caller, RiskyFilter};
use crate::error::{AppError, AppResult};
use crate::http::prefers_html;
use crate::risk::ScoringConfig;
use crate::service::alerts::{self, NewAlert};
use crate::service::audit::{self, Action};
use crate::service::stats_cache::StatsCache;
use crate::service::{Rules, queries};
use legacy::{
    AlertSent, Detail, Health, RiskAnalysis, RiskyUserSummary, Stats, UserRouteErrors,
    ValidationError,
};
use params::{RiskyListParams, UserIdPath};

/// Where a browser asking for `/` is sent.
pub const BROWSER_HOME: &str = "/console";

/// Health check. A browser (an `Accept` that prefers HTML) is sent to the
/// support console instead; API clients get the legacy JSON.
#[utoipa::path(get, path = "/", tag = "legacy",
    responses((status = 200, description = "The service is up", body = Health)))]
pub async fn health(headers: HeaderMap) -> Response {
    // Legacy quirk kept: `/` is the health route for API clients.
    if prefers_html(&headers) {
        return Redirect::to(BROWSER_HOME).into_response();
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
        ("limit" = Option<i64>, Query, minimum = 1, maximum = 10000,
            description = "Most rows returned, 1 to 10000 (default 100)"),
    ),
    responses(
        (status = 200, description = "Highest score first", body = [RiskyUserSummary]),
        (status = 422, description = "A malformed parameter", body = ValidationError),
        (status = 503, description = "The database is unavailable (`x-error-code: DATABASE_UNAVAILABLE`); retry later", body = Detail),
    ))]
pub async fn risky_users(
    State(Reads(db)): State<Reads>,
    RiskyListParams { min_score, limit }: RiskyListParams,
) -> AppResult<Json<Vec<RiskyUserSummary>>> {
    // Legacy quirk kept: the legacy list joined plans, so users without one are left out.
    let filter = RiskyFilter {
        min_score,
        require_plan: true,
        ..RiskyFilter::default()
    };
    let page = queries::risky_users(&db, &filter, limit, None).await?;
    Ok(Json(page.rows.into_iter().map(Into::into).collect()))
}

/// One user's analysis with the legacy risk factors; 404 for an unknown user.
#[utoipa::path(get, path = "/api/user/{user_id}/risk-analysis", tag = "legacy",
    params(UserIdPath),
    responses((status = 200, description = "The analysis", body = RiskAnalysis), UserRouteErrors,
        (status = 503, description = "The database is unavailable (`x-error-code: DATABASE_UNAVAILABLE`); retry later", body = Detail)))]
pub async fn user_risk_analysis(
    State(Reads(db)): State<Reads>,
    State(config): State<ScoringConfig>,
    State(clock): State<SharedClock>,
    UserIdPath(user_id): UserIdPath,
) -> AppResult<Json<RiskAnalysis>> {
    let analysis = queries::user_analysis(&db, &config, user_id, None, clock.now())
        .await?
        .ok_or_else(|| AppError::user_not_found(user_id))?;
    let subscriptions = queries::analysis_subscriptions(&db, &analysis).await?;
    let payments = queries::analysis_payments(&db, &analysis, queries::RECENT_PAYMENTS).await?;
    Ok(Json(RiskAnalysis::new(analysis, subscriptions, payments)))
}

/// Global statistics.
#[utoipa::path(get, path = "/api/stats", tag = "legacy",
    responses((status = 200, description = "The statistics", body = Stats),
        (status = 503, description = "The database is unavailable (`x-error-code: DATABASE_UNAVAILABLE`); retry later", body = Detail)))]
pub async fn stats(
    State(db): State<DatabaseConnection>,
    State(Reads(reads)): State<Reads>,
    State(cache): State<Arc<StatsCache>>,
) -> AppResult<Json<Stats>> {
    Ok(Json(cache.get(&db, &reads, 1).await?.as_ref().into()))
}

/// Raises an alert on the user (recorded in the audit trail); 404 for an
/// unknown user.
#[utoipa::path(post, path = "/api/alert/{user_id}", tag = "legacy",
    params(UserIdPath),
    responses((status = 200, description = "The alert was sent", body = AlertSent), UserRouteErrors,
        (status = 503, description = "The database is unavailable (`x-error-code: DATABASE_UNAVAILABLE`); retry later", body = Detail)))]
pub async fn send_alert(
    State(db): State<DatabaseConnection>,
    State(rules): State<Rules>,
    State(clock): State<SharedClock>,
    Extension(caller): Extension<Caller>,
    UserIdPath(user_id): UserIdPath,
) -> AppResult<Json<AlertSent>> {
    let input = NewAlert {
        user_id,
        note: None,
        idempotency_key: None,
    };
    let now = clock.now();
    let sent = match alerts::send_alert(&db, &rules, input, &caller, now).await {
        Ok(sent) => sent,
        Err(error) => {
            let object = Some(("user", user_id.to_string()));
            audit::record_refusal(
                &db,
                &caller,
                Action::refused("sendAlert", object, &error),
                now,
            )
            .await;
            return Err(error);
        }
    };
    Ok(Json(AlertSent {
        status: "success",
        message: format!("Alert sent for user {user_id}"),
        risk_level: sent.level().as_str().to_owned(),
        risk_score: sent.alert.risk_score,
    }))
}
