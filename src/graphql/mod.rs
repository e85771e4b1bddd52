//! The GraphQL API (SPEC §4): schema, resolvers, the HTTP handler that guards
//! the endpoint, and the vendored GraphiQL explorer.
//!
//! [`schema`] returns the bare builder (roots and types only): the SDL
//! snapshot test uses it. [`build_schema`] adds what the server needs: the
//! database, the scoring configuration and the limits.

pub mod explorer;
pub mod handler;
pub mod mutation;
pub mod query;
pub mod types;

use async_graphql::{EmptySubscription, ErrorExtensions, Schema, SchemaBuilder};
use sea_orm::DatabaseConnection;

use crate::error::AppError;
use crate::risk::ScoringConfig;
use crate::service::payment_writer::PaymentWriter;
use crate::service::stats_cache::StatsCache;
use std::sync::Arc;

/// The service's schema type.
pub type AppSchema = Schema<query::Query, mutation::Mutation, EmptySubscription>;

/// Deepest selection accepted (the explorer's introspection query nests 13 deep).
pub const MAX_DEPTH: usize = 16;
/// Largest complexity accepted (each field counts 1; connection pages are
/// bounded separately by the page cap, which async-graphql's count ignores).
pub const MAX_COMPLEXITY: usize = 400;
/// Most operations in one batched request.
pub const MAX_BATCH: usize = 10;
/// Largest request body, in bytes.
pub const MAX_BODY_BYTES: usize = 256 * 1024;

/// The bare schema builder: roots and types, no data, no limits.
pub fn schema() -> SchemaBuilder<query::Query, mutation::Mutation, EmptySubscription> {
    Schema::build(
        query::Query::default(),
        mutation::Mutation::default(),
        EmptySubscription,
    )
}

/// The schema as the server runs it.
pub fn build_schema(
    db: DatabaseConnection,
    config: ScoringConfig,
    stats: Arc<StatsCache>,
) -> AppSchema {
    schema()
        .data(PaymentWriter::new(db.clone(), config))
        .data(db)
        .data(config)
        .data(stats)
        .limit_depth(MAX_DEPTH)
        .limit_complexity(MAX_COMPLEXITY)
        .limit_recursive_depth(32)
        .limit_directives(10)
        .finish()
}

/// The GraphQL side of the error mapping (the REST side is `IntoResponse` in
/// `rest`): message and `extensions.code`. Internal and database errors reach
/// the client as a generic message; their cause chain is logged here, once.
///
/// async-graphql converts any `Display` error into its own error without a
/// code, so resolvers convert with [`GqlResultExt::gql`] rather than `?`
/// directly; the handler's `fill_code` backstops anything that slips through.
impl ErrorExtensions for AppError {
    fn extend(&self) -> async_graphql::Error {
        match self {
            AppError::Internal(cause) => {
                tracing::error!(error = format!("{cause:#}"), "internal error")
            }
            AppError::DatabaseUnavailable(cause) => {
                tracing::error!(error = %cause, "database unavailable")
            }
            _ => {}
        }
        let message = match self {
            AppError::BadUserInput { field, reason } => format!("invalid {field}: {reason}"),
            other => other.to_string(),
        };
        let code = self.code();
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

/// Converts a service result into a resolver result, keeping the code.
pub trait GqlResultExt<T> {
    /// `Err(AppError)` becomes an error with `extensions.code`.
    fn gql(self) -> async_graphql::Result<T>;
}

impl<T> GqlResultExt<T> for Result<T, AppError> {
    fn gql(self) -> async_graphql::Result<T> {
        self.map_err(|e| e.extend())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn the_committed_sdl_matches_the_code() {
        let sdl = schema().finish().sdl();
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/schema.graphql");
        if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
            std::fs::write(path, &sdl).expect("write schema.graphql");
        }
        let committed = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            committed == sdl,
            "schema.graphql is stale: run `UPDATE_SNAPSHOTS=1 cargo test the_committed_sdl` and commit it"
        );
    }
}
