//! `GET /api/export/risky-users.csv` and `.json` (SPEC §12): the whole
//! filtered list, streamed (see [`crate::service::export`]).

use axum::body::Body;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use sea_orm::DatabaseConnection;
use serde::Serialize;
use utoipa::ToSchema;

use super::legacy::{Detail, ValidationError};
use super::params::ExportParams;
use crate::db::Reads;
use crate::service::export::{self, Format};

/// The exports' query string, as the OpenAPI document describes it (parsed
/// by [`ExportParams`]).
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[expect(
    dead_code,
    reason = "documents the parameters; ExportParams parses them"
)]
pub struct ExportQuery {
    /// Lowest score, 0 to 1 (default 0.4).
    #[param(minimum = 0, maximum = 1)]
    min_score: Option<f64>,
    /// Only this level.
    #[param(inline)]
    level: Option<LevelName>,
    /// Only users with this pattern.
    #[param(inline)]
    pattern: Option<PatternName>,
    /// The current plan's type (case-insensitive).
    #[param(max_length = 50, pattern = "^[^\\x00]*$")]
    plan: Option<String>,
    /// A substring of the name or email (case-insensitive).
    #[param(max_length = 200, pattern = "^[^\\x00]*$")]
    q: Option<String>,
}

/// A level as the query string spells it (any case).
#[derive(ToSchema)]
#[schema(rename_all = "lowercase")]
pub enum LevelName {
    /// Low.
    Low,
    /// Medium.
    Medium,
    /// High.
    High,
    /// Critical.
    Critical,
}

/// A pattern as the query string spells it (any case).
#[derive(ToSchema)]
#[schema(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum PatternName {
    /// More than 40% of the last 3 payments failed.
    RecentFailures,
    /// Paid once, then declined.
    PayOnceThenDecline,
    /// Early payments succeeded, the newest failed.
    EarlySuccessRecentFailures,
    /// A cheaper plan than before.
    Downgrade,
    /// A dearer plan than before.
    Upgrade,
    /// The newest amount is 3.00 or less.
    LowCostPlan,
    /// Under 30 days old.
    NewAccount,
    /// The two newest payments failed.
    ConsecutiveFailures,
}

/// One row of the JSON export (the CSV has the same columns, in this order;
/// its `patterns` are joined with `;`).
#[derive(Serialize, ToSchema)]
pub struct ExportRow {
    /// User id.
    pub id: i64,
    /// Name.
    pub name: String,
    /// Email.
    pub email: String,
    /// Score in [0, 1].
    pub risk_score: f64,
    /// `low`, `medium`, `high` or `critical`.
    pub risk_level: String,
    /// The detected patterns, e.g. `RECENT_FAILURES`.
    pub patterns: Vec<String>,
    /// Failed / all payments.
    pub failure_rate: f64,
    /// Failed or declined payments.
    pub failed_payments: i32,
    /// Every payment.
    pub total_payments: i32,
    /// The current plan's type.
    pub subscription_type: Option<String>,
    /// The current plan's monthly price.
    pub monthly_amount: Option<f64>,
    /// Account opening, RFC 3339 (UTC).
    pub created_at: String,
}

fn streamed(db: DatabaseConnection, params: ExportParams, format: Format) -> Response {
    let body = Body::from_stream(export::risky_users(db, params.0, format));
    (
        [
            (header::CONTENT_TYPE, format.content_type().to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{}\"", format.file_name()),
            ),
            (header::CACHE_CONTROL, "no-store".to_owned()),
        ],
        body,
    )
        .into_response()
}

/// The risky list as CSV (RFC 4180, UTF-8, CRLF), every row of the filter
/// in score order, streamed. Cells a spreadsheet would read as a formula
/// start with `'`.
#[utoipa::path(get, path = "/api/export/risky-users.csv", tag = "export",
    params(ExportQuery),
    responses(
        (status = 200, description = "id,name,email,risk_score,risk_level,patterns,failure_rate,failed_payments,total_payments,subscription_type,monthly_amount,created_at", content_type = "text/csv", body = String),
        (status = 422, description = "A malformed parameter", body = ValidationError),
        (status = 503, description = "The database is unavailable (`x-error-code: DATABASE_UNAVAILABLE`); retry later", body = Detail),
    ))]
pub async fn risky_users_csv(State(Reads(db)): State<Reads>, params: ExportParams) -> Response {
    streamed(db, params, Format::Csv)
}

/// The risky list as one JSON array, every row of the filter in score
/// order, streamed.
#[utoipa::path(get, path = "/api/export/risky-users.json", tag = "export",
    params(ExportQuery),
    responses(
        (status = 200, description = "Highest score first", body = [ExportRow]),
        (status = 422, description = "A malformed parameter", body = ValidationError),
        (status = 503, description = "The database is unavailable (`x-error-code: DATABASE_UNAVAILABLE`); retry later", body = Detail),
    ))]
pub async fn risky_users_json(State(Reads(db)): State<Reads>, params: ExportParams) -> Response {
    streamed(db, params, Format::Json)
}
