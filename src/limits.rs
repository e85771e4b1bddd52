//! Limits every request meets before its route (SPEC §9): a time budget
//! (`REQUEST_TIMEOUT_SECONDS`, code `TIMEOUT`, HTTP 503). Refusals take the
//! shape of the route they refuse: GraphQL's `{"errors": [...]}` on
//! `/graphql`, the legacy `{"detail": …}` with `x-error-code` elsewhere.

use std::time::Duration;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::Response;

use crate::config::LimitSettings;
use crate::error::{Code, rest_refusal};
use crate::graphql::handler::refusal as graphql_refusal;

/// Adds the time budget to `router`.
pub fn apply<S>(router: Router<S>, settings: &LimitSettings) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    router.layer(middleware::from_fn_with_state(
        settings.request_timeout,
        time_budget,
    ))
}

/// Answers `TIMEOUT` when the route has not answered within `budget`. The
/// route's work is dropped (a database transaction rolls back; PostgreSQL
/// also cancels the statement itself, see `db::connect_serving`).
async fn time_budget(State(budget): State<Duration>, request: Request, next: Next) -> Response {
    let path = request.uri().path().to_owned();
    match tokio::time::timeout(budget, next.run(request)).await {
        Ok(response) => response,
        Err(_) => {
            tracing::warn!(%path, budget_s = budget.as_secs(), "request timed out");
            refuse(
                &path,
                StatusCode::SERVICE_UNAVAILABLE,
                Code::Timeout,
                format!("the request took longer than {} s", budget.as_secs()),
            )
        }
    }
}

/// A refusal in the shape of the route at `path`.
fn refuse(path: &str, status: StatusCode, code: Code, message: String) -> Response {
    if path == "/graphql" {
        graphql_refusal(status, code, message)
    } else {
        rest_refusal(status, code, message)
    }
}
