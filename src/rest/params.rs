//! Legacy parameter parsing (SPEC §5): a malformed parameter is a 422 whose
//! `detail` names it, as FastAPI answered, never a 500. axum's own
//! extractors would answer 400 with plain text, so the extractors here take
//! parameters as text and parse them, rejecting with [`Invalid`].

use std::collections::HashMap;

use axum::Json;
use axum::extract::{FromRequestParts, Path, Query};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};

use super::legacy::{ValidationError, ValidationItem};
use crate::domain::{self, MinScore, RiskyFilter};
use crate::risk::{RiskLevel, RiskPattern};

/// Every problem found in a request's parameters.
#[derive(Debug, Default)]
pub struct Invalid(pub Vec<ValidationItem>);

impl IntoResponse for Invalid {
    fn into_response(self) -> Response {
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            Json(ValidationError { detail: self.0 }),
        )
            .into_response()
    }
}

impl Invalid {
    /// Records that `name` in `place` (`path` or `query`) is not a valid
    /// `kind` (`integer` or `number`).
    pub fn push(&mut self, place: &str, name: &str, kind: Kind, input: &str) {
        let (msg, code) = match kind {
            Kind::Integer => (
                "Input should be a valid integer, unable to parse string as an integer",
                "int_parsing",
            ),
            Kind::Number => (
                "Input should be a valid number, unable to parse string as a number",
                "float_parsing",
            ),
        };
        self.0.push(ValidationItem {
            loc: vec![place.to_owned(), name.to_owned()],
            msg: msg.to_owned(),
            kind: code.to_owned(),
            input: input.to_owned(),
        });
    }

    /// Records that `name` in `place` is out of its range.
    pub fn out_of_range(&mut self, place: &str, name: &str, msg: String, input: &str) {
        self.0.push(ValidationItem {
            loc: vec![place.to_owned(), name.to_owned()],
            msg,
            kind: "value_error".to_owned(),
            input: input.to_owned(),
        });
    }

    /// `Err(self)` when a problem was recorded.
    pub fn into_result(self) -> Result<(), Self> {
        if self.0.is_empty() { Ok(()) } else { Err(self) }
    }
}

/// What a parameter must be.
#[derive(Clone, Copy, Debug)]
pub enum Kind {
    /// A whole number.
    Integer,
    /// A number.
    Number,
}

/// The `{user_id}` of a `/api/user/{user_id}/…` or `/api/alert/{user_id}`
/// path, parsed.
#[derive(Clone, Copy, Debug, utoipa::IntoParams)]
#[into_params(names("user_id"), parameter_in = Path)]
pub struct UserIdPath(
    /// The user's id
    pub i64,
);

impl<S: Send + Sync> FromRequestParts<S> for UserIdPath {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Path(raw) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        user_id(&raw).map(Self).map_err(IntoResponse::into_response)
    }
}

/// The risky list's query string, parsed: `min_risk_score` and `limit`.
#[derive(Clone, Copy, Debug)]
pub struct RiskyListParams {
    /// Lowest score listed.
    pub min_score: MinScore,
    /// Most rows returned.
    pub limit: u64,
}

impl<S: Send + Sync> FromRequestParts<S> for RiskyListParams {
    type Rejection = Invalid;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let (min_score, limit) = risky_list(&query_map(parts, state).await)?;
        Ok(Self { min_score, limit })
    }
}

/// The id in a `/api/user/{user_id}/…` path.
pub fn user_id(raw: &str) -> Result<i64, Invalid> {
    let mut invalid = Invalid::default();
    match raw.trim().parse::<i64>() {
        Ok(id) => Ok(id),
        Err(_) => {
            invalid.push("path", "user_id", Kind::Integer, raw);
            Err(invalid)
        }
    }
}

/// The risky list's query: `min_risk_score` (default 0.4) and `limit`
/// (default 100, 1 to [`MAX_LIMIT`]).
pub fn risky_list(query: &HashMap<String, String>) -> Result<(MinScore, u64), Invalid> {
    let mut invalid = Invalid::default();
    let mut min_score = MinScore::DEFAULT;
    if let Some(raw) = query.get("min_risk_score") {
        match raw
            .trim()
            .parse::<f64>()
            .map(|v| MinScore::parse(v, "min_risk_score"))
        {
            Ok(Ok(v)) => min_score = v,
            _ => invalid.push("query", "min_risk_score", Kind::Number, raw),
        }
    }
    let mut limit = 100;
    if let Some(raw) = query.get("limit") {
        match raw.trim().parse::<i64>() {
            Ok(v) if (1..=MAX_LIMIT as i64).contains(&v) => limit = v as u64,
            Ok(_) => invalid.out_of_range(
                "query",
                "limit",
                format!("Input should be between 1 and {MAX_LIMIT}"),
                raw,
            ),
            Err(_) => invalid.push("query", "limit", Kind::Integer, raw),
        }
    }
    invalid.into_result().map(|()| (min_score, limit))
}

/// The most rows `GET /api/risky-users` returns at once.
pub const MAX_LIMIT: u64 = 10_000;

/// The export's query (SPEC §11, §12): `min_score`, `level`, `pattern`,
/// `plan`, `q`, parsed into the list's filter.
#[derive(Clone, Debug)]
pub struct ExportParams(pub RiskyFilter);

impl<S: Send + Sync> FromRequestParts<S> for ExportParams {
    type Rejection = Invalid;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        export(&query_map(parts, state).await).map(Self)
    }
}

/// The query string's pairs; one that is not even key=value pairs reads as
/// no parameter.
async fn query_map<S: Send + Sync>(parts: &mut Parts, state: &S) -> HashMap<String, String> {
    Query::<HashMap<String, String>>::from_request_parts(parts, state)
        .await
        .map(|Query(q)| q)
        .unwrap_or_default()
}

/// The export's filter from its query string.
pub fn export(query: &HashMap<String, String>) -> Result<RiskyFilter, Invalid> {
    let mut invalid = Invalid::default();
    let mut filter = RiskyFilter::default();
    // Numbers and names must be valid when present (blank included); the
    // texts filter nothing when blank.
    let given = |name: &str| query.get(name).map(|v| v.trim());
    if let Some(raw) = given("min_score") {
        match raw.parse::<f64>().map(|v| MinScore::parse(v, "min_score")) {
            Ok(Ok(v)) if (0.0..=1.0).contains(&v.get()) => filter.min_score = v,
            Ok(_) => invalid.out_of_range(
                "query",
                "min_score",
                "Input should be between 0 and 1".to_owned(),
                raw,
            ),
            Err(_) => invalid.push("query", "min_score", Kind::Number, raw),
        }
    }
    if let Some(raw) = given("level") {
        match RiskLevel::from_name(&raw.to_ascii_lowercase()) {
            Some(level) => filter.level = Some(level),
            None => invalid.out_of_range(
                "query",
                "level",
                "Input should be low, medium, high or critical".to_owned(),
                raw,
            ),
        }
    }
    if let Some(raw) = given("pattern") {
        match RiskPattern::all()
            .iter()
            .find(|p| p.as_str().eq_ignore_ascii_case(raw))
        {
            Some(pattern) => filter.pattern = Some(*pattern),
            None => invalid.out_of_range(
                "query",
                "pattern",
                format!(
                    "Input should be one of {}",
                    RiskPattern::all()
                        .iter()
                        .map(|p| p.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                raw,
            ),
        }
    }
    for (name, max) in [("plan", 50), ("q", domain::MAX_SEARCH)] {
        let Some(raw) = query.get(name) else {
            continue;
        };
        match domain::filter_text(Some(raw), name, max) {
            Ok(value) if name == "plan" => filter.subscription_type = value,
            Ok(value) => filter.search = value,
            Err(error) => invalid.out_of_range("query", name, error.to_string(), raw),
        }
    }
    invalid.into_result().map(|()| filter)
}
