//! Legacy parameter parsing (SPEC §5): a malformed parameter is a 422 whose
//! `detail` names it, as FastAPI answered, never a 500. axum's own
//! extractors would answer 400 with plain text, so parameters arrive as text
//! and are parsed here.

use std::collections::HashMap;

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::legacy::{ValidationError, ValidationItem};

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
pub fn risky_list(query: &HashMap<String, String>) -> Result<(f64, u64), Invalid> {
    let mut invalid = Invalid::default();
    let mut min_score = 0.4;
    if let Some(raw) = query.get("min_risk_score") {
        match raw.trim().parse::<f64>() {
            Ok(v) if v.is_finite() => min_score = v,
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
