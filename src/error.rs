//! The service's error type (STYLE principle 3): one closed enum whose
//! variants are the codes of SPEC §4. Inner layers return narrow errors
//! (`DbErr` from `store`, `risk::ConfigError`, `config::ConfigError`);
//! `service` returns [`AppError`]. [`AppError::code`] is the only place a code
//! is spelled; the REST and GraphQL mappings live with their front ends and
//! use it.

use sea_orm::{DbErr, RuntimeErr};

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
    /// No valid credentials.
    #[error("authentication required")]
    Unauthenticated,
    /// Credentials without the right.
    #[error("not allowed")]
    Forbidden,
    /// The database could not be reached; try again.
    #[error("the database is unavailable")]
    DatabaseUnavailable(#[source] DbErr),
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
            Self::Unauthenticated => Self::Unauthenticated,
            Self::Forbidden => Self::Forbidden,
            Self::DatabaseUnavailable(cause) => {
                Self::DatabaseUnavailable(DbErr::Custom(cause.to_string()))
            }
            Self::Internal(cause) => Self::Internal(anyhow::anyhow!("{cause:#}")),
        }
    }

    /// The machine-readable code (GraphQL `extensions.code`).
    pub fn code(&self) -> &'static str {
        match self {
            Self::NotFound(_) => "NOT_FOUND",
            Self::BadUserInput { .. } => "BAD_USER_INPUT",
            Self::Unauthenticated => "UNAUTHENTICATED",
            Self::Forbidden => "FORBIDDEN",
            Self::DatabaseUnavailable(_) => "DATABASE_UNAVAILABLE",
            Self::Internal(_) => "INTERNAL",
        }
    }

    /// A bad input on `field`.
    pub fn bad_input(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::BadUserInput {
            field: field.into(),
            reason: reason.into(),
        }
    }
}

impl From<DbErr> for AppError {
    /// Connection failures become `DatabaseUnavailable`; everything else is
    /// internal. Known constraint violations are mapped at their call sites.
    fn from(error: DbErr) -> Self {
        match &error {
            DbErr::ConnectionAcquire(_) | DbErr::Conn(_) => Self::DatabaseUnavailable(error),
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

/// Whether `error` is a unique-constraint violation (on either backend).
pub fn is_unique_violation(error: &DbErr) -> bool {
    matches!(
        error.sql_err(),
        Some(sea_orm::SqlErr::UniqueConstraintViolation(_))
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_variant_has_its_spec_code() {
        let cases = [
            (AppError::NotFound("User 1 not found".into()), "NOT_FOUND"),
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
            (AppError::Internal(anyhow::anyhow!("bug")), "INTERNAL"),
        ];
        for (error, code) in cases {
            assert_eq!(error.code(), code);
        }
    }

    #[test]
    fn connection_failures_are_database_unavailable_and_others_internal() {
        let down: AppError = DbErr::ConnectionAcquire(sea_orm::ConnAcquireErr::Timeout).into();
        assert_eq!(down.code(), "DATABASE_UNAVAILABLE");
        let other: AppError = DbErr::Custom("odd".into()).into();
        assert_eq!(other.code(), "INTERNAL");
        assert_eq!(
            other.to_string(),
            "internal error",
            "no detail leaks to clients"
        );
    }
}
