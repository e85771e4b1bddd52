//! The service's errors (STYLE principle 3) and every code a client can see.
//!
//! [`Code`] spells each `extensions.code` the service sends, once: the SPEC
//! §4 codes of [`AppError`] and the refusals the GraphQL handler makes
//! before anything runs. Inner layers return narrow errors (`DbErr` from
//! `store`, `risk::ConfigError`, `config::ConfigError`); `service` returns
//! [`AppError`]. Its two mappings live here: [`IntoResponse`] (REST: the
//! legacy status and `{"detail": …}`) and [`ErrorExtensions`] (GraphQL: the
//! message and `extensions.code`). Internal and database errors reach clients
//! as a generic message; their cause chain is logged by [`AppError::log`],
//! which both mappings call.

use async_graphql::ErrorExtensions;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use sea_orm::{DbErr, RuntimeErr};

/// A machine-readable error code (GraphQL `extensions.code`, REST
/// `x-error-code`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Code {
    /// No such record.
    NotFound,
    /// The client sent something invalid.
    BadUserInput,
    /// No valid credentials.
    Unauthenticated,
    /// Credentials without the right.
    Forbidden,
    /// The database could not be reached.
    DatabaseUnavailable,
    /// A bug or an unexpected failure.
    Internal,
    /// The request body is over the limit (HTTP 413).
    PayloadTooLarge,
    /// The body is not a GraphQL request.
    BadRequest,
    /// A mutation sent over GET.
    MethodNotAllowed,
    /// A batch of too many operations.
    BatchTooLarge,
    /// The document does not parse.
    GraphqlParseFailed,
    /// The document is not valid against the schema.
    GraphqlValidationFailed,
    /// Selections nested past the depth limit.
    QueryTooDeep,
    /// A query past the complexity limit.
    QueryTooComplex,
    /// Too many requests from one key or address (HTTP 429).
    RateLimited,
    /// The request ran out of its time budget.
    Timeout,
    /// A concurrent change won: reload and try again.
    Conflict,
}

impl Code {
    /// Every code, in declaration order.
    pub const ALL: [Self; 17] = [
        Self::NotFound,
        Self::BadUserInput,
        Self::Unauthenticated,
        Self::Forbidden,
        Self::DatabaseUnavailable,
        Self::Internal,
        Self::PayloadTooLarge,
        Self::BadRequest,
        Self::MethodNotAllowed,
        Self::BatchTooLarge,
        Self::GraphqlParseFailed,
        Self::GraphqlValidationFailed,
        Self::QueryTooDeep,
        Self::QueryTooComplex,
        Self::RateLimited,
        Self::Timeout,
        Self::Conflict,
    ];

    /// The code as clients read it.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::NotFound => "NOT_FOUND",
            Self::BadUserInput => "BAD_USER_INPUT",
            Self::Unauthenticated => "UNAUTHENTICATED",
            Self::Forbidden => "FORBIDDEN",
            Self::DatabaseUnavailable => "DATABASE_UNAVAILABLE",
            Self::Internal => "INTERNAL",
            Self::PayloadTooLarge => "PAYLOAD_TOO_LARGE",
            Self::BadRequest => "BAD_REQUEST",
            Self::MethodNotAllowed => "METHOD_NOT_ALLOWED",
            Self::BatchTooLarge => "BATCH_TOO_LARGE",
            Self::GraphqlParseFailed => "GRAPHQL_PARSE_FAILED",
            Self::GraphqlValidationFailed => "GRAPHQL_VALIDATION_FAILED",
            Self::QueryTooDeep => "QUERY_TOO_DEEP",
            Self::QueryTooComplex => "QUERY_TOO_COMPLEX",
            Self::RateLimited => "RATE_LIMITED",
            Self::Timeout => "TIMEOUT",
            Self::Conflict => "CONFLICT",
        }
    }
}

impl std::fmt::Display for Code {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What went wrong in a use case, by the code a client sees.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// No such record.
    #[error("{0}")]
    NotFound(String),
    /// The client sent something invalid; nothing was changed.
    #[error("{field}: {reason}")]
    BadUserInput {
        /// The input field at fault (GraphQL name).
        field: String,
        /// Why, in words the client can act on.
        reason: String,
    },
    /// The record changed since the client read it (a stale version).
    #[error("{0}")]
    Conflict(String),
    /// No valid credentials.
    #[error("authentication required")]
    Unauthenticated,
    /// Credentials without the right.
    #[error("not allowed")]
    Forbidden,
    /// The database could not be reached; try again.
    #[error("the database is unavailable")]
    DatabaseUnavailable(#[source] DbErr),
    /// The request ran out of its time budget (a statement cancelled by the
    /// database's statement timeout).
    #[error("the request took too long")]
    Timeout,
    /// Anything else: a bug or an unexpected failure, logged in full.
    #[error("internal error")]
    Internal(#[from] anyhow::Error),
}

/// Result of a use case.
pub type AppResult<T> = Result<T, AppError>;

impl AppError {
    /// The same error for another caller (a shared computation's waiters):
    /// same variant, same code and message; causes become their text.
    pub fn replicate(&self) -> Self {
        match self {
            Self::NotFound(message) => Self::NotFound(message.clone()),
            Self::BadUserInput { field, reason } => Self::BadUserInput {
                field: field.clone(),
                reason: reason.clone(),
            },
            Self::Conflict(message) => Self::Conflict(message.clone()),
            Self::Unauthenticated => Self::Unauthenticated,
            Self::Forbidden => Self::Forbidden,
            Self::DatabaseUnavailable(cause) => {
                Self::DatabaseUnavailable(DbErr::Custom(cause.to_string()))
            }
            Self::Timeout => Self::Timeout,
            Self::Internal(cause) => Self::Internal(anyhow::anyhow!("{cause:#}")),
        }
    }

    /// The machine-readable code.
    pub fn code(&self) -> Code {
        match self {
            Self::NotFound(_) => Code::NotFound,
            Self::BadUserInput { .. } => Code::BadUserInput,
            Self::Conflict(_) => Code::Conflict,
            Self::Unauthenticated => Code::Unauthenticated,
            Self::Forbidden => Code::Forbidden,
            Self::DatabaseUnavailable(_) => Code::DatabaseUnavailable,
            Self::Timeout => Code::Timeout,
            Self::Internal(_) => Code::Internal,
        }
    }

    /// A bad input on `field`.
    pub fn bad_input(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::BadUserInput {
            field: field.into(),
            reason: reason.into(),
        }
    }

    /// No user `id` (SPEC §5: the legacy `User <id> not found`).
    pub fn user_not_found(id: i64) -> Self {
        Self::NotFound(format!("User {id} not found"))
    }

    /// An impossible state reached: a bug, reported as `INTERNAL`.
    pub fn bug(what: impl std::fmt::Display) -> Self {
        Self::Internal(anyhow::anyhow!("{what}"))
    }

    /// Logs the cause chain of an internal or database error (once, where
    /// the error leaves the service); the client sees only the code.
    pub fn log(&self) {
        match self {
            Self::Internal(cause) => {
                tracing::error!(error = format!("{cause:#}"), "internal error")
            }
            Self::DatabaseUnavailable(cause) => {
                tracing::error!(error = %cause, "database unavailable");
            }
            _ => {}
        }
    }

    /// The HTTP status of the REST mapping.
    fn status(&self) -> StatusCode {
        match self {
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::BadUserInput { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::Unauthenticated => StatusCode::UNAUTHORIZED,
            Self::Forbidden => StatusCode::FORBIDDEN,
            Self::DatabaseUnavailable(_) | Self::Timeout => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl From<DbErr> for AppError {
    /// Connection failures become `DatabaseUnavailable`; a statement
    /// cancelled by PostgreSQL's statement timeout (SQLSTATE 57014), or an
    /// SQLite one that waited its busy timeout for the write lock
    /// (`SQLITE_BUSY`), `Timeout`; everything else, including a stored value no enum knows
    /// (`DbErr::Type`), is internal. Known constraint violations are mapped
    /// at their call sites.
    fn from(error: DbErr) -> Self {
        match &error {
            DbErr::ConnectionAcquire(_) | DbErr::Conn(_) => Self::DatabaseUnavailable(error),
            DbErr::Query(RuntimeErr::SqlxError(e)) | DbErr::Exec(RuntimeErr::SqlxError(e))
                if e.as_database_error()
                    .and_then(|db| db.code())
                    .is_some_and(|code| code == QUERY_CANCELED || code == SQLITE_BUSY) =>
            {
                tracing::warn!(error = %error, "a statement ran out of time");
                Self::Timeout
            }
            DbErr::Query(RuntimeErr::SqlxError(e)) | DbErr::Exec(RuntimeErr::SqlxError(e))
                if matches!(
                    e.as_ref(),
                    sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed
                ) =>
            {
                Self::DatabaseUnavailable(error)
            }
            _ => Self::Internal(anyhow::Error::new(error)),
        }
    }
}

/// PostgreSQL's SQLSTATE for a statement cancelled (by its timeout).
const QUERY_CANCELED: &str = "57014";
/// SQLite's result code for a lock still held after the busy timeout.
const SQLITE_BUSY: &str = "5";

/// Whether `error` is a unique-constraint violation (on either backend).
pub fn is_unique_violation(error: &DbErr) -> bool {
    matches!(
        error.sql_err(),
        Some(sea_orm::SqlErr::UniqueConstraintViolation(_))
    )
}

/// The REST mapping: the legacy status and `{"detail": …}`, the code in
/// `x-error-code`.
impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        self.log();
        rest_refusal(self.status(), self.code(), self.to_string())
    }
}

/// A response in the REST shape: `status`, `{"detail": detail}`, the code in
/// `x-error-code` (also used by the request limits in front of every route).
pub fn rest_refusal(status: StatusCode, code: Code, detail: String) -> Response {
    let mut response =
        (status, axum::Json(serde_json::json!({ "detail": detail }))).into_response();
    response
        .headers_mut()
        .insert("x-error-code", HeaderValue::from_static(code.as_str()));
    response
}

/// The GraphQL mapping: the message and `extensions.code` (and `field` for a
/// bad input).
///
/// async-graphql converts any `Display` error into its own error without a
/// code, so resolvers convert with `graphql::GqlResultExt::gql` rather than
/// `?` directly; the handler gives any error that still has no code one.
impl ErrorExtensions for AppError {
    fn extend(&self) -> async_graphql::Error {
        self.log();
        let message = match self {
            AppError::BadUserInput { field, reason } => format!("invalid {field}: {reason}"),
            other => other.to_string(),
        };
        let code = self.code().as_str();
        let field = match self {
            AppError::BadUserInput { field, .. } => Some(field.clone()),
            _ => None,
        };
        async_graphql::Error::new(message).extend_with(|_, e| {
            e.set("code", code);
            if let Some(field) = &field {
                e.set("field", field.as_str());
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_is_spelled_once_in_screaming_snake_case() {
        let spelled: std::collections::HashSet<&str> =
            Code::ALL.iter().map(|c| c.as_str()).collect();
        assert_eq!(
            spelled.len(),
            Code::ALL.len(),
            "no two codes share a spelling"
        );
        for code in Code::ALL {
            assert!(
                code.as_str()
                    .chars()
                    .all(|c| c.is_ascii_uppercase() || c == '_'),
                "{code}"
            );
        }
    }

    #[test]
    fn every_variant_has_its_spec_code() {
        let cases = [
            (AppError::user_not_found(1), "NOT_FOUND"),
            (
                AppError::bad_input("amount", "must not be negative"),
                "BAD_USER_INPUT",
            ),
            (AppError::Unauthenticated, "UNAUTHENTICATED"),
            (AppError::Forbidden, "FORBIDDEN"),
            (
                AppError::DatabaseUnavailable(DbErr::Conn(RuntimeErr::Internal("down".into()))),
                "DATABASE_UNAVAILABLE",
            ),
            (AppError::Timeout, "TIMEOUT"),
            (AppError::bug("bug"), "INTERNAL"),
        ];
        for (error, code) in cases {
            assert_eq!(error.code().as_str(), code);
        }
    }

    #[test]
    fn connection_failures_are_database_unavailable_and_others_internal() {
        let down: AppError = DbErr::ConnectionAcquire(sea_orm::ConnAcquireErr::Timeout).into();
        assert_eq!(down.code(), Code::DatabaseUnavailable);
        let other: AppError = DbErr::Custom("odd".into()).into();
        assert_eq!(other.code(), Code::Internal);
        assert_eq!(
            other.to_string(),
            "internal error",
            "no detail leaks to clients"
        );
        let corrupt: AppError = DbErr::Type("unexpected value \"lowish\"".into()).into();
        assert_eq!(corrupt.code(), Code::Internal, "an unknown stored value");
    }

    #[test]
    fn rest_errors_keep_the_legacy_status_body_and_code_header() {
        let response = AppError::user_not_found(7).into_response();
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
        assert_eq!(response.headers()["x-error-code"], "NOT_FOUND");
        let response = AppError::bad_input("limit", "too big").into_response();
        assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    }

    #[test]
    fn app_errors_carry_their_code_to_graphql() {
        let error = AppError::bad_input("amount", "must not be negative").extend();
        assert_eq!(error.message, "invalid amount: must not be negative");
        let extensions = error.extensions.expect("extensions");
        assert_eq!(
            extensions.get("code"),
            Some(&async_graphql::Value::from("BAD_USER_INPUT"))
        );
        assert_eq!(
            extensions.get("field"),
            Some(&async_graphql::Value::from("amount"))
        );

        let error = AppError::Internal(anyhow::anyhow!("SELECT secret")).extend();
        assert_eq!(error.message, "internal error", "no SQL reaches the client");
    }
}
